/*
 * detctl.h: detectd's control endpoint, for `sentinel-cli detectors
 * list` and `sentinel-cli detectors test ID --event FILE`.
 *
 * An nng rep socket listening at ipc://<run_dir>/detectd-ctl.ipc, joined
 * to the loop through NNG_OPT_RECVFD.  One JSON object per request, one
 * per reply:
 *
 *   {"command":"detectors.list"}
 *     -> {"ok":true,"watermark":MS|null,"max_event_time":MS|null,
 *         "detectors":[{"id","type","enabled","running","why",
 *                       "groups","events","anomalies","resolved",
 *                       "late","evicted","suppressed","state_bytes"}]}
 *   {"command":"detectors.test","id":"high-latency","event":{EVENT}}
 *     -> {"ok":true,"result":{...engine_test's object...}}
 *   anything else, or a bad event
 *     -> {"ok":false,"error":"..."}
 *
 * The event is validated as ingestd validates a POSTed one (common/
 * validate.h), so what `detectors test` accepts is what ingestion would.
 */
#ifndef SN_DETCTL_H
#define SN_DETCTL_H

#include <stddef.h>

#define SN_IPC_DETECTD_CTL "detectd-ctl.ipc"

/* Largest request accepted, in bytes. */
#define DETCTL_MAX_REQUEST (1024 * 1024)

struct engine;
struct event_base;

/*
 * Answers one request (len bytes of JSON) about engine e.  Returns a new
 * NUL-terminated JSON reply (free() it); never NULL.  Pure: the unit
 * tests call it directly.
 */
char *detctl_handle(struct engine *e, const char *req, size_t len);

struct ctl_server;

/*
 * Listens on url (a stale socket file is removed first).  *engine is
 * read at each request, so the caller may swap engines on reload.
 * NULL (logged) on failure; free with ctl_free.
 */
struct ctl_server *detctl_listen(struct event_base *base, const char *url,
                                 struct engine **engine);

#endif
