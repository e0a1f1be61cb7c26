/*
 * test_group.c: alertd's aggregation groups and inhibition, on a fake
 * clock, as Alertmanager behaves: group_by splits alerts, group_wait
 * collects siblings into one notification, a changed group waits for
 * group_interval, an unchanged one repeats after repeat_interval with a
 * new notification id, resolved alerts are announced once (send_resolved)
 * and then leave, muted alerts are left out, and groups survive a
 * restart without a flush being queued twice.  Inhibit rules mute the
 * targets of a firing source with the same `equal` labels.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <sqlite3.h>
#include <jansson.h>

#include "testutil.h"

#include "../../alertd/alertd.h"
#include "../../alertd/group.h"
#include "../../alertd/inhibit.h"
#include "../../alertd/notify.h"
#include "../../alertd/outbox.h"
#include "config.h"

#define T0  1767323045000LL
#define SEC 1000LL
#define MIN (60 * SEC)

static const char alerts_yaml[] = "routing:\n"
                                  "  - match:\n"
                                  "      severity: critical\n"
                                  "    receivers: [pager]\n"
                                  "    group_by: [alertname]\n"
                                  "    group_wait: 30s\n"
                                  "    group_interval: 5m\n"
                                  "    repeat_interval: 1h\n"
                                  "  - match:\n"
                                  "      severity: warning\n"
                                  "    receivers: [quiet]\n"
                                  "    group_by: [alertname]\n"
                                  "    group_wait: 30s\n"
                                  "    group_interval: 5m\n"
                                  "    repeat_interval: 1h\n"
                                  "default_receiver: pager\n"
                                  "inhibit_rules:\n"
                                  "  - source_match:\n"
                                  "      alertname: provider-errors\n"
                                  "    target_match:\n"
                                  "      severity: warning\n"
                                  "    equal: [model]\n"
                                  "receivers:\n"
                                  "  - name: pager\n"
                                  "    type: webhook\n"
                                  "    config:\n"
                                  "      url: http://127.0.0.1:9/p\n"
                                  "  - name: quiet\n"
                                  "    type: webhook\n"
                                  "    send_resolved: false\n"
                                  "    config:\n"
                                  "      url: http://127.0.0.1:9/q\n";

struct fixture {
	char dir[64], db[128];
	struct sn_alerts al;
	struct outbox *ob;
	struct groups *gs;
	const char *mute_app; /* alerts of this application are muted */
	int seq;              /* anomaly ids */
};

static const char *
mute_fn(const json_t *labels, const char *fp, int64_t now, void *arg)
{
	struct fixture *f = arg;

	(void)fp;
	(void)now;
	if (f->mute_app != NULL &&
	    strcmp(alert_label(labels, "application_id"), f->mute_app) == 0)
		return "muted by the test";
	return NULL;
}

static void
reopen(struct fixture *f)
{
	groups_free(f->gs);
	outbox_close(f->ob);
	f->ob = outbox_open(f->db, outbox_policy_default());
	assert_non_null(f->ob);
	f->gs = groups_open(outbox_db(f->ob), f->ob, mute_fn, f);
	assert_non_null(f->gs);
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct sn_cfg_errors errs = {0};

	if (f == NULL || tu_db_dir(f->dir, f->db, "group") < 0)
		return -1;
	snprintf(f->db, sizeof(f->db), "%s/alerts.db", f->dir);
	if (config_parse_alerts("alerts.yaml", alerts_yaml, strlen(alerts_yaml),
	                        &f->al, &errs) != 0) {
		for (size_t i = 0; i < errs.count; i++)
			print_error("%s\n", errs.msgs[i]);
		cfg_errors_free(&errs);
		return -1;
	}
	if ((f->ob = outbox_open(f->db, outbox_policy_default())) == NULL ||
	    (f->gs = groups_open(outbox_db(f->ob), f->ob, mute_fn, f)) == NULL)
		return -1;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	groups_free(f->gs);
	outbox_close(f->ob);
	config_alerts_free(&f->al);
	tu_db_remove(f->dir, f->db);
	free(f);
	return 0;
}

/* Routes one anomaly (alert name, severity, application, model) into
 * its groups at now, as alertd does. */
static void
fire(struct fixture *f, const char *alert, const char *severity,
     const char *app, const char *model, int resolved, int64_t now)
{
	struct sn_anomaly a;
	struct notification tmp;
	struct route_target t[ROUTE_MAX_TARGETS];
	char id[32];
	size_t i, n;

	snprintf(id, sizeof(id), "anomaly-%d", ++f->seq);
	memset(&a, 0, sizeof(a));
	a.ts_ms = a.window_start_ms = a.window_end_ms = now;
	a.status = resolved ? SN_ANOMALY_RESOLVED : SN_ANOMALY_FIRING;
	a.value = 7300;
	a.expected = 900;
	a.score = 7300;
	a.threshold = 5000;
	a.id = str(id);
	a.detector_id = str(alert);
	a.detector_type = str("threshold");
	a.alert = str(alert);
	a.severity = str(severity);
	a.application_id = str(app);
	a.model = str(model);
	a.metric = str("latency_ms");
	a.event_id = str("");
	a.message = str("too slow");
	a.labels = str("");
	a.event_ids = str("");
	notify_init(&tmp, "", "", NULL, NULL);
	notify_add_anomaly(&tmp, &a);
	n = route_targets(&f->al, tmp.alerts[0].labels, t, ROUTE_MAX_TARGETS);
	for (i = 0; i < n; i++)
		assert_true(groups_add(f->gs, &t[i], &tmp.alerts[0], now) >= 0);
	notify_free(&tmp);
}

/* The notifications queued since the last call, marked sent; each a
 * decoded document in the returned array (caller decrefs). */
static json_t *
queued(struct fixture *f)
{
	struct outbox_row rows[64];
	json_t *arr = json_array(), *doc;
	int i, n = outbox_due(f->ob, INT64_MAX, rows, 64);

	assert_true(n >= 0);
	for (i = 0; i < n; i++) {
		struct notification nt;
		char id[NOTIFY_ID_LEN + 1], *text;
		json_t *again;

		doc = json_loads(rows[i].payload, 0, NULL);
		assert_non_null(doc);
		/* the payload (written from the alerts' texts) is the
		 * document of the notification its id names */
		assert_int_equal(notify_from_json(&nt, doc), 0);
		notify_id(&nt, id);
		assert_string_equal(id, rows[i].id);
		again = notify_to_json(&nt);
		assert_true(json_equal(again, doc));
		/* byte for byte what notify_to_json's document dumps to */
		text = notify_dumps(again);
		assert_string_equal(text, rows[i].payload);
		free(text);
		json_decref(again);
		notify_free(&nt);
		json_object_set_new(doc, "id", json_string(rows[i].id));
		json_array_append_new(arr, doc);
		assert_int_equal(outbox_sent(f->ob, rows[i].id, T0), 0);
		outbox_row_free(&rows[i]);
	}
	return arr;
}

static size_t
nalerts(json_t *doc)
{
	return json_array_size(json_object_get(doc, "alerts"));
}

/* The number of alerts of doc in state resolved (1) or firing (0). */
static size_t
count_state(json_t *doc, int resolved)
{
	json_t *a;
	size_t i, n = 0;

	json_array_foreach(
	        json_object_get(doc, "alerts"), i,
	        a) if (json_is_true(json_object_get(a, "resolved")) == resolved)
	        n++;
	return n;
}

static void
test_group_wait_collects_siblings(void **state)
{
	struct fixture *f = *state;
	json_t *q, *doc;

	fire(f, "high-latency", "critical", "chat", "gpt-4", 0, T0);
	fire(f, "high-latency", "critical", "search", "gpt-4", 0,
	     T0 + 10 * SEC);
	fire(f, "high-cost", "critical", "chat", "gpt-4", 0, T0 + 20 * SEC);
	assert_int_equal(groups_count(f->gs), 2);
	assert_true(groups_next_due(f->gs) == T0 + 30 * SEC);

	/* nothing before group_wait */
	assert_int_equal(groups_flush(f->gs, &f->al, T0 + 29 * SEC), 0);
	q = queued(f);
	assert_int_equal(json_array_size(q), 0);
	json_decref(q);

	/* the high-latency group is due: both its alerts in one */
	assert_int_equal(groups_flush(f->gs, &f->al, T0 + 30 * SEC), 1);
	q = queued(f);
	assert_int_equal(json_array_size(q), 1);
	doc = json_array_get(q, 0);
	assert_int_equal(nalerts(doc), 2);
	assert_string_equal(
	        json_string_value(json_object_get(
	                json_object_get(doc, "group_labels"), "alertname")),
	        "high-latency");
	assert_string_equal(
	        json_string_value(json_object_get(doc, "group_key")),
	        "{}/{severity=\"critical\"}:{alertname=\"high-latency\"}");
	assert_string_equal(json_string_value(json_object_get(doc, "receiver")),
	                    "pager");
	json_decref(q);

	/* the high-cost group, by its own group_wait */
	assert_true(groups_next_due(f->gs) == T0 + 50 * SEC);
	assert_int_equal(groups_flush(f->gs, &f->al, T0 + 50 * SEC), 1);
	q = queued(f);
	assert_int_equal(nalerts(json_array_get(q, 0)), 1);
	json_decref(q);
}

static void
test_group_interval_and_repeat(void **state)
{
	struct fixture *f = *state;
	json_t *q;
	char first[NOTIFY_ID_LEN + 1];

	fire(f, "high-latency", "critical", "chat", "gpt-4", 0, T0);
	assert_int_equal(groups_flush(f->gs, &f->al, T0 + 30 * SEC), 1);
	q = queued(f);
	snprintf(
	        first, sizeof(first), "%s",
	        json_string_value(json_object_get(json_array_get(q, 0), "id")));
	json_decref(q);

	/* a sibling joins: announced at the next group_interval, no sooner */
	fire(f, "high-latency", "critical", "search", "gpt-4", 0, T0 + MIN);
	assert_true(groups_next_due(f->gs) == T0 + 30 * SEC + 5 * MIN);
	assert_int_equal(groups_flush(f->gs, &f->al, T0 + 5 * MIN), 0);
	assert_int_equal(groups_flush(f->gs, &f->al, T0 + 30 * SEC + 5 * MIN),
	                 1);
	q = queued(f);
	assert_int_equal(nalerts(json_array_get(q, 0)), 2);
	json_decref(q);

	/* unchanged: silent at each interval until repeat_interval */
	for (int i = 2; i <= 13; i++) {
		int64_t t = T0 + 30 * SEC + i * 5 * MIN;

		assert_int_equal(groups_flush(f->gs, &f->al, t),
		                 i == 13 ? 1 : 0);
	}
	q = queued(f);
	assert_int_equal(json_array_size(q), 1);
	assert_int_equal(nalerts(json_array_get(q, 0)), 2);
	/* a repeat is a new notification, not a duplicate of the first */
	assert_string_not_equal(
	        json_string_value(json_object_get(json_array_get(q, 0), "id")),
	        first);
	assert_int_equal(json_integer_value(
	                         json_object_get(json_array_get(q, 0), "seq")),
	                 3);
	json_decref(q);
}

static void
test_resolved_announced_then_group_gone(void **state)
{
	struct fixture *f = *state;
	json_t *q, *doc;

	fire(f, "high-latency", "critical", "chat", "gpt-4", 0, T0);
	fire(f, "high-latency", "critical", "search", "gpt-4", 0, T0);
	assert_int_equal(groups_flush(f->gs, &f->al, T0 + 30 * SEC), 1);
	json_decref(queued(f));

	/* one resolves: the next flush says so, the other still firing */
	fire(f, "high-latency", "critical", "chat", "gpt-4", 1, T0 + MIN);
	assert_int_equal(groups_flush(f->gs, &f->al, T0 + 30 * SEC + 5 * MIN),
	                 1);
	q = queued(f);
	doc = json_array_get(q, 0);
	assert_int_equal(count_state(doc, 1), 1);
	assert_int_equal(count_state(doc, 0), 1);
	json_decref(q);

	/* the other resolves: a resolved notification, then no group */
	fire(f, "high-latency", "critical", "search", "gpt-4", 1, T0 + 6 * MIN);
	assert_int_equal(groups_flush(f->gs, &f->al, T0 + 30 * SEC + 10 * MIN),
	                 1);
	q = queued(f);
	doc = json_array_get(q, 0);
	assert_int_equal(nalerts(doc), 1);
	assert_int_equal(count_state(doc, 1), 1);
	json_decref(q);
	assert_int_equal(groups_count(f->gs), 0);
	assert_true(groups_next_due(f->gs) == -1);

	/* a resolve for an alert no group holds is ignored */
	fire(f, "high-latency", "critical", "chat", "gpt-4", 1, T0 + 11 * MIN);
	assert_int_equal(groups_count(f->gs), 0);
}

static void
test_without_send_resolved(void **state)
{
	struct fixture *f = *state;
	json_t *q;

	/* warnings go to "quiet", which has send_resolved: false */
	fire(f, "slow", "warning", "chat", "gpt-4", 0, T0);
	fire(f, "slow", "warning", "search", "gpt-4", 0, T0);
	assert_int_equal(groups_flush(f->gs, &f->al, T0 + 30 * SEC), 1);
	json_decref(queued(f));

	fire(f, "slow", "warning", "chat", "gpt-4", 1, T0 + MIN);
	assert_int_equal(groups_flush(f->gs, &f->al, T0 + 30 * SEC + 5 * MIN),
	                 0);
	/* it fires again: new, so announced at the next interval */
	fire(f, "slow", "warning", "chat", "gpt-4", 0, T0 + 6 * MIN);
	assert_int_equal(groups_flush(f->gs, &f->al, T0 + 30 * SEC + 10 * MIN),
	                 1);
	q = queued(f);
	assert_int_equal(nalerts(json_array_get(q, 0)), 2);
	assert_int_equal(count_state(json_array_get(q, 0), 1), 0);
	json_decref(q);
}

static void
test_fired_and_resolved_within_group_wait(void **state)
{
	struct fixture *f = *state;

	fire(f, "high-latency", "critical", "chat", "gpt-4", 0, T0);
	fire(f, "high-latency", "critical", "chat", "gpt-4", 1, T0 + 5 * SEC);
	assert_int_equal(groups_flush(f->gs, &f->al, T0 + 30 * SEC), 0);
	assert_int_equal(groups_count(f->gs), 0);
	json_decref(queued(f));
}

static void
test_muted_alerts_left_out(void **state)
{
	struct fixture *f = *state;
	json_t *q, *a;

	f->mute_app = "chat";
	fire(f, "high-latency", "critical", "chat", "gpt-4", 0, T0);
	/* all muted: nothing */
	assert_int_equal(groups_flush(f->gs, &f->al, T0 + 30 * SEC), 0);
	fire(f, "high-latency", "critical", "search", "gpt-4", 0, T0 + MIN);
	assert_int_equal(groups_flush(f->gs, &f->al, T0 + 30 * SEC + 5 * MIN),
	                 1);
	q = queued(f);
	assert_int_equal(nalerts(json_array_get(q, 0)), 1);
	a = json_array_get(json_object_get(json_array_get(q, 0), "alerts"), 0);
	assert_string_equal(
	        json_string_value(json_object_get(json_object_get(a, "labels"),
	                                          "application_id")),
	        "search");
	json_decref(q);

	/* unmuted (alertd tells the groups, as it does when a silence
	 * ends): never announced, so announced at the next interval */
	f->mute_app = NULL;
	groups_changed(f->gs, T0 + 30 * SEC + 5 * MIN + 1);
	assert_int_equal(groups_flush(f->gs, &f->al, T0 + 30 * SEC + 10 * MIN),
	                 1);
	q = queued(f);
	assert_int_equal(nalerts(json_array_get(q, 0)), 2);
	json_decref(q);
}

/*
 * A group that has said what it had to is not looked at every
 * group_interval: it waits for the tick at which repeat_interval falls
 * due, and a change (an alert joining, groups_changed) brings it back to
 * its next group_interval tick, on the same schedule.
 */
static void
test_quiet_group_parked_until_change_or_repeat(void **state)
{
	struct fixture *f = *state;
	json_t *q;

	fire(f, "high-latency", "critical", "chat", "gpt-4", 0, T0);
	assert_int_equal(groups_flush(f->gs, &f->al, T0 + 30 * SEC), 1);
	json_decref(queued(f));
	/* repeat_interval (1h) is the next time it can have something */
	assert_true(groups_next_due(f->gs) == T0 + 30 * SEC + 60 * MIN);

	/* what mutes may have changed: looked at at the next tick */
	groups_changed(f->gs, T0 + 7 * MIN);
	assert_true(groups_next_due(f->gs) == T0 + 30 * SEC + 10 * MIN);
	assert_int_equal(groups_flush(f->gs, &f->al, T0 + 30 * SEC + 10 * MIN),
	                 0);
	assert_true(groups_next_due(f->gs) == T0 + 30 * SEC + 60 * MIN);

	/* a sibling joins: the next tick of the same schedule */
	fire(f, "high-latency", "critical", "search", "gpt-4", 0,
	     T0 + 20 * MIN);
	assert_true(groups_next_due(f->gs) == T0 + 30 * SEC + 20 * MIN);
	assert_int_equal(groups_flush(f->gs, &f->al, T0 + 30 * SEC + 20 * MIN),
	                 1);
	q = queued(f);
	assert_int_equal(nalerts(json_array_get(q, 0)), 2);
	json_decref(q);
	assert_true(groups_next_due(f->gs) == T0 + 30 * SEC + 80 * MIN);
}

/* A group whose alerts are all muted waits for a change, not a tick. */
static void
test_all_muted_group_waits_for_change(void **state)
{
	struct fixture *f = *state;
	json_t *q;

	f->mute_app = "chat";
	fire(f, "high-latency", "critical", "chat", "gpt-4", 0, T0);
	assert_int_equal(groups_flush(f->gs, &f->al, T0 + 30 * SEC), 0);
	assert_int_equal(groups_count(f->gs), 1);
	assert_true(groups_next_due(f->gs) == -1);

	f->mute_app = NULL;
	groups_changed(f->gs, T0 + MIN);
	assert_true(groups_next_due(f->gs) == T0 + 30 * SEC + 5 * MIN);
	assert_int_equal(groups_flush(f->gs, &f->al, T0 + 30 * SEC + 5 * MIN),
	                 1);
	q = queued(f);
	assert_int_equal(nalerts(json_array_get(q, 0)), 1);
	json_decref(q);
}

static void
test_groups_survive_restart(void **state)
{
	struct fixture *f = *state;
	json_t *q;

	fire(f, "high-latency", "critical", "chat", "gpt-4", 0, T0);
	fire(f, "high-latency", "critical", "search", "gpt-4", 0, T0 + SEC);
	reopen(f);
	assert_int_equal(groups_count(f->gs), 1);
	assert_true(groups_next_due(f->gs) == T0 + 30 * SEC);
	assert_int_equal(groups_flush(f->gs, &f->al, T0 + 30 * SEC), 1);
	q = queued(f);
	assert_int_equal(nalerts(json_array_get(q, 0)), 2);
	json_decref(q);

	/* after a restart the flush is not queued again, and the group
	 * keeps its schedule and what it announced */
	reopen(f);
	assert_true(groups_next_due(f->gs) == T0 + 30 * SEC + 5 * MIN);
	assert_int_equal(groups_flush(f->gs, &f->al, T0 + 30 * SEC + 5 * MIN),
	                 0);
	fire(f, "high-latency", "critical", "chat", "gpt-4", 1, T0 + 6 * MIN);
	reopen(f);
	assert_int_equal(groups_flush(f->gs, &f->al, T0 + 30 * SEC + 10 * MIN),
	                 1);
	q = queued(f);
	assert_int_equal(count_state(json_array_get(q, 0), 1), 1);
	json_decref(q);
}

static void
test_default_receiver_one_group(void **state)
{
	struct fixture *f = *state;
	json_t *q;

	/* "info" matches no route: the default receiver, one group */
	fire(f, "a", "info", "chat", "gpt-4", 0, T0);
	fire(f, "b", "info", "search", "claude", 0, T0);
	assert_int_equal(groups_flush(f->gs, &f->al, T0 + 30 * SEC), 1);
	q = queued(f);
	assert_int_equal(nalerts(json_array_get(q, 0)), 2);
	assert_string_equal(json_string_value(json_object_get(
	                            json_array_get(q, 0), "group_key")),
	                    "{}:{}");
	json_decref(q);
}

static void
test_json_lists_groups(void **state)
{
	struct fixture *f = *state;
	json_t *g, *a;

	fire(f, "high-latency", "critical", "chat", "gpt-4", 0, T0);
	g = groups_json(f->gs);
	assert_int_equal(json_array_size(g), 1);
	a = json_array_get(g, 0);
	assert_string_equal(json_string_value(json_object_get(a, "receiver")),
	                    "pager");
	assert_int_equal(json_array_size(json_object_get(a, "alerts")), 1);
	assert_true(json_integer_value(json_object_get(a, "next_flush_ms")) ==
	            T0 + 30 * SEC);
	json_decref(g);
}

/* Inhibition --------------------------------------------------------- */

static json_t *
labels(const char *alert, const char *severity, const char *model)
{
	return json_pack("{s:s, s:s, s:s, s:s}", "alertname", alert, "severity",
	                 severity, "model", model, "application_id", "chat");
}

static void
observe(struct inhibitor *in, json_t *l, const char *fp, int resolved)
{
	struct notify_alert al;

	memset(&al, 0, sizeof(al));
	al.labels = l;
	al.resolved = resolved;
	snprintf(al.fingerprint, sizeof(al.fingerprint), "%s", fp);
	assert_int_equal(inhibitor_observe(in, &al, T0), 0);
}

static void
test_inhibit_rules(void **state)
{
	struct fixture *f = *state;
	struct inhibitor *in = inhibitor_open(outbox_db(f->ob));
	json_t *src = labels("provider-errors", "critical", "gpt-4");
	json_t *same = labels("high-latency", "warning", "gpt-4");
	json_t *other = labels("high-latency", "warning", "claude");
	json_t *crit = labels("high-latency", "critical", "gpt-4");

	assert_non_null(in);
	assert_null(inhibitor_muting(in, &f->al, same, "t1"));
	observe(in, src, "s1", 0);
	assert_int_equal(inhibitor_count(in), 1);
	/* the same model's warnings are muted, nothing else */
	assert_non_null(inhibitor_muting(in, &f->al, same, "t1"));
	assert_ptr_equal(inhibitor_muting(in, &f->al, same, "t1"),
	                 &f->al.inhibit_rules[0]);
	assert_null(inhibitor_muting(in, &f->al, other, "t2"));
	assert_null(inhibitor_muting(in, &f->al, crit, "t3"));

	/* kept across a restart */
	inhibitor_free(in);
	in = inhibitor_open(outbox_db(f->ob));
	assert_int_equal(inhibitor_count(in), 1);
	assert_non_null(inhibitor_muting(in, &f->al, same, "t1"));

	/* and from a file of the first layout (keyed by fingerprint),
	 * brought to rids at open; what follows runs on the migrated row */
	inhibitor_free(in);
	assert_int_equal(
	        sqlite3_exec(
	                outbox_db(f->ob),
	                "CREATE TABLE a0 (fingerprint TEXT PRIMARY KEY,"
	                " labels TEXT NOT NULL, since_ms INTEGER NOT NULL);"
	                "INSERT INTO a0 SELECT fingerprint, labels, since_ms"
	                " FROM active_alerts;"
	                "DROP TABLE active_alerts;"
	                "ALTER TABLE a0 RENAME TO active_alerts;",
	                NULL, NULL, NULL),
	        SQLITE_OK);
	in = inhibitor_open(outbox_db(f->ob));
	assert_non_null(in);
	assert_int_equal(tu_db_count(f->db,
	                             "SELECT count(*) FROM"
	                             " pragma_table_info('active_alerts')"
	                             " WHERE name = 'rid'"),
	                 1);
	assert_int_equal(inhibitor_count(in), 1);
	assert_non_null(inhibitor_muting(in, &f->al, same, "t1"));

	/* an alert never inhibits itself */
	observe(in, same, "t1", 0);
	{
		json_t *both = labels("provider-errors", "warning", "claude");

		observe(in, both, "b1", 0);
		assert_null(inhibitor_muting(in, &f->al, both, "b1"));
		observe(in, both, "b1", 1);
		json_decref(both);
	}

	/* the source resolves: nothing muted any more */
	observe(in, src, "s1", 1);
	assert_null(inhibitor_muting(in, &f->al, same, "t1"));
	assert_int_equal(inhibitor_count(in), 1);
	inhibitor_free(in);
	json_decref(src);
	json_decref(same);
	json_decref(other);
	json_decref(crit);
}

/* Closes the groups and the outbox, then gives the file the first layout
 * of the groups' tables (groups keyed by id) with the rows it has now:
 * a file an older alertd wrote. */
static void
close_as_first_layout(struct fixture *f)
{
	sqlite3 *db;

	groups_free(f->gs);
	f->gs = NULL;
	outbox_close(f->ob);
	f->ob = NULL;
	assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
	assert_int_equal(
	        sqlite3_exec(
	                db,
	                "BEGIN;"
	                "CREATE TABLE g0 (id TEXT PRIMARY KEY,"
	                " receiver TEXT NOT NULL, group_key TEXT NOT NULL,"
	                " group_labels TEXT NOT NULL,"
	                " interval_ms INTEGER NOT NULL,"
	                " repeat_ms INTEGER NOT NULL,"
	                " next_ms INTEGER NOT NULL,"
	                " last_sent_ms INTEGER NOT NULL DEFAULT 0,"
	                " last_firing TEXT NOT NULL DEFAULT '[]',"
	                " last_resolved TEXT NOT NULL DEFAULT '[]',"
	                " seq INTEGER NOT NULL DEFAULT 0);"
	                "INSERT INTO g0 SELECT id, receiver, group_key,"
	                " group_labels, interval_ms, repeat_ms, next_ms,"
	                " last_sent_ms, last_firing, last_resolved, seq"
	                " FROM groups ORDER BY rid DESC;"
	                "CREATE TABLE a0 (group_id TEXT NOT NULL,"
	                " fingerprint TEXT NOT NULL, alert TEXT NOT NULL,"
	                " PRIMARY KEY (group_id, fingerprint));"
	                "INSERT INTO a0 SELECT g.id, a.fingerprint, a.alert"
	                " FROM group_alerts a JOIN groups g"
	                " ON g.rid = a.group_rid;"
	                "DROP TABLE group_alerts; DROP TABLE groups;"
	                "ALTER TABLE g0 RENAME TO groups;"
	                "ALTER TABLE a0 RENAME TO group_alerts;"
	                "COMMIT;",
	                NULL, NULL, NULL),
	        SQLITE_OK);
	sqlite3_close(db);
}

/*
 * A file of the first layout (groups keyed by their ids) is brought to
 * rids at open with every group, alert, schedule and announcement kept,
 * and new groups get rids of their own after it.
 */
static void
test_first_layout_migrated(void **state)
{
	struct fixture *f = *state;
	json_t *q;
	size_t i, two = 0;

	fire(f, "high-latency", "critical", "chat", "gpt-4", 0, T0);
	fire(f, "high-latency", "critical", "search", "gpt-4", 0, T0 + SEC);
	fire(f, "errors", "critical", "chat", "gpt-4", 0, T0 + SEC);
	close_as_first_layout(f);
	assert_int_equal(tu_db_count(f->db, "SELECT count(*) FROM"
	                                    " pragma_table_info('groups')"
	                                    " WHERE name = 'rid'"),
	                 0);
	f->ob = outbox_open(f->db, outbox_policy_default());
	assert_non_null(f->ob);
	f->gs = groups_open(outbox_db(f->ob), f->ob, mute_fn, f);
	assert_non_null(f->gs);
	assert_int_equal(tu_db_count(f->db, "SELECT count(*) FROM"
	                                    " pragma_table_info('groups')"
	                                    " WHERE name = 'rid'"),
	                 1);
	assert_int_equal(
	        tu_db_count(f->db, "SELECT count(*) FROM group_alerts"), 3);
	assert_int_equal(groups_count(f->gs), 2);
	assert_true(groups_next_due(f->gs) == T0 + 30 * SEC);
	assert_int_equal(groups_flush(f->gs, &f->al, T0 + 31 * SEC), 2);
	q = queued(f);
	assert_int_equal(json_array_size(q), 2);
	for (i = 0; i < 2; i++)
		if (nalerts(json_array_get(q, i)) == 2)
			two++;
	assert_int_equal(two, 1);
	json_decref(q);

	/* a new group after the migrated ones; all of them survive */
	fire(f, "slow", "critical", "chat", "gpt-4", 0, T0 + MIN);
	reopen(f);
	assert_int_equal(groups_count(f->gs), 3);
	assert_int_equal(tu_db_count(f->db, "SELECT count(DISTINCT rid) FROM"
	                                    " groups"),
	                 3);
	/* what was announced before is not announced again */
	assert_int_equal(groups_flush(f->gs, &f->al, T0 + MIN + 31 * SEC), 1);
	q = queued(f);
	assert_int_equal(json_array_size(q), 1);
	json_decref(q);
}

/*
 * A migration that fails is undone whole: with a table in the way of
 * its renames, the open fails, and the file keeps its first layout and
 * every row, for the next (fixed) start to bring over.
 */
static void
test_failed_migration_leaves_first_layout(void **state)
{
	struct fixture *f = *state;
	sqlite3 *db;

	fire(f, "high-latency", "critical", "chat", "gpt-4", 0, T0);
	fire(f, "errors", "critical", "chat", "gpt-4", 0, T0);
	close_as_first_layout(f);
	assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "CREATE TABLE group_alerts_by_id (x)",
	                              NULL, NULL, NULL),
	                 SQLITE_OK);
	sqlite3_close(db);
	f->ob = outbox_open(f->db, outbox_policy_default());
	assert_non_null(f->ob);
	assert_null(groups_open(outbox_db(f->ob), f->ob, mute_fn, f));
	/* untouched: the first layout, both groups, both alerts */
	assert_int_equal(tu_db_count(f->db, "SELECT count(*) FROM"
	                                    " pragma_table_info('groups')"
	                                    " WHERE name = 'rid'"),
	                 0);
	assert_int_equal(tu_db_count(f->db, "SELECT count(*) FROM groups"), 2);
	assert_int_equal(
	        tu_db_count(f->db, "SELECT count(*) FROM group_alerts"), 2);
	assert_int_equal(tu_db_count(f->db, "SELECT count(*) FROM sqlite_master"
	                                    " WHERE name = 'groups_by_id'"),
	                 0);
	/* the obstacle gone, the next start brings it over */
	assert_int_equal(sqlite3_exec(outbox_db(f->ob),
	                              "DROP TABLE group_alerts_by_id", NULL,
	                              NULL, NULL),
	                 SQLITE_OK);
	f->gs = groups_open(outbox_db(f->ob), f->ob, mute_fn, f);
	assert_non_null(f->gs);
	assert_int_equal(groups_count(f->gs), 2);
}

static void
batch_open(void *arg)
{
	(void)arg;
}

/*
 * A group added inside a transaction has its row written once, by its
 * first look in the same transaction or else just before the commit:
 * either way the committed database has it, as a restart reads it.
 */
static void
test_new_group_row_written_by_commit(void **state)
{
	struct fixture *f = *state;
	json_t *q;

	/* a unit of its own (no batch): its commit writes the row */
	assert_int_equal(groups_begin(f->gs), 0);
	fire(f, "high-latency", "critical", "chat", "gpt-4", 0, T0);
	assert_int_equal(groups_end(f->gs, 1), 0);
	reopen(f);
	assert_int_equal(groups_count(f->gs), 1);
	assert_true(groups_next_due(f->gs) == T0 + 30 * SEC);

	/* batch mode, as alertd's loop: looked at (and sent) in the same
	 * transaction; a muted group (looked at, nothing written by the
	 * look) and one not due yet are written at the commit */
	outbox_batch(f->ob, batch_open, NULL, f);
	f->mute_app = "muted";
	assert_int_equal(groups_begin(f->gs), 0);
	fire(f, "errors", "critical", "chat", "gpt-4", 0, T0);
	fire(f, "slow", "critical", "muted", "gpt-4", 0, T0);
	fire(f, "late", "critical", "chat", "gpt-4", 0, T0 + SEC);
	assert_int_equal(groups_end(f->gs, 1), 0);
	assert_int_equal(groups_flush(f->gs, &f->al, T0 + 30 * SEC), 2);
	assert_int_equal(outbox_commit(f->ob), 0);
	q = queued(f);
	assert_int_equal(json_array_size(q), 2);
	json_decref(q);
	reopen(f);
	assert_int_equal(groups_count(f->gs), 4);
	/* nothing announced twice; the one not due yet when it is */
	assert_int_equal(groups_flush(f->gs, &f->al, T0 + 30 * SEC), 0);
	assert_int_equal(groups_flush(f->gs, &f->al, T0 + 31 * SEC), 1);
	q = queued(f);
	assert_int_equal(json_array_size(q), 1);
	assert_string_equal(
	        alert_label(json_object_get(
	                            json_array_get(json_object_get(
	                                                   json_array_get(q, 0),
	                                                   "alerts"),
	                                           0),
	                            "labels"),
	                    "alertname"),
	        "late");
	json_decref(q);
	assert_int_equal(groups_count(f->gs), 4);

	/* groups_free writes what the closing commit carries */
	outbox_batch(f->ob, batch_open, NULL, f);
	assert_int_equal(groups_begin(f->gs), 0);
	fire(f, "last", "critical", "chat", "gpt-4", 0, T0 + 2 * MIN);
	assert_int_equal(groups_end(f->gs, 1), 0);
	reopen(f);
	assert_int_equal(groups_count(f->gs), 5);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(
	                test_quiet_group_parked_until_change_or_repeat, setup,
	                teardown),
	        cmocka_unit_test_setup_teardown(
	                test_all_muted_group_waits_for_change, setup, teardown),
	        cmocka_unit_test_setup_teardown(
	                test_group_wait_collects_siblings, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_group_interval_and_repeat,
	                                        setup, teardown),
	        cmocka_unit_test_setup_teardown(
	                test_resolved_announced_then_group_gone, setup,
	                teardown),
	        cmocka_unit_test_setup_teardown(test_without_send_resolved,
	                                        setup, teardown),
	        cmocka_unit_test_setup_teardown(
	                test_fired_and_resolved_within_group_wait, setup,
	                teardown),
	        cmocka_unit_test_setup_teardown(test_muted_alerts_left_out,
	                                        setup, teardown),
	        cmocka_unit_test_setup_teardown(test_groups_survive_restart,
	                                        setup, teardown),
	        cmocka_unit_test_setup_teardown(test_first_layout_migrated,
	                                        setup, teardown),
	        cmocka_unit_test_setup_teardown(
	                test_failed_migration_leaves_first_layout, setup,
	                teardown),
	        cmocka_unit_test_setup_teardown(test_default_receiver_one_group,
	                                        setup, teardown),
	        cmocka_unit_test_setup_teardown(test_json_lists_groups, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_inhibit_rules, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(
	                test_new_group_row_written_by_commit, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
