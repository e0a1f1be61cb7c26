/*
 * group.h: the bounded table of groups of one detector.
 *
 * A group is the state a detector keeps for one combination of its
 * group_by labels ("application_id=chat, model=gpt-4o").  Each group is
 * ONE allocation: this header, then the detector's fixed-size state
 * (type state and open buckets, laid out by engine.c), then the group's
 * key bytes.  Only the header holds pointers; the rest can be copied
 * with memcpy (engine_test's dry run) and written to disk as is.
 *
 * The table is open addressing with linear probing on a 64-bit FNV-1a
 * hash of the key, resized by doubling at half load, with backward-shift
 * deletion (no tombstones).  A doubly linked list orders groups by their
 * last update (an event), most recent first; when the table holds its
 * maximum, inserting evicts the least recently updated group.
 */
#ifndef SN_GROUP_H
#define SN_GROUP_H

#include <stddef.h>
#include <stdint.h>

struct group {
	struct group *newer, *older; /* LRU list */
	uint64_t hash;               /* of the key */
	int64_t next_close;   /* start of the earliest unclosed bucket with
	                         or after data; INT64_MIN: none */
	int64_t last_fire_ms; /* event time of the last FIRING */
	uint32_t empty_run;   /* empty buckets judged in a row */
	uint16_t keylen;      /* bytes of key at the end of the block */
	uint8_t firing;       /* a FIRING was emitted, no RESOLVED yet */
	uint8_t has_fired;    /* last_fire_ms is set */
};

struct group_table {
	struct group **slots; /* cap entries, NULL when free */
	size_t cap;           /* power of two, 0 before first insert */
	size_t count;
	size_t max;     /* groups at most */
	size_t key_off; /* where the key starts in a block */
	struct group *newest, *oldest;
	uint64_t evicted; /* groups evicted to make room */
};

/* FNV-1a, 64 bits. */
uint64_t group_hash(const void *p, size_t len);

/* An empty table of at most max groups whose blocks keep their key at
 * key_off (the detector's fixed bytes). */
void group_table_init(struct group_table *t, size_t max, size_t key_off);
void group_table_free(struct group_table *t);

/* The key bytes of g. */
static inline const uint8_t *
group_key(const struct group_table *t, const struct group *g)
{
	return (const uint8_t *)g + t->key_off;
}

/* The group with this key, or NULL. */
struct group *group_find(const struct group_table *t, uint64_t hash,
                         const void *key, size_t keylen);

/*
 * Adds a group for key (not in the table), evicting the least recently
 * updated one when full.  The new block is zeroed but for the header
 * and the key; it is the newest.  Never NULL (aborts on out of memory).
 */
struct group *group_insert(struct group_table *t, uint64_t hash,
                           const void *key, size_t keylen);

/* Marks g as just updated (newest). */
void group_touch(struct group_table *t, struct group *g);

#endif
