/*
 * strategy_mad.c: robust z-score (Iglewicz and Hoaglin's modified
 * z-score): median and median absolute deviation (MAD) of the last
 * `history` buckets, so earlier outliers in the history do not inflate
 * the spread and hide the next one, as they do for zscore.
 *
 *   score = 0.6745 (x - median) / MAD       default threshold 3.5
 *
 * (0.6745 makes the score comparable to a z-score for normal data.)
 * When more than half of the history is one value MAD is 0; the score
 * then falls back to (x - median) / (1.253314 MeanAD), MeanAD being the
 * mean absolute deviation from the median (the usual fallback; the
 * constant makes it a standard deviation for normal data), so a mostly
 * flat series with a few blips is still judged by its blips.  When every
 * value is the same, it scores like zscore with sd 0: 0 for the same
 * value, the capped score otherwise.  Even-sized histories take the mean
 * of the two middle values as median.
 *
 * The median is found by selection on a stack copy of the ring: O(history)
 * per value, which is per bucket, not per event.
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "strategy.h"
#include "strategy_impl.h"

#define MAD_SCALE    0.6745   /* MAD of a standard normal */
#define MEANAD_SCALE 1.253314 /* sqrt(pi / 2): MeanAD to sd, normal data */

/* The robust score of x against the n values at v (n > 0); the median
 * through *median. */
static double
mad_score(const double *v, uint32_t n, double x, double *median)
{
	double a[STRAT_MAX_HISTORY], med, mad, meanad = 0;
	uint32_t i;

	memcpy(a, v, n * sizeof(double));
	med = strat_quantile(a, n, 0.5);
	*median = med;
	for (i = 0; i < n; i++) {
		a[i] = fabs(v[i] - med);
		meanad += a[i];
	}
	meanad /= n;
	mad = strat_quantile(a, n, 0.5);
	if (mad > 0)
		return strat_score(x, med, mad / MAD_SCALE);
	return strat_score(x, med, MEANAD_SCALE * meanad);
}

static void
mad_observe(void *state, const struct strategy_params *p, double x,
            struct strategy_result *res)
{
	strat_hist_observe(state, p, x, res, mad_score,
	                   strategy_mad.default_threshold);
}

const struct strategy strategy_mad = {
        .name = "mad",
        .default_threshold = 3.5,
        .state_size = strat_hist_state_size,
        .init = strat_hist_init,
        .observe = mad_observe,
        .check = strat_hist_check,
};
