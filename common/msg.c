/*
 * msg.c: encode and decode the inter-daemon messages of msg.h, side by
 * side so the two cannot drift.  The machine is little-endian x86_64 or
 * arm64 in practice, but the byte order is written out explicitly so a
 * capture of the ipc stream means the same on any host.
 */
#include <string.h>

#include "msg.h"

static const char *const msg_type_names[] = {
        [SN_MSG_EVENTS] = "events",
        [SN_MSG_ANOMALIES] = "anomalies",
        [SN_MSG_SET_STATE] = "set_state",
        [SN_MSG_CURSOR] = "cursor",
        [SN_MSG_ANOMALIES_ACK] = "anomalies_ack",
};

const char *
sn_msg_type_name(int type)
{
	if (type <= 0 || (size_t)type >= SN_ARRAY_LEN(msg_type_names) ||
	    msg_type_names[type] == NULL)
		return "unknown";
	return msg_type_names[type];
}

static const char *const daemon_state_names[] = {
        [SN_DAEMON_STOPPED] = "stopped", [SN_DAEMON_STARTING] = "starting",
        [SN_DAEMON_UP] = "up",           [SN_DAEMON_BACKOFF] = "backoff",
        [SN_DAEMON_FAILED] = "failed",   [SN_DAEMON_STOPPING] = "stopping",
};

const char *
sn_daemon_state_name(int state)
{
	if (state < 0 || (size_t)state >= SN_ARRAY_LEN(daemon_state_names))
		return "unknown";
	return daemon_state_names[state];
}

/* --- encoding ---------------------------------------------------------- */

/* An event's numbers, before its strings: seq, ts_ms, recv_ms, present
 * and the five metrics. */
#define MSG_EVENT_FIXED (3 * 8 + 4 + 5 * 8)

static void
put_u8(struct sn_buf *b, uint8_t v)
{
	sn_buf_append(b, &v, 1);
}

/*
 * The writers put a value at p, which has room for it, and return the
 * end; the put_ functions make the room first.  msg_add_event, on the
 * hot path, makes room for a whole event once and then only writes
 * (field by field through sn_buf_append it cost about 2 000
 * instructions an event under callgrind).
 */
static uint8_t *
wr_u32(uint8_t *p, uint32_t v)
{
	sn_put_le32(p, v);
	return p + 4;
}

static uint8_t *
wr_u64(uint8_t *p, uint64_t v)
{
	sn_put_le64(p, v);
	return p + 8;
}

static uint8_t *
wr_f64(uint8_t *p, double d)
{
	uint64_t v;

	memcpy(&v, &d, sizeof(v));
	return wr_u64(p, v);
}

/* A string: its length, its bytes and a NUL (STR_BYTES(s) in all). */
#define STR_BYTES(s) (4 + (size_t)(s).len + 1)
static uint8_t *
wr_str(uint8_t *p, struct sn_str s)
{
	p = wr_u32(p, s.len);
	if (s.len > 0)
		memcpy(p, s.p, s.len);
	p[s.len] = '\0';
	return p + s.len + 1;
}

static void
put_u32(struct sn_buf *b, uint32_t v)
{
	sn_buf_reserve(b, 4);
	b->len = (size_t)(wr_u32(b->data + b->len, v) - b->data);
}

static void
put_u64(struct sn_buf *b, uint64_t v)
{
	sn_buf_reserve(b, 8);
	b->len = (size_t)(wr_u64(b->data + b->len, v) - b->data);
}

static void
put_f64(struct sn_buf *b, double d)
{
	sn_buf_reserve(b, 8);
	b->len = (size_t)(wr_f64(b->data + b->len, d) - b->data);
}

static void
put_str(struct sn_buf *b, struct sn_str s)
{
	sn_buf_reserve(b, STR_BYTES(s));
	b->len = (size_t)(wr_str(b->data + b->len, s) - b->data);
}

static void
bump_count(struct sn_buf *b)
{
	uint32_t n = msg_count(b) + 1;

	sn_put_le32(b->data + 4, n);
}

void
msg_begin(struct sn_buf *b, enum sn_msg_type type)
{
	sn_buf_reset(b);
	put_u8(b, SN_MSG_VERSION);
	put_u8(b, (uint8_t)type);
	put_u8(b, 0);
	put_u8(b, 0);
	put_u32(b, 0);
	if (type == SN_MSG_EVENTS || type == SN_MSG_ANOMALIES)
		put_u64(b, 0); /* prev or id: msg_set_prev, msg_set_id */
}

/* The u64 after the header of a message of the given type. */
static void
msg_set_head(void *msg, size_t len, int type, uint64_t v)
{
	uint8_t *p = msg;

	if (len < SN_MSG_HDR_LEN + 8 || p[1] != type)
		return;
	sn_put_le64(p + SN_MSG_HDR_LEN, v);
}

void
msg_set_prev_raw(void *msg, size_t len, uint64_t prev)
{
	msg_set_head(msg, len, SN_MSG_EVENTS, prev);
}

void
msg_set_prev(struct sn_buf *b, uint64_t prev)
{
	msg_set_head(b->data, b->len, SN_MSG_EVENTS, prev);
}

void
msg_set_id(struct sn_buf *b, uint64_t id)
{
	msg_set_head(b->data, b->len, SN_MSG_ANOMALIES, id);
}

void
msg_add_ack(struct sn_buf *b, uint64_t id)
{
	put_u64(b, id);
	bump_count(b);
}

void
msg_add_cursor(struct sn_buf *b, const struct sn_cursor *c)
{
	put_u8(b, c->kind);
	put_str(b, c->consumer);
	put_u64(b, c->seq);
	bump_count(b);
}

uint32_t
msg_count(const struct sn_buf *b)
{
	if (b->len < SN_MSG_HDR_LEN)
		return 0;
	return sn_get_le32(b->data + 4);
}

size_t
msg_event_size(const struct sn_event *ev)
{
	return MSG_EVENT_FIXED + STR_BYTES(ev->event_id) +
	       STR_BYTES(ev->event_type) + STR_BYTES(ev->application_id) +
	       STR_BYTES(ev->model) + STR_BYTES(ev->status) +
	       STR_BYTES(ev->timestamp) + STR_BYTES(ev->json);
}

void
msg_add_event(struct sn_buf *b, const struct sn_event *ev)
{
	uint8_t *p;

	sn_buf_reserve(b, msg_event_size(ev));
	p = b->data + b->len;
	p = wr_u64(p, ev->seq);
	p = wr_u64(p, (uint64_t)ev->ts_ms);
	p = wr_u64(p, (uint64_t)ev->recv_ms);
	p = wr_u32(p, ev->present);
	p = wr_f64(p, ev->latency_ms);
	p = wr_f64(p, ev->total_tokens);
	p = wr_f64(p, ev->prompt_tokens);
	p = wr_f64(p, ev->completion_tokens);
	p = wr_f64(p, ev->cost);
	p = wr_str(p, ev->event_id);
	p = wr_str(p, ev->event_type);
	p = wr_str(p, ev->application_id);
	p = wr_str(p, ev->model);
	p = wr_str(p, ev->status);
	p = wr_str(p, ev->timestamp);
	p = wr_str(p, ev->json);
	b->len = (size_t)(p - b->data);
	bump_count(b);
}

void
msg_add_anomaly(struct sn_buf *b, const struct sn_anomaly *a)
{
	put_u64(b, a->seq);
	put_u64(b, (uint64_t)a->ts_ms);
	put_u64(b, (uint64_t)a->detected_ms);
	put_u64(b, (uint64_t)a->window_start_ms);
	put_u64(b, (uint64_t)a->window_end_ms);
	put_u64(b, a->samples);
	put_u8(b, a->status);
	put_f64(b, a->value);
	put_f64(b, a->expected);
	put_f64(b, a->score);
	put_f64(b, a->threshold);
	put_str(b, a->id);
	put_str(b, a->detector_id);
	put_str(b, a->detector_type);
	put_str(b, a->alert);
	put_str(b, a->severity);
	put_str(b, a->application_id);
	put_str(b, a->model);
	put_str(b, a->metric);
	put_str(b, a->event_id);
	put_str(b, a->message);
	put_str(b, a->labels);
	put_str(b, a->event_ids);
	bump_count(b);
}

void
msg_add_daemon_status(struct sn_buf *b, const struct sn_daemon_status *st)
{
	put_str(b, st->name);
	put_u8(b, st->state);
	put_u32(b, (uint32_t)st->pid);
	put_u64(b, (uint64_t)st->since_ms);
	put_u32(b, st->restarts);
	bump_count(b);
}

/* --- decoding ---------------------------------------------------------- */

/* Each getter returns -1 and leaves r->p alone when bytes run out. */
static int
get_u8(struct msg_reader *r, uint8_t *v)
{
	if (r->end - r->p < 1)
		return -1;
	*v = *r->p++;
	return 0;
}

/* A double at p, for a caller that checked it is there. */
static double
rd_f64(const uint8_t *p)
{
	uint64_t v = sn_get_le64(p);
	double d;

	memcpy(&d, &v, sizeof(d));
	return d;
}

static int
get_u32(struct msg_reader *r, uint32_t *v)
{
	if (r->end - r->p < 4)
		return -1;
	*v = sn_get_le32(r->p);
	r->p += 4;
	return 0;
}

static int
get_u64(struct msg_reader *r, uint64_t *v)
{
	if (r->end - r->p < 8)
		return -1;
	*v = sn_get_le64(r->p);
	r->p += 8;
	return 0;
}

static int
get_i64(struct msg_reader *r, int64_t *v)
{
	uint64_t u;

	if (get_u64(r, &u) < 0)
		return -1;
	*v = (int64_t)u;
	return 0;
}

static int
get_f64(struct msg_reader *r, double *d)
{
	if (r->end - r->p < 8)
		return -1;
	*d = rd_f64(r->p);
	r->p += 8;
	return 0;
}

static int
get_str(struct msg_reader *r, struct sn_str *s)
{
	uint32_t len;

	if (get_u32(r, &len) < 0)
		return -1;
	if ((size_t)(r->end - r->p) < (size_t)len + 1 || r->p[len] != '\0')
		return -1;
	s->p = (const char *)r->p;
	s->len = len;
	r->p += len + 1;
	return 0;
}

int
msg_open(struct msg_reader *r, const void *data, size_t len)
{
	const uint8_t *p = data;

	if (len < SN_MSG_HDR_LEN || p[0] != SN_MSG_VERSION)
		return -1;
	if (p[1] < SN_MSG_EVENTS || p[1] > SN_MSG_ANOMALIES_ACK)
		return -1;
	r->type = p[1];
	r->remaining = (uint32_t)p[4] | (uint32_t)p[5] << 8 |
	               (uint32_t)p[6] << 16 | (uint32_t)p[7] << 24;
	r->p = p + SN_MSG_HDR_LEN;
	r->end = p + len;
	r->prev = r->id = 0;
	if (r->type == SN_MSG_EVENTS || r->type == SN_MSG_ANOMALIES) {
		if (len < SN_MSG_HDR_LEN + 8)
			return -1;
		*(r->type == SN_MSG_EVENTS ? &r->prev : &r->id) =
		        sn_get_le64(r->p);
		r->p += 8;
	}
	return 0;
}

/* Common tail of the next_* readers: 0 at a clean end, -1 otherwise. */
static int
msg_at_end(struct msg_reader *r)
{
	return r->p == r->end ? 0 : -1;
}

int
msg_next_event(struct msg_reader *r, struct sn_event *ev)
{
	if (r->type != SN_MSG_EVENTS)
		return -1;
	if (r->remaining == 0)
		return msg_at_end(r);
	/* the numbers at once, then the strings */
	if (r->end - r->p < MSG_EVENT_FIXED)
		return -1;
	ev->seq = sn_get_le64(r->p);
	ev->ts_ms = (int64_t)sn_get_le64(r->p + 8);
	ev->recv_ms = (int64_t)sn_get_le64(r->p + 16);
	ev->present = sn_get_le32(r->p + 24);
	ev->latency_ms = rd_f64(r->p + 28);
	ev->total_tokens = rd_f64(r->p + 36);
	ev->prompt_tokens = rd_f64(r->p + 44);
	ev->completion_tokens = rd_f64(r->p + 52);
	ev->cost = rd_f64(r->p + 60);
	r->p += MSG_EVENT_FIXED;
	if (get_str(r, &ev->event_id) < 0 || get_str(r, &ev->event_type) < 0 ||
	    get_str(r, &ev->application_id) < 0 || get_str(r, &ev->model) < 0 ||
	    get_str(r, &ev->status) < 0 || get_str(r, &ev->timestamp) < 0 ||
	    get_str(r, &ev->json) < 0)
		return -1;
	r->remaining--;
	return 1;
}

int
msg_next_anomaly(struct msg_reader *r, struct sn_anomaly *a)
{
	if (r->type != SN_MSG_ANOMALIES)
		return -1;
	if (r->remaining == 0)
		return msg_at_end(r);
	if (get_u64(r, &a->seq) < 0 || get_i64(r, &a->ts_ms) < 0 ||
	    get_i64(r, &a->detected_ms) < 0 ||
	    get_i64(r, &a->window_start_ms) < 0 ||
	    get_i64(r, &a->window_end_ms) < 0 || get_u64(r, &a->samples) < 0 ||
	    get_u8(r, &a->status) < 0 || get_f64(r, &a->value) < 0 ||
	    get_f64(r, &a->expected) < 0 || get_f64(r, &a->score) < 0 ||
	    get_f64(r, &a->threshold) < 0 || get_str(r, &a->id) < 0 ||
	    get_str(r, &a->detector_id) < 0 ||
	    get_str(r, &a->detector_type) < 0 || get_str(r, &a->alert) < 0 ||
	    get_str(r, &a->severity) < 0 ||
	    get_str(r, &a->application_id) < 0 || get_str(r, &a->model) < 0 ||
	    get_str(r, &a->metric) < 0 || get_str(r, &a->event_id) < 0 ||
	    get_str(r, &a->message) < 0 || get_str(r, &a->labels) < 0 ||
	    get_str(r, &a->event_ids) < 0)
		return -1;
	r->remaining--;
	return 1;
}

int
msg_next_daemon_status(struct msg_reader *r, struct sn_daemon_status *st)
{
	uint32_t pid;

	if (r->type != SN_MSG_SET_STATE)
		return -1;
	if (r->remaining == 0)
		return msg_at_end(r);
	if (get_str(r, &st->name) < 0 || get_u8(r, &st->state) < 0 ||
	    get_u32(r, &pid) < 0 || get_i64(r, &st->since_ms) < 0 ||
	    get_u32(r, &st->restarts) < 0)
		return -1;
	st->pid = (int32_t)pid;
	r->remaining--;
	return 1;
}

int
msg_next_cursor(struct msg_reader *r, struct sn_cursor *c)
{
	if (r->type != SN_MSG_CURSOR)
		return -1;
	if (r->remaining == 0)
		return msg_at_end(r);
	if (get_u8(r, &c->kind) < 0 || get_str(r, &c->consumer) < 0 ||
	    get_u64(r, &c->seq) < 0)
		return -1;
	r->remaining--;
	return 1;
}

int
msg_next_ack(struct msg_reader *r, uint64_t *id)
{
	if (r->type != SN_MSG_ANOMALIES_ACK)
		return -1;
	if (r->remaining == 0)
		return msg_at_end(r);
	if (get_u64(r, id) < 0)
		return -1;
	r->remaining--;
	return 1;
}

int
msg_check(const struct msg_reader *r)
{
	struct msg_reader c = *r;
	struct sn_event ev;
	struct sn_anomaly a;
	struct sn_daemon_status st;
	struct sn_cursor cur;
	uint64_t id;
	int rc;

	do {
		switch (c.type) {
		case SN_MSG_EVENTS:
			rc = msg_next_event(&c, &ev);
			break;
		case SN_MSG_ANOMALIES:
			rc = msg_next_anomaly(&c, &a);
			break;
		case SN_MSG_SET_STATE:
			rc = msg_next_daemon_status(&c, &st);
			break;
		case SN_MSG_CURSOR:
			rc = msg_next_cursor(&c, &cur);
			break;
		case SN_MSG_ANOMALIES_ACK:
			rc = msg_next_ack(&c, &id);
			break;
		default:
			return -1;
		}
	} while (rc == 1);
	return rc;
}
