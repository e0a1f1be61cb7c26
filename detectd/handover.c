/*
 * handover.c: anomalies messages kept until stored acknowledges them
 * (handover.h).
 *
 * The messages are a doubly linked list in the order they were first
 * sent; acknowledgements come in about that order, so each is looked for
 * from where the last one was found (one step mostly) before the whole
 * list is searched.  Every send takes the next number of a counter
 * (`order`), so "stored acknowledged a message sent after this one" is
 * one comparison.
 *
 * File format 1 (<storage.path>/detectd.handover), little-endian:
 *
 *   u8[8] magic "SNDETHOV"
 *   u32   format version (HANDOVER_VERSION)
 *   u32   number of messages
 *   per message: u64 id, u32 length, the message as sent
 *   u32   CRC32C of everything before it
 *
 * Loading refuses the whole file unless its size, checksum and every
 * record agree, and every message is an SN_MSG_ANOMALIES message that
 * msg_check accepts and that carries its record's id: the messages go
 * to stored as they are, so they get the checks of anything received.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crc32c.h"
#include "handover.h"
#include "log.h"
#include "msg.h"

#define HANDOVER_MAGIC   "SNDETHOV"
#define HANDOVER_VERSION 1
#define HANDOVER_HEAD    16 /* magic, version, count */
#define HANDOVER_REC     12 /* id, length */

struct hmsg {
	struct hmsg *prev, *next;
	uint64_t id;
	int64_t sent_ms; /* INT64_MIN: loaded, not sent yet */
	uint64_t order;  /* the last send's number (0: not sent) */
	size_t len;
	uint8_t data[];
};

struct handover {
	struct hmsg *head, *tail; /* oldest first */
	struct hmsg *hint;        /* the one after the last acknowledged */
	uint64_t sends;           /* the send counter */
	uint64_t acked_order;     /* the highest send acknowledged */
	int64_t acked_ms;         /* when the last acknowledgement came */
	size_t count, bytes, max_bytes;
	uint64_t epoch, next; /* ids: epoch << 32 | counter */
};

struct handover *
handover_new(size_t max_bytes)
{
	struct handover *h = sn_xcalloc(1, sizeof(*h));
	uint32_t r;

	if (sn_random_bytes(&r, sizeof(r)) < 0)
		r = (uint32_t)sn_now_us() ^ (uint32_t)getpid() << 16;
	h->epoch = (uint64_t)r << 32;
	h->max_bytes = max_bytes;
	h->acked_ms = INT64_MIN; /* none yet */
	return h;
}

static void
hmsg_unlink(struct handover *h, struct hmsg *m)
{
	if (m->prev != NULL)
		m->prev->next = m->next;
	else
		h->head = m->next;
	if (m->next != NULL)
		m->next->prev = m->prev;
	else
		h->tail = m->prev;
	if (h->hint == m)
		h->hint = m->next;
	h->count--;
	h->bytes -= m->len;
	free(m);
}

void
handover_free(struct handover *h)
{
	if (h == NULL)
		return;
	while (h->head != NULL)
		hmsg_unlink(h, h->head);
	free(h);
}

/* Appends a copy of data (its id set already).  Returns the anomalies of
 * the oldest messages forgotten to stay within max_bytes. */
static uint64_t
hmsg_append(struct handover *h, uint64_t id, const void *data, size_t len,
            int64_t sent_ms)
{
	struct hmsg *m = sn_xmalloc(sizeof(*m) + len);
	uint64_t dropped = 0;

	m->id = id;
	m->sent_ms = sent_ms;
	m->order = sent_ms == INT64_MIN ? 0 : ++h->sends;
	m->len = len;
	memcpy(m->data, data, len);
	m->next = NULL;
	m->prev = h->tail;
	if (h->tail != NULL)
		h->tail->next = m;
	else
		h->head = m;
	h->tail = m;
	h->count++;
	h->bytes += len;
	while (h->bytes > h->max_bytes && h->head != m) {
		dropped += sn_get_le32(h->head->data + 4); /* its count */
		hmsg_unlink(h, h->head);
	}
	return dropped;
}

uint64_t
handover_add(struct handover *h, struct sn_buf *msg, int64_t now_ms,
             uint64_t *dropped)
{
	uint64_t id = h->epoch | (++h->next & 0xffffffffu);

	if ((id & 0xffffffffu) == 0) /* the counter wrapped: skip 0 */
		id = h->epoch | (++h->next & 0xffffffffu);
	msg_set_id(msg, id);
	*dropped = hmsg_append(h, id, msg->data, msg->len, now_ms);
	return id;
}

int
handover_ack(struct handover *h, uint64_t id, int64_t now_ms)
{
	struct hmsg *m;

	for (m = h->hint; m != NULL; m = m->next)
		if (m->id == id)
			goto found;
	for (m = h->head; m != NULL && m != h->hint; m = m->next)
		if (m->id == id)
			goto found;
	return 0;
found:
	h->hint = m->next;
	h->acked_ms = now_ms;
	if (m->order > h->acked_order)
		h->acked_order = m->order;
	hmsg_unlink(h, m);
	return 1;
}

/* Whether m is due to go again (see handover.h). */
static int
hmsg_due(const struct handover *h, const struct hmsg *m, int64_t now_ms)
{
	if (m->sent_ms == INT64_MIN || m->order < h->acked_order)
		return 1;
	return m->sent_ms <= now_ms - HANDOVER_RESEND_MS &&
	       (h->acked_ms == INT64_MIN ||
	        h->acked_ms <= now_ms - HANDOVER_RESEND_MS);
}

size_t
handover_resend(struct handover *h, int64_t now_ms, handover_send_fn send,
                void *arg)
{
	struct hmsg *m;
	size_t n = 0;

	for (m = h->head; m != NULL; m = m->next) {
		if (!hmsg_due(h, m, now_ms))
			continue;
		if (send(m->data, m->len, arg) != 0)
			break;
		m->sent_ms = now_ms;
		m->order = ++h->sends;
		n++;
	}
	return n;
}

size_t
handover_count(const struct handover *h)
{
	return h->count;
}

size_t
handover_bytes(const struct handover *h)
{
	return h->bytes;
}

int
handover_save(const struct handover *h, const char *path)
{
	struct sn_buf b = {0};
	const struct hmsg *m;
	uint8_t w[HANDOVER_REC];
	int rc;

	sn_buf_reserve(&b,
	               HANDOVER_HEAD + h->bytes + h->count * HANDOVER_REC + 4);
	sn_buf_append(&b, HANDOVER_MAGIC, 8);
	sn_put_le32(w, HANDOVER_VERSION);
	sn_put_le32(w + 4, (uint32_t)h->count);
	sn_buf_append(&b, w, 8);
	for (m = h->head; m != NULL; m = m->next) {
		sn_put_le64(w, m->id);
		sn_put_le32(w + 8, (uint32_t)m->len);
		sn_buf_append(&b, w, HANDOVER_REC);
		sn_buf_append(&b, m->data, m->len);
	}
	sn_put_le32(w, sn_crc32c(0, b.data, b.len));
	sn_buf_append(&b, w, 4);
	rc = sn_write_file_atomic(path, b.data, b.len, 0600);
	sn_buf_free(&b);
	if (rc == -1) {
		log_warn("%s: cannot write the anomalies stored has not "
		         "acknowledged",
		         path);
		return -1;
	}
	if (rc == -2)
		log_warn("%s: written, but its folder cannot be fsynced", path);
	return 0;
}

/* Reads the whole file at fd (at most max bytes).  NULL or the problem. */
static const char *
handover_read(int fd, size_t max, struct sn_buf *b)
{
	struct stat st;
	ssize_t n;

	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return "not a regular file";
	if ((uint64_t)st.st_size > max)
		return "larger than detectd would ever write";
	sn_buf_reserve(b, (size_t)st.st_size + 1);
	while ((n = read(fd, b->data + b->len, b->cap - b->len)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return "read error";
		b->len += (size_t)n;
		if (b->len > (size_t)st.st_size)
			return "changed while read";
	}
	return NULL;
}

/* Checks the file in b whole.  NULL or the problem; *count is set. */
static const char *
handover_check(const struct sn_buf *b, uint32_t *count)
{
	const uint8_t *p = b->data, *end;
	struct msg_reader r;
	uint32_t i, len;

	if (b->len < HANDOVER_HEAD + 4)
		return "truncated (shorter than a header)";
	if (memcmp(p, HANDOVER_MAGIC, 8) != 0)
		return "not a detectd hand-over file (bad magic)";
	if (sn_get_le32(p + 8) != HANDOVER_VERSION)
		return "of another format version";
	end = p + b->len - 4;
	if (sn_crc32c(0, p, b->len - 4) != sn_get_le32(end))
		return "checksum mismatch (damaged)";
	*count = sn_get_le32(p + 12);
	p += HANDOVER_HEAD;
	for (i = 0; i < *count; i++) {
		if ((size_t)(end - p) < HANDOVER_REC)
			return "a record runs past the end";
		len = sn_get_le32(p + 8);
		if ((size_t)(end - p) - HANDOVER_REC < len)
			return "a message runs past the end";
		if (msg_open(&r, p + HANDOVER_REC, len) < 0 ||
		    r.type != SN_MSG_ANOMALIES || msg_check(&r) < 0 ||
		    r.id != sn_get_le64(p) || r.id == 0)
			return "holds something other than an anomalies "
			       "message";
		p += HANDOVER_REC + len;
	}
	if (p != end)
		return "bytes after the last message";
	return NULL;
}

int
handover_load(struct handover *h, const char *path)
{
	struct sn_buf b = {0};
	const char *why;
	const uint8_t *p;
	uint64_t dropped = 0;
	uint32_t count = 0, i, len;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		if (errno == ENOENT)
			return 0;
		log_warn("%s: cannot open", path);
		return -1;
	}
	/* a file of max_bytes of messages, its headers and a margin */
	why = handover_read(fd, 2 * h->max_bytes + (1u << 20), &b);
	close(fd);
	if (why == NULL)
		why = handover_check(&b, &count);
	if (why != NULL) {
		log_warnx("%s: %s: the anomalies in it are not sent again",
		          path, why);
		sn_buf_free(&b);
		return -1;
	}
	for (i = 0, p = b.data + HANDOVER_HEAD; i < count; i++) {
		len = sn_get_le32(p + 8);
		dropped += hmsg_append(h, sn_get_le64(p), p + HANDOVER_REC, len,
		                       INT64_MIN);
		p += HANDOVER_REC + len;
	}
	sn_buf_free(&b);
	if (dropped > 0)
		log_warnx("%s: %" PRIu64 " anomalies past the hand-over's "
		          "limit are not sent again",
		          path, dropped);
	return (int)count;
}
