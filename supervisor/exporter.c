/*
 * exporter.c: GET /metrics for Prometheus (exporter.h).
 *
 * The daemons count into their own shared-memory files; a scrape maps
 * the five files read-only and renders them, so it never asks a daemon
 * anything and costs the ingest path nothing but the CPU of this
 * process.  The supervisor's own series are refreshed just before:
 * whether each daemon is up, its restarts, and from /proc its CPU time,
 * resident memory, open files and start time.
 *
 * libevent's evhttp serves it, as it serves ingestd's API: one small
 * request a scrape interval needs nothing more.
 */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>

#include "config.h"
#include "control.h"
#include "exporter.h"
#include "log.h"
#include "metrics.h"
#include "proc.h"
#include "sup.h"
#include "util.h"

#define EXPORTER_RETRY_S   5
#define EXPORTER_TIMEOUT_S 10
/* The supervisor and the four daemons. */
#define EXPORTER_FILES (PROC_COUNT + 1)
#define SUP_NAME       "sentinel"

struct exporter {
	struct sup *sup;
	struct evhttp *http;
	struct event *retry_ev;
	char *paths[EXPORTER_FILES];
	struct metrics_reader *reader; /* keeps the files mapped */
};

/* Per process: the series the supervisor sets. */
struct proc_series {
	struct sn_series *up, *restarts, *cpu, *rss, *fds, *start;
};

static struct proc_series own_series[EXPORTER_FILES];
static long clk_tck, page_size;
static int64_t boot_time_s;

/* The supervisor itself has no restarts: it is the one restarting. */
static void
proc_series_init(struct proc_series *ps, const char *name, bool child)
{
	ps->up = metrics_series(M_UP, name);
	ps->restarts = child ? metrics_series(M_DAEMON_RESTARTS, name) : NULL;
	ps->cpu = metrics_series(M_PROCESS_CPU, name);
	ps->rss = metrics_series(M_PROCESS_RSS, name);
	ps->fds = metrics_series(M_PROCESS_FDS, name);
	ps->start = metrics_series(M_PROCESS_START, name);
}

static int64_t
read_boot_time(void)
{
	char line[256];
	long long v;
	FILE *f = fopen("/proc/stat", "re");

	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "btime %lld", &v) == 1) {
			fclose(f);
			return v;
		}
	fclose(f);
	return 0;
}

/* CPU, memory, start time and files of pid from /proc into ps. */
static void
proc_sample(pid_t pid, struct proc_series *ps)
{
	char path[64], buf[1024], *p;
	unsigned long long utime, stime, start;
	long long rss;
	ssize_t n;
	int fd, fds;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = '\0';
	/* The command name may hold spaces and parentheses: fields are
	 * counted from the last ')', which ends it; field 3 follows. */
	if ((p = strrchr(buf, ')')) == NULL)
		return;
	if (sscanf(p + 2,
	           "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu "
	           "%*d %*d %*d %*d %*d %*d %llu %*u %lld",
	           &utime, &stime, &start, &rss) != 4)
		return;
	metrics_set(ps->cpu, (double)(utime + stime) / (double)clk_tck);
	metrics_set(ps->rss, (double)rss * (double)page_size);
	metrics_set(ps->start,
	            (double)boot_time_s + (double)start / (double)clk_tck);
	if ((fds = sn_proc_open_fds(pid)) >= 0)
		metrics_set(ps->fds, fds);
}

void
exporter_refresh(struct sup *s)
{
	int k;

	metrics_set(own_series[0].up, 1);
	proc_sample(getpid(), &own_series[0]);
	for (k = 0; k < PROC_COUNT; k++) {
		const struct proc *p = &s->children[k].p;
		struct proc_series *ps = &own_series[k + 1];

		metrics_set(ps->up, p->state == SN_DAEMON_UP ? 1 : 0);
		metrics_set(ps->restarts, p->restarts);
		if (p->pid > 0)
			proc_sample(p->pid, ps);
	}
}

static void
exporter_reply_json(struct evhttp_request *req, int code, const char *reason,
                    const char *error)
{
	struct evbuffer *out = evbuffer_new();
	json_t *body = json_pack("{s:s}", "error", error);
	char *s = json_dumps(body, JSON_COMPACT);

	evhttp_add_header(evhttp_request_get_output_headers(req),
	                  "Content-Type", "application/json");
	if (out != NULL && s != NULL)
		evbuffer_add_printf(out, "%s\n", s);
	evhttp_send_reply(req, code, reason, out);
	free(s);
	json_decref(body);
	if (out != NULL)
		evbuffer_free(out);
}

static void
exporter_on_request(struct evhttp_request *req, void *arg)
{
	struct exporter *e = arg;
	const char *uri = evhttp_request_get_uri(req);
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	struct evkeyvalq *hdrs = evhttp_request_get_output_headers(req);
	struct sn_buf text = {0};
	struct evbuffer *out;
	size_t plen;

	plen = strcspn(uri, "?");
	if (plen != strlen("/metrics") || strncmp(uri, "/metrics", plen) != 0) {
		if (plen == 1 && uri[0] == '/' &&
		    (cmd == EVHTTP_REQ_GET || cmd == EVHTTP_REQ_HEAD)) {
			out = evbuffer_new();
			evhttp_add_header(hdrs, "Content-Type",
			                  "text/plain; charset=utf-8");
			evbuffer_add_printf(out,
			                    "LLM-Sentinel %s: metrics "
			                    "at /metrics\n",
			                    SENTINEL_VERSION);
			evhttp_send_reply(req, 200, "OK", out);
			evbuffer_free(out);
			return;
		}
		exporter_reply_json(req, 404, "Not Found",
		                    "not found: the metrics are at /metrics");
		return;
	}
	if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
		evhttp_add_header(hdrs, "Allow", "GET, HEAD");
		exporter_reply_json(req, 405, "Method Not Allowed",
		                    "method not allowed: use GET");
		return;
	}
	exporter_refresh(e->sup);
	metrics_reader_text(e->reader, &text);
	out = evbuffer_new();
	if (out == NULL) {
		sn_buf_free(&text);
		evhttp_send_error(req, 500, NULL);
		return;
	}
	evbuffer_add(out, text.data, text.len);
	sn_buf_free(&text);
	evhttp_add_header(hdrs, "Content-Type",
	                  "text/plain; version=0.0.4; charset=utf-8");
	evhttp_send_reply(req, 200, "OK", out);
	evbuffer_free(out);
}

static int
exporter_bind(struct exporter *e)
{
	const struct sn_config *cfg = e->sup->cfg;

	if (evhttp_bind_socket_with_handle(
	            e->http, cfg->obs.metrics_host,
	            (ev_uint16_t)cfg->obs.metrics_port) == NULL) {
		char port[16];

		snprintf(port, sizeof(port), "%d", cfg->obs.metrics_port);
		log_kv(LOG_LEVEL_ERROR,
		       "metrics: cannot listen, trying again in 5s", "host",
		       cfg->obs.metrics_host, "port", port, "error",
		       strerror(errno), NULL);
		return -1;
	}
	return 0;
}

static void
exporter_on_retry(evutil_socket_t fd, short what, void *arg)
{
	struct exporter *e = arg;
	struct timeval tv = {EXPORTER_RETRY_S, 0};

	(void)fd;
	(void)what;
	if (exporter_bind(e) < 0)
		event_add(e->retry_ev, &tv);
}

struct exporter *
exporter_start(struct sup *s)
{
	struct exporter *e;
	struct timeval tv = {EXPORTER_RETRY_S, 0};
	char path[PATH_MAX];
	int k;

	clk_tck = sysconf(_SC_CLK_TCK);
	page_size = sysconf(_SC_PAGESIZE);
	if (clk_tck <= 0)
		clk_tck = 100;
	if (page_size <= 0)
		page_size = 4096;
	boot_time_s = read_boot_time();
	(void)metrics_open(s->run_dir, SUP_NAME, s->cfg->obs.metrics_label_cap);
	metrics_set(metrics_series(M_BUILD_INFO, SENTINEL_VERSION), 1);
	metrics_set(metrics_series(M_KAFKA_CONSUMER_LAG), 0);
	proc_series_init(&own_series[0], SUP_NAME, false);
	for (k = 0; k < PROC_COUNT; k++)
		proc_series_init(&own_series[k + 1], proc_table[k].name, true);

	e = sn_xcalloc(1, sizeof(*e));
	e->sup = s;
	metrics_path(path, sizeof(path), s->run_dir, SUP_NAME);
	e->paths[0] = sn_xstrdup(path);
	for (k = 0; k < PROC_COUNT; k++) {
		metrics_path(path, sizeof(path), s->run_dir,
		             proc_table[k].name);
		e->paths[k + 1] = sn_xstrdup(path);
	}
	e->reader = metrics_reader_new((const char *const *)e->paths,
	                               EXPORTER_FILES);
	if (!s->cfg->obs.metrics_enabled)
		return e;
	e->http = evhttp_new(s->base);
	e->retry_ev = evtimer_new(s->base, exporter_on_retry, e);
	if (e->http == NULL || e->retry_ev == NULL) {
		log_warnx("metrics: cannot create the HTTP server");
		return e;
	}
	evhttp_set_timeout(e->http, EXPORTER_TIMEOUT_S);
	evhttp_set_max_headers_size(e->http, 16384);
	evhttp_set_max_body_size(e->http, 0);
	evhttp_set_allowed_methods(
	        e->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST |
	                         EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE);
	evhttp_set_gencb(e->http, exporter_on_request, e);
	if (exporter_bind(e) < 0)
		event_add(e->retry_ev, &tv);
	return e;
}

void
exporter_free(struct exporter *e)
{
	int k;

	if (e == NULL)
		return;
	if (e->http != NULL)
		evhttp_free(e->http);
	if (e->retry_ev != NULL)
		event_free(e->retry_ev);
	for (k = 0; k < EXPORTER_FILES; k++)
		free(e->paths[k]);
	metrics_reader_free(e->reader);
	free(e);
	metrics_close();
}

/* --- the control command ------------------------------------------------ */

struct sample_list {
	json_t *samples;
};

static void
collect_sample(void *arg, const struct sn_metric_def *d, const char *name,
               const char *labels, double value)
{
	struct sample_list *l = arg;

	(void)d;
	json_array_append_new(l->samples,
	                      json_pack("{s:s, s:s, s:f}", "name", name,
	                                "labels", labels, "value", value));
}

json_t *
control_cmd_metrics(struct sup *s, json_t *req)
{
	struct exporter *e = s->exporter;
	const char *name = json_string_value(json_object_get(req, "name"));
	const char *format = json_string_value(json_object_get(req, "format"));
	const struct sn_metric_def *d;
	const struct metrics_visitor v = {NULL, collect_sample};
	const struct metrics_visitor none = {NULL, NULL};
	struct sample_list l;
	struct sn_buf text = {0};
	json_t *fams, *reply;
	size_t i, n;

	if (e == NULL)
		return control_error("metrics are not available");
	exporter_refresh(s);
	if (format != NULL) {
		if (strcmp(format, "text") != 0)
			return control_error("unknown format: %.64s", format);
		metrics_reader_text(e->reader, &text);
		reply = json_pack("{s:b, s:s%}", "ok", 1, "text",
		                  text.len > 0 ? (char *)text.data : "",
		                  text.len);
		sn_buf_free(&text);
		return reply;
	}
	if (name != NULL) {
		if ((d = metrics_find(name)) == NULL)
			return control_error("unknown metric: %.128s", name);
		l.samples = json_array();
		metrics_reader_visit(e->reader, name, &v, &l);
		return json_pack("{s:b, s:s, s:s, s:s, s:o}", "ok", 1, "name",
		                 d->name, "type", metrics_type_name(d->type),
		                 "help", d->help, "samples", l.samples);
	}
	fams = json_array();
	for (i = 0; i < SN_METRIC_COUNT; i++) {
		d = &sn_metric_defs[i];
		n = metrics_reader_visit(e->reader, d->name, &none, NULL);
		json_array_append_new(
		        fams,
		        json_pack("{s:s, s:s, s:s, s:I}", "name", d->name,
		                  "type", metrics_type_name(d->type), "help",
		                  d->help, "series", (json_int_t)n));
	}
	return json_pack("{s:b, s:o}", "ok", 1, "families", fams);
}
