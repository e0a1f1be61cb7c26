/*
 * stmetrics.c: stored's storage gauges (see stmetrics.h).
 */
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "log.h"
#include "metrics.h"
#include "rollup.h"
#include "stmetrics.h"
#include "util.h"

/* What each table's count is, by retention policy (the label). */
static const char *const stm_count_sql[RETENTION_NPOLICIES] = {
        [RETENTION_EVENTS] = "SELECT count(*) FROM events",
        [RETENTION_ROLLUPS_1M] =
                "SELECT count(*) FROM rollups WHERE resolution = 60",
        [RETENTION_ROLLUPS_1H] =
                "SELECT count(*) FROM rollups WHERE resolution = 3600",
        [RETENTION_ANOMALIES] = "SELECT count(*) FROM anomalies",
        [RETENTION_NOTIFICATIONS] = "SELECT count(*) FROM notifications",
};

struct stm {
	struct store *store;
	struct retention *ret;
	struct sn_series *size;
	struct sn_series *rows[RETENTION_NPOLICIES]; /* NULL until counted */
	int64_t size_due_ms; /* next stat of the files */
	/* the snapshot: what it counted, and the totals at its start */
	int64_t counted[RETENTION_NPOLICIES];
	uint64_t ins0[RETENTION_NPOLICIES], del0[RETENTION_NPOLICIES];
	sqlite3 *rdb; /* the counting connection, closed here after join */
	pthread_t thread;
	int running; /* a thread to join */
	int failed;  /* the count failed (logged by the thread) */
	int64_t took_us;
	atomic_int done;
};

/* Rows inserted into and deleted from each table since stored started:
 * the writer's and retention's counters, on the loop's thread. */
static void
stm_totals(const struct stm *m, uint64_t *ins, uint64_t *del)
{
	const struct store_stats *ss = store_get_stats(m->store);
	const struct rollup_stats *rs =
	        rollup_get_stats(store_rollup(m->store));
	const struct retention_stats *rt = retention_get_stats(m->ret);
	int i;

	ins[RETENTION_EVENTS] = ss->events_inserted;
	ins[RETENTION_ROLLUPS_1M] = rs->rows_inserted[0]; /* 60 s */
	ins[RETENTION_ROLLUPS_1H] = rs->rows_inserted[1]; /* 3600 s */
	ins[RETENTION_ANOMALIES] = ss->anomalies_inserted;
	ins[RETENTION_NOTIFICATIONS] = 0; /* alertd keeps its own (outbox) */
	for (i = 0; i < RETENTION_NPOLICIES; i++)
		del[i] = rt->deleted[i];
}

/* The counting thread: every table in the snapshot begun by stm_start,
 * then the end of the read transaction. */
static void *
stm_count_main(void *arg)
{
	struct stm *m = arg;
	sqlite3_stmt *st;
	int64_t t0 = sn_mono_us();
	int i, rc;

	for (i = 0; i < RETENTION_NPOLICIES && !m->failed; i++) {
		rc = sqlite3_prepare_v2(m->rdb, stm_count_sql[i], -1, &st,
		                        NULL);
		if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW)
			m->counted[i] = sqlite3_column_int64(st, 0);
		else {
			log_warnx("counting %s for the metrics: %s",
			          retention_policy_name(i),
			          sqlite3_errmsg(m->rdb));
			m->failed = 1;
		}
		sqlite3_finalize(st);
	}
	sqlite3_exec(m->rdb, "COMMIT", NULL, NULL, NULL);
	m->took_us = sn_mono_us() - t0;
	atomic_store(&m->done, 1);
	return NULL;
}

/* Opens the snapshot and starts the thread.  0 or -1 (logged). */
static int
stm_count_start(struct stm *m)
{
	const char *path = store_path(m->store);
	sigset_t all, old;
	int rv;

	if (sqlite3_open_v2(path, &m->rdb,
	                    SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX,
	                    NULL) != SQLITE_OK)
		goto fail;
	/* The snapshot starts at the first read, here, between two of the
	 * writer's transactions: the totals noted below match it. */
	if (sqlite3_exec(m->rdb, "BEGIN; SELECT count(*) FROM sqlite_master",
	                 NULL, NULL, NULL) != SQLITE_OK)
		goto fail;
	stm_totals(m, m->ins0, m->del0);
	/* Signals stay with the loop's thread. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rv = pthread_create(&m->thread, NULL, stm_count_main, m);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rv != 0) {
		log_warnx("counting rows for the metrics: pthread_create: %s",
		          strerror(rv));
		return -1;
	}
	m->running = 1;
	return 0;
fail:
	log_warnx("%s: counting rows for the metrics: %s", path,
	          m->rdb != NULL ? sqlite3_errmsg(m->rdb) : "out of memory");
	return -1;
}

struct stm *
stm_start(struct store *s, struct retention *r)
{
	struct stm *m = sn_xcalloc(1, sizeof(*m));

	m->store = s;
	m->ret = r;
	atomic_init(&m->done, 0);
	m->size = metrics_series(M_STORAGE_SIZE_BYTES);
	store_commit(s); /* no write transaction across the snapshot */
	if (stm_count_start(m) < 0) {
		sqlite3_close(m->rdb);
		m->rdb = NULL;
	}
	return m;
}

/* Size of path + suffix, 0 when it does not exist. */
static int64_t
stm_file_size(const char *path, const char *suffix)
{
	char buf[4096];
	struct stat sb;

	snprintf(buf, sizeof(buf), "%s%s", path, suffix);
	return stat(buf, &sb) == 0 ? (int64_t)sb.st_size : 0;
}

/* Joins a finished count and creates the row series when it worked. */
static void
stm_count_finish(struct stm *m)
{
	int i;

	pthread_join(m->thread, NULL);
	m->running = 0;
	sqlite3_close(m->rdb);
	m->rdb = NULL;
	if (m->failed)
		return;
	for (i = 0; i < RETENTION_NPOLICIES; i++)
		m->rows[i] = metrics_series(M_STORAGE_ROWS,
		                            retention_policy_name(i));
	log_info("counted rows for the metrics in %" PRId64
	         " ms: events %" PRId64 ", anomalies %" PRId64
	         ", rollups %" PRId64 " + %" PRId64 ", notifications %" PRId64,
	         m->took_us / 1000, m->counted[RETENTION_EVENTS],
	         m->counted[RETENTION_ANOMALIES],
	         m->counted[RETENTION_ROLLUPS_1M],
	         m->counted[RETENTION_ROLLUPS_1H],
	         m->counted[RETENTION_NOTIFICATIONS]);
}

void
stm_tick(struct stm *m, int64_t now_ms)
{
	uint64_t ins[RETENTION_NPOLICIES], del[RETENTION_NPOLICIES];
	const char *path;
	int i;

	if (m == NULL)
		return;
	if (now_ms >= m->size_due_ms) {
		path = store_path(m->store);
		metrics_set(m->size, (double)(stm_file_size(path, "") +
		                              stm_file_size(path, "-wal")));
		m->size_due_ms = now_ms + STM_SIZE_MS;
	}
	if (m->running && atomic_load(&m->done))
		stm_count_finish(m);
	if (m->rows[0] == NULL)
		return;
	stm_totals(m, ins, del);
	for (i = 0; i < RETENTION_NPOLICIES; i++)
		metrics_set(m->rows[i],
		            (double)(m->counted[i] +
		                     (int64_t)(ins[i] - m->ins0[i]) -
		                     (int64_t)(del[i] - m->del0[i])));
}

int
stm_counted(const struct stm *m)
{
	return m != NULL && m->rows[0] != NULL;
}

void
stm_free(struct stm *m)
{
	if (m == NULL)
		return;
	if (m->running) {
		sqlite3_interrupt(m->rdb); /* a long count gives up */
		pthread_join(m->thread, NULL);
	}
	sqlite3_close(m->rdb);
	free(m);
}
