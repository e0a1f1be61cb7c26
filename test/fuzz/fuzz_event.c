/*
 * fuzz_event.c: an HTTP request body through ingestd, then detectd.
 *
 * The input is a request as the client writes it: the Content-Type
 * header value, a newline, then the body ("application/json\n{...}",
 * "application/x-ndjson\n{...}\n{...}").  Without a newline the whole
 * input is the header and the body is empty.  From there it goes the way
 * http_events_cb and http_forward do (ingestd/http.c): the media type
 * decides the framing (415 otherwise); ingest_parse parses one object,
 * an array batch or NDJSON with the timestamp window of the default
 * config around FUZZ_NOW_MS; every accepted event gets its
 * sequence number and receive time and is appended to an SN_MSG_EVENTS
 * batch, which is sent (here: decoded) when full.  Decoding is what
 * detectd does with the batch, and the events then go through a
 * detection engine whose anomalies are encoded the way detectd sends
 * them to stored and alertd.
 *
 * The body is also parsed as `sentinel-cli replay` reads a file, with no
 * window (ingest_parse_body).
 *
 * Checked on the way, cheaply: the parse result is consistent (every
 * event of the body is accepted or rejected once, reasons are printable
 * ASCII); the window only adds rejections, counted as such; an accepted
 * event's compact JSON loads and validates again to
 * the same event; msg_event_size is the size msg_add_event writes; a
 * batch decodes back to the same events, field for field; the anomaly
 * message is well-formed.
 */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "../../detectd/engine.h"
#include "../../ingestd/ingestd.h"
#include "event.h"
#include "fuzz.h"
#include "msg.h"
#include "util.h"
#include "validate.h"

/* ingestd's http.max_batch_events is 10000 by default; a small limit
 * lets short inputs reach the 413 path too. */
#define FE_MAX_EVENTS 64

/* What http_events_cb passes ingest_parse: the limits of the default
 * config, with the fuzzer's fixed clock. */
static const struct ingest_opts *
fe_opts(void)
{
	static struct ingest_opts o;
	struct sn_config *cfg;

	if (o.max_events == 0) {
		FUZZ_CHECK((cfg = config_load_main(NULL, NULL)) != NULL);
		o.max_events = FE_MAX_EVENTS;
		o.window = true;
		o.now_ms = FUZZ_NOW_MS;
		o.max_age_ms = cfg->limits.max_age_ms;
		o.max_future_ms = cfg->limits.max_future_ms;
		config_free(cfg);
	}
	return &o;
}

/* Everything an accepted event becomes, to compare after decoding. */
struct fe_state {
	struct sn_buf batch; /* the SN_MSG_EVENTS message filling */
	const struct sn_event *sent[FWD_BATCH_EVENTS]; /* in batch order */
	uint32_t nsent;
	struct engine *engine;
	struct sn_buf anomalies; /* what detectd would send on */
	uint32_t nanomalies;
};

static int
fe_is_printable(const char *s, size_t max)
{
	size_t i;

	for (i = 0; i < max && s[i] != '\0'; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			return 0;
	return i < max; /* NUL-terminated within its array */
}

static int
fe_str_eq(struct sn_str a, struct sn_str b)
{
	return a.len == b.len && memcmp(a.p, b.p, a.len) == 0 &&
	       b.p[b.len] == '\0';
}

static int
fe_num_eq(double a, double b)
{
	return memcmp(&a, &b, sizeof(a)) == 0;
}

/* engine_emit_cb: detectd_emit's encoding of each anomaly. */
static void
fe_emit(const struct sn_anomaly *a, void *arg)
{
	struct fe_state *st = arg;
	json_t *j;

	msg_add_anomaly(&st->anomalies, a);
	st->nanomalies++;
	/* what `sentinel-cli replay` writes for it */
	j = engine_anomaly_json(a);
	FUZZ_CHECK(j != NULL);
	json_decref(j);
}

/* A parse result must account for every event of the body once. */
static void
fe_check_result(const struct ingest_result *res, enum ingest_status rc)
{
	size_t i, e = 0, r = 0;
	uint32_t idx;

	FUZZ_CHECK(rc == res->status);
	if (rc != INGEST_OK) {
		FUZZ_CHECK(res->nevents == 0 && res->nrejects == 0);
		FUZZ_CHECK(res->reason[0] != '\0');
		FUZZ_CHECK(fe_is_printable(res->reason, sizeof(res->reason)));
		return;
	}
	FUZZ_CHECK(res->nevents + res->nrejects == res->total);
	FUZZ_CHECK(res->total > 0 && res->total <= FE_MAX_EVENTS);
	FUZZ_CHECK(res->batch || res->total == 1);
	/* indexes 0..total-1, each once, in order on both lists */
	for (idx = 0; idx < res->total; idx++) {
		if (e < res->nevents && res->events[e].index == idx)
			e++;
		else {
			FUZZ_CHECK(r < res->nrejects);
			FUZZ_CHECK(res->rejects[r].index == idx);
			r++;
		}
	}
	for (i = 0; i < res->nrejects; i++) {
		const struct ingest_reject *rj = &res->rejects[i];

		FUZZ_CHECK(rj->field != NULL);
		FUZZ_CHECK(rj->kind >= INGEST_REJ_INVALID &&
		           rj->kind <= INGEST_REJ_WINDOW);
		FUZZ_CHECK(fe_is_printable(rj->reason, sizeof(rj->reason)));
		FUZZ_CHECK(!rj->has_event_id ||
		           (rj->event_id[0] != '\0' &&
		            rj->event_id[SN_EVENT_ID_MAX] == '\0'));
	}
}

/*
 * The window only refuses events the replay parse takes, and says so;
 * everything else is decided alike.
 */
static void
fe_check_window(const struct ingest_result *w, const struct ingest_result *r)
{
	size_t i, j = 0, k = 0;

	FUZZ_CHECK(w->status == r->status);
	if (w->status != INGEST_OK)
		return;
	FUZZ_CHECK(w->total == r->total && w->nevents <= r->nevents);
	for (i = 0; i < w->nrejects; i++) {
		const struct ingest_reject *x = &w->rejects[i];

		while (j < r->nrejects && r->rejects[j].index < x->index)
			j++;
		if (j < r->nrejects && r->rejects[j].index == x->index) {
			/* the same fault, unless the window was found first */
			FUZZ_CHECK(r->rejects[j].kind == x->kind ||
			           x->kind == INGEST_REJ_WINDOW);
			continue;
		}
		/* accepted without the window */
		FUZZ_CHECK(x->kind == INGEST_REJ_WINDOW);
		k++;
	}
	FUZZ_CHECK(w->nevents + k == r->nevents);
}

/* An accepted event's stored text must load and validate to the same
 * event: stored keeps that text and the query API serves it back. */
static void
fe_check_event(const struct ingest_event *ie)
{
	const struct sn_event *ev = &ie->ev;
	const char *field, *reason;
	struct sn_event again;
	json_t *obj;

	FUZZ_CHECK(ev->event_id.len >= 1 &&
	           ev->event_id.len <= SN_EVENT_ID_MAX);
	FUZZ_CHECK(ev->json.p == ie->json && ev->json.len == strlen(ie->json));
	obj = json_loadb(ie->json, strlen(ie->json), JSON_REJECT_DUPLICATES,
	                 NULL);
	FUZZ_CHECK(obj != NULL);
	FUZZ_CHECK(ingest_validate_event(obj, &again, &field, &reason) == 0);
	FUZZ_CHECK(fe_str_eq(again.event_id, ev->event_id));
	FUZZ_CHECK(again.ts_ms == ev->ts_ms);
	FUZZ_CHECK(again.present == ev->present);
	json_decref(obj);
}

/* "Sends" the batch: decodes it as detectd does, compares, detects. */
static void
fe_flush(struct fe_state *st)
{
	struct msg_reader r;
	struct sn_event ev;
	const struct sn_event *want;
	uint32_t i = 0;
	int rc;

	if (msg_count(&st->batch) == 0)
		return;
	FUZZ_CHECK(msg_open(&r, st->batch.data, st->batch.len) == 0);
	FUZZ_CHECK(r.type == SN_MSG_EVENTS && r.remaining == st->nsent);
	FUZZ_CHECK(msg_check(&r) == 0);
	while ((rc = msg_next_event(&r, &ev)) == 1) {
		FUZZ_CHECK(i < st->nsent);
		want = st->sent[i++];
		FUZZ_CHECK(ev.seq == want->seq && ev.ts_ms == want->ts_ms &&
		           ev.recv_ms == want->recv_ms &&
		           ev.present == want->present);
		FUZZ_CHECK(fe_num_eq(ev.latency_ms, want->latency_ms) &&
		           fe_num_eq(ev.total_tokens, want->total_tokens) &&
		           fe_num_eq(ev.prompt_tokens, want->prompt_tokens) &&
		           fe_num_eq(ev.completion_tokens,
		                     want->completion_tokens) &&
		           fe_num_eq(ev.cost, want->cost));
		FUZZ_CHECK(fe_str_eq(ev.event_id, want->event_id));
		FUZZ_CHECK(fe_str_eq(ev.event_type, want->event_type));
		FUZZ_CHECK(fe_str_eq(ev.application_id, want->application_id));
		FUZZ_CHECK(fe_str_eq(ev.model, want->model));
		FUZZ_CHECK(fe_str_eq(ev.status, want->status));
		FUZZ_CHECK(fe_str_eq(ev.timestamp, want->timestamp));
		FUZZ_CHECK(fe_str_eq(ev.json, want->json));
		engine_feed(st->engine, &ev, FUZZ_NOW_MS, fe_emit, st);
	}
	FUZZ_CHECK(rc == 0 && i == st->nsent);
	msg_begin(&st->batch, SN_MSG_EVENTS);
	st->nsent = 0;
}

/* http_forward and fwd_append: sequence, receive time, batch. */
static void
fe_forward(struct fe_state *st, struct ingest_result *res)
{
	static uint64_t seq = 1;
	size_t i, before;

	for (i = 0; i < res->nevents; i++) {
		struct sn_event *ev = &res->events[i].ev;

		ev->recv_ms = FUZZ_NOW_MS;
		ev->seq = seq++;
		before = st->batch.len;
		msg_add_event(&st->batch, ev);
		FUZZ_CHECK(st->batch.len - before == msg_event_size(ev));
		st->sent[st->nsent++] = ev;
		if (st->batch.len >= FWD_BATCH_BYTES ||
		    msg_count(&st->batch) >= FWD_BATCH_EVENTS)
			fe_flush(st);
	}
	fe_flush(st);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fe_state st;
	struct ingest_result res, replay;
	enum ingest_body_kind kind;
	enum ingest_status rc;
	struct msg_reader r;
	const uint8_t *nl;
	char ctype[256];
	size_t hlen;
	const char *body;
	size_t blen, i;

	fuzz_quiet();
	/* The header line, as evhttp hands it over: a C string. */
	nl = memchr(data, '\n', size);
	hlen = nl != NULL ? (size_t)(nl - data) : size;
	if (hlen >= sizeof(ctype) || memchr(data, '\0', hlen) != NULL)
		return 0;
	memcpy(ctype, data, hlen);
	ctype[hlen] = '\0';
	body = nl != NULL ? (const char *)nl + 1 : "";
	blen = nl != NULL ? size - hlen - 1 : 0;
	if (ingest_body_kind_parse(ctype, &kind) < 0)
		return 0; /* 415 */

	memset(&replay, 0, sizeof(replay));
	rc = ingest_parse_body(body, blen, kind, FE_MAX_EVENTS, &replay);
	fe_check_result(&replay, rc);
	for (i = 0; i < replay.nevents; i++)
		fe_check_event(&replay.events[i]);

	memset(&res, 0, sizeof(res));
	rc = ingest_parse(body, blen, kind, fe_opts(), &res);
	fe_check_result(&res, rc);
	fe_check_window(&res, &replay);
	ingest_result_free(&replay);
	if (rc == INGEST_OK && res.nevents > 0) {
		st.engine = engine_new(fuzz_detectors(), NULL);
		msg_begin(&st.batch, SN_MSG_EVENTS);
		msg_begin(&st.anomalies, SN_MSG_ANOMALIES);
		st.nsent = st.nanomalies = 0;
		fe_forward(&st, &res);
		/* the end of a replay closes every open window */
		engine_finish(st.engine, FUZZ_NOW_MS, fe_emit, &st);
		FUZZ_CHECK(msg_open(&r, st.anomalies.data, st.anomalies.len) ==
		           0);
		FUZZ_CHECK(r.remaining == st.nanomalies);
		FUZZ_CHECK(msg_check(&r) == 0);
		engine_free(st.engine);
		st.engine = NULL;
	}
	ingest_result_free(&res);
	return 0;
}
