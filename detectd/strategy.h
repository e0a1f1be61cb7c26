/*
 * strategy.h: the scoring strategies of statistical detectors.
 *
 * A statistical detector aggregates its metric per window (bucket) and
 * hands each closed bucket's value to its strategy, which scores it
 * against the history of earlier buckets and then learns it.  A score is
 * in the strategy's own units (a z-score for zscore, a robust z for mad,
 * fence distances in IQRs for iqr, ...); the detector fires when
 * |score| >= threshold in the configured direction (positive scores mean
 * "higher than expected").
 *
 * Each strategy's state is one flat block of state_size(params) bytes
 * with no pointers, so the engine can copy it (a dry run for
 * `sentinel-cli detectors test`), evict it, or checkpoint it to disk.
 * Memory per group is therefore bounded by construction.  A block read
 * back from disk is passed to check before the engine adopts it.
 *
 * One file per strategy (strategy_zscore.c, ...); strategy_find() in
 * strategy.c is the table.
 */
#ifndef SN_STRATEGY_H
#define SN_STRATEGY_H

#include <stddef.h>
#include <stdint.h>

struct strategy_params {
	double threshold;     /* in score units; default per strategy */
	uint32_t history;     /* buckets of history (default 30) */
	uint32_t min_samples; /* buckets seen before scoring (0: default) */
	int direction;        /* +1 up only, -1 down only, 0 both */
};

/* What scoring one value says. */
struct strategy_result {
	int ready;       /* enough history to judge (else nothing below) */
	double score;    /* signed: > 0 above expectation */
	double expected; /* what the strategy expected, NAN if no notion */
	int anomalous;   /* |score| >= threshold in the direction */
};

struct strategy {
	const char *name;         /* the config's strategy: "zscore" */
	double default_threshold; /* used when the detector gives none */
	/* Bytes of state for these params (fixed for a detector). */
	size_t (*state_size)(const struct strategy_params *p);
	/* Initialises the state block (state_size bytes, zeroed). */
	void (*init)(void *state, const struct strategy_params *p);
	/*
	 * Scores value against the state, then learns it (updates the
	 * history).  Never allocates.  A value that is not finite is
	 * ignored (res->ready = 0).
	 */
	void (*observe)(void *state, const struct strategy_params *p,
	                double value, struct strategy_result *res);
	/*
	 * Checks a state block of state_size(p) bytes that did not come
	 * from init and observe (a checkpoint read from disk): 0 when
	 * observe can run on it as on one it made itself, i.e. every
	 * index, count and length is within what state_size and p imply,
	 * the counters agree with each other, and every double observe
	 * relies on being finite is finite; -1 otherwise.  Reads only,
	 * never more than state_size(p) bytes.  A state the strategy made
	 * itself always passes, except one whose sums overflowed (values
	 * near DBL_MAX), which scores nothing anyway.
	 */
	int (*check)(const void *state, const struct strategy_params *p);
};

/* The strategy named name, or NULL when there is none. */
const struct strategy *strategy_find(const char *name);
/* NULL-terminated list of every strategy name (for messages and docs). */
extern const char *const strategy_names[];

extern const struct strategy strategy_zscore;
extern const struct strategy strategy_mad;
extern const struct strategy strategy_iqr;
extern const struct strategy strategy_ewma;
extern const struct strategy strategy_cusum;
extern const struct strategy strategy_auto;

/* Applies the direction and threshold to a score (shared by all). */
int strategy_is_anomalous(const struct strategy_params *p, double score);

#endif
