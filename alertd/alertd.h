/*
 * alertd.h: what alertd's parts share.
 *
 * alertd matches each anomaly against the routes of alerts.yaml (first
 * match, route.c), logs it, and queues one notification per receiver in
 * its durable outbox (outbox.c), from which sender.c delivers through
 * libcurl (deliver.c, one receiver_<type>.c per type) with retries.
 * Still to come: match_re, continue and default_receiver in routing,
 * grouping (group_wait, group_interval, repeat_interval), inhibition and
 * silences.
 */
#ifndef SN_ALERTD_H
#define SN_ALERTD_H

#include "config.h"
#include "event.h"

/*
 * route.c: the anomaly's value for a route label key: severity, alert,
 * application_id, model, detector (the detector id; detector_id also
 * accepted), detector_type, metric.  NULL for any other key, which then
 * never matches.
 */
const struct sn_str *route_label(const struct sn_anomaly *a, const char *key);

/*
 * The first route whose match labels all equal the anomaly's (a route
 * without labels matches everything), as in Alertmanager without
 * `continue`: order routes from specific to general.  NULL when none
 * matches or there are no routes.  The route is borrowed from al.
 */
const struct sn_route *route_find(const struct sn_alerts *al,
                                  const struct sn_anomaly *a);

/* At most this many receivers for one anomaly. */
#define ROUTE_MAX_RECEIVERS 64

/*
 * The receivers anomaly a goes to, as Alertmanager routes: routes are
 * tried in order; a route matches when every `match` label equals and
 * every `match_re` expression matches the anomaly's value (a label the
 * anomaly lacks counts as ""); a matching route adds its receivers and
 * ends the walk unless it says `continue`.  When no route matched, the
 * `default_receiver` alone, if set.  Names are borrowed from al, each at
 * most once, at most max of them.  Returns how many were written to out.
 */
size_t route_receivers(const struct sn_alerts *al, const struct sn_anomaly *a,
                       const char **out, size_t max);

#endif
