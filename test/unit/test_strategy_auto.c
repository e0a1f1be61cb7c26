/*
 * test_strategy_auto.c: the tuning-free "auto" strategy of statistical
 * detectors (detectd/strategy_auto.c): each of its three tests fires on
 * the case it exists for and stays quiet on a smooth periodic series;
 * the contract shared with the other strategies (no score before
 * min_samples, direction, threshold, non-finite values ignored without
 * touching the state, a flat block that memcpy duplicates, bounded
 * size); and one anomaly per episode (the refractory period).
 * Its benchmark quality is measured by `make nab`, not here.
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

static struct strategy_params
params(uint32_t min_samples, int direction, double threshold)
{
	struct strategy_params p;

	memset(&p, 0, sizeof(p));
	p.threshold =
	        threshold > 0 ? threshold : strategy_auto.default_threshold;
	p.history = 30; /* the config's default; auto does not use it */
	p.min_samples = min_samples;
	p.direction = direction;
	return p;
}

/* A zeroed and initialised state block; free() it. */
static void *
new_state(const struct strategy_params *p)
{
	void *st = calloc(1, strategy_auto.state_size(p));

	assert_non_null(st);
	strategy_auto.init(st, p);
	return st;
}

/* Deterministic noise in [-1, 1) (a 64-bit LCG), so runs repeat. */
static double
noise(uint64_t *seed)
{
	*seed = *seed * 6364136223846793005ULL + 1442695040888963407ULL;
	return (double)(*seed >> 11) / 4503599627370496.0 - 1.0;
}

/*
 * Feeds n values level + amp * noise and returns how many were
 * anomalous.
 */
static int
feed_noise(void *st, const struct strategy_params *p, int n, double level,
           double amp, uint64_t *seed)
{
	struct strategy_result r;
	int i, hits = 0;

	for (i = 0; i < n; i++) {
		strategy_auto.observe(st, p, level + amp * noise(seed), &r);
		hits += r.anomalous;
	}
	return hits;
}

static void
test_registered(void **unused)
{
	(void)unused;
	assert_ptr_equal(strategy_find("auto"), &strategy_auto);
	assert_true(strategy_auto.default_threshold == 1.0);
}

/* No score before min_samples buckets (given, or 30 by default). */
static void
test_min_samples(void **unused)
{
	struct strategy_params p = params(10, 0, 0), d = params(0, 0, 0);
	struct strategy_result r;
	void *st = new_state(&p), *sd = new_state(&d);
	int i;

	(void)unused;
	for (i = 0; i < 10; i++) {
		strategy_auto.observe(st, &p, 100 + i % 3, &r);
		assert_false(r.ready);
		assert_false(r.anomalous);
	}
	strategy_auto.observe(st, &p, 101, &r);
	assert_true(r.ready);
	for (i = 0; i < 30; i++) {
		strategy_auto.observe(sd, &d, 1e6 * (i % 2), &r);
		assert_false(r.ready);
	}
	strategy_auto.observe(sd, &d, 0, &r);
	assert_true(r.ready);
	free(st);
	free(sd);
}

/* A flat series that jumps fires at the jump, early or late. */
static void
test_flat_then_spike(void **unused)
{
	struct strategy_params p = params(0, 0, 0);
	struct strategy_result r;
	void *early = new_state(&p), *late = new_state(&p);
	int i;

	(void)unused;
	for (i = 0; i < 40; i++) {
		strategy_auto.observe(early, &p, 250, &r);
		assert_false(r.anomalous);
	}
	strategy_auto.observe(early, &p, 900, &r);
	assert_true(r.ready);
	assert_true(r.anomalous);
	assert_true(r.score >= 1.0);
	assert_true(r.expected == 250);

	for (i = 0; i < 1000; i++) {
		strategy_auto.observe(late, &p, 250, &r);
		assert_false(r.anomalous);
	}
	strategy_auto.observe(late, &p, 240, &r);
	assert_true(r.anomalous);
	assert_true(r.score <= -1.0);
	free(early);
	free(late);
}

/* In noise, a spike far outside it fires; the noise itself does not. */
static void
test_noise_then_spike(void **unused)
{
	struct strategy_params p = params(0, 0, 0);
	struct strategy_result r;
	void *st = new_state(&p);
	uint64_t seed = 1;

	(void)unused;
	assert_int_equal(feed_noise(st, &p, 2000, 100, 10, &seed), 0);
	strategy_auto.observe(st, &p, 200, &r);
	assert_true(r.anomalous);
	assert_true(r.score >= 1.0);
	assert_true(fabs(r.expected - 100) < 2);
	free(st);
}

/* A smooth daily-like sine never fires, warm-up included. */
static void
test_sine_quiet(void **unused)
{
	struct strategy_params p = params(0, 0, 0);
	struct strategy_result r;
	void *st = new_state(&p);
	int i, hits = 0;

	(void)unused;
	for (i = 0; i < 288 * 20; i++) {
		strategy_auto.observe(st, &p, 50 + 10 * sin(2 * M_PI * i / 288),
		                      &r);
		hits += r.anomalous;
		if (i >= 30) {
			assert_true(r.ready);
			assert_true(fabs(r.score) < 0.5);
		}
	}
	assert_int_equal(hits, 0);
	free(st);
}

/*
 * Routine spikes do not alert: a spike every 20 buckets fires the first
 * time, then the day of history holds enough of them that they are no
 * longer far from its spread (z of a spike among k in n buckets is about
 * sqrt(n / k), whatever its height).
 */
static void
test_routine_spikes_learnt(void **unused)
{
	struct strategy_params p = params(0, 0, 0);
	struct strategy_result r;
	void *st = new_state(&p);
	uint64_t seed = 7;
	int i, first = 0, later = 0;

	(void)unused;
	for (i = 0; i < 6000; i++) {
		double x =
		        i >= 100 && i % 20 == 0 ? 40 : 1 + 0.1 * noise(&seed);

		strategy_auto.observe(st, &p, x, &r);
		if (i < 300)
			first += r.anomalous;
		else
			later += r.anomalous;
	}
	assert_true(first >= 1);
	assert_int_equal(later, 0);
	free(st);
}

/*
 * A big spike raises the bar for a while: a smaller one 200 buckets
 * later (past the refractory period) does not alert, though on its own
 * it would have.
 */
static void
test_big_spike_raises_bar(void **unused)
{
	struct strategy_params p = params(0, 0, 0);
	struct strategy_result r;
	void *st = new_state(&p), *fresh = new_state(&p);
	uint64_t s1 = 12, s2 = 12;

	(void)unused;
	feed_noise(st, &p, 2000, 100, 1, &s1);
	feed_noise(fresh, &p, 2000, 100, 1, &s2);
	strategy_auto.observe(st, &p, 130, &r);
	assert_true(r.anomalous);
	assert_int_equal(feed_noise(st, &p, 200, 100, 1, &s1), 0);
	strategy_auto.observe(st, &p, 120, &r);
	assert_false(r.anomalous);
	feed_noise(fresh, &p, 201, 100, 1, &s2);
	strategy_auto.observe(fresh, &p, 120, &r);
	assert_true(r.anomalous);
	free(st);
	free(fresh);
}

/*
 * The rare-level test: a square wave between 0 and 100 for weeks, then
 * stuck at 50, a value it only ever crossed.  Neither a spike (50 is
 * the mean) nor a new extreme, yet it fires within a dozen buckets.
 */
static void
test_stuck_between_levels(void **unused)
{
	struct strategy_params p = params(0, 0, 0);
	struct strategy_result r;
	void *st = new_state(&p);
	uint64_t seed = 3;
	int i, at = -1;

	(void)unused;
	for (i = 0; i < 6000; i++) {
		strategy_auto.observe(
		        st, &p,
		        (i / 144) % 2 ? 100 + noise(&seed) : noise(&seed), &r);
		assert_false(i > 400 && r.anomalous);
	}
	for (i = 0; i < 30 && at < 0; i++) {
		strategy_auto.observe(st, &p, 50 + 0.1 * noise(&seed), &r);
		if (r.anomalous)
			at = i;
	}
	assert_true(at >= 0 && at < 15);
	free(st);
}

/* A value beyond every value seen fires even when its z is modest. */
static void
test_new_range(void **unused)
{
	struct strategy_params p = params(0, 0, 0);
	struct strategy_result r;
	void *st = new_state(&p);
	uint64_t seed = 11;

	(void)unused;
	assert_int_equal(feed_noise(st, &p, 2000, 0, 1, &seed), 0);
	/* Uniform noise in [-1, 1): sd 0.58; 1.2 is z 2, 10% past max. */
	strategy_auto.observe(st, &p, 1.2, &r);
	assert_true(r.anomalous);
	assert_true(r.score >= 1.0);
	free(st);
}

/* One anomaly per episode: a second spike soon after is held back. */
static void
test_refractory(void **unused)
{
	struct strategy_params p = params(0, 0, 0);
	struct strategy_result r;
	void *st = new_state(&p);
	uint64_t seed = 5;

	(void)unused;
	feed_noise(st, &p, 2000, 100, 1, &seed);
	strategy_auto.observe(st, &p, 150, &r);
	assert_true(r.anomalous);
	assert_int_equal(feed_noise(st, &p, 20, 100, 1, &seed), 0);
	strategy_auto.observe(st, &p, 200, &r);
	assert_true(fabs(r.score) >= 1.0); /* over the line, */
	assert_false(r.anomalous);         /* but too soon */
	assert_int_equal(feed_noise(st, &p, 150, 100, 1, &seed), 0);
	strategy_auto.observe(st, &p, 300, &r);
	assert_true(r.anomalous);
	free(st);
}

/* direction up ignores drops, down ignores rises; threshold scales. */
static void
test_direction_threshold(void **unused)
{
	struct strategy_params up = params(0, 1, 0), down = params(0, -1, 0);
	struct strategy_params strict = params(0, 0, 1e12);
	struct strategy_result r;
	void *a = new_state(&up), *b = new_state(&down), *c;
	uint64_t s1 = 9, s2 = 9, s3 = 9;

	(void)unused;
	c = new_state(&strict);
	feed_noise(a, &up, 2000, 100, 1, &s1);
	feed_noise(b, &down, 2000, 100, 1, &s2);
	feed_noise(c, &strict, 2000, 100, 1, &s3);
	strategy_auto.observe(a, &up, 50, &r);
	assert_true(r.score <= -1.0);
	assert_false(r.anomalous);
	strategy_auto.observe(b, &down, 50, &r);
	assert_true(r.anomalous);
	strategy_auto.observe(c, &strict, 50, &r);
	assert_true(r.score <= -1.0);
	assert_false(r.anomalous);
	free(a);
	free(b);
	free(c);
}

/* NaN and infinities: not ready, nothing learnt (state unchanged). */
static void
test_nonfinite_ignored(void **unused)
{
	struct strategy_params p = params(0, 0, 0);
	struct strategy_result r;
	size_t n = strategy_auto.state_size(&p);
	void *st = new_state(&p), *before = malloc(n);
	const double bad[] = {NAN, INFINITY, -INFINITY};
	uint64_t seed = 2;
	size_t i;

	(void)unused;
	assert_non_null(before);
	feed_noise(st, &p, 500, 10, 1, &seed);
	memcpy(before, st, n);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		r.ready = r.anomalous = 1;
		strategy_auto.observe(st, &p, bad[i], &r);
		assert_false(r.ready);
		assert_false(r.anomalous);
		assert_memory_equal(st, before, n);
	}
	free(st);
	free(before);
}

/*
 * The state is a flat block: a memcpy copy scores as the original would
 * (a dry run), and what the copy learns does not reach the original.
 */
static void
test_state_copy_independent(void **unused)
{
	struct strategy_params p = params(0, 0, 0);
	struct strategy_result r1, r2;
	size_t n = strategy_auto.state_size(&p);
	void *st = new_state(&p), *copy = malloc(n), *saved = malloc(n);
	uint64_t seed = 4;

	(void)unused;
	assert_non_null(copy);
	assert_non_null(saved);
	feed_noise(st, &p, 700, 10, 1, &seed);
	memcpy(copy, st, n);
	memcpy(saved, st, n);
	strategy_auto.observe(copy, &p, 40, &r1);
	assert_true(r1.anomalous);
	assert_memory_equal(st, saved, n);
	feed_noise(copy, &p, 300, 500, 50, &seed);
	assert_memory_equal(st, saved, n);
	strategy_auto.observe(st, &p, 40, &r2);
	assert_true(r2.anomalous);
	assert_true(r1.score == r2.score);
	assert_true(r1.expected == r2.expected);
	free(st);
	free(copy);
	free(saved);
}

/* Memory per group: a few KB, whatever history and min_samples say. */
static void
test_state_size_bounded(void **unused)
{
	struct strategy_params a = params(0, 0, 0), b = params(5000, 0, 0);

	(void)unused;
	b.history = 10000;
	assert_true(strategy_auto.state_size(&a) <= 4096);
	assert_int_equal(strategy_auto.state_size(&a),
	                 strategy_auto.state_size(&b));
}

/* Extreme magnitudes neither hang nor poison the state. */
static void
test_extreme_values(void **unused)
{
	struct strategy_params p = params(0, 0, 0);
	struct strategy_result r;
	void *st = new_state(&p);
	uint64_t seed = 8;

	(void)unused;
	feed_noise(st, &p, 400, 1, 0.1, &seed);
	strategy_auto.observe(st, &p, 1e300, &r);
	assert_true(r.anomalous);
	assert_true(isfinite(r.score));
	strategy_auto.observe(st, &p, -1e300, &r);
	assert_true(isfinite(r.score));
	strategy_auto.observe(st, &p, 1.7e308, &r);
	assert_true(isfinite(r.score));
	strategy_auto.observe(st, &p, -1.7e308, &r);
	assert_true(isfinite(r.score));
	feed_noise(st, &p, 400, 1, 0.1, &seed);
	strategy_auto.observe(st, &p, 1, &r);
	assert_true(r.ready);
	assert_true(isfinite(r.score));
	free(st);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_registered),
	        cmocka_unit_test(test_min_samples),
	        cmocka_unit_test(test_flat_then_spike),
	        cmocka_unit_test(test_noise_then_spike),
	        cmocka_unit_test(test_sine_quiet),
	        cmocka_unit_test(test_routine_spikes_learnt),
	        cmocka_unit_test(test_big_spike_raises_bar),
	        cmocka_unit_test(test_stuck_between_levels),
	        cmocka_unit_test(test_new_range),
	        cmocka_unit_test(test_refractory),
	        cmocka_unit_test(test_direction_threshold),
	        cmocka_unit_test(test_nonfinite_ignored),
	        cmocka_unit_test(test_state_copy_independent),
	        cmocka_unit_test(test_state_size_bounded),
	        cmocka_unit_test(test_extreme_values),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
