/*
 * cli_alerts.c: `sentinel-cli alerts status`, `alerts test RECEIVER`
 * and `alerts silence add|list|expire`.  They ask alertd itself on its
 * req/rep socket, ipc://<run_dir>/alertd-ctl.ipc (alertd/actl.h has the
 * protocol).
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
#include <unistd.h>

#include <jansson.h>

#include "cli.h"
#include "util.h"

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

/* The matchers of silence o joined by ", " into buf. */
static void
cli_silence_matchers(json_t *o, char *buf, size_t size)
{
	json_t *m;
	size_t i, n = 0;
	int w;

	buf[0] = '\0';
	json_array_foreach(json_object_get(o, "matchers"), i, m)
	{
		w = snprintf(buf + n, size - n, "%s%s", i ? ", " : "",
		             json_string_value(m) ? json_string_value(m) : "?");
		if (w < 0 || (size_t)w >= size - n)
			break;
		n += (size_t)w;
	}
}

/*
 * The table of silences (an array of silences_json objects): ID, STATE,
 * ENDS (RFC 3339, UTC), MATCHERS, CREATED BY, COMMENT.
 */
static void
cli_print_silences(json_t *list)
{
	char ends[64], matchers[2048];
	size_t i, wm = 8, wc = 10, n;
	json_t *s;

	json_array_foreach(list, i, s)
	{
		cli_silence_matchers(s, matchers, sizeof(matchers));
		if ((n = strlen(matchers)) > wm)
			wm = n;
		if ((n = strlen(cli_str(s, "created_by", "-"))) > wc)
			wc = n;
	}
	wm = wm > 60 ? 60 : wm;
	wc = wc > 20 ? 20 : wc;
	printf("%-32s %-7s %-24s %-*s %-*s %s\n", "ID", "STATE", "ENDS",
	       (int)wm, "MATCHERS", (int)wc, "CREATED BY", "COMMENT");
	json_array_foreach(list, i, s)
	{
		cli_silence_matchers(s, matchers, sizeof(matchers));
		sn_rfc3339_format(cli_alerts_int(s, "ends_ms"), ends,
		                  sizeof(ends));
		printf("%-32s %-7s %-24s %-*s %-*s %s\n", cli_str(s, "id", "?"),
		       cli_str(s, "state", "?"), ends, (int)wm, matchers,
		       (int)wc, cli_str(s, "created_by", "-"),
		       cli_str(s, "comment", "-"));
	}
}

/* After the receivers: the groups alertd holds and the silences that
 * are active or pending. */
static void
cli_print_alerts_state(json_t *reply)
{
	json_t *list = json_object_get(reply, "silences"), *s;
	size_t i, active = 0, pending = 0;

	json_array_foreach(list, i, s)
	{
		if (strcmp(cli_str(s, "state", ""), "active") == 0)
			active++;
		else if (strcmp(cli_str(s, "state", ""), "pending") == 0)
			pending++;
	}
	printf("\nactive groups: %lld\n",
	       cli_alerts_int(reply, "active_groups"));
	printf("silences: %zu active, %zu pending\n", active, pending);
	if (json_array_size(list) > 0) {
		printf("\n");
		cli_print_silences(list);
	}
}

json_t *
cli_alerts_status_ask(const struct cli_opts *o)
{
	return cli_ctl_ask(o, CLI_ALERTD_CTL, "alertd", "alerts status",
	                   json_pack("{s:s}", "command", "alerts.status"));
}

int
cli_run_alerts_status(const struct cli_cmd *cmd, struct cli_opts *o)
{
	json_t *reply;

	(void)cmd;
	reply = cli_alerts_status_ask(o);
	if (reply == NULL)
		return CLI_EXIT_FAILURE;
	if (o->json)
		cli_print_json(reply);
	else {
		cli_print_alerts(reply);
		cli_print_alerts_state(reply);
	}
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

/*
 * alerts silence add: checks what it can here (a duration, a comment;
 * the table requires --match, --duration and --comment) and leaves the
 * matchers to alertd, whose refusal names the matcher and why: the CLI
 * does not link alertd's code.  Prints the new silence's id.
 */
int
cli_run_alerts_silence_add(const struct cli_cmd *cmd, struct cli_opts *o)
{
	const char *author = o->author, *user = getenv("USER");
	json_t *req, *matchers, *reply;
	int64_t duration;
	size_t i;

	(void)cmd;
	if (sn_duration_parse(o->duration, &duration) < 0 || duration <= 0) {
		fprintf(stderr,
		        "sentinel-cli: --duration %s: not a duration "
		        "(30m, 2h, 1h30m, 7d)\n",
		        o->duration);
		return CLI_EXIT_USAGE;
	}
	if (o->comment[0] == '\0') {
		fprintf(stderr, "sentinel-cli: --comment must say why the "
		                "alerts are silenced\n");
		return CLI_EXIT_USAGE;
	}
	if (author == NULL)
		author =
		        user != NULL && user[0] != '\0' ? user : "sentinel-cli";
	if ((matchers = json_array()) == NULL) {
		fprintf(stderr, "sentinel-cli: out of memory\n");
		return CLI_EXIT_FAILURE;
	}
	for (i = 0; i < o->nmatches; i++)
		json_array_append_new(matchers, json_string(o->matches[i]));
	req = json_pack("{s:s, s:o, s:I, s:s, s:s}", "command",
	                "alerts.silence.add", "matchers", matchers,
	                "duration_ms", (json_int_t)duration, "comment",
	                o->comment, "created_by", author);
	reply = cli_ctl_ask(o, CLI_ALERTD_CTL, "alertd", "alerts silence add",
	                    req);
	if (reply == NULL)
		return CLI_EXIT_FAILURE;
	if (o->json)
		cli_print_json(reply);
	else
		printf("%s\n", cli_str(reply, "id", "?"));
	json_decref(reply);
	return CLI_EXIT_OK;
}

/* alerts silence list [--all]: the table, or with --json the array. */
int
cli_run_alerts_silence_list(const struct cli_cmd *cmd, struct cli_opts *o)
{
	json_t *reply, *list;

	(void)cmd;
	reply = cli_ctl_ask(o, CLI_ALERTD_CTL, "alertd", "alerts silence list",
	                    json_pack("{s:s, s:b}", "command",
	                              "alerts.silence.list", "all", o->all));
	if (reply == NULL)
		return CLI_EXIT_FAILURE;
	list = json_object_get(reply, "silences");
	if (o->json)
		cli_print_json(json_is_array(list) ? list : json_array());
	else if (json_array_size(list) == 0)
		printf(o->all ? "no silences\n"
		              : "no active or pending silences\n");
	else
		cli_print_silences(list);
	json_decref(reply);
	return CLI_EXIT_OK;
}

/* alerts silence expire ID: ends it now. */
int
cli_run_alerts_silence_expire(const struct cli_cmd *cmd, struct cli_opts *o)
{
	json_t *reply;

	(void)cmd;
	reply = cli_ctl_ask(
	        o, CLI_ALERTD_CTL, "alertd", "alerts silence expire",
	        json_pack("{s:s, s:s}", "command", "alerts.silence.expire",
	                  "id", o->args[0]));
	if (reply == NULL)
		return CLI_EXIT_FAILURE;
	if (o->json)
		cli_print_json(reply);
	else
		printf("silence %s expired\n",
		       cli_str(reply, "id", o->args[0]));
	json_decref(reply);
	return CLI_EXIT_OK;
}
