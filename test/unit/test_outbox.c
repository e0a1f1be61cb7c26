/*
 * test_outbox.c: the outbox queues a notification once however often it
 * is enqueued, hands out due rows, retries with capped exponential
 * backoff and jitter honouring Retry-After, gives up at the maximum age,
 * and keeps its rows across close and reopen.  In batch mode (alertd's
 * loop) writes wait for one commit, rows are told to the sender only
 * once committed, and a failed unit undoes its own writes only.  Time is
 * a fake clock.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "../../alertd/outbox.h"

#define T0 1767323045000LL

struct fixture {
	char dir[64];
	char path[128];
	struct outbox *ob;
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	snprintf(f->dir, sizeof(f->dir), "/tmp/test_outbox.XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/alerts.db", f->dir);
	f->ob = outbox_open(f->path, outbox_policy_default());
	if (f->ob == NULL)
		return -1;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	char p[160];

	outbox_close(f->ob);
	unlink(f->path);
	snprintf(p, sizeof(p), "%s-wal", f->path);
	unlink(p);
	snprintf(p, sizeof(p), "%s-shm", f->path);
	unlink(p);
	rmdir(f->dir);
	free(f);
	return 0;
}

static void
test_backoff_sequence(void **state)
{
	struct outbox_policy p = outbox_policy_default();
	/* u close to 1: the top of each jitter range is the full delay */
	int64_t want[] = {1000,  2000,   4000,   8000,   16000,  32000,
	                  64000, 128000, 256000, 300000, 300000, 300000};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		assert_int_equal(outbox_backoff(&p, (int)i + 1, 0.0),
		                 want[i] / 2);
		assert_in_range(outbox_backoff(&p, (int)i + 1, 0.999999),
		                want[i] - 1, want[i]);
		assert_in_range(outbox_backoff(&p, (int)i + 1, 0.5),
		                want[i] / 2, want[i]);
	}
	/* a huge attempt count does not overflow */
	assert_in_range(outbox_backoff(&p, 1000, 0.5), 150000, 300000);
}

static void
test_enqueue_idempotent(void **state)
{
	struct fixture *f = *state;
	struct outbox_row rows[4];

	assert_int_equal(outbox_enqueue(f->ob, "n1", "hooks", "{}", T0), 1);
	assert_int_equal(outbox_enqueue(f->ob, "n1", "hooks", "{}", T0 + 5), 0);
	assert_int_equal(outbox_due(f->ob, T0, rows, 4), 1);
	assert_string_equal(rows[0].id, "n1");
	assert_string_equal(rows[0].receiver, "hooks");
	assert_string_equal(rows[0].payload, "{}");
	assert_int_equal(rows[0].attempts, 0);
	outbox_row_free(&rows[0]);
	/* once sent, enqueueing it again still does nothing */
	assert_int_equal(outbox_sent(f->ob, "n1", T0 + 10), 0);
	assert_int_equal(outbox_enqueue(f->ob, "n1", "hooks", "{}", T0 + 20),
	                 0);
	assert_int_equal(outbox_due(f->ob, T0 + 100000, rows, 4), 0);
	assert_int_equal(outbox_next_due(f->ob), -1);
}

static void
test_retry_and_due(void **state)
{
	struct fixture *f = *state;
	struct outbox_row rows[4];
	struct outbox_stats s;
	int64_t now = T0;

	assert_int_equal(outbox_enqueue(f->ob, "a", "hooks", "{\"a\":1}", now),
	                 1);
	assert_int_equal(outbox_enqueue(f->ob, "b", "mail", "{}", now + 1), 1);
	/* a fails: due again in [0.5 s, 1 s); b is still due */
	assert_int_equal(outbox_retry(f->ob, "a", "HTTP 500", -1, now, 0.0), 1);
	assert_int_equal(outbox_due(f->ob, now + 1, rows, 4), 1);
	assert_string_equal(rows[0].id, "b");
	outbox_row_free(&rows[0]);
	assert_int_equal(outbox_next_due(f->ob), now + 1);
	assert_int_equal(outbox_sent(f->ob, "b", now + 2), 0);
	assert_int_equal(outbox_next_due(f->ob), now + 500);
	assert_int_equal(outbox_due(f->ob, now + 499, rows, 4), 0);
	assert_int_equal(outbox_due(f->ob, now + 500, rows, 4), 1);
	assert_int_equal(rows[0].attempts, 1);
	outbox_row_free(&rows[0]);
	/* second failure: 2 s nominal; Retry-After 30 s wins */
	now += 500;
	assert_int_equal(outbox_retry(f->ob, "a", "HTTP 429", 30000, now, 0.0),
	                 1);
	assert_int_equal(outbox_next_due(f->ob), now + 30000);
	/* a Retry-After shorter than the backoff does not shorten it */
	now += 30000;
	assert_int_equal(outbox_retry(f->ob, "a", "HTTP 429", 10, now, 0.0), 1);
	assert_int_equal(outbox_next_due(f->ob), now + 2000);

	assert_int_equal(outbox_stats(f->ob, "hooks", &s), 0);
	assert_int_equal(s.pending, 1);
	assert_int_equal(s.sent, 0);
	assert_string_equal(s.last_error, "HTTP 429");
	free(s.last_error);
	assert_int_equal(outbox_stats(f->ob, "mail", &s), 0);
	assert_int_equal(s.sent, 1);
	assert_int_equal(s.last_sent_ms, T0 + 2);
	assert_null(s.last_error);
}

static void
test_give_up(void **state)
{
	struct fixture *f = *state;
	struct outbox_row rows[1];
	struct outbox_stats s;
	int64_t now = T0, next;
	int tries = 0, rc;

	assert_int_equal(outbox_enqueue(f->ob, "x", "hooks", "{}", now), 1);
	/* fail every attempt, jitter at its top, until it gives up */
	for (;;) {
		assert_int_equal(outbox_due(f->ob, now, rows, 1), 1);
		outbox_row_free(&rows[0]);
		tries++;
		rc = outbox_retry(f->ob, "x", "connection refused", -1, now,
		                  0.999999);
		if (rc == 0)
			break;
		assert_int_equal(rc, 1);
		next = outbox_next_due(f->ob);
		assert_true(next > now);
		assert_true(next <= T0 + 3600000);
		now = next;
	}
	/* the first try, then 1+2+..+256 s = 511 s in 9 retries, then 5 min
	 * steps to 1 h in 11 more; the last
	 * attempt lands exactly on the hour, and fails the row */
	assert_int_equal(now, T0 + 3600000);
	assert_int_equal(tries, 1 + 9 + 11);
	assert_int_equal(outbox_next_due(f->ob), -1);
	assert_int_equal(outbox_stats(f->ob, "hooks", &s), 0);
	assert_int_equal(s.failed, 1);
	assert_int_equal(s.pending, 0);
	assert_string_equal(s.last_error, "connection refused");
	free(s.last_error);
	/* a failed row is not queued again either */
	assert_int_equal(outbox_enqueue(f->ob, "x", "hooks", "{}", now), 0);
	/* failed and sent rows are pruned by age, pending ones never */
	assert_int_equal(outbox_enqueue(f->ob, "y", "hooks", "{}", now), 1);
	assert_int_equal(outbox_prune(f->ob, now + 1), 1);
	assert_int_equal(outbox_next_due(f->ob), now);
}

static void
test_reopen(void **state)
{
	struct fixture *f = *state;
	struct outbox_row rows[4];

	assert_int_equal(outbox_enqueue(f->ob, "p", "hooks", "{\"k\":2}", T0),
	                 1);
	assert_int_equal(outbox_retry(f->ob, "p", "HTTP 503", -1, T0, 0.0), 1);
	assert_int_equal(outbox_enqueue(f->ob, "q", "hooks", "{}", T0), 1);
	assert_int_equal(outbox_sent(f->ob, "q", T0), 0);
	outbox_close(f->ob);
	f->ob = outbox_open(f->path, outbox_policy_default());
	assert_non_null(f->ob);
	assert_int_equal(outbox_next_due(f->ob), T0 + 500);
	assert_int_equal(outbox_due(f->ob, T0 + 500, rows, 4), 1);
	assert_string_equal(rows[0].id, "p");
	assert_string_equal(rows[0].payload, "{\"k\":2}");
	assert_int_equal(rows[0].attempts, 1);
	outbox_row_free(&rows[0]);
	assert_int_equal(outbox_enqueue(f->ob, "q", "hooks", "{}", T0), 0);
}

/* What outbox_batch's callbacks saw. */
struct batch_seen {
	int opened;
	char ids[8][32];
	int n;
};

static void
batch_open(void *arg)
{
	((struct batch_seen *)arg)->opened++;
}

static void
batch_row(const char *id, int64_t next_ms, void *arg)
{
	struct batch_seen *b = arg;

	(void)next_ms;
	snprintf(b->ids[b->n++], sizeof(b->ids[0]), "%s", id);
}

static void
test_batch_commits_once_and_tells_committed_rows(void **state)
{
	struct fixture *f = *state;
	struct batch_seen seen = {0};
	struct outbox *other;
	struct outbox_row rows[4];

	outbox_batch(f->ob, batch_open, batch_row, &seen);
	/* a unit that works, one that fails, a write outside any unit */
	assert_int_equal(outbox_unit_begin(f->ob), 0);
	assert_int_equal(outbox_enqueue(f->ob, "kept", "hooks", "{}", T0), 1);
	assert_int_equal(outbox_unit_end(f->ob, 1), 0);
	assert_int_equal(outbox_unit_begin(f->ob), 0);
	assert_int_equal(outbox_enqueue(f->ob, "undone", "hooks", "{}", T0), 1);
	assert_int_equal(outbox_unit_end(f->ob, 0), -1);
	assert_int_equal(outbox_enqueue(f->ob, "alone", "hooks", "{}", T0), 1);
	/* one transaction for all three; nothing told, nothing visible to
	 * another connection before the commit */
	assert_int_equal(seen.opened, 1);
	assert_int_equal(seen.n, 0);
	other = outbox_open(f->path, outbox_policy_default());
	assert_non_null(other);
	assert_int_equal(outbox_due(other, T0, rows, 4), 0);

	assert_int_equal(outbox_commit(f->ob), 0);
	assert_int_equal(seen.n, 2);
	assert_string_equal(seen.ids[0], "kept");
	assert_string_equal(seen.ids[1], "alone");
	/* committed: the other connection sees both, not the undone one */
	assert_int_equal(outbox_due(other, T0, rows, 4), 2);
	outbox_row_free(&rows[0]);
	outbox_row_free(&rows[1]);
	assert_int_equal(outbox_get(other, "undone", &rows[0]), 0);
	assert_int_equal(outbox_get(other, "kept", &rows[0]), 1);
	assert_string_equal(rows[0].receiver, "hooks");
	outbox_row_free(&rows[0]);
	outbox_close(other);

	/* the next write opens the next transaction */
	assert_int_equal(outbox_sent(f->ob, "kept", T0 + 1), 0);
	assert_int_equal(seen.opened, 2);
	assert_int_equal(outbox_commit(f->ob), 0);
	assert_int_equal(outbox_get(f->ob, "kept", &rows[0]), 0);
}

/* Without batch mode a committed row is told at once. */
static void
test_unbatched_rows_told_at_once(void **state)
{
	struct fixture *f = *state;
	struct batch_seen seen = {0};

	outbox_batch(f->ob, NULL, batch_row, &seen);
	assert_int_equal(outbox_enqueue(f->ob, "now", "hooks", "{}", T0), 1);
	assert_int_equal(seen.n, 1);
	assert_int_equal(outbox_unit_begin(f->ob), 0);
	assert_int_equal(outbox_enqueue(f->ob, "unit", "hooks", "{}", T0), 1);
	assert_int_equal(seen.n, 1);
	assert_int_equal(outbox_unit_end(f->ob, 1), 0);
	assert_int_equal(seen.n, 2);
	assert_string_equal(seen.ids[1], "unit");
}

/* What outbox_on_fresh was told: ids and the memos it took over. */
struct fresh_seen {
	char ids[8][32];
	int memos[8];
	int n;
};

static int memos_freed;

static void
memo_free(void *memo)
{
	memos_freed++;
	free(memo);
}

static void
fresh_row(const char *id, const char *receiver, int64_t created_ms, void *memo,
          void *arg)
{
	struct fresh_seen *b = arg;

	assert_string_equal(receiver, "hooks");
	assert_int_equal(created_ms, T0);
	b->memos[b->n] = memo != NULL ? *(int *)memo : 0;
	snprintf(b->ids[b->n++], sizeof(b->ids[0]), "%s", id);
	free(memo);
}

static void *
memo_of(int v)
{
	int *p = malloc(sizeof(*p));

	assert_non_null(p);
	*p = v;
	return p;
}

/* A memo goes with its row once committed; it is freed when its row is
 * not queued or undone. */
static void
test_memo_follows_committed_row(void **state)
{
	struct fixture *f = *state;
	struct fresh_seen seen = {0};

	memos_freed = 0;
	outbox_batch(f->ob, batch_open, batch_row, &seen);
	outbox_on_fresh(f->ob, fresh_row);
	assert_int_equal(outbox_enqueue_memo(f->ob, "m1", "hooks", "{}", T0,
	                                     memo_of(1), memo_free),
	                 1);
	/* a duplicate: not queued, its memo freed */
	assert_int_equal(outbox_enqueue_memo(f->ob, "m1", "hooks", "{}", T0,
	                                     memo_of(2), memo_free),
	                 0);
	assert_int_equal(memos_freed, 1);
	/* undone with its unit: freed, never told */
	assert_int_equal(outbox_unit_begin(f->ob), 0);
	assert_int_equal(outbox_enqueue_memo(f->ob, "m3", "hooks", "{}", T0,
	                                     memo_of(3), memo_free),
	                 1);
	assert_int_equal(outbox_unit_end(f->ob, 0), -1);
	assert_int_equal(memos_freed, 2);
	assert_int_equal(outbox_enqueue(f->ob, "plain", "hooks", "{}", T0), 1);
	assert_int_equal(seen.n, 0);
	assert_int_equal(outbox_commit(f->ob), 0);
	assert_int_equal(seen.n, 2);
	assert_string_equal(seen.ids[0], "m1");
	assert_int_equal(seen.memos[0], 1);
	assert_string_equal(seen.ids[1], "plain");
	assert_int_equal(seen.memos[1], 0);
	assert_int_equal(memos_freed, 2);
}

/* Many commits: the WAL is copied into the database off the commits and
 * starts over, so it stays bounded, and nothing is lost. */
static void
test_wal_stays_bounded(void **state)
{
	struct fixture *f = *state;
	struct batch_seen seen = {0};
	char id[32], wal[160], *payload;
	struct outbox *other;
	struct stat sb;
	int i, j;
	int64_t n;

	payload = malloc(2001);
	assert_non_null(payload);
	memset(payload, 'x', 2000);
	payload[0] = '"';
	payload[1999] = '"';
	payload[2000] = '\0';
	outbox_batch(f->ob, batch_open, NULL, &seen);
	/* 30 MB of rows, 600 commits */
	for (i = 0; i < 600; i++) {
		for (j = 0; j < 25; j++) {
			snprintf(id, sizeof(id), "r%d-%d", i, j);
			assert_int_equal(
			        outbox_enqueue(f->ob, id, "hooks", payload, T0),
			        1);
		}
		assert_int_equal(outbox_commit(f->ob), 0);
	}
	free(payload);
	snprintf(wal, sizeof(wal), "%s-wal", f->path);
	assert_int_equal(stat(wal, &sb), 0);
	/* the cap (16 MB) and some slack */
	assert_true(sb.st_size < 20 * 1024 * 1024);
	other = outbox_open(f->path, outbox_policy_default());
	assert_non_null(other);
	n = outbox_pending(other);
	assert_int_equal(n, 600 * 25);
	outbox_close(other);
}

/* The number of rows of sql's first column equal to 1 ("SELECT ..."). */
static int
db_count(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st;
	int n = -1;

	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return n;
}

/* A file written before outbox_by_receiver: its index (receiver, state)
 * is replaced, its rows kept, sent as before. */
static void
test_old_receiver_index_replaced(void **state)
{
	struct fixture *f = *state;
	struct outbox_stats s;
	struct outbox_row rows[4];
	sqlite3 *db;

	outbox_close(f->ob);
	f->ob = NULL;
	unlink(f->path);
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(
	        sqlite3_exec(
	                db,
	                "CREATE TABLE outbox (id TEXT PRIMARY KEY,"
	                " receiver TEXT NOT NULL, payload TEXT NOT NULL,"
	                " state TEXT NOT NULL DEFAULT 'pending',"
	                " attempts INTEGER NOT NULL DEFAULT 0,"
	                " created_ms INTEGER NOT NULL, next_ms INTEGER NOT "
	                "NULL,"
	                " updated_ms INTEGER NOT NULL, sent_ms INTEGER,"
	                " last_error TEXT);"
	                "CREATE INDEX outbox_pending ON outbox(state, next_ms);"
	                "CREATE INDEX outbox_receiver ON outbox(receiver, "
	                "state);"
	                "INSERT INTO outbox (id, receiver, payload, created_ms,"
	                " next_ms, updated_ms) VALUES"
	                " ('a', 'hooks', '{\"n\":1}', 1, 1, 1),"
	                " ('b', 'hooks', '{\"n\":2}', 1, 1, 1);"
	                "UPDATE outbox SET state = 'sent', sent_ms = 7"
	                " WHERE id = 'b';",
	                NULL, NULL, NULL),
	        SQLITE_OK);
	sqlite3_close(db);

	f->ob = outbox_open(f->path, outbox_policy_default());
	assert_non_null(f->ob);
	db = outbox_db(f->ob);
	assert_int_equal(db_count(db, "SELECT count(*) FROM sqlite_master"
	                              " WHERE name = 'outbox_receiver'"),
	                 0);
	assert_int_equal(db_count(db, "SELECT count(*) FROM sqlite_master"
	                              " WHERE name = 'outbox_by_receiver'"),
	                 1);
	assert_int_equal(outbox_stats(f->ob, "hooks", &s), 0);
	assert_int_equal(s.pending, 1);
	assert_int_equal(s.sent, 1);
	free(s.last_error);
	assert_int_equal(outbox_due(f->ob, T0, rows, 4), 1);
	assert_string_equal(rows[0].id, "a");
	assert_string_equal(rows[0].payload, "{\"n\":1}");
	outbox_row_free(&rows[0]);
	assert_int_equal(outbox_sent(f->ob, "a", T0), 0);
	assert_int_equal(outbox_enqueue(f->ob, "b", "hooks", "{}", T0), 0);
	assert_int_equal(outbox_stats(f->ob, "hooks", &s), 0);
	assert_int_equal(s.pending, 0);
	assert_int_equal(s.sent, 2);
	free(s.last_error);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_backoff_sequence),
	        cmocka_unit_test_setup_teardown(test_enqueue_idempotent, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_retry_and_due, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_give_up, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_reopen, setup, teardown),
	        cmocka_unit_test_setup_teardown(
	                test_batch_commits_once_and_tells_committed_rows, setup,
	                teardown),
	        cmocka_unit_test_setup_teardown(
	                test_unbatched_rows_told_at_once, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_memo_follows_committed_row,
	                                        setup, teardown),
	        cmocka_unit_test_setup_teardown(
	                test_old_receiver_index_replaced, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_wal_stays_bounded, setup,
	                                        teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
