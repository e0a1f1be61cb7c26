/*
 * test_notify.c: a notification built from anomaly records renders as
 * Alertmanager's webhook payload (version "4"), a Slack message, a
 * PagerDuty Events API v2 event and a multipart email, each with the
 * fields its receiver documents and the alert's numbers.
 */
#include <math.h>
#include <stdio.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <unistd.h>

#include "../../alertd/notify.h"
#include "../../common/anomaly.h"
#include "../../common/log.h"

static struct sn_str
str(const char *s)
{
	struct sn_str v = {s, (uint32_t)strlen(s)};
	return v;
}

/* 2026-01-02T03:04:05Z */
#define T0 1767323045000LL

static struct sn_anomaly
anomaly(const char *id, int resolved)
{
	struct sn_anomaly a;

	memset(&a, 0, sizeof(a));
	a.id = str(id);
	a.status = resolved ? SN_ANOMALY_RESOLVED : SN_ANOMALY_FIRING;
	a.ts_ms = T0;
	a.window_start_ms = T0 - 60000;
	a.window_end_ms = T0;
	a.samples = 42;
	a.value = 2345.5;
	a.expected = 800.25;
	a.score = 4.75;
	a.threshold = 2000;
	a.detector_id = str("high-latency");
	a.detector_type = str("threshold");
	a.alert = str("high-latency-alert");
	a.severity = str("critical");
	a.application_id = str("billing");
	a.model = str("gpt-4");
	a.metric = str("latency_ms");
	a.message = str("latency_ms 2345.5 above 2000");
	a.labels = str("{\"region\":\"eu\"}");
	return a;
}

static const char *
sget(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	assert_non_null(s);
	return s;
}

static void
test_webhook_v4(void **state)
{
	struct notification n;
	struct sn_anomaly a = anomaly("an-1", 0), b = anomaly("an-2", 0);
	json_t *gl = json_pack("{s:s}", "alertname", "high-latency-alert");
	json_t *doc, *al, *labels;

	(void)state;
	b.model = str("gpt-3.5");
	notify_init(&n, "hooks", "{}:{alertname=\"high-latency-alert\"}", gl,
	            "http://sentinel:8080");
	notify_add_anomaly(&n, &a);
	notify_add_anomaly(&n, &b);
	doc = notify_webhook_json(&n);
	assert_string_equal(sget(doc, "version"), "4");
	assert_string_equal(sget(doc, "receiver"), "hooks");
	assert_string_equal(sget(doc, "status"), "firing");
	assert_string_equal(sget(doc, "externalURL"), "http://sentinel:8080");
	assert_string_equal(sget(doc, "groupKey"),
	                    "{}:{alertname=\"high-latency-alert\"}");
	assert_int_equal(
	        json_integer_value(json_object_get(doc, "truncatedAlerts")), 0);
	assert_true(json_equal(json_object_get(doc, "groupLabels"), gl));
	/* model differs between the two alerts: not common */
	assert_string_equal(
	        sget(json_object_get(doc, "commonLabels"), "application_id"),
	        "billing");
	assert_null(
	        json_object_get(json_object_get(doc, "commonLabels"), "model"));
	assert_string_equal(
	        sget(json_object_get(doc, "commonAnnotations"), "value"),
	        "2345.5");
	assert_int_equal(json_array_size(json_object_get(doc, "alerts")), 2);
	al = json_array_get(json_object_get(doc, "alerts"), 0);
	assert_string_equal(sget(al, "status"), "firing");
	assert_string_equal(sget(al, "startsAt"), "2026-01-02T03:04:05.000Z");
	assert_string_equal(sget(al, "endsAt"), "0001-01-01T00:00:00Z");
	assert_int_equal(strlen(sget(al, "fingerprint")), 16);
	labels = json_object_get(al, "labels");
	assert_string_equal(sget(labels, "alertname"), "high-latency-alert");
	assert_string_equal(sget(labels, "severity"), "critical");
	assert_string_equal(sget(labels, "detector"), "high-latency");
	assert_string_equal(sget(labels, "model"), "gpt-4");
	assert_string_equal(sget(labels, "region"), "eu");
	assert_string_equal(sget(json_object_get(al, "annotations"), "summary"),
	                    "latency_ms 2345.5 above 2000");
	assert_string_equal(
	        sget(json_object_get(al, "annotations"), "expected"), "800.25");
	/* different labels, different fingerprints */
	assert_string_not_equal(
	        sget(al, "fingerprint"),
	        sget(json_array_get(json_object_get(doc, "alerts"), 1),
	             "fingerprint"));
	json_decref(doc);
	json_decref(gl);
	notify_free(&n);
}

static void
test_resolved_and_id(void **state)
{
	struct notification n, m;
	struct sn_anomaly a = anomaly("an-1", 1);
	char id1[NOTIFY_ID_LEN + 1], id2[NOTIFY_ID_LEN + 1];
	json_t *doc, *al;

	(void)state;
	a.expected = NAN;
	notify_init(&n, "hooks", "g1", NULL, NULL);
	notify_add_anomaly(&n, &a);
	assert_true(notify_resolved(&n));
	doc = notify_webhook_json(&n);
	assert_string_equal(sget(doc, "status"), "resolved");
	al = json_array_get(json_object_get(doc, "alerts"), 0);
	assert_string_equal(sget(al, "endsAt"), "2026-01-02T03:04:05.000Z");
	assert_string_equal(
	        sget(json_object_get(al, "annotations"), "expected"), "n/a");
	json_decref(doc);

	/* same receiver, group, state and alerts: same id */
	notify_init(&m, "hooks", "g1", NULL, "x");
	notify_add_anomaly(&m, &a);
	notify_id(&n, id1);
	notify_id(&m, id2);
	assert_string_equal(id1, id2);
	notify_free(&m);
	/* another receiver: another id */
	notify_init(&m, "other", "g1", NULL, NULL);
	notify_add_anomaly(&m, &a);
	notify_id(&m, id2);
	assert_string_not_equal(id1, id2);
	notify_free(&m);
	/* same alert firing: another id */
	a = anomaly("an-1", 0);
	notify_init(&m, "hooks", "g1", NULL, NULL);
	notify_add_anomaly(&m, &a);
	notify_id(&m, id2);
	assert_string_not_equal(id1, id2);
	notify_free(&m);
	notify_free(&n);
}

static void
test_slack(void **state)
{
	struct notification n;
	struct sn_anomaly a = anomaly("an-1", 0);
	json_t *doc, *blocks, *att;
	const char *text;

	(void)state;
	notify_init(&n, "slack", "g", NULL, NULL);
	notify_add_anomaly(&n, &a);
	doc = notify_slack_json(&n, "#alerts");
	assert_string_equal(sget(doc, "channel"), "#alerts");
	text = sget(doc, "text");
	assert_non_null(strstr(text, ":rotating_light:"));
	assert_non_null(strstr(text, "[FIRING:1] high-latency-alert"));
	blocks = json_object_get(doc, "blocks");
	assert_int_equal(json_array_size(blocks), 2);
	assert_string_equal(sget(json_array_get(blocks, 0), "type"), "header");
	text = sget(json_object_get(json_array_get(blocks, 1), "text"), "text");
	assert_non_null(strstr(text, "observed: 2345.5"));
	assert_non_null(strstr(text, "expected: 800.25"));
	assert_non_null(strstr(text, "score: 4.75"));
	att = json_array_get(json_object_get(doc, "attachments"), 0);
	assert_string_equal(sget(att, "color"), "#d50200");
	json_decref(doc);
	notify_free(&n);

	/* warning, no channel */
	a.severity = str("warning");
	notify_init(&n, "slack", "g", NULL, NULL);
	notify_add_anomaly(&n, &a);
	doc = notify_slack_json(&n, NULL);
	assert_null(json_object_get(doc, "channel"));
	assert_non_null(strstr(sget(doc, "text"), ":warning:"));
	json_decref(doc);
	notify_free(&n);

	/* resolved is green */
	a = anomaly("an-1", 1);
	notify_init(&n, "slack", "g", NULL, NULL);
	notify_add_anomaly(&n, &a);
	doc = notify_slack_json(&n, NULL);
	assert_non_null(strstr(sget(doc, "text"), "[RESOLVED:1]"));
	att = json_array_get(json_object_get(doc, "attachments"), 0);
	assert_string_equal(sget(att, "color"), "#2eb886");
	json_decref(doc);
	notify_free(&n);
}

static void
test_pagerduty(void **state)
{
	struct notification n;
	struct sn_anomaly a = anomaly("an-1", 0);
	json_t *doc, *payload, *details;
	char dedup[64];

	(void)state;
	notify_init(&n, "pager", "group-1", NULL, NULL);
	notify_add_anomaly(&n, &a);
	doc = notify_pagerduty_json(&n, "R0UTINGKEY");
	assert_string_equal(sget(doc, "routing_key"), "R0UTINGKEY");
	assert_string_equal(sget(doc, "event_action"), "trigger");
	snprintf(dedup, sizeof(dedup), "%s", sget(doc, "dedup_key"));
	payload = json_object_get(doc, "payload");
	assert_non_null(strstr(sget(payload, "summary"), "high-latency-alert"));
	assert_string_equal(sget(payload, "severity"), "critical");
	assert_string_equal(sget(payload, "source"), "billing");
	assert_string_equal(sget(payload, "timestamp"),
	                    "2026-01-02T03:04:05.000Z");
	details = json_object_get(payload, "custom_details");
	assert_int_equal(json_array_size(json_object_get(details, "alerts")),
	                 1);
	json_decref(doc);
	notify_free(&n);

	/* the resolve carries the same dedup_key */
	a = anomaly("an-1", 1);
	a.severity = str("page-me"); /* unknown: mapped, not passed */
	notify_init(&n, "pager", "group-1", NULL, NULL);
	notify_add_anomaly(&n, &a);
	doc = notify_pagerduty_json(&n, "R0UTINGKEY");
	assert_string_equal(sget(doc, "event_action"), "resolve");
	assert_string_equal(sget(doc, "dedup_key"), dedup);
	json_decref(doc);
	notify_free(&n);

	a = anomaly("an-2", 0);
	a.severity = str("page-me");
	notify_init(&n, "pager", "group-1", NULL, NULL);
	notify_add_anomaly(&n, &a);
	doc = notify_pagerduty_json(&n, "K");
	assert_string_equal(sget(json_object_get(doc, "payload"), "severity"),
	                    "warning");
	json_decref(doc);
	notify_free(&n);
}

static void
test_email(void **state)
{
	struct notification n;
	struct sn_anomaly a = anomaly("an-1", 0);
	char *to[] = {"ops@example.com", "oncall@example.com"};
	struct sn_buf b = {0};
	const char *m, *html;

	(void)state;
	a.message = str("p95 <high> & rising\r\nBcc: evil@example.com");
	notify_init(&n, "email", "g", NULL, NULL);
	notify_add_anomaly(&n, &a);
	notify_email(&n, "sentinel@example.com", to, 2, NULL, T0, &b);
	sn_buf_append(&b, "", 1);
	m = (const char *)b.data;
	assert_non_null(strstr(m, "From: sentinel@example.com\r\n"));
	assert_non_null(
	        strstr(m, "To: ops@example.com, oncall@example.com\r\n"));
	assert_non_null(strstr(m, "Subject: [FIRING:1] high-latency-alert "
	                          "(billing gpt-4)\r\n"));
	assert_non_null(strstr(m, "Date: Fri, 02 Jan 2026 03:04:05 +0000"));
	assert_non_null(strstr(m, "Content-Type: multipart/alternative"));
	assert_non_null(strstr(m, "Content-Type: text/plain; charset=utf-8"));
	html = strstr(m, "Content-Type: text/html; charset=utf-8");
	assert_non_null(html);
	/* the numbers, in both parts */
	assert_non_null(strstr(m, "observed: 2345.5"));
	assert_true(strstr(m, "expected: 800.25") < html);
	assert_non_null(strstr(m, "score: 4.75"));
	assert_non_null(strstr(m, "application: billing  model: gpt-4"));
	assert_non_null(strstr(m, "window: 2026-01-02T03:03:05.000Z .. "
	                          "2026-01-02T03:04:05.000Z (42 samples)"));
	assert_non_null(strstr(html, "<th align=\"left\">observed</th>"
	                             "<td>2345.5</td>"));
	assert_non_null(strstr(html, "<td>800.25</td>"));
	assert_non_null(strstr(html, "<td>4.75</td>"));
	assert_non_null(strstr(html, "p95 &lt;high&gt; &amp; rising"));
	/* no bare LF, and the message text cannot add a header */
	assert_true(strstr(m, "\r\nBcc:") > strstr(m, "\r\n\r\n"));
	for (const char *p = m; *p; p++)
		if (*p == '\n')
			assert_true(p > m && p[-1] == '\r');
	sn_buf_free(&b);

	/* subject_prefix goes first, in the header and the body */
	notify_email(&n, "sentinel@example.com", to, 2, "[prod]", T0, &b);
	sn_buf_append(&b, "", 1);
	m = (const char *)b.data;
	assert_non_null(strstr(m, "Subject: [prod] [FIRING:1] "
	                          "high-latency-alert (billing gpt-4)\r\n"));
	sn_buf_free(&b);
	notify_free(&n);
}

/* The outbox stores notify_to_json; what comes back renders the same. */
static void
test_json_roundtrip(void **state)
{
	struct notification n, m;
	struct sn_anomaly a = anomaly("an-1", 0), b = anomaly("an-2", 1);
	json_t *gl = json_pack("{s:s}", "model", "gpt-4");
	json_t *doc, *w1, *w2;
	char id1[NOTIFY_ID_LEN + 1], id2[NOTIFY_ID_LEN + 1];

	(void)state;
	a.expected = NAN;
	notify_init(&n, "hooks", "g", gl, "http://x");
	n.test = 1;
	notify_add_anomaly(&n, &a);
	notify_add_anomaly(&n, &b);
	doc = notify_to_json(&n);
	assert_int_equal(notify_from_json(&m, doc), 0);
	assert_int_equal(m.nalerts, 2);
	assert_int_equal(m.test, 1);
	assert_true(m.seq == 0);
	assert_true(isnan(m.alerts[0].expected));
	assert_true(m.alerts[0].value == 2345.5);
	assert_int_equal(m.alerts[1].resolved, 1);
	assert_int_equal(m.alerts[0].samples, 42);
	notify_id(&n, id1);
	notify_id(&m, id2);
	assert_string_equal(id1, id2);
	w1 = notify_webhook_json(&n);
	w2 = notify_webhook_json(&m);
	assert_true(json_equal(w1, w2));
	json_decref(w1);
	json_decref(w2);
	json_decref(doc);
	notify_free(&m);
	/* a group's later flush: the same alerts, a new id, kept in JSON */
	n.seq = 2;
	notify_id(&n, id2);
	assert_string_not_equal(id1, id2);
	doc = notify_to_json(&n);
	assert_int_equal(notify_from_json(&m, doc), 0);
	assert_true(m.seq == 2);
	json_decref(doc);
	notify_free(&m);
	/* not a notification */
	doc = json_pack("{s:s}", "receiver", "x");
	assert_int_equal(notify_from_json(&m, doc), -1);
	json_decref(doc);
	json_decref(gl);
	notify_free(&n);
}

/* notify_dumps writes what json_dumps(JSON_COMPACT) writes. */
static void
check_dump(json_t *v)
{
	char *want = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	char *got = notify_dumps(v);

	assert_non_null(want);
	assert_string_equal(got, want);
	free(want);
	free(got);
	json_decref(v);
}

static void
test_dump_as_jansson(void **state)
{
	static const double reals[] = {0.0,
	                               -0.0,
	                               1.0,
	                               1.5,
	                               -2.25,
	                               0.1,
	                               1e20,
	                               1e21,
	                               1e22,
	                               1e-5,
	                               1e-7,
	                               1e300,
	                               -2.5e-300,
	                               7300,
	                               123456789012345678.0,
	                               3.14159265358979,
	                               5e-324,
	                               1.7976931348623157e308};
	static const json_int_t ints[] = {0, -1, 42, INT64_MAX, INT64_MIN};
	char ctl[40];
	struct notification n;
	struct sn_anomaly a;
	json_t *o;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(reals) / sizeof(reals[0]); i++)
		check_dump(json_real(reals[i]));
	for (i = 0; i < sizeof(ints) / sizeof(ints[0]); i++)
		check_dump(json_integer(ints[i]));
	for (i = 0; i < 32; i++)
		ctl[i] = (char)(i + 1 < 32 ? i + 1 : 0x7f);
	check_dump(json_stringn(ctl, 32));
	check_dump(json_stringn("a\0b", 3));
	check_dump(json_string("q\"b\\s/ \xc3\xa9 \xe6\x97\xa5 "
	                       "\xf0\x9f\x9a\xa8 \xe2\x80\xa8 end"));
	check_dump(json_string(""));
	check_dump(json_true());
	check_dump(json_false());
	check_dump(json_null());
	check_dump(json_object());
	check_dump(json_array());
	o = json_pack("{s:[i, f, s, {}], s:{s:n, s:b}, s:s, s:i}", "a", 1, 2.5,
	              "x", "b", "c", "d", 1, "z", "last", "k\n", 3);
	assert_non_null(o);
	check_dump(o);
	/* a whole webhook payload and an outbox document */
	a = anomaly("an-1", 0);
	a.value = 7300.5;
	a.expected = NAN;
	a.score = 1e-9;
	a.alert = str("high \"latency\"");
	a.application_id = str("chat\tbot \xc3\xa9");
	notify_init(&n, "hooks", "{}:{}", NULL, "http://x/");
	notify_add_anomaly(&n, &a);
	check_dump(notify_webhook_json(&n));
	check_dump(notify_to_json(&n));
	notify_free(&n);
}

/* Runs fn with stderr sent to a file; returns what it wrote (caller
 * frees). */
static char *
captured(void (*fn)(void *), void *arg)
{
	FILE *f = tmpfile();
	int saved = dup(STDERR_FILENO);
	long n;
	char *out;

	assert_non_null(f);
	dup2(fileno(f), STDERR_FILENO);
	fn(arg);
	dup2(saved, STDERR_FILENO);
	close(saved);
	n = ftell(f);
	assert_true(n >= 0);
	out = calloc(1, (size_t)n + 1);
	rewind(f);
	assert_int_equal(fread(out, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	/* the time stamps may differ by a millisecond: blank them */
	for (char *p = out; (p = strstr(p, "{\"ts\":\"")) != NULL; p += 7)
		memset(p + 7, 'T', 24);
	for (char *p = out; *p != '\0'; p = strchr(p, '\n') + 1)
		if (*p >= '0' && *p <= '9' && strlen(p) > 24)
			memset(p, 'T', 24); /* the text format's */
	return out;
}

struct log_case {
	const struct sn_anomaly *a;
	const char *const *to;
	size_t nto;
};

/* The anomaly line as alertd wrote it before notify_log_anomaly. */
static void
log_old(void *arg)
{
	const struct log_case *c = arg;
	struct notification n;
	json_t *f = anomaly_json(c->a), *to = json_array();
	size_t i;

	notify_init(&n, "", "", NULL, NULL);
	notify_add_anomaly(&n, c->a);
	for (i = 0; i < c->nto; i++)
		json_array_append_new(to, json_string(c->to[i]));
	json_object_set_new(f, "routed_to", to);
	json_object_set_new(f, "fingerprint",
	                    json_string(n.alerts[0].fingerprint));
	log_json(c->a->status == SN_ANOMALY_RESOLVED ? LOG_LEVEL_INFO
	                                             : LOG_LEVEL_WARN,
	         c->a->status == SN_ANOMALY_RESOLVED ? "anomaly resolved"
	                                             : "anomaly",
	         f);
	json_decref(f);
	notify_free(&n);
}

static void
log_new(void *arg)
{
	const struct log_case *c = arg;
	struct notification n;

	notify_init(&n, "", "", NULL, NULL);
	notify_add_anomaly(&n, c->a);
	notify_log_anomaly(c->a, n.alerts[0].fingerprint, c->to, c->nto);
	notify_free(&n);
}

/* notify_log_anomaly writes log_json's bytes for anomaly_json's object,
 * odd anomalies included, in both formats. */
static void
test_log_anomaly_as_log_json(void **state)
{
	static const char *const recv[] = {"ops", "q\"uote\\d", "bad\xff"};
	static const char nul_msg[] = "before\0after";
	struct sn_anomaly as[12];
	struct log_case c;
	size_t i, nto;
	int fmt;
	char *a, *b;

	(void)state;
	for (i = 0; i < 12; i++)
		as[i] = anomaly("a-1", 0);
	as[1] = anomaly("a-2", 1);
	as[2].expected = NAN;
	as[2].score = INFINITY;
	as[2].value = -0.0;
	as[2].threshold = 1e300;
	as[3].labels = str("{ \"b\" : 1.50, \"a\":[1,2,{\"x\":null}],"
	                   " \"c\":\"\\u00e9\\/\\b\\u001f\", \"d\":true,"
	                   " \"n\":-0}");
	as[4].labels = str("{\"unterminated\":");
	as[4].event_ids = str("[\"e1\",\"e2\"]");
	as[5].message = str("not \xc3\x28 utf-8");
	as[5].model = str("\xed\xa0\x80"); /* a surrogate */
	as[6].message.p = nul_msg;
	as[6].message.len = sizeof(nul_msg) - 1;
	as[7].message = str("tab\there \"q\" nl\n cr\r bs\\ \x01\x1f \x7f ü €");
	as[8].labels = str("");
	as[8].event_ids = str("[1, 2.5e-7, 12345678901234567]");
	as[8].alert = str("");
	as[9].labels = str("[\"not an object\"]");
	as[9].samples = UINT64_MAX;
	as[10].value = 0.1;
	as[10].expected = 1e-5;
	as[10].score = 123456789012345678.0;
	as[10].threshold = 3;
	as[11].id.p = NULL;
	as[11].id.len = 0;
	as[11].labels = str("{\"dup\":\"1\",\"dup\":\"2\"}");
	for (fmt = 0; fmt < 2; fmt++) {
		log_init("alertd", LOG_LEVEL_DEBUG,
		         fmt ? LOG_FORMAT_TEXT : LOG_FORMAT_JSON);
		for (i = 0; i < 12; i++)
			for (nto = 0; nto <= 3; nto++) {
				c.a = &as[i];
				c.to = recv;
				c.nto = nto;
				a = captured(log_old, &c);
				b = captured(log_new, &c);
				assert_true(strlen(a) > 20);
				assert_string_equal(a, b);
				free(a);
				free(b);
			}
	}
	/* below the threshold: nothing */
	log_init("alertd", LOG_LEVEL_ERROR, LOG_FORMAT_JSON);
	c.a = &as[0];
	c.nto = 1;
	b = captured(log_new, &c);
	assert_string_equal(b, "");
	free(b);
	log_init("alertd", LOG_LEVEL_INFO, LOG_FORMAT_JSON);
}

/* notify_webhook_write(n) is notify_dump(notify_webhook_json(n)). */
static void
check_webhook_write(const struct notification *n)
{
	json_t *doc = notify_webhook_json(n);
	char *want = notify_dumps(doc), *got;
	struct sn_buf b = {0};

	notify_webhook_write(n, &b);
	sn_buf_append(&b, "", 1);
	got = (char *)b.data;
	assert_string_equal(got, want);
	free(want);
	sn_buf_free(&b);
	json_decref(doc);
}

static void
test_webhook_write(void **state)
{
	struct notification n;
	struct sn_anomaly a;
	json_t *gl;

	(void)state;
	/* empty, then one alert, then three that share some labels */
	gl = json_pack("{s:s, s:s}", "model", "gpt-4", "z", "q\"\n");
	notify_init(&n, "ops", "{}/{severity=\"critical\"}:{model=\"gpt-4\"}",
	            gl, "http://sentinel.example/x?a=1&b=\xc3\xa9");
	check_webhook_write(&n);
	a = anomaly("w-1", 0);
	notify_add_anomaly(&n, &a);
	check_webhook_write(&n);
	a = anomaly("w-2", 1);
	a.labels = str("{\"region\":\"us\",\"n\":3,\"arr\":[1,\"x\"]}");
	a.expected = NAN;
	notify_add_anomaly(&n, &a);
	a = anomaly("w-3", 0);
	a.application_id = str("other");
	a.message = str("tab\t\x01 \xe2\x80\xa8");
	notify_add_anomaly(&n, &a);
	check_webhook_write(&n);
	n.test = 1;
	check_webhook_write(&n);
	notify_free(&n);
	json_decref(gl);
	/* not UTF-8: json_string leaves such fields out */
	notify_init(&n, "bad\xff", "key\xc0", NULL, "");
	a = anomaly("w-4", 1);
	notify_add_anomaly(&n, &a);
	check_webhook_write(&n);
	notify_free(&n);
}

static void
log_kv_ctl(void *arg)
{
	log_kv(LOG_LEVEL_WARN, "m\"sg", "k\\ey", (const char *)arg, NULL);
}

/* log.c's escapes read back as the bytes logged; an overlong line is cut
 * at LOG_LINE_MAX. */
static void
test_log_escapes_and_cut(void **state)
{
	char s[200], *line, *big;
	json_t *j;
	size_t i;

	(void)state;
	log_init("alertd", LOG_LEVEL_INFO, LOG_FORMAT_JSON);
	for (i = 0; i < 31; i++)
		s[i] = (char)(i + 1);
	strcpy(s + 31, "plain \"q\" \\ \xc3\xa9 end");
	line = captured(log_kv_ctl, s);
	j = json_loads(line, 0, NULL);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "k\\ey")), s);
	assert_string_equal(json_string_value(json_object_get(j, "msg")),
	                    "m\"sg");
	json_decref(j);
	free(line);
	big = malloc(20000);
	memset(big, 'a', 19999);
	big[19999] = '\0';
	big[5000] = '\n';
	line = captured(log_kv_ctl, big);
	assert_int_equal(strlen(line), LOG_LINE_MAX - 1);
	assert_int_equal(line[LOG_LINE_MAX - 2], '\n');
	assert_int_equal(line[LOG_LINE_MAX - 3], 'a');
	assert_non_null(strstr(line, "aaa\\naaa"));
	free(line);
	free(big);
}

/* notify_alert_write(al) is notify_dump(notify_alert_json(al)). */
static void
test_alert_write(void **state)
{
	struct notification n;
	struct sn_anomaly a;
	struct sn_buf b = {0};
	json_t *doc;
	char *want;
	size_t i;

	(void)state;
	notify_init(&n, "r", "k", NULL, NULL);
	a = anomaly("x-1", 0);
	notify_add_anomaly(&n, &a);
	a = anomaly("x-2", 1);
	a.expected = NAN;
	a.value = -0.0;
	a.score = 1e-7;
	a.threshold = -2.5e300;
	a.samples = UINT64_MAX;
	a.window_start_ms = -5;
	a.labels = str("{\"q\":\"a\\\"b\",\"n\":1.5}");
	notify_add_anomaly(&n, &a);
	for (i = 0; i < n.nalerts; i++) {
		doc = notify_alert_json(&n.alerts[i]);
		want = notify_dumps(doc);
		sn_buf_reset(&b);
		notify_alert_write(&n.alerts[i], &b);
		sn_buf_append(&b, "", 1);
		assert_string_equal((char *)b.data, want);
		free(want);
		json_decref(doc);
	}
	sn_buf_free(&b);
	notify_free(&n);
}

/* The integral fast paths print what printf prints. */
static void
test_numbers_as_printf(void **state)
{
	static const double vs[] = {0,    -0.0, 1,      -1,       7000,
	                            5000, 1e5,  999999, 1e6,      -999999,
	                            1e14, 1e15, -1e15,  1e15 - 1, 123456.5,
	                            0.5,  1e-3, 4e9,    -4e9};
	struct notification n;
	struct sn_anomaly a;
	char want[64];
	json_t *j;
	char *d;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(vs) / sizeof(vs[0]); i++) {
		/* %.6g in annotations */
		notify_init(&n, "r", "k", NULL, NULL);
		a = anomaly("n-1", 0);
		a.value = vs[i];
		notify_add_anomaly(&n, &a);
		snprintf(want, sizeof(want), "%.6g", vs[i]);
		assert_string_equal(sget(n.alerts[0].annotations, "value"),
		                    want);
		notify_free(&n);
		/* jansson's real */
		j = json_real(vs[i]);
		d = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
		{
			struct sn_buf b = {0};

			notify_dump(j, &b);
			sn_buf_append(&b, "", 1);
			assert_string_equal((char *)b.data, d);
			sn_buf_free(&b);
		}
		free(d);
		json_decref(j);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_webhook_v4),
	        cmocka_unit_test(test_dump_as_jansson),
	        cmocka_unit_test(test_resolved_and_id),
	        cmocka_unit_test(test_slack),
	        cmocka_unit_test(test_pagerduty),
	        cmocka_unit_test(test_email),
	        cmocka_unit_test(test_json_roundtrip),
	        cmocka_unit_test(test_log_anomaly_as_log_json),
	        cmocka_unit_test(test_webhook_write),
	        cmocka_unit_test(test_alert_write),
	        cmocka_unit_test(test_numbers_as_printf),
	        cmocka_unit_test(test_log_escapes_and_cut),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
