/*
 * sentinel-alertd: routes anomalies to receivers.
 *
 * Pulls SN_MSG_ANOMALIES on alertd.ipc; for each anomaly finds the route
 * of alerts.yaml it matches and logs one line with its fields and the
 * receivers it is routed to ("routed_to"): "anomaly" at warn level when
 * it fires, "anomaly resolved" at info level when it clears, then hands
 * it to the sender (sender.h), which queues one notification per
 * receiver in the outbox <storage.path>/alerts.db and delivers it.  The
 * routes are read from the current config on each anomaly, so SIGHUP
 * needs nothing more.  alertd-ctl.ipc answers `sentinel-cli alerts
 * status|test` (actl.h).
 */
#include <math.h>
#include <stdlib.h>

#include <event2/event.h>
#include <jansson.h>

#include "actl.h"
#include "alertd.h"
#include "anomaly.h"
#include "daemon.h"
#include "ipc.h"
#include "log.h"
#include "msg.h"
#include "sender.h"
#include "util.h"

struct alertd {
	struct sn_daemon d;
	struct ipc_in *in;     /* alertd.ipc */
	uint64_t msgs_dropped; /* malformed or unexpected messages */
	struct sender *snd;    /* outbox and receivers */
	struct actl *ctl;      /* alertd-ctl.ipc */
};

/* Logs one anomaly with the receivers it is routed to, and queues it
 * for them. */
static void
alertd_route(struct alertd *st, const struct sn_anomaly *a)
{
	const char *recv[ROUTE_MAX_RECEIVERS];
	size_t i, n = route_receivers(&st->d.cfg->alerts, a, recv,
	                              ROUTE_MAX_RECEIVERS);
	int resolved = a->status == SN_ANOMALY_RESOLVED;
	json_t *f, *to;

	if ((to = json_array()) == NULL)
		fatalx("out of memory");
	for (i = 0; i < n; i++)
		json_array_append_new(to, json_string(recv[i]));
	if (n == 0)
		log_debug("anomaly %s matches no route and there is no "
		          "default_receiver",
		          a->id.p);
	f = anomaly_json(a);
	json_object_set_new(f, "routed_to", to);
	log_json(resolved ? LOG_LEVEL_INFO : LOG_LEVEL_WARN,
	         resolved ? "anomaly resolved" : "anomaly", f);
	json_decref(f);
	sender_anomaly(st->snd, recv, n, a);
}

static void
alertd_drop(struct alertd *st, int type, const char *why)
{
	st->msgs_dropped++;
	log_warnx("dropped %s message: %s (%llu dropped so far)",
	          sn_msg_type_name(type), why,
	          (unsigned long long)st->msgs_dropped);
}

/* ipc callback: one message of anomalies from alertd.ipc. */
static void
alertd_on_msg(const void *data, size_t len, void *arg)
{
	struct alertd *st = arg;
	struct msg_reader r, check;
	struct sn_anomaly a;
	int rc;

	if (msg_open(&r, data, len) < 0) {
		alertd_drop(st, len > 1 ? ((const uint8_t *)data)[1] : 0,
		            "bad header or version");
		return;
	}
	if (r.type != SN_MSG_ANOMALIES) {
		alertd_drop(st, r.type, "not for alertd");
		return;
	}
	/* Check the whole message before acting on any of it. */
	check = r;
	while ((rc = msg_next_anomaly(&check, &a)) == 1)
		;
	if (rc < 0) {
		alertd_drop(st, r.type, "malformed");
		return;
	}
	while (msg_next_anomaly(&r, &a) == 1)
		alertd_route(st, &a);
}

/* SIGTERM: route what is already waiting, then stop. */
static void
alertd_on_stop(struct sn_daemon *d)
{
	struct alertd *st = d->arg;

	log_info("drained %d messages", ipc_in_drain(st->in));
	daemon_stop(d);
}

int
main(int argc, char **argv)
{
	static struct alertd st;
	char url[600];
	int rc;

	daemon_init(&st.d, "alertd", argc, argv);
	st.d.arg = &st;
	st.d.on_stop = alertd_on_stop;
	if ((st.snd = sender_open(&st.d)) == NULL)
		fatalx("cannot open the alerts outbox");
	if (ipc_url(url, sizeof(url), st.d.cfg->run_dir, SN_IPC_ALERTD_CTL) <
	            0 ||
	    (st.ctl = actl_listen(&st.d, st.snd, url)) == NULL)
		fatalx("cannot listen on %s", url);
	st.in = daemon_pull_listen(&st.d, SN_IPC_ALERTD, alertd_on_msg, &st);
	log_info("%zu routes, %zu receivers", st.d.cfg->alerts.nroutes,
	         st.d.cfg->alerts.nreceivers);
	daemon_ready(&st.d);
	rc = daemon_run(&st.d);

	ipc_in_free(st.in);
	actl_free(st.ctl);
	sender_close(st.snd);
	daemon_free(&st.d);
	return rc;
}
