/*
 * query.c: the query API of ingestd's HTTP server (docs/http-api.md),
 * forwarded to stored's reader threads (stored/query.h):
 *
 *   GET /api/v1/events                 events.list
 *   GET /api/v1/events/{event_id}      events.get
 *   GET /api/v1/anomalies              anomalies.list
 *   GET /api/v1/metrics/query          metrics.query
 *
 * Here only the API key (a query key, when ingestion.http.auth is on),
 * the path, the method and the query string's syntax are checked;
 * stored checks the parameters and answers {"status","body"}, which is
 * relayed as the HTTP status and body.
 *
 * The loop never waits for stored.  Each request gets an nng context on
 * one req socket (several queries in flight, each matched to its own
 * answer) and an aio whose callback runs on an nng thread.  That thread
 * must not touch libevent or evhttp, so the handoff is a mutex-protected
 * queue of finished calls plus an eventfd the loop watches: the callback
 * queues the call and writes the eventfd; the loop drains the queue and
 * answers.  (evthread_use_pthreads and event_active from the nng thread
 * would also do, but would make every loop lock-protected for the sake
 * of this one path.)
 *
 * Failures: stored known to be down (the supervisor's set state) or not
 * taking the request within QPROXY_SEND_TIMEOUT_MS: 503; no answer
 * within QPROXY_TIMEOUT_MS: 504.  Requests are never resent (a query
 * resent after a reconnect would only run twice).
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/queue.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <jansson.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>

#include "auth.h"
#include "ingestd.h"
#include "ipc.h"
#include "log.h"
#include "msg.h"

/* stored's endpoint, as stored/query.h names it (SN_IPC_STORED_QUERY). */
#define QPROXY_ENDPOINT "stored-query.ipc"
/* Largest answer taken from stored (a page of events is bounded there
 * by size as well as by count). */
#define QPROXY_MAX_REPLY (64u * 1024 * 1024)
#define QPROXY_EVENTS    "/api/v1/events"

/* One HTTP request waiting for stored. */
struct qproxy_call {
	TAILQ_ENTRY(qproxy_call) all;   /* loop thread only */
	STAILQ_ENTRY(qproxy_call) done; /* under qp->mu */
	struct qproxy *qp;
	struct evhttp_request *req;
	nng_ctx ctx;
	nng_aio *aio;
	int sending;    /* the aio's operation: 1 send, 0 receive */
	int result;     /* nng result of the last operation */
	nng_msg *reply; /* the answer, when result is 0 */
};

struct qproxy {
	struct http_server *h;
	nng_socket sock;
	int efd;            /* eventfd: nng threads -> loop */
	struct event *ev;   /* efd readable */
	pthread_mutex_t mu; /* guards done */
	STAILQ_HEAD(, qproxy_call) done;
	TAILQ_HEAD(, qproxy_call) all; /* in flight, loop only */
	unsigned inflight;
	uint64_t queries, failed; /* since start */
};

/* nng thread: an operation of c finished.  Starts the receive after a
 * send, else queues c for the loop. */
static void
qproxy_aio_cb(void *arg)
{
	struct qproxy_call *c = arg;
	struct qproxy *qp = c->qp;
	int rv = nng_aio_result(c->aio);

	if (c->sending && rv == 0) {
		c->sending = 0;
		nng_aio_set_timeout(c->aio, QPROXY_TIMEOUT_MS);
		nng_ctx_recv(c->ctx, c->aio);
		return;
	}
	if (c->sending) {
		/* Not sent: the message is still ours. */
		nng_msg_free(nng_aio_get_msg(c->aio));
		nng_aio_set_msg(c->aio, NULL);
	} else if (rv == 0)
		c->reply = nng_aio_get_msg(c->aio);
	c->result = rv;
	pthread_mutex_lock(&qp->mu);
	STAILQ_INSERT_TAIL(&qp->done, c, done);
	pthread_mutex_unlock(&qp->mu);
	/* Only the counter's overflow (2^64) could make this fail. */
	(void)eventfd_write(qp->efd, 1);
}

/* Ends a call: its context, its aio (waiting for its callback to
 * return) and its answer. */
static void
qproxy_call_free(struct qproxy_call *c)
{
	nng_ctx_close(c->ctx);
	nng_aio_free(c->aio);
	if (c->reply != NULL)
		nng_msg_free(c->reply);
	free(c);
}

/* Sends len bytes of JSON (a body from stored) with status code. */
static void
qproxy_send_raw(struct evhttp_request *req, int code, const char *body,
                size_t len)
{
	struct evkeyvalq *hdrs = evhttp_request_get_output_headers(req);
	struct evbuffer *buf;

	evhttp_add_header(hdrs, "Content-Type", "application/json");
	if (code == 503)
		evhttp_add_header(hdrs, "Retry-After", "1");
	if ((buf = evbuffer_new()) == NULL) {
		http_unavailable(req, "out of memory", NULL);
		return;
	}
	evbuffer_add(buf, body, len);
	evbuffer_add(buf, "\n", 1);
	evhttp_send_reply(req, code, http_reason_phrase(code), buf);
	evbuffer_free(buf);
}

/*
 * Relays stored's answer {"status":N,"body":{...}}.  stored writes the
 * status first and the body last, so the body's bytes are sliced out
 * and sent as they are; anything else is parsed the slow way, and an
 * answer that is not of that shape is a 502.
 */
static void
qproxy_relay(struct evhttp_request *req, const char *p, size_t len)
{
	static const char head[] = "{\"status\":";
	static const char mid[] = ",\"body\":";
	json_t *a, *body;
	size_t i;
	int code = 0;

	if (len > sizeof(head) + sizeof(mid) &&
	    memcmp(p, head, sizeof(head) - 1) == 0 && p[len - 1] == '}') {
		for (i = sizeof(head) - 1;
		     i < len && i < 16 && p[i] >= '0' && p[i] <= '9'; i++)
			code = code * 10 + (p[i] - '0');
		if (code >= 200 && code <= 599 && len - i > sizeof(mid) &&
		    memcmp(p + i, mid, sizeof(mid) - 1) == 0 &&
		    p[i + sizeof(mid) - 1] == '{') {
			i += sizeof(mid) - 1;
			qproxy_send_raw(req, code, p + i, len - 1 - i);
			return;
		}
	}
	a = json_loadb(p, len, 0, NULL);
	body = json_object_get(a, "body");
	code = (int)json_integer_value(json_object_get(a, "status"));
	if (json_is_object(body) && code >= 200 && code <= 599)
		http_reply(req, code, json_incref(body));
	else
		http_error(req, 502, "bad answer from storage", NULL);
	json_decref(a);
}

/* Loop: answers one finished call and frees it. */
static void
qproxy_finish(struct qproxy *qp, struct qproxy_call *c)
{
	TAILQ_REMOVE(&qp->all, c, all);
	qp->inflight--;
	if (c->result == 0) {
		qproxy_relay(c->req, nng_msg_body(c->reply),
		             nng_msg_len(c->reply));
	} else {
		qp->failed++;
		if (c->result == NNG_ETIMEDOUT && !c->sending)
			http_error(c->req, 504, "query timed out",
			           "storage did not answer in time");
		else if (c->result == NNG_ETIMEDOUT)
			http_unavailable(c->req, "storage unavailable",
			                 "stored is not taking queries");
		else
			http_unavailable(c->req, "storage unavailable",
			                 nng_strerror(c->result));
	}
	qproxy_call_free(c);
}

/* Loop: the eventfd says calls finished. */
static void
qproxy_on_done(evutil_socket_t fd, short what, void *arg)
{
	struct qproxy *qp = arg;
	STAILQ_HEAD(, qproxy_call) ready;
	struct qproxy_call *c;
	eventfd_t n;

	(void)what;
	(void)eventfd_read(fd, &n);
	STAILQ_INIT(&ready);
	pthread_mutex_lock(&qp->mu);
	STAILQ_CONCAT(&ready, &qp->done);
	pthread_mutex_unlock(&qp->mu);
	while ((c = STAILQ_FIRST(&ready)) != NULL) {
		STAILQ_REMOVE_HEAD(&ready, done);
		qproxy_finish(qp, c);
	}
}

/* The supervisor's word on stored: NULL when it is up or unknown, else
 * its state's name. */
static const char *
qproxy_stored_down(struct qproxy *qp)
{
	const struct setstate *s = qp->h->state;
	size_t i;

	if (s == NULL || !setstate_fresh(s, sn_mono_ms()))
		return NULL;
	for (i = 0; i < s->ndaemons; i++)
		if (strcmp(s->daemons[i].name, "stored") == 0)
			return s->daemons[i].state == SN_DAEMON_UP
			               ? NULL
			               : sn_daemon_state_name(
			                         s->daemons[i].state);
	return NULL;
}

/*
 * Sends {"command": command, "params": params (stolen)} to stored and
 * arranges for req to be answered with what comes back.
 */
static void
qproxy_forward(struct qproxy *qp, struct evhttp_request *req,
               const char *command, json_t *params)
{
	struct qproxy_call *c;
	const char *down;
	char reason[64];
	json_t *r;
	char *text;
	nng_msg *m;
	int rv;

	if (qp->h->stopping) {
		json_decref(params);
		http_unavailable(req, "shutting down", NULL);
		return;
	}
	if ((down = qproxy_stored_down(qp)) != NULL) {
		json_decref(params);
		snprintf(reason, sizeof(reason), "stored is not running (%s)",
		         down);
		http_unavailable(req, "storage unavailable", reason);
		return;
	}
	if (qp->inflight >= QPROXY_MAX_INFLIGHT) {
		json_decref(params);
		http_unavailable(req, "too many queries",
		                 "too many queries in flight; retry");
		return;
	}
	r = json_pack("{s:s, s:o}", "command", command, "params", params);
	text = r != NULL ? json_dumps(r, JSON_COMPACT) : NULL;
	json_decref(r);
	if (text == NULL || nng_msg_alloc(&m, 0) != 0) {
		free(text);
		http_unavailable(req, "out of memory", NULL);
		return;
	}
	rv = nng_msg_append(m, text, strlen(text));
	free(text);
	c = calloc(1, sizeof(*c));
	if (rv != 0 || c == NULL) {
		nng_msg_free(m);
		free(c);
		http_unavailable(req, "out of memory", NULL);
		return;
	}
	c->qp = qp;
	c->req = req;
	if ((rv = nng_ctx_open(&c->ctx, qp->sock)) != 0 ||
	    (rv = nng_aio_alloc(&c->aio, qproxy_aio_cb, c)) != 0) {
		if (rv != NNG_ENOMEM)
			log_warnx("query: %s", nng_strerror(rv));
		nng_ctx_close(c->ctx);
		nng_msg_free(m);
		free(c);
		http_unavailable(req, "storage unavailable", nng_strerror(rv));
		return;
	}
	TAILQ_INSERT_TAIL(&qp->all, c, all);
	qp->inflight++;
	qp->queries++;
	c->sending = 1;
	nng_aio_set_msg(c->aio, m);
	/* Sending waits for a connected stored; not forever. */
	nng_aio_set_timeout(c->aio, QPROXY_SEND_TIMEOUT_MS);
	nng_ctx_send(c->ctx, c->aio);
}

/*
 * The query string of req as a JSON object of strings, decoded ("%41"
 * is "A", "+" is a space, as forms encode).  On a malformed query
 * string answers 400 and returns NULL.
 */
static json_t *
qproxy_params(struct evhttp_request *req)
{
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *q = uri != NULL ? evhttp_uri_get_query(uri) : NULL;
	json_t *params = json_object(), *js;
	char *copy, *part, *save = NULL, *eq, *k, *v;
	size_t klen, vlen;
	int bad = 0;

	if (params == NULL) {
		http_unavailable(req, "out of memory", NULL);
		return NULL;
	}
	if (q == NULL || *q == '\0')
		return params;
	if ((copy = strdup(q)) == NULL) {
		json_decref(params);
		http_unavailable(req, "out of memory", NULL);
		return NULL;
	}
	for (part = strtok_r(copy, "&", &save); part != NULL && !bad;
	     part = strtok_r(NULL, "&", &save)) {
		if ((eq = strchr(part, '=')) != NULL)
			*eq = '\0';
		k = evhttp_uridecode(part, 1, &klen);
		v = evhttp_uridecode(eq != NULL ? eq + 1 : "", 1, &vlen);
		if (k == NULL || v == NULL) {
			bad = 1;
			http_unavailable(req, "out of memory", NULL);
		} else if (klen != strlen(k) || vlen != strlen(v) ||
		           klen == 0) {
			bad = 1;
			http_reply(
			        req, 400,
			        json_pack("{s:s, s:s, s:s}", "error",
			                  "invalid parameter", "parameter",
			                  klen == strlen(k) ? k : "?", "reason",
			                  klen == 0 ? "a parameter without a "
			                              "name"
			                            : "contains a NUL byte"));
		} else if (json_object_get(params, k) != NULL) {
			bad = 1;
			http_reply(req, 400,
			           json_pack("{s:s, s:s, s:s}", "error",
			                     "invalid parameter", "parameter",
			                     k, "reason",
			                     "given more than once"));
		} else if ((js = json_string(v)) == NULL) {
			/* not UTF-8: json_string refuses it */
			bad = 1;
			http_reply(req, 400,
			           json_pack("{s:s, s:s, s:s}", "error",
			                     "invalid parameter", "parameter",
			                     k, "reason", "must be UTF-8"));
		} else
			json_object_set_new(params, k, js);
		free(k);
		free(v);
	}
	free(copy);
	if (bad) {
		json_decref(params);
		return NULL;
	}
	return params;
}

/* GET one of the list endpoints: forwards command. */
static void
qproxy_list(struct evhttp_request *req, void *arg, const char *command)
{
	struct qproxy *qp = arg;
	const struct auth_key *key;
	json_t *params;

	if (!http_authorize(qp->h, req, AUTH_SCOPE_QUERY, &key))
		return;
	if (!http_method_ok(req, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD, "GET, HEAD"))
		return;
	if ((params = qproxy_params(req)) != NULL)
		qproxy_forward(qp, req, command, params);
}

static void
qproxy_events_cb(struct evhttp_request *req, void *arg)
{
	qproxy_list(req, arg, "events.list");
}

static void
qproxy_anomalies_cb(struct evhttp_request *req, void *arg)
{
	qproxy_list(req, arg, "anomalies.list");
}

static void
qproxy_metrics_cb(struct evhttp_request *req, void *arg)
{
	qproxy_list(req, arg, "metrics.query");
}

int
qproxy_route(struct qproxy *qp, struct evhttp_request *req)
{
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
	size_t plen = sizeof(QPROXY_EVENTS) - 1, n;
	const struct auth_key *key;
	json_t *params, *jid;
	char *id;

	if (qp == NULL || path == NULL || strncmp(path, QPROXY_EVENTS, plen) ||
	    path[plen] != '/' || path[plen + 1] == '\0')
		return 0;
	if (!http_authorize(qp->h, req, AUTH_SCOPE_QUERY, &key))
		return 1;
	if (!http_method_ok(req, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD, "GET, HEAD"))
		return 1;
	/* A path keeps "+" as it is; only %XX is decoded. */
	if ((id = evhttp_uridecode(path + plen + 1, 0, &n)) == NULL) {
		http_unavailable(req, "out of memory", NULL);
		return 1;
	}
	if (n != strlen(id) || (jid = json_string(id)) == NULL) {
		free(id);
		http_error(req, 404, "not found", "not an event id");
		return 1;
	}
	free(id);
	if ((params = qproxy_params(req)) == NULL) {
		json_decref(jid);
		return 1;
	}
	if (json_object_get(params, "event_id") != NULL) {
		json_decref(params);
		json_decref(jid);
		http_reply(req, 400,
		           json_pack("{s:s, s:s, s:s}", "error",
		                     "invalid parameter", "parameter",
		                     "event_id", "reason",
		                     "the event id is given in the path"));
		return 1;
	}
	json_object_set_new(params, "event_id", jid);
	qproxy_forward(qp, req, "events.get", params);
	return 1;
}

/* nng thread: keeps a count of stored's connections for the log. */
static void
qproxy_pipe_cb(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	(void)p;
	(void)arg;
	if (ev == NNG_PIPE_EV_ADD_POST)
		log_debug("connected to stored's query socket");
	else
		log_debug("disconnected from stored's query socket");
}

struct qproxy *
qproxy_open(struct http_server *h, struct event_base *base, const char *run_dir)
{
	struct qproxy *qp;
	char url[512];
	int rv;

	if (ipc_url(url, sizeof(url), run_dir, QPROXY_ENDPOINT) < 0) {
		log_warnx("run_dir %s: path too long for a socket", run_dir);
		return NULL;
	}
	qp = sn_xcalloc(1, sizeof(*qp));
	qp->h = h;
	qp->efd = -1;
	STAILQ_INIT(&qp->done);
	TAILQ_INIT(&qp->all);
	pthread_mutex_init(&qp->mu, NULL);
	if ((qp->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0) {
		log_warn("query: eventfd");
		goto fail;
	}
	qp->ev = event_new(base, qp->efd, EV_READ | EV_PERSIST, qproxy_on_done,
	                   qp);
	if (qp->ev == NULL || event_add(qp->ev, NULL) < 0) {
		log_warnx("query: cannot watch the eventfd");
		goto fail;
	}
	if ((rv = nng_req0_open(&qp->sock)) != 0) {
		log_warnx("query %s: open: %s", url, nng_strerror(rv));
		goto fail;
	}
	/* Never resend: a query resent after a reconnect would only run
	 * twice; the caller gets a 503 or 504 instead. */
	nng_socket_set_ms(qp->sock, NNG_OPT_REQ_RESENDTIME,
	                  NNG_DURATION_INFINITE);
	nng_socket_set_ms(qp->sock, NNG_OPT_RECONNMINT, 50);
	nng_socket_set_ms(qp->sock, NNG_OPT_RECONNMAXT, 1000);
	nng_socket_set_size(qp->sock, NNG_OPT_RECVMAXSZ, QPROXY_MAX_REPLY);
	nng_pipe_notify(qp->sock, NNG_PIPE_EV_ADD_POST, qproxy_pipe_cb, qp);
	nng_pipe_notify(qp->sock, NNG_PIPE_EV_REM_POST, qproxy_pipe_cb, qp);
	/* NONBLOCK: stored may not be up yet; nng keeps redialing. */
	if ((rv = nng_dial(qp->sock, url, NULL, NNG_FLAG_NONBLOCK)) != 0) {
		log_warnx("query %s: dial: %s", url, nng_strerror(rv));
		nng_close(qp->sock);
		goto fail;
	}
	if (evhttp_set_cb(h->http, QPROXY_EVENTS, qproxy_events_cb, qp) != 0 ||
	    evhttp_set_cb(h->http, "/api/v1/anomalies", qproxy_anomalies_cb,
	                  qp) != 0 ||
	    evhttp_set_cb(h->http, "/api/v1/metrics/query", qproxy_metrics_cb,
	                  qp) != 0) {
		log_warnx("cannot register the query handlers");
		nng_close(qp->sock);
		goto fail;
	}
	return qp;
fail:
	if (qp->ev != NULL)
		event_free(qp->ev);
	if (qp->efd >= 0)
		close(qp->efd);
	pthread_mutex_destroy(&qp->mu);
	free(qp);
	return NULL;
}

void
qproxy_close(struct qproxy *qp)
{
	struct qproxy_call *c;

	if (qp == NULL)
		return;
	/* Ends every operation in flight (NNG_ECLOSED); nng_aio_free then
	 * waits for each callback to return.  The requests themselves are
	 * evhttp's to free. */
	nng_close(qp->sock);
	while ((c = TAILQ_FIRST(&qp->all)) != NULL) {
		TAILQ_REMOVE(&qp->all, c, all);
		qproxy_call_free(c);
	}
	if (qp->queries > 0)
		log_info("query API: %llu queries forwarded, %llu failed",
		         (unsigned long long)qp->queries,
		         (unsigned long long)qp->failed);
	event_free(qp->ev);
	close(qp->efd);
	pthread_mutex_destroy(&qp->mu);
	free(qp);
}
