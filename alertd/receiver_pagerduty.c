/*
 * receiver_pagerduty.c: PagerDuty Events API v2.  A firing group is a
 * "trigger", a resolved one a "resolve", both with the group's dedup_key
 * so PagerDuty pairs them and drops a duplicate trigger sent again after
 * a crash (notify_pagerduty_json).
 */
#include <jansson.h>

#include "receiver.h"

static int
pagerduty_prepare(const struct sn_receiver *rc, const struct notification *n,
                  const char *id, struct receiver_request *req, char *reason,
                  size_t len)
{
	json_t *doc;
	int rv;

	if (rc->routing_key == NULL || *rc->routing_key == '\0') {
		snprintf(reason, len, "no routing_key configured");
		return -1;
	}
	doc = notify_pagerduty_json(n, rc->routing_key);
	rv = receiver_post_json(
	        req, rc->url && *rc->url ? rc->url : SN_DEFAULT_PAGERDUTY_URL,
	        doc, id, reason, len);
	json_decref(doc);
	return rv;
}

const struct receiver_type receiver_pagerduty = {
        .name = "pagerduty",
        .prepare = pagerduty_prepare,
};
