/*
 * sentinel-detectd: runs the detectors on every event.
 *
 * Pulls SN_MSG_EVENTS on detectd.ipc, feeds each event to the engine,
 * and pushes the anomaly records of one received message (or of one
 * timer tick) as one SN_MSG_ANOMALIES message to both stored.ipc (to
 * keep them) and alertd.ipc (to route them).  Each message is kept
 * (handover.h) until stored acknowledges it, with an
 * SN_MSG_ANOMALIES_ACK that arrives on detectd.ipc too, and is sent to
 * stored again while it does not.  SIGHUP rebuilds the
 * engine from the new detectors, keeping the state of unchanged ones.
 * detectd-ctl.ipc answers `sentinel-cli detectors list|test` (detctl.h).
 *
 * Events come from ingestd's spool in order (cursor.h).  Every
 * detection.checkpoint_interval the engine's state is saved with the seq
 * of the last event taken (checkpoint.h) and that seq acknowledged; a
 * restarted detectd loads it and asks for the events after it, so kill
 * -9 loses no state and counts no event twice.  The messages stored has
 * not acknowledged are saved just before each checkpoint and sent again
 * after a restart: an anomaly raised by an event before the checkpoint
 * is in stored or in that file.  ingestd keeps every
 * event detectd has not acknowledged, so under heavy load detectd also
 * saves once it has taken DETECTD_CKPT_SHARE of the spool's
 * max_size since the last save: otherwise a fast stream would fill the
 * spool within one interval and be refused while every consumer keeps
 * up.
 *
 * Time: the engine runs on event time.  When no event has arrived for
 * DETECTD_IDLE_MS, a 1-second timer moves the engine's event-time clock
 * to the last event time seen plus the wall-clock time elapsed since
 * that event arrived: with all traffic stopped, windows still close and
 * an application gone silent is still reported.  The cost: a client
 * that sends in batches more than its detectors' lateness apart will
 * see events of the next batch counted late; give such detectors a
 * larger lateness.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "checkpoint.h"
#include "ctl.h"
#include "cursor.h"
#include "detctl.h"
#include "daemon.h"
#include "engine.h"
#include "handover.h"
#include "ipc.h"
#include "log.h"
#include "metrics.h"
#include "msg.h"
#include "util.h"

/* Bytes of anomalies held per output while its consumer is away. */
#define DETECTD_MAX_QUEUED (16u * 1024 * 1024)
/* How long a stop waits for each consumer to take what is queued. */
#define DETECTD_FLUSH_MS 2000
/* Silence after which the wall clock drives event time. */
#define DETECTD_IDLE_MS 1000
#define DETECTD_TICK_MS 1000
/* A checkpoint once the events taken since the last one take this part
 * of ingestion.spool.max_size (1/4: 256 MB of the default 1 GiB, some
 * 570 000 events). */
#define DETECTD_CKPT_SHARE 4

/* sentinel_detection_errors_total's reasons. */
enum detectd_err {
	DETECTD_ERR_BAD_MESSAGE, /* a message that could not be used */
	DETECTD_ERR_DELIVERY,    /* anomalies a consumer's full queue refused */
	DETECTD_ERR_CHECKPOINT,  /* the state could not be saved */
	DETECTD_NERR
};
static const char *const detectd_err_names[DETECTD_NERR] = {
        "bad_message",
        "delivery",
        "checkpoint",
};

struct detectd {
	struct sn_daemon d;
	struct engine *engine;
	struct ipc_in *in;         /* detectd.ipc */
	struct ipc_out *to_stored; /* stored.ipc */
	struct ipc_out *to_alertd; /* alertd.ipc */
	struct ctl_server *ctl;    /* detectd-ctl.ipc */
	struct event *tick;        /* idle clock */
	struct sn_buf out;         /* anomalies of the current message */
	int64_t last_event_ms;     /* engine clock after the last message */
	int64_t last_arrival_ms;   /* wall clock of the last message */
	uint64_t msgs_dropped;     /* malformed or unexpected messages */
	uint64_t anomalies;        /* emitted since start */
	struct cursor cursor;      /* our place in ingestd's spool */
	char *ckpt_path;           /* <storage.path>/detectd.checkpoint */
	struct event *ckpt_ev;     /* every detection.checkpoint_interval */
	struct handover *hov;      /* anomalies stored has not acknowledged */
	char *hov_path;            /* <storage.path>/detectd.handover */
	uint64_t ckpt_bytes;       /* spooled bytes taken since a save */
	/* exported metrics (common/metrics.h) */
	struct sn_series *m_latency, *m_events, *m_groups;
	struct sn_series *m_err[DETECTD_NERR];
};

static void detectd_drop(struct detectd *st, int type, const char *why);

/* Saves the engine's state at the last event taken; then ingestd may
 * forget the events before it.  0 or -1 (logged). */
static int
detectd_checkpoint(struct detectd *st)
{
	st->ckpt_bytes = 0;
	if (st->cursor.last == st->cursor.durable)
		return 0;
	/* first the anomalies not yet in stored, then what raised them */
	if (handover_save(st->hov, st->hov_path) < 0 ||
	    checkpoint_save(st->engine, st->cursor.last, st->ckpt_path) < 0) {
		metrics_add(st->m_err[DETECTD_ERR_CHECKPOINT], 1);
		return -1;
	}
	st->cursor.durable = st->cursor.last;
	return 0;
}

static void
detectd_on_checkpoint(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	detectd_checkpoint(arg);
}

/* engine callback: one anomaly into the outgoing message. */
static void
detectd_emit(const struct sn_anomaly *a, void *arg)
{
	struct detectd *st = arg;

	msg_add_anomaly(&st->out, a);
	if (a->status == SN_ANOMALY_FIRING)
		metrics_add(metrics_series(M_ANOMALIES_DETECTED,
		                           a->detector_id.p, a->severity.p),
		            1);
}

/* Every configured detector and severity at 0, so the series exist
 * before the first anomaly (start and reload). */
static void
detectd_metrics_init(struct detectd *st, const struct sn_detectors *dets)
{
	size_t i, j;

	for (i = 0; i < dets->count; i++)
		for (j = 0; j < dets->items[i].nactions; j++)
			(void)metrics_series(
			        M_ANOMALIES_DETECTED, dets->items[i].id,
			        dets->items[i].actions[j].severity);
	if (st->m_latency != NULL)
		return;
	st->m_latency = metrics_series(M_DETECTION_LATENCY);
	st->m_events = metrics_series(M_EVENTS_EVALUATED);
	st->m_groups = metrics_series(M_DETECTION_GROUPS);
	for (i = 0; i < DETECTD_NERR; i++)
		st->m_err[i] = metrics_series(M_DETECTION_ERRORS,
		                              detectd_err_names[i]);
}

/* The groups every detector tracks now, for the gauge. */
static void
detectd_metrics_groups(struct detectd *st)
{
	struct engine_det_info info;
	uint64_t groups = 0;
	size_t i;

	for (i = 0; i < engine_detector_count(st->engine); i++) {
		engine_detector_info(st->engine, i, &info);
		groups += info.groups;
	}
	metrics_set(st->m_groups, (double)groups);
}

/* To alertd, which nothing sends again: a full queue loses them. */
static void
detectd_send_alertd(struct detectd *st)
{
	if (ipc_send(st->to_alertd, st->out.data, st->out.len) == 0)
		return;
	metrics_add(st->m_err[DETECTD_ERR_DELIVERY], 1);
	log_warnx("alertd is not keeping up, queue full: %" PRIu32
	          " anomalies not delivered to it",
	          msg_count(&st->out));
}

/* Sends the anomalies gathered in st->out, if any; stored's copy is
 * kept until stored acknowledges it. */
static void
detectd_flush(struct detectd *st)
{
	uint64_t dropped;

	if (msg_count(&st->out) == 0)
		return;
	st->anomalies += msg_count(&st->out);
	log_debug("%" PRIu32 " anomalies", msg_count(&st->out));
	handover_add(st->hov, &st->out, sn_mono_ms(), &dropped);
	if (dropped > 0) {
		metrics_add(st->m_err[DETECTD_ERR_DELIVERY], 1);
		log_warnx("stored has not acknowledged anomalies for long: "
		          "the oldest %" PRIu64 " will not be sent again",
		          dropped);
	}
	/* refused by a full queue, it is sent again with the others */
	(void)ipc_send(st->to_stored, st->out.data, st->out.len);
	detectd_send_alertd(st);
}

/* handover_send_fn: one message to stored again. */
static int
detectd_resend_one(const void *data, size_t len, void *arg)
{
	struct detectd *st = arg;

	return ipc_send(st->to_stored, data, len);
}

/* Sends stored what it has not acknowledged for a while, when it is
 * there and has taken everything queued for it. */
static void
detectd_resend(struct detectd *st)
{
	size_t n;

	if (handover_count(st->hov) == 0 || ipc_peers(st->to_stored) == 0 ||
	    ipc_queued(st->to_stored) > 0)
		return;
	n = handover_resend(st->hov, sn_mono_ms(), detectd_resend_one, st);
	if (n > 0)
		log_info("sent stored %zu anomalies messages again (not "
		         "acknowledged; %zu held)",
		         n, handover_count(st->hov));
}

/* stored has these anomalies messages on disk. */
static void
detectd_on_ack(struct detectd *st, struct msg_reader *r)
{
	int64_t now = sn_mono_ms();
	uint64_t id;

	if (msg_check(r) < 0) {
		detectd_drop(st, r->type, "malformed");
		return;
	}
	while (msg_next_ack(r, &id) == 1)
		(void)handover_ack(st->hov, id, now);
}

/* Counts and logs a message we cannot use (style.md 9: never fatal). */
static void
detectd_drop(struct detectd *st, int type, const char *why)
{
	st->msgs_dropped++;
	metrics_add(st->m_err[DETECTD_ERR_BAD_MESSAGE], 1);
	log_warnx("dropped %s message: %s (%llu dropped so far)",
	          sn_msg_type_name(type), why,
	          (unsigned long long)st->msgs_dropped);
}

/* ipc callback: one message of events from detectd.ipc. */
static void
detectd_on_msg(const void *data, size_t len, void *arg)
{
	struct detectd *st = arg;
	struct msg_reader r, check;
	struct sn_event ev;
	struct metrics_hist lat = {0};
	int64_t now = sn_now_ms(), done_us;
	uint64_t n = 0;
	int rc;

	if (msg_open(&r, data, len) < 0) {
		detectd_drop(st, len > 1 ? ((const uint8_t *)data)[1] : 0,
		             "bad header or version");
		return;
	}
	if (r.type == SN_MSG_ANOMALIES_ACK) {
		detectd_on_ack(st, &r);
		return;
	}
	if (r.type != SN_MSG_EVENTS) {
		detectd_drop(st, r.type, "not for detectd");
		return;
	}
	/* Check the whole message before acting on any of it. */
	check = r;
	while ((rc = msg_next_event(&check, &ev)) == 1)
		;
	if (rc < 0) {
		detectd_drop(st, r.type, "malformed");
		return;
	}
	if (!cursor_batch(&st->cursor, r.prev))
		return; /* after a gap: asked for again */
	msg_begin(&st->out, SN_MSG_ANOMALIES);
	check = r;
	while (msg_next_event(&r, &ev) == 1)
		if (cursor_take(&st->cursor, ev.seq)) {
			engine_feed(st->engine, &ev, now, detectd_emit, st);
			n++;
		}
	/* Latency from ingestd's acceptance (a millisecond stamp: its
	 * middle is taken) to the end of this message's evaluation. */
	done_us = sn_now_us();
	while (n > 0 && msg_next_event(&check, &ev) == 1) {
		int64_t d = done_us - (ev.recv_ms * 1000 + 500);

		metrics_hist_observe(&lat, M_DETECTION_LATENCY,
		                     d > 0 ? (uint64_t)d : 0);
	}
	metrics_hist_flush(st->m_latency, &lat);
	metrics_add(st->m_events, n);
	st->last_event_ms = engine_max_event_time(st->engine);
	st->last_arrival_ms = now;
	detectd_flush(st);
	/* the message is one spool record, bar its header; a save that
	 * fails is tried again a share later, or at the next tick */
	st->ckpt_bytes += len;
	if (st->ckpt_bytes >= st->d.cfg->spool.max_bytes / DETECTD_CKPT_SHARE &&
	    detectd_checkpoint(st) == 0)
		cursor_ack(&st->cursor);
}

/* Timer: with no event for a while, let the wall clock move event time
 * (see the comment at the top). */
static void
detectd_on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct detectd *st = arg;
	int64_t now = sn_now_ms(), idle = now - st->last_arrival_ms;

	(void)fd;
	(void)what;
	detectd_metrics_groups(st);
	detectd_resend(st);
	if (st->last_event_ms == INT64_MIN || idle < DETECTD_IDLE_MS)
		return;
	msg_begin(&st->out, SN_MSG_ANOMALIES);
	engine_advance_clock(st->engine, st->last_event_ms + idle, now,
	                     detectd_emit, st);
	detectd_flush(st);
}

/* SIGHUP: the new config is valid; run its detectors from now on,
 * keeping the state of those whose config did not change. */
static int
detectd_on_reload(struct sn_daemon *d, struct sn_config *next)
{
	struct detectd *st = d->arg;
	struct engine *old = st->engine;

	st->engine = engine_new(&next->detectors, old);
	engine_free(old); /* before daemon.c frees the config it borrowed */
	detectd_metrics_init(st, &next->detectors);
	return 0;
}

/* SIGTERM: evaluate what is waiting, hand the anomalies on, stop. */
static void
detectd_on_stop(struct sn_daemon *d)
{
	struct detectd *st = d->arg;
	size_t left;
	int n;

	n = ipc_in_drain(st->in);
	detectd_checkpoint(st);
	left = ipc_flush(st->to_stored, DETECTD_FLUSH_MS) +
	       ipc_flush(st->to_alertd, DETECTD_FLUSH_MS);
	log_info("drained %d messages; %llu anomalies since start%s", n,
	         (unsigned long long)st->anomalies,
	         left ? "; some could not be delivered" : "");
	daemon_stop(d);
}

/* Dials both consumers (nng redials until they listen), then listens
 * for events and control requests, and starts the idle clock. */
static void
detectd_open(struct detectd *st)
{
	struct timeval tv = {DETECTD_TICK_MS / 1000, 0};
	int64_t ms = st->d.cfg->detection.checkpoint_interval_ms;
	struct timeval every = {(time_t)(ms / 1000),
	                        (suseconds_t)(ms % 1000 * 1000)};
	uint64_t seq = 0;
	char url[256];
	int n;
	const char *dir = st->d.cfg->storage.path;

	/* the state a checkpoint kept, and the events after it */
	if (sn_mkdir_p(dir, 0750) < 0)
		log_warn("storage.path %s", dir);
	st->ckpt_path = sn_path_resolve(dir, "detectd.checkpoint");
	st->hov_path = sn_path_resolve(dir, "detectd.handover");
	st->hov = handover_new(DETECTD_MAX_QUEUED);
	if ((n = handover_load(st->hov, st->hov_path)) > 0)
		log_info("%d anomalies messages stored had not acknowledged "
		         "will be sent again",
		         n);
	if (checkpoint_load(st->engine, st->ckpt_path, &seq) == 1) {
		log_info("detector state restored from %s (event seq %llu)",
		         st->ckpt_path, (unsigned long long)seq);
		st->last_event_ms = engine_max_event_time(st->engine);
		st->last_arrival_ms = sn_now_ms();
	}
	if (cursor_open(&st->cursor, &st->d, "detectd", seq) < 0)
		fatalx("cannot reach ingestd's cursor socket");
	st->ckpt_ev = event_new(st->d.base, -1, EV_PERSIST,
	                        detectd_on_checkpoint, st);
	if (st->ckpt_ev == NULL || event_add(st->ckpt_ev, &every) < 0)
		fatalx("cannot arm the checkpoint timer");

	st->to_stored =
	        daemon_push_dial(&st->d, SN_IPC_STORED, DETECTD_MAX_QUEUED);
	st->to_alertd =
	        daemon_push_dial(&st->d, SN_IPC_ALERTD, DETECTD_MAX_QUEUED);
	st->in = daemon_pull_listen(&st->d, SN_IPC_DETECTD, detectd_on_msg, st);
	if (ipc_url(url, sizeof(url), st->d.cfg->run_dir, SN_IPC_DETECTD_CTL) <
	            0 ||
	    (st->ctl = detctl_listen(st->d.base, url, &st->engine)) == NULL)
		fatalx("cannot listen on %s", url);
	st->tick = event_new(st->d.base, -1, EV_PERSIST, detectd_on_tick, st);
	if (st->tick == NULL || event_add(st->tick, &tv) < 0)
		fatalx("cannot start the idle clock");
}

int
main(int argc, char **argv)
{
	static struct detectd st;
	int rc;

	daemon_init(&st.d, "detectd", argc, argv);
	st.d.arg = &st;
	st.d.on_stop = detectd_on_stop;
	st.d.on_reload = detectd_on_reload;
	st.last_event_ms = INT64_MIN;
	st.engine = engine_new(&st.d.cfg->detectors, NULL);
	detectd_metrics_init(&st, &st.d.cfg->detectors);
	detectd_open(&st);
	daemon_ready(&st.d);
	rc = daemon_run(&st.d);

	event_free(st.tick);
	event_free(st.ckpt_ev);
	cursor_close(&st.cursor);
	free(st.ckpt_path);
	free(st.hov_path);
	handover_free(st.hov);
	ctl_free(st.ctl);
	ipc_in_free(st.in);
	ipc_out_free(st.to_stored);
	ipc_out_free(st.to_alertd);
	engine_free(st.engine);
	sn_buf_free(&st.out);
	daemon_free(&st.d);
	return rc;
}
