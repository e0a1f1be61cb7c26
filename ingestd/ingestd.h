/*
 * ingestd.h: the parts of sentinel-ingestd that live on the event loop.
 *
 *   forward.c   batches accepted events into SN_MSG_EVENTS messages and
 *               pushes them to stored and detectd
 *   setstate.c  the daemon set's state, as the supervisor publishes it
 *   http.c      the HTTP API (docs/http-api.md)
 *   query.c     the query endpoints, forwarded to stored's readers
 *
 * validate.h holds the pure body validation they build on.
 */
#ifndef SN_INGESTD_H
#define SN_INGESTD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include "event.h"
#include "util.h"

struct event_base;
struct event;
struct evhttp;
struct evhttp_bound_socket;
struct ipc_in;
struct ipc_out;
struct qproxy;
struct sn_daemon;
struct evhttp_request;
struct json_t;

/* --- forward.c ------------------------------------------------------------ */

/*
 * A batch goes out when it reaches FWD_BATCH_BYTES or FWD_BATCH_EVENTS,
 * and otherwise at the end of the loop iteration that filled it: nng
 * moves some 50k messages a second over ipc://, so one message must
 * carry many events, yet a lone event must not wait.
 */
#define FWD_BATCH_BYTES  (64u * 1024)
#define FWD_BATCH_EVENTS 512
/* Bytes of batches held per consumer while it is slow or away; beyond
 * this, requests are refused with 503 (backpressure). */
#define FWD_QUEUE_BYTES (32u * 1024 * 1024)

enum fwd_sink_id {
	FWD_STORED = 0,
	FWD_DETECTD,
	FWD_NSINKS,
};

/*
 * Told once the batch holding the last events appended before
 * fwd_wait was handed to both consumers (failed NULL), or could not be
 * (failed names the consumer that refused it: "stored", "detectd").
 */
typedef void (*fwd_done_cb)(void *arg, const char *failed);

/* A request waiting for its events to go out; owned by the caller. */
struct fwd_waiter {
	TAILQ_ENTRY(fwd_waiter) entry;
	fwd_done_cb cb;
	void *arg;
};
TAILQ_HEAD(fwd_waiters, fwd_waiter);

struct fwd_sink {
	const char *name;    /* "stored" */
	struct ipc_out *out; /* push socket dialing <run_dir>/<name>.ipc */
};

struct fwd {
	struct fwd_sink sinks[FWD_NSINKS];
	struct sn_buf batch;        /* the SN_MSG_EVENTS message filling */
	struct event *flush_ev;     /* zero-timeout: end of iteration */
	struct fwd_waiters waiters; /* requests whose events are in batch */
	uint64_t next_seq;          /* next sequence number to give */
	uint64_t sent_events;       /* events handed to both consumers */
	uint64_t sent_batches;
	uint64_t failed_events; /* events in batches refused */
	int refusing;           /* last flush failed (log transitions) */
};

/*
 * Opens the push sockets to stored.ipc and detectd.ipc under run_dir.
 * Sequence numbers start at the wall clock in microseconds, so a
 * restarted ingestd goes on increasing.  Returns 0, or -1 (logged).
 */
int fwd_open(struct fwd *f, struct event_base *base, const char *run_dir);
/*
 * Names a consumer whose queue cannot take about bytes more (the caller
 * answers 503 before accepting anything), or NULL when there is room.
 */
const char *fwd_room(struct fwd *f, size_t bytes);
/* Encoded size of ev in a batch, for fwd_room. */
size_t fwd_event_size(const struct sn_event *ev);
/*
 * Gives ev the next sequence number and appends it to the batch,
 * sending the batch when full.  Returns 0, or -1 when that send was
 * refused (*failed names the consumer; the batch was dropped and the
 * requests waiting on it told).
 */
int fwd_append(struct fwd *f, struct sn_event *ev, const char **failed);
/* Calls cb once the events appended so far went out (see fwd_done_cb);
 * at once when nothing is pending. */
void fwd_wait(struct fwd *f, struct fwd_waiter *w, fwd_done_cb cb, void *arg);
/* Sends the batch now; the failing consumer's name or NULL. */
const char *fwd_flush(struct fwd *f);
/* Peers connected to consumer id's socket (0: the consumer is away). */
int fwd_peers(const struct fwd *f, enum fwd_sink_id id);
/* Shutdown: sends the batch and waits up to timeout_ms for the queues
 * to drain.  The sockets stay open until fwd_close. */
void fwd_drain(struct fwd *f, int timeout_ms);
void fwd_close(struct fwd *f);

/* --- setstate.c ------------------------------------------------------------
 */

#define SETSTATE_MAX      16   /* daemons in a set */
#define SETSTATE_FRESH_MS 5000 /* older state is stale */
#define SETSTATE_NAME_MAX 32

struct setstate_daemon {
	char name[SETSTATE_NAME_MAX]; /* "stored" */
	int state;                    /* enum sn_daemon_state */
	int32_t pid;
	int64_t since_ms; /* wall clock of the last change */
	uint32_t restarts;
};

struct setstate {
	struct ipc_in *in; /* sub socket on state.ipc */
	struct setstate_daemon daemons[SETSTATE_MAX];
	size_t ndaemons;
	int64_t recv_mono_ms; /* when the last good state came; 0: never */
	uint64_t bad;         /* malformed messages dropped */
};

/* Subscribes to <run_dir>/state.ipc.  Returns 0, or -1 (logged). */
int setstate_open(struct setstate *s, struct event_base *base,
                  const char *run_dir);
/*
 * Adopts one received message when it is a well-formed
 * SN_MSG_SET_STATE; anything else is counted and ignored.  Returns 0 or
 * -1.  now_mono_ms is the monotonic clock at receipt.
 */
int setstate_apply(struct setstate *s, const void *data, size_t len,
                   int64_t now_mono_ms);
/* 1 when a state arrived within SETSTATE_FRESH_MS of now_mono_ms. */
int setstate_fresh(const struct setstate *s, int64_t now_mono_ms);
void setstate_close(struct setstate *s);

/* --- http.c ----------------------------------------------------------------
 */

struct http_server {
	struct sn_daemon *d;
	struct evhttp *http;
	struct evhttp_bound_socket *sock; /* NULL once stopped */
	struct fwd *fwd;
	struct setstate *state;
	struct qproxy *query; /* GET /api/v1/events ... (query.c) */
	uint64_t max_body;    /* http.max_body_bytes */
	uint32_t max_events;  /* http.max_batch_events */
	int64_t start_mono_ms;
	int stopping; /* answer 503 to every new request */
	uint64_t accepted, rejected, refused; /* events, since start */
};

/*
 * Listens on host:port with the limits of d's config.  Returns 0, or -1
 * (logged) when the socket cannot be bound.
 */
int http_open(struct http_server *h, struct sn_daemon *d, struct fwd *f,
              struct setstate *s);
/* Adopts new body and batch limits (reload). */
void http_set_limits(struct http_server *h, uint64_t max_body,
                     uint32_t max_events);
/* Stops accepting connections; requests still arriving get 503. */
void http_stop(struct http_server *h);
void http_close(struct http_server *h);

/* Answers shared with query.c.  http_reply sends body (stolen; NULL: a
 * fixed 503) as JSON; http_error sends {"error","reason"}; http_unavailable
 * a 503 with Retry-After; http_method_ok answers 405 and returns 0 when
 * the method is not in allowed (EVHTTP_REQ_* bits). */
void http_reply(struct evhttp_request *req, int code, struct json_t *body);
void http_error(struct evhttp_request *req, int code, const char *error,
                const char *reason);
void http_unavailable(struct evhttp_request *req, const char *error,
                      const char *reason);
int http_method_ok(struct evhttp_request *req, int allowed, const char *allow);
const char *http_reason_phrase(int code);

/* --- query.c ---------------------------------------------------------------
 */

/*
 * The query API: GET /api/v1/events, /api/v1/events/{event_id},
 * /api/v1/anomalies and /api/v1/metrics/query, forwarded as JSON
 * requests to stored's readers (stored-query.ipc) without blocking the
 * loop; their answers are relayed as they come.
 */
#define QPROXY_SEND_TIMEOUT_MS 2000  /* for stored to take the request */
#define QPROXY_TIMEOUT_MS      10000 /* for its answer: then 504 */
#define QPROXY_MAX_INFLIGHT    64    /* beyond this, 503 */

/*
 * Dials stored-query.ipc under run_dir and registers the endpoints on
 * h->http.  Returns the proxy, or NULL (logged).
 */
struct qproxy *qproxy_open(struct http_server *h, struct event_base *base,
                           const char *run_dir);
/* Answers req when its path is /api/v1/events/{event_id} and returns 1;
 * 0 for any other path (the caller answers it). */
int qproxy_route(struct qproxy *qp, struct evhttp_request *req);
/* Closes the socket and forgets the requests in flight, unanswered
 * (call before evhttp_free, which frees them). */
void qproxy_close(struct qproxy *qp);

#endif
