/*
 * test_sketch.c: the quantile sketch answers p50/p90/p95/p99 within its
 * stated relative error of the true value (from a sorted copy) on known
 * distributions, keeps the high quantiles accurate when it collapses,
 * handles zeros, negatives, empty and non-finite input, and is a flat
 * block that memcpy duplicates; merged parts answer as the whole, and the
 * encoded form (rollup BLOBs) round-trips, stays small and rejects
 * damaged input without touching the sketch it merges into.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sketch.h"

#define MAXN  20000
#define SN_NQ (sizeof(qs) / sizeof(qs[0]))

static const double qs[] = {0, 0.5, 0.9, 0.95, 0.99, 1};

/* A small deterministic generator (tests must not depend on libc's). */
static uint64_t rng_state;

static double
rng_unit(void)
{
	rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
	return (double)(rng_state >> 11) / 9007199254740992.0;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The sketch's definition of the q-quantile: rank floor(q (n - 1)). */
static double
true_quantile(const double *sorted, size_t n, double q)
{
	return sorted[(size_t)floor(q * (double)(n - 1))];
}

static struct qsketch *
new_sketch(double err, unsigned bins)
{
	void *mem = malloc(qsketch_size(bins));

	assert_non_null(mem);
	return qsketch_init(mem, err, bins);
}

/* Adds v[0..n) to s and checks every q in qs against a sorted copy. */
static void
check_quantiles(struct qsketch *s, const double *v, size_t n, const double *q,
                size_t nq)
{
	static double sorted[MAXN];
	double a = qsketch_error(s), want, got;
	size_t i;

	assert_true(n <= MAXN);
	for (i = 0; i < n; i++)
		qsketch_add(s, v[i]);
	assert_int_equal(qsketch_count(s), n);
	memcpy(sorted, v, n * sizeof(double));
	qsort(sorted, n, sizeof(double), cmp_double);
	for (i = 0; i < nq; i++) {
		want = true_quantile(sorted, n, q[i]);
		got = qsketch_quantile(s, q[i]);
		if (!(fabs(got - want) <= a * fabs(want) * (1 + 1e-9)))
			fail_msg("q=%g: got %.9g want %.9g (a=%g)", q[i], got,
			         want, a);
	}
}

static void
test_uniform_1_to_1000(void **state)
{
	struct qsketch *s = new_sketch(0.01, 0);
	double v[1000];
	size_t i;

	(void)state;
	for (i = 0; i < 1000; i++)
		v[i] = (double)(1000 - i); /* descending: order is free */
	check_quantiles(s, v, 1000, qs, SN_NQ);
	/* By hand: rank floor(0.5 * 999) = 499 -> 500; 0.99 -> 990. */
	assert_true(fabs(qsketch_quantile(s, 0.5) - 500) <= 5);
	assert_true(fabs(qsketch_quantile(s, 0.99) - 990) <= 9.9);
	assert_true(qsketch_quantile(s, 0) == 1);
	assert_true(qsketch_quantile(s, 1) == 1000);
	free(s);
}

static void
test_exponential(void **state)
{
	struct qsketch *s = new_sketch(0.01, 0);
	static double v[10000];
	size_t i;

	(void)state;
	rng_state = 42;
	/* Latency-like: mean 100 ms with a long tail. */
	for (i = 0; i < 10000; i++)
		v[i] = -100 * log(1 - rng_unit());
	check_quantiles(s, v, 10000, qs, SN_NQ);
	free(s);
}

static void
test_lognormal_errors(void **state)
{
	static const double many[] = {0.01, 0.1,  0.25,  0.5, 0.75,
	                              0.9,  0.99, 0.999, 1};
	static double v[20000];
	struct qsketch *s;
	size_t i;

	(void)state;
	rng_state = 7;
	for (i = 0; i < 20000; i += 2) {
		/* Box-Muller: a pair of normals, exp() of each. */
		double u1 = 1 - rng_unit(), u2 = rng_unit();
		double r = sqrt(-2 * log(u1));
		v[i] = 50 * exp(r * cos(2 * M_PI * u2));
		v[i + 1] = 50 * exp(r * sin(2 * M_PI * u2));
	}
	/* A coarser sketch holds its coarser promise too. */
	s = new_sketch(0.05, 0);
	check_quantiles(s, v, 20000, many, sizeof(many) / sizeof(many[0]));
	free(s);
	s = new_sketch(0.001, 4096);
	check_quantiles(s, v, 20000, many, sizeof(many) / sizeof(many[0]));
	free(s);
}

static void
test_constant(void **state)
{
	struct qsketch *s = new_sketch(0.01, 0);
	size_t i;

	(void)state;
	for (i = 0; i < 500; i++)
		qsketch_add(s, 42.5);
	/* Clamped to the exact min and max: exact. */
	for (i = 0; i < SN_NQ; i++)
		assert_true(qsketch_quantile(s, qs[i]) == 42.5);
	free(s);
}

static void
test_zeros(void **state)
{
	struct qsketch *s = new_sketch(0.01, 0);
	double v[1000];
	size_t i;

	(void)state;
	/* 300 zeros (errors, empty responses) then 1..700. */
	for (i = 0; i < 1000; i++)
		v[i] = i < 300 ? 0 : (double)(i - 299);
	check_quantiles(s, v, 1000, qs, SN_NQ);
	/* By hand: rank floor(0.25 * 999) = 249 is a zero, exactly. */
	assert_true(qsketch_quantile(s, 0.25) == 0);
	assert_true(qsketch_quantile(s, 0.2997) == 0);
	assert_true(fabs(qsketch_quantile(s, 0.5) - 200) <= 2);
	free(s);
}

static void
test_negatives(void **state)
{
	static const double many[] = {0,    0.01, 0.1,  0.25, 0.5,
	                              0.75, 0.9,  0.99, 1};
	struct qsketch *s = new_sketch(0.01, 0);
	double v[2001];
	size_t i;

	(void)state;
	/* -1000..1000 (a signed delta, a temperature). */
	for (i = 0; i < 2001; i++)
		v[i] = (double)i - 1000;
	check_quantiles(s, v, 2001, many, sizeof(many) / sizeof(many[0]));
	assert_true(qsketch_quantile(s, 0.5) == 0);
	assert_true(qsketch_quantile(s, 0) == -1000);
	free(s);
}

static void
test_wide_range_fits(void **state)
{
	static const double many[] = {0,    0.01, 0.1,  0.25, 0.5,
	                              0.75, 0.9,  0.95, 0.99, 1};
	struct qsketch *s;
	static double v[10000];
	size_t i;

	(void)state;
	/* 1e-3 .. 1e6 spans ln(1e9) / ln(gamma) = 1036 buckets at 1%:
	 * 2048 buckets hold it all, so every quantile is accurate. */
	rng_state = 3;
	for (i = 0; i < 10000; i++)
		v[i] = pow(10, -3 + 9 * rng_unit());
	s = new_sketch(0.01, 2048);
	check_quantiles(s, v, 10000, many, sizeof(many) / sizeof(many[0]));
	free(s);
}

/* Runs the wide range through a 512-bucket sketch in the given order. */
static void
check_collapsed(int order)
{
	static const double high[] = {0.9, 0.95, 0.99, 1};
	static double v[10000];
	struct qsketch *s = new_sketch(0.01, 0);
	size_t i;

	for (i = 0; i < 10000; i++)
		v[i] = pow(10, -3 + 9 * (double)i / 9999);
	if (order < 0)
		for (i = 0; i < 5000; i++) {
			double t = v[i];
			v[i] = v[9999 - i];
			v[9999 - i] = t;
		}
	else if (order == 0)
		for (i = 9999; i > 0; i--) {
			size_t j = (size_t)(rng_unit() * (double)(i + 1));
			double t = v[i];
			v[i] = v[j];
			v[j] = t;
		}
	/* Only the low end (below 1e6 / 28000) is collapsed. */
	check_quantiles(s, v, 10000, high, sizeof(high) / sizeof(high[0]));
	/* The collapsed low end answers within [min, max], never below. */
	assert_true(qsketch_quantile(s, 0.01) >= 1e-3);
	assert_true(qsketch_quantile(s, 0) == 1e-3);
	assert_true(qsketch_quantile(s, 0.5) >= 1e6 / 28000);
	free(s);
}

static void
test_collapse_keeps_p99(void **state)
{
	(void)state;
	rng_state = 11;
	check_collapsed(1);  /* ascending: the range moves up */
	check_collapsed(-1); /* descending: low values land in the floor */
	check_collapsed(0);  /* shuffled */
}

static void
test_collapse_far_jump(void **state)
{
	struct qsketch *s = new_sketch(0.01, 16);
	size_t i;

	(void)state;
	/* 16 buckets span only ~1.37x: a jump far above merges the whole
	 * old range into one bucket, without losing counts. */
	for (i = 0; i < 100; i++)
		qsketch_add(s, 1 + (double)i / 400);
	for (i = 0; i < 10; i++)
		qsketch_add(s, 1e9);
	assert_int_equal(qsketch_count(s), 110);
	assert_true(fabs(qsketch_quantile(s, 0.99) - 1e9) <= 1e7);
	assert_true(qsketch_quantile(s, 0.5) <= 1e9);
	assert_true(qsketch_quantile(s, 0.5) >= 1);
	/* And a value far below the kept range counts in the floor. */
	qsketch_add(s, 1e-9);
	assert_int_equal(qsketch_count(s), 111);
	assert_true(qsketch_quantile(s, 0) == 1e-9);
	free(s);
}

static void
test_empty_and_nonfinite(void **state)
{
	struct qsketch *s = new_sketch(0.01, 0);

	(void)state;
	assert_int_equal(qsketch_count(s), 0);
	assert_true(isnan(qsketch_quantile(s, 0.5)));
	qsketch_add(s, NAN);
	qsketch_add(s, INFINITY);
	qsketch_add(s, -INFINITY);
	assert_int_equal(qsketch_count(s), 0);
	assert_true(isnan(qsketch_quantile(s, 0.99)));
	qsketch_add(s, 5);
	assert_int_equal(qsketch_count(s), 1);
	assert_true(qsketch_quantile(s, 0.5) == 5);
	assert_true(isnan(qsketch_quantile(s, NAN)));
	/* Out-of-range q is clamped. */
	assert_true(qsketch_quantile(s, 2) == 5);
	qsketch_reset(s);
	assert_int_equal(qsketch_count(s), 0);
	assert_true(isnan(qsketch_quantile(s, 0.5)));
	qsketch_add(s, 7);
	assert_true(qsketch_quantile(s, 0.5) == 7);
	free(s);
}

static void
test_defaults(void **state)
{
	struct qsketch *s;

	(void)state;
	assert_true(qsketch_size(0) == qsketch_size(QSKETCH_DEFAULT_BINS));
	assert_true(qsketch_size(1024) > qsketch_size(512));
	s = new_sketch(0, 0);
	assert_true(qsketch_error(s) == QSKETCH_DEFAULT_ERROR);
	free(s);
	s = new_sketch(1.5, 0);
	assert_true(qsketch_error(s) == QSKETCH_DEFAULT_ERROR);
	free(s);
	s = new_sketch(0.02, 0);
	assert_true(qsketch_error(s) == 0.02);
	free(s);
}

static void
test_memcpy_is_independent(void **state)
{
	size_t size = qsketch_size(0), i;
	struct qsketch *s = new_sketch(0.01, 0), *c;
	void *mem = malloc(size);
	double p50, p99;

	(void)state;
	assert_non_null(mem);
	for (i = 1; i <= 1000; i++)
		qsketch_add(s, (double)i);
	p50 = qsketch_quantile(s, 0.5);
	p99 = qsketch_quantile(s, 0.99);
	memcpy(mem, s, size);
	c = mem;
	assert_true(qsketch_quantile(c, 0.5) == p50);
	/* Change the copy a lot: the original does not move. */
	for (i = 0; i < 5000; i++)
		qsketch_add(c, 1e6);
	assert_int_equal(qsketch_count(c), 6000);
	assert_true(qsketch_quantile(c, 0.5) > 9e5);
	assert_int_equal(qsketch_count(s), 1000);
	assert_true(qsketch_quantile(s, 0.5) == p50);
	assert_true(qsketch_quantile(s, 0.99) == p99);
	qsketch_reset(s);
	assert_int_equal(qsketch_count(c), 6000);
	free(mem);
	free(s);
}

/* Quantiles of a and b agree exactly at every q in a fine grid. */
static void
assert_same_answers(const struct qsketch *a, const struct qsketch *b)
{
	int k;

	assert_int_equal(qsketch_count(a), qsketch_count(b));
	for (k = 0; k <= 1000; k++) {
		double q = k / 1000.0;

		if (qsketch_quantile(a, q) != qsketch_quantile(b, q))
			fail_msg("q=%g: %.17g != %.17g", q,
			         qsketch_quantile(a, q),
			         qsketch_quantile(b, q));
	}
}

/* Merging parts gives the sketch of the whole: same buckets, so the same
 * answers, and those within the error of the exact quantiles. */
static void
test_merge_equals_whole(void **state)
{
	static const double many[] = {0,    0.01, 0.1,  0.25, 0.5,
	                              0.75, 0.9,  0.95, 0.99, 1};
	static double v[10000];
	struct qsketch *whole = new_sketch(0.01, 0), *acc = new_sketch(0.01, 0);
	struct qsketch *part = new_sketch(0.01, 0), *check;
	size_t i, k;

	(void)state;
	rng_state = 5;
	for (i = 0; i < 10000; i++) /* latency-like, zeros and a few < 0 */
		v[i] = i % 97 == 0   ? 0
		       : i % 89 == 0 ? -(1 + 10 * rng_unit())
		                     : 20 + -300 * log(1 - rng_unit());
	for (i = 0; i < 10000; i++)
		qsketch_add(whole, v[i]);
	/* Ten parts of uneven size, like minute buckets of an hour. */
	for (k = 0, i = 0; k < 10; k++) {
		size_t end = k == 9 ? 10000 : i + 500 + 100 * k;

		qsketch_reset(part);
		for (; i < end; i++)
			qsketch_add(part, v[i]);
		assert_int_equal(qsketch_merge(acc, part), 0);
	}
	assert_same_answers(acc, whole);
	check = new_sketch(0.01, 0);
	check_quantiles(check, v, 10000, many, sizeof(many) / sizeof(many[0]));
	for (k = 0; k < sizeof(many) / sizeof(many[0]); k++)
		assert_true(qsketch_quantile(acc, many[k]) ==
		            qsketch_quantile(check, many[k]));
	free(check);
	free(part);
	free(acc);
	free(whole);
}

static void
test_merge_empty_and_mismatch(void **state)
{
	struct qsketch *a = new_sketch(0.01, 0), *b = new_sketch(0.01, 0);
	struct qsketch *c = new_sketch(0.02, 0);
	size_t i;

	(void)state;
	/* Empty into empty, empty into full, full into empty. */
	assert_int_equal(qsketch_merge(a, b), 0);
	assert_int_equal(qsketch_count(a), 0);
	assert_true(isnan(qsketch_quantile(a, 0.5)));
	for (i = 1; i <= 100; i++)
		qsketch_add(b, (double)i);
	assert_int_equal(qsketch_merge(b, a), 0);
	assert_int_equal(qsketch_count(b), 100);
	assert_int_equal(qsketch_merge(a, b), 0);
	assert_same_answers(a, b);
	assert_true(qsketch_quantile(a, 0) == 1);
	assert_true(qsketch_quantile(a, 1) == 100);
	/* A sketch of another error is refused and changes nothing. */
	qsketch_add(c, 1e6);
	assert_int_equal(qsketch_merge(a, c), -1);
	assert_int_equal(qsketch_count(a), 100);
	assert_true(qsketch_quantile(a, 1) == 100);
	free(a);
	free(b);
	free(c);
}

/* A wide sketch merged into a narrow one collapses the low end only: the
 * count, the extremes and the high quantiles hold. */
static void
test_merge_into_fewer_bins(void **state)
{
	static const double high[] = {0.9, 0.95, 0.99, 1};
	static double v[10000], sorted[10000];
	struct qsketch *wide = new_sketch(0.01, 2048);
	struct qsketch *narrow = new_sketch(0.01, 128);
	size_t i, k;

	(void)state;
	rng_state = 9;
	for (i = 0; i < 10000; i++) {
		v[i] = pow(10, 6 * rng_unit()); /* 1 .. 1e6 */
		qsketch_add(wide, v[i]);
	}
	assert_int_equal(qsketch_merge(narrow, wide), 0);
	assert_int_equal(qsketch_count(narrow), 10000);
	memcpy(sorted, v, sizeof(v));
	qsort(sorted, 10000, sizeof(double), cmp_double);
	assert_true(qsketch_quantile(narrow, 0) == sorted[0]);
	for (k = 0; k < sizeof(high) / sizeof(high[0]); k++) {
		double want = true_quantile(sorted, 10000, high[k]);

		assert_true(fabs(qsketch_quantile(narrow, high[k]) - want) <=
		            0.01 * want * (1 + 1e-9));
	}
	free(wide);
	free(narrow);
}

/* Encoded and merged back into an empty sketch: the same answers. */
static struct qsketch *
roundtrip(const struct qsketch *s, unsigned bins, size_t *len)
{
	static uint8_t buf[65536];
	struct qsketch *d = new_sketch(qsketch_error(s), bins);

	*len = qsketch_encode(s, buf, sizeof(buf));
	assert_true(*len <= sizeof(buf));
	assert_int_equal(qsketch_encode(s, NULL, 0), *len);
	assert_int_equal(qsketch_merge_encoded(d, buf, *len), 0);
	return d;
}

static void
test_encode_roundtrip(void **state)
{
	struct qsketch *s = new_sketch(0.01, 0), *d;
	size_t i, len;

	(void)state;
	/* Empty. */
	d = roundtrip(s, 0, &len);
	assert_int_equal(qsketch_count(d), 0);
	assert_true(len <= 16);
	free(d);

	/* Latencies over a factor of 10 (100 ms .. 1 s): about 116
	 * buckets, a couple of hundred bytes for 10000 values. */
	rng_state = 13;
	for (i = 0; i < 10000; i++)
		qsketch_add(s, 100 * pow(10, rng_unit()));
	d = roundtrip(s, 0, &len);
	assert_same_answers(d, s);
	assert_true(len < 400);
	assert_true(len < qsketch_size(0) / 16);
	free(d);

	/* Zeros, negatives, values below 1 (negative indexes). */
	qsketch_reset(s);
	for (i = 0; i < 3000; i++)
		qsketch_add(s, ((double)i - 1000) / 700);
	d = roundtrip(s, 0, &len);
	assert_same_answers(d, s);
	free(d);
	/* Into a sketch of other max_bins: accepted (the same error). */
	d = roundtrip(s, 2048, &len);
	assert_same_answers(d, s);
	free(d);
	free(s);
}

/* Few values over a wide range: the empty buckets between them are
 * runs, so the encoding grows with the values, not the range. */
static void
test_encode_sparse(void **state)
{
	struct qsketch *s = new_sketch(0.01, 0), *d;
	size_t i, len;

	(void)state;
	for (i = 0; i < 40; i++) /* 1 .. 10^4: 460 buckets of range */
		qsketch_add(s, pow(10, 4 * (double)i / 39));
	d = roundtrip(s, 0, &len);
	assert_same_answers(d, s);
	assert_true(len < 40 * 3 + 60);
	free(d);
	free(s);
}

/* The worst case of a full sketch with huge counters fits the bound. */
static void
test_encoded_max_bound(void **state)
{
	struct qsketch *s = new_sketch(0.01, 64), *d;
	size_t i, len;

	(void)state;
	for (i = 0; i < 64; i++) {
		qsketch_add(s, pow(1.0202, (double)i) * 1.001);
		qsketch_add(s, -pow(1.0202, (double)i) * 1.001);
	}
	d = roundtrip(s, 64, &len);
	assert_true(len <= qsketch_encoded_max(64));
	free(d);
	free(s);
}

/* Damaged input never changes dst: every truncation, every flipped
 * byte, a lying count, a foreign error. */
static void
test_encoded_malformed(void **state)
{
	static uint8_t buf[4096], bad[4096];
	size_t size = qsketch_size(0), len, i, bit;
	struct qsketch *s = new_sketch(0.01, 0), *d = new_sketch(0.01, 0);
	struct qsketch *other = new_sketch(0.05, 0);
	void *before = malloc(size);
	int rc;

	(void)state;
	assert_non_null(before);
	for (i = 0; i < 500; i++)
		qsketch_add(s, i % 7 == 0 ? 0 : (double)i - 100);
	qsketch_add(d, 3);
	memcpy(before, d, size);
	len = qsketch_encode(s, buf, sizeof(buf));
	assert_true(len < sizeof(buf));

	for (i = 0; i < len; i++) { /* every proper prefix */
		assert_int_equal(qsketch_merge_encoded(d, buf, i), -1);
		assert_memory_equal(d, before, size);
	}
	buf[len] = 0; /* a trailing byte */
	assert_int_equal(qsketch_merge_encoded(d, buf, len + 1), -1);
	assert_memory_equal(d, before, size);

	/* Flipped bits: rejected or accepted, never a crash, and the count
	 * always adds up when accepted. */
	for (i = 0; i < len; i++)
		for (bit = 0; bit < 8; bit++) {
			memcpy(bad, buf, len);
			bad[i] ^= (uint8_t)(1u << bit);
			memcpy(d, before, size);
			rc = qsketch_merge_encoded(d, bad, len);
			if (rc != 0)
				assert_memory_equal(d, before, size);
			else
				assert_true(qsketch_count(d) >= 1);
		}

	/* A sketch of another relative error. */
	memcpy(d, before, size);
	qsketch_add(other, 1);
	len = qsketch_encode(other, buf, sizeof(buf));
	assert_int_equal(qsketch_merge_encoded(d, buf, len), -2);
	assert_memory_equal(d, before, size);
	assert_int_equal(qsketch_merge_encoded(d, "xy", 2), -1);
	assert_int_equal(qsketch_merge_encoded(d, NULL, 0), -1);
	free(before);
	free(other);
	free(d);
	free(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_uniform_1_to_1000),
	        cmocka_unit_test(test_exponential),
	        cmocka_unit_test(test_lognormal_errors),
	        cmocka_unit_test(test_constant),
	        cmocka_unit_test(test_zeros),
	        cmocka_unit_test(test_negatives),
	        cmocka_unit_test(test_wide_range_fits),
	        cmocka_unit_test(test_collapse_keeps_p99),
	        cmocka_unit_test(test_collapse_far_jump),
	        cmocka_unit_test(test_empty_and_nonfinite),
	        cmocka_unit_test(test_defaults),
	        cmocka_unit_test(test_memcpy_is_independent),
	        cmocka_unit_test(test_merge_equals_whole),
	        cmocka_unit_test(test_merge_empty_and_mismatch),
	        cmocka_unit_test(test_merge_into_fewer_bins),
	        cmocka_unit_test(test_encode_roundtrip),
	        cmocka_unit_test(test_encode_sparse),
	        cmocka_unit_test(test_encoded_max_bound),
	        cmocka_unit_test(test_encoded_malformed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
