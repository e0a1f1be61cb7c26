/*
 * handover.h: the anomalies messages detectd keeps until stored has
 * them on disk.
 *
 * Each SN_MSG_ANOMALIES message detectd sends gets an id (msg.h) and a
 * copy is kept here until stored names the id in an SN_MSG_ANOMALIES_ACK,
 * which it sends once the anomalies are committed and synced.  A message
 * still held is sent again
 *
 *   - once stored has acknowledged a message sent after it: stored takes
 *     messages in the order they went, so this one was lost (in the
 *     socket of a stored that was killed, or in a transaction that
 *     failed), or
 *   - HANDOVER_RESEND_MS after it went, when stored has acknowledged
 *     nothing for that long either (the last messages before a quiet
 *     spell lost, or the acknowledgement lost).
 *
 * A stored that is behind but working keeps acknowledging, so it is not
 * sent its backlog a second time.  The anomaly id keeps one row of each
 * in the database when a message does come twice.
 *
 * The copies are saved with each checkpoint (handover_save, before the
 * checkpoint itself): a checkpoint says "the events up to seq need not
 * come again", and the anomalies they raised are then either in stored
 * or in this file.  A restarted detectd loads the file and sends them
 * again.  Without it, stored killed after detectd's checkpoint passed
 * an anomaly it had not yet committed lost that anomaly for good.
 *
 * Ids are the run's random 32-bit epoch and a counter, so ids of
 * messages saved by an earlier run never meet this run's.  Memory is
 * bounded by max_bytes: past it the oldest messages are forgotten
 * (counted, and logged by the caller), as when stored is away for long.
 */
#ifndef SN_HANDOVER_H
#define SN_HANDOVER_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

/* A message still unacknowledged this long after it went, when stored
 * acknowledged nothing in as long, is sent again; stored acknowledges
 * within about a second (its sync). */
#define HANDOVER_RESEND_MS 5000

struct handover;

struct handover *handover_new(size_t max_bytes);
void handover_free(struct handover *h);

/*
 * Gives msg (an SN_MSG_ANOMALIES message being sent) a new id and keeps
 * a copy, sent at now_ms.  Returns the id.  *dropped gets the anomalies
 * of the oldest messages forgotten to stay within max_bytes (0 mostly).
 */
uint64_t handover_add(struct handover *h, struct sn_buf *msg, int64_t now_ms,
                      uint64_t *dropped);

/* stored has the message id on disk (said at now_ms): forget it.  1
 * when it was held. */
int handover_ack(struct handover *h, uint64_t id, int64_t now_ms);

/*
 * Sends again, oldest first, each message that is due (see the top; a
 * loaded one at once), through send, which returns 0 when the message
 * was taken; stops at the first refusal.  Returns the number of
 * messages sent.
 */
typedef int (*handover_send_fn)(const void *data, size_t len, void *arg);
size_t handover_resend(struct handover *h, int64_t now_ms,
                       handover_send_fn send, void *arg);

/* Messages held, and their bytes. */
size_t handover_count(const struct handover *h);
size_t handover_bytes(const struct handover *h);

/*
 * Writes every message held to path, atomically (sn_write_file_atomic;
 * created 0600).  Returns 0, or -1 (logged) with path as it was.
 */
int handover_save(const struct handover *h, const char *path);

/*
 * Adds the messages path holds (each due to be sent at once).  Returns
 * the number loaded (0 also when there is no file), or -1 when the file
 * is unreadable, damaged (checksum), of another format or holds anything
 * but well-formed anomalies messages whose ids match (logged; nothing is
 * added).  At most max_bytes are kept, as handover_add does.
 */
int handover_load(struct handover *h, const char *path);

#endif
