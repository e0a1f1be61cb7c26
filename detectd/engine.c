/*
 * engine.c: the detection engine (see engine.h for the model, and
 * detector.h for what the types implement).
 *
 * Per event and detector the hot path is: filter, metric, group key
 * (the group_by values, length-prefixed), one hash lookup, one bucket
 * update.  No allocation but for a new group; the event's JSON is
 * parsed only when a detector needs a data field, once per event.
 *
 * Event time:
 *   clock      highest event time seen (or engine_advance_clock)
 *   watermark  per detector: clock - lateness, or what engine_advance
 *              forced, whichever is higher
 * A detector's buckets are epoch-aligned; when its watermark passes a
 * bucket end, every group's buckets up to there are judged, in one pass
 * over the detector's groups (once per window, not per event).  An
 * event whose bucket is already closed is late: counted and skipped.
 * Per-event detectors (aggregation "each") have no windows: every event
 * is judged at once, however late.  The callback must not call back
 * into the engine.
 *
 * Empty buckets: a group that has been seen keeps getting its buckets
 * closed with no events.  When the window's value is defined with no
 * event (count, sum, request_rate, tokens_per_second: 0) the empty
 * bucket is judged, which is how absence is caught; otherwise (avg,
 * p95, error_rate, ...) it is skipped and the group's firing state
 * stays as it is.  After empty_cap empty buckets in a row nothing can
 * change any more (the history is all zeros, or the verdict repeats),
 * so further ones are skipped: a long silence costs O(1) per group, and
 * replaying a gap at once gives the same records as living through it.
 *
 * Anomaly ids are deterministic, so replaying the same events gives the
 * same ids as live and stored keeps each anomaly once:
 *   windowed: <detector>-<window start ms>-<hash of group>-<action>
 *   each:     <detector>-<event ts_ms>-<hash of group+event_id>-<action>
 * with "-resolved" appended to RESOLVED records.
 */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "anomaly.h"
#include "detector.h"
#include "log.h"
#include "sketch.h"
#include "util.h"

/* Detector types that run: one line per type. */
static const struct det_type *const engine_types[] = {
        &det_threshold_type,
        &det_statistical_type,
        &det_rate_type,
};

#define ENGINE_KEY_MAX            (DET_MAX_LABELS * (1 + DET_LABEL_MAX))
#define ENGINE_MAX_GROUPS_DEFAULT 10000

struct engine {
	struct det *dets; /* every detector of the config, in order */
	size_t ndets;
	size_t nrunning;
	int64_t clock; /* highest event time; valid when have_clock */
	int have_clock;
	int64_t forced; /* engine_advance's watermark; INT64_MIN */
	/* Scratch for building records (emission is rare). */
	struct sn_buf labels, ids, msg;
};

/* --- small shared helpers (detector.h) ------------------------------- */

static const char *const det_agg_names[] = {
        [DET_AGG_EACH] = "each", [DET_AGG_AVG] = "avg",
        [DET_AGG_MIN] = "min",   [DET_AGG_MAX] = "max",
        [DET_AGG_SUM] = "sum",   [DET_AGG_COUNT] = "count",
        [DET_AGG_P50] = "p50",   [DET_AGG_P90] = "p90",
        [DET_AGG_P95] = "p95",   [DET_AGG_P99] = "p99",
        [DET_AGG_LAST] = "last", [DET_AGG_DERIVED] = "",
};

int
det_agg_parse(const char *s, enum det_agg *out)
{
	size_t i;

	for (i = 0; i < DET_AGG_DERIVED; i++)
		if (strcmp(s, det_agg_names[i]) == 0) {
			*out = (enum det_agg)i;
			return 0;
		}
	return -1;
}

const char *
det_agg_name(enum det_agg a)
{
	return det_agg_names[a];
}

static const struct {
	const char *name, *op, *not_op;
} det_conds[] = {
        [DET_GT] = {"greater_than", ">", "<="},
        [DET_GE] = {"greater_or_equal", ">=", "<"},
        [DET_LT] = {"less_than", "<", ">="},
        [DET_LE] = {"less_or_equal", "<=", ">"},
        [DET_EQ] = {"equal", "==", "!="},
        [DET_NE] = {"not_equal", "!=", "=="},
};

int
det_cond_parse(const char *s, enum det_cond *out)
{
	size_t i;

	for (i = 0; s != NULL && i < SN_ARRAY_LEN(det_conds); i++)
		if (strcmp(s, det_conds[i].name) == 0) {
			*out = (enum det_cond)i;
			return 0;
		}
	return -1;
}

/* equal and not_equal compare doubles exactly, which is what a
 * threshold on integral counts (tokens, status codes) wants. */
int
det_cond_test(enum det_cond c, double v, double limit)
{
	switch (c) {
	case DET_GT:
		return v > limit;
	case DET_GE:
		return v >= limit;
	case DET_LT:
		return v < limit;
	case DET_LE:
		return v <= limit;
	case DET_EQ:
		return v == limit;
	case DET_NE:
		return v != limit;
	}
	return 0;
}

const char *
det_cond_op(enum det_cond c)
{
	return det_conds[c].op;
}

const char *
det_cond_not_op(enum det_cond c)
{
	return det_conds[c].not_op;
}

struct json_t *
det_event_json(struct det_event *de)
{
	json_error_t err;

	if (!de->json_tried) {
		de->json_tried = 1;
		de->json =
		        json_loadb(de->ev->json.p, de->ev->json.len, 0, &err);
	}
	return de->json;
}

/* --- fields: labels, filters, metrics --------------------------------- */

/* Well-known metrics: decoded numbers with a present bit, no JSON. */
static const struct {
	const char *name;
	uint32_t bit;
	size_t off; /* of the double in struct sn_event */
} engine_known[] = {
        {"latency_ms", SN_EV_LATENCY_MS, offsetof(struct sn_event, latency_ms)},
        {"total_tokens", SN_EV_TOTAL_TOKENS,
         offsetof(struct sn_event, total_tokens)},
        {"prompt_tokens", SN_EV_PROMPT_TOKENS,
         offsetof(struct sn_event, prompt_tokens)},
        {"completion_tokens", SN_EV_COMPLETION_TOKENS,
         offsetof(struct sn_event, completion_tokens)},
        {"cost", SN_EV_COST, offsetof(struct sn_event, cost)},
};

static const struct {
	const char *name;
	enum det_metric m;
} engine_derived[] = {
        {"error_rate", DET_M_ERROR_RATE},
        {"request_rate", DET_M_REQUEST_RATE},
        {"tokens_per_second", DET_M_TOKENS_PER_SECOND},
        {"cost_per_request", DET_M_COST_PER_REQUEST},
};

static void
engine_field_free(struct det_field *f)
{
	size_t i;

	for (i = 0; i < f->npath; i++)
		free(f->path[i]);
	free(f->path);
	free(f->name);
	memset(f, 0, sizeof(*f));
}

/*
 * Compiles a field name of the config: application_id, event_type,
 * model, status (data.model and data.status too), or any field under
 * data ("region", "data.region", "data.a.b": dots go deeper).  Returns
 * 0, or -1 when the name is empty or has an empty part.
 */
static int
engine_field_parse(const char *name, struct det_field *f)
{
	static const struct {
		const char *name;
		enum det_src src;
	} fixed[] = {
	        {"application_id", DET_SRC_APP},
	        {"event_type", DET_SRC_EVENT_TYPE},
	        {"model", DET_SRC_MODEL},
	        {"data.model", DET_SRC_MODEL},
	        {"status", DET_SRC_STATUS},
	        {"data.status", DET_SRC_STATUS},
	};
	const char *p, *dot;
	size_t i, n, k;

	memset(f, 0, sizeof(*f));
	if (name == NULL || name[0] == '\0')
		return -1;
	for (i = 0; i < SN_ARRAY_LEN(fixed); i++)
		if (strcmp(name, fixed[i].name) == 0) {
			f->src = fixed[i].src;
			p = strncmp(name, "data.", 5) == 0 ? name + 5 : name;
			f->name = sn_xstrdup(p);
			return 0;
		}
	f->src = DET_SRC_DATA;
	if (strncmp(name, "data.", 5) == 0)
		name += 5;
	f->name = sn_xstrdup(name);
	for (n = 1, p = name; *p; p++)
		n += *p == '.';
	f->path = sn_xcalloc(n, sizeof(*f->path));
	for (p = name;; p = dot + 1) {
		dot = strchr(p, '.');
		k = dot ? (size_t)(dot - p) : strlen(p);
		if (k == 0)
			return -1;
		f->path[f->npath] = sn_xmalloc(k + 1);
		memcpy(f->path[f->npath], p, k);
		f->path[f->npath][k] = '\0';
		f->npath++;
		if (dot == NULL)
			break;
	}
	return 0;
}

/* The JSON value of a data field, or NULL when absent. */
static json_t *
engine_data_value(struct det_event *de, const struct det_field *f)
{
	json_t *v = det_event_json(de);
	size_t i;

	v = json_object_get(v, "data");
	for (i = 0; v != NULL && i < f->npath; i++)
		v = json_object_get(v, f->path[i]);
	return v;
}

/*
 * The value of field f in the event as text: a view into the event, or
 * num (size bytes) for numbers and booleans of data fields (numbers
 * as JSON writes them).  Returns 0, or -1 when absent (or null, an
 * object or an array).
 */
static int
engine_field_text(struct det_event *de, const struct det_field *f,
                  const char **p, size_t *len, char *num, size_t size)
{
	const struct sn_event *ev = de->ev;
	const struct sn_str *s = NULL;
	json_t *v;
	int n;

	switch (f->src) {
	case DET_SRC_APP:
		s = &ev->application_id;
		break;
	case DET_SRC_EVENT_TYPE:
		s = &ev->event_type;
		break;
	case DET_SRC_MODEL:
		s = &ev->model;
		break;
	case DET_SRC_STATUS:
		s = &ev->status;
		break;
	case DET_SRC_DATA:
		break;
	}
	if (s != NULL) {
		if (s->len == 0)
			return -1;
		*p = s->p;
		*len = s->len;
		return 0;
	}
	if ((v = engine_data_value(de, f)) == NULL)
		return -1;
	switch (json_typeof(v)) {
	case JSON_STRING:
		*p = json_string_value(v);
		*len = json_string_length(v);
		return 0;
	case JSON_INTEGER:
		n = snprintf(num, size, "%" JSON_INTEGER_FORMAT,
		             json_integer_value(v));
		break;
	case JSON_REAL:
		n = snprintf(num, size, "%.17g", json_real_value(v));
		break;
	case JSON_TRUE:
		n = snprintf(num, size, "true");
		break;
	case JSON_FALSE:
		n = snprintf(num, size, "false");
		break;
	default:
		return -1;
	}
	if (n < 0)
		return -1;
	*p = num;
	*len = (size_t)n < size ? (size_t)n : size - 1;
	return 0;
}

/*
 * Whether the event passes filter fl.  Strings compare exactly; a
 * number under data equals a filter value that reads as the same
 * number ("200" matches 200 and 200.0), else their texts must match;
 * booleans match "true"/"false".  An absent field never matches.
 */
static int
engine_filter_match(struct det_event *de, const struct det_filter *fl)
{
	char num[64];
	const char *p;
	size_t len;
	json_t *v;

	if (fl->field.src == DET_SRC_DATA && fl->is_num) {
		v = engine_data_value(de, &fl->field);
		if (json_is_number(v))
			return json_number_value(v) == fl->num;
	}
	if (engine_field_text(de, &fl->field, &p, &len, num, sizeof(num)) < 0)
		return 0;
	return strlen(fl->value) == len && memcmp(fl->value, p, len) == 0;
}

/*
 * The detector's metric in the event.  Returns 1 with *v set, 0 when
 * the event does not carry it (then it is skipped, except by derived
 * metrics that count events), -1 when the metric needs no value.
 */
static int
engine_metric(const struct det *d, struct det_event *de, double *v)
{
	const struct sn_event *ev = de->ev;
	json_t *j;

	switch (d->metric) {
	case DET_M_KNOWN:
		if (!(ev->present & d->known_bit))
			return 0;
		memcpy(v, (const char *)ev + d->known_off, sizeof(*v));
		return 1;
	case DET_M_DATA:
		j = engine_data_value(de, &d->mfield);
		if (!json_is_number(j))
			return 0;
		*v = json_number_value(j);
		return 1;
	case DET_M_TOKENS_PER_SECOND:
		if (!(ev->present & SN_EV_TOTAL_TOKENS))
			return 0;
		*v = ev->total_tokens;
		return 1;
	case DET_M_COST_PER_REQUEST:
		if (!(ev->present & SN_EV_COST))
			return 0;
		*v = ev->cost;
		return 1;
	case DET_M_NONE:
		*v = 0;
		return 1;
	default:
		return -1;
	}
}

/* Whether an event without the metric is still counted (derived
 * metrics count every event of the window). */
static int
engine_metric_optional(const struct det *d)
{
	return d->metric >= DET_M_ERROR_RATE;
}

/* --- compiling detectors ---------------------------------------------- */

static int
engine_metric_parse(struct det *d, const char **why)
{
	const char *m = d->cfg->metric;
	size_t i;

	d->metric = DET_M_NONE;
	d->metric_name = "events";
	if (m == NULL || m[0] == '\0')
		return 0;
	d->metric_name = m;
	if (strncmp(m, "data.", 5) == 0)
		m += 5;
	for (i = 0; i < SN_ARRAY_LEN(engine_known); i++)
		if (strcmp(m, engine_known[i].name) == 0) {
			d->metric = DET_M_KNOWN;
			d->known_bit = engine_known[i].bit;
			d->known_off = engine_known[i].off;
			return 0;
		}
	for (i = 0; i < SN_ARRAY_LEN(engine_derived); i++)
		if (strcmp(d->cfg->metric, engine_derived[i].name) == 0) {
			d->metric = engine_derived[i].m;
			return 0;
		}
	d->metric = DET_M_DATA;
	if (engine_field_parse(d->cfg->metric, &d->mfield) < 0 ||
	    d->mfield.src != DET_SRC_DATA) {
		*why = "metric is not a numeric field name";
		return -1;
	}
	return 0;
}

static int
engine_labels_parse(struct det *d, const char **why)
{
	const struct sn_detector *c = d->cfg;
	size_t i;

	if (c->ngroup_by == 0) {
		engine_field_parse("application_id", &d->labels[0]);
		d->nlabels = 1;
		return 0;
	}
	if (c->ngroup_by > DET_MAX_LABELS) {
		*why = "group_by has more than 8 labels";
		return -1;
	}
	for (i = 0; i < c->ngroup_by; i++) {
		d->nlabels = i + 1;
		if (engine_field_parse(c->group_by[i], &d->labels[i]) < 0) {
			*why = "group_by names an invalid field";
			return -1;
		}
	}
	return 0;
}

static int
engine_filters_parse(struct det *d, const char **why)
{
	const struct sn_detector *c = d->cfg;
	struct det_filter *fl;
	char *end;
	size_t i;

	if (c->nfilter == 0)
		return 0;
	d->filters = sn_xcalloc(c->nfilter, sizeof(*d->filters));
	for (i = 0; i < c->nfilter; i++) {
		fl = &d->filters[i];
		d->nfilters = i + 1;
		if (engine_field_parse(c->filter[i].field, &fl->field) < 0 ||
		    c->filter[i].value == NULL) {
			*why = "filter names an invalid field or no value";
			return -1;
		}
		fl->value = c->filter[i].value;
		if (fl->value[0] != '\0') {
			fl->num = strtod(fl->value, &end);
			fl->is_num = *end == '\0' && isfinite(fl->num);
		}
	}
	return 0;
}

static size_t
engine_align(size_t n)
{
	return (n + 15) & ~(size_t)15;
}

/*
 * Compiles d: common fields, then the type, then the layout of a
 * group's block and the windows.  Returns 0, or -1 with *why.
 */
static int
engine_compile(struct det *d, const char **why)
{
	const struct sn_detector *c = d->cfg;
	int64_t w, need;

	if (engine_metric_parse(d, why) < 0 ||
	    engine_labels_parse(d, why) < 0 || engine_filters_parse(d, why) < 0)
		return -1;
	if (d->type->compile(d, why) < 0)
		return -1;
	d->cooldown_ms = c->cooldown_ms > 0 ? c->cooldown_ms : 0;
	d->off_type = engine_align(sizeof(struct group));
	d->off_buckets = engine_align(d->off_type + d->type_size);
	if (d->agg != DET_AGG_EACH) {
		w = d->window_ms;
		if (w <= 0) {
			*why = "needs a window";
			return -1;
		}
		d->lateness_ms = c->lateness_ms > 0 ? c->lateness_ms : 0;
		need = (d->lateness_ms + w - 1) / w + 1;
		if (need > DET_MAX_BUCKETS) {
			need = DET_MAX_BUCKETS;
			d->lateness_ms = (need - 1) * w;
			log_warnx("detector %s: lateness cut to %lld ms (%d "
			          "windows)",
			          c->id, (long long)d->lateness_ms,
			          DET_MAX_BUCKETS - 1);
		}
		d->nbuckets = (unsigned)need;
		d->has_sketch = d->agg >= DET_AGG_P50 && d->agg <= DET_AGG_P99;
		d->bucket_size = sizeof(struct win_bucket);
		if (d->has_sketch)
			d->bucket_size += qsketch_size(DET_SKETCH_BINS);
		d->bucket_size = engine_align(d->bucket_size);
		d->eval_empty = d->agg == DET_AGG_COUNT ||
		                d->agg == DET_AGG_SUM ||
		                d->metric == DET_M_REQUEST_RATE ||
		                d->metric == DET_M_TOKENS_PER_SECOND;
		/* Past the type's own need (history), cooldown may still
		 * turn a repeated verdict into a record. */
		if (d->empty_cap == 0)
			d->empty_cap = 1;
		if (d->cooldown_ms > 0)
			d->empty_cap +=
			        (uint32_t)((d->cooldown_ms + w - 1) / w);
	} else {
		d->window_ms = 0;
		d->nbuckets = 0;
	}
	d->off_key = engine_align(d->off_buckets +
	                          (size_t)d->nbuckets * d->bucket_size);
	group_table_init(&d->groups,
	                 c->max_groups ? c->max_groups
	                               : ENGINE_MAX_GROUPS_DEFAULT,
	                 d->off_key);
	return 0;
}

static void
engine_det_free(struct det *d)
{
	size_t i;

	if (d->type != NULL && d->type->free != NULL)
		d->type->free(d);
	for (i = 0; i < d->nlabels; i++)
		engine_field_free(&d->labels[i]);
	for (i = 0; i < d->nfilters; i++)
		engine_field_free(&d->filters[i].field);
	free(d->filters);
	engine_field_free(&d->mfield);
	group_table_free(&d->groups);
}

static const struct det_type *
engine_find_type(const char *name)
{
	size_t i;

	for (i = 0; name != NULL && i < SN_ARRAY_LEN(engine_types); i++)
		if (strcmp(engine_types[i]->name, name) == 0)
			return engine_types[i];
	return NULL;
}

static int
engine_streq(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

/* Identity encoding: a string NULL is not "" (a default differs from an
 * empty value). */
static void
engine_id_str(struct sn_buf *out, const char *s)
{
	uint32_t len = s ? (uint32_t)strlen(s) : 0;
	uint8_t present = s != NULL;

	sn_buf_append(out, &present, 1);
	sn_buf_append(out, &len, sizeof(len));
	sn_buf_append(out, s ? s : "", len);
}

static void
engine_id_i64(struct sn_buf *out, int64_t v)
{
	sn_buf_append(out, &v, sizeof(v));
}

/*
 * The identity of the state detector config c builds: every setting but
 * name and actions (which only label the records), as bytes.  Two
 * configs with equal identities build the same state, so a reload
 * (engine_carry_over) and a checkpoint (checkpoint.c) keep a detector's
 * groups exactly when its identity is unchanged.  One list of settings
 * for both: a setting added to struct sn_detector that changes what a
 * detector computes must be added here, and the checkpoint format
 * version need not change (the identity is stored as opaque bytes).
 */
void
engine_config_identity(const struct sn_detector *c, struct sn_buf *out)
{
	double t = c->threshold == 0 ? 0 : c->threshold; /* -0 is 0 */
	size_t i;

	engine_id_str(out, c->id);
	engine_id_str(out, c->type);
	engine_id_i64(out, c->enabled);
	engine_id_str(out, c->metric);
	engine_id_str(out, c->condition);
	engine_id_i64(out, c->has_threshold);
	if (c->has_threshold)
		sn_buf_append(out, &t, sizeof(t));
	engine_id_i64(out, c->window_ms);
	engine_id_str(out, c->strategy);
	engine_id_str(out, c->aggregation);
	engine_id_i64(out, (int64_t)c->ngroup_by);
	for (i = 0; i < c->ngroup_by; i++)
		engine_id_str(out, c->group_by[i]);
	engine_id_i64(out, c->min_samples);
	engine_id_i64(out, c->cooldown_ms);
	engine_id_i64(out, (int64_t)c->nfilter);
	for (i = 0; i < c->nfilter; i++) {
		engine_id_str(out, c->filter[i].field);
		engine_id_str(out, c->filter[i].value);
	}
	engine_id_i64(out, c->history);
	engine_id_str(out, c->direction);
	engine_id_str(out, c->baseline);
	engine_id_i64(out, c->lateness_ms);
	engine_id_i64(out, c->max_groups);
}

/* Whether two configs of a detector would build the same state. */
static int
engine_same_config(const struct sn_detector *a, const struct sn_detector *b)
{
	struct sn_buf ia = {0}, ib = {0};
	int same;

	engine_config_identity(a, &ia);
	engine_config_identity(b, &ib);
	same = ia.len == ib.len && memcmp(ia.data, ib.data, ia.len) == 0;
	sn_buf_free(&ia);
	sn_buf_free(&ib);
	return same;
}

/* Moves the live state of detectors whose config is unchanged. */
static void
engine_carry_over(struct engine *e, struct engine *prev)
{
	struct det *d, *p = NULL;
	size_t i, j, kept = 0;

	e->clock = prev->clock;
	e->have_clock = prev->have_clock;
	e->forced = prev->forced;
	for (i = 0; i < e->ndets; i++) {
		d = &e->dets[i];
		if (!d->running)
			continue;
		for (j = 0; j < prev->ndets; j++) {
			p = &prev->dets[j];
			if (p->running &&
			    engine_streq(p->cfg->id, d->cfg->id) &&
			    engine_same_config(p->cfg, d->cfg))
				break;
		}
		if (j == prev->ndets)
			continue;
		group_table_free(&d->groups);
		d->groups = p->groups;
		group_table_init(&p->groups, p->groups.max, p->off_key);
		d->closed_upto = p->closed_upto;
		d->have_closed = p->have_closed;
		d->events = p->events;
		d->anomalies = p->anomalies;
		d->resolved = p->resolved;
		d->late = p->late;
		d->suppressed = p->suppressed;
		kept++;
	}
	log_info("detection engine: state kept for %zu unchanged detectors",
	         kept);
}

/* Appends ", name" (or "name" first) to a NUL-terminated list in b. */
static void
engine_list_add(struct sn_buf *b, const char *name)
{
	if (b->len > 0) {
		b->len--; /* over the NUL */
		sn_buf_append(b, ", ", 2);
	}
	sn_buf_append(b, name, strlen(name) + 1);
}

struct engine *
engine_new(const struct sn_detectors *dets, struct engine *prev)
{
	struct engine *e;
	struct sn_buf running = {0}, off = {0};
	struct det *d;
	const char *why;
	size_t i;

	e = sn_xcalloc(1, sizeof(*e));
	e->forced = INT64_MIN;
	e->ndets = dets->count;
	e->dets = sn_xcalloc(dets->count ? dets->count : 1, sizeof(*e->dets));
	for (i = 0; i < dets->count; i++) {
		d = &e->dets[i];
		d->cfg = &dets->items[i];
		group_table_init(&d->groups, 1, sizeof(struct group));
		if (!d->cfg->enabled) {
			d->why = "disabled";
			engine_list_add(&off, d->cfg->id);
			continue;
		}
		if ((d->type = engine_find_type(d->cfg->type)) == NULL) {
			d->why = "unknown type";
			log_warnx("detector %s: unknown type %s, not running",
			          d->cfg->id, d->cfg->type ? d->cfg->type : "");
			continue;
		}
		why = "invalid";
		if (engine_compile(d, &why) < 0) {
			d->why = why;
			log_warnx("detector %s: %s, not running", d->cfg->id,
			          why);
			continue;
		}
		d->running = 1;
		e->nrunning++;
		engine_list_add(&running, d->cfg->id);
	}
	log_info("detection engine: %zu detectors running: %s; disabled: %s",
	         e->nrunning, running.len ? (char *)running.data : "none",
	         off.len ? (char *)off.data : "none");
	sn_buf_free(&running);
	sn_buf_free(&off);
	if (prev != NULL)
		engine_carry_over(e, prev);
	return e;
}

void
engine_free(struct engine *e)
{
	size_t i;

	if (e == NULL)
		return;
	for (i = 0; i < e->ndets; i++)
		engine_det_free(&e->dets[i]);
	free(e->dets);
	sn_buf_free(&e->labels);
	sn_buf_free(&e->ids);
	sn_buf_free(&e->msg);
	free(e);
}

size_t
engine_running(const struct engine *e)
{
	return e->nrunning;
}

/* --- records ---------------------------------------------------------- */

/* FNV-1a continued over more bytes. */
static uint64_t
engine_hash_more(uint64_t h, const void *p, size_t len)
{
	return sn_fnv1a(h, p, len);
}

static struct sn_str
engine_str(const char *s)
{
	struct sn_str v = {"", 0};

	if (s != NULL) {
		v.p = s;
		v.len = (uint32_t)strlen(s);
	}
	return v;
}

void
det_fmt(char *buf, size_t size, double v)
{
	if (isfinite(v) && v == floor(v) && fabs(v) < 1e15)
		snprintf(buf, size, "%.0f", v);
	else
		snprintf(buf, size, "%.6g", v);
}

/*
 * Decodes the group's labels from its key into a JSON object in
 * e->labels (NUL-terminated), the " for k=v ..." tail of the message in
 * tail, and the application_id and model labels into app and model
 * (each 256 bytes; "" when not a label).
 */
static void
engine_labels(struct engine *e, const struct det *d, const uint8_t *key,
              struct sn_buf *tail, char *app, char *model)
{
	size_t i, off = 0, len;

	app[0] = model[0] = '\0';
	sn_buf_reset(&e->labels);
	sn_buf_append(&e->labels, "{", 1);
	sn_buf_printf(tail, " for");
	for (i = 0; i < d->nlabels; i++) {
		const struct det_field *f = &d->labels[i];
		const char *v = (const char *)key + off + 1;

		len = key[off];
		if (i > 0)
			sn_buf_append(&e->labels, ",", 1);
		win_json_string(&e->labels, f->name, strlen(f->name));
		sn_buf_append(&e->labels, ":", 1);
		win_json_string(&e->labels, v, len);
		sn_buf_printf(tail, " %s=%.*s", f->name, (int)len, v);
		if (f->src == DET_SRC_APP)
			snprintf(app, 256, "%.*s", (int)len, v);
		else if (f->src == DET_SRC_MODEL)
			snprintf(model, 256, "%.*s", (int)len, v);
		off += 1 + len;
	}
	sn_buf_append(&e->labels, "}", 2);
}

static int
engine_has_label(const struct det *d, enum det_src src)
{
	size_t i;

	for (i = 0; i < d->nlabels; i++)
		if (d->labels[i].src == src)
			return 1;
	return 0;
}

/* What a record is about, besides the verdict. */
struct engine_rec {
	int status;                 /* enum sn_anomaly_status */
	const struct det_sample *s; /* the window or event judged */
	const struct win_bucket *b; /* its bucket (ids), or NULL */
	const struct sn_event *ev;  /* "each": the event, else NULL */
	int64_t ts_ms;              /* when it fired or resolved */
};

/*
 * Emits the records of one transition: one per action, or a single one
 * with no alert and no severity when the detector has no action, so the
 * firing is still stored.  Returns the number emitted.
 */
static size_t
engine_emit(struct engine *e, struct det *d, struct group *g,
            const struct det_verdict *v, const struct engine_rec *r,
            int64_t now_ms, engine_emit_cb emit, void *arg)
{
	const struct sn_detector *c = d->cfg;
	size_t i, n = c->nactions > 0 ? c->nactions : 1;
	char id[512], first[SN_EVENT_ID_MAX + 1], app[256], model[256];
	char wbuf[32];
	struct sn_anomaly a;
	uint64_t h = g->hash;
	size_t head;

	/* Message: the type's sentence, the window, the group. */
	sn_buf_reset(&e->msg);
	sn_buf_reserve(&e->msg, 256);
	d->type->describe(d, v, r->status == SN_ANOMALY_RESOLVED,
	                  (char *)e->msg.data, e->msg.cap);
	e->msg.len = strlen((char *)e->msg.data);
	if (d->window_ms > 0) {
		sn_duration_format(d->window_ms, wbuf, sizeof(wbuf));
		sn_buf_printf(&e->msg, " over %s", wbuf);
	}
	engine_labels(e, d, group_key(&d->groups, g), &e->msg, app, model);
	sn_buf_append(&e->msg, "", 1);

	sn_buf_reset(&e->ids);
	if (r->ev != NULL) {
		sn_buf_append(&e->ids, "[", 1);
		win_json_string(&e->ids, r->ev->event_id.p,
		                r->ev->event_id.len);
		sn_buf_append(&e->ids, "]", 2);
		snprintf(first, sizeof(first), "%s", r->ev->event_id.p);
		h = engine_hash_more(h, r->ev->event_id.p, r->ev->event_id.len);
		/* Per event, the event says who it is about. */
		if (!engine_has_label(d, DET_SRC_APP))
			snprintf(app, sizeof(app), "%s",
			         r->ev->application_id.p);
		if (!engine_has_label(d, DET_SRC_MODEL))
			snprintf(model, sizeof(model), "%s", r->ev->model.p);
	} else {
		win_ids_json(r->b, &e->ids, first, sizeof(first));
	}

	memset(&a, 0, sizeof(a));
	a.seq = r->ev ? r->ev->seq : (r->b ? r->b->first_seq : 0);
	a.ts_ms = r->ts_ms;
	a.detected_ms = now_ms;
	a.window_start_ms = r->s->start_ms;
	a.window_end_ms = r->s->end_ms;
	a.samples = r->s->samples;
	a.status = (uint8_t)r->status;
	a.value = v->value;
	a.expected = v->expected;
	a.score = v->score;
	a.threshold = v->threshold;
	a.detector_id = engine_str(c->id);
	a.detector_type = engine_str(c->type);
	a.application_id = engine_str(app);
	a.model = engine_str(model);
	a.metric = engine_str(d->metric_name);
	a.event_id = engine_str(first);
	a.message = engine_str((char *)e->msg.data);
	a.labels.p = (char *)e->labels.data;
	a.labels.len = (uint32_t)e->labels.len - 1;
	a.event_ids.p = (char *)e->ids.data;
	a.event_ids.len = (uint32_t)e->ids.len - 1;
	for (i = 0; i < n; i++) {
		head = (size_t)snprintf(id, sizeof(id),
		                        "%s-%" PRId64 "-%016" PRIx64 "-%zu",
		                        c->id, r->s->start_ms, h, i);
		if (r->status == SN_ANOMALY_RESOLVED && head < sizeof(id))
			snprintf(id + head, sizeof(id) - head, "-resolved");
		a.id = engine_str(id);
		a.alert = engine_str(c->nactions ? c->actions[i].alert : NULL);
		a.severity =
		        engine_str(c->nactions ? c->actions[i].severity : NULL);
		emit(&a, arg);
	}
	if (r->status == SN_ANOMALY_FIRING)
		d->anomalies += n;
	else
		d->resolved += n;
	return n;
}

/* What a verdict would do to a group. */
enum engine_outcome {
	ENGINE_NONE,     /* no decision */
	ENGINE_FIRE,     /* a FIRING record */
	ENGINE_STAY,     /* still firing: nothing new */
	ENGINE_COOLDOWN, /* would fire, held back by cooldown */
	ENGINE_RESOLVE,  /* a RESOLVED record */
	ENGINE_QUIET,    /* nothing wrong, nothing firing */
};

static enum engine_outcome
engine_outcome(const struct det *d, const struct group *g,
               const struct det_verdict *v, int64_t ts)
{
	if (!v->decided)
		return ENGINE_NONE;
	if (v->hit) {
		if (g->firing)
			return ENGINE_STAY;
		if (d->cooldown_ms > 0 && g->has_fired &&
		    ts - g->last_fire_ms < d->cooldown_ms)
			return ENGINE_COOLDOWN;
		return ENGINE_FIRE;
	}
	return g->firing ? ENGINE_RESOLVE : ENGINE_QUIET;
}

static void
engine_verdict_init(struct det_verdict *v)
{
	memset(v, 0, sizeof(*v));
	v->expected = NAN;
	v->score = NAN;
	v->why = "";
}

/* Judges one sample of group g and applies the outcome.  Returns the
 * records emitted. */
static size_t
engine_decide(struct engine *e, struct det *d, struct group *g,
              struct engine_rec *r, int64_t now_ms, engine_emit_cb emit,
              void *arg)
{
	struct det_verdict v;

	engine_verdict_init(&v);
	d->type->judge(d, det_tstate(d, g), r->s, &v);
	switch (engine_outcome(d, g, &v, r->ts_ms)) {
	case ENGINE_FIRE:
		g->firing = 1;
		g->has_fired = 1;
		g->last_fire_ms = r->ts_ms;
		r->status = SN_ANOMALY_FIRING;
		return engine_emit(e, d, g, &v, r, now_ms, emit, arg);
	case ENGINE_RESOLVE:
		g->firing = 0;
		r->status = SN_ANOMALY_RESOLVED;
		return engine_emit(e, d, g, &v, r, now_ms, emit, arg);
	case ENGINE_COOLDOWN:
		d->suppressed++;
		return 0;
	default:
		return 0;
	}
}

/* --- windows ---------------------------------------------------------- */

static unsigned
engine_slot(const struct det *d, int64_t start)
{
	int64_t k = (start / d->window_ms) % (int64_t)d->nbuckets;

	return (unsigned)(k < 0 ? k + (int64_t)d->nbuckets : k);
}

/* Judges one closed bucket of g (b NULL: an empty one). */
static size_t
engine_judge_bucket(struct engine *e, struct det *d, struct group *g,
                    struct win_bucket *b, int64_t start, int64_t now_ms,
                    engine_emit_cb emit, void *arg)
{
	struct det_sample s;
	struct engine_rec r;

	win_sample(d, b, start, &s);
	memset(&r, 0, sizeof(r));
	r.s = &s;
	r.b = b;
	r.ts_ms = s.end_ms;
	return engine_decide(e, d, g, &r, now_ms, emit, arg);
}

/*
 * Closes every bucket of g that ends at or before upto, in order:
 * buckets with events are judged; empty ones are judged while they
 * have a value and the empty run is under empty_cap, else skipped in
 * one step to the next bucket with events.
 */
static size_t
engine_close_group(struct engine *e, struct det *d, struct group *g,
                   int64_t upto, int64_t now_ms, engine_emit_cb emit, void *arg)
{
	int64_t w = d->window_ms, s, next;
	struct win_bucket *b;
	size_t n = 0;
	unsigned i;

	while (g->next_close != INT64_MIN && g->next_close <= upto - w) {
		s = g->next_close;
		b = win_bucket(d, g, engine_slot(d, s));
		if (b->start == s) {
			g->empty_run = 0;
			n += engine_judge_bucket(e, d, g, b, s, now_ms, emit,
			                         arg);
			b->start = WIN_UNUSED;
			g->next_close = s + w;
			continue;
		}
		if (d->eval_empty && g->empty_run < d->empty_cap) {
			g->empty_run++;
			n += engine_judge_bucket(e, d, g, NULL, s, now_ms, emit,
			                         arg);
			g->next_close = s + w;
			continue;
		}
		/* Nothing can change until the next bucket with events. */
		next = INT64_MAX;
		for (i = 0; i < d->nbuckets; i++) {
			b = win_bucket(d, g, i);
			if (b->start != WIN_UNUSED && b->start > s &&
			    b->start < next)
				next = b->start;
		}
		g->next_close = next != INT64_MAX ? next : win_start(upto, w);
		if (next == INT64_MAX)
			break;
	}
	return n;
}

/* Closes d's buckets up to its watermark wm. */
static size_t
engine_close_det(struct engine *e, struct det *d, int64_t wm, int64_t now_ms,
                 engine_emit_cb emit, void *arg)
{
	int64_t upto;
	struct group *g;
	size_t n = 0;

	if (!d->running || d->window_ms == 0 || wm == INT64_MIN)
		return 0;
	upto = win_start(wm, d->window_ms);
	if (d->have_closed && upto <= d->closed_upto)
		return 0;
	d->closed_upto = upto;
	d->have_closed = 1;
	/* Oldest first: a fixed order, so replays emit in the same one. */
	for (g = d->groups.oldest; g != NULL; g = g->newer)
		n += engine_close_group(e, d, g, upto, now_ms, emit, arg);
	return n;
}

/* Detector d's watermark. */
static int64_t
engine_det_wm(const struct engine *e, const struct det *d)
{
	int64_t wm = INT64_MIN;

	if (e->have_clock)
		wm = e->clock - d->lateness_ms;
	return wm > e->forced ? wm : e->forced;
}

static size_t
engine_close_all(struct engine *e, int64_t now_ms, engine_emit_cb emit,
                 void *arg)
{
	size_t i, n = 0;

	for (i = 0; i < e->ndets; i++)
		n += engine_close_det(e, &e->dets[i],
		                      engine_det_wm(e, &e->dets[i]), now_ms,
		                      emit, arg);
	return n;
}

/* --- feeding ---------------------------------------------------------- */

/* Builds d's group key for the event into key; returns its length. */
static size_t
engine_key(const struct det *d, struct det_event *de, uint8_t *key)
{
	char num[64];
	const char *p;
	size_t i, len, off = 0;

	for (i = 0; i < d->nlabels; i++) {
		if (engine_field_text(de, &d->labels[i], &p, &len, num,
		                      sizeof(num)) < 0) {
			p = ""; /* memcpy below wants a pointer even for 0 */
			len = 0;
		}
		if (len > DET_LABEL_MAX) {
			/* Cut on a UTF-8 character boundary, so labels stay
			 * valid JSON text. */
			len = DET_LABEL_MAX;
			while (len > 0 && ((uint8_t)p[len] & 0xc0) == 0x80)
				len--;
		}
		key[off] = (uint8_t)len;
		memcpy(key + off + 1, p, len);
		off += 1 + len;
	}
	return off;
}

/* Initialises a new group's state (the block is zeroed). */
static void
engine_group_init(const struct det *d, struct group *g)
{
	unsigned i;

	d->type->group_init(d, det_tstate(d, g));
	for (i = 0; i < d->nbuckets; i++)
		win_bucket(d, g, i)->start = WIN_UNUSED;
}

/* Whether the event passes every filter of d. */
static int
engine_filters_pass(const struct det *d, struct det_event *de)
{
	size_t i;

	for (i = 0; i < d->nfilters; i++)
		if (!engine_filter_match(de, &d->filters[i]))
			return 0;
	return 1;
}

/* Runs one detector on one event. */
static size_t
engine_feed_det(struct engine *e, struct det *d, struct det_event *de,
                int64_t now_ms, engine_emit_cb emit, void *arg)
{
	const struct sn_event *ev = de->ev;
	uint8_t key[ENGINE_KEY_MAX];
	struct det_sample s;
	struct engine_rec r;
	struct win_bucket *b;
	struct group *g;
	size_t keylen;
	uint64_t h;
	int64_t start = 0;
	double v = 0;
	int has;

	if (d->nfilters > 0 && !engine_filters_pass(d, de))
		return 0;
	d->events++;
	has = engine_metric(d, de, &v);
	if (has == 0 && !engine_metric_optional(d))
		return 0;
	if (d->window_ms > 0) {
		start = win_start(ev->ts_ms, d->window_ms);
		if (d->have_closed && start < d->closed_upto) {
			d->late++;
			return 0;
		}
	}
	keylen = engine_key(d, de, key);
	h = group_hash(key, keylen);
	if ((g = group_find(&d->groups, h, key, keylen)) == NULL) {
		g = group_insert(&d->groups, h, key, keylen);
		engine_group_init(d, g);
	} else {
		group_touch(&d->groups, g);
	}

	if (d->window_ms == 0) {
		memset(&s, 0, sizeof(s));
		s.value = v;
		s.has_value = 1;
		s.samples = 1;
		s.start_ms = s.end_ms = ev->ts_ms;
		memset(&r, 0, sizeof(r));
		r.s = &s;
		r.ev = ev;
		r.ts_ms = ev->ts_ms;
		return engine_decide(e, d, g, &r, now_ms, emit, arg);
	}

	b = win_bucket(d, g, engine_slot(d, start));
	if (b->start != start) {
		/* The slot's previous bucket is closed by construction
		 * (nbuckets covers the lateness); should a bug leave one
		 * open, judge it now rather than mix two windows. */
		if (b->start != WIN_UNUSED && b->start < start &&
		    g->next_close != INT64_MIN)
			engine_close_group(e, d, g, b->start + d->window_ms,
			                   now_ms, emit, arg);
		win_reset(d, b, start);
	}
	if (g->next_close == INT64_MIN || start < g->next_close)
		g->next_close = start;
	win_add(d, b, v, has == 1, ev);
	return 0;
}

size_t
engine_feed(struct engine *e, const struct sn_event *ev, int64_t now_ms,
            engine_emit_cb emit, void *arg)
{
	struct det_event de = {ev, NULL, 0};
	size_t i, n = 0;

	/* Close what this event's time closes before counting it: its
	 * own bucket is never closed by it (lateness >= 0). */
	if (!e->have_clock || ev->ts_ms > e->clock) {
		e->clock = ev->ts_ms;
		e->have_clock = 1;
		n += engine_close_all(e, now_ms, emit, arg);
	}
	for (i = 0; i < e->ndets; i++)
		if (e->dets[i].running)
			n += engine_feed_det(e, &e->dets[i], &de, now_ms, emit,
			                     arg);
	json_decref(de.json);
	return n;
}

size_t
engine_advance(struct engine *e, int64_t watermark_ms, int64_t now_ms,
               engine_emit_cb emit, void *arg)
{
	if (watermark_ms <= e->forced)
		return 0;
	e->forced = watermark_ms;
	return engine_close_all(e, now_ms, emit, arg);
}

size_t
engine_advance_clock(struct engine *e, int64_t clock_ms, int64_t now_ms,
                     engine_emit_cb emit, void *arg)
{
	if (e->have_clock && clock_ms <= e->clock)
		return 0;
	e->clock = clock_ms;
	e->have_clock = 1;
	return engine_close_all(e, now_ms, emit, arg);
}

/*
 * Closes, for each windowed detector, every bucket up to the end of the
 * one holding the latest event time: the end of a replay.
 */
size_t
engine_finish(struct engine *e, int64_t now_ms, engine_emit_cb emit, void *arg)
{
	struct det *d;
	int64_t t;
	size_t i, n = 0;

	if (!e->have_clock && e->forced == INT64_MIN)
		return 0;
	t = e->have_clock ? e->clock : e->forced;
	if (e->forced > t)
		t = e->forced;
	for (i = 0; i < e->ndets; i++) {
		d = &e->dets[i];
		if (d->running && d->window_ms > 0)
			n += engine_close_det(
			        e, d, win_start(t, d->window_ms) + d->window_ms,
			        now_ms, emit, arg);
	}
	return n;
}

int64_t
engine_watermark(const struct engine *e)
{
	int64_t wm = INT64_MAX;
	size_t i;

	for (i = 0; i < e->ndets; i++)
		if (e->dets[i].running && e->dets[i].window_ms > 0 &&
		    engine_det_wm(e, &e->dets[i]) < wm)
			wm = engine_det_wm(e, &e->dets[i]);
	if (wm == INT64_MAX)
		wm = e->have_clock ? e->clock : e->forced;
	return wm;
}

int64_t
engine_max_event_time(const struct engine *e)
{
	return e->have_clock ? e->clock : INT64_MIN;
}

/* --- state access for checkpoint.c ------------------------------------ */

struct det *
engine_det(const struct engine *e, size_t i)
{
	return &e->dets[i];
}

void
engine_clock_get(const struct engine *e, struct engine_clock *c)
{
	c->clock = e->clock;
	c->have_clock = e->have_clock;
	c->forced = e->forced;
}

void
engine_clock_set(struct engine *e, const struct engine_clock *c)
{
	e->clock = c->clock;
	e->have_clock = c->have_clock;
	e->forced = c->forced;
}

/* --- introspection ---------------------------------------------------- */

size_t
engine_detector_count(const struct engine *e)
{
	return e->ndets;
}

void
engine_detector_info(const struct engine *e, size_t i,
                     struct engine_det_info *out)
{
	const struct det *d = &e->dets[i];

	memset(out, 0, sizeof(*out));
	out->id = d->cfg->id;
	out->type = d->cfg->type;
	out->enabled = d->cfg->enabled;
	out->running = d->running;
	out->why = d->running ? NULL : d->why;
	out->groups = d->groups.count;
	out->events = d->events;
	out->anomalies = d->anomalies;
	out->resolved = d->resolved;
	out->late = d->late;
	out->evicted = d->groups.evicted;
	out->suppressed = d->suppressed;
	out->state_bytes = d->running ? d->off_key : 0;
}

/* --- dry run ---------------------------------------------------------- */

static json_t *
engine_num(double v)
{
	return isfinite(v) ? json_real(v) : json_null();
}

static json_t *
engine_time(int64_t ms)
{
	char buf[40];

	sn_rfc3339_format(ms, buf, sizeof(buf));
	return json_string(buf);
}

static const char *const engine_outcome_names[] = {
        [ENGINE_NONE] = "not_ready",  [ENGINE_FIRE] = "fire",
        [ENGINE_STAY] = "firing",     [ENGINE_COOLDOWN] = "cooldown",
        [ENGINE_RESOLVE] = "resolve", [ENGINE_QUIET] = "quiet",
};

static const char *const engine_outcome_why[] = {
        [ENGINE_NONE] = "",
        [ENGINE_FIRE] = "the condition holds: a firing record would be "
                        "emitted",
        [ENGINE_STAY] = "the condition holds and the group is already "
                        "firing: nothing new would be emitted",
        [ENGINE_COOLDOWN] = "the condition holds but the group fired "
                            "within the cooldown",
        [ENGINE_RESOLVE] = "the condition no longer holds: a resolved "
                           "record would be emitted",
        [ENGINE_QUIET] = "the condition does not hold",
};

static json_t *
engine_test_result(const struct det *d, const char *decision,
                   const char *reason)
{
	return json_pack("{s:s, s:s, s:s, s:s}", "detector", d->cfg->id, "type",
	                 d->cfg->type, "decision", decision, "reason", reason);
}

json_t *
engine_test(struct engine *e, const char *detector_id,
            const struct sn_event *ev, const char **err)
{
	struct det_event de = {ev, NULL, 0};
	uint8_t key[ENGINE_KEY_MAX];
	struct det_verdict v;
	struct det_sample s;
	struct win_bucket *b;
	struct group *g, *copy;
	struct det *d = NULL;
	enum engine_outcome o;
	struct sn_buf tail = {0};
	char app[256], model[256];
	json_t *res, *labels;
	json_error_t jerr;
	int64_t start = 0;
	size_t i, keylen;
	double val = 0;
	int has;

	for (i = 0; i < e->ndets; i++)
		if (strcmp(e->dets[i].cfg->id, detector_id) == 0)
			d = &e->dets[i];
	if (d == NULL) {
		*err = "unknown detector";
		return NULL;
	}
	if (!d->running) {
		*err = "detector is not running (disabled or invalid)";
		return NULL;
	}
	if (d->nfilters > 0 && !engine_filters_pass(d, &de)) {
		res = engine_test_result(d, "filtered",
		                         "the event does not match the "
		                         "detector's filter");
		goto out;
	}
	has = engine_metric(d, &de, &val);
	if (has == 0 && !engine_metric_optional(d)) {
		res = engine_test_result(d, "no_value",
		                         "the event does not carry the metric");
		goto out;
	}
	if (d->window_ms > 0) {
		start = win_start(ev->ts_ms, d->window_ms);
		if (d->have_closed && start < d->closed_upto) {
			res = engine_test_result(
			        d, "late",
			        "the event's window is already "
			        "closed");
			goto out;
		}
	}

	/* A copy of the group's state (or a new one): the live state is
	 * never touched. */
	keylen = engine_key(d, &de, key);
	g = group_find(&d->groups, group_hash(key, keylen), key, keylen);
	copy = sn_xcalloc(1, d->off_key + keylen);
	if (g != NULL) {
		memcpy(copy, g, d->off_key);
	} else {
		engine_group_init(d, copy);
	}
	copy->newer = copy->older = NULL;
	memcpy((uint8_t *)copy + d->off_key, key, keylen);

	if (d->window_ms == 0) {
		memset(&s, 0, sizeof(s));
		s.value = val;
		s.has_value = 1;
		s.samples = 1;
		s.start_ms = s.end_ms = ev->ts_ms;
	} else {
		b = win_bucket(d, copy, engine_slot(d, start));
		if (b->start != start)
			win_reset(d, b, start);
		win_add(d, b, val, has == 1, ev);
		win_sample(d, b, start, &s);
	}
	engine_verdict_init(&v);
	d->type->judge(d, det_tstate(d, copy), &s, &v);
	o = engine_outcome(d, copy, &v, d->window_ms ? s.end_ms : ev->ts_ms);

	res = engine_test_result(d, engine_outcome_names[o],
	                         o == ENGINE_NONE ? v.why
	                                          : engine_outcome_why[o]);
	/* engine_labels writes into e->labels: scratch, not state. */
	engine_labels(e, d, key, &tail, app, model);
	labels =
	        json_loadb((char *)e->labels.data, e->labels.len - 1, 0, &jerr);
	json_object_set_new(res, "labels", labels ? labels : json_object());
	json_object_set_new(res, "metric", json_string(d->metric_name));
	if (d->agg != DET_AGG_EACH && d->agg != DET_AGG_DERIVED)
		json_object_set_new(res, "aggregation",
		                    json_string(det_agg_name(d->agg)));
	json_object_set_new(res, "value",
	                    engine_num(s.has_value ? s.value : NAN));
	json_object_set_new(res, "threshold", engine_num(v.threshold));
	json_object_set_new(res, "score", engine_num(v.score));
	json_object_set_new(res, "expected", engine_num(v.expected));
	json_object_set_new(res, "samples",
	                    json_integer((json_int_t)s.samples));
	json_object_set_new(res, "window_start", engine_time(s.start_ms));
	json_object_set_new(res, "window_end", engine_time(s.end_ms));
	json_object_set_new(res, "group_known", json_boolean(g != NULL));
	json_object_set_new(res, "firing", json_boolean(copy->firing));
	sn_buf_free(&tail);
	free(copy);
out:
	json_decref(de.json);
	return res;
}

/* --- records as JSON -------------------------------------------------- */

json_t *
engine_anomaly_json(const struct sn_anomaly *a)
{
	return anomaly_json(a);
}
