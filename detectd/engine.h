/*
 * engine.h: the detection engine, shared by sentinel-detectd (live) and
 * `sentinel-cli replay` (offline): the same code gives the same answers.
 *
 * Detectors (detectors.yaml) are compiled once into instances of their
 * type (detector_threshold.c, detector_statistical.c, detector_rate.c:
 * one file per type behind struct det_type).  Each instance keeps state
 * per group (the values of its group_by labels, default application_id)
 * in a bounded table: at most max_groups, the least recently updated
 * evicted first and counted.  A group's state is one flat block (no
 * pointers; see strategy.h and sketch.h) so it can be copied for a dry
 * run and later checkpointed.
 *
 * Time is event time.  Windows are tumbling buckets of the detector's
 * window, aligned to the epoch.  The engine's watermark is the highest
 * event time seen minus the allowed lateness; a bucket is evaluated when
 * the watermark passes its end, so events up to `lateness` out of order
 * still count, and later ones are counted as late and skipped.  Replaying
 * old data thus gives the same anomalies as live.  engine_advance moves
 * the watermark without an event (live: when traffic stops entirely, so
 * absence is still noticed; replay: at the end of input).
 *
 * A group that starts firing emits one FIRING record per action; while it
 * keeps firing nothing more is emitted (alertd repeats notifications);
 * when the condition clears a RESOLVED record follows.  cooldown: no new
 * FIRING for the same detector and group within cooldown (event time) of
 * the previous one.
 *
 * No nng and no I/O here: callers feed events and receive anomalies.
 */
#ifndef SN_ENGINE_H
#define SN_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "event.h"

struct json_t;
struct engine;

/* Called once per anomaly record; a and its strings live only during
 * the call. */
typedef void (*engine_emit_cb)(const struct sn_anomaly *a, void *arg);

/*
 * Builds an engine from dets.  When prev is given (a SIGHUP reload), the
 * group state of every detector whose config is unchanged (same id, same
 * settings) moves over from prev, so reloading does not forget history;
 * prev is left empty of that state and must still be freed.  dets is
 * borrowed and must outlive the engine.  Detectors that cannot run are
 * logged once and skipped.  Never NULL.
 */
struct engine *engine_new(const struct sn_detectors *dets, struct engine *prev);
void engine_free(struct engine *e);

/* Number of detectors that run. */
size_t engine_running(const struct engine *e);

/*
 * Feeds one event.  now_ms is the wall clock (for detected_ms).  Calls
 * emit for each anomaly record that results (per-event decisions, and
 * buckets closed because the watermark moved).  Returns the number of
 * records emitted.
 */
size_t engine_feed(struct engine *e, const struct sn_event *ev, int64_t now_ms,
                   engine_emit_cb emit, void *arg);

/*
 * Moves the watermark to at least watermark_ms (event time) and
 * evaluates every bucket that closes.  Returns records emitted.
 * engine_finish(e, ...) closes every open bucket (end of a replay).
 */
size_t engine_advance(struct engine *e, int64_t watermark_ms, int64_t now_ms,
                      engine_emit_cb emit, void *arg);
size_t engine_finish(struct engine *e, int64_t now_ms, engine_emit_cb emit,
                     void *arg);

/*
 * Moves the event-time clock to at least clock_ms, as if an event of
 * that time had arrived: each detector's watermark becomes clock_ms
 * minus its own lateness.  detectd calls it when no event has arrived
 * for a while, with the last event time plus the wall-clock time
 * elapsed since (so an application that goes silent is noticed even
 * when all traffic stops).  Returns records emitted.
 */
size_t engine_advance_clock(struct engine *e, int64_t clock_ms, int64_t now_ms,
                            engine_emit_cb emit, void *arg);

/*
 * The engine's current watermark: the point up to which every windowed
 * detector has closed its buckets (the event-time clock minus the
 * largest lateness, or what engine_advance forced).  INT64_MIN before
 * the first event.
 */
int64_t engine_watermark(const struct engine *e);
/* The highest event time seen (or given to engine_advance_clock);
 * INT64_MIN before the first event. */
int64_t engine_max_event_time(const struct engine *e);

/* Counters of one detector, for `sentinel-cli detectors list`. */
struct engine_det_info {
	const char *id;
	const char *type;
	int enabled;         /* in the config */
	int running;         /* compiled and running */
	const char *why;     /* when not running: the reason */
	uint64_t groups;     /* groups tracked now */
	uint64_t events;     /* events that matched its filter */
	uint64_t anomalies;  /* FIRING records emitted */
	uint64_t resolved;   /* RESOLVED records emitted */
	uint64_t late;       /* events skipped as too late */
	uint64_t evicted;    /* groups evicted by max_groups */
	uint64_t suppressed; /* FIRING held back by cooldown */
	size_t state_bytes;  /* bytes of state per group */
};

/* Every detector of the config (running or not), in config order. */
size_t engine_detector_count(const struct engine *e);
void engine_detector_info(const struct engine *e, size_t i,
                          struct engine_det_info *out);

/*
 * Dry run for `sentinel-cli detectors test ID --event FILE`: what detector
 * id would decide for ev given its live state, without changing that
 * state (the group's state is copied).  For a windowed detector it shows
 * the open bucket with ev added and the decision were that bucket to
 * close now.  Returns a new JSON object (decision, value, threshold,
 * score, expected, group labels, samples, reason), or NULL with *err set
 * to a static message (unknown detector, event not matching its filter
 * is NOT an error: it is reported as a decision "filtered").
 */
struct json_t *engine_test(struct engine *e, const char *detector_id,
                           const struct sn_event *ev, const char **err);

/* Renders an anomaly record as the JSON object replay writes and the
 * docs describe (one line of ANOMALIES.ndjson).  New reference. */
struct json_t *engine_anomaly_json(const struct sn_anomaly *a);

/* --- state access for checkpoint.c (detectd only) ----------------------
 *
 * A checkpoint (checkpoint.h) saves and restores what engine_new's
 * carry-over moves on a reload: each detector's groups and counters
 * (struct det, detector.h) and the engine's event-time clock.
 */
struct det;
struct sn_buf;

/* Detector i of the config (i < engine_detector_count), its live state
 * included.  Like strchr, it takes a const engine and returns a mutable
 * detector: the caller knows whether it may change it. */
struct det *engine_det(const struct engine *e, size_t i);

/* The engine's event-time clock (see engine_watermark). */
struct engine_clock {
	int64_t clock;  /* highest event time seen, when have_clock */
	int have_clock; /* an event (or engine_advance_clock) was seen */
	int64_t forced; /* engine_advance's watermark; INT64_MIN: none */
};
void engine_clock_get(const struct engine *e, struct engine_clock *c);
void engine_clock_set(struct engine *e, const struct engine_clock *c);

/*
 * Appends to out the bytes that identify the state detector config c
 * builds: every setting but name and actions.  Equal bytes: the same
 * state layout and meaning, so state may move over (reload, checkpoint).
 */
void engine_config_identity(const struct sn_detector *c, struct sn_buf *out);

#endif
