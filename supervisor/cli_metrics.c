/*
 * cli_metrics.c: `sentinel-cli metrics list` and `metrics get NAME`.
 * They ask the supervisor, whose exporter reads every daemon's metrics
 * file (supervisor/exporter.c), so what they show is what a Prometheus
 * scrape of :9102/metrics would get at that moment:
 *
 *   {"command":"metrics"}
 *     -> {"ok":true,"families":[{"name","type","help","series"},...]}
 *   {"command":"metrics","name":"X"}
 *     -> {"ok":true,"name":"X","type":"counter","help":"...",
 *         "samples":[{"name":"X","labels":"reason=\"auth\"","value":3}]}
 *        or {"ok":false,"error":"unknown metric: X"}
 *
 * `metrics get` prints one sample a line in the text exposition format,
 * `name{labels} value`; `metrics list` one family a line, name, type
 * and help.  --json prints the answer as it came.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "control_proto.h"

/*
 * Sends req (stolen) to the supervisor.  Returns the answer when it says
 * ok (caller decrefs), else NULL after printing why for command name
 * (a refusal as JSON on stdout with --json).
 */
static json_t *
cli_metrics_ask(struct cli_opts *o, const char *name, json_t *req)
{
	char err[512];
	json_t *reply;

	if (req == NULL) {
		fprintf(stderr, "sentinel-cli: out of memory\n");
		return NULL;
	}
	reply = cli_sup_request(o, req, false, err, sizeof(err));
	json_decref(req);
	return cli_reply_ok(o, name, reply);
}

/*
 * A sample value as the exposition format writes it: the shortest
 * decimal that reads back the same, NaN, +Inf, -Inf.
 */
static void
cli_metrics_value(double v, char *buf, size_t size)
{
	if (isnan(v))
		snprintf(buf, size, "NaN");
	else if (isinf(v))
		snprintf(buf, size, "%sInf", v > 0 ? "+" : "-");
	else {
		snprintf(buf, size, "%.15g", v);
		if (strtod(buf, NULL) != v)
			snprintf(buf, size, "%.17g", v);
	}
}

int
cli_run_metrics_get(const struct cli_cmd *cmd, struct cli_opts *o)
{
	const char *metric = o->args[0], *labels;
	json_t *reply, *samples, *s;
	char value[64];
	size_t i;

	(void)cmd;
	reply = cli_metrics_ask(o, "metrics get",
	                        json_pack("{s:s, s:s}", "command",
	                                  CONTROL_CMD_METRICS, "name", metric));
	if (reply == NULL)
		return CLI_EXIT_FAILURE;
	samples = json_object_get(reply, "samples");
	if (o->json)
		cli_print_json(reply);
	else {
		json_array_foreach(samples, i, s)
		{
			labels = cli_str(s, "labels", "");
			cli_metrics_value(
			        json_number_value(json_object_get(s, "value")),
			        value, sizeof(value));
			printf("%s%s%s%s %s\n", cli_str(s, "name", metric),
			       labels[0] ? "{" : "", labels,
			       labels[0] ? "}" : "", value);
		}
		if (json_array_size(samples) == 0)
			fprintf(stderr,
			        "sentinel-cli: %s has no series yet (nothing "
			        "counted since its daemon started)\n",
			        metric);
	}
	json_decref(reply);
	return CLI_EXIT_OK;
}

int
cli_run_metrics_list(const struct cli_cmd *cmd, struct cli_opts *o)
{
	json_t *reply, *f;
	size_t i, w = 4;

	(void)cmd;
	reply = cli_metrics_ask(
	        o, "metrics list",
	        json_pack("{s:s}", "command", CONTROL_CMD_METRICS));
	if (reply == NULL)
		return CLI_EXIT_FAILURE;
	if (o->json) {
		cli_print_json(reply);
		json_decref(reply);
		return CLI_EXIT_OK;
	}
	json_array_foreach(json_object_get(reply, "families"), i, f)
	{
		if (strlen(cli_str(f, "name", "")) > w)
			w = strlen(cli_str(f, "name", ""));
	}
	printf("%-*s %-9s %s\n", (int)w, "NAME", "TYPE", "HELP");
	json_array_foreach(json_object_get(reply, "families"), i, f)
	        printf("%-*s %-9s %s\n", (int)w, cli_str(f, "name", "?"),
	               cli_str(f, "type", "?"), cli_str(f, "help", ""));
	json_decref(reply);
	return CLI_EXIT_OK;
}
