/*
 * test_sketch.c: the quantile sketch answers p50/p90/p95/p99 within its
 * stated relative error of the true value (from a sorted copy) on known
 * distributions, keeps the high quantiles accurate when it collapses,
 * handles zeros, negatives, empty and non-finite input, and is a flat
 * block that memcpy duplicates.
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
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
