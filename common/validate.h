/*
 * validate.h: turning a body of events (an HTTP request, a replay file, a
 * control request) into validated telemetry events.  Shared by ingestd,
 * detectd and sentinel-cli, so one parser decides what an event is.
 * Pure code (no libevent) so the unit tests can drive it directly
 * (test/unit/test_validate.c).  Bodies are read by the strict scanner
 * of common/jscan.h in one pass, without building a tree: it accepts
 * and refuses exactly what jansson does, with jansson's messages.
 *
 * A body is one event object, a JSON array of event objects, or NDJSON
 * (one object per non-empty line).  Each event is checked on its own:
 * good ones become struct ingest_event, bad ones struct ingest_reject
 * naming the first field found wrong.  Problems with the body as a whole
 * (malformed JSON, no event at all, too many events, out of memory) end
 * the parse with a status and a reason instead.
 *
 * The limits below hold wherever events are parsed (ingestd, sentinel-cli
 * replay and detectors test, detectd's detectors.test), so one event is
 * valid or not everywhere.  Only the timestamp window depends on the
 * caller: ingestd checks it against its clock (struct ingest_opts).
 */
#ifndef SN_INGEST_VALIDATE_H
#define SN_INGEST_VALIDATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "event.h"

/*
 * Fixed limits on one event (docs/http-api.md, "Limits").  Identifiers
 * become group labels, index keys and metric labels, so they are kept
 * short; other strings only travel in the event's JSON.
 */
#define INGEST_IDENT_MAX   256 /* event_type, application_id, model, status */
#define INGEST_STRING_MAX  (64 * 1024) /* any other string value or key */
#define INGEST_DEPTH_MAX   32  /* objects and arrays; the event counts as 1 */
#define INGEST_FIELDS_MAX  256 /* members of data */
#define INGEST_LATENCY_MAX 86400000.0 /* data.latency_ms: 24 hours */
#define INGEST_TOKENS_MAX  1e9        /* data.*_tokens */
#define INGEST_COST_MAX    1e6        /* data.cost */

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

/*
 * What the caller asks of a parse beyond the fixed limits.  With window
 * set, an event whose timestamp is more than max_age_ms before now_ms or
 * more than max_future_ms after it is rejected (INGEST_REJ_WINDOW): a
 * far-future event would move detectd's event-time clock, and an old one
 * would be deleted by retention at once.
 */
struct ingest_opts {
	uint32_t max_events;   /* events in one body */
	bool window;           /* check timestamps against the window */
	int64_t now_ms;        /* wall clock the window is measured from */
	int64_t max_age_ms;    /* ingestion.accept.max_age */
	int64_t max_future_ms; /* ingestion.accept.max_future */
};

/* Which rule an event broke; ingestd counts rejections by it. */
enum ingest_reject_kind {
	INGEST_REJ_INVALID = 0, /* a field's type or value: invalid_field */
	INGEST_REJ_JSON,        /* an NDJSON line is not JSON: invalid_json */
	INGEST_REJ_TOO_LONG,    /* a string over its limit: string_too_long */
	INGEST_REJ_TOO_DEEP,    /* nested too deep: too_deep */
	INGEST_REJ_FIELDS,      /* data has too many members: too_many_fields */
	INGEST_REJ_RANGE,       /* a number out of range: number_out_of_range */
	INGEST_REJ_WINDOW,      /* timestamp_out_of_window */
};

struct ingest_block;

/* One accepted event. */
struct ingest_event {
	/*
	 * The event's compact JSON text, NUL-terminated, followed by its
	 * unescaped strings (event_id, timestamp, event_type,
	 * application_id, data.model, data.status), each NUL-terminated.
	 * Held by the result (ingest_result_free releases it).
	 */
	char *json;
	/*
	 * The decoded event.  Its strings are views into json's block,
	 * valid while this entry lives.  seq and recv_ms are left 0 for
	 * the caller to set.
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
	enum ingest_reject_kind kind;
	/* "must be a non-negative number"; printable ASCII only */
	char reason[INGEST_REASON_MAX];
};

/*
 * Everything a parse produced.  Zero-initialise before
 * ingest_parse_body; release with ingest_result_free, which frees
 * every event and its text.
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
	uint32_t limit;              /* max_events, for TOO_MANY */
	struct ingest_block *blocks; /* the events' texts */
};

/*
 * Parses and validates body (len bytes, not NUL-terminated) of the
 * given kind, accepting at most max_events events.  JSON is read as
 * jansson's json_loadb(JSON_REJECT_DUPLICATES) would: duplicate keys,
 * NaN, Infinity, numbers out of range for a double, integers beyond 64
 * bits, "\u0000" and invalid UTF-8 are malformed JSON, with jansson's
 * message ("invalid token near 'tru'") and position.
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
/* The same with every option: o->max_events, and the timestamp window
 * when o->window is set (ingestd).  ingest_parse_body has no window. */
enum ingest_status ingest_parse(const char *body, size_t len,
                                enum ingest_body_kind kind,
                                const struct ingest_opts *o,
                                struct ingest_result *res);

void ingest_result_free(struct ingest_result *res);

/*
 * Validates one event object and fills ev with views into it (every
 * field but seq, recv_ms and json).  Returns 0, or -1 with *field (a
 * static string naming the first bad field) and *reason (a static
 * sentence) set.  obj is borrowed.  For callers holding a tree (off the
 * ingest path): the object's text goes through the same scanner.
 */
int ingest_validate_event(json_t *obj, struct sn_event *ev, const char **field,
                          const char **reason);

/* Why ingest_check_event refused an event. */
struct ingest_fault {
	enum ingest_reject_kind kind;
	const char *field;  /* static */
	const char *reason; /* static, or buf */
	char buf[INGEST_REASON_MAX];
};

/*
 * ingest_validate_event with the options of o (NULL: no window).
 * Returns 0, or -1 with f filled; f->reason may point into f->buf, so
 * it lives as long as f.
 */
int ingest_check_event(json_t *obj, const struct ingest_opts *o,
                       struct sn_event *ev, struct ingest_fault *f);

#endif
