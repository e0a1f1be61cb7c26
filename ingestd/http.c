/*
 * http.c: ingestd's HTTP API on libevent's evhttp (docs/http-api.md).
 *
 *   POST /api/v1/telemetry/events   one event, an array, or NDJSON
 *   GET  /health                    ingestd itself is alive
 *   GET  /ready                     the whole set can take events
 *   GET  /api/v1/health             the set's state, for humans
 *   GET  /api/v1/events ...         the query API: query.c
 *
 * Every answer is JSON, errors included: the few libevent writes itself
 * (its HTML 400, 413, 417 and 501 pages) are replaced before they leave
 * (see "connections" below, which also caps connections and gives each
 * request a deadline for its headers and its body).
 *
 * An events request is answered only once its events left in a batch
 * (forward.c): the 202 is held until the end of the loop iteration,
 * and turns into a 503 if a consumer's queue refused the batch.
 *
 * With ingestion.http.auth the events path, the query API and
 * /api/v1/health need an API key (auth.c; /health and /ready stay open
 * for orchestrators' probes), and with ingestion.http.tls every
 * connection speaks TLS (tls.c; see "connections" below).
 */
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <jansson.h>

#include "auth.h"
#include "config.h"
#include "daemon.h"
#include "ingestd.h"
#include "log.h"
#include "metrics.h"
#include "msg.h"
#include "tls.h"
#include "validate.h"

#define HTTP_PATH_EVENTS "/api/v1/telemetry/events"
/* How long a connection we close keeps being read after our answer, so
 * the client reads the answer rather than a reset. */
#define HTTP_LINGER_MS 2000

#define HTTP_ALL_METHODS                                                       \
	(EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT | \
	 EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE |           \
	 EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH)

/* Answers up to this size are written in the iteration they are made
 * (http_write_now); a 202 for a single event is about 200 bytes. */
#define HTTP_WRITE_NOW_MAX 4096

/* An events request waiting for its batch to go out. */
struct http_pending {
	struct http_server *h;
	struct evhttp_request *req;
	struct sn_buf answer; /* the 202 body's text */
	int64_t t0_us;        /* when the request was complete (monotonic) */
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
	case 401:
		return "Unauthorized";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 408:
		return "Request Timeout";
	case 413:
		return "Payload Too Large";
	case 415:
		return "Unsupported Media Type";
	case 417:
		return "Expectation Failed";
	case 429:
		return "Too Many Requests";
	case 431:
		return "Request Header Fields Too Large";
	case 500:
		return "Internal Server Error";
	case 501:
		return "Not Implemented";
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
 * Sends code with text[0..len) (JSON and its newline; NULL: the body
 * could not be built for want of memory, and the client gets a fixed
 * 503).  The text goes straight into the request's output buffer.
 */
static void
http_reply_text(struct evhttp_request *req, int code, const char *text,
                size_t len)
{
	static const char nomem[] = "{\"error\":\"out of memory\"}\n";
	/* sentinel_http_requests_total by code, each looked up once */
	static struct sn_series *by_code[600];
	struct evkeyvalq *hdrs = evhttp_request_get_output_headers(req);
	char cs[8];

	evhttp_add_header(hdrs, "Content-Type", "application/json");
	if (text == NULL) {
		code = 503;
		evhttp_add_header(hdrs, "Retry-After", "1");
		text = nomem;
		len = sizeof(nomem) - 1;
	}
	if (code >= 100 && code < 600) {
		if (by_code[code] == NULL) {
			snprintf(cs, sizeof(cs), "%d", code);
			by_code[code] =
			        metrics_series(M_INGESTION_REQUESTS, cs);
		}
		metrics_add(by_code[code], 1);
	}
	evbuffer_add(evhttp_request_get_output_buffer(req), text, len);
	evhttp_send_reply(req, code, http_reason_phrase(code), NULL);
}

/* doc (stolen; NULL allowed) as compact JSON and a newline onto out.
 * 0, or -1 when doc is NULL or dumping it ran out of memory. */
static int
http_json_line(json_t *doc, struct sn_buf *out)
{
	char *text = doc != NULL ? json_dumps(doc, JSON_COMPACT) : NULL;

	json_decref(doc);
	if (text == NULL)
		return -1;
	sn_buf_append(out, text, strlen(text));
	sn_buf_append(out, "\n", 1);
	free(text);
	return 0;
}

/*
 * Sends code with body as compact JSON.  Steals body, which may be NULL
 * when building it ran out of memory: the client then gets a fixed 503.
 */
void
http_reply(struct evhttp_request *req, int code, json_t *body)
{
	struct sn_buf b = {0};

	if (http_json_line(body, &b) == 0)
		http_reply_text(req, code, (const char *)b.data, b.len);
	else
		http_reply_text(req, code, NULL, 0);
	sn_buf_free(&b);
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

/* --- rejection counters -------------------------------------------------- */

static const char *const http_err_names[HTTP_NERR] = {
        [HTTP_ERR_BODY_TOO_LARGE] = "body_too_large",
        [HTTP_ERR_HEADER_TOO_LARGE] = "header_too_large",
        [HTTP_ERR_MALFORMED_HTTP] = "malformed_http",
        [HTTP_ERR_TIMEOUT] = "timeout",
        [HTTP_ERR_TOO_MANY_CONNECTIONS] = "too_many_connections",
        [HTTP_ERR_METHOD_NOT_ALLOWED] = "method_not_allowed",
        [HTTP_ERR_UNSUPPORTED_MEDIA] = "unsupported_media_type",
        [HTTP_ERR_EMPTY_BODY] = "empty_body",
        [HTTP_ERR_INVALID_JSON] = "invalid_json",
        [HTTP_ERR_BATCH_TOO_LARGE] = "batch_too_large",
        [HTTP_ERR_INVALID_FIELD] = "invalid_field",
        [HTTP_ERR_STRING_TOO_LONG] = "string_too_long",
        [HTTP_ERR_TOO_DEEP] = "too_deep",
        [HTTP_ERR_TOO_MANY_FIELDS] = "too_many_fields",
        [HTTP_ERR_NUMBER_OUT_OF_RANGE] = "number_out_of_range",
        [HTTP_ERR_TIMESTAMP_OUT_OF_WINDOW] = "timestamp_out_of_window",
        [HTTP_ERR_TOO_MANY_REQUESTS] = "too_many_requests",
        [HTTP_ERR_PIPELINE_UNAVAILABLE] = "pipeline_unavailable",
        [HTTP_ERR_SHUTTING_DOWN] = "shutting_down",
        [HTTP_ERR_OUT_OF_MEMORY] = "out_of_memory",
        [HTTP_ERR_UNAUTHORIZED] = "unauthorized",
        [HTTP_ERR_FORBIDDEN] = "forbidden",
        [HTTP_ERR_TLS_HANDSHAKE] = "tls_handshake",
};

const char *
http_err_name(enum http_err e)
{
	return (unsigned)e < HTTP_NERR ? http_err_names[e] : "unknown";
}

uint64_t
http_err_count(const struct http_server *h, enum http_err e)
{
	return (unsigned)e < HTTP_NERR ? h->errors[e] : 0;
}

void
http_count(struct http_server *h, enum http_err e)
{
	h->errors[e]++;
	metrics_add(h->err_series[e], 1);
}

enum http_err
http_err_of_reject(enum ingest_reject_kind kind)
{
	switch (kind) {
	case INGEST_REJ_JSON:
		return HTTP_ERR_INVALID_JSON;
	case INGEST_REJ_TOO_LONG:
		return HTTP_ERR_STRING_TOO_LONG;
	case INGEST_REJ_TOO_DEEP:
		return HTTP_ERR_TOO_DEEP;
	case INGEST_REJ_FIELDS:
		return HTTP_ERR_TOO_MANY_FIELDS;
	case INGEST_REJ_RANGE:
		return HTTP_ERR_NUMBER_OUT_OF_RANGE;
	case INGEST_REJ_WINDOW:
		return HTTP_ERR_TIMESTAMP_OUT_OF_WINDOW;
	case INGEST_REJ_INVALID:
	default:
		return HTTP_ERR_INVALID_FIELD;
	}
}

/* --- authentication (auth.c) --------------------------------------------- */

#define HTTP_SECLOG_MS 1000 /* a line a second at most per kind */
#define HTTP_CHALLENGE "Bearer realm=\"sentinel\""

/*
 * Logs a refusal for a security reason: msg with fields (stolen; NULL:
 * out of memory, nothing logged) and the peer's address.  At most one
 * line a second per kind, so that a scanner cannot flood the log; the
 * next line says how many went unlogged.  A key's value never goes in:
 * fields name the key at most.
 */
void
http_seclog(struct http_server *h, enum http_seclog_kind kind,
            struct evhttp_connection *evcon, const char *msg, json_t *fields)
{
	int64_t now = sn_mono_ms();
	char *addr = NULL;
	ev_uint16_t port = 0;

	if (h->seclog[kind].last_mono_ms != 0 &&
	    now - h->seclog[kind].last_mono_ms < HTTP_SECLOG_MS) {
		h->seclog[kind].quiet++;
		json_decref(fields);
		return;
	}
	if (fields == NULL)
		return;
	if (evcon != NULL)
		evhttp_connection_get_peer(evcon, &addr, &port);
	if (addr != NULL)
		json_object_set_new(fields, "peer", json_string(addr));
	if (h->seclog[kind].quiet > 0)
		json_object_set_new(
		        fields, "not_logged_before",
		        json_integer((json_int_t)h->seclog[kind].quiet));
	h->seclog[kind].quiet = 0;
	h->seclog[kind].last_mono_ms = now;
	log_json(LOG_LEVEL_WARN, msg, fields);
	json_decref(fields);
}

/* 401: why says what is missing; bad_key when a key was given (RFC 6750's
 * invalid_token). */
static void
http_unauthorized(struct http_server *h, struct evhttp_request *req,
                  const char *why, int bad_key)
{
	http_count(h, HTTP_ERR_UNAUTHORIZED);
	evhttp_add_header(evhttp_request_get_output_headers(req),
	                  "WWW-Authenticate",
	                  bad_key ? HTTP_CHALLENGE ", error=\"invalid_token\""
	                          : HTTP_CHALLENGE);
	http_seclog(h, HTTP_SECLOG_UNAUTHORIZED,
	            evhttp_request_get_connection(req),
	            "HTTP request refused: no valid API key",
	            json_pack("{s:s}", "reason", why));
	http_error(req, 401, "unauthorized", why);
}

/* 403 for key k; app (may be NULL) is the application it may not send. */
static void
http_forbidden(struct http_server *h, struct evhttp_request *req,
               const struct auth_key *k, const char *why, const char *app)
{
	json_t *body, *fields;

	http_count(h, HTTP_ERR_FORBIDDEN);
	fields = json_pack("{s:s, s:s}", "key", k->name, "reason", why);
	body = json_pack("{s:s, s:s}", "error", "forbidden", "reason", why);
	if (app != NULL) {
		if (fields != NULL)
			json_object_set_new(fields, "application_id",
			                    json_string(app));
		if (body != NULL)
			json_object_set_new(body, "application_id",
			                    json_string(app));
	}
	http_seclog(h, HTTP_SECLOG_FORBIDDEN,
	            evhttp_request_get_connection(req),
	            "HTTP request refused: API key not allowed", fields);
	http_reply(req, 403, body);
}

int
http_check_key(struct http_server *h, const char *authorization,
               const char *x_api_key, unsigned scopes,
               const struct auth_key **key, const char **why)
{
	const struct auth_key *k;
	const char *tok;
	size_t len;

	*key = NULL;
	*why = NULL;
	if (h->auth == NULL)
		return HTTP_KEY_OK;
	if (auth_request_token(authorization, x_api_key, &tok, &len, why) < 0)
		return HTTP_KEY_MISSING;
	if ((k = auth_match(h->auth, tok, len)) == NULL) {
		*why = "the API key is not valid (unknown or revoked)";
		return HTTP_KEY_INVALID;
	}
	*key = k;
	if ((k->scope & scopes) == 0) {
		*why = k->scope == AUTH_SCOPE_QUERY
		               ? "this is a query key: sending events needs a "
		                 "key of ingestion.http.auth.keys"
		               : "this key may only send events: the query API "
		                 "needs a key of "
		                 "ingestion.http.auth.query_keys";
		return HTTP_KEY_FORBIDDEN;
	}
	return HTTP_KEY_OK;
}

int
http_authorize(struct http_server *h, struct evhttp_request *req,
               unsigned scopes, const struct auth_key **key)
{
	struct evkeyvalq *in = evhttp_request_get_input_headers(req);
	const char *why;

	switch (http_check_key(h, evhttp_find_header(in, "Authorization"),
	                       evhttp_find_header(in, "X-API-Key"), scopes, key,
	                       &why)) {
	case HTTP_KEY_OK:
		return 1;
	case HTTP_KEY_MISSING:
		http_unauthorized(h, req, why, 0);
		break;
	case HTTP_KEY_INVALID:
		http_unauthorized(h, req, why, 1);
		break;
	default:
		http_forbidden(h, req, *key, why, NULL);
		*key = NULL;
		break;
	}
	return 0;
}

/* The application_id of the first accepted event of res that k may not
 * send, or NULL when it may send them all. */
const char *
http_foreign_app(const struct auth_key *k, const struct ingest_result *res)
{
	const struct sn_str *app;
	size_t i;

	if (k == NULL || k->napps == 0)
		return NULL;
	for (i = 0; i < res->nevents; i++) {
		app = &res->events[i].ev.application_id;
		if (!auth_may_send(k, app->p, app->len))
			return app->p;
	}
	return NULL;
}

/* 403 for a request with an event of application app: the whole
 * request is refused, so that nothing of it is stored. */
static void
http_app_forbidden(struct http_server *h, struct evhttp_request *req,
                   const struct auth_key *k, const char *app)
{
	char why[400];

	snprintf(why, sizeof(why),
	         "this API key may not send events for application_id "
	         "\"%.256s\"; nothing of the request was accepted",
	         app);
	http_forbidden(h, req, k, why, app);
}

/* Says what the new keys and certificate are, and what turned off. */
static void
http_security_log(const struct http_server *h, const struct sn_config *cfg,
                  const struct auth *a, const struct tls_conf *tc)
{
	char n1[24], n2[24];

	if (a != NULL) {
		snprintf(n1, sizeof(n1), "%zu", a->ningest);
		snprintf(n2, sizeof(n2), "%zu", a->nquery);
		log_kv(LOG_LEVEL_INFO, "HTTP API keys loaded", "keys", n1,
		       "query_keys", n2, NULL);
		if (a->ningest == 0)
			log_warnx("no API key may send events: every events "
			          "request is refused (ingestion.http.auth)");
	} else if (h->auth != NULL)
		log_warnx("HTTP authentication turned off: anyone who "
		          "reaches the port may send events and query");
	else if (strncmp(cfg->http.host, "127.", 4) != 0 &&
	         strcmp(cfg->http.host, "::1") != 0 &&
	         strcmp(cfg->http.host, "localhost") != 0 && h->http == NULL)
		log_warnx("ingestion.http.auth is off and the HTTP API listens "
		          "on %s: anyone who reaches it may send events and "
		          "query them",
		          cfg->http.host);
	if (tc != NULL)
		log_kv(LOG_LEVEL_INFO, "HTTP TLS certificate loaded", "subject",
		       tc->subject, "not_after", tc->not_after, "sha256",
		       tc->sha256, "client_certificates",
		       tc->mtls ? "required" : "not asked", NULL);
	else if (h->tls != NULL)
		log_warnx("HTTP TLS turned off: new connections are in clear");
}

int
http_set_security(struct http_server *h, const struct sn_config *cfg)
{
	struct sn_cfg_errors errs = {0};
	struct tls_conf *tc = NULL;
	struct auth *a = NULL;
	size_t i;

	(void)auth_load(&cfg->http.auth, cfg->path, &a, &errs);
	if (cfg->http.tls.enabled)
		tc = tls_conf_new(&cfg->http.tls, &errs);
	if (errs.count > 0) {
		for (i = 0; i < errs.count; i++)
			log_error("%s", errs.msgs[i]);
		cfg_errors_free(&errs);
		auth_free(a);
		tls_conf_free(tc);
		return -1;
	}
	http_security_log(h, cfg, a, tc);
	auth_free(h->auth);
	h->auth = a;
	/* Open connections hold their own reference to the old context. */
	tls_conf_free(h->tls);
	h->tls = tc;
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

/*
 * The text of a 202 for res into out: compact JSON and a newline.  A
 * single event's answer is written directly, byte for byte as jansson
 * would (test_ingest checks the bytes): json_pack and json_dumps cost
 * about 12 000 instructions a request, a third of ingestd's own work
 * per single event.  -1 on ENOMEM.
 */
static int
http_accepted_body(const struct ingest_result *res, struct sn_buf *out)
{
	static const char head[] = "{\"status\":\"accepted\",\"accepted\":1,"
	                           "\"event_id\":";
	const char *id;

	if (!res->batch && res->nevents == 1) {
		id = res->events[0].ev.event_id.p;
		sn_buf_append(out, head, sizeof(head) - 1);
		sn_buf_json_str(out, id, strlen(id));
		sn_buf_append(out, "}\n", 2);
		return 0;
	}
	return http_json_line(json_pack("{s:s, s:I, s:o}", "status", "accepted",
	                                "accepted", (json_int_t)res->nevents,
	                                "rejected", http_rejected_list(res)),
	                      out);
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

/* Answers a body refused as a whole by ingest_parse. */
static void
http_body_error(struct http_server *h, struct evhttp_request *req,
                const struct ingest_result *res)
{
	switch (res->status) {
	case INGEST_ERR_JSON:
		http_count(h, HTTP_ERR_INVALID_JSON);
		http_error(req, 400, "invalid JSON", res->reason);
		break;
	case INGEST_ERR_EMPTY:
		http_count(h, HTTP_ERR_EMPTY_BODY);
		http_error(req, 400, "no events", res->reason);
		break;
	case INGEST_ERR_TOO_MANY:
		http_count(h, HTTP_ERR_BATCH_TOO_LARGE);
		http_reply(req, 413,
		           json_pack("{s:s, s:I, s:s}", "error",
		                     "batch too large", "limit",
		                     (json_int_t)res->limit, "reason",
		                     res->reason));
		break;
	case INGEST_ERR_NOMEM:
	default:
		http_count(h, HTTP_ERR_OUT_OF_MEMORY);
		http_unavailable(req, "out of memory", res->reason);
		break;
	}
}

int
http_count_refusal(struct http_server *h, size_t nevents)
{
	int status = fwd_refusal_status(h->fwd);

	h->refused += nevents;
	http_count(h, status == 429 ? HTTP_ERR_TOO_MANY_REQUESTS
	                            : HTTP_ERR_PIPELINE_UNAVAILABLE);
	return status;
}

void
http_count_rejects(struct http_server *h, const struct ingest_result *res)
{
	size_t i;

	h->rejected += res->nrejects;
	for (i = 0; i < res->nrejects; i++)
		http_count(h, http_err_of_reject(res->rejects[i].kind));
}

/* 429 or 503 (status) for a refusal of the pipeline. */
static void
http_answer_refusal(struct evhttp_request *req, int status, const char *failed)
{
	if (status == 429) {
		/* consumers behind: slow down, nothing is wrong */
		evhttp_add_header(evhttp_request_get_output_headers(req),
		                  "Retry-After", "1");
		http_reply(req, 429,
		           json_pack("{s:s, s:s}", "error", "too many requests",
		                     "reason", failed));
		return;
	}
	http_unavailable(req, "pipeline unavailable", failed);
}

/* --- the pipeline, shared with gRPC (grpc.c) ------------------------------ */

/* Events of one request handed to the pipeline, waiting to be durable. */
struct ingest_pending {
	struct fwd_waiter w;
	struct http_server *h;
	fwd_done_cb done; /* the caller's, with arg */
	void *arg;
	uint32_t naccepted; /* events in the batch for this request */
	/* The request's events by application, counted once they are
	 * accepted: runs of equal application_id in arrival order. */
	struct http_app_count {
		struct sn_series *s;
		uint32_t n;
	} * apps;
	size_t napps;
};

static void
ingest_pending_free(struct ingest_pending *p)
{
	free(p->apps);
	free(p);
}

/* Called by forward.c once the request's batch is durable or failed. */
static void
ingest_pending_done(void *arg, const char *failed)
{
	struct ingest_pending *p = arg;
	size_t i;

	if (failed != NULL) {
		http_count_refusal(p->h, p->naccepted);
	} else {
		p->h->accepted += p->naccepted;
		for (i = 0; i < p->napps; i++)
			metrics_add(p->apps[i].s, p->apps[i].n);
	}
	p->done(p->arg, failed);
	ingest_pending_free(p);
}

/* Whether event i has the application_id of event i - 1. */
static int
http_same_app(const struct ingest_result *res, size_t i)
{
	const struct sn_str *a = &res->events[i].ev.application_id;
	const struct sn_str *b = &res->events[i - 1].ev.application_id;

	return a->len == b->len && memcmp(a->p, b->p, a->len) == 0;
}

/*
 * The series of each run of events with one application_id, so the
 * per-application counter costs one lookup per run, not per event.
 * Returns 0, or -1 out of memory.
 */
static int
ingest_pending_apps(struct ingest_pending *p, const struct ingest_result *res)
{
	size_t i, runs = 0;

	for (i = 0; i < res->nevents; i++)
		if (i == 0 || !http_same_app(res, i))
			runs++;
	if ((p->apps = calloc(runs > 0 ? runs : 1, sizeof(*p->apps))) == NULL)
		return -1;
	for (i = 0; i < res->nevents; i++) {
		if (i == 0 || !http_same_app(res, i))
			p->apps[p->napps++].s = metrics_series(
			        M_TELEMETRY_EVENTS,
			        res->events[i].ev.application_id.p);
		p->apps[p->napps - 1].n++;
	}
	return 0;
}

int
http_ingest(struct http_server *h, const struct ingest_result *res,
            fwd_done_cb done, void *arg, const char **failed)
{
	struct ingest_pending *p;
	size_t i, bytes = 0;
	int64_t now;

	for (i = 0; i < res->nevents; i++)
		bytes += msg_event_size(&res->events[i].ev);
	if ((*failed = fwd_room(h->fwd, bytes)) != NULL) {
		http_count_refusal(h, res->nevents);
		return -1;
	}
	if ((p = calloc(1, sizeof(*p))) == NULL ||
	    ingest_pending_apps(p, res) < 0) {
		if (p != NULL)
			ingest_pending_free(p);
		*failed = "out of memory";
		return -2;
	}
	p->h = h;
	p->done = done;
	p->arg = arg;
	p->naccepted = (uint32_t)res->nevents;
	now = sn_now_ms();
	for (i = 0; i < res->nevents; i++) {
		struct sn_event ev = res->events[i].ev;

		ev.recv_ms = now;
		if (fwd_append(h->fwd, &ev, failed) < 0) {
			/*
			 * The batch holding our events was refused; any
			 * earlier full batch of this request did go out
			 * (stored deduplicates by event_id on a retry).
			 */
			ingest_pending_free(p);
			http_count_refusal(h, res->nevents);
			return -1;
		}
	}
	fwd_wait(h->fwd, &p->w, ingest_pending_done, p);
	return 0;
}

/*
 * Writes the answer evhttp_send_reply just queued on bev, in this loop
 * iteration, and finishes it as bufferevent_socket would once the
 * socket is writable (output empty: writing off, evhttp's write
 * callback).  An answer held for the spool's sync is queued in a later
 * iteration than its request was read in, so evhttp's way costs three
 * epoll_ctl a request: reading off once the request is in, writing on
 * for the answer, then writing off and reading on once it is written.
 * Written at once, the last two fall in one iteration and libevent's
 * changelist makes them one.  Plain sockets only (a TLS bufferevent
 * encrypts on its own), and only an answer the socket takes whole; else
 * the bufferevent writes the rest as usual.  bev may be freed on
 * return (evhttp closes a Connection: close request's connection).
 */
static void
http_write_now(struct bufferevent *bev)
{
	struct evbuffer *out = bufferevent_get_output(bev);
	size_t len = evbuffer_get_length(out);
	evutil_socket_t fd = bufferevent_getfd(bev);
	bufferevent_data_cb writecb;
	void *cbarg;

	if (fd < 0 || len == 0 || len > HTTP_WRITE_NOW_MAX ||
	    evbuffer_write(out, fd) != (int)len)
		return;
	bufferevent_getcb(bev, NULL, &writecb, NULL, &cbarg);
	bufferevent_disable(bev, EV_WRITE);
	if (writecb != NULL)
		writecb(bev, cbarg);
}

/* Called through http_ingest once the request's batch went out or
 * failed. */
static void
http_events_done(void *arg, const char *failed)
{
	struct http_pending *p = arg;
	struct evhttp_connection *evcon = evhttp_request_get_connection(p->req);
	struct bufferevent *bev = NULL;

	if (p->h->tls == NULL && evcon != NULL)
		bev = evhttp_connection_get_bufferevent(evcon);
	if (failed != NULL)
		http_answer_refusal(p->req, fwd_refusal_status(p->h->fwd),
		                    failed);
	else
		http_reply_text(p->req, 202, (const char *)p->answer.data,
		                p->answer.len);
	metrics_observe_us(p->h->latency, (uint64_t)(sn_mono_us() - p->t0_us));
	sn_buf_free(&p->answer);
	free(p);
	if (bev != NULL)
		http_write_now(bev);
}

/*
 * Hands the validated events of res to the pipeline and arranges the
 * answer.  res stays the caller's: the events are copied into the batch.
 */
static void
http_forward(struct http_server *h, struct evhttp_request *req,
             struct ingest_result *res, int64_t t0_us)
{
	struct http_pending *p;
	const char *failed;
	int rc;

	if ((p = calloc(1, sizeof(*p))) == NULL ||
	    http_accepted_body(res, &p->answer) < 0) {
		if (p != NULL)
			sn_buf_free(&p->answer);
		free(p);
		http_unavailable(req, "out of memory", NULL);
		return;
	}
	p->h = h;
	p->req = req;
	p->t0_us = t0_us;
	if ((rc = http_ingest(h, res, http_events_done, p, &failed)) < 0) {
		sn_buf_free(&p->answer);
		free(p);
		if (rc == -1)
			http_answer_refusal(req, fwd_refusal_status(h->fwd),
			                    failed);
		else
			http_unavailable(req, "out of memory", NULL);
	}
}

/* The parser's options for a body of at most max_events events, as
 * both doors use them: the event-time window of ingestion.http. */
void
http_parse_opts(const struct http_server *h, uint32_t max_events,
                struct ingest_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->max_events = max_events;
	o->window = true;
	o->now_ms = sn_now_ms();
	o->max_age_ms = h->max_age_ms;
	o->max_future_ms = h->max_future_ms;
}

static void
http_events_cb(struct evhttp_request *req, void *arg)
{
	struct http_server *h = arg;
	const struct auth_key *key;
	struct ingest_result res;
	struct ingest_opts opts;
	enum ingest_body_kind kind;
	struct evbuffer *in;
	const char *ct, *app;
	const char *body = "";
	size_t len;
	int64_t t0_us = sn_mono_us();

	/* Before anything else: a stranger learns nothing, not even which
	 * methods the path takes. */
	if (!http_authorize(h, req, AUTH_SCOPE_INGEST, &key))
		return;
	if (!http_method_ok(req, EVHTTP_REQ_POST, "POST")) {
		http_count(h, HTTP_ERR_METHOD_NOT_ALLOWED);
		return;
	}
	if (h->stopping) {
		http_count(h, HTTP_ERR_SHUTTING_DOWN);
		http_unavailable(req, "shutting down", NULL);
		return;
	}
	ct = evhttp_find_header(evhttp_request_get_input_headers(req),
	                        "Content-Type");
	if (ingest_body_kind_parse(ct, &kind) < 0) {
		http_count(h, HTTP_ERR_UNSUPPORTED_MEDIA);
		http_error(req, 415, "unsupported media type",
		           "Content-Type must be application/json or "
		           "application/x-ndjson");
		return;
	}
	in = evhttp_request_get_input_buffer(req);
	if ((len = evbuffer_get_length(in)) > 0 &&
	    (body = (const char *)evbuffer_pullup(in, -1)) == NULL) {
		http_count(h, HTTP_ERR_OUT_OF_MEMORY);
		http_unavailable(req, "out of memory", NULL);
		return;
	}

	memset(&res, 0, sizeof(res));
	http_parse_opts(h, h->max_events, &opts);
	if (ingest_parse(body, len, kind, &opts, &res) != INGEST_OK) {
		http_body_error(h, req, &res);
	} else if ((app = http_foreign_app(key, &res)) != NULL) {
		http_app_forbidden(h, req, key, app);
	} else {
		http_count_rejects(h, &res);
		if (res.nevents > 0) {
			/* observed when answered */
			http_forward(h, req, &res, t0_us);
			ingest_result_free(&res);
			return;
		}
		http_all_rejected(req, &res);
	}
	metrics_observe_us(h->latency, (uint64_t)(sn_mono_us() - t0_us));
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

int
http_readiness(struct http_server *h, json_t *waiting, const char **reason)
{
	const struct setstate *s = h->state;
	int ready = 1;
	size_t i;
	int j;

	*reason = NULL;
	if (h->stopping)
		*reason = "shutting down";
	else if (s->recv_mono_ms == 0)
		*reason = "no state from supervisor";
	else if (!setstate_fresh(s, sn_mono_ms()))
		*reason = "state from supervisor is stale";
	else
		for (i = 0; i < s->ndaemons; i++)
			if (s->daemons[i].state != SN_DAEMON_UP) {
				ready = 0;
				if (waiting != NULL)
					http_add_name(waiting,
					              s->daemons[i].name);
			}
	for (j = 0; j < FWD_NSINKS; j++)
		if (fwd_peers(h->fwd, j) == 0) {
			ready = 0;
			if (waiting != NULL)
				http_add_name(waiting, h->fwd->sinks[j].name);
		}
	return ready && *reason == NULL;
}

static void
http_ready_cb(struct evhttp_request *req, void *arg)
{
	struct http_server *h = arg;
	const char *reason;
	json_t *waiting, *body;

	if (!http_method_ok(req, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD, "GET, HEAD"))
		return;
	if ((waiting = json_array()) == NULL) {
		http_reply(req, 503, NULL);
		return;
	}
	if (http_readiness(h, waiting, &reason)) {
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

/* The TLS part of /api/v1/health: the certificate in use, which a
 * client can compare after a rotation.  NULL on ENOMEM. */
static json_t *
http_tls_json(const struct http_server *h)
{
	const struct tls_conf *tc = h->tls;

	if (tc == NULL)
		return json_pack("{s:b}", "enabled", 0);
	return json_pack("{s:b, s:b, s:s, s:s, s:s}", "enabled", 1,
	                 "client_certificates", tc->mtls, "subject",
	                 tc->subject, "not_after", tc->not_after, "sha256",
	                 tc->sha256);
}

/*
 * ingestd's own numbers for /api/v1/health: connections open, events
 * since start, and every rejection counter by reason (zeros included,
 * so the shape does not change).  NULL on ENOMEM.
 */
static json_t *
http_ingestion_json(const struct http_server *h)
{
	json_t *errors = json_object();
	int i;

	json_t *sec;

	for (i = 0; errors != NULL && i < HTTP_NERR; i++)
		json_object_set_new(errors, http_err_name((enum http_err)i),
		                    json_integer((json_int_t)h->errors[i]));
	if (h->auth != NULL)
		sec = json_pack("{s:b, s:I, s:I}", "enabled", 1, "keys",
		                (json_int_t)h->auth->ningest, "query_keys",
		                (json_int_t)h->auth->nquery);
	else
		sec = json_pack("{s:b}", "enabled", 0);
	return json_pack("{s:I, s:I, s:I, s:I, s:o*, s:o*, s:o*}",
	                 "connections", (json_int_t)h->nconns, "accepted",
	                 (json_int_t)h->accepted, "rejected",
	                 (json_int_t)h->rejected, "refused",
	                 (json_int_t)h->refused, "errors", errors, "auth", sec,
	                 "tls", http_tls_json(h));
}

static void
http_api_health_cb(struct evhttp_request *req, void *arg)
{
	struct http_server *h = arg;
	const struct setstate *s = h->state;
	const struct setstate_daemon *sd;
	int64_t now_mono = sn_mono_ms(), now = sn_now_ms();
	int64_t uptime = (now_mono - h->start_mono_ms) / 1000;
	const struct auth_key *key;
	json_t *daemons, *body;
	int healthy = 1;
	size_t i;

	/* It shows pids, the version and counters: any key, not everyone
	 * (/health and /ready are the orchestrators' probes). */
	if (!http_authorize(h, req, AUTH_SCOPE_INGEST | AUTH_SCOPE_QUERY, &key))
		return;
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
	if (body != NULL)
		json_object_set_new(body, "ingestion", http_ingestion_json(h));
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

/* --- connections: the cap, the deadlines, libevent's own answers ---------- */

/*
 * libevent 2.1's evhttp has no hook for a new connection or for the end
 * of a request's headers (evhttp_set_newreqcb is 2.2), no cap on
 * connections, and only an inactivity timeout: a client sending a byte
 * every few seconds keeps a connection forever.  It also answers a
 * malformed request, headers or a body over its limits, an unknown
 * method and a bad Expect with an HTML page of its own.  So each
 * connection is watched from the outside, with public calls only:
 *
 *   - evhttp_set_bevcb: we create the connection's bufferevent, so we
 *     learn of the connection.  An event activated there runs before any
 *     byte is read; it finds the evhttp_connection as the bufferevent's
 *     callback argument (evhttp's, in 2.1.12) and sets its close
 *     callback.  An extra reference on the bufferevent until then makes
 *     a connection evhttp dropped in between harmless.
 *   - evbuffer callbacks on the bufferevent's input and output say when
 *     a request starts, when its headers end (the first blank line: the
 *     bytes are seen before evhttp parses them) and when an answer has
 *     gone out.
 *   - A timer per connection: header_timeout from the first byte of a
 *     request (from the accept for a new connection) to the end of its
 *     headers, then body_timeout to the end of its body, else 408.
 *   - An answer libevent wrote itself is replaced by our JSON before it
 *     reaches the socket: its body is the last thing added, and the
 *     socket is written only on a later loop iteration.
 *
 * Answers that end a connection (503 over the cap, 408, the replaced
 * ones) take it over from evhttp: our callbacks on its bufferevent, the
 * answer written, the write side shut once it is out, what the client
 * still sends read and dropped for HTTP_LINGER_MS so that the client
 * reads the answer instead of a reset, then evhttp_connection_free.
 *
 * With TLS (ingestion.http.tls), http_conn_new creates an OpenSSL
 * bufferevent (tls.c) instead of a socket one; the rest works on the
 * decrypted stream as it is: a bufferevent's input and output buffers
 * hold plaintext, and it writes to the socket on a later loop iteration
 * too.  The handshake counts against header_timeout (a new connection's
 * deadline runs from the accept).  A failed handshake is seen at close:
 * counted as tls_handshake and logged with OpenSSL's reason.  A
 * connection taken over before its handshake is done (over the cap, or
 * a handshake slower than header_timeout) is closed without an answer.
 */

enum http_conn_state {
	HTTP_CONN_NEW = 0,  /* accepted, not set up yet */
	HTTP_CONN_IDLE,     /* between requests (evhttp's idle timeout) */
	HTTP_CONN_HEADERS,  /* reading a request's headers */
	HTTP_CONN_BODY,     /* reading its body or handing it over */
	HTTP_CONN_HANDLING, /* a handler has it, or its answer is going out */
	HTTP_CONN_CLOSING,  /* taken over: answering, then closing */
};

struct http_conn {
	TAILQ_ENTRY(http_conn) entry;
	struct http_server *h;
	struct bufferevent *bev;
	struct evhttp_connection *evcon; /* NULL until set up */
	struct event *timer; /* set-up, then deadlines and the answer fix */
	struct evbuffer_cb_entry *in_cb, *out_cb;
	enum http_conn_state state;
	int fix;            /* timer: replace libevent's answer */
	int tls;            /* bev is a TLS bufferevent */
	int status;         /* of the answer being written, 0 if none */
	uint64_t hdr_bytes; /* header bytes of the current request */
	uint32_t lines;     /* header lines seen, request line included */
	uint32_t line_len;  /* bytes of the current line, '\r' aside */
};

static void http_conn_timer_cb(evutil_socket_t fd, short what, void *arg);

/* The listener goes off while many refused connections linger, so that
 * a flood cannot use up every descriptor; back on below that. */
static uint32_t
http_conn_hard_max(const struct http_server *h)
{
	return h->max_conns + h->max_conns / 4 + 16;
}

static void
http_accept_update(struct http_server *h)
{
	struct evconnlistener *l;
	int pause = h->nconns >= http_conn_hard_max(h);

	if (h->sock == NULL || pause == h->accept_paused)
		return;
	if ((l = evhttp_bound_socket_get_listener(h->sock)) == NULL)
		return;
	if (pause) {
		evconnlistener_disable(l);
		log_warnx("%u HTTP connections open: not accepting more until "
		          "some close",
		          h->nconns);
	} else
		evconnlistener_enable(l);
	h->accept_paused = pause;
}

static void
http_conn_free(struct http_conn *c)
{
	struct http_server *h = c->h;

	TAILQ_REMOVE(&h->conns, c, entry);
	h->nconns--;
	metrics_set(h->conn_gauge, h->nconns);
	if (c->timer != NULL)
		event_free(c->timer);
	free(c);
	http_accept_update(h);
}

/* evhttp's close callback: the connection is being freed. */
static void
http_conn_closed(struct evhttp_connection *evcon, void *arg)
{
	struct http_conn *c = arg;
	const char *why;

	evhttp_connection_set_closecb(evcon, NULL, NULL);
	if (c->tls && (why = tls_handshake_error(c->bev)) != NULL) {
		http_count(c->h, HTTP_ERR_TLS_HANDSHAKE);
		http_seclog(c->h, HTTP_SECLOG_TLS, evcon,
		            "HTTP TLS handshake failed",
		            json_pack("{s:s}", "reason", why));
	}
	if (c->in_cb != NULL)
		evbuffer_remove_cb_entry(bufferevent_get_input(c->bev),
		                         c->in_cb);
	if (c->out_cb != NULL)
		evbuffer_remove_cb_entry(bufferevent_get_output(c->bev),
		                         c->out_cb);
	if (c->state == HTTP_CONN_CLOSING)
		bufferevent_setcb(c->bev, NULL, NULL, NULL, NULL);
	http_conn_free(c);
}

/* evhttp's inactivity timeout for the connection, in ms. */
static void
http_conn_idle_timeout(struct http_conn *c, int64_t ms)
{
	struct timeval tv;

	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	evhttp_connection_set_timeout_tv(c->evcon, &tv);
}

/* A deadline ms from now; evhttp's own timeout is moved past it so
 * that a client who stops sending gets our 408, not a silent close. */
static void
http_conn_deadline(struct http_conn *c, int64_t ms)
{
	struct timeval tv;

	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	evtimer_add(c->timer, &tv);
	http_conn_idle_timeout(c, ms + 1000);
}

/* A request starts. */
static void
http_conn_begin(struct http_conn *c)
{
	c->state = HTTP_CONN_HEADERS;
	c->hdr_bytes = 0;
	c->lines = 0;
	c->line_len = 0;
	http_conn_deadline(c, c->h->header_timeout_ms);
}

/*
 * Follows the header lines in buf from offset off on: at the blank line
 * that ends them the body's deadline starts.  The bytes after it (the
 * body) are not looked at.
 */
static void
http_conn_scan(struct http_conn *c, struct evbuffer *buf, size_t off)
{
	size_t len = evbuffer_get_length(buf), j;
	struct evbuffer_ptr p;
	struct evbuffer_iovec v;
	const char *b;

	if (evbuffer_ptr_set(buf, &p, off, EVBUFFER_PTR_SET) < 0)
		return;
	while (off < len && evbuffer_peek(buf, -1, &p, &v, 1) > 0 &&
	       v.iov_len > 0) {
		b = v.iov_base;
		for (j = 0; j < v.iov_len; j++) {
			c->hdr_bytes++;
			if (b[j] == '\n') {
				if (c->line_len == 0 && c->lines > 0) {
					c->state = HTTP_CONN_BODY;
					http_conn_deadline(
					        c, c->h->body_timeout_ms);
					return;
				}
				c->lines++;
				c->line_len = 0;
			} else if (b[j] != '\r')
				c->line_len++;
		}
		off += v.iov_len;
		if (evbuffer_ptr_set(buf, &p, v.iov_len, EVBUFFER_PTR_ADD) < 0)
			return;
	}
}

/* Bytes came in or were consumed. */
static void
http_conn_input(struct evbuffer *buf, const struct evbuffer_cb_info *info,
                void *arg)
{
	struct http_conn *c = arg;

	if (info->n_added == 0)
		return;
	if (c->state == HTTP_CONN_IDLE)
		http_conn_begin(c);
	if (c->state == HTTP_CONN_HEADERS)
		http_conn_scan(c, buf,
		               evbuffer_get_length(buf) - info->n_added);
}

/* The status of an answer whose status line starts at off; 0 if none. */
static int
http_conn_peek_status(struct evbuffer *buf, size_t off)
{
	struct evbuffer_ptr p;
	char line[12];

	if (evbuffer_ptr_set(buf, &p, off, EVBUFFER_PTR_SET) < 0 ||
	    evbuffer_copyout_from(buf, &p, line, sizeof(line)) !=
	            (ev_ssize_t)sizeof(line) ||
	    memcmp(line, "HTTP/1.", 7) != 0 || line[8] != ' ')
		return 0;
	if (line[9] < '1' || line[9] > '5' || line[10] < '0' ||
	    line[10] > '9' || line[11] < '0' || line[11] > '9')
		return 0;
	return (line[9] - '0') * 100 + (line[10] - '0') * 10 + line[11] - '0';
}

/* Whether the bytes at off start libevent's HTML error page. */
static int
http_conn_is_html(struct evbuffer *buf, size_t off)
{
	static const char page[] = "<HTML><HEAD>";
	struct evbuffer_ptr p;
	char b[sizeof(page) - 1];

	return evbuffer_ptr_set(buf, &p, off, EVBUFFER_PTR_SET) == 0 &&
	       evbuffer_copyout_from(buf, &p, b, sizeof(b)) ==
	               (ev_ssize_t)sizeof(b) &&
	       memcmp(b, page, sizeof(b)) == 0;
}

/* Back to waiting for the next request, which may be buffered already
 * (pipelining). */
static void
http_conn_idle(struct http_conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);

	c->state = HTTP_CONN_IDLE;
	evtimer_del(c->timer);
	http_conn_idle_timeout(c, c->h->idle_timeout_ms);
	if (evbuffer_get_length(in) > 0) {
		http_conn_begin(c);
		http_conn_scan(c, in, 0);
	}
}

/* Bytes of an answer were added, or written to the socket. */
static void
http_conn_output(struct evbuffer *buf, const struct evbuffer_cb_info *info,
                 void *arg)
{
	struct http_conn *c = arg;
	size_t off = evbuffer_get_length(buf) - info->n_added;
	bufferevent_data_cb readcb;
	int st;

	if (c->state == HTTP_CONN_CLOSING || c->state == HTTP_CONN_NEW)
		return;
	if (info->n_added > 0) {
		/* evhttp adds the status line, each header and the body
		 * separately, the body last. */
		if ((st = http_conn_peek_status(buf, off)) != 0)
			c->status = st;
		else if (c->status >= 400 && !c->fix &&
		         http_conn_is_html(buf, off)) {
			c->fix = 1;
			evtimer_del(c->timer);
			event_active(c->timer, EV_TIMEOUT, 1);
		}
		return;
	}
	if (info->n_deleted == 0 || evbuffer_get_length(buf) > 0)
		return;
	/* All written.  evhttp reads with no read callback while an answer
	 * goes out (to notice a close); not so after a 100 Continue. */
	bufferevent_getcb(c->bev, &readcb, NULL, NULL, NULL);
	c->status = 0;
	if (readcb == NULL)
		http_conn_idle(c);
}

/* --- taking a connection over to answer and close it */

static void
http_conn_drop(struct http_conn *c)
{
	/* Calls http_conn_closed, which frees c. */
	evhttp_connection_free(c->evcon);
}

static void
http_conn_linger_read(struct bufferevent *bev, void *arg)
{
	struct evbuffer *in = bufferevent_get_input(bev);

	(void)arg;
	evbuffer_drain(in, evbuffer_get_length(in));
}

/* Our answer is out: no more to say. */
static void
http_conn_linger_write(struct bufferevent *bev, void *arg)
{
	(void)arg;
	tls_close_notify(bev);
	shutdown(bufferevent_getfd(bev), SHUT_WR);
}

/* The client closed, or stopped reading our answer. */
static void
http_conn_linger_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	(void)what;
	http_conn_drop(arg);
}

/*
 * Takes c over from evhttp to answer code with body (JSON, stolen; NULL:
 * out of memory, the connection is just closed) and close it.  evhttp
 * does not see the connection again until http_conn_drop frees it.
 */
static void
http_conn_takeover(struct http_conn *c, int code, json_t *body, int retry_after)
{
	struct timeval tv = {HTTP_LINGER_MS / 1000,
	                     (HTTP_LINGER_MS % 1000) * 1000};
	struct evbuffer *in = bufferevent_get_input(c->bev);
	struct evbuffer *out = bufferevent_get_output(c->bev);
	char *text = NULL;

	c->state = HTTP_CONN_CLOSING;
	evtimer_del(c->timer);
	/* Before its TLS handshake nothing can be said to a client, and a
	 * handshake costs more than a refusal is worth (over the cap, a
	 * flood): closed at once. */
	if (body != NULL && tls_handshake_done(c->bev))
		text = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	if (text == NULL) {
		http_conn_drop(c);
		return;
	}
	bufferevent_setcb(c->bev, http_conn_linger_read, http_conn_linger_write,
	                  http_conn_linger_event, c);
	evbuffer_drain(in, evbuffer_get_length(in));
	evbuffer_drain(out, evbuffer_get_length(out));
	evbuffer_add_printf(out,
	                    "HTTP/1.1 %d %s\r\n"
	                    "Content-Type: application/json\r\n"
	                    "Content-Length: %zu\r\n"
	                    "%s"
	                    "Connection: close\r\n\r\n%s\n",
	                    code, http_reason_phrase(code), strlen(text) + 1,
	                    retry_after ? "Retry-After: 1\r\n" : "", text);
	free(text);
	/* A deadline, not bufferevent's inactivity timeout: a client
	 * sending a byte now and then must not keep the connection. */
	bufferevent_set_timeouts(c->bev, NULL, &tv);
	evtimer_add(c->timer, &tv);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

/* {"error": error, "reason": reason} */
static json_t *
http_conn_error(const char *error, const char *reason)
{
	return json_pack("{s:s, s:s}", "error", error, "reason", reason);
}

/* Replaces the HTML page libevent has just written with our answer. */
static void
http_conn_fix(struct http_conn *c)
{
	struct http_server *h = c->h;
	char why[160];

	if (c->status == 413) {
		http_count(h, HTTP_ERR_BODY_TOO_LARGE);
		snprintf(why, sizeof(why),
		         "the body is larger than %llu bytes "
		         "(ingestion.http.max_body_size)",
		         (unsigned long long)h->max_body);
		http_conn_takeover(c, 413,
		                   json_pack("{s:s, s:I, s:s}", "error",
		                             "body too large", "limit",
		                             (json_int_t)h->max_body, "reason",
		                             why),
		                   0);
	} else if (c->status == 400 && c->hdr_bytes > h->max_header) {
		/* libevent 2.1 answers 400 for headers over its limit. */
		http_count(h, HTTP_ERR_HEADER_TOO_LARGE);
		snprintf(why, sizeof(why),
		         "the request line and headers are larger than %llu "
		         "bytes (ingestion.http.max_header_size)",
		         (unsigned long long)h->max_header);
		http_conn_takeover(c, 431,
		                   json_pack("{s:s, s:I, s:s}", "error",
		                             "headers too large", "limit",
		                             (json_int_t)h->max_header,
		                             "reason", why),
		                   0);
	} else if (c->status == 501) {
		http_count(h, HTTP_ERR_MALFORMED_HTTP);
		http_conn_takeover(c, 501,
		                   http_conn_error("not implemented",
		                                   "unknown HTTP method"),
		                   0);
	} else if (c->status == 417) {
		http_count(h, HTTP_ERR_MALFORMED_HTTP);
		http_conn_takeover(c, 417,
		                   http_conn_error("expectation failed",
		                                   "only Expect: 100-continue "
		                                   "is supported"),
		                   0);
	} else {
		http_count(h, HTTP_ERR_MALFORMED_HTTP);
		http_conn_takeover(c, c->status == 400 ? 400 : c->status,
		                   http_conn_error("malformed request",
		                                   "the request is not valid "
		                                   "HTTP/1.1"),
		                   0);
	}
}

/* The timer: a request took too long. */
static void
http_conn_expired(struct http_conn *c)
{
	const struct http_server *h = c->h;
	bufferevent_data_cb readcb;
	char why[160], d[32];
	int body = c->state == HTTP_CONN_BODY;

	if (c->state != HTTP_CONN_HEADERS && c->state != HTTP_CONN_BODY)
		return;
	/* evhttp stops reading once it has the whole request. */
	bufferevent_getcb(c->bev, &readcb, NULL, NULL, NULL);
	if (readcb == NULL || !(bufferevent_get_enabled(c->bev) & EV_READ)) {
		c->state = HTTP_CONN_HANDLING;
		return;
	}
	http_count(c->h, HTTP_ERR_TIMEOUT);
	sn_duration_format(body ? h->body_timeout_ms : h->header_timeout_ms, d,
	                   sizeof(d));
	snprintf(why, sizeof(why),
	         "the request %s did not arrive within %s "
	         "(ingestion.http.%s_timeout)",
	         body ? "body" : "headers", d, body ? "body" : "header");
	http_conn_takeover(c, 408, http_conn_error("request timeout", why), 0);
}

/* The connection is known to evhttp by now: learn its evhttp_connection
 * and refuse it over the cap. */
static void
http_conn_setup(struct http_conn *c)
{
	struct http_server *h = c->h;
	struct bufferevent *bev = c->bev;
	bufferevent_data_cb readcb;
	void *cbarg;
	char why[160];

	bufferevent_getcb(bev, &readcb, NULL, NULL, &cbarg);
	if (readcb == NULL || cbarg == NULL ||
	    evhttp_connection_get_bufferevent(cbarg) != bev) {
		/* evhttp dropped it already (freeing a bufferevent clears
		 * its callbacks); ours is the last reference. */
		bufferevent_decref(bev);
		http_conn_free(c);
		return;
	}
	c->evcon = cbarg;
	evhttp_connection_set_closecb(c->evcon, http_conn_closed, c);
	bufferevent_decref(bev);
	/* bufferevent_openssl writes an answer as several TLS records, one
	 * send each: with Nagle on, the last waits for the client's delayed
	 * ACK (40 ms a request on Linux, kept-alive connections included). */
	if (c->tls)
		(void)setsockopt(bufferevent_getfd(bev), IPPROTO_TCP,
		                 TCP_NODELAY, &(int){1}, sizeof(int));
	c->in_cb =
	        evbuffer_add_cb(bufferevent_get_input(bev), http_conn_input, c);
	c->out_cb = evbuffer_add_cb(bufferevent_get_output(bev),
	                            http_conn_output, c);
	if (c->in_cb == NULL || c->out_cb == NULL) {
		http_count(h, HTTP_ERR_OUT_OF_MEMORY);
		http_conn_drop(c);
		return;
	}
	if (h->nconns > h->max_conns) {
		http_count(h, HTTP_ERR_TOO_MANY_CONNECTIONS);
		snprintf(why, sizeof(why),
		         "ingestd serves at most %u connections at once "
		         "(ingestion.http.max_connections)",
		         h->max_conns);
		http_conn_takeover(c, 503,
		                   http_conn_error("too many connections", why),
		                   1);
		return;
	}
	/* A new connection has header_timeout for its first request. */
	http_conn_begin(c);
}

static void
http_conn_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct http_conn *c = arg;

	(void)fd;
	(void)what;
	if (c->evcon == NULL)
		http_conn_setup(c);
	else if (c->state == HTTP_CONN_CLOSING)
		http_conn_drop(c); /* lingered long enough */
	else if (c->fix) {
		c->fix = 0;
		http_conn_fix(c);
	} else
		http_conn_expired(c);
}

/* evhttp_set_bevcb: a connection was accepted. */
static struct bufferevent *
http_conn_new(struct event_base *base, void *arg)
{
	struct http_server *h = arg;
	struct bufferevent *bev;
	struct http_conn *c;

	/*
	 * On failure evhttp makes its own bufferevent: that connection
	 * then goes unwatched, which only memory exhaustion can cause.
	 * On a TLS port it would even be plain HTTP; harmless, since a
	 * TLS client's hello is not HTTP and gets a 400, and the API keys
	 * still apply.
	 */
	if (h->tls != NULL)
		bev = tls_bufferevent_new(base, h->tls);
	else
		bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		http_count(h, HTTP_ERR_OUT_OF_MEMORY);
		return NULL;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL ||
	    (c->timer = evtimer_new(base, http_conn_timer_cb, c)) == NULL) {
		free(c);
		http_count(h, HTTP_ERR_OUT_OF_MEMORY);
		return bev;
	}
	c->h = h;
	c->bev = bev;
	c->tls = h->tls != NULL;
	bufferevent_incref(bev); /* until http_conn_setup */
	TAILQ_INSERT_TAIL(&h->conns, c, entry);
	h->nconns++;
	metrics_set(h->conn_gauge, h->nconns);
	http_accept_update(h);
	/* Runs in this loop iteration, before the first read. */
	event_active(c->timer, EV_TIMEOUT, 1);
	return bev;
}

/* Raises the soft limit on open files to what max_connections needs,
 * when the hard limit allows; says so when it does not. */
static void
http_check_nofile(const struct http_server *h)
{
	rlim_t need = (rlim_t)http_conn_hard_max(h) + 256;
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= need)
		return;
	rl.rlim_cur = rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need
	                      ? rl.rlim_max
	                      : need;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur < need)
		log_warnx("ingestion.http.max_connections %u needs about %llu "
		          "open files; the limit is %llu",
		          h->max_conns, (unsigned long long)need,
		          (unsigned long long)rl.rlim_cur);
}

/* --- server -----------------------------------------------------------------
 */

void
http_set_limits(struct http_server *h, const struct sn_config *cfg)
{
	uint64_t max_body = cfg->http.max_body_bytes;
	int64_t idle = cfg->limits.idle_timeout_ms;
	struct timeval tv;

	h->max_body = max_body;
	h->max_events = cfg->http.max_batch_events;
	h->max_conns = cfg->limits.max_connections;
	h->max_header = cfg->limits.max_header_bytes;
	h->header_timeout_ms = cfg->limits.header_timeout_ms;
	h->body_timeout_ms = cfg->limits.body_timeout_ms;
	h->idle_timeout_ms = idle;
	h->max_age_ms = cfg->limits.max_age_ms;
	h->max_future_ms = cfg->limits.max_future_ms;
	evhttp_set_max_body_size(h->http, max_body > (uint64_t)SSIZE_MAX
	                                          ? SSIZE_MAX
	                                          : (ev_ssize_t)max_body);
	evhttp_set_max_headers_size(h->http, (ev_ssize_t)h->max_header);
	tv.tv_sec = idle / 1000;
	tv.tv_usec = (idle % 1000) * 1000;
	evhttp_set_timeout_tv(h->http, &tv);
	http_check_nofile(h);
	http_accept_update(h);
}

int
http_open(struct http_server *h, struct sn_daemon *d, struct fwd *f,
          struct setstate *s)
{
	const struct sn_config *cfg = d->cfg;
	const char *host = cfg->http.host ? cfg->http.host : "0.0.0.0";
	size_t i;

	memset(h, 0, sizeof(*h));
	h->d = d;
	h->fwd = f;
	h->state = s;
	h->start_mono_ms = sn_mono_ms();
	TAILQ_INIT(&h->conns);
	/* Every reason at 0 from the start, so rate() has a series. */
	for (i = 0; i < HTTP_NERR; i++)
		h->err_series[i] = metrics_series(
		        M_INGESTION_ERRORS, http_err_name((enum http_err)i));
	h->latency = metrics_series(M_INGESTION_LATENCY);
	h->conn_gauge = metrics_series(M_HTTP_CONNECTIONS);
	if (http_set_security(h, cfg) < 0) {
		log_warnx("cannot load the HTTP API keys or TLS certificate");
		return -2;
	}
	if ((h->http = evhttp_new(d->base)) == NULL) {
		log_warnx("cannot create the HTTP server");
		return -1;
	}
	/* Let every method reach us, so a wrong one gets a JSON 405. */
	evhttp_set_allowed_methods(h->http, HTTP_ALL_METHODS);
	evhttp_set_default_content_type(h->http, "application/json");
	evhttp_set_bevcb(h->http, http_conn_new, h);
	http_set_limits(h, cfg);
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
	/* A privileged port is bound by the supervisor before it drops
	 * root and handed over (common/privs.h). */
	if (d->http_fd >= 0)
		h->sock = evhttp_accept_socket_with_handle(h->http, d->http_fd);
	else
		h->sock = evhttp_bind_socket_with_handle(
		        h->http, host, (ev_uint16_t)cfg->http.port);
	if (h->sock == NULL) {
		log_warn("cannot listen on %s port %d", host, cfg->http.port);
		return -1;
	}
	log_info("HTTP API listening on %s port %d (TLS %s, API keys %s)", host,
	         cfg->http.port,
	         h->tls == NULL ? "off"
	         : h->tls->mtls ? "with client certificates"
	                        : "on",
	         h->auth != NULL ? "required" : "off");
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
	struct http_conn *c;

	qproxy_close(h->query); /* before evhttp_free frees its requests */
	h->sock = NULL;
	if (h->http != NULL)
		evhttp_free(h->http); /* http_conn_closed for each */
	/* Only connections never set up are left. */
	while ((c = TAILQ_FIRST(&h->conns)) != NULL) {
		if (c->evcon == NULL)
			bufferevent_decref(c->bev);
		http_conn_free(c);
	}
	auth_free(h->auth);
	tls_conf_free(h->tls);
	memset(h, 0, sizeof(*h));
}
