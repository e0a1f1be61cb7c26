/*
 * test_alertd_metrics.c: alertd's metrics.  sender_open creates the
 * sent and failure series of every configured receiver at 0, and
 * sender_receivers those of a reloaded config's new receivers (the old
 * ones stay); alerts.metrics answers what alertd's metrics file holds,
 * the exporter's numbers, with labels unescaped exactly, and empty lists
 * when there is no file.  Delivery outcomes are counted in
 * test/integration/test_metrics_store_alert.py, against real peers.
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
#include <event2/event.h>
#include <jansson.h>

#include "../../alertd/actl.h"
#include "../../alertd/sender.h"
#include "config.h"
#include "daemon.h"
#include "log.h"
#include "metrics.h"
#include "util.h"

static char run_dir[64]; /* the metrics file's folder */

struct fixture {
	char dir[64];
	struct sn_config cfg;
	struct sn_receiver rc[3];
	struct sn_daemon d;
	struct sender *snd;
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	snprintf(f->dir, sizeof(f->dir), "/tmp/test_alertd_metrics.XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	f->rc[0].name = "hook";
	f->rc[0].type = "webhook";
	f->rc[1].name = "mail";
	f->rc[1].type = "email";
	f->cfg.alerts.receivers = f->rc;
	f->cfg.alerts.nreceivers = 2;
	f->cfg.storage.path = f->dir;
	f->cfg.run_dir = run_dir;
	f->d.name = "alertd";
	f->d.cfg = &f->cfg;
	if ((f->d.base = event_base_new()) == NULL)
		return -1;
	if ((f->snd = sender_open(&f->d)) == NULL)
		return -1;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	char p[160];
	static const char *const suffix[] = {"", "-wal", "-shm"};
	size_t i;

	sender_close(f->snd);
	event_base_free(f->d.base);
	for (i = 0; i < 3; i++) {
		snprintf(p, sizeof(p), "%s/alerts.db%s", f->dir, suffix[i]);
		unlink(p);
	}
	rmdir(f->dir);
	free(f);
	return 0;
}

/* alerts.metrics, parsed; its "metrics" object is borrowed from *doc. */
static json_t *
ask_metrics(struct fixture *f, json_t **doc)
{
	static const char req[] = "{\"command\":\"alerts.metrics\"}";
	struct actl_env env = {.d = &f->d};
	char *s = actl_handle(&env, req, strlen(req));

	assert_non_null(s);
	*doc = json_loads(s, 0, NULL);
	free(s);
	assert_non_null(*doc);
	assert_true(json_is_true(json_object_get(*doc, "ok")));
	return json_object_get(*doc, "metrics");
}

/* The value of the sample of family name whose labels have receiver
 * rcv (NULL: the sample without labels); -1 when there is none. */
static json_int_t
sample(json_t *m, const char *name, const char *rcv)
{
	json_t *arr = json_object_get(m, name), *s, *l;
	size_t i;

	assert_true(json_is_array(arr));
	json_array_foreach(arr, i, s)
	{
		l = json_object_get(s, "labels");
		if (rcv == NULL
		            ? json_object_size(l) == 0
		            : json_object_size(l) == 1 &&
		                      strcmp(json_string_value(json_object_get(
		                                     l, "receiver")),
		                             rcv) == 0)
			return json_integer_value(json_object_get(s, "value"));
	}
	return -1;
}

/* Each configured receiver has its two series at 0 before anything is
 * sent; a reload's new receiver gets them too, a removed one keeps its. */
static void
test_receivers_start_at_zero(void **state)
{
	struct fixture *f = *state;
	json_t *doc, *m;

	m = ask_metrics(f, &doc);
	assert_int_equal(sample(m, "sentinel_alerts_sent_total", "hook"), 0);
	assert_int_equal(sample(m, "sentinel_alert_failures_total", "hook"), 0);
	assert_int_equal(sample(m, "sentinel_alerts_sent_total", "mail"), 0);
	assert_int_equal(sample(m, "sentinel_alert_failures_total", "mail"), 0);
	assert_int_equal(sample(m, "sentinel_alerts_sent_total", "pager"), -1);
	json_decref(doc);

	/* reload: mail goes, pager comes */
	f->rc[1].name = "pager";
	f->rc[1].type = "pagerduty";
	sender_receivers(f->snd, &f->cfg.alerts);
	m = ask_metrics(f, &doc);
	assert_int_equal(sample(m, "sentinel_alerts_sent_total", "pager"), 0);
	assert_int_equal(sample(m, "sentinel_alert_failures_total", "pager"),
	                 0);
	assert_int_equal(sample(m, "sentinel_alerts_sent_total", "mail"), 0);
	json_decref(doc);
}

/* alerts.metrics reads the series the daemon updates: the same numbers
 * as the exporter's, every family present, labels unescaped. */
static void
test_metrics_command_reads_the_file(void **state)
{
	struct fixture *f = *state;
	static const char odd[] = "we\"ird\\na\nme";
	static const char *const names[] = {
	        "sentinel_alerts_sent_total",
	        "sentinel_alert_failures_total",
	        "sentinel_alerts_unrouted_total",
	        "sentinel_alerts_firing",
	        "sentinel_alert_groups",
	        "sentinel_silences_active",
	        "sentinel_notifications_queued",
	};
	json_t *doc, *m;
	size_t i;

	metrics_add(metrics_series(M_ALERTS_UNROUTED), 3);
	metrics_set(metrics_series(M_ALERTS_FIRING), 4);
	metrics_set(metrics_series(M_ALERT_GROUPS), 2);
	metrics_set(metrics_series(M_NOTIFICATIONS_QUEUED), 5);
	metrics_add(metrics_series(M_ALERTS_SENT, odd), 7);
	metrics_add(metrics_series(M_ALERT_FAILURES, "hook"), 2);
	/* not alertd's: left out */
	metrics_add(metrics_series(M_EVENTS_STORED), 1);

	m = ask_metrics(f, &doc);
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		assert_true(json_is_array(json_object_get(m, names[i])));
	assert_int_equal(json_object_size(m), 7);
	assert_int_equal(sample(m, "sentinel_alerts_unrouted_total", NULL), 3);
	assert_int_equal(sample(m, "sentinel_alerts_firing", NULL), 4);
	assert_int_equal(sample(m, "sentinel_alert_groups", NULL), 2);
	assert_int_equal(sample(m, "sentinel_notifications_queued", NULL), 5);
	assert_int_equal(sample(m, "sentinel_alerts_sent_total", odd), 7);
	assert_int_equal(sample(m, "sentinel_alert_failures_total", "hook"), 2);
	json_decref(doc);

	/* without the file: the families, empty */
	f->cfg.run_dir = f->dir;
	m = ask_metrics(f, &doc);
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		assert_int_equal(json_array_size(json_object_get(m, names[i])),
		                 0);
	json_decref(doc);
	f->cfg.run_dir = run_dir;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_receivers_start_at_zero,
	                                        setup, teardown),
	        cmocka_unit_test_setup_teardown(
	                test_metrics_command_reads_the_file, setup, teardown),
	};
	char path[128];
	int rc;

	snprintf(run_dir, sizeof(run_dir), "/tmp/sn-test-amrun-XXXXXX");
	if (mkdtemp(run_dir) == NULL || metrics_open(run_dir, "alertd", 0) < 0)
		return 1;
	log_init("test", LOG_LEVEL_WARN, LOG_FORMAT_JSON);
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	metrics_close();
	metrics_path(path, sizeof(path), run_dir, "alertd");
	unlink(path);
	rmdir(run_dir);
	return rc;
}
