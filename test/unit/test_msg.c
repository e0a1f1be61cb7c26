/*
 * test_msg.c: the inter-daemon message encoding round-trips every field
 * and rejects anything malformed without reading outside the message.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"

#include "msg.h"

static void
fill_event(struct sn_event *ev, uint64_t seq, const char *id)
{
	memset(ev, 0, sizeof(*ev));
	ev->seq = seq;
	ev->ts_ms = 1762430400000;
	ev->recv_ms = 1762430400123;
	ev->present = SN_EV_LATENCY_MS | SN_EV_COST;
	ev->latency_ms = 1250;
	ev->cost = 0.045;
	ev->event_id = str(id);
	ev->event_type = str("llm.response");
	ev->application_id = str("test-app");
	ev->model = str("");
	ev->status = str("success");
	ev->timestamp = str("2025-11-06T12:00:00Z");
	ev->json = str("{\"event_id\":\"x\"}");
}

static void
test_events_round_trip(void **state)
{
	struct sn_buf b = {0};
	struct sn_event in[3], out;
	struct msg_reader r;
	int i;

	(void)state;
	msg_begin(&b, SN_MSG_EVENTS);
	fill_event(&in[0], 1, "a");
	fill_event(&in[1], 2, "bb");
	fill_event(&in[2], UINT64_MAX, "");
	in[2].ts_ms = -5; /* before the epoch survives too */
	for (i = 0; i < 3; i++)
		msg_add_event(&b, &in[i]);
	assert_int_equal(msg_count(&b), 3);

	assert_int_equal(msg_open(&r, b.data, b.len), 0);
	assert_int_equal(r.type, SN_MSG_EVENTS);
	for (i = 0; i < 3; i++) {
		assert_int_equal(msg_next_event(&r, &out), 1);
		assert_true(out.seq == in[i].seq);
		assert_true(out.ts_ms == in[i].ts_ms);
		assert_true(out.recv_ms == in[i].recv_ms);
		assert_int_equal(out.present, in[i].present);
		assert_true(out.latency_ms == 1250);
		assert_true(out.cost == 0.045);
		assert_string_equal(out.event_id.p, in[i].event_id.p);
		assert_int_equal(out.event_id.len, in[i].event_id.len);
		assert_string_equal(out.application_id.p, "test-app");
		assert_string_equal(out.status.p, "success");
		assert_string_equal(out.model.p, "");
		assert_string_equal(out.json.p, "{\"event_id\":\"x\"}");
	}
	assert_int_equal(msg_next_event(&r, &out), 0);
	sn_buf_free(&b);
}

static void
test_anomaly_and_state_round_trip(void **state)
{
	struct sn_buf b = {0};
	struct sn_anomaly a = {0}, got;
	struct sn_daemon_status st = {0}, gst;
	struct msg_reader r;

	(void)state;
	a.seq = 7;
	a.value = 7300;
	a.threshold = 5000;
	a.id = str("high-latency-7-0");
	a.detector_id = str("high-latency");
	a.detector_type = str("threshold");
	a.alert = str("high-latency-alert");
	a.severity = str("warning");
	a.application_id = str("app");
	a.model = str("gpt");
	a.metric = str("latency_ms");
	a.event_id = str("e1");
	a.message = str("latency_ms 7300 > 5000");
	msg_begin(&b, SN_MSG_ANOMALIES);
	msg_add_anomaly(&b, &a);
	assert_int_equal(msg_open(&r, b.data, b.len), 0);
	assert_int_equal(msg_next_anomaly(&r, &got), 1);
	assert_string_equal(got.severity.p, "warning");
	assert_string_equal(got.message.p, "latency_ms 7300 > 5000");
	assert_true(got.value == 7300 && got.threshold == 5000);
	assert_int_equal(msg_next_anomaly(&r, &got), 0);
	/* Reading it as the wrong type is refused. */
	assert_int_equal(msg_open(&r, b.data, b.len), 0);
	assert_int_equal(msg_next_event(&r, &(struct sn_event){0}), -1);

	st.name = str("stored");
	st.state = SN_DAEMON_UP;
	st.pid = 4242;
	st.since_ms = 99;
	st.restarts = 3;
	msg_begin(&b, SN_MSG_SET_STATE);
	msg_add_daemon_status(&b, &st);
	assert_int_equal(msg_open(&r, b.data, b.len), 0);
	assert_int_equal(msg_next_daemon_status(&r, &gst), 1);
	assert_string_equal(gst.name.p, "stored");
	assert_int_equal(gst.state, SN_DAEMON_UP);
	assert_int_equal(gst.pid, 4242);
	assert_int_equal(gst.restarts, 3);
	assert_int_equal(msg_next_daemon_status(&r, &gst), 0);
	assert_string_equal(sn_daemon_state_name(SN_DAEMON_FAILED), "failed");
	assert_string_equal(sn_msg_type_name(SN_MSG_EVENTS), "events");
	sn_buf_free(&b);
}

/* Every truncation of a valid message is rejected, never over-read. */
static void
test_truncated_messages_rejected(void **state)
{
	struct sn_buf b = {0};
	struct sn_event ev;
	struct msg_reader r;
	size_t cut;
	uint8_t *copy;
	int rv;

	(void)state;
	msg_begin(&b, SN_MSG_EVENTS);
	fill_event(&ev, 1, "abc");
	msg_add_event(&b, &ev);
	for (cut = 0; cut < b.len; cut++) {
		/* An exact-size heap copy lets ASan catch any over-read. */
		copy = malloc(cut ? cut : 1);
		memcpy(copy, b.data, cut);
		if (msg_open(&r, copy, cut) == 0) {
			while ((rv = msg_next_event(&r, &ev)) == 1)
				;
			assert_int_equal(rv, -1);
		}
		free(copy);
	}
	sn_buf_free(&b);
}

static void
test_bad_headers_and_trailing_bytes(void **state)
{
	struct sn_buf b = {0};
	struct sn_event ev;
	struct msg_reader r;

	(void)state;
	msg_begin(&b, SN_MSG_EVENTS);
	fill_event(&ev, 1, "abc");
	msg_add_event(&b, &ev);
	b.data[0] = SN_MSG_VERSION + 1;
	assert_int_equal(msg_open(&r, b.data, b.len), -1);
	b.data[0] = SN_MSG_VERSION;
	b.data[1] = 99;
	assert_int_equal(msg_open(&r, b.data, b.len), -1);
	b.data[1] = SN_MSG_EVENTS;
	/* A byte after the last record makes the message malformed. */
	sn_buf_append(&b, "x", 1);
	assert_int_equal(msg_open(&r, b.data, b.len), 0);
	assert_int_equal(msg_next_event(&r, &ev), 1);
	assert_int_equal(msg_next_event(&r, &ev), -1);
	/* A string whose NUL is missing is malformed. */
	msg_begin(&b, SN_MSG_EVENTS);
	msg_add_event(&b, &ev);
	assert_int_equal(msg_open(&r, b.data, b.len), 0);
	assert_int_equal(msg_check(&r), 0);
	b.data[b.len - 1] = 'x';
	assert_int_equal(msg_open(&r, b.data, b.len), 0);
	assert_int_equal(msg_check(&r), -1);
	assert_int_equal(msg_next_event(&r, &ev), -1);
	sn_buf_free(&b);
}

/* An anomalies message carries its hand-over id; stored answers with the
 * ids in an ack message. */
static void
test_anomaly_id_and_ack(void **state)
{
	struct sn_buf b = {0};
	struct msg_reader r;
	uint64_t id;

	(void)state;
	msg_begin(&b, SN_MSG_ANOMALIES);
	assert_int_equal(msg_open(&r, b.data, b.len), 0);
	assert_true(r.id == 0 && r.prev == 0 && r.remaining == 0);
	msg_set_id(&b, 0x0123456789abcdefULL);
	msg_set_prev(&b, 7); /* not an events message: ignored */
	assert_int_equal(msg_open(&r, b.data, b.len), 0);
	assert_true(r.id == 0x0123456789abcdefULL && r.prev == 0);
	assert_int_equal(msg_check(&r), 0);
	/* too short for its id */
	assert_int_equal(msg_open(&r, b.data, SN_MSG_HDR_LEN + 7), -1);

	msg_begin(&b, SN_MSG_ANOMALIES_ACK);
	msg_add_ack(&b, 5);
	msg_add_ack(&b, UINT64_MAX);
	msg_set_id(&b, 9); /* not an anomalies message: ignored */
	assert_int_equal(msg_open(&r, b.data, b.len), 0);
	assert_int_equal(r.remaining, 2);
	assert_int_equal(msg_check(&r), 0);
	assert_int_equal(msg_next_ack(&r, &id), 1);
	assert_true(id == 5);
	assert_int_equal(msg_next_ack(&r, &id), 1);
	assert_true(id == UINT64_MAX);
	assert_int_equal(msg_next_ack(&r, &id), 0);
	assert_string_equal(sn_msg_type_name(SN_MSG_ANOMALIES_ACK),
	                    "anomalies_ack");
	/* a record cut short is malformed */
	assert_int_equal(msg_open(&r, b.data, b.len - 1), 0);
	assert_int_equal(msg_check(&r), -1);
	sn_buf_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_events_round_trip),
	        cmocka_unit_test(test_anomaly_and_state_round_trip),
	        cmocka_unit_test(test_truncated_messages_rejected),
	        cmocka_unit_test(test_bad_headers_and_trailing_bytes),
	        cmocka_unit_test(test_anomaly_id_and_ack),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
