/*
 * detector_rate.c: the "rate" detector type: the number of matching
 * events per window against a threshold or against a baseline.
 *
 *   config:
 *     metric: cost            optional: count only events carrying this
 *                             field (absent: every matching event)
 *     window: 5m              required
 *     condition: less_than    as for threshold
 *     threshold: 1            a count; with baseline: history, a ratio
 *     baseline: history       none (default) or history: the limit is
 *                             threshold x the mean count of the last
 *                             history windows
 *     history: 30
 *     min_samples: 5          baseline: the fewest events per window
 *                             the baseline must average before a group
 *                             is judged (default 1), so a group that
 *                             only trickles does not alarm at each pause
 *
 * With a baseline, a group is judged only once it has RATE_WARMUP
 * windows of history (or history, if fewer).
 *
 * Absence: a group that has been seen keeps getting its windows closed
 * by the watermark with no events, so "less_than 1" fires when an
 * application goes silent, and resolves when it comes back.  Groups
 * never seen are never reported.
 *
 * The baseline learns only windows that did not fire: an outage must not
 * become the new normal (a silent application would otherwise resolve
 * once its history is all zeros).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "detector.h"

struct rate_priv {
	enum det_cond cond;
	double threshold;
	int baseline;     /* threshold is a ratio of the mean */
	uint32_t history; /* windows kept */
	uint32_t warmup;  /* windows of history before judging */
	double min_mean;  /* baseline mean needed before judging */
};

#define RATE_WARMUP 5

/* A group's baseline is a struct det_rate_state (detector.h). */

static int
rate_compile(struct det *d, const char **why)
{
	const struct sn_detector *c = d->cfg;
	struct rate_priv *r;
	enum det_cond cond;
	int baseline = 0;

	if (d->metric != DET_M_NONE && d->metric != DET_M_KNOWN &&
	    d->metric != DET_M_DATA) {
		*why = "rate counts events: its metric must be a field events "
		       "carry, not a derived metric";
		return -1;
	}
	if (c->window_ms <= 0) {
		*why = "rate detector without a window";
		return -1;
	}
	if (!c->has_threshold) {
		*why = "rate detector without a threshold";
		return -1;
	}
	if (det_cond_parse(c->condition, &cond) < 0) {
		*why = "unknown or missing condition (greater_than, "
		       "greater_or_equal, less_than, less_or_equal, equal, "
		       "not_equal)";
		return -1;
	}
	if (c->aggregation != NULL && strcmp(c->aggregation, "count") != 0) {
		*why = "rate counts events: aggregation must be count or "
		       "absent";
		return -1;
	}
	if (c->baseline != NULL && strcmp(c->baseline, "history") == 0)
		baseline = 1;
	else if (c->baseline != NULL && strcmp(c->baseline, "none") != 0) {
		*why = "baseline must be none or history";
		return -1;
	}
	r = sn_xcalloc(1, sizeof(*r));
	r->cond = cond;
	r->threshold = c->threshold;
	r->baseline = baseline;
	r->history = c->history ? c->history : DET_HISTORY_DEFAULT;
	if (r->history > DET_HISTORY_MAX) {
		free(r);
		*why = "history is above 10000 windows";
		return -1;
	}
	r->warmup = r->history < RATE_WARMUP ? r->history : RATE_WARMUP;
	r->min_mean = c->min_samples ? c->min_samples : 1;
	d->priv = r;
	d->agg = DET_AGG_COUNT;
	d->window_ms = c->window_ms;
	d->min_samples = 0;
	d->empty_cap = baseline ? r->history + 1 : 1;
	d->type_size = baseline ? sizeof(struct det_rate_state) +
	                                  r->history * sizeof(double)
	                        : 0;
	return 0;
}

static void
rate_group_init(const struct det *d, void *tstate)
{
	(void)d;
	(void)tstate; /* zeroed is an empty baseline */
}

static void
rate_learn(const struct rate_priv *r, struct det_rate_state *st, double count)
{
	if (st->n == r->history)
		st->sum -= st->counts[st->next];
	else
		st->n++;
	st->counts[st->next] = count;
	st->sum += count;
	st->next = (st->next + 1) % r->history;
}

static void
rate_judge(const struct det *d, void *tstate, const struct det_sample *s,
           struct det_verdict *v)
{
	const struct rate_priv *r = d->priv;
	struct det_rate_state *st = tstate;
	double mean;

	v->value = v->score = s->value;
	v->threshold = r->threshold;
	if (!r->baseline) {
		v->decided = 1;
		v->hit = det_cond_test(r->cond, s->value, r->threshold);
		return;
	}
	if (st->n < r->warmup) {
		v->why = "not enough history yet for a baseline";
		rate_learn(r, st, s->value);
		return;
	}
	mean = st->sum / st->n;
	v->expected = mean;
	if (mean < r->min_mean) {
		v->why = "baseline below min_samples events per window";
		rate_learn(r, st, s->value);
		return;
	}
	v->threshold = r->threshold * mean;
	v->score = mean > 0 ? s->value / mean : s->value > 0 ? INFINITY : 1;
	v->decided = 1;
	v->hit = det_cond_test(r->cond, s->value, v->threshold);
	if (!v->hit)
		rate_learn(r, st, s->value);
}

/*
 * The check of det_type: without a baseline there is no state.  With
 * one, the ring is rate_learn's after n counts: n <= history, next in
 * [0, history) and equal to n until full; the counts learnt are window
 * counts (finite, >= 0); and sum is theirs.  The sum is never
 * recomputed from the ring, so a wrong one would skew the baseline for
 * good: it must match to rounding (counts are integers, exact in a
 * double up to 2^53, so in practice it matches exactly).
 */
static int
rate_check_state(const struct det *d, const void *tstate)
{
	const struct rate_priv *r = d->priv;
	const struct det_rate_state *st = tstate;
	double sum = 0;
	uint32_t i;

	if (!r->baseline)
		return 0;
	if (st->n > r->history || st->next >= r->history ||
	    (st->n < r->history && st->next != st->n))
		return -1;
	for (i = 0; i < st->n; i++) {
		if (!(isfinite(st->counts[i]) && st->counts[i] >= 0))
			return -1;
		sum += st->counts[i];
	}
	if (!isfinite(sum) || !isfinite(st->sum) ||
	    !(fabs(st->sum - sum) <= 1e-9 * (sum > 1 ? sum : 1)))
		return -1;
	return 0;
}

static void
rate_describe(const struct det *d, const struct det_verdict *v, int resolved,
              char *buf, size_t size)
{
	const struct rate_priv *r = d->priv;
	char val[32], lim[32], ratio[32], mean[32];
	const char *op =
	        resolved ? det_cond_not_op(r->cond) : det_cond_op(r->cond);
	int n;

	det_fmt(val, sizeof(val), v->value);
	det_fmt(lim, sizeof(lim), v->threshold);
	n = snprintf(buf, size, "%scount of %s%s %s %s %s",
	             resolved ? "resolved: " : "",
	             d->metric == DET_M_NONE ? "" : "events with ",
	             d->metric_name, val, op, lim);
	if (r->baseline && n > 0 && (size_t)n < size) {
		det_fmt(ratio, sizeof(ratio), r->threshold);
		det_fmt(mean, sizeof(mean), v->expected);
		snprintf(buf + n, size - (size_t)n, " (%s x baseline %s)",
		         ratio, mean);
	}
}

static void
rate_free(struct det *d)
{
	free(d->priv);
	d->priv = NULL;
}

const struct det_type det_rate_type = {
        .name = "rate",
        .compile = rate_compile,
        .group_init = rate_group_init,
        .judge = rate_judge,
        .check_state = rate_check_state,
        .describe = rate_describe,
        .free = rate_free,
};
