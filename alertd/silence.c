/*
 * silence.c: silences (see silence.h).
 *
 * Every silence lives twice: a row of the table `silences` in alerts.db,
 * written by one statement per add or expire so it survives a restart,
 * and an entry of an array in memory, loaded at open, which is all that
 * silences_muting reads: it runs for every alert at every group flush
 * and must not wait on the disk.  Matchers are stored as JSON text, an
 * array of {"name","op","value"} objects, and compiled again on load.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sqlite3.h>

#include "alertd.h"
#include "alertdb.h"
#include "log.h"
#include "relimit.h"
#include "silence.h"
#include "util.h"

/* One silence.  Strings and matchers are owned by it. */
struct silence {
	char id[SILENCE_ID_LEN + 1];
	struct silence_matcher *m; /* n matchers, all must match */
	size_t n;
	int64_t starts_ms;  /* active from here ... */
	int64_t ends_ms;    /* ... until just before here */
	int64_t created_ms; /* when it was added, for the order of lists */
	char *created_by;   /* NULL: not given */
	char *comment;      /* NULL: not given */
};

struct silences {
	sqlite3 *db; /* the outbox's handle, borrowed */
	struct silence *v;
	size_t n, cap; /* v holds n, oldest first; room for cap */
};

/*
 * updated_ms is the last add or expire, for whoever reads the table by
 * hand; the rest mirrors struct silence.
 */
static const char silence_schema[] = "CREATE TABLE IF NOT EXISTS silences ("
                                     " id TEXT PRIMARY KEY,"
                                     " matchers TEXT NOT NULL,"
                                     " starts_ms INTEGER NOT NULL,"
                                     " ends_ms INTEGER NOT NULL,"
                                     " created_ms INTEGER NOT NULL,"
                                     " updated_ms INTEGER NOT NULL,"
                                     " created_by TEXT,"
                                     " comment TEXT);";

/* The operators as written, indexed by enum silence_op. */
static const char *const silence_op_text[] = {"=", "!=", "=~", "!~"};

static void silence_err(char *err, size_t errlen, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/* Writes the reason for the user into err, when there is room. */
static void
silence_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static int
silence_name_ok(const char *name, size_t len)
{
	size_t i;

	if (len == 0 || (name[0] >= '0' && name[0] <= '9'))
		return 0;
	for (i = 0; i < len; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '_'))
			return 0;
	}
	return 1;
}

/*
 * Finds the operator of text: the first '=' or "!=" / "!~" (a '!' not
 * followed by '=' or '~' is part of the name, which makes it invalid).
 * Its offset into *at and its length into *oplen; -1 when there is none.
 */
static int
silence_find_op(const char *text, size_t *at, size_t *oplen,
                enum silence_op *op)
{
	const char *p;

	for (p = text; *p != '\0'; p++) {
		if (p[0] == '=') {
			*op = p[1] == '~' ? SILENCE_RE : SILENCE_EQ;
			*oplen = p[1] == '~' ? 2 : 1;
		} else if (p[0] == '!' && (p[1] == '=' || p[1] == '~')) {
			*op = p[1] == '~' ? SILENCE_NRE : SILENCE_NE;
			*oplen = 2;
		} else
			continue;
		*at = (size_t)(p - text);
		return 0;
	}
	return -1;
}

int
silence_matcher_parse(const char *text, struct silence_matcher *m, char *err,
                      size_t errlen)
{
	struct silence_matcher tmp;
	size_t len, at, oplen;
	char *pattern, why[160];
	int rc;

	memset(m, 0, sizeof(*m));
	memset(&tmp, 0, sizeof(tmp));
	if (text == NULL) {
		silence_err(err, errlen, "no matcher");
		return -1;
	}
	if ((len = strlen(text)) > SILENCE_MAX_TEXT) {
		silence_err(err, errlen, "longer than %d bytes",
		            SILENCE_MAX_TEXT);
		return -1;
	}
	if (silence_find_op(text, &at, &oplen, &tmp.op) < 0) {
		silence_err(err, errlen,
		            "no operator (name=value, name!=value, "
		            "name=~regex or name!~regex)");
		return -1;
	}
	if (at == 0) {
		silence_err(err, errlen, "empty label name");
		return -1;
	}
	if (!silence_name_ok(text, at)) {
		silence_err(err, errlen,
		            "invalid label name \"%.*s\" (letters, digits and "
		            "_, not starting with a digit)",
		            at > 64 ? 64 : (int)at, text);
		return -1;
	}
	if ((tmp.name = strndup(text, at)) == NULL ||
	    (tmp.value = strdup(text + at + oplen)) == NULL)
		fatalx("out of memory");
	if (tmp.op == SILENCE_RE || tmp.op == SILENCE_NRE) {
		/* anchored as Alertmanager does: the whole value matches */
		pattern = sn_xmalloc(strlen(tmp.value) + 5);
		sprintf(pattern, "^(%s)$", tmp.value);
		rc = sn_regcomp(&tmp.re, pattern, REG_EXTENDED | REG_NOSUB);
		free(pattern);
		if (rc != 0) {
			regerror(rc, &tmp.re, why, sizeof(why));
			silence_err(err, errlen,
			            "bad regular expression \"%.64s\": %s",
			            tmp.value, why);
			free(tmp.name);
			free(tmp.value);
			return -1;
		}
	}
	*m = tmp;
	return 0;
}

void
silence_matcher_free(struct silence_matcher *m)
{
	if (m == NULL || m->name == NULL)
		return;
	if (m->op == SILENCE_RE || m->op == SILENCE_NRE)
		regfree(&m->re);
	free(m->name);
	free(m->value);
	memset(m, 0, sizeof(*m));
}

char *
silence_matcher_text(const struct silence_matcher *m)
{
	const char *op = silence_op_text[m->op];
	size_t n = strlen(m->name) + strlen(op) + strlen(m->value) + 1;
	char *s = sn_xmalloc(n);

	snprintf(s, n, "%s%s%s", m->name, op, m->value);
	return s;
}

/* Whether the alert's value for m's label satisfies m. */
static int
silence_matcher_match(const struct silence_matcher *m, const json_t *labels)
{
	const char *v = alert_label(labels, m->name);

	switch (m->op) {
	case SILENCE_EQ:
		return strcmp(v, m->value) == 0;
	case SILENCE_NE:
		return strcmp(v, m->value) != 0;
	case SILENCE_RE:
		return regexec(&m->re, v, 0, NULL, 0) == 0;
	case SILENCE_NRE:
		return regexec(&m->re, v, 0, NULL, 0) != 0;
	}
	return 0;
}

static void
silence_free(struct silence *sl)
{
	size_t i;

	for (i = 0; i < sl->n; i++)
		silence_matcher_free(&sl->m[i]);
	free(sl->m);
	free(sl->created_by);
	free(sl->comment);
	memset(sl, 0, sizeof(*sl));
}

static const char *
silence_state(const struct silence *sl, int64_t now_ms)
{
	if (now_ms < sl->starts_ms)
		return "pending";
	if (now_ms < sl->ends_ms)
		return "active";
	return "expired";
}

static int
silence_is_active(const struct silence *sl, int64_t now_ms)
{
	return sl->starts_ms <= now_ms && now_ms < sl->ends_ms;
}

/* Appends sl (taken over) to the array. */
static void
silences_push(struct silences *s, struct silence *sl)
{
	struct silence *v;
	size_t cap;

	if (s->n == s->cap) {
		cap = s->cap ? s->cap * 2 : 16;
		if ((v = reallocarray(s->v, cap, sizeof(*v))) == NULL)
			fatalx("out of memory");
		s->v = v;
		s->cap = cap;
	}
	s->v[s->n++] = *sl;
	memset(sl, 0, sizeof(*sl));
}

static char *
silence_dup_or_null(const char *p)
{
	return p != NULL ? sn_xstrdup(p) : NULL;
}

/* The matchers as stored: [{"name","op","value"}, ...]; caller frees. */
static char *
silence_matchers_dump(const struct silence *sl)
{
	json_t *arr = json_array(), *o;
	char *text;
	size_t i;

	if (arr == NULL)
		fatalx("out of memory");
	for (i = 0; i < sl->n; i++) {
		o = json_pack("{s:s, s:s, s:s}", "name", sl->m[i].name, "op",
		              silence_op_text[sl->m[i].op], "value",
		              sl->m[i].value);
		if (o == NULL || json_array_append_new(arr, o) < 0)
			fatalx("out of memory");
	}
	if ((text = json_dumps(arr, JSON_COMPACT)) == NULL)
		fatalx("out of memory");
	json_decref(arr);
	return text;
}

/*
 * Compiles the stored matchers of a row into sl.  0, or -1 with the
 * reason in err when the text is not what silence_matchers_dump wrote.
 */
static int
silence_matchers_load(struct silence *sl, const char *text, char *err,
                      size_t errlen)
{
	json_error_t jerr;
	json_t *arr = json_loads(text, 0, &jerr), *o;
	const char *name, *op, *value;
	char *m;
	size_t i, len;
	int rc = -1;

	if (!json_is_array(arr) || json_array_size(arr) == 0 ||
	    json_array_size(arr) > SILENCE_MAX_MATCHERS) {
		silence_err(err, errlen, "matchers are not a JSON array");
		goto out;
	}
	sl->m = sn_xcalloc(json_array_size(arr), sizeof(*sl->m));
	json_array_foreach(arr, i, o)
	{
		name = json_string_value(json_object_get(o, "name"));
		op = json_string_value(json_object_get(o, "op"));
		value = json_string_value(json_object_get(o, "value"));
		if (name == NULL || op == NULL || value == NULL) {
			silence_err(err, errlen, "matcher %zu is malformed", i);
			goto out;
		}
		/* Parsed again from text, so what is loaded is checked as
		 * what is added.  The name cannot hold an operator. */
		len = strlen(name) + strlen(op) + strlen(value) + 1;
		m = sn_xmalloc(len);
		snprintf(m, len, "%s%s%s", name, op, value);
		if (silence_matcher_parse(m, &sl->m[sl->n], err, errlen) < 0 ||
		    strcmp(silence_op_text[sl->m[sl->n].op], op) != 0) {
			silence_matcher_free(&sl->m[sl->n]);
			free(m);
			goto out;
		}
		free(m);
		sl->n++;
	}
	rc = 0;
out:
	json_decref(arr);
	return rc;
}

static const char *
silence_col(sqlite3_stmt *st, int col)
{
	return (const char *)sqlite3_column_text(st, col);
}

/* Loads every row into s; 0 or -1 (logged). */
static int
silences_load(struct silences *s)
{
	sqlite3_stmt *st = NULL;
	struct silence sl;
	const char *id, *matchers;
	char why[200];
	int rc;

	if ((st = adb_prepare(s->db, "silences",
	                      "SELECT id, matchers, starts_ms, ends_ms,"
	                      " created_ms, created_by, comment FROM silences"
	                      " ORDER BY created_ms, rowid")) == NULL)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		memset(&sl, 0, sizeof(sl));
		id = silence_col(st, 0);
		matchers = silence_col(st, 1);
		if (id == NULL || strlen(id) != SILENCE_ID_LEN ||
		    matchers == NULL) {
			log_warnx("silences: skipping a malformed row");
			continue;
		}
		if (silence_matchers_load(&sl, matchers, why, sizeof(why)) <
		    0) {
			/* A row we cannot use mutes nothing; say so, keep
			 * going: alertd must start. */
			log_warnx("silence %s: skipped: %s", id, why);
			silence_free(&sl);
			continue;
		}
		memcpy(sl.id, id, SILENCE_ID_LEN + 1);
		sl.starts_ms = sqlite3_column_int64(st, 2);
		sl.ends_ms = sqlite3_column_int64(st, 3);
		sl.created_ms = sqlite3_column_int64(st, 4);
		sl.created_by = silence_dup_or_null(silence_col(st, 5));
		sl.comment = silence_dup_or_null(silence_col(st, 6));
		silences_push(s, &sl);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		log_warnx("silences: %s", sqlite3_errmsg(s->db));
		return -1;
	}
	return 0;
}

struct silences *
silences_open(sqlite3 *db, int64_t now_ms)
{
	struct silences *s = sn_xcalloc(1, sizeof(*s));
	sqlite3_stmt *st;
	int pruned;

	s->db = db;
	if (adb_exec(db, "silences", silence_schema) < 0 ||
	    (st = adb_prepare(db, "silences",
	                      "DELETE FROM silences WHERE ends_ms < ?")) ==
	            NULL)
		goto fail;
	sqlite3_bind_int64(st, 1, now_ms - SILENCE_KEEP_MS);
	if ((pruned = adb_done(db, "silences", st)) < 0)
		goto fail;
	if (pruned > 0)
		log_info("%d silences deleted: expired more than %lld days "
		         "ago",
		         pruned, (long long)(SILENCE_KEEP_MS / 86400000));
	if (silences_load(s) < 0)
		goto fail;
	return s;
fail:
	silences_free(s);
	return NULL;
}

void
silences_free(struct silences *s)
{
	size_t i;

	if (s == NULL)
		return;
	for (i = 0; i < s->n; i++)
		silence_free(&s->v[i]);
	free(s->v);
	free(s);
}

/* 16 random bytes as 32 hex digits into id.  0, or -1 (logged). */
static int
silence_new_id(char *id)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char b[SILENCE_ID_LEN / 2];
	int i;

	if (sn_random_bytes(b, sizeof(b)) < 0) {
		log_warn("silences: cannot read random bytes");
		return -1;
	}
	for (i = 0; i < (int)sizeof(b); i++) {
		id[2 * i] = hex[b[i] >> 4];
		id[2 * i + 1] = hex[b[i] & 15];
	}
	id[SILENCE_ID_LEN] = '\0';
	return 0;
}

int
silences_add(struct silences *s, struct silence_matcher *m, size_t n,
             int64_t starts_ms, int64_t ends_ms, const char *comment,
             const char *created_by, int64_t now_ms, char *id)
{
	struct silence sl;
	sqlite3_stmt *st = NULL;
	char *matchers;
	size_t i;
	int rc;

	memset(&sl, 0, sizeof(sl));
	/* Take the matchers over first, so every way out frees them. */
	if (n > 0 && n <= SILENCE_MAX_MATCHERS) {
		sl.m = sn_xcalloc(n, sizeof(*sl.m));
		for (i = 0; i < n; i++) {
			sl.m[i] = m[i];
			memset(&m[i], 0, sizeof(m[i]));
		}
		sl.n = n;
	} else {
		for (i = 0; i < n; i++)
			silence_matcher_free(&m[i]);
		log_warnx("silences: %zu matchers (1 to %d allowed)", n,
		          SILENCE_MAX_MATCHERS);
		return -1;
	}
	if (ends_ms <= starts_ms) {
		log_warnx("silences: ends before it starts");
		silence_free(&sl);
		return -1;
	}
	if (silence_new_id(sl.id) < 0) {
		silence_free(&sl);
		return -1;
	}
	sl.starts_ms = starts_ms;
	sl.ends_ms = ends_ms;
	sl.created_ms = now_ms;
	sl.created_by = silence_dup_or_null(created_by);
	sl.comment = silence_dup_or_null(comment);

	matchers = silence_matchers_dump(&sl);
	if ((st = adb_prepare(s->db, "silences",
	                      "INSERT INTO silences (id, matchers, starts_ms,"
	                      " ends_ms, created_ms, updated_ms, created_by,"
	                      " comment) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")) ==
	    NULL) {
		free(matchers);
		silence_free(&sl);
		return -1;
	}
	sqlite3_bind_text(st, 1, sl.id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, matchers, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, sl.starts_ms);
	sqlite3_bind_int64(st, 4, sl.ends_ms);
	sqlite3_bind_int64(st, 5, now_ms);
	sqlite3_bind_int64(st, 6, now_ms);
	if (sl.created_by != NULL)
		sqlite3_bind_text(st, 7, sl.created_by, -1, SQLITE_STATIC);
	if (sl.comment != NULL)
		sqlite3_bind_text(st, 8, sl.comment, -1, SQLITE_STATIC);
	rc = adb_done(s->db, "silences", st);
	free(matchers);
	if (rc < 0) {
		silence_free(&sl);
		return -1;
	}
	memcpy(id, sl.id, SILENCE_ID_LEN + 1);
	silences_push(s, &sl);
	return 0;
}

static struct silence *
silences_find(struct silences *s, const char *id)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (strcmp(s->v[i].id, id) == 0)
			return &s->v[i];
	return NULL;
}

int
silences_expire(struct silences *s, const char *id, int64_t now_ms)
{
	struct silence *sl = silences_find(s, id);
	sqlite3_stmt *st = NULL;
	int64_t starts;

	if (sl == NULL || sl->ends_ms <= now_ms)
		return 0;
	/* A pending silence ends before it began: it never mutes. */
	starts = sl->starts_ms < now_ms ? sl->starts_ms : now_ms;
	if ((st = adb_prepare(s->db, "silences",
	                      "UPDATE silences SET starts_ms = ?, ends_ms = ?,"
	                      " updated_ms = ? WHERE id = ?")) == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, starts);
	sqlite3_bind_int64(st, 2, now_ms);
	sqlite3_bind_int64(st, 3, now_ms);
	sqlite3_bind_text(st, 4, sl->id, -1, SQLITE_STATIC);
	if (adb_done(s->db, "silences", st) < 0)
		return -1;
	sl->starts_ms = starts;
	sl->ends_ms = now_ms;
	return 1;
}

const char *
silences_muting(const struct silences *s, const json_t *labels, int64_t now_ms)
{
	const struct silence *sl;
	size_t i, k;

	for (i = 0; i < s->n; i++) {
		sl = &s->v[i];
		if (!silence_is_active(sl, now_ms))
			continue;
		for (k = 0; k < sl->n; k++)
			if (!silence_matcher_match(&sl->m[k], labels))
				break;
		if (k == sl->n)
			return sl->id;
	}
	return NULL;
}

size_t
silences_active(const struct silences *s, int64_t now_ms)
{
	size_t i, n = 0;

	for (i = 0; i < s->n; i++)
		if (silence_is_active(&s->v[i], now_ms))
			n++;
	return n;
}

int64_t
silences_next_change(const struct silences *s, int64_t now_ms)
{
	int64_t next = -1;
	size_t i;

	for (i = 0; i < s->n; i++) {
		int64_t t = s->v[i].starts_ms > now_ms ? s->v[i].starts_ms
		                                       : s->v[i].ends_ms;

		if (t > now_ms && (next < 0 || t < next))
			next = t;
	}
	return next;
}

static json_t *
silence_json(const struct silence *sl, int64_t now_ms)
{
	json_t *arr = json_array(), *o;
	char *text;
	size_t i;

	if (arr == NULL)
		fatalx("out of memory");
	for (i = 0; i < sl->n; i++) {
		text = silence_matcher_text(&sl->m[i]);
		if (json_array_append_new(arr, json_string(text)) < 0)
			fatalx("out of memory");
		free(text);
	}
	o = json_pack(
	        "{s:s, s:o, s:I, s:I, s:I, s:o, s:o, s:s}", "id", sl->id,
	        "matchers", arr, "starts_ms", (json_int_t)sl->starts_ms,
	        "ends_ms", (json_int_t)sl->ends_ms, "created_ms",
	        (json_int_t)sl->created_ms, "created_by",
	        sl->created_by ? json_string(sl->created_by) : json_null(),
	        "comment", sl->comment ? json_string(sl->comment) : json_null(),
	        "state", silence_state(sl, now_ms));
	if (o == NULL)
		fatalx("out of memory");
	return o;
}

json_t *
silences_json(const struct silences *s, int64_t now_ms, int all)
{
	json_t *arr = json_array();
	const struct silence *sl;
	size_t i;

	if (arr == NULL)
		fatalx("out of memory");
	/* v is oldest first (created_ms, then order of adding) */
	for (i = s->n; i-- > 0;) {
		sl = &s->v[i];
		if (sl->ends_ms <= now_ms &&
		    (!all || sl->ends_ms < now_ms - SILENCE_KEEP_MS))
			continue;
		if (json_array_append_new(arr, silence_json(sl, now_ms)) < 0)
			fatalx("out of memory");
	}
	return arr;
}
