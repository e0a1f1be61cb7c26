/*
 * test_rollup.c: the rollups stored beside the events say what the raw
 * events say.  For every (resolution, bucket, application, model,
 * metric): count, errors, sum, min and max equal the aggregates of the
 * raw rows, and p50/p90/p95/p99 from the stored sketch are within the
 * stated relative error of the exact quantile of the raw values, also
 * when minute sketches are merged into an hour.  Duplicates are not
 * counted, a late event updates its old bucket, a restart merges into
 * the stored rows rather than overwriting them, a crash between an
 * event commit and a rollup write is made good at the next start, and
 * memory stays within its budget with many groups.
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
#include "sketch.h"
#include "util.h"
#include "../../stored/rollup.h"
#include "../../stored/store.h"

/* 2025-11-06T12:00:00Z: the start of a minute and of an hour. */
#define BASE_MS 1762430400000LL

struct fixture {
	char dir[64];
	char db[128];
	struct store *s;
	sqlite3 *rd; /* a reader's connection, with the sketch functions */
};

static uint64_t rng_state;

static double
rng_unit(void)
{
	rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
	return (double)(rng_state >> 11) / 9007199254740992.0;
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (tu_db_dir(f->dir, f->db, "rollup") < 0)
		return -1;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	if (f->rd != NULL)
		sqlite3_close(f->rd);
	store_close(f->s);
	tu_db_remove(f->dir, f->db);
	free(f);
	return 0;
}

/* Opens the store and a reader; rollups written at every commit unless
 * the test says otherwise. */
static void
open_store(struct fixture *f)
{
	assert_int_equal(store_open(f->dir, &f->s), 0);
	rollup_set_limits(store_rollup(f->s), 0, ROLLUP_IDLE_MS,
	                  ROLLUP_MAX_BYTES);
	if (f->rd == NULL) {
		assert_int_equal(sqlite3_open_v2(f->db, &f->rd,
		                                 SQLITE_OPEN_READONLY, NULL),
		                 SQLITE_OK);
		assert_int_equal(rollup_sql_register(f->rd), 0);
	}
}

static void
reopen_store(struct fixture *f)
{
	store_close(f->s);
	f->s = NULL;
	open_store(f);
}

/* The first column of the first row of sql as an integer / a double. */
static int64_t
q_int(struct fixture *f, const char *sql)
{
	sqlite3_stmt *st;
	int64_t v;

	if (sqlite3_prepare_v2(f->rd, sql, -1, &st, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(f->rd));
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

static double
q_double(struct fixture *f, const char *sql)
{
	sqlite3_stmt *st;
	double v;

	if (sqlite3_prepare_v2(f->rd, sql, -1, &st, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(f->rd));
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	v = sqlite3_column_type(st, 0) == SQLITE_NULL
	            ? NAN
	            : sqlite3_column_double(st, 0);
	sqlite3_finalize(st);
	return v;
}

/* One generated event; strings live in the struct. */
struct gen {
	struct sn_event ev;
	char id[32];
	char json[64];
};

static const char *const apps[] = {"chat", "search"};
static const char *const models[] = {"gpt-4o", "claude-3", ""};
static const char *const statuses[] = {"success", "success", "success",
                                       "error",   "",        "timeout"};

/*
 * Event n (id "e-<n>") at ts_ms, group and numbers drawn from the
 * generator: latency 50 ms .. 5 s (log-uniform), tokens, cost from
 * 0.0001 to 0.05, some numbers absent, zeros among completion tokens.
 */
static void
gen_event(struct gen *g, int n, int64_t ts_ms)
{
	struct sn_event *ev = &g->ev;

	memset(g, 0, sizeof(*g));
	snprintf(g->id, sizeof(g->id), "e-%d", n);
	snprintf(g->json, sizeof(g->json), "{\"event_id\":\"%s\"}", g->id);
	ev->seq = (uint64_t)n + 1;
	ev->ts_ms = ts_ms;
	ev->recv_ms = ts_ms + 10;
	ev->event_id = str(g->id);
	ev->event_type = str("llm.response");
	ev->application_id = str(apps[(int)(rng_unit() * 2)]);
	ev->model = str(models[(int)(rng_unit() * 3)]);
	ev->status = str(statuses[(int)(rng_unit() * 6)]);
	ev->timestamp = str("2025-11-06T12:00:00Z");
	ev->json = str(g->json);
	if (rng_unit() < 0.9) {
		ev->present |= SN_EV_LATENCY_MS;
		ev->latency_ms = 50 * pow(100, rng_unit());
	}
	if (rng_unit() < 0.8) {
		ev->present |= SN_EV_PROMPT_TOKENS | SN_EV_COMPLETION_TOKENS |
		               SN_EV_TOTAL_TOKENS;
		ev->prompt_tokens = floor(10 + 3000 * rng_unit());
		ev->completion_tokens =
		        rng_unit() < 0.1 ? 0 : floor(1 + 1000 * rng_unit());
		ev->total_tokens = ev->prompt_tokens + ev->completion_tokens;
	}
	if (rng_unit() < 0.7) {
		ev->present |= SN_EV_COST;
		ev->cost = 0.0001 * pow(500, rng_unit());
	}
}

/* Adds events [from, to) spread over minutes [0, span_min), committing
 * every 1000; expect is store_add_event's answer for each. */
static void
add_spread(struct fixture *f, int from, int to, int span_min, int expect)
{
	struct gen g;
	int n;

	for (n = from; n < to; n++) {
		gen_event(&g, n,
		          BASE_MS + (int64_t)(rng_unit() * span_min * 60000));
		assert_int_equal(store_add_event(f->s, &g.ev), expect);
		if (store_pending(f->s) >= 1000)
			assert_true(store_commit(f->s) >= 0);
	}
	assert_true(store_commit(f->s) >= 0);
}

/* The SQL of a bucket's start at width w ms, as rollup_bucket_start
 * (a printf format: w is a conversion, % is doubled). */
#define BUCKET_SQL(w) "ts_ms - (((ts_ms %% " w ") + " w ") %% " w ")"

/*
 * For each resolution and metric: the raw groups and the rollup rows are
 * the same set, and every one agrees on count, errors, sum, min, max.
 */
static void
check_aggregates(struct fixture *f)
{
	static const char *const widths[] = {"60000", "3600000"};
	static const int res[] = {60, 3600};
	char sql[2048], raw[1024];
	int r, m;

	for (r = 0; r < 2; r++) {
		for (m = 0; m < ROLLUP_NMETRICS; m++) {
			const char *name = rollup_metric_name(m);
			int64_t groups, rows, same;

			if (m == ROLLUP_REQUESTS)
				snprintf(raw, sizeof(raw),
				         "SELECT " BUCKET_SQL(
				                 "%s") " AS b, application_id "
				                       "AS app,"
				                       " coalesce(model, '') "
				                       "AS mo, count(*) AS"
				                       " n, sum(status IS NOT "
				                       "NULL AND status"
				                       " <> 'success') AS e, "
				                       "NULL AS su, NULL"
				                       " AS mi, NULL AS ma "
				                       "FROM events GROUP"
				                       " BY b, app, mo",
				         widths[r], widths[r], widths[r]);
			else
				snprintf(raw, sizeof(raw),
				         "SELECT " BUCKET_SQL(
				                 "%s") " AS b, application_id "
				                       "AS app,"
				                       " coalesce(model, '') "
				                       "AS mo, count(%s)"
				                       " AS n, 0 AS e, sum(%s) "
				                       "AS su, min(%s)"
				                       " AS mi, max(%s) AS ma "
				                       "FROM events"
				                       " WHERE %s IS NOT NULL "
				                       "GROUP BY b, app,"
				                       " mo",
				         widths[r], widths[r], widths[r], name,
				         name, name, name, name);
			snprintf(sql, sizeof(sql), "SELECT count(*) FROM (%s)",
			         raw);
			groups = q_int(f, sql);
			snprintf(sql, sizeof(sql),
			         "SELECT count(*) FROM rollups WHERE resolution"
			         " = %d AND metric = '%s'",
			         res[r], name);
			rows = q_int(f, sql);
			snprintf(sql, sizeof(sql),
			         "SELECT count(*) FROM (%s) AS x JOIN rollups y"
			         " ON y.resolution = %d AND y.bucket_ms = x.b"
			         " AND y.application_id = x.app AND y.model ="
			         " x.mo AND y.metric = '%s' WHERE y.count = x.n"
			         " AND y.errors = x.e AND (x.su IS NULL AND"
			         " y.sum IS NULL OR abs(y.sum - x.su) <= 1e-9"
			         " * abs(x.su) + 1e-9) AND y.min IS x.mi AND"
			         " y.max IS x.ma",
			         raw, res[r], name);
			same = q_int(f, sql);
			if (groups == 0 || rows != groups || same != groups)
				fail_msg("resolution %d %s: %lld raw groups, "
				         "%lld rollup rows, %lld agree",
				         res[r], name, (long long)groups,
				         (long long)rows, (long long)same);
		}
	}
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The raw values of one bucket, sorted; returns how many (at most
 * max). */
static size_t
raw_values(struct fixture *f, const char *metric, int res, int64_t b,
           const char *app, const char *model, double *v, size_t max)
{
	char sql[512];
	sqlite3_stmt *st;
	size_t n = 0;

	snprintf(sql, sizeof(sql),
	         "SELECT %s FROM events WHERE ts_ms >= ?1 AND ts_ms < ?2 AND"
	         " application_id = ?3 AND coalesce(model, '') = ?4 AND %s"
	         " IS NOT NULL",
	         metric, metric);
	assert_int_equal(sqlite3_prepare_v2(f->rd, sql, -1, &st, NULL),
	                 SQLITE_OK);
	sqlite3_bind_int64(st, 1, b);
	sqlite3_bind_int64(st, 2, b + (int64_t)res * 1000);
	sqlite3_bind_text(st, 3, app, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, model, -1, SQLITE_STATIC);
	while (sqlite3_step(st) == SQLITE_ROW && n < max)
		v[n++] = sqlite3_column_double(st, 0);
	sqlite3_finalize(st);
	qsort(v, n, sizeof(double), cmp_double);
	return n;
}

/*
 * Every stored sketch answers p50/p90/p95/p99 (and its extremes) within
 * the relative error of the exact quantile of its raw values.  Returns
 * the number of sketches checked.
 */
static int
check_quantiles(struct fixture *f)
{
	static const double qs[] = {0, 0.5, 0.9, 0.95, 0.99, 1};
	static double v[20000];
	struct qsketch *s = malloc(qsketch_size(ROLLUP_SKETCH_BINS));
	sqlite3_stmt *st;
	int checked = 0;
	size_t n, k;

	assert_non_null(s);
	assert_int_equal(
	        sqlite3_prepare_v2(f->rd,
	                           "SELECT resolution, bucket_ms, "
	                           "application_id, model, metric, sketch, "
	                           "count FROM rollups WHERE metric <> "
	                           "'requests'",
	                           -1, &st, NULL),
	        SQLITE_OK);
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *app = (const char *)sqlite3_column_text(st, 2);
		const char *model = (const char *)sqlite3_column_text(st, 3);
		const char *metric = (const char *)sqlite3_column_text(st, 4);

		qsketch_init(s, ROLLUP_SKETCH_ERROR, ROLLUP_SKETCH_BINS);
		assert_int_equal(qsketch_merge_encoded(
		                         s, sqlite3_column_blob(st, 5),
		                         (size_t)sqlite3_column_bytes(st, 5)),
		                 0);
		n = raw_values(f, metric, sqlite3_column_int(st, 0),
		               sqlite3_column_int64(st, 1), app, model, v,
		               sizeof(v) / sizeof(v[0]));
		assert_int_equal(n, sqlite3_column_int64(st, 6));
		assert_int_equal(qsketch_count(s), n);
		for (k = 0; k < sizeof(qs) / sizeof(qs[0]); k++) {
			double want = v[(size_t)floor(qs[k] * (double)(n - 1))];
			double got = qsketch_quantile(s, qs[k]);

			if (!(fabs(got - want) <=
			      ROLLUP_SKETCH_ERROR * fabs(want) * (1 + 1e-9)))
				fail_msg(
				        "%s %s/%s at %lld (%d s) q=%g: got %.9g"
				        " want %.9g",
				        metric, app, model,
				        (long long)sqlite3_column_int64(st, 1),
				        sqlite3_column_int(st, 0), qs[k], got,
				        want);
		}
		checked++;
	}
	sqlite3_finalize(st);
	free(s);
	return checked;
}

/* Merging an hour's minute sketches (what a query over a range does)
 * answers exactly as the hour's own sketch. */
static void
check_minutes_merge_to_hour(struct fixture *f)
{
	static const char sql[] =
	        "SELECT count(*), sum(h.count = m.n AND h.sum - m.su BETWEEN"
	        " -1e-6 AND 1e-6 AND h.min = m.mi AND h.max = m.ma AND"
	        " sn_qsketch_quantile(h.sketch, 0.5) ="
	        " sn_qsketch_quantile(m.sk, 0.5) AND"
	        " sn_qsketch_quantile(h.sketch, 0.99) ="
	        " sn_qsketch_quantile(m.sk, 0.99)) FROM rollups h JOIN"
	        " (SELECT bucket_ms - bucket_ms % 3600000 AS hb, application_id"
	        " AS app, model AS mo, metric AS me, sum(count) AS n, sum(sum)"
	        " AS su, min(min) AS mi, max(max) AS ma, sn_qsketch_merge("
	        "sketch) AS sk FROM rollups WHERE resolution = 60 AND metric"
	        " <> 'requests' GROUP BY hb, app, mo, me) m ON h.resolution ="
	        " 3600 AND h.bucket_ms = m.hb AND h.application_id = m.app"
	        " AND h.model = m.mo AND h.metric = m.me";
	sqlite3_stmt *st;

	assert_int_equal(sqlite3_prepare_v2(f->rd, sql, -1, &st, NULL),
	                 SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_true(sqlite3_column_int(st, 0) > 0);
	assert_int_equal(sqlite3_column_int(st, 1), sqlite3_column_int(st, 0));
	sqlite3_finalize(st);
}

static void
test_rollups_equal_raw(void **state)
{
	struct fixture *f = *state;
	int n;

	open_store(f);
	rng_state = 1;
	/* 20000 events over 90 minutes (two hours), in random time order:
	 * most of them "late" for some bucket already written. */
	add_spread(f, 0, 20000, 90, 1);
	assert_int_equal(store_flush(f->s), 0);
	check_aggregates(f);
	n = check_quantiles(f);
	/* 2 apps x 3 models x 5 metrics x (90 minutes + 2 hours) */
	assert_int_equal(n, 2 * 3 * 5 * (90 + 2));
	check_minutes_merge_to_hour(f);
	assert_int_equal(q_int(f, "SELECT count(*) FROM rollups WHERE "
	                          "metric = 'requests' AND (sum IS NOT NULL OR"
	                          " sketch IS NOT NULL)"),
	                 0);
}

/* Events sent twice, in a later batch or the same one, count once. */
static void
test_duplicates_not_counted(void **state)
{
	struct fixture *f = *state;
	struct gen g;

	open_store(f);
	rng_state = 2;
	add_spread(f, 0, 3000, 10, 1);
	rng_state = 2; /* the same events again */
	add_spread(f, 0, 3000, 10, 0);
	/* and a duplicate inside one batch */
	rng_state = 3;
	gen_event(&g, 5000, BASE_MS + 1000);
	assert_int_equal(store_add_event(f->s, &g.ev), 1);
	assert_int_equal(store_add_event(f->s, &g.ev), 0);
	assert_true(store_commit(f->s) >= 0);
	assert_int_equal(store_flush(f->s), 0);
	assert_int_equal(q_int(f, "SELECT sum(count) FROM rollups WHERE "
	                          "metric = 'requests' AND resolution = 60"),
	                 3001);
	assert_int_equal(q_int(f, "SELECT sum(count) FROM rollups WHERE "
	                          "metric = 'requests' AND resolution = 3600"),
	                 3001);
	check_aggregates(f);
	check_quantiles(f);
}

/* A late event for a bucket long written (and dropped from memory)
 * updates it: the row is loaded and merged, not replaced. */
static void
test_late_event_updates_old_bucket(void **state)
{
	struct fixture *f = *state;
	struct rollup *r;
	struct gen g;
	uint64_t loads;

	open_store(f);
	r = store_rollup(f->s);
	rng_state = 4;
	add_spread(f, 0, 2000, 30, 1);
	assert_int_equal(store_flush(f->s), 0);
	/* Drop every cell at the next commit, as after a long idle time. */
	rollup_set_limits(r, 0, -1, ROLLUP_MAX_BYTES);
	gen_event(&g, 9000, BASE_MS + 40 * 60000);
	assert_int_equal(store_add_event(f->s, &g.ev), 1);
	assert_int_equal(store_flush(f->s), 0);
	assert_int_equal(rollup_get_stats(r)->cells, 0);
	assert_true(rollup_get_stats(r)->evicted > 0);

	/* Now a late one, in minute 3. */
	loads = rollup_get_stats(r)->loads;
	gen_event(&g, 9001, BASE_MS + 3 * 60000 + 500);
	assert_int_equal(store_add_event(f->s, &g.ev), 1);
	assert_int_equal(store_flush(f->s), 0);
	assert_int_equal(rollup_get_stats(r)->loads, loads + 2); /* 1m, 1h */
	assert_true(rollup_get_stats(r)->loaded_rows > 0);
	check_aggregates(f);
	check_quantiles(f);
}

/* Close and reopen, then more events in the same buckets: merged. */
static void
test_restart_merges(void **state)
{
	struct fixture *f = *state;

	open_store(f);
	rng_state = 5;
	add_spread(f, 0, 3000, 5, 1);
	reopen_store(f);
	add_spread(f, 3000, 6000, 5, 1);
	assert_int_equal(store_flush(f->s), 0);
	assert_int_equal(q_int(f, "SELECT sum(count) FROM rollups WHERE "
	                          "metric = 'requests' AND resolution = 60"),
	                 6000);
	check_aggregates(f);
	check_quantiles(f);
}

/* Events committed but their rollups never written (a crash between the
 * two): the next start rolls them up from the events above the
 * watermark, once. */
static void
test_crash_recovered_from_watermark(void **state)
{
	struct fixture *f = *state;
	struct rollup *r;

	open_store(f);
	r = store_rollup(f->s);
	rng_state = 6;
	add_spread(f, 0, 1000, 5, 1);
	assert_int_equal(store_flush(f->s), 0);
	assert_int_equal(q_int(f, "SELECT value FROM store_meta"), 1000);

	/* Rollups now written only once an hour: commits carry events. */
	rollup_set_limits(r, 3600000, ROLLUP_IDLE_MS, ROLLUP_MAX_BYTES);
	add_spread(f, 1000, 2500, 5, 1);
	assert_int_equal(q_int(f, "SELECT count(*) FROM events"), 2500);
	assert_int_equal(q_int(f, "SELECT value FROM store_meta"), 1000);
	assert_int_equal(q_int(f, "SELECT sum(count) FROM rollups WHERE "
	                          "metric = 'requests' AND resolution = 60"),
	                 1000);
	/* The crash: what memory held is gone. */
	rollup_discard(r);
	reopen_store(f);
	assert_int_equal(q_int(f, "SELECT value FROM store_meta"), 2500);
	check_aggregates(f);
	check_quantiles(f);

	/* And a start with nothing to recover changes nothing. */
	reopen_store(f);
	assert_int_equal(q_int(f, "SELECT sum(count) FROM rollups WHERE "
	                          "metric = 'requests' AND resolution = 3600"),
	                 2500);
}

/* The watermark of resolution res ("1m" or the common, hourly one). */
static int64_t
q_mark(struct fixture *f, int res)
{
	return q_int(f, res == 0 ? "SELECT value FROM store_meta WHERE key = "
	                           "'" ROLLUP_WATERMARK_1M_KEY "'"
	                         : "SELECT value FROM store_meta WHERE key = "
	                           "'" ROLLUP_WATERMARK_KEY "'");
}

/*
 * The hourly rows are written every ROLLUP_FLUSH_1H_FACTOR flush periods,
 * the minutes every period, each with its watermark; a crash between the
 * two rolls up again, into each resolution, only what its rows miss.
 */
static void
test_hours_written_less_often(void **state)
{
	struct fixture *f = *state;
	struct rollup *r;

	open_store(f);
	r = store_rollup(f->s);
	rng_state = 11;
	add_spread(f, 0, 1000, 5, 1);
	assert_int_equal(store_flush(f->s), 0);
	assert_int_equal(q_mark(f, 0), 1000);
	assert_int_equal(q_mark(f, 1), 1000);

	/* A second later the minutes are due, the hours (five seconds) not:
	 * the commit writes the minute rows and their mark alone. */
	rollup_set_limits(r, 1000, ROLLUP_IDLE_MS, ROLLUP_MAX_BYTES);
	usleep(1100 * 1000);
	add_spread(f, 1000, 1500, 5, 1);
	assert_int_equal(q_int(f, "SELECT sum(count) FROM rollups WHERE "
	                          "metric = 'requests' AND resolution = 60"),
	                 1500);
	assert_int_equal(q_int(f, "SELECT sum(count) FROM rollups WHERE "
	                          "metric = 'requests' AND resolution = 3600"),
	                 1000);
	assert_int_equal(q_mark(f, 0), 1500);
	assert_int_equal(q_mark(f, 1), 1000);
	assert_true(rollup_due(r, sn_mono_ms() + 5000));
	assert_false(rollup_due(r, sn_mono_ms()));

	/* The crash: the hours' rows miss 500 events, the minutes' none. */
	rollup_discard(r);
	reopen_store(f);
	assert_int_equal(q_mark(f, 0), 1500);
	assert_int_equal(q_mark(f, 1), 1500);
	assert_int_equal(q_int(f, "SELECT sum(count) FROM rollups WHERE "
	                          "metric = 'requests' AND resolution = 60"),
	                 1500);
	assert_int_equal(q_int(f, "SELECT sum(count) FROM rollups WHERE "
	                          "metric = 'requests' AND resolution = 3600"),
	                 1500);
	check_aggregates(f);
	check_quantiles(f);
	check_minutes_merge_to_hour(f);
}

/* A transaction that fails halfway is rolled back, and the buckets in
 * memory, which held its events and earlier commits not yet written,
 * are rebuilt from the committed events: nothing lost, nothing extra. */
static void
test_rollback_rebuilds(void **state)
{
	struct fixture *f = *state;
	struct gen g;

	open_store(f);
	rollup_set_limits(store_rollup(f->s), 3600000, ROLLUP_IDLE_MS,
	                  ROLLUP_MAX_BYTES);
	/* An event the database refuses, as a full disk would. */
	assert_int_equal(sqlite3_exec(store_db(f->s),
	                              "CREATE TRIGGER boom BEFORE INSERT ON "
	                              "events WHEN NEW.event_id = 'e-999999' "
	                              "BEGIN SELECT RAISE(ABORT, 'boom'); END",
	                              NULL, NULL, NULL),
	                 SQLITE_OK);
	rng_state = 8;
	add_spread(f, 0, 1500, 5, 1); /* committed, rollups not written */
	add_spread(f, 1500, 1800, 5, 1);
	rng_state = 9;
	add_spread(f, 2000, 2200, 5, 1);
	gen_event(&g, 2300, BASE_MS + 1000); /* pending, then lost */
	assert_int_equal(store_add_event(f->s, &g.ev), 1);
	gen_event(&g, 999999, BASE_MS + 2000);
	assert_int_equal(store_add_event(f->s, &g.ev), -1);
	assert_int_equal(store_get_stats(f->s)->rows_failed, 1);
	assert_int_equal(store_flush(f->s), 0);
	assert_int_equal(q_int(f, "SELECT count(*) FROM events"), 2000);
	assert_int_equal(q_int(f, "SELECT sum(count) FROM rollups WHERE "
	                          "metric = 'requests' AND resolution = 60"),
	                 2000);
	check_aggregates(f);
	check_quantiles(f);
}

/* Many groups with a small budget: memory stays bounded after each
 * write, and buckets dropped then touched again still merge right. */
static void
test_memory_bounded(void **state)
{
	struct fixture *f = *state;
	const struct rollup_stats *rs;
	struct rollup *r;
	struct gen g;
	char app[32];
	int n, round;

	open_store(f);
	r = store_rollup(f->s);
	rng_state = 7;
	/* 3000 groups, one event each: the memory of a cell. */
	for (n = 0; n < 3000; n++) {
		gen_event(&g, n, BASE_MS + 1000);
		g.ev.present = SN_EV_LATENCY_MS | SN_EV_TOTAL_TOKENS |
		               SN_EV_PROMPT_TOKENS | SN_EV_COMPLETION_TOKENS |
		               SN_EV_COST;
		snprintf(app, sizeof(app), "app-%d", n);
		g.ev.application_id = str(app);
		assert_int_equal(store_add_event(f->s, &g.ev), 1);
	}
	assert_int_equal(store_flush(f->s), 0);
	rs = rollup_get_stats(r);
	assert_int_equal(rs->cells, 6000);
	/* A cell with six metrics of one value each stays small (the
	 * sketches are encoded): well under 2 KB. */
	assert_true(rs->bytes / rs->cells < 2048);
	print_message("# rollup memory: %llu bytes for %llu cells\n",
	              (unsigned long long)rs->bytes,
	              (unsigned long long)rs->cells);

	/* Now a budget of 1 MB: after each write, at most that. */
	rollup_set_limits(r, 0, ROLLUP_IDLE_MS, 1024 * 1024);
	for (round = 0; round < 3; round++) {
		for (n = 0; n < 3000; n++) {
			gen_event(&g, 10000 * (round + 1) + n,
			          BASE_MS + 1000 + round);
			snprintf(app, sizeof(app), "app-%d", n);
			g.ev.application_id = str(app);
			assert_int_equal(store_add_event(f->s, &g.ev), 1);
			if (store_pending(f->s) >= 500)
				store_commit(f->s);
		}
		assert_int_equal(store_flush(f->s), 0);
		assert_true(rs->bytes <= 1024 * 1024);
	}
	assert_true(rs->evicted > 0);
	assert_int_equal(q_int(f, "SELECT sum(count) FROM rollups WHERE "
	                          "metric = 'requests' AND resolution = 60"),
	                 4 * 3000);
	check_aggregates(f);
}

/* The SQL functions readers use. */
static void
test_sql_functions(void **state)
{
	struct fixture *f = *state;
	sqlite3_stmt *st;

	open_store(f);
	/* NULLs are skipped; nothing at all gives NULL. */
	assert_true(isnan(q_double(f, "SELECT sn_qsketch(NULL)")));
	assert_true(isnan(q_double(f, "SELECT sn_qsketch_quantile(NULL, "
	                              "0.5)")));
	assert_int_equal(q_int(f, "SELECT sn_qsketch_count(sn_qsketch(x)) "
	                          "FROM (SELECT 1 AS x UNION ALL SELECT NULL "
	                          "UNION ALL SELECT 3)"),
	                 2);
	assert_true(q_double(f,
	                     "SELECT sn_qsketch_quantile(sn_qsketch(x), 1)"
	                     " FROM (SELECT 1 AS x UNION ALL SELECT 7)") == 7);
	assert_int_equal(
	        q_int(f, "SELECT sn_qsketch_count(sn_qsketch_merge(s)) FROM "
	                 "(SELECT sn_qsketch(5) AS s UNION ALL SELECT NULL "
	                 "UNION ALL SELECT sn_qsketch(6))"),
	        2);
	/* A damaged blob or a bad q is an error, not a wrong answer. */
	assert_int_equal(sqlite3_prepare_v2(f->rd,
	                                    "SELECT sn_qsketch_quantile("
	                                    "x'0102', 0.5)",
	                                    -1, &st, NULL),
	                 SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ERROR);
	sqlite3_finalize(st);
	assert_int_equal(sqlite3_prepare_v2(f->rd,
	                                    "SELECT sn_qsketch_quantile("
	                                    "sn_qsketch(1), 2)",
	                                    -1, &st, NULL),
	                 SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ERROR);
	sqlite3_finalize(st);
}

static void
test_names_and_buckets(void **state)
{
	int m;

	(void)state;
	for (m = 0; m < ROLLUP_NMETRICS; m++)
		assert_int_equal(rollup_metric_lookup(rollup_metric_name(m)),
		                 m);
	assert_int_equal(rollup_metric_lookup("status"), -1);
	assert_null(rollup_metric_name(ROLLUP_NMETRICS));
	assert_string_equal(rollup_metric_name(ROLLUP_REQUESTS), "requests");
	assert_int_equal(rollup_bucket_start(BASE_MS + 59999, 60), BASE_MS);
	assert_int_equal(rollup_bucket_start(BASE_MS + 60000, 60),
	                 BASE_MS + 60000);
	assert_int_equal(rollup_bucket_start(BASE_MS + 3599999, 3600), BASE_MS);
	/* Floor before 1970 too. */
	assert_int_equal(rollup_bucket_start(-1, 60), -60000);
	assert_int_equal(rollup_bucket_start(-60000, 60), -60000);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_rollups_equal_raw, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_duplicates_not_counted,
	                                        setup, teardown),
	        cmocka_unit_test_setup_teardown(
	                test_late_event_updates_old_bucket, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_restart_merges, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(
	                test_crash_recovered_from_watermark, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_hours_written_less_often,
	                                        setup, teardown),
	        cmocka_unit_test_setup_teardown(test_rollback_rebuilds, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_memory_bounded, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_sql_functions, setup,
	                                        teardown),
	        cmocka_unit_test(test_names_and_buckets),
	};

	log_init("test", LOG_LEVEL_ERROR, LOG_FORMAT_TEXT);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
