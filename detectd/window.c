/*
 * window.c: the tumbling event-time buckets of windowed detectors, and
 * how a bucket's events become one value (the aggregations and derived
 * metrics of detector.h).
 *
 * A bucket keeps count, sum, min, max, the latest value by event time,
 * the error count (for error_rate), the first few event_ids and, for the
 * p50-p99 aggregations, a quantile sketch right behind it in the group's
 * block: everything is fixed-size, so a group is one flat block.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "detector.h"
#include "sketch.h"
#include "util.h"

int64_t
win_start(int64_t ts, int64_t w)
{
	int64_t r = ts % w;

	/* Floor, not truncation: events before 1970 stay aligned. */
	return r < 0 ? ts - r - w : ts - r;
}

struct win_bucket *
win_bucket(const struct det *d, struct group *g, unsigned i)
{
	return (struct win_bucket *)((char *)g + d->off_buckets +
	                             (size_t)i * d->bucket_size);
}

static struct qsketch *
win_sketch(const struct win_bucket *b)
{
	return (struct qsketch *)(void *)((char *)(uintptr_t)b + sizeof(*b));
}

void
win_reset(const struct det *d, struct win_bucket *b, int64_t start)
{
	memset(b, 0, sizeof(*b));
	b->start = start;
	b->min = INFINITY;
	b->max = -INFINITY;
	b->last_ts = INT64_MIN;
	if (d->has_sketch)
		qsketch_init(win_sketch(b), DET_SKETCH_ERROR, DET_SKETCH_BINS);
}

/* Keeps ev's event_id when it still fits (the window's first ones). */
static void
win_keep_id(struct win_bucket *b, const struct sn_event *ev)
{
	size_t len = ev->event_id.len;

	if (b->nids >= SN_ANOMALY_MAX_EVENT_IDS || len > 255 ||
	    b->idlen + 1 + len > sizeof(b->ids))
		return;
	b->ids[b->idlen] = (char)(uint8_t)len;
	memcpy(b->ids + b->idlen + 1, ev->event_id.p, len);
	b->idlen = (uint8_t)(b->idlen + 1 + len);
	b->nids++;
}

void
win_add(const struct det *d, struct win_bucket *b, double value, int has_value,
        const struct sn_event *ev)
{
	if (b->events == 0)
		b->first_seq = ev->seq;
	b->events++;
	/* An event without a status is not counted as an error: nothing
	 * says it failed (error_rate is about reported failures). */
	if (ev->status.len > 0 && strcmp(ev->status.p, "success") != 0)
		b->errors++;
	win_keep_id(b, ev);
	if (!has_value)
		return;
	b->n++;
	b->sum += value;
	if (value < b->min)
		b->min = value;
	if (value > b->max)
		b->max = value;
	/* Ties in event time go to the later arrival. */
	if (ev->ts_ms >= b->last_ts) {
		b->last_ts = ev->ts_ms;
		b->last = value;
	}
	if (d->has_sketch)
		qsketch_add(win_sketch(b), value);
}

static double
win_quantile(enum det_agg a)
{
	switch (a) {
	case DET_AGG_P50:
		return 0.5;
	case DET_AGG_P90:
		return 0.9;
	case DET_AGG_P95:
		return 0.95;
	default:
		return 0.99;
	}
}

/*
 * The derived metrics.  An empty window is 0 requests per second and 0
 * tokens per second (absence is a value), while it has no error rate
 * and no cost per request (nothing to divide).
 */
static void
win_derived(const struct det *d, const struct win_bucket *b,
            struct det_sample *s)
{
	double secs = (double)d->window_ms / 1000.0;
	uint64_t events = b ? b->events : 0;
	double sum = b ? b->sum : 0;

	s->samples = events;
	switch (d->metric) {
	case DET_M_ERROR_RATE:
		s->has_value = events > 0;
		s->value = events ? (double)b->errors / (double)events : 0;
		break;
	case DET_M_REQUEST_RATE:
		s->has_value = 1;
		s->value = (double)events / secs;
		break;
	case DET_M_TOKENS_PER_SECOND:
		s->has_value = 1;
		s->value = sum / secs;
		break;
	case DET_M_COST_PER_REQUEST:
		s->has_value = events > 0;
		s->value = events ? sum / (double)events : 0;
		break;
	default:
		break;
	}
}

void
win_sample(const struct det *d, const struct win_bucket *b, int64_t start,
           struct det_sample *s)
{
	uint64_t n = b ? b->n : 0;

	memset(s, 0, sizeof(*s));
	s->start_ms = start;
	s->end_ms = start + d->window_ms;
	s->empty = b == NULL || b->events == 0;
	if (d->agg == DET_AGG_DERIVED) {
		win_derived(d, b, s);
		return;
	}
	s->samples = n;
	if (n == 0) {
		/* Nothing to average; but an empty window counts 0 and
		 * sums to 0, which is what absence detection needs. */
		s->has_value = d->agg == DET_AGG_COUNT || d->agg == DET_AGG_SUM;
		return;
	}
	s->has_value = 1;
	switch (d->agg) {
	case DET_AGG_AVG:
		s->value = b->sum / (double)n;
		break;
	case DET_AGG_MIN:
		s->value = b->min;
		break;
	case DET_AGG_MAX:
		s->value = b->max;
		break;
	case DET_AGG_SUM:
		s->value = b->sum;
		break;
	case DET_AGG_COUNT:
		s->value = (double)n;
		break;
	case DET_AGG_P50:
	case DET_AGG_P90:
	case DET_AGG_P95:
	case DET_AGG_P99:
		s->value =
		        qsketch_quantile(win_sketch(b), win_quantile(d->agg));
		break;
	case DET_AGG_LAST:
		s->value = b->last;
		break;
	default:
		s->has_value = 0;
		break;
	}
}

void
win_json_string(struct sn_buf *out, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	char esc[6] = {'\\', 'u', '0', '0', 0, 0};
	size_t i;

	sn_buf_append(out, "\"", 1);
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"' || c == '\\') {
			sn_buf_append(out, "\\", 1);
			sn_buf_append(out, &s[i], 1);
		} else if (c < 0x20) {
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
			sn_buf_append(out, esc, 6);
		} else {
			sn_buf_append(out, &s[i], 1);
		}
	}
	sn_buf_append(out, "\"", 1);
}

void
win_ids_json(const struct win_bucket *b, struct sn_buf *out, char *first,
             size_t size)
{
	size_t off = 0, len;
	unsigned i;

	if (size > 0)
		first[0] = '\0';
	sn_buf_append(out, "[", 1);
	for (i = 0; b != NULL && i < b->nids; i++) {
		len = (uint8_t)b->ids[off];
		if (i > 0)
			sn_buf_append(out, ",", 1);
		win_json_string(out, b->ids + off + 1, len);
		if (i == 0 && size > 0)
			snprintf(first, size, "%.*s", (int)len,
			         b->ids + off + 1);
		off += 1 + len;
	}
	sn_buf_append(out, "]", 2); /* with the NUL */
}
