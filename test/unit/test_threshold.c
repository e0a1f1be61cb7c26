/*
 * test_threshold.c: the threshold detector through the detection engine:
 * every condition per event (aggregation each), well-known and custom
 * "data" metrics, what must not fire, every aggregation over a window
 * (p50-p99 from the sketch within its stated error), the seed's
 * detectors at their limits (5-minute average judged at window close),
 * and the records a firing produces.
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

#include "testutil.h"

#include "../../detectd/engine.h"
#include "sketch.h"
#include "log.h"
#include "util.h"

/* 2025-11-06T12:00:00Z: on a 5-minute (and 1-minute) boundary. */
#define T0 1762430400000LL

/* A copy of an emitted record (its strings die with the callback). */
struct got {
	struct sn_anomaly a;
	char id[160], detector_id[64], detector_type[32], alert[64];
	char severity[32], application_id[64], model[64], metric[64];
	char event_id[64], message[256], labels[256], event_ids[512];
};

struct sink {
	struct got got[16];
	size_t n;
};

static void
copy_str(char *dst, size_t size, struct sn_str s)
{
	snprintf(dst, size, "%.*s", (int)s.len, s.p);
}

static void
sink_emit(const struct sn_anomaly *a, void *arg)
{
	struct sink *k = arg;
	struct got *g;

	assert_true(k->n < SN_ARRAY_LEN(k->got));
	g = &k->got[k->n++];
	g->a = *a;
	copy_str(g->id, sizeof(g->id), a->id);
	copy_str(g->detector_id, sizeof(g->detector_id), a->detector_id);
	copy_str(g->detector_type, sizeof(g->detector_type), a->detector_type);
	copy_str(g->alert, sizeof(g->alert), a->alert);
	copy_str(g->severity, sizeof(g->severity), a->severity);
	copy_str(g->application_id, sizeof(g->application_id),
	         a->application_id);
	copy_str(g->model, sizeof(g->model), a->model);
	copy_str(g->metric, sizeof(g->metric), a->metric);
	copy_str(g->event_id, sizeof(g->event_id), a->event_id);
	copy_str(g->message, sizeof(g->message), a->message);
	copy_str(g->labels, sizeof(g->labels), a->labels);
	copy_str(g->event_ids, sizeof(g->event_ids), a->event_ids);
}

static struct sn_detector_action warn_action[] = {
        {"test-alert", "warning"},
};

/* A threshold detector on metric with one warning action, judging
 * each event on its own (no window). */
static struct sn_detector
thr(const char *id, const char *metric, const char *cond, double threshold)
{
	struct sn_detector d;

	memset(&d, 0, sizeof(d));
	d.id = (char *)id;
	d.name = (char *)id;
	d.type = "threshold";
	d.enabled = true;
	d.metric = (char *)metric;
	d.condition = (char *)cond;
	d.threshold = threshold;
	d.has_threshold = true;
	d.actions = warn_action;
	d.nactions = 1;
	d.lateness_ms = 5000;
	return d;
}

/* An event with the given JSON and no well-known numbers. */
static struct sn_event
event(const char *json)
{
	struct sn_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.seq = 42;
	ev.ts_ms = T0;
	ev.recv_ms = T0 + 100;
	ev.event_id = str("test-001");
	ev.event_type = str("llm.response");
	ev.application_id = str("test-app");
	ev.model = str("");
	ev.status = str("");
	ev.timestamp = str("2025-11-06T12:00:00Z");
	ev.json = str(json);
	return ev;
}

/* Runs the detectors on ev in a fresh engine, then ends the input (so
 * windows close); returns the records emitted into k. */
static size_t
run(struct sn_detector *d, size_t n, const struct sn_event *ev, struct sink *k)
{
	struct sn_detectors dets = {NULL, d, n};
	struct engine *e = engine_new(&dets, NULL);
	size_t got;

	memset(k, 0, sizeof(*k));
	got = engine_feed(e, ev, T0 + 1000, sink_emit, k);
	got += engine_finish(e, T0 + 1000, sink_emit, k);
	assert_int_equal(got, k->n);
	engine_free(e);
	return got;
}

static struct sn_event
latency_event(double v)
{
	struct sn_event ev = event("{}");

	ev.present = SN_EV_LATENCY_MS;
	ev.latency_ms = v;
	return ev;
}

static void
test_each_condition(void **unused)
{
	static const struct {
		const char *cond;
		double value;
		int fires;
	} cases[] = {
	        {"greater_than", 101, 1},
	        {"greater_than", 100, 0},
	        {"greater_or_equal", 100, 1},
	        {"greater_or_equal", 99, 0},
	        {"less_than", 99, 1},
	        {"less_than", 100, 0},
	        {"less_or_equal", 100, 1},
	        {"less_or_equal", 101, 0},
	        {"equal", 100, 1},
	        {"equal", 100.5, 0},
	        {"not_equal", 100.5, 1},
	        {"not_equal", 100, 0},
	};
	struct sink k;
	size_t i;

	(void)unused;
	for (i = 0; i < SN_ARRAY_LEN(cases); i++) {
		struct sn_detector d =
		        thr("c", "latency_ms", cases[i].cond, 100);
		struct sn_event ev = latency_event(cases[i].value);

		if (run(&d, 1, &ev, &k) != (size_t)cases[i].fires)
			fail_msg("%s with value %g: expected %s", cases[i].cond,
			         cases[i].value,
			         cases[i].fires ? "a firing" : "no firing");
		/* The same through an explicit "each" with a window. */
		d.aggregation = "each";
		d.window_ms = 300000;
		assert_int_equal(run(&d, 1, &ev, &k), cases[i].fires);
	}
}

static void
test_well_known_metrics(void **unused)
{
	static const struct {
		const char *metric;
		uint32_t bit;
		size_t off;
	} m[] = {
	        {"latency_ms", SN_EV_LATENCY_MS,
	         offsetof(struct sn_event, latency_ms)},
	        {"total_tokens", SN_EV_TOTAL_TOKENS,
	         offsetof(struct sn_event, total_tokens)},
	        {"prompt_tokens", SN_EV_PROMPT_TOKENS,
	         offsetof(struct sn_event, prompt_tokens)},
	        {"completion_tokens", SN_EV_COMPLETION_TOKENS,
	         offsetof(struct sn_event, completion_tokens)},
	        {"cost", SN_EV_COST, offsetof(struct sn_event, cost)},
	};
	struct sink k;
	size_t i;

	(void)unused;
	for (i = 0; i < SN_ARRAY_LEN(m); i++) {
		struct sn_detector d =
		        thr("m", m[i].metric, "greater_than", 10);
		struct sn_event ev = event("{}");
		double v = 11;

		memcpy((char *)&ev + m[i].off, &v, sizeof(v));
		/* The number is there but its present bit is not: the
		 * metric is absent, nothing fires. */
		assert_int_equal(run(&d, 1, &ev, &k), 0);
		ev.present = m[i].bit;
		assert_int_equal(run(&d, 1, &ev, &k), 1);
		assert_string_equal(k.got[0].metric, m[i].metric);
		assert_true(k.got[0].a.value == 11);
	}
}

static void
test_custom_data_metric(void **unused)
{
	struct sn_detector d[] = {
	        thr("ttft", "ttft_ms", "greater_than", 800),
	        thr("ttft2", "data.ttft_ms", "greater_than", 800),
	        thr("nested", "data.timing.queue_ms", "greater_or_equal", 5),
	};
	struct sn_event ev = event("{\"event_id\":\"test-001\",\"data\":"
	                           "{\"ttft_ms\":950.5,\"timing\":"
	                           "{\"queue_ms\":5}}}");
	struct sink k;

	(void)unused;
	assert_int_equal(run(d, 3, &ev, &k), 3);
	assert_string_equal(k.got[0].detector_id, "ttft");
	assert_true(k.got[0].a.value == 950.5);
	assert_string_equal(k.got[1].detector_id, "ttft2");
	assert_string_equal(k.got[2].detector_id, "nested");
	assert_true(k.got[2].a.value == 5);

	/* Under the threshold, absent, not a number, not under "data". */
	ev = event("{\"data\":{\"ttft_ms\":700}}");
	assert_int_equal(run(d, 2, &ev, &k), 0);
	ev = event("{\"data\":{\"latency_ms\":9000}}");
	assert_int_equal(run(d, 2, &ev, &k), 0);
	ev = event("{\"data\":{\"ttft_ms\":\"9000\"}}");
	assert_int_equal(run(d, 2, &ev, &k), 0);
	ev = event("{\"ttft_ms\":9000,\"data\":{}}");
	assert_int_equal(run(d, 2, &ev, &k), 0);
	ev = event("{\"data\":{\"timing\":7}}");
	assert_int_equal(run(&d[2], 1, &ev, &k), 0);
	/* Not even JSON: nothing to read, nothing fires, no crash. */
	ev = event("{\"data\":");
	assert_int_equal(run(d, 3, &ev, &k), 0);
}

static void
test_absent_metric_does_not_fire(void **unused)
{
	struct sn_detector d[] = {
	        thr("lat", "latency_ms", "less_than", 100),
	        thr("cost", "cost", "not_equal", 1),
	        thr("ttft", "ttft_ms", "not_equal", 1),
	        thr("avg", "latency_ms", "less_than", 100),
	};
	struct sn_event ev = event("{\"data\":{\"status\":\"success\"}}");
	struct sink k;

	(void)unused;
	d[3].window_ms = 60000; /* avg of a window with no latency */
	/* less_than and not_equal would fire on a 0 taken for absent. */
	assert_int_equal(run(d, 4, &ev, &k), 0);
}

static void
test_disabled_does_not_fire(void **unused)
{
	struct sn_detector d = thr("off", "latency_ms", "greater_than", 1);
	struct sn_event ev = latency_event(9999);
	struct sn_detectors dets = {NULL, &d, 1};
	struct engine_det_info in;
	struct engine *e;
	struct sink k;

	(void)unused;
	d.enabled = false;
	assert_int_equal(run(&d, 1, &ev, &k), 0);
	e = engine_new(&dets, NULL);
	assert_int_equal(engine_running(e), 0);
	assert_int_equal(engine_detector_count(e), 1);
	engine_detector_info(e, 0, &in);
	assert_false(in.enabled);
	assert_false(in.running);
	assert_string_equal(in.why, "disabled");
	engine_free(e);
}

static void
test_bad_config_not_run(void **unused)
{
	struct sn_detector d[] = {
	        thr("nocond", "latency_ms", "above", 1),
	        thr("nothr", "latency_ms", "greater_than", 1),
	        thr("badpath", "data..x", "greater_than", 1),
	        thr("badagg", "latency_ms", "greater_than", 1),
	        thr("aggnowin", "latency_ms", "greater_than", 1),
	        thr("derivednowin", "error_rate", "greater_than", 1),
	        thr("derivedagg", "error_rate", "greater_than", 1),
	        thr("nometric", NULL, "greater_than", 1),
	        thr("ok", "latency_ms", "greater_than", 1),
	};
	struct sn_detectors dets = {NULL, d, SN_ARRAY_LEN(d)};
	struct engine_det_info in;
	struct engine *e;

	(void)unused;
	d[1].has_threshold = false;
	d[3].aggregation = "median";
	d[3].window_ms = 60000;
	d[4].aggregation = "p95";
	d[6].aggregation = "p95";
	d[6].window_ms = 60000;
	e = engine_new(&dets, NULL);
	assert_int_equal(engine_running(e), 1);
	engine_detector_info(e, 4, &in);
	assert_false(in.running);
	assert_non_null(in.why);
	engine_free(e);
}

/* A windowed detector: every aggregation of one window, read from the
 * value of a record that always fires. */
static double
window_value(const char *agg, const double *vals, const int64_t *ts, size_t n)
{
	struct sn_detector d = thr("w", "latency_ms", "greater_or_equal", -1e9);
	struct sn_detectors dets = {NULL, &d, 1};
	struct sn_event ev;
	struct engine *e;
	struct sink k;
	size_t i;

	d.window_ms = 60000;
	d.aggregation = (char *)agg;
	e = engine_new(&dets, NULL);
	memset(&k, 0, sizeof(k));
	for (i = 0; i < n; i++) {
		ev = latency_event(vals[i]);
		ev.ts_ms = ts ? ts[i] : T0 + (int64_t)i;
		assert_int_equal(engine_feed(e, &ev, 0, sink_emit, &k), 0);
	}
	engine_finish(e, 0, sink_emit, &k);
	engine_free(e);
	assert_int_equal(k.n, 1);
	assert_int_equal(k.got[0].a.window_start_ms, T0);
	assert_int_equal(k.got[0].a.window_end_ms, T0 + 60000);
	assert_int_equal(k.got[0].a.ts_ms, T0 + 60000);
	assert_int_equal(k.got[0].a.samples, n);
	return k.got[0].a.value;
}

static void
test_aggregations(void **unused)
{
	/* The latest by event time is the 2nd fed (ts +50s). */
	static const double v[] = {100, 200, 300, 400, 1000};
	static const int64_t ts[] = {T0 + 1000, T0 + 50000, T0 + 2000,
	                             T0 + 3000, T0 + 4000};
	double many[100], err;
	size_t i;

	(void)unused;
	assert_true(window_value("avg", v, ts, 5) == 400);
	assert_true(window_value(NULL, v, ts, 5) == 400); /* default */
	assert_true(window_value("min", v, ts, 5) == 100);
	assert_true(window_value("max", v, ts, 5) == 1000);
	assert_true(window_value("sum", v, ts, 5) == 2000);
	assert_true(window_value("count", v, ts, 5) == 5);
	assert_true(window_value("last", v, ts, 5) == 200);

	/* 1..100 shuffled: the q-quantile is the value of rank
	 * floor(q * 99), within the sketch's relative error. */
	for (i = 0; i < 100; i++)
		many[i] = (double)((i * 37) % 100 + 1);
	err = 0.02 + 1e-9;
	assert_true(fabs(window_value("p50", many, NULL, 100) - 50) <=
	            50 * err);
	assert_true(fabs(window_value("p90", many, NULL, 100) - 90) <=
	            90 * err);
	assert_true(fabs(window_value("p95", many, NULL, 100) - 95) <=
	            95 * err);
	assert_true(fabs(window_value("p99", many, NULL, 100) - 99) <=
	            99 * err);
}

static void
test_min_samples(void **unused)
{
	struct sn_detector d = thr("ms", "latency_ms", "greater_than", 100);
	struct sn_detectors dets = {NULL, &d, 1};
	struct sn_event ev;
	struct engine *e;
	struct sink k;
	int i;

	(void)unused;
	d.window_ms = 60000;
	d.min_samples = 3;
	e = engine_new(&dets, NULL);
	memset(&k, 0, sizeof(k));
	/* Window 1: two slow events, too few to judge. */
	for (i = 0; i < 2; i++) {
		ev = latency_event(500);
		ev.ts_ms = T0 + i;
		engine_feed(e, &ev, 0, sink_emit, &k);
	}
	/* Window 2: three. */
	for (i = 0; i < 3; i++) {
		ev = latency_event(500);
		ev.ts_ms = T0 + 60000 + i;
		engine_feed(e, &ev, 0, sink_emit, &k);
	}
	assert_int_equal(k.n, 0);
	engine_finish(e, 0, sink_emit, &k);
	assert_int_equal(k.n, 1);
	assert_int_equal(k.got[0].a.window_start_ms, T0 + 60000);
	assert_int_equal(k.got[0].a.samples, 3);
	engine_free(e);
}

static struct sn_detector_action seed_warn[] = {
        {"high-latency-alert", "warning"},
};
static struct sn_detector_action seed_crit[] = {
        {"high-cost-alert", "critical"},
};
static struct sn_detector_action seed_err[] = {
        {"error-spike-alert", "warning"},
};

/* The seed's detectors.yaml, as the loader resolves it. */
static void
seed_detectors(struct sn_detector d[3])
{
	d[0] = thr("high-latency", "latency_ms", "greater_than", 5000);
	d[0].window_ms = 300000;
	d[0].actions = seed_warn;
	d[1] = thr("high-cost", "cost", "greater_than", 1.0);
	d[1].window_ms = 60000;
	d[1].actions = seed_crit;
	d[2] = thr("error-rate", "error_rate", NULL, 3.0);
	d[2].type = "statistical";
	d[2].strategy = "zscore";
	d[2].window_ms = 600000;
	d[2].actions = seed_err;
}

static void
test_seed_detectors(void **unused)
{
	struct sn_detector d[3];
	struct sn_detectors dets = {NULL, d, 3};
	struct sn_event ev;
	struct engine *e;
	struct sink k;

	(void)unused;
	seed_detectors(d);
	e = engine_new(&dets, NULL);
	assert_int_equal(engine_running(e), 3);
	engine_free(e);

	/* Windows of 5m and 1m, no aggregation: the average of the
	 * window, judged when it closes (engine_finish here). */
	ev = latency_event(5000);
	assert_int_equal(run(d, 3, &ev, &k), 0);
	ev = latency_event(5001);
	assert_int_equal(run(d, 3, &ev, &k), 1);
	assert_string_equal(k.got[0].detector_id, "high-latency");
	assert_string_equal(k.got[0].alert, "high-latency-alert");
	assert_string_equal(k.got[0].severity, "warning");
	assert_int_equal(k.got[0].a.ts_ms, T0 + 300000);

	ev = event("{}");
	ev.present = SN_EV_COST | SN_EV_LATENCY_MS;
	ev.latency_ms = 1250;
	ev.cost = 1.0;
	assert_int_equal(run(d, 3, &ev, &k), 0);
	ev.cost = 1.5;
	assert_int_equal(run(d, 3, &ev, &k), 1);
	assert_string_equal(k.got[0].detector_id, "high-cost");
	assert_string_equal(k.got[0].severity, "critical");
}

/*
 * Reads the seed's detectors.yaml, kept word for word from the deployment
 * guide under test/unit/data/ (the tests run from the top of the tree).
 * Returns a new NUL-terminated string; the caller frees it.
 */
static char *
read_seed_detectors(size_t *len)
{
	char *dir = sn_path_dirname(__FILE__), path[512], *text;
	FILE *f;
	long n;

	snprintf(path, sizeof(path), "%s/data/seed/standalone/detectors.yaml",
	         dir);
	free(dir);
	f = fopen(path, "rb");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	text = malloc((size_t)n + 1);
	assert_int_equal(fread(text, 1, (size_t)n, f), (size_t)n);
	text[n] = '\0';
	fclose(f);
	*len = (size_t)n;
	return text;
}

static void
test_seed_yaml_through_loader(void **unused)
{
	struct sn_detectors dets = {0};
	struct sn_cfg_errors errs = {0};
	struct sn_event ev;
	struct engine *e;
	struct sink k;

	size_t len;
	char *seed_yaml = read_seed_detectors(&len);

	(void)unused;
	assert_int_equal(config_parse_detectors("detectors.yaml", seed_yaml,
	                                        len, &dets, &errs),
	                 0);
	free(seed_yaml);
	e = engine_new(&dets, NULL);
	assert_int_equal(engine_running(e), 3);

	memset(&k, 0, sizeof(k));
	ev = latency_event(5001);
	assert_int_equal(engine_feed(e, &ev, 1, sink_emit, &k), 0);
	ev.present |= SN_EV_COST;
	ev.event_id = str("test-002");
	ev.latency_ms = 1250;
	ev.cost = 1.5;
	assert_int_equal(engine_feed(e, &ev, 1, sink_emit, &k), 0);
	/* One minute (and the lateness) later the cost window closes:
	 * its average is 1.5. */
	assert_int_equal(engine_advance(e, T0 + 60000, 1, sink_emit, &k), 1);
	assert_string_equal(k.got[0].alert, "high-cost-alert");
	assert_string_equal(k.got[0].severity, "critical");
	assert_string_equal(k.got[0].event_id, "test-002");
	/* Five minutes: the latency window's average is 3125.5. */
	assert_int_equal(engine_advance(e, T0 + 300000, 1, sink_emit, &k), 0);
	engine_free(e);
	config_detectors_free(&dets);
	cfg_errors_free(&errs);
}

static void
test_anomaly_fields(void **unused)
{
	static struct sn_detector_action two[] = {
	        {"high-latency-alert", "warning"},
	        {"high-latency-page", "critical"},
	};
	struct sn_detector d =
	        thr("high-latency", "latency_ms", "greater_than", 5000);
	struct sn_event ev = latency_event(7300);
	struct sink k;
	size_t i;

	(void)unused;
	d.actions = two;
	d.nactions = 2;
	ev.model = str("gpt-4");
	assert_int_equal(run(&d, 1, &ev, &k), 2);
	for (i = 0; i < 2; i++) {
		struct got *g = &k.got[i];
		char id[64];

		/* <detector>-<ts_ms>-<hash of group+event_id>-<action> */
		snprintf(id, sizeof(id), "-%zu", i);
		assert_true(strncmp(g->id, "high-latency-1762430400000-", 27) ==
		            0);
		assert_int_equal(strlen(g->id), 27 + 16 + 2);
		assert_string_equal(g->id + 27 + 16, id);
		assert_string_equal(g->alert, two[i].alert);
		assert_string_equal(g->severity, two[i].severity);
		assert_string_equal(g->detector_id, "high-latency");
		assert_string_equal(g->detector_type, "threshold");
		assert_string_equal(g->metric, "latency_ms");
		assert_string_equal(g->event_id, "test-001");
		assert_string_equal(g->event_ids, "[\"test-001\"]");
		assert_string_equal(g->application_id, "test-app");
		assert_string_equal(g->model, "gpt-4");
		assert_string_equal(g->labels,
		                    "{\"application_id\":\"test-app\"}");
		assert_int_equal(g->a.status, SN_ANOMALY_FIRING);
		assert_true(g->a.value == 7300);
		assert_true(g->a.threshold == 5000);
		assert_int_equal(g->a.seq, 42);
		assert_int_equal(g->a.ts_ms, T0);
		assert_int_equal(g->a.window_start_ms, T0);
		assert_int_equal(g->a.window_end_ms, T0);
		assert_int_equal(g->a.samples, 1);
		assert_int_equal(g->a.detected_ms, T0 + 1000);
		assert_string_equal(g->message, "latency_ms 7300 > 5000 for "
		                                "application_id=test-app");
	}
	assert_string_not_equal(k.got[0].id, k.got[1].id);
}

static void
test_windowed_message(void **unused)
{
	struct sn_detector d =
	        thr("high-latency", "latency_ms", "greater_than", 5000);
	static char *by[] = {"application_id", "model"};
	struct sn_event ev = latency_event(7300);
	struct sink k;

	(void)unused;
	d.window_ms = 300000;
	d.aggregation = "p95";
	d.group_by = by;
	d.ngroup_by = 2;
	ev.application_id = str("chat");
	ev.model = str("gpt-4o");
	assert_int_equal(run(&d, 1, &ev, &k), 1);
	assert_string_equal(k.got[0].message,
	                    "p95 latency_ms 7300 > 5000 over 5m for "
	                    "application_id=chat model=gpt-4o");
	assert_string_equal(k.got[0].labels, "{\"application_id\":\"chat\","
	                                     "\"model\":\"gpt-4o\"}");
	assert_string_equal(k.got[0].model, "gpt-4o");
}

static void
test_anomaly_id_follows_the_event(void **unused)
{
	struct sn_detector d =
	        thr("high-latency", "latency_ms", "greater_than", 5000);
	struct sn_event ev = latency_event(7300);
	char first[160];
	struct sink k;

	(void)unused;
	assert_int_equal(run(&d, 1, &ev, &k), 1);
	snprintf(first, sizeof(first), "%s", k.got[0].id);

	/* The same event again, even with another seq (a resend): the
	 * same id, so stored keeps the anomaly once. */
	ev.seq = 43;
	assert_int_equal(run(&d, 1, &ev, &k), 1);
	assert_string_equal(k.got[0].id, first);

	/* Another event: another id. */
	ev.event_id = str("test-002");
	assert_int_equal(run(&d, 1, &ev, &k), 1);
	assert_string_not_equal(k.got[0].id, first);
	ev.event_id = str("test-001");
	ev.ts_ms += 1;
	assert_int_equal(run(&d, 1, &ev, &k), 1);
	assert_string_not_equal(k.got[0].id, first);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_each_condition),
	        cmocka_unit_test(test_well_known_metrics),
	        cmocka_unit_test(test_custom_data_metric),
	        cmocka_unit_test(test_absent_metric_does_not_fire),
	        cmocka_unit_test(test_disabled_does_not_fire),
	        cmocka_unit_test(test_bad_config_not_run),
	        cmocka_unit_test(test_aggregations),
	        cmocka_unit_test(test_min_samples),
	        cmocka_unit_test(test_seed_detectors),
	        cmocka_unit_test(test_seed_yaml_through_loader),
	        cmocka_unit_test(test_anomaly_fields),
	        cmocka_unit_test(test_windowed_message),
	        cmocka_unit_test(test_anomaly_id_follows_the_event),
	};

	/* The engine logs what it runs; keep the TAP output readable. */
	log_init("test", LOG_LEVEL_ERROR, LOG_FORMAT_TEXT);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
