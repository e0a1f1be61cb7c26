/*
 * retention.h: deleting what is older than the storage.retention.*
 * policies, a little at a time, on the writer's connection.
 *
 * A pass fixes each policy's cutoff (now - keep) when it starts, then
 * each retention_step deletes at most RETENTION_BATCH_ROWS rows of one
 * policy, oldest first, in a short transaction of its own, and returns
 * so that the caller's loop goes back to ingestion between steps (the
 * daemon schedules the next step as a zero-timeout event).  When a
 * policy has nothing older left, its row in retention_runs records the
 * pass: when, the cutoff, the rows deleted.
 *
 *   policy         table, rows                      config key
 *   events         events, ts_ms < cutoff           storage.retention.raw
 *   rollups_1m     rollups of 60 s, bucket ended    .rollups_1m
 *   rollups_1h     rollups of 3600 s, bucket ended  .aggregated
 *   anomalies      anomalies, ts_ms < cutoff        .anomalies
 *   notifications  notifications, ts_ms < cutoff    .notifications
 *
 * Events at or above the rollups' watermark (rollup.h) are kept until
 * the rollups count them, whatever their age.
 *
 * Metrics (metrics.h), labelled table=<policy>: rows deleted after each
 * step's commit (sentinel_retention_deleted_rows_total); a completed
 * policy adds one to sentinel_retention_runs_total and sets
 * sentinel_retention_last_run_timestamp_seconds to its pass's start, the
 * last_run_ms it records, which is also where that gauge starts from
 * when stored starts (policies that never ran have none).
 */
#ifndef SN_RETENTION_H
#define SN_RETENTION_H

#include <stdint.h>

#include "config.h"
#include "store.h"

enum retention_policy {
	RETENTION_EVENTS = 0,
	RETENTION_ROLLUPS_1M,
	RETENTION_ROLLUPS_1H,
	RETENTION_ANOMALIES,
	RETENTION_NOTIFICATIONS,
	RETENTION_NPOLICIES
};

/* Rows deleted per step: a few milliseconds of work (docs/storage.md). */
#define RETENTION_BATCH_ROWS 2000

struct retention_stats {
	uint64_t passes; /* completed */
	uint64_t steps;
	uint64_t errors; /* failed steps (the pass is abandoned) */
	uint64_t deleted[RETENTION_NPOLICIES]; /* since start */
	int64_t max_step_us; /* longest step, commit included */
};

struct retention;

/* A retention over the store's connection, every policy keeping
 * forever until configured.  NULL on an sqlite error (logged). */
struct retention *retention_new(struct store *s);
void retention_free(struct retention *r);

/* The policies of cfg (storage.retention.*); the next pass uses them. */
void retention_configure(struct retention *r, const struct sn_config *cfg);
/* One policy's keep time in ms (<= 0: keep forever). */
void retention_set_keep(struct retention *r, int policy, int64_t keep_ms);
/* The policy's name in retention_runs ("events", "rollups_1m", ...). */
const char *retention_policy_name(int policy);
/* Rows per step (tests use small batches). */
void retention_set_batch(struct retention *r, int rows);

/*
 * Starts a pass with cutoffs now_ms - keep (now_ms: wall clock, ms since
 * the epoch).  Returns 1 when started, 0 when a pass is still running
 * (it goes on with its own cutoffs).
 */
int retention_start(struct retention *r, int64_t now_ms);
/* Whether a pass is running (more steps to take). */
int retention_running(const struct retention *r);

/*
 * One step: commits the store's pending rows, then deletes at most a
 * batch of the current policy in a transaction of its own.  Returns 1
 * when the pass has more to do, 0 when it is done (or none is running),
 * -1 on an sqlite error (logged; the pass is abandoned, the next one
 * starts over).
 */
int retention_step(struct retention *r);

const struct retention_stats *retention_get_stats(const struct retention *r);

#endif
