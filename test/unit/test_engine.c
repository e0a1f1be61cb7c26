/*
 * test_engine.c: the detection engine's common machinery, with
 * hand-computed expectations: event-time windows and lateness, grouping,
 * filters, cooldown, firing then resolved records, rate absence and
 * baseline, statistical scoring per window, the bounded group table,
 * reload keeping state, the dry run, the control endpoint's answers, and
 * replay determinism.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "../../detectd/detctl.h"
#include "../../detectd/engine.h"
#include "../../detectd/group.h"
#include "log.h"
#include "util.h"

#define T0  1762430400000LL /* 2025-11-06T12:00:00Z */
#define MIN 60000LL

/* --- helpers ---------------------------------------------------------- */

/* A copy of an emitted record. */
struct rec {
	struct sn_anomaly a;
	char id[160], det[64], app[64], model[64], labels[256];
	char ids[512], msg[512], event_id[64];
	char *json; /* engine_anomaly_json, compact */
};

struct sink {
	struct rec r[64];
	size_t n;
};

static void
cp(char *dst, size_t size, struct sn_str s)
{
	snprintf(dst, size, "%.*s", (int)s.len, s.p);
}

static void
sink_emit(const struct sn_anomaly *a, void *arg)
{
	struct sink *k = arg;
	struct rec *r;
	json_t *j;

	assert_true(k->n < SN_ARRAY_LEN(k->r));
	r = &k->r[k->n++];
	r->a = *a;
	cp(r->id, sizeof(r->id), a->id);
	cp(r->det, sizeof(r->det), a->detector_id);
	cp(r->app, sizeof(r->app), a->application_id);
	cp(r->model, sizeof(r->model), a->model);
	cp(r->labels, sizeof(r->labels), a->labels);
	cp(r->ids, sizeof(r->ids), a->event_ids);
	cp(r->msg, sizeof(r->msg), a->message);
	cp(r->event_id, sizeof(r->event_id), a->event_id);
	j = engine_anomaly_json(a);
	r->json = json_dumps(j, JSON_COMPACT);
	json_decref(j);
}

static void
sink_reset(struct sink *k)
{
	size_t i;

	for (i = 0; i < k->n; i++)
		free(k->r[i].json);
	memset(k, 0, sizeof(*k));
}

static struct sn_detector_action act[] = {{"a", "warning"}};

static struct sn_detector
det(const char *id, const char *type, const char *metric)
{
	struct sn_detector d;

	memset(&d, 0, sizeof(d));
	d.id = (char *)id;
	d.name = (char *)id;
	d.type = (char *)type;
	d.enabled = true;
	d.metric = (char *)metric;
	d.actions = act;
	d.nactions = 1;
	return d;
}

static struct sn_detector
thr(const char *id, const char *metric, const char *cond, double t,
    int64_t window)
{
	struct sn_detector d = det(id, "threshold", metric);

	d.condition = (char *)cond;
	d.threshold = t;
	d.has_threshold = true;
	d.window_ms = window;
	return d;
}

/* A test event: strings live in the struct. */
struct tev {
	struct sn_event ev;
	char id[32], app[32], model[32], status[16], json[512];
};

static uint64_t tev_seq;

static struct sn_event *
mk(struct tev *t, const char *app, const char *model, int64_t ts, double lat)
{
	memset(t, 0, sizeof(*t));
	snprintf(t->id, sizeof(t->id), "e%llu", (unsigned long long)++tev_seq);
	snprintf(t->app, sizeof(t->app), "%s", app);
	snprintf(t->model, sizeof(t->model), "%s", model ? model : "");
	snprintf(t->status, sizeof(t->status), "success");
	snprintf(t->json, sizeof(t->json),
	         "{\"event_id\":\"%s\",\"application_id\":\"%s\","
	         "\"data\":{\"model\":\"%s\",\"latency_ms\":%g}}",
	         t->id, app, t->model, lat);
	t->ev.seq = tev_seq;
	t->ev.ts_ms = ts;
	t->ev.present = SN_EV_LATENCY_MS;
	t->ev.latency_ms = lat;
	t->ev.event_id.p = t->id;
	t->ev.event_id.len = (uint32_t)strlen(t->id);
	t->ev.event_type.p = "llm.response";
	t->ev.event_type.len = 12;
	t->ev.application_id.p = t->app;
	t->ev.application_id.len = (uint32_t)strlen(t->app);
	t->ev.model.p = t->model;
	t->ev.model.len = (uint32_t)strlen(t->model);
	t->ev.status.p = t->status;
	t->ev.status.len = (uint32_t)strlen(t->status);
	t->ev.timestamp.p = "";
	t->ev.json.p = t->json;
	t->ev.json.len = (uint32_t)strlen(t->json);
	return &t->ev;
}

static size_t
feed(struct engine *e, const char *app, const char *model, int64_t ts,
     double lat, struct sink *k)
{
	struct tev t;

	return engine_feed(e, mk(&t, app, model, ts, lat), 0, sink_emit, k);
}

static struct engine *
one(struct sn_detector *d)
{
	static struct sn_detectors dets;

	dets.path = NULL;
	dets.items = d;
	dets.count = 1;
	return engine_new(&dets, NULL);
}

static void
info(struct engine *e, size_t i, struct engine_det_info *in)
{
	engine_detector_info(e, i, in);
}

/* --- windows ---------------------------------------------------------- */

static void
test_windows_and_lateness(void **unused)
{
	struct sn_detector d = thr("w", "latency_ms", "greater_than", 0, MIN);
	struct engine_det_info in;
	struct engine *e;
	struct sink k = {0};

	(void)unused;
	d.lateness_ms = 10000;
	e = one(&d);
	feed(e, "a", NULL, T0, 10, &k);
	feed(e, "a", NULL, T0 + 50000, 20, &k);
	/* Clock 65s, watermark 55s: the first window is still open. */
	feed(e, "a", NULL, T0 + 65000, 30, &k);
	assert_int_equal(k.n, 0);
	/* Out of order but within the lateness: it counts. */
	feed(e, "a", NULL, T0 + 58000, 40, &k);
	assert_int_equal(k.n, 0);
	/* Clock 71s, watermark 61s: the first window closes. */
	assert_int_equal(feed(e, "a", NULL, T0 + 71000, 50, &k), 1);
	assert_int_equal(k.r[0].a.samples, 3);
	assert_true(fabs(k.r[0].a.value - 70.0 / 3) < 1e-9);
	assert_int_equal(k.r[0].a.window_start_ms, T0);
	assert_int_equal(k.r[0].a.window_end_ms, T0 + MIN);
	assert_int_equal(k.r[0].a.ts_ms, T0 + MIN);
	/* Its first events, in arrival order. */
	assert_string_equal(k.r[0].ids, "[\"e1\",\"e2\",\"e4\"]");
	assert_string_equal(k.r[0].event_id, "e1");
	/* Too late now: counted and skipped. */
	feed(e, "a", NULL, T0 + 59000, 1000, &k);
	info(e, 0, &in);
	assert_int_equal(in.late, 1);
	assert_int_equal(in.events, 6);
	/* The watermark: 71s - 10s. */
	assert_int_equal(engine_watermark(e), T0 + 61000);
	assert_int_equal(engine_max_event_time(e), T0 + 71000);
	/* The second window [60s, 120s): 30 and 50; still firing, so no
	 * new record when it closes. */
	engine_finish(e, 0, sink_emit, &k);
	assert_int_equal(k.n, 1);
	engine_free(e);
	sink_reset(&k);
}

static void
test_grouping_by_app_and_model(void **unused)
{
	static char *by[] = {"application_id", "model"};
	struct sn_detector d = thr("g", "latency_ms", "greater_than", 100, MIN);
	struct engine_det_info in;
	struct engine *e;
	struct sink k = {0};

	(void)unused;
	d.group_by = by;
	d.ngroup_by = 2;
	e = one(&d);
	feed(e, "a", "m1", T0, 200, &k); /* a/m1 avg 150 */
	feed(e, "a", "m1", T0 + 1, 100, &k);
	feed(e, "a", "m2", T0 + 2, 50, &k);  /* a/m2 avg 50 */
	feed(e, "b", "m1", T0 + 3, 300, &k); /* b/m1 avg 300 */
	feed(e, "b", NULL, T0 + 4, 300, &k); /* b/"" avg 300 */
	info(e, 0, &in);
	assert_int_equal(in.groups, 4);
	engine_finish(e, 0, sink_emit, &k);
	assert_int_equal(k.n, 3);
	/* Oldest group first. */
	assert_string_equal(k.r[0].labels,
	                    "{\"application_id\":\"a\",\"model\":\"m1\"}");
	assert_true(k.r[0].a.value == 150);
	assert_string_equal(k.r[0].app, "a");
	assert_string_equal(k.r[0].model, "m1");
	assert_non_null(strstr(k.r[0].msg, "for application_id=a model=m1"));
	assert_string_equal(k.r[1].labels,
	                    "{\"application_id\":\"b\",\"model\":\"m1\"}");
	assert_string_equal(k.r[2].labels,
	                    "{\"application_id\":\"b\",\"model\":\"\"}");
	assert_string_not_equal(k.r[1].id, k.r[2].id);
	engine_free(e);
	sink_reset(&k);
}

static void
test_group_by_data_field(void **unused)
{
	static char *by[] = {"data.region"};
	struct sn_detector d = thr("r", "latency_ms", "greater_than", 0, 0);
	struct engine *e;
	struct sink k = {0};
	struct tev t;

	(void)unused;
	d.group_by = by;
	d.ngroup_by = 1;
	e = one(&d);
	mk(&t, "a", NULL, T0, 5);
	snprintf(t.json, sizeof(t.json),
	         "{\"data\":{\"region\":\"eu\",\"latency_ms\":5}}");
	t.ev.json.len = (uint32_t)strlen(t.json);
	engine_feed(e, &t.ev, 0, sink_emit, &k);
	assert_int_equal(k.n, 1);
	assert_string_equal(k.r[0].labels, "{\"region\":\"eu\"}");
	/* Not a label here, but each event says which application. */
	assert_string_equal(k.r[0].app, "a");
	engine_free(e);
	sink_reset(&k);
}

static void
test_long_label_is_cut_on_a_character(void **unused)
{
	struct sn_detector d = thr("l", "latency_ms", "greater_than", 0, 0);
	char app[32 + 300];
	struct engine *e;
	struct sink k = {0};
	json_error_t err;
	json_t *j;
	size_t i;

	(void)unused;
	/* 150 two-byte characters: 300 bytes, cut to 254, not 255. */
	for (i = 0; i < 150; i++)
		memcpy(app + 2 * i, "\xc3\xa9", 2);
	app[300] = '\0';
	e = one(&d);
	{
		struct tev t;

		mk(&t, "x", NULL, T0, 5);
		t.ev.application_id.p = app;
		t.ev.application_id.len = 300;
		engine_feed(e, &t.ev, 0, sink_emit, &k);
	}
	assert_int_equal(k.n, 1);
	j = json_loads(k.r[0].json, 0, &err);
	assert_non_null(j);
	assert_int_equal(
	        strlen(json_string_value(json_object_get(
	                json_object_get(j, "labels"), "application_id"))),
	        254);
	json_decref(j);
	engine_free(e);
	sink_reset(&k);
}

static void
test_filter(void **unused)
{
	static struct sn_detector_filter f[] = {
	        {"event_type", "llm.response"},
	        {"data.region", "eu"},
	        {"code", "200"},
	};
	struct sn_detector d = thr("f", "latency_ms", "greater_than", 0, 0);
	struct engine_det_info in, after;
	struct engine *e;
	struct sink k = {0};
	struct tev t;
	static const struct {
		const char *data;
		int match;
	} cases[] = {
	        {"\"region\":\"eu\",\"code\":200", 1},
	        {"\"region\":\"eu\",\"code\":200.0", 1},
	        {"\"region\":\"eu\",\"code\":\"200\"", 1},
	        {"\"region\":\"us\",\"code\":200", 0},
	        {"\"region\":\"eu\",\"code\":500", 0},
	        {"\"region\":\"eu\"", 0},
	        {"\"code\":200", 0},
	};
	size_t i;

	(void)unused;
	d.filter = f;
	d.nfilter = 3;
	e = one(&d);
	for (i = 0; i < SN_ARRAY_LEN(cases); i++) {
		mk(&t, "a", NULL, T0 + (int64_t)i, 5);
		snprintf(t.json, sizeof(t.json),
		         "{\"data\":{%s,\"latency_ms\":5}}", cases[i].data);
		t.ev.json.len = (uint32_t)strlen(t.json);
		info(e, 0, &in);
		engine_feed(e, &t.ev, 0, sink_emit, &k);
		engine_detector_info(e, 0, &after);
		assert_int_equal(after.events - in.events, cases[i].match);
	}
	info(e, 0, &in);
	assert_int_equal(in.events, 3);
	/* event_type must match too. */
	mk(&t, "a", NULL, T0 + 100, 5);
	snprintf(t.json, sizeof(t.json),
	         "{\"data\":{\"region\":\"eu\",\"code\":200}}");
	t.ev.json.len = (uint32_t)strlen(t.json);
	t.ev.event_type.p = "llm.request";
	engine_feed(e, &t.ev, 0, sink_emit, &k);
	info(e, 0, &in);
	assert_int_equal(in.events, 3);
	engine_free(e);
	sink_reset(&k);
}

static void
test_cooldown(void **unused)
{
	struct sn_detector d = thr("c", "latency_ms", "greater_than", 100, 0);
	struct engine_det_info in;
	struct engine *e;
	struct sink k = {0};

	(void)unused;
	d.cooldown_ms = MIN;
	e = one(&d);
	assert_int_equal(feed(e, "a", NULL, T0, 500, &k), 1); /* fires */
	assert_int_equal(feed(e, "a", NULL, T0 + 5000, 500, &k), 0);
	assert_int_equal(feed(e, "a", NULL, T0 + 10000, 50, &k), 1);
	assert_int_equal(k.r[1].a.status, SN_ANOMALY_RESOLVED);
	/* Within a minute of the last firing: held back. */
	assert_int_equal(feed(e, "a", NULL, T0 + 20000, 500, &k), 0);
	/* Nothing is firing, so nothing resolves. */
	assert_int_equal(feed(e, "a", NULL, T0 + 30000, 50, &k), 0);
	/* Another group is not held back. */
	assert_int_equal(feed(e, "b", NULL, T0 + 30000, 500, &k), 1);
	/* After the cooldown: fires again. */
	assert_int_equal(feed(e, "a", NULL, T0 + MIN, 500, &k), 1);
	assert_int_equal(k.r[3].a.status, SN_ANOMALY_FIRING);
	assert_string_equal(k.r[3].app, "a");
	info(e, 0, &in);
	assert_int_equal(in.anomalies, 3);
	assert_int_equal(in.resolved, 1);
	assert_int_equal(in.suppressed, 1);
	engine_free(e);
	sink_reset(&k);
}

static void
test_firing_then_resolved(void **unused)
{
	struct sn_detector d =
	        thr("fr", "latency_ms", "greater_than", 100, MIN);
	struct engine *e;
	struct sink k = {0};
	int i;

	(void)unused;
	e = one(&d);
	/* Window 1: avg 200 (7 events: 5 ids kept). */
	for (i = 0; i < 7; i++)
		feed(e, "a", NULL, T0 + i, 200, &k);
	/* Window 2: avg 150: still firing, nothing new. */
	feed(e, "a", NULL, T0 + MIN, 150, &k);
	assert_int_equal(k.n, 1);
	assert_int_equal(k.r[0].a.status, SN_ANOMALY_FIRING);
	assert_int_equal(k.r[0].a.samples, 7);
	assert_int_equal(strlen(k.r[0].ids) > 0, 1);
	{
		json_error_t err;
		json_t *ids = json_loads(k.r[0].ids, 0, &err);

		assert_int_equal(json_array_size(ids),
		                 SN_ANOMALY_MAX_EVENT_IDS);
		json_decref(ids);
	}
	/* Window 3: avg 50: resolved at its end. */
	feed(e, "a", NULL, T0 + 2 * MIN, 50, &k);
	feed(e, "a", NULL, T0 + 3 * MIN, 50, &k);
	assert_int_equal(k.n, 2);
	assert_int_equal(k.r[1].a.status, SN_ANOMALY_RESOLVED);
	assert_int_equal(k.r[1].a.window_start_ms, T0 + 2 * MIN);
	assert_int_equal(k.r[1].a.ts_ms, T0 + 3 * MIN);
	assert_true(k.r[1].a.value == 50);
	assert_non_null(strstr(k.r[1].id, "-resolved"));
	assert_non_null(strstr(k.r[1].json, "\"status\":\"resolved\""));
	assert_non_null(strstr(k.r[1].msg, "resolved: avg latency_ms 50 <= "
	                                   "100 over 1m"));
	engine_free(e);
	sink_reset(&k);
}

/* --- rate ------------------------------------------------------------- */

static void
test_rate_absence(void **unused)
{
	struct sn_detector d = det("silent", "rate", NULL);
	struct engine *e;
	struct sink k = {0};
	int m;

	(void)unused;
	d.condition = "less_than";
	d.threshold = 1;
	d.has_threshold = true;
	d.window_ms = MIN;
	e = one(&d);
	/* Minutes 0-2: a and b both send. */
	for (m = 0; m < 3; m++) {
		feed(e, "a", NULL, T0 + m * MIN + 10, 1, &k);
		feed(e, "b", NULL, T0 + m * MIN + 20, 1, &k);
	}
	assert_int_equal(k.n, 0);
	/* Minutes 3-5: a is silent; b keeps the watermark moving.  At
	 * 4m the window [3m, 4m) closes: a counted 0. */
	feed(e, "b", NULL, T0 + 3 * MIN + 20, 1, &k);
	assert_int_equal(k.n, 0);
	feed(e, "b", NULL, T0 + 4 * MIN + 20, 1, &k);
	assert_int_equal(k.n, 1);
	assert_string_equal(k.r[0].app, "a");
	assert_int_equal(k.r[0].a.status, SN_ANOMALY_FIRING);
	assert_true(k.r[0].a.value == 0);
	assert_int_equal(k.r[0].a.window_start_ms, T0 + 3 * MIN);
	assert_int_equal(k.r[0].a.samples, 0);
	assert_string_equal(k.r[0].ids, "[]");
	assert_non_null(strstr(k.r[0].msg, "count of events 0 < 1 over 1m "
	                                   "for application_id=a"));
	/* Still silent: nothing more. */
	feed(e, "b", NULL, T0 + 5 * MIN + 20, 1, &k);
	assert_int_equal(k.n, 1);
	/* A new application is never reported for windows before it. */
	feed(e, "c", NULL, T0 + 5 * MIN + 30, 1, &k);
	/* a is back: its window [6m, 7m) counts 1, resolved at 7m. */
	feed(e, "a", NULL, T0 + 6 * MIN + 10, 1, &k);
	feed(e, "b", NULL, T0 + 6 * MIN + 20, 1, &k);
	feed(e, "c", NULL, T0 + 6 * MIN + 30, 1, &k);
	assert_int_equal(k.n, 1);
	feed(e, "b", NULL, T0 + 7 * MIN + 20, 1, &k);
	assert_int_equal(k.n, 2);
	assert_string_equal(k.r[1].app, "a");
	assert_int_equal(k.r[1].a.status, SN_ANOMALY_RESOLVED);
	assert_int_equal(k.r[1].a.window_start_ms, T0 + 6 * MIN);
	engine_free(e);
	sink_reset(&k);
}

static void
test_absence_when_all_traffic_stops(void **unused)
{
	struct sn_detector d = det("silent", "rate", NULL);
	struct engine *e;
	struct sink k = {0};

	(void)unused;
	d.condition = "less_than";
	d.threshold = 1;
	d.has_threshold = true;
	d.window_ms = MIN;
	d.lateness_ms = 5000;
	e = one(&d);
	feed(e, "a", NULL, T0 + 10, 1, &k);
	/* No more events: the wall clock drives event time (detectd's
	 * idle timer).  At 1m5s the first window closes with 1 event. */
	engine_advance_clock(e, T0 + MIN + 5000, 0, sink_emit, &k);
	assert_int_equal(k.n, 0);
	/* At 2m5s the window [1m, 2m) closes empty: absence. */
	engine_advance_clock(e, T0 + 2 * MIN + 5000, 0, sink_emit, &k);
	assert_int_equal(k.n, 1);
	assert_int_equal(k.r[0].a.window_start_ms, T0 + MIN);
	/* An hour of silence at once: no flood, nothing new. */
	engine_advance_clock(e, T0 + 60 * MIN, 0, sink_emit, &k);
	assert_int_equal(k.n, 1);
	engine_free(e);
	sink_reset(&k);
}

static void
test_rate_baseline(void **unused)
{
	static const int counts[] = {10, 10, 10, 4, 10};
	struct sn_detector d = det("drop", "rate", NULL);
	struct engine *e;
	struct sink k = {0};
	int m, i;

	(void)unused;
	d.condition = "less_than";
	d.threshold = 0.5; /* half the usual count */
	d.has_threshold = true;
	d.window_ms = MIN;
	d.baseline = "history";
	d.history = 3;     /* judged once 3 windows are learnt */
	d.min_samples = 3; /* the baseline must average 3 events or more */
	e = one(&d);
	for (m = 0; m < 5; m++)
		for (i = 0; i < counts[m]; i++)
			feed(e, "a", NULL, T0 + m * MIN + i, 1, &k);
	feed(e, "a", NULL, T0 + 5 * MIN, 1, &k); /* closes minute 4 */
	assert_int_equal(k.n, 2);
	/* Minute 3: 4 < 0.5 x 10. */
	assert_int_equal(k.r[0].a.status, SN_ANOMALY_FIRING);
	assert_int_equal(k.r[0].a.window_start_ms, T0 + 3 * MIN);
	assert_true(k.r[0].a.value == 4);
	assert_true(k.r[0].a.expected == 10);
	assert_true(k.r[0].a.threshold == 5);
	assert_true(k.r[0].a.score == 0.4);
	/* Minute 4: back to 10, and the 4 was not learnt (mean 10). */
	assert_int_equal(k.r[1].a.status, SN_ANOMALY_RESOLVED);
	assert_true(k.r[1].a.expected == 10);
	engine_free(e);
	sink_reset(&k);
}

/* A group whose baseline is below min_samples events a window is not
 * judged: a trickle pausing is not an outage. */
static void
test_rate_baseline_min_samples(void **unused)
{
	static const int counts[] = {1, 1, 1, 0, 1, 0};
	struct sn_detector d = det("drop", "rate", NULL);
	struct engine *e;
	struct sink k = {0};
	int m, i;

	(void)unused;
	d.condition = "less_than";
	d.threshold = 0.5;
	d.has_threshold = true;
	d.window_ms = MIN;
	d.baseline = "history";
	d.history = 3;
	d.min_samples = 2;
	e = one(&d);
	for (m = 0; m < 6; m++)
		for (i = 0; i < counts[m]; i++)
			feed(e, "a", NULL, T0 + m * MIN + i, 1, &k);
	feed(e, "b", NULL, T0 + 7 * MIN, 1, &k); /* closes the rest */
	assert_int_equal(k.n, 0);
	/* The same pauses with min_samples 1 (the default) do fire. */
	engine_free(e);
	d.min_samples = 0;
	e = one(&d);
	for (m = 0; m < 6; m++)
		for (i = 0; i < counts[m]; i++)
			feed(e, "a", NULL, T0 + m * MIN + i, 1, &k);
	feed(e, "b", NULL, T0 + 7 * MIN, 1, &k);
	assert_true(k.n > 0);
	assert_int_equal(k.r[0].a.status, SN_ANOMALY_FIRING);
	assert_int_equal(k.r[0].a.window_start_ms, T0 + 3 * MIN);
	engine_free(e);
	sink_reset(&k);
}

/* --- statistical ------------------------------------------------------ */

static void
test_statistical_zscore(void **unused)
{
	struct sn_detector d = det("z", "statistical", "latency_ms");
	struct engine *e;
	struct sink k = {0};
	int m;

	(void)unused;
	d.strategy = "zscore";
	d.window_ms = MIN;
	d.history = 8;
	d.min_samples = 4;
	e = one(&d);
	/* Windows alternate 10 and 12 (two events each: avg) for 8
	 * minutes: mean 11, population sd 1. */
	for (m = 0; m < 8; m++) {
		feed(e, "a", NULL, T0 + m * MIN, m % 2 ? 11 : 9, &k);
		feed(e, "a", NULL, T0 + m * MIN + 1, m % 2 ? 13 : 11, &k);
	}
	/* Then a window of 50: z = (50 - 11) / 1 = 39. */
	feed(e, "a", NULL, T0 + 8 * MIN, 50, &k);
	feed(e, "a", NULL, T0 + 9 * MIN, 11, &k);
	assert_int_equal(k.n, 1);
	assert_int_equal(k.r[0].a.window_start_ms, T0 + 8 * MIN);
	assert_true(k.r[0].a.value == 50);
	assert_true(fabs(k.r[0].a.expected - 11) < 1e-9);
	assert_true(fabs(k.r[0].a.score - 39) < 1e-6);
	assert_true(k.r[0].a.threshold == 3.0); /* zscore's default */
	assert_non_null(strstr(k.r[0].msg, "avg latency_ms 50 unusually "
	                                   "high (zscore score 39.00"));
	/* A window of 11 again: resolved. */
	feed(e, "a", NULL, T0 + 10 * MIN, 11, &k);
	assert_int_equal(k.n, 2);
	assert_int_equal(k.r[1].a.status, SN_ANOMALY_RESOLVED);
	engine_free(e);
	sink_reset(&k);
}

static void
test_statistical_empty_windows(void **unused)
{
	struct sn_detector d[2];
	struct sn_detectors dets = {NULL, d, 2};
	struct engine *e;
	struct sink k = {0};
	int m, i;

	(void)unused;
	/* request_rate: an empty window is 0 requests per second. */
	d[0] = det("rr", "statistical", "request_rate");
	d[0].strategy = "zscore";
	d[0].window_ms = MIN;
	d[0].history = 8;
	d[0].min_samples = 4;
	/* avg latency: an empty window has no value and is skipped. */
	d[1] = det("lat", "statistical", "latency_ms");
	d[1].strategy = "zscore";
	d[1].window_ms = MIN;
	d[1].history = 8;
	d[1].min_samples = 4;
	e = engine_new(&dets, NULL);
	/* 120 then 180 requests a minute, alternating: 2 and 3 per
	 * second, mean 2.5, sd 0.5. */
	for (m = 0; m < 8; m++)
		for (i = 0; i < (m % 2 ? 180 : 120); i++)
			feed(e, "a", NULL, T0 + m * MIN + i * 100, 100, &k);
	assert_int_equal(k.n, 0);
	/* Silence from minute 8, while "b" moves the watermark. */
	feed(e, "b", NULL, T0 + 9 * MIN, 100, &k);
	assert_int_equal(k.n, 1);
	assert_string_equal(k.r[0].det, "rr");
	assert_string_equal(k.r[0].app, "a");
	assert_true(k.r[0].a.value == 0);
	assert_true(fabs(k.r[0].a.score - (-5)) < 1e-6);
	assert_non_null(strstr(k.r[0].msg, "unusually low"));
	engine_free(e);
	sink_reset(&k);
}

/* --- groups ----------------------------------------------------------- */

static void
test_max_groups_eviction(void **unused)
{
	struct sn_detector d = thr("m", "latency_ms", "greater_than", 0, MIN);
	struct engine_det_info in;
	struct engine *e;
	struct sink k = {0};

	(void)unused;
	d.max_groups = 2;
	e = one(&d);
	feed(e, "a", NULL, T0, 1, &k);
	feed(e, "b", NULL, T0 + 1, 1, &k);
	feed(e, "a", NULL, T0 + 2, 1, &k); /* a is now the newest */
	feed(e, "c", NULL, T0 + 3, 1, &k); /* evicts b */
	info(e, 0, &in);
	assert_int_equal(in.groups, 2);
	assert_int_equal(in.evicted, 1);
	assert_true(in.state_bytes > 0);
	engine_finish(e, 0, sink_emit, &k);
	assert_int_equal(k.n, 2);
	assert_string_equal(k.r[0].app, "a");
	assert_true(k.r[0].a.samples == 2);
	assert_string_equal(k.r[1].app, "c");
	engine_free(e);
	sink_reset(&k);
}

static void
test_group_table(void **unused)
{
	struct group_table t;
	struct group *g;
	char key[32];
	size_t len;
	int i, found;

	(void)unused;
	group_table_init(&t, 100, sizeof(struct group));
	/* 5000 inserts through a table of 100: lookups stay right
	 * across evictions (backward-shift deletion). */
	for (i = 0; i < 5000; i++) {
		len = (size_t)snprintf(key, sizeof(key), "k%d", i);
		assert_null(group_find(&t, group_hash(key, len), key, len));
		group_insert(&t, group_hash(key, len), key, len);
		if (i % 3 == 0 && i >= 50) {
			/* Touch an older one so LRU differs from FIFO. */
			len = (size_t)snprintf(key, sizeof(key), "k%d", i - 50);
			g = group_find(&t, group_hash(key, len), key, len);
			if (g)
				group_touch(&t, g);
		}
	}
	assert_int_equal(t.count, 100);
	assert_int_equal(t.evicted, 4900);
	for (i = 4950, found = 0; i < 5000; i++) {
		len = (size_t)snprintf(key, sizeof(key), "k%d", i);
		found += group_find(&t, group_hash(key, len), key, len) != NULL;
	}
	assert_int_equal(found, 50);
	for (i = 0, found = 0; i < 5000; i++) {
		len = (size_t)snprintf(key, sizeof(key), "k%d", i);
		found += group_find(&t, group_hash(key, len), key, len) != NULL;
	}
	assert_int_equal(found, 100);
	group_table_free(&t);
}

/* --- reload, dry run, determinism -------------------------------------- */

static void
test_reload_keeps_unchanged_state(void **unused)
{
	struct sn_detector a[2], b[2];
	struct sn_detectors da = {NULL, a, 2}, db = {NULL, b, 2};
	struct engine_det_info in;
	struct engine *e1, *e2;
	struct sink k = {0};

	(void)unused;
	a[0] = thr("same", "latency_ms", "greater_than", 100, MIN);
	a[1] = thr("changed", "latency_ms", "greater_than", 100, MIN);
	b[0] = a[0];
	b[0].name = "renamed, still the same"; /* labels only */
	b[1] = a[1];
	b[1].threshold = 150;
	e1 = engine_new(&da, NULL);
	feed(e1, "a", NULL, T0, 300, &k);
	e2 = engine_new(&db, e1);
	engine_free(e1);
	info(e2, 0, &in);
	assert_int_equal(in.groups, 1);
	assert_int_equal(in.events, 1);
	info(e2, 1, &in);
	assert_int_equal(in.groups, 0);
	assert_int_equal(engine_max_event_time(e2), T0);
	/* The kept window still holds the 300 from before the reload. */
	feed(e2, "a", NULL, T0 + 1, 100, &k);
	engine_finish(e2, 0, sink_emit, &k);
	assert_int_equal(k.n, 1);
	assert_string_equal(k.r[0].det, "same");
	assert_true(k.r[0].a.value == 200);
	assert_int_equal(k.r[0].a.samples, 2);
	engine_free(e2);
	sink_reset(&k);
}

static void
test_engine_test_is_a_dry_run(void **unused)
{
	struct sn_detector d[2];
	struct sn_detectors dets = {NULL, d, 2};
	struct engine *e, *twin;
	struct sink k = {0}, k2 = {0};
	const char *err = NULL;
	struct tev t;
	json_t *res;
	char *s;
	size_t i;

	(void)unused;
	d[0] = thr("lat", "latency_ms", "greater_than", 100, MIN);
	d[1] = det("z", "statistical", "latency_ms");
	d[1].strategy = "zscore";
	d[1].window_ms = MIN;
	e = engine_new(&dets, NULL);
	twin = engine_new(&dets, NULL);
	feed(e, "a", NULL, T0, 50, &k);
	feed(twin, "a", NULL, T0, 50, &k2);

	/* 50 and 250 in the window: avg 150 > 100. */
	res = engine_test(e, "lat", mk(&t, "a", NULL, T0 + 5, 250), &err);
	assert_non_null(res);
	assert_string_equal(json_string_value(json_object_get(res, "decision")),
	                    "fire");
	assert_true(json_real_value(json_object_get(res, "value")) == 150);
	assert_true(json_real_value(json_object_get(res, "threshold")) == 100);
	assert_int_equal(json_integer_value(json_object_get(res, "samples")),
	                 2);
	s = json_dumps(json_object_get(res, "labels"), JSON_COMPACT);
	assert_string_equal(s, "{\"application_id\":\"a\"}");
	free(s);
	json_decref(res);
	/* A group never seen is tested against fresh state. */
	res = engine_test(e, "lat", mk(&t, "new", NULL, T0 + 5, 50), &err);
	assert_string_equal(json_string_value(json_object_get(res, "decision")),
	                    "quiet");
	assert_false(json_is_true(json_object_get(res, "group_known")));
	json_decref(res);
	res = engine_test(e, "z", mk(&t, "a", NULL, T0 + 5, 50), &err);
	assert_string_equal(json_string_value(json_object_get(res, "decision")),
	                    "not_ready");
	json_decref(res);
	assert_null(engine_test(e, "nope", &t.ev, &err));
	assert_string_equal(err, "unknown detector");

	/* The live state did not move: e and its twin agree. */
	for (i = 0; i < 3; i++) {
		feed(e, "a", NULL, T0 + MIN * (int64_t)i + 7, 300, &k);
		feed(twin, "a", NULL, T0 + MIN * (int64_t)i + 7, 300, &k2);
	}
	engine_finish(e, 0, sink_emit, &k);
	engine_finish(twin, 0, sink_emit, &k2);
	assert_int_equal(k.n, k2.n);
	assert_true(k.n > 0);
	for (i = 0; i < k.n; i++)
		assert_true(k.r[i].a.value == k2.r[i].a.value &&
		            k.r[i].a.samples == k2.r[i].a.samples);
	{
		struct engine_det_info in;

		info(e, 0, &in);
		assert_int_equal(in.groups, 1); /* "new" was not added */
	}
	engine_free(e);
	engine_free(twin);
	sink_reset(&k);
	sink_reset(&k2);
}

static void
test_dry_run_filtered_and_late(void **unused)
{
	static struct sn_detector_filter f[] = {{"model", "gpt-4o"}};
	struct sn_detector d = thr("f", "latency_ms", "greater_than", 100, MIN);
	struct engine *e;
	struct sink k = {0};
	const char *err;
	struct tev t;
	json_t *res;

	(void)unused;
	d.filter = f;
	d.nfilter = 1;
	e = one(&d);
	res = engine_test(e, "f", mk(&t, "a", "gpt-3", T0, 500), &err);
	assert_string_equal(json_string_value(json_object_get(res, "decision")),
	                    "filtered");
	json_decref(res);
	feed(e, "a", "gpt-4o", T0 + 5 * MIN, 1, &k);
	res = engine_test(e, "f", mk(&t, "a", "gpt-4o", T0, 500), &err);
	assert_string_equal(json_string_value(json_object_get(res, "decision")),
	                    "late");
	json_decref(res);
	engine_free(e);
	sink_reset(&k);
}

/* A small pseudo-random generator, the same on every run. */
static uint32_t
rnd(uint32_t *s)
{
	*s = *s * 1664525u + 1013904223u;
	return *s >> 8;
}

/* Feeds 3000 synthetic events into a fresh engine; appends every record
 * as JSON to out. */
static void
replay(struct sn_detectors *dets, struct sn_buf *out)
{
	static const char *apps[] = {"a", "b", "c", "d", "e"};
	static const char *models[] = {"m1", "m2"};
	struct engine *e = engine_new(dets, NULL);
	struct sink k = {0};
	uint32_t s = 7;
	size_t i, j;
	int64_t ts;
	double lat;

	tev_seq = 0;
	for (i = 0; i < 3000; i++) {
		/* Mostly in order, some up to 8s late; app e goes silent
		 * after a while; latency spikes now and then. */
		ts = T0 + (int64_t)i * 1000 - (int64_t)(rnd(&s) % 8000);
		j = rnd(&s) % (i > 1500 ? 4 : 5);
		lat = 100 + rnd(&s) % 50 + (rnd(&s) % 97 == 0 ? 5000 : 0);
		feed(e, apps[j], models[rnd(&s) % 2], ts, lat, &k);
		for (j = 0; j < k.n; j++) {
			sn_buf_append(out, k.r[j].json, strlen(k.r[j].json));
			sn_buf_append(out, "\n", 1);
		}
		sink_reset(&k);
	}
	engine_finish(e, 0, sink_emit, &k);
	for (j = 0; j < k.n; j++) {
		sn_buf_append(out, k.r[j].json, strlen(k.r[j].json));
		sn_buf_append(out, "\n", 1);
	}
	sink_reset(&k);
	engine_free(e);
}

static void
test_replay_determinism(void **unused)
{
	static char *by[] = {"application_id", "model"};
	struct sn_detector d[5];
	struct sn_detectors dets = {NULL, d, 5};
	struct sn_buf a = {0}, b = {0};

	(void)unused;
	d[0] = thr("each", "latency_ms", "greater_than", 3000, 0);
	d[1] = thr("p95", "latency_ms", "greater_than", 145, MIN);
	d[1].aggregation = "p95";
	d[1].group_by = by;
	d[1].ngroup_by = 2;
	d[1].lateness_ms = 5000;
	d[2] = det("silent", "rate", NULL);
	d[2].condition = "less_than";
	d[2].threshold = 1;
	d[2].has_threshold = true;
	d[2].window_ms = MIN;
	d[3] = det("z", "statistical", "latency_ms");
	d[3].strategy = "zscore";
	d[3].window_ms = 10000;
	d[3].min_samples = 5;
	d[4] = det("ewma", "statistical", "request_rate");
	d[4].strategy = "ewma";
	d[4].window_ms = 10000;
	replay(&dets, &a);
	replay(&dets, &b);
	assert_true(a.len > 0);
	assert_int_equal(a.len, b.len);
	assert_memory_equal(a.data, b.data, a.len);
	/* Every kind of record is there. */
	sn_buf_append(&a, "", 1);
	assert_non_null(strstr((char *)a.data, "\"detector_id\":\"each\""));
	assert_non_null(strstr((char *)a.data, "\"detector_id\":\"p95\""));
	assert_non_null(strstr((char *)a.data, "\"detector_id\":\"silent\""));
	assert_non_null(strstr((char *)a.data, "\"status\":\"resolved\""));
	sn_buf_free(&a);
	sn_buf_free(&b);
}

/* --- records as JSON, control endpoint ------------------------------- */

static void
test_anomaly_json(void **unused)
{
	struct sn_detector d = thr("j", "latency_ms", "greater_than", 100, MIN);
	struct engine *e;
	struct sink k = {0};
	json_error_t err;
	json_t *j;

	(void)unused;
	e = one(&d);
	feed(e, "a", NULL, T0 + 1500, 300, &k);
	engine_finish(e, 0, sink_emit, &k);
	assert_int_equal(k.n, 1);
	j = json_loads(k.r[0].json, 0, &err);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "timestamp")),
	                    "2025-11-06T12:01:00.000Z");
	assert_string_equal(
	        json_string_value(json_object_get(j, "window_start")),
	        "2025-11-06T12:00:00.000Z");
	assert_string_equal(json_string_value(json_object_get(j, "status")),
	                    "firing");
	assert_true(json_is_null(json_object_get(j, "expected")));
	assert_true(json_is_array(json_object_get(j, "event_ids")));
	assert_string_equal(
	        json_string_value(json_object_get(json_object_get(j, "labels"),
	                                          "application_id")),
	        "a");
	assert_true(json_real_value(json_object_get(j, "value")) == 300);
	assert_null(json_object_get(j, "detected_ms")); /* replays match */
	json_decref(j);
	engine_free(e);
	sink_reset(&k);
}

static json_t *
ctl(struct engine *e, const char *req)
{
	char *reply = detctl_handle(e, req, strlen(req));
	json_error_t err;
	json_t *j = json_loads(reply, 0, &err);

	assert_non_null(j);
	free(reply);
	return j;
}

static void
test_control_requests(void **unused)
{
	struct sn_detector d[2];
	struct sn_detectors dets = {NULL, d, 2};
	struct engine *e;
	struct sink k = {0};
	json_t *j, *arr;

	(void)unused;
	d[0] = thr("lat", "latency_ms", "greater_than", 100, 0);
	d[1] = thr("off", "latency_ms", "greater_than", 100, 0);
	d[1].enabled = false;
	e = engine_new(&dets, NULL);
	feed(e, "a", NULL, T0, 500, &k);

	j = ctl(e, "{\"command\":\"detectors.list\"}");
	assert_true(json_is_true(json_object_get(j, "ok")));
	arr = json_object_get(j, "detectors");
	assert_int_equal(json_array_size(arr), 2);
	assert_string_equal(json_string_value(json_object_get(
	                            json_array_get(arr, 0), "id")),
	                    "lat");
	assert_int_equal(json_integer_value(json_object_get(
	                         json_array_get(arr, 0), "anomalies")),
	                 1);
	assert_true(json_is_false(
	        json_object_get(json_array_get(arr, 1), "running")));
	json_decref(j);

	j = ctl(e, "{\"command\":\"detectors.test\",\"id\":\"lat\","
	           "\"event\":{\"event_id\":\"t1\",\"timestamp\":"
	           "\"2025-11-06T12:00:01Z\",\"event_type\":\"llm.response\","
	           "\"application_id\":\"a\",\"data\":{\"latency_ms\":50}}}");
	assert_true(json_is_true(json_object_get(j, "ok")));
	assert_string_equal(json_string_value(json_object_get(
	                            json_object_get(j, "result"), "decision")),
	                    "resolve");
	json_decref(j);

	/* Malformed requests: answered, never fatal. */
	static const char *bad[] = {
	        "",
	        "[]",
	        "{",
	        "{\"command\":7}",
	        "{\"command\":\"nope\"}",
	        "{\"command\":\"detectors.test\"}",
	        "{\"command\":\"detectors.test\",\"id\":\"lat\"}",
	        "{\"command\":\"detectors.test\",\"id\":\"lat\",\"event\":"
	        "{\"event_id\":\"x\"}}",
	        "{\"command\":\"detectors.test\",\"id\":\"zz\",\"event\":"
	        "{\"event_id\":\"t1\",\"timestamp\":\"2025-11-06T12:00:01Z\","
	        "\"event_type\":\"x\",\"application_id\":\"a\",\"data\":{}}}",
	};
	for (size_t i = 0; i < SN_ARRAY_LEN(bad); i++) {
		j = ctl(e, bad[i]);
		assert_true(json_is_false(json_object_get(j, "ok")));
		assert_true(json_is_string(json_object_get(j, "error")));
		json_decref(j);
	}
	engine_free(e);
	sink_reset(&k);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_windows_and_lateness),
	        cmocka_unit_test(test_grouping_by_app_and_model),
	        cmocka_unit_test(test_group_by_data_field),
	        cmocka_unit_test(test_long_label_is_cut_on_a_character),
	        cmocka_unit_test(test_filter),
	        cmocka_unit_test(test_cooldown),
	        cmocka_unit_test(test_firing_then_resolved),
	        cmocka_unit_test(test_rate_absence),
	        cmocka_unit_test(test_absence_when_all_traffic_stops),
	        cmocka_unit_test(test_rate_baseline),
	        cmocka_unit_test(test_rate_baseline_min_samples),
	        cmocka_unit_test(test_statistical_zscore),
	        cmocka_unit_test(test_statistical_empty_windows),
	        cmocka_unit_test(test_max_groups_eviction),
	        cmocka_unit_test(test_group_table),
	        cmocka_unit_test(test_reload_keeps_unchanged_state),
	        cmocka_unit_test(test_engine_test_is_a_dry_run),
	        cmocka_unit_test(test_dry_run_filtered_and_late),
	        cmocka_unit_test(test_replay_determinism),
	        cmocka_unit_test(test_anomaly_json),
	        cmocka_unit_test(test_control_requests),
	};

	log_init("test", LOG_LEVEL_ERROR, LOG_FORMAT_TEXT);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
