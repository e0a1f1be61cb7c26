/*
 * log.h: the one logging API of the tree.
 *
 * Every line goes to stderr, as a JSON object by default
 *   {"ts":"2025-11-06T12:00:00.123Z","level":"info","daemon":"ingestd",
 *    "msg":"listening","port":"8080"}
 * or as plain text when the format is LOG_FORMAT_TEXT.  The supervisor
 * lets its children inherit stderr, so journald sees all of them.
 *
 * Naming follows relayd's log.c: log_warn appends strerror(errno),
 * log_warnx does not; fatal/fatalx log and exit(1).
 */
#ifndef SN_LOG_H
#define SN_LOG_H

#include <stdarg.h>

struct json_t;

enum log_level {
	LOG_LEVEL_DEBUG = 0,
	LOG_LEVEL_INFO,
	LOG_LEVEL_WARN,
	LOG_LEVEL_ERROR,
};

enum log_format {
	LOG_FORMAT_JSON = 0,
	LOG_FORMAT_TEXT,
};

/* Sets the daemon name shown in every line, the threshold and format. */
void log_init(const char *daemon, enum log_level level, enum log_format fmt);
/*
 * From now on also keeps every line written in <run_dir>/<name>.logring
 * (logring.h: the last 256 KiB of lines, read by the supervisor's "logs"
 * command).  Call once at start, before other threads log.  Returns 0,
 * or -1 after logging why (lines still go to stderr).
 */
int log_ring_open(const char *run_dir, const char *name);
void log_set_level(enum log_level level);
void log_set_format(enum log_format fmt);
enum log_level log_get_level(void);

/* Parses "debug", "info", "warn"/"warning", "error"; -1 when unknown. */
int log_level_parse(const char *s);
const char *log_level_name(enum log_level level);

void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void fatal(const char *fmt, ...)
        __attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...)
        __attribute__((format(printf, 1, 2), noreturn));

/*
 * Logs msg with extra string fields given as key, value pairs ending with
 * a NULL key:  log_kv(LOG_LEVEL_INFO, "child exited", "daemon", "stored",
 * "status", "1", NULL).
 */
void log_kv(enum log_level level, const char *msg, ...)
        __attribute__((sentinel));

/*
 * Logs msg with every member of the jansson object fields as a field of
 * the line (numbers stay numbers).  fields is borrowed, not stolen.
 */
void log_json(enum log_level level, const char *msg, struct json_t *fields);

void vlog_msg(enum log_level level, int with_errno, const char *fmt,
              va_list ap);

/*
 * A line built field by field, for hot paths that would otherwise build
 * a jansson object only to log it (alertd's "anomaly" line): the same
 * bytes log_json writes for an object of the same fields, without the
 * tree.  Lines longer than LOG_LINE_MAX are cut, as every line is.
 *
 *   struct log_line l;
 *   if (log_line_begin(&l, LOG_LEVEL_INFO, "anomaly") == 0) {
 *           log_line_str(&l, "id", id, strlen(id));
 *           log_line_raw(&l, "value", "1.5", 3);
 *           log_line_end(&l);
 *   }
 */
#define LOG_LINE_MAX 8192
struct log_line {
	size_t len;
	char buf[LOG_LINE_MAX];
};

/* 0: go on and end with log_line_end; -1: below the threshold, nothing
 * to do (and no log_line_end). */
int log_line_begin(struct log_line *l, enum log_level level, const char *msg);
/* A string field: value[0..len), up to a NUL if there is one before
 * (log_json's json_string_value), escaped. */
void log_line_str(struct log_line *l, const char *key, const char *value,
                  size_t len);
/* A field whose value json[0..len) is JSON text already (a number, an
 * object): as is, as log_json writes what is not a string. */
void log_line_raw(struct log_line *l, const char *key, const char *json,
                  size_t len);
/* Writes the line. */
void log_line_end(struct log_line *l);

#endif
