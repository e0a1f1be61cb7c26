/*
 * strategy_cusum.c: two-sided CUSUM (Page, 1954) for level shifts: small
 * deviations in the same direction add up until they are significant,
 * which catches a sustained shift that no single bucket would.
 *
 *   z  = (x - mean) / sd   over the last `history` buckets (as zscore)
 *   S+ = max(0, S+ + z - k)      S- = max(0, S- - z - k)      k = 0.5
 *   score = S+ if S+ >= S-, else -S-       default threshold 5.0
 *
 * k = 0.5 sd is the classic slack, tuned to detect a shift of one
 * standard deviation.  The sums start once min_samples buckets are known.
 * After an alarm (either sum reaching the threshold, whatever the
 * direction asked for) both sums are reset to 0, as a CUSUM chart is
 * restarted after a signal: a shift that persists fires again only after
 * it has accumulated again, and the baseline meanwhile learns the new
 * level.  sd 0 (a flat history) gives z = 0 or the capped score, like
 * zscore.  O(1) per value.
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "strategy.h"
#include "strategy_impl.h"

#define CUSUM_SLACK 0.5 /* k, in standard deviations */

/* The state, struct cusum_state, is in strategy_impl.h. */

static size_t
cusum_state_size(const struct strategy_params *p)
{
	return sizeof(struct cusum_state) +
	       (size_t)strat_history(p) * sizeof(double);
}

static void
cusum_init(void *state, const struct strategy_params *p)
{
	struct cusum_state *c = state;

	c->min_samples = strat_min_samples(p);
	c->w.r.cap = strat_history(p);
}

static void
cusum_observe(void *state, const struct strategy_params *p, double x,
              struct strategy_result *res)
{
	struct cusum_state *c = state;
	double mean, z, score, thr;

	if (!isfinite(x)) {
		strat_not_ready(res);
		return;
	}
	if (c->seen >= c->min_samples) {
		mean = strat_window_mean(&c->w);
		z = strat_score(x, mean, strat_window_sd(&c->w));
		c->spos = fmax(0, c->spos + z - CUSUM_SLACK);
		c->sneg = fmax(0, c->sneg - z - CUSUM_SLACK);
		score = strat_clamp(c->spos >= c->sneg ? c->spos : -c->sneg);
		strat_judge(p, strategy_cusum.default_threshold, score, mean,
		            res);
		thr = p->threshold > 0 ? p->threshold
		                       : strategy_cusum.default_threshold;
		if (fabs(score) >= thr)
			c->spos = c->sneg = 0;
	} else
		strat_not_ready(res);
	strat_window_add(&c->w, c->v, x);
	c->seen++;
}

/*
 * strategy.h check: min_samples as init resolves it, the window, and
 * both sums finite and >= 0 (fmax(0, ...) keeps them so, NaN included).
 */
static int
cusum_check(const void *state, const struct strategy_params *p)
{
	const struct cusum_state *c = state;

	if (c->min_samples != strat_min_samples(p) ||
	    !(isfinite(c->spos) && c->spos >= 0) ||
	    !(isfinite(c->sneg) && c->sneg >= 0))
		return -1;
	return strat_window_check(&c->w, c->v, strat_history(p), c->seen);
}

const struct strategy strategy_cusum = {
        .name = "cusum",
        .default_threshold = 5.0,
        .state_size = cusum_state_size,
        .init = cusum_init,
        .observe = cusum_observe,
        .check = cusum_check,
};
