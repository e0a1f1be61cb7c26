/*
 * strategy_impl.h: pieces shared by the strategy files (not part of the
 * strategy interface; include strategy.h for that): parameter defaults,
 * the history ring kept inside a flat state block, order statistics of
 * the ring, the capped score, the checks of a state read back from disk
 * (strategy.h check), and the strategies' state layouts.
 *
 * Static inline so each strategy file stays self-contained and nothing
 * here needs a prototype in a public header.
 */
#ifndef SN_STRATEGY_IMPL_H
#define SN_STRATEGY_IMPL_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "strategy.h"

#define STRAT_DEFAULT_HISTORY 30
/* History is bounded so state stays small and the order statistics can
 * use a stack copy of the ring (80 KB at most). */
#define STRAT_MAX_HISTORY 10000
/*
 * The score of a value that differs from a history with no spread at all
 * (a flat series that changes): "infinitely" anomalous, but finite so it
 * prints, compares and survives JSON.  Every score is clamped to it.
 */
#define STRAT_SCORE_CAP 1e9

/* Buckets of history for p: 0 means the default, capped at the max. */
static inline uint32_t
strat_history(const struct strategy_params *p)
{
	uint32_t h = p->history == 0 ? STRAT_DEFAULT_HISTORY : p->history;

	return h > STRAT_MAX_HISTORY ? STRAT_MAX_HISTORY : h;
}

/*
 * Buckets seen before scoring: min_samples when given, else
 * max(5, history / 3).  At least 2, since a spread needs two values.
 */
static inline uint32_t
strat_min_samples(const struct strategy_params *p)
{
	uint32_t h = strat_history(p), m = p->min_samples;

	if (m == 0)
		m = h / 3 > 5 ? h / 3 : 5;
	return m < 2 ? 2 : m;
}

/* Clamps a score to +/- STRAT_SCORE_CAP. */
static inline double
strat_clamp(double score)
{
	if (score > STRAT_SCORE_CAP)
		return STRAT_SCORE_CAP;
	if (score < -STRAT_SCORE_CAP)
		return -STRAT_SCORE_CAP;
	return score;
}

/*
 * (x - center) / spread, clamped.  A spread of zero (or one so small the
 * quotient overflows) gives 0 when x equals the center and the capped
 * score otherwise, so a flat series that changes fires.
 */
static inline double
strat_score(double x, double center, double spread)
{
	double d = x - center;

	if (d == 0)
		return 0;
	if (!(spread > 0))
		return d > 0 ? STRAT_SCORE_CAP : -STRAT_SCORE_CAP;
	return strat_clamp(d / spread);
}

/*
 * Fills res for a ready score.  The threshold is the detector's, or the
 * strategy's default when the params leave it unset (<= 0).
 */
static inline void
strat_judge(const struct strategy_params *p, double def_threshold, double score,
            double expected, struct strategy_result *res)
{
	struct strategy_params q = *p;

	if (!(q.threshold > 0))
		q.threshold = def_threshold;
	res->ready = 1;
	res->score = score;
	res->expected = expected;
	res->anomalous = strategy_is_anomalous(&q, score);
}

/* A result that says nothing (not ready, or value ignored). */
static inline void
strat_not_ready(struct strategy_result *res)
{
	res->ready = 0;
	res->score = 0;
	res->expected = NAN;
	res->anomalous = 0;
}

/*
 * The history ring: cap slots of values, n filled, head the next slot
 * written (the oldest value once full).  It lives at the end of each
 * strategy's state block.
 */
struct strat_ring {
	uint32_t cap, n, head, pad;
};

/*
 * Pushes x into ring r whose values are at v.  Returns the value it
 * replaced through *old (when the ring was full) and whether it did.
 */
static inline int
strat_ring_push(struct strat_ring *r, double *v, double x, double *old)
{
	int full = r->n == r->cap;

	if (full)
		*old = v[r->head];
	else
		r->n++;
	v[r->head] = x;
	r->head = r->head + 1 == r->cap ? 0 : r->head + 1;
	return full;
}

/*
 * Checks a ring read back from disk (strategy.h: check): it is the ring
 * strat_ring_push keeps for a history of cap after seen values: the
 * same cap, n = min(seen, cap), head in [0, cap) and equal to n until
 * the ring is full.  0 or -1.
 */
static inline int
strat_ring_check(const struct strat_ring *r, uint32_t cap, uint64_t seen)
{
	if (r->cap != cap || r->n > cap || r->head >= cap)
		return -1;
	if (r->n < cap && r->head != r->n)
		return -1;
	return r->n == (seen < cap ? seen : cap) ? 0 : -1;
}

/* 0 when v[0..n) are all finite (observe learns nothing else), or -1. */
static inline int
strat_check_finite(const double *v, uint32_t n)
{
	uint32_t i;

	for (i = 0; i < n; i++)
		if (!isfinite(v[i]))
			return -1;
	return 0;
}

/*
 * Rearranges a[0..n) so a[k] is the value of rank k (0-based) and
 * everything before it is <= and after it >= (quickselect, median of
 * three pivots, insertion sort once the part is short).  O(n) on
 * average.
 */
static inline void
strat_select(double *a, size_t n, size_t k)
{
	size_t lo = 0, hi = n - 1;

	while (hi > lo) {
		size_t mid = lo + (hi - lo) / 2, i, j;
		double t, pivot;

		if (hi - lo < 32) {
			/* Short runs: insertion sort mispredicts less. */
			for (i = lo + 1; i <= hi; i++) {
				t = a[i];
				for (j = i; j > lo && a[j - 1] > t; j--)
					a[j] = a[j - 1];
				a[j] = t;
			}
			return;
		}

		/* Order a[lo], a[mid], a[hi]; the median is the pivot. */
		if (a[mid] < a[lo]) {
			t = a[mid], a[mid] = a[lo], a[lo] = t;
		}
		if (a[hi] < a[lo]) {
			t = a[hi], a[hi] = a[lo], a[lo] = t;
		}
		if (a[hi] < a[mid]) {
			t = a[hi], a[hi] = a[mid], a[mid] = t;
		}
		pivot = a[mid];
		i = lo;
		j = hi;
		/* Hoare partition: [lo, j] <= pivot <= [i, hi]. */
		while (i <= j) {
			while (a[i] < pivot)
				i++;
			while (a[j] > pivot)
				j--;
			if (i <= j) {
				t = a[i], a[i] = a[j], a[j] = t;
				i++;
				if (j == 0)
					break;
				j--;
			}
		}
		if (k <= j)
			hi = j;
		else if (k >= i)
			lo = i;
		else
			return; /* between the parts: equal to the pivot */
	}
}

/*
 * The q-quantile of a[0..n) (n > 0) by linear interpolation between the
 * values of rank floor((n-1)q) and the next (R's type 7, numpy's
 * default).  Reorders a.
 */
static inline double
strat_quantile(double *a, size_t n, double q)
{
	double pos = (double)(n - 1) * q, frac, lo, next;
	size_t k = (size_t)pos, i;

	if (k >= n - 1)
		k = n - 1;
	frac = pos - (double)k;
	strat_select(a, n, k);
	lo = a[k];
	if (frac <= 0 || k + 1 >= n)
		return lo;
	/* The next rank is the smallest value after the selected one. */
	next = a[k + 1];
	for (i = k + 2; i < n; i++)
		if (a[i] < next)
			next = a[i];
	return lo + frac * (next - lo);
}

/*
 * A sliding window of the last cap values with running sums for an O(1)
 * mean and population variance.  The sums are of (value - shift), shift
 * being near the mean, so a flat series sums to exactly 0 and large
 * levels do not cancel catastrophically; they are recomputed from the
 * ring each time it wraps (O(cap) every cap values: O(1) amortised), so
 * rounding from removals never accumulates.
 */
struct strat_window {
	struct strat_ring r;
	double shift, sum, sumsq; /* of (v - shift) over the ring */
};

static inline void
strat_window_recompute(struct strat_window *w, const double *v)
{
	double m = 0, d;
	uint32_t i;

	for (i = 0; i < w->r.n; i++)
		m += v[i];
	m /= w->r.n;
	w->shift = m;
	w->sum = w->sumsq = 0;
	for (i = 0; i < w->r.n; i++) {
		d = v[i] - m;
		w->sum += d;
		w->sumsq += d * d;
	}
}

/* Learns x (finite) into window w whose values are at v. */
static inline void
strat_window_add(struct strat_window *w, double *v, double x)
{
	double old = 0, d;

	if (w->r.n == 0)
		w->shift = x;
	if (strat_ring_push(&w->r, v, x, &old)) {
		d = old - w->shift;
		w->sum -= d;
		w->sumsq -= d * d;
	}
	d = x - w->shift;
	w->sum += d;
	w->sumsq += d * d;
	if (w->r.head == 0)
		strat_window_recompute(w, v);
}

/* Mean of the window (n > 0). */
static inline double
strat_window_mean(const struct strat_window *w)
{
	return w->shift + w->sum / w->r.n;
}

/* Population standard deviation of the window (n > 0). */
static inline double
strat_window_sd(const struct strat_window *w)
{
	double m = w->sum / w->r.n, var = w->sumsq / w->r.n - m * m;

	return var > 0 ? sqrt(var) : 0;
}

/*
 * Checks a window read back from disk whose values are at v, for a
 * history of cap after seen values: its ring (strat_ring_check), its
 * values and its sums finite.  0 or -1.  (The sums could overflow on
 * values near DBL_MAX; such a window scores NaN until it wraps, and is
 * refused here: nothing is lost by starting it over.)
 */
static inline int
strat_window_check(const struct strat_window *w, const double *v, uint32_t cap,
                   uint64_t seen)
{
	if (strat_ring_check(&w->r, cap, seen) < 0 ||
	    strat_check_finite(v, w->r.n) < 0)
		return -1;
	if (!isfinite(w->shift) || !isfinite(w->sum) || !isfinite(w->sumsq))
		return -1;
	return 0;
}

/*
 * Strategies that score a value by order statistics of the whole history
 * (mad, iqr) share one state layout and one observe: they differ only in
 * the score function, which gets a read-only view of the n values kept
 * and returns the score of x, and the expected value through *expected.
 */
struct strat_hist_state {
	uint64_t seen;        /* finite values learnt */
	uint32_t min_samples; /* resolved from the params */
	uint32_t pad;
	struct strat_ring r; /* the history */
	double v[];          /* r.cap values */
};

typedef double (*strat_hist_score_fn)(const double *v, uint32_t n, double x,
                                      double *expected);

static inline size_t
strat_hist_state_size(const struct strategy_params *p)
{
	return sizeof(struct strat_hist_state) +
	       (size_t)strat_history(p) * sizeof(double);
}

static inline void
strat_hist_init(void *state, const struct strategy_params *p)
{
	struct strat_hist_state *h = state;

	h->min_samples = strat_min_samples(p);
	h->r.cap = strat_history(p);
}

/* Scores x with score once min_samples values are known, then learns it. */
static inline void
strat_hist_observe(void *state, const struct strategy_params *p, double x,
                   struct strategy_result *res, strat_hist_score_fn score,
                   double default_threshold)
{
	struct strat_hist_state *h = state;
	double old, sc, expected;

	if (!isfinite(x)) {
		strat_not_ready(res);
		return;
	}
	if (h->seen >= h->min_samples) {
		sc = score(h->v, h->r.n, x, &expected);
		strat_judge(p, default_threshold, sc, expected, res);
	} else
		strat_not_ready(res);
	strat_ring_push(&h->r, h->v, x, &old);
	h->seen++;
}

/*
 * strategy.h check for mad and iqr: min_samples as init resolves it
 * (the score needs n > 0 once seen reaches it), the ring of a history
 * of p's length, and its values finite.
 */
static inline int
strat_hist_check(const void *state, const struct strategy_params *p)
{
	const struct strat_hist_state *h = state;

	if (h->min_samples != strat_min_samples(p) ||
	    strat_ring_check(&h->r, strat_history(p), h->seen) < 0)
		return -1;
	return strat_check_finite(h->v, h->r.n);
}

/* --- state layouts ------------------------------------------------------
 *
 * The other strategies' state blocks.  They are here rather than in
 * their files only so that test_strategy_check.c can break a state field
 * by field; no strategy file reads another's.
 */

/* zscore (strategy_zscore.c). */
struct zscore_state {
	uint64_t seen;        /* finite values learnt */
	uint32_t min_samples; /* resolved from the params */
	uint32_t pad;
	struct strat_window w; /* the history and its sums */
	double v[];            /* w.r.cap values */
};

/* cusum (strategy_cusum.c). */
struct cusum_state {
	uint64_t seen;        /* finite values learnt */
	uint32_t min_samples; /* resolved from the params */
	uint32_t pad;
	double spos, sneg;     /* S+ and S-, both >= 0 */
	struct strat_window w; /* the history and its sums */
	double v[];            /* w.r.cap values */
};

/* ewma (strategy_ewma.c). */
struct ewma_state {
	uint64_t seen;        /* finite values learnt */
	uint32_t min_samples; /* resolved from the params */
	uint32_t pad;
	double alpha; /* steady-state weight of a new value */
	double mean, var;
};

/* auto (strategy_auto.c, where the other constants are). */
#define AUTO_RING 288 /* buckets of the spike test's history */
#define AUTO_BINS 64  /* histogram bins */
#define AUTO_RUN  10  /* buckets whose rarity is averaged */

struct auto_state {
	uint64_t seen;        /* finite values learnt */
	uint64_t since;       /* scored buckets since an anomaly began */
	uint32_t min_samples; /* resolved from the params */
	uint32_t run_head;    /* next slot of run[] */
	uint32_t active;      /* the last bucket was anomalous */
	uint32_t hist_ready;  /* bins[] set up (after AUTO_LEARN) */
	double lo, hi;        /* lowest and highest value learnt */
	double zmax;          /* decaying memory of |z|, <= AUTO_Z_CAP */
	double bin_lo, bin_w; /* bins[i] covers bin_lo + [i, i+1) bin_w */
	double bin_total;     /* decayed count of all bins */
	double bins[AUTO_BINS];
	double run[AUTO_RUN]; /* share of the past of recent values' bins */
	struct strat_ring r;  /* the spike test's history: ring[] */
	double ring[AUTO_RING];
};

#endif
