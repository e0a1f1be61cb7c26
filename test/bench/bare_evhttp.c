/*
 * bare_evhttp.c: the floor under ingestd's single-event path, measured in
 * the same run as ingestd and nginx: a libevent evhttp server that reads
 * the body, parses and validates it with ingestd's own parser
 * (ingest_parse) and answers 202 with the same JSON ingestd sends.
 * Nothing else: no spool, no fsync, no consumers, no limits, no
 * metrics.  The distance from it to ingestd is what the pipeline costs;
 * the distance from nginx to it is what evhttp and the parser cost.
 *
 *   bare_evhttp PORT
 *
 * Runs until SIGTERM or SIGINT.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>

#include "validate.h"

static void
on_request(struct evhttp_request *req, void *arg)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	struct evbuffer *out = evhttp_request_get_output_buffer(req);
	struct ingest_result res;
	struct ingest_opts o;
	size_t len = evbuffer_get_length(in);
	const char *body;

	(void)arg;
	if ((body = (const char *)evbuffer_pullup(in, -1)) == NULL)
		body = "";
	memset(&o, 0, sizeof(o));
	o.max_events = 1000;
	memset(&res, 0, sizeof(res));
	if (ingest_parse(body, len, INGEST_BODY_JSON, &o, &res) != INGEST_OK ||
	    res.nevents == 0) {
		ingest_result_free(&res);
		evhttp_send_reply(req, 400, "Bad Request", NULL);
		return;
	}
	evhttp_add_header(evhttp_request_get_output_headers(req),
	                  "Content-Type", "application/json");
	if (res.batch)
		evbuffer_add_printf(out,
		                    "{\"status\":\"accepted\",\"accepted\":%zu,"
		                    "\"rejected\":[]}",
		                    res.nevents);
	else
		evbuffer_add_printf(out,
		                    "{\"status\":\"accepted\",\"accepted\":1,"
		                    "\"event_id\":\"%s\"}",
		                    res.events[0].ev.event_id.p);
	ingest_result_free(&res);
	evhttp_send_reply(req, 202, "Accepted", NULL);
}

static void
on_signal(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	event_base_loopbreak(arg);
}

int
main(int argc, char **argv)
{
	struct event_base *base;
	struct evhttp *http;
	struct event *term, *intr;

	if (argc != 2) {
		fprintf(stderr, "usage: bare_evhttp PORT\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	if ((base = event_base_new()) == NULL ||
	    (http = evhttp_new(base)) == NULL)
		return 1;
	evhttp_set_allowed_methods(http, EVHTTP_REQ_POST | EVHTTP_REQ_GET);
	evhttp_set_gencb(http, on_request, NULL);
	if (evhttp_bind_socket(http, "127.0.0.1", (ev_uint16_t)atoi(argv[1])) !=
	    0) {
		fprintf(stderr, "bare_evhttp: cannot listen on %s\n", argv[1]);
		return 1;
	}
	term = evsignal_new(base, SIGTERM, on_signal, base);
	intr = evsignal_new(base, SIGINT, on_signal, base);
	event_add(term, NULL);
	event_add(intr, NULL);
	event_base_dispatch(base);
	event_free(term);
	event_free(intr);
	evhttp_free(http);
	event_base_free(base);
	return 0;
}
