/*
 * test_handover.c: the anomalies messages detectd keeps until stored
 * acknowledges them (detectd/handover.h): ids, acknowledgement in any
 * order, resending once a later message was acknowledged or after
 * HANDOVER_RESEND_MS of silence, and only then, the memory bound, and
 * the file: a save loads back to the same messages, sent at once; a
 * damaged, truncated or forged file is refused whole.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"

#include "../../detectd/handover.h"
#include "crc32c.h"
#include "log.h"
#include "msg.h"
#include "util.h"

/* An anomalies message of n records naming tag. */
static void
make_msg(struct sn_buf *b, const char *tag, uint32_t n)
{
	struct sn_anomaly a;
	uint32_t i;

	memset(&a, 0, sizeof(a));
	a.id.p = tag;
	a.id.len = (uint32_t)strlen(tag);
	msg_begin(b, SN_MSG_ANOMALIES);
	for (i = 0; i < n; i++)
		msg_add_anomaly(b, &a);
}

/* What handover_resend sent: the ids, in order. */
struct sent {
	uint64_t ids[64];
	size_t n;
	size_t refuse_after; /* refuse every send past this many */
};

static int
record(const void *data, size_t len, void *arg)
{
	struct sent *s = arg;
	struct msg_reader r;

	if (s->n >= s->refuse_after)
		return -1;
	assert_int_equal(msg_open(&r, data, len), 0);
	assert_int_equal(msg_check(&r), 0);
	s->ids[s->n++] = r.id;
	return 0;
}

static void
test_ids_ack_and_resend(void **state)
{
	struct handover *h = handover_new(1 << 20);
	struct sn_buf b = {0};
	struct sent s = {.refuse_after = 64};
	struct msg_reader r;
	uint64_t id[4], dropped;
	int i;

	(void)state;
	for (i = 0; i < 4; i++) {
		make_msg(&b, "a", 1);
		id[i] = handover_add(h, &b, 1000 * i, &dropped);
		assert_true(dropped == 0);
		/* the id is in the message as sent */
		assert_int_equal(msg_open(&r, b.data, b.len), 0);
		assert_true(r.id == id[i] && r.id != 0);
		if (i > 0)
			assert_true(id[i] != id[i - 1]);
	}
	assert_int_equal(handover_count(h), 4);
	/* out of order, twice, and an id never given */
	assert_int_equal(handover_ack(h, id[2], 3000), 1);
	assert_int_equal(handover_ack(h, id[2], 3000), 0);
	assert_int_equal(handover_ack(h, id[0] ^ 0x5a5a, 3000), 0);
	assert_int_equal(handover_count(h), 3);
	/* stored took 2, sent after 0 and 1: they were lost, due at once;
	 * 3 went after 2 and is not due yet */
	assert_int_equal(handover_resend(h, 3000, record, &s), 2);
	assert_true(s.ids[0] == id[0] && s.ids[1] == id[1]);
	s.n = 0;
	assert_int_equal(handover_resend(h, 3000, record, &s), 0);
	/* by time: HANDOVER_RESEND_MS after they went, with stored silent
	 * as long, and not before */
	assert_int_equal(
	        handover_resend(h, 3000 + HANDOVER_RESEND_MS - 1, record, &s),
	        0);
	assert_int_equal(
	        handover_resend(h, 3000 + HANDOVER_RESEND_MS, record, &s), 3);
	assert_true(s.ids[0] == id[0] && s.ids[1] == id[1] &&
	            s.ids[2] == id[3]);
	/* stored takes 1, sent after 0: 0 is due at once, 3 (sent after 1)
	 * is not */
	assert_int_equal(handover_ack(h, id[1], 9000), 1);
	s.n = 0;
	assert_int_equal(handover_resend(h, 9000, record, &s), 1);
	assert_true(s.ids[0] == id[0]);
	/* stored acknowledges, so it is working: 3, sent 5.5 s ago, is not
	 * due while stored acknowledged something within the last 5 s */
	s.n = 0;
	assert_int_equal(handover_resend(h, 13500, record, &s), 0);
	assert_int_equal(handover_resend(h, 14000, record, &s), 2);
	assert_true(s.ids[0] == id[0] && s.ids[1] == id[3]);
	/* a refusal stops the pass; what was not sent stays due */
	s.n = 0;
	s.refuse_after = 1;
	assert_int_equal(handover_resend(h, 100000, record, &s), 1);
	s.n = 0;
	s.refuse_after = 64;
	assert_int_equal(handover_resend(h, 100000, record, &s), 1);
	assert_true(s.ids[0] == id[3]);
	for (i = 0; i < 4; i++)
		(void)handover_ack(h, id[i], 100001);
	assert_int_equal(handover_count(h), 0);
	assert_int_equal(handover_bytes(h), 0);
	sn_buf_free(&b);
	handover_free(h);
}

/* Past max_bytes the oldest go, counted by their anomalies. */
static void
test_bounded(void **state)
{
	struct sn_buf b = {0};
	struct handover *h;
	uint64_t dropped, first;
	size_t one;

	(void)state;
	make_msg(&b, "bound", 3);
	one = b.len;
	h = handover_new(2 * one);
	first = handover_add(h, &b, 0, &dropped);
	assert_true(dropped == 0);
	(void)handover_add(h, &b, 0, &dropped);
	assert_true(dropped == 0);
	(void)handover_add(h, &b, 0, &dropped);
	assert_true(dropped == 3);
	assert_int_equal(handover_count(h), 2);
	assert_int_equal(handover_bytes(h), 2 * one);
	assert_int_equal(handover_ack(h, first, 0), 0); /* forgotten */
	sn_buf_free(&b);
	handover_free(h);
}

/* A fresh folder (testutil.h) and the hand-over file's path in it. */
static void
tmp_path(char *dir, char *path)
{
	char db[128];

	assert_int_equal(tu_db_dir(dir, db, "handover"), 0);
	snprintf(path, 128, "%s/detectd.handover", dir);
}

static void
rm_all(const char *dir, const char *path)
{
	char tmp[160];

	unlink(path);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	unlink(tmp);
	rmdir(dir);
}

static void
write_file(const char *path, const void *p, size_t n)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(p, 1, n, f), n);
	fclose(f);
}

static struct sn_buf
read_file(const char *path)
{
	struct sn_buf b = {0};
	char chunk[4096];
	size_t n;
	FILE *f = fopen(path, "rb");

	assert_non_null(f);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		sn_buf_append(&b, chunk, n);
	fclose(f);
	return b;
}

/* A save loads back: same ids, same bytes, every one due at once. */
static void
test_save_load(void **state)
{
	struct handover *h = handover_new(1 << 20), *g;
	struct sn_buf b = {0};
	struct sent s = {.refuse_after = 64};
	char dir[64], path[128];
	uint64_t id[3], dropped;
	int i;

	(void)state;
	tmp_path(dir, path);
	/* no file: nothing, no error */
	g = handover_new(1 << 20);
	assert_int_equal(handover_load(g, path), 0);
	/* an empty hand-over saves and loads as empty */
	assert_int_equal(handover_save(h, path), 0);
	assert_int_equal(handover_load(g, path), 0);
	assert_int_equal(handover_count(g), 0);
	for (i = 0; i < 3; i++) {
		make_msg(&b, i == 1 ? "second" : "other", (uint32_t)i + 1);
		id[i] = handover_add(h, &b, 0, &dropped);
	}
	assert_int_equal(handover_ack(h, id[0], 0), 1);
	assert_int_equal(handover_save(h, path), 0);
	assert_int_equal(handover_load(g, path), 2);
	assert_int_equal(handover_count(g), 2);
	assert_int_equal(handover_bytes(g), handover_bytes(h));
	/* due at once, whatever the clock says */
	assert_int_equal(handover_resend(g, -1000000, record, &s), 2);
	assert_true(s.ids[0] == id[1] && s.ids[1] == id[2]);
	/* and acknowledged by the ids of the run that saved them */
	assert_int_equal(handover_ack(g, id[1], 0), 1);
	assert_int_equal(handover_ack(g, id[2], 0), 1);
	handover_free(g);
	handover_free(h);
	sn_buf_free(&b);
	rm_all(dir, path);
}

/* A file that is not whole and right is refused whole. */
static void
test_damaged_refused(void **state)
{
	struct handover *h = handover_new(1 << 20), *g;
	struct sn_buf b = {0}, f, bad = {0};
	char dir[64], path[128];
	uint64_t dropped;
	uint32_t crc;
	size_t i;

	(void)state;
	log_init("test", LOG_LEVEL_ERROR, LOG_FORMAT_TEXT);
	tmp_path(dir, path);
	make_msg(&b, "kept", 2);
	(void)handover_add(h, &b, 0, &dropped);
	(void)handover_add(h, &b, 0, &dropped);
	assert_int_equal(handover_save(h, path), 0);
	f = read_file(path);

	/* every truncation */
	for (i = 0; i < f.len; i++) {
		write_file(path, f.data, i);
		g = handover_new(1 << 20);
		assert_int_equal(handover_load(g, path), -1);
		assert_int_equal(handover_count(g), 0);
		handover_free(g);
	}
	/* every flipped byte */
	for (i = 0; i < f.len; i++) {
		sn_buf_reset(&bad);
		sn_buf_append(&bad, f.data, f.len);
		bad.data[i] ^= 0x20;
		write_file(path, bad.data, bad.len);
		g = handover_new(1 << 20);
		assert_int_equal(handover_load(g, path), -1);
		assert_int_equal(handover_count(g), 0);
		handover_free(g);
	}
	/* forged under a valid checksum: a message id that is not its
	 * record's, then a message of another type */
	for (i = 0; i < 2; i++) {
		sn_buf_reset(&bad);
		sn_buf_append(&bad, f.data, f.len);
		if (i == 0)
			bad.data[16] ^= 1; /* the first record's id */
		else
			bad.data[16 + 12 + 1] = SN_MSG_EVENTS;
		crc = sn_crc32c(0, bad.data, bad.len - 4);
		sn_put_le32(bad.data + bad.len - 4, crc);
		write_file(path, bad.data, bad.len);
		g = handover_new(1 << 20);
		assert_int_equal(handover_load(g, path), -1);
		assert_int_equal(handover_count(g), 0);
		handover_free(g);
	}
	/* the original still loads */
	write_file(path, f.data, f.len);
	g = handover_new(1 << 20);
	assert_int_equal(handover_load(g, path), 2);
	handover_free(g);
	handover_free(h);
	sn_buf_free(&b);
	sn_buf_free(&f);
	sn_buf_free(&bad);
	rm_all(dir, path);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_ids_ack_and_resend),
	        cmocka_unit_test(test_bounded),
	        cmocka_unit_test(test_save_load),
	        cmocka_unit_test(test_damaged_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
