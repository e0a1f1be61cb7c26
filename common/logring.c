/*
 * logring.c: a process's recent log lines in a shared file (logring.h).
 *
 * File layout: struct logring_hdr (64 bytes), then the ring.  Byte n of
 * the stream (n counted from the start of the process) lives at
 * data[n % data_bytes]; head is the number of bytes written so far, and
 * only the writer stores it, after the bytes it covers (release).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "logring.h"

#define LOGRING_MAGIC   "SNLOGRG"
#define LOGRING_VERSION 1u

struct logring_hdr {
	char magic[8];       /* LOGRING_MAGIC and a NUL */
	uint32_t version;    /* LOGRING_VERSION */
	uint32_t hdr_bytes;  /* sizeof(struct logring_hdr): data starts */
	uint64_t data_bytes; /* size of the ring */
	uint64_t head;       /* bytes ever written; atomic, writer only */
	uint64_t pid;        /* of the writer, for a human with xxd */
	uint8_t pad[24];
};

_Static_assert(sizeof(struct logring_hdr) == 64, "logring header size");

struct logring {
	struct logring_hdr *hdr; /* the mapping */
	uint8_t *data;           /* the ring, just after hdr */
	size_t size;             /* hdr->data_bytes */
	size_t map_len;
	pthread_mutex_t mu; /* one append at a time (several threads log) */
};

int
logring_path(char *buf, size_t size, const char *run_dir, const char *name)
{
	int n = snprintf(buf, size, "%s/%s%s", run_dir, name, LOGRING_SUFFIX);

	return n < 0 || (size_t)n >= size ? -1 : 0;
}

struct logring *
logring_create(const char *path, size_t data_bytes)
{
	struct logring *r;
	struct logring_hdr *h;
	char tmp[PATH_MAX];
	size_t total;
	void *map;
	int fd, e, n;

	if (data_bytes == 0)
		data_bytes = LOGRING_DATA_BYTES;
	if (data_bytes < 4 * LOGRING_LINE_MAX) {
		errno = EINVAL;
		return NULL;
	}
	n = snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
	if (n < 0 || (size_t)n >= sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return NULL;
	}
	/* A leftover of an earlier process with our pid. */
	(void)unlink(tmp);
	fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
	          0640);
	if (fd < 0)
		return NULL;
	total = sizeof(*h) + data_bytes;
	/* The umask may have taken bits away; 0640 is what readers need.
	 * Blocks allocated now: a write into a mapping of a sparse file on
	 * a full disk would be a SIGBUS. */
	if (fchmod(fd, 0640) < 0)
		goto fail;
	if ((e = posix_fallocate(fd, 0, (off_t)total)) != 0) {
		errno = e;
		goto fail;
	}
	map = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED)
		goto fail;
	h = map;
	memset(h, 0, sizeof(*h));
	memcpy(h->magic, LOGRING_MAGIC, sizeof(LOGRING_MAGIC));
	h->version = LOGRING_VERSION;
	h->hdr_bytes = sizeof(*h);
	h->data_bytes = data_bytes;
	h->pid = (uint64_t)getpid();
	if (rename(tmp, path) < 0) {
		e = errno;
		munmap(map, total);
		errno = e;
		goto fail;
	}
	close(fd);
	if ((r = calloc(1, sizeof(*r))) == NULL) {
		munmap(map, total);
		return NULL;
	}
	r->hdr = h;
	r->data = (uint8_t *)map + sizeof(*h);
	r->size = data_bytes;
	r->map_len = total;
	pthread_mutex_init(&r->mu, NULL);
	return r;
fail:
	e = errno;
	close(fd);
	(void)unlink(tmp);
	errno = e;
	return NULL;
}

/* Copies len bytes of p to stream position pos, wrapping. */
static void
logring_put(struct logring *r, uint64_t pos, const void *p, size_t len)
{
	size_t off = (size_t)(pos % r->size), first = r->size - off;

	if (first >= len) {
		memcpy(r->data + off, p, len);
		return;
	}
	memcpy(r->data + off, p, first);
	memcpy(r->data, (const uint8_t *)p + first, len - first);
}

void
logring_append(struct logring *r, const char *line, size_t len)
{
	bool add_nl;
	uint64_t h;

	if (r == NULL || len == 0)
		return;
	if (len > LOGRING_LINE_MAX)
		len = LOGRING_LINE_MAX;
	add_nl = line[len - 1] != '\n';
	if (add_nl && len == LOGRING_LINE_MAX)
		len--;
	pthread_mutex_lock(&r->mu);
	h = __atomic_load_n(&r->hdr->head, __ATOMIC_RELAXED);
	logring_put(r, h, line, len);
	h += len;
	if (add_nl)
		logring_put(r, h++, "\n", 1);
	/* Readers trust bytes below head: publish after the copy. */
	__atomic_store_n(&r->hdr->head, h, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&r->mu);
}

void
logring_close(struct logring *r)
{
	if (r == NULL)
		return;
	munmap(r->hdr, r->map_len);
	pthread_mutex_destroy(&r->mu);
	free(r);
}

void
logring_lines_free(struct logring_lines *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

/*
 * Splits text (len bytes, starting at a line start) into lines and keeps
 * the last max non-empty ones in out.  Returns 0 or -1 (ENOMEM).
 */
static int
logring_split(const char *text, size_t len, size_t max,
              struct logring_lines *out)
{
	const char *p = text, *end = text + len, *nl;
	size_t total = 0, skip, k = 0;

	/* Count first, so only the kept lines are copied. */
	for (p = text; p < end; p = nl + 1) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			break;
		if (nl > p)
			total++;
	}
	skip = total > max ? total - max : 0;
	if (total - skip == 0)
		return 0;
	if ((out->v = calloc(total - skip, sizeof(*out->v))) == NULL)
		return -1;
	for (p = text; p < end; p = nl + 1) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			break;
		if (nl == p)
			continue;
		if (k++ < skip)
			continue;
		if ((out->v[out->n] = strndup(p, (size_t)(nl - p))) == NULL)
			return -1;
		out->n++;
	}
	return 0;
}

int
logring_tail(const char *path, size_t max, struct logring_lines *out)
{
	const struct logring_hdr *h;
	const uint8_t *data;
	struct stat st;
	uint64_t h1, h2, start, size;
	uint8_t *copy = NULL, *lin = NULL, *nl;
	size_t len, off, first;
	void *map;
	int fd, rv = -1, e;

	out->v = NULL;
	out->n = 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	if (fstat(fd, &st) < 0) {
		e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	if (!S_ISREG(st.st_mode) ||
	    (size_t)st.st_size < sizeof(*h) + 4 * LOGRING_LINE_MAX) {
		close(fd);
		errno = EINVAL;
		return -1;
	}
	map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	e = errno;
	close(fd);
	if (map == MAP_FAILED) {
		errno = e;
		return -1;
	}
	h = map;
	size = h->data_bytes;
	if (memcmp(h->magic, LOGRING_MAGIC, sizeof(LOGRING_MAGIC)) != 0 ||
	    h->version != LOGRING_VERSION || h->hdr_bytes != sizeof(*h) ||
	    size < 4 * LOGRING_LINE_MAX ||
	    size > (uint64_t)st.st_size - sizeof(*h)) {
		errno = EINVAL;
		goto out;
	}
	data = (const uint8_t *)map + sizeof(*h);
	if ((copy = malloc((size_t)size)) == NULL)
		goto out;
	h1 = __atomic_load_n(&h->head, __ATOMIC_ACQUIRE);
	memcpy(copy, data, (size_t)size);
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	h2 = __atomic_load_n(&h->head, __ATOMIC_RELAXED);
	/*
	 * Bytes [h1 - size, h1) were in the ring when the copy began; the
	 * appends done since (up to h2) and one in flight past h2 (at most
	 * LOGRING_LINE_MAX) may have overwritten the oldest of them.
	 */
	start = h2 + LOGRING_LINE_MAX > size ? h2 + LOGRING_LINE_MAX - size : 0;
	rv = 0;
	if (start >= h1)
		goto out;
	len = (size_t)(h1 - start);
	if ((lin = malloc(len)) == NULL) {
		rv = -1;
		goto out;
	}
	off = (size_t)(start % size);
	first = (size_t)size - off < len ? (size_t)size - off : len;
	memcpy(lin, copy + off, first);
	memcpy(lin + first, copy, len - first);
	off = 0;
	/* Mid-stream: the first line may have lost its beginning. */
	if (start > 0) {
		if ((nl = memchr(lin, '\n', len)) == NULL)
			goto out;
		off = (size_t)(nl - lin) + 1;
	}
	rv = logring_split((const char *)lin + off, len - off, max, out);
	if (rv < 0)
		errno = ENOMEM;
out:
	e = errno;
	free(lin);
	free(copy);
	munmap(map, (size_t)st.st_size);
	errno = e;
	return rv;
}
