/*
 * sentinel-stored: keeps every event and anomaly in sqlite.
 *
 * Pulls SN_MSG_EVENTS (from ingestd) and SN_MSG_ANOMALIES (from detectd)
 * on stored.ipc and writes them through writer.c.  Rows of received
 * messages accumulate in one open transaction, committed when
 * STORE_BATCH_ROWS (store.h) rows are pending or when the loop has
 * nothing more to hand us (a zero-delay event activated after each
 * message runs once the receive burst is done): large batches under
 * load, a commit per message when idle.
 *
 * Events come from ingestd's spool in order (cursor.h): stored records
 * the seq of the last event in each transaction (store_meta), syncs what
 * is committed about once a second and acknowledges it; after a restart
 * it asks for what follows.  Deduplication by (ts_ms, event_id) makes
 * any replay harmless.  Anomalies come from detectd, which keeps each
 * message until stored acknowledges its id (SN_MSG_ANOMALIES_ACK on
 * detectd.ipc) after the same sync; the anomaly id keeps one row of each
 * when a message comes again.
 *
 * Timers: about once a second the rollups' changed rows are written
 * (store_tick; rollup.h says why not at every commit); every
 * storage.retention.interval a retention pass starts, and runs as a
 * chain of zero-timeout events, one short delete transaction each, so
 * the loop receives events between steps (retention.h).
 *
 * Metrics (metrics.h) go to <run_dir>/stored.metrics: events stored
 * (writer.c), retention runs and deletions (retention.c), the file's
 * size and each table's rows (stmetrics.h, on the 250 ms tick).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <jansson.h>

#include "cursor.h"
#include "daemon.h"
#include "ipc.h"
#include "log.h"
#include "metrics.h"
#include "msg.h"
#include "retention.h"
#include "query.h"
#include "stmetrics.h"
#include "store.h"
#include "util.h"
#include "walckpt.h"

/*
 * A commit when the loop runs out of input, but not sooner than this
 * after the last one: under single events each message carries only the
 * events of one spool sync (tens), and a commit per message cost more
 * than the rows in it.  Events wait in the spool meanwhile, so nothing
 * is at risk; queries see them this much later at most.
 */
#define STORED_COMMIT_MIN_MS 10
/* Period of the info summary line. */
#define STORED_SUMMARY_SECS 60
/* Period of store_tick, which writes the rollups when due (every second,
 * rollup.h): a fraction of that, so they trail by little more. */
#define STORED_TICK_MS 250
/* Bytes of acknowledgements held while detectd is away (8 per message). */
#define STORED_ACK_QUEUE (256u * 1024)

struct stored {
	struct sn_daemon d;
	struct store *store;
	struct query_server *query; /* reader threads (query.c) */
	char *folder;               /* storage.path the store was opened with */
	struct ipc_in *in;          /* stored.ipc */
	struct event *commit_ev;    /* activated when rows are pending */
	int64_t commit_mono;        /* when the last commit ended */
	struct event *summary_ev;
	struct event *flush_ev; /* every STORED_TICK_MS: rollups out */
	struct retention *retention;
	struct event *retention_ev; /* every storage.retention.interval */
	struct event *ret_step_ev;  /* zero timeout: the next step */
	struct stm *stm;            /* storage size and row gauges */
	struct store_stats last;    /* totals at the previous summary */
	struct cursor cursor;       /* our place in ingestd's spool */
	struct ipc_out *to_detectd; /* detectd.ipc: anomalies acknowledged */
	struct sn_buf acks;         /* the SN_MSG_ANOMALIES_ACK being sent */
	uint64_t msgs_dropped;      /* malformed or unexpected messages */
};

/* Commits the open transaction; a failure is logged by the writer. */
static void
stored_commit(struct stored *st)
{
	if (st->store != NULL)
		store_commit(st->store);
	st->commit_mono = sn_mono_ms();
}

/* Rows are pending and the loop may run dry: commit at its end, or
 * STORED_COMMIT_MIN_MS after the last commit if that is later. */
static void
stored_commit_soon(struct stored *st)
{
	int64_t wait = st->commit_mono + STORED_COMMIT_MIN_MS - sn_mono_ms();
	struct timeval tv = {0, 0};

	if (event_pending(st->commit_ev, EV_TIMEOUT, NULL))
		return;
	if (wait > 0)
		tv.tv_usec = (suseconds_t)(wait * 1000);
	event_add(st->commit_ev, &tv);
}

static void
stored_on_commit(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	stored_commit(arg);
}

/*
 * After commits: what is synced to disk is acknowledged to ingestd, and
 * to detectd its anomalies messages (when detectd is away or slow the
 * acknowledgement is dropped: it sends those again, and the anomalies'
 * ids keep one row of each); what a rolled-back transaction lost is
 * asked for again.
 */
static void
stored_cursor_sync(struct stored *st)
{
	uint64_t to;

	if (store_take_rewind(st->store, &to))
		cursor_rewind(&st->cursor, to);
	if (store_sync_cursor(st->store) > 0)
		st->cursor.durable = store_cursor(st->store);
	if (store_take_acks(st->store, &st->acks) > 0)
		(void)ipc_send(st->to_detectd, st->acks.data, st->acks.len);
}

/* Every STORED_TICK_MS: the rollups' changed rows, when due; the
 * storage gauges. */
static void
stored_on_flush(evutil_socket_t fd, short what, void *arg)
{
	struct stored *st = arg;

	(void)fd;
	(void)what;
	if (st->store != NULL) {
		store_tick(st->store);
		stored_cursor_sync(st);
		stm_tick(st->stm, sn_mono_ms());
	}
}

/* One retention step; schedules the next one behind whatever the loop
 * has ready (a zero timeout is a timer: I/O is polled first, whereas an
 * event_active'd event would run again in the same pass). */
static void
stored_on_retention_step(evutil_socket_t fd, short what, void *arg)
{
	struct stored *st = arg;
	struct timeval now = {0, 0};

	(void)fd;
	(void)what;
	if (st->store == NULL)
		return;
	if (retention_step(st->retention) > 0)
		event_add(st->ret_step_ev, &now);
}

/* Every storage.retention.interval: start a pass unless one runs. */
static void
stored_on_retention(evutil_socket_t fd, short what, void *arg)
{
	struct stored *st = arg;
	struct timeval now = {0, 0};

	(void)fd;
	(void)what;
	if (st->store == NULL)
		return;
	if (retention_start(st->retention, sn_now_ms()))
		event_add(st->ret_step_ev, &now);
}

/* (Re)arms the retention timer with the config's policies and interval;
 * a pass already running keeps its cutoffs. */
static void
stored_arm_retention(struct stored *st, const struct sn_config *cfg)
{
	int64_t ms = cfg->storage.retention_interval_ms;
	struct timeval every = {(time_t)(ms / 1000),
	                        (suseconds_t)(ms % 1000 * 1000)};

	retention_configure(st->retention, cfg);
	if (event_add(st->retention_ev, &every) < 0)
		fatalx("cannot arm the retention timer");
}

/* Counts and logs a message we cannot use (style.md 9: never fatal). */
static void
stored_drop(struct stored *st, int type, const char *why)
{
	st->msgs_dropped++;
	log_warnx("dropped %s message: %s (%llu dropped so far)",
	          sn_msg_type_name(type), why,
	          (unsigned long long)st->msgs_dropped);
}

/*
 * Stores the events of one message.  The message is checked whole first,
 * so a malformed one is dropped entirely rather than half stored.
 */
/* Events handed to the store at once (store_add_events); their strings
 * point into the message, which outlives the call. */
#define STORED_TAKE 64

static void
stored_take_events(struct stored *st, struct msg_reader *r)
{
	struct sn_event evs[STORED_TAKE];
	size_t n = 0;

	if (msg_check(r) < 0) {
		stored_drop(st, r->type, "malformed");
		return;
	}
	if (!cursor_batch(&st->cursor, r->prev))
		return; /* after a gap: asked for again */
	while (msg_next_event(r, &evs[n]) == 1) {
		if (!cursor_take(&st->cursor, evs[n].seq))
			continue;
		if (++n == STORED_TAKE) {
			store_add_events(st->store, evs, n);
			n = 0;
		}
	}
	if (n > 0)
		store_add_events(st->store, evs, n);
}

/* Stores the anomalies of one message from detectd; once they are all
 * in, its id waits for the commit and sync that acknowledge it. */
static void
stored_take_anomalies(struct stored *st, struct msg_reader *r)
{
	struct sn_anomaly a;
	int ok = 1;

	if (msg_check(r) < 0) {
		stored_drop(st, r->type, "malformed");
		return;
	}
	while (msg_next_anomaly(r, &a) == 1)
		if (store_add_anomaly(st->store, &a) < 0)
			ok = 0;
	if (ok && r->id != 0)
		store_hand_over(st->store, r->id);
}

/* ipc callback: one message from stored.ipc. */
static void
stored_on_msg(const void *data, size_t len, void *arg)
{
	struct stored *st = arg;
	struct msg_reader r;

	if (st->store == NULL)
		return; /* closed by on_stop; cannot happen after drain */
	if (msg_open(&r, data, len) < 0) {
		stored_drop(st, len > 1 ? ((const uint8_t *)data)[1] : 0,
		            "bad header or version");
		return;
	}
	switch (r.type) {
	case SN_MSG_EVENTS:
		stored_take_events(st, &r);
		break;
	case SN_MSG_ANOMALIES:
		stored_take_anomalies(st, &r);
		break;
	default:
		stored_drop(st, r.type, "not for stored");
		return;
	}
	if (store_pending(st->store) >= STORE_BATCH_ROWS)
		stored_commit(st);
	else if (store_pending(st->store) > 0)
		stored_commit_soon(st);
}

/* Every STORED_SUMMARY_SECS: one info line with what changed, if any. */
static void
stored_on_summary(evutil_socket_t fd, short what, void *arg)
{
	struct stored *st = arg;
	const struct store_stats *now;
	json_t *f;

	(void)fd;
	(void)what;
	if (st->store == NULL)
		return;
	now = store_get_stats(st->store);
	if (memcmp(now, &st->last, sizeof(*now)) == 0)
		return;
	f = json_pack(
	        "{s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "events",
	        (json_int_t)(now->events_inserted - st->last.events_inserted),
	        "duplicates",
	        (json_int_t)(now->events_duplicate - st->last.events_duplicate),
	        "anomalies",
	        (json_int_t)(now->anomalies_inserted -
	                     st->last.anomalies_inserted),
	        "commits", (json_int_t)(now->commits - st->last.commits),
	        "rows_failed",
	        (json_int_t)(now->rows_failed - st->last.rows_failed),
	        "events_total", (json_int_t)now->events_inserted,
	        "messages_dropped", (json_int_t)st->msgs_dropped);
	if (f != NULL) {
		log_json(LOG_LEVEL_INFO, "stored in the last minute", f);
		json_decref(f);
	}
	st->last = *now;
}

/* SIGTERM: take what is already waiting, commit it, close, stop. */
static void
stored_on_stop(struct sn_daemon *d)
{
	struct stored *st = d->arg;
	int n;

	n = ipc_in_drain(st->in);
	stored_commit(st);
	if (st->store != NULL) {
		const struct store_stats *s = store_get_stats(st->store);

		log_info("drained %d messages; %llu events and %llu anomalies "
		         "stored since start",
		         n, (unsigned long long)s->events_inserted,
		         (unsigned long long)s->anomalies_inserted);
	}
	query_stop(st->query); /* first: the writer closes the file last */
	st->query = NULL;
	stm_free(st->stm);
	st->stm = NULL;
	retention_free(st->retention); /* its statements before the close */
	st->retention = NULL;
	store_close(st->store);
	st->store = NULL;
	daemon_stop(d);
}

/* SIGHUP: new retention policies and interval apply from the next pass;
 * a new storage folder only at restart. */
static int
stored_on_reload(struct sn_daemon *d, struct sn_config *next)
{
	struct stored *st = d->arg;

	if (strcmp(next->storage.path, st->folder) != 0)
		log_warnx("storage.path changed to %s: still writing %s "
		          "until restart",
		          next->storage.path, store_path(st->store));
	stored_arm_retention(st, next);
	query_reconfigure(st->query, next);
	return 0;
}

/* Opens the database; a newer schema is a permanent error (exit 2). */
static void
stored_open_store(struct stored *st)
{
	int rc;

	st->folder = sn_xstrdup(st->d.cfg->storage.path);
	rc = store_open(st->folder, &st->store);
	if (rc == STORE_NEWER)
		exit(SN_EXIT_PERMANENT);
	if (rc != 0 || (st->retention = retention_new(st->store)) == NULL)
		fatalx("cannot open the store in %s", st->folder);
	log_info("storing into %s", store_path(st->store));
	st->stm = stm_start(st->store, st->retention);
}

/* The loop's timers: commit, summary, rollup flush, retention. */
static void
stored_timers(struct stored *st)
{
	struct timeval summary = {STORED_SUMMARY_SECS, 0};
	struct timeval flush = {STORED_TICK_MS / 1000,
	                        STORED_TICK_MS % 1000 * 1000};

	st->commit_ev = event_new(st->d.base, -1, 0, stored_on_commit, st);
	st->summary_ev =
	        event_new(st->d.base, -1, EV_PERSIST, stored_on_summary, st);
	st->flush_ev =
	        event_new(st->d.base, -1, EV_PERSIST, stored_on_flush, st);
	st->retention_ev =
	        event_new(st->d.base, -1, EV_PERSIST, stored_on_retention, st);
	st->ret_step_ev =
	        event_new(st->d.base, -1, 0, stored_on_retention_step, st);
	if (st->commit_ev == NULL || st->summary_ev == NULL ||
	    st->flush_ev == NULL || st->retention_ev == NULL ||
	    st->ret_step_ev == NULL ||
	    event_add(st->summary_ev, &summary) < 0 ||
	    event_add(st->flush_ev, &flush) < 0)
		fatalx("cannot create loop events");
	stored_arm_retention(st, st->d.cfg);
}

static void
stored_listen(struct stored *st)
{
	if (cursor_open(&st->cursor, &st->d, "stored",
	                store_cursor(st->store)) < 0)
		fatalx("cannot reach ingestd's cursor socket");
	st->to_detectd =
	        daemon_push_dial(&st->d, SN_IPC_DETECTD, STORED_ACK_QUEUE);
	st->in = daemon_pull_listen(&st->d, SN_IPC_STORED, stored_on_msg, st);
}

int
main(int argc, char **argv)
{
	static struct stored st;
	int rc;

	sn_sqlite_config(); /* before sqlite starts */
	daemon_init(&st.d, "stored", argc, argv);
	st.d.arg = &st;
	st.d.on_stop = stored_on_stop;
	st.d.on_reload = stored_on_reload;
	stored_open_store(&st);
	stored_timers(&st);
	stored_listen(&st);
	st.query = query_start(st.d.cfg, st.folder);
	daemon_ready(&st.d);
	rc = daemon_run(&st.d);

	stm_free(st.stm); /* NULL after a clean stop, as the next two */
	retention_free(st.retention);
	store_close(st.store);
	ipc_in_free(st.in);
	cursor_close(&st.cursor);
	ipc_out_free(st.to_detectd);
	sn_buf_free(&st.acks);
	event_free(st.commit_ev);
	event_free(st.summary_ev);
	event_free(st.flush_ev);
	event_free(st.retention_ev);
	event_free(st.ret_step_ev);
	free(st.folder);
	daemon_free(&st.d); /* closes the metrics file too */
	return rc;
}
