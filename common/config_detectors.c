/*
 * config_detectors.c: detectors.yaml (the file detectors.configFile
 * names), and the built-in detectors used when none is named.
 *
 * The libcyaml schema takes the keys and their shapes; config.filter is a
 * mapping of any field name, which a schema cannot describe, so it is
 * ignored there and read from the node tree (as alerts.yaml's route
 * match is).  The resolve pass then fills struct sn_detector in two
 * steps: det_resolve_config reads every key and checks what does not
 * depend on the type (names from their lists, durations, ranges, field
 * names), and det_check_<type> adds what the type requires, its
 * defaults, and an error for each key the type would silently ignore.
 * Every problem is reported with its file, line and key; none stops the
 * pass, so one load lists them all.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_int.h"
#include "log.h"
#include "util.h"

#define OPT          (CYAML_FLAG_OPTIONAL | CYAML_FLAG_POINTER_NULL)
#define STR(k, s, m) CYAML_FIELD_STRING_PTR(k, OPT, s, m, 0, CYAML_UNLIMITED)
#define DET_PATH_BUF 256

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

/*
 * A detector's config as libcyaml loads it: pointers stay NULL for keys
 * not given, so that defaults (which depend on the type) and "this key
 * is not used by that type" can both be decided afterwards.
 */
struct raw_det_config {
	char *metric;
	char *condition;
	double *threshold;
	char *window;
	char *strategy;
	char *aggregation;
	char **group_by;
	unsigned group_by_count;
	int64_t *min_samples;
	char *cooldown;
	int64_t *history;
	char *direction;
	char *baseline;
	char *lateness;
	int64_t *max_groups;
};

static const cyaml_schema_value_t det_string_entry = {
        CYAML_VALUE_STRING(CYAML_FLAG_POINTER, char, 0, CYAML_UNLIMITED),
};

static const cyaml_schema_field_t raw_det_config_fields[] = {
        STR("metric", struct raw_det_config, metric),
        STR("condition", struct raw_det_config, condition),
        CYAML_FIELD_FLOAT_PTR("threshold", OPT, struct raw_det_config,
                              threshold),
        STR("window", struct raw_det_config, window),
        STR("strategy", struct raw_det_config, strategy),
        STR("aggregation", struct raw_det_config, aggregation),
        CYAML_FIELD_SEQUENCE("group_by", OPT, struct raw_det_config, group_by,
                             &det_string_entry, 0, CYAML_UNLIMITED),
        CYAML_FIELD_INT_PTR("min_samples", OPT, struct raw_det_config,
                            min_samples),
        STR("cooldown", struct raw_det_config, cooldown),
        /* field name -> value, any field: read from the node tree */
        CYAML_FIELD_IGNORE("filter", CYAML_FLAG_OPTIONAL),
        CYAML_FIELD_INT_PTR("history", OPT, struct raw_det_config, history),
        STR("direction", struct raw_det_config, direction),
        STR("baseline", struct raw_det_config, baseline),
        STR("lateness", struct raw_det_config, lateness),
        CYAML_FIELD_INT_PTR("max_groups", OPT, struct raw_det_config,
                            max_groups),
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

/* Names each key accepts (docs/configuration.md lists them too). */
static const char *const det_types[] = {"threshold", "statistical", "rate",
                                        NULL};
static const char *const det_conditions[] = {
        "greater_than", "greater_or_equal", "less_than", "less_or_equal",
        "equal",        "not_equal",        NULL};
/* detectd/strategy.c has the same list; config stays free of detectd. */
static const char *const det_strategies[] = {"zscore", "mad",  "iqr", "ewma",
                                             "cusum",  "auto", NULL};
static const char *const det_aggregations[] = {"avg",   "min",  "max",  "sum",
                                               "count", "p50",  "p90",  "p95",
                                               "p99",   "last", "each", NULL};
static const char *const det_directions[] = {"up", "down", "both", NULL};
static const char *const det_baselines[] = {"none", "history", NULL};
static const char *const det_severities[] = {"info", "warning", "critical",
                                             NULL};

/* Defaults and bounds of the config keys. */
#define DET_DEFAULT_HISTORY     30
#define DET_MAX_HISTORY         10000
#define DET_DEFAULT_LATENESS_MS 5000
#define DET_DEFAULT_MAX_GROUPS  10000
#define DET_MAX_MAX_GROUPS      1000000
#define DET_MAX_MIN_SAMPLES     1000000000
#define DET_MAX_GROUP_BY        8

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

/* Reports config.key given to a type that does not use it. */
static void
det_unused(struct cfg_ctx *c, const char *base, const char *key, bool given,
           const char *why)
{
	char p[DET_PATH_BUF];

	if (!given)
		return;
	cfg_pathf(p, sizeof(p), "%s.config.%s", base, key);
	cfg_error(c, p, "%s", why);
}

/*
 * Whether s names an event field: an optional "data." and keys of
 * letters, digits, '_' and '-' joined by dots ("latency_ms",
 * "data.region", "usage.cached_tokens").  The detectors read nested
 * data fields by that path, so an empty key or a space is a typo.
 */
static bool
det_field_ok(const char *s)
{
	const char *p;
	bool empty = true;

	if (strncmp(s, "data.", 5) == 0)
		s += 5;
	if (*s == '\0')
		return false;
	for (p = s; *p != '\0'; p++) {
		if (*p == '.') {
			if (empty)
				return false;
			empty = true;
		} else if ((*p >= 'a' && *p <= 'z') ||
		           (*p >= 'A' && *p <= 'Z') ||
		           (*p >= '0' && *p <= '9') || *p == '_' || *p == '-')
			empty = false;
		else
			return false;
	}
	return !empty;
}

/* The metrics computed per window from several events, not read from
 * one (the detectors compute them; see docs/configuration.md). */
static bool
det_derived(const char *metric)
{
	static const char *const derived[] = {"error_rate", "request_rate",
	                                      "tokens_per_second",
	                                      "cost_per_request", NULL};
	size_t i;

	for (i = 0; derived[i] != NULL; i++)
		if (strcmp(metric, derived[i]) == 0)
			return true;
	return false;
}

/*
 * The name a field is compared by for duplicates: "data.X" is the data
 * field X ("model" and "data.model" are one field), except for the
 * names of the event's own top-level fields.  Returns a pointer into s.
 */
static const char *
det_field_canon(const char *s)
{
	if (strncmp(s, "data.", 5) == 0 && strcmp(s + 5, "event_type") != 0 &&
	    strcmp(s + 5, "application_id") != 0)
		return s + 5;
	return s;
}

static void
det_field_error(struct cfg_ctx *c, unsigned line, const char *path,
                const char *s)
{
	if (*s == '\0')
		cfg_error_at(c, line, path, "must not be empty (a field name)");
	else
		cfg_error_at(c, line, path,
		             "\"%s\" is not a field name (letters, digits, _ "
		             "and -, with dots between nested keys)",
		             s);
}

/* config.group_by: the labels that split events into groups. */
static void
det_resolve_group_by(struct cfg_ctx *c, const char *base,
                     const struct raw_det_config *cf, struct sn_detector *d)
{
	const struct cfg_node *n;
	char p[DET_PATH_BUF];
	unsigned line;
	size_t i, j;

	cfg_pathf(p, sizeof(p), "%s.config.group_by", base);
	n = config_yaml_find(c->doc, p, NULL);
	if (n == NULL || config_yaml_is_null(n)) {
		/* One group per application, as the seed's detectors work. */
		d->group_by = sn_xcalloc(1, sizeof(*d->group_by));
		d->group_by[0] = sn_xstrdup("application_id");
		d->ngroup_by = 1;
		return;
	}
	if (cf->group_by_count == 0) {
		cfg_error(c, p,
		          "needs at least one label (leave it out for "
		          "[application_id])");
		return;
	}
	if (cf->group_by_count > DET_MAX_GROUP_BY) {
		cfg_error(c, p, "allows at most %d labels, not %u",
		          DET_MAX_GROUP_BY, cf->group_by_count);
		return;
	}
	cfg_strings(c, p, cf->group_by, cf->group_by_count, &d->group_by,
	            &d->ngroup_by);
	for (i = 0; i < d->ngroup_by; i++) {
		cfg_pathf(p, sizeof(p), "%s.config.group_by[%zu]", base, i);
		line = 1;
		config_yaml_find(c->doc, p, &line);
		if (strstr(d->group_by[i], "${") != NULL)
			continue; /* its expansion failed and was reported */
		if (!det_field_ok(d->group_by[i])) {
			det_field_error(c, line, p, d->group_by[i]);
			continue;
		}
		for (j = 0; j < i; j++)
			if (strcmp(det_field_canon(d->group_by[j]),
			           det_field_canon(d->group_by[i])) == 0)
				break;
		if (j < i)
			cfg_error_at(c, line, p,
			             "duplicate label \"%s\" (also "
			             "group_by[%zu])",
			             d->group_by[i], j);
	}
}

/*
 * config.filter, read from the node tree (a libcyaml schema cannot take
 * arbitrary keys): field -> value, every one must match.  A number or
 * boolean value is kept as the text written and compared as text.
 */
static void
det_resolve_filter(struct cfg_ctx *c, const char *base, struct sn_detector *d)
{
	const struct cfg_node *n;
	const struct cfg_pair *pr;
	struct sn_detector_filter *f;
	char fb[DET_PATH_BUF], p[DET_PATH_BUF];
	size_t i, j;

	cfg_pathf(fb, sizeof(fb), "%s.config.filter", base);
	n = config_yaml_find(c->doc, fb, NULL);
	if (n == NULL || config_yaml_is_null(n))
		return; /* no filter: every event counts */
	if (n->type != CFG_NODE_MAPPING) {
		cfg_error_at(c, n->line, fb,
		             "expected a mapping of field: value, found %s",
		             n->type == CFG_NODE_SEQUENCE ? "a list"
		                                          : "a scalar");
		return;
	}
	if (n->npairs == 0)
		return;
	d->filter = sn_xcalloc(n->npairs, sizeof(*d->filter));
	for (i = 0; i < n->npairs; i++) {
		pr = &n->pairs[i];
		if (pr->key[0] == '\0') {
			cfg_error_at(c, pr->line, fb,
			             "a field name must not be empty");
			continue;
		}
		cfg_pathf(p, sizeof(p), "%s.%s", fb, pr->key);
		if (!det_field_ok(pr->key)) {
			det_field_error(c, pr->line, p, pr->key);
			continue;
		}
		for (j = 0; j < d->nfilter; j++)
			if (strcmp(det_field_canon(d->filter[j].field),
			           det_field_canon(pr->key)) == 0)
				break;
		if (j < d->nfilter) {
			cfg_error_at(c, pr->line, p,
			             "duplicate field (also given as \"%s\")",
			             d->filter[j].field);
			continue;
		}
		if (pr->value->type != CFG_NODE_SCALAR) {
			cfg_error_at(c, pr->line, p,
			             "expected a value (a string or number), "
			             "found %s",
			             pr->value->type == CFG_NODE_SEQUENCE
			                     ? "a list"
			                     : "a mapping");
			continue;
		}
		if (pr->value->scalar[0] == '\0') {
			cfg_error_at(c, pr->line, p,
			             "missing a value (the field must equal "
			             "it)");
			continue;
		}
		f = &d->filter[d->nfilter++];
		f->field = sn_xstrdup(pr->key);
		f->value = cfg_string(c, p, pr->value->scalar, NULL);
	}
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

/*
 * A string key of config that must be one of names: expanded, checked,
 * def when absent (def may be NULL).  A wrong value is reported and
 * replaced by def, so that later checks do not report it again, unless
 * keep_bad (a NULL there would read as "missing").  Returns a new string
 * or NULL.
 */
static char *
det_name(struct cfg_ctx *c, const char *base, const char *key, const char *raw,
         const char *def, const char *what, const char *const *names,
         bool keep_bad)
{
	char p[DET_PATH_BUF];
	char *s;

	cfg_pathf(p, sizeof(p), "%s.config.%s", base, key);
	s = cfg_string(c, p, raw, def);
	if (raw != NULL && !c->env_failed && !cfg_oneof(c, p, what, s, names) &&
	    !keep_bad) {
		free(s);
		s = def != NULL ? sn_xstrdup(def) : NULL;
	}
	return s;
}

/*
 * Reads every key of config into d, checking what does not depend on
 * the type: names from their lists, durations, integer ranges, field
 * names.  Defaults that do not depend on the type are set here too;
 * det_check_type does the rest.
 */
static void
det_resolve_config(struct cfg_ctx *c, const char *base,
                   const struct raw_det_config *cf, struct sn_detector *d)
{
	char p[DET_PATH_BUF];

	cfg_pathf(p, sizeof(p), "%s.config.metric", base);
	d->metric = cfg_string(c, p, cf->metric, NULL);
	if (d->metric != NULL && !c->env_failed && !det_field_ok(d->metric)) {
		unsigned line = 1;

		config_yaml_find(c->doc, p, &line);
		det_field_error(c, line, p, d->metric);
	}
	d->condition = det_name(c, base, "condition", cf->condition, NULL,
	                        "condition", det_conditions, true);
	if (cf->threshold != NULL) {
		d->threshold = *cf->threshold;
		d->has_threshold = true;
	}
	cfg_pathf(p, sizeof(p), "%s.config.window", base);
	d->window_ms = cfg_duration(c, p, cf->window, 0, true);
	d->strategy = det_name(c, base, "strategy", cf->strategy, NULL,
	                       "strategy", det_strategies, false);
	d->aggregation = det_name(c, base, "aggregation", cf->aggregation, NULL,
	                          "aggregation", det_aggregations, false);
	det_resolve_group_by(c, base, cf, d);
	cfg_pathf(p, sizeof(p), "%s.config.min_samples", base);
	d->min_samples = (uint32_t)cfg_int(c, p, cf->min_samples, 0, 0,
	                                   DET_MAX_MIN_SAMPLES);
	cfg_pathf(p, sizeof(p), "%s.config.cooldown", base);
	d->cooldown_ms = cfg_duration(c, p, cf->cooldown, 0, false);
	det_resolve_filter(c, base, d);
	cfg_pathf(p, sizeof(p), "%s.config.history", base);
	d->history = (uint32_t)cfg_int(c, p, cf->history, DET_DEFAULT_HISTORY,
	                               1, DET_MAX_HISTORY);
	d->direction = det_name(c, base, "direction", cf->direction, "both",
	                        "direction", det_directions, false);
	d->baseline = det_name(c, base, "baseline", cf->baseline, "none",
	                       "baseline", det_baselines, false);
	cfg_pathf(p, sizeof(p), "%s.config.lateness", base);
	d->lateness_ms = cfg_duration(c, p, cf->lateness,
	                              DET_DEFAULT_LATENESS_MS, false);
	cfg_pathf(p, sizeof(p), "%s.config.max_groups", base);
	d->max_groups =
	        (uint32_t)cfg_int(c, p, cf->max_groups, DET_DEFAULT_MAX_GROUPS,
	                          1, DET_MAX_MAX_GROUPS);
}

/*
 * A derived metric (error_rate, ...) is one value per window by its own
 * formula: it needs a window, and an aggregation other than the default
 * would be silently ignored.
 */
static void
det_check_derived(struct cfg_ctx *c, const char *base,
                  const struct raw_det_config *cf, const struct sn_detector *d)
{
	char p[DET_PATH_BUF];

	if (d->metric == NULL || !det_derived(d->metric))
		return;
	if (d->window_ms == 0) {
		cfg_pathf(p, sizeof(p), "%s.config", base);
		det_require(c, p, "window", false,
		            "error_rate, request_rate, tokens_per_second and "
		            "cost_per_request are computed over a window");
	} else if (cf->aggregation != NULL &&
	           strcmp(d->aggregation, "avg") != 0) {
		cfg_pathf(p, sizeof(p), "%s.config.aggregation", base);
		cfg_error(c, p,
		          "not used with %s (one value per window, by its own "
		          "formula)",
		          d->metric);
	}
}

/* threshold: a fixed limit on an aggregate of the window, or on each
 * event when there is no window. */
static void
det_check_threshold(struct cfg_ctx *c, const char *base,
                    const struct raw_det_config *cf, struct sn_detector *d)
{
	static const char why[] = "a threshold detector needs metric, "
	                          "condition and threshold";
	char p[DET_PATH_BUF];

	cfg_pathf(p, sizeof(p), "%s.config", base);
	det_require(c, p, "metric", d->metric != NULL, why);
	det_require(c, p, "condition", d->condition != NULL, why);
	det_require(c, p, "threshold", d->has_threshold, why);
	if (d->aggregation == NULL)
		d->aggregation = sn_xstrdup(d->window_ms > 0 ? "avg" : "each");
	else if (d->window_ms == 0 && strcmp(d->aggregation, "each") != 0) {
		cfg_pathf(p, sizeof(p), "%s.config.aggregation", base);
		cfg_error(c, p,
		          "\"%s\" needs a window to aggregate over (without "
		          "one every event is tested alone: each)",
		          d->aggregation);
	}
	if (d->window_ms > 0 || strcmp(d->aggregation, "each") == 0)
		det_check_derived(c, base, cf, d);
	det_unused(c, base, "strategy", cf->strategy != NULL,
	           "only for statistical detectors");
	det_unused(c, base, "direction", cf->direction != NULL,
	           "only for statistical detectors (a threshold detector "
	           "has condition)");
	det_unused(c, base, "history", cf->history != NULL,
	           "only for statistical and rate detectors");
	det_unused(c, base, "baseline", cf->baseline != NULL,
	           "only for rate detectors");
}

/* statistical: each window's aggregate scored against earlier ones. */
static void
det_check_statistical(struct cfg_ctx *c, const char *base,
                      const struct raw_det_config *cf, struct sn_detector *d)
{
	char p[DET_PATH_BUF];

	cfg_pathf(p, sizeof(p), "%s.config", base);
	det_require(c, p, "metric", d->metric != NULL,
	            "a statistical detector needs a metric");
	det_require(c, p, "window", d->window_ms > 0,
	            "a statistical detector scores one value per window");
	if (d->strategy == NULL)
		d->strategy = sn_xstrdup("zscore");
	if (d->aggregation == NULL)
		d->aggregation = sn_xstrdup("avg");
	else if (strcmp(d->aggregation, "each") == 0) {
		cfg_pathf(p, sizeof(p), "%s.config.aggregation", base);
		cfg_error(c, p,
		          "each is for threshold detectors only (a "
		          "statistical detector scores one value per window)");
	} else if (d->window_ms > 0)
		det_check_derived(c, base, cf, d);
	if (d->has_threshold && d->threshold <= 0) {
		cfg_pathf(p, sizeof(p), "%s.config.threshold", base);
		cfg_error(c, p,
		          "must be greater than 0 (a score, in the strategy's "
		          "units: standard deviations for zscore)");
	}
	det_unused(c, base, "condition", cf->condition != NULL,
	           "not used by statistical detectors (they compare a score "
	           "with threshold; use direction: up, down or both)");
	det_unused(c, base, "baseline", cf->baseline != NULL,
	           "only for rate detectors");
}

/* rate: a count of matching events per window, against a count or a
 * ratio of the recent mean count. */
static void
det_check_rate(struct cfg_ctx *c, const char *base,
               const struct raw_det_config *cf, struct sn_detector *d)
{
	static const char why[] = "a rate detector needs condition and "
	                          "threshold";
	char p[DET_PATH_BUF];
	bool ratio = d->baseline != NULL && strcmp(d->baseline, "history") == 0;

	cfg_pathf(p, sizeof(p), "%s.config", base);
	det_require(c, p, "condition", d->condition != NULL, why);
	det_require(c, p, "threshold", d->has_threshold, why);
	det_require(c, p, "window", d->window_ms > 0,
	            "a rate detector counts events per window");
	cfg_pathf(p, sizeof(p), "%s.config.threshold", base);
	if (d->has_threshold && ratio && d->threshold <= 0)
		cfg_error(c, p,
		          "must be greater than 0 (with baseline: history it "
		          "is a ratio of the mean count)");
	else if (d->has_threshold && d->threshold < 0)
		cfg_error(c, p, "must not be negative (a count of events)");
	det_unused(c, base, "aggregation", cf->aggregation != NULL,
	           "not used by rate detectors (they count events)");
	det_unused(c, base, "strategy", cf->strategy != NULL,
	           "only for statistical detectors");
	det_unused(c, base, "direction", cf->direction != NULL,
	           "only for statistical detectors (a rate detector has "
	           "condition)");
	det_unused(c, base, "history", cf->history != NULL && !ratio,
	           "only used with baseline: history");
	/* A count has no aggregate: the field says so to its readers. */
	free(d->aggregation);
	d->aggregation = NULL;
}

/* Fills d from r, reporting what is missing or wrong for its type. */
static void
det_resolve_one(struct cfg_ctx *c, unsigned idx, const struct raw_detector *r,
                struct sn_detector *d)
{
	static const struct raw_det_config none = {0};
	const struct raw_det_config *cf = r->config ? r->config : &none;
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
	                "threshold, statistical or rate") &&
	    !c->env_failed)
		cfg_oneof(c, p, "detector type", d->type, det_types);
	det_resolve_config(c, base, cf, d);
	if (d->type == NULL)
		;
	else if (strcmp(d->type, "threshold") == 0)
		det_check_threshold(c, base, cf, d);
	else if (strcmp(d->type, "statistical") == 0)
		det_check_statistical(c, base, cf, d);
	else if (strcmp(d->type, "rate") == 0)
		det_check_rate(c, base, cf, d);
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
		free(x->aggregation);
		cfg_strv_free(x->group_by, x->ngroup_by);
		for (j = 0; j < x->nfilter; j++) {
			free(x->filter[j].field);
			free(x->filter[j].value);
		}
		free(x->filter);
		free(x->direction);
		free(x->baseline);
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
