/*
 * retention.c: incremental deletion of what the retention policies no
 * longer keep (see retention.h).
 *
 * Why in small steps on the writer's connection: sqlite has one writer
 * at a time, so a delete of a day of events in one statement would hold
 * the write lock, and stored's loop, for seconds while events queue up.
 * A step of RETENTION_BATCH_ROWS rows takes a few milliseconds; between
 * steps the loop receives and commits events as usual.
 *
 * Each delete finds its rows through an index that leads with time
 * (events_ts_event_id, the rollups' primary key, anomalies_ts,
 * notifications_ts), oldest first, so a step reads only the rows it
 * deletes.  Rollup buckets go once they have entirely ended before the
 * cutoff.  Events the rollups do not count yet (at or above the
 * watermark) stay: rollup_recover may need them after a crash, and the
 * newest row keeps sqlite's next rowid above the watermark.
 */
#include <inttypes.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "metrics.h"
#include "retention.h"
#include "rollup.h"
#include "util.h"

static const char *const retention_names[RETENTION_NPOLICIES] = {
        "events", "rollups_1m", "rollups_1h", "anomalies", "notifications",
};

/* ?1 cutoff, ?2 rows; the rollups' ?1 is the first bucket start kept. */
static const char *const retention_sql[RETENTION_NPOLICIES] = {
        "DELETE FROM events WHERE id IN (SELECT id FROM events"
        " WHERE ts_ms < ?1 AND id < (SELECT coalesce(max(value), 0) FROM"
        " store_meta WHERE key = '" ROLLUP_WATERMARK_KEY "')"
        " ORDER BY ts_ms LIMIT ?2)",

        "DELETE FROM rollups WHERE (resolution, bucket_ms, application_id,"
        " model, metric) IN (SELECT resolution, bucket_ms, application_id,"
        " model, metric FROM rollups WHERE resolution = 60"
        " AND bucket_ms < ?1 ORDER BY bucket_ms LIMIT ?2)",

        "DELETE FROM rollups WHERE (resolution, bucket_ms, application_id,"
        " model, metric) IN (SELECT resolution, bucket_ms, application_id,"
        " model, metric FROM rollups WHERE resolution = 3600"
        " AND bucket_ms < ?1 ORDER BY bucket_ms LIMIT ?2)",

        "DELETE FROM anomalies WHERE id IN (SELECT id FROM anomalies"
        " WHERE ts_ms < ?1 ORDER BY ts_ms LIMIT ?2)",

        "DELETE FROM notifications WHERE id IN (SELECT id FROM"
        " notifications WHERE ts_ms < ?1 ORDER BY ts_ms LIMIT ?2)",
};

/* The time a policy's row covers, [start, start + width): it is deleted
 * once all of it is before the cutoff.  1 ms for rows that are
 * instants (so ts_ms < cutoff), a bucket's width for rollups. */
static const int64_t retention_width_ms[RETENTION_NPOLICIES] = {
        1, 60 * 1000, 3600 * 1000, 1, 1,
};

static const char retention_sql_record[] =
        "INSERT INTO retention_runs (policy, last_run_ms, deleted_last,"
        " deleted_total, cutoff_ms) VALUES (?1, ?2, ?3, ?3, ?4)"
        " ON CONFLICT (policy) DO UPDATE SET"
        " last_run_ms = excluded.last_run_ms,"
        " deleted_last = excluded.deleted_last,"
        " deleted_total = coalesce(retention_runs.deleted_total, 0)"
        " + excluded.deleted_last,"
        " cutoff_ms = excluded.cutoff_ms";

struct retention {
	struct store *store;
	sqlite3 *db;
	sqlite3_stmt *del[RETENTION_NPOLICIES];
	sqlite3_stmt *record;
	int64_t keep_ms[RETENTION_NPOLICIES]; /* <= 0: forever */
	int batch;
	/* the pass running, if any */
	int running;
	int cur;         /* policy being deleted */
	int64_t now_ms;  /* when the pass started */
	int64_t deleted; /* rows of the current policy in this pass */
	struct retention_stats stats;
	/* per policy: sentinel_retention_runs_total, _deleted, last run;
	 * last_run is NULL until the policy has run (here or in an
	 * earlier run of stored: retention_runs) */
	struct sn_series *m_runs[RETENTION_NPOLICIES];
	struct sn_series *m_deleted[RETENTION_NPOLICIES];
	struct sn_series *m_last_run[RETENTION_NPOLICIES];
};

const char *
retention_policy_name(int policy)
{
	if (policy < 0 || policy >= RETENTION_NPOLICIES)
		return NULL;
	return retention_names[policy];
}

/* The gauge of policy's last run, set to at_ms (ms since the epoch). */
static void
retention_set_last_run(struct retention *r, int policy, int64_t at_ms)
{
	if (r->m_last_run[policy] == NULL)
		r->m_last_run[policy] = metrics_series(M_RETENTION_LAST_RUN,
		                                       retention_names[policy]);
	metrics_set(r->m_last_run[policy], (double)at_ms / 1000.0);
}

/* The metrics series of every policy; the last runs recorded in
 * retention_runs by earlier runs of stored. */
static void
retention_metrics_init(struct retention *r)
{
	sqlite3_stmt *st;
	const char *name;
	int i;

	for (i = 0; i < RETENTION_NPOLICIES; i++) {
		r->m_runs[i] =
		        metrics_series(M_RETENTION_RUNS, retention_names[i]);
		r->m_deleted[i] =
		        metrics_series(M_RETENTION_DELETED, retention_names[i]);
	}
	if (sqlite3_prepare_v2(r->db,
	                       "SELECT policy, last_run_ms FROM retention_runs"
	                       " WHERE last_run_ms IS NOT NULL",
	                       -1, &st, NULL) != SQLITE_OK)
		return; /* a table of a newer schema: its runs show later */
	while (sqlite3_step(st) == SQLITE_ROW) {
		name = (const char *)sqlite3_column_text(st, 0);
		for (i = 0; name != NULL && i < RETENTION_NPOLICIES; i++)
			if (strcmp(name, retention_names[i]) == 0)
				retention_set_last_run(
				        r, i, sqlite3_column_int64(st, 1));
	}
	sqlite3_finalize(st);
}

struct retention *
retention_new(struct store *s)
{
	struct retention *r = sn_xcalloc(1, sizeof(*r));
	int i;

	r->store = s;
	r->db = store_db(s);
	r->batch = RETENTION_BATCH_ROWS;
	for (i = 0; i < RETENTION_NPOLICIES; i++)
		if (sqlite3_prepare_v3(r->db, retention_sql[i], -1,
		                       SQLITE_PREPARE_PERSISTENT, &r->del[i],
		                       NULL) != SQLITE_OK)
			goto fail;
	if (sqlite3_prepare_v3(r->db, retention_sql_record, -1,
	                       SQLITE_PREPARE_PERSISTENT, &r->record,
	                       NULL) != SQLITE_OK)
		goto fail;
	retention_metrics_init(r);
	return r;
fail:
	log_warnx("%s: preparing retention statements: %s", store_path(s),
	          sqlite3_errmsg(r->db));
	retention_free(r);
	return NULL;
}

void
retention_free(struct retention *r)
{
	int i;

	if (r == NULL)
		return;
	for (i = 0; i < RETENTION_NPOLICIES; i++)
		sqlite3_finalize(r->del[i]);
	sqlite3_finalize(r->record);
	free(r);
}

void
retention_configure(struct retention *r, const struct sn_config *cfg)
{
	r->keep_ms[RETENTION_EVENTS] = cfg->storage.retention_raw_ms;
	r->keep_ms[RETENTION_ROLLUPS_1M] = cfg->storage.retention_rollups_1m_ms;
	r->keep_ms[RETENTION_ROLLUPS_1H] = cfg->storage.retention_aggregated_ms;
	r->keep_ms[RETENTION_ANOMALIES] = cfg->storage.retention_anomalies_ms;
	r->keep_ms[RETENTION_NOTIFICATIONS] =
	        cfg->storage.retention_notifications_ms;
}

void
retention_set_keep(struct retention *r, int policy, int64_t keep_ms)
{
	if (policy >= 0 && policy < RETENTION_NPOLICIES)
		r->keep_ms[policy] = keep_ms;
}

void
retention_set_batch(struct retention *r, int rows)
{
	r->batch = rows > 0 ? rows : RETENTION_BATCH_ROWS;
}

/* Skips the policies that keep forever, from cur on. */
static void
retention_skip_forever(struct retention *r)
{
	while (r->cur < RETENTION_NPOLICIES && r->keep_ms[r->cur] <= 0)
		r->cur++;
	if (r->cur == RETENTION_NPOLICIES) {
		r->running = 0;
		r->stats.passes++;
	}
}

int
retention_start(struct retention *r, int64_t now_ms)
{
	if (r->running)
		return 0;
	r->running = 1;
	r->cur = 0;
	r->now_ms = now_ms;
	r->deleted = 0;
	retention_skip_forever(r);
	return 1;
}

int
retention_running(const struct retention *r)
{
	return r->running;
}

/* The cutoff of the current policy: rows before it go. */
static int64_t
retention_cutoff(const struct retention *r)
{
	return r->now_ms - r->keep_ms[r->cur];
}

/* Records the finished policy in retention_runs (inside the step's
 * transaction).  0 or -1. */
static int
retention_record(struct retention *r)
{
	sqlite3_stmt *st = r->record;
	int rc;

	sqlite3_bind_text(st, 1, retention_names[r->cur], -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, r->now_ms);
	sqlite3_bind_int64(st, 3, r->deleted);
	sqlite3_bind_int64(st, 4, retention_cutoff(r));
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* Runs sql without results.  0 or -1. */
static int
retention_exec(struct retention *r, const char *sql)
{
	return sqlite3_exec(r->db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

int
retention_step(struct retention *r)
{
	sqlite3_stmt *st;
	int64_t t0 = sn_mono_us(), us, bound;
	int rc, n, done;

	if (!r->running)
		return 0;
	/* The writer's batch first: our transaction is a separate one. */
	if (store_commit(r->store) < 0)
		goto fail_nolog;
	if (retention_exec(r, "BEGIN IMMEDIATE") < 0)
		goto fail;
	st = r->del[r->cur];
	/* start + width - 1 < cutoff */
	bound = retention_cutoff(r) - retention_width_ms[r->cur] + 1;
	sqlite3_bind_int64(st, 1, bound);
	sqlite3_bind_int(st, 2, r->batch);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		goto fail_rollback;
	n = sqlite3_changes(r->db);
	r->deleted += n;
	done = n < r->batch;
	if (done && retention_record(r) < 0)
		goto fail_rollback;
	if (retention_exec(r, "COMMIT") < 0)
		goto fail_rollback;

	r->stats.steps++;
	r->stats.deleted[r->cur] += (uint64_t)n;
	metrics_add(r->m_deleted[r->cur], (uint64_t)n);
	if (n > 0 && r->cur == RETENTION_ROLLUPS_1M)
		rollup_purged(store_rollup(r->store), 0, bound);
	else if (n > 0 && r->cur == RETENTION_ROLLUPS_1H)
		rollup_purged(store_rollup(r->store), 1, bound);
	us = sn_mono_us() - t0;
	if (us > r->stats.max_step_us)
		r->stats.max_step_us = us;
	if (done) {
		metrics_add(r->m_runs[r->cur], 1);
		retention_set_last_run(r, r->cur, r->now_ms);
		if (r->deleted > 0)
			log_debug("retention: deleted %" PRId64 " %s older "
			          "than %" PRId64 " ms",
			          r->deleted, retention_names[r->cur],
			          r->keep_ms[r->cur]);
		r->cur++;
		r->deleted = 0;
		retention_skip_forever(r);
	}
	return r->running;

fail_rollback:
	log_warnx("%s: retention of %s: %s", store_path(r->store),
	          retention_names[r->cur], sqlite3_errmsg(r->db));
	if (!sqlite3_get_autocommit(r->db))
		sqlite3_exec(r->db, "ROLLBACK", NULL, NULL, NULL);
	goto fail_nolog;
fail:
	log_warnx("%s: retention of %s: %s", store_path(r->store),
	          retention_names[r->cur], sqlite3_errmsg(r->db));
fail_nolog:
	r->stats.errors++;
	r->running = 0;
	return -1;
}

const struct retention_stats *
retention_get_stats(const struct retention *r)
{
	return &r->stats;
}
