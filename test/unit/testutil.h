/*
 * testutil.h: small helpers the unit tests share.  Each test file is its
 * own program, so these are static inline rather than a library.
 */
#ifndef SN_TESTUTIL_H
#define SN_TESTUTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "config.h"
#include "event.h"

/* A string view of a C string. */
static inline struct sn_str
str(const char *s)
{
	struct sn_str v = {s, (uint32_t)strlen(s)};

	return v;
}

/*
 * Makes a fresh folder /tmp/sn-test-<name>-XXXXXX in dir (at least 64
 * bytes) and the path of its database file in db (at least 128 bytes).
 * Returns 0, or -1 when the folder cannot be made.
 */
static inline int
tu_db_dir(char *dir, char *db, const char *name)
{
	snprintf(dir, 64, "/tmp/sn-test-%s-XXXXXX", name);
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(db, 128, "%s/%s", dir, SN_DB_FILE);
	return 0;
}

/* Removes the database at db with its journal files, then folder dir. */
static inline void
tu_db_remove(const char *dir, const char *db)
{
	static const char *const suffix[] = {"", "-wal", "-shm", "-journal"};
	char p[160];
	size_t i;

	for (i = 0; i < 4; i++) {
		snprintf(p, sizeof(p), "%s%s", db, suffix[i]);
		unlink(p);
	}
	rmdir(dir);
}

/* The first column of sql's first row, an integer ("SELECT count(*)
 * ..."), read from the database at path by a connection of its own;
 * -1 when it cannot be read. */
static inline int64_t
tu_db_count(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int64_t n = -1;

	if (sqlite3_open(path, &db) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return n;
}

#endif
