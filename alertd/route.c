/*
 * route.c: which receivers an anomaly goes to (see alertd.h).
 */
#include <regex.h>
#include <stddef.h>
#include <string.h>

#include "alertd.h"
#include "util.h"

const struct sn_str *
route_label(const struct sn_anomaly *a, const char *key)
{
	static const struct {
		const char *key;
		size_t off; /* of the struct sn_str in struct sn_anomaly */
	} labels[] = {
	        {"severity", offsetof(struct sn_anomaly, severity)},
	        {"alert", offsetof(struct sn_anomaly, alert)},
	        {"application_id", offsetof(struct sn_anomaly, application_id)},
	        {"model", offsetof(struct sn_anomaly, model)},
	        {"detector", offsetof(struct sn_anomaly, detector_id)},
	        {"detector_id", offsetof(struct sn_anomaly, detector_id)},
	        {"detector_type", offsetof(struct sn_anomaly, detector_type)},
	        {"metric", offsetof(struct sn_anomaly, metric)},
	};
	size_t i;

	for (i = 0; i < SN_ARRAY_LEN(labels); i++)
		if (strcmp(labels[i].key, key) == 0)
			return (const struct sn_str *)((const char *)a +
			                               labels[i].off);
	return NULL;
}

/* The anomaly's value for key as a C string, "" when it has none (the
 * views of a decoded record are NUL-terminated). */
static const char *
route_value(const struct sn_anomaly *a, const char *key)
{
	const struct sn_str *v = route_label(a, key);

	return v != NULL && v->p != NULL ? v->p : "";
}

/* 1 when every label of r equals, and every expression of r matches, the
 * anomaly's value for its key. */
static int
route_matches(const struct sn_route *r, const struct sn_anomaly *a)
{
	size_t i;

	for (i = 0; i < r->nmatch; i++)
		if (r->match[i].value == NULL ||
		    strcmp(r->match[i].value, route_value(a, r->match[i].key)))
			return 0;
	for (i = 0; i < r->nmatch_re; i++)
		if (regexec(&r->match_re[i].re,
		            route_value(a, r->match_re[i].key), 0, NULL,
		            0) != 0)
			return 0;
	return 1;
}

/* Appends name to out[*n] unless it is there already or out is full. */
static void
route_add(const char **out, size_t max, size_t *n, const char *name)
{
	size_t i;

	for (i = 0; i < *n; i++)
		if (strcmp(out[i], name) == 0)
			return;
	if (*n < max)
		out[(*n)++] = name;
}

size_t
route_receivers(const struct sn_alerts *al, const struct sn_anomaly *a,
                const char **out, size_t max)
{
	const struct sn_route *r;
	size_t i, j, n = 0;
	int matched = 0;

	for (i = 0; i < al->nroutes; i++) {
		r = &al->routes[i];
		if (!route_matches(r, a))
			continue;
		matched = 1;
		for (j = 0; j < r->nreceivers; j++)
			route_add(out, max, &n, r->receivers[j]);
		if (!r->continue_matching)
			break;
	}
	if (!matched && al->default_receiver != NULL)
		route_add(out, max, &n, al->default_receiver);
	return n;
}

const struct sn_route *
route_find(const struct sn_alerts *al, const struct sn_anomaly *a)
{
	size_t i;

	for (i = 0; i < al->nroutes; i++)
		if (route_matches(&al->routes[i], a))
			return &al->routes[i];
	return NULL;
}
