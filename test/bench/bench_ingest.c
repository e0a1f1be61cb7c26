/*
 * bench_ingest.c: ingestd's event parser alone, on one core: a body of
 * 100 events (the batch case of make bench) and a body of one, parsed,
 * validated and turned into events by ingest_parse as ingestd does, and
 * then into one pipeline message (msg_add_event) as forward.c does.
 * Prints microseconds per event for each, the figure the end-to-end
 * batch rate cannot beat.
 *
 *   bench_ingest [ITERATIONS [batch]]
 *
 * "batch": the batch of 100 parse+encode case alone (instruction counts
 * per event under callgrind, test/bench/bench_callgrind.py).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "msg.h"
#include "util.h"
#include "validate.h"

static char *
body(int n, int seed)
{
	struct sn_buf b = {0};
	int i;

	sn_buf_printf(&b, n > 1 ? "[" : "");
	for (i = 0; i < n; i++)
		sn_buf_printf(&b,
		              "%s{\"event_id\":\"c-%d-%d\",\"timestamp\":"
		              "\"2026-11-27T06:00:00Z\",\"event_type\":\"llm."
		              "response\",\"application_id\":\"app-%d\","
		              "\"data\":{\"status\":\"success\",\"latency_ms\":"
		              "%d,\"total_tokens\":225,\"cost\":0.045,"
		              "\"model\":\"gpt-4o\"}}",
		              i > 0 ? "," : "", seed, i, i % 50, 200 + i * 7);
	sn_buf_printf(&b, n > 1 ? "]" : "");
	sn_buf_append(&b, "", 1);
	return (char *)b.data;
}

static double
run(int n, int iters, int encode)
{
	char *text = body(n, 1);
	size_t len = strlen(text);
	struct ingest_result res;
	struct ingest_opts o;
	struct sn_buf m = {0};
	int64_t t0;
	int it;
	size_t i;

	memset(&o, 0, sizeof(o));
	o.max_events = 1000;
	t0 = sn_mono_us();
	for (it = 0; it < iters; it++) {
		memset(&res, 0, sizeof(res));
		if (ingest_parse(text, len, INGEST_BODY_JSON, &o, &res) !=
		            INGEST_OK ||
		    res.nevents != (size_t)n) {
			fprintf(stderr, "bench_ingest: parse failed\n");
			exit(1);
		}
		if (encode) {
			msg_begin(&m, SN_MSG_EVENTS);
			for (i = 0; i < res.nevents; i++)
				msg_add_event(&m, &res.events[i].ev);
		}
		ingest_result_free(&res);
	}
	free(text);
	sn_buf_free(&m);
	return (double)(sn_mono_us() - t0) / ((double)iters * n);
}

int
main(int argc, char **argv)
{
	int iters = argc > 1 ? atoi(argv[1]) : 3000;
	int batch_only = argc > 2 && strcmp(argv[2], "batch") == 0;

	if (iters <= 0)
		iters = 3000;
	if (!batch_only)
		printf("batch of 100, parse          %.2f us/event\n",
		       run(100, iters, 0));
	printf("batch of 100, parse+encode   %.2f us/event\n",
	       run(100, iters, 1));
	if (!batch_only)
		printf("single event, parse+encode   %.2f us/event\n",
		       run(1, iters * 100, 1));
	return 0;
}
