/*
 * metrics.h: the daemon set's Prometheus metrics.
 *
 * Every daemon keeps its counters, gauges and histograms in a file it
 * maps shared, <run_dir>/<daemon>.metrics, and updates them with relaxed
 * atomic operations; nothing is sent anywhere.  The supervisor's
 * exporter (supervisor/exporter.c) maps each file read-only when
 * Prometheus scrapes :9102/metrics and renders them all in the text
 * exposition format, so a scrape costs the daemons nothing and a daemon
 * that crashed still shows what it had counted until its successor
 * starts a new file.  After Varnish's shared-memory statistics.
 *
 * The metrics themselves are one table, sn_metric_defs[], indexed by
 * enum sn_metric_id: name, type, help, label names, and for histograms
 * the bucket bounds.  A series is one (metric, label values) pair and
 * lives in one fixed-size slot of the file.
 *
 * Label values that clients choose (application_id) are capped per
 * metric at observability.metrics.max_label_values distinct values;
 * later values are counted under the value "other", so a flood of
 * application ids costs at most a fixed amount of memory.  Values longer
 * than METRICS_LABEL_MAX bytes are cut (at a UTF-8 boundary).
 *
 * Threads: every update is an atomic operation on the slot; finding or
 * creating a series (metrics_series) takes a mutex, so hot paths look a
 * series up once and keep the pointer, or batch (struct metrics_hist).
 * Without metrics_open (unit tests, sentinel-cli) every call works on a
 * private sink and nothing is exported.
 */
#ifndef SN_METRICS_H
#define SN_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

enum sn_metric_type {
	SN_METRIC_COUNTER,
	SN_METRIC_GAUGE,
	SN_METRIC_HISTOGRAM,
};

enum sn_metric_id {
	/* ingestd */
	M_TELEMETRY_EVENTS,   /* counter {application_id} */
	M_INGESTION_LATENCY,  /* histogram, request start to answer */
	M_INGESTION_ERRORS,   /* counter {reason} */
	M_INGESTION_REQUESTS, /* counter {code} */
	M_EVENT_BUFFER_SIZE,  /* gauge: events not yet in the database */
	M_CONSUMER_LAG,       /* gauge {consumer}: events not yet durable */
	M_SPOOL_SIZE_BYTES,   /* gauge */
	M_SPOOL_SYNC_LATENCY, /* histogram, one fdatasync of the spool */
	M_HTTP_CONNECTIONS,   /* gauge: open connections */
	M_KAFKA_CONSUMER_LAG, /* gauge, 0: no Kafka source exists */
	/* detectd */
	M_DETECTION_LATENCY,  /* histogram, ingest accept to evaluation */
	M_DETECTION_ERRORS,   /* counter {reason} */
	M_ANOMALIES_DETECTED, /* counter {detector, severity} */
	M_EVENTS_EVALUATED,   /* counter */
	M_DETECTION_GROUPS,   /* gauge: active (detector, group) states */
	/* stored */
	M_EVENTS_STORED,      /* counter */
	M_STORAGE_SIZE_BYTES, /* gauge: database plus WAL */
	M_STORAGE_ROWS,       /* gauge {table} */
	M_RETENTION_RUNS,     /* counter {table} */
	M_RETENTION_DELETED,  /* counter {table} */
	M_RETENTION_LAST_RUN, /* gauge {table}, unix seconds */
	/* alertd */
	M_ALERTS_SENT,          /* counter {receiver} */
	M_ALERT_FAILURES,       /* counter {receiver} */
	M_ALERTS_UNROUTED,      /* counter */
	M_ALERTS_FIRING,        /* gauge */
	M_ALERT_GROUPS,         /* gauge */
	M_SILENCES_ACTIVE,      /* gauge */
	M_NOTIFICATIONS_QUEUED, /* gauge: outbox rows waiting */
	/* supervisor */
	M_BUILD_INFO,             /* gauge 1 {version} */
	M_UP,                     /* gauge {daemon} */
	M_DAEMON_RESTARTS,        /* counter {daemon} */
	M_PROCESS_CPU,            /* counter {daemon}, seconds */
	M_PROCESS_RSS,            /* gauge {daemon}, bytes */
	M_PROCESS_FDS,            /* gauge {daemon} */
	M_PROCESS_START,          /* gauge {daemon}, unix seconds */
	M_METRICS_SERIES_DROPPED, /* counter {daemon}: a full metrics file */
	SN_METRIC_COUNT
};

#define METRICS_MAX_LABELS  3
#define METRICS_MAX_BUCKETS 20
/* A label value is cut to this many bytes (before escaping). */
#define METRICS_LABEL_MAX 128
/* Default of observability.metrics.max_label_values. */
#define METRICS_DEFAULT_LABEL_CAP 1000
/* What a capped label's values beyond the cap are counted as. */
#define METRICS_OTHER "other"

struct sn_metric_def {
	const char *name; /* "sentinel_telemetry_events_total" */
	enum sn_metric_type type;
	const char *help;
	const char *labels[METRICS_MAX_LABELS]; /* NULL-terminated early */
	int capped;            /* index of the client-chosen label, or -1 */
	bool real;             /* value is a double set with metrics_set */
	const uint64_t *le_us; /* histogram bucket bounds, microseconds */
	int nbuckets;
};

extern const struct sn_metric_def sn_metric_defs[SN_METRIC_COUNT];

/* One series: an opaque slot of the metrics file (or the sink). */
struct sn_series;

/*
 * Creates <run_dir>/<daemon>.metrics (replacing an older one: counters
 * start at 0 in each run of a daemon) and maps it.  label_cap is
 * observability.metrics.max_label_values.  Returns 0, or -1 after
 * logging why; the daemon then runs on without exporting.
 */
int metrics_open(const char *run_dir, const char *daemon, unsigned label_cap);
/* Unmaps and removes the file (a clean stop). */
void metrics_close(void);
/* The path metrics_open uses, written into buf. */
void metrics_path(char *buf, size_t size, const char *run_dir,
                  const char *daemon);

/*
 * The series of metric id with the given label values, one per label
 * of the metric, in its order; created at 0 when new.  Never NULL: when
 * the file is full the series is a private sink (counted as
 * sentinel_metrics_series_dropped_total).
 */
struct sn_series *metrics_series(enum sn_metric_id id, ...);
/* The same with the values in an array. */
struct sn_series *metrics_seriesv(enum sn_metric_id id,
                                  const char *const *values);

/* Counters: adds n. */
void metrics_add(struct sn_series *s, uint64_t n);
/* Gauges (and counters mirrored from elsewhere, "real" ones): sets v. */
void metrics_set(struct sn_series *s, double v);
/* Gauges: adds d (may be negative). */
void metrics_gauge_add(struct sn_series *s, double d);
/* Histograms: one observation of us microseconds. */
void metrics_observe_us(struct sn_series *s, uint64_t us);

/*
 * A histogram gathered locally without atomics (a batch of events) and
 * added to a series at once with metrics_hist_flush, which zeroes it.
 */
struct metrics_hist {
	uint64_t bucket[METRICS_MAX_BUCKETS + 1]; /* last: over every bound */
	uint64_t count;
	uint64_t sum_us;
};
void metrics_hist_observe(struct metrics_hist *h, enum sn_metric_id id,
                          uint64_t us);
void metrics_hist_flush(struct sn_series *s, struct metrics_hist *h);

/*
 * Reading, for the exporter and the control socket: visits the metrics
 * files at paths (missing or foreign files are skipped), family by
 * family in table order.  family() is called once for each family that
 * has at least one sample, before its samples; sample() once per
 * exposition line: name is the family name plus a suffix ("_bucket",
 * "_sum", "_count" for histograms), labels the rendered label pairs
 * without braces ("application_id=\"chat\",le=\"0.005\"", or "").
 * Either may be NULL.  only, when not NULL, limits the visit to that
 * family name.  Returns the number of samples visited.
 */
struct metrics_visitor {
	void (*family)(void *arg, const struct sn_metric_def *def);
	void (*sample)(void *arg, const struct sn_metric_def *def,
	               const char *name, const char *labels, double value);
};
size_t metrics_visit(const char *const *paths, size_t npaths, const char *only,
                     const struct metrics_visitor *v, void *arg);

/* The Prometheus text exposition (version 0.0.4) of the files. */
void metrics_render_text(struct sn_buf *out, const char *const *paths,
                         size_t npaths);

/*
 * The same for a reader that reads the files again and again (the
 * exporter): it keeps them mapped between reads and maps a file again
 * when its path names a new one (its daemon restarted).
 */
struct metrics_reader;
struct metrics_reader *metrics_reader_new(const char *const *paths,
                                          size_t npaths);
void metrics_reader_free(struct metrics_reader *r);
size_t metrics_reader_visit(struct metrics_reader *r, const char *only,
                            const struct metrics_visitor *v, void *arg);
void metrics_reader_text(struct metrics_reader *r, struct sn_buf *out);

/* "counter", "gauge" or "histogram". */
const char *metrics_type_name(enum sn_metric_type t);
/* A sample value as the exposition writes it ("12", "0.25", "NaN"). */
void metrics_value_format(char *buf, size_t size, double v);

/* The definition named name, or NULL. */
const struct sn_metric_def *metrics_find(const char *name);

#endif
