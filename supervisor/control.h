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

/*
 * Commands answered from the supervisor's state, each returning a new
 * answer object ({"ok":true,...} or {"ok":false,"error":...}); req is
 * the request object.  metrics: exporter.c; config and logs:
 * control_diag.c.
 */
struct json_t;
/* {"ok":false,"error":<formatted>}, a new object. */
struct json_t *control_error(const char *fmt, ...)
        __attribute__((format(printf, 1, 2)));
struct json_t *control_cmd_metrics(struct sup *sup, struct json_t *req);
struct json_t *control_cmd_config(struct sup *sup, struct json_t *req);
struct json_t *control_cmd_logs(struct sup *sup, struct json_t *req);

/* Closes every connection and the listener, and removes the socket. */
void control_free(struct control *ctl);

#endif
