/*
 * strategy_zscore.c: the seed's z-score: how many standard deviations a
 * bucket's value lies from the mean of the last `history` buckets.
 *
 *   score = (x - mean) / sd     default threshold 3.0
 *
 * mean and sd are of the history alone (x is scored before it is
 * learnt); sd is the population standard deviation (divide by n), so
 * history 2 4 4 4 5 5 7 9 has mean 5 and sd 2, and 11 scores 3.0.  A
 * history with no spread (sd 0) scores 0 for the same value and the
 * capped score (1e9, signed) for any other, so a flat series that
 * changes fires.  Observing is O(1): running sums over the ring.
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "strategy.h"
#include "strategy_impl.h"

/* The state, struct zscore_state, is in strategy_impl.h. */

static size_t
zscore_state_size(const struct strategy_params *p)
{
	return sizeof(struct zscore_state) +
	       (size_t)strat_history(p) * sizeof(double);
}

static void
zscore_init(void *state, const struct strategy_params *p)
{
	struct zscore_state *z = state;

	z->min_samples = strat_min_samples(p);
	z->w.r.cap = strat_history(p);
}

static void
zscore_observe(void *state, const struct strategy_params *p, double x,
               struct strategy_result *res)
{
	struct zscore_state *z = state;
	double mean;

	if (!isfinite(x)) {
		strat_not_ready(res);
		return;
	}
	if (z->seen >= z->min_samples) {
		mean = strat_window_mean(&z->w);
		strat_judge(p, strategy_zscore.default_threshold,
		            strat_score(x, mean, strat_window_sd(&z->w)), mean,
		            res);
	} else
		strat_not_ready(res);
	strat_window_add(&z->w, z->v, x);
	z->seen++;
}

/* strategy.h check: min_samples as init resolves it, and the window. */
static int
zscore_check(const void *state, const struct strategy_params *p)
{
	const struct zscore_state *z = state;

	if (z->min_samples != strat_min_samples(p))
		return -1;
	return strat_window_check(&z->w, z->v, strat_history(p), z->seen);
}

const struct strategy strategy_zscore = {
        .name = "zscore",
        .default_threshold = 3.0,
        .state_size = zscore_state_size,
        .init = zscore_init,
        .observe = zscore_observe,
        .check = zscore_check,
};
