/*
 * writer.c: opening sentinel.db and writing events and anomalies into it
 * in batched transactions with prepared statements (see store.h for the
 * contract, schema.c for why the tables look the way they do).
 *
 * Counters count durable rows only: a transaction's rows are added to
 * the totals when it commits, and to rows_failed when it is rolled back.
 * sentinel_events_stored_total (metrics.h) is added to at the same
 * point, once per transaction, through a series looked up at open.
 *
 * Rollups (rollup.c) ride along: an event that INSERT OR IGNORE really
 * inserted (sqlite3_changes() == 1, so a duplicate is never counted
 * twice) goes into its buckets in memory; about once a second (the
 * hourly buckets every fifth time) store_commit writes the changed
 * buckets, with the watermarks of the events they cover, into the
 * transaction it commits (store_tick, on the daemon's timer, does it
 * when no events come; store_flush forces all of it, at close).  A
 * rollback, and a start after a crash, roll up again the committed
 * events above the watermarks, so the rollups never count an event
 * twice or miss one.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "metrics.h"
#include "msg.h"
#include "rollup.h"
#include "store.h"
#include "util.h"
#include "walckpt.h"

/* How long a statement waits for a lock held by another connection (an
 * operator's sqlite3 shell, a backup) before failing. */
#define STORE_BUSY_TIMEOUT_MS 5000
/* The writer's page cache, KB, and the WAL's checkpoint limits (see
 * store_open). */
#define STORE_CACHE_KB   16384
#define STORE_CKPT_BYTES (16 << 20)
#define STORE_CKPT_TAIL  (4 << 20)
#define STORE_CKPT_MAX   (256 << 20)
#define STORE_STR_(x)    #x
#define STORE_STR(x)     STORE_STR_(x)

struct store {
	sqlite3 *db;
	char *path; /* <folder>/sentinel.db */
	int wal_fd; /* <path>-wal for store_writeback; -1: not open yet */
	sqlite3_stmt *ins_event;  /* one row */
	sqlite3_stmt *ins_events; /* STORE_MULTI rows */
	sqlite3_stmt *find_event; /* an event's rowid by its key */
	sqlite3_stmt *ins_anomaly;
	struct rollup *rollup;   /* buckets of the events being stored */
	struct sn_walckpt *ckpt; /* checkpoints off the loop */
	int in_txn;              /* a transaction is open */
	/* rows of the open transaction, folded into stats on commit */
	uint64_t txn_ev_new, txn_ev_dup, txn_an_new, txn_an_dup;
	struct store_stats stats;
	/* ingestd's spool: the last event seq in the open transaction,
	 * committed, and committed and synced to disk (cursor.h) */
	uint64_t txn_seq, committed_seq, synced_seq;
	int64_t synced_mono;
	int rewound; /* a rollback dropped events taken from the spool */
	/* detectd's anomalies messages (handover.h) by id, as uint64_t:
	 * in the open transaction, committed, committed and synced */
	struct sn_buf ack_txn, ack_committed, ack_synced;
	struct sn_series *m_stored; /* sentinel_events_stored_total */
};

#define STORE_CURSOR_KEY "ingest_seq"

static uint64_t store_get_cursor(struct store *s);
/* At most this often a commit is synced for the spool's sake. */
#define STORE_SYNC_MS 1000

/*
 * Events go in STORE_MULTI rows a statement when a message brings that
 * many: one statement of 16 rows costs sqlite less than 16 of one (the
 * statement's start, its cursors opened and its end once, and the
 * index seek starts from where the last row went), measured at 1.2 µs
 * less per event (docs/storage.md).  Whether each row went in is not
 * reported per row, so when fewer rows went in than were given, each
 * row's key is looked up (find_event): the rows a statement inserts get
 * consecutive rowids ending at sqlite3_last_insert_rowid, so a row is
 * new when its rowid is among those and no earlier row of the same
 * statement had its key.
 */
#define STORE_MULTI      16
#define STORE_EVENT_COLS 15
static const char store_sql_event_head[] =
        "INSERT OR IGNORE INTO events (seq, event_id, ts_ms, timestamp,"
        " recv_ms, event_type, application_id, model, status, latency_ms,"
        " total_tokens, prompt_tokens, completion_tokens, cost, raw)"
        " VALUES ";
static const char store_sql_event_row[] = "(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)";
static const char store_sql_find_event[] =
        "SELECT id FROM events WHERE ts_ms = ?1 AND event_id = ?2";

static const char store_sql_anomaly[] =
        "INSERT OR IGNORE INTO anomalies (anomaly_id, seq, ts_ms,"
        " detected_ms, detector_id, detector_type, alert, severity,"
        " application_id, model, metric, value, threshold, event_id,"
        " message, status, expected, score, window_start_ms,"
        " window_end_ms, samples, labels, event_ids)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13,"
        " ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23)";

/* Runs one statement without results; logs and returns -1 on error. */
static int
store_exec(struct store *s, const char *sql)
{
	char *err = NULL;

	if (sqlite3_exec(s->db, sql, NULL, NULL, &err) != SQLITE_OK) {
		log_warnx("%s: %s: %s", s->path, sql,
		          err ? err : sqlite3_errmsg(s->db));
		sqlite3_free(err);
		return -1;
	}
	return 0;
}

/* sqlite3_exec callback keeping the first column of the first row. */
static int
store_first_column(void *arg, int ncol, char **vals, char **names)
{
	char *out = arg;

	(void)names;
	if (ncol > 0 && vals[0] != NULL && out[0] == '\0')
		snprintf(out, 16, "%s", vals[0]);
	return 0;
}

/* Prepares the insert of rows events.  0 or -1 (logged). */
static int
store_prepare_insert(struct store *s, int rows, sqlite3_stmt **out)
{
	size_t n = sizeof(store_sql_event_head) +
	           (size_t)rows * sizeof(store_sql_event_row);
	char *sql = sn_xmalloc(n), *p = sql;
	int i, rc;

	p += snprintf(p, n, "%s", store_sql_event_head);
	for (i = 0; i < rows; i++)
		p += snprintf(p, n - (size_t)(p - sql), "%s%s", i ? "," : "",
		              store_sql_event_row);
	rc = sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, out,
	                        NULL);
	free(sql);
	if (rc != SQLITE_OK) {
		log_warnx("%s: preparing statements: %s", s->path,
		          sqlite3_errmsg(s->db));
		return -1;
	}
	return 0;
}

int
store_open(const char *folder, struct store **out)
{
	struct store *s;
	char mode[16] = "";
	size_t n;
	int rc;

	*out = NULL;
	if (sn_mkdir_p(folder, 0750) < 0) {
		log_warn("storage folder %s", folder);
		return STORE_ERR;
	}
	s = sn_xcalloc(1, sizeof(*s));
	s->wal_fd = -1;
	s->m_stored = metrics_series(M_EVENTS_STORED);
	n = strlen(folder) + 1 + strlen(SN_DB_FILE) + 1;
	s->path = sn_xmalloc(n);
	snprintf(s->path, n, "%s/%s", folder, SN_DB_FILE);

	/* NOMUTEX: one thread uses the connection. */
	rc = sqlite3_open_v2(s->path, &s->db,
	                     SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
	                             SQLITE_OPEN_NOMUTEX,
	                     NULL);
	if (rc != SQLITE_OK) {
		log_warnx("%s: %s", s->path,
		          s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
		goto fail;
	}
	sqlite3_busy_timeout(s->db, STORE_BUSY_TIMEOUT_MS);

	/*
	 * 16 KB pages for a new file (a no-op on an existing one): the
	 * B-trees written per event split and are written back a quarter
	 * as often as with 4 KB pages; measured 15-40% more events per
	 * second (docs/storage.md).
	 */
	if (store_exec(s, "PRAGMA page_size = 16384") < 0)
		goto fail;
	/* The version check comes before anything that writes the file,
	 * so a newer file is left exactly as it was. */
	rc = schema_migrate(s->db, s->path);
	if (rc != 0)
		goto fail_rc;

	/*
	 * WAL: readers (the CLI, the query API) do not block the writer.
	 * synchronous=NORMAL: in WAL mode a commit survives a crash of the
	 * process; only a power loss may take the last commits, which the
	 * spool replays.
	 */
	if (sqlite3_exec(s->db, "PRAGMA journal_mode=WAL", store_first_column,
	                 mode, NULL) != SQLITE_OK) {
		log_warnx("%s: journal_mode: %s", s->path,
		          sqlite3_errmsg(s->db));
		goto fail;
	}
	if (strcmp(mode, "wal") != 0)
		log_warnx("%s: journal mode is %s, not wal (file system "
		          "without shared memory?)",
		          s->path, mode);
	if (store_exec(s, "PRAGMA synchronous=NORMAL") < 0)
		goto fail;
	/*
	 * Page cache and checkpoints, per connection (docs/storage.md,
	 * "Write rates").  sqlite's default cache (2 MB, 125 pages of
	 * 16 KB) is smaller than what one batch dirties: the right edge of
	 * events, the last second of the (ts_ms, event_id) index (events
	 * arrive up to a second late, so a batch touches a page of it per
	 * few events) and, on a rollup write, a row per group and metric.
	 * sqlite then spills dirty pages to the WAL in mid-transaction and
	 * reads them back: measured with 3000 groups, 7 000-12 000 spills
	 * and as many misses per 200 000 events, none with
	 * STORE_CACHE_KB (1024 pages).  It is a ceiling: pages are
	 * allocated as they are used.
	 *
	 * Checkpoints start at STORE_CKPT_BYTES of WAL rather than
	 * sqlite's 1000 pages: a page rewritten by many commits (the hot
	 * index and rollup pages) is copied into the database once per
	 * checkpoint.  Not more: a checkpoint ends with an fsync of all it
	 * copied, and ingestd's spool fdatasync queues behind it; with
	 * 64 MB that held it 16 ms every few seconds at 30 000 single
	 * events a second (the 202's p99 13 to 21 ms; 6 to 10 ms with
	 * 16 MB, for 4% fewer batched events stored a second).  They run
	 * on a thread of their own (walckpt.h): run in the commit, each
	 * one stalled this loop while it wrote and synced them.
	 */
	if (store_exec(s, "PRAGMA cache_size = -" STORE_STR(STORE_CACHE_KB)) <
	    0)
		goto fail;
	s->ckpt = sn_walckpt_attach(s->db, SN_DB_FILE, "NORMAL",
	                            (struct sn_walckpt_limits){STORE_CKPT_BYTES,
	                                                       STORE_CKPT_TAIL,
	                                                       STORE_CKPT_MAX});

	s->committed_seq = s->synced_seq = s->txn_seq = store_get_cursor(s);

	if (store_prepare_insert(s, 1, &s->ins_event) < 0 ||
	    store_prepare_insert(s, STORE_MULTI, &s->ins_events) < 0 ||
	    sqlite3_prepare_v3(s->db, store_sql_find_event, -1,
	                       SQLITE_PREPARE_PERSISTENT, &s->find_event,
	                       NULL) != SQLITE_OK ||
	    sqlite3_prepare_v3(s->db, store_sql_anomaly, -1,
	                       SQLITE_PREPARE_PERSISTENT, &s->ins_anomaly,
	                       NULL) != SQLITE_OK) {
		log_warnx("%s: preparing statements: %s", s->path,
		          sqlite3_errmsg(s->db));
		goto fail;
	}
	/* The sketch functions, for an operator's or a test's queries on
	 * this connection as for the readers'. */
	if (rollup_sql_register(s->db) < 0 ||
	    (s->rollup = rollup_new(s->db, s->path)) == NULL)
		goto fail;
	/* Events a crash left out of the rollups: counted again, now. */
	if ((rc = rollup_recover(s->rollup)) < 0 || store_flush(s) < 0) {
		rollup_free(s->rollup);
		goto fail;
	}
	if (rc > 0)
		log_info("%s: rolled up %d events stored after the last "
		         "rollup write",
		         s->path, rc);
	*out = s;
	return 0;
fail:
	rc = STORE_ERR;
fail_rc:
	sqlite3_finalize(s->ins_event);
	sqlite3_finalize(s->ins_events);
	sqlite3_finalize(s->find_event);
	sqlite3_finalize(s->ins_anomaly);
	sn_walckpt_detach(s->ckpt);
	sqlite3_close(s->db);
	free(s->path);
	free(s);
	return rc;
}

/* Ends a failed transaction: rolls back what sqlite has not already and
 * moves its rows to rows_failed. */
static void
store_abort(struct store *s)
{
	if (!sqlite3_get_autocommit(s->db))
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	/* The buckets may hold rolled-back events: rebuild them from what
	 * is committed.  If even that fails, the rollups retry it before
	 * taking another event. */
	rollup_recover(s->rollup);
	if (s->txn_seq > s->committed_seq)
		s->rewound = 1; /* the events taken since are gone */
	s->txn_seq = s->committed_seq;
	sn_buf_reset(&s->ack_txn); /* detectd sends them again */
	s->stats.rows_failed += s->txn_ev_new + s->txn_an_new;
	s->txn_ev_new = s->txn_ev_dup = s->txn_an_new = s->txn_an_dup = 0;
	s->in_txn = 0;
}

/* Opens a transaction when none is.  0 or -1 (logged). */
static int
store_begin(struct store *s)
{
	if (s->in_txn)
		return 0;
	/* IMMEDIATE takes the write lock now rather than upgrading later,
	 * which could fail with SQLITE_BUSY halfway through a batch. */
	if (store_exec(s, "BEGIN IMMEDIATE") < 0)
		return -1;
	s->in_txn = 1;
	return 0;
}

/* Binds a string view; NULL instead of "" when empty_null is set. */
static void
store_bind_str(sqlite3_stmt *st, int i, struct sn_str v, int empty_null)
{
	if (v.len == 0 && empty_null)
		sqlite3_bind_null(st, i);
	else
		sqlite3_bind_text(st, i, v.p ? v.p : "", (int)v.len,
		                  SQLITE_STATIC);
}

/* Binds an event number, NULL when its present bit is clear. */
static void
store_bind_num(sqlite3_stmt *st, int i, const struct sn_event *ev, uint32_t bit,
               double v)
{
	if (ev->present & bit)
		sqlite3_bind_double(st, i, v);
	else
		sqlite3_bind_null(st, i);
}

/* Binds a double, NULL when it is not finite (NaN: "none"). */
static void
store_bind_real(sqlite3_stmt *st, int i, double v)
{
	if (isfinite(v))
		sqlite3_bind_double(st, i, v);
	else
		sqlite3_bind_null(st, i);
}

/*
 * Steps an insert bound by the caller.  Returns the rows it inserted (0:
 * all ignored), -1 on error (logged, transaction aborted).
 */
static int
store_step_insert(struct store *s, sqlite3_stmt *st, const char *what)
{
	int rc;

	rc = sqlite3_step(st);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_DONE) {
		log_warnx("%s: inserting %s: %s", s->path, what,
		          sqlite3_errmsg(s->db));
		store_abort(s);
		return -1;
	}
	return sqlite3_changes(s->db);
}

/* Binds ev as the row starting at parameter base + 1. */
static void
store_bind_event(sqlite3_stmt *st, int base, const struct sn_event *ev)
{
	sqlite3_bind_int64(st, base + 1, (sqlite3_int64)ev->seq);
	store_bind_str(st, base + 2, ev->event_id, 0);
	sqlite3_bind_int64(st, base + 3, ev->ts_ms);
	store_bind_str(st, base + 4, ev->timestamp, 0);
	sqlite3_bind_int64(st, base + 5, ev->recv_ms);
	store_bind_str(st, base + 6, ev->event_type, 0);
	store_bind_str(st, base + 7, ev->application_id, 0);
	store_bind_str(st, base + 8, ev->model, 1);
	store_bind_str(st, base + 9, ev->status, 1);
	store_bind_num(st, base + 10, ev, SN_EV_LATENCY_MS, ev->latency_ms);
	store_bind_num(st, base + 11, ev, SN_EV_TOTAL_TOKENS, ev->total_tokens);
	store_bind_num(st, base + 12, ev, SN_EV_PROMPT_TOKENS,
	               ev->prompt_tokens);
	store_bind_num(st, base + 13, ev, SN_EV_COMPLETION_TOKENS,
	               ev->completion_tokens);
	store_bind_num(st, base + 14, ev, SN_EV_COST, ev->cost);
	store_bind_str(st, base + 15, ev->json, 0);
}

/* The rowid of the stored event with ev's key: > 0, 0 when there is
 * none, -1 on error (logged). */
static sqlite3_int64
store_find_event(struct store *s, const struct sn_event *ev)
{
	sqlite3_stmt *st = s->find_event;
	sqlite3_int64 id = 0;
	int rc;

	sqlite3_bind_int64(st, 1, ev->ts_ms);
	store_bind_str(st, 2, ev->event_id, 0);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		id = sqlite3_column_int64(st, 0);
	else if (rc != SQLITE_DONE) {
		log_warnx("%s: looking up event %.*s: %s", s->path,
		          (int)ev->event_id.len, ev->event_id.p,
		          sqlite3_errmsg(s->db));
		id = -1;
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return id;
}

/*
 * ids[0..k): the rowid each of the k events just given to one insert
 * got, 0 for one it ignored.  The inserted rows have the rowids
 * (last - n, last], in the order given.  0 or -1.
 */
static int
store_inserted_ids(struct store *s, const struct sn_event *evs, int k, int n,
                   sqlite3_int64 *ids)
{
	sqlite3_int64 last = sqlite3_last_insert_rowid(s->db), id;
	int i, j;

	if (n == k) {
		for (i = 0; i < k; i++)
			ids[i] = last - k + 1 + i;
		return 0;
	}
	for (i = 0; i < k; i++) {
		ids[i] = 0;
		if (n == 0)
			continue;
		if ((id = store_find_event(s, &evs[i])) < 0)
			return -1;
		if (id <= last - n || id > last)
			continue; /* stored before */
		for (j = 0; j < i && ids[j] != id; j++)
			;
		if (j == i)
			ids[i] = id; /* else a repeat within the statement */
	}
	return 0;
}

int
store_add_events(struct store *s, const struct sn_event *evs, size_t n)
{
	sqlite3_int64 ids[STORE_MULTI];
	sqlite3_stmt *st;
	size_t at;
	int i, k, rc, added = 0;

	if (store_begin(s) < 0)
		return -1;
	for (at = 0; at < n; at += (size_t)k) {
		k = n - at >= STORE_MULTI ? STORE_MULTI : 1;
		st = k == STORE_MULTI ? s->ins_events : s->ins_event;
		for (i = 0; i < k; i++)
			store_bind_event(st, i * STORE_EVENT_COLS,
			                 &evs[at + (size_t)i]);
		if ((rc = store_step_insert(s, st, "events")) < 0)
			return -1;
		if (store_inserted_ids(s, evs + at, k, rc, ids) < 0) {
			store_abort(s);
			return -1;
		}
		for (i = 0; i < k; i++) {
			const struct sn_event *ev = &evs[at + (size_t)i];

			if (ev->seq > s->txn_seq)
				s->txn_seq = ev->seq;
			if (ids[i] == 0) {
				s->txn_ev_dup++;
				continue;
			}
			s->txn_ev_new++;
			added++;
			if (rollup_add_event(s->rollup, ev, ids[i]) < 0) {
				store_abort(
				        s); /* the event without its rollup */
				return -1;
			}
		}
	}
	return added;
}

int
store_add_event(struct store *s, const struct sn_event *ev)
{
	return store_add_events(s, ev, 1);
}

int
store_add_anomaly(struct store *s, const struct sn_anomaly *a)
{
	sqlite3_stmt *st = s->ins_anomaly;
	int rc;

	if (store_begin(s) < 0)
		return -1;
	store_bind_str(st, 1, a->id, 0);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)a->seq);
	sqlite3_bind_int64(st, 3, a->ts_ms);
	sqlite3_bind_int64(st, 4, a->detected_ms);
	store_bind_str(st, 5, a->detector_id, 0);
	store_bind_str(st, 6, a->detector_type, 0);
	store_bind_str(st, 7, a->alert, 0);
	store_bind_str(st, 8, a->severity, 0);
	store_bind_str(st, 9, a->application_id, 0);
	store_bind_str(st, 10, a->model, 1);
	store_bind_str(st, 11, a->metric, 0);
	store_bind_real(st, 12, a->value);
	store_bind_real(st, 13, a->threshold);
	store_bind_str(st, 14, a->event_id, 0);
	store_bind_str(st, 15, a->message, 0);
	sqlite3_bind_text(st, 16,
	                  a->status == SN_ANOMALY_RESOLVED ? "resolved"
	                                                   : "firing",
	                  -1, SQLITE_STATIC);
	store_bind_real(st, 17, a->expected);
	store_bind_real(st, 18, a->score);
	sqlite3_bind_int64(st, 19, a->window_start_ms);
	sqlite3_bind_int64(st, 20, a->window_end_ms);
	sqlite3_bind_int64(st, 21, (sqlite3_int64)a->samples);
	store_bind_str(st, 22, a->labels, 1);
	store_bind_str(st, 23, a->event_ids, 1);
	rc = store_step_insert(s, st, "anomaly");
	if (rc == 1)
		s->txn_an_new++;
	else if (rc == 0)
		s->txn_an_dup++;
	return rc;
}

size_t
store_pending(const struct store *s)
{
	return (size_t)(s->txn_ev_new + s->txn_ev_dup + s->txn_an_new +
	                s->txn_an_dup);
}

/* Commits the open transaction, writing the rollups into it first when
 * they are due or force is set.  As store_commit. */
/* Records the spool position in the open transaction.  0 or -1. */
static int
store_put_cursor(struct store *s, uint64_t seq)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if (sqlite3_prepare_v2(s->db,
	                       "INSERT OR REPLACE INTO store_meta (key, value)"
	                       " VALUES ('" STORE_CURSOR_KEY "', ?)",
	                       -1, &st, NULL) != SQLITE_OK) {
		log_warnx("%s: %s", s->path, sqlite3_errmsg(s->db));
		return -1;
	}
	sqlite3_bind_int64(st, 1, (sqlite3_int64)seq);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		log_warnx("%s: %s", s->path, sqlite3_errmsg(s->db));
		return -1;
	}
	return 0;
}

/* The spool position of the last commit (0: none), at open. */
static uint64_t
store_get_cursor(struct store *s)
{
	sqlite3_stmt *st = NULL;
	uint64_t seq = 0;

	if (sqlite3_prepare_v2(s->db,
	                       "SELECT value FROM store_meta WHERE key = "
	                       "'" STORE_CURSOR_KEY "'",
	                       -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		seq = (uint64_t)sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return seq;
}

uint64_t
store_cursor(const struct store *s)
{
	return s->synced_seq;
}

int
store_take_rewind(struct store *s, uint64_t *to)
{
	if (!s->rewound)
		return 0;
	s->rewound = 0;
	*to = s->committed_seq;
	return 1;
}

int
store_sync_cursor(struct store *s)
{
	int64_t now = sn_mono_ms();
	int ok;

	if (s->in_txn ||
	    (s->committed_seq <= s->synced_seq && s->ack_committed.len == 0) ||
	    now - s->synced_mono < STORE_SYNC_MS)
		return 0;
	/*
	 * One commit with synchronous=FULL fsyncs the WAL, and with it
	 * every commit before it: the rows up to committed_seq are on
	 * disk, and ingestd may forget them.  Once a second, so the
	 * NORMAL commits of the write path stay cheap.
	 */
	ok = store_exec(s, "PRAGMA synchronous=FULL") == 0 &&
	     store_exec(s, "BEGIN IMMEDIATE") == 0 &&
	     store_put_cursor(s, s->committed_seq) == 0 &&
	     store_exec(s, "COMMIT") == 0;
	if (!ok && !sqlite3_get_autocommit(s->db))
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	store_exec(s, "PRAGMA synchronous=NORMAL");
	if (!ok)
		return -1;
	s->synced_seq = s->committed_seq;
	s->synced_mono = now;
	sn_buf_append(&s->ack_synced, s->ack_committed.data,
	              s->ack_committed.len);
	sn_buf_reset(&s->ack_committed);
	return 1;
}

void
store_hand_over(struct store *s, uint64_t id)
{
	struct sn_buf *to = s->in_txn ? &s->ack_txn : &s->ack_committed;

	sn_buf_append(to, &id, sizeof(id));
}

uint32_t
store_take_acks(struct store *s, struct sn_buf *msg)
{
	size_t i, n = s->ack_synced.len / sizeof(uint64_t);
	uint64_t id;

	if (n == 0)
		return 0;
	msg_begin(msg, SN_MSG_ANOMALIES_ACK);
	for (i = 0; i < n; i++) {
		memcpy(&id, s->ack_synced.data + i * sizeof(id), sizeof(id));
		msg_add_ack(msg, id);
	}
	sn_buf_reset(&s->ack_synced);
	return msg_count(msg);
}

/*
 * After a commit: starts the kernel writing the WAL's new pages to disk
 * now (sync_file_range, SYNC_FILE_RANGE_WRITE: it does not wait), so the
 * once-a-second fsync of store_sync_cursor finds little left to write.
 * Without it that fsync wrote a second of WAL at once and held the disk
 * for tens of milliseconds, and ingestd's spool fdatasync, queued behind
 * it, answered late: at 6 500 single events a second the 202's p99 was
 * 27 ms.  Syncing every 100 ms instead had the same effect on the tail
 * but cost 15 to 18% of the events stored a second under batches (the
 * fsyncs block this loop); this spreads the writes without blocking.
 * Best effort: the durability still comes from the fsync.
 */
static void
store_writeback(struct store *s)
{
	const char *wal;

	if (s->wal_fd < 0) {
		wal = sqlite3_filename_wal(sqlite3_db_filename(s->db, "main"));
		if (wal == NULL || wal[0] == '\0' ||
		    (s->wal_fd = open(wal, O_RDONLY | O_CLOEXEC)) < 0)
			return; /* not there yet: the next commit tries */
	}
	(void)sync_file_range(s->wal_fd, 0, 0, SYNC_FILE_RANGE_WRITE);
}

static int
store_commit_txn(struct store *s, int force)
{
	int64_t now = sn_mono_ms();
	size_t n;

	if (!s->in_txn)
		return 0;
	if ((force && rollup_dirty(s->rollup)
	             ? rollup_flush(s->rollup)
	             : rollup_flush_due(s->rollup, now)) < 0) {
		store_abort(s);
		return -1;
	}
	if (s->txn_seq > s->committed_seq &&
	    store_put_cursor(s, s->txn_seq) < 0) {
		store_abort(s);
		return -1;
	}
	if (store_exec(s, "COMMIT") < 0) {
		store_abort(s);
		return -1;
	}
	store_writeback(s);
	if (s->txn_seq > s->committed_seq)
		s->committed_seq = s->txn_seq;
	sn_buf_append(&s->ack_committed, s->ack_txn.data, s->ack_txn.len);
	sn_buf_reset(&s->ack_txn);
	rollup_committed(s->rollup, now);
	n = store_pending(s);
	log_debug(
	        "committed %zu rows: %" PRIu64 " events new, %" PRIu64
	        " duplicate, %" PRIu64 " anomalies new, %" PRIu64 " duplicate",
	        n, s->txn_ev_new, s->txn_ev_dup, s->txn_an_new, s->txn_an_dup);
	s->stats.events_inserted += s->txn_ev_new;
	if (s->txn_ev_new > 0)
		metrics_add(s->m_stored, s->txn_ev_new);
	s->stats.events_duplicate += s->txn_ev_dup;
	s->stats.anomalies_inserted += s->txn_an_new;
	s->stats.anomalies_duplicate += s->txn_an_dup;
	s->stats.commits++;
	s->txn_ev_new = s->txn_ev_dup = s->txn_an_new = s->txn_an_dup = 0;
	s->in_txn = 0;
	return (int)n;
}

int
store_commit(struct store *s)
{
	return store_commit_txn(s, 0);
}

int
store_tick(struct store *s)
{
	if (s->in_txn)
		return store_commit(s) < 0 ? -1 : 0;
	if (!rollup_due(s->rollup, sn_mono_ms()))
		return 0;
	if (store_begin(s) < 0)
		return -1;
	return store_commit_txn(s, 0) < 0 ? -1 : 0;
}

int
store_flush(struct store *s)
{
	if (!s->in_txn && !rollup_dirty(s->rollup))
		return 0;
	if (store_begin(s) < 0)
		return -1;
	return store_commit_txn(s, 1) < 0 ? -1 : 0;
}

void
store_close(struct store *s)
{
	if (s == NULL)
		return;
	store_flush(s);
	rollup_free(s->rollup);
	sqlite3_finalize(s->ins_event);
	sqlite3_finalize(s->ins_events);
	sqlite3_finalize(s->find_event);
	sqlite3_finalize(s->ins_anomaly);
	if (s->wal_fd >= 0)
		close(s->wal_fd);
	sn_walckpt_detach(s->ckpt);
	/* The last connection to close checkpoints the WAL into the file. */
	if (sqlite3_close(s->db) != SQLITE_OK)
		log_warnx("%s: close: %s", s->path, sqlite3_errmsg(s->db));
	sn_buf_free(&s->ack_txn);
	sn_buf_free(&s->ack_committed);
	sn_buf_free(&s->ack_synced);
	free(s->path);
	free(s);
}

const struct store_stats *
store_get_stats(const struct store *s)
{
	return &s->stats;
}

const char *
store_path(const struct store *s)
{
	return s->path;
}

struct sqlite3 *
store_db(const struct store *s)
{
	return s->db;
}

struct rollup *
store_rollup(const struct store *s)
{
	return s->rollup;
}
