/*
 * sender.h: alertd's delivery loop.  Turns routed anomalies into
 * notifications, queues them in the outbox (outbox.h) and sends due
 * rows through the receivers (receiver.h), recording each outcome.
 *
 * Today each anomaly is one notification per receiver of its route, one
 * alert each, with the group key derived from the alert's labels so a
 * resolve pairs with its trigger; the grouping engine (group_by,
 * group_wait, group_interval, repeat_interval) replaces sender_anomaly's
 * one-alert notification with its groups and calls sender_enqueue.
 */
#ifndef SN_SENDER_H
#define SN_SENDER_H

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

/* Queues anomaly a for each of the n receivers named (route.c). */
void sender_anomaly(struct sender *s, const char *const *receivers, size_t n,
                    const struct sn_anomaly *a);

#endif
