/*
 * cursor.c: a consumer's place in ingestd's spool (see cursor.h).
 */
#include <string.h>

#include <event2/event.h>

#include "cursor.h"
#include "daemon.h"
#include "ipc.h"
#include "log.h"
#include "msg.h"
#include "util.h"

/* Bytes of cursor messages held while ingestd is away: a few. */
#define CURSOR_QUEUE_BYTES 4096

static void
cursor_send(struct cursor *c, enum sn_cursor_kind kind, uint64_t seq)
{
	struct sn_buf b = {0};
	struct sn_cursor m = {.kind = (uint8_t)kind, .seq = seq};

	m.consumer.p = c->name;
	m.consumer.len = (uint32_t)strlen(c->name);
	msg_begin(&b, SN_MSG_CURSOR);
	msg_add_cursor(&b, &m);
	/* when ingestd is away this is dropped: the next tick repeats it */
	(void)ipc_send(c->out, b.data, b.len);
	sn_buf_free(&b);
}

void
cursor_ack(struct cursor *c)
{
	cursor_send(c, SN_CURSOR_ACK, c->durable);
}

static void
cursor_on_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	cursor_ack(arg);
}

int
cursor_open(struct cursor *c, struct sn_daemon *d, const char *name,
            uint64_t durable)
{
	struct timeval every = {CURSOR_ACK_MS / 1000,
	                        (CURSOR_ACK_MS % 1000) * 1000};

	memset(c, 0, sizeof(*c));
	c->name = name;
	c->last = c->durable = durable;
	if ((c->out = daemon_push_dial(d, SN_IPC_CURSOR, CURSOR_QUEUE_BYTES)) ==
	    NULL)
		return -1;
	c->timer = event_new(d->base, -1, EV_PERSIST, cursor_on_timer, c);
	if (c->timer == NULL || event_add(c->timer, &every) < 0)
		fatalx("cannot arm the cursor timer");
	cursor_send(c, SN_CURSOR_RESUME, durable);
	c->resume_mono = sn_mono_ms();
	log_info("resuming after event seq %llu", (unsigned long long)durable);
	return 0;
}

void
cursor_close(struct cursor *c)
{
	if (c->timer != NULL)
		event_free(c->timer);
	ipc_out_free(c->out);
	memset(c, 0, sizeof(*c));
}

int
cursor_batch(struct cursor *c, uint64_t prev)
{
	int64_t now;

	if (prev <= c->last)
		return 1;
	c->gaps++;
	now = sn_mono_ms();
	if (c->resume_mono == 0 || now - c->resume_mono >= CURSOR_RESUME_MS) {
		log_info("events after seq %llu missing (a batch follows "
		         "%llu): asking ingestd for them again",
		         (unsigned long long)c->last, (unsigned long long)prev);
		cursor_send(c, SN_CURSOR_RESUME, c->last);
		c->resume_mono = now;
	}
	return 0;
}

int
cursor_take(struct cursor *c, uint64_t seq)
{
	if (seq <= c->last) {
		c->dups++;
		return 0;
	}
	c->last = seq;
	return 1;
}

void
cursor_rewind(struct cursor *c, uint64_t to)
{
	c->last = to;
	cursor_send(c, SN_CURSOR_RESUME, to);
	c->resume_mono = sn_mono_ms();
}
