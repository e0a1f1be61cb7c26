/*
 * cli_alerts.c: `sentinel-cli alerts status` and `alerts test
 * RECEIVER`.  They ask alertd itself on its req/rep socket,
 * ipc://<run_dir>/alertd-ctl.ipc (alertd/actl.h has the protocol).
 *
 * `alerts test` queues a test notification through alertd's real
 * delivery path (outbox, retries), then asks for its outcome every
 * CLI_ALERTS_POLL_MS until it is sent or failed, or --timeout (default
 * 15 s) passes while it is still being retried.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "cli.h"
#include "util.h"

/* How long alertd gets to answer one request. */
/* How often `alerts test` asks for the outcome. */
#define CLI_ALERTS_POLL_MS 200
/* How long `alerts test` waits for the outcome by default. */
#define CLI_ALERTS_TEST_TIMEOUT_MS 15000

static long long
cli_alerts_int(json_t *o, const char *key)
{
	return (long long)json_integer_value(json_object_get(o, key));
}

/* The table of `alerts status`. */
static void
cli_print_alerts(json_t *reply)
{
	json_t *list = json_object_get(reply, "receivers"), *r, *ts;
	size_t i, w = 8, n;
	char when[64];

	json_array_foreach(list, i, r)
	{
		n = strlen(cli_str(r, "name", "?"));
		if (n > w)
			w = n;
	}
	printf("%-*s %-10s %6s %6s %6s %-24s %s\n", (int)w, "RECEIVER", "TYPE",
	       "SENT", "FAILED", "QUEUED", "LAST-SUCCESS", "LAST-ERROR");
	json_array_foreach(list, i, r)
	{
		ts = json_object_get(r, "last_success");
		if (json_is_integer(ts))
			sn_rfc3339_format(json_integer_value(ts), when,
			                  sizeof(when));
		else
			snprintf(when, sizeof(when), "-");
		printf("%-*s %-10s %6lld %6lld %6lld %-24s %s\n", (int)w,
		       cli_str(r, "name", "?"), cli_str(r, "type", "?"),
		       cli_alerts_int(r, "sent"), cli_alerts_int(r, "failed"),
		       cli_alerts_int(r, "queued"), when,
		       cli_str(r, "last_error", "-"));
	}
}

int
cli_run_alerts_status(const struct cli_cmd *cmd, struct cli_opts *o)
{
	json_t *reply;

	(void)cmd;
	reply = cli_ctl_ask(o, CLI_ALERTD_CTL, "alertd", "alerts status",
	                    json_pack("{s:s}", "command", "alerts.status"));
	if (reply == NULL)
		return CLI_EXIT_FAILURE;
	if (o->json)
		cli_print_json(reply);
	else
		cli_print_alerts(reply);
	json_decref(reply);
	return CLI_EXIT_OK;
}

static void
cli_alerts_sleep(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

/*
 * Prints the outcome of `alerts test` (the last state answer, or, with
 * --json, it plus the id) and returns the exit code: 0 when sent.
 */
static int
cli_alerts_outcome(const struct cli_opts *o, const char *receiver,
                   const char *id, json_t *res)
{
	const char *state = cli_str(res, "state", "pending");
	const char *err = cli_str(res, "last_error", NULL);

	if (o->json) {
		json_object_set_new(res, "id", json_string(id));
		json_object_set_new(res, "receiver", json_string(receiver));
		cli_print_json(res);
	} else if (strcmp(state, "sent") == 0)
		printf("sent\n");
	else if (strcmp(state, "failed") == 0)
		printf("failed: %s\n", err ? err : "unknown error");
	else if (err != NULL)
		printf("still retrying: %s\n", err);
	else
		printf("still queued: no answer from %s yet\n", receiver);
	return strcmp(state, "sent") == 0 ? CLI_EXIT_OK : CLI_EXIT_FAILURE;
}

int
cli_run_alerts_test(const struct cli_cmd *cmd, struct cli_opts *o)
{
	const char *receiver = o->args[0];
	int64_t timeout = CLI_ALERTS_TEST_TIMEOUT_MS, deadline;
	json_t *reply, *res;
	char *id;
	int rc;

	(void)cmd;
	if (o->timeout != NULL &&
	    (sn_duration_parse(o->timeout, &timeout) < 0 || timeout <= 0)) {
		fprintf(stderr,
		        "sentinel-cli: --timeout %s: not a duration "
		        "(500ms, 15s, 1m)\n",
		        o->timeout);
		return CLI_EXIT_USAGE;
	}
	reply = cli_ctl_ask(o, CLI_ALERTD_CTL, "alertd", "alerts test",
	                    json_pack("{s:s, s:s}", "command", "alerts.test",
	                              "receiver", receiver));
	if (reply == NULL)
		return CLI_EXIT_FAILURE;
	id = sn_xstrdup(cli_str(reply, "id", ""));
	json_decref(reply);
	if (!o->json)
		fprintf(stderr, "test notification %s queued for %s\n", id,
		        receiver);

	deadline = sn_mono_ms() + timeout;
	for (;;) {
		res = cli_ctl_ask(o, CLI_ALERTD_CTL, "alertd", "alerts test",
		                  json_pack("{s:s, s:s}", "command",
		                            "alerts.test_result", "id", id));
		if (res == NULL) {
			free(id);
			return CLI_EXIT_FAILURE;
		}
		if (strcmp(cli_str(res, "state", "pending"), "pending") != 0 ||
		    sn_mono_ms() + CLI_ALERTS_POLL_MS > deadline)
			break;
		json_decref(res);
		cli_alerts_sleep(CLI_ALERTS_POLL_MS);
	}
	rc = cli_alerts_outcome(o, receiver, id, res);
	json_decref(res);
	free(id);
	return rc;
}
