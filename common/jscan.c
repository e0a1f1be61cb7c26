/*
 * jscan.c: the strict JSON scanner (see jscan.h).
 *
 * Built as a lexer and a parser the way jansson's loader is, because
 * its messages depend on that split: the lexer reads one whole token
 * (and looks one byte past a number or a literal) before the parser
 * judges it, the first fault found wins, and a message quotes the text
 * of the token at fault (" near '...'", when 20 bytes or less) and the
 * line and column (in characters) reached.  Positions are worked out
 * only when there is an error, from the text.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jscan.h"

#ifdef __SSE2__
#include <emmintrin.h>
#endif

enum {
	ST_ROOT,
	ST_AFTER_ROOT,
	ST_OBJ_FIRST,
	ST_OBJ_NEXT,
	ST_ARR_FIRST,
	ST_ARR_NEXT,
	ST_DONE,
	ST_ERROR,
	ST_NOMEM,
};

/* Tokens: the punctuation as itself, then these. */
enum {
	T_EOF = 0,
	T_STRING = 256,
	T_INTEGER,
	T_REAL,
	T_TRUE,
	T_FALSE,
	T_NULL,
	T_INVALID,
	T_ERROR, /* the lexer set the error */
	T_NOMEM,
};

/* Objects with more keys than this find duplicates through s->tab. */
#define JSCAN_LINEAR_KEYS 16

struct jscan_level {
	const char *open;
	uint32_t key_base, count, serial;
	size_t arena_base;
	bool obj, hashed;
};

struct jscan_key {
	const char *p; /* NULL: in the arena at off */
	size_t off, len;
	uint32_t hash, serial;
};

struct jscan_tok {
	int type;
	const char *start, *stop; /* the text read (jansson's saved text) */
	struct jscan_str str;
	bool nul; /* a string holding \u0000 */
	int64_t integer;
};

void
jscan_init(struct jscan *s)
{
	memset(s, 0, sizeof(*s));
}

void
jscan_free(struct jscan *s)
{
	free(s->lv);
	free(s->keys);
	free(s->arena);
	free(s->tab);
	free(s->skips);
	memset(s, 0, sizeof(*s));
}

void
jscan_begin(struct jscan *s, const char *text, size_t len)
{
	s->doc = s->p = text;
	s->end = text + len;
	s->depth = 0;
	s->state = ST_ROOT;
	s->nkeys = 0;
	s->arenalen = 0;
	s->nskips = 0;
	s->err.text[0] = '\0';
	s->err.line = s->err.column = 0;
}

/* --- errors ---------------------------------------------------------- */

/*
 * Records malformed JSON: msg, with the text read of the token
 * [sv, sv_end) as context, at the position at (one past the last byte
 * read).  utf8: the input could not be decoded (no "near end of file").
 */
static int jscan_fail(struct jscan *s, const char *at, const char *sv,
                      const char *sv_end, bool utf8, const char *fmt, ...)
        __attribute__((format(printf, 6, 7)));

static int
jscan_fail(struct jscan *s, const char *at, const char *sv, const char *sv_end,
           bool utf8, const char *fmt, ...)
{
	char msg[JSCAN_ERR_TEXT];
	const char *q, *ls = s->doc;
	size_t svlen = (size_t)(sv_end - sv), i;
	int line = 1, col = 0, n;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	for (q = s->doc; q < at; q++)
		if (*q == '\n') {
			line++;
			ls = q + 1;
		}
	/* characters: every byte but UTF-8 continuation bytes, and but
	 * the NUL bytes stepped over */
	for (q = ls; q < at; q++)
		if (((unsigned char)*q & 0xc0) != 0x80)
			col++;
	for (i = 0; i < s->nskips; i++)
		if (s->skips[i] >= ls && s->skips[i] < at)
			col--;
	/* as jansson words it; truncated to its 160 bytes the same way */
	if (svlen > 0 && sv[0] != '\0') {
		if (svlen <= 20)
			n = snprintf(s->err.text, sizeof(s->err.text),
			             "%s near '%.*s'", msg,
			             (int)strnlen(sv, svlen), sv);
		else
			n = snprintf(s->err.text, sizeof(s->err.text), "%s",
			             msg);
	} else if (utf8)
		n = snprintf(s->err.text, sizeof(s->err.text), "%s", msg);
	else
		n = snprintf(s->err.text, sizeof(s->err.text),
		             "%s near end of file", msg);
	if (n < 0)
		s->err.text[0] = '\0';
	s->err.line = line;
	s->err.column = col;
	s->state = ST_ERROR;
	return -1;
}

static int
jscan_nomem(struct jscan *s)
{
	s->state = ST_NOMEM;
	snprintf(s->err.text, sizeof(s->err.text), "out of memory");
	return -2;
}

/* Grows *arr of n entries of size sz to hold need; -1 on ENOMEM. */
static int
jscan_grow(void **arr, size_t *cap, size_t need, size_t sz)
{
	size_t ncap = *cap ? *cap : 16;
	void *p;

	if (need <= *cap)
		return 0;
	while (ncap < need)
		ncap *= 2;
	if (ncap > SIZE_MAX / sz || (p = realloc(*arr, ncap * sz)) == NULL)
		return -1;
	*arr = p;
	*cap = ncap;
	return 0;
}

/* --- the lexer ------------------------------------------------------- */

/*
 * The length of the UTF-8 sequence at p (before end), or 0 when it is
 * not one jansson decodes: no overlong forms, no surrogates, nothing
 * above U+10FFFF, no truncated sequence.
 */
static size_t
jscan_utf8(const char *p, const char *end)
{
	const unsigned char *u = (const unsigned char *)p;
	uint32_t v;
	size_t n, i;

	if (u[0] < 0x80)
		return 1;
	if (u[0] < 0xc2)
		return 0;
	if (u[0] <= 0xdf) {
		n = 2;
		v = u[0] & 0x1f;
	} else if (u[0] <= 0xef) {
		n = 3;
		v = u[0] & 0x0f;
	} else if (u[0] <= 0xf4) {
		n = 4;
		v = u[0] & 0x07;
	} else
		return 0;
	if ((size_t)(end - p) < n)
		return 0;
	for (i = 1; i < n; i++) {
		if ((u[i] & 0xc0) != 0x80)
			return 0;
		v = (v << 6) | (u[i] & 0x3f);
	}
	if (v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff) ||
	    (n == 3 && v < 0x800) || (n == 4 && v < 0x10000))
		return 0;
	return n;
}

#define PEEK_EOF (-1)
#define PEEK_ERR (-2)

/* The byte at q as the lexer reads it, with the token begun at tok:
 * PEEK_EOF at the end, PEEK_ERR (error set) when it does not decode. */
static int
jscan_peek(struct jscan *s, const char *q, const char *tok)
{
	unsigned char c;

	if (q >= s->end)
		return PEEK_EOF;
	c = (unsigned char)*q;
	if (c >= 0x80 && jscan_utf8(q, s->end) == 0) {
		jscan_fail(s, q, tok, q, true, "unable to decode byte 0x%x", c);
		return PEEK_ERR;
	}
	return c;
}

static int
jscan_isdigit(int c)
{
	return c >= '0' && c <= '9';
}

static int
jscan_isalpha(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int
jscan_hex(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * A number or a literal ends where the lexer read one byte too many
 * and gave it back; jansson's stream then loses a NUL byte given back,
 * so the next token starts after it.  Returns where it starts, or NULL
 * when out of memory (remembering the NUL for error columns).
 */
static const char *
jscan_after(struct jscan *s, const char *q)
{
	if (q < s->end && *q == '\0') {
		if (jscan_grow((void **)&s->skips, &s->skipcap, s->nskips + 1,
		               sizeof(*s->skips)) < 0)
			return NULL;
		s->skips[s->nskips++] = q;
		s->breaks++;
		return q + 1;
	}
	return q;
}

/* Bytes a string's plain run stops at: quote, backslash, controls and
 * anything not ASCII. */
static const unsigned char jscan_special[256] = {
        ['"'] = 1, ['\\'] = 1,
#define C8(b)                                                        \
	[b] = 1, [b + 1] = 1, [b + 2] = 1, [b + 3] = 1, [b + 4] = 1, \
	[b + 5] = 1, [b + 6] = 1, [b + 7] = 1
        C8(0x00),  C8(0x08),   C8(0x10), C8(0x18), C8(0x80), C8(0x88), C8(0x90),
        C8(0x98),  C8(0xa0),   C8(0xa8), C8(0xb0), C8(0xb8), C8(0xc0), C8(0xc8),
        C8(0xd0),  C8(0xd8),   C8(0xe0), C8(0xe8), C8(0xf0), C8(0xf8),
#undef C8
};

/* The high bit of each of the eight bytes of w that is special (above),
 * with the zero-byte trick: bits above the first may be false ones, but
 * the first is right, and so is whether there is any. */
static inline uint64_t
jscan_special8(uint64_t w)
{
	const uint64_t ones = 0x0101010101010101ull, high = ones << 7;
	uint64_t q = w ^ (ones * '"'), b = w ^ (ones * '\\');

	return (((w - ones * 0x20) & ~w) | ((q - ones) & ~q) |
	        ((b - ones) & ~b) | w) &
	       high;
}

/* Reads the four hex digits of a \u escape at q (after the 'u'). */
static int
jscan_u4(struct jscan *s, const char **qp, const char *tok, uint32_t *v)
{
	const char *q = *qp;
	int c, i, h;

	*v = 0;
	for (i = 0; i < 4; i++) {
		c = jscan_peek(s, q, tok);
		if (c == PEEK_ERR)
			return -1;
		if (c == PEEK_EOF)
			return jscan_fail(s, s->end, tok, s->end, false,
			                  "invalid escape");
		q++; /* read, whatever it is */
		if ((h = jscan_hex(c)) < 0)
			return jscan_fail(s, q, tok, q, false,
			                  "invalid escape");
		*v = (*v << 4) | (uint32_t)h;
	}
	*qp = q;
	return 0;
}

/* A string token; q is at its opening quote. */
static __attribute__((noinline)) int
jscan_lex_string(struct jscan *s, const char *tok, struct jscan_tok *t)
{
	const char *q = tok + 1, *end = s->end, *run;
	char uerr[40];
	uint64_t w;
	uint32_t v, hi = 0;
	size_t len = 0, n;
	bool esc = false, nul = false;
	unsigned char c;
	int e;

	uerr[0] = '\0';
	for (;;) {
		run = q;
#ifdef __SSE2__
		/* sixteen bytes at a time: signed, every byte from 0x80 is
		 * below 0x20 too */
		while (end - q >= 16) {
			__m128i vec = _mm_loadu_si128((const __m128i *)q);
			int m = _mm_movemask_epi8(_mm_or_si128(
			        _mm_or_si128(
			                _mm_cmpeq_epi8(vec, _mm_set1_epi8('"')),
			                _mm_cmpeq_epi8(vec,
			                               _mm_set1_epi8('\\'))),
			        _mm_cmplt_epi8(vec, _mm_set1_epi8(0x20))));

			if (m != 0) {
				q += __builtin_ctz((unsigned)m);
				goto special;
			}
			q += 16;
		}
#endif
		/* eight bytes at a time while none is special */
		while (end - q >= 8) {
			memcpy(&w, q, 8);
			if ((w = jscan_special8(w)) != 0) {
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
				/* the lowest bit set is the first one */
				q += __builtin_ctzll(w) >> 3;
#endif
				break;
			}
			q += 8;
		}
		while (q < end && !jscan_special[(unsigned char)*q])
			q++;
#ifdef __SSE2__
	special:
#endif
		len += (size_t)(q - run);
		if (q >= end)
			return jscan_fail(s, end, tok, end, false,
			                  "premature end of input");
		c = (unsigned char)*q;
		if (c == '"')
			break;
		if (c < 0x20) {
			/* given back: the position is before it */
			if (c == '\n')
				return jscan_fail(s, q, tok, q, false,
				                  "unexpected newline");
			return jscan_fail(s, q, tok, q, false,
			                  "control character 0x%x", c);
		}
		if (c >= 0x80) {
			if ((n = jscan_utf8(q, end)) == 0)
				return jscan_fail(s, q, tok, q, true,
				                  "unable to decode byte 0x%x",
				                  c);
			q += n;
			len += n;
			continue;
		}
		/* a backslash */
		esc = true;
		q++;
		e = jscan_peek(s, q, tok);
		if (e == PEEK_ERR)
			return -1;
		if (e == PEEK_EOF)
			return jscan_fail(s, end, tok, end, false,
			                  "invalid escape");
		q++;
		if (e != 'u') {
			if (!strchr("\"\\/bfnrt", e) || e == 0)
				return jscan_fail(s, q, tok, q, false,
				                  "invalid escape");
			len++;
			if (hi != 0 && uerr[0] == '\0')
				snprintf(uerr, sizeof(uerr),
				         "invalid Unicode '\\u%04X'", hi);
			hi = 0;
			continue;
		}
		if (jscan_u4(s, &q, tok, &v) < 0)
			return -1;
		/* jansson decodes after the closing quote: a fault of the
		 * text later in the string is reported first */
		if (hi != 0) {
			if (v >= 0xdc00 && v <= 0xdfff)
				len += 4;
			else if (uerr[0] == '\0')
				snprintf(uerr, sizeof(uerr),
				         "invalid Unicode '\\u%04X\\u%04X'", hi,
				         v);
			hi = 0;
			continue;
		}
		if (v >= 0xd800 && v <= 0xdbff) {
			if (end - q >= 2 && q[0] == '\\' && q[1] == 'u')
				hi = v; /* paired with the next escape */
			else if (uerr[0] == '\0')
				snprintf(uerr, sizeof(uerr),
				         "invalid Unicode '\\u%04X'", v);
			continue;
		}
		if (v >= 0xdc00 && v <= 0xdfff) {
			if (uerr[0] == '\0')
				snprintf(uerr, sizeof(uerr),
				         "invalid Unicode '\\u%04X'", v);
			continue;
		}
		if (v == 0)
			nul = true;
		len += v < 0x80 ? 1 : v < 0x800 ? 2 : 3;
	}
	q++; /* the closing quote */
	if (uerr[0] != '\0')
		return jscan_fail(s, q, tok, q, false, "%s", uerr);
	t->type = T_STRING;
	t->stop = q;
	t->str.raw = tok + 1;
	t->str.rawlen = (size_t)(q - 1 - (tok + 1));
	t->str.len = len;
	t->str.esc = esc;
	t->nul = nul;
	s->p = q;
	return 0;
}

/*
 * The value of the number [p, stop) (JSON grammar, already checked)
 * with strtod's correct rounding, from a locale-independent text of at
 * most 800 significant digits ("DDDe-N"; a longer mantissa keeps a
 * sticky last digit, which rounds the same).
 */
static double
jscan_strtod(const char *p, const char *stop)
{
	char buf[840];
	size_t n = 0, nd = 0, dropped = 0;
	long long exp = 0, e10 = 0;
	bool neg = false, frac = false, nz = false, sticky = false;

	if (*p == '-') {
		neg = true;
		p++;
	}
	if (neg)
		buf[n++] = '-';
	for (; p < stop && *p != 'e' && *p != 'E'; p++) {
		if (*p == '.') {
			frac = true;
			continue;
		}
		if (frac)
			e10--;
		if (!nz && *p == '0')
			continue; /* leading zeros */
		nz = true;
		if (nd < 780) {
			buf[n++] = *p;
			nd++;
		} else {
			dropped++;
			if (*p != '0')
				sticky = true;
		}
	}
	if (p < stop) {
		bool eneg = false;

		p++;
		if (*p == '+' || *p == '-')
			eneg = *p++ == '-';
		for (; p < stop; p++)
			if (exp < 100000000)
				exp = exp * 10 + (*p - '0');
		if (eneg)
			exp = -exp;
	}
	if (nd == 0)
		return neg ? -0.0 : 0.0;
	if (sticky) {
		buf[n++] = '1';
		dropped--;
	}
	e10 += exp + (long long)dropped;
	snprintf(buf + n, sizeof(buf) - n, "e%lld", e10);
	return strtod(buf, NULL);
}

static const double jscan_pow10[] = {
        1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
        1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};

/* A real's value: exact arithmetic when the decimal has at most 15
 * significant digits and a small exponent (Clinger's fast path), else
 * jscan_strtod. */
static double
jscan_real(const char *start, const char *stop)
{
	const char *p = start;
	uint64_t m = 0;
	int nd = 0, e10 = 0, exp = 0, eneg = 0;
	bool neg = false, frac = false, nz = false;
	double d;

	if (*p == '-') {
		neg = true;
		p++;
	}
	for (; p < stop && *p != 'e' && *p != 'E'; p++) {
		if (*p == '.') {
			frac = true;
			continue;
		}
		if (frac)
			e10--;
		if (!nz && *p == '0')
			continue;
		nz = true;
		if (++nd > 15)
			return jscan_strtod(start, stop);
		m = m * 10 + (uint64_t)(*p - '0');
	}
	if (p < stop) {
		p++;
		if (*p == '+' || *p == '-')
			eneg = *p++ == '-';
		for (; p < stop; p++) {
			exp = exp * 10 + (*p - '0');
			if (exp > 1000)
				return jscan_strtod(start, stop);
		}
	}
	e10 += eneg ? -exp : exp;
	if (m == 0)
		d = 0.0;
	else if (e10 >= 0 && e10 <= 22)
		d = (double)m * jscan_pow10[e10];
	else if (e10 < 0 && e10 >= -22)
		d = (double)m / jscan_pow10[-e10];
	else
		return jscan_strtod(start, stop);
	return neg ? -d : d;
}

/*
 * Whether the real [start, stop) is beyond the range of a double
 * (jansson: strtod's ERANGE with HUGE_VAL).  Below 10^308 it cannot be,
 * which the position of its first significant digit tells.
 */
static bool
jscan_overflows(const char *start, const char *stop)
{
	const char *p = start;
	long long e = 0, exp = 0;
	bool eneg = false;

	if (*p == '-')
		p++;
	if (*p != '0') {
		/* n integer digits: below 10^n */
		for (; p < stop && jscan_isdigit(*p); p++)
			e++;
		if (p < stop && *p == '.')
			for (p++; p < stop && jscan_isdigit(*p); p++)
				;
	} else {
		/* 0.000ddd: below 10^-(zeros) */
		p++;
		if (p < stop && *p == '.') {
			for (p++; p < stop && *p == '0'; p++)
				e--;
			if (p == stop || !jscan_isdigit(*p))
				return false; /* zero */
			for (; p < stop && jscan_isdigit(*p); p++)
				;
		} else
			return false;
	}
	if (p < stop) {
		p++; /* e */
		if (*p == '+' || *p == '-')
			eneg = *p++ == '-';
		for (; p < stop; p++)
			if (exp < 100000000)
				exp = exp * 10 + (*p - '0');
	}
	e += eneg ? -exp : exp;
	if (e <= 308)
		return false;
	return isinf(jscan_strtod(start, stop));
}

/*
 * The run of digits at *q, whose first character c already holds: moves
 * *q past it and leaves the character after it in *c.  1, 0 when there
 * is no digit at *q, -1 when peeking failed.
 */
static int
jscan_digits(struct jscan *s, const char **q, const char *tok, int *c)
{
	if (!jscan_isdigit(*c))
		return 0;
	do
		(*q)++;
	while ((*c = jscan_peek(s, *q, tok)) >= 0 && jscan_isdigit(*c));
	return *c == PEEK_ERR ? -1 : 1;
}

/* A number token; tok is at its first byte ('-' or a digit). */
static __attribute__((noinline)) int
jscan_lex_number(struct jscan *s, const char *tok, struct jscan_tok *t)
{
	const char *q = tok, *ds, *next;
	uint64_t u = 0;
	bool neg = false;
	int c, rc;

	t->type = T_INVALID;
	if (*q == '-') {
		neg = true;
		q++;
	}
	c = jscan_peek(s, q, tok);
	if (c == PEEK_ERR)
		return -1;
	if (c == '0') {
		q++;
		if ((c = jscan_peek(s, q, tok)) == PEEK_ERR)
			return -1;
		if (jscan_isdigit(c))
			goto invalid; /* 01: given back, "0" is the token */
	} else if (jscan_isdigit(c)) {
		do
			q++;
		while ((c = jscan_peek(s, q, tok)) >= 0 && jscan_isdigit(c));
		if (c == PEEK_ERR)
			return -1;
	} else
		goto invalid; /* "-" alone */
	if (c != '.' && c != 'e' && c != 'E') {
		ds = tok + (neg ? 1 : 0);
		if (q - ds > 19)
			goto too_big;
		for (; ds < q; ds++)
			u = u * 10 + (uint64_t)(*ds - '0');
		if (neg ? u > (uint64_t)INT64_MAX + 1 : u > (uint64_t)INT64_MAX)
			goto too_big;
		t->type = T_INTEGER;
		t->integer = neg ? (int64_t)(0 - u) : (int64_t)u;
		goto done;
	}
	if (c == '.') {
		q++;
		if ((c = jscan_peek(s, q, tok)) == PEEK_ERR)
			return -1;
		if ((rc = jscan_digits(s, &q, tok, &c)) <= 0) {
			if (rc < 0)
				return -1;
			goto invalid;
		}
	}
	if (c == 'e' || c == 'E') {
		q++;
		if ((c = jscan_peek(s, q, tok)) == PEEK_ERR)
			return -1;
		if (c == '+' || c == '-') {
			q++;
			if ((c = jscan_peek(s, q, tok)) == PEEK_ERR)
				return -1;
		}
		if ((rc = jscan_digits(s, &q, tok, &c)) <= 0) {
			if (rc < 0)
				return -1;
			goto invalid;
		}
	}
	if (jscan_overflows(tok, q))
		return jscan_fail(s, q, tok, q, false, "real number overflow");
	t->type = T_REAL;
done:
	t->stop = q;
	if ((next = jscan_after(s, q)) == NULL)
		return -2;
	s->p = next;
	return 0;
too_big:
	return jscan_fail(s, q, tok, q, false,
	                  neg ? "too big negative integer" : "too big integer");
invalid:
	t->stop = q;
	s->p = q;
	return 0;
}

/* The next token into t, the general way (jscan_lex). */
static int
jscan_lex_slow(struct jscan *s, struct jscan_tok *t)
{
	const char *p = s->p, *end = s->end, *q, *next;
	unsigned char c;
	size_t n;
	int e;

	for (; p < end; p++) {
		if (*p == '\n' || *p == '\r')
			s->breaks++;
		else if (*p != ' ' && *p != '\t')
			break;
	}
	t->start = p;
	if (p >= end) {
		t->type = T_EOF;
		t->stop = p;
		s->p = p;
		return 0;
	}
	c = (unsigned char)*p;
	switch (c) {
	case '{':
	case '}':
	case '[':
	case ']':
	case ':':
	case ',':
		t->type = c;
		t->stop = s->p = p + 1;
		return 0;
	case '"':
		return jscan_lex_string(s, p, t);
	case '-':
	case '0':
	case '1':
	case '2':
	case '3':
	case '4':
	case '5':
	case '6':
	case '7':
	case '8':
	case '9':
		return jscan_lex_number(s, p, t);
	default:
		break;
	}
	if (jscan_isalpha(c)) {
		q = p;
		do
			q++;
		while ((e = jscan_peek(s, q, p)) >= 0 && jscan_isalpha(e));
		if (e == PEEK_ERR)
			return -1;
		t->stop = q;
		n = (size_t)(q - p);
		if (n == 4 && memcmp(p, "true", 4) == 0)
			t->type = T_TRUE;
		else if (n == 5 && memcmp(p, "false", 5) == 0)
			t->type = T_FALSE;
		else if (n == 4 && memcmp(p, "null", 4) == 0)
			t->type = T_NULL;
		else {
			t->type = T_INVALID;
			s->p = q;
			return 0;
		}
		if ((next = jscan_after(s, q)) == NULL)
			return -2;
		s->p = next;
		return 0;
	}
	if (c >= 0x80) {
		if ((n = jscan_utf8(p, end)) == 0)
			return jscan_fail(s, p, p, p, true,
			                  "unable to decode byte 0x%x", c);
	} else
		n = 1;
	/* anything else: an invalid token of one character */
	t->type = T_INVALID;
	t->stop = s->p = p + n;
	return 0;
}

/* The next token into t.  Returns 0, -1 (error set) or -2 (ENOMEM).
 * A string or a number right there (no blank before it) is the common
 * case, taken straight. */
static inline int
jscan_lex(struct jscan *s, struct jscan_tok *t)
{
	const char *p = s->p;

	if (p < s->end) {
		if (*p == '"') {
			t->start = p;
			return jscan_lex_string(s, p, t);
		}
		if (jscan_isdigit(*p)) {
			t->start = p;
			return jscan_lex_number(s, p, t);
		}
	}
	return jscan_lex_slow(s, t);
}

/* --- keys ------------------------------------------------------------ */

static uint32_t
jscan_hash(const char *p, size_t len)
{
	uint32_t h = 2166136261u;
	size_t i;

	for (i = 0; i < len; i++)
		h = (h ^ (unsigned char)p[i]) * 16777619u;
	return h;
}

static const char *
jscan_key_text(const struct jscan *s, const struct jscan_key *k)
{
	return k->p != NULL ? k->p : s->arena + k->off;
}

static void
jscan_tab_put(struct jscan *s, uint32_t idx)
{
	size_t mask = s->tabcap - 1, i = s->keys[idx].hash & mask;

	while (s->tab[i] != 0)
		i = (i + 1) & mask;
	s->tab[i] = idx + 1;
	s->tabused++;
}

/* Rebuilds the index to hold the keys of the open big objects and
 * one more; -1 on ENOMEM. */
static int
jscan_tab_rebuild(struct jscan *s)
{
	size_t live = 1, cap = 256;
	uint32_t *t, k;
	int d;

	for (d = 0; d < s->depth; d++)
		if (s->lv[d].hashed)
			live += s->lv[d].count;
	while (cap < 4 * live)
		cap *= 2;
	if (cap != s->tabcap) {
		if ((t = malloc(cap * sizeof(*t))) == NULL)
			return -1;
		free(s->tab);
		s->tab = t;
		s->tabcap = cap;
	}
	memset(s->tab, 0, s->tabcap * sizeof(*s->tab));
	s->tabused = 0;
	for (d = 0; d < s->depth; d++)
		if (s->lv[d].hashed)
			for (k = s->lv[d].key_base;
			     k < s->lv[d].key_base + s->lv[d].count; k++)
				jscan_tab_put(s, k);
	return 0;
}

/*
 * Adds the key of t to the innermost object.  Returns 0, 1 when the
 * object has it already, -2 on ENOMEM.
 */
static int
jscan_add_key(struct jscan *s, const struct jscan_tok *t)
{
	struct jscan_level *lv = &s->lv[s->depth - 1];
	struct jscan_key *k;
	const char *kp;
	size_t len = t->str.len, i, mask;
	uint32_t h = 0, idx;

	if (s->nkeys >= s->keycap &&
	    jscan_grow((void **)&s->keys, &s->keycap, s->nkeys + 1,
	               sizeof(*s->keys)) < 0)
		return -2;
	k = &s->keys[s->nkeys];
	if (t->str.esc) {
		if (jscan_grow((void **)&s->arena, &s->arenacap,
		               s->arenalen + len + 1, 1) < 0)
			return -2;
		jscan_unescape(&t->str, s->arena + s->arenalen);
		k->p = NULL;
		k->off = s->arenalen;
		kp = s->arena + s->arenalen;
	} else {
		k->p = kp = t->str.raw;
		k->off = 0;
	}
	k->len = len;
	k->serial = lv->serial;
	if (!lv->hashed) {
		for (i = lv->key_base; i < s->nkeys; i++)
			if (s->keys[i].len == len &&
			    memcmp(jscan_key_text(s, &s->keys[i]), kp, len) ==
			            0)
				return 1;
	} else {
		h = jscan_hash(kp, len);
		mask = s->tabcap - 1;
		for (i = h & mask; s->tab[i] != 0; i = (i + 1) & mask) {
			const struct jscan_key *o;

			idx = s->tab[i] - 1;
			if (idx >= s->nkeys)
				continue;
			o = &s->keys[idx];
			if (o->serial == lv->serial && o->hash == h &&
			    o->len == len &&
			    memcmp(jscan_key_text(s, o), kp, len) == 0)
				return 1;
		}
	}
	k->hash = h;
	if (t->str.esc)
		s->arenalen += len;
	s->nkeys++;
	lv->count++;
	if (lv->hashed) {
		if ((s->tabused + 1) * 2 > s->tabcap) {
			if (jscan_tab_rebuild(s) < 0)
				return -2;
		} else
			jscan_tab_put(s, s->nkeys - 1);
	} else if (lv->count > JSCAN_LINEAR_KEYS) {
		for (idx = lv->key_base; idx < s->nkeys; idx++)
			s->keys[idx].hash =
			        jscan_hash(jscan_key_text(s, &s->keys[idx]),
			                   s->keys[idx].len);
		lv->hashed = true;
		if (jscan_tab_rebuild(s) < 0)
			return -2;
	}
	return 0;
}

/* --- the parser ------------------------------------------------------ */

static int
jscan_tok_fail(struct jscan *s, const struct jscan_tok *t, const char *msg)
{
	return jscan_fail(s, t->stop, t->start, t->stop, false, "%s", msg);
}

static void
jscan_next_state(struct jscan *s)
{
	if (s->depth == 0)
		s->state = ST_AFTER_ROOT;
	else
		s->state = s->lv[s->depth - 1].obj ? ST_OBJ_NEXT : ST_ARR_NEXT;
}

static int
jscan_lexed(struct jscan *s, int rc)
{
	if (rc == -2)
		return jscan_nomem(s);
	return rc;
}

/*
 * Steps over blanks to the next byte: the fast way to the punctuation
 * expected between values, which needs no token.  Anything else goes
 * through jscan_lex, which reads it whole for the error message.
 */
static inline int
jscan_skip(struct jscan *s)
{
	const char *p = s->p, *end = s->end;

	for (; p < end; p++) {
		if (*p == '\n' || *p == '\r')
			s->breaks++;
		else if (*p != ' ' && *p != '\t')
			break;
	}
	s->p = p;
	return p < end ? (unsigned char)*p : -1;
}

/* The value t (the member key when key is set) into it. */
static int
jscan_value(struct jscan *s, const struct jscan_tok *t,
            const struct jscan_str *key, struct jscan_item *it)
{
	struct jscan_level *lv;

	if (s->depth + 1 > JSCAN_MAX_DEPTH)
		return jscan_tok_fail(s, t, "maximum parsing depth reached");
	it->end = false;
	it->depth = s->depth + 1;
	it->has_key = key != NULL;
	if (key != NULL)
		it->key = *key;
	it->start = t->start;
	it->stop = t->stop;
	switch (t->type) {
	case T_STRING:
		if (t->nul)
			return jscan_tok_fail(s, t,
			                      "\\u0000 is not allowed without "
			                      "JSON_ALLOW_NUL");
		it->type = JSCAN_STRING;
		it->str = t->str;
		break;
	case T_INTEGER:
		it->type = JSCAN_INTEGER;
		it->integer = t->integer;
		break;
	case T_REAL:
		it->type = JSCAN_REAL;
		break;
	case T_TRUE:
		it->type = JSCAN_TRUE;
		break;
	case T_FALSE:
		it->type = JSCAN_FALSE;
		break;
	case T_NULL:
		it->type = JSCAN_NULL;
		break;
	case '{':
	case '[':
		if ((size_t)s->depth >= s->lvcap &&
		    jscan_grow((void **)&s->lv, &s->lvcap, (size_t)s->depth + 1,
		               sizeof(*s->lv)) < 0)
			return jscan_nomem(s);
		lv = &s->lv[s->depth++];
		lv->open = t->start;
		lv->obj = t->type == '{';
		lv->key_base = (uint32_t)s->nkeys;
		lv->count = 0;
		lv->serial = ++s->serial;
		lv->arena_base = s->arenalen;
		lv->hashed = false;
		it->type = lv->obj ? JSCAN_OBJECT : JSCAN_ARRAY;
		s->state = lv->obj ? ST_OBJ_FIRST : ST_ARR_FIRST;
		return 1;
	case T_INVALID:
		return jscan_tok_fail(s, t, "invalid token");
	default:
		return jscan_tok_fail(s, t, "unexpected token");
	}
	jscan_next_state(s);
	return 1;
}

/* The end of the innermost container, at t. */
static int
jscan_close(struct jscan *s, const char *stop, struct jscan_item *it)
{
	struct jscan_level *lv = &s->lv[s->depth - 1];

	it->end = true;
	it->type = lv->obj ? JSCAN_OBJECT : JSCAN_ARRAY;
	it->depth = s->depth;
	it->has_key = false;
	it->start = lv->open;
	it->stop = stop;
	s->nkeys = lv->key_base;
	s->arenalen = lv->arena_base;
	s->depth--;
	jscan_next_state(s);
	return 1;
}

/* A member of an object, t its key. */
static int
jscan_member(struct jscan *s, struct jscan_tok *t, struct jscan_item *it)
{
	struct jscan_str key;
	int rc;

	if (t->type != T_STRING)
		return jscan_tok_fail(s, t, "string or '}' expected");
	if (t->nul)
		return jscan_tok_fail(s, t,
		                      "NUL byte in object key not supported");
	if ((rc = jscan_add_key(s, t)) == -2)
		return jscan_nomem(s);
	if (rc == 1)
		return jscan_tok_fail(s, t, "duplicate object key");
	key = t->str;
	if (jscan_skip(s) == ':')
		s->p++;
	else {
		if ((rc = jscan_lexed(s, jscan_lex(s, t))) < 0)
			return rc;
		return jscan_tok_fail(s, t, "':' expected");
	}
	if ((rc = jscan_lexed(s, jscan_lex(s, t))) < 0)
		return rc;
	return jscan_value(s, t, &key, it);
}

int
jscan_next(struct jscan *s, struct jscan_item *it)
{
	struct jscan_tok t;
	int rc, c;

	switch (s->state) {
	case ST_DONE:
		return 0;
	case ST_ERROR:
		return -1;
	case ST_NOMEM:
		return -2;
	case ST_OBJ_NEXT:
	case ST_ARR_NEXT:
		c = jscan_skip(s);
		if (c == ',') {
			s->p++;
			if ((rc = jscan_lexed(s, jscan_lex(s, &t))) < 0)
				return rc;
			if (s->state == ST_OBJ_NEXT)
				return jscan_member(s, &t, it);
			if (t.type == T_EOF)
				return jscan_tok_fail(s, &t, "']' expected");
			return jscan_value(s, &t, NULL, it);
		}
		if (c == (s->state == ST_OBJ_NEXT ? '}' : ']'))
			return jscan_close(s, ++s->p, it);
		break;
	default:
		break;
	}
	if ((rc = jscan_lexed(s, jscan_lex(s, &t))) < 0)
		return rc;
	switch (s->state) {
	case ST_ROOT:
		if (t.type != '[' && t.type != '{')
			return jscan_tok_fail(s, &t, "'[' or '{' expected");
		return jscan_value(s, &t, NULL, it);
	case ST_AFTER_ROOT:
		if (t.type != T_EOF)
			return jscan_tok_fail(s, &t, "end of file expected");
		s->state = ST_DONE;
		return 0;
	case ST_OBJ_FIRST:
		if (t.type == '}')
			return jscan_close(s, t.stop, it);
		return jscan_member(s, &t, it);
	case ST_OBJ_NEXT:
		if (t.type == '}')
			return jscan_close(s, t.stop, it);
		if (t.type != ',')
			return jscan_tok_fail(s, &t, "'}' expected");
		if ((rc = jscan_lexed(s, jscan_lex(s, &t))) < 0)
			return rc;
		return jscan_member(s, &t, it);
	case ST_ARR_FIRST:
		if (t.type == ']')
			return jscan_close(s, t.stop, it);
		if (t.type == T_EOF)
			return jscan_tok_fail(s, &t, "']' expected");
		return jscan_value(s, &t, NULL, it);
	default: /* ST_ARR_NEXT */
		if (t.type == ']')
			return jscan_close(s, t.stop, it);
		if (t.type != ',')
			return jscan_tok_fail(s, &t, "']' expected");
		if ((rc = jscan_lexed(s, jscan_lex(s, &t))) < 0)
			return rc;
		if (t.type == T_EOF)
			return jscan_tok_fail(s, &t, "']' expected");
		return jscan_value(s, &t, NULL, it);
	}
}

/* --- values ---------------------------------------------------------- */

double
jscan_number(const struct jscan_item *it)
{
	if (it->type == JSCAN_INTEGER)
		return (double)it->integer;
	return jscan_real(it->start, it->stop);
}

void
jscan_unescape(const struct jscan_str *str, char *out)
{
	const char *p = str->raw, *end = p + str->rawlen;
	uint32_t v, lo;
	int i;

	if (!str->esc) {
		memcpy(out, p, str->rawlen);
		return;
	}
	while (p < end) {
		if (*p != '\\') {
			*out++ = *p++;
			continue;
		}
		p++;
		switch (*p++) {
		case 'b':
			*out++ = '\b';
			continue;
		case 'f':
			*out++ = '\f';
			continue;
		case 'n':
			*out++ = '\n';
			continue;
		case 'r':
			*out++ = '\r';
			continue;
		case 't':
			*out++ = '\t';
			continue;
		case 'u':
			break;
		default: /* " \ / */
			*out++ = p[-1];
			continue;
		}
		for (v = 0, i = 0; i < 4; i++)
			v = (v << 4) | (uint32_t)jscan_hex(*p++);
		if (v >= 0xd800 && v <= 0xdbff) {
			/* checked: a low surrogate's \u follows */
			for (lo = 0, i = 2; i < 6; i++)
				lo = (lo << 4) | (uint32_t)jscan_hex(p[i]);
			p += 6;
			v = 0x10000 + ((v - 0xd800) << 10) + (lo - 0xdc00);
		}
		if (v < 0x80) {
			*out++ = (char)v;
		} else if (v < 0x800) {
			*out++ = (char)(0xc0 | (v >> 6));
			*out++ = (char)(0x80 | (v & 0x3f));
		} else if (v < 0x10000) {
			*out++ = (char)(0xe0 | (v >> 12));
			*out++ = (char)(0x80 | ((v >> 6) & 0x3f));
			*out++ = (char)(0x80 | (v & 0x3f));
		} else {
			*out++ = (char)(0xf0 | (v >> 18));
			*out++ = (char)(0x80 | ((v >> 12) & 0x3f));
			*out++ = (char)(0x80 | ((v >> 6) & 0x3f));
			*out++ = (char)(0x80 | (v & 0x3f));
		}
	}
}

bool
jscan_str_is_esc(const struct jscan_str *str, const char *lit, size_t len)
{
	char buf[64];

	if (str->len != len)
		return false;
	if (!str->esc)
		return memcmp(str->raw, lit, len) == 0;
	if (len > sizeof(buf))
		return false; /* not asked for */
	jscan_unescape(str, buf);
	return memcmp(buf, lit, len) == 0;
}
