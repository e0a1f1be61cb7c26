/*
 * detector_threshold.c: the "threshold" detector type: the metric, per
 * event or aggregated over a window, compared to a fixed threshold.
 *
 *   config:
 *     metric: latency_ms      a well-known field (latency_ms,
 *                             total_tokens, prompt_tokens,
 *                             completion_tokens, cost), any numeric
 *                             field under "data" ("ttft_ms", or
 *                             "data.ttft_ms"; dots go deeper), or a
 *                             derived metric (error_rate, request_rate,
 *                             tokens_per_second, cost_per_request)
 *     condition: greater_than greater_or_equal, less_than,
 *                             less_or_equal, equal, not_equal
 *     threshold: 5000
 *     window: 5m
 *     aggregation: p95        avg (the default when a window is given),
 *                             min, max, sum, count, p50, p90, p95, p99,
 *                             last, or each (the default without a
 *                             window): every event tested on its own
 *     min_samples: 10         windows with fewer events are not judged
 *                             (default 1)
 *
 * A windowed threshold is judged when its window closes (the watermark
 * passes its end), on the aggregate of the window's events.  Derived
 * metrics are window values by nature: they need a window and take no
 * aggregation.  An event without the metric is not counted (and with
 * "each" does not fire): less_than and not_equal must not fire on a 0
 * taken for absent.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "detector.h"

struct thr_priv {
	enum det_cond cond;
	double threshold;
};

static int
thr_compile(struct det *d, const char **why)
{
	const struct sn_detector *c = d->cfg;
	struct thr_priv *t;
	enum det_cond cond;
	int derived = d->metric >= DET_M_ERROR_RATE;

	if (d->metric == DET_M_NONE) {
		*why = "threshold detector without a metric";
		return -1;
	}
	if (!c->has_threshold) {
		*why = "threshold detector without a threshold";
		return -1;
	}
	if (det_cond_parse(c->condition, &cond) < 0) {
		*why = "unknown or missing condition (greater_than, "
		       "greater_or_equal, less_than, less_or_equal, equal, "
		       "not_equal)";
		return -1;
	}
	if (c->aggregation != NULL) {
		if (det_agg_parse(c->aggregation, &d->agg) < 0) {
			*why = "unknown aggregation (avg, min, max, sum, "
			       "count, "
			       "p50, p90, p95, p99, last, each)";
			return -1;
		}
	} else {
		d->agg = c->window_ms > 0 ? DET_AGG_AVG : DET_AGG_EACH;
	}
	if (derived) {
		if (c->window_ms <= 0 || d->agg == DET_AGG_EACH) {
			*why = "a derived metric needs a window";
			return -1;
		}
		if (d->agg != DET_AGG_AVG) {
			*why = "a derived metric takes no aggregation";
			return -1;
		}
		d->agg = DET_AGG_DERIVED;
	}
	if (d->agg != DET_AGG_EACH && c->window_ms <= 0) {
		*why = "this aggregation needs a window";
		return -1;
	}
	d->window_ms = d->agg == DET_AGG_EACH ? 0 : c->window_ms;
	d->min_samples = c->min_samples > 0 ? c->min_samples : 1;
	d->empty_cap = 1; /* the verdict on an empty window never changes */
	d->type_size = 0;
	t = sn_xcalloc(1, sizeof(*t));
	t->cond = cond;
	t->threshold = c->threshold;
	d->priv = t;
	return 0;
}

static void
thr_group_init(const struct det *d, void *tstate)
{
	(void)d;
	(void)tstate;
}

static void
thr_judge(const struct det *d, void *tstate, const struct det_sample *s,
          struct det_verdict *v)
{
	const struct thr_priv *t = d->priv;

	(void)tstate;
	v->threshold = t->threshold;
	if (!s->has_value) {
		v->why = "no value in the window";
		return;
	}
	v->value = v->score = s->value;
	/* An empty window judged (count, sum) has 0 samples by nature. */
	if (!s->empty && s->samples < d->min_samples) {
		v->why = "fewer events in the window than min_samples";
		return;
	}
	v->decided = 1;
	v->hit = det_cond_test(t->cond, s->value, t->threshold);
}

/* The check of det_type: a threshold keeps no type state. */
static int
thr_check_state(const struct det *d, const void *tstate)
{
	(void)d;
	(void)tstate;
	return 0;
}

static void
thr_describe(const struct det *d, const struct det_verdict *v, int resolved,
             char *buf, size_t size)
{
	const struct thr_priv *t = d->priv;
	char val[32], lim[32];
	const char *agg = "";

	if (d->agg != DET_AGG_EACH && d->agg != DET_AGG_DERIVED)
		agg = det_agg_name(d->agg);
	det_fmt(val, sizeof(val), v->value);
	det_fmt(lim, sizeof(lim), t->threshold);
	snprintf(buf, size, "%s%s%s%s %s %s %s", resolved ? "resolved: " : "",
	         agg, *agg ? " " : "", d->metric_name, val,
	         resolved ? det_cond_not_op(t->cond) : det_cond_op(t->cond),
	         lim);
}

static void
thr_free(struct det *d)
{
	free(d->priv);
	d->priv = NULL;
}

const struct det_type det_threshold_type = {
        .name = "threshold",
        .compile = thr_compile,
        .group_init = thr_group_init,
        .judge = thr_judge,
        .check_state = thr_check_state,
        .describe = thr_describe,
        .free = thr_free,
};
