/*
 * http.c: ingestd's HTTP API on libevent's evhttp (docs/http-api.md).
 *
 *   POST /api/v1/telemetry/events   one event, an array, or NDJSON
 *   GET  /health                    ingestd itself is alive
 *   GET  /ready                     the whole set can take events
 *   GET  /api/v1/health             the set's state, for humans
 *   GET  /api/v1/events ...         the query API: query.c
 *
 * Every answer is JSON, errors included, except the 413 evhttp sends by
 * itself for a body over http.max_body_bytes: libevent 2.1 refuses such
 * a body before any callback of ours runs, so it cannot be rewritten.
 *
 * An events request is answered only once its events left in a batch
 * (forward.c): the 202 is held until the end of the loop iteration,
 * and turns into a 503 if a consumer's queue refused the batch.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>

#include "daemon.h"
#include "ingestd.h"
#include "log.h"
#include "msg.h"
#include "validate.h"

#define HTTP_PATH_EVENTS "/api/v1/telemetry/events"
#define HTTP_MAX_HEADERS (64 * 1024)
#define HTTP_TIMEOUT_S   30

#define HTTP_ALL_METHODS                                                       \
	(EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT | \
	 EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE |           \
	 EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH)

/* An events request waiting for its batch to go out. */
struct http_pending {
	struct fwd_waiter w;
	struct http_server *h;
	struct evhttp_request *req;
	json_t *answer;     /* the 202 body, owned */
	uint32_t naccepted; /* events in the batch for this request */
};

const char *
http_reason_phrase(int code)
{
	switch (code) {
	case 200:
		return "OK";
	case 202:
		return "Accepted";
	case 400:
		return "Bad Request";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 413:
		return "Payload Too Large";
	case 415:
		return "Unsupported Media Type";
	case 500:
		return "Internal Server Error";
	case 502:
		return "Bad Gateway";
	case 503:
		return "Service Unavailable";
	case 504:
		return "Gateway Timeout";
	default:
		return "Unknown";
	}
}

/*
 * Sends code with body as compact JSON.  Steals body, which may be NULL
 * when building it ran out of memory: the client then gets a fixed 503.
 */
void
http_reply(struct evhttp_request *req, int code, json_t *body)
{
	static const char nomem[] = "{\"error\":\"out of memory\"}\n";
	struct evkeyvalq *hdrs = evhttp_request_get_output_headers(req);
	struct evbuffer *buf;
	char *text = NULL;

	if (body != NULL)
		text = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	evhttp_add_header(hdrs, "Content-Type", "application/json");
	if (text == NULL) {
		code = 503;
		evhttp_add_header(hdrs, "Retry-After", "1");
	}
	if ((buf = evbuffer_new()) != NULL) {
		if (text != NULL) {
			evbuffer_add(buf, text, strlen(text));
			evbuffer_add(buf, "\n", 1);
		} else
			evbuffer_add(buf, nomem, sizeof(nomem) - 1);
	}
	free(text);
	evhttp_send_reply(req, code, http_reason_phrase(code), buf);
	if (buf != NULL)
		evbuffer_free(buf);
}

/* {"error": error, "reason": reason} with status code. */
void
http_error(struct evhttp_request *req, int code, const char *error,
           const char *reason)
{
	json_t *body;

	if (reason != NULL)
		body = json_pack("{s:s, s:s}", "error", error, "reason",
		                 reason);
	else
		body = json_pack("{s:s}", "error", error);
	http_reply(req, code, body);
}

/* A 503 the client should retry shortly. */
void
http_unavailable(struct evhttp_request *req, const char *error,
                 const char *reason)
{
	evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After",
	                  "1");
	http_error(req, 503, error, reason);
}

/*
 * Checks the method against allowed (EVHTTP_REQ_* bits); on a mismatch
 * answers 405 with an Allow header and returns 0.
 */
int
http_method_ok(struct evhttp_request *req, int allowed, const char *allow)
{
	if (evhttp_request_get_command(req) & allowed)
		return 1;
	evhttp_add_header(evhttp_request_get_output_headers(req), "Allow",
	                  allow);
	http_reply(req, 405,
	           json_pack("{s:s, s:s}", "error", "method not allowed",
	                     "allow", allow));
	return 0;
}

/* --- POST /api/v1/telemetry/events ---------------------------------------- */

/* The rejected list of a batch answer; NULL on ENOMEM. */
static json_t *
http_rejected_list(const struct ingest_result *res)
{
	const struct ingest_reject *r;
	json_t *list, *item;
	size_t i;

	if ((list = json_array()) == NULL)
		return NULL;
	for (i = 0; i < res->nrejects; i++) {
		r = &res->rejects[i];
		item = json_pack("{s:I, s:o, s:s, s:s}", "index",
		                 (json_int_t)r->index, "event_id",
		                 r->has_event_id ? json_string(r->event_id)
		                                 : json_null(),
		                 "field", r->field, "error", r->reason);
		if (json_array_append_new(list, item) < 0) {
			json_decref(list);
			return NULL;
		}
	}
	return list;
}

/* The body of a 202 for res; NULL on ENOMEM. */
static json_t *
http_accepted_body(const struct ingest_result *res)
{
	if (!res->batch)
		return json_pack("{s:s, s:I, s:s}", "status", "accepted",
		                 "accepted", (json_int_t)res->nevents,
		                 "event_id", res->events[0].ev.event_id.p);
	return json_pack("{s:s, s:I, s:o}", "status", "accepted", "accepted",
	                 (json_int_t)res->nevents, "rejected",
	                 http_rejected_list(res));
}

/* Answers a body whose every event was rejected (400). */
static void
http_all_rejected(struct evhttp_request *req, const struct ingest_result *res)
{
	const struct ingest_reject *r = &res->rejects[0];

	if (!res->batch) {
		http_reply(req, 400,
		           json_pack("{s:s, s:s, s:s}", "error",
		                     "invalid event", "field", r->field,
		                     "reason", r->reason));
		return;
	}
	http_reply(req, 400,
	           json_pack("{s:s, s:I, s:o}", "error", "invalid event",
	                     "accepted", (json_int_t)0, "rejected",
	                     http_rejected_list(res)));
}

/* Answers a body refused as a whole by ingest_parse_body. */
static void
http_body_error(struct evhttp_request *req, const struct ingest_result *res)
{
	switch (res->status) {
	case INGEST_ERR_JSON:
		http_error(req, 400, "invalid JSON", res->reason);
		break;
	case INGEST_ERR_EMPTY:
		http_error(req, 400, "no events", res->reason);
		break;
	case INGEST_ERR_TOO_MANY:
		http_reply(req, 413,
		           json_pack("{s:s, s:I, s:s}", "error",
		                     "batch too large", "limit",
		                     (json_int_t)res->limit, "reason",
		                     res->reason));
		break;
	case INGEST_ERR_NOMEM:
	default:
		http_unavailable(req, "out of memory", res->reason);
		break;
	}
}

static void
http_refuse_pipeline(struct http_server *h, struct evhttp_request *req,
                     const char *failed, size_t nevents)
{
	char reason[64];

	h->refused += nevents;
	snprintf(reason, sizeof(reason), "%s is not accepting events", failed);
	http_unavailable(req, "pipeline unavailable", reason);
}

/* Called by forward.c once the request's batch went out or failed. */
static void
http_events_done(void *arg, const char *failed)
{
	struct http_pending *p = arg;

	if (failed != NULL) {
		json_decref(p->answer);
		http_refuse_pipeline(p->h, p->req, failed, p->naccepted);
	} else {
		p->h->accepted += p->naccepted;
		http_reply(p->req, 202, p->answer);
	}
	free(p);
}

/*
 * Hands the validated events of res to the pipeline and arranges the
 * answer.  res stays the caller's: the events are copied into the batch.
 */
static void
http_forward(struct http_server *h, struct evhttp_request *req,
             struct ingest_result *res)
{
	struct http_pending *p;
	const char *failed;
	size_t i, bytes = 0;
	int64_t now;

	for (i = 0; i < res->nevents; i++)
		bytes += fwd_event_size(&res->events[i].ev);
	if ((failed = fwd_room(h->fwd, bytes)) != NULL) {
		http_refuse_pipeline(h, req, failed, res->nevents);
		return;
	}
	if ((p = calloc(1, sizeof(*p))) == NULL ||
	    (p->answer = http_accepted_body(res)) == NULL) {
		free(p);
		http_unavailable(req, "out of memory", NULL);
		return;
	}
	p->h = h;
	p->req = req;
	p->naccepted = (uint32_t)res->nevents;
	now = sn_now_ms();
	for (i = 0; i < res->nevents; i++) {
		struct sn_event ev = res->events[i].ev;

		ev.recv_ms = now;
		if (fwd_append(h->fwd, &ev, &failed) < 0) {
			/*
			 * The batch holding our events was refused; any
			 * earlier full batch of this request did go out
			 * (stored deduplicates by event_id on a retry).
			 */
			json_decref(p->answer);
			free(p);
			http_refuse_pipeline(h, req, failed, res->nevents);
			return;
		}
	}
	fwd_wait(h->fwd, &p->w, http_events_done, p);
}

static void
http_events_cb(struct evhttp_request *req, void *arg)
{
	struct http_server *h = arg;
	struct ingest_result res;
	enum ingest_body_kind kind;
	struct evbuffer *in;
	const char *ct;
	const char *body = "";
	size_t len;

	if (!http_method_ok(req, EVHTTP_REQ_POST, "POST"))
		return;
	if (h->stopping) {
		http_unavailable(req, "shutting down", NULL);
		return;
	}
	ct = evhttp_find_header(evhttp_request_get_input_headers(req),
	                        "Content-Type");
	if (ingest_body_kind_parse(ct, &kind) < 0) {
		http_error(req, 415, "unsupported media type",
		           "Content-Type must be application/json or "
		           "application/x-ndjson");
		return;
	}
	in = evhttp_request_get_input_buffer(req);
	if ((len = evbuffer_get_length(in)) > 0 &&
	    (body = (const char *)evbuffer_pullup(in, -1)) == NULL) {
		http_unavailable(req, "out of memory", NULL);
		return;
	}

	memset(&res, 0, sizeof(res));
	if (ingest_parse_body(body, len, kind, h->max_events, &res) !=
	    INGEST_OK) {
		http_body_error(req, &res);
	} else {
		h->rejected += res.nrejects;
		if (res.nevents == 0)
			http_all_rejected(req, &res);
		else
			http_forward(h, req, &res);
	}
	ingest_result_free(&res);
}

/* --- health and readiness ------------------------------------------------- */

static void
http_health_cb(struct evhttp_request *req, void *arg)
{
	(void)arg;
	if (!http_method_ok(req, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD, "GET, HEAD"))
		return;
	http_reply(req, 200, json_pack("{s:s}", "status", "ok"));
}

/* Appends name to list unless it is there already. */
static void
http_add_name(json_t *list, const char *name)
{
	size_t i;
	json_t *v;

	json_array_foreach(list, i, v)
	{
		if (strcmp(json_string_value(v), name) == 0)
			return;
	}
	json_array_append_new(list, json_string(name));
}

static void
http_ready_cb(struct evhttp_request *req, void *arg)
{
	struct http_server *h = arg;
	const struct setstate *s = h->state;
	const char *reason = NULL;
	json_t *waiting, *body;
	size_t i;
	int j;

	if (!http_method_ok(req, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD, "GET, HEAD"))
		return;
	if ((waiting = json_array()) == NULL) {
		http_reply(req, 503, NULL);
		return;
	}
	if (h->stopping)
		reason = "shutting down";
	else if (s->recv_mono_ms == 0)
		reason = "no state from supervisor";
	else if (!setstate_fresh(s, sn_mono_ms()))
		reason = "state from supervisor is stale";
	else
		for (i = 0; i < s->ndaemons; i++)
			if (s->daemons[i].state != SN_DAEMON_UP)
				http_add_name(waiting, s->daemons[i].name);
	for (j = 0; j < FWD_NSINKS; j++)
		if (fwd_peers(h->fwd, j) == 0)
			http_add_name(waiting, h->fwd->sinks[j].name);

	if (reason == NULL && json_array_size(waiting) == 0) {
		json_decref(waiting);
		http_reply(req, 200, json_pack("{s:s}", "status", "ready"));
		return;
	}
	body = json_pack("{s:s, s:o}", "status", "not ready", "waiting",
	                 waiting);
	if (body != NULL && reason != NULL)
		json_object_set_new(body, "reason", json_string(reason));
	http_reply(req, 503, body);
}

/* One daemon's entry in /api/v1/health; NULL on ENOMEM. */
static json_t *
http_daemon_json(const char *state, int32_t pid, uint32_t restarts,
                 int64_t uptime_s)
{
	return json_pack("{s:s, s:I, s:I, s:I}", "state", state, "pid",
	                 (json_int_t)pid, "restarts", (json_int_t)restarts,
	                 "uptime_seconds", (json_int_t)uptime_s);
}

static void
http_api_health_cb(struct evhttp_request *req, void *arg)
{
	struct http_server *h = arg;
	const struct setstate *s = h->state;
	const struct setstate_daemon *sd;
	int64_t now_mono = sn_mono_ms(), now = sn_now_ms();
	int64_t uptime = (now_mono - h->start_mono_ms) / 1000;
	json_t *daemons, *body;
	int healthy = 1;
	size_t i;

	if (!http_method_ok(req, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD, "GET, HEAD"))
		return;
	if ((daemons = json_object()) == NULL) {
		http_reply(req, 503, NULL);
		return;
	}
	if (setstate_fresh(s, now_mono)) {
		for (i = 0; i < s->ndaemons; i++) {
			sd = &s->daemons[i];
			if (sd->state != SN_DAEMON_UP)
				healthy = 0;
			json_object_set_new(
			        daemons, sd->name,
			        http_daemon_json(
			                sn_daemon_state_name(sd->state),
			                sd->pid, sd->restarts,
			                sd->state == SN_DAEMON_UP &&
			                                now > sd->since_ms
			                        ? (now - sd->since_ms) / 1000
			                        : 0));
		}
	} else {
		/* Without the supervisor only ingestd itself is known. */
		healthy = 0;
		json_object_set_new(
		        daemons, "ingestd",
		        http_daemon_json("up", (int32_t)getpid(), 0, uptime));
	}
	body = json_pack("{s:s, s:s, s:I, s:s, s:o}", "status",
	                 healthy ? "healthy" : "degraded", "version",
	                 SENTINEL_VERSION, "uptime_seconds", (json_int_t)uptime,
	                 "mode", config_mode_name(h->d->cfg->mode), "daemons",
	                 daemons);
	if (body != NULL && !setstate_fresh(s, now_mono))
		json_object_set_new(
		        body, "reason",
		        json_string(s->recv_mono_ms == 0
		                            ? "no state from "
		                              "supervisor"
		                            : "state from "
		                              "supervisor is stale"));
	http_reply(req, 200, body);
}

static void
http_not_found_cb(struct evhttp_request *req, void *arg)
{
	struct http_server *h = arg;

	if (qproxy_route(h->query, req))
		return; /* /api/v1/events/{event_id} */
	http_error(req, 404, "not found", NULL);
}

/* --- server -----------------------------------------------------------------
 */

void
http_set_limits(struct http_server *h, uint64_t max_body, uint32_t max_events)
{
	h->max_body = max_body;
	h->max_events = max_events;
	evhttp_set_max_body_size(h->http, max_body > (uint64_t)SSIZE_MAX
	                                          ? SSIZE_MAX
	                                          : (ev_ssize_t)max_body);
}

int
http_open(struct http_server *h, struct sn_daemon *d, struct fwd *f,
          struct setstate *s)
{
	const struct sn_config *cfg = d->cfg;
	const char *host = cfg->http.host ? cfg->http.host : "0.0.0.0";

	memset(h, 0, sizeof(*h));
	h->d = d;
	h->fwd = f;
	h->state = s;
	h->start_mono_ms = sn_mono_ms();
	if ((h->http = evhttp_new(d->base)) == NULL) {
		log_warnx("cannot create the HTTP server");
		return -1;
	}
	/* Let every method reach us, so a wrong one gets a JSON 405. */
	evhttp_set_allowed_methods(h->http, HTTP_ALL_METHODS);
	evhttp_set_default_content_type(h->http, "application/json");
	evhttp_set_max_headers_size(h->http, HTTP_MAX_HEADERS);
	evhttp_set_timeout(h->http, HTTP_TIMEOUT_S);
	http_set_limits(h, cfg->http.max_body_bytes,
	                cfg->http.max_batch_events);
	if (evhttp_set_cb(h->http, HTTP_PATH_EVENTS, http_events_cb, h) != 0 ||
	    evhttp_set_cb(h->http, "/health", http_health_cb, h) != 0 ||
	    evhttp_set_cb(h->http, "/ready", http_ready_cb, h) != 0 ||
	    evhttp_set_cb(h->http, "/api/v1/health", http_api_health_cb, h) !=
	            0) {
		log_warnx("cannot register HTTP handlers");
		return -1;
	}
	if ((h->query = qproxy_open(h, d->base, cfg->run_dir)) == NULL)
		return -1;
	evhttp_set_gencb(h->http, http_not_found_cb, h);
	h->sock = evhttp_bind_socket_with_handle(h->http, host,
	                                         (ev_uint16_t)cfg->http.port);
	if (h->sock == NULL) {
		log_warn("cannot listen on %s port %d", host, cfg->http.port);
		return -1;
	}
	log_info("HTTP API listening on %s port %d", host, cfg->http.port);
	return 0;
}

void
http_stop(struct http_server *h)
{
	h->stopping = 1;
	if (h->sock != NULL) {
		evhttp_del_accept_socket(h->http, h->sock);
		h->sock = NULL;
	}
}

void
http_close(struct http_server *h)
{
	qproxy_close(h->query); /* before evhttp_free frees its requests */
	if (h->http != NULL)
		evhttp_free(h->http);
	memset(h, 0, sizeof(*h));
}
