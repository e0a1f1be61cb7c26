/*
 * test_actl.c: alertd's control endpoint answers alerts.status with each
 * receiver's outbox counts and no secret, alerts.test_result with the
 * state of a notification (outbox_status_of), and refuses unknown
 * receivers, commands and malformed requests without crashing.
 * alerts.test's delivery runs in test_alerts_cli.py, on a real set.
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
#include "config.h"
#include "daemon.h"

#define T0 1767323045000LL

struct fixture {
	char dir[64];
	char path[128];
	struct outbox *ob;
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
	char *s = actl_handle(&f->d, NULL, f->ob, req, strlen(req));
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

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_status_counts, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_result_states, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
