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

#include "jscan.h"
#include "util.h"
#include "validate.h"

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

/*
 * One event as the scanner walks it (common/jscan.c): the members the
 * rules look at, kept as views into the text, and the first fault of
 * its shape.  The rules then run in their fixed order on what was
 * found, when the event's closing brace is reached.
 */
enum {
	INGEST_F_EVENT_ID,
	INGEST_F_TIMESTAMP,
	INGEST_F_EVENT_TYPE,
	INGEST_F_APPLICATION_ID,
	INGEST_F_DATA,
	INGEST_F_STATUS, /* data.status */
	INGEST_F_MODEL,  /* data.model */
	INGEST_F_NUMBER, /* data's numbers, in ingest_numbers' order */
	INGEST_F_COUNT = INGEST_F_NUMBER + 5,
};

struct ingest_field {
	enum jscan_type type; /* 0: absent */
	struct jscan_str str;
	const char *start, *stop;
	int64_t integer;
};

struct ingest_acc {
	const char *start, *stop; /* the event's text */
	bool object;              /* the event is an object */
	bool in_data;             /* inside the data object */
	bool top_is_data;         /* inside the member named data */
	bool fault;               /* kind, field and reason hold the first */
	bool breaks;              /* its text holds line breaks or NULs */
	uint64_t breaks0;         /* the scanner's count at its start */
	enum ingest_reject_kind kind;
	const char *field, *reason;
	uint32_t data_members;
	struct ingest_field f[INGEST_F_COUNT];
};

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

#define INGEST_IS(k, lit) jscan_str_is((k), lit, sizeof(lit) - 1)

static void
ingest_acc_begin(struct ingest_acc *a, const struct jscan_item *it)
{
	int i;

	/* only what is read before being set */
	for (i = 0; i < INGEST_F_COUNT; i++)
		a->f[i].type = 0;
	a->in_data = a->top_is_data = a->fault = a->breaks = false;
	a->data_members = 0;
	a->start = it->start;
	a->stop = it->stop;
	a->object = it->type == JSCAN_OBJECT;
}

static void
ingest_acc_set(struct ingest_acc *a, int i, const struct jscan_item *it)
{
	struct ingest_field *f = &a->f[i];

	f->type = it->type;
	f->str = it->str;
	f->start = it->start;
	f->stop = it->stop;
	f->integer = it->integer;
}

/* Which member of the event a key names, or -1. */
static int
ingest_top_key(const struct jscan_str *k)
{
	switch (k->len) {
	case 4:
		return INGEST_IS(k, "data") ? INGEST_F_DATA : -1;
	case 8:
		return INGEST_IS(k, "event_id") ? INGEST_F_EVENT_ID : -1;
	case 9:
		return INGEST_IS(k, "timestamp") ? INGEST_F_TIMESTAMP : -1;
	case 10:
		return INGEST_IS(k, "event_type") ? INGEST_F_EVENT_TYPE : -1;
	case 14:
		return INGEST_IS(k, "application_id") ? INGEST_F_APPLICATION_ID
		                                      : -1;
	default:
		return -1;
	}
}

/* Which member of data a key names, or -1. */
static int
ingest_data_key(const struct jscan_str *k)
{
	switch (k->len) {
	case 4:
		return INGEST_IS(k, "cost") ? INGEST_F_NUMBER + 4 : -1;
	case 5:
		return INGEST_IS(k, "model") ? INGEST_F_MODEL : -1;
	case 6:
		return INGEST_IS(k, "status") ? INGEST_F_STATUS : -1;
	case 10:
		return INGEST_IS(k, "latency_ms") ? INGEST_F_NUMBER : -1;
	case 12:
		return INGEST_IS(k, "total_tokens") ? INGEST_F_NUMBER + 1 : -1;
	case 13:
		return INGEST_IS(k, "prompt_tokens") ? INGEST_F_NUMBER + 2 : -1;
	case 17:
		return INGEST_IS(k, "completion_tokens") ? INGEST_F_NUMBER + 3
		                                         : -1;
	default:
		return -1;
	}
}

static void
ingest_acc_fault(struct ingest_acc *a, enum ingest_reject_kind kind,
                 const char *field, const char *reason)
{
	a->fault = true;
	a->kind = kind;
	a->field = field;
	a->reason = reason;
}

/*
 * One item inside the event; rel is its level, the event's members
 * being 2.  The shape rules (nesting, string and key lengths) are
 * checked in the order of the text, which is the order the rules have
 * always been checked in, so the first fault is the same one.
 */
static void
ingest_acc_item(struct ingest_acc *a, const struct jscan_item *it, int rel)
{
	const char *field;
	int i;

	if (it->end) {
		if (rel == 2)
			a->in_data = false;
		return;
	}
	if (rel == 2) {
		i = ingest_top_key(&it->key);
		a->top_is_data = i == INGEST_F_DATA;
		if (i >= 0)
			ingest_acc_set(a, i, it);
		if (a->top_is_data && it->type == JSCAN_OBJECT)
			a->in_data = true;
	} else if (rel == 3 && a->in_data) {
		a->data_members++;
		if ((i = ingest_data_key(&it->key)) >= 0)
			ingest_acc_set(a, i, it);
	}
	if (a->fault)
		return;
	field = a->top_is_data ? "data" : "event";
	if (it->has_key && it->key.len > INGEST_STRING_MAX)
		ingest_acc_fault(a, INGEST_REJ_TOO_LONG,
		                 rel == 2 ? "event" : field,
		                 "holds a key longer than 65536 bytes");
	else if ((it->type == JSCAN_OBJECT || it->type == JSCAN_ARRAY) &&
	         rel > INGEST_DEPTH_MAX)
		ingest_acc_fault(a, INGEST_REJ_TOO_DEEP, field,
		                 "nests deeper than 32 levels");
	else if (it->type == JSCAN_STRING && it->str.len > INGEST_STRING_MAX)
		ingest_acc_fault(a, INGEST_REJ_TOO_LONG, field,
		                 "holds a string longer than 65536 bytes");
}

/*
 * A required non-empty string member of at most max bytes (too_long
 * says so).  Returns 0, or -1 with f set.
 */
static int
ingest_req_string(const struct ingest_field *v, const char *key, size_t max,
                  const char *too_long, struct ingest_fault *f)
{
	if (v->type == 0)
		return ingest_fault(f, INGEST_REJ_INVALID, key, "is required");
	if (v->type != JSCAN_STRING)
		return ingest_fault(f, INGEST_REJ_INVALID, key,
		                    "must be a string");
	if (v->str.len == 0)
		return ingest_fault(f, INGEST_REJ_INVALID, key,
		                    "must not be empty");
	if (v->str.len > max)
		return ingest_fault(f, INGEST_REJ_TOO_LONG, key, too_long);
	return 0;
}

/* An optional string member of data of at most INGEST_IDENT_MAX bytes
 * (JSON null counts as absent).  Returns 0, or -1 with f set. */
static int
ingest_opt_string(const struct ingest_field *v, const char *field,
                  struct ingest_fault *f)
{
	if (v->type == 0 || v->type == JSCAN_NULL)
		return 0;
	if (v->type != JSCAN_STRING)
		return ingest_fault(f, INGEST_REJ_INVALID, field,
		                    "must be a string");
	if (v->str.len > INGEST_IDENT_MAX)
		return ingest_fault(f, INGEST_REJ_TOO_LONG, field,
		                    "must be at most 256 bytes");
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

/* The RFC 3339 time of a timestamp string; -1 when it is not one. */
static int
ingest_parse_ts(const struct jscan_str *s, int64_t *ms)
{
	char buf[128], *p;
	int rc;

	if (!s->esc)
		return sn_rfc3339_parse(s->raw, s->len, ms);
	p = s->len <= sizeof(buf) ? buf : malloc(s->len);
	if (p == NULL)
		return -1;
	jscan_unescape(s, p);
	rc = sn_rfc3339_parse(p, s->len, ms);
	if (p != buf)
		free(p);
	return rc;
}

/*
 * The rules on one event, in their order: the shape first (the rules
 * below may then trust it), event_id, timestamp (and o's window),
 * event_type, application_id, data.  Fills ev's numbers and time (not
 * its strings).  Returns 0, or -1 with f filled.
 */
static int
ingest_check_acc(const struct ingest_acc *a, const struct ingest_opts *o,
                 struct sn_event *ev, struct ingest_fault *f)
{
	const struct ingest_field *data = &a->f[INGEST_F_DATA], *v;
	struct jscan_item it;
	size_t i;
	double d;

	memset(ev, 0, sizeof(*ev));
	ev->model.p = ev->status.p = ev->json.p = "";
	f->buf[0] = '\0';
	if (!a->object)
		return ingest_fault(f, INGEST_REJ_INVALID, "event",
		                    "must be a JSON object");
	if (a->fault)
		return ingest_fault(f, a->kind, a->field, a->reason);
	if (ingest_req_string(&a->f[INGEST_F_EVENT_ID], "event_id",
	                      SN_EVENT_ID_MAX, "must be at most 128 bytes",
	                      f) < 0)
		return -1;
	/* Its length is bounded by the shape check; the parse decides. */
	if (ingest_req_string(&a->f[INGEST_F_TIMESTAMP], "timestamp",
	                      INGEST_STRING_MAX, "not an RFC 3339 timestamp",
	                      f) < 0)
		return -1;
	if (ingest_parse_ts(&a->f[INGEST_F_TIMESTAMP].str, &ev->ts_ms) < 0)
		return ingest_fault(f, INGEST_REJ_INVALID, "timestamp",
		                    "not an RFC 3339 timestamp");
	if (o != NULL && o->window && ingest_check_window(o, ev->ts_ms, f) < 0)
		return -1;
	if (ingest_req_string(&a->f[INGEST_F_EVENT_TYPE], "event_type",
	                      INGEST_IDENT_MAX, "must be at most 256 bytes",
	                      f) < 0 ||
	    ingest_req_string(&a->f[INGEST_F_APPLICATION_ID], "application_id",
	                      INGEST_IDENT_MAX, "must be at most 256 bytes",
	                      f) < 0)
		return -1;
	/* data: an object of at most INGEST_FIELDS_MAX members, its
	 * well-known numbers in range and its identifiers short strings */
	if (data->type == 0)
		return ingest_fault(f, INGEST_REJ_INVALID, "data",
		                    "is required");
	if (data->type != JSCAN_OBJECT)
		return ingest_fault(f, INGEST_REJ_INVALID, "data",
		                    "must be an object");
	if (a->data_members > INGEST_FIELDS_MAX)
		return ingest_fault(f, INGEST_REJ_FIELDS, "data",
		                    "has more than 256 fields");
	for (i = 0; i < SN_ARRAY_LEN(ingest_numbers); i++) {
		v = &a->f[INGEST_F_NUMBER + i];
		if (v->type == 0 || v->type == JSCAN_NULL)
			continue;
		if (v->type == JSCAN_INTEGER || v->type == JSCAN_REAL) {
			it.type = v->type;
			it.start = v->start;
			it.stop = v->stop;
			it.integer = v->integer;
			d = jscan_number(&it);
		} else
			d = -1;
		/* the scanner already refuses NaN, Infinity and 1e400 */
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
	if (ingest_opt_string(&a->f[INGEST_F_STATUS], "data.status", f) < 0 ||
	    ingest_opt_string(&a->f[INGEST_F_MODEL], "data.model", f) < 0)
		return -1;
	f->field = NULL;
	f->reason = NULL;
	return 0;
}

/*
 * Walks the rest of the event begun by item (a value at depth) in s.
 * Returns jscan_next's last answer: 1 with the event's end reached, or
 * 0, -1, -2.
 */
static int
ingest_walk_event(struct jscan *s, const struct jscan_item *first,
                  struct ingest_acc *a)
{
	struct jscan_item it;
	int depth = first->depth, rc;

	ingest_acc_begin(a, first);
	a->breaks0 = s->breaks;
	if (first->type != JSCAN_OBJECT && first->type != JSCAN_ARRAY) {
		a->stop = first->stop;
		return 1;
	}
	while ((rc = jscan_next(s, &it)) == 1) {
		if (it.end && it.depth == depth) {
			a->stop = it.stop;
			a->breaks = s->breaks != a->breaks0;
			return 1;
		}
		if (a->object)
			ingest_acc_item(a, &it, it.depth - depth + 1);
	}
	return rc;
}

int
ingest_check_event(json_t *obj, const struct ingest_opts *o,
                   struct sn_event *ev, struct ingest_fault *f)
{
	static const char *const keys[] = {"event_id", "timestamp",
	                                   "event_type", "application_id"};
	struct sn_str *views[] = {&ev->event_id, &ev->timestamp,
	                          &ev->event_type, &ev->application_id};
	struct ingest_acc a;
	struct jscan_item it;
	struct jscan s;
	json_t *data, *v;
	char *text;
	size_t i;
	int rc;

	memset(ev, 0, sizeof(*ev));
	ev->model.p = ev->status.p = ev->json.p = "";
	f->buf[0] = '\0';
	if (!json_is_object(obj))
		return ingest_fault(f, INGEST_REJ_INVALID, "event",
		                    "must be a JSON object");
	/*
	 * One parser decides: the object's text goes through it (17
	 * digits give every real back exactly).  A tree jansson read has
	 * no \u0000 and is less than 2048 deep, so its text is well-formed.
	 */
	if ((text = json_dumps(obj, JSON_COMPACT | JSON_REAL_PRECISION(17))) ==
	    NULL)
		return ingest_fault(f, INGEST_REJ_INVALID, "event",
		                    "cannot be written as JSON");
	jscan_init(&s);
	jscan_begin(&s, text, strlen(text));
	rc = jscan_next(&s, &it);
	if (rc == 1)
		rc = ingest_walk_event(&s, &it, &a);
	if (rc == 1)
		rc = jscan_next(&s, &it);
	jscan_free(&s);
	if (rc != 0) {
		free(text);
		return ingest_fault(f, INGEST_REJ_INVALID, "event",
		                    "cannot be written as JSON");
	}
	rc = ingest_check_acc(&a, o, ev, f);
	free(text);
	if (rc < 0)
		return -1;
	/* the strings: views into obj, as before */
	for (i = 0; i < SN_ARRAY_LEN(keys); i++) {
		v = json_object_get(obj, keys[i]);
		views[i]->p = json_string_value(v);
		views[i]->len = (uint32_t)json_string_length(v);
	}
	data = json_object_get(obj, "data");
	if (json_is_string(v = json_object_get(data, "status"))) {
		ev->status.p = json_string_value(v);
		ev->status.len = (uint32_t)json_string_length(v);
	}
	if (json_is_string(v = json_object_get(data, "model"))) {
		ev->model.p = json_string_value(v);
		ev->model.len = (uint32_t)json_string_length(v);
	}
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

/*
 * The events' texts live in a few blocks of the result, rather than
 * one allocation each: a malloc and a free per event were a tenth of
 * the parser's time.
 */
struct ingest_block {
	struct ingest_block *next;
	size_t used, cap;
	char data[];
};

/* n bytes for an event's text; NULL on ENOMEM. */
static char *
ingest_alloc(struct ingest_result *res, size_t n)
{
	struct ingest_block *b = res->blocks;
	size_t cap;

	if (b == NULL || b->cap - b->used < n) {
		/* the first block just fits the first event: most bodies
		 * hold one, and a block under 1 KB comes from malloc's
		 * per-thread cache, where a 4 KB one made glibc consolidate
		 * its free chunks on every request (2-3% of ingestd's loop
		 * under single events) */
		cap = b == NULL          ? n
		      : b->cap < 4096    ? 4096
		      : b->cap < 1048576 ? 2 * b->cap
		                         : b->cap;
		if (cap < n)
			cap = n;
		if (cap > SIZE_MAX - sizeof(*b) ||
		    (b = malloc(sizeof(*b) + cap)) == NULL)
			return NULL;
		b->next = res->blocks;
		b->used = 0;
		b->cap = cap;
		res->blocks = b;
	}
	b->used += n;
	return b->data + b->used - n;
}

static void
ingest_clear_events(struct ingest_result *res)
{
	struct ingest_block *b;

	while ((b = res->blocks) != NULL) {
		res->blocks = b->next;
		free(b);
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
 * Makes a reason printable ASCII: the scanner quotes the offending
 * bytes of the body in its messages ("invalid token near '...'"), and
 * those may be anything, while the reason goes back to the client
 * inside JSON.
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

/* Records a rejection of event index (a its text, NULL when it is not
 * JSON); -1 on ENOMEM. */
static int ingest_add_reject(struct ingest_result *res, uint32_t index,
                             const struct ingest_acc *a,
                             enum ingest_reject_kind kind, const char *field,
                             const char *fmt, ...)
        __attribute__((format(printf, 6, 7)));

static int
ingest_add_reject(struct ingest_result *res, uint32_t index,
                  const struct ingest_acc *a, enum ingest_reject_kind kind,
                  const char *field, const char *fmt, ...)
{
	const struct ingest_field *id;
	struct ingest_reject *r;
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
	id = a != NULL && a->object ? &a->f[INGEST_F_EVENT_ID] : NULL;
	if (id != NULL && id->type == JSCAN_STRING && id->str.len > 0 &&
	    id->str.len <= SN_EVENT_ID_MAX) {
		r->has_event_id = true;
		jscan_unescape(&id->str, r->event_id);
	}
	va_start(ap, fmt);
	vsnprintf(r->reason, sizeof(r->reason), fmt, ap);
	va_end(ap);
	ingest_printable(r->reason);
	return 0;
}

/* Writes str unescaped and NUL-terminated at *w; the view into *s. */
static void
ingest_put(char **w, const struct ingest_field *v, struct sn_str *s)
{
	if (v->type != JSCAN_STRING)
		return; /* an absent optional one stays "" */
	jscan_unescape(&v->str, *w);
	s->p = *w;
	s->len = (uint32_t)v->str.len;
	*w += v->str.len;
	*(*w)++ = '\0';
}

/*
 * The event's text without the blanks between its tokens (and the NUL
 * bytes the scanner steps over there), into out; returns its length.
 * Strings hold neither.
 */
static size_t
ingest_compact(const char *p, const char *end, char *out)
{
	char *w = out;

	for (; p < end; p++) {
		if (*p == '"') {
			*w++ = *p++;
			for (; *p != '"'; p++) {
				if (*p == '\\')
					*w++ = *p++;
				*w++ = *p;
			}
			*w++ = '"';
		} else if (*p != ' ' && *p != '\t' && *p != '\n' &&
		           *p != '\r' && *p != '\0')
			*w++ = *p;
	}
	return (size_t)(w - out);
}

/*
 * Validates the event a (index in the body) and files it as accepted
 * or rejected.  Returns 0, or -1 on ENOMEM.
 */
static int
ingest_take(struct ingest_result *res, const struct ingest_opts *o,
            uint32_t index, const struct ingest_acc *a)
{
	static const int strs[] = {INGEST_F_EVENT_ID,   INGEST_F_TIMESTAMP,
	                           INGEST_F_EVENT_TYPE, INGEST_F_APPLICATION_ID,
	                           INGEST_F_MODEL,      INGEST_F_STATUS};
	size_t rawlen = (size_t)(a->stop - a->start), size, len, i;
	struct ingest_event *e;
	struct ingest_fault f;
	struct sn_event ev;
	char *text, *w;

	if (ingest_check_acc(a, o, &ev, &f) < 0)
		return ingest_add_reject(res, index, a, f.kind, f.field, "%s",
		                         f.reason);
	/*
	 * The event travels on as the client wrote it: the bytes of its
	 * value in the body, blanks around trimmed.  A value spread over
	 * several lines loses the blanks between its tokens, so that an
	 * event is always one line; so does one holding a NUL byte between
	 * its tokens (the text must be a C string).  Its strings follow,
	 * unescaped, for the views of ev.
	 */
	size = rawlen + 1;
	for (i = 0; i < SN_ARRAY_LEN(strs); i++)
		if (a->f[strs[i]].type == JSCAN_STRING)
			size += a->f[strs[i]].str.len + 1;
	if ((text = ingest_alloc(res, size)) == NULL)
		return -1;
	if (a->breaks)
		len = ingest_compact(a->start, a->stop, text);
	else {
		memcpy(text, a->start, rawlen);
		len = rawlen;
	}
	text[len] = '\0';
	if (len > UINT32_MAX) {
		return ingest_add_reject(res, index, a, INGEST_REJ_TOO_LONG,
		                         "event", "too large");
	}
	w = text + len + 1;
	ingest_put(&w, &a->f[INGEST_F_EVENT_ID], &ev.event_id);
	ingest_put(&w, &a->f[INGEST_F_TIMESTAMP], &ev.timestamp);
	ingest_put(&w, &a->f[INGEST_F_EVENT_TYPE], &ev.event_type);
	ingest_put(&w, &a->f[INGEST_F_APPLICATION_ID], &ev.application_id);
	ingest_put(&w, &a->f[INGEST_F_MODEL], &ev.model);
	ingest_put(&w, &a->f[INGEST_F_STATUS], &ev.status);
	if (ingest_grow((void **)&res->events, &res->cap_events, res->nevents,
	                sizeof(*res->events)) < 0)
		return -1;
	e = &res->events[res->nevents++];
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

/*
 * A JSON body: one event object, or an array of them.  The body is
 * scanned once; each event is filed when its closing brace is reached,
 * and malformed JSON anywhere drops them all again.
 */
static enum ingest_status
ingest_parse_json(struct jscan *s, const char *body, size_t len,
                  const struct ingest_opts *o, struct ingest_result *res)
{
	struct ingest_acc a;
	struct jscan_item it;
	size_t n = 0;
	bool nomem = false;
	int rc;

	jscan_begin(s, body, len);
	if ((rc = jscan_next(s, &it)) == 1 && it.type == JSCAN_OBJECT) {
		res->total = 1;
		rc = ingest_walk_event(s, &it, &a);
		if (rc == 1 && (rc = jscan_next(s, &it)) == 0 &&
		    ingest_take(res, o, 0, &a) < 0)
			nomem = true;
	} else if (rc == 1) {
		/* without an object, an array: the root is one or the
		 * other */
		res->batch = true;
		while ((rc = jscan_next(s, &it)) == 1) {
			if (it.end)
				continue; /* the array's end */
			rc = ingest_walk_event(s, &it, &a);
			if (rc != 1)
				break;
			/* past the limit: only the count matters */
			if (++n <= o->max_events && !nomem &&
			    ingest_take(res, o, (uint32_t)(n - 1), &a) < 0)
				nomem = true;
		}
	}
	if (rc == -1)
		return ingest_fail(res, INGEST_ERR_JSON,
		                   "%s at line %d column %d", s->err.text,
		                   s->err.line, s->err.column);
	if (rc == -2 || nomem)
		return ingest_fail(res, INGEST_ERR_NOMEM, "out of memory");
	if (!res->batch)
		return INGEST_OK;
	if (n == 0)
		return ingest_fail(res, INGEST_ERR_EMPTY,
		                   "the array holds no events");
	if (n > o->max_events)
		return ingest_fail(res, INGEST_ERR_TOO_MANY,
		                   "%zu events, at most %u allowed", n,
		                   o->max_events);
	res->total = (uint32_t)n;
	return INGEST_OK;
}

/* One NDJSON line, event index: malformed JSON rejects it alone.
 * Returns 0, or -1 on ENOMEM. */
static int
ingest_parse_line(struct jscan *s, const char *p, size_t len, int lineno,
                  const struct ingest_opts *o, uint32_t index,
                  struct ingest_result *res)
{
	struct ingest_acc a;
	struct jscan_item it;
	int rc;

	jscan_begin(s, p, len);
	if ((rc = jscan_next(s, &it)) == 1 &&
	    (rc = ingest_walk_event(s, &it, &a)) == 1)
		rc = jscan_next(s, &it);
	if (rc == 0)
		return ingest_take(res, o, index, &a);
	if (rc == -2)
		return -1;
	return ingest_add_reject(res, index, NULL, INGEST_REJ_JSON, "event",
	                         "invalid JSON: %s at line %d column %d",
	                         s->err.text, lineno, s->err.column);
}

static enum ingest_status
ingest_parse_ndjson(struct jscan *s, const char *body, size_t len,
                    const struct ingest_opts *o, struct ingest_result *res)
{
	uint32_t max_events = o->max_events;
	const char *p, *end = body + len, *nl;
	size_t n = 0, llen;
	uint32_t index = 0;
	int lineno = 0;

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
		if (ingest_parse_line(s, p, llen, lineno, o, index, res) < 0)
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
	enum ingest_status st;
	struct jscan s;

	res->status = INGEST_OK;
	res->limit = o->max_events;
	res->reason[0] = '\0';
	if (body == NULL || ingest_blank(body, len))
		return ingest_fail(res, INGEST_ERR_EMPTY, "the body is empty");
	jscan_init(&s);
	if (kind == INGEST_BODY_NDJSON)
		st = ingest_parse_ndjson(&s, body, len, o, res);
	else
		st = ingest_parse_json(&s, body, len, o, res);
	jscan_free(&s);
	return st;
}

enum ingest_status
ingest_parse_body(const char *body, size_t len, enum ingest_body_kind kind,
                  uint32_t max_events, struct ingest_result *res)
{
	struct ingest_opts o = {.max_events = max_events};

	return ingest_parse(body, len, kind, &o, res);
}
