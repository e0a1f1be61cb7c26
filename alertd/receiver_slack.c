/*
 * receiver_slack.c: Slack incoming webhooks.  One message per
 * notification (text, blocks, colour by severity: notify_slack_json),
 * posted to the receiver's webhookUrl, whose path is the secret.
 */
#include <jansson.h>

#include "receiver.h"

static int
slack_prepare(const struct sn_receiver *rc, const struct notification *n,
              const char *id, struct receiver_request *req, char *reason,
              size_t len)
{
	json_t *doc = notify_slack_json(n, rc->channel);
	int rv;

	if (rc->username != NULL && *rc->username)
		json_object_set_new(doc, "username", json_string(rc->username));
	if (rc->icon_emoji != NULL && *rc->icon_emoji)
		json_object_set_new(doc, "icon_emoji",
		                    json_string(rc->icon_emoji));
	rv = receiver_post_json(req, rc->webhook_url, doc, id, reason, len);
	json_decref(doc);
	return rv;
}

const struct receiver_type receiver_slack = {
        .name = "slack",
        .prepare = slack_prepare,
};
