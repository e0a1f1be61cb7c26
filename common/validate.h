/*
 * validate.h: turning a body of events (an HTTP request, a replay file, a
 * control request) into validated telemetry events.  Shared by ingestd,
 * detectd and sentinel-cli, so one parser decides what an event is.
 * Pure code (jansson, no libevent) so the unit tests can drive
 * it directly (test/unit/test_validate.c).
 *
 * A body is one event object, a JSON array of event objects, or NDJSON
 * (one object per non-empty line).  Each event is checked on its own:
 * good ones become struct ingest_event, bad ones struct ingest_reject
 * naming the first field found wrong.  Problems with the body as a whole
 * (malformed JSON, no event at all, too many events, out of memory) end
 * the parse with a status and a reason instead.
 */
#ifndef SN_INGEST_VALIDATE_H
#define SN_INGEST_VALIDATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "event.h"

/* How the body is framed, from its Content-Type. */
enum ingest_body_kind {
	INGEST_BODY_JSON,   /* application/json: an object or an array */
	INGEST_BODY_NDJSON, /* application/x-ndjson: one object a line */
};

/*
 * Maps a Content-Type header value to a body kind.  The media type is
 * compared case-insensitively and parameters (";charset=utf-8") are
 * ignored.  Returns 0, or -1 when content_type is NULL or names anything
 * else (the caller answers 415).
 */
int ingest_body_kind_parse(const char *content_type,
                           enum ingest_body_kind *kind);

/* The outcome of a parse for the body as a whole. */
enum ingest_status {
	INGEST_OK = 0,       /* parsed: see events[] and rejects[] */
	INGEST_ERR_JSON,     /* malformed JSON (400); reason says where */
	INGEST_ERR_EMPTY,    /* no event in the body (400) */
	INGEST_ERR_TOO_MANY, /* more events than max_events (413) */
	INGEST_ERR_NOMEM,    /* allocation failed (503) */
};

/* One accepted event. */
struct ingest_event {
	json_t *obj; /* the event object; one reference, owned */
	char *json;  /* compact JSON text of obj, owned (free()) */
	/*
	 * The decoded event.  Its strings are views into obj (event_id,
	 * event_type, application_id, timestamp, data.model, data.status)
	 * and into json (the json field): valid while this entry lives.
	 * seq and recv_ms are left 0 for the caller to set.
	 */
	struct sn_event ev;
	uint32_t index; /* position in the body, from 0 */
};

#define INGEST_REASON_MAX 240

/* One rejected event. */
struct ingest_reject {
	uint32_t index; /* position in the body, from 0 */
	/* The event's event_id when it is a valid one (a non-empty string
	 * of at most SN_EVENT_ID_MAX bytes), else "" with has_event_id
	 * false. */
	bool has_event_id;
	char event_id[SN_EVENT_ID_MAX + 1];
	const char *field; /* static: "timestamp", "data.cost", "event" */
	/* "must be a non-negative number"; printable ASCII only */
	char reason[INGEST_REASON_MAX];
};

/*
 * Everything a parse produced.  Zero-initialise before
 * ingest_parse_body; release with ingest_result_free, which frees
 * every event, its object and its text.
 */
struct ingest_result {
	enum ingest_status status;
	bool batch;     /* an array or NDJSON: answer in the batch form */
	uint32_t total; /* events found in the body (accepted + rejected) */
	struct ingest_event *events;
	size_t nevents;
	struct ingest_reject *rejects;
	size_t nrejects;
	size_t cap_events, cap_rejects; /* allocated entries */
	/* whole-body error, "" when OK; printable ASCII only */
	char reason[INGEST_REASON_MAX];
	uint32_t limit; /* max_events, for TOO_MANY */
};

/*
 * Parses and validates body (len bytes, not NUL-terminated) of the
 * given kind, accepting at most max_events events.  JSON is parsed with
 * duplicate keys rejected; NaN, Infinity, numbers out of range for a
 * double and integers beyond 64 bits are malformed JSON to jansson.
 *
 * An NDJSON line that is not valid JSON rejects that event only (field
 * "event", the reason says where); malformed JSON in a JSON body fails
 * the whole body.
 *
 * Returns res->status: INGEST_OK (res->events and res->rejects filled,
 * possibly no events at all when every one was rejected) or an error
 * with res->reason set and no events kept.
 */
enum ingest_status ingest_parse_body(const char *body, size_t len,
                                     enum ingest_body_kind kind,
                                     uint32_t max_events,
                                     struct ingest_result *res);

void ingest_result_free(struct ingest_result *res);

/*
 * Validates one event object and fills ev with views into it (every
 * field but seq, recv_ms and json).  Returns 0, or -1 with *field (a
 * static string naming the first bad field) and *reason (a static
 * sentence) set.  obj is borrowed.
 */
int ingest_validate_event(json_t *obj, struct sn_event *ev, const char **field,
                          const char **reason);

#endif
