/*
 * validate.c: request bodies to validated events (see validate.h).
 *
 * Nothing here trusts its input: every allocation is checked and
 * answered with INGEST_ERR_NOMEM rather than an abort, because the body
 * comes from outside and a big one must not take the daemon down
 * (style.md 9).
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util.h"
#include "validate.h"

/*
 * The compact text of each event keeps 15 significant digits for reals:
 * enough that any decimal a client wrote with up to 15 digits (0.045)
 * comes back exactly as written, where jansson's default of 17 would
 * print 0.044999999999999998.  The numeric fields of struct sn_event
 * keep the exact doubles parsed.
 */
#define INGEST_DUMP_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(15))

int
ingest_body_kind_parse(const char *content_type, enum ingest_body_kind *kind)
{
	static const struct {
		const char *type;
		enum ingest_body_kind kind;
	} types[] = {
	        {"application/json", INGEST_BODY_JSON},
	        {"application/x-ndjson", INGEST_BODY_NDJSON},
	        {"application/ndjson", INGEST_BODY_NDJSON},
	};
	const char *p, *end;
	size_t len, i;

	if (content_type == NULL)
		return -1;
	for (p = content_type; *p == ' ' || *p == '\t'; p++)
		;
	for (end = p; *end && *end != ';' && *end != ' ' && *end != '\t'; end++)
		;
	len = (size_t)(end - p);
	/* Only whitespace may separate the media type from parameters. */
	while (*end == ' ' || *end == '\t')
		end++;
	if (*end != '\0' && *end != ';')
		return -1;
	for (i = 0; i < SN_ARRAY_LEN(types); i++) {
		if (strlen(types[i].type) == len &&
		    strncasecmp(p, types[i].type, len) == 0) {
			*kind = types[i].kind;
			return 0;
		}
	}
	return -1;
}

/* --- one event ----------------------------------------------------------- */

static void
ingest_set_str(struct sn_str *s, const json_t *v)
{
	s->p = json_string_value(v);
	s->len = (uint32_t)json_string_length(v);
}

/*
 * Reads a required non-empty string member.  Returns 0 with *out set,
 * or -1 with *reason set.
 */
static int
ingest_req_string(json_t *obj, const char *key, struct sn_str *out,
                  const char **reason)
{
	json_t *v = json_object_get(obj, key);

	if (v == NULL) {
		*reason = "is required";
		return -1;
	}
	if (!json_is_string(v)) {
		*reason = "must be a string";
		return -1;
	}
	if (json_string_length(v) == 0) {
		*reason = "must not be empty";
		return -1;
	}
	if (json_string_length(v) > UINT32_MAX) {
		*reason = "is too long";
		return -1;
	}
	ingest_set_str(out, v);
	return 0;
}

/* The well-known numeric members of data, with their field names. */
static const struct {
	const char *key;
	const char *field;
	uint32_t bit;
	size_t off; /* offset of the double in struct sn_event */
} ingest_numbers[] = {
        {"latency_ms", "data.latency_ms", SN_EV_LATENCY_MS,
         offsetof(struct sn_event, latency_ms)},
        {"total_tokens", "data.total_tokens", SN_EV_TOTAL_TOKENS,
         offsetof(struct sn_event, total_tokens)},
        {"prompt_tokens", "data.prompt_tokens", SN_EV_PROMPT_TOKENS,
         offsetof(struct sn_event, prompt_tokens)},
        {"completion_tokens", "data.completion_tokens", SN_EV_COMPLETION_TOKENS,
         offsetof(struct sn_event, completion_tokens)},
        {"cost", "data.cost", SN_EV_COST, offsetof(struct sn_event, cost)},
};

/*
 * Reads an optional string member of data (JSON null counts as absent).
 * Returns 0, or -1 when present with another type.
 */
static int
ingest_opt_string(json_t *data, const char *key, struct sn_str *out)
{
	json_t *v = json_object_get(data, key);

	out->p = "";
	out->len = 0;
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_string(v) || json_string_length(v) > UINT32_MAX)
		return -1;
	ingest_set_str(out, v);
	return 0;
}

int
ingest_validate_event(json_t *obj, struct sn_event *ev, const char **field,
                      const char **reason)
{
	json_t *ts, *data, *v;
	size_t i;
	double d;

	memset(ev, 0, sizeof(*ev));
	ev->model.p = ev->status.p = ev->json.p = "";
	if (!json_is_object(obj)) {
		*field = "event";
		*reason = "must be a JSON object";
		return -1;
	}

	*field = "event_id";
	if (ingest_req_string(obj, "event_id", &ev->event_id, reason) < 0)
		return -1;
	if (ev->event_id.len > SN_EVENT_ID_MAX) {
		*reason = "must be at most 128 bytes";
		return -1;
	}

	*field = "timestamp";
	if (ingest_req_string(obj, "timestamp", &ev->timestamp, reason) < 0)
		return -1;
	ts = json_object_get(obj, "timestamp");
	if (sn_rfc3339_parse(json_string_value(ts), json_string_length(ts),
	                     &ev->ts_ms) < 0) {
		*reason = "not an RFC 3339 timestamp";
		return -1;
	}

	*field = "event_type";
	if (ingest_req_string(obj, "event_type", &ev->event_type, reason) < 0)
		return -1;
	*field = "application_id";
	if (ingest_req_string(obj, "application_id", &ev->application_id,
	                      reason) < 0)
		return -1;

	*field = "data";
	if ((data = json_object_get(obj, "data")) == NULL) {
		*reason = "is required";
		return -1;
	}
	if (!json_is_object(data)) {
		*reason = "must be an object";
		return -1;
	}
	for (i = 0; i < SN_ARRAY_LEN(ingest_numbers); i++) {
		v = json_object_get(data, ingest_numbers[i].key);
		if (v == NULL || json_is_null(v))
			continue;
		/* jansson already refuses NaN, Infinity and 1e400. */
		d = json_is_number(v) ? json_number_value(v) : -1;
		if (!isfinite(d) || d < 0) {
			*field = ingest_numbers[i].field;
			*reason = "must be a non-negative number";
			return -1;
		}
		memcpy((char *)ev + ingest_numbers[i].off, &d, sizeof(d));
		ev->present |= ingest_numbers[i].bit;
	}
	if (ingest_opt_string(data, "status", &ev->status) < 0) {
		*field = "data.status";
		*reason = "must be a string";
		return -1;
	}
	if (ingest_opt_string(data, "model", &ev->model) < 0) {
		*field = "data.model";
		*reason = "must be a string";
		return -1;
	}
	*field = NULL;
	*reason = NULL;
	return 0;
}

/* --- the result lists ---------------------------------------------------- */

/* Grows an array of entries of size sz to hold one more; -1 on ENOMEM. */
static int
ingest_grow(void **arr, size_t *cap, size_t n, size_t sz)
{
	size_t ncap;
	void *p;

	if (n < *cap)
		return 0;
	ncap = *cap ? *cap * 2 : 16;
	if (ncap > SIZE_MAX / sz)
		return -1;
	if ((p = realloc(*arr, ncap * sz)) == NULL)
		return -1;
	*arr = p;
	*cap = ncap;
	return 0;
}

static void
ingest_clear_events(struct ingest_result *res)
{
	size_t i;

	for (i = 0; i < res->nevents; i++) {
		json_decref(res->events[i].obj);
		free(res->events[i].json);
	}
	res->nevents = 0;
}

void
ingest_result_free(struct ingest_result *res)
{
	ingest_clear_events(res);
	free(res->events);
	free(res->rejects);
	memset(res, 0, sizeof(*res));
}

/*
 * Makes a reason printable ASCII: jansson quotes the offending bytes of
 * the body in its messages ("invalid token near '...'"), and those may
 * be anything, while the reason goes back to the client inside JSON.
 */
static void
ingest_printable(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			*s = '?';
}

/* Ends the parse with a whole-body error; drops every event kept. */
static enum ingest_status ingest_fail(struct ingest_result *res,
                                      enum ingest_status st, const char *fmt,
                                      ...)
        __attribute__((format(printf, 3, 4)));

static enum ingest_status
ingest_fail(struct ingest_result *res, enum ingest_status st, const char *fmt,
            ...)
{
	va_list ap;

	ingest_clear_events(res);
	res->nrejects = 0;
	res->status = st;
	va_start(ap, fmt);
	vsnprintf(res->reason, sizeof(res->reason), fmt, ap);
	va_end(ap);
	ingest_printable(res->reason);
	return st;
}

/* Records a rejection of event index; -1 on ENOMEM. */
static int ingest_add_reject(struct ingest_result *res, uint32_t index,
                             json_t *obj, const char *field, const char *fmt,
                             ...) __attribute__((format(printf, 5, 6)));

static int
ingest_add_reject(struct ingest_result *res, uint32_t index, json_t *obj,
                  const char *field, const char *fmt, ...)
{
	struct ingest_reject *r;
	json_t *id;
	va_list ap;

	if (ingest_grow((void **)&res->rejects, &res->cap_rejects,
	                res->nrejects, sizeof(*res->rejects)) < 0)
		return -1;
	r = &res->rejects[res->nrejects++];
	memset(r, 0, sizeof(*r));
	r->index = index;
	r->field = field;
	/* Echo the id only when it is a valid one, so the answer stays
	 * small and well-formed whatever the client sent. */
	id = json_is_object(obj) ? json_object_get(obj, "event_id") : NULL;
	if (json_is_string(id) && json_string_length(id) > 0 &&
	    json_string_length(id) <= SN_EVENT_ID_MAX) {
		r->has_event_id = true;
		memcpy(r->event_id, json_string_value(id),
		       json_string_length(id));
	}
	va_start(ap, fmt);
	vsnprintf(r->reason, sizeof(r->reason), fmt, ap);
	va_end(ap);
	ingest_printable(r->reason);
	return 0;
}

/*
 * Validates obj (borrowed) as event index and files it as accepted or
 * rejected.  Returns 0, or -1 on ENOMEM.
 */
static int
ingest_take(struct ingest_result *res, uint32_t index, json_t *obj)
{
	struct ingest_event *e;
	const char *field, *reason;
	struct sn_event ev;
	size_t len;
	char *text;

	if (ingest_validate_event(obj, &ev, &field, &reason) < 0)
		return ingest_add_reject(res, index, obj, field, "%s", reason);
	if ((text = json_dumps(obj, INGEST_DUMP_FLAGS)) == NULL)
		return -1;
	if ((len = strlen(text)) > UINT32_MAX) {
		free(text);
		return ingest_add_reject(res, index, obj, "event", "too large");
	}
	if (ingest_grow((void **)&res->events, &res->cap_events, res->nevents,
	                sizeof(*res->events)) < 0) {
		free(text);
		return -1;
	}
	e = &res->events[res->nevents++];
	e->obj = json_incref(obj);
	e->json = text;
	e->ev = ev;
	e->ev.json.p = text;
	e->ev.json.len = (uint32_t)len;
	e->index = index;
	return 0;
}

/* --- bodies -------------------------------------------------------------- */

static bool
ingest_blank(const char *p, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r' && p[i] != '\n')
			return false;
	return true;
}

static enum ingest_status
ingest_parse_json(const char *body, size_t len, uint32_t max_events,
                  struct ingest_result *res)
{
	json_error_t err;
	json_t *root;
	size_t i, n;

	root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &err);
	if (root == NULL)
		return ingest_fail(res, INGEST_ERR_JSON,
		                   "%s at line %d column %d", err.text,
		                   err.line, err.column);
	if (json_is_object(root)) {
		res->total = 1;
		if (ingest_take(res, 0, root) < 0) {
			json_decref(root);
			return ingest_fail(res, INGEST_ERR_NOMEM,
			                   "out of memory");
		}
		json_decref(root);
		return INGEST_OK;
	}
	/* Without JSON_DECODE_ANY the root is an object or an array. */
	res->batch = true;
	n = json_array_size(root);
	if (n == 0) {
		json_decref(root);
		return ingest_fail(res, INGEST_ERR_EMPTY,
		                   "the array holds no events");
	}
	if (n > max_events) {
		json_decref(root);
		return ingest_fail(res, INGEST_ERR_TOO_MANY,
		                   "%zu events, at most %u allowed", n,
		                   max_events);
	}
	res->total = (uint32_t)n;
	for (i = 0; i < n; i++) {
		if (ingest_take(res, (uint32_t)i, json_array_get(root, i)) <
		    0) {
			json_decref(root);
			return ingest_fail(res, INGEST_ERR_NOMEM,
			                   "out of memory");
		}
	}
	json_decref(root);
	return INGEST_OK;
}

static enum ingest_status
ingest_parse_ndjson(const char *body, size_t len, uint32_t max_events,
                    struct ingest_result *res)
{
	const char *p, *end = body + len, *nl;
	json_error_t err;
	size_t n = 0, llen;
	uint32_t index = 0;
	int lineno = 0;
	json_t *obj;
	int rc;

	res->batch = true;
	/* Count first, so an oversized body is refused before parsing. */
	for (p = body; p < end; p = nl + 1) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		if (!ingest_blank(p, (size_t)(nl - p)))
			n++;
	}
	if (n == 0)
		return ingest_fail(res, INGEST_ERR_EMPTY,
		                   "the body holds no events");
	if (n > max_events)
		return ingest_fail(res, INGEST_ERR_TOO_MANY,
		                   "%zu events, at most %u allowed", n,
		                   max_events);
	res->total = (uint32_t)n;
	for (p = body; p < end; p = nl + 1) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		lineno++;
		llen = (size_t)(nl - p);
		if (ingest_blank(p, llen))
			continue;
		obj = json_loadb(p, llen, JSON_REJECT_DUPLICATES, &err);
		if (obj == NULL)
			rc = ingest_add_reject(res, index, NULL, "event",
			                       "invalid JSON: %s at line %d "
			                       "column %d",
			                       err.text, lineno, err.column);
		else
			rc = ingest_take(res, index, obj);
		json_decref(obj);
		if (rc < 0)
			return ingest_fail(res, INGEST_ERR_NOMEM,
			                   "out of memory");
		index++;
	}
	return INGEST_OK;
}

enum ingest_status
ingest_parse_body(const char *body, size_t len, enum ingest_body_kind kind,
                  uint32_t max_events, struct ingest_result *res)
{
	res->status = INGEST_OK;
	res->limit = max_events;
	res->reason[0] = '\0';
	if (body == NULL || ingest_blank(body, len))
		return ingest_fail(res, INGEST_ERR_EMPTY, "the body is empty");
	if (kind == INGEST_BODY_NDJSON)
		return ingest_parse_ndjson(body, len, max_events, res);
	return ingest_parse_json(body, len, max_events, res);
}
