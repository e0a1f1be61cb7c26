/*
 * sketch.c: the bounded-memory quantile sketch of sketch.h (DDSketch's
 * idea: logarithmic buckets give a relative-error guarantee).
 *
 * A value v > 0 goes to bucket i = ceil(log(v) / log(gamma)), with
 * gamma = (1 + a) / (1 - a): bucket i holds (gamma^(i-1), gamma^i], and
 * its representative 2 * gamma^i / (gamma + 1) is within relative error
 * a of every value in it.
 *
 * Layout: one flat block, header then 2 * max_bins counters.  The first
 * max_bins counters are the positive store, the second max_bins the
 * negative store, which holds -v by the same rule (a mirror).  Zeros
 * have their own counter.  Each store keeps the occupied index range
 * [lo, hi], never wider than max_bins, and addresses bucket i at slot
 * i mod max_bins: the range moves without ever moving counters.
 *
 * Collapsing: when a value's index would make a store's range wider than
 * max_bins, the store keeps the highest max_bins indices and merges
 * everything below into the lowest kept bucket.  For the positive store
 * that loses accuracy only for the smallest values, far from the p90-p99
 * that alerting asks for; for the negative store (indexed by magnitude)
 * it is the negatives nearest zero that lose it.  With a = 1% a store of
 * 512 buckets spans a factor of gamma^512, about 28000 (1 ms to 28 s of
 * latency) before anything collapses.
 *
 * The exact minimum and maximum are kept too: the first and last ranks
 * answer them exactly, and other answers are clamped to them, so a
 * constant series is answered exactly.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "sketch.h"

/* One store (positive or negative values): the occupied index range. */
struct qsketch_store {
	int32_t lo, hi; /* lowest and highest occupied index, if count */
	uint64_t count; /* values in this store */
};

struct qsketch {
	double rel_error;     /* a */
	double gamma;         /* (1 + a) / (1 - a) */
	double inv_log_gamma; /* 1 / log(gamma) */
	double min, max;      /* exact extremes of the values added */
	uint64_t count;       /* every value added (zeros included) */
	uint64_t zero_count;  /* values equal to zero */
	uint32_t max_bins;    /* counters per store */
	uint32_t pad;
	struct qsketch_store pos, neg;
	uint64_t bins[]; /* pos: [0, max_bins), neg: [max_bins, 2*max_bins) */
};

/* Index bounds keep index arithmetic far from int32 overflow; only a
 * relative error below about 1e-7 could reach them. */
#define QSKETCH_MAX_INDEX 1000000000
#define QSKETCH_MIN_INDEX (-1000000000)

static unsigned
qsketch_bins(unsigned max_bins)
{
	return max_bins == 0 ? QSKETCH_DEFAULT_BINS : max_bins;
}

/*
 * Bytes needed for a sketch of max_bins buckets per sign (0 means
 * QSKETCH_DEFAULT_BINS, as in qsketch_init).
 */
size_t
qsketch_size(unsigned max_bins)
{
	return sizeof(struct qsketch) +
	       2 * (size_t)qsketch_bins(max_bins) * sizeof(uint64_t);
}

/*
 * Initialises the block at mem (qsketch_size(max_bins) bytes) as an empty
 * sketch and returns it (the same address: nothing is allocated).  A
 * rel_error outside (0, 1) means QSKETCH_DEFAULT_ERROR; max_bins 0 means
 * QSKETCH_DEFAULT_BINS.
 */
struct qsketch *
qsketch_init(void *mem, double rel_error, unsigned max_bins)
{
	struct qsketch *s = mem;

	if (!(rel_error > 0 && rel_error < 1))
		rel_error = QSKETCH_DEFAULT_ERROR;
	max_bins = qsketch_bins(max_bins);
	memset(s, 0, qsketch_size(max_bins));
	s->rel_error = rel_error;
	s->gamma = (1 + rel_error) / (1 - rel_error);
	s->inv_log_gamma = 1 / log(s->gamma);
	s->max_bins = max_bins;
	qsketch_reset(s);
	return s;
}

/* Empties the sketch, keeping its error and size (a window closes). */
void
qsketch_reset(struct qsketch *s)
{
	memset(s->bins, 0, 2 * (size_t)s->max_bins * sizeof(uint64_t));
	memset(&s->pos, 0, sizeof(s->pos));
	memset(&s->neg, 0, sizeof(s->neg));
	s->count = 0;
	s->zero_count = 0;
	s->min = INFINITY;
	s->max = -INFINITY;
}

/* The slot of bucket i within its store's max_bins counters. */
static size_t
qsketch_slot(const struct qsketch *s, int32_t i)
{
	int64_t m = (int64_t)i % (int64_t)s->max_bins;

	if (m < 0)
		m += s->max_bins;
	return (size_t)m;
}

/* The bucket index of a magnitude m > 0, clamped to the index bounds. */
static int32_t
qsketch_index(const struct qsketch *s, double m)
{
	double d = ceil(log(m) * s->inv_log_gamma);

	if (d > QSKETCH_MAX_INDEX)
		return QSKETCH_MAX_INDEX;
	if (d < QSKETCH_MIN_INDEX)
		return QSKETCH_MIN_INDEX;
	return (int32_t)d;
}

/*
 * Counts one value of bucket i in store st (counters at bins), collapsing
 * the lowest buckets when i would widen the range past max_bins.  Costs
 * O(1) except when the range moves up, which costs one step per bucket
 * merged (at most max_bins).
 */
static void
qsketch_store_add(struct qsketch *s, struct qsketch_store *st, uint64_t *bins,
                  int32_t i)
{
	int64_t width = s->max_bins;
	int64_t new_lo, j, last;
	uint64_t merged;

	if (st->count == 0) {
		st->lo = st->hi = i;
	} else if (i < st->lo) {
		/* Below the range: extend it down, or, if that is too
		 * wide, count the value in the lowest bucket that fits. */
		if ((int64_t)st->hi - i + 1 > width)
			i = (int32_t)(st->hi - width + 1);
		st->lo = i;
	} else if (i > st->hi) {
		new_lo = (int64_t)i - width + 1;
		if (new_lo > st->lo) {
			/* Merge [lo, new_lo) into new_lo.  Only occupied
			 * indices are visited: at most max_bins. */
			merged = 0;
			last = new_lo - 1 < st->hi ? new_lo - 1 : st->hi;
			for (j = st->lo; j <= last; j++) {
				size_t k = qsketch_slot(s, (int32_t)j);
				merged += bins[k];
				bins[k] = 0;
			}
			bins[qsketch_slot(s, (int32_t)new_lo)] += merged;
			st->lo = (int32_t)new_lo;
		}
		st->hi = i;
	}
	bins[qsketch_slot(s, i)]++;
	st->count++;
}

/* Adds one value (NaN and infinities are ignored).  Never allocates. */
void
qsketch_add(struct qsketch *s, double v)
{
	if (!isfinite(v))
		return;
	if (v > 0)
		qsketch_store_add(s, &s->pos, s->bins, qsketch_index(s, v));
	else if (v < 0)
		qsketch_store_add(s, &s->neg, s->bins + s->max_bins,
		                  qsketch_index(s, -v));
	else
		s->zero_count++;
	s->count++;
	if (v < s->min)
		s->min = v;
	if (v > s->max)
		s->max = v;
}

uint64_t
qsketch_count(const struct qsketch *s)
{
	return s->count;
}

double
qsketch_error(const struct qsketch *s)
{
	return s->rel_error;
}

/* The representative value of bucket i: within a of all its values. */
static double
qsketch_value(const struct qsketch *s, int32_t i)
{
	return 2 * pow(s->gamma, i) / (s->gamma + 1);
}

/*
 * The q-quantile of the values added: the value of rank floor(q *
 * (count - 1)) in sorted order (0-based, as DDSketch), within the
 * relative error (unless its bucket was collapsed).  q is clamped to
 * [0, 1].  NAN when empty.  O(max_bins).
 */
double
qsketch_quantile(const struct qsketch *s, double q)
{
	double rank, v;
	uint64_t seen;
	int64_t j;
	const uint64_t *nb = s->bins + s->max_bins;
	const uint64_t *pb = s->bins;

	if (s->count == 0 || isnan(q))
		return NAN;
	if (q < 0)
		q = 0;
	if (q > 1)
		q = 1;
	rank = q * (double)(s->count - 1);
	/* The extremes are known exactly, even after collapsing. */
	if (rank < 1)
		return s->min;
	if (rank >= (double)(s->count - 1))
		return s->max;
	seen = 0;
	v = NAN;
	/* Ascending order: negatives from the largest magnitude down,
	 * then zeros, then positives from the smallest up.  The answer is
	 * the first bucket whose cumulative count passes rank. */
	if (s->neg.count > 0) {
		for (j = s->neg.hi; j >= s->neg.lo; j--) {
			seen += nb[qsketch_slot(s, (int32_t)j)];
			if ((double)seen > rank) {
				v = -qsketch_value(s, (int32_t)j);
				goto found;
			}
		}
	}
	seen += s->zero_count;
	if ((double)seen > rank) {
		v = 0;
		goto found;
	}
	if (s->pos.count > 0) {
		for (j = s->pos.lo; j <= s->pos.hi; j++) {
			seen += pb[qsketch_slot(s, (int32_t)j)];
			if ((double)seen > rank) {
				v = qsketch_value(s, (int32_t)j);
				goto found;
			}
		}
	}
	v = s->max; /* not reached: the buckets hold count values */
found:
	/* The true answer lies in [min, max]: clamping only helps. */
	if (v < s->min)
		v = s->min;
	if (v > s->max)
		v = s->max;
	return v;
}
