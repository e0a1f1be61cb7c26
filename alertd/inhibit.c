/*
 * inhibit.c: the firing alerts and the inhibit rules (see inhibit.h).
 *
 * The firing alerts are kept in an array (they are few: one per
 * detector and group that fires now) and written through to sqlite.
 * inhibitor_muting is asked at every flush for every grouped alert, so
 * it reads memory only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "alertd.h"
#include "alertdb.h"
#include "inhibit.h"
#include "log.h"
#include "util.h"

struct active {
	char fingerprint[NOTIFY_ID_LEN + 1];
	json_t *labels;
	int64_t since_ms;
};

struct inhibitor {
	sqlite3 *db;
	struct active *v;
	size_t n, cap;
};

static const char inhibit_schema[] =
        "CREATE TABLE IF NOT EXISTS active_alerts ("
        " fingerprint TEXT PRIMARY KEY,"
        " labels TEXT NOT NULL,"
        " since_ms INTEGER NOT NULL);";

static void
inhibit_push(struct inhibitor *in, const char *fp, json_t *labels,
             int64_t since)
{
	struct active *a;

	if (in->n == in->cap) {
		in->cap = in->cap ? in->cap * 2 : 16;
		if ((in->v = realloc(in->v, in->cap * sizeof(*in->v))) == NULL)
			fatalx("out of memory");
	}
	a = &in->v[in->n++];
	snprintf(a->fingerprint, sizeof(a->fingerprint), "%s", fp);
	a->labels = labels;
	a->since_ms = since;
}

struct inhibitor *
inhibitor_open(sqlite3 *db)
{
	struct inhibitor *in = sn_xcalloc(1, sizeof(*in));
	sqlite3_stmt *st;
	json_t *labels;
	int rc;

	in->db = db;
	if (adb_exec(db, "active_alerts", inhibit_schema) < 0 ||
	    (st = adb_prepare(db, "active_alerts",
	                      "SELECT fingerprint, labels, since_ms FROM"
	                      " active_alerts")) == NULL) {
		free(in);
		return NULL;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		labels = json_loadb((const char *)sqlite3_column_text(st, 1),
		                    (size_t)sqlite3_column_bytes(st, 1), 0,
		                    NULL);
		if (!json_is_object(labels)) {
			json_decref(labels);
			continue;
		}
		inhibit_push(in, (const char *)sqlite3_column_text(st, 0),
		             labels, sqlite3_column_int64(st, 2));
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
		json_decref(in->v[i].labels);
	free(in->v);
	free(in);
}

static ssize_t
inhibit_find(const struct inhibitor *in, const char *fp)
{
	size_t i;

	for (i = 0; i < in->n; i++)
		if (strcmp(in->v[i].fingerprint, fp) == 0)
			return (ssize_t)i;
	return -1;
}

int
inhibitor_observe(struct inhibitor *in, const struct notify_alert *al,
                  int64_t now_ms)
{
	ssize_t i = inhibit_find(in, al->fingerprint);
	sqlite3_stmt *st;
	char *labels;

	if (al->resolved ? i < 0 : i >= 0)
		return 0; /* no change */
	st = adb_prepare(in->db, "active_alerts",
	                 al->resolved ? "DELETE FROM active_alerts WHERE"
	                                " fingerprint = ?"
	                              : "INSERT OR REPLACE INTO active_alerts"
	                                " (fingerprint, labels, since_ms)"
	                                " VALUES (?, ?, ?)");
	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, al->fingerprint, -1, SQLITE_STATIC);
	if (!al->resolved) {
		if ((labels = json_dumps(al->labels, JSON_COMPACT)) == NULL)
			fatalx("out of memory");
		sqlite3_bind_text(st, 2, labels, -1, free);
		sqlite3_bind_int64(st, 3, now_ms);
	}
	if (adb_done(in->db, "active_alerts", st) < 0)
		return -1;
	if (al->resolved) {
		json_decref(in->v[i].labels);
		in->v[i] = in->v[--in->n];
	} else {
		json_t *copy = json_deep_copy(al->labels);

		if (copy == NULL)
			fatalx("out of memory");
		inhibit_push(in, al->fingerprint, copy, now_ms);
	}
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
			const struct active *s = &in->v[j];

			if (strcmp(s->fingerprint, fingerprint) == 0)
				continue; /* never itself */
			if (labels_match(s->labels, r->source_match,
			                 r->nsource_match, r->source_match_re,
			                 r->nsource_match_re) &&
			    inhibit_equal(r, s->labels, labels))
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
	for (i = 0; i < in->n; i++)
		json_array_append_new(
		        arr, json_pack("{s:s, s:O, s:I}", "fingerprint",
		                       in->v[i].fingerprint, "labels",
		                       in->v[i].labels, "since_ms",
		                       (json_int_t)in->v[i].since_ms));
	return arr;
}
