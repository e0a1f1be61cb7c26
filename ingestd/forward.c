/*
 * forward.c: accepted events into the spool, and from the spool to
 * stored and detectd.
 *
 * Events are batched into one SN_MSG_EVENTS message (FWD_BATCH_BYTES or
 * FWD_BATCH_EVENTS, or the end of the loop iteration that started it: the
 * first event of a batch activates a zero-timeout event, which libevent
 * runs after the callbacks already due in this iteration, so the
 * requests read together share a batch).  The batch is appended to the
 * spool (spool.h); the requests waiting on it are answered 202 once the
 * spool says it is durable (fsync: a group commit on the spool's
 * thread; batch and none: at once).
 *
 * Each consumer has a reader in the spool and gets the batches in order,
 * as fast as its socket takes them (at most FWD_QUEUE_BYTES ahead); what
 * it has not taken waits on disk, not in memory.  Consumers say where
 * they stand on ingestd-cursor.ipc (cursor.h): a RESUME moves the reader
 * back to replay, an ACK lets the segments every consumer is past be
 * deleted and shows the consumer is alive.
 *
 * Backpressure instead of drops: when the spool is at
 * ingestion.spool.max_size (consumers behind), requests get 429; when a
 * consumer has not been heard for ingestion.spool.stage_timeout, 503.
 * Both with Retry-After.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "cursor.h"
#include "ingestd.h"
#include "ipc.h"
#include "log.h"
#include "metrics.h"
#include "msg.h"
#include "spool.h"

/* In batch mode, how often the spool is synced (a tick is FWD_TICK_MS). */
#define FWD_BATCH_SYNC_TICKS 4
/* How often deletable segments are looked for. */
#define FWD_GC_TICKS 20

static const char *const fwd_sink_names[FWD_NSINKS] = {
        [FWD_STORED] = "stored",
        [FWD_DETECTD] = "detectd",
};
static const char *const fwd_sink_files[FWD_NSINKS] = {
        [FWD_STORED] = SN_IPC_STORED,
        [FWD_DETECTD] = SN_IPC_DETECTD,
};

static void fwd_pump(struct fwd *f);

/* Answers the waiters of list whose mark is durable (all: failed). */
static void
fwd_resolve(struct fwd_waiters *list, uint64_t durable, const char *failed)
{
	struct fwd_waiters done;
	struct fwd_waiter *w;

	/* Move them aside first: a callback may queue a new waiter. */
	TAILQ_INIT(&done);
	while ((w = TAILQ_FIRST(list)) != NULL &&
	       (failed != NULL || w->mark <= durable)) {
		TAILQ_REMOVE(list, w, entry);
		TAILQ_INSERT_TAIL(&done, w, entry);
	}
	while ((w = TAILQ_FIRST(&done)) != NULL) {
		TAILQ_REMOVE(&done, w, entry);
		w->cb(w->arg, failed);
	}
}

/* spool callback: more is durable. */
static void
fwd_on_durable(void *arg)
{
	struct fwd *f = arg;

	fwd_resolve(&f->syncing, spool_durable(f->spool), NULL);
	/* what arrived during that sync (fwd_flush_cb held it) */
	if (f->durability == SN_DURABILITY_FSYNC && msg_count(&f->batch) > 0)
		fwd_flush(f);
	fwd_pump(f);
}

/* Hands each consumer what its reader has, while its socket takes it. */
static void
fwd_pump(struct fwd *f)
{
	struct fwd_sink *s;
	uint64_t last;
	int i, rc;

	for (i = 0; i < FWD_NSINKS; i++) {
		s = &f->sinks[i];
		for (;;) {
			if (!s->has_buf) {
				rc = spool_reader_next(s->rd, &s->buf, &last);
				if (rc < 0)
					continue; /* logged; skipped */
				if (rc == 0)
					break;
				s->has_buf = 1;
			}
			if (ipc_queued(s->out) + s->buf.len > FWD_QUEUE_BYTES ||
			    ipc_send(s->out, s->buf.data, s->buf.len) < 0)
				break;
			s->has_buf = 0;
		}
	}
}

/* The oldest event seq every consumer made durable. */
static uint64_t
fwd_acked(const struct fwd *f)
{
	uint64_t min = UINT64_MAX;
	int i;

	for (i = 0; i < FWD_NSINKS; i++)
		if (f->sinks[i].acked < min)
			min = f->sinks[i].acked;
	return min;
}

/*
 * The spool's backlog for the exporter: per consumer, the events it has
 * not yet made durable (stored: in the database, about a second behind
 * under steady load; detectd: in its checkpoint); the buffer, what is
 * not yet in the database; and the segments' bytes.  Sequence numbers
 * are contiguous within one run of ingestd and jump at a start (they
 * follow the clock), so counts cover this run's events; what an
 * earlier run left shows in the bytes.
 */
static void
fwd_metrics(struct fwd *f)
{
	static struct sn_series *buffer, *bytes;
	uint64_t last = spool_last_seq(f->spool), acked, lag;
	int i;

	if (buffer == NULL) {
		buffer = metrics_series(M_EVENT_BUFFER_SIZE);
		bytes = metrics_series(M_SPOOL_SIZE_BYTES);
	}
	for (i = 0; i < FWD_NSINKS; i++) {
		struct fwd_sink *s = &f->sinks[i];

		if (s->lag == NULL)
			s->lag = metrics_series(M_CONSUMER_LAG, s->name);
		acked = s->acked > f->run_base ? s->acked : f->run_base;
		lag = last > acked ? last - acked : 0;
		metrics_set(s->lag, (double)lag);
		if (i == FWD_STORED)
			metrics_set(buffer, (double)lag);
	}
	metrics_set(bytes, (double)spool_bytes(f->spool));
}

static void
fwd_on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct fwd *f = arg;
	int n;

	(void)fd;
	(void)what;
	f->ticks++;
	if (f->durability == SN_DURABILITY_BATCH &&
	    f->ticks % FWD_BATCH_SYNC_TICKS == 0)
		spool_sync(f->spool);
	if (f->ticks % FWD_GC_TICKS == 0 &&
	    (n = spool_gc(f->spool, fwd_acked(f))) > 0)
		log_debug("spool: %d segments every consumer is past deleted",
		          n);
	fwd_pump(f);
	fwd_metrics(f);
}

/* A RESUME or ACK of consumer s. */
static void
fwd_cursor(struct fwd *f, struct fwd_sink *s, const struct sn_cursor *c)
{
	int whole;

	s->heard_mono = sn_mono_ms();
	if (c->kind == SN_CURSOR_ACK) {
		if (c->seq > s->acked)
			s->acked = c->seq;
		if (s->placed)
			return;
		/* ingestd restarted: the consumer has everything up to
		 * there, no need to send it again */
	} else {
		s->resumes++;
		if (c->seq > s->acked)
			s->acked = c->seq;
	}
	whole = spool_reader_seek(s->rd, c->seq);
	s->has_buf = 0;
	s->placed = 1;
	if (!whole && c->seq > 0)
		log_warnx("%s asks for events after seq %llu, some of which "
		          "are no longer spooled: they are lost for it",
		          s->name, (unsigned long long)c->seq);
	if (c->kind == SN_CURSOR_RESUME)
		log_info("%s resumes after event seq %llu: %llu bytes to "
		         "send",
		         s->name, (unsigned long long)c->seq,
		         (unsigned long long)spool_reader_lag(s->rd));
	fwd_pump(f);
}

/* ipc callback: cursor messages from the consumers. */
static void
fwd_on_cursor(const void *data, size_t len, void *arg)
{
	struct fwd *f = arg;
	struct msg_reader r;
	struct sn_cursor c;
	int i;

	if (msg_open(&r, data, len) < 0 || r.type != SN_MSG_CURSOR ||
	    msg_check(&r) < 0) {
		log_warnx("dropped a malformed cursor message");
		return;
	}
	while (msg_next_cursor(&r, &c) == 1) {
		for (i = 0; i < FWD_NSINKS; i++)
			if (strcmp(f->sinks[i].name, c.consumer.p) == 0)
				break;
		if (i == FWD_NSINKS ||
		    (c.kind != SN_CURSOR_ACK && c.kind != SN_CURSOR_RESUME)) {
			log_warnx("dropped a cursor message from \"%.32s\"",
			          c.consumer.p);
			continue;
		}
		fwd_cursor(f, &f->sinks[i], &c);
	}
}

/*
 * End of a loop iteration with events in the batch.  While an fdatasync
 * runs, the batch stays open: appended now, its events would wait for
 * the next sync anyway, and held they join the events of the following
 * iterations in one spool record, one read back and one message per
 * consumer when the sync ends (fwd_on_durable).  Under single events
 * that is one record per sync instead of one per iteration; a full
 * batch (fwd_append) still goes at once.
 */
static void
fwd_flush_cb(evutil_socket_t fd, short what, void *arg)
{
	struct fwd *f = arg;

	(void)fd;
	(void)what;
	if (f->durability == SN_DURABILITY_FSYNC && spool_syncing(f->spool))
		return;
	fwd_flush(f);
}

void
fwd_set_limits(struct fwd *f, const struct sn_config *cfg)
{
	f->max_bytes = cfg->spool.max_bytes;
	f->stage_timeout_ms = cfg->spool.stage_timeout_ms;
	if (cfg->spool.durability != f->durability)
		log_warnx("ingestion.durability changed: restart ingestd to "
		          "use it");
}

int
fwd_open(struct fwd *f, struct event_base *base, const struct sn_config *cfg)
{
	struct timeval tick = {0, FWD_TICK_MS * 1000};
	uint64_t clock_seq = (uint64_t)sn_now_ms() * 1000, seg;
	char url[256];
	int i;

	memset(f, 0, sizeof(*f));
	TAILQ_INIT(&f->waiters);
	TAILQ_INIT(&f->syncing);
	f->durability = cfg->spool.durability;
	f->max_bytes = cfg->spool.max_bytes;
	f->stage_timeout_ms = cfg->spool.stage_timeout_ms;
	f->start_mono = sn_mono_ms();
	/* eight segments or more fit the limit, so deleting the old ones
	 * frees room while the newest fills */
	seg = cfg->spool.max_bytes / 8;
	if (seg > SPOOL_SEGMENT_BYTES)
		seg = SPOOL_SEGMENT_BYTES;
	if (cfg->spool.path != NULL)
		f->spool = spool_open(cfg->spool.path, f->durability, seg, base,
		                      fwd_on_durable, f);
	else {
		/* built-in defaults: beside the database */
		struct sn_buf p = {0};

		sn_buf_append(&p, cfg->storage.path, strlen(cfg->storage.path));
		sn_buf_append(&p, "/spool", sizeof("/spool"));
		f->spool = spool_open((const char *)p.data, f->durability, 0,
		                      base, fwd_on_durable, f);
		sn_buf_free(&p);
	}
	if (f->spool == NULL)
		return -1;
	f->last_seq = spool_last_seq(f->spool);
	f->next_seq = f->last_seq + 1 > clock_seq ? f->last_seq + 1 : clock_seq;
	f->run_base = f->next_seq - 1;
	msg_begin(&f->batch, SN_MSG_EVENTS);
	if ((f->flush_ev = event_new(base, -1, 0, fwd_flush_cb, f)) == NULL ||
	    (f->tick_ev = event_new(base, -1, EV_PERSIST, fwd_on_tick, f)) ==
	            NULL ||
	    event_add(f->tick_ev, &tick) < 0) {
		log_warnx("cannot create the pipeline's events");
		return -1;
	}
	for (i = 0; i < FWD_NSINKS; i++) {
		f->sinks[i].name = fwd_sink_names[i];
		if (ipc_url(url, sizeof(url), cfg->run_dir, fwd_sink_files[i]) <
		    0) {
			log_warnx("run_dir %s: path too long for a socket",
			          cfg->run_dir);
			return -1;
		}
		f->sinks[i].out = ipc_push_dial(base, url, FWD_QUEUE_BYTES);
		if (f->sinks[i].out == NULL)
			return -1;
		/* from the oldest record until the consumer says where it
		 * stands: it skips what it has */
		f->sinks[i].rd = spool_reader_new(f->spool);
	}
	if (ipc_url(url, sizeof(url), cfg->run_dir, SN_IPC_CURSOR) < 0 ||
	    (f->cursors = ipc_pull_listen(base, url, fwd_on_cursor, f)) == NULL)
		return -1;
	/* the gauges exist from the start, not from the first tick: a
	 * scrape right after the set is ready must find them */
	fwd_metrics(f);
	return 0;
}

/* Logs when refusing starts or stops (why NULL: accepting). */
static void
fwd_note(struct fwd *f, const char *why)
{
	if (why == NULL && f->refusing) {
		log_info("pipeline accepting events again");
		f->refusing = 0;
	} else if (why != NULL && !f->refusing) {
		log_warnx("refusing events: %s", why);
		f->refusing = 1;
	}
}

const char *
fwd_room(struct fwd *f, size_t bytes)
{
	static char why[128];
	int64_t now = sn_mono_ms(), since;
	int i;

	for (i = 0; i < FWD_NSINKS; i++) {
		since = f->sinks[i].heard_mono ? f->sinks[i].heard_mono
		                               : f->start_mono;
		if (now - since > f->stage_timeout_ms) {
			snprintf(why, sizeof(why),
			         "%s has not been heard from for %llds",
			         f->sinks[i].name,
			         (long long)((now - since) / 1000));
			f->refusal = 503;
			fwd_note(f, why);
			return why;
		}
	}
	if (spool_bytes(f->spool) + f->batch.len + bytes > f->max_bytes &&
	    (spool_gc(f->spool, fwd_acked(f)) == 0 ||
	     spool_bytes(f->spool) + f->batch.len + bytes > f->max_bytes)) {
		snprintf(why, sizeof(why),
		         "the spool is full (%llu bytes): consumers are "
		         "behind",
		         (unsigned long long)spool_bytes(f->spool));
		f->refusal = 429;
		fwd_note(f, why);
		return why;
	}
	fwd_note(f, NULL);
	return NULL;
}

int
fwd_refusal_status(const struct fwd *f)
{
	return f->refusal ? f->refusal : 503;
}

const char *
fwd_flush(struct fwd *f)
{
	static const char failed[] = "the spool cannot be written";
	uint32_t n = msg_count(&f->batch);
	uint64_t mark;
	struct fwd_waiter *w;

	if (n == 0) {
		fwd_resolve(&f->waiters, 0, NULL);
		return NULL;
	}
	msg_set_prev(&f->batch, f->last_seq);
	if (spool_append(f->spool, f->batch.data, f->batch.len, f->batch_first,
	                 f->next_seq - 1, &mark) < 0) {
		f->failed_events += n;
		f->refusal = 503;
		msg_begin(&f->batch, SN_MSG_EVENTS);
		fwd_resolve(&f->waiters, 0, failed);
		return failed;
	}
	f->last_seq = f->next_seq - 1;
	f->last_mark = mark;
	f->sent_events += n;
	f->sent_batches++;
	msg_begin(&f->batch, SN_MSG_EVENTS);
	while ((w = TAILQ_FIRST(&f->waiters)) != NULL) {
		TAILQ_REMOVE(&f->waiters, w, entry);
		w->mark = mark;
		TAILQ_INSERT_TAIL(&f->syncing, w, entry);
	}
	if (f->durability == SN_DURABILITY_FSYNC)
		spool_sync(f->spool); /* fwd_on_durable answers them */
	else
		fwd_on_durable(f);
	return NULL;
}

int
fwd_append(struct fwd *f, struct sn_event *ev, const char **failed)
{
	ev->seq = f->next_seq++;
	if (msg_count(&f->batch) == 0)
		f->batch_first = ev->seq;
	msg_add_event(&f->batch, ev);
	if (msg_count(&f->batch) == 1)
		event_active(f->flush_ev, EV_TIMEOUT, 0);
	if (f->batch.len >= FWD_BATCH_BYTES ||
	    msg_count(&f->batch) >= FWD_BATCH_EVENTS) {
		if ((*failed = fwd_flush(f)) != NULL)
			return -1;
	}
	return 0;
}

void
fwd_wait(struct fwd *f, struct fwd_waiter *w, fwd_done_cb cb, void *arg)
{
	w->cb = cb;
	w->arg = arg;
	if (msg_count(&f->batch) > 0) {
		TAILQ_INSERT_TAIL(&f->waiters, w, entry);
		return;
	}
	/* the events went out with a batch already spooled */
	if (spool_durable(f->spool) >= f->last_mark) {
		cb(arg, NULL);
		return;
	}
	w->mark = f->last_mark;
	TAILQ_INSERT_TAIL(&f->syncing, w, entry);
}

int
fwd_peers(const struct fwd *f, enum fwd_sink_id id)
{
	return ipc_peers(f->sinks[id].out);
}

void
fwd_drain(struct fwd *f, int timeout_ms)
{
	size_t left;
	int i;

	fwd_flush(f);
	/* what waits for a sync is answered when it ends: the loop is
	 * stopping, so sync here, on this thread */
	spool_close(f->spool);
	f->spool = NULL;
	fwd_resolve(&f->syncing, UINT64_MAX, NULL);
	for (i = 0; i < FWD_NSINKS; i++) {
		f->sinks[i].rd = NULL; /* freed with the spool */
		if (f->sinks[i].out == NULL)
			continue;
		left = ipc_flush(f->sinks[i].out, timeout_ms);
		if (left > 0)
			log_info("%zu batches for %s left in the spool at stop",
			         left, f->sinks[i].name);
	}
}

void
fwd_close(struct fwd *f)
{
	int i;

	if (!TAILQ_EMPTY(&f->waiters) || !TAILQ_EMPTY(&f->syncing))
		log_warnx("requests left unanswered at stop");
	ipc_in_free(f->cursors);
	for (i = 0; i < FWD_NSINKS; i++) {
		ipc_out_free(f->sinks[i].out);
		sn_buf_free(&f->sinks[i].buf);
	}
	spool_close(f->spool); /* frees the readers */
	if (f->flush_ev != NULL)
		event_free(f->flush_ev);
	if (f->tick_ev != NULL)
		event_free(f->tick_ev);
	sn_buf_free(&f->batch);
	memset(f, 0, sizeof(*f));
}
