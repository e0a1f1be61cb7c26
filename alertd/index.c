/*
 * index.c: alertd's hash table and due heap (see index.h).
 */
#include <stdlib.h>
#include <string.h>

#include "index.h"
#include "log.h"
#include "util.h"

struct htab_slot {
	uint64_t hash;
	void *rec;
};

void
htab_init(struct htab *t, htab_key_fn key)
{
	memset(t, 0, sizeof(*t));
	t->key = key;
}

void
htab_free(struct htab *t)
{
	free(t->v);
	t->v = NULL;
	t->n = t->cap = 0;
}

uint64_t
htab_hash(const char *s)
{
	return sn_fnv1a(SN_FNV1A_INIT, s, strlen(s));
}

/* The slot of key s, or of the empty slot that ends its probe. */
static size_t
htab_find(const struct htab *t, const char *s, uint64_t h)
{
	size_t i = (size_t)h & (t->cap - 1);

	while (t->v[i].rec != NULL &&
	       (t->v[i].hash != h || strcmp(t->key(t->v[i].rec), s) != 0))
		i = (i + 1) & (t->cap - 1);
	return i;
}

void *
htab_get(const struct htab *t, const char *s)
{
	return t->cap ? t->v[htab_find(t, s, htab_hash(s))].rec : NULL;
}

static void
htab_grow(struct htab *t)
{
	struct htab_slot *old = t->v;
	size_t i, j, cap = t->cap;

	t->cap = cap ? cap * 2 : 16;
	if ((t->v = calloc(t->cap, sizeof(*t->v))) == NULL)
		fatalx("out of memory");
	for (i = 0; i < cap; i++) {
		if (old[i].rec == NULL)
			continue;
		j = (size_t)old[i].hash & (t->cap - 1);
		while (t->v[j].rec != NULL)
			j = (j + 1) & (t->cap - 1);
		t->v[j] = old[i];
	}
	free(old);
}

void
htab_put(struct htab *t, void *rec)
{
	const char *s = t->key(rec);
	uint64_t h = htab_hash(s);
	size_t i;

	if ((t->n + 1) * 4 > t->cap * 3)
		htab_grow(t);
	i = htab_find(t, s, h);
	t->v[i].hash = h;
	t->v[i].rec = rec;
	t->n++;
}

void
htab_del(struct htab *t, const char *s)
{
	size_t i, j, home;

	if (t->cap == 0)
		return;
	i = htab_find(t, s, htab_hash(s));
	if (t->v[i].rec == NULL)
		return;
	t->v[i].rec = NULL;
	t->n--;
	/* backward shift: close the gap so every probe still finds its
	 * record without tombstones */
	for (j = (i + 1) & (t->cap - 1); t->v[j].rec != NULL;
	     j = (j + 1) & (t->cap - 1)) {
		home = (size_t)t->v[j].hash & (t->cap - 1);
		/* j's record may move to i when i lies on its probe path,
		 * cyclically in [home, j) */
		if ((j > i && (home <= i || home > j)) ||
		    (j < i && (home <= i && home > j))) {
			t->v[i] = t->v[j];
			t->v[j].rec = NULL;
			i = j;
		}
	}
}

void *
htab_next(const struct htab *t, size_t *i)
{
	while (*i < t->cap)
		if (t->v[(*i)++].rec != NULL)
			return t->v[*i - 1].rec;
	return NULL;
}

/* heap -------------------------------------------------------------- */

void
dheap_free(struct dheap *h)
{
	free(h->v);
	memset(h, 0, sizeof(*h));
}

struct dheap_item *
dheap_top(const struct dheap *h)
{
	return h->n ? h->v[0] : NULL;
}

static void
dheap_place(struct dheap *h, struct dheap_item *it, size_t i)
{
	h->v[i] = it;
	it->pos = i;
}

static void
dheap_up(struct dheap *h, size_t i)
{
	struct dheap_item *it = h->v[i];

	while (i > 0 && h->v[(i - 1) / 2]->at > it->at) {
		dheap_place(h, h->v[(i - 1) / 2], i);
		i = (i - 1) / 2;
	}
	dheap_place(h, it, i);
}

static void
dheap_down(struct dheap *h, size_t i)
{
	struct dheap_item *it = h->v[i];
	size_t c;

	while ((c = 2 * i + 1) < h->n) {
		if (c + 1 < h->n && h->v[c + 1]->at < h->v[c]->at)
			c++;
		if (h->v[c]->at >= it->at)
			break;
		dheap_place(h, h->v[c], i);
		i = c;
	}
	dheap_place(h, it, i);
}

void
dheap_set(struct dheap *h, struct dheap_item *it, int64_t at)
{
	if (it->pos == DHEAP_OUT) {
		if (h->n == h->cap) {
			h->cap = h->cap ? h->cap * 2 : 64;
			h->v = realloc(h->v, h->cap * sizeof(*h->v));
			if (h->v == NULL)
				fatalx("out of memory");
		}
		it->at = at;
		dheap_place(h, it, h->n++);
		dheap_up(h, it->pos);
		return;
	}
	it->at = at;
	dheap_up(h, it->pos);
	dheap_down(h, it->pos);
}

void
dheap_del(struct dheap *h, struct dheap_item *it)
{
	struct dheap_item *last;
	size_t i = it->pos;

	if (i == DHEAP_OUT)
		return;
	it->pos = DHEAP_OUT;
	if (i == --h->n)
		return;
	last = h->v[h->n];
	dheap_place(h, last, i);
	dheap_up(h, i);
	dheap_down(h, last->pos);
}
