/*
 * rollup.c: the rollups of rollup.h, and the SQL functions over encoded
 * sketches.
 *
 * In memory: a group per (application_id, model) and a cell per (group,
 * resolution, bucket start), each cell holding the six metrics of one
 * bucket.  Two hash tables find them; a group also remembers the cell it
 * used last per resolution, so the common case (events of the current
 * minute) costs one group lookup and no cell lookup.
 *
 * Why cells are authoritative once loaded: only this process writes the
 * rollups table, so after a cell was read from the table (or found
 * absent), memory holds everything the table holds plus what came since.
 * Writing it back is then a plain upsert of the whole row, one per
 * changed row per flush however many events touched it, and a restart
 * or a late event for an old bucket merges into the stored row instead
 * of overwriting it.  A rollback drops every cell and rolls up again
 * what the table's events say beyond the watermark (rollup_recover).
 *
 * Memory: every cell is on one list ordered by when it was last written
 * (flush time).  After each flush the cells idle for longer than
 * idle_ms are dropped from the head, and while the total exceeds
 * max_bytes the least recently written clean ones are dropped too.
 * Sketches live encoded (see struct rollup_acc): a cell with all six
 * metrics takes 0.7 to 2 KB (docs/storage.md).
 */
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "log.h"
#include "rollup.h"
#include "util.h"

const int rollup_resolutions[ROLLUP_NRES] = {60, 3600};

static const char *const rollup_metric_names[ROLLUP_NMETRICS] = {
        "requests",      "latency_ms",        "total_tokens",
        "prompt_tokens", "completion_tokens", "cost",
};

/* The event's present bit of each numeric metric (0 for requests). */
static const uint32_t rollup_metric_bits[ROLLUP_NMETRICS] = {
        0,
        SN_EV_LATENCY_MS,
        SN_EV_TOTAL_TOKENS,
        SN_EV_PROMPT_TOKENS,
        SN_EV_COMPLETION_TOKENS,
        SN_EV_COST,
};

/*
 * One metric of one bucket.  Its sketch lives encoded (a few hundred
 * bytes rather than qsketch_size's 8 KB), with the values added since it
 * was last encoded kept aside and folded in (decode, add, encode) when
 * the buffer is full or the row is written.  Folding costs about as much
 * as a few dozen adds, so a busy metric gets a buffer of up to
 * ROLLUP_PENDING_MAX values, while all buffers together stay under
 * ROLLUP_PENDING_BYTES: with 10 000 active groups each folds every
 * ROLLUP_PENDING_MIN values instead, and memory stays a few tens of MB.
 * The budget holds a flush period's values of a few thousand busy
 * groups (3000 groups at 250 000 events/s: 8 to 40 MB between the
 * hourly writes), so that most values are folded once, when their row
 * is written, rather than every few values.  A written row keeps its
 * buffer while its bucket is open (more values will come), and frees
 * it once the bucket ended.
 */
struct rollup_acc {
	uint64_t count;
	uint64_t errors; /* requests only */
	double sum, min, max;
	uint8_t *enc; /* qsketch_encode of the folded values, or NULL */
	double *pend; /* values not folded yet */
	uint32_t enc_len, npend, cap;
};

#define ROLLUP_PENDING_MIN   16
#define ROLLUP_PENDING_MAX   512
#define ROLLUP_PENDING_BYTES (16 * 1024 * 1024)

struct rollup_group;

struct rollup_cell {
	struct rollup_cell *hnext;    /* hash chain */
	struct rollup_cell *dnext;    /* dirty list */
	struct rollup_cell *wnext;    /* written, awaiting the commit */
	TAILQ_ENTRY(rollup_cell) lru; /* by last write, oldest first */
	struct rollup_group *g;
	int64_t bucket_ms;
	int64_t written_ms; /* when its last write committed */
	uint32_t hash;
	uint8_t res;   /* index into rollup_resolutions */
	uint8_t dirty; /* bit per metric changed since the last write */
	uint8_t kept;  /* bit per metric whose row is in the table */
	struct rollup_acc m[ROLLUP_NMETRICS];
};

TAILQ_HEAD(rollup_lru, rollup_cell);

struct rollup_group {
	struct rollup_group *hnext;
	uint32_t hash;
	uint32_t ncells;
	struct rollup_cell *last[ROLLUP_NRES]; /* used last, per resolution */
	uint32_t app_len, model_len;
	const char *app, *model; /* into name[], NUL-terminated */
	char name[];
};

/* A chained hash table of power-of-two size; entries link through their
 * own hnext, so one table type serves groups and cells. */
struct rollup_table {
	void **slots;
	size_t mask;  /* slots - 1 */
	size_t count; /* entries */
};

struct rollup {
	sqlite3 *db;
	const char *path; /* for logs; the store's */
	sqlite3_stmt *load;
	sqlite3_stmt *upsert;
	sqlite3_stmt *mark;   /* the watermark, in store_meta */
	sqlite3_stmt *exists; /* is a row still there (rollup_purged) */
	struct rollup_table groups, cells;
	struct rollup_cell *dirty;   /* cells changed since the last write */
	struct rollup_cell *written; /* by the open transaction's write */
	size_t ndirty[ROLLUP_NRES];  /* cells on the dirty list, per res */
	struct rollup_lru lru;
	int64_t flush_ms; /* write changed rows at most this often */
	int64_t idle_ms;  /* drop clean cells idle this long */
	size_t max_bytes; /* and the least recently used beyond this */
	/* commit time of the last write, per resolution */
	int64_t last_flush_ms[ROLLUP_NRES];
	int64_t flush_cost_us; /* how long the last rollup_flush took */
	int64_t through;       /* highest events.id added to the cells */
	int64_t write_now_ms;  /* wall clock of the write under way */
	unsigned flushed;      /* resolutions written in the open transaction */
	int broken;            /* a recovery failed: retry before anything */
	/* rows created by the writes of the open transaction */
	uint64_t txn_inserted[ROLLUP_NRES];
	/* retention deleted rows of buckets starting before this */
	int64_t purged_below[ROLLUP_NRES];
	uint8_t *enc; /* qsketch_encoded_max(ROLLUP_SKETCH_BINS) bytes */
	struct qsketch *scratch; /* where sketches are decoded and folded */
	size_t pend_bytes;       /* of all pending buffers */
	struct rollup_stats stats;
};

static const char rollup_sql_load[] =
        "SELECT metric, count, errors, sum, min, max, sketch FROM rollups"
        " WHERE resolution = ?1 AND bucket_ms = ?2 AND application_id = ?3"
        " AND model = ?4";

static const char rollup_sql_upsert[] =
        "INSERT INTO rollups (resolution, bucket_ms, application_id, model,"
        " metric, count, errors, sum, min, max, sketch)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
        " ON CONFLICT (resolution, bucket_ms, application_id, model, metric)"
        " DO UPDATE SET count = excluded.count, errors = excluded.errors,"
        " sum = excluded.sum, min = excluded.min, max = excluded.max,"
        " sketch = excluded.sketch";

static const char rollup_sql_exists[] =
        "SELECT 1 FROM rollups WHERE resolution = ?1 AND bucket_ms = ?2"
        " AND application_id = ?3 AND model = ?4 AND metric = ?5";

static const char rollup_sql_mark[] =
        "INSERT INTO store_meta (key, value) VALUES (?1, ?2)"
        " ON CONFLICT (key) DO UPDATE SET value = excluded.value";

/* The store_meta key of each resolution's watermark (rollup.h). */
static const char *const rollup_mark_keys[ROLLUP_NRES] = {
        ROLLUP_WATERMARK_1M_KEY,
        ROLLUP_WATERMARK_KEY,
};

/* How many flush periods apart each resolution is written (rollup.h). */
static const int rollup_flush_factor[ROLLUP_NRES] = {1, ROLLUP_FLUSH_1H_FACTOR};

const char *
rollup_metric_name(int metric)
{
	if (metric < 0 || metric >= ROLLUP_NMETRICS)
		return NULL;
	return rollup_metric_names[metric];
}

int
rollup_metric_lookup(const char *name)
{
	int i;

	for (i = 0; i < ROLLUP_NMETRICS; i++)
		if (strcmp(name, rollup_metric_names[i]) == 0)
			return i;
	return -1;
}

int64_t
rollup_bucket_start(int64_t ts_ms, int resolution_s)
{
	int64_t w = (int64_t)resolution_s * 1000;
	int64_t m = ts_ms % w;

	return ts_ms - (m < 0 ? m + w : m);
}

static void *
rollup_xrealloc(void *p, size_t n)
{
	if ((p = realloc(p, n)) == NULL)
		fatalx("out of memory");
	return p;
}

/* Hash tables ------------------------------------------------------------ */

/* FNV-1a over a byte string, continuing from h. */
static uint32_t
rollup_fnv(uint32_t h, const char *p, size_t n)
{
	while (n-- > 0) {
		h ^= (uint8_t)*p++;
		h *= 16777619u;
	}
	return h;
}

static uint32_t
rollup_group_hash(struct sn_str app, struct sn_str model)
{
	uint32_t h = rollup_fnv(2166136261u, app.p, app.len);

	/* A separator byte (0xff is never in UTF-8), so that ("ab", "c")
	 * and ("a", "bc") hash apart. */
	h = (h ^ 0xff) * 16777619u;
	return rollup_fnv(h, model.p, model.len);
}

static uint32_t
rollup_cell_hash(const struct rollup_group *g, int res, int64_t bucket_ms)
{
	uint64_t x = (uint64_t)bucket_ms * 0x9e3779b97f4a7c15ULL;

	x ^= ((uint64_t)g->hash << 1 | (uint64_t)res) * 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 31;
	return (uint32_t)x;
}

static void
rollup_table_init(struct rollup_table *t)
{
	t->mask = 63;
	t->slots = sn_xcalloc(t->mask + 1, sizeof(void *));
	t->count = 0;
}

/* The hnext pointer is the first member of both entry types. */
static void **
rollup_next(void *e)
{
	return (void **)e;
}

/*
 * Doubles the table when it holds more entries than slots.  hash_of
 * gives an entry's hash.
 */
static void
rollup_table_grow(struct rollup_table *t, uint32_t (*hash_of)(void *))
{
	size_t n = (t->mask + 1) * 2, i;
	void **slots, *e, *next;

	if (t->count <= t->mask + 1)
		return;
	slots = sn_xcalloc(n, sizeof(void *));
	for (i = 0; i <= t->mask; i++) {
		for (e = t->slots[i]; e != NULL; e = next) {
			size_t k = hash_of(e) & (n - 1);

			next = *rollup_next(e);
			*rollup_next(e) = slots[k];
			slots[k] = e;
		}
	}
	free(t->slots);
	t->slots = slots;
	t->mask = n - 1;
}

/* Unlinks e (hash h) from t. */
static void
rollup_table_remove(struct rollup_table *t, void *e, uint32_t h)
{
	void **pp = &t->slots[h & t->mask];

	while (*pp != NULL && *pp != e)
		pp = rollup_next(*pp);
	if (*pp != NULL) {
		*pp = *rollup_next(e);
		t->count--;
	}
}

static uint32_t
rollup_group_hash_of(void *e)
{
	return ((struct rollup_group *)e)->hash;
}

static uint32_t
rollup_cell_hash_of(void *e)
{
	return ((struct rollup_cell *)e)->hash;
}

/* Cells and groups ------------------------------------------------------- */

/* The memory of a metric beyond the cell itself. */
static size_t
rollup_acc_bytes(const struct rollup_acc *a)
{
	return a->enc_len + (size_t)a->cap * sizeof(double);
}

/* Frees what a metric holds, keeping the byte count right. */
static void
rollup_acc_clear(struct rollup *r, struct rollup_acc *a)
{
	r->stats.bytes -= rollup_acc_bytes(a);
	r->pend_bytes -= (size_t)a->cap * sizeof(double);
	free(a->enc);
	free(a->pend);
	memset(a, 0, sizeof(*a));
}

/* The group of (app, model), created when absent.  Never NULL. */
static struct rollup_group *
rollup_group_get(struct rollup *r, struct sn_str app, struct sn_str model)
{
	uint32_t h = rollup_group_hash(app, model);
	struct rollup_group *g;
	char *p;

	for (g = r->groups.slots[h & r->groups.mask]; g != NULL; g = g->hnext)
		if (g->hash == h && g->app_len == app.len &&
		    g->model_len == model.len &&
		    memcmp(g->app, app.p, app.len) == 0 &&
		    memcmp(g->model, model.p, model.len) == 0)
			return g;
	g = sn_xcalloc(1, sizeof(*g) + app.len + model.len + 2);
	g->hash = h;
	g->app_len = app.len;
	g->model_len = model.len;
	p = g->name;
	memcpy(p, app.p, app.len);
	g->app = p;
	p += app.len + 1;
	memcpy(p, model.p, model.len);
	g->model = p;
	g->hnext = r->groups.slots[h & r->groups.mask];
	r->groups.slots[h & r->groups.mask] = g;
	r->groups.count++;
	rollup_table_grow(&r->groups, rollup_group_hash_of);
	r->stats.bytes += sizeof(*g) + app.len + model.len + 2;
	return g;
}

static void
rollup_group_free(struct rollup *r, struct rollup_group *g)
{
	rollup_table_remove(&r->groups, g, g->hash);
	r->stats.bytes -= sizeof(*g) + g->app_len + g->model_len + 2;
	free(g);
}

/* Frees c, which is clean or being discarded, and its group when it
 * was the group's last cell.  The caller unlinks it from the dirty list
 * (or drops the list). */
static void
rollup_cell_free(struct rollup *r, struct rollup_cell *c)
{
	struct rollup_group *g = c->g;
	int i;

	rollup_table_remove(&r->cells, c, c->hash);
	TAILQ_REMOVE(&r->lru, c, lru);
	if (g->last[c->res] == c)
		g->last[c->res] = NULL;
	for (i = 0; i < ROLLUP_NMETRICS; i++)
		rollup_acc_clear(r, &c->m[i]);
	r->stats.bytes -= sizeof(*c);
	r->stats.cells--;
	free(c);
	if (--g->ncells == 0)
		rollup_group_free(r, g);
}

/* Replaces a metric's encoded sketch with the encoding of s. */
static void
rollup_acc_store(struct rollup *r, struct rollup_acc *a,
                 const struct qsketch *s)
{
	size_t len = qsketch_encode(s, r->enc,
	                            qsketch_encoded_max(ROLLUP_SKETCH_BINS));

	if (len != a->enc_len) {
		a->enc = rollup_xrealloc(a->enc, len);
		r->stats.bytes += len;
		r->stats.bytes -= a->enc_len;
		a->enc_len = (uint32_t)len;
	}
	memcpy(a->enc, r->enc, len);
}

/*
 * Folds the pending values of a metric into its encoded sketch: decode
 * into the scratch sketch, add, encode.  Costs the sketch's occupied
 * range plus the values.  release frees the pending buffer (a row being
 * written may not be touched again for a while).
 */
static void
rollup_acc_fold(struct rollup *r, struct rollup_acc *a, int release)
{
	struct qsketch *s = r->scratch;
	uint32_t i;

	if (a->npend > 0) {
		qsketch_reset(s);
		/* Our own encoding, checked when it was loaded. */
		if (a->enc != NULL)
			qsketch_merge_encoded(s, a->enc, a->enc_len);
		for (i = 0; i < a->npend; i++)
			qsketch_add(s, a->pend[i]);
		a->npend = 0;
		rollup_acc_store(r, a, s);
	}
	if (release && a->pend != NULL) {
		r->stats.bytes -= (size_t)a->cap * sizeof(double);
		r->pend_bytes -= (size_t)a->cap * sizeof(double);
		free(a->pend);
		a->pend = NULL;
		a->cap = 0;
	}
}

/* Takes one stored row into a fresh cell.  The row's sketch is merged
 * in; one that does not decode is counted and logged, and the bucket
 * goes on with the sketch of the values that follow. */
static void
rollup_cell_take_row(struct rollup *r, struct rollup_cell *c, sqlite3_stmt *st)
{
	const char *name = (const char *)sqlite3_column_text(st, 0);
	struct rollup_acc *a;
	const void *blob;
	int m, len;

	if (name == NULL || (m = rollup_metric_lookup(name)) < 0)
		return; /* a metric of a newer build: not ours to update */
	a = &c->m[m];
	c->kept |= (uint8_t)(1u << m);
	a->count = (uint64_t)sqlite3_column_int64(st, 1);
	a->errors = (uint64_t)sqlite3_column_int64(st, 2);
	a->sum = sqlite3_column_double(st, 3);
	a->min = sqlite3_column_double(st, 4);
	a->max = sqlite3_column_double(st, 5);
	r->stats.loaded_rows++;
	if (m == ROLLUP_REQUESTS || sqlite3_column_type(st, 6) == SQLITE_NULL)
		return;
	blob = sqlite3_column_blob(st, 6);
	len = sqlite3_column_bytes(st, 6);
	/* Checked here once, so folding can trust it later. */
	qsketch_reset(r->scratch);
	if (qsketch_merge_encoded(r->scratch, blob, (size_t)len) == 0)
		rollup_acc_store(r, a, r->scratch);
	else {
		r->stats.bad_sketches++;
		log_warnx("%s: rollup %s of %s/%s at %lld: stored sketch does "
		          "not decode; its quantiles restart from new values",
		          r->path, name, c->g->app, c->g->model,
		          (long long)c->bucket_ms);
	}
}

/* Reads what the table holds for cell c.  0 or -1 (logged). */
static int
rollup_cell_load(struct rollup *r, struct rollup_cell *c)
{
	sqlite3_stmt *st = r->load;
	int rc;

	sqlite3_bind_int(st, 1, rollup_resolutions[c->res]);
	sqlite3_bind_int64(st, 2, c->bucket_ms);
	sqlite3_bind_text(st, 3, c->g->app, (int)c->g->app_len, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, c->g->model, (int)c->g->model_len,
	                  SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		rollup_cell_take_row(r, c, st);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	r->stats.loads++;
	if (rc != SQLITE_DONE) {
		log_warnx("%s: loading a rollup: %s", r->path,
		          sqlite3_errmsg(r->db));
		return -1;
	}
	return 0;
}

/* The cell of (g, res, bucket_ms), created and loaded when absent.
 * NULL on an sqlite error. */
static struct rollup_cell *
rollup_cell_get(struct rollup *r, struct rollup_group *g, int res,
                int64_t bucket_ms)
{
	uint32_t h = rollup_cell_hash(g, res, bucket_ms);
	struct rollup_cell *c;

	for (c = r->cells.slots[h & r->cells.mask]; c != NULL; c = c->hnext)
		if (c->g == g && c->res == res && c->bucket_ms == bucket_ms)
			return c;
	c = sn_xcalloc(1, sizeof(*c));
	c->g = g;
	c->res = (uint8_t)res;
	c->bucket_ms = bucket_ms;
	c->hash = h;
	c->hnext = r->cells.slots[h & r->cells.mask];
	r->cells.slots[h & r->cells.mask] = c;
	r->cells.count++;
	rollup_table_grow(&r->cells, rollup_cell_hash_of);
	TAILQ_INSERT_TAIL(&r->lru, c, lru);
	g->ncells++;
	r->stats.cells++;
	r->stats.bytes += sizeof(*c);
	if (rollup_cell_load(r, c) < 0)
		return NULL; /* the caller rolls back: rollup_discard */
	return c;
}

/* Marks metric m of c changed, putting c on the dirty list. */
static void
rollup_touch(struct rollup *r, struct rollup_cell *c, int m)
{
	if (c->dirty == 0) {
		c->dnext = r->dirty;
		r->dirty = c;
		r->ndirty[c->res]++;
	}
	c->dirty |= (uint8_t)(1u << m);
}

static void
rollup_acc_add(struct rollup *r, struct rollup_acc *a, double v)
{
	if (a->count == 0 || v < a->min)
		a->min = v;
	if (a->count == 0 || v > a->max)
		a->max = v;
	a->count++;
	a->sum += v;
	if (a->npend == a->cap) {
		/* Grow while small, or while busy and within the budget. */
		if (a->cap == ROLLUP_PENDING_MAX ||
		    (a->cap >= ROLLUP_PENDING_MIN &&
		     r->pend_bytes > ROLLUP_PENDING_BYTES))
			rollup_acc_fold(r, a, 0);
		else {
			uint32_t cap = a->cap == 0 ? 8 : a->cap * 2;
			size_t more = (size_t)(cap - a->cap) * sizeof(double);

			a->pend =
			        rollup_xrealloc(a->pend, cap * sizeof(double));
			r->stats.bytes += more;
			r->pend_bytes += more;
			a->cap = cap;
		}
	}
	a->pend[a->npend++] = v;
}

/* The event's value of numeric metric m. */
static double
rollup_event_value(const struct sn_event *ev, int m)
{
	switch (m) {
	case ROLLUP_LATENCY_MS:
		return ev->latency_ms;
	case ROLLUP_TOTAL_TOKENS:
		return ev->total_tokens;
	case ROLLUP_PROMPT_TOKENS:
		return ev->prompt_tokens;
	case ROLLUP_COMPLETION_TOKENS:
		return ev->completion_tokens;
	default:
		return ev->cost;
	}
}

/* Whether the event counts as an error: a status other than success. */
static int
rollup_is_error(const struct sn_event *ev)
{
	return ev->status.len > 0 && !(ev->status.len == 7 &&
	                               memcmp(ev->status.p, "success", 7) == 0);
}

/* Adds the event to cell c. */
static void
rollup_cell_add(struct rollup *r, struct rollup_cell *c,
                const struct sn_event *ev, int error)
{
	int m;

	c->m[ROLLUP_REQUESTS].count++;
	c->m[ROLLUP_REQUESTS].errors += (uint64_t)error;
	rollup_touch(r, c, ROLLUP_REQUESTS);
	for (m = ROLLUP_LATENCY_MS; m < ROLLUP_NMETRICS; m++) {
		double v;

		if (!(ev->present & rollup_metric_bits[m]))
			continue;
		v = rollup_event_value(ev, m);
		if (!isfinite(v))
			continue; /* the sketch would ignore it; sum would not
			           */
		rollup_acc_add(r, &c->m[m], v);
		rollup_touch(r, c, m);
	}
}

/*
 * Drops cells from the head of the list (least recently written first)
 * while they are idle or the budget is exceeded.  Runs right after a
 * flush committed; cells still waiting for their write (the hourly ones
 * between their writes) are passed over.
 */
static void
rollup_evict(struct rollup *r, int64_t now_ms)
{
	struct rollup_cell *c, *next;

	for (c = TAILQ_FIRST(&r->lru); c != NULL; c = next) {
		next = TAILQ_NEXT(c, lru);
		if (c->dirty != 0)
			continue;
		if (r->stats.bytes <= r->max_bytes &&
		    now_ms - c->written_ms <= r->idle_ms)
			break;
		rollup_cell_free(r, c);
		r->stats.evicted++;
	}
}

/* rollup_add_event into the resolutions of mask (bit per res). */
static int
rollup_add_event_res(struct rollup *r, const struct sn_event *ev, int64_t id,
                     unsigned mask)
{
	struct rollup_group *g;
	struct rollup_cell *c;
	int res, error = rollup_is_error(ev);
	int64_t b;

	g = rollup_group_get(r, ev->application_id, ev->model);
	for (res = 0; res < ROLLUP_NRES; res++) {
		if (!(mask & (1u << res)))
			continue;
		b = rollup_bucket_start(ev->ts_ms, rollup_resolutions[res]);
		c = g->last[res];
		if (c == NULL || c->bucket_ms != b) {
			c = rollup_cell_get(r, g, res, b);
			if (c == NULL)
				return -1;
			g->last[res] = c;
		}
		rollup_cell_add(r, c, ev, error);
	}
	if (id > r->through)
		r->through = id;
	return 0;
}

int
rollup_add_event(struct rollup *r, const struct sn_event *ev, int64_t id)
{
	/* Memory must hold the committed events above the watermark before
	 * it takes new ones, or the next write would skip them. */
	if (r->broken && rollup_recover(r) < 0)
		return -1;
	return rollup_add_event_res(r, ev, id, (1u << ROLLUP_NRES) - 1);
}

/* Binds a number, NULL when the row has no values. */
static void
rollup_bind_num(sqlite3_stmt *st, int i, const struct rollup_acc *a, double v)
{
	if (a->count > 0)
		sqlite3_bind_double(st, i, v);
	else
		sqlite3_bind_null(st, i);
}

/* Binds the key of metric m of cell c to st's first five parameters. */
static void
rollup_bind_key(sqlite3_stmt *st, const struct rollup_cell *c, int m)
{
	sqlite3_bind_int(st, 1, rollup_resolutions[c->res]);
	sqlite3_bind_int64(st, 2, c->bucket_ms);
	sqlite3_bind_text(st, 3, c->g->app, (int)c->g->app_len, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, c->g->model, (int)c->g->model_len,
	                  SQLITE_STATIC);
	sqlite3_bind_text(st, 5, rollup_metric_names[m], -1, SQLITE_STATIC);
}

/*
 * Whether metric m of cell c has its row in the table: known from the
 * load and the writes since, unless retention may have deleted it since
 * (a bucket below purged_below): then asked.  1, 0, or -1 (logged).
 */
static int
rollup_row_kept(struct rollup *r, struct rollup_cell *c, int m)
{
	sqlite3_stmt *st = r->exists;
	int rc;

	if (!(c->kept & (1u << m)))
		return 0;
	if (c->bucket_ms >= r->purged_below[c->res])
		return 1;
	rollup_bind_key(st, c, m);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		log_warnx("%s: looking up a rollup: %s", r->path,
		          sqlite3_errmsg(r->db));
		return -1;
	}
	if (rc == SQLITE_DONE)
		c->kept &= (uint8_t) ~(1u << m);
	return rc == SQLITE_ROW;
}

/* Whether cell c's bucket ended a while before the write under way. */
static int
rollup_cell_ended(const struct rollup *r, const struct rollup_cell *c)
{
	int64_t end = c->bucket_ms + rollup_resolutions[c->res] * 1000LL;

	return end + 2000 <= r->write_now_ms;
}

/* Upserts metric m of cell c.  0 or -1 (logged). */
static int
rollup_write_row(struct rollup *r, struct rollup_cell *c, int m)
{
	sqlite3_stmt *st = r->upsert;
	struct rollup_acc *a = &c->m[m];
	int rc, kept;

	if ((kept = rollup_row_kept(r, c, m)) < 0)
		return -1;
	rollup_bind_key(st, c, m);
	sqlite3_bind_int64(st, 6, (sqlite3_int64)a->count);
	sqlite3_bind_int64(st, 7, (sqlite3_int64)a->errors);
	if (m == ROLLUP_REQUESTS) {
		sqlite3_bind_null(st, 8);
		sqlite3_bind_null(st, 9);
		sqlite3_bind_null(st, 10);
		sqlite3_bind_null(st, 11);
	} else {
		rollup_bind_num(st, 8, a, a->sum);
		rollup_bind_num(st, 9, a, a->min);
		rollup_bind_num(st, 10, a, a->max);
		/* ended more than the late events' second ago: no more
		 * values are expected, the buffer goes */
		rollup_acc_fold(r, a, rollup_cell_ended(r, c));
		if (a->enc != NULL)
			sqlite3_bind_blob(st, 11, a->enc, (int)a->enc_len,
			                  SQLITE_STATIC);
		else
			sqlite3_bind_null(st, 11);
	}
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_DONE) {
		log_warnx("%s: writing a rollup: %s", r->path,
		          sqlite3_errmsg(r->db));
		return -1;
	}
	r->stats.rows_written++;
	if (!kept) {
		/* a rollback drops the cell, and with it this bit */
		c->kept |= (uint8_t)(1u << m);
		r->txn_inserted[c->res]++;
	}
	return 0;
}

int
rollup_dirty(const struct rollup *r)
{
	return r->dirty != NULL;
}

/*
 * Time to write?  Every flush_ms, or sooner when memory is over budget,
 * but never more often than ROLLUP_PACE times the last write took: with
 * tens of thousands of active groups a write is tens of thousands of
 * upserts, and writing it every second would leave no time for events.
 * The rollups then trail further behind, and ingestion keeps its pace.
 */
/* The resolutions due for a write at now_ms (bit per res); see
 * rollup_due.  A due hourly write takes the minutes along, so the
 * minutes' watermark is never below the hours'. */
static unsigned
rollup_due_mask(const struct rollup *r, int64_t now_ms)
{
	int64_t pace = ROLLUP_PACE * r->flush_cost_us / 1000, every;
	unsigned mask = 0;
	int res;

	if (r->dirty == NULL)
		return 0;
	every = r->stats.bytes > r->max_bytes ? 0 : r->flush_ms;
	if (every < pace)
		every = pace;
	for (res = 0; res < ROLLUP_NRES; res++)
		if (r->ndirty[res] > 0 &&
		    now_ms - r->last_flush_ms[res] >=
		            every * rollup_flush_factor[res])
			mask |= 1u << res;
	if (mask & ~1u)
		mask |= 1u;
	return mask;
}

int
rollup_due(const struct rollup *r, int64_t now_ms)
{
	return rollup_due_mask(r, now_ms) != 0;
}

/* Writes the changed rows of the resolutions in mask and their
 * watermarks.  0 or -1 (logged). */
static int
rollup_write(struct rollup *r, unsigned mask)
{
	struct rollup_cell *c, **pp;
	int64_t t0 = sn_mono_us();
	int m, rc, res;

	if (r->broken && rollup_recover(r) < 0)
		return -1;
	if (r->dirty == NULL)
		return 0;
	r->write_now_ms = sn_now_ms();
	for (pp = &r->dirty; (c = *pp) != NULL;) {
		if (!(mask & (1u << c->res))) {
			pp = &c->dnext;
			continue;
		}
		for (m = 0; m < ROLLUP_NMETRICS; m++)
			if ((c->dirty & (1u << m)) &&
			    rollup_write_row(r, c, m) < 0)
				return -1;
		/* Off the dirty list; clean once the transaction commits
		 * (a rollback discards every cell). */
		*pp = c->dnext;
		c->dnext = NULL;
		c->dirty = 0;
		r->ndirty[c->res]--;
		c->wnext = r->written;
		r->written = c;
	}
	/* The events up to here are in the rows just written, and every
	 * other changed cell is of a resolution not written now. */
	for (res = 0; res < ROLLUP_NRES; res++) {
		if (!(mask & (1u << res)))
			continue;
		sqlite3_bind_text(r->mark, 1, rollup_mark_keys[res], -1,
		                  SQLITE_STATIC);
		sqlite3_bind_int64(r->mark, 2, r->through);
		rc = sqlite3_step(r->mark);
		sqlite3_reset(r->mark);
		if (rc != SQLITE_DONE) {
			log_warnx("%s: writing the rollup watermark: %s",
			          r->path, sqlite3_errmsg(r->db));
			return -1;
		}
	}
	r->flushed |= mask;
	r->flush_cost_us = sn_mono_us() - t0;
	return 0;
}

int
rollup_flush(struct rollup *r)
{
	return rollup_write(r, (1u << ROLLUP_NRES) - 1);
}

int
rollup_flush_due(struct rollup *r, int64_t now_ms)
{
	unsigned mask = rollup_due_mask(r, now_ms);

	return mask == 0 ? 0 : rollup_write(r, mask);
}

void
rollup_committed(struct rollup *r, int64_t now_ms)
{
	struct rollup_cell *c, *next;
	int i;

	if (!r->flushed)
		return; /* a commit of events only: the cells stay dirty */
	for (i = 0; i < ROLLUP_NRES; i++) {
		if (r->flushed & (1u << i))
			r->last_flush_ms[i] = now_ms;
		r->stats.rows_inserted[i] += r->txn_inserted[i];
		r->txn_inserted[i] = 0;
	}
	r->flushed = 0;
	r->stats.flushes++;

	for (c = r->written; c != NULL; c = next) {
		next = c->wnext;
		c->wnext = NULL;
		c->written_ms = now_ms;
		TAILQ_REMOVE(&r->lru, c, lru);
		TAILQ_INSERT_TAIL(&r->lru, c, lru);
	}
	r->written = NULL;
	rollup_evict(r, now_ms);
}

void
rollup_discard(struct rollup *r)
{
	struct rollup_cell *c;

	r->dirty = NULL;
	r->written = NULL;
	memset(r->ndirty, 0, sizeof(r->ndirty));
	r->flushed = 0;
	memset(r->txn_inserted, 0, sizeof(r->txn_inserted));
	while ((c = TAILQ_FIRST(&r->lru)) != NULL)
		rollup_cell_free(r, c);
}

void
rollup_set_limits(struct rollup *r, int64_t flush_ms, int64_t idle_ms,
                  size_t max_bytes)
{
	r->flush_ms = flush_ms;
	r->idle_ms = idle_ms;
	r->max_bytes = max_bytes;
}

/* Reads the watermark of key into *out (left alone when none is
 * stored).  0 or -1. */
static int
rollup_read_mark(struct rollup *r, const char *key, int64_t *out)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(r->db,
	                       "SELECT value FROM store_meta WHERE key = ?1",
	                       -1, &st, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*out = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

/* A text column as a string view ("" for NULL), valid until the next
 * step. */
static struct sn_str
rollup_column_str(sqlite3_stmt *st, int i)
{
	struct sn_str v;

	v.p = (const char *)sqlite3_column_text(st, i);
	v.len = (uint32_t)sqlite3_column_bytes(st, i);
	if (v.p == NULL) {
		v.p = "";
		v.len = 0;
	}
	return v;
}

int
rollup_recover(struct rollup *r)
{
	static const char sql[] =
	        "SELECT id, ts_ms, application_id, model, status, latency_ms,"
	        " total_tokens, prompt_tokens, completion_tokens, cost"
	        " FROM events WHERE id > ?1 ORDER BY id";
	sqlite3_stmt *st;
	struct sn_event ev;
	int64_t mark[ROLLUP_NRES], id, low;
	unsigned mask;
	int rc, m, res, n = 0;

	rollup_discard(r);
	r->broken = 0;
	/* The minutes' mark is absent from a file whose rollups were all
	 * written together (before schema 4): the one mark holds for both. */
	mark[1] = 0;
	if (rollup_read_mark(r, ROLLUP_WATERMARK_KEY, &mark[1]) < 0 ||
	    (mark[0] = mark[1],
	     rollup_read_mark(r, ROLLUP_WATERMARK_1M_KEY, &mark[0]) < 0) ||
	    sqlite3_prepare_v2(r->db, sql, -1, &st, NULL) != SQLITE_OK) {
		log_warnx("%s: reading events to roll up: %s", r->path,
		          sqlite3_errmsg(r->db));
		r->broken = 1;
		return -1;
	}
	low = r->through = mark[0];
	for (res = 1; res < ROLLUP_NRES; res++) {
		if (mark[res] < low)
			low = mark[res];
		if (mark[res] > r->through)
			r->through = mark[res];
	}
	sqlite3_bind_int64(st, 1, low);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		memset(&ev, 0, sizeof(ev));
		ev.ts_ms = sqlite3_column_int64(st, 1);
		ev.application_id = rollup_column_str(st, 2);
		ev.model = rollup_column_str(st, 3);
		ev.status = rollup_column_str(st, 4);
		for (m = ROLLUP_LATENCY_MS; m < ROLLUP_NMETRICS; m++) {
			double v = sqlite3_column_double(st, 4 + m);

			if (sqlite3_column_type(st, 4 + m) == SQLITE_NULL)
				continue;
			ev.present |= rollup_metric_bits[m];
			switch (m) {
			case ROLLUP_LATENCY_MS:
				ev.latency_ms = v;
				break;
			case ROLLUP_TOTAL_TOKENS:
				ev.total_tokens = v;
				break;
			case ROLLUP_PROMPT_TOKENS:
				ev.prompt_tokens = v;
				break;
			case ROLLUP_COMPLETION_TOKENS:
				ev.completion_tokens = v;
				break;
			default:
				ev.cost = v;
			}
		}
		/* each resolution takes what its rows do not count yet */
		id = sqlite3_column_int64(st, 0);
		for (mask = 0, res = 0; res < ROLLUP_NRES; res++)
			if (id > mark[res])
				mask |= 1u << res;
		if (rollup_add_event_res(r, &ev, id, mask) < 0) {
			rc = SQLITE_ERROR;
			break;
		}
		n++;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		log_warnx("%s: rolling up stored events: %s", r->path,
		          sqlite3_errmsg(r->db));
		rollup_discard(r);
		r->broken = 1;
		return -1;
	}
	return n;
}

const struct rollup_stats *
rollup_get_stats(const struct rollup *r)
{
	return &r->stats;
}

void
rollup_purged(struct rollup *r, int res, int64_t below_ms)
{
	if (res >= 0 && res < ROLLUP_NRES && below_ms > r->purged_below[res])
		r->purged_below[res] = below_ms;
}

struct rollup *
rollup_new(sqlite3 *db, const char *path)
{
	struct rollup *r = sn_xcalloc(1, sizeof(*r));

	r->db = db;
	r->path = path;
	if (sqlite3_prepare_v3(db, rollup_sql_load, -1,
	                       SQLITE_PREPARE_PERSISTENT, &r->load,
	                       NULL) != SQLITE_OK ||
	    sqlite3_prepare_v3(db, rollup_sql_upsert, -1,
	                       SQLITE_PREPARE_PERSISTENT, &r->upsert,
	                       NULL) != SQLITE_OK ||
	    sqlite3_prepare_v3(db, rollup_sql_mark, -1,
	                       SQLITE_PREPARE_PERSISTENT, &r->mark,
	                       NULL) != SQLITE_OK ||
	    sqlite3_prepare_v3(db, rollup_sql_exists, -1,
	                       SQLITE_PREPARE_PERSISTENT, &r->exists,
	                       NULL) != SQLITE_OK) {
		log_warnx("%s: preparing rollup statements: %s", path,
		          sqlite3_errmsg(db));
		sqlite3_finalize(r->load);
		sqlite3_finalize(r->upsert);
		sqlite3_finalize(r->mark);
		free(r);
		return NULL;
	}
	rollup_table_init(&r->groups);
	rollup_table_init(&r->cells);
	TAILQ_INIT(&r->lru);
	r->flush_ms = ROLLUP_FLUSH_MS;
	r->idle_ms = ROLLUP_IDLE_MS;
	r->max_bytes = ROLLUP_MAX_BYTES;
	r->enc = sn_xmalloc(qsketch_encoded_max(ROLLUP_SKETCH_BINS));
	r->scratch = qsketch_init(sn_xmalloc(qsketch_size(ROLLUP_SKETCH_BINS)),
	                          ROLLUP_SKETCH_ERROR, ROLLUP_SKETCH_BINS);
	return r;
}

void
rollup_free(struct rollup *r)
{
	if (r == NULL)
		return;
	rollup_discard(r);
	sqlite3_finalize(r->load);
	sqlite3_finalize(r->upsert);
	sqlite3_finalize(r->mark);
	sqlite3_finalize(r->exists);
	free(r->groups.slots);
	free(r->cells.slots);
	free(r->enc);
	free(r->scratch);
	free(r);
}

/* SQL functions ---------------------------------------------------------- */

/* An aggregate's context: a flag, then the sketch (aligned by sqlite's
 * allocator, and by the union). */
struct rollup_agg {
	union {
		int init;
		double align;
	} u;
	unsigned char mem[];
};

static struct qsketch *
rollup_agg_sketch(sqlite3_context *ctx, int create)
{
	struct rollup_agg *a = sqlite3_aggregate_context(
	        ctx,
	        create ? (int)(sizeof(*a) + qsketch_size(ROLLUP_SKETCH_BINS))
	               : 0);

	if (a == NULL)
		return NULL;
	if (!a->u.init) {
		if (!create)
			return NULL;
		qsketch_init(a->mem, ROLLUP_SKETCH_ERROR, ROLLUP_SKETCH_BINS);
		a->u.init = 1;
	}
	return (struct qsketch *)(void *)a->mem;
}

/* Sets the result to the encoded sketch, or NULL when it is empty. */
static void
rollup_result_sketch(sqlite3_context *ctx, const struct qsketch *s)
{
	size_t len;
	void *buf;

	if (s == NULL || qsketch_count(s) == 0) {
		sqlite3_result_null(ctx);
		return;
	}
	len = qsketch_encode(s, NULL, 0);
	buf = sqlite3_malloc64(len);
	if (buf == NULL) {
		sqlite3_result_error_nomem(ctx);
		return;
	}
	qsketch_encode(s, buf, len);
	sqlite3_result_blob64(ctx, buf, len, sqlite3_free);
}

static void
rollup_fn_sketch_step(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	struct qsketch *s;

	(void)argc;
	if (sqlite3_value_type(argv[0]) == SQLITE_NULL)
		return;
	if ((s = rollup_agg_sketch(ctx, 1)) == NULL) {
		sqlite3_result_error_nomem(ctx);
		return;
	}
	qsketch_add(s, sqlite3_value_double(argv[0]));
}

/* Merges a blob argument into s; sets an SQL error when malformed. */
static int
rollup_merge_value(sqlite3_context *ctx, struct qsketch *s, sqlite3_value *v)
{
	const void *blob = sqlite3_value_blob(v);
	int len = sqlite3_value_bytes(v);

	if (qsketch_merge_encoded(s, blob, (size_t)len) != 0) {
		sqlite3_result_error(ctx, "malformed or foreign sketch", -1);
		return -1;
	}
	return 0;
}

static void
rollup_fn_merge_step(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	struct qsketch *s;

	(void)argc;
	if (sqlite3_value_type(argv[0]) == SQLITE_NULL)
		return;
	if ((s = rollup_agg_sketch(ctx, 1)) == NULL) {
		sqlite3_result_error_nomem(ctx);
		return;
	}
	rollup_merge_value(ctx, s, argv[0]);
}

static void
rollup_fn_final(sqlite3_context *ctx)
{
	rollup_result_sketch(ctx, rollup_agg_sketch(ctx, 0));
}

/* Decodes argv[0] into a fresh sketch (freed by the caller with
 * sqlite3_free); NULL with the result set (NULL or an error). */
static struct qsketch *
rollup_decode_arg(sqlite3_context *ctx, sqlite3_value *v)
{
	struct qsketch *s;

	if (sqlite3_value_type(v) == SQLITE_NULL) {
		sqlite3_result_null(ctx);
		return NULL;
	}
	s = sqlite3_malloc64(qsketch_size(ROLLUP_SKETCH_BINS));
	if (s == NULL) {
		sqlite3_result_error_nomem(ctx);
		return NULL;
	}
	qsketch_init(s, ROLLUP_SKETCH_ERROR, ROLLUP_SKETCH_BINS);
	if (rollup_merge_value(ctx, s, v) < 0) {
		sqlite3_free(s);
		return NULL;
	}
	return s;
}

static void
rollup_fn_quantile(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	struct qsketch *s;
	double q, v;

	(void)argc;
	if (sqlite3_value_type(argv[1]) == SQLITE_NULL) {
		sqlite3_result_null(ctx);
		return;
	}
	q = sqlite3_value_double(argv[1]);
	if (!(q >= 0 && q <= 1)) {
		sqlite3_result_error(ctx, "quantile must be within 0..1", -1);
		return;
	}
	if ((s = rollup_decode_arg(ctx, argv[0])) == NULL)
		return;
	v = qsketch_quantile(s, q);
	if (isnan(v))
		sqlite3_result_null(ctx);
	else
		sqlite3_result_double(ctx, v);
	sqlite3_free(s);
}

static void
rollup_fn_count(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	struct qsketch *s;

	(void)argc;
	if ((s = rollup_decode_arg(ctx, argv[0])) == NULL)
		return;
	sqlite3_result_int64(ctx, (sqlite3_int64)qsketch_count(s));
	sqlite3_free(s);
}

int
rollup_sql_register(sqlite3 *db)
{
	const int flags = SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS;

	if (sqlite3_create_function(db, "sn_qsketch", 1, flags, NULL, NULL,
	                            rollup_fn_sketch_step,
	                            rollup_fn_final) != SQLITE_OK ||
	    sqlite3_create_function(db, "sn_qsketch_merge", 1, flags, NULL,
	                            NULL, rollup_fn_merge_step,
	                            rollup_fn_final) != SQLITE_OK ||
	    sqlite3_create_function(db, "sn_qsketch_quantile", 2, flags, NULL,
	                            rollup_fn_quantile, NULL,
	                            NULL) != SQLITE_OK ||
	    sqlite3_create_function(db, "sn_qsketch_count", 1, flags, NULL,
	                            rollup_fn_count, NULL, NULL) != SQLITE_OK)
		return -1;
	return 0;
}

/* Backfill --------------------------------------------------------------- */

int
rollup_backfill(sqlite3 *db, const char *path)
{
	char sql[1024], bucket[128];
	char *err = NULL;
	int res, m, w;

	if (rollup_sql_register(db) < 0) {
		log_warnx("%s: registering sketch functions: %s", path,
		          sqlite3_errmsg(db));
		return -1;
	}
	for (res = 0; res < ROLLUP_NRES; res++) {
		w = rollup_resolutions[res] * 1000;
		/* floor to the bucket, as rollup_bucket_start */
		snprintf(bucket, sizeof(bucket),
		         "ts_ms - (((ts_ms %% %d) + %d) %% %d)", w, w, w);
		for (m = 0; m < ROLLUP_NMETRICS; m++) {
			const char *col = rollup_metric_names[m];

			if (m == ROLLUP_REQUESTS)
				snprintf(sql, sizeof(sql),
				         "INSERT INTO rollups SELECT %d, %s AS "
				         "b,"
				         " application_id, coalesce(model, '')"
				         " AS mo, 'requests', count(*),"
				         " sum(status IS NOT NULL AND status <>"
				         " 'success'), NULL, NULL, NULL, NULL"
				         " FROM events GROUP BY b,"
				         " application_id, mo",
				         rollup_resolutions[res], bucket);
			else
				snprintf(sql, sizeof(sql),
				         "INSERT INTO rollups SELECT %d, %s AS "
				         "b,"
				         " application_id, coalesce(model, '')"
				         " AS mo, '%s', count(%s), 0, sum(%s),"
				         " min(%s), max(%s), sn_qsketch(%s)"
				         " FROM events WHERE %s IS NOT NULL"
				         " GROUP BY b, application_id, mo",
				         rollup_resolutions[res], bucket, col,
				         col, col, col, col, col, col);
			if (sqlite3_exec(db, sql, NULL, NULL, &err) !=
			    SQLITE_OK) {
				log_warnx("%s: rollup backfill: %s", path,
				          err ? err : sqlite3_errmsg(db));
				sqlite3_free(err);
				return -1;
			}
		}
	}
	if (sqlite3_exec(db,
	                 "INSERT INTO store_meta (key, value) VALUES "
	                 "('" ROLLUP_WATERMARK_KEY
	                 "', (SELECT coalesce(max(id), 0) FROM events))",
	                 NULL, NULL, &err) != SQLITE_OK) {
		log_warnx("%s: rollup backfill: %s", path,
		          err ? err : sqlite3_errmsg(db));
		sqlite3_free(err);
		return -1;
	}
	return 0;
}
