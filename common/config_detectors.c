/*
 * config_detectors.c: detectors.yaml (the file detectors.configFile
 * names), and the built-in detectors used when none is named.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_int.h"
#include "log.h"
#include "util.h"

#define OPT          (CYAML_FLAG_OPTIONAL | CYAML_FLAG_POINTER_NULL)
#define STR(k, s, m) CYAML_FIELD_STRING_PTR(k, OPT, s, m, 0, CYAML_UNLIMITED)
#define DET_PATH_BUF 128

/*
 * The seed's standalone detectors.yaml (deployment guide, "Detector
 * Configuration"), compiled in so that `sentinel` with no --config
 * detects what the guide promises.  Parsed by the same code as a file.
 */
const char config_builtin_detectors[] = "detectors:\n"
                                        "  - id: high-latency\n"
                                        "    name: High Latency Detector\n"
                                        "    type: threshold\n"
                                        "    enabled: true\n"
                                        "    config:\n"
                                        "      metric: latency_ms\n"
                                        "      condition: greater_than\n"
                                        "      threshold: 5000\n"
                                        "      window: 5m\n"
                                        "    actions:\n"
                                        "      - alert: high-latency-alert\n"
                                        "        severity: warning\n"
                                        "\n"
                                        "  - id: high-cost\n"
                                        "    name: High Cost Detector\n"
                                        "    type: threshold\n"
                                        "    enabled: true\n"
                                        "    config:\n"
                                        "      metric: cost\n"
                                        "      condition: greater_than\n"
                                        "      threshold: 1.0\n"
                                        "      window: 1m\n"
                                        "    actions:\n"
                                        "      - alert: high-cost-alert\n"
                                        "        severity: critical\n"
                                        "\n"
                                        "  - id: error-rate\n"
                                        "    name: Error Rate Detector\n"
                                        "    type: statistical\n"
                                        "    enabled: true\n"
                                        "    config:\n"
                                        "      metric: error_rate\n"
                                        "      strategy: zscore\n"
                                        "      threshold: 3.0\n"
                                        "      window: 10m\n"
                                        "    actions:\n"
                                        "      - alert: error-spike-alert\n"
                                        "        severity: warning\n";

struct raw_det_config {
	char *metric;
	char *condition;
	double *threshold;
	char *window;
	char *strategy;
};

static const cyaml_schema_field_t raw_det_config_fields[] = {
        STR("metric", struct raw_det_config, metric),
        STR("condition", struct raw_det_config, condition),
        CYAML_FIELD_FLOAT_PTR("threshold", OPT, struct raw_det_config,
                              threshold),
        STR("window", struct raw_det_config, window),
        STR("strategy", struct raw_det_config, strategy),
        CYAML_FIELD_END,
};

struct raw_action {
	char *alert;
	char *severity;
};

static const cyaml_schema_field_t raw_action_fields[] = {
        STR("alert", struct raw_action, alert),
        STR("severity", struct raw_action, severity),
        CYAML_FIELD_END,
};

static const cyaml_schema_value_t raw_action_entry = {
        CYAML_VALUE_MAPPING(CYAML_FLAG_DEFAULT, struct raw_action,
                            raw_action_fields),
};

struct raw_detector {
	char *id;
	char *name;
	char *type;
	bool *enabled;
	struct raw_det_config *config;
	struct raw_action *actions;
	unsigned actions_count;
};

static const cyaml_schema_field_t raw_detector_fields[] = {
        STR("id", struct raw_detector, id),
        STR("name", struct raw_detector, name),
        STR("type", struct raw_detector, type),
        CYAML_FIELD_BOOL_PTR("enabled", OPT, struct raw_detector, enabled),
        CYAML_FIELD_MAPPING_PTR("config", OPT, struct raw_detector, config,
                                raw_det_config_fields),
        CYAML_FIELD_SEQUENCE("actions", OPT, struct raw_detector, actions,
                             &raw_action_entry, 0, CYAML_UNLIMITED),
        CYAML_FIELD_END,
};

static const cyaml_schema_value_t raw_detector_entry = {
        CYAML_VALUE_MAPPING(CYAML_FLAG_DEFAULT, struct raw_detector,
                            raw_detector_fields),
};

struct raw_detectors {
	struct raw_detector *detectors;
	unsigned detectors_count;
};

static const cyaml_schema_field_t raw_detectors_fields[] = {
        CYAML_FIELD_SEQUENCE("detectors", OPT, struct raw_detectors, detectors,
                             &raw_detector_entry, 0, CYAML_UNLIMITED),
        CYAML_FIELD_END,
};

static const cyaml_schema_value_t raw_detectors_schema = {
        CYAML_VALUE_MAPPING(CYAML_FLAG_POINTER, struct raw_detectors,
                            raw_detectors_fields),
};

static const char *const det_types[] = {"threshold", "statistical", NULL};
static const char *const det_conditions[] = {
        "greater_than", "greater_or_equal", "less_than", "less_or_equal",
        "equal",        "not_equal",        NULL};
static const char *const det_strategies[] = {"zscore", NULL};
static const char *const det_severities[] = {"info", "warning", "critical",
                                             NULL};

/* Reports a required key of detector d (path base) that is missing. */
static bool
det_require(struct cfg_ctx *c, const char *base, const char *key, bool present,
            const char *why)
{
	char p[DET_PATH_BUF];

	if (present)
		return true;
	cfg_pathf(p, sizeof(p), "%s.%s", base, key);
	cfg_error(c, p, "missing (%s)", why);
	return false;
}

static void
det_resolve_actions(struct cfg_ctx *c, const char *base,
                    const struct raw_detector *r, struct sn_detector *d)
{
	char p[DET_PATH_BUF], q[DET_PATH_BUF];
	unsigned i;

	if (r->actions_count == 0)
		return;
	d->actions = sn_xcalloc(r->actions_count, sizeof(*d->actions));
	d->nactions = r->actions_count;
	for (i = 0; i < r->actions_count; i++) {
		struct sn_detector_action *a = &d->actions[i];

		cfg_pathf(p, sizeof(p), "%s.actions[%u]", base, i);
		cfg_pathf(q, sizeof(q), "%s.alert", p);
		a->alert = cfg_string(c, q, r->actions[i].alert, NULL);
		det_require(c, p, "alert",
		            a->alert != NULL && *a->alert != '\0',
		            "the name of the alert to raise");
		cfg_pathf(q, sizeof(q), "%s.severity", p);
		a->severity = cfg_string(c, q, r->actions[i].severity, NULL);
		if (det_require(c, p, "severity", a->severity != NULL,
		                "info, warning or critical") &&
		    !c->env_failed)
			cfg_oneof(c, q, "severity", a->severity,
			          det_severities);
	}
}

static void
det_resolve_config(struct cfg_ctx *c, const char *base,
                   const struct raw_det_config *cf, struct sn_detector *d)
{
	char p[DET_PATH_BUF];

	cfg_pathf(p, sizeof(p), "%s.config.metric", base);
	d->metric = cfg_string(c, p, cf->metric, NULL);
	if (d->metric != NULL && d->metric[0] == '\0')
		cfg_error(c, p, "must not be empty");
	cfg_pathf(p, sizeof(p), "%s.config.condition", base);
	d->condition = cfg_string(c, p, cf->condition, NULL);
	if (d->condition != NULL && !c->env_failed)
		cfg_oneof(c, p, "condition", d->condition, det_conditions);
	if (cf->threshold != NULL) {
		d->threshold = *cf->threshold;
		d->has_threshold = true;
	}
	cfg_pathf(p, sizeof(p), "%s.config.window", base);
	d->window_ms = cfg_duration(c, p, cf->window, 0, true);
	cfg_pathf(p, sizeof(p), "%s.config.strategy", base);
	d->strategy = cfg_string(c, p, cf->strategy, NULL);
	if (d->strategy != NULL && !c->env_failed)
		cfg_oneof(c, p, "strategy", d->strategy, det_strategies);
}

/* Fills d from r, reporting what is missing or wrong for its type. */
static void
det_resolve_one(struct cfg_ctx *c, unsigned idx, const struct raw_detector *r,
                struct sn_detector *d)
{
	static const struct raw_det_config none = {0};
	char base[DET_PATH_BUF], p[DET_PATH_BUF];
	unsigned line = 1;

	cfg_pathf(base, sizeof(base), "detectors[%u]", idx);
	config_yaml_find(c->doc, base, &line);
	d->line = line;
	cfg_pathf(p, sizeof(p), "%s.id", base);
	d->id = cfg_string(c, p, r->id, NULL);
	if (d->id == NULL || d->id[0] == '\0') {
		cfg_error(c, p, "%s",
		          d->id ? "must not be empty"
		                : "missing (every detector needs an id)");
		free(d->id);
		d->id = sn_xstrdup("");
	}
	cfg_pathf(p, sizeof(p), "%s.name", base);
	d->name = cfg_string(c, p, r->name, d->id);
	d->enabled = r->enabled != NULL ? *r->enabled : true;
	cfg_pathf(p, sizeof(p), "%s.type", base);
	d->type = cfg_string(c, p, r->type, NULL);
	if (det_require(c, base, "type", d->type != NULL,
	                "threshold or statistical") &&
	    !c->env_failed)
		cfg_oneof(c, p, "detector type", d->type, det_types);
	det_resolve_config(c, base, r->config ? r->config : &none, d);
	cfg_pathf(p, sizeof(p), "%s.config", base);
	if (d->type != NULL && strcmp(d->type, "threshold") == 0) {
		det_require(c, p, "metric", d->metric != NULL,
		            "a threshold detector needs metric, condition "
		            "and threshold");
		det_require(c, p, "condition", d->condition != NULL,
		            "a threshold detector needs metric, condition "
		            "and threshold");
		det_require(c, p, "threshold", d->has_threshold,
		            "a threshold detector needs metric, condition "
		            "and threshold");
	} else if (d->type != NULL && strcmp(d->type, "statistical") == 0) {
		det_require(c, p, "metric", d->metric != NULL,
		            "a statistical detector needs a metric");
		if (d->strategy == NULL)
			d->strategy = sn_xstrdup("zscore");
		if (d->has_threshold && d->threshold <= 0) {
			cfg_pathf(p, sizeof(p), "%s.config.threshold", base);
			cfg_error(c, p,
			          "must be greater than 0 (a number of "
			          "standard deviations)");
		}
	}
	det_resolve_actions(c, base, r, d);
}

static void
det_resolve(struct cfg_ctx *c, const struct raw_detectors *r,
            struct sn_detectors *out)
{
	char p[DET_PATH_BUF];
	unsigned i, j;

	if (r->detectors_count == 0)
		return;
	out->items = sn_xcalloc(r->detectors_count, sizeof(*out->items));
	out->count = r->detectors_count;
	for (i = 0; i < r->detectors_count; i++) {
		det_resolve_one(c, i, &r->detectors[i], &out->items[i]);
		if (out->items[i].id[0] == '\0')
			continue;
		for (j = 0; j < i; j++)
			if (strcmp(out->items[j].id, out->items[i].id) == 0)
				break;
		if (j < i) {
			cfg_pathf(p, sizeof(p), "detectors[%u].id", i);
			cfg_error(c, p,
			          "duplicate id \"%s\" (first used on line %u)",
			          out->items[i].id, out->items[j].line);
		}
	}
}

int
config_detectors_parse_ctx(struct cfg_ctx *c, const char *text, size_t len,
                           struct sn_detectors *out)
{
	static const struct raw_detectors none = {0};
	struct cfg_doc doc = {0};
	void *raw = NULL;
	size_t before = c->nerrors;

	size_t from = c->errs->count;

	memset(out, 0, sizeof(*out));
	if (config_file_load(c, &doc, text, len, &raw_detectors_schema, &raw) ==
	    0)
		det_resolve(c, raw != NULL ? raw : &none, out);
	cfg_sort_errors(c, from);
	config_cyaml_free(&raw_detectors_schema, raw);
	config_yaml_free(&doc);
	c->doc = NULL;
	if (c->nerrors > before) {
		config_detectors_free(out);
		return -1;
	}
	return 0;
}

int
config_parse_detectors(const char *name, const char *text, size_t len,
                       struct sn_detectors *out, struct sn_cfg_errors *errs)
{
	struct cfg_ctx c = {0};

	c.name = name;
	c.errs = errs;
	return config_detectors_parse_ctx(&c, text, len, out);
}

void
config_detectors_free(struct sn_detectors *d)
{
	size_t i, j;

	for (i = 0; i < d->count; i++) {
		struct sn_detector *x = &d->items[i];

		free(x->id);
		free(x->name);
		free(x->type);
		free(x->metric);
		free(x->condition);
		free(x->strategy);
		for (j = 0; j < x->nactions; j++) {
			free(x->actions[j].alert);
			free(x->actions[j].severity);
		}
		free(x->actions);
	}
	free(d->items);
	free(d->path);
	memset(d, 0, sizeof(*d));
}
