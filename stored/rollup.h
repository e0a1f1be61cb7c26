/*
 * rollup.h: per-minute and per-hour aggregates of the events, built as
 * they are stored (the rows of the rollups table, schema.c).
 *
 * For each stored event and each resolution (60 s and 3600 s), the
 * bucket (resolution, bucket start, application_id, model or '') gets:
 *
 *   metric 'requests'   count += 1, errors += 1 when the event has a
 *                       status that is not "success" (none: no error)
 *   each numeric field  count, sum, min, max, and a quantile sketch
 *   present in it       (latency_ms, total_tokens, prompt_tokens,
 *                       completion_tokens, cost)
 *
 * The row format, for readers: count INTEGER, errors INTEGER (0 but for
 * 'requests'), sum/min/max REAL (NULL for 'requests'), sketch BLOB =
 * qsketch_encode() of a sketch of relative error ROLLUP_SKETCH_ERROR
 * (NULL for 'requests').  Buckets combine exactly for count, errors,
 * sum, min and max, and with qsketch_merge_encoded (or the SQL function
 * sn_qsketch_merge) for quantiles, which stay within the relative error.
 *
 * Buckets being written are kept in memory (the "cells"), loaded from
 * the table on first touch so that a restart or a late event merges into
 * what is stored, and written back with one upsert per changed row.
 *
 * When: not at every commit but every ROLLUP_FLUSH_MS for the 1-minute
 * rows and every ROLLUP_FLUSH_1H_FACTOR times that for the hourly ones
 * (sooner when memory runs over budget; later when a write takes long:
 * rollup_due), inside whichever transaction of events commits then.  An
 * upsert per changed row per commit would cost more statements than the
 * events themselves; once a second it costs little, and the hourly rows
 * (half of them, each with sketches as large as a minute's or larger)
 * once in five seconds less.  So the minute rollups trail the events by
 * about a second and the hourly ones by about five, and a crash may lose
 * those rollup updates, never an event: each write also writes its
 * resolution's watermark, the highest events.id it covers (store_meta,
 * ROLLUP_WATERMARK_*_KEY), and rollup_recover rolls up again the events
 * stored above it (at start-up and after a rollback).  events.id is
 * sqlite's max + 1, and retention never deletes an event at or above the
 * lower watermark, so ids above a watermark are exactly the events not
 * yet in that resolution's rows.
 *
 * A cell not touched for a while is dropped after it was written, and
 * the least recently written go first when the memory budget is
 * exceeded.
 *
 *   r = rollup_new(db, path); rollup_recover(r)
 *   rollup_add_event(r, ev, id)  for each event actually inserted
 *   rollup_flush_due(r, now)     inside the transaction (rollup_flush:
 *                                every changed row, at close)
 *   rollup_committed(r, now)     after COMMIT: clean, evict idle cells
 *   rollup_recover(r)            after ROLLBACK: reload from the table
 */
#ifndef SN_ROLLUP_H
#define SN_ROLLUP_H

#include <stddef.h>
#include <stdint.h>

#include "event.h"
#include "sketch.h"

struct sqlite3;

/*
 * The rollup sketch: 1% relative error.  512 buckets per sign span a
 * factor of gamma^512 (about 28000: 1 ms to 28 s) before the lowest
 * values of a bucket are merged; in memory a sketch takes
 * qsketch_size(512) (8.3 KB), on disk only its occupied buckets (a
 * latency spread over a factor of 10 takes 150-250 bytes).
 */
#define ROLLUP_SKETCH_ERROR QSKETCH_DEFAULT_ERROR
#define ROLLUP_SKETCH_BINS  512

/* Resolutions, in seconds: the index is the cell's res field. */
#define ROLLUP_NRES 2
extern const int rollup_resolutions[ROLLUP_NRES]; /* 60, 3600 */

enum rollup_metric {
	ROLLUP_REQUESTS = 0,
	ROLLUP_LATENCY_MS,
	ROLLUP_TOTAL_TOKENS,
	ROLLUP_PROMPT_TOKENS,
	ROLLUP_COMPLETION_TOKENS,
	ROLLUP_COST,
	ROLLUP_NMETRICS
};

/* The metric's name in the table ("requests", "latency_ms", ...). */
const char *rollup_metric_name(int metric);
/* The metric of a name, or -1. */
int rollup_metric_lookup(const char *name);
/* The start of the bucket of width resolution_s seconds holding ts_ms
 * (floor, also before 1970). */
int64_t rollup_bucket_start(int64_t ts_ms, int resolution_s);

/* Defaults of rollup_set_limits. */
#define ROLLUP_FLUSH_MS  1000  /* write changed rows this often */
#define ROLLUP_PACE      10    /* but wait 10 times as long as a write took */
#define ROLLUP_IDLE_MS   60000 /* drop cells idle this long */
#define ROLLUP_MAX_BYTES (64 * 1024 * 1024) /* beyond this, drop LRU */

/*
 * store_meta keys of the watermarks: the events.id up to which the
 * rollups table counts every event, in every resolution (the hourly
 * rows' mark, never above the minutes'), and in the 1-minute rows.
 * Retention keeps the events above the first (retention.c).
 */
#define ROLLUP_WATERMARK_KEY    "rollups_through_event_id"
#define ROLLUP_WATERMARK_1M_KEY "rollups_1m_through_event_id"

/* The hourly rows are written every this many flush periods (the
 * minutes' every period). */
#define ROLLUP_FLUSH_1H_FACTOR 5

struct rollup_stats {
	uint64_t cells;        /* in memory now */
	uint64_t bytes;        /* their memory, sketches included */
	uint64_t loads;        /* cells created (and looked up on disk) */
	uint64_t loaded_rows;  /* rows found there: merged into */
	uint64_t rows_written; /* upserts */
	/* rows the upserts created (not updated), per resolution, counted
	 * when their transaction commits: stored's row gauges (main.c) */
	uint64_t rows_inserted[ROLLUP_NRES];
	uint64_t flushes;      /* committed writes of the changed rows */
	uint64_t evicted;      /* cells dropped from memory */
	uint64_t bad_sketches; /* stored sketches that did not decode */
};

struct rollup;

/*
 * Prepares the statements on db (schema 3 or later) and returns an
 * empty rollup (free with rollup_free), or NULL (logged with path).
 */
struct rollup *rollup_new(struct sqlite3 *db, const char *path);
void rollup_free(struct rollup *r);

/*
 * Adds one stored event (its events.id) to its buckets, loading each
 * bucket's row from the table the first time it is touched since it was
 * last in memory.  Returns 0, or -1 on an sqlite error (logged; the
 * caller rolls back and calls rollup_recover).
 */
int rollup_add_event(struct rollup *r, const struct sn_event *ev, int64_t id);

/* Whether some bucket changed since the last write. */
int rollup_dirty(const struct rollup *r);
/* Whether it is time to write: changed buckets of a resolution, and
 * its flush period passed since its last write (now_ms monotonic) or
 * memory is over budget, and ROLLUP_PACE times the last write's
 * duration (times the resolution's factor) passed. */
int rollup_due(const struct rollup *r, int64_t now_ms);

/*
 * Writes every changed row of every changed bucket (one upsert each) and
 * the watermarks into the caller's open transaction.  0 or -1 (logged).
 */
int rollup_flush(struct rollup *r);
/* The same for the resolutions due at now_ms (rollup_due): the minutes,
 * and every ROLLUP_FLUSH_1H_FACTOR periods the hours too. */
int rollup_flush_due(struct rollup *r, int64_t now_ms);

/* The transaction committed at now_ms (a monotonic clock).  If it held
 * a rollup_flush, the buckets are clean now, and those idle for longer
 * than the idle limit, and the least recently written beyond the budget,
 * are dropped. */
void rollup_committed(struct rollup *r, int64_t now_ms);

/* Drops every bucket in memory (what they hold may never have been
 * committed). */
void rollup_discard(struct rollup *r);

/*
 * Drops every bucket in memory and rolls up again the events stored
 * above the watermark: after start-up and after a rollback, memory then
 * holds exactly what the committed events say.  Returns the number of
 * events taken, or -1 (logged; rollup_add_event and rollup_flush retry
 * it first, and fail while it fails).
 */
int rollup_recover(struct rollup *r);

/* Flush period, idle time before a clean cell is dropped (< 0: at once),
 * and the budget of all cells (exceeded by at most one flush period's
 * cells). */
void rollup_set_limits(struct rollup *r, int64_t flush_ms, int64_t idle_ms,
                       size_t max_bytes);

const struct rollup_stats *rollup_get_stats(const struct rollup *r);

/*
 * Retention deleted rows of resolution index res whose bucket starts
 * before below_ms (maybe not all of them yet).  A bucket still in memory
 * and below that bound may have lost its rows, so its next write asks
 * the table whether each row is still there before counting it as kept
 * or created (rows_inserted stays exact).
 */
void rollup_purged(struct rollup *r, int res, int64_t below_ms);

/*
 * Registers on db the SQL functions over encoded sketches, for the
 * migration's backfill and for readers:
 *
 *   sn_qsketch(x)               aggregate: the sketch of the non-NULL x
 *   sn_qsketch_merge(blob)      aggregate: merge of the non-NULL blobs
 *   sn_qsketch_quantile(blob, q)   the q-quantile (0..1), NULL if empty
 *   sn_qsketch_count(blob)      values in it
 *
 * Sketches are of ROLLUP_SKETCH_ERROR and ROLLUP_SKETCH_BINS; NULL in
 * gives NULL out; a malformed blob is an SQL error.  0 or -1.
 */
int rollup_sql_register(struct sqlite3 *db);

/*
 * Fills the rollups table from the events table (schema migration 2 ->
 * 3, inside its transaction).  0 or -1 (logged with path).
 */
int rollup_backfill(struct sqlite3 *db, const char *path);

#endif
