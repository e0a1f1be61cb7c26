/*
 * log.c: JSON-lines (or text) logging to stderr.  Each line is built in
 * one buffer and written with a single write(2), so lines from the four
 * daemons sharing the supervisor's stderr do not interleave mid-line.
 * Once log_ring_open ran, each line is also kept in the process's log
 * ring (logring.h), for the supervisor's "logs" command.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "log.h"
#include "util.h"
#include "logring.h"

static char log_daemon[32] = "sentinel";
static enum log_level log_threshold = LOG_LEVEL_INFO;
static enum log_format log_fmt = LOG_FORMAT_JSON;
/* Set once at start (log_ring_open), before any other thread runs. */
static struct logring *log_ring;

static const char *const level_names[] = {
        [LOG_LEVEL_DEBUG] = "debug",
        [LOG_LEVEL_INFO] = "info",
        [LOG_LEVEL_WARN] = "warn",
        [LOG_LEVEL_ERROR] = "error",
};

/* A bounded string builder that silently truncates at LOG_LINE_MAX
 * (struct log_line, log.h). */

static void
line_putc(struct log_line *l, char c)
{
	if (l->len < sizeof(l->buf) - 2)
		l->buf[l->len++] = c;
}

/* Appends s[0..n) as is, as far as the line has room (what line_putc
 * byte by byte would do). */
static void
line_putraw(struct log_line *l, const char *s, size_t n)
{
	size_t room = sizeof(l->buf) - 2 - l->len;

	if (l->len >= sizeof(l->buf) - 2)
		return;
	if (n > room)
		n = room;
	memcpy(l->buf + l->len, s, n);
	l->len += n;
}

static void
line_puts(struct log_line *l, const char *s)
{
	line_putraw(l, s, strlen(s));
}

/* Appends s[0..n), up to a NUL. */
static void
line_putsn(struct log_line *l, const char *s, size_t n)
{
	const char *z = memchr(s, '\0', n);

	line_putraw(l, s, z != NULL ? (size_t)(z - s) : n);
}

/* Appends s[0..n), up to a NUL, as the inside of a JSON string
 * (escaped). */
static void
line_put_escapedn(struct log_line *l, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s, *end = p + n;
	const unsigned char *run;

	while (p < end && *p) {
		/* the bytes that need no escape, at once */
		for (run = p; p < end && *p >= 0x20 && *p != '"' && *p != '\\';
		     p++)
			;
		line_putraw(l, (const char *)run, (size_t)(p - run));
		if (p == end || *p == '\0')
			break;
		switch (*p) {
		case '"':
			line_puts(l, "\\\"");
			break;
		case '\\':
			line_puts(l, "\\\\");
			break;
		case '\n':
			line_puts(l, "\\n");
			break;
		case '\r':
			line_puts(l, "\\r");
			break;
		case '\t':
			line_puts(l, "\\t");
			break;
		default:
			line_puts(l, "\\u00");
			line_putc(l, hex[*p >> 4]);
			line_putc(l, hex[*p & 15]);
		}
		p++;
	}
}

/* Appends s as the inside of a JSON string (escaped). */
static void
line_put_escaped(struct log_line *l, const char *s)
{
	line_put_escapedn(l, s, strlen(s));
}

static void
line_begin(struct log_line *l, enum log_level level, const char *msg)
{
	struct timespec ts;
	char tbuf[64];

	clock_gettime(CLOCK_REALTIME, &ts);
	sn_rfc3339_format((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000,
	                  tbuf, sizeof(tbuf));
	l->len = 0;
	if (log_fmt == LOG_FORMAT_TEXT) {
		line_puts(l, tbuf);
		line_putc(l, ' ');
		line_puts(l, log_daemon);
		line_putc(l, ' ');
		line_puts(l, level_names[level]);
		line_puts(l, ": ");
		line_puts(l, msg);
		return;
	}
	line_puts(l, "{\"ts\":\"");
	line_puts(l, tbuf);
	line_puts(l, "\",\"level\":\"");
	line_puts(l, level_names[level]);
	line_puts(l, "\",\"daemon\":\"");
	line_put_escaped(l, log_daemon);
	line_puts(l, "\",\"msg\":\"");
	line_put_escaped(l, msg);
	line_putc(l, '"');
}

/* Adds one field of len bytes; raw means value is already JSON (a
 * number, say). */
static void
line_fieldn(struct log_line *l, const char *key, const char *value, size_t len,
            int raw)
{
	if (log_fmt == LOG_FORMAT_TEXT) {
		line_putc(l, ' ');
		line_puts(l, key);
		line_putc(l, '=');
		line_putsn(l, value, len);
		return;
	}
	line_puts(l, ",\"");
	line_put_escaped(l, key);
	line_puts(l, "\":");
	if (raw)
		line_putsn(l, value, len);
	else {
		line_putc(l, '"');
		line_put_escapedn(l, value, len);
		line_putc(l, '"');
	}
}

static void
line_field(struct log_line *l, const char *key, const char *value, int raw)
{
	line_fieldn(l, key, value, strlen(value), raw);
}

static void
line_end(struct log_line *l)
{
	ssize_t n;
	size_t off = 0;

	if (log_fmt == LOG_FORMAT_JSON)
		line_putc(l, '}');
	l->buf[l->len++] = '\n';
	while (off < l->len) {
		n = write(STDERR_FILENO, l->buf + off, l->len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	logring_append(log_ring, l->buf, l->len);
}

void
log_init(const char *daemon, enum log_level level, enum log_format fmt)
{
	snprintf(log_daemon, sizeof(log_daemon), "%s", daemon);
	log_threshold = level;
	log_fmt = fmt;
}

int
log_ring_open(const char *run_dir, const char *name)
{
	struct logring *r;
	char path[4096];

	if (logring_path(path, sizeof(path), run_dir, name) < 0) {
		log_warnx("log ring path too long: %s", run_dir);
		return -1;
	}
	if ((r = logring_create(path, 0)) == NULL) {
		log_warn("cannot create log ring %s", path);
		return -1;
	}
	logring_close(log_ring);
	log_ring = r;
	return 0;
}

void
log_set_level(enum log_level level)
{
	log_threshold = level;
}

void
log_set_format(enum log_format fmt)
{
	log_fmt = fmt;
}

enum log_level
log_get_level(void)
{
	return log_threshold;
}

int
log_level_parse(const char *s)
{
	if (s == NULL)
		return -1;
	if (strcasecmp(s, "debug") == 0)
		return LOG_LEVEL_DEBUG;
	if (strcasecmp(s, "info") == 0)
		return LOG_LEVEL_INFO;
	if (strcasecmp(s, "warn") == 0 || strcasecmp(s, "warning") == 0)
		return LOG_LEVEL_WARN;
	if (strcasecmp(s, "error") == 0)
		return LOG_LEVEL_ERROR;
	return -1;
}

const char *
log_level_name(enum log_level level)
{
	return level_names[level];
}

void
vlog_msg(enum log_level level, int with_errno, const char *fmt, va_list ap)
{
	struct log_line l;
	char msg[4096];
	int saved = errno;

	if (level < log_threshold)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	line_begin(&l, level, msg);
	if (with_errno)
		line_field(&l, "error", strerror(saved), 0);
	line_end(&l);
	errno = saved;
}

#define LOG_FN(name, level, with_errno)               \
	void name(const char *fmt, ...)               \
	{                                             \
		va_list ap;                           \
		va_start(ap, fmt);                    \
		vlog_msg(level, with_errno, fmt, ap); \
		va_end(ap);                           \
	}

LOG_FN(log_debug, LOG_LEVEL_DEBUG, 0)
LOG_FN(log_info, LOG_LEVEL_INFO, 0)
LOG_FN(log_warn, LOG_LEVEL_WARN, 1)
LOG_FN(log_warnx, LOG_LEVEL_WARN, 0)
LOG_FN(log_error, LOG_LEVEL_ERROR, 0)

void
fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog_msg(LOG_LEVEL_ERROR, 1, fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog_msg(LOG_LEVEL_ERROR, 0, fmt, ap);
	va_end(ap);
	exit(1);
}

void
log_kv(enum log_level level, const char *msg, ...)
{
	struct log_line l;
	va_list ap;
	const char *k, *v;

	if (level < log_threshold)
		return;
	line_begin(&l, level, msg);
	va_start(ap, msg);
	while ((k = va_arg(ap, const char *)) != NULL) {
		v = va_arg(ap, const char *);
		line_field(&l, k, v ? v : "", 0);
	}
	va_end(ap);
	line_end(&l);
}

void
log_json(enum log_level level, const char *msg, struct json_t *fields)
{
	struct log_line l;
	const char *k;
	json_t *v;
	char *s;

	if (level < log_threshold)
		return;
	line_begin(&l, level, msg);
	json_object_foreach(fields, k, v)
	{
		if (json_is_string(v)) {
			line_field(&l, k, json_string_value(v), 0);
			continue;
		}
		s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
		if (s != NULL) {
			line_field(&l, k, s, log_fmt == LOG_FORMAT_JSON);
			free(s);
		}
	}
	line_end(&l);
}

int
log_line_begin(struct log_line *l, enum log_level level, const char *msg)
{
	if (level < log_threshold)
		return -1;
	line_begin(l, level, msg);
	return 0;
}

void
log_line_str(struct log_line *l, const char *key, const char *value, size_t len)
{
	line_fieldn(l, key, value, len, 0);
}

void
log_line_raw(struct log_line *l, const char *key, const char *json, size_t len)
{
	line_fieldn(l, key, json, len, 1);
}

void
log_line_end(struct log_line *l)
{
	line_end(l);
}
