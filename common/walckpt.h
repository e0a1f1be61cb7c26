/*
 * walckpt.h: WAL checkpoints on a thread of their own, for a sqlite
 * database written by one connection on a daemon's loop (alertd's
 * alerts.db, stored's sentinel.db).
 *
 * sqlite's automatic checkpoint runs inside the commit that fills the
 * WAL: the committing loop copies the whole WAL into the database and
 * fsyncs it, and stalls for as long as that takes.  Attached, a commit
 * that leaves start_bytes or more in the WAL wakes a thread with a
 * connection of its own, which copies the WAL into the database (a
 * PASSIVE checkpoint: it never blocks the writer) while the loop goes on
 * committing.  The WAL starts over from its beginning only once
 * everything in it was copied, so the loop copies the little written
 * since the thread's last copy itself (tail_bytes at most) at its next
 * commit, or everything when the WAL passes max_bytes anyway (the thread
 * could not start, or cannot keep up).  The loop's copy cannot run while
 * the thread's does, so the WAL may pass max_bytes while the thread is
 * slow; when it starts over, its file is cut back to max_bytes
 * (journal_size_limit).
 */
#ifndef SN_WALCKPT_H
#define SN_WALCKPT_H

#include <stddef.h>

struct sqlite3;
struct sn_walckpt;

struct sn_walckpt_limits {
	size_t start_bytes; /* WAL bytes that wake the thread */
	size_t tail_bytes;  /* what the loop copies itself */
	size_t max_bytes;   /* beyond this the loop copies everything */
};

/*
 * Replaces db's automatic checkpoint with the thread (sqlite3_wal_hook).
 * label names the file in log lines; sync is the synchronous setting of
 * the thread's connection ("NORMAL", "FULL").  The thread starts at the
 * first checkpoint.  NULL when out of memory (logged): then sqlite's own
 * automatic checkpoint stays.
 */
struct sn_walckpt *sn_walckpt_attach(struct sqlite3 *db, const char *label,
                                     const char *sync,
                                     struct sn_walckpt_limits lim);
/* Stops the thread and gives db back sqlite's automatic checkpoint;
 * before closing db.  NULL is a no-op. */
void sn_walckpt_detach(struct sn_walckpt *ck);
/* Checkpoints the thread finished (for tests and metrics). */
unsigned long sn_walckpt_count(struct sn_walckpt *ck);

/*
 * The process-wide sqlite settings of a daemon that writes a database
 * (stored, alertd), first thing in main, before sqlite starts: no memory
 * statistics, which cost a global mutex around every sqlite3_malloc and
 * sqlite3_free (1.7% of stored's instructions under batches) and which
 * nothing reads.
 */
void sn_sqlite_config(void);

#endif
