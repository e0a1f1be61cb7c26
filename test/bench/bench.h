/*
 * bench.h: what the detection benchmarks share: the ten detectors they
 * run (every type and the usual aggregations), a fast random number
 * generator and a monotonic clock.  Each benchmark is its own program,
 * so these are static.
 */
#ifndef SN_BENCH_H
#define SN_BENCH_H

#include <stdint.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "event.h"

#define BENCH_NDETS 10

static struct sn_detector_action bench_act[] = {{"bench", "warning"}};
static char *bench_by_app_model[] = {"application_id", "model"};

static struct sn_detector
bench_det(const char *id, const char *type, const char *metric, int64_t window)
{
	struct sn_detector d;

	memset(&d, 0, sizeof(d));
	d.id = d.name = (char *)id;
	d.type = (char *)type;
	d.enabled = true;
	d.metric = (char *)metric;
	d.window_ms = window;
	d.lateness_ms = 5000;
	d.actions = bench_act;
	d.nactions = 1;
	return d;
}

static void
bench_thr(struct sn_detector *d, const char *cond, double t, const char *agg)
{
	d->condition = (char *)cond;
	d->threshold = t;
	d->has_threshold = true;
	d->aggregation = (char *)agg;
}

/*
 * The ten detectors: per-event, avg, p95, max and sum thresholds,
 * zscore on latency, ewma on request rate, zscore on error rate, an
 * absence and a drop-against-history rate detector.  by_model: the
 * latency ones group by application and model, else by application.
 */
static void
bench_detectors(struct sn_detector d[BENCH_NDETS], int by_model)
{
	d[0] = bench_det("lat-each", "threshold", "latency_ms", 0);
	bench_thr(&d[0], "greater_than", 5000, NULL);
	d[1] = bench_det("lat-avg", "threshold", "latency_ms", 60000);
	bench_thr(&d[1], "greater_than", 3000, "avg");
	d[2] = bench_det("lat-p95", "threshold", "latency_ms", 300000);
	bench_thr(&d[2], "greater_than", 4000, "p95");
	d[3] = bench_det("cost-max", "threshold", "cost", 60000);
	bench_thr(&d[3], "greater_than", 1.0, "max");
	d[4] = bench_det("tokens-sum", "threshold", "total_tokens", 60000);
	bench_thr(&d[4], "greater_than", 1e6, "sum");
	d[5] = bench_det("lat-z", "statistical", "latency_ms", 60000);
	d[5].strategy = "zscore";
	d[6] = bench_det("rr-ewma", "statistical", "request_rate", 60000);
	d[6].strategy = "ewma";
	d[7] = bench_det("err-z", "statistical", "error_rate", 300000);
	d[7].strategy = "zscore";
	d[8] = bench_det("silent", "rate", NULL, 60000);
	bench_thr(&d[8], "less_than", 1, NULL);
	d[9] = bench_det("drop", "rate", NULL, 60000);
	bench_thr(&d[9], "less_than", 0.3, NULL);
	d[9].baseline = "history";
	if (by_model) {
		static const int lat[] = {1, 2, 5};

		for (size_t i = 0; i < sizeof(lat) / sizeof(lat[0]); i++) {
			d[lat[i]].group_by = bench_by_app_model;
			d[lat[i]].ngroup_by = 2;
		}
	}
}

/* The engine's callback: counts records into *(size_t *)arg. */
static void
bench_count(const struct sn_anomaly *a, void *arg)
{
	(void)a;
	(*(size_t *)arg)++;
}

/* xorshift32. */
static uint32_t
bench_rnd(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

static double
bench_now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#endif
