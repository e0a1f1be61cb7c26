/*
 * config.c: config.yaml, and config_load which ties the three files
 * together.
 *
 * Each file goes: libyaml node tree and strict schema check
 * (config_yaml.c), libcyaml load into private raw structs whose fields
 * are pointers so that "absent" differs from "zero", then a resolve pass
 * here that starts from config_defaults() (the one place defaults live),
 * replaces what the file gives after ${VAR} expansion, resolves relative
 * paths against the file's folder and checks ranges and names.  Every
 * problem becomes one "file:line: key: problem" line in the caller's
 * struct sn_cfg_errors, and loading goes on to find the rest (relayd's
 * load_config counts errors the same way).
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "config_int.h"
#include "log.h"
#include "metrics.h"
#include "util.h"

#define CFG_PATH_BUF 256

/* config.yaml: raw structs and schema ---------------------------------- */

/* Every field is optional and every value may be left empty. */
#define OPT          (CYAML_FLAG_OPTIONAL | CYAML_FLAG_POINTER_NULL)
#define STR(k, s, m) CYAML_FIELD_STRING_PTR(k, OPT, s, m, 0, CYAML_UNLIMITED)

static const cyaml_schema_value_t cfg_string_entry = {
        CYAML_VALUE_STRING(CYAML_FLAG_POINTER, char, 0, CYAML_UNLIMITED),
};

struct raw_tls {
	bool *enabled;
	char *cert_file;
	char *key_file;
	char *client_ca_file;
};

static const cyaml_schema_field_t raw_tls_fields[] = {
        CYAML_FIELD_BOOL_PTR("enabled", OPT, struct raw_tls, enabled),
        STR("cert_file", struct raw_tls, cert_file),
        STR("key_file", struct raw_tls, key_file),
        STR("client_ca_file", struct raw_tls, client_ca_file),
        CYAML_FIELD_END,
};

struct raw_grpc {
	int64_t *port;
	struct raw_tls *tls;
};

static const cyaml_schema_field_t raw_grpc_fields[] = {
        CYAML_FIELD_INT_PTR("port", OPT, struct raw_grpc, port),
        CYAML_FIELD_MAPPING_PTR("tls", OPT, struct raw_grpc, tls,
                                raw_tls_fields),
        CYAML_FIELD_END,
};

/* ingestion.http.auth: one entry of keys or query_keys. */
struct raw_api_key {
	char *key;
	char *key_sha256;
	char *name;
	char **applications;
	unsigned applications_count;
};

static const cyaml_schema_field_t raw_api_key_fields[] = {
        STR("key", struct raw_api_key, key),
        STR("key_sha256", struct raw_api_key, key_sha256),
        STR("name", struct raw_api_key, name),
        CYAML_FIELD_SEQUENCE("applications", OPT, struct raw_api_key,
                             applications, &cfg_string_entry, 0,
                             CYAML_UNLIMITED),
        CYAML_FIELD_END,
};

static const cyaml_schema_value_t raw_api_key_entry = {
        CYAML_VALUE_MAPPING(CYAML_FLAG_DEFAULT, struct raw_api_key,
                            raw_api_key_fields),
};

struct raw_http_auth {
	bool *enabled;
	struct raw_api_key *keys;
	unsigned keys_count;
	struct raw_api_key *query_keys;
	unsigned query_keys_count;
	char *keys_file;
};

static const cyaml_schema_field_t raw_http_auth_fields[] = {
        CYAML_FIELD_BOOL_PTR("enabled", OPT, struct raw_http_auth, enabled),
        CYAML_FIELD_SEQUENCE("keys", OPT, struct raw_http_auth, keys,
                             &raw_api_key_entry, 0, CYAML_UNLIMITED),
        CYAML_FIELD_SEQUENCE("query_keys", OPT, struct raw_http_auth,
                             query_keys, &raw_api_key_entry, 0,
                             CYAML_UNLIMITED),
        STR("keys_file", struct raw_http_auth, keys_file),
        CYAML_FIELD_END,
};

struct raw_http {
	char *host;
	int64_t *port;
	char *max_body_size; /* "10MB" or a plain number of bytes */
	int64_t *max_batch_size;
	/* limits: config_resolve_limits */
	int64_t *max_connections;
	char *max_header_size;
	char *header_timeout;
	char *body_timeout;
	char *idle_timeout;
	/* config_resolve_http_security */
	struct raw_tls *tls;
	struct raw_http_auth *auth;
};

static const cyaml_schema_field_t raw_http_fields[] = {
        STR("host", struct raw_http, host),
        CYAML_FIELD_INT_PTR("port", OPT, struct raw_http, port),
        STR("max_body_size", struct raw_http, max_body_size),
        CYAML_FIELD_INT_PTR("max_batch_size", OPT, struct raw_http,
                            max_batch_size),
        CYAML_FIELD_INT_PTR("max_connections", OPT, struct raw_http,
                            max_connections),
        STR("max_header_size", struct raw_http, max_header_size),
        STR("header_timeout", struct raw_http, header_timeout),
        STR("body_timeout", struct raw_http, body_timeout),
        STR("idle_timeout", struct raw_http, idle_timeout),
        CYAML_FIELD_MAPPING_PTR("tls", OPT, struct raw_http, tls,
                                raw_tls_fields),
        CYAML_FIELD_MAPPING_PTR("auth", OPT, struct raw_http, auth,
                                raw_http_auth_fields),
        CYAML_FIELD_END,
};

/* ingestion.accept: which event times ingestd takes. */
struct raw_accept {
	char *max_age;
	char *max_future;
};

static const cyaml_schema_field_t raw_accept_fields[] = {
        STR("max_age", struct raw_accept, max_age),
        STR("max_future", struct raw_accept, max_future),
        CYAML_FIELD_END,
};

struct raw_kafka {
	bool *enabled;
	char **brokers;
	unsigned brokers_count;
	char **topics;
	unsigned topics_count;
	char *consumer_group;
};

static const cyaml_schema_field_t raw_kafka_fields[] = {
        CYAML_FIELD_BOOL_PTR("enabled", OPT, struct raw_kafka, enabled),
        CYAML_FIELD_SEQUENCE("brokers", OPT, struct raw_kafka, brokers,
                             &cfg_string_entry, 0, CYAML_UNLIMITED),
        CYAML_FIELD_SEQUENCE("topics", OPT, struct raw_kafka, topics,
                             &cfg_string_entry, 0, CYAML_UNLIMITED),
        STR("consumerGroup", struct raw_kafka, consumer_group),
        CYAML_FIELD_END,
};

struct raw_spool {
	char *path;
	char *max_size;
	char *stage_timeout;
};

static const cyaml_schema_field_t raw_spool_fields[] = {
        STR("path", struct raw_spool, path),
        STR("max_size", struct raw_spool, max_size),
        STR("stage_timeout", struct raw_spool, stage_timeout),
        CYAML_FIELD_END,
};

struct raw_ingestion {
	struct raw_grpc *grpc;
	struct raw_http *http;
	struct raw_kafka *kafka;
	char *durability;
	struct raw_spool *spool;
	struct raw_accept *accept;
};

static const cyaml_schema_field_t raw_ingestion_fields[] = {
        CYAML_FIELD_MAPPING_PTR("grpc", OPT, struct raw_ingestion, grpc,
                                raw_grpc_fields),
        CYAML_FIELD_MAPPING_PTR("http", OPT, struct raw_ingestion, http,
                                raw_http_fields),
        CYAML_FIELD_MAPPING_PTR("kafka", OPT, struct raw_ingestion, kafka,
                                raw_kafka_fields),
        STR("durability", struct raw_ingestion, durability),
        CYAML_FIELD_MAPPING_PTR("spool", OPT, struct raw_ingestion, spool,
                                raw_spool_fields),
        CYAML_FIELD_MAPPING_PTR("accept", OPT, struct raw_ingestion, accept,
                                raw_accept_fields),
        CYAML_FIELD_END,
};

struct raw_detection {
	int64_t *workers;
	int64_t *batch_size;
	char *checkpoint_interval;
};

static const cyaml_schema_field_t raw_detection_fields[] = {
        CYAML_FIELD_INT_PTR("workers", OPT, struct raw_detection, workers),
        CYAML_FIELD_INT_PTR("batchSize", OPT, struct raw_detection, batch_size),
        STR("checkpoint_interval", struct raw_detection, checkpoint_interval),
        CYAML_FIELD_END,
};

struct raw_retention {
	char *raw;
	char *aggregated;
	char *rollups_1m;
	char *anomalies;
	char *notifications;
	char *interval;
};

static const cyaml_schema_field_t raw_retention_fields[] = {
        STR("raw", struct raw_retention, raw),
        STR("aggregated", struct raw_retention, aggregated),
        STR("rollups_1m", struct raw_retention, rollups_1m),
        STR("anomalies", struct raw_retention, anomalies),
        STR("notifications", struct raw_retention, notifications),
        STR("interval", struct raw_retention, interval),
        CYAML_FIELD_END,
};

struct raw_timeseries {
	char *type;
	char *url;
};

static const cyaml_schema_field_t raw_timeseries_fields[] = {
        STR("type", struct raw_timeseries, type),
        STR("url", struct raw_timeseries, url),
        CYAML_FIELD_END,
};

struct raw_events {
	char *type;
	char **urls;
	unsigned urls_count;
	char *url;
};

static const cyaml_schema_field_t raw_events_fields[] = {
        STR("type", struct raw_events, type),
        CYAML_FIELD_SEQUENCE("urls", OPT, struct raw_events, urls,
                             &cfg_string_entry, 0, CYAML_UNLIMITED),
        STR("url", struct raw_events, url),
        CYAML_FIELD_END,
};

struct raw_storage {
	char *path;
	struct raw_retention *retention;
	struct raw_timeseries *timeseries;
	struct raw_events *events;
};

static const cyaml_schema_field_t raw_storage_fields[] = {
        STR("path", struct raw_storage, path),
        CYAML_FIELD_MAPPING_PTR("retention", OPT, struct raw_storage, retention,
                                raw_retention_fields),
        CYAML_FIELD_MAPPING_PTR("timeseries", OPT, struct raw_storage,
                                timeseries, raw_timeseries_fields),
        CYAML_FIELD_MAPPING_PTR("events", OPT, struct raw_storage, events,
                                raw_events_fields),
        CYAML_FIELD_END,
};

/* detectors: and alerts: in config.yaml only name the other files. */
struct raw_file_ref {
	char *config_file;
};

static const cyaml_schema_field_t raw_file_ref_fields[] = {
        STR("configFile", struct raw_file_ref, config_file),
        CYAML_FIELD_END,
};

struct raw_metrics {
	bool *enabled;
	char *host;
	int64_t *port;
	int64_t *max_label_values;
};

static const cyaml_schema_field_t raw_metrics_fields[] = {
        CYAML_FIELD_BOOL_PTR("enabled", OPT, struct raw_metrics, enabled),
        STR("host", struct raw_metrics, host),
        CYAML_FIELD_INT_PTR("port", OPT, struct raw_metrics, port),
        CYAML_FIELD_INT_PTR("max_label_values", OPT, struct raw_metrics,
                            max_label_values),
        CYAML_FIELD_END,
};

struct raw_logging {
	char *level;
	char *format;
};

static const cyaml_schema_field_t raw_logging_fields[] = {
        STR("level", struct raw_logging, level),
        STR("format", struct raw_logging, format),
        CYAML_FIELD_END,
};

struct raw_observability {
	struct raw_metrics *metrics;
	struct raw_logging *logging;
};

static const cyaml_schema_field_t raw_observability_fields[] = {
        CYAML_FIELD_MAPPING_PTR("metrics", OPT, struct raw_observability,
                                metrics, raw_metrics_fields),
        CYAML_FIELD_MAPPING_PTR("logging", OPT, struct raw_observability,
                                logging, raw_logging_fields),
        CYAML_FIELD_END,
};

struct raw_integration {
	bool *enabled;
	char *endpoint;
};

static const cyaml_schema_field_t raw_integration_fields[] = {
        CYAML_FIELD_BOOL_PTR("enabled", OPT, struct raw_integration, enabled),
        STR("endpoint", struct raw_integration, endpoint),
        CYAML_FIELD_END,
};

struct raw_integrations {
	struct raw_integration *observatory;
	struct raw_integration *shield;
};

static const cyaml_schema_field_t raw_integrations_fields[] = {
        CYAML_FIELD_MAPPING_PTR("observatory", OPT, struct raw_integrations,
                                observatory, raw_integration_fields),
        CYAML_FIELD_MAPPING_PTR("shield", OPT, struct raw_integrations, shield,
                                raw_integration_fields),
        CYAML_FIELD_END,
};

/*
 * security: (common/privs.h).  Only the names' shape is checked here;
 * whether they exist on this machine is checked when the set starts
 * (and by --check-config), so the CLI loads a config for another host.
 */
struct raw_security {
	char *user;
	char *group;
	char *admin_group;
	bool *landlock;
};

static const cyaml_schema_field_t raw_security_fields[] = {
        STR("user", struct raw_security, user),
        STR("group", struct raw_security, group),
        STR("admin_group", struct raw_security, admin_group),
        CYAML_FIELD_BOOL_PTR("landlock", OPT, struct raw_security, landlock),
        CYAML_FIELD_END,
};

/* A user or group name as useradd takes it: [A-Za-z0-9._-], not
 * starting with '-', at most 32 bytes, an optional trailing '$'. */
static bool
config_account_name_ok(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > 32 || s[0] == '-')
		return false;
	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch == '$' && i == n - 1)
			continue;
		if (!isalnum(ch) && ch != '_' && ch != '.' && ch != '-')
			return false;
	}
	return strcmp(s, ".") != 0 && strcmp(s, "..") != 0;
}

static void
config_security_name(struct cfg_ctx *c, const char *path, const char *raw,
                     char **dst)
{
	if (raw == NULL)
		return;
	*dst = cfg_string(c, path, raw, NULL);
	if (c->env_failed || *dst == NULL)
		return;
	if (!config_account_name_ok(*dst))
		cfg_error(c, path,
		          "\"%s\" is not a user or group name (letters, "
		          "digits, '.', '_', '-', at most 32 bytes)",
		          *dst);
}

static void
config_resolve_security(struct cfg_ctx *c, const struct raw_security *r,
                        struct sn_config *cfg)
{
	config_security_name(c, "security.user", r->user, &cfg->security.user);
	config_security_name(c, "security.group", r->group,
	                     &cfg->security.group);
	config_security_name(c, "security.admin_group", r->admin_group,
	                     &cfg->security.admin_group);
	if (cfg->security.group != NULL && cfg->security.user == NULL)
		cfg_error(c, "security.group",
		          "needs security.user (the group the user runs as)");
	if (r->landlock != NULL)
		cfg->security.landlock = *r->landlock;
}

struct raw_config {
	char *mode;
	char *run_dir;
	struct raw_ingestion *ingestion;
	struct raw_detection *detection;
	struct raw_storage *storage;
	struct raw_file_ref *detectors;
	struct raw_file_ref *alerts;
	struct raw_observability *observability;
	struct raw_integrations *integrations;
	struct raw_security *security;
};

static const cyaml_schema_field_t raw_config_fields[] = {
        STR("mode", struct raw_config, mode),
        STR("run_dir", struct raw_config, run_dir),
        CYAML_FIELD_MAPPING_PTR("ingestion", OPT, struct raw_config, ingestion,
                                raw_ingestion_fields),
        CYAML_FIELD_MAPPING_PTR("detection", OPT, struct raw_config, detection,
                                raw_detection_fields),
        CYAML_FIELD_MAPPING_PTR("storage", OPT, struct raw_config, storage,
                                raw_storage_fields),
        CYAML_FIELD_MAPPING_PTR("detectors", OPT, struct raw_config, detectors,
                                raw_file_ref_fields),
        CYAML_FIELD_MAPPING_PTR("alerts", OPT, struct raw_config, alerts,
                                raw_file_ref_fields),
        CYAML_FIELD_MAPPING_PTR("observability", OPT, struct raw_config,
                                observability, raw_observability_fields),
        CYAML_FIELD_MAPPING_PTR("integrations", OPT, struct raw_config,
                                integrations, raw_integrations_fields),
        CYAML_FIELD_MAPPING_PTR("security", OPT, struct raw_config, security,
                                raw_security_fields),
        CYAML_FIELD_END,
};

static const cyaml_schema_value_t raw_config_schema = {
        CYAML_VALUE_MAPPING(CYAML_FLAG_POINTER, struct raw_config,
                            raw_config_fields),
};

/* Defaults: the one place they live (docs/configuration.md lists them). */

static const char *const config_modes[] = {"standalone", "distributed",
                                           "sidecar", NULL};
static const char *const config_log_formats[] = {"json", "text", NULL};
/* In the order of enum sn_durability. */
static const char *const config_durabilities[] = {"fsync", "batch", "none",
                                                  NULL};

/* Ingestion limits (docs/configuration.md, docs/http-api.md "Limits"). */
static void
config_limits_defaults(struct sn_config *cfg)
{
	cfg->limits.max_connections = 1024;
	cfg->limits.max_header_bytes = 64 * 1024;
	cfg->limits.header_timeout_ms = 10 * 1000;
	cfg->limits.body_timeout_ms = 60 * 1000;
	cfg->limits.idle_timeout_ms = 30 * 1000;
	cfg->limits.max_age_ms = 0; /* no limit: see docs/http-api.md */
	cfg->limits.max_future_ms = 5 * 60 * 1000;
}

static void
config_defaults(struct sn_config *cfg)
{
	cfg->mode = SN_MODE_STANDALONE;
	cfg->run_dir = sn_xstrdup(SN_DEFAULT_RUN_DIR);
	cfg->http.host = sn_xstrdup("0.0.0.0");
	cfg->http.port = SN_DEFAULT_HTTP_PORT;
	cfg->http.max_body_bytes = SN_DEFAULT_MAX_BODY_BYTES;
	cfg->http.max_batch_events = SN_DEFAULT_MAX_BATCH_EVENTS;
	config_limits_defaults(cfg);
	cfg->grpc.port = SN_DEFAULT_GRPC_PORT;
	cfg->grpc.tls.enabled = false;
	cfg->kafka.enabled = false;
	cfg->detection.workers = 1;
	cfg->detection.batch_size = 100;
	cfg->detection.checkpoint_interval_ms = SN_DEFAULT_CHECKPOINT_MS;
	cfg->spool.durability = SN_DURABILITY_FSYNC;
	cfg->spool.max_bytes = SN_DEFAULT_SPOOL_BYTES;
	cfg->spool.stage_timeout_ms = SN_DEFAULT_STAGE_TIMEOUT_MS;
	cfg->storage.path = sn_xstrdup(SN_DEFAULT_STORAGE_PATH);
	cfg->storage.retention_raw_ms = 7 * 86400000LL;
	cfg->storage.retention_aggregated_ms = 90 * 86400000LL;
	cfg->storage.retention_rollups_1m_ms = 7 * 86400000LL;
	cfg->storage.retention_anomalies_ms = 90 * 86400000LL;
	cfg->storage.retention_notifications_ms = 30 * 86400000LL;
	cfg->storage.retention_interval_ms = 60000;
	cfg->obs.metrics_enabled = true;
	cfg->obs.metrics_host = sn_xstrdup("0.0.0.0");
	cfg->obs.metrics_port = SN_DEFAULT_METRICS_PORT;
	cfg->obs.metrics_label_cap = METRICS_DEFAULT_LABEL_CAP;
	cfg->obs.log_level = LOG_LEVEL_INFO;
	cfg->obs.log_format = LOG_FORMAT_JSON;
	cfg->security.landlock = true;
}

/* Resolving config.yaml ------------------------------------------------ */

/* Replaces *dst with raw expanded, when the file gives it. */
static void
config_set_string(struct cfg_ctx *c, const char *path, const char *raw,
                  char **dst)
{
	if (raw == NULL)
		return;
	free(*dst);
	*dst = cfg_string(c, path, raw, NULL);
}

/* The same for a path, resolved against the file's folder. */
static void
config_set_path(struct cfg_ctx *c, const char *path, const char *raw,
                char **dst)
{
	if (raw == NULL)
		return;
	free(*dst);
	*dst = cfg_path(c, path, raw, NULL);
}

static int
config_port(struct cfg_ctx *c, const char *path, const int64_t *raw, int def)
{
	return (int)cfg_int(c, path, raw, def, 1, 65535);
}

#define CFG_GB (1024ULL * 1024 * 1024)

/* A byte size: "10MB" or a plain number; 1 byte to max_gb GiB. */
static void
config_size_max(struct cfg_ctx *c, const char *path, const char *raw,
                uint64_t *dst, uint64_t max_gb)
{
	uint64_t n;
	char *s;

	if (raw == NULL)
		return;
	s = cfg_string(c, path, raw, NULL);
	if (c->env_failed) {
		free(s);
		return;
	}
	if (sn_size_parse(s, &n) < 0 || n == 0 || n > max_gb * CFG_GB)
		cfg_error(c, path,
		          "invalid size \"%s\" (bytes, or a number and B, KB, "
		          "MB or GB, as in 10MB; at most %lluGB)",
		          s, (unsigned long long)max_gb);
	else
		*dst = n;
	free(s);
}

/* A request-sized byte size: at most 1 GiB. */
static void
config_size(struct cfg_ctx *c, const char *path, const char *raw, uint64_t *dst)
{
	config_size_max(c, path, raw, dst, 1);
}

/* The limits under ingestion.http and ingestion.accept. */
static void
config_resolve_limits(struct cfg_ctx *c, const struct raw_ingestion *in,
                      struct sn_config *cfg)
{
	const struct raw_http *h = in->http;
	const struct raw_accept *a = in->accept;
	uint64_t n;

	if (h != NULL) {
		cfg->limits.max_connections = (uint32_t)cfg_int(
		        c, "ingestion.http.max_connections", h->max_connections,
		        cfg->limits.max_connections, 1, 1000000);
		n = cfg->limits.max_header_bytes;
		config_size(c, "ingestion.http.max_header_size",
		            h->max_header_size, &n);
		if (n < 1024 || n > 1024 * 1024)
			cfg_error(c, "ingestion.http.max_header_size",
			          "must be between 1KB and 1MB");
		else
			cfg->limits.max_header_bytes = n;
		cfg->limits.header_timeout_ms = cfg_duration(
		        c, "ingestion.http.header_timeout", h->header_timeout,
		        cfg->limits.header_timeout_ms, true);
		cfg->limits.body_timeout_ms = cfg_duration(
		        c, "ingestion.http.body_timeout", h->body_timeout,
		        cfg->limits.body_timeout_ms, true);
		cfg->limits.idle_timeout_ms = cfg_duration(
		        c, "ingestion.http.idle_timeout", h->idle_timeout,
		        cfg->limits.idle_timeout_ms, true);
	}
	if (a != NULL) {
		cfg->limits.max_age_ms =
		        cfg_duration(c, "ingestion.accept.max_age", a->max_age,
		                     cfg->limits.max_age_ms, false);
		/* 0 is allowed: no event from after ingestd's clock. */
		cfg->limits.max_future_ms = cfg_duration(
		        c, "ingestion.accept.max_future", a->max_future,
		        cfg->limits.max_future_ms, false);
	}
}

/*
 * ingestion.http.tls and ingestion.http.auth (docs/http-api.md,
 * "Authentication" and "TLS"; ingestd/auth.c and ingestd/tls.c use
 * them).  Only the shape is checked here: ingestd hashes the keys, reads
 * keys_file and loads the certificate, at start and on every reload.
 */

#define CFG_KEY_MIN      16   /* characters of a key given as key: */
#define CFG_KEY_MAX      4096 /* a header line holds it */
#define CFG_KEY_NAME_MAX 64
#define CFG_APP_ID_MAX   256 /* as an event's application_id */

/* Whether s is visible ASCII only: a token sent in a header, a name
 * written in a log line. */
static bool
config_visible_ascii(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
			return false;
	return true;
}

/* The token of an entry.  Its value is never put in a message. */
static void
config_api_key_token(struct cfg_ctx *c, const char *path, const char *raw,
                     struct sn_api_key *k)
{
	size_t n;

	/* A key written in the file rather than taken from ${VAR}. */
	if (*raw != '\0' && strstr(raw, "${") == NULL)
		c->literal_secret = true;
	k->key = cfg_string(c, path, raw, NULL);
	if (c->env_failed)
		return;
	n = strlen(k->key);
	if (n < CFG_KEY_MIN)
		cfg_error(c, path,
		          "is %zu characters long, at least %d are needed "
		          "(`openssl rand -hex 32` makes a good key)",
		          n, CFG_KEY_MIN);
	else if (n > CFG_KEY_MAX)
		cfg_error(c, path, "is longer than %d characters", CFG_KEY_MAX);
	else if (!config_visible_ascii(k->key))
		cfg_error(c, path,
		          "may hold only visible ASCII characters (no spaces "
		          "or control characters)");
}

static void
config_api_key_hash(struct cfg_ctx *c, const char *path, const char *raw,
                    struct sn_api_key *k)
{
	size_t i;

	k->key_sha256 = cfg_string(c, path, raw, NULL);
	if (c->env_failed)
		return;
	for (i = 0; isxdigit((unsigned char)k->key_sha256[i]); i++)
		k->key_sha256[i] =
		        (char)tolower((unsigned char)k->key_sha256[i]);
	if (i != 64 || k->key_sha256[i] != '\0')
		cfg_error(c, path,
		          "must be 64 hex digits, the SHA-256 of the key "
		          "(printf %%s \"$KEY\" | sha256sum)");
}

/* One entry of list (keys or query_keys) at index i. */
static void
config_api_key(struct cfg_ctx *c, const char *list, unsigned i,
               const struct raw_api_key *r, bool query, struct sn_api_key *k)
{
	char base[CFG_PATH_BUF], p[CFG_PATH_BUF];
	const struct cfg_node *apps;
	size_t j;

	cfg_pathf(base, sizeof(base), "ingestion.http.auth.%s[%u]", list, i);
	if (c->doc != NULL)
		config_yaml_find(c->doc, base, &k->line);
	if (r->key != NULL && r->key_sha256 != NULL)
		cfg_error(c, base, "give key or key_sha256, not both");
	else if (r->key == NULL && r->key_sha256 == NULL)
		cfg_error(c, base,
		          "needs key (the key itself, as ${VAR}) or key_sha256 "
		          "(its SHA-256)");
	cfg_pathf(p, sizeof(p), "%s.key", base);
	if (r->key != NULL)
		config_api_key_token(c, p, r->key, k);
	cfg_pathf(p, sizeof(p), "%s.key_sha256", base);
	if (r->key_sha256 != NULL)
		config_api_key_hash(c, p, r->key_sha256, k);
	cfg_pathf(p, sizeof(p), "%s.name", base);
	if (r->name != NULL) {
		k->name = cfg_string(c, p, r->name, NULL);
		if (!c->env_failed &&
		    (k->name[0] == '\0' || strlen(k->name) > CFG_KEY_NAME_MAX ||
		     !config_visible_ascii(k->name)))
			cfg_error(c, p,
			          "must be 1 to %d visible ASCII characters, "
			          "no spaces",
			          CFG_KEY_NAME_MAX);
	}
	cfg_pathf(p, sizeof(p), "%s.applications", base);
	apps = c->doc != NULL ? config_yaml_find(c->doc, p, NULL) : NULL;
	if (apps == NULL || config_yaml_is_null(apps))
		return; /* any application */
	if (query) {
		cfg_error(c, p,
		          "not for query keys: a query key reads every "
		          "application");
		return;
	}
	if (r->applications_count == 0) {
		cfg_error(c, p,
		          "must list at least one application_id (leave it out "
		          "for any)");
		return;
	}
	cfg_strings(c, p, r->applications, r->applications_count,
	            &k->applications, &k->napplications);
	for (j = 0; j < k->napplications; j++) {
		size_t n = strlen(k->applications[j]);

		if (n == 0 || n > CFG_APP_ID_MAX) {
			cfg_pathf(p, sizeof(p), "%s.applications[%zu]", base,
			          j);
			cfg_error(c, p,
			          "must be 1 to %d bytes, as an "
			          "application_id",
			          CFG_APP_ID_MAX);
		}
	}
}

static void
config_api_keys(struct cfg_ctx *c, const char *list,
                const struct raw_api_key *raw, unsigned n, bool query,
                struct sn_api_key **out, size_t *nout)
{
	unsigned i;

	if (n == 0)
		return;
	*out = sn_xcalloc(n, sizeof(**out));
	*nout = n;
	for (i = 0; i < n; i++)
		config_api_key(c, list, i, &raw[i], query, &(*out)[i]);
}

static void
config_api_keys_free(struct sn_api_key *k, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (k[i].key != NULL) /* a secret: do not leave it in memory */
			explicit_bzero(k[i].key, strlen(k[i].key));
		free(k[i].key);
		free(k[i].key_sha256);
		free(k[i].name);
		cfg_strv_free(k[i].applications, k[i].napplications);
	}
	free(k);
}

static void
config_resolve_http_security(struct cfg_ctx *c, const struct raw_http *h,
                             struct sn_config *cfg)
{
	const struct raw_http_auth *a = h->auth;
	const struct raw_tls *t = h->tls;
	struct sn_http_auth *auth = &cfg->http.auth;
	struct sn_tls *tls = &cfg->http.tls;

	if (t != NULL) {
		if (t->enabled != NULL)
			tls->enabled = *t->enabled;
		config_set_path(c, "ingestion.http.tls.cert_file", t->cert_file,
		                &tls->cert_file);
		config_set_path(c, "ingestion.http.tls.key_file", t->key_file,
		                &tls->key_file);
		config_set_path(c, "ingestion.http.tls.client_ca_file",
		                t->client_ca_file, &tls->client_ca_file);
		if (tls->enabled &&
		    (tls->cert_file == NULL || tls->key_file == NULL))
			cfg_error(c, "ingestion.http.tls",
			          "enabled needs cert_file and key_file");
	}
	if (a == NULL)
		return;
	if (a->enabled != NULL)
		auth->enabled = *a->enabled;
	config_set_path(c, "ingestion.http.auth.keys_file", a->keys_file,
	                &auth->keys_file);
	config_api_keys(c, "keys", a->keys, a->keys_count, false, &auth->keys,
	                &auth->nkeys);
	config_api_keys(c, "query_keys", a->query_keys, a->query_keys_count,
	                true, &auth->query_keys, &auth->nquery_keys);
	if (auth->enabled && auth->nkeys == 0 && auth->nquery_keys == 0 &&
	    auth->keys_file == NULL)
		cfg_error(c, "ingestion.http.auth",
		          "enabled needs keys, query_keys or keys_file");
}

/* A file ingestd will read, named by key: a missing or unreadable one is
 * reported here, at its key, rather than by ingestd at start. */
static void
config_check_readable(struct cfg_ctx *c, const char *key, const char *path)
{
	struct stat st;
	int fd;

	if (path == NULL)
		return;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)) < 0) {
		cfg_error(c, key, "cannot read %s: %s", path, strerror(errno));
		return;
	}
	if (fstat(fd, &st) == 0 && !S_ISREG(st.st_mode))
		cfg_error(c, key, "%s is not a file", path);
	close(fd);
}

static void
config_check_http_files(struct cfg_ctx *c, const struct sn_config *cfg)
{
	const struct sn_tls *tls = &cfg->http.tls;

	if (tls->enabled) {
		config_check_readable(c, "ingestion.http.tls.cert_file",
		                      tls->cert_file);
		config_check_readable(c, "ingestion.http.tls.key_file",
		                      tls->key_file);
		config_check_readable(c, "ingestion.http.tls.client_ca_file",
		                      tls->client_ca_file);
	}
	if (cfg->http.auth.enabled)
		config_check_readable(c, "ingestion.http.auth.keys_file",
		                      cfg->http.auth.keys_file);
}

static void
config_resolve_ingestion(struct cfg_ctx *c, const struct raw_ingestion *in,
                         struct sn_config *cfg)
{
	const struct raw_http *h = in->http;
	const struct raw_grpc *g = in->grpc;
	const struct raw_kafka *k = in->kafka;

	config_resolve_limits(c, in, cfg);

	if (h != NULL) {
		config_set_string(c, "ingestion.http.host", h->host,
		                  &cfg->http.host);
		if (cfg->http.host[0] == '\0')
			cfg_error(c, "ingestion.http.host",
			          "must not be empty");
		cfg->http.port = config_port(c, "ingestion.http.port", h->port,
		                             cfg->http.port);
		config_size(c, "ingestion.http.max_body_size", h->max_body_size,
		            &cfg->http.max_body_bytes);
		cfg->http.max_batch_events = (uint32_t)cfg_int(
		        c, "ingestion.http.max_batch_size", h->max_batch_size,
		        cfg->http.max_batch_events, 1, 1000000);
		config_resolve_http_security(c, h, cfg);
	}
	if (g != NULL) {
		/* 0 turns the gRPC listener off (docs/grpc.md) */
		cfg->grpc.port = (int)cfg_int(c, "ingestion.grpc.port", g->port,
		                              cfg->grpc.port, 0, 65535);
		if (g->tls != NULL) {
			if (g->tls->enabled != NULL)
				cfg->grpc.tls.enabled = *g->tls->enabled;
			config_set_path(c, "ingestion.grpc.tls.cert_file",
			                g->tls->cert_file,
			                &cfg->grpc.tls.cert_file);
			config_set_path(c, "ingestion.grpc.tls.key_file",
			                g->tls->key_file,
			                &cfg->grpc.tls.key_file);
			config_set_path(c, "ingestion.grpc.tls.client_ca_file",
			                g->tls->client_ca_file,
			                &cfg->grpc.tls.client_ca_file);
		}
		if (cfg->grpc.tls.enabled && (cfg->grpc.tls.cert_file == NULL ||
		                              cfg->grpc.tls.key_file == NULL))
			cfg_error(c, "ingestion.grpc.tls",
			          "enabled needs cert_file and key_file");
	}
	if (in->durability != NULL) {
		char *d = cfg_string(c, "ingestion.durability", in->durability,
		                     NULL);

		if (d != NULL &&
		    cfg_oneof(c, "ingestion.durability", "durability", d,
		              config_durabilities))
			for (int i = 0; config_durabilities[i] != NULL; i++)
				if (strcmp(d, config_durabilities[i]) == 0)
					cfg->spool.durability = i;
		free(d);
	}
	if (in->spool != NULL) {
		config_set_path(c, "ingestion.spool.path", in->spool->path,
		                &cfg->spool.path);
		/* a spool may hold days of events: up to 1 TiB */
		config_size_max(c, "ingestion.spool.max_size",
		                in->spool->max_size, &cfg->spool.max_bytes,
		                1024);
		if (cfg->spool.max_bytes < SN_SPOOL_MIN_BYTES)
			cfg_error(c, "ingestion.spool.max_size",
			          "must be at least %u bytes (two segments)",
			          SN_SPOOL_MIN_BYTES);
		cfg->spool.stage_timeout_ms =
		        cfg_duration(c, "ingestion.spool.stage_timeout",
		                     in->spool->stage_timeout,
		                     cfg->spool.stage_timeout_ms, true);
	}
	if (k != NULL) {
		if (k->enabled != NULL)
			cfg->kafka.enabled = *k->enabled;
		cfg_strings(c, "ingestion.kafka.brokers", k->brokers,
		            k->brokers_count, &cfg->kafka.brokers,
		            &cfg->kafka.nbrokers);
		cfg_strings(c, "ingestion.kafka.topics", k->topics,
		            k->topics_count, &cfg->kafka.topics,
		            &cfg->kafka.ntopics);
		config_set_string(c, "ingestion.kafka.consumerGroup",
		                  k->consumer_group,
		                  &cfg->kafka.consumer_group);
		if (cfg->kafka.enabled && cfg->kafka.nbrokers == 0)
			cfg_error(
			        c, "ingestion.kafka",
			        "enabled needs at least one entry in brokers");
		if (cfg->kafka.enabled && cfg->kafka.ntopics == 0)
			cfg_error(c, "ingestion.kafka",
			          "enabled needs at least one entry in topics");
	}
}

static void
config_resolve_storage(struct cfg_ctx *c, const struct raw_storage *st,
                       struct sn_config *cfg)
{
	char **v = NULL, *one;
	size_t n = 0;

	config_set_path(c, "storage.path", st->path, &cfg->storage.path);
	if (st->retention != NULL) {
		cfg->storage.retention_raw_ms = cfg_duration(
		        c, "storage.retention.raw", st->retention->raw,
		        cfg->storage.retention_raw_ms, true);
		cfg->storage.retention_aggregated_ms = cfg_duration(
		        c, "storage.retention.aggregated",
		        st->retention->aggregated,
		        cfg->storage.retention_aggregated_ms, true);
		cfg->storage.retention_rollups_1m_ms = cfg_duration(
		        c, "storage.retention.rollups_1m",
		        st->retention->rollups_1m,
		        cfg->storage.retention_rollups_1m_ms, true);
		cfg->storage.retention_anomalies_ms =
		        cfg_duration(c, "storage.retention.anomalies",
		                     st->retention->anomalies,
		                     cfg->storage.retention_anomalies_ms, true);
		cfg->storage.retention_notifications_ms = cfg_duration(
		        c, "storage.retention.notifications",
		        st->retention->notifications,
		        cfg->storage.retention_notifications_ms, true);
		cfg->storage.retention_interval_ms =
		        cfg_duration(c, "storage.retention.interval",
		                     st->retention->interval,
		                     cfg->storage.retention_interval_ms, true);
	}
	if (st->timeseries != NULL) {
		config_set_string(c, "storage.timeseries.type",
		                  st->timeseries->type,
		                  &cfg->storage.timeseries_type);
		config_set_string(c, "storage.timeseries.url",
		                  st->timeseries->url,
		                  &cfg->storage.timeseries_url);
	}
	if (st->events != NULL) {
		config_set_string(c, "storage.events.type", st->events->type,
		                  &cfg->storage.events_type);
		cfg_strings(c, "storage.events.urls", st->events->urls,
		            st->events->urls_count, &v, &n);
		/* The Helm values say url:, the ConfigMap urls:; take both. */
		if (st->events->url != NULL) {
			one = cfg_string(c, "storage.events.url",
			                 st->events->url, NULL);
			v = realloc(v, (n + 1) * sizeof(*v));
			if (v == NULL)
				fatalx("out of memory");
			v[n++] = one;
		}
		cfg->storage.events_urls = v;
		cfg->storage.nevents_urls = n;
	}
}

static void
config_resolve_integration(struct cfg_ctx *c, const char *name,
                           const struct raw_integration *in, bool *enabled,
                           char **endpoint)
{
	char p[CFG_PATH_BUF];

	if (in == NULL)
		return;
	if (in->enabled != NULL)
		*enabled = *in->enabled;
	cfg_pathf(p, sizeof(p), "integrations.%s.endpoint", name);
	config_set_string(c, p, in->endpoint, endpoint);
	if (*enabled && (*endpoint == NULL || **endpoint == '\0')) {
		cfg_pathf(p, sizeof(p), "integrations.%s", name);
		cfg_error(c, p, "enabled needs an endpoint");
	}
}

static void
config_resolve_observability(struct cfg_ctx *c,
                             const struct raw_observability *o,
                             struct sn_config *cfg)
{
	const struct raw_metrics *m = o->metrics;
	const struct raw_logging *l = o->logging;
	char *s;
	int v;

	if (m != NULL) {
		if (m->enabled != NULL)
			cfg->obs.metrics_enabled = *m->enabled;
		config_set_string(c, "observability.metrics.host", m->host,
		                  &cfg->obs.metrics_host);
		if (cfg->obs.metrics_host[0] == '\0')
			cfg_error(c, "observability.metrics.host",
			          "must not be empty");
		cfg->obs.metrics_port =
		        config_port(c, "observability.metrics.port", m->port,
		                    cfg->obs.metrics_port);
		cfg->obs.metrics_label_cap = (unsigned)cfg_int(
		        c, "observability.metrics.max_label_values",
		        m->max_label_values, cfg->obs.metrics_label_cap, 1,
		        100000);
	}
	if (l == NULL)
		return;
	if (l->level != NULL) {
		s = cfg_string(c, "observability.logging.level", l->level,
		               NULL);
		v = c->env_failed ? cfg->obs.log_level : log_level_parse(s);
		if (v < 0)
			cfg_error(c, "observability.logging.level",
			          "unknown log level \"%s\" (expected debug, "
			          "info, warn or error)",
			          s);
		else
			cfg->obs.log_level = v;
		free(s);
	}
	if (l->format != NULL) {
		s = cfg_string(c, "observability.logging.format", l->format,
		               NULL);
		if (!c->env_failed &&
		    cfg_oneof(c, "observability.logging.format", "log format",
		              s, config_log_formats))
			cfg->obs.log_format = strcmp(s, "text") == 0
			                              ? LOG_FORMAT_TEXT
			                              : LOG_FORMAT_JSON;
		free(s);
	}
}

/* The longest socket name under run_dir (see config.h, context). */
#define CFG_LONGEST_RUN_NAME SN_CONTROL_SOCKET

static void
config_resolve(struct cfg_ctx *c, const struct raw_config *r,
               struct sn_config *cfg)
{
	struct sockaddr_un sun;
	char *s;
	size_t i;

	if (r->mode != NULL) {
		s = cfg_string(c, "mode", r->mode, NULL);
		if (!c->env_failed &&
		    cfg_oneof(c, "mode", "mode", s, config_modes))
			for (i = 0; config_modes[i] != NULL; i++)
				if (strcmp(s, config_modes[i]) == 0)
					cfg->mode = (enum sn_mode)i;
		free(s);
	}
	config_set_path(c, "run_dir", r->run_dir, &cfg->run_dir);
	/* Sockets live under run_dir; a path that cannot fit a sockaddr_un
	 * is better refused here than at bind() in four daemons. */
	if (strlen(cfg->run_dir) + 1 + strlen(CFG_LONGEST_RUN_NAME) >=
	    sizeof(sun.sun_path))
		cfg_error(c, "run_dir",
		          "\"%s\" is too long for unix sockets under it (at "
		          "most %zu bytes)",
		          cfg->run_dir,
		          sizeof(sun.sun_path) - 2 -
		                  strlen(CFG_LONGEST_RUN_NAME));
	if (r->ingestion != NULL)
		config_resolve_ingestion(c, r->ingestion, cfg);
	if (r->detection != NULL) {
		cfg->detection.workers = (int)cfg_int(
		        c, "detection.workers", r->detection->workers,
		        cfg->detection.workers, 1, 1024);
		cfg->detection.batch_size = (int)cfg_int(
		        c, "detection.batchSize", r->detection->batch_size,
		        cfg->detection.batch_size, 1, 1000000);
		cfg->detection.checkpoint_interval_ms = cfg_duration(
		        c, "detection.checkpoint_interval",
		        r->detection->checkpoint_interval,
		        cfg->detection.checkpoint_interval_ms, true);
	}
	if (r->storage != NULL)
		config_resolve_storage(c, r->storage, cfg);
	if (cfg->spool.path == NULL) {
		/* beside the database unless told otherwise */
		struct sn_buf b = {0};

		sn_buf_append(&b, cfg->storage.path, strlen(cfg->storage.path));
		sn_buf_append(&b, "/spool", sizeof("/spool"));
		cfg->spool.path = (char *)b.data;
	}
	if (r->detectors != NULL)
		config_set_path(c, "detectors.configFile",
		                r->detectors->config_file,
		                &cfg->detectors_file);
	if (r->alerts != NULL)
		config_set_path(c, "alerts.configFile", r->alerts->config_file,
		                &cfg->alerts_file);
	if (r->observability != NULL)
		config_resolve_observability(c, r->observability, cfg);
	if (r->integrations != NULL) {
		config_resolve_integration(
		        c, "observatory", r->integrations->observatory,
		        &cfg->integrations.observatory_enabled,
		        &cfg->integrations.observatory_endpoint);
		config_resolve_integration(c, "shield", r->integrations->shield,
		                           &cfg->integrations.shield_enabled,
		                           &cfg->integrations.shield_endpoint);
	}
	if (r->security != NULL)
		config_resolve_security(c, r->security, cfg);
}

/* Environment overrides ------------------------------------------------ */

/* MODE and LOG_LEVEL win over the file, as the seed's docker run shows. */
static void
config_env_overrides(struct sn_config *cfg, struct sn_cfg_errors *errs)
{
	const char *v;
	size_t i;
	int level;

	if ((v = getenv("MODE")) != NULL && *v != '\0') {
		for (i = 0; config_modes[i] != NULL; i++)
			if (strcmp(v, config_modes[i]) == 0)
				break;
		if (config_modes[i] == NULL)
			cfg_errors_add(errs,
			               "environment: MODE: unknown mode \"%s\" "
			               "(expected standalone, distributed or "
			               "sidecar)",
			               v);
		else
			cfg->mode = (enum sn_mode)i;
	}
	if ((v = getenv("LOG_LEVEL")) != NULL && *v != '\0') {
		if ((level = log_level_parse(v)) < 0)
			cfg_errors_add(
			        errs,
			        "environment: LOG_LEVEL: unknown log level "
			        "\"%s\" (expected debug, info, warn or "
			        "error)",
			        v);
		else
			cfg->obs.log_level = level;
	}
}

/* Loading -------------------------------------------------------------- */

/*
 * How a file is named in messages: relative to the current directory
 * when it is under it, so "etc/alerts.yaml:27: ..." rather than a long
 * absolute path.
 */
static char *
config_display_name(const char *abs)
{
	char cwd[PATH_MAX];
	size_t n;

	if (getcwd(cwd, sizeof(cwd)) != NULL) {
		n = strlen(cwd);
		if (strncmp(abs, cwd, n) == 0 && abs[n] == '/')
			return sn_xstrdup(abs + n + 1);
	}
	return sn_xstrdup(abs);
}

/* path made absolute against the current directory, without following
 * symlinks (a Kubernetes ConfigMap is a farm of them). */
static char *
config_abs_path(const char *path)
{
	char cwd[PATH_MAX], *out;
	size_t n;

	if (path[0] == '/')
		return sn_xstrdup(path);
	while (path[0] == '.' && path[1] == '/')
		path += 2;
	if (getcwd(cwd, sizeof(cwd)) == NULL)
		return sn_xstrdup(path);
	n = strlen(cwd) + strlen(path) + 2;
	out = sn_xmalloc(n);
	snprintf(out, n, "%s/%s", cwd, path);
	return out;
}

/*
 * Reads the detectors or alerts file named by key in the config file c
 * describes.  A file that cannot be read is reported at the key naming
 * it.  Returns the text (caller frees) or NULL.
 */
static char *
config_read_named(struct cfg_ctx *c, const char *key, const char *file,
                  size_t *len, unsigned *mode)
{
	char *text;

	if ((text = config_read_file(file, len, mode)) == NULL)
		cfg_error(c, key, "cannot read %s: %s", file, strerror(errno));
	return text;
}

static void
config_load_detectors(struct cfg_ctx *c, struct sn_config *cfg)
{
	struct cfg_ctx dc = {0};
	size_t len;
	char *text, *name;

	if (cfg->detectors_file == NULL) {
		dc.name = "built-in detectors";
		dc.errs = c->errs;
		config_detectors_parse_ctx(&dc, config_builtin_detectors,
		                           strlen(config_builtin_detectors),
		                           &cfg->detectors);
		return;
	}
	text = config_read_named(c, "detectors.configFile", cfg->detectors_file,
	                         &len, NULL);
	if (text == NULL)
		return;
	name = config_display_name(cfg->detectors_file);
	dc.name = name;
	dc.errs = c->errs;
	dc.dir = cfg->dir;
	if (config_detectors_parse_ctx(&dc, text, len, &cfg->detectors) == 0)
		cfg->detectors.path = sn_xstrdup(cfg->detectors_file);
	free(name);
	free(text);
}

static void
config_load_alerts(struct cfg_ctx *c, struct sn_config *cfg)
{
	struct cfg_ctx ac = {0};
	unsigned mode = 0;
	size_t len;
	char *text, *name;

	if (cfg->alerts_file == NULL)
		return; /* no routes, no receivers: alertd only logs */
	text = config_read_named(c, "alerts.configFile", cfg->alerts_file, &len,
	                         &mode);
	if (text == NULL)
		return;
	name = config_display_name(cfg->alerts_file);
	ac.name = name;
	ac.errs = c->errs;
	ac.dir = cfg->dir;
	if (config_alerts_parse_ctx(&ac, text, len, &cfg->alerts) == 0)
		cfg->alerts.path = sn_xstrdup(cfg->alerts_file);
	/* relayd's check_file_secrecy, as a warning: a password written in
	 * clear in a file every local user can read. */
	if (ac.literal_secret && (mode & S_IROTH))
		log_warnx("%s holds secrets in clear and is readable by every "
		          "user; chmod o-r it or use ${VAR} for them",
		          name);
	free(name);
	free(text);
}

static void
config_load_file(struct sn_config *cfg, const char *path, bool main_only,
                 struct sn_cfg_errors *errs)
{
	struct cfg_ctx c = {0};
	struct cfg_doc doc = {0};
	struct raw_config none = {0};
	void *raw = NULL;
	size_t len, before = errs->count;
	unsigned mode = 0;
	char *text;

	cfg->path = config_abs_path(path);
	cfg->dir = sn_path_dirname(cfg->path);
	if ((text = config_read_file(path, &len, &mode)) == NULL) {
		cfg_errors_add(errs, "%s: cannot read: %s", path,
		               strerror(errno));
		return;
	}
	c.name = path;
	c.errs = errs;
	c.dir = cfg->dir;
	if (config_file_load(&c, &doc, text, len, &raw_config_schema, &raw) ==
	    0) {
		config_resolve(&c, raw != NULL ? raw : &none, cfg);
		/* Not for sentinel-cli (main_only), whose user may not be
		 * allowed to read ingestd's key and certificate files. */
		if (!main_only)
			config_check_http_files(&c, cfg);
		cfg_sort_errors(&c, before);
		if (!main_only && c.literal_secret && (mode & S_IROTH))
			log_warnx("%s holds API keys in clear and is readable "
			          "by every user; chmod o-r it or use ${VAR} "
			          "for them",
			          path);
		/* Read the other two even when this one is bad, so one run
		 * shows every problem. */
		if (!main_only) {
			config_load_detectors(&c, cfg);
			config_load_alerts(&c, cfg);
		}
	}
	config_cyaml_free(&raw_config_schema, raw);
	config_yaml_free(&doc);
	free(text);
}

/* Loads config.yaml and, unless main_only, the two files it names. */
static struct sn_config *
config_load_common(const char *path, bool main_only, struct sn_cfg_errors *errs)
{
	struct sn_cfg_errors local = {0};
	struct sn_config *cfg;
	struct cfg_ctx c = {0};
	size_t before;
	bool failed;

	if (errs == NULL)
		errs = &local;
	before = errs->count;
	cfg = sn_xcalloc(1, sizeof(*cfg));
	config_defaults(cfg);
	if (path == NULL) {
		/* Built-in: relative defaults stay relative to the current
		 * directory. */
		cfg->dir = sn_xstrdup(".");
		c.errs = errs;
		if (!main_only)
			config_load_detectors(&c, cfg);
	} else
		config_load_file(cfg, path, main_only, errs);
	config_env_overrides(cfg, errs);
	failed = errs->count > before;
	cfg_errors_free(&local);
	if (failed) {
		config_free(cfg);
		return NULL;
	}
	return cfg;
}

struct sn_config *
config_load(const char *path, struct sn_cfg_errors *errs)
{
	return config_load_common(path, false, errs);
}

struct sn_config *
config_load_main(const char *path, struct sn_cfg_errors *errs)
{
	return config_load_common(path, true, errs);
}

void
config_free(struct sn_config *cfg)
{
	if (cfg == NULL)
		return;
	free(cfg->path);
	free(cfg->dir);
	free(cfg->run_dir);
	free(cfg->http.host);
	free(cfg->grpc.tls.cert_file);
	free(cfg->grpc.tls.key_file);
	free(cfg->grpc.tls.client_ca_file);
	free(cfg->http.tls.cert_file);
	free(cfg->http.tls.key_file);
	free(cfg->http.tls.client_ca_file);
	config_api_keys_free(cfg->http.auth.keys, cfg->http.auth.nkeys);
	config_api_keys_free(cfg->http.auth.query_keys,
	                     cfg->http.auth.nquery_keys);
	free(cfg->http.auth.keys_file);
	cfg_strv_free(cfg->kafka.brokers, cfg->kafka.nbrokers);
	cfg_strv_free(cfg->kafka.topics, cfg->kafka.ntopics);
	free(cfg->kafka.consumer_group);
	free(cfg->storage.path);
	free(cfg->spool.path);
	free(cfg->storage.timeseries_type);
	free(cfg->storage.timeseries_url);
	free(cfg->storage.events_type);
	cfg_strv_free(cfg->storage.events_urls, cfg->storage.nevents_urls);
	free(cfg->integrations.observatory_endpoint);
	free(cfg->integrations.shield_endpoint);
	free(cfg->obs.metrics_host);
	free(cfg->detectors_file);
	free(cfg->alerts_file);
	free(cfg->security.user);
	free(cfg->security.group);
	free(cfg->security.admin_group);
	config_detectors_free(&cfg->detectors);
	config_alerts_free(&cfg->alerts);
	free(cfg);
}

const char *
config_mode_name(enum sn_mode m)
{
	if ((size_t)m < SN_ARRAY_LEN(config_modes) - 1)
		return config_modes[m];
	return "unknown";
}

int
config_run_path(const struct sn_config *cfg, const char *name, char *buf,
                size_t size)
{
	int n = snprintf(buf, size, "%s/%s", cfg->run_dir, name);

	return n < 0 || (size_t)n >= size ? -1 : 0;
}
