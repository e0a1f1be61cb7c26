/*
 * group.h: aggregation groups, as Prometheus Alertmanager forms them.
 *
 * A group is the alerts one route sends one receiver that share the
 * values of the route's group_by labels (all of them for group_by
 * ['...']; one group per route and receiver when group_by is empty).
 * A new group waits group_wait for its siblings, then flushes, and
 * flushes again every group_interval.  A flush queues one notification
 * (notify.h) in the outbox unless Alertmanager's rules say nothing needs
 * saying:
 *
 *   - the firing alerts (less the muted ones: silences, inhibition) and,
 *     when the receiver has send_resolved, the resolved alerts that were
 *     announced firing, are what a notification would carry;
 *   - it is sent when a firing alert was not in the last notification,
 *     when every announced alert has resolved (send_resolved), when an
 *     announced alert resolved (send_resolved), or, the group unchanged
 *     and still firing, when repeat_interval has passed since the last;
 *   - resolved alerts leave the group after the flush; an empty group is
 *     deleted.
 *
 * Groups and their alerts live in alertd's database (tables groups and
 * group_alerts beside the outbox in <storage.path>/alerts.db) and in
 * memory; a flush writes the outbox row and the group's new state in one
 * unit of the outbox's transaction (outbox.h), which commits before the
 * row is sent, so a kill -9 at any point neither loses a notification
 * nor queues the same flush twice, and a restarted alertd flushes its
 * groups on their old schedule.  Each flush of a group has its own
 * number (seq), so a repeat is a new notification id while a replay of
 * one flush is the same.
 *
 * Times are passed in (now_ms) so tests drive a fake clock.
 */
#ifndef SN_GROUP_H
#define SN_GROUP_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <sqlite3.h>

#include "alertd.h"
#include "config.h"
#include "notify.h"

struct groups;
struct outbox;

/*
 * Why an alert is muted now, for the log ("silenced by ID",
 * "inhibited by rule at alerts.yaml:LINE"), or NULL when it is not.  The
 * string stays valid until the next call.
 */
typedef const char *(*group_mute_fn)(const json_t *labels,
                                     const char *fingerprint, int64_t now_ms,
                                     void *arg);

/*
 * Opens the groups kept in db, the outbox's handle (ob writes the
 * notifications, in the same transactions), creating the tables if
 * needed and loading what is there.  mute (may be NULL: nothing is
 * muted) is asked at each flush.  NULL (logged) on error.
 */
struct groups *groups_open(sqlite3 *db, struct outbox *ob, group_mute_fn mute,
                           void *mute_arg);
void groups_free(struct groups *gs);

/*
 * Puts alert al into the group target t gives it (creating the group,
 * due group_wait from now), replacing the alert with the same
 * fingerprint if there is one; a resolved alert that the group does not
 * hold is ignored.  The route's timings are taken at each add, so a
 * reload applies to the next alert.  1 when the group changed, 0 when
 * not, -1 on a storage error.
 */
int groups_add(struct groups *gs, const struct route_target *t,
               const struct notify_alert *al, int64_t now_ms);

/*
 * The earliest time a group is due, or -1 when none is: no groups, or
 * all of them looked at and waiting for a change (they send nothing
 * until one).
 */
int64_t groups_next_due(const struct groups *gs);

/*
 * Looks at the groups due at now_ms (see above), earliest first, at most
 * a few hundred per call so that the loop goes on between them:
 * groups_next_due tells when to call again.  Each receiver's
 * send_resolved and the external_url are read from al.  Returns how
 * many notifications were queued in the outbox, or -1 when a group could
 * not be flushed for a storage error (that group stays due, to try
 * again; the others are flushed).
 *
 * A look that sends nothing new parks the group: it is not looked at
 * again until an alert joins or changes in it, repeat_interval falls
 * due, or groups_changed says that what mutes alerts changed.
 */
int groups_flush(struct groups *gs, const struct sn_alerts *al, int64_t now_ms);

/*
 * What the mute function answers may have changed (a silence added,
 * expired, started or ended; an alert that can inhibit others fired or
 * resolved; a reload): every parked group is looked at at its next
 * group_interval tick after now_ms.
 */
void groups_changed(struct groups *gs, int64_t now_ms);

/* How many groups hold alerts. */
size_t groups_count(const struct groups *gs);

/*
 * The groups as a JSON array for status and the HTTP API:
 * {"receiver", "group_key", "group_labels", "next_flush_ms",
 * "last_sent_ms", "notifications", "alerts": [{"fingerprint",
 * "labels", "status": "firing"|"resolved", "starts_ms", "muted"}]}
 * (muted: at the last flush).  New reference.
 */
json_t *groups_json(const struct groups *gs);

/* A unit of writes (outbox_unit_begin/end): several adds happen
 * together or not at all.  0 or -1. */
int groups_begin(struct groups *gs);
int groups_end(struct groups *gs, int ok);

#endif
