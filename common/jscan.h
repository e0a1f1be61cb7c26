/*
 * jscan.h: a strict single-pass JSON scanner, the parser behind every
 * event body (common/validate.c).  It walks one document without
 * building a tree: each call of jscan_next hands over the next value
 * (with its member key inside an object) or the end of a container, as
 * views into the text.
 *
 * It accepts exactly what jansson's json_loadb(JSON_REJECT_DUPLICATES)
 * accepts, and refuses the rest with jansson's message and position,
 * since those reach clients (docs/http-api.md): RFC 8259 grammar with
 * an object or an array at the top; UTF-8 checked everywhere (no
 * overlong forms, no surrogates, nothing above U+10FFFF); escapes and
 * UTF-16 surrogate pairs checked; "\u0000" refused; duplicate keys
 * refused, compared after unescaping; integers within 64 bits and
 * reals within the range of a double (underflow to 0 is fine); NaN and
 * Infinity refused; at most JSCAN_MAX_DEPTH levels.  Like jansson it
 * steps over one NUL byte right after a number or a literal
 * (test/fuzz/fuzz_jscan.c checks all of this against jansson).
 *
 * The scanner allocates only to remember the keys of the open objects
 * (and their unescaped text when a key holds escapes); one struct jscan
 * is reused for many documents, keeping that memory.
 *
 * Why not jansson here, when jansson stays for everything else: every
 * accepted event used to become a jansson tree (an allocation per value,
 * a hash table per object) only to be read once and freed.  Under
 * callgrind that was 72% of the 52 800 instructions ingestd spent per
 * event of a 100-event body, and the batch goal of docs/performance.md
 * (250 000 events a second on two cores) leaves about 4 000 for the
 * whole parse.  No JSON library in Debian parses without a tree and
 * with jansson's exact rules and messages, which clients see; so this
 * scanner reproduces them, and jansson is its oracle in the fuzz target.
 */
#ifndef SN_JSCAN_H
#define SN_JSCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* jansson's JSON_PARSER_MAX_DEPTH and JSON_ERROR_TEXT_LENGTH. */
#define JSCAN_MAX_DEPTH 2048
#define JSCAN_ERR_TEXT  160

enum jscan_type {
	JSCAN_OBJECT = 1,
	JSCAN_ARRAY,
	JSCAN_STRING,
	JSCAN_INTEGER,
	JSCAN_REAL,
	JSCAN_TRUE,
	JSCAN_FALSE,
	JSCAN_NULL,
};

/* A string as written: raw is its text between the quotes. */
struct jscan_str {
	const char *raw;
	size_t rawlen;
	size_t len; /* bytes once unescaped */
	bool esc;   /* holds escapes: unescape with jscan_unescape */
};

/* What jscan_next hands over. */
struct jscan_item {
	enum jscan_type type; /* of the value, or of the container ending */
	bool end;             /* the end of the container opened at depth */
	int depth;            /* 1: the document's value */
	bool has_key;         /* a member of an object: key is its name */
	struct jscan_str key;
	/* The value's text: a scalar's token, a container's opening
	 * bracket; with end, stop is just past the closing one. */
	const char *start, *stop;
	struct jscan_str str; /* JSCAN_STRING */
	int64_t integer;      /* JSCAN_INTEGER */
};

/* jansson's json_error_t, the part ingest uses. */
struct jscan_error {
	char text[JSCAN_ERR_TEXT];
	int line, column;
};

struct jscan_level;
struct jscan_key;

struct jscan {
	const char *doc, *p, *end;
	int depth;
	int state;
	struct jscan_level *lv; /* open containers, lv[0] outermost */
	size_t lvcap;
	struct jscan_key *keys; /* keys of the open objects, in order */
	size_t nkeys, keycap;
	char *arena; /* unescaped keys */
	size_t arenalen, arenacap;
	uint32_t *tab; /* hash index of the keys of big objects */
	size_t tabcap, tabused;
	uint32_t serial; /* numbers objects, for tab */
	/* Line breaks between tokens and NUL bytes stepped over, so far:
	 * whether a value's text holds any (strings cannot) */
	uint64_t breaks;
	const char **skips; /* NUL bytes stepped over (error columns) */
	size_t nskips, skipcap;
	struct jscan_error err;
};

/* A zeroed struct jscan is ready too; jscan_free releases its memory. */
void jscan_init(struct jscan *s);
void jscan_free(struct jscan *s);

/* Starts on the document text[0..len). */
void jscan_begin(struct jscan *s, const char *text, size_t len);

/*
 * The next item of the document: 1 with *it filled, 0 at the end of a
 * well-formed document, -1 on malformed JSON (s->err says why, as
 * jansson would) and -2 when out of memory.  Once it returned 0, -1 or
 * -2 it keeps returning that until the next jscan_begin.
 */
int jscan_next(struct jscan *s, struct jscan_item *it);

/* A JSCAN_INTEGER or JSCAN_REAL item's value as jansson's
 * json_number_value gives it. */
double jscan_number(const struct jscan_item *it);

/* Writes the unescaped bytes of str (str->len of them) to out. */
void jscan_unescape(const struct jscan_str *str, char *out);

bool jscan_str_is_esc(const struct jscan_str *str, const char *lit, size_t len);

/* Whether str unescaped is the len bytes of lit (at most 64 of them). */
static inline bool
jscan_str_is(const struct jscan_str *str, const char *lit, size_t len)
{
	if (str->len != len)
		return false;
	if (!str->esc)
		return memcmp(str->raw, lit, len) == 0;
	return jscan_str_is_esc(str, lit, len);
}

#endif
