/*
 * deliver.c: the delivery core (see receiver.h).
 *
 * One curl multi handle, driven by libevent through curl's socket and
 * timer callbacks: curl says which sockets to watch and when to wake it
 * (CURLMOPT_SOCKETFUNCTION, CURLMOPT_TIMERFUNCTION); the loop tells
 * curl what happened (curl_multi_socket_action), then finished
 * transfers are collected with curl_multi_info_read.  Nothing blocks,
 * and each transfer has its own timeout.
 *
 * Why a thread.  Single-threaded, alertd fed 8 000 alerts a second ran
 * at 98% of one core and delivered about 3 900 a second; about 30% of
 * its instructions and much of its kernel time were curl's work on the
 * requests (sockets, HTTP, TLS).  So the multi handle runs on a thread
 * of its own, with its own event base: alertd's loop (intake, grouping,
 * routing, the sqlite outbox) uses one core and the transfers the other.
 * Fed 4 000 a second, the loop's thread now spends about 6 s of CPU
 * per 10 s instead of about 8.3 (the delivery thread about 3); fed
 * 8 000, 4 190-4 360 delivered a second against 4 010-4 320, the loop's
 * own work (sqlite, payloads) now the limit (docs/alerting.md, the
 * outbox; docs/performance.md, Alerting).
 *
 * The handoff.  deliver_send, on the loop's thread, builds the request
 * as before (the core's options, the receiver's prepare: URL, body,
 * headers on the easy handle) and appends the job to the send queue, a
 * list under dl->mu; it writes the send eventfd only when that queue
 * was empty.  The delivery thread, woken by that eventfd, takes the
 * whole queue and adds its handles to the multi handle.  When a
 * transfer finishes the thread classifies it (receiver_classify: pure)
 * into the job's struct receiver_outcome, takes the handle out of the
 * multi handle, resets it and appends the job to the done queue, writing
 * the done eventfd only when that queue was empty; the loop then takes
 * the done queue and calls each job's callback.  So callbacks, logging,
 * metrics and sqlite stay on the loop's thread; the delivery thread
 * touches only curl, its own event base and the two queues (it never
 * logs: the outcome carries the reason, and the loop logs it in its
 * own order).  An easy handle is used by one
 * thread at a time: the loop's while idle or being built, the delivery
 * thread from the send queue to the done queue; the pool of idle handles
 * is the loop's only.  Each event base is used by one thread, so
 * libevent needs no locks (no evthread_use_pthreads).  deliver_free sets
 * a quit flag, wakes the thread and joins it; then everything is the
 * loop's again and what is still queued or in flight is cancelled.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/eventfd.h>

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

/* A list of jobs, oldest first. */
struct deliver_q {
	struct deliver_job *head, *tail;
};

struct deliver {
	/* The loop's thread only. */
	struct event_base *base;
	struct event *done_ev;        /* done_fd is readable */
	size_t inflight;              /* sent, not called back yet */
	CURL *idle[DELIVER_IDLE_MAX]; /* finished handles, reset for reuse */
	size_t nidle;

	/* Shared, under mu. */
	pthread_mutex_t mu;
	struct deliver_q sendq; /* built, not yet in the multi handle */
	struct deliver_q doneq; /* finished, not called back yet */
	int quit;               /* deliver_free: the thread is to stop */

	/* Set before the thread starts, then only read. */
	int send_fd; /* eventfd: sendq no longer empty, or quit */
	int done_fd; /* eventfd: doneq no longer empty */
	pthread_t thread;

	/* The delivery thread only (the loop's before it starts and after
	 * deliver_free joined it). */
	struct event_base *tbase;
	CURLM *multi;
	struct event *timer;         /* curl's timeout */
	struct event *send_ev;       /* send_fd is readable */
	struct deliver_job *running; /* in the multi handle */
};

/* One request, from deliver_send to its callback. */
struct deliver_job {
	struct receiver_request req;
	deliver_cb cb;
	void *arg;
	struct receiver_outcome o; /* set by the delivery thread when done */
	char errbuf[CURL_ERROR_SIZE];
	/* a queue (next only) or dl->running */
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

/* Appends job to q. */
static void
deliver_q_put(struct deliver_q *q, struct deliver_job *job)
{
	job->next = job->prev = NULL;
	if (q->tail != NULL)
		q->tail->next = job;
	else
		q->head = job;
	q->tail = job;
}

/* Empties q: its jobs, linked by next. */
static struct deliver_job *
deliver_q_take(struct deliver_q *q)
{
	struct deliver_job *head = q->head;

	q->head = q->tail = NULL;
	return head;
}

/* Adds 1 to eventfd fd (which cannot overflow here: its reader drains). */
static void
deliver_kick(int fd)
{
	uint64_t one = 1;

	while (write(fd, &one, sizeof(one)) < 0 && errno == EINTR)
		;
}

/* Resets eventfd fd (nonblocking: a spurious wake reads nothing). */
static void
deliver_drain(int fd)
{
	uint64_t n;

	while (read(fd, &n, sizeof(n)) < 0 && errno == EINTR)
		;
}

/*
 * The delivery thread is out of memory.  It must not log (log.c is the
 * loop's), so it says so in one write and aborts, as fatalx would exit.
 */
static void
deliver_oom(void)
{
	static const char msg[] = "sentinel-alertd: delivery thread: "
	                          "out of memory\n";

	if (write(STDERR_FILENO, msg, sizeof(msg) - 1) < 0) {
		/* nothing more to say */
	}
	abort();
}

/*
 * curl_easy_reset, then CURLOPT_NOSIGNAL again: without it curl saves
 * and restores SIGPIPE's disposition around the handle's cleanup, two
 * system calls for nothing (SIGPIPE is ignored, daemon.c).  Every
 * handle carries it from its first request on (deliver_send).
 */
static void
deliver_reset_easy(CURL *easy)
{
	curl_easy_reset(easy);
	curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
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

/*
 * Done with easy (out of the multi handle): kept for reuse, or cleaned
 * up.  reset: it still has a request's options (the delivery thread
 * resets the handles it hands back).
 */
static void
deliver_put_easy(struct deliver *dl, CURL *easy, int reset)
{
	if (dl->nidle < DELIVER_IDLE_MAX) {
		if (reset)
			deliver_reset_easy(easy);
		dl->idle[dl->nidle++] = easy;
	} else
		curl_easy_cleanup(easy);
}

/* Frees a job's request but its easy handle. */
static void
deliver_job_free(struct deliver_job *job)
{
	curl_slist_free_all(job->req.headers);
	curl_slist_free_all(job->req.rcpt);
	sn_buf_free(&job->req.body);
	free(job);
}

/* Delivery thread: unlinks job from dl->running. */
static void
deliver_unlink(struct deliver *dl, struct deliver_job *job)
{
	if (job->prev != NULL)
		job->prev->next = job->next;
	else if (dl->running == job)
		dl->running = job->next;
	if (job->next != NULL)
		job->next->prev = job->prev;
	job->next = job->prev = NULL;
}

/* Delivery thread: hands the finished jobs of done to the loop. */
static void
deliver_hand_back(struct deliver *dl, struct deliver_q *done)
{
	int was_empty;

	if (done->head == NULL)
		return;
	pthread_mutex_lock(&dl->mu);
	was_empty = dl->doneq.head == NULL;
	if (was_empty)
		dl->doneq.head = done->head;
	else
		dl->doneq.tail->next = done->head;
	dl->doneq.tail = done->tail;
	pthread_mutex_unlock(&dl->mu);
	if (was_empty)
		deliver_kick(dl->done_fd);
}

/* Delivery thread: collects finished transfers, classified. */
static void
deliver_check(struct deliver *dl)
{
	struct deliver_q done = {0};
	struct deliver_job *job;
	CURLMsg *m;
	CURLcode result;
	CURL *easy;
	curl_off_t ra;
	long status;
	int left;

	while ((m = curl_multi_info_read(dl->multi, &left)) != NULL) {
		if (m->msg != CURLMSG_DONE)
			continue;
		/* m is curl's until the handle leaves the multi handle */
		easy = m->easy_handle;
		result = m->data.result;
		curl_easy_getinfo(easy, CURLINFO_PRIVATE, &job);
		status = 0;
		curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
		ra = -1;
		if (!job->req.smtp)
			curl_easy_getinfo(easy, CURLINFO_RETRY_AFTER, &ra);
		receiver_classify(job->req.smtp, result, status, (int64_t)ra,
		                  &job->o);
		snprintf(job->o.where, sizeof(job->o.where), "%s",
		         job->req.where);
		curl_multi_remove_handle(dl->multi, easy);
		deliver_reset_easy(easy); /* here rather than on the loop */
		deliver_unlink(dl, job);
		deliver_q_put(&done, job);
	}
	deliver_hand_back(dl, &done);
}

/* Delivery thread, libevent: a socket curl watches is ready. */
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

/* Delivery thread, libevent: curl's timeout expired. */
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

/* Delivery thread, curl: watch (or stop watching) socket s for what. */
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
		if ((ds = calloc(1, sizeof(*ds))) == NULL)
			deliver_oom();
		curl_multi_assign(dl->multi, s, ds);
	} else {
		event_free(ds->ev);
	}
	ds->ev = event_new(dl->tbase, s, events, deliver_on_sock, dl);
	if (ds->ev == NULL)
		deliver_oom();
	event_add(ds->ev, NULL);
	return 0;
}

/* Delivery thread, curl: call me back in timeout_ms (-1: never). */
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

/*
 * Delivery thread, libevent: the send queue has jobs, or deliver_free
 * wants the thread to stop (then the queue is left to deliver_free).
 */
static void
deliver_on_send(evutil_socket_t fd, short what, void *arg)
{
	struct deliver *dl = arg;
	struct deliver_q done = {0};
	struct deliver_job *job, *next;
	CURLMcode rc;
	int quit;

	(void)what;
	deliver_drain(fd);
	pthread_mutex_lock(&dl->mu);
	quit = dl->quit;
	job = quit ? NULL : deliver_q_take(&dl->sendq);
	pthread_mutex_unlock(&dl->mu);
	if (quit) {
		event_base_loopbreak(dl->tbase);
		return;
	}
	for (; job != NULL; job = next) {
		next = job->next;
		job->next = dl->running;
		job->prev = NULL;
		if (dl->running != NULL)
			dl->running->prev = job;
		dl->running = job;
		/* curl's timer callback schedules the first socket_action */
		rc = curl_multi_add_handle(dl->multi, job->req.easy);
		if (rc != CURLM_OK) {
			/* out of memory in curl: the outbox retries */
			memset(&job->o, 0, sizeof(job->o));
			job->o.result = RECEIVER_RETRY;
			snprintf(job->o.reason, sizeof(job->o.reason), "%s",
			         curl_multi_strerror(rc));
			snprintf(job->o.where, sizeof(job->o.where), "%s",
			         job->req.where);
			deliver_reset_easy(job->req.easy);
			deliver_unlink(dl, job);
			deliver_q_put(&done, job);
		}
	}
	deliver_hand_back(dl, &done);
}

/* The delivery thread: its event base until deliver_free stops it. */
static void *
deliver_main(void *arg)
{
	struct deliver *dl = arg;

	event_base_loop(dl->tbase, EVLOOP_NO_EXIT_ON_EMPTY);
	return NULL;
}

/* The loop, libevent: transfers finished; calls their callbacks. */
static void
deliver_on_done(evutil_socket_t fd, short what, void *arg)
{
	struct deliver *dl = arg;
	struct deliver_job *job, *next;

	(void)what;
	deliver_drain(fd);
	pthread_mutex_lock(&dl->mu);
	job = deliver_q_take(&dl->doneq);
	pthread_mutex_unlock(&dl->mu);
	for (; job != NULL; job = next) {
		next = job->next;
		dl->inflight--;
		deliver_put_easy(dl, job->req.easy, 0);
		job->cb(&job->o, job->arg);
		deliver_job_free(job);
	}
}

struct deliver *
deliver_new(struct event_base *base)
{
	struct deliver *dl = sn_xcalloc(1, sizeof(*dl));
	static int global;
	sigset_t all, old;
	int err;

	/* before any thread: curl_global_init is not thread-safe */
	if (!global++ && curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
		fatalx("curl_global_init failed");
	dl->base = base;
	if (pthread_mutex_init(&dl->mu, NULL) != 0)
		fatalx("delivery: cannot make a mutex");
	dl->send_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	dl->done_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (dl->send_fd < 0 || dl->done_fd < 0)
		fatal("delivery: eventfd");
	if ((dl->tbase = event_base_new()) == NULL ||
	    (dl->multi = curl_multi_init()) == NULL ||
	    (dl->timer = evtimer_new(dl->tbase, deliver_on_timer, dl)) ==
	            NULL ||
	    (dl->send_ev =
	             event_new(dl->tbase, dl->send_fd, EV_READ | EV_PERSIST,
	                       deliver_on_send, dl)) == NULL ||
	    (dl->done_ev = event_new(base, dl->done_fd, EV_READ | EV_PERSIST,
	                             deliver_on_done, dl)) == NULL ||
	    event_add(dl->send_ev, NULL) < 0 ||
	    event_add(dl->done_ev, NULL) < 0)
		fatalx("delivery: out of memory");
	curl_multi_setopt(dl->multi, CURLMOPT_SOCKETFUNCTION, deliver_sockfn);
	curl_multi_setopt(dl->multi, CURLMOPT_SOCKETDATA, dl);
	curl_multi_setopt(dl->multi, CURLMOPT_TIMERFUNCTION, deliver_timerfn);
	curl_multi_setopt(dl->multi, CURLMOPT_TIMERDATA, dl);
	/* signals are the loop's (daemon.c): the thread blocks them all */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	err = pthread_create(&dl->thread, NULL, deliver_main, dl);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err != 0) {
		errno = err;
		fatal("delivery: cannot start its thread");
	}
	pthread_setname_np(dl->thread, "alertd-deliver");
	return dl;
}

/* After the join: cancels job, in the multi handle when running. */
static void
deliver_cancel(struct deliver *dl, struct deliver_job *job, int running)
{
	if (running)
		curl_multi_remove_handle(dl->multi, job->req.easy);
	curl_easy_cleanup(job->req.easy);
	deliver_job_free(job);
}

void
deliver_free(struct deliver *dl)
{
	struct deliver_job *job, *next;

	if (dl == NULL)
		return;
	pthread_mutex_lock(&dl->mu);
	dl->quit = 1;
	pthread_mutex_unlock(&dl->mu);
	deliver_kick(dl->send_fd);
	pthread_join(dl->thread, NULL);
	/* the thread is gone: all is the loop's; cancel without callbacks */
	for (job = dl->running; job != NULL; job = next) {
		next = job->next;
		deliver_cancel(dl, job, 1);
	}
	for (job = deliver_q_take(&dl->sendq); job != NULL; job = next) {
		next = job->next;
		deliver_cancel(dl, job, 0);
	}
	for (job = deliver_q_take(&dl->doneq); job != NULL; job = next) {
		next = job->next;
		deliver_cancel(dl, job, 0);
	}
	while (dl->nidle > 0)
		curl_easy_cleanup(dl->idle[--dl->nidle]);
	/* curl frees the sockets' events: before their base */
	curl_multi_cleanup(dl->multi);
	event_free(dl->timer);
	event_free(dl->send_ev);
	event_free(dl->done_ev);
	event_base_free(dl->tbase);
	close(dl->send_fd);
	close(dl->done_fd);
	pthread_mutex_destroy(&dl->mu);
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
	int was_empty;

	memset(&o, 0, sizeof(o));
	o.result = RECEIVER_ERROR;
	if (t == NULL) {
		snprintf(o.reason, sizeof(o.reason), "unknown receiver type %s",
		         rc->type ? rc->type : "(none)");
		cb(&o, arg);
		return;
	}
	job = sn_xcalloc(1, sizeof(*job));
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
		/* never handed to the delivery thread */
		deliver_put_easy(dl, job->req.easy, 1);
		deliver_job_free(job);
		cb(&o, arg);
		return;
	}
	if (job->req.headers != NULL)
		curl_easy_setopt(job->req.easy, CURLOPT_HTTPHEADER,
		                 job->req.headers);
	dl->inflight++;
	/* from here the job and its handle are the delivery thread's */
	pthread_mutex_lock(&dl->mu);
	was_empty = dl->sendq.head == NULL;
	deliver_q_put(&dl->sendq, job);
	pthread_mutex_unlock(&dl->mu);
	if (was_empty)
		deliver_kick(dl->send_fd);
}
