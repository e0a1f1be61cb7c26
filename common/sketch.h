/*
 * sketch.h: a bounded-memory quantile sketch for windowed p50/p90/p95/p99
 * (threshold aggregations) without keeping a sorted copy of the window.
 *
 * Log-bucketed like DDSketch: a value v > 0 goes to bucket
 * ceil(log_gamma(v)) with gamma = (1 + a) / (1 - a), so any quantile is
 * answered within relative error a of a value of the window (zero and
 * negative values are kept in their own counters/buckets).  At most
 * max_bins buckets are kept; when a new one would exceed that, the lowest
 * buckets are merged, which only loses accuracy at the low end, far from
 * the p90-p99 that alerting asks for.
 *
 * The sketch is one flat block of memory of qsketch_size(max_bins)
 * bytes, with no pointers inside: detector state can be copied with
 * memcpy (for `sentinel-cli detectors test`) and written to disk as is.
 */
#ifndef SN_SKETCH_H
#define SN_SKETCH_H

#include <stddef.h>
#include <stdint.h>

#define QSKETCH_DEFAULT_ERROR 0.01 /* 1% relative error */
#define QSKETCH_DEFAULT_BINS  512

struct qsketch;

/* Bytes needed for a sketch of max_bins buckets. */
size_t qsketch_size(unsigned max_bins);
/* Initialises the block at mem (qsketch_size bytes) as an empty sketch. */
struct qsketch *qsketch_init(void *mem, double rel_error, unsigned max_bins);
void qsketch_reset(struct qsketch *s);
/* Adds one value (NaN and infinities are ignored). */
void qsketch_add(struct qsketch *s, double v);
uint64_t qsketch_count(const struct qsketch *s);
/* The q-quantile (0 <= q <= 1) of the values added, within the relative
 * error; NAN when empty. */
double qsketch_quantile(const struct qsketch *s, double q);
/* The stated relative error of the answers. */
double qsketch_error(const struct qsketch *s);

#endif
