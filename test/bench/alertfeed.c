/*
 * alertfeed.c: feeds alertd distinct firing anomalies at a fixed rate,
 * the way detectd hands them on (benchmark case 6, bench_alerting.py).
 *
 * Anomaly n carries the id and application_id "<prefix>-<n>", so with a
 * route grouping by application_id every anomaly is its own alert group.
 * Open loop: at each tick (--tick-ms) the anomalies due by then
 * (rate * elapsed, minus those already sent) go out as SN_MSG_ANOMALIES
 * messages of at most --max-batch records, pushed to alertd's input
 * socket over nng as detectd pushes one message per received batch of
 * events (never one message per anomaly: nng moves 45-66k messages/s).
 * When a send blocks (alertd is behind: nng's buffers are full), the
 * ticks it overran are not skipped: the next message carries all that
 * came due meanwhile.  A send blocked AF_SEND_TIMEOUT_MS fails (counted
 * in send_errors); past --max-seconds (default twice the duration plus
 * 5 s) nothing more is sent and the rest is counted as unsent, so a
 * stalled alertd cannot hold the benchmark.
 *
 * --times FILE gets one line "id send_unix_us" per anomaly, the wall
 * clock just before its message was handed to nng, so the caller can
 * compute latency to the webhook.  stdout gets one JSON object:
 *   {"sent", "rate", "duration_s", "achieved_rate", "messages",
 *    "send_errors", "unsent", "max_batch_sent", "late_ticks"}
 *
 *   alertfeed (--run-dir DIR | --url URL) --rate R --duration S
 *             [--tick-ms MS] [--max-batch N] [--prefix STR]
 *             [--times FILE] [--max-seconds S]
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nng/nng.h>
#include <nng/protocol/pipeline0/push.h>

#include "event.h"
#include "ipc.h"
#include "msg.h"
#include "util.h"

#define AF_SEND_TIMEOUT_MS 2000 /* a send blocked this long fails */
#define AF_ID_MAX          96

struct af_opts {
	char url[600];
	double rate;     /* anomalies per second */
	double duration; /* seconds */
	double max_s;    /* give up sending after this long */
	int tick_ms;
	uint32_t max_batch;
	const char *prefix;
	const char *times;
};

static int64_t
af_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t
af_wall_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void
af_sleep_until(int64_t mono_ns)
{
	struct timespec ts = {.tv_sec = mono_ns / 1000000000,
	                      .tv_nsec = mono_ns % 1000000000};

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) ==
	       EINTR)
		;
}

static struct sn_str
af_str(const char *s)
{
	struct sn_str v = {s, (uint32_t)strlen(s)};

	return v;
}

/* Adds anomaly n (firing, its own application_id) to b. */
static void
af_add(struct sn_buf *b, const char *id, int64_t now_ms)
{
	struct sn_anomaly a;
	char ids[AF_ID_MAX + 4];

	memset(&a, 0, sizeof(a));
	snprintf(ids, sizeof(ids), "[\"%s\"]", id);
	a.seq = 0;
	a.ts_ms = a.window_start_ms = a.window_end_ms = now_ms;
	a.detected_ms = now_ms;
	a.samples = 1;
	a.status = SN_ANOMALY_FIRING;
	a.value = 7000;
	a.expected = 1000;
	a.score = 7000;
	a.threshold = 5000;
	a.id = af_str(id);
	a.detector_id = af_str("bench-latency");
	a.detector_type = af_str("threshold");
	a.alert = af_str("bench-alert");
	a.severity = af_str("warning");
	a.application_id = af_str(id);
	a.model = af_str("gpt-4o");
	a.metric = af_str("latency_ms");
	a.event_id = af_str(id);
	a.message = af_str("latency_ms 7000 greater than 5000");
	a.labels = af_str("{}");
	a.event_ids = af_str(ids);
	msg_add_anomaly(b, &a);
}

static void
af_usage(void)
{
	fprintf(stderr, "usage: alertfeed (--run-dir DIR | --url URL) --rate R "
	                "--duration S\n"
	                "                 [--tick-ms MS] [--max-batch N] "
	                "[--prefix STR] [--times FILE]\n");
	exit(2);
}

static void
af_args(int argc, char **argv, struct af_opts *o)
{
	static const struct option longopts[] = {
	        {"run-dir", required_argument, NULL, 'r'},
	        {"url", required_argument, NULL, 'u'},
	        {"rate", required_argument, NULL, 'R'},
	        {"duration", required_argument, NULL, 'd'},
	        {"tick-ms", required_argument, NULL, 't'},
	        {"max-batch", required_argument, NULL, 'b'},
	        {"prefix", required_argument, NULL, 'p'},
	        {"times", required_argument, NULL, 'T'},
	        {"max-seconds", required_argument, NULL, 'm'},
	        {NULL, 0, NULL, 0},
	};
	int c;

	memset(o, 0, sizeof(*o));
	o->tick_ms = 10;
	o->max_batch = 500;
	o->prefix = "a";
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'r':
			if (ipc_url(o->url, sizeof(o->url), optarg,
			            SN_IPC_ALERTD) < 0)
				af_usage();
			break;
		case 'u':
			snprintf(o->url, sizeof(o->url), "%s", optarg);
			break;
		case 'R':
			o->rate = strtod(optarg, NULL);
			break;
		case 'd':
			o->duration = strtod(optarg, NULL);
			break;
		case 't':
			o->tick_ms = atoi(optarg);
			break;
		case 'b':
			o->max_batch = (uint32_t)strtoul(optarg, NULL, 10);
			break;
		case 'p':
			o->prefix = optarg;
			break;
		case 'T':
			o->times = optarg;
			break;
		case 'm':
			o->max_s = strtod(optarg, NULL);
			break;
		default:
			af_usage();
		}
	}
	if (!o->url[0] || o->rate <= 0 || o->duration <= 0 || o->tick_ms <= 0 ||
	    o->max_batch == 0 || strlen(o->prefix) > AF_ID_MAX - 24)
		af_usage();
	if (o->max_s <= 0)
		o->max_s = 2 * o->duration + 5;
}

int
main(int argc, char **argv)
{
	struct af_opts o;
	struct sn_buf b = {0};
	nng_socket s;
	FILE *times = NULL;
	uint64_t total, sent = 0, msgs = 0, errors = 0, late = 0, maxb = 0;
	int64_t t0, next, end_ns, give_up_ns, now;
	double took;
	char id[AF_ID_MAX];
	int rv;

	af_args(argc, argv, &o);
	total = (uint64_t)(o.rate * o.duration + 0.5);
	if (o.times != NULL && (times = fopen(o.times, "w")) == NULL) {
		fprintf(stderr, "alertfeed: %s: %s\n", o.times,
		        strerror(errno));
		return 1;
	}
	if ((rv = nng_push0_open(&s)) != 0 ||
	    (rv = nng_socket_set_ms(s, NNG_OPT_SENDTIMEO,
	                            AF_SEND_TIMEOUT_MS)) != 0 ||
	    (rv = nng_dial(s, o.url, NULL, 0)) != 0) {
		fprintf(stderr, "alertfeed: %s: %s\n", o.url, nng_strerror(rv));
		return 1;
	}

	t0 = af_mono_ns();
	end_ns = t0 + (int64_t)(o.duration * 1e9);
	give_up_ns = t0 + (int64_t)(o.max_s * 1e9);
	next = t0;
	while (sent < total) {
		uint64_t due;
		int64_t wall_us, now_ms;
		uint32_t i, n;

		now = af_mono_ns();
		due = (uint64_t)((double)(now - t0) * o.rate / 1e9);
		if (due > total || now >= end_ns)
			due = total;
		while (sent < due && af_mono_ns() < give_up_ns) {
			n = (uint32_t)(due - sent < o.max_batch ? due - sent
			                                        : o.max_batch);
			wall_us = af_wall_us();
			now_ms = wall_us / 1000;
			msg_begin(&b, SN_MSG_ANOMALIES);
			for (i = 0; i < n; i++) {
				snprintf(id, sizeof(id), "%s-%" PRIu64,
				         o.prefix, sent + i);
				af_add(&b, id, now_ms);
			}
			if ((rv = nng_send(s, b.data, b.len, 0)) != 0) {
				/* nng frees nothing on failure; count the
				 * records as not sent and go on */
				errors += n;
				fprintf(stderr, "alertfeed: send: %s\n",
				        nng_strerror(rv));
			} else if (times != NULL) {
				for (i = 0; i < n; i++)
					fprintf(times,
					        "%s-%" PRIu64 " %" PRId64 "\n",
					        o.prefix, sent + i, wall_us);
			}
			msgs++;
			if (n > maxb)
				maxb = n;
			sent += n;
		}
		if (sent >= total || af_mono_ns() >= give_up_ns)
			break;
		next += (int64_t)o.tick_ms * 1000000;
		now = af_mono_ns();
		if (next < now) {
			/* overran: catch up at the next pass, by a bigger
			 * message, without a burst of ticks */
			late++;
			next = now;
		}
		af_sleep_until(next);
	}
	took = (double)(af_mono_ns() - t0) / 1e9;
	/* let nng hand the last messages over before closing */
	af_sleep_until(af_mono_ns() + 200000000);
	nng_close(s);
	if (times != NULL && fclose(times) != 0) {
		fprintf(stderr, "alertfeed: %s: %s\n", o.times,
		        strerror(errno));
		return 1;
	}
	sn_buf_free(&b);
	printf("{\"sent\": %" PRIu64 ", \"rate\": %.0f, \"duration_s\": %.3f, "
	       "\"achieved_rate\": %.1f, \"messages\": %" PRIu64
	       ", \"send_errors\": %" PRIu64 ", \"unsent\": %" PRIu64
	       ", \"max_batch_sent\": %" PRIu64 ", \"late_ticks\": %" PRIu64
	       "}\n",
	       sent - errors, o.rate, took,
	       took > 0 ? (sent - errors) / took : 0, msgs, errors,
	       total - sent, maxb, late);
	return errors > 0 || sent < total ? 1 : 0;
}
