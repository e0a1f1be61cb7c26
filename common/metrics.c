/*
 * metrics.c: the metric table, the per-daemon shared-memory metrics file
 * and the reader the exporter renders from (metrics.h).
 *
 * The file: a header, then nslots fixed-size slots.  A slot is one
 * series: its metric, its rendered label pairs and its values.  Only the
 * owning process writes; it fills a slot, then publishes it (state, then
 * the header's used count, both with release stores), so a reader that
 * acquires `used` sees whole slots.  Values are 64-bit atomics: counters
 * as integers, gauges as double bits, histograms as one count per bucket
 * (not cumulative) and the sum in microseconds.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "metrics.h"
#include "util.h"

/* --- the table --------------------------------------------------------- */

/* Latency buckets, 50 us to 10 s: ingest answers take tens of
 * microseconds when all is well and seconds when the disk stalls. */
static const uint64_t latency_le_us[] = {
        50,     100,     250,     500,     1000,     2500,
        5000,   10000,   25000,   50000,   100000,   250000,
        500000, 1000000, 2500000, 5000000, 10000000,
};
#define LAT_BUCKETS latency_le_us, (int)SN_ARRAY_LEN(latency_le_us)

#define L1(a)                 \
	{                     \
		a, NULL, NULL \
	}
#define L2(a, b)           \
	{                  \
		a, b, NULL \
	}
#define NOLABELS                 \
	{                        \
		NULL, NULL, NULL \
	}
#define C SN_METRIC_COUNTER
#define G SN_METRIC_GAUGE
#define H SN_METRIC_HISTOGRAM

const struct sn_metric_def sn_metric_defs[SN_METRIC_COUNT] = {
        [M_TELEMETRY_EVENTS] = {"sentinel_telemetry_events_total", C,
                                "Telemetry events accepted (answered 202), "
                                "by application.",
                                L1("application_id"), 0, false, NULL, 0},
        [M_INGESTION_LATENCY] = {"sentinel_ingestion_latency_seconds", H,
                                 "Time from a complete event post to its "
                                 "answer: parsing, validation, spool write "
                                 "and fsync.",
                                 NOLABELS, -1, false, LAT_BUCKETS},
        [M_INGESTION_ERRORS] = {"sentinel_ingestion_errors_total", C,
                                "Requests refused by ingestd, by reason.",
                                L1("reason"), -1, false, NULL, 0},
        [M_INGESTION_REQUESTS] = {"sentinel_http_requests_total", C,
                                  "HTTP requests answered by ingestd, by "
                                  "status code.",
                                  L1("code"), -1, false, NULL, 0},
        [M_EVENT_BUFFER_SIZE] = {"sentinel_event_buffer_size", G,
                                 "Events accepted and not yet durable in "
                                 "the database.",
                                 NOLABELS, -1, true, NULL, 0},
        [M_CONSUMER_LAG] = {"sentinel_consumer_lag_events", G,
                            "Events in the spool a consumer has not yet "
                            "made durable (stored: database, detectd: "
                            "checkpoint).",
                            L1("consumer"), -1, true, NULL, 0},
        [M_SPOOL_SIZE_BYTES] = {"sentinel_spool_size_bytes", G,
                                "Bytes in ingestd's spool segments.", NOLABELS,
                                -1, true, NULL, 0},
        [M_SPOOL_SYNC_LATENCY] = {"sentinel_spool_sync_duration_seconds", H,
                                  "Time one fdatasync of ingestd's spool "
                                  "took: every durable answer waits for "
                                  "one.",
                                  NOLABELS, -1, false, LAT_BUCKETS},
        [M_HTTP_CONNECTIONS] = {"sentinel_http_connections", G,
                                "Open connections on ingestd's HTTP port.",
                                NOLABELS, -1, true, NULL, 0},
        [M_KAFKA_CONSUMER_LAG] = {"sentinel_kafka_consumer_lag", G,
                                  "Messages behind on the Kafka source; 0, "
                                  "as Sentinel has no Kafka source.",
                                  NOLABELS, -1, true, NULL, 0},
        [M_DETECTION_LATENCY] = {"sentinel_detection_latency_seconds", H,
                                 "Time from ingestd accepting an event to "
                                 "the detectors evaluating it (millisecond "
                                 "resolution).",
                                 NOLABELS, -1, false, LAT_BUCKETS},
        [M_DETECTION_ERRORS] = {"sentinel_detection_errors_total", C,
                                "Detection failures, by reason.", L1("reason"),
                                -1, false, NULL, 0},
        [M_ANOMALIES_DETECTED] = {"sentinel_anomalies_detected_total", C,
                                  "Anomalies detected, by detector and "
                                  "severity.",
                                  L2("detector", "severity"), -1, false, NULL,
                                  0},
        [M_EVENTS_EVALUATED] = {"sentinel_detection_events_total", C,
                                "Events evaluated by detectd.", NOLABELS, -1,
                                false, NULL, 0},
        [M_DETECTION_GROUPS] = {"sentinel_detection_groups", G,
                                "Active detector states, one per detector "
                                "and group.",
                                NOLABELS, -1, true, NULL, 0},
        [M_EVENTS_STORED] = {"sentinel_events_stored_total", C,
                             "Events written to the database.", NOLABELS, -1,
                             false, NULL, 0},
        [M_STORAGE_SIZE_BYTES] = {"sentinel_storage_size_bytes", G,
                                  "Size of the database and its WAL.", NOLABELS,
                                  -1, true, NULL, 0},
        [M_STORAGE_ROWS] = {"sentinel_storage_rows", G,
                            "Rows in the database, by table.", L1("table"), -1,
                            true, NULL, 0},
        [M_RETENTION_RUNS] = {"sentinel_retention_runs_total", C,
                              "Retention passes completed, by table.",
                              L1("table"), -1, false, NULL, 0},
        [M_RETENTION_DELETED] = {"sentinel_retention_deleted_rows_total", C,
                                 "Rows deleted by retention, by table.",
                                 L1("table"), -1, false, NULL, 0},
        [M_RETENTION_LAST_RUN] = {"sentinel_retention_last_run_timestamp_"
                                  "seconds",
                                  G,
                                  "When retention's last pass over the table "
                                  "started (unix time).",
                                  L1("table"), -1, true, NULL, 0},
        [M_ALERTS_SENT] = {"sentinel_alerts_sent_total", C,
                           "Notifications delivered, by receiver.",
                           L1("receiver"), -1, false, NULL, 0},
        [M_ALERT_FAILURES] = {"sentinel_alert_failures_total", C,
                              "Failed delivery attempts, by receiver.",
                              L1("receiver"), -1, false, NULL, 0},
        [M_ALERTS_UNROUTED] = {"sentinel_alerts_unrouted_total", C,
                               "Alerts no route and no default receiver "
                               "took.",
                               NOLABELS, -1, false, NULL, 0},
        [M_ALERTS_FIRING] = {"sentinel_alerts_firing", G, "Alerts firing now.",
                             NOLABELS, -1, true, NULL, 0},
        [M_ALERT_GROUPS] = {"sentinel_alert_groups", G,
                            "Alert groups active now.", NOLABELS, -1, true,
                            NULL, 0},
        [M_SILENCES_ACTIVE] = {"sentinel_silences_active", G,
                               "Silences in force now.", NOLABELS, -1, true,
                               NULL, 0},
        [M_NOTIFICATIONS_QUEUED] = {"sentinel_notifications_queued", G,
                                    "Notifications waiting in the outbox.",
                                    NOLABELS, -1, true, NULL, 0},
        [M_BUILD_INFO] = {"sentinel_build_info", G,
                          "Always 1; the labels name the build.", L1("version"),
                          -1, true, NULL, 0},
        [M_UP] = {"sentinel_up", G,
                  "1 when the daemon is running and announced ready.",
                  L1("daemon"), -1, true, NULL, 0},
        [M_DAEMON_RESTARTS] = {"sentinel_daemon_restarts_total", C,
                               "Times the supervisor restarted the daemon.",
                               L1("daemon"), -1, true, NULL, 0},
        [M_PROCESS_CPU] = {"sentinel_process_cpu_seconds_total", C,
                           "User and system CPU time of the daemon's "
                           "current process.",
                           L1("daemon"), -1, true, NULL, 0},
        [M_PROCESS_RSS] = {"sentinel_process_resident_memory_bytes", G,
                           "Resident memory of the daemon.", L1("daemon"), -1,
                           true, NULL, 0},
        [M_PROCESS_FDS] = {"sentinel_process_open_fds", G,
                           "Open file descriptors of the daemon.", L1("daemon"),
                           -1, true, NULL, 0},
        [M_PROCESS_START] = {"sentinel_process_start_time_seconds", G,
                             "When the daemon's current process started "
                             "(unix time).",
                             L1("daemon"), -1, true, NULL, 0},
        [M_METRICS_SERIES_DROPPED] = {"sentinel_metrics_series_dropped_total",
                                      C,
                                      "Series not exported because the "
                                      "daemon's metrics file was full.",
                                      L1("daemon"), -1, false, NULL, 0},
};

const struct sn_metric_def *
metrics_find(const char *name)
{
	size_t i;

	for (i = 0; i < SN_METRIC_COUNT; i++)
		if (strcmp(sn_metric_defs[i].name, name) == 0)
			return &sn_metric_defs[i];
	return NULL;
}

static int
def_nlabels(const struct sn_metric_def *d)
{
	int n = 0;

	while (n < METRICS_MAX_LABELS && d->labels[n] != NULL)
		n++;
	return n;
}

/* --- the file ---------------------------------------------------------- */

#define MFILE_MAGIC   "SNMETR01"
#define MFILE_VERSION 1
#define SLOT_VALUES   (METRICS_MAX_BUCKETS + 4)
#define SLOT_LABELS   424
#define SLOT_FREE     0
#define SLOT_READY    1
/* Slots a file has: the fixed series plus room for two capped metrics
 * at their cap. */
#define NSLOTS(cap) (256u + 2u * (cap))

struct mslot {
	_Atomic uint32_t state;
	uint16_t id;
	uint16_t reserved;
	char labels[SLOT_LABELS]; /* rendered pairs, NUL-terminated */
	_Atomic uint64_t v[SLOT_VALUES];
};

struct mhdr {
	char magic[8];
	uint32_t version;
	uint32_t slot_size;
	uint32_t nslots;
	uint32_t ndefs;
	uint64_t defs_hash;
	int32_t pid;
	char daemon[20];
	_Atomic uint32_t used;
	uint32_t reserved;
};

struct sn_series {
	struct mslot slot;
};

/* histogram layout in v[]: v[0..nb] buckets (v[nb]: above every
 * bound), v[SUM] the sum in microseconds. */
#define HIST_SUM (SLOT_VALUES - 1)

/* A hash of the table's names, types and labels: a file written by
 * another build of the set is not read as this one's. */
static uint64_t
defs_hash(void)
{
	uint64_t h = 1469598103934665603ull;
	const char *p;
	size_t i;
	int j;

	for (i = 0; i < SN_METRIC_COUNT; i++) {
		for (p = sn_metric_defs[i].name; *p != '\0'; p++)
			h = (h ^ (uint8_t)*p) * 1099511628211ull;
		h = (h ^ (uint64_t)sn_metric_defs[i].type) * 1099511628211ull;
		for (j = 0; j < def_nlabels(&sn_metric_defs[i]); j++)
			for (p = sn_metric_defs[i].labels[j]; *p != '\0'; p++)
				h = (h ^ (uint8_t)*p) * 1099511628211ull;
		h = (h ^ (uint64_t)sn_metric_defs[i].nbuckets) *
		    1099511628211ull;
	}
	return h;
}

/* --- the writer's side ------------------------------------------------- */

/* An open-addressing table of owned string keys: "S<id>:<labels>" to a
 * slot index, "V<id>:<value>" for a capped label's admitted values. */
struct keyset {
	char **keys;
	uint32_t *vals;
	size_t cap; /* power of two */
	size_t n;
};

static struct {
	pthread_mutex_t mu;
	struct mhdr *hdr;
	struct mslot *slots;
	size_t map_len;
	char path[512];
	unsigned label_cap;
	struct keyset keys;
	uint32_t nvalues[SN_METRIC_COUNT]; /* admitted capped values */
	struct sn_series *dropped;
} reg = {.mu = PTHREAD_MUTEX_INITIALIZER};

/* The generation of the lookup cache (metrics_seriesv): a new one at
 * every open and close. */
static _Atomic uint32_t mcache_gen = 1;

/* Where every update goes without a file, or when the file is full. */
static struct sn_series sink;

static uint64_t
str_hash(const char *s)
{
	uint64_t h = 1469598103934665603ull;

	for (; *s != '\0'; s++)
		h = (h ^ (uint8_t)*s) * 1099511628211ull;
	return h;
}

static int
keyset_get(const struct keyset *ks, const char *key, uint32_t *val)
{
	size_t i;

	if (ks->cap == 0)
		return -1;
	for (i = str_hash(key) & (ks->cap - 1); ks->keys[i] != NULL;
	     i = (i + 1) & (ks->cap - 1))
		if (strcmp(ks->keys[i], key) == 0) {
			*val = ks->vals[i];
			return 0;
		}
	return -1;
}

static void
keyset_put(struct keyset *ks, const char *key, uint32_t val)
{
	struct keyset old = *ks;
	size_t i, j;

	if ((ks->n + 1) * 2 > ks->cap) {
		ks->cap = old.cap == 0 ? 64 : old.cap * 2;
		ks->keys = sn_xcalloc(ks->cap, sizeof(*ks->keys));
		ks->vals = sn_xcalloc(ks->cap, sizeof(*ks->vals));
		for (j = 0; j < old.cap; j++) {
			if (old.keys[j] == NULL)
				continue;
			for (i = str_hash(old.keys[j]) & (ks->cap - 1);
			     ks->keys[i] != NULL; i = (i + 1) & (ks->cap - 1))
				;
			ks->keys[i] = old.keys[j];
			ks->vals[i] = old.vals[j];
		}
		free(old.keys);
		free(old.vals);
	}
	for (i = str_hash(key) & (ks->cap - 1); ks->keys[i] != NULL;
	     i = (i + 1) & (ks->cap - 1))
		;
	ks->keys[i] = sn_xstrdup(key);
	ks->vals[i] = val;
	ks->n++;
}

static void
keyset_free(struct keyset *ks)
{
	size_t i;

	for (i = 0; i < ks->cap; i++)
		free(ks->keys[i]);
	free(ks->keys);
	free(ks->vals);
	memset(ks, 0, sizeof(*ks));
}

void
metrics_path(char *buf, size_t size, const char *run_dir, const char *daemon)
{
	snprintf(buf, size, "%s/%s.metrics", run_dir, daemon);
}

int
metrics_open(const char *run_dir, const char *daemon, unsigned label_cap)
{
	char tmp[sizeof(reg.path) + 16];
	struct mhdr *hdr;
	size_t len;
	uint32_t nslots;
	void *p;
	int fd;

	if (reg.hdr != NULL)
		return 0; /* once a process */
	if (label_cap == 0)
		label_cap = METRICS_DEFAULT_LABEL_CAP;
	nslots = NSLOTS(label_cap);
	len = sizeof(struct mhdr) + (size_t)nslots * sizeof(struct mslot);
	metrics_path(reg.path, sizeof(reg.path), run_dir, daemon);
	snprintf(tmp, sizeof(tmp), "%s.tmp", reg.path);
	/* A new file each run, renamed into place whole: the exporter
	 * never maps a half-made header, and an old mapping stays valid. */
	(void)unlink(tmp);
	fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
	if (fd == -1 || ftruncate(fd, (off_t)len) == -1) {
		log_kv(LOG_LEVEL_WARN, "metrics: cannot create file", "path",
		       tmp, "error", strerror(errno), NULL);
		if (fd != -1) {
			close(fd);
			unlink(tmp);
		}
		return -1;
	}
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (p == MAP_FAILED) {
		log_kv(LOG_LEVEL_WARN, "metrics: cannot map file", "path", tmp,
		       "error", strerror(errno), NULL);
		unlink(tmp);
		return -1;
	}
	hdr = p;
	memcpy(hdr->magic, MFILE_MAGIC, sizeof(hdr->magic));
	hdr->version = MFILE_VERSION;
	hdr->slot_size = sizeof(struct mslot);
	hdr->nslots = nslots;
	hdr->ndefs = SN_METRIC_COUNT;
	hdr->defs_hash = defs_hash();
	hdr->pid = (int32_t)getpid();
	snprintf(hdr->daemon, sizeof(hdr->daemon), "%s", daemon);
	atomic_store(&hdr->used, 0);
	if (rename(tmp, reg.path) == -1) {
		log_kv(LOG_LEVEL_WARN, "metrics: cannot rename file", "path",
		       reg.path, "error", strerror(errno), NULL);
		munmap(p, len);
		unlink(tmp);
		return -1;
	}
	pthread_mutex_lock(&reg.mu);
	atomic_fetch_add(&mcache_gen, 1);
	reg.hdr = hdr;
	reg.slots = (struct mslot *)(hdr + 1);
	reg.map_len = len;
	reg.label_cap = label_cap;
	pthread_mutex_unlock(&reg.mu);
	/* One slot kept for the count of what did not fit. */
	reg.dropped = metrics_series(M_METRICS_SERIES_DROPPED, daemon);
	return 0;
}

void
metrics_close(void)
{
	pthread_mutex_lock(&reg.mu);
	atomic_fetch_add(&mcache_gen, 1);
	if (reg.hdr != NULL) {
		munmap(reg.hdr, reg.map_len);
		unlink(reg.path);
	}
	reg.hdr = NULL;
	reg.slots = NULL;
	reg.dropped = NULL;
	keyset_free(&reg.keys);
	memset(reg.nvalues, 0, sizeof(reg.nvalues));
	pthread_mutex_unlock(&reg.mu);
}

/* Appends v cut to METRICS_LABEL_MAX bytes (at a UTF-8 boundary) and
 * escaped as the exposition format asks.  Returns -1 when out of room. */
static int
label_append(char *buf, size_t size, size_t *off, const char *v)
{
	size_t n = strlen(v), i;

	if (n > METRICS_LABEL_MAX) {
		n = METRICS_LABEL_MAX;
		while (n > 0 && ((uint8_t)v[n] & 0xc0) == 0x80)
			n--;
	}
	for (i = 0; i < n; i++) {
		const char *esc = NULL;
		char c = v[i];

		if (c == '\\')
			esc = "\\\\";
		else if (c == '"')
			esc = "\\\"";
		else if (c == '\n')
			esc = "\\n";
		if (*off + 3 > size)
			return -1;
		if (esc != NULL) {
			memcpy(buf + *off, esc, 2);
			*off += 2;
		} else {
			buf[(*off)++] = c;
		}
	}
	buf[*off] = '\0';
	return 0;
}

/* Renders name="value",... into buf.  -1 when it does not fit. */
static int
labels_render(char *buf, size_t size, const struct sn_metric_def *d,
              const char *const *values)
{
	size_t off = 0;
	int i, n;

	buf[0] = '\0';
	for (i = 0; i < def_nlabels(d); i++) {
		n = snprintf(buf + off, size - off, "%s%s=\"", i > 0 ? "," : "",
		             d->labels[i]);
		if (n < 0 || (size_t)n >= size - off)
			return -1;
		off += (size_t)n;
		if (label_append(buf, size, &off,
		                 values[i] != NULL ? values[i] : "") == -1 ||
		    off + 2 > size)
			return -1;
		buf[off++] = '"';
		buf[off] = '\0';
	}
	return 0;
}

/* With reg.mu held: a new slot for id and labels, or NULL when full. */
static struct sn_series *
slot_new(enum sn_metric_id id, const char *labels, const char *key)
{
	struct mslot *sl;
	uint32_t idx;

	idx = atomic_load_explicit(&reg.hdr->used, memory_order_relaxed);
	if (idx >= reg.hdr->nslots)
		return NULL;
	sl = &reg.slots[idx];
	sl->id = (uint16_t)id;
	snprintf(sl->labels, sizeof(sl->labels), "%s", labels);
	atomic_store_explicit(&sl->state, SLOT_READY, memory_order_release);
	atomic_store_explicit(&reg.hdr->used, idx + 1, memory_order_release);
	keyset_put(&reg.keys, key, idx);
	return (struct sn_series *)sl;
}

/*
 * A lookup in the registry takes its mutex and renders the labels; hot
 * paths that look up per request (events per application) hit this
 * per-thread cache of the last series seen for each (metric, values)
 * instead, without a lock.  A new generation (open, close) empties it.
 */
#define MCACHE_N   256
#define MCACHE_KEY 120
struct mcache_ent {
	uint32_t gen;
	uint16_t id;
	uint16_t klen;
	struct sn_series *s;
	char key[MCACHE_KEY];
};
static _Thread_local struct mcache_ent mcache[MCACHE_N];

/* The values joined by 0x1f into key; their length, or 0 when they do
 * not fit (such series are not cached). */
static size_t
mcache_key(char *key, const char *const *values, int nl)
{
	size_t n = 0, l;
	int i;

	for (i = 0; i < nl; i++) {
		const char *v = values[i] != NULL ? values[i] : "";

		l = strlen(v);
		if (n + l + 1 > MCACHE_KEY)
			return 0;
		memcpy(key + n, v, l);
		n += l;
		key[n++] = 0x1f;
	}
	return n;
}

static struct sn_series *metrics_lookup(enum sn_metric_id id,
                                        const char *const *values);

struct sn_series *
metrics_seriesv(enum sn_metric_id id, const char *const *values)
{
	char key[MCACHE_KEY];
	struct mcache_ent *e;
	struct sn_series *s;
	uint32_t gen;
	uint64_t h;
	size_t klen, i;

	if ((unsigned)id >= SN_METRIC_COUNT)
		return &sink;
	klen = mcache_key(key, values, def_nlabels(&sn_metric_defs[id]));
	if (klen == 0 && def_nlabels(&sn_metric_defs[id]) > 0)
		return metrics_lookup(id, values);
	h = 1469598103934665603ull ^ (uint64_t)id;
	for (i = 0; i < klen; i++)
		h = (h ^ (uint8_t)key[i]) * 1099511628211ull;
	e = &mcache[h & (MCACHE_N - 1)];
	gen = atomic_load_explicit(&mcache_gen, memory_order_acquire);
	if (e->gen == gen && e->id == id && e->klen == klen &&
	    memcmp(e->key, key, klen) == 0)
		return e->s;
	s = metrics_lookup(id, values);
	if (s != &sink) {
		e->gen = gen;
		e->id = (uint16_t)id;
		e->klen = (uint16_t)klen;
		e->s = s;
		memcpy(e->key, key, klen);
	}
	return s;
}

static struct sn_series *
metrics_lookup(enum sn_metric_id id, const char *const *values)
{
	const struct sn_metric_def *d;
	const char *vals[METRICS_MAX_LABELS];
	char labels[SLOT_LABELS];
	char key[SLOT_LABELS + 16];
	struct sn_series *s = NULL;
	uint32_t idx;
	int i, nl;

	if ((unsigned)id >= SN_METRIC_COUNT)
		return &sink;
	d = &sn_metric_defs[id];
	nl = def_nlabels(d);
	for (i = 0; i < nl; i++)
		vals[i] = values[i];
	pthread_mutex_lock(&reg.mu);
	if (reg.hdr == NULL)
		goto out;
	if (d->capped >= 0) {
		/* The capped label: a value seen before, a new one while
		 * under the cap, or "other". */
		snprintf(key, sizeof(key), "V%d:%.*s", (int)id,
		         METRICS_LABEL_MAX,
		         vals[d->capped] != NULL ? vals[d->capped] : "");
		if (keyset_get(&reg.keys, key, &idx) == -1) {
			if (reg.nvalues[id] < reg.label_cap) {
				keyset_put(&reg.keys, key, 0);
				reg.nvalues[id]++;
			} else {
				vals[d->capped] = METRICS_OTHER;
			}
		}
	}
	if (labels_render(labels, sizeof(labels), d, vals) == -1)
		goto out;
	snprintf(key, sizeof(key), "S%d:%s", (int)id, labels);
	if (keyset_get(&reg.keys, key, &idx) == 0)
		s = (struct sn_series *)&reg.slots[idx];
	else
		s = slot_new(id, labels, key);
out:
	pthread_mutex_unlock(&reg.mu);
	if (s == NULL) {
		if (reg.dropped != NULL)
			metrics_add(reg.dropped, 1);
		return &sink;
	}
	return s;
}

struct sn_series *
metrics_series(enum sn_metric_id id, ...)
{
	const char *values[METRICS_MAX_LABELS] = {NULL, NULL, NULL};
	va_list ap;
	int i, nl;

	if ((unsigned)id >= SN_METRIC_COUNT)
		return &sink;
	nl = def_nlabels(&sn_metric_defs[id]);
	va_start(ap, id);
	for (i = 0; i < nl; i++)
		values[i] = va_arg(ap, const char *);
	va_end(ap);
	return metrics_seriesv(id, values);
}

void
metrics_add(struct sn_series *s, uint64_t n)
{
	atomic_fetch_add_explicit(&s->slot.v[0], n, memory_order_relaxed);
}

static uint64_t
dbits(double v)
{
	uint64_t u;

	memcpy(&u, &v, sizeof(u));
	return u;
}

static double
bitsd(uint64_t u)
{
	double v;

	memcpy(&v, &u, sizeof(v));
	return v;
}

void
metrics_set(struct sn_series *s, double v)
{
	atomic_store_explicit(&s->slot.v[0], dbits(v), memory_order_relaxed);
}

void
metrics_gauge_add(struct sn_series *s, double d)
{
	uint64_t old =
	        atomic_load_explicit(&s->slot.v[0], memory_order_relaxed);

	while (!atomic_compare_exchange_weak_explicit(
	        &s->slot.v[0], &old, dbits(bitsd(old) + d),
	        memory_order_relaxed, memory_order_relaxed))
		;
}

/* The bucket of us for a histogram metric: the first bound >= us. */
static int
bucket_of(const struct sn_metric_def *d, uint64_t us)
{
	int lo = 0, hi = d->nbuckets;

	while (lo < hi) {
		int mid = (lo + hi) / 2;

		if (us <= d->le_us[mid])
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

void
metrics_observe_us(struct sn_series *s, uint64_t us)
{
	const struct sn_metric_def *d;

	if (s == &sink)
		return;
	d = &sn_metric_defs[s->slot.id];
	if (d->type != SN_METRIC_HISTOGRAM)
		return;
	atomic_fetch_add_explicit(&s->slot.v[bucket_of(d, us)], 1,
	                          memory_order_relaxed);
	atomic_fetch_add_explicit(&s->slot.v[HIST_SUM], us,
	                          memory_order_relaxed);
}

void
metrics_hist_observe(struct metrics_hist *h, enum sn_metric_id id, uint64_t us)
{
	h->bucket[bucket_of(&sn_metric_defs[id], us)]++;
	h->count++;
	h->sum_us += us;
}

void
metrics_hist_flush(struct sn_series *s, struct metrics_hist *h)
{
	const struct sn_metric_def *d;
	int i;

	if (h->count == 0)
		return;
	if (s != &sink) {
		d = &sn_metric_defs[s->slot.id];
		for (i = 0; i <= d->nbuckets && d->type == SN_METRIC_HISTOGRAM;
		     i++)
			if (h->bucket[i] != 0)
				atomic_fetch_add_explicit(&s->slot.v[i],
				                          h->bucket[i],
				                          memory_order_relaxed);
		atomic_fetch_add_explicit(&s->slot.v[HIST_SUM], h->sum_us,
		                          memory_order_relaxed);
	}
	memset(h, 0, sizeof(*h));
}

/* --- the reader's side ------------------------------------------------- */

struct mmapped {
	const struct mhdr *hdr;
	const struct mslot *slots;
	size_t len;
	uint32_t used;
	dev_t dev; /* the file mapped: a new one is mapped anew */
	ino_t ino;
};

/* Maps path read-only and checks it is a metrics file of this build. */
static int
mfile_map(const char *path, struct mmapped *m)
{
	struct stat st;
	void *p;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd == -1)
		return -1;
	if (fstat(fd, &st) == -1 || (size_t)st.st_size < sizeof(struct mhdr)) {
		close(fd);
		return -1;
	}
	p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (p == MAP_FAILED)
		return -1;
	m->hdr = p;
	m->len = (size_t)st.st_size;
	m->dev = st.st_dev;
	m->ino = st.st_ino;
	m->slots = (const struct mslot *)(m->hdr + 1);
	m->used = atomic_load_explicit(&((struct mhdr *)p)->used,
	                               memory_order_acquire);
	if (memcmp(m->hdr->magic, MFILE_MAGIC, 8) != 0 ||
	    m->hdr->version != MFILE_VERSION ||
	    m->hdr->slot_size != sizeof(struct mslot) ||
	    m->hdr->ndefs != SN_METRIC_COUNT ||
	    m->hdr->defs_hash != defs_hash() || m->used > m->hdr->nslots ||
	    sizeof(struct mhdr) +
	                    (size_t)m->hdr->nslots * sizeof(struct mslot) >
	            m->len) {
		munmap(p, m->len);
		return -1;
	}
	return 0;
}

static double
slot_value(const struct mslot *sl, const struct sn_metric_def *d, int i)
{
	uint64_t u = atomic_load_explicit(&((struct mslot *)sl)->v[i],
	                                  memory_order_relaxed);

	return d->real ? bitsd(u) : (double)u;
}

/* "0.005" for 5000 us: seconds with no trailing zeros. */
static void
le_format(char *buf, size_t size, uint64_t us)
{
	size_t n;

	snprintf(buf, size, "%.6f", (double)us / 1e6);
	n = strlen(buf);
	while (n > 1 && buf[n - 1] == '0')
		buf[--n] = '\0';
	if (n > 1 && buf[n - 1] == '.')
		buf[--n] = '\0';
}

static void
visit_slot(const struct mslot *sl, const struct sn_metric_def *d,
           const struct metrics_visitor *v, void *arg)
{
	char name[128], own[SLOT_LABELS], labels[SLOT_LABELS + 64], le[32];
	uint64_t cum = 0, u;
	int i;

	if (v->sample == NULL)
		return;
	/* The writer always terminates it; a reader does not rely on it. */
	memcpy(own, sl->labels, sizeof(own));
	own[sizeof(own) - 1] = '\0';
	if (d->type != SN_METRIC_HISTOGRAM) {
		v->sample(arg, d, d->name, own, slot_value(sl, d, 0));
		return;
	}
	snprintf(name, sizeof(name), "%s_bucket", d->name);
	for (i = 0; i <= d->nbuckets; i++) {
		cum += atomic_load_explicit(&((struct mslot *)sl)->v[i],
		                            memory_order_relaxed);
		if (i < d->nbuckets)
			le_format(le, sizeof(le), d->le_us[i]);
		else
			snprintf(le, sizeof(le), "+Inf");
		snprintf(labels, sizeof(labels), "%s%sle=\"%s\"", own,
		         own[0] != '\0' ? "," : "", le);
		v->sample(arg, d, name, labels, (double)cum);
	}
	u = atomic_load_explicit(&((struct mslot *)sl)->v[HIST_SUM],
	                         memory_order_relaxed);
	snprintf(name, sizeof(name), "%s_sum", d->name);
	v->sample(arg, d, name, own, (double)u / 1e6);
	snprintf(name, sizeof(name), "%s_count", d->name);
	v->sample(arg, d, name, own, (double)cum);
}

struct metrics_reader {
	size_t n;
	char **paths;
	struct mmapped *maps; /* hdr NULL: not mapped */
	uint32_t *order;      /* slot indexes of all files, by metric */
	size_t order_cap;
};

struct metrics_reader *
metrics_reader_new(const char *const *paths, size_t npaths)
{
	struct metrics_reader *r = sn_xcalloc(1, sizeof(*r));
	size_t i;

	r->n = npaths;
	r->paths = sn_xcalloc(npaths > 0 ? npaths : 1, sizeof(*r->paths));
	r->maps = sn_xcalloc(npaths > 0 ? npaths : 1, sizeof(*r->maps));
	for (i = 0; i < npaths; i++)
		r->paths[i] = sn_xstrdup(paths[i]);
	return r;
}

static void
mfile_unmap(struct mmapped *m)
{
	if (m->hdr != NULL)
		munmap((void *)m->hdr, m->len);
	memset(m, 0, sizeof(*m));
}

void
metrics_reader_free(struct metrics_reader *r)
{
	size_t i;

	if (r == NULL)
		return;
	for (i = 0; i < r->n; i++) {
		mfile_unmap(&r->maps[i]);
		free(r->paths[i]);
	}
	free(r->paths);
	free(r->maps);
	free(r->order);
	free(r);
}

/*
 * Keeps each file mapped from one read to the next (mapping and
 * unmapping at every scrape was most of a scrape's cost) and maps it
 * again when the path names another file: its daemon restarted.
 */
static void
reader_refresh(struct metrics_reader *r)
{
	struct stat st;
	size_t i;

	for (i = 0; i < r->n; i++) {
		struct mmapped *m = &r->maps[i];

		if (stat(r->paths[i], &st) == -1) {
			mfile_unmap(m);
			continue;
		}
		if (m->hdr != NULL && m->dev == st.st_dev &&
		    m->ino == st.st_ino) {
			m->used = atomic_load_explicit(
			        &((struct mhdr *)m->hdr)->used,
			        memory_order_acquire);
			if (m->used > m->hdr->nslots)
				m->used = m->hdr->nslots;
			continue;
		}
		mfile_unmap(m);
		if (mfile_map(r->paths[i], m) == -1)
			memset(m, 0, sizeof(*m));
	}
}

size_t
metrics_reader_visit(struct metrics_reader *r, const char *only,
                     const struct metrics_visitor *v, void *arg)
{
	/* per file, where each metric's slots start in order[] */
	uint32_t start[SN_METRIC_COUNT + 1], fill[SN_METRIC_COUNT];
	uint32_t(*starts)[SN_METRIC_COUNT + 1]; /* of every file */
	size_t i, total = 0, base, nsamples = 0;
	uint32_t j, k, *ord;
	int id;
	bool seen;

	reader_refresh(r);
	for (i = 0; i < r->n; i++)
		total += r->maps[i].used;
	if (total > r->order_cap) {
		free(r->order);
		r->order_cap = total;
		r->order = sn_xcalloc(total, sizeof(*r->order));
	}
	/* one pass per file sorting its slots by metric (counting sort),
	 * then the families in table order, file by file */
	starts = sn_xcalloc(r->n > 0 ? r->n : 1, sizeof(*starts));
	for (i = 0, base = 0; i < r->n; i++) {
		const struct mmapped *m = &r->maps[i];

		memset(start, 0, sizeof(start));
		for (j = 0; j < m->used; j++)
			if (m->slots[j].id < SN_METRIC_COUNT)
				start[m->slots[j].id + 1]++;
		for (id = 0; id < SN_METRIC_COUNT; id++)
			start[id + 1] += start[id];
		memcpy(fill, start, sizeof(fill));
		ord = r->order + base;
		for (j = 0; j < m->used; j++)
			if (m->slots[j].id < SN_METRIC_COUNT)
				ord[fill[m->slots[j].id]++] = j;
		for (id = 0; id <= SN_METRIC_COUNT; id++)
			starts[i][id] = (uint32_t)base + start[id];
		base += m->used;
	}
	for (id = 0; id < SN_METRIC_COUNT; id++) {
		const struct sn_metric_def *d = &sn_metric_defs[id];

		if (only != NULL && strcmp(only, d->name) != 0)
			continue;
		seen = false;
		for (i = 0; i < r->n; i++) {
			for (k = starts[i][id]; k < starts[i][id + 1]; k++) {
				const struct mslot *sl =
				        &r->maps[i].slots[r->order[k]];

				if (atomic_load_explicit(
				            &((struct mslot *)sl)->state,
				            memory_order_acquire) != SLOT_READY)
					continue;
				if (!seen && v->family != NULL)
					v->family(arg, d);
				seen = true;
				visit_slot(sl, d, v, arg);
				nsamples++;
			}
		}
	}
	free(starts);
	return nsamples;
}

size_t
metrics_visit(const char *const *paths, size_t npaths, const char *only,
              const struct metrics_visitor *v, void *arg)
{
	struct metrics_reader *r = metrics_reader_new(paths, npaths);
	size_t n = metrics_reader_visit(r, only, v, arg);

	metrics_reader_free(r);
	return n;
}

static const char *
type_name(enum sn_metric_type t)
{
	switch (t) {
	case SN_METRIC_COUNTER:
		return "counter";
	case SN_METRIC_GAUGE:
		return "gauge";
	case SN_METRIC_HISTOGRAM:
		return "histogram";
	}
	return "untyped";
}

static void
text_family(void *arg, const struct sn_metric_def *d)
{
	sn_buf_printf(arg, "# HELP %s %s\n# TYPE %s %s\n", d->name, d->help,
	              d->name, type_name(d->type));
}

/* Formats a sample value: integers exactly, others with 15 digits. */
static void
value_format(char *buf, size_t size, double v)
{
	if (isnan(v))
		snprintf(buf, size, "NaN");
	else if (isinf(v))
		snprintf(buf, size, v > 0 ? "+Inf" : "-Inf");
	else if (v == floor(v) && fabs(v) < 9007199254740992.0)
		snprintf(buf, size, "%.0f", v);
	else
		snprintf(buf, size, "%.15g", v);
}

static void
text_sample(void *arg, const struct sn_metric_def *d, const char *name,
            const char *labels, double value)
{
	char val[64];

	(void)d;
	value_format(val, sizeof(val), value);
	if (labels[0] != '\0')
		sn_buf_printf(arg, "%s{%s} %s\n", name, labels, val);
	else
		sn_buf_printf(arg, "%s %s\n", name, val);
}

void
metrics_render_text(struct sn_buf *out, const char *const *paths, size_t npaths)
{
	struct metrics_reader *r = metrics_reader_new(paths, npaths);

	metrics_reader_text(r, out);
	metrics_reader_free(r);
}

void
metrics_reader_text(struct metrics_reader *r, struct sn_buf *out)
{
	const struct metrics_visitor v = {text_family, text_sample};

	metrics_reader_visit(r, NULL, &v, out);
}

const char *
metrics_type_name(enum sn_metric_type t)
{
	return type_name(t);
}

void
metrics_value_format(char *buf, size_t size, double v)
{
	value_format(buf, size, v);
}
