/*
 * query.c: the read side of stored (see query.h for the protocol).
 *
 * Threads, not the loop: a query may scan many rows, an integrity check
 * reads the whole file and a backup copies it, and none of that may
 * delay the writer's loop.  QUERY_WORKERS threads share one nng rep
 * socket, each through its own context (nng_ctx), so one long request
 * (a backup) does not hold up the others.  Each worker blocks in
 * nng_aio_wait and owns a read-only sqlite connection (NOMUTEX: one
 * thread uses it); in WAL mode its reads see the last commit and never
 * block the writer, nor does the writer block them.
 *
 * Requests are untrusted: every parameter is checked and a bad one is
 * answered 400 naming it; every value reaches sqlite as a bound
 * parameter (the SQL text is assembled only from constant fragments).
 * A request from the HTTP API must finish within QUERY_DEADLINE_MS, a
 * little less than ingestd waits for it: a progress handler interrupts
 * the statement after that (504).  query_stop interrupts whatever runs.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/supplemental/util/platform.h>
#include <sqlite3.h>

#include "config.h"
#include "ipc.h"
#include "log.h"
#include "query.h"
#include "retention.h"
#include "rollup.h"
#include "sketch.h"
#include "store.h"
#include "util.h"

/* Worker threads, each with its own connection and nng context. */
#define QUERY_WORKERS 2
/* Largest request accepted (a request is a command and a few params). */
#define QUERY_MAX_REQUEST (64 * 1024)
/* HTTP queries give up after this (ingestd waits 10 s for the reply). */
#define QUERY_DEADLINE_MS 8000
/* How long a statement waits for a lock (WAL: only during recovery). */
#define QUERY_BUSY_TIMEOUT_MS 5000
/* sqlite VM steps between two looks at the stop flag and the deadline. */
#define QUERY_PROGRESS_STEPS 10000
/* A page of events stops once its raw JSON passes this many bytes, so a
 * reply stays bounded whatever the events weigh (follow next_cursor). */
#define QUERY_PAGE_BYTES (4u * 1024 * 1024)
/* Pages copied per backup step. */
#define QUERY_BACKUP_PAGES 1000
/* Longest filter value accepted. */
#define QUERY_MAX_VALUE 1024
/* Free disk below this percentage makes storage.check fail. */
#define QUERY_MIN_FREE_PCT 5.0
/* Integrity messages reported at most. */
#define QUERY_MAX_INTEGRITY_MSGS 20

#define QUERY_CURSOR_VERSION 1
#define MINUTE_MS            60000
#define HOUR_MS              3600000

struct query_db {
	sqlite3 *db;
	char *path;   /* the database file */
	char *folder; /* its folder (free disk) */
	struct query_retention ret;
	const atomic_int *stop;  /* set by query_stop; may be NULL */
	atomic_int *backup_busy; /* one backup at a time; may be NULL */
	atomic_int own_busy;     /* backup_busy when none was given */
	int64_t deadline_ms;     /* monotonic; 0: none */
	int timed_out;           /* the deadline interrupted a statement */
	int64_t opened_ms;       /* wall clock, for retention staleness */
};

struct query_worker {
	struct query_server *q;
	struct query_db *qd;
	nng_ctx ctx;
	nng_aio *aio;
	pthread_t thread;
	int running; /* thread started */
};

struct query_server {
	nng_socket sock;
	atomic_int stop;
	atomic_int backup_busy;
	pthread_mutex_t ret_mu;     /* guards ret */
	struct query_retention ret; /* copied by a worker per request */
	struct query_worker workers[QUERY_WORKERS];
};

/* --- replies --------------------------------------------------------- */

/* An error body {"error": error, "reason": reason}; reason may be NULL. */
static json_t *query_error_body(const char *error, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

static json_t *
query_error_body(const char *error, const char *fmt, ...)
{
	char reason[300];
	va_list ap;

	if (fmt == NULL)
		return json_pack("{s:s}", "error", error);
	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	return json_pack("{s:s, s:s}", "error", error, "reason", reason);
}

/* The 400 of a refused parameter (or request, when parameter is NULL). */
static json_t *
query_param_body(const struct query_error *e)
{
	if (e->parameter == NULL)
		return json_pack("{s:s, s:s}", "error", "invalid request",
		                 "reason", e->reason);
	return json_pack("{s:s, s:s, s:s}", "error", "invalid parameter",
	                 "parameter", e->parameter, "reason", e->reason);
}

/*
 * The reply text for status and body (stolen): "status" first, "body"
 * second and last, which ingestd relies on to relay the body unparsed.
 */
static char *
query_reply_text(int status, json_t *body)
{
	static const char nomem[] = "{\"status\":503,\"body\":{\"error\":"
	                            "\"out of memory\"}}";
	char *b, *out;
	size_t n;

	b = body != NULL ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	if (b == NULL)
		return sn_xstrdup(nomem);
	n = strlen(b) + 32;
	out = sn_xmalloc(n);
	snprintf(out, n, "{\"status\":%d,\"body\":%s}", status, b);
	free(b);
	return out;
}

/* RFC 3339 text of ms, or null. */
static json_t *
query_time_json(int64_t ms)
{
	char buf[40];

	sn_rfc3339_format(ms, buf, sizeof(buf));
	return json_string(buf);
}

/* A column as JSON: text, integer, real or null. */
static json_t *
query_col_json(sqlite3_stmt *st, int i)
{
	switch (sqlite3_column_type(st, i)) {
	case SQLITE_INTEGER:
		return json_integer(sqlite3_column_int64(st, i));
	case SQLITE_FLOAT: {
		double v = sqlite3_column_double(st, i);

		return isfinite(v) ? json_real(v) : json_null();
	}
	case SQLITE_TEXT:
		return json_stringn((const char *)sqlite3_column_text(st, i),
		                    (size_t)sqlite3_column_bytes(st, i));
	default:
		return json_null();
	}
}

/* A time column (ms) as RFC 3339 text, or null when NULL. */
static json_t *
query_col_time(sqlite3_stmt *st, int i)
{
	if (sqlite3_column_type(st, i) == SQLITE_NULL)
		return json_null();
	return query_time_json(sqlite3_column_int64(st, i));
}

/* A JSON text column parsed, or dflt (stolen) when NULL or not JSON. */
static json_t *
query_col_parsed(sqlite3_stmt *st, int i, json_t *dflt)
{
	json_t *v = NULL;

	if (sqlite3_column_type(st, i) != SQLITE_NULL)
		v = json_loadb((const char *)sqlite3_column_text(st, i),
		               (size_t)sqlite3_column_bytes(st, i),
		               JSON_DECODE_ANY, NULL);
	if (v == NULL)
		return dflt;
	json_decref(dflt);
	return v;
}

/* --- sqlite helpers -------------------------------------------------- */

/* Called every QUERY_PROGRESS_STEPS steps: non-zero interrupts. */
static int
query_progress(void *arg)
{
	struct query_db *qd = arg;

	if (qd->stop != NULL && atomic_load(qd->stop))
		return 1;
	if (qd->deadline_ms != 0 && sn_mono_ms() > qd->deadline_ms) {
		qd->timed_out = 1;
		return 1;
	}
	return 0;
}

/*
 * The answer to a failed statement: 504 when the deadline interrupted
 * it, 503 when stored is stopping, else 500 with sqlite's message.
 */
static int
query_sql_fail(struct query_db *qd, const char *what, json_t **body)
{
	int code = sqlite3_errcode(qd->db);

	if (code == SQLITE_INTERRUPT && qd->timed_out) {
		*body = query_error_body(
		        "query timed out",
		        "stopped after %d ms; narrow the time range or add "
		        "filters",
		        QUERY_DEADLINE_MS);
		return 504;
	}
	if (code == SQLITE_INTERRUPT) {
		*body = query_error_body("unavailable", "stored is stopping");
		return 503;
	}
	log_warnx("%s: %s: %s", qd->path, what, sqlite3_errmsg(qd->db));
	*body = query_error_body("storage error", "%s: %s", what,
	                         sqlite3_errmsg(qd->db));
	return 500;
}

/*
 * A statement assembled from constant fragments, with its values kept
 * aside and bound by position: user input never becomes SQL text.
 */
#define QSQL_MAX_BINDS 16
struct qsql {
	char text[1024];
	size_t len;
	int overflow; /* a fragment did not fit: a bug, refused */
	int n;
	struct {
		const char *s; /* text, or NULL for an integer */
		int64_t i;
	} b[QSQL_MAX_BINDS];
};

static void
qsql_add(struct qsql *q, const char *frag)
{
	size_t n = strlen(frag);

	if (q->len + n >= sizeof(q->text)) {
		q->overflow = 1;
		return;
	}
	memcpy(q->text + q->len, frag, n + 1);
	q->len += n;
}

/* Adds frag, which holds one '?', bound to text v. */
static void
qsql_text(struct qsql *q, const char *frag, const char *v)
{
	if (q->n == QSQL_MAX_BINDS) {
		q->overflow = 1;
		return;
	}
	qsql_add(q, frag);
	q->b[q->n].s = v;
	q->b[q->n++].i = 0;
}

/* Adds frag, which holds one '?', bound to integer v. */
static void
qsql_int(struct qsql *q, const char *frag, int64_t v)
{
	if (q->n == QSQL_MAX_BINDS) {
		q->overflow = 1;
		return;
	}
	qsql_add(q, frag);
	q->b[q->n].s = NULL;
	q->b[q->n++].i = v;
}

/* Prepares and binds q.  NULL on error (the caller answers). */
static sqlite3_stmt *
qsql_prepare(struct query_db *qd, struct qsql *q)
{
	sqlite3_stmt *st = NULL;
	int i;

	if (q->overflow) {
		log_warnx("query: statement too long (bug): %.80s", q->text);
		return NULL;
	}
	if (sqlite3_prepare_v2(qd->db, q->text, -1, &st, NULL) != SQLITE_OK)
		return NULL;
	for (i = 0; i < q->n; i++) {
		if (q->b[i].s != NULL)
			sqlite3_bind_text(st, i + 1, q->b[i].s, -1,
			                  SQLITE_STATIC);
		else
			sqlite3_bind_int64(st, i + 1, q->b[i].i);
	}
	return st;
}

/* Whether table name exists in the file (a v2 file has no rollups). */
static int
query_has_table(struct query_db *qd, const char *name)
{
	sqlite3_stmt *st;
	int found = 0;

	if (sqlite3_prepare_v2(qd->db,
	                       "SELECT 1 FROM sqlite_master WHERE type = "
	                       "'table' AND name = ?",
	                       -1, &st, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	found = sqlite3_step(st) == SQLITE_ROW;
	sqlite3_finalize(st);
	return found;
}

/* --- parameters ------------------------------------------------------ */

int
query_time_parse(const char *s, int64_t now_ms, int64_t *out_ms)
{
	int64_t d;

	if (s == NULL)
		return -1;
	if (strcmp(s, "now") == 0) {
		*out_ms = now_ms;
		return 0;
	}
	if (strncmp(s, "now", 3) == 0 && (s[3] == '-' || s[3] == '+')) {
		/* sn_duration_parse refuses signs and empty text itself */
		if (sn_duration_parse(s + 4, &d) < 0)
			return -1;
		if (s[3] == '+' && d > INT64_MAX - now_ms)
			return -1;
		if (s[3] == '-' && now_ms < INT64_MIN + d)
			return -1;
		*out_ms = s[3] == '-' ? now_ms - d : now_ms + d;
		return 0;
	}
	return sn_rfc3339_parse(s, strlen(s), out_ms);
}

static const char query_b64[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* 17 cursor bytes: version, ts_ms, id (big-endian). */
#define QUERY_CURSOR_BYTES 17

void
query_cursor_encode(int64_t ts_ms, int64_t id, char *buf, size_t size)
{
	uint8_t raw[QUERY_CURSOR_BYTES + 2] = {0};
	uint64_t t = (uint64_t)ts_ms, r = (uint64_t)id;
	size_t i, o = 0;
	uint32_t v;

	if (size < QUERY_CURSOR_LEN + 1) {
		if (size > 0)
			buf[0] = '\0';
		return;
	}
	raw[0] = QUERY_CURSOR_VERSION;
	for (i = 0; i < 8; i++) {
		raw[1 + i] = (uint8_t)(t >> (56 - 8 * i));
		raw[9 + i] = (uint8_t)(r >> (56 - 8 * i));
	}
	/* 17 bytes: five groups of 3 and a last pair (3 characters). */
	for (i = 0; i < QUERY_CURSOR_BYTES; i += 3) {
		v = (uint32_t)raw[i] << 16 | (uint32_t)raw[i + 1] << 8 |
		    raw[i + 2];
		buf[o++] = query_b64[v >> 18 & 63];
		buf[o++] = query_b64[v >> 12 & 63];
		buf[o++] = query_b64[v >> 6 & 63];
		if (i + 2 < QUERY_CURSOR_BYTES)
			buf[o++] = query_b64[v & 63];
	}
	buf[o] = '\0';
}

/* The value of a base64url character, or -1. */
static int
query_b64_value(char c)
{
	const char *p;

	if (c == '\0' || (p = strchr(query_b64, c)) == NULL)
		return -1;
	return (int)(p - query_b64);
}

int
query_cursor_decode(const char *s, int64_t *ts_ms, int64_t *id)
{
	uint8_t raw[QUERY_CURSOR_BYTES + 2] = {0};
	uint64_t t = 0, r = 0;
	size_t i, o = 0, n;
	uint32_t v;
	int c, k;

	if (s == NULL || strlen(s) != QUERY_CURSOR_LEN)
		return -1;
	for (i = 0; i < QUERY_CURSOR_LEN; i += 4) {
		n = QUERY_CURSOR_LEN - i < 4 ? QUERY_CURSOR_LEN - i : 4;
		v = 0;
		for (k = 0; k < 4; k++) {
			c = (size_t)k < n ? query_b64_value(s[i + k]) : 0;
			if (c < 0)
				return -1;
			v = v << 6 | (uint32_t)c;
		}
		raw[o++] = (uint8_t)(v >> 16);
		raw[o++] = (uint8_t)(v >> 8);
		raw[o++] = (uint8_t)v;
	}
	/* The last group's unused bits must be zero (one spelling only). */
	if (raw[QUERY_CURSOR_BYTES] != 0 || raw[0] != QUERY_CURSOR_VERSION)
		return -1;
	for (i = 0; i < 8; i++) {
		t = t << 8 | raw[1 + i];
		r = r << 8 | raw[9 + i];
	}
	*ts_ms = (int64_t)t;
	*id = (int64_t)r;
	return 0;
}

enum qparam_kind {
	QP_STR,    /* a filter value */
	QP_TIME,   /* from, to */
	QP_LIMIT,  /* 1 .. QUERY_LIMIT_MAX */
	QP_CURSOR, /* query_cursor_decode */
	QP_STEP,   /* a duration in whole seconds */
	QP_BOOL,   /* true/false, also "1"/"0" */
};

static const struct qparam_def {
	const char *name;
	enum qparam_kind kind;
	size_t off; /* of its field in struct query_params (QP_STR) */
} qparam_defs[] = {
        {"application_id", QP_STR,
         offsetof(struct query_params, application_id)},
        {"event_type", QP_STR, offsetof(struct query_params, event_type)},
        {"status", QP_STR, offsetof(struct query_params, status)},
        {"detector", QP_STR, offsetof(struct query_params, detector)},
        {"severity", QP_STR, offsetof(struct query_params, severity)},
        {"model", QP_STR, offsetof(struct query_params, model)},
        {"event_id", QP_STR, offsetof(struct query_params, event_id)},
        {"path", QP_STR, offsetof(struct query_params, path)},
        {"metric", QP_STR, offsetof(struct query_params, metric)},
        {"agg", QP_STR, offsetof(struct query_params, agg)},
        {"from", QP_TIME, 0},
        {"to", QP_TIME, 0},
        {"limit", QP_LIMIT, 0},
        {"cursor", QP_CURSOR, 0},
        {"step", QP_STEP, 0},
        {"full", QP_BOOL, 0},
        {"force", QP_BOOL, 0},
};

/* Metrics of the rollups, and the events column each comes from. */
static const struct query_metric {
	const char *name;
	const char *column; /* NULL: requests (every event) */
} query_metrics[] = {
        {"requests", NULL},
        {"latency_ms", "latency_ms"},
        {"total_tokens", "total_tokens"},
        {"prompt_tokens", "prompt_tokens"},
        {"completion_tokens", "completion_tokens"},
        {"cost", "cost"},
};

enum query_agg_kind {
	AGG_COUNT,
	AGG_SUM,
	AGG_AVG,
	AGG_MIN,
	AGG_MAX,
	AGG_QUANTILE,
	AGG_ERROR_RATE,
	AGG_RATE,
};

static const struct query_agg {
	const char *name;
	enum query_agg_kind kind;
	double q; /* AGG_QUANTILE */
} query_aggs[] = {
        {"count", AGG_COUNT, 0},     {"sum", AGG_SUM, 0},
        {"avg", AGG_AVG, 0},         {"min", AGG_MIN, 0},
        {"max", AGG_MAX, 0},         {"p50", AGG_QUANTILE, 0.50},
        {"p90", AGG_QUANTILE, 0.90}, {"p95", AGG_QUANTILE, 0.95},
        {"p99", AGG_QUANTILE, 0.99}, {"error_rate", AGG_ERROR_RATE, 0},
        {"rate", AGG_RATE, 0},
};

static const struct query_metric *
query_metric_find(const char *name)
{
	size_t i;

	for (i = 0; name != NULL && i < SN_ARRAY_LEN(query_metrics); i++)
		if (strcmp(query_metrics[i].name, name) == 0)
			return &query_metrics[i];
	return NULL;
}

static const struct query_agg *
query_agg_find(const char *name)
{
	size_t i;

	for (i = 0; name != NULL && i < SN_ARRAY_LEN(query_aggs); i++)
		if (strcmp(query_aggs[i].name, name) == 0)
			return &query_aggs[i];
	return NULL;
}

/* floor(a / b) for b > 0, also for negative a. */
static int64_t
query_floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;

	return (a % b != 0 && a < 0) ? q - 1 : q;
}

static int query_fail_param(struct query_error *err, const char *param,
                            const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static int
query_fail_param(struct query_error *err, const char *param, const char *fmt,
                 ...)
{
	va_list ap;

	err->parameter = param;
	va_start(ap, fmt);
	vsnprintf(err->reason, sizeof(err->reason), fmt, ap);
	va_end(ap);
	return -1;
}

/* Parses one member (name, v) into p.  0 or -1 with err. */
static int
query_param_one(const struct qparam_def *def, json_t *v, int64_t now_ms,
                struct query_params *p, struct query_error *err)
{
	const char *s = json_string_value(v);
	char *end;
	long long n;

	if (def->kind == QP_BOOL && json_is_boolean(v)) {
		if (strcmp(def->name, "full") == 0)
			p->full = json_is_true(v);
		else
			p->force = json_is_true(v);
		return 0;
	}
	if (s == NULL)
		return query_fail_param(err, def->name, "must be a string");
	if (*s == '\0')
		return 0; /* "?application_id=" means not given */
	if (strlen(s) > QUERY_MAX_VALUE || strlen(s) != json_string_length(v))
		return query_fail_param(
		        err, def->name,
		        "must be text of at most %d bytes without NUL",
		        QUERY_MAX_VALUE);
	switch (def->kind) {
	case QP_STR:
		*(const char **)(void *)((char *)p + def->off) = s;
		return 0;
	case QP_TIME:
		if (strcmp(def->name, "from") == 0) {
			if (query_time_parse(s, now_ms, &p->from_ms) < 0)
				break;
			p->has_from = true;
		} else {
			if (query_time_parse(s, now_ms, &p->to_ms) < 0)
				break;
			p->has_to = true;
		}
		return 0;
	case QP_LIMIT:
		errno = 0;
		n = strtoll(s, &end, 10);
		if (*end != '\0' || errno != 0 || n < 1 ||
		    n > QUERY_LIMIT_MAX || s[0] == '+' || s[0] == ' ')
			return query_fail_param(
			        err, def->name,
			        "must be a whole number from 1 to %d",
			        QUERY_LIMIT_MAX);
		p->limit = (unsigned)n;
		return 0;
	case QP_CURSOR:
		if (query_cursor_decode(s, &p->cursor_ts, &p->cursor_id) < 0)
			return query_fail_param(
			        err, def->name,
			        "not a cursor this server gave (use "
			        "next_cursor as it came)");
		p->has_cursor = true;
		return 0;
	case QP_STEP:
		if (sn_duration_parse(s, &p->step_ms) < 0 ||
		    p->step_ms < 1000 || p->step_ms % 1000 != 0)
			return query_fail_param(
			        err, def->name,
			        "must be a duration of whole seconds, at least "
			        "1s (10s, 1m, 5m, 1h)");
		return 0;
	case QP_BOOL:
		if (strcmp(s, "true") == 0 || strcmp(s, "1") == 0 ||
		    strcmp(s, "false") == 0 || strcmp(s, "0") == 0) {
			bool b = s[0] == 't' || s[0] == '1';

			if (strcmp(def->name, "full") == 0)
				p->full = b;
			else
				p->force = b;
			return 0;
		}
		return query_fail_param(err, def->name,
		                        "must be true or false");
	}
	return query_fail_param(err, def->name,
	                        "must be RFC 3339 (2025-11-06T12:00:00Z), "
	                        "now, or now-DURATION (now-15m, now-7d)");
}

/* Checks metrics.query's parameters together and applies defaults. */
static int
query_metrics_params(struct query_params *p, int64_t now_ms,
                     struct query_error *err)
{
	const struct query_agg *agg;
	int64_t first, end, npoints;

	if (p->agg == NULL)
		p->agg = p->metric != NULL && strcmp(p->metric, "requests") == 0
		                 ? "count"
		                 : "avg";
	if ((agg = query_agg_find(p->agg)) == NULL)
		return query_fail_param(
		        err, "agg",
		        "must be count, sum, avg, min, max, "
		        "p50, p90, p95, p99, error_rate or rate");
	if (p->metric == NULL)
		p->metric =
		        agg->kind == AGG_ERROR_RATE ? "requests" : "latency_ms";
	if (query_metric_find(p->metric) == NULL)
		return query_fail_param(err, "metric",
		                        "must be requests, latency_ms, "
		                        "total_tokens, prompt_tokens, "
		                        "completion_tokens or cost");
	if (agg->kind == AGG_ERROR_RATE && strcmp(p->metric, "requests") != 0)
		return query_fail_param(
		        err, "agg",
		        "error_rate is computed from the metric "
		        "requests (errors / count)");
	if (strcmp(p->metric, "requests") == 0 && agg->kind != AGG_COUNT &&
	    agg->kind != AGG_RATE && agg->kind != AGG_ERROR_RATE)
		return query_fail_param(err, "agg",
		                        "the metric requests has count, rate "
		                        "and error_rate only");
	if (p->step_ms == 0)
		p->step_ms = MINUTE_MS;
	if (!p->has_to)
		p->to_ms = now_ms;
	if (!p->has_from) {
		if (p->to_ms < INT64_MIN + HOUR_MS)
			return query_fail_param(err, "to", "out of range");
		p->from_ms = p->to_ms - HOUR_MS;
	}
	p->has_from = p->has_to = true;
	if (p->from_ms >= p->to_ms)
		return query_fail_param(err, "from", "must be before to");
	first = query_floor_div(p->from_ms, p->step_ms);
	end = query_floor_div(p->to_ms - 1, p->step_ms) + 1;
	npoints = end - first;
	if (npoints > QUERY_MAX_POINTS)
		return query_fail_param(err, "step",
		                        "gives %" PRId64
		                        " points, more than %d: "
		                        "use a coarser step or a shorter range",
		                        npoints, QUERY_MAX_POINTS);
	return 0;
}

/* The parameters each command takes (NULL-terminated). */
static const char *const qp_events_list[] = {
        "application_id", "event_type", "status", "from", "to",
        "limit",          "cursor",     NULL};
static const char *const qp_events_get[] = {"event_id", NULL};
static const char *const qp_anomalies_list[] = {
        "detector", "application_id", "severity", "status", "from",
        "to",       "limit",          "cursor",   NULL};
static const char *const qp_metrics_query[] = {
        "application_id", "model", "metric", "agg", "from", "to", "step", NULL};
static const char *const qp_storage_check[] = {"full", NULL};
static const char *const qp_retention_show[] = {NULL};
static const char *const qp_storage_backup[] = {"path", "force", NULL};

static int query_events_list(struct query_db *, const struct query_params *,
                             json_t **);
static int query_events_get(struct query_db *, const struct query_params *,
                            json_t **);
static int query_anomalies_list(struct query_db *, const struct query_params *,
                                json_t **);
static int query_metrics_query(struct query_db *, const struct query_params *,
                               json_t **);
static int query_storage_check(struct query_db *, const struct query_params *,
                               json_t **);
static int query_retention_show(struct query_db *, const struct query_params *,
                                json_t **);
static int query_storage_backup(struct query_db *, const struct query_params *,
                                json_t **);

static const struct query_cmd {
	const char *name;
	const char *const *params;
	/* Answers: returns the status and sets *body. */
	int (*run)(struct query_db *, const struct query_params *, json_t **);
	bool deadline; /* an HTTP query: bounded by QUERY_DEADLINE_MS */
} query_cmds[] = {
        {"events.list", qp_events_list, query_events_list, true},
        {"events.get", qp_events_get, query_events_get, true},
        {"anomalies.list", qp_anomalies_list, query_anomalies_list, true},
        {"metrics.query", qp_metrics_query, query_metrics_query, true},
        {"storage.check", qp_storage_check, query_storage_check, false},
        {"retention.show", qp_retention_show, query_retention_show, false},
        {"storage.backup", qp_storage_backup, query_storage_backup, false},
};

static const struct query_cmd *
query_cmd_find(const char *name)
{
	size_t i;

	for (i = 0; name != NULL && i < SN_ARRAY_LEN(query_cmds); i++)
		if (strcmp(query_cmds[i].name, name) == 0)
			return &query_cmds[i];
	return NULL;
}

/* The 400 of a parameter cmd does not take; err->parameter is key (it
 * lives as long as the request). */
static int
query_unknown_param(const struct query_cmd *cmd, const char *key,
                    struct query_error *err)
{
	size_t i, n;
	int w;

	err->parameter = key;
	if (cmd->params[0] == NULL) {
		snprintf(err->reason, sizeof(err->reason),
		         "unknown parameter: %s takes none", cmd->name);
		return -1;
	}
	w = snprintf(err->reason, sizeof(err->reason),
	             "unknown parameter; %s takes", cmd->name);
	for (i = 0; cmd->params[i] != NULL && w > 0; i++) {
		n = (size_t)w;
		if (n >= sizeof(err->reason))
			break;
		w += snprintf(err->reason + n, sizeof(err->reason) - n, "%s %s",
		              i ? "," : "", cmd->params[i]);
	}
	return -1;
}

int
query_params_parse(const char *command, json_t *params, int64_t now_ms,
                   struct query_params *p, struct query_error *err)
{
	const struct query_cmd *cmd;
	const char *key;
	json_t *v;
	size_t i, k;

	memset(p, 0, sizeof(*p));
	memset(err, 0, sizeof(*err));
	if ((cmd = query_cmd_find(command)) == NULL)
		return query_fail_param(err, NULL, "unknown command");
	if (params != NULL && !json_is_object(params))
		return query_fail_param(err, NULL, "params must be an object");
	json_object_foreach(params, key, v)
	{
		for (i = 0; cmd->params[i] != NULL; i++)
			if (strcmp(cmd->params[i], key) == 0)
				break;
		if (cmd->params[i] == NULL)
			return query_unknown_param(cmd, key, err);
		for (k = 0; k < SN_ARRAY_LEN(qparam_defs); k++)
			if (strcmp(qparam_defs[k].name, key) == 0)
				break;
		if (k == SN_ARRAY_LEN(qparam_defs) ||
		    query_param_one(&qparam_defs[k], v, now_ms, p, err) < 0)
			return -1;
	}

	if (cmd->run == query_events_list || cmd->run == query_anomalies_list) {
		if (p->limit == 0)
			p->limit = QUERY_LIMIT_DEFAULT;
		if (p->has_from && p->has_to && p->from_ms >= p->to_ms)
			return query_fail_param(err, "from",
			                        "must be before to");
	}
	if (cmd->run == query_anomalies_list && p->status != NULL &&
	    strcmp(p->status, "firing") != 0 &&
	    strcmp(p->status, "resolved") != 0)
		return query_fail_param(err, "status",
		                        "must be firing or resolved");
	if (cmd->run == query_events_get && p->event_id == NULL)
		return query_fail_param(err, "event_id", "is required");
	if (cmd->run == query_metrics_query)
		return query_metrics_params(p, now_ms, err);
	if (cmd->run == query_storage_backup) {
		if (p->path == NULL)
			return query_fail_param(err, "path", "is required");
		if (p->path[0] != '/')
			return query_fail_param(err, "path",
			                        "must be an absolute path");
		if (strlen(p->path) > PATH_MAX - 16)
			return query_fail_param(err, "path", "too long");
	}
	return 0;
}

/* --- events ---------------------------------------------------------- */

/* Columns every event query selects, in this order. */
#define QUERY_EVENT_COLS                                                 \
	"id, seq, ts_ms, recv_ms, raw, event_id, timestamp, event_type," \
	" application_id"

/*
 * One event row as the API shows it: the object the client sent, plus
 * "seq" and "received_at".  A raw text that does not parse (it always
 * should) gives the indexed fields instead.  NULL on ENOMEM.
 */
static json_t *
query_event_json(sqlite3_stmt *st)
{
	json_t *o;

	o = json_loadb((const char *)sqlite3_column_text(st, 4),
	               (size_t)sqlite3_column_bytes(st, 4), 0, NULL);
	if (!json_is_object(o)) {
		json_decref(o);
		o = json_pack("{s:o, s:o, s:o, s:o}", "event_id",
		              query_col_json(st, 5), "timestamp",
		              query_col_json(st, 6), "event_type",
		              query_col_json(st, 7), "application_id",
		              query_col_json(st, 8));
		if (o == NULL)
			return NULL;
	}
	json_object_set_new(o, "seq",
	                    json_integer(sqlite3_column_int64(st, 1)));
	json_object_set_new(o, "received_at", query_col_time(st, 3));
	return o;
}

/*
 * Runs a list statement (newest first, limit + 1 rows) and builds
 * {"<key>":[...],"next_cursor":...}.  row() turns a row into its object;
 * columns 0 and 2 must be id and ts_ms.  raw_col, when >= 0, is a
 * column whose bytes count towards QUERY_PAGE_BYTES.
 */
static int
query_run_list(struct query_db *qd, struct qsql *q, unsigned limit,
               const char *key, json_t *(*row)(sqlite3_stmt *), int raw_col,
               json_t **body)
{
	char cursor[QUERY_CURSOR_LEN + 1];
	sqlite3_stmt *st;
	json_t *list, *o;
	int64_t last_ts = 0, last_id = 0;
	size_t bytes = 0;
	unsigned n = 0;
	int rc, more = 0;

	if ((st = qsql_prepare(qd, q)) == NULL)
		return query_sql_fail(qd, key, body);
	if ((list = json_array()) == NULL) {
		sqlite3_finalize(st);
		*body = NULL;
		return 503;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == limit || (n > 0 && bytes >= QUERY_PAGE_BYTES)) {
			more = 1;
			break;
		}
		if ((o = row(st)) == NULL || json_array_append_new(list, o)) {
			rc = SQLITE_NOMEM;
			break;
		}
		last_id = sqlite3_column_int64(st, 0);
		last_ts = sqlite3_column_int64(st, 2);
		if (raw_col >= 0)
			bytes += (size_t)sqlite3_column_bytes(st, raw_col);
		n++;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		json_decref(list);
		rc = rc == SQLITE_NOMEM ? 503 : query_sql_fail(qd, key, body);
		if (rc == 503 && *body == NULL)
			*body = query_error_body("out of memory", NULL);
		sqlite3_finalize(st);
		return rc;
	}
	sqlite3_finalize(st);
	if (more)
		query_cursor_encode(last_ts, last_id, cursor, sizeof(cursor));
	*body = json_pack("{s:o, s:o}", key, list, "next_cursor",
	                  more ? json_string(cursor) : json_null());
	return 200;
}

/* The time range and cursor conditions shared by the list commands. */
static void
query_add_range(struct qsql *q, const struct query_params *p)
{
	if (p->has_from)
		qsql_int(q, " AND ts_ms >= ?", p->from_ms);
	if (p->has_to)
		qsql_int(q, " AND ts_ms < ?", p->to_ms);
	if (p->has_cursor) {
		/* (ts_ms, id) < cursor, spelt so the ts_ms bound can use an
		 * index. */
		qsql_int(q, " AND ts_ms <= ?", p->cursor_ts);
		qsql_int(q, " AND (ts_ms < ?", p->cursor_ts);
		qsql_int(q, " OR id < ?)", p->cursor_id);
	}
	qsql_int(q, " ORDER BY ts_ms DESC, id DESC LIMIT ?",
	         (int64_t)p->limit + 1);
}

static int
query_events_list(struct query_db *qd, const struct query_params *p,
                  json_t **body)
{
	struct qsql q = {0};

	qsql_add(&q, "SELECT " QUERY_EVENT_COLS " FROM events WHERE 1");
	if (p->application_id != NULL)
		qsql_text(&q, " AND application_id = ?", p->application_id);
	if (p->event_type != NULL)
		qsql_text(&q, " AND event_type = ?", p->event_type);
	if (p->status != NULL)
		qsql_text(&q, " AND status = ?", p->status);
	query_add_range(&q, p);
	return query_run_list(qd, &q, p->limit, "events", query_event_json, 4,
	                      body);
}

/*
 * The newest event with the id.  There is no index on event_id alone
 * (schema.c: it would cost every insert a random write), so this walks
 * the (ts_ms, event_id) index from the newest end, reading only the
 * index, and stops at the first match: recent events are found at once,
 * an unknown id costs one pass over that index.
 */
static int
query_events_get(struct query_db *qd, const struct query_params *p,
                 json_t **body)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(qd->db,
	                       "SELECT " QUERY_EVENT_COLS
	                       " FROM events INDEXED BY events_ts_event_id"
	                       " WHERE event_id = ? ORDER BY ts_ms DESC"
	                       " LIMIT 1",
	                       -1, &st, NULL) != SQLITE_OK)
		return query_sql_fail(qd, "event", body);
	sqlite3_bind_text(st, 1, p->event_id, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*body = query_event_json(st);
		rc = *body != NULL ? 200 : 503;
	} else if (rc == SQLITE_DONE) {
		*body = json_pack("{s:s, s:s}", "error", "not found",
		                  "event_id", p->event_id);
		rc = 404;
	} else
		rc = query_sql_fail(qd, "event", body);
	sqlite3_finalize(st);
	return rc;
}

/* --- anomalies ------------------------------------------------------- */

#define QUERY_ANOMALY_COLS                                                \
	"id, seq, ts_ms, anomaly_id, detected_ms, status, detector_id,"   \
	" detector_type, alert, severity, application_id, model, metric," \
	" value, expected, score, threshold, window_start_ms,"            \
	" window_end_ms, samples, labels, event_ids, event_id, message"

/* One anomaly row as the record of docs/detection.md, plus seq and
 * detected_at.  NULL on ENOMEM. */
static json_t *
query_anomaly_json(sqlite3_stmt *st)
{
	json_t *model = query_col_json(st, 11);

	if (json_is_null(model)) {
		json_decref(model);
		model = json_string("");
	}
	return json_pack(
	        "{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o,"
	        " s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}",
	        "id", query_col_json(st, 3), "timestamp", query_col_time(st, 2),
	        "status", query_col_json(st, 5), "detector_id",
	        query_col_json(st, 6), "detector_type", query_col_json(st, 7),
	        "alert", query_col_json(st, 8), "severity",
	        query_col_json(st, 9), "labels",
	        query_col_parsed(st, 20, json_object()), "application_id",
	        query_col_json(st, 10), "model", model, "metric",
	        query_col_json(st, 12), "value", query_col_json(st, 13),
	        "expected", query_col_json(st, 14), "score",
	        query_col_json(st, 15), "threshold", query_col_json(st, 16),
	        "window_start", query_col_time(st, 17), "window_end",
	        query_col_time(st, 18), "samples", query_col_json(st, 19),
	        "event_id", query_col_json(st, 22), "event_ids",
	        query_col_parsed(st, 21, json_array()), "message",
	        query_col_json(st, 23), "detected_at", query_col_time(st, 4),
	        "seq", query_col_json(st, 1));
}

static int
query_anomalies_list(struct query_db *qd, const struct query_params *p,
                     json_t **body)
{
	struct qsql q = {0};

	qsql_add(&q, "SELECT " QUERY_ANOMALY_COLS " FROM anomalies WHERE 1");
	if (p->detector != NULL)
		qsql_text(&q, " AND detector_id = ?", p->detector);
	if (p->application_id != NULL)
		qsql_text(&q, " AND application_id = ?", p->application_id);
	if (p->severity != NULL)
		qsql_text(&q, " AND severity = ?", p->severity);
	if (p->status != NULL)
		qsql_text(&q, " AND status = ?", p->status);
	query_add_range(&q, p);
	return query_run_list(qd, &q, p->limit, "anomalies", query_anomaly_json,
	                      -1, body);
}

/* --- metrics --------------------------------------------------------- */

/* One point of a series while it accumulates. */
struct query_bucket {
	int64_t start; /* bucket start, ms */
	uint64_t count, errors;
	double sum, min, max;
	/* quantiles from raw events: the values */
	double *vals;
	size_t nvals, cap;
	/* quantiles from rollups: the merged sketches (NULL: not needed) */
	struct qsketch *sk;
	int bad_sketch; /* a stored sketch that did not decode */
};

static void
query_bucket_reset(struct query_bucket *b, int64_t start)
{
	b->start = start;
	b->count = b->errors = 0;
	b->sum = 0;
	b->min = INFINITY;
	b->max = -INFINITY;
	b->nvals = 0;
	if (b->sk != NULL)
		qsketch_reset(b->sk);
	b->bad_sketch = 0;
}

static void
query_bucket_free(struct query_bucket *b)
{
	free(b->vals);
	free(b->sk);
}

static int
query_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* The value of a finished bucket for agg; NAN when there is none. */
static double
query_bucket_value(struct query_bucket *b, const struct query_agg *agg,
                   int64_t step_ms, int from_raw)
{
	size_t rank;

	switch (agg->kind) {
	case AGG_COUNT:
		return (double)b->count;
	case AGG_SUM:
		return b->sum;
	case AGG_AVG:
		return b->sum / (double)b->count;
	case AGG_MIN:
		return b->min;
	case AGG_MAX:
		return b->max;
	case AGG_ERROR_RATE:
		return (double)b->errors / (double)b->count;
	case AGG_RATE:
		return (double)b->count / ((double)step_ms / 1000.0);
	case AGG_QUANTILE:
		if (from_raw) {
			if (b->nvals == 0)
				return NAN;
			/* The same rank the sketch answers: floor(q*(n-1)) */
			qsort(b->vals, b->nvals, sizeof(double),
			      query_cmp_double);
			rank = (size_t)floor(agg->q * (double)(b->nvals - 1));
			return b->vals[rank];
		}
		if (b->sk == NULL || b->bad_sketch)
			return NAN;
		return qsketch_quantile(b->sk, agg->q);
	}
	return NAN;
}

/* Appends b as a point of points when it holds anything.  -1: ENOMEM. */
static int
query_bucket_emit(struct query_bucket *b, json_t *points,
                  const struct query_agg *agg, int64_t step_ms, int from_raw)
{
	double v;
	json_t *pt;

	if (b->count == 0)
		return 0;
	v = query_bucket_value(b, agg, step_ms, from_raw);
	pt = json_pack("{s:o, s:o, s:I}", "ts", query_time_json(b->start),
	               "value", isfinite(v) ? json_real(v) : json_null(),
	               "count", (json_int_t)b->count);
	return json_array_append_new(points, pt);
}

/*
 * The common end of a series scan: rc is the last sqlite3_step result.
 * Emits the last bucket, frees b and st; returns the HTTP status.
 */
static int
query_series_end(struct query_db *qd, sqlite3_stmt *st, int rc,
                 struct query_bucket *b, json_t *points,
                 const struct query_agg *agg, int64_t step_ms, int raw,
                 json_t **body)
{
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		query_bucket_free(b);
		rc = query_sql_fail(qd, "metrics", body);
		sqlite3_finalize(st);
		return rc;
	}
	sqlite3_finalize(st);
	rc = query_bucket_emit(b, points, agg, step_ms, raw);
	query_bucket_free(b);
	return rc == 0 ? 200 : 503;
}

/*
 * The series from raw events: every event of [first, end) read in time
 * order, at most QUERY_MAX_RAW_ROWS of them.  Quantiles are exact.
 */
static int
query_series_raw(struct query_db *qd, const struct query_params *p,
                 const struct query_metric *m, const struct query_agg *agg,
                 int64_t first, int64_t end, json_t *points, json_t **body)
{
	struct query_bucket b = {0};
	struct query_error err;
	struct qsql q = {0};
	sqlite3_stmt *st;
	uint64_t rows = 0;
	int64_t ts, start;
	const char *status;
	double v;
	int rc;

	/* The column comes from query_metrics[], never from the request. */
	qsql_add(&q, "SELECT ts_ms, ");
	qsql_add(&q, m->column != NULL ? m->column : "NULL");
	qsql_add(&q, ", status FROM events WHERE 1");
	qsql_int(&q, " AND ts_ms >= ?", first);
	qsql_int(&q, " AND ts_ms < ?", end);
	if (p->application_id != NULL)
		qsql_text(&q, " AND application_id = ?", p->application_id);
	if (p->model != NULL)
		qsql_text(&q, " AND model = ?", p->model);
	if (m->column != NULL) {
		qsql_add(&q, " AND ");
		qsql_add(&q, m->column);
		qsql_add(&q, " IS NOT NULL");
	}
	qsql_add(&q, " ORDER BY ts_ms");
	if ((st = qsql_prepare(qd, &q)) == NULL)
		return query_sql_fail(qd, "metrics", body);
	query_bucket_reset(&b, first);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (++rows > QUERY_MAX_RAW_ROWS) {
			sqlite3_finalize(st);
			query_bucket_free(&b);
			query_fail_param(&err, "step",
			                 "the range holds more than %d events; "
			                 "use a step of 1m or more (rollups)",
			                 QUERY_MAX_RAW_ROWS);
			*body = query_param_body(&err);
			return 400;
		}
		ts = sqlite3_column_int64(st, 0);
		start = first +
		        query_floor_div(ts - first, p->step_ms) * p->step_ms;
		if (start != b.start) {
			if (query_bucket_emit(&b, points, agg, p->step_ms, 1))
				break;
			query_bucket_reset(&b, start);
		}
		v = sqlite3_column_double(st, 1);
		status = (const char *)sqlite3_column_text(st, 2);
		b.count++;
		/* An error is an event whose status is given and is not
		 * "success", as the rollups count them. */
		if (status != NULL && strcmp(status, "success") != 0)
			b.errors++;
		if (m->column != NULL) {
			b.sum += v;
			if (v < b.min)
				b.min = v;
			if (v > b.max)
				b.max = v;
			if (agg->kind == AGG_QUANTILE) {
				if (b.nvals == b.cap) {
					b.cap = b.cap ? 2 * b.cap : 256;
					b.vals = realloc(
					        b.vals, b.cap * sizeof(double));
					if (b.vals == NULL)
						fatalx("out of memory");
				}
				b.vals[b.nvals++] = v;
			}
		}
	}
	return query_series_end(qd, st, rc, &b, points, agg, p->step_ms, 1,
	                        body);
}

/*
 * The series from the rollups of resolution res (seconds): the rows of
 * [first, end) for the metric, the application and the model (all of
 * them when not given), folded into step buckets.
 */
static int
query_series_rollups(struct query_db *qd, const struct query_params *p,
                     const struct query_agg *agg, int res, int64_t first,
                     int64_t end, json_t *points, json_t **body)
{
	struct query_bucket b = {0};
	struct qsql q = {0};
	sqlite3_stmt *st;
	int64_t bucket, start;
	double v;
	int rc;

	qsql_add(&q, agg->kind == AGG_QUANTILE
	                     ? "SELECT bucket_ms, count, errors, sum, min,"
	                       " max, sketch"
	                     : "SELECT bucket_ms, count, errors, sum, min,"
	                       " max, NULL");
	qsql_int(&q, " FROM rollups WHERE resolution = ?", res);
	qsql_int(&q, " AND bucket_ms >= ?", first);
	qsql_int(&q, " AND bucket_ms < ?", end);
	qsql_text(&q, " AND metric = ?", p->metric);
	if (p->application_id != NULL)
		qsql_text(&q, " AND application_id = ?", p->application_id);
	if (p->model != NULL)
		qsql_text(&q, " AND model = ?", p->model);
	qsql_add(&q, " ORDER BY bucket_ms");
	if ((st = qsql_prepare(qd, &q)) == NULL)
		return query_sql_fail(qd, "metrics", body);
	if (agg->kind == AGG_QUANTILE)
		b.sk = qsketch_init(
		        sn_xmalloc(qsketch_size(ROLLUP_SKETCH_BINS)),
		        ROLLUP_SKETCH_ERROR, ROLLUP_SKETCH_BINS);
	query_bucket_reset(&b, first);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		bucket = sqlite3_column_int64(st, 0);
		start = first + query_floor_div(bucket - first, p->step_ms) *
		                        p->step_ms;
		if (start != b.start) {
			if (query_bucket_emit(&b, points, agg, p->step_ms, 0))
				break;
			query_bucket_reset(&b, start);
		}
		if (sqlite3_column_int64(st, 1) <= 0)
			continue;
		b.count += (uint64_t)sqlite3_column_int64(st, 1);
		b.errors += (uint64_t)sqlite3_column_int64(st, 2);
		if (sqlite3_column_type(st, 3) != SQLITE_NULL)
			b.sum += sqlite3_column_double(st, 3);
		if (sqlite3_column_type(st, 4) != SQLITE_NULL &&
		    (v = sqlite3_column_double(st, 4)) < b.min)
			b.min = v;
		if (sqlite3_column_type(st, 5) != SQLITE_NULL &&
		    (v = sqlite3_column_double(st, 5)) > b.max)
			b.max = v;
		/* qsketch_merge_encoded checks the blob whole first: a
		 * damaged one is refused, never read past its end. */
		if (agg->kind == AGG_QUANTILE &&
		    sqlite3_column_type(st, 6) == SQLITE_BLOB &&
		    qsketch_merge_encoded(
		            b.sk, sqlite3_column_blob(st, 6),
		            (size_t)sqlite3_column_bytes(st, 6)) != 0)
			b.bad_sketch = 1;
	}
	return query_series_end(qd, st, rc, &b, points, agg, p->step_ms, 0,
	                        body);
}

/*
 * metrics.query: which data answers.  A step that is not a multiple of
 * a minute is finer than the rollups: raw events, which must still hold
 * the whole range.  A multiple of an hour reads the hourly rollups; a
 * multiple of a minute reads the minute rollups while they still cover
 * the range, and otherwise needs an hourly step.
 */
static int
query_metrics_query(struct query_db *qd, const struct query_params *p,
                    json_t **body)
{
	const struct query_metric *m = query_metric_find(p->metric);
	const struct query_agg *agg = query_agg_find(p->agg);
	int64_t now = sn_now_ms(), first, end;
	struct query_error err;
	char step[32], keep[32];
	const char *source;
	json_t *points;
	int rc;

	first = query_floor_div(p->from_ms, p->step_ms) * p->step_ms;
	end = (query_floor_div(p->to_ms - 1, p->step_ms) + 1) * p->step_ms;
	if (p->step_ms % MINUTE_MS != 0) {
		source = "raw";
		if (qd->ret.raw_ms > 0 && first < now - qd->ret.raw_ms) {
			sn_duration_format(qd->ret.raw_ms, keep, sizeof(keep));
			query_fail_param(&err, "step",
			                 "a step that is not a multiple of 1m "
			                 "reads raw events, kept for %s: the "
			                 "range must start after now-%s",
			                 keep, keep);
			*body = query_param_body(&err);
			return 400;
		}
	} else if (p->step_ms % HOUR_MS == 0) {
		source = "1h";
	} else {
		source = "1m";
		if (qd->ret.rollups_1m_ms > 0 &&
		    first < now - qd->ret.rollups_1m_ms) {
			sn_duration_format(qd->ret.rollups_1m_ms, keep,
			                   sizeof(keep));
			query_fail_param(
			        &err, "step",
			        "1-minute rollups are kept for %s: for "
			        "a range starting before now-%s use a "
			        "step that is a multiple of 1h",
			        keep, keep);
			*body = query_param_body(&err);
			return 400;
		}
	}
	if ((points = json_array()) == NULL)
		return 503;
	if (strcmp(source, "raw") == 0)
		rc = query_series_raw(qd, p, m, agg, first, end, points, body);
	else
		rc = query_series_rollups(qd, p, agg,
		                          source[1] == 'h' ? 3600 : 60, first,
		                          end, points, body);
	if (rc != 200) {
		json_decref(points);
		return rc;
	}
	sn_duration_format(p->step_ms, step, sizeof(step));
	*body = json_pack("{s:s, s:s, s:s, s:s, s:o, s:o, s:o}", "metric",
	                  p->metric, "agg", p->agg, "step", step, "resolution",
	                  source, "from", query_time_json(first), "to",
	                  query_time_json(end), "points", points);
	if (*body != NULL && p->application_id != NULL)
		json_object_set_new(*body, "application_id",
		                    json_string(p->application_id));
	if (*body != NULL && p->model != NULL)
		json_object_set_new(*body, "model", json_string(p->model));
	return *body != NULL ? 200 : 503;
}

/* --- storage.check and retention.show -------------------------------- */

/* Runs sql, which yields one row of integers, into out[0..n).  A NULL
 * column gives INT64_MIN.  0, or -1 (the connection has the error). */
static int
query_ints(struct query_db *qd, const char *sql, int64_t *out, int n)
{
	sqlite3_stmt *st;
	int i, rc;

	if (sqlite3_prepare_v2(qd->db, sql, -1, &st, NULL) != SQLITE_OK)
		return -1;
	rc = sqlite3_step(st);
	for (i = 0; i < n && rc == SQLITE_ROW; i++)
		out[i] = sqlite3_column_type(st, i) == SQLITE_NULL
		                 ? INT64_MIN
		                 : sqlite3_column_int64(st, i);
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 0 : -1;
}

/* A time column value of query_ints as JSON: RFC 3339 or null. */
static json_t *
query_ms_json(int64_t ms)
{
	return ms == INT64_MIN ? json_null() : query_time_json(ms);
}

static void query_problem(json_t *list, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

/* Appends a sentence to list (problems or warnings). */
static void
query_problem(json_t *list, const char *fmt, ...)
{
	char buf[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	json_array_append_new(list, json_string(buf));
}

/* Whether the last failure was query_stop interrupting us. */
static int
query_stopping(struct query_db *qd)
{
	return qd->stop != NULL && atomic_load(qd->stop);
}

/*
 * PRAGMA quick_check, or integrity_check when full: {"check", "ok",
 * "messages"}.  quick_check verifies every page of every table and
 * index (b-tree structure, cell bounds, free list, record formats) in
 * one pass, which is what a damaged file shows; integrity_check adds
 * that each index holds exactly its table's rows and that UNIQUE and NOT
 * NULL hold, which means a lookup per row: minutes on a large file.
 * Returns NULL when stopped.
 */
static json_t *
query_integrity(struct query_db *qd, bool full, json_t *problems)
{
	const char *check = full ? "integrity_check" : "quick_check";
	sqlite3_stmt *st;
	json_t *msgs = json_array();
	const char *text;
	int rc, ok = 1, n = 0;

	/* PRAGMA takes no bound parameters; the text is constant. */
	rc = sqlite3_prepare_v2(qd->db,
	                        full ? "PRAGMA integrity_check(20)"
	                             : "PRAGMA quick_check(20)",
	                        -1, &st, NULL);
	if (rc == SQLITE_OK) {
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			text = (const char *)sqlite3_column_text(st, 0);
			if (text != NULL && strcmp(text, "ok") == 0)
				continue;
			ok = 0;
			if (n++ < QUERY_MAX_INTEGRITY_MSGS)
				json_array_append_new(
				        msgs, json_string(text ? text : "?"));
		}
		sqlite3_finalize(st);
	}
	if (rc != SQLITE_DONE && rc != SQLITE_OK) {
		if (query_stopping(qd)) {
			json_decref(msgs);
			return NULL;
		}
		ok = 0;
		json_array_append_new(msgs,
		                      json_string(sqlite3_errmsg(qd->db)));
	}
	if (!ok)
		query_problem(problems, "%s found problems: %s", check,
		              json_string_value(json_array_get(msgs, 0)));
	return json_pack("{s:s, s:b, s:o}", "check", check, "ok", ok,
	                 "messages", msgs);
}

/* Size of a file, 0 when it does not exist. */
static int64_t
query_file_size(const char *path, const char *suffix)
{
	char buf[PATH_MAX];
	struct stat sb;

	snprintf(buf, sizeof(buf), "%s%s", path, suffix);
	return stat(buf, &sb) == 0 ? (int64_t)sb.st_size : 0;
}

/* The tables storage.check counts, with constant SQL for each. */
static const struct {
	const char *name;
	const char *count_sql;
} query_tables[] = {
        {"events", "SELECT count(*) FROM events"},
        {"anomalies", "SELECT count(*) FROM anomalies"},
        {"rollups", "SELECT count(*) FROM rollups"},
        {"notifications", "SELECT count(*) FROM notifications"},
};

/* The retention policies (retention.h names them), their table, the
 * key that configures them, and what they cover. */
static const struct query_policy {
	const char *table;
	const char *key; /* storage.retention.<key> */
	size_t keep_off; /* in struct query_retention */
	const char *sql; /* rows, oldest, newest */
} query_policies[RETENTION_NPOLICIES] = {
        [RETENTION_EVENTS] = {"events", "raw",
                              offsetof(struct query_retention, raw_ms),
                              "SELECT count(*), min(ts_ms), max(ts_ms)"
                              " FROM events"},
        [RETENTION_ROLLUPS_1M] = {"rollups", "rollups_1m",
                                  offsetof(struct query_retention,
                                           rollups_1m_ms),
                                  "SELECT count(*), min(bucket_ms),"
                                  " max(bucket_ms) FROM rollups"
                                  " WHERE resolution = 60"},
        [RETENTION_ROLLUPS_1H] = {"rollups", "aggregated",
                                  offsetof(struct query_retention,
                                           rollups_1h_ms),
                                  "SELECT count(*), min(bucket_ms),"
                                  " max(bucket_ms) FROM rollups"
                                  " WHERE resolution = 3600"},
        [RETENTION_ANOMALIES] = {"anomalies", "anomalies",
                                 offsetof(struct query_retention, anomalies_ms),
                                 "SELECT count(*), min(ts_ms), max(ts_ms)"
                                 " FROM anomalies"},
        [RETENTION_NOTIFICATIONS] = {"notifications", "notifications",
                                     offsetof(struct query_retention,
                                              notifications_ms),
                                     "SELECT count(*), min(ts_ms),"
                                     " max(ts_ms) FROM notifications"},
};

/*
 * The rows of retention_runs as an object keyed by policy: {"at",
 * "deleted", "deleted_total", "cutoff"}.  Empty when the table does not
 * exist (a version 2 file).  NULL when stopped.
 */
static json_t *
query_retention_runs(struct query_db *qd, json_t *problems)
{
	sqlite3_stmt *st;
	json_t *runs = json_object();
	int rc;

	if (query_has_table(qd, "retention_runs") != 1)
		return runs;
	rc = sqlite3_prepare_v2(qd->db,
	                        "SELECT policy, last_run_ms, deleted_last,"
	                        " deleted_total, cutoff_ms FROM retention_runs",
	                        -1, &st, NULL);
	if (rc == SQLITE_OK) {
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			if (sqlite3_column_text(st, 0) == NULL)
				continue;
			json_object_set_new(
			        runs, (const char *)sqlite3_column_text(st, 0),
			        json_pack("{s:o, s:o, s:o, s:o}", "at",
			                  query_col_time(st, 1), "deleted",
			                  query_col_json(st, 2),
			                  "deleted_total",
			                  query_col_json(st, 3), "cutoff",
			                  query_col_time(st, 4)));
		}
		sqlite3_finalize(st);
	}
	if (rc != SQLITE_DONE && rc != SQLITE_OK) {
		if (query_stopping(qd)) {
			json_decref(runs);
			return NULL;
		}
		query_problem(problems, "reading retention_runs: %s",
		              sqlite3_errmsg(qd->db));
	}
	return runs;
}

/* Adds a warning when retention should have run by now and has not. */
static void
query_check_retention_age(struct query_db *qd, json_t *runs, json_t *warnings)
{
	int64_t now = sn_now_ms(), slack, at;
	const char *name;
	json_t *r;
	char ago[32];

	if (qd->ret.interval_ms <= 0)
		return;
	/* Three intervals and a minute: a pass may take a while. */
	slack = 3 * qd->ret.interval_ms + MINUTE_MS;
	if (now - qd->opened_ms < slack)
		return; /* stored has not been up long enough to tell */
	if (json_object_size(runs) == 0) {
		query_problem(warnings, "retention has not run yet");
		return;
	}
	json_object_foreach(runs, name, r)
	{
		if (query_time_parse(
		            json_string_value(json_object_get(r, "at")), now,
		            &at) < 0 ||
		    now - at > slack) {
			sn_duration_format(slack, ago, sizeof(ago));
			query_problem(warnings,
			              "retention policy %s has not run for "
			              "more than %s",
			              name, ago);
		}
	}
}

static int
query_storage_check(struct query_db *qd, const struct query_params *p,
                    json_t **body)
{
	int64_t t0 = sn_mono_ms(), v[3];
	json_t *problems = json_array(), *warnings = json_array();
	json_t *integrity, *tables, *runs, *disk, *b;
	struct statvfs vfs;
	double pct;
	size_t i;

	if ((integrity = query_integrity(qd, p->full, problems)) == NULL)
		goto stopped;
	b = json_pack("{s:s, s:o}", "path", qd->path, "integrity", integrity);
	if (b == NULL)
		goto nomem;

	if (query_ints(qd, "PRAGMA user_version", v, 1) == 0) {
		json_object_set_new(b, "schema_version", json_integer(v[0]));
		if (v[0] != STORE_SCHEMA_VERSION)
			query_problem(problems,
			              "schema version %" PRId64 ", this build "
			              "writes %d",
			              v[0], STORE_SCHEMA_VERSION);
	} else
		query_problem(problems, "reading the schema version: %s",
		              sqlite3_errmsg(qd->db));
	json_object_set_new(b, "file_bytes",
	                    json_integer(query_file_size(qd->path, "")));
	json_object_set_new(b, "wal_bytes",
	                    json_integer(query_file_size(qd->path, "-wal")));
	if (query_ints(qd, "PRAGMA page_size", v, 1) == 0)
		json_object_set_new(b, "page_size", json_integer(v[0]));
	if (query_ints(qd, "PRAGMA page_count", v, 1) == 0)
		json_object_set_new(b, "pages", json_integer(v[0]));
	if (query_ints(qd, "PRAGMA freelist_count", v, 1) == 0)
		json_object_set_new(b, "free_pages", json_integer(v[0]));

	if (statvfs(qd->folder, &vfs) == 0 && vfs.f_blocks > 0) {
		pct = 100.0 * (double)vfs.f_bavail / (double)vfs.f_blocks;
		disk = json_pack("{s:s, s:I, s:I, s:f}", "folder", qd->folder,
		                 "free_bytes",
		                 (json_int_t)(vfs.f_bavail * vfs.f_frsize),
		                 "total_bytes",
		                 (json_int_t)(vfs.f_blocks * vfs.f_frsize),
		                 "free_percent", round(pct * 10) / 10);
		json_object_set_new(b, "disk", disk);
		if (pct < QUERY_MIN_FREE_PCT)
			query_problem(problems,
			              "%.1f%% of the disk holding %s is free "
			              "(below %.0f%%)",
			              pct, qd->folder, QUERY_MIN_FREE_PCT);
	} else
		query_problem(problems, "statvfs %s: %s", qd->folder,
		              strerror(errno));

	tables = json_object();
	for (i = 0; i < SN_ARRAY_LEN(query_tables); i++) {
		if (query_has_table(qd, query_tables[i].name) != 1)
			continue;
		if (query_ints(qd, query_tables[i].count_sql, v, 1) == 0)
			json_object_set_new(tables, query_tables[i].name,
			                    json_integer(v[0]));
		else if (query_stopping(qd))
			goto stopped_b;
		else
			query_problem(problems, "counting %s: %s",
			              query_tables[i].name,
			              sqlite3_errmsg(qd->db));
	}
	json_object_set_new(b, "rows", tables);
	if (query_ints(qd, "SELECT min(ts_ms), max(ts_ms) FROM events", v, 2) ==
	    0)
		json_object_set_new(b, "events",
		                    json_pack("{s:o, s:o}", "oldest",
		                              query_ms_json(v[0]), "newest",
		                              query_ms_json(v[1])));
	if ((runs = query_retention_runs(qd, problems)) == NULL)
		goto stopped_b;
	query_check_retention_age(qd, runs, warnings);
	json_object_set_new(b, "retention", runs);

	json_object_set_new(b, "ok",
	                    json_boolean(json_array_size(problems) == 0));
	json_object_set_new(b, "problems", problems);
	json_object_set_new(b, "warnings", warnings);
	json_object_set_new(b, "elapsed_ms", json_integer(sn_mono_ms() - t0));
	*body = b;
	return 200;

stopped_b:
	json_decref(b);
stopped:
	json_decref(problems);
	json_decref(warnings);
	*body = query_error_body("unavailable", "stored is stopping");
	return 503;
nomem:
	json_decref(problems);
	json_decref(warnings);
	*body = NULL;
	return 503;
}

static int
query_retention_show(struct query_db *qd, const struct query_params *p,
                     json_t **body)
{
	const struct query_policy *pol;
	json_t *list = json_array(), *problems = json_array(), *runs, *o;
	int64_t keep, now = sn_now_ms(), v[3];
	char keepbuf[32], key[64];
	const char *name;
	int i;

	(void)p;
	if ((runs = query_retention_runs(qd, problems)) == NULL)
		goto stopped;
	for (i = 0; i < RETENTION_NPOLICIES; i++) {
		pol = &query_policies[i];
		name = retention_policy_name(i);
		keep = *(const int64_t *)(const void *)((const char *)&qd->ret +
		                                        pol->keep_off);
		if (keep > 0)
			sn_duration_format(keep, keepbuf, sizeof(keepbuf));
		else
			snprintf(keepbuf, sizeof(keepbuf), "forever");
		snprintf(key, sizeof(key), "storage.retention.%s", pol->key);
		o = json_pack("{s:s, s:s, s:s, s:s, s:I, s:o}", "policy", name,
		              "table", pol->table, "key", key, "keep", keepbuf,
		              "keep_ms", (json_int_t)keep, "cutoff",
		              keep > 0 ? query_time_json(now - keep)
		                       : json_null());
		if (query_has_table(qd, pol->table) != 1) {
			json_object_set_new(o, "rows", json_null());
		} else if (query_ints(qd, pol->sql, v, 3) == 0) {
			json_object_set_new(o, "rows", json_integer(v[0]));
			json_object_set_new(o, "oldest", query_ms_json(v[1]));
			json_object_set_new(o, "newest", query_ms_json(v[2]));
		} else if (query_stopping(qd)) {
			json_decref(o);
			goto stopped;
		} else {
			query_problem(problems, "%s: %s", pol->table,
			              sqlite3_errmsg(qd->db));
			json_object_set_new(o, "rows", json_null());
		}
		json_object_set(o, "last_run",
		                json_object_get(runs, name) != NULL
		                        ? json_object_get(runs, name)
		                        : json_null());
		json_array_append_new(list, o);
	}
	sn_duration_format(qd->ret.interval_ms, keepbuf, sizeof(keepbuf));
	*body = json_pack("{s:s, s:I, s:o, s:o}", "interval", keepbuf,
	                  "interval_ms", (json_int_t)qd->ret.interval_ms,
	                  "policies", list, "problems", problems);
	json_decref(runs);
	return *body != NULL ? 200 : 503;
stopped:
	json_decref(runs);
	json_decref(list);
	json_decref(problems);
	*body = query_error_body("unavailable", "stored is stopping");
	return 503;
}

/* --- storage.backup -------------------------------------------------- */

/* fsyncs the folder holding path, so a rename into it is durable. */
static void
query_sync_dir(const char *path)
{
	char *dir = sn_path_dirname(path);
	int fd;

	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		fsync(fd);
		close(fd);
	}
	free(dir);
}

/* Whether path names the live database (or its -wal, -shm). */
static int
query_is_live_file(struct query_db *qd, const char *path)
{
	static const char *const suffixes[] = {"", "-wal", "-shm"};
	struct stat a, b;
	char buf[PATH_MAX];
	size_t i;

	if (stat(path, &a) != 0)
		return 0;
	for (i = 0; i < SN_ARRAY_LEN(suffixes); i++) {
		snprintf(buf, sizeof(buf), "%s%s", qd->path, suffixes[i]);
		if (stat(buf, &b) == 0 && a.st_dev == b.st_dev &&
		    a.st_ino == b.st_ino)
			return 1;
	}
	return 0;
}

/*
 * Copies the database with sqlite's online backup API into a new file
 * beside path, then moves it to path.  The copy is the snapshot of one
 * read transaction held across every step: without it, each
 * sqlite3_backup_step would start a new read and a commit by the writer
 * in between would restart the copy from the first page, which under
 * steady ingestion might never finish.  In WAL mode the open read does
 * not stop the writer; it only keeps the WAL from being checkpointed
 * past the snapshot until the copy ends.  Steps of QUERY_BACKUP_PAGES
 * pages let query_stop interrupt a long copy.
 */
static int
query_storage_backup(struct query_db *qd, const struct query_params *p,
                     json_t **body)
{
	int64_t t0 = sn_mono_ms(), bytes, schema_rows;
	sqlite3_backup *bk = NULL;
	sqlite3 *dst = NULL;
	char tmp[PATH_MAX];
	int fd, rc, status = 500, pages = 0, in_read = 0, linked;
	struct stat sb;
	int expected = 0;

	if (query_is_live_file(qd, p->path)) {
		*body = query_error_body("invalid parameter",
		                         "%s is the live database", p->path);
		json_object_set_new(*body, "parameter", json_string("path"));
		return 400;
	}
	if (!p->force && lstat(p->path, &sb) == 0) {
		*body = query_error_body("file exists",
		                         "%s exists; give force to replace it",
		                         p->path);
		return 409;
	}
	if (!atomic_compare_exchange_strong(qd->backup_busy, &expected, 1)) {
		*body = query_error_body("busy", "a backup is already running");
		return 409;
	}
	snprintf(tmp, sizeof(tmp), "%s.XXXXXX", p->path);
	if ((fd = mkstemp(tmp)) < 0) {
		*body = query_error_body("cannot create the backup", "%s: %s",
		                         tmp, strerror(errno));
		atomic_store(qd->backup_busy, 0);
		return 500;
	}
	fchmod(fd, 0640);
	close(fd);

	if (sqlite3_open_v2(tmp, &dst,
	                    SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
	                    NULL) != SQLITE_OK) {
		*body = query_error_body("cannot create the backup", "%s: %s",
		                         tmp, sqlite3_errmsg(dst));
		goto fail;
	}
	/* One read transaction for the whole copy (see above). */
	if (sqlite3_exec(qd->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK ||
	    query_ints(qd, "SELECT count(*) FROM sqlite_master", &schema_rows,
	               1) != 0) {
		status = query_sql_fail(qd, "backup", body);
		goto fail;
	}
	in_read = 1;
	if ((bk = sqlite3_backup_init(dst, "main", qd->db, "main")) == NULL) {
		*body = query_error_body("backup failed", "%s",
		                         sqlite3_errmsg(dst));
		goto fail;
	}
	for (;;) {
		rc = sqlite3_backup_step(bk, QUERY_BACKUP_PAGES);
		if (rc == SQLITE_DONE)
			break;
		if (query_stopping(qd)) {
			*body = query_error_body("unavailable",
			                         "stored is stopping");
			status = 503;
			goto fail;
		}
		if (rc == SQLITE_OK)
			continue;
		if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) {
			sqlite3_sleep(10);
			continue;
		}
		*body = query_error_body("backup failed", "%s",
		                         sqlite3_errstr(rc));
		goto fail;
	}
	pages = sqlite3_backup_pagecount(bk);
	rc = sqlite3_backup_finish(bk);
	bk = NULL;
	sqlite3_exec(qd->db, "COMMIT", NULL, NULL, NULL);
	in_read = 0;
	if (rc != SQLITE_OK) {
		*body = query_error_body("backup failed", "%s",
		                         sqlite3_errstr(rc));
		goto fail;
	}
	/* The copy's own journal was committed with a sync; closing it
	 * leaves a plain file. */
	if (sqlite3_close(dst) != SQLITE_OK) {
		*body = query_error_body("backup failed", "closing %s: %s", tmp,
		                         sqlite3_errmsg(dst));
		goto fail;
	}
	dst = NULL;
	/* Into place: without force, link() refuses a file that appeared
	 * meanwhile; with force, rename() replaces it atomically. */
	if (p->force)
		linked = rename(tmp, p->path);
	else if ((linked = link(tmp, p->path)) == 0)
		unlink(tmp);
	if (linked != 0) {
		if (errno == EEXIST) {
			*body = query_error_body(
			        "file exists",
			        "%s exists; give force to replace it", p->path);
			status = 409;
		} else
			*body = query_error_body("cannot move the backup",
			                         "%s: %s", p->path,
			                         strerror(errno));
		unlink(tmp);
		atomic_store(qd->backup_busy, 0);
		return status;
	}
	query_sync_dir(p->path);
	bytes = query_file_size(p->path, "");
	*body = json_pack("{s:s, s:I, s:i, s:I, s:s}", "path", p->path, "bytes",
	                  (json_int_t)bytes, "pages", pages, "elapsed_ms",
	                  (json_int_t)(sn_mono_ms() - t0), "source", qd->path);
	log_info("backup of %s written to %s: %" PRId64 " bytes, %d pages",
	         qd->path, p->path, bytes, pages);
	atomic_store(qd->backup_busy, 0);
	return *body != NULL ? 200 : 503;

fail:
	if (bk != NULL)
		sqlite3_backup_finish(bk);
	if (in_read)
		sqlite3_exec(qd->db, "COMMIT", NULL, NULL, NULL);
	sqlite3_close(dst);
	unlink(tmp);
	{
		char j[PATH_MAX + 16];

		snprintf(j, sizeof(j), "%s-journal", tmp);
		unlink(j);
	}
	log_warnx("backup to %s failed: %s", p->path,
	          json_string_value(json_object_get(*body, "reason")));
	atomic_store(qd->backup_busy, 0);
	return status;
}

/* --- requests -------------------------------------------------------- */

char *
query_handle(struct query_db *qd, const char *req, size_t len)
{
	const struct query_cmd *cmd;
	struct query_params p;
	struct query_error err;
	json_error_t jerr;
	json_t *r, *body = NULL;
	const char *command;
	int64_t t0 = sn_mono_ms();
	char *text;
	int status;

	r = json_loadb(req, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!json_is_object(r)) {
		json_decref(r);
		return query_reply_text(
		        400, query_error_body("invalid request", "%s",
		                              r == NULL ? jerr.text
		                                        : "not an object"));
	}
	command = json_string_value(json_object_get(r, "command"));
	if ((cmd = query_cmd_find(command)) == NULL) {
		body = json_pack("{s:s, s:o}", "error", "unknown command",
		                 "command",
		                 command ? json_string(command) : json_null());
		json_decref(r);
		return query_reply_text(400, body);
	}
	if (query_params_parse(command, json_object_get(r, "params"),
	                       sn_now_ms(), &p, &err) < 0) {
		body = query_param_body(&err);
		json_decref(r);
		return query_reply_text(400, body);
	}
	qd->timed_out = 0;
	qd->deadline_ms = cmd->deadline ? t0 + QUERY_DEADLINE_MS : 0;
	status = cmd->run(qd, &p, &body);
	qd->deadline_ms = 0;
	if (body == NULL) {
		status = 503;
		body = query_error_body("out of memory", NULL);
	}
	log_debug("query %s: %d in %" PRId64 " ms", cmd->name, status,
	          sn_mono_ms() - t0);
	text = query_reply_text(status, body);
	json_decref(r);
	return text;
}

/* --- connections ----------------------------------------------------- */

struct query_db *
query_db_open(const char *db_path, const struct query_retention *ret,
              const atomic_int *stop, atomic_int *backup_busy)
{
	struct query_db *qd = sn_xcalloc(1, sizeof(*qd));

	qd->path = sn_xstrdup(db_path);
	qd->folder = sn_path_dirname(db_path);
	if (ret != NULL)
		qd->ret = *ret;
	qd->stop = stop;
	atomic_init(&qd->own_busy, 0);
	qd->backup_busy = backup_busy != NULL ? backup_busy : &qd->own_busy;
	qd->opened_ms = sn_now_ms();
	/*
	 * READONLY: this connection can never write, whatever a request
	 * says.  The file is in WAL mode already (the writer set it), so
	 * reads see the last commit and neither side blocks the other.
	 * Nothing is read here: a damaged file still opens, so that
	 * storage.check can say what is wrong with it.
	 */
	if (sqlite3_open_v2(db_path, &qd->db,
	                    SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX,
	                    NULL) != SQLITE_OK) {
		log_warnx("%s: opening for queries: %s", db_path,
		          qd->db ? sqlite3_errmsg(qd->db) : "out of memory");
		query_db_close(qd);
		return NULL;
	}
	sqlite3_busy_timeout(qd->db, QUERY_BUSY_TIMEOUT_MS);
	sqlite3_progress_handler(qd->db, QUERY_PROGRESS_STEPS, query_progress,
	                         qd);
	return qd;
}

void
query_db_interrupt(struct query_db *qd)
{
	if (qd != NULL && qd->db != NULL)
		sqlite3_interrupt(qd->db);
}

void
query_db_close(struct query_db *qd)
{
	if (qd == NULL)
		return;
	if (qd->db != NULL && sqlite3_close(qd->db) != SQLITE_OK)
		log_warnx("%s: closing the query connection: %s", qd->path,
		          sqlite3_errmsg(qd->db));
	free(qd->path);
	free(qd->folder);
	free(qd);
}

/* --- the server ------------------------------------------------------ */

void
query_retention_from_config(const struct sn_config *cfg,
                            struct query_retention *r)
{
	memset(r, 0, sizeof(*r));
	r->raw_ms = cfg->storage.retention_raw_ms;
	r->rollups_1m_ms = cfg->storage.retention_rollups_1m_ms;
	r->rollups_1h_ms = cfg->storage.retention_aggregated_ms;
	r->anomalies_ms = cfg->storage.retention_anomalies_ms;
	r->notifications_ms = cfg->storage.retention_notifications_ms;
	r->interval_ms = cfg->storage.retention_interval_ms;
}

/* One worker: receive a request on its context, answer, repeat until
 * the socket closes. */
static void *
query_worker_main(void *arg)
{
	struct query_worker *w = arg;
	nng_msg *m;
	char *reply;
	int rv;

	for (;;) {
		nng_ctx_recv(w->ctx, w->aio);
		nng_aio_wait(w->aio);
		if ((rv = nng_aio_result(w->aio)) != 0) {
			if (rv == NNG_ECLOSED || atomic_load(&w->q->stop))
				break;
			log_warnx("query receive: %s", nng_strerror(rv));
			nng_msleep(10); /* do not spin on a lasting error */
			continue;
		}
		m = nng_aio_get_msg(w->aio);
		pthread_mutex_lock(&w->q->ret_mu);
		w->qd->ret = w->q->ret; /* as of the last reconfigure */
		pthread_mutex_unlock(&w->q->ret_mu);
		reply = query_handle(w->qd, nng_msg_body(m), nng_msg_len(m));
		nng_msg_clear(m);
		rv = nng_msg_append(m, reply, strlen(reply));
		free(reply);
		if (rv != 0) {
			log_warnx("query reply: %s", nng_strerror(rv));
			nng_msg_free(m);
			continue;
		}
		nng_aio_set_msg(w->aio, m);
		nng_ctx_send(w->ctx, w->aio);
		nng_aio_wait(w->aio);
		if ((rv = nng_aio_result(w->aio)) != 0) {
			/* Not sent: the message is still ours. */
			nng_msg_free(nng_aio_get_msg(w->aio));
			if (rv == NNG_ECLOSED)
				break;
		}
	}
	return NULL;
}

struct query_server *
query_start(const struct sn_config *cfg, const char *folder)
{
	struct query_server *q = sn_xcalloc(1, sizeof(*q));
	struct query_retention ret;
	struct query_worker *w;
	sigset_t all, old;
	char url[PATH_MAX], *db_path;
	size_t n;
	int i, rv;

	atomic_init(&q->stop, 0);
	atomic_init(&q->backup_busy, 0);
	pthread_mutex_init(&q->ret_mu, NULL);
	query_retention_from_config(cfg, &ret);
	q->ret = ret;
	n = strlen(folder) + sizeof(SN_DB_FILE) + 2;
	db_path = sn_xmalloc(n);
	snprintf(db_path, n, "%s/%s", folder, SN_DB_FILE);

	if (ipc_url(url, sizeof(url), cfg->run_dir, SN_IPC_STORED_QUERY) < 0) {
		log_warnx("run_dir %s: path too long for a socket",
		          cfg->run_dir);
		goto fail_path;
	}
	if ((rv = nng_rep0_open(&q->sock)) != 0) {
		log_warnx("query %s: open: %s", url, nng_strerror(rv));
		goto fail_path;
	}
	nng_socket_set_size(q->sock, NNG_OPT_RECVMAXSZ, QUERY_MAX_REQUEST);
	sn_mkdir_p(cfg->run_dir, 0750);
	/* Replaces a stale socket file, makes it 0660 and turns away peers
	 * the set does not serve (common/privs.h). */
	if ((rv = ipc_listen(q->sock, url, IPC_LISTEN_GUARD)) != 0) {
		log_warnx("query %s: listen: %s", url, nng_strerror(rv));
		goto fail_sock;
	}
	for (i = 0; i < QUERY_WORKERS; i++) {
		w = &q->workers[i];
		w->q = q;
		w->qd = query_db_open(db_path, &ret, &q->stop, &q->backup_busy);
		if (w->qd == NULL)
			goto fail_workers;
		if ((rv = nng_ctx_open(&w->ctx, q->sock)) != 0 ||
		    (rv = nng_aio_alloc(&w->aio, NULL, NULL)) != 0) {
			log_warnx("query: %s", nng_strerror(rv));
			goto fail_workers;
		}
	}
	/* Signals stay with the main thread and its loop. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (i = 0; i < QUERY_WORKERS; i++) {
		w = &q->workers[i];
		if ((rv = pthread_create(&w->thread, NULL, query_worker_main,
		                         w)) != 0) {
			log_warnx("query: pthread_create: %s", strerror(rv));
			break;
		}
		w->running = 1;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (i < QUERY_WORKERS) {
		query_stop(q);
		free(db_path);
		return NULL;
	}
	log_info("query API on %s (%d readers)", url, QUERY_WORKERS);
	free(db_path);
	return q;

fail_workers:
	nng_close(q->sock);
	for (i = 0; i < QUERY_WORKERS; i++) {
		if (q->workers[i].aio != NULL)
			nng_aio_free(q->workers[i].aio);
		query_db_close(q->workers[i].qd);
	}
	free(db_path);
	pthread_mutex_destroy(&q->ret_mu);
	free(q);
	return NULL;
fail_sock:
	nng_close(q->sock);
fail_path:
	free(db_path);
	pthread_mutex_destroy(&q->ret_mu);
	free(q);
	return NULL;
}

void
query_reconfigure(struct query_server *q, const struct sn_config *cfg)
{
	struct query_retention ret;

	if (q == NULL)
		return;
	query_retention_from_config(cfg, &ret);
	pthread_mutex_lock(&q->ret_mu);
	q->ret = ret;
	pthread_mutex_unlock(&q->ret_mu);
}

void
query_stop(struct query_server *q)
{
	int i;

	if (q == NULL)
		return;
	atomic_store(&q->stop, 1);
	for (i = 0; i < QUERY_WORKERS; i++)
		query_db_interrupt(q->workers[i].qd);
	/* Closing the socket ends every wait on it with NNG_ECLOSED. */
	nng_close(q->sock);
	for (i = 0; i < QUERY_WORKERS; i++)
		if (q->workers[i].running)
			pthread_join(q->workers[i].thread, NULL);
	for (i = 0; i < QUERY_WORKERS; i++) {
		nng_aio_free(q->workers[i].aio);
		query_db_close(q->workers[i].qd);
	}
	pthread_mutex_destroy(&q->ret_mu);
	free(q);
}
