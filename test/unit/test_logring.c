/*
 * test_logring.c: the log ring keeps the newest lines whole: in order,
 * after wrapping around many times, with lines longer than the limit
 * cut, while four threads write and a reader reads; an empty ring reads
 * as no lines; a missing or foreign file is refused; a new ring
 * replaces the old file at once (mode 0640); log.c puts every line it
 * writes into the ring.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"
#include "logring.h"

/* The smallest ring: wraps often. */
#define SMALL (4 * LOGRING_LINE_MAX)

struct fixture {
	char dir[64];
	char path[128];
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	snprintf(f->dir, sizeof(f->dir), "/tmp/sn-test-logring-XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/t%s", f->dir, LOGRING_SUFFIX);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	char p[160];

	unlink(f->path);
	snprintf(p, sizeof(p), "%s/unit%s", f->dir, LOGRING_SUFFIX);
	unlink(p);
	snprintf(p, sizeof(p), "%s/junk", f->dir);
	unlink(p);
	rmdir(f->dir);
	free(f);
	return 0;
}

/* Line i of the wraparound test: its number, then a length and a fill
 * that both follow from i, so a torn or shifted line cannot pass. */
static void
make_line(char *buf, size_t size, unsigned t, unsigned i)
{
	int n = snprintf(buf, size, "t%u n%08u ", t, i);
	unsigned pad = (i * 7 + t) % 150, k;

	for (k = 0; k < pad && (size_t)n + k + 1 < size; k++)
		buf[n + k] = (char)('a' + (i + k) % 26);
	buf[n + k] = '\0';
}

static void
append_str(struct logring *r, const char *s)
{
	logring_append(r, s, strlen(s));
}

static void
test_empty_and_missing(void **state)
{
	struct fixture *f = *state;
	struct logring_lines l;
	struct logring *r;
	struct stat st;
	char junk[160];
	FILE *fp;
	size_t i;

	assert_int_equal(logring_tail(f->path, 10, &l), -1);
	assert_int_equal(errno, ENOENT);
	logring_lines_free(&l);

	r = logring_create(f->path, SMALL);
	assert_non_null(r);
	assert_int_equal(stat(f->path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0640);
	assert_int_equal(logring_tail(f->path, 10, &l), 0);
	assert_int_equal(l.n, 0);
	logring_lines_free(&l);
	logring_close(r);

	/* the right size, but not a ring */
	snprintf(junk, sizeof(junk), "%s/junk", f->dir);
	fp = fopen(junk, "w");
	assert_non_null(fp);
	for (i = 0; i < 2 * SMALL; i++)
		fputc('x', fp);
	fclose(fp);
	assert_int_equal(logring_tail(junk, 10, &l), -1);
	assert_int_equal(errno, EINVAL);
	logring_lines_free(&l);
	/* too small for one */
	assert_null(logring_create(f->path, LOGRING_LINE_MAX));
}

static void
test_order_and_max(void **state)
{
	struct fixture *f = *state;
	struct logring_lines l;
	struct logring *r = logring_create(f->path, 0);
	char buf[64];
	unsigned i;

	assert_non_null(r);
	for (i = 0; i < 10; i++) {
		snprintf(buf, sizeof(buf), "line %u\n", i);
		append_str(r, buf);
	}
	append_str(r, "no newline");
	append_str(r, "\n"); /* an empty line is not returned */
	assert_int_equal(logring_tail(f->path, 3, &l), 0);
	assert_int_equal(l.n, 3);
	assert_string_equal(l.v[0], "line 8");
	assert_string_equal(l.v[1], "line 9");
	assert_string_equal(l.v[2], "no newline");
	logring_lines_free(&l);
	assert_int_equal(logring_tail(f->path, 100, &l), 0);
	assert_int_equal(l.n, 11);
	assert_string_equal(l.v[0], "line 0");
	logring_lines_free(&l);
	logring_close(r);
}

static void
test_wraparound_keeps_last_lines_whole(void **state)
{
	struct fixture *f = *state;
	struct logring_lines l;
	struct logring *r = logring_create(f->path, SMALL);
	char buf[256], want[256];
	unsigned i, n = 20000, first;
	size_t k, bytes = 0;

	assert_non_null(r);
	/* about 2.5 MB through a 32 KiB ring: it wraps some 80 times */
	for (i = 0; i < n; i++) {
		make_line(buf, sizeof(buf), 0, i);
		strcat(buf, "\n");
		append_str(r, buf);
	}
	assert_int_equal(logring_tail(f->path, 50, &l), 0);
	assert_int_equal(l.n, 50);
	for (k = 0; k < l.n; k++) {
		make_line(want, sizeof(want), 0, n - 50 + (unsigned)k);
		assert_string_equal(l.v[k], want);
	}
	logring_lines_free(&l);

	/* Everything it has: consecutive whole lines up to the last, and
	 * nearly the whole ring's worth. */
	assert_int_equal(logring_tail(f->path, 100000, &l), 0);
	assert_true(l.n > 100);
	first = n - (unsigned)l.n;
	for (k = 0; k < l.n; k++) {
		make_line(want, sizeof(want), 0, first + (unsigned)k);
		assert_string_equal(l.v[k], want);
		bytes += strlen(l.v[k]) + 1;
	}
	assert_true(bytes <= SMALL);
	assert_true(bytes >= SMALL - LOGRING_LINE_MAX - 256);
	logring_lines_free(&l);
	logring_close(r);
}

static void
test_long_line_is_cut(void **state)
{
	struct fixture *f = *state;
	struct logring_lines l;
	struct logring *r = logring_create(f->path, SMALL);
	char *big = malloc(20000);

	assert_non_null(r);
	memset(big, 'z', 20000);
	logring_append(r, big, 20000);
	append_str(r, "after\n");
	assert_int_equal(logring_tail(f->path, 10, &l), 0);
	assert_int_equal(l.n, 2);
	assert_int_equal(strlen(l.v[0]), LOGRING_LINE_MAX - 1);
	assert_string_equal(l.v[1], "after");
	logring_lines_free(&l);
	logring_close(r);
	free(big);
}

static void
test_new_ring_replaces_old(void **state)
{
	struct fixture *f = *state;
	struct logring_lines l;
	struct logring *old = logring_create(f->path, SMALL), *r;

	assert_non_null(old);
	append_str(old, "from the old process\n");
	r = logring_create(f->path, SMALL);
	assert_non_null(r);
	/* the old writer goes on in its own (now unlinked) file */
	append_str(old, "still old\n");
	append_str(r, "from the new one\n");
	assert_int_equal(logring_tail(f->path, 10, &l), 0);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.v[0], "from the new one");
	logring_lines_free(&l);
	logring_close(old);
	logring_close(r);
}

/* --- several writers, one reader --------------------------------------- */

#define WRITERS      4
#define PER_WRITER   30000
#define READER_TAILS 300

struct writer_arg {
	struct logring *r;
	unsigned t;
};

static void *
writer(void *p)
{
	struct writer_arg *a = p;
	char buf[256];
	unsigned i;

	for (i = 0; i < PER_WRITER; i++) {
		make_line(buf, sizeof(buf), a->t, i);
		strcat(buf, "\n");
		append_str(a->r, buf);
	}
	return NULL;
}

static void
test_concurrent_writers_reader_sees_whole_lines(void **state)
{
	struct fixture *f = *state;
	struct writer_arg args[WRITERS];
	pthread_t th[WRITERS];
	struct logring_lines l;
	struct logring *r = logring_create(f->path, SMALL);
	unsigned t, i, last[WRITERS];
	char want[256];
	size_t k;
	int reads;

	assert_non_null(r);
	for (t = 0; t < WRITERS; t++) {
		args[t].r = r;
		args[t].t = t;
		assert_int_equal(pthread_create(&th[t], NULL, writer, &args[t]),
		                 0);
	}
	for (reads = 0; reads < READER_TAILS; reads++) {
		assert_int_equal(logring_tail(f->path, 100000, &l), 0);
		memset(last, 0xff, sizeof(last));
		for (k = 0; k < l.n; k++) {
			/* whole: exactly what writer t wrote as line i */
			assert_int_equal(sscanf(l.v[k], "t%u n%u ", &t, &i), 2);
			assert_true(t < WRITERS);
			make_line(want, sizeof(want), t, i);
			assert_string_equal(l.v[k], want);
			/* each writer's lines in its order */
			assert_true(last[t] == 0xffffffffu || i > last[t]);
			last[t] = i;
		}
		logring_lines_free(&l);
	}
	for (t = 0; t < WRITERS; t++)
		pthread_join(th[t], NULL);
	logring_close(r);
}

/* --- log.c writes into the ring ----------------------------------------- */

static void
test_log_lines_reach_the_ring(void **state)
{
	struct fixture *f = *state;
	struct logring_lines l;
	char path[160];

	snprintf(path, sizeof(path), "%s/unit%s", f->dir, LOGRING_SUFFIX);
	log_init("unit", LOG_LEVEL_INFO, LOG_FORMAT_JSON);
	assert_int_equal(log_ring_open(f->dir, "unit"), 0);
	log_info("hello %d", 42);
	log_debug("below the threshold");
	log_kv(LOG_LEVEL_WARN, "with fields", "k", "v\"q", NULL);
	assert_int_equal(logring_tail(path, 10, &l), 0);
	assert_int_equal(l.n, 2);
	assert_non_null(strstr(l.v[0], "\"daemon\":\"unit\""));
	assert_non_null(strstr(l.v[0], "\"msg\":\"hello 42\""));
	assert_non_null(strstr(l.v[1], "\"k\":\"v\\\"q\""));
	logring_lines_free(&l);
	/* a run_dir that does not exist: refused, logging goes on */
	assert_int_equal(log_ring_open("/nonexistent/sn-run", "unit"), -1);
	log_info("still logging");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_empty_and_missing, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_order_and_max, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(
	                test_wraparound_keeps_last_lines_whole, setup,
	                teardown),
	        cmocka_unit_test_setup_teardown(test_long_line_is_cut, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_new_ring_replaces_old,
	                                        setup, teardown),
	        cmocka_unit_test_setup_teardown(
	                test_concurrent_writers_reader_sees_whole_lines, setup,
	                teardown),
	        cmocka_unit_test_setup_teardown(test_log_lines_reach_the_ring,
	                                        setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
