/*
 * grpc.c: gRPC ingestion with gRPC core's C API (docs/grpc.md).
 *
 * Two threads share the work:
 *
 *   the gRPC thread   runs grpc_completion_queue_next: accepts calls,
 *                     reads their messages and decodes them with
 *                     protobuf-c into the JSON text of the events, one
 *                     per line (the NDJSON form of the HTTP API);
 *   the event loop    takes each decoded piece from a queue (a mutex and
 *                     an eventfd watched by libevent), checks the API
 *                     key and validates, spools and answers it with
 *                     http.c's code: http_check_key, ingest_parse,
 *                     http_ingest (fwd_room, fwd_append, fwd_wait).
 *
 * A call (struct rpc) belongs to one thread at a time: the gRPC thread
 * until it queues it, the loop until the loop starts a batch on it
 * (grpc_call_start_batch may be called from any thread; gRPC posts the
 * completion to the gRPC thread, which owns the call again).  So the
 * loop never waits for gRPC and gRPC never touches loop state.  The
 * loop's own bookkeeping of a call (struct rpc_acct: events accepted,
 * rejections, pieces still in the pipeline) is touched by the loop
 * only, even while the gRPC thread reads the next messages.
 *
 * A stream is handed over in pieces of up to RPC_PIECE_EVENTS events:
 * the gRPC thread reads the next message only once the loop has taken
 * the piece (the loop starts that read), so a fast client is slowed by
 * HTTP/2 flow control instead of filling memory.  Its answer goes out
 * once the client half-closed and every accepted event is durable.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/queue.h>
#include <unistd.h>

#include <event2/event.h>
#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/log.h>
#include <grpc/support/time.h>
#include <jansson.h>

#include "auth.h"
#include "daemon.h"
#include "grpc.h"
#include "grpc_health/v1/health.pb-c.h"
#include "ingestd.h"
#include "log.h"
#include "sentinel/v1/telemetry.pb-c.h"
#include "tls.h"
#include "validate.h"

/* A stream's events are handed to the loop this many at a time. */
#define RPC_PIECE_EVENTS 512
#define RPC_PIECE_BYTES  (256u * 1024)
/* Rejections listed in a stream's answer (all are counted). */
#define RPC_MAX_REJECTIONS 1000
/* Calls waiting to be accepted, per method. */
#define RPC_ACCEPT_AHEAD 4

enum rpc_kind {
	RPC_SEND_EVENT = 0,
	RPC_SEND_EVENTS,
	RPC_STREAM_EVENTS,
	RPC_HEALTH_CHECK,
	RPC_HEALTH_WATCH,
	RPC_NKINDS
};

static const struct {
	const char *path;
	int payload; /* the request comes with the call (unary) */
} rpc_methods[RPC_NKINDS] = {
        [RPC_SEND_EVENT] = {"/sentinel.v1.TelemetryService/SendEvent", 1},
        [RPC_SEND_EVENTS] = {"/sentinel.v1.TelemetryService/SendEvents", 1},
        [RPC_STREAM_EVENTS] = {"/sentinel.v1.TelemetryService/StreamEvents", 0},
        [RPC_HEALTH_CHECK] = {"/grpc.health.v1.Health/Check", 1},
        [RPC_HEALTH_WATCH] = {"/grpc.health.v1.Health/Watch", 1},
};

/* What the call's outstanding batch is (gRPC thread's view). */
enum rpc_state {
	RPC_ST_ACCEPTING = 0, /* grpc_server_request_registered_call */
	RPC_ST_READING,       /* GRPC_OP_RECV_MESSAGE */
	RPC_ST_FINISHING,     /* the answer and status */
};

/* A stream's rejection, kept for the answer. */
struct rpc_reject {
	uint32_t index;
	char *event_id, *field, *reason;
};

/* The loop's bookkeeping of a call: touched on the loop only. */
struct rpc_acct {
	uint32_t events;      /* decoded and validated so far */
	uint32_t accepted;    /* durable */
	uint32_t outstanding; /* pieces in the pipeline */
	uint32_t rejected;    /* all rejections */
	struct rpc_reject *rejects;
	size_t nrejects, cap;
	int ended;         /* the last piece came: answer when outstanding 0 */
	int failed;        /* a grpc_status_code: answer it, accept no more */
	char failmsg[300]; /* its message */
	char first_id[SN_EVENT_ID_MAX + 1]; /* SendEvent's answer */
};

struct gsrv;

/* One call. */
struct rpc {
	STAILQ_ENTRY(rpc) q; /* in g->queue */
	struct gsrv *g;
	enum rpc_kind kind;
	enum rpc_state state;
	grpc_call *call;
	gpr_timespec deadline;
	grpc_metadata_array md;
	grpc_byte_buffer *payload; /* the request, or the message read */
	/* Decoded on the gRPC thread, for the loop. */
	char *authorization, *x_api_key; /* metadata, NULL when absent */
	struct sn_buf body;              /* NDJSON text of the piece */
	uint32_t nbody;                  /* its events */
	uint32_t nread;                  /* messages read so far */
	int end;                         /* the last piece of the call */
	int err;                         /* grpc_status_code found decoding */
	char errmsg[200];
	char *service; /* Health: the service asked about */
	struct rpc_acct acct;
	/* The answer: alive until the batch completes. */
	grpc_byte_buffer *answer;
	grpc_slice details;
	int has_details;
	int cancelled;
};
STAILQ_HEAD(rpc_queue, rpc);

struct gsrv {
	struct http_server *h; /* keys, limits, pipeline, readiness */
	grpc_server *server;
	grpc_completion_queue *cq;
	void *methods[RPC_NKINDS];
	pthread_t thread;
	int thread_started;
	int port;
	/* gRPC thread to loop. */
	pthread_mutex_t mu;
	struct rpc_queue queue; /* pieces for the loop (mu) */
	int closing;            /* no more queuing: gsrv_close (mu) */
	int efd;                /* eventfd: the queue is not empty */
	struct event *ev;
	/* gRPC thread only. */
	int shutdown_seen; /* the server's shutdown tag came back */
	int cq_down;       /* grpc_completion_queue_shutdown called */
	unsigned live;     /* rpcs allocated */
	/* loop only */
	int stopping;
};

/* The tag of grpc_server_shutdown_and_notify. */
static char gsrv_shutdown_tag;

/* --- JSON text of the events (gRPC thread) ------------------------------- */

/* Appends s as a JSON string. */
static void
rpc_json_string(struct sn_buf *b, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	const char *run = s;
	char esc[6] = {'\\', 'u', '0', '0', 0, 0};

	sn_buf_append(b, "\"", 1);
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		sn_buf_append(b, run, (size_t)(s - run));
		if (c == '"' || c == '\\') {
			esc[1] = (char)c;
			sn_buf_append(b, esc, 2);
			esc[1] = 'u';
		} else {
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
			sn_buf_append(b, esc, 6);
		}
		run = s + 1;
	}
	sn_buf_append(b, run, (size_t)(s - run));
	sn_buf_append(b, "\"", 1);
}

/* Appends ,"key": (first: no comma) for a key from the message. */
static void
rpc_json_key_esc(struct sn_buf *b, int *first, const char *key)
{
	if (!*first)
		sn_buf_append(b, ",", 1);
	*first = 0;
	rpc_json_string(b, key);
	sn_buf_append(b, ":", 1);
}

/* The same for a key of ours (plain ASCII): one copy, no escaping. */
static void
rpc_json_key(struct sn_buf *b, int *first, const char *key)
{
	size_t n = strlen(key);
	char *p;

	sn_buf_reserve(b, n + 4);
	p = (char *)b->data + b->len;
	if (!*first)
		*p++ = ',';
	*first = 0;
	*p++ = '"';
	memcpy(p, key, n);
	p += n;
	*p++ = '"';
	*p++ = ':';
	b->len = (size_t)(p - (char *)b->data);
}

/* Appends v in decimal: by hand, as printf (twice, in sn_buf_printf)
 * cost more than the rest of an event's conversion. */
static void
rpc_json_i64(struct sn_buf *b, int64_t v)
{
	char tmp[24], *p = tmp + sizeof(tmp);
	uint64_t u = v < 0 ? -(uint64_t)v : (uint64_t)v;

	do {
		*--p = (char)('0' + u % 10);
		u /= 10;
	} while (u > 0);
	if (v < 0)
		*--p = '-';
	sn_buf_append(b, p, (size_t)(tmp + sizeof(tmp) - p));
}

/*
 * Appends v (finite) as the shortest decimal with at most 15 digits
 * after the point that reads back as exactly v: m / 10^k for the
 * smallest k where m = round(v * 10^k) gives m / 10^k == v.  m (below
 * 2^53) and 10^k are exact doubles, and both that division and strtod
 * round the same real number m * 10^-k correctly, so the text parses
 * back to v.  What clients send (1250, 0.045) takes this path, without
 * printf (and is stored as sent, not as 0.044999999999999998); any
 * other number is "%.17g".
 */
static void
rpc_json_number(struct sn_buf *b, double v)
{
	static const double p10[] = {1e0,  1e1,  1e2,  1e3, 1e4,  1e5,
	                             1e6,  1e7,  1e8,  1e9, 1e10, 1e11,
	                             1e12, 1e13, 1e14, 1e15};
	const double lim = 9007199254740992.0; /* 2^53 */
	char tmp[40], *p;
	double m = 0;
	uint64_t u;
	int k, i, n;

	for (k = 0; k < (int)(sizeof(p10) / sizeof(p10[0])); k++) {
		m = nearbyint(v * p10[k]);
		if (!(fabs(m) < lim))
			break;
		if (m / p10[k] == v)
			goto decimal;
	}
	n = snprintf(tmp, sizeof(tmp), "%.17g", v);
	sn_buf_append(b, tmp, (size_t)n);
	return;
decimal:
	u = (uint64_t)fabs(m);
	p = tmp + sizeof(tmp);
	i = 0;
	do {
		if (k > 0 && i == k)
			*--p = '.';
		*--p = (char)('0' + u % 10);
		u /= 10;
		i++;
	} while (u > 0 || i <= k);
	if (m < 0)
		*--p = '-';
	sn_buf_append(b, p, (size_t)(tmp + sizeof(tmp) - p));
}

/* A double; NaN and infinities as null, which validation refuses. */
static void
rpc_json_double(struct sn_buf *b, int *first, const char *key, double v)
{
	rpc_json_key(b, first, key);
	if (isfinite(v))
		rpc_json_number(b, v);
	else
		sn_buf_append(b, "null", 4);
}

static void
rpc_json_int(struct sn_buf *b, int *first, const char *key, int64_t v)
{
	rpc_json_key(b, first, key);
	rpc_json_i64(b, v);
}

/* A string field; empty means absent, as proto3 cannot tell them apart. */
static void
rpc_json_opt_string(struct sn_buf *b, int *first, const char *key,
                    const char *v)
{
	if (v == NULL || v[0] == '\0')
		return;
	rpc_json_key(b, first, key);
	rpc_json_string(b, v);
}

/*
 * Appends ev as one line of compact JSON: the event the HTTP API would
 * take, so that validation, storage (the raw text) and detection see
 * the same thing whichever door it came in by.
 */
static void
rpc_event_json(struct sn_buf *b, const Sentinel__V1__TelemetryEvent *ev)
{
	const Sentinel__V1__EventData *d = ev->data;
	int first = 1, dfirst = 1;
	size_t i;

	sn_buf_append(b, "{", 1);
	rpc_json_opt_string(b, &first, "event_id", ev->event_id);
	rpc_json_opt_string(b, &first, "timestamp", ev->timestamp);
	rpc_json_opt_string(b, &first, "event_type", ev->event_type);
	rpc_json_opt_string(b, &first, "application_id", ev->application_id);
	if (d != NULL) {
		rpc_json_key(b, &first, "data");
		sn_buf_append(b, "{", 1);
		rpc_json_opt_string(b, &dfirst, "status", d->status);
		if (d->latency_ms_set_case ==
		    SENTINEL__V1__EVENT_DATA__LATENCY_MS_SET_LATENCY_MS)
			rpc_json_double(b, &dfirst, "latency_ms",
			                d->latency_ms);
		if (d->total_tokens_set_case ==
		    SENTINEL__V1__EVENT_DATA__TOTAL_TOKENS_SET_TOTAL_TOKENS)
			rpc_json_int(b, &dfirst, "total_tokens",
			             d->total_tokens);
		if (d->prompt_tokens_set_case ==
		    SENTINEL__V1__EVENT_DATA__PROMPT_TOKENS_SET_PROMPT_TOKENS)
			rpc_json_int(b, &dfirst, "prompt_tokens",
			             d->prompt_tokens);
		if (d->completion_tokens_set_case ==
		    SENTINEL__V1__EVENT_DATA__COMPLETION_TOKENS_SET_COMPLETION_TOKENS)
			rpc_json_int(b, &dfirst, "completion_tokens",
			             d->completion_tokens);
		if (d->cost_set_case == SENTINEL__V1__EVENT_DATA__COST_SET_COST)
			rpc_json_double(b, &dfirst, "cost", d->cost);
		rpc_json_opt_string(b, &dfirst, "model", d->model);
		for (i = 0; i < d->n_extra; i++) {
			rpc_json_key_esc(b, &dfirst,
			                 d->extra[i]->key ? d->extra[i]->key
			                                  : "");
			rpc_json_string(b, d->extra[i]->value
			                           ? d->extra[i]->value
			                           : "");
		}
		sn_buf_append(b, "}", 1);
	}
	sn_buf_append(b, "}\n", 2);
}

/* The payload's bytes in one slice (decompressed); unref it.  Returns
 * -1 when there is no payload.  A message in one uncompressed slice
 * (an event usually is) is taken as it is, without a copy. */
static int
rpc_payload_slice(grpc_byte_buffer *bb, grpc_slice *out)
{
	grpc_byte_buffer_reader rd;

	if (bb != NULL && bb->type == GRPC_BB_RAW &&
	    bb->data.raw.compression == GRPC_COMPRESS_NONE &&
	    bb->data.raw.slice_buffer.count == 1) {
		*out = grpc_slice_ref(bb->data.raw.slice_buffer.slices[0]);
		return 0;
	}
	if (bb == NULL || !grpc_byte_buffer_reader_init(&rd, bb))
		return -1;
	*out = grpc_byte_buffer_reader_readall(&rd);
	grpc_byte_buffer_reader_destroy(&rd);
	return 0;
}

/* Decodes a TelemetryEvent into r's body.  0, or -1 with r->err set. */
static int
rpc_decode_event(struct rpc *r, grpc_byte_buffer *bb)
{
	Sentinel__V1__TelemetryEvent *ev = NULL;
	grpc_slice s;

	if (rpc_payload_slice(bb, &s) == 0) {
		ev = sentinel__v1__telemetry_event__unpack(
		        NULL, GRPC_SLICE_LENGTH(s), GRPC_SLICE_START_PTR(s));
		grpc_slice_unref(s);
	}
	if (ev == NULL) {
		r->err = GRPC_STATUS_INVALID_ARGUMENT;
		snprintf(r->errmsg, sizeof(r->errmsg),
		         "message %u is not a sentinel.v1.TelemetryEvent",
		         r->nread);
		return -1;
	}
	rpc_event_json(&r->body, ev);
	r->nbody++;
	r->nread++;
	sentinel__v1__telemetry_event__free_unpacked(ev, NULL);
	return 0;
}

/* Decodes an EventBatch into r's body. */
static void
rpc_decode_batch(struct rpc *r)
{
	Sentinel__V1__EventBatch *b = NULL;
	grpc_slice s;
	size_t i;

	if (rpc_payload_slice(r->payload, &s) == 0) {
		b = sentinel__v1__event_batch__unpack(
		        NULL, GRPC_SLICE_LENGTH(s), GRPC_SLICE_START_PTR(s));
		grpc_slice_unref(s);
	}
	if (b == NULL) {
		r->err = GRPC_STATUS_INVALID_ARGUMENT;
		snprintf(r->errmsg, sizeof(r->errmsg),
		         "the request is not a sentinel.v1.EventBatch");
		return;
	}
	for (i = 0; i < b->n_events; i++) {
		rpc_event_json(&r->body, b->events[i]);
		r->nbody++;
	}
	sentinel__v1__event_batch__free_unpacked(b, NULL);
}

static void
rpc_decode_health(struct rpc *r)
{
	Grpc__Health__V1__HealthCheckRequest *q = NULL;
	grpc_slice s;

	if (rpc_payload_slice(r->payload, &s) == 0) {
		q = grpc__health__v1__health_check_request__unpack(
		        NULL, GRPC_SLICE_LENGTH(s), GRPC_SLICE_START_PTR(s));
		grpc_slice_unref(s);
	}
	if (q == NULL) {
		r->err = GRPC_STATUS_INVALID_ARGUMENT;
		snprintf(r->errmsg, sizeof(r->errmsg),
		         "the request is not a "
		         "grpc.health.v1.HealthCheckRequest");
		return;
	}
	r->service = sn_xstrdup(q->service ? q->service : "");
	grpc__health__v1__health_check_request__free_unpacked(q, NULL);
}

/* A copy of the value of metadata key, or NULL. */
static char *
rpc_metadata(const grpc_metadata_array *md, const char *key)
{
	size_t i, len;
	char *v;

	for (i = 0; i < md->count; i++) {
		if (grpc_slice_str_cmp(md->metadata[i].key, key) != 0)
			continue;
		len = GRPC_SLICE_LENGTH(md->metadata[i].value);
		v = sn_xmalloc(len + 1);
		memcpy(v, GRPC_SLICE_START_PTR(md->metadata[i].value), len);
		v[len] = '\0';
		return v;
	}
	return NULL;
}

/* --- calls (either thread, by ownership) ---------------------------------- */

static void
rpc_free(struct rpc *r)
{
	size_t i;

	if (r->call != NULL)
		grpc_call_unref(r->call);
	grpc_metadata_array_destroy(&r->md);
	if (r->payload != NULL)
		grpc_byte_buffer_destroy(r->payload);
	if (r->answer != NULL)
		grpc_byte_buffer_destroy(r->answer);
	if (r->has_details)
		grpc_slice_unref(r->details);
	free(r->authorization);
	free(r->x_api_key);
	free(r->service);
	sn_buf_free(&r->body);
	for (i = 0; i < r->acct.nrejects; i++) {
		free(r->acct.rejects[i].event_id);
		free(r->acct.rejects[i].field);
		free(r->acct.rejects[i].reason);
	}
	free(r->acct.rejects);
	r->g->live--;
	free(r);
}

/*
 * Sends the answer (msg, packed by the caller; NULL for none) and the
 * status, and waits for the close: the last batch of the call.  From
 * whichever thread owns r, which gives it up here.
 */
static void
rpc_finish(struct rpc *r, grpc_status_code code, const char *details,
           const ProtobufCMessage *msg)
{
	grpc_op ops[4];
	grpc_call_error e;
	size_t n = 0, len;
	grpc_slice s;

	memset(ops, 0, sizeof(ops));
	ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
	if (msg != NULL && code == GRPC_STATUS_OK) {
		len = protobuf_c_message_get_packed_size(msg);
		s = grpc_slice_malloc(len);
		protobuf_c_message_pack(msg, GRPC_SLICE_START_PTR(s));
		r->answer = grpc_raw_byte_buffer_create(&s, 1);
		grpc_slice_unref(s);
		ops[n].op = GRPC_OP_SEND_MESSAGE;
		ops[n++].data.send_message.send_message = r->answer;
	}
	r->details = grpc_slice_from_copied_string(details ? details : "");
	r->has_details = 1;
	ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
	ops[n].data.send_status_from_server.status = code;
	ops[n++].data.send_status_from_server.status_details = &r->details;
	ops[n].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
	ops[n++].data.recv_close_on_server.cancelled = &r->cancelled;
	r->state = RPC_ST_FINISHING;
	if ((e = grpc_call_start_batch(r->call, ops, n, r, NULL)) !=
	    GRPC_CALL_OK)
		/* a broken invariant of ours, not the client's doing */
		fatalx("gRPC: cannot answer a call: %s",
		       grpc_call_error_to_string(e));
}

/* Reads the next message of a stream (the completion comes to the gRPC
 * thread, which owns r from here). */
static void
rpc_read(struct rpc *r)
{
	grpc_op op;
	grpc_call_error e;

	memset(&op, 0, sizeof(op));
	op.op = GRPC_OP_RECV_MESSAGE;
	op.data.recv_message.recv_message = &r->payload;
	r->state = RPC_ST_READING;
	if ((e = grpc_call_start_batch(r->call, &op, 1, r, NULL)) !=
	    GRPC_CALL_OK)
		fatalx("gRPC: cannot read a stream: %s",
		       grpc_call_error_to_string(e));
}

/* --- the gRPC thread ------------------------------------------------------ */

/* Asks for the next call of kind. */
static void
rpc_accept(struct gsrv *g, enum rpc_kind kind)
{
	struct rpc *r = sn_xcalloc(1, sizeof(*r));
	grpc_call_error e;

	r->g = g;
	r->kind = kind;
	r->state = RPC_ST_ACCEPTING;
	grpc_metadata_array_init(&r->md);
	g->live++;
	e = grpc_server_request_registered_call(
	        g->server, g->methods[kind], &r->call, &r->deadline, &r->md,
	        rpc_methods[kind].payload ? &r->payload : NULL, g->cq, g->cq,
	        r);
	if (e != GRPC_CALL_OK) {
		/* the server is shutting down */
		rpc_free(r);
	}
}

/* Hands r to the loop; answers it here when the loop is gone. */
static void
rpc_to_loop(struct gsrv *g, struct rpc *r)
{
	uint64_t one = 1;
	int closing, wake;

	pthread_mutex_lock(&g->mu);
	closing = g->closing;
	wake = STAILQ_EMPTY(&g->queue);
	if (!closing)
		STAILQ_INSERT_TAIL(&g->queue, r, q);
	pthread_mutex_unlock(&g->mu);
	if (closing) {
		rpc_finish(r, GRPC_STATUS_UNAVAILABLE, "shutting down", NULL);
		return;
	}
	if (wake && write(g->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		fatal("gRPC: eventfd");
}

/* A call was accepted (ok: it is a call; else the server stops). */
static void
rpc_on_accepted(struct gsrv *g, struct rpc *r, int ok)
{
	if (!ok) {
		rpc_free(r);
		return;
	}
	rpc_accept(g, r->kind); /* the next one */
	r->authorization = rpc_metadata(&r->md, "authorization");
	r->x_api_key = rpc_metadata(&r->md, "x-api-key");
	switch (r->kind) {
	case RPC_SEND_EVENT:
		(void)rpc_decode_event(r, r->payload);
		r->end = 1;
		break;
	case RPC_SEND_EVENTS:
		rpc_decode_batch(r);
		r->end = 1;
		break;
	case RPC_HEALTH_CHECK:
		rpc_decode_health(r);
		r->end = 1;
		break;
	case RPC_HEALTH_WATCH:
		rpc_finish(r, GRPC_STATUS_UNIMPLEMENTED,
		           "Watch is not served: use Check", NULL);
		return;
	case RPC_STREAM_EVENTS:
	default:
		rpc_read(r);
		return;
	}
	if (r->payload != NULL) {
		grpc_byte_buffer_destroy(r->payload);
		r->payload = NULL;
	}
	rpc_to_loop(g, r);
}

/* A message of a stream came (or its end: no payload). */
static void
rpc_on_read(struct gsrv *g, struct rpc *r, int ok)
{
	grpc_byte_buffer *bb = r->payload;

	r->payload = NULL;
	if (!ok || bb == NULL) {
		/* half-closed, or gone: what was read goes to the loop */
		r->end = 1;
		rpc_to_loop(g, r);
		return;
	}
	if (rpc_decode_event(r, bb) < 0)
		r->end = 1;
	grpc_byte_buffer_destroy(bb);
	if (r->end || r->nbody >= RPC_PIECE_EVENTS ||
	    r->body.len >= RPC_PIECE_BYTES)
		rpc_to_loop(g, r);
	else
		rpc_read(r);
}

static void *
gsrv_thread(void *arg)
{
	struct gsrv *g = arg;
	grpc_event ev;
	struct rpc *r;
	int k;

	for (k = 0; k < RPC_NKINDS; k++) {
		int i;

		for (i = 0; i < RPC_ACCEPT_AHEAD; i++)
			rpc_accept(g, (enum rpc_kind)k);
	}
	for (;;) {
		ev = grpc_completion_queue_next(
		        g->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
		if (ev.type == GRPC_QUEUE_SHUTDOWN)
			break;
		if (ev.type != GRPC_OP_COMPLETE)
			continue;
		if (ev.tag == &gsrv_shutdown_tag) {
			g->shutdown_seen = 1;
		} else {
			r = ev.tag;
			switch (r->state) {
			case RPC_ST_ACCEPTING:
				rpc_on_accepted(g, r, ev.success);
				break;
			case RPC_ST_READING:
				rpc_on_read(g, r, ev.success);
				break;
			case RPC_ST_FINISHING:
			default:
				rpc_free(r);
				break;
			}
		}
		/* Every call is over once the server says so and none is
		 * left: nothing can post to the queue any more. */
		if (g->shutdown_seen && g->live == 0 && !g->cq_down) {
			g->cq_down = 1;
			grpc_completion_queue_shutdown(g->cq);
		}
	}
	return NULL;
}

/* --- the loop ------------------------------------------------------------- */

/* The Health answer. */
static void
rpc_answer_health(struct gsrv *g, struct rpc *r)
{
	Grpc__Health__V1__HealthCheckResponse resp =
	        GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;
	const char *reason;

	if (strcmp(r->service, "") != 0 &&
	    strcmp(r->service, "sentinel.v1.TelemetryService") != 0) {
		rpc_finish(r, GRPC_STATUS_NOT_FOUND, "unknown service", NULL);
		return;
	}
	resp.status =
	        !g->stopping && http_readiness(g->h, NULL, &reason)
	                ? GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING
	                : GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING;
	rpc_finish(r, GRPC_STATUS_OK, NULL, &resp.base);
}

/* Sets the call's failure (the first one wins). */
static void rpc_fail(struct rpc *r, grpc_status_code code, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
static void
rpc_fail(struct rpc *r, grpc_status_code code, const char *fmt, ...)
{
	va_list ap;

	if (r->acct.failed != GRPC_STATUS_OK)
		return;
	r->acct.failed = code;
	va_start(ap, fmt);
	vsnprintf(r->acct.failmsg, sizeof(r->acct.failmsg), fmt, ap);
	va_end(ap);
}

/* The answer of an events call whose pieces are all settled. */
static void
rpc_answer_events(struct rpc *r)
{
	struct rpc_acct *a = &r->acct;
	Sentinel__V1__SendResult one = SENTINEL__V1__SEND_RESULT__INIT;
	Sentinel__V1__BatchResult res = SENTINEL__V1__BATCH_RESULT__INIT;
	Sentinel__V1__Rejection *rj = NULL, **rjp = NULL;
	size_t i;

	if (a->failed != GRPC_STATUS_OK) {
		if (a->accepted > 0 && r->kind == RPC_STREAM_EVENTS) {
			char msg[sizeof(a->failmsg) + 80];

			snprintf(msg, sizeof(msg),
			         "%s (the first %u events were accepted)",
			         a->failmsg, a->accepted);
			rpc_finish(r, (grpc_status_code)a->failed, msg, NULL);
		} else
			rpc_finish(r, (grpc_status_code)a->failed, a->failmsg,
			           NULL);
		return;
	}
	if (a->events == 0) {
		rpc_finish(r, GRPC_STATUS_INVALID_ARGUMENT, "no events", NULL);
		return;
	}
	if (a->accepted == 0) {
		/* every event rejected: HTTP's 400 */
		char msg[600];
		const struct rpc_reject *f = &a->rejects[0];

		if (r->kind == RPC_SEND_EVENT)
			snprintf(msg, sizeof(msg), "invalid event: %s: %s",
			         f->field, f->reason);
		else
			snprintf(msg, sizeof(msg),
			         "every event was rejected; the first, at "
			         "index %u: %s: %s",
			         f->index, f->field, f->reason);
		rpc_finish(r, GRPC_STATUS_INVALID_ARGUMENT, msg, NULL);
		return;
	}
	if (r->kind == RPC_SEND_EVENT) {
		one.event_id = a->first_id;
		rpc_finish(r, GRPC_STATUS_OK, NULL, &one.base);
		return;
	}
	res.accepted = a->accepted;
	res.rejected_total = a->rejected;
	if (a->nrejects > 0) {
		rj = sn_xcalloc(a->nrejects, sizeof(*rj));
		rjp = sn_xcalloc(a->nrejects, sizeof(*rjp));
		for (i = 0; i < a->nrejects; i++) {
			sentinel__v1__rejection__init(&rj[i]);
			rj[i].index = a->rejects[i].index;
			rj[i].event_id = a->rejects[i].event_id;
			rj[i].field = a->rejects[i].field;
			rj[i].reason = a->rejects[i].reason;
			rjp[i] = &rj[i];
		}
	}
	res.n_rejected = a->nrejects;
	res.rejected = rjp;
	rpc_finish(r, GRPC_STATUS_OK, NULL, &res.base); /* packs now */
	free(rj);
	free(rjp);
}

/* The loop owns r and nothing is left in the pipeline: answer it, or
 * read on.  r is the gRPC thread's after this. */
static void
rpc_next(struct rpc *r)
{
	if (r->acct.outstanding > 0)
		return; /* rpc_piece_done comes back */
	if (r->acct.ended || r->acct.failed != GRPC_STATUS_OK)
		rpc_answer_events(r);
}

/* A piece of a call in the pipeline. */
struct rpc_piece {
	struct rpc *r;
	uint32_t n;
};

/* http_ingest's answer for a piece: durable, or not (failed). */
static void
rpc_piece_done(void *arg, const char *failed)
{
	struct rpc_piece *p = arg;
	struct rpc *r = p->r;

	r->acct.outstanding--;
	if (failed != NULL)
		rpc_fail(r,
		         fwd_refusal_status(r->g->h->fwd) == 429
		                 ? GRPC_STATUS_RESOURCE_EXHAUSTED
		                 : GRPC_STATUS_UNAVAILABLE,
		         "%s", failed);
	else
		r->acct.accepted += p->n;
	free(p);
	/* the loop owns r only once its last piece came */
	if (r->acct.ended)
		rpc_next(r);
}

/* Keeps a stream's rejection (up to RPC_MAX_REJECTIONS). */
static void
rpc_keep_reject(struct rpc_acct *a, uint32_t index, const char *event_id,
                const char *field, const char *reason)
{
	struct rpc_reject *x;

	a->rejected++;
	if (a->nrejects >= RPC_MAX_REJECTIONS)
		return;
	if (a->nrejects == a->cap) {
		a->cap = a->cap ? a->cap * 2 : 8;
		x = realloc(a->rejects, a->cap * sizeof(*x));
		if (x == NULL)
			fatalx("out of memory");
		a->rejects = x;
	}
	x = &a->rejects[a->nrejects++];
	x->index = index;
	x->event_id = sn_xstrdup(event_id);
	x->field = sn_xstrdup(field);
	x->reason = sn_xstrdup(reason);
}

/* Logs a refusal for a key (rate-limited like HTTP's). */
static void
rpc_seclog(struct gsrv *g, int forbidden, const char *why)
{
	http_count(g->h,
	           forbidden ? HTTP_ERR_FORBIDDEN : HTTP_ERR_UNAUTHORIZED);
	http_seclog(g->h,
	            forbidden ? HTTP_SECLOG_FORBIDDEN
	                      : HTTP_SECLOG_UNAUTHORIZED,
	            NULL,
	            forbidden ? "gRPC call refused: API key not allowed"
	                      : "gRPC call refused: no valid API key",
	            json_pack("{s:s}", "reason", why));
}

/*
 * The API key of r: 1 when it may send events (*key its key, NULL with
 * auth off), else 0 with r failed UNAUTHENTICATED or PERMISSION_DENIED.
 * Checked on every piece, so a key revoked by a reload stops a stream.
 */
static int
rpc_authorize(struct gsrv *g, struct rpc *r, const struct auth_key **key)
{
	const char *why;

	switch (http_check_key(g->h, r->authorization, r->x_api_key,
	                       AUTH_SCOPE_INGEST, key, &why)) {
	case HTTP_KEY_OK:
		return 1;
	case HTTP_KEY_FORBIDDEN:
		rpc_seclog(g, 1, why);
		rpc_fail(r, GRPC_STATUS_PERMISSION_DENIED, "%s", why);
		return 0;
	default:
		rpc_seclog(g, 0, why);
		rpc_fail(r, GRPC_STATUS_UNAUTHENTICATED, "%s", why);
		return 0;
	}
}

/* Drops from res the events k may not send, as rejections of a stream. */
static void
rpc_drop_foreign(struct rpc *r, const struct auth_key *k,
                 struct ingest_result *res, uint32_t base)
{
	size_t i, kept = 0;
	char why[400];

	for (i = 0; i < res->nevents; i++) {
		const struct sn_event *ev = &res->events[i].ev;

		if (auth_may_send(k, ev->application_id.p,
		                  ev->application_id.len)) {
			res->events[kept++] = res->events[i];
			continue;
		}
		snprintf(why, sizeof(why),
		         "this API key may not send events for "
		         "application_id \"%.256s\"",
		         ev->application_id.p);
		http_count(r->g->h, HTTP_ERR_FORBIDDEN);
		rpc_keep_reject(&r->acct, base + res->events[i].index,
		                ev->event_id.p, "application_id", why);
	}
	res->nevents = kept;
}

/* Validates and spools a piece of events of r (the loop owns r). */
static void
rpc_take_events(struct gsrv *g, struct rpc *r)
{
	struct http_server *h = g->h;
	struct rpc_acct *a = &r->acct;
	uint32_t base = a->events;
	const struct auth_key *key;
	struct ingest_result res;
	struct ingest_opts opts;
	struct rpc_piece *p;
	const char *failed, *app;
	enum ingest_status st;
	size_t i;
	int rc;

	if (r->end)
		a->ended = 1;
	if (a->failed != GRPC_STATUS_OK)
		goto out; /* a stream refused earlier: drop the rest */
	if (g->stopping) {
		http_count(h, HTTP_ERR_SHUTTING_DOWN);
		rpc_fail(r, GRPC_STATUS_UNAVAILABLE, "shutting down");
		goto out;
	}
	if (!rpc_authorize(g, r, &key))
		goto out;
	if (r->err != GRPC_STATUS_OK) {
		http_count(h, HTTP_ERR_INVALID_JSON);
		rpc_fail(r, (grpc_status_code)r->err, "%s", r->errmsg);
		goto out;
	}
	if (r->nbody == 0)
		goto out;
	if (r->kind == RPC_SEND_EVENTS && r->nbody > h->max_events) {
		http_count(h, HTTP_ERR_BATCH_TOO_LARGE);
		rpc_fail(r, GRPC_STATUS_INVALID_ARGUMENT,
		         "batch too large: %u events, at most %u "
		         "(ingestion.http.max_batch_size)",
		         r->nbody, h->max_events);
		goto out;
	}
	memset(&res, 0, sizeof(res));
	http_parse_opts(h, r->nbody, &opts);
	st = ingest_parse((const char *)r->body.data, r->body.len,
	                  INGEST_BODY_NDJSON, &opts, &res);
	a->events += r->nbody;
	if (st != INGEST_OK) {
		/* out of memory: our lines are never malformed as a whole */
		http_count(h, HTTP_ERR_OUT_OF_MEMORY);
		rpc_fail(r, GRPC_STATUS_UNAVAILABLE, "%s", res.reason);
		ingest_result_free(&res);
		goto out;
	}
	http_count_rejects(h, &res);
	for (i = 0; i < res.nrejects; i++) {
		const struct ingest_reject *x = &res.rejects[i];

		rpc_keep_reject(a, base + x->index, x->event_id, x->field,
		                x->reason);
	}
	if (key != NULL && key->napps > 0) {
		if (r->kind == RPC_STREAM_EVENTS)
			rpc_drop_foreign(r, key, &res, base);
		else if ((app = http_foreign_app(key, &res)) != NULL) {
			/* HTTP's 403: nothing of the request is taken */
			rpc_seclog(g, 1, "key bound to other applications");
			rpc_fail(r, GRPC_STATUS_PERMISSION_DENIED,
			         "this API key may not send events for "
			         "application_id \"%.256s\"; nothing of the "
			         "request was accepted",
			         app);
			ingest_result_free(&res);
			goto out;
		}
	}
	if (res.nevents > 0) {
		if (a->first_id[0] == '\0')
			snprintf(a->first_id, sizeof(a->first_id), "%s",
			         res.events[0].ev.event_id.p);
		p = sn_xcalloc(1, sizeof(*p));
		p->r = r;
		p->n = (uint32_t)res.nevents;
		rc = http_ingest(h, &res, rpc_piece_done, p, &failed);
		if (rc == 0)
			a->outstanding++;
		else {
			free(p);
			if (rc == -2)
				http_count(h, HTTP_ERR_OUT_OF_MEMORY);
			rpc_fail(r,
			         rc == -1 && fwd_refusal_status(h->fwd) == 429
			                 ? GRPC_STATUS_RESOURCE_EXHAUSTED
			                 : GRPC_STATUS_UNAVAILABLE,
			         "%s", failed);
		}
	}
	ingest_result_free(&res);
out:
	sn_buf_reset(&r->body);
	r->nbody = 0;
	if (!a->ended && a->failed == GRPC_STATUS_OK) {
		rpc_read(r); /* the gRPC thread's again */
		return;
	}
	/* A refused stream is answered at once, once its pieces settled:
	 * the rest of what the client sends is not read. */
	a->ended = 1;
	rpc_next(r);
}

/* eventfd: pieces from the gRPC thread. */
static void
gsrv_on_queue(evutil_socket_t fd, short what, void *arg)
{
	struct gsrv *g = arg;
	struct rpc_queue q;
	struct rpc *r;
	uint64_t n;

	(void)what;
	if (read(fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		log_warn("gRPC: eventfd");
	pthread_mutex_lock(&g->mu);
	STAILQ_INIT(&q);
	STAILQ_CONCAT(&q, &g->queue);
	pthread_mutex_unlock(&g->mu);
	while ((r = STAILQ_FIRST(&q)) != NULL) {
		STAILQ_REMOVE_HEAD(&q, q);
		if (r->kind == RPC_HEALTH_CHECK) {
			if (r->err != GRPC_STATUS_OK)
				rpc_finish(r, (grpc_status_code)r->err,
				           r->errmsg, NULL);
			else
				rpc_answer_health(g, r);
			continue;
		}
		rpc_take_events(g, r);
	}
}

/* --- start and stop --------------------------------------------------------
 */

/* gRPC core's own log lines, as JSON lines on stderr (any thread: one
 * fprintf each, which stdio locks). */
static void
gsrv_gpr_log(gpr_log_func_args *a)
{
	struct sn_buf b = {0};

	sn_buf_printf(&b,
	              "{\"level\":\"%s\",\"daemon\":\"ingestd\","
	              "\"msg\":",
	              a->severity == GPR_LOG_SEVERITY_ERROR ? "error" : "info");
	rpc_json_string(&b, a->message ? a->message : "");
	sn_buf_printf(&b, ",\"source\":\"grpc\",\"file\":");
	rpc_json_string(&b, a->file ? a->file : "");
	sn_buf_printf(&b, ",\"line\":%d}\n", a->line);
	fwrite(b.data, 1, b.len, stderr);
	sn_buf_free(&b);
}

/* The whole of a PEM file, NUL-terminated; NULL (logged) on failure. */
static char *
gsrv_read_file(const char *path)
{
	struct sn_buf b = {0};
	char chunk[4096];
	size_t n;
	FILE *f;

	if ((f = fopen(path, "r")) == NULL) {
		log_error("ingestion.grpc.tls: %s: %s", path, strerror(errno));
		return NULL;
	}
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		sn_buf_append(&b, chunk, n);
	fclose(f);
	sn_buf_append(&b, "", 1);
	return (char *)b.data;
}

/*
 * The server's credentials: TLS with ingestion.grpc.tls, else none.
 * The files are checked first by tls.c's loader (the same messages as
 * HTTP's: a bad certificate is a config error, exit 2).  NULL (logged)
 * on failure.
 */
static grpc_server_credentials *
gsrv_credentials(const struct sn_config *cfg)
{
	const struct sn_tls *t = &cfg->grpc.tls;
	struct sn_cfg_errors errs = {0};
	grpc_ssl_pem_key_cert_pair pair;
	grpc_server_credentials *c;
	struct tls_conf *tc;
	char *cert, *key, *ca = NULL;
	size_t i;

	if (!t->enabled)
		return grpc_insecure_server_credentials_create();
	if ((tc = tls_conf_new(t, &errs)) == NULL || errs.count > 0) {
		for (i = 0; i < errs.count; i++)
			log_error("ingestion.grpc.tls: %s", errs.msgs[i]);
		cfg_errors_free(&errs);
		tls_conf_free(tc);
		return NULL;
	}
	log_kv(LOG_LEVEL_INFO, "gRPC TLS certificate loaded", "subject",
	       tc->subject, "not_after", tc->not_after, "sha256", tc->sha256,
	       "client_certificates", tc->mtls ? "required" : "not asked",
	       NULL);
	tls_conf_free(tc);
	cert = gsrv_read_file(t->cert_file);
	key = gsrv_read_file(t->key_file);
	if (t->client_ca_file != NULL)
		ca = gsrv_read_file(t->client_ca_file);
	if (cert == NULL || key == NULL ||
	    (t->client_ca_file != NULL && ca == NULL)) {
		free(cert);
		free(key);
		free(ca);
		return NULL;
	}
	pair.private_key = key;
	pair.cert_chain = cert;
	c = grpc_ssl_server_credentials_create_ex(
	        ca, &pair, 1,
	        ca != NULL
	                ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
	                : GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE,
	        NULL);
	/* gRPC copied them */
	explicit_bzero(key, strlen(key));
	free(cert);
	free(key);
	free(ca);
	if (c == NULL)
		log_error("ingestion.grpc.tls: gRPC refused the certificate "
		          "or key");
	return c;
}

/* Frees what gsrv_open made, up to where it got. */
static void
gsrv_free(struct gsrv *g)
{
	if (g->server != NULL)
		grpc_server_destroy(g->server);
	if (g->cq != NULL) {
		if (!g->thread_started) {
			grpc_completion_queue_shutdown(g->cq);
			while (grpc_completion_queue_next(
			               g->cq,
			               gpr_inf_future(GPR_CLOCK_REALTIME), NULL)
			               .type != GRPC_QUEUE_SHUTDOWN)
				;
		}
		grpc_completion_queue_destroy(g->cq);
	}
	if (g->ev != NULL)
		event_free(g->ev);
	if (g->efd >= 0)
		close(g->efd);
	pthread_mutex_destroy(&g->mu);
	free(g);
	grpc_shutdown_blocking();
}

int
gsrv_open(struct gsrv **out, struct sn_daemon *d, struct http_server *h)
{
	const struct sn_config *cfg = d->cfg;
	grpc_server_credentials *creds;
	grpc_arg args[3];
	grpc_channel_args cargs;
	char addr[300];
	struct gsrv *g;
	int k, max_msg;

	*out = NULL;
	gpr_set_log_function(gsrv_gpr_log);
	gpr_set_log_verbosity(GPR_LOG_SEVERITY_ERROR);
	grpc_init();
	g = sn_xcalloc(1, sizeof(*g));
	g->h = h;
	g->efd = -1;
	pthread_mutex_init(&g->mu, NULL);
	STAILQ_INIT(&g->queue);
	if ((creds = gsrv_credentials(cfg)) == NULL) {
		gsrv_free(g);
		return -2;
	}
	/* A message is at most what an HTTP body may be. */
	max_msg = cfg->http.max_body_bytes > (uint64_t)INT32_MAX
	                  ? INT32_MAX
	                  : (int)cfg->http.max_body_bytes;
	args[0].type = GRPC_ARG_INTEGER;
	args[0].key = (char *)GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
	args[0].value.integer = max_msg;
	/* gRPC sets SO_REUSEPORT by default: a second ingestd would then
	 * share the port instead of being told it is busy. */
	args[1].type = GRPC_ARG_INTEGER;
	args[1].key = (char *)GRPC_ARG_ALLOW_REUSEPORT;
	args[1].value.integer = 0;
	args[2].type = GRPC_ARG_INTEGER;
	args[2].key = (char *)GRPC_ARG_ENABLE_CHANNELZ;
	args[2].value.integer = 0;
	cargs.num_args = 3;
	cargs.args = args;
	g->server = grpc_server_create(&cargs, NULL);
	g->cq = grpc_completion_queue_create_for_next(NULL);
	grpc_server_register_completion_queue(g->server, g->cq, NULL);
	for (k = 0; k < RPC_NKINDS; k++) {
		g->methods[k] = grpc_server_register_method(
		        g->server, rpc_methods[k].path, NULL,
		        rpc_methods[k].payload
		                ? GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER
		                : GRPC_SRM_PAYLOAD_NONE,
		        0);
		if (g->methods[k] == NULL)
			fatalx("gRPC: cannot register %s", rpc_methods[k].path);
	}
	snprintf(addr, sizeof(addr),
	         strchr(cfg->http.host, ':') ? "[%s]:%d" : "%s:%d",
	         cfg->http.host, cfg->grpc.port);
	g->port = grpc_server_add_http2_port(g->server, addr, creds);
	grpc_server_credentials_release(creds);
	if (g->port == 0) {
		log_error("cannot listen for gRPC on %s (ingestion.grpc.port): "
		          "the port is in use, or the address is not this "
		          "host's",
		          addr);
		gsrv_free(g);
		return -1;
	}
	if ((g->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0 ||
	    (g->ev = event_new(d->base, g->efd, EV_READ | EV_PERSIST,
	                       gsrv_on_queue, g)) == NULL ||
	    event_add(g->ev, NULL) < 0)
		fatal("gRPC: cannot make the queue's eventfd");
	grpc_server_start(g->server);
	if (pthread_create(&g->thread, NULL, gsrv_thread, g) != 0)
		fatalx("gRPC: cannot start its thread");
	g->thread_started = 1;
	log_kv(LOG_LEVEL_INFO, "gRPC listening", "address", addr, "tls",
	       cfg->grpc.tls.enabled ? "on" : "off", "auth",
	       h->auth != NULL ? "on" : "off", NULL);
	*out = g;
	return 0;
}

void
gsrv_stop(struct gsrv *g)
{
	if (g != NULL)
		g->stopping = 1;
}

void
gsrv_close(struct gsrv *g)
{
	struct rpc_queue q;
	struct rpc *r;

	if (g == NULL)
		return;
	/* What the loop did not take is answered here: its events are
	 * not durable. */
	pthread_mutex_lock(&g->mu);
	g->closing = 1;
	STAILQ_INIT(&q);
	STAILQ_CONCAT(&q, &g->queue);
	pthread_mutex_unlock(&g->mu);
	while ((r = STAILQ_FIRST(&q)) != NULL) {
		STAILQ_REMOVE_HEAD(&q, q);
		if (r->acct.outstanding > 0)
			/* unreachable: fwd_drain settled every piece */
			log_warnx("gRPC: a call left in the pipeline at stop");
		rpc_finish(r, GRPC_STATUS_UNAVAILABLE, "shutting down", NULL);
	}
	grpc_server_shutdown_and_notify(g->server, g->cq, &gsrv_shutdown_tag);
	grpc_server_cancel_all_calls(g->server);
	if (g->thread_started)
		pthread_join(g->thread, NULL);
	log_kv(LOG_LEVEL_INFO, "gRPC stopped", NULL);
	gsrv_free(g);
}
