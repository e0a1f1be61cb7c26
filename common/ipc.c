/*
 * ipc.c: nng sockets on a libevent loop (see ipc.h).
 *
 * Receiving: NNG_OPT_RECVFD is a descriptor that polls readable while a
 * message waits; libevent watches it and we drain with non-blocking
 * receives, at most IPC_RECV_BURST per wake-up so one busy socket cannot
 * starve the rest of the loop (the event is level-triggered and fires
 * again).
 *
 * Sending: a non-blocking send first; when nng refuses (no peer yet, or
 * its buffer is full) the message waits in our own bounded FIFO and
 * NNG_OPT_SENDFD (readable while a send would succeed) wakes us to retry.
 * The FIFO bound is what turns a stalled consumer into backpressure.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <nng/nng.h>
#include <nng/protocol/pipeline0/pull.h>
#include <nng/protocol/pipeline0/push.h>
#include <nng/protocol/pubsub0/pub.h>
#include <nng/protocol/pubsub0/sub.h>

#include "ipc.h"
#include "log.h"
#include "privs.h"
#include "util.h"

#define IPC_RECV_BURST  256
#define IPC_RECV_MAX    (64u * 1024 * 1024) /* largest message accepted */
#define IPC_NNG_SENDBUF 64                  /* messages nng may buffer */

struct ipc_in {
	nng_socket sock;
	struct event *ev;
	ipc_msg_cb cb;
	void *arg;
};

/* One message waiting for nng to take it. */
struct ipc_pending {
	struct ipc_pending *next;
	size_t len;
	uint8_t data[];
};

struct ipc_out {
	nng_socket sock;
	struct event *ev; /* SENDFD watch, armed only while queue non-empty */
	struct ipc_pending *head, *tail;
	size_t queued;     /* bytes in the queue */
	size_t max_queued; /* 0: never queue (pub) */
	atomic_int peers;  /* updated from nng's threads */
	char url[256];
};

int
ipc_url(char *buf, size_t size, const char *run_dir, const char *name)
{
	int n = snprintf(buf, size, "ipc://%s/%s", run_dir, name);

	/* sun_path holds 108 bytes including the NUL; "ipc://" is 6 more. */
	if (n < 0 || (size_t)n >= size || n - 6 >= 108)
		return -1;
	return 0;
}

/* --- listening ---------------------------------------------------------- */

int
ipc_pipe_peer(nng_pipe p, struct ipc_peer *peer)
{
	uint64_t v;

	peer->uid = (uid_t)-1;
	peer->gid = (gid_t)-1;
	peer->pid = 0;
	if (nng_pipe_get_uint64(p, NNG_OPT_IPC_PEER_UID, &v) != 0)
		return -1;
	peer->uid = (uid_t)v;
	if (nng_pipe_get_uint64(p, NNG_OPT_IPC_PEER_GID, &v) != 0)
		return -1;
	peer->gid = (gid_t)v;
	if (nng_pipe_get_uint64(p, NNG_OPT_IPC_PEER_PID, &v) == 0)
		peer->pid = (pid_t)v;
	return 0;
}

bool
ipc_peer_allowed(nng_pipe p, struct ipc_peer *peer)
{
	/* No credentials (not an ipc pipe): nobody we know. */
	if (ipc_pipe_peer(p, peer) < 0)
		return false;
	return privs_peer_allowed(peer->uid, peer->gid);
}

/*
 * NNG_PIPE_EV_ADD_PRE, on nng's thread: a pipe from a peer the set does
 * not serve is closed before the socket ever sees it.
 */
static void
ipc_pipe_guard(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	struct ipc_peer peer;
	nng_sockaddr sa;
	char uid[24], pid[24];

	(void)ev;
	(void)arg;
	if (ipc_peer_allowed(p, &peer))
		return;
	if (nng_pipe_get_addr(p, NNG_OPT_LOCADDR, &sa) != 0 ||
	    sa.s_family != NNG_AF_IPC)
		snprintf(sa.s_ipc.sa_path, sizeof(sa.s_ipc.sa_path), "?");
	snprintf(uid, sizeof(uid), "%ld", (long)(int64_t)peer.uid);
	snprintf(pid, sizeof(pid), "%ld", (long)peer.pid);
	log_kv(LOG_LEVEL_WARN, "ipc: connection refused: permission denied",
	       "endpoint", sa.s_ipc.sa_path, "peer_uid", uid, "peer_pid", pid,
	       NULL);
	nng_pipe_close(p);
}

int
ipc_listen(nng_socket s, const char *url, int flags)
{
	bool is_ipc = strncmp(url, "ipc://", 6) == 0;
	nng_listener l;
	int rv;

	/*
	 * A stale socket file left by a killed predecessor would make the
	 * listen fail; the supervisor's pid-file lock guarantees nobody
	 * else owns this run_dir, so removing it is safe.
	 */
	if (is_ipc)
		unlink(url + 6);
	if ((flags & IPC_LISTEN_GUARD) &&
	    (rv = nng_pipe_notify(s, NNG_PIPE_EV_ADD_PRE, ipc_pipe_guard,
	                          NULL)) != 0)
		return rv;
	if ((rv = nng_listener_create(&l, s, url)) != 0)
		return rv;
	/* nng chmods the socket file right after bind(); run_dir (0750)
	 * keeps strangers away in between. */
	if ((is_ipc && (rv = nng_listener_set_int(l, NNG_OPT_IPC_PERMISSIONS,
	                                          PRIVS_SOCKET_MODE)) != 0) ||
	    (rv = nng_listener_start(l, 0)) != 0) {
		nng_listener_close(l);
		return rv;
	}
	return 0;
}

/* --- receiving ---------------------------------------------------------- */

static void
ipc_in_readable(evutil_socket_t fd, short what, void *arg)
{
	struct ipc_in *in = arg;

	(void)fd;
	(void)what;
	for (int i = 0; i < IPC_RECV_BURST; i++) {
		nng_msg *m;
		int rv = nng_recvmsg(in->sock, &m, NNG_FLAG_NONBLOCK);

		if (rv == NNG_EAGAIN)
			return;
		if (rv != 0) {
			if (rv != NNG_ECLOSED)
				log_warnx("ipc receive: %s", nng_strerror(rv));
			return;
		}
		in->cb(nng_msg_body(m), nng_msg_len(m), in->arg);
		nng_msg_free(m);
	}
}

/* Arms the RECVFD watch of a freshly opened socket; NULL on failure. */
static struct ipc_in *
ipc_in_start(struct event_base *base, nng_socket s, ipc_msg_cb cb, void *arg)
{
	struct ipc_in *in;
	int fd, rv;

	if ((rv = nng_socket_get_int(s, NNG_OPT_RECVFD, &fd)) != 0) {
		log_warnx("ipc recv fd: %s", nng_strerror(rv));
		nng_close(s);
		return NULL;
	}
	in = sn_xcalloc(1, sizeof(*in));
	in->sock = s;
	in->cb = cb;
	in->arg = arg;
	in->ev = event_new(base, fd, EV_READ | EV_PERSIST, ipc_in_readable, in);
	if (in->ev == NULL || event_add(in->ev, NULL) < 0)
		fatalx("ipc: cannot watch receive descriptor");
	return in;
}

struct ipc_in *
ipc_pull_listen(struct event_base *base, const char *url, ipc_msg_cb cb,
                void *arg)
{
	nng_socket s;
	int rv;

	if ((rv = nng_pull0_open(&s)) != 0) {
		log_warnx("ipc %s: open: %s", url, nng_strerror(rv));
		return NULL;
	}
	nng_socket_set_size(s, NNG_OPT_RECVMAXSZ, IPC_RECV_MAX);
	if ((rv = ipc_listen(s, url, IPC_LISTEN_GUARD)) != 0) {
		log_warnx("ipc %s: listen: %s", url, nng_strerror(rv));
		nng_close(s);
		return NULL;
	}
	return ipc_in_start(base, s, cb, arg);
}

struct ipc_in *
ipc_sub_dial(struct event_base *base, const char *url, ipc_msg_cb cb, void *arg)
{
	nng_socket s;
	int rv;

	if ((rv = nng_sub0_open(&s)) != 0) {
		log_warnx("ipc %s: open: %s", url, nng_strerror(rv));
		return NULL;
	}
	nng_socket_set(s, NNG_OPT_SUB_SUBSCRIBE, "", 0);
	nng_socket_set_ms(s, NNG_OPT_RECONNMINT, 50);
	nng_socket_set_ms(s, NNG_OPT_RECONNMAXT, 1000);
	nng_socket_set_size(s, NNG_OPT_RECVMAXSZ, IPC_RECV_MAX);
	/* Non-blocking dial: nng keeps retrying until the peer listens. */
	if ((rv = nng_dial(s, url, NULL, NNG_FLAG_NONBLOCK)) != 0) {
		log_warnx("ipc %s: dial: %s", url, nng_strerror(rv));
		nng_close(s);
		return NULL;
	}
	return ipc_in_start(base, s, cb, arg);
}

int
ipc_in_drain(struct ipc_in *in)
{
	int n = 0;

	for (;;) {
		nng_msg *m;

		if (nng_recvmsg(in->sock, &m, NNG_FLAG_NONBLOCK) != 0)
			return n;
		in->cb(nng_msg_body(m), nng_msg_len(m), in->arg);
		nng_msg_free(m);
		n++;
	}
}

void
ipc_in_free(struct ipc_in *in)
{
	if (in == NULL)
		return;
	event_free(in->ev);
	nng_close(in->sock);
	free(in);
}

/* --- sending ------------------------------------------------------------ */

static void
ipc_pipe_event(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	struct ipc_out *out = arg;

	(void)p;
	if (ev == NNG_PIPE_EV_ADD_POST)
		atomic_fetch_add(&out->peers, 1);
	else if (ev == NNG_PIPE_EV_REM_POST)
		atomic_fetch_sub(&out->peers, 1);
}

/* Tries one non-blocking send of a copy of data; nng error code. */
static int
ipc_try_send(struct ipc_out *out, const void *data, size_t len)
{
	nng_msg *m;
	int rv;

	if ((rv = nng_msg_alloc(&m, len)) != 0)
		return rv;
	memcpy(nng_msg_body(m), data, len);
	if ((rv = nng_sendmsg(out->sock, m, NNG_FLAG_NONBLOCK)) != 0)
		nng_msg_free(m);
	return rv;
}

/* Hands queued messages to nng until it refuses; disarms when empty. */
static void
ipc_out_pump(struct ipc_out *out)
{
	struct ipc_pending *p;

	while ((p = out->head) != NULL) {
		if (ipc_try_send(out, p->data, p->len) != 0)
			return;
		out->head = p->next;
		if (out->head == NULL)
			out->tail = NULL;
		out->queued -= p->len;
		free(p);
	}
	event_del(out->ev);
}

static void
ipc_out_writable(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	ipc_out_pump(arg);
}

static struct ipc_out *
ipc_out_start(struct event_base *base, nng_socket s, const char *url,
              size_t max_queued)
{
	struct ipc_out *out;
	int fd, rv;

	if ((rv = nng_socket_get_int(s, NNG_OPT_SENDFD, &fd)) != 0) {
		log_warnx("ipc %s: send fd: %s", url, nng_strerror(rv));
		nng_close(s);
		return NULL;
	}
	out = sn_xcalloc(1, sizeof(*out));
	out->sock = s;
	out->max_queued = max_queued;
	atomic_init(&out->peers, 0);
	snprintf(out->url, sizeof(out->url), "%s", url);
	out->ev = event_new(base, fd, EV_READ | EV_PERSIST, ipc_out_writable,
	                    out);
	if (out->ev == NULL)
		fatalx("ipc: cannot watch send descriptor");
	nng_pipe_notify(s, NNG_PIPE_EV_ADD_POST, ipc_pipe_event, out);
	nng_pipe_notify(s, NNG_PIPE_EV_REM_POST, ipc_pipe_event, out);
	return out;
}

struct ipc_out *
ipc_push_dial(struct event_base *base, const char *url, size_t max_queued)
{
	struct ipc_out *out;
	nng_socket s;
	int rv;

	if ((rv = nng_push0_open(&s)) != 0) {
		log_warnx("ipc %s: open: %s", url, nng_strerror(rv));
		return NULL;
	}
	nng_socket_set_int(s, NNG_OPT_SENDBUF, IPC_NNG_SENDBUF);
	nng_socket_set_ms(s, NNG_OPT_RECONNMINT, 50);
	nng_socket_set_ms(s, NNG_OPT_RECONNMAXT, 1000);
	if ((out = ipc_out_start(base, s, url, max_queued)) == NULL)
		return NULL;
	if ((rv = nng_dial(s, url, NULL, NNG_FLAG_NONBLOCK)) != 0) {
		log_warnx("ipc %s: dial: %s", url, nng_strerror(rv));
		ipc_out_free(out);
		return NULL;
	}
	return out;
}

struct ipc_out *
ipc_pub_listen(struct event_base *base, const char *url)
{
	struct ipc_out *out;
	nng_socket s;
	int rv;

	if ((rv = nng_pub0_open(&s)) != 0) {
		log_warnx("ipc %s: open: %s", url, nng_strerror(rv));
		return NULL;
	}
	if ((out = ipc_out_start(base, s, url, 0)) == NULL)
		return NULL;
	if ((rv = ipc_listen(s, url, IPC_LISTEN_GUARD)) != 0) {
		log_warnx("ipc %s: listen: %s", url, nng_strerror(rv));
		ipc_out_free(out);
		return NULL;
	}
	return out;
}

int
ipc_send(struct ipc_out *out, const void *data, size_t len)
{
	struct ipc_pending *p;
	int rv;

	/* Keep order: nothing may overtake what is already queued. */
	if (out->head == NULL) {
		rv = ipc_try_send(out, data, len);
		if (rv == 0)
			return 0;
		if (rv != NNG_EAGAIN && rv != NNG_ETIMEDOUT)
			log_warnx("ipc %s: send: %s", out->url,
			          nng_strerror(rv));
	}
	if (out->max_queued == 0)
		return 0; /* pub: a message nobody takes is simply gone */
	if (out->queued + len > out->max_queued)
		return -1;
	p = sn_xmalloc(sizeof(*p) + len);
	p->next = NULL;
	p->len = len;
	memcpy(p->data, data, len);
	if (out->tail)
		out->tail->next = p;
	else
		out->head = p;
	out->tail = p;
	out->queued += len;
	event_add(out->ev, NULL);
	return 0;
}

int
ipc_peers(const struct ipc_out *out)
{
	return atomic_load(&((struct ipc_out *)out)->peers);
}

size_t
ipc_queued(const struct ipc_out *out)
{
	return out->queued;
}

size_t
ipc_flush(struct ipc_out *out, int timeout_ms)
{
	int64_t deadline = sn_mono_ms() + timeout_ms;
	size_t left = 0;
	struct ipc_pending *p;

	while (out->head != NULL && sn_mono_ms() < deadline) {
		ipc_out_pump(out);
		if (out->head != NULL)
			usleep(5000);
	}
	for (p = out->head; p; p = p->next)
		left++;
	/*
	 * nng's own send buffer may still hold messages; give its threads
	 * a moment to move them before the socket is closed.
	 */
	if (out->head == NULL && ipc_peers(out) > 0)
		usleep(20000);
	return left;
}

void
ipc_out_free(struct ipc_out *out)
{
	struct ipc_pending *p, *next;

	if (out == NULL)
		return;
	event_free(out->ev);
	nng_close(out->sock);
	for (p = out->head; p; p = next) {
		next = p->next;
		free(p);
	}
	free(out);
}
