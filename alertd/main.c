/*
 * sentinel-alertd: routes anomalies to receivers.
 *
 * Pulls SN_MSG_ANOMALIES on alertd.ipc; turns each anomaly into an alert
 * and logs one line with its fields and the receivers it is routed to
 * ("routed_to"): "anomaly" at warn level when it fires, "anomaly
 * resolved" at info level when it clears; then puts it into its groups
 * (group.h), whose flushes, on one timer, queue notifications in the
 * outbox <storage.path>/alerts.db for the sender (sender.h).  All a
 * loop iteration writes to alerts.db commits at its end, in one
 * transaction (one fsync), before any of it is sent (sender.c).  Routes,
 * receivers and inhibit rules are read from the current config at each
 * use, so SIGHUP needs nothing more than the metrics series of new
 * receivers.  alertd-ctl.ipc answers `sentinel-cli alerts ...` (actl.h).
 *
 * Metrics (metrics.h) go to <run_dir>/alertd.metrics: sent and failed
 * per receiver (sender.c), unrouted alerts (here), and gauges of the
 * firing alerts, groups, active silences and queued notifications, set
 * every ALERTD_GAUGES_MS from the state they describe.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <jansson.h>

#include "actl.h"
#include "alertd.h"
#include "daemon.h"
#include "group.h"
#include "inhibit.h"
#include "ipc.h"
#include "log.h"
#include "metrics.h"
#include "msg.h"
#include "outbox.h"
#include "sender.h"
#include "silence.h"
#include "util.h"
#include "walckpt.h"

/* Period of the gauges. */
#define ALERTD_GAUGES_MS 1000

/* Anomalies taken per loop iteration, and bytes of messages that may
 * wait for later iterations (alertd_on_msg). */
#define ALERTD_BUDGET      512
#define ALERTD_BACKLOG_MAX (16u * 1024 * 1024)
/* With this many notifications waiting to be sent, an iteration takes
 * ALERTD_BUDGET_BEHIND anomalies only: under overload the sender keeps
 * delivering rather than the intake queueing ever more. */
#define ALERTD_SENDER_BEHIND 2048
#define ALERTD_BUDGET_BEHIND 64

/* A message waiting for a later loop iteration. */
struct alertd_msg {
	struct alertd_msg *next;
	size_t len;
	unsigned char data[];
};

/* The series alertd keeps, looked up once. */
enum alertd_gauge {
	ALERTD_FIRING,
	ALERTD_GROUPS,
	ALERTD_SILENCES,
	ALERTD_QUEUED,
	ALERTD_NGAUGES
};

struct alertd {
	struct sn_daemon d;
	struct ipc_in *in;     /* alertd.ipc */
	uint64_t msgs_dropped; /* malformed or unexpected messages */
	/* sentinel_alerts_unrouted_total: alerts no route and no default
	 * took */
	struct sn_series *unrouted;
	struct sn_series *gauge[ALERTD_NGAUGES];
	struct event *gauges_ev;  /* every ALERTD_GAUGES_MS */
	struct sender *snd;       /* outbox and receivers */
	struct silences *sil;     /* silences, in alerts.db */
	struct inhibitor *inh;    /* firing alerts, for inhibit_rules */
	struct groups *gs;        /* aggregation groups, in alerts.db */
	struct event *flush;      /* when the next group is due */
	struct event *silence_ev; /* when a silence starts or ends */
	int mute_changed;         /* an inhibit source fired or resolved */
	int budget;               /* anomalies this loop iteration may take */
	struct event *iteration;  /* the next iteration: a new budget */
	struct alertd_msg *backlog, *backlog_tail; /* messages waiting */
	size_t backlog_bytes;
	struct actl *ctl; /* alertd-ctl.ipc */
	char why[256];    /* group_mute_fn's answer */
};

/* group_mute_fn: silences first, then inhibit rules. */
static const char *
alertd_mute(const json_t *labels, const char *fp, int64_t now, void *arg)
{
	struct alertd *st = arg;
	const struct sn_alerts *al = &st->d.cfg->alerts;
	const struct sn_inhibit_rule *r;
	const char *id;

	if ((id = silences_muting(st->sil, labels, now)) != NULL) {
		snprintf(st->why, sizeof(st->why), "silenced by %s", id);
		return st->why;
	}
	if ((r = inhibitor_muting(st->inh, al, labels, fp)) != NULL) {
		snprintf(st->why, sizeof(st->why),
		         "inhibited by the rule at %s:%u",
		         al->path ? al->path : "alerts.yaml", r->line);
		return st->why;
	}
	return NULL;
}

/* Arms the flush timer for the earliest due group. */
static void
alertd_schedule(struct alertd *st)
{
	int64_t due = groups_next_due(st->gs), now = sn_now_ms();
	struct timeval tv;

	if (due < 0) {
		evtimer_del(st->flush);
		return;
	}
	due = due > now ? due - now : 0;
	tv.tv_sec = due / 1000;
	tv.tv_usec = (due % 1000) * 1000;
	evtimer_add(st->flush, &tv);
}

static void
alertd_on_flush(evutil_socket_t fd, short what, void *arg)
{
	struct alertd *st = arg;
	int n;

	(void)fd;
	(void)what;
	/* what it queues is sent once the loop's transaction commits */
	n = groups_flush(st->gs, &st->d.cfg->alerts, sn_now_ms());
	if (n < 0) {
		/* storage trouble: try again in a second, not in a spin */
		struct timeval tv = {1, 0};

		evtimer_add(st->flush, &tv);
		return;
	}
	alertd_schedule(st);
}

/* 1 when an alert with these labels is the source of an inhibit rule:
 * its firing or resolving changes what is muted. */
static int
alertd_is_source(const struct sn_alerts *al, const json_t *labels)
{
	const struct sn_inhibit_rule *r;
	size_t i;

	for (i = 0; i < al->ninhibit_rules; i++) {
		r = &al->inhibit_rules[i];
		if (labels_match(labels, r->source_match, r->nsource_match,
		                 r->source_match_re, r->nsource_match_re))
			return 1;
	}
	return 0;
}

/* Arms the timer for the next time a silence starts or ends. */
static void
alertd_silence_timer(struct alertd *st, int64_t now)
{
	int64_t next = silences_next_change(st->sil, now);
	struct timeval tv;

	if (next < 0) {
		evtimer_del(st->silence_ev);
		return;
	}
	next -= now;
	tv.tv_sec = next / 1000;
	tv.tv_usec = (next % 1000) * 1000;
	evtimer_add(st->silence_ev, &tv);
}

/* What silences mute changed: parked groups look again at their next
 * tick. */
static void
alertd_silences_changed(void *arg)
{
	struct alertd *st = arg;
	int64_t now = sn_now_ms();

	groups_changed(st->gs, now);
	alertd_silence_timer(st, now);
	alertd_schedule(st);
}

static void
alertd_on_silence(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	alertd_silences_changed(arg);
}

/*
 * One anomaly: as an alert, recorded as firing or not (inhibition),
 * logged with the receivers it is routed to, and put into the group of
 * each.  Runs inside the message's transaction.
 */
static void
alertd_route(struct alertd *st, const struct sn_anomaly *a, int64_t now)
{
	const struct sn_alerts *al = &st->d.cfg->alerts;
	struct route_target t[ROUTE_MAX_TARGETS];
	struct notification tmp;
	const struct notify_alert *alert;
	int resolved = a->status == SN_ANOMALY_RESOLVED;
	const char *to[ROUTE_MAX_TARGETS];
	size_t i, n;

	notify_init(&tmp, "", "", NULL, NULL);
	notify_add_anomaly(&tmp, a);
	alert = &tmp.alerts[0];
	n = inhibitor_count(st->inh);
	if (inhibitor_observe(st->inh, alert, now) < 0)
		log_warnx("anomaly %s: could not record its state for "
		          "inhibition",
		          a->id.p);
	if (n != inhibitor_count(st->inh) &&
	    alertd_is_source(al, alert->labels))
		st->mute_changed = 1;
	n = route_targets(al, alert->labels, t, ROUTE_MAX_TARGETS);
	for (i = 0; i < n; i++)
		to[i] = t[i].receiver;
	/* anomaly_json's fields, routed_to, fingerprint: no tree built */
	notify_log_anomaly(a, alert->fingerprint, to, n);
	if (n == 0 && !resolved) {
		metrics_add(st->unrouted, 1);
		log_info("anomaly %s matches no route and there is no "
		         "default_receiver (counted as %s)",
		         a->id.p, sn_metric_defs[M_ALERTS_UNROUTED].name);
	}
	for (i = 0; i < n; i++)
		if (groups_add(st->gs, &t[i], alert, now) < 0)
			log_warnx("anomaly %s not grouped for %s: storage "
			          "error",
			          a->id.p, t[i].receiver);
	notify_free(&tmp);
}

static void
alertd_drop(struct alertd *st, int type, const char *why)
{
	st->msgs_dropped++;
	log_warnx("dropped %s message: %s (%llu dropped so far)",
	          sn_msg_type_name(type), why,
	          (unsigned long long)st->msgs_dropped);
}

/*
 * The anomalies of one checked message: routed and grouped in one unit,
 * then the groups due now (group_wait 0) flushed in this loop iteration,
 * so their notifications commit with the alerts: one fsync, not two.
 */
static void
alertd_take(struct alertd *st, const void *data, size_t len)
{
	struct msg_reader r;
	struct sn_anomaly a;
	int64_t now = sn_now_ms(), due;
	int ok;

	if (msg_open(&r, data, len) < 0)
		return; /* checked before */
	ok = groups_begin(st->gs) == 0;
	while (msg_next_anomaly(&r, &a) == 1) {
		alertd_route(st, &a, now);
		st->budget--;
	}
	if (groups_end(st->gs, ok) < 0)
		log_warnx("alerts.db: could not write a message's alerts");
	if (st->mute_changed) {
		st->mute_changed = 0;
		groups_changed(st->gs, now);
	}
	due = groups_next_due(st->gs);
	if (due >= 0 && due <= now &&
	    groups_flush(st->gs, &st->d.cfg->alerts, now) < 0) {
		/* storage trouble: the flush timer retries in a second */
		struct timeval tv = {1, 0};

		evtimer_add(st->flush, &tv);
		return;
	}
	alertd_schedule(st);
}

/* Takes the backlog's messages while the budget lasts (all of them when
 * all is set). */
static void
alertd_take_backlog(struct alertd *st, int all)
{
	struct alertd_msg *m;

	while ((m = st->backlog) != NULL && (all || st->budget > 0)) {
		st->backlog = m->next;
		if (st->backlog == NULL)
			st->backlog_tail = NULL;
		st->backlog_bytes -= m->len;
		alertd_take(st, m->data, m->len);
		free(m);
	}
}

/* The next loop iteration: a new budget, spent first on the backlog. */
static void
alertd_on_iteration(evutil_socket_t fd, short what, void *arg)
{
	struct alertd *st = arg;
	struct timeval now = {0, 0};

	(void)fd;
	(void)what;
	st->budget = sender_waiting(st->snd) > ALERTD_SENDER_BEHIND
	                     ? ALERTD_BUDGET_BEHIND
	                     : ALERTD_BUDGET;
	alertd_take_backlog(st, 0);
	if (st->backlog != NULL)
		evtimer_add(st->iteration, &now);
}

/* Keeps a copy of a checked message for a later loop iteration. */
static void
alertd_defer(struct alertd *st, const void *data, size_t len)
{
	struct alertd_msg *m = sn_xcalloc(1, sizeof(*m) + len);
	struct timeval now = {0, 0};

	memcpy(m->data, data, len);
	m->len = len;
	if (st->backlog_tail != NULL)
		st->backlog_tail->next = m;
	else
		st->backlog = m;
	st->backlog_tail = m;
	st->backlog_bytes += len;
	evtimer_add(st->iteration, &now);
}

/*
 * ipc callback: one message of anomalies from alertd.ipc.  A loop
 * iteration takes at most ALERTD_BUDGET anomalies (one message more may
 * go over it); later messages wait, in order, for the next iterations,
 * so that deliveries, flushes and commits go on between them and each
 * transaction stays small.  Past ALERTD_BACKLOG_MAX bytes waiting they
 * are taken at once: the callback slows and nng pushes back on detectd.
 */
static void
alertd_on_msg(const void *data, size_t len, void *arg)
{
	struct alertd *st = arg;
	struct msg_reader r, check;
	struct sn_anomaly a;
	struct timeval now = {0, 0};
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
	if ((st->backlog != NULL || st->budget <= 0) &&
	    st->backlog_bytes + len <= ALERTD_BACKLOG_MAX) {
		alertd_defer(st, data, len);
		return;
	}
	if (!evtimer_pending(st->iteration, NULL))
		evtimer_add(st->iteration, &now); /* renews the budget */
	alertd_take(st, data, len);
}

/* Sets the gauges from the state they describe (all cheap: counts kept
 * in memory, and an indexed count of the outbox's waiting rows). */
static void
alertd_gauges(struct alertd *st)
{
	int64_t queued = outbox_pending(sender_outbox(st->snd));

	metrics_set(st->gauge[ALERTD_FIRING], (double)inhibitor_count(st->inh));
	metrics_set(st->gauge[ALERTD_GROUPS], (double)groups_count(st->gs));
	metrics_set(st->gauge[ALERTD_SILENCES],
	            (double)silences_active(st->sil, sn_now_ms()));
	if (queued >= 0)
		metrics_set(st->gauge[ALERTD_QUEUED], (double)queued);
}

static void
alertd_on_gauges(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	alertd_gauges(arg);
}

/* The series, at 0 (receivers: sender_receivers), the gauges' timer. */
static void
alertd_metrics(struct alertd *st)
{
	static const enum sn_metric_id ids[ALERTD_NGAUGES] = {
	        [ALERTD_FIRING] = M_ALERTS_FIRING,
	        [ALERTD_GROUPS] = M_ALERT_GROUPS,
	        [ALERTD_SILENCES] = M_SILENCES_ACTIVE,
	        [ALERTD_QUEUED] = M_NOTIFICATIONS_QUEUED,
	};
	struct timeval every = {ALERTD_GAUGES_MS / 1000,
	                        ALERTD_GAUGES_MS % 1000 * 1000};
	int i;

	st->unrouted = metrics_series(M_ALERTS_UNROUTED);
	for (i = 0; i < ALERTD_NGAUGES; i++)
		st->gauge[i] = metrics_series(ids[i]);
	alertd_gauges(st);
	st->gauges_ev =
	        event_new(st->d.base, -1, EV_PERSIST, alertd_on_gauges, st);
	if (st->gauges_ev == NULL || event_add(st->gauges_ev, &every) < 0)
		fatalx("cannot create the metrics timer");
}

/* SIGHUP: routes and receivers are read at each use; new receivers get
 * their series at 0 now. */
static int
alertd_on_reload(struct sn_daemon *d, struct sn_config *next)
{
	struct alertd *st = d->arg;

	sender_receivers(st->snd, &next->alerts);
	/* routes, receivers and inhibit rules may differ: look again */
	groups_changed(st->gs, sn_now_ms());
	alertd_schedule(st);
	return 0;
}

/* SIGTERM: route what is already waiting, then stop. */
static void
alertd_on_stop(struct sn_daemon *d)
{
	struct alertd *st = d->arg;

	log_info("drained %d messages", ipc_in_drain(st->in));
	alertd_take_backlog(st, 1);
	daemon_stop(d);
}

int
main(int argc, char **argv)
{
	static struct alertd st;
	struct actl_env env = {0};
	sqlite3 *db;
	char url[600];
	int rc;

	sn_sqlite_config(); /* before sqlite starts */
	daemon_init(&st.d, "alertd", argc, argv);
	st.d.arg = &st;
	st.d.on_stop = alertd_on_stop;
	st.d.on_reload = alertd_on_reload;
	if ((st.snd = sender_open(&st.d)) == NULL)
		fatalx("cannot open the alerts outbox");
	db = outbox_db(sender_outbox(st.snd));
	if ((st.sil = silences_open(db, sn_now_ms())) == NULL ||
	    (st.inh = inhibitor_open(db)) == NULL ||
	    (st.gs = groups_open(db, sender_outbox(st.snd), alertd_mute,
	                         &st)) == NULL)
		fatalx("cannot open the alerts database");
	if ((st.flush = evtimer_new(st.d.base, alertd_on_flush, &st)) == NULL ||
	    (st.silence_ev = evtimer_new(st.d.base, alertd_on_silence, &st)) ==
	            NULL ||
	    (st.iteration = evtimer_new(st.d.base, alertd_on_iteration, &st)) ==
	            NULL)
		fatalx("out of memory");
	env.d = &st.d;
	env.snd = st.snd;
	env.sil = st.sil;
	env.gs = st.gs;
	env.inh = st.inh;
	env.on_silences = alertd_silences_changed;
	st.budget = ALERTD_BUDGET;
	env.arg = &st;
	if (ipc_url(url, sizeof(url), st.d.cfg->run_dir, SN_IPC_ALERTD_CTL) <
	            0 ||
	    (st.ctl = actl_listen(&env, url)) == NULL)
		fatalx("cannot listen on %s", url);
	st.in = daemon_pull_listen(&st.d, SN_IPC_ALERTD, alertd_on_msg, &st);
	log_info("%zu routes, %zu receivers, %zu groups, %zu silences active, "
	         "%zu alerts firing",
	         st.d.cfg->alerts.nroutes, st.d.cfg->alerts.nreceivers,
	         groups_count(st.gs), silences_active(st.sil, sn_now_ms()),
	         inhibitor_count(st.inh));
	alertd_metrics(&st);
	/* groups a restart left behind flush on their old schedule */
	alertd_schedule(&st);
	alertd_silence_timer(&st, sn_now_ms());
	daemon_ready(&st.d);
	rc = daemon_run(&st.d);

	ipc_in_free(st.in);
	actl_free(st.ctl);
	event_free(st.flush);
	event_free(st.silence_ev);
	event_free(st.iteration);
	while (st.backlog != NULL) { /* taken at stop; only on error here */
		struct alertd_msg *m = st.backlog;

		st.backlog = m->next;
		free(m);
	}
	event_free(st.gauges_ev);
	groups_free(st.gs);
	inhibitor_free(st.inh);
	silences_free(st.sil);
	sender_close(st.snd);
	daemon_free(&st.d); /* closes the metrics file too */
	return rc;
}
