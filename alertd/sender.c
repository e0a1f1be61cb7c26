/*
 * sender.c: the delivery loop (see sender.h).
 *
 * The sender knows every pending row of the outbox by id and due time,
 * in a heap in memory: loaded at start (what a restart left behind),
 * then told of each row the outbox committed (outbox_batch's on_row)
 * and of each retry it schedules.  A single timer drives it:
 * sender_pump starts the due rows, at most SENDER_MAX_INFLIGHT requests
 * at a time and SENDER_BATCH per call (the loop stays responsive), then
 * arms the timer for the next due row.  Each finished request records
 * its outcome in the outbox (sent, retry with backoff, failed) and pumps
 * again.
 *
 * The sender also owns the loop's transaction (outbox.h, batch mode):
 * the first write of a loop iteration opens it, and a timer set then
 * commits it once the iteration's callbacks have run (or, when the last
 * commit was less than SENDER_COMMIT_GAP_US ago, then); rows are only
 * sent once committed.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>

#include "index.h"
#include "log.h"
#include "metrics.h"
#include "outbox.h"
#include "receiver.h"
#include "sender.h"
#include "util.h"

/*
 * Rows started per pump (about 10 ms of work); more wait for the next
 * loop iteration.
 */
#define SENDER_BATCH 128
/*
 * Commits at most this often (a commit is an fsync and rewrites the
 * pages its rows share with the last one's): under load the loop's
 * iterations share a commit, at the cost of this much latency at most.
 * 2 ms rather than 5: fed 2 000 alerts a second, p50 and p99 from input
 * to webhook 8.5 and 17 ms with 5, 5.4 and 14 ms with 2, at the same CPU;
 * near saturation the loop's turns are longer than either.
 */
#define SENDER_COMMIT_GAP_US 2000
/* Requests in flight at most: beyond some hundreds curl spends more on
 * its lists of transfers than on the transfers. */
#define SENDER_MAX_INFLIGHT 256

/*
 * Rows waiting beyond which a fresh row's notification is not kept (it
 * is read back from alerts.db when due): under overload the waiting
 * rows stay small (an id each), as they were.
 */
#define SENDER_MEMO_MAX 4096

/* A pending row not in flight: when it is due.  A row just committed
 * by a group's flush also has its notification (the outbox memo) and
 * receiver: its first attempt reads nothing back from alerts.db. */
struct sender_row {
	struct dheap_item due;
	char *id;
	char *receiver;         /* with n */
	int64_t created_ms;     /* with n */
	struct notification *n; /* NULL: read the row when due */
};

/* One request in flight. */
struct sender_job {
	struct sender *s;
	char *id;
	char *receiver;
	int attempts; /* before this one */
	int64_t created_ms;
	int64_t start_ms;
	struct sender_job *next, *prev;
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
	struct event *commit;    /* commits the loop's transaction */
	int64_t committed_us;    /* the last commit, monotonic */
	struct dheap rows;       /* pending rows not in flight */
	struct sender_job *jobs; /* in flight */
	size_t njobs;
};

static void sender_pump(struct sender *s);

/* Knows row id, due at next_ms. */
static void
sender_add_row(const char *id, int64_t next_ms, void *arg)
{
	struct sender *s = arg;
	struct sender_row *r = sn_xcalloc(1, sizeof(*r));

	r->id = sn_xstrdup(id);
	r->due.pos = DHEAP_OUT;
	dheap_set(&s->rows, &r->due, next_ms);
}

/* outbox_on_fresh: a committed row, with its notification when its
 * flush gave one (a malloc'd struct notification: group.c's memo). */
static void
sender_add_fresh(const char *id, const char *receiver, int64_t created_ms,
                 void *memo, void *arg)
{
	struct sender *s = arg;
	struct sender_row *r = sn_xcalloc(1, sizeof(*r));

	r->id = sn_xstrdup(id);
	if (memo != NULL && s->rows.n >= SENDER_MEMO_MAX) {
		notify_free(memo);
		free(memo);
	} else if (memo != NULL) {
		r->n = memo;
		r->receiver = sn_xstrdup(receiver);
		r->created_ms = created_ms;
	}
	r->due.pos = DHEAP_OUT;
	dheap_set(&s->rows, &r->due, created_ms);
}

static void
sender_row_free(struct sender_row *r)
{
	if (r->n != NULL) {
		notify_free(r->n);
		free(r->n);
	}
	free(r->receiver);
	free(r->id);
	free(r);
}

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

/* An integer field of an outcome's line. */
static void
sender_log_int(struct log_line *l, const char *key, long long v)
{
	char num[32];
	int n = snprintf(num, sizeof(num), "%lld", v);

	log_line_raw(l, key, num, (size_t)n);
}

/*
 * The line of an outcome: id, receiver, peer, attempt, duration_ms,
 * result, then extra (delay_ms or retry_after_ms, unless NULL) = xv,
 * written as log_json wrote json_pack's object of them (which, when a
 * string is not UTF-8, was no object: a line without fields).
 */
static void
sender_log(enum log_level level, const char *msg, const struct sender_job *job,
           const struct receiver_outcome *o, int64_t now, const char *extra,
           int64_t xv)
{
	const char *const strs[] = {job->id, job->receiver, o->where,
	                            o->reason};
	struct log_line l;
	size_t i;

	if (log_line_begin(&l, level, msg) < 0)
		return;
	for (i = 0; i < 4; i++)
		if (!notify_utf8(strs[i], strlen(strs[i]))) {
			log_line_end(&l);
			return;
		}
	log_line_str(&l, "id", job->id, strlen(job->id));
	log_line_str(&l, "receiver", job->receiver, strlen(job->receiver));
	log_line_str(&l, "peer", o->where, strlen(o->where));
	sender_log_int(&l, "attempt", job->attempts + 1);
	sender_log_int(&l, "duration_ms", (long long)(now - job->start_ms));
	log_line_str(&l, "result", o->reason, strlen(o->reason));
	if (extra != NULL)
		sender_log_int(&l, extra, (long long)xv);
	log_line_end(&l);
}

/* deliver callback: records the outcome of one request. */
static void
sender_on_done(const struct receiver_outcome *o, void *arg)
{
	struct sender_job *job = arg;
	struct sender *s = job->s;
	int64_t now = sn_now_ms(), next = 0;
	int rc = -1;

	if (o->result == RECEIVER_OK)
		metrics_add(sender_count(s, job->receiver)->sent, 1);
	else
		metrics_add(sender_count(s, job->receiver)->failed, 1);
	switch (o->result) {
	case RECEIVER_OK:
		rc = outbox_sent(s->ob, job->id, now);
		sender_log(LOG_LEVEL_INFO, "notification sent", job, o, now,
		           "delay_ms", now - job->created_ms);
		break;
	case RECEIVER_RETRY:
		rc = outbox_retry_at(s->ob, job->id, o->reason,
		                     o->retry_after_ms, now, sender_jitter(),
		                     &next);
		if (rc == 1)
			sender_add_row(job->id, next, s);
		sender_log(LOG_LEVEL_WARN,
		           rc == 0 ? "notification failed: gave up retrying"
		                   : "notification will be retried",
		           job, o, now,
		           o->retry_after_ms > 0 ? "retry_after_ms" : NULL,
		           o->retry_after_ms);
		break;
	case RECEIVER_ERROR:
		rc = outbox_failed(s->ob, job->id, o->reason, now);
		sender_log(LOG_LEVEL_WARN, "notification failed", job, o, now,
		           NULL, 0);
		break;
	}
	if (rc < 0)
		log_warnx("outbox: could not record the outcome of %s",
		          job->id);
	if (job->prev != NULL)
		job->prev->next = job->next;
	else
		s->jobs = job->next;
	if (job->next != NULL)
		job->next->prev = job->prev;
	s->njobs--;
	free(job->id);
	free(job->receiver);
	free(job);
	/* not sender_pump: this may run inside sender_pump's loop */
	sender_wake_in(s, 0);
}

/* Starts sending notification n, row id for receiver (attempts made
 * before, created_ms when queued). */
static void
sender_start_n(struct sender *s, const char *id, const char *receiver,
               int attempts, int64_t created_ms, const struct notification *n,
               int64_t now)
{
	const struct sn_receiver *rc = sender_receiver(s, receiver);
	struct sender_job *job;

	if (rc == NULL) {
		log_warnx("notification %s: receiver %s is no longer "
		          "configured; failed",
		          id, receiver);
		outbox_failed(s->ob, id, "receiver not configured", now);
		return;
	}
	job = sn_xcalloc(1, sizeof(*job));
	job->s = s;
	job->id = sn_xstrdup(id);
	job->receiver = sn_xstrdup(receiver);
	job->attempts = attempts;
	job->created_ms = created_ms;
	job->start_ms = now;
	job->next = s->jobs;
	if (s->jobs != NULL)
		s->jobs->prev = job;
	s->jobs = job;
	s->njobs++;
	/* may call back at once (config error): job is linked already */
	deliver_send(s->dl, rc, n, id, sender_on_done, job);
}

/* Starts sending one due row read from the outbox. */
static void
sender_start(struct sender *s, struct outbox_row *row, int64_t now)
{
	struct notification n;
	json_t *doc = json_loads(row->payload, 0, NULL);

	if (doc == NULL || notify_from_json(&n, doc) < 0) {
		json_decref(doc);
		log_warnx("outbox row %s: unreadable payload; failed", row->id);
		outbox_failed(s->ob, row->id, "unreadable payload", now);
		return;
	}
	json_decref(doc);
	sender_start_n(s, row->id, row->receiver, row->attempts,
	               row->created_ms, &n, now);
	notify_free(&n);
}

/*
 * Starts the due rows, as many as SENDER_BATCH and the room in flight
 * allow, and arms the timer for the next.  With no room, a request's
 * completion pumps again.
 */
static void
sender_pump(struct sender *s)
{
	struct dheap_item *top;
	struct sender_row *r;
	struct outbox_row row;
	int64_t now = sn_now_ms();
	int started = 0, rc;

	while (s->njobs < SENDER_MAX_INFLIGHT &&
	       (top = dheap_top(&s->rows)) != NULL && top->at <= now) {
		if (started == SENDER_BATCH) {
			sender_wake_in(s, 0);
			return;
		}
		r = dheap_rec(top, struct sender_row, due);
		if (r->n != NULL) {
			/* just committed, never attempted: as its flush
			 * made it */
			dheap_del(&s->rows, &r->due);
			sender_start_n(s, r->id, r->receiver, 0, r->created_ms,
			               r->n, now);
			started++;
			sender_row_free(r);
			continue;
		}
		rc = outbox_get(s->ob, r->id, &row);
		if (rc < 0) {
			/* storage trouble: try again in a second */
			sender_wake_in(s, 1000);
			return;
		}
		dheap_del(&s->rows, &r->due);
		if (rc == 1) {
			sender_start(s, &row, now);
			outbox_row_free(&row);
			started++;
		}
		sender_row_free(r);
	}
	if (s->njobs >= SENDER_MAX_INFLIGHT ||
	    (top = dheap_top(&s->rows)) == NULL)
		evtimer_del(s->wake);
	else
		sender_wake_in(s, top->at > now ? top->at - now : 0);
}

/*
 * outbox_batch: the loop's transaction began; commit it once every
 * callback of this loop iteration has run.  A timer due at once fires at
 * the start of the next iteration, before its callbacks: everything the
 * iteration decided commits together, with one fsync.
 */
static void
sender_on_open(void *arg)
{
	struct sender *s = arg;
	int64_t wait = s->committed_us + SENDER_COMMIT_GAP_US - sn_mono_us();
	struct timeval tv = {0, 0};

	if (wait > 0)
		tv.tv_usec = (suseconds_t)wait;
	evtimer_add(s->commit, &tv);
}

int
sender_commit(struct sender *s)
{
	if (outbox_commit(s->ob) < 0) {
		log_warnx("alerts.db: commit failed");
		return -1;
	}
	s->committed_us = sn_mono_us();
	return 0;
}

static void
sender_on_commit(evutil_socket_t fd, short what, void *arg)
{
	struct sender *s = arg;

	(void)fd;
	(void)what;
	/*
	 * What alertd holds in memory (groups, silences, firing alerts)
	 * went ahead of a database that refused it: start again from
	 * what the database holds.
	 */
	if (sender_commit(s) < 0)
		fatalx("alerts.db: could not commit; restarting from what it "
		       "holds");
	sender_pump(s);
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
	if ((s->wake = evtimer_new(d->base, sender_on_wake, s)) == NULL ||
	    (s->commit = evtimer_new(d->base, sender_on_commit, s)) == NULL)
		fatalx("out of memory");
	if (outbox_each_pending(s->ob, sender_add_row, s) < 0)
		log_warnx("alerts.db: could not read the pending "
		          "notifications; they are sent after a restart");
	outbox_batch(s->ob, sender_on_open, sender_add_row, s);
	outbox_on_fresh(s->ob, sender_add_fresh);
	/* crash recovery: what is pending goes out now */
	sender_wake_in(s, 0);
	return s;
}

void
sender_close(struct sender *s)
{
	struct sender_job *j;
	struct sender_count *c;
	struct dheap_item *top;

	if (s == NULL)
		return;
	if (sender_commit(s) < 0)
		log_warnx("alerts.db: what this run decided last is lost");
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
	while ((top = dheap_top(&s->rows)) != NULL) {
		dheap_del(&s->rows, top);
		sender_row_free(dheap_rec(top, struct sender_row, due));
	}
	dheap_free(&s->rows);
	event_free(s->wake);
	event_free(s->commit);
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
	/* sent once committed (sender_on_commit) */
	return rc;
}

void
sender_kick(struct sender *s)
{
	sender_wake_in(s, 0);
}

size_t
sender_waiting(const struct sender *s)
{
	return s->rows.n + s->njobs;
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
