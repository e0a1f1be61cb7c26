/*
 * group.c: aggregation groups (see group.h).
 *
 * Groups are few (one per route, receiver and group_by values that have
 * alerts) and alerts arrive seldom, so a group is found by a walk of a
 * list and each change is written through to sqlite at once; the
 * in-memory state is only ever changed after its write committed, so
 * memory never runs ahead of the database.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include <sqlite3.h>

#include "alertdb.h"
#include "group.h"
#include "log.h"
#include "outbox.h"
#include "util.h"

struct group {
	char *id;       /* receiver, US (0x1f), group key: the row's key */
	char *receiver; /* receiver name */
	char *key;      /* group key, Alertmanager's form */
	json_t *labels; /* the group_by labels and their values */
	int64_t interval_ms, repeat_ms;
	int64_t next_ms;      /* next flush */
	int64_t last_sent_ms; /* 0: nothing sent yet */
	json_t *last_firing;  /* fingerprints announced firing, sorted */
	json_t *last_resolved;
	uint64_t seq; /* flushes that queued a notification */
	struct notify_alert *alerts;
	size_t nalerts;
	unsigned char *muted; /* per alert: muted at the last flush */
	struct group *next;
};

struct groups {
	sqlite3 *db;
	struct outbox *ob;
	group_mute_fn mute;
	void *mute_arg;
	struct group *list;
	size_t count;
};

static const char group_schema[] = "CREATE TABLE IF NOT EXISTS groups ("
                                   " id TEXT PRIMARY KEY,"
                                   " receiver TEXT NOT NULL,"
                                   " group_key TEXT NOT NULL,"
                                   " group_labels TEXT NOT NULL,"
                                   " interval_ms INTEGER NOT NULL,"
                                   " repeat_ms INTEGER NOT NULL,"
                                   " next_ms INTEGER NOT NULL,"
                                   " last_sent_ms INTEGER NOT NULL DEFAULT 0,"
                                   " last_firing TEXT NOT NULL DEFAULT '[]',"
                                   " last_resolved TEXT NOT NULL DEFAULT '[]',"
                                   " seq INTEGER NOT NULL DEFAULT 0);"
                                   "CREATE TABLE IF NOT EXISTS group_alerts ("
                                   " group_id TEXT NOT NULL,"
                                   " fingerprint TEXT NOT NULL,"
                                   " alert TEXT NOT NULL,"
                                   " PRIMARY KEY (group_id, fingerprint));";

/* sqlite helpers ------------------------------------------------------ */

static sqlite3_stmt *
group_prepare(struct groups *gs, const char *sql)
{
	return adb_prepare(gs->db, "groups", sql);
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
	return group_exec(gs, "BEGIN IMMEDIATE");
}

int
groups_end(struct groups *gs, int ok)
{
	if (ok && group_exec(gs, "COMMIT") == 0)
		return 0;
	group_exec(gs, "ROLLBACK");
	return -1;
}

/* Binds a JSON value as compact text. */
static void
group_bind_json(sqlite3_stmt *st, int col, const json_t *v)
{
	char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);

	if (s == NULL)
		fatalx("out of memory");
	sqlite3_bind_text(st, col, s, -1, free);
}

/* The group's row, as it is in memory. */
static int
group_save(struct groups *gs, const struct group *g)
{
	sqlite3_stmt *st = group_prepare(
	        gs, "INSERT OR REPLACE INTO groups (id, receiver, group_key,"
	            " group_labels, interval_ms, repeat_ms, next_ms,"
	            " last_sent_ms, last_firing, last_resolved, seq)"
	            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");

	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, g->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, g->receiver, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, g->key, -1, SQLITE_STATIC);
	group_bind_json(st, 4, g->labels);
	sqlite3_bind_int64(st, 5, g->interval_ms);
	sqlite3_bind_int64(st, 6, g->repeat_ms);
	sqlite3_bind_int64(st, 7, g->next_ms);
	sqlite3_bind_int64(st, 8, g->last_sent_ms);
	group_bind_json(st, 9, g->last_firing);
	group_bind_json(st, 10, g->last_resolved);
	sqlite3_bind_int64(st, 11, (sqlite3_int64)g->seq);
	return group_run(gs, st);
}

static int
group_save_alert(struct groups *gs, const struct group *g,
                 const struct notify_alert *al)
{
	json_t *doc;
	sqlite3_stmt *st = group_prepare(
	        gs, "INSERT OR REPLACE INTO group_alerts (group_id,"
	            " fingerprint, alert) VALUES (?, ?, ?)");

	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, g->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, al->fingerprint, -1, SQLITE_STATIC);
	doc = notify_alert_json(al);
	group_bind_json(st, 3, doc);
	json_decref(doc);
	return group_run(gs, st);
}

static int
group_delete_alert(struct groups *gs, const struct group *g, const char *fp)
{
	sqlite3_stmt *st =
	        group_prepare(gs, "DELETE FROM group_alerts WHERE"
	                          " group_id = ? AND fingerprint = ?");

	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, g->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, fp, -1, SQLITE_STATIC);
	return group_run(gs, st);
}

static int
group_delete(struct groups *gs, const struct group *g)
{
	sqlite3_stmt *st;

	if ((st = group_prepare(gs, "DELETE FROM group_alerts WHERE"
	                            " group_id = ?")) == NULL)
		return -1;
	sqlite3_bind_text(st, 1, g->id, -1, SQLITE_STATIC);
	if (group_run(gs, st) < 0)
		return -1;
	if ((st = group_prepare(gs, "DELETE FROM groups WHERE id = ?")) == NULL)
		return -1;
	sqlite3_bind_text(st, 1, g->id, -1, SQLITE_STATIC);
	return group_run(gs, st);
}

/* memory -------------------------------------------------------------- */

static void
group_free(struct group *g)
{
	size_t i;

	for (i = 0; i < g->nalerts; i++)
		notify_alert_free(&g->alerts[i]);
	free(g->alerts);
	free(g->muted);
	free(g->id);
	free(g->receiver);
	free(g->key);
	json_decref(g->labels);
	json_decref(g->last_firing);
	json_decref(g->last_resolved);
	free(g);
}

static struct group *
group_find(struct groups *gs, const char *id)
{
	struct group *g;

	for (g = gs->list; g != NULL; g = g->next)
		if (strcmp(g->id, id) == 0)
			return g;
	return NULL;
}

static void
group_unlink(struct groups *gs, struct group *g)
{
	struct group **pp;

	for (pp = &gs->list; *pp != NULL; pp = &(*pp)->next)
		if (*pp == g) {
			*pp = g->next;
			gs->count--;
			return;
		}
}

static void
group_link(struct groups *gs, struct group *g)
{
	g->next = gs->list;
	gs->list = g;
	gs->count++;
}

/* The index of the alert with fingerprint fp in g, or -1. */
static ssize_t
group_alert_index(const struct group *g, const char *fp)
{
	size_t i;

	for (i = 0; i < g->nalerts; i++)
		if (strcmp(g->alerts[i].fingerprint, fp) == 0)
			return (ssize_t)i;
	return -1;
}

/* Appends a copy of al to g's alerts. */
static void
group_append(struct group *g, const struct notify_alert *al)
{
	g->alerts = realloc(g->alerts, (g->nalerts + 1) * sizeof(*g->alerts));
	g->muted = realloc(g->muted, g->nalerts + 1);
	if (g->alerts == NULL || g->muted == NULL)
		fatalx("out of memory");
	notify_alert_copy(&g->alerts[g->nalerts], al);
	g->muted[g->nalerts] = 0;
	g->nalerts++;
}

/* Removes alert i of g (order is not kept). */
static void
group_remove(struct group *g, size_t i)
{
	notify_alert_free(&g->alerts[i]);
	g->nalerts--;
	if (i != g->nalerts) {
		g->alerts[i] = g->alerts[g->nalerts];
		g->muted[i] = g->muted[g->nalerts];
	}
}

static json_t *
group_json_load(const char *s, size_t len)
{
	json_t *v = s != NULL ? json_loadb(s, len, 0, NULL) : NULL;

	return v != NULL ? v : json_array();
}

/* Loads every group and its alerts.  0 or -1. */
static int
group_load(struct groups *gs)
{
	sqlite3_stmt *st;
	struct group *g;
	struct notify_alert al;
	json_t *doc;
	int rc;

	if ((st = group_prepare(gs, "SELECT id, receiver, group_key,"
	                            " group_labels, interval_ms, repeat_ms,"
	                            " next_ms, last_sent_ms, last_firing,"
	                            " last_resolved, seq FROM groups")) == NULL)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		g = sn_xcalloc(1, sizeof(*g));
		g->id = sn_xstrdup((const char *)sqlite3_column_text(st, 0));
		g->receiver =
		        sn_xstrdup((const char *)sqlite3_column_text(st, 1));
		g->key = sn_xstrdup((const char *)sqlite3_column_text(st, 2));
		g->labels = group_json_load(
		        (const char *)sqlite3_column_text(st, 3),
		        (size_t)sqlite3_column_bytes(st, 3));
		if (!json_is_object(g->labels)) {
			json_decref(g->labels);
			g->labels = json_object();
		}
		g->interval_ms = sqlite3_column_int64(st, 4);
		g->repeat_ms = sqlite3_column_int64(st, 5);
		g->next_ms = sqlite3_column_int64(st, 6);
		g->last_sent_ms = sqlite3_column_int64(st, 7);
		g->last_firing = group_json_load(
		        (const char *)sqlite3_column_text(st, 8),
		        (size_t)sqlite3_column_bytes(st, 8));
		g->last_resolved = group_json_load(
		        (const char *)sqlite3_column_text(st, 9),
		        (size_t)sqlite3_column_bytes(st, 9));
		g->seq = (uint64_t)sqlite3_column_int64(st, 10);
		group_link(gs, g);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return -1;

	if ((st = group_prepare(gs, "SELECT group_id, alert FROM"
	                            " group_alerts")) == NULL)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		g = group_find(gs, (const char *)sqlite3_column_text(st, 0));
		doc = json_loadb((const char *)sqlite3_column_text(st, 1),
		                 (size_t)sqlite3_column_bytes(st, 1), 0, NULL);
		if (g != NULL && doc != NULL &&
		    notify_alert_from_json(&al, doc) == 0) {
			group_append(g, &al);
			notify_alert_free(&al);
		} else
			log_warnx("alerts.db: an unreadable grouped alert "
			          "skipped");
		json_decref(doc);
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

struct groups *
groups_open(sqlite3 *db, struct outbox *ob, group_mute_fn mute, void *mute_arg)
{
	struct groups *gs = sn_xcalloc(1, sizeof(*gs));
	struct group *g, **pp;

	gs->db = db;
	gs->ob = ob;
	gs->mute = mute;
	gs->mute_arg = mute_arg;
	if (group_exec(gs, group_schema) < 0 || group_load(gs) < 0) {
		groups_free(gs);
		return NULL;
	}
	/* A group that lost all its alerts (a crash mid-flush cannot do
	 * this, but a hand-edited database can) is dropped. */
	for (pp = &gs->list; (g = *pp) != NULL;) {
		if (g->nalerts == 0 && group_delete(gs, g) == 0) {
			*pp = g->next;
			gs->count--;
			group_free(g);
		} else
			pp = &g->next;
	}
	return gs;
}

void
groups_free(struct groups *gs)
{
	struct group *g;

	if (gs == NULL)
		return;
	while ((g = gs->list) != NULL) {
		gs->list = g->next;
		group_free(g);
	}
	free(gs);
}

/* keys ---------------------------------------------------------------- */

/* Appends name, op and the quoted value, Alertmanager's way. */
static void
group_key_pair(struct sn_buf *b, int *first, const char *name, const char *op,
               const char *value)
{
	json_t *q = json_string(value);
	char *s = q ? json_dumps(q, JSON_ENCODE_ANY) : NULL;

	if (s == NULL)
		fatalx("out of memory");
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
	char *key = group_key_of(r, gl);
	struct sn_buf id = {0};
	struct group *g, *fresh = NULL;
	struct notify_alert copy;
	ssize_t i;
	int rc = -1;

	sn_buf_append(&id, t->receiver, strlen(t->receiver));
	sn_buf_append(&id, "\x1f", 1);
	sn_buf_append(&id, key, strlen(key) + 1);
	g = group_find(gs, (const char *)id.data);
	i = g != NULL ? group_alert_index(g, al->fingerprint) : -1;
	if (al->resolved && i < 0) {
		/* never grouped (or already flushed out): nothing to say */
		rc = 0;
		goto done;
	}
	if (g == NULL) {
		g = fresh = sn_xcalloc(1, sizeof(*g));
		g->id = (char *)id.data;
		id.data = NULL;
		g->receiver = sn_xstrdup(t->receiver);
		g->key = key;
		key = NULL;
		g->labels = gl;
		gl = NULL;
		g->next_ms = now_ms + (r != NULL ? r->group_wait_ms
		                                 : SN_DEFAULT_GROUP_WAIT_MS);
		g->last_firing = json_array();
		g->last_resolved = json_array();
	}
	/* the route's timings now; a reload applies from here on */
	g->interval_ms =
	        r != NULL ? r->group_interval_ms : SN_DEFAULT_GROUP_INTERVAL_MS;
	g->repeat_ms = r != NULL ? r->repeat_interval_ms
	                         : SN_DEFAULT_REPEAT_INTERVAL_MS;

	notify_alert_copy(&copy, al);
	/* a resolve keeps the time the alert started firing */
	if (i >= 0 && copy.resolved && !g->alerts[i].resolved)
		copy.starts_ms = g->alerts[i].starts_ms;
	if (group_save(gs, g) < 0 || group_save_alert(gs, g, &copy) < 0) {
		notify_alert_free(&copy);
		if (fresh != NULL)
			group_free(fresh);
		goto done;
	}
	if (i >= 0) {
		notify_alert_free(&g->alerts[i]);
		g->alerts[i] = copy;
	} else {
		group_append(g, &copy);
		notify_alert_free(&copy);
	}
	if (fresh != NULL)
		group_link(gs, fresh);
	rc = 1;
done:
	free(id.data);
	free(key);
	json_decref(gl);
	return rc;
}

/* flushing ------------------------------------------------------------ */

int64_t
groups_next_due(const struct groups *gs)
{
	const struct group *g;
	int64_t due = -1;

	for (g = gs->list; g != NULL; g = g->next)
		if (due < 0 || g->next_ms < due)
			due = g->next_ms;
	return due;
}

/* 1 when the sorted fingerprint array a is in the sorted array b. */
static int
group_subset(const json_t *a, const json_t *b)
{
	size_t i, j = 0, nb = json_array_size(b);

	for (i = 0; i < json_array_size(a); i++) {
		const char *x = json_string_value(json_array_get(a, i));

		while (j < nb &&
		       strcmp(json_string_value(json_array_get(b, j)), x) < 0)
			j++;
		if (j == nb ||
		    strcmp(json_string_value(json_array_get(b, j)), x) != 0)
			return 0;
	}
	return 1;
}

static int
group_cmp_json_str(const void *a, const void *b)
{
	return strcmp(json_string_value(*(json_t *const *)a),
	              json_string_value(*(json_t *const *)b));
}

/* Sorts an array of strings in place. */
static void
group_sort(json_t *arr)
{
	size_t i, n = json_array_size(arr);
	json_t **v = sn_xcalloc(n ? n : 1, sizeof(*v));

	for (i = 0; i < n; i++)
		v[i] = json_incref(json_array_get(arr, i));
	qsort(v, n, sizeof(*v), group_cmp_json_str);
	json_array_clear(arr);
	for (i = 0; i < n; i++)
		json_array_append_new(arr, v[i]);
	free(v);
}

/* 1 when fp is in the array of strings arr. */
static int
group_has(const json_t *arr, const char *fp)
{
	size_t i;

	for (i = 0; i < json_array_size(arr); i++)
		if (strcmp(json_string_value(json_array_get(arr, i)), fp) == 0)
			return 1;
	return 0;
}

/* arr without the fingerprints in drop.  New reference. */
static json_t *
group_without(const json_t *arr, const json_t *drop)
{
	json_t *out = json_array();
	size_t i;

	for (i = 0; i < json_array_size(arr); i++) {
		json_t *v = json_array_get(arr, i);

		if (!group_has(drop, json_string_value(v)))
			json_array_append(out, v);
	}
	return out;
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

/* Asks the mute function about each alert; logs changes. */
static void
group_mute_pass(struct groups *gs, struct group *g, int64_t now,
                unsigned char *muted)
{
	const char *why;
	size_t i;

	for (i = 0; i < g->nalerts; i++) {
		why = NULL;
		if (!g->alerts[i].resolved && gs->mute != NULL)
			why = gs->mute(g->alerts[i].labels,
			               g->alerts[i].fingerprint, now,
			               gs->mute_arg);
		muted[i] = why != NULL;
		if (muted[i] != g->muted[i])
			log_info("alert %s (%s) for %s: %s",
			         g->alerts[i].fingerprint,
			         alert_label(g->alerts[i].labels, "alertname"),
			         g->receiver, why != NULL ? why : "unmuted");
	}
}

/*
 * Flushes group g: decides, queues the notification if any, and writes
 * the group's new state, all in one transaction; then updates memory.
 * 1 when a notification was queued, 0 when not, -1 on a storage error.
 * *gone is set when the group was deleted (and freed).
 */
static int
group_flush_one(struct groups *gs, struct group *g, const struct sn_alerts *al,
                int64_t now, int *gone)
{
	const struct sn_receiver *rc = group_receiver(al, g->receiver);
	unsigned char *muted = sn_xcalloc(g->nalerts + 1, 1);
	json_t *firing = json_array(), *resolved = json_array();
	json_t *dropped = json_array(), *new_firing = NULL;
	struct notification n;
	char id[NOTIFY_ID_LEN + 1], *payload = NULL;
	size_t i, nmuted = 0;
	int send = 0, send_resolved, ok = 1, queued = 0;
	json_t *doc;

	*gone = 0;
	if (rc == NULL) {
		/* the receiver left alerts.yaml: its groups go with it */
		log_warnx("group %s: receiver %s is no longer configured; "
		          "its %zu alerts are dropped",
		          g->key, g->receiver, g->nalerts);
		ok = groups_begin(gs) == 0 && group_delete(gs, g) == 0;
		if (groups_end(gs, ok) < 0)
			goto fail;
		group_unlink(gs, g);
		group_free(g);
		*gone = 1;
		goto out;
	}
	send_resolved = rc->send_resolved;
	group_mute_pass(gs, g, now, muted);
	for (i = 0; i < g->nalerts; i++) {
		const char *fp = g->alerts[i].fingerprint;

		if (g->alerts[i].resolved) {
			json_array_append_new(dropped, json_string(fp));
			if (group_has(g->last_firing, fp))
				json_array_append_new(resolved,
				                      json_string(fp));
		} else if (muted[i])
			nmuted++;
		else
			json_array_append_new(firing, json_string(fp));
	}
	group_sort(firing);
	group_sort(resolved);

	/* Alertmanager's rules (its notification log's needsUpdate). */
	if (g->last_sent_ms == 0)
		send = json_array_size(firing) > 0;
	else if (!group_subset(firing, g->last_firing))
		send = 1;
	else if (json_array_size(firing) == 0)
		send = send_resolved && json_array_size(resolved) > 0;
	else if (send_resolved && !group_subset(resolved, g->last_resolved))
		send = 1;
	else
		send = now - g->last_sent_ms >= g->repeat_ms;

	if (send) {
		notify_init(&n, g->receiver, g->key, g->labels,
		            al->external_url);
		n.seq = g->seq + 1;
		for (i = 0; i < g->nalerts; i++) {
			const struct notify_alert *a = &g->alerts[i];

			if ((!a->resolved && !muted[i]) ||
			    (a->resolved && send_resolved &&
			     group_has(resolved, a->fingerprint)))
				notify_add_alert(&n, a);
		}
		notify_id(&n, id);
		doc = notify_to_json(&n);
		payload = json_dumps(doc, JSON_COMPACT);
		json_decref(doc);
		if (payload == NULL)
			fatalx("out of memory");
		new_firing = json_deep_copy(firing);
	} else if (json_array_size(firing) == 0 && nmuted == 0) {
		/* everything announced is gone, unannounced: start over */
		new_firing = json_array();
	} else
		/* resolved alerts leave the log as they leave the group */
		new_firing = group_without(g->last_firing, dropped);

	/*
	 * Nothing to say and nothing changed: the next tick, in memory
	 * only (after a restart the group is merely looked at early).
	 */
	if (!send && json_array_size(dropped) == 0 &&
	    json_equal(new_firing, g->last_firing)) {
		g->next_ms = now + g->interval_ms;
		memcpy(g->muted, muted, g->nalerts);
		goto out;
	}

	/* The transaction: the outbox row, the group's state, its alerts. */
	if (groups_begin(gs) < 0)
		goto fail;
	if (send && outbox_enqueue(gs->ob, id, g->receiver, payload, now) < 0)
		ok = 0;
	for (i = 0; ok && i < json_array_size(dropped); i++)
		if (group_delete_alert(
		            gs, g,
		            json_string_value(json_array_get(dropped, i))) < 0)
			ok = 0;
	if (ok) {
		struct group next = *g;

		next.next_ms = now + g->interval_ms;
		if (send) {
			next.last_sent_ms = now;
			next.seq = g->seq + 1;
			next.last_resolved =
			        send_resolved ? resolved : json_array();
		}
		next.last_firing = new_firing;
		if (g->nalerts == json_array_size(dropped))
			ok = group_delete(gs, g) == 0;
		else
			ok = group_save(gs, &next) == 0;
		if (send && !send_resolved)
			json_decref(next.last_resolved);
	}
	if (groups_end(gs, ok) < 0)
		goto fail;

	/* Committed: memory follows. */
	if (send) {
		log_info("group %s for %s: notification %s queued (%zu "
		         "firing, %zu resolved, %zu muted, flush %llu)",
		         g->key, g->receiver, id, json_array_size(firing),
		         send_resolved ? json_array_size(resolved) : 0, nmuted,
		         (unsigned long long)(g->seq + 1));
		notify_free(&n);
		g->last_sent_ms = now;
		g->seq++;
		json_decref(g->last_resolved);
		g->last_resolved =
		        send_resolved ? json_incref(resolved) : json_array();
		queued = 1;
	}
	json_decref(g->last_firing);
	g->last_firing = new_firing;
	new_firing = NULL;
	g->next_ms = now + g->interval_ms;
	memcpy(g->muted, muted, g->nalerts);
	for (i = g->nalerts; i-- > 0;)
		if (g->alerts[i].resolved)
			group_remove(g, i);
	if (g->nalerts == 0) {
		group_unlink(gs, g);
		group_free(g);
		*gone = 1;
	}
	goto out;
fail:
	if (send && payload != NULL)
		notify_free(&n);
	queued = -1;
out:
	free(payload);
	free(muted);
	json_decref(new_firing);
	json_decref(firing);
	json_decref(resolved);
	json_decref(dropped);
	return queued;
}

int
groups_flush(struct groups *gs, const struct sn_alerts *al, int64_t now_ms)
{
	struct group *g, *next;
	int n = 0, rc, gone, failed = 0;

	for (g = gs->list; g != NULL; g = next) {
		next = g->next;
		if (g->next_ms > now_ms)
			continue;
		rc = group_flush_one(gs, g, al, now_ms, &gone);
		if (rc < 0)
			failed = 1;
		else
			n += rc;
	}
	return failed ? -1 : n;
}

size_t
groups_count(const struct groups *gs)
{
	return gs != NULL ? gs->count : 0;
}

json_t *
groups_json(const struct groups *gs)
{
	const struct group *g;
	json_t *arr = json_array(), *alerts;
	size_t i;

	if (arr == NULL)
		fatalx("out of memory");
	for (g = gs->list; g != NULL; g = g->next) {
		if ((alerts = json_array()) == NULL)
			fatalx("out of memory");
		for (i = 0; i < g->nalerts; i++) {
			const struct notify_alert *a = &g->alerts[i];

			json_array_append_new(
			        alerts,
			        json_pack("{s:s, s:O, s:s, s:I, s:b}",
			                  "fingerprint", a->fingerprint,
			                  "labels", a->labels, "status",
			                  a->resolved ? "resolved" : "firing",
			                  "starts_ms", (json_int_t)a->starts_ms,
			                  "muted", g->muted[i]));
		}
		json_array_append_new(
		        arr,
		        json_pack("{s:s, s:s, s:O, s:I, s:o, s:I, s:o}",
		                  "receiver", g->receiver, "group_key", g->key,
		                  "group_labels", g->labels, "next_flush_ms",
		                  (json_int_t)g->next_ms, "last_sent_ms",
		                  g->last_sent_ms
		                          ? json_integer(g->last_sent_ms)
		                          : json_null(),
		                  "notifications", (json_int_t)g->seq, "alerts",
		                  alerts));
	}
	return arr;
}
