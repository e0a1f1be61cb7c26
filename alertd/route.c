/*
 * route.c: which receivers an anomaly goes to (see alertd.h).
 */
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

/* 1 when every label of r equals the anomaly's value for its key. */
static int
route_matches(const struct sn_route *r, const struct sn_anomaly *a)
{
	const struct sn_str *v;
	size_t i;

	for (i = 0; i < r->nmatch; i++) {
		v = route_label(a, r->match[i].key);
		if (v == NULL || r->match[i].value == NULL ||
		    strlen(r->match[i].value) != v->len ||
		    memcmp(r->match[i].value, v->p, v->len) != 0)
			return 0;
	}
	return 1;
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
