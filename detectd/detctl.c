/*
 * detctl.c: detectd's control endpoint (see detctl.h).
 *
 * The socket, request parsing and error answers are common/ctl.c's;
 * here are detectd's two commands.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ctl.h"
#include "detctl.h"
#include "engine.h"
#include "log.h"
#include "util.h"
#include "validate.h"

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
	return ctl_reply(json_pack(
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
		return ctl_error("detectors.test needs \"id\", a string");
	if (!json_is_object(obj))
		return ctl_error("detectors.test needs \"event\", an "
		                 "object");
	if (ingest_validate_event(obj, &ev, &field, &reason) < 0)
		return ctl_error("invalid event: %s %s", field, reason);
	if ((text = json_dumps(obj, JSON_COMPACT)) == NULL)
		return ctl_error("out of memory");
	ev.json.p = text;
	ev.json.len = (uint32_t)strlen(text);
	ev.recv_ms = sn_now_ms();
	res = engine_test(e, json_string_value(id), &ev, &err);
	free(text);
	if (res == NULL)
		return ctl_error("%s: %s", json_string_value(id),
		                 err ? err : "cannot test");
	return ctl_reply(json_pack("{s:b, s:o}", "ok", 1, "result", res));
}

/* ctl_handler: arg is the daemon's engine pointer, which a reload
 * replaces. */
static char *
detctl_dispatch(const char *command, json_t *req, void *arg)
{
	struct engine *e = *(struct engine **)arg;

	if (strcmp(command, "detectors.list") == 0)
		return detctl_list(e);
	if (strcmp(command, "detectors.test") == 0)
		return detctl_test(e, req);
	return NULL;
}

char *
detctl_handle(struct engine *e, const char *req, size_t len)
{
	return ctl_handle(req, len, detctl_dispatch, &e);
}

struct ctl_server *
detctl_listen(struct event_base *base, const char *url, struct engine **engine)
{
	return ctl_listen(base, url, DETCTL_MAX_REQUEST, detctl_dispatch,
	                  engine);
}
