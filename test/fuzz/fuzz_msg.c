/*
 * fuzz_msg.c: an inter-daemon message (common/msg.h), as every consumer
 * decodes it.
 *
 * The input is one message as it arrives from an nng socket.  Daemons
 * decode what other processes send, so a malformed message must be
 * refused whole and a well-formed one handled (its events, when ingestd
 * could have sent them: fm_plausible):
 *
 *   SN_MSG_EVENTS     stored stores the events (a database under a
 *                     temporary folder), detectd feeds them to an engine
 *   SN_MSG_ANOMALIES  stored stores them; alertd turns each into an
 *                     alert, routes it and renders every notification
 *                     type, through the outbox's JSON and back
 *   SN_MSG_SET_STATE  ingestd adopts the daemon set's state
 *   SN_MSG_CURSOR     decoded and encoded back only
 *   SN_MSG_ANOMALIES_ACK  likewise
 *
 * Checked: msg_check agrees with reading every record; a well-formed
 * message encodes back to the same bytes (apart from the unused flags);
 * setstate_apply takes exactly the well-formed state messages whose
 * names fit; a notification survives the outbox's JSON with the same
 * id; the webhook body and the alert rows alertd writes directly
 * (notify_webhook_write, notify_alert_write) are byte for byte what
 * their JSON documents dump to, and notify_dump is json_dumps.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "../../alertd/alertd.h"
#include "../../alertd/notify.h"
#include "../../detectd/engine.h"
#include "../../ingestd/ingestd.h"
#include "../../stored/store.h"
#include "anomaly.h"
#include "fuzz.h"
#include "msg.h"
#include "util.h"

/* A fresh database now and then, so it does not grow without end. */
#define FM_STORE_RUNS 4096

static char fm_dir[256];
static struct store *fm_store;
static unsigned fm_store_runs;

/* Removes the store's folder: the database and its WAL files. */
static void
fm_store_remove(void)
{
	static const char *const files[] = {"sentinel.db", "sentinel.db-wal",
	                                    "sentinel.db-shm",
	                                    "sentinel.db-journal"};
	char p[320];
	size_t i;

	if (fm_dir[0] == '\0')
		return;
	for (i = 0; i < SN_ARRAY_LEN(files); i++) {
		snprintf(p, sizeof(p), "%s/%s", fm_dir, files[i]);
		unlink(p);
	}
	rmdir(fm_dir);
	fm_dir[0] = '\0';
}

static void
fm_store_close(void)
{
	store_close(fm_store);
	fm_store = NULL;
	fm_store_remove();
}

/* stored's database, fresh every FM_STORE_RUNS inputs. */
static struct store *
fm_store_get(void)
{
	static int registered;
	const char *tmp = getenv("TMPDIR");

	if (fm_store != NULL && ++fm_store_runs < FM_STORE_RUNS)
		return fm_store;
	fm_store_close();
	fm_store_runs = 0;
	snprintf(fm_dir, sizeof(fm_dir), "%s/sn-fuzz-msg-XXXXXX",
	         tmp != NULL && strlen(tmp) < 200 ? tmp : "/tmp");
	FUZZ_CHECK(mkdtemp(fm_dir) != NULL);
	FUZZ_CHECK(store_open(fm_dir, &fm_store) == 0);
	if (!registered++)
		atexit(fm_store_close);
	return fm_store;
}

/* engine_emit_cb: detectd would send these on; they must encode. */
static void
fm_emit(const struct sn_anomaly *a, void *arg)
{
	msg_add_anomaly(arg, a);
}

/*
 * Whether ev is an event ingestd could have sent: its time is an RFC
 * 3339 one (years 0000 to 9999, as sn_rfc3339_parse reads them) and its
 * numbers are the finite non-negative ones validate.c accepts.  detectd
 * and stored rely on that validation, so only such events go on to them;
 * the decoder itself takes anything.
 */
static int
fm_plausible(const struct sn_event *ev)
{
	const double v[] = {ev->latency_ms, ev->total_tokens, ev->prompt_tokens,
	                    ev->completion_tokens, ev->cost};
	size_t i;

	if (ev->ts_ms < FUZZ_TS_MIN || ev->ts_ms > FUZZ_TS_MAX ||
	    ev->recv_ms < FUZZ_TS_MIN || ev->recv_ms > FUZZ_TS_MAX)
		return 0;
	for (i = 0; i < SN_ARRAY_LEN(v); i++)
		if (!isfinite(v[i]) || v[i] < 0)
			return 0;
	return 1;
}

/* detectd and stored on a well-formed SN_MSG_EVENTS. */
static void
fm_events(const void *data, size_t len)
{
	struct msg_reader r;
	struct sn_event ev;
	struct sn_buf out = {0};
	struct engine *e = engine_new(fuzz_detectors(), NULL);
	struct store *s = fm_store_get();

	msg_begin(&out, SN_MSG_ANOMALIES);
	FUZZ_CHECK(msg_open(&r, data, len) == 0);
	while (msg_next_event(&r, &ev) == 1) {
		if (!fm_plausible(&ev))
			continue;
		engine_feed(e, &ev, FUZZ_NOW_MS, fm_emit, &out);
		FUZZ_CHECK(store_add_event(s, &ev) >= 0);
	}
	engine_finish(e, FUZZ_NOW_MS, fm_emit, &out);
	FUZZ_CHECK(store_commit(s) >= 0);
	FUZZ_CHECK(msg_open(&r, out.data, out.len) == 0 && msg_check(&r) == 0);
	engine_free(e);
	sn_buf_free(&out);
}

/* s as a NUL-terminated string, the buffer b emptied. */
static char *
fm_take(struct sn_buf *b)
{
	sn_buf_append(b, "", 1);
	return (char *)b->data;
}

/* jansson's compact dump of v, and notify_dump's, which must agree. */
static char *
fm_dumps(const json_t *v)
{
	char *want = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	char *got = notify_dumps(v);

	FUZZ_CHECK(want != NULL && got != NULL);
	FUZZ_CHECK(strcmp(want, got) == 0);
	free(want);
	return got;
}

/*
 * The writers alertd uses instead of jansson's trees write what the
 * trees dump to: the webhook's body, and each alert's group_alerts row.
 */
static void
fm_writers(const struct notification *n)
{
	struct sn_buf b = {0};
	char *want, *got;
	json_t *j;
	size_t i;

	j = notify_webhook_json(n);
	FUZZ_CHECK(j != NULL);
	want = fm_dumps(j);
	json_decref(j);
	notify_webhook_write(n, &b);
	got = fm_take(&b);
	FUZZ_CHECK(strcmp(want, got) == 0);
	free(want);
	free(got);
	for (i = 0; i < n->nalerts; i++) {
		j = notify_alert_json(&n->alerts[i]);
		FUZZ_CHECK(j != NULL);
		want = fm_dumps(j);
		json_decref(j);
		b = (struct sn_buf){0};
		notify_alert_write(&n->alerts[i], &b);
		got = fm_take(&b);
		FUZZ_CHECK(strcmp(want, got) == 0);
		free(want);
		free(got);
	}
}

/* alertd's handling of one anomaly, up to every rendering. */
static void
fm_alert(const struct sn_anomaly *a)
{
	static char *const to[] = {"ops@example.com"};
	const struct sn_alerts *al = fuzz_alerts();
	struct route_target t[ROUTE_MAX_TARGETS];
	struct notification n, back;
	char id[NOTIFY_ID_LEN + 1], id2[NOTIFY_ID_LEN + 1], *subject;
	struct sn_buf mail = {0};
	json_t *j;
	size_t i, nt;

	j = anomaly_json(a);
	FUZZ_CHECK(j != NULL);
	json_decref(j);

	/* alertd_route: the alert, its routes, one notification each */
	notify_init(&n, "hook", "{}:{alert=\"x\"}", NULL,
	            al->external_url ? al->external_url : "");
	notify_add_anomaly(&n, a);
	FUZZ_CHECK(n.nalerts == 1);
	nt = route_targets(al, n.alerts[0].labels, t, ROUTE_MAX_TARGETS);
	FUZZ_CHECK(nt <= ROUTE_MAX_TARGETS);
	for (i = 0; i < nt; i++)
		FUZZ_CHECK(t[i].receiver != NULL);
	(void)route_find(al, n.alerts[0].labels);

	/* the outbox keeps notify_to_json's text; the sender reads it back */
	notify_id(&n, id);
	j = notify_to_json(&n);
	FUZZ_CHECK(j != NULL);
	memset(&back, 0, sizeof(back));
	FUZZ_CHECK(notify_from_json(&back, j) == 0);
	notify_id(&back, id2);
	FUZZ_CHECK(strcmp(id, id2) == 0);
	json_decref(j);

	fm_writers(&n);
	fm_writers(&back);
	json_decref(notify_slack_json(&back, "#alerts"));
	json_decref(notify_pagerduty_json(&back, "key"));
	subject = notify_email_subject(&back);
	FUZZ_CHECK(subject != NULL);
	free(subject);
	notify_email(&back, "sentinel@example.com", to, 1, "[sentinel]",
	             FUZZ_NOW_MS, &mail);
	FUZZ_CHECK(mail.len > 0);
	sn_buf_free(&mail);
	notify_free(&back);
	notify_free(&n);
}

/*
 * The message's alerts as one group's notification, as a flush builds
 * it (group.c: group_notification): the first alert's labels as the
 * group's, a flush number; then again as a test notification.
 */
static void
fm_group(const void *data, size_t len)
{
	const struct sn_alerts *al = fuzz_alerts();
	struct msg_reader r;
	struct sn_anomaly a;
	struct notification g;
	struct notification first;

	notify_init(&first, "", "", NULL, NULL);
	FUZZ_CHECK(msg_open(&r, data, len) == 0);
	if (msg_next_anomaly(&r, &a) != 1) {
		notify_free(&first);
		return;
	}
	notify_add_anomaly(&first, &a);
	notify_init(&g, "hook\"\xc3\xa9", "{}:{model=\"m\"}",
	            first.alerts[0].labels,
	            al->external_url ? al->external_url : "");
	notify_free(&first);
	g.seq = (uint64_t)len;
	FUZZ_CHECK(msg_open(&r, data, len) == 0);
	while (msg_next_anomaly(&r, &a) == 1)
		notify_add_anomaly(&g, &a);
	fm_writers(&g);
	g.test = 1;
	fm_writers(&g);
	notify_free(&g);
}

/* stored and alertd on a well-formed SN_MSG_ANOMALIES. */
static void
fm_anomalies(const void *data, size_t len)
{
	struct msg_reader r;
	struct sn_anomaly a;
	struct store *s = fm_store_get();

	FUZZ_CHECK(msg_open(&r, data, len) == 0);
	while (msg_next_anomaly(&r, &a) == 1) {
		FUZZ_CHECK(store_add_anomaly(s, &a) >= 0);
		fm_alert(&a);
	}
	FUZZ_CHECK(store_commit(s) >= 0);
	fm_group(data, len);
}

/*
 * Reads every record of r, encoding each again into out.  Returns what
 * the last msg_next_* returned: 0 at a clean end, -1 when malformed.
 */
static int
fm_reencode(struct msg_reader *r, struct sn_buf *out, uint32_t *nrec)
{
	struct sn_event ev;
	struct sn_anomaly a;
	struct sn_daemon_status st;
	struct sn_cursor c;
	uint64_t id;
	int rc;

	msg_begin(out, (enum sn_msg_type)r->type);
	msg_set_prev(out, r->prev);
	msg_set_id(out, r->id);
	*nrec = 0;
	for (;;) {
		switch (r->type) {
		case SN_MSG_EVENTS:
			if ((rc = msg_next_event(r, &ev)) == 1)
				msg_add_event(out, &ev);
			break;
		case SN_MSG_ANOMALIES:
			if ((rc = msg_next_anomaly(r, &a)) == 1)
				msg_add_anomaly(out, &a);
			break;
		case SN_MSG_SET_STATE:
			if ((rc = msg_next_daemon_status(r, &st)) == 1)
				msg_add_daemon_status(out, &st);
			break;
		case SN_MSG_CURSOR:
			if ((rc = msg_next_cursor(r, &c)) == 1)
				msg_add_cursor(out, &c);
			break;
		case SN_MSG_ANOMALIES_ACK:
			if ((rc = msg_next_ack(r, &id)) == 1)
				msg_add_ack(out, id);
			break;
		default:
			FUZZ_CHECK(!"msg_open let an unknown type through");
			return -1;
		}
		if (rc != 1)
			return rc;
		(*nrec)++;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct setstate ss;
	struct msg_reader r, walk;
	struct sn_buf again = {0};
	uint32_t nrec;
	int checked, walked, applied;

	fuzz_quiet();
	applied = setstate_apply(&ss, data, size, 1);
	if (msg_open(&r, data, size) < 0) {
		FUZZ_CHECK(applied < 0);
		return 0;
	}
	FUZZ_CHECK(size >= SN_MSG_HDR_LEN && data[0] == SN_MSG_VERSION);
	checked = msg_check(&r);
	walk = r;
	walked = fm_reencode(&walk, &again, &nrec);
	FUZZ_CHECK(checked == walked);
	if (walked == 0) {
		/* every byte read, and the same bytes written back */
		FUZZ_CHECK(nrec == r.remaining);
		FUZZ_CHECK(again.len == size);
		FUZZ_CHECK(memcmp(again.data, data, 2) == 0);
		FUZZ_CHECK(memcmp(again.data + 4, data + 4, size - 4) == 0);
	}
	sn_buf_free(&again);
	if (r.type == SN_MSG_SET_STATE) {
		if (applied == 0) {
			FUZZ_CHECK(walked == 0 && ss.ndaemons == nrec);
			FUZZ_CHECK(ss.ndaemons <= SETSTATE_MAX);
		}
		return 0;
	}
	FUZZ_CHECK(applied < 0);
	if (walked < 0)
		return 0; /* dropped whole, as every consumer does */
	if (r.type == SN_MSG_EVENTS)
		fm_events(data, size);
	else if (r.type == SN_MSG_ANOMALIES)
		fm_anomalies(data, size);
	return 0;
}
