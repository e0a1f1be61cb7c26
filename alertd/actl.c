/*
 * actl.c: alertd's control endpoint (see actl.h).
 *
 * Requests come from the operator's CLI: untrusted input, answered with
 * {"ok":false,...} when malformed and never fatal (style.md 9).  The rep
 * socket's receive descriptor is watched by the loop and each request is
 * answered at once, so nng's threads never touch the sender.  Status is
 * read through a connection of our own to the outbox (WAL: readers do
 * not wait for the sender's writes).
 */
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>

#include "actl.h"
#include "daemon.h"
#include "log.h"
#include "notify.h"
#include "outbox.h"
#include "sender.h"
#include "util.h"

/* What `alerts test` sends; the CLI and docs/cli.md name these. */
#define ACTL_TEST_ALERT "sentinel-test"
#define ACTL_TEST_MESSAGE \
	"This is a test notification from sentinel-cli alerts test"

struct actl {
	nng_socket sock;
	struct event *ev;
	struct sn_daemon *d;
	struct sender *snd;
	struct outbox *ob; /* our own connection, for reading */
};

static char *
actl_dump(json_t *reply)
{
	char *s = reply ? json_dumps(reply, JSON_COMPACT) : NULL;

	json_decref(reply);
	if (s == NULL)
		s = sn_xstrdup("{\"ok\":false,\"error\":\"out of memory\"}");
	return s;
}

static char *actl_error(const char *fmt, ...)
        __attribute__((format(printf, 1, 2)));

static char *
actl_error(const char *fmt, ...)
{
	char msg[300];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return actl_dump(json_pack("{s:b, s:s}", "ok", 0, "error", msg));
}

static json_t *
actl_str_or_null(const char *s)
{
	return s != NULL ? json_string(s) : json_null();
}

static const struct sn_receiver *
actl_receiver(struct sn_daemon *d, const char *name)
{
	const struct sn_alerts *al = &d->cfg->alerts;
	size_t i;

	for (i = 0; i < al->nreceivers; i++)
		if (strcmp(al->receivers[i].name, name) == 0)
			return &al->receivers[i];
	return NULL;
}

/* alerts.status: name, type and outbox counts of each receiver; never
 * its URL or credentials. */
static char *
actl_status(struct sn_daemon *d, struct outbox *ob)
{
	const struct sn_alerts *al = &d->cfg->alerts;
	struct outbox_stats os;
	json_t *arr = json_array(), *o;
	size_t i;

	if (arr == NULL)
		return actl_error("out of memory");
	for (i = 0; i < al->nreceivers; i++) {
		const struct sn_receiver *rc = &al->receivers[i];

		if (outbox_stats(ob, rc->name, &os) < 0) {
			json_decref(arr);
			return actl_error("outbox: cannot read the counts "
			                  "of %s",
			                  rc->name);
		}
		o = json_pack(
		        "{s:s, s:s, s:I, s:I, s:I, s:o, s:o}", "name", rc->name,
		        "type", rc->type ? rc->type : "", "sent",
		        (json_int_t)os.sent, "failed", (json_int_t)os.failed,
		        "queued", (json_int_t)os.pending, "last_error",
		        actl_str_or_null(os.last_error), "last_success",
		        os.last_sent_ms > 0 ? json_integer(os.last_sent_ms)
		                            : json_null());
		free(os.last_error);
		if (o != NULL)
			json_array_append_new(arr, o);
	}
	/* Grouping and silences are not built yet. */
	return actl_dump(json_pack("{s:b, s:o, s:i, s:[]}", "ok", 1,
	                           "receivers", arr, "active_groups", 0,
	                           "silences"));
}

static void
actl_sn_str(struct sn_str *s, const char *p)
{
	s->p = p;
	s->len = (uint32_t)strlen(p);
}

/*
 * alerts.test: queues a test notification for the receiver through the
 * real path (sender_enqueue), so it is retried and recorded like any
 * other.  Its anomaly id and group key carry the time and a counter, so
 * the outbox (which refuses a notification id it has seen) takes each
 * test.
 */
static char *
actl_test(struct sn_daemon *d, struct sender *snd, uint64_t *seq, json_t *req)
{
	const char *name = json_string_value(json_object_get(req, "receiver"));
	struct sn_anomaly a;
	struct notification n;
	char aid[80], key[96], id[NOTIFY_ID_LEN + 1];
	int64_t now = sn_now_ms();
	int rc;

	if (name == NULL)
		return actl_error("alerts.test needs \"receiver\", a string");
	if (actl_receiver(d, name) == NULL)
		return actl_error("unknown receiver %.64s", name);
	snprintf(aid, sizeof(aid), "sentinel-test-%lld-%llu", (long long)now,
	         (unsigned long long)++*seq);
	snprintf(key, sizeof(key), "%s/%s", ACTL_TEST_ALERT, aid);

	memset(&a, 0, sizeof(a));
	a.ts_ms = a.detected_ms = a.window_start_ms = a.window_end_ms = now;
	a.status = SN_ANOMALY_FIRING;
	a.value = a.score = a.threshold = 0;
	a.expected = NAN;
	actl_sn_str(&a.id, aid);
	actl_sn_str(&a.detector_id, ACTL_TEST_ALERT);
	actl_sn_str(&a.detector_type, "test");
	actl_sn_str(&a.alert, ACTL_TEST_ALERT);
	actl_sn_str(&a.severity, "info");
	actl_sn_str(&a.application_id, "");
	actl_sn_str(&a.model, "");
	actl_sn_str(&a.metric, "");
	actl_sn_str(&a.event_id, "");
	actl_sn_str(&a.message, ACTL_TEST_MESSAGE);
	actl_sn_str(&a.labels, "");
	actl_sn_str(&a.event_ids, "");

	notify_init(&n, name, key, NULL, "");
	n.test = 1;
	notify_add_anomaly(&n, &a);
	notify_id(&n, id);
	rc = sender_enqueue(snd, &n);
	notify_free(&n);
	if (rc < 0)
		return actl_error("outbox error: test notification not queued");
	log_info("test notification %s queued for %s", id, name);
	return actl_dump(
	        json_pack("{s:b, s:b, s:s}", "ok", 1, "queued", 1, "id", id));
}

/* alerts.test_result: where the notification id stands. */
static char *
actl_test_result(struct outbox *ob, json_t *req)
{
	const char *id = json_string_value(json_object_get(req, "id"));
	struct outbox_status os;
	json_t *r;
	int rc;

	if (id == NULL)
		return actl_error("alerts.test_result needs \"id\", a string");
	if ((rc = outbox_status_of(ob, id, &os)) < 0)
		return actl_error("outbox: cannot read notification %.32s", id);
	if (rc == 0)
		return actl_error("no notification %.32s", id);
	r = json_pack("{s:b, s:s, s:i, s:o}", "ok", 1, "state", os.state,
	              "attempts", os.attempts, "last_error",
	              actl_str_or_null(os.last_error));
	free(os.last_error);
	return actl_dump(r);
}

char *
actl_handle(struct sn_daemon *d, struct sender *snd, struct outbox *ob,
            const char *req, size_t len)
{
	static uint64_t seq; /* tests queued, for unique ids */
	json_error_t jerr;
	json_t *j;
	const char *c;
	char *reply;

	j = json_loadb(req, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!json_is_object(j)) {
		json_decref(j);
		return actl_error("request is not a JSON object");
	}
	c = json_string_value(json_object_get(j, "command"));
	if (c == NULL)
		reply = actl_error("request has no \"command\"");
	else if (strcmp(c, "alerts.status") == 0)
		reply = actl_status(d, ob);
	else if (strcmp(c, "alerts.test") == 0)
		reply = actl_test(d, snd, &seq, j);
	else if (strcmp(c, "alerts.test_result") == 0)
		reply = actl_test_result(ob, j);
	else
		reply = actl_error("unknown command: %.64s", c);
	json_decref(j);
	return reply;
}

static void
actl_readable(evutil_socket_t fd, short what, void *arg)
{
	struct actl *ctl = arg;
	nng_msg *m;
	char *reply;
	size_t len;
	int rv;

	(void)fd;
	(void)what;
	/* rep answers one request at a time: take what waits. */
	while ((rv = nng_recvmsg(ctl->sock, &m, NNG_FLAG_NONBLOCK)) == 0) {
		reply = actl_handle(ctl->d, ctl->snd, ctl->ob, nng_msg_body(m),
		                    nng_msg_len(m));
		len = strlen(reply);
		nng_msg_clear(m);
		if (nng_msg_append(m, reply, len) != 0 ||
		    (rv = nng_sendmsg(ctl->sock, m, NNG_FLAG_NONBLOCK)) != 0) {
			log_warnx("control: cannot answer a request");
			nng_msg_free(m);
		}
		free(reply);
	}
	if (rv != NNG_EAGAIN && rv != NNG_ECLOSED)
		log_warnx("control receive: %s", nng_strerror(rv));
}

struct actl *
actl_listen(struct sn_daemon *d, struct sender *snd, const char *url)
{
	struct actl *ctl;
	struct sn_buf path = {0};
	struct outbox *ob;
	const char *dir = d->cfg->storage.path;
	nng_socket s;
	int fd, rv;

	if (dir == NULL)
		return NULL;
	sn_buf_append(&path, dir, strlen(dir));
	sn_buf_append(&path, "/alerts.db", sizeof("/alerts.db"));
	ob = outbox_open((const char *)path.data, outbox_policy_default());
	sn_buf_free(&path);
	if (ob == NULL)
		return NULL;
	if ((rv = nng_rep0_open(&s)) != 0) {
		log_warnx("control %s: open: %s", url, nng_strerror(rv));
		outbox_close(ob);
		return NULL;
	}
	nng_socket_set_size(s, NNG_OPT_RECVMAXSZ, ACTL_MAX_REQUEST);
	/* A stale socket file of a killed predecessor would make the
	 * listen fail; the run_dir is ours (the supervisor's lock). */
	if (strncmp(url, "ipc://", 6) == 0)
		unlink(url + 6);
	if ((rv = nng_listen(s, url, NULL, 0)) != 0 ||
	    (rv = nng_socket_get_int(s, NNG_OPT_RECVFD, &fd)) != 0) {
		log_warnx("control %s: listen: %s", url, nng_strerror(rv));
		nng_close(s);
		outbox_close(ob);
		return NULL;
	}
	ctl = sn_xcalloc(1, sizeof(*ctl));
	ctl->sock = s;
	ctl->d = d;
	ctl->snd = snd;
	ctl->ob = ob;
	ctl->ev = event_new(d->base, fd, EV_READ | EV_PERSIST, actl_readable,
	                    ctl);
	if (ctl->ev == NULL || event_add(ctl->ev, NULL) < 0)
		fatalx("control: cannot watch receive descriptor");
	return ctl;
}

void
actl_free(struct actl *c)
{
	if (c == NULL)
		return;
	event_free(c->ev);
	nng_close(c->sock);
	outbox_close(c->ob);
	free(c);
}
