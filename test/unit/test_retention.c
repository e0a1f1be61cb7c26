/*
 * test_retention.c: retention with short policies and a fake "now"
 * deletes exactly what is older than each policy (events, 1-minute and
 * 1-hour rollups, anomalies, notifications) in steps of at most a batch,
 * records each policy's pass in retention_runs, keeps forever what has
 * no policy, commits the writer's pending rows before its own
 * transaction, never deletes events the rollups do not count yet, and
 * takes its policies from the config.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"
#include <sqlite3.h>

#include "config.h"
#include "log.h"
#include "../../stored/retention.h"
#include "../../stored/rollup.h"
#include "../../stored/store.h"

#define MIN_MS  60000LL
#define HOUR_MS 3600000LL
#define DAY_MS  86400000LL
/* The fake "now": 2025-11-06T12:00:30Z, inside a minute on purpose. */
#define NOW_MS (1762430400000LL + 30000)

struct fixture {
	char dir[64];
	char db[128];
	struct store *s;
	struct retention *r;
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (tu_db_dir(f->dir, f->db, "retention") < 0)
		return -1;
	if (store_open(f->dir, &f->s) != 0)
		return -1;
	rollup_set_limits(store_rollup(f->s), 0, ROLLUP_IDLE_MS,
	                  ROLLUP_MAX_BYTES);
	f->r = retention_new(f->s);
	if (f->r == NULL)
		return -1;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	retention_free(f->r);
	store_close(f->s);
	tu_db_remove(f->dir, f->db);
	free(f);
	return 0;
}

/* The first column of the first row, through a reader's connection. */
static int64_t
q_int(struct fixture *f, const char *fmt, ...)
{
	char sql[512];
	sqlite3 *db;
	sqlite3_stmt *st;
	va_list ap;
	int64_t v;

	va_start(ap, fmt);
	vsnprintf(sql, sizeof(sql), fmt, ap);
	va_end(ap);
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

/* The same as text ("NULL" for NULL), in a static buffer. */
static const char *
q_text(struct fixture *f, const char *sql)
{
	static char out[512];
	sqlite3 *db;
	sqlite3_stmt *st;

	assert_int_equal(
	        sqlite3_open_v2(f->db, &db, SQLITE_OPEN_READONLY, NULL),
	        SQLITE_OK);
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(db));
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	snprintf(out, sizeof(out), "%s",
	         sqlite3_column_type(st, 0) == SQLITE_NULL
	                 ? "NULL"
	                 : (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	sqlite3_close(db);
	return out;
}

/* Event n at ts_ms, with a latency. */
static void
add_event(struct fixture *f, int n, int64_t ts_ms)
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
	ev.application_id = str(n % 2 ? "chat" : "search");
	ev.model = str("gpt-4o");
	ev.status = str("success");
	ev.timestamp = str("x");
	ev.json = str(json);
	ev.present = SN_EV_LATENCY_MS;
	ev.latency_ms = 100 + n % 50;
	assert_int_equal(store_add_event(f->s, &ev), 1);
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
	a.threshold = 0;
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

/* Notifications have no writer yet (alertd's issue): straight in. */
static void
add_notification(struct fixture *f, int64_t ts_ms)
{
	char sql[256];

	snprintf(sql, sizeof(sql),
	         "INSERT INTO notifications (ts_ms, anomaly_id, receiver, "
	         "status) VALUES (%lld, 'a', 'slack', 'sent')",
	         (long long)ts_ms);
	assert_int_equal(sqlite3_exec(store_db(f->s), sql, NULL, NULL, NULL),
	                 SQLITE_OK);
}

/* Runs a pass to its end; returns the steps it took. */
static int
run_pass(struct fixture *f, int64_t now_ms)
{
	int steps = 0, rc;

	assert_int_equal(retention_start(f->r, now_ms), 1);
	do {
		rc = retention_step(f->r);
		assert_true(rc >= 0);
		steps++;
		assert_true(steps < 100000);
	} while (rc > 0);
	assert_false(retention_running(f->r));
	return steps;
}

/*
 * Rows at many ages around each cutoff; a pass deletes exactly the
 * older ones, table by table, in batches, and records what it did.
 */
static void
test_short_policies_delete_exactly_older(void **state)
{
	struct fixture *f = *state;
	int64_t keep_ev = 2 * DAY_MS, keep_1m = 3 * DAY_MS;
	int64_t keep_1h = 10 * DAY_MS, keep_an = 5 * DAY_MS;
	int64_t keep_no = 1 * DAY_MS;
	int64_t ev_old, ev_new, m_old, m_new, h_old, h_new, an_old, no_old;
	int n, steps;

	/* Events every 20 minutes over 12 days back from now, then one
	 * exactly at each of the edges, the newest last. */
	for (n = 0; n < 12 * 72; n++)
		add_event(f, n + 1, NOW_MS - 12 * DAY_MS + n * 20 * MIN_MS);
	add_event(f, 2000, NOW_MS - keep_ev - 1); /* just older: goes */
	add_event(f, 2001, NOW_MS - keep_ev);     /* at the cutoff: stays */
	add_event(f, 2002, NOW_MS);
	for (n = 0; n < 100; n++) {
		add_anomaly(f, n, NOW_MS - n * 3 * HOUR_MS);
		add_notification(f, NOW_MS - n * HOUR_MS);
	}
	assert_int_equal(store_flush(f->s), 0);

	ev_old = q_int(f, "SELECT count(*) FROM events WHERE ts_ms < %lld",
	               (long long)(NOW_MS - keep_ev));
	ev_new = q_int(f, "SELECT count(*) FROM events") - ev_old;
	/* A bucket goes once it ended at or before the cutoff. */
	m_old = q_int(f,
	              "SELECT count(*) FROM rollups WHERE resolution = 60 "
	              "AND bucket_ms + 60000 <= %lld",
	              (long long)(NOW_MS - keep_1m));
	m_new = q_int(f, "SELECT count(*) FROM rollups WHERE resolution = 60") -
	        m_old;
	h_old = q_int(f,
	              "SELECT count(*) FROM rollups WHERE resolution = 3600 "
	              "AND bucket_ms + 3600000 <= %lld",
	              (long long)(NOW_MS - keep_1h));
	h_new = q_int(f,
	              "SELECT count(*) FROM rollups WHERE resolution = 3600") -
	        h_old;
	an_old = q_int(f, "SELECT count(*) FROM anomalies WHERE ts_ms < %lld",
	               (long long)(NOW_MS - keep_an));
	no_old = q_int(f,
	               "SELECT count(*) FROM notifications WHERE ts_ms < %lld",
	               (long long)(NOW_MS - keep_no));
	/* The set-up has something on both sides of every cutoff. */
	assert_true(ev_old > 500 && ev_new > 100);
	assert_true(m_old > 100 && m_new > 100 && h_old > 0 && h_new > 100);
	assert_true(an_old > 10 && no_old > 10);

	retention_set_keep(f->r, RETENTION_EVENTS, keep_ev);
	retention_set_keep(f->r, RETENTION_ROLLUPS_1M, keep_1m);
	retention_set_keep(f->r, RETENTION_ROLLUPS_1H, keep_1h);
	retention_set_keep(f->r, RETENTION_ANOMALIES, keep_an);
	retention_set_keep(f->r, RETENTION_NOTIFICATIONS, keep_no);
	retention_set_batch(f->r, 50);
	steps = run_pass(f, NOW_MS);
	/* At least a step per 50 rows: no step deleted more. */
	assert_true(steps >= (ev_old + m_old + h_old + an_old + no_old) / 50);

	assert_int_equal(q_int(f,
	                       "SELECT count(*) FROM events WHERE ts_ms < "
	                       "%lld",
	                       (long long)(NOW_MS - keep_ev)),
	                 0);
	assert_int_equal(q_int(f, "SELECT count(*) FROM events"), ev_new);
	assert_int_equal(q_int(f, "SELECT count(*) FROM events WHERE event_id"
	                          " IN ('e-2000', 'e-2001')"),
	                 1);
	assert_int_equal(q_int(f, "SELECT count(*) FROM events WHERE event_id"
	                          " = 'e-2001'"),
	                 1);
	assert_int_equal(q_int(f, "SELECT count(*) FROM rollups WHERE "
	                          "resolution = 60"),
	                 m_new);
	assert_int_equal(q_int(f,
	                       "SELECT min(bucket_ms) + 60000 > %lld FROM "
	                       "rollups WHERE resolution = 60",
	                       (long long)(NOW_MS - keep_1m)),
	                 1);
	assert_int_equal(q_int(f, "SELECT count(*) FROM rollups WHERE "
	                          "resolution = 3600"),
	                 h_new);
	assert_int_equal(q_int(f,
	                       "SELECT count(*) FROM anomalies WHERE ts_ms"
	                       " < %lld",
	                       (long long)(NOW_MS - keep_an)),
	                 0);
	assert_int_equal(q_int(f, "SELECT count(*) FROM anomalies"),
	                 100 - an_old);
	assert_int_equal(q_int(f, "SELECT count(*) FROM notifications"),
	                 100 - no_old);

	/* retention_runs: one row per policy with its pass. */
	assert_int_equal(q_int(f, "SELECT count(*) FROM retention_runs"), 5);
	assert_int_equal(q_int(f, "SELECT deleted_last FROM retention_runs "
	                          "WHERE policy = 'events'"),
	                 ev_old);
	assert_int_equal(q_int(f, "SELECT cutoff_ms FROM retention_runs WHERE"
	                          " policy = 'events'"),
	                 NOW_MS - keep_ev);
	assert_int_equal(q_int(f, "SELECT deleted_last FROM retention_runs "
	                          "WHERE policy = 'rollups_1m'"),
	                 m_old);
	assert_int_equal(q_int(f, "SELECT deleted_last FROM retention_runs "
	                          "WHERE policy = 'rollups_1h'"),
	                 h_old);
	assert_int_equal(q_int(f, "SELECT deleted_last FROM retention_runs "
	                          "WHERE policy = 'anomalies'"),
	                 an_old);
	assert_int_equal(q_int(f, "SELECT deleted_total FROM retention_runs "
	                          "WHERE policy = 'notifications'"),
	                 no_old);
	assert_int_equal(q_int(f,
	                       "SELECT count(*) FROM retention_runs WHERE "
	                       "last_run_ms = %lld",
	                       (long long)NOW_MS),
	                 5);
	assert_int_equal(retention_get_stats(f->r)->passes, 1);
	assert_int_equal(retention_get_stats(f->r)->deleted[RETENTION_EVENTS],
	                 ev_old);

	/* A second pass an hour later: the hour's worth (the three of the
	 * 20-minute grid and e-2001), and the totals add up. */
	n = (int)q_int(f, "SELECT count(*) FROM events WHERE ts_ms < %lld",
	               (long long)(NOW_MS + HOUR_MS - keep_ev));
	assert_int_equal(n, 4);
	run_pass(f, NOW_MS + HOUR_MS);
	assert_int_equal(q_int(f, "SELECT deleted_last FROM retention_runs "
	                          "WHERE policy = 'events'"),
	                 n);
	assert_int_equal(q_int(f, "SELECT deleted_total FROM retention_runs "
	                          "WHERE policy = 'events'"),
	                 ev_old + n);
	assert_int_equal(q_int(f, "SELECT last_run_ms FROM retention_runs "
	                          "WHERE policy = 'anomalies'"),
	                 NOW_MS + HOUR_MS);
	/* The rollups of deleted events stay: they have their own policy
	 * (e-2000, deleted by the first pass, still counts in its minute). */
	assert_int_equal(
	        q_int(f,
	              "SELECT count FROM rollups WHERE resolution"
	              " = 60 AND metric = 'requests' AND bucket_ms"
	              " = %lld AND application_id = 'search'",
	              (long long)rollup_bucket_start(NOW_MS - keep_ev - 1, 60)),
	        1);
}

/* A policy of 0 keeps forever: nothing deleted, no run recorded. */
static void
test_no_policy_keeps_forever(void **state)
{
	struct fixture *f = *state;

	add_event(f, 1, NOW_MS - 400 * DAY_MS);
	add_anomaly(f, 1, NOW_MS - 400 * DAY_MS);
	add_event(f, 2, NOW_MS);
	assert_int_equal(store_flush(f->s), 0);
	assert_int_equal(run_pass(f, NOW_MS), 1);
	retention_set_keep(f->r, RETENTION_ANOMALIES, DAY_MS);
	run_pass(f, NOW_MS);
	assert_int_equal(q_int(f, "SELECT count(*) FROM events"), 2);
	assert_int_equal(q_int(f, "SELECT count(*) FROM anomalies"), 0);
	assert_string_equal(q_text(f, "SELECT group_concat(policy) FROM "
	                              "retention_runs"),
	                    "anomalies");
}

/* Pending rows of the writer are committed first, and kept. */
static void
test_step_commits_pending_rows(void **state)
{
	struct fixture *f = *state;

	retention_set_keep(f->r, RETENTION_EVENTS, DAY_MS);
	add_event(f, 1, NOW_MS - 2 * DAY_MS);
	add_event(f, 2, NOW_MS);
	assert_int_equal(store_flush(f->s), 0);
	/* From now on the rollups are written only when forced. */
	rollup_set_limits(store_rollup(f->s), 3600000, ROLLUP_IDLE_MS,
	                  ROLLUP_MAX_BYTES);
	add_event(f, 3, NOW_MS - 2 * DAY_MS); /* pending, old */
	add_event(f, 4, NOW_MS);              /* pending */
	assert_int_equal(store_pending(f->s), 2);
	assert_int_equal(retention_start(f->r, NOW_MS), 1);
	assert_int_equal(retention_start(f->r, NOW_MS), 0); /* running */
	retention_step(f->r);
	assert_int_equal(store_pending(f->s), 0);
	while (retention_step(f->r) > 0)
		;
	/* e-1 went; e-3 is above the rollups' watermark (not flushed):
	 * kept until they count it. */
	assert_string_equal(q_text(f, "SELECT group_concat(event_id, ' ') FROM"
	                              " (SELECT event_id FROM events ORDER BY"
	                              " id)"),
	                    "e-2 e-3 e-4");
	assert_int_equal(store_flush(f->s), 0);
	run_pass(f, NOW_MS);
	assert_int_equal(q_int(f, "SELECT count(*) FROM events WHERE event_id"
	                          " = 'e-3'"),
	                 0);
	assert_int_equal(q_int(f, "SELECT count(*) FROM events"), 2);
	/* The rollups still count all four. */
	assert_int_equal(q_int(f, "SELECT sum(count) FROM rollups WHERE "
	                          "resolution = 60 AND metric = 'requests'"),
	                 4);
}

/* The newest event stays even when old, so sqlite's next rowid never
 * falls back below the rollups' watermark. */
static void
test_newest_event_kept(void **state)
{
	struct fixture *f = *state;

	retention_set_keep(f->r, RETENTION_EVENTS, DAY_MS);
	add_event(f, 1, NOW_MS - 3 * DAY_MS);
	add_event(f, 2, NOW_MS - 2 * DAY_MS);
	assert_int_equal(store_flush(f->s), 0);
	run_pass(f, NOW_MS);
	assert_int_equal(q_int(f, "SELECT count(*) FROM events"), 1);
	add_event(f, 3, NOW_MS);
	assert_int_equal(store_flush(f->s), 0);
	assert_int_equal(q_int(f, "SELECT id FROM events WHERE event_id = "
	                          "'e-3'"),
	                 3);
	run_pass(f, NOW_MS);
	assert_int_equal(q_int(f, "SELECT count(*) FROM events"), 1);
}

/* The policies come from storage.retention.*; the defaults are the
 * documented ones. */
static void
test_configure_from_config(void **state)
{
	struct fixture *f = *state;
	struct sn_cfg_errors e = {0};
	struct sn_config *cfg = config_load(NULL, &e);
	int n;

	assert_non_null(cfg);
	cfg->storage.retention_raw_ms = 1 * DAY_MS;
	cfg->storage.retention_rollups_1m_ms = 2 * DAY_MS;
	cfg->storage.retention_aggregated_ms = 3 * DAY_MS;
	cfg->storage.retention_anomalies_ms = 4 * DAY_MS;
	cfg->storage.retention_notifications_ms = 5 * DAY_MS;
	retention_configure(f->r, cfg);
	add_event(f, 1, NOW_MS);
	assert_int_equal(store_flush(f->s), 0);
	run_pass(f, NOW_MS);
	for (n = 0; n < RETENTION_NPOLICIES; n++)
		assert_int_equal(q_int(f,
		                       "SELECT %lld - cutoff_ms FROM "
		                       "retention_runs WHERE policy = '%s'",
		                       (long long)NOW_MS,
		                       retention_policy_name(n)),
		                 (n + 1) * DAY_MS);
	config_free(cfg);
	assert_null(retention_policy_name(RETENTION_NPOLICIES));
}

/* A big backlog goes in steps of the default batch; prints the longest
 * step (for docs/storage.md; no timing is asserted). */
static void
test_backlog_in_steps(void **state)
{
	struct fixture *f = *state;
	const struct retention_stats *rs = retention_get_stats(f->r);
	int n, steps;

	for (n = 0; n < 20000; n++) {
		add_event(f, n + 1, NOW_MS - 10 * DAY_MS + n * 1000);
		if (store_pending(f->s) >= 1000)
			store_commit(f->s);
	}
	add_event(f, 30000, NOW_MS);
	assert_int_equal(store_flush(f->s), 0);
	retention_set_keep(f->r, RETENTION_EVENTS, DAY_MS);
	retention_set_keep(f->r, RETENTION_ROLLUPS_1M, DAY_MS);
	steps = run_pass(f, NOW_MS);
	assert_int_equal(q_int(f, "SELECT count(*) FROM events"), 1);
	assert_int_equal(rs->deleted[RETENTION_EVENTS], 20000);
	/* 20000 / 2000 full steps and one short one per policy */
	assert_true(steps >= 20000 / RETENTION_BATCH_ROWS + 1);
	print_message("# retention: %d steps, longest %lld us (batch %d)\n",
	              steps, (long long)rs->max_step_us, RETENTION_BATCH_ROWS);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(
	                test_short_policies_delete_exactly_older, setup,
	                teardown),
	        cmocka_unit_test_setup_teardown(test_no_policy_keeps_forever,
	                                        setup, teardown),
	        cmocka_unit_test_setup_teardown(test_step_commits_pending_rows,
	                                        setup, teardown),
	        cmocka_unit_test_setup_teardown(test_newest_event_kept, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_configure_from_config,
	                                        setup, teardown),
	        cmocka_unit_test_setup_teardown(test_backlog_in_steps, setup,
	                                        teardown),
	};

	log_init("test", LOG_LEVEL_ERROR, LOG_FORMAT_TEXT);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
