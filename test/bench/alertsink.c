/*
 * alertsink.c: the webhook receiver of benchmark case 6
 * (bench_alerting.py): Alertmanager and alertd both deliver here.
 *
 * Why C and not Python's ThreadingHTTPServer: both senders post one
 * notification per alert group, so at the rates measured (up to 8 000
 * groups a second) the receiver must take 8 000 requests a second on a
 * machine the two senders share; a Python server tops out near that
 * and would measure itself (see bench_alerting.py's receiver check).
 * One libevent evhttp loop answers 200 at once.
 *
 * For each alert of each Alertmanager-style webhook body (version 4,
 * "alerts": [{"labels": {...}}]) it writes a line
 *   <labels.application_id> <arrival unix microseconds> <status>
 * to --out FILE, flushed every 100 ms and at SIGTERM, so the caller can
 * match arrivals to send times.  Prints "port N" on stdout once
 * listening (--port 0: any free port).
 *
 *   alertsink --out FILE [--host 127.0.0.1] [--port N]
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <netinet/in.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>

struct sink {
	FILE *out;
	uint64_t requests, alerts, bad;
	struct event_base *base;
};

static int64_t
sink_wall_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* evhttp callback: records the alerts of one body, answers 200. */
static void
sink_on_request(struct evhttp_request *req, void *arg)
{
	struct sink *sk = arg;
	int64_t now = sink_wall_us();
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	struct evbuffer *reply;
	size_t len = evbuffer_get_length(in), i;
	json_t *doc, *alerts, *a;
	const char *app, *status;

	sk->requests++;
	doc = json_loadb((const char *)evbuffer_pullup(in, -1), len, 0, NULL);
	alerts = json_object_get(doc, "alerts");
	if (!json_is_array(alerts))
		sk->bad++;
	json_array_foreach(alerts, i, a)
	{
		app = json_string_value(json_object_get(
		        json_object_get(a, "labels"), "application_id"));
		status = json_string_value(json_object_get(a, "status"));
		if (app == NULL) {
			sk->bad++;
			continue;
		}
		fprintf(sk->out, "%s %" PRId64 " %s\n", app, now,
		        status ? status : "?");
		sk->alerts++;
	}
	json_decref(doc);
	reply = evbuffer_new();
	evbuffer_add(reply, "ok", 2);
	evhttp_send_reply(req, 200, "OK", reply);
	evbuffer_free(reply);
}

static void
sink_on_flush(evutil_socket_t fd, short what, void *arg)
{
	struct sink *sk = arg;

	(void)fd;
	(void)what;
	fflush(sk->out);
}

static void
sink_on_signal(evutil_socket_t fd, short what, void *arg)
{
	struct sink *sk = arg;

	(void)fd;
	(void)what;
	event_base_loopexit(sk->base, NULL);
}

static void
sink_usage(void)
{
	fprintf(stderr, "usage: alertsink --out FILE [--host H] [--port N]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
	        {"out", required_argument, NULL, 'o'},
	        {"host", required_argument, NULL, 'h'},
	        {"port", required_argument, NULL, 'p'},
	        {NULL, 0, NULL, 0},
	};
	struct sink sk = {0};
	const char *out = NULL, *host = "127.0.0.1";
	struct evhttp *http;
	struct evhttp_bound_socket *bound;
	struct event *flush, *term, *intr;
	struct timeval every = {0, 100000};
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int port = 0, c;

	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'o':
			out = optarg;
			break;
		case 'h':
			host = optarg;
			break;
		case 'p':
			port = atoi(optarg);
			break;
		default:
			sink_usage();
		}
	}
	if (out == NULL)
		sink_usage();
	if ((sk.out = fopen(out, "w")) == NULL) {
		fprintf(stderr, "alertsink: %s: %s\n", out, strerror(errno));
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	sk.base = event_base_new();
	http = evhttp_new(sk.base);
	if (sk.base == NULL || http == NULL)
		return 1;
	evhttp_set_gencb(http, sink_on_request, &sk);
	evhttp_set_max_body_size(http, 64 << 20);
	if ((bound = evhttp_bind_socket_with_handle(http, host,
	                                            (uint16_t)port)) == NULL) {
		fprintf(stderr, "alertsink: cannot listen on %s:%d\n", host,
		        port);
		return 1;
	}
	if (getsockname(evhttp_bound_socket_get_fd(bound),
	                (struct sockaddr *)&ss, &sl) < 0)
		return 1;
	port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	printf("port %d\n", port);
	fflush(stdout);
	flush = event_new(sk.base, -1, EV_PERSIST, sink_on_flush, &sk);
	term = evsignal_new(sk.base, SIGTERM, sink_on_signal, &sk);
	intr = evsignal_new(sk.base, SIGINT, sink_on_signal, &sk);
	event_add(flush, &every);
	event_add(term, NULL);
	event_add(intr, NULL);
	event_base_dispatch(sk.base);

	fprintf(stderr,
	        "alertsink: %" PRIu64 " requests, %" PRIu64 " alerts, %" PRIu64
	        " unreadable\n",
	        sk.requests, sk.alerts, sk.bad);
	if (fclose(sk.out) != 0)
		return 1;
	event_free(flush);
	event_free(term);
	event_free(intr);
	evhttp_free(http);
	event_base_free(sk.base);
	return 0;
}
