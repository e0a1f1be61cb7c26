/*
 * test_alertd_index.c: alertd's hash table finds every record put and
 * none deleted, through growth and backward-shift deletes; its due heap
 * gives records earliest first through moves and deletes.  Checked
 * against a plain array over a few thousand random operations.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../alertd/index.h"

#define N 3000

struct rec {
	char key[24];
	int in; /* in the table / heap */
	struct dheap_item due;
};

static const char *
rec_key(const void *r)
{
	return ((const struct rec *)r)->key;
}

static void
test_htab_matches_reference(void **state)
{
	static struct rec recs[N];
	struct htab t;
	size_t i, j, slot, seen;
	int round;

	(void)state;
	srandom(7);
	htab_init(&t, rec_key);
	for (i = 0; i < N; i++) {
		snprintf(recs[i].key, sizeof(recs[i].key), "k%zu", i * 7919);
		recs[i].in = 0;
	}
	for (round = 0; round < 20000; round++) {
		i = (size_t)random() % N;
		if (recs[i].in) {
			assert_ptr_equal(htab_get(&t, recs[i].key), &recs[i]);
			htab_del(&t, recs[i].key);
			recs[i].in = 0;
		} else {
			assert_null(htab_get(&t, recs[i].key));
			htab_put(&t, &recs[i]);
			recs[i].in = 1;
		}
		if (round % 997 == 0)
			for (j = 0; j < N; j++)
				assert_ptr_equal(htab_get(&t, recs[j].key),
				                 recs[j].in ? &recs[j] : NULL);
	}
	for (seen = 0, slot = 0; htab_next(&t, &slot) != NULL;)
		seen++;
	assert_int_equal(seen, t.n);
	for (j = 0, i = 0; j < N; j++)
		i += (size_t)recs[j].in;
	assert_int_equal(t.n, i);
	htab_free(&t);
}

static void
test_dheap_earliest_first(void **state)
{
	static struct rec recs[N];
	struct dheap h = {0};
	struct dheap_item *top;
	int64_t last = INT64_MIN;
	size_t i, left = 0;
	int round;

	(void)state;
	srandom(11);
	for (i = 0; i < N; i++) {
		recs[i].due.pos = DHEAP_OUT;
		recs[i].in = 0;
	}
	for (round = 0; round < 20000; round++) {
		i = (size_t)random() % N;
		switch (random() % 3) {
		case 0: /* put or move */
			dheap_set(&h, &recs[i].due, random() % 100000);
			recs[i].in = 1;
			break;
		case 1:
			dheap_del(&h, &recs[i].due);
			recs[i].in = 0;
			break;
		default: /* the top is the earliest of those in */
			if ((top = dheap_top(&h)) == NULL)
				break;
			for (size_t j = 0; j < N; j++)
				if (recs[j].in)
					assert_true(recs[j].due.at >= top->at);
		}
	}
	for (i = 0; i < N; i++)
		left += (size_t)recs[i].in;
	assert_int_equal(h.n, left);
	while ((top = dheap_top(&h)) != NULL) {
		assert_true(top->at >= last);
		last = top->at;
		dheap_del(&h, top);
		assert_int_equal(top->pos, DHEAP_OUT);
		dheap_rec(top, struct rec, due)->in = 0;
	}
	dheap_free(&h);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_htab_matches_reference),
	        cmocka_unit_test(test_dheap_earliest_first),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
