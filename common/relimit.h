/*
 * relimit.h: regcomp with a size budget, for patterns from outside
 * (alerts.yaml match_re, silence matchers sent to alertd).
 *
 * glibc's regcomp copies a subexpression for every repetition that is
 * not * or ?: a+ becomes aa*, a{3,5} five copies of a, and nested ones
 * multiply.  "a++++++++++++++++++++" (twenty +) takes 700 MB and three
 * seconds to compile.  Repetitions of repetitions also make its
 * epsilon closures exponential: "^(a++++*+++++)$" takes ten seconds,
 * nine nested levels of (...)+ and (...)* never end.  Both found by
 * test/fuzz/fuzz_ctl.c through alerts.silence.add.
 */
#ifndef SN_RELIMIT_H
#define SN_RELIMIT_H

#include <regex.h>

/*
 * Copies of atoms that repetitions may add to a pattern: about 10 MB
 * of compiled pattern at most (a{1,1000}), RE2's default limit too.
 * An interval's bound may not pass 1000 either, as in RE2 (which
 * Alertmanager's matchers use).
 */
#define SN_REGEX_BUDGET     1000
#define SN_REGEX_MAX_REPEAT 1000
/*
 * Repetitions that may apply to one atom, stacked (a+*) or through
 * groups ((a+)*): eight take milliseconds, nine forever.  Two or three
 * is what a label matcher needs.
 */
#define SN_REGEX_MAX_NESTED 4

/*
 * The copies of atoms that repetitions add when regcomp expands
 * pattern: the sum over its atoms of the product of the repetitions
 * around each (+ counts 2, {m,n} n, {m,} m + 1, * and ? 1), less one
 * per atom; huge for an interval past SN_REGEX_MAX_REPEAT.  Pure:
 * parses POSIX ERE with glibc's escapes.
 */
unsigned long long sn_regex_copies(const char *pattern);
/* The most repetitions that apply to one atom of pattern. */
unsigned sn_regex_nested(const char *pattern);

/*
 * regcomp(re, pattern, cflags), or REG_ESIZE ("Regular expression too
 * big" from regerror) without compiling when pattern's copies are over
 * SN_REGEX_BUDGET or its nesting over SN_REGEX_MAX_NESTED.  On an error
 * re needs no regfree.
 */
int sn_regcomp(regex_t *re, const char *pattern, int cflags);

#endif
