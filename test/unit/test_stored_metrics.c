/*
 * test_stored_metrics.c: stored's metrics in its metrics file (metrics.h),
 * read back as the exporter reads them: sentinel_events_stored_total
 * counts committed new events (not duplicates); sentinel_storage_rows
 * equals count(*) of each table after the count at start, inserts,
 * rollup updates and retention, also for rollup rows retention deleted
 * under a bucket still in memory and written again, and after a reopen
 * of a file with rows; sentinel_storage_size_bytes is the file plus its
 * WAL; retention's runs, deleted rows and last run per table, the last
 * run also from retention_runs after a restart.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"
#include <sqlite3.h>

#include "log.h"
#include "metrics.h"
#include "util.h"
#include "../../stored/retention.h"
#include "../../stored/rollup.h"
#include "../../stored/stmetrics.h"
#include "../../stored/store.h"

#define MIN_MS  60000LL
#define HOUR_MS 3600000LL
#define DAY_MS  86400000LL
/* The fake "now" of retention passes: 2025-11-06T12:00:30Z. */
#define NOW_MS (1762430400000LL + 30000)

static char run_dir[64]; /* where the metrics file is */

struct fixture {
	char dir[64];
	char db[128];
	struct store *s;
	struct retention *r;
	struct stm *m;
	int next; /* the next event number */
};

/* --- reading the metrics file ------------------------------------------ */

struct probe {
	const char *labels;
	double value;
	int found;
};

static void
probe_sample(void *arg, const struct sn_metric_def *def, const char *name,
             const char *labels, double value)
{
	struct probe *p = arg;

	(void)def;
	(void)name;
	if (strcmp(labels, p->labels) == 0) {
		p->value = value;
		p->found = 1;
	}
}

/* The value of the series name{labels} in our metrics file, NAN when
 * there is no such series. */
static double
metric(const char *name, const char *labels)
{
	static const struct metrics_visitor v = {NULL, probe_sample};
	struct probe p = {labels, NAN, 0};
	char path[128];
	const char *paths[1] = {path};

	metrics_path(path, sizeof(path), run_dir, "stored");
	metrics_visit(paths, 1, name, &v, &p);
	return p.found ? p.value : NAN;
}

static double
rows(const char *table)
{
	char l[64];

	snprintf(l, sizeof(l), "table=\"%s\"", table);
	return metric("sentinel_storage_rows", l);
}

static double
per_table(const char *name, const char *table)
{
	char l[64];

	snprintf(l, sizeof(l), "table=\"%s\"", table);
	return metric(name, l);
}

/* --- the store ----------------------------------------------------------- */

static int64_t
q_int(struct fixture *f, const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int64_t v;

	assert_int_equal(
	        sqlite3_open_v2(f->db, &db, SQLITE_OPEN_READONLY, NULL),
	        SQLITE_OK);
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(db));
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

static void
open_store(struct fixture *f)
{
	assert_int_equal(store_open(f->dir, &f->s), 0);
	/* rollups written at every commit, cells kept in memory */
	rollup_set_limits(store_rollup(f->s), 0, DAY_MS, ROLLUP_MAX_BYTES);
	assert_non_null(f->r = retention_new(f->s));
	f->m = stm_start(f->s, f->r);
}

static void
close_store(struct fixture *f)
{
	stm_free(f->m);
	retention_free(f->r);
	store_close(f->s);
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (tu_db_dir(f->dir, f->db, "stmetrics") < 0)
		return -1;
	open_store(f);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	close_store(f);
	tu_db_remove(f->dir, f->db);
	free(f);
	return 0;
}

/* Ticks until the count at start is in: the row series exist. */
static void
wait_counted(struct fixture *f)
{
	int i;

	for (i = 0; i < 500; i++) {
		stm_tick(f->m, sn_mono_ms());
		if (stm_counted(f->m))
			return;
		usleep(10000);
	}
	fail_msg("the rows were never counted");
}

/* Event number n at ts_ms for app, inserted (1) or a duplicate (0). */
static int
add_event_id(struct fixture *f, int n, int64_t ts_ms, const char *app)
{
	char id[32], json[64];
	struct sn_event ev;

	memset(&ev, 0, sizeof(ev));
	snprintf(id, sizeof(id), "e-%d", n);
	snprintf(json, sizeof(json), "{\"event_id\":\"%s\"}", id);
	ev.seq = (uint64_t)n;
	ev.ts_ms = ts_ms;
	ev.recv_ms = ts_ms;
	ev.event_id = str(id);
	ev.event_type = str("llm.response");
	ev.application_id = str(app);
	ev.model = str("gpt-4o");
	ev.status = str("success");
	ev.timestamp = str("x");
	ev.json = str(json);
	ev.present = SN_EV_LATENCY_MS;
	ev.latency_ms = 100 + n % 50;
	return store_add_event(f->s, &ev);
}

static void
add_event(struct fixture *f, int64_t ts_ms, const char *app)
{
	assert_int_equal(add_event_id(f, ++f->next, ts_ms, app), 1);
}

static void
add_anomaly(struct fixture *f, int n, int64_t ts_ms)
{
	char id[32];
	struct sn_anomaly a;

	memset(&a, 0, sizeof(a));
	snprintf(id, sizeof(id), "a-%d", n);
	a.ts_ms = ts_ms;
	a.detected_ms = ts_ms;
	a.value = 1;
	a.expected = NAN;
	a.score = NAN;
	a.id = str(id);
	a.detector_id = str("d");
	a.detector_type = str("threshold");
	a.alert = str("x");
	a.severity = str("warning");
	a.application_id = str("chat");
	a.model = str("");
	a.metric = str("latency_ms");
	a.event_id = str("e");
	a.message = str("m");
	assert_int_equal(store_add_anomaly(f->s, &a), 1);
}

static void
run_pass(struct fixture *f, int64_t now_ms)
{
	int rc, steps = 0;

	assert_int_equal(retention_start(f->r, now_ms), 1);
	do {
		rc = retention_step(f->r);
		assert_true(rc >= 0);
		assert_true(++steps < 100000);
	} while (rc > 0);
}

/* Every table's gauge equals its count(*), after a tick. */
static void
assert_rows_match(struct fixture *f)
{
	store_flush(f->s);
	stm_tick(f->m, sn_mono_ms());
	assert_int_equal((int64_t)rows("events"),
	                 q_int(f, "SELECT count(*) FROM events"));
	assert_int_equal((int64_t)rows("anomalies"),
	                 q_int(f, "SELECT count(*) FROM anomalies"));
	assert_int_equal((int64_t)rows("rollups_1m"),
	                 q_int(f, "SELECT count(*) FROM rollups"
	                          " WHERE resolution = 60"));
	assert_int_equal((int64_t)rows("rollups_1h"),
	                 q_int(f, "SELECT count(*) FROM rollups"
	                          " WHERE resolution = 3600"));
	assert_int_equal((int64_t)rows("notifications"),
	                 q_int(f, "SELECT count(*) FROM notifications"));
}

/* --- tests ----------------------------------------------------------- */

/* New events add to the counter when their transaction commits; a
 * duplicate does not. */
static void
test_events_stored_counts_commits(void **state)
{
	struct fixture *f = *state;
	double before = metric("sentinel_events_stored_total", "");
	int i;

	assert_false(isnan(before));
	for (i = 0; i < 25; i++)
		add_event(f, NOW_MS - i * 1000, "chat");
	/* not committed yet */
	assert_true(metric("sentinel_events_stored_total", "") == before);
	assert_int_equal(store_commit(f->s), 25);
	assert_true(metric("sentinel_events_stored_total", "") == before + 25);
	assert_int_equal(add_event_id(f, 1, NOW_MS, "chat"), 0); /* again */
	store_commit(f->s);
	assert_true(metric("sentinel_events_stored_total", "") == before + 25);
}

/*
 * Rows at start (counted by the thread), then inserts, rollup updates,
 * and a retention pass: each gauge is its table's count(*).
 */
static void
test_rows_follow_inserts_and_retention(void **state)
{
	struct fixture *f = *state;
	double runs, del, del1m;
	int i;

	wait_counted(f);
	assert_rows_match(f);
	/* events a minute apart over two days, some anomalies */
	for (i = 0; i < 2 * 24 * 60; i += 7)
		add_event(f, NOW_MS - i * MIN_MS, i % 3 ? "chat" : "search");
	for (i = 0; i < 40; i++)
		add_anomaly(f, i, NOW_MS - i * HOUR_MS);
	assert_rows_match(f);
	/* updates of rows already there add none */
	for (i = 0; i < 20; i++)
		add_event(f, NOW_MS - 7 * MIN_MS, "chat");
	assert_rows_match(f);

	runs = per_table("sentinel_retention_runs_total", "events");
	del = per_table("sentinel_retention_deleted_rows_total", "events");
	del1m = per_table("sentinel_retention_deleted_rows_total",
	                  "rollups_1m");
	retention_set_batch(f->r, 50);
	retention_set_keep(f->r, RETENTION_EVENTS, DAY_MS);
	retention_set_keep(f->r, RETENTION_ROLLUPS_1M, 12 * HOUR_MS);
	retention_set_keep(f->r, RETENTION_ROLLUPS_1H, DAY_MS);
	retention_set_keep(f->r, RETENTION_ANOMALIES, 10 * HOUR_MS);
	run_pass(f, NOW_MS);
	assert_rows_match(f);
	assert_true(
	        per_table("sentinel_retention_deleted_rows_total", "events") -
	                del ==
	        (double)retention_get_stats(f->r)->deleted[RETENTION_EVENTS]);
	assert_true(retention_get_stats(f->r)->deleted[RETENTION_EVENTS] > 100);
	assert_true(per_table("sentinel_retention_deleted_rows_total",
	                      "rollups_1m") > del1m);
	assert_true(per_table("sentinel_retention_runs_total", "events") ==
	            runs + 1);
	assert_true(per_table("sentinel_retention_last_run_timestamp_seconds",
	                      "events") == (double)NOW_MS / 1000.0);
	/* keep-forever: no run of notifications */
	assert_true(per_table("sentinel_retention_runs_total",
	                      "notifications") == 0);
}

/*
 * A bucket in memory whose rows retention deleted gets an event again:
 * its rows are created anew and counted as such, so the gauge stays
 * equal to count(*) through repeated purges and rewrites.
 */
static void
test_rollup_rows_recreated_after_purge(void **state)
{
	struct fixture *f = *state;
	int64_t old = NOW_MS - 3 * HOUR_MS;
	int round;

	wait_counted(f);
	retention_set_keep(f->r, RETENTION_ROLLUPS_1M, HOUR_MS);
	for (round = 0; round < 3; round++) {
		add_event(f, old + round, "late");
		add_event(f, NOW_MS, "chat");
		assert_rows_match(f);
		assert_true(q_int(f, "SELECT count(*) FROM rollups WHERE"
		                     " resolution = 60 AND application_id ="
		                     " 'late'") > 0);
		run_pass(f, NOW_MS);
		assert_int_equal(q_int(f, "SELECT count(*) FROM rollups WHERE"
		                          " resolution = 60 AND application_id"
		                          " = 'late'"),
		                 0);
		assert_rows_match(f);
	}
}

/* A file with rows is counted at open; the last runs come back from
 * retention_runs. */
static void
test_reopen_counts_existing_rows(void **state)
{
	struct fixture *f = *state;
	int i;

	wait_counted(f);
	for (i = 0; i < 300; i++)
		add_event(f, NOW_MS - i * 10 * MIN_MS, "chat");
	add_anomaly(f, 1, NOW_MS);
	retention_set_keep(f->r, RETENTION_EVENTS, DAY_MS);
	run_pass(f, NOW_MS - HOUR_MS);
	close_store(f);

	/* what the series hold now cannot pass for what the reopened
	 * store finds */
	for (i = 0; i < RETENTION_NPOLICIES; i++) {
		metrics_set(metrics_series(M_STORAGE_ROWS,
		                           retention_policy_name(i)),
		            -1);
		metrics_set(metrics_series(M_RETENTION_LAST_RUN,
		                           retention_policy_name(i)),
		            -1);
	}
	open_store(f);
	wait_counted(f);
	assert_rows_match(f);
	assert_true(rows("events") > 100);
	assert_true(per_table("sentinel_retention_last_run_timestamp_seconds",
	                      "events") == (double)(NOW_MS - HOUR_MS) / 1000.0);
}

/* The size is sentinel.db plus its WAL, read at most every STM_SIZE_MS. */
static void
test_size_is_file_and_wal(void **state)
{
	struct fixture *f = *state;
	char wal[160];
	struct stat a, b;
	int64_t t = sn_mono_ms() + 10 * STM_SIZE_MS;
	double was;
	int i;

	for (i = 0; i < 200; i++)
		add_event(f, NOW_MS - i * 1000, "chat");
	store_commit(f->s);
	stm_tick(f->m, t);
	snprintf(wal, sizeof(wal), "%s-wal", f->db);
	assert_int_equal(stat(f->db, &a), 0);
	if (stat(wal, &b) != 0)
		b.st_size = 0;
	assert_true(metric("sentinel_storage_size_bytes", "") ==
	            (double)(a.st_size + b.st_size));
	assert_true(a.st_size > 0);
	/* not again before STM_SIZE_MS */
	was = metric("sentinel_storage_size_bytes", "");
	for (i = 0; i < 2000; i++)
		add_event(f, NOW_MS - DAY_MS - i * 1000, "chat");
	store_commit(f->s);
	stm_tick(f->m, t + 1);
	assert_true(metric("sentinel_storage_size_bytes", "") == was);
	stm_tick(f->m, t + STM_SIZE_MS);
	assert_true(metric("sentinel_storage_size_bytes", "") > was);
}

/* Freeing while the count may still run: it is interrupted, joined. */
static void
test_free_during_count(void **state)
{
	struct fixture *f = *state;
	int i;

	for (i = 0; i < 5000; i++)
		add_event(f, NOW_MS - i * 1000, "chat");
	store_commit(f->s);
	stm_free(f->m);
	f->m = stm_start(f->s, f->r);
	stm_free(f->m); /* at once */
	f->m = stm_start(f->s, f->r);
	wait_counted(f);
	assert_rows_match(f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(
	                test_events_stored_counts_commits, setup, teardown),
	        cmocka_unit_test_setup_teardown(
	                test_rows_follow_inserts_and_retention, setup,
	                teardown),
	        cmocka_unit_test_setup_teardown(
	                test_rollup_rows_recreated_after_purge, setup,
	                teardown),
	        cmocka_unit_test_setup_teardown(
	                test_reopen_counts_existing_rows, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_size_is_file_and_wal,
	                                        setup, teardown),
	        cmocka_unit_test_setup_teardown(test_free_during_count, setup,
	                                        teardown),
	};
	int rc;

	snprintf(run_dir, sizeof(run_dir), "/tmp/sn-test-stmrun-XXXXXX");
	if (mkdtemp(run_dir) == NULL || metrics_open(run_dir, "stored", 0) < 0)
		return 1;
	log_init("test", LOG_LEVEL_WARN, LOG_FORMAT_JSON);
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	metrics_close();
	rmdir(run_dir);
	return rc;
}
