/*
 * test_query.c: stored's read side without sockets or threads: time
 * parameters (RFC 3339, now, now-15m), the opaque cursor, checking each
 * command's parameters, and query_handle answering real requests
 * against a database written by the store: pagination that gives every
 * event once, newest first; filters; one event or a 404; metrics from
 * the rollups equal to what the events give (p95 within the sketch's
 * error); storage.check, retention.show and a backup; and malformed
 * requests answered 400, never a crash.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"
#include <jansson.h>
#include <sqlite3.h>

#include "config.h"
#include "util.h"
#include "../../stored/query.h"
#include "../../stored/store.h"

#define NOW_MS 1762430400000 /* 2025-11-06T12:00:00Z */

/* --- time parameters -------------------------------------------------- */

static void
test_time_now_and_relative(void **state)
{
	int64_t t;

	(void)state;
	assert_int_equal(query_time_parse("now", NOW_MS, &t), 0);
	assert_true(t == NOW_MS);
	assert_int_equal(query_time_parse("now-15m", NOW_MS, &t), 0);
	assert_true(t == NOW_MS - 15 * 60000);
	assert_int_equal(query_time_parse("now-1h", NOW_MS, &t), 0);
	assert_true(t == NOW_MS - 3600000);
	assert_int_equal(query_time_parse("now-7d", NOW_MS, &t), 0);
	assert_true(t == NOW_MS - 7 * 86400000LL);
	assert_int_equal(query_time_parse("now-1h30m", NOW_MS, &t), 0);
	assert_true(t == NOW_MS - 5400000);
	assert_int_equal(query_time_parse("now+10s", NOW_MS, &t), 0);
	assert_true(t == NOW_MS + 10000);
}

static void
test_time_rfc3339(void **state)
{
	int64_t t;

	(void)state;
	assert_int_equal(query_time_parse("2025-11-06T12:00:00Z", 0, &t), 0);
	assert_true(t == NOW_MS);
	assert_int_equal(
	        query_time_parse("2025-11-06T14:00:00.250+02:00", 0, &t), 0);
	assert_true(t == NOW_MS + 250);
}

static void
test_time_refused(void **state)
{
	static const char *const bad[] = {
	        "",
	        "now-",
	        "now-15",
	        "now - 1h",
	        "yesterday",
	        "1762430400000",
	        "now-1x",
	        "now--1h",
	        "2025-02-30T00:00:00Z",
	        "2025-11-06 12:00:00Z",
	        "nowish",
	        "now-99999999999999999999d",
	};
	size_t i;
	int64_t t;

	(void)state;
	for (i = 0; i < SN_ARRAY_LEN(bad); i++)
		assert_int_equal(query_time_parse(bad[i], NOW_MS, &t), -1);
	assert_int_equal(query_time_parse(NULL, NOW_MS, &t), -1);
}

/* --- cursor ----------------------------------------------------------- */

static void
test_cursor_round_trip(void **state)
{
	static const int64_t ts[] = {0,         1,         NOW_MS,
	                             -86400000, INT64_MAX, INT64_MIN};
	static const int64_t id[] = {1, 0, 123456789, 7, INT64_MAX, 42};
	char buf[QUERY_CURSOR_LEN + 1], *p;
	int64_t t, r;
	size_t i;

	(void)state;
	for (i = 0; i < SN_ARRAY_LEN(ts); i++) {
		query_cursor_encode(ts[i], id[i], buf, sizeof(buf));
		assert_int_equal(strlen(buf), QUERY_CURSOR_LEN);
		/* base64url: nothing a URL must escape */
		for (p = buf; *p; p++)
			assert_non_null(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZ"
			                       "abcdefghijklmnopqrstuvwxyz"
			                       "0123456789-_",
			                       *p));
		assert_int_equal(query_cursor_decode(buf, &t, &r), 0);
		assert_true(t == ts[i]);
		assert_true(r == id[i]);
	}
}

static void
test_cursor_refused(void **state)
{
	char buf[QUERY_CURSOR_LEN + 1], bad[QUERY_CURSOR_LEN + 2];
	int64_t t, r;

	(void)state;
	query_cursor_encode(NOW_MS, 99, buf, sizeof(buf));
	assert_int_equal(query_cursor_decode("", &t, &r), -1);
	assert_int_equal(query_cursor_decode("abc", &t, &r), -1);
	assert_int_equal(query_cursor_decode(NULL, &t, &r), -1);
	/* one character too many, or too few */
	snprintf(bad, sizeof(bad), "%sA", buf);
	assert_int_equal(query_cursor_decode(bad, &t, &r), -1);
	bad[QUERY_CURSOR_LEN - 1] = '\0';
	assert_int_equal(query_cursor_decode(bad, &t, &r), -1);
	/* a character outside base64url */
	memcpy(bad, buf, sizeof(buf));
	bad[5] = '+';
	assert_int_equal(query_cursor_decode(bad, &t, &r), -1);
	bad[5] = '=';
	assert_int_equal(query_cursor_decode(bad, &t, &r), -1);
	/* another version byte: the first character changes */
	memcpy(bad, buf, sizeof(buf));
	bad[0] = bad[0] == 'A' ? 'B' : 'A';
	assert_int_equal(query_cursor_decode(bad, &t, &r), -1);
	/* the last character's unused bits set: not our spelling */
	memcpy(bad, buf, sizeof(buf));
	bad[QUERY_CURSOR_LEN - 1] =
	        bad[QUERY_CURSOR_LEN - 1] == 'B' ? 'C' : 'B';
	assert_int_equal(query_cursor_decode(bad, &t, &r), -1);
}

/* --- parameters ------------------------------------------------------- */

/* Parses params (JSON text) for command; returns 0 or -1 and the error. */
static int
parse(const char *command, const char *params, struct query_params *p,
      struct query_error *err)
{
	static json_t *keep; /* err->parameter may point into it */
	json_t *j = params != NULL ? json_loads(params, 0, NULL) : NULL;

	json_decref(keep);
	keep = j;
	return query_params_parse(command, j, NOW_MS, p, err);
}

/* Expects params refused naming parameter. */
static void
refused(const char *command, const char *params, const char *parameter)
{
	struct query_params p;
	struct query_error err;

	if (parse(command, params, &p, &err) != -1)
		fail_msg("%s %s: accepted", command, params);
	if (parameter == NULL)
		assert_null(err.parameter);
	else if (err.parameter == NULL || strcmp(err.parameter, parameter) != 0)
		fail_msg("%s %s: refused naming %s, not %s (%s)", command,
		         params, err.parameter ? err.parameter : "nothing",
		         parameter, err.reason);
	assert_true(err.reason[0] != '\0');
}

static void
test_params_events_list(void **state)
{
	struct query_params p;
	struct query_error err;

	(void)state;
	assert_int_equal(parse("events.list", NULL, &p, &err), 0);
	assert_int_equal(p.limit, QUERY_LIMIT_DEFAULT);
	assert_false(p.has_from);
	assert_false(p.has_to);
	assert_false(p.has_cursor);

	assert_int_equal(parse("events.list",
	                       "{\"application_id\":\"chat\",\"event_type\":"
	                       "\"llm.response\",\"status\":\"error\","
	                       "\"limit\":\"1000\",\"from\":\"now-1h\","
	                       "\"to\":\"now\"}",
	                       &p, &err),
	                 0);
	assert_string_equal(p.application_id, "chat");
	assert_string_equal(p.event_type, "llm.response");
	assert_string_equal(p.status, "error");
	assert_int_equal(p.limit, 1000);
	assert_true(p.has_from && p.from_ms == NOW_MS - 3600000);
	assert_true(p.has_to && p.to_ms == NOW_MS);

	/* an empty value is not given (?application_id=&limit=) */
	assert_int_equal(parse("events.list",
	                       "{\"application_id\":\"\",\"limit\":\"\"}", &p,
	                       &err),
	                 0);
	assert_null(p.application_id);
	assert_int_equal(p.limit, QUERY_LIMIT_DEFAULT);

	refused("events.list", "{\"limit\":\"0\"}", "limit");
	refused("events.list", "{\"limit\":\"1001\"}", "limit");
	refused("events.list", "{\"limit\":\"ten\"}", "limit");
	refused("events.list", "{\"limit\":\"10x\"}", "limit");
	refused("events.list", "{\"limit\":\"-5\"}", "limit");
	refused("events.list", "{\"limit\":\"+5\"}", "limit");
	refused("events.list", "{\"limit\":10}", "limit");
	refused("events.list", "{\"from\":\"yesterday\"}", "from");
	refused("events.list", "{\"to\":\"now-\"}", "to");
	refused("events.list", "{\"from\":\"now\",\"to\":\"now-1h\"}", "from");
	refused("events.list", "{\"cursor\":\"not-a-cursor\"}", "cursor");
	refused("events.list", "{\"app_id\":\"chat\"}", "app_id");
	refused("events.list", "{\"detector\":\"x\"}", "detector");
	refused("events.list", "[1]", NULL);
}

static void
test_params_other_commands(void **state)
{
	struct query_params p;
	struct query_error err;
	char buf[QUERY_CURSOR_LEN + 1], json[128];

	(void)state;
	query_cursor_encode(NOW_MS, 5, buf, sizeof(buf));
	snprintf(json, sizeof(json),
	         "{\"cursor\":\"%s\",\"status\":\"firing\"}", buf);
	assert_int_equal(parse("anomalies.list", json, &p, &err), 0);
	assert_true(p.has_cursor && p.cursor_ts == NOW_MS && p.cursor_id == 5);
	refused("anomalies.list", "{\"status\":\"open\"}", "status");
	refused("anomalies.list", "{\"event_type\":\"x\"}", "event_type");

	assert_int_equal(
	        parse("events.get", "{\"event_id\":\"e-1\"}", &p, &err), 0);
	assert_string_equal(p.event_id, "e-1");
	refused("events.get", "{}", "event_id");

	assert_int_equal(parse("storage.check", "{\"full\":true}", &p, &err),
	                 0);
	assert_true(p.full);
	assert_int_equal(
	        parse("storage.check", "{\"full\":\"false\"}", &p, &err), 0);
	assert_false(p.full);
	refused("storage.check", "{\"full\":\"maybe\"}", "full");
	refused("retention.show", "{\"x\":\"1\"}", "x");

	assert_int_equal(parse("storage.backup",
	                       "{\"path\":\"/tmp/b.db\",\"force\":\"1\"}", &p,
	                       &err),
	                 0);
	assert_true(p.force);
	refused("storage.backup", "{}", "path");
	refused("storage.backup", "{\"path\":\"b.db\"}", "path");

	refused("no.such.command", NULL, NULL);
}

static void
test_params_metrics(void **state)
{
	struct query_params p;
	struct query_error err;

	(void)state;
	assert_int_equal(parse("metrics.query", NULL, &p, &err), 0);
	assert_string_equal(p.metric, "latency_ms");
	assert_string_equal(p.agg, "avg");
	assert_true(p.step_ms == 60000);
	assert_true(p.to_ms == NOW_MS && p.from_ms == NOW_MS - 3600000);

	assert_int_equal(
	        parse("metrics.query", "{\"agg\":\"error_rate\"}", &p, &err),
	        0);
	assert_string_equal(p.metric, "requests");
	assert_int_equal(parse("metrics.query",
	                       "{\"metric\":\"requests\",\"step\":\"10s\"}", &p,
	                       &err),
	                 0);
	assert_string_equal(p.agg, "count");
	assert_true(p.step_ms == 10000);
	assert_int_equal(parse("metrics.query",
	                       "{\"metric\":\"cost\",\"agg\":\"p99\",\"from\":"
	                       "\"now-7d\",\"step\":\"1h\"}",
	                       &p, &err),
	                 0);

	refused("metrics.query", "{\"metric\":\"latency\"}", "metric");
	refused("metrics.query", "{\"agg\":\"p42\"}", "agg");
	refused("metrics.query", "{\"metric\":\"requests\",\"agg\":\"p95\"}",
	        "agg");
	refused("metrics.query", "{\"metric\":\"cost\",\"agg\":\"error_rate\"}",
	        "agg");
	refused("metrics.query", "{\"step\":\"500ms\"}", "step");
	refused("metrics.query", "{\"step\":\"1500ms\"}", "step");
	refused("metrics.query", "{\"step\":\"0\"}", "step");
	refused("metrics.query", "{\"step\":\"fast\"}", "step");
	/* 7 days at 10s: 60480 points */
	refused("metrics.query", "{\"from\":\"now-7d\",\"step\":\"10s\"}",
	        "step");
	refused("metrics.query", "{\"from\":\"now\",\"to\":\"now-1m\"}",
	        "from");
	refused("metrics.query", "{\"limit\":\"5\"}", "limit");
}

/* --- requests against a store ----------------------------------------- */

#define NEVENTS 250

struct fixture {
	char dir[64];
	char db[128];
	struct store *s;
	struct query_db *qd;
	/* what the events hold, per application, for the checks */
	double lat[NEVENTS];
};

/* Event i: ids ev-000..ev-249, one every 2 s from NOW_MS - 500 s, apps
 * "chat" (i even) and "batch" (i odd); every 10th is an error; latency
 * spread from 100 to about 5000 ms.  Two events share a timestamp
 * (i = 100 and 101 both at +200 s) to test ties. */
static void
add_event(struct fixture *f, int i)
{
	char id[32], json[512];
	struct sn_event ev;
	const char *app = i % 2 ? "batch" : "chat";
	const char *status = i % 10 == 3 ? "error" : "success";
	int64_t ts = NOW_MS - 500000 + (int64_t)(i == 101 ? 100 : i) * 2000;
	char stamp[40];

	memset(&ev, 0, sizeof(ev));
	snprintf(id, sizeof(id), "ev-%03d", i);
	sn_rfc3339_format(ts, stamp, sizeof(stamp));
	f->lat[i] = 100 + (i * 7919 % 250) * 19.5;
	snprintf(json, sizeof(json),
	         "{\"event_id\":\"%s\",\"timestamp\":\"%s\",\"event_type\":"
	         "\"llm.response\",\"application_id\":\"%s\",\"data\":{"
	         "\"status\":\"%s\",\"latency_ms\":%.1f,\"model\":\"m1\"}}",
	         id, stamp, app, status, f->lat[i]);
	ev.seq = (uint64_t)i + 1;
	ev.ts_ms = ts;
	ev.recv_ms = NOW_MS;
	ev.present = SN_EV_LATENCY_MS;
	ev.latency_ms = f->lat[i];
	ev.event_id = str(id);
	ev.event_type = str("llm.response");
	ev.application_id = str(app);
	ev.model = str("m1");
	ev.status = str(status);
	ev.timestamp = str(stamp);
	ev.json = str(json);
	assert_int_equal(store_add_event(f->s, &ev), 1);
}

static int
setup_store(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct query_retention ret = {0};
	int i;

	if (tu_db_dir(f->dir, f->db, "query") < 0)
		return -1;
	if (store_open(f->dir, &f->s) != 0)
		return -1;
	for (i = 0; i < NEVENTS; i++)
		add_event(f, i);
	/* the events and every rollup row they make */
	if (store_flush(f->s) < 0)
		return -1;
	/* retention 0: no policy, so ranges far from "now" are fine */
	ret.interval_ms = 60000;
	f->qd = query_db_open(f->db, &ret, NULL, NULL);
	*state = f;
	return f->qd != NULL ? 0 : -1;
}

static int
teardown_store(void **state)
{
	struct fixture *f = *state;
	query_db_close(f->qd);
	store_close(f->s);
	tu_db_remove(f->dir, f->db);
	free(f);
	return 0;
}

/* Runs a request (printf format) and returns the body, with *status. */
static json_t *ask(struct fixture *f, int *status, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static json_t *
ask(struct fixture *f, int *status, const char *fmt, ...)
{
	char req[1024], *reply;
	json_t *r, *body;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(req, sizeof(req), fmt, ap);
	va_end(ap);
	reply = query_handle(f->qd, req, strlen(req));
	assert_non_null(reply);
	/* the shape ingestd relies on: status first, body last */
	assert_memory_equal(reply, "{\"status\":", 10);
	assert_non_null(strstr(reply, ",\"body\":{"));
	r = json_loads(reply, 0, NULL);
	assert_non_null(r);
	*status = (int)json_integer_value(json_object_get(r, "status"));
	body = json_incref(json_object_get(r, "body"));
	json_decref(r);
	free(reply);
	return body;
}

static void
test_events_pages_newest_first(void **state)
{
	struct fixture *f = *state;
	char seen[NEVENTS] = {0}, cursor[64] = "";
	int64_t last_ts = INT64_MAX, last_id = INT64_MAX, ts;
	json_t *b, *e;
	int status, pages = 0, total = 0, n;
	size_t i;

	for (;;) {
		if (cursor[0])
			b = ask(f, &status,
			        "{\"command\":\"events.list\",\"params\":{"
			        "\"limit\":\"100\",\"cursor\":\"%s\"}}",
			        cursor);
		else
			b = ask(f, &status,
			        "{\"command\":\"events.list\",\"params\":{"
			        "\"limit\":\"100\"}}");
		assert_int_equal(status, 200);
		pages++;
		json_array_foreach(json_object_get(b, "events"), i, e)
		{
			assert_int_equal(
			        sscanf(json_string_value(
			                       json_object_get(e, "event_id")),
			               "ev-%d", &n),
			        1);
			assert_true(n >= 0 && n < NEVENTS);
			assert_int_equal(seen[n], 0);
			seen[n] = 1;
			total++;
			/* newest first: time, then row, descending */
			assert_int_equal(
			        sn_rfc3339_parse(
			                json_string_value(json_object_get(
			                        e, "timestamp")),
			                strlen(json_string_value(
			                        json_object_get(e,
			                                        "timestamp"))),
			                &ts),
			        0);
			assert_true(ts <= last_ts);
			if (ts == last_ts)
				assert_true(json_integer_value(json_object_get(
				                    e, "seq")) < last_id);
			last_ts = ts;
			last_id = json_integer_value(json_object_get(e, "seq"));
			assert_non_null(json_object_get(e, "received_at"));
			assert_non_null(json_object_get(e, "data"));
		}
		if (json_is_null(json_object_get(b, "next_cursor"))) {
			json_decref(b);
			break;
		}
		snprintf(cursor, sizeof(cursor), "%s",
		         json_string_value(json_object_get(b, "next_cursor")));
		json_decref(b);
		assert_true(pages < 10);
	}
	assert_int_equal(pages, 3);
	assert_int_equal(total, NEVENTS);
}

static void
test_events_filters(void **state)
{
	struct fixture *f = *state;
	json_t *b, *e;
	int status;
	size_t i;
	char from[40], to[40];

	b = ask(f, &status,
	        "{\"command\":\"events.list\",\"params\":{\"application_id\":"
	        "\"batch\",\"status\":\"error\",\"limit\":\"1000\"}}");
	assert_int_equal(status, 200);
	/* odd i with i % 10 == 3: 3, 13, ..., 243 */
	assert_int_equal(json_array_size(json_object_get(b, "events")), 25);
	json_array_foreach(json_object_get(b, "events"), i, e)
	{
		assert_string_equal(
		        json_string_value(json_object_get(e, "application_id")),
		        "batch");
	}
	assert_true(json_is_null(json_object_get(b, "next_cursor")));
	json_decref(b);

	/* [from, to): events 10..19 */
	sn_rfc3339_format(NOW_MS - 500000 + 10 * 2000, from, sizeof(from));
	sn_rfc3339_format(NOW_MS - 500000 + 20 * 2000, to, sizeof(to));
	b = ask(f, &status,
	        "{\"command\":\"events.list\",\"params\":{\"from\":\"%s\","
	        "\"to\":\"%s\",\"event_type\":\"llm.response\"}}",
	        from, to);
	assert_int_equal(status, 200);
	assert_int_equal(json_array_size(json_object_get(b, "events")), 10);
	json_decref(b);

	b = ask(f, &status,
	        "{\"command\":\"events.list\",\"params\":{\"event_type\":"
	        "\"other\"}}");
	assert_int_equal(json_array_size(json_object_get(b, "events")), 0);
	json_decref(b);
}

static void
test_event_get(void **state)
{
	struct fixture *f = *state;
	json_t *b;
	int status;

	b = ask(f, &status,
	        "{\"command\":\"events.get\",\"params\":{\"event_id\":"
	        "\"ev-042\"}}");
	assert_int_equal(status, 200);
	assert_string_equal(json_string_value(json_object_get(b, "event_id")),
	                    "ev-042");
	assert_int_equal(json_integer_value(json_object_get(b, "seq")), 43);
	json_decref(b);

	b = ask(f, &status,
	        "{\"command\":\"events.get\",\"params\":{\"event_id\":"
	        "\"ev-999\"}}");
	assert_int_equal(status, 404);
	assert_string_equal(json_string_value(json_object_get(b, "error")),
	                    "not found");
	json_decref(b);
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/*
 * The same minutes three ways: from the 1-minute rollups (step 1m),
 * from raw events (step 30s, folded here into minutes), and computed
 * here from what was stored.  count, sum, min and max agree exactly;
 * p95 from the sketches is within its 1% of the exact value.
 */
static void
test_metrics_rollups_equal_raw(void **state)
{
	struct fixture *f = *state;
	char from[40], to[40];
	json_t *b, *pt;
	int status, i, k, n;
	size_t j;
	double vals[NEVENTS], sum, mn, mx, exact;
	int64_t t0 = NOW_MS - 540000, ts; /* 11:51, before the first event */

	sn_rfc3339_format(t0, from, sizeof(from));
	sn_rfc3339_format(NOW_MS + 60000, to, sizeof(to));
	static const char *const aggs[] = {"count", "sum", "min", "max", "p95"};
	for (k = 0; k < 5; k++) {
		b = ask(f, &status,
		        "{\"command\":\"metrics.query\",\"params\":{"
		        "\"application_id\":\"chat\",\"metric\":\"latency_ms\","
		        "\"agg\":\"%s\",\"from\":\"%s\",\"to\":\"%s\","
		        "\"step\":\"1m\"}}",
		        aggs[k], from, to);
		assert_int_equal(status, 200);
		assert_string_equal(
		        json_string_value(json_object_get(b, "resolution")),
		        "1m");
		json_array_foreach(json_object_get(b, "points"), j, pt)
		{
			sn_rfc3339_parse(
			        json_string_value(json_object_get(pt, "ts")),
			        24, &ts);
			n = 0;
			sum = 0;
			mn = INFINITY;
			mx = -INFINITY;
			for (i = 0; i < NEVENTS; i += 2) {
				int64_t et =
				        NOW_MS - 500000 +
				        (int64_t)(i == 101 ? 100 : i) * 2000;

				if (et < ts || et >= ts + 60000)
					continue;
				vals[n++] = f->lat[i];
				sum += f->lat[i];
				mn = fmin(mn, f->lat[i]);
				mx = fmax(mx, f->lat[i]);
			}
			assert_int_equal(json_integer_value(
			                         json_object_get(pt, "count")),
			                 n);
			qsort(vals, (size_t)n, sizeof(double), cmp_double);
			exact = k == 0   ? n
			        : k == 1 ? sum
			        : k == 2 ? mn
			        : k == 3 ? mx
			                 : vals[(int)floor(0.95 * (n - 1))];
			if (k < 4)
				assert_float_equal(
				        json_number_value(
				                json_object_get(pt, "value")),
				        exact, 1e-9 * fabs(exact));
			else
				assert_float_equal(
				        json_number_value(
				                json_object_get(pt, "value")),
				        exact, 0.01 * exact + 1e-9);
		}
		assert_true(json_array_size(json_object_get(b, "points")) >= 8);
		json_decref(b);
	}

	/* raw events at 30 s give the same counts, in halves */
	b = ask(f, &status,
	        "{\"command\":\"metrics.query\",\"params\":{\"metric\":"
	        "\"requests\",\"agg\":\"count\",\"from\":\"%s\",\"to\":\"%s\","
	        "\"step\":\"30s\"}}",
	        from, to);
	assert_int_equal(status, 200);
	assert_string_equal(json_string_value(json_object_get(b, "resolution")),
	                    "raw");
	n = 0;
	json_array_foreach(json_object_get(b, "points"), j, pt) n +=
	        (int)json_integer_value(json_object_get(pt, "count"));
	assert_int_equal(n, NEVENTS);
	json_decref(b);

	/* error_rate over the whole range, from the hourly rollups */
	b = ask(f, &status,
	        "{\"command\":\"metrics.query\",\"params\":{\"agg\":"
	        "\"error_rate\",\"from\":\"%s\",\"to\":\"%s\",\"step\":\"1h\"}"
	        "}",
	        from, to);
	assert_int_equal(status, 200);
	assert_string_equal(json_string_value(json_object_get(b, "resolution")),
	                    "1h");
	n = 0;
	sum = 0;
	json_array_foreach(json_object_get(b, "points"), j, pt)
	{
		n += (int)json_integer_value(json_object_get(pt, "count"));
		sum += json_number_value(json_object_get(pt, "value")) *
		       (double)json_integer_value(json_object_get(pt, "count"));
	}
	assert_int_equal(n, NEVENTS);
	assert_float_equal(sum, 25.0, 1e-9); /* i % 10 == 3 */
	json_decref(b);
}

static void
test_check_retention_backup(void **state)
{
	struct fixture *f = *state;
	char path[160];
	json_t *b, *p;
	sqlite3 *db;
	sqlite3_stmt *st;
	int status;
	size_t i;

	b = ask(f, &status, "{\"command\":\"storage.check\"}");
	assert_int_equal(status, 200);
	assert_true(json_is_true(json_object_get(b, "ok")));
	assert_int_equal(json_integer_value(json_object_get(
	                         json_object_get(b, "rows"), "events")),
	                 NEVENTS);
	assert_int_equal(
	        json_integer_value(json_object_get(b, "schema_version")),
	        STORE_SCHEMA_VERSION);
	assert_string_equal(json_string_value(json_object_get(
	                            json_object_get(b, "integrity"), "check")),
	                    "quick_check");
	json_decref(b);

	b = ask(f, &status,
	        "{\"command\":\"storage.check\",\"params\":{\"full\":true}}");
	assert_string_equal(json_string_value(json_object_get(
	                            json_object_get(b, "integrity"), "check")),
	                    "integrity_check");
	json_decref(b);

	b = ask(f, &status, "{\"command\":\"retention.show\"}");
	assert_int_equal(status, 200);
	assert_int_equal(json_array_size(json_object_get(b, "policies")), 5);
	json_array_foreach(json_object_get(b, "policies"), i, p)
	        assert_non_null(json_object_get(p, "keep"));
	json_decref(b);

	snprintf(path, sizeof(path), "%s/backup.db", f->dir);
	b = ask(f, &status,
	        "{\"command\":\"storage.backup\",\"params\":{\"path\":\"%s\"}}",
	        path);
	assert_int_equal(status, 200);
	assert_true(json_integer_value(json_object_get(b, "pages")) > 0);
	json_decref(b);
	/* not over an existing file without force, nor over the live db */
	b = ask(f, &status,
	        "{\"command\":\"storage.backup\",\"params\":{\"path\":\"%s\"}}",
	        path);
	assert_int_equal(status, 409);
	json_decref(b);
	b = ask(f, &status,
	        "{\"command\":\"storage.backup\",\"params\":{\"path\":\"%s\","
	        "\"force\":true}}",
	        f->db);
	assert_int_equal(status, 400);
	json_decref(b);

	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL),
	                 SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*) FROM events",
	                                    -1, &st, NULL),
	                 SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(st, 0), NEVENTS);
	sqlite3_finalize(st);
	sqlite3_close(db);
	unlink(path);
}

static void
test_bad_requests(void **state)
{
	static const char *const bad[] = {
	        "",
	        "not json",
	        "[]",
	        "{}",
	        "{\"command\":42}",
	        "{\"command\":\"drop.tables\"}",
	        "{\"command\":\"events.list\",\"params\":[]}",
	        "{\"command\":\"events.list\",\"params\":{\"limit\":null}}",
	        "{\"command\":\"events.list\",\"params\":{\"application_id\":"
	        "\"x' OR '1'='1\"}}",
	        "{\"command\":\"events.list\",\"command\":\"events.get\"}",
	};
	struct fixture *f = *state;
	json_t *b;
	int status;
	size_t i;

	for (i = 0; i < SN_ARRAY_LEN(bad); i++) {
		b = ask(f, &status, "%s", bad[i]);
		if (i == 8) {
			/* a value is data, never SQL: no match */
			assert_int_equal(status, 200);
			assert_int_equal(
			        json_array_size(json_object_get(b, "events")),
			        0);
		} else {
			assert_int_equal(status, 400);
			assert_non_null(json_object_get(b, "error"));
		}
		json_decref(b);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_time_now_and_relative),
	        cmocka_unit_test(test_time_rfc3339),
	        cmocka_unit_test(test_time_refused),
	        cmocka_unit_test(test_cursor_round_trip),
	        cmocka_unit_test(test_cursor_refused),
	        cmocka_unit_test(test_params_events_list),
	        cmocka_unit_test(test_params_other_commands),
	        cmocka_unit_test(test_params_metrics),
	        cmocka_unit_test_setup_teardown(test_events_pages_newest_first,
	                                        setup_store, teardown_store),
	        cmocka_unit_test_setup_teardown(test_events_filters,
	                                        setup_store, teardown_store),
	        cmocka_unit_test_setup_teardown(test_event_get, setup_store,
	                                        teardown_store),
	        cmocka_unit_test_setup_teardown(test_metrics_rollups_equal_raw,
	                                        setup_store, teardown_store),
	        cmocka_unit_test_setup_teardown(test_check_retention_backup,
	                                        setup_store, teardown_store),
	        cmocka_unit_test_setup_teardown(test_bad_requests, setup_store,
	                                        teardown_store),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
