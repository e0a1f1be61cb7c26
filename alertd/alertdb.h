/*
 * alertdb.h: what alertd's tables in <storage.path>/alerts.db share:
 * the outbox (outbox.h), the groups (group.h), the silences
 * (silence.h) and the firing alerts (inhibit.h) all live in one sqlite
 * database, on the outbox's handle, so that a group's flush and its
 * outbox row commit together.  Each error is logged as
 * "alerts.db: <what>: <sqlite's message>".
 */
#ifndef SN_ALERTDB_H
#define SN_ALERTDB_H

#include <sqlite3.h>

/* Prepares sql; NULL (logged) on error. */
sqlite3_stmt *adb_prepare(sqlite3 *db, const char *what, const char *sql);

/*
 * sql (a string literal: it is remembered by address) compiled once per
 * handle and kept: for the statements run for every alert.  Finish each
 * use with adb_done or adb_finish, never sqlite3_finalize; the handle
 * is closed with adb_close.  NULL (logged) on error.
 */
sqlite3_stmt *adb_stmt(sqlite3 *db, const char *what, const char *sql);

/* Done with st: reset when adb_stmt keeps it, else finalized. */
void adb_finish(sqlite3_stmt *st);

/* Finalizes the statements adb_stmt kept for db, then closes it. */
int adb_close(sqlite3 *db);

/*
 * Steps a statement that returns no rows, then finishes it (adb_finish) (also
 * when st is NULL, which counts as an error already logged).  The number of
 * rows changed, or -1 (logged).
 */
int adb_done(sqlite3 *db, const char *what, sqlite3_stmt *st);

/* Runs one or more statements without parameters.  0 or -1 (logged). */
int adb_exec(sqlite3 *db, const char *what, const char *sql);

/* Runs one statement without parameters or rows, kept compiled
 * (adb_stmt): BEGIN, SAVEPOINT, RELEASE, COMMIT, run for every loop
 * turn and unit, cost more to compile than to run.  0 or -1 (logged). */
int adb_run(sqlite3 *db, const char *what, const char *sql);

/*
 * Brings table from its first layout (keyed by a random-looking text id)
 * to rows keyed by a number alertd gives (a column rid): when table
 * exists without rid, runs sql (the renames, the new tables and the
 * copies) in one savepoint, undone whole on error.  0 (also when there
 * was nothing to do), or -1 (logged).
 */
int adb_migrate_rid(sqlite3 *db, const char *table, const char *sql);

#endif
