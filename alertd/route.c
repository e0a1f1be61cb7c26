/*
 * route.c: which receivers an alert goes to (see alertd.h).
 */
#include <regex.h>
#include <stddef.h>
#include <string.h>

#include "alertd.h"
#include "util.h"

const char *
alert_label(const json_t *labels, const char *key)
{
	const char *v;

	if (strcmp(key, "alert") == 0)
		key = "alertname";
	else if (strcmp(key, "detector_id") == 0)
		key = "detector";
	v = json_string_value(json_object_get(labels, key));
	return v != NULL ? v : "";
}

int
labels_match(const json_t *labels, const struct sn_label *eq, size_t neq,
             const struct sn_matcher *re, size_t nre)
{
	size_t i;

	for (i = 0; i < neq; i++)
		if (eq[i].value == NULL ||
		    strcmp(eq[i].value, alert_label(labels, eq[i].key)) != 0)
			return 0;
	for (i = 0; i < nre; i++)
		if (regexec(&re[i].re, alert_label(labels, re[i].key), 0, NULL,
		            0) != 0)
			return 0;
	return 1;
}

static int
route_matches(const struct sn_route *r, const json_t *labels)
{
	return labels_match(labels, r->match, r->nmatch, r->match_re,
	                    r->nmatch_re);
}

/* Appends a target unless its receiver is listed already or out is full. */
static void
route_add(struct route_target *out, size_t max, size_t *n,
          const struct sn_route *r, size_t idx, const char *name)
{
	size_t i;

	for (i = 0; i < *n; i++)
		if (strcmp(out[i].receiver, name) == 0)
			return;
	if (*n < max) {
		out[*n].route = r;
		out[*n].route_index = idx;
		out[*n].receiver = name;
		(*n)++;
	}
}

size_t
route_targets(const struct sn_alerts *al, const json_t *labels,
              struct route_target *out, size_t max)
{
	const struct sn_route *r;
	size_t i, j, n = 0;
	int matched = 0;

	for (i = 0; i < al->nroutes; i++) {
		r = &al->routes[i];
		if (!route_matches(r, labels))
			continue;
		matched = 1;
		for (j = 0; j < r->nreceivers; j++)
			route_add(out, max, &n, r, i, r->receivers[j]);
		if (!r->continue_matching)
			break;
	}
	if (!matched && al->default_receiver != NULL)
		route_add(out, max, &n, NULL, al->nroutes,
		          al->default_receiver);
	return n;
}

const struct sn_route *
route_find(const struct sn_alerts *al, const json_t *labels)
{
	size_t i;

	for (i = 0; i < al->nroutes; i++)
		if (route_matches(&al->routes[i], labels))
			return &al->routes[i];
	return NULL;
}
