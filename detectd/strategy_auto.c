/*
 * strategy_auto.c: the tuning-free default of statistical detectors.
 *
 * One detector has to serve latency in milliseconds, tokens per minute,
 * dollars and error shares, smooth or spiky, flat or daily-cyclic, and
 * nobody will tune it.  So "auto" is scale-free and judges each bucket
 * with three tests, each suited to a kind of anomaly a plain z-score
 * handles badly, and reports the strongest:
 *
 *   1. spike: the z-score of the value against the last AUTO_RING (288)
 *      buckets, one day of 5-minute buckets.  It must reach AUTO_Z_MIN
 *      (6.5) and also AUTO_Z_KEEP (0.8) of the largest |z| seen lately
 *      (a memory that decays by AUTO_Z_DECAY per bucket, half-life about
 *      1400 buckets, and that never holds more than AUTO_Z_CAP, so one
 *      absurd value does not blind the test for weeks).  After a big
 *      spike, smaller ones are not news for a few days; spikes that are
 *      routine (several a day) are inside the day's spread anyway.
 *   2. new range: a value beyond the lowest or highest value ever seen
 *      by more than AUTO_RANGE_TOL (2%) of that range: a level never
 *      reached before.
 *   3. rare level: a 64-bin histogram of every value learnt (each count
 *      decaying by 1/10000 per bucket; the bins double in width when a
 *      value falls outside them) gives each value the share of the past
 *      spent in its bin; when the mean share of the last AUTO_RUN (10)
 *      buckets is under AUTO_RARE (0.2%), the series sits at a level it
 *      rarely visits (a stuck value, a plateau between two usual
 *      levels), which is neither a spike nor a new extreme.
 *
 *   score = max over the tests of (test statistic / its limit)
 *
 * signed by the side of the deviation, so 1.0 is the edge at which the
 * first test fires.  The default threshold is 1.0; a threshold of 2
 * makes every test twice as strict.  Tests 2 and 3 wait AUTO_LEARN
 * (300) buckets, so the range and the histogram mean something; the
 * spike test waits min_samples (default AUTO_MIN_SAMPLES, 30).
 *
 * A new anomaly is reported only when AUTO_REFRACTORY (120) buckets
 * have passed since the last one began, so an incident is one alert,
 * not one per bucket.  While the score stays over the threshold bucket
 * after bucket the anomaly goes on being reported (one firing for the
 * engine); it resolves at the first bucket under it.  A lasting level
 * shift thus fires at its onset and resolves soon after, once the new
 * level has stopped being surprising.
 *
 * The constants were chosen on the NAB benchmark (docs/
 * detection-quality.md: standard 67.8, low FP 56.0, low FN 73.9 on the
 * 29 files given) with one set for all files.  `history` is not used:
 * the horizons are fixed.  State: about 3 KB per group, no pointers.
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "strategy.h"
#include "strategy_impl.h"

#define AUTO_MIN_SAMPLES   30     /* default min_samples */
#define AUTO_Z_MIN         6.5    /* least |z| of a spike */
#define AUTO_Z_KEEP        0.8    /* and this share of the recent max |z| */
#define AUTO_Z_DECAY       0.9995 /* per bucket, of the recent max |z| */
#define AUTO_Z_CAP         100.0  /* most one spike adds to that memory */
#define AUTO_LEARN         300    /* buckets before tests 2 and 3 */
#define AUTO_RANGE_TOL     0.02   /* share of the range to exceed */
#define AUTO_BIN_KEEP      0.9999 /* per bucket, of each bin's count */
#define AUTO_RARE          0.002  /* mean share of a rare level */
#define AUTO_REFRACTORY    120    /* buckets between two anomalies */
#define AUTO_MAX_DOUBLINGS 64     /* bound on histogram widening per value */
/* AUTO_RING, AUTO_BINS, AUTO_RUN and struct auto_state are in
 * strategy_impl.h. */

/* The score a test gives when its limit is zero (a flat series moved). */
#define AUTO_SCORE_HUGE STRAT_SCORE_CAP

static size_t
auto_state_size(const struct strategy_params *p)
{
	(void)p;
	return sizeof(struct auto_state);
}

/* min_samples as init resolves it from the params. */
static uint32_t
auto_min_samples(const struct strategy_params *p)
{
	uint32_t m = p->min_samples ? p->min_samples : AUTO_MIN_SAMPLES;

	return m < 2 ? 2 : m;
}

/* Values learnt before tests 2 and 3 (and the histogram) start. */
static uint64_t
auto_learn(const struct auto_state *a)
{
	return a->min_samples > AUTO_LEARN ? a->min_samples : AUTO_LEARN;
}

static void
auto_init(void *state, const struct strategy_params *p)
{
	struct auto_state *a = state;

	memset(a, 0, sizeof(*a));
	a->min_samples = auto_min_samples(p);
	a->since = AUTO_REFRACTORY + 1;
	a->r.cap = AUTO_RING;
}

/*
 * Sets up the histogram from the values in the ring: 64 bins over their
 * range widened by a quarter on each side, so the usual level sits in
 * the middle and small excursions do not at once force a widening.
 */
static void
auto_hist_start(struct auto_state *a)
{
	double lo = a->ring[0], hi = a->ring[0], range, b;
	uint32_t i;

	for (i = 1; i < a->r.n; i++) {
		if (a->ring[i] < lo)
			lo = a->ring[i];
		if (a->ring[i] > hi)
			hi = a->ring[i];
	}
	range = hi - lo;
	if (!(range > 0))
		range = fabs(hi) > 0 ? fabs(hi) * 0.01 : 1;
	a->bin_w = range * 1.5 / AUTO_BINS;
	a->bin_lo = lo - range * 0.25;
	for (i = 0; i < a->r.n; i++) {
		/* Compared as a double: a range that overflowed makes it
		 * NaN, which no int conversion may see. */
		b = floor((a->ring[i] - a->bin_lo) / a->bin_w);
		if (b >= 0 && b < AUTO_BINS) {
			a->bins[(int)b] += 1;
			a->bin_total += 1;
		}
	}
	a->hist_ready = 1;
}

/*
 * Widens the histogram until it covers x: each step doubles the bin
 * width, merging bins in pairs, and extends the covered span on x's
 * side.  Bounded, so an absurd value only costs AUTO_MAX_DOUBLINGS
 * steps and lands in an edge bin.  Returns x's bin.
 */
static int
auto_hist_bin(struct auto_state *a, double x)
{
	double nb[AUTO_BINS], nlo, nw, c;
	int i, b, k;

	for (k = 0; k < AUTO_MAX_DOUBLINGS &&
	            (x < a->bin_lo || x >= a->bin_lo + AUTO_BINS * a->bin_w);
	     k++) {
		nlo = x < a->bin_lo ? a->bin_lo - AUTO_BINS * a->bin_w
		                    : a->bin_lo;
		nw = 2 * a->bin_w;
		if (!isfinite(nlo) || !isfinite(nw * AUTO_BINS))
			break; /* near DBL_MAX: the edge bin will do */
		memset(nb, 0, sizeof(nb));
		for (i = 0; i < AUTO_BINS; i++) {
			c = a->bin_lo + (i + 0.5) * a->bin_w;
			b = (int)floor((c - nlo) / nw);
			if (b >= 0 && b < AUTO_BINS)
				nb[b] += a->bins[i];
		}
		memcpy(a->bins, nb, sizeof(nb));
		a->bin_lo = nlo;
		a->bin_w = nw;
	}
	c = floor((x - a->bin_lo) / a->bin_w);
	if (!(c >= 0))
		return 0;
	return c >= AUTO_BINS ? AUTO_BINS - 1 : (int)c;
}

/*
 * Test 2: how far x lies beyond the range learnt, in units of
 * AUTO_RANGE_TOL of that range; 0 inside it.  Sets *up to the side.
 */
static double
auto_range_score(const struct auto_state *a, double x, int *up)
{
	double range = a->hi - a->lo, beyond;

	if (x > a->hi) {
		beyond = x - a->hi;
		*up = 1;
	} else if (x < a->lo) {
		beyond = a->lo - x;
		*up = 0;
	} else
		return 0;
	if (!(range > 0))
		return AUTO_SCORE_HUGE;
	return beyond / (range * AUTO_RANGE_TOL);
}

/*
 * Test 3, and learning into the histogram: the share of the (decayed)
 * past spent in x's bin is pushed into run[]; returns AUTO_RARE over the
 * mean share of the last AUTO_RUN values (>= 1 when rare), or 0 while
 * run[] is not yet full.
 */
static double
auto_rare_score(struct auto_state *a, double x)
{
	double share, mean = 0;
	int b, i;

	b = auto_hist_bin(a, x);
	share = (a->bins[b] + 0.5) / (a->bin_total + 1);
	a->run[a->run_head] = share;
	a->run_head = (a->run_head + 1) % AUTO_RUN;
	for (i = 0; i < AUTO_BINS; i++)
		a->bins[i] *= AUTO_BIN_KEEP;
	a->bin_total = a->bin_total * AUTO_BIN_KEEP + 1;
	a->bins[b] += 1;
	if (a->seen < a->min_samples + AUTO_RUN ||
	    a->seen < (uint64_t)AUTO_LEARN + AUTO_RUN)
		return 0;
	for (i = 0; i < AUTO_RUN; i++)
		mean += a->run[i];
	mean /= AUTO_RUN;
	return AUTO_RARE / mean;
}

/*
 * Mean and population standard deviation of the ring (n > 0), in two
 * passes: exact, so a ring that has become flat again after a spike has
 * a spread of exactly 0, not the residue running sums would leave.
 */
static void
auto_ring_stats(const struct auto_state *a, double *mean, double *sd)
{
	double m = 0, v = 0, d;
	uint32_t i;

	for (i = 0; i < a->r.n; i++)
		m += a->ring[i];
	m /= a->r.n;
	for (i = 0; i < a->r.n; i++) {
		d = a->ring[i] - m;
		v += d * d;
	}
	*mean = m;
	*sd = sqrt(v / a->r.n);
}

/*
 * Scores x with the three tests (see the top of the file), then learns
 * it.  Never allocates; O(AUTO_RING + AUTO_BINS) per value, a few
 * hundred additions: values are buckets, not events, so this is cheap.
 */
static void
auto_observe(void *state, const struct strategy_params *p, double x,
             struct strategy_result *res)
{
	struct auto_state *a = state;
	struct strategy_params q = *p;
	double mean = NAN, sd, z = 0, limit, s, score = 0, old;
	int up = 1, side = 1, scored, over;
	uint64_t learn;

	if (!isfinite(x)) {
		strat_not_ready(res);
		return;
	}
	scored = a->seen >= a->min_samples;
	learn = auto_learn(a);

	/* 1. spike: z against the ring, beside the recent largest |z|. */
	if (a->r.n > 0) {
		auto_ring_stats(a, &mean, &sd);
		if (!isfinite(mean) || !isfinite(sd))
			mean = NAN; /* values near DBL_MAX: no spike test */
		else if (sd > 1e-9 * (fabs(mean) > 1 ? fabs(mean) : 1)) {
			z = (x - mean) / sd;
			limit = AUTO_Z_KEEP * a->zmax;
			if (limit < AUTO_Z_MIN)
				limit = AUTO_Z_MIN;
			score = fabs(z) / limit;
		} else if (x != mean)
			score = AUTO_SCORE_HUGE; /* a flat series moved */
		up = !(x < mean);
	}

	/* 2. new range and 3. rare level, once there is a past to judge. */
	if (a->seen >= learn) {
		if (!a->hist_ready)
			auto_hist_start(a);
		s = auto_range_score(a, x, &side);
		if (s > score) {
			score = s;
			up = side;
		}
		s = auto_rare_score(a, x);
		if (s > score) {
			score = s;
			up = isnan(mean) || x >= mean;
		}
	}

	if (scored) {
		if (!(q.threshold > 0))
			q.threshold = strategy_auto.default_threshold;
		score = strat_clamp(up ? score : -score);
		a->since++;
		over = strategy_is_anomalous(&q, score);
		res->ready = 1;
		res->score = score;
		res->expected = mean;
		/* One anomaly per episode, episodes AUTO_REFRACTORY apart. */
		res->anomalous =
		        over && (a->active || a->since > AUTO_REFRACTORY);
		if (res->anomalous && !a->active)
			a->since = 0;
		a->active = res->anomalous;
		/* Remember this |z| (a spike or not) for the spike test. */
		a->zmax *= AUTO_Z_DECAY;
		if (fabs(z) > a->zmax)
			a->zmax = fabs(z) < AUTO_Z_CAP ? fabs(z) : AUTO_Z_CAP;
	} else
		strat_not_ready(res);

	strat_ring_push(&a->r, a->ring, x, &old);
	if (a->seen == 0 || x < a->lo)
		a->lo = x;
	if (a->seen == 0 || x > a->hi)
		a->hi = x;
	a->seen++;
}

/* 0 when v[0..n) are finite and >= 0 (counts and shares), or -1. */
static int
auto_check_counts(const double *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!(isfinite(v[i]) && v[i] >= 0))
			return -1;
	return 0;
}

/*
 * strategy.h check.  What auto_observe indexes with: the ring (its cap
 * is AUTO_RING, whatever the params) and run_head, which must moreover
 * be where one step per value learnt after the histogram started leaves
 * it; hist_ready set exactly once more than auto_learn values are known.
 * What it relies on: min_samples as init resolves it, flags 0 or 1,
 * since at most what the values seen allow, the range learnt and the
 * ring's values finite (they are values learnt), zmax in [0,
 * AUTO_Z_CAP], the histogram's counts and shares finite and >= 0 and,
 * once it is set up, its bins of a finite positive width over a finite
 * span.  (A series spanning nearly all doubles can overflow that span
 * by itself; it is refused here, and starts over.)
 */
static int
auto_check(const void *state, const struct strategy_params *p)
{
	const struct auto_state *a = state;
	uint64_t learn = auto_learn(a), steps;

	if (a->min_samples != auto_min_samples(p) ||
	    strat_ring_check(&a->r, AUTO_RING, a->seen) < 0 ||
	    strat_check_finite(a->ring, a->r.n) < 0)
		return -1;
	if (a->active > 1 || a->hist_ready != (a->seen > learn) ||
	    a->since > a->seen + AUTO_REFRACTORY + 1)
		return -1;
	steps = a->seen > learn ? a->seen - learn : 0;
	if (a->run_head != steps % AUTO_RUN)
		return -1;
	if (a->seen > 0 &&
	    !(isfinite(a->lo) && isfinite(a->hi) && a->lo <= a->hi))
		return -1;
	if (!(a->zmax >= 0 && a->zmax <= AUTO_Z_CAP))
		return -1;
	if (auto_check_counts(a->bins, AUTO_BINS) < 0 ||
	    auto_check_counts(a->run, AUTO_RUN) < 0 ||
	    auto_check_counts(&a->bin_total, 1) < 0)
		return -1;
	if (a->hist_ready &&
	    !(isfinite(a->bin_lo) && isfinite(a->bin_w) && a->bin_w > 0 &&
	      isfinite(a->bin_lo + AUTO_BINS * a->bin_w)))
		return -1;
	return 0;
}

const struct strategy strategy_auto = {
        .name = "auto",
        .default_threshold = 1.0,
        .state_size = auto_state_size,
        .init = auto_init,
        .observe = auto_observe,
        .check = auto_check,
};
