/*
 * test_spool.c: ingestd's spool keeps every record appended, in order,
 * across a reopen; a torn or damaged tail is cut off at open and never
 * read; readers replay from any sequence number, say when what they ask
 * for was deleted, and only see what is durable in fsync mode; segments
 * rotate and are deleted only once every consumer is past them; a
 * deleted segment is reused for the next one, and its old records are
 * never read as new ones, even after a crash left them in the file.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>

#include <cmocka.h>
#include <event2/event.h>

#include "testutil.h"

#include "../../ingestd/spool.h"
#include "config.h"
#include "crc32c.h"
#include "msg.h"
#include "util.h"

struct fixture {
	char dir[64], db[128];
	struct event_base *base;
	int durable_calls;
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (f == NULL || tu_db_dir(f->dir, f->db, "spool") < 0)
		return -1;
	f->base = event_base_new();
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	if (system(cmd) != 0)
		return -1;
	event_base_free(f->base);
	free(f);
	return 0;
}

static void
on_durable(void *arg)
{
	((struct fixture *)arg)->durable_calls++;
}

static struct spool *
open_spool(struct fixture *f, int durability, uint64_t seg)
{
	struct spool *sp =
	        spool_open(f->dir, durability, seg, f->base, on_durable, f);

	assert_non_null(sp);
	return sp;
}

/* A batch message of the events first..last (one event each seq), with
 * prev, as forward.c builds it. */
static void
batch(struct sn_buf *b, uint64_t prev, uint64_t first, uint64_t last)
{
	struct sn_event ev;
	char id[32];

	msg_begin(b, SN_MSG_EVENTS);
	for (uint64_t s = first; s <= last; s++) {
		memset(&ev, 0, sizeof(ev));
		snprintf(id, sizeof(id), "ev-%llu", (unsigned long long)s);
		ev.seq = s;
		ev.ts_ms = 1767323045000LL;
		ev.event_id = str(id);
		ev.event_type = str("llm.response");
		ev.application_id = str("app");
		ev.model = str("");
		ev.status = str("");
		ev.timestamp = str("");
		ev.json = str("{}");
		msg_add_event(b, &ev);
	}
	msg_set_prev(b, prev);
}

/* Appends batches of n events from seq first on; returns the last. */
static uint64_t
append_n(struct spool *sp, uint64_t prev, uint64_t first, int batches, int n)
{
	struct sn_buf b = {0};
	uint64_t mark;

	for (int i = 0; i < batches; i++) {
		batch(&b, prev, first, first + (uint64_t)n - 1);
		assert_int_equal(spool_append(sp, b.data, b.len, first,
		                              first + (uint64_t)n - 1, &mark),
		                 0);
		prev = first + (uint64_t)n - 1;
		first = prev + 1;
	}
	sn_buf_free(&b);
	return prev;
}

/* Reads everything r has; checks it is in order after *after, returns
 * the number of records read and leaves *after at the last seq. */
static int
read_all(struct spool_reader *r, uint64_t *after)
{
	struct sn_buf b = {0};
	struct msg_reader m;
	struct sn_event ev;
	uint64_t last;
	int n = 0;

	while (spool_reader_next(r, &b, &last) == 1) {
		assert_int_equal(msg_open(&m, b.data, b.len), 0);
		assert_int_equal(msg_check(&m), 0);
		assert_true(m.prev <= *after || *after == 0);
		while (msg_next_event(&m, &ev) == 1) {
			assert_true(ev.seq > *after);
			*after = ev.seq;
		}
		assert_true(*after == last);
		n++;
	}
	sn_buf_free(&b);
	return n;
}

static void
test_checksum_check_value(void **state)
{
	uint8_t buf[1000];
	size_t len, off;

	(void)state;
	assert_true(sn_crc32c(0, "123456789", 9) == 0xE3069283u);
	assert_true(sn_crc32c_portable(0, "123456789", 9) == 0xE3069283u);
	/* the instruction and the table agree on every length and
	 * alignment, and when a checksum is continued in pieces */
	for (off = 0; off < sizeof(buf); off++)
		buf[off] = (uint8_t)(off * 131 + 7);
	for (off = 0; off < 9; off++)
		for (len = 0; len + off <= 300; len += 7)
			assert_true(sn_crc32c(0, buf + off, len) ==
			            sn_crc32c_portable(0, buf + off, len));
	assert_true(sn_crc32c(sn_crc32c(0, buf, 333), buf + 333, 667) ==
	            sn_crc32c_portable(0, buf, 1000));
}

/* Lengths around the three-chain blocks of crc32c.c (3 x 256 and
 * 3 x 8192 bytes), a spool record's size and beyond, at every
 * alignment and continued in pieces: the joined chains give the
 * table's result. */
static void
test_checksum_long_buffers(void **state)
{
	static const size_t lens[] = {767,   768,   769,   1535,  1536,
	                              2311,  20000, 24575, 24576, 24577,
	                              26111, 49152, 50000, 60001};
	static uint8_t buf[64 * 1024];
	uint32_t rnd = 12345, want;
	size_t i, off, cut;

	(void)state;
	for (i = 0; i < sizeof(buf); i++) {
		rnd = rnd * 1103515245u + 12345u;
		buf[i] = (uint8_t)(rnd >> 16);
	}
	for (i = 0; i < SN_ARRAY_LEN(lens); i++)
		for (off = 0; off < 9; off++) {
			want = sn_crc32c_portable(0, buf + off, lens[i]);
			assert_true(sn_crc32c(0, buf + off, lens[i]) == want);
			cut = lens[i] / 3 + off;
			assert_true(sn_crc32c(sn_crc32c(0, buf + off, cut),
			                      buf + off + cut,
			                      lens[i] - cut) == want);
		}
	/* one flipped bit anywhere changes it */
	want = sn_crc32c(0, buf, 50000);
	buf[24580] ^= 0x10;
	assert_true(sn_crc32c(0, buf, 50000) != want);
	assert_true(sn_crc32c(0, buf, 50000) ==
	            sn_crc32c_portable(0, buf, 50000));
}

static void
test_append_reopen_read_in_order(void **state)
{
	struct fixture *f = *state;
	struct spool *sp = open_spool(f, SN_DURABILITY_NONE, 0);
	struct spool_reader *r;
	uint64_t after = 0;

	assert_true(spool_last_seq(sp) == 0);
	assert_true(append_n(sp, 0, 1000, 50, 10) == 1499);
	spool_close(sp);

	sp = open_spool(f, SN_DURABILITY_NONE, 0);
	assert_true(spool_last_seq(sp) == 1499);
	r = spool_reader_new(sp);
	assert_int_equal(read_all(r, &after), 50);
	assert_true(after == 1499);
	/* appending goes on in a new segment, readers follow */
	append_n(sp, 1499, 1500, 5, 10);
	assert_int_equal(spool_segments(sp), 2);
	assert_int_equal(read_all(r, &after), 5);
	assert_true(after == 1549);
	spool_close(sp);
}

/* The path of the only (or newest) segment. */
static void
newest_segment(struct fixture *f, char *path, size_t size, uint64_t first)
{
	snprintf(path, size, "%s/%020llu.seg", f->dir,
	         (unsigned long long)first);
}

static void
test_torn_tail_is_cut_off(void **state)
{
	struct fixture *f = *state;
	struct spool *sp = open_spool(f, SN_DURABILITY_FSYNC, 0);
	struct spool_reader *r;
	char path[160];
	struct stat st0, st1;
	uint64_t after = 0;
	FILE *fp;

	append_n(sp, 0, 1, 10, 3);
	spool_close(sp);
	newest_segment(f, path, sizeof(path), 1);
	assert_int_equal(stat(path, &st0), 0);
	/* a crash in the middle of a record: half a header and garbage */
	fp = fopen(path, "ab");
	assert_non_null(fp);
	fwrite("SPL1\x40\x00\x00\x00garbage", 1, 15, fp);
	fclose(fp);

	sp = open_spool(f, SN_DURABILITY_FSYNC, 0);
	assert_int_equal(stat(path, &st1), 0);
	assert_true(st1.st_size == st0.st_size);
	assert_true(spool_last_seq(sp) == 30);
	r = spool_reader_new(sp);
	assert_int_equal(read_all(r, &after), 10);
	spool_close(sp);
}

static void
test_damaged_record_ends_segment(void **state)
{
	struct fixture *f = *state;
	struct spool *sp = open_spool(f, SN_DURABILITY_FSYNC, 0);
	struct spool_reader *r;
	char path[160];
	struct stat st;
	uint64_t after = 0;
	FILE *fp;
	int c;

	append_n(sp, 0, 1, 10, 3);
	spool_close(sp);
	newest_segment(f, path, sizeof(path), 1);
	assert_int_equal(stat(path, &st), 0);
	/* flip a byte in the payload of the last record */
	fp = fopen(path, "r+b");
	assert_non_null(fp);
	fseek(fp, (long)st.st_size - 5, SEEK_SET);
	c = fgetc(fp);
	fseek(fp, (long)st.st_size - 5, SEEK_SET);
	fputc(c ^ 0x55, fp);
	fclose(fp);

	sp = open_spool(f, SN_DURABILITY_FSYNC, 0);
	assert_true(spool_last_seq(sp) == 27); /* the 9 whole records */
	r = spool_reader_new(sp);
	assert_int_equal(read_all(r, &after), 9);
	assert_true(after == 27);
	spool_close(sp);
}

static void
test_seek_replays_and_reports_loss(void **state)
{
	struct fixture *f = *state;
	/* small segments: about 4 records each */
	struct spool *sp = open_spool(f, SN_DURABILITY_NONE, 1500);
	struct spool_reader *r;
	struct sn_buf b = {0};
	struct msg_reader m;
	uint64_t after, last;

	append_n(sp, 0, 1, 40, 5); /* seqs 1..200 */
	assert_true(spool_segments(sp) > 5);
	r = spool_reader_new(sp);

	/* from the middle of a batch: that batch again, in order */
	assert_int_equal(spool_reader_seek(r, 102), 1);
	after = 102;
	assert_int_equal(spool_reader_next(r, &b, &last), 1);
	assert_true(last == 105);
	assert_int_equal(msg_open(&m, b.data, b.len), 0);
	assert_true(m.prev == 102); /* patched to what was asked */
	after = 105;
	assert_int_equal(read_all(r, &after), 19);
	assert_true(after == 200);

	/* past the end: waits there */
	assert_int_equal(spool_reader_seek(r, 500), 1);
	assert_true(spool_reader_at_end(r));

	/* consumers past 100: the segments before it go, not the rest */
	assert_true(spool_gc(sp, 100) > 0);
	assert_int_equal(spool_reader_seek(r, 10), 0); /* lost for it */
	after = 0;
	assert_true(read_all(r, &after) > 0);
	assert_true(after == 200);
	assert_int_equal(spool_reader_seek(r, 150), 1);
	/* never the newest segment */
	spool_gc(sp, 1000);
	assert_int_equal(spool_segments(sp), 1);
	sn_buf_free(&b);
	spool_close(sp);
}

static void
test_fsync_mode_reads_only_durable(void **state)
{
	struct fixture *f = *state;
	struct spool *sp = open_spool(f, SN_DURABILITY_FSYNC, 0);
	struct spool_reader *r = spool_reader_new(sp);
	struct sn_buf b = {0};
	uint64_t last, mark;

	batch(&b, 0, 1, 3);
	assert_int_equal(spool_append(sp, b.data, b.len, 1, 3, &mark), 0);
	assert_true(spool_durable(sp) < mark);
	/* not durable yet: not readable */
	assert_int_equal(spool_reader_next(r, &b, &last), 0);
	spool_sync(sp);
	while (spool_durable(sp) < mark)
		event_base_loop(f->base, EVLOOP_ONCE);
	assert_true(f->durable_calls > 0);
	assert_int_equal(spool_reader_next(r, &b, &last), 1);
	assert_true(last == 3);
	assert_true(spool_reader_lag(r) == 0);
	sn_buf_free(&b);
	spool_close(sp);
}

/* The inode of path, 0 when there is no such file. */
static ino_t
inode_of(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? st.st_ino : 0;
}

/* Whether a segment file of dir is the file with inode ino. */
static int
seg_with_inode(const char *dir, ino_t ino)
{
	char path[512];
	struct dirent *de;
	DIR *d = opendir(dir);
	int found = 0;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		if (strstr(de->d_name, ".seg") != NULL) {
			snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
			found |= inode_of(path) == ino;
		}
	closedir(d);
	return found;
}

static void
test_deleted_segment_is_reused(void **state)
{
	struct fixture *f = *state;
	struct spool *sp = open_spool(f, SN_DURABILITY_NONE, 1500);
	struct spool_reader *r;
	char spare[128];
	uint64_t after = 0, first;
	ino_t ino;
	int segs;

	snprintf(spare, sizeof(spare), "%s/spare", f->dir);
	append_n(sp, 0, 1, 20, 5); /* seqs 1..100, several segments */
	assert_true(spool_gc(sp, 50) > 0);
	/* the first deleted segment is kept as the spare, the rest go */
	assert_true((ino = inode_of(spare)) != 0);
	segs = (int)spool_segments(sp);
	/* the next segment is the spare, renamed */
	first = append_n(sp, 100, 101, 6, 5) + 1;
	assert_true((int)spool_segments(sp) > segs);
	assert_true(inode_of(spare) == 0);
	assert_true(seg_with_inode(f->dir, ino));
	/* read from the start: every seq once, in order, none of the old
	 * records the reused file held */
	r = spool_reader_new(sp);
	assert_true(read_all(r, &after) > 0);
	assert_true(after == first - 1);
	spool_close(sp);

	/* reopened: the same records, nothing of the old data */
	sp = open_spool(f, SN_DURABILITY_NONE, 1500);
	assert_true(spool_last_seq(sp) == first - 1);
	r = spool_reader_new(sp);
	after = 0;
	assert_true(read_all(r, &after) > 0);
	assert_true(after == first - 1);
	spool_close(sp);
}

/*
 * A crash between reusing a file and cutting it (rotation) leaves the
 * newest segment with the old segment's records after its own: they
 * are cut at open, and appending goes on after the segment's own.
 */
static void
test_recycled_tail_is_not_read(void **state)
{
	struct fixture *f = *state;
	struct spool *sp = open_spool(f, SN_DURABILITY_NONE, 0);
	struct spool_reader *r;
	struct sn_buf b = {0};
	char seg1[160], seg2[160], cmd[400];
	uint64_t after = 0, mark;
	struct stat st;

	append_n(sp, 0, 1, 10, 5); /* seqs 1..50 in one segment */
	spool_close(sp);
	snprintf(seg1, sizeof(seg1), "%s/%020llu.seg", f->dir, 1ULL);
	snprintf(seg2, sizeof(seg2), "%s/%020llu.seg", f->dir, 51ULL);
	/* the image a crash leaves: seqs 51..55 written over the start of
	 * a copy of the old file, its records after them */
	snprintf(cmd, sizeof(cmd), "cp %s %s.old", seg1, seg1);
	assert_int_equal(system(cmd), 0);
	batch(&b, 50, 51, 55);
	{
		FILE *fp;
		uint8_t hdr[SPOOL_RECORD_HDR] = {0};
		uint32_t crc;

		memcpy(hdr, "SPL1", 4);
		hdr[4] = (uint8_t)b.len;
		hdr[5] = (uint8_t)(b.len >> 8);
		hdr[8] = 51;
		hdr[16] = 55;
		crc = sn_crc32c(sn_crc32c(0, hdr + 4, 20), b.data, b.len);
		for (int i = 0; i < 4; i++)
			hdr[24 + i] = (uint8_t)(crc >> (8 * i));
		snprintf(cmd, sizeof(cmd), "%s.old", seg1);
		assert_int_equal(rename(cmd, seg2), 0);
		fp = fopen(seg2, "r+");
		assert_non_null(fp);
		assert_int_equal(fwrite(hdr, 1, sizeof(hdr), fp), sizeof(hdr));
		assert_int_equal(fwrite(b.data, 1, b.len, fp), b.len);
		fclose(fp);
	}
	sp = open_spool(f, SN_DURABILITY_NONE, 0);
	assert_true(spool_last_seq(sp) == 55);
	assert_int_equal(stat(seg2, &st), 0);
	assert_true((uint64_t)st.st_size == SPOOL_RECORD_HDR + b.len);
	/* appending goes on right after 55 */
	batch(&b, 55, 56, 60);
	assert_int_equal(spool_append(sp, b.data, b.len, 56, 60, &mark), 0);
	r = spool_reader_new(sp);
	assert_true(read_all(r, &after) == 12);
	assert_true(after == 60);
	sn_buf_free(&b);
	spool_close(sp);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_checksum_check_value),
	        cmocka_unit_test(test_checksum_long_buffers),
	        cmocka_unit_test_setup_teardown(
	                test_append_reopen_read_in_order, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_torn_tail_is_cut_off,
	                                        setup, teardown),
	        cmocka_unit_test_setup_teardown(
	                test_damaged_record_ends_segment, setup, teardown),
	        cmocka_unit_test_setup_teardown(
	                test_seek_replays_and_reports_loss, setup, teardown),
	        cmocka_unit_test_setup_teardown(
	                test_fsync_mode_reads_only_durable, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_deleted_segment_is_reused,
	                                        setup, teardown),
	        cmocka_unit_test_setup_teardown(test_recycled_tail_is_not_read,
	                                        setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
