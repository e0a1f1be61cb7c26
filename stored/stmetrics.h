/*
 * stmetrics.h: stored's storage gauges (metrics.h):
 *
 *   sentinel_storage_size_bytes      sentinel.db plus its -wal file, by
 *                                    stat(2) every STM_SIZE_MS
 *   sentinel_storage_rows{table}     rows of events, rollups_1m,
 *                                    rollups_1h, anomalies, notifications
 *                                    (the retention policies' names)
 *
 * Rows are counted once and then followed, never counted again: at start
 * a read transaction is begun on a connection of our own, on the loop's
 * thread while no write transaction is open, and the writer's and
 * retention's totals are noted; a thread then counts each table in that
 * snapshot.  From then on each stm_tick sets
 *
 *   rows = counted + inserted since the snapshot - deleted since
 *
 * from the writer's counters (store_stats, rollup_stats.rows_inserted)
 * and retention's (retention_stats.deleted), all kept on the loop's
 * thread: nothing is queried, locked or looked up on the write path.
 * Until the count is done the row series do not exist, rather than
 * show a wrong 0.
 *
 * Why a thread: count(*) of 1M events reads their (ts_ms, event_id)
 * index, 38 MB: 10 ms when cached, 400 ms from a cold page cache on
 * this machine; with a week of events at a few hundred per second that
 * is seconds to a minute during which the loop would not take events.
 *
 *   m = stm_start(store, retention)   after both are open; never NULL
 *   stm_tick(m, sn_mono_ms())         often (stored: every 250 ms)
 *   stm_free(m)                       before retention_free, store_close
 */
#ifndef SN_STMETRICS_H
#define SN_STMETRICS_H

#include <stdint.h>

#include "retention.h"
#include "store.h"

/* How often the file sizes are read. */
#define STM_SIZE_MS 5000

struct stm;

/*
 * Commits what the writer has pending, takes the snapshot and starts the
 * counting thread.  A failure (logged) leaves the row series out; the
 * size is reported anyway.
 */
struct stm *stm_start(struct store *s, struct retention *r);
/* Sets the gauges (sizes when STM_SIZE_MS passed since the last read);
 * now_ms is monotonic.  NULL m: nothing. */
void stm_tick(struct stm *m, int64_t now_ms);
/* Whether the count at start is done and the row series set (tests). */
int stm_counted(const struct stm *m);
/* Interrupts a count still running, joins its thread, frees. */
void stm_free(struct stm *m);

#endif
