/*
 * cli_detect.c: `sentinel-cli detectors list` and `detectors test`, the
 * seed's troubleshooting commands.  They ask detectd itself, not the
 * supervisor: detectd answers JSON requests on a req/rep socket,
 * ipc://<run_dir>/detectd-ctl.ipc, one request per connection here.
 *
 *   {"command":"detectors.list"}
 *     -> {"ok":true,"detectors":[{"id","type","enabled","running","why",
 *         "groups","events","anomalies","resolved","late","evicted",
 *         "state_bytes"}, ...]}
 *   {"command":"detectors.test","id":ID,"event":{...}}
 *     -> {"ok":true,"result":{"decision",...}}  (engine_test's object)
 *   any failure -> {"ok":false,"error":"..."}
 *
 * A request waits at most CLI_CTL_TIMEOUT_MS for the answer, so a
 * hung detectd makes the command fail instead of hanging the shell.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "config.h"
#include "event.h"
#include "ipc.h"
#include "util.h"
#include "validate.h"

/* How long detectd gets to answer one request. */

static unsigned long long
cli_u64(json_t *o, const char *key)
{
	json_int_t v = json_integer_value(json_object_get(o, key));

	return v > 0 ? (unsigned long long)v : 0;
}

/* The table of `detectors list`, then why each detector that should run
 * does not. */
static void
cli_print_detectors(json_t *list)
{
	json_t *d;
	size_t i, w = 2, n;
	const char *enabled;

	json_array_foreach(list, i, d)
	{
		n = strlen(cli_str(d, "id", "?"));
		if (n > w)
			w = n;
	}
	printf("%-*s %-12s %-8s %8s %10s %10s\n", (int)w, "ID", "TYPE",
	       "ENABLED", "GROUPS", "EVENTS", "ANOMALIES");
	json_array_foreach(list, i, d)
	{
		if (!json_is_true(json_object_get(d, "enabled")))
			enabled = "no";
		else if (!json_is_true(json_object_get(d, "running")))
			enabled = "error";
		else
			enabled = "yes";
		printf("%-*s %-12s %-8s %8llu %10llu %10llu\n", (int)w,
		       cli_str(d, "id", "?"), cli_str(d, "type", "?"), enabled,
		       cli_u64(d, "groups"), cli_u64(d, "events"),
		       cli_u64(d, "anomalies"));
	}
	json_array_foreach(list, i, d)
	{
		if (json_is_true(json_object_get(d, "enabled")) &&
		    !json_is_true(json_object_get(d, "running")))
			printf("%s: not running: %s\n", cli_str(d, "id", "?"),
			       cli_str(d, "why", "unknown reason"));
	}
}

int
cli_run_detectors_list(const struct cli_cmd *cmd, struct cli_opts *o)
{
	json_t *reply;

	(void)cmd;
	reply = cli_ctl_ask(o, CLI_DETECTD_CTL, "detectd", "detectors list",
	                    json_pack("{s:s}", "command", "detectors.list"));
	if (reply == NULL)
		return CLI_EXIT_FAILURE;
	if (o->json)
		cli_print_json(reply);
	else
		cli_print_detectors(json_object_get(reply, "detectors"));
	json_decref(reply);
	return CLI_EXIT_OK;
}

/*
 * Reads the event of `detectors test` from path ("-": stdin) and checks
 * it with the parser ingestd uses, so a bad file is reported here with
 * the field at fault.  Returns the event object (caller decrefs), or
 * NULL after printing why.
 */
static json_t *
cli_read_event(const char *path)
{
	const char *field, *reason;
	struct sn_event ev;
	json_error_t jerr;
	json_t *obj;

	if (strcmp(path, "-") == 0)
		obj = json_loadf(stdin, JSON_REJECT_DUPLICATES, &jerr);
	else
		obj = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
	if (obj == NULL) {
		/* jansson names the file itself when it cannot open it. */
		if (jerr.line > 0)
			fprintf(stderr, "sentinel-cli: %s:%d:%d: %s\n", path,
			        jerr.line, jerr.column, jerr.text);
		else
			fprintf(stderr, "sentinel-cli: %s\n", jerr.text);
		return NULL;
	}
	if (ingest_validate_event(obj, &ev, &field, &reason) < 0) {
		fprintf(stderr, "sentinel-cli: %s: %s: %s\n", path, field,
		        reason);
		json_decref(obj);
		return NULL;
	}
	return obj;
}

/* An event time member, as the engine may give it: RFC 3339 text or
 * milliseconds since the epoch.  Writes "" when absent. */
static void
cli_time(json_t *o, const char *key, char *buf, size_t size)
{
	char k[64];
	json_t *v = json_object_get(o, key);

	buf[0] = '\0';
	if (v == NULL) {
		snprintf(k, sizeof(k), "%s_ms", key);
		v = json_object_get(o, k);
	}
	if (json_is_string(v))
		snprintf(buf, size, "%s", json_string_value(v));
	else if (json_is_integer(v))
		sn_rfc3339_format(json_integer_value(v), buf, size);
}

/* engine_test's decisions in words; unknown ones as they come. */
static const char *
cli_decision_words(const char *d, char *buf, size_t size)
{
	static const struct {
		const char *decision;
		const char *words;
	} words[] = {
	        {"fire", "would fire"},
	        {"firing", "already firing, nothing new would be emitted"},
	        {"cooldown", "would fire, but the group is in its cooldown"},
	        {"resolve", "would resolve"},
	        {"quiet", "would not fire"},
	        {"not_ready", "no decision yet"},
	        {"filtered", "filtered out"},
	        {"no_value", "no value"},
	        {"late", "too late"},
	};
	size_t i;
	char *p;

	for (i = 0; i < SN_ARRAY_LEN(words); i++)
		if (strcmp(d, words[i].decision) == 0)
			return words[i].words;
	snprintf(buf, size, "%s", d);
	for (p = buf; *p; p++)
		if (*p == '_')
			*p = ' ';
	return buf;
}

/* Appends a number member as %g, or nothing when it is not a number. */
static bool
cli_num(json_t *o, const char *key, char *buf, size_t size)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_number(v))
		return false;
	snprintf(buf, size, "%.6g", json_number_value(v));
	return true;
}

/* ">" for "greater_than", and so on; NULL when unknown. */
static const char *
cli_condition_op(const char *cond)
{
	static const char *const ops[][2] = {
	        {"greater_than", ">"}, {"greater_or_equal", ">="},
	        {"less_than", "<"},    {"less_or_equal", "<="},
	        {"equal", "=="},       {"not_equal", "!="},
	};
	size_t i;

	for (i = 0; cond != NULL && i < SN_ARRAY_LEN(ops); i++)
		if (strcmp(cond, ops[i][0]) == 0)
			return ops[i][1];
	return NULL;
}

/*
 * The numbers of a decision: the engine's description when it gives
 * one, else built from value, op or condition, threshold, score and
 * expected ("avg latency_ms 7300 > 5000").  Empty when there is no value
 * to speak of.
 */
static void
cli_test_numbers(json_t *r, char *buf, size_t size)
{
	const char *agg = cli_str(r, "aggregation", NULL);
	const char *op = cli_str(
	        r, "op", cli_condition_op(cli_str(r, "condition", NULL)));
	char value[32], thr[32], score[32], exp[32];
	bool stat = strcmp(cli_str(r, "type", ""), "statistical") == 0;

	buf[0] = '\0';
	if (cli_str(r, "description", NULL) != NULL) {
		snprintf(buf, size, "%s", cli_str(r, "description", ""));
		return;
	}
	if (!cli_num(r, "value", value, sizeof(value)))
		return;
	if (!cli_num(r, "threshold", thr, sizeof(thr)))
		strcpy(thr, "?");
	if (stat && cli_num(r, "score", score, sizeof(score)))
		snprintf(buf, size, "%s%s%s %s, score %s vs threshold %s",
		         agg ? agg : "", agg ? " " : "",
		         cli_str(r, "metric", "value"), value, score, thr);
	else
		snprintf(buf, size, "%s%s%s %s %s %s", agg ? agg : "",
		         agg ? " " : "", cli_str(r, "metric", "value"), value,
		         op ? op : "vs threshold", thr);
	if (cli_num(r, "expected", exp, sizeof(exp)))
		snprintf(buf + strlen(buf), size - strlen(buf),
		         " (expected %s)", exp);
}

/*
 * Human form of a test result, one line:
 *   high-latency: would fire: latency_ms 7300 vs threshold 5000
 *   (at 2025-11-06T12:00:00.000Z, 1 sample)
 * A decision without numbers (filtered, no value, late) gives the
 * engine's reason instead.
 */
static void
cli_print_test(const char *id, json_t *r)
{
	char dbuf[128], nums[256], start[48], end[48], tail[160] = "";
	const char *decision, *what;
	json_t *samples = json_object_get(r, "samples");

	decision = cli_decision_words(cli_str(r, "decision", "unknown"), dbuf,
	                              sizeof(dbuf));
	cli_test_numbers(r, nums, sizeof(nums));
	what = nums[0] ? nums : cli_str(r, "reason", "");
	cli_time(r, "window_start", start, sizeof(start));
	cli_time(r, "window_end", end, sizeof(end));
	if (start[0] && end[0] && strcmp(start, end) != 0)
		snprintf(tail, sizeof(tail), " (window %s .. %s", start, end);
	else if (start[0])
		snprintf(tail, sizeof(tail), " (at %s", start);
	if (json_is_integer(samples))
		snprintf(tail + strlen(tail), sizeof(tail) - strlen(tail),
		         "%s%lld sample%s)", tail[0] ? ", " : " (",
		         (long long)json_integer_value(samples),
		         json_integer_value(samples) == 1 ? "" : "s");
	else if (tail[0])
		snprintf(tail + strlen(tail), sizeof(tail) - strlen(tail), ")");
	printf("%s: %s%s%s%s\n", id, decision, what[0] ? ": " : "", what, tail);
}

int
cli_run_detectors_test(const struct cli_cmd *cmd, struct cli_opts *o)
{
	const char *id = o->args[0];
	json_t *event, *reply, *result;

	(void)cmd;
	if ((event = cli_read_event(o->event)) == NULL)
		return CLI_EXIT_FAILURE;
	reply = cli_ctl_ask(o, CLI_DETECTD_CTL, "detectd", "detectors test",
	                    json_pack("{s:s, s:s, s:o}", "command",
	                              "detectors.test", "id", id, "event",
	                              event));
	if (reply == NULL)
		return CLI_EXIT_FAILURE;
	/* The engine's object, under "result" (or inline, tolerated). */
	result = json_object_get(reply, "result");
	if (!json_is_object(result))
		result = reply;
	if (o->json)
		cli_print_json(result);
	else
		cli_print_test(id, result);
	json_decref(reply);
	return CLI_EXIT_OK;
}
