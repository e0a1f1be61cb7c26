/*
 * event.h: the telemetry event and the anomaly record as the daemons see
 * them after decoding.  Strings are (pointer, length) views into the
 * buffer they were decoded from, NUL-terminated there too; they live as
 * long as that buffer.
 */
#ifndef SN_EVENT_H
#define SN_EVENT_H

#include <stdint.h>

struct sn_str {
	const char *p; /* NUL-terminated; "" when absent */
	uint32_t len;
};

/* Which of the well-known numeric data fields an event carries. */
enum sn_event_field {
	SN_EV_LATENCY_MS = 1u << 0,
	SN_EV_TOTAL_TOKENS = 1u << 1,
	SN_EV_PROMPT_TOKENS = 1u << 2,
	SN_EV_COMPLETION_TOKENS = 1u << 3,
	SN_EV_COST = 1u << 4,
};

/* Maximum length of an event_id, in bytes. */
#define SN_EVENT_ID_MAX 128

struct sn_event {
	uint64_t seq;     /* assigned by ingestd, increasing */
	int64_t ts_ms;    /* event time (the "timestamp" field) */
	int64_t recv_ms;  /* when ingestd accepted it */
	uint32_t present; /* SN_EV_* bits: which numbers below are set */
	double latency_ms;
	double total_tokens;
	double prompt_tokens;
	double completion_tokens;
	double cost;
	struct sn_str event_id;
	struct sn_str event_type;
	struct sn_str application_id;
	struct sn_str model;     /* data.model, "" when absent */
	struct sn_str status;    /* data.status, "" when absent */
	struct sn_str timestamp; /* the timestamp as the client wrote it */
	struct sn_str json;      /* the whole event object, compact JSON */
};

/* Whether an anomaly record opens or closes an alert. */
enum sn_anomaly_status {
	SN_ANOMALY_FIRING = 0,
	SN_ANOMALY_RESOLVED = 1,
};

/* At most this many triggering event_ids travel with an anomaly. */
#define SN_ANOMALY_MAX_EVENT_IDS 5

/*
 * An anomaly: one detector firing (or ceasing to fire) for one group of
 * events.  Produced by detectd, stored by stored, routed by alertd.
 */
struct sn_anomaly {
	uint64_t seq;            /* seq of the event that triggered it */
	int64_t ts_ms;           /* event time at which it fired or resolved */
	int64_t detected_ms;     /* wall clock when detectd decided */
	int64_t window_start_ms; /* the window evaluated; equal to ts_ms */
	int64_t window_end_ms;   /* for a per-event (each) decision */
	uint64_t samples;        /* events in the window */
	uint8_t status;          /* enum sn_anomaly_status */
	double value;            /* the observed value of the metric */
	double expected;         /* baseline or expected value; NAN if none */
	double score;     /* strategy score (z, ...); value for threshold */
	double threshold; /* the limit it crossed */
	struct sn_str id; /* unique anomaly id */
	struct sn_str detector_id;   /* "high-latency" */
	struct sn_str detector_type; /* "threshold" */
	struct sn_str alert;         /* action's alert name */
	struct sn_str severity;      /* "warning", "critical" */
	struct sn_str application_id;
	struct sn_str model;
	struct sn_str metric;    /* "latency_ms" */
	struct sn_str event_id;  /* first triggering event */
	struct sn_str message;   /* human sentence: why it fired */
	struct sn_str labels;    /* group labels, a compact JSON object */
	struct sn_str event_ids; /* triggering ids, a compact JSON array */
};

#endif
