/*
 * ipc.h: nng sockets joined to a libevent loop.
 *
 * Stages talk over nng pipeline sockets (push/pull) on ipc:// paths under
 * run_dir; the supervisor publishes the set's state on a pub socket.  The
 * consumer of a pipeline listens, producers dial, and nng redials by
 * itself, so either side may restart at any time.
 *
 * nng runs its own threads; they never touch loop state.  Receiving goes
 * through NNG_OPT_RECVFD (readable while a message is waiting) and
 * sending through NNG_OPT_SENDFD (readable while a send would not
 * block), both watched by libevent (style.md 5).
 */
#ifndef SN_IPC_H
#define SN_IPC_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <nng/nng.h>

struct event_base;

/* Endpoint names under run_dir. */
#define SN_IPC_STORED  "stored.ipc"  /* pull: events, anomalies */
#define SN_IPC_DETECTD "detectd.ipc" /* pull: events */
#define SN_IPC_ALERTD  "alertd.ipc"  /* pull: anomalies */
#define SN_IPC_STATE   "state.ipc"   /* pub: supervisor's set state */

/* Writes "ipc://<run_dir>/<name>" into buf; -1 when it does not fit. */
int ipc_url(char *buf, size_t size, const char *run_dir, const char *name);

/*
 * Every listener of the set goes through ipc_listen: it replaces a stale
 * socket file, makes the new one PRIVS_SOCKET_MODE (0660) and, with
 * IPC_LISTEN_GUARD, closes each connection from a peer privs.h does not
 * serve before the socket sees it (logged).  Without the guard the
 * caller checks each request (ctl.c answers "permission denied").
 * Returns 0 or an nng error.
 */
#define IPC_LISTEN_GUARD 0x1
int ipc_listen(nng_socket s, const char *url, int flags);

/* The peer at the other end of an ipc pipe (NNG_OPT_IPC_PEER_*). */
struct ipc_peer {
	uid_t uid;
	gid_t gid;
	pid_t pid; /* 0 when unknown */
};
/* Fills peer; -1 when the pipe has no credentials (peer: -1 ids). */
int ipc_pipe_peer(nng_pipe p, struct ipc_peer *peer);
/* ipc_pipe_peer, then privs_peer_allowed; false without credentials. */
bool ipc_peer_allowed(nng_pipe p, struct ipc_peer *peer);

/* Called on the loop for each received message; data is valid only
 * during the call. */
typedef void (*ipc_msg_cb)(const void *data, size_t len, void *arg);

struct ipc_in;

/* A pull socket listening on url.  NULL (logged) on failure. */
struct ipc_in *ipc_pull_listen(struct event_base *base, const char *url,
                               ipc_msg_cb cb, void *arg);
/* A sub socket dialing url, subscribed to everything. */
struct ipc_in *ipc_sub_dial(struct event_base *base, const char *url,
                            ipc_msg_cb cb, void *arg);
/* Receives whatever is already waiting without blocking (used to drain
 * at shutdown); returns the number of messages delivered. */
int ipc_in_drain(struct ipc_in *in);
void ipc_in_free(struct ipc_in *in);

struct ipc_out;

/*
 * A push socket dialing url, with a queue of at most max_queued bytes
 * for messages that nng cannot take yet (no peer, or the peer is slow).
 */
struct ipc_out *ipc_push_dial(struct event_base *base, const char *url,
                              size_t max_queued);
/* A pub socket listening on url (messages to no subscriber are dropped,
 * as pub/sub does). */
struct ipc_out *ipc_pub_listen(struct event_base *base, const char *url);

/*
 * Sends a copy of data.  Returns 0 when nng took it or it was queued,
 * -1 when the queue is full (the caller refuses the work: backpressure).
 */
int ipc_send(struct ipc_out *out, const void *data, size_t len);
/* Peers currently connected (pipes), and bytes waiting in the queue. */
int ipc_peers(const struct ipc_out *out);
size_t ipc_queued(const struct ipc_out *out);
/* Blocks up to timeout_ms trying to hand the queue to nng (shutdown).
 * Returns the number of messages still queued. */
size_t ipc_flush(struct ipc_out *out, int timeout_ms);
void ipc_out_free(struct ipc_out *out);

#endif
