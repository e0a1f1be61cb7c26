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
#define INGEST_DUMP_FLAGS       (JSON_COMPACT | JSON_REAL_PRECISION(15))
#define INGEST_DUMP_FLAGS_EXACT (JSON_COMPACT | JSON_REAL_PRECISION(17))
#define INGEST_DUMP_OVERFLOW    "1.79769313486232e308"

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

/* Sets f to a static reason; returns -1 for the caller to pass on. */
static int
ingest_fault(struct ingest_fault *f, enum ingest_reject_kind kind,
             const char *field, const char *reason)
{
	f->kind = kind;
	f->field = field;
	f->reason = reason;
	return -1;
}

/*
 * Reads a required non-empty string member of at most max bytes
 * (too_long says so).  Returns 0 with *out set, or -1 with f set.
 */
static int
ingest_req_string(json_t *obj, const char *key, size_t max,
                  const char *too_long, struct sn_str *out,
                  struct ingest_fault *f)
{
	json_t *v = json_object_get(obj, key);

	if (v == NULL)
		return ingest_fault(f, INGEST_REJ_INVALID, key, "is required");
	if (!json_is_string(v))
		return ingest_fault(f, INGEST_REJ_INVALID, key,
		                    "must be a string");
	if (json_string_length(v) == 0)
		return ingest_fault(f, INGEST_REJ_INVALID, key,
		                    "must not be empty");
	if (json_string_length(v) > max)
		return ingest_fault(f, INGEST_REJ_TOO_LONG, key, too_long);
	ingest_set_str(out, v);
	return 0;
}

/*
 * The well-known numeric members of data, with their field names and
 * the largest value that is not absurd: a bigger one is a unit mix-up
 * (seconds for milliseconds, micro-dollars) or garbage, and would wreck
 * every statistic it joins.
 */
static const struct {
	const char *key;
	const char *field;
	uint32_t bit;
	size_t off; /* offset of the double in struct sn_event */
	double max;
	const char *too_big;
} ingest_numbers[] = {
        {"latency_ms", "data.latency_ms", SN_EV_LATENCY_MS,
         offsetof(struct sn_event, latency_ms), INGEST_LATENCY_MAX,
         "must be at most 86400000 (24 hours)"},
        {"total_tokens", "data.total_tokens", SN_EV_TOTAL_TOKENS,
         offsetof(struct sn_event, total_tokens), INGEST_TOKENS_MAX,
         "must be at most 1000000000"},
        {"prompt_tokens", "data.prompt_tokens", SN_EV_PROMPT_TOKENS,
         offsetof(struct sn_event, prompt_tokens), INGEST_TOKENS_MAX,
         "must be at most 1000000000"},
        {"completion_tokens", "data.completion_tokens", SN_EV_COMPLETION_TOKENS,
         offsetof(struct sn_event, completion_tokens), INGEST_TOKENS_MAX,
         "must be at most 1000000000"},
        {"cost", "data.cost", SN_EV_COST, offsetof(struct sn_event, cost),
         INGEST_COST_MAX, "must be at most 1000000"},
};

/*
 * Reads an optional string member of data of at most INGEST_IDENT_MAX
 * bytes (JSON null counts as absent).  Returns 0, or -1 with f set.
 */
static int
ingest_opt_string(json_t *data, const char *key, const char *field,
                  struct sn_str *out, struct ingest_fault *f)
{
	json_t *v = json_object_get(data, key);

	out->p = "";
	out->len = 0;
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return ingest_fault(f, INGEST_REJ_INVALID, field,
		                    "must be a string");
	if (json_string_length(v) > INGEST_IDENT_MAX)
		return ingest_fault(f, INGEST_REJ_TOO_LONG, field,
		                    "must be at most 256 bytes");
	ingest_set_str(out, v);
	return 0;
}

/*
 * Checks the shape of v, found depth levels deep (the event object is
 * level 1): objects and arrays no deeper than INGEST_DEPTH_MAX, strings
 * and keys no longer than INGEST_STRING_MAX.  The recursion is bounded
 * by the depth limit.  Returns 0, or -1 with f's kind and reason set
 * (the caller names the field).
 */
static int
ingest_check_shape(json_t *v, int depth, struct ingest_fault *f)
{
	const char *key;
	json_t *m;
	size_t i;

	switch (json_typeof(v)) {
	case JSON_OBJECT:
		if (depth > INGEST_DEPTH_MAX)
			return ingest_fault(f, INGEST_REJ_TOO_DEEP, NULL,
			                    "nests deeper than 32 levels");
		json_object_foreach(v, key, m)
		{
			if (strlen(key) > INGEST_STRING_MAX)
				return ingest_fault(f, INGEST_REJ_TOO_LONG,
				                    NULL,
				                    "holds a key longer than "
				                    "65536 bytes");
			if (ingest_check_shape(m, depth + 1, f) < 0)
				return -1;
		}
		return 0;
	case JSON_ARRAY:
		if (depth > INGEST_DEPTH_MAX)
			return ingest_fault(f, INGEST_REJ_TOO_DEEP, NULL,
			                    "nests deeper than 32 levels");
		json_array_foreach(v, i, m)
		{
			if (ingest_check_shape(m, depth + 1, f) < 0)
				return -1;
		}
		return 0;
	case JSON_STRING:
		if (json_string_length(v) > INGEST_STRING_MAX)
			return ingest_fault(f, INGEST_REJ_TOO_LONG, NULL,
			                    "holds a string longer than 65536 "
			                    "bytes");
		return 0;
	default:
		return 0;
	}
}

/*
 * The shape of every member of the event, named "data" for data and
 * "event" for the rest (a key too long is the event's).
 */
static int
ingest_check_members(json_t *obj, struct ingest_fault *f)
{
	const char *key;
	json_t *m;

	json_object_foreach(obj, key, m)
	{
		if (strlen(key) > INGEST_STRING_MAX)
			return ingest_fault(f, INGEST_REJ_TOO_LONG, "event",
			                    "holds a key longer than 65536 "
			                    "bytes");
		if (ingest_check_shape(m, 2, f) < 0) {
			f->field = strcmp(key, "data") == 0 ? "data" : "event";
			return -1;
		}
	}
	return 0;
}

/* The timestamp against o's window; -1 with f set (reason in f->buf). */
static int
ingest_check_window(const struct ingest_opts *o, int64_t ts_ms,
                    struct ingest_fault *f)
{
	char d[32];

	if (o->max_age_ms > 0 && ts_ms < o->now_ms &&
	    o->now_ms - ts_ms > o->max_age_ms) {
		sn_duration_format(o->max_age_ms, d, sizeof(d));
		snprintf(f->buf, sizeof(f->buf),
		         "is more than %s in the past "
		         "(ingestion.accept.max_age)",
		         d);
	} else if (ts_ms > o->now_ms && ts_ms - o->now_ms > o->max_future_ms) {
		sn_duration_format(o->max_future_ms, d, sizeof(d));
		snprintf(f->buf, sizeof(f->buf),
		         "is more than %s in the future "
		         "(ingestion.accept.max_future)",
		         d);
	} else
		return 0;
	return ingest_fault(f, INGEST_REJ_WINDOW, "timestamp", f->buf);
}

/* data: an object of at most INGEST_FIELDS_MAX members, its well-known
 * numbers in range and its identifiers short strings. */
static int
ingest_check_data(json_t *data, struct sn_event *ev, struct ingest_fault *f)
{
	json_t *v;
	size_t i;
	double d;

	if (data == NULL)
		return ingest_fault(f, INGEST_REJ_INVALID, "data",
		                    "is required");
	if (!json_is_object(data))
		return ingest_fault(f, INGEST_REJ_INVALID, "data",
		                    "must be an object");
	if (json_object_size(data) > INGEST_FIELDS_MAX)
		return ingest_fault(f, INGEST_REJ_FIELDS, "data",
		                    "has more than 256 fields");
	for (i = 0; i < SN_ARRAY_LEN(ingest_numbers); i++) {
		v = json_object_get(data, ingest_numbers[i].key);
		if (v == NULL || json_is_null(v))
			continue;
		/* jansson already refuses NaN, Infinity and 1e400. */
		d = json_is_number(v) ? json_number_value(v) : -1;
		if (!isfinite(d) || d < 0)
			return ingest_fault(f, INGEST_REJ_INVALID,
			                    ingest_numbers[i].field,
			                    "must be a non-negative number");
		if (d > ingest_numbers[i].max)
			return ingest_fault(f, INGEST_REJ_RANGE,
			                    ingest_numbers[i].field,
			                    ingest_numbers[i].too_big);
		memcpy((char *)ev + ingest_numbers[i].off, &d, sizeof(d));
		ev->present |= ingest_numbers[i].bit;
	}
	if (ingest_opt_string(data, "status", "data.status", &ev->status, f) <
	    0)
		return -1;
	return ingest_opt_string(data, "model", "data.model", &ev->model, f);
}

int
ingest_check_event(json_t *obj, const struct ingest_opts *o,
                   struct sn_event *ev, struct ingest_fault *f)
{
	json_t *ts;

	memset(ev, 0, sizeof(*ev));
	ev->model.p = ev->status.p = ev->json.p = "";
	f->buf[0] = '\0';
	if (!json_is_object(obj))
		return ingest_fault(f, INGEST_REJ_INVALID, "event",
		                    "must be a JSON object");
	/* The shape first: the rules below may then trust it. */
	if (ingest_check_members(obj, f) < 0)
		return -1;
	if (ingest_req_string(obj, "event_id", SN_EVENT_ID_MAX,
	                      "must be at most 128 bytes", &ev->event_id,
	                      f) < 0)
		return -1;
	/* Its length is bounded by the shape check; the parse decides. */
	if (ingest_req_string(obj, "timestamp", INGEST_STRING_MAX,
	                      "not an RFC 3339 timestamp", &ev->timestamp,
	                      f) < 0)
		return -1;
	ts = json_object_get(obj, "timestamp");
	if (sn_rfc3339_parse(json_string_value(ts), json_string_length(ts),
	                     &ev->ts_ms) < 0)
		return ingest_fault(f, INGEST_REJ_INVALID, "timestamp",
		                    "not an RFC 3339 timestamp");
	if (o != NULL && o->window && ingest_check_window(o, ev->ts_ms, f) < 0)
		return -1;
	if (ingest_req_string(obj, "event_type", INGEST_IDENT_MAX,
	                      "must be at most 256 bytes", &ev->event_type,
	                      f) < 0 ||
	    ingest_req_string(obj, "application_id", INGEST_IDENT_MAX,
	                      "must be at most 256 bytes", &ev->application_id,
	                      f) < 0)
		return -1;
	if (ingest_check_data(json_object_get(obj, "data"), ev, f) < 0)
		return -1;
	f->field = NULL;
	f->reason = NULL;
	return 0;
}

int
ingest_validate_event(json_t *obj, struct sn_event *ev, const char **field,
                      const char **reason)
{
	struct ingest_fault f;
	int rc;

	/* Without a window every reason is a static string. */
	rc = ingest_check_event(obj, NULL, ev, &f);
	*field = f.field;
	*reason = f.reason;
	return rc;
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
                             json_t *obj, enum ingest_reject_kind kind,
                             const char *field, const char *fmt, ...)
        __attribute__((format(printf, 6, 7)));

static int
ingest_add_reject(struct ingest_result *res, uint32_t index, json_t *obj,
                  enum ingest_reject_kind kind, const char *field,
                  const char *fmt, ...)
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
	r->kind = kind;
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
ingest_take(struct ingest_result *res, const struct ingest_opts *o,
            uint32_t index, json_t *obj, const char *raw, size_t rawlen)
{
	struct ingest_event *e;
	struct ingest_fault f;
	struct sn_event ev;
	size_t len;
	char *text;
	bool dumped;

	if (ingest_check_event(obj, o, &ev, &f) < 0)
		return ingest_add_reject(res, index, obj, f.kind, f.field, "%s",
		                         f.reason);
	/*
	 * The event travels on as the client wrote it: the bytes of its
	 * value in the body (jansson read them, so they are valid JSON).
	 * Copying them costs a fraction of serialising the tree again,
	 * which was a third of the parser's time.  A value spread over
	 * several lines is written again compactly, so that an event is
	 * always one line, and so is one holding a NUL byte between its
	 * tokens (jansson reads past one; the text must be a C string).
	 */
	dumped = raw == NULL || memchr(raw, '\n', rawlen) != NULL ||
	         memchr(raw, '\r', rawlen) != NULL ||
	         memchr(raw, '\0', rawlen) != NULL;
	if (!dumped) {
		if ((text = malloc(rawlen + 1)) == NULL)
			return -1;
		memcpy(text, raw, rawlen);
		text[rawlen] = '\0';
	} else if ((text = json_dumps(obj, INGEST_DUMP_FLAGS)) == NULL) {
		return -1;
	}
	/*
	 * 15 digits round the largest reals (above 1.797693134862315e308)
	 * up past DBL_MAX, to this text, which no JSON parser reads back:
	 * such an event keeps the 17 digits that always do (found by
	 * test/fuzz/fuzz_event.c).
	 */
	if (dumped && strstr(text, INGEST_DUMP_OVERFLOW) != NULL) {
		free(text);
		if ((text = json_dumps(obj, INGEST_DUMP_FLAGS_EXACT)) == NULL)
			return -1;
	}
	if ((len = strlen(text)) > UINT32_MAX) {
		free(text);
		return ingest_add_reject(res, index, obj, INGEST_REJ_TOO_LONG,
		                         "event", "too large");
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

static const char *
ingest_skip_blank(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
		p++;
	return p;
}

/* Narrows [*p, *p + *len) to its text without blanks around it. */
static void
ingest_trim(const char **p, size_t *len)
{
	const char *b = ingest_skip_blank(*p, *p + *len), *e = *p + *len;

	while (e > b && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' ||
	                 e[-1] == '\n'))
		e--;
	*p = b;
	*len = (size_t)(e - b);
}

/*
 * The end of the JSON value starting at p, in text jansson has read
 * whole (so valid JSON: no checks beyond staying inside end).
 */
static const char *
ingest_value_end(const char *p, const char *end)
{
	int depth = 0;

	for (; p < end; p++) {
		switch (*p) {
		case '"':
			for (p++; p < end && *p != '"'; p++)
				if (*p == '\\')
					p++;
			if (depth == 0)
				return p < end ? p + 1 : end;
			break;
		case '{':
		case '[':
			depth++;
			break;
		case '}':
		case ']':
			if (depth == 0)
				return p; /* the array's end after a scalar */
			if (--depth == 0)
				return p + 1;
			break;
		case ',':
		case ' ':
		case '\t':
		case '\r':
		case '\n':
			if (depth == 0)
				return p;
			break;
		}
	}
	return end;
}

/*
 * Where each of the n values of the array that is the whole body
 * starts, and its length.  Returns 0, or -1 when the text does not
 * split into n values (the caller then serialises each value again).
 */
static int
ingest_array_spans(const char *body, size_t len, size_t n, const char **at,
                   size_t *alen)
{
	const char *p = body, *end = body + len, *e;
	size_t i;

	p = ingest_skip_blank(p, end);
	if (p == end || *p++ != '[')
		return -1;
	for (i = 0; i < n; i++) {
		p = ingest_skip_blank(p, end);
		if (p == end)
			return -1;
		e = ingest_value_end(p, end);
		if (e == p)
			return -1;
		at[i] = p;
		alen[i] = (size_t)(e - p);
		p = ingest_skip_blank(e, end);
		if (p < end && *p == ',')
			p++;
		else if (i + 1 < n)
			return -1;
	}
	return p < end && *p == ']' ? 0 : -1;
}

static enum ingest_status
ingest_parse_json(const char *body, size_t len, const struct ingest_opts *o,
                  struct ingest_result *res)
{
	uint32_t max_events = o->max_events;
	json_error_t err;
	json_t *root;
	const char **at;
	size_t i, n, *alen;
	bool whole;

	root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &err);
	if (root == NULL)
		return ingest_fail(res, INGEST_ERR_JSON,
		                   "%s at line %d column %d", err.text,
		                   err.line, err.column);
	if (json_is_object(root)) {
		const char *p = body;
		size_t plen = len;

		ingest_trim(&p, &plen);
		res->total = 1;
		if (ingest_take(res, o, 0, root, p, plen) < 0) {
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
	at = malloc(n * sizeof(*at));
	alen = malloc(n * sizeof(*alen));
	if (at == NULL || alen == NULL) {
		free(at);
		free(alen);
		json_decref(root);
		return ingest_fail(res, INGEST_ERR_NOMEM, "out of memory");
	}
	whole = ingest_array_spans(body, len, n, at, alen) == 0;
	for (i = 0; i < n; i++) {
		if (ingest_take(res, o, (uint32_t)i, json_array_get(root, i),
		                whole ? at[i] : NULL,
		                whole ? alen[i] : 0) < 0) {
			free(at);
			free(alen);
			json_decref(root);
			return ingest_fail(res, INGEST_ERR_NOMEM,
			                   "out of memory");
		}
	}
	free(at);
	free(alen);
	json_decref(root);
	return INGEST_OK;
}

static enum ingest_status
ingest_parse_ndjson(const char *body, size_t len, const struct ingest_opts *o,
                    struct ingest_result *res)
{
	uint32_t max_events = o->max_events;
	const char *p, *end = body + len, *nl, *v;
	json_error_t err;
	size_t n = 0, llen, vlen;
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
		v = p;
		vlen = llen;
		ingest_trim(&v, &vlen);
		if (obj == NULL)
			rc = ingest_add_reject(res, index, NULL,
			                       INGEST_REJ_JSON, "event",
			                       "invalid JSON: %s at line %d "
			                       "column %d",
			                       err.text, lineno, err.column);
		else
			rc = ingest_take(res, o, index, obj, v, vlen);
		json_decref(obj);
		if (rc < 0)
			return ingest_fail(res, INGEST_ERR_NOMEM,
			                   "out of memory");
		index++;
	}
	return INGEST_OK;
}

enum ingest_status
ingest_parse(const char *body, size_t len, enum ingest_body_kind kind,
             const struct ingest_opts *o, struct ingest_result *res)
{
	res->status = INGEST_OK;
	res->limit = o->max_events;
	res->reason[0] = '\0';
	if (body == NULL || ingest_blank(body, len))
		return ingest_fail(res, INGEST_ERR_EMPTY, "the body is empty");
	if (kind == INGEST_BODY_NDJSON)
		return ingest_parse_ndjson(body, len, o, res);
	return ingest_parse_json(body, len, o, res);
}

enum ingest_status
ingest_parse_body(const char *body, size_t len, enum ingest_body_kind kind,
                  uint32_t max_events, struct ingest_result *res)
{
	struct ingest_opts o = {.max_events = max_events};

	return ingest_parse(body, len, kind, &o, res);
}
