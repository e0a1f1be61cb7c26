/*
 * inhibit.c: the firing alerts and the inhibit rules (see inhibit.h).
 *
 * The firing alerts can be many (one per detector and group that fires
 * now: 10 000 with as many groups), so they are found by fingerprint
 * through a hash table, and each keeps only its fingerprint until an
 * inhibit rule needs its labels: they are read from its row then, once,
 * and kept.  inhibitor_muting, asked at group flushes for every grouped
 * alert when inhibit rules exist, then reads memory only.  Each change
 * is written through to sqlite.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "alertd.h"
#include "alertdb.h"
#include "index.h"
#include "inhibit.h"
#include "log.h"
#include "util.h"

struct active {
	char fingerprint[NOTIFY_ID_LEN + 1];
	int64_t rid;    /* its row's key */
	json_t *labels; /* read from the row when a rule first needs it */
	int64_t since_ms;
	size_t pos; /* in v */
};

struct inhibitor {
	sqlite3 *db;
	struct active **v;
	size_t n, cap;
	struct htab byfp; /* struct active by fingerprint */
	int64_t next_rid; /* the next new row's rid */
};

/*
 * Rows keyed by a number alertd gives (rid), not by fingerprint: an
 * index of fingerprints, random-looking text, had every new firing alert
 * dirty a page of it at a random place.  Fingerprints stay unique
 * through memory (byfp), where alertd finds them.  A file of the first
 * layout (fingerprint TEXT PRIMARY KEY) is brought over at open.
 */
#define INHIBIT_SCHEMA                               \
	"CREATE TABLE IF NOT EXISTS active_alerts (" \
	" rid INTEGER PRIMARY KEY,"                  \
	" fingerprint TEXT NOT NULL,"                \
	" labels TEXT NOT NULL,"                     \
	" since_ms INTEGER NOT NULL);"
static const char inhibit_schema[] = INHIBIT_SCHEMA;
static const char inhibit_migrate_sql[] =
        "ALTER TABLE active_alerts RENAME TO "
        "active_alerts_by_fp;" INHIBIT_SCHEMA
        "INSERT INTO active_alerts (rid, fingerprint, labels, since_ms)"
        " SELECT rowid, fingerprint, labels, since_ms FROM active_alerts_by_fp"
        " ORDER BY rowid;"
        "DROP TABLE active_alerts_by_fp;";

static const char *
inhibit_key(const void *rec)
{
	return ((const struct active *)rec)->fingerprint;
}

/* Adds a firing alert, whose row is rid. */
static void
inhibit_push(struct inhibitor *in, const char *fp, int64_t since, int64_t rid)
{
	struct active *a = sn_xcalloc(1, sizeof(*a));

	if (in->n == in->cap) {
		in->cap = in->cap ? in->cap * 2 : 16;
		if ((in->v = realloc(in->v, in->cap * sizeof(*in->v))) == NULL)
			fatalx("out of memory");
	}
	snprintf(a->fingerprint, sizeof(a->fingerprint), "%s", fp);
	a->since_ms = since;
	a->rid = rid;
	if (rid >= in->next_rid)
		in->next_rid = rid + 1;
	a->pos = in->n;
	in->v[in->n++] = a;
	htab_put(&in->byfp, a);
}

static void
inhibit_free_one(struct active *a)
{
	json_decref(a->labels);
	free(a);
}

/* The labels of a's row: a new reference, NULL when unreadable. */
static json_t *
inhibit_read_labels(sqlite3 *db, const struct active *a)
{
	sqlite3_stmt *st = adb_stmt(db, "active_alerts",
	                            "SELECT labels FROM active_alerts"
	                            " WHERE rid = ?");
	json_t *labels = NULL;

	if (st == NULL)
		return NULL;
	sqlite3_bind_int64(st, 1, a->rid);
	if (sqlite3_step(st) == SQLITE_ROW)
		labels = json_loadb((const char *)sqlite3_column_text(st, 0),
		                    (size_t)sqlite3_column_bytes(st, 0), 0,
		                    NULL);
	adb_finish(st);
	if (!json_is_object(labels)) {
		json_decref(labels);
		return NULL;
	}
	return labels;
}

/* The labels of a, read once; NULL when unreadable. */
static const json_t *
inhibit_labels(const struct inhibitor *in, struct active *a)
{
	if (a->labels == NULL)
		a->labels = inhibit_read_labels(in->db, a);
	return a->labels;
}

struct inhibitor *
inhibitor_open(sqlite3 *db)
{
	struct inhibitor *in = sn_xcalloc(1, sizeof(*in));
	sqlite3_stmt *st;
	const char *fp, *text;
	int rc;

	in->db = db;
	in->next_rid = 1;
	htab_init(&in->byfp, inhibit_key);
	if (adb_migrate_rid(db, "active_alerts", inhibit_migrate_sql) < 0 ||
	    adb_exec(db, "active_alerts", inhibit_schema) < 0 ||
	    (st = adb_prepare(db, "active_alerts",
	                      "SELECT fingerprint, labels, since_ms, rid FROM"
	                      " active_alerts ORDER BY rid")) == NULL) {
		inhibitor_free(in);
		return NULL;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		fp = (const char *)sqlite3_column_text(st, 0);
		text = (const char *)sqlite3_column_text(st, 1);
		if (fp == NULL || text == NULL || *text != '{' ||
		    htab_get(&in->byfp, fp) != NULL)
			continue;
		inhibit_push(in, fp, sqlite3_column_int64(st, 2),
		             sqlite3_column_int64(st, 3));
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		log_warnx("alerts.db active_alerts: %s", sqlite3_errmsg(db));
		inhibitor_free(in);
		return NULL;
	}
	return in;
}

void
inhibitor_free(struct inhibitor *in)
{
	size_t i;

	if (in == NULL)
		return;
	for (i = 0; i < in->n; i++)
		inhibit_free_one(in->v[i]);
	free(in->v);
	htab_free(&in->byfp);
	free(in);
}

int
inhibitor_observe(struct inhibitor *in, const struct notify_alert *al,
                  int64_t now_ms)
{
	struct active *a = htab_get(&in->byfp, al->fingerprint);
	sqlite3_stmt *st;
	char *text = NULL;
	int rc;

	if (al->resolved ? a == NULL : a != NULL)
		return 0; /* no change */
	st = adb_stmt(in->db, "active_alerts",
	              al->resolved ? "DELETE FROM active_alerts WHERE rid = ?"
	                           : "INSERT OR REPLACE INTO active_alerts"
	                             " (rid, fingerprint, labels, since_ms)"
	                             " VALUES (?, ?, ?, ?)");
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, al->resolved ? a->rid : in->next_rid);
	if (!al->resolved) {
		text = notify_dumps(al->labels);
		sqlite3_bind_text(st, 2, al->fingerprint, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, text, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 4, now_ms);
	}
	rc = adb_done(in->db, "active_alerts", st);
	free(text);
	if (rc < 0)
		return -1;
	if (al->resolved) {
		htab_del(&in->byfp, a->fingerprint);
		in->v[a->pos] = in->v[--in->n];
		in->v[a->pos]->pos = a->pos;
		inhibit_free_one(a);
	} else
		inhibit_push(in, al->fingerprint, now_ms, in->next_rid);
	return 0;
}

/* 1 when source and target have the same value for every equal label. */
static int
inhibit_equal(const struct sn_inhibit_rule *r, const json_t *src,
              const json_t *dst)
{
	size_t i;

	for (i = 0; i < r->nequal; i++)
		if (strcmp(alert_label(src, r->equal[i]),
		           alert_label(dst, r->equal[i])) != 0)
			return 0;
	return 1;
}

const struct sn_inhibit_rule *
inhibitor_muting(const struct inhibitor *in, const struct sn_alerts *al,
                 const json_t *labels, const char *fingerprint)
{
	const struct sn_inhibit_rule *r;
	size_t i, j;

	for (i = 0; i < al->ninhibit_rules; i++) {
		r = &al->inhibit_rules[i];
		if (!labels_match(labels, r->target_match, r->ntarget_match,
		                  r->target_match_re, r->ntarget_match_re))
			continue;
		for (j = 0; j < in->n; j++) {
			struct active *s = in->v[j];
			const json_t *sl;

			if (strcmp(s->fingerprint, fingerprint) == 0)
				continue; /* never itself */
			if ((sl = inhibit_labels(in, s)) == NULL)
				continue;
			if (labels_match(sl, r->source_match, r->nsource_match,
			                 r->source_match_re,
			                 r->nsource_match_re) &&
			    inhibit_equal(r, sl, labels))
				return r;
		}
	}
	return NULL;
}

size_t
inhibitor_count(const struct inhibitor *in)
{
	return in != NULL ? in->n : 0;
}

json_t *
inhibitor_json(const struct inhibitor *in)
{
	json_t *arr = json_array();
	size_t i;

	if (arr == NULL)
		fatalx("out of memory");
	for (i = 0; i < in->n; i++) {
		json_t *labels = inhibit_read_labels(in->db, in->v[i]);

		json_array_append_new(
		        arr,
		        json_pack("{s:s, s:o, s:I}", "fingerprint",
		                  in->v[i]->fingerprint, "labels",
		                  labels != NULL ? labels : json_object(),
		                  "since_ms", (json_int_t)in->v[i]->since_ms));
	}
	return arr;
}
