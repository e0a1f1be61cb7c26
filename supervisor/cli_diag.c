/*
 * cli_diag.c: `sentinel-cli diagnostics collect --output FILE.tar.gz`,
 * the bundle an operator attaches to a support request.  One folder,
 * diagnostics-<UTC time>/, holding:
 *
 *   MANIFEST.txt        what each file is, and why any part is missing
 *   version.json        sentinel-cli's and the supervisor's versions,
 *                       build information
 *   status.json         the supervisor's "status" answer
 *   config.json         the running configuration, secrets redacted by
 *                       the supervisor (common/config_dump.h); never a
 *                       configuration file as it is on disk
 *   metrics.txt         a full metrics scrape (text exposition format)
 *   storage-check.json  what `storage check` asks stored (quick check)
 *   alerts-status.json  what `alerts status` asks alertd
 *   logs/<name>.log     the last CLI_DIAG_LOG_LINES lines of each
 *                       process's log ring (control "logs"; read from
 *                       run_dir directly when the supervisor is down)
 *   system.txt          uname, uptime and load, memory, free disk for
 *                       storage.path and run_dir, open-file limits and
 *                       open descriptors per process, CPUs
 *
 * Every part is collected on its own; one that fails is named in
 * MANIFEST.txt with the reason and the rest goes on.  When the
 * supervisor cannot be reached the bundle is still written (system
 * facts, the log rings left in run_dir, what stored and alertd answer)
 * and the command exits 1.
 *
 * The archive is a gzip'd tar written with libarchive: tar headers (pax
 * for long names and big sizes, checksums) and gzip framing are easy to
 * get subtly wrong by hand, and libarchive is the maintained library
 * behind bsdtar that Debian ships, so what we write is what every tar
 * and Python's tarfile read.  It is written to a temporary file in the
 * output's folder (mode 0600: logs and configuration are not for
 * everyone) and renamed over FILE once complete, so FILE is never a
 * half-written archive.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/statvfs.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <event2/event.h>
#include <jansson.h>
#include <nng/nng.h>

#include "cli.h"
#include "config.h"
#include "control_proto.h"
#include "logring.h"
#include "util.h"

/* Lines of each process's log ring put in the bundle. */
#define CLI_DIAG_LOG_LINES 1000
/* How long the quick storage check may take here. */
#define CLI_DIAG_STORAGE_MS 60000
/* Files in a bundle at most (ten fixed ones and the log files). */
#define CLI_DIAG_MAX_FILES 32
/* Reasons recorded at most. */
#define CLI_DIAG_MAX_ERRORS 64

struct diag_file {
	char *name;        /* under the bundle's folder: "logs/stored.log" */
	const char *what;  /* for MANIFEST.txt */
	struct sn_buf buf; /* the contents */
};

/* One bundle being collected. */
struct diag {
	char folder[64]; /* diagnostics-20251106T120000Z */
	char created[64];
	time_t now;
	struct diag_file files[CLI_DIAG_MAX_FILES];
	size_t nfiles;
	char *errors[CLI_DIAG_MAX_ERRORS]; /* "part: reason" */
	size_t nerrors;
	bool sup_up;       /* the supervisor answered status */
	char sup_err[512]; /* why not */
	json_t *status;    /* its status answer, or NULL */
	json_t *config;    /* its config answer's "config", or NULL */
};

static void diag_error(struct diag *d, const char *part, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/* Records that part could not be collected, and why. */
static void
diag_error(struct diag *d, const char *part, const char *fmt, ...)
{
	char msg[1024];
	size_t n;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* One line each: the reason may be several lines of stderr. */
	for (n = 0; msg[n] != '\0'; n++)
		if (msg[n] == '\n')
			msg[n] = msg[n + 1] != '\0' ? ';' : '\0';
	if (d->nerrors == CLI_DIAG_MAX_ERRORS)
		return;
	n = strlen(part) + strlen(msg) + 3;
	d->errors[d->nerrors] = sn_xmalloc(n);
	snprintf(d->errors[d->nerrors], n, "%s: %s", part, msg);
	d->nerrors++;
}

/* A new file of the bundle, empty; NULL when the bundle is full. */
static struct sn_buf *
diag_file(struct diag *d, const char *name, const char *what)
{
	struct diag_file *f;

	if (d->nfiles == CLI_DIAG_MAX_FILES) {
		diag_error(d, name, "too many files in the bundle");
		return NULL;
	}
	f = &d->files[d->nfiles++];
	f->name = sn_xstrdup(name);
	f->what = what;
	return &f->buf;
}

static void
diag_puts(struct sn_buf *b, const char *s)
{
	sn_buf_append(b, s, strlen(s));
}

static void diag_printf(struct sn_buf *b, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

static void
diag_printf(struct sn_buf *b, const char *fmt, ...)
{
	char line[4096];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n > 0)
		sn_buf_append(b, line,
		              (size_t)n < sizeof(line) ? (size_t)n
		                                       : sizeof(line) - 1);
}

/* Adds v as an indented JSON file (v borrowed). */
static void
diag_json(struct diag *d, const char *name, const char *what, json_t *v)
{
	struct sn_buf *b;
	char *s = json_dumps(v, JSON_INDENT(2) | JSON_ENCODE_ANY);

	if (s == NULL) {
		diag_error(d, name, "cannot encode the answer as JSON");
		return;
	}
	if ((b = diag_file(d, name, what)) != NULL) {
		diag_puts(b, s);
		diag_puts(b, "\n");
	}
	free(s);
}

/* --- stderr of the shared helpers -------------------------------------- */

/*
 * The helpers of cli_storage.c and cli_alerts.c print why they failed on
 * stderr.  To put that reason into MANIFEST.txt, stderr goes to a
 * temporary file while they run; what they said is returned (and shown
 * on the real stderr at the end, in the summary).
 */
struct diag_capture {
	FILE *f;
	int saved; /* the real stderr, or -1 when not redirected */
};

static void
diag_capture_begin(struct diag_capture *c)
{
	fflush(stderr);
	c->saved = -1;
	if ((c->f = tmpfile()) == NULL)
		return;
	if ((c->saved = dup(STDERR_FILENO)) < 0 ||
	    dup2(fileno(c->f), STDERR_FILENO) < 0) {
		if (c->saved >= 0)
			close(c->saved);
		c->saved = -1;
	}
}

/* Restores stderr; returns what was written meanwhile (caller frees),
 * without "sentinel-cli: " prefixes and the trailing newline. */
static char *
diag_capture_end(struct diag_capture *c)
{
	struct sn_buf b = {0};
	char chunk[1024], *s, *p;
	size_t n;

	fflush(stderr);
	if (c->saved >= 0) {
		dup2(c->saved, STDERR_FILENO);
		close(c->saved);
	}
	if (c->f != NULL) {
		rewind(c->f);
		while ((n = fread(chunk, 1, sizeof(chunk), c->f)) > 0)
			sn_buf_append(&b, chunk, n);
		fclose(c->f);
	}
	sn_buf_append(&b, "", 1);
	s = (char *)b.data;
	while ((p = strstr(s, "sentinel-cli: ")) != NULL)
		memmove(p, p + 14, strlen(p + 14) + 1);
	n = strlen(s);
	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == ' '))
		s[--n] = '\0';
	return s;
}

/* --- the supervisor ------------------------------------------------------ */

/*
 * Asks the supervisor req (stolen) for part.  Returns the ok answer
 * (caller decrefs) or NULL after recording why.
 */
static json_t *
diag_ask_sup(struct diag *d, struct cli_opts *o, const char *part, json_t *req)
{
	struct diag_capture cap;
	char err[512], *said;
	json_t *reply;

	if (d->sup_err[0] != '\0') {
		diag_error(d, part, "supervisor not reachable");
		json_decref(req);
		return NULL;
	}
	diag_capture_begin(&cap);
	reply = cli_sup_request(o, req, true, err, sizeof(err));
	said = diag_capture_end(&cap);
	json_decref(req);
	if (reply == NULL) {
		/* cli_socket_path says more than err when --config is bad. */
		snprintf(d->sup_err, sizeof(d->sup_err), "%.300s%s%.200s", err,
		         said[0] ? ": " : "", said);
		diag_error(d, part, "supervisor not reachable: %s", d->sup_err);
		free(said);
		return NULL;
	}
	free(said);
	if (!json_is_true(json_object_get(reply, "ok"))) {
		diag_error(d, part, "supervisor refused: %s",
		           cli_str(reply, "error", "no reason given"));
		json_decref(reply);
		return NULL;
	}
	return reply;
}

static void
diag_status(struct diag *d, struct cli_opts *o)
{
	json_t *r =
	        diag_ask_sup(d, o, "status.json",
	                     json_pack("{s:s}", "command", CONTROL_CMD_STATUS));

	if (r == NULL) {
		/* Refused (permission denied, say): as good as unreachable. */
		if (d->sup_err[0] == '\0' && d->nerrors > 0)
			snprintf(d->sup_err, sizeof(d->sup_err), "%s",
			         d->errors[d->nerrors - 1] +
			                 strlen("status.json: "));
		return;
	}
	d->sup_up = true;
	d->status = r;
	diag_json(d, "status.json",
	          "the supervisor's status: each daemon's "
	          "state, pid, uptime, restarts, last exit",
	          r);
}

static void
diag_version(struct diag *d, struct cli_opts *o)
{
	json_t *r = NULL, *out, *build;
	struct utsname u;

	if (d->sup_up)
		r = diag_ask_sup(
		        d, o, "version.json (supervisor)",
		        json_pack("{s:s}", "command", CONTROL_CMD_VERSION));
	build = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "compiler",
#ifdef __VERSION__
	                  __VERSION__,
#else
	                  "unknown",
#endif
	                  "jansson", JANSSON_VERSION, "libevent",
	                  event_get_version(), "nng", nng_version(),
	                  "libarchive", archive_version_string(),
	                  "libarchive_details", archive_version_details());
	if (uname(&u) == 0)
		json_object_set_new(build, "machine", json_string(u.machine));
	out = json_pack("{s:{s:s, s:o}, s:o}", "cli", "version",
	                SENTINEL_VERSION, "build", build, "supervisor",
	                r != NULL ? json_pack("{s:s}", "version",
	                                      cli_str(r, "version", "?"))
	                          : json_pack("{s:s}", "error",
	                                      d->sup_up ? "no answer"
	                                                : "not reachable"));
	diag_json(d, "version.json",
	          "versions of sentinel-cli and the supervisor, build "
	          "information",
	          out);
	json_decref(out);
	json_decref(r);
}

static void
diag_config(struct diag *d, struct cli_opts *o)
{
	json_t *r;

	if (!d->sup_up) {
		diag_error(d, "config.json", "supervisor not reachable");
		return;
	}
	r = diag_ask_sup(d, o, "config.json",
	                 json_pack("{s:s}", "command", CONTROL_CMD_CONFIG));
	if (r == NULL)
		return;
	d->config = json_incref(json_object_get(r, "config"));
	diag_json(d, "config.json",
	          "the running configuration (all three files, defaults "
	          "applied), every secret shown as \"<redacted>\"",
	          d->config);
	json_decref(r);
}

static void
diag_metrics(struct diag *d, struct cli_opts *o)
{
	struct sn_buf *b;
	json_t *r;

	if (!d->sup_up) {
		diag_error(d, "metrics.txt", "supervisor not reachable");
		return;
	}
	r = diag_ask_sup(d, o, "metrics.txt",
	                 json_pack("{s:s, s:s}", "command", CONTROL_CMD_METRICS,
	                           "format", "text"));
	if (r == NULL)
		return;
	if (!json_is_string(json_object_get(r, "text")))
		diag_error(d, "metrics.txt", "the answer holds no text");
	else if ((b = diag_file(d, "metrics.txt",
	                        "every metric as a Prometheus scrape of "
	                        "/metrics would get it (text format)")) != NULL)
		sn_buf_append(b, cli_str(r, "text", ""),
		              json_string_length(json_object_get(r, "text")));
	json_decref(r);
}

/* A process name from the supervisor usable as a file name. */
static bool
diag_safe_name(const char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '-' ||
		      s[i] == '_'))
			return false;
	return i > 0 && i < 64;
}

/*
 * Without the supervisor: the rings are files in run_dir that outlive
 * their writers, so read them here (we may, as a member of the admin
 * group: they are 0640 in a 0750 run_dir).  The names are the
 * supervisor's ring and proc_table's daemons (supervisor/proc.c).
 */
static void
diag_logs_direct(struct diag *d, struct cli_opts *o)
{
	static const char *const names[] = {"sentinel", "ingestd", "detectd",
	                                    "stored", "alertd"};
	struct logring_lines l;
	struct sn_buf *b;
	char run_dir[512], path[640], fname[96];
	size_t i, k;

	if (cli_run_dir(o, run_dir, sizeof(run_dir)) < 0) {
		diag_error(d, "logs/",
		           "supervisor not reachable and run_dir "
		           "unknown");
		return;
	}
	for (i = 0; i < SN_ARRAY_LEN(names); i++) {
		snprintf(fname, sizeof(fname), "logs/%s.log", names[i]);
		if (logring_path(path, sizeof(path), run_dir, names[i]) < 0 ||
		    logring_tail(path, CLI_DIAG_LOG_LINES, &l) < 0) {
			diag_error(d, fname, "%s: %s", path, strerror(errno));
			logring_lines_free(&l);
			continue;
		}
		if ((b = diag_file(d, fname,
		                   "the newest lines of this process's log, "
		                   "read from its log ring in run_dir (the "
		                   "supervisor did not answer)")) != NULL)
			for (k = 0; k < l.n; k++) {
				diag_puts(b, l.v[k]);
				diag_puts(b, "\n");
			}
		logring_lines_free(&l);
	}
}

static void
diag_logs(struct diag *d, struct cli_opts *o)
{
	json_t *r, *lines, *line, *errs;
	struct sn_buf *b;
	const char *name;
	char fname[96];
	size_t i;

	if (!d->sup_up) {
		diag_logs_direct(d, o);
		return;
	}
	r = diag_ask_sup(d, o, "logs/",
	                 json_pack("{s:s, s:i}", "command", CONTROL_CMD_LOGS,
	                           "lines", CLI_DIAG_LOG_LINES));
	if (r == NULL)
		return;
	errs = json_object_get(r, "errors");
	json_object_foreach(json_object_get(r, "logs"), name, lines)
	{
		if (!diag_safe_name(name))
			continue;
		snprintf(fname, sizeof(fname), "logs/%s.log", name);
		if (json_object_get(errs, name) != NULL) {
			diag_error(d, fname, "%s",
			           cli_str(errs, name, "cannot be read"));
			continue;
		}
		if ((b = diag_file(d, fname,
		                   "the newest lines of this process's log "
		                   "(its log ring, oldest first)")) == NULL)
			continue;
		json_array_foreach(lines, i, line)
		{
			if (!json_is_string(line))
				continue;
			sn_buf_append(b, json_string_value(line),
			              json_string_length(line));
			diag_puts(b, "\n");
		}
	}
	json_decref(r);
}

/* --- stored and alertd --------------------------------------------------- */

static void
diag_storage(struct diag *d, struct cli_opts *o)
{
	struct cli_opts q = *o;
	struct diag_capture cap;
	char *said;
	json_t *b;

	q.json = false; /* refusals on stderr, not in our stdout */
	diag_capture_begin(&cap);
	b = cli_storage_check_ask(&q, false, CLI_DIAG_STORAGE_MS);
	said = diag_capture_end(&cap);
	if (b == NULL)
		diag_error(d, "storage-check.json", "%s",
		           said[0] ? said : "no answer from stored");
	else
		diag_json(d, "storage-check.json",
		          "stored's answer to `storage check` (quick check: "
		          "size, free disk, rows, retention runs)",
		          b);
	free(said);
	json_decref(b);
}

static void
diag_alerts(struct diag *d, struct cli_opts *o)
{
	struct cli_opts q = *o;
	struct diag_capture cap;
	char *said;
	json_t *r;

	q.json = false;
	diag_capture_begin(&cap);
	r = cli_alerts_status_ask(&q);
	said = diag_capture_end(&cap);
	if (r == NULL)
		diag_error(d, "alerts-status.json", "%s",
		           said[0] ? said : "no answer from alertd");
	else
		diag_json(d, "alerts-status.json",
		          "alertd's answer to `alerts status`: each receiver's "
		          "sent, failed and queued notifications, groups, "
		          "silences",
		          r);
	free(said);
	json_decref(r);
}

/* --- system facts ------------------------------------------------------- */

/* Reads a small /proc file into buf (NUL-terminated); -1 on error. */
static int
diag_read_small(const char *path, char *buf, size_t size)
{
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	n = read(fd, buf, size - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	return 0;
}

static void
diag_sys_memory(struct sn_buf *b)
{
	static const char *const keys[] = {
	        "MemTotal:",     "MemFree:", "MemAvailable:", "Buffers:",
	        "Cached:",       "Shmem:",   "SwapTotal:",    "SwapFree:",
	        "Committed_AS:", NULL};
	char line[256];
	FILE *f;
	size_t i;

	if ((f = fopen("/proc/meminfo", "re")) == NULL) {
		diag_printf(b, "memory: /proc/meminfo: %s\n", strerror(errno));
		return;
	}
	while (fgets(line, sizeof(line), f) != NULL)
		for (i = 0; keys[i] != NULL; i++)
			if (strncmp(line, keys[i], strlen(keys[i])) == 0)
				diag_printf(b, "memory %s", line);
	fclose(f);
}

static void
diag_human_bytes(unsigned long long n, char *buf, size_t size)
{
	static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	double v = (double)n;
	size_t u = 0;

	while (v >= 1024 && u + 1 < SN_ARRAY_LEN(units)) {
		v /= 1024;
		u++;
	}
	snprintf(buf, size, u == 0 ? "%.0f %s" : "%.1f %s", v, units[u]);
}

/* One "disk" line: free space of the file system holding path. */
static void
diag_sys_disk(struct sn_buf *b, const char *what, const char *path)
{
	struct statvfs sv;
	unsigned long long avail, total;
	char a[32], t[32];

	if (path == NULL) {
		diag_printf(b, "disk %s: unknown (no configuration)\n", what);
		return;
	}
	if (statvfs(path, &sv) < 0) {
		diag_printf(b, "disk %s %s: %s\n", what, path, strerror(errno));
		return;
	}
	avail = (unsigned long long)sv.f_bavail * sv.f_frsize;
	total = (unsigned long long)sv.f_blocks * sv.f_frsize;
	diag_human_bytes(avail, a, sizeof(a));
	diag_human_bytes(total, t, sizeof(t));
	diag_printf(b,
	            "disk %s %s: %s available of %s (%.1f%% free; %llu of "
	            "%llu inodes free)\n",
	            what, path, a, t,
	            total > 0 ? 100.0 * (double)avail / (double)total : 0.0,
	            (unsigned long long)sv.f_favail,
	            (unsigned long long)sv.f_files);
}

/* One "process" line: open descriptors and limits of pid. */
static void
diag_sys_process(struct sn_buf *b, const char *name, long pid)
{
	char path[64], buf[8192], *p, *e;
	int fds;

	if (pid <= 0) {
		diag_printf(b, "process %s: not running\n", name);
		return;
	}
	diag_printf(b, "process %s pid %ld:", name, pid);
	if ((fds = sn_proc_open_fds((pid_t)pid)) < 0)
		diag_printf(b, " open fds unknown (/proc/%ld/fd: %s)", pid,
		            strerror(errno));
	else
		diag_printf(b, " open fds %d", fds);
	snprintf(path, sizeof(path), "/proc/%ld/limits", pid);
	if (diag_read_small(path, buf, sizeof(buf)) == 0 &&
	    (p = strstr(buf, "Max open files")) != NULL) {
		p += strlen("Max open files");
		if ((e = strchr(p, '\n')) != NULL)
			*e = '\0';
		/* "  1024  524288  files": soft, hard, unit. */
		{
			char soft[32] = "?", hard[32] = "?";

			sscanf(p, "%31s %31s", soft, hard);
			diag_printf(b, ", RLIMIT_NOFILE soft %s hard %s", soft,
			            hard);
		}
	}
	snprintf(path, sizeof(path), "/proc/%ld/status", pid);
	if (diag_read_small(path, buf, sizeof(buf)) == 0) {
		if ((p = strstr(buf, "VmRSS:")) != NULL &&
		    (e = strchr(p, '\n')) != NULL) {
			*e = '\0';
			p += 6;
			while (*p == ' ' || *p == '\t')
				p++;
			diag_printf(b, ", rss %s", p);
			*e = '\n';
		}
		if ((p = strstr(buf, "Threads:")) != NULL)
			diag_printf(b, ", threads %ld",
			            strtol(p + 8, NULL, 10));
	}
	diag_puts(b, "\n");
}

/* A string member of the config answer at "a.b", or NULL. */
static const char *
diag_cfg_str(json_t *cfg, const char *section, const char *key)
{
	json_t *o = section != NULL ? json_object_get(cfg, section) : cfg;

	return json_string_value(json_object_get(o, key));
}

static void
diag_system(struct diag *d, struct cli_opts *o)
{
	struct sn_buf *b;
	struct utsname u;
	struct rlimit rl;
	struct sn_cfg_errors errs = {0};
	struct sn_config *cfg = NULL;
	char buf[512], run_dir[512];
	const char *storage = NULL, *rdir = NULL;
	json_t *dm;
	size_t i;

	b = diag_file(d, "system.txt",
	              "facts of the machine: kernel, uptime and load, memory, "
	              "free disk for storage.path and run_dir, open-file "
	              "limits and open descriptors per process, CPUs");
	if (b == NULL)
		return;
	diag_printf(b, "# collected %s by sentinel-cli %s\n", d->created,
	            SENTINEL_VERSION);
	if (uname(&u) == 0)
		diag_printf(b, "uname %s %s %s %s %s\n", u.sysname, u.nodename,
		            u.release, u.version, u.machine);
	if (diag_read_small("/proc/uptime", buf, sizeof(buf)) == 0)
		diag_printf(b, "uptime %.0f s\n", strtod(buf, NULL));
	if (diag_read_small("/proc/loadavg", buf, sizeof(buf)) == 0)
		diag_printf(b, "loadavg %s", buf);
	diag_printf(b, "cpus %ld online, %ld configured\n",
	            sysconf(_SC_NPROCESSORS_ONLN),
	            sysconf(_SC_NPROCESSORS_CONF));
	diag_sys_memory(b);

	/* Paths: from the running configuration, else from --config. */
	if (d->config != NULL) {
		storage = diag_cfg_str(d->config, "storage", "path");
		rdir = diag_cfg_str(d->config, NULL, "run_dir");
	} else if (o->config != NULL &&
	           (cfg = config_load_main(o->config, &errs)) != NULL) {
		storage = cfg->storage.path;
		rdir = cfg->run_dir;
	}
	cfg_errors_free(&errs);
	if (rdir == NULL && cli_run_dir(o, run_dir, sizeof(run_dir)) == 0)
		rdir = run_dir;
	diag_sys_disk(b, "storage.path", storage);
	diag_sys_disk(b, "run_dir", rdir);

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
		diag_printf(b,
		            "sentinel-cli RLIMIT_NOFILE soft %llu hard %llu\n",
		            (unsigned long long)rl.rlim_cur,
		            (unsigned long long)rl.rlim_max);
	if (d->status != NULL) {
		diag_sys_process(b, "sentinel",
		                 (long)json_integer_value(
		                         json_object_get(d->status, "pid")));
		json_array_foreach(json_object_get(d->status, "daemons"), i, dm)
		        diag_sys_process(b, cli_str(dm, "name", "?"),
		                         (long)json_integer_value(
		                                 json_object_get(dm, "pid")));
	} else
		diag_puts(b, "processes: unknown (supervisor not reachable)\n");
	config_free(cfg);
}

/* --- the archive --------------------------------------------------------- */

static void
diag_manifest(struct diag *d, struct sn_buf *b, const char *socket_path)
{
	size_t i;

	diag_puts(b, "Sentinel diagnostics bundle\n\n");
	diag_printf(b, "created:    %s\n", d->created);
	diag_printf(b, "by:         sentinel-cli %s\n", SENTINEL_VERSION);
	diag_printf(b, "socket:     %s\n", socket_path);
	if (d->sup_up)
		diag_printf(b, "supervisor: reachable, sentinel %s, pid %lld\n",
		            cli_str(d->status, "version", "?"),
		            (long long)json_integer_value(
		                    json_object_get(d->status, "pid")));
	else
		diag_printf(b, "supervisor: NOT reachable: %s\n", d->sup_err);
	diag_puts(b, "\nSecrets (API keys, passwords, webhook URLs, routing "
	             "keys, HMAC secrets,\nheader values) are redacted in "
	             "config.json; no configuration file is\nincluded as it "
	             "is on disk.\n\nFiles:\n");
	diag_printf(b, "  %-20s %s\n", "MANIFEST.txt", "this list");
	for (i = 0; i < d->nfiles; i++)
		diag_printf(b, "  %-20s %s\n", d->files[i].name,
		            d->files[i].what);
	diag_printf(b, "\nNot collected (%zu):\n", d->nerrors);
	if (d->nerrors == 0)
		diag_puts(b, "  none: every part was collected\n");
	for (i = 0; i < d->nerrors; i++)
		diag_printf(b, "  %s\n", d->errors[i]);
}

/* Adds one entry (a folder when data is NULL). */
static int
diag_entry(struct archive *a, struct diag *d, const char *name,
           const struct sn_buf *data)
{
	struct archive_entry *e = archive_entry_new();
	char path[256];
	int rv = 0;

	snprintf(path, sizeof(path), "%s/%s", d->folder, name);
	archive_entry_set_pathname(e, path);
	archive_entry_set_mtime(e, d->now, 0);
	archive_entry_set_uid(e, getuid());
	archive_entry_set_gid(e, getgid());
	if (data == NULL) {
		archive_entry_set_filetype(e, AE_IFDIR);
		archive_entry_set_perm(e, 0750);
	} else {
		archive_entry_set_filetype(e, AE_IFREG);
		archive_entry_set_perm(e, 0640);
		archive_entry_set_size(e, (la_int64_t)data->len);
	}
	if (archive_write_header(a, e) != ARCHIVE_OK)
		rv = -1;
	else if (data != NULL && data->len > 0 &&
	         archive_write_data(a, data->data, data->len) !=
	                 (la_ssize_t)data->len)
		rv = -1;
	archive_entry_free(e);
	return rv;
}

/*
 * Creates the temporary file next to path (its name into tmp, size
 * bytes), mode 0600, before anything is collected, so an output that
 * cannot be written fails at once.  Returns the descriptor, or -1 with
 * err filled.
 */
static int
diag_open_tmp(const char *path, char *tmp, size_t size, char *err,
              size_t errsize)
{
	char *dir = sn_path_dirname(path);
	const char *base = strrchr(path, '/');
	int fd, n;

	base = base != NULL ? base + 1 : path;
	n = snprintf(tmp, size, "%s/.%s.tmp.%ld", dir, base, (long)getpid());
	free(dir);
	if (n < 0 || (size_t)n >= size || *base == '\0') {
		snprintf(err, errsize, "not a file name: %.400s", path);
		return -1;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
	          0600);
	if (fd < 0)
		snprintf(err, errsize,
		         "cannot write into the folder of %.400s: %s", path,
		         strerror(errno));
	return fd;
}

/*
 * Writes the bundle into fd (the temporary file tmp, closed here) and
 * renames it to path.  Returns 0, or -1 with err filled (tmp removed).
 */
static int
diag_write(struct diag *d, int fd, const char *tmp, const char *path,
           const struct sn_buf *manifest, char *err, size_t errsize)
{
	struct archive *a;
	bool logs = false;
	size_t i;
	int rv;

	a = archive_write_new();
	if (a == NULL || archive_write_add_filter_gzip(a) != ARCHIVE_OK ||
	    archive_write_set_format_pax_restricted(a) != ARCHIVE_OK ||
	    archive_write_open_fd(a, fd) != ARCHIVE_OK)
		goto fail;
	if (diag_entry(a, d, "", NULL) < 0 ||
	    diag_entry(a, d, "MANIFEST.txt", manifest) < 0)
		goto fail;
	for (i = 0; i < d->nfiles; i++) {
		if (strncmp(d->files[i].name, "logs/", 5) == 0 && !logs) {
			logs = true;
			if (diag_entry(a, d, "logs", NULL) < 0)
				goto fail;
		}
		if (diag_entry(a, d, d->files[i].name, &d->files[i].buf) < 0)
			goto fail;
	}
	if (archive_write_close(a) != ARCHIVE_OK)
		goto fail;
	archive_write_free(a);
	rv = fsync(fd);
	if (close(fd) < 0 || rv < 0) {
		snprintf(err, errsize, "cannot write %.400s: %s", tmp,
		         strerror(errno));
		unlink(tmp);
		return -1;
	}
	if (rename(tmp, path) < 0) {
		snprintf(err, errsize, "cannot rename %.400s to %.400s: %s",
		         tmp, path, strerror(errno));
		unlink(tmp);
		return -1;
	}
	return 0;
fail:
	snprintf(err, errsize, "cannot write %.400s: %.400s", tmp,
	         a != NULL && archive_error_string(a) != NULL
	                 ? archive_error_string(a)
	                 : "libarchive failed");
	if (a != NULL)
		archive_write_free(a);
	close(fd);
	unlink(tmp);
	return -1;
}

static void
diag_free(struct diag *d)
{
	size_t i;

	for (i = 0; i < d->nfiles; i++) {
		free(d->files[i].name);
		sn_buf_free(&d->files[i].buf);
	}
	for (i = 0; i < d->nerrors; i++)
		free(d->errors[i]);
	json_decref(d->status);
	json_decref(d->config);
}

int
cli_run_diagnostics_collect(const struct cli_cmd *cmd, struct cli_opts *o)
{
	struct diag d;
	struct sn_buf manifest = {0};
	struct tm tm;
	char err[1024], sock[sizeof(o->path)], tmp[PATH_MAX];
	json_t *errs, *out;
	size_t i;
	int rc, fd;

	(void)cmd;
	memset(&d, 0, sizeof(d));
	d.now = time(NULL);
	gmtime_r(&d.now, &tm);
	strftime(d.folder, sizeof(d.folder), "diagnostics-%Y%m%dT%H%M%SZ", &tm);
	strftime(d.created, sizeof(d.created), "%Y-%m-%dT%H:%M:%SZ", &tm);

	if ((fd = diag_open_tmp(o->output, tmp, sizeof(tmp), err,
	                        sizeof(err))) < 0) {
		fprintf(stderr, "sentinel-cli: diagnostics collect: %s\n", err);
		return CLI_EXIT_FAILURE;
	}
	/* The supervisor first: whether it answers decides the rest. */
	diag_status(&d, o);
	snprintf(sock, sizeof(sock), "%s", o->path[0] ? o->path : "?");
	diag_version(&d, o);
	diag_config(&d, o);
	diag_metrics(&d, o);
	diag_storage(&d, o);
	diag_alerts(&d, o);
	diag_logs(&d, o);
	diag_system(&d, o);

	diag_manifest(&d, &manifest, sock);
	rc = diag_write(&d, fd, tmp, o->output, &manifest, err, sizeof(err));
	sn_buf_free(&manifest);
	if (rc < 0) {
		fprintf(stderr, "sentinel-cli: diagnostics collect: %s\n", err);
		diag_free(&d);
		return CLI_EXIT_FAILURE;
	}
	if (o->json) {
		errs = json_array();
		for (i = 0; i < d.nerrors; i++)
			json_array_append_new(errs, json_string(d.errors[i]));
		out = json_pack("{s:b, s:s, s:s, s:b, s:o}", "ok", d.sup_up,
		                "path", o->output, "folder", d.folder,
		                "supervisor_reachable", d.sup_up, "errors",
		                errs);
		cli_print_json(out);
		json_decref(out);
	} else {
		for (i = 0; i < d.nerrors; i++)
			fprintf(stderr, "sentinel-cli: not collected: %s\n",
			        d.errors[i]);
		if (d.sup_up)
			printf("%s\n", o->output);
		else
			fprintf(stderr,
			        "sentinel-cli: the supervisor is not reachable "
			        "(%s); %s holds only what could be collected "
			        "without it\n",
			        d.sup_err, o->output);
	}
	rc = d.sup_up ? CLI_EXIT_OK : CLI_EXIT_FAILURE;
	diag_free(&d);
	return rc;
}
