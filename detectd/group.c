/*
 * group.c: the bounded group table of a detector (see group.h).
 */
#include <stdlib.h>
#include <string.h>

#include "group.h"
#include "util.h"

#define GROUP_MIN_CAP 16

uint64_t
group_hash(const void *p, size_t len)
{
	return sn_fnv1a(SN_FNV1A_INIT, p, len);
}

void
group_table_init(struct group_table *t, size_t max, size_t key_off)
{
	memset(t, 0, sizeof(*t));
	t->max = max > 0 ? max : 1;
	t->key_off = key_off;
}

void
group_table_free(struct group_table *t)
{
	struct group *g, *next;

	for (g = t->newest; g != NULL; g = next) {
		next = g->older;
		free(g);
	}
	free(t->slots);
	t->slots = NULL;
	t->cap = t->count = 0;
	t->newest = t->oldest = NULL;
}

/* The slot where g lives (it must be in the table). */
static size_t
group_slot_of(const struct group_table *t, const struct group *g)
{
	size_t i = g->hash & (t->cap - 1);

	while (t->slots[i] != g)
		i = (i + 1) & (t->cap - 1);
	return i;
}

struct group *
group_find(const struct group_table *t, uint64_t hash, const void *key,
           size_t keylen)
{
	struct group *g;
	size_t i;

	if (t->cap == 0)
		return NULL;
	for (i = hash & (t->cap - 1); (g = t->slots[i]) != NULL;
	     i = (i + 1) & (t->cap - 1))
		if (g->hash == hash && g->keylen == keylen &&
		    memcmp(group_key(t, g), key, keylen) == 0)
			return g;
	return NULL;
}

/* Puts g in the first free slot of its probe sequence. */
static void
group_place(struct group **slots, size_t cap, struct group *g)
{
	size_t i = g->hash & (cap - 1);

	while (slots[i] != NULL)
		i = (i + 1) & (cap - 1);
	slots[i] = g;
}

static void
group_grow(struct group_table *t)
{
	size_t cap = t->cap ? t->cap * 2 : GROUP_MIN_CAP, i;
	struct group **slots = sn_xcalloc(cap, sizeof(*slots));

	for (i = 0; i < t->cap; i++)
		if (t->slots[i] != NULL)
			group_place(slots, cap, t->slots[i]);
	free(t->slots);
	t->slots = slots;
	t->cap = cap;
}

static void
group_unlink(struct group_table *t, struct group *g)
{
	if (g->newer)
		g->newer->older = g->older;
	else
		t->newest = g->older;
	if (g->older)
		g->older->newer = g->newer;
	else
		t->oldest = g->newer;
	g->newer = g->older = NULL;
}

static void
group_push_newest(struct group_table *t, struct group *g)
{
	g->older = t->newest;
	g->newer = NULL;
	if (t->newest)
		t->newest->newer = g;
	else
		t->oldest = g;
	t->newest = g;
}

/*
 * Removes g from the slots by backward shift: every later entry of the
 * probe run that may move into the hole does, so lookups never need
 * tombstones.
 */
static void
group_remove_slot(struct group_table *t, struct group *g)
{
	size_t mask = t->cap - 1, hole = group_slot_of(t, g), i, home;

	t->slots[hole] = NULL;
	for (i = (hole + 1) & mask; t->slots[i] != NULL; i = (i + 1) & mask) {
		home = t->slots[i]->hash & mask;
		/* Move it when its home is not in (hole, i], cyclically. */
		if (((i - home) & mask) >= ((i - hole) & mask)) {
			t->slots[hole] = t->slots[i];
			t->slots[i] = NULL;
			hole = i;
		}
	}
}

struct group *
group_insert(struct group_table *t, uint64_t hash, const void *key,
             size_t keylen)
{
	struct group *g, *old;

	if (t->count >= t->max && (old = t->oldest) != NULL) {
		group_remove_slot(t, old);
		group_unlink(t, old);
		free(old);
		t->count--;
		t->evicted++;
	}
	if ((t->count + 1) * 2 > t->cap)
		group_grow(t);
	g = sn_xcalloc(1, t->key_off + keylen);
	g->hash = hash;
	g->keylen = (uint16_t)keylen;
	g->next_close = INT64_MIN;
	memcpy((uint8_t *)g + t->key_off, key, keylen);
	group_place(t->slots, t->cap, g);
	group_push_newest(t, g);
	t->count++;
	return g;
}

void
group_touch(struct group_table *t, struct group *g)
{
	if (t->newest == g)
		return;
	group_unlink(t, g);
	group_push_newest(t, g);
}
