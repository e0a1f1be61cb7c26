/*
 * detector_threshold.c: the "threshold" detector type: fires when an
 * event's metric compares to a fixed threshold as the condition says.
 *
 *   config:
 *     metric: latency_ms      a well-known field (latency_ms,
 *                             total_tokens, prompt_tokens,
 *                             completion_tokens, cost) or any numeric
 *                             field under "data" ("ttft_ms", or
 *                             "data.ttft_ms"; dots go deeper)
 *     condition: greater_than greater_or_equal, less_than,
 *                             less_or_equal, equal, not_equal
 *     threshold: 5000
 *     window: 5m              accepted, not used yet: each event is
 *                             tested alone.  Aggregating over the
 *                             window comes with the windowed engine.
 *
 * An event without the metric (or with a non-numeric value) does not
 * fire.  equal and not_equal compare doubles exactly, which is what a
 * threshold on integral counts (tokens, status codes) wants.
 */
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "engine.h"
#include "util.h"

/* Well-known metrics: decoded numbers with a present bit, no JSON. */
static const struct {
	const char *name;
	uint32_t bit;
	size_t off; /* of the double in struct sn_event */
} thr_known[] = {
        {"latency_ms", SN_EV_LATENCY_MS, offsetof(struct sn_event, latency_ms)},
        {"total_tokens", SN_EV_TOTAL_TOKENS,
         offsetof(struct sn_event, total_tokens)},
        {"prompt_tokens", SN_EV_PROMPT_TOKENS,
         offsetof(struct sn_event, prompt_tokens)},
        {"completion_tokens", SN_EV_COMPLETION_TOKENS,
         offsetof(struct sn_event, completion_tokens)},
        {"cost", SN_EV_COST, offsetof(struct sn_event, cost)},
};

enum thr_cond {
	THR_GT,
	THR_GE,
	THR_LT,
	THR_LE,
	THR_EQ,
	THR_NE,
};

static const struct {
	const char *name;
	const char *op; /* for the anomaly's message */
} thr_conds[] = {
        [THR_GT] = {"greater_than", ">"}, [THR_GE] = {"greater_or_equal", ">="},
        [THR_LT] = {"less_than", "<"},    [THR_LE] = {"less_or_equal", "<="},
        [THR_EQ] = {"equal", "=="},       [THR_NE] = {"not_equal", "!="},
};

struct thr_state {
	int known;   /* index in thr_known, or -1 for a data field */
	char **path; /* data field: keys under "data", outermost first */
	size_t npath;
	enum thr_cond cond;
	double threshold;
};

static void
thr_free(void *arg)
{
	struct thr_state *t = arg;
	size_t i;

	if (t == NULL)
		return;
	for (i = 0; i < t->npath; i++)
		free(t->path[i]);
	free(t->path);
	free(t);
}

/* Splits "a.b.c" (after an optional "data.") into t->path.  0 or -1. */
static int
thr_parse_path(struct thr_state *t, const char *metric)
{
	const char *p, *dot;
	size_t n, k;

	if (strncmp(metric, "data.", 5) == 0)
		metric += 5;
	for (n = 1, p = metric; *p; p++)
		n += *p == '.';
	t->path = sn_xcalloc(n, sizeof(*t->path));
	for (p = metric; t->npath < n; p = dot + 1) {
		dot = strchr(p, '.');
		k = dot ? (size_t)(dot - p) : strlen(p);
		if (k == 0)
			return -1;
		t->path[t->npath] = sn_xmalloc(k + 1);
		memcpy(t->path[t->npath], p, k);
		t->path[t->npath][k] = '\0';
		t->npath++;
		if (dot == NULL)
			break;
	}
	return 0;
}

static int
thr_init(const struct sn_detector *cfg, void **state, const char **why)
{
	struct thr_state *t;
	size_t i;

	if (cfg->metric == NULL || cfg->metric[0] == '\0') {
		*why = "threshold detector without a metric";
		return -1;
	}
	if (!cfg->has_threshold) {
		*why = "threshold detector without a threshold";
		return -1;
	}
	t = sn_xcalloc(1, sizeof(*t));
	t->threshold = cfg->threshold;
	t->cond = SN_ARRAY_LEN(thr_conds);
	for (i = 0; cfg->condition && i < SN_ARRAY_LEN(thr_conds); i++)
		if (strcmp(cfg->condition, thr_conds[i].name) == 0)
			t->cond = (enum thr_cond)i;
	if ((size_t)t->cond >= SN_ARRAY_LEN(thr_conds)) {
		*why = "unknown or missing condition (greater_than, "
		       "greater_or_equal, less_than, less_or_equal, equal, "
		       "not_equal)";
		thr_free(t);
		return -1;
	}
	t->known = -1;
	for (i = 0; i < SN_ARRAY_LEN(thr_known); i++)
		if (strcmp(cfg->metric, thr_known[i].name) == 0)
			t->known = (int)i;
	if (t->known < 0 && thr_parse_path(t, cfg->metric) < 0) {
		*why = "metric is not a field name (empty part between dots)";
		thr_free(t);
		return -1;
	}
	*state = t;
	return 0;
}

/* The metric's value in the event; 0 when present and numeric, else -1
 * (*bad set when the event's JSON could not even be parsed). */
static int
thr_value(const struct thr_state *t, struct det_event *de, double *v, int *bad)
{
	json_t *j;
	size_t i;

	if (t->known >= 0) {
		if (!(de->ev->present & thr_known[t->known].bit))
			return -1;
		memcpy(v, (const char *)de->ev + thr_known[t->known].off,
		       sizeof(*v));
		return 0;
	}
	if ((j = det_event_json(de)) == NULL) {
		*bad = 1;
		return -1;
	}
	j = json_object_get(j, "data");
	for (i = 0; i < t->npath && j != NULL; i++)
		j = json_object_get(j, t->path[i]);
	if (!json_is_number(j))
		return -1;
	*v = json_number_value(j);
	return 0;
}

static enum det_result
thr_on_event(void *arg, struct det_event *de, struct det_fire *fire)
{
	const struct thr_state *t = arg;
	double v;
	int bad = 0, hit = 0;

	if (thr_value(t, de, &v, &bad) < 0)
		return bad ? DET_ERROR : DET_QUIET;
	if (!isfinite(v))
		return DET_QUIET;
	switch (t->cond) {
	case THR_GT:
		hit = v > t->threshold;
		break;
	case THR_GE:
		hit = v >= t->threshold;
		break;
	case THR_LT:
		hit = v < t->threshold;
		break;
	case THR_LE:
		hit = v <= t->threshold;
		break;
	case THR_EQ:
		hit = v == t->threshold;
		break;
	case THR_NE:
		hit = v != t->threshold;
		break;
	}
	if (!hit)
		return DET_QUIET;
	fire->value = v;
	fire->threshold = t->threshold;
	fire->op = thr_conds[t->cond].op;
	return DET_FIRED;
}

const struct det_type det_threshold_type = {
        .name = "threshold",
        .init = thr_init,
        .on_event = thr_on_event,
        .free_state = thr_free,
};
