/*
 * spool.h: ingestd's on-disk spool of accepted events.
 *
 * Every batch of events ingestd accepts is appended to the spool before
 * the clients hear 202 (ingestion.durability: fsync), and stored and
 * detectd are fed from the spool, each by its own reader, so a consumer
 * that restarts asks for what follows the last sequence number it made
 * durable and gets it again (cursor.h).
 *
 * The spool is a folder of segment files, <first seq, 20 digits>.seg,
 * appended to and never rewritten.  A segment holds records:
 *
 *   u32 magic "SPL1"  u32 payload length  u64 first seq  u64 last seq
 *   u32 CRC-32C of (length, first, last, payload)  u32 zero
 *   payload: one SN_MSG_EVENTS message (msg.h), its prev set
 *
 * At open the last segment is read through: a record that is torn (cut
 * short by a crash) or fails its checksum ends the segment there, and
 * the file is truncated to the last whole record, so nothing is ever
 * half-read.  Appending always starts a new segment.  Segments rotate
 * at SPOOL_SEGMENT_BYTES; a segment whose events every consumer has
 * acknowledged is deleted (spool_gc).
 *
 * Durability: fdatasync runs on a thread of the spool's own, so the loop
 * goes on appending while it runs; one fdatasync covers every record
 * appended before it started (group commit).  When it ends, the spool
 * calls the owner's durable callback on the loop.  Readers only read
 * what is durable in fsync mode, or what is written in batch and none
 * modes (a killed process loses nothing written; only a machine crash
 * can, which those modes accept).
 */
#ifndef SN_SPOOL_H
#define SN_SPOOL_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

struct event_base;
struct spool;
struct spool_reader;

/* A segment is closed and a new one started beyond this size. */
#define SPOOL_SEGMENT_BYTES (64u * 1024 * 1024)

/* Bytes of a record's header. */
#define SPOOL_RECORD_HDR 32

/* Called on the loop when more of the spool became durable. */
typedef void (*spool_durable_cb)(void *arg);

/*
 * Opens (creating it 0750) the spool folder dir, recovers it (see
 * above) and starts its sync thread, which reports to cb on base.
 * durability is enum sn_durability; segments rotate beyond
 * segment_bytes (0: SPOOL_SEGMENT_BYTES).  NULL (logged) on error.
 */
struct spool *spool_open(const char *dir, int durability,
                         uint64_t segment_bytes, struct event_base *base,
                         spool_durable_cb cb, void *arg);

/* Syncs what is written (unless durability is none) and closes. */
void spool_close(struct spool *sp);

/* The last sequence number in the spool, 0 when it never held any. */
uint64_t spool_last_seq(const struct spool *sp);

/* Bytes the spool's segments take on disk. */
uint64_t spool_bytes(const struct spool *sp);

/* How many segment files there are. */
size_t spool_segments(const struct spool *sp);

/*
 * Appends one record: msg (len bytes, an SN_MSG_EVENTS message) holding
 * the events first..last.  The write(2) is done when this returns; it
 * is durable once spool_durable() passes the returned mark.  0 with
 * *mark set, or -1 (logged; nothing appended: a short write is cut off
 * again).
 */
int spool_append(struct spool *sp, const void *msg, size_t len, uint64_t first,
                 uint64_t last, uint64_t *mark);

/* The mark up to which everything appended is durable. */
uint64_t spool_durable(const struct spool *sp);

/* Starts an fdatasync of what is appended, unless one runs (then
 * another follows it).  No-op with durability none. */
void spool_sync(struct spool *sp);

/* Whether an fdatasync runs now (its end calls the durable callback). */
int spool_syncing(const struct spool *sp);

/*
 * Deletes the segments whose every event has seq <= acked (never the
 * one being appended to, nor the newest).  Readers in a deleted segment
 * move to the next.  Returns how many were deleted.
 */
int spool_gc(struct spool *sp, uint64_t acked);

/* A reader, positioned at the oldest record. */
struct spool_reader *spool_reader_new(struct spool *sp);
void spool_reader_free(struct spool_reader *r);

/*
 * Positions r at the first record holding an event after seq.  Returns
 * 1 when the record there follows seq without a hole (its prev <= seq),
 * 0 when records between were already deleted (events lost for that
 * consumer: the caller logs it), and positions at the end when nothing
 * after seq is spooled yet.
 */
int spool_reader_seek(struct spool_reader *r, uint64_t seq);

/*
 * Reads the next readable record into out (replacing its content) and
 * its last seq into *last.  1 when read, 0 when r is at the end of what
 * is readable, -1 when a record is damaged (logged; r skips to the next
 * segment).
 */
int spool_reader_next(struct spool_reader *r, struct sn_buf *out,
                      uint64_t *last);

/* 1 when r has read everything readable now. */
int spool_reader_at_end(const struct spool_reader *r);

/* Bytes between r and the end of what is written (its backlog). */
uint64_t spool_reader_lag(const struct spool_reader *r);

#endif
