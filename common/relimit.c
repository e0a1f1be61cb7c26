/*
 * relimit.c: regcomp with a size budget (see relimit.h).
 */
#include <stdlib.h>
#include <string.h>

#include "relimit.h"

/* Nesting deeper than this is refused by the budget too. */
#define RE_MAX_DEPTH 64
/* Sizes saturate here, far above any budget, so nothing overflows. */
#define RE_CAP ((re_size)1 << 40)

#define RE_MAX(a, b) ((a) > (b) ? (a) : (b))

typedef unsigned long long re_size;

static re_size
re_mul(re_size a, re_size b)
{
	if (a != 0 && b > RE_CAP / a)
		return RE_CAP;
	return a * b;
}

static re_size
re_add(re_size a, re_size b)
{
	return a + b > RE_CAP ? RE_CAP : a + b;
}

/*
 * Reads an interval {m}, {m,}, {m,n} or {,n} at p (on the '{').
 * Returns the number of copies it makes (RE_CAP past SN_REGEX_MAX_REPEAT)
 * and sets *end past the '}', or 0 when it is no interval.
 */
static re_size
re_interval(const char *p, const char **end)
{
	re_size m = 0, n = 0;
	int has_m = 0, comma = 0, has_n = 0;

	for (p++; *p >= '0' && *p <= '9'; p++, has_m = 1)
		m = re_add(re_mul(m, 10), (re_size)(*p - '0'));
	if (*p == ',') {
		comma = 1;
		for (p++; *p >= '0' && *p <= '9'; p++, has_n = 1)
			n = re_add(re_mul(n, 10), (re_size)(*p - '0'));
	}
	if (*p != '}' || (!has_m && !has_n))
		return 0;
	*end = p + 1;
	if (m > SN_REGEX_MAX_REPEAT || n > SN_REGEX_MAX_REPEAT)
		return RE_CAP;
	if (!comma)
		return m > 0 ? m : 1;
	if (!has_n)
		return re_add(m, 1); /* m copies, then a star */
	return n > 0 ? n : 1;
}

/* Skips a bracket expression at p (on the '['); returns past its ']'. */
static const char *
re_bracket(const char *p)
{
	char close;

	p++;
	if (*p == '^')
		p++;
	if (*p == ']') /* a literal ] first */
		p++;
	while (*p != '\0' && *p != ']') {
		if (p[0] == '[' &&
		    (p[1] == ':' || p[1] == '.' || p[1] == '=')) {
			close = p[1];
			for (p += 2;
			     *p != '\0' && !(p[0] == close && p[1] == ']'); p++)
				;
			if (*p != '\0')
				p += 2;
			continue;
		}
		p++;
	}
	return *p == ']' ? p + 1 : p;
}

/* What sn_regex_walk measures of a pattern. */
struct re_measure {
	re_size copies;  /* copies of atoms repetitions add */
	unsigned nested; /* most repetitions applying to one atom */
};

/*
 * One pass over pattern.  Per open group: the size of the elements and
 * alternatives done and of the last element (which a repetition may
 * multiply), and the same for the repetitions nested in them.
 */
static void
re_walk(const char *pattern, struct re_measure *m)
{
	re_size sum[RE_MAX_DEPTH + 1], last[RE_MAX_DEPTH + 1], inner, f = 1;
	unsigned nmax[RE_MAX_DEPTH + 1], nlast[RE_MAX_DEPTH + 1], ninner;
	re_size atoms = 0;
	const char *p = pattern, *end;
	int d = 0;

	sum[0] = last[0] = 0;
	nmax[0] = nlast[0] = 0;
	while (*p != '\0') {
		switch (*p) {
		case '(':
			if (d == RE_MAX_DEPTH) {
				m->copies = RE_CAP;
				m->nested = RE_MAX_DEPTH;
				return;
			}
			sum[d] = re_add(sum[d], last[d]);
			nmax[d] = RE_MAX(nmax[d], nlast[d]);
			last[d] = nlast[d] = 0;
			d++;
			sum[d] = last[d] = 0;
			nmax[d] = nlast[d] = 0;
			p++;
			continue;
		case ')':
			if (d == 0)
				goto atom; /* a literal ) */
			inner = re_add(sum[d], last[d]);
			ninner = RE_MAX(nmax[d], nlast[d]);
			d--;
			last[d] = inner > 0 ? inner : 1;
			nlast[d] = ninner;
			p++;
			continue;
		case '|':
			sum[d] = re_add(sum[d], last[d]);
			nmax[d] = RE_MAX(nmax[d], nlast[d]);
			last[d] = nlast[d] = 0;
			p++;
			continue;
		case '*':
		case '?':
		case '+':
			f = *p == '+' ? 2 : 1;
			p++;
			break;
		case '{':
			if ((f = re_interval(p, &end)) == 0)
				goto atom; /* a literal { */
			p = end;
			break;
		default:
			goto atom;
		}
		/* a repetition of the last element */
		if (last[d] == 0)
			last[d] = 1; /* nothing to repeat: literal */
		last[d] = re_mul(last[d], f);
		nlast[d]++;
		continue;
	atom:
		/* a character, an escape or a bracket expression */
		sum[d] = re_add(sum[d], last[d]);
		nmax[d] = RE_MAX(nmax[d], nlast[d]);
		last[d] = 1;
		nlast[d] = 0;
		atoms++;
		if (*p == '[')
			p = re_bracket(p);
		else if (*p == '\\' && p[1] != '\0')
			p += 2;
		else
			p++;
	}
	/* unclosed groups: regcomp refuses them, count them anyway */
	inner = 0;
	ninner = 0;
	for (; d >= 0; d--) {
		inner = re_add(inner, re_add(sum[d], last[d]));
		ninner = RE_MAX(ninner, RE_MAX(nmax[d], nlast[d]));
	}
	m->copies = inner > atoms ? inner - atoms : 0;
	m->nested = ninner;
}

unsigned long long
sn_regex_copies(const char *pattern)
{
	struct re_measure m;

	re_walk(pattern, &m);
	return m.copies;
}

unsigned
sn_regex_nested(const char *pattern)
{
	struct re_measure m;

	re_walk(pattern, &m);
	return m.nested;
}

int
sn_regcomp(regex_t *re, const char *pattern, int cflags)
{
	struct re_measure m;

	re_walk(pattern, &m);
	if (m.copies > SN_REGEX_BUDGET || m.nested > SN_REGEX_MAX_NESTED)
		return REG_ESIZE;
	return regcomp(re, pattern, cflags);
}
