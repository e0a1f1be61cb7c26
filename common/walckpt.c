/*
 * walckpt.c: WAL checkpoints on a thread of their own (see walckpt.h).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "log.h"
#include "util.h"
#include "walckpt.h"

#ifndef SQLITE_DEFAULT_WAL_AUTOCHECKPOINT
#define SQLITE_DEFAULT_WAL_AUTOCHECKPOINT 1000
#endif

struct sn_walckpt {
	sqlite3 *db; /* the loop's connection */
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct sn_walckpt_limits lim;
	int started;        /* the thread runs */
	int failed;         /* it could not start: the loop checkpoints */
	int stop;           /* asks it to end */
	int wanted;         /* asks it for a checkpoint */
	int busy;           /* copying */
	int dead;           /* its connection failed: the loop checkpoints */
	int page;           /* the database's page size */
	int copied;         /* WAL frames in the database after its last copy */
	int logged;         /* the WAL's frames then: copied is stale when the
	                       WAL is shorter (it started over) */
	unsigned long done; /* checkpoints the thread finished */
	char *path;
	char *label;
	char *sync_sql; /* "PRAGMA synchronous=..." */
};

/* The page size of db's main database (4096 if it cannot be read). */
static int
walckpt_page_size(sqlite3 *db)
{
	sqlite3_stmt *st = NULL;
	int page = 0;

	if (sqlite3_prepare_v2(db, "PRAGMA page_size", -1, &st, NULL) ==
	            SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		page = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return page >= 512 ? page : 4096;
}

/* The thread: a PASSIVE checkpoint each time it is asked. */
static void *
walckpt_main(void *arg)
{
	struct sn_walckpt *ck = arg;
	sqlite3 *db = NULL;
	int nlog = 0, ncopied = 0, rc;

	if (sqlite3_open_v2(ck->path, &db,
	                    SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
	                    NULL) != SQLITE_OK ||
	    sqlite3_exec(db, ck->sync_sql, NULL, NULL, NULL) != SQLITE_OK) {
		log_warnx("%s: checkpoint thread: %s; checkpoints run in the "
		          "commits",
		          ck->label, db ? sqlite3_errmsg(db) : "out of memory");
		sqlite3_close(db);
		pthread_mutex_lock(&ck->mu);
		ck->dead = 1;
		pthread_mutex_unlock(&ck->mu);
		return NULL;
	}
	pthread_mutex_lock(&ck->mu);
	for (;;) {
		while (!ck->stop && !ck->wanted)
			pthread_cond_wait(&ck->cv, &ck->mu);
		if (ck->stop)
			break;
		ck->wanted = 0;
		ck->busy = 1;
		pthread_mutex_unlock(&ck->mu);
		rc = sqlite3_wal_checkpoint_v2(
		        db, NULL, SQLITE_CHECKPOINT_PASSIVE, &nlog, &ncopied);
		pthread_mutex_lock(&ck->mu);
		ck->busy = 0;
		ck->copied = rc == SQLITE_OK ? ncopied : 0;
		ck->logged = rc == SQLITE_OK ? nlog : 0;
		ck->done++;
	}
	pthread_mutex_unlock(&ck->mu);
	sqlite3_close(db);
	return NULL;
}

/* Starts the thread.  0, or -1 (logged): none. */
static int
walckpt_start(struct sn_walckpt *ck)
{
	if (pthread_mutex_init(&ck->mu, NULL) != 0)
		return -1;
	if (pthread_cond_init(&ck->cv, NULL) != 0) {
		pthread_mutex_destroy(&ck->mu);
		return -1;
	}
	if (pthread_create(&ck->th, NULL, walckpt_main, ck) != 0) {
		log_warnx("%s: no checkpoint thread; checkpoints run in the "
		          "commits",
		          ck->label);
		pthread_cond_destroy(&ck->cv);
		pthread_mutex_destroy(&ck->mu);
		return -1;
	}
	ck->started = 1;
	return 0;
}

/*
 * sqlite3_wal_hook: a commit left pages in the WAL.  Wakes the thread,
 * or copies the tail it left (see walckpt.h).  Runs on the loop, inside
 * the commit.
 */
static int
walckpt_hook(void *arg, sqlite3 *db, const char *name, int pages)
{
	struct sn_walckpt *ck = arg;
	int here = 0;

	if ((size_t)pages < ck->lim.start_bytes / (size_t)ck->page)
		return SQLITE_OK;
	if (!ck->started && !ck->failed && walckpt_start(ck) < 0)
		ck->failed = 1;
	if (ck->failed)
		here = 1;
	else {
		pthread_mutex_lock(&ck->mu);
		if (ck->dead ||
		    (size_t)pages >= ck->lim.max_bytes / (size_t)ck->page)
			here = 1;
		else if (!ck->busy && !ck->wanted && ck->copied > 0 &&
		         pages >= ck->logged &&
		         (size_t)(pages - ck->copied) <=
		                 ck->lim.tail_bytes / (size_t)ck->page)
			here = 1; /* the tail: then the WAL starts over */
		else if (!ck->busy && !ck->wanted) {
			ck->wanted = 1;
			pthread_cond_signal(&ck->cv);
		}
		if (here)
			ck->copied = 0;
		pthread_mutex_unlock(&ck->mu);
	}
	if (here)
		sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE,
		                          NULL, NULL);
	return SQLITE_OK;
}

struct sn_walckpt *
sn_walckpt_attach(sqlite3 *db, const char *label, const char *sync,
                  struct sn_walckpt_limits lim)
{
	struct sn_walckpt *ck;
	const char *path = sqlite3_db_filename(db, "main");
	char sql[64];
	size_t n;

	if (path == NULL || path[0] == '\0')
		return NULL; /* in memory: no WAL */
	ck = sn_xcalloc(1, sizeof(*ck));
	ck->db = db;
	ck->lim = lim;
	ck->path = sn_xstrdup(path);
	ck->label = sn_xstrdup(label);
	n = strlen("PRAGMA synchronous=") + strlen(sync) + 1;
	ck->sync_sql = sn_xmalloc(n);
	snprintf(ck->sync_sql, n, "PRAGMA synchronous=%s", sync);
	ck->page = walckpt_page_size(db);
	/* a WAL that grew past max_bytes is cut back when it starts over */
	snprintf(sql, sizeof(sql), "PRAGMA journal_size_limit=%zu",
	         lim.max_bytes);
	sqlite3_exec(db, sql, NULL, NULL, NULL);
	sqlite3_wal_hook(db, walckpt_hook, ck);
	return ck;
}

void
sn_walckpt_detach(struct sn_walckpt *ck)
{
	if (ck == NULL)
		return;
	if (ck->started) {
		pthread_mutex_lock(&ck->mu);
		ck->stop = 1;
		pthread_cond_signal(&ck->cv);
		pthread_mutex_unlock(&ck->mu);
		pthread_join(ck->th, NULL);
		pthread_cond_destroy(&ck->cv);
		pthread_mutex_destroy(&ck->mu);
	}
	/* sqlite's automatic checkpoint again, at its default */
	sqlite3_wal_autocheckpoint(ck->db, SQLITE_DEFAULT_WAL_AUTOCHECKPOINT);
	free(ck->path);
	free(ck->label);
	free(ck->sync_sql);
	free(ck);
}

unsigned long
sn_walckpt_count(struct sn_walckpt *ck)
{
	unsigned long n;

	if (ck == NULL || !ck->started)
		return 0;
	pthread_mutex_lock(&ck->mu);
	n = ck->done;
	pthread_mutex_unlock(&ck->mu);
	return n;
}

void
sn_sqlite_config(void)
{
	(void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}
