/*
 * control.c: the control socket of the supervisor, after relayd's and
 * smtpd's control.c (style.md 13): a unix stream socket in run_dir, mode
 * 0660, a bounded number of connections, the peer's credentials
 * (SO_PEERCRED) checked on every request against privs.h's rule (root,
 * the set's uid, security.admin_group), and every bad request answered
 * with an error while the supervisor goes on (style.md 9).  A refused
 * peer gets one "permission denied" answer and the connection closes.
 *
 * Requests and answers are JSON lines (control_proto.h).  Commands are a
 * table: name and a handler returning the answer object.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <jansson.h>

#include "control.h"
#include "control_proto.h"
#include "log.h"
#include "privs.h"
#include "sup.h"
#include "util.h"

struct control_conn {
	TAILQ_ENTRY(control_conn) entry;
	struct control *ctl;
	struct bufferevent *bev;
	struct ucred cred; /* the peer, from SO_PEERCRED */
	bool have_cred;
	bool closing; /* answer the last line, then close */
	bool refused; /* a peer privs.h does not serve: close after answer */
};

struct control {
	struct event_base *base;
	struct evconnlistener *lev;
	char *path;
	struct sup *sup;
	TAILQ_HEAD(, control_conn) conns;
	int nconns;
	uint64_t rejected; /* bad requests answered with an error */
};

/* Every command needs a peer privs.h serves: even status shows pids
 * and paths, and no command is worth a stranger's attention. */
struct control_cmd {
	const char *name;
	json_t *(*handle)(struct control_conn *cc, json_t *req);
	json_t *(*handle_sup)(struct sup *sup, json_t *req); /* control.h */
};

static json_t *control_cmd_status(struct control_conn *, json_t *);
static json_t *control_cmd_version(struct control_conn *, json_t *);
static json_t *control_cmd_reload(struct control_conn *, json_t *);

static const struct control_cmd control_cmds[] = {
        {CONTROL_CMD_STATUS, control_cmd_status, NULL},
        {CONTROL_CMD_VERSION, control_cmd_version, NULL},
        {CONTROL_CMD_RELOAD, control_cmd_reload, NULL},
        {CONTROL_CMD_METRICS, NULL, control_cmd_metrics},
        {CONTROL_CMD_CONFIG, NULL, control_cmd_config},
        {CONTROL_CMD_LOGS, NULL, control_cmd_logs},
};

json_t *
control_error(const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return json_pack("{s:b, s:s}", "ok", 0, "error", msg);
}

static json_t *
control_cmd_status(struct control_conn *cc, json_t *req)
{
	(void)req;
	return sup_status_json(cc->ctl->sup);
}

static json_t *
control_cmd_version(struct control_conn *cc, json_t *req)
{
	(void)cc;
	(void)req;
	return json_pack("{s:b, s:s}", "ok", 1, "version", SENTINEL_VERSION);
}

static json_t *
control_cmd_reload(struct control_conn *cc, json_t *req)
{
	struct sn_cfg_errors errs = {0};
	json_t *reply, *list;
	size_t i;

	(void)req;
	if (sup_reload(cc->ctl->sup, &errs) == 0) {
		cfg_errors_free(&errs);
		return json_pack("{s:b, s:s}", "ok", 1, "message",
		                 "configuration reloaded");
	}
	list = json_array();
	for (i = 0; i < errs.count; i++)
		json_array_append_new(list, json_string(errs.msgs[i]));
	reply = json_pack("{s:b, s:s, s:o}", "ok", 0, "error",
	                  "configuration invalid, keeping the running "
	                  "configuration",
	                  "errors", list);
	cfg_errors_free(&errs);
	return reply;
}

/* Root, the set's user, or a member of the admin group (privs.h). */
static bool
control_peer_allowed(const struct control_conn *cc)
{
	if (!cc->have_cred)
		return false;
	return privs_peer_allowed(cc->cred.uid, cc->cred.gid);
}

/* Counts and logs a refused request; returns the error answer. */
static json_t *
control_reject(struct control_conn *cc, json_t *reply)
{
	char pid[16], uid[24];
	json_t *err = json_object_get(reply, "error");

	cc->ctl->rejected++;
	snprintf(pid, sizeof(pid), "%d", cc->have_cred ? (int)cc->cred.pid : 0);
	snprintf(uid, sizeof(uid), "%ld",
	         cc->have_cred ? (long)cc->cred.uid : -1L);
	log_kv(LOG_LEVEL_WARN, "control: request refused", "peer_uid", uid,
	       "peer_pid", pid, "error", json_string_value(err), NULL);
	return reply;
}

/*
 * Answers one request line (len bytes, no newline).  Returns a new
 * answer object; never NULL.
 */
static json_t *
control_dispatch(struct control_conn *cc, const char *line, size_t len)
{
	const struct control_cmd *cmd = NULL;
	json_error_t jerr;
	json_t *req, *name, *reply;
	char who[96];
	size_t i;

	/* Before the request is even parsed: strangers get nothing else. */
	if (!control_peer_allowed(cc)) {
		cc->refused = true;
		return control_reject(
		        cc,
		        control_error("permission denied: uid %ld is not "
		                      "%s",
		                      cc->have_cred ? (long)cc->cred.uid : -1L,
		                      privs_policy_describe(who, sizeof(who))));
	}
	req = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
	if (req == NULL)
		return control_reject(
		        cc,
		        control_error("request is not JSON: %s", jerr.text));
	name = json_object_get(req, "command");
	if (!json_is_object(req) || !json_is_string(name)) {
		json_decref(req);
		return control_reject(
		        cc, control_error("request must be an object with a "
		                          "\"command\" string"));
	}
	for (i = 0; i < SN_ARRAY_LEN(control_cmds); i++)
		if (strcmp(control_cmds[i].name, json_string_value(name)) == 0)
			cmd = &control_cmds[i];
	if (cmd == NULL) {
		reply = control_error("unknown command: %.64s",
		                      json_string_value(name));
		json_decref(req);
		return control_reject(cc, reply);
	}
	if (cmd->handle != NULL)
		reply = cmd->handle(cc, req);
	else
		reply = cmd->handle_sup(cc->ctl->sup, req);
	json_decref(req);
	return reply;
}

/* Queues reply (consumed) as one line on the connection. */
static void
control_send(struct control_conn *cc, json_t *reply)
{
	char *s;

	s = json_dumps(reply, JSON_COMPACT);
	json_decref(reply);
	if (s == NULL)
		s = sn_xstrdup("{\"ok\":false,\"error\":\"out of memory\"}");
	bufferevent_write(cc->bev, s, strlen(s));
	bufferevent_write(cc->bev, "\n", 1);
	free(s);
}

static void
control_conn_free(struct control_conn *cc)
{
	TAILQ_REMOVE(&cc->ctl->conns, cc, entry);
	cc->ctl->nconns--;
	bufferevent_free(cc->bev);
	free(cc);
}

/* Closes now if everything was written, or once it has been. */
static void
control_conn_finish(struct control_conn *cc)
{
	cc->closing = true;
	bufferevent_disable(cc->bev, EV_READ);
	if (evbuffer_get_length(bufferevent_get_output(cc->bev)) == 0)
		control_conn_free(cc);
}

static void
control_on_read(struct bufferevent *bev, void *arg)
{
	struct control_conn *cc = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	char *line;
	size_t len;

	while (!cc->closing) {
		line = evbuffer_readln(in, &len, EVBUFFER_EOL_CRLF);
		if (line == NULL) {
			if (evbuffer_get_length(in) > CONTROL_MAX_LINE)
				len = evbuffer_get_length(in);
			else
				return;
		}
		if (len > CONTROL_MAX_LINE) {
			free(line);
			control_send(
			        cc,
			        control_reject(
			                cc, control_error("request longer "
			                                  "than %d bytes",
			                                  CONTROL_MAX_LINE)));
			control_conn_finish(cc);
			return;
		}
		if (len > 0)
			control_send(cc, control_dispatch(cc, line, len));
		free(line);
		if (cc->refused) {
			control_conn_finish(cc);
			return;
		}
	}
}

static void
control_on_write(struct bufferevent *bev, void *arg)
{
	struct control_conn *cc = arg;

	(void)bev;
	if (cc->closing)
		control_conn_free(cc);
}

static void
control_on_event(struct bufferevent *bev, short what, void *arg)
{
	struct control_conn *cc = arg;

	(void)bev;
	if (what & BEV_EVENT_EOF) {
		/* The client may half-close after its request: answer it. */
		control_conn_finish(cc);
		return;
	}
	/* Error or idle timeout. */
	control_conn_free(cc);
}

static void
control_on_accept(struct evconnlistener *lev, evutil_socket_t fd,
                  struct sockaddr *sa, int socklen, void *arg)
{
	static const char busy[] = "{\"ok\":false,\"error\":\"too many "
	                           "control connections\"}\n";
	struct control *ctl = arg;
	struct control_conn *cc;
	struct timeval idle = {CONTROL_IDLE_TIMEOUT, 0};
	socklen_t len = sizeof(cc->cred);
	ssize_t n;

	(void)lev;
	(void)sa;
	(void)socklen;
	if (ctl->nconns >= CONTROL_MAX_CONNS) {
		ctl->rejected++;
		log_warnx("control: too many connections (%d)", ctl->nconns);
		n = write(fd, busy, sizeof(busy) - 1);
		(void)n;
		close(fd);
		return;
	}
	cc = sn_xcalloc(1, sizeof(*cc));
	cc->ctl = ctl;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cc->cred, &len) == 0)
		cc->have_cred = true;
	cc->bev = bufferevent_socket_new(ctl->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (cc->bev == NULL) {
		log_warnx("control: cannot create a buffer for a connection");
		close(fd);
		free(cc);
		return;
	}
	bufferevent_setcb(cc->bev, control_on_read, control_on_write,
	                  control_on_event, cc);
	bufferevent_set_timeouts(cc->bev, &idle, &idle);
	bufferevent_enable(cc->bev, EV_READ | EV_WRITE);
	TAILQ_INSERT_TAIL(&ctl->conns, cc, entry);
	ctl->nconns++;
}

static void
control_on_accept_error(struct evconnlistener *lev, void *arg)
{
	(void)lev;
	(void)arg;
	log_warn("control: accept");
}

struct control *
control_listen(struct event_base *base, const char *path, struct sup *sup)
{
	struct sockaddr_un sun;
	struct control *ctl;
	mode_t mask;
	int fd, rv;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		log_warnx("control socket path too long (max %zu bytes): %s",
		          sizeof(sun.sun_path) - 1, path);
		return NULL;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		log_warn("control: socket");
		return NULL;
	}
	if (unlink(path) < 0 && errno != ENOENT) {
		log_warn("control: cannot remove stale socket %s", path);
		close(fd);
		return NULL;
	}
	/*
	 * Born 0660 (the supervisor has no other thread yet, so the umask
	 * is ours to change for a moment), then chmod for good measure: no
	 * window in which others may connect.
	 */
	mask = umask(0777 & ~PRIVS_SOCKET_MODE);
	rv = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
	umask(mask);
	if (rv < 0) {
		log_warn("control: bind %s", path);
		close(fd);
		return NULL;
	}
	if (chmod(path, PRIVS_SOCKET_MODE) < 0) {
		log_warn("control: chmod %s", path);
		close(fd);
		unlink(path);
		return NULL;
	}

	ctl = sn_xcalloc(1, sizeof(*ctl));
	ctl->base = base;
	ctl->sup = sup;
	ctl->path = sn_xstrdup(path);
	TAILQ_INIT(&ctl->conns);
	ctl->lev = evconnlistener_new(
	        base, control_on_accept, ctl,
	        LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 16, fd);
	if (ctl->lev == NULL) {
		log_warn("control: listen %s", path);
		close(fd);
		unlink(path);
		free(ctl->path);
		free(ctl);
		return NULL;
	}
	evconnlistener_set_error_cb(ctl->lev, control_on_accept_error);
	log_kv(LOG_LEVEL_INFO, "control socket listening", "path", path, NULL);
	return ctl;
}

void
control_free(struct control *ctl)
{
	struct control_conn *cc;

	if (ctl == NULL)
		return;
	while ((cc = TAILQ_FIRST(&ctl->conns)) != NULL)
		control_conn_free(cc);
	evconnlistener_free(ctl->lev);
	if (unlink(ctl->path) < 0 && errno != ENOENT)
		log_warn("control: cannot remove %s", ctl->path);
	free(ctl->path);
	free(ctl);
}
