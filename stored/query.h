/*
 * query.h: the read side of stored.  Worker threads, each with its own
 * read-only sqlite connection, answer JSON requests on an nng rep socket
 * at ipc://<run_dir>/stored-query.ipc, so that reads never wait for the
 * writer's loop and the writer never waits for them (WAL).
 *
 *   request  {"command":"events.list","params":{"limit":"10",...}}
 *   reply    {"status":200,"body":{...}}
 *            {"status":400,"body":{"error":"invalid parameter",
 *                                  "parameter":"from","reason":"..."}}
 *
 * The reply is always written with "status" first and "body" second and
 * nothing after the body, so ingestd can relay the body's bytes without
 * parsing them again.  Commands: events.list, events.get,
 * anomalies.list, metrics.query (the HTTP query API; parameters are
 * strings, as in a query string), storage.check, retention.show,
 * storage.backup (sentinel-cli).  docs/http-api.md, docs/cli.md.
 *
 *   q = query_start(cfg, folder)   after store_open: the file exists,
 *                                  in WAL mode, at the current schema
 *   query_reconfigure(q, cfg)      on reload: new retention values
 *   query_stop(q)                  before store_close
 */
#ifndef SN_QUERY_H
#define SN_QUERY_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SN_IPC_STORED_QUERY "stored-query.ipc"

struct sn_config;
struct json_t;

/* Retention of each policy (ms), as configured; retention.show and
 * storage.check report them beside what the tables hold. */
struct query_retention {
	int64_t raw_ms;           /* events */
	int64_t rollups_1m_ms;    /* rollups, resolution 60 */
	int64_t rollups_1h_ms;    /* rollups, resolution 3600 */
	int64_t anomalies_ms;     /* anomalies */
	int64_t notifications_ms; /* notifications */
	int64_t interval_ms;      /* how often retention runs */
};

/* The retention values of cfg (storage.retention.*). */
void query_retention_from_config(const struct sn_config *cfg,
                                 struct query_retention *r);

struct query_server;

/*
 * Opens the read connections to <folder>/sentinel.db, listens on
 * SN_IPC_STORED_QUERY under cfg's run_dir and starts the workers.
 * Returns the server (stop with query_stop), or NULL (logged): stored
 * then runs without the query API rather than not at all.
 */
struct query_server *query_start(const struct sn_config *cfg,
                                 const char *folder);
/* Adopts the retention values of cfg (after a reload) for what
 * retention.show and storage.check report.  NULL q is fine. */
void query_reconfigure(struct query_server *q, const struct sn_config *cfg);
/*
 * Stops the workers: interrupts running statements and backups, closes
 * the socket, joins the threads and closes their connections.  NULL is
 * fine.
 */
void query_stop(struct query_server *q);

/* --- one reader connection and its request handler ------------------- */

struct query_db;

/*
 * Opens db_path read-only for one worker.  stop, when not NULL, is
 * polled by long statements and backups, which give up once it is set;
 * backup_busy, shared by the workers, lets one backup run at a time
 * (NULL: no other worker).  Returns NULL (logged) on failure.
 */
struct query_db *query_db_open(const char *db_path,
                               const struct query_retention *ret,
                               const atomic_int *stop, atomic_int *backup_busy);
void query_db_close(struct query_db *qd);
/* Interrupts what qd runs now (any thread may call it). */
void query_db_interrupt(struct query_db *qd);

/*
 * Answers one request (len bytes of JSON, untrusted) and returns the
 * reply text, {"status":N,"body":{...}} (caller frees).  Never NULL.
 */
char *query_handle(struct query_db *qd, const char *req, size_t len);

/* --- parameters (exposed for the unit tests) -------------------------- */

/* Limits of the list commands. */
#define QUERY_LIMIT_DEFAULT 100
#define QUERY_LIMIT_MAX     1000
/* A metrics series has at most this many points. */
#define QUERY_MAX_POINTS 11000
/* A series finer than the rollups scans at most this many events. */
#define QUERY_MAX_RAW_ROWS 1000000

/*
 * Parses a time parameter: RFC 3339 ("2025-11-06T12:00:00Z"), "now",
 * or now plus or minus a duration ("now-15m", "now-7d", "now+1h").
 * Returns 0 and sets *out_ms, or -1.
 */
int query_time_parse(const char *s, int64_t now_ms, int64_t *out_ms);

/*
 * The opaque page cursor: base64url, without padding, of a version
 * byte and the last row's (ts_ms, id) as big-endian 64-bit integers.
 * buf needs QUERY_CURSOR_LEN + 1 bytes.  decode returns 0, or -1 when s
 * is not a cursor this build wrote.
 */
#define QUERY_CURSOR_LEN 23
void query_cursor_encode(int64_t ts_ms, int64_t id, char *buf, size_t size);
int query_cursor_decode(const char *s, int64_t *ts_ms, int64_t *id);

/* The parameters of one request, parsed and checked. */
struct query_params {
	/* filters; NULL when not given (an empty value is not given) */
	const char *application_id;
	const char *event_type;
	const char *status;
	const char *detector;
	const char *severity;
	const char *model;
	const char *event_id;
	const char *path; /* storage.backup */
	/* metrics.query: metric and agg, defaults applied */
	const char *metric;
	const char *agg;
	bool has_from, has_to;
	int64_t from_ms, to_ms; /* metrics.query: defaults applied */
	int64_t step_ms;        /* metrics.query: default 1m */
	unsigned limit;         /* list commands: default applied */
	bool has_cursor;
	int64_t cursor_ts, cursor_id;
	bool full;  /* storage.check: integrity_check, not quick_check */
	bool force; /* storage.backup: replace an existing file */
};

/* Why a request was refused: the parameter at fault and why. */
struct query_error {
	const char *parameter; /* NULL: the request itself */
	char reason[200];
};

/*
 * Checks params (a JSON object of strings, or NULL) against command:
 * every member must be a parameter of that command, with a valid value.
 * Strings in *p point into params.  Returns 0, or -1 with *err filled.
 */
int query_params_parse(const char *command, struct json_t *params,
                       int64_t now_ms, struct query_params *p,
                       struct query_error *err);

#endif
