/*
 * test_store.c: the sqlite store without the daemon: batches of events,
 * exactly-once by (timestamp, event_id), NULL for absent numbers, the raw
 * JSON kept, anomalies (firing and resolved, with the engine's fields),
 * a version 1 file upgraded, a version 2 file upgraded to 3 with its
 * rollups filled from its events, the version 3 tables and indexes, and a
 * database from a newer build refused.
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
#include "msg.h"
#include "../../stored/rollup.h"
#include "../../stored/store.h"

/* PRAGMA user_version of a file this build wrote or migrated. */
#define XSTR(x)        #x
#define STR(x)         XSTR(x)
#define SCHEMA_VERSION STR(STORE_SCHEMA_VERSION)

struct fixture {
	char dir[64];
	char db[128];
	struct store *s;
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (tu_db_dir(f->dir, f->db, "store") < 0)
		return -1;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	store_close(f->s);
	tu_db_remove(f->dir, f->db);
	free(f);
	return 0;
}

/* The first column of the first row of sql, read through a connection
 * of its own (as the CLI or the query API would), as text; "NULL" for
 * NULL.  Returns a static buffer. */
static const char *
query(struct fixture *f, const char *sql)
{
	static char out[512];
	sqlite3 *db;
	sqlite3_stmt *st;

	assert_int_equal(
	        sqlite3_open_v2(f->db, &db, SQLITE_OPEN_READONLY, NULL),
	        SQLITE_OK);
	assert_int_equal(rollup_sql_register(db), 0);
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(db));
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	if (sqlite3_column_type(st, 0) == SQLITE_NULL)
		snprintf(out, sizeof(out), "NULL");
	else
		snprintf(out, sizeof(out), "%s",
		         (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	sqlite3_close(db);
	return out;
}

/* Event number i: id "ev-<i>", one second apart, every number set. */
static struct sn_event
event(int i, char *id, size_t idlen, char *json, size_t jsonlen)
{
	struct sn_event ev;

	memset(&ev, 0, sizeof(ev));
	snprintf(id, idlen, "ev-%d", i);
	snprintf(
	        json, jsonlen,
	        "{\"event_id\":\"%s\",\"timestamp\":\"2025-11-06T12:00:%02dZ\","
	        "\"event_type\":\"llm.response\",\"application_id\":"
	        "\"test-app\",\"data\":{\"status\":\"success\","
	        "\"latency_ms\":1250,\"total_tokens\":225,\"cost\":0.045}}",
	        id, i % 60);
	ev.seq = (uint64_t)i + 1;
	ev.ts_ms = 1762430400000 + (int64_t)(i % 60) * 1000;
	ev.recv_ms = 1762430500000;
	ev.present = SN_EV_LATENCY_MS | SN_EV_TOTAL_TOKENS |
	             SN_EV_PROMPT_TOKENS | SN_EV_COMPLETION_TOKENS | SN_EV_COST;
	ev.latency_ms = 1250;
	ev.total_tokens = 225;
	ev.prompt_tokens = 200;
	ev.completion_tokens = 25;
	ev.cost = 0.045;
	ev.event_id = str(id);
	ev.event_type = str("llm.response");
	ev.application_id = str("test-app");
	ev.model = str("gpt-4");
	ev.status = str("success");
	ev.timestamp = str("2025-11-06T12:00:00Z");
	ev.json = str(json);
	return ev;
}

static void
add_events(struct store *s, int from, int to, int expect)
{
	char id[32], json[512];
	int i;

	for (i = from; i < to; i++) {
		struct sn_event ev =
		        event(i, id, sizeof(id), json, sizeof(json));

		assert_int_equal(store_add_event(s, &ev), expect);
	}
}

static void
test_batch_and_duplicates(void **state)
{
	struct fixture *f = *state;
	const struct store_stats *st;

	assert_int_equal(store_open(f->dir, &f->s), 0);
	add_events(f->s, 0, 10, 1);
	assert_int_equal(store_pending(f->s), 10);
	assert_int_equal(store_commit(f->s), 10);
	assert_int_equal(store_pending(f->s), 0);
	assert_string_equal(query(f, "SELECT count(*) FROM events"), "10");

	/* The same events again, in a later batch: none stored twice. */
	add_events(f->s, 0, 10, 0);
	assert_int_equal(store_commit(f->s), 10);
	assert_string_equal(query(f, "SELECT count(*) FROM events"), "10");
	assert_string_equal(query(f, "SELECT count(*) FROM events "
	                             "WHERE event_id = 'ev-3'"),
	                    "1");

	/* And a duplicate inside one batch. */
	add_events(f->s, 10, 11, 1);
	add_events(f->s, 10, 11, 0);
	store_commit(f->s);
	assert_string_equal(query(f, "SELECT count(*) FROM events"), "11");

	st = store_get_stats(f->s);
	assert_int_equal(st->events_inserted, 11);
	assert_int_equal(st->events_duplicate, 11);
	assert_int_equal(st->rows_failed, 0);
	assert_int_equal(st->commits, 3);

	/* Survives a reopen (no second migration, rows kept). */
	store_close(f->s);
	f->s = NULL;
	assert_int_equal(store_open(f->dir, &f->s), 0);
	add_events(f->s, 0, 1, 0);
	store_commit(f->s);
	assert_string_equal(query(f, "SELECT count(*) FROM events"), "11");
	assert_string_equal(query(f, "PRAGMA user_version"), SCHEMA_VERSION);
	assert_string_equal(query(f, "PRAGMA journal_mode"), "wal");
	assert_string_equal(query(f, "PRAGMA page_size"), "16384");
}

/*
 * store_add_events: 40 events in one call (two 16-row statements and
 * single rows), then a call where a 16-row statement mixes stored
 * events, new ones and one of its own repeated: each counted once, in
 * the table, the stats and the rollups, also after a reopen (which
 * rolls up again whatever lies above the rollups' watermark).
 */
static void
test_many_at_once(void **state)
{
	struct fixture *f = *state;
	static char id[64][32], json[64][512];
	struct sn_event evs[64];
	const struct store_stats *st;
	int i, n = 0;

	assert_int_equal(store_open(f->dir, &f->s), 0);
	for (i = 0; i < 40; i++)
		evs[i] = event(i, id[i], sizeof(id[i]), json[i],
		               sizeof(json[i]));
	assert_int_equal(store_add_events(f->s, evs, 40), 40);
	assert_int_equal(store_commit(f->s), 40);
	assert_string_equal(query(f, "SELECT count(*) || ' ' || min(id) || "
	                             "' ' || max(id) FROM events"),
	                    "40 1 40");
	assert_string_equal(query(f, "SELECT id FROM events WHERE event_id = "
	                             "'ev-39'"),
	                    "40");

	for (i = 0; i < 8; i++) /* stored already */
		evs[n++] = event(i, id[i], sizeof(id[i]), json[i],
		                 sizeof(json[i]));
	for (i = 0; i < 4; i++, n++) /* new */
		evs[n] = event(100 + i, id[n], sizeof(id[n]), json[n],
		               sizeof(json[n]));
	evs[n++] = evs[8]; /* ev-100 again, in the same statement */
	for (i = 4; i < 7; i++, n++)
		evs[n] = event(100 + i, id[n], sizeof(id[n]), json[n],
		               sizeof(json[n]));
	for (i = 0; i < 16; i++, n++) /* a statement of new ones */
		evs[n] = event(200 + i, id[n], sizeof(id[n]), json[n],
		               sizeof(json[n]));
	assert_int_equal(n, 32);
	assert_int_equal(store_add_events(f->s, evs, (size_t)n), 23);
	assert_int_equal(store_pending(f->s), 32);
	assert_int_equal(store_commit(f->s), 32);
	assert_string_equal(query(f, "SELECT count(*) FROM events"), "63");
	assert_string_equal(query(f, "SELECT count(*) FROM events WHERE "
	                             "event_id = 'ev-100'"),
	                    "1");
	st = store_get_stats(f->s);
	assert_int_equal(st->events_inserted, 63);
	assert_int_equal(st->events_duplicate, 9);

	for (i = 0; i < 2; i++) {
		store_close(f->s); /* writes the rollups */
		f->s = NULL;
		assert_string_equal(query(f, "SELECT sum(count) FROM rollups "
		                             "WHERE metric = 'requests' AND "
		                             "resolution = 60"),
		                    "63");
		assert_int_equal(store_open(f->dir, &f->s), 0);
	}
}

static void
test_fields_nulls_and_raw(void **state)
{
	struct fixture *f = *state;
	char id[32], json[512];
	struct sn_event ev = event(7, id, sizeof(id), json, sizeof(json));

	assert_int_equal(store_open(f->dir, &f->s), 0);
	ev.present = SN_EV_LATENCY_MS | SN_EV_TOTAL_TOKENS;
	ev.model = str("");
	ev.status = str("");
	assert_int_equal(store_add_event(f->s, &ev), 1);
	store_commit(f->s);

	assert_string_equal(query(f, "SELECT latency_ms FROM events"),
	                    "1250.0");
	assert_string_equal(query(f, "SELECT total_tokens FROM events"), "225");
	assert_string_equal(query(f, "SELECT typeof(total_tokens) FROM "
	                             "events"),
	                    "integer");
	assert_string_equal(query(f, "SELECT prompt_tokens FROM events"),
	                    "NULL");
	assert_string_equal(query(f, "SELECT completion_tokens FROM events"),
	                    "NULL");
	assert_string_equal(query(f, "SELECT cost FROM events"), "NULL");
	assert_string_equal(query(f, "SELECT model FROM events"), "NULL");
	assert_string_equal(query(f, "SELECT status FROM events"), "NULL");
	assert_string_equal(query(f, "SELECT raw FROM events"), json);
	assert_string_equal(query(f, "SELECT seq || ' ' || event_id || ' ' "
	                             "|| ts_ms || ' ' || timestamp || ' ' "
	                             "|| recv_ms || ' ' || event_type || ' '"
	                             " || application_id FROM events"),
	                    "8 ev-7 1762430407000 2025-11-06T12:00:00Z "
	                    "1762430500000 llm.response test-app");
}

static void
test_same_id_other_time_is_another_event(void **state)
{
	struct fixture *f = *state;
	char id[32], json[512];
	struct sn_event ev = event(1, id, sizeof(id), json, sizeof(json));

	/* The documented choice (schema.c): the key is (ts_ms, event_id). */
	assert_int_equal(store_open(f->dir, &f->s), 0);
	assert_int_equal(store_add_event(f->s, &ev), 1);
	ev.ts_ms += 3600000;
	ev.seq++;
	assert_int_equal(store_add_event(f->s, &ev), 1);
	store_commit(f->s);
	assert_string_equal(query(f, "SELECT count(*) FROM events"), "2");
}

static void
test_anomalies(void **state)
{
	struct fixture *f = *state;
	struct sn_anomaly a;

	memset(&a, 0, sizeof(a));
	a.seq = 42;
	a.ts_ms = 1762430400000;
	a.detected_ms = 1762430401000;
	a.value = 7300;
	a.threshold = 5000;
	a.id = str("high-latency-42-0");
	a.detector_id = str("high-latency");
	a.detector_type = str("threshold");
	a.alert = str("high-latency-alert");
	a.severity = str("warning");
	a.application_id = str("test-app");
	a.model = str("");
	a.metric = str("latency_ms");
	a.event_id = str("test-001");
	a.message = str("latency_ms 7300 > 5000 for application test-app");

	assert_int_equal(store_open(f->dir, &f->s), 0);
	assert_int_equal(store_add_anomaly(f->s, &a), 1);
	assert_int_equal(store_add_anomaly(f->s, &a), 0);
	a.id = str("high-latency-42-1");
	a.severity = str("critical");
	assert_int_equal(store_add_anomaly(f->s, &a), 1);
	assert_int_equal(store_commit(f->s), 3);
	assert_string_equal(query(f, "SELECT count(*) FROM anomalies"), "2");
	assert_string_equal(
	        query(f, "SELECT anomaly_id || ' ' || seq || ' ' || ts_ms || "
	                 "' ' || detected_ms || ' ' || detector_id || ' ' || "
	                 "detector_type || ' ' || alert || ' ' || severity || "
	                 "' ' || application_id || ' ' || metric || ' ' || "
	                 "value || ' ' || threshold || ' ' || event_id "
	                 "FROM anomalies ORDER BY id LIMIT 1"),
	        "high-latency-42-0 42 1762430400000 1762430401000 "
	        "high-latency threshold high-latency-alert warning test-app "
	        "latency_ms 7300.0 5000.0 test-001");
	assert_string_equal(query(f, "SELECT message FROM anomalies"),
	                    "latency_ms 7300 > 5000 for application test-app");
	assert_string_equal(query(f, "SELECT model FROM anomalies"), "NULL");
	assert_int_equal(store_get_stats(f->s)->anomalies_inserted, 2);
	assert_int_equal(store_get_stats(f->s)->anomalies_duplicate, 1);
}

/* detectd's hand-over: a message's id is acknowledged only once its
 * anomalies are committed and synced, each id once, in order. */
static void
test_anomalies_acknowledged_after_sync(void **state)
{
	struct fixture *f = *state;
	struct sn_buf m = {0};
	struct msg_reader r;
	struct sn_anomaly a;
	uint64_t id;

	memset(&a, 0, sizeof(a));
	a.ts_ms = 1762430400000;
	a.id = str("lat-1");
	a.detector_id = a.detector_type = a.alert = str("x");
	a.severity = a.application_id = a.metric = str("x");
	a.model = a.event_id = a.message = str("");
	assert_int_equal(store_open(f->dir, &f->s), 0);
	assert_int_equal(store_add_anomaly(f->s, &a), 1);
	store_hand_over(f->s, 11);
	a.id = str("lat-2");
	assert_int_equal(store_add_anomaly(f->s, &a), 1);
	store_hand_over(f->s, 12);
	/* open transaction: nothing to acknowledge, nothing to sync */
	assert_int_equal(store_take_acks(f->s, &m), 0);
	assert_int_equal(store_sync_cursor(f->s), 0);
	assert_int_equal(store_commit(f->s), 2);
	/* committed, not yet synced */
	assert_int_equal(store_take_acks(f->s, &m), 0);
	/* no event moved the cursor: the ids alone make it sync */
	assert_int_equal(store_sync_cursor(f->s), 1);
	assert_int_equal(store_take_acks(f->s, &m), 2);
	assert_int_equal(msg_open(&r, m.data, m.len), 0);
	assert_int_equal(r.type, SN_MSG_ANOMALIES_ACK);
	assert_int_equal(msg_next_ack(&r, &id), 1);
	assert_true(id == 11);
	assert_int_equal(msg_next_ack(&r, &id), 1);
	assert_true(id == 12);
	assert_int_equal(msg_next_ack(&r, &id), 0);
	assert_int_equal(store_take_acks(f->s, &m), 0); /* each once */
	/* a message arriving outside a transaction waits for the next
	 * sync, a second after the last one */
	store_hand_over(f->s, 13);
	assert_int_equal(store_sync_cursor(f->s), 0);
	assert_int_equal(store_take_acks(f->s, &m), 0);
	sn_buf_free(&m);
}

/* A firing record of the engine and its resolution: two rows, every new
 * field kept, NaN stored as NULL. */
static void
test_anomaly_firing_and_resolved(void **state)
{
	struct fixture *f = *state;
	struct sn_anomaly a;

	memset(&a, 0, sizeof(a));
	a.seq = 7;
	a.ts_ms = 1762430460000;
	a.detected_ms = 1762430461000;
	a.window_start_ms = 1762430400000;
	a.window_end_ms = 1762430460000;
	a.samples = 12;
	a.status = SN_ANOMALY_FIRING;
	a.value = 7300;
	a.expected = 1200.5;
	a.score = 4.25;
	a.threshold = 3;
	a.id = str("lat-z:firing");
	a.detector_id = str("lat-z");
	a.detector_type = str("statistical");
	a.alert = str("latency-shift");
	a.severity = str("warning");
	a.application_id = str("chat");
	a.model = str("gpt-4o");
	a.metric = str("latency_ms");
	a.event_id = str("e-3");
	a.message = str("latency_ms avg 7300 is 4.25 sd above 1200.5");
	a.labels = str("{\"application_id\":\"chat\",\"model\":\"gpt-4o\"}");
	a.event_ids = str("[\"e-3\",\"e-4\"]");

	assert_int_equal(store_open(f->dir, &f->s), 0);
	assert_int_equal(store_add_anomaly(f->s, &a), 1);
	a.id = str("lat-z:resolved");
	a.status = SN_ANOMALY_RESOLVED;
	a.ts_ms += 60000;
	a.window_start_ms += 60000;
	a.window_end_ms += 60000;
	a.value = 1180;
	a.expected = NAN;
	a.score = NAN;
	a.labels = str("");
	a.event_ids = str("");
	assert_int_equal(store_add_anomaly(f->s, &a), 1);
	assert_int_equal(store_add_anomaly(f->s, &a), 0);
	assert_int_equal(store_commit(f->s), 3);

	assert_string_equal(query(f, "SELECT count(*) FROM anomalies"), "2");
	assert_string_equal(
	        query(f, "SELECT status || ' ' || expected || ' ' || score || "
	                 "' ' || window_start_ms || ' ' || window_end_ms || "
	                 "' ' || samples || ' ' || labels || ' ' || event_ids "
	                 "FROM anomalies WHERE anomaly_id = 'lat-z:firing'"),
	        "firing 1200.5 4.25 1762430400000 1762430460000 12 "
	        "{\"application_id\":\"chat\",\"model\":\"gpt-4o\"} "
	        "[\"e-3\",\"e-4\"]");
	assert_string_equal(
	        query(f, "SELECT status || ' ' || ts_ms || ' ' || value || ' ' "
	                 "|| (expected IS NULL) || (score IS NULL) || "
	                 "(labels IS NULL) || (event_ids IS NULL) "
	                 "FROM anomalies WHERE anomaly_id = 'lat-z:resolved'"),
	        "resolved 1762430520000 1180.0 1111");
	assert_string_equal(query(f, "SELECT model FROM anomalies LIMIT 1"),
	                    "gpt-4o");
}

/* The schema of version 1, as the first release created it. */
static const char v1_schema[] =
        "CREATE TABLE events (id INTEGER PRIMARY KEY, seq INTEGER NOT NULL,"
        " event_id TEXT NOT NULL, ts_ms INTEGER NOT NULL, timestamp TEXT "
        "NOT NULL, recv_ms INTEGER NOT NULL, event_type TEXT NOT NULL,"
        " application_id TEXT NOT NULL, model TEXT, status TEXT,"
        " latency_ms REAL, total_tokens INTEGER, prompt_tokens INTEGER,"
        " completion_tokens INTEGER, cost REAL, raw TEXT NOT NULL);"
        "CREATE UNIQUE INDEX events_ts_event_id ON events (ts_ms, event_id);"
        "CREATE TABLE anomalies (id INTEGER PRIMARY KEY, anomaly_id TEXT "
        "NOT NULL UNIQUE, seq INTEGER NOT NULL, ts_ms INTEGER NOT NULL,"
        " detected_ms INTEGER NOT NULL, detector_id TEXT NOT NULL,"
        " detector_type TEXT NOT NULL, alert TEXT NOT NULL, severity TEXT "
        "NOT NULL, application_id TEXT NOT NULL, model TEXT, metric TEXT "
        "NOT NULL, value REAL NOT NULL, threshold REAL NOT NULL, event_id "
        "TEXT NOT NULL, message TEXT NOT NULL);"
        "INSERT INTO events VALUES (1, 1, 'old-1', 1762430400000,"
        " '2025-11-06T12:00:00Z', 1762430400500, 'llm.response', 'test-app',"
        " NULL, 'success', 7300, NULL, NULL, NULL, NULL, '{}');"
        "INSERT INTO anomalies VALUES (1, 'high-latency-1-0', 1,"
        " 1762430400000, 1762430400600, 'high-latency', 'threshold',"
        " 'high-latency-alert', 'warning', 'test-app', NULL, 'latency_ms',"
        " 7300, 5000, 'old-1', 'latency_ms 7300 > 5000');"
        "PRAGMA user_version = 1;";

/* A file written by version 1 is upgraded in place: its rows are kept,
 * the new columns appear (filled for the old rows: one event, firing),
 * and new records go in beside them. */
static void
test_v1_file_upgraded(void **state)
{
	struct fixture *f = *state;
	struct sn_anomaly a;
	sqlite3 *db;

	assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, v1_schema, NULL, NULL, NULL),
	                 SQLITE_OK);
	sqlite3_close(db);

	assert_int_equal(store_open(f->dir, &f->s), 0);
	assert_string_equal(query(f, "PRAGMA user_version"), SCHEMA_VERSION);
	assert_string_equal(query(f, "SELECT count(*) FROM events"), "1");
	/* Its one event, rolled up by the migration to version 3. */
	assert_string_equal(query(f, "SELECT group_concat(resolution || ' ' "
	                             "|| metric || ' ' || count, ', ') FROM "
	                             "rollups"),
	                    "60 latency_ms 1, 60 requests 1, "
	                    "3600 latency_ms 1, 3600 requests 1");
	assert_string_equal(
	        query(f, "SELECT group_concat(name, ' ') FROM "
	                 "pragma_table_info('anomalies') WHERE name IN "
	                 "('status', 'expected', 'score', 'window_start_ms', "
	                 "'window_end_ms', 'samples', 'labels', 'event_ids')"),
	        "status expected score window_start_ms window_end_ms "
	        "samples labels event_ids");
	assert_string_equal(
	        query(f,
	              "SELECT anomaly_id || ' ' || status || ' ' || value || "
	              "' ' || threshold || ' ' || window_start_ms || ' ' || "
	              "window_end_ms || ' ' || samples || ' ' || labels || "
	              "' ' || event_ids || ' ' || (expected IS NULL) || "
	              "' ' || message FROM anomalies"),
	        "high-latency-1-0 firing 7300.0 5000.0 1762430400000 "
	        "1762430400000 1 {\"application_id\":\"test-app\"} "
	        "[\"old-1\"] 1 latency_ms 7300 > 5000");

	memset(&a, 0, sizeof(a));
	a.ts_ms = 1762430460000;
	a.status = SN_ANOMALY_RESOLVED;
	a.value = 10;
	a.threshold = 5000;
	a.expected = NAN;
	a.score = 10;
	a.id = str("high-latency-1-0:resolved");
	a.detector_id = str("high-latency");
	a.detector_type = str("threshold");
	a.alert = str("high-latency-alert");
	a.severity = str("warning");
	a.application_id = str("test-app");
	a.model = str("");
	a.metric = str("latency_ms");
	a.event_id = str("old-2");
	a.message = str("latency_ms back to 10");
	assert_int_equal(store_add_anomaly(f->s, &a), 1);
	assert_int_equal(store_commit(f->s), 1);
	assert_string_equal(query(f, "SELECT group_concat(status, ' ') FROM "
	                             "(SELECT status FROM anomalies ORDER BY "
	                             "id)"),
	                    "firing resolved");

	/* Opening it again migrates nothing more. */
	store_close(f->s);
	f->s = NULL;
	assert_int_equal(store_open(f->dir, &f->s), 0);
	assert_string_equal(query(f, "SELECT count(*) FROM anomalies"), "2");
}

/* A version 2 file, as the detection engine's release left it. */
static const char v2_schema[] =
        "CREATE TABLE events (id INTEGER PRIMARY KEY, seq INTEGER NOT NULL,"
        " event_id TEXT NOT NULL, ts_ms INTEGER NOT NULL, timestamp TEXT "
        "NOT NULL, recv_ms INTEGER NOT NULL, event_type TEXT NOT NULL,"
        " application_id TEXT NOT NULL, model TEXT, status TEXT,"
        " latency_ms REAL, total_tokens INTEGER, prompt_tokens INTEGER,"
        " completion_tokens INTEGER, cost REAL, raw TEXT NOT NULL);"
        "CREATE UNIQUE INDEX events_ts_event_id ON events (ts_ms, event_id);"
        "CREATE TABLE anomalies (id INTEGER PRIMARY KEY, anomaly_id TEXT "
        "NOT NULL UNIQUE, seq INTEGER NOT NULL, ts_ms INTEGER NOT NULL,"
        " detected_ms INTEGER NOT NULL, status TEXT NOT NULL DEFAULT "
        "'firing', detector_id TEXT NOT NULL, detector_type TEXT NOT NULL,"
        " alert TEXT NOT NULL, severity TEXT NOT NULL, application_id TEXT"
        " NOT NULL, model TEXT, metric TEXT NOT NULL, value REAL, expected"
        " REAL, score REAL, threshold REAL, window_start_ms INTEGER,"
        " window_end_ms INTEGER, samples INTEGER, labels TEXT, event_ids "
        "TEXT, event_id TEXT NOT NULL, message TEXT NOT NULL);"
        /* minute 12:00: chat/gpt-4o 3 events (one an error, one with no
         * status), chat without model 1; 12:01: chat/gpt-4o 1 */
        "INSERT INTO events VALUES (1, 1, 'a', 1762430400000, 't', 0,"
        " 'llm.response', 'chat', 'gpt-4o', 'success', 100, 10, 6, 4,"
        " 0.5, '{}');"
        "INSERT INTO events VALUES (2, 2, 'b', 1762430410000, 't', 0,"
        " 'llm.response', 'chat', 'gpt-4o', 'error', 300, 30, 20, 10,"
        " 1.5, '{}');"
        "INSERT INTO events VALUES (3, 3, 'c', 1762430459999, 't', 0,"
        " 'llm.response', 'chat', 'gpt-4o', NULL, 200, NULL, NULL, NULL,"
        " NULL, '{}');"
        "INSERT INTO events VALUES (4, 4, 'd', 1762430420000, 't', 0,"
        " 'llm.response', 'chat', NULL, 'timeout', NULL, NULL, NULL, NULL,"
        " NULL, '{}');"
        "INSERT INTO events VALUES (5, 5, 'e', 1762430460000, 't', 0,"
        " 'llm.response', 'chat', 'gpt-4o', 'success', 400, 40, 30, 10,"
        " 2, '{}');"
        "PRAGMA user_version = 2;";

/* A version 2 file is upgraded: new tables and indexes, its events
 * rolled up (count, errors, sum, min, max, sketch), the watermark at its
 * last event, and new events merged into the backfilled buckets. */
static void
test_v2_file_upgraded(void **state)
{
	struct fixture *f = *state;
	char id[32], json[512];
	struct sn_event ev;
	sqlite3 *db;

	assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, v2_schema, NULL, NULL, NULL),
	                 SQLITE_OK);
	sqlite3_close(db);

	assert_int_equal(store_open(f->dir, &f->s), 0);
	assert_string_equal(query(f, "PRAGMA user_version"), SCHEMA_VERSION);
	assert_string_equal(query(f, "SELECT count(*) FROM events"), "5");
	assert_string_equal(
	        query(f, "SELECT group_concat(count || '/' || errors, ' ') "
	                 "FROM (SELECT * FROM rollups WHERE metric = "
	                 "'requests' AND resolution = 60 ORDER BY bucket_ms, "
	                 "model)"),
	        "1/1 3/1 1/0");
	assert_string_equal(
	        query(f, "SELECT count || ' ' || sum || ' ' || min || ' ' || "
	                 "max FROM rollups WHERE resolution = 60 AND "
	                 "bucket_ms = 1762430400000 AND model = 'gpt-4o' AND "
	                 "metric = 'latency_ms'"),
	        "3 600.0 100.0 300.0");
	assert_string_equal(
	        query(f, "SELECT count || ' ' || sum FROM rollups WHERE "
	                 "resolution = 3600 AND model = 'gpt-4o' AND metric = "
	                 "'total_tokens'"),
	        "3 80.0");
	assert_string_equal(
	        query(f, "SELECT (abs(sn_qsketch_quantile(sketch, 0.5) - 200) "
	                 "<= 2) || ' ' || sn_qsketch_count(sketch) FROM rollups"
	                 " WHERE resolution = 3600 AND model = 'gpt-4o' AND "
	                 "metric = 'latency_ms'"),
	        "1 4"); /* 100 200 300 400: the median is 200, within 1% */
	assert_string_equal(query(f, "SELECT count(*) FROM rollups WHERE "
	                             "metric = 'requests' AND sketch IS NOT "
	                             "NULL"),
	                    "0");
	assert_string_equal(query(f, "SELECT value FROM store_meta WHERE key ="
	                             " 'rollups_through_event_id'"),
	                    "5");
	/* version 4: the minutes' own mark, copied from the common one */
	assert_string_equal(query(f, "SELECT value FROM store_meta WHERE key ="
	                             " 'rollups_1m_through_event_id'"),
	                    "5");

	/* A new event in the 12:01 bucket merges with the backfilled row. */
	ev = event(9, id, sizeof(id), json, sizeof(json));
	ev.ts_ms = 1762430470000;
	ev.application_id = str("chat");
	ev.model = str("gpt-4o");
	ev.latency_ms = 50;
	assert_int_equal(store_add_event(f->s, &ev), 1);
	assert_int_equal(store_flush(f->s), 0);
	assert_string_equal(
	        query(f, "SELECT count || ' ' || sum || ' ' || min || ' ' || "
	                 "max || ' ' || sn_qsketch_count(sketch) FROM rollups "
	                 "WHERE resolution = 60 AND bucket_ms = 1762430460000 "
	                 "AND model = 'gpt-4o' AND metric = 'latency_ms'"),
	        "2 450.0 50.0 400.0 2");
	assert_string_equal(query(f, "SELECT value FROM store_meta WHERE key ="
	                             " 'rollups_through_event_id'"),
	                    "6");
	assert_string_equal(query(f, "SELECT value FROM store_meta WHERE key ="
	                             " 'rollups_1m_through_event_id'"),
	                    "6");
}

/* The tables and indexes version 3 promises the query API. */
static void
test_v3_schema_objects(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(store_open(f->dir, &f->s), 0);
	assert_string_equal(
	        query(f, "SELECT group_concat(name, ' ') FROM (SELECT name "
	                 "FROM sqlite_master WHERE type IN ('table', 'index')"
	                 " AND name NOT LIKE 'sqlite_%' ORDER BY name)"),
	        "anomalies anomalies_detector_ts anomalies_ts events "
	        "events_ts_event_id notifications notifications_ts "
	        "retention_runs rollups store_meta");
	assert_string_equal(query(f,
	                          "SELECT group_concat(name, ' ') FROM "
	                          "pragma_index_info('anomalies_detector_ts')"),
	                    "detector_id ts_ms");
	/* rollups is keyed by its primary key, without a rowid. */
	assert_string_equal(
	        query(f, "SELECT sql LIKE '%WITHOUT ROWID%' FROM sqlite_master"
	                 " WHERE name = 'rollups'"),
	        "1");
	assert_string_equal(query(f, "SELECT group_concat(name, ' ') FROM "
	                             "pragma_table_info('notifications')"),
	                    "id ts_ms anomaly_id receiver status attempts "
	                    "error detail");
	assert_string_equal(query(f, "SELECT group_concat(name, ' ') FROM "
	                             "pragma_table_info('retention_runs')"),
	                    "policy last_run_ms deleted_last deleted_total "
	                    "cutoff_ms");
}

static void
test_newer_schema_refused(void **state)
{
	struct fixture *f = *state;
	sqlite3 *db;
	char sql[64];

	assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %d",
	         STORE_SCHEMA_VERSION + 1);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);

	assert_int_equal(store_open(f->dir, &f->s), STORE_NEWER);
	assert_null(f->s);
	/* Left as it was: no tables added, version unchanged. */
	assert_string_equal(query(f, "SELECT count(*) FROM sqlite_master"),
	                    "0");
	snprintf(sql, sizeof(sql), "%d", STORE_SCHEMA_VERSION + 1);
	assert_string_equal(query(f, "PRAGMA user_version"), sql);
}

static void
test_creates_folder(void **state)
{
	struct fixture *f = *state;
	char sub[128];

	snprintf(sub, sizeof(sub), "%s/a/b", f->dir);
	assert_int_equal(store_open(sub, &f->s), 0);
	assert_true(strstr(store_path(f->s), "/a/b/sentinel.db") != NULL);
	store_close(f->s);
	f->s = NULL;
	snprintf(sub, sizeof(sub), "%s/a/b/%s", f->dir, SN_DB_FILE);
	assert_int_equal(unlink(sub), 0);
	snprintf(sub, sizeof(sub), "%s/a/b", f->dir);
	assert_int_equal(rmdir(sub), 0);
	snprintf(sub, sizeof(sub), "%s/a", f->dir);
	assert_int_equal(rmdir(sub), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_batch_and_duplicates,
	                                        setup, teardown),
	        cmocka_unit_test_setup_teardown(test_many_at_once, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_fields_nulls_and_raw,
	                                        setup, teardown),
	        cmocka_unit_test_setup_teardown(
	                test_same_id_other_time_is_another_event, setup,
	                teardown),
	        cmocka_unit_test_setup_teardown(test_anomalies, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(
	                test_anomaly_firing_and_resolved, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_v1_file_upgraded, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_v2_file_upgraded, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_v3_schema_objects, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_newer_schema_refused,
	                                        setup, teardown),
	        cmocka_unit_test_setup_teardown(
	                test_anomalies_acknowledged_after_sync, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_creates_folder, setup,
	                                        teardown),
	};

	log_init("test", LOG_LEVEL_ERROR, LOG_FORMAT_TEXT);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
