/*
 * test_util.c: the parsers of common/util.c that config files and the
 * HTTP API rely on: durations ("7d", "1h30m"), byte sizes ("10MB") and
 * RFC 3339 timestamps, including every way they can be wrong.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <jansson.h>

#include "util.h"

#define SEC  1000LL
#define MIN  (60 * SEC)
#define HOUR (60 * MIN)
#define DAY  (24 * HOUR)

static void
test_duration_good(void **state)
{
	static const struct {
		const char *in;
		int64_t ms;
	} cases[] = {
	        {"7d", 7 * DAY},   {"90d", 90 * DAY},
	        {"5m", 5 * MIN},   {"1m", MIN},
	        {"10m", 10 * MIN}, {"15m", 15 * MIN},
	        {"1h", HOUR},      {"100ms", 100},
	        {"30s", 30 * SEC}, {"1h30m", HOUR + 30 * MIN},
	        {"2w", 14 * DAY},  {"0", 0},
	        {"0s", 0},         {"1d12h", DAY + 12 * HOUR},
	        {"1500ms", 1500},  {"1m30s500ms", MIN + 30 * SEC + 500},
	};
	size_t i;
	int64_t ms;

	(void)state;
	for (i = 0; i < SN_ARRAY_LEN(cases); i++) {
		ms = -1;
		if (sn_duration_parse(cases[i].in, &ms) != 0)
			fail_msg("\"%s\" rejected", cases[i].in);
		if (ms != cases[i].ms)
			fail_msg("\"%s\" gave %lld, want %lld", cases[i].in,
			         (long long)ms, (long long)cases[i].ms);
	}
}

static void
test_duration_bad(void **state)
{
	static const char *const bad[] = {
	        "5x",
	        "",
	        "m5",
	        "5",
	        "ms",
	        "5 m",
	        " 5m",
	        "5m ",
	        "-5m",
	        "+5m",
	        "5M",
	        "5D",
	        "1.5h",
	        "5mm",
	        "h1",
	        "5m!",
	        /* overflow, in the number and in the sum */
	        "99999999999999999999ms",
	        "9223372036854775807d",
	        "106751991168d",
	        "9223372036854775807ms1ms",
	};
	size_t i;
	int64_t ms = 42;

	(void)state;
	assert_int_equal(sn_duration_parse(NULL, &ms), -1);
	for (i = 0; i < SN_ARRAY_LEN(bad); i++)
		if (sn_duration_parse(bad[i], &ms) != -1)
			fail_msg("\"%s\" accepted as %lld", bad[i],
			         (long long)ms);
	/* the output is untouched on failure */
	assert_int_equal(ms, 42);
	/* large values that fit still parse */
	assert_int_equal(sn_duration_parse("922337203685477580ms", &ms), 0);
	assert_true(ms == INT64_MAX / 10);
	assert_int_equal(sn_duration_parse("106751991167d", &ms), 0);
	assert_int_equal(ms, 106751991167LL * DAY);
}

static void
test_duration_format(void **state)
{
	static const struct {
		int64_t ms;
		const char *out;
	} cases[] = {
	        {90 * DAY, "90d"}, {7 * DAY, "7d"},   {15 * MIN, "15m"},
	        {HOUR, "1h"},      {30 * SEC, "30s"}, {1500, "1500ms"},
	        {0, "0ms"},        {90 * MIN, "90m"},
	};
	char buf[32];
	size_t i;
	int64_t back;

	(void)state;
	for (i = 0; i < SN_ARRAY_LEN(cases); i++) {
		sn_duration_format(cases[i].ms, buf, sizeof(buf));
		assert_string_equal(buf, cases[i].out);
		assert_int_equal(sn_duration_parse(buf, &back), 0);
		assert_int_equal(back, cases[i].ms);
	}
}

static void
test_size(void **state)
{
	static const struct {
		const char *in;
		uint64_t n;
	} good[] = {
	        {"0", 0},
	        {"10485760", 10485760},
	        {"10MB", 10 * 1024 * 1024},
	        {"10M", 10 * 1024 * 1024},
	        {"10MiB", 10 * 1024 * 1024},
	        {"512K", 512 * 1024},
	        {"512KB", 512 * 1024},
	        {"512KiB", 512 * 1024},
	        {"1G", 1024ULL * 1024 * 1024},
	        {"2GB", 2048ULL * 1024 * 1024},
	        {"1GiB", 1024ULL * 1024 * 1024},
	        {"100B", 100},
	        {"1844674407370955161", UINT64_MAX / 10},
	        {"16G", 16ULL * 1024 * 1024 * 1024},
	};
	static const char *const bad[] = {
	        "",
	        "MB",
	        "10XB",
	        "10 MB",
	        " 10MB",
	        "-1",
	        "1.5M",
	        "10mb",
	        "10TB",
	        "10MBs",
	        "0x10",
	        "18446744073709551616",
	        "17179869184G",
	};
	size_t i;
	uint64_t n;

	(void)state;
	for (i = 0; i < SN_ARRAY_LEN(good); i++) {
		n = 1;
		if (sn_size_parse(good[i].in, &n) != 0)
			fail_msg("\"%s\" rejected", good[i].in);
		if (n != good[i].n)
			fail_msg("\"%s\" gave %llu", good[i].in,
			         (unsigned long long)n);
	}
	assert_int_equal(sn_size_parse(NULL, &n), -1);
	for (i = 0; i < SN_ARRAY_LEN(bad); i++)
		if (sn_size_parse(bad[i], &n) != -1)
			fail_msg("\"%s\" accepted", bad[i]);
}

/* The civil-date arithmetic against gmtime_r, over 0000..9999 and
 * around the edges: day and era boundaries, leap days, negative times,
 * and times whose year is out of range (the gmtime_r path). */
static void
rfc3339_ref(int64_t ms, char *buf, size_t size)
{
	time_t sec = (time_t)(ms / 1000);
	int frac = (int)(ms % 1000);
	struct tm tm;

	if (frac < 0) {
		frac += 1000;
		sec--;
	}
	assert_non_null(gmtime_r(&sec, &tm));
	snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
	         tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	         tm.tm_min, tm.tm_sec, frac);
}

static void
test_rfc3339_format(void **state)
{
	static const int64_t edges[] = {
	        0,
	        -1,
	        1,
	        -999,
	        -1000,
	        -1001,
	        86399999,
	        86400000,
	        -86400000,
	        -86400001,
	        951782400000, /* 2000-02-29 */
	        951868799999,
	        4107542400000,   /* 2100-03-01 */
	        -62135596800000, /* 0001-01-01 */
	        -62167219200000, /* 0000-01-01 */
	        -62167219200001, /* year -1 */
	        253402300799999, /* 9999-12-31 */
	        253402300800000, /* 10000-01-01 */
	        1762430400123,
	};
	char got[64], want[64], small[8];
	uint64_t x = 88172645463325252ULL;
	size_t i;

	(void)state;
	for (i = 0; i < SN_ARRAY_LEN(edges); i++) {
		sn_rfc3339_format(edges[i], got, sizeof(got));
		rfc3339_ref(edges[i], want, sizeof(want));
		if (strcmp(got, want) != 0)
			fail_msg("%lld: got %s, want %s", (long long)edges[i],
			         got, want);
	}
	for (i = 0; i < 200000; i++) {
		int64_t ms;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		/* -62167219200000 .. 253402300799999 and a little beyond */
		ms = (int64_t)(x % 316000000000000ULL) - 62200000000000LL;
		sn_rfc3339_format(ms, got, sizeof(got));
		rfc3339_ref(ms, want, sizeof(want));
		if (strcmp(got, want) != 0)
			fail_msg("%lld: got %s, want %s", (long long)ms, got,
			         want);
	}
	sn_rfc3339_format(1762430400123, small, sizeof(small));
	assert_string_equal(small, "2025-11");
}

static int
parse(const char *s, int64_t *ms)
{
	return sn_rfc3339_parse(s, strlen(s), ms);
}

static void
test_rfc3339_good(void **state)
{
	static const struct {
		const char *in;
		int64_t ms;
	} cases[] = {
	        {"2025-11-06T12:00:00Z", 1762430400000},
	        {"2025-11-06t12:00:00z", 1762430400000},
	        {"2025-11-06T12:00:00.123Z", 1762430400123},
	        {"2025-11-06T12:00:00.1Z", 1762430400100},
	        {"2025-11-06T12:00:00.123456789Z", 1762430400123},
	        {"2025-11-06T14:00:00+02:00", 1762430400000},
	        {"2025-11-06T12:00:00.5+00:00", 1762430400500},
	        {"2025-11-06T07:30:00-04:30", 1762430400000},
	        {"1970-01-01T00:00:00Z", 0},
	        {"2024-02-29T00:00:00Z", 1709164800000},
	        {"2000-02-29T23:59:59Z", 951868799000},
	        {"1969-12-31T23:59:59Z", -1000},
	        /* a leap second folds onto the end of the one before */
	        {"2016-12-31T23:59:60Z", 1483228799999},
	};
	size_t i;
	int64_t ms;

	(void)state;
	for (i = 0; i < SN_ARRAY_LEN(cases); i++) {
		if (parse(cases[i].in, &ms) != 0)
			fail_msg("\"%s\" rejected", cases[i].in);
		if (ms != cases[i].ms)
			fail_msg("\"%s\" gave %lld, want %lld", cases[i].in,
			         (long long)ms, (long long)cases[i].ms);
	}
	/* len bounds the parse: a longer buffer is not read past it */
	assert_int_equal(sn_rfc3339_parse("2025-11-06T12:00:00Zjunk", 20, &ms),
	                 0);
	assert_int_equal(ms, 1762430400000);
}

static void
test_rfc3339_bad(void **state)
{
	static const char *const bad[] = {
	        "",
	        "2025-13-01T00:00:00Z",  /* month 13 */
	        "2025-00-01T00:00:00Z",  /* month 0 */
	        "2025-02-30T00:00:00Z",  /* Feb 30 */
	        "2025-02-29T00:00:00Z",  /* not a leap year */
	        "1900-02-29T00:00:00Z",  /* centuries are not leap */
	        "2025-04-31T00:00:00Z",  /* April has 30 */
	        "2025-01-00T00:00:00Z",  /* day 0 */
	        "2025-01-32T00:00:00Z",  /* day 32 */
	        "2025-11-06T24:00:00Z",  /* hour 24 */
	        "2025-11-06T12:60:00Z",  /* minute 60 */
	        "2025-11-06T12:00:61Z",  /* second 61 */
	        "2025-11-06T12:00:00",   /* no zone */
	        "2025-11-06 12:00:00Z",  /* space */
	        "2025-11-06",            /* date only */
	        "2025-11-06T12:00Z",     /* no seconds */
	        "2025-11-06T12:00:00.Z", /* empty fraction */
	        "2025-11-06T12:00:00+0200",
	        "2025-11-06T12:00:00+02",
	        "2025-11-06T12:00:00+24:00",
	        "2025-11-06T12:00:00+02:60",
	        "2025-11-06T12:00:00ZZ",
	        "2025-11-06T12:00:00Z ",
	        "25-11-06T12:00:00Z",
	        "2025-1-06T12:00:00Z",
	        "2025/11/06T12:00:00Z",
	        "1762430400",
	        "next tuesday",
	};
	size_t i;
	int64_t ms;

	(void)state;
	for (i = 0; i < SN_ARRAY_LEN(bad); i++)
		if (parse(bad[i], &ms) != -1)
			fail_msg("\"%s\" accepted as %lld", bad[i],
			         (long long)ms);
	/* cut short by len */
	assert_int_equal(sn_rfc3339_parse("2025-11-06T12:00:00Z", 19, &ms), -1);
	assert_int_equal(sn_rfc3339_parse("2025-11-06T12:00:00.123Z", 23, &ms),
	                 -1);
}

static void
test_rfc3339_format_round_trip(void **state)
{
	static const int64_t cases[] = {
	        0,
	        1762430400000,
	        1762430400123,
	        951868799999,
	        -1000,
	        -1,
	        253402300799999, /* 9999-12-31 */
	        1709164800001,
	};
	char buf[32];
	size_t i;
	int64_t back;

	(void)state;
	sn_rfc3339_format(1762430400123, buf, sizeof(buf));
	assert_string_equal(buf, "2025-11-06T12:00:00.123Z");
	sn_rfc3339_format(0, buf, sizeof(buf));
	assert_string_equal(buf, "1970-01-01T00:00:00.000Z");
	sn_rfc3339_format(-1, buf, sizeof(buf));
	assert_string_equal(buf, "1969-12-31T23:59:59.999Z");
	for (i = 0; i < SN_ARRAY_LEN(cases); i++) {
		sn_rfc3339_format(cases[i], buf, sizeof(buf));
		assert_int_equal(strlen(buf), 24);
		if (parse(buf, &back) != 0)
			fail_msg("formatted \"%s\" does not parse", buf);
		assert_int_equal(back, cases[i]);
	}
}

/*
 * sn_buf_json_str writes what jansson writes for the same string, for
 * strings of every length to 80 with quotes, backslashes, control
 * characters, DEL and UTF-8 at every offset (its sixteen-byte path and
 * the byte path meet everywhere).
 */
static void
test_json_str_as_jansson(void **state)
{
	static const char *const piece[] = {"a",
	                                    "Z",
	                                    "0",
	                                    " ",
	                                    "\"",
	                                    "\\",
	                                    "\n",
	                                    "\t",
	                                    "\x01",
	                                    "\x1f",
	                                    "\x7f",
	                                    "/",
	                                    "\xc3\xa9",
	                                    "\xe2\x82\xac",
	                                    "\xf0\x9f\x98\x80"};
	char s[400];
	struct sn_buf b = {0};
	unsigned seed = 12345;
	size_t len, n, k;
	json_t *v;
	char *want;
	int round;

	(void)state;
	for (round = 0; round < 4000; round++) {
		len = 0;
		n = (size_t)(round % 80);
		for (k = 0; k < n; k++) {
			const char *p;

			seed = seed * 1103515245u + 12345u;
			/* mostly plain, so the long runs happen */
			p = (seed >> 16) % 4 != 0
			            ? "x"
			            : piece[(seed >> 8) % SN_ARRAY_LEN(piece)];
			memcpy(s + len, p, strlen(p));
			len += strlen(p);
		}
		v = json_stringn(s, len);
		assert_non_null(v);
		want = json_dumps(v, JSON_ENCODE_ANY);
		assert_non_null(want);
		b.len = 0;
		sn_buf_json_str(&b, s, len);
		assert_int_equal(b.len, strlen(want));
		assert_memory_equal(b.data, want, b.len);
		free(want);
		json_decref(v);
	}
	free(b.data);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_json_str_as_jansson),
	        cmocka_unit_test(test_duration_good),
	        cmocka_unit_test(test_duration_bad),
	        cmocka_unit_test(test_duration_format),
	        cmocka_unit_test(test_size),
	        cmocka_unit_test(test_rfc3339_format),
	        cmocka_unit_test(test_rfc3339_good),
	        cmocka_unit_test(test_rfc3339_bad),
	        cmocka_unit_test(test_rfc3339_format_round_trip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
