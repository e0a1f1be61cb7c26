/*
 * alertd.h: what alertd's parts share.
 *
 * For now alertd routes and logs: each anomaly is matched against the
 * routes of alerts.yaml and logged with the receivers it is routed to.
 * Delivery to those receivers (SMTP, Slack, webhook, PagerDuty through
 * libcurl, with an outbox and retries), grouping, repeat_interval,
 * inhibition and silences land with the alerting issue, one file per
 * receiver type.
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
