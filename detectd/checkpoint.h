/*
 * checkpoint.h: the detection engine's state on disk, so detectd can
 * stop (even by kill -9) and go on where a checkpoint left it.
 *
 * A checkpoint holds what a reload keeps (engine_new's carry-over):
 * every running detector's groups (each a flat block: firing and
 * cooldown state, open windows, the type's history), its counters and
 * where its windows are closed, the engine's event-time clock, and the
 * sequence number of the last event fed.  Whoever feeds the engine
 * replays from seq + 1 after a load, and the engine then emits what it
 * would have emitted had it never stopped.  The format is in
 * checkpoint.c; docs/detection.md ("Checkpoints") says what is kept
 * when detectors change.
 */
#ifndef SN_CHECKPOINT_H
#define SN_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

struct engine;

/* The format version this build writes and reads. */
#define CHECKPOINT_VERSION 1

/*
 * Writes e's whole state and seq (the last event sequence number fed)
 * to path atomically: path.tmp is written, fsynced and renamed over
 * path, then the folder is fsynced.  Returns 0, or -1 (logged) with
 * path untouched and path.tmp removed -- except when only the last
 * step (the folder's fsync) fails: then path holds the new checkpoint
 * but a crash may still bring back the previous one; either is whole.
 */
int checkpoint_save(const struct engine *e, uint64_t seq, const char *path);

/*
 * Restores into e (freshly built by engine_new from the current
 * detectors) the state saved at path: each detector whose id and
 * configuration (engine_config_identity) are unchanged since the save
 * gets its groups back; a detector that is new or changed starts empty
 * (one log line each); state of detectors no longer configured is
 * dropped (one log line each).  *seq gets the saved seq.  Returns 1
 * when loaded, 0 when there is no file (e and *seq untouched), -1 when
 * it is unreadable, truncated, of another format version or byte
 * order, fails its checksum or does not hold a state the engine could
 * have made (logged; e and *seq are left as they were, so the caller
 * can start fresh).  Never crashes on any content: every count and
 * length read is bounded before it is used.
 */
int checkpoint_load(struct engine *e, const char *path, uint64_t *seq);

#endif
