/*
 * daemon.c: start-up, signals and reload shared by the stage daemons.
 */
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include "daemon.h"
#include "log.h"
#include "metrics.h"
#include "privs.h"
#include "util.h"

static void
daemon_usage(const char *name)
{
	fprintf(stderr, "usage: sentinel-%s [--config FILE] [--version]\n",
	        name);
	exit(SN_EXIT_PERMANENT);
}

void
daemon_apply_logging(const struct sn_config *cfg)
{
	log_set_level((enum log_level)cfg->obs.log_level);
	log_set_format((enum log_format)cfg->obs.log_format);
}

/* Loads the config at path; logs every error and returns NULL when bad. */
static struct sn_config *
daemon_load_config(const char *path)
{
	struct sn_cfg_errors errs = {0};
	struct sn_config *cfg;
	size_t i;

	cfg = config_load(path, &errs);
	for (i = 0; i < errs.count; i++)
		log_error("%s", errs.msgs[i]);
	cfg_errors_free(&errs);
	return cfg;
}

static void
daemon_on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct sn_daemon *d = arg;
	struct sn_config *next;

	(void)what;
	if (sig == SIGHUP) {
		log_info("reloading configuration");
		if ((next = daemon_load_config(d->config_path)) == NULL) {
			log_warnx("configuration invalid, keeping the running "
			          "one");
			return;
		}
		if (d->on_reload != NULL && d->on_reload(d, next) < 0) {
			config_free(next);
			return;
		}
		config_free(d->cfg);
		d->cfg = next;
		daemon_apply_logging(d->cfg);
		return;
	}
	if (d->stopping) {
		log_info("second stop signal, exiting at once");
		event_base_loopbreak(d->base);
		return;
	}
	d->stopping = 1;
	log_info("stopping on signal %d", (int)sig);
	if (d->on_stop != NULL)
		d->on_stop(d);
	else
		daemon_stop(d);
}

/*
 * The listening socket the supervisor handed us in $SENTINEL_HTTP_FD,
 * made non-blocking and close-on-exec, or -1 when there is none (or it
 * is not a listening socket: then we bind ourselves).
 */
static int
daemon_inherited_fd(void)
{
	const char *v = getenv(PRIVS_HTTP_FD_ENV);
	socklen_t len = sizeof(int);
	struct stat st;
	char *end;
	long n;
	int fd, on = 0, fl;

	if (v == NULL)
		return -1;
	n = strtol(v, &end, 10);
	if (*v == '\0' || *end != '\0' || n < 3 || n > INT_MAX) {
		log_warnx("ignoring %s=%s: not a descriptor", PRIVS_HTTP_FD_ENV,
		          v);
		unsetenv(PRIVS_HTTP_FD_ENV);
		return -1;
	}
	unsetenv(PRIVS_HTTP_FD_ENV);
	fd = (int)n;
	if (fstat(fd, &st) < 0 || !S_ISSOCK(st.st_mode) ||
	    getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &on, &len) < 0 || !on) {
		log_warnx("ignoring %s=%d: not a listening socket",
		          PRIVS_HTTP_FD_ENV, fd);
		return -1;
	}
	if ((fl = fcntl(fd, F_GETFL)) < 0 ||
	    fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
		fatal("inherited listener %d", fd);
	return fd;
}

/*
 * glibc returns the top of the heap to the kernel once 128 KB of it is
 * free, and serves blocks above a threshold that starts at 128 KB with
 * mmap: the daemons allocate and free batch-sized buffers (64 to 256
 * KB: messages, spool records, request bodies) many times a second, so
 * the same pages were unmapped and faulted in again and again (10 760
 * page faults in 5 s of ingestd under 100-event bodies; 142 with the
 * settings below, and 5 to 20% less CPU per event).  Pages freed stay
 * with the process up to M_TRIM_THRESHOLD: memory after a peak is
 * returned later, not lost.
 */
static void
daemon_malloc_tune(void)
{
	(void)mallopt(M_MMAP_THRESHOLD, 1024 * 1024);
	(void)mallopt(M_TRIM_THRESHOLD, 16 * 1024 * 1024);
}

/*
 * The event loop.  With epoll, libevent's changelist folds the changes
 * made to one descriptor during a loop iteration into one epoll_ctl:
 * evhttp turns reading and writing off and on around every request, which
 * was four epoll_ctl calls per single-event POST (docs/performance.md).
 * The changelist's one caveat, descriptors shared through dup(), does
 * not arise here: every socket is opened by the daemon itself.
 */
static struct event_base *
daemon_event_base(void)
{
	struct event_config *c;
	struct event_base *base;

	if ((c = event_config_new()) == NULL)
		return NULL;
	(void)event_config_set_flag(c, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
	base = event_base_new_with_config(c);
	event_config_free(c);
	return base;
}

/*
 * Privileges, before anything is opened and before nng starts a thread
 * (NO_NEW_PRIVS and Landlock bind only this thread and those made
 * after): started by hand as root with security.user, switch like the
 * supervisor does (under the supervisor we start switched already);
 * learn the admin group for the control endpoints; enter the sandbox.
 */
static void
daemon_secure(struct sn_daemon *d)
{
	struct privs p;
	char err[512];

	if (privs_resolve(d->cfg, &p, err, sizeof(err)) < 0) {
		log_error("%s", err);
		exit(SN_EXIT_PERMANENT);
	}
	if (privs_should_drop(&p)) {
		if (privs_drop(&p, err, sizeof(err)) < 0) {
			log_error("cannot switch to user %s: %s", p.user, err);
			exit(SN_EXIT_PERMANENT);
		}
		log_kv(LOG_LEVEL_INFO, "switched user", "user", p.user, "group",
		       p.group != NULL ? p.group : "?", NULL);
	}
	privs_policy_set(&p);
	privs_free(&p);
	privs_sandbox(d->name, d->cfg);
	d->http_fd = daemon_inherited_fd();
}

void
daemon_init(struct sn_daemon *d, const char *name, int argc, char **argv)
{
	static const struct option opts[] = {
	        {"config", required_argument, NULL, 'c'},
	        {"version", no_argument, NULL, 'v'},
	        {"help", no_argument, NULL, 'h'},
	        {NULL, 0, NULL, 0},
	};
	static const int sigs[] = {SIGTERM, SIGINT, SIGHUP};
	int ch;
	size_t i;

	memset(d, 0, sizeof(*d));
	d->name = name;
	d->http_fd = -1;
	log_init(name, LOG_LEVEL_INFO, LOG_FORMAT_JSON);
	while ((ch = getopt_long(argc, argv, "c:vh", opts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			d->config_path = sn_xstrdup(optarg);
			break;
		case 'v':
			printf("sentinel-%s %s\n", name, SENTINEL_VERSION);
			exit(0);
		default:
			daemon_usage(name);
		}
	}
	if (optind != argc)
		daemon_usage(name);

	if ((d->cfg = daemon_load_config(d->config_path)) == NULL)
		exit(SN_EXIT_PERMANENT);
	daemon_apply_logging(d->cfg);
	log_ring_open(d->cfg->run_dir, name);
	/* Before daemon_secure: the file is created in run_dir.  Without
	 * it the daemon runs on, unobserved (logged). */
	(void)metrics_open(d->cfg->run_dir, name,
	                   d->cfg->obs.metrics_label_cap);
	log_kv(LOG_LEVEL_DEBUG, "configuration loaded", "config",
	       d->config_path ? d->config_path : "(built-in defaults)", "mode",
	       config_mode_name(d->cfg->mode), "run_dir", d->cfg->run_dir,
	       NULL);
	daemon_secure(d);

	daemon_malloc_tune();
	/* A reader gone away must not kill a daemon (style.md 9). */
	signal(SIGPIPE, SIG_IGN);
	if ((d->base = daemon_event_base()) == NULL)
		fatalx("cannot create event loop");
	for (i = 0; i < SN_ARRAY_LEN(sigs); i++) {
		d->sig_ev[i] =
		        evsignal_new(d->base, sigs[i], daemon_on_signal, d);
		if (d->sig_ev[i] == NULL || event_add(d->sig_ev[i], NULL) < 0)
			fatalx("cannot watch signal %d", sigs[i]);
	}
}

void
daemon_ready(struct sn_daemon *d)
{
	log_info("ready");
	(void)d;
	sn_notify_ready();
}

int
daemon_run(struct sn_daemon *d)
{
	event_base_dispatch(d->base);
	log_info("stopped");
	return 0;
}

void
daemon_stop(struct sn_daemon *d)
{
	event_base_loopexit(d->base, NULL);
}

/* Writes the endpoint's url into buf or exits. */
static void
daemon_url(struct sn_daemon *d, const char *name, char *buf, size_t size)
{
	if (ipc_url(buf, size, d->cfg->run_dir, name) < 0)
		fatalx("run directory path too long: %s", d->cfg->run_dir);
}

struct ipc_in *
daemon_pull_listen(struct sn_daemon *d, const char *name, ipc_msg_cb cb,
                   void *arg)
{
	struct ipc_in *in;
	char url[256];

	if (sn_mkdir_p(d->cfg->run_dir, 0750) < 0)
		fatal("run directory %s", d->cfg->run_dir);
	daemon_url(d, name, url, sizeof(url));
	if ((in = ipc_pull_listen(d->base, url, cb, arg)) == NULL)
		fatalx("cannot listen on %s", url);
	return in;
}

struct ipc_out *
daemon_push_dial(struct sn_daemon *d, const char *name, size_t max_queued)
{
	struct ipc_out *out;
	char url[256];

	daemon_url(d, name, url, sizeof(url));
	if ((out = ipc_push_dial(d->base, url, max_queued)) == NULL)
		fatalx("cannot dial %s", url);
	return out;
}

void
daemon_free(struct sn_daemon *d)
{
	size_t i;

	for (i = 0; i < SN_ARRAY_LEN(d->sig_ev); i++)
		if (d->sig_ev[i] != NULL)
			event_free(d->sig_ev[i]);
	if (d->base != NULL)
		event_base_free(d->base);
	config_free(d->cfg);
	free(d->config_path);
	memset(d, 0, sizeof(*d));
	metrics_close();
}
