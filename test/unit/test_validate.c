/*
 * test_validate.c: ingestd's body validation accepts the seed's Quick
 * Start event, names the first bad field of a bad one, keeps unknown
 * fields, reports batch rejections by index, and answers malformed,
 * empty and oversized bodies as a whole, and enforces the limits on one
 * event (string lengths, nesting, fields, number ranges, the timestamp
 * window).  Also: ingestd adopts only a well-formed set state from the
 * supervisor.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../ingestd/ingestd.h"
#include "validate.h"
#include "msg.h"

/* The event of the seed's Quick Start. */
static const char quick_start[] = "{\n"
                                  "  \"event_id\": \"test-001\",\n"
                                  "  \"timestamp\": \"2025-11-06T12:00:00Z\",\n"
                                  "  \"event_type\": \"llm.response\",\n"
                                  "  \"application_id\": \"test-app\",\n"
                                  "  \"data\": {\n"
                                  "    \"status\": \"success\",\n"
                                  "    \"latency_ms\": 1250,\n"
                                  "    \"total_tokens\": 225,\n"
                                  "    \"cost\": 0.045\n"
                                  "  }\n"
                                  "}";

static enum ingest_status
parse(const char *body, enum ingest_body_kind kind, uint32_t max,
      struct ingest_result *res)
{
	memset(res, 0, sizeof(*res));
	return ingest_parse_body(body, strlen(body), kind, max, res);
}

/* Parses a single event that must be rejected; checks field and reason. */
static void
expect_bad(const char *body, const char *field, const char *reason)
{
	struct ingest_result res;

	assert_int_equal(parse(body, INGEST_BODY_JSON, 10, &res), INGEST_OK);
	assert_false(res.batch);
	assert_int_equal(res.nevents, 0);
	assert_int_equal(res.nrejects, 1);
	assert_int_equal(res.rejects[0].index, 0);
	assert_string_equal(res.rejects[0].field, field);
	assert_string_equal(res.rejects[0].reason, reason);
	ingest_result_free(&res);
}

/* Builds an event with the given members replacing the good ones. */
static char *
event_with(const char *id, const char *ts, const char *app, const char *data)
{
	char *s;

	if (asprintf(&s,
	             "{%s\"timestamp\":%s,\"event_type\":\"llm.response\","
	             "%s\"data\":%s}",
	             id, ts, app, data) < 0)
		abort();
	return s;
}

#define GOOD_ID   "\"event_id\":\"e1\","
#define GOOD_TS   "\"2025-11-06T12:00:00Z\""
#define GOOD_APP  "\"application_id\":\"app\","
#define GOOD_DATA "{\"latency_ms\":5}"

static void
bad_event(const char *id, const char *ts, const char *app, const char *data,
          const char *field, const char *reason)
{
	char *s = event_with(id, ts, app, data);

	expect_bad(s, field, reason);
	free(s);
}

static void
test_quick_start_event_accepted(void **state)
{
	struct ingest_result res;
	const struct sn_event *ev;

	(void)state;
	assert_int_equal(parse(quick_start, INGEST_BODY_JSON, 10, &res),
	                 INGEST_OK);
	assert_false(res.batch);
	assert_int_equal(res.total, 1);
	assert_int_equal(res.nevents, 1);
	assert_int_equal(res.nrejects, 0);
	ev = &res.events[0].ev;
	assert_string_equal(ev->event_id.p, "test-001");
	assert_int_equal(ev->event_id.len, 8);
	assert_string_equal(ev->event_type.p, "llm.response");
	assert_string_equal(ev->application_id.p, "test-app");
	assert_string_equal(ev->status.p, "success");
	assert_string_equal(ev->model.p, "");
	assert_string_equal(ev->timestamp.p, "2025-11-06T12:00:00Z");
	assert_int_equal(ev->ts_ms, 1762430400000LL);
	assert_int_equal(ev->present,
	                 SN_EV_LATENCY_MS | SN_EV_TOTAL_TOKENS | SN_EV_COST);
	assert_true(ev->latency_ms == 1250);
	assert_true(ev->total_tokens == 225);
	assert_true(ev->cost == 0.045);
	assert_int_equal(ev->seq, 0);
	/* Compact, in the client's key order, 0.045 written as sent. */
	assert_string_equal(
	        ev->json.p,
	        "{\"event_id\":\"test-001\",\"timestamp\":\"2025-11-06T12:00:"
	        "00Z\",\"event_type\":\"llm.response\",\"application_id\":"
	        "\"test-app\",\"data\":{\"status\":\"success\",\"latency_ms\":"
	        "1250,\"total_tokens\":225,\"cost\":0.045}}");
	assert_int_equal(ev->json.len, strlen(ev->json.p));
	ingest_result_free(&res);
}

static void
test_event_id_rules(void **state)
{
	char id[300];

	(void)state;
	bad_event("", GOOD_TS, GOOD_APP, GOOD_DATA, "event_id", "is required");
	bad_event("\"event_id\":\"\",", GOOD_TS, GOOD_APP, GOOD_DATA,
	          "event_id", "must not be empty");
	bad_event("\"event_id\":42,", GOOD_TS, GOOD_APP, GOOD_DATA, "event_id",
	          "must be a string");
	/* 129 bytes is one too many; 128 is fine. */
	snprintf(id, sizeof(id), "\"event_id\":\"%0129d\",", 0);
	bad_event(id, GOOD_TS, GOOD_APP, GOOD_DATA, "event_id",
	          "must be at most 128 bytes");
}

static void
test_event_id_of_128_bytes_accepted(void **state)
{
	struct ingest_result res;
	char id[300], *s;

	(void)state;
	snprintf(id, sizeof(id), "\"event_id\":\"%0128d\",", 0);
	s = event_with(id, GOOD_TS, GOOD_APP, GOOD_DATA);
	assert_int_equal(parse(s, INGEST_BODY_JSON, 10, &res), INGEST_OK);
	assert_int_equal(res.nevents, 1);
	assert_int_equal(res.events[0].ev.event_id.len, 128);
	ingest_result_free(&res);
	free(s);
}

static void
test_timestamp_rules(void **state)
{
	(void)state;
	bad_event(GOOD_ID, "\"yesterday\"", GOOD_APP, GOOD_DATA, "timestamp",
	          "not an RFC 3339 timestamp");
	bad_event(GOOD_ID, "\"2025-02-30T12:00:00Z\"", GOOD_APP, GOOD_DATA,
	          "timestamp", "not an RFC 3339 timestamp");
	bad_event(GOOD_ID, "\"2025-11-06 12:00:00Z\"", GOOD_APP, GOOD_DATA,
	          "timestamp", "not an RFC 3339 timestamp");
	bad_event(GOOD_ID, "1762430400", GOOD_APP, GOOD_DATA, "timestamp",
	          "must be a string");
}

static void
test_required_strings(void **state)
{
	(void)state;
	bad_event(GOOD_ID, GOOD_TS, "", GOOD_DATA, "application_id",
	          "is required");
	bad_event(GOOD_ID, GOOD_TS, "\"application_id\":null,", GOOD_DATA,
	          "application_id", "must be a string");
	expect_bad("{\"event_id\":\"e\",\"timestamp\":" GOOD_TS
	           ",\"application_id\":\"a\",\"data\":{}}",
	           "event_type", "is required");
}

static void
test_data_rules(void **state)
{
	(void)state;
	bad_event(GOOD_ID, GOOD_TS, GOOD_APP, "[1]", "data",
	          "must be an object");
	bad_event(GOOD_ID, GOOD_TS, GOOD_APP, "\"x\"", "data",
	          "must be an object");
	expect_bad("{\"event_id\":\"e\",\"timestamp\":" GOOD_TS
	           ",\"event_type\":\"t\",\"application_id\":\"a\"}",
	           "data", "is required");
	bad_event(GOOD_ID, GOOD_TS, GOOD_APP, "{\"latency_ms\":-1}",
	          "data.latency_ms", "must be a non-negative number");
	bad_event(GOOD_ID, GOOD_TS, GOOD_APP, "{\"cost\":\"0.5\"}", "data.cost",
	          "must be a non-negative number");
	bad_event(GOOD_ID, GOOD_TS, GOOD_APP, "{\"total_tokens\":true}",
	          "data.total_tokens", "must be a non-negative number");
	bad_event(GOOD_ID, GOOD_TS, GOOD_APP, "{\"completion_tokens\":-0.5}",
	          "data.completion_tokens", "must be a non-negative number");
	bad_event(GOOD_ID, GOOD_TS, GOOD_APP, "{\"status\":200}", "data.status",
	          "must be a string");
	bad_event(GOOD_ID, GOOD_TS, GOOD_APP, "{\"model\":{}}", "data.model",
	          "must be a string");
}

/* null for an optional data member means "not given". */
static void
test_null_optional_data_is_absent(void **state)
{
	struct ingest_result res;
	char *s;

	(void)state;
	s = event_with(GOOD_ID, GOOD_TS, GOOD_APP,
	               "{\"cost\":null,\"model\":null,\"prompt_tokens\":0}");
	assert_int_equal(parse(s, INGEST_BODY_JSON, 10, &res), INGEST_OK);
	assert_int_equal(res.nevents, 1);
	assert_int_equal(res.events[0].ev.present, SN_EV_PROMPT_TOKENS);
	assert_string_equal(res.events[0].ev.model.p, "");
	ingest_result_free(&res);
	free(s);
}

/* jansson refuses numbers out of double range: the body is malformed. */
static void
test_huge_number_is_malformed_json(void **state)
{
	struct ingest_result res;
	char *s;

	(void)state;
	s = event_with(GOOD_ID, GOOD_TS, GOOD_APP, "{\"latency_ms\":1e400}");
	assert_int_equal(parse(s, INGEST_BODY_JSON, 10, &res), INGEST_ERR_JSON);
	assert_non_null(strstr(res.reason, "real number overflow"));
	assert_non_null(strstr(res.reason, "at line 1 column"));
	assert_int_equal(res.nevents, 0);
	ingest_result_free(&res);
	free(s);
	assert_int_equal(parse("{\"a\":NaN}", INGEST_BODY_JSON, 10, &res),
	                 INGEST_ERR_JSON);
	ingest_result_free(&res);
}

static void
test_unknown_fields_kept(void **state)
{
	struct ingest_result res;
	const char *body = "{\"event_id\":\"x\",\"timestamp\":" GOOD_TS
	                   ",\"event_type\":\"t\",\"application_id\":\"a\","
	                   "\"region\":\"eu\",\"data\":{\"latency_ms\":1,"
	                   "\"gpu\":{\"kind\":\"a100\"},\"tags\":[1,2]}}";

	(void)state;
	assert_int_equal(parse(body, INGEST_BODY_JSON, 10, &res), INGEST_OK);
	assert_int_equal(res.nevents, 1);
	assert_string_equal(res.events[0].ev.json.p, body);
	ingest_result_free(&res);
}

/* Each event travels on as its bytes in the body: in an array (with
 * strings holding brackets, commas and escaped quotes, and blanks
 * around), alone with blanks around, on an NDJSON line ending in CRLF;
 * a value over several lines is written again on one. */
static void
test_events_keep_their_text(void **state)
{
	struct ingest_result res;
	const char *e1 =
	        "{\"event_id\":\"a,]\\\"}[\",\"timestamp\":" GOOD_TS
	        ",\"event_type\":\"t\",\"application_id\":\"a\","
	        "\"data\":{\"latency_ms\": 1.50, \"x\":[1,{\"y\":[]}]}}";
	const char *e2 = "{ \"event_id\" : \"b\", \"timestamp\":" GOOD_TS
	                 ",\"event_type\":\"t\",\"application_id\":\"a\","
	                 "\"data\":{}}";
	char body[1024];

	(void)state;
	snprintf(body, sizeof(body), " [ %s ,\t%s ] ", e1, e2);
	assert_int_equal(parse(body, INGEST_BODY_JSON, 10, &res), INGEST_OK);
	assert_int_equal(res.nevents, 2);
	assert_string_equal(res.events[0].ev.json.p, e1);
	assert_string_equal(res.events[1].ev.json.p, e2);
	ingest_result_free(&res);

	snprintf(body, sizeof(body), "\r\n  %s \n", e2);
	assert_int_equal(parse(body, INGEST_BODY_JSON, 10, &res), INGEST_OK);
	assert_int_equal(res.nevents, 1);
	assert_string_equal(res.events[0].ev.json.p, e2);
	ingest_result_free(&res);

	snprintf(body, sizeof(body), "%s\r\n %s\r\n", e1, e2);
	assert_int_equal(parse(body, INGEST_BODY_NDJSON, 10, &res), INGEST_OK);
	assert_int_equal(res.nevents, 2);
	assert_string_equal(res.events[0].ev.json.p, e1);
	assert_string_equal(res.events[1].ev.json.p, e2);
	ingest_result_free(&res);

	snprintf(body, sizeof(body),
	         "[{\"event_id\":\"c\",\n \"timestamp\":" GOOD_TS
	         ",\"event_type\":\"t\",\"application_id\":\"a\","
	         "\"data\":{}}]");
	assert_int_equal(parse(body, INGEST_BODY_JSON, 10, &res), INGEST_OK);
	assert_int_equal(res.nevents, 1);
	assert_string_equal(res.events[0].ev.json.p,
	                    "{\"event_id\":\"c\",\"timestamp\":" GOOD_TS
	                    ",\"event_type\":\"t\",\"application_id\":\"a\","
	                    "\"data\":{}}");
	ingest_result_free(&res);
}

static void
test_array_batch_mixed(void **state)
{
	struct ingest_result res;
	char *good1 = event_with("\"event_id\":\"g1\",", GOOD_TS, GOOD_APP,
	                         GOOD_DATA);
	char *bad1 = event_with("\"event_id\":\"b1\",", GOOD_TS, GOOD_APP,
	                        "{\"latency_ms\":-3}");
	char *good2 = event_with("\"event_id\":\"g2\",", GOOD_TS, GOOD_APP,
	                         GOOD_DATA);
	char *body;

	(void)state;
	if (asprintf(&body, "[%s,%s,42,%s]", good1, bad1, good2) < 0)
		abort();
	assert_int_equal(parse(body, INGEST_BODY_JSON, 10, &res), INGEST_OK);
	assert_true(res.batch);
	assert_int_equal(res.total, 4);
	assert_int_equal(res.nevents, 2);
	assert_string_equal(res.events[0].ev.event_id.p, "g1");
	assert_int_equal(res.events[0].index, 0);
	assert_string_equal(res.events[1].ev.event_id.p, "g2");
	assert_int_equal(res.events[1].index, 3);
	assert_int_equal(res.nrejects, 2);
	assert_int_equal(res.rejects[0].index, 1);
	assert_true(res.rejects[0].has_event_id);
	assert_string_equal(res.rejects[0].event_id, "b1");
	assert_string_equal(res.rejects[0].field, "data.latency_ms");
	assert_int_equal(res.rejects[1].index, 2);
	assert_false(res.rejects[1].has_event_id);
	assert_string_equal(res.rejects[1].field, "event");
	assert_string_equal(res.rejects[1].reason, "must be a JSON object");
	ingest_result_free(&res);
	free(body);
	free(good1);
	free(bad1);
	free(good2);
}

static void
test_ndjson_with_blank_lines(void **state)
{
	struct ingest_result res;
	char *e1 = event_with("\"event_id\":\"n1\",", GOOD_TS, GOOD_APP,
	                      GOOD_DATA);
	char *e2 = event_with("\"event_id\":\"n2\",", GOOD_TS, GOOD_APP,
	                      GOOD_DATA);
	char *body;

	(void)state;
	/* CRLF endings, blank and whitespace-only lines, a broken line. */
	if (asprintf(&body, "\n%s\r\n\n   \n{\"event_id\":\n%s\n\n", e1, e2) <
	    0)
		abort();
	assert_int_equal(parse(body, INGEST_BODY_NDJSON, 10, &res), INGEST_OK);
	assert_true(res.batch);
	assert_int_equal(res.total, 3);
	assert_int_equal(res.nevents, 2);
	assert_string_equal(res.events[0].ev.event_id.p, "n1");
	assert_int_equal(res.events[0].index, 0);
	assert_string_equal(res.events[1].ev.event_id.p, "n2");
	assert_int_equal(res.events[1].index, 2);
	assert_int_equal(res.nrejects, 1);
	assert_int_equal(res.rejects[0].index, 1);
	assert_string_equal(res.rejects[0].field, "event");
	/* The line number is the body's (line 5), not the line's own. */
	assert_non_null(strstr(res.rejects[0].reason, "invalid JSON: "));
	assert_non_null(strstr(res.rejects[0].reason, "at line 5 column"));
	ingest_result_free(&res);
	free(body);
	free(e1);
	free(e2);
}

static void
test_batch_over_the_limit(void **state)
{
	struct ingest_result res;

	(void)state;
	assert_int_equal(parse("[{},{},{}]", INGEST_BODY_JSON, 2, &res),
	                 INGEST_ERR_TOO_MANY);
	assert_int_equal(res.limit, 2);
	assert_int_equal(res.nevents, 0);
	ingest_result_free(&res);
	assert_int_equal(parse("{}\n{}\n\n{}\n", INGEST_BODY_NDJSON, 2, &res),
	                 INGEST_ERR_TOO_MANY);
	ingest_result_free(&res);
	/* Exactly at the limit is fine (both rejected, but parsed). */
	assert_int_equal(parse("[{},{}]", INGEST_BODY_JSON, 2, &res),
	                 INGEST_OK);
	assert_int_equal(res.nrejects, 2);
	ingest_result_free(&res);
}

static void
test_malformed_json_position(void **state)
{
	struct ingest_result res;

	(void)state;
	assert_int_equal(parse("[{\"a\":1},\n  {\"a\": tru}]", INGEST_BODY_JSON,
	                       10, &res),
	                 INGEST_ERR_JSON);
	assert_string_equal(res.reason,
	                    "invalid token near 'tru' at line 2 column 11");
	ingest_result_free(&res);
	assert_int_equal(parse("{\"a\":1,\"a\":2}", INGEST_BODY_JSON, 10, &res),
	                 INGEST_ERR_JSON);
	assert_non_null(strstr(res.reason, "duplicate object key"));
	ingest_result_free(&res);
	assert_int_equal(
	        parse("{\"a\":1} trailing", INGEST_BODY_JSON, 10, &res),
	        INGEST_ERR_JSON);
	ingest_result_free(&res);
	/* Invalid UTF-8 never reaches the event strings. */
	assert_int_equal(
	        parse("{\"event_id\":\"\xff\"}", INGEST_BODY_JSON, 10, &res),
	        INGEST_ERR_JSON);
	ingest_result_free(&res);
}

static void
test_empty_body(void **state)
{
	struct ingest_result res;

	(void)state;
	assert_int_equal(parse("", INGEST_BODY_JSON, 10, &res),
	                 INGEST_ERR_EMPTY);
	assert_string_equal(res.reason, "the body is empty");
	ingest_result_free(&res);
	assert_int_equal(parse(" \r\n\t", INGEST_BODY_NDJSON, 10, &res),
	                 INGEST_ERR_EMPTY);
	ingest_result_free(&res);
	assert_int_equal(parse("[]", INGEST_BODY_JSON, 10, &res),
	                 INGEST_ERR_EMPTY);
	ingest_result_free(&res);
	memset(&res, 0, sizeof(res));
	assert_int_equal(ingest_parse_body(NULL, 0, INGEST_BODY_JSON, 10, &res),
	                 INGEST_ERR_EMPTY);
	ingest_result_free(&res);
}

static void
test_top_level_scalar_is_malformed(void **state)
{
	struct ingest_result res;

	(void)state;
	assert_int_equal(parse("42", INGEST_BODY_JSON, 10, &res),
	                 INGEST_ERR_JSON);
	assert_non_null(strstr(res.reason, "'[' or '{' expected"));
	ingest_result_free(&res);
	assert_int_equal(parse("\"event\"", INGEST_BODY_JSON, 10, &res),
	                 INGEST_ERR_JSON);
	ingest_result_free(&res);
	/* In NDJSON a scalar or array line rejects that line only. */
	assert_int_equal(parse("42\n[1]\n", INGEST_BODY_NDJSON, 10, &res),
	                 INGEST_OK);
	assert_int_equal(res.nrejects, 2);
	assert_string_equal(res.rejects[1].reason, "must be a JSON object");
	ingest_result_free(&res);
}

/* Garbage of every byte value never crashes and never accepts. */
static void
test_garbage_bodies(void **state)
{
	struct ingest_result res;
	char buf[256];
	unsigned seed = 12345, i, j, len;

	(void)state;
	for (i = 0; i < 2000; i++) {
		len = (seed = seed * 1103515245 + 12345) % sizeof(buf);
		for (j = 0; j < len; j++)
			buf[j] = (char)((seed = seed * 1103515245 + 12345) >>
			                16);
		memset(&res, 0, sizeof(res));
		ingest_parse_body(buf, len,
		                  i % 2 ? INGEST_BODY_NDJSON : INGEST_BODY_JSON,
		                  10, &res);
		assert_int_equal(res.nevents, 0);
		ingest_result_free(&res);
	}
}

static void
test_content_types(void **state)
{
	enum ingest_body_kind k;

	(void)state;
	assert_int_equal(ingest_body_kind_parse("application/json", &k), 0);
	assert_int_equal(k, INGEST_BODY_JSON);
	assert_int_equal(
	        ingest_body_kind_parse("Application/JSON; charset=utf-8", &k),
	        0);
	assert_int_equal(k, INGEST_BODY_JSON);
	assert_int_equal(ingest_body_kind_parse("application/x-ndjson", &k), 0);
	assert_int_equal(k, INGEST_BODY_NDJSON);
	assert_int_equal(ingest_body_kind_parse("application/json-seq", &k),
	                 -1);
	assert_int_equal(ingest_body_kind_parse("text/plain", &k), -1);
	assert_int_equal(
	        ingest_body_kind_parse("application/x-www-form-urlencoded", &k),
	        -1);
	assert_int_equal(ingest_body_kind_parse("application/json x", &k), -1);
	assert_int_equal(ingest_body_kind_parse("", &k), -1);
	assert_int_equal(ingest_body_kind_parse(NULL, &k), -1);
}

/* The client's bytes quoted in a reason never break the JSON answer. */
static void
test_reasons_are_printable_ascii(void **state)
{
	struct ingest_result res;
	const char *p;

	(void)state;
	assert_int_equal(parse("[tru\xc3\xa9\x01]", INGEST_BODY_JSON, 10, &res),
	                 INGEST_ERR_JSON);
	for (p = res.reason; *p; p++)
		assert_true(*p >= 0x20 && *p <= 0x7e);
	ingest_result_free(&res);
	assert_int_equal(parse("x\xc3\xa9\n", INGEST_BODY_NDJSON, 10, &res),
	                 INGEST_OK);
	assert_int_equal(res.nrejects, 1);
	for (p = res.rejects[0].reason; *p; p++)
		assert_true(*p >= 0x20 && *p <= 0x7e);
	ingest_result_free(&res);
}

/* --- limits: lengths, depth, fields, ranges, the window ------------------ */

/* Parses body (one event) with o; expects it rejected for kind at field
 * with reason. */
static void
expect_reject(const char *body, const struct ingest_opts *o,
              enum ingest_reject_kind kind, const char *field,
              const char *reason)
{
	struct ingest_result res;

	memset(&res, 0, sizeof(res));
	assert_int_equal(
	        ingest_parse(body, strlen(body), INGEST_BODY_JSON, o, &res),
	        INGEST_OK);
	assert_int_equal(res.nevents, 0);
	assert_int_equal(res.nrejects, 1);
	assert_int_equal(res.rejects[0].kind, kind);
	assert_string_equal(res.rejects[0].field, field);
	assert_string_equal(res.rejects[0].reason, reason);
	ingest_result_free(&res);
}

/* Parses body (one event) with o; expects it accepted. */
static void
expect_accept(const char *body, const struct ingest_opts *o)
{
	struct ingest_result res;

	memset(&res, 0, sizeof(res));
	assert_int_equal(
	        ingest_parse(body, strlen(body), INGEST_BODY_JSON, o, &res),
	        INGEST_OK);
	if (res.nrejects > 0)
		fail_msg("rejected: %s: %s", res.rejects[0].field,
		         res.rejects[0].reason);
	assert_int_equal(res.nevents, 1);
	ingest_result_free(&res);
}

static const struct ingest_opts no_window = {.max_events = 10};

/* "x" repeated n times, as a JSON string with its quotes. */
static char *
json_str_of(size_t n)
{
	char *s = malloc(n + 3);

	if (s == NULL)
		abort();
	s[0] = '"';
	memset(s + 1, 'x', n);
	s[n + 1] = '"';
	s[n + 2] = '\0';
	return s;
}

/* An event with the given event_type, application_id and data members
 * (without braces). */
static char *
event_parts(const char *type, const char *app, const char *data)
{
	char *s;

	if (asprintf(&s,
	             "{\"event_id\":\"e1\",\"timestamp\":" GOOD_TS
	             ",\"event_type\":%s,\"application_id\":%s,"
	             "\"data\":{%s}}",
	             type, app, data) < 0)
		abort();
	return s;
}

/* Identifiers may hold 256 bytes: they become labels and keys. */
static void
test_identifier_lengths(void **state)
{
	char *ok = json_str_of(256), *big = json_str_of(257), *ev, *d;

	(void)state;
	ev = event_parts(ok, ok, "");
	expect_accept(ev, &no_window);
	free(ev);
	ev = event_parts(big, "\"a\"", "");
	expect_reject(ev, &no_window, INGEST_REJ_TOO_LONG, "event_type",
	              "must be at most 256 bytes");
	free(ev);
	ev = event_parts("\"t\"", big, "");
	expect_reject(ev, &no_window, INGEST_REJ_TOO_LONG, "application_id",
	              "must be at most 256 bytes");
	free(ev);
	if (asprintf(&d, "\"model\":%s", big) < 0)
		abort();
	ev = event_parts("\"t\"", "\"a\"", d);
	expect_reject(ev, &no_window, INGEST_REJ_TOO_LONG, "data.model",
	              "must be at most 256 bytes");
	free(ev);
	free(d);
	if (asprintf(&d, "\"status\":%s", big) < 0)
		abort();
	ev = event_parts("\"t\"", "\"a\"", d);
	expect_reject(ev, &no_window, INGEST_REJ_TOO_LONG, "data.status",
	              "must be at most 256 bytes");
	free(ev);
	free(d);
	free(ok);
	free(big);
}

/* Any other string or key: 64 KiB, named by the member holding it. */
static void
test_other_string_lengths(void **state)
{
	char *ok = json_str_of(INGEST_STRING_MAX);
	char *big = json_str_of(INGEST_STRING_MAX + 1), *ev, *d;

	(void)state;
	if (asprintf(&d, "\"prompt\":%s", ok) < 0)
		abort();
	ev = event_parts("\"t\"", "\"a\"", d);
	expect_accept(ev, &no_window);
	free(ev);
	free(d);
	if (asprintf(&d, "\"tags\":[1,{\"p\":%s}]", big) < 0)
		abort();
	ev = event_parts("\"t\"", "\"a\"", d);
	expect_reject(ev, &no_window, INGEST_REJ_TOO_LONG, "data",
	              "holds a string longer than 65536 bytes");
	free(ev);
	free(d);
	/* A key counts too. */
	if (asprintf(&d, "%s:1", big) < 0)
		abort();
	ev = event_parts("\"t\"", "\"a\"", d);
	expect_reject(ev, &no_window, INGEST_REJ_TOO_LONG, "data",
	              "holds a key longer than 65536 bytes");
	free(ev);
	free(d);
	/* Outside data the event is named. */
	if (asprintf(&ev,
	             "{\"note\":%s,\"event_id\":\"e\",\"timestamp\":" GOOD_TS
	             ",\"event_type\":\"t\",\"application_id\":\"a\","
	             "\"data\":{}}",
	             big) < 0)
		abort();
	expect_reject(ev, &no_window, INGEST_REJ_TOO_LONG, "event",
	              "holds a string longer than 65536 bytes");
	free(ev);
	free(ok);
	free(big);
}

/* data holding n more levels: "a":{"a":{...}} or "a":[[...]]. */
static char *
nested_data(int n, const char *open, const char *close)
{
	struct sn_buf b = {0};
	char *ev;
	int i;

	if (open[0] == '[')
		sn_buf_append(&b, "\"a\":", 4);
	for (i = 0; i < n; i++)
		sn_buf_append(&b, open, strlen(open));
	for (i = 0; i < n; i++)
		sn_buf_append(&b, close, strlen(close));
	sn_buf_append(&b, "", 1);
	ev = event_parts("\"t\"", "\"a\"", (const char *)b.data);
	sn_buf_free(&b);
	return ev;
}

/* 32 levels of objects and arrays, the event counting as one. */
static void
test_nesting_depth(void **state)
{
	struct ingest_result res;
	const char *field, *reason;
	struct sn_event ev;
	json_t *obj;
	char *s;

	(void)state;
	/* event (1) > data (2) > 30 more = 32 */
	s = nested_data(30, "\"a\":{", "}");
	expect_accept(s, &no_window);
	free(s);
	s = nested_data(31, "\"a\":{", "}");
	expect_reject(s, &no_window, INGEST_REJ_TOO_DEEP, "data",
	              "nests deeper than 32 levels");
	/* The same rule for everyone who validates events. */
	obj = json_loads(s, 0, NULL);
	assert_non_null(obj);
	assert_int_equal(ingest_validate_event(obj, &ev, &field, &reason), -1);
	assert_string_equal(field, "data");
	assert_string_equal(reason, "nests deeper than 32 levels");
	json_decref(obj);
	free(s);
	s = nested_data(30, "[", "]");
	expect_accept(s, &no_window);
	free(s);
	s = nested_data(31, "[", "]");
	expect_reject(s, &no_window, INGEST_REJ_TOO_DEEP, "data",
	              "nests deeper than 32 levels");
	free(s);
	/* In a batch only that event goes. */
	s = nested_data(40, "[", "]");
	{
		char *e2 = event_parts("\"t\"", "\"a\"", "\"x\":1"), *body;

		if (asprintf(&body, "[%s,%s]", s, e2) < 0)
			abort();
		memset(&res, 0, sizeof(res));
		assert_int_equal(ingest_parse(body, strlen(body),
		                              INGEST_BODY_JSON, &no_window,
		                              &res),
		                 INGEST_OK);
		assert_int_equal(res.nevents, 1);
		assert_int_equal(res.nrejects, 1);
		assert_int_equal(res.rejects[0].index, 0);
		assert_int_equal(res.rejects[0].kind, INGEST_REJ_TOO_DEEP);
		ingest_result_free(&res);
		free(body);
		free(e2);
	}
	free(s);
}

/* data holds at most 256 members. */
static void
test_data_field_count(void **state)
{
	struct sn_buf b = {0};
	char k[32], *ev;
	int i;

	(void)state;
	for (i = 0; i < INGEST_FIELDS_MAX; i++) {
		snprintf(k, sizeof(k), "%s\"f%d\":%d", i ? "," : "", i, i);
		sn_buf_append(&b, k, strlen(k));
	}
	sn_buf_append(&b, "", 1);
	ev = event_parts("\"t\"", "\"a\"", (const char *)b.data);
	expect_accept(ev, &no_window);
	free(ev);
	b.len--;
	sn_buf_append(&b, ",\"one_more\":1", strlen(",\"one_more\":1") + 1);
	ev = event_parts("\"t\"", "\"a\"", (const char *)b.data);
	expect_reject(ev, &no_window, INGEST_REJ_FIELDS, "data",
	              "has more than 256 fields");
	free(ev);
	sn_buf_free(&b);
}

/* Negative numbers are invalid; absurd ones out of range; the limits
 * themselves are fine. */
static void
test_number_ranges(void **state)
{
	static const struct {
		const char *data, *field, *reason;
		enum ingest_reject_kind kind;
	} bad[] = {
	        {"\"latency_ms\":-1", "data.latency_ms",
	         "must be a non-negative number", INGEST_REJ_INVALID},
	        {"\"latency_ms\":86400000.5", "data.latency_ms",
	         "must be at most 86400000 (24 hours)", INGEST_REJ_RANGE},
	        {"\"total_tokens\":1000000001", "data.total_tokens",
	         "must be at most 1000000000", INGEST_REJ_RANGE},
	        {"\"prompt_tokens\":1e300", "data.prompt_tokens",
	         "must be at most 1000000000", INGEST_REJ_RANGE},
	        {"\"completion_tokens\":9223372036854775807",
	         "data.completion_tokens", "must be at most 1000000000",
	         INGEST_REJ_RANGE},
	        {"\"cost\":1000000.01", "data.cost", "must be at most 1000000",
	         INGEST_REJ_RANGE},
	        {"\"cost\":-0.01", "data.cost", "must be a non-negative number",
	         INGEST_REJ_INVALID},
	};
	char *ev;
	size_t i;

	(void)state;
	for (i = 0; i < SN_ARRAY_LEN(bad); i++) {
		ev = event_parts("\"t\"", "\"a\"", bad[i].data);
		expect_reject(ev, &no_window, bad[i].kind, bad[i].field,
		              bad[i].reason);
		free(ev);
	}
	ev = event_parts("\"t\"", "\"a\"",
	                 "\"latency_ms\":86400000,\"total_tokens\":1e9,"
	                 "\"prompt_tokens\":0,\"completion_tokens\":-0.0,"
	                 "\"cost\":1000000");
	expect_accept(ev, &no_window);
	free(ev);
}

/* An event with timestamp ts (RFC 3339). */
static char *
event_at(const char *id, const char *ts)
{
	char *s;

	if (asprintf(&s,
	             "{\"event_id\":\"%s\",\"timestamp\":\"%s\","
	             "\"event_type\":\"t\",\"application_id\":\"a\","
	             "\"data\":{}}",
	             id, ts) < 0)
		abort();
	return s;
}

/* now - max_age .. now + max_future, both ends included. */
static void
test_timestamp_window(void **state)
{
	struct ingest_opts o = {
	        .max_events = 10,
	        .window = true,
	        .now_ms = 1762430400000LL, /* 2025-11-06T12:00:00Z */
	        .max_age_ms = 7 * 86400000LL,
	        .max_future_ms = 5 * 60000,
	};
	struct ingest_result res;
	char *e, *e2, *body;

	(void)state;
	e = event_at("old-edge", "2025-10-30T12:00:00Z");
	expect_accept(e, &o);
	free(e);
	e = event_at("too-old", "2025-10-30T11:59:59.999Z");
	expect_reject(e, &o, INGEST_REJ_WINDOW, "timestamp",
	              "is more than 7d in the past (ingestion.accept.max_age)");
	free(e);
	e = event_at("new-edge", "2025-11-06T12:05:00Z");
	expect_accept(e, &o);
	free(e);
	e = event_at("too-new", "2025-11-06T12:05:00.001Z");
	expect_reject(e, &o, INGEST_REJ_WINDOW, "timestamp",
	              "is more than 5m in the future "
	              "(ingestion.accept.max_future)");
	free(e);
	/* An offset is applied before comparing: 14:06+02:00 is 12:06Z. */
	e = event_at("offset", "2025-11-06T14:06:00+02:00");
	expect_reject(e, &o, INGEST_REJ_WINDOW, "timestamp",
	              "is more than 5m in the future "
	              "(ingestion.accept.max_future)");
	free(e);
	/* max_future 0: nothing after now. */
	o.max_future_ms = 0;
	e = event_at("now", "2025-11-06T12:00:00Z");
	expect_accept(e, &o);
	free(e);
	e = event_at("later", "2025-11-06T12:00:00.001Z");
	expect_reject(e, &o, INGEST_REJ_WINDOW, "timestamp",
	              "is more than 0ms in the future "
	              "(ingestion.accept.max_future)");
	free(e);
	/* Without the window (replay, detectors test) any date goes. */
	e = event_at("y2k", "2000-01-01T00:00:00Z");
	expect_accept(e, &no_window);
	free(e);
	/* A batch keeps the events inside the window. */
	o.max_future_ms = 5 * 60000;
	e = event_at("in", "2025-11-06T11:00:00Z");
	e2 = event_at("out", "2031-01-01T00:00:00Z");
	if (asprintf(&body, "%s\n%s\n", e, e2) < 0)
		abort();
	free(e);
	free(e2);
	memset(&res, 0, sizeof(res));
	assert_int_equal(
	        ingest_parse(body, strlen(body), INGEST_BODY_NDJSON, &o, &res),
	        INGEST_OK);
	assert_int_equal(res.nevents, 1);
	assert_string_equal(res.events[0].ev.event_id.p, "in");
	assert_int_equal(res.nrejects, 1);
	assert_string_equal(res.rejects[0].event_id, "out");
	assert_int_equal(res.rejects[0].kind, INGEST_REJ_WINDOW);
	ingest_result_free(&res);
	free(body);
}

/* What jansson refuses is malformed JSON, with a reason saying why. */
static void
test_bad_json_values(void **state)
{
	static const struct {
		const char *body, *reason;
	} bad[] = {
	        {"{\"a\":\"\xff\"}", "unable to decode byte 0xff"},
	        {"{\"a\":\"\xc3\x28\"}", "unable to decode byte 0xc3"},
	        {"{\"a\":NaN}", "invalid token near 'NaN'"},
	        {"{\"a\":Infinity}", "invalid token near 'Infinity'"},
	        {"{\"a\":-Infinity}", "invalid token near '-'"},
	        {"{\"a\":1e999}", "real number overflow near '1e999'"},
	        {"{\"a\":-1e999}", "real number overflow near '-1e999'"},
	        {"{\"a\":99999999999999999999}", "too big integer"},
	        {"{\"a\":\"\\u0000\"}", "\\u0000 is not allowed"},
	        {"{\"a\":\"\\ud800\"}", "invalid Unicode '\\uD800'"},
	};
	struct ingest_result res;
	size_t i;

	(void)state;
	for (i = 0; i < SN_ARRAY_LEN(bad); i++) {
		assert_int_equal(parse(bad[i].body, INGEST_BODY_JSON, 10, &res),
		                 INGEST_ERR_JSON);
		if (strstr(res.reason, bad[i].reason) == NULL)
			fail_msg("%s: reason \"%s\"", bad[i].body, res.reason);
		assert_int_equal(res.nevents, 0);
		ingest_result_free(&res);
	}
	/* In NDJSON only the line goes, counted as invalid_json. */
	assert_int_equal(parse("{\"a\":\"\xff\"}\n{\"a\":NaN}\n",
	                       INGEST_BODY_NDJSON, 10, &res),
	                 INGEST_OK);
	assert_int_equal(res.nrejects, 2);
	assert_int_equal(res.rejects[0].kind, INGEST_REJ_JSON);
	assert_non_null(
	        strstr(res.rejects[0].reason, "unable to decode byte 0xff"));
	assert_int_equal(res.rejects[1].kind, INGEST_REJ_JSON);
	ingest_result_free(&res);
}

static void
add_status(struct sn_buf *b, const char *name, int st)
{
	struct sn_daemon_status ds;

	memset(&ds, 0, sizeof(ds));
	ds.name.p = name;
	ds.name.len = (uint32_t)strlen(name);
	ds.state = (uint8_t)st;
	ds.pid = 42;
	ds.since_ms = 1000;
	ds.restarts = 3;
	msg_add_daemon_status(b, &ds);
}

static void
test_set_state_adopted(void **state)
{
	struct setstate s;
	struct sn_buf b = {0};

	(void)state;
	memset(&s, 0, sizeof(s));
	msg_begin(&b, SN_MSG_SET_STATE);
	add_status(&b, "ingestd", SN_DAEMON_UP);
	add_status(&b, "stored", SN_DAEMON_BACKOFF);
	assert_int_equal(setstate_apply(&s, b.data, b.len, 100), 0);
	assert_int_equal(s.ndaemons, 2);
	assert_string_equal(s.daemons[1].name, "stored");
	assert_int_equal(s.daemons[1].state, SN_DAEMON_BACKOFF);
	assert_int_equal(s.daemons[1].restarts, 3);
	assert_true(setstate_fresh(&s, 100 + SETSTATE_FRESH_MS));
	assert_false(setstate_fresh(&s, 101 + SETSTATE_FRESH_MS));
	sn_buf_free(&b);
}

/* A truncated message or another type leaves the last good state. */
static void
test_bad_set_state_ignored(void **state)
{
	struct setstate s;
	struct sn_buf b = {0};

	(void)state;
	memset(&s, 0, sizeof(s));
	msg_begin(&b, SN_MSG_SET_STATE);
	add_status(&b, "ingestd", SN_DAEMON_UP);
	assert_int_equal(setstate_apply(&s, b.data, b.len, 100), 0);
	msg_begin(&b, SN_MSG_SET_STATE);
	add_status(&b, "stored", SN_DAEMON_UP);
	add_status(&b, "detectd", SN_DAEMON_UP);
	assert_int_equal(setstate_apply(&s, b.data, b.len - 3, 200), -1);
	msg_begin(&b, SN_MSG_EVENTS);
	assert_int_equal(setstate_apply(&s, b.data, b.len, 300), -1);
	assert_int_equal(setstate_apply(&s, "x", 1, 400), -1);
	assert_int_equal(s.ndaemons, 1);
	assert_string_equal(s.daemons[0].name, "ingestd");
	assert_int_equal(s.recv_mono_ms, 100);
	sn_buf_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_quick_start_event_accepted),
	        cmocka_unit_test(test_event_id_rules),
	        cmocka_unit_test(test_event_id_of_128_bytes_accepted),
	        cmocka_unit_test(test_timestamp_rules),
	        cmocka_unit_test(test_required_strings),
	        cmocka_unit_test(test_data_rules),
	        cmocka_unit_test(test_null_optional_data_is_absent),
	        cmocka_unit_test(test_huge_number_is_malformed_json),
	        cmocka_unit_test(test_unknown_fields_kept),
	        cmocka_unit_test(test_array_batch_mixed),
	        cmocka_unit_test(test_ndjson_with_blank_lines),
	        cmocka_unit_test(test_batch_over_the_limit),
	        cmocka_unit_test(test_malformed_json_position),
	        cmocka_unit_test(test_events_keep_their_text),
	        cmocka_unit_test(test_empty_body),
	        cmocka_unit_test(test_top_level_scalar_is_malformed),
	        cmocka_unit_test(test_garbage_bodies),
	        cmocka_unit_test(test_content_types),
	        cmocka_unit_test(test_reasons_are_printable_ascii),
	        cmocka_unit_test(test_identifier_lengths),
	        cmocka_unit_test(test_other_string_lengths),
	        cmocka_unit_test(test_nesting_depth),
	        cmocka_unit_test(test_data_field_count),
	        cmocka_unit_test(test_number_ranges),
	        cmocka_unit_test(test_timestamp_window),
	        cmocka_unit_test(test_bad_json_values),
	        cmocka_unit_test(test_set_state_adopted),
	        cmocka_unit_test(test_bad_set_state_ignored),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
