/*
 * test_checkpoint.c: detectd's engine checkpoints (detectd/checkpoint.h).
 *
 * The key property: an engine restored from a checkpoint taken after
 * event K and fed events K+1..N emits exactly the records (ids, status,
 * values, scores, messages) an engine fed 1..N without stopping emits
 * after K, for every detector type and strategy, with K inside open
 * windows and while groups fire.  Then: which detectors keep their
 * state when the config changes, what a damaged file does (missing,
 * truncated, a flipped byte, another version, garbage, bytes mutated
 * under a valid checksum), and that saving is atomic.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "../../detectd/checkpoint.h"
#include "../../detectd/engine.h"
#include "crc32c.h"
#include "log.h"
#include "util.h"

#define T0  1762430400000LL /* 2025-11-06T12:00:00Z */
#define SEC 1000LL

/* --- records ---------------------------------------------------------- */

/* Every record an engine emitted, as "seq <n> <json>" lines. */
struct recs {
	char **r;
	size_t n, cap;
};

static void
recs_emit(const struct sn_anomaly *a, void *arg)
{
	struct recs *k = arg;
	json_t *j = engine_anomaly_json(a);
	char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	size_t len = strlen(s) + 32;

	if (k->n == k->cap) {
		k->cap = k->cap ? 2 * k->cap : 64;
		k->r = realloc(k->r, k->cap * sizeof(*k->r));
		assert_non_null(k->r);
	}
	k->r[k->n] = malloc(len);
	assert_non_null(k->r[k->n]);
	snprintf(k->r[k->n], len, "seq %llu %s", (unsigned long long)a->seq, s);
	k->n++;
	free(s);
	json_decref(j);
}

static void
recs_free(struct recs *k)
{
	size_t i;

	for (i = 0; i < k->n; i++)
		free(k->r[i]);
	free(k->r);
	memset(k, 0, sizeof(*k));
}

/* Whether record i is of detector id and has status st. */
static int
recs_is(const struct recs *k, size_t i, const char *id, const char *st)
{
	char want[128], status[64];

	snprintf(want, sizeof(want), "\"detector_id\":\"%s\"", id);
	snprintf(status, sizeof(status), "\"status\":\"%s\"", st);
	return strstr(k->r[i], want) != NULL && strstr(k->r[i], status);
}

/* --- events ----------------------------------------------------------- */

/* A generated event: strings live in the struct. */
struct tev {
	struct sn_event ev;
	char id[32], app[8], model[8], status[16], json[256];
};

static uint64_t
mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

/*
 * Event i (0-based) of a 20-minute story, 5 events a second, up to 3 s
 * out of order (1 in 50 is 20 s late: too late for every window), over
 * applications a-d and models m1-m3:
 *   b's latency is 50x its normal from 300 s to 420 s;
 *   c has a 30x latency spike in 1 event of 100;
 *   d is silent from 600 s to 700 s (its events go to a);
 *   a fails half its requests from 800 s to 900 s;
 *   c's traffic moves to a from 1000 s to 1100 s;
 *   e sends 1 event in 20 for the first 200 s, then never again.
 */
static struct sn_event *
gen(struct tev *t, size_t i)
{
	static const char *apps[] = {"a", "b", "c", "d"};
	uint64_t r = mix(i);
	int64_t s = (int64_t)i * 200 / SEC; /* seconds into the story */
	const char *app = apps[i % 4];
	double lat = 100 + (double)((r >> 16) % 50);
	int err = (r >> 40) % 200 == 0;

	memset(t, 0, sizeof(*t));
	if (s < 200 && (r >> 56) % 20 == 0)
		app = "e";
	if (app[0] == 'd' && s >= 600 && s < 700)
		app = "a";
	if (app[0] == 'c' && s >= 1000 && s < 1100)
		app = "a";
	if (app[0] == 'b' && s >= 300 && s < 420)
		lat *= 50;
	if (app[0] == 'c' && (r >> 24) % 100 == 0)
		lat *= 30;
	if (app[0] == 'a' && s >= 800 && s < 900)
		err = (r >> 32) & 1;
	snprintf(t->id, sizeof(t->id), "e%zu", i);
	snprintf(t->app, sizeof(t->app), "%s", app);
	snprintf(t->model, sizeof(t->model), "m%d", (int)((r >> 8) % 3) + 1);
	snprintf(t->status, sizeof(t->status), "%s", err ? "error" : "success");
	snprintf(t->json, sizeof(t->json),
	         "{\"event_id\":\"%s\",\"application_id\":\"%s\"}", t->id,
	         t->app);
	t->ev.seq = i + 1;
	t->ev.ts_ms = T0 + (int64_t)i * 200 - (int64_t)(r % 3000);
	if ((r >> 4) % 50 == 0)
		t->ev.ts_ms -= 20 * SEC;
	t->ev.present = SN_EV_LATENCY_MS | SN_EV_TOTAL_TOKENS;
	t->ev.latency_ms = lat;
	t->ev.total_tokens = 100 + (double)((r >> 48) % 100);
	t->ev.event_id.p = t->id;
	t->ev.event_id.len = (uint32_t)strlen(t->id);
	t->ev.event_type.p = "llm.response";
	t->ev.event_type.len = 12;
	t->ev.application_id.p = t->app;
	t->ev.application_id.len = (uint32_t)strlen(t->app);
	t->ev.model.p = t->model;
	t->ev.model.len = (uint32_t)strlen(t->model);
	t->ev.status.p = t->status;
	t->ev.status.len = (uint32_t)strlen(t->status);
	t->ev.timestamp.p = "";
	t->ev.json.p = t->json;
	t->ev.json.len = (uint32_t)strlen(t->json);
	return &t->ev;
}

/* Feeds events [from, to) of the story. */
static void
feed(struct engine *e, size_t from, size_t to, struct recs *k)
{
	struct tev t;
	size_t i;

	for (i = from; i < to; i++)
		engine_feed(e, gen(&t, i), 0, recs_emit, k);
}

#define NEVENTS 6000 /* 20 minutes */

/* --- detectors -------------------------------------------------------- */

static struct sn_detector_action act[] = {{"a", "warning"}};
static char *by_app_model[] = {"application_id", "model"};

static struct sn_detector
det(const char *id, const char *type, const char *metric, int64_t window)
{
	struct sn_detector d;

	memset(&d, 0, sizeof(d));
	d.id = d.name = (char *)id;
	d.type = (char *)type;
	d.enabled = true;
	d.metric = (char *)metric;
	d.window_ms = window;
	d.lateness_ms = window ? 5 * SEC : 0;
	d.actions = act;
	d.nactions = 1;
	return d;
}

static struct sn_detector
thr(const char *id, const char *metric, const char *cond, double t,
    int64_t window, const char *agg)
{
	struct sn_detector d = det(id, "threshold", metric, window);

	d.condition = (char *)cond;
	d.threshold = t;
	d.has_threshold = true;
	d.aggregation = (char *)agg;
	return d;
}

static struct sn_detector
stat_det(const char *id, const char *metric, const char *strategy)
{
	struct sn_detector d = det(id, "statistical", metric, 10 * SEC);

	d.strategy = (char *)strategy;
	d.history = 20;
	d.min_samples = strcmp(strategy, "auto") == 0 ? 10 : 5;
	return d;
}

/* Every type, every strategy, windowed and not, absence included. */
static size_t
all_detectors(struct sn_detector *d)
{
	size_t n = 0;

	d[n] = thr("thr-each", "latency_ms", "greater_than", 2500, 0, NULL);
	d[n++].cooldown_ms = 120 * SEC;
	/* Room for 4 groups: while e still sends, the least recently
	 * updated of 5 applications is evicted. */
	d[n] = thr("thr-evict", "latency_ms", "greater_than", 1000, 30 * SEC,
	           "max");
	d[n++].max_groups = 4;
	d[n] = thr("thr-avg", "latency_ms", "greater_than", 1000, 60 * SEC,
	           "avg");
	d[n].group_by = by_app_model;
	d[n].ngroup_by = 2;
	d[n++].cooldown_ms = 120 * SEC;
	d[n++] = thr("thr-p95", "latency_ms", "greater_than", 2000, 30 * SEC,
	             "p95");
	d[n++] = thr("thr-err", "error_rate", "greater_than", 0.2, 30 * SEC,
	             NULL);
	d[n++] = thr("thr-count", "latency_ms", "less_than", 1, 10 * SEC,
	             "count");
	d[n++] = stat_det("stat-zscore", "latency_ms", "zscore");
	d[n++] = stat_det("stat-mad", "latency_ms", "mad");
	d[n++] = stat_det("stat-iqr", "latency_ms", "iqr");
	d[n++] = stat_det("stat-ewma", "latency_ms", "ewma");
	d[n++] = stat_det("stat-cusum", "latency_ms", "cusum");
	d[n++] = stat_det("stat-auto", "latency_ms", "auto");
	d[n++] = stat_det("stat-rr", "request_rate", "zscore");
	d[n] = det("rate-absent", "rate", NULL, 10 * SEC);
	d[n].condition = "less_than";
	d[n].threshold = 1;
	d[n++].has_threshold = true;
	d[n] = det("rate-base", "rate", NULL, 10 * SEC);
	d[n].condition = "greater_than";
	d[n].threshold = 1.8;
	d[n].has_threshold = true;
	d[n].baseline = "history";
	d[n++].history = 10;
	return n;
}

/* --- files ------------------------------------------------------------ */

static char tmpdir[64];

static int
setup(void **state)
{
	const char *base = getenv("TMPDIR");
	struct stat st;

	(void)state;
	/* tmpfs when there is one: the tests save hundreds of checkpoints
	 * and each fsync on a disk costs milliseconds. */
	if ((base == NULL || *base == '\0') && stat("/dev/shm", &st) == 0 &&
	    S_ISDIR(st.st_mode) && access("/dev/shm", W_OK) == 0)
		base = "/dev/shm";
	snprintf(tmpdir, sizeof(tmpdir), "%s/sn-ckpt-XXXXXX",
	         base && *base && strlen(base) < 40 ? base : "/tmp");
	assert_non_null(mkdtemp(tmpdir));
	return 0;
}

static int
teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	assert_int_equal(system(cmd), 0);
	return 0;
}

static void
path_of(char *buf, size_t size, const char *name)
{
	snprintf(buf, size, "%s/%s", tmpdir, name);
}

static uint8_t *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *p;
	long n;

	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n >= 0);
	rewind(f);
	p = malloc((size_t)n + 1);
	assert_non_null(p);
	assert_int_equal(fread(p, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return p;
}

static void
spit(const char *path, const void *p, size_t len)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(p, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

/* Recomputes the trailing CRC32C of a checkpoint image. */
static void
fix_crc(uint8_t *p, size_t len)
{
	uint32_t crc = sn_crc32c(0, p, len - 4);

	memcpy(p + len - 4, &crc, 4);
}

static void
assert_same_file(const char *a, const char *b)
{
	size_t la, lb;
	uint8_t *pa = slurp(a, &la), *pb = slurp(b, &lb);

	assert_int_equal(la, lb);
	assert_memory_equal(pa, pb, la);
	free(pa);
	free(pb);
}

static uint64_t
total_groups(const struct engine *e)
{
	struct engine_det_info in;
	uint64_t n = 0;
	size_t i;

	for (i = 0; i < engine_detector_count(e); i++) {
		engine_detector_info(e, i, &in);
		n += in.groups;
	}
	return n;
}

/* --- the key property ------------------------------------------------- */

/*
 * Engine A runs 1..N without stopping.  For each K: B runs 1..K and is
 * checkpointed; C is built from the same detectors, loads it and runs
 * K+1..N.  C's records must be A's records after K, one for one, and
 * C's state (its own checkpoint) must equal B's at K and A's at N.
 * covered[j] counts the K at which detector j had a firing group and a
 * resolved record of it came after the restore.
 */
static void
check_restore_at(const struct sn_detectors *dets, const struct recs *a,
                 const size_t *marks, size_t k, size_t *covered)
{
	char pb[128], pc[128], pa[128];
	struct engine *b, *c;
	struct engine_det_info in;
	struct recs rb = {0}, rc = {0};
	uint64_t seq = 0;
	size_t i, j;

	path_of(pb, sizeof(pb), "b.ckpt");
	path_of(pc, sizeof(pc), "c.ckpt");
	path_of(pa, sizeof(pa), "a.ckpt");
	b = engine_new(dets, NULL);
	feed(b, 0, k, &rb);
	assert_int_equal(rb.n, marks[k]);
	assert_int_equal(checkpoint_save(b, k, pb), 0);

	c = engine_new(dets, NULL);
	assert_int_equal(checkpoint_load(c, pb, &seq), 1);
	assert_int_equal(seq, k);
	/* Restored state is the state saved, byte for byte. */
	assert_int_equal(checkpoint_save(c, k, pc), 0);
	assert_same_file(pb, pc);

	feed(c, k, NEVENTS, &rc);
	engine_finish(c, 0, recs_emit, &rc);
	if (rc.n != a->n - marks[k])
		fail_msg("K=%zu: %zu records after restore, %zu without stop",
		         k, rc.n, a->n - marks[k]);
	for (i = 0; i < rc.n; i++)
		if (strcmp(rc.r[i], a->r[marks[k] + i]) != 0)
			fail_msg("K=%zu record %zu differs:\n restored %s\n "
			         "straight %s",
			         k, i, rc.r[i], a->r[marks[k] + i]);
	assert_int_equal(checkpoint_save(c, NEVENTS, pc), 0);
	assert_same_file(pa, pc);

	/* Which detectors were firing at K and resolved after it. */
	for (j = 0; j < engine_detector_count(b); j++) {
		engine_detector_info(b, j, &in);
		if (in.anomalies <= in.resolved)
			continue;
		for (i = 0; i < rc.n; i++)
			if (recs_is(&rc, i, in.id, "resolved")) {
				covered[j]++;
				break;
			}
	}
	engine_free(b);
	engine_free(c);
	recs_free(&rb);
	recs_free(&rc);
}

static void
test_restore_continues_identically(void **unused)
{
	struct sn_detector d[16];
	struct sn_detectors dets = {NULL, d, 0};
	struct engine_det_info in;
	struct recs a = {0};
	size_t *marks, covered[16] = {0}, firings[16] = {0};
	size_t i, j, k, nk = 0, tested = 0;
	char pa[128];
	struct engine *ea;
	static size_t ks[256];

	(void)unused;
	dets.count = all_detectors(d);
	marks = calloc(NEVENTS + 1, sizeof(*marks));
	assert_non_null(marks);
	ea = engine_new(&dets, NULL);
	assert_int_equal(engine_running(ea), dets.count);
	for (i = 0; i < NEVENTS; i++) {
		marks[i] = a.n;
		feed(ea, i, i + 1, &a);
		/* Checkpoint right after the first firings of each detector:
		 * the group is firing, its resolve is still to come. */
		for (k = marks[i]; k < a.n; k++)
			for (j = 0; j < dets.count; j++)
				if (recs_is(&a, k, d[j].id, "firing") &&
				    firings[j]++ < 3 && nk < SN_ARRAY_LEN(ks))
					ks[nk++] = i + 1;
	}
	marks[NEVENTS] = a.n;
	engine_finish(ea, 0, recs_emit, &a);
	path_of(pa, sizeof(pa), "a.ckpt");
	assert_int_equal(checkpoint_save(ea, NEVENTS, pa), 0);
	/* Every detector fired in the story, or it proves nothing. */
	for (j = 0; j < dets.count; j++) {
		engine_detector_info(ea, j, &in);
		if (in.anomalies == 0 || in.resolved == 0)
			fail_msg("detector %s: %llu firing, %llu resolved: "
			         "the story does not exercise it",
			         in.id, (unsigned long long)in.anomalies,
			         (unsigned long long)in.resolved);
	}
	/* And K all along the story, mostly inside open windows (events
	 * are 200 ms apart, windows 10-60 s). */
	for (k = 0; k <= NEVENTS && nk < SN_ARRAY_LEN(ks); k += 97)
		ks[nk++] = k;
	if (nk < SN_ARRAY_LEN(ks))
		ks[nk++] = NEVENTS;

	for (i = 0; i < nk; i++, tested++)
		check_restore_at(&dets, &a, marks, ks[i], covered);
	for (j = 0; j < dets.count; j++)
		if (covered[j] == 0)
			fail_msg("detector %s: never checkpointed while firing "
			         "with its resolve after the restore",
			         d[j].id);
	print_message("# %zu restore points, %zu records straight\n", tested,
	              a.n);
	engine_free(ea);
	recs_free(&a);
	free(marks);
}

/* --- changed, new and removed detectors -------------------------------- */

/* Records of detector id only, from index from on. */
static size_t
recs_of(const struct recs *k, size_t from, const char *id, char **out,
        size_t max)
{
	size_t i, n = 0;

	for (i = from; i < k->n && n < max; i++)
		if (recs_is(k, i, id, "firing") ||
		    recs_is(k, i, id, "resolved"))
			out[n++] = k->r[i];
	return n;
}

static void
test_changed_detectors_start_empty(void **unused)
{
	static struct sn_detector_action other[] = {{"b", "critical"}};
	struct sn_detector d1[4], d2[4];
	struct sn_detectors dets1 = {NULL, d1, 4}, dets2 = {NULL, d2, 4};
	struct engine_det_info in1, in2;
	struct engine *e1, *e2;
	struct recs r1 = {0}, r2 = {0};
	char path[128], *x1[256], *x2[256];
	uint64_t seq = 0;
	size_t mark, n1, n2, i;

	(void)unused;
	path_of(path, sizeof(path), "changed.ckpt");
	d1[0] = thr("x", "latency_ms", "greater_than", 1000, 60 * SEC, "avg");
	d1[1] = det("y", "rate", NULL, 10 * SEC);
	d1[1].condition = "less_than";
	d1[1].threshold = 1;
	d1[1].has_threshold = true;
	d1[2] = stat_det("z", "latency_ms", "zscore");
	d1[3] = thr("off", "latency_ms", "greater_than", 1, 0, NULL);
	d1[3].enabled = false;
	e1 = engine_new(&dets1, NULL);
	feed(e1, 0, 2000, &r1);
	assert_int_equal(checkpoint_save(e1, 2000, path), 0);

	/* x: name and actions change, which only label records: kept.
	 * y: another threshold: starts empty.  w: new.  z: removed. */
	d2[0] = d1[0];
	d2[0].name = "renamed";
	d2[0].actions = other;
	d2[1] = d1[1];
	d2[1].threshold = 2;
	d2[2] = thr("w", "latency_ms", "greater_than", 10, 0, NULL);
	d2[3] = d1[3];
	e2 = engine_new(&dets2, NULL);
	assert_int_equal(checkpoint_load(e2, path, &seq), 1);
	assert_int_equal(seq, 2000);
	engine_detector_info(e1, 0, &in1);
	engine_detector_info(e2, 0, &in2);
	assert_true(in1.groups > 0);
	assert_int_equal(in2.groups, in1.groups);
	assert_int_equal(in2.events, in1.events);
	assert_int_equal(in2.anomalies, in1.anomalies);
	engine_detector_info(e2, 1, &in2);
	assert_int_equal(in2.groups, 0);
	assert_int_equal(in2.events, 0);
	engine_detector_info(e2, 2, &in2);
	assert_int_equal(in2.groups, 0);
	/* The clock came back too: old events are late for x. */
	assert_int_equal(engine_max_event_time(e2), engine_max_event_time(e1));

	/* x goes on exactly as it would have (but for its labels). */
	mark = r1.n;
	feed(e1, 2000, NEVENTS, &r1);
	engine_finish(e1, 0, recs_emit, &r1);
	feed(e2, 2000, NEVENTS, &r2);
	engine_finish(e2, 0, recs_emit, &r2);
	n1 = recs_of(&r1, mark, "x", x1, 256);
	n2 = recs_of(&r2, 0, "x", x2, 256);
	assert_true(n1 > 0);
	assert_int_equal(n1, n2);
	for (i = 0; i < n1; i++) {
		/* Same id, status, value, score; alert differs. */
		assert_non_null(strstr(x2[i], "\"alert\":\"b\""));
		assert_non_null(strstr(x1[i], "\"alert\":\"a\""));
		assert_memory_equal(x1[i], x2[i],
		                    strstr(x1[i], "\"alert\"") - x1[i]);
	}
	engine_free(e1);
	engine_free(e2);
	recs_free(&r1);
	recs_free(&r2);
}

/* --- damaged files ------------------------------------------------------ */

/* Detectors whose state is all checked on load (no type history):
 * windows, sketches, event ids, keys, firing flags. */
static size_t
checked_detectors(struct sn_detector *d)
{
	size_t n = 0;

	d[n++] = thr("each", "latency_ms", "greater_than", 2500, 0, NULL);
	d[n] = thr("avg", "latency_ms", "greater_than", 1000, 60 * SEC, "avg");
	d[n].group_by = by_app_model;
	d[n++].ngroup_by = 2;
	d[n++] =
	        thr("p95", "latency_ms", "greater_than", 2000, 30 * SEC, "p95");
	d[n] = det("absent", "rate", NULL, 10 * SEC);
	d[n].condition = "less_than";
	d[n].threshold = 1;
	d[n++].has_threshold = true;
	return n;
}

/*
 * After a failed load the engine is as engine_new made it: no groups,
 * no clock, and it runs exactly like a fresh engine.
 */
static void
assert_fresh_and_working(struct engine *e, const struct sn_detectors *dets)
{
	struct engine *fresh = engine_new(dets, NULL);
	struct recs r1 = {0}, r2 = {0};
	size_t i;

	assert_int_equal(total_groups(e), 0);
	assert_int_equal(engine_max_event_time(e), INT64_MIN);
	feed(e, 1400, 1700, &r1);
	feed(fresh, 1400, 1700, &r2);
	assert_true(r1.n > 0);
	assert_int_equal(r1.n, r2.n);
	for (i = 0; i < r1.n; i++)
		assert_string_equal(r1.r[i], r2.r[i]);
	engine_free(fresh);
	recs_free(&r1);
	recs_free(&r2);
}

/* Loads image p (len bytes) through a file into a fresh engine. */
static int
load_image(const struct sn_detectors *dets, const uint8_t *p, size_t len,
           struct engine **out)
{
	char path[128];
	uint64_t seq = 12345;
	int rc;

	path_of(path, sizeof(path), "bad.ckpt");
	spit(path, p, len);
	*out = engine_new(dets, NULL);
	rc = checkpoint_load(*out, path, &seq);
	if (rc != 1)
		assert_int_equal(seq, 12345);
	return rc;
}

static void
expect_rejected(const struct sn_detectors *dets, const uint8_t *p, size_t len,
                int check_engine)
{
	struct engine *e;

	assert_int_equal(load_image(dets, p, len, &e), -1);
	if (check_engine)
		assert_fresh_and_working(e, dets);
	else
		assert_int_equal(total_groups(e), 0);
	engine_free(e);
}

static void
test_missing_file(void **unused)
{
	struct sn_detector d[8];
	struct sn_detectors dets = {NULL, d, 0};
	struct engine *e;
	char path[128];
	uint64_t seq = 77;

	(void)unused;
	dets.count = checked_detectors(d);
	e = engine_new(&dets, NULL);
	path_of(path, sizeof(path), "none.ckpt");
	assert_int_equal(checkpoint_load(e, path, &seq), 0);
	assert_int_equal(seq, 77);
	assert_fresh_and_working(e, &dets);
	engine_free(e);
}

static void
test_damaged_files_are_refused(void **unused)
{
	struct sn_detector d[8];
	struct sn_detectors dets = {NULL, d, 0};
	struct engine *e;
	struct recs r = {0};
	uint8_t *img, *bad;
	char path[128];
	size_t len, i;
	uint32_t v;

	(void)unused;
	dets.count = checked_detectors(d);
	path_of(path, sizeof(path), "good.ckpt");
	e = engine_new(&dets, NULL);
	feed(e, 0, 1200, &r);
	assert_int_equal(checkpoint_save(e, 1200, path), 0);
	engine_free(e);
	recs_free(&r);
	img = slurp(path, &len);
	bad = malloc(len);
	assert_non_null(bad);
	print_message("# checkpoint of %llu bytes\n", (unsigned long long)len);

	/* The intact image loads. */
	assert_int_equal(load_image(&dets, img, len, &e), 1);
	assert_true(total_groups(e) > 0);
	engine_free(e);

	/* Truncated anywhere, and one byte too long. */
	for (i = 0; i < len; i++)
		expect_rejected(&dets, img, i, i % 211 == 0);
	memcpy(bad, img, len);
	{
		uint8_t *longer = malloc(len + 1);

		assert_non_null(longer);
		memcpy(longer, img, len);
		longer[len] = 0;
		expect_rejected(&dets, longer, len + 1, 1);
		free(longer);
	}

	/* Any byte flipped, the checksum's included. */
	for (i = 0; i < len; i++) {
		memcpy(bad, img, len);
		bad[i] ^= 0x41;
		expect_rejected(&dets, bad, len, i % 211 == 0);
	}

	/* Another version, another byte order, another magic: refused
	 * even with a valid checksum. */
	memcpy(bad, img, len);
	v = CHECKPOINT_VERSION + 1;
	memcpy(bad + 8, &v, 4);
	fix_crc(bad, len);
	expect_rejected(&dets, bad, len, 1);
	memcpy(bad, img, len);
	v = 0x04030201;
	memcpy(bad + 12, &v, 4);
	fix_crc(bad, len);
	expect_rejected(&dets, bad, len, 1);
	memcpy(bad, img, len);
	bad[0] = 'X';
	fix_crc(bad, len);
	expect_rejected(&dets, bad, len, 1);

	/* Garbage: random bytes, then random bodies behind a good header
	 * with a valid checksum. */
	for (i = 0; i < 200; i++) {
		size_t n = (size_t)(mix(i) % len), k;
		uint64_t body;

		for (k = 0; k < n; k++)
			bad[k] = (uint8_t)mix(i * 100000 + k);
		expect_rejected(&dets, bad, n, i % 50 == 0);
		if (n < 40)
			continue;
		memcpy(bad, img, 32);
		body = n - 36;
		memcpy(bad + 24, &body, 8);
		fix_crc(bad, n);
		expect_rejected(&dets, bad, n, i % 50 == 0);
	}
	free(bad);
	free(img);
}

/*
 * A few bytes of the body changed and the checksum fixed, as a fuzzer
 * would: the loader must refuse or load, never crash, read out of
 * bounds or allocate wildly; and what it loads must run (these
 * detectors keep no type history, so all their state is checked).
 */
static void
test_mutations_under_valid_checksum(void **unused)
{
	struct sn_detector d[8];
	struct sn_detectors dets = {NULL, d, 0};
	struct engine *e;
	struct recs r = {0};
	uint8_t *img, *bad;
	char path[128];
	size_t len, i, k, loaded = 0, refused = 0;

	(void)unused;
	dets.count = checked_detectors(d);
	path_of(path, sizeof(path), "mut.ckpt");
	e = engine_new(&dets, NULL);
	feed(e, 0, 1500, &r);
	assert_int_equal(checkpoint_save(e, 1500, path), 0);
	engine_free(e);
	recs_free(&r);
	img = slurp(path, &len);
	bad = malloc(len);
	assert_non_null(bad);
	for (i = 0; i < 3000; i++) {
		uint64_t m = mix(i + 777);
		size_t nflip = 1 + m % 4;

		memcpy(bad, img, len);
		for (k = 0; k < nflip; k++) {
			uint64_t x = mix(m + k);
			size_t at = 32 + (size_t)(x % (len - 36));

			bad[at] = (x >> 32) & 1
			                  ? (uint8_t)(x >> 40)
			                  : bad[at] ^ (uint8_t)(1u << (x >>
			                                               48) % 8);
		}
		fix_crc(bad, len);
		if (load_image(&dets, bad, len, &e) == 1) {
			loaded++;
			feed(e, 1500, 1800, &r);
			engine_finish(e, 0, recs_emit, &r);
			recs_free(&r);
		} else {
			refused++;
			assert_int_equal(total_groups(e), 0);
		}
		engine_free(e);
	}
	print_message("# %zu mutations loaded, %zu refused\n", loaded, refused);
	assert_true(refused > 0);
	free(bad);
	free(img);
}

/* --- atomic save ------------------------------------------------------- */

static void
test_save_is_atomic(void **unused)
{
	struct sn_detector d[8];
	struct sn_detectors dets = {NULL, d, 0};
	struct engine *e;
	struct recs r = {0};
	char path[128], tmp[160], nodir[160], ro[128], rofile[160];
	uint8_t *before, *after;
	size_t lb, la;
	struct stat st;
	uint64_t seq = 0;

	(void)unused;
	dets.count = checked_detectors(d);
	path_of(path, sizeof(path), "atomic.ckpt");
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	e = engine_new(&dets, NULL);
	feed(e, 0, 1000, &r);
	assert_int_equal(checkpoint_save(e, 1000, path), 0);
	assert_int_equal(stat(tmp, &st), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	before = slurp(path, &lb);

	feed(e, 1000, 2000, &r);
	/* path.tmp cannot be created (a folder is in the way). */
	assert_int_equal(mkdir(tmp, 0700), 0);
	assert_int_equal(checkpoint_save(e, 2000, path), -1);
	assert_int_equal(rmdir(tmp), 0);
	after = slurp(path, &la);
	assert_int_equal(la, lb);
	assert_memory_equal(before, after, lb);
	free(after);

	/* Writing fails half way (the disk is full). */
	assert_int_equal(symlink("/dev/full", tmp), 0);
	assert_int_equal(checkpoint_save(e, 2000, path), -1);
	assert_int_equal(lstat(tmp, &st), -1);
	after = slurp(path, &la);
	assert_int_equal(la, lb);
	assert_memory_equal(before, after, lb);
	free(after);

	/* The folder is gone. */
	snprintf(nodir, sizeof(nodir), "%s/missing/x.ckpt", tmpdir);
	assert_int_equal(checkpoint_save(e, 2000, nodir), -1);

	/* An unwritable folder (root writes anyway: skipped as root). */
	path_of(ro, sizeof(ro), "ro");
	snprintf(rofile, sizeof(rofile), "%s/x.ckpt", ro);
	assert_int_equal(mkdir(ro, 0700), 0);
	assert_int_equal(checkpoint_save(e, 1000, rofile), 0);
	free(before);
	before = slurp(rofile, &lb);
	if (geteuid() != 0) {
		assert_int_equal(chmod(ro, 0500), 0);
		assert_int_equal(checkpoint_save(e, 2000, rofile), -1);
		assert_int_equal(chmod(ro, 0700), 0);
		after = slurp(rofile, &la);
		assert_int_equal(la, lb);
		assert_memory_equal(before, after, lb);
		free(after);
	}

	/* The old checkpoint still loads, at its seq. */
	engine_free(e);
	e = engine_new(&dets, NULL);
	assert_int_equal(checkpoint_load(e, path, &seq), 1);
	assert_int_equal(seq, 1000);
	engine_free(e);
	free(before);
	recs_free(&r);
}

/* An engine with no event yet: clock and all, a checkpoint of nothing. */
static void
test_empty_engine(void **unused)
{
	struct sn_detector d[16];
	struct sn_detectors dets = {NULL, d, 0};
	struct engine *e;
	char path[128];
	uint64_t seq = 1;

	(void)unused;
	dets.count = all_detectors(d);
	path_of(path, sizeof(path), "empty.ckpt");
	e = engine_new(&dets, NULL);
	assert_int_equal(checkpoint_save(e, 0, path), 0);
	engine_free(e);
	e = engine_new(&dets, NULL);
	assert_int_equal(checkpoint_load(e, path, &seq), 1);
	assert_int_equal(seq, 0);
	assert_int_equal(engine_max_event_time(e), INT64_MIN);
	assert_int_equal(engine_watermark(e), INT64_MIN);
	assert_int_equal(total_groups(e), 0);
	engine_free(e);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_restore_continues_identically),
	        cmocka_unit_test(test_changed_detectors_start_empty),
	        cmocka_unit_test(test_missing_file),
	        cmocka_unit_test(test_damaged_files_are_refused),
	        cmocka_unit_test(test_mutations_under_valid_checksum),
	        cmocka_unit_test(test_save_is_atomic),
	        cmocka_unit_test(test_empty_engine),
	};

	log_init("test", LOG_LEVEL_ERROR, LOG_FORMAT_TEXT);
	return cmocka_run_group_tests(tests, setup, teardown);
}
