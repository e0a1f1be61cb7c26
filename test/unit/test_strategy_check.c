/*
 * test_strategy_check.c: each strategy's check (strategy.h), which
 * detectd's checkpoint loader runs on a state read from disk before the
 * engine adopts it.  Two sides: every state a strategy makes itself
 * passes (fresh, warming up, full, wrapped, flat, spiky, at every
 * history length and min_samples), and a state broken in any one field
 * observe indexes with or relies on is refused.  Then states mutated at
 * random: those that pass must be safe to observe on (the sanitizer
 * build is the judge of that).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../detectd/strategy.h"
#include "../../detectd/strategy_impl.h"
#include "util.h"

static const struct strategy *const all[] = {
        &strategy_zscore, &strategy_mad,   &strategy_iqr,
        &strategy_ewma,   &strategy_cusum, &strategy_auto,
};
#define NALL (sizeof(all) / sizeof(all[0]))

static struct strategy_params
params(uint32_t history, uint32_t min_samples)
{
	struct strategy_params p;

	memset(&p, 0, sizeof(p));
	p.history = history;
	p.min_samples = min_samples;
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

static uint64_t
mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

/* A uniform double in [0, 1) from r. */
static double
unit(uint64_t r)
{
	return (double)(r >> 11) / 9007199254740992.0;
}

/*
 * Value i of series kind k: noise, a flat line, a flat line then a step,
 * noise with rare big spikes, noise with NaN and infinities mixed in
 * (ignored by observe), large magnitudes, huge ones (whose squares
 * still fit a double), a slow sine.
 */
#define NKINDS 8
static double
series(int k, size_t i)
{
	uint64_t r = mix(i * 7919 + (uint64_t)k);

	switch (k) {
	case 0:
		return 100 + 10 * unit(r);
	case 1:
		return 42;
	case 2:
		return i < 150 ? 5 : 9;
	case 3:
		return r % 97 == 0 ? 1e6 : 10 + unit(r);
	case 4:
		if (r % 11 == 0)
			return NAN;
		if (r % 13 == 0)
			return r & 1 ? INFINITY : -INFINITY;
		return -50 + unit(r);
	case 5:
		return 1e12 * (1 + unit(r));
	case 6:
		return -1e100 * (1 + unit(r)); /* squares near 1e200 */
	default:
		return 1000 + 300 * sin((double)i / 20);
	}
}

/*
 * Feeds series k to strategy s under p, checking the state before and
 * after every value: past auto's 300 values of learning and two wraps
 * of the ring.  Returns the checks made.
 */
static size_t
own_states_pass(const struct strategy *s, const struct strategy_params *p,
                int k)
{
	size_t i, len = 2 * (size_t)p->history + 400;
	struct strategy_result res;
	void *st = new_state(s, p);

	assert_int_equal(s->check(st, p), 0);
	for (i = 0; i < len; i++) {
		s->observe(st, p, series(k, i), &res);
		if (s->check(st, p) != 0)
			fail_msg("%s history %u min_samples %u series %d: "
			         "its own state refused after value %zu",
			         s->name, p->history, p->min_samples, k, i);
	}
	free(st);
	return len + 1;
}

/* Every state a strategy makes itself passes its check, after every
 * value, whatever the history, min_samples and series. */
static void
test_own_states_pass(void **unused)
{
	static const uint32_t hist[] = {1, 2, 3, 7, 30, 400};
	static const uint32_t mins[] = {0, 1, 2, 50};
	struct strategy_params p;
	size_t s, h, m, checked = 0;
	int k;

	(void)unused;
	for (s = 0; s < NALL; s++)
		for (h = 0; h < SN_ARRAY_LEN(hist); h++)
			for (m = 0; m < SN_ARRAY_LEN(mins); m++)
				for (k = 0; k < NKINDS; k++) {
					p = params(hist[h], mins[m]);
					checked +=
					        own_states_pass(all[s], &p, k);
				}
	print_message("# %zu states checked\n", checked);
}

/* The history at its maximum, filled and wrapped (min_samples above
 * the values fed: mad and iqr would sort 10000 values at each). */
static void
test_own_states_pass_max_history(void **unused)
{
	struct strategy_params p = params(STRAT_MAX_HISTORY, 20000);
	struct strategy_result res;
	size_t s, i;

	(void)unused;
	for (s = 0; s < NALL; s++) {
		void *st = new_state(all[s], &p);

		for (i = 0; i < STRAT_MAX_HISTORY + 17; i++)
			all[s]->observe(st, &p, series(0, i), &res);
		assert_int_equal(all[s]->check(st, &p), 0);
		free(st);
	}
}

/* A state of s for p after n values of series 0; free() it. */
static void *
warm(const struct strategy *s, const struct strategy_params *p, size_t n)
{
	void *st = new_state(s, p);
	struct strategy_result res;
	size_t i;

	for (i = 0; i < n; i++)
		s->observe(st, p, series(0, i), &res);
	assert_int_equal(s->check(st, p), 0);
	return st;
}

/* A copy of st (size bytes) to break; free() it. */
static void *
dup_state(const void *st, size_t size)
{
	void *c = malloc(size);

	assert_non_null(c);
	memcpy(c, st, size);
	return c;
}

/*
 * The ring breakages every ring-keeping strategy must refuse.  ring_at
 * is the ring's offset in the state, vals_at its values', seen_at the
 * seen counter's; cap the ring's size.  ok is a full, wrapped state and
 * part a state not full yet (n < cap), both of size bytes.
 */
static void
expect_ring_breaks_refused(const struct strategy *s,
                           const struct strategy_params *p, const void *ok,
                           const void *part, size_t size, size_t ring_at,
                           size_t vals_at, size_t seen_at)
{
	struct strat_ring *r;
	uint64_t *seen;
	double *v;
	void *b;
	uint32_t cap;
	int i;

	cap = ((const struct strat_ring *)(const void *)((const char *)ok +
	                                                 ring_at))
	              ->cap;
	for (i = 0; i < 13; i++) {
		const void *from = i >= 9 ? part : ok;

		b = dup_state(from, size);
		r = (struct strat_ring *)(void *)((char *)b + ring_at);
		v = (double *)(void *)((char *)b + vals_at);
		seen = (uint64_t *)(void *)((char *)b + seen_at);
		switch (i) {
		case 0:
			r->cap = cap + 1; /* more slots than the block has */
			break;
		case 1:
			r->cap = cap - 1;
			break;
		case 2:
			r->cap = 0;
			break;
		case 3:
			r->n = cap + 1;
			break;
		case 4:
			r->head = cap;
			break;
		case 5:
			r->head = UINT32_MAX;
			break;
		case 6:
			v[0] = NAN;
			break;
		case 7:
			v[cap - 1] = INFINITY;
			break;
		case 8:
			*seen = r->n - 1; /* fewer seen than kept */
			break;
		case 9:
			r->head = r->n + 1; /* not full: head must be n */
			break;
		case 10:
			r->n = r->n + 1;
			r->head = r->n; /* one value more than seen */
			break;
		case 11:
			*seen = 0;
			break;
		default:
			v[r->n - 1] = -INFINITY;
			break;
		}
		if (s->check(b, p) != -1)
			fail_msg("%s: ring breakage %d accepted", s->name, i);
		free(b);
	}
}

static void
test_zscore_broken(void **unused)
{
	struct strategy_params p = params(20, 5);
	size_t size = strategy_zscore.state_size(&p);
	void *ok = warm(&strategy_zscore, &p, 47), *part;
	struct zscore_state *b;
	int i;

	(void)unused;
	part = warm(&strategy_zscore, &p, 9);
	expect_ring_breaks_refused(&strategy_zscore, &p, ok, part, size,
	                           offsetof(struct zscore_state, w.r),
	                           offsetof(struct zscore_state, v),
	                           offsetof(struct zscore_state, seen));
	for (i = 0; i < 6; i++) {
		b = dup_state(ok, size);
		switch (i) {
		case 0:
			b->min_samples = 0; /* scores an empty window */
			break;
		case 1:
			b->min_samples = 6;
			break;
		case 2:
			b->w.shift = NAN;
			break;
		case 3:
			b->w.sum = INFINITY;
			break;
		case 4:
			b->w.sumsq = NAN;
			break;
		default:
			b->w.sumsq = -INFINITY;
			break;
		}
		assert_int_equal(strategy_zscore.check(b, &p), -1);
		free(b);
	}
	free(ok);
	free(part);
}

static void
test_cusum_broken(void **unused)
{
	struct strategy_params p = params(20, 5);
	size_t size = strategy_cusum.state_size(&p);
	void *ok = warm(&strategy_cusum, &p, 47), *part;
	struct cusum_state *b;
	int i;

	(void)unused;
	part = warm(&strategy_cusum, &p, 9);
	expect_ring_breaks_refused(&strategy_cusum, &p, ok, part, size,
	                           offsetof(struct cusum_state, w.r),
	                           offsetof(struct cusum_state, v),
	                           offsetof(struct cusum_state, seen));
	for (i = 0; i < 7; i++) {
		b = dup_state(ok, size);
		switch (i) {
		case 0:
			b->min_samples = 1;
			break;
		case 1:
			b->spos = -1; /* a sum of max(0, ...) */
			break;
		case 2:
			b->sneg = NAN;
			break;
		case 3:
			b->spos = INFINITY;
			break;
		case 4:
			b->sneg = -0.5;
			break;
		case 5:
			b->w.shift = -INFINITY;
			break;
		default:
			b->w.sum = NAN;
			break;
		}
		assert_int_equal(strategy_cusum.check(b, &p), -1);
		free(b);
	}
	free(ok);
	free(part);
}

/* mad and iqr share their state: the same breakages. */
static void
test_hist_broken(void **unused)
{
	static const struct strategy *const hs[] = {&strategy_mad,
	                                            &strategy_iqr};
	struct strategy_params p = params(20, 0);
	struct strat_hist_state *b;
	size_t k, size;
	void *ok, *part;

	(void)unused;
	for (k = 0; k < 2; k++) {
		size = hs[k]->state_size(&p);
		ok = warm(hs[k], &p, 53);
		part = warm(hs[k], &p, 3);
		expect_ring_breaks_refused(
		        hs[k], &p, ok, part, size,
		        offsetof(struct strat_hist_state, r),
		        offsetof(struct strat_hist_state, v),
		        offsetof(struct strat_hist_state, seen));
		/* min_samples 0 would score an empty history: selection
		 * over n - 1 = SIZE_MAX values. */
		b = dup_state(part, size);
		b->min_samples = 0;
		b->seen = b->r.n = b->r.head = 0;
		assert_int_equal(hs[k]->check(b, &p), -1);
		free(b);
		b = dup_state(ok, size);
		b->min_samples = strat_min_samples(&p) + 1;
		assert_int_equal(hs[k]->check(b, &p), -1);
		free(b);
		free(ok);
		free(part);
	}
}

static void
test_ewma_broken(void **unused)
{
	struct strategy_params p = params(20, 5);
	size_t size = strategy_ewma.state_size(&p);
	void *ok = warm(&strategy_ewma, &p, 47);
	struct ewma_state *b;
	int i;

	(void)unused;
	for (i = 0; i < 9; i++) {
		b = dup_state(ok, size);
		switch (i) {
		case 0:
			b->min_samples = 0;
			break;
		case 1:
			b->alpha = nextafter(b->alpha, 1);
			break;
		case 2:
			b->alpha = NAN;
			break;
		case 3:
			b->mean = NAN;
			break;
		case 4:
			b->mean = INFINITY;
			break;
		case 5:
			b->var = -1e-300;
			break;
		case 6:
			b->var = INFINITY;
			break;
		case 7:
			b->var = NAN;
			break;
		default:
			b->alpha = 2;
			break;
		}
		if (strategy_ewma.check(b, &p) != -1)
			fail_msg("ewma: breakage %d accepted", i);
		free(b);
	}
	free(ok);
}

static void
test_auto_broken(void **unused)
{
	struct strategy_params p = params(0, 10);
	size_t size = strategy_auto.state_size(&p);
	/* Past AUTO_LEARN (300): the histogram is set up. */
	void *ok = warm(&strategy_auto, &p, 777), *part;
	struct auto_state *b;
	int i;

	(void)unused;
	part = warm(&strategy_auto, &p, 40);
	assert_true(((struct auto_state *)ok)->hist_ready);
	assert_false(((struct auto_state *)part)->hist_ready);
	expect_ring_breaks_refused(&strategy_auto, &p, ok, part, size,
	                           offsetof(struct auto_state, r),
	                           offsetof(struct auto_state, ring),
	                           offsetof(struct auto_state, seen));
	for (i = 0; i < 27; i++) {
		b = dup_state(i < 22 ? ok : part, size);
		switch (i) {
		case 0:
			b->min_samples = 30; /* the params say 10 */
			break;
		case 1:
			b->run_head = AUTO_RUN; /* run[] index */
			break;
		case 2:
			b->run_head = UINT32_MAX;
			break;
		case 3:
			b->run_head = (b->run_head + 1) % AUTO_RUN;
			break;
		case 4:
			b->active = 2;
			break;
		case 5:
			b->hist_ready = 0; /* 777 values: it is set up */
			break;
		case 6:
			b->since = b->seen + AUTO_RING; /* more than seen */
			break;
		case 7:
			b->lo = b->hi + 1;
			break;
		case 8:
			b->hi = NAN;
			break;
		case 9:
			b->zmax = -1;
			break;
		case 10:
			b->zmax = 100.5;
			break;
		case 11:
			b->zmax = NAN;
			break;
		case 12:
			b->bins[AUTO_BINS - 1] = -1;
			break;
		case 13:
			b->bins[3] = INFINITY;
			break;
		case 14:
			b->run[AUTO_RUN - 1] = NAN;
			break;
		case 15:
			b->bin_total = -2;
			break;
		case 16:
			b->bin_w = 0; /* floor(0 / 0) into an int */
			break;
		case 17:
			b->bin_w = -1;
			break;
		case 18:
			b->bin_w = INFINITY;
			break;
		case 19:
			b->bin_lo = NAN;
			break;
		case 20:
			b->bin_lo = DBL_MAX / 2; /* the span overflows */
			b->bin_w = DBL_MAX / 64;
			break;
		case 21:
			b->seen = 299; /* the ring holds 288, hist_ready 1 */
			break;
		case 22:
			b->hist_ready = 1; /* 40 values: not yet */
			break;
		case 23:
			b->run_head = 1; /* no step taken yet */
			break;
		case 24:
			b->lo = -INFINITY;
			break;
		case 25:
			b->min_samples = 1; /* init makes it at least 2 */
			break;
		default:
			b->run[0] = -0.25;
			break;
		}
		if (strategy_auto.check(b, &p) != -1)
			fail_msg("auto: breakage %d accepted", i);
		free(b);
	}
	free(ok);
	free(part);
}

/* A value of a kind a mutation may write: in range and out of it. */
static void
mutate(uint8_t *st, size_t size, uint64_t r)
{
	static const uint32_t u32s[] = {
	        0,   1,   2,   19,         20,         21,
	        287, 288, 289, 0x7fffffff, 0x80000000, UINT32_MAX};
	static const double dbls[] = {0,     -0.0,   1,        -1,
	                              1e308, -1e308, 5e-324,   100,
	                              101,   NAN,    INFINITY, -INFINITY};
	size_t at;
	uint32_t u;
	double d;

	/* Most fields that index are in the first 64 bytes. */
	at = r & 1 ? (size_t)((r >> 8) % (size < 64 ? size : 64))
	           : (size_t)((r >> 8) % size);
	switch ((r >> 40) % 4) {
	case 0:
		st[at] ^= (uint8_t)(1u << ((r >> 48) % 8));
		break;
	case 1:
		st[at] = (uint8_t)(r >> 52);
		break;
	case 2:
		at &= ~(size_t)3;
		if (at + 4 > size)
			break;
		u = u32s[(r >> 52) % SN_ARRAY_LEN(u32s)];
		memcpy(st + at, &u, 4);
		break;
	default:
		at &= ~(size_t)7;
		if (at + 8 > size)
			break;
		d = dbls[(r >> 52) % SN_ARRAY_LEN(dbls)];
		memcpy(st + at, &d, 8);
		break;
	}
}

/*
 * States mutated at random: what the check accepts, observe must run on
 * (under ASan and UBSan, any read or write outside the block, or an
 * undefined conversion, aborts the test).
 */
static void
test_mutated_states(void **unused)
{
	struct strategy_params ps[2];
	struct strategy_result res;
	size_t s, q, i, k, j, size, accepted = 0, refused = 0;
	uint8_t *ok, *b;
	uint64_t r;

	(void)unused;
	ps[0] = params(20, 5);
	ps[1] = params(3, 0);
	for (s = 0; s < NALL; s++)
		for (q = 0; q < 2; q++) {
			size = all[s]->state_size(&ps[q]);
			ok = warm(all[s], &ps[q], 350);
			b = malloc(size);
			assert_non_null(b);
			for (i = 0; i < 2000; i++) {
				r = mix(i + 1000 * s + 100000 * q);
				memcpy(b, ok, size);
				for (k = 0; k <= r % 3; k++)
					mutate(b, size, mix(r + k));
				if (all[s]->check(b, &ps[q]) != 0) {
					refused++;
					continue;
				}
				accepted++;
				for (j = 0; j < 40; j++)
					all[s]->observe(
					        b, &ps[q],
					        series((int)(i % NKINDS), j),
					        &res);
			}
			free(b);
			free(ok);
		}
	print_message("# %zu mutated states accepted and run, %zu refused\n",
	              accepted, refused);
	assert_true(accepted > 0);
	assert_true(refused > 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_own_states_pass),
	        cmocka_unit_test(test_own_states_pass_max_history),
	        cmocka_unit_test(test_zscore_broken),
	        cmocka_unit_test(test_cusum_broken),
	        cmocka_unit_test(test_hist_broken),
	        cmocka_unit_test(test_ewma_broken),
	        cmocka_unit_test(test_auto_broken),
	        cmocka_unit_test(test_mutated_states),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
