/*
 * test_validate.c: ingestd's body validation accepts the seed's Quick
 * Start event, names the first bad field of a bad one, keeps unknown
 * fields, reports batch rejections by index, and answers malformed,
 * empty and oversized bodies as a whole.  Also: ingestd adopts only a
 * well-formed set state from the supervisor.
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
	        cmocka_unit_test(test_empty_body),
	        cmocka_unit_test(test_top_level_scalar_is_malformed),
	        cmocka_unit_test(test_garbage_bodies),
	        cmocka_unit_test(test_content_types),
	        cmocka_unit_test(test_reasons_are_printable_ascii),
	        cmocka_unit_test(test_set_state_adopted),
	        cmocka_unit_test(test_bad_set_state_ignored),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
