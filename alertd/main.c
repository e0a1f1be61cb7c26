/*
 * sentinel-alertd: routes anomalies to receivers.
 *
 * Pulls SN_MSG_ANOMALIES on alertd.ipc; for each anomaly finds the route
 * of alerts.yaml it matches and logs one warn line "anomaly" with its
 * fields and the receivers it is routed to ("routed_to").  Sending to
 * those receivers lands with the alerting issue (see alertd.h); until
 * then the log line is the alert.  The routes are read from the current
 * config on each anomaly, so SIGHUP needs nothing more.
 */
#include <stdlib.h>

#include <event2/event.h>
#include <jansson.h>

#include "alertd.h"
#include "daemon.h"
#include "ipc.h"
#include "log.h"
#include "msg.h"
#include "util.h"

struct alertd {
	struct sn_daemon d;
	struct ipc_in *in;     /* alertd.ipc */
	uint64_t msgs_dropped; /* malformed or unexpected messages */
};

/* A JSON string of a view; "" if it is not valid UTF-8. */
static json_t *
alertd_str(struct sn_str s)
{
	json_t *j = json_stringn(s.p, s.len);

	return j ? j : json_string("");
}

/* Logs one anomaly with the receivers its route names. */
static void
alertd_route(struct alertd *st, const struct sn_anomaly *a)
{
	const struct sn_route *r = route_find(&st->d.cfg->alerts, a);
	json_t *f, *to;
	size_t i;

	if ((to = json_array()) == NULL || (f = json_object()) == NULL)
		fatalx("out of memory");
	for (i = 0; r != NULL && i < r->nreceivers; i++)
		json_array_append_new(to, json_string(r->receivers[i]));
	json_object_set_new(f, "id", alertd_str(a->id));
	json_object_set_new(f, "detector", alertd_str(a->detector_id));
	json_object_set_new(f, "alert", alertd_str(a->alert));
	json_object_set_new(f, "severity", alertd_str(a->severity));
	json_object_set_new(f, "application_id", alertd_str(a->application_id));
	json_object_set_new(f, "model", alertd_str(a->model));
	json_object_set_new(f, "metric", alertd_str(a->metric));
	json_object_set_new(f, "value", json_real(a->value));
	json_object_set_new(f, "threshold", json_real(a->threshold));
	json_object_set_new(f, "event_id", alertd_str(a->event_id));
	json_object_set_new(f, "message", alertd_str(a->message));
	json_object_set_new(f, "routed_to", to);
	log_json(LOG_LEVEL_WARN, "anomaly", f);
	json_decref(f);
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
	int rc;

	daemon_init(&st.d, "alertd", argc, argv);
	st.d.arg = &st;
	st.d.on_stop = alertd_on_stop;
	st.in = daemon_pull_listen(&st.d, SN_IPC_ALERTD, alertd_on_msg, &st);
	log_info("%zu routes, %zu receivers", st.d.cfg->alerts.nroutes,
	         st.d.cfg->alerts.nreceivers);
	daemon_ready(&st.d);
	rc = daemon_run(&st.d);

	ipc_in_free(st.in);
	daemon_free(&st.d);
	return rc;
}
