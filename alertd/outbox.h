/*
 * outbox.h: alertd's durable outbox, <storage.path>/alerts.db.
 *
 * Every notification is written here before any attempt to send it, so
 * a crash or kill -9 of alertd loses none: on start alertd sends what is
 * still pending.  The row id is the notification's stable id
 * (notify_id): enqueueing the same notification twice is a no-op, so a
 * replayed anomaly does not notify twice.  Rows are sent, retried with
 * exponential backoff and jitter, or given up as failed after the
 * maximum age.  The payload is the notification document
 * (notify_to_json), never a rendering: renderings and secrets come from
 * the receiver's current config when it is sent.
 *
 * Delivery is at least once: a kill between a receiver's answer and
 * outbox_sent sends that notification again on restart.  The id travels
 * with each request (X-Sentinel-Notification-Id, PagerDuty dedup_key)
 * so receivers can drop the duplicate.
 *
 * Times are passed in (now_ms) so tests drive a fake clock.
 */
#ifndef SN_OUTBOX_H
#define SN_OUTBOX_H

#include <stdint.h>

struct outbox;

/* Retry policy; see outbox_policy_default. */
struct outbox_policy {
	int64_t initial_ms; /* first retry delay: 1 s */
	int64_t max_ms;     /* delay cap: 5 min */
	int64_t max_age_ms; /* give up this long after enqueue: 1 h */
};

/* One row due for sending.  Strings are owned by the row. */
struct outbox_row {
	char *id;
	char *receiver;
	char *payload;
	int attempts; /* attempts made so far */
	int64_t created_ms;
	int64_t next_ms;
};

/* Counts and last outcome of one receiver, for status. */
struct outbox_stats {
	int64_t pending, sent, failed;
	int64_t last_sent_ms; /* 0: never */
	char *last_error;     /* NULL: none; caller frees */
};

/* 1 s, 5 min, 1 h. */
struct outbox_policy outbox_policy_default(void);

/*
 * Opens (creating it and its schema if needed) the outbox at path in WAL
 * mode.  NULL on error, with a log line.  Close with outbox_close.
 */
struct outbox *outbox_open(const char *path, struct outbox_policy policy);
void outbox_close(struct outbox *ob);

/*
 * Queues a notification, due at now_ms.  1 when queued, 0 when a row
 * with this id exists already (in any state), -1 on error.
 */
int outbox_enqueue(struct outbox *ob, const char *id, const char *receiver,
                   const char *payload, int64_t now_ms);

/*
 * Up to max pending rows due at now_ms, oldest first, into rows[];
 * returns how many (0..max) or -1.  Free each with outbox_row_free.
 */
int outbox_due(struct outbox *ob, int64_t now_ms, struct outbox_row *rows,
               int max);
void outbox_row_free(struct outbox_row *r);

/* The earliest next attempt of a pending row, or -1 when none. */
int64_t outbox_next_due(struct outbox *ob);

/* Marks the row delivered.  0, or -1 on error. */
int outbox_sent(struct outbox *ob, const char *id, int64_t now_ms);

/* Marks the row failed for good (a 4xx, a bad config).  0 or -1. */
int outbox_failed(struct outbox *ob, const char *id, const char *error,
                  int64_t now_ms);

/*
 * Records a failed attempt and schedules the next one: the backoff
 * delay (outbox_backoff with jitter u in [0, 1)), at least retry_after_ms
 * when the receiver asked (>0), but no later than the maximum age.  When
 * the row is already that old it becomes failed.  Returns 1 when
 * rescheduled, 0 when given up, -1 on error.
 */
int outbox_retry(struct outbox *ob, const char *id, const char *error,
                 int64_t retry_after_ms, int64_t now_ms, double u);

/*
 * The delay before retry number attempts (1 = after the first failure):
 * initial * 2^(attempts-1) capped at max, then jittered into
 * [delay/2, delay) by u in [0, 1) ("equal jitter": never less than half,
 * so retries of many rows spread without retrying early).
 */
int64_t outbox_backoff(const struct outbox_policy *p, int attempts, double u);

/* Per-receiver counts; 0 or -1.  stats->last_error is malloc'd. */
int outbox_stats(struct outbox *ob, const char *receiver,
                 struct outbox_stats *stats);

/* Rows waiting to be sent, of every receiver (in flight included), or
 * -1 on error: sentinel_notifications_queued. */
int64_t outbox_pending(struct outbox *ob);

/* The state of one row, for `sentinel-cli alerts test`. */
struct outbox_status {
	char state[16];   /* "pending", "sent" or "failed" */
	int attempts;     /* attempts made so far */
	char *last_error; /* NULL: none; caller frees */
};

/* The state of row id into st: 1 when found, 0 when there is no such
 * row, -1 on error. */
int outbox_status_of(struct outbox *ob, const char *id,
                     struct outbox_status *st);

/*
 * The outbox's sqlite handle, for the tables that share its database and
 * its transactions (group.h, silence.h, inhibit.h).  Borrowed.
 */
struct sqlite3;
struct sqlite3 *outbox_db(struct outbox *ob);

/* Deletes sent and failed rows last touched before before_ms; count. */
int outbox_prune(struct outbox *ob, int64_t before_ms);

/* outbox_retry, also giving the time of the next attempt in *next_ms
 * when it returns 1. */
int outbox_retry_at(struct outbox *ob, const char *id, const char *error,
                    int64_t retry_after_ms, int64_t now_ms, double u,
                    int64_t *next_ms);

/* The pending row id into row (free with outbox_row_free): 1, 0 when
 * there is no such pending row, -1 on error. */
int outbox_get(struct outbox *ob, const char *id, struct outbox_row *row);

/* A row: its id and when it is due. */
typedef void (*outbox_row_fn)(const char *id, int64_t next_ms, void *arg);

/* Calls fn for every pending row (a restart's backlog).  0 or -1. */
int outbox_each_pending(struct outbox *ob, outbox_row_fn fn, void *arg);

/*
 * Transactions.  Every write of alertd's tables goes through the
 * outbox's handle.  By default each unit (outbox_unit_begin/end: a
 * group's flush, a message's alerts) and each other write is its own
 * transaction, committed (fsync'd) before the call returns.
 *
 * outbox_batch turns on batch mode, for alertd's loop: the first write
 * opens one transaction and calls on_open, and everything written until
 * outbox_commit commits together, one fsync for all a loop iteration
 * decided.  A unit is then a savepoint in it, undone alone on error.
 * Whatever depends on a write being durable (sending a row, answering a
 * command that changed something) waits for outbox_commit.
 *
 * on_row is told of each queued row once it is committed (in either
 * mode), so that only committed rows are ever sent.  on_open NULL: no
 * batch mode, on_row only.
 */
typedef void (*outbox_open_fn)(void *arg);
void outbox_batch(struct outbox *ob, outbox_open_fn on_open,
                  outbox_row_fn on_row, void *arg);

/*
 * Commits the open transaction, if any, then tells on_row of the rows it
 * queued.  0, or -1 when the commit failed: everything since the last
 * commit is rolled back (logged), and what the caller holds in memory
 * of it is ahead of the database.
 */
int outbox_commit(struct outbox *ob);

/*
 * fn(arg) runs before each commit of a transaction (outbox_commit, and
 * so every unit's commit outside batch mode): for rows another table
 * writes last, once per transaction (group.c: a new group's row).  When
 * it fails (-1), the commit fails as if COMMIT had.  fn NULL: none.
 */
typedef int (*outbox_precommit_fn)(void *arg);
void outbox_precommit(struct outbox *ob, outbox_precommit_fn fn, void *arg);

/*
 * outbox_enqueue with a memo: what the caller holds of the row (alertd:
 * the notification its payload was made of), so that the first attempt
 * needs neither the row read back nor its payload parsed.  Once the row
 * is committed the memo goes to on_fresh (outbox_on_fresh) with it,
 * which takes it over; when the row is not queued (a duplicate, an
 * error) or its unit or transaction is undone, memo_free(memo) is
 * called.  The row and its payload are written exactly as by
 * outbox_enqueue: the memo only saves work.
 */
int outbox_enqueue_memo(struct outbox *ob, const char *id, const char *receiver,
                        const char *payload, int64_t now_ms, void *memo,
                        void (*memo_free)(void *));

/* A committed row queued with or without a memo (NULL: none), for the
 * sender; the callee owns memo. */
typedef void (*outbox_fresh_fn)(const char *id, const char *receiver,
                                int64_t created_ms, void *memo, void *arg);

/* Tells fn (with outbox_batch's arg), instead of on_row, of the rows
 * committed from now on. */
void outbox_on_fresh(struct outbox *ob, outbox_fresh_fn fn);

/* A unit: its writes all happen or none (ok 0 or an error undoes them).
 * 0 or -1. */
int outbox_unit_begin(struct outbox *ob);
int outbox_unit_end(struct outbox *ob, int ok);

#endif
