/*
 * cli_replay.c: `sentinel-cli replay`, the detection engine run offline
 * over a file of events, with no daemon: how an operator tries a
 * detector on last week's data before enabling it.
 *
 *   sentinel-cli replay --detectors FILE --input EVENTS.ndjson
 *                       [--output ANOMALIES.ndjson] [--json]
 *
 * The same code as the live set decides everything: the detectors file
 * is loaded by config_parse_detectors (the loader of detectors.yaml),
 * each line is parsed by ingest_parse_body (ingestd's parser), and the
 * events go through engine_feed (detectd's engine) in file order, by
 * event time, then engine_finish closes the windows still open.  So a
 * replay gives the anomalies the live set gives for the same events.
 *
 * The input is read in chunks, one line at a time: memory stays bounded
 * by the longest line (at most CLI_REPLAY_MAX_LINE), not the file.  A
 * line that is not a valid event is reported with its number and
 * skipped.  Each anomaly record is one JSON line (engine_anomaly_json)
 * on --output or stdout; the summary goes to stderr.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "../detectd/engine.h"
#include "cli.h"
#include "config.h"
#include "event.h"
#include "log.h"
#include "util.h"
#include "validate.h"

/* Read size, and the longest line accepted (an event as big as the
 * largest body ingestd accepts by default). */
#define CLI_REPLAY_CHUNK    (256 * 1024)
#define CLI_REPLAY_MAX_LINE SN_DEFAULT_MAX_BODY_BYTES
/* Largest detectors file read. */
#define CLI_REPLAY_MAX_DETECTORS (16 * 1024 * 1024)
/* Anomaly lines keep 15 significant digits, like stored events' JSON:
 * 0.045 prints as written, not as 0.044999999999999998. */
#define CLI_REPLAY_DUMP_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(15))

/* One replay: where it reads and writes, and what it counted. */
struct replay {
	const struct cli_opts *o;
	const char *input_name; /* for messages: the path, or "stdin" */
	struct engine *engine;
	FILE *out;
	int out_failed;     /* a write to out failed (reported at the end) */
	uint64_t lines;     /* lines read, blank ones included */
	uint64_t events;    /* fed to the engine */
	uint64_t rejected;  /* lines that were not valid events */
	uint64_t firing;    /* FIRING records written */
	uint64_t resolved;  /* RESOLVED records written */
	int64_t now_ms;     /* wall clock, refreshed once per chunk */
	struct sn_buf line; /* a line split across chunks */
	int skipping;       /* inside a line longer than the maximum */
};

/*
 * Reads a whole detectors file into a new NUL-terminated buffer (caller
 * frees) and its length.  NULL after printing why.
 */
static char *
replay_read_file(const char *path, size_t *len)
{
	struct sn_buf b = {0};
	char chunk[65536];
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		fprintf(stderr, "sentinel-cli: %s: %s\n", path,
		        strerror(errno));
		return NULL;
	}
	for (;;) {
		n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fprintf(stderr, "sentinel-cli: %s: %s\n", path,
			        strerror(errno));
			break;
		}
		if (n == 0) {
			close(fd);
			*len = b.len;
			sn_buf_append(&b, "", 1);
			return (char *)b.data;
		}
		sn_buf_append(&b, chunk, (size_t)n);
		if (b.len > CLI_REPLAY_MAX_DETECTORS) {
			fprintf(stderr,
			        "sentinel-cli: %s: larger than %d bytes\n",
			        path, CLI_REPLAY_MAX_DETECTORS);
			break;
		}
	}
	close(fd);
	sn_buf_free(&b);
	return NULL;
}

/*
 * Loads the detectors file the way the daemons do.  Returns 0, or -1
 * after printing every problem as file:line: key: problem.
 */
static int
replay_load_detectors(const char *path, struct sn_detectors *dets)
{
	struct sn_cfg_errors errs = {0};
	char *text;
	size_t len, i;
	int rc;

	if ((text = replay_read_file(path, &len)) == NULL)
		return -1;
	rc = config_parse_detectors(path, text, len, dets, &errs);
	free(text);
	for (i = 0; i < errs.count; i++)
		fprintf(stderr, "%s\n", errs.msgs[i]);
	if (rc < 0 && errs.count == 0)
		fprintf(stderr, "%s: not a valid detectors file\n", path);
	cfg_errors_free(&errs);
	if (rc == 0 && dets->path == NULL)
		dets->path = sn_xstrdup(path);
	return rc < 0 ? -1 : 0;
}

/* engine callback: one anomaly record, one line of output. */
static void
replay_emit(const struct sn_anomaly *a, void *arg)
{
	struct replay *r = arg;
	json_t *j;
	char *s;

	if (a->status == SN_ANOMALY_RESOLVED)
		r->resolved++;
	else
		r->firing++;
	if ((j = engine_anomaly_json(a)) == NULL ||
	    (s = json_dumps(j, CLI_REPLAY_DUMP_FLAGS)) == NULL) {
		json_decref(j);
		r->out_failed = ENOMEM;
		return;
	}
	json_decref(j);
	if (fputs(s, r->out) == EOF || putc('\n', r->out) == EOF)
		r->out_failed = errno ? errno : EIO;
	free(s);
}

/* Reports a line that is not an event: "file:line: field: reason" (a
 * JSON line with --json) on stderr. */
static void
replay_reject(struct replay *r, const char *field, const char *reason)
{
	char buf[INGEST_REASON_MAX + 16], *p;
	json_t *j;

	/* Each line is parsed alone, so jansson's "at line 1" is noise. */
	snprintf(buf, sizeof(buf), "%s", reason);
	if ((p = strstr(buf, " at line 1 column ")) != NULL)
		memmove(p + 4, p + 11, strlen(p + 11) + 1);
	r->rejected++;
	if (!r->o->json) {
		fprintf(stderr, "%s:%" PRIu64 ": %s: %s\n", r->input_name,
		        r->lines, field, buf);
		return;
	}
	j = json_pack("{s:s, s:I, s:s, s:s}", "input", r->input_name, "line",
	              (json_int_t)r->lines, "field", field, "reason", buf);
	if (j != NULL) {
		char *s = json_dumps(j, JSON_COMPACT);

		if (s != NULL)
			fprintf(stderr, "%s\n", s);
		free(s);
		json_decref(j);
	}
}

/* One complete line (without its newline): parse it, feed the event. */
static void
replay_line(struct replay *r, const char *p, size_t len)
{
	struct ingest_result res = {0};
	struct sn_event ev;
	size_t i;

	r->lines++;
	if (len > 0 && p[len - 1] == '\r')
		len--;
	for (i = 0; i < len; i++)
		if (p[i] != ' ' && p[i] != '\t')
			break;
	if (i == len)
		return; /* blank lines separate nothing; skip quietly */
	ingest_parse_body(p, len, INGEST_BODY_NDJSON, 1, &res);
	if (res.status != INGEST_OK)
		replay_reject(r, "event", res.reason);
	else if (res.nrejects > 0)
		replay_reject(r, res.rejects[0].field, res.rejects[0].reason);
	else if (res.nevents == 1) {
		ev = res.events[0].ev;
		/* The line number is the sequence; there was no receive
		 * time, so it is the event time. */
		ev.seq = r->lines;
		ev.recv_ms = ev.ts_ms;
		r->events++;
		engine_feed(r->engine, &ev, r->now_ms, replay_emit, r);
	}
	ingest_result_free(&res);
}

/* The end of a line gathered in r->line, or of one being skipped. */
static void
replay_line_end(struct replay *r)
{
	if (r->skipping) {
		char why[64];

		snprintf(why, sizeof(why), "line longer than %u bytes",
		         (unsigned)CLI_REPLAY_MAX_LINE);
		r->lines++;
		replay_reject(r, "event", why);
		r->skipping = 0;
	} else
		replay_line(r, (const char *)r->line.data, r->line.len);
	sn_buf_reset(&r->line);
}

/*
 * Splits one chunk into lines, carrying a partial last line over to the
 * next chunk in r->line.  A line longer than CLI_REPLAY_MAX_LINE is not
 * kept: it is skipped to its end and reported once.
 */
static void
replay_chunk(struct replay *r, const char *p, size_t n)
{
	const char *end = p + n, *nl;
	size_t seg;

	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		seg = (size_t)((nl ? nl : end) - p);
		if (!r->skipping) {
			if (r->line.len + seg > CLI_REPLAY_MAX_LINE) {
				r->skipping = 1;
				sn_buf_reset(&r->line);
			} else if (nl != NULL && r->line.len == 0) {
				/* The common case: a whole line, no copy. */
				replay_line(r, p, seg);
				p = nl + 1;
				continue;
			} else
				sn_buf_append(&r->line, p, seg);
		}
		if (nl == NULL)
			return;
		replay_line_end(r);
		p = nl + 1;
	}
}

/* Reads fd to its end through replay_chunk.  0, or -1 after printing
 * the read error. */
static int
replay_read(struct replay *r, int fd)
{
	char *chunk = sn_xmalloc(CLI_REPLAY_CHUNK);
	ssize_t n;
	int rc = 0;

	for (;;) {
		n = read(fd, chunk, CLI_REPLAY_CHUNK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fprintf(stderr, "sentinel-cli: %s: %s\n", r->input_name,
			        strerror(errno));
			rc = -1;
			break;
		}
		if (n == 0)
			break;
		r->now_ms = sn_now_ms();
		replay_chunk(r, chunk, (size_t)n);
	}
	/* The last line may lack its newline. */
	if (rc == 0 && (r->skipping || r->line.len > 0))
		replay_line_end(r);
	sn_buf_free(&r->line);
	free(chunk);
	return rc;
}

/* Per-detector counters of the engine, for the JSON summary; adds their
 * late events into *late. */
static json_t *
replay_detectors(struct engine *e, uint64_t *late)
{
	struct engine_det_info d;
	json_t *list = json_array();
	size_t i, n = engine_detector_count(e);

	*late = 0;
	for (i = 0; i < n; i++) {
		memset(&d, 0, sizeof(d));
		engine_detector_info(e, i, &d);
		*late += d.late;
		json_array_append_new(
		        list,
		        json_pack(
		                "{s:s, s:s, s:b, s:b, s:s?, s:I, s:I, s:I, s:I,"
		                " s:I, s:I, s:I, s:I}",
		                "id", d.id ? d.id : "", "type",
		                d.type ? d.type : "", "enabled", d.enabled,
		                "running", d.running, "why", d.why, "groups",
		                (json_int_t)d.groups, "events",
		                (json_int_t)d.events, "anomalies",
		                (json_int_t)d.anomalies, "resolved",
		                (json_int_t)d.resolved, "suppressed",
		                (json_int_t)d.suppressed, "late",
		                (json_int_t)d.late, "evicted",
		                (json_int_t)d.evicted, "state_bytes",
		                (json_int_t)d.state_bytes));
	}
	return list;
}

/* The closing summary on stderr: one sentence, or one JSON object. */
static void
replay_summary(struct replay *r, int64_t elapsed_us)
{
	double secs = (double)elapsed_us / 1e6;
	double rate = secs > 0 ? (double)r->events / secs : 0;
	uint64_t late;
	json_t *dets = replay_detectors(r->engine, &late), *j;
	char *s;

	if (!r->o->json) {
		fprintf(stderr,
		        "replayed %" PRIu64 " events from %s (%" PRIu64
		        " lines rejected) through %zu detectors: %" PRIu64
		        " anomalies firing, %" PRIu64 " resolved, %" PRIu64
		        " late events skipped; %.3fs, %.0f events/s\n",
		        r->events, r->input_name, r->rejected,
		        engine_running(r->engine), r->firing, r->resolved, late,
		        secs, rate);
		json_decref(dets);
		return;
	}
	j = json_pack("{s:b, s:s, s:s?, s:I, s:I, s:I, s:I, s:I, s:I, s:I, "
	              "s:I, s:f, s:o}",
	              "ok", 1, "input", r->input_name, "output", r->o->output,
	              "lines", (json_int_t)r->lines, "events",
	              (json_int_t)r->events, "rejected",
	              (json_int_t)r->rejected, "anomalies",
	              (json_int_t)(r->firing + r->resolved), "firing",
	              (json_int_t)r->firing, "resolved",
	              (json_int_t)r->resolved, "late", (json_int_t)late,
	              "elapsed_ms", (json_int_t)(elapsed_us / 1000),
	              "events_per_second", rate, "detectors", dets);
	if (j != NULL && (s = json_dumps(j, JSON_COMPACT)) != NULL) {
		fprintf(stderr, "%s\n", s);
		free(s);
	}
	json_decref(j);
}

int
cli_run_replay(const struct cli_cmd *cmd, struct cli_opts *o)
{
	struct sn_detectors dets = {0};
	struct replay r;
	int64_t t0;
	int fd = -1, rc = CLI_EXIT_FAILURE;

	(void)cmd;
	memset(&r, 0, sizeof(r));
	r.o = o;
	/* The engine logs detectors it cannot run; say so on stderr in the
	 * form the rest of the output has. */
	log_init("replay", LOG_LEVEL_WARN,
	         o->json ? LOG_FORMAT_JSON : LOG_FORMAT_TEXT);
	if (replay_load_detectors(o->detectors, &dets) < 0)
		return CLI_EXIT_FAILURE;

	if (strcmp(o->input, "-") == 0) {
		fd = STDIN_FILENO;
		r.input_name = "stdin";
	} else if ((fd = open(o->input, O_RDONLY | O_CLOEXEC)) < 0) {
		fprintf(stderr, "sentinel-cli: %s: %s\n", o->input,
		        strerror(errno));
		goto out;
	} else
		r.input_name = o->input;

	if (o->output == NULL || strcmp(o->output, "-") == 0)
		r.out = stdout;
	else if ((r.out = fopen(o->output, "we")) == NULL) {
		fprintf(stderr, "sentinel-cli: %s: %s\n", o->output,
		        strerror(errno));
		goto out;
	}

	r.engine = engine_new(&dets, NULL);
	if (engine_running(r.engine) == 0)
		fprintf(stderr, "sentinel-cli: %s: no detector can run\n",
		        o->detectors);
	t0 = sn_mono_us();
	if (replay_read(&r, fd) == 0) {
		r.now_ms = sn_now_ms();
		engine_finish(r.engine, r.now_ms, replay_emit, &r);
		rc = CLI_EXIT_OK;
	}
	if (fflush(r.out) == EOF && r.out_failed == 0)
		r.out_failed = errno;
	if (r.out != stdout && fclose(r.out) == EOF && r.out_failed == 0)
		r.out_failed = errno;
	r.out = NULL;
	if (r.out_failed) {
		fprintf(stderr, "sentinel-cli: writing %s: %s\n",
		        o->output ? o->output : "stdout",
		        strerror(r.out_failed));
		rc = CLI_EXIT_FAILURE;
	}
	if (rc == CLI_EXIT_OK)
		replay_summary(&r, sn_mono_us() - t0);
	engine_free(r.engine);
out:
	if (r.out != NULL && r.out != stdout)
		fclose(r.out);
	if (fd > STDIN_FILENO)
		close(fd);
	config_detectors_free(&dets);
	return rc;
}
