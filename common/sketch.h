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
 *
 * Users: detectd's windows (threshold aggregations p50..p99), and
 * stored's rollups (stored/rollup.c), which keep one sketch per bucket,
 * store it with qsketch_encode (a compact form holding only the occupied
 * buckets) and combine buckets with qsketch_merge/qsketch_merge_encoded:
 * a merged sketch answers within the same relative error as one fed the
 * values directly.
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

/*
 * Adds every value of src to dst (sketches of the same relative error;
 * max_bins may differ, dst collapses what does not fit).  Returns 0, or
 * -1 when the errors differ (dst unchanged).
 */
int qsketch_merge(struct qsketch *dst, const struct qsketch *src);

/*
 * The compact, portable form (little-endian; see sketch.c): writes it to
 * buf when it fits in cap bytes and returns its length either way, like
 * snprintf.  qsketch_encoded_max(max_bins) bytes always suffice.
 */
size_t qsketch_encode(const struct qsketch *s, void *buf, size_t cap);
size_t qsketch_encoded_max(unsigned max_bins);
/*
 * Merges an encoded sketch into dst, checking it whole first.  Returns 0,
 * -1 when buf is malformed, -2 when its relative error differs from
 * dst's; dst is unchanged on error.  Decoding is merging into an empty
 * sketch of the same error.
 */
int qsketch_merge_encoded(struct qsketch *dst, const void *buf, size_t len);

#endif
