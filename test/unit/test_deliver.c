/*
 * test_deliver.c: the delivery core against a real HTTP peer (libevent's
 * evhttp on 127.0.0.1, on the test's own loop).  The transfers run on
 * deliver.c's thread; what the sender relies on must hold all the same:
 * each request reaches the peer as built, each callback runs on the
 * caller's loop thread with the peer's answer classified (200 OK, 503
 * RETRY with its Retry-After, 404 ERROR), deliver_inflight counts what
 * is sent and not called back, a config error calls back before
 * deliver_send returns, and deliver_free cancels what is in flight
 * without calling back and without leaks (ASan, valgrind).
 *
 * A stuck test is ended by alarm(); no assertion depends on speed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>

#include <cmocka.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "../../alertd/receiver.h"
#include "log.h"

/* The peer, its loop and what both saw. */
struct fixture {
	struct event_base *base;
	struct evhttp *http;
	int port;
	pthread_t loop_thread;
	int requests;      /* the peer's */
	int ids_ok;        /* requests with the X-Sentinel-Notification-Id */
	int want_requests; /* the peer ends the loop at this many; 0: never */
	int calls;         /* callbacks */
	int want_calls;    /* callbacks that end the loop */
	int off_thread;    /* callbacks not on the loop's thread */
	int results[3];    /* callbacks per enum receiver_result */
	int64_t retry_after_ms;
	char where[160];
};

/* The peer: /ok 200, /busy 503 with Retry-After: 7, /bad 404, /hang
 * never answers. */
static void
peer_on_request(struct evhttp_request *req, void *arg)
{
	struct fixture *f = arg;
	const char *uri = evhttp_request_get_uri(req);
	const char *id =
	        evhttp_find_header(evhttp_request_get_input_headers(req),
	                           "X-Sentinel-Notification-Id");

	f->requests++;
	if (id != NULL && strncmp(id, "nid-", 4) == 0)
		f->ids_ok++;
	if (strcmp(uri, "/ok") == 0)
		evhttp_send_reply(req, 200, "OK", NULL);
	else if (strcmp(uri, "/busy") == 0) {
		evhttp_add_header(evhttp_request_get_output_headers(req),
		                  "Retry-After", "7");
		evhttp_send_reply(req, 503, "Busy", NULL);
	} else if (strcmp(uri, "/bad") == 0)
		evhttp_send_reply(req, 404, "Not Found", NULL);
	/* /hang: kept open until evhttp_free */
	if (f->want_requests > 0 && f->requests == f->want_requests)
		event_base_loopbreak(f->base);
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct evhttp_bound_socket *bs;
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);

	assert_non_null(f);
	f->base = event_base_new();
	assert_non_null(f->base);
	f->http = evhttp_new(f->base);
	assert_non_null(f->http);
	evhttp_set_gencb(f->http, peer_on_request, f);
	bs = evhttp_bind_socket_with_handle(f->http, "127.0.0.1", 0);
	assert_non_null(bs);
	assert_int_equal(getsockname(evhttp_bound_socket_get_fd(bs),
	                             (struct sockaddr *)&sin, &len),
	                 0);
	f->port = ntohs(sin.sin_port);
	f->loop_thread = pthread_self();
	*state = f;
	alarm(120);
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	alarm(0);
	evhttp_free(f->http);
	event_base_free(f->base);
	free(f);
	return 0;
}

static void
on_done(const struct receiver_outcome *o, void *arg)
{
	struct fixture *f = arg;

	if (!pthread_equal(pthread_self(), f->loop_thread))
		f->off_thread++;
	if (o->result >= RECEIVER_OK && o->result <= RECEIVER_ERROR)
		f->results[o->result]++;
	if (o->result == RECEIVER_RETRY)
		f->retry_after_ms = o->retry_after_ms;
	snprintf(f->where, sizeof(f->where), "%s", o->where);
	if (++f->calls == f->want_calls)
		event_base_loopbreak(f->base);
}

/* Sends notification number i to path on the peer. */
static void
send_to(struct fixture *f, struct deliver *dl, const char *path, int i)
{
	struct sn_receiver rc = {0};
	struct notification n;
	char url[128], id[32];

	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", f->port, path);
	snprintf(id, sizeof(id), "nid-%d", i);
	rc.name = "hook";
	rc.type = "webhook";
	rc.url = url;
	rc.timeout_ms = 60000;
	notify_init(&n, "hook", "group", NULL, "");
	deliver_send(dl, &rc, &n, id, on_done, f);
	notify_free(&n);
}

/* Outcomes come back classified, on the loop's thread, counted. */
static void
test_outcomes_on_the_loop(void **state)
{
	struct fixture *f = *state;
	struct deliver *dl = deliver_new(f->base);
	char where[64];
	int i;

	send_to(f, dl, "/ok", 0);
	send_to(f, dl, "/busy", 1);
	send_to(f, dl, "/bad", 2);
	assert_int_equal(deliver_inflight(dl), 3);
	assert_int_equal(f->calls, 0);
	f->want_calls = 3;
	event_base_dispatch(f->base);
	assert_int_equal(f->calls, 3);
	assert_int_equal(f->off_thread, 0);
	assert_int_equal(f->results[RECEIVER_OK], 1);
	assert_int_equal(f->results[RECEIVER_RETRY], 1);
	assert_int_equal(f->results[RECEIVER_ERROR], 1);
	assert_int_equal(f->retry_after_ms, 7000);
	snprintf(where, sizeof(where), "http://127.0.0.1:%d", f->port);
	assert_string_equal(f->where, where);
	assert_int_equal(f->requests, 3);
	assert_int_equal(f->ids_ok, 3);
	assert_int_equal(deliver_inflight(dl), 0);

	/* more than the idle handles kept, handed over in one go */
	for (i = 0; i < 40; i++)
		send_to(f, dl, "/ok", 10 + i);
	assert_int_equal(deliver_inflight(dl), 40);
	f->want_calls = 43;
	event_base_dispatch(f->base);
	assert_int_equal(f->calls, 43);
	assert_int_equal(f->off_thread, 0);
	assert_int_equal(f->results[RECEIVER_OK], 41);
	assert_int_equal(f->ids_ok, 43);
	assert_int_equal(deliver_inflight(dl), 0);
	deliver_free(dl);
}

/* A config error calls back at once, on the caller's thread. */
static void
test_config_error_calls_back_at_once(void **state)
{
	struct fixture *f = *state;
	struct deliver *dl = deliver_new(f->base);
	struct sn_receiver rc = {0};
	struct notification n;

	rc.name = "hook";
	rc.type = "webhook";
	rc.url = "ftp://example.invalid/x";
	notify_init(&n, "hook", "group", NULL, "");
	deliver_send(dl, &rc, &n, "nid-x", on_done, f);
	rc.type = "carrier-pigeon";
	deliver_send(dl, &rc, &n, "nid-y", on_done, f);
	notify_free(&n);
	assert_int_equal(f->calls, 2);
	assert_int_equal(f->results[RECEIVER_ERROR], 2);
	assert_int_equal(f->off_thread, 0);
	assert_int_equal(deliver_inflight(dl), 0);
	deliver_free(dl);
	assert_int_equal(f->requests, 0);
}

/* deliver_free cancels requests the peer holds and ones never started,
 * without calling back. */
static void
test_free_cancels_in_flight(void **state)
{
	struct fixture *f = *state;
	struct deliver *dl = deliver_new(f->base);
	int i;

	for (i = 0; i < 5; i++)
		send_to(f, dl, "/hang", i);
	/* the peer has all five: they are in the thread's multi handle */
	f->want_requests = 5;
	event_base_dispatch(f->base);
	assert_int_equal(f->requests, 5);
	/* and some only queued */
	for (i = 0; i < 5; i++)
		send_to(f, dl, "/hang", 5 + i);
	assert_int_equal(deliver_inflight(dl), 10);
	deliver_free(dl);
	assert_int_equal(f->calls, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_outcomes_on_the_loop,
	                                        setup, teardown),
	        cmocka_unit_test_setup_teardown(
	                test_config_error_calls_back_at_once, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_free_cancels_in_flight,
	                                        setup, teardown),
	};

	log_init("test", LOG_LEVEL_ERROR, LOG_FORMAT_TEXT);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
