/*
 * actl.h: alertd's control endpoint, for `sentinel-cli alerts status`
 * and `sentinel-cli alerts test RECEIVER`.
 *
 * An nng rep socket listening at ipc://<run_dir>/alertd-ctl.ipc, joined
 * to the loop through NNG_OPT_RECVFD, as detectd's (detctl.h).  One JSON
 * object per request, one per reply:
 *
 *   {"command":"alerts.status"}
 *     -> {"ok":true,"receivers":[{"name","type","sent","failed",
 *         "queued","last_error","last_success"}],"active_groups":0,
 *         "silences":[]}
 *   {"command":"alerts.test","receiver":"NAME"}
 *     -> {"ok":true,"queued":true,"id":"..."}
 *   {"command":"alerts.test_result","id":"..."}
 *     -> {"ok":true,"state":"pending"|"sent"|"failed","attempts":N,
 *         "last_error":STR|null}
 *   anything else -> {"ok":false,"error":"..."}
 *
 * Receivers are shown by name and type only: never a URL, key or
 * password.  last_error is what the outbox stored, a reason built by
 * receiver_classify (an HTTP status or a curl message, no URL).
 * Grouping and silences do not exist yet: active_groups is 0 and
 * silences empty.
 */
#ifndef SN_ACTL_H
#define SN_ACTL_H

#include <stddef.h>

#define SN_IPC_ALERTD_CTL "alertd-ctl.ipc"

/* Largest request accepted, in bytes. */
#define ACTL_MAX_REQUEST (64 * 1024)

struct sn_daemon;
struct sender;
struct outbox;

/*
 * Answers one request (len bytes of JSON).  d gives the current config
 * (receivers), snd queues test notifications, ob is read for status.
 * Returns a new NUL-terminated JSON reply (free() it); never NULL.
 */
char *actl_handle(struct sn_daemon *d, struct sender *snd, struct outbox *ob,
                  const char *req, size_t len);

struct actl;

/*
 * Listens on url (a stale socket file is removed first) and opens a
 * connection of its own to the outbox <storage.path>/alerts.db for
 * reading.  NULL (logged) on failure.  Free with actl_free.
 */
struct actl *actl_listen(struct sn_daemon *d, struct sender *snd,
                         const char *url);
void actl_free(struct actl *c);

#endif
