/*
 * alertdb.c: the sqlite helpers of alertd's tables (see alertdb.h).
 *
 * Compiling a statement costs more than running the small ones alertd
 * runs for every alert, so adb_stmt keeps each compiled statement, per
 * handle and SQL text, in a small table for the life of the handle.
 */
#include <stddef.h>
#include <string.h>

#include "alertdb.h"
#include "log.h"

sqlite3_stmt *
adb_prepare(sqlite3 *db, const char *what, const char *sql)
{
	sqlite3_stmt *st = NULL;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		log_warnx("alerts.db: %s: %s", what, sqlite3_errmsg(db));
		return NULL;
	}
	return st;
}

/* The statements adb_stmt keeps: few, so a table walked in order. */
#define ADB_CACHE 48

static struct adb_cached {
	sqlite3 *db;
	const char *sql; /* the caller's literal: compared by address */
	sqlite3_stmt *st;
} adb_cache[ADB_CACHE];

sqlite3_stmt *
adb_stmt(sqlite3 *db, const char *what, const char *sql)
{
	struct adb_cached *free_slot = NULL;
	sqlite3_stmt *st = NULL;
	size_t i;

	for (i = 0; i < ADB_CACHE; i++) {
		if (adb_cache[i].db == db && adb_cache[i].sql == sql)
			return adb_cache[i].st;
		if (adb_cache[i].db == NULL && free_slot == NULL)
			free_slot = &adb_cache[i];
	}
	if (free_slot == NULL)
		return adb_prepare(db, what, sql); /* full: not kept */
	if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st,
	                       NULL) != SQLITE_OK) {
		log_warnx("alerts.db: %s: %s", what, sqlite3_errmsg(db));
		return NULL;
	}
	free_slot->db = db;
	free_slot->sql = sql;
	free_slot->st = st;
	return st;
}

void
adb_finish(sqlite3_stmt *st)
{
	size_t i;

	if (st == NULL)
		return;
	for (i = 0; i < ADB_CACHE; i++)
		if (adb_cache[i].st == st) {
			sqlite3_reset(st);
			sqlite3_clear_bindings(st);
			return;
		}
	sqlite3_finalize(st);
}

int
adb_close(sqlite3 *db)
{
	size_t i;

	for (i = 0; i < ADB_CACHE; i++)
		if (adb_cache[i].db == db) {
			sqlite3_finalize(adb_cache[i].st);
			adb_cache[i].db = NULL;
			adb_cache[i].sql = NULL;
			adb_cache[i].st = NULL;
		}
	return sqlite3_close(db);
}

int
adb_done(sqlite3 *db, const char *what, sqlite3_stmt *st)
{
	int rc;

	if (st == NULL)
		return -1;
	rc = sqlite3_step(st);
	adb_finish(st);
	if (rc != SQLITE_DONE) {
		log_warnx("alerts.db: %s: %s", what, sqlite3_errmsg(db));
		return -1;
	}
	return sqlite3_changes(db);
}

int
adb_exec(sqlite3 *db, const char *what, const char *sql)
{
	char *err = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
		log_warnx("alerts.db: %s: %s", what,
		          err != NULL ? err : sqlite3_errmsg(db));
		sqlite3_free(err);
		return -1;
	}
	return 0;
}

int
adb_run(sqlite3 *db, const char *what, const char *sql)
{
	return adb_done(db, what, adb_stmt(db, what, sql)) < 0 ? -1 : 0;
}

int
adb_migrate_rid(sqlite3 *db, const char *table, const char *sql)
{
	sqlite3_stmt *st;
	int has = 0, rid = 0;

	if ((st = adb_prepare(db, table,
	                      "SELECT name FROM pragma_table_info(?)")) == NULL)
		return -1;
	sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
	while (sqlite3_step(st) == SQLITE_ROW) {
		has = 1;
		if (strcmp((const char *)sqlite3_column_text(st, 0), "rid") ==
		    0)
			rid = 1;
	}
	sqlite3_finalize(st);
	if (!has || rid)
		return 0;
	if (adb_exec(db, table, "SAVEPOINT migrate_rid") < 0)
		return -1;
	if (adb_exec(db, table, sql) < 0) {
		sqlite3_exec(db, "ROLLBACK TO migrate_rid; RELEASE migrate_rid",
		             NULL, NULL, NULL);
		return -1;
	}
	if (adb_exec(db, table, "RELEASE migrate_rid") < 0)
		return -1;
	log_info("alerts.db: %s keyed by number now", table);
	return 0;
}
