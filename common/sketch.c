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
 * Counts n values of bucket i in store st (counters at bins), collapsing
 * the lowest buckets when i would widen the range past max_bins.  Costs
 * O(1) except when the range moves up, which costs one step per bucket
 * merged (at most max_bins).  n > 1 comes from merging.
 */
static void
qsketch_store_add(struct qsketch *s, struct qsketch_store *st, uint64_t *bins,
                  int32_t i, uint64_t n)
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
	bins[qsketch_slot(s, i)] += n;
	st->count += n;
}

/* Adds one value (NaN and infinities are ignored).  Never allocates. */
void
qsketch_add(struct qsketch *s, double v)
{
	if (!isfinite(v))
		return;
	if (v > 0)
		qsketch_store_add(s, &s->pos, s->bins, qsketch_index(s, v), 1);
	else if (v < 0)
		qsketch_store_add(s, &s->neg, s->bins + s->max_bins,
		                  qsketch_index(s, -v), 1);
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

/* Merging ---------------------------------------------------------------- */

/* Widens dst's exact extremes to take in min and max. */
static void
qsketch_merge_extremes(struct qsketch *dst, double min, double max)
{
	if (min < dst->min)
		dst->min = min;
	if (max > dst->max)
		dst->max = max;
}

/*
 * Adds every value of src to dst, as if they had been added to dst one
 * by one (exactly so while neither collapses).  Both must have the same
 * relative error; their max_bins may differ (dst's rules collapse what
 * does not fit).  Returns 0, or -1 when the errors differ (dst
 * unchanged).  O(src's occupied range).
 */
int
qsketch_merge(struct qsketch *dst, const struct qsketch *src)
{
	const uint64_t *sb;
	const struct qsketch_store *ss;
	struct qsketch_store *ds;
	uint64_t *db;
	int64_t j;
	int neg;

	if (dst->rel_error != src->rel_error)
		return -1;
	if (src->count == 0)
		return 0;
	for (neg = 0; neg < 2; neg++) {
		ss = neg ? &src->neg : &src->pos;
		ds = neg ? &dst->neg : &dst->pos;
		sb = src->bins + (neg ? src->max_bins : 0);
		db = dst->bins + (neg ? dst->max_bins : 0);
		if (ss->count == 0)
			continue;
		/* Ascending: a collapse in dst then only ever moves up. */
		for (j = ss->lo; j <= ss->hi; j++) {
			uint64_t c = sb[qsketch_slot(src, (int32_t)j)];

			if (c > 0)
				qsketch_store_add(dst, ds, db, (int32_t)j, c);
		}
	}
	dst->zero_count += src->zero_count;
	dst->count += src->count;
	qsketch_merge_extremes(dst, src->min, src->max);
	return 0;
}

/* Encoding --------------------------------------------------------------- */

/*
 * The encoded form, for storage (stored's rollups): only the occupied
 * range of each store is written, with variable-length counters and
 * runs of empty buckets collapsed, so a sketch of a latency that spans
 * a factor of 10 (about 116 buckets) takes 100-250 bytes whatever
 * max_bins is.  Little-endian throughout:
 *
 *   'q' 1                       magic and format version
 *   f64 rel_error
 *   uvarint count               0: nothing follows
 *   uvarint zero_count
 *   f64 min, f64 max
 *   positive store, then negative store, each:
 *     uvarint n                 buckets covered (0: empty store)
 *     svarint lo                (zigzag) index of the first, if n > 0
 *     counters of buckets lo .. lo + n - 1, each a uvarint, except
 *     that a 0 is followed by a uvarint k: k + 1 empty buckets
 *
 * uvarint is LEB128 (7 bits a byte, low first, at most 10 bytes).  The
 * first and last buckets covered are never empty.
 */
#define QSKETCH_MAGIC   'q'
#define QSKETCH_VERSION 1

/* Appends a byte when it fits; the length counts it either way. */
static void
qsketch_put(uint8_t *buf, size_t cap, size_t *len, uint8_t b)
{
	if (*len < cap)
		buf[*len] = b;
	(*len)++;
}

static void
qsketch_put_uvarint(uint8_t *buf, size_t cap, size_t *len, uint64_t v)
{
	while (v >= 0x80) {
		qsketch_put(buf, cap, len, (uint8_t)(v | 0x80));
		v >>= 7;
	}
	qsketch_put(buf, cap, len, (uint8_t)v);
}

static void
qsketch_put_f64(uint8_t *buf, size_t cap, size_t *len, double d)
{
	uint64_t u;
	int k;

	memcpy(&u, &d, sizeof(u));
	for (k = 0; k < 8; k++)
		qsketch_put(buf, cap, len, (uint8_t)(u >> (8 * k)));
}

/*
 * Writes s in the encoded form into buf when it fits in cap bytes, and
 * returns the length of the encoding either way (as snprintf: call with
 * cap 0 to size a buffer).  qsketch_encoded_max(max_bins) bytes always
 * suffice.
 */
size_t
qsketch_encode(const struct qsketch *s, void *out, size_t cap)
{
	uint8_t *buf = out;
	const struct qsketch_store *st;
	const uint64_t *bins;
	size_t len = 0;
	int64_t j, lo, hi;
	int neg;

	qsketch_put(buf, cap, &len, QSKETCH_MAGIC);
	qsketch_put(buf, cap, &len, QSKETCH_VERSION);
	qsketch_put_f64(buf, cap, &len, s->rel_error);
	qsketch_put_uvarint(buf, cap, &len, s->count);
	if (s->count == 0)
		return len;
	qsketch_put_uvarint(buf, cap, &len, s->zero_count);
	qsketch_put_f64(buf, cap, &len, s->min);
	qsketch_put_f64(buf, cap, &len, s->max);
	for (neg = 0; neg < 2; neg++) {
		st = neg ? &s->neg : &s->pos;
		bins = s->bins + (neg ? s->max_bins : 0);
		if (st->count == 0) {
			qsketch_put_uvarint(buf, cap, &len, 0);
			continue;
		}
		/* Trim empty buckets at both ends (a collapse can leave
		 * lo's own counter empty). */
		lo = st->lo;
		hi = st->hi;
		while (lo < hi && bins[qsketch_slot(s, (int32_t)lo)] == 0)
			lo++;
		while (hi > lo && bins[qsketch_slot(s, (int32_t)hi)] == 0)
			hi--;
		qsketch_put_uvarint(buf, cap, &len, (uint64_t)(hi - lo + 1));
		/* zigzag: small magnitudes of either sign stay short */
		qsketch_put_uvarint(buf, cap, &len,
		                    lo < 0 ? ((uint64_t)(-(lo + 1)) << 1) | 1
		                           : (uint64_t)lo << 1);
		for (j = lo; j <= hi; j++) {
			uint64_t c = bins[qsketch_slot(s, (int32_t)j)];
			int64_t run = 0;

			if (c > 0) {
				qsketch_put_uvarint(buf, cap, &len, c);
				continue;
			}
			/* lo and hi are occupied: a run ends before hi */
			while (bins[qsketch_slot(s, (int32_t)(j + run + 1))] ==
			       0)
				run++;
			qsketch_put_uvarint(buf, cap, &len, 0);
			qsketch_put_uvarint(buf, cap, &len, (uint64_t)run);
			j += run;
		}
	}
	return len;
}

/* An upper bound of qsketch_encode's length for a sketch of max_bins. */
size_t
qsketch_encoded_max(unsigned max_bins)
{
	/* header 2 + 8, count, zero_count 10 each, min and max 16, then
	 * per store n 10, lo 5 and up to max_bins counters of 10 */
	return 2 + 8 + 10 + 10 + 16 +
	       2 * (10 + 5 + (size_t)qsketch_bins(max_bins) * 10);
}

/* A cursor over an encoded sketch. */
struct qsketch_reader {
	const uint8_t *p, *end;
};

/* Reads a LEB128 of at most 10 bytes without overflow.  0 or -1. */
static int
qsketch_get_uvarint(struct qsketch_reader *r, uint64_t *v)
{
	uint64_t out = 0;
	unsigned shift = 0;
	uint8_t b;

	do {
		if (r->p == r->end || shift > 63)
			return -1;
		b = *r->p++;
		if (shift == 63 && (b & 0x7e) != 0)
			return -1; /* more than 64 bits */
		out |= (uint64_t)(b & 0x7f) << shift;
		shift += 7;
	} while (b & 0x80);
	*v = out;
	return 0;
}

static int
qsketch_get_f64(struct qsketch_reader *r, double *d)
{
	uint64_t u = 0;
	int k;

	if (r->end - r->p < 8)
		return -1;
	for (k = 0; k < 8; k++)
		u |= (uint64_t)r->p[k] << (8 * k);
	r->p += 8;
	memcpy(d, &u, sizeof(*d));
	return 0;
}

/* What one encoded store holds, once checked. */
struct qsketch_enc_store {
	uint64_t n;              /* buckets covered */
	int64_t lo;              /* index of the first */
	const uint8_t *counters; /* their encoding */
	uint64_t sum;            /* of the counters */
};

/*
 * Reads the next counter of a store's encoding: its value, and in *skip
 * how many buckets it covers (1, or the length of a run of empty ones).
 * 0 or -1.
 */
static int
qsketch_get_counter(struct qsketch_reader *r, uint64_t *c, uint64_t *skip)
{
	if (qsketch_get_uvarint(r, c) < 0)
		return -1;
	*skip = 1;
	if (*c == 0) {
		if (qsketch_get_uvarint(r, skip) < 0 || *skip >= UINT32_MAX)
			return -1;
		(*skip)++;
	}
	return 0;
}

/*
 * Checks one encoded store and leaves r after it.  0 or -1 (malformed:
 * a bad varint, an index out of bounds, runs that do not add up to n, a
 * counter sum that overflows).  The work is bounded by the input's
 * length, not by n.
 */
static int
qsketch_check_store(struct qsketch_reader *r, struct qsketch_enc_store *es)
{
	uint64_t z, c, k, skip;

	memset(es, 0, sizeof(*es));
	if (qsketch_get_uvarint(r, &es->n) < 0)
		return -1;
	if (es->n == 0)
		return 0;
	if (qsketch_get_uvarint(r, &z) < 0 ||
	    z > 2 * (uint64_t)QSKETCH_MAX_INDEX + 2 ||
	    es->n > 2 * (uint64_t)QSKETCH_MAX_INDEX + 1)
		return -1;
	es->lo = (z & 1) ? -(int64_t)(z >> 1) - 1 : (int64_t)(z >> 1);
	if (es->lo < QSKETCH_MIN_INDEX ||
	    es->lo + (int64_t)es->n - 1 > QSKETCH_MAX_INDEX)
		return -1;
	es->counters = r->p;
	for (k = 0; k < es->n; k += skip) {
		if (qsketch_get_counter(r, &c, &skip) < 0 || skip > es->n - k ||
		    es->sum + c < es->sum)
			return -1;
		es->sum += c;
	}
	return 0;
}

/* Adds a checked store's counters to dst's store st. */
static void
qsketch_apply_store(struct qsketch *dst, struct qsketch_store *st,
                    uint64_t *bins, const struct qsketch_enc_store *es,
                    const uint8_t *end)
{
	struct qsketch_reader r = {es->counters, end};
	uint64_t k, c, skip;

	for (k = 0; k < es->n; k += skip) {
		qsketch_get_counter(&r, &c, &skip); /* checked already */
		if (c > 0)
			qsketch_store_add(dst, st, bins,
			                  (int32_t)(es->lo + (int64_t)k), c);
	}
}

/*
 * Merges an encoded sketch (qsketch_encode's output, e.g. a rollup's
 * BLOB) into dst, as qsketch_merge does.  The input is checked whole
 * before anything changes: returns 0, -1 when it is malformed (dst
 * unchanged), or -2 when its relative error differs from dst's.
 */
int
qsketch_merge_encoded(struct qsketch *dst, const void *buf, size_t len)
{
	struct qsketch_reader r = {buf, (const uint8_t *)buf + len};
	struct qsketch_enc_store pos, neg;
	uint64_t count, zeros;
	double err, min, max;

	if (len < 2 || r.p[0] != QSKETCH_MAGIC || r.p[1] != QSKETCH_VERSION)
		return -1;
	r.p += 2;
	if (qsketch_get_f64(&r, &err) < 0 || !(err > 0 && err < 1) ||
	    qsketch_get_uvarint(&r, &count) < 0)
		return -1;
	if (err != dst->rel_error)
		return -2;
	if (count == 0)
		return r.p == r.end ? 0 : -1;
	if (qsketch_get_uvarint(&r, &zeros) < 0 ||
	    qsketch_get_f64(&r, &min) < 0 || qsketch_get_f64(&r, &max) < 0 ||
	    !isfinite(min) || !isfinite(max) || min > max ||
	    qsketch_check_store(&r, &pos) < 0 ||
	    qsketch_check_store(&r, &neg) < 0 || r.p != r.end)
		return -1;
	/* The parts must add up, without overflow, to the count. */
	if (zeros > count || pos.sum > count - zeros ||
	    neg.sum != count - zeros - pos.sum)
		return -1;
	if (dst->count + count < dst->count)
		return -1;
	qsketch_apply_store(dst, &dst->pos, dst->bins, &pos, r.end);
	qsketch_apply_store(dst, &dst->neg, dst->bins + dst->max_bins, &neg,
	                    r.end);
	dst->zero_count += zeros;
	dst->count += count;
	qsketch_merge_extremes(dst, min, max);
	return 0;
}
