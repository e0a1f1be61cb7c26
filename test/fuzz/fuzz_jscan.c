/*
 * fuzz_jscan.c: the event scanner (common/jscan.c) against jansson.
 *
 * The input is one JSON document, read twice: by jansson's
 * json_loadb(JSON_REJECT_DUPLICATES), the independent oracle, and by
 * jscan, the parser every event body goes through.  They must agree on
 * everything the scanner promises (jscan.h):
 *
 *   - the same documents are accepted;
 *   - a refused one gets jansson's message, line and column exactly
 *     (they reach clients in 400 answers);
 *   - an accepted one is walked in the same order as jansson's tree
 *     (objects keep the order of their keys): the same depths, types
 *     and keys, strings equal byte for byte once unescaped (and their
 *     length known before unescaping), integers equal, and every
 *     number's double (jscan_number, as the event fields take it)
 *     bit for bit json_number_value's.
 *
 * One struct jscan serves every input, as it serves every line of an
 * NDJSON body, so a document also runs after any other.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "fuzz.h"
#include "jscan.h"

/* The unescaped text of str, in a buffer the caller frees. */
static char *
fj_text(const struct jscan_str *str)
{
	char *buf = malloc(str->len + 1);

	FUZZ_CHECK(buf != NULL);
	jscan_unescape(str, buf);
	buf[str->len] = '\0';
	return buf;
}

static void
fj_same_str(const struct jscan_str *str, const char *want, size_t len)
{
	char *got;

	FUZZ_CHECK(str->len == len);
	got = fj_text(str);
	FUZZ_CHECK(memcmp(got, want, len) == 0);
	/* without escapes the text is the raw bytes */
	FUZZ_CHECK(str->esc ||
	           (str->rawlen == len && memcmp(str->raw, want, len) == 0));
	FUZZ_CHECK(jscan_str_is(str, want, len) == (len <= 64 || !str->esc));
	free(got);
}

static void
fj_same_num(double a, double b)
{
	FUZZ_CHECK(memcmp(&a, &b, sizeof(a)) == 0);
}

/* The next items of s must be v (a member named key when key is set),
 * depth levels down. */
static void
fj_walk(struct jscan *s, json_t *v, const char *key, int depth)
{
	struct jscan_item it;
	const char *k;
	json_t *m;
	size_t i;

	FUZZ_CHECK(jscan_next(s, &it) == 1);
	FUZZ_CHECK(!it.end && it.depth == depth);
	FUZZ_CHECK(it.has_key == (key != NULL));
	if (key != NULL)
		fj_same_str(&it.key, key, strlen(key));
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		FUZZ_CHECK(it.type == JSCAN_OBJECT && *it.start == '{');
		json_object_foreach(v, k, m) fj_walk(s, m, k, depth + 1);
		break;
	case JSON_ARRAY:
		FUZZ_CHECK(it.type == JSCAN_ARRAY && *it.start == '[');
		json_array_foreach(v, i, m) fj_walk(s, m, NULL, depth + 1);
		break;
	case JSON_STRING:
		FUZZ_CHECK(it.type == JSCAN_STRING);
		fj_same_str(&it.str, json_string_value(v),
		            json_string_length(v));
		FUZZ_CHECK(it.str.raw == it.start + 1 &&
		           it.str.raw + it.str.rawlen + 1 == it.stop);
		return;
	case JSON_INTEGER:
		FUZZ_CHECK(it.type == JSCAN_INTEGER);
		FUZZ_CHECK(it.integer == json_integer_value(v));
		fj_same_num(jscan_number(&it), json_number_value(v));
		return;
	case JSON_REAL:
		FUZZ_CHECK(it.type == JSCAN_REAL);
		fj_same_num(jscan_number(&it), json_real_value(v));
		return;
	case JSON_TRUE:
		FUZZ_CHECK(it.type == JSCAN_TRUE);
		return;
	case JSON_FALSE:
		FUZZ_CHECK(it.type == JSCAN_FALSE);
		return;
	case JSON_NULL:
		FUZZ_CHECK(it.type == JSCAN_NULL);
		return;
	}
	/* the container's end */
	FUZZ_CHECK(jscan_next(s, &it) == 1);
	FUZZ_CHECK(it.end && it.depth == depth);
	FUZZ_CHECK(it.type == (json_is_object(v) ? JSCAN_OBJECT : JSCAN_ARRAY));
	FUZZ_CHECK(it.stop[-1] == (json_is_object(v) ? '}' : ']'));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct jscan s;
	struct jscan_item it;
	json_error_t err;
	json_t *root;
	char *copy;

	/* exactly size bytes, so that ASan sees a read past the end */
	copy = malloc(size ? size : 1);
	FUZZ_CHECK(copy != NULL);
	memcpy(copy, data, size);
	root = json_loadb(copy, size, JSON_REJECT_DUPLICATES, &err);
	jscan_begin(&s, copy, size);
	if (root == NULL) {
		int rc;

		while ((rc = jscan_next(&s, &it)) == 1)
			;
		if (rc != -1 || strcmp(s.err.text, err.text) != 0 ||
		    s.err.line != err.line || s.err.column != err.column)
			fprintf(stderr,
			        "jansson: %s (%d:%d)\njscan:   %s (%d:%d) rc "
			        "%d\n",
			        err.text, err.line, err.column, s.err.text,
			        s.err.line, s.err.column, rc);
		FUZZ_CHECK(rc == -1);
		FUZZ_CHECK(strcmp(s.err.text, err.text) == 0);
		FUZZ_CHECK(s.err.line == err.line);
		FUZZ_CHECK(s.err.column == err.column);
		/* and it stays refused */
		FUZZ_CHECK(jscan_next(&s, &it) == -1);
	} else {
		fj_walk(&s, root, NULL, 1);
		FUZZ_CHECK(jscan_next(&s, &it) == 0);
		FUZZ_CHECK(jscan_next(&s, &it) == 0);
		json_decref(root);
	}
	free(copy);
	return 0;
}
