/*
 * msg.h: every message that crosses an nng socket between daemons,
 * encoded and decoded in one place (msg.c).
 *
 * Layout: an 8-byte header then a payload.
 *
 *   u8  version   SN_MSG_VERSION; a reader drops other versions
 *   u8  type      enum sn_msg_type
 *   u16 flags     0 for now
 *   u32 count     number of records in the payload
 *
 * Records are little-endian fixed-width integers and IEEE doubles, and
 * strings as u32 length + bytes + NUL.  An SN_MSG_EVENTS payload starts
 * with a u64 `prev`, the sequence number of the last event of the
 * batch before it in ingestd's spool (0: none), so a consumer can tell a
 * batch that follows what it has from one after a gap (cursor.h).  An
 * SN_MSG_ANOMALIES payload starts with a u64 `id`, the message's hand-over
 * id (detectd/handover.h): stored acknowledges it in SN_MSG_ANOMALIES_ACK
 * once the anomalies are on disk, and detectd sends it again until then
 * (0: nobody waits for the acknowledgement).  Binary and
 * batched on purpose: nng moves 45-66k messages/s over ipc:// whatever their
 * size, so one message carries many events (see docs/architecture.md).
 *
 * Bump SN_MSG_VERSION whenever a payload changes.
 */
#ifndef SN_MSG_H
#define SN_MSG_H

#include <stddef.h>
#include <stdint.h>

#include "event.h"
#include "util.h"

#define SN_MSG_VERSION 4
#define SN_MSG_HDR_LEN 8

enum sn_msg_type {
	/* ingestd -> stored, ingestd -> detectd: a batch of events */
	SN_MSG_EVENTS = 1,
	/* detectd -> stored, detectd -> alertd: a batch of anomalies */
	SN_MSG_ANOMALIES = 2,
	/* supervisor -> daemons (pub/sub): the state of the daemon set */
	SN_MSG_SET_STATE = 3,
	/* stored, detectd -> ingestd: where a consumer stands (cursor.h) */
	SN_MSG_CURSOR = 4,
	/* stored -> detectd: the ids of SN_MSG_ANOMALIES messages whose
	 * anomalies are committed and synced (one u64 per record) */
	SN_MSG_ANOMALIES_ACK = 5,
};

/* What a SN_MSG_CURSOR record says. */
enum sn_cursor_kind {
	/* "everything up to seq is durable here": ingestd may drop it */
	SN_CURSOR_ACK = 1,
	/* "send me what follows seq": after a start or a gap */
	SN_CURSOR_RESUME = 2,
};

struct sn_cursor {
	uint8_t kind;           /* enum sn_cursor_kind */
	struct sn_str consumer; /* "stored", "detectd" */
	uint64_t seq;
};

const char *sn_msg_type_name(int type);

/* States of a supervised daemon, as the supervisor reports them. */
enum sn_daemon_state {
	SN_DAEMON_STOPPED = 0, /* not started yet, or stopped on purpose */
	SN_DAEMON_STARTING,    /* forked, READY not yet announced */
	SN_DAEMON_UP,          /* READY announced, running */
	SN_DAEMON_BACKOFF,     /* died, waiting to be restarted */
	SN_DAEMON_FAILED,      /* exited with 2: not respawned */
	SN_DAEMON_STOPPING,    /* SIGTERM sent */
};

const char *sn_daemon_state_name(int state);

/* One daemon's line in a SN_MSG_SET_STATE message. */
struct sn_daemon_status {
	struct sn_str name; /* "ingestd" */
	uint8_t state;      /* enum sn_daemon_state */
	int32_t pid;        /* 0 when not running */
	int64_t since_ms;   /* wall clock of the last state change */
	uint32_t restarts;  /* times restarted since the set started */
};

/* Encoder: begin, add records, then b holds the whole message. */
void msg_begin(struct sn_buf *b, enum sn_msg_type type);
void msg_add_event(struct sn_buf *b, const struct sn_event *ev);
/* The bytes msg_add_event adds for ev (ingestd's spool room check). */
size_t msg_event_size(const struct sn_event *ev);
void msg_add_anomaly(struct sn_buf *b, const struct sn_anomaly *a);
void msg_add_daemon_status(struct sn_buf *b, const struct sn_daemon_status *st);
void msg_add_cursor(struct sn_buf *b, const struct sn_cursor *c);
/* Sets the `prev` of an SN_MSG_EVENTS message being built or sent. */
void msg_set_prev(struct sn_buf *b, uint64_t prev);
void msg_set_prev_raw(void *msg, size_t len, uint64_t prev);
/* Sets the `id` of an SN_MSG_ANOMALIES message being built or sent. */
void msg_set_id(struct sn_buf *b, uint64_t id);
/* One acknowledged id into an SN_MSG_ANOMALIES_ACK message. */
void msg_add_ack(struct sn_buf *b, uint64_t id);
/* Number of records added since msg_begin. */
uint32_t msg_count(const struct sn_buf *b);

/* Decoder over one received message; never reads outside [p, end). */
struct msg_reader {
	const uint8_t *p;
	const uint8_t *end;
	uint32_t remaining; /* records not yet read */
	uint8_t type;
	uint64_t prev; /* SN_MSG_EVENTS: the batch before this one */
	uint64_t id;   /* SN_MSG_ANOMALIES: its hand-over id */
};

/*
 * Checks the header of a message of len bytes.  Returns 0 and fills r,
 * or -1 when the message is too short, of another version or of an
 * unknown type.
 */
int msg_open(struct msg_reader *r, const void *data, size_t len);

/*
 * Each reads the next record of its type.  Returns 1 when a record was
 * read, 0 at the end of the message (all records read and every byte
 * consumed), -1 when the message is malformed (truncated, a string
 * without its NUL, bytes left over).  Strings point into the message.
 */
int msg_next_event(struct msg_reader *r, struct sn_event *ev);
int msg_next_anomaly(struct msg_reader *r, struct sn_anomaly *a);
int msg_next_daemon_status(struct msg_reader *r, struct sn_daemon_status *st);
int msg_next_cursor(struct msg_reader *r, struct sn_cursor *c);
int msg_next_ack(struct msg_reader *r, uint64_t *id);

/*
 * Checks every record of the message r is positioned on without
 * consuming it, so a consumer can refuse a malformed message whole
 * instead of acting on half of it.  0 when well-formed, -1 otherwise.
 */
int msg_check(const struct msg_reader *r);

#endif
