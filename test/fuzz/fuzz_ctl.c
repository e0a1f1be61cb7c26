/*
 * fuzz_ctl.c: a control request through every control endpoint that can
 * answer without a running daemon.
 *
 * The input is one request as it arrives on a control socket (JSON, not
 * NUL-terminated).  It goes to:
 *
 *   ctl_handle     common/ctl.c's parsing, with a dispatcher that knows
 *                  one command
 *   actl_handle    alertd's commands (alertd/actl.c), on an environment
 *                  built as alertd's main builds it: sender, outbox,
 *                  silences, groups (holding one alert) and inhibitor on
 *                  one alerts.db under a temporary folder, and the
 *                  routes of fuzz_alerts_yaml
 *   detctl_handle  detectd's commands (detectd/detctl.c), on an engine
 *                  that has seen a few events
 *
 * Every reply must be a JSON object with a boolean "ok", and an "error"
 * string when ok is false.  A silence that alerts.silence.add stored
 * must load again as alertd loads silences at start, or a restart would
 * lose it.  The database is emptied after each request that changed it,
 * so each input runs on the same state.
 *
 * The supervisor's control socket (supervisor/control.c) has no request
 * parser of its own outside its connection handling; its requests are
 * the same JSON objects, parsed the same way as ctl_handle's.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>
#include <sqlite3.h>

#include "../../alertd/actl.h"
#include "../../alertd/alertd.h"
#include "../../alertd/group.h"
#include "../../alertd/inhibit.h"
#include "../../alertd/notify.h"
#include "../../alertd/outbox.h"
#include "../../alertd/sender.h"
#include "../../alertd/silence.h"
#include "../../detectd/detctl.h"
#include "../../detectd/engine.h"
#include "ctl.h"
#include "daemon.h"
#include "fuzz.h"
#include "validate.h"

/* alertd as its main() puts it together. */
struct fx_alertd {
	char dir[256];
	struct sn_config cfg;
	struct sn_daemon d;
	struct sender *snd;
	sqlite3 *db;
	struct silences *sil;
	struct inhibitor *inh;
	struct groups *gs;
	struct actl_env env;
};

static struct fx_alertd fx_a;
static struct engine *fx_engine;

static const char fx_events_ndjson[] =
        "{\"event_id\":\"x-1\",\"timestamp\":\"2025-11-06T12:00:00Z\","
        "\"event_type\":\"llm.response\",\"application_id\":\"chat\","
        "\"data\":{\"model\":\"gpt-4o\",\"status\":\"success\","
        "\"latency_ms\":900,\"total_tokens\":100,\"cost\":0.01,"
        "\"region\":\"eu\"}}\n"
        "{\"event_id\":\"x-2\",\"timestamp\":\"2025-11-06T12:00:40Z\","
        "\"event_type\":\"llm.response\",\"application_id\":\"chat\","
        "\"data\":{\"model\":\"gpt-4o\",\"status\":\"error\","
        "\"latency_ms\":9000,\"cost\":2}}\n";

static void
fx_remove_db(void)
{
	static const char *const files[] = {"alerts.db", "alerts.db-wal",
	                                    "alerts.db-shm",
	                                    "alerts.db-journal"};
	char p[320];
	size_t i;

	if (fx_a.dir[0] == '\0')
		return;
	for (i = 0; i < SN_ARRAY_LEN(files); i++) {
		snprintf(p, sizeof(p), "%s/%s", fx_a.dir, files[i]);
		unlink(p);
	}
	rmdir(fx_a.dir);
	fx_a.dir[0] = '\0';
}

static void
fx_exec(const char *sql)
{
	FUZZ_CHECK(sqlite3_exec(fx_a.db, sql, NULL, NULL, NULL) == SQLITE_OK);
}

/* One firing alert in a group and in the inhibitor, for the lists. */
static void
fx_add_alert(void)
{
	struct route_target t[ROUTE_MAX_TARGETS];
	struct notification n;
	struct sn_anomaly a;
	size_t i, nt;

	memset(&a, 0, sizeof(a));
	a.ts_ms = a.detected_ms = a.window_end_ms = FUZZ_NOW_MS;
	a.window_start_ms = FUZZ_NOW_MS - 60000;
	a.value = 9000;
	a.threshold = 5000;
	a.id.p = "lat-1";
	a.detector_id.p = a.alert.p = "lat";
	a.detector_type.p = "threshold";
	a.severity.p = "critical";
	a.application_id.p = "chat";
	a.model.p = "gpt-4o";
	a.metric.p = "latency_ms";
	a.message.p = "p95 latency_ms 9000 > 5000";
	a.labels.p = "{\"application_id\":\"chat\"}";
	a.event_id.p = a.event_ids.p = "";
	a.id.len = 5;
	a.detector_id.len = a.alert.len = 3;
	a.detector_type.len = 9;
	a.severity.len = 8;
	a.application_id.len = 4;
	a.model.len = 6;
	a.metric.len = 10;
	a.message.len = (uint32_t)strlen(a.message.p);
	a.labels.len = (uint32_t)strlen(a.labels.p);

	notify_init(&n, "", "", NULL, NULL);
	notify_add_anomaly(&n, &a);
	FUZZ_CHECK(inhibitor_observe(fx_a.inh, &n.alerts[0], FUZZ_NOW_MS) == 0);
	nt = route_targets(&fx_a.cfg.alerts, n.alerts[0].labels, t,
	                   ROUTE_MAX_TARGETS);
	FUZZ_CHECK(groups_begin(fx_a.gs) == 0);
	for (i = 0; i < nt; i++)
		FUZZ_CHECK(groups_add(fx_a.gs, &t[i], &n.alerts[0],
		                      FUZZ_NOW_MS) >= 0);
	FUZZ_CHECK(groups_end(fx_a.gs, 1) == 0);
	notify_free(&n);
}

static void
fx_emit_none(const struct sn_anomaly *a, void *arg)
{
	(void)a;
	(void)arg;
}

static void
fx_setup(void)
{
	const char *tmp = getenv("TMPDIR");
	struct ingest_result res;
	size_t i;

	if (fx_engine != NULL)
		return;
	fuzz_quiet();

	snprintf(fx_a.dir, sizeof(fx_a.dir), "%s/sn-fuzz-ctl-XXXXXX",
	         tmp != NULL && strlen(tmp) < 200 ? tmp : "/tmp");
	FUZZ_CHECK(mkdtemp(fx_a.dir) != NULL);
	atexit(fx_remove_db);
	fx_a.cfg.storage.path = fx_a.dir;
	fx_a.cfg.alerts = *fuzz_alerts(); /* borrowed, never freed */
	fx_a.d.name = "alertd";
	fx_a.d.cfg = &fx_a.cfg;
	FUZZ_CHECK((fx_a.d.base = event_base_new()) != NULL);
	FUZZ_CHECK((fx_a.snd = sender_open(&fx_a.d)) != NULL);
	fx_a.db = outbox_db(sender_outbox(fx_a.snd));
	/* a fuzzer needs no fsync per notification */
	fx_exec("PRAGMA synchronous=OFF");
	FUZZ_CHECK((fx_a.sil = silences_open(fx_a.db, FUZZ_NOW_MS)) != NULL);
	FUZZ_CHECK((fx_a.inh = inhibitor_open(fx_a.db)) != NULL);
	FUZZ_CHECK((fx_a.gs = groups_open(fx_a.db, sender_outbox(fx_a.snd),
	                                  NULL, NULL)) != NULL);
	fx_add_alert();
	fx_a.env.d = &fx_a.d;
	fx_a.env.snd = fx_a.snd;
	fx_a.env.ob = sender_outbox(fx_a.snd);
	fx_a.env.sil = fx_a.sil;
	fx_a.env.gs = fx_a.gs;
	fx_a.env.inh = fx_a.inh;

	fx_engine = engine_new(fuzz_detectors(), NULL);
	memset(&res, 0, sizeof(res));
	FUZZ_CHECK(ingest_parse_body(fx_events_ndjson, strlen(fx_events_ndjson),
	                             INGEST_BODY_NDJSON, 10,
	                             &res) == INGEST_OK);
	for (i = 0; i < res.nevents; i++)
		engine_feed(fx_engine, &res.events[i].ev, FUZZ_NOW_MS,
		            fx_emit_none, NULL);
	ingest_result_free(&res);
}

/* The shape every control reply has; frees reply. */
static json_t *
fx_check_reply(char *reply)
{
	json_t *j, *ok;

	FUZZ_CHECK(reply != NULL);
	j = json_loads(reply, 0, NULL);
	FUZZ_CHECK(json_is_object(j));
	ok = json_object_get(j, "ok");
	FUZZ_CHECK(json_is_boolean(ok));
	if (json_is_false(ok))
		FUZZ_CHECK(json_is_string(json_object_get(j, "error")));
	free(reply);
	return j;
}

/* ctl_handler knowing "echo": answers the command and its argument. */
static char *
fx_echo(const char *command, json_t *req, void *arg)
{
	(void)arg;
	if (strcmp(command, "echo") != 0)
		return NULL;
	return ctl_reply(json_pack("{s:b, s:O?}", "ok", 1, "arg",
	                           json_object_get(req, "arg")));
}

/* Silences as alertd loads them at start: none may be lost.  Then
 * each is matched against an alert, as a group flush does. */
static void
fx_check_silences_reload(void)
{
	json_t *before = silences_json(fx_a.sil, FUZZ_NOW_MS, 1), *after;
	json_t *labels;

	silences_free(fx_a.sil);
	FUZZ_CHECK((fx_a.sil = silences_open(fx_a.db, FUZZ_NOW_MS)) != NULL);
	fx_a.env.sil = fx_a.sil;
	after = silences_json(fx_a.sil, FUZZ_NOW_MS, 1);
	FUZZ_CHECK(json_array_size(after) == json_array_size(before));
	json_decref(before);
	json_decref(after);

	labels = json_pack("{s:s, s:s, s:s, s:s}", "alertname", "lat",
	                   "severity", "critical", "application_id",
	                   "chat-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!",
	                   "model", "");
	FUZZ_CHECK(labels != NULL);
	(void)silences_muting(fx_a.sil, labels, FUZZ_NOW_MS + 1000);
	(void)silences_muting(fx_a.sil, labels, sn_now_ms() + 1000);
	json_decref(labels);
}

/* Back to the state fx_setup left, after a request changed it. */
static void
fx_reset(void)
{
	fx_exec("DELETE FROM silences; DELETE FROM outbox;");
	silences_free(fx_a.sil);
	FUZZ_CHECK((fx_a.sil = silences_open(fx_a.db, FUZZ_NOW_MS)) != NULL);
	fx_a.env.sil = fx_a.sil;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *req = (const char *)data;
	int changes;

	fx_setup();
	json_decref(fx_check_reply(ctl_handle(req, size, fx_echo, NULL)));
	json_decref(fx_check_reply(detctl_handle(fx_engine, req, size)));

	changes = sqlite3_total_changes(fx_a.db);
	json_decref(fx_check_reply(actl_handle(&fx_a.env, req, size)));
	if (sqlite3_total_changes(fx_a.db) != changes) {
		fx_check_silences_reload();
		fx_reset();
	}
	return 0;
}
