/*
 * detctl.c: detectd's control endpoint (see detctl.h).
 *
 * Requests come from the operator's CLI: untrusted input, answered with
 * {"ok":false,...} when malformed and never fatal (style.md 9).  The rep
 * socket's receive descriptor is watched by the loop; each request is
 * answered at once (engine calls are quick), so nng's threads never
 * touch the engine.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>

#include "detctl.h"
#include "engine.h"
#include "log.h"
#include "util.h"
#include "validate.h"

struct detctl {
	nng_socket sock;
	struct event *ev;
	struct engine **engine;
	uint64_t requests, bad; /* answered, of which refused */
};

static char *
detctl_dump(json_t *reply)
{
	char *s = json_dumps(reply, JSON_COMPACT);

	json_decref(reply);
	if (s == NULL)
		s = sn_xstrdup("{\"ok\":false,\"error\":\"out of memory\"}");
	return s;
}

static char *detctl_error(const char *fmt, ...)
        __attribute__((format(printf, 1, 2)));

static char *
detctl_error(const char *fmt, ...)
{
	char msg[300];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return detctl_dump(json_pack("{s:b, s:s}", "ok", 0, "error", msg));
}

static json_t *
detctl_ms(int64_t ms)
{
	return ms == INT64_MIN ? json_null() : json_integer(ms);
}

static char *
detctl_list(struct engine *e)
{
	struct engine_det_info in;
	json_t *arr = json_array(), *o;
	size_t i;

	for (i = 0; i < engine_detector_count(e); i++) {
		engine_detector_info(e, i, &in);
		o = json_pack(
		        "{s:s, s:s, s:b, s:b, s:I, s:I, s:I, s:I, s:I, "
		        "s:I, s:I, s:I}",
		        "id", in.id ? in.id : "", "type",
		        in.type ? in.type : "", "enabled", in.enabled,
		        "running", in.running, "groups", (json_int_t)in.groups,
		        "events", (json_int_t)in.events, "anomalies",
		        (json_int_t)in.anomalies, "resolved",
		        (json_int_t)in.resolved, "late", (json_int_t)in.late,
		        "evicted", (json_int_t)in.evicted, "suppressed",
		        (json_int_t)in.suppressed, "state_bytes",
		        (json_int_t)in.state_bytes);
		if (o == NULL)
			continue;
		json_object_set_new(o, "why",
		                    in.why ? json_string(in.why) : json_null());
		json_array_append_new(arr, o);
	}
	return detctl_dump(json_pack(
	        "{s:b, s:o, s:o, s:o}", "ok", 1, "watermark",
	        detctl_ms(engine_watermark(e)), "max_event_time",
	        detctl_ms(engine_max_event_time(e)), "detectors", arr));
}

static char *
detctl_test(struct engine *e, json_t *req)
{
	json_t *id = json_object_get(req, "id");
	json_t *obj = json_object_get(req, "event"), *res;
	const char *field, *reason, *err = NULL;
	struct sn_event ev;
	char *text;

	if (!json_is_string(id))
		return detctl_error("detectors.test needs \"id\", a string");
	if (!json_is_object(obj))
		return detctl_error("detectors.test needs \"event\", an "
		                    "object");
	if (ingest_validate_event(obj, &ev, &field, &reason) < 0)
		return detctl_error("invalid event: %s %s", field, reason);
	if ((text = json_dumps(obj, JSON_COMPACT)) == NULL)
		return detctl_error("out of memory");
	ev.json.p = text;
	ev.json.len = (uint32_t)strlen(text);
	ev.recv_ms = sn_now_ms();
	res = engine_test(e, json_string_value(id), &ev, &err);
	free(text);
	if (res == NULL)
		return detctl_error("%s: %s", json_string_value(id),
		                    err ? err : "cannot test");
	return detctl_dump(json_pack("{s:b, s:o}", "ok", 1, "result", res));
}

char *
detctl_handle(struct engine *e, const char *req, size_t len)
{
	json_error_t jerr;
	json_t *j, *cmd;
	const char *c;
	char *reply;

	j = json_loadb(req, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!json_is_object(j)) {
		json_decref(j);
		return detctl_error("request is not a JSON object");
	}
	cmd = json_object_get(j, "command");
	c = json_string_value(cmd);
	if (c == NULL)
		reply = detctl_error("request has no \"command\"");
	else if (strcmp(c, "detectors.list") == 0)
		reply = detctl_list(e);
	else if (strcmp(c, "detectors.test") == 0)
		reply = detctl_test(e, j);
	else
		reply = detctl_error("unknown command: %.64s", c);
	json_decref(j);
	return reply;
}

static void
detctl_readable(evutil_socket_t fd, short what, void *arg)
{
	struct detctl *ctl = arg;
	nng_msg *m;
	char *reply;
	size_t len;
	int rv;

	(void)fd;
	(void)what;
	/* rep answers one request at a time: take what waits. */
	while ((rv = nng_recvmsg(ctl->sock, &m, NNG_FLAG_NONBLOCK)) == 0) {
		reply = detctl_handle(*ctl->engine, nng_msg_body(m),
		                      nng_msg_len(m));
		ctl->requests++;
		if (strncmp(reply, "{\"ok\":false", 11) == 0)
			ctl->bad++;
		len = strlen(reply);
		nng_msg_clear(m);
		if (nng_msg_append(m, reply, len) != 0 ||
		    (rv = nng_sendmsg(ctl->sock, m, NNG_FLAG_NONBLOCK)) != 0) {
			log_warnx("control: cannot answer a request");
			nng_msg_free(m);
		}
		free(reply);
	}
	if (rv != NNG_EAGAIN && rv != NNG_ECLOSED)
		log_warnx("control receive: %s", nng_strerror(rv));
}

struct detctl *
detctl_listen(struct event_base *base, const char *url, struct engine **engine)
{
	struct detctl *ctl;
	nng_socket s;
	int fd, rv;

	if ((rv = nng_rep0_open(&s)) != 0) {
		log_warnx("control %s: open: %s", url, nng_strerror(rv));
		return NULL;
	}
	nng_socket_set_size(s, NNG_OPT_RECVMAXSZ, DETCTL_MAX_REQUEST);
	/* A stale socket file of a killed predecessor would make the
	 * listen fail; the run_dir is ours (the supervisor's lock). */
	if (strncmp(url, "ipc://", 6) == 0)
		unlink(url + 6);
	if ((rv = nng_listen(s, url, NULL, 0)) != 0 ||
	    (rv = nng_socket_get_int(s, NNG_OPT_RECVFD, &fd)) != 0) {
		log_warnx("control %s: listen: %s", url, nng_strerror(rv));
		nng_close(s);
		return NULL;
	}
	ctl = sn_xcalloc(1, sizeof(*ctl));
	ctl->sock = s;
	ctl->engine = engine;
	ctl->ev =
	        event_new(base, fd, EV_READ | EV_PERSIST, detctl_readable, ctl);
	if (ctl->ev == NULL || event_add(ctl->ev, NULL) < 0)
		fatalx("control: cannot watch receive descriptor");
	return ctl;
}

void
detctl_free(struct detctl *c)
{
	if (c == NULL)
		return;
	event_free(c->ev);
	nng_close(c->sock);
	free(c);
}
