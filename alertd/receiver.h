/*
 * receiver.h: the receiver interface, one file per type
 * (receiver_webhook.c, receiver_slack.c, receiver_pagerduty.c,
 * receiver_email.c), and the delivery core that drives them.
 *
 * As in Fluent Bit's output plugins, a receiver only knows its protocol:
 * its prepare function turns a notification into a libcurl request
 * (URL, headers, body).  The core (deliver.c) runs every request on one
 * curl multi handle, on a delivery thread with its own libevent loop, so
 * a slow receiver never delays another nor alertd's loop, applies the
 * per-request timeout, and classifies the outcome into OK, RETRY (with
 * the peer's Retry-After) or ERROR with a reason; the outcome comes back
 * to alertd's loop, and the outbox owns retries and backoff.
 *
 * Secrets (SMTP password, webhook and Slack URLs, routing keys, HMAC
 * secrets) never reach a log line or a reason: requests are named by
 * receiver_where (scheme://host) only.
 */
#ifndef SN_RECEIVER_H
#define SN_RECEIVER_H

#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>
#include <event2/event.h>

#include "config.h"
#include "notify.h"
#include "util.h"

enum receiver_result {
	RECEIVER_OK = 0, /* delivered */
	RECEIVER_RETRY,  /* try again later: timeout, 5xx, 429, no peer */
	RECEIVER_ERROR,  /* will never work as is: 4xx, bad config */
};

/* A request being built by a receiver and run by the core. */
struct receiver_request {
	CURL *easy;
	struct curl_slist *headers; /* HTTP headers; freed by the core */
	struct curl_slist *rcpt;    /* SMTP recipients; freed by the core */
	struct sn_buf body;         /* POST body or SMTP message */
	size_t body_off;            /* SMTP upload position */
	int smtp;                   /* classify as SMTP, not HTTP */
	char where[160];            /* scheme://host[:port], for logs */
};

struct receiver_type {
	const char *name; /* the type in alerts.yaml */
	/*
	 * Sets up req->easy (already created, with the core's options) to
	 * deliver n, whose outbox id is id, to rc.  0, or -1 with a reason
	 * in reason[0..len) when it cannot be sent at all (a config error):
	 * the row fails without retries.
	 */
	int (*prepare)(const struct sn_receiver *rc,
	               const struct notification *n, const char *id,
	               struct receiver_request *req, char *reason, size_t len);
};

extern const struct receiver_type receiver_webhook;
extern const struct receiver_type receiver_slack;
extern const struct receiver_type receiver_pagerduty;
extern const struct receiver_type receiver_email;

/* The receiver type named type, or NULL. */
const struct receiver_type *receiver_find(const char *type);

/*
 * For HTTP receivers: POST doc (decref'd by the caller) as JSON to url,
 * with the notification id in X-Sentinel-Notification-Id; doc NULL:
 * the JSON the caller wrote into req->body.  Fills req->where.  0, or
 * -1 with a reason.
 */
int receiver_post_json(struct receiver_request *req, const char *url,
                       json_t *doc, const char *id, char *reason, size_t len);

/* Adds one "Name: value" header to req. */
void receiver_header(struct receiver_request *req, const char *name,
                     const char *value);

/*
 * HMAC-SHA256 of msg under key as 64 lowercase hex digits and a NUL
 * (receiver_webhook.c).
 */
void receiver_hmac_sha256_hex(const void *key, size_t klen, const void *msg,
                              size_t mlen, char out[65]);

/* scheme://host[:port] of url into out: no path, query or userinfo. */
void receiver_where(const char *url, char *out, size_t size);

/*
 * The outcome of a finished request: result, Retry-After in ms (0 when
 * the peer gave none) and a reason safe to log.
 */
struct receiver_outcome {
	enum receiver_result result;
	int64_t retry_after_ms;
	long status; /* HTTP status or SMTP reply code; 0: none */
	char reason[256];
	char where[160]; /* the peer, scheme://host[:port] */
};

/*
 * Classifies a finished transfer: its curl code, the HTTP or SMTP
 * status, and the Retry-After in seconds (-1: none).  Pure; unit-tested.
 */
void receiver_classify(int smtp, CURLcode code, long status,
                       int64_t retry_after_s, struct receiver_outcome *out);

/* The delivery core. */
struct deliver;
typedef void (*deliver_cb)(const struct receiver_outcome *o, void *arg);

/*
 * A core whose callbacks run on base (the caller's loop, the only thread
 * that may call the functions below); it starts the delivery thread.
 * Free with deliver_free (stops and joins the thread, cancels what is in
 * flight, without calling back).
 */
struct deliver *deliver_new(struct event_base *base);
void deliver_free(struct deliver *dl);

/*
 * Starts sending n to rc; cb(outcome, arg) runs on the loop when it
 * finishes, or before deliver_send returns when it cannot start (an
 * unknown type, a config error).  id names the notification.
 */
void deliver_send(struct deliver *dl, const struct sn_receiver *rc,
                  const struct notification *n, const char *id, deliver_cb cb,
                  void *arg);

/* Requests sent and not called back yet. */
size_t deliver_inflight(const struct deliver *dl);

#endif
