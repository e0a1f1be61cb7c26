/*
 * grpc_stream.c: StreamEvents end to end, with gRPC core's C client.
 *
 * Opens S concurrent sentinel.v1.TelemetryService/StreamEvents calls,
 * each on its own channel (its own HTTP/2 connection, as S clients
 * would), streams N events in total over them, half-closes each and
 * waits for its BatchResult.  ingestd answers a stream once every
 * accepted event is durable, so the clock (from the first call to the
 * last answer) measures the same thing as an HTTP batch's 202.
 *
 * Events are like test/bench/loadgen's: a unique event_id (prefix +
 * counter), the current time (RFC 3339, milliseconds), application_id
 * "app-K" and data.model "model-J" cycling through G pairs (--groups).
 * Each message is packed with the protobuf-c code generated from
 * common/proto/ when it is sent (the client's cost is in cpu_s).
 *
 * One thread, one completion queue.  A call has at most one
 * SEND_MESSAGE in flight (gRPC's rule); RECV_INITIAL_METADATA,
 * RECV_MESSAGE and RECV_STATUS_ON_CLIENT go in one batch started with
 * the call, which completes with the answer.  --hint K sends K-1 of
 * every K messages with GRPC_WRITE_BUFFER_HINT, letting gRPC coalesce
 * them into one write (default 64: what a producer that streams in
 * volume does, as an HTTP client batches; it costs the client a third
 * of the CPU and ingestd a fifth less than one write per message,
 * --hint 1).
 *
 *   grpc_stream --target HOST:PORT --events N [--streams S]
 *               [--groups G] [--prefix STR] [--key KEY] [--hint K]
 *               [--timeout SECONDS]
 *
 * Prints one JSON line: {"events":N,"streams":S,"accepted":A,
 * "rejected":R,"failed_streams":F,"seconds":T,"events_per_s":A/T,
 * "cpu_s":C,"error":"first failure"}.  Exit 0 when every stream
 * answered OK, 1 otherwise, 2 on bad arguments.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sys/resource.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>

#include "sentinel/v1/telemetry.pb-c.h"
#include "bench_args.h"
#include "util.h"

#define GS_MODELS 3 /* models per application, as loadgen */
#define GS_METHOD "/sentinel.v1.TelemetryService/StreamEvents"

/* One stream. */
struct gs_stream {
	struct gs *g;
	grpc_channel *ch;
	grpc_call *call;
	uint64_t total, sent;  /* events to send, sent so far */
	int closed;            /* SEND_CLOSE_FROM_CLIENT started */
	int done;              /* the answer came */
	int send_busy;         /* a send batch is in flight */
	grpc_byte_buffer *out; /* the message in flight */
	/* the answer's batch */
	grpc_metadata_array md_init, md_trail;
	grpc_byte_buffer *answer;
	grpc_status_code status;
	grpc_slice details;
	grpc_metadata auth;
	/* tags: the address of one of these tells which batch completed */
	char tag_send, tag_recv;
};

struct gs {
	const char *target, *key;
	uint64_t events;
	unsigned streams, groups, hint;
	double timeout;
	char prefix[64];
	uint64_t next; /* the next event's number (all streams) */
	uint32_t rnd;
	grpc_completion_queue *cq;
	struct gs_stream *s;
	/* the timestamp's cached seconds */
	/* results */
	uint64_t accepted, rejected;
	unsigned failed;
	char error[300];
};

static double
gs_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint32_t
gs_rand(struct gs *g)
{
	g->rnd ^= g->rnd << 13;
	g->rnd ^= g->rnd >> 17;
	g->rnd ^= g->rnd << 5;
	return g->rnd;
}

/* The current UTC time as RFC 3339 with milliseconds, into ts[32]
 * (common/util.c's formatter, which takes no lock). */
static void
gs_timestamp(struct gs *g, char *ts)
{
	(void)g;
	sn_rfc3339_format(sn_now_ms(), ts, 32);
}

/* The next event, packed into a byte buffer (the caller destroys it). */
static grpc_byte_buffer *
gs_event(struct gs *g)
{
	Sentinel__V1__TelemetryEvent ev = SENTINEL__V1__TELEMETRY_EVENT__INIT;
	Sentinel__V1__EventData d = SENTINEL__V1__EVENT_DATA__INIT;
	char id[96], ts[32], app[32], model[32];
	uint64_t n = g->next++;
	unsigned grp = (unsigned)(n % g->groups), tokens;
	grpc_byte_buffer *bb;
	grpc_slice s;
	size_t len;

	gs_timestamp(g, ts);
	snprintf(id, sizeof(id), "%s%" PRIu64, g->prefix, n);
	snprintf(app, sizeof(app), "app-%u", grp / GS_MODELS);
	snprintf(model, sizeof(model), "model-%u", grp % GS_MODELS);
	tokens = 50 + gs_rand(g) % 2000;
	ev.event_id = id;
	ev.timestamp = ts;
	ev.event_type = "llm.response";
	ev.application_id = app;
	ev.data = &d;
	d.status = "success";
	d.latency_ms_set_case =
	        SENTINEL__V1__EVENT_DATA__LATENCY_MS_SET_LATENCY_MS;
	d.latency_ms = 100 + gs_rand(g) % 2901;
	d.total_tokens_set_case =
	        SENTINEL__V1__EVENT_DATA__TOTAL_TOKENS_SET_TOTAL_TOKENS;
	d.total_tokens = tokens;
	d.cost_set_case = SENTINEL__V1__EVENT_DATA__COST_SET_COST;
	d.cost = (double)(tokens * 20) / 1e6; /* as "0.004" in JSON */
	d.model = model;
	len = sentinel__v1__telemetry_event__get_packed_size(&ev);
	s = grpc_slice_malloc(len);
	sentinel__v1__telemetry_event__pack(&ev, GRPC_SLICE_START_PTR(s));
	bb = grpc_raw_byte_buffer_create(&s, 1);
	grpc_slice_unref(s);
	return bb;
}

static void
gs_fail(struct gs *g, const char *fmt, const char *a, const char *b)
{
	g->failed++;
	if (g->error[0] == '\0')
		snprintf(g->error, sizeof(g->error), fmt, a, b);
}

static void
gs_start(struct gs_stream *st, grpc_op *ops, size_t n, void *tag)
{
	grpc_call_error e;

	if ((e = grpc_call_start_batch(st->call, ops, n, tag, NULL)) !=
	    GRPC_CALL_OK) {
		fprintf(stderr, "grpc_stream: grpc_call_start_batch: %s\n",
		        grpc_call_error_to_string(e));
		exit(1);
	}
}

/* Sends the stream's next message, or its half-close after the last. */
static void
gs_send_next(struct gs_stream *st)
{
	struct gs *g = st->g;
	grpc_op op;

	memset(&op, 0, sizeof(op));
	if (st->sent < st->total) {
		st->out = gs_event(g);
		st->sent++;
		op.op = GRPC_OP_SEND_MESSAGE;
		op.data.send_message.send_message = st->out;
		if (g->hint > 1 && st->sent % g->hint != 0 &&
		    st->sent < st->total)
			op.flags = GRPC_WRITE_BUFFER_HINT;
	} else {
		op.op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
		st->closed = 1;
	}
	st->send_busy = 1;
	gs_start(st, &op, 1, &st->tag_send);
}

/* Starts the call: its metadata, the answer's batch, the first send. */
static void
gs_call(struct gs_stream *st, gpr_timespec deadline)
{
	struct gs *g = st->g;
	grpc_slice method = grpc_slice_from_static_string(GS_METHOD);
	grpc_op ops[3];

	st->call =
	        grpc_channel_create_call(st->ch, NULL, GRPC_PROPAGATE_DEFAULTS,
	                                 g->cq, method, NULL, deadline, NULL);
	memset(ops, 0, sizeof(ops));
	ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
	if (g->key != NULL) {
		ops[0].data.send_initial_metadata.count = 1;
		ops[0].data.send_initial_metadata.metadata = &st->auth;
	}
	gs_start(st, ops, 1, NULL);
	ops[0].op = GRPC_OP_RECV_INITIAL_METADATA;
	ops[0].data.recv_initial_metadata.recv_initial_metadata = &st->md_init;
	ops[1].op = GRPC_OP_RECV_MESSAGE;
	ops[1].data.recv_message.recv_message = &st->answer;
	ops[2].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
	ops[2].data.recv_status_on_client.trailing_metadata = &st->md_trail;
	ops[2].data.recv_status_on_client.status = &st->status;
	ops[2].data.recv_status_on_client.status_details = &st->details;
	gs_start(st, ops, 3, &st->tag_recv);
	gs_send_next(st);
}

/* The answer of st came: count it. */
static void
gs_answer(struct gs *g, struct gs_stream *st)
{
	Sentinel__V1__BatchResult *res = NULL;
	grpc_byte_buffer_reader rd;
	grpc_slice s;
	char *details;

	st->done = 1;
	if (st->status != GRPC_STATUS_OK) {
		details = grpc_slice_to_c_string(st->details);
		gs_fail(g, "stream: status %s: %s",
		        st->status == GRPC_STATUS_UNAVAILABLE ? "UNAVAILABLE"
		        : st->status == GRPC_STATUS_RESOURCE_EXHAUSTED
		                ? "RESOURCE_EXHAUSTED"
		                : "not OK",
		        details);
		gpr_free(details);
		return;
	}
	if (st->answer != NULL &&
	    grpc_byte_buffer_reader_init(&rd, st->answer)) {
		s = grpc_byte_buffer_reader_readall(&rd);
		grpc_byte_buffer_reader_destroy(&rd);
		res = sentinel__v1__batch_result__unpack(
		        NULL, GRPC_SLICE_LENGTH(s), GRPC_SLICE_START_PTR(s));
		grpc_slice_unref(s);
	}
	if (res == NULL) {
		gs_fail(g, "stream: %s%s", "OK without a BatchResult", "");
		return;
	}
	g->accepted += res->accepted;
	g->rejected += res->rejected_total;
	sentinel__v1__batch_result__free_unpacked(res, NULL);
}

/* Every channel connected, before the clock starts; 0 or -1. */
static int
gs_connect(struct gs *g)
{
	gpr_timespec deadline =
	        gpr_time_add(gpr_now(GPR_CLOCK_REALTIME),
	                     gpr_time_from_seconds(10, GPR_TIMESPAN));
	grpc_connectivity_state cs;
	grpc_event ev;
	unsigned i;

	for (i = 0; i < g->streams; i++) {
		while ((cs = grpc_channel_check_connectivity_state(
		                g->s[i].ch, 1)) != GRPC_CHANNEL_READY) {
			grpc_channel_watch_connectivity_state(
			        g->s[i].ch, cs, deadline, g->cq, NULL);
			ev = grpc_completion_queue_next(
			        g->cq, gpr_inf_future(GPR_CLOCK_REALTIME),
			        NULL);
			if (ev.type != GRPC_OP_COMPLETE || !ev.success)
				return -1;
		}
	}
	return 0;
}

static void
gs_usage(void)
{
	fprintf(stderr,
	        "usage: grpc_stream --target HOST:PORT --events N "
	        "[--streams S] [--groups G]\n"
	        "                   [--prefix STR] [--key KEY] [--hint K] "
	        "[--timeout SECONDS]\n");
	exit(2);
}

static double
gs_num(const char *opt, const char *s, double min, double max)
{
	return bench_num("grpc_stream", opt, s, min, max);
}

static void
gs_options(struct gs *g, int argc, char **argv)
{
	static const struct option opts[] = {
	        {"target", required_argument, NULL, 't'},
	        {"events", required_argument, NULL, 'n'},
	        {"streams", required_argument, NULL, 's'},
	        {"groups", required_argument, NULL, 'g'},
	        {"prefix", required_argument, NULL, 'p'},
	        {"key", required_argument, NULL, 'k'},
	        {"hint", required_argument, NULL, 'b'},
	        {"timeout", required_argument, NULL, 'o'},
	        {"help", no_argument, NULL, 'h'},
	        {NULL, 0, NULL, 0},
	};
	int ch;

	g->streams = 4;
	g->groups = 50;
	g->hint = 64;
	g->timeout = 600;
	g->rnd = (uint32_t)time(NULL) ^ 0x9e3779b9u;
	if (g->rnd == 0)
		g->rnd = 1;
	snprintf(g->prefix, sizeof(g->prefix), "gs-%08" PRIx32 "-",
	         (uint32_t)time(NULL) ^ (uint32_t)clock());
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 't':
			g->target = optarg;
			break;
		case 'n':
			g->events = (uint64_t)gs_num("events", optarg, 1, 1e10);
			break;
		case 's':
			g->streams =
			        (unsigned)gs_num("streams", optarg, 1, 1000);
			break;
		case 'g':
			g->groups = (unsigned)gs_num("groups", optarg, 1, 1e8);
			break;
		case 'p':
			if (strlen(optarg) >= sizeof(g->prefix) - 24) {
				fprintf(stderr, "grpc_stream: --prefix: too "
				                "long\n");
				exit(2);
			}
			snprintf(g->prefix, sizeof(g->prefix), "%s", optarg);
			break;
		case 'k':
			g->key = optarg;
			break;
		case 'b':
			g->hint = (unsigned)gs_num("hint", optarg, 1, 1e6);
			break;
		case 'o':
			g->timeout = gs_num("timeout", optarg, 0.1, 86400);
			break;
		default:
			gs_usage();
		}
	}
	if (optind != argc || g->target == NULL || g->events == 0)
		gs_usage();
}

/* A string for JSON: only what our messages can hold, quotes escaped. */
static void
gs_json_string(const char *s)
{
	putchar('"');
	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\')
			printf("\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			printf("\\u%04x", (unsigned)(unsigned char)*s);
		else
			putchar(*s);
	}
	putchar('"');
}

int
main(int argc, char **argv)
{
	struct gs g;
	grpc_channel_credentials *creds;
	grpc_channel_args cargs;
	grpc_arg arg;
	gpr_timespec deadline;
	struct rusage ru0, ru1;
	double t0, secs, cpu;
	unsigned i, left;
	uint64_t per, extra;
	grpc_event ev;
	char bearer[600];

	memset(&g, 0, sizeof(g));
	gs_options(&g, argc, argv);
	grpc_init();
	g.cq = grpc_completion_queue_create_for_next(NULL);
	g.s = calloc(g.streams, sizeof(*g.s));
	if (g.s == NULL) {
		fprintf(stderr, "grpc_stream: out of memory\n");
		return 1;
	}
	/* Each channel its own connection: a subchannel pool of its own. */
	arg.type = GRPC_ARG_INTEGER;
	arg.key = (char *)GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL;
	arg.value.integer = 1;
	cargs.num_args = 1;
	cargs.args = &arg;
	creds = grpc_insecure_credentials_create();
	if (g.key != NULL)
		snprintf(bearer, sizeof(bearer), "Bearer %s", g.key);
	per = g.events / g.streams;
	extra = g.events % g.streams;
	for (i = 0; i < g.streams; i++) {
		struct gs_stream *st = &g.s[i];

		st->g = &g;
		st->total = per + (i < extra ? 1 : 0);
		st->ch = grpc_channel_create(g.target, creds, &cargs);
		grpc_metadata_array_init(&st->md_init);
		grpc_metadata_array_init(&st->md_trail);
		if (g.key != NULL) {
			st->auth.key =
			        grpc_slice_from_static_string("authorization");
			st->auth.value = grpc_slice_from_static_string(bearer);
		}
	}
	grpc_channel_credentials_release(creds);
	if (gs_connect(&g) < 0) {
		fprintf(stderr, "grpc_stream: cannot connect to %s\n",
		        g.target);
		return 1;
	}
	getrusage(RUSAGE_SELF, &ru0);
	t0 = gs_now();
	deadline = gpr_time_add(
	        gpr_now(GPR_CLOCK_REALTIME),
	        gpr_time_from_millis((int64_t)(g.timeout * 1e3), GPR_TIMESPAN));
	for (i = 0; i < g.streams; i++)
		gs_call(&g.s[i], deadline);
	left = g.streams;
	while (left > 0) {
		struct gs_stream *st;

		ev = grpc_completion_queue_next(
		        g.cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
		if (ev.type != GRPC_OP_COMPLETE) {
			fprintf(stderr, "grpc_stream: completion queue: %d\n",
			        (int)ev.type);
			return 1;
		}
		if (ev.tag == NULL)
			continue; /* the initial metadata went */
		/* tag_send and tag_recv are members of one gs_stream */
		for (st = NULL, i = 0; i < g.streams; i++)
			if (ev.tag == &g.s[i].tag_send ||
			    ev.tag == &g.s[i].tag_recv) {
				st = &g.s[i];
				break;
			}
		if (st == NULL)
			continue;
		if (ev.tag == &st->tag_recv) {
			gs_answer(&g, st);
			left--;
			continue;
		}
		st->send_busy = 0;
		if (st->out != NULL) {
			grpc_byte_buffer_destroy(st->out);
			st->out = NULL;
		}
		/* a failed send: the call is over, its status will tell */
		if (ev.success && !st->closed && !st->done)
			gs_send_next(st);
	}
	secs = gs_now() - t0;
	getrusage(RUSAGE_SELF, &ru1);
	cpu = (double)(ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec) +
	      (double)(ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec) / 1e6 +
	      (double)(ru1.ru_stime.tv_sec - ru0.ru_stime.tv_sec) +
	      (double)(ru1.ru_stime.tv_usec - ru0.ru_stime.tv_usec) / 1e6;
	printf("{\"events\":%" PRIu64 ",\"streams\":%u,\"accepted\":%" PRIu64
	       ",\"rejected\":%" PRIu64 ",\"failed_streams\":%u,"
	       "\"seconds\":%.3f,\"events_per_s\":%.0f,\"cpu_s\":%.3f,"
	       "\"error\":",
	       g.events, g.streams, g.accepted, g.rejected, g.failed, secs,
	       secs > 0 ? (double)g.accepted / secs : 0.0, cpu);
	gs_json_string(g.error);
	printf("}\n");
	fflush(stdout);
	/* tidy up, so leak checkers see only gRPC's own */
	for (i = 0; i < g.streams; i++) {
		struct gs_stream *st = &g.s[i];

		if (st->out != NULL)
			grpc_byte_buffer_destroy(st->out);
		if (st->answer != NULL)
			grpc_byte_buffer_destroy(st->answer);
		grpc_slice_unref(st->details);
		grpc_metadata_array_destroy(&st->md_init);
		grpc_metadata_array_destroy(&st->md_trail);
		grpc_call_unref(st->call);
		grpc_channel_destroy(st->ch);
	}
	grpc_completion_queue_shutdown(g.cq);
	while (grpc_completion_queue_next(
	               g.cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL)
	               .type != GRPC_QUEUE_SHUTDOWN)
		;
	grpc_completion_queue_destroy(g.cq);
	free(g.s);
	grpc_shutdown_blocking();
	return g.failed > 0 || g.accepted + g.rejected < g.events ? 1 : 0;
}
