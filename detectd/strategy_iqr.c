/*
 * strategy_iqr.c: Tukey's fences: a value is an outlier when it lies
 * more than k interquartile ranges outside the middle half of the last
 * `history` buckets.
 *
 *   Q1, Q3 = quartiles of the history (linear interpolation, R type 7)
 *   score = (x - Q3) / IQR  when x > Q3
 *           (x - Q1) / IQR  when x < Q1 (negative)
 *           0               otherwise
 *   threshold = k, default 1.5 (Tukey's "outer" fence is 3.0)
 *
 * IQR 0 (at least half the history is one value) scores like zscore
 * with sd 0: a value outside [Q1, Q3] gets the capped score.  The
 * expected value reported is the median.  Quartiles come from selection
 * on a stack copy of the ring: O(history) per bucket.
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "strategy.h"
#include "strategy_impl.h"

struct iqr_state {
	uint64_t seen;        /* finite values learnt */
	uint32_t min_samples; /* resolved from the params */
	uint32_t pad;
	struct strat_ring r; /* the history */
	double v[];          /* r.cap values */
};

static size_t
iqr_state_size(const struct strategy_params *p)
{
	return sizeof(struct iqr_state) +
	       (size_t)strat_history(p) * sizeof(double);
}

static void
iqr_init(void *state, const struct strategy_params *p)
{
	struct iqr_state *q = state;

	q->min_samples = strat_min_samples(p);
	q->r.cap = strat_history(p);
}

/* The fence score of x against the n values at v (n > 0); the median
 * through *median. */
static double
iqr_score(const double *v, uint32_t n, double x, double *median)
{
	double a[STRAT_MAX_HISTORY], q1, q3;

	memcpy(a, v, n * sizeof(double));
	q1 = strat_quantile(a, n, 0.25);
	q3 = strat_quantile(a, n, 0.75);
	*median = strat_quantile(a, n, 0.5);
	if (x > q3)
		return strat_score(x, q3, q3 - q1);
	if (x < q1)
		return strat_score(x, q1, q3 - q1);
	return 0;
}

static void
iqr_observe(void *state, const struct strategy_params *p, double x,
            struct strategy_result *res)
{
	struct iqr_state *q = state;
	double old, score, median;

	if (!isfinite(x)) {
		strat_not_ready(res);
		return;
	}
	if (q->seen >= q->min_samples) {
		score = iqr_score(q->v, q->r.n, x, &median);
		strat_judge(p, strategy_iqr.default_threshold, score, median,
		            res);
	} else
		strat_not_ready(res);
	strat_ring_push(&q->r, q->v, x, &old);
	q->seen++;
}

const struct strategy strategy_iqr = {
        .name = "iqr",
        .default_threshold = 1.5,
        .state_size = iqr_state_size,
        .init = iqr_init,
        .observe = iqr_observe,
};
