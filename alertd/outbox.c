/*
 * outbox.c: the durable outbox (see outbox.h), one sqlite table.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "alertdb.h"
#include "log.h"
#include "outbox.h"
#include "util.h"
#include "walckpt.h"

/* A row queued in the open transaction, told to on_row once committed. */
struct outbox_fresh {
	char *id;
	char *receiver;
	int64_t next_ms;
	void *memo; /* outbox_enqueue_memo's, or NULL */
	void (*memo_free)(void *);
};

/*
 * Checkpoints on a thread of their own (walckpt.h), starting at
 * OUTBOX_CKPT_BYTES in the WAL: the loop's commits stay as short as
 * their own writes.
 */
#define OUTBOX_CKPT_BYTES (4 << 20)
#define OUTBOX_CKPT_TAIL  (1 << 20)
#define OUTBOX_CKPT_MAX   (16 << 20)

struct outbox {
	sqlite3 *db;
	struct sn_walckpt *ck; /* checkpoints off the loop */
	struct outbox_policy policy;
	int batching; /* units are savepoints of one open transaction */
	int units;    /* units open */
	size_t mark;  /* fresh rows before the open unit */
	outbox_open_fn on_open;   /* a batch transaction began */
	outbox_row_fn on_row;     /* a queued row committed */
	outbox_fresh_fn on_fresh; /* the same, with its memo */
	void *arg;
	outbox_precommit_fn precommit; /* before each COMMIT, or NULL */
	void *precommit_arg;
	struct outbox_fresh *fresh; /* queued, not yet committed */
	size_t nfresh, capfresh;
};

/*
 * state: pending (to send at next_ms), sent, failed.  updated_ms is the
 * last attempt or outcome, what prune ages rows by.
 *
 * outbox_by_receiver (outbox_stats' lookups) leaves state out: marking a
 * row sent then changes one index, not two (a third of the UPDATE's
 * cost).  It replaces outbox_receiver ON outbox(receiver, state), which
 * files written before are rid of here; an older alertd makes it again
 * (IF NOT EXISTS), which is harmless.
 */
static const char outbox_schema[] = "CREATE TABLE IF NOT EXISTS outbox ("
                                    " id TEXT PRIMARY KEY,"
                                    " receiver TEXT NOT NULL,"
                                    " payload TEXT NOT NULL,"
                                    " state TEXT NOT NULL DEFAULT 'pending',"
                                    " attempts INTEGER NOT NULL DEFAULT 0,"
                                    " created_ms INTEGER NOT NULL,"
                                    " next_ms INTEGER NOT NULL,"
                                    " updated_ms INTEGER NOT NULL,"
                                    " sent_ms INTEGER,"
                                    " last_error TEXT);"
                                    "CREATE INDEX IF NOT EXISTS outbox_pending"
                                    " ON outbox(state, next_ms);"
                                    "DROP INDEX IF EXISTS outbox_receiver;"
                                    "CREATE INDEX IF NOT EXISTS"
                                    " outbox_by_receiver ON outbox(receiver);";

struct outbox_policy
outbox_policy_default(void)
{
	struct outbox_policy p = {1000, 5 * 60 * 1000, 60 * 60 * 1000};

	return p;
}

struct outbox *
outbox_open(const char *path, struct outbox_policy policy)
{
	struct outbox *ob = sn_xcalloc(1, sizeof(*ob));
	char *err = NULL;

	ob->policy = policy;
	if (sqlite3_open_v2(path, &ob->db,
	                    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
	                    NULL) != SQLITE_OK) {
		log_warnx("outbox %s: %s", path,
		          ob->db ? sqlite3_errmsg(ob->db) : "out of memory");
		goto fail;
	}
	sqlite3_busy_timeout(ob->db, 5000);
	/*
	 * WAL with synchronous=FULL: a row the caller saw committed
	 * survives kill -9 and power loss.  alertd commits once per loop
	 * iteration (outbox_batch), so the fsyncs are few.
	 *
	 * sqlite's default 4 KiB pages: 1 KiB pages wrote a quarter of
	 * the bytes for the random index leaves each alert dirties, but
	 * sqlite writes the WAL a page (two write calls) at a time, the
	 * outbox rows (1 to 2 KB) spill into overflow pages, and system
	 * calls are what a commit costs here: with the checkpoints off
	 * the loop, 4 KiB pages took about 12% less CPU per alert.  It
	 * applies when the file is created; an older database keeps its
	 * page size.
	 */
	if (sqlite3_exec(ob->db,
	                 "PRAGMA page_size=4096;"
	                 "PRAGMA journal_mode=WAL;"
	                 "PRAGMA synchronous=FULL;",
	                 NULL, NULL, &err) != SQLITE_OK ||
	    sqlite3_exec(ob->db, outbox_schema, NULL, NULL, &err) !=
	            SQLITE_OK) {
		log_warnx("outbox %s: %s", path, err ? err : "schema");
		sqlite3_free(err);
		goto fail;
	}
	/* checkpoints off the loop (outbox_wal_hook); replaces sqlite's
	 * automatic checkpoint in the commit */
	ob->ck = sn_walckpt_attach(ob->db, "alerts.db", "FULL",
	                           (struct sn_walckpt_limits){OUTBOX_CKPT_BYTES,
	                                                      OUTBOX_CKPT_TAIL,
	                                                      OUTBOX_CKPT_MAX});
	return ob;
fail:
	adb_close(ob->db);
	free(ob);
	return NULL;
}

sqlite3 *
outbox_db(struct outbox *ob)
{
	return ob->db;
}

/* Drops the fresh rows from index from on (their unit rolled back). */
static void
outbox_fresh_drop(struct outbox *ob, size_t from)
{
	struct outbox_fresh *f;

	while (ob->nfresh > from) {
		f = &ob->fresh[--ob->nfresh];
		if (f->memo != NULL)
			f->memo_free(f->memo);
		free(f->id);
		free(f->receiver);
	}
}

/* Tells on_row of the rows that are now committed. */
static void
outbox_fresh_tell(struct outbox *ob)
{
	size_t i, n = ob->nfresh;

	ob->nfresh = 0;
	ob->mark = 0;
	for (i = 0; i < n; i++) {
		struct outbox_fresh *f = &ob->fresh[i];

		if (ob->on_fresh != NULL)
			ob->on_fresh(f->id, f->receiver, f->next_ms, f->memo,
			             ob->arg);
		else {
			if (ob->on_row != NULL)
				ob->on_row(f->id, f->next_ms, ob->arg);
			if (f->memo != NULL)
				f->memo_free(f->memo);
		}
		free(f->id);
		free(f->receiver);
	}
}

void
outbox_close(struct outbox *ob)
{
	if (ob == NULL)
		return;
	if (!sqlite3_get_autocommit(ob->db))
		outbox_commit(ob);
	outbox_fresh_drop(ob, 0);
	free(ob->fresh);
	sn_walckpt_detach(ob->ck);
	adb_close(ob->db);
	free(ob);
}

void
outbox_batch(struct outbox *ob, outbox_open_fn on_open, outbox_row_fn on_row,
             void *arg)
{
	ob->batching = on_open != NULL;
	ob->on_open = on_open;
	ob->on_row = on_row;
	ob->arg = arg;
}

/* Before a write: in batch mode, opens the batch transaction if none
 * is open.  0 or -1. */
static int
outbox_write(struct outbox *ob)
{
	if (!ob->batching || !sqlite3_get_autocommit(ob->db))
		return 0;
	if (adb_run(ob->db, "begin", "BEGIN IMMEDIATE") < 0)
		return -1;
	ob->on_open(ob->arg);
	return 0;
}

void
outbox_precommit(struct outbox *ob, outbox_precommit_fn fn, void *arg)
{
	ob->precommit = fn;
	ob->precommit_arg = arg;
}

int
outbox_commit(struct outbox *ob)
{
	if (sqlite3_get_autocommit(ob->db)) {
		outbox_fresh_tell(ob); /* rows queued outside a transaction */
		return 0;
	}
	if ((ob->precommit != NULL && ob->precommit(ob->precommit_arg) < 0) ||
	    adb_run(ob->db, "commit", "COMMIT") < 0) {
		/* sqlite may have rolled back already; make sure */
		if (!sqlite3_get_autocommit(ob->db))
			adb_exec(ob->db, "rollback", "ROLLBACK");
		outbox_fresh_drop(ob, 0);
		ob->mark = 0;
		return -1;
	}
	outbox_fresh_tell(ob);
	return 0;
}

int
outbox_unit_begin(struct outbox *ob)
{
	if (ob->batching) {
		if (outbox_write(ob) < 0 ||
		    adb_run(ob->db, "savepoint", "SAVEPOINT unit") < 0)
			return -1;
	} else if (adb_run(ob->db, "begin", "BEGIN IMMEDIATE") < 0)
		return -1;
	ob->units++;
	ob->mark = ob->nfresh;
	return 0;
}

int
outbox_unit_end(struct outbox *ob, int ok)
{
	ob->units--;
	if (ob->batching) {
		if (ok && adb_run(ob->db, "release", "RELEASE unit") == 0)
			return 0;
		/*
		 * Some errors (a full disk, an I/O error) make sqlite roll
		 * back the whole transaction, other units' writes with it:
		 * what the caller holds in memory of them is then ahead of
		 * the database, as when a commit fails.
		 */
		if (sqlite3_get_autocommit(ob->db))
			fatalx("alerts.db: the transaction was rolled back; "
			       "restarting from what it holds");
		adb_exec(ob->db, "rollback", "ROLLBACK TO unit; RELEASE unit");
		outbox_fresh_drop(ob, ob->mark);
		return -1;
	}
	if (ok && outbox_commit(ob) == 0)
		return 0;
	if (!sqlite3_get_autocommit(ob->db))
		adb_exec(ob->db, "rollback", "ROLLBACK");
	outbox_fresh_drop(ob, ob->mark);
	return -1;
}

static sqlite3_stmt *
outbox_prepare(struct outbox *ob, const char *sql)
{
	return adb_prepare(ob->db, "outbox", sql);
}

/* A statement run for every notification: kept compiled. */
static sqlite3_stmt *
outbox_stmt(struct outbox *ob, const char *sql)
{
	return adb_stmt(ob->db, "outbox", sql);
}

/* Steps a statement that returns no rows, then finalizes it.  The number
 * of rows changed, or -1. */
static int
outbox_run(struct outbox *ob, sqlite3_stmt *st)
{
	return adb_done(ob->db, "outbox", st);
}

void
outbox_on_fresh(struct outbox *ob, outbox_fresh_fn fn)
{
	ob->on_fresh = fn;
}

int
outbox_enqueue(struct outbox *ob, const char *id, const char *receiver,
               const char *payload, int64_t now_ms)
{
	return outbox_enqueue_memo(ob, id, receiver, payload, now_ms, NULL,
	                           NULL);
}

int
outbox_enqueue_memo(struct outbox *ob, const char *id, const char *receiver,
                    const char *payload, int64_t now_ms, void *memo,
                    void (*memo_free)(void *))
{
	struct outbox_fresh *f;
	sqlite3_stmt *st;
	int rc;

	if (outbox_write(ob) < 0 ||
	    (st = outbox_stmt(ob, "INSERT OR IGNORE INTO outbox (id,"
	                          " receiver, payload, created_ms, next_ms,"
	                          " updated_ms) VALUES (?, ?, ?, ?, ?, ?)")) ==
	            NULL) {
		if (memo != NULL)
			memo_free(memo);
		return -1;
	}
	/* stepped and reset before returning: no copies */
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, receiver, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, payload, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, now_ms);
	sqlite3_bind_int64(st, 5, now_ms);
	sqlite3_bind_int64(st, 6, now_ms);
	if ((rc = outbox_run(ob, st)) <= 0) {
		if (memo != NULL)
			memo_free(memo);
		return rc;
	}
	if (ob->nfresh == ob->capfresh) {
		ob->capfresh = ob->capfresh ? ob->capfresh * 2 : 16;
		ob->fresh =
		        realloc(ob->fresh, ob->capfresh * sizeof(*ob->fresh));
		if (ob->fresh == NULL)
			fatalx("out of memory");
	}
	f = &ob->fresh[ob->nfresh++];
	f->id = sn_xstrdup(id);
	f->receiver = sn_xstrdup(receiver);
	f->next_ms = now_ms;
	f->memo = memo;
	f->memo_free = memo_free;
	/* outside a transaction it is committed already */
	if (sqlite3_get_autocommit(ob->db))
		outbox_fresh_tell(ob);
	return rc;
}

static char *
outbox_col_text(sqlite3_stmt *st, int col)
{
	const unsigned char *s = sqlite3_column_text(st, col);

	return sn_xstrdup(s ? (const char *)s : "");
}

int
outbox_due(struct outbox *ob, int64_t now_ms, struct outbox_row *rows, int max)
{
	sqlite3_stmt *st = outbox_prepare(
	        ob, "SELECT id, receiver, payload, attempts, created_ms,"
	            " next_ms FROM outbox WHERE state = 'pending'"
	            " AND next_ms <= ? ORDER BY next_ms, created_ms LIMIT ?");
	int n = 0, rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, now_ms);
	sqlite3_bind_int(st, 2, max);
	while (n < max && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		rows[n].id = outbox_col_text(st, 0);
		rows[n].receiver = outbox_col_text(st, 1);
		rows[n].payload = outbox_col_text(st, 2);
		rows[n].attempts = sqlite3_column_int(st, 3);
		rows[n].created_ms = sqlite3_column_int64(st, 4);
		rows[n].next_ms = sqlite3_column_int64(st, 5);
		n++;
	}
	sqlite3_finalize(st);
	return n;
}

void
outbox_row_free(struct outbox_row *r)
{
	free(r->id);
	free(r->receiver);
	free(r->payload);
	memset(r, 0, sizeof(*r));
}

int64_t
outbox_next_due(struct outbox *ob)
{
	sqlite3_stmt *st = outbox_prepare(
	        ob, "SELECT min(next_ms) FROM outbox WHERE state = 'pending'");
	int64_t next = -1;

	if (st == NULL)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW &&
	    sqlite3_column_type(st, 0) != SQLITE_NULL)
		next = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return next;
}

int
outbox_sent(struct outbox *ob, const char *id, int64_t now_ms)
{
	sqlite3_stmt *st;

	if (outbox_write(ob) < 0)
		return -1;
	st = outbox_stmt(
	        ob, "UPDATE outbox SET state = 'sent', attempts = attempts + 1,"
	            " sent_ms = ?1, updated_ms = ?1, last_error = NULL"
	            " WHERE id = ?2");

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, now_ms);
	sqlite3_bind_text(st, 2, id, -1, SQLITE_TRANSIENT);
	return outbox_run(ob, st) < 0 ? -1 : 0;
}

int
outbox_failed(struct outbox *ob, const char *id, const char *error,
              int64_t now_ms)
{
	sqlite3_stmt *st;

	if (outbox_write(ob) < 0)
		return -1;
	st = outbox_prepare(
	        ob,
	        "UPDATE outbox SET state = 'failed', attempts = attempts + 1,"
	        " updated_ms = ?1, last_error = ?2 WHERE id = ?3");

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, now_ms);
	sqlite3_bind_text(st, 2, error ? error : "", -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 3, id, -1, SQLITE_TRANSIENT);
	return outbox_run(ob, st) < 0 ? -1 : 0;
}

int64_t
outbox_backoff(const struct outbox_policy *p, int attempts, double u)
{
	int64_t d = p->initial_ms;
	int i;

	for (i = 1; i < attempts && d < p->max_ms; i++)
		d *= 2;
	if (d > p->max_ms)
		d = p->max_ms;
	if (u < 0)
		u = 0;
	if (u >= 1)
		u = 0.999999;
	return d / 2 + (int64_t)((double)(d - d / 2) * u);
}

int
outbox_retry(struct outbox *ob, const char *id, const char *error,
             int64_t retry_after_ms, int64_t now_ms, double u)
{
	int64_t next;

	return outbox_retry_at(ob, id, error, retry_after_ms, now_ms, u, &next);
}

int
outbox_retry_at(struct outbox *ob, const char *id, const char *error,
                int64_t retry_after_ms, int64_t now_ms, double u,
                int64_t *next_ms)
{
	sqlite3_stmt *st;
	int64_t created, next, deadline;
	int attempts, rc;

	if (outbox_write(ob) < 0)
		return -1;
	st = outbox_prepare(ob, "SELECT attempts, created_ms FROM outbox"
	                        " WHERE id = ? AND state = 'pending'");
	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		sqlite3_finalize(st);
		return rc == SQLITE_DONE ? 0 : -1;
	}
	attempts = sqlite3_column_int(st, 0) + 1;
	created = sqlite3_column_int64(st, 1);
	sqlite3_finalize(st);

	deadline = created + ob->policy.max_age_ms;
	if (now_ms >= deadline)
		return outbox_failed(ob, id, error, now_ms) < 0 ? -1 : 0;
	next = outbox_backoff(&ob->policy, attempts, u);
	if (retry_after_ms > next)
		next = retry_after_ms;
	next += now_ms;
	/* one last attempt at the deadline rather than none */
	if (next > deadline)
		next = deadline;

	st = outbox_prepare(ob,
	                    "UPDATE outbox SET attempts = ?1, next_ms = ?2,"
	                    " updated_ms = ?3, last_error = ?4 WHERE id = ?5");
	if (st == NULL)
		return -1;
	sqlite3_bind_int(st, 1, attempts);
	sqlite3_bind_int64(st, 2, next);
	sqlite3_bind_int64(st, 3, now_ms);
	sqlite3_bind_text(st, 4, error ? error : "", -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 5, id, -1, SQLITE_TRANSIENT);
	*next_ms = next;
	return outbox_run(ob, st) < 0 ? -1 : 1;
}

int
outbox_stats(struct outbox *ob, const char *receiver, struct outbox_stats *s)
{
	sqlite3_stmt *st = outbox_prepare(
	        ob, "SELECT"
	            " (SELECT count(*) FROM outbox WHERE receiver = ?1"
	            "   AND state = 'pending'),"
	            " (SELECT count(*) FROM outbox WHERE receiver = ?1"
	            "   AND state = 'sent'),"
	            " (SELECT count(*) FROM outbox WHERE receiver = ?1"
	            "   AND state = 'failed'),"
	            " (SELECT max(sent_ms) FROM outbox WHERE receiver = ?1),"
	            " (SELECT last_error FROM outbox WHERE receiver = ?1"
	            "   AND last_error IS NOT NULL AND last_error != ''"
	            "   ORDER BY updated_ms DESC LIMIT 1)");

	memset(s, 0, sizeof(*s));
	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, receiver, -1, SQLITE_TRANSIENT);
	if (sqlite3_step(st) != SQLITE_ROW) {
		sqlite3_finalize(st);
		return -1;
	}
	s->pending = sqlite3_column_int64(st, 0);
	s->sent = sqlite3_column_int64(st, 1);
	s->failed = sqlite3_column_int64(st, 2);
	s->last_sent_ms = sqlite3_column_int64(st, 3);
	if (sqlite3_column_type(st, 4) != SQLITE_NULL)
		s->last_error = outbox_col_text(st, 4);
	sqlite3_finalize(st);
	return 0;
}

int64_t
outbox_pending(struct outbox *ob)
{
	/* through the outbox_pending index: as many steps as rows waiting */
	sqlite3_stmt *st = outbox_prepare(
	        ob, "SELECT count(*) FROM outbox WHERE state = 'pending'");
	int64_t n = -1;

	if (st == NULL)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

int
outbox_status_of(struct outbox *ob, const char *id, struct outbox_status *os)
{
	sqlite3_stmt *st = outbox_prepare(
	        ob, "SELECT state, attempts, last_error FROM outbox"
	            " WHERE id = ?");
	const unsigned char *state;
	int rc;

	memset(os, 0, sizeof(*os));
	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		sqlite3_finalize(st);
		return rc == SQLITE_DONE ? 0 : -1;
	}
	state = sqlite3_column_text(st, 0);
	snprintf(os->state, sizeof(os->state), "%s",
	         state ? (const char *)state : "");
	os->attempts = sqlite3_column_int(st, 1);
	if (sqlite3_column_type(st, 2) != SQLITE_NULL)
		os->last_error = outbox_col_text(st, 2);
	sqlite3_finalize(st);
	return 1;
}

int
outbox_prune(struct outbox *ob, int64_t before_ms)
{
	sqlite3_stmt *st;

	if (outbox_write(ob) < 0)
		return -1;
	st = outbox_prepare(ob, "DELETE FROM outbox WHERE state != 'pending'"
	                        " AND updated_ms < ?");
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, before_ms);
	return outbox_run(ob, st);
}

int
outbox_get(struct outbox *ob, const char *id, struct outbox_row *row)
{
	sqlite3_stmt *st = outbox_stmt(
	        ob, "SELECT id, receiver, payload, attempts, created_ms,"
	            " next_ms FROM outbox WHERE id = ? AND state = 'pending'");
	int rc;

	memset(row, 0, sizeof(*row));
	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		row->id = outbox_col_text(st, 0);
		row->receiver = outbox_col_text(st, 1);
		row->payload = outbox_col_text(st, 2);
		row->attempts = sqlite3_column_int(st, 3);
		row->created_ms = sqlite3_column_int64(st, 4);
		row->next_ms = sqlite3_column_int64(st, 5);
	}
	adb_finish(st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

int
outbox_each_pending(struct outbox *ob, outbox_row_fn fn, void *arg)
{
	sqlite3_stmt *st = outbox_prepare(
	        ob, "SELECT id, next_ms FROM outbox WHERE state = 'pending'");
	int rc;

	if (st == NULL)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		fn((const char *)sqlite3_column_text(st, 0),
		   sqlite3_column_int64(st, 1), arg);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -1;
}
