/*
 * config_dump.c: struct sn_config as JSON with its secrets redacted
 * (config_dump.h).  Every field of config.h is written here; a field
 * added there and holding a secret must go through cd_secret.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "config_dump.h"
#include "log.h"
#include "util.h"

#define CD_REDACTED "<redacted>"

/* A string, or null for NULL (or text jansson refuses: not UTF-8). */
static json_t *
cd_str(const char *s)
{
	json_t *v;

	if (s == NULL)
		return json_null();
	v = json_string(s);
	return v != NULL ? v : json_null();
}

/* A secret as config_redact shows it; null when absent. */
static json_t *
cd_secret(const char *s)
{
	return s == NULL ? json_null() : json_string(config_redact(s));
}

/* A URL that is not a secret as a whole, without its credentials. */
static json_t *
cd_url(const char *s)
{
	char *u = config_dump_url(s);
	json_t *v = cd_str(u);

	free(u);
	return v;
}

static json_t *
cd_duration(int64_t ms)
{
	char buf[64];

	sn_duration_format(ms, buf, sizeof(buf));
	return json_string(buf);
}

static json_t *
cd_strings(char *const *v, size_t n)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; i < n; i++)
		json_array_append_new(a, cd_str(v[i]));
	return a;
}

/* key: value pairs as an object. */
static json_t *
cd_labels(const struct sn_label *l, size_t n)
{
	json_t *o = json_object();
	size_t i;

	for (i = 0; i < n; i++)
		if (l[i].key != NULL)
			json_object_set_new(o, l[i].key, cd_str(l[i].value));
	return o;
}

static json_t *
cd_matchers(const struct sn_matcher *m, size_t n)
{
	json_t *o = json_object();
	size_t i;

	for (i = 0; i < n; i++)
		if (m[i].key != NULL)
			json_object_set_new(o, m[i].key, cd_str(m[i].pattern));
	return o;
}

char *
config_dump_url(const char *url)
{
	const char *scheme, *auth, *end, *at = NULL, *p, *rest;
	struct sn_buf b = {0};
	size_t n;

	if (url == NULL)
		return NULL;
	scheme = strstr(url, "://");
	auth = scheme != NULL ? scheme + 3 : url;
	end = auth + strcspn(auth, "/?#");
	for (p = auth; p < end; p++)
		if (*p == '@')
			at = p;
	if (at != NULL) {
		sn_buf_append(&b, url, (size_t)(auth - url));
		sn_buf_append(&b, CD_REDACTED, strlen(CD_REDACTED));
		rest = at;
	} else
		rest = url;
	/* A query or fragment often carries a token: keep its "?" only. */
	n = strcspn(end, "?#");
	sn_buf_append(&b, rest, (size_t)(end - rest) + n);
	if (end[n] != '\0') {
		sn_buf_append(&b, end + n, 1);
		sn_buf_append(&b, CD_REDACTED, strlen(CD_REDACTED));
	}
	sn_buf_append(&b, "", 1);
	return (char *)b.data;
}

static json_t *
cd_tls(const struct sn_tls *t)
{
	return json_pack("{s:b, s:o, s:o, s:o}", "enabled", t->enabled,
	                 "cert_file", cd_str(t->cert_file), "key_file",
	                 cd_str(t->key_file), "client_ca_file",
	                 cd_str(t->client_ca_file));
}

static json_t *
cd_api_keys(const struct sn_api_key *k, size_t n, bool apps)
{
	json_t *a = json_array(), *o;
	size_t i;

	for (i = 0; i < n; i++) {
		o = json_pack("{s:o, s:o, s:o}", "name", cd_str(k[i].name),
		              "key", cd_secret(k[i].key), "key_sha256",
		              cd_secret(k[i].key_sha256));
		if (apps)
			json_object_set_new(o, "applications",
			                    cd_strings(k[i].applications,
			                               k[i].napplications));
		json_array_append_new(a, o);
	}
	return a;
}

static const char *
cd_durability(int d)
{
	switch (d) {
	case SN_DURABILITY_FSYNC:
		return "fsync";
	case SN_DURABILITY_BATCH:
		return "batch";
	case SN_DURABILITY_NONE:
		return "none";
	}
	return "?";
}

static json_t *
cd_ingestion(const struct sn_config *c)
{
	json_t *http, *auth;

	auth = json_pack(
	        "{s:b, s:o, s:o, s:o}", "enabled", c->http.auth.enabled, "keys",
	        cd_api_keys(c->http.auth.keys, c->http.auth.nkeys, true),
	        "query_keys",
	        cd_api_keys(c->http.auth.query_keys, c->http.auth.nquery_keys,
	                    false),
	        "keys_file", cd_str(c->http.auth.keys_file));
	http = json_pack(
	        "{s:o, s:i, s:I, s:I, s:I, s:I, s:o, s:o, s:o, s:o, s:o}",
	        "host", cd_str(c->http.host), "port", c->http.port,
	        "max_body_size", (json_int_t)c->http.max_body_bytes,
	        "max_batch_size", (json_int_t)c->http.max_batch_events,
	        "max_connections", (json_int_t)c->limits.max_connections,
	        "max_header_size", (json_int_t)c->limits.max_header_bytes,
	        "header_timeout", cd_duration(c->limits.header_timeout_ms),
	        "body_timeout", cd_duration(c->limits.body_timeout_ms),
	        "idle_timeout", cd_duration(c->limits.idle_timeout_ms), "tls",
	        cd_tls(&c->http.tls), "auth", auth);
	return json_pack(
	        "{s:o, s:{s:o, s:o}, s:{s:i, s:o}, s:{s:b, s:o, s:o, s:o}, "
	        "s:s, s:{s:o, s:I, s:o}}",
	        "http", http, "accept", "max_age",
	        cd_duration(c->limits.max_age_ms), "max_future",
	        cd_duration(c->limits.max_future_ms), "grpc", "port",
	        c->grpc.port, "tls", cd_tls(&c->grpc.tls), "kafka", "enabled",
	        c->kafka.enabled, "brokers",
	        cd_strings(c->kafka.brokers, c->kafka.nbrokers), "topics",
	        cd_strings(c->kafka.topics, c->kafka.ntopics), "consumerGroup",
	        cd_str(c->kafka.consumer_group), "durability",
	        cd_durability(c->spool.durability), "spool", "path",
	        cd_str(c->spool.path), "max_size",
	        (json_int_t)c->spool.max_bytes, "stage_timeout",
	        cd_duration(c->spool.stage_timeout_ms));
}

static json_t *
cd_storage(const struct sn_config *c)
{
	json_t *urls = json_array();
	size_t i;

	for (i = 0; i < c->storage.nevents_urls; i++)
		json_array_append_new(urls, cd_url(c->storage.events_urls[i]));
	return json_pack(
	        "{s:o, s:{s:o, s:o, s:o, s:o, s:o, s:o}, s:{s:o, s:o}, "
	        "s:{s:o, s:o}}",
	        "path", cd_str(c->storage.path), "retention", "raw",
	        cd_duration(c->storage.retention_raw_ms), "rollups_1m",
	        cd_duration(c->storage.retention_rollups_1m_ms), "aggregated",
	        cd_duration(c->storage.retention_aggregated_ms), "anomalies",
	        cd_duration(c->storage.retention_anomalies_ms), "notifications",
	        cd_duration(c->storage.retention_notifications_ms), "interval",
	        cd_duration(c->storage.retention_interval_ms), "timeseries",
	        "type", cd_str(c->storage.timeseries_type), "url",
	        cd_url(c->storage.timeseries_url), "events", "type",
	        cd_str(c->storage.events_type), "urls", urls);
}

static json_t *
cd_detector(const struct sn_detector *d)
{
	json_t *cfg, *filter = json_object(), *actions = json_array();
	size_t i;

	for (i = 0; i < d->nfilter; i++)
		if (d->filter[i].field != NULL)
			json_object_set_new(filter, d->filter[i].field,
			                    cd_str(d->filter[i].value));
	for (i = 0; i < d->nactions; i++)
		json_array_append_new(
		        actions,
		        json_pack("{s:o, s:o}", "alert",
		                  cd_str(d->actions[i].alert), "severity",
		                  cd_str(d->actions[i].severity)));
	cfg = json_pack(
	        "{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:I, s:o, s:o, s:I, s:o, "
	        "s:o, s:o, s:I}",
	        "metric", cd_str(d->metric), "condition", cd_str(d->condition),
	        "threshold",
	        d->has_threshold ? json_real(d->threshold) : json_null(),
	        "window",
	        d->window_ms > 0 ? cd_duration(d->window_ms) : json_null(),
	        "aggregation", cd_str(d->aggregation), "strategy",
	        cd_str(d->strategy), "group_by",
	        cd_strings(d->group_by, d->ngroup_by), "min_samples",
	        (json_int_t)d->min_samples, "cooldown",
	        cd_duration(d->cooldown_ms), "filter", filter, "history",
	        (json_int_t)d->history, "direction", cd_str(d->direction),
	        "baseline", cd_str(d->baseline), "lateness",
	        cd_duration(d->lateness_ms), "max_groups",
	        (json_int_t)d->max_groups);
	return json_pack("{s:o, s:o, s:o, s:b, s:o, s:o}", "id", cd_str(d->id),
	                 "name", cd_str(d->name), "type", cd_str(d->type),
	                 "enabled", d->enabled, "config", cfg, "actions",
	                 actions);
}

static json_t *
cd_route(const struct sn_route *r)
{
	json_t *group_by = r->group_by_all
	                           ? json_pack("[s]", "...")
	                           : cd_strings(r->group_by, r->ngroup_by);

	return json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:b}", "match",
	                 cd_labels(r->match, r->nmatch), "match_re",
	                 cd_matchers(r->match_re, r->nmatch_re), "receivers",
	                 cd_strings(r->receivers, r->nreceivers), "group_by",
	                 group_by, "group_wait", cd_duration(r->group_wait_ms),
	                 "group_interval", cd_duration(r->group_interval_ms),
	                 "repeat_interval", cd_duration(r->repeat_interval_ms),
	                 "continue", r->continue_matching);
}

static json_t *
cd_inhibit(const struct sn_inhibit_rule *r)
{
	return json_pack(
	        "{s:o, s:o, s:o, s:o, s:o}", "source_match",
	        cd_labels(r->source_match, r->nsource_match), "source_match_re",
	        cd_matchers(r->source_match_re, r->nsource_match_re),
	        "target_match", cd_labels(r->target_match, r->ntarget_match),
	        "target_match_re",
	        cd_matchers(r->target_match_re, r->ntarget_match_re), "equal",
	        cd_strings(r->equal, r->nequal));
}

static const char *
cd_smtp_tls(enum sn_smtp_tls t)
{
	switch (t) {
	case SN_SMTP_STARTTLS:
		return "starttls";
	case SN_SMTP_TLS:
		return "tls";
	case SN_SMTP_NONE:
		return "none";
	}
	return "?";
}

/*
 * One receiver: the keys of its type only.  Secrets: smtp.password,
 * webhookUrl, a webhook's url, hmac_secret, routing_key, header values.
 */
static json_t *
cd_receiver(const struct sn_receiver *r)
{
	const char *type = r->type != NULL ? r->type : "";
	json_t *cfg, *headers;
	size_t i;

	cfg = json_pack("{s:o}", "timeout", cd_duration(r->timeout_ms));
	if (strcmp(type, "email") == 0) {
		json_object_set_new(
		        cfg, "smtp",
		        json_pack("{s:o, s:i, s:s, s:o, s:o, s:o}", "host",
		                  cd_str(r->smtp_host), "port", r->smtp_port,
		                  "tls", cd_smtp_tls(r->smtp_tls), "username",
		                  cd_str(r->smtp_username), "password",
		                  cd_secret(r->smtp_password), "ca_file",
		                  cd_str(r->smtp_ca_file)));
		json_object_set_new(cfg, "from", cd_str(r->from));
		json_object_set_new(cfg, "to", cd_strings(r->to, r->nto));
		json_object_set_new(cfg, "subject_prefix",
		                    cd_str(r->subject_prefix));
	} else if (strcmp(type, "slack") == 0) {
		json_object_set_new(cfg, "webhookUrl",
		                    cd_secret(r->webhook_url));
		json_object_set_new(cfg, "channel", cd_str(r->channel));
		json_object_set_new(cfg, "username", cd_str(r->username));
		json_object_set_new(cfg, "icon_emoji", cd_str(r->icon_emoji));
	} else if (strcmp(type, "pagerduty") == 0) {
		json_object_set_new(cfg, "url", cd_url(r->url));
		json_object_set_new(cfg, "routing_key",
		                    cd_secret(r->routing_key));
	} else {
		/* webhook, and anything newer: every secret-bearing field. */
		json_object_set_new(cfg, "url", cd_secret(r->url));
		json_object_set_new(cfg, "hmac_secret",
		                    cd_secret(r->hmac_secret));
		headers = json_object();
		for (i = 0; i < r->nheaders; i++)
			if (r->headers[i].key != NULL)
				json_object_set_new(
				        headers, r->headers[i].key,
				        cd_secret(r->headers[i].value));
		json_object_set_new(cfg, "headers", headers);
		if (strcmp(type, "webhook") != 0) {
			json_object_set_new(cfg, "webhookUrl",
			                    cd_secret(r->webhook_url));
			json_object_set_new(cfg, "routing_key",
			                    cd_secret(r->routing_key));
			json_object_set_new(cfg, "smtp_password",
			                    cd_secret(r->smtp_password));
		}
	}
	return json_pack("{s:o, s:o, s:b, s:o}", "name", cd_str(r->name),
	                 "type", cd_str(r->type), "send_resolved",
	                 r->send_resolved, "config", cfg);
}

static json_t *
cd_alerts(const struct sn_alerts *a)
{
	json_t *routes = json_array(), *inhibit = json_array(),
	       *receivers = json_array();
	size_t i;

	for (i = 0; i < a->nroutes; i++)
		json_array_append_new(routes, cd_route(&a->routes[i]));
	for (i = 0; i < a->ninhibit_rules; i++)
		json_array_append_new(inhibit,
		                      cd_inhibit(&a->inhibit_rules[i]));
	for (i = 0; i < a->nreceivers; i++)
		json_array_append_new(receivers, cd_receiver(&a->receivers[i]));
	return json_pack(
	        "{s:o, s:o, s:o, s:o, s:o, s:o, s:{s:o, s:o, s:o}}", "file",
	        cd_str(a->path), "external_url", cd_url(a->external_url),
	        "default_receiver", cd_str(a->default_receiver), "routing",
	        routes, "inhibit_rules", inhibit, "receivers", receivers,
	        "delivery", "max_retry_age",
	        cd_duration(a->delivery.max_retry_age_ms), "retry_initial",
	        cd_duration(a->delivery.retry_initial_ms), "retry_max",
	        cd_duration(a->delivery.retry_max_ms));
}

json_t *
config_dump_json(const struct sn_config *c)
{
	json_t *out, *detectors = json_array();
	size_t i;
	int lvl = c->obs.log_level;

	for (i = 0; i < c->detectors.count; i++)
		json_array_append_new(detectors,
		                      cd_detector(&c->detectors.items[i]));
	if (lvl < LOG_LEVEL_DEBUG || lvl > LOG_LEVEL_ERROR)
		lvl = LOG_LEVEL_INFO;
	out = json_pack(
	        "{s:{s:o, s:o, s:o}, s:s, s:o, s:o, s:{s:i, s:i, s:o}, s:o, "
	        "s:{s:{s:b, s:o}, s:{s:b, s:o}}, "
	        "s:{s:{s:b, s:o, s:i, s:I}, s:{s:s, s:s}}, "
	        "s:{s:o, s:o, s:o, s:b}, s:{s:o, s:o}, s:o}",
	        "files", "config", cd_str(c->path), "detectors",
	        cd_str(c->detectors_file), "alerts", cd_str(c->alerts_file),
	        "mode", config_mode_name(c->mode), "run_dir",
	        cd_str(c->run_dir), "ingestion", cd_ingestion(c), "detection",
	        "workers", c->detection.workers, "batchSize",
	        c->detection.batch_size, "checkpoint_interval",
	        cd_duration(c->detection.checkpoint_interval_ms), "storage",
	        cd_storage(c), "integrations", "observatory", "enabled",
	        c->integrations.observatory_enabled, "endpoint",
	        cd_url(c->integrations.observatory_endpoint), "shield",
	        "enabled", c->integrations.shield_enabled, "endpoint",
	        cd_url(c->integrations.shield_endpoint), "observability",
	        "metrics", "enabled", c->obs.metrics_enabled, "host",
	        cd_str(c->obs.metrics_host), "port", c->obs.metrics_port,
	        "max_label_values", (json_int_t)c->obs.metrics_label_cap,
	        "logging", "level", log_level_name((enum log_level)lvl),
	        "format",
	        c->obs.log_format == LOG_FORMAT_TEXT ? "text" : "json",
	        "security", "user", cd_str(c->security.user), "group",
	        cd_str(c->security.group), "admin_group",
	        cd_str(c->security.admin_group), "landlock",
	        c->security.landlock, "detectors", "file",
	        cd_str(c->detectors.path), "detectors", detectors, "alerts",
	        cd_alerts(&c->alerts));
	return out != NULL ? out : json_object();
}
