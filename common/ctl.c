/*
 * ctl.c: the control endpoint of ctl.h.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>

#include "ctl.h"
#include "ipc.h"
#include "log.h"
#include "privs.h"
#include "util.h"

struct ctl_server {
	nng_socket sock;
	struct event *ev;
	ctl_handler handler;
	void *arg;
};

char *
ctl_reply(json_t *reply)
{
	char *s = reply ? json_dumps(reply, JSON_COMPACT) : NULL;

	json_decref(reply);
	if (s == NULL)
		s = sn_xstrdup("{\"ok\":false,\"error\":\"out of memory\"}");
	return s;
}

char *
ctl_error(const char *fmt, ...)
{
	char msg[300];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return ctl_reply(json_pack("{s:b, s:s}", "ok", 0, "error", msg));
}

char *
ctl_handle(const char *req, size_t len, ctl_handler h, void *arg)
{
	json_error_t jerr;
	const char *c;
	char *reply;
	json_t *j;

	j = json_loadb(req, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!json_is_object(j)) {
		json_decref(j);
		return ctl_error("request is not a JSON object");
	}
	c = json_string_value(json_object_get(j, "command"));
	if (c == NULL)
		reply = ctl_error("request has no \"command\"");
	else if ((reply = h(c, j, arg)) == NULL)
		reply = ctl_error("unknown command: %.64s", c);
	json_decref(j);
	return reply;
}

/*
 * The answer to a request from a peer privs.h does not serve (the
 * endpoint's socket file is 0660 in a 0750 run_dir, so this is someone
 * in the file's group but not allowed in): refused, logged, never read.
 */
static char *
ctl_refuse(const struct ipc_peer *peer)
{
	char who[96], uid[24], pid[24];

	snprintf(uid, sizeof(uid), "%ld", (long)(int64_t)peer->uid);
	snprintf(pid, sizeof(pid), "%ld", (long)peer->pid);
	log_kv(LOG_LEVEL_WARN, "control: request refused: permission denied",
	       "peer_uid", uid, "peer_pid", pid, NULL);
	return ctl_error("permission denied: uid %s is not %s", uid,
	                 privs_policy_describe(who, sizeof(who)));
}

static void
ctl_readable(evutil_socket_t fd, short what, void *arg)
{
	struct ctl_server *ctl = arg;
	struct ipc_peer peer;
	nng_msg *m;
	char *reply;
	int rv;

	(void)fd;
	(void)what;
	/* rep answers one request at a time: take what waits. */
	while ((rv = nng_recvmsg(ctl->sock, &m, NNG_FLAG_NONBLOCK)) == 0) {
		if (!ipc_peer_allowed(nng_msg_get_pipe(m), &peer))
			reply = ctl_refuse(&peer);
		else
			reply = ctl_handle(nng_msg_body(m), nng_msg_len(m),
			                   ctl->handler, ctl->arg);
		nng_msg_clear(m);
		if (nng_msg_append(m, reply, strlen(reply)) != 0 ||
		    (rv = nng_sendmsg(ctl->sock, m, NNG_FLAG_NONBLOCK)) != 0) {
			log_warnx("control: cannot answer a request");
			nng_msg_free(m);
		}
		free(reply);
	}
	if (rv != NNG_EAGAIN && rv != NNG_ECLOSED)
		log_warnx("control receive: %s", nng_strerror(rv));
}

struct ctl_server *
ctl_listen(struct event_base *base, const char *url, size_t max_request,
           ctl_handler h, void *arg)
{
	struct ctl_server *ctl;
	nng_socket s;
	int fd, rv;

	if ((rv = nng_rep0_open(&s)) != 0) {
		log_warnx("control %s: open: %s", url, nng_strerror(rv));
		return NULL;
	}
	nng_socket_set_size(s, NNG_OPT_RECVMAXSZ, max_request);
	/* No guard: a refused peer gets an answer saying so. */
	if ((rv = ipc_listen(s, url, 0)) != 0 ||
	    (rv = nng_socket_get_int(s, NNG_OPT_RECVFD, &fd)) != 0) {
		log_warnx("control %s: listen: %s", url, nng_strerror(rv));
		nng_close(s);
		return NULL;
	}
	ctl = sn_xcalloc(1, sizeof(*ctl));
	ctl->sock = s;
	ctl->handler = h;
	ctl->arg = arg;
	ctl->ev = event_new(base, fd, EV_READ | EV_PERSIST, ctl_readable, ctl);
	if (ctl->ev == NULL || event_add(ctl->ev, NULL) < 0)
		fatalx("control: cannot watch receive descriptor");
	return ctl;
}

void
ctl_free(struct ctl_server *c)
{
	if (c == NULL)
		return;
	event_free(c->ev);
	nng_close(c->sock);
	free(c);
}
