/*
 * fuzz_config.c: YAML text through the three configuration loaders.
 *
 * The input is one file's text.  It is loaded as each of the three
 * files, the way the daemons load them (common/config.h):
 *
 *   detectors.yaml  config_parse_detectors; when it loads, detectd's
 *                   engine is built from it and fed a few events
 *   alerts.yaml     config_parse_alerts; when it loads, alertd routes
 *                   a few label sets with it
 *   config.yaml     config_load_main on an in-memory file (memfd), so
 *                   the detectors and alerts files it names are not read
 *
 * Nothing may crash, leak or hang; errors are fine, but a loader must
 * say why it failed (at least one message) and say nothing when it did
 * not.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <jansson.h>

#include "../../alertd/alertd.h"
#include "../../detectd/engine.h"
#include "config.h"
#include "fuzz.h"
#include "validate.h"

/* A few events, a minute apart, with the fields detectors look at. */
static const char fc_events_ndjson[] =
        "{\"event_id\":\"c-1\",\"timestamp\":\"2025-11-06T12:00:00Z\","
        "\"event_type\":\"llm.response\",\"application_id\":\"chat\","
        "\"data\":{\"model\":\"gpt-4o\",\"status\":\"success\","
        "\"latency_ms\":900,\"total_tokens\":100,\"prompt_tokens\":60,"
        "\"completion_tokens\":40,\"cost\":0.01,\"region\":\"eu\","
        "\"usage\":{\"cached_tokens\":3}}}\n"
        "{\"event_id\":\"c-2\",\"timestamp\":\"2025-11-06T12:00:30Z\","
        "\"event_type\":\"llm.response\",\"application_id\":\"chat\","
        "\"data\":{\"model\":\"gpt-4o\",\"status\":\"error\","
        "\"latency_ms\":9000,\"cost\":2}}\n"
        "{\"event_id\":\"c-3\",\"timestamp\":\"2025-11-06T12:07:00Z\","
        "\"event_type\":\"llm.error\",\"application_id\":\"search\","
        "\"data\":{\"latency_ms\":1,\"region\":\"us\",\"cached\":false}}\n";

static const struct ingest_result *
fc_events(void)
{
	static struct ingest_result res;
	static int done;

	if (!done) {
		FUZZ_CHECK(ingest_parse_body(
		                   fc_events_ndjson, strlen(fc_events_ndjson),
		                   INGEST_BODY_NDJSON, 100, &res) == INGEST_OK);
		FUZZ_CHECK(res.nevents == 3);
		done = 1;
	}
	return &res;
}

static void
fc_emit(const struct sn_anomaly *a, void *arg)
{
	(void)a;
	(*(size_t *)arg)++;
}

static void
fc_check_errors(int rc, const struct sn_cfg_errors *errs)
{
	size_t i;

	FUZZ_CHECK(rc == 0 ? errs->count == 0 : errs->count > 0);
	for (i = 0; i < errs->count; i++)
		FUZZ_CHECK(errs->msgs[i] != NULL && errs->msgs[i][0] != '\0');
}

static void
fc_detectors(const char *text, size_t len)
{
	const struct ingest_result *res = fc_events();
	struct sn_detectors dets = {0};
	struct sn_cfg_errors errs = {0};
	struct engine_det_info in;
	struct engine *e;
	const char *err;
	size_t i, n = 0;
	int rc;

	rc = config_parse_detectors("detectors.yaml", text, len, &dets, &errs);
	fc_check_errors(rc, &errs);
	cfg_errors_free(&errs);
	if (rc < 0) {
		config_detectors_free(&dets);
		return;
	}
	e = engine_new(&dets, NULL);
	FUZZ_CHECK(engine_detector_count(e) == dets.count);
	for (i = 0; i < engine_detector_count(e); i++)
		engine_detector_info(e, i, &in);
	for (i = 0; i < res->nevents; i++)
		engine_feed(e, &res->events[i].ev, FUZZ_NOW_MS, fc_emit, &n);
	if (dets.count > 0)
		json_decref(engine_test(e, dets.items[0].id, &res->events[0].ev,
		                        &err));
	engine_finish(e, FUZZ_NOW_MS, fc_emit, &n);
	engine_free(e);
	config_detectors_free(&dets);
}

static void
fc_alerts(const char *text, size_t len)
{
	struct sn_alerts al = {0};
	struct sn_cfg_errors errs = {0};
	struct route_target t[ROUTE_MAX_TARGETS];
	json_t *labels;
	size_t i, n;
	int rc;

	rc = config_parse_alerts("alerts.yaml", text, len, &al, &errs);
	fc_check_errors(rc, &errs);
	cfg_errors_free(&errs);
	if (rc == 0) {
		labels = json_pack("{s:s, s:s, s:s, s:s}", "alertname", "lat",
		                   "severity", "critical", "application_id",
		                   "chat", "model", "gpt-4o");
		FUZZ_CHECK(labels != NULL);
		n = route_targets(&al, labels, t, ROUTE_MAX_TARGETS);
		FUZZ_CHECK(n <= ROUTE_MAX_TARGETS);
		for (i = 0; i < n; i++)
			FUZZ_CHECK(t[i].receiver != NULL);
		(void)route_find(&al, labels);
		json_decref(labels);
	}
	config_alerts_free(&al);
}

/* config.yaml from an in-memory file: config_load_main takes a path. */
static void
fc_main(const char *text, size_t len)
{
	static int fd = -1;
	struct sn_cfg_errors errs = {0};
	struct sn_config *cfg;
	char path[64];

	if (fd < 0)
		FUZZ_CHECK((fd = memfd_create("config.yaml", 0)) >= 0);
	FUZZ_CHECK(ftruncate(fd, 0) == 0);
	FUZZ_CHECK(pwrite(fd, text, len, 0) == (ssize_t)len);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	cfg = config_load_main(path, &errs);
	fc_check_errors(cfg != NULL ? 0 : -1, &errs);
	cfg_errors_free(&errs);
	config_free(cfg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;

	fuzz_quiet();
	fc_detectors(text, size);
	fc_alerts(text, size);
	fc_main(text, size);
	return 0;
}
