/*
 * sup.c: the supervisor's moving parts (sup.h).  Everything happens on
 * one libevent loop: signals (SIGCHLD too) are loop events, readiness
 * pipes and the control socket are loop events, restarts and the
 * SIGKILL escalation are loop timers (style.md 5).  What to do after an
 * exit or a stop is decided by proc.c; this file only carries it out.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>

#include "control.h"
#include "exporter.h"
#include "ipc.h"
#include "log.h"
#include "msg.h"
#include "multicall.h"
#include "sup.h"
#include "util.h"

extern char **environ;

static void sup_spawn(struct sup *s, struct sup_child *c);
static void sup_state_changed(struct sup *s);
static void sup_stop_next(struct sup *s);

/* --- helpers ------------------------------------------------------------ */

static const char *
sup_itoa(long long v, char *buf, size_t size)
{
	snprintf(buf, size, "%lld", v);
	return buf;
}

/*
 * Tells systemd about the set ($NOTIFY_SOCKET, a datagram socket; a name
 * starting with '@' is in the abstract namespace).  Does nothing when
 * not run by systemd with Type=notify.
 */
static void
sup_notify_systemd(const char *state)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sun;
	socklen_t len;
	size_t plen;
	int fd;

	if (path == NULL || (path[0] != '/' && path[0] != '@'))
		return;
	plen = strlen(path);
	if (plen >= sizeof(sun.sun_path))
		return;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, plen);
	if (path[0] == '@')
		sun.sun_path[0] = '\0';
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + plen);
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0) {
		log_warn("notify socket");
		return;
	}
	if (sendto(fd, state, strlen(state), MSG_NOSIGNAL,
	           (struct sockaddr *)&sun, len) < 0)
		log_warn("cannot notify systemd (%s)", path);
	close(fd);
}

/* RELOADING=1 with the time it began, as systemd 253+ asks of
 * Type=notify-reload (older ones ignore MONOTONIC_USEC). */
static void
sup_notify_reloading(void)
{
	struct timespec ts;
	char msg[64];

	clock_gettime(CLOCK_MONOTONIC, &ts);
	snprintf(msg, sizeof(msg), "RELOADING=1\nMONOTONIC_USEC=%lld",
	         (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000);
	sup_notify_systemd(msg);
}

char *
sup_find_exe(const char *exe, const char *const *dirs, int n)
{
	char path[PATH_MAX];
	int i;

	for (i = 0; i < n; i++) {
		if (dirs[i] == NULL || dirs[i][0] == '\0')
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", dirs[i], exe) >=
		    (int)sizeof(path))
			continue;
		if (access(path, X_OK) == 0)
			return sn_xstrdup(path);
	}
	return NULL;
}

/*
 * Testing only (docs/testing.md): $SENTINEL_DAEMON_WRAPPER, words split
 * on spaces (no shell, no quoting), goes before every daemon's command
 * line, so that `make valgrind` runs each daemon under valgrind.  Its
 * first word is looked up in $PATH when it has no '/'.
 */
#define SUP_WRAPPER_ENV "SENTINEL_DAEMON_WRAPPER"

/* The wrapper's program (first word) as a path to exec, or NULL. */
static char *
sup_wrapper_exe(const char *wrap)
{
	const char *path = getenv("PATH");
	char *name, *copy, *dir, *save = NULL, *found = NULL;

	name = sn_xstrdup(wrap + strspn(wrap, " "));
	name[strcspn(name, " ")] = '\0';
	if (strchr(name, '/') != NULL) {
		if (access(name, X_OK) == 0)
			return name;
		free(name);
		return NULL;
	}
	copy = sn_xstrdup(path != NULL ? path : "/usr/bin:/bin");
	for (dir = strtok_r(copy, ":", &save); dir != NULL && found == NULL;
	     dir = strtok_r(NULL, ":", &save)) {
		const char *d[1] = {dir};

		found = sup_find_exe(name, d, 1);
	}
	free(copy);
	free(name);
	return found;
}

/* At start: says loudly that a wrapper is in use, or that it is bad. */
static int
sup_check_wrapper(void)
{
	const char *wrap = getenv(SUP_WRAPPER_ENV);
	char *exe;

	if (wrap == NULL || wrap[strspn(wrap, " ")] == '\0')
		return 0;
	if ((exe = sup_wrapper_exe(wrap)) == NULL) {
		log_kv(LOG_LEVEL_ERROR, "daemon wrapper not found", "variable",
		       SUP_WRAPPER_ENV, "value", wrap, NULL);
		return -1;
	}
	log_kv(LOG_LEVEL_WARN, "daemons run under a wrapper (testing only)",
	       "variable", SUP_WRAPPER_ENV, "value", wrap, "exe", exe, NULL);
	free(exe);
	return 0;
}

/*
 * The argv to exec c with: [wrapper words...] exe [--config path].
 * One block (pointers, then the strings): free with free().  Built
 * before fork, like the environment.
 */
static char **
sup_child_argv(const struct sup *s, const struct sup_child *c)
{
	const char *wrap = getenv(SUP_WRAPPER_ENV);
	char *exe = NULL, *words, *w, *save = NULL, **argv;
	size_t n = 0, len = 0, elen = 0, i = 0;
	const char *p;

	if (wrap != NULL && wrap[strspn(wrap, " ")] != '\0' &&
	    (exe = sup_wrapper_exe(wrap)) != NULL) {
		for (p = wrap; *p != '\0'; p++)
			if (*p != ' ' && (p == wrap || p[-1] == ' '))
				n++;
		len = strlen(wrap) + 1;
		elen = strlen(exe) + 1;
	}
	argv = sn_xcalloc(1, (n + 6) * sizeof(*argv) + len + elen);
	if (exe != NULL) {
		words = (char *)(argv + n + 6);
		memcpy(words, wrap, len);
		for (w = strtok_r(words, " ", &save); w != NULL;
		     w = strtok_r(NULL, " ", &save))
			argv[i++] = w;
		/* The first word as found in $PATH: execve does not look. */
		argv[0] = memcpy(words + len, exe, elen);
		free(exe);
	}
	argv[i++] = c->exe_path;
	if (c->multicall) {
		argv[i++] = SN_RUN_DAEMON_OPT;
		argv[i++] = (char *)c->p.desc->name;
	}
	if (s->config_path != NULL) {
		argv[i++] = "--config";
		argv[i++] = s->config_path;
	}
	argv[i] = NULL;
	return argv;
}

/*
 * Resolves every child's executable: $SENTINEL_LIBEXEC_DIR alone when
 * set, else the folder of this binary, then ../libexec/sentinel beside
 * it (an installed tree wherever it was put: /usr/bin/sentinel finds
 * /usr/libexec/sentinel, an extracted package its own), and failing
 * both, when this is the release tarball's binary that carries the
 * daemons (multicall.h), itself: the guide's `mv sentinel
 * /usr/local/bin/` runs with nothing beside it.  No folder compiled in:
 * a moved binary must not pick up the daemons of an older install.
 * Returns 0, or -1 after logging each one missing.
 */
int sup_multicall;

static int
sup_find_executables(struct sup *s)
{
	char self[PATH_MAX], rel[PATH_MAX + 32], searched[3 * PATH_MAX];
	const char *dirs[2] = {NULL, NULL};
	char *selfdir = NULL, *relreal = NULL;
	const char *env = getenv(SUP_LIBEXEC_ENV);
	size_t used = 0;
	ssize_t n;
	int i, rv = 0;

	self[0] = '\0';
	if (env != NULL && env[0] != '\0')
		dirs[0] = env;
	else {
		n = readlink("/proc/self/exe", self, sizeof(self) - 1);
		if (n > 0) {
			self[n] = '\0';
			selfdir = sn_path_dirname(self);
			dirs[0] = selfdir;
			snprintf(rel, sizeof(rel), "%s/../libexec/sentinel",
			         selfdir);
			/* /usr/libexec/sentinel rather than /usr/bin/../ */
			if ((relreal = realpath(rel, NULL)) != NULL)
				dirs[1] = relreal;
		} else
			self[0] = '\0';
	}
	searched[0] = '\0';
	for (i = 0; i < 2; i++) {
		if (dirs[i] == NULL || used >= sizeof(searched))
			continue;
		n = snprintf(searched + used, sizeof(searched) - used, "%s%s",
		             used > 0 ? ", " : "", dirs[i]);
		if (n > 0)
			used += (size_t)n;
	}
	for (i = 0; i < PROC_COUNT; i++) {
		struct sup_child *c = &s->children[i];

		c->exe_path = sup_find_exe(proc_table[i].exe, dirs, 2);
		if (c->exe_path == NULL && sup_multicall && self[0] != '\0') {
			c->exe_path = sn_xstrdup(self);
			c->multicall = 1;
		}
		if (c->exe_path == NULL) {
			log_kv(LOG_LEVEL_ERROR, "daemon executable not found",
			       "exe", proc_table[i].exe, "searched", searched,
			       NULL);
			rv = -1;
		}
	}
	free(selfdir);
	free(relreal);
	if (sup_check_wrapper() < 0)
		rv = -1;
	return rv;
}

/*
 * Creates run_dir and takes an exclusive lock on <run_dir>/sentinel.pid,
 * writing our pid into it, so that two sets never share a run_dir and
 * its sockets.  Returns 0 or -1 (logged).
 */
static int
sup_lock_pidfile(struct sup *s)
{
	char buf[32];
	ssize_t n;
	int len;

	len = snprintf(NULL, 0, "%s/sentinel.pid", s->run_dir);
	s->pid_path = sn_xmalloc((size_t)len + 1);
	snprintf(s->pid_path, (size_t)len + 1, "%s/sentinel.pid", s->run_dir);

	s->pid_fd = open(s->pid_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (s->pid_fd < 0) {
		log_warn("cannot open %s", s->pid_path);
		return -1;
	}
	if (flock(s->pid_fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno == EWOULDBLOCK) {
			n = pread(s->pid_fd, buf, sizeof(buf) - 1, 0);
			buf[n > 0 ? n : 0] = '\0';
			buf[strcspn(buf, "\n")] = '\0';
			log_kv(LOG_LEVEL_ERROR,
			       "another sentinel is running with this run_dir",
			       "run_dir", s->run_dir, "pid", buf, NULL);
		} else
			log_warn("cannot lock %s", s->pid_path);
		close(s->pid_fd);
		s->pid_fd = -1;
		return -1;
	}
	len = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	if (ftruncate(s->pid_fd, 0) < 0 ||
	    pwrite(s->pid_fd, buf, (size_t)len, 0) != len) {
		log_warn("cannot write %s", s->pid_path);
		return -1;
	}
	/* The next start may be as the user; leave nothing of root's. */
	if (privs_should_drop(&s->privs) &&
	    fchown(s->pid_fd, s->privs.uid, s->privs.gid) < 0) {
		log_warn("cannot give %s to %s", s->pid_path, s->privs.user);
		return -1;
	}
	return 0;
}

/* --- privileges (privs.h) ------------------------------------------------ */

/*
 * Resolves security.* and creates run_dir: with a user to switch to or
 * an admin group, missing parents are made 0755 so that they can reach
 * it.  Returns 0 or -1 (logged).
 */
static int
sup_make_run_dir(struct sup *s)
{
	const struct privs *p = &s->privs;
	char err[512], *parent;
	bool drop;
	int rv = 0;

	if (privs_resolve(s->cfg, &s->privs, err, sizeof(err)) < 0) {
		log_error("%s", err);
		return -1;
	}
	privs_policy_set(p);
	drop = privs_should_drop(p);
	if (p->user != NULL && !drop && geteuid() != p->uid)
		log_kv(LOG_LEVEL_WARN,
		       "not started as root: security.user is not used", "user",
		       p->user, NULL);
	if (geteuid() == 0 && !drop)
		log_warnx(
		        "running as root: set security.user to run the "
		        "daemons as an unprivileged user (docs/operations.md, "
		        "Security)");
	if (drop || p->have_admin) {
		parent = sn_path_dirname(s->run_dir);
		rv = sn_mkdir_p(parent, 0755);
		free(parent);
	}
	if (rv < 0 || sn_mkdir_p(s->run_dir, PRIVS_DIR_MODE) < 0) {
		log_warn("cannot create run_dir %s", s->run_dir);
		return -1;
	}
	return 0;
}

/* privs_prepare_dir for a data folder (key names it in messages). */
static int
sup_prepare_data(const char *key, const char *path, const struct privs *p)
{
	char err[512];
	bool took;

	if (path == NULL)
		return 0;
	if (privs_prepare_dir(path, PRIVS_DIR_DATA, PRIVS_DIR_MODE, p->uid,
	                      p->gid, &took, err, sizeof(err)) < 0) {
		log_kv(LOG_LEVEL_ERROR, "cannot prepare a data folder", "key",
		       key, "error", err, NULL);
		return -1;
	}
	if (!took)
		log_kv(LOG_LEVEL_WARN,
		       "folder holds files the set did not make: its owner "
		       "and mode are left as they are",
		       "key", key, "path", path, NULL);
	return 0;
}

/*
 * Once the run_dir is locked: gives run_dir (and, when switching user,
 * storage.path and spool.path) to the user, and run_dir to the admin
 * group with the setgid bit so that the sockets made in it get that
 * group, when they are the set's own (privs_prepare_dir).  Returns 0 or
 * -1 (logged).
 */
static int
sup_prepare_dirs(struct sup *s)
{
	const struct privs *p = &s->privs;
	bool drop = privs_should_drop(p), took;
	char err[512];
	uid_t uid;
	gid_t gid;

	if (!drop && !p->have_admin)
		return 0;
	uid = drop ? p->uid : (uid_t)-1;
	gid = p->have_admin ? p->admin_gid : drop ? p->gid : (gid_t)-1;
	if (privs_prepare_dir(s->run_dir, PRIVS_DIR_RUN,
	                      p->have_admin ? PRIVS_ADMIN_MODE : PRIVS_DIR_MODE,
	                      uid, gid, &took, err, sizeof(err)) < 0) {
		if (drop) {
			log_kv(LOG_LEVEL_ERROR, "cannot prepare run_dir",
			       "error", err, NULL);
			return -1;
		}
		/* Not root: we may not give it to a group we are not in. */
		log_kv(LOG_LEVEL_WARN,
		       "cannot give run_dir to the admin group: its members "
		       "cannot reach the sockets",
		       "error", err, "admin_group", p->admin_group, NULL);
	} else if (!took)
		log_kv(LOG_LEVEL_WARN,
		       "run_dir holds files the set did not make: its owner "
		       "and mode are left as they are",
		       "run_dir", s->run_dir, NULL);
	if (!drop)
		return 0;
	if (sup_prepare_data("storage.path", s->cfg->storage.path, p) < 0 ||
	    sup_prepare_data("spool.path", s->cfg->spool.path, p) < 0)
		return -1;
	return 0;
}

/* Logs, as an error, that the user cannot do what to path. */
static int
sup_check_access(const struct sup *s, const char *key, const char *path,
                 int how)
{
	if (path == NULL || access(path, how) == 0)
		return 0;
	log_kv(LOG_LEVEL_ERROR,
	       how & W_OK ? "the set's user cannot write there"
	                  : "the set's user cannot read it",
	       "key", key, "path", path, "user", s->privs.user, "error",
	       strerror(errno), NULL);
	return -1;
}

/*
 * Started as root with security.user: binds ingestd's port if only root
 * may, switches to the user for good, and checks that the user can read
 * the config files (the daemons and every reload read them) and write
 * run_dir and storage.path.  Then, switched or not, NO_NEW_PRIVS for
 * the supervisor and all it starts.  Returns 0 or -1 (logged).
 */
static int
sup_drop(struct sup *s)
{
	const struct privs *p = &s->privs;
	const struct sn_config *cfg = s->cfg;
	char err[512], uid[24], gid[24];
	int bad = 0;

	if (privs_should_drop(p)) {
		if (cfg->http.port < 1024) {
			s->http_fd =
			        privs_listen_tcp(cfg->http.host, cfg->http.port,
			                         err, sizeof(err));
			if (s->http_fd < 0) {
				log_kv(LOG_LEVEL_ERROR,
				       "cannot bind ingestd's privileged port",
				       "error", err, NULL);
				return -1;
			}
		}
		if (privs_drop(p, err, sizeof(err)) < 0) {
			log_kv(LOG_LEVEL_ERROR, "cannot switch user", "user",
			       p->user, "error", err, NULL);
			return -1;
		}
		snprintf(uid, sizeof(uid), "%ld", (long)p->uid);
		snprintf(gid, sizeof(gid), "%ld", (long)p->gid);
		log_kv(LOG_LEVEL_INFO, "switched user", "user", p->user, "uid",
		       uid, "gid", gid, "http_port_bound_for_ingestd",
		       s->http_fd >= 0 ? "yes" : "no", NULL);
		bad |= sup_check_access(s, "--config", cfg->path, R_OK);
		bad |= sup_check_access(s, "detectors.configFile",
		                        cfg->detectors_file, R_OK);
		bad |= sup_check_access(s, "alerts.configFile",
		                        cfg->alerts_file, R_OK);
		bad |= sup_check_access(s, "run_dir", s->run_dir, W_OK | X_OK);
		bad |= sup_check_access(s, "storage.path", cfg->storage.path,
		                        W_OK | X_OK);
		bad |= sup_check_access(s, "spool.path", cfg->spool.path,
		                        W_OK | X_OK);
		if (bad)
			return -1;
	}
	privs_no_new_privs();
	return 0;
}

/* Makes sure fds 0-2 are open, so no pipe or socket lands on them. */
static void
sup_sanitize_stdio(void)
{
	int fd;

	while ((fd = open("/dev/null", O_RDWR)) >= 0 && fd <= 2)
		;
	if (fd > 2)
		close(fd);
}

/* --- publishing the set's state ---------------------------------------- */

bool
sup_is_ready(const struct sup *s)
{
	int i;

	for (i = 0; i < PROC_COUNT; i++)
		if (s->children[i].p.state != SN_DAEMON_UP)
			return false;
	return true;
}

/* Sends one SN_MSG_SET_STATE with all four daemons on the pub socket. */
static void
sup_publish(struct sup *s)
{
	struct sn_buf b = {0};
	struct sn_daemon_status st;
	int64_t wall = sn_now_ms(), mono = sn_mono_ms();
	int i;

	if (s->state_out == NULL)
		return;
	msg_begin(&b, SN_MSG_SET_STATE);
	for (i = 0; i < PROC_COUNT; i++) {
		const struct proc *p = &s->children[i].p;

		st.name.p = p->desc->name;
		st.name.len = (uint32_t)strlen(p->desc->name);
		st.state = (uint8_t)p->state;
		st.pid = (int32_t)p->pid;
		st.since_ms = wall - (mono - p->since_ms);
		st.restarts = p->restarts;
		msg_add_daemon_status(&b, &st);
	}
	/* Pub drops what no one reads; a full queue is not our problem. */
	(void)ipc_send(s->state_out, b.data, b.len);
	sn_buf_free(&b);
}

static void
sup_on_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	sup_publish(arg);
}

/* Called after any child changed state: readiness, then publish. */
static void
sup_state_changed(struct sup *s)
{
	s->ready = sup_is_ready(s);
	if (s->ready && !s->ready_announced) {
		s->ready_announced = true;
		log_info("daemon set ready");
		sup_notify_systemd("READY=1");
	}
	sup_publish(s);
}

json_t *
sup_status_json(const struct sup *s)
{
	int64_t now = sn_mono_ms(), wall = sn_now_ms();
	char buf[64];
	json_t *list, *d, *reply;
	int i;

	list = json_array();
	for (i = 0; i < PROC_COUNT; i++) {
		const struct proc *p = &s->children[i].p;
		int64_t up = 0;

		if (p->pid > 0)
			up = (now - p->started_ms) / 1000;
		sn_rfc3339_format(wall - (now - p->since_ms), buf, sizeof(buf));
		d = json_pack(
		        "{s:s, s:s, s:i, s:I, s:I, s:s}", "name", p->desc->name,
		        "state", sn_daemon_state_name(p->state), "pid",
		        (int)p->pid, "uptime_seconds", (json_int_t)up,
		        "restarts", (json_int_t)p->restarts, "since", buf);
		if (p->exited)
			json_object_set_new(
			        d, "last_exit",
			        json_string(proc_status_str(p->last_status, buf,
			                                    sizeof(buf))));
		else
			json_object_set_new(d, "last_exit", json_null());
		json_array_append_new(list, d);
	}
	reply = json_pack(
	        "{s:b, s:s, s:s, s:b, s:b, s:I, s:i, s:s?, s:o}", "ok", 1,
	        "version", SENTINEL_VERSION, "mode",
	        config_mode_name(s->cfg->mode), "ready", (int)sup_is_ready(s),
	        "stopping", (int)s->stopping, "uptime_seconds",
	        (json_int_t)((now - s->started_ms) / 1000), "pid",
	        (int)getpid(), "config", s->config_path, "daemons", list);
	return reply;
}

/* --- children ----------------------------------------------------------- */

static void
sup_close_notify(struct sup_child *c)
{
	if (c->notify_ev != NULL) {
		event_free(c->notify_ev);
		c->notify_ev = NULL;
	}
	if (c->notify_fd >= 0) {
		close(c->notify_fd);
		c->notify_fd = -1;
	}
}

/* The readiness pipe is readable: READY, or EOF from a child gone. */
static void
sup_on_notify(evutil_socket_t fd, short what, void *arg)
{
	struct sup_child *c = arg;
	char buf[64], pid[16];
	ssize_t n;

	(void)what;
	n = read(fd, buf, sizeof(buf));
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n > 0 && memmem(buf, (size_t)n, "READY", 5) == NULL)
		return;
	if (n > 0 && proc_on_ready(&c->p, sn_mono_ms())) {
		log_kv(LOG_LEVEL_INFO, "daemon up", "daemon", c->p.desc->name,
		       "pid", sup_itoa(c->p.pid, pid, sizeof(pid)), NULL);
		sup_state_changed(c->sup);
	}
	/* One READY is all a child ever says; EOF: nothing more will come. */
	sup_close_notify(c);
}

/*
 * Builds the environment of a child: ours without SENTINEL_NOTIFY_FD and
 * NOTIFY_SOCKET (systemd talks to the supervisor only), plus
 * SENTINEL_NOTIFY_FD=3.  Built before fork so the child only calls
 * async-signal-safe functions.  Free with free() (one block).
 */
static char **
sup_child_env(bool http_fd)
{
	static const char notify[] = SN_NOTIFY_ENV "=3";
	static const char listener[] = PRIVS_HTTP_FD_ENV "=" PRIVS_HTTP_FD_STR;
	size_t n = 0, i, j = 0;
	char **env;

	while (environ[n] != NULL)
		n++;
	env = sn_xcalloc(n + 3, sizeof(*env));
	for (i = 0; i < n; i++) {
		if (strncmp(environ[i], SN_NOTIFY_ENV "=",
		            sizeof(SN_NOTIFY_ENV)) == 0 ||
		    strncmp(environ[i], PRIVS_HTTP_FD_ENV "=",
		            sizeof(PRIVS_HTTP_FD_ENV)) == 0 ||
		    strncmp(environ[i], "NOTIFY_SOCKET=", 14) == 0)
			continue;
		env[j++] = environ[i];
	}
	env[j++] = (char *)notify;
	if (http_fd)
		env[j++] = (char *)listener;
	env[j] = NULL;
	return env;
}

/*
 * In the child after fork: only async-signal-safe calls.  Puts the
 * readiness pipe on fd 3, the inherited HTTP listener (http_fd, ingestd
 * only, else -1) on fd 4, stdin on /dev/null, closes everything else,
 * leaves the supervisor's process group (so a terminal's ^C reaches only
 * the supervisor, which then stops the set in order), asks for SIGTERM
 * should the supervisor die, and execs.  Exits 127 when exec fails.
 */
static void __attribute__((noreturn))
sup_exec_child(int wfd, int http_fd, pid_t parent, char *const argv[],
               char *const envp[])
{
	sigset_t none;
	int nul;

	if ((nul = open("/dev/null", O_RDONLY)) >= 0 && nul != wfd) {
		dup2(nul, 0);
		if (nul != 0)
			close(nul);
	}
	if (wfd == SUP_NOTIFY_FD) {
		if (fcntl(wfd, F_SETFD, 0) < 0)
			_exit(127);
	} else if (dup2(wfd, SUP_NOTIFY_FD) < 0)
		_exit(127);
	/* http_fd is 10 or above (privs_listen_tcp): no clash with wfd. */
	if (http_fd >= 0) {
		if (dup2(http_fd, PRIVS_HTTP_FD) < 0)
			_exit(127);
		close_range(PRIVS_HTTP_FD + 1, ~0U, 0);
	} else
		close_range(SUP_NOTIFY_FD + 1, ~0U, 0);

	signal(SIGPIPE, SIG_DFL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	setpgid(0, 0);
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != parent)
		_exit(127);
	execve(argv[0], argv, envp);
	_exit(127);
}

/* The child c exited with wstatus: log it and apply the policy. */
static void
sup_child_exited(struct sup *s, struct sup_child *c, int wstatus)
{
	char pid[16], status[48], delay_s[24];
	enum sn_daemon_state was = c->p.state;
	bool stop_target = s->stopping && s->stop_idx < PROC_COUNT &&
	                   c == &s->children[proc_stop_order[s->stop_idx]];
	enum proc_action act;
	int64_t delay;

	sup_itoa(c->p.pid, pid, sizeof(pid));
	proc_status_str(wstatus, status, sizeof(status));
	sup_close_notify(c);
	evtimer_del(c->kill_ev);

	act = proc_on_exit(&c->p, sn_mono_ms(), wstatus, &delay);
	if (was == SN_DAEMON_STOPPING)
		log_kv(LOG_LEVEL_INFO, "daemon stopped", "daemon",
		       c->p.desc->name, "pid", pid, "status", status, NULL);
	else if (c->p.state == SN_DAEMON_FAILED)
		log_kv(LOG_LEVEL_ERROR,
		       "daemon failed with a permanent error, not respawning",
		       "daemon", c->p.desc->name, "pid", pid, "status", status,
		       NULL);
	else {
		log_kv(LOG_LEVEL_WARN, "daemon exited", "daemon",
		       c->p.desc->name, "pid", pid, "status", status,
		       "restart_in_ms",
		       sup_itoa(delay, delay_s, sizeof(delay_s)), NULL);
		if (WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 127)
			log_kv(LOG_LEVEL_WARN,
			       "exit 127: the executable could not be run",
			       "daemon", c->p.desc->name, "exe", c->exe_path,
			       NULL);
	}
	if (act == PROC_ACT_RESTART) {
		struct timeval tv = {(time_t)(delay / 1000),
		                     (suseconds_t)(delay % 1000) * 1000};
		evtimer_add(c->restart_ev, &tv);
	}
	sup_state_changed(s);
	if (stop_target && was == SN_DAEMON_STOPPING) {
		s->stop_idx++;
		sup_stop_next(s);
	}
}

/*
 * Forks and execs c with its readiness pipe.  A failed pipe or fork is
 * handled like a child that exited 127, so the backoff retries it.
 */
static void
sup_spawn(struct sup *s, struct sup_child *c)
{
	char **argv, **envp;
	char pidbuf[16];
	int fds[2];
	int http_fd = strcmp(c->p.desc->name, "ingestd") == 0 ? s->http_fd : -1;
	pid_t pid, self = getpid();

	if (pipe2(fds, O_CLOEXEC) < 0) {
		log_warn("%s: pipe", c->p.desc->name);
		proc_on_spawn(&c->p, 0, sn_mono_ms());
		sup_child_exited(s, c, W_EXITCODE(127, 0));
		return;
	}
	envp = sup_child_env(http_fd >= 0);
	argv = sup_child_argv(s, c);
	pid = fork();
	if (pid == 0)
		sup_exec_child(fds[1], http_fd, self, argv, envp);
	free(envp);
	free(argv);
	close(fds[1]);
	if (pid < 0) {
		log_warn("%s: fork", c->p.desc->name);
		close(fds[0]);
		proc_on_spawn(&c->p, 0, sn_mono_ms());
		sup_child_exited(s, c, W_EXITCODE(127, 0));
		return;
	}

	c->notify_fd = fds[0];
	(void)fcntl(c->notify_fd, F_SETFL, O_NONBLOCK);
	c->notify_ev = event_new(s->base, c->notify_fd, EV_READ | EV_PERSIST,
	                         sup_on_notify, c);
	if (c->notify_ev == NULL || event_add(c->notify_ev, NULL) < 0)
		fatalx("cannot watch the readiness pipe of %s",
		       c->p.desc->name);
	proc_on_spawn(&c->p, pid, sn_mono_ms());
	log_kv(LOG_LEVEL_INFO, "daemon started", "daemon", c->p.desc->name,
	       "pid", sup_itoa(pid, pidbuf, sizeof(pidbuf)), "exe", c->exe_path,
	       NULL);
	sup_state_changed(s);
}

/* Backoff over: start it again (unless the set is stopping). */
static void
sup_on_restart(evutil_socket_t fd, short what, void *arg)
{
	struct sup_child *c = arg;

	(void)fd;
	(void)what;
	if (c->p.state != SN_DAEMON_BACKOFF)
		return;
	sup_spawn(c->sup, c);
}

/* Stop timeout: the child had its chance to drain. */
static void
sup_on_kill(evutil_socket_t fd, short what, void *arg)
{
	struct sup_child *c = arg;
	char pid[16];

	(void)fd;
	(void)what;
	if (c->p.state != SN_DAEMON_STOPPING || c->p.pid <= 0)
		return;
	log_kv(LOG_LEVEL_WARN, "daemon did not stop in time, killing", "daemon",
	       c->p.desc->name, "pid", sup_itoa(c->p.pid, pid, sizeof(pid)),
	       NULL);
	if (kill(c->p.pid, SIGKILL) < 0)
		log_warn("kill %d", (int)c->p.pid);
}

/* SIGCHLD: reap every child that has exited. */
static void
sup_reap(struct sup *s)
{
	pid_t pid;
	int st, i;

	while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
		for (i = 0; i < PROC_COUNT; i++)
			if (s->children[i].p.pid == pid)
				break;
		if (i == PROC_COUNT)
			continue;
		sup_child_exited(s, &s->children[i], st);
	}
}

/* --- stop and reload ---------------------------------------------------- */

/*
 * Walks proc_stop_order from stop_idx: signals the next running child and
 * returns to wait for its exit (sup_child_exited calls again), or skips
 * children that are not running.  At the end, ends the loop.
 */
static void
sup_stop_next(struct sup *s)
{
	char pid[16];

	while (s->stop_idx < PROC_COUNT) {
		struct sup_child *c =
		        &s->children[proc_stop_order[s->stop_idx]];
		struct timeval tv = {(time_t)(s->stop_timeout_ms / 1000),
		                     (suseconds_t)(s->stop_timeout_ms % 1000) *
		                             1000};

		switch (proc_on_stop(&c->p, sn_mono_ms())) {
		case PROC_ACT_SIGNAL:
			log_kv(LOG_LEVEL_INFO, "stopping daemon", "daemon",
			       c->p.desc->name, "pid",
			       sup_itoa(c->p.pid, pid, sizeof(pid)), NULL);
			if (kill(c->p.pid, SIGTERM) < 0)
				log_warn("kill %d", (int)c->p.pid);
			evtimer_add(c->kill_ev, &tv);
			sup_state_changed(s);
			return;
		case PROC_ACT_CANCEL:
			log_kv(LOG_LEVEL_INFO, "restart cancelled", "daemon",
			       c->p.desc->name, NULL);
			evtimer_del(c->restart_ev);
			sup_state_changed(s);
			break;
		default:
			break;
		}
		s->stop_idx++;
	}
	log_info("daemon set stopped");
	event_base_loopbreak(s->base);
}

void
sup_stop(struct sup *s)
{
	if (s->stopping) {
		log_info("already stopping");
		return;
	}
	s->stopping = true;
	s->stop_idx = 0;
	log_info("stopping the daemon set");
	sup_notify_systemd("STOPPING=1");
	sup_stop_next(s);
}

static bool
sup_same_name(const char *a, const char *b)
{
	return (a == NULL && b == NULL) ||
	       (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* Users and groups are resolved once, at start (and the switch cannot
 * be undone): a reload only notices they changed. */
static bool
sup_same_security(const struct sn_config *a, const struct sn_config *b)
{
	return sup_same_name(a->security.user, b->security.user) &&
	       sup_same_name(a->security.group, b->security.group) &&
	       sup_same_name(a->security.admin_group, b->security.admin_group);
}

int
sup_reload(struct sup *s, struct sn_cfg_errors *errs)
{
	struct sn_config *next;
	char pid[16];
	size_t i;
	int k;

	if (s->stopping) {
		cfg_errors_add(errs, "the daemon set is stopping");
		return -1;
	}
	log_info("reloading configuration");
	if ((next = config_load(s->config_path, errs)) == NULL) {
		for (i = 0; i < errs->count; i++)
			log_error("%s", errs->msgs[i]);
		log_warnx("configuration invalid, keeping the running "
		          "configuration");
		return -1;
	}
	if (!sup_same_security(s->cfg, next))
		log_warnx("security.* changed: it takes effect when the set "
		          "is restarted");
	if (next->run_dir != NULL && strcmp(next->run_dir, s->run_dir) != 0)
		log_kv(LOG_LEVEL_WARN,
		       "run_dir changed; the supervisor keeps its sockets in "
		       "the old one until restarted",
		       "running", s->run_dir, "new", next->run_dir, NULL);
	config_free(s->cfg);
	s->cfg = next;
	log_set_level((enum log_level)s->cfg->obs.log_level);
	log_set_format((enum log_format)s->cfg->obs.log_format);

	/*
	 * Daemons still starting may not watch SIGHUP yet (its default
	 * action would kill them); they read the file as it is now anyway.
	 */
	for (k = 0; k < PROC_COUNT; k++) {
		struct sup_child *c = &s->children[k];

		if (c->p.state != SN_DAEMON_UP || c->p.pid <= 0)
			continue;
		log_kv(LOG_LEVEL_DEBUG, "forwarding SIGHUP", "daemon",
		       c->p.desc->name, "pid",
		       sup_itoa(c->p.pid, pid, sizeof(pid)), NULL);
		if (kill(c->p.pid, SIGHUP) < 0)
			log_warn("kill %d", (int)c->p.pid);
	}
	log_info("configuration reloaded");
	return 0;
}

static void
sup_on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct sup *s = arg;
	struct sn_cfg_errors errs = {0};

	(void)what;
	switch (sig) {
	case SIGCHLD:
		sup_reap(s);
		break;
	case SIGHUP:
		/* systemd (ExecReload=kill -HUP) waits for READY=1 again;
		 * before the set was first ready there is nothing to tell. */
		if (s->ready_announced && !s->stopping)
			sup_notify_reloading();
		(void)sup_reload(s, &errs);
		cfg_errors_free(&errs);
		if (s->ready_announced && !s->stopping)
			sup_notify_systemd("READY=1");
		break;
	default:
		log_kv(LOG_LEVEL_INFO, "signal received", "signal",
		       strsignal((int)sig), NULL);
		sup_stop(s);
		break;
	}
}

/* --- life cycle --------------------------------------------------------- */

int
sup_init(struct sup *s, struct sn_config *cfg, const char *config_path)
{
	static const int sigs[] = {SIGTERM, SIGINT, SIGHUP, SIGCHLD};
	char path[PATH_MAX], url[PATH_MAX + 8];
	const char *env;
	struct timeval tick = {SUP_PUBLISH_MS / 1000,
	                       (SUP_PUBLISH_MS % 1000) * 1000};
	int64_t now = sn_mono_ms();
	size_t i;
	int k;

	memset(s, 0, sizeof(*s));
	s->cfg = cfg;
	s->config_path = config_path != NULL ? sn_xstrdup(config_path) : NULL;
	s->run_dir = sn_xstrdup(cfg->run_dir != NULL ? cfg->run_dir
	                                             : SN_DEFAULT_RUN_DIR);
	s->pid_fd = -1;
	s->http_fd = -1;
	s->started_ms = now;
	s->stop_timeout_ms = SUP_STOP_TIMEOUT_MS;
	for (k = 0; k < PROC_COUNT; k++) {
		proc_init(&s->children[k].p, &proc_table[k], now);
		s->children[k].sup = s;
		s->children[k].notify_fd = -1;
	}

	env = getenv(SUP_STOP_TIMEOUT_ENV);
	if (env != NULL && env[0] != '\0' &&
	    (sn_duration_parse(env, &s->stop_timeout_ms) < 0 ||
	     s->stop_timeout_ms <= 0)) {
		log_kv(LOG_LEVEL_ERROR, "bad duration", "variable",
		       SUP_STOP_TIMEOUT_ENV, "value", env, NULL);
		return -1;
	}

	sup_sanitize_stdio();
	/* A client gone away must not kill the supervisor (style.md 9). */
	signal(SIGPIPE, SIG_IGN);
	/* Everything that needs root before the switch, nothing after. */
	if (sup_find_executables(s) < 0 || sup_make_run_dir(s) < 0 ||
	    sup_lock_pidfile(s) < 0 || sup_prepare_dirs(s) < 0 ||
	    sup_drop(s) < 0)
		return -1;

	if ((s->base = event_base_new()) == NULL) {
		log_warnx("cannot create the event loop");
		return -1;
	}
	/* SIGCHLD is watched before the first fork so no exit is missed. */
	for (i = 0; i < SN_ARRAY_LEN(sigs); i++) {
		s->sig_ev[i] = evsignal_new(s->base, sigs[i], sup_on_signal, s);
		if (s->sig_ev[i] == NULL || event_add(s->sig_ev[i], NULL) < 0) {
			log_warnx("cannot watch signal %d", sigs[i]);
			return -1;
		}
	}
	for (k = 0; k < PROC_COUNT; k++) {
		struct sup_child *c = &s->children[k];

		c->restart_ev = evtimer_new(s->base, sup_on_restart, c);
		c->kill_ev = evtimer_new(s->base, sup_on_kill, c);
		if (c->restart_ev == NULL || c->kill_ev == NULL) {
			log_warnx("cannot create timers");
			return -1;
		}
	}

	if (config_run_path(cfg, SN_CONTROL_SOCKET, path, sizeof(path)) < 0) {
		log_kv(LOG_LEVEL_ERROR, "control socket path too long",
		       "run_dir", s->run_dir, NULL);
		return -1;
	}
	if ((s->ctl = control_listen(s->base, path, s)) == NULL)
		return -1;
	s->exporter = exporter_start(s);
	if (ipc_url(url, sizeof(url), s->run_dir, SN_IPC_STATE) < 0) {
		log_kv(LOG_LEVEL_ERROR, "state socket path too long", "run_dir",
		       s->run_dir, NULL);
		return -1;
	}
	if ((s->state_out = ipc_pub_listen(s->base, url)) == NULL)
		return -1;
	s->tick_ev = event_new(s->base, -1, EV_PERSIST, sup_on_tick, s);
	if (s->tick_ev == NULL || event_add(s->tick_ev, &tick) < 0) {
		log_warnx("cannot create the publish timer");
		return -1;
	}
	return 0;
}

void
sup_start(struct sup *s)
{
	char pid[16];
	int k;

	log_kv(LOG_LEVEL_INFO, "starting the daemon set", "version",
	       SENTINEL_VERSION, "mode", config_mode_name(s->cfg->mode),
	       "config", s->config_path != NULL ? s->config_path : "(built-in)",
	       "run_dir", s->run_dir, "pid",
	       sup_itoa(getpid(), pid, sizeof(pid)), NULL);
	for (k = 0; k < PROC_COUNT; k++)
		sup_spawn(s, &s->children[k]);
}

int
sup_run(struct sup *s)
{
	event_base_dispatch(s->base);
	return 0;
}

void
sup_free(struct sup *s)
{
	size_t i;
	int k;

	control_free(s->ctl);
	s->ctl = NULL;
	exporter_free(s->exporter);
	s->exporter = NULL;
	if (s->state_out != NULL) {
		ipc_out_free(s->state_out);
		s->state_out = NULL;
	}
	if (s->tick_ev != NULL)
		event_free(s->tick_ev);
	for (i = 0; i < SN_ARRAY_LEN(s->sig_ev); i++)
		if (s->sig_ev[i] != NULL)
			event_free(s->sig_ev[i]);
	for (k = 0; k < PROC_COUNT; k++) {
		struct sup_child *c = &s->children[k];

		sup_close_notify(c);
		if (c->restart_ev != NULL)
			event_free(c->restart_ev);
		if (c->kill_ev != NULL)
			event_free(c->kill_ev);
		free(c->exe_path);
	}
	if (s->pid_fd >= 0) {
		/* Unlink while still holding the lock: no one else's file. */
		if (unlink(s->pid_path) < 0)
			log_warn("cannot remove %s", s->pid_path);
		close(s->pid_fd);
	}
	if (s->base != NULL)
		event_base_free(s->base);
	if (s->http_fd >= 0)
		close(s->http_fd);
	privs_free(&s->privs);
	config_free(s->cfg);
	free(s->config_path);
	free(s->run_dir);
	free(s->pid_path);
	memset(s, 0, sizeof(*s));
	s->pid_fd = -1;
	s->http_fd = -1;
}
