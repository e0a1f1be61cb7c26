/*
 * test_walckpt.c: with checkpoints on their thread (common/walckpt.h),
 * many commits leave a bounded WAL, the thread is the one copying it,
 * and every committed row is in the database after a reopen.  Detached,
 * the connection has sqlite's automatic checkpoint back and nothing is
 * lost.
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

#include "testutil.h"
#include "walckpt.h"

#define KB 1024

struct fixture {
	char dir[64];
	char path[128];
	sqlite3 *db;
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (f == NULL || tu_db_dir(f->dir, f->path, "walckpt") < 0)
		return -1;
	if (sqlite3_open(f->path, &f->db) != SQLITE_OK ||
	    sqlite3_exec(f->db,
	                 "PRAGMA journal_mode=WAL;"
	                 "PRAGMA synchronous=NORMAL;"
	                 "CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB);",
	                 NULL, NULL, NULL) != SQLITE_OK)
		return -1;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	sqlite3_close(f->db);
	tu_db_remove(f->dir, f->path);
	free(f);
	return 0;
}

/* Commits n transactions of rows rows of 1 KB each. */
static void
commit_rows(sqlite3 *db, int n, int rows)
{
	sqlite3_stmt *st;
	int i, j;

	assert_int_equal(sqlite3_prepare_v2(db,
	                                    "INSERT INTO t (v) VALUES"
	                                    " (zeroblob(1024))",
	                                    -1, &st, NULL),
	                 SQLITE_OK);
	for (i = 0; i < n; i++) {
		assert_int_equal(sqlite3_exec(db, "BEGIN", NULL, NULL, NULL),
		                 SQLITE_OK);
		for (j = 0; j < rows; j++) {
			assert_int_equal(sqlite3_step(st), SQLITE_DONE);
			sqlite3_reset(st);
		}
		assert_int_equal(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL),
		                 SQLITE_OK);
	}
	sqlite3_finalize(st);
}

static off_t
wal_size(const struct fixture *f)
{
	char wal[160];
	struct stat sb;

	snprintf(wal, sizeof(wal), "%s-wal", f->path);
	assert_int_equal(stat(wal, &sb), 0);
	return sb.st_size;
}

/*
 * 24 MB in 800 commits against a start of 256 KB and a cap of 2 MB: the
 * thread copies and the WAL starts over.  The file keeps its largest
 * size, which passes the cap when the thread is slow (the loop's own
 * copy cannot run beside the thread's), so the bound checked is half of
 * what was written: without the restarts it would hold all of it.
 */
static void
test_wal_bounded_by_thread(void **state)
{
	struct fixture *f = *state;
	struct sn_walckpt *ck;
	int nlog = 0, ncopied = 0;

	ck = sn_walckpt_attach(
	        f->db, "test.db", "NORMAL",
	        (struct sn_walckpt_limits){256 * KB, 64 * KB, 2048 * KB});
	assert_non_null(ck);
	commit_rows(f->db, 800, 30);
	assert_true(sn_walckpt_count(ck) > 0);
	assert_true(wal_size(f) < 12 * 1024 * KB);
	sn_walckpt_detach(ck);
	/* sqlite's own checkpoint again: every 1000 pages (4 KB here) it
	 * copies the WAL and the next commit starts it over, so 6 MB more
	 * leave fewer than 1000 pages and a commit's in it */
	commit_rows(f->db, 200, 30);
	assert_int_equal(sqlite3_wal_checkpoint_v2(f->db, NULL,
	                                           SQLITE_CHECKPOINT_PASSIVE,
	                                           &nlog, &ncopied),
	                 SQLITE_OK);
	assert_true(nlog > 0 && nlog < 1000 + 20);
	assert_int_equal(tu_db_count(f->path, "SELECT count(*) FROM t"),
	                 800 * 30 + 200 * 30);
}

/* Never attached to: sqlite's automatic checkpoint; the control for the
 * count above, which must come from the thread. */
static void
test_no_thread_without_attach(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(sn_walckpt_count(NULL), 0);
	sn_walckpt_detach(NULL);
	commit_rows(f->db, 50, 30);
	assert_int_equal(tu_db_count(f->path, "SELECT count(*) FROM t"),
	                 50 * 30);
}

/* Below the start nothing is copied and no thread starts. */
static void
test_below_start_no_thread(void **state)
{
	struct fixture *f = *state;
	struct sn_walckpt *ck;

	ck = sn_walckpt_attach(f->db, "test.db", "NORMAL",
	                       (struct sn_walckpt_limits){64 * 1024 * KB,
	                                                  1024 * KB,
	                                                  128 * 1024 * KB});
	assert_non_null(ck);
	commit_rows(f->db, 20, 30); /* 600 KB */
	assert_int_equal(sn_walckpt_count(ck), 0);
	assert_true(wal_size(f) > 512 * KB);
	sn_walckpt_detach(ck);
	assert_int_equal(tu_db_count(f->path, "SELECT count(*) FROM t"),
	                 20 * 30);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_wal_bounded_by_thread,
	                                        setup, teardown),
	        cmocka_unit_test_setup_teardown(test_no_thread_without_attach,
	                                        setup, teardown),
	        cmocka_unit_test_setup_teardown(test_below_start_no_thread,
	                                        setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
