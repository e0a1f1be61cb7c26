/*
 * engine.h: the detection engine.  It holds one instance per enabled,
 * runnable detector of the config and runs every one of them on each
 * event; a firing becomes one anomaly per action of the detector.
 *
 * Each detector type is a small vtable (style.md 6): a name, init from
 * the config's struct sn_detector, on_event saying whether it fired and
 * with what value, free.  Types live one per file (detector_threshold.c);
 * the engine knows them through engine_types[] in engine.c.
 *
 * No nng here: main.c feeds events in and sends out what comes back, so
 * the unit tests drive the engine directly.
 */
#ifndef SN_ENGINE_H
#define SN_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "event.h"

struct json_t;

/* What a detector's on_event says. */
enum det_result {
	DET_ERROR = -1, /* could not evaluate (logged); nothing fired */
	DET_QUIET = 0,  /* evaluated, nothing to report */
	DET_FIRED = 1,  /* value crossed the limit: report it */
};

/*
 * The event as detectors see it: the decoded record, and its JSON parsed
 * on first demand (only detectors on custom "data" fields need it) and
 * shared by every detector of the event.
 */
struct det_event {
	const struct sn_event *ev;
	struct json_t *json; /* owned; NULL until parsed */
	int json_tried;      /* parse attempted (it may have failed) */
};

/* The parsed event object, or NULL when it is not valid JSON. */
struct json_t *det_event_json(struct det_event *de);

/* A firing, as on_event describes it. */
struct det_fire {
	double value;     /* observed value of the metric */
	double threshold; /* the limit it crossed */
	const char *op;   /* ">", "<=", ...: for the human message */
};

struct det_type {
	const char *name; /* the config's type: "threshold" */
	/*
	 * Checks cfg and builds the detector's state into *state (freed
	 * with free_state).  Returns 0, or -1 with a reason in why (a
	 * static string) when the detector cannot run.
	 */
	int (*init)(const struct sn_detector *cfg, void **state,
	            const char **why);
	enum det_result (*on_event)(void *state, struct det_event *de,
	                            struct det_fire *fire);
	void (*free_state)(void *state);
};

extern const struct det_type det_threshold_type;

/* Called once per anomaly produced; a and its strings live only during
 * the call. */
typedef void (*engine_emit_cb)(const struct sn_anomaly *a, void *arg);

struct engine;

/*
 * Builds an engine from the detectors of a config and logs, once, which
 * run and which do not (disabled, a type that comes later, a config
 * problem).  dets is borrowed: it must outlive the engine (the daemon
 * rebuilds the engine before it frees an old config).
 */
struct engine *engine_new(const struct sn_detectors *dets);
void engine_free(struct engine *e);

/* Number of detectors that run on each event. */
size_t engine_running(const struct engine *e);

/*
 * Runs every detector on ev; calls emit for each anomaly (one per action
 * of each detector that fired), detected at now_ms.  Returns the number
 * of anomalies emitted.
 */
size_t engine_run(struct engine *e, const struct sn_event *ev, int64_t now_ms,
                  engine_emit_cb emit, void *arg);

#endif
