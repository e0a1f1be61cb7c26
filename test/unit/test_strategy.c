/*
 * test_strategy.c: the scoring strategies of statistical detectors, each
 * against numbers computed by hand, and the contract they share: no score
 * before min_samples, the direction rule, a flat series that changes
 * fires, non-finite values are ignored without touching the state, and
 * the state is a flat block that memcpy duplicates.
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

#include "../../detectd/strategy.h"

/* The strategies written here (auto is tested on its own). */
static const struct strategy *const all[] = {
        &strategy_zscore, &strategy_mad,   &strategy_iqr,
        &strategy_ewma,   &strategy_cusum,
};
#define NALL (sizeof(all) / sizeof(all[0]))

/* The classic example: mean 5, population sd 2; median 4.5, MAD 0.5. */
static const double classic[] = {2, 4, 4, 4, 5, 5, 7, 9};

#define assert_near(a, b)                                               \
	do {                                                            \
		double a_ = (a), b_ = (b);                              \
		if (!(fabs(a_ - b_) <= 1e-9 * (1 + fabs(b_))))          \
			fail_msg("%s = %.12g, want %.12g", #a, a_, b_); \
	} while (0)

static struct strategy_params
params(uint32_t history, uint32_t min_samples, int direction)
{
	struct strategy_params p;

	memset(&p, 0, sizeof(p));
	p.history = history;
	p.min_samples = min_samples;
	p.direction = direction;
	return p;
}

/* A zeroed and initialised state block; free() it. */
static void *
new_state(const struct strategy *s, const struct strategy_params *p)
{
	void *st = calloc(1, s->state_size(p));

	assert_non_null(st);
	s->init(st, p);
	return st;
}

/* Observes v[0..n), each before min_samples (not ready). */
static void
feed_unready(const struct strategy *s, void *st,
             const struct strategy_params *p, const double *v, size_t n)
{
	struct strategy_result r;
	size_t i;

	for (i = 0; i < n; i++) {
		s->observe(st, p, v[i], &r);
		assert_int_equal(r.ready, 0);
		assert_int_equal(r.anomalous, 0);
	}
}

static struct strategy_result
observe(const struct strategy *s, void *st, const struct strategy_params *p,
        double x)
{
	struct strategy_result r;

	s->observe(st, p, x, &r);
	return r;
}

/* 100 -1 +1 alternating: mean 100, sd 1, median 100, MAD 1. */
static void
feed_noise(const struct strategy *s, void *st, const struct strategy_params *p,
           size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		observe(s, st, p, i % 2 ? 101 : 99);
}

static void
test_table(void **state)
{
	size_t i;

	(void)state;
	assert_ptr_equal(strategy_find("zscore"), &strategy_zscore);
	assert_ptr_equal(strategy_find("mad"), &strategy_mad);
	assert_ptr_equal(strategy_find("iqr"), &strategy_iqr);
	assert_ptr_equal(strategy_find("ewma"), &strategy_ewma);
	assert_ptr_equal(strategy_find("cusum"), &strategy_cusum);
	assert_ptr_equal(strategy_find("auto"), &strategy_auto);
	assert_null(strategy_find("ZSCORE"));
	assert_null(strategy_find("prophet"));
	assert_null(strategy_find(NULL));
	for (i = 0; strategy_names[i] != NULL; i++)
		assert_string_equal(strategy_find(strategy_names[i])->name,
		                    strategy_names[i]);
	assert_int_equal(i, 6);
	assert_true(strategy_zscore.default_threshold == 3.0);
	assert_true(strategy_mad.default_threshold == 3.5);
	assert_true(strategy_iqr.default_threshold == 1.5);
	assert_true(strategy_ewma.default_threshold == 3.0);
	assert_true(strategy_cusum.default_threshold == 5.0);
}

static void
test_is_anomalous(void **state)
{
	struct strategy_params p = params(30, 0, 1);

	(void)state;
	p.threshold = 3;
	assert_true(strategy_is_anomalous(&p, 3));
	assert_true(strategy_is_anomalous(&p, 1e9));
	assert_false(strategy_is_anomalous(&p, 2.999));
	assert_false(strategy_is_anomalous(&p, -5));
	p.direction = -1;
	assert_true(strategy_is_anomalous(&p, -3));
	assert_false(strategy_is_anomalous(&p, -2.999));
	assert_false(strategy_is_anomalous(&p, 5));
	p.direction = 0;
	assert_true(strategy_is_anomalous(&p, -3));
	assert_true(strategy_is_anomalous(&p, 3));
	assert_false(strategy_is_anomalous(&p, 2.999));
	assert_false(strategy_is_anomalous(&p, -2.999));
	assert_false(strategy_is_anomalous(&p, NAN));
}

static void
test_zscore_by_hand(void **state)
{
	struct strategy_params p = params(8, 8, 0);
	void *st = new_state(&strategy_zscore, &p);
	size_t size = strategy_zscore.state_size(&p);
	void *copy = malloc(size);
	struct strategy_result r;

	(void)state;
	feed_unready(&strategy_zscore, st, &p, classic, 8);
	memcpy(copy, st, size);
	/* (11 - 5) / 2 = 3.0: exactly the default threshold. */
	r = observe(&strategy_zscore, st, &p, 11);
	assert_int_equal(r.ready, 1);
	assert_near(r.score, 3.0);
	assert_near(r.expected, 5);
	assert_int_equal(r.anomalous, 1);
	/* (1 - 5) / 2 = -2: within. */
	r = observe(&strategy_zscore, copy, &p, 1);
	assert_near(r.score, -2.0);
	assert_int_equal(r.anomalous, 0);
	/* The ring slid: 4 4 4 5 5 7 9 11, mean 49/8, var 349/8 - mean^2. */
	r = observe(&strategy_zscore, st, &p, 49.0 / 8 + 2);
	assert_near(r.expected, 49.0 / 8);
	assert_near(r.score, 2 / sqrt(349.0 / 8 - (49.0 / 8) * (49.0 / 8)));
	free(copy);
	free(st);
}

static void
test_mad_by_hand(void **state)
{
	struct strategy_params p = params(8, 8, 0);
	static const double mostly5[] = {5, 5, 5, 5, 5, 5, 5, 9};
	void *st = new_state(&strategy_mad, &p);
	size_t size = strategy_mad.state_size(&p);
	void *copy = malloc(size);
	struct strategy_result r;

	(void)state;
	feed_unready(&strategy_mad, st, &p, classic, 8);
	memcpy(copy, st, size);
	/* median 4.5, MAD 0.5: 0.6745 * 4.5 / 0.5 = 6.0705 */
	r = observe(&strategy_mad, copy, &p, 9);
	assert_int_equal(r.ready, 1);
	assert_near(r.score, 6.0705);
	assert_near(r.expected, 4.5);
	assert_int_equal(r.anomalous, 1);
	memcpy(copy, st, size);
	/* 0.6745 * -2.5 / 0.5 = -3.3725: under 3.5, over 3 downwards */
	r = observe(&strategy_mad, copy, &p, 2);
	assert_near(r.score, -3.3725);
	assert_int_equal(r.anomalous, 0);
	p.threshold = 3;
	p.direction = -1;
	r = observe(&strategy_mad, st, &p, 2);
	assert_int_equal(r.anomalous, 1);
	free(st);

	/* MAD 0 (7 of 8 the same): MeanAD = 4 / 8 around median 5, so
	 * 6 scores 1 / (1.253314 * 0.5) = 1.595768. */
	p = params(8, 8, 0);
	st = new_state(&strategy_mad, &p);
	feed_unready(&strategy_mad, st, &p, mostly5, 8);
	r = observe(&strategy_mad, st, &p, 6);
	assert_near(r.score, 1 / (1.253314 * 0.5));
	assert_near(r.expected, 5);
	free(copy);
	free(st);
}

static void
test_iqr_by_hand(void **state)
{
	static const double one_to_8[] = {8, 1, 7, 2, 6, 3, 5, 4};
	struct strategy_params p = params(8, 8, 0);
	void *st = new_state(&strategy_iqr, &p);
	size_t size = strategy_iqr.state_size(&p);
	void *copy = malloc(size);
	struct strategy_result r;

	(void)state;
	feed_unready(&strategy_iqr, st, &p, one_to_8, 8);
	/* Q1 = 2 + 0.75 = 2.75, Q3 = 6 + 0.25 = 6.25, IQR 3.5. */
	memcpy(copy, st, size);
	r = observe(&strategy_iqr, copy, &p, 13.25); /* 7 / 3.5 */
	assert_near(r.score, 2.0);
	assert_near(r.expected, 4.5);
	assert_int_equal(r.anomalous, 1);
	memcpy(copy, st, size);
	r = observe(&strategy_iqr, copy, &p, 5); /* inside the box */
	assert_near(r.score, 0);
	assert_int_equal(r.anomalous, 0);
	memcpy(copy, st, size);
	r = observe(&strategy_iqr, copy, &p, 1); /* -1.75 / 3.5 */
	assert_near(r.score, -0.5);
	assert_int_equal(r.anomalous, 0);
	memcpy(copy, st, size);
	r = observe(&strategy_iqr, copy, &p, -3); /* -5.75 / 3.5 */
	assert_near(r.score, -5.75 / 3.5);
	assert_int_equal(r.anomalous, 1);
	p.direction = 1;
	r = observe(&strategy_iqr, st, &p, -3);
	assert_int_equal(r.anomalous, 0);
	free(copy);
	free(st);
}

static void
test_ewma_by_hand(void **state)
{
	/* history 15: alpha = 2 / 16 = 1/8, so the first 8 values weigh
	 * 1/n each and give the plain mean 5 and variance 4. */
	struct strategy_params p = params(15, 8, 0);
	void *st = new_state(&strategy_ewma, &p);
	struct strategy_result r;

	(void)state;
	feed_unready(&strategy_ewma, st, &p, classic, 8);
	r = observe(&strategy_ewma, st, &p, 11);
	assert_near(r.score, 3.0);
	assert_near(r.expected, 5);
	assert_int_equal(r.anomalous, 1);
	/* Learning 11: d = 6, mean = 5 + 6/8 = 5.75,
	 * var = 7/8 (4 + 6 * 6/8) = 7.4375. */
	r = observe(&strategy_ewma, st, &p, 5.75 - 2 * sqrt(7.4375));
	assert_near(r.expected, 5.75);
	assert_near(r.score, -2.0);
	assert_int_equal(r.anomalous, 0);
	free(st);
}

static void
test_cusum_by_hand(void **state)
{
	struct strategy_params p = params(8, 8, 0);
	void *st = new_state(&strategy_cusum, &p);
	struct strategy_result r;
	double mean, sd, z;

	(void)state;
	feed_unready(&strategy_cusum, st, &p, classic, 8);
	/* z = (9 - 5) / 2 = 2: S+ = 2 - 0.5 = 1.5, S- = 0. */
	r = observe(&strategy_cusum, st, &p, 9);
	assert_near(r.score, 1.5);
	assert_near(r.expected, 5);
	assert_int_equal(r.anomalous, 0);
	/* History 4 4 4 5 5 7 9 9: mean 47/8, var 309/8 - mean^2;
	 * 15 adds z - 0.5 to S+ and crosses 5. */
	mean = 47.0 / 8;
	sd = sqrt(309.0 / 8 - mean * mean);
	z = (15 - mean) / sd;
	r = observe(&strategy_cusum, st, &p, 15);
	assert_near(r.expected, mean);
	assert_near(r.score, 1.5 + z - 0.5);
	assert_true(r.score > 5);
	assert_int_equal(r.anomalous, 1);
	/* The alarm reset both sums: the next score starts from 0.
	 * History 4 4 5 5 7 9 9 15: mean 58/8, var 518/8 - mean^2. */
	mean = 58.0 / 8;
	sd = sqrt(518.0 / 8 - mean * mean);
	r = observe(&strategy_cusum, st, &p, mean - 3 * sd);
	assert_near(r.score, -(3 - 0.5));
	assert_int_equal(r.anomalous, 0);
	free(st);
}

static void
test_cusum_catches_small_shift(void **state)
{
	struct strategy_params p = params(30, 0, 0);
	void *zs = new_state(&strategy_zscore, &p);
	void *cu = new_state(&strategy_cusum, &p);
	struct strategy_result rz, rc;
	int i, fired_z = 0, fired_c = -1;

	(void)state;
	feed_noise(&strategy_zscore, zs, &p, 30);
	feed_noise(&strategy_cusum, cu, &p, 30);
	/* A sustained shift of 1.5 sd: no single bucket is a 3-sigma
	 * outlier, but the sum of them is. */
	for (i = 0; i < 10; i++) {
		double x = (i % 2 ? 101 : 99) + 1.5;

		rz = observe(&strategy_zscore, zs, &p, x);
		rc = observe(&strategy_cusum, cu, &p, x);
		fired_z |= rz.anomalous;
		if (rc.anomalous && fired_c < 0)
			fired_c = i;
	}
	assert_int_equal(fired_z, 0);
	assert_true(fired_c >= 1 && fired_c <= 6);
	free(zs);
	free(cu);
}

static void
test_min_samples(void **state)
{
	static const double v[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
	struct strategy_params p;
	struct strategy_result r;
	size_t i;
	void *st;

	(void)state;
	for (i = 0; i < NALL; i++) {
		/* default: max(5, 30 / 3) = 10 */
		p = params(30, 0, 0);
		st = new_state(all[i], &p);
		feed_unready(all[i], st, &p, v, 10);
		r = observe(all[i], st, &p, 11);
		assert_int_equal(r.ready, 1);
		free(st);
		/* default: max(5, 9 / 3) = 5 */
		p = params(9, 0, 0);
		st = new_state(all[i], &p);
		feed_unready(all[i], st, &p, v, 5);
		assert_int_equal(observe(all[i], st, &p, 6).ready, 1);
		free(st);
		/* given */
		p = params(30, 3, 0);
		st = new_state(all[i], &p);
		feed_unready(all[i], st, &p, v, 3);
		assert_int_equal(observe(all[i], st, &p, 4).ready, 1);
		free(st);
	}
}

static void
test_directions(void **state)
{
	struct strategy_params p;
	struct strategy_result r;
	size_t i;
	int d;
	void *st;

	(void)state;
	for (i = 0; i < NALL; i++) {
		for (d = -1; d <= 1; d++) {
			p = params(30, 0, d);
			st = new_state(all[i], &p);
			feed_noise(all[i], st, &p, 30);
			r = observe(all[i], st, &p, 110); /* spike */
			assert_int_equal(r.ready, 1);
			assert_true(r.score > 0);
			if (r.anomalous != (d >= 0))
				fail_msg("%s dir %d spike: score %g anomalous "
				         "%d",
				         all[i]->name, d, r.score, r.anomalous);
			free(st);
			st = new_state(all[i], &p);
			feed_noise(all[i], st, &p, 30);
			r = observe(all[i], st, &p, 90); /* dip */
			assert_true(r.score < 0);
			if (r.anomalous != (d <= 0))
				fail_msg("%s dir %d dip: score %g anomalous %d",
				         all[i]->name, d, r.score, r.anomalous);
			free(st);
			st = new_state(all[i], &p);
			feed_noise(all[i], st, &p, 30);
			r = observe(all[i], st, &p, 100.5); /* normal */
			if (r.anomalous)
				fail_msg("%s dir %d normal: score %g",
				         all[i]->name, d, r.score);
			free(st);
		}
	}
}

static void
test_flat_then_change(void **state)
{
	struct strategy_params p = params(30, 0, 0);
	struct strategy_result r;
	size_t i, j, size;
	void *st, *copy;

	(void)state;
	for (i = 0; i < NALL; i++) {
		st = new_state(all[i], &p);
		size = all[i]->state_size(&p);
		copy = malloc(size);
		for (j = 0; j < 40; j++)
			observe(all[i], st, &p, 250);
		memcpy(copy, st, size);
		r = observe(all[i], copy, &p, 250);
		assert_int_equal(r.ready, 1);
		assert_true(r.score == 0);
		assert_int_equal(r.anomalous, 0);
		memcpy(copy, st, size);
		r = observe(all[i], copy, &p, 251);
		if (!r.anomalous || !(r.score > 0) || !isfinite(r.score))
			fail_msg("%s flat up: score %g", all[i]->name, r.score);
		memcpy(copy, st, size);
		r = observe(all[i], copy, &p, 0);
		if (!r.anomalous || !(r.score < 0) || !isfinite(r.score))
			fail_msg("%s flat down: score %g", all[i]->name,
			         r.score);
		free(copy);
		free(st);
	}
}

static void
test_nonfinite_ignored(void **state)
{
	static const double bad[] = {NAN, INFINITY, -INFINITY};
	struct strategy_params p = params(30, 5, 0);
	struct strategy_result r;
	size_t i, j, size;
	void *st, *before;

	(void)state;
	for (i = 0; i < NALL; i++) {
		size = all[i]->state_size(&p);
		st = new_state(all[i], &p);
		before = malloc(size);
		for (j = 0; j < 4; j++)
			observe(all[i], st, &p, (double)j);
		memcpy(before, st, size);
		for (j = 0; j < 3; j++) {
			r = observe(all[i], st, &p, bad[j]);
			assert_int_equal(r.ready, 0);
			assert_int_equal(r.anomalous, 0);
		}
		/* Untouched, and not counted towards min_samples. */
		assert_memory_equal(before, st, size);
		assert_int_equal(observe(all[i], st, &p, 4).ready, 0);
		assert_int_equal(observe(all[i], st, &p, 5).ready, 1);
		assert_int_equal(observe(all[i], st, &p, NAN).ready, 0);
		free(before);
		free(st);
	}
}

static void
test_state_copy_independent(void **state)
{
	struct strategy_params p = params(30, 0, 0);
	struct strategy_result r1, r2;
	size_t i, j, size;
	void *st, *copy, *snap;

	(void)state;
	for (i = 0; i < NALL; i++) {
		size = all[i]->state_size(&p);
		st = new_state(all[i], &p);
		copy = malloc(size);
		snap = malloc(size);
		for (j = 0; j < 50; j++)
			observe(all[i], st, &p, 10 + (double)(j * 7 % 5));
		memcpy(copy, st, size);
		memcpy(snap, st, size);
		/* A dry run on the copy learns a spike... */
		r1 = observe(all[i], copy, &p, 1000);
		for (j = 0; j < 40; j++)
			observe(all[i], copy, &p, 1000);
		/* ...the original is byte for byte what it was, and
		 * scores the spike as the copy first did. */
		assert_memory_equal(snap, st, size);
		r2 = observe(all[i], st, &p, 1000);
		assert_true(r1.score == r2.score);
		assert_int_equal(r1.anomalous, r2.anomalous);
		assert_int_equal(r2.anomalous, 1);
		free(snap);
		free(copy);
		free(st);
	}
}

static void
test_history_bounded(void **state)
{
	struct strategy_params big = params(1000000, 0, 0);
	struct strategy_params max = params(10000, 0, 0);
	struct strategy_params def = params(0, 0, 0);
	struct strategy_params thirty = params(30, 0, 0);
	size_t i;

	(void)state;
	for (i = 0; i < NALL; i++) {
		assert_int_equal(all[i]->state_size(&big),
		                 all[i]->state_size(&max));
		assert_int_equal(all[i]->state_size(&def),
		                 all[i]->state_size(&thirty));
		assert_true(all[i]->state_size(&thirty) < 512);
	}
}

static void
test_big_history_order_stats(void **state)
{
	struct strategy_params p = params(10000, 0, 0);
	struct strategy_result r;
	size_t i, j;
	void *st;

	(void)state;
	/* 10000 values 0..9999 in a scrambled order: median 4999.5,
	 * MAD 2500, Q1 2499.75, Q3 7499.25. */
	for (i = 1; i <= 2; i++) {
		st = new_state(all[i], &p);
		for (j = 0; j < 10000; j++)
			observe(all[i], st, &p, (double)(j * 7919 % 10000));
		r = observe(all[i], st, &p, 20000);
		assert_near(r.expected, 4999.5);
		if (all[i] == &strategy_mad)
			assert_near(r.score, 0.6745 * (20000 - 4999.5) / 2500);
		else
			assert_near(r.score, (20000 - 7499.25) / 4999.5);
		free(st);
	}
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Type 7 quantile of a sorted array, the textbook way. */
static double
sorted_quantile(const double *a, size_t n, double q)
{
	double pos = (double)(n - 1) * q;
	size_t k = (size_t)pos;

	if (k + 1 >= n)
		return a[n - 1];
	return a[k] + (pos - (double)k) * (a[k + 1] - a[k]);
}

static void
test_order_stats_match_sorting(void **state)
{
	double v[64], s[64], dev[64], q1, q3, med, mad, want;
	struct strategy_params p;
	struct strategy_result r;
	uint64_t seed = 5;
	size_t n, i, trial;
	void *st;

	(void)state;
	/* Random histories of every size, with many ties, against qsort:
	 * the selection must give the same medians and quartiles. */
	for (trial = 0; trial < 2000; trial++) {
		n = 2 + trial % 60;
		for (i = 0; i < n; i++) {
			seed = seed * 6364136223846793005ULL + 1;
			v[i] = (double)((seed >> 33) % (trial % 7 + 2 + n / 4));
		}
		memcpy(s, v, n * sizeof(double));
		qsort(s, n, sizeof(double), cmp_double);
		q1 = sorted_quantile(s, n, 0.25);
		q3 = sorted_quantile(s, n, 0.75);
		med = sorted_quantile(s, n, 0.5);
		for (i = 0; i < n; i++)
			dev[i] = fabs(s[i] - med);
		qsort(dev, n, sizeof(double), cmp_double);
		mad = sorted_quantile(dev, n, 0.5);

		p = params((uint32_t)n, (uint32_t)n, 0);
		st = new_state(&strategy_iqr, &p);
		for (i = 0; i < n; i++)
			observe(&strategy_iqr, st, &p, v[i]);
		r = observe(&strategy_iqr, st, &p, q3 + 100);
		assert_near(r.expected, med);
		want = q3 > q1 ? 100 / (q3 - q1) : 1e9;
		assert_near(r.score, want);
		free(st);

		if (mad == 0)
			continue;
		st = new_state(&strategy_mad, &p);
		for (i = 0; i < n; i++)
			observe(&strategy_mad, st, &p, v[i]);
		r = observe(&strategy_mad, st, &p, med - 10);
		assert_near(r.expected, med);
		assert_near(r.score, 0.6745 * -10 / mad);
		free(st);
	}
}

static void
test_zscore_no_drift(void **state)
{
	struct strategy_params p = params(30, 0, 0);
	void *st = new_state(&strategy_zscore, &p);
	double ring[30], mean = 0, var = 0, x = 0;
	struct strategy_result r;
	uint64_t seed = 1;
	size_t i;

	(void)state;
	/* 200000 values near 1e9 with sd ~1: running sums must not
	 * drift from a recomputation. */
	for (i = 0; i < 200000; i++) {
		seed = seed * 6364136223846793005ULL + 1;
		x = 1e9 + (double)(seed >> 40) / (double)(1 << 24) * 3.4;
		ring[i % 30] = x;
		observe(&strategy_zscore, st, &p, x);
	}
	for (i = 0; i < 30; i++)
		mean += ring[i] / 30;
	for (i = 0; i < 30; i++)
		var += (ring[i] - mean) * (ring[i] - mean) / 30;
	r = observe(&strategy_zscore, st, &p, mean + 2.5 * sqrt(var));
	if (fabs(r.score - 2.5) > 1e-4)
		fail_msg("score %.9g want 2.5", r.score);
	free(st);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_table),
	        cmocka_unit_test(test_is_anomalous),
	        cmocka_unit_test(test_zscore_by_hand),
	        cmocka_unit_test(test_mad_by_hand),
	        cmocka_unit_test(test_iqr_by_hand),
	        cmocka_unit_test(test_ewma_by_hand),
	        cmocka_unit_test(test_cusum_by_hand),
	        cmocka_unit_test(test_cusum_catches_small_shift),
	        cmocka_unit_test(test_min_samples),
	        cmocka_unit_test(test_directions),
	        cmocka_unit_test(test_flat_then_change),
	        cmocka_unit_test(test_nonfinite_ignored),
	        cmocka_unit_test(test_state_copy_independent),
	        cmocka_unit_test(test_history_bounded),
	        cmocka_unit_test(test_big_history_order_stats),
	        cmocka_unit_test(test_order_stats_match_sorting),
	        cmocka_unit_test(test_zscore_no_drift),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
