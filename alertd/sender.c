/*
 * sender.c: the delivery loop (see sender.h).
 *
 * A single timer drives it: sender_pump sends every due outbox row that
 * is not already in flight, then arms the timer for the next due row.
 * Each finished request records its outcome in the outbox (sent, retry
 * with backoff, failed) and pumps again.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>

#include "log.h"
#include "metrics.h"
#include "outbox.h"
#include "receiver.h"
#include "sender.h"
#include "util.h"

/* Rows fetched per pump; more wait for the next pump. */
#define SENDER_BATCH 64

/* One request in flight. */
struct sender_job {
	struct sender *s;
	char *id;
	char *receiver;
	int attempts; /* before this one */
	int64_t created_ms;
	int64_t start_ms;
	struct sender_job *next;
};

/* The metrics series of a receiver, looked up once. */
struct sender_count {
	char *receiver;
	struct sn_series *sent;   /* notifications delivered */
	struct sn_series *failed; /* attempts that failed, retried or not */
	struct sender_count *next;
};

struct sender {
	struct sn_daemon *d;
	struct sender_count *counts;
	struct outbox *ob;
	struct deliver *dl;
	struct event *wake;
	struct sender_job *jobs; /* in flight */
};

static void sender_pump(struct sender *s);

/* The receiver named name in the current config, or NULL. */
static const struct sn_receiver *
sender_receiver(struct sender *s, const char *name)
{
	const struct sn_alerts *al = &s->d->cfg->alerts;
	size_t i;

	for (i = 0; i < al->nreceivers; i++)
		if (strcmp(al->receivers[i].name, name) == 0)
			return &al->receivers[i];
	return NULL;
}

static int
sender_inflight(struct sender *s, const char *id)
{
	struct sender_job *j;

	for (j = s->jobs; j != NULL; j = j->next)
		if (strcmp(j->id, id) == 0)
			return 1;
	return 0;
}

/* Runs sender_pump after delay_ms on the loop. */
static void
sender_wake_in(struct sender *s, int64_t delay_ms)
{
	struct timeval tv;

	if (delay_ms < 0)
		delay_ms = 0;
	tv.tv_sec = delay_ms / 1000;
	tv.tv_usec = (delay_ms % 1000) * 1000;
	evtimer_add(s->wake, &tv);
}

static void
sender_on_wake(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	sender_pump(arg);
}

/* A jitter in [0, 1). */
static double
sender_jitter(void)
{
	return (double)random() / ((double)RAND_MAX + 1.0);
}

/* The series of receiver name, created at 0 at first use. */
static struct sender_count *
sender_count(struct sender *s, const char *name)
{
	struct sender_count *c;

	for (c = s->counts; c != NULL; c = c->next)
		if (strcmp(c->receiver, name) == 0)
			return c;
	c = sn_xcalloc(1, sizeof(*c));
	c->receiver = sn_xstrdup(name);
	c->sent = metrics_series(M_ALERTS_SENT, name);
	c->failed = metrics_series(M_ALERT_FAILURES, name);
	c->next = s->counts;
	s->counts = c;
	return c;
}

/* deliver callback: records the outcome of one request. */
static void
sender_on_done(const struct receiver_outcome *o, void *arg)
{
	struct sender_job *job = arg, **pp;
	struct sender *s = job->s;
	int64_t now = sn_now_ms();
	json_t *f;
	int rc = -1;

	f = json_pack("{s:s, s:s, s:s, s:i, s:I, s:s}", "id", job->id,
	              "receiver", job->receiver, "peer", o->where, "attempt",
	              job->attempts + 1, "duration_ms",
	              (json_int_t)(now - job->start_ms), "result", o->reason);
	if (o->result == RECEIVER_OK)
		metrics_add(sender_count(s, job->receiver)->sent, 1);
	else
		metrics_add(sender_count(s, job->receiver)->failed, 1);
	switch (o->result) {
	case RECEIVER_OK:
		rc = outbox_sent(s->ob, job->id, now);
		json_object_set_new(f, "delay_ms",
		                    json_integer(now - job->created_ms));
		log_json(LOG_LEVEL_INFO, "notification sent", f);
		break;
	case RECEIVER_RETRY:
		rc = outbox_retry(s->ob, job->id, o->reason, o->retry_after_ms,
		                  now, sender_jitter());
		if (o->retry_after_ms > 0)
			json_object_set_new(f, "retry_after_ms",
			                    json_integer(o->retry_after_ms));
		log_json(LOG_LEVEL_WARN,
		         rc == 0 ? "notification failed: gave up retrying"
		                 : "notification will be retried",
		         f);
		break;
	case RECEIVER_ERROR:
		rc = outbox_failed(s->ob, job->id, o->reason, now);
		log_json(LOG_LEVEL_WARN, "notification failed", f);
		break;
	}
	json_decref(f);
	if (rc < 0)
		log_warnx("outbox: could not record the outcome of %s",
		          job->id);
	for (pp = &s->jobs; *pp != NULL; pp = &(*pp)->next)
		if (*pp == job) {
			*pp = job->next;
			break;
		}
	free(job->id);
	free(job->receiver);
	free(job);
	/* not sender_pump: this may run inside sender_pump's loop */
	sender_wake_in(s, 0);
}

/* Starts sending one due row. */
static void
sender_start(struct sender *s, struct outbox_row *row, int64_t now)
{
	const struct sn_receiver *rc = sender_receiver(s, row->receiver);
	struct notification n;
	struct sender_job *job;
	json_t *doc = json_loads(row->payload, 0, NULL);

	if (doc == NULL || notify_from_json(&n, doc) < 0) {
		json_decref(doc);
		log_warnx("outbox row %s: unreadable payload; failed", row->id);
		outbox_failed(s->ob, row->id, "unreadable payload", now);
		return;
	}
	json_decref(doc);
	if (rc == NULL) {
		log_warnx("notification %s: receiver %s is no longer "
		          "configured; failed",
		          row->id, row->receiver);
		outbox_failed(s->ob, row->id, "receiver not configured", now);
		notify_free(&n);
		return;
	}
	job = sn_xcalloc(1, sizeof(*job));
	job->s = s;
	job->id = sn_xstrdup(row->id);
	job->receiver = sn_xstrdup(row->receiver);
	job->attempts = row->attempts;
	job->created_ms = row->created_ms;
	job->start_ms = now;
	job->next = s->jobs;
	s->jobs = job;
	/* may call back at once (config error): job is linked already */
	deliver_send(s->dl, rc, &n, row->id, sender_on_done, job);
	notify_free(&n);
}

/*
 * Sends the due rows not in flight and arms the timer for the next.  A
 * row in flight keeps outbox_next_due at or before now: its completion
 * pumps again, so the timer then only backs that up.
 */
static void
sender_pump(struct sender *s)
{
	struct outbox_row rows[SENDER_BATCH];
	int64_t now = sn_now_ms(), next;
	int i, n;

	n = outbox_due(s->ob, now, rows, SENDER_BATCH);
	for (i = 0; i < n; i++) {
		if (!sender_inflight(s, rows[i].id))
			sender_start(s, &rows[i], now);
		outbox_row_free(&rows[i]);
	}
	if (n == SENDER_BATCH) {
		sender_wake_in(s, 0);
		return;
	}
	next = outbox_next_due(s->ob);
	if (next < 0)
		evtimer_del(s->wake);
	else
		sender_wake_in(s, next > now ? next - now : 1000);
}

/* The retry policy of the current config, defaults for what is unset. */
static struct outbox_policy
sender_policy(const struct sn_config *cfg)
{
	const struct sn_delivery *d = &cfg->alerts.delivery;
	struct outbox_policy p = outbox_policy_default();

	if (d->retry_initial_ms > 0)
		p.initial_ms = d->retry_initial_ms;
	if (d->retry_max_ms > 0)
		p.max_ms = d->retry_max_ms;
	if (d->max_retry_age_ms > 0)
		p.max_age_ms = d->max_retry_age_ms;
	return p;
}

struct sender *
sender_open(struct sn_daemon *d)
{
	struct sender *s = sn_xcalloc(1, sizeof(*s));
	const char *dir = d->cfg->storage.path;
	struct sn_buf path = {0};

	if (dir == NULL || sn_mkdir_p(dir, 0750) < 0) {
		log_warn("storage.path %s", dir ? dir : "(unset)");
		free(s);
		return NULL;
	}
	sn_buf_append(&path, dir, strlen(dir));
	sn_buf_append(&path, "/alerts.db", sizeof("/alerts.db"));
	s->d = d;
	s->ob = outbox_open((const char *)path.data, sender_policy(d->cfg));
	sn_buf_free(&path);
	if (s->ob == NULL) {
		free(s);
		return NULL;
	}
	/*
	 * Sent and failed rows are only kept to refuse duplicates; they
	 * age out with the notifications retention (checked at start
	 * only, as alertd restarts seldom matter for a 30-day window).
	 */
	if (d->cfg->storage.retention_notifications_ms > 0)
		outbox_prune(
		        s->ob,
		        sn_now_ms() -
		                d->cfg->storage.retention_notifications_ms);
	sender_receivers(s, &d->cfg->alerts);
	srandom((unsigned)(sn_mono_us() ^ (int64_t)getpid()));
	s->dl = deliver_new(d->base);
	if ((s->wake = evtimer_new(d->base, sender_on_wake, s)) == NULL)
		fatalx("out of memory");
	/* crash recovery: what is pending goes out now */
	sender_wake_in(s, 0);
	return s;
}

void
sender_close(struct sender *s)
{
	struct sender_job *j;
	struct sender_count *c;

	if (s == NULL)
		return;
	while ((c = s->counts) != NULL) {
		s->counts = c->next;
		free(c->receiver);
		free(c);
	}
	/* requests in flight stay pending in the outbox for next time */
	deliver_free(s->dl);
	while ((j = s->jobs) != NULL) {
		s->jobs = j->next;
		free(j->id);
		free(j->receiver);
		free(j);
	}
	event_free(s->wake);
	outbox_close(s->ob);
	free(s);
}

int
sender_enqueue(struct sender *s, const struct notification *n)
{
	char id[NOTIFY_ID_LEN + 1], *payload;
	json_t *doc = notify_to_json(n);
	int rc;

	notify_id(n, id);
	if ((payload = json_dumps(doc, JSON_COMPACT)) == NULL)
		fatalx("out of memory");
	json_decref(doc);
	rc = outbox_enqueue(s->ob, id, n->receiver, payload, sn_now_ms());
	free(payload);
	if (rc == 0)
		log_info("notification %s for %s already queued", id,
		         n->receiver);
	else if (rc > 0)
		sender_wake_in(s, 0);
	return rc;
}

void
sender_kick(struct sender *s)
{
	sender_wake_in(s, 0);
}

struct outbox *
sender_outbox(struct sender *s)
{
	return s->ob;
}

void
sender_receivers(struct sender *s, const struct sn_alerts *al)
{
	size_t i;

	for (i = 0; i < al->nreceivers; i++)
		sender_count(s, al->receivers[i].name);
}
