/*
 * strategy_ewma.c: exponentially weighted mean and variance: recent
 * buckets count most, so the baseline follows slow drift while a sudden
 * change still stands out.
 *
 *   alpha = 2 / (history + 1)   (history 30: alpha 0.0645)
 *   score = (x - mean) / sqrt(var)      default threshold 3.0
 *
 * Update (Finch, "Incremental calculation of weighted mean and
 * variance", 2009): d = x - mean; mean += a d; var = (1 - a)(var + a d^2).
 * While warming up the weight is a = max(alpha, 1/n) for the n-th value,
 * which makes the first values' mean and variance the plain (population)
 * ones instead of being dominated by the very first value; no score is
 * given before min_samples values.  A variance of 0 (a flat series)
 * scores like zscore: 0 for the same value, the capped score otherwise.
 * O(1) per value, no history ring: the state is a few doubles.
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "strategy.h"
#include "strategy_impl.h"

/* The state, struct ewma_state, is in strategy_impl.h. */

/* The steady-state weight for p, as init sets it. */
static double
ewma_alpha(const struct strategy_params *p)
{
	return 2.0 / ((double)strat_history(p) + 1);
}

static size_t
ewma_state_size(const struct strategy_params *p)
{
	(void)p;
	return sizeof(struct ewma_state);
}

static void
ewma_init(void *state, const struct strategy_params *p)
{
	struct ewma_state *e = state;

	e->min_samples = strat_min_samples(p);
	e->alpha = ewma_alpha(p);
}

static void
ewma_observe(void *state, const struct strategy_params *p, double x,
             struct strategy_result *res)
{
	struct ewma_state *e = state;
	double a, d, incr;

	if (!isfinite(x)) {
		strat_not_ready(res);
		return;
	}
	if (e->seen >= e->min_samples)
		strat_judge(p, strategy_ewma.default_threshold,
		            strat_score(x, e->mean, sqrt(e->var)), e->mean,
		            res);
	else
		strat_not_ready(res);
	e->seen++;
	a = 1.0 / (double)e->seen;
	if (a < e->alpha)
		a = e->alpha;
	d = x - e->mean;
	incr = a * d;
	e->mean += incr;
	e->var = (1 - a) * (e->var + d * incr);
}

/*
 * strategy.h check: min_samples and alpha as init sets them (alpha is
 * computed the same way, so it compares equal), the mean finite and the
 * variance finite and >= 0 ((1 - a) times a sum of non-negative terms).
 * An ewma whose variance overflowed (values near DBL_MAX) stays at inf
 * or NaN for good: refusing it loses nothing.
 */
static int
ewma_check(const void *state, const struct strategy_params *p)
{
	const struct ewma_state *e = state;

	if (e->min_samples != strat_min_samples(p) ||
	    e->alpha != ewma_alpha(p) || !isfinite(e->mean) ||
	    !(isfinite(e->var) && e->var >= 0))
		return -1;
	return 0;
}

const struct strategy strategy_ewma = {
        .name = "ewma",
        .default_threshold = 3.0,
        .state_size = ewma_state_size,
        .init = ewma_init,
        .observe = ewma_observe,
        .check = ewma_check,
};
