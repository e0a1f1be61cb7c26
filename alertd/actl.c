/*
 * actl.c: alertd's control endpoint (see actl.h).
 *
 * The socket, request parsing and error answers are common/ctl.c's;
 * here are alertd's commands, answered on the loop.  Status is
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

#include <jansson.h>

#include "actl.h"
#include "ctl.h"
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
	struct ctl_server *srv;
	struct sn_daemon *d;
	struct sender *snd;
	struct outbox *ob; /* our own connection, for reading */
};

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
		return ctl_error("out of memory");
	for (i = 0; i < al->nreceivers; i++) {
		const struct sn_receiver *rc = &al->receivers[i];

		if (outbox_stats(ob, rc->name, &os) < 0) {
			json_decref(arr);
			return ctl_error("outbox: cannot read the counts "
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
	return ctl_reply(json_pack("{s:b, s:o, s:i, s:[]}", "ok", 1,
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
		return ctl_error("alerts.test needs \"receiver\", a string");
	if (actl_receiver(d, name) == NULL)
		return ctl_error("unknown receiver %.64s", name);
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
		return ctl_error("outbox error: test notification not queued");
	log_info("test notification %s queued for %s", id, name);
	return ctl_reply(
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
		return ctl_error("alerts.test_result needs \"id\", a string");
	if ((rc = outbox_status_of(ob, id, &os)) < 0)
		return ctl_error("outbox: cannot read notification %.32s", id);
	if (rc == 0)
		return ctl_error("no notification %.32s", id);
	r = json_pack("{s:b, s:s, s:i, s:o}", "ok", 1, "state", os.state,
	              "attempts", os.attempts, "last_error",
	              actl_str_or_null(os.last_error));
	free(os.last_error);
	return ctl_reply(r);
}

/* ctl_handler: arg is the struct actl. */
static char *
actl_dispatch(const char *command, json_t *req, void *arg)
{
	static uint64_t seq; /* tests queued, for unique ids */
	struct actl *ctl = arg;

	if (strcmp(command, "alerts.status") == 0)
		return actl_status(ctl->d, ctl->ob);
	if (strcmp(command, "alerts.test") == 0)
		return actl_test(ctl->d, ctl->snd, &seq, req);
	if (strcmp(command, "alerts.test_result") == 0)
		return actl_test_result(ctl->ob, req);
	return NULL;
}

char *
actl_handle(struct sn_daemon *d, struct sender *snd, struct outbox *ob,
            const char *req, size_t len)
{
	struct actl ctl = {.d = d, .snd = snd, .ob = ob};

	return ctl_handle(req, len, actl_dispatch, &ctl);
}

struct actl *
actl_listen(struct sn_daemon *d, struct sender *snd, const char *url)
{
	struct actl *ctl;
	struct sn_buf path = {0};
	struct outbox *ob;
	const char *dir = d->cfg->storage.path;
	if (dir == NULL)
		return NULL;
	sn_buf_append(&path, dir, strlen(dir));
	sn_buf_append(&path, "/alerts.db", sizeof("/alerts.db"));
	ob = outbox_open((const char *)path.data, outbox_policy_default());
	sn_buf_free(&path);
	if (ob == NULL)
		return NULL;
	ctl = sn_xcalloc(1, sizeof(*ctl));
	ctl->d = d;
	ctl->snd = snd;
	ctl->ob = ob;
	ctl->srv =
	        ctl_listen(d->base, url, ACTL_MAX_REQUEST, actl_dispatch, ctl);
	if (ctl->srv == NULL) {
		outbox_close(ob);
		free(ctl);
		return NULL;
	}
	return ctl;
}

void
actl_free(struct actl *c)
{
	if (c == NULL)
		return;
	ctl_free(c->srv);
	outbox_close(c->ob);
	free(c);
}
