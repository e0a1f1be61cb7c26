/*
 * store.h: the sqlite store of events and anomalies, free of nng and
 * libevent so the unit tests drive it directly.  main.c is the daemon
 * glue: it receives messages and calls these.
 *
 *   store_open(folder, &s)     create or migrate <folder>/sentinel.db
 *   store_add_event(s, ev)     into the open transaction (begun on demand)
 *   store_add_events(s, evs, n)  the same, several at a time
 *   store_add_anomaly(s, a)
 *   store_commit(s)            make the pending rows durable, with the
 *                              rollups of their events (rollup.h)
 *   store_close(s)             commit what is pending and close
 *
 * One writer, one transaction at a time: rows accumulate in the open
 * transaction until the caller commits, so a busy daemon writes large
 * batches and an idle one commits every message.
 */
#ifndef SN_STORE_H
#define SN_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "event.h"
#include "util.h"

struct store;

/*
 * stored commits once this many rows are pending, without waiting for
 * the loop to go idle (main.c; test/bench/bench_store.c should match).
 * Each commit rewrites every page it touched, and events arrive up to a
 * second late, so a batch touches a page of the (ts_ms, event_id) index
 * per few events wherever in the last second it lands: measured with
 * 3000 groups, 1000-row commits wrote 1.8 KB of WAL per 500-byte event,
 * 8000-row commits 0.8 KB.  Under load that is a commit every few tens
 * of milliseconds; idle, a commit per message.
 */
#define STORE_BATCH_ROWS 8000

/* What store_open returns when it fails. */
#define STORE_ERR   -1 /* sqlite or file system error, logged */
#define STORE_NEWER -2 /* the file's schema is newer than this build */

/* Counters since store_open. */
struct store_stats {
	uint64_t events_inserted;
	uint64_t events_duplicate; /* same (ts_ms, event_id) already stored */
	uint64_t anomalies_inserted;
	uint64_t anomalies_duplicate; /* same anomaly id already stored */
	uint64_t commits;
	uint64_t rows_failed; /* lost to a failed insert or commit */
};

/*
 * Opens (creating folder and file as needed) <folder>/sentinel.db, sets
 * WAL mode, synchronous=NORMAL and a busy timeout, and brings the schema
 * to the current version.  Returns 0 and sets *out (free with
 * store_close), STORE_NEWER when the file was written by a newer build
 * (refuse to touch it), or STORE_ERR.  Problems are logged.
 */
int store_open(const char *folder, struct store **out);

/*
 * Add one event or anomaly to the current transaction, beginning one when
 * none is open.  Return 1 when a row was inserted, 0 when it was a
 * duplicate and ignored, -1 on an sqlite error (logged; the transaction
 * is rolled back and its rows counted as failed).
 */
int store_add_event(struct store *s, const struct sn_event *ev);
/*
 * The same for n events at once, fewer statements than one by one (the
 * events' strings must stay valid during the call).  Returns how many
 * were inserted, the others being duplicates, or -1 as above (the
 * events before the failing one are rolled back too).
 */
int store_add_events(struct store *s, const struct sn_event *evs, size_t n);
/* An anomaly row: status 'firing' or 'resolved'; numbers that are not
 * finite (expected NaN: none) and empty labels/event_ids are NULL. */
int store_add_anomaly(struct store *s, const struct sn_anomaly *a);

/* Rows added to the open transaction, inserted or ignored. */
size_t store_pending(const struct store *s);

/*
 * Commits the open transaction, if any.  Returns the number of rows it
 * held (0 when none was open), or -1 on error (logged; rolled back).
 */
int store_commit(struct store *s);

/*
 * Commits the open transaction (if any) with the rollups' changed rows,
 * or writes those alone in a transaction of their own: afterwards the
 * rollups table counts every committed event.  store_close does it;
 * tests call it.  0 or -1 (logged; rolled back).
 */
int store_flush(struct store *s);
/*
 * The same when the rollups are due (rollup.h: every second, paced by
 * how long a write takes), and commits pending rows.  The daemon calls
 * it once a second, so rollups follow even when no events come.
 */
int store_tick(struct store *s);

/* Commits what is pending, finalizes statements and closes the file. */
void store_close(struct store *s);

/*
 * ingestd's spool (cursor.h): the seq of the last event whose row is
 * committed and synced to disk, recorded in store_meta in the same
 * transactions as the rows.  store_sync_cursor, when no transaction is
 * open and a second has passed, syncs what is committed and returns 1
 * when the position moved (0: nothing to do, -1: error).
 * store_take_rewind returns 1 once after a rolled-back transaction lost
 * events taken from the spool, with the position to ask for again.
 */
uint64_t store_cursor(const struct store *s);
int store_sync_cursor(struct store *s);
int store_take_rewind(struct store *s, uint64_t *to);

/*
 * detectd's anomalies hand-over (detectd/handover.h).  store_hand_over:
 * every anomaly of the message with this id was added (none failed);
 * the id is acknowledged once the transaction holding them is committed
 * and store_sync_cursor has synced it (a rollback forgets it: detectd
 * sends the message again).  store_take_acks builds, into msg, the
 * SN_MSG_ANOMALIES_ACK of every id synced since the last call; returns
 * how many (0: none, msg untouched).
 */
void store_hand_over(struct store *s, uint64_t id);
uint32_t store_take_acks(struct store *s, struct sn_buf *msg);

const struct store_stats *store_get_stats(const struct store *s);

/* The path of the open database file (for logs). */
const char *store_path(const struct store *s);

struct sqlite3;
/*
 * The writer's connection, for retention.c, which runs its own short
 * transactions on it between batches (after store_commit).  Not for
 * other threads: readers open their own connection.
 */
struct sqlite3 *store_db(const struct store *s);
/* The rollups being built (stats, limits). */
struct rollup *store_rollup(const struct store *s);

/* schema.c: the schema version this build writes, and the migrations. */
#define STORE_SCHEMA_VERSION 4

/*
 * Brings db from its PRAGMA user_version to STORE_SCHEMA_VERSION in one
 * transaction.  Returns 0, STORE_NEWER when user_version is above what
 * we know, or STORE_ERR (logged).
 */
int schema_migrate(struct sqlite3 *db, const char *path);

#endif
