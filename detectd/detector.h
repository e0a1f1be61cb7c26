/*
 * detector.h: what the engine (engine.c), the windows (window.c), the
 * group table (group.c) and the detector types (detector_*.c) share.
 * Not for use outside detectd: engine.h is the public face.
 *
 * A detector type is a small vtable (style.md 6): compile checks the
 * config and says how its per-group state looks; judge decides on one
 * value (a closed bucket's aggregate, or one event for aggregation
 * "each"); check_state vets a group state read from a checkpoint.
 * Everything else is common and lives in the engine: metric extraction,
 * filter, group labels, windows and lateness, the group table,
 * firing/resolved/cooldown, anomaly records.  Adding a type is one file
 * and one line in engine_types[] (engine.c).
 */
#ifndef SN_DETECTOR_H
#define SN_DETECTOR_H

#include <stddef.h>
#include <stdint.h>

#include "engine.h"
#include "group.h"
#include "util.h"

struct json_t;

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

/* Where a label, a filter field or a metric is read from. */
enum det_src {
	DET_SRC_APP,        /* application_id */
	DET_SRC_EVENT_TYPE, /* event_type */
	DET_SRC_MODEL,      /* data.model (decoded by ingestd) */
	DET_SRC_STATUS,     /* data.status (decoded by ingestd) */
	DET_SRC_DATA,       /* any other field under data, by path */
};

/* A field of the event named in the config ("model", "data.region"). */
struct det_field {
	enum det_src src;
	char *name;  /* as labels show it: "application_id", "region" */
	char **path; /* DET_SRC_DATA: keys under "data", outermost first */
	size_t npath;
};

/* A filter: field must equal value (see det_field_equals). */
struct det_filter {
	struct det_field field;
	const char *value; /* borrowed from the config */
	double num;        /* value as a number, when is_num */
	int is_num;
};

/* What is measured per event or per window. */
enum det_metric {
	DET_M_NONE,              /* rate without a metric: events are counted */
	DET_M_KNOWN,             /* a well-known number of struct sn_event */
	DET_M_DATA,              /* a numeric field under data */
	DET_M_ERROR_RATE,        /* errors / events: an error is an event
	                            whose data.status is set and is not
	                            "success"; an event without a status is
	                            not an error (nothing says it failed) */
	DET_M_REQUEST_RATE,      /* events / window seconds */
	DET_M_TOKENS_PER_SECOND, /* sum of total_tokens / window seconds */
	DET_M_COST_PER_REQUEST,  /* sum of cost / events (an event without
	                            a cost counts as a request) */
};

/* How a window's events become one value. */
enum det_agg {
	DET_AGG_EACH, /* no window: every event on its own */
	DET_AGG_AVG,
	DET_AGG_MIN,
	DET_AGG_MAX,
	DET_AGG_SUM,
	DET_AGG_COUNT, /* events carrying the metric */
	DET_AGG_P50,
	DET_AGG_P90,
	DET_AGG_P95,
	DET_AGG_P99,
	DET_AGG_LAST,    /* value of the latest event by event time */
	DET_AGG_DERIVED, /* the derived metric's own formula */
};

/* Parses an aggregation name; 0, or -1 when unknown. */
int det_agg_parse(const char *s, enum det_agg *out);
const char *det_agg_name(enum det_agg a);

enum det_cond {
	DET_GT,
	DET_GE,
	DET_LT,
	DET_LE,
	DET_EQ,
	DET_NE,
};

/* Parses a condition name; 0, or -1 when NULL or unknown. */
int det_cond_parse(const char *s, enum det_cond *out);
/* Whether v cond limit holds; its operator and its negation ("<=" for
 * DET_GT) for messages. */
int det_cond_test(enum det_cond c, double v, double limit);
const char *det_cond_op(enum det_cond c);
const char *det_cond_not_op(enum det_cond c);

/* Formats a number for messages: integers as such, else 6 significant
 * digits. */
void det_fmt(char *buf, size_t size, double v);

/* One value to judge: a closed bucket, or one event. */
struct det_sample {
	double value;     /* the aggregate (meaningless when !has_value) */
	int has_value;    /* 0: the window had nothing to aggregate */
	int empty;        /* the bucket had no event at all */
	uint64_t samples; /* events aggregated */
	int64_t start_ms; /* window [start, end); both ts_ms for "each" */
	int64_t end_ms;
};

/* What judge says. */
struct det_verdict {
	int decided;      /* 0: no decision, firing state unchanged */
	int hit;          /* the anomalous condition holds */
	double value;     /* observed */
	double expected;  /* NAN when the type has no notion of it */
	double score;     /* strategy score; the value for thresholds */
	double threshold; /* the limit (in score units for statistical) */
	const char *why;  /* !decided: a static reason, for engine_test */
};

struct det;

struct det_type {
	const char *name; /* the config's type: "threshold" */
	/*
	 * Checks d->cfg (the common fields are already compiled: metric,
	 * labels, filter) and fills d->agg, d->window_ms, d->eval_empty,
	 * d->type_size and d->priv.  Returns 0, or -1 with *why a static
	 * reason the detector cannot run.
	 */
	int (*compile)(struct det *d, const char **why);
	/* Initialises the type's part of a new group (type_size bytes,
	 * zeroed). */
	void (*group_init)(const struct det *d, void *tstate);
	/*
	 * Decides on one sample and learns it (statistical history, rate
	 * baseline).  Never allocates.  tstate is the group's type state.
	 */
	void (*judge)(const struct det *d, void *tstate,
	              const struct det_sample *s, struct det_verdict *v);
	/*
	 * Checks type state that judge did not make (a checkpoint read
	 * from disk): 0 when judge can run on it as on its own, i.e. every
	 * index, count and length in it is within what type_size and the
	 * compiled config allow and every number judge relies on being
	 * finite is; -1 otherwise.  Reads type_size bytes at most.  Every
	 * type has one; checkpoint.c calls it before a restored group is
	 * adopted.
	 */
	int (*check_state)(const struct det *d, const void *tstate);
	/*
	 * Writes the heart of the human message ("p95 latency_ms 7300 >
	 * 5000"); the engine adds " over 5m for application_id=chat".
	 */
	void (*describe)(const struct det *d, const struct det_verdict *v,
	                 int resolved, char *buf, size_t size);
	/* Frees d->priv. */
	void (*free)(struct det *d);
};

extern const struct det_type det_threshold_type;
extern const struct det_type det_statistical_type;
extern const struct det_type det_rate_type;

/* At most this many group_by labels, and bytes kept of each value. */
#define DET_MAX_LABELS 8
#define DET_LABEL_MAX  255
/* Open buckets a group keeps at most (lateness beyond is cut). */
#define DET_MAX_BUCKETS 8
/* Quantile sketches of p50-p99 aggregations: 2% error over 256 bins
 * per sign spans a factor of 28000 (1 ms to 28 s) at full accuracy. */
#define DET_SKETCH_ERROR 0.02
#define DET_SKETCH_BINS  256
/* History of windows kept by statistical and rate baseline detectors. */
#define DET_HISTORY_DEFAULT 30
#define DET_HISTORY_MAX     10000

/*
 * A rate detector's group state with baseline: history (its compiled
 * setting) slots of window counts, of which the last n learnt, and the
 * slot the next goes in (detector_rate.c).  Here, not there, so that its
 * check's tests can break it field by field.
 */
struct det_rate_state {
	double sum;    /* of the counts in the ring */
	uint32_t n;    /* counts in the ring */
	uint32_t next; /* where the next one goes */
	double counts[];
};

/* One detector: its config compiled, and its live state. */
struct det {
	const struct sn_detector *cfg; /* borrowed from the config */
	const struct det_type *type;   /* NULL when the type is unknown */
	int running;                   /* compiled and running */
	const char *why;               /* when not running: the reason */

	/* What it measures. */
	enum det_metric metric;
	size_t known_off;        /* DET_M_KNOWN: offset of the double */
	uint32_t known_bit;      /* DET_M_KNOWN: its SN_EV_* bit */
	struct det_field mfield; /* DET_M_DATA: the field */
	const char *metric_name; /* cfg->metric, or "events" */
	enum det_agg agg;

	/* Which events and which groups. */
	struct det_field labels[DET_MAX_LABELS];
	size_t nlabels;
	struct det_filter *filters;
	size_t nfilters;

	/* Windows: 0 window_ms for aggregation "each". */
	int64_t window_ms;
	int64_t lateness_ms; /* effective: cut to (nbuckets - 1) windows */
	unsigned nbuckets;   /* open buckets per group */
	int eval_empty;      /* an empty bucket is a value (0): counts */
	uint32_t empty_cap;  /* empty buckets judged in a row at most */
	uint32_t min_samples;
	int64_t cooldown_ms;

	/* Layout of a group's block (group.h): header, type state,
	 * buckets (each with a sketch when quantiles are asked), key. */
	size_t type_size;
	size_t off_type;
	size_t off_buckets;
	size_t bucket_size;
	size_t off_key; /* = fixed bytes per group */
	int has_sketch;

	void *priv; /* the type's compiled data */

	/* Live state. */
	struct group_table groups;
	int64_t closed_upto; /* every bucket ending at or before is closed */
	int have_closed;     /* closed_upto is set */
	uint64_t events, anomalies, resolved, late, suppressed;
};

/* The type state of group g of detector d. */
static inline void *
det_tstate(const struct det *d, struct group *g)
{
	return (char *)g + d->off_type;
}

/* --- window.c ----------------------------------------------------------- */

/* One open bucket of a group: what the aggregations need. */
struct win_bucket {
	int64_t start;   /* window start; WIN_UNUSED when free */
	uint64_t events; /* events that matched the filter */
	uint64_t n;      /* of which carried the metric */
	uint64_t errors; /* of which status was set and not "success" */
	double sum, min, max;
	double last; /* value of the latest event by event time */
	int64_t last_ts;
	uint64_t first_seq; /* seq of the first event */
	uint8_t nids;       /* event_ids kept in ids */
	uint8_t idlen;      /* bytes of ids used */
	char ids[198];      /* first event_ids: [u8 len][bytes]... */
	/* then, when the detector has a sketch, qsketch_size bytes */
};

#define WIN_UNUSED INT64_MIN

/* The start of the window of ts (floor to a multiple of w). */
int64_t win_start(int64_t ts, int64_t w);
/* Bucket i of group g. */
struct win_bucket *win_bucket(const struct det *d, struct group *g, unsigned i);
/* Empties b for the window starting at start. */
void win_reset(const struct det *d, struct win_bucket *b, int64_t start);
/* Counts one event in b; value is the event's metric when has_value. */
void win_add(const struct det *d, struct win_bucket *b, double value,
             int has_value, const struct sn_event *ev);
/* Fills s with b's aggregate for d (b NULL: an empty window). */
void win_sample(const struct det *d, const struct win_bucket *b, int64_t start,
                struct det_sample *s);
/* Appends s (len bytes) to out as a JSON string, quoted and escaped. */
void win_json_string(struct sn_buf *out, const char *s, size_t len);
/* Appends b's event_ids as a JSON array (NUL-terminated) to out; writes
 * the first one to first (size bytes). */
void win_ids_json(const struct win_bucket *b, struct sn_buf *out, char *first,
                  size_t size);

#endif
