/*
 * index.h: the two indexes alertd keeps over many small records: a hash
 * table from a string key to a record, and a min-heap of records by the
 * time they are next due.  Both hold pointers to records the caller
 * owns; neither allocates per record.
 *
 * With 10 000 groups, finding a group and the earliest due one must not
 * be a walk of all of them (docs/performance.md, "Alerting").
 */
#ifndef SN_ALERTD_INDEX_H
#define SN_ALERTD_INDEX_H

#include <stddef.h>
#include <stdint.h>

/* The key of a record the table holds (a NUL-terminated string). */
typedef const char *(*htab_key_fn)(const void *rec);

/* Open addressing with linear probing; at most 3/4 full. */
struct htab {
	struct htab_slot *v; /* cap slots; rec NULL: empty */
	size_t n, cap;
	htab_key_fn key;
};

/* An empty table of records whose key is key(rec). */
void htab_init(struct htab *t, htab_key_fn key);
void htab_free(struct htab *t); /* the slots, not the records */

/* The hash of the string s (sn_fnv1a). */
uint64_t htab_hash(const char *s);

/* The record with key s, or NULL. */
void *htab_get(const struct htab *t, const char *s);

/* Adds rec, whose key the table does not hold yet. */
void htab_put(struct htab *t, void *rec);

/* Removes the record with key s, if any. */
void htab_del(struct htab *t, const char *s);

/*
 * Iteration: the first record at or after slot *i, or NULL at the end;
 * *i is moved past it.  Start with *i = 0.  The table must not change
 * meanwhile.
 */
void *htab_next(const struct htab *t, size_t *i);

/*
 * A place in a due heap, inside the record: at is the time the record
 * is due, pos its index in the heap (DHEAP_OUT when not in it).
 */
#define DHEAP_OUT SIZE_MAX
struct dheap_item {
	int64_t at;
	size_t pos;
};

/* Earliest at first; ties in no particular order. */
struct dheap {
	struct dheap_item **v;
	size_t n, cap;
};

void dheap_free(struct dheap *h); /* the array, not the records */

/* The earliest item, or NULL when the heap is empty. */
struct dheap_item *dheap_top(const struct dheap *h);

/* Puts it in the heap due at at, or moves it there when it is in. */
void dheap_set(struct dheap *h, struct dheap_item *it, int64_t at);

/* Takes it out of the heap (nothing when it is not in). */
void dheap_del(struct dheap *h, struct dheap_item *it);

/* The record holding item it as member m of type T. */
#define dheap_rec(it, T, m) ((T *)(void *)((char *)(it)-offsetof(T, m)))

#endif
