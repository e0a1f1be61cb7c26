/*
 * checkpoint.c: the detection engine's state on disk (checkpoint.h).
 *
 * Format version 1.  Numbers are in the byte order of the machine that
 * wrote the file, as the engine holds them: group state is written as
 * it lies in memory, so a file from a machine of the other byte order
 * (the header's byte-order word tells) is refused, not converted.
 *
 *   header, 32 bytes
 *     u8[8] magic "SNDETCKP"
 *     u32   format version (CHECKPOINT_VERSION)
 *     u32   0x01020304: the byte-order check
 *     u64   seq: the last event sequence number fed
 *     u64   length of the body in bytes
 *   body
 *     i64 clock, u8 have_clock, i64 forced    the engine's clock
 *     u32 number of detector records
 *     per running detector, in config order:
 *       u32 length, id
 *       u32 length, identity                  engine_config_identity
 *       u64 length of the rest of the record  (skipped whole when the
 *                                              detector is gone or
 *                                              changed)
 *       u32 type_size, u32 open buckets per group, u32 sizeof(struct
 *       win_bucket), u32 offsetof(struct win_bucket, ids),
 *       u8 has_sketch                         the layout, so a build
 *                                              whose state structs
 *                                              differ drops the state
 *       i64 closed_upto, u8 have_closed
 *       u64 events, anomalies, resolved, late, suppressed, evicted
 *       u64 number of groups
 *       per group, least recently updated first (the order decides
 *       eviction and the order in which records come out):
 *         u16 length, key                     [u8 len][value] per label
 *         i64 next_close, i64 last_fire_ms, u32 empty_run,
 *         u8 firing, u8 has_fired             the group header, field by
 *                                              field (its pointers and
 *                                              hash are rebuilt)
 *         type state                          type_size bytes, as is
 *                                              (checked on load by its
 *                                              type: see below)
 *         per open-bucket slot: u8 used, and when used the struct
 *         win_bucket as is up to its ids, then its idlen bytes of ids
 *         and, for p50-p99, u32 length + the sketch in qsketch_encode
 *         form (a few hundred bytes, not its 4 KB)
 *   u32 CRC32C of the header and the body
 *
 * Loading checks the size and the CRC before reading any record, then
 * reads records with every count and length bounded by what is left of
 * the body and by the current detector (max_groups, the key's shape),
 * into new group tables; only when all of the file is good are they
 * moved into the engine.  Memory used is thus bounded by what the
 * running detectors may hold, whatever the file says.
 *
 * What a CRC-valid file could still get wrong is checked where the
 * engine would index memory with it: keys, bucket slots and event ids,
 * sketches (decoded by qsketch_merge_encoded, which checks them whole),
 * times (bounded, so the engine's arithmetic cannot overflow), and the
 * type state (a strategy's history ring, a rate baseline), which each
 * type checks itself (det_type check_state, strategy.h check): ring
 * indices and counts within the size the config gives, counters that
 * agree, the numbers its arithmetic needs finite.  A CRC does not make
 * a file trustworthy, only undamaged: one written by a buggy build, or
 * crafted, has a valid CRC too.
 *
 * What fails which check decides what is lost.  Anything outside the
 * type state fails the whole load (it is the engine's own bookkeeping:
 * a file that gets it wrong is not one to trust), and detectd starts
 * fresh.  A type state that fails its check costs only its group's
 * history: it is replaced by a new group's state (group_init), the
 * group keeping its key, windows and firing flags, which were checked
 * on their own; one warning per detector says how many groups.  Not the
 * whole load, since one bad ring should not cost every detector its
 * state; not the group, since a firing group that vanished would never
 * resolve.  A type without check_state has its state reset likewise.
 * The states refused include a few the engine makes itself from values
 * near DBL_MAX (sums that overflowed): they score nothing useful until
 * they start over anyway.  The file is still created 0600, and its folder
 * should be writable by detectd's user alone.
 *
 * The checksum is CRC32C (common/crc32c.c, shared with ingestd's spool)
 * rather than zlib's crc32(): no new library for twenty lines, and the
 * Castagnoli polynomial detects more error patterns at these lengths
 * than zlib's IEEE one (why ext4, iSCSI and LevelDB use it).  A byte per
 * table look-up runs at several hundred MB/s, far more than a
 * checkpoint needs (test/bench/bench_checkpoint.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checkpoint.h"
#include "crc32c.h"
#include "detector.h"
#include "log.h"
#include "sketch.h"
#include "util.h"

#define CKPT_MAGIC     "SNDETCKP"
#define CKPT_BOM       0x01020304u
#define CKPT_HEADER    32
#define CKPT_CRC_BYTES 4
/* Bounds on what the file may claim. */
#define CKPT_ID_MAX  4096 /* bytes of a detector id */
#define CKPT_KEY_MAX (DET_MAX_LABELS * (1 + DET_LABEL_MAX))
/* Event times fit 4-digit years (about 2^48 ms); this bound keeps
 * clock - lateness and friends far from overflow. */
#define CKPT_TIME_MAX ((int64_t)1 << 53)
/* A group's fixed bytes besides type state and buckets. */
#define CKPT_GROUP_FIXED (2 + 8 + 8 + 4 + 1 + 1)

/* --- writing ----------------------------------------------------------- */

/* A writer that counts (f NULL) or writes and checksums. */
struct ckpt_w {
	FILE *f;
	uint32_t crc;
	uint64_t len; /* bytes put */
	uint8_t *sk;  /* scratch for an encoded sketch */
	size_t sk_cap;
};

static void
ckpt_put(struct ckpt_w *w, const void *p, size_t n)
{
	w->len += n;
	if (w->f == NULL)
		return;
	w->crc = sn_crc32c(w->crc, p, n);
	/* A short write shows in ferror() before the rename. */
	(void)fwrite(p, 1, n, w->f);
}

static void
ckpt_put_u8(struct ckpt_w *w, uint8_t v)
{
	ckpt_put(w, &v, sizeof(v));
}

static void
ckpt_put_u16(struct ckpt_w *w, uint16_t v)
{
	ckpt_put(w, &v, sizeof(v));
}

static void
ckpt_put_u32(struct ckpt_w *w, uint32_t v)
{
	ckpt_put(w, &v, sizeof(v));
}

static void
ckpt_put_u64(struct ckpt_w *w, uint64_t v)
{
	ckpt_put(w, &v, sizeof(v));
}

static void
ckpt_put_i64(struct ckpt_w *w, int64_t v)
{
	ckpt_put(w, &v, sizeof(v));
}

/* The sketch right behind bucket b (detector.h: the bucket layout). */
static struct qsketch *
ckpt_sketch(struct win_bucket *b)
{
	return (struct qsketch *)(void *)(b + 1);
}

static void
ckpt_put_group(struct ckpt_w *w, const struct det *d, struct group *g)
{
	struct win_bucket *b;
	size_t n;
	unsigned i;

	ckpt_put_u16(w, g->keylen);
	ckpt_put(w, group_key(&d->groups, g), g->keylen);
	ckpt_put_i64(w, g->next_close);
	ckpt_put_i64(w, g->last_fire_ms);
	ckpt_put_u32(w, g->empty_run);
	ckpt_put_u8(w, g->firing);
	ckpt_put_u8(w, g->has_fired);
	ckpt_put(w, det_tstate(d, g), d->type_size);
	for (i = 0; i < d->nbuckets; i++) {
		b = win_bucket(d, g, i);
		ckpt_put_u8(w, b->start != WIN_UNUSED);
		if (b->start == WIN_UNUSED)
			continue;
		ckpt_put(w, b, offsetof(struct win_bucket, ids));
		ckpt_put(w, b->ids, b->idlen);
		if (!d->has_sketch)
			continue;
		n = qsketch_encode(ckpt_sketch(b), w->sk, w->sk_cap);
		if (n > w->sk_cap)
			fatalx("checkpoint: sketch encoding over its bound");
		ckpt_put_u32(w, (uint32_t)n);
		ckpt_put(w, w->sk, n);
	}
}

/* The part of a detector record that is skipped when it changed. */
static void
ckpt_put_state(struct ckpt_w *w, const struct det *d)
{
	struct group *g;

	ckpt_put_u32(w, (uint32_t)d->type_size);
	ckpt_put_u32(w, d->nbuckets);
	ckpt_put_u32(w, (uint32_t)sizeof(struct win_bucket));
	ckpt_put_u32(w, (uint32_t)offsetof(struct win_bucket, ids));
	ckpt_put_u8(w, (uint8_t)d->has_sketch);
	ckpt_put_i64(w, d->closed_upto);
	ckpt_put_u8(w, (uint8_t)d->have_closed);
	ckpt_put_u64(w, d->events);
	ckpt_put_u64(w, d->anomalies);
	ckpt_put_u64(w, d->resolved);
	ckpt_put_u64(w, d->late);
	ckpt_put_u64(w, d->suppressed);
	ckpt_put_u64(w, d->groups.evicted);
	ckpt_put_u64(w, d->groups.count);
	for (g = d->groups.oldest; g != NULL; g = g->newer)
		ckpt_put_group(w, d, g);
}

/* Whether detector d has state to write. */
static int
ckpt_saves(const struct det *d)
{
	return d->running && strlen(d->cfg->id) <= CKPT_ID_MAX;
}

/*
 * Puts the body.  Counting (w->f NULL) fills lens[i] with the length of
 * detector i's state; writing uses them.  Returns 0, or -1 when a state
 * did not come out at the length counted (a bug: never written).
 */
static int
ckpt_put_body(struct ckpt_w *w, const struct engine *e, uint64_t *lens)
{
	struct sn_buf ident = {0};
	struct engine_clock c;
	const struct det *d;
	size_t i, n = engine_detector_count(e);
	uint32_t ndet = 0;
	uint64_t at;

	engine_clock_get(e, &c);
	ckpt_put_i64(w, c.clock);
	ckpt_put_u8(w, (uint8_t)c.have_clock);
	ckpt_put_i64(w, c.forced);
	for (i = 0; i < n; i++)
		ndet += ckpt_saves(engine_det(e, i));
	ckpt_put_u32(w, ndet);
	for (i = 0; i < n; i++) {
		d = engine_det(e, i);
		if (!ckpt_saves(d))
			continue;
		ckpt_put_u32(w, (uint32_t)strlen(d->cfg->id));
		ckpt_put(w, d->cfg->id, strlen(d->cfg->id));
		sn_buf_reset(&ident);
		engine_config_identity(d->cfg, &ident);
		ckpt_put_u32(w, (uint32_t)ident.len);
		ckpt_put(w, ident.data, ident.len);
		ckpt_put_u64(w, lens[i]);
		at = w->len;
		ckpt_put_state(w, d);
		if (w->f == NULL)
			lens[i] = w->len - at;
		else if (w->len - at != lens[i]) {
			sn_buf_free(&ident);
			return -1;
		}
	}
	sn_buf_free(&ident);
	return 0;
}

static void
ckpt_put_header(struct ckpt_w *w, uint64_t seq, uint64_t body_len)
{
	ckpt_put(w, CKPT_MAGIC, 8);
	ckpt_put_u32(w, CHECKPOINT_VERSION);
	ckpt_put_u32(w, CKPT_BOM);
	ckpt_put_u64(w, seq);
	ckpt_put_u64(w, body_len);
}

int
checkpoint_save(const struct engine *e, uint64_t seq, const char *path)
{
	struct ckpt_w count = {0}, w = {0};
	size_t n = engine_detector_count(e);
	uint64_t *lens = sn_xcalloc(n ? n : 1, sizeof(*lens));
	const char *what = NULL;
	char *tmp;
	size_t plen = strlen(path);
	uint32_t crc;
	int fd = -1, rc = -1;

	tmp = sn_xmalloc(plen + 5);
	memcpy(tmp, path, plen);
	memcpy(tmp + plen, ".tmp", 5);
	w.sk_cap = count.sk_cap = qsketch_encoded_max(DET_SKETCH_BINS);
	w.sk = count.sk = sn_xmalloc(w.sk_cap);
	/* Count first: the header carries the body's length. */
	ckpt_put_body(&count, e, lens);

	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) <
	    0) {
		what = "cannot create";
		goto fail;
	}
	if ((w.f = fdopen(fd, "wb")) == NULL) {
		what = "cannot open";
		goto fail;
	}
	fd = -1;
	setvbuf(w.f, NULL, _IOFBF, 1 << 20);
	ckpt_put_header(&w, seq, count.len);
	if (ckpt_put_body(&w, e, lens) < 0 ||
	    w.len != CKPT_HEADER + count.len) {
		errno = 0;
		what = "state changed size while written (a bug), cannot write";
		goto fail;
	}
	crc = w.crc;
	if (fwrite(&crc, 1, sizeof(crc), w.f) != sizeof(crc) ||
	    fflush(w.f) != 0 || ferror(w.f)) {
		what = "cannot write";
		goto fail;
	}
	if (fsync(fileno(w.f)) < 0) {
		what = "cannot fsync";
		goto fail;
	}
	if (fclose(w.f) != 0) {
		w.f = NULL;
		what = "cannot write";
		goto fail;
	}
	w.f = NULL;
	if (rename(tmp, path) < 0) {
		what = "cannot rename over the checkpoint";
		goto fail;
	}
	if (sn_fsync_dir(path) < 0)
		log_warn("checkpoint %s: written, but its folder cannot be "
		         "fsynced: a crash may bring back the previous one",
		         path);
	else
		rc = 0;
	goto out;
fail:
	if (errno != 0)
		log_warn("checkpoint %s: %s", tmp, what);
	else
		log_warnx("checkpoint %s: %s", tmp, what);
	if (w.f != NULL)
		fclose(w.f);
	if (fd >= 0)
		close(fd);
	unlink(tmp);
out:
	free(count.sk);
	free(lens);
	free(tmp);
	return rc;
}

/* --- reading ----------------------------------------------------------- */

/* A bounded reader of the body. */
struct ckpt_r {
	FILE *f;
	uint64_t left;   /* bytes of the current record not yet read */
	const char *err; /* the first problem, static */
	uint8_t *sk;     /* scratch for an encoded sketch */
	size_t sk_cap;
};

static int
ckpt_fail(struct ckpt_r *r, const char *why)
{
	if (r->err == NULL)
		r->err = why;
	return -1;
}

static int
ckpt_get(struct ckpt_r *r, void *p, size_t n)
{
	if (r->err != NULL)
		return -1;
	if (n > r->left)
		return ckpt_fail(r, "a record runs past its end");
	if (n > 0 && fread(p, 1, n, r->f) != n)
		return ckpt_fail(r, "read error");
	r->left -= n;
	return 0;
}

static int
ckpt_skip(struct ckpt_r *r, uint64_t n)
{
	if (r->err != NULL)
		return -1;
	if (n > r->left)
		return ckpt_fail(r, "a record runs past its end");
	if (n > INT64_MAX || fseeko(r->f, (off_t)n, SEEK_CUR) < 0)
		return ckpt_fail(r, "read error");
	r->left -= n;
	return 0;
}

static int
ckpt_get_u8(struct ckpt_r *r, uint8_t *v)
{
	return ckpt_get(r, v, sizeof(*v));
}

static int
ckpt_get_u16(struct ckpt_r *r, uint16_t *v)
{
	return ckpt_get(r, v, sizeof(*v));
}

static int
ckpt_get_u32(struct ckpt_r *r, uint32_t *v)
{
	return ckpt_get(r, v, sizeof(*v));
}

static int
ckpt_get_u64(struct ckpt_r *r, uint64_t *v)
{
	return ckpt_get(r, v, sizeof(*v));
}

static int
ckpt_get_i64(struct ckpt_r *r, int64_t *v)
{
	return ckpt_get(r, v, sizeof(*v));
}

/* A flag: 0 or 1. */
static int
ckpt_get_bool(struct ckpt_r *r, uint8_t *v)
{
	if (ckpt_get_u8(r, v) < 0)
		return -1;
	return *v <= 1 ? 0 : ckpt_fail(r, "a flag is neither 0 nor 1");
}

static int
ckpt_time_ok(int64_t t)
{
	return t >= -CKPT_TIME_MAX && t <= CKPT_TIME_MAX;
}

/* Reads n bytes and says whether they equal p: 1, 0, or -1 on error. */
static int
ckpt_get_equal(struct ckpt_r *r, const void *p, size_t n)
{
	uint8_t buf[4096];
	size_t k, off = 0;
	int same = 1;

	while (off < n) {
		k = n - off < sizeof(buf) ? n - off : sizeof(buf);
		if (ckpt_get(r, buf, k) < 0)
			return -1;
		same = same && memcmp(buf, (const uint8_t *)p + off, k) == 0;
		off += k;
	}
	return same;
}

/* What the file holds for one detector of the engine. */
struct ckpt_slot {
	int seen;       /* a record with its id was read */
	int kept;       /* its state was read: it moves into the engine */
	int layout;     /* same config, another layout (another build) */
	uint64_t reset; /* groups whose type state failed its check */
	struct group_table groups;
	int64_t closed_upto;
	uint8_t have_closed;
	uint64_t events, anomalies, resolved, late, suppressed;
};

/* Whether key has the shape of d's keys: one [len][value] per label. */
static int
ckpt_key_ok(const struct det *d, const uint8_t *key, size_t keylen)
{
	size_t i, off = 0;

	for (i = 0; i < d->nlabels; i++) {
		if (off >= keylen) /* a u8 length is <= DET_LABEL_MAX */
			return 0;
		off += 1 + (size_t)key[off];
	}
	return off == keylen;
}

/* The slot of the bucket starting at start (engine.c's engine_slot). */
static unsigned
ckpt_slot_of(const struct det *d, int64_t start)
{
	int64_t k = (start / d->window_ms) % (int64_t)d->nbuckets;

	return (unsigned)(k < 0 ? k + (int64_t)d->nbuckets : k);
}

/* Checks a bucket read into slot i: what window.c and engine.c index. */
static int
ckpt_bucket_ok(const struct det *d, const struct win_bucket *b, unsigned i)
{
	size_t off = 0;
	unsigned k;

	if (!ckpt_time_ok(b->start) ||
	    win_start(b->start, d->window_ms) != b->start ||
	    ckpt_slot_of(d, b->start) != i)
		return 0;
	if (b->events == 0 || b->n > b->events || b->errors > b->events)
		return 0;
	if (b->nids > SN_ANOMALY_MAX_EVENT_IDS || b->idlen > sizeof(b->ids))
		return 0;
	for (k = 0; k < b->nids; k++) {
		if (off >= b->idlen)
			return 0;
		off += 1 + (size_t)(uint8_t)b->ids[off];
	}
	return off == b->idlen;
}

static int
ckpt_get_bucket(struct ckpt_r *r, const struct det *d, struct group *g,
                unsigned i)
{
	struct win_bucket *b = win_bucket(d, g, i);
	struct qsketch *s;
	uint32_t len;
	uint8_t used;

	if (ckpt_get_bool(r, &used) < 0)
		return -1;
	if (!used) {
		b->start = WIN_UNUSED;
		return 0;
	}
	if (ckpt_get(r, b, offsetof(struct win_bucket, ids)) < 0)
		return -1;
	if (b->idlen > sizeof(b->ids))
		return ckpt_fail(r, "a window's event ids are too long");
	if (ckpt_get(r, b->ids, b->idlen) < 0)
		return -1;
	memset(b->ids + b->idlen, 0, sizeof(b->ids) - b->idlen);
	if (!ckpt_bucket_ok(d, b, i))
		return ckpt_fail(r, "a window does not hold together");
	if (!d->has_sketch)
		return 0;
	if (ckpt_get_u32(r, &len) < 0)
		return -1;
	if (len > r->sk_cap)
		return ckpt_fail(r, "a sketch is longer than any can be");
	if (ckpt_get(r, r->sk, len) < 0)
		return -1;
	s = qsketch_init(ckpt_sketch(b), DET_SKETCH_ERROR, DET_SKETCH_BINS);
	if (qsketch_merge_encoded(s, r->sk, len) < 0 || qsketch_count(s) > b->n)
		return ckpt_fail(r, "a window's sketch is malformed");
	return 0;
}

/*
 * Reads a group's type state and checks it (det_type check_state): one
 * that fails is replaced by a new group's, and counted in *reset.  The
 * group keeps its key, windows and firing state, all checked on their
 * own: a firing group still resolves, and only the history starts over.
 */
static int
ckpt_get_tstate(struct ckpt_r *r, const struct det *d, struct group *g,
                uint64_t *reset)
{
	void *ts = det_tstate(d, g);

	if (d->type_size == 0)
		return 0;
	if (ckpt_get(r, ts, d->type_size) < 0)
		return -1;
	if (d->type->check_state != NULL && d->type->check_state(d, ts) == 0)
		return 0;
	memset(ts, 0, d->type_size);
	d->type->group_init(d, ts);
	(*reset)++;
	return 0;
}

static int
ckpt_get_group(struct ckpt_r *r, const struct det *d, struct group_table *t,
               uint64_t *reset)
{
	uint8_t key[CKPT_KEY_MAX], firing, has_fired;
	int64_t next_close, last_fire;
	uint32_t empty_run;
	uint16_t keylen;
	struct group *g;
	uint64_t h;
	unsigned i;

	if (ckpt_get_u16(r, &keylen) < 0)
		return -1;
	if (keylen > sizeof(key))
		return ckpt_fail(r, "a group key is too long");
	if (ckpt_get(r, key, keylen) < 0 || ckpt_get_i64(r, &next_close) < 0 ||
	    ckpt_get_i64(r, &last_fire) < 0 ||
	    ckpt_get_u32(r, &empty_run) < 0 || ckpt_get_bool(r, &firing) < 0 ||
	    ckpt_get_bool(r, &has_fired) < 0)
		return -1;
	if (!ckpt_key_ok(d, key, keylen))
		return ckpt_fail(r, "a group key does not fit the group_by");
	if (!ckpt_time_ok(last_fire))
		return ckpt_fail(r, "a group's last firing is out of range");
	if (next_close != INT64_MIN &&
	    (d->window_ms == 0 || !ckpt_time_ok(next_close) ||
	     win_start(next_close, d->window_ms) != next_close))
		return ckpt_fail(r, "a group's next window is not one");
	h = group_hash(key, keylen);
	if (group_find(t, h, key, keylen) != NULL)
		return ckpt_fail(r, "a group appears twice");
	g = group_insert(t, h, key, keylen);
	g->next_close = next_close;
	g->last_fire_ms = last_fire;
	g->empty_run = empty_run;
	g->firing = firing;
	g->has_fired = has_fired;
	if (ckpt_get_tstate(r, d, g, reset) < 0)
		return -1;
	for (i = 0; i < d->nbuckets; i++)
		if (ckpt_get_bucket(r, d, g, i) < 0)
			return -1;
	return 0;
}

/*
 * Reads the state part of d's record (r->left is its length) into
 * slot.  A layout that is not d's (another build) is skipped, not an
 * error: the detector starts empty.
 */
static int
ckpt_get_state(struct ckpt_r *r, const struct det *d, struct ckpt_slot *slot)
{
	uint32_t type_size, nbuckets, bucket_bytes, ids_at;
	uint64_t evicted, ngroups, k, each;
	uint8_t has_sketch;

	if (ckpt_get_u32(r, &type_size) < 0 || ckpt_get_u32(r, &nbuckets) < 0 ||
	    ckpt_get_u32(r, &bucket_bytes) < 0 ||
	    ckpt_get_u32(r, &ids_at) < 0 || ckpt_get_u8(r, &has_sketch) < 0)
		return -1;
	if (type_size != d->type_size || nbuckets != d->nbuckets ||
	    bucket_bytes != sizeof(struct win_bucket) ||
	    ids_at != offsetof(struct win_bucket, ids) ||
	    has_sketch != (d->has_sketch != 0)) {
		slot->layout = 1;
		return ckpt_skip(r, r->left);
	}
	if (ckpt_get_i64(r, &slot->closed_upto) < 0 ||
	    ckpt_get_bool(r, &slot->have_closed) < 0 ||
	    ckpt_get_u64(r, &slot->events) < 0 ||
	    ckpt_get_u64(r, &slot->anomalies) < 0 ||
	    ckpt_get_u64(r, &slot->resolved) < 0 ||
	    ckpt_get_u64(r, &slot->late) < 0 ||
	    ckpt_get_u64(r, &slot->suppressed) < 0 ||
	    ckpt_get_u64(r, &evicted) < 0 || ckpt_get_u64(r, &ngroups) < 0)
		return -1;
	if (slot->have_closed && !ckpt_time_ok(slot->closed_upto))
		return ckpt_fail(r, "a detector's closed windows are out of "
		                    "range");
	/* Bound the count before allocating anything for it. */
	each = CKPT_GROUP_FIXED + (uint64_t)d->type_size + d->nbuckets;
	if (ngroups > d->groups.max || ngroups > r->left / each)
		return ckpt_fail(r, "more groups than the record can hold");
	group_table_init(&slot->groups, d->groups.max, d->off_key);
	for (k = 0; k < ngroups; k++)
		if (ckpt_get_group(r, d, &slot->groups, &slot->reset) < 0)
			return -1;
	slot->groups.evicted = evicted;
	slot->kept = 1;
	return 0;
}

/* The running detector of e with this id, or -1. */
static ssize_t
ckpt_find(const struct engine *e, const char *id)
{
	size_t i, n = engine_detector_count(e);
	const struct det *d;

	for (i = 0; i < n; i++) {
		d = engine_det(e, i);
		if (d->running && strcmp(d->cfg->id, id) == 0)
			return (ssize_t)i;
	}
	return -1;
}

/*
 * Reads one detector record.  Its state goes into its slot when the
 * detector runs with the same identity; otherwise it is skipped, and a
 * detector no longer running is added to dropped (NUL-separated ids).
 */
static int
ckpt_get_det(struct ckpt_r *r, const struct engine *e, struct ckpt_slot *slots,
             struct sn_buf *ident, struct sn_buf *dropped)
{
	char id[CKPT_ID_MAX + 1];
	uint32_t idlen, ilen;
	uint64_t slen, outer;
	ssize_t i;
	int same = 0;

	if (ckpt_get_u32(r, &idlen) < 0)
		return -1;
	if (idlen > CKPT_ID_MAX)
		return ckpt_fail(r, "a detector id is too long");
	if (ckpt_get(r, id, idlen) < 0)
		return -1;
	if (memchr(id, '\0', idlen) != NULL)
		return ckpt_fail(r, "a detector id holds a NUL");
	id[idlen] = '\0';
	i = ckpt_find(e, id);
	if (ckpt_get_u32(r, &ilen) < 0)
		return -1;
	if (i >= 0) {
		sn_buf_reset(ident);
		engine_config_identity(engine_det(e, (size_t)i)->cfg, ident);
	}
	if (i >= 0 && ilen == ident->len) {
		if ((same = ckpt_get_equal(r, ident->data, ilen)) < 0)
			return -1;
	} else if (ckpt_skip(r, ilen) < 0)
		return -1;
	if (ckpt_get_u64(r, &slen) < 0)
		return -1;
	if (slen > r->left)
		return ckpt_fail(r, "a detector record runs past the end");
	if (i < 0) {
		sn_buf_append(dropped, id, idlen + 1);
		return ckpt_skip(r, slen);
	}
	if (slots[i].seen)
		return ckpt_fail(r, "a detector appears twice");
	slots[i].seen = 1;
	if (!same)
		return ckpt_skip(r, slen);
	/* Read the state as a record of its own length. */
	outer = r->left - slen;
	r->left = slen;
	if (ckpt_get_state(r, engine_det(e, (size_t)i), &slots[i]) < 0)
		return -1;
	if (r->left != 0)
		return ckpt_fail(r, "a detector record is longer than its "
		                    "state");
	r->left = outer;
	return 0;
}

/* Checks the header; fills seq and body_len.  NULL or the problem. */
static const char *
ckpt_check_header(const uint8_t *h, off_t size, uint64_t *seq,
                  uint64_t *body_len)
{
	uint32_t version, bom;

	if (memcmp(h, CKPT_MAGIC, 8) != 0)
		return "not a detectd checkpoint (bad magic)";
	memcpy(&version, h + 8, 4);
	memcpy(&bom, h + 12, 4);
	memcpy(seq, h + 16, 8);
	memcpy(body_len, h + 24, 8);
	if (bom != CKPT_BOM)
		return "written on a machine of the other byte order";
	if (version != CHECKPOINT_VERSION)
		return "of another format version";
	if (*body_len != (uint64_t)size - CKPT_HEADER - CKPT_CRC_BYTES)
		return "truncated (its length does not match its header)";
	return NULL;
}

/* Checks the CRC of the whole file (f at its start, size bytes). */
static const char *
ckpt_check_crc(FILE *f, off_t size)
{
	uint8_t buf[65536];
	uint64_t left = (uint64_t)size - CKPT_CRC_BYTES;
	uint32_t crc = 0, want;
	size_t k;

	while (left > 0) {
		k = left < sizeof(buf) ? (size_t)left : sizeof(buf);
		if (fread(buf, 1, k, f) != k)
			return "read error";
		crc = sn_crc32c(crc, buf, k);
		left -= k;
	}
	if (fread(&want, 1, sizeof(want), f) != sizeof(want))
		return "read error";
	return crc == want ? NULL : "checksum mismatch (damaged)";
}

/*
 * Moves what the slots hold into e, and says what happened: one line per
 * detector that starts empty, and one per detector with groups whose
 * type state was reset.  Adds the groups reset to *reset.
 */
static size_t
ckpt_apply(struct engine *e, struct ckpt_slot *slots, uint64_t *reset)
{
	size_t i, n = engine_detector_count(e), kept = 0;
	struct det *d;

	for (i = 0; i < n; i++) {
		d = engine_det(e, i);
		if (!d->running)
			continue;
		if (!slots[i].kept) {
			log_info("detector %s: %s, starts empty", d->cfg->id,
			         !slots[i].seen ? "not in the checkpoint"
			         : slots[i].layout
			                 ? "its state layout changed (another "
			                   "build)"
			                 : "config changed since the "
			                   "checkpoint");
			continue;
		}
		if (slots[i].reset > 0)
			log_warnx("detector %s: the type state of %" PRIu64
			          " of %zu groups fails its check (a damaged "
			          "or forged checkpoint, or a bug): their "
			          "history starts over, their windows and "
			          "firing state are kept",
			          d->cfg->id, slots[i].reset,
			          slots[i].groups.count);
		*reset += slots[i].reset;
		group_table_free(&d->groups);
		d->groups = slots[i].groups;
		group_table_init(&slots[i].groups, 1, d->off_key);
		d->closed_upto = slots[i].closed_upto;
		d->have_closed = slots[i].have_closed;
		d->events = slots[i].events;
		d->anomalies = slots[i].anomalies;
		d->resolved = slots[i].resolved;
		d->late = slots[i].late;
		d->suppressed = slots[i].suppressed;
		kept++;
	}
	return kept;
}

/* Reads the body into slots and the clock; 0 or -1 with r->err. */
static int
ckpt_get_body(struct ckpt_r *r, const struct engine *e, struct ckpt_slot *slots,
              struct engine_clock *c, struct sn_buf *dropped)
{
	struct sn_buf ident = {0};
	uint8_t have_clock;
	uint32_t ndet, k;
	int rc = 0;

	if (ckpt_get_i64(r, &c->clock) < 0 ||
	    ckpt_get_bool(r, &have_clock) < 0 ||
	    ckpt_get_i64(r, &c->forced) < 0 || ckpt_get_u32(r, &ndet) < 0)
		return -1;
	c->have_clock = have_clock;
	if ((c->have_clock && !ckpt_time_ok(c->clock)) ||
	    (c->forced != INT64_MIN && !ckpt_time_ok(c->forced)))
		return ckpt_fail(r, "the engine's clock is out of range");
	for (k = 0; k < ndet && rc == 0; k++)
		rc = ckpt_get_det(r, e, slots, &ident, dropped);
	sn_buf_free(&ident);
	if (rc == 0 && r->left != 0)
		return ckpt_fail(r, "bytes after the last detector");
	return rc;
}

int
checkpoint_load(struct engine *e, const char *path, uint64_t *seq)
{
	size_t i, n = engine_detector_count(e), kept;
	struct ckpt_slot *slots = NULL;
	struct sn_buf dropped = {0};
	struct engine_clock c;
	struct ckpt_r r = {0};
	uint8_t h[CKPT_HEADER];
	uint64_t saved_seq, body_len, reset = 0;
	const char *why = NULL, *p;
	struct stat st;
	FILE *f;
	int fd, rc = -1;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		if (errno == ENOENT) {
			log_info("checkpoint %s: none, starting fresh", path);
			return 0;
		}
		log_warn("checkpoint %s: cannot open", path);
		return -1;
	}
	if ((f = fdopen(fd, "rb")) == NULL) {
		log_warn("checkpoint %s: cannot open", path);
		close(fd);
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		why = "not a regular file";
	else if (st.st_size < CKPT_HEADER + CKPT_CRC_BYTES)
		why = "truncated (shorter than a header)";
	else if (fread(h, 1, sizeof(h), f) != sizeof(h))
		why = "read error";
	else if ((why = ckpt_check_header(h, st.st_size, &saved_seq,
	                                  &body_len)) == NULL) {
		rewind(f);
		why = ckpt_check_crc(f, st.st_size);
	}
	if (why != NULL)
		goto out;

	/* The file is whole: read it into new tables, then move them. */
	if (fseeko(f, CKPT_HEADER, SEEK_SET) < 0) {
		why = "read error";
		goto out;
	}
	r.f = f;
	r.left = body_len;
	r.sk_cap = qsketch_encoded_max(DET_SKETCH_BINS);
	r.sk = sn_xmalloc(r.sk_cap);
	slots = sn_xcalloc(n ? n : 1, sizeof(*slots));
	if (ckpt_get_body(&r, e, slots, &c, &dropped) < 0) {
		why = r.err;
		goto out;
	}
	for (p = (const char *)dropped.data;
	     p != NULL && p < (const char *)dropped.data + dropped.len;
	     p += strlen(p) + 1)
		log_info("detector %s: no longer running, its checkpointed "
		         "state is dropped",
		         p);
	kept = ckpt_apply(e, slots, &reset);
	engine_clock_set(e, &c);
	*seq = saved_seq;
	log_info("checkpoint %s: state at seq %" PRIu64 " restored for %zu of "
	         "%zu running detectors (%" PRIu64 " groups with their type "
	         "state reset)",
	         path, saved_seq, kept, engine_running(e), reset);
	rc = 1;
out:
	if (rc < 0)
		log_warnx("checkpoint %s: %s: not loaded", path,
		          why ? why : "unreadable");
	for (i = 0; slots != NULL && i < n; i++)
		group_table_free(&slots[i].groups);
	free(slots);
	free(r.sk);
	sn_buf_free(&dropped);
	fclose(f);
	return rc;
}
