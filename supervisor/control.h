/*
 * control.h: the supervisor's control socket (protocol in
 * control_proto.h, commands in docs/cli.md).
 */
#ifndef SN_CONTROL_H
#define SN_CONTROL_H

struct event_base;
struct sup;
struct control;

/*
 * Listens on the unix socket at path: removes a stale socket file (the
 * caller holds the run_dir's pid lock, so no live server owns it),
 * binds, sets mode 0660 and serves connections on base.  Returns a new
 * server, or NULL after logging why.
 */
struct control *control_listen(struct event_base *base, const char *path,
                               struct sup *sup);

/* Closes every connection and the listener, and removes the socket. */
void control_free(struct control *ctl);

#endif
