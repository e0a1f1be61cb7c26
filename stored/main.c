/*
 * sentinel-stored: keeps every event and anomaly in sqlite.
 *
 * Pulls SN_MSG_EVENTS (from ingestd) and SN_MSG_ANOMALIES (from detectd)
 * on stored.ipc and writes them through writer.c.  Rows of received
 * messages accumulate in one open transaction, committed when 1000 rows
 * are pending or when the loop has nothing more to hand us (a zero-delay
 * event activated after each message runs once the receive burst is
 * done): large batches under load, a commit per message when idle.
 *
 * Replay of what a crash lost before its commit comes with ingestd's
 * spool (stored will ask for events after the last seq it made durable);
 * deduplication by (ts_ms, event_id) already makes that replay safe.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <jansson.h>

#include "daemon.h"
#include "ipc.h"
#include "log.h"
#include "msg.h"
#include "store.h"
#include "util.h"

/* Commit once this many rows are pending, without waiting for idle. */
#define STORED_BATCH_ROWS 1000
/* Period of the info summary line. */
#define STORED_SUMMARY_SECS 60

struct stored {
	struct sn_daemon d;
	struct store *store;
	char *folder;            /* storage.path the store was opened with */
	struct ipc_in *in;       /* stored.ipc */
	struct event *commit_ev; /* activated when rows are pending */
	struct event *summary_ev;
	struct store_stats last; /* totals at the previous summary */
	uint64_t msgs_dropped;   /* malformed or unexpected messages */
};

/* Commits the open transaction; a failure is logged by the writer. */
static void
stored_commit(struct stored *st)
{
	if (st->store != NULL)
		store_commit(st->store);
}

static void
stored_on_commit(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	stored_commit(arg);
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
static void
stored_take_events(struct stored *st, struct msg_reader *r)
{
	struct msg_reader check = *r;
	struct sn_event ev;
	int rc;

	while ((rc = msg_next_event(&check, &ev)) == 1)
		;
	if (rc < 0) {
		stored_drop(st, r->type, "malformed");
		return;
	}
	while (msg_next_event(r, &ev) == 1)
		store_add_event(st->store, &ev);
}

static void
stored_take_anomalies(struct stored *st, struct msg_reader *r)
{
	struct msg_reader check = *r;
	struct sn_anomaly a;
	int rc;

	while ((rc = msg_next_anomaly(&check, &a)) == 1)
		;
	if (rc < 0) {
		stored_drop(st, r->type, "malformed");
		return;
	}
	while (msg_next_anomaly(r, &a) == 1)
		store_add_anomaly(st->store, &a);
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
	if (store_pending(st->store) >= STORED_BATCH_ROWS)
		stored_commit(st);
	else if (store_pending(st->store) > 0)
		event_active(st->commit_ev, EV_TIMEOUT, 0);
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
	store_close(st->store);
	st->store = NULL;
	daemon_stop(d);
}

/* SIGHUP: nothing here depends on the config but the storage folder. */
static int
stored_on_reload(struct sn_daemon *d, struct sn_config *next)
{
	struct stored *st = d->arg;

	if (strcmp(next->storage.path, st->folder) != 0)
		log_warnx("storage.path changed to %s: still writing %s "
		          "until restart",
		          next->storage.path, store_path(st->store));
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
	if (rc != 0)
		fatalx("cannot open the store in %s", st->folder);
	log_info("storing into %s", store_path(st->store));
}

static void
stored_listen(struct stored *st)
{
	struct timeval every = {STORED_SUMMARY_SECS, 0};

	st->commit_ev = event_new(st->d.base, -1, 0, stored_on_commit, st);
	st->summary_ev =
	        event_new(st->d.base, -1, EV_PERSIST, stored_on_summary, st);
	if (st->commit_ev == NULL || st->summary_ev == NULL ||
	    event_add(st->summary_ev, &every) < 0)
		fatalx("cannot create loop events");
	st->in = daemon_pull_listen(&st->d, SN_IPC_STORED, stored_on_msg, st);
}

int
main(int argc, char **argv)
{
	static struct stored st;
	int rc;

	daemon_init(&st.d, "stored", argc, argv);
	st.d.arg = &st;
	st.d.on_stop = stored_on_stop;
	st.d.on_reload = stored_on_reload;
	stored_open_store(&st);
	stored_listen(&st);
	daemon_ready(&st.d);
	rc = daemon_run(&st.d);

	store_close(st.store); /* NULL after a clean stop */
	ipc_in_free(st.in);
	event_free(st.commit_ev);
	event_free(st.summary_ev);
	free(st.folder);
	daemon_free(&st.d);
	return rc;
}
