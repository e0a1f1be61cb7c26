/*
 * test_silence.c: silences parse the four matcher operators and refuse
 * what is not a matcher; regular expressions match whole values; a
 * missing label counts as ""; a silence mutes only while active and
 * expires by itself or early; silences survive close and reopen of the
 * database, and those expired more than SILENCE_KEEP_MS ago are deleted
 * on open; silences_json lists them newest first with their state.
 * Time is a fake clock.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <sqlite3.h>

#include "../../alertd/silence.h"

#define T0     1767323045000LL
#define MINUTE (60 * 1000LL)
#define HOUR   (60 * MINUTE)

struct fixture {
	char dir[64];
	char path[128];
	sqlite3 *db;
	struct silences *s;
};

static sqlite3 *
open_db(const char *path)
{
	sqlite3 *db = NULL;

	if (sqlite3_open_v2(path, &db,
	                    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
	                    NULL) != SQLITE_OK ||
	    sqlite3_exec(db, "PRAGMA journal_mode=WAL;", NULL, NULL, NULL) !=
	            SQLITE_OK) {
		sqlite3_close(db);
		return NULL;
	}
	return db;
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_silence.XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/alerts.db", f->dir);
	if ((f->db = open_db(f->path)) == NULL)
		return -1;
	if ((f->s = silences_open(f->db, T0)) == NULL)
		return -1;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	char p[160];

	silences_free(f->s);
	sqlite3_close(f->db);
	unlink(f->path);
	snprintf(p, sizeof(p), "%s-wal", f->path);
	unlink(p);
	snprintf(p, sizeof(p), "%s-shm", f->path);
	unlink(p);
	rmdir(f->dir);
	free(f);
	return 0;
}

/* Closes the set and the database and opens both again at now. */
static void
reopen(struct fixture *f, int64_t now)
{
	silences_free(f->s);
	sqlite3_close(f->db);
	f->db = open_db(f->path);
	assert_non_null(f->db);
	f->s = silences_open(f->db, now);
	assert_non_null(f->s);
}

/* Adds a silence of the matchers texts (NULL-terminated) from starts to
 * ends at now; asserts it worked and copies its id into id. */
static void
add(struct fixture *f, const char *const *texts, int64_t starts, int64_t ends,
    int64_t now, char *id)
{
	struct silence_matcher m[SILENCE_MAX_MATCHERS];
	char err[256];
	size_t n;

	for (n = 0; texts[n] != NULL; n++)
		assert_int_equal(silence_matcher_parse(texts[n], &m[n], err,
		                                       sizeof(err)),
		                 0);
	assert_int_equal(silences_add(f->s, m, n, starts, ends, "maintenance",
	                              "alice", now, id),
	                 0);
}

/* Labels of an alert as alertd builds them. */
static json_t *
labels(const char *alertname, const char *severity, const char *model)
{
	json_t *l =
	        json_pack("{s:s, s:s, s:s, s:s, s:s}", "alertname", alertname,
	                  "severity", severity, "detector", "lat-1",
	                  "application_id", "chat", "model", model);

	assert_non_null(l);
	return l;
}

/* Whether an active silence mutes an alert of these labels at now. */
static int
muted(struct fixture *f, json_t *l, int64_t now)
{
	return silences_muting(f->s, l, now) != NULL;
}

static void
expect_parse(const char *text, const char *name, enum silence_op op,
             const char *value)
{
	struct silence_matcher m;
	char err[256] = "", *back;

	assert_int_equal(silence_matcher_parse(text, &m, err, sizeof(err)), 0);
	assert_string_equal(m.name, name);
	assert_int_equal(m.op, op);
	assert_string_equal(m.value, value);
	back = silence_matcher_text(&m);
	assert_string_equal(back, text);
	free(back);
	silence_matcher_free(&m);
	assert_null(m.name);
}

static void
test_parse_operators(void **state)
{
	(void)state;
	expect_parse("severity=critical", "severity", SILENCE_EQ, "critical");
	expect_parse("severity!=info", "severity", SILENCE_NE, "info");
	expect_parse("model=~gpt-4.*", "model", SILENCE_RE, "gpt-4.*");
	expect_parse("model!~claude-.*", "model", SILENCE_NRE, "claude-.*");
	/* the first operator splits; the rest is the value */
	expect_parse("team==a=b", "team", SILENCE_EQ, "=a=b");
	expect_parse("msg!=x!=y", "msg", SILENCE_NE, "x!=y");
	/* an empty value: the label is absent or "" */
	expect_parse("team=", "team", SILENCE_EQ, "");
	expect_parse("_x9=1", "_x9", SILENCE_EQ, "1");
}

/* parse fails with a reason containing want, and leaves m empty. */
static void
expect_refused(const char *text, const char *want)
{
	struct silence_matcher m;
	char err[256] = "";

	memset(&m, 0x5a, sizeof(m));
	assert_int_equal(silence_matcher_parse(text, &m, err, sizeof(err)), -1);
	if (strstr(err, want) == NULL)
		fail_msg("\"%s\": reason \"%s\" lacks \"%s\"", text, err, want);
	assert_null(m.name);
	silence_matcher_free(&m); /* harmless on a refused matcher */
}

static void
test_parse_errors(void **state)
{
	char long_text[SILENCE_MAX_TEXT + 2];
	struct silence_matcher m;

	(void)state;
	expect_refused("severity", "no operator");
	expect_refused("", "no operator");
	expect_refused("severity critical", "no operator");
	expect_refused("a!b", "no operator");
	expect_refused("=critical", "empty label name");
	expect_refused("!=x", "empty label name");
	expect_refused("=~x", "empty label name");
	expect_refused("1abc=x", "invalid label name \"1abc\"");
	expect_refused("my label=x", "invalid label name \"my label\"");
	expect_refused("a-b=x", "invalid label name \"a-b\"");
	expect_refused("a!b=x", "invalid label name \"a!b\"");
	expect_refused("model=~gpt-(4", "bad regular expression \"gpt-(4\"");
	expect_refused("model!~[a-", "bad regular expression");
	expect_refused(NULL, "no matcher");

	/* SILENCE_MAX_TEXT bytes are fine, one more is not */
	memset(long_text, 'v', sizeof(long_text));
	memcpy(long_text, "a=", 2);
	long_text[SILENCE_MAX_TEXT] = '\0';
	assert_int_equal(silence_matcher_parse(long_text, &m, NULL, 0), 0);
	silence_matcher_free(&m);
	long_text[SILENCE_MAX_TEXT] = 'v';
	long_text[SILENCE_MAX_TEXT + 1] = '\0';
	expect_refused(long_text, "longer than 1024 bytes");
}

static void
test_regex_whole_value(void **state)
{
	struct fixture *f = *state;
	const char *exact[] = {"model=~gpt-4", NULL};
	const char *prefix[] = {"model=~gpt-4.*", NULL};
	const char *nre[] = {"model!~gpt-.*", NULL};
	json_t *l4 = labels("lat", "warning", "gpt-4");
	json_t *l4o = labels("lat", "warning", "gpt-4o");
	json_t *lx = labels("lat", "warning", "xgpt-4");
	json_t *lc = labels("lat", "warning", "claude-3");
	char id1[SILENCE_ID_LEN + 1], id2[SILENCE_ID_LEN + 1];
	char id3[SILENCE_ID_LEN + 1];

	add(f, exact, T0, T0 + HOUR, T0, id1);
	assert_string_equal(silences_muting(f->s, l4, T0), id1);
	assert_false(muted(f, l4o, T0)); /* not a substring search */
	assert_false(muted(f, lx, T0));
	assert_false(muted(f, lc, T0));

	assert_int_equal(silences_expire(f->s, id1, T0 + 1), 1);
	add(f, prefix, T0, T0 + HOUR, T0 + 1, id2);
	assert_string_equal(silences_muting(f->s, l4o, T0 + 2), id2);
	assert_string_equal(silences_muting(f->s, l4, T0 + 2), id2);
	assert_false(muted(f, lx, T0 + 2)); /* anchored at the start */

	assert_int_equal(silences_expire(f->s, id2, T0 + 3), 1);
	add(f, nre, T0, T0 + HOUR, T0 + 3, id3);
	assert_string_equal(silences_muting(f->s, lc, T0 + 4), id3);
	assert_string_equal(silences_muting(f->s, lx, T0 + 4), id3);
	assert_false(muted(f, l4, T0 + 4));
	json_decref(l4);
	json_decref(l4o);
	json_decref(lx);
	json_decref(lc);
}

static void
test_missing_label_is_empty(void **state)
{
	struct fixture *f = *state;
	const char *eq_empty[] = {"team=", NULL};
	const char *ne[] = {"team!=ops", NULL};
	const char *eq[] = {"team=ops", NULL};
	const char *re_empty[] = {"team=~x|", NULL};
	json_t *l = labels("lat", "warning", "gpt-4"), *lops;
	char id[SILENCE_ID_LEN + 1];

	lops = json_deep_copy(l);
	json_object_set_new(lops, "team", json_string("ops"));

	add(f, eq, T0, T0 + HOUR, T0, id);
	assert_false(muted(f, l, T0));
	assert_true(muted(f, lops, T0));
	assert_int_equal(silences_expire(f->s, id, T0), 1);

	add(f, eq_empty, T0, T0 + HOUR, T0, id);
	assert_true(muted(f, l, T0));
	assert_false(muted(f, lops, T0));
	assert_int_equal(silences_expire(f->s, id, T0), 1);

	add(f, ne, T0, T0 + HOUR, T0, id);
	assert_true(muted(f, l, T0));
	assert_false(muted(f, lops, T0));
	assert_int_equal(silences_expire(f->s, id, T0), 1);

	add(f, re_empty, T0, T0 + HOUR, T0, id);
	assert_true(muted(f, l, T0));
	assert_false(muted(f, lops, T0));
	json_decref(l);
	json_decref(lops);
}

static void
test_all_matchers_and_aliases(void **state)
{
	struct fixture *f = *state;
	const char *both[] = {"alertname=lat", "severity=critical", NULL};
	const char *alias[] = {"alert=lat", "detector_id=lat-1", NULL};
	json_t *crit = labels("lat", "critical", "gpt-4");
	json_t *warn = labels("lat", "warning", "gpt-4");
	json_t *other = labels("errors", "critical", "gpt-4");
	char id[SILENCE_ID_LEN + 1];

	add(f, both, T0, T0 + HOUR, T0, id);
	assert_true(muted(f, crit, T0));
	assert_false(muted(f, warn, T0));
	assert_false(muted(f, other, T0));
	assert_int_equal(silences_expire(f->s, id, T0), 1);

	/* "alert" and "detector_id" read alertname and detector */
	add(f, alias, T0, T0 + HOUR, T0, id);
	assert_true(muted(f, crit, T0));
	assert_true(muted(f, warn, T0));
	assert_false(muted(f, other, T0));
	json_decref(crit);
	json_decref(warn);
	json_decref(other);
}

static const char *
state_of(struct fixture *f, int64_t now)
{
	static char st[16];
	json_t *arr = silences_json(f->s, now, 1);

	assert_int_equal(json_array_size(arr), 1);
	snprintf(st, sizeof(st), "%s",
	         json_string_value(
	                 json_object_get(json_array_get(arr, 0), "state")));
	json_decref(arr);
	return st;
}

static void
test_active_only_in_span(void **state)
{
	struct fixture *f = *state;
	const char *sev[] = {"severity=warning", NULL};
	json_t *l = labels("lat", "warning", "gpt-4");
	char id[SILENCE_ID_LEN + 1];

	add(f, sev, T0 + MINUTE, T0 + 2 * MINUTE, T0, id);
	assert_false(muted(f, l, T0));
	assert_false(muted(f, l, T0 + MINUTE - 1));
	assert_int_equal(silences_active(f->s, T0), 0);
	assert_string_equal(state_of(f, T0), "pending");

	assert_true(muted(f, l, T0 + MINUTE));
	assert_true(muted(f, l, T0 + 2 * MINUTE - 1));
	assert_int_equal(silences_active(f->s, T0 + MINUTE), 1);
	assert_string_equal(state_of(f, T0 + MINUTE), "active");

	/* expires by itself: nobody called silences_expire */
	assert_false(muted(f, l, T0 + 2 * MINUTE));
	assert_int_equal(silences_active(f->s, T0 + 2 * MINUTE), 0);
	assert_string_equal(state_of(f, T0 + 2 * MINUTE), "expired");
	assert_int_equal(silences_expire(f->s, id, T0 + 3 * MINUTE), 0);
	json_decref(l);
}

static void
test_expire_early(void **state)
{
	struct fixture *f = *state;
	const char *sev[] = {"severity=warning", NULL};
	json_t *l = labels("lat", "warning", "gpt-4");
	char id[SILENCE_ID_LEN + 1], pending[SILENCE_ID_LEN + 1];
	json_t *arr, *o;

	add(f, sev, T0, T0 + HOUR, T0, id);
	assert_true(muted(f, l, T0 + 10));
	assert_int_equal(silences_expire(f->s, id, T0 + 20), 1);
	assert_false(muted(f, l, T0 + 20));
	assert_false(muted(f, l, T0 + 30));
	assert_int_equal(silences_expire(f->s, id, T0 + 30), 0);
	assert_int_equal(silences_expire(f->s,
	                                 "0123456789abcdef0123456789abcdef",
	                                 T0 + 30),
	                 0);
	assert_int_equal(silences_expire(f->s, "", T0 + 30), 0);

	/* a pending silence expired early never mutes */
	add(f, sev, T0 + HOUR, T0 + 2 * HOUR, T0 + 40, pending);
	assert_int_equal(silences_expire(f->s, pending, T0 + 50), 1);
	assert_false(muted(f, l, T0 + HOUR));
	assert_int_equal(silences_expire(f->s, pending, T0 + 60), 0);

	arr = silences_json(f->s, T0 + 60, 1);
	assert_int_equal(json_array_size(arr), 2);
	o = json_array_get(arr, 1); /* the first one, older */
	assert_string_equal(json_string_value(json_object_get(o, "id")), id);
	assert_int_equal(json_integer_value(json_object_get(o, "ends_ms")),
	                 T0 + 20);
	assert_string_equal(json_string_value(json_object_get(o, "state")),
	                    "expired");
	json_decref(arr);
	json_decref(l);
}

static void
test_persists_across_reopen(void **state)
{
	struct fixture *f = *state;
	const char *two[] = {"model=~gpt-4.*", "severity!=info", NULL};
	const char *one[] = {"alertname=errors", NULL};
	json_t *l = labels("lat", "warning", "gpt-4o");
	json_t *e = labels("errors", "warning", "claude");
	char id[SILENCE_ID_LEN + 1], id2[SILENCE_ID_LEN + 1];
	json_t *arr, *o, *m;

	add(f, two, T0, T0 + HOUR, T0, id);
	add(f, one, T0, T0 + HOUR, T0 + 1, id2);
	reopen(f, T0 + MINUTE);
	assert_string_equal(silences_muting(f->s, l, T0 + MINUTE), id);
	assert_string_equal(silences_muting(f->s, e, T0 + MINUTE), id2);
	assert_int_equal(silences_active(f->s, T0 + MINUTE), 2);

	arr = silences_json(f->s, T0 + MINUTE, 0);
	assert_int_equal(json_array_size(arr), 2);
	o = json_array_get(arr, 1);
	assert_string_equal(json_string_value(json_object_get(o, "id")), id);
	m = json_object_get(o, "matchers");
	assert_int_equal(json_array_size(m), 2);
	assert_string_equal(json_string_value(json_array_get(m, 0)),
	                    "model=~gpt-4.*");
	assert_string_equal(json_string_value(json_array_get(m, 1)),
	                    "severity!=info");
	assert_string_equal(json_string_value(json_object_get(o, "comment")),
	                    "maintenance");
	assert_string_equal(json_string_value(json_object_get(o, "created_by")),
	                    "alice");
	assert_int_equal(json_integer_value(json_object_get(o, "created_ms")),
	                 T0);
	json_decref(arr);

	/* an early expiry is stored too */
	assert_int_equal(silences_expire(f->s, id, T0 + 2 * MINUTE), 1);
	reopen(f, T0 + 3 * MINUTE);
	assert_null(silences_muting(f->s, l, T0 + 3 * MINUTE));
	assert_string_equal(silences_muting(f->s, e, T0 + 3 * MINUTE), id2);
	assert_int_equal(silences_expire(f->s, id, T0 + 3 * MINUTE), 0);
	json_decref(l);
	json_decref(e);
}

static int
row_count(struct fixture *f)
{
	sqlite3_stmt *st;
	int n = -1;

	assert_int_equal(sqlite3_prepare_v2(f->db,
	                                    "SELECT count(*) FROM silences", -1,
	                                    &st, NULL),
	                 SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return n;
}

static void
test_prune_on_open(void **state)
{
	struct fixture *f = *state;
	const char *sev[] = {"severity=warning", NULL};
	char old[SILENCE_ID_LEN + 1], newer[SILENCE_ID_LEN + 1];
	json_t *arr;

	add(f, sev, T0, T0 + HOUR, T0, old);
	add(f, sev, T0, T0 + 2 * HOUR, T0 + 1, newer);

	/* expired exactly SILENCE_KEEP_MS ago: kept */
	reopen(f, T0 + HOUR + SILENCE_KEEP_MS);
	assert_int_equal(row_count(f), 2);
	arr = silences_json(f->s, T0 + HOUR + SILENCE_KEEP_MS, 1);
	assert_int_equal(json_array_size(arr), 2);
	json_decref(arr);

	/* one millisecond more: the first is deleted, the second kept */
	reopen(f, T0 + HOUR + SILENCE_KEEP_MS + 1);
	assert_int_equal(row_count(f), 1);
	arr = silences_json(f->s, T0 + HOUR + SILENCE_KEEP_MS + 1, 1);
	assert_int_equal(json_array_size(arr), 1);
	assert_string_equal(json_string_value(json_object_get(
	                            json_array_get(arr, 0), "id")),
	                    newer);
	json_decref(arr);

	/* the second goes once it too ended long enough ago */
	reopen(f, T0 + 2 * HOUR + SILENCE_KEEP_MS + 1);
	assert_int_equal(row_count(f), 0);
}

static void
test_json_shape_and_order(void **state)
{
	struct fixture *f = *state;
	const char *a[] = {"severity=warning", NULL};
	const char *b[] = {"severity=critical", NULL};
	struct silence_matcher m;
	char ida[SILENCE_ID_LEN + 1], idb[SILENCE_ID_LEN + 1];
	char idc[SILENCE_ID_LEN + 1];
	json_t *arr, *o;
	size_t i;

	add(f, a, T0, T0 + MINUTE, T0, ida);   /* expires */
	add(f, b, T0, T0 + HOUR, T0 + 1, idb); /* active */
	assert_int_equal(silence_matcher_parse("x=y", &m, NULL, 0), 0);
	assert_int_equal(silences_add(f->s, &m, 1, T0 + HOUR, T0 + 2 * HOUR,
	                              NULL, NULL, T0 + 2, idc),
	                 0); /* pending */

	/* ids: 32 lower-case hex digits, all different */
	for (i = 0; i < SILENCE_ID_LEN; i++)
		assert_non_null(strchr("0123456789abcdef", ida[i]));
	assert_int_equal(strlen(ida), SILENCE_ID_LEN);
	assert_string_not_equal(ida, idb);
	assert_string_not_equal(idb, idc);

	arr = silences_json(f->s, T0 + 2 * MINUTE, 1);
	assert_int_equal(json_array_size(arr), 3);
	assert_string_equal(json_string_value(json_object_get(
	                            json_array_get(arr, 0), "id")),
	                    idc);
	assert_string_equal(json_string_value(json_object_get(
	                            json_array_get(arr, 1), "id")),
	                    idb);
	assert_string_equal(json_string_value(json_object_get(
	                            json_array_get(arr, 2), "id")),
	                    ida);
	o = json_array_get(arr, 0);
	assert_int_equal(json_object_size(o), 8);
	assert_string_equal(json_string_value(json_object_get(o, "state")),
	                    "pending");
	assert_true(json_is_null(json_object_get(o, "comment")));
	assert_true(json_is_null(json_object_get(o, "created_by")));
	assert_int_equal(json_integer_value(json_object_get(o, "starts_ms")),
	                 T0 + HOUR);
	assert_int_equal(json_integer_value(json_object_get(o, "ends_ms")),
	                 T0 + 2 * HOUR);
	assert_int_equal(json_integer_value(json_object_get(o, "created_ms")),
	                 T0 + 2);
	assert_string_equal(json_string_value(json_array_get(
	                            json_object_get(o, "matchers"), 0)),
	                    "x=y");
	assert_string_equal(json_string_value(json_object_get(
	                            json_array_get(arr, 1), "state")),
	                    "active");
	assert_string_equal(json_string_value(json_object_get(
	                            json_array_get(arr, 2), "state")),
	                    "expired");
	json_decref(arr);

	/* without all: the expired one is left out */
	arr = silences_json(f->s, T0 + 2 * MINUTE, 0);
	assert_int_equal(json_array_size(arr), 2);
	assert_string_equal(json_string_value(json_object_get(
	                            json_array_get(arr, 1), "id")),
	                    idb);
	json_decref(arr);

	assert_int_equal(silences_active(f->s, T0 + 2 * MINUTE), 1);
	assert_int_equal(silences_active(f->s, T0 + 2), 2);
	assert_int_equal(silences_active(f->s, T0 + HOUR), 1);
}

static void
test_add_refused(void **state)
{
	struct fixture *f = *state;
	struct silence_matcher m[SILENCE_MAX_MATCHERS + 1];
	char id[SILENCE_ID_LEN + 1];
	json_t *arr;
	size_t i;

	/* the set takes the matchers over, also on error (ASan checks) */
	assert_int_equal(silence_matcher_parse("a=~b.*", &m[0], NULL, 0), 0);
	assert_int_equal(
	        silences_add(f->s, m, 1, T0 + 5, T0 + 5, "c", "d", T0, id), -1);
	assert_null(m[0].name);
	assert_int_equal(silences_add(f->s, m, 0, T0, T0 + 5, "c", "d", T0, id),
	                 -1);
	for (i = 0; i < SILENCE_MAX_MATCHERS + 1; i++)
		assert_int_equal(silence_matcher_parse("a=b", &m[i], NULL, 0),
		                 0);
	assert_int_equal(silences_add(f->s, m, SILENCE_MAX_MATCHERS + 1, T0,
	                              T0 + 5, "c", "d", T0, id),
	                 -1);
	arr = silences_json(f->s, T0, 1);
	assert_int_equal(json_array_size(arr), 0);
	json_decref(arr);
	assert_int_equal(row_count(f), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_parse_operators),
	        cmocka_unit_test(test_parse_errors),
	        cmocka_unit_test_setup_teardown(test_regex_whole_value, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_missing_label_is_empty,
	                                        setup, teardown),
	        cmocka_unit_test_setup_teardown(test_all_matchers_and_aliases,
	                                        setup, teardown),
	        cmocka_unit_test_setup_teardown(test_active_only_in_span, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_expire_early, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_persists_across_reopen,
	                                        setup, teardown),
	        cmocka_unit_test_setup_teardown(test_prune_on_open, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_json_shape_and_order,
	                                        setup, teardown),
	        cmocka_unit_test_setup_teardown(test_add_refused, setup,
	                                        teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
