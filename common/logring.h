/*
 * logring.h: the last log lines of a process, kept in a file it maps
 * shared, <run_dir>/<name>.logring, so that the supervisor's "logs"
 * control command (and `sentinel-cli diagnostics collect`) can show what
 * each daemon said lately without journald or a log file.
 *
 * The file is a small header and a byte ring of LOGRING_DATA_BYTES.  The
 * writer (common/log.c, one per process) copies each whole line into the
 * ring under a mutex and then publishes the new end with a release
 * store of head, the count of bytes ever written; nothing else is
 * shared, so a line costs one memcpy (two when it wraps).  A reader maps
 * the file read-only, copies the ring between two loads of head and
 * keeps only the bytes no append in flight can have overwritten, then
 * drops the partial line at the front: what it returns are whole lines,
 * the newest ones, even while the writer goes on (best effort: a writer
 * that laps the ring during the copy leaves fewer lines).
 *
 * Each start of a process creates a new file (tmp + rename, mode 0640),
 * so the ring holds the lines of the running process only.
 */
#ifndef SN_LOGRING_H
#define SN_LOGRING_H

#include <stddef.h>

/* The ring's size in a process's file. */
#define LOGRING_DATA_BYTES (256u * 1024)
/* A line longer than this is cut (and still ends with a newline). */
#define LOGRING_LINE_MAX 8192
/* <run_dir>/<name> LOGRING_SUFFIX */
#define LOGRING_SUFFIX ".logring"

struct logring;

/*
 * Writes <run_dir>/<name>.logring into buf.  Returns 0, or -1 when it
 * does not fit.
 */
int logring_path(char *buf, size_t size, const char *run_dir, const char *name);

/*
 * Creates a new ring file at path with data_bytes of ring (at least
 * 4 * LOGRING_LINE_MAX; 0: LOGRING_DATA_BYTES), mode 0640, replacing any
 * older one at once (written as a temporary file, then renamed), and
 * maps it.  Its blocks are allocated now, so a full disk fails here and
 * not later in a write to the mapping.  Returns the ring (free with
 * logring_close), or NULL with errno set.
 */
struct logring *logring_create(const char *path, size_t data_bytes);

/*
 * Appends one line of len bytes (a newline is added when it does not
 * end with one; cut to LOGRING_LINE_MAX).  Thread-safe; never fails.
 */
void logring_append(struct logring *r, const char *line, size_t len);

/* Unmaps the ring; the file stays for readers. */
void logring_close(struct logring *r);

/* Lines read back: v[0..n), oldest first, each without its newline. */
struct logring_lines {
	char **v;
	size_t n;
};

/*
 * Reads the newest max whole lines (at most) of the ring file at path
 * into out (empty lines are skipped).  Returns 0, or -1 with errno set:
 * ENOENT no such file, EINVAL not a ring file.  Free out with
 * logring_lines_free, also after -1.
 */
int logring_tail(const char *path, size_t max, struct logring_lines *out);
void logring_lines_free(struct logring_lines *l);

#endif
