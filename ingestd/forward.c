/*
 * forward.c: accepted events to stored and detectd, in batches.
 *
 * Every event goes to both consumers in the same SN_MSG_EVENTS message,
 * encoded once.  A batch is sent when it is full (FWD_BATCH_BYTES or
 * FWD_BATCH_EVENTS) or at the end of the loop iteration that started it:
 * the first event of a batch activates a zero-timeout event, which
 * libevent runs after the callbacks already due in this iteration, so
 * all the requests read together share a message and a lone event still
 * leaves within a millisecond.
 *
 * The HTTP answer waits for that send (struct fwd_waiter): a 202 means
 * both consumers' queues took the events, a 503 that one refused them.
 * A batch is only sent when both queues have room for it, so a refusal
 * normally reaches neither consumer.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "ingestd.h"
#include "ipc.h"
#include "log.h"
#include "msg.h"

static const char *const fwd_sink_names[FWD_NSINKS] = {
        [FWD_STORED] = "stored",
        [FWD_DETECTD] = "detectd",
};
static const char *const fwd_sink_files[FWD_NSINKS] = {
        [FWD_STORED] = SN_IPC_STORED,
        [FWD_DETECTD] = SN_IPC_DETECTD,
};

static void
fwd_flush_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	fwd_flush(arg);
}

int
fwd_open(struct fwd *f, struct event_base *base, const char *run_dir)
{
	char url[256];
	int i;

	memset(f, 0, sizeof(*f));
	TAILQ_INIT(&f->waiters);
	f->next_seq = (uint64_t)sn_now_ms() * 1000;
	msg_begin(&f->batch, SN_MSG_EVENTS);
	if ((f->flush_ev = event_new(base, -1, 0, fwd_flush_cb, f)) == NULL) {
		log_warnx("cannot create the flush event");
		return -1;
	}
	for (i = 0; i < FWD_NSINKS; i++) {
		f->sinks[i].name = fwd_sink_names[i];
		if (ipc_url(url, sizeof(url), run_dir, fwd_sink_files[i]) < 0) {
			log_warnx("run_dir %s: path too long for a socket",
			          run_dir);
			return -1;
		}
		f->sinks[i].out = ipc_push_dial(base, url, FWD_QUEUE_BYTES);
		if (f->sinks[i].out == NULL)
			return -1;
	}
	return 0;
}

/* Logs when consumer failed starts or stops refusing (NULL: accepting). */
static void
fwd_note(struct fwd *f, const char *failed)
{
	if (failed == NULL && f->refusing) {
		log_info("pipeline accepting events again");
		f->refusing = 0;
	} else if (failed != NULL && !f->refusing) {
		log_warnx("%s is not accepting events: refusing requests "
		          "with 503",
		          failed);
		f->refusing = 1;
	}
}

const char *
fwd_room(struct fwd *f, size_t bytes)
{
	size_t queued;
	int i;

	/*
	 * An empty queue means nng is taking messages as fast as they come:
	 * try.  Otherwise everything pending must fit behind what waits.
	 */
	for (i = 0; i < FWD_NSINKS; i++) {
		queued = ipc_queued(f->sinks[i].out);
		if (queued > 0 &&
		    queued + f->batch.len + bytes > FWD_QUEUE_BYTES) {
			fwd_note(f, f->sinks[i].name);
			return f->sinks[i].name;
		}
	}
	return NULL;
}

size_t
fwd_event_size(const struct sn_event *ev)
{
	/* msg_add_event's record: 3 u64, a u32, 5 doubles, then 7 strings
	 * of u32 length + bytes + NUL. */
	return 3 * 8 + 4 + 5 * 8 + 7 * 5 + (size_t)ev->event_id.len +
	       ev->event_type.len + ev->application_id.len + ev->model.len +
	       ev->status.len + ev->timestamp.len + ev->json.len;
}

/* Tells every waiter the outcome of the batch just sent or dropped. */
static void
fwd_resolve(struct fwd *f, const char *failed)
{
	struct fwd_waiters done;
	struct fwd_waiter *w;

	/* Move them aside first: a callback may queue a new waiter. */
	TAILQ_INIT(&done);
	TAILQ_CONCAT(&done, &f->waiters, entry);
	while ((w = TAILQ_FIRST(&done)) != NULL) {
		TAILQ_REMOVE(&done, w, entry);
		w->cb(w->arg, failed);
	}
}

const char *
fwd_flush(struct fwd *f)
{
	const char *failed = NULL;
	uint32_t n = msg_count(&f->batch);
	int i;

	if (n == 0) {
		fwd_resolve(f, NULL);
		return NULL;
	}
	/* Both or neither: check every queue before sending to any. */
	for (i = 0; i < FWD_NSINKS && failed == NULL; i++) {
		size_t q = ipc_queued(f->sinks[i].out);

		if (q > 0 && q + f->batch.len > FWD_QUEUE_BYTES)
			failed = f->sinks[i].name;
	}
	for (i = 0; i < FWD_NSINKS && failed == NULL; i++)
		if (ipc_send(f->sinks[i].out, f->batch.data, f->batch.len) < 0)
			failed = f->sinks[i].name;
	if (failed == NULL) {
		f->sent_events += n;
		f->sent_batches++;
	} else
		f->failed_events += n;
	fwd_note(f, failed);
	msg_begin(&f->batch, SN_MSG_EVENTS);
	fwd_resolve(f, failed);
	return failed;
}

int
fwd_append(struct fwd *f, struct sn_event *ev, const char **failed)
{
	ev->seq = f->next_seq++;
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
	if (msg_count(&f->batch) == 0) {
		cb(arg, NULL);
		return;
	}
	TAILQ_INSERT_TAIL(&f->waiters, w, entry);
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
	for (i = 0; i < FWD_NSINKS; i++) {
		if (f->sinks[i].out == NULL)
			continue;
		left = ipc_flush(f->sinks[i].out, timeout_ms);
		if (left > 0)
			log_warnx("%zu batches for %s not delivered at stop",
			          left, f->sinks[i].name);
	}
}

void
fwd_close(struct fwd *f)
{
	int i;

	/*
	 * fwd_drain answered every waiter and the HTTP side refuses new
	 * requests while stopping, so none is left; their requests are
	 * gone with the HTTP server by now, so none may be called.
	 */
	if (!TAILQ_EMPTY(&f->waiters))
		log_warnx("requests left unanswered at stop");
	for (i = 0; i < FWD_NSINKS; i++)
		ipc_out_free(f->sinks[i].out);
	if (f->flush_ev != NULL)
		event_free(f->flush_ev);
	sn_buf_free(&f->batch);
	memset(f, 0, sizeof(*f));
}
