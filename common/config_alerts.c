/*
 * config_alerts.c: alerts.yaml (the file alerts.configFile names):
 * routing rules and the receivers they send to.
 *
 * A route's match is a mapping whose keys are any label names, which a
 * libcyaml schema cannot describe; the schema ignores it and it is read
 * from the node tree of config_yaml.c instead.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_int.h"
#include "log.h"
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
};

static const cyaml_schema_field_t raw_smtp_fields[] = {
        STR("host", struct raw_smtp, host),
        CYAML_FIELD_INT_PTR("port", OPT, struct raw_smtp, port),
        STR("username", struct raw_smtp, username),
        STR("password", struct raw_smtp, password),
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
        CYAML_FIELD_END,
};

struct raw_receiver {
	char *name;
	char *type;
	struct raw_recv_config *config;
};

static const cyaml_schema_field_t raw_receiver_fields[] = {
        STR("name", struct raw_receiver, name),
        STR("type", struct raw_receiver, type),
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
};

static const cyaml_schema_field_t raw_route_fields[] = {
        /* label name -> value; read from the node tree */
        CYAML_FIELD_IGNORE("match", CYAML_FLAG_OPTIONAL),
        CYAML_FIELD_SEQUENCE("receivers", OPT, struct raw_route, receivers,
                             &alr_string_entry, 0, CYAML_UNLIMITED),
        STR("repeat_interval", struct raw_route, repeat_interval),
        CYAML_FIELD_END,
};

static const cyaml_schema_value_t raw_route_entry = {
        CYAML_VALUE_MAPPING(CYAML_FLAG_DEFAULT, struct raw_route,
                            raw_route_fields),
};

struct raw_alerts {
	struct raw_route *routing;
	unsigned routing_count;
	struct raw_receiver *receivers;
	unsigned receivers_count;
};

static const cyaml_schema_field_t raw_alerts_fields[] = {
        CYAML_FIELD_SEQUENCE("routing", OPT, struct raw_alerts, routing,
                             &raw_route_entry, 0, CYAML_UNLIMITED),
        CYAML_FIELD_SEQUENCE("receivers", OPT, struct raw_alerts, receivers,
                             &raw_receiver_entry, 0, CYAML_UNLIMITED),
        CYAML_FIELD_END,
};

static const cyaml_schema_value_t raw_alerts_schema = {
        CYAML_VALUE_MAPPING(CYAML_FLAG_POINTER, struct raw_alerts,
                            raw_alerts_fields),
};

static const char *const alr_receiver_types[] = {"email", "slack", "webhook",
                                                 "pagerduty", NULL};

/* Expands a field that may hold a secret, noting one given in clear. */
static char *
alr_secret(struct cfg_ctx *c, const char *path, const char *raw)
{
	if (raw != NULL && *raw != '\0' && strstr(raw, "${") == NULL)
		c->literal_secret = true;
	return cfg_string(c, path, raw, NULL);
}

static void
alr_require(struct cfg_ctx *c, const char *base, const char *key, bool present,
            const char *type)
{
	char p[ALR_PATH_BUF];

	if (present)
		return;
	cfg_pathf(p, sizeof(p), "%s.%s", base, key);
	cfg_error(c, p, "missing (a %s receiver needs it)", type);
}

static void
alr_resolve_receiver(struct cfg_ctx *c, unsigned idx,
                     const struct raw_receiver *r, struct sn_receiver *rc)
{
	static const struct raw_recv_config nocf = {0};
	static const struct raw_smtp nosmtp = {0};
	const struct raw_recv_config *cf = r->config ? r->config : &nocf;
	const struct raw_smtp *sm = cf->smtp ? cf->smtp : &nosmtp;
	char base[ALR_PATH_BUF], p[ALR_PATH_BUF], cb[ALR_PATH_BUF];

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

	cfg_pathf(p, sizeof(p), "%s.smtp.host", cb);
	rc->smtp_host = cfg_string(c, p, sm->host, NULL);
	cfg_pathf(p, sizeof(p), "%s.smtp.port", cb);
	rc->smtp_port = (int)cfg_int(c, p, sm->port,
	                             rc->type && strcmp(rc->type, "email") == 0
	                                     ? ALR_DEFAULT_SMTP_PORT
	                                     : 0,
	                             1, 65535);
	cfg_pathf(p, sizeof(p), "%s.smtp.username", cb);
	rc->smtp_username = cfg_string(c, p, sm->username, NULL);
	cfg_pathf(p, sizeof(p), "%s.smtp.password", cb);
	rc->smtp_password = alr_secret(c, p, sm->password);
	cfg_pathf(p, sizeof(p), "%s.from", cb);
	rc->from = cfg_string(c, p, cf->from, NULL);
	cfg_pathf(p, sizeof(p), "%s.to", cb);
	cfg_strings(c, p, cf->to, cf->to_count, &rc->to, &rc->nto);
	cfg_pathf(p, sizeof(p), "%s.webhookUrl", cb);
	rc->webhook_url = alr_secret(c, p, cf->webhook_url);
	cfg_pathf(p, sizeof(p), "%s.channel", cb);
	rc->channel = cfg_string(c, p, cf->channel, NULL);
	cfg_pathf(p, sizeof(p), "%s.url", cb);
	rc->url = alr_secret(c, p, cf->url);
	cfg_pathf(p, sizeof(p), "%s.routing_key", cb);
	rc->routing_key = alr_secret(c, p, cf->routing_key);

	if (rc->type == NULL)
		return;
	if (strcmp(rc->type, "email") == 0) {
		alr_require(c, cb, "smtp.host", rc->smtp_host != NULL, "email");
		alr_require(c, cb, "from", rc->from != NULL, "email");
		alr_require(c, cb, "to", rc->nto > 0, "email");
	} else if (strcmp(rc->type, "slack") == 0)
		alr_require(c, cb, "webhookUrl", rc->webhook_url != NULL,
		            "slack");
	else if (strcmp(rc->type, "webhook") == 0)
		alr_require(c, cb, "url", rc->url != NULL, "webhook");
	else if (strcmp(rc->type, "pagerduty") == 0)
		alr_require(c, cb, "routing_key", rc->routing_key != NULL,
		            "pagerduty");
}

/* Reads routing[idx].match from the node tree: label name -> value. */
static void
alr_resolve_match(struct cfg_ctx *c, unsigned idx, struct sn_route *rt)
{
	const struct cfg_node *n;
	char base[ALR_PATH_BUF], p[ALR_PATH_BUF];
	size_t i;

	cfg_pathf(base, sizeof(base), "routing[%u].match", idx);
	n = config_yaml_find(c->doc, base, NULL);
	if (n == NULL || config_yaml_is_null(n))
		return; /* no match: the route takes every anomaly */
	if (n->type != CFG_NODE_MAPPING) {
		cfg_error_at(c, n->line, base,
		             "expected a mapping of label: value");
		return;
	}
	if (n->npairs == 0)
		return;
	rt->match = sn_xcalloc(n->npairs, sizeof(*rt->match));
	for (i = 0; i < n->npairs; i++) {
		const struct cfg_pair *pr = &n->pairs[i];

		cfg_pathf(p, sizeof(p), "%s.%s", base, pr->key);
		if (pr->value->type != CFG_NODE_SCALAR) {
			cfg_error_at(c, pr->line, p,
			             "expected a string (the label's value)");
			continue;
		}
		rt->match[rt->nmatch].key = sn_xstrdup(pr->key);
		rt->match[rt->nmatch].value =
		        cfg_string(c, p, pr->value->scalar, NULL);
		rt->nmatch++;
	}
}

static void
alr_resolve_route(struct cfg_ctx *c, unsigned idx, const struct raw_route *r,
                  const struct sn_alerts *out, struct sn_route *rt)
{
	char base[ALR_PATH_BUF], p[ALR_PATH_BUF];
	size_t i, j;

	cfg_pathf(base, sizeof(base), "routing[%u]", idx);
	alr_resolve_match(c, idx, rt);
	cfg_pathf(p, sizeof(p), "%s.receivers", base);
	cfg_strings(c, p, r->receivers, r->receivers_count, &rt->receivers,
	            &rt->nreceivers);
	if (rt->nreceivers == 0)
		cfg_error(c, r->receivers_count ? p : base,
		          "needs at least one receiver");
	for (i = 0; i < rt->nreceivers; i++) {
		for (j = 0; j < out->nreceivers; j++)
			if (strcmp(out->receivers[j].name, rt->receivers[i]) ==
			    0)
				break;
		if (j == out->nreceivers) {
			cfg_pathf(p, sizeof(p), "%s.receivers[%zu]", base, i);
			cfg_error(c, p,
			          "unknown receiver \"%s\" (no receiver of "
			          "that name is defined under receivers)",
			          rt->receivers[i]);
		}
	}
	cfg_pathf(p, sizeof(p), "%s.repeat_interval", base);
	rt->repeat_interval_ms =
	        cfg_duration(c, p, r->repeat_interval, 0, true);
}

static void
alr_resolve(struct cfg_ctx *c, const struct raw_alerts *r,
            struct sn_alerts *out)
{
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

void
config_alerts_free(struct sn_alerts *a)
{
	size_t i, j;

	for (i = 0; i < a->nroutes; i++) {
		struct sn_route *rt = &a->routes[i];

		for (j = 0; j < rt->nmatch; j++) {
			free(rt->match[j].key);
			free(rt->match[j].value);
		}
		free(rt->match);
		cfg_strv_free(rt->receivers, rt->nreceivers);
	}
	free(a->routes);
	for (i = 0; i < a->nreceivers; i++) {
		struct sn_receiver *r = &a->receivers[i];

		free(r->name);
		free(r->type);
		free(r->smtp_host);
		free(r->smtp_username);
		free(r->smtp_password);
		free(r->from);
		cfg_strv_free(r->to, r->nto);
		free(r->webhook_url);
		free(r->channel);
		free(r->url);
		free(r->routing_key);
	}
	free(a->receivers);
	free(a->path);
	memset(a, 0, sizeof(*a));
}
