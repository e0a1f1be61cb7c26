/*
 * loadgen.c: an open-loop HTTP load generator for the telemetry endpoint.
 *
 * Why not wrk: wrk (the one Debian ships) is closed-loop.  Each
 * connection sends its next request only when the previous answer came
 * back, so when the server stalls the generator stalls with it, sends
 * fewer requests and never times the ones it did not send: the slow
 * moments vanish from the percentiles ("coordinated omission").  wrk2
 * fixes that but is not packaged.
 *
 * What this does instead: request i is due at start + i / rate, whatever
 * the server does.  At its due time it goes out on an idle keep-alive
 * connection; if none is idle it waits in a queue (counted as a late
 * send) and leaves as soon as a connection frees up.  Latency runs from
 * the DUE time to the last byte of the response, so queueing behind a
 * slow server is part of the figure.  Connections are opened before the
 * clock starts; one that fails is reopened and counted as an error.
 *
 * Every event gets a unique event_id (prefix + counter) and the current
 * time; application_id "app-K" and data.model "model-J" cycle through
 * G distinct pairs.  --batch N > 1 posts a JSON array of N events.
 * Requests due in the first --warmup seconds are sent but not measured.
 *
 * One thread, one libevent loop, raw non-blocking sockets (one write and
 * one read per request, no bufferevent copies).  A precise timer wakes
 * at the next due time, at most once a tick, and sends all that is due.
 * The tick (--tick-us, default 1000 us) is how late a request may
 * leave, which shows in its latency (half a tick on average); a shorter
 * tick measures finer but costs more CPU, as it wakes both sides more
 * often (at 20k req/s: 100 us about 75 % of a core, 1 ms about 35 %).
 * Responses are parsed only as far as keep-alive needs: status line,
 * Content-Length, Connection: close.
 *
 * Prints one JSON object on stdout (see lg_report).  Latencies go into a
 * log-linear histogram (HDR style: 256 linear sub-buckets per power of
 * two, 1 us to 60 s, under 0.4 % error at the bucket midpoints).
 *
 *   loadgen --url http://127.0.0.1:8080/api/v1/telemetry/events
 *           --rate R --duration S [--connections C] [--batch N]
 *           [--groups G] [--warmup S] [--prefix STR]
 *           [--slow-every K --slow-latency MS] [--tick-us US]
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <netdb.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <event2/event.h>

#include "bench_args.h"
#include "util.h"

#define LG_DRAIN_NS   10000000000LL /* wait for answers after the end */
#define LG_CONNECT_NS 5000000000LL  /* all connections up within this */
#define LG_RETRY_US   100000        /* reconnect delay after a failure */
#define LG_INBUF      16384         /* largest response header block */
#define LG_EVENT_MAX  320           /* one event's JSON, minus prefix */
#define LG_MODELS     3             /* models per application */

/* Histogram: values in microseconds, 1 us .. 60 s. */
#define LG_HIST_BITS   8
#define LG_HIST_SUB    (1 << LG_HIST_BITS)
#define LG_HIST_HALF   (LG_HIST_SUB / 2)
#define LG_HIST_MAX_US 60000000ULL
#define LG_HIST_N      (LG_HIST_SUB + 19 * LG_HIST_HALF)

enum lg_state { LG_DOWN, LG_CONNECTING, LG_IDLE, LG_BUSY };

struct lg;

/* One keep-alive connection; at most one request in flight. */
struct lg_conn {
	struct lg *g;
	int fd; /* -1 while down */
	enum lg_state state;
	struct event *rev;   /* persistent read */
	struct event *wev;   /* connect completion, partial writes */
	struct event *retry; /* reconnect after LG_RETRY_US */
	char *out;           /* request buffer: header room, then body */
	size_t out_off;      /* first unwritten byte */
	size_t out_end;      /* end of the request */
	int64_t due_ns;      /* due time of the request in flight */
	bool measured;       /* in flight request is past the warmup */
	char in[LG_INBUF];   /* unparsed response bytes */
	size_t in_len;
	bool hdr_done;      /* headers of the current response parsed */
	int status;         /* its status code */
	uint64_t body_left; /* body bytes still to skip */
	bool close_after;   /* server said Connection: close */
};

/* The whole run: options, schedule, counters. */
struct lg {
	/* options */
	double rate;
	double duration;
	double warmup;
	unsigned nconns;
	unsigned batch;
	unsigned groups;
	unsigned slow_every;
	unsigned slow_latency;
	int64_t tick_ns; /* shortest timer: --tick-us */
	char prefix[64];
	char host[256]; /* as in the URL, for Host: */
	char node[256]; /* for getaddrinfo */
	char port[16];
	char path[1024];

	struct sockaddr_storage addr;
	socklen_t addrlen;
	struct event_base *base;
	struct event *tick;
	struct event *drain;
	struct lg_conn *conns;
	struct lg_conn **idle; /* stack of idle connections */
	unsigned nidle;
	unsigned nup; /* connections established */
	bool started;

	char hdr[1400]; /* "POST path ... Content-Length: " */
	size_t hdrlen;
	size_t hroom; /* room before the body in lg_conn.out */
	size_t body_max;

	/* schedule */
	int64_t t0;         /* due time of request 0 */
	int64_t warm_ns;    /* t0 + warmup */
	uint64_t total;     /* requests in warmup + duration */
	uint64_t warm_n;    /* requests due in the warmup */
	uint64_t next;      /* next request to send */
	uint64_t late_mark; /* requests below this found no connection */
	int64_t timer_at;   /* when the tick timer is set for, 0 none */
	unsigned inflight;

	/* event content */
	uint64_t nevents;
	uint64_t rnd;

	/* results (measured requests only, errors: see lg_report) */
	uint64_t sent;
	uint64_t completed;
	uint64_t ok;
	uint64_t errors;
	uint64_t late;
	uint64_t warmup_ok;
	uint64_t codes[600];
	int64_t last_done; /* completion of the last measured request */
	uint64_t hist[LG_HIST_N];
	uint64_t hist_count;
	uint64_t hist_max;
};

static void lg_connect(struct lg_conn *c);

static int64_t
lg_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* xorshift64*: cheap randomness for event values. */
static uint32_t
lg_rand(struct lg *g)
{
	g->rnd ^= g->rnd >> 12;
	g->rnd ^= g->rnd << 25;
	g->rnd ^= g->rnd >> 27;
	return (uint32_t)((g->rnd * 2685821657736338717ULL) >> 32);
}

/* --- histogram ------------------------------------------------------- */

static unsigned
lg_hist_index(uint64_t v)
{
	int e;

	if (v < LG_HIST_SUB)
		return (unsigned)v;
	e = 63 - __builtin_clzll(v) - (LG_HIST_BITS - 1);
	return LG_HIST_SUB + (unsigned)(e - 1) * LG_HIST_HALF +
	       (unsigned)((v >> e) - LG_HIST_HALF);
}

/* The midpoint of bucket i (exact below LG_HIST_SUB). */
static uint64_t
lg_hist_value(unsigned i)
{
	unsigned e, sub;

	if (i < LG_HIST_SUB)
		return i;
	e = (i - LG_HIST_SUB) / LG_HIST_HALF + 1;
	sub = (i - LG_HIST_SUB) % LG_HIST_HALF + LG_HIST_HALF;
	return ((uint64_t)sub << e) + ((uint64_t)1 << (e - 1));
}

static void
lg_hist_record(struct lg *g, uint64_t us)
{
	if (us < 1)
		us = 1;
	if (us > g->hist_max)
		g->hist_max = us;
	if (us > LG_HIST_MAX_US)
		us = LG_HIST_MAX_US;
	g->hist[lg_hist_index(us)]++;
	g->hist_count++;
}

/* The value at quantile q (0..1], never above the largest recorded. */
static uint64_t
lg_hist_quantile(const struct lg *g, double q)
{
	uint64_t rank, seen = 0;
	unsigned i;

	if (g->hist_count == 0)
		return 0;
	rank = (uint64_t)ceil(q * (double)g->hist_count);
	if (rank < 1)
		rank = 1;
	for (i = 0; i < LG_HIST_N; i++) {
		seen += g->hist[i];
		if (seen >= rank) {
			uint64_t v = lg_hist_value(i);
			return v < g->hist_max ? v : g->hist_max;
		}
	}
	return g->hist_max;
}

/* --- requests -------------------------------------------------------- */

static int64_t
lg_due(const struct lg *g, uint64_t i)
{
	return g->t0 + (int64_t)((double)i * 1e9 / g->rate);
}

/* Requests due by now (their index is below the result). */
static uint64_t
lg_ndue(const struct lg *g, int64_t now)
{
	uint64_t n;

	if (now < g->t0)
		return 0;
	n = (uint64_t)((double)(now - g->t0) * g->rate / 1e9) + 1;
	return n < g->total ? n : g->total;
}

/*
 * Writes one event's JSON at p (room bytes) with timestamp ts; returns
 * its length.  The room is sized so it always fits (lg_setup).
 */
static size_t
lg_event(struct lg *g, char *p, size_t room, const char *ts)
{
	uint64_t n = g->nevents++;
	unsigned grp = (unsigned)(n % g->groups);
	unsigned lat, tokens, cost;
	int len;

	if (g->slow_every && (n + 1) % g->slow_every == 0)
		lat = g->slow_latency;
	else
		lat = 100 + lg_rand(g) % 2901;
	tokens = 50 + lg_rand(g) % 2000;
	cost = tokens * 20; /* micro-dollars: 0.00002 a token */
	len = snprintf(p, room,
	               "{\"event_id\":\"%s%" PRIu64 "\",\"timestamp\":\"%s\","
	               "\"event_type\":\"llm.response\","
	               "\"application_id\":\"app-%u\",\"data\":{"
	               "\"status\":\"success\",\"latency_ms\":%u,"
	               "\"total_tokens\":%u,\"cost\":%u.%06u,"
	               "\"model\":\"model-%u\"}}",
	               g->prefix, n, ts, grp / LG_MODELS, lat, tokens,
	               cost / 1000000, cost % 1000000, grp % LG_MODELS);
	return (size_t)len;
}

/* The current UTC time as RFC 3339 with milliseconds, into ts[32]
 * (common/util.c's formatter, which takes no lock). */
static void
lg_timestamp(struct lg *g, char *ts)
{
	(void)g;
	sn_rfc3339_format(sn_now_ms(), ts, 32);
}

/*
 * Builds request i in c->out: the body first, after hroom bytes, then
 * the header right in front of it, so the request is one contiguous
 * write.
 */
static void
lg_build(struct lg *g, struct lg_conn *c)
{
	char ts[32], cl[32], *body = c->out + g->hroom, *p = body;
	size_t room = g->body_max, len, cllen;
	unsigned k;

	lg_timestamp(g, ts);
	if (g->batch > 1)
		*p++ = '[';
	for (k = 0; k < g->batch; k++) {
		if (k > 0)
			*p++ = ',';
		p += lg_event(g, p, room - (size_t)(p - body), ts);
	}
	if (g->batch > 1)
		*p++ = ']';
	len = (size_t)(p - body);
	cllen = (size_t)snprintf(cl, sizeof(cl), "%zu\r\n\r\n", len);
	c->out_off = g->hroom - cllen - g->hdrlen;
	memcpy(c->out + c->out_off, g->hdr, g->hdrlen);
	memcpy(c->out + c->out_off + g->hdrlen, cl, cllen);
	c->out_end = g->hroom + len;
}

/* Writes what is left of c's request; false when the socket failed. */
static bool
lg_flush(struct lg_conn *c)
{
	while (c->out_off < c->out_end) {
		ssize_t n = send(c->fd, c->out + c->out_off,
		                 c->out_end - c->out_off, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				event_add(c->wev, NULL);
				return true;
			}
			return false;
		}
		c->out_off += (size_t)n;
	}
	return true;
}

static void lg_fail(struct lg_conn *c);

/* Sends request i on the idle connection c. */
static void
lg_send(struct lg *g, struct lg_conn *c, uint64_t i)
{
	c->due_ns = lg_due(g, i);
	c->measured = i >= g->warm_n;
	c->state = LG_BUSY;
	c->hdr_done = false;
	g->inflight++;
	if (c->measured) {
		g->sent++;
		if (i < g->late_mark)
			g->late++;
	}
	lg_build(g, c);
	if (!lg_flush(c))
		lg_fail(c);
}

/*
 * Sends everything that is due on the idle connections, remembers what
 * had to queue, and sets the timer for the next due request.  Ends the
 * loop when every request is sent and answered.
 */
static void
lg_pump(struct lg *g)
{
	int64_t now, at;
	uint64_t due;

	if (!g->started)
		return;
	now = lg_mono_ns();
	due = lg_ndue(g, now);
	while (g->next < due && g->nidle > 0)
		lg_send(g, g->idle[--g->nidle], g->next++);
	if (g->next < due) {
		/* Queued: completions and reconnects send the rest. */
		if (g->late_mark < due)
			g->late_mark = due;
		at = now + 1000000;
	} else if (g->next < g->total) {
		at = lg_due(g, g->next);
		if (at < now + g->tick_ns)
			at = now + g->tick_ns;
	} else {
		if (g->inflight == 0)
			event_base_loopbreak(g->base);
		return;
	}
	if (g->timer_at == 0 || at < g->timer_at) {
		struct timeval tv;
		int64_t d = at - now;

		tv.tv_sec = d / 1000000000LL;
		tv.tv_usec = (d % 1000000000LL) / 1000;
		evtimer_add(g->tick, &tv);
		g->timer_at = at;
	}
}

static void
lg_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct lg *g = arg;

	(void)fd;
	(void)what;
	g->timer_at = 0;
	lg_pump(g);
}

static void
lg_drain_cb(evutil_socket_t fd, short what, void *arg)
{
	struct lg *g = arg;

	(void)fd;
	(void)what;
	event_base_loopbreak(g->base);
}

/* --- connections ----------------------------------------------------- */

static void
lg_close(struct lg_conn *c)
{
	struct lg *g = c->g;

	event_del(c->rev);
	event_del(c->wev);
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	if (c->state == LG_BUSY)
		g->inflight--;
	if (c->state == LG_IDLE) {
		unsigned k;

		for (k = 0; k < g->nidle; k++)
			if (g->idle[k] == c) {
				g->idle[k] = g->idle[--g->nidle];
				break;
			}
	}
	if (c->state == LG_IDLE || c->state == LG_BUSY)
		g->nup--;
	c->state = LG_DOWN;
	c->in_len = 0;
	c->hdr_done = false;
}

/*
 * A connection failed: the request in flight is lost (an error if it was
 * measured), and the connection is reopened after LG_RETRY_US.
 */
static void
lg_fail(struct lg_conn *c)
{
	struct lg *g = c->g;
	struct timeval tv = {0, LG_RETRY_US};

	if (c->state == LG_BUSY ? c->measured : g->started)
		g->errors++;
	lg_close(c);
	evtimer_add(c->retry, &tv);
	if (g->started && g->next == g->total && g->inflight == 0)
		event_base_loopbreak(g->base);
}

/* c is free for the next request. */
static void
lg_idle(struct lg_conn *c)
{
	struct lg *g = c->g;

	c->state = LG_IDLE;
	g->idle[g->nidle++] = c;
	lg_pump(g);
}

/* A whole response arrived on c. */
static void
lg_done(struct lg_conn *c)
{
	struct lg *g = c->g;
	int64_t now = lg_mono_ns();
	bool ok = c->status >= 200 && c->status < 300;

	g->inflight--;
	c->state = LG_IDLE;
	c->hdr_done = false;
	if (c->measured) {
		g->completed++;
		g->codes[c->status]++;
		if (ok)
			g->ok++;
		g->last_done = now;
		lg_hist_record(g, (uint64_t)(now - c->due_ns) / 1000);
	} else if (ok) {
		g->warmup_ok++;
	}
	if (c->close_after) {
		/* Not an error: the server ends keep-alive politely. */
		lg_close(c);
		lg_connect(c);
		lg_pump(g);
		return;
	}
	g->idle[g->nidle++] = c;
	lg_pump(g);
}

/*
 * Parses the header block c->in[0..len) (len includes the blank line):
 * status code, Content-Length, Connection: close.  False when it is not
 * an HTTP/1.x response we can follow.
 */
static bool
lg_headers(struct lg_conn *c, size_t len)
{
	char *p = c->in, *end = c->in + len, *eol;
	bool http10;

	if (len < 12 || strncmp(p, "HTTP/1.", 7) != 0 || p[8] != ' ')
		return false;
	http10 = p[7] == '0';
	c->status = atoi(p + 9);
	if (c->status < 100 || c->status > 599)
		return false;
	c->body_left = 0;
	c->close_after = http10;
	for (; p < end; p = eol + 2) {
		eol = memmem(p, (size_t)(end - p), "\r\n", 2);
		if (eol == NULL)
			break;
		*eol = '\0';
		if (strncasecmp(p, "Content-Length:", 15) == 0)
			c->body_left = strtoull(p + 15, NULL, 10);
		else if (strncasecmp(p, "Connection:", 11) == 0)
			c->close_after = strcasestr(p + 11, "close") != NULL;
		else if (strncasecmp(p, "Transfer-Encoding:", 18) == 0)
			return false; /* chunked: not for us */
	}
	return true;
}

/* Consumes complete responses from c->in; false on a protocol error. */
static bool
lg_parse(struct lg_conn *c)
{
	while (c->in_len > 0) {
		size_t take;

		if (c->state != LG_BUSY)
			return false; /* bytes nobody asked for */
		if (!c->hdr_done) {
			char *eoh = memmem(c->in, c->in_len, "\r\n\r\n", 4);
			size_t hlen;

			if (eoh == NULL)
				return c->in_len < sizeof(c->in);
			hlen = (size_t)(eoh - c->in) + 4;
			if (!lg_headers(c, hlen))
				return false;
			memmove(c->in, c->in + hlen, c->in_len - hlen);
			c->in_len -= hlen;
			c->hdr_done = true;
		}
		take = c->body_left < c->in_len ? (size_t)c->body_left
		                                : c->in_len;
		memmove(c->in, c->in + take, c->in_len - take);
		c->in_len -= take;
		c->body_left -= take;
		if (c->body_left > 0)
			return true;
		if (c->status < 200) {
			c->hdr_done = false; /* 1xx: the real one follows */
			continue;
		}
		lg_done(c);
	}
	return true;
}

static void
lg_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct lg_conn *c = arg;
	ssize_t n;

	(void)what;
	n = read(fd, c->in + c->in_len, sizeof(c->in) - c->in_len);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n == 0 && c->state == LG_IDLE) {
		/* The server closed an idle connection: just reopen. */
		lg_close(c);
		lg_connect(c);
		return;
	}
	if (n <= 0) {
		lg_fail(c);
		return;
	}
	c->in_len += (size_t)n;
	if (!lg_parse(c))
		lg_fail(c);
}

static void
lg_write_cb(evutil_socket_t fd, short what, void *arg)
{
	struct lg_conn *c = arg;
	struct lg *g = c->g;
	int err = 0;
	socklen_t len = sizeof(err);

	(void)what;
	if (c->state == LG_CONNECTING) {
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 ||
		    err != 0) {
			lg_fail(c);
			return;
		}
		event_add(c->rev, NULL);
		g->nup++;
		if (!g->started && g->nup == g->nconns)
			event_base_loopbreak(g->base);
		lg_idle(c);
		return;
	}
	if (c->state == LG_BUSY && !lg_flush(c))
		lg_fail(c);
}

static void
lg_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	lg_connect(arg);
}

/* Opens c's socket and starts connecting; completion in lg_write_cb. */
static void
lg_connect(struct lg_conn *c)
{
	struct lg *g = c->g;
	int one = 1;

	c->fd = socket(g->addr.ss_family,
	               SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		lg_fail(c);
		return;
	}
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(c->fd, (struct sockaddr *)&g->addr, g->addrlen) < 0 &&
	    errno != EINPROGRESS) {
		lg_fail(c);
		return;
	}
	c->state = LG_CONNECTING;
	event_assign(c->rev, g->base, c->fd, EV_READ | EV_PERSIST, lg_read_cb,
	             c);
	event_assign(c->wev, g->base, c->fd, EV_WRITE, lg_write_cb, c);
	event_add(c->wev, NULL);
}

/* --- setup and report ------------------------------------------------ */

static void
lg_usage(void)
{
	fprintf(stderr,
	        "usage: loadgen --url http://HOST:PORT/PATH --rate R "
	        "--duration SECONDS\n"
	        "               [--connections C] [--batch N] [--groups G] "
	        "[--warmup SECONDS]\n"
	        "               [--prefix STR] [--slow-every K "
	        "--slow-latency MS]\n"
	        "               [--tick-us US (default 1000)]\n");
	exit(2);
}

static double
lg_num(const char *opt, const char *s, double min, double max)
{
	return bench_num("loadgen", opt, s, min, max);
}

/* Splits http://host[:port][/path]; false when it is not such a URL. */
static bool
lg_url(struct lg *g, const char *url)
{
	const char *h, *slash, *colon;
	size_t hl;

	if (strncmp(url, "http://", 7) != 0)
		return false;
	h = url + 7;
	slash = strchr(h, '/');
	hl = slash ? (size_t)(slash - h) : strlen(h);
	if (hl == 0 || hl >= sizeof(g->host) ||
	    (slash && strlen(slash) >= sizeof(g->path)))
		return false;
	memcpy(g->host, h, hl);
	g->host[hl] = '\0';
	snprintf(g->path, sizeof(g->path), "%s", slash ? slash : "/");
	snprintf(g->port, sizeof(g->port), "80");
	if (g->host[0] == '[') {
		const char *rb = strchr(g->host, ']');

		if (rb == NULL)
			return false;
		snprintf(g->node, sizeof(g->node), "%.*s",
		         (int)(rb - g->host - 1), g->host + 1);
		colon = rb[1] == ':' ? rb + 1 : NULL;
	} else {
		colon = strrchr(g->host, ':');
		snprintf(g->node, sizeof(g->node), "%.*s",
		         (int)(colon ? (size_t)(colon - g->host) : hl),
		         g->host);
	}
	if (colon != NULL)
		snprintf(g->port, sizeof(g->port), "%s", colon + 1);
	return g->node[0] != '\0' && g->port[0] != '\0';
}

static void
lg_options(struct lg *g, int argc, char **argv)
{
	static const struct option opts[] = {
	        {"url", required_argument, NULL, 'u'},
	        {"rate", required_argument, NULL, 'r'},
	        {"duration", required_argument, NULL, 'd'},
	        {"connections", required_argument, NULL, 'c'},
	        {"batch", required_argument, NULL, 'b'},
	        {"groups", required_argument, NULL, 'g'},
	        {"warmup", required_argument, NULL, 'w'},
	        {"prefix", required_argument, NULL, 'p'},
	        {"slow-every", required_argument, NULL, 'k'},
	        {"slow-latency", required_argument, NULL, 'l'},
	        {"tick-us", required_argument, NULL, 't'},
	        {"help", no_argument, NULL, 'h'},
	        {NULL, 0, NULL, 0},
	};
	const char *url = NULL, *s;
	int ch;

	g->nconns = 64;
	g->batch = 1;
	g->groups = 50;
	g->warmup = 1;
	g->tick_ns = 1000000;
	snprintf(g->prefix, sizeof(g->prefix), "lg-%08" PRIx32 "-",
	         (uint32_t)(g->rnd >> 16));
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'u':
			url = optarg;
			break;
		case 'r':
			g->rate = lg_num("rate", optarg, 0.001, 1e7);
			break;
		case 'd':
			g->duration = lg_num("duration", optarg, 0.001, 86400);
			break;
		case 'c':
			g->nconns = (unsigned)lg_num("connections", optarg, 1,
			                             60000);
			break;
		case 'b':
			g->batch = (unsigned)lg_num("batch", optarg, 1, 100000);
			break;
		case 'g':
			g->groups = (unsigned)lg_num("groups", optarg, 1, 1e8);
			break;
		case 'w':
			g->warmup = lg_num("warmup", optarg, 0, 3600);
			break;
		case 'p':
			for (s = optarg; *s; s++)
				if (!strchr("abcdefghijklmnopqrstuvwxyz"
				            "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				            "0123456789._:-",
				            *s))
					break;
			if (*s || strlen(optarg) >= sizeof(g->prefix)) {
				fprintf(stderr, "loadgen: --prefix: up to 63 "
				                "of [A-Za-z0-9._:-]\n");
				exit(2);
			}
			snprintf(g->prefix, sizeof(g->prefix), "%s", optarg);
			break;
		case 'k':
			g->slow_every =
			        (unsigned)lg_num("slow-every", optarg, 1, 1e9);
			break;
		case 'l':
			g->slow_latency = (unsigned)lg_num("slow-latency",
			                                   optarg, 0, 1e9);
			break;
		case 't':
			g->tick_ns =
			        (int64_t)lg_num("tick-us", optarg, 1, 1000000) *
			        1000;
			break;
		default:
			lg_usage();
		}
	}
	if (optind != argc || url == NULL || g->rate <= 0 || g->duration <= 0)
		lg_usage();
	if (!lg_url(g, url)) {
		fprintf(stderr, "loadgen: --url: want http://HOST:PORT/PATH\n");
		exit(2);
	}
}

/* Resolves the address, pre-formats the header, allocates connections. */
static void
lg_setup(struct lg *g)
{
	struct addrinfo hints, *ai;
	unsigned k;
	int rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	rc = getaddrinfo(g->node, g->port, &hints, &ai);
	if (rc != 0) {
		fprintf(stderr, "loadgen: %s: %s\n", g->node, gai_strerror(rc));
		exit(1);
	}
	memcpy(&g->addr, ai->ai_addr, ai->ai_addrlen);
	g->addrlen = ai->ai_addrlen;
	freeaddrinfo(ai);

	g->hdrlen = (size_t)snprintf(g->hdr, sizeof(g->hdr),
	                             "POST %s HTTP/1.1\r\nHost: %s\r\n"
	                             "Content-Type: application/json\r\n"
	                             "Content-Length: ",
	                             g->path, g->host);
	g->hroom = g->hdrlen + 32;
	g->body_max = (size_t)g->batch * (LG_EVENT_MAX + sizeof(g->prefix)) + 2;

	g->conns = calloc(g->nconns, sizeof(*g->conns));
	g->idle = calloc(g->nconns, sizeof(*g->idle));
	if (g->conns == NULL || g->idle == NULL)
		goto oom;
	for (k = 0; k < g->nconns; k++) {
		struct lg_conn *c = &g->conns[k];

		c->g = g;
		c->fd = -1;
		c->out = malloc(g->hroom + g->body_max);
		c->rev = event_new(g->base, -1, 0, lg_read_cb, c);
		c->wev = event_new(g->base, -1, 0, lg_write_cb, c);
		c->retry = evtimer_new(g->base, lg_retry_cb, c);
		if (c->out == NULL || c->rev == NULL || c->wev == NULL ||
		    c->retry == NULL)
			goto oom;
	}
	g->tick = evtimer_new(g->base, lg_tick_cb, g);
	g->drain = evtimer_new(g->base, lg_drain_cb, g);
	if (g->tick == NULL || g->drain == NULL)
		goto oom;
	return;
oom:
	fprintf(stderr, "loadgen: out of memory\n");
	exit(1);
}

/*
 * The result, one JSON object on stdout.  Counts are of measured
 * requests (due after the warmup); errors also count failed connection
 * attempts; unfinished are measured requests without an answer (lost,
 * never sent, or still out after the drain).  achieved_rps and
 * events_per_s divide by the measured span (the duration, or longer when
 * the last answers came later).  warmup_ok counts requests answered 2xx
 * in the warmup, events_ok every event answered 2xx (what the server
 * should have stored), cpu_s this process's user + system time.
 */
static void
lg_report(struct lg *g)
{
	double span = g->duration, cpu;
	struct rusage ru;
	uint64_t unfinished = 0, due;
	int code;
	bool first = true;

	if (g->last_done > g->warm_ns &&
	    (double)(g->last_done - g->warm_ns) / 1e9 > span)
		span = (double)(g->last_done - g->warm_ns) / 1e9;
	due = g->total - g->warm_n;
	if (due > g->completed)
		unfinished = due - g->completed;
	getrusage(RUSAGE_SELF, &ru);
	cpu = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	      (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;

	printf("{\"rate_target\":%g,\"duration_s\":%g,\"connections\":%u,"
	       "\"batch\":%u,\"sent\":%" PRIu64 ",\"completed\":%" PRIu64
	       ",\"ok\":%" PRIu64 ",\"non2xx\":{",
	       g->rate, g->duration, g->nconns, g->batch, g->sent, g->completed,
	       g->ok);
	for (code = 100; code < 600; code++) {
		if ((code >= 200 && code < 300) || g->codes[code] == 0)
			continue;
		printf("%s\"%d\":%" PRIu64, first ? "" : ",", code,
		       g->codes[code]);
		first = false;
	}
	printf("},\"errors\":%" PRIu64 ",\"unfinished\":%" PRIu64
	       ",\"achieved_rps\":%.1f,\"events_per_s\":%.1f,"
	       "\"latency_us\":{\"p50\":%" PRIu64 ",\"p90\":%" PRIu64
	       ",\"p99\":%" PRIu64 ",\"p999\":%" PRIu64 ",\"max\":%" PRIu64
	       "},\"late_sends\":%" PRIu64 ",\"warmup_ok\":%" PRIu64
	       ",\"events_ok\":%" PRIu64 ",\"cpu_s\":%.2f}\n",
	       g->errors, unfinished, (double)g->completed / span,
	       (double)g->ok * g->batch / span, lg_hist_quantile(g, 0.50),
	       lg_hist_quantile(g, 0.90), lg_hist_quantile(g, 0.99),
	       lg_hist_quantile(g, 0.999), g->hist_max, g->late, g->warmup_ok,
	       (g->ok + g->warmup_ok) * g->batch, cpu);
}

int
main(int argc, char **argv)
{
	static struct lg lg;
	struct lg *g = &lg;
	struct event_config *cfg;
	struct timeval tv;
	int64_t deadline;
	unsigned k;

	g->rnd = (uint64_t)lg_mono_ns() ^ ((uint64_t)getpid() << 32) ^
	         0x9e3779b97f4a7c15ULL;
	lg_options(g, argc, argv);
	signal(SIGPIPE, SIG_IGN);

	/* Precise timers (timerfd), no cached time: the schedule is in us. */
	cfg = event_config_new();
	event_config_set_flag(cfg, EVENT_BASE_FLAG_PRECISE_TIMER |
	                                   EVENT_BASE_FLAG_NO_CACHE_TIME);
	g->base = event_base_new_with_config(cfg);
	event_config_free(cfg);
	if (g->base == NULL) {
		fprintf(stderr, "loadgen: event_base_new failed\n");
		return 1;
	}
	lg_setup(g);

	/* Open every connection before the clock starts. */
	for (k = 0; k < g->nconns; k++)
		lg_connect(&g->conns[k]);
	tv.tv_sec = LG_CONNECT_NS / 1000000000LL;
	tv.tv_usec = 0;
	evtimer_add(g->drain, &tv);
	event_base_dispatch(g->base);
	evtimer_del(g->drain);
	if (g->nup == 0) {
		fprintf(stderr, "loadgen: cannot connect to %s:%s\n", g->node,
		        g->port);
		return 1;
	}
	if (g->nup < g->nconns)
		fprintf(stderr, "loadgen: only %u of %u connections up\n",
		        g->nup, g->nconns);

	g->t0 = lg_mono_ns() + 1000000;
	g->warm_ns = g->t0 + (int64_t)(g->warmup * 1e9);
	g->total = (uint64_t)((g->warmup + g->duration) * g->rate);
	g->warm_n = (uint64_t)(g->warmup * g->rate);
	while (g->warm_n > 0 && lg_due(g, g->warm_n - 1) >= g->warm_ns)
		g->warm_n--;
	while (g->warm_n < g->total && lg_due(g, g->warm_n) < g->warm_ns)
		g->warm_n++;
	g->errors = 0;
	g->started = true;
	deadline = lg_due(g, g->total) + LG_DRAIN_NS - lg_mono_ns();
	tv.tv_sec = deadline / 1000000000LL;
	tv.tv_usec = (deadline % 1000000000LL) / 1000;
	evtimer_add(g->drain, &tv);
	lg_pump(g);
	event_base_dispatch(g->base);
	lg_report(g);
	return 0;
}
