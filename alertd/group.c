/*
 * group.c: aggregation groups (see group.h).
 *
 * There can be many groups (with group_by ['...'] every alert is its
 * own), so they are found through a hash table of their ids and looked
 * at in the order of a heap of their due times: one timer, for the
 * earliest.  A group keeps little in memory: of each alert its
 * fingerprint, state and start (the whole alert, the JSON text of its
 * group_alerts row, is read from that row when the group is looked at,
 * or kept from its add to the next look), the fingerprints it announced
 * as fixed strings, its labels as text.
 *
 * A look that changes nothing is not repeated while nothing can change
 * its outcome: the group is parked until the tick at which
 * repeat_interval falls due (or for good when nothing fires), and woken
 * to its next group_interval tick by a new alert in it or by
 * groups_changed (silences, inhibitions, a reload).  So 10 000 quiet
 * groups cost no CPU, and each tick still comes when Alertmanager's
 * would.
 *
 * Each change is written to sqlite before memory follows it, in the
 * caller's unit (groups_begin/end: a savepoint of the loop's
 * transaction, outbox.h), so memory never runs ahead of a unit that
 * failed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include <sqlite3.h>

#include "alertdb.h"
#include "group.h"
#include "index.h"
#include "log.h"
#include "outbox.h"
#include "util.h"

/* Groups looked at per groups_flush call at most. */
#define GROUP_FLUSH_MAX 256

/* A fingerprint, as a fixed string. */
typedef char group_fp[NOTIFY_ID_LEN + 1];

/* A sorted set of fingerprints. */
struct fpset {
	group_fp *v;
	uint32_t n;
};

/* An alert of a group. */
struct galert {
	group_fp fp;
	unsigned char resolved;
	unsigned char muted; /* at the last look */
	int64_t starts_ms;
	/* the alert, whose notify_alert_json document the group_alerts
	 * row holds as text; kept from an add to the next look only, else
	 * read from the row when needed */
	struct notify_alert *al;
	char *text; /* the row's text, kept with al, or NULL */
};

struct group {
	/* "receiver" US (0x1f) "group key" NUL "receiver" NUL: the row's
	 * id, then the receiver's name on its own */
	char *id;
	int64_t rid;     /* the row's key (groups.rid), numbered by alertd */
	const char *key; /* in id: the group key, Alertmanager's form */
	const char *receiver; /* in id */
	char *labels;         /* the group_by labels and values: JSON text */
	json_t *gl;           /* labels parsed, kept from an add to the next
	                         look only (as the alerts' al), or NULL */
	int64_t interval_ms, repeat_ms;
	int64_t tick_ms;          /* the last look, or the schedule's anchor */
	int64_t last_sent_ms;     /* 0: nothing sent yet */
	struct dheap_item due;    /* next look; out of the heap while parked
	                             for good */
	struct fpset last_firing; /* announced firing */
	struct fpset last_resolved;
	uint64_t seq; /* flushes that queued a notification */
	struct galert *alerts;
	uint32_t nalerts;
	unsigned char parked; /* looked at; waits for a change or a repeat */
	uint32_t unsaved;     /* 1 + its index in groups.unsaved: its row is
	                         not written yet (groups_add), or 0 */
};

struct groups {
	sqlite3 *db;
	struct outbox *ob;
	group_mute_fn mute;
	void *mute_arg;
	struct htab byid; /* struct group by id */
	int64_t next_rid; /* the next new group's rid */
	struct dheap due; /* by next look */
	/* groups whose row waits for their first look or the commit
	 * (groups_precommit), whichever comes first */
	struct group **unsaved;
	uint32_t nunsaved, capunsaved;
};

/*
 * Rows are keyed by numbers alertd gives (rid, in creation order), not by
 * the groups' ids: those are random-looking text, and an index on them
 * had every new group dirty a page of it at a random place (with a group
 * per alert, most of what a commit wrote).  The ids stay unique through
 * memory, where alertd finds groups by id (byid); the rows need no index
 * on them.  group_alerts follows its group's rid, so its new rows go at
 * the end of its key too.  Files from before (groups keyed by id) are
 * brought over once, at open (group_migrate_sql).
 */
#define GROUP_SCHEMA                                 \
	"CREATE TABLE IF NOT EXISTS groups ("        \
	" rid INTEGER PRIMARY KEY,"                  \
	" id TEXT NOT NULL,"                         \
	" receiver TEXT NOT NULL,"                   \
	" group_key TEXT NOT NULL,"                  \
	" group_labels TEXT NOT NULL,"               \
	" interval_ms INTEGER NOT NULL,"             \
	" repeat_ms INTEGER NOT NULL,"               \
	" next_ms INTEGER NOT NULL,"                 \
	" last_sent_ms INTEGER NOT NULL DEFAULT 0,"  \
	" last_firing TEXT NOT NULL DEFAULT '[]',"   \
	" last_resolved TEXT NOT NULL DEFAULT '[]'," \
	" seq INTEGER NOT NULL DEFAULT 0);"          \
	"CREATE TABLE IF NOT EXISTS group_alerts ("  \
	" group_rid INTEGER NOT NULL,"               \
	" fingerprint TEXT NOT NULL,"                \
	" alert TEXT NOT NULL,"                      \
	" PRIMARY KEY (group_rid, fingerprint));"
static const char group_schema[] = GROUP_SCHEMA;

/*
 * From the first layout (groups.id TEXT PRIMARY KEY, group_alerts keyed
 * by (group_id, fingerprint)): the same rows, numbered in the order they
 * were made (adb_migrate_rid: one savepoint, so a failure or a crash
 * leaves the old tables whole).
 */
static const char group_migrate_sql[] =
        "ALTER TABLE groups RENAME TO groups_by_id;"
        "ALTER TABLE group_alerts RENAME TO group_alerts_by_id;" GROUP_SCHEMA
        "INSERT INTO groups (rid, id, receiver, group_key, group_labels,"
        " interval_ms, repeat_ms, next_ms, last_sent_ms, last_firing,"
        " last_resolved, seq)"
        " SELECT rowid, id, receiver, group_key, group_labels, interval_ms,"
        " repeat_ms, next_ms, last_sent_ms, last_firing, last_resolved, seq"
        " FROM groups_by_id ORDER BY rowid;"
        "INSERT INTO group_alerts (group_rid, fingerprint, alert)"
        " SELECT g.rid, a.fingerprint, a.alert FROM group_alerts_by_id a"
        " JOIN groups g ON g.id = a.group_id;"
        "DROP TABLE group_alerts_by_id;"
        "DROP TABLE groups_by_id;";

/* sqlite helpers ------------------------------------------------------ */

static sqlite3_stmt *
group_prepare(struct groups *gs, const char *sql)
{
	return adb_prepare(gs->db, "groups", sql);
}

/* A statement run for every alert: kept compiled. */
static sqlite3_stmt *
group_stmt(const struct groups *gs, const char *sql)
{
	return adb_stmt(gs->db, "groups", sql);
}

/* Steps a statement without rows and finalizes it.  0 or -1. */
static int
group_run(struct groups *gs, sqlite3_stmt *st)
{
	return adb_done(gs->db, "groups", st) < 0 ? -1 : 0;
}

static int
group_exec(struct groups *gs, const char *sql)
{
	return adb_exec(gs->db, "groups", sql);
}

int
groups_begin(struct groups *gs)
{
	return outbox_unit_begin(gs->ob);
}

int
groups_end(struct groups *gs, int ok)
{
	return outbox_unit_end(gs->ob, ok);
}

/* fingerprint sets ---------------------------------------------------- */

static int
group_fp_cmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

static int
fpset_has(const struct fpset *s, const char *fp)
{
	return s->n > 0 &&
	       bsearch(fp, s->v, s->n, sizeof(*s->v), group_fp_cmp) != NULL;
}

/* Appends fp (fpset_sort makes it a set again). */
static void
fpset_add(struct fpset *s, const char *fp)
{
	if ((s->v = realloc(s->v, (s->n + 1) * sizeof(*s->v))) == NULL)
		fatalx("out of memory");
	snprintf(s->v[s->n++], sizeof(*s->v), "%s", fp);
}

static void
fpset_sort(struct fpset *s)
{
	if (s->n > 1)
		qsort(s->v, s->n, sizeof(*s->v), group_fp_cmp);
}

static void
fpset_clear(struct fpset *s)
{
	free(s->v);
	s->v = NULL;
	s->n = 0;
}

/* 1 when every fingerprint of a is in b. */
static int
fpset_subset(const struct fpset *a, const struct fpset *b)
{
	uint32_t i;

	for (i = 0; i < a->n; i++)
		if (!fpset_has(b, a->v[i]))
			return 0;
	return 1;
}

static int
fpset_equal(const struct fpset *a, const struct fpset *b)
{
	return a->n == b->n &&
	       (a->n == 0 || memcmp(a->v, b->v, a->n * sizeof(*a->v)) == 0);
}

/* The set as a JSON array of strings (the rows' form).  New reference. */
static json_t *
fpset_json(const struct fpset *s)
{
	json_t *arr = json_array();
	uint32_t i;

	if (arr == NULL)
		fatalx("out of memory");
	for (i = 0; i < s->n; i++)
		json_array_append_new(arr, json_string(s->v[i]));
	return arr;
}

/* The set of the strings in the JSON text (a row's column). */
static void
fpset_load(struct fpset *s, const char *text, size_t len)
{
	json_t *arr = text ? json_loadb(text, len, 0, NULL) : NULL;
	size_t i;

	memset(s, 0, sizeof(*s));
	for (i = 0; i < json_array_size(arr); i++)
		if (json_is_string(json_array_get(arr, i)))
			fpset_add(s, json_string_value(json_array_get(arr, i)));
	json_decref(arr);
	fpset_sort(s);
}

/* Binds a fingerprint set as a JSON array. */
static void
group_bind_fps(sqlite3_stmt *st, int col, const struct fpset *set)
{
	json_t *v = fpset_json(set);
	char *s = notify_dumps(v);

	json_decref(v);
	sqlite3_bind_text(st, col, s, -1, free);
}

/* The group's state as it is after a look: what its row records. */
struct group_state {
	int64_t next_ms;
	int64_t last_sent_ms;
	const struct fpset *last_firing, *last_resolved;
	uint64_t seq;
};

/* The group's row: g with its state st. */
static int
group_save(struct groups *gs, const struct group *g,
           const struct group_state *gst)
{
	sqlite3_stmt *st = group_stmt(
	        gs, "INSERT INTO groups (id, receiver, group_key,"
	            " group_labels, interval_ms, repeat_ms, next_ms,"
	            " last_sent_ms, last_firing, last_resolved, seq, rid)"
	            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
	            /* an update in place, not REPLACE's delete and insert */
	            " ON CONFLICT (rid) DO UPDATE SET"
	            " interval_ms = excluded.interval_ms,"
	            " repeat_ms = excluded.repeat_ms,"
	            " next_ms = excluded.next_ms,"
	            " last_sent_ms = excluded.last_sent_ms,"
	            " last_firing = excluded.last_firing,"
	            " last_resolved = excluded.last_resolved,"
	            " seq = excluded.seq");

	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, g->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, g->receiver, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, g->key, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, g->labels, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, g->interval_ms);
	sqlite3_bind_int64(st, 6, g->repeat_ms);
	sqlite3_bind_int64(st, 7, gst->next_ms);
	sqlite3_bind_int64(st, 8, gst->last_sent_ms);
	group_bind_fps(st, 9, gst->last_firing);
	group_bind_fps(st, 10, gst->last_resolved);
	sqlite3_bind_int64(st, 11, (sqlite3_int64)gst->seq);
	sqlite3_bind_int64(st, 12, g->rid);
	return group_run(gs, st);
}

/* The group's row as it is in memory. */
static int
group_save_now(struct groups *gs, const struct group *g)
{
	struct group_state gst = {g->due.at, g->last_sent_ms, &g->last_firing,
	                          &g->last_resolved, g->seq};

	return group_save(gs, g, &gst);
}

static int
group_save_alert(struct groups *gs, const struct group *g, const char *fp,
                 const char *doc)
{
	sqlite3_stmt *st =
	        group_stmt(gs, "INSERT INTO group_alerts (group_rid,"
	                       " fingerprint, alert) VALUES (?, ?, ?)"
	                       " ON CONFLICT (group_rid, fingerprint)"
	                       " DO UPDATE SET alert = excluded.alert");

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, g->rid);
	sqlite3_bind_text(st, 2, fp, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, doc, -1, SQLITE_STATIC);
	return group_run(gs, st);
}

static int
group_delete_alert(struct groups *gs, const struct group *g, const char *fp)
{
	sqlite3_stmt *st = group_stmt(gs, "DELETE FROM group_alerts WHERE"
	                                  " group_rid = ? AND fingerprint = ?");

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, g->rid);
	sqlite3_bind_text(st, 2, fp, -1, SQLITE_STATIC);
	return group_run(gs, st);
}

static int
group_delete(struct groups *gs, const struct group *g)
{
	sqlite3_stmt *st;

	if ((st = group_stmt(gs, "DELETE FROM group_alerts WHERE"
	                         " group_rid = ?")) == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, g->rid);
	if (group_run(gs, st) < 0)
		return -1;
	if ((st = group_stmt(gs, "DELETE FROM groups WHERE rid = ?")) == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, g->rid);
	return group_run(gs, st);
}

/* memory ---------------------------------------------------------------- */

static const char *
group_id_of(const void *rec)
{
	return ((const struct group *)rec)->id;
}

/* A group of receiver with key, empty, out of the heap. */
static struct group *
group_new(const char *receiver, const char *key)
{
	struct group *g = sn_xcalloc(1, sizeof(*g));
	size_t rl = strlen(receiver), kl = strlen(key);
	char *p = sn_xcalloc(1, rl + 1 + kl + 1 + rl + 1);

	memcpy(p, receiver, rl);
	p[rl] = '\x1f';
	memcpy(p + rl + 1, key, kl);
	memcpy(p + rl + 1 + kl + 1, receiver, rl);
	g->id = p;
	g->key = p + rl + 1;
	g->receiver = p + rl + 1 + kl + 1;
	g->due.pos = DHEAP_OUT;
	return g;
}

/* Drops what a keeps of its row between an add and a look. */
static void
galert_forget(struct galert *a)
{
	if (a->al != NULL) {
		notify_alert_free(a->al);
		free(a->al);
		a->al = NULL;
	}
	free(a->text);
	a->text = NULL;
}

static void
group_free(struct group *g)
{
	uint32_t i;

	for (i = 0; i < g->nalerts; i++)
		galert_forget(&g->alerts[i]);
	free(g->alerts);
	free(g->id);
	free(g->labels);
	json_decref(g->gl);
	fpset_clear(&g->last_firing);
	fpset_clear(&g->last_resolved);
	free(g);
}

/* g's row is written: it leaves the list of unsaved groups. */
static void
group_saved(struct groups *gs, struct group *g)
{
	struct group *last;

	if (g->unsaved == 0)
		return;
	last = gs->unsaved[--gs->nunsaved];
	gs->unsaved[g->unsaved - 1] = last;
	last->unsaved = g->unsaved;
	g->unsaved = 0;
}

/* Forgets g (the caller deleted its rows) and frees it. */
static void
group_drop(struct groups *gs, struct group *g)
{
	group_saved(gs, g);
	dheap_del(&gs->due, &g->due);
	htab_del(&gs->byid, g->id);
	group_free(g);
}

/* The index of the alert with fingerprint fp in g, or -1. */
static ssize_t
group_alert_index(const struct group *g, const char *fp)
{
	uint32_t i;

	for (i = 0; i < g->nalerts; i++)
		if (strcmp(g->alerts[i].fp, fp) == 0)
			return (ssize_t)i;
	return -1;
}

/* Appends an alert to g; al and text (may be NULL) are taken over. */
static void
group_append(struct group *g, const char *fp, int resolved, int64_t starts_ms,
             struct notify_alert *al, char *text)
{
	struct galert *a;

	g->alerts = realloc(g->alerts, (g->nalerts + 1) * sizeof(*g->alerts));
	if (g->alerts == NULL)
		fatalx("out of memory");
	a = &g->alerts[g->nalerts++];
	memset(a, 0, sizeof(*a));
	snprintf(a->fp, sizeof(a->fp), "%s", fp);
	a->resolved = (unsigned char)resolved;
	a->starts_ms = starts_ms;
	a->al = al;
	a->text = text;
}

/* Removes alert i of g (order is not kept). */
static void
group_remove(struct group *g, size_t i)
{
	galert_forget(&g->alerts[i]);
	g->nalerts--;
	if (i != g->nalerts)
		g->alerts[i] = g->alerts[g->nalerts];
}

/* The alert a into out (a reference to what g keeps, or read from its
 * row): 0, or -1 (logged) when unreadable (out is then empty).  Free
 * with notify_alert_free. */
static int
group_alert_get(const struct groups *gs, const struct group *g,
                const struct galert *a, struct notify_alert *out)
{
	sqlite3_stmt *st;
	json_t *doc = NULL;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (a->al != NULL) {
		notify_alert_ref(out, a->al);
		return 0;
	}
	if ((st = group_stmt(gs, "SELECT alert FROM group_alerts WHERE"
	                         " group_rid = ? AND fingerprint = ?")) !=
	    NULL) {
		sqlite3_bind_int64(st, 1, g->rid);
		sqlite3_bind_text(st, 2, a->fp, -1, SQLITE_STATIC);
		if (sqlite3_step(st) == SQLITE_ROW)
			doc = json_loadb(
			        (const char *)sqlite3_column_text(st, 0),
			        (size_t)sqlite3_column_bytes(st, 0), 0, NULL);
		adb_finish(st);
	}
	if (doc != NULL && notify_alert_from_json(out, doc) == 0)
		rc = 0;
	json_decref(doc);
	if (rc < 0)
		log_warnx("group %s: alert %s unreadable", g->key, a->fp);
	return rc;
}

/* The first tick of g's schedule (tick_ms, then every interval_ms) at
 * or after t, and after tick_ms. */
static int64_t
group_tick_after(const struct group *g, int64_t t)
{
	int64_t step = g->interval_ms > 0 ? g->interval_ms : 1;
	int64_t k = t > g->tick_ms ? (t - g->tick_ms + step - 1) / step : 1;

	return g->tick_ms + (k < 1 ? 1 : k) * step;
}

/* Something g's next look depends on changed: a parked g is looked at
 * at its next tick. */
static void
group_wake(struct groups *gs, struct group *g, int64_t now)
{
	if (!g->parked)
		return;
	g->parked = 0;
	dheap_set(&gs->due, &g->due, group_tick_after(g, now));
}

/*
 * After a look at now: nothing but a change or repeat_interval can make
 * g send, so it waits for the tick at which repeat_interval has passed
 * (when something it announced still fires), else for a change.
 */
static void
group_park(struct groups *gs, struct group *g, int64_t now)
{
	g->tick_ms = now;
	g->parked = 1;
	if (g->last_firing.n > 0 && g->last_sent_ms > 0)
		dheap_set(&gs->due, &g->due,
		          group_tick_after(g, g->last_sent_ms + g->repeat_ms));
	else
		dheap_del(&gs->due, &g->due);
}

/* Loads every group and its alerts.  0 or -1. */
static int
group_load(struct groups *gs)
{
	sqlite3_stmt *st;
	struct group *g;
	json_t *doc;
	const char *fp;
	int rc, resolved;
	json_int_t starts;

	if ((st = group_prepare(gs, "SELECT id, receiver, group_key,"
	                            " group_labels, interval_ms, repeat_ms,"
	                            " next_ms, last_sent_ms, last_firing,"
	                            " last_resolved, seq, rid FROM groups")) ==
	    NULL)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *id = (const char *)sqlite3_column_text(st, 0);
		const char *key = (const char *)sqlite3_column_text(st, 2);
		const char *recv = (const char *)sqlite3_column_text(st, 1);

		if (id == NULL || key == NULL || recv == NULL ||
		    htab_get(&gs->byid, id) != NULL)
			continue;
		g = group_new(recv, key);
		if (strcmp(g->id, id) != 0) {
			log_warnx("alerts.db: group %s: its id is not its "
			          "receiver and key; skipped",
			          key);
			group_free(g);
			continue;
		}
		g->labels = sn_xstrdup(
		        sqlite3_column_text(st, 3)
		                ? (const char *)sqlite3_column_text(st, 3)
		                : "{}");
		g->interval_ms = sqlite3_column_int64(st, 4);
		g->repeat_ms = sqlite3_column_int64(st, 5);
		g->last_sent_ms = sqlite3_column_int64(st, 7);
		fpset_load(&g->last_firing,
		           (const char *)sqlite3_column_text(st, 8),
		           (size_t)sqlite3_column_bytes(st, 8));
		fpset_load(&g->last_resolved,
		           (const char *)sqlite3_column_text(st, 9),
		           (size_t)sqlite3_column_bytes(st, 9));
		g->seq = (uint64_t)sqlite3_column_int64(st, 10);
		g->rid = sqlite3_column_int64(st, 11);
		if (g->rid >= gs->next_rid)
			gs->next_rid = g->rid + 1;
		/* the schedule goes on where it was */
		g->tick_ms = sqlite3_column_int64(st, 6) - g->interval_ms;
		dheap_set(&gs->due, &g->due, sqlite3_column_int64(st, 6));
		htab_put(&gs->byid, g);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return -1;

	if ((st = group_prepare(gs, "SELECT g.id, a.alert FROM group_alerts a"
	                            " JOIN groups g ON g.rid = a.group_rid")) ==
	    NULL)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *text = (const char *)sqlite3_column_text(st, 1);

		g = htab_get(&gs->byid,
		             (const char *)sqlite3_column_text(st, 0));
		doc = text != NULL ? json_loads(text, 0, NULL) : NULL;
		resolved = 0;
		starts = 0;
		if (g != NULL && doc != NULL &&
		    json_unpack(doc, "{s:s, s:b, s:I}", "fingerprint", &fp,
		                "resolved", &resolved, "starts_ms",
		                &starts) == 0 &&
		    strlen(fp) <= NOTIFY_ID_LEN && group_alert_index(g, fp) < 0)
			group_append(g, fp, resolved, starts, NULL, NULL);
		else
			log_warnx("alerts.db: an unreadable grouped alert "
			          "skipped");
		json_decref(doc);
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* outbox_precommit's: the rows of the groups added in this transaction
 * and not looked at yet.  0 or -1. */
static int
groups_precommit(void *arg)
{
	struct groups *gs = arg;

	while (gs->nunsaved > 0) {
		struct group *g = gs->unsaved[gs->nunsaved - 1];

		if (group_save_now(gs, g) < 0)
			return -1;
		group_saved(gs, g);
	}
	return 0;
}

struct groups *
groups_open(sqlite3 *db, struct outbox *ob, group_mute_fn mute, void *mute_arg)
{
	struct groups *gs = sn_xcalloc(1, sizeof(*gs));
	struct group *g, **empty = NULL;
	size_t i = 0, n = 0;

	gs->db = db;
	gs->ob = ob;
	gs->mute = mute;
	gs->mute_arg = mute_arg;
	htab_init(&gs->byid, group_id_of);
	gs->next_rid = 1;
	if (adb_migrate_rid(db, "groups", group_migrate_sql) < 0 ||
	    group_exec(gs, group_schema) < 0 || group_load(gs) < 0) {
		groups_free(gs);
		return NULL;
	}
	/* A group that lost all its alerts (a crash mid-flush cannot do
	 * this, but a hand-edited database can) is dropped. */
	while ((g = htab_next(&gs->byid, &i)) != NULL)
		if (g->nalerts == 0) {
			empty = realloc(empty, (n + 1) * sizeof(*empty));
			if (empty == NULL)
				fatalx("out of memory");
			empty[n++] = g;
		}
	for (i = 0; i < n; i++)
		if (group_delete(gs, empty[i]) == 0)
			group_drop(gs, empty[i]);
	free(empty);
	outbox_precommit(ob, groups_precommit, gs);
	return gs;
}

void
groups_free(struct groups *gs)
{
	struct group *g;
	size_t i = 0;

	if (gs == NULL)
		return;
	if (gs->ob != NULL) {
		/* the transaction the outbox commits as it closes */
		if (gs->nunsaved > 0 && !sqlite3_get_autocommit(gs->db) &&
		    groups_precommit(gs) < 0)
			log_warnx("alerts.db: new groups not written");
		outbox_precommit(gs->ob, NULL, NULL);
	}
	free(gs->unsaved);
	while ((g = htab_next(&gs->byid, &i)) != NULL)
		group_free(g);
	htab_free(&gs->byid);
	dheap_free(&gs->due);
	free(gs);
}

/* keys ---------------------------------------------------------------- */

/* Appends name, op and the quoted value, Alertmanager's way. */
static void
group_key_pair(struct sn_buf *b, int *first, const char *name, const char *op,
               const char *value)
{
	json_t *q = json_string(value);
	char *s;

	if (q == NULL)
		fatalx("out of memory");
	s = notify_dumps(q);
	if (!*first)
		sn_buf_append(b, ",", 1);
	*first = 0;
	sn_buf_append(b, name, strlen(name));
	sn_buf_append(b, op, strlen(op));
	sn_buf_append(b, s, strlen(s));
	free(s);
	json_decref(q);
}

static int
group_cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/*
 * The group labels of an alert with labels for route r (NULL: the
 * default receiver, one group): the group_by labels it has, or all of
 * them for '...'.  New reference.
 */
static json_t *
group_labels_of(const struct sn_route *r, const json_t *labels)
{
	json_t *gl;
	const char *v;
	size_t i;

	if (r != NULL && r->group_by_all)
		return json_deep_copy(labels);
	if ((gl = json_object()) == NULL)
		fatalx("out of memory");
	for (i = 0; r != NULL && i < r->ngroup_by; i++) {
		v = alert_label(labels, r->group_by[i]);
		if (*v != '\0')
			json_object_set_new(gl, r->group_by[i], json_string(v));
	}
	return gl;
}

/*
 * The group key: the route's matchers, then the group labels sorted by
 * name, as Alertmanager writes it:
 * {}/{severity="critical"}:{application_id="chat"}.
 */
static char *
group_key_of(const struct sn_route *r, const json_t *gl)
{
	struct sn_buf b = {0};
	const char **keys, *k;
	json_t *v;
	size_t i, n = json_object_size(gl);
	int first = 1;

	sn_buf_append(&b, "{}", 2);
	if (r != NULL) {
		sn_buf_append(&b, "/{", 2);
		for (i = 0; i < r->nmatch; i++)
			group_key_pair(&b, &first, r->match[i].key, "=",
			               r->match[i].value ? r->match[i].value
			                                 : "");
		for (i = 0; i < r->nmatch_re; i++)
			group_key_pair(&b, &first, r->match_re[i].key, "=~",
			               r->match_re[i].pattern);
		sn_buf_append(&b, "}", 1);
	}
	sn_buf_append(&b, ":{", 2);
	keys = sn_xcalloc(n ? n : 1, sizeof(*keys));
	i = 0;
	json_object_foreach((json_t *)gl, k, v) keys[i++] = k;
	qsort(keys, n, sizeof(*keys), group_cmp_str);
	first = 1;
	for (i = 0; i < n; i++)
		group_key_pair(&b, &first, keys[i], "=",
		               json_string_value(json_object_get(gl, keys[i])));
	free(keys);
	sn_buf_append(&b, "}", 2); /* with the NUL */
	return (char *)b.data;
}

/* adding -------------------------------------------------------------- */

int
groups_add(struct groups *gs, const struct route_target *t,
           const struct notify_alert *al, int64_t now_ms)
{
	const struct sn_route *r = t->route;
	json_t *gl = group_labels_of(r, al->labels);
	char *key = group_key_of(r, gl), *id, *text;
	struct notify_alert *kept;
	struct sn_buf tb = {0};
	struct group *g, *fresh = NULL;
	int64_t interval, repeat, starts;
	ssize_t i;
	int rc = -1, defer = 0;

	/* the id, as group_new writes it */
	id = sn_xcalloc(1, strlen(t->receiver) + 1 + strlen(key) + 1);
	sprintf(id, "%s\x1f%s", t->receiver, key);
	g = htab_get(&gs->byid, id);
	free(id);
	i = g != NULL ? group_alert_index(g, al->fingerprint) : -1;
	if (al->resolved && i < 0) {
		/* never grouped (or already flushed out): nothing to say */
		rc = 0;
		goto done;
	}
	/* the route's timings now; a reload applies from here on */
	interval =
	        r != NULL ? r->group_interval_ms : SN_DEFAULT_GROUP_INTERVAL_MS;
	repeat = r != NULL ? r->repeat_interval_ms
	                   : SN_DEFAULT_REPEAT_INTERVAL_MS;
	if (g == NULL) {
		g = fresh = group_new(t->receiver, key);
		g->rid = gs->next_rid++;
		g->labels = notify_dumps(gl);
		g->due.at = now_ms + (r != NULL ? r->group_wait_ms
		                                : SN_DEFAULT_GROUP_WAIT_MS);
		g->tick_ms = g->due.at - interval;
	}

	starts = al->starts_ms;
	/* a resolve keeps the time the alert started firing */
	if (i >= 0 && al->resolved && !g->alerts[i].resolved)
		starts = g->alerts[i].starts_ms;
	/* kept to the next look, and its row's text (notify_alert_json's
	 * document, written without the tree) */
	kept = sn_xcalloc(1, sizeof(*kept));
	notify_alert_ref(kept, al);
	kept->starts_ms = starts;
	notify_alert_write(kept, &tb);
	sn_buf_append(&tb, "", 1);
	text = (char *)tb.data;

	if (fresh != NULL && !sqlite3_get_autocommit(gs->db)) {
		/* in a transaction: the row is written once, by the group's
		 * first look (group_wait 0: the same loop turn) or before
		 * the commit (groups_precommit), not here and again there */
		g->interval_ms = interval;
		g->repeat_ms = repeat;
		defer = 1;
	} else if (fresh != NULL || g->interval_ms != interval ||
	           g->repeat_ms != repeat) {
		int64_t old_i = g->interval_ms, old_r = g->repeat_ms;

		g->interval_ms = interval;
		g->repeat_ms = repeat;
		if (group_save_now(gs, g) < 0) {
			g->interval_ms = old_i;
			g->repeat_ms = old_r;
			goto fail;
		}
	}
	if (group_save_alert(gs, g, al->fingerprint, text) < 0)
		goto fail;

	if (i >= 0) {
		galert_forget(&g->alerts[i]);
		g->alerts[i].al = kept;
		g->alerts[i].text = text;
		g->alerts[i].resolved = (unsigned char)al->resolved;
		g->alerts[i].starts_ms = starts;
	} else
		group_append(g, al->fingerprint, al->resolved, starts, kept,
		             text);
	if (fresh != NULL) {
		/* what json_loads(g->labels) gives, until the next look */
		g->gl = json_incref(gl);
		if (defer) {
			if (gs->nunsaved == gs->capunsaved) {
				gs->capunsaved = gs->capunsaved * 2 + 16;
				gs->unsaved = realloc(
				        gs->unsaved,
				        gs->capunsaved * sizeof(*gs->unsaved));
				if (gs->unsaved == NULL)
					fatalx("out of memory");
			}
			gs->unsaved[gs->nunsaved++] = g;
			g->unsaved = gs->nunsaved;
		}
		htab_put(&gs->byid, g);
		dheap_set(&gs->due, &g->due, g->due.at);
	} else
		group_wake(gs, g, now_ms);
	rc = 1;
	goto done;
fail:
	free(text);
	notify_alert_free(kept);
	free(kept);
	if (fresh != NULL)
		group_free(fresh);
done:
	free(key);
	json_decref(gl);
	return rc;
}

void
groups_changed(struct groups *gs, int64_t now_ms)
{
	struct group *g;
	size_t i = 0;

	while ((g = htab_next(&gs->byid, &i)) != NULL)
		group_wake(gs, g, now_ms);
}

/* flushing ------------------------------------------------------------ */

int64_t
groups_next_due(const struct groups *gs)
{
	const struct dheap_item *top = dheap_top(&gs->due);

	return top != NULL ? top->at : -1;
}

static const struct sn_receiver *
group_receiver(const struct sn_alerts *al, const char *name)
{
	size_t i;

	for (i = 0; i < al->nreceivers; i++)
		if (strcmp(al->receivers[i].name, name) == 0)
			return &al->receivers[i];
	return NULL;
}

/*
 * The alerts (alts[i], read when have[i] is 0 and one is needed; have[i]
 * set once read) and whether each is muted now (muted[i]); logs what
 * changed since the last look.  Alerts are read when there is a mute
 * function to ask.
 */
static void
group_mute_pass(struct groups *gs, struct group *g, int64_t now,
                struct notify_alert *alts, unsigned char *have,
                unsigned char *muted)
{
	const char *why;
	uint32_t i;

	for (i = 0; i < g->nalerts; i++) {
		why = NULL;
		if (!g->alerts[i].resolved && gs->mute != NULL) {
			if (!have[i])
				have[i] = group_alert_get(gs, g, &g->alerts[i],
				                          &alts[i]) == 0;
			if (have[i])
				why = gs->mute(alts[i].labels, g->alerts[i].fp,
				               now, gs->mute_arg);
		}
		muted[i] = why != NULL;
		if (muted[i] != g->alerts[i].muted && !have[i])
			have[i] = group_alert_get(gs, g, &g->alerts[i],
			                          &alts[i]) == 0;
		if (muted[i] != g->alerts[i].muted)
			log_info("alert %s (%s) for %s: %s", g->alerts[i].fp,
			         alert_label(have[i] ? alts[i].labels : NULL,
			                     "alertname"),
			         g->receiver, why != NULL ? why : "unmuted");
	}
}

/* The notification of g now: its alerts to send are those of alts
 * (read here when not yet) marked in pick.  0, or -1 when an alert
 * cannot be read. */
static int
group_notification(struct groups *gs, const struct group *g,
                   const struct sn_alerts *al, struct notify_alert *alts,
                   unsigned char *have, const unsigned char *pick,
                   struct notification *n)
{
	json_t *labels = g->gl != NULL ? json_incref(g->gl)
	                               : json_loads(g->labels, 0, NULL);
	struct notify_alert ref;
	uint32_t i;
	int rc = 0;

	notify_init(n, g->receiver, g->key,
	            json_is_object(labels) ? labels : NULL, al->external_url);
	json_decref(labels);
	n->seq = g->seq + 1;
	for (i = 0; rc == 0 && i < g->nalerts; i++) {
		if (!pick[i])
			continue;
		if (!have[i])
			have[i] = group_alert_get(gs, g, &g->alerts[i],
			                          &alts[i]) == 0;
		if (!have[i]) {
			rc = -1;
			break;
		}
		notify_alert_ref(&ref, &alts[i]);
		notify_add_alert_take(n, &ref);
	}
	if (rc < 0)
		notify_free(n);
	return rc;
}

/* A string of the payload's head, as json_pack's "s" takes it. */
static void
group_payload_str(struct sn_buf *b, const char *key, const char *v)
{
	if (!notify_utf8(v, strlen(v)))
		fatalx("out of memory"); /* json_pack's failure */
	sn_buf_append(b, key, strlen(key));
	sn_buf_json_str(b, v, strlen(v));
}

/*
 * The outbox payload of n, g's notification of the alerts marked in
 * pick: notify_to_json's document, written from the alerts' texts where
 * g still has them (the rows' text, notify_alert_json's document) and
 * from alts where not, without building it.
 */
static char *
group_payload(const struct group *g, const struct notification *n,
              const struct notify_alert *alts, const unsigned char *pick)
{
	struct sn_buf b = {0};
	uint32_t i;
	int first = 1;

	sn_buf_reserve(&b, 256 + 640 * (size_t)n->nalerts);
	group_payload_str(&b, "{\"receiver\":", n->receiver);
	group_payload_str(&b, ",\"group_key\":", n->group_key);
	group_payload_str(&b, ",\"external_url\":", n->external_url);
	sn_buf_append(&b, ",\"group_labels\":", 16);
	notify_dump(n->group_labels, &b);
	if (n->test)
		sn_buf_append(&b, ",\"test\":true", 12);
	else
		sn_buf_append(&b, ",\"test\":false", 13);
	sn_buf_printf(&b, ",\"seq\":%lld", (long long)(json_int_t)n->seq);
	sn_buf_append(&b, ",\"alerts\":[", 11);
	for (i = 0; i < g->nalerts; i++) {
		if (!pick[i])
			continue;
		if (!first)
			sn_buf_append(&b, ",", 1);
		first = 0;
		if (g->alerts[i].text != NULL) {
			sn_buf_append(&b, g->alerts[i].text,
			              strlen(g->alerts[i].text));
			continue;
		}
		notify_alert_write(&alts[i], &b);
	}
	sn_buf_append(&b, "]}", 3); /* with the NUL */
	return (char *)b.data;
}

/* outbox_enqueue_memo's memo_free: the notification a flush queued. */
static void
group_memo_free(void *memo)
{
	struct notification *n = memo;

	notify_free(n);
	free(n);
}

/*
 * Looks at group g: decides, queues the notification if any, and writes
 * the group's new state, all in one unit; then updates memory and parks
 * g until something can change.  1 when a notification was queued, 0
 * when not, -1 on a storage error (g stays due).  *gone is set when the
 * group was deleted (and freed).
 */
static int
group_flush_one(struct groups *gs, struct group *g, const struct sn_alerts *al,
                int64_t now, int *gone)
{
	const struct sn_receiver *rc = group_receiver(al, g->receiver);
	uint32_t i, na = g->nalerts, ndropped = 0;
	unsigned char *muted = sn_xcalloc(na + 1, 1);
	unsigned char *pick = sn_xcalloc(na + 1, 1);
	struct notify_alert *alts = sn_xcalloc(na + 1, sizeof(*alts));
	unsigned char *have = sn_xcalloc(na + 1, 1);
	struct fpset firing = {0}, resolved = {0}, new_firing = {0};
	struct notification n;
	char id[NOTIFY_ID_LEN + 1], *payload = NULL;
	size_t nmuted = 0;
	int send = 0, send_resolved, ok = 1, queued = 0, have_n = 0;

	*gone = 0;
	if (rc == NULL) {
		/* the receiver left alerts.yaml: its groups go with it */
		log_warnx("group %s: receiver %s is no longer configured; "
		          "its %u alerts are dropped",
		          g->key, g->receiver, na);
		ok = groups_begin(gs) == 0 && group_delete(gs, g) == 0;
		if (groups_end(gs, ok) < 0)
			goto fail;
		group_drop(gs, g);
		*gone = 1;
		goto out;
	}
	send_resolved = rc->send_resolved;
	group_mute_pass(gs, g, now, alts, have, muted);
	for (i = 0; i < na; i++) {
		const char *fp = g->alerts[i].fp;

		if (g->alerts[i].resolved) {
			ndropped++;
			if (fpset_has(&g->last_firing, fp))
				fpset_add(&resolved, fp);
		} else if (muted[i])
			nmuted++;
		else
			fpset_add(&firing, fp);
	}
	fpset_sort(&firing);
	fpset_sort(&resolved);

	/* Alertmanager's rules (its notification log's needsUpdate). */
	if (g->last_sent_ms == 0)
		send = firing.n > 0;
	else if (!fpset_subset(&firing, &g->last_firing))
		send = 1;
	else if (firing.n == 0)
		send = send_resolved && resolved.n > 0;
	else if (send_resolved && !fpset_subset(&resolved, &g->last_resolved))
		send = 1;
	else
		send = now - g->last_sent_ms >= g->repeat_ms;

	if (send) {
		for (i = 0; i < na; i++)
			pick[i] = g->alerts[i].resolved
			                  ? send_resolved &&
			                            fpset_has(&resolved,
			                                      g->alerts[i].fp)
			                  : !muted[i];
		if (group_notification(gs, g, al, alts, have, pick, &n) < 0)
			goto fail;
		have_n = 1;
		notify_id(&n, id);
		payload = group_payload(g, &n, alts, pick);
		new_firing = firing;
		memset(&firing, 0, sizeof(firing));
	} else if (firing.n > 0 || nmuted > 0) {
		/* resolved alerts leave the log as they leave the group */
		for (i = 0; i < g->last_firing.n; i++) {
			ssize_t j = group_alert_index(g, g->last_firing.v[i]);

			if (j < 0 || !g->alerts[j].resolved)
				fpset_add(&new_firing, g->last_firing.v[i]);
		}
	}
	/* else everything announced is gone, unannounced: start over */

	/*
	 * Nothing to say and nothing changed: in memory only (after a
	 * restart the group is merely looked at early).
	 */
	if (!send && ndropped == 0 &&
	    fpset_equal(&new_firing, &g->last_firing)) {
		for (i = 0; i < na; i++) {
			g->alerts[i].muted = muted[i];
			galert_forget(&g->alerts[i]); /* the row has it */
		}
		json_decref(g->gl);
		g->gl = NULL;
		group_park(gs, g, now);
		goto out;
	}

	/* The unit: the outbox row, the group's state, its alerts. */
	if (groups_begin(gs) < 0)
		goto fail;
	if (send) {
		/* the sender's first attempt sends from this copy of n */
		struct notification *memo = sn_xcalloc(1, sizeof(*memo));

		*memo = n;
		have_n = 0;
		if (outbox_enqueue_memo(gs->ob, id, g->receiver, payload, now,
		                        memo, group_memo_free) < 0)
			ok = 0;
	}
	for (i = 0; ok && i < na; i++)
		if (g->alerts[i].resolved &&
		    group_delete_alert(gs, g, g->alerts[i].fp) < 0)
			ok = 0;
	if (ok) {
		struct fpset none = {0};
		struct group_state next = {now + g->interval_ms,
		                           g->last_sent_ms, &new_firing,
		                           &g->last_resolved, g->seq};

		if (send) {
			next.last_sent_ms = now;
			next.seq = g->seq + 1;
			next.last_resolved = send_resolved ? &resolved : &none;
		}
		if (na == ndropped)
			ok = group_delete(gs, g) == 0;
		else
			ok = group_save(gs, g, &next) == 0;
	}
	if (groups_end(gs, ok) < 0)
		goto fail;
	group_saved(gs, g); /* its row written (or deleted) */

	/* Written: memory follows. */
	if (send) {
		/* debug: with a group per alert this was a line per alert,
		 * and "notification sent" (sender.c) tells the outcome */
		log_debug("group %s for %s: notification %s queued (%u "
		          "firing, %u resolved, %zu muted, flush %llu)",
		          g->key, g->receiver, id, new_firing.n,
		          send_resolved ? resolved.n : 0, nmuted,
		          (unsigned long long)(g->seq + 1));
		g->last_sent_ms = now;
		g->seq++;
		fpset_clear(&g->last_resolved);
		if (send_resolved) {
			g->last_resolved = resolved;
			memset(&resolved, 0, sizeof(resolved));
		}
		queued = 1;
	}
	fpset_clear(&g->last_firing);
	g->last_firing = new_firing;
	memset(&new_firing, 0, sizeof(new_firing));
	for (i = 0; i < na; i++) {
		g->alerts[i].muted = muted[i];
		galert_forget(&g->alerts[i]); /* the row has it */
	}
	json_decref(g->gl);
	g->gl = NULL;
	for (i = na; i-- > 0;)
		if (g->alerts[i].resolved)
			group_remove(g, i);
	if (g->nalerts == 0) {
		group_drop(gs, g);
		*gone = 1;
	} else
		group_park(gs, g, now);
	goto out;
fail:
	queued = -1;
out:
	if (have_n)
		notify_free(&n);
	for (i = 0; i < na; i++)
		if (have[i])
			notify_alert_free(&alts[i]);
	free(alts);
	free(have);
	free(payload);
	free(muted);
	free(pick);
	fpset_clear(&firing);
	fpset_clear(&resolved);
	fpset_clear(&new_firing);
	return queued;
}

int
groups_flush(struct groups *gs, const struct sn_alerts *al, int64_t now_ms)
{
	struct dheap_item *top;
	struct group *g;
	int n = 0, rc, gone, failed = 0, looked = 0;
	struct group **retry = NULL;
	size_t nretry = 0, i;

	while (looked < GROUP_FLUSH_MAX &&
	       (top = dheap_top(&gs->due)) != NULL && top->at <= now_ms) {
		g = dheap_rec(top, struct group, due);
		looked++;
		rc = group_flush_one(gs, g, al, now_ms, &gone);
		if (rc >= 0) {
			n += rc;
			continue;
		}
		/* stays due, out of this round's way */
		failed = 1;
		dheap_del(&gs->due, &g->due);
		retry = realloc(retry, (nretry + 1) * sizeof(*retry));
		if (retry == NULL)
			fatalx("out of memory");
		retry[nretry++] = g;
	}
	for (i = 0; i < nretry; i++)
		dheap_set(&gs->due, &retry[i]->due, now_ms);
	free(retry);
	return failed ? -1 : n;
}

size_t
groups_count(const struct groups *gs)
{
	return gs != NULL ? gs->byid.n : 0;
}

json_t *
groups_json(const struct groups *gs)
{
	const struct group *g;
	json_t *arr = json_array(), *alerts, *labels;
	struct notify_alert one;
	int got;
	size_t i, slot = 0;
	int64_t next;

	if (arr == NULL)
		fatalx("out of memory");
	while ((g = htab_next(&gs->byid, &slot)) != NULL) {
		if ((alerts = json_array()) == NULL)
			fatalx("out of memory");
		for (i = 0; i < g->nalerts; i++) {
			const struct galert *a = &g->alerts[i];

			got = group_alert_get(gs, g, a, &one) == 0;
			json_array_append_new(
			        alerts,
			        json_pack("{s:s, s:O, s:s, s:I, s:b}",
			                  "fingerprint", a->fp, "labels",
			                  got ? one.labels : json_null(),
			                  "status",
			                  a->resolved ? "resolved" : "firing",
			                  "starts_ms", (json_int_t)a->starts_ms,
			                  "muted", a->muted));
			if (got)
				notify_alert_free(&one);
		}
		/* parked for good: looked at the next tick after a change */
		next = g->due.pos != DHEAP_OUT
		               ? g->due.at
		               : group_tick_after(g, sn_now_ms());
		labels = json_loads(g->labels, 0, NULL);
		json_array_append_new(
		        arr, json_pack("{s:s, s:s, s:o, s:I, s:o, s:I, s:o}",
		                       "receiver", g->receiver, "group_key",
		                       g->key, "group_labels",
		                       labels != NULL ? labels : json_object(),
		                       "next_flush_ms", (json_int_t)next,
		                       "last_sent_ms",
		                       g->last_sent_ms
		                               ? json_integer(g->last_sent_ms)
		                               : json_null(),
		                       "notifications", (json_int_t)g->seq,
		                       "alerts", alerts));
	}
	return arr;
}
