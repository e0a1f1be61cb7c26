/*
 * detector_statistical.c: the "statistical" detector type: the metric
 * aggregated per window, each closed window scored by a strategy
 * (strategy.h) against the history of earlier windows.
 *
 *   config:
 *     metric: latency_ms      any metric threshold takes, derived too
 *     window: 5m              required
 *     aggregation: avg        the per-window value (avg default; min,
 *                             max, sum, count, p50-p99, last)
 *     strategy: zscore        zscore, mad, iqr, ewma, cusum, auto
 *                             (auto when not given)
 *     threshold: 3.0          in the strategy's score units (its
 *                             default when not given)
 *     history: 30             windows of history
 *     min_samples: 0          windows seen before scoring (0: the
 *                             strategy's default)
 *     direction: both         up, down or both
 *
 * Empty windows: for count-like values (count, sum, request_rate,
 * tokens_per_second) an empty window is a 0 and is scored and learnt, so
 * traffic that collapses is seen; for value metrics (avg latency, p95,
 * error_rate, cost_per_request) there is nothing to score and the window
 * is skipped.  The strategy state lives in the group's block.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "detector.h"
#include "strategy.h"

struct stat_priv {
	const struct strategy *strategy;
	struct strategy_params params;
};

static int
stat_compile(struct det *d, const char **why)
{
	const struct sn_detector *c = d->cfg;
	const char *name = c->strategy ? c->strategy : "auto";
	struct stat_priv *p;
	const struct strategy *st;
	struct strategy_params params;

	if (d->metric == DET_M_NONE) {
		*why = "statistical detector without a metric";
		return -1;
	}
	if ((st = strategy_find(name)) == NULL) {
		*why = "unknown strategy (zscore, mad, iqr, ewma, cusum, auto)";
		return -1;
	}
	if (c->window_ms <= 0) {
		*why = "statistical detector without a window";
		return -1;
	}
	d->agg = DET_AGG_AVG;
	if (c->aggregation != NULL &&
	    (det_agg_parse(c->aggregation, &d->agg) < 0 ||
	     d->agg == DET_AGG_EACH)) {
		*why = "unknown aggregation (avg, min, max, sum, count, p50, "
		       "p90, p95, p99, last)";
		return -1;
	}
	if (d->metric >= DET_M_ERROR_RATE) {
		if (d->agg != DET_AGG_AVG) {
			*why = "a derived metric takes no aggregation";
			return -1;
		}
		d->agg = DET_AGG_DERIVED;
	}
	memset(&params, 0, sizeof(params));
	params.threshold =
	        c->has_threshold ? c->threshold : st->default_threshold;
	params.history = c->history ? c->history : DET_HISTORY_DEFAULT;
	if (params.history > DET_HISTORY_MAX) {
		*why = "history is above 10000 windows";
		return -1;
	}
	params.min_samples = c->min_samples;
	if (c->direction == NULL || strcmp(c->direction, "both") == 0)
		params.direction = 0;
	else if (strcmp(c->direction, "up") == 0)
		params.direction = 1;
	else if (strcmp(c->direction, "down") == 0)
		params.direction = -1;
	else {
		*why = "direction must be up, down or both";
		return -1;
	}
	d->window_ms = c->window_ms;
	d->min_samples = 0;
	/* After history empty windows the history is all zeros. */
	d->empty_cap = params.history + 1;
	d->type_size = st->state_size(&params);
	p = sn_xcalloc(1, sizeof(*p));
	p->strategy = st;
	p->params = params;
	d->priv = p;
	return 0;
}

static void
stat_group_init(const struct det *d, void *tstate)
{
	const struct stat_priv *p = d->priv;

	p->strategy->init(tstate, &p->params);
}

static void
stat_judge(const struct det *d, void *tstate, const struct det_sample *s,
           struct det_verdict *v)
{
	const struct stat_priv *p = d->priv;
	struct strategy_result res;

	v->threshold = p->params.threshold;
	if (!s->has_value) {
		v->why = "no value in the window";
		return;
	}
	v->value = s->value;
	memset(&res, 0, sizeof(res));
	p->strategy->observe(tstate, &p->params, s->value, &res);
	if (!res.ready) {
		v->why = "not enough history yet to score the window";
		return;
	}
	v->decided = 1;
	v->hit = res.anomalous;
	v->score = res.score;
	v->expected = res.expected;
}

/* The check of det_type: the strategy's own (strategy.h). */
static int
stat_check_state(const struct det *d, const void *tstate)
{
	const struct stat_priv *p = d->priv;

	return p->strategy->check(tstate, &p->params);
}

static void
stat_describe(const struct det *d, const struct det_verdict *v, int resolved,
              char *buf, size_t size)
{
	const struct stat_priv *p = d->priv;
	char val[32], exp[32], score[32], lim[32];
	const char *agg = d->agg == DET_AGG_DERIVED ? "" : det_agg_name(d->agg);

	det_fmt(val, sizeof(val), v->value);
	det_fmt(exp, sizeof(exp), v->expected);
	snprintf(score, sizeof(score), "%.2f", v->score);
	det_fmt(lim, sizeof(lim), v->threshold);
	snprintf(buf, size,
	         "%s%s%s%s %s %s (%s score %s, threshold %s, expected %s)",
	         resolved ? "resolved: " : "", agg, *agg ? " " : "",
	         d->metric_name, val,
	         resolved
	                 ? "back to normal"
	                 : (v->score >= 0 ? "unusually high" : "unusually low"),
	         p->strategy->name, score, lim, exp);
}

static void
stat_free(struct det *d)
{
	free(d->priv);
	d->priv = NULL;
}

const struct det_type det_statistical_type = {
        .name = "statistical",
        .compile = stat_compile,
        .group_init = stat_group_init,
        .judge = stat_judge,
        .check_state = stat_check_state,
        .describe = stat_describe,
        .free = stat_free,
};
