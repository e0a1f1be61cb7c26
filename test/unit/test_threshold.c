/*
 * test_threshold.c: the threshold detector through the detection engine:
 * every condition, well-known and custom "data" metrics, what must not
 * fire, the seed's detectors at their limits, and the anomalies a firing
 * produces.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../detectd/engine.h"
#include "log.h"
#include "util.h"

/* A copy of an emitted anomaly (its strings die with the callback). */
struct got {
	struct sn_anomaly a;
	char id[128], detector_id[64], detector_type[32], alert[64];
	char severity[32], application_id[64], model[64], metric[64];
	char event_id[64], message[256];
};

struct sink {
	struct got got[8];
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
}

static struct sn_str
str(const char *s)
{
	struct sn_str v = {s, (uint32_t)strlen(s)};

	return v;
}

static struct sn_detector_action warn_action[] = {
        {"test-alert", "warning"},
};

/* A threshold detector on metric with one warning action. */
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
	d.window_ms = 300000;
	d.actions = warn_action;
	d.nactions = 1;
	return d;
}

/* An event with the given JSON and no well-known numbers. */
static struct sn_event
event(const char *json)
{
	struct sn_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.seq = 42;
	ev.ts_ms = 1762430400000; /* 2025-11-06T12:00:00Z */
	ev.recv_ms = 1762430400100;
	ev.event_id = str("test-001");
	ev.event_type = str("llm.response");
	ev.application_id = str("test-app");
	ev.model = str("");
	ev.status = str("");
	ev.timestamp = str("2025-11-06T12:00:00Z");
	ev.json = str(json);
	return ev;
}

/* Runs the detectors on ev; returns the anomalies emitted into k. */
static size_t
run(struct sn_detector *d, size_t n, const struct sn_event *ev, struct sink *k)
{
	struct sn_detectors dets = {NULL, d, n};
	struct engine *e = engine_new(&dets);
	size_t got;

	memset(k, 0, sizeof(*k));
	got = engine_run(e, ev, 1762430401000, sink_emit, k);
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
}

static void
test_absent_metric_does_not_fire(void **unused)
{
	struct sn_detector d[] = {
	        thr("lat", "latency_ms", "less_than", 100),
	        thr("cost", "cost", "not_equal", 1),
	        thr("ttft", "ttft_ms", "not_equal", 1),
	};
	struct sn_event ev = event("{\"data\":{\"status\":\"success\"}}");
	struct sink k;

	(void)unused;
	/* less_than and not_equal would fire on a 0 taken for absent. */
	assert_int_equal(run(d, 3, &ev, &k), 0);
}

static void
test_disabled_does_not_fire(void **unused)
{
	struct sn_detector d = thr("off", "latency_ms", "greater_than", 1);
	struct sn_event ev = latency_event(9999);
	struct sn_detectors dets = {NULL, &d, 1};
	struct engine *e;
	struct sink k;

	(void)unused;
	d.enabled = false;
	assert_int_equal(run(&d, 1, &ev, &k), 0);
	e = engine_new(&dets);
	assert_int_equal(engine_running(e), 0);
	engine_free(e);
}

static void
test_bad_config_not_run(void **unused)
{
	struct sn_detector d[] = {
	        thr("nocond", "latency_ms", "above", 1),
	        thr("nothr", "latency_ms", "greater_than", 1),
	        thr("badpath", "data..x", "greater_than", 1),
	        thr("ok", "latency_ms", "greater_than", 1),
	};
	struct sn_detectors dets = {NULL, d, SN_ARRAY_LEN(d)};
	struct engine *e;

	(void)unused;
	d[1].has_threshold = false;
	e = engine_new(&dets);
	assert_int_equal(engine_running(e), 1);
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
	/* The statistical one is loaded but does not run yet. */
	e = engine_new(&dets);
	assert_int_equal(engine_running(e), 2);
	engine_free(e);

	ev = latency_event(5000);
	assert_int_equal(run(d, 3, &ev, &k), 0);
	ev = latency_event(5001);
	assert_int_equal(run(d, 3, &ev, &k), 1);
	assert_string_equal(k.got[0].detector_id, "high-latency");
	assert_string_equal(k.got[0].alert, "high-latency-alert");
	assert_string_equal(k.got[0].severity, "warning");

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
	e = engine_new(&dets);
	assert_int_equal(engine_running(e), 2);

	ev = latency_event(5000);
	memset(&k, 0, sizeof(k));
	assert_int_equal(engine_run(e, &ev, 1, sink_emit, &k), 0);
	ev = latency_event(5001);
	assert_int_equal(engine_run(e, &ev, 1, sink_emit, &k), 1);
	assert_string_equal(k.got[0].alert, "high-latency-alert");
	ev.present |= SN_EV_COST;
	ev.latency_ms = 1250;
	ev.cost = 1.5;
	assert_int_equal(engine_run(e, &ev, 1, sink_emit, &k), 1);
	assert_string_equal(k.got[1].alert, "high-cost-alert");
	assert_string_equal(k.got[1].severity, "critical");
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

		/* <detector>-<ts_ms>-<hash of event_id>-<action> */
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
		assert_string_equal(g->application_id, "test-app");
		assert_string_equal(g->model, "gpt-4");
		assert_true(g->a.value == 7300);
		assert_true(g->a.threshold == 5000);
		assert_int_equal(g->a.seq, 42);
		assert_int_equal(g->a.ts_ms, 1762430400000);
		assert_int_equal(g->a.detected_ms, 1762430401000);
		assert_string_equal(g->message, "latency_ms 7300 > 5000 for "
		                                "application test-app model "
		                                "gpt-4");
	}
	assert_string_not_equal(k.got[0].id, k.got[1].id);
}

static void
test_anomaly_id_follows_the_event(void **unused)
{
	struct sn_detector d =
	        thr("high-latency", "latency_ms", "greater_than", 5000);
	struct sn_event ev = latency_event(7300);
	char first[128];
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
	        cmocka_unit_test(test_seed_detectors),
	        cmocka_unit_test(test_seed_yaml_through_loader),
	        cmocka_unit_test(test_anomaly_fields),
	        cmocka_unit_test(test_anomaly_id_follows_the_event),
	};

	/* The engine logs what it runs; keep the TAP output readable. */
	log_init("test", LOG_LEVEL_ERROR, LOG_FORMAT_TEXT);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
