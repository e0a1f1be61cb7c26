/*
 * test_actl.c: alertd's control endpoint answers alerts.status with each
 * receiver's outbox counts and no secret, alerts.test_result with the
 * state of a notification (outbox_status_of), adds, lists and expires
 * silences (alerts.silence.*), and refuses unknown receivers, commands
 * and malformed requests without crashing.  alerts.test's delivery runs
 * in test_alerts_cli.py, on a real set.
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

#include "../../alertd/actl.h"
#include "../../alertd/outbox.h"
#include "../../alertd/silence.h"
#include "config.h"
#include "daemon.h"
#include "util.h"

#define T0 1767323045000LL

struct fixture {
	char dir[64];
	char path[128];
	struct outbox *ob;
	struct silences *sil; /* on the outbox's database */
	struct sn_config cfg;
	struct sn_receiver rc[2];
	struct sn_daemon d;
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	snprintf(f->dir, sizeof(f->dir), "/tmp/test_actl.XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/alerts.db", f->dir);
	if ((f->ob = outbox_open(f->path, outbox_policy_default())) == NULL)
		return -1;
	if ((f->sil = silences_open(outbox_db(f->ob), sn_now_ms())) == NULL)
		return -1;
	f->rc[0].name = "hook";
	f->rc[0].type = "webhook";
	f->rc[0].url = "https://hooks.example.com/SECRET-PATH";
	f->rc[1].name = "mail";
	f->rc[1].type = "email";
	f->rc[1].smtp_password = "hunter2";
	f->cfg.alerts.receivers = f->rc;
	f->cfg.alerts.nreceivers = 2;
	f->d.cfg = &f->cfg;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	char p[160];

	silences_free(f->sil);
	outbox_close(f->ob);
	unlink(f->path);
	snprintf(p, sizeof(p), "%s-wal", f->path);
	unlink(p);
	snprintf(p, sizeof(p), "%s-shm", f->path);
	unlink(p);
	rmdir(f->dir);
	free(f);
	return 0;
}

/* Sends req and parses the answer (caller decrefs); raw gets the text
 * when not NULL (caller frees). */
static json_t *
ask(struct fixture *f, const char *req, char **raw)
{
	struct actl_env env = {.d = &f->d, .ob = f->ob, .sil = f->sil};
	char *s = actl_handle(&env, req, strlen(req));
	json_t *j;

	assert_non_null(s);
	j = json_loads(s, 0, NULL);
	assert_non_null(j);
	if (raw != NULL)
		*raw = s;
	else
		free(s);
	return j;
}

static void
test_status_counts(void **state)
{
	struct fixture *f = *state;
	json_t *r, *hook, *mail;
	char *raw;

	assert_int_equal(outbox_enqueue(f->ob, "a1", "hook", "{}", T0), 1);
	assert_int_equal(outbox_enqueue(f->ob, "a2", "hook", "{}", T0), 1);
	assert_int_equal(outbox_enqueue(f->ob, "a3", "hook", "{}", T0), 1);
	assert_int_equal(outbox_sent(f->ob, "a1", T0 + 5), 0);
	assert_int_equal(outbox_failed(f->ob, "a2", "HTTP 404", T0 + 6), 0);

	r = ask(f, "{\"command\":\"alerts.status\"}", &raw);
	assert_true(json_is_true(json_object_get(r, "ok")));
	assert_int_equal(
	        json_integer_value(json_object_get(r, "active_groups")), 0);
	assert_int_equal(json_array_size(json_object_get(r, "silences")), 0);
	assert_int_equal(json_array_size(json_object_get(r, "receivers")), 2);
	hook = json_array_get(json_object_get(r, "receivers"), 0);
	mail = json_array_get(json_object_get(r, "receivers"), 1);
	assert_string_equal(json_string_value(json_object_get(hook, "name")),
	                    "hook");
	assert_string_equal(json_string_value(json_object_get(hook, "type")),
	                    "webhook");
	assert_int_equal(json_integer_value(json_object_get(hook, "sent")), 1);
	assert_int_equal(json_integer_value(json_object_get(hook, "failed")),
	                 1);
	assert_int_equal(json_integer_value(json_object_get(hook, "queued")),
	                 1);
	assert_int_equal(
	        json_integer_value(json_object_get(hook, "last_success")),
	        T0 + 5);
	assert_string_equal(
	        json_string_value(json_object_get(hook, "last_error")),
	        "HTTP 404");
	assert_true(json_is_null(json_object_get(mail, "last_success")));
	assert_true(json_is_null(json_object_get(mail, "last_error")));
	assert_null(strstr(raw, "SECRET"));
	assert_null(strstr(raw, "hunter2"));
	assert_null(strstr(raw, "example.com"));
	free(raw);
	json_decref(r);
}

static void
test_result_states(void **state)
{
	struct fixture *f = *state;
	json_t *r;

	assert_int_equal(outbox_enqueue(f->ob, "t1", "hook", "{}", T0), 1);
	r = ask(f, "{\"command\":\"alerts.test_result\",\"id\":\"t1\"}", NULL);
	assert_true(json_is_true(json_object_get(r, "ok")));
	assert_string_equal(json_string_value(json_object_get(r, "state")),
	                    "pending");
	assert_int_equal(json_integer_value(json_object_get(r, "attempts")), 0);
	assert_true(json_is_null(json_object_get(r, "last_error")));
	json_decref(r);

	assert_int_equal(outbox_retry(f->ob, "t1", "HTTP 503", 0, T0 + 1, 0.5),
	                 1);
	r = ask(f, "{\"command\":\"alerts.test_result\",\"id\":\"t1\"}", NULL);
	assert_string_equal(json_string_value(json_object_get(r, "state")),
	                    "pending");
	assert_string_equal(json_string_value(json_object_get(r, "last_error")),
	                    "HTTP 503");
	json_decref(r);

	assert_int_equal(outbox_sent(f->ob, "t1", T0 + 2000), 0);
	r = ask(f, "{\"command\":\"alerts.test_result\",\"id\":\"t1\"}", NULL);
	assert_string_equal(json_string_value(json_object_get(r, "state")),
	                    "sent");
	assert_int_equal(json_integer_value(json_object_get(r, "attempts")), 2);
	json_decref(r);

	r = ask(f, "{\"command\":\"alerts.test_result\",\"id\":\"zz\"}", NULL);
	assert_true(json_is_false(json_object_get(r, "ok")));
	json_decref(r);
}

static void
test_refusals(void **state)
{
	struct fixture *f = *state;
	const char *bad[] = {
	        "{\"command\":\"alerts.test\",\"receiver\":\"nosuch\"}",
	        "{\"command\":\"alerts.test\"}",
	        "{\"command\":\"alerts.test_result\"}",
	        "{\"command\":\"alerts.frob\"}",
	        "{\"command\":7}",
	        "[1,2]",
	        "not json",
	        "",
	};
	json_t *r;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		r = ask(f, bad[i], NULL);
		assert_true(json_is_false(json_object_get(r, "ok")));
		assert_non_null(json_string_value(json_object_get(r, "error")));
		json_decref(r);
	}
	r = ask(f, bad[0], NULL);
	assert_string_equal(json_string_value(json_object_get(r, "error")),
	                    "unknown receiver nosuch");
	json_decref(r);
}

/* The error of a refused request (asserts it was refused); caller
 * frees. */
static char *
refusal(struct fixture *f, const char *req)
{
	json_t *r = ask(f, req, NULL);
	const char *e;
	char *copy;

	if (!json_is_false(json_object_get(r, "ok")))
		fail_msg("not refused: %s", req);
	e = json_string_value(json_object_get(r, "error"));
	assert_non_null(e);
	copy = strdup(e);
	json_decref(r);
	return copy;
}

static json_t *
list(struct fixture *f, int all)
{
	json_t *r = ask(f,
	                all ? "{\"command\":\"alerts.silence.list\","
	                      "\"all\":true}"
	                    : "{\"command\":\"alerts.silence.list\"}",
	                NULL);
	json_t *arr;

	assert_true(json_is_true(json_object_get(r, "ok")));
	arr = json_incref(json_object_get(r, "silences"));
	assert_true(json_is_array(arr));
	json_decref(r);
	return arr;
}

static void
test_silence_add_list_expire(void **state)
{
	struct fixture *f = *state;
	int64_t before = sn_now_ms(), starts, ends;
	json_t *r, *arr, *o, *crit, *warn;
	char id[SILENCE_ID_LEN + 1], req[256], *e;

	r = ask(f,
	        "{\"command\":\"alerts.silence.add\",\"matchers\":"
	        "[\"severity=critical\",\"model=~gpt-4.*\"],"
	        "\"duration_ms\":3600000,\"comment\":\"deploy\","
	        "\"created_by\":\"alice\"}",
	        NULL);
	assert_true(json_is_true(json_object_get(r, "ok")));
	assert_int_equal(strlen(json_string_value(json_object_get(r, "id"))),
	                 SILENCE_ID_LEN);
	snprintf(id, sizeof(id), "%s",
	         json_string_value(json_object_get(r, "id")));
	starts = json_integer_value(json_object_get(r, "starts_ms"));
	ends = json_integer_value(json_object_get(r, "ends_ms"));
	assert_in_range(starts, before, sn_now_ms());
	assert_int_equal(ends - starts, 3600000);
	json_decref(r);

	/* it mutes what it matches, through the set alertd flushes with */
	crit = json_pack("{s:s, s:s}", "severity", "critical", "model",
	                 "gpt-4o");
	warn = json_pack("{s:s, s:s}", "severity", "warning", "model",
	                 "gpt-4o");
	assert_string_equal(silences_muting(f->sil, crit, sn_now_ms()), id);
	assert_null(silences_muting(f->sil, warn, sn_now_ms()));

	arr = list(f, 0);
	assert_int_equal(json_array_size(arr), 1);
	o = json_array_get(arr, 0);
	assert_string_equal(json_string_value(json_object_get(o, "id")), id);
	assert_string_equal(json_string_value(json_object_get(o, "state")),
	                    "active");
	assert_string_equal(json_string_value(json_object_get(o, "comment")),
	                    "deploy");
	assert_string_equal(json_string_value(json_object_get(o, "created_by")),
	                    "alice");
	assert_string_equal(json_string_value(json_array_get(
	                            json_object_get(o, "matchers"), 1)),
	                    "model=~gpt-4.*");
	json_decref(arr);

	r = ask(f, "{\"command\":\"alerts.status\"}", NULL);
	assert_int_equal(json_array_size(json_object_get(r, "silences")), 1);
	json_decref(r);

	snprintf(req, sizeof(req),
	         "{\"command\":\"alerts.silence.expire\",\"id\":\"%s\"}", id);
	r = ask(f, req, NULL);
	assert_true(json_is_true(json_object_get(r, "ok")));
	assert_string_equal(json_string_value(json_object_get(r, "id")), id);
	json_decref(r);
	assert_null(silences_muting(f->sil, crit, sn_now_ms()));

	/* a second expiry, or an unknown id, is refused */
	e = refusal(f, req);
	assert_non_null(strstr(e, "no active silence "));
	assert_non_null(strstr(e, id));
	free(e);
	e = refusal(f, "{\"command\":\"alerts.silence.expire\",\"id\":\"zz\"}");
	assert_string_equal(e, "no active silence zz");
	free(e);

	arr = list(f, 0);
	assert_int_equal(json_array_size(arr), 0);
	json_decref(arr);
	arr = list(f, 1);
	assert_int_equal(json_array_size(arr), 1);
	assert_string_equal(json_string_value(json_object_get(
	                            json_array_get(arr, 0), "state")),
	                    "expired");
	json_decref(arr);
	json_decref(crit);
	json_decref(warn);
}

static void
test_silence_ends_ms_pending(void **state)
{
	struct fixture *f = *state;
	int64_t now = sn_now_ms();
	char req[320];
	json_t *r, *arr, *o;

	/* starts in an hour, ends in two; no created_by, a matcher that
	 * matches every alert */
	snprintf(req, sizeof(req),
	         "{\"command\":\"alerts.silence.add\",\"matchers\":"
	         "[\"alertname=~.*\"],\"starts_ms\":%lld,\"ends_ms\":%lld,"
	         "\"comment\":\"window\"}",
	         (long long)(now + 3600000), (long long)(now + 7200000));
	r = ask(f, req, NULL);
	assert_true(json_is_true(json_object_get(r, "ok")));
	assert_int_equal(json_integer_value(json_object_get(r, "ends_ms")),
	                 now + 7200000);
	json_decref(r);
	arr = list(f, 0);
	assert_int_equal(json_array_size(arr), 1);
	o = json_array_get(arr, 0);
	assert_string_equal(json_string_value(json_object_get(o, "state")),
	                    "pending");
	assert_int_equal(json_integer_value(json_object_get(o, "starts_ms")),
	                 now + 3600000);
	assert_true(json_is_null(json_object_get(o, "created_by")));
	json_decref(arr);
}

static void
test_silence_refusals(void **state)
{
	struct fixture *f = *state;
	static const struct {
		const char *req;
		const char *error; /* a part of the answer's error */
	} bad[] = {
	        {"{\"command\":\"alerts.silence.add\",\"duration_ms\":1000,"
	         "\"comment\":\"c\"}",
	         "needs \"matchers\""},
	        {"{\"command\":\"alerts.silence.add\",\"matchers\":\"a=b\","
	         "\"duration_ms\":1000,\"comment\":\"c\"}",
	         "needs \"matchers\""},
	        {"{\"command\":\"alerts.silence.add\",\"matchers\":[],"
	         "\"duration_ms\":1000,\"comment\":\"c\"}",
	         "needs \"matchers\""},
	        {"{\"command\":\"alerts.silence.add\",\"matchers\":[\"a=b\","
	         "7],\"duration_ms\":1000,\"comment\":\"c\"}",
	         "matcher 2 is not a string"},
	        {"{\"command\":\"alerts.silence.add\",\"matchers\":"
	         "[\"severity\"],\"duration_ms\":1000,\"comment\":\"c\"}",
	         "matcher \"severity\": no operator"},
	        {"{\"command\":\"alerts.silence.add\",\"matchers\":[\"a=b\","
	         "\"model=~(gpt\"],\"duration_ms\":1000,\"comment\":\"c\"}",
	         "matcher \"model=~(gpt\": bad regular expression"},
	        {"{\"command\":\"alerts.silence.add\",\"matchers\":"
	         "[\"=x\"],\"duration_ms\":1000,\"comment\":\"c\"}",
	         "matcher \"=x\": empty label name"},
	        {"{\"command\":\"alerts.silence.add\",\"matchers\":"
	         "[\"a b=x\"],\"duration_ms\":1000,\"comment\":\"c\"}",
	         "matcher \"a b=x\": invalid label name"},
	        {"{\"command\":\"alerts.silence.add\",\"matchers\":[\"a=b\"],"
	         "\"comment\":\"c\"}",
	         "needs \"duration_ms\" or \"ends_ms\""},
	        {"{\"command\":\"alerts.silence.add\",\"matchers\":[\"a=b\"],"
	         "\"duration_ms\":1000,\"ends_ms\":99999999999999,"
	         "\"comment\":\"c\"}",
	         "needs \"duration_ms\" or \"ends_ms\""},
	        {"{\"command\":\"alerts.silence.add\",\"matchers\":[\"a=b\"],"
	         "\"duration_ms\":0,\"comment\":\"c\"}",
	         "more than 0"},
	        {"{\"command\":\"alerts.silence.add\",\"matchers\":[\"a=b\"],"
	         "\"duration_ms\":-5,\"comment\":\"c\"}",
	         "more than 0"},
	        {"{\"command\":\"alerts.silence.add\",\"matchers\":[\"a=b\"],"
	         "\"duration_ms\":\"2h\",\"comment\":\"c\"}",
	         "must be integers"},
	        {"{\"command\":\"alerts.silence.add\",\"matchers\":[\"a=b\"],"
	         "\"duration_ms\":1.5,\"comment\":\"c\"}",
	         "must be integers"},
	        {"{\"command\":\"alerts.silence.add\",\"matchers\":[\"a=b\"],"
	         "\"duration_ms\":9223372036854775807,\"comment\":\"c\"}",
	         "too long"},
	        {"{\"command\":\"alerts.silence.add\",\"matchers\":[\"a=b\"],"
	         "\"starts_ms\":\"now\",\"duration_ms\":1000,"
	         "\"comment\":\"c\"}",
	         "must be integers"},
	        {"{\"command\":\"alerts.silence.add\",\"matchers\":[\"a=b\"],"
	         "\"starts_ms\":-1,\"duration_ms\":1000,\"comment\":\"c\"}",
	         "negative"},
	        {"{\"command\":\"alerts.silence.add\",\"matchers\":[\"a=b\"],"
	         "\"starts_ms\":99999999999999,\"ends_ms\":99999999999998,"
	         "\"comment\":\"c\"}",
	         "ends_ms must be after starts_ms"},
	        {"{\"command\":\"alerts.silence.add\",\"matchers\":[\"a=b\"],"
	         "\"starts_ms\":1000,\"ends_ms\":2000,\"comment\":\"c\"}",
	         "in the past"},
	        {"{\"command\":\"alerts.silence.add\",\"matchers\":[\"a=b\"],"
	         "\"duration_ms\":1000}",
	         "needs \"comment\""},
	        {"{\"command\":\"alerts.silence.add\",\"matchers\":[\"a=b\"],"
	         "\"duration_ms\":1000,\"comment\":\"\"}",
	         "needs \"comment\""},
	        {"{\"command\":\"alerts.silence.add\",\"matchers\":[\"a=b\"],"
	         "\"duration_ms\":1000,\"comment\":5}",
	         "\"comment\" must be a string"},
	        {"{\"command\":\"alerts.silence.add\",\"matchers\":[\"a=b\"],"
	         "\"duration_ms\":1000,\"comment\":\"c\",\"created_by\":[]}",
	         "\"created_by\" must be a string"},
	        {"{\"command\":\"alerts.silence.list\",\"all\":\"yes\"}",
	         "\"all\" must be true or false"},
	        {"{\"command\":\"alerts.silence.list\",\"all\":1}",
	         "\"all\" must be true or false"},
	        {"{\"command\":\"alerts.silence.expire\"}", "needs \"id\""},
	        {"{\"command\":\"alerts.silence.expire\",\"id\":42}",
	         "needs \"id\""},
	        {"{\"command\":\"alerts.silence.expire\",\"id\":\"\"}",
	         "no active silence"},
	        {"{\"command\":\"alerts.silence.frob\"}", "unknown command"},
	};
	char big[SILENCE_MAX_TEXT + 200], many[2048], *e;
	json_t *arr;
	size_t i, n;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		e = refusal(f, bad[i].req);
		if (strstr(e, bad[i].error) == NULL)
			fail_msg("%s: error \"%s\" lacks \"%s\"", bad[i].req, e,
			         bad[i].error);
		free(e);
	}

	/* a comment longer than SILENCE_MAX_TEXT */
	n = (size_t)snprintf(big, sizeof(big),
	                     "{\"command\":\"alerts.silence.add\",\"matchers\":"
	                     "[\"a=b\"],\"duration_ms\":1000,\"comment\":\"");
	memset(big + n, 'x', SILENCE_MAX_TEXT + 1);
	snprintf(big + n + SILENCE_MAX_TEXT + 1,
	         sizeof(big) - n - SILENCE_MAX_TEXT - 1, "\"}");
	e = refusal(f, big);
	assert_non_null(strstr(e, "\"comment\" is longer than 1024 bytes"));
	free(e);

	/* SILENCE_MAX_MATCHERS + 1 matchers */
	n = (size_t)snprintf(many, sizeof(many),
	                     "{\"command\":\"alerts.silence.add\","
	                     "\"duration_ms\":1000,\"comment\":\"c\","
	                     "\"matchers\":[");
	for (i = 0; i <= SILENCE_MAX_MATCHERS; i++)
		n += (size_t)snprintf(many + n, sizeof(many) - n, "%s\"a=b\"",
		                      i ? "," : "");
	snprintf(many + n, sizeof(many) - n, "]}");
	e = refusal(f, many);
	assert_string_equal(e, "alerts.silence.add: at most 32 matchers");
	free(e);

	/* nothing refused was stored */
	arr = list(f, 1);
	assert_int_equal(json_array_size(arr), 0);
	json_decref(arr);
}

static void
test_silence_unavailable(void **state)
{
	struct fixture *f = *state;
	const char *reqs[] = {
	        "{\"command\":\"alerts.silence.add\",\"matchers\":[\"a=b\"],"
	        "\"duration_ms\":1000,\"comment\":\"c\"}",
	        "{\"command\":\"alerts.silence.list\"}",
	        "{\"command\":\"alerts.silence.expire\",\"id\":\"x\"}",
	};
	struct silences *sil = f->sil;
	char *e;
	size_t i;

	f->sil = NULL; /* as ask builds the env from the fixture */
	for (i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
		e = refusal(f, reqs[i]);
		assert_string_equal(e, "silences are not available");
		free(e);
	}
	f->sil = sil;
}

/* alerts.metrics names the seed's metrics; alerts.list answers with
 * empty lists when alertd has no groups. */
static void
test_metrics_and_list(void **state)
{
	struct fixture *f = *state;
	json_t *r, *m;
	static const char *const names[] = {"sentinel_alerts_sent_total",
	                                    "sentinel_alert_failures_total",
	                                    "sentinel_alerts_unrouted_total",
	                                    "sentinel_alerts_firing",
	                                    "sentinel_alert_groups",
	                                    "sentinel_silences_active"};

	r = ask(f, "{\"command\":\"alerts.metrics\"}", NULL);
	assert_true(json_is_true(json_object_get(r, "ok")));
	m = json_object_get(r, "metrics");
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		assert_true(json_is_array(json_object_get(m, names[i])));
	/* the values come from alertd's metrics file: test_alertd_metrics */
	json_decref(r);

	r = ask(f, "{\"command\":\"alerts.list\"}", NULL);
	assert_true(json_is_true(json_object_get(r, "ok")));
	assert_int_equal(json_array_size(json_object_get(r, "groups")), 0);
	assert_int_equal(json_array_size(json_object_get(r, "firing")), 0);
	json_decref(r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_status_counts, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_result_states, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_silence_add_list_expire,
	                                        setup, teardown),
	        cmocka_unit_test_setup_teardown(test_silence_ends_ms_pending,
	                                        setup, teardown),
	        cmocka_unit_test_setup_teardown(test_silence_refusals, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_metrics_and_list, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_silence_unavailable, setup,
	                                        teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
