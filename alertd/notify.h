/*
 * notify.h: the notification document alertd delivers, and its
 * renderings for each receiver type.
 *
 * A notification is one group of alerts for one receiver, in the shape
 * Prometheus Alertmanager gives its webhook receivers: the group's
 * status (firing when any alert fires, resolved when all have), each
 * alert's labels, annotations, startsAt/endsAt and fingerprint, and the
 * labels the group shares.  alertd builds alerts from sn_anomaly records
 * (notify_add_anomaly) so the renderings never look at the wire format.
 * Grouping (group.h) decides which alerts share a notification.
 */
#ifndef SN_NOTIFY_H
#define SN_NOTIFY_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "event.h"
#include "util.h"

/* Length of a notification id or fingerprint in hex, without the NUL. */
#define NOTIFY_ID_LEN 16

/* One alert of a notification: an anomaly, copied out of its message. */
struct notify_alert {
	char *id;            /* the anomaly id */
	int resolved;        /* 1 once the detector stopped firing */
	json_t *labels;      /* alertname, severity, detector, ...: strings */
	json_t *annotations; /* summary, value, expected, ...: strings */
	double value;        /* observed; NAN when unknown */
	double expected;     /* NAN when the detector has no baseline */
	double score;
	double threshold;
	int64_t starts_ms; /* when it fired */
	int64_t ends_ms;   /* when it resolved; 0 while firing */
	int64_t window_start_ms;
	int64_t window_end_ms;
	uint64_t samples;
	char fingerprint[NOTIFY_ID_LEN + 1]; /* hash of the labels */
};

struct notification {
	char *receiver;       /* receiver name from alerts.yaml */
	char *group_key;      /* stable key of the group, per route */
	char *external_url;   /* where a human can look; "" if unknown */
	json_t *group_labels; /* the group_by labels and their values */
	struct notify_alert *alerts;
	size_t nalerts;
	int test;     /* a test notification (sentinel-cli alerts test) */
	uint64_t seq; /* the group's flush number; 0 outside groups */
};

/*
 * Starts an empty notification for receiver and group_key; group_labels
 * (may be NULL: empty) is borrowed and copied.  Free with notify_free.
 */
void notify_init(struct notification *n, const char *receiver,
                 const char *group_key, json_t *group_labels,
                 const char *external_url);

/* Frees what n owns (not n itself). */
void notify_free(struct notification *n);

/* Appends the anomaly a as an alert of n; a's strings are copied. */
void notify_add_anomaly(struct notification *n, const struct sn_anomaly *a);

/* Appends a copy of al to n. */
void notify_add_alert(struct notification *n, const struct notify_alert *al);

/* Appends the alert of notify_alert_json's document a to n.  0, or -1
 * when a is not one (n is unchanged). */
int notify_add_alert_json(struct notification *n, json_t *a);

/* Deep copy of src into dst; free with notify_alert_free. */
void notify_alert_copy(struct notify_alert *dst,
                       const struct notify_alert *src);
void notify_alert_free(struct notify_alert *al);

/* A copy of src into dst that shares src's labels and annotations (a
 * reference each: alerts are never changed once built); free with
 * notify_alert_free. */
void notify_alert_ref(struct notify_alert *dst, const struct notify_alert *src);

/* Appends al to n, taking over what it holds (al is left empty). */
void notify_add_alert_take(struct notification *n, struct notify_alert *al);

/* notify_dump(notify_alert_json(al)) appended to out, without the tree. */
void notify_alert_write(const struct notify_alert *al, struct sn_buf *out);

/* One alert as a JSON document (numbers null when not finite), and back:
 * 0, or -1 when a is not one (al is then empty). */
json_t *notify_alert_json(const struct notify_alert *al);
int notify_alert_from_json(struct notify_alert *al, json_t *a);

/* 1 when every alert of n is resolved (and n has alerts), else 0. */
int notify_resolved(const struct notification *n);

/* "firing" or "resolved". */
const char *notify_status(const struct notification *n);

/*
 * The notification's stable id, NOTIFY_ID_LEN hex digits into out
 * (size > NOTIFY_ID_LEN): a hash of receiver, group key, status, the
 * group's flush number and the alerts' ids and states, so the same
 * group in the same state for the same receiver always gets the same id
 * (the outbox's idempotency key), and a repeat (a later flush) a new one.
 */
void notify_id(const struct notification *n, char *out);

/*
 * The notification as a JSON document (the outbox payload): every field,
 * numbers as numbers (null when not finite).  New reference.
 */
json_t *notify_to_json(const struct notification *n);

/*
 * Rebuilds a notification from notify_to_json's document into n (free
 * with notify_free).  0, or -1 when doc is not one (n is then empty).
 */
int notify_from_json(struct notification *n, json_t *doc);

/*
 * v as compact JSON appended to out (no NUL), byte for byte what
 * json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) writes (key order,
 * escapes, %.17g reals), at a fraction of its cost: jansson's dumper
 * was a third of alertd's instructions per alert.  notify_dumps: the
 * same as a malloc'd string.
 */
void notify_dump(const json_t *v, struct sn_buf *out);
char *notify_dumps(const json_t *v);

/* 1 when p[0..len) is text jansson's json_stringn takes: UTF-8 as it
 * decodes it (no overlong forms, surrogates or code points above
 * U+10FFFF). */
int notify_utf8(const char *p, size_t len);

/*
 * The line alertd logs for each anomaly it takes ("anomaly" at warn,
 * "anomaly resolved" at info): the fields of anomaly_json(a)
 * (anomaly.h), then routed_to (the receivers[0..nreceivers) as an array)
 * and fingerprint, byte for byte what log_json writes for that object,
 * without building it (it was an eighth of alertd's instructions per
 * alert).
 */
void notify_log_anomaly(const struct sn_anomaly *a, const char *fingerprint,
                        const char *const *receivers, size_t nreceivers);

/* 64-bit FNV-1a of p[0..len), continuing from h (start: NOTIFY_FNV0). */
#define NOTIFY_FNV0 SN_FNV1A_INIT
uint64_t notify_hash(uint64_t h, const void *p, size_t len);

/*
 * Renderings.  Each returns a new JSON reference the caller decrefs.
 * webhook: Alertmanager webhook payload version "4".
 * slack: incoming-webhook message (text, blocks, attachments colour);
 *   channel may be NULL.
 * pagerduty: Events API v2 event with dedup_key = the group key's hash,
 *   event_action trigger or resolve.
 */
json_t *notify_webhook_json(const struct notification *n);
/* notify_dump(notify_webhook_json(n)) appended to out, without the
 * tree (the webhook's body). */
void notify_webhook_write(const struct notification *n, struct sn_buf *out);
json_t *notify_slack_json(const struct notification *n, const char *channel);
json_t *notify_pagerduty_json(const struct notification *n,
                              const char *routing_key);

/* The subject line of the email for n (caller frees). */
char *notify_email_subject(const struct notification *n);

/*
 * The email for n as an RFC 5322 message (headers, then a
 * multipart/alternative body with a text/plain and a text/html part)
 * appended to out, lines ending in CRLF.  to[0..nto) are the recipients
 * shown in To:; subject_prefix (NULL or "": none) goes before the
 * subject, with a space; now_ms dates the message.
 */
void notify_email(const struct notification *n, const char *from,
                  char *const *to, size_t nto, const char *subject_prefix,
                  int64_t now_ms, struct sn_buf *out);

#endif
