/*
 * bench_args.h: what the load generators (loadgen.c, grpc_stream.c)
 * share for their command lines.  Each is its own program, so static.
 */
#ifndef SN_BENCH_ARGS_H
#define SN_BENCH_ARGS_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

/* The number s of option --opt, in [min, max], or exit 2 saying why. */
static double
bench_num(const char *prog, const char *opt, const char *s, double min,
          double max)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || !(v >= min) ||
	    !(v <= max)) {
		fprintf(stderr, "%s: --%s: want a number in [%g, %g]\n", prog,
		        opt, min, max);
		exit(2);
	}
	return v;
}

#endif
