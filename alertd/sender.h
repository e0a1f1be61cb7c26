/*
 * sender.h: alertd's delivery loop.  Turns routed anomalies into
 * notifications, queues them in the outbox (outbox.h) and sends due
 * rows through the receivers (receiver.h), recording each outcome.
 *
 * Grouping (group.h) writes its notifications into the outbox itself;
 * the sender sends each once the loop's transaction committed it.
 */
#ifndef SN_SENDER_H
#define SN_SENDER_H

#include <jansson.h>

#include "config.h"
#include "daemon.h"
#include "event.h"
#include "notify.h"

struct sender;

/*
 * Opens <storage.path>/alerts.db and starts sending whatever is pending
 * there (what a crash left behind).  The receivers and the retry policy
 * are read from d->cfg at each use, so a reload needs nothing more.
 * NULL when the outbox cannot be opened.
 */
struct sender *sender_open(struct sn_daemon *d);
void sender_close(struct sender *s);

/* Queues n for its receiver (n->receiver) and sends it when due.  1 when
 * queued, 0 when it was already queued or sent, -1 on error. */
int sender_enqueue(struct sender *s, const struct notification *n);

/* Sends what became due in the outbox (rows queued by others). */
void sender_kick(struct sender *s);

/*
 * Commits the loop's open transaction now (outbox_commit), for what
 * must be durable before the loop iteration ends: a command's answer.
 * Rows it queued are then sent.  0 or -1 (logged).
 */
int sender_commit(struct sender *s);

/*
 * Creates, at 0, the series sentinel_alerts_sent_total (notifications
 * delivered) and sentinel_alert_failures_total (attempts that failed,
 * whether retried or given up) of every receiver of al, so that they
 * are scraped before their first outcome.  sender_open does it for the
 * config it starts with, alertd's reload for a new one; series of
 * receivers a reload removed stay, with what they counted.
 */
void sender_receivers(struct sender *s, const struct sn_alerts *al);

/* Notifications committed and not delivered yet: due, waiting for a
 * retry, or in flight. */
size_t sender_waiting(const struct sender *s);

/* The outbox the sender sends from (borrowed). */
struct outbox *sender_outbox(struct sender *s);

#endif
