/*
 * ctl.h: a daemon's control endpoint, shared by detectd (detectors list,
 * test) and alertd (alerts status, test): an nng rep socket on the
 * daemon's libevent loop answering one JSON object per request,
 *   {"command":"<name>", ...}  ->  {"ok":true, ...} or {"ok":false,
 *                                   "error":"..."}
 * Requests come from the operator's CLI: untrusted input, answered with
 * an error when malformed and never fatal (style.md 9).  Each request is
 * answered at once on the loop, so nng's threads never touch daemon
 * state.
 */
#ifndef SN_CTL_H
#define SN_CTL_H

#include <stddef.h>

#include <jansson.h>

struct event_base;

/*
 * Answers one well-formed request (an object with a string "command").
 * Returns the reply as a new string (ctl_reply, ctl_error), or NULL when
 * the command is unknown.
 */
typedef char *(*ctl_handler)(const char *command, json_t *req, void *arg);

/* The reply as compact JSON; takes reply's reference.  Never NULL. */
char *ctl_reply(json_t *reply);
/* {"ok":false,"error":"<printf>"} as a new string. */
char *ctl_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Parses req (len bytes), checks its shape and hands it to h.  Returns
 * the reply; the caller frees it. */
char *ctl_handle(const char *req, size_t len, ctl_handler h, void *arg);

struct ctl_server;

/* Listens on url (a stale socket file is replaced: the run_dir is ours
 * by the supervisor's lock; the new one is mode 0660).  A request from a
 * peer privs.h does not serve is answered {"ok":false,"error":
 * "permission denied: ..."} and logged.  NULL (logged) on failure. */
struct ctl_server *ctl_listen(struct event_base *base, const char *url,
                              size_t max_request, ctl_handler h, void *arg);
void ctl_free(struct ctl_server *c);

#endif
