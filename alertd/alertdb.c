/*
 * alertdb.c: the sqlite helpers of alertd's tables (see alertdb.h).
 */
#include <stddef.h>

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

int
adb_done(sqlite3 *db, const char *what, sqlite3_stmt *st)
{
	int rc;

	if (st == NULL)
		return -1;
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
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
