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

#endif
