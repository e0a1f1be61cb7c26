/*
 * util.h: small helpers shared by every program: clocks, RFC 3339
 * timestamps, durations, paths, a growable byte buffer and readiness
 * notification.
 */
#ifndef SN_UTIL_H
#define SN_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define SN_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Wall clock and monotonic clock, in milliseconds. */
int64_t sn_now_ms(void);
int64_t sn_mono_ms(void);
/* Wall clock in microseconds (latency across processes). */
int64_t sn_now_us(void);
/* Monotonic clock in microseconds, for latency measurements. */
int64_t sn_mono_us(void);

/*
 * 64-bit FNV-1a of p[0..len), continuing from h (start: SN_FNV1A_INIT):
 * the hash of every in-memory table (detectd's groups, alertd's index)
 * and of alertd's notification ids, which alerts.db keeps, so it must
 * never change.
 */
#define SN_FNV1A_INIT 0xcbf29ce484222325ULL
uint64_t sn_fnv1a(uint64_t h, const void *p, size_t len);

/*
 * Parses an RFC 3339 timestamp ("2025-11-06T12:00:00Z",
 * "2025-11-06T12:00:00.123+02:00"; 't' and 'z' accepted, a space is not)
 * into milliseconds since the epoch, UTC.  Fractions finer than a
 * millisecond are truncated.  Returns 0, or -1 when s is not RFC 3339 or
 * names an impossible date (month 13, Feb 30, hour 24).
 */
int sn_rfc3339_parse(const char *s, size_t len, int64_t *out_ms);

/* Formats ms as "YYYY-MM-DDTHH:MM:SS.mmmZ" into buf (at least 32 bytes). */
void sn_rfc3339_format(int64_t ms, char *buf, size_t size);

/*
 * Parses a duration: an unsigned integer and a unit, ms, s, m, h, d or w
 * ("100ms", "5m", "7d"; also compound "1h30m").  A bare "0" is zero.
 * Returns 0 and sets *out_ms, or -1 on a bad unit, missing number or
 * overflow.
 */
int sn_duration_parse(const char *s, int64_t *out_ms);

/* Formats ms in the largest exact unit ("90d", "15m", "1500ms"). */
void sn_duration_format(int64_t ms, char *buf, size_t size);

/*
 * Parses a byte size: an integer with an optional unit B, K/KB/KiB, M/MB/MiB,
 * G/GB/GiB (all powers of 1024).  Returns 0, or -1 when malformed.
 */
int sn_size_parse(const char *s, uint64_t *out);

/*
 * Resolves path against base_dir when path is relative (returns a new
 * string), or copies it when absolute or base_dir is NULL.  Caller frees.
 */
char *sn_path_resolve(const char *base_dir, const char *path);

/* The folder part of path, as a new string ("." when none).  Caller frees. */
char *sn_path_dirname(const char *path);

/* n random bytes (getrandom(2), else /dev/urandom).  0 or -1 with
 * errno. */
int sn_random_bytes(void *p, size_t n);

/* fsyncs the folder holding path, so a rename or create in it is
 * durable.  0 or -1 with errno. */
int sn_fsync_dir(const char *path);

/*
 * Replaces path with data whole, or not at all: path.tmp (mode) is
 * written, fsynced and renamed over path, then the folder is fsynced.
 * 0; -1 with errno and path untouched (path.tmp removed); -2 with errno
 * when only the folder's fsync failed: path holds data, but a crash may
 * still bring back what it held before.
 */
int sn_write_file_atomic(const char *path, const void *data, size_t len,
                         unsigned mode);

/* mkdir -p with mode for each created folder.  0 or -1 with errno. */
int sn_mkdir_p(const char *path, unsigned mode);

/* Growable byte buffer.  Zero-initialised is empty and valid. */
/* Little-endian integers in byte buffers (the ipc messages, the spool's
 * record headers): the byte order written out, the same on any host. */
static inline void
sn_put_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static inline void
sn_put_le64(uint8_t *p, uint64_t v)
{
	sn_put_le32(p, (uint32_t)v);
	sn_put_le32(p + 4, (uint32_t)(v >> 32));
}

static inline uint32_t
sn_get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static inline uint64_t
sn_get_le64(const uint8_t *p)
{
	return (uint64_t)sn_get_le32(p) | (uint64_t)sn_get_le32(p + 4) << 32;
}

struct sn_buf {
	uint8_t *data;
	size_t len;
	size_t cap;
};

/* Ensures room for extra more bytes; aborts on out of memory. */
void sn_buf_reserve(struct sn_buf *b, size_t extra);
void sn_buf_append(struct sn_buf *b, const void *p, size_t n);
void sn_buf_reset(struct sn_buf *b);
/* Open file descriptors of process pid (the entries of /proc/<pid>/fd),
 * or -1 when they cannot be read. */
int sn_proc_open_fds(pid_t pid);

/* Appends a formatted string (no NUL kept: len counts only the text). */
void sn_buf_printf(struct sn_buf *b, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));
void sn_buf_free(struct sn_buf *b);
/* s[0..len) as a JSON string, quotes included, byte for byte as
 * jansson writes it (notify.c and ingestd's answers rely on that). */
void sn_buf_json_str(struct sn_buf *b, const char *s, size_t len);

/* malloc/calloc/strdup that abort with a log line on out of memory. */
void *sn_xmalloc(size_t n);
void *sn_xcalloc(size_t nmemb, size_t size);
char *sn_xstrdup(const char *s);

/*
 * Readiness: the supervisor gives each child a pipe and names its fd in
 * the environment variable SENTINEL_NOTIFY_FD (like s6's notification-fd).
 * sn_notify_ready() writes "READY\n" to it once and closes it; without
 * the variable (a daemon started by hand) it does nothing.
 */
#define SN_NOTIFY_ENV "SENTINEL_NOTIFY_FD"
void sn_notify_ready(void);

#endif
