/*
 * actl.h: alertd's control endpoint, for `sentinel-cli alerts status`,
 * `sentinel-cli alerts test RECEIVER` and `sentinel-cli alerts silence
 * add|list|expire`.
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
 *   {"command":"alerts.silence.add","matchers":["name=value",...],
 *    "duration_ms":N | "ends_ms":N, "starts_ms":N (default now),
 *    "comment":STR, "created_by":STR (optional)}
 *     -> {"ok":true,"id":ID,"starts_ms":N,"ends_ms":N}
 *   {"command":"alerts.silence.list","all":BOOL (optional, false)}
 *     -> {"ok":true,"silences":[...]}  (silences_json: active and
 *        pending ones, newest first; with all, expired ones too)
 *   {"command":"alerts.silence.expire","id":ID}
 *     -> {"ok":true,"id":ID}, or {"ok":false,"error":"no active
 *        silence ID"} when it is unknown or expired already
 *   {"command":"alerts.list"}
 *     -> {"ok":true,"groups":[...groups_json...],
 *         "firing":[...inhibitor_json...]}
 *   {"command":"alerts.metrics"}
 *     -> {"ok":true,"metrics":{"sentinel_alerts_sent_total":[{"labels":
 *         {"receiver":NAME},"value":N}],"sentinel_alert_failures_total":
 *         [...],"sentinel_alerts_unrouted_total":[{"labels":{},
 *         "value":N}],"sentinel_alerts_firing":[...],
 *         "sentinel_alert_groups":[...],"sentinel_silences_active":[...],
 *         "sentinel_notifications_queued":[...]}}
 *     (read from <run_dir>/alertd.metrics, metrics.h: the numbers the
 *     exporter serves; empty lists when alertd runs without that file)
 *   anything else -> {"ok":false,"error":"..."}
 *
 * Receivers are shown by name and type only: never a URL, key or
 * password.  last_error is what the outbox stored, a reason built by
 * receiver_classify (an HTTP status or a curl message, no URL).
 * "silences" in alerts.status lists the active and pending silences.
 *
 * alerts.silence.add checks the request before storing anything: 1 to
 * SILENCE_MAX_MATCHERS matchers, each as silence_matcher_parse takes
 * it (a refusal names the matcher and why); exactly one of duration_ms
 * (> 0) and ends_ms; an end after the start and after now; a non-empty
 * comment (Alertmanager requires one too); comment and created_by at
 * most SILENCE_MAX_TEXT bytes.  Matchers that match every alert are
 * allowed.  Without the silences (env->sil NULL) the three silence
 * commands answer "silences are not available".
 */
#ifndef SN_ACTL_H
#define SN_ACTL_H

#include <stddef.h>
#include <stdint.h>

#define SN_IPC_ALERTD_CTL "alertd-ctl.ipc"

/* Largest request accepted, in bytes. */
#define ACTL_MAX_REQUEST (64 * 1024)

struct sn_daemon;
struct sender;
struct outbox;
struct silences;
struct groups;
struct inhibitor;

/* What the commands work on; everything but d may be NULL in tests of
 * commands that do not need it. */
struct actl_env {
	struct sn_daemon *d;   /* the current config (receivers) */
	struct sender *snd;    /* queues test notifications */
	struct outbox *ob;     /* read for status */
	struct silences *sil;  /* alertd's silences */
	struct groups *gs;     /* alertd's groups */
	struct inhibitor *inh; /* the firing alerts */
	/* called after a silence was added or expired (may be NULL) */
	void (*on_silences)(void *arg);
	void *arg;
};

/*
 * Answers one request (len bytes of JSON).  Returns a new NUL-terminated
 * JSON reply (free() it); never NULL.
 */
char *actl_handle(struct actl_env *env, const char *req, size_t len);

struct actl;

/*
 * Listens on url (a stale socket file is removed first) and opens a
 * connection of its own to the outbox <storage.path>/alerts.db for
 * reading (env->ob is ignored).  env is copied.  NULL (logged) on
 * failure.  Free with actl_free.
 */
struct actl *actl_listen(const struct actl_env *env, const char *url);
void actl_free(struct actl *c);

#endif
