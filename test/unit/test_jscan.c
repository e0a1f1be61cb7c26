/*
 * test_jscan.c: the strict JSON scanner behind every event body
 * (common/jscan.c) on the cases that trip parsers up: UTF-16
 * surrogates, overlong and other invalid UTF-8, -0 and numbers at the
 * edges of a double and of 64 bits, nesting at jansson's limit,
 * duplicate keys (nested, escaped, in big objects), blanks everywhere,
 * a NUL byte after a number, NDJSON lines.  A refusal must carry
 * jansson's own message and position (checked here against the text
 * jansson gives; test/fuzz/fuzz_jscan.c compares with jansson itself).
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "jscan.h"
#include "util.h"
#include "validate.h"

/* Scans doc (len bytes) to its end; returns jscan_next's last answer
 * and leaves the error in s. */
static int
scan_all(struct jscan *s, const char *doc, size_t len)
{
	struct jscan_item it;
	int rc;

	jscan_begin(s, doc, len);
	while ((rc = jscan_next(s, &it)) == 1)
		;
	return rc;
}

#define OK(doc) expect_ok(doc, sizeof(doc) - 1)
#define BAD(doc, msg, line, col) \
	expect_bad(doc, sizeof(doc) - 1, msg, line, col)

static void
expect_ok(const char *doc, size_t len)
{
	struct jscan s;
	int rc;

	jscan_init(&s);
	rc = scan_all(&s, doc, len);
	if (rc != 0)
		fail_msg("%.*s: %s", (int)len, doc, s.err.text);
	jscan_free(&s);
}

static void
expect_bad(const char *doc, size_t len, const char *msg, int line, int col)
{
	struct jscan s;

	jscan_init(&s);
	assert_int_equal(scan_all(&s, doc, len), -1);
	assert_string_equal(s.err.text, msg);
	assert_int_equal(s.err.line, line);
	assert_int_equal(s.err.column, col);
	jscan_free(&s);
}

/* The first string value of doc, unescaped. */
static void
want_string(const char *doc, const char *want, size_t wlen)
{
	struct jscan_item it;
	struct jscan s;
	char buf[64];

	jscan_init(&s);
	jscan_begin(&s, doc, strlen(doc));
	assert_int_equal(jscan_next(&s, &it), 1); /* [ */
	assert_int_equal(jscan_next(&s, &it), 1);
	assert_int_equal(it.type, JSCAN_STRING);
	assert_int_equal(it.str.len, wlen);
	jscan_unescape(&it.str, buf);
	assert_memory_equal(buf, want, wlen);
	jscan_free(&s);
}

/* The first value of doc (a number) as the event fields take it. */
static double
number_of(const char *doc)
{
	struct jscan_item it;
	struct jscan s;
	double d;

	jscan_init(&s);
	jscan_begin(&s, doc, strlen(doc));
	assert_int_equal(jscan_next(&s, &it), 1);
	assert_int_equal(jscan_next(&s, &it), 1);
	assert_true(it.type == JSCAN_INTEGER || it.type == JSCAN_REAL);
	d = jscan_number(&it);
	jscan_free(&s);
	return d;
}

static void
test_surrogates(void **state)
{
	(void)state;
	/* a pair is one character, U+1F600, four bytes */
	want_string("[\"\\ud83d\\ude00\"]", "\xf0\x9f\x98\x80", 4);
	want_string("[\"a\\u00e9\\/\\n\"]", "a\xc3\xa9/\n", 5);
	BAD("[\"\\ud800\"]", "invalid Unicode '\\uD800' near '\"\\ud800\"'", 1,
	    9);
	BAD("[\"\\udc00x\"]", "invalid Unicode '\\uDC00' near '\"\\udc00x\"'",
	    1, 10);
	BAD("[\"\\ud800\\u0041\"]",
	    "invalid Unicode '\\uD800\\u0041' near '\"\\ud800\\u0041\"'", 1,
	    15);
	BAD("[\"\\ud800\\n\"]",
	    "invalid Unicode '\\uD800' near '\"\\ud800\\n\"'", 1, 11);
	/* the string is read whole first: a later fault wins */
	BAD("[\"\\ud800\\q\"]", "invalid escape near '\"\\ud800\\q'", 1, 10);
	/* over 20 bytes read: no text quoted */
	BAD("[\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\\ud800\"]",
	    "invalid Unicode '\\uD800'", 1, 41);
	BAD("[\"\\u12x4\"]", "invalid escape near '\"\\u12x'", 1, 7);
	BAD("[\"\\u0000\"]",
	    "\\u0000 is not allowed without JSON_ALLOW_NUL near '\"\\u0000\"'",
	    1, 9);
	BAD("{\"a\\u0000\":1}",
	    "NUL byte in object key not supported near '\"a\\u0000\"'", 1, 10);
}

static void
test_invalid_utf8(void **state)
{
	(void)state;
	OK("[\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"]");
	/* overlong forms, a surrogate, beyond U+10FFFF, truncated */
	BAD("[\"\xc0\x80\"]", "unable to decode byte 0xc0 near '\"'", 1, 2);
	BAD("[\"\xe0\x80\x80\"]", "unable to decode byte 0xe0 near '\"'", 1, 2);
	BAD("[\"\xed\xa0\x80\"]", "unable to decode byte 0xed near '\"'", 1, 2);
	BAD("[\"\xf4\x90\x80\x80\"]", "unable to decode byte 0xf4 near '\"'", 1,
	    2);
	BAD("[\"ab\xc3", "unable to decode byte 0xc3 near '\"ab'", 1, 4);
	/* between tokens nothing is quoted; after a number it is */
	BAD("[\xff]", "unable to decode byte 0xff", 1, 1);
	BAD("[1\xff]", "unable to decode byte 0xff near '1'", 1, 2);
	/* valid UTF-8 out of place is an invalid token; columns count
	 * characters */
	BAD("[\"\xc3\xa9\", \xc3\xa9]", "invalid token near '\xc3\xa9'", 1, 7);
}

static void
test_numbers(void **state)
{
	double d;

	(void)state;
	/* -0 is the integer 0; -0.0 a real, negative */
	d = number_of("[-0]");
	assert_true(d == 0 && !signbit(d));
	d = number_of("[-0.0]");
	assert_true(d == 0 && signbit(d));
	assert_true(number_of("[0.045]") == 0.045);
	assert_true(number_of("[1e-400]") == 0);
	assert_true(number_of("[1.7976931348623157e308]") ==
	            1.7976931348623157e308);
	assert_true(number_of("[9223372036854775807]") ==
	            9223372036854775807.0);
	assert_true(number_of("[123456789012345678901234567890e-10]") ==
	            12345678901234567890.1234567890);
	BAD("[1e309]", "real number overflow near '1e309'", 1, 6);
	BAD("[-1e999]", "real number overflow near '-1e999'", 1, 7);
	BAD("[17976931348623159e292]", "real number overflow", 1, 22);
	BAD("[9223372036854775808]",
	    "too big integer near '9223372036854775808'", 1, 20);
	BAD("[-9223372036854775809]",
	    "too big negative integer near '-9223372036854775809'", 1, 21);
	OK("[-9223372036854775808, 0, 1E+2, 1e-2, 0.5]");
	BAD("[01]", "invalid token near '0'", 1, 2);
	BAD("[1.]", "invalid token near '1.'", 1, 3);
	BAD("[1e+]", "invalid token near '1e+'", 1, 4);
	BAD("[-Infinity]", "invalid token near '-'", 1, 2);
	BAD("{\"a\":NaN}", "invalid token near 'NaN'", 1, 8);
	/* one NUL right after a number or a literal is stepped over */
	OK("[1\0, true\0]");
	BAD("[1\0 2]", "']' expected near '2'", 1, 4);
	BAD("[1\0\0]", "']' expected near end of file", 1, 3);
}

static void
test_nesting(void **state)
{
	static char doc[2 * JSCAN_MAX_DEPTH + 4];
	int i;

	(void)state;
	for (i = 0; i < JSCAN_MAX_DEPTH; i++) {
		doc[i] = '[';
		doc[JSCAN_MAX_DEPTH + i] = ']';
	}
	expect_ok(doc, 2 * JSCAN_MAX_DEPTH);
	/* one more level is jansson's "maximum parsing depth" */
	doc[JSCAN_MAX_DEPTH] = '[';
	expect_bad(doc, JSCAN_MAX_DEPTH + 1,
	           "maximum parsing depth reached near '['", 1,
	           JSCAN_MAX_DEPTH + 1);
}

static void
test_duplicate_keys(void **state)
{
	static char big[4096];
	int i, n;

	(void)state;
	OK("{\"a\":{\"a\":{\"a\":1}},\"b\":{\"a\":2}}");
	BAD("{\"a\":{\"x\":1,\"y\":{\"x\":1},\"x\":2}}",
	    "duplicate object key near '\"x\"'", 1, 27);
	/* compared unescaped */
	BAD("{\"a\":1,\"\\u0061\":2}",
	    "duplicate object key near '\"\\u0061\"'", 1, 15);
	/* a big object looks keys up by hash */
	n = snprintf(big, sizeof(big), "{");
	for (i = 0; i < 100; i++)
		n += snprintf(big + n, sizeof(big) - (size_t)n,
		              "%s\"k%d\":{\"k%d\":0}", i ? "," : "", i, i);
	big[n] = '}';
	expect_ok(big, (size_t)n + 1);
	i = n + snprintf(big + n, sizeof(big) - (size_t)n, ",\"k57\":1}");
	expect_bad(big, (size_t)i, "duplicate object key near '\"k57\"'", 1,
	           i - 3);
}

static void
test_blanks_everywhere(void **state)
{
	(void)state;
	OK(" \t\r\n{ \t\r\n\"a\" \t\r\n: \t\r\n[ \t\r\n1 \t\r\n, \t\r\n\"b\" "
	   "\t\r\n] \t\r\n, \"c\" : { } } \t\r\n");
	BAD("[1,\n 2,\n  tru]", "invalid token near 'tru'", 3, 5);
	BAD("{\"a\":1} x", "end of file expected near 'x'", 1, 9);
	BAD("[\"a\nb\"]", "unexpected newline near '\"a'", 1, 3);
	BAD("42", "'[' or '{' expected near '42'", 1, 2);
	BAD("{", "string or '}' expected near end of file", 1, 1);
	BAD("[1,]", "unexpected token near ']'", 1, 4);
	BAD("\xef\xbb\xbf[]", "'[' or '{' expected near '\xef\xbb\xbf'", 1, 1);
}

/* NDJSON: each line is a document; a bad one rejects that line, with
 * the body's line number and the column in it. */
static void
test_ndjson_lines(void **state)
{
	static const char body[] =
	        "{\"event_id\":\"a\",\"timestamp\":\"2025-11-06T12:00:00Z\","
	        "\"event_type\":\"t\",\"application_id\":\"x\",\"data\":{}}\r\n"
	        "\n"
	        "  {\"event_id\" : \"b\", \"x\": [1,\t2] ,\"x\":3}\n"
	        "{\"event_id\":\"\\u0063\",\"timestamp\":\"2025-11-06T12:00:"
	        "00\\u005a\","
	        "\"event_type\":\"t\",\"application_id\":\"x\",\"data\":{"
	        "\"model\":"
	        "\"\\u00e9\"}}";
	struct ingest_result res;

	(void)state;
	memset(&res, 0, sizeof(res));
	assert_int_equal(ingest_parse_body(body, strlen(body),
	                                   INGEST_BODY_NDJSON, 10, &res),
	                 INGEST_OK);
	assert_int_equal(res.total, 3);
	assert_int_equal(res.nevents, 2);
	assert_string_equal(res.events[0].ev.event_id.p, "a");
	/* escapes are undone in the views, kept in the text */
	assert_string_equal(res.events[1].ev.event_id.p, "c");
	assert_string_equal(res.events[1].ev.timestamp.p,
	                    "2025-11-06T12:00:00Z");
	assert_string_equal(res.events[1].ev.model.p, "\xc3\xa9");
	assert_int_equal(res.events[1].ev.ts_ms, 1762430400000LL);
	assert_non_null(strstr(res.events[1].ev.json.p, "\\u0063"));
	assert_int_equal(res.nrejects, 1);
	assert_int_equal(res.rejects[0].index, 1);
	assert_int_equal(res.rejects[0].kind, INGEST_REJ_JSON);
	assert_string_equal(
	        res.rejects[0].reason,
	        "invalid JSON: duplicate object key near '\"x\"' at "
	        "line 3 column 37");
	ingest_result_free(&res);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_surrogates),
	        cmocka_unit_test(test_invalid_utf8),
	        cmocka_unit_test(test_numbers),
	        cmocka_unit_test(test_nesting),
	        cmocka_unit_test(test_duplicate_keys),
	        cmocka_unit_test(test_blanks_everywhere),
	        cmocka_unit_test(test_ndjson_lines),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
