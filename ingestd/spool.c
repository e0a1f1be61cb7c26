/*
 * spool.c: ingestd's on-disk spool (see spool.h).
 *
 * Positions in the spool are "marks": bytes appended since this process
 * opened it.  A sync covers every mark up to the one current when it
 * started; the loop compares marks to tell waiting requests they are
 * durable.  The segments are few (the spool is bounded by
 * ingestion.spool.max_size, at 64 MB each), so they are an array, and a
 * reader names its segment by first sequence number, which survives
 * deletions in front of it.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <event2/event.h>

#include "config.h"
#include "crc32c.h"
#include "log.h"
#include "metrics.h"
#include "msg.h"
#include "spool.h"
#include "util.h"

#define SPOOL_MAGIC 0x314c5053u /* "SPL1" little-endian */
/* A record larger than this is damage, not data (a batch is 64 KB). */
#define SPOOL_MAX_RECORD (64u * 1024 * 1024)
/* Folder-name length: "/" + 20 digits + ".seg" + NUL. */
#define SPOOL_NAME_LEN 26

struct seg {
	uint64_t first; /* from the name */
	uint64_t last;  /* newest only: its last seq; else 0 (see seg_last) */
	uint64_t bytes; /* whole records */
	char *path;
};

struct spool_reader {
	struct spool *sp;
	uint64_t seg_first; /* the segment it is in */
	uint64_t off;       /* of the next record there */
	int fd;             /* open on fd_seg, or -1 */
	uint64_t fd_seg;
	int patch; /* set the next record's prev to patch_prev */
	uint64_t patch_prev;
	struct spool_reader *next;
};

struct spool {
	char *dir;
	int durability;
	uint64_t segment_bytes;
	struct seg *segs;
	size_t nsegs, cap;
	int fd; /* the segment appended to (segs[nsegs-1]), or -1 */
	uint64_t last_seq;
	uint64_t appended;    /* mark */
	uint64_t durable;     /* mark */
	uint64_t active_base; /* mark at offset 0 of the active segment */
	uint64_t total;       /* bytes of all segments */
	char *spare; /* <dir>/spare: a deleted segment kept for reuse */
	int has_spare;
	struct spool_reader *readers;

	/* the sync thread and its handoff (under mu) */
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int req, quit; /* under mu */
	int sync_fd;
	uint64_t sync_target, sync_done;
	int sync_errno;
	int busy;  /* loop: a sync runs */
	int again; /* loop: another sync is wanted after it */
	int efd;
	struct event *ev;
	struct sn_series *m_sync; /* sentinel_spool_sync_duration_seconds */
	spool_durable_cb cb;
	void *arg;
};

/* --- helpers ----------------------------------------------------------- */

/* The record CRC: header fields 4..24 (length, first, last), payload. */
static uint32_t
spool_crc(const uint8_t *hdr, const void *payload, size_t len)
{
	return sn_crc32c(sn_crc32c(0, hdr + 4, 20), payload, len);
}

static int
spool_fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc;

	if (fd < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

static char *
spool_seg_path(const char *dir, uint64_t first)
{
	size_t n = strlen(dir) + SPOOL_NAME_LEN;
	char *p = sn_xcalloc(1, n);

	snprintf(p, n, "%s/%020" PRIu64 ".seg", dir, first);
	return p;
}

static struct seg *
spool_push_seg(struct spool *sp, uint64_t first, char *path)
{
	struct seg *s;

	if (sp->nsegs == sp->cap) {
		sp->cap = sp->cap ? sp->cap * 2 : 16;
		sp->segs = realloc(sp->segs, sp->cap * sizeof(*sp->segs));
		if (sp->segs == NULL)
			fatalx("out of memory");
	}
	s = &sp->segs[sp->nsegs++];
	memset(s, 0, sizeof(*s));
	s->first = first;
	s->path = path;
	return s;
}

/* The index of the segment whose first seq is first, or -1. */
static ssize_t
spool_find(const struct spool *sp, uint64_t first)
{
	size_t i;

	for (i = 0; i < sp->nsegs; i++)
		if (sp->segs[i].first == first)
			return (ssize_t)i;
	return -1;
}

/*
 * The bytes of segment i a reader may read: all of a closed segment;
 * of the one appended to, what is durable (fsync) or written.
 */
static uint64_t
spool_readable(const struct spool *sp, size_t i)
{
	uint64_t d;

	if (i + 1 < sp->nsegs || sp->fd < 0 ||
	    sp->durability != SN_DURABILITY_FSYNC)
		return sp->segs[i].bytes;
	d = sp->durable > sp->active_base ? sp->durable - sp->active_base : 0;
	return d < sp->segs[i].bytes ? d : sp->segs[i].bytes;
}

/* --- recovery ---------------------------------------------------------- */

static int
spool_cmp_seg(const void *a, const void *b)
{
	const struct seg *x = a, *y = b;

	return x->first < y->first ? -1 : x->first > y->first;
}

/*
 * Reads the record at off of fd (size bytes in all) into payload (may
 * be NULL: header only).  1 when whole and its checksum right, 0 when
 * not (torn, damaged), -1 on a read error.
 */
static int
spool_read_record(int fd, uint64_t off, uint64_t size, uint8_t *hdr,
                  struct sn_buf *payload)
{
	struct sn_buf tmp = {0};
	struct sn_buf *b = payload != NULL ? payload : &tmp;
	uint32_t len;
	ssize_t n;
	int ok;

	if (off + SPOOL_RECORD_HDR > size)
		return 0;
	n = pread(fd, hdr, SPOOL_RECORD_HDR, (off_t)off);
	if (n < 0)
		return -1;
	if (n != SPOOL_RECORD_HDR || sn_get_le32(hdr) != SPOOL_MAGIC)
		return 0;
	len = sn_get_le32(hdr + 4);
	if (len > SPOOL_MAX_RECORD || off + SPOOL_RECORD_HDR + len > size ||
	    sn_get_le64(hdr + 8) > sn_get_le64(hdr + 16))
		return 0;
	sn_buf_reset(b);
	sn_buf_reserve(b, len);
	n = pread(fd, b->data, len, (off_t)(off + SPOOL_RECORD_HDR));
	if (n < 0) {
		sn_buf_free(&tmp);
		return -1;
	}
	b->len = (size_t)n;
	ok = (size_t)n == len &&
	     spool_crc(hdr, b->data, len) == sn_get_le32(hdr + 24);
	sn_buf_free(&tmp);
	return ok;
}

/* How a walk over a segment's records ended (spool_walk). */
enum walk_end {
	WALK_END = 0, /* at the end of the file */
	WALK_TORN,    /* at a record of its own cut short or damaged */
	WALK_STALE,   /* at a whole header of an older segment's record */
	WALK_OLD,     /* at bytes that are no header: old data or damage */
};

/*
 * Walks segment s (open on fd, size bytes long) from its start to the
 * end of its records: whole ones (checksums verified when crc is set,
 * else headers only) whose sequence numbers rise from the segment's
 * first.  A recycled segment file (spool_new_segment) holds an older
 * segment's bytes beyond the new records: a header there has a
 * sequence number below what the walk expects, or the walk lands in the
 * middle of an old record, where no header is.  Sets s->last and *why;
 * returns the offset where the walk stopped, or -1 on a read error.
 */
static int64_t
spool_walk(int fd, struct seg *s, uint64_t size, int crc, enum walk_end *why)
{
	uint8_t hdr[SPOOL_RECORD_HDR];
	uint64_t off = 0, next = s->first;
	ssize_t n;
	int rc;

	for (;;) {
		*why = WALK_END;
		if (off + sizeof(hdr) > size) {
			if (off < size)
				*why = WALK_TORN; /* a header cut short */
			return (int64_t)off;
		}
		if ((n = pread(fd, hdr, sizeof(hdr), (off_t)off)) < 0)
			return -1;
		if (n != (ssize_t)sizeof(hdr) ||
		    sn_get_le32(hdr) != SPOOL_MAGIC) {
			*why = WALK_OLD;
			return (int64_t)off;
		}
		if (sn_get_le64(hdr + 8) < next) {
			*why = WALK_STALE;
			return (int64_t)off;
		}
		rc = crc ? spool_read_record(fd, off, size, hdr, NULL)
		         : off + sizeof(hdr) + sn_get_le32(hdr + 4) <= size;
		if (rc < 0)
			return -1;
		if (rc == 0) {
			*why = WALK_TORN;
			return (int64_t)off;
		}
		next = sn_get_le64(hdr + 16) + 1;
		s->last = sn_get_le64(hdr + 16);
		off += SPOOL_RECORD_HDR + sn_get_le32(hdr + 4);
	}
}

/*
 * Reads segment s through to the end of its records (spool_walk) and
 * cuts what follows: a torn or damaged record of the newest segment
 * (warned), or the old data of a recycled file.  An older segment is
 * walked by headers only and cut only where a whole header of an older
 * record begins (rotation cuts a recycled file, so this is only seen
 * after a crash): anything else in it is the readers' to find and
 * report, as damage.
 * 0, or -1 (logged).
 */
static int
spool_recover(struct seg *s, int newest)
{
	struct stat st;
	int64_t off;
	enum walk_end why;
	int fd = open(s->path, O_RDWR | O_CLOEXEC);

	if (fd < 0 || fstat(fd, &st) < 0) {
		log_warn("spool %s", s->path);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	off = spool_walk(fd, s, (uint64_t)st.st_size, newest, &why);
	if (off < 0) {
		log_warn("spool %s", s->path);
		close(fd);
		return -1;
	}
	if (!newest && why != WALK_STALE) {
		close(fd);
		s->bytes = (uint64_t)st.st_size;
		return 0;
	}
	if (off < (int64_t)st.st_size) {
		if (why == WALK_STALE || why == WALK_OLD)
			log_info("spool %s: %llu bytes after the last record "
			         "are not records of this segment (a recycled "
			         "segment's old data): cut off",
			         s->path,
			         (unsigned long long)(st.st_size - off));
		else
			log_warnx("spool %s: %llu bytes after the last whole "
			          "record (a torn write): cut off",
			          s->path,
			          (unsigned long long)(st.st_size - off));
		if (ftruncate(fd, (off_t)off) < 0 || fsync(fd) < 0) {
			log_warn("spool %s: truncate", s->path);
			close(fd);
			return -1;
		}
	}
	close(fd);
	s->bytes = (uint64_t)off;
	return 0;
}

static int
spool_scan(struct spool *sp)
{
	DIR *d = opendir(sp->dir);
	struct dirent *de;
	struct stat st;
	struct seg *s;
	uint64_t first;
	char *end;

	if (d == NULL) {
		log_warn("spool %s", sp->dir);
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (strlen(de->d_name) != 24 ||
		    strcmp(de->d_name + 20, ".seg") != 0)
			continue;
		errno = 0;
		first = strtoull(de->d_name, &end, 10);
		if (errno != 0 || end != de->d_name + 20)
			continue;
		s = spool_push_seg(sp, first, spool_seg_path(sp->dir, first));
		if (stat(s->path, &st) == 0)
			s->bytes = (uint64_t)st.st_size;
	}
	closedir(d);
	if (sp->nsegs > 1)
		qsort(sp->segs, sp->nsegs, sizeof(*sp->segs), spool_cmp_seg);
	/* older segments: only a recycled file's old tail is cut */
	for (size_t i = 0; i + 1 < sp->nsegs; i++)
		if (spool_recover(&sp->segs[i], 0) < 0)
			return -1;
	/* the newest, read through; an empty one goes */
	while (sp->nsegs > 0) {
		s = &sp->segs[sp->nsegs - 1];
		if (spool_recover(s, 1) < 0)
			return -1;
		if (s->bytes > 0)
			break;
		unlink(s->path);
		free(s->path);
		sp->nsegs--;
	}
	if (sp->nsegs > 0)
		sp->last_seq = sp->segs[sp->nsegs - 1].last;
	/* a spare is only kept beside segments, whose sequence numbers it
	 * is below: with none left, numbers could start again under its */
	if (stat(sp->spare, &st) == 0 && sp->nsegs > 0)
		sp->has_spare = 1;
	else if (unlink(sp->spare) < 0 && errno != ENOENT)
		log_warn("spool %s", sp->spare);
	for (size_t i = 0; i < sp->nsegs; i++)
		sp->total += sp->segs[i].bytes;
	return 0;
}

/* --- the sync thread --------------------------------------------------- */

static void *
spool_thread(void *arg)
{
	struct spool *sp = arg;
	uint64_t target, one = 1;
	int64_t t0;
	int fd, rc;

	pthread_mutex_lock(&sp->mu);
	for (;;) {
		while (!sp->req && !sp->quit)
			pthread_cond_wait(&sp->cv, &sp->mu);
		if (sp->quit)
			break;
		sp->req = 0;
		fd = sp->sync_fd;
		target = sp->sync_target;
		pthread_mutex_unlock(&sp->mu);
		t0 = sn_mono_us();
		rc = fdatasync(fd);
		metrics_observe_us(sp->m_sync, (uint64_t)(sn_mono_us() - t0));
		pthread_mutex_lock(&sp->mu);
		sp->sync_errno = rc < 0 ? errno : 0;
		sp->sync_done = target;
		if (write(sp->efd, &one, sizeof(one)) < 0) {
			/* the counter cannot overflow at one write per sync */
		}
	}
	pthread_mutex_unlock(&sp->mu);
	return NULL;
}

static void spool_maybe_rotate(struct spool *sp);

/* Loop: a sync finished. */
static void
spool_on_synced(evutil_socket_t fd, short what, void *arg)
{
	struct spool *sp = arg;
	uint64_t n, done;
	int err;

	(void)what;
	if (read(fd, &n, sizeof(n)) < 0) {
		/* spurious wake-up */
	}
	pthread_mutex_lock(&sp->mu);
	done = sp->sync_done;
	err = sp->sync_errno;
	pthread_mutex_unlock(&sp->mu);
	if (!sp->busy)
		return;
	sp->busy = 0;
	if (err != 0) {
		/* what the kernel failed to write it may have dropped: the
		 * next sync tries again, and nothing is acknowledged */
		log_warnx("spool: fdatasync: %s", strerror(err));
		sp->again = 1;
	} else if (done > sp->durable)
		sp->durable = done;
	spool_maybe_rotate(sp);
	if (sp->again || (sp->durability == SN_DURABILITY_FSYNC &&
	                  sp->appended > sp->durable)) {
		sp->again = 0;
		spool_sync(sp);
	}
	if (sp->cb != NULL)
		sp->cb(sp->arg);
}

void
spool_sync(struct spool *sp)
{
	if (sp->durability == SN_DURABILITY_NONE || sp->fd < 0)
		return;
	if (sp->busy) {
		sp->again = 1;
		return;
	}
	if (sp->appended == sp->durable)
		return;
	sp->busy = 1;
	pthread_mutex_lock(&sp->mu);
	sp->sync_fd = sp->fd;
	sp->sync_target = sp->appended;
	sp->req = 1;
	pthread_cond_signal(&sp->cv);
	pthread_mutex_unlock(&sp->mu);
}

int
spool_syncing(const struct spool *sp)
{
	return sp->busy;
}

/* --- open and close ---------------------------------------------------- */

struct spool *
spool_open(const char *dir, int durability, uint64_t segment_bytes,
           struct event_base *base, spool_durable_cb cb, void *arg)
{
	struct spool *sp = sn_xcalloc(1, sizeof(*sp));

	sp->dir = sn_xstrdup(dir);
	sp->spare = sn_xcalloc(1, strlen(dir) + sizeof("/spare"));
	snprintf(sp->spare, strlen(dir) + sizeof("/spare"), "%s/spare", dir);
	sp->segment_bytes = segment_bytes ? segment_bytes : SPOOL_SEGMENT_BYTES;
	sp->durability = durability;
	sp->fd = -1;
	sp->efd = -1;
	sp->cb = cb;
	sp->arg = arg;
	sp->m_sync = metrics_series(M_SPOOL_SYNC_LATENCY);
	pthread_mutex_init(&sp->mu, NULL);
	pthread_cond_init(&sp->cv, NULL);
	if (sn_mkdir_p(dir, 0750) < 0) {
		log_warn("spool %s", dir);
		goto fail;
	}
	if (spool_scan(sp) < 0)
		goto fail;
	if ((sp->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0 ||
	    (sp->ev = event_new(base, sp->efd, EV_READ | EV_PERSIST,
	                        spool_on_synced, sp)) == NULL ||
	    event_add(sp->ev, NULL) < 0) {
		log_warn("spool: eventfd");
		goto fail;
	}
	if (pthread_create(&sp->thread, NULL, spool_thread, sp) != 0) {
		log_warnx("spool: cannot start the sync thread");
		event_free(sp->ev);
		sp->ev = NULL;
		goto fail;
	}
	log_info("spool %s: %zu segments, %llu bytes, last seq %llu", dir,
	         sp->nsegs, (unsigned long long)sp->total,
	         (unsigned long long)sp->last_seq);
	return sp;
fail:
	if (sp->efd >= 0)
		close(sp->efd);
	for (size_t i = 0; i < sp->nsegs; i++)
		free(sp->segs[i].path);
	free(sp->segs);
	free(sp->dir);
	free(sp->spare);
	free(sp);
	return NULL;
}

void
spool_close(struct spool *sp)
{
	struct spool_reader *r;

	if (sp == NULL)
		return;
	pthread_mutex_lock(&sp->mu);
	sp->quit = 1;
	pthread_cond_signal(&sp->cv);
	pthread_mutex_unlock(&sp->mu);
	pthread_join(sp->thread, NULL);
	if (sp->fd >= 0) {
		if (sp->durability != SN_DURABILITY_NONE && fdatasync(sp->fd))
			log_warn("spool: fdatasync at close");
		close(sp->fd);
	}
	event_free(sp->ev);
	close(sp->efd);
	while ((r = sp->readers) != NULL)
		spool_reader_free(r);
	for (size_t i = 0; i < sp->nsegs; i++)
		free(sp->segs[i].path);
	free(sp->segs);
	free(sp->dir);
	free(sp->spare);
	pthread_mutex_destroy(&sp->mu);
	pthread_cond_destroy(&sp->cv);
	free(sp);
}

uint64_t
spool_last_seq(const struct spool *sp)
{
	return sp->last_seq;
}

uint64_t
spool_bytes(const struct spool *sp)
{
	return sp->total;
}

size_t
spool_segments(const struct spool *sp)
{
	return sp->nsegs;
}

uint64_t
spool_durable(const struct spool *sp)
{
	return sp->durability == SN_DURABILITY_FSYNC ? sp->durable
	                                             : sp->appended;
}

/* --- appending --------------------------------------------------------- */

/*
 * Closes the segment appended to once it is full and (fsync, batch)
 * synced, so the next append starts a new one.  Never while a sync of
 * it runs: the thread holds its descriptor.
 */
static void
spool_maybe_rotate(struct spool *sp)
{
	if (sp->fd < 0 || sp->busy ||
	    sp->segs[sp->nsegs - 1].bytes < sp->segment_bytes)
		return;
	if (sp->durability != SN_DURABILITY_NONE &&
	    sp->durable < sp->appended) {
		if (sp->durability == SN_DURABILITY_FSYNC)
			return; /* the sync under way or next ends here */
		if (fdatasync(sp->fd) < 0) {
			log_warn("spool: fdatasync");
			return;
		}
		sp->durable = sp->appended;
	}
	/* a recycled file is longer than its records: cut the old ones
	 * (not synced: spool_scan cuts them again after a crash) */
	if (ftruncate(sp->fd, (off_t)sp->segs[sp->nsegs - 1].bytes) < 0)
		log_warn("spool %s: truncate", sp->segs[sp->nsegs - 1].path);
	close(sp->fd);
	sp->fd = -1;
}

/*
 * Starts a segment whose first event is first.  0 or -1 (logged).
 *
 * The spare, a deleted segment (spool_gc), becomes the new one when
 * there is one: its blocks are on disk already, so writing over them
 * changes no file metadata, and fdatasync writes the data alone.  On
 * ext4 a sync that must also change the file's size and allocation
 * commits the journal, and waits for every other file's data that
 * commit carries (stored's database, on the same disk): measured here,
 * appending to a new file had p99 fdatasync times of 13 to 44 ms under
 * a steady writer beside it, overwriting a written file 10 to 28 ms.
 * The same reason PostgreSQL recycles its WAL segments.  The old
 * records beyond the new ones are told apart by their sequence numbers
 * (spool_walk).
 */
static int
spool_new_segment(struct spool *sp, uint64_t first)
{
	char *path = spool_seg_path(sp->dir, first);
	int fd = -1;

	if (sp->has_spare) {
		sp->has_spare = 0;
		if (rename(sp->spare, path) == 0)
			fd = open(path, O_WRONLY | O_CLOEXEC);
		else
			log_warn("spool %s", sp->spare);
	}
	if (fd < 0)
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
	if (fd < 0) {
		log_warn("spool %s", path);
		free(path);
		return -1;
	}
	if (sp->durability != SN_DURABILITY_NONE && spool_fsync_dir(sp->dir))
		log_warn("spool %s: fsync", sp->dir);
	spool_push_seg(sp, first, path);
	sp->fd = fd;
	sp->active_base = sp->appended;
	sp->durable = sp->appended; /* nothing of the new one is pending */
	return 0;
}

int
spool_append(struct spool *sp, const void *msg, size_t len, uint64_t first,
             uint64_t last, uint64_t *mark)
{
	uint8_t hdr[SPOOL_RECORD_HDR];
	struct iovec iov[2];
	struct seg *s;
	ssize_t n;

	if (len > SPOOL_MAX_RECORD)
		return -1;
	spool_maybe_rotate(sp);
	if (sp->fd < 0 && spool_new_segment(sp, first) < 0)
		return -1;
	s = &sp->segs[sp->nsegs - 1];
	sn_put_le32(hdr, SPOOL_MAGIC);
	sn_put_le32(hdr + 4, (uint32_t)len);
	sn_put_le64(hdr + 8, first);
	sn_put_le64(hdr + 16, last);
	sn_put_le32(hdr + 24, spool_crc(hdr, msg, len));
	sn_put_le32(hdr + 28, 0);
	iov[0].iov_base = hdr;
	iov[0].iov_len = sizeof(hdr);
	iov[1].iov_base = (void *)msg;
	iov[1].iov_len = len;
	n = pwritev(sp->fd, iov, 2, (off_t)s->bytes);
	if (n != (ssize_t)(sizeof(hdr) + len)) {
		if (n < 0)
			log_warn("spool %s: write", s->path);
		else
			log_warnx("spool %s: short write", s->path);
		/* a partial record would be cut at the next open anyway;
		 * cut it now so the next append is whole */
		if (n > 0 && ftruncate(sp->fd, (off_t)s->bytes) < 0)
			log_warn("spool %s: truncate", s->path);
		return -1;
	}
	s->bytes += (uint64_t)n;
	s->last = last;
	sp->total += (uint64_t)n;
	sp->appended += (uint64_t)n;
	sp->last_seq = last;
	*mark = sp->appended;
	return 0;
}

/* --- deleting ---------------------------------------------------------- */

/* The last seq segment i can hold: its own for the newest, else one
 * below the next segment's first. */
static uint64_t
seg_last(const struct spool *sp, size_t i)
{
	return i + 1 < sp->nsegs ? sp->segs[i + 1].first - 1 : sp->segs[i].last;
}

int
spool_gc(struct spool *sp, uint64_t acked)
{
	struct spool_reader *r;
	size_t n = 0, i;

	while (n + 1 < sp->nsegs && seg_last(sp, n) <= acked)
		n++;
	if (n == 0)
		return 0;
	for (r = sp->readers; r != NULL; r = r->next)
		if (r->seg_first < sp->segs[n].first) {
			r->seg_first = sp->segs[n].first;
			r->off = 0;
		}
	for (i = 0; i < n; i++) {
		if (!sp->has_spare && rename(sp->segs[i].path, sp->spare) == 0)
			sp->has_spare = 1;
		else if (unlink(sp->segs[i].path) < 0 && errno != ENOENT)
			log_warn("spool %s", sp->segs[i].path);
		sp->total -= sp->segs[i].bytes;
		free(sp->segs[i].path);
	}
	memmove(sp->segs, sp->segs + n, (sp->nsegs - n) * sizeof(*sp->segs));
	sp->nsegs -= n;
	return (int)n;
}

/* --- readers ----------------------------------------------------------- */

struct spool_reader *
spool_reader_new(struct spool *sp)
{
	struct spool_reader *r = sn_xcalloc(1, sizeof(*r));

	r->sp = sp;
	r->fd = -1;
	r->seg_first = sp->nsegs > 0 ? sp->segs[0].first : 0;
	r->next = sp->readers;
	sp->readers = r;
	return r;
}

void
spool_reader_free(struct spool_reader *r)
{
	struct spool_reader **pp;

	if (r == NULL)
		return;
	for (pp = &r->sp->readers; *pp != NULL; pp = &(*pp)->next)
		if (*pp == r) {
			*pp = r->next;
			break;
		}
	if (r->fd >= 0)
		close(r->fd);
	free(r);
}

/*
 * The index of r's segment, moving r to the next one when its own was
 * deleted; -1 when there are no segments.
 */
static ssize_t
spool_reader_seg(struct spool_reader *r)
{
	const struct spool *sp = r->sp;
	ssize_t i = spool_find(sp, r->seg_first);
	size_t k;

	if (i >= 0)
		return i;
	for (k = 0; k < sp->nsegs; k++)
		if (sp->segs[k].first > r->seg_first) {
			r->seg_first = sp->segs[k].first;
			r->off = 0;
			return (ssize_t)k;
		}
	return -1;
}

/* A descriptor on segment i for r. */
static int
spool_reader_fd(struct spool_reader *r, size_t i)
{
	const struct seg *s = &r->sp->segs[i];

	if (r->fd >= 0 && r->fd_seg == s->first)
		return r->fd;
	if (r->fd >= 0)
		close(r->fd);
	r->fd = open(s->path, O_RDONLY | O_CLOEXEC);
	r->fd_seg = s->first;
	if (r->fd < 0)
		log_warn("spool %s", s->path);
	return r->fd;
}

int
spool_reader_next(struct spool_reader *r, struct sn_buf *out, uint64_t *last)
{
	struct spool *sp = r->sp;
	uint8_t hdr[SPOOL_RECORD_HDR];
	uint64_t end;
	ssize_t i;
	int fd, rc;

	for (;;) {
		if ((i = spool_reader_seg(r)) < 0)
			return 0;
		end = spool_readable(sp, (size_t)i);
		if (r->off >= end) {
			if ((size_t)i + 1 >= sp->nsegs ||
			    r->off < sp->segs[i].bytes)
				return 0;
			r->seg_first = sp->segs[i + 1].first;
			r->off = 0;
			continue;
		}
		if ((fd = spool_reader_fd(r, (size_t)i)) < 0)
			return -1;
		rc = spool_read_record(fd, r->off, end, hdr, out);
		if (rc == 1)
			break;
		log_warnx("spool %s: damaged record at offset %llu: the rest "
		          "of the segment is skipped",
		          sp->segs[i].path, (unsigned long long)r->off);
		r->off = sp->segs[i].bytes;
		if ((size_t)i + 1 < sp->nsegs) {
			r->seg_first = sp->segs[i + 1].first;
			r->off = 0;
		}
		return -1;
	}
	r->off += SPOOL_RECORD_HDR + sn_get_le32(hdr + 4);
	*last = sn_get_le64(hdr + 16);
	if (r->patch) {
		msg_set_prev_raw(out->data, out->len, r->patch_prev);
		r->patch = 0;
	}
	return 1;
}

int
spool_reader_seek(struct spool_reader *r, uint64_t seq)
{
	struct spool *sp = r->sp;
	uint8_t hdr[SPOOL_RECORD_HDR], pv[8];
	uint64_t off, end, prev = 0;
	size_t i, start = 0;
	int fd;

	r->patch = 1;
	r->patch_prev = seq;
	if (sp->nsegs == 0)
		return 1;
	/* the newest segment starting at or before seq + 1 */
	for (i = 0; i < sp->nsegs; i++)
		if (sp->segs[i].first <= seq + 1)
			start = i;
	for (i = start; i < sp->nsegs; i++) {
		if ((fd = spool_reader_fd(r, i)) < 0)
			break;
		end = sp->segs[i].bytes;
		for (off = 0; spool_read_record(fd, off, end, hdr, NULL) == 1;
		     off += SPOOL_RECORD_HDR + sn_get_le32(hdr + 4)) {
			if (sn_get_le64(hdr + 16) <= seq)
				continue;
			r->seg_first = sp->segs[i].first;
			r->off = off;
			if (pread(fd, pv, 8,
			          (off_t)(off + SPOOL_RECORD_HDR +
			                  SN_MSG_HDR_LEN)) == 8)
				prev = sn_get_le64(pv);
			return prev <= seq;
		}
	}
	/* nothing after seq yet: wait at the end */
	r->seg_first = sp->segs[sp->nsegs - 1].first;
	r->off = sp->segs[sp->nsegs - 1].bytes;
	return 1;
}

int
spool_reader_at_end(const struct spool_reader *r)
{
	const struct spool *sp = r->sp;
	ssize_t i = spool_find(sp, r->seg_first);

	if (sp->nsegs == 0)
		return 1;
	if (i < 0)
		return 0;
	return (size_t)i + 1 == sp->nsegs &&
	       r->off >= spool_readable(sp, (size_t)i);
}

uint64_t
spool_reader_lag(const struct spool_reader *r)
{
	const struct spool *sp = r->sp;
	uint64_t lag = 0;
	size_t i;

	for (i = 0; i < sp->nsegs; i++) {
		if (sp->segs[i].first < r->seg_first)
			continue;
		lag += sp->segs[i].bytes;
		if (sp->segs[i].first == r->seg_first)
			lag -= r->off < sp->segs[i].bytes ? r->off
			                                  : sp->segs[i].bytes;
	}
	return lag;
}
