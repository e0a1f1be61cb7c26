/*
 * test_route.c: alertd routes an alert by its labels as Alertmanager
 * does: routes in order, match and match_re, continue, default_receiver.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "testutil.h"

#include "../../alertd/alertd.h"
#include "config.h"

static const char alerts_yaml[] =
        "routing:\n"
        "  - match:\n"
        "      severity: critical\n"
        "      application_id: billing\n"
        "    receivers: [pager]\n"
        "  - match:\n"
        "      severity: critical\n"
        "    receivers: [email-ops, slack-incidents]\n"
        "    repeat_interval: 15m\n"
        "  - match:\n"
        "      detector: high-latency\n"
        "    receivers: [slack-monitoring]\n"
        "receivers:\n"
        "  - name: pager\n"
        "    type: webhook\n"
        "    config:\n"
        "      url: http://127.0.0.1:9/p\n"
        "  - name: email-ops\n"
        "    type: webhook\n"
        "    config:\n"
        "      url: http://127.0.0.1:9/e\n"
        "  - name: slack-incidents\n"
        "    type: webhook\n"
        "    config:\n"
        "      url: http://127.0.0.1:9/s\n"
        "  - name: slack-monitoring\n"
        "    type: webhook\n"
        "    config:\n"
        "      url: http://127.0.0.1:9/m\n";

/* An alert's labels (the caller decrefs). */
static json_t *
alert(const char *severity, const char *app, const char *detector,
      const char *model)
{
	json_t *l = json_pack("{s:s, s:s, s:s, s:s}", "alertname", "some-alert",
	                      "severity", severity, "application_id", app,
	                      "detector", detector);

	if (model != NULL)
		json_object_set_new(l, "model", json_string(model));
	return l;
}

static int
setup(void **state)
{
	static struct sn_alerts al;
	struct sn_cfg_errors errs = {0};

	memset(&al, 0, sizeof(al));
	if (config_parse_alerts("alerts.yaml", alerts_yaml, strlen(alerts_yaml),
	                        &al, &errs) != 0) {
		for (size_t i = 0; i < errs.count; i++)
			print_error("%s\n", errs.msgs[i]);
		cfg_errors_free(&errs);
		return -1;
	}
	*state = &al;
	return 0;
}

static int
teardown(void **state)
{
	config_alerts_free(*state);
	return 0;
}

static void
test_first_matching_route_wins(void **state)
{
	json_t *a = alert("critical", "billing", "high-cost", NULL);
	const struct sn_route *r = route_find(*state, a);

	assert_non_null(r);
	assert_int_equal(r->nreceivers, 1);
	assert_string_equal(r->receivers[0], "pager");
	json_decref(a);

	a = alert("critical", "chatbot", "high-cost", NULL);
	r = route_find(*state, a);
	assert_non_null(r);
	assert_int_equal(r->nreceivers, 2);
	assert_string_equal(r->receivers[0], "email-ops");
	assert_true(r->repeat_interval_ms == 15 * 60 * 1000);
	json_decref(a);
}

static void
test_all_labels_must_match(void **state)
{
	/* billing but only a warning: not the pager route. */
	json_t *a = alert("warning", "billing", "high-latency", NULL);
	const struct sn_route *r = route_find(*state, a);

	assert_non_null(r);
	assert_string_equal(r->receivers[0], "slack-monitoring");
	json_decref(a);
}

static void
test_no_match_and_no_routes(void **state)
{
	json_t *a = alert("warning", "chatbot", "error-rate", NULL);
	struct sn_alerts none;

	assert_null(route_find(*state, a));
	memset(&none, 0, sizeof(none));
	assert_null(route_find(&none, a));
	json_decref(a);
}

static void
test_route_labels(void **state)
{
	json_t *a = alert("warning", "chatbot", "error-rate", NULL);

	(void)state;
	assert_string_equal(alert_label(a, "severity"), "warning");
	assert_string_equal(alert_label(a, "application_id"), "chatbot");
	assert_string_equal(alert_label(a, "detector"), "error-rate");
	/* detectors.yaml's names for two of the labels */
	assert_string_equal(alert_label(a, "detector_id"), "error-rate");
	assert_string_equal(alert_label(a, "alert"), "some-alert");
	assert_string_equal(alert_label(a, "no_such_label"), "");
	json_decref(a);
}

/* match_re, continue and default_receiver, as Alertmanager routes. */
static const char alerts_full[] = "default_receiver: fallback\n"
                                  "routing:\n"
                                  "  - match_re:\n"
                                  "      model: gpt-4.*\n"
                                  "    receivers: [openai-team]\n"
                                  "    continue: true\n"
                                  "  - match:\n"
                                  "      severity: critical\n"
                                  "    receivers: [pager, openai-team]\n"
                                  "  - match:\n"
                                  "      severity: critical\n"
                                  "    receivers: [never-reached]\n"
                                  "receivers:\n"
                                  "  - name: fallback\n"
                                  "    type: webhook\n"
                                  "    config:\n"
                                  "      url: http://127.0.0.1:9/f\n"
                                  "  - name: openai-team\n"
                                  "    type: webhook\n"
                                  "    config:\n"
                                  "      url: http://127.0.0.1:9/o\n"
                                  "  - name: pager\n"
                                  "    type: webhook\n"
                                  "    config:\n"
                                  "      url: http://127.0.0.1:9/p\n"
                                  "  - name: never-reached\n"
                                  "    type: webhook\n"
                                  "    config:\n"
                                  "      url: http://127.0.0.1:9/n\n";

static void
test_receivers_continue_regex_and_default(void **state)
{
	struct sn_alerts al;
	struct sn_cfg_errors errs = {0};
	json_t *a;
	struct route_target out[ROUTE_MAX_TARGETS];
	size_t n;

	(void)state;
	memset(&al, 0, sizeof(al));
	assert_int_equal(config_parse_alerts("alerts.yaml", alerts_full,
	                                     strlen(alerts_full), &al, &errs),
	                 0);

	/* The regex route continues into the critical route; the
	 * receiver both name is listed once; the third route is not
	 * reached because the second does not continue. */
	a = alert("critical", "chat", "high-cost", "gpt-4o");
	n = route_targets(&al, a, out, ROUTE_MAX_TARGETS);
	assert_int_equal(n, 2);
	assert_string_equal(out[0].receiver, "openai-team");
	assert_ptr_equal(out[0].route, &al.routes[0]);
	assert_string_equal(out[1].receiver, "pager");
	assert_int_equal(out[1].route_index, 1);
	json_decref(a);

	/* The regex must match the whole value. */
	a = alert("critical", "chat", "high-cost", "my-gpt-4o");
	n = route_targets(&al, a, out, ROUTE_MAX_TARGETS);
	assert_int_equal(n, 2);
	assert_string_equal(out[0].receiver, "pager");
	assert_string_equal(out[1].receiver, "openai-team");
	assert_int_equal(out[1].route_index, 1);
	json_decref(a);

	/* Nothing matches: the default receiver alone. */
	a = alert("warning", "chat", "high-latency", NULL);
	n = route_targets(&al, a, out, ROUTE_MAX_TARGETS);
	assert_int_equal(n, 1);
	assert_string_equal(out[0].receiver, "fallback");
	assert_null(out[0].route);
	assert_int_equal(out[0].route_index, al.nroutes);
	json_decref(a);

	/* Only the regex route matches (it continues, nothing after it
	 * does): its receiver, and no default since something matched. */
	a = alert("warning", "chat", "high-latency", "gpt-4-turbo");
	n = route_targets(&al, a, out, ROUTE_MAX_TARGETS);
	assert_int_equal(n, 1);
	assert_string_equal(out[0].receiver, "openai-team");
	json_decref(a);

	/* The out array bound is respected. */
	a = alert("critical", "chat", "high-cost", "gpt-4o");
	assert_int_equal(route_targets(&al, a, out, 1), 1);
	json_decref(a);
	config_alerts_free(&al);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_first_matching_route_wins),
	        cmocka_unit_test(test_all_labels_must_match),
	        cmocka_unit_test(test_no_match_and_no_routes),
	        cmocka_unit_test(test_route_labels),
	        cmocka_unit_test(test_receivers_continue_regex_and_default),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
