/*
 * ingestd.h: the parts of sentinel-ingestd that live on the event loop.
 *
 *   forward.c   batches accepted events into SN_MSG_EVENTS messages and
 *               pushes them to stored and detectd
 *   setstate.c  the daemon set's state, as the supervisor publishes it
 *   http.c      the HTTP API (docs/http-api.md)
 *   query.c     the query endpoints, forwarded to stored's readers
 *   auth.c      API keys (auth.h); tls.c: TLS on the port (tls.h)
 *
 * validate.h holds the pure body validation they build on.
 */
#ifndef SN_INGESTD_H
#define SN_INGESTD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include "event.h"
#include "config.h"
#include "util.h"
#include "validate.h"

struct event_base;
struct event;
struct evhttp;
struct evhttp_bound_socket;
struct ipc_in;
struct ipc_out;
struct qproxy;
struct sn_daemon;
struct sn_config;
struct evhttp_request;
struct json_t;
struct auth;
struct auth_key;
struct tls_conf;

/* --- forward.c ------------------------------------------------------------ */

/*
 * A batch goes out when it reaches FWD_BATCH_BYTES or FWD_BATCH_EVENTS,
 * and otherwise at the end of the loop iteration that filled it: nng
 * moves some 50k messages a second over ipc://, so one message must
 * carry many events, yet a lone event must not wait.  Every batch costs
 * a spool record, a read back and a message to each consumer, with the
 * wake-ups of their threads: 256 KB instead of 64 KB took 15 to 25%
 * off the CPU per event of ingestd, stored and detectd under 100-event
 * bodies (docs/performance.md).
 */
#define FWD_BATCH_BYTES  (256u * 1024)
#define FWD_BATCH_EVENTS 2048
/* Bytes of batches handed to a consumer's socket ahead of it; the rest
 * waits in the spool. */
#define FWD_QUEUE_BYTES (8u * 1024 * 1024)
/* Period of the pump: readers behind, batch-mode syncs, deletions. */
#define FWD_TICK_MS 50

enum fwd_sink_id {
	FWD_STORED = 0,
	FWD_DETECTD,
	FWD_NSINKS,
};

/*
 * Told once the events appended before fwd_wait are in the spool as
 * ingestion.durability promises (failed NULL), or could not be put there
 * (failed says why).
 */
typedef void (*fwd_done_cb)(void *arg, const char *failed);

/* A request waiting for its events to be durable; owned by the caller. */
struct fwd_waiter {
	TAILQ_ENTRY(fwd_waiter) entry;
	fwd_done_cb cb;
	void *arg;
	uint64_t mark; /* spool mark it waits for */
};
TAILQ_HEAD(fwd_waiters, fwd_waiter);

struct spool;
struct spool_reader;

/* A consumer of the spool: its socket, its reader, what it said. */
struct fwd_sink {
	const char *name;        /* "stored" */
	struct ipc_out *out;     /* push socket dialing <run_dir>/<name>.ipc */
	struct spool_reader *rd; /* where its next batch comes from */
	struct sn_buf buf;       /* a batch read, not yet taken by out */
	int has_buf;
	int placed;            /* a RESUME or ACK placed rd */
	uint64_t acked;        /* it made everything up to here durable */
	struct sn_series *lag; /* sentinel_consumer_lag_events */
	int64_t heard_mono;    /* its last cursor message, 0: never */
	uint64_t resumes;
};

struct fwd {
	struct fwd_sink sinks[FWD_NSINKS];
	struct spool *spool;
	struct ipc_in *cursors;     /* ingestd-cursor.ipc */
	struct sn_buf batch;        /* the SN_MSG_EVENTS message filling */
	uint64_t batch_first;       /* seq of its first event */
	struct event *flush_ev;     /* zero-timeout: end of iteration */
	struct event *tick_ev;      /* FWD_TICK_MS: readers, syncs, gc */
	struct fwd_waiters waiters; /* requests whose events are in batch */
	struct fwd_waiters syncing; /* appended, waiting to be durable */
	uint64_t next_seq;          /* next sequence number to give */
	uint64_t last_seq;          /* of the last event spooled: next prev */
	uint64_t run_base;          /* next_seq - 1 when this run started */
	uint64_t last_mark;         /* spool mark of the last batch */
	int durability;             /* enum sn_durability */
	uint64_t max_bytes;         /* ingestion.spool.max_size */
	int64_t stage_timeout_ms;
	int64_t start_mono;
	unsigned ticks;
	int refusal;          /* status of the last refusal: 429 or 503 */
	uint64_t sent_events; /* events spooled */
	uint64_t sent_batches;
	uint64_t failed_events; /* events refused or not spooled */
	int refusing;           /* last check refused (log transitions) */
};

/*
 * Opens the spool (cfg's ingestion.spool and durability), the push
 * sockets to stored.ipc and detectd.ipc and the cursor socket under
 * run_dir.  Sequence numbers go on from the spool's last, or from the
 * wall clock in microseconds when that is higher, so they keep
 * increasing across restarts.  Returns 0, or -1 (logged).
 */
int fwd_open(struct fwd *f, struct event_base *base,
             const struct sn_config *cfg);
/* Adopts the spool limits of a reloaded config. */
void fwd_set_limits(struct fwd *f, const struct sn_config *cfg);
/*
 * Says why about bytes more cannot be accepted now (the caller answers
 * before accepting anything: fwd_refusal_status gives 429 or 503), or
 * NULL when they can.
 */
const char *fwd_room(struct fwd *f, size_t bytes);
int fwd_refusal_status(const struct fwd *f);
/*
 * Gives ev the next sequence number and appends it to the batch,
 * spooling the batch when full.  Returns 0, or -1 when that failed
 * (*failed says why; the requests waiting on it were told).
 */
int fwd_append(struct fwd *f, struct sn_event *ev, const char **failed);
/* Calls cb once the events appended so far are durable (see
 * fwd_done_cb); at once when nothing is pending. */
void fwd_wait(struct fwd *f, struct fwd_waiter *w, fwd_done_cb cb, void *arg);
/* Spools the batch now; why it failed, or NULL. */
const char *fwd_flush(struct fwd *f);
/* Peers connected to consumer id's socket (0: the consumer is away). */
int fwd_peers(const struct fwd *f, enum fwd_sink_id id);
/* Shutdown: spools the batch, makes it durable, hands what it can to
 * the consumers within timeout_ms.  The sockets stay open until
 * fwd_close. */
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

/*
 * Why ingestion refused something, counted in http_server.errors (the
 * future sentinel_ingestion_errors_total{reason}).  Request-level reasons
 * count requests or connections; the event-level ones (invalid_field to
 * timestamp_out_of_window, and invalid_json for an NDJSON line) count
 * rejected events.  http_err_name gives the label.
 */
enum http_err {
	HTTP_ERR_BODY_TOO_LARGE = 0,   /* 413: over max_body_size */
	HTTP_ERR_HEADER_TOO_LARGE,     /* 431: over max_header_size */
	HTTP_ERR_MALFORMED_HTTP,       /* 400/417/501 from libevent */
	HTTP_ERR_TIMEOUT,              /* 408: header or body too slow */
	HTTP_ERR_TOO_MANY_CONNECTIONS, /* 503: over max_connections */
	HTTP_ERR_METHOD_NOT_ALLOWED,   /* 405 on the events path */
	HTTP_ERR_UNSUPPORTED_MEDIA,    /* 415 */
	HTTP_ERR_EMPTY_BODY,           /* 400: no events */
	HTTP_ERR_INVALID_JSON,         /* 400: malformed JSON */
	HTTP_ERR_BATCH_TOO_LARGE,      /* 413: over max_batch_size */
	HTTP_ERR_INVALID_FIELD,        /* per event ... */
	HTTP_ERR_STRING_TOO_LONG,
	HTTP_ERR_TOO_DEEP,
	HTTP_ERR_TOO_MANY_FIELDS,
	HTTP_ERR_NUMBER_OUT_OF_RANGE,
	HTTP_ERR_TIMESTAMP_OUT_OF_WINDOW,
	HTTP_ERR_TOO_MANY_REQUESTS,    /* 429: consumers behind */
	HTTP_ERR_PIPELINE_UNAVAILABLE, /* 503: a consumer away */
	HTTP_ERR_SHUTTING_DOWN,        /* 503 */
	HTTP_ERR_OUT_OF_MEMORY,        /* 503 */
	HTTP_ERR_UNAUTHORIZED,         /* 401: no API key, or a wrong one */
	HTTP_ERR_FORBIDDEN,            /* 403: a key used beyond its scope */
	HTTP_ERR_TLS_HANDSHAKE,        /* a TLS handshake failed */
	HTTP_NERR
};

/* Kinds of refusal logged at most once a second each (http.c). */
enum http_seclog_kind {
	HTTP_SECLOG_UNAUTHORIZED = 0,
	HTTP_SECLOG_FORBIDDEN,
	HTTP_SECLOG_TLS,
	HTTP_SECLOG_N
};

struct http_conn; /* one client connection, http.c */
TAILQ_HEAD(http_conns, http_conn);

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
	/* Limits of the config's limits block (http_set_limits). */
	uint32_t max_conns;
	uint64_t max_header;
	int64_t header_timeout_ms, body_timeout_ms, idle_timeout_ms;
	int64_t max_age_ms, max_future_ms;
	struct http_conns conns; /* every connection we watch */
	uint32_t nconns;
	int accept_paused; /* listener off: too many connections closing */
	uint64_t errors[HTTP_NERR];
	/* The exported metrics (common/metrics.h), looked up once. */
	struct sn_series *err_series[HTTP_NERR];
	struct sn_series *latency, *conn_gauge;
	/* ingestion.http.auth and .tls (http_set_security): NULL when off.
	 * Replaced whole on reload. */
	struct auth *auth;
	struct tls_conf *tls;
	struct {
		int64_t last_mono_ms; /* of the last line logged */
		uint64_t quiet;       /* refusals not logged since */
	} seclog[HTTP_SECLOG_N];
};

/*
 * Listens on host:port with the limits, API keys and TLS of d's config.
 * Returns 0, -1 (logged) when the socket cannot be bound, or -2 (logged)
 * when the keys or the certificate cannot be loaded: a configuration
 * problem, not worth a restart.
 */
int http_open(struct http_server *h, struct sn_daemon *d, struct fwd *f,
              struct setstate *s);
/*
 * Loads cfg's API keys (with its keys_file) and TLS certificate and puts
 * them in use for the requests and connections that follow; open
 * connections keep the certificate they were made with.  All or
 * nothing: on any problem each is logged, nothing changes and -1 is
 * returned.
 */
int http_set_security(struct http_server *h, const struct sn_config *cfg);
/*
 * The API key check of a route that needs one of scopes (AUTH_SCOPE_*
 * bits, auth.h).  Returns 1 when req may go on (*key is its key, NULL
 * when authentication is off), or 0 after answering 401 or 403.
 */
int http_authorize(struct http_server *h, struct evhttp_request *req,
                   unsigned scopes, const struct auth_key **key);
/*
 * Adopts cfg's ingestion limits (open, reload).  The connection cap,
 * deadlines, batch and window apply at once; header size and idle
 * timeout to connections accepted from now on.
 */
void http_set_limits(struct http_server *h, const struct sn_config *cfg);
void http_parse_opts(const struct http_server *h, uint32_t max_events,
                     struct ingest_opts *o);
/* --- shared with gRPC (grpc.c): one path after decoding ------------------ */

/* Counts one refusal for reason e (h->errors and the metric). */
void http_count(struct http_server *h, enum http_err e);
/* The counter of an event rejected for kind. */
enum http_err http_err_of_reject(enum ingest_reject_kind kind);
/* Counts res's rejected events (h->rejected and each one's reason). */
void http_count_rejects(struct http_server *h, const struct ingest_result *res);
/* Counts nevents refused by the pipeline; returns the status to answer
 * (429: consumers behind, 503: a consumer away or the spool failing). */
int http_count_refusal(struct http_server *h, size_t nevents);
/*
 * Hands every event of res (validated by ingest_parse) to the pipeline.
 * Returns 0: done(arg, failed) is called once, from the loop, when they
 * are durable (failed NULL; counted as accepted) or could not be made so
 * (counted as refused).  Returns -1 when the pipeline refuses them now
 * (counted; *failed says why, fwd_refusal_status gives 429 or 503) or -2
 * out of memory (nothing counted).  res stays the caller's.
 */
int http_ingest(struct http_server *h, const struct ingest_result *res,
                fwd_done_cb done, void *arg, const char **failed);
/* What http_check_key found. */
enum http_key_check {
	HTTP_KEY_OK = 0,    /* a key of the scope, or auth off */
	HTTP_KEY_MISSING,   /* no token (401) */
	HTTP_KEY_INVALID,   /* an unknown or revoked key (401) */
	HTTP_KEY_FORBIDDEN, /* a key of another scope (403) */
};
/*
 * The API key check of http_authorize on the header values (NULL when
 * absent), without answering or counting: *key is the key (NULL when
 * auth is off), *why the reason of a refusal.
 */
int http_check_key(struct http_server *h, const char *authorization,
                   const char *x_api_key, unsigned scopes,
                   const struct auth_key **key, const char **why);
/* The application_id of the first event of res that k may not send, or
 * NULL when it may send them all (k NULL: any). */
const char *http_foreign_app(const struct auth_key *k,
                             const struct ingest_result *res);
/* Logs a refusal for a security reason, at most a line a second per
 * kind (fields stolen; evcon may be NULL). */
struct evhttp_connection;
void http_seclog(struct http_server *h, enum http_seclog_kind kind,
                 struct evhttp_connection *evcon, const char *msg,
                 struct json_t *fields);
/*
 * /ready's notion of readiness: 1 when the set is up and both consumers
 * are connected; else 0 with *reason (or NULL) and the names of the
 * daemons waited for appended to waiting (a JSON array, may be NULL).
 */
int http_readiness(struct http_server *h, struct json_t *waiting,
                   const char **reason);

/* The label of a reason ("body_too_large"), and its count so far. */
const char *http_err_name(enum http_err e);
uint64_t http_err_count(const struct http_server *h, enum http_err e);
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
