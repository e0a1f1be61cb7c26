/*
 * alertd.h: what alertd's parts share.
 *
 * alertd turns each anomaly into an alert (notify.h: labels,
 * annotations, numbers), records whether it fires (inhibit.h), routes it
 * (route.c) to groups of alerts per route, receiver and group_by values
 * (group.h), which after group_wait, then every group_interval, queue a
 * notification in the durable outbox (outbox.h) unless nothing changed
 * and repeat_interval has not passed, leaving out what silences
 * (silence.h) and inhibit rules mute; sender.c delivers the outbox
 * through libcurl (deliver.c, one receiver_<type>.c per type).
 */
#ifndef SN_ALERTD_H
#define SN_ALERTD_H

#include <stdint.h>

#include <jansson.h>

#include "config.h"

/*
 * The value of label key in labels (a JSON object of strings), "" when
 * the alert has no such label.  "alert" and "detector_id", the names
 * detectors.yaml uses, are read as "alertname" and "detector", the
 * alert's label names.
 */
const char *alert_label(const json_t *labels, const char *key);

/*
 * 1 when every label of eq[0..neq) equals, and every expression of
 * re[0..nre) matches the whole of, the alert's value for its key (a
 * label the alert lacks counts as ""), else 0.  The matchers of routes
 * and inhibit rules.
 */
int labels_match(const json_t *labels, const struct sn_label *eq, size_t neq,
                 const struct sn_matcher *re, size_t nre);

/* At most this many (route, receiver) targets for one alert. */
#define ROUTE_MAX_TARGETS 64

/* Where an alert goes: a receiver, by the route that sent it there. */
struct route_target {
	const struct sn_route *route; /* NULL: the default_receiver */
	size_t route_index;           /* in al->routes; nroutes: default */
	const char *receiver;         /* borrowed from the config */
};

/*
 * The targets of an alert with these labels, as Alertmanager routes:
 * routes are tried in order; a route matches when labels_match its
 * `match` and `match_re`; a matching route adds its receivers and ends
 * the walk unless it says `continue`.  When no route matched, the
 * `default_receiver` alone, if set.  A receiver is listed once, for the
 * first route that names it.  At most max; returns how many were
 * written to out.
 */
size_t route_targets(const struct sn_alerts *al, const json_t *labels,
                     struct route_target *out, size_t max);

/* The first route whose matchers the labels satisfy, or NULL. */
const struct sn_route *route_find(const struct sn_alerts *al,
                                  const json_t *labels);

#endif
