/*
 * cursor.h: a consumer's place in ingestd's spool (stored, detectd).
 *
 * A consumer keeps `last`, the sequence number of the last event it
 * took, and `durable`, the last one it made durable (stored: committed
 * and synced to disk; detectd: in its checkpoint).  It tells ingestd,
 * over a push socket to <run_dir>/ingestd-cursor.ipc:
 *
 *   RESUME durable   at start: "send me what follows"; ingestd replays
 *                    it from the spool;
 *   ACK durable      every second (also a heartbeat): ingestd may delete
 *                    spool segments every consumer is past, and knows
 *                    the consumer is alive;
 *   RESUME last      after a gap: a batch whose `prev` (msg.h) is past
 *                    `last` means batches were lost in between (a
 *                    restart of either side); they are asked for again,
 *                    at most every CURSOR_RESUME_MS, and batches are
 *                    dropped until the gap is filled.
 *
 * Events at or before `last` are duplicates of a replay and skipped, so
 * a consumer takes each sequence number once, in order.
 */
#ifndef SN_CURSOR_H
#define SN_CURSOR_H

#include <stdint.h>

#define SN_IPC_CURSOR    "ingestd-cursor.ipc"
#define CURSOR_ACK_MS    1000
#define CURSOR_RESUME_MS 500

struct sn_daemon;
struct ipc_out;
struct event;

struct cursor {
	const char *name;    /* "stored", "detectd" */
	struct ipc_out *out; /* to ingestd-cursor.ipc */
	struct event *timer; /* every CURSOR_ACK_MS */
	uint64_t last;       /* the last event taken */
	uint64_t durable;    /* the last event made durable */
	int64_t resume_mono; /* when the last RESUME went, 0: never */
	uint64_t gaps;       /* batches dropped for a gap */
	uint64_t dups;       /* events skipped as already taken */
};

/*
 * Dials ingestd and asks for what follows durable (also the starting
 * `last`).  Acknowledges c->durable every CURSOR_ACK_MS from then on.
 * Returns 0, or -1 (logged).
 */
int cursor_open(struct cursor *c, struct sn_daemon *d, const char *name,
                uint64_t durable);
void cursor_close(struct cursor *c);

/* Acknowledges c->durable now, not at the next tick (once much more
 * became durable at once: ingestd may free the spool sooner). */
void cursor_ack(struct cursor *c);

/*
 * A batch arrived whose prev (msg_reader.prev) is given: 1 to take its
 * events (each through cursor_take), 0 to drop it (a gap; a RESUME was
 * sent or is pending).
 */
int cursor_batch(struct cursor *c, uint64_t prev);

/* 1 when the event seq is new (and it becomes `last`), 0 when it was
 * taken already. */
int cursor_take(struct cursor *c, uint64_t seq);

/* Asks again for what follows `to` (after the consumer lost what it
 * had taken, e.g. a failed commit): last becomes to. */
void cursor_rewind(struct cursor *c, uint64_t to);

#endif
