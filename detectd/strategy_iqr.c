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
	strat_hist_observe(state, p, x, res, iqr_score,
	                   strategy_iqr.default_threshold);
}

const struct strategy strategy_iqr = {
        .name = "iqr",
        .default_threshold = 1.5,
        .state_size = strat_hist_state_size,
        .init = strat_hist_init,
        .observe = iqr_observe,
        .check = strat_hist_check,
};
