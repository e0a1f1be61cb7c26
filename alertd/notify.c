/*
 * notify.c: the notification document and its renderings (notify.h).
 *
 * The webhook rendering follows Alertmanager's webhook payload (version
 * "4") field for field so tools that accept Alertmanager accept us; the
 * other renderings are built from the same alerts so every receiver
 * shows the same numbers.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "notify.h"

/* Alertmanager's endsAt for an alert that has not ended. */
#define NOTIFY_ZERO_TIME "0001-01-01T00:00:00Z"

uint64_t
notify_hash(uint64_t h, const void *p, size_t len)
{
	return sn_fnv1a(h, p, len);
}

/* Hashes a NUL-terminated string and its terminator (so "a","bc" differs
 * from "ab","c"). */
static uint64_t
notify_hash_str(uint64_t h, const char *s)
{
	return notify_hash(h, s ? s : "", strlen(s ? s : "") + 1);
}

static void
notify_hex(uint64_t h, char *out)
{
	snprintf(out, NOTIFY_ID_LEN + 1, "%016llx", (unsigned long long)h);
}

/*
 * The decimal digits of an integral v with |v| < limit, not -0, into
 * buf (size >= 24): what %.6g (limit 1e6) and %.17g (limit 1e15) print
 * for it, without printf's cost (a few thousand instructions a number,
 * and an alert has four of them in several forms).  Its length, or 0
 * when v is not such a number.
 */
static size_t
notify_int_digits(double v, double limit, char *buf)
{
	char tmp[24], *p = tmp + sizeof(tmp);
	uint64_t u;
	size_t n;

	if (!(v > -limit && v < limit) || v != floor(v) ||
	    (v == 0 && signbit(v)))
		return 0;
	u = (uint64_t)(v < 0 ? -v : v);
	do
		*--p = (char)('0' + u % 10);
	while ((u /= 10) != 0);
	if (v < 0)
		*--p = '-';
	n = (size_t)(tmp + sizeof(tmp) - p);
	memcpy(buf, p, n);
	buf[n] = '\0';
	return n;
}

/* A number as annotations and emails show it: "n/a" when not finite. */
static void
notify_num(double v, char *buf, size_t size)
{
	if (size >= 24 && notify_int_digits(v, 1e6, buf) > 0)
		return; /* %.6g's digits */
	if (isfinite(v))
		snprintf(buf, size, "%.6g", v);
	else
		snprintf(buf, size, "n/a");
}

static void
notify_time(int64_t ms, char *buf, size_t size)
{
	sn_rfc3339_format(ms, buf, size);
}

/* A copy of a view as a C string (caller frees). */
static char *
notify_strdup(struct sn_str s)
{
	char *p = sn_xmalloc((size_t)s.len + 1);

	memcpy(p, s.p ? s.p : "", s.len);
	p[s.len] = '\0';
	return p;
}

/*
 * notify_strdup for a string that goes into JSON with json_pack's "s",
 * which fails on text that is not UTF-8: a malformed anomaly from a peer
 * must not make notify_alert_json fail (and alertd exit).  Bytes of an
 * invalid sequence become '?'.
 */
static char *
notify_strdup_utf8(struct sn_str s)
{
	char *p = notify_strdup(s), *q;
	json_t *v = json_string(p);

	if (v == NULL)
		for (q = p; *q != '\0'; q++)
			if ((unsigned char)*q >= 0x80)
				*q = '?';
	json_decref(v);
	return p;
}

/* Sets key to the view's value when it is not empty. */
static void
notify_set_str(json_t *o, const char *key, struct sn_str s)
{
	json_t *v;

	if (s.len == 0 || (v = json_stringn(s.p, s.len)) == NULL)
		return;
	json_object_set_new(o, key, v);
}

static void
notify_set_num(json_t *o, const char *key, double v)
{
	char buf[64];

	notify_num(v, buf, sizeof(buf));
	json_object_set_new(o, key, json_string(buf));
}

static int
notify_cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Hash of an object of string labels, independent of key order. */
static uint64_t
notify_labels_hash(json_t *labels)
{
	const char **keys;
	const char *k;
	json_t *v;
	size_t i = 0, n = json_object_size(labels);
	uint64_t h = NOTIFY_FNV0;

	keys = sn_xcalloc(n ? n : 1, sizeof(*keys));
	json_object_foreach(labels, k, v) keys[i++] = k;
	qsort(keys, n, sizeof(*keys), notify_cmp_str);
	for (i = 0; i < n; i++) {
		h = notify_hash_str(h, keys[i]);
		h = notify_hash_str(
		        h, json_string_value(json_object_get(labels, keys[i])));
	}
	free(keys);
	return h;
}

void
notify_init(struct notification *n, const char *receiver, const char *group_key,
            json_t *group_labels, const char *external_url)
{
	memset(n, 0, sizeof(*n));
	n->receiver = sn_xstrdup(receiver);
	n->group_key = sn_xstrdup(group_key);
	n->external_url = sn_xstrdup(external_url ? external_url : "");
	n->group_labels =
	        group_labels ? json_deep_copy(group_labels) : json_object();
	if (n->group_labels == NULL)
		fatalx("out of memory");
}

void
notify_free(struct notification *n)
{
	size_t i;

	for (i = 0; i < n->nalerts; i++)
		notify_alert_free(&n->alerts[i]);
	free(n->alerts);
	free(n->receiver);
	free(n->group_key);
	free(n->external_url);
	json_decref(n->group_labels);
	memset(n, 0, sizeof(*n));
}

/* Room for one more alert at the end of n->alerts. */
static struct notify_alert *
notify_grow(struct notification *n)
{
	n->alerts = realloc(n->alerts, (n->nalerts + 1) * sizeof(*n->alerts));
	if (n->alerts == NULL)
		fatalx("out of memory");
	return &n->alerts[n->nalerts++];
}

void
notify_add_anomaly(struct notification *n, const struct sn_anomaly *a)
{
	struct notify_alert *al;
	json_t *extra = NULL, *v;
	const char *k;
	char buf[128], t1[40], t2[40];

	al = notify_grow(n);
	memset(al, 0, sizeof(*al));
	al->id = notify_strdup_utf8(a->id);
	al->resolved = a->status == SN_ANOMALY_RESOLVED;
	al->value = a->value;
	al->expected = a->expected;
	al->score = a->score;
	al->threshold = a->threshold;
	al->starts_ms = a->ts_ms;
	al->ends_ms = al->resolved ? a->ts_ms : 0;
	al->window_start_ms = a->window_start_ms;
	al->window_end_ms = a->window_end_ms;
	al->samples = a->samples;

	/*
	 * Labels: the detector's group labels first, then the well-known
	 * fields, which win a clash: routing and grouping match on them.
	 */
	if ((al->labels = json_object()) == NULL ||
	    (al->annotations = json_object()) == NULL)
		fatalx("out of memory");
	if (a->labels.len > 0)
		extra = json_loadb(a->labels.p, a->labels.len, 0, NULL);
	if (json_is_object(extra)) {
		json_object_foreach(extra, k, v)
		{
			if (json_is_string(v))
				json_object_set(al->labels, k, v);
			else if (!json_is_null(v)) {
				char *s = json_dumps(v, JSON_ENCODE_ANY |
				                                JSON_COMPACT);
				if (s != NULL)
					json_object_set_new(al->labels, k,
					                    json_string(s));
				free(s);
			}
		}
	}
	json_decref(extra);
	notify_set_str(al->labels, "alertname",
	               a->alert.len ? a->alert : a->detector_id);
	notify_set_str(al->labels, "severity", a->severity);
	notify_set_str(al->labels, "detector", a->detector_id);
	notify_set_str(al->labels, "detector_type", a->detector_type);
	notify_set_str(al->labels, "application_id", a->application_id);
	notify_set_str(al->labels, "model", a->model);
	notify_set_str(al->labels, "metric", a->metric);
	notify_hex(notify_labels_hash(al->labels), al->fingerprint);

	/* Annotations: strings, as in Alertmanager. */
	notify_set_str(al->annotations, "summary", a->message);
	notify_set_num(al->annotations, "value", a->value);
	notify_set_num(al->annotations, "expected", a->expected);
	notify_set_num(al->annotations, "score", a->score);
	notify_set_num(al->annotations, "threshold", a->threshold);
	notify_time(a->window_start_ms, t1, sizeof(t1));
	notify_time(a->window_end_ms, t2, sizeof(t2));
	snprintf(buf, sizeof(buf), "%s/%s", t1, t2);
	json_object_set_new(al->annotations, "window", json_string(buf));
	snprintf(buf, sizeof(buf), "%llu", (unsigned long long)a->samples);
	json_object_set_new(al->annotations, "samples", json_string(buf));
	notify_set_str(al->annotations, "anomaly_id", a->id);
}

int
notify_resolved(const struct notification *n)
{
	size_t i;

	for (i = 0; i < n->nalerts; i++)
		if (!n->alerts[i].resolved)
			return 0;
	return n->nalerts > 0;
}

const char *
notify_status(const struct notification *n)
{
	return notify_resolved(n) ? "resolved" : "firing";
}

void
notify_id(const struct notification *n, char *out)
{
	uint64_t h = NOTIFY_FNV0;
	size_t i;

	h = notify_hash_str(h, n->receiver);
	h = notify_hash_str(h, n->group_key);
	h = notify_hash_str(h, notify_status(n));
	if (n->seq > 0)
		h = notify_hash(h, &n->seq, sizeof(n->seq));
	for (i = 0; i < n->nalerts; i++) {
		h = notify_hash_str(h, n->alerts[i].id);
		h = notify_hash_str(h, n->alerts[i].resolved ? "r" : "f");
	}
	notify_hex(h, out);
}

static json_t *
notify_real(double v)
{
	return isfinite(v) ? json_real(v) : json_null();
}

json_t *
notify_alert_json(const struct notify_alert *al)
{
	json_t *o = json_pack(
	        "{s:s, s:b, s:O, s:O, s:o, s:o, s:o, s:o, s:I,"
	        " s:I, s:I, s:I, s:I, s:s}",
	        "id", al->id, "resolved", al->resolved, "labels", al->labels,
	        "annotations", al->annotations, "value", notify_real(al->value),
	        "expected", notify_real(al->expected), "score",
	        notify_real(al->score), "threshold", notify_real(al->threshold),
	        "starts_ms", (json_int_t)al->starts_ms, "ends_ms",
	        (json_int_t)al->ends_ms, "window_start_ms",
	        (json_int_t)al->window_start_ms, "window_end_ms",
	        (json_int_t)al->window_end_ms, "samples",
	        (json_int_t)al->samples, "fingerprint", al->fingerprint);

	if (o == NULL)
		fatalx("out of memory");
	return o;
}

json_t *
notify_to_json(const struct notification *n)
{
	json_t *doc, *alerts;
	size_t i;

	if ((alerts = json_array()) == NULL)
		fatalx("out of memory");
	for (i = 0; i < n->nalerts; i++)
		json_array_append_new(alerts, notify_alert_json(&n->alerts[i]));
	doc = json_pack("{s:s, s:s, s:s, s:O, s:b, s:I, s:o}", "receiver",
	                n->receiver, "group_key", n->group_key, "external_url",
	                n->external_url, "group_labels", n->group_labels,
	                "test", n->test, "seq", (json_int_t)n->seq, "alerts",
	                alerts);
	if (doc == NULL)
		fatalx("out of memory");
	return doc;
}

/* A number field of an alert document: NAN when null or missing. */
static double
notify_get_real(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_number(v) ? json_number_value(v) : NAN;
}

int
notify_alert_from_json(struct notify_alert *al, json_t *a)
{
	const char *id, *fp;
	json_t *labels, *ann;
	json_int_t s0 = 0, e0 = 0, w0 = 0, w1 = 0, samples = 0;
	int resolved = 0;

	memset(al, 0, sizeof(*al));
	if (json_unpack(a,
	                "{s:s, s:b, s:o, s:o, s:I, s:I, s:I, s:I,"
	                " s:I, s:s}",
	                "id", &id, "resolved", &resolved, "labels", &labels,
	                "annotations", &ann, "starts_ms", &s0, "ends_ms", &e0,
	                "window_start_ms", &w0, "window_end_ms", &w1, "samples",
	                &samples, "fingerprint", &fp) != 0 ||
	    !json_is_object(labels) || !json_is_object(ann))
		return -1;
	al->id = sn_xstrdup(id);
	al->resolved = resolved;
	if ((al->labels = json_deep_copy(labels)) == NULL ||
	    (al->annotations = json_deep_copy(ann)) == NULL)
		fatalx("out of memory");
	al->value = notify_get_real(a, "value");
	al->expected = notify_get_real(a, "expected");
	al->score = notify_get_real(a, "score");
	al->threshold = notify_get_real(a, "threshold");
	al->starts_ms = s0;
	al->ends_ms = e0;
	al->window_start_ms = w0;
	al->window_end_ms = w1;
	al->samples = (uint64_t)samples;
	snprintf(al->fingerprint, sizeof(al->fingerprint), "%s", fp);
	return 0;
}

void
notify_alert_copy(struct notify_alert *dst, const struct notify_alert *src)
{
	*dst = *src;
	dst->id = sn_xstrdup(src->id);
	if ((dst->labels = json_deep_copy(src->labels)) == NULL ||
	    (dst->annotations = json_deep_copy(src->annotations)) == NULL)
		fatalx("out of memory");
}

void
notify_alert_ref(struct notify_alert *dst, const struct notify_alert *src)
{
	*dst = *src;
	dst->id = sn_xstrdup(src->id);
	json_incref(dst->labels);
	json_incref(dst->annotations);
}

void
notify_add_alert_take(struct notification *n, struct notify_alert *al)
{
	*notify_grow(n) = *al;
	memset(al, 0, sizeof(*al));
}

void
notify_alert_free(struct notify_alert *al)
{
	free(al->id);
	json_decref(al->labels);
	json_decref(al->annotations);
	memset(al, 0, sizeof(*al));
}

void
notify_add_alert(struct notification *n, const struct notify_alert *al)
{
	notify_alert_copy(notify_grow(n), al);
}

int
notify_add_alert_json(struct notification *n, json_t *a)
{
	if (notify_alert_from_json(notify_grow(n), a) < 0) {
		n->nalerts--;
		return -1;
	}
	return 0;
}

int
notify_from_json(struct notification *n, json_t *doc)
{
	const char *receiver, *group_key, *url = "";
	json_t *gl = NULL, *alerts, *a;
	json_int_t seq = 0;
	int test = 0;
	size_t i;

	memset(n, 0, sizeof(*n));
	if (json_unpack(doc, "{s:s, s:s, s?s, s?o, s?b, s?I, s:o}", "receiver",
	                &receiver, "group_key", &group_key, "external_url",
	                &url, "group_labels", &gl, "test", &test, "seq", &seq,
	                "alerts", &alerts) != 0 ||
	    !json_is_array(alerts))
		return -1;
	notify_init(n, receiver, group_key, json_is_object(gl) ? gl : NULL,
	            url);
	n->test = test;
	n->seq = (uint64_t)seq;
	json_array_foreach(alerts, i, a)
	{
		if (notify_alert_from_json(notify_grow(n), a) < 0) {
			n->nalerts--;
			notify_free(n);
			return -1;
		}
	}
	return 0;
}

/* One byte onto out, in place when there is room. */
static inline void
notify_putc(struct sn_buf *out, char c)
{
	if (out->len < out->cap)
		out->data[out->len++] = (uint8_t)c;
	else
		sn_buf_append(out, &c, 1);
}

/* A real as jansson writes it (jsonp_dtostr): %.17g, ".0" when that
 * looks like an integer, no '+' or leading zeros in the exponent. */
static void
notify_dump_real(double v, struct sn_buf *out)
{
	char buf[64], *e, *start, *end;
	int n;
	size_t len;

	if ((len = notify_int_digits(v, 1e15, buf)) > 0) {
		/* %.17g's digits, then ".0" */
		memcpy(buf + len, ".0", 2);
		sn_buf_append(out, buf, len + 2);
		return;
	}
	n = snprintf(buf, sizeof(buf), "%.17g", v);

	if (n < 0 || (size_t)n >= sizeof(buf) - 3)
		fatalx("real too long");
	len = (size_t)n;
	if (strchr(buf, '.') == NULL && strchr(buf, 'e') == NULL) {
		memcpy(buf + len, ".0", 3);
		len += 2;
	}
	if ((e = strchr(buf, 'e')) != NULL) {
		start = e + 1;
		end = start + 1;
		if (*start == '-')
			start++;
		while (*end == '0')
			end++;
		if (end != start) {
			memmove(start, end, len - (size_t)(end - buf) + 1);
			len -= (size_t)(end - start);
		}
	}
	sn_buf_append(out, buf, len);
}

/* An integer as jansson writes it. */
static void
notify_dump_int(json_int_t v, struct sn_buf *out)
{
	char buf[24], *p = buf + sizeof(buf);
	uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;

	do
		*--p = (char)('0' + u % 10);
	while ((u /= 10) != 0);
	if (v < 0)
		*--p = '-';
	sn_buf_append(out, p, (size_t)(buf + sizeof(buf) - p));
}

void
notify_dump(const json_t *v, struct sn_buf *out)
{
	const char *k;
	json_t *x;
	void *it;
	size_t i, n;
	int first = 1;

	switch (json_typeof(v)) {
	case JSON_OBJECT:
		notify_putc(out, '{');
		/* the iterator itself: json_object_foreach looks each key up
		 * again */
		for (it = json_object_iter((json_t *)v); it != NULL;
		     it = json_object_iter_next((json_t *)v, it)) {
			k = json_object_iter_key(it);
			x = json_object_iter_value(it);
			if (!first)
				notify_putc(out, ',');
			first = 0;
			sn_buf_json_str(out, k, strlen(k));
			notify_putc(out, ':');
			notify_dump(x, out);
		}
		notify_putc(out, '}');
		break;
	case JSON_ARRAY:
		notify_putc(out, '[');
		n = json_array_size(v);
		for (i = 0; i < n; i++) {
			if (i > 0)
				notify_putc(out, ',');
			notify_dump(json_array_get(v, i), out);
		}
		notify_putc(out, ']');
		break;
	case JSON_STRING:
		sn_buf_json_str(out, json_string_value(v),
		                json_string_length(v));
		break;
	case JSON_INTEGER:
		notify_dump_int(json_integer_value(v), out);
		break;
	case JSON_REAL:
		notify_dump_real(json_real_value(v), out);
		break;
	case JSON_TRUE:
		sn_buf_append(out, "true", 4);
		break;
	case JSON_FALSE:
		sn_buf_append(out, "false", 5);
		break;
	default:
		sn_buf_append(out, "null", 4);
		break;
	}
}

int
notify_utf8(const char *p, size_t len)
{
	const unsigned char *u = (const unsigned char *)p;
	size_t i = 0, n, k;
	uint32_t v;

	while (i < len) {
		if (u[i] < 0x80) {
			i++;
			continue;
		}
		if (u[i] < 0xc2 || u[i] > 0xf4)
			return 0;
		n = u[i] <= 0xdf ? 2 : u[i] <= 0xef ? 3 : 4;
		if (len - i < n)
			return 0;
		v = u[i] & (n == 2 ? 0x1f : n == 3 ? 0x0f : 0x07);
		for (k = 1; k < n; k++) {
			if ((u[i + k] & 0xc0) != 0x80)
				return 0;
			v = (v << 6) | (u[i + k] & 0x3f);
		}
		if (v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff) ||
		    (n == 3 && v < 0x800) || (n == 4 && v < 0x10000))
			return 0;
		i += n;
	}
	return 1;
}

/* A string field of the anomaly line: left out, as json_stringn leaves
 * it, when it is not UTF-8. */
static void
notify_log_str(struct log_line *l, const char *key, struct sn_str s)
{
	const char *p = s.p ? s.p : "";

	if (notify_utf8(p, s.len))
		log_line_str(l, key, p, s.len);
}

/* An embedded JSON field (labels, event_ids) as anomaly_json has it:
 * parsed, else dflt, and written as jansson writes it. */
static void
notify_log_embedded(struct log_line *l, const char *key, struct sn_str s,
                    const char *dflt, struct sn_buf *b)
{
	json_t *j = NULL;

	if (s.len > 0)
		j = json_loadb(s.p, s.len, 0, NULL);
	if (j == NULL) {
		log_line_raw(l, key, dflt, strlen(dflt));
		return;
	}
	sn_buf_reset(b);
	notify_dump(j, b);
	json_decref(j);
	log_line_raw(l, key, (const char *)b->data, b->len);
}

/* A number field: jansson's real, null when not finite. */
static void
notify_log_real(struct log_line *l, const char *key, double v, struct sn_buf *b)
{
	if (!isfinite(v)) {
		log_line_raw(l, key, "null", 4);
		return;
	}
	sn_buf_reset(b);
	notify_dump_real(v, b);
	log_line_raw(l, key, (const char *)b->data, b->len);
}

static void
notify_log_time(struct log_line *l, const char *key, int64_t ms)
{
	char buf[40];

	sn_rfc3339_format(ms, buf, sizeof(buf));
	log_line_str(l, key, buf, strlen(buf));
}

void
notify_log_anomaly(const struct sn_anomaly *a, const char *fingerprint,
                   const char *const *receivers, size_t nreceivers)
{
	int resolved = a->status == SN_ANOMALY_RESOLVED;
	struct log_line l;
	struct sn_buf b = {0};
	char num[32];
	size_t i;
	int n, first = 1;

	if (log_line_begin(&l, resolved ? LOG_LEVEL_INFO : LOG_LEVEL_WARN,
	                   resolved ? "anomaly resolved" : "anomaly") < 0)
		return;
	notify_log_str(&l, "id", a->id);
	notify_log_time(&l, "timestamp", a->ts_ms);
	log_line_str(&l, "status", resolved ? "resolved" : "firing",
	             resolved ? 8 : 6);
	notify_log_str(&l, "detector_id", a->detector_id);
	notify_log_str(&l, "detector_type", a->detector_type);
	notify_log_str(&l, "alert", a->alert);
	notify_log_str(&l, "severity", a->severity);
	notify_log_embedded(&l, "labels", a->labels, "{}", &b);
	notify_log_str(&l, "application_id", a->application_id);
	notify_log_str(&l, "model", a->model);
	notify_log_str(&l, "metric", a->metric);
	notify_log_real(&l, "value", a->value, &b);
	notify_log_real(&l, "expected", a->expected, &b);
	notify_log_real(&l, "score", a->score, &b);
	notify_log_real(&l, "threshold", a->threshold, &b);
	notify_log_time(&l, "window_start", a->window_start_ms);
	notify_log_time(&l, "window_end", a->window_end_ms);
	n = snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT,
	             (json_int_t)a->samples);
	log_line_raw(&l, "samples", num, (size_t)n);
	notify_log_str(&l, "event_id", a->event_id);
	notify_log_embedded(&l, "event_ids", a->event_ids, "[]", &b);
	notify_log_str(&l, "message", a->message);
	/* routed_to: json_array of json_string, which leaves out what is
	 * not UTF-8 */
	sn_buf_reset(&b);
	sn_buf_append(&b, "[", 1);
	for (i = 0; i < nreceivers; i++) {
		if (!notify_utf8(receivers[i], strlen(receivers[i])))
			continue;
		if (!first)
			sn_buf_append(&b, ",", 1);
		first = 0;
		sn_buf_json_str(&b, receivers[i], strlen(receivers[i]));
	}
	sn_buf_append(&b, "]", 1);
	log_line_raw(&l, "routed_to", (const char *)b.data, b.len);
	log_line_str(&l, "fingerprint", fingerprint, strlen(fingerprint));
	log_line_end(&l);
	sn_buf_free(&b);
}

/* ,"key": */
static void
notify_dump_key(const char *key, struct sn_buf *out)
{
	sn_buf_append(out, ",\"", 2);
	sn_buf_append(out, key, strlen(key));
	sn_buf_append(out, "\":", 2);
}

static void
notify_dump_real_or_null(double v, struct sn_buf *out)
{
	if (isfinite(v))
		notify_dump_real(v, out);
	else
		sn_buf_append(out, "null", 4);
}

void
notify_alert_write(const struct notify_alert *al, struct sn_buf *out)
{
	/* json_pack's "s" takes only UTF-8: the id is made so
	 * (notify_strdup_utf8) */
	if (!notify_utf8(al->id, strlen(al->id)))
		fatalx("out of memory");
	sn_buf_reserve(out, 640);
	sn_buf_append(out, "{\"id\":", 6);
	sn_buf_json_str(out, al->id, strlen(al->id));
	notify_dump_key("resolved", out);
	if (al->resolved)
		sn_buf_append(out, "true", 4);
	else
		sn_buf_append(out, "false", 5);
	notify_dump_key("labels", out);
	notify_dump(al->labels, out);
	notify_dump_key("annotations", out);
	notify_dump(al->annotations, out);
	notify_dump_key("value", out);
	notify_dump_real_or_null(al->value, out);
	notify_dump_key("expected", out);
	notify_dump_real_or_null(al->expected, out);
	notify_dump_key("score", out);
	notify_dump_real_or_null(al->score, out);
	notify_dump_key("threshold", out);
	notify_dump_real_or_null(al->threshold, out);
	notify_dump_key("starts_ms", out);
	notify_dump_int((json_int_t)al->starts_ms, out);
	notify_dump_key("ends_ms", out);
	notify_dump_int((json_int_t)al->ends_ms, out);
	notify_dump_key("window_start_ms", out);
	notify_dump_int((json_int_t)al->window_start_ms, out);
	notify_dump_key("window_end_ms", out);
	notify_dump_int((json_int_t)al->window_end_ms, out);
	notify_dump_key("samples", out);
	notify_dump_int((json_int_t)al->samples, out);
	notify_dump_key("fingerprint", out);
	sn_buf_json_str(out, al->fingerprint, strlen(al->fingerprint));
	sn_buf_append(out, "}", 1);
}

char *
notify_dumps(const json_t *v)
{
	struct sn_buf b = {0};

	notify_dump(v, &b);
	sn_buf_append(&b, "", 1);
	return (char *)b.data;
}

/* The label value of alert i, or "" when it has none. */
static const char *
notify_label(const struct notify_alert *al, const char *key)
{
	const char *s = json_string_value(json_object_get(al->labels, key));

	return s ? s : "";
}

/*
 * The key/value pairs that all alerts of n have in common, from field
 * "labels" or "annotations".  New reference.
 */
static json_t *
notify_common(const struct notification *n, int annotations)
{
	json_t *common, *first, *v;
	const char *k;
	size_t i;

	if ((common = json_object()) == NULL)
		fatalx("out of memory");
	if (n->nalerts == 0)
		return common;
	first = annotations ? n->alerts[0].annotations : n->alerts[0].labels;
	json_object_foreach(first, k, v)
	{
		for (i = 1; i < n->nalerts; i++) {
			json_t *o = annotations ? n->alerts[i].annotations
			                        : n->alerts[i].labels;
			if (!json_equal(json_object_get(o, k), v))
				break;
		}
		if (i == n->nalerts)
			json_object_set(common, k, v);
	}
	return common;
}

static int
notify_severity_rank(const char *s)
{
	if (strcmp(s, "critical") == 0)
		return 4;
	if (strcmp(s, "error") == 0)
		return 3;
	if (strcmp(s, "warning") == 0)
		return 2;
	if (strcmp(s, "info") == 0)
		return 1;
	return 0;
}

/* The most severe severity among n's alerts; "warning" when none says. */
static const char *
notify_severity(const struct notification *n)
{
	const char *best = NULL, *s;
	size_t i;

	for (i = 0; i < n->nalerts; i++) {
		s = notify_label(&n->alerts[i], "severity");
		if (best == NULL ||
		    notify_severity_rank(s) > notify_severity_rank(best))
			best = s;
	}
	return best && *best ? best : "warning";
}

/* Number of firing alerts of n. */
static size_t
notify_nfiring(const struct notification *n)
{
	size_t i, k = 0;

	for (i = 0; i < n->nalerts; i++)
		k += !n->alerts[i].resolved;
	return k;
}

/*
 * A one-line title, Alertmanager's default style:
 * "[FIRING:2] high-latency-alert (billing gpt-4)".  Caller frees.
 */
static char *
notify_title(const struct notification *n)
{
	const struct notify_alert *al = n->nalerts ? &n->alerts[0] : NULL;
	const char *name = al ? notify_label(al, "alertname") : "";
	const char *app = al ? notify_label(al, "application_id") : "";
	const char *model = al ? notify_label(al, "model") : "";
	size_t count = notify_resolved(n) ? n->nalerts : notify_nfiring(n);
	char *s;

	if (asprintf(&s, "%s[%s:%zu] %s (%s%s%s)", n->test ? "[TEST] " : "",
	             notify_resolved(n) ? "RESOLVED" : "FIRING", count, name,
	             app, *app && *model ? " " : "", model) < 0)
		fatalx("out of memory");
	return s;
}

json_t *
notify_webhook_json(const struct notification *n)
{
	json_t *doc, *alerts, *a;
	char t[40];
	size_t i;

	if ((doc = json_object()) == NULL || (alerts = json_array()) == NULL)
		fatalx("out of memory");
	json_object_set_new(doc, "version", json_string("4"));
	json_object_set_new(doc, "groupKey", json_string(n->group_key));
	json_object_set_new(doc, "truncatedAlerts", json_integer(0));
	json_object_set_new(doc, "status", json_string(notify_status(n)));
	json_object_set_new(doc, "receiver", json_string(n->receiver));
	json_object_set_new(doc, "groupLabels",
	                    json_deep_copy(n->group_labels));
	json_object_set_new(doc, "commonLabels", notify_common(n, 0));
	json_object_set_new(doc, "commonAnnotations", notify_common(n, 1));
	json_object_set_new(doc, "externalURL", json_string(n->external_url));
	for (i = 0; i < n->nalerts; i++) {
		const struct notify_alert *al = &n->alerts[i];

		a = json_object();
		json_object_set_new(
		        a, "status",
		        json_string(al->resolved ? "resolved" : "firing"));
		json_object_set_new(a, "labels", json_deep_copy(al->labels));
		json_object_set_new(a, "annotations",
		                    json_deep_copy(al->annotations));
		notify_time(al->starts_ms, t, sizeof(t));
		json_object_set_new(a, "startsAt", json_string(t));
		if (al->resolved)
			notify_time(al->ends_ms, t, sizeof(t));
		json_object_set_new(
		        a, "endsAt",
		        json_string(al->resolved ? t : NOTIFY_ZERO_TIME));
		json_object_set_new(a, "generatorURL",
		                    json_string(n->external_url));
		json_object_set_new(a, "fingerprint",
		                    json_string(al->fingerprint));
		json_array_append_new(alerts, a);
	}
	json_object_set_new(doc, "alerts", alerts);
	return doc;
}

/* "key":"value" (with a comma before unless *first), left out as
 * json_object_set_new leaves out json_string's NULL (not UTF-8). */
static void
notify_w_str(struct sn_buf *b, int *first, const char *key, const char *s)
{
	size_t len = strlen(s);

	if (!notify_utf8(s, len))
		return;
	if (!*first)
		sn_buf_append(b, ",", 1);
	*first = 0;
	sn_buf_json_str(b, key, strlen(key));
	sn_buf_append(b, ":", 1);
	sn_buf_json_str(b, s, len);
}

/* "key":<v as JSON> */
static void
notify_w_json(struct sn_buf *b, int *first, const char *key, const json_t *v)
{
	if (!*first)
		sn_buf_append(b, ",", 1);
	*first = 0;
	sn_buf_json_str(b, key, strlen(key));
	sn_buf_append(b, ":", 1);
	notify_dump(v, b);
}

/* notify_common(n, annotations) as JSON. */
static void
notify_w_common(struct sn_buf *b, int *first, const char *key,
                const struct notification *n, int annotations)
{
	const json_t *f;
	const char *k;
	json_t *v;
	size_t i;
	int ffirst = 1;

	if (!*first)
		sn_buf_append(b, ",", 1);
	*first = 0;
	sn_buf_json_str(b, key, strlen(key));
	sn_buf_append(b, ":{", 2);
	f = n->nalerts == 0 ? NULL
	    : annotations   ? n->alerts[0].annotations
	                    : n->alerts[0].labels;
	json_object_foreach((json_t *)f, k, v)
	{
		for (i = 1; i < n->nalerts; i++) {
			json_t *o = annotations ? n->alerts[i].annotations
			                        : n->alerts[i].labels;
			if (!json_equal(json_object_get(o, k), v))
				break;
		}
		if (i == n->nalerts)
			notify_w_json(b, &ffirst, k, v);
	}
	sn_buf_append(b, "}", 1);
}

void
notify_webhook_write(const struct notification *n, struct sn_buf *b)
{
	char t[40];
	size_t i;
	int first = 1, afirst;

	sn_buf_reserve(b, 1024 + 768 * n->nalerts);
	sn_buf_append(b, "{", 1);
	notify_w_str(b, &first, "version", "4");
	notify_w_str(b, &first, "groupKey", n->group_key);
	sn_buf_append(b, ",\"truncatedAlerts\":0", 20);
	notify_w_str(b, &first, "status", notify_status(n));
	notify_w_str(b, &first, "receiver", n->receiver);
	if (n->group_labels != NULL)
		notify_w_json(b, &first, "groupLabels", n->group_labels);
	notify_w_common(b, &first, "commonLabels", n, 0);
	notify_w_common(b, &first, "commonAnnotations", n, 1);
	notify_w_str(b, &first, "externalURL", n->external_url);
	sn_buf_append(b, ",\"alerts\":[", 11);
	for (i = 0; i < n->nalerts; i++) {
		const struct notify_alert *al = &n->alerts[i];

		if (i > 0)
			sn_buf_append(b, ",", 1);
		afirst = 1;
		sn_buf_append(b, "{", 1);
		notify_w_str(b, &afirst, "status",
		             al->resolved ? "resolved" : "firing");
		notify_w_json(b, &afirst, "labels", al->labels);
		notify_w_json(b, &afirst, "annotations", al->annotations);
		notify_time(al->starts_ms, t, sizeof(t));
		notify_w_str(b, &afirst, "startsAt", t);
		if (al->resolved)
			notify_time(al->ends_ms, t, sizeof(t));
		notify_w_str(b, &afirst, "endsAt",
		             al->resolved ? t : NOTIFY_ZERO_TIME);
		notify_w_str(b, &afirst, "generatorURL", n->external_url);
		notify_w_str(b, &afirst, "fingerprint", al->fingerprint);
		sn_buf_append(b, "}", 1);
	}
	sn_buf_append(b, "]}", 2);
}

/* Slack attachment colour and emoji for a group. */
static void
notify_slack_style(const struct notification *n, const char **color,
                   const char **emoji)
{
	const char *sev = notify_severity(n);

	if (notify_resolved(n)) {
		*color = "#2eb886";
		*emoji = ":white_check_mark:";
	} else if (strcmp(sev, "critical") == 0 || strcmp(sev, "error") == 0) {
		*color = "#d50200";
		*emoji = ":rotating_light:";
	} else if (strcmp(sev, "info") == 0) {
		*color = "#439fe0";
		*emoji = ":information_source:";
	} else {
		*color = "#f2c744";
		*emoji = ":warning:";
	}
}

/* The text lines describing one alert (caller frees). */
static char *
notify_alert_text(const struct notify_alert *al, int markdown)
{
	const char *summary =
	        json_string_value(json_object_get(al->annotations, "summary"));
	char v[64], e[64], sc[64], w1[40], w2[40], *s;

	notify_num(al->value, v, sizeof(v));
	notify_num(al->expected, e, sizeof(e));
	notify_num(al->score, sc, sizeof(sc));
	notify_time(al->window_start_ms, w1, sizeof(w1));
	notify_time(al->window_end_ms, w2, sizeof(w2));
	if (asprintf(&s,
	             "%s%s%s [%s] %s\n"
	             "application: %s  model: %s  metric: %s\n"
	             "observed: %s  expected: %s  score: %s\n"
	             "window: %s .. %s (%llu samples)",
	             markdown ? "*" : "", notify_label(al, "alertname"),
	             markdown ? "*" : "", al->resolved ? "resolved" : "firing",
	             summary ? summary : "", notify_label(al, "application_id"),
	             notify_label(al, "model"), notify_label(al, "metric"), v,
	             e, sc, w1, w2, (unsigned long long)al->samples) < 0)
		fatalx("out of memory");
	return s;
}

json_t *
notify_slack_json(const struct notification *n, const char *channel)
{
	json_t *doc, *blocks, *att;
	const char *color, *emoji;
	char *title, *text, *line;
	size_t i;

	notify_slack_style(n, &color, &emoji);
	title = notify_title(n);
	if (asprintf(&text, "%s %s", emoji, title) < 0)
		fatalx("out of memory");
	doc = json_object();
	blocks = json_array();
	if (channel != NULL && *channel)
		json_object_set_new(doc, "channel", json_string(channel));
	json_object_set_new(doc, "text", json_string(text));
	json_array_append_new(blocks, json_pack("{s:s, s:{s:s, s:s}}", "type",
	                                        "header", "text", "type",
	                                        "plain_text", "text", text));
	for (i = 0; i < n->nalerts; i++) {
		line = notify_alert_text(&n->alerts[i], 1);
		json_array_append_new(blocks,
		                      json_pack("{s:s, s:{s:s, s:s}}", "type",
		                                "section", "text", "type",
		                                "mrkdwn", "text", line));
		free(line);
	}
	json_object_set_new(doc, "blocks", blocks);
	/* The colour bar only exists on attachments. */
	att = json_pack("[{s:s, s:s}]", "color", color, "fallback", text);
	json_object_set_new(doc, "attachments", att);
	free(title);
	free(text);
	return doc;
}

/* PagerDuty's severities are critical, error, warning and info. */
static const char *
notify_pd_severity(const struct notification *n)
{
	const char *s = notify_severity(n);

	return notify_severity_rank(s) > 0 ? s : "warning";
}

json_t *
notify_pagerduty_json(const struct notification *n, const char *routing_key)
{
	json_t *doc, *payload, *details, *alerts;
	char dedup[NOTIFY_ID_LEN + 10], t[40];
	const char *source = "";
	char *title;
	size_t i;

	/* Stable per group, so trigger and resolve pair up in PagerDuty. */
	snprintf(
	        dedup, sizeof(dedup), "sentinel-%016llx",
	        (unsigned long long)notify_hash_str(NOTIFY_FNV0, n->group_key));
	doc = json_object();
	json_object_set_new(doc, "routing_key",
	                    json_string(routing_key ? routing_key : ""));
	json_object_set_new(
	        doc, "event_action",
	        json_string(notify_resolved(n) ? "resolve" : "trigger"));
	json_object_set_new(doc, "dedup_key", json_string(dedup));
	json_object_set_new(doc, "client", json_string("LLM-Sentinel"));
	if (*n->external_url)
		json_object_set_new(doc, "client_url",
		                    json_string(n->external_url));
	if (notify_resolved(n))
		return doc; /* a resolve needs no payload */

	alerts = json_array();
	for (i = 0; i < n->nalerts; i++)
		json_array_append_new(
		        alerts,
		        json_pack("{s:s, s:O, s:O}", "status",
		                  n->alerts[i].resolved ? "resolved" : "firing",
		                  "labels", n->alerts[i].labels, "annotations",
		                  n->alerts[i].annotations));
	details = json_object();
	json_object_set_new(details, "firing",
	                    json_integer((json_int_t)notify_nfiring(n)));
	json_object_set_new(details, "num_alerts",
	                    json_integer((json_int_t)n->nalerts));
	json_object_set_new(details, "groupLabels",
	                    json_deep_copy(n->group_labels));
	json_object_set_new(details, "alerts", alerts);
	if (n->nalerts > 0)
		source = notify_label(&n->alerts[0], "application_id");
	title = notify_title(n);
	payload = json_object();
	json_object_set_new(payload, "summary", json_string(title));
	json_object_set_new(payload, "severity",
	                    json_string(notify_pd_severity(n)));
	json_object_set_new(payload, "source",
	                    json_string(*source ? source : "llm-sentinel"));
	if (n->nalerts > 0) {
		notify_time(n->alerts[0].starts_ms, t, sizeof(t));
		json_object_set_new(payload, "timestamp", json_string(t));
		json_object_set_new(
		        payload, "component",
		        json_string(notify_label(&n->alerts[0], "model")));
		json_object_set_new(
		        payload, "class",
		        json_string(notify_label(&n->alerts[0], "alertname")));
	}
	json_object_set_new(payload, "custom_details", details);
	json_object_set_new(doc, "payload", payload);
	free(title);
	return doc;
}

char *
notify_email_subject(const struct notification *n)
{
	return notify_title(n);
}

/* Appends a NUL-terminated string. */
static void
notify_puts(struct sn_buf *b, const char *s)
{
	sn_buf_append(b, s, strlen(s));
}

/* Appends s with its LF line ends turned into CRLF. */
static void
notify_put_crlf(struct sn_buf *b, const char *s)
{
	for (; *s; s++) {
		if (*s == '\n')
			sn_buf_append(b, "\r", 1);
		if (*s != '\r')
			sn_buf_append(b, s, 1);
	}
}

/* Appends s escaped for HTML text. */
static void
notify_put_html(struct sn_buf *b, const char *s)
{
	for (; s && *s; s++) {
		switch (*s) {
		case '<':
			notify_puts(b, "&lt;");
			break;
		case '>':
			notify_puts(b, "&gt;");
			break;
		case '&':
			notify_puts(b, "&amp;");
			break;
		case '"':
			notify_puts(b, "&quot;");
			break;
		case '\r':
		case '\n':
			notify_puts(b, " ");
			break;
		default:
			sn_buf_append(b, s, 1);
		}
	}
}

/* One <tr><th>name</th><td>value</td></tr>. */
static void
notify_html_row(struct sn_buf *b, const char *name, const char *value)
{
	notify_puts(b, "<tr><th align=\"left\">");
	notify_put_html(b, name);
	notify_puts(b, "</th><td>");
	notify_put_html(b, value);
	notify_puts(b, "</td></tr>\r\n");
}

/* A header value with CR and LF removed (header injection). */
static void
notify_put_header(struct sn_buf *b, const char *name, const char *value)
{
	notify_puts(b, name);
	notify_puts(b, ": ");
	for (; value && *value; value++)
		if (*value != '\r' && *value != '\n')
			sn_buf_append(b, value, 1);
	notify_puts(b, "\r\n");
}

void
notify_email(const struct notification *n, const char *from, char *const *to,
             size_t nto, const char *subject_prefix, int64_t now_ms,
             struct sn_buf *out)
{
	char id[NOTIFY_ID_LEN + 1], boundary[64], date[64], num[64];
	char w1[40], w2[40], win[100];
	char *subject = notify_email_subject(n), *text;

	if (subject_prefix != NULL && *subject_prefix != '\0') {
		struct sn_buf sb = {0};

		sn_buf_append(&sb, subject_prefix, strlen(subject_prefix));
		sn_buf_append(&sb, " ", 1);
		sn_buf_append(&sb, subject, strlen(subject) + 1);
		free(subject);
		subject = (char *)sb.data;
	}
	struct sn_buf tolist = {0};
	time_t secs = (time_t)(now_ms / 1000);
	struct tm tm;
	size_t i;

	notify_id(n, id);
	snprintf(boundary, sizeof(boundary), "sentinel-%s", id);
	gmtime_r(&secs, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
	for (i = 0; i < nto; i++) {
		if (i > 0)
			notify_puts(&tolist, ", ");
		notify_puts(&tolist, to[i]);
	}
	sn_buf_append(&tolist, "", 1);

	notify_put_header(out, "From", from);
	notify_put_header(out, "To", (const char *)tolist.data);
	notify_put_header(out, "Subject", subject);
	notify_put_header(out, "Date", date);
	notify_puts(out, "Message-ID: <");
	notify_puts(out, id);
	notify_puts(out, ".");
	snprintf(num, sizeof(num), "%lld", (long long)now_ms);
	notify_puts(out, num);
	notify_puts(out, "@llm-sentinel>\r\n");
	notify_puts(out, "MIME-Version: 1.0\r\n");
	notify_puts(out, "Content-Type: multipart/alternative; boundary=\"");
	notify_puts(out, boundary);
	notify_puts(out, "\"\r\n\r\n");

	/* text/plain */
	notify_puts(out, "--");
	notify_puts(out, boundary);
	notify_puts(out, "\r\nContent-Type: text/plain; charset=utf-8\r\n"
	                 "Content-Transfer-Encoding: 8bit\r\n\r\n");
	notify_put_crlf(out, subject);
	notify_puts(out, "\r\n\r\n");
	for (i = 0; i < n->nalerts; i++) {
		text = notify_alert_text(&n->alerts[i], 0);
		notify_put_crlf(out, text);
		notify_puts(out, "\r\n\r\n");
		free(text);
	}
	if (*n->external_url) {
		notify_put_crlf(out, n->external_url);
		notify_puts(out, "\r\n");
	}

	/* text/html: a table per alert */
	notify_puts(out, "--");
	notify_puts(out, boundary);
	notify_puts(out, "\r\nContent-Type: text/html; charset=utf-8\r\n"
	                 "Content-Transfer-Encoding: 8bit\r\n\r\n");
	notify_puts(out, "<html><body>\r\n<h2>");
	notify_put_html(out, subject);
	notify_puts(out, "</h2>\r\n");
	for (i = 0; i < n->nalerts; i++) {
		const struct notify_alert *al = &n->alerts[i];
		const char *summary = json_string_value(
		        json_object_get(al->annotations, "summary"));

		notify_puts(out, "<h3>");
		notify_put_html(out, notify_label(al, "alertname"));
		notify_puts(out, al->resolved ? " (resolved)" : " (firing)");
		notify_puts(out, "</h3>\r\n<p>");
		notify_put_html(out, summary ? summary : "");
		notify_puts(out, "</p>\r\n<table>\r\n");
		notify_html_row(out, "application",
		                notify_label(al, "application_id"));
		notify_html_row(out, "model", notify_label(al, "model"));
		notify_html_row(out, "metric", notify_label(al, "metric"));
		notify_num(al->value, num, sizeof(num));
		notify_html_row(out, "observed", num);
		notify_num(al->expected, num, sizeof(num));
		notify_html_row(out, "expected", num);
		notify_num(al->score, num, sizeof(num));
		notify_html_row(out, "score", num);
		notify_num(al->threshold, num, sizeof(num));
		notify_html_row(out, "threshold", num);
		notify_time(al->window_start_ms, w1, sizeof(w1));
		notify_time(al->window_end_ms, w2, sizeof(w2));
		snprintf(win, sizeof(win), "%s .. %s", w1, w2);
		notify_html_row(out, "window", win);
		snprintf(num, sizeof(num), "%llu",
		         (unsigned long long)al->samples);
		notify_html_row(out, "samples", num);
		notify_html_row(out, "severity", notify_label(al, "severity"));
		notify_puts(out, "</table>\r\n");
	}
	notify_puts(out, "</body></html>\r\n");
	notify_puts(out, "--");
	notify_puts(out, boundary);
	notify_puts(out, "--\r\n");
	sn_buf_free(&tolist);
	free(subject);
}
