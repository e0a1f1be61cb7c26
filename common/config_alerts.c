/*
 * config_alerts.c: alerts.yaml (the file alerts.configFile names):
 * routing rules and the receivers they send to.
 *
 * A route's match is a mapping whose keys are any label names, which a
 * libcyaml schema cannot describe; the schema ignores it and it is read
 * from the node tree of config_yaml.c instead; so are match_re,
 * inhibit_rules' matchers and a webhook's headers.  Regular expressions
 * are compiled here, so a bad one fails the load with regerror's words.
 * Secrets (smtp.password, webhookUrl, a webhook's url, hmac_secret,
 * routing_key) are never put in a message: print them with
 * config_redact().
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_int.h"
#include "log.h"
#include "relimit.h"
#include "util.h"

#define OPT          (CYAML_FLAG_OPTIONAL | CYAML_FLAG_POINTER_NULL)
#define STR(k, s, m) CYAML_FIELD_STRING_PTR(k, OPT, s, m, 0, CYAML_UNLIMITED)

#define ALR_PATH_BUF          256
#define ALR_DEFAULT_SMTP_PORT 587 /* submission, as in the seed */

static const cyaml_schema_value_t alr_string_entry = {
        CYAML_VALUE_STRING(CYAML_FLAG_POINTER, char, 0, CYAML_UNLIMITED),
};

struct raw_smtp {
	char *host;
	int64_t *port;
	char *username;
	char *password;
	char *tls;
	char *ca_file;
	char *timeout;
};

static const cyaml_schema_field_t raw_smtp_fields[] = {
        STR("host", struct raw_smtp, host),
        CYAML_FIELD_INT_PTR("port", OPT, struct raw_smtp, port),
        STR("username", struct raw_smtp, username),
        STR("password", struct raw_smtp, password),
        STR("tls", struct raw_smtp, tls),
        STR("ca_file", struct raw_smtp, ca_file),
        STR("timeout", struct raw_smtp, timeout),
        CYAML_FIELD_END,
};

struct raw_recv_config {
	struct raw_smtp *smtp;
	char *from;
	char **to;
	unsigned to_count;
	char *webhook_url;
	char *channel;
	char *url;
	char *routing_key;
	char *routing_key2; /* routingKey, as the issue spells it */
	char *subject_prefix;
	char *username;
	char *icon_emoji;
	char *hmac_secret;
	char *hmac_secret2; /* hmacSecret */
	char *timeout;
};

static const cyaml_schema_field_t raw_recv_config_fields[] = {
        CYAML_FIELD_MAPPING_PTR("smtp", OPT, struct raw_recv_config, smtp,
                                raw_smtp_fields),
        STR("from", struct raw_recv_config, from),
        CYAML_FIELD_SEQUENCE("to", OPT, struct raw_recv_config, to,
                             &alr_string_entry, 0, CYAML_UNLIMITED),
        STR("webhookUrl", struct raw_recv_config, webhook_url),
        STR("channel", struct raw_recv_config, channel),
        STR("url", struct raw_recv_config, url),
        STR("routing_key", struct raw_recv_config, routing_key),
        STR("routingKey", struct raw_recv_config, routing_key2),
        STR("subject_prefix", struct raw_recv_config, subject_prefix),
        STR("username", struct raw_recv_config, username),
        STR("icon_emoji", struct raw_recv_config, icon_emoji),
        STR("hmac_secret", struct raw_recv_config, hmac_secret),
        STR("hmacSecret", struct raw_recv_config, hmac_secret2),
        /* header name -> value; read from the node tree */
        CYAML_FIELD_IGNORE("headers", CYAML_FLAG_OPTIONAL),
        STR("timeout", struct raw_recv_config, timeout),
        CYAML_FIELD_END,
};

struct raw_receiver {
	char *name;
	char *type;
	bool *send_resolved;
	struct raw_recv_config *config;
};

static const cyaml_schema_field_t raw_receiver_fields[] = {
        STR("name", struct raw_receiver, name),
        STR("type", struct raw_receiver, type),
        CYAML_FIELD_BOOL_PTR("send_resolved", OPT, struct raw_receiver,
                             send_resolved),
        CYAML_FIELD_MAPPING_PTR("config", OPT, struct raw_receiver, config,
                                raw_recv_config_fields),
        CYAML_FIELD_END,
};

static const cyaml_schema_value_t raw_receiver_entry = {
        CYAML_VALUE_MAPPING(CYAML_FLAG_DEFAULT, struct raw_receiver,
                            raw_receiver_fields),
};

struct raw_route {
	char **receivers;
	unsigned receivers_count;
	char *repeat_interval;
	char **group_by;
	unsigned group_by_count;
	char *group_wait;
	char *group_interval;
	bool *cont;
};

static const cyaml_schema_field_t raw_route_fields[] = {
        /* label name -> value; read from the node tree */
        CYAML_FIELD_IGNORE("match", CYAML_FLAG_OPTIONAL),
        CYAML_FIELD_IGNORE("match_re", CYAML_FLAG_OPTIONAL),
        CYAML_FIELD_SEQUENCE("receivers", OPT, struct raw_route, receivers,
                             &alr_string_entry, 0, CYAML_UNLIMITED),
        STR("repeat_interval", struct raw_route, repeat_interval),
        CYAML_FIELD_SEQUENCE("group_by", OPT, struct raw_route, group_by,
                             &alr_string_entry, 0, CYAML_UNLIMITED),
        STR("group_wait", struct raw_route, group_wait),
        STR("group_interval", struct raw_route, group_interval),
        CYAML_FIELD_BOOL_PTR("continue", OPT, struct raw_route, cont),
        CYAML_FIELD_END,
};

static const cyaml_schema_value_t raw_route_entry = {
        CYAML_VALUE_MAPPING(CYAML_FLAG_DEFAULT, struct raw_route,
                            raw_route_fields),
};

struct raw_inhibit {
	char **equal;
	unsigned equal_count;
};

static const cyaml_schema_field_t raw_inhibit_fields[] = {
        /* label name -> value or pattern; read from the node tree */
        CYAML_FIELD_IGNORE("source_match", CYAML_FLAG_OPTIONAL),
        CYAML_FIELD_IGNORE("source_match_re", CYAML_FLAG_OPTIONAL),
        CYAML_FIELD_IGNORE("target_match", CYAML_FLAG_OPTIONAL),
        CYAML_FIELD_IGNORE("target_match_re", CYAML_FLAG_OPTIONAL),
        CYAML_FIELD_SEQUENCE("equal", OPT, struct raw_inhibit, equal,
                             &alr_string_entry, 0, CYAML_UNLIMITED),
        CYAML_FIELD_END,
};

static const cyaml_schema_value_t raw_inhibit_entry = {
        CYAML_VALUE_MAPPING(CYAML_FLAG_DEFAULT, struct raw_inhibit,
                            raw_inhibit_fields),
};

struct raw_delivery {
	char *max_retry_age;
	char *retry_initial;
	char *retry_max;
};

static const cyaml_schema_field_t raw_delivery_fields[] = {
        STR("max_retry_age", struct raw_delivery, max_retry_age),
        STR("retry_initial", struct raw_delivery, retry_initial),
        STR("retry_max", struct raw_delivery, retry_max),
        CYAML_FIELD_END,
};

struct raw_alerts {
	struct raw_route *routing;
	unsigned routing_count;
	struct raw_receiver *receivers;
	unsigned receivers_count;
	char *default_receiver;
	struct raw_inhibit *inhibit;
	unsigned inhibit_count;
	char *external_url;
	struct raw_delivery *delivery;
};

static const cyaml_schema_field_t raw_alerts_fields[] = {
        CYAML_FIELD_SEQUENCE("routing", OPT, struct raw_alerts, routing,
                             &raw_route_entry, 0, CYAML_UNLIMITED),
        CYAML_FIELD_SEQUENCE("receivers", OPT, struct raw_alerts, receivers,
                             &raw_receiver_entry, 0, CYAML_UNLIMITED),
        STR("default_receiver", struct raw_alerts, default_receiver),
        CYAML_FIELD_SEQUENCE("inhibit_rules", OPT, struct raw_alerts, inhibit,
                             &raw_inhibit_entry, 0, CYAML_UNLIMITED),
        STR("external_url", struct raw_alerts, external_url),
        CYAML_FIELD_MAPPING_PTR("delivery", OPT, struct raw_alerts, delivery,
                                raw_delivery_fields),
        CYAML_FIELD_END,
};

static const cyaml_schema_value_t raw_alerts_schema = {
        CYAML_VALUE_MAPPING(CYAML_FLAG_POINTER, struct raw_alerts,
                            raw_alerts_fields),
};

static const char *const alr_receiver_types[] = {"email", "slack", "webhook",
                                                 "pagerduty", NULL};
static const char *const alr_tls_names[] = {"starttls", "tls", "implicit",
                                            "none", NULL};

#define ALR_SMTPS_PORT 465 /* implicit TLS by default there */

const char *
config_redact(const char *value)
{
	if (value == NULL)
		return "(none)";
	return *value != '\0' ? "<redacted>" : "";
}

/* Expands a field that may hold a secret, noting one given in clear. */
static char *
alr_secret(struct cfg_ctx *c, const char *path, const char *raw)
{
	if (raw != NULL && *raw != '\0' && strstr(raw, "${") == NULL)
		c->literal_secret = true;
	return cfg_string(c, path, raw, NULL);
}

/*
 * One of two spellings of a key (routing_key and routingKey): returns the
 * one given, or NULL; both given is an error reported at the second.
 */
static const char *
alr_either(struct cfg_ctx *c, const char *base, const char *k1, const char *v1,
           const char *k2, const char *v2, const char **key)
{
	char p[ALR_PATH_BUF];

	*key = v2 != NULL && v1 == NULL ? k2 : k1;
	if (v1 != NULL && v2 != NULL) {
		cfg_pathf(p, sizeof(p), "%s.%s", base, k2);
		cfg_error(c, p, "given twice (as %s and %s); keep one", k1, k2);
	}
	return v1 != NULL ? v1 : v2;
}

static void
alr_require(struct cfg_ctx *c, const char *base, const char *key, bool present,
            const char *type)
{
	char p[ALR_PATH_BUF];

	if (present)
		return;
	cfg_pathf(p, sizeof(p), "%s.%s", base, key);
	cfg_error(c, p, "missing (%s %s receiver needs it)",
	          type[0] == 'e' ? "an" : "a", type);
}

/* Checks an expanded URL is http:// or https:// with a host after it. */
static void
alr_check_url(struct cfg_ctx *c, const char *path, const char *url)
{
	const char *rest;

	if (url == NULL || c->env_failed)
		return;
	if (strncmp(url, "https://", 8) == 0)
		rest = url + 8;
	else if (strncmp(url, "http://", 7) == 0)
		rest = url + 7;
	else {
		/* the value may be a secret: name the problem, not it */
		cfg_error(c, path, "must be an http:// or https:// URL");
		return;
	}
	if (*rest == '\0' || *rest == '/')
		cfg_error(c, path, "URL has no host");
}

/*
 * Reads a mapping of label name -> string at path from the node tree
 * into a new array (*out, *n; freed by config_alerts_free).  An absent or
 * null key leaves them empty.
 */
static void
alr_labels(struct cfg_ctx *c, const char *path, const char *what,
           struct sn_label **out, size_t *n)
{
	const struct cfg_node *nd;
	char p[ALR_PATH_BUF];
	size_t i;

	nd = config_yaml_find(c->doc, path, NULL);
	if (nd == NULL || config_yaml_is_null(nd))
		return;
	if (nd->type != CFG_NODE_MAPPING) {
		cfg_error_at(c, nd->line, path, "expected a mapping of %s",
		             what);
		return;
	}
	if (nd->npairs == 0)
		return;
	*out = sn_xcalloc(nd->npairs, sizeof(**out));
	for (i = 0; i < nd->npairs; i++) {
		const struct cfg_pair *pr = &nd->pairs[i];

		cfg_pathf(p, sizeof(p), "%s.%s", path, pr->key);
		if (pr->value->type != CFG_NODE_SCALAR) {
			cfg_error_at(c, pr->line, p,
			             "expected a string (the label's value)");
			continue;
		}
		(*out)[*n].key = sn_xstrdup(pr->key);
		(*out)[*n].value = cfg_string(c, p, pr->value->scalar, NULL);
		if ((*out)[*n].value == NULL)
			(*out)[*n].value = sn_xstrdup("");
		(*n)++;
	}
}

/*
 * Reads a mapping of label name -> regular expression at path and
 * compiles each anchored, so a bad pattern is found at load with
 * regerror's words.  Fills *out, *n (config_alerts_free frees them).
 */
static void
alr_matchers(struct cfg_ctx *c, const char *path, struct sn_matcher **out,
             size_t *n)
{
	struct sn_label *l = NULL;
	const struct cfg_node *nd;
	size_t nl = 0, i;
	char *anchored, msg[256], p[ALR_PATH_BUF];
	int rc;

	alr_labels(c, path, "label: regular expression", &l, &nl);
	if (nl == 0) {
		free(l);
		return;
	}
	nd = config_yaml_find(c->doc, path, NULL);
	*out = sn_xcalloc(nl, sizeof(**out));
	for (i = 0; i < nl; i++) {
		struct sn_matcher *m = &(*out)[*n];
		size_t len = strlen(l[i].value) + 5;

		anchored = sn_xmalloc(len);
		snprintf(anchored, len, "^(%s)$", l[i].value);
		rc = sn_regcomp(&m->re, anchored, REG_EXTENDED | REG_NOSUB);
		free(anchored);
		if (rc != 0) {
			size_t k;
			unsigned line = 0;

			regerror(rc, &m->re, msg, sizeof(msg));
			for (k = 0; nd != NULL && k < nd->npairs; k++)
				if (strcmp(nd->pairs[k].key, l[i].key) == 0)
					line = nd->pairs[k].line;
			cfg_pathf(p, sizeof(p), "%s.%s", path, l[i].key);
			cfg_error_at(c, line, p,
			             "bad regular expression \"%s\": %s",
			             l[i].value, msg);
			free(l[i].key);
			free(l[i].value);
			continue;
		}
		m->key = l[i].key;
		m->pattern = l[i].value;
		(*n)++;
	}
	free(l);
}

/* A list of label names; "..." (all labels) may only stand alone. */
static void
alr_label_names(struct cfg_ctx *c, const char *path, char *const *raw,
                unsigned count, bool allow_all, char ***out, size_t *n,
                bool *all)
{
	char p[ALR_PATH_BUF];
	size_t i;

	cfg_strings(c, path, raw, count, out, n);
	for (i = 0; i < *n; i++) {
		cfg_pathf(p, sizeof(p), "%s[%zu]", path, i);
		if (strcmp((*out)[i], "...") == 0 && allow_all) {
			*all = true;
			if (*n > 1)
				cfg_error(c, p,
				          "\"...\" (every label) cannot be "
				          "given with other label names");
		} else if ((*out)[i][0] == '\0')
			cfg_error(c, p, "must not be empty");
	}
}

/* Email-only keys: port, TLS mode, required fields. */
static void
alr_resolve_email(struct cfg_ctx *c, const char *cb, const struct raw_smtp *sm,
                  struct sn_receiver *rc)
{
	char p[ALR_PATH_BUF];
	char *tls;

	cfg_pathf(p, sizeof(p), "%s.smtp.tls", cb);
	tls = cfg_string(c, p, sm->tls, NULL);
	if (tls == NULL)
		rc->smtp_tls = rc->smtp_port == ALR_SMTPS_PORT
		                       ? SN_SMTP_TLS
		                       : SN_SMTP_STARTTLS;
	else if (!c->env_failed &&
	         cfg_oneof(c, p, "smtp.tls value", tls, alr_tls_names)) {
		if (strcmp(tls, "none") == 0)
			rc->smtp_tls = SN_SMTP_NONE;
		else if (strcmp(tls, "starttls") == 0)
			rc->smtp_tls = SN_SMTP_STARTTLS;
		else
			rc->smtp_tls = SN_SMTP_TLS;
	}
	free(tls);
	alr_require(c, cb, "smtp.host", rc->smtp_host != NULL, "email");
	alr_require(c, cb, "from", rc->from != NULL, "email");
	alr_require(c, cb, "to", rc->nto > 0, "email");
}

/*
 * Resolves receivers[idx] into rc: every key of every type is read (keys
 * of another type are ignored, as documented), then the type's required
 * keys are checked.  rc's strings are freed by config_alerts_free.
 */
static void
alr_resolve_receiver(struct cfg_ctx *c, unsigned idx,
                     const struct raw_receiver *r, struct sn_receiver *rc)
{
	static const struct raw_recv_config nocf = {0};
	static const struct raw_smtp nosmtp = {0};
	const struct raw_recv_config *cf = r->config ? r->config : &nocf;
	const struct raw_smtp *sm = cf->smtp ? cf->smtp : &nosmtp;
	char base[ALR_PATH_BUF], p[ALR_PATH_BUF], cb[ALR_PATH_BUF];
	const char *v, *key, *type;
	bool is_email, is_webhook, is_pd;

	cfg_pathf(base, sizeof(base), "receivers[%u]", idx);
	cfg_pathf(cb, sizeof(cb), "%s.config", base);
	cfg_pathf(p, sizeof(p), "%s.name", base);
	rc->name = cfg_string(c, p, r->name, NULL);
	if (rc->name == NULL || rc->name[0] == '\0') {
		cfg_error(c, p, "%s",
		          rc->name ? "must not be empty"
		                   : "missing (routes refer to receivers by "
		                     "name)");
		free(rc->name);
		rc->name = sn_xstrdup("");
	}
	cfg_pathf(p, sizeof(p), "%s.type", base);
	rc->type = cfg_string(c, p, r->type, NULL);
	if (rc->type == NULL)
		cfg_error(c, p, "missing (email, slack, webhook or pagerduty)");
	else if (!c->env_failed)
		cfg_oneof(c, p, "receiver type", rc->type, alr_receiver_types);
	type = rc->type ? rc->type : "";
	is_email = strcmp(type, "email") == 0;
	is_webhook = strcmp(type, "webhook") == 0;
	is_pd = strcmp(type, "pagerduty") == 0;
	rc->send_resolved = r->send_resolved ? *r->send_resolved : true;

	cfg_pathf(p, sizeof(p), "%s.smtp.host", cb);
	rc->smtp_host = cfg_string(c, p, sm->host, NULL);
	cfg_pathf(p, sizeof(p), "%s.smtp.port", cb);
	rc->smtp_port = (int)cfg_int(
	        c, p, sm->port, is_email ? ALR_DEFAULT_SMTP_PORT : 0, 1, 65535);
	cfg_pathf(p, sizeof(p), "%s.smtp.username", cb);
	rc->smtp_username = cfg_string(c, p, sm->username, NULL);
	cfg_pathf(p, sizeof(p), "%s.smtp.password", cb);
	rc->smtp_password = alr_secret(c, p, sm->password);
	cfg_pathf(p, sizeof(p), "%s.smtp.ca_file", cb);
	rc->smtp_ca_file = cfg_path(c, p, sm->ca_file, NULL);
	cfg_pathf(p, sizeof(p), "%s.from", cb);
	rc->from = cfg_string(c, p, cf->from, NULL);
	cfg_pathf(p, sizeof(p), "%s.to", cb);
	cfg_strings(c, p, cf->to, cf->to_count, &rc->to, &rc->nto);
	cfg_pathf(p, sizeof(p), "%s.subject_prefix", cb);
	rc->subject_prefix = cfg_string(c, p, cf->subject_prefix, NULL);

	cfg_pathf(p, sizeof(p), "%s.webhookUrl", cb);
	rc->webhook_url = alr_secret(c, p, cf->webhook_url);
	alr_check_url(c, p, rc->webhook_url);
	cfg_pathf(p, sizeof(p), "%s.channel", cb);
	rc->channel = cfg_string(c, p, cf->channel, NULL);
	cfg_pathf(p, sizeof(p), "%s.username", cb);
	rc->username = cfg_string(c, p, cf->username, NULL);
	cfg_pathf(p, sizeof(p), "%s.icon_emoji", cb);
	rc->icon_emoji = cfg_string(c, p, cf->icon_emoji, NULL);

	/* A webhook URL often carries a token; PagerDuty's does not. */
	cfg_pathf(p, sizeof(p), "%s.url", cb);
	if (is_pd)
		rc->url = cfg_string(c, p, cf->url, SN_DEFAULT_PAGERDUTY_URL);
	else
		rc->url = alr_secret(c, p, cf->url);
	alr_check_url(c, p, rc->url);
	v = alr_either(c, cb, "hmac_secret", cf->hmac_secret, "hmacSecret",
	               cf->hmac_secret2, &key);
	cfg_pathf(p, sizeof(p), "%s.%s", cb, key);
	rc->hmac_secret = alr_secret(c, p, v);
	cfg_pathf(p, sizeof(p), "%s.headers", cb);
	alr_labels(c, p, "header: value", &rc->headers, &rc->nheaders);
	v = alr_either(c, cb, "routing_key", cf->routing_key, "routingKey",
	               cf->routing_key2, &key);
	cfg_pathf(p, sizeof(p), "%s.%s", cb, key);
	rc->routing_key = alr_secret(c, p, v);

	/* email may say smtp.timeout, as its other connection keys */
	v = alr_either(c, cb, "timeout", cf->timeout, "smtp.timeout",
	               sm->timeout, &key);
	cfg_pathf(p, sizeof(p), "%s.%s", cb, key);
	rc->timeout_ms =
	        cfg_duration(c, p, v, SN_DEFAULT_RECEIVER_TIMEOUT_MS, true);

	if (rc->type == NULL)
		return;
	if (is_email)
		alr_resolve_email(c, cb, sm, rc);
	else if (strcmp(type, "slack") == 0)
		alr_require(c, cb, "webhookUrl", rc->webhook_url != NULL,
		            "slack");
	else if (is_webhook)
		alr_require(c, cb, "url", rc->url != NULL, "webhook");
	else if (is_pd)
		alr_require(c, cb, "routing_key", rc->routing_key != NULL,
		            "pagerduty");
}

/* Reports an error unless name is one of the receivers. */
static void
alr_check_receiver(struct cfg_ctx *c, const char *path, const char *name,
                   const struct sn_alerts *out)
{
	size_t j;

	for (j = 0; j < out->nreceivers; j++)
		if (strcmp(out->receivers[j].name, name) == 0)
			return;
	cfg_error(c, path,
	          "unknown receiver \"%s\" (no receiver of that name is "
	          "defined under receivers)",
	          name);
}

/* Resolves routing[idx] into rt, checking its receivers against out's. */
static void
alr_resolve_route(struct cfg_ctx *c, unsigned idx, const struct raw_route *r,
                  const struct sn_alerts *out, struct sn_route *rt)
{
	char base[ALR_PATH_BUF], p[ALR_PATH_BUF];
	size_t i;

	cfg_pathf(base, sizeof(base), "routing[%u]", idx);
	(void)config_yaml_find(c->doc, base, &rt->line);
	cfg_pathf(p, sizeof(p), "%s.match", base);
	alr_labels(c, p, "label: value", &rt->match, &rt->nmatch);
	cfg_pathf(p, sizeof(p), "%s.match_re", base);
	alr_matchers(c, p, &rt->match_re, &rt->nmatch_re);
	cfg_pathf(p, sizeof(p), "%s.receivers", base);
	cfg_strings(c, p, r->receivers, r->receivers_count, &rt->receivers,
	            &rt->nreceivers);
	if (rt->nreceivers == 0)
		cfg_error(c, r->receivers_count ? p : base,
		          "needs at least one receiver");
	for (i = 0; i < rt->nreceivers; i++) {
		cfg_pathf(p, sizeof(p), "%s.receivers[%zu]", base, i);
		alr_check_receiver(c, p, rt->receivers[i], out);
	}
	cfg_pathf(p, sizeof(p), "%s.group_by", base);
	alr_label_names(c, p, r->group_by, r->group_by_count, true,
	                &rt->group_by, &rt->ngroup_by, &rt->group_by_all);
	cfg_pathf(p, sizeof(p), "%s.group_wait", base);
	rt->group_wait_ms = cfg_duration(c, p, r->group_wait,
	                                 SN_DEFAULT_GROUP_WAIT_MS, false);
	cfg_pathf(p, sizeof(p), "%s.group_interval", base);
	rt->group_interval_ms = cfg_duration(
	        c, p, r->group_interval, SN_DEFAULT_GROUP_INTERVAL_MS, true);
	cfg_pathf(p, sizeof(p), "%s.repeat_interval", base);
	rt->repeat_interval_ms = cfg_duration(
	        c, p, r->repeat_interval, SN_DEFAULT_REPEAT_INTERVAL_MS, true);
	rt->continue_matching = r->cont ? *r->cont : false;
}

/* Resolves inhibit_rules[idx] into ir. */
static void
alr_resolve_inhibit(struct cfg_ctx *c, unsigned idx,
                    const struct raw_inhibit *r, struct sn_inhibit_rule *ir)
{
	char base[ALR_PATH_BUF], p[ALR_PATH_BUF];
	bool all = false;

	cfg_pathf(base, sizeof(base), "inhibit_rules[%u]", idx);
	(void)config_yaml_find(c->doc, base, &ir->line);
	cfg_pathf(p, sizeof(p), "%s.source_match", base);
	alr_labels(c, p, "label: value", &ir->source_match, &ir->nsource_match);
	cfg_pathf(p, sizeof(p), "%s.source_match_re", base);
	alr_matchers(c, p, &ir->source_match_re, &ir->nsource_match_re);
	cfg_pathf(p, sizeof(p), "%s.target_match", base);
	alr_labels(c, p, "label: value", &ir->target_match, &ir->ntarget_match);
	cfg_pathf(p, sizeof(p), "%s.target_match_re", base);
	alr_matchers(c, p, &ir->target_match_re, &ir->ntarget_match_re);
	cfg_pathf(p, sizeof(p), "%s.equal", base);
	alr_label_names(c, p, r->equal, r->equal_count, false, &ir->equal,
	                &ir->nequal, &all);

	/* An empty side would match every alert: a rule that mutes all
	 * of them is far more likely a mistake than a wish. */
	if (ir->nsource_match + ir->nsource_match_re == 0)
		cfg_error(c, base,
		          "needs source_match or source_match_re (which "
		          "alerts mute others)");
	if (ir->ntarget_match + ir->ntarget_match_re == 0)
		cfg_error(c, base,
		          "needs target_match or target_match_re (which "
		          "alerts are muted)");
}

/* Resolves the whole file into out; problems go to c. */
static void
alr_resolve(struct cfg_ctx *c, const struct raw_alerts *r,
            struct sn_alerts *out)
{
	static const struct raw_delivery nodlv = {0};
	const struct raw_delivery *dl = r->delivery ? r->delivery : &nodlv;
	char p[ALR_PATH_BUF];
	unsigned i, j;

	/* Receivers first: routes are checked against their names. */
	if (r->receivers_count > 0) {
		out->receivers =
		        sn_xcalloc(r->receivers_count, sizeof(*out->receivers));
		out->nreceivers = r->receivers_count;
	}
	for (i = 0; i < r->receivers_count; i++) {
		alr_resolve_receiver(c, i, &r->receivers[i],
		                     &out->receivers[i]);
		if (out->receivers[i].name[0] == '\0')
			continue;
		for (j = 0; j < i; j++)
			if (strcmp(out->receivers[j].name,
			           out->receivers[i].name) == 0)
				break;
		if (j < i) {
			cfg_pathf(p, sizeof(p), "receivers[%u].name", i);
			cfg_error(c, p, "duplicate receiver name \"%s\"",
			          out->receivers[i].name);
		}
	}
	if (r->routing_count > 0) {
		out->routes =
		        sn_xcalloc(r->routing_count, sizeof(*out->routes));
		out->nroutes = r->routing_count;
	}
	for (i = 0; i < r->routing_count; i++)
		alr_resolve_route(c, i, &r->routing[i], out, &out->routes[i]);

	out->default_receiver =
	        cfg_string(c, "default_receiver", r->default_receiver, NULL);
	if (out->default_receiver != NULL && !c->env_failed)
		alr_check_receiver(c, "default_receiver", out->default_receiver,
		                   out);
	if (r->inhibit_count > 0) {
		out->inhibit_rules = sn_xcalloc(r->inhibit_count,
		                                sizeof(*out->inhibit_rules));
		out->ninhibit_rules = r->inhibit_count;
	}
	for (i = 0; i < r->inhibit_count; i++)
		alr_resolve_inhibit(c, i, &r->inhibit[i],
		                    &out->inhibit_rules[i]);
	out->external_url =
	        cfg_string(c, "external_url", r->external_url, NULL);
	alr_check_url(c, "external_url", out->external_url);

	out->delivery.max_retry_age_ms =
	        cfg_duration(c, "delivery.max_retry_age", dl->max_retry_age,
	                     SN_DEFAULT_MAX_RETRY_AGE_MS, true);
	out->delivery.retry_initial_ms =
	        cfg_duration(c, "delivery.retry_initial", dl->retry_initial,
	                     SN_DEFAULT_RETRY_INITIAL_MS, true);
	out->delivery.retry_max_ms =
	        cfg_duration(c, "delivery.retry_max", dl->retry_max,
	                     SN_DEFAULT_RETRY_MAX_MS, true);
	if (out->delivery.retry_max_ms < out->delivery.retry_initial_ms)
		cfg_error(c, "delivery.retry_max",
		          "must not be shorter than delivery.retry_initial");
}

int
config_alerts_parse_ctx(struct cfg_ctx *c, const char *text, size_t len,
                        struct sn_alerts *out)
{
	static const struct raw_alerts none = {0};
	struct cfg_doc doc = {0};
	void *raw = NULL;
	size_t before = c->nerrors;

	size_t from = c->errs->count;

	memset(out, 0, sizeof(*out));
	if (config_file_load(c, &doc, text, len, &raw_alerts_schema, &raw) == 0)
		alr_resolve(c, raw != NULL ? raw : &none, out);
	cfg_sort_errors(c, from);
	config_cyaml_free(&raw_alerts_schema, raw);
	config_yaml_free(&doc);
	c->doc = NULL;
	if (c->nerrors > before) {
		config_alerts_free(out);
		return -1;
	}
	return 0;
}

int
config_parse_alerts(const char *name, const char *text, size_t len,
                    struct sn_alerts *out, struct sn_cfg_errors *errs)
{
	struct cfg_ctx c = {0};

	c.name = name;
	c.errs = errs;
	return config_alerts_parse_ctx(&c, text, len, out);
}

static void
alr_labels_free(struct sn_label *l, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(l[i].key);
		free(l[i].value);
	}
	free(l);
}

static void
alr_matchers_free(struct sn_matcher *m, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(m[i].key);
		free(m[i].pattern);
		regfree(&m[i].re);
	}
	free(m);
}

void
config_alerts_free(struct sn_alerts *a)
{
	size_t i;

	for (i = 0; i < a->nroutes; i++) {
		struct sn_route *rt = &a->routes[i];

		alr_labels_free(rt->match, rt->nmatch);
		alr_matchers_free(rt->match_re, rt->nmatch_re);
		cfg_strv_free(rt->receivers, rt->nreceivers);
		cfg_strv_free(rt->group_by, rt->ngroup_by);
	}
	free(a->routes);
	for (i = 0; i < a->nreceivers; i++) {
		struct sn_receiver *r = &a->receivers[i];

		free(r->name);
		free(r->type);
		free(r->smtp_host);
		free(r->smtp_username);
		free(r->smtp_password);
		free(r->smtp_ca_file);
		free(r->from);
		cfg_strv_free(r->to, r->nto);
		free(r->subject_prefix);
		free(r->webhook_url);
		free(r->channel);
		free(r->username);
		free(r->icon_emoji);
		free(r->url);
		free(r->hmac_secret);
		alr_labels_free(r->headers, r->nheaders);
		free(r->routing_key);
	}
	free(a->receivers);
	for (i = 0; i < a->ninhibit_rules; i++) {
		struct sn_inhibit_rule *ir = &a->inhibit_rules[i];

		alr_labels_free(ir->source_match, ir->nsource_match);
		alr_matchers_free(ir->source_match_re, ir->nsource_match_re);
		alr_labels_free(ir->target_match, ir->ntarget_match);
		alr_matchers_free(ir->target_match_re, ir->ntarget_match_re);
		cfg_strv_free(ir->equal, ir->nequal);
	}
	free(a->inhibit_rules);
	free(a->default_receiver);
	free(a->external_url);
	free(a->path);
	memset(a, 0, sizeof(*a));
}
