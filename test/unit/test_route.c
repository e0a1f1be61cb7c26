/*
 * test_route.c: alertd picks the first route whose match labels all
 * equal the anomaly's, as alerts.yaml orders them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

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

static struct sn_anomaly
anomaly(const char *severity, const char *app, const char *detector)
{
	struct sn_anomaly a;

	memset(&a, 0, sizeof(a));
	a.severity = str(severity);
	a.application_id = str(app);
	a.detector_id = str(detector);
	a.alert = str("some-alert");
	a.model = str("");
	return a;
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
	struct sn_anomaly a = anomaly("critical", "billing", "high-cost");
	const struct sn_route *r = route_find(*state, &a);

	assert_non_null(r);
	assert_int_equal(r->nreceivers, 1);
	assert_string_equal(r->receivers[0], "pager");

	a = anomaly("critical", "chatbot", "high-cost");
	r = route_find(*state, &a);
	assert_non_null(r);
	assert_int_equal(r->nreceivers, 2);
	assert_string_equal(r->receivers[0], "email-ops");
	assert_true(r->repeat_interval_ms == 15 * 60 * 1000);
}

static void
test_all_labels_must_match(void **state)
{
	/* billing but only a warning: not the pager route. */
	struct sn_anomaly a = anomaly("warning", "billing", "high-latency");
	const struct sn_route *r = route_find(*state, &a);

	assert_non_null(r);
	assert_string_equal(r->receivers[0], "slack-monitoring");
}

static void
test_no_match_and_no_routes(void **state)
{
	struct sn_anomaly a = anomaly("warning", "chatbot", "error-rate");
	struct sn_alerts none;

	assert_null(route_find(*state, &a));
	memset(&none, 0, sizeof(none));
	assert_null(route_find(&none, &a));
}

static void
test_route_labels(void **state)
{
	struct sn_anomaly a = anomaly("warning", "chatbot", "error-rate");

	(void)state;
	assert_string_equal(route_label(&a, "severity")->p, "warning");
	assert_string_equal(route_label(&a, "application_id")->p, "chatbot");
	assert_string_equal(route_label(&a, "detector")->p, "error-rate");
	assert_null(route_label(&a, "no_such_label"));
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
	struct sn_anomaly a;
	const char *out[ROUTE_MAX_RECEIVERS];
	size_t n;

	(void)state;
	memset(&al, 0, sizeof(al));
	assert_int_equal(config_parse_alerts("alerts.yaml", alerts_full,
	                                     strlen(alerts_full), &al, &errs),
	                 0);

	/* The regex route continues into the critical route; the
	 * receiver both name is listed once; the third route is not
	 * reached because the second does not continue. */
	a = anomaly("critical", "chat", "high-cost");
	a.model = str("gpt-4o");
	n = route_receivers(&al, &a, out, ROUTE_MAX_RECEIVERS);
	assert_int_equal(n, 2);
	assert_string_equal(out[0], "openai-team");
	assert_string_equal(out[1], "pager");

	/* The regex must match the whole value. */
	a.model = str("my-gpt-4o");
	n = route_receivers(&al, &a, out, ROUTE_MAX_RECEIVERS);
	assert_int_equal(n, 2);
	assert_string_equal(out[0], "pager");
	assert_string_equal(out[1], "openai-team");

	/* Nothing matches: the default receiver alone. */
	a = anomaly("warning", "chat", "high-latency");
	n = route_receivers(&al, &a, out, ROUTE_MAX_RECEIVERS);
	assert_int_equal(n, 1);
	assert_string_equal(out[0], "fallback");

	/* Only the regex route matches (it continues, nothing after it
	 * does): its receiver, and no default since something matched. */
	a.model = str("gpt-4-turbo");
	n = route_receivers(&al, &a, out, ROUTE_MAX_RECEIVERS);
	assert_int_equal(n, 1);
	assert_string_equal(out[0], "openai-team");

	/* The out array bound is respected. */
	a = anomaly("critical", "chat", "high-cost");
	a.model = str("gpt-4o");
	assert_int_equal(route_receivers(&al, &a, out, 1), 1);
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
