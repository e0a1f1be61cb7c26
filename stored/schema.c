/*
 * schema.c: the sqlite schema of sentinel.db and its migrations.
 *
 * Versioning: PRAGMA user_version holds the schema version of the file.
 * migrations[i] takes a file from version i to i + 1; a new file starts
 * at 0 and runs them all.  A file whose version is above
 * STORE_SCHEMA_VERSION was written by a newer build: we refuse to open it
 * (stored exits 2) rather than write rows it would not expect.  To change
 * the schema, append a migration and bump STORE_SCHEMA_VERSION; never
 * edit a migration that has shipped.
 *
 * Events: why the keys are what they are.
 *
 * sqlite inserts ~480k rows/s when keys increase but ~57k/s when the key
 * is a random client event_id, because each batch then rewrites index
 * pages scattered over the whole file.  So every B-tree written per
 * event grows at its right edge:
 *
 *  - The table is rowid-ordered and sqlite picks the rowid (max + 1), so
 *    rows append.  seq is a plain column, not the key: seq comes from
 *    ingestd, and if its spool were ever reset seq would restart, and a
 *    key on seq would silently drop new events as "duplicates".
 *
 *  - Exactly-once storage is a UNIQUE index on (ts_ms, event_id) with
 *    INSERT OR IGNORE.  ts_ms leads, and events arrive roughly in time
 *    order, so new keys land near the right edge like a sequential key.
 *    The same event sent again (a client retry, or ingestd replaying its
 *    spool after a restart) carries the same timestamp and is ignored.
 *    ts_ms is the parsed instant, so "12:00:00Z" and "14:00:00+02:00"
 *    are the same event.  The price: an event_id reused with a different
 *    timestamp is taken as a different event and stored.  We accept that
 *    (nothing is lost; a client reusing ids across times keeps all its
 *    events) rather than pay the random-insert cost of an index on
 *    event_id alone on every event, forever.  The same index serves
 *    time-range queries for the query API.
 *
 *  - Absent numbers (per the event's present bits) are NULL, as are an
 *    absent model and status, so aggregates skip them.  raw keeps the
 *    whole event object as the client sent it (compact JSON).
 *
 * More indexes (per application, per model) cost every insert; they come
 * with the rollups and query API, sized against what those queries need.
 *
 * Anomalies are few; their id is unique.  detectd derives it from what
 * the record is about (detector, group, window or event, action, and
 * whether it fires or resolves), never from arrival, so an event seen
 * twice does not store its anomaly twice either, and a RESOLVED record
 * is a row of its own beside the FIRING one it closes.
 *
 * Version 2 (the detection engine) rebuilds the anomalies table rather
 * than adding columns, because version 1 declared value and threshold
 * NOT NULL: a record whose number is not finite (sqlite stores NaN as
 * NULL) would fail its insert and roll back the whole transaction,
 * events included.  The table is small, so copying it once is cheap.
 * New columns: status ('firing' or 'resolved'; rows of version 1 were
 * all firing), expected and score (NULL when the detector has none),
 * the window evaluated, its sample count, the group labels (a JSON
 * object) and the triggering event ids (a JSON array).
 *
 * Version 3 (storage: rollups, retention, the query API) adds:
 *
 *  - rollups: per (resolution, bucket, application, model, metric) the
 *    count, error count, sum, min, max and a quantile sketch (encoded
 *    qsketch, NULL for 'requests'), written by rollup.c.  WITHOUT ROWID:
 *    the key is the row, and it leads with (resolution, bucket_ms), so
 *    the rows of the current minute sit together at the right edge and
 *    a range query reads consecutive pages.  The migration fills it from
 *    the events already stored (rollup_backfill), so the first queries
 *    after an upgrade see the old data too.
 *  - notifications: what alertd sent, to whom and how it went (filled by
 *    alertd in the alerting issue; its retention runs now).
 *  - retention_runs: one row per retention policy (retention.c).
 *  - store_meta: the writer's bookkeeping; today the rollups' watermark,
 *    the highest events.id they count (rollup.h says why).
 *  - indexes the query API and retention need: anomalies by time and by
 *    detector and time, notifications by time (all few rows).
 *
 * Version 4 (issue 8, write rates) writes the hourly rollups less often
 * than the minute ones (rollup.h), so each has its watermark in
 * store_meta: ROLLUP_WATERMARK_KEY becomes the hourly rows' (still the
 * mark below which every resolution counts every event, which retention
 * keeps to), and ROLLUP_WATERMARK_1M_KEY, copied from it by the
 * migration, the minute rows'.  No table changes; the version moves so
 * that an older build, which would roll the events between the two
 * marks into the minute rows a second time, refuses the file.
 *
 * No index of events by (application_id, ts_ms), though the query API
 * filters by application: such an index has one insertion point per
 * application, so with many applications every batch dirties a page per
 * application, the random-insert cost the event key was designed to
 * avoid.  Measured with 1000-event commits (docs/storage.md): 10
 * applications 180k events/s with it, 273k without; 1000 applications
 * 40k with it, 139k without.  Per-application event lists use the time
 * index, and the 1-minute rollups can tell which minutes hold events of
 * an application.
 */
#include <sqlite3.h>
#include <stdio.h>

#include "log.h"
#include "rollup.h"
#include "store.h"
#include "util.h"

/*
 * One migration: SQL, then an optional C step that runs in the same
 * transaction (for what SQL alone cannot compute, like sketches).
 */
struct schema_migration {
	const char *sql;
	int (*fn)(sqlite3 *db, const char *path); /* 0 or -1, logged */
};

static const struct schema_migration schema_migrations[] = {
        /* 0 -> 1: events and anomalies */
        {"CREATE TABLE events ("
         "  id INTEGER PRIMARY KEY,"   /* rowid, picked by sqlite */
         "  seq INTEGER NOT NULL,"     /* ingestd's sequence number */
         "  event_id TEXT NOT NULL,"   /* the client's id */
         "  ts_ms INTEGER NOT NULL,"   /* event time, ms since epoch */
         "  timestamp TEXT NOT NULL,"  /* as the client wrote it */
         "  recv_ms INTEGER NOT NULL," /* when ingestd accepted it */
         "  event_type TEXT NOT NULL,"
         "  application_id TEXT NOT NULL,"
         "  model TEXT,"
         "  status TEXT,"
         "  latency_ms REAL,"
         "  total_tokens INTEGER,"
         "  prompt_tokens INTEGER,"
         "  completion_tokens INTEGER,"
         "  cost REAL,"
         "  raw TEXT NOT NULL" /* the whole event, JSON */
         ");"
         "CREATE UNIQUE INDEX events_ts_event_id ON events (ts_ms, event_id);"
         "CREATE TABLE anomalies ("
         "  id INTEGER PRIMARY KEY,"
         "  anomaly_id TEXT NOT NULL UNIQUE,"
         "  seq INTEGER NOT NULL,"   /* seq of the triggering event */
         "  ts_ms INTEGER NOT NULL," /* its event time */
         "  detected_ms INTEGER NOT NULL,"
         "  detector_id TEXT NOT NULL,"
         "  detector_type TEXT NOT NULL,"
         "  alert TEXT NOT NULL,"
         "  severity TEXT NOT NULL,"
         "  application_id TEXT NOT NULL,"
         "  model TEXT,"
         "  metric TEXT NOT NULL,"
         "  value REAL NOT NULL,"
         "  threshold REAL NOT NULL,"
         "  event_id TEXT NOT NULL,"
         "  message TEXT NOT NULL"
         ");",
         NULL},

        /* 1 -> 2: anomalies of the detection engine (see above) */
        {"CREATE TABLE anomalies_v2 ("
         "  id INTEGER PRIMARY KEY,"
         "  anomaly_id TEXT NOT NULL UNIQUE,"
         "  seq INTEGER NOT NULL,"   /* seq of the triggering event */
         "  ts_ms INTEGER NOT NULL," /* event time it fired/resolved */
         "  detected_ms INTEGER NOT NULL,"
         "  status TEXT NOT NULL DEFAULT 'firing'," /* or 'resolved' */
         "  detector_id TEXT NOT NULL,"
         "  detector_type TEXT NOT NULL,"
         "  alert TEXT NOT NULL,"
         "  severity TEXT NOT NULL,"
         "  application_id TEXT NOT NULL,"
         "  model TEXT,"
         "  metric TEXT NOT NULL,"
         "  value REAL,"     /* observed; NULL when not finite */
         "  expected REAL,"  /* baseline; NULL when none */
         "  score REAL,"     /* strategy score; NULL when none */
         "  threshold REAL," /* the limit crossed */
         "  window_start_ms INTEGER,"
         "  window_end_ms INTEGER,"
         "  samples INTEGER," /* events in the window */
         "  labels TEXT,"     /* group labels, JSON object */
         "  event_ids TEXT,"  /* triggering event ids, JSON array */
         "  event_id TEXT NOT NULL,"
         "  message TEXT NOT NULL"
         ");"
         "INSERT INTO anomalies_v2 (id, anomaly_id, seq, ts_ms, detected_ms,"
         "  detector_id, detector_type, alert, severity, application_id,"
         "  model, metric, value, threshold, window_start_ms, window_end_ms,"
         "  samples, labels, event_ids, event_id, message)"
         /* a version 1 anomaly was one event over its threshold */
         " SELECT id, anomaly_id, seq, ts_ms, detected_ms, detector_id,"
         "  detector_type, alert, severity, application_id, model, metric,"
         "  value, threshold, ts_ms, ts_ms, 1,"
         "  json_object('application_id', application_id),"
         "  json_array(event_id), event_id, message"
         " FROM anomalies;"
         "DROP TABLE anomalies;"
         "ALTER TABLE anomalies_v2 RENAME TO anomalies;",
         NULL},

        /* 2 -> 3: rollups, notifications, retention runs, indexes */
        {"CREATE TABLE rollups ("
         "  resolution INTEGER NOT NULL," /* 60 or 3600 seconds */
         "  bucket_ms INTEGER NOT NULL,"  /* bucket start, event time */
         "  application_id TEXT NOT NULL,"
         "  model TEXT NOT NULL,"  /* '' when absent */
         "  metric TEXT NOT NULL," /* 'requests' or a numeric field */
         "  count INTEGER NOT NULL,"
         "  errors INTEGER NOT NULL DEFAULT 0," /* requests: not success */
         "  sum REAL,"
         "  min REAL,"
         "  max REAL,"
         "  sketch BLOB," /* qsketch_encode; NULL for 'requests' */
         "  PRIMARY KEY (resolution, bucket_ms, application_id, model,"
         "   metric)"
         ") WITHOUT ROWID;"
         "CREATE TABLE notifications ("
         "  id INTEGER PRIMARY KEY,"
         "  ts_ms INTEGER NOT NULL,"
         "  anomaly_id TEXT,"
         "  receiver TEXT NOT NULL,"
         "  status TEXT NOT NULL," /* sent, failed, retrying */
         "  attempts INTEGER NOT NULL DEFAULT 1,"
         "  error TEXT,"
         "  detail TEXT" /* JSON */
         ");"
         "CREATE TABLE store_meta (" /* the writer's own bookkeeping */
         "  key TEXT PRIMARY KEY,"
         "  value INTEGER"
         ");"
         "CREATE TABLE retention_runs ("
         "  policy TEXT PRIMARY KEY,"
         "  last_run_ms INTEGER," /* wall clock of the last full pass */
         "  deleted_last INTEGER,"
         "  deleted_total INTEGER,"
         "  cutoff_ms INTEGER" /* rows older than this were deleted */
         ");"
         "CREATE INDEX anomalies_ts ON anomalies (ts_ms);"
         "CREATE INDEX anomalies_detector_ts ON anomalies (detector_id,"
         " ts_ms);"
         "CREATE INDEX notifications_ts ON notifications (ts_ms);",
         rollup_backfill},

        /* 3 -> 4: the 1-minute rollups' own watermark (see above) */
        {"INSERT OR IGNORE INTO store_meta (key, value)"
         " SELECT '" ROLLUP_WATERMARK_1M_KEY "', value FROM store_meta"
         " WHERE key = '" ROLLUP_WATERMARK_KEY "';",
         NULL},
};

/* The migrations and the version constant must agree. */
_Static_assert(SN_ARRAY_LEN(schema_migrations) == STORE_SCHEMA_VERSION,
               "one migration per schema version");

/* Reads PRAGMA user_version into *version.  0 or -1 (logged). */
static int
schema_version(sqlite3 *db, const char *path, int *version)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) !=
	    SQLITE_OK) {
		log_warnx("%s: reading schema version: %s", path,
		          sqlite3_errmsg(db));
		return -1;
	}
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*version = sqlite3_column_int(st, 0);
	else
		log_warnx("%s: reading schema version: %s", path,
		          sqlite3_errmsg(db));
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 0 : -1;
}

/* Runs sql (no results expected); logs and returns -1 on error. */
static int
schema_exec(sqlite3 *db, const char *path, const char *sql)
{
	char *err = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
		log_warnx("%s: %s", path, err ? err : sqlite3_errmsg(db));
		sqlite3_free(err);
		return -1;
	}
	return 0;
}

int
schema_migrate(sqlite3 *db, const char *path)
{
	char sql[64];
	int v, from;

	if (schema_version(db, path, &v) < 0)
		return STORE_ERR;
	if (v > STORE_SCHEMA_VERSION) {
		log_error("%s: schema version %d is newer than %d, the newest "
		          "this sentinel knows; refusing to open it (upgrade "
		          "sentinel, or move the file away)",
		          path, v, STORE_SCHEMA_VERSION);
		return STORE_NEWER;
	}
	if (v == STORE_SCHEMA_VERSION)
		return 0;

	/* IMMEDIATE: take the write lock first, so the version we read
	 * cannot change under us. */
	if (schema_exec(db, path, "BEGIN IMMEDIATE") < 0)
		return STORE_ERR;
	if (schema_version(db, path, &v) < 0)
		goto fail;
	if (v > STORE_SCHEMA_VERSION) { /* another build got there first */
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		return schema_migrate(db, path);
	}
	from = v;
	for (; v < STORE_SCHEMA_VERSION; v++) {
		if (schema_exec(db, path, schema_migrations[v].sql) < 0)
			goto fail;
		if (schema_migrations[v].fn != NULL &&
		    schema_migrations[v].fn(db, path) < 0)
			goto fail;
	}
	/* PRAGMA takes no bound parameters; v is our own integer. */
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", v);
	if (schema_exec(db, path, sql) < 0 ||
	    schema_exec(db, path, "COMMIT") < 0)
		goto fail;
	log_info("%s: schema migrated from version %d to %d", path, from, v);
	return 0;
fail:
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return STORE_ERR;
}
