/*
 * test_relimit.c: sn_regcomp refuses the patterns glibc's regcomp would
 * blow up on (stacked or nested repetitions and big intervals, found by
 * test/fuzz/fuzz_ctl.c) with REG_ESIZE, and compiles ordinary ones:
 * the alternations and classes alerts.yaml and silences use.
 */
#include <regex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "relimit.h"

static void
test_copies(void **state)
{
	(void)state;
	assert_int_equal(sn_regex_copies("chat|search"), 0);
	assert_int_equal(sn_regex_copies("gpt-4.*"), 0);
	assert_int_equal(sn_regex_copies("a+"), 1);
	assert_int_equal(sn_regex_copies("a{3}"), 2);
	assert_int_equal(sn_regex_copies("a{2,}"), 2);
	assert_int_equal(sn_regex_copies("(ab){1,5}"), 8);
	assert_int_equal(sn_regex_copies("((a+)+)+"), 7);
	/* brackets and escapes are one atom, whatever they hold */
	assert_int_equal(sn_regex_copies("[]a+{]{3}"), 2);
	assert_int_equal(sn_regex_copies("[[:alpha:]]+x"), 1);
	assert_int_equal(sn_regex_copies("\\++"), 1);
	/* a '{' that opens no interval is a literal */
	assert_int_equal(sn_regex_copies("a{x}"), 0);
	assert_true(sn_regex_copies("a{1,1001}") > SN_REGEX_BUDGET);

	assert_int_equal(sn_regex_nested("abc"), 0);
	assert_int_equal(sn_regex_nested("a*b+"), 1);
	assert_int_equal(sn_regex_nested("a+*+"), 3);
	assert_int_equal(sn_regex_nested("((a+)*|b)+c"), 3);
	assert_int_equal(sn_regex_nested("[*+]\\**"), 1);
}

static void
test_regcomp(void **state)
{
	static const char *const ok[] = {
	        "^(chat|search)$", "^(gpt-4.*)$",
	        "^(.+)$",          "^([a-z0-9_-]{1,64})$",
	        "^(a{1,1000})$",   "^([a-z]+(-[a-z0-9]+)*)$",
	        "^((((a+)*)+)*)$",
	};
	static const char *const big[] = {
	        "^(a++++++++++++++++++++)$",
	        "^(gpt-8.++++++++++++++++++++++++++++++++++++l)$",
	        "^((((((((((((((((a+)+)+)+)+)+)+)+)+)+)+)+)+)+)+)+)+)$",
	        "^(a*+*+*+*+*+*+*+*+*+*+*+*+*+*+*+*+*+*+*+)$",
	        "^((a{100}){100})$",
	        "^(a{1,4090})$",
	        "^(a++++*+++++)$",
	        "^(((((a+)*)+)*)+)$",
	};
	regex_t re;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		assert_int_equal(sn_regcomp(&re, ok[i], REG_EXTENDED), 0);
		regfree(&re);
	}
	for (i = 0; i < sizeof(big) / sizeof(big[0]); i++)
		assert_int_equal(sn_regcomp(&re, big[i], REG_EXTENDED),
		                 REG_ESIZE);
	/* regcomp's own errors come through */
	assert_int_equal(sn_regcomp(&re, "^((a)$", REG_EXTENDED), REG_EPAREN);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_copies),
	        cmocka_unit_test(test_regcomp),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
