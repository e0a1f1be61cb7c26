/*
 * config.h: the three configuration files, loaded with libcyaml schemas
 * (config.c) and resolved into plain structs with defaults applied.
 *
 *   config.yaml     this struct sn_config
 *   detectors.yaml  struct sn_detectors   (file named by detectors.configFile)
 *   alerts.yaml     struct sn_alerts      (file named by alerts.configFile)
 *
 * Loading never prints: every problem found is appended to a
 * struct sn_cfg_errors as "file:line: key: problem", and the loader goes
 * on to find the rest before it fails.  Durations are milliseconds,
 * sizes bytes, relative paths are resolved against the folder of the file
 * that named them.  ${VAR} and ${VAR:-default} in string values are
 * replaced from the environment.  MODE and LOG_LEVEL in the environment
 * override mode and observability.logging.level.
 */
#ifndef SN_CONFIG_H
#define SN_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <regex.h>

/* Built-in defaults (docs/configuration.md lists them all). */
#define SN_DEFAULT_HTTP_PORT        8080
#define SN_DEFAULT_GRPC_PORT        9090
#define SN_DEFAULT_METRICS_PORT     9102
#define SN_DEFAULT_RUN_DIR          "./var/run"
#define SN_DEFAULT_STORAGE_PATH     "./var/data"
#define SN_DEFAULT_MAX_BODY_BYTES   (10u * 1024 * 1024)
#define SN_DEFAULT_MAX_BATCH_EVENTS 10000
#define SN_DB_FILE                  "sentinel.db" /* under storage.path */

/* Collected problems; each is one "file:line: key: problem" line. */
struct sn_cfg_errors {
	char **msgs;
	size_t count;
};

void cfg_errors_add(struct sn_cfg_errors *e, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));
void cfg_errors_free(struct sn_cfg_errors *e);

enum sn_mode {
	SN_MODE_STANDALONE = 0,
	SN_MODE_DISTRIBUTED,
	SN_MODE_SIDECAR,
};

struct sn_tls {
	bool enabled;
	char *cert_file;
	char *key_file;
	char *client_ca_file; /* set: client certificates required (mTLS) */
};

/*
 * One API key of ingestion.http.auth.keys or .query_keys
 * (docs/http-api.md "Authentication").  key is a secret: never log it.
 */
struct sn_api_key {
	char *key;           /* the token itself, or NULL */
	char *key_sha256;    /* or its SHA-256: 64 lowercase hex digits */
	char *name;          /* for logs; NULL: none given */
	char **applications; /* application_ids it may send; 0: any */
	size_t napplications;
	unsigned line; /* of the entry, for messages */
};

/* ingestion.http.auth: who may use the HTTP API. */
struct sn_http_auth {
	bool enabled;
	struct sn_api_key *keys; /* may send events */
	size_t nkeys;
	struct sn_api_key *query_keys; /* may use the query API */
	size_t nquery_keys;
	char *keys_file; /* more keys, by hash (ingestd/auth.h) */
};

/* One key: value label matcher (route match, detector filter). */
struct sn_label {
	char *key;
	char *value;
};

/* detectors.yaml ------------------------------------------------------ */

struct sn_detector_action {
	char *alert;    /* "high-latency-alert" */
	char *severity; /* "warning", "critical", "info" */
};

/* A detector's filter: only events whose field equals value count. */
struct sn_detector_filter {
	char *field; /* "event_type", "application_id", or a data field
	                ("status", "model", "data.region" or "region") */
	char *value;
};

struct sn_detector {
	char *id;     /* unique */
	char *name;   /* defaults to id */
	char *type;   /* "threshold", "statistical", "rate" */
	bool enabled; /* default true */
	/* config: */
	char *metric;    /* "latency_ms", "cost", "error_rate", ...; rate:
	                    optional, NULL counts events */
	char *condition; /* threshold, rate: greater_than, less_than, ... */
	double threshold;
	bool has_threshold;
	int64_t window_ms; /* 0 when not given */
	char *strategy; /* statistical: zscore, mad, iqr, ewma, cusum, auto */
	char *aggregation; /* threshold: avg (default), min, max, sum, count,
	                      p50, p90, p95, p99, last, each; statistical:
	                      the per-window value, avg by default */
	char **group_by;   /* labels; default {"application_id"} */
	size_t ngroup_by;
	uint32_t min_samples;              /* 0: the type's default */
	int64_t cooldown_ms;               /* 0: none */
	struct sn_detector_filter *filter; /* all must match */
	size_t nfilter;
	uint32_t history;    /* statistical, rate baseline: windows kept
	                        (default 30) */
	char *direction;     /* statistical: "up", "down", "both" (default) */
	char *baseline;      /* rate: "none" (default: threshold is a count)
	                        or "history" (threshold is a ratio of the
	                        mean count of the last history windows) */
	int64_t lateness_ms; /* allowed lateness of events (default 5s) */
	uint32_t max_groups; /* groups tracked at most (default 10000) */
	struct sn_detector_action *actions;
	size_t nactions;
	unsigned line; /* where the detector starts in its file */
};

struct sn_detectors {
	char *path; /* the file they came from, NULL for built-in */
	struct sn_detector *items;
	size_t count;
};

/* alerts.yaml --------------------------------------------------------- */

/* Alertmanager's defaults, used when a route leaves them out. */
#define SN_DEFAULT_GROUP_WAIT_MS       (30 * 1000)
#define SN_DEFAULT_GROUP_INTERVAL_MS   (5 * 60 * 1000)
#define SN_DEFAULT_REPEAT_INTERVAL_MS  (4 * 3600 * 1000)
#define SN_DEFAULT_RECEIVER_TIMEOUT_MS (10 * 1000)
#define SN_DEFAULT_MAX_RETRY_AGE_MS    (3600 * 1000)
#define SN_DEFAULT_RETRY_INITIAL_MS    1000
#define SN_DEFAULT_RETRY_MAX_MS        (5 * 60 * 1000)
#define SN_DEFAULT_PAGERDUTY_URL       "https://events.pagerduty.com/v2/enqueue"

/*
 * A regular-expression matcher (match_re, source_match_re,
 * target_match_re): the label's whole value must match, as in
 * Alertmanager, so re is the pattern compiled as "^(pattern)$" with
 * REG_EXTENDED | REG_NOSUB.  Use regexec(&m->re, value, 0, NULL, 0) == 0.
 */
struct sn_matcher {
	char *key;
	char *pattern; /* as written in the file, for messages */
	regex_t re;
};

struct sn_route {
	struct sn_label *match; /* all must equal */
	size_t nmatch;
	struct sn_matcher *match_re; /* all must match as well */
	size_t nmatch_re;
	char **receivers;
	size_t nreceivers;
	char **group_by; /* label names; empty: one group per route */
	size_t ngroup_by;
	bool group_by_all;          /* group_by: ['...']: every label */
	int64_t group_wait_ms;      /* 30s */
	int64_t group_interval_ms;  /* 5m */
	int64_t repeat_interval_ms; /* 4h */
	bool continue_matching;     /* continue: false: first match wins */
	unsigned line;              /* of the entry, for messages */
};

/* "source" alerts firing mute "target" alerts with the same equal labels. */
struct sn_inhibit_rule {
	struct sn_label *source_match;
	size_t nsource_match;
	struct sn_matcher *source_match_re;
	size_t nsource_match_re;
	struct sn_label *target_match;
	size_t ntarget_match;
	struct sn_matcher *target_match_re;
	size_t ntarget_match_re;
	char **equal; /* label names whose values must be the same */
	size_t nequal;
	unsigned line;
};

enum sn_smtp_tls {
	SN_SMTP_STARTTLS = 0, /* default (port 587 and anything but 465) */
	SN_SMTP_TLS,          /* implicit TLS, "tls" or "implicit"; 465 */
	SN_SMTP_NONE,         /* clear text, for a local relay */
};

/*
 * One receiver.  Fields marked secret must never be logged or printed:
 * pass them through config_redact().
 */
struct sn_receiver {
	char *name;
	char *type;         /* "email", "slack", "webhook", "pagerduty" */
	bool send_resolved; /* default true */
	int64_t timeout_ms; /* per request, default 10s */
	/* email */
	char *smtp_host;
	int smtp_port; /* default 587 */
	char *smtp_username;
	char *smtp_password; /* secret */
	enum sn_smtp_tls smtp_tls;
	char *smtp_ca_file; /* NULL: the system's CAs */
	char *from;
	char **to;
	size_t nto;
	char *subject_prefix; /* NULL: none */
	/* slack */
	char *webhook_url; /* webhookUrl, secret */
	char *channel;
	char *username;
	char *icon_emoji;
	/* webhook: url (secret) and the rest; pagerduty: url (not secret,
	 * default SN_DEFAULT_PAGERDUTY_URL) */
	char *url;
	char *hmac_secret;        /* hmac_secret or hmacSecret, secret */
	struct sn_label *headers; /* extra request headers */
	size_t nheaders;
	char *routing_key; /* pagerduty, routing_key or routingKey, secret */
};

/* Top-level delivery: retry policy shared by every receiver. */
struct sn_delivery {
	int64_t max_retry_age_ms; /* 1h: then recorded as failed */
	int64_t retry_initial_ms; /* 1s: first backoff */
	int64_t retry_max_ms;     /* 5m: backoff cap */
};

struct sn_alerts {
	char *path;
	struct sn_route *routes;
	size_t nroutes;
	struct sn_receiver *receivers;
	size_t nreceivers;
	char *default_receiver; /* NULL: unmatched alerts are only logged */
	struct sn_inhibit_rule *inhibit_rules;
	size_t ninhibit_rules;
	char *external_url; /* NULL: none; externalURL in webhook payloads */
	struct sn_delivery delivery;
};

/* config.yaml --------------------------------------------------------- */

/* ingestion.durability: when a 202 is answered (docs/reliability.md). */
enum sn_durability {
	SN_DURABILITY_FSYNC = 0, /* after an fsync covering the events */
	SN_DURABILITY_BATCH,     /* after write(); fsync every 200 ms */
	SN_DURABILITY_NONE,      /* after write(); fsync only at rotation */
};

#define SN_DEFAULT_SPOOL_BYTES      (1024ULL * 1024 * 1024)
#define SN_SPOOL_MIN_BYTES          (2u * 1024 * 1024)
#define SN_DEFAULT_STAGE_TIMEOUT_MS (60 * 1000)
#define SN_DEFAULT_CHECKPOINT_MS    (10 * 1000)

struct sn_config {
	char *path; /* absolute path of config.yaml, NULL for built-in */
	char *dir;  /* folder relative paths resolve against */
	enum sn_mode mode;
	char *run_dir; /* sockets and pid files; default ./var/run */

	struct {
		char *host; /* listen address, default 0.0.0.0 */
		int port;   /* 8080 */
		uint64_t max_body_bytes;
		uint32_t max_batch_events;
		struct sn_tls tls;        /* ingestion.http.tls */
		struct sn_http_auth auth; /* ingestion.http.auth */
	} http;
	/* What ingestion takes and how long it waits (docs/http-api.md,
	 * "Limits"); defaults in config.c config_limits_defaults. */
	struct {
		uint32_t max_connections;  /* ingestion.http.max_connections */
		uint64_t max_header_bytes; /* ingestion.http.max_header_size */
		int64_t header_timeout_ms; /* ingestion.http.header_timeout */
		int64_t body_timeout_ms;   /* ingestion.http.body_timeout */
		int64_t idle_timeout_ms;   /* ingestion.http.idle_timeout */
		int64_t max_age_ms;        /* ingestion.accept.max_age */
		int64_t max_future_ms;     /* ingestion.accept.max_future */
	} limits;
	struct {
		int port; /* 9090 */
		struct sn_tls tls;
	} grpc;
	struct {
		bool enabled;
		char **brokers;
		size_t nbrokers;
		char **topics;
		size_t ntopics;
		char *consumer_group;
	} kafka;
	struct {
		int workers;
		int batch_size;
		int64_t checkpoint_interval_ms; /* 10s: detectd's state saved */
	} detection;
	struct {
		char *path;                /* <storage.path>/spool */
		int durability;            /* enum sn_durability */
		uint64_t max_bytes;        /* 1 GiB: then 429 */
		int64_t stage_timeout_ms;  /* 60s: a stage away longer: 503 */
	} spool;
	struct {
		char *path; /* folder of sentinel.db; default ./var/data */
		int64_t retention_raw_ms;           /* 7d: events */
		int64_t retention_aggregated_ms;    /* 90d: 1-hour rollups */
		int64_t retention_rollups_1m_ms;    /* 7d: 1-minute rollups */
		int64_t retention_anomalies_ms;     /* 90d */
		int64_t retention_notifications_ms; /* 30d */
		int64_t retention_interval_ms;      /* 1m: how often it runs */
		char *timeseries_type;
		char *timeseries_url;
		char *events_type;
		char **events_urls; /* events.urls, or events.url as one */
		size_t nevents_urls;
	} storage;
	struct {
		bool observatory_enabled;
		char *observatory_endpoint;
		bool shield_enabled;
		char *shield_endpoint;
	} integrations;
	struct {
		bool metrics_enabled; /* true */
		char *metrics_host;   /* 0.0.0.0 */
		int metrics_port;     /* 9102 */
		/* distinct values of a client-chosen label per metric */
		unsigned metrics_label_cap; /* METRICS_DEFAULT_LABEL_CAP */
		int log_level;        /* enum log_level */
		int log_format;       /* enum log_format */
	} obs;
	/* security: who the set runs as and who may use its sockets
	 * (common/privs.h, docs/operations.md "Security"). */
	struct {
		char *user;        /* NULL: stay the user that started it */
		char *group;       /* NULL: the user's primary group */
		char *admin_group; /* NULL: root and the set's user only */
		bool landlock;     /* true: the daemons' sandbox (privs.h) */
	} security;

	char *detectors_file; /* resolved path, NULL: built-in defaults */
	char *alerts_file;
	struct sn_detectors detectors;
	struct sn_alerts alerts;
};

/*
 * Loads config.yaml at path and the detectors and alerts files it names,
 * or the built-in defaults when path is NULL (the seed's standalone
 * files compiled in).  Returns a new config, or NULL with errs filled.
 * Free with config_free.
 */
struct sn_config *config_load(const char *path, struct sn_cfg_errors *errs);
void config_free(struct sn_config *cfg);

/*
 * Loads config.yaml alone, without the detectors and alerts files it
 * names (their fields stay empty).  For sentinel-cli, which needs only
 * run_dir and must not require the secrets alerts.yaml refers to.
 */
struct sn_config *config_load_main(const char *path,
                                   struct sn_cfg_errors *errs);

/*
 * The lower-level loaders, used by config_load and the unit tests: parse
 * one file's text (name is used in messages only).  Return 0, or -1 with
 * errs filled.
 */
int config_parse_detectors(const char *name, const char *text, size_t len,
                           struct sn_detectors *out,
                           struct sn_cfg_errors *errs);
int config_parse_alerts(const char *name, const char *text, size_t len,
                        struct sn_alerts *out, struct sn_cfg_errors *errs);
void config_detectors_free(struct sn_detectors *d);
void config_alerts_free(struct sn_alerts *a);

/*
 * What to print for a secret: "<redacted>" for a non-empty value, ""
 * for an empty one and "(none)" for NULL, so a log line can show whether
 * it is set without showing it.  Returns a constant string.
 */
const char *config_redact(const char *value);

/*
 * Replaces ${VAR} and ${VAR:-default} in s from the environment.
 * Returns a new string, or NULL when a variable is unset and has no
 * default (*missing then names it, a new string the caller frees) or the
 * syntax is broken (*missing NULL).  "$$" stands for a literal "$".
 */
char *config_expand_env(const char *s, char **missing);

const char *config_mode_name(enum sn_mode m);

/* Path of the control socket and of an nng endpoint under run_dir. */
#define SN_CONTROL_SOCKET "sentinel.sock"
int config_run_path(const struct sn_config *cfg, const char *name, char *buf,
                    size_t size);

#endif
