/*
 * actl.c: alertd's control endpoint (see actl.h).
 *
 * The socket, request parsing and error answers are common/ctl.c's;
 * here are alertd's commands, answered on the loop.  Status is
 * read through a connection of our own to the outbox (WAL: readers do
 * not wait for the sender's writes).
 */
#include <limits.h>
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
#include "group.h"
#include "inhibit.h"
#include "log.h"
#include "metrics.h"
#include "notify.h"
#include "outbox.h"
#include "sender.h"
#include "silence.h"
#include "util.h"

/* What `alerts test` sends; the CLI and docs/cli.md name these. */
#define ACTL_TEST_ALERT "sentinel-test"
#define ACTL_TEST_MESSAGE \
	"This is a test notification from sentinel-cli alerts test"

struct actl {
	struct ctl_server *srv;
	struct actl_env env; /* env.ob: our own connection, for reading */
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
actl_status(struct actl_env *env)
{
	const struct sn_alerts *al = &env->d->cfg->alerts;
	struct outbox *ob = env->ob;
	int64_t now = sn_now_ms();
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
	return ctl_reply(json_pack(
	        "{s:b, s:o, s:I, s:o}", "ok", 1, "receivers", arr,
	        "active_groups",
	        (json_int_t)(env->gs != NULL ? groups_count(env->gs) : 0),
	        "silences",
	        env->sil != NULL ? silences_json(env->sil, now, 0)
	                         : json_array()));
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
	/* durable before the answer says it is queued */
	if (rc >= 0 && sender_commit(snd) < 0)
		fatalx("alerts.db: could not commit; restarting from what it "
		       "holds");
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

/*
 * Reads the optional integer member key of req into *out (left alone
 * when absent).  0, or -1 when present but not an integer.
 */
static int
actl_opt_int(json_t *req, const char *key, int64_t *out, int *given)
{
	json_t *v = json_object_get(req, key);

	*given = v != NULL;
	if (v == NULL)
		return 0;
	if (!json_is_integer(v))
		return -1;
	*out = (int64_t)json_integer_value(v);
	return 0;
}

/*
 * Reads the optional string member key of req into *out (NULL when
 * absent).  0, or -1 after writing the error reply into *reply when it
 * is not a string or longer than SILENCE_MAX_TEXT.
 */
static int
actl_opt_text(json_t *req, const char *key, const char **out, char **reply)
{
	json_t *v = json_object_get(req, key);

	*out = NULL;
	if (v == NULL)
		return 0;
	if (!json_is_string(v)) {
		*reply = ctl_error("alerts.silence.add: \"%s\" must be a "
		                   "string",
		                   key);
		return -1;
	}
	if (json_string_length(v) > SILENCE_MAX_TEXT) {
		*reply = ctl_error("alerts.silence.add: \"%s\" is longer than "
		                   "%d bytes",
		                   key, SILENCE_MAX_TEXT);
		return -1;
	}
	*out = json_string_value(v);
	return 0;
}

/* Frees the n matchers of m. */
static void
actl_matchers_free(struct silence_matcher *m, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		silence_matcher_free(&m[i]);
}

/*
 * alerts.silence.add: checks everything the operator sent before the
 * silence is stored, and names what is wrong (the matcher and why).
 * The time span is starts_ms (default now) and duration_ms or ends_ms;
 * it must end after it starts and after now.
 */
static char *
actl_silence_add(struct silences *sil, json_t *req)
{
	struct silence_matcher m[SILENCE_MAX_MATCHERS];
	json_t *list = json_object_get(req, "matchers"), *v;
	const char *comment, *created_by, *text;
	int64_t now = sn_now_ms(), starts = now, ends = 0, dur = 0;
	int has_starts, has_ends, has_dur;
	char err[256], id[SILENCE_ID_LEN + 1], until[32], *reply = NULL;
	size_t i, n = 0;

	if (!json_is_array(list) || json_array_size(list) == 0)
		return ctl_error("alerts.silence.add needs \"matchers\", a "
		                 "non-empty array of strings (name=value)");
	if (json_array_size(list) > SILENCE_MAX_MATCHERS)
		return ctl_error("alerts.silence.add: at most %d matchers",
		                 SILENCE_MAX_MATCHERS);
	if (actl_opt_int(req, "starts_ms", &starts, &has_starts) < 0 ||
	    actl_opt_int(req, "ends_ms", &ends, &has_ends) < 0 ||
	    actl_opt_int(req, "duration_ms", &dur, &has_dur) < 0)
		return ctl_error("alerts.silence.add: starts_ms, ends_ms and "
		                 "duration_ms must be integers "
		                 "(milliseconds)");
	if (has_ends == has_dur)
		return ctl_error("alerts.silence.add needs \"duration_ms\" or "
		                 "\"ends_ms\" (one of them)");
	if (starts < 0)
		return ctl_error("alerts.silence.add: starts_ms is negative");
	if (has_dur) {
		if (dur <= 0)
			return ctl_error("alerts.silence.add: duration_ms "
			                 "must be more than 0");
		if (dur > INT64_MAX - starts)
			return ctl_error("alerts.silence.add: duration_ms "
			                 "is too long");
		ends = starts + dur;
	}
	if (ends <= starts)
		return ctl_error("alerts.silence.add: ends_ms must be after "
		                 "starts_ms");
	if (ends <= now)
		return ctl_error("alerts.silence.add: ends_ms is in the past");
	if (actl_opt_text(req, "comment", &comment, &reply) < 0 ||
	    actl_opt_text(req, "created_by", &created_by, &reply) < 0)
		return reply;
	if (comment == NULL || comment[0] == '\0')
		return ctl_error("alerts.silence.add needs \"comment\", a "
		                 "non-empty string: why it is silenced");

	json_array_foreach(list, i, v)
	{
		if ((text = json_string_value(v)) == NULL) {
			actl_matchers_free(m, n);
			return ctl_error("alerts.silence.add: matcher %zu is "
			                 "not a string",
			                 i + 1);
		}
		if (silence_matcher_parse(text, &m[n], err, sizeof(err)) < 0) {
			actl_matchers_free(m, n);
			return ctl_error("matcher \"%.64s\": %s", text, err);
		}
		n++;
	}
	/* silences_add takes the matchers over, also on error */
	if (silences_add(sil, m, n, starts, ends, comment, created_by, now,
	                 id) < 0)
		return ctl_error("alerts database: silence not stored");
	sn_rfc3339_format(ends, until, sizeof(until));
	log_info("silence %s added by %s until %s: %s", id,
	         created_by ? created_by : "?", until, comment);
	return ctl_reply(json_pack("{s:b, s:s, s:I, s:I}", "ok", 1, "id", id,
	                           "starts_ms", (json_int_t)starts, "ends_ms",
	                           (json_int_t)ends));
}

/* alerts.silence.list: active and pending ones, or with "all" expired
 * ones too. */
static char *
actl_silence_list(struct silences *sil, json_t *req)
{
	json_t *all = json_object_get(req, "all");

	if (all != NULL && !json_is_boolean(all))
		return ctl_error("alerts.silence.list: \"all\" must be true or "
		                 "false");
	return ctl_reply(
	        json_pack("{s:b, s:o}", "ok", 1, "silences",
	                  silences_json(sil, sn_now_ms(), json_is_true(all))));
}

/* alerts.silence.expire: ends an active or pending silence now. */
static char *
actl_silence_expire(struct silences *sil, json_t *req)
{
	const char *id = json_string_value(json_object_get(req, "id"));
	int rc;

	if (id == NULL)
		return ctl_error(
		        "alerts.silence.expire needs \"id\", a string");
	if ((rc = silences_expire(sil, id, sn_now_ms())) < 0)
		return ctl_error("alerts database: silence %.64s not expired",
		                 id);
	if (rc == 0)
		return ctl_error("no active silence %.64s", id);
	log_info("silence %s expired", id);
	return ctl_reply(json_pack("{s:b, s:s}", "ok", 1, "id", id));
}

/* The silence commands; NULL when command is none of them. */
static char *
actl_silence(struct actl_env *env, const char *command, json_t *req)
{
	char *(*run)(struct silences *, json_t *);
	char *reply;

	if (strcmp(command, "alerts.silence.add") == 0)
		run = actl_silence_add;
	else if (strcmp(command, "alerts.silence.list") == 0)
		run = actl_silence_list;
	else if (strcmp(command, "alerts.silence.expire") == 0)
		run = actl_silence_expire;
	else
		return NULL;
	if (env->sil == NULL)
		return ctl_error("silences are not available");
	reply = run(env->sil, req);
	if (run == actl_silence_list)
		return reply;
	/* durable before the answer; then what they mute is looked at */
	if (env->snd != NULL && sender_commit(env->snd) < 0)
		fatalx("alerts.db: could not commit; restarting from what it "
		       "holds");
	if (env->on_silences != NULL)
		env->on_silences(env->arg);
	return reply;
}

/* alerts.list: the groups with their alerts, and every firing alert. */
static char *
actl_list(struct actl_env *env)
{
	return ctl_reply(json_pack(
	        "{s:b, s:o, s:o}", "ok", 1, "groups",
	        env->gs != NULL ? groups_json(env->gs) : json_array(), "firing",
	        env->inh != NULL ? inhibitor_json(env->inh) : json_array()));
}

/* What alerts.metrics answers, in this order. */
static const enum sn_metric_id actl_metric_ids[] = {
        M_ALERTS_SENT,          M_ALERT_FAILURES, M_ALERTS_UNROUTED,
        M_ALERTS_FIRING,        M_ALERT_GROUPS,   M_SILENCES_ACTIVE,
        M_NOTIFICATIONS_QUEUED,
};
#define ACTL_NMETRICS (sizeof(actl_metric_ids) / sizeof(actl_metric_ids[0]))

/*
 * The label pairs metrics_visit renders (name="value",... with \\, \"
 * and \n escaped) as a JSON object.  NULL when they do not parse.
 */
static json_t *
actl_labels(const char *p)
{
	json_t *o = json_object();
	struct sn_buf k = {0}, v = {0};
	const char *eq;
	int esc;

	while (o != NULL && *p != '\0') {
		if ((eq = strchr(p, '=')) == NULL || eq[1] != '"')
			goto bad;
		sn_buf_reset(&k);
		sn_buf_append(&k, p, (size_t)(eq - p));
		sn_buf_append(&k, "", 1);
		sn_buf_reset(&v);
		for (p = eq + 2; *p != '"'; p++) {
			esc = *p == '\\';
			if (*p == '\0' || (esc && *++p == '\0'))
				goto bad;
			sn_buf_append(&v, esc && *p == 'n' ? "\n" : p, 1);
		}
		json_object_set_new(o, (const char *)k.data,
		                    json_stringn((const char *)v.data, v.len));
		if (*++p == ',')
			p++;
	}
	sn_buf_free(&k);
	sn_buf_free(&v);
	return o;
bad:
	sn_buf_free(&k);
	sn_buf_free(&v);
	json_decref(o);
	return NULL;
}

/* metrics_visitor sample: appended to its family's list, when one of
 * alertd's. */
static void
actl_metrics_sample(void *arg, const struct sn_metric_def *def,
                    const char *name, const char *labels, double value)
{
	json_t **fam = arg, *l;
	size_t i;

	(void)name;
	for (i = 0; i < ACTL_NMETRICS; i++)
		if (def == &sn_metric_defs[actl_metric_ids[i]])
			break;
	if (i == ACTL_NMETRICS || (l = actl_labels(labels)) == NULL)
		return;
	json_array_append_new(
	        fam[i], json_pack("{s:o, s:o}", "labels", l, "value",
	                          value == floor(value) && fabs(value) < 9.0e15
	                                  ? json_integer((json_int_t)value)
	                                  : json_real(value)));
}

/*
 * alerts.metrics: alertd's metrics by name, each a list of samples
 * {"labels":{...},"value":N}, read from alertd's metrics file: the
 * numbers the exporter serves, not a count of their own.  Empty lists
 * when the file is not there (metrics_open failed).
 */
static char *
actl_metrics(struct actl_env *env)
{
	static const struct metrics_visitor v = {NULL, actl_metrics_sample};
	json_t *fam[ACTL_NMETRICS], *all = json_object();
	const char *run_dir = env->d != NULL && env->d->cfg != NULL
	                              ? env->d->cfg->run_dir
	                              : NULL;
	char path[PATH_MAX];
	const char *paths[1] = {path};
	size_t i;

	if (all == NULL)
		return ctl_error("out of memory");
	for (i = 0; i < ACTL_NMETRICS; i++)
		fam[i] = json_array();
	if (run_dir != NULL) {
		metrics_path(path, sizeof(path), run_dir, "alertd");
		metrics_visit(paths, 1, NULL, &v, fam);
	}
	for (i = 0; i < ACTL_NMETRICS; i++)
		json_object_set_new(
		        all, sn_metric_defs[actl_metric_ids[i]].name, fam[i]);
	return ctl_reply(json_pack("{s:b, s:o}", "ok", 1, "metrics", all));
}

/* ctl_handler: arg is the struct actl_env. */
static char *
actl_dispatch(const char *command, json_t *req, void *arg)
{
	static uint64_t seq; /* tests queued, for unique ids */
	struct actl_env *env = arg;

	if (strcmp(command, "alerts.status") == 0)
		return actl_status(env);
	if (strcmp(command, "alerts.test") == 0)
		return actl_test(env->d, env->snd, &seq, req);
	if (strcmp(command, "alerts.test_result") == 0)
		return actl_test_result(env->ob, req);
	if (strcmp(command, "alerts.list") == 0)
		return actl_list(env);
	if (strcmp(command, "alerts.metrics") == 0)
		return actl_metrics(env);
	return actl_silence(env, command, req);
}

char *
actl_handle(struct actl_env *env, const char *req, size_t len)
{
	return ctl_handle(req, len, actl_dispatch, env);
}

struct actl *
actl_listen(const struct actl_env *env, const char *url)
{
	struct actl *ctl;
	struct sn_buf path = {0};
	struct outbox *ob;
	const char *dir = env->d->cfg->storage.path;

	if (dir == NULL)
		return NULL;
	sn_buf_append(&path, dir, strlen(dir));
	sn_buf_append(&path, "/alerts.db", sizeof("/alerts.db"));
	ob = outbox_open((const char *)path.data, outbox_policy_default());
	sn_buf_free(&path);
	if (ob == NULL)
		return NULL;
	ctl = sn_xcalloc(1, sizeof(*ctl));
	ctl->env = *env;
	ctl->env.ob = ob;
	ctl->srv = ctl_listen(env->d->base, url, ACTL_MAX_REQUEST,
	                      actl_dispatch, &ctl->env);
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
	outbox_close(c->env.ob);
	free(c);
}
