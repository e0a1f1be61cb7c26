/*
 * engine.c: builds the set of running detectors from the config and runs
 * them on each event (see engine.h).
 *
 * Anomaly ids are "<detector id>-<event ts_ms>-<hash of event_id>-<action
 * index>": derived from the same (ts_ms, event_id) key that stored
 * deduplicates events by, so an event sent twice (a client retry, a
 * replay of ingestd's spool) yields the same anomaly id and stored keeps
 * it once, while distinct events never share one.  Not seq: ingestd's seq
 * could restart with a reset spool, and ids from it would then collide
 * with old anomalies.  The event_id is hashed because it is the client's
 * (up to 128 bytes of anything); 64 bits make a collision between events
 * of one millisecond negligible.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "engine.h"
#include "log.h"
#include "util.h"

/* Detector types that run. */
static const struct det_type *const engine_types[] = {
        &det_threshold_type,
};

/*
 * Types the config accepts whose engine is not written yet: their
 * detectors are loaded and listed, and honestly not run.
 */
static const char *const engine_later_types[] = {
        "statistical",
};

/* One running detector. */
struct engine_det {
	const struct sn_detector *cfg; /* borrowed from the config */
	const struct det_type *type;
	void *state;     /* the type's, from init */
	uint64_t errors; /* DET_ERROR results; the first is logged */
};

struct engine {
	struct engine_det *dets;
	size_t ndets;
};

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

static const struct det_type *
engine_find_type(const char *name)
{
	size_t i;

	for (i = 0; i < SN_ARRAY_LEN(engine_types); i++)
		if (strcmp(engine_types[i]->name, name) == 0)
			return engine_types[i];
	return NULL;
}

static int
engine_is_later_type(const char *name)
{
	size_t i;

	for (i = 0; i < SN_ARRAY_LEN(engine_later_types); i++)
		if (strcmp(engine_later_types[i], name) == 0)
			return 1;
	return 0;
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

static const char *
engine_list_str(const struct sn_buf *b)
{
	return b->len > 0 ? (const char *)b->data : "none";
}

struct engine *
engine_new(const struct sn_detectors *dets)
{
	struct engine *e;
	struct sn_buf running = {0}, later = {0}, disabled = {0};
	const struct sn_detector *d;
	const struct det_type *t;
	const char *why;
	void *state;
	size_t i;

	e = sn_xcalloc(1, sizeof(*e));
	e->dets = sn_xcalloc(dets->count ? dets->count : 1, sizeof(*e->dets));
	for (i = 0; i < dets->count; i++) {
		d = &dets->items[i];
		if (!d->enabled) {
			engine_list_add(&disabled, d->id);
			continue;
		}
		if ((t = engine_find_type(d->type)) == NULL) {
			if (engine_is_later_type(d->type))
				engine_list_add(&later, d->id);
			else
				log_warnx("detector %s: unknown type %s, not "
				          "running",
				          d->id, d->type);
			continue;
		}
		why = "invalid";
		state = NULL;
		if (t->init(d, &state, &why) < 0) {
			log_warnx("detector %s: %s, not running", d->id, why);
			continue;
		}
		e->dets[e->ndets].cfg = d;
		e->dets[e->ndets].type = t;
		e->dets[e->ndets].state = state;
		e->ndets++;
		engine_list_add(&running, d->id);
	}
	log_info("detection engine: %zu detectors running: %s; disabled: %s",
	         e->ndets, engine_list_str(&running),
	         engine_list_str(&disabled));
	if (later.len > 0)
		log_info("statistical detectors loaded but not run, the "
		         "statistical engine comes in a later release: %s",
		         engine_list_str(&later));
	sn_buf_free(&running);
	sn_buf_free(&later);
	sn_buf_free(&disabled);
	return e;
}

void
engine_free(struct engine *e)
{
	size_t i;

	if (e == NULL)
		return;
	for (i = 0; i < e->ndets; i++)
		e->dets[i].type->free_state(e->dets[i].state);
	free(e->dets);
	free(e);
}

size_t
engine_running(const struct engine *e)
{
	return e->ndets;
}

/* FNV-1a, 64 bits: short, stable, good enough to name an event_id. */
static uint64_t
engine_hash(struct sn_str s)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	uint32_t i;

	for (i = 0; i < s.len; i++) {
		h ^= (uint8_t)s.p[i];
		h *= 0x100000001b3ULL;
	}
	return h;
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

/*
 * Emits the anomalies of one firing: one per action, or a single one
 * with no alert and no severity when the detector has no action, so the
 * firing is still stored.
 */
static size_t
engine_emit(const struct engine_det *det, const struct sn_event *ev,
            const struct det_fire *fire, int64_t now_ms, engine_emit_cb emit,
            void *arg)
{
	const struct sn_detector *d = det->cfg;
	struct sn_anomaly a;
	char id[256], msg[512];
	size_t i, n = d->nactions > 0 ? d->nactions : 1;
	uint64_t h = engine_hash(ev->event_id);
	int len;

	len = snprintf(msg, sizeof(msg), "%s %.15g %s %.15g for application %s",
	               d->metric, fire->value, fire->op, fire->threshold,
	               ev->application_id.p);
	if (ev->model.len > 0 && len > 0 && (size_t)len < sizeof(msg))
		snprintf(msg + len, sizeof(msg) - (size_t)len, " model %s",
		         ev->model.p);

	memset(&a, 0, sizeof(a));
	a.seq = ev->seq;
	a.ts_ms = ev->ts_ms;
	a.detected_ms = now_ms;
	a.value = fire->value;
	a.threshold = fire->threshold;
	a.detector_id = engine_str(d->id);
	a.detector_type = engine_str(d->type);
	a.application_id = ev->application_id;
	a.model = ev->model;
	a.metric = engine_str(d->metric);
	a.event_id = ev->event_id;
	a.message = engine_str(msg);
	for (i = 0; i < n; i++) {
		snprintf(id, sizeof(id), "%s-%" PRId64 "-%016" PRIx64 "-%zu",
		         d->id, ev->ts_ms, h, i);
		a.id = engine_str(id);
		a.alert = engine_str(d->nactions ? d->actions[i].alert : NULL);
		a.severity =
		        engine_str(d->nactions ? d->actions[i].severity : NULL);
		emit(&a, arg);
	}
	return n;
}

size_t
engine_run(struct engine *e, const struct sn_event *ev, int64_t now_ms,
           engine_emit_cb emit, void *arg)
{
	struct det_event de = {ev, NULL, 0};
	struct det_fire fire;
	struct engine_det *det;
	size_t i, n = 0;

	for (i = 0; i < e->ndets; i++) {
		det = &e->dets[i];
		memset(&fire, 0, sizeof(fire));
		switch (det->type->on_event(det->state, &de, &fire)) {
		case DET_FIRED:
			n += engine_emit(det, ev, &fire, now_ms, emit, arg);
			break;
		case DET_ERROR:
			/* Once per detector: a stream of bad events must
			 * not become a stream of log lines. */
			if (det->errors++ == 0)
				log_warnx("detector %s: cannot evaluate event "
				          "%s (further errors not logged)",
				          det->cfg->id, ev->event_id.p);
			break;
		case DET_QUIET:
			break;
		}
	}
	json_decref(de.json);
	return n;
}
