/*
 * test_config.c: the three config files load as the deployment guide
 * writes them, and every kind of mistake is reported as
 * "file:line: key: problem" with the right file, line and key, all of
 * them in one run.
 *
 * Data files are under test/unit/data/ (found from __FILE__, or from
 * $SN_TEST_DATA): seed/ holds the guide's files verbatim, bad/ the broken
 * ones.
 */
#define _XOPEN_SOURCE 700
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "config_int.h"
#include "log.h"
#include "util.h"

static char data_dir[PATH_MAX];

/* Helpers ------------------------------------------------------------- */

static const char *
data(const char *rel)
{
	static char buf[4][PATH_MAX];
	static int next;
	char *b = buf[next++ % 4];

	cfg_pathf(b, PATH_MAX, "%s/%s", data_dir, rel);
	return b;
}

static char *
read_data(const char *rel, size_t *len)
{
	char *text = config_read_file(data(rel), len, NULL);

	if (text == NULL)
		fail_msg("cannot read %s", data(rel));
	return text;
}

static void
dump_errors(const struct sn_cfg_errors *e)
{
	size_t i;

	for (i = 0; i < e->count; i++)
		print_message("# error: %s\n", e->msgs[i]);
}

/* Asserts some message contains needle. */
static void
assert_error(const struct sn_cfg_errors *e, const char *needle)
{
	size_t i;

	for (i = 0; i < e->count; i++)
		if (strstr(e->msgs[i], needle) != NULL)
			return;
	dump_errors(e);
	fail_msg("no error contains \"%s\"", needle);
}

static void
assert_no_errors(const struct sn_cfg_errors *e)
{
	if (e->count == 0)
		return;
	dump_errors(e);
	fail_msg("%zu unexpected errors", e->count);
}

static void
write_file(const char *dir, const char *name, const char *text)
{
	char path[PATH_MAX], *slash;
	FILE *f;

	cfg_pathf(path, sizeof(path), "%s/%s", dir, name);
	if ((slash = strrchr(path, '/')) != NULL) {
		*slash = '\0';
		assert_int_equal(sn_mkdir_p(path, 0755), 0);
		*slash = '/';
	}
	assert_non_null(f = fopen(path, "w"));
	fputs(text, f);
	fclose(f);
}

static char *
make_tmpdir(void)
{
	char tmpl[] = "/tmp/sn-test-config.XXXXXX";

	assert_non_null(mkdtemp(tmpl));
	return sn_xstrdup(tmpl);
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void
rm_tree(char *dir)
{
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(dir);
}

/* Copies a seed file into dir with /etc/sentinel replaced by dir. */
static void
copy_seed(const char *dir, const char *rel, const char *name)
{
	struct sn_buf b = {0};
	size_t len;
	char *text = read_data(rel, &len), *p, *hit;

	for (p = text; (hit = strstr(p, "/etc/sentinel")) != NULL;
	     p = hit + strlen("/etc/sentinel")) {
		sn_buf_append(&b, p, (size_t)(hit - p));
		sn_buf_append(&b, dir, strlen(dir));
	}
	sn_buf_append(&b, p, strlen(p) + 1);
	write_file(dir, name, (char *)b.data);
	sn_buf_free(&b);
	free(text);
}

static void
set_secrets(void)
{
	setenv("SMTP_PASSWORD", "smtp-secret", 1);
	setenv("SLACK_WEBHOOK_URL", "https://hooks.slack.test/T0/B0", 1);
}

static int
setup(void **state)
{
	(void)state;
	unsetenv("MODE");
	unsetenv("LOG_LEVEL");
	unsetenv("SMTP_PASSWORD");
	unsetenv("SLACK_WEBHOOK_URL");
	unsetenv("SN_TEST_HOOK_URL");
	unsetenv("SN_TEST_SEVERITY");
	unsetenv("SN_TEST_PD_KEY");
	return 0;
}

/* Loads config text written to a temp dir; returns the config or NULL. */
static struct sn_config *
load_text(char **dir, const char *text, struct sn_cfg_errors *errs)
{
	char path[PATH_MAX];

	*dir = make_tmpdir();
	write_file(*dir, "config.yaml", text);
	cfg_pathf(path, sizeof(path), "%s/config.yaml", *dir);
	return config_load(path, errs);
}

/* The seed's files load ----------------------------------------------- */

static void
test_seed_standalone_files_parse(void **state)
{
	struct sn_cfg_errors e = {0};
	struct sn_detectors d;
	struct sn_alerts a;
	size_t len;
	char *text;

	(void)state;
	set_secrets();
	text = read_data("seed/standalone/detectors.yaml", &len);
	assert_int_equal(
	        config_parse_detectors("detectors.yaml", text, len, &d, &e), 0);
	free(text);
	assert_no_errors(&e);
	assert_int_equal(d.count, 3);
	assert_null(d.path);
	assert_string_equal(d.items[0].id, "high-latency");
	assert_string_equal(d.items[0].name, "High Latency Detector");
	assert_string_equal(d.items[0].type, "threshold");
	assert_true(d.items[0].enabled);
	assert_string_equal(d.items[0].metric, "latency_ms");
	assert_string_equal(d.items[0].condition, "greater_than");
	assert_true(d.items[0].has_threshold);
	assert_true(d.items[0].threshold == 5000.0);
	assert_int_equal(d.items[0].window_ms, 5 * 60000);
	assert_int_equal(d.items[0].nactions, 1);
	assert_string_equal(d.items[0].actions[0].alert, "high-latency-alert");
	assert_string_equal(d.items[0].actions[0].severity, "warning");
	assert_int_equal(d.items[0].line, 2);
	assert_true(d.items[1].threshold == 1.0);
	assert_int_equal(d.items[1].window_ms, 60000);
	assert_string_equal(d.items[1].actions[0].severity, "critical");
	assert_string_equal(d.items[2].type, "statistical");
	assert_string_equal(d.items[2].strategy, "zscore");
	assert_null(d.items[2].condition);
	assert_true(d.items[2].threshold == 3.0);
	assert_int_equal(d.items[2].window_ms, 10 * 60000);
	config_detectors_free(&d);

	text = read_data("seed/standalone/alerts.yaml", &len);
	assert_int_equal(config_parse_alerts("alerts.yaml", text, len, &a, &e),
	                 0);
	free(text);
	assert_no_errors(&e);
	assert_int_equal(a.nroutes, 2);
	assert_int_equal(a.routes[0].nmatch, 1);
	assert_string_equal(a.routes[0].match[0].key, "severity");
	assert_string_equal(a.routes[0].match[0].value, "critical");
	assert_int_equal(a.routes[0].nreceivers, 2);
	assert_string_equal(a.routes[0].receivers[1], "slack-incidents");
	assert_int_equal(a.routes[0].repeat_interval_ms, 15 * 60000);
	assert_int_equal(a.routes[1].repeat_interval_ms, 3600000);
	assert_int_equal(a.nreceivers, 3);
	assert_string_equal(a.receivers[0].type, "email");
	assert_string_equal(a.receivers[0].smtp_host, "smtp.gmail.com");
	assert_int_equal(a.receivers[0].smtp_port, 587);
	assert_string_equal(a.receivers[0].smtp_username, "alerts@example.com");
	assert_string_equal(a.receivers[0].smtp_password, "smtp-secret");
	assert_string_equal(a.receivers[0].from, "sentinel@example.com");
	assert_int_equal(a.receivers[0].nto, 1);
	assert_string_equal(a.receivers[0].to[0], "ops-team@example.com");
	assert_string_equal(a.receivers[1].webhook_url,
	                    "https://hooks.slack.test/T0/B0");
	assert_string_equal(a.receivers[1].channel, "#incidents");
	assert_string_equal(a.receivers[2].channel, "#monitoring");
	config_alerts_free(&a);
}

static void
test_seed_standalone_load(void **state)
{
	struct sn_cfg_errors e = {0};
	struct sn_config *cfg;
	char *dir = make_tmpdir(), path[PATH_MAX];

	(void)state;
	set_secrets();
	copy_seed(dir, "seed/standalone/config.yaml", "config.yaml");
	copy_seed(dir, "seed/standalone/detectors.yaml", "detectors.yaml");
	copy_seed(dir, "seed/standalone/alerts.yaml", "alerts.yaml");
	cfg_pathf(path, sizeof(path), "%s/config.yaml", dir);
	cfg = config_load(path, &e);
	assert_no_errors(&e);
	assert_non_null(cfg);
	assert_string_equal(cfg->path, path);
	assert_string_equal(cfg->dir, dir);
	assert_int_equal(cfg->mode, SN_MODE_STANDALONE);
	assert_int_equal(cfg->grpc.port, 9090);
	assert_int_equal(cfg->http.port, 8080);
	assert_string_equal(cfg->storage.path, "/var/sentinel/data");
	assert_int_equal(cfg->storage.retention_raw_ms, 7 * 86400000LL);
	assert_int_equal(cfg->storage.retention_aggregated_ms, 90 * 86400000LL);
	assert_true(cfg->obs.metrics_enabled);
	assert_int_equal(cfg->obs.metrics_port, 9102);
	assert_int_equal(cfg->obs.log_level, LOG_LEVEL_INFO);
	assert_int_equal(cfg->obs.log_format, LOG_FORMAT_JSON);
	cfg_pathf(path, sizeof(path), "%s/detectors.yaml", dir);
	assert_string_equal(cfg->detectors_file, path);
	assert_string_equal(cfg->detectors.path, path);
	assert_int_equal(cfg->detectors.count, 3);
	cfg_pathf(path, sizeof(path), "%s/alerts.yaml", dir);
	assert_string_equal(cfg->alerts_file, path);
	assert_string_equal(cfg->alerts.path, path);
	assert_int_equal(cfg->alerts.nreceivers, 3);
	config_free(cfg);
	rm_tree(dir);
}

static void
test_seed_kubernetes(void **state)
{
	struct sn_cfg_errors e = {0};
	struct sn_config *cfg;
	struct sn_detectors d;
	struct sn_alerts a;
	size_t len;
	char *text;

	(void)state;
	cfg = config_load(data("seed/kubernetes/config.yaml"), &e);
	assert_no_errors(&e);
	assert_non_null(cfg);
	assert_int_equal(cfg->mode, SN_MODE_DISTRIBUTED);
	assert_false(cfg->grpc.tls.enabled);
	assert_true(cfg->kafka.enabled);
	assert_int_equal(cfg->kafka.nbrokers, 1);
	assert_string_equal(cfg->kafka.brokers[0],
	                    "kafka.kafka.svc.cluster.local:9092");
	assert_int_equal(cfg->kafka.ntopics, 1);
	assert_string_equal(cfg->kafka.topics[0], "llm-telemetry");
	assert_string_equal(cfg->kafka.consumer_group, "sentinel-prod");
	assert_int_equal(cfg->detection.workers, 8);
	assert_int_equal(cfg->detection.batch_size, 100);
	assert_string_equal(cfg->storage.timeseries_type, "prometheus");
	assert_string_equal(
	        cfg->storage.timeseries_url,
	        "http://prometheus.monitoring.svc.cluster.local:9090");
	assert_string_equal(cfg->storage.events_type, "elasticsearch");
	assert_int_equal(cfg->storage.nevents_urls, 1);
	/* No configFile keys: the built-in detectors and no alerting. */
	assert_null(cfg->detectors_file);
	assert_int_equal(cfg->detectors.count, 3);
	assert_null(cfg->alerts_file);
	assert_int_equal(cfg->alerts.nroutes, 0);
	assert_int_equal(cfg->alerts.nreceivers, 0);
	config_free(cfg);

	text = read_data("seed/kubernetes/detectors.yaml", &len);
	assert_int_equal(
	        config_parse_detectors("detectors.yaml", text, len, &d, &e), 0);
	free(text);
	assert_int_equal(d.count, 1);
	assert_string_equal(d.items[0].name, "high-latency"); /* = id */
	config_detectors_free(&d);

	setenv("SLACK_WEBHOOK_URL", "https://hooks.slack.test/k8s", 1);
	text = read_data("seed/kubernetes/alerts.yaml", &len);
	assert_int_equal(config_parse_alerts("alerts.yaml", text, len, &a, &e),
	                 0);
	free(text);
	assert_no_errors(&e);
	assert_int_equal(a.nroutes, 1);
	assert_int_equal(a.routes[0].repeat_interval_ms,
	                 SN_DEFAULT_REPEAT_INTERVAL_MS); /* 4h */
	assert_string_equal(a.receivers[0].webhook_url,
	                    "https://hooks.slack.test/k8s");
	config_alerts_free(&a);
}

static void
test_seed_helm_values(void **state)
{
	struct sn_cfg_errors e = {0};
	struct sn_config *cfg;

	(void)state;
	cfg = config_load(data("seed/helm-values.yaml"), &e);
	assert_no_errors(&e);
	assert_non_null(cfg);
	assert_int_equal(cfg->storage.nevents_urls, 1);
	assert_string_equal(cfg->storage.events_urls[0],
	                    "http://elasticsearch:9200");
	assert_true(cfg->integrations.observatory_enabled);
	assert_string_equal(cfg->integrations.observatory_endpoint,
	                    "grpc://observatory:9090");
	assert_true(cfg->integrations.shield_enabled);
	assert_string_equal(cfg->integrations.shield_endpoint,
	                    "grpc://shield:9090");
	config_free(cfg);
}

/* The repository's etc/ files, as `sentinel --config etc/config.yaml`
 * from a clone loads them. */
static void
test_etc_files(void **state)
{
	struct sn_cfg_errors e = {0};
	struct sn_config *cfg;
	char path[PATH_MAX], want[PATH_MAX];

	(void)state;
	cfg_pathf(path, sizeof(path), "%s/../../../etc/config.yaml", data_dir);
	cfg = config_load(path, &e);
	assert_null(cfg);
	assert_error(&e, "alerts.yaml:");
	assert_error(&e, "receivers[0].config.smtp.password: environment "
	                 "variable SMTP_PASSWORD is not set");
	assert_error(&e, "receivers[1].config.webhookUrl: environment "
	                 "variable SLACK_WEBHOOK_URL is not set");
	cfg_errors_free(&e);

	set_secrets();
	cfg = config_load(path, &e);
	assert_no_errors(&e);
	assert_non_null(cfg);
	cfg_pathf(want, sizeof(want), "%s/../var/run", cfg->dir);
	assert_string_equal(cfg->run_dir, want);
	cfg_pathf(want, sizeof(want), "%s/../var/data", cfg->dir);
	assert_string_equal(cfg->storage.path, want);
	assert_int_equal(cfg->detectors.count, 3);
	assert_int_equal(cfg->alerts.nroutes, 2);
	assert_string_equal(cfg->alerts.receivers[0].smtp_password,
	                    "smtp-secret");
	config_free(cfg);
}

static void
test_builtin_defaults(void **state)
{
	struct sn_cfg_errors e = {0};
	struct sn_config *cfg;

	(void)state;
	cfg = config_load(NULL, &e);
	assert_no_errors(&e);
	assert_non_null(cfg);
	assert_null(cfg->path);
	assert_string_equal(cfg->dir, ".");
	assert_int_equal(cfg->mode, SN_MODE_STANDALONE);
	assert_string_equal(cfg->run_dir, "./var/run");
	assert_string_equal(cfg->storage.path, "./var/data");
	assert_string_equal(cfg->http.host, "0.0.0.0");
	assert_int_equal(cfg->http.port, 8080);
	assert_int_equal(cfg->http.max_body_bytes, 10 * 1024 * 1024);
	assert_int_equal(cfg->http.max_batch_events, 10000);
	assert_int_equal(cfg->grpc.port, 9090);
	assert_false(cfg->grpc.tls.enabled);
	assert_false(cfg->kafka.enabled);
	assert_true(cfg->obs.metrics_enabled);
	assert_string_equal(cfg->obs.metrics_host, "0.0.0.0");
	assert_int_equal(cfg->obs.metrics_port, 9102);
	assert_int_equal(cfg->obs.log_level, LOG_LEVEL_INFO);
	assert_int_equal(cfg->obs.log_format, LOG_FORMAT_JSON);
	assert_int_equal(cfg->storage.retention_raw_ms, 7 * 86400000LL);
	assert_int_equal(cfg->storage.retention_aggregated_ms, 90 * 86400000LL);
	assert_int_equal(cfg->storage.retention_rollups_1m_ms, 7 * 86400000LL);
	assert_int_equal(cfg->storage.retention_anomalies_ms, 90 * 86400000LL);
	assert_int_equal(cfg->storage.retention_notifications_ms,
	                 30 * 86400000LL);
	assert_int_equal(cfg->storage.retention_interval_ms, 60000);
	assert_null(cfg->detectors_file);
	assert_null(cfg->detectors.path);
	assert_int_equal(cfg->detectors.count, 3);
	assert_string_equal(cfg->detectors.items[0].id, "high-latency");
	assert_string_equal(cfg->detectors.items[1].id, "high-cost");
	assert_string_equal(cfg->detectors.items[2].id, "error-rate");
	assert_string_equal(cfg->detectors.items[2].strategy, "zscore");
	assert_null(cfg->alerts_file);
	assert_int_equal(cfg->alerts.nroutes, 0);
	assert_int_equal(cfg->alerts.nreceivers, 0);
	assert_string_equal(config_mode_name(cfg->mode), "standalone");
	config_free(cfg);
	/* errs may be NULL */
	cfg = config_load(NULL, NULL);
	assert_non_null(cfg);
	config_free(cfg);
}

static void
test_empty_files(void **state)
{
	struct sn_cfg_errors e = {0};
	struct sn_config *cfg;
	char *dir;

	(void)state;
	cfg = load_text(&dir, "", &e);
	assert_no_errors(&e);
	assert_non_null(cfg);
	assert_int_equal(cfg->http.port, 8080);
	config_free(cfg);
	rm_tree(dir);

	/* Keys left empty (children commented out) take their defaults. */
	cfg = load_text(&dir,
	                "# only comments\n---\nstorage:\n#  path: x\n"
	                "ingestion:\n  http:\n    port:\n",
	                &e);
	assert_no_errors(&e);
	assert_non_null(cfg);
	assert_string_equal(cfg->storage.path, "./var/data");
	assert_int_equal(cfg->http.port, 8080);
	config_free(cfg);
	rm_tree(dir);
}

/* Every kind of bad file ---------------------------------------------- */

static void
test_syntax_error(void **state)
{
	struct sn_cfg_errors e = {0};

	(void)state;
	assert_null(config_load(data("bad/syntax.yaml"), &e));
	assert_int_equal(e.count, 1);
	assert_error(&e, "bad/syntax.yaml:5: syntax error: did not find "
	                 "expected key");
	cfg_errors_free(&e);
	assert_null(config_load(data("bad/syntax2.yaml"), &e));
	assert_error(&e, "bad/syntax2.yaml:4: syntax error: ");
	cfg_errors_free(&e);
	assert_null(config_load(data("bad/syntax3.yaml"), &e));
	assert_error(&e, "bad/syntax3.yaml:2: syntax error: ");
	cfg_errors_free(&e);
}

static void
test_unknown_key(void **state)
{
	struct sn_cfg_errors e = {0};

	(void)state;
	assert_null(config_load(data("bad/unknown-key.yaml"), &e));
	assert_int_equal(e.count, 1);
	assert_error(&e, "bad/unknown-key.yaml:6: storage.retention.forever: "
	                 "unknown key");
	cfg_errors_free(&e);
}

static void
test_wrong_types(void **state)
{
	struct sn_cfg_errors e = {0};

	(void)state;
	assert_null(config_load(data("bad/wrong-type.yaml"), &e));
	assert_int_equal(e.count, 5);
	assert_error(&e, "wrong-type.yaml:3: ingestion.http.port: expected an "
	                 "integer, found \"abc\"");
	assert_error(&e, "wrong-type.yaml:5: ingestion.kafka.enabled: "
	                 "expected true or false, found \"maybe\"");
	assert_error(&e, "wrong-type.yaml:6: ingestion.kafka.brokers: "
	                 "expected a list, found a scalar");
	assert_error(&e, "wrong-type.yaml:7: mode: expected a string, found "
	                 "a list");
	assert_error(&e, "wrong-type.yaml:10: detection.workers: expected an "
	                 "integer, found \"1.5\"");
	cfg_errors_free(&e);
}

static void
test_bad_duration(void **state)
{
	struct sn_cfg_errors e = {0};

	(void)state;
	assert_null(config_load(data("bad/bad-duration.yaml"), &e));
	assert_int_equal(e.count, 1);
	assert_error(&e, "bad/bad-duration.yaml:3: storage.retention.raw: "
	                 "invalid duration \"5x\"");
	cfg_errors_free(&e);
}

/* The retention policies of the storage issue: each one read, every
 * bad one reported, none may be 0. */
static void
test_retention_keys(void **state)
{
	struct sn_cfg_errors e = {0};
	struct sn_config *cfg;
	char *dir;

	(void)state;
	cfg = load_text(&dir,
	                "storage:\n"
	                "  retention:\n"
	                "    raw: 2d\n"
	                "    rollups_1m: 3d\n"
	                "    aggregated: 30d\n"
	                "    anomalies: 1w\n"
	                "    notifications: 12h\n"
	                "    interval: 30s\n",
	                &e);
	assert_no_errors(&e);
	assert_non_null(cfg);
	assert_int_equal(cfg->storage.retention_raw_ms, 2 * 86400000LL);
	assert_int_equal(cfg->storage.retention_rollups_1m_ms, 3 * 86400000LL);
	assert_int_equal(cfg->storage.retention_aggregated_ms, 30 * 86400000LL);
	assert_int_equal(cfg->storage.retention_anomalies_ms, 7 * 86400000LL);
	assert_int_equal(cfg->storage.retention_notifications_ms,
	                 12 * 3600000LL);
	assert_int_equal(cfg->storage.retention_interval_ms, 30000);
	config_free(cfg);
	rm_tree(dir);

	cfg = load_text(&dir,
	                "storage:\n"
	                "  retention:\n"
	                "    rollups_1m: 0s\n"
	                "    anomalies: forever\n"
	                "    notifications: 5x\n"
	                "    interval: 0ms\n",
	                &e);
	assert_null(cfg);
	assert_int_equal(e.count, 4);
	assert_error(&e, "config.yaml:3: storage.retention.rollups_1m: must be "
	                 "longer than 0");
	assert_error(&e, "config.yaml:4: storage.retention.anomalies: invalid "
	                 "duration \"forever\"");
	assert_error(&e, "config.yaml:5: storage.retention.notifications: "
	                 "invalid duration \"5x\"");
	assert_error(&e, "config.yaml:6: storage.retention.interval: must be "
	                 "longer than 0");
	cfg_errors_free(&e);
	rm_tree(dir);
}

static void
test_bad_port(void **state)
{
	struct sn_cfg_errors e = {0};

	(void)state;
	assert_null(config_load(data("bad/bad-port.yaml"), &e));
	assert_int_equal(e.count, 3);
	assert_error(&e, "bad-port.yaml:3: ingestion.http.port: must be "
	                 "between 1 and 65535, not 70000");
	assert_error(&e, "bad-port.yaml:5: ingestion.grpc.port: must be "
	                 "between 0 and 65535, not 65536");
	assert_error(&e, "bad-port.yaml:8: observability.metrics.port: must "
	                 "be between 1 and 65535, not -1");
	cfg_errors_free(&e);
}

/* All problems of a file are reported, top to bottom. */
static void
test_errors_collected(void **state)
{
	struct sn_cfg_errors e = {0};

	(void)state;
	assert_null(config_load(data("bad/many.yaml"), &e));
	assert_int_equal(e.count, 5);
	assert_non_null(strstr(e.msgs[0], "many.yaml:1: mode: unknown mode "
	                                  "\"cluster\""));
	assert_non_null(strstr(e.msgs[1], "many.yaml:6: ingestion.http."
	                                  "max_body_size: invalid size "
	                                  "\"10XB\""));
	assert_non_null(strstr(e.msgs[2], "many.yaml:9: observability."
	                                  "logging.level: unknown log level "
	                                  "\"verbose\""));
	assert_non_null(strstr(e.msgs[3], "many.yaml:10: observability."
	                                  "logging.format: unknown log "
	                                  "format \"xml\""));
	assert_non_null(strstr(e.msgs[4], "many.yaml:13: storage.retention."
	                                  "raw: must be longer than 0"));
	cfg_errors_free(&e);
}

static void
test_bad_detectors(void **state)
{
	struct sn_cfg_errors e = {0};
	struct sn_detectors d;
	size_t len;
	char *text = read_data("bad/detectors.yaml", &len);

	(void)state;
	assert_int_equal(
	        config_parse_detectors("detectors.yaml", text, len, &d, &e),
	        -1);
	free(text);
	assert_int_equal(d.count, 0);
	assert_null(d.items);
	assert_int_equal(e.count, 9);
	assert_error(&e, "detectors.yaml:3: detectors[0].type: unknown "
	                 "detector type \"magic\"");
	assert_error(&e, "detectors.yaml:6: detectors[1].id: duplicate id "
	                 "\"spikes\" (first used on line 2)");
	assert_error(&e, "detectors.yaml:8: detectors[1].config.threshold: "
	                 "missing");
	assert_error(&e, "detectors.yaml:10: detectors[1].config.condition: "
	                 "unknown condition \"above\"");
	assert_error(&e, "detectors.yaml:11: detectors[1].config.window: "
	                 "invalid duration \"5x\"");
	assert_error(&e, "detectors.yaml:14: detectors[1].actions[0]."
	                 "severity: unknown severity \"urgent\"");
	assert_error(&e, "detectors.yaml:15: detectors[2].id: missing");
	assert_error(&e, "detectors.yaml:17: detectors[2].config.metric: "
	                 "missing");
	assert_error(&e, "detectors.yaml:18: detectors[2].config.strategy: "
	                 "unknown strategy \"fancy\"");
	cfg_errors_free(&e);
}

/* detectors.yaml: the engine's keys ---------------------------------- */

/* Parses a detectors file of test/unit/data; asserts it loads. */
static void
parse_detectors_ok(const char *rel, struct sn_detectors *d)
{
	struct sn_cfg_errors e = {0};
	size_t len;
	char *text = read_data(rel, &len);

	if (config_parse_detectors(rel, text, len, d, &e) != 0) {
		dump_errors(&e);
		fail_msg("%s does not load", rel);
	}
	free(text);
	assert_no_errors(&e);
}

/* Every key of a detector lands in its field. */
static void
test_detector_keys(void **state)
{
	struct sn_detectors d;
	const struct sn_detector *x;

	(void)state;
	parse_detectors_ok("detectors-full.yaml", &d);
	assert_int_equal(d.count, 5);

	x = &d.items[0];
	assert_string_equal(x->id, "p95-latency");
	assert_string_equal(x->type, "threshold");
	assert_string_equal(x->metric, "data.latency_ms");
	assert_string_equal(x->condition, "greater_or_equal");
	assert_true(x->has_threshold && x->threshold == 2500.0);
	assert_int_equal(x->window_ms, 5 * 60000);
	assert_string_equal(x->aggregation, "p95");
	assert_int_equal(x->ngroup_by, 3);
	assert_string_equal(x->group_by[0], "application_id");
	assert_string_equal(x->group_by[1], "model");
	assert_string_equal(x->group_by[2], "data.region");
	assert_int_equal(x->min_samples, 20);
	assert_int_equal(x->cooldown_ms, 10 * 60000);
	assert_int_equal(x->lateness_ms, 30000);
	assert_int_equal(x->max_groups, 500);
	/* numbers and booleans are kept as the text written */
	assert_int_equal(x->nfilter, 4);
	assert_string_equal(x->filter[0].field, "event_type");
	assert_string_equal(x->filter[0].value, "llm.response");
	assert_string_equal(x->filter[1].field, "data.region");
	assert_string_equal(x->filter[1].value, "eu-west-1");
	assert_string_equal(x->filter[2].field, "status");
	assert_string_equal(x->filter[2].value, "200");
	assert_string_equal(x->filter[3].field, "cached");
	assert_string_equal(x->filter[3].value, "false");
	assert_null(x->strategy);
	assert_int_equal(x->nactions, 2);
	assert_string_equal(x->actions[1].alert, "slow-page");
	assert_string_equal(x->actions[1].severity, "info");

	/* threshold without a window: each event is tested */
	x = &d.items[1];
	assert_false(x->enabled);
	assert_string_equal(x->metric, "usage.cached_tokens");
	assert_int_equal(x->window_ms, 0);
	assert_string_equal(x->aggregation, "each");

	x = &d.items[2];
	assert_string_equal(x->type, "statistical");
	assert_string_equal(x->strategy, "auto");
	assert_false(x->has_threshold); /* the strategy's default */
	assert_int_equal(x->window_ms, 60000);
	assert_string_equal(x->aggregation, "sum");
	assert_int_equal(x->history, 288);
	assert_string_equal(x->direction, "up");
	assert_int_equal(x->lateness_ms, 0); /* 0 is allowed */
	assert_null(x->condition);

	x = &d.items[3];
	assert_string_equal(x->type, "rate");
	assert_null(x->metric); /* counts events */
	assert_string_equal(x->condition, "less_than");
	assert_true(x->threshold == 0.1);
	assert_int_equal(x->window_ms, 5 * 60000);
	assert_string_equal(x->baseline, "history");
	assert_int_equal(x->history, 12);
	assert_null(x->aggregation);
	assert_int_equal(x->ngroup_by, 2);
	assert_string_equal(x->group_by[1], "model");

	x = &d.items[4];
	assert_string_equal(x->metric, "completion_tokens");
	assert_string_equal(x->baseline, "none");
	assert_int_equal(x->window_ms, 60000);
	config_detectors_free(&d);
}

/* What a detector gets when it says nothing but the required keys. */
static void
test_detector_defaults(void **state)
{
	static const char text[] = "detectors:\n"
	                           "  - {id: t, type: threshold, config: "
	                           "{metric: cost, condition: greater_than, "
	                           "threshold: 1, window: 1m}}\n"
	                           "  - {id: e, type: threshold, config: "
	                           "{metric: cost, condition: equal, "
	                           "threshold: 0}}\n"
	                           "  - {id: s, type: statistical, config: "
	                           "{metric: latency_ms, window: 1m}}\n"
	                           "  - {id: r, type: rate, config: "
	                           "{condition: less_than, threshold: 1, "
	                           "window: 10m}}\n";
	struct sn_cfg_errors e = {0};
	struct sn_detectors d;
	size_t i;

	(void)state;
	assert_int_equal(config_parse_detectors("d.yaml", text,
	                                        sizeof(text) - 1, &d, &e),
	                 0);
	assert_no_errors(&e);
	assert_int_equal(d.count, 4);
	for (i = 0; i < d.count; i++) {
		const struct sn_detector *x = &d.items[i];

		assert_true(x->enabled);
		assert_int_equal(x->ngroup_by, 1);
		assert_string_equal(x->group_by[0], "application_id");
		assert_int_equal(x->min_samples, 0);
		assert_int_equal(x->cooldown_ms, 0);
		assert_int_equal(x->nfilter, 0);
		assert_null(x->filter);
		assert_int_equal(x->history, 30);
		assert_string_equal(x->direction, "both");
		assert_string_equal(x->baseline, "none");
		assert_int_equal(x->lateness_ms, 5000);
		assert_int_equal(x->max_groups, 10000);
		assert_int_equal(x->nactions, 0);
	}
	assert_string_equal(d.items[0].aggregation, "avg");
	assert_null(d.items[0].strategy);
	assert_string_equal(d.items[1].aggregation, "each");
	assert_string_equal(d.items[2].aggregation, "avg");
	assert_string_equal(d.items[2].strategy, "zscore");
	assert_null(d.items[3].aggregation);
	assert_null(d.items[3].metric);
	config_detectors_free(&d);

	/* The built-in detectors (the seed's) get the same defaults. */
	assert_int_equal(config_parse_detectors(
	                         "builtin", config_builtin_detectors,
	                         strlen(config_builtin_detectors), &d, &e),
	                 0);
	assert_no_errors(&e);
	assert_int_equal(d.count, 3);
	assert_string_equal(d.items[0].aggregation, "avg");
	assert_int_equal(d.items[0].window_ms, 5 * 60000);
	assert_string_equal(d.items[1].aggregation, "avg");
	assert_string_equal(d.items[2].aggregation, "avg");
	assert_string_equal(d.items[2].strategy, "zscore");
	assert_true(d.items[2].threshold == 3.0);
	assert_string_equal(d.items[2].group_by[0], "application_id");
	config_detectors_free(&d);
}

/* Every kind of bad value of the engine's keys, each at its line. */
static void
test_bad_detector_keys(void **state)
{
	static const char *const want[] = {
	        "k.yaml:9: detectors[0].config.aggregation: unknown "
	        "aggregation \"median\" (expected avg, min, max, sum, count, "
	        "p50, p90, p95, p99, last or each)",
	        "k.yaml:10: detectors[0].config.lateness: invalid duration "
	        "\"5x\"",
	        "k.yaml:11: detectors[0].config.cooldown: invalid duration "
	        "\"soon\"",
	        "k.yaml:12: detectors[0].config.group_by[2]: duplicate label "
	        "\"data.model\" (also group_by[1])",
	        "k.yaml:14: detectors[0].config.filter: a field name must not "
	        "be empty",
	        "k.yaml:15: detectors[0].config.filter.event_type: expected a "
	        "value (a string or number), found a list",
	        "k.yaml:16: detectors[0].config.filter.model: missing a value",
	        "k.yaml:17: detectors[0].config.baseline: only for rate "
	        "detectors",
	        "k.yaml:18: detectors[0].config.history: only for statistical "
	        "and rate detectors",
	        "k.yaml:19: detectors[0].config.direction: only for "
	        "statistical detectors",
	        "k.yaml:20: detectors[0].config.strategy: only for "
	        "statistical detectors",
	        "k.yaml:24: detectors[1].config.metric: \"latency ms\" is not "
	        "a field name",
	        "k.yaml:27: detectors[1].config.aggregation: \"p99\" needs a "
	        "window",
	        "k.yaml:28: detectors[1].config.min_samples: must be between "
	        "0 and 1000000000, not -1",
	        "k.yaml:29: detectors[1].config.max_groups: must be between 1 "
	        "and 1000000, not 0",
	        "k.yaml:32: detectors[2].config.window: missing (a "
	        "statistical detector scores one value per window)",
	        "k.yaml:34: detectors[2].config.strategy: unknown strategy "
	        "\"prophet\" (expected zscore, mad, iqr, ewma, cusum or auto)",
	        "k.yaml:35: detectors[2].config.direction: unknown direction "
	        "\"sideways\" (expected up, down or both)",
	        "k.yaml:36: detectors[2].config.history: must be between 1 "
	        "and 10000, not 0",
	        "k.yaml:37: detectors[2].config.aggregation: each is for "
	        "threshold detectors only",
	        "k.yaml:38: detectors[2].config.condition: not used by "
	        "statistical detectors",
	        "k.yaml:39: detectors[2].config.threshold: must be greater "
	        "than 0",
	        "k.yaml:42: detectors[3].config.condition: missing (a rate "
	        "detector needs condition and threshold)",
	        "k.yaml:45: detectors[3].config.baseline: unknown baseline "
	        "\"average\" (expected none or history)",
	        "k.yaml:46: detectors[3].config.aggregation: not used by rate "
	        "detectors",
	        "k.yaml:51: detectors[4].config.threshold: must be greater "
	        "than 0 (with baseline: history it is a ratio",
	        "k.yaml:56: detectors[5].config.window: missing (a rate "
	        "detector counts events per window)",
	        "k.yaml:58: detectors[5].config.threshold: must not be "
	        "negative",
	        "k.yaml:59: detectors[5].config.history: only used with "
	        "baseline: history",
	        "k.yaml:60: detectors[5].config.group_by: needs at least one "
	        "label",
	        "k.yaml:61: detectors[5].config.filter: expected a mapping of "
	        "field: value, found a list",
	        "k.yaml:68: detectors[6].config.group_by: allows at most 8 "
	        "labels, not 9",
	        "k.yaml:69: detectors[6].config.filter.data.: \"data.\" is not "
	        "a field name",
	        "k.yaml:69: detectors[6].config.filter.status: duplicate "
	        "field (also given as \"data.status\")",
	        "k.yaml:72: detectors[7].config.window: missing (error_rate, "
	        "request_rate, tokens_per_second and cost_per_request are "
	        "computed over a window)",
	        "k.yaml:83: detectors[8].config.aggregation: not used with "
	        "request_rate (one value per window, by its own formula)",
	        "k.yaml:89: detectors[9].config.aggregation: not used with "
	        "error_rate",
	};
	struct sn_cfg_errors e = {0};
	struct sn_detectors d;
	size_t len, i;
	char *text = read_data("bad/detectors-keys.yaml", &len);

	(void)state;
	assert_int_equal(config_parse_detectors("k.yaml", text, len, &d, &e),
	                 -1);
	free(text);
	assert_int_equal(d.count, 0);
	for (i = 0; i < SN_ARRAY_LEN(want); i++)
		assert_error(&e, want[i]);
	if (e.count != SN_ARRAY_LEN(want))
		dump_errors(&e);
	assert_int_equal(e.count, SN_ARRAY_LEN(want));
	/* top to bottom */
	for (i = 0; i < e.count; i++)
		assert_non_null(strstr(e.msgs[i], want[i] + 7));
	cfg_errors_free(&e);
}

/* One mistake at a time, as an operator makes them. */
static void
test_bad_detector_one(void **state)
{
	static const struct {
		const char *text;
		const char *want;
	} cases[] = {
	        {"detectors:\n- id: a\n  type: rate\n  config:\n"
	         "    threshold: 1\n    window: 1m\n",
	         "x.yaml:4: detectors[0].config.condition: missing"},
	        {"detectors:\n- id: a\n  type: statistical\n  config:\n"
	         "    metric: cost\n",
	         "x.yaml:4: detectors[0].config.window: missing"},
	        {"detectors:\n- id: a\n  type: statistical\n  config:\n"
	         "    metric: cost\n    window: 1m\n    lateness: 5x\n",
	         "x.yaml:7: detectors[0].config.lateness: invalid duration "
	         "\"5x\""},
	        {"detectors:\n- id: a\n  type: statistical\n  config:\n"
	         "    metric: cost\n    window: 1m\n    group_by: [model, "
	         "model]\n",
	         "x.yaml:7: detectors[0].config.group_by[1]: duplicate label "
	         "\"model\""},
	        {"detectors:\n- id: a\n  type: statistical\n  config:\n"
	         "    metric: cost\n    window: 1m\n    group_by: [\"\"]\n",
	         "x.yaml:7: detectors[0].config.group_by[0]: must not be "
	         "empty"},
	        {"detectors:\n- id: a\n  type: statistical\n  config:\n"
	         "    metric: cost\n    window: 1m\n    filter:\n"
	         "      \"\": x\n",
	         "x.yaml:8: detectors[0].config.filter: a field name must not "
	         "be empty"},
	        {"detectors:\n- id: a\n  type: statistical\n  config:\n"
	         "    metric: cost\n    window: 1m\n    filter: x\n",
	         "x.yaml:7: detectors[0].config.filter: expected a mapping"},
	        {"detectors:\n- id: a\n  type: threshold\n  config:\n"
	         "    metric: cost\n    condition: equal\n    threshold: 1\n"
	         "    aggregation: mean\n",
	         "x.yaml:8: detectors[0].config.aggregation: unknown "
	         "aggregation \"mean\""},
	        {"detectors:\n- id: a\n  type: statistical\n  config:\n"
	         "    metric: cost\n    window: 1m\n    direction: upward\n",
	         "x.yaml:7: detectors[0].config.direction: unknown direction"},
	        {"detectors:\n- id: a\n  type: statistical\n  config:\n"
	         "    metric: cost\n    window: 1m\n    strategy: magic\n",
	         "x.yaml:7: detectors[0].config.strategy: unknown strategy"},
	        {"detectors:\n- id: a\n  type: statistical\n  config:\n"
	         "    metric: cost\n    window: 1m\n    history: 10001\n",
	         "x.yaml:7: detectors[0].config.history: must be between 1 "
	         "and 10000, not 10001"},
	        {"detectors:\n- id: a\n  type: statistical\n  config:\n"
	         "    metric: cost\n    window: 1m\n    max_groups: 1000001\n",
	         "x.yaml:7: detectors[0].config.max_groups: must be between"},
	        {"detectors:\n- id: a\n  type: statistical\n  config:\n"
	         "    metric: cost\n    window: 1m\n    history: 1.5\n",
	         "x.yaml:7: detectors[0].config.history: expected an integer"},
	        {"detectors:\n- id: a\n  type: statistical\n  config:\n"
	         "    metric: cost\n    window: 1m\n    group_by: model\n",
	         "x.yaml:7: detectors[0].config.group_by: expected a list"},
	        {"detectors:\n- id: a\n  type: statistical\n  config:\n"
	         "    metric: cost\n    window: 1m\n    filter:\n"
	         "      model: {a: 1}\n",
	         "x.yaml:8: detectors[0].config.filter.model: expected a "
	         "value"},
	        {"detectors:\n- id: a\n  type: rate\n  config:\n"
	         "    condition: less_than\n    threshold: 1\n"
	         "    window: 1m\n    cooldown: -1m\n",
	         "x.yaml:8: detectors[0].config.cooldown: invalid duration"},
	        {"detectors:\n- id: a\n  type: threshold\n  config:\n"
	         "    metric: .cost\n    condition: equal\n    threshold: 1\n",
	         "x.yaml:5: detectors[0].config.metric: \".cost\" is not a "
	         "field name"},
	        {"detectors:\n- id: a\n  type: threshold\n  config:\n"
	         "    metric: \"\"\n    condition: equal\n    threshold: 1\n",
	         "x.yaml:5: detectors[0].config.metric: missing"},
	};
	struct sn_cfg_errors e = {0};
	struct sn_detectors d;
	size_t i;

	(void)state;
	for (i = 0; i < SN_ARRAY_LEN(cases); i++) {
		if (config_parse_detectors("x.yaml", cases[i].text,
		                           strlen(cases[i].text), &d, &e) == 0)
			fail_msg("case %zu loads", i);
		assert_error(&e, cases[i].want);
		if (e.count != 1)
			dump_errors(&e);
		assert_int_equal(e.count, 1);
		cfg_errors_free(&e);
	}
}

/* ${VAR} works in filter values and group_by labels like anywhere. */
static void
test_detector_env(void **state)
{
	static const char text[] = "detectors:\n- id: a\n  type: rate\n"
	                           "  config:\n    condition: less_than\n"
	                           "    threshold: 1\n    window: 1m\n"
	                           "    group_by: [\"${SN_TEST_LABEL}\"]\n"
	                           "    filter:\n"
	                           "      application_id: ${SN_TEST_APP}\n";
	struct sn_cfg_errors e = {0};
	struct sn_detectors d;

	(void)state;
	setenv("SN_TEST_LABEL", "region", 1);
	unsetenv("SN_TEST_APP");
	assert_int_equal(config_parse_detectors("v.yaml", text,
	                                        sizeof(text) - 1, &d, &e),
	                 -1);
	assert_int_equal(e.count, 1);
	assert_error(&e, "v.yaml:10: detectors[0].config.filter."
	                 "application_id: environment variable SN_TEST_APP "
	                 "is not set");
	cfg_errors_free(&e);
	setenv("SN_TEST_APP", "chat", 1);
	assert_int_equal(config_parse_detectors("v.yaml", text,
	                                        sizeof(text) - 1, &d, &e),
	                 0);
	assert_no_errors(&e);
	assert_string_equal(d.items[0].group_by[0], "region");
	assert_string_equal(d.items[0].filter[0].value, "chat");
	config_detectors_free(&d);
	unsetenv("SN_TEST_LABEL");
	unsetenv("SN_TEST_APP");
}

/* etc/detectors-auto.yaml, the tuning-free file, loads as shipped and
 * watches what the issue promises per application and model. */
static void
test_detectors_auto(void **state)
{
	static const struct {
		const char *type;
		const char *metric; /* NULL: counts events */
		const char *condition;
	} want[] = {
	        {"statistical", "latency_ms", NULL},
	        {"statistical", "total_tokens", NULL},
	        {"statistical", "cost", NULL},
	        {"statistical", "error_rate", NULL},
	        {"rate", NULL, "less_than"},
	        {"rate", NULL, "greater_than"},
	};
	struct sn_cfg_errors e = {0};
	struct sn_detectors d;
	char path[PATH_MAX];
	size_t len, i;
	char *text;

	(void)state;
	cfg_pathf(path, sizeof(path), "%s/../../../etc/detectors-auto.yaml",
	          data_dir);
	assert_non_null(text = config_read_file(path, &len, NULL));
	if (config_parse_detectors("detectors-auto.yaml", text, len, &d, &e) !=
	    0)
		dump_errors(&e);
	free(text);
	assert_no_errors(&e);
	assert_int_equal(d.count, SN_ARRAY_LEN(want));
	for (i = 0; i < d.count; i++) {
		const struct sn_detector *x = &d.items[i];

		assert_true(x->enabled);
		assert_string_equal(x->type, want[i].type);
		if (want[i].metric != NULL)
			assert_string_equal(x->metric, want[i].metric);
		else
			assert_null(x->metric);
		assert_int_equal(x->ngroup_by, 2);
		assert_string_equal(x->group_by[0], "application_id");
		assert_string_equal(x->group_by[1], "model");
		assert_true(x->window_ms >= 60000);
		assert_int_equal(x->nactions, 1);
		if (strcmp(x->type, "statistical") == 0) {
			assert_string_equal(x->strategy, "auto");
			assert_false(x->has_threshold);
		} else {
			assert_string_equal(x->condition, want[i].condition);
			assert_string_equal(x->baseline, "history");
		}
	}
	assert_string_equal(d.items[0].aggregation, "avg");
	assert_string_equal(d.items[0].direction, "both");
	config_detectors_free(&d);
}

static void
test_bad_alerts(void **state)
{
	struct sn_cfg_errors e = {0};
	struct sn_alerts a;
	size_t len;
	char *text = read_data("bad/alerts.yaml", &len);

	(void)state;
	assert_int_equal(config_parse_alerts("alerts.yaml", text, len, &a, &e),
	                 -1);
	free(text);
	assert_int_equal(a.nroutes, 0);
	assert_int_equal(e.count, 5);
	assert_error(&e, "alerts.yaml:6: routing[0].receivers[1]: unknown "
	                 "receiver \"pager\"");
	assert_error(&e, "alerts.yaml:7: routing[0].repeat_interval: invalid "
	                 "duration \"soon\"");
	assert_error(&e, "alerts.yaml:14: receivers[0].config.smtp.port: must "
	                 "be between 1 and 65535, not 99999");
	assert_error(&e, "alerts.yaml:19: receivers[1].type: unknown receiver "
	                 "type \"fax\"");
	assert_error(&e, "alerts.yaml:22: receivers[2].config.url: missing");
	cfg_errors_free(&e);

	text = read_data("bad/alerts-match.yaml", &len);
	assert_int_equal(config_parse_alerts("m.yaml", text, len, &a, &e), -1);
	free(text);
	assert_int_equal(e.count, 2);
	assert_error(&e, "m.yaml:3: routing[0].match.severity: expected a "
	                 "string");
	assert_error(&e, "m.yaml:7: routing[1].match: expected a mapping");
	cfg_errors_free(&e);
}

/* alerts.yaml: grouping, inhibition, every receiver key ---------------- */

static void
test_alert_keys(void **state)
{
	struct sn_cfg_errors e = {0};
	const struct sn_receiver *r;
	const struct sn_route *rt;
	const struct sn_inhibit_rule *ir;
	struct sn_alerts a;
	size_t len;
	char *text = read_data("alerts-full.yaml", &len);

	(void)state;
	setenv("SN_TEST_SMTP_PW", "pw", 1);
	setenv("SN_TEST_HMAC", "hmac", 1);
	setenv("SN_TEST_PD", "pd-key", 1);
	assert_int_equal(config_parse_alerts("alerts.yaml", text, len, &a, &e),
	                 0);
	free(text);
	assert_no_errors(&e);
	assert_string_equal(a.external_url, "https://sentinel.example.com");
	assert_string_equal(a.default_receiver, "hook");
	assert_int_equal(a.delivery.max_retry_age_ms, 30 * 60000);
	assert_int_equal(a.delivery.retry_initial_ms, 500);
	assert_int_equal(a.delivery.retry_max_ms, 60000);

	assert_int_equal(a.nroutes, 3);
	rt = &a.routes[0];
	assert_int_equal(rt->line, 10);
	assert_int_equal(rt->nmatch, 1);
	assert_int_equal(rt->nmatch_re, 2);
	assert_string_equal(rt->match_re[0].key, "model");
	assert_string_equal(rt->match_re[0].pattern, "gpt-4.*");
	assert_int_equal(regexec(&rt->match_re[0].re, "gpt-4o", 0, NULL, 0), 0);
	/* anchored: the whole value must match */
	assert_int_not_equal(
	        regexec(&rt->match_re[0].re, "my-gpt-4", 0, NULL, 0), 0);
	assert_int_equal(regexec(&rt->match_re[1].re, "search", 0, NULL, 0), 0);
	assert_int_not_equal(regexec(&rt->match_re[1].re, "chatty", 0, NULL, 0),
	                     0);
	assert_int_equal(rt->nreceivers, 2);
	assert_int_equal(rt->ngroup_by, 2);
	assert_string_equal(rt->group_by[1], "model");
	assert_false(rt->group_by_all);
	assert_int_equal(rt->group_wait_ms, 10000);
	assert_int_equal(rt->group_interval_ms, 120000);
	assert_int_equal(rt->repeat_interval_ms, 15 * 60000);
	assert_true(rt->continue_matching);
	rt = &a.routes[1];
	assert_int_equal(rt->nmatch, 0);
	assert_int_equal(rt->nmatch_re, 1);
	assert_true(rt->group_by_all);
	assert_false(rt->continue_matching);
	/* Alertmanager's defaults */
	rt = &a.routes[2];
	assert_int_equal(rt->ngroup_by, 0);
	assert_int_equal(rt->group_wait_ms, 30000);
	assert_int_equal(rt->group_interval_ms, 5 * 60000);
	assert_int_equal(rt->repeat_interval_ms, 4 * 3600000);

	assert_int_equal(a.ninhibit_rules, 2);
	ir = &a.inhibit_rules[0];
	assert_int_equal(ir->nsource_match, 1);
	assert_string_equal(ir->source_match[0].value, "provider-error-rate");
	assert_int_equal(ir->nsource_match_re, 0);
	assert_int_equal(ir->ntarget_match, 1);
	assert_int_equal(ir->ntarget_match_re, 1);
	assert_int_equal(ir->nequal, 1);
	assert_string_equal(ir->equal[0], "model");
	ir = &a.inhibit_rules[1];
	assert_int_equal(ir->nsource_match_re, 1);
	assert_int_equal(
	        regexec(&ir->source_match_re[0].re, "critical", 0, NULL, 0), 0);
	assert_int_equal(ir->nequal, 2);

	assert_int_equal(a.nreceivers, 6);
	r = &a.receivers[0];
	assert_false(r->send_resolved);
	assert_int_equal(r->smtp_port, 465);
	assert_int_equal(r->smtp_tls, SN_SMTP_TLS); /* default for 465 */
	assert_string_equal(r->smtp_password, "pw");
	assert_non_null(strstr(r->smtp_ca_file, "ca.pem"));
	assert_int_equal(r->timeout_ms, 5000);
	assert_int_equal(r->nto, 2);
	assert_string_equal(r->subject_prefix, "[sentinel]");
	r = &a.receivers[1];
	assert_true(r->send_resolved);
	assert_int_equal(r->smtp_port, 587);
	assert_int_equal(r->smtp_tls, SN_SMTP_NONE);
	assert_null(r->smtp_ca_file);
	assert_int_equal(r->timeout_ms, 10000);
	r = &a.receivers[2];
	assert_string_equal(r->webhook_url, "https://hooks.slack.test/T0/B0");
	assert_string_equal(r->channel, "#alerts");
	assert_string_equal(r->username, "sentinel");
	assert_string_equal(r->icon_emoji, ":rotating_light:");
	assert_int_equal(r->timeout_ms, 3000);
	r = &a.receivers[3];
	assert_string_equal(r->url, "http://127.0.0.1:9/hook");
	assert_string_equal(r->hmac_secret, "hmac");
	assert_int_equal(r->nheaders, 2);
	assert_string_equal(r->headers[1].key, "Authorization");
	assert_string_equal(r->headers[1].value, "Bearer abc");
	r = &a.receivers[4];
	assert_string_equal(r->routing_key, "pd-key");
	assert_string_equal(r->url, "http://127.0.0.1:9/v2/enqueue");
	r = &a.receivers[5];
	assert_string_equal(r->routing_key, "key2");
	assert_string_equal(r->url, SN_DEFAULT_PAGERDUTY_URL);
	config_alerts_free(&a);
}

static void
test_alert_defaults(void **state)
{
	static const char text[] = "routing:\n"
	                           "  - receivers: [mail]\n"
	                           "receivers:\n"
	                           "  - name: mail\n"
	                           "    type: email\n"
	                           "    config:\n"
	                           "      smtp: {host: smtp.example.com}\n"
	                           "      from: a@example.com\n"
	                           "      to: [b@example.com]\n";
	struct sn_cfg_errors e = {0};
	struct sn_alerts a;

	(void)state;
	assert_int_equal(
	        config_parse_alerts("d.yaml", text, strlen(text), &a, &e), 0);
	assert_no_errors(&e);
	assert_null(a.default_receiver);
	assert_null(a.external_url);
	assert_int_equal(a.ninhibit_rules, 0);
	assert_int_equal(a.delivery.max_retry_age_ms, 3600000);
	assert_int_equal(a.delivery.retry_initial_ms, 1000);
	assert_int_equal(a.delivery.retry_max_ms, 5 * 60000);
	assert_int_equal(a.routes[0].group_wait_ms, 30000);
	assert_int_equal(a.routes[0].group_interval_ms, 300000);
	assert_int_equal(a.routes[0].repeat_interval_ms, 4 * 3600000);
	assert_false(a.routes[0].continue_matching);
	assert_true(a.receivers[0].send_resolved);
	assert_int_equal(a.receivers[0].smtp_port, 587);
	assert_int_equal(a.receivers[0].smtp_tls, SN_SMTP_STARTTLS);
	assert_int_equal(a.receivers[0].timeout_ms, 10000);
	assert_null(a.receivers[0].subject_prefix);
	config_alerts_free(&a);
}

static void
test_bad_alert_keys(void **state)
{
	struct sn_cfg_errors e = {0};
	struct sn_alerts a;
	size_t len;
	char *text = read_data("bad/alerts-v2.yaml", &len);

	(void)state;
	assert_int_equal(config_parse_alerts("alerts.yaml", text, len, &a, &e),
	                 -1);
	free(text);
	assert_int_equal(a.nroutes, 0);
	assert_int_equal(e.count, 15);
	assert_error(&e, "alerts.yaml:1: default_receiver: unknown receiver "
	                 "\"nobody\"");
	assert_error(&e, "alerts.yaml:2: external_url: must be an http:// or "
	                 "https:// URL");
	assert_error(&e, "alerts.yaml:5: routing[0].match_re.model: bad "
	                 "regular expression \"gpt-(4\": ");
	assert_error(&e, "alerts.yaml:7: routing[0].group_by[0]: \"...\"");
	assert_error(&e, "alerts.yaml:8: routing[0].group_interval: must be "
	                 "longer than 0");
	assert_error(&e, "alerts.yaml:10: inhibit_rules[0]: needs "
	                 "source_match or source_match_re");
	assert_error(&e, "alerts.yaml:10: inhibit_rules[0]: needs "
	                 "target_match or target_match_re");
	assert_error(&e, "alerts.yaml:11: inhibit_rules[1]: needs "
	                 "target_match");
	assert_error(&e, "alerts.yaml:18: receivers[1].name: duplicate "
	                 "receiver name \"hook\"");
	assert_error(&e, "alerts.yaml:21: receivers[1].config.webhookUrl: "
	                 "must be an http:// or https:// URL");
	assert_error(&e, "alerts.yaml:24: receivers[2].config.to: missing "
	                 "(an email receiver needs it)");
	assert_error(&e, "alerts.yaml:27: receivers[2].config.smtp.tls: "
	                 "unknown smtp.tls value \"ssl\"");
	assert_error(&e, "alerts.yaml:33: receivers[3].config.routingKey: "
	                 "given twice");
	assert_error(&e, "alerts.yaml:34: receivers[4].config.routing_key: "
	                 "missing (a pagerduty receiver needs it)");
	assert_error(&e, "alerts.yaml:38: delivery.retry_max: must not be "
	                 "shorter than delivery.retry_initial");
	cfg_errors_free(&e);
}

static void
test_alert_wrong_shapes(void **state)
{
	static const char text[] = "routing:\n"
	                           "  - receivers: [h]\n"
	                           "    match_re: [a]\n"
	                           "    continue: maybe\n"
	                           "receivers:\n"
	                           "  - name: h\n"
	                           "    type: webhook\n"
	                           "    send_resolved: 1\n"
	                           "    config:\n"
	                           "      url: http://127.0.0.1/\n"
	                           "      headers: x\n";
	struct sn_cfg_errors e = {0};
	struct sn_alerts a;

	(void)state;
	assert_int_equal(
	        config_parse_alerts("s.yaml", text, strlen(text), &a, &e), -1);
	assert_error(&e, "s.yaml:4: routing[0].continue:");
	assert_error(&e, "s.yaml:8: receivers[0].send_resolved:");
	cfg_errors_free(&e);
}

static void
test_redact(void **state)
{
	(void)state;
	assert_string_equal(config_redact("hunter2"), "<redacted>");
	assert_string_equal(config_redact(""), "");
	assert_string_equal(config_redact(NULL), "(none)");
}

static void
test_missing_env(void **state)
{
	struct sn_cfg_errors e = {0};
	struct sn_alerts a;
	size_t len;
	char *text = read_data("seed/standalone/alerts.yaml", &len);

	(void)state;
	setenv("SLACK_WEBHOOK_URL", "https://hooks.slack.test/x", 1);
	assert_int_equal(config_parse_alerts("alerts.yaml", text, len, &a, &e),
	                 -1);
	free(text);
	assert_int_equal(e.count, 1);
	assert_string_equal(e.msgs[0],
	                    "alerts.yaml:23: receivers[0].config.smtp."
	                    "password: environment variable SMTP_PASSWORD "
	                    "is not set");
	cfg_errors_free(&e);
}

static void
test_env_default(void **state)
{
	struct sn_cfg_errors e = {0};
	struct sn_alerts a;
	size_t len;
	char *text = read_data("env-default.yaml", &len);

	(void)state;
	/* ${SN_TEST_PD_KEY} has no default */
	assert_int_equal(config_parse_alerts("env.yaml", text, len, &a, &e),
	                 -1);
	assert_int_equal(e.count, 1);
	assert_error(&e, "env.yaml:15: receivers[1].config.routing_key: "
	                 "environment variable SN_TEST_PD_KEY is not set");
	cfg_errors_free(&e);

	setenv("SN_TEST_PD_KEY", "pd-key", 1);
	assert_int_equal(config_parse_alerts("env.yaml", text, len, &a, &e), 0);
	assert_no_errors(&e);
	assert_string_equal(a.receivers[0].url, "http://127.0.0.1:9/hook");
	assert_string_equal(a.receivers[1].routing_key, "pd-key");
	assert_int_equal(a.routes[0].nmatch, 2);
	assert_string_equal(a.routes[0].match[0].value, "critical");
	assert_string_equal(a.routes[0].match[1].key, "app.kubernetes.io/name");
	assert_string_equal(a.routes[0].match[1].value, "chatbot");
	config_alerts_free(&a);

	setenv("SN_TEST_HOOK_URL", "http://hooks.test/a", 1);
	setenv("SN_TEST_SEVERITY", "warning", 1);
	assert_int_equal(config_parse_alerts("env.yaml", text, len, &a, &e), 0);
	assert_string_equal(a.receivers[0].url, "http://hooks.test/a");
	assert_string_equal(a.routes[0].match[0].value, "warning");
	config_alerts_free(&a);
	free(text);
}

static void
test_expand_env(void **state)
{
	char *s, *missing;

	(void)state;
	setenv("SN_TEST_A", "alpha", 1);
	setenv("SN_TEST_EMPTY", "", 1);
	unsetenv("SN_TEST_UNSET");
#define EXPANDS(in, out)                             \
	do {                                         \
		s = config_expand_env(in, &missing); \
		assert_non_null(s);                  \
		assert_null(missing);                \
		assert_string_equal(s, out);         \
		free(s);                             \
	} while (0)
	EXPANDS("plain", "plain");
	EXPANDS("", "");
	EXPANDS("${SN_TEST_A}", "alpha");
	EXPANDS("x-${SN_TEST_A}-${SN_TEST_A}-y", "x-alpha-alpha-y");
	EXPANDS("${SN_TEST_UNSET:-dflt}", "dflt");
	EXPANDS("${SN_TEST_UNSET:-}", "");
	EXPANDS("${SN_TEST_EMPTY:-dflt}", "dflt");
	EXPANDS("${SN_TEST_EMPTY}", "");
	EXPANDS("${SN_TEST_A:-dflt}", "alpha");
	EXPANDS("${SN_TEST_UNSET:-http://h:9/p?a=b}", "http://h:9/p?a=b");
	EXPANDS("$$", "$");
	EXPANDS("pa$$word", "pa$word");
	EXPANDS("$${SN_TEST_A}", "${SN_TEST_A}");
	EXPANDS("cost $5", "cost $5");
	EXPANDS("end$", "end$");
#undef EXPANDS
	s = config_expand_env("a ${SN_TEST_UNSET} b", &missing);
	assert_null(s);
	assert_string_equal(missing, "SN_TEST_UNSET");
	free(missing);
	/* broken syntax: NULL with no variable named */
	assert_null(config_expand_env("${SN_TEST_A", &missing));
	assert_null(missing);
	assert_null(config_expand_env("${}", &missing));
	assert_null(missing);
	assert_null(config_expand_env("${1A}", &missing));
	assert_null(missing);
	assert_null(config_expand_env("${SN_TEST_A-x}", &missing));
	assert_null(missing);
	assert_null(config_expand_env("${SN_TEST_UNSET:-oops", &missing));
	assert_null(missing);
	unsetenv("SN_TEST_A");
	unsetenv("SN_TEST_EMPTY");
}

static void
test_env_in_config(void **state)
{
	struct sn_cfg_errors e = {0};
	struct sn_config *cfg;
	char *dir;

	(void)state;
	setenv("SN_TEST_HOOK_URL", "somewhere", 1);
	cfg = load_text(&dir,
	                "storage:\n"
	                "  path: ${SN_TEST_HOOK_URL}/data\n"
	                "  retention:\n"
	                "    raw: ${SN_TEST_SEVERITY:-3d}\n"
	                "ingestion:\n"
	                "  http:\n"
	                "    host: ${SN_TEST_PD_KEY}\n"
	                "    max_body_size: ${SN_TEST_UNSET2:-1MB}\n"
	                "observability:\n"
	                "  logging:\n"
	                "    level: \"${SN_TEST_BROKEN\"\n",
	                &e);
	assert_null(cfg);
	assert_int_equal(e.count, 2);
	assert_error(&e, "config.yaml:7: ingestion.http.host: environment "
	                 "variable SN_TEST_PD_KEY is not set");
	assert_error(&e, "config.yaml:11: observability.logging.level: bad "
	                 "${...}");
	cfg_errors_free(&e);
	rm_tree(dir);

	setenv("SN_TEST_PD_KEY", "127.0.0.1", 1);
	cfg = load_text(&dir,
	                "storage:\n"
	                "  path: ${SN_TEST_HOOK_URL}/data\n"
	                "  retention:\n"
	                "    raw: ${SN_TEST_SEVERITY:-3d}\n"
	                "ingestion:\n"
	                "  http:\n"
	                "    host: ${SN_TEST_PD_KEY}\n"
	                "    max_body_size: ${SN_TEST_UNSET2:-1MB}\n",
	                &e);
	assert_no_errors(&e);
	assert_non_null(cfg);
	assert_string_equal(cfg->http.host, "127.0.0.1");
	assert_int_equal(cfg->http.max_body_bytes, 1024 * 1024);
	assert_int_equal(cfg->storage.retention_raw_ms, 3 * 86400000LL);
	assert_non_null(strstr(cfg->storage.path, "/somewhere/data"));
	assert_int_equal(strncmp(cfg->storage.path, dir, strlen(dir)), 0);
	config_free(cfg);
	rm_tree(dir);
}

/* security: who the set runs as; names are checked for shape only
 * (their existence is checked at start, common/privs.c). */
static void
test_security_keys(void **state)
{
	struct sn_cfg_errors e = {0};
	struct sn_config *cfg;
	char *dir;

	(void)state;
	cfg = load_text(&dir, "", &e);
	assert_no_errors(&e);
	assert_null(cfg->security.user);
	assert_null(cfg->security.group);
	assert_null(cfg->security.admin_group);
	assert_true(cfg->security.landlock);
	config_free(cfg);
	rm_tree(dir);

	setenv("SN_TEST_ADMINS", "sentinel-admins", 1);
	cfg = load_text(&dir,
	                "security:\n"
	                "  user: sentinel\n"
	                "  group: sentinel\n"
	                "  admin_group: ${SN_TEST_ADMINS}\n"
	                "  landlock: false\n",
	                &e);
	unsetenv("SN_TEST_ADMINS");
	assert_no_errors(&e);
	assert_non_null(cfg);
	assert_string_equal(cfg->security.user, "sentinel");
	assert_string_equal(cfg->security.group, "sentinel");
	assert_string_equal(cfg->security.admin_group, "sentinel-admins");
	assert_false(cfg->security.landlock);
	config_free(cfg);
	rm_tree(dir);

	cfg = load_text(&dir,
	                "security:\n"
	                "  group: wheel\n"
	                "  admin_group: \"ops team\"\n"
	                "  landlock: maybe\n"
	                "  uid: 1000\n",
	                &e);
	/* The schema check stops the file before its values are resolved. */
	assert_null(cfg);
	assert_int_equal(e.count, 2);
	assert_error(&e, "config.yaml:4: security.landlock");
	assert_error(&e, "config.yaml:5: security.uid");
	cfg_errors_free(&e);
	rm_tree(dir);

	cfg = load_text(&dir,
	                "security:\n"
	                "  group: wheel\n"
	                "  admin_group: \"ops team\"\n",
	                &e);
	assert_null(cfg);
	assert_int_equal(e.count, 2);
	assert_error(&e, "config.yaml:2: security.group: needs security.user");
	assert_error(&e, "config.yaml:3: security.admin_group: \"ops team\" "
	                 "is not a user or group name");
	cfg_errors_free(&e);
	rm_tree(dir);

	cfg = load_text(&dir,
	                "security:\n"
	                "  user: -rf\n"
	                "  group: \"../etc\"\n"
	                "  admin_group: a23456789012345678901234567890123\n",
	                &e);
	assert_null(cfg);
	assert_int_equal(e.count, 3);
	assert_error(&e, "config.yaml:2: security.user: \"-rf\" is not a "
	                 "user or group name");
	assert_error(&e, "config.yaml:3: security.group: \"../etc\" is not");
	assert_error(&e, "config.yaml:4: security.admin_group: ");
	cfg_errors_free(&e);
	rm_tree(dir);
}

static void
test_env_overrides(void **state)
{
	struct sn_cfg_errors e = {0};
	struct sn_config *cfg;
	char *dir;

	(void)state;
	setenv("MODE", "sidecar", 1);
	setenv("LOG_LEVEL", "debug", 1);
	cfg = config_load(NULL, &e);
	assert_no_errors(&e);
	assert_int_equal(cfg->mode, SN_MODE_SIDECAR);
	assert_int_equal(cfg->obs.log_level, LOG_LEVEL_DEBUG);
	config_free(cfg);

	cfg = load_text(&dir,
	                "mode: distributed\nobservability:\n  logging:\n"
	                "    level: error\n",
	                &e);
	assert_no_errors(&e);
	assert_int_equal(cfg->mode, SN_MODE_SIDECAR);
	assert_int_equal(cfg->obs.log_level, LOG_LEVEL_DEBUG);
	config_free(cfg);
	rm_tree(dir);

	unsetenv("LOG_LEVEL");
	setenv("MODE", "standalone", 1);
	cfg = load_text(&dir,
	                "mode: distributed\nobservability:\n  logging:\n"
	                "    level: warn\n",
	                &e);
	assert_no_errors(&e);
	assert_int_equal(cfg->mode, SN_MODE_STANDALONE);
	assert_int_equal(cfg->obs.log_level, LOG_LEVEL_WARN);
	config_free(cfg);
	rm_tree(dir);

	/* an empty variable is no override */
	setenv("MODE", "", 1);
	cfg = config_load(NULL, &e);
	assert_no_errors(&e);
	assert_int_equal(cfg->mode, SN_MODE_STANDALONE);
	config_free(cfg);

	setenv("MODE", "cluster", 1);
	setenv("LOG_LEVEL", "loud", 1);
	assert_null(config_load(NULL, &e));
	assert_int_equal(e.count, 2);
	assert_error(&e, "environment: MODE: unknown mode \"cluster\"");
	assert_error(&e, "environment: LOG_LEVEL: unknown log level \"loud\"");
	cfg_errors_free(&e);
	unsetenv("MODE");
	unsetenv("LOG_LEVEL");
}

static void
test_relative_paths(void **state)
{
	struct sn_cfg_errors e = {0};
	struct sn_config *cfg;
	char *dir = make_tmpdir(), path[PATH_MAX], want[PATH_MAX];

	(void)state;
	write_file(dir, "conf/config.yaml",
	           "run_dir: run\n"
	           "storage:\n"
	           "  path: ../data\n"
	           "detectors:\n"
	           "  configFile: rules/detectors.yaml\n"
	           "alerts:\n"
	           "  configFile: /nonexistent-but-absolute/alerts.yaml\n"
	           "ingestion:\n"
	           "  grpc:\n"
	           "    tls:\n"
	           "      enabled: true\n"
	           "      cert_file: tls/cert.pem\n"
	           "      key_file: /etc/ssl/key.pem\n");
	write_file(dir, "conf/rules/detectors.yaml",
	           "detectors:\n  - id: d\n    type: statistical\n"
	           "    config:\n      metric: cost\n      window: 1m\n");
	cfg_pathf(path, sizeof(path), "%s/conf/config.yaml", dir);
	cfg = config_load(path, &e);
	assert_null(cfg); /* the absolute alerts file does not exist */
	assert_int_equal(e.count, 1);
	assert_error(&e, "conf/config.yaml:7: alerts.configFile: cannot read "
	                 "/nonexistent-but-absolute/alerts.yaml: No such file");
	cfg_errors_free(&e);

	write_file(dir, "conf/config.yaml",
	           "run_dir: run\n"
	           "storage:\n"
	           "  path: ../data\n"
	           "detectors:\n"
	           "  configFile: rules/detectors.yaml\n"
	           "ingestion:\n"
	           "  grpc:\n"
	           "    tls:\n"
	           "      enabled: true\n"
	           "      cert_file: tls/cert.pem\n"
	           "      key_file: /etc/ssl/key.pem\n");
	cfg = config_load(path, &e);
	assert_no_errors(&e);
	assert_non_null(cfg);
	assert_string_equal(cfg->path, path);
	cfg_pathf(want, sizeof(want), "%s/conf", dir);
	assert_string_equal(cfg->dir, want);
	cfg_pathf(want, sizeof(want), "%s/conf/run", dir);
	assert_string_equal(cfg->run_dir, want);
	cfg_pathf(want, sizeof(want), "%s/conf/../data", dir);
	assert_string_equal(cfg->storage.path, want);
	cfg_pathf(want, sizeof(want), "%s/conf/rules/detectors.yaml", dir);
	assert_string_equal(cfg->detectors_file, want);
	assert_string_equal(cfg->detectors.path, want);
	assert_int_equal(cfg->detectors.count, 1);
	cfg_pathf(want, sizeof(want), "%s/conf/tls/cert.pem", dir);
	assert_string_equal(cfg->grpc.tls.cert_file, want);
	assert_string_equal(cfg->grpc.tls.key_file, "/etc/ssl/key.pem");
	assert_null(cfg->grpc.tls.client_ca_file);
	assert_null(cfg->alerts_file);
	assert_int_equal(
	        config_run_path(cfg, SN_CONTROL_SOCKET, path, sizeof(path)), 0);
	cfg_pathf(want, sizeof(want), "%s/conf/run/sentinel.sock", dir);
	assert_string_equal(path, want);
	assert_int_equal(config_run_path(cfg, "stored.ipc", path, 8), -1);
	config_free(cfg);
	rm_tree(dir);
}

/* A relative --config path is made absolute against the current folder,
 * and messages name the files as the user would. */
static void
test_relative_config_path(void **state)
{
	struct sn_cfg_errors e = {0};
	struct sn_config *cfg;
	char *dir = make_tmpdir(), cwd[PATH_MAX], want[PATH_MAX];

	(void)state;
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	write_file(dir, "etc/config.yaml",
	           "detectors:\n  configFile: detectors.yaml\n");
	write_file(dir, "etc/detectors.yaml", "detectors:\n  - id: x\n");
	assert_int_equal(chdir(dir), 0);
	assert_null(config_load("./etc/config.yaml", &e));
	assert_int_equal(e.count, 1);
	assert_string_equal(e.msgs[0], "etc/detectors.yaml:2: detectors[0]."
	                               "type: missing (threshold, "
	                               "statistical or rate)");
	cfg_errors_free(&e);
	write_file(dir, "etc/detectors.yaml",
	           "detectors:\n  - id: x\n    type: statistical\n"
	           "    config: {metric: cost, window: 1m}\n");
	cfg = config_load("etc/config.yaml", &e);
	assert_no_errors(&e);
	cfg_pathf(want, sizeof(want), "%s/etc/config.yaml", dir);
	assert_string_equal(cfg->path, want);
	cfg_pathf(want, sizeof(want), "%s/etc/detectors.yaml", dir);
	assert_string_equal(cfg->detectors_file, want);
	config_free(cfg);
	assert_int_equal(chdir(cwd), 0);
	rm_tree(dir);
}

/* Errors of all three files come out of one load. */
static void
test_errors_from_every_file(void **state)
{
	struct sn_cfg_errors e = {0};
	char *dir = make_tmpdir(), path[PATH_MAX];
	size_t len;
	char *text;

	(void)state;
	write_file(dir, "config.yaml",
	           "ingestion:\n  http:\n    port: 0\n"
	           "detectors:\n  configFile: detectors.yaml\n"
	           "alerts:\n  configFile: alerts.yaml\n");
	text = read_data("bad/detectors.yaml", &len);
	write_file(dir, "detectors.yaml", text);
	free(text);
	text = read_data("bad/alerts.yaml", &len);
	write_file(dir, "alerts.yaml", text);
	free(text);
	cfg_pathf(path, sizeof(path), "%s/config.yaml", dir);
	assert_null(config_load(path, &e));
	assert_int_equal(e.count, 1 + 9 + 5);
	assert_error(&e, "config.yaml:3: ingestion.http.port: must be between");
	assert_error(&e, "detectors.yaml:3: detectors[0].type: unknown");
	assert_error(&e, "alerts.yaml:6: routing[0].receivers[1]: unknown "
	                 "receiver \"pager\"");
	cfg_errors_free(&e);
	rm_tree(dir);
}

static void
test_sizes_and_limits(void **state)
{
	struct sn_cfg_errors e = {0};
	struct sn_config *cfg;
	char *dir;

	(void)state;
	cfg = load_text(&dir,
	                "ingestion:\n  http:\n    host: 127.0.0.1\n"
	                "    max_body_size: 512KiB\n    max_batch_size: 500\n",
	                &e);
	assert_no_errors(&e);
	assert_string_equal(cfg->http.host, "127.0.0.1");
	assert_int_equal(cfg->http.max_body_bytes, 512 * 1024);
	assert_int_equal(cfg->http.max_batch_events, 500);
	config_free(cfg);
	rm_tree(dir);

	cfg = load_text(
	        &dir, "ingestion:\n  http:\n    max_body_size: 1048576\n", &e);
	assert_no_errors(&e);
	assert_int_equal(cfg->http.max_body_bytes, 1048576);
	config_free(cfg);
	rm_tree(dir);

	cfg = load_text(&dir,
	                "ingestion:\n  http:\n    max_body_size: 0\n"
	                "    max_batch_size: 0\n"
	                "detection:\n  workers: 0\n  batchSize: -5\n",
	                &e);
	assert_null(cfg);
	assert_int_equal(e.count, 4);
	assert_error(&e, "config.yaml:3: ingestion.http.max_body_size: "
	                 "invalid size \"0\"");
	assert_error(&e, "config.yaml:4: ingestion.http.max_batch_size: must "
	                 "be between 1 and 1000000, not 0");
	assert_error(&e, "config.yaml:6: detection.workers: must be between");
	assert_error(&e, "config.yaml:7: detection.batchSize: must be between");
	cfg_errors_free(&e);
	rm_tree(dir);
}

/* ingestion.durability and ingestion.spool, detection's checkpoint
 * interval: defaults, values, and one error per bad key with its line. */
static void
test_spool_and_durability(void **state)
{
	struct sn_cfg_errors e = {0};
	struct sn_config *cfg;
	char *dir;

	(void)state;
	cfg = config_load(NULL, &e);
	assert_non_null(cfg);
	assert_int_equal(cfg->spool.durability, SN_DURABILITY_FSYNC);
	assert_true(cfg->spool.max_bytes == SN_DEFAULT_SPOOL_BYTES);
	assert_int_equal(cfg->spool.stage_timeout_ms, 60000);
	assert_int_equal(cfg->detection.checkpoint_interval_ms, 10000);
	config_free(cfg);

	cfg = load_text(&dir,
	                "ingestion:\n  durability: batch\n  spool:\n"
	                "    path: /var/spool/sentinel\n    max_size: 50GB\n"
	                "    stage_timeout: 2m\n"
	                "storage:\n  path: /var/lib/sentinel\n"
	                "detection:\n  checkpoint_interval: 30s\n",
	                &e);
	assert_no_errors(&e);
	assert_int_equal(cfg->spool.durability, SN_DURABILITY_BATCH);
	assert_string_equal(cfg->spool.path, "/var/spool/sentinel");
	assert_true(cfg->spool.max_bytes == 50ULL * 1024 * 1024 * 1024);
	assert_int_equal(cfg->spool.stage_timeout_ms, 120000);
	assert_int_equal(cfg->detection.checkpoint_interval_ms, 30000);
	config_free(cfg);
	rm_tree(dir);

	/* Without a spool path, it lives beside the database. */
	cfg = load_text(&dir,
	                "ingestion:\n  durability: none\n"
	                "storage:\n  path: /var/lib/sentinel\n",
	                &e);
	assert_no_errors(&e);
	assert_int_equal(cfg->spool.durability, SN_DURABILITY_NONE);
	assert_string_equal(cfg->spool.path, "/var/lib/sentinel/spool");
	config_free(cfg);
	rm_tree(dir);

	cfg = load_text(&dir,
	                "ingestion:\n  durability: sometimes\n  spool:\n"
	                "    max_size: 1MB\n    stage_timeout: 0\n"
	                "detection:\n  checkpoint_interval: soon\n",
	                &e);
	assert_null(cfg);
	assert_int_equal(e.count, 4);
	assert_error(&e, "config.yaml:2: ingestion.durability: unknown "
	                 "durability \"sometimes\" (expected fsync, batch or "
	                 "none)");
	assert_error(&e, "config.yaml:4: ingestion.spool.max_size: must be at "
	                 "least");
	assert_error(&e, "config.yaml:5: ingestion.spool.stage_timeout: must "
	                 "be longer than 0");
	assert_error(&e, "config.yaml:7: detection.checkpoint_interval: "
	                 "invalid duration \"soon\"");
	cfg_errors_free(&e);
	rm_tree(dir);

	/* A spool may be large, not unbounded. */
	cfg = load_text(&dir, "ingestion:\n  spool:\n    max_size: 2000GB\n",
	                &e);
	assert_null(cfg);
	assert_error(&e, "config.yaml:3: ingestion.spool.max_size: invalid "
	                 "size \"2000GB\"");
	cfg_errors_free(&e);
	rm_tree(dir);
}

/* ingestion.http's connection limits and timeouts, ingestion.accept's
 * window: defaults, values, and one error per bad key with its line. */
static void
test_ingestion_limits(void **state)
{
	struct sn_cfg_errors e = {0};
	struct sn_config *cfg;
	char *dir;

	(void)state;
	cfg = config_load(NULL, &e);
	assert_non_null(cfg);
	assert_int_equal(cfg->limits.max_connections, 1024);
	assert_int_equal(cfg->limits.max_header_bytes, 64 * 1024);
	assert_int_equal(cfg->limits.header_timeout_ms, 10000);
	assert_int_equal(cfg->limits.body_timeout_ms, 60000);
	assert_int_equal(cfg->limits.idle_timeout_ms, 30000);
	assert_int_equal(cfg->limits.max_age_ms, 0); /* any age */
	assert_int_equal(cfg->limits.max_future_ms, 300000);
	config_free(cfg);

	cfg = load_text(&dir,
	                "ingestion:\n  http:\n    max_connections: 20\n"
	                "    max_header_size: 8KB\n    header_timeout: 2s\n"
	                "    body_timeout: 1m30s\n    idle_timeout: 500ms\n"
	                "  accept:\n    max_age: 30d\n    max_future: 0\n",
	                &e);
	assert_no_errors(&e);
	assert_int_equal(cfg->limits.max_connections, 20);
	assert_int_equal(cfg->limits.max_header_bytes, 8192);
	assert_int_equal(cfg->limits.header_timeout_ms, 2000);
	assert_int_equal(cfg->limits.body_timeout_ms, 90000);
	assert_int_equal(cfg->limits.idle_timeout_ms, 500);
	assert_int_equal(cfg->limits.max_age_ms, 30 * 86400000LL);
	assert_int_equal(cfg->limits.max_future_ms, 0);
	/* The keys beside them keep their defaults. */
	assert_int_equal(cfg->http.max_body_bytes, SN_DEFAULT_MAX_BODY_BYTES);
	config_free(cfg);
	rm_tree(dir);

	/* Every bad value is reported at its line. */
	cfg = load_text(&dir,
	                "ingestion:\n  http:\n    max_connections: 0\n"
	                "    max_header_size: 512\n    header_timeout: 0\n"
	                "    body_timeout: 10x\n    idle_timeout: 2000000M\n"
	                "  accept:\n    max_age: 0s\n    max_future: soon\n",
	                &e);
	assert_null(cfg);
	assert_int_equal(e.count, 6); /* max_age 0s: no limit, fine */
	assert_error(&e, "config.yaml:3: ingestion.http.max_connections: must "
	                 "be between 1 and 1000000, not 0");
	assert_error(&e, "config.yaml:4: ingestion.http.max_header_size: must "
	                 "be between 1KB and 1MB");
	assert_error(&e, "config.yaml:5: ingestion.http.header_timeout: must "
	                 "be longer than 0");
	assert_error(&e, "config.yaml:6: ingestion.http.body_timeout: invalid "
	                 "duration \"10x\"");
	assert_error(&e, "config.yaml:7: ingestion.http.idle_timeout: invalid "
	                 "duration \"2000000M\"");
	assert_error(&e, "config.yaml:10: ingestion.accept.max_future: "
	                 "invalid duration \"soon\"");
	cfg_errors_free(&e);
	rm_tree(dir);

	/* A key the schema does not know is named too. */
	cfg = load_text(&dir, "ingestion:\n  accept:\n    max_skew: 1m\n", &e);
	assert_null(cfg);
	assert_error(&e, "config.yaml:3: ingestion.accept.max_skew: unknown "
	                 "key");
	cfg_errors_free(&e);
	rm_tree(dir);
}

/* Optional features that are switched on need their settings. */
static void
test_enabled_needs_settings(void **state)
{
	struct sn_cfg_errors e = {0};
	char *dir;

	(void)state;
	assert_null(load_text(&dir,
	                      "ingestion:\n"
	                      "  grpc:\n"
	                      "    tls:\n"
	                      "      enabled: true\n"
	                      "  kafka:\n"
	                      "    enabled: yes\n"
	                      "integrations:\n"
	                      "  shield:\n"
	                      "    enabled: on\n",
	                      &e));
	assert_int_equal(e.count, 4);
	assert_error(&e, "config.yaml:3: ingestion.grpc.tls: enabled needs "
	                 "cert_file and key_file");
	assert_error(&e, "config.yaml:5: ingestion.kafka: enabled needs at "
	                 "least one entry in brokers");
	assert_error(&e, "config.yaml:5: ingestion.kafka: enabled needs at "
	                 "least one entry in topics");
	assert_error(&e, "config.yaml:8: integrations.shield: enabled needs an "
	                 "endpoint");
	cfg_errors_free(&e);
	rm_tree(dir);
}

static void
test_odd_yaml(void **state)
{
	struct sn_cfg_errors e = {0};
	char *dir;

	(void)state;
	assert_null(load_text(&dir, "- standalone\n", &e));
	assert_error(&e, "config.yaml:1: expected a mapping (key: value "
	                 "lines) at the top level, found a list");
	cfg_errors_free(&e);
	rm_tree(dir);

	assert_null(load_text(&dir, "mode: standalone\nmode: sidecar\n", &e));
	assert_int_equal(e.count, 1);
	assert_error(&e, "config.yaml:2: mode: duplicate key (first given on "
	                 "line 1)");
	cfg_errors_free(&e);
	rm_tree(dir);

	assert_null(load_text(&dir, "run_dir: &a x\nmode: *a\n", &e));
	assert_error(&e, "config.yaml:2: YAML aliases");
	cfg_errors_free(&e);
	rm_tree(dir);

	assert_null(load_text(&dir, "a: 1\n---\nb: 2\n", &e));
	assert_error(&e, "config.yaml:2: only one YAML document");
	cfg_errors_free(&e);
	rm_tree(dir);

	/* libcyaml would read these as octal */
	assert_null(load_text(&dir, "ingestion: {http: {port: 08080}}\n", &e));
	assert_error(&e, "config.yaml:1: ingestion.http.port: expected an "
	                 "integer, found \"08080\"");
	cfg_errors_free(&e);
	rm_tree(dir);

	assert_null(load_text(&dir, "storage: {path: [x]}\n", &e));
	assert_error(&e, "config.yaml:1: storage.path: expected a string, "
	                 "found a list");
	cfg_errors_free(&e);
	rm_tree(dir);

	assert_null(load_text(&dir, "storage:\n  - path: x\n", &e));
	assert_error(&e, "config.yaml:1: storage: expected a mapping");
	cfg_errors_free(&e);
	rm_tree(dir);

	/* a run_dir too long for the sockets under it */
	assert_null(load_text(&dir,
	                      "run_dir: /var/run/aaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	                      "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	                      "aaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
	                      &e));
	assert_error(&e, "config.yaml:1: run_dir: \"/var/run/aaaa");
	assert_error(&e, "is too long for unix sockets");
	cfg_errors_free(&e);
	rm_tree(dir);

	assert_null(config_load("/nonexistent/sentinel.yaml", &e));
	assert_int_equal(e.count, 1);
	assert_string_equal(e.msgs[0], "/nonexistent/sentinel.yaml: cannot "
	                               "read: No such file or directory");
	cfg_errors_free(&e);
}

/* libcyaml's own complaints, when it rejects what our check passed, are
 * turned into the same message format. */
static void
test_cyaml_report(void **state)
{
	struct sn_cfg_errors e = {0};
	struct cfg_doc doc;
	struct cfg_ctx c = {0};
	const char *text = "storage:\n  retention:\n    raw: 7d\n"
	                   "    foo: 1\nurls:\n  - a\n  - b\n";
	char *unknown[] = {
	        "Load: Unexpected key: foo",
	        "Load: Backtrace:",
	        "  in mapping (line: 4, column: 10)",
	        "  in mapping field 'retention' (line: 4, column: 5)",
	        "  in mapping field 'storage' (line: 2, column: 3)",
	};
	char *badint[] = {
	        "Load: Invalid INT value: 'abc'",
	        "Load: Backtrace:",
	        "  in mapping field 'port' (line: 9, column: 9)",
	        "  in mapping field 'http' (line: 8, column: 3)",
	};
	char *entry[] = {
	        "Load: Expecting STRING, got event: SEQUENCE_START",
	        "Load: Backtrace:",
	        "  in sequence entry '2' (line: 7, column: 5)",
	        "  in mapping field 'urls' (line: 6, column: 3)",
	};
	char *other[] = {"Something odd"};

	(void)state;
	assert_int_equal(
	        config_yaml_parse("t.yaml", text, strlen(text), &doc, &e), 0);
	c.name = "t.yaml";
	c.errs = &e;
	c.doc = &doc;
	config_cyaml_report(&c, unknown, SN_ARRAY_LEN(unknown));
	config_cyaml_report(&c, badint, SN_ARRAY_LEN(badint));
	config_cyaml_report(&c, entry, SN_ARRAY_LEN(entry));
	config_cyaml_report(&c, other, SN_ARRAY_LEN(other));
	assert_int_equal(e.count, 4);
	assert_string_equal(e.msgs[0],
	                    "t.yaml:4: storage.retention.foo: unknown key");
	assert_string_equal(e.msgs[1],
	                    "t.yaml:9: http.port: invalid int value \"abc\"");
	assert_string_equal(e.msgs[2], "t.yaml:7: urls[1]: expected string, "
	                               "found a list");
	assert_string_equal(e.msgs[3], "t.yaml:1: Something odd");
	assert_int_equal(c.nerrors, 4);
	config_yaml_free(&doc);
	cfg_errors_free(&e);
}

static void
test_yaml_find(void **state)
{
	struct sn_cfg_errors e = {0};
	struct cfg_doc doc;
	const struct cfg_node *n;
	const char *text = "a:\n  b:\n    - x\n    - c: 1\n"
	                   "  d.e/f: 2\n  d: 3\n";
	unsigned line;

	(void)state;
	assert_int_equal(config_yaml_parse("t", text, strlen(text), &doc, &e),
	                 0);
	n = config_yaml_find(&doc, "a.b[1].c", &line);
	assert_non_null(n);
	assert_string_equal(n->scalar, "1");
	assert_int_equal(line, 4);
	n = config_yaml_find(&doc, "a.d.e/f", &line);
	assert_non_null(n);
	assert_string_equal(n->scalar, "2");
	assert_int_equal(line, 5);
	assert_null(config_yaml_find(&doc, "a.b[1].zz", &line));
	assert_int_equal(line, 4); /* where the missing key would be */
	assert_null(config_yaml_find(&doc, "a.b[7]", &line));
	assert_int_equal(line, 2);
	config_yaml_free(&doc);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup(test_seed_standalone_files_parse, setup),
	        cmocka_unit_test_setup(test_seed_standalone_load, setup),
	        cmocka_unit_test_setup(test_seed_kubernetes, setup),
	        cmocka_unit_test_setup(test_seed_helm_values, setup),
	        cmocka_unit_test_setup(test_etc_files, setup),
	        cmocka_unit_test_setup(test_builtin_defaults, setup),
	        cmocka_unit_test_setup(test_empty_files, setup),
	        cmocka_unit_test_setup(test_syntax_error, setup),
	        cmocka_unit_test_setup(test_unknown_key, setup),
	        cmocka_unit_test_setup(test_wrong_types, setup),
	        cmocka_unit_test_setup(test_bad_duration, setup),
	        cmocka_unit_test_setup(test_retention_keys, setup),
	        cmocka_unit_test_setup(test_bad_port, setup),
	        cmocka_unit_test_setup(test_errors_collected, setup),
	        cmocka_unit_test_setup(test_bad_detectors, setup),
	        cmocka_unit_test_setup(test_detector_keys, setup),
	        cmocka_unit_test_setup(test_detector_defaults, setup),
	        cmocka_unit_test_setup(test_bad_detector_keys, setup),
	        cmocka_unit_test_setup(test_bad_detector_one, setup),
	        cmocka_unit_test_setup(test_detector_env, setup),
	        cmocka_unit_test_setup(test_detectors_auto, setup),
	        cmocka_unit_test_setup(test_bad_alerts, setup),
	        cmocka_unit_test_setup(test_alert_keys, setup),
	        cmocka_unit_test_setup(test_alert_defaults, setup),
	        cmocka_unit_test_setup(test_bad_alert_keys, setup),
	        cmocka_unit_test_setup(test_alert_wrong_shapes, setup),
	        cmocka_unit_test_setup(test_redact, setup),
	        cmocka_unit_test_setup(test_missing_env, setup),
	        cmocka_unit_test_setup(test_env_default, setup),
	        cmocka_unit_test_setup(test_expand_env, setup),
	        cmocka_unit_test_setup(test_env_in_config, setup),
	        cmocka_unit_test_setup(test_env_overrides, setup),
	        cmocka_unit_test_setup(test_security_keys, setup),
	        cmocka_unit_test_setup(test_relative_paths, setup),
	        cmocka_unit_test_setup(test_relative_config_path, setup),
	        cmocka_unit_test_setup(test_errors_from_every_file, setup),
	        cmocka_unit_test_setup(test_sizes_and_limits, setup),
	        cmocka_unit_test_setup(test_ingestion_limits, setup),
	        cmocka_unit_test_setup(test_spool_and_durability, setup),
	        cmocka_unit_test_setup(test_enabled_needs_settings, setup),
	        cmocka_unit_test_setup(test_odd_yaml, setup),
	        cmocka_unit_test_setup(test_cyaml_report, setup),
	        cmocka_unit_test_setup(test_yaml_find, setup),
	};
	const char *env = getenv("SN_TEST_DATA");
	char here[PATH_MAX], *dir;

	/* Messages, not log lines, are under test; keep stderr quiet. */
	log_init("test", LOG_LEVEL_ERROR, LOG_FORMAT_TEXT);
	if (env != NULL)
		cfg_pathf(data_dir, sizeof(data_dir), "%s", env);
	else {
		dir = sn_path_dirname(__FILE__);
		if (dir[0] != '/' && getcwd(here, sizeof(here)) != NULL)
			cfg_pathf(data_dir, sizeof(data_dir), "%s/%s/data",
			          here, dir);
		else
			cfg_pathf(data_dir, sizeof(data_dir), "%s/data", dir);
		free(dir);
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
