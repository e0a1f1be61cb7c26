/*
 * test_receiver.c: the delivery core classifies outcomes as the outbox
 * needs them (2xx OK; 429, 408, 5xx and no answer RETRY with the peer's
 * Retry-After; other 4xx ERROR; SMTP 4yz RETRY, 5yz ERROR), logs a URL
 * only as scheme://host, and signs webhook bodies with HMAC-SHA256 as
 * RFC 4231's test vectors say.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "../../alertd/receiver.h"

static void
test_classify_http(void **state)
{
	struct receiver_outcome o;

	(void)state;
	receiver_classify(0, CURLE_OK, 200, -1, &o);
	assert_int_equal(o.result, RECEIVER_OK);
	receiver_classify(0, CURLE_OK, 204, -1, &o);
	assert_int_equal(o.result, RECEIVER_OK);
	receiver_classify(0, CURLE_OK, 500, -1, &o);
	assert_int_equal(o.result, RECEIVER_RETRY);
	assert_int_equal(o.retry_after_ms, 0);
	assert_string_equal(o.reason, "HTTP 500");
	receiver_classify(0, CURLE_OK, 429, 7, &o);
	assert_int_equal(o.result, RECEIVER_RETRY);
	assert_int_equal(o.retry_after_ms, 7000);
	receiver_classify(0, CURLE_OK, 503, 2, &o);
	assert_int_equal(o.result, RECEIVER_RETRY);
	assert_int_equal(o.retry_after_ms, 2000);
	receiver_classify(0, CURLE_OK, 404, -1, &o);
	assert_int_equal(o.result, RECEIVER_ERROR);
	receiver_classify(0, CURLE_OK, 400, -1, &o);
	assert_int_equal(o.result, RECEIVER_ERROR);
	receiver_classify(0, CURLE_OPERATION_TIMEDOUT, 0, -1, &o);
	assert_int_equal(o.result, RECEIVER_RETRY);
	receiver_classify(0, CURLE_COULDNT_CONNECT, 0, -1, &o);
	assert_int_equal(o.result, RECEIVER_RETRY);
	receiver_classify(0, CURLE_UNSUPPORTED_PROTOCOL, 0, -1, &o);
	assert_int_equal(o.result, RECEIVER_ERROR);
}

static void
test_classify_smtp(void **state)
{
	struct receiver_outcome o;

	(void)state;
	receiver_classify(1, CURLE_OK, 250, -1, &o);
	assert_int_equal(o.result, RECEIVER_OK);
	receiver_classify(1, CURLE_SEND_ERROR, 451, -1, &o);
	assert_int_equal(o.result, RECEIVER_RETRY);
	receiver_classify(1, CURLE_SEND_ERROR, 550, -1, &o);
	assert_int_equal(o.result, RECEIVER_ERROR);
	receiver_classify(1, CURLE_LOGIN_DENIED, 535, -1, &o);
	assert_int_equal(o.result, RECEIVER_ERROR);
	receiver_classify(1, CURLE_COULDNT_CONNECT, 0, -1, &o);
	assert_int_equal(o.result, RECEIVER_RETRY);
}

static void
test_where(void **state)
{
	char w[160];

	(void)state;
	receiver_where("https://hooks.slack.com/services/T0/B0/SECRET", w,
	               sizeof(w));
	assert_string_equal(w, "https://hooks.slack.com");
	receiver_where("http://user:pw@127.0.0.1:8080/x?token=1", w, sizeof(w));
	assert_string_equal(w, "http://127.0.0.1:8080");
	receiver_where("smtp://mail.example.com:587", w, sizeof(w));
	assert_string_equal(w, "smtp://mail.example.com:587");
	receiver_where("no-scheme/secret", w, sizeof(w));
	assert_null(strstr(w, "secret"));
}

static void
test_hmac_rfc4231(void **state)
{
	uint8_t k1[20], k6[131];
	char hex[65];

	(void)state;
	memset(k1, 0x0b, sizeof(k1));
	receiver_hmac_sha256_hex(k1, sizeof(k1), "Hi There", 8, hex);
	assert_string_equal(hex, "b0344c61d8db38535ca8afceaf0bf12b881dc200c98"
	                         "33da726e9376c2e32cff7");
	receiver_hmac_sha256_hex("Jefe", 4, "what do ya want for nothing?", 28,
	                         hex);
	assert_string_equal(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2"
	                         "739839dec58b964ec3843");
	memset(k6, 0xaa, sizeof(k6));
	receiver_hmac_sha256_hex(
	        k6, sizeof(k6),
	        "Test Using Larger Than Block-Size Key - Hash Key First", 54,
	        hex);
	assert_string_equal(hex, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc621372"
	                         "8c5140546040f0ee37f54");
}

static void
test_find(void **state)
{
	(void)state;
	assert_ptr_equal(receiver_find("webhook"), &receiver_webhook);
	assert_ptr_equal(receiver_find("slack"), &receiver_slack);
	assert_ptr_equal(receiver_find("pagerduty"), &receiver_pagerduty);
	assert_ptr_equal(receiver_find("email"), &receiver_email);
	assert_null(receiver_find("carrier-pigeon"));
	assert_null(receiver_find(NULL));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_classify_http),
	        cmocka_unit_test(test_classify_smtp),
	        cmocka_unit_test(test_where),
	        cmocka_unit_test(test_hmac_rfc4231),
	        cmocka_unit_test(test_find),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
