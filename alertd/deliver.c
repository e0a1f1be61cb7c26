/*
 * deliver.c: the delivery core (see receiver.h).
 *
 * One curl multi handle, driven by libevent through curl's socket and
 * timer callbacks: curl says which sockets to watch and when to wake it
 * (CURLMOPT_SOCKETFUNCTION, CURLMOPT_TIMERFUNCTION); the loop tells
 * curl what happened (curl_multi_socket_action), then finished
 * transfers are collected with curl_multi_info_read.  Nothing blocks
 * the loop, and each transfer has its own timeout.
 */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "receiver.h"

/*
 * Finished easy handles kept for the next requests (curl_easy_reset
 * clears their options but keeps their buffers): a new handle per
 * request costs its allocations and its 16 KiB receive buffer every
 * time.  The connections themselves are the multi handle's, reused
 * whichever easy handle runs the next request to the same peer.
 */
#define DELIVER_IDLE_MAX 32

struct deliver {
	struct event_base *base;
	CURLM *multi;
	struct event *timer; /* curl's timeout */
	size_t inflight;
	struct deliver_job *jobs;     /* in flight, to cancel on free */
	CURL *idle[DELIVER_IDLE_MAX]; /* finished handles, reset for reuse */
	size_t nidle;
};

/* One transfer in flight. */
struct deliver_job {
	struct deliver *dl;
	struct receiver_request req;
	deliver_cb cb;
	void *arg;
	char errbuf[CURL_ERROR_SIZE];
	struct deliver_job *next, *prev;
};

/* The libevent event of one socket curl watches (curl_multi_assign). */
struct deliver_sock {
	struct event *ev;
};

static const struct receiver_type *const receiver_types[] = {
        &receiver_webhook,
        &receiver_slack,
        &receiver_pagerduty,
        &receiver_email,
};

const struct receiver_type *
receiver_find(const char *type)
{
	size_t i;

	for (i = 0; type != NULL && i < SN_ARRAY_LEN(receiver_types); i++)
		if (strcmp(receiver_types[i]->name, type) == 0)
			return receiver_types[i];
	return NULL;
}

void
receiver_where(const char *url, char *out, size_t size)
{
	const char *p = strstr(url ? url : "", "://"), *host, *end, *at;
	size_t scheme;

	if (p == NULL) {
		snprintf(out, size, "(invalid url)");
		return;
	}
	scheme = (size_t)(p - url);
	host = p + 3;
	end = host + strcspn(host, "/?#");
	/* user:password@host: drop the credentials */
	at = memchr(host, '@', (size_t)(end - host));
	if (at != NULL)
		host = at + 1;
	snprintf(out, size, "%.*s://%.*s", (int)scheme, url, (int)(end - host),
	         host);
}

void
receiver_header(struct receiver_request *req, const char *name,
                const char *value)
{
	struct sn_buf h = {0};
	struct curl_slist *l;

	sn_buf_append(&h, name, strlen(name));
	sn_buf_append(&h, ": ", 2);
	sn_buf_append(&h, value, strlen(value));
	sn_buf_append(&h, "", 1);
	if ((l = curl_slist_append(req->headers, (char *)h.data)) == NULL)
		fatalx("out of memory");
	req->headers = l;
	sn_buf_free(&h);
}

int
receiver_post_json(struct receiver_request *req, const char *url, json_t *doc,
                   const char *id, char *reason, size_t len)
{
	if (url == NULL || *url == '\0') {
		snprintf(reason, len, "no url configured");
		return -1;
	}
	receiver_where(url, req->where, sizeof(req->where));
	if (strncmp(url, "http://", 7) != 0 &&
	    strncmp(url, "https://", 8) != 0) {
		snprintf(reason, len, "url %s is not http(s)", req->where);
		return -1;
	}
	if (doc != NULL)
		notify_dump(doc, &req->body); /* json_dumps' bytes, faster */
	receiver_header(req, "Content-Type", "application/json");
	receiver_header(req, "X-Sentinel-Notification-Id", id);
	/* no "Expect: 100-continue" round trip */
	receiver_header(req, "Expect", "");
	curl_easy_setopt(req->easy, CURLOPT_URL, url);
	curl_easy_setopt(req->easy, CURLOPT_POSTFIELDS, req->body.data);
	curl_easy_setopt(req->easy, CURLOPT_POSTFIELDSIZE_LARGE,
	                 (curl_off_t)req->body.len);
	return 0;
}

void
receiver_classify(int smtp, CURLcode code, long status, int64_t retry_after_s,
                  struct receiver_outcome *o)
{
	memset(o, 0, sizeof(*o));
	o->status = status;
	if (retry_after_s > 0)
		o->retry_after_ms = retry_after_s * 1000;
	if (smtp) {
		/* SMTP: 4yz is transient, 5yz permanent (RFC 5321 4.2.1) */
		if (code == CURLE_OK) {
			o->result = RECEIVER_OK;
			snprintf(o->reason, sizeof(o->reason), "smtp %ld",
			         status);
		} else if (code == CURLE_LOGIN_DENIED ||
		           code == CURLE_URL_MALFORMAT ||
		           code == CURLE_UNSUPPORTED_PROTOCOL ||
		           code == CURLE_USE_SSL_FAILED ||
		           (status >= 500 && status < 600)) {
			o->result = RECEIVER_ERROR;
			snprintf(o->reason, sizeof(o->reason), "smtp %ld: %s",
			         status, curl_easy_strerror(code));
		} else {
			o->result = RECEIVER_RETRY;
			snprintf(o->reason, sizeof(o->reason), "smtp %ld: %s",
			         status, curl_easy_strerror(code));
		}
		return;
	}
	if (code != CURLE_OK) {
		/* no HTTP answer: the peer may come back */
		o->result = code == CURLE_URL_MALFORMAT ||
		                            code == CURLE_UNSUPPORTED_PROTOCOL
		                    ? RECEIVER_ERROR
		                    : RECEIVER_RETRY;
		snprintf(o->reason, sizeof(o->reason), "%s",
		         curl_easy_strerror(code));
		return;
	}
	if (status >= 200 && status < 300)
		o->result = RECEIVER_OK;
	else if (status == 429 || status == 408 || status >= 500)
		o->result = RECEIVER_RETRY;
	else
		o->result = RECEIVER_ERROR;
	snprintf(o->reason, sizeof(o->reason), "HTTP %ld", status);
}

/* A handle for a new request: a kept one, reset, or a new one. */
static CURL *
deliver_get_easy(struct deliver *dl)
{
	CURL *easy;

	if (dl->nidle > 0)
		return dl->idle[--dl->nidle];
	if ((easy = curl_easy_init()) == NULL)
		fatalx("out of memory");
	return easy;
}

/* Done with easy (out of the multi): kept for reuse, or cleaned up. */
static void
deliver_put_easy(struct deliver *dl, CURL *easy)
{
	if (dl->nidle < DELIVER_IDLE_MAX) {
		curl_easy_reset(easy);
		dl->idle[dl->nidle++] = easy;
	} else
		curl_easy_cleanup(easy);
}

/* Frees a job's request (the easy handle is already out of the multi). */
static void
deliver_job_free(struct deliver_job *job)
{
	struct deliver *dl = job->dl;

	if (job->prev)
		job->prev->next = job->next;
	else if (dl->jobs == job)
		dl->jobs = job->next;
	if (job->next)
		job->next->prev = job->prev;
	deliver_put_easy(dl, job->req.easy);
	curl_slist_free_all(job->req.headers);
	curl_slist_free_all(job->req.rcpt);
	sn_buf_free(&job->req.body);
	free(job);
}

/* Collects finished transfers and calls their callbacks. */
static void
deliver_check(struct deliver *dl)
{
	struct receiver_outcome o;
	struct deliver_job *job;
	CURLMsg *m;
	curl_off_t ra = -1;
	long status = 0;
	int left;

	while ((m = curl_multi_info_read(dl->multi, &left)) != NULL) {
		if (m->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &job);
		curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE,
		                  &status);
		ra = -1;
		if (!job->req.smtp)
			curl_easy_getinfo(m->easy_handle, CURLINFO_RETRY_AFTER,
			                  &ra);
		receiver_classify(job->req.smtp, m->data.result, status,
		                  (int64_t)ra, &o);
		snprintf(o.where, sizeof(o.where), "%s", job->req.where);
		curl_multi_remove_handle(dl->multi, m->easy_handle);
		dl->inflight--;
		job->cb(&o, job->arg);
		deliver_job_free(job);
	}
}

/* libevent: a socket curl watches is ready. */
static void
deliver_on_sock(evutil_socket_t fd, short what, void *arg)
{
	struct deliver *dl = arg;
	int running, action = 0;

	if (what & EV_READ)
		action |= CURL_CSELECT_IN;
	if (what & EV_WRITE)
		action |= CURL_CSELECT_OUT;
	curl_multi_socket_action(dl->multi, fd, action, &running);
	deliver_check(dl);
}

/* libevent: curl's timeout expired. */
static void
deliver_on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct deliver *dl = arg;
	int running;

	(void)fd;
	(void)what;
	curl_multi_socket_action(dl->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	deliver_check(dl);
}

/* curl: watch (or stop watching) socket s for what. */
static int
deliver_sockfn(CURL *easy, curl_socket_t s, int what, void *userp,
               void *socketp)
{
	struct deliver *dl = userp;
	struct deliver_sock *ds = socketp;
	short events;

	(void)easy;
	if (what == CURL_POLL_REMOVE) {
		if (ds != NULL) {
			event_free(ds->ev);
			free(ds);
		}
		curl_multi_assign(dl->multi, s, NULL);
		return 0;
	}
	events = EV_PERSIST | ((what & CURL_POLL_IN) ? EV_READ : 0) |
	         ((what & CURL_POLL_OUT) ? EV_WRITE : 0);
	if (ds == NULL) {
		ds = sn_xcalloc(1, sizeof(*ds));
		curl_multi_assign(dl->multi, s, ds);
	} else {
		event_free(ds->ev);
	}
	ds->ev = event_new(dl->base, s, events, deliver_on_sock, dl);
	if (ds->ev == NULL)
		fatalx("out of memory");
	event_add(ds->ev, NULL);
	return 0;
}

/* curl: call me back in timeout_ms (-1: never). */
static int
deliver_timerfn(CURLM *multi, long timeout_ms, void *userp)
{
	struct deliver *dl = userp;
	struct timeval tv;

	(void)multi;
	if (timeout_ms < 0) {
		evtimer_del(dl->timer);
		return 0;
	}
	tv.tv_sec = timeout_ms / 1000;
	tv.tv_usec = (timeout_ms % 1000) * 1000;
	evtimer_add(dl->timer, &tv);
	return 0;
}

struct deliver *
deliver_new(struct event_base *base)
{
	struct deliver *dl = sn_xcalloc(1, sizeof(*dl));
	static int global;

	if (!global++ && curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
		fatalx("curl_global_init failed");
	dl->base = base;
	if ((dl->multi = curl_multi_init()) == NULL ||
	    (dl->timer = evtimer_new(base, deliver_on_timer, dl)) == NULL)
		fatalx("out of memory");
	curl_multi_setopt(dl->multi, CURLMOPT_SOCKETFUNCTION, deliver_sockfn);
	curl_multi_setopt(dl->multi, CURLMOPT_SOCKETDATA, dl);
	curl_multi_setopt(dl->multi, CURLMOPT_TIMERFUNCTION, deliver_timerfn);
	curl_multi_setopt(dl->multi, CURLMOPT_TIMERDATA, dl);
	return dl;
}

void
deliver_free(struct deliver *dl)
{
	if (dl == NULL)
		return;
	while (dl->jobs != NULL) {
		curl_multi_remove_handle(dl->multi, dl->jobs->req.easy);
		deliver_job_free(dl->jobs);
	}
	while (dl->nidle > 0)
		curl_easy_cleanup(dl->idle[--dl->nidle]);
	curl_multi_cleanup(dl->multi);
	event_free(dl->timer);
	free(dl);
}

size_t
deliver_inflight(const struct deliver *dl)
{
	return dl->inflight;
}

/* Drops a response body: only the status matters. */
static size_t
deliver_discard(char *p, size_t size, size_t n, void *arg)
{
	(void)p;
	(void)arg;
	return size * n;
}

void
deliver_send(struct deliver *dl, const struct sn_receiver *rc,
             const struct notification *n, const char *id, deliver_cb cb,
             void *arg)
{
	const struct receiver_type *t = receiver_find(rc->type);
	struct receiver_outcome o;
	struct deliver_job *job;
	long timeout = rc->timeout_ms > 0 ? (long)rc->timeout_ms
	                                  : SN_DEFAULT_RECEIVER_TIMEOUT_MS;

	memset(&o, 0, sizeof(o));
	o.result = RECEIVER_ERROR;
	if (t == NULL) {
		snprintf(o.reason, sizeof(o.reason), "unknown receiver type %s",
		         rc->type ? rc->type : "(none)");
		cb(&o, arg);
		return;
	}
	job = sn_xcalloc(1, sizeof(*job));
	job->dl = dl;
	job->cb = cb;
	job->arg = arg;
	job->req.easy = deliver_get_easy(dl);
	curl_easy_setopt(job->req.easy, CURLOPT_PRIVATE, job);
	curl_easy_setopt(job->req.easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(job->req.easy, CURLOPT_TIMEOUT_MS, timeout);
	curl_easy_setopt(job->req.easy, CURLOPT_CONNECTTIMEOUT_MS, timeout);
	curl_easy_setopt(job->req.easy, CURLOPT_ERRORBUFFER, job->errbuf);
	curl_easy_setopt(job->req.easy, CURLOPT_WRITEFUNCTION, deliver_discard);
	curl_easy_setopt(job->req.easy, CURLOPT_USERAGENT,
	                 "LLM-Sentinel/" SENTINEL_VERSION);
	/* never follow a redirect to somewhere the config did not name */
	curl_easy_setopt(job->req.easy, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(job->req.easy, CURLOPT_PROTOCOLS_STR,
	                 "http,https,smtp,smtps");
	if (t->prepare(rc, n, id, &job->req, o.reason, sizeof(o.reason)) < 0) {
		/* not linked into dl->jobs yet */
		deliver_put_easy(dl, job->req.easy);
		curl_slist_free_all(job->req.headers);
		curl_slist_free_all(job->req.rcpt);
		sn_buf_free(&job->req.body);
		free(job);
		cb(&o, arg);
		return;
	}
	if (job->req.headers != NULL)
		curl_easy_setopt(job->req.easy, CURLOPT_HTTPHEADER,
		                 job->req.headers);
	job->next = dl->jobs;
	if (dl->jobs)
		dl->jobs->prev = job;
	dl->jobs = job;
	dl->inflight++;
	/* curl's timer callback schedules the first socket_action */
	curl_multi_add_handle(dl->multi, job->req.easy);
}
