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
 * under a valid checksum), and that saving is atomic.  Last, the type
 * state (a strategy's history, a rate baseline), which each type checks
 * on load: a state that fails is reset, the load goes on, and whatever a
 * mutated state holds, the engine runs on it cleanly.
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
#include "../../detectd/detector.h"
#include "../../detectd/engine.h"
#include "../../detectd/strategy_impl.h"
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
static char *by_app[] = {"application_id"};

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

/* Detectors without type state: windows, sketches, event ids, keys,
 * firing flags (history_detectors below have type state). */
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

static size_t history_detectors(struct sn_detector *d);

/*
 * A few bytes of the body changed and the checksum fixed, as a fuzzer
 * would: the loader must refuse or load, never crash, read out of
 * bounds or allocate wildly; and what it loads must run.  Once with
 * detectors without type state, once with detectors with (the bytes
 * changed land anywhere: test_type_state_mutations aims at the type
 * state).
 */
static void
mutations_under_valid_checksum(int with_history)
{
	struct sn_detector d[16];
	struct sn_detectors dets = {NULL, d, 0};
	struct engine *e;
	struct recs r = {0};
	uint8_t *img, *bad;
	char path[128];
	size_t len, i, k, loaded = 0, refused = 0;

	dets.count = with_history ? history_detectors(d) : checked_detectors(d);
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

static void
test_mutations_under_valid_checksum(void **unused)
{
	(void)unused;
	mutations_under_valid_checksum(0);
	mutations_under_valid_checksum(1);
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

/* --- type state ----------------------------------------------------------- */

/*
 * Detectors with type state: every strategy, on latency by application;
 * auto with 2 s windows, so the story's 900 s give it more than the 300
 * windows after which its histogram starts; zscore over p95 windows
 * (a sketch and a history in one group); rate baselines, one of a
 * history of 2 so its ring wraps all the time.
 */
static size_t
history_detectors(struct sn_detector *d)
{
	static const char *strategies[] = {"zscore", "mad",   "iqr",
	                                   "ewma",   "cusum", "auto"};
	static char ids[6][16];
	size_t n = 0, i;

	for (i = 0; i < 6; i++) {
		snprintf(ids[i], sizeof(ids[i]), "h-%s", strategies[i]);
		d[n] = stat_det(ids[i], "latency_ms", strategies[i]);
		d[n].group_by = by_app;
		d[n++].ngroup_by = 1;
	}
	d[n - 1].window_ms = 2 * SEC;
	d[n] = stat_det("h-p95", "latency_ms", "zscore");
	d[n].aggregation = "p95";
	d[n].history = 3;
	d[n].min_samples = 2;
	d[n].group_by = by_app;
	d[n++].ngroup_by = 1;
	d[n] = det("h-rate", "rate", NULL, 10 * SEC);
	d[n].condition = "greater_than";
	d[n].threshold = 1.8;
	d[n].has_threshold = true;
	d[n].baseline = "history";
	d[n].history = 10;
	d[n].group_by = by_app;
	d[n++].ngroup_by = 1;
	d[n] = det("h-rate2", "rate", NULL, 5 * SEC);
	d[n].condition = "less_than";
	d[n].threshold = 0.3;
	d[n].has_threshold = true;
	d[n].baseline = "history";
	d[n++].history = 2;
	return n;
}

/* Where one group's type state lies in a checkpoint image. */
struct region {
	size_t off, len;
	size_t det; /* the detector record's index in the file */
};

static uint64_t
rd(const uint8_t *p, size_t len, size_t *at, size_t n)
{
	uint64_t v = 0;

	assert_true(*at + n <= len);
	memcpy(&v, p + *at, n); /* little-endian host, as the file */
	*at += n;
	return v;
}

/*
 * Finds the type state of every group in image p (the layout at the top
 * of detectd/checkpoint.c); returns how many, at most max in out.
 */
static size_t
tstate_regions(const uint8_t *p, size_t len, struct region *out, size_t max)
{
	size_t at = 32 + 8 + 1 + 8, n = 0, end, k;
	uint64_t ndet, ngroups, g, b, tsize, nbuckets, ids_at, has_sketch, v;

	ndet = rd(p, len, &at, 4);
	for (k = 0; k < ndet; k++) {
		v = rd(p, len, &at, 4); /* the id */
		at += v;
		v = rd(p, len, &at, 4); /* the identity */
		at += v;
		v = rd(p, len, &at, 8); /* the state's length */
		end = at + v;
		tsize = rd(p, len, &at, 4);
		nbuckets = rd(p, len, &at, 4);
		assert_int_equal(rd(p, len, &at, 4), sizeof(struct win_bucket));
		ids_at = rd(p, len, &at, 4);
		assert_int_equal(ids_at, offsetof(struct win_bucket, ids));
		has_sketch = rd(p, len, &at, 1);
		at += 8 + 1 + 6 * 8;
		ngroups = rd(p, len, &at, 8);
		for (g = 0; g < ngroups; g++) {
			v = rd(p, len, &at, 2); /* the key */
			at += v + 8 + 8 + 4 + 1 + 1;
			if (tsize > 0 && n < max) {
				out[n].off = at;
				out[n].len = tsize;
				out[n++].det = k;
			}
			at += tsize;
			for (b = 0; b < nbuckets; b++) {
				if (!rd(p, len, &at, 1))
					continue;
				assert_true(at + ids_at <= len);
				at += ids_at +
				      p[at +
				        offsetof(struct win_bucket, idlen)];
				if (has_sketch) {
					v = rd(p, len, &at, 4);
					at += v;
				}
			}
		}
		assert_int_equal(at, end);
	}
	assert_int_equal(at, len - 4);
	return n;
}

/* Runs checkpoint_load with warnings captured: returns them (free()),
 * the load's result in *rc. */
static char *
load_logged(struct engine *e, const char *path, int *rc)
{
	char lp[128];
	uint64_t seq = 0;
	uint8_t *text;
	size_t n;
	int fd, saved;

	path_of(lp, sizeof(lp), "load.log");
	fd = open(lp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	saved = dup(STDERR_FILENO);
	assert_true(saved >= 0);
	assert_true(dup2(fd, STDERR_FILENO) >= 0);
	close(fd);
	log_set_level(LOG_LEVEL_WARN);
	*rc = checkpoint_load(e, path, &seq);
	log_set_level(LOG_LEVEL_ERROR);
	assert_true(dup2(saved, STDERR_FILENO) >= 0);
	close(saved);
	text = slurp(lp, &n);
	text[n] = '\0';
	return (char *)text;
}

/* Lines of log that say detector id's type state failed its check. */
static int
reset_lines(const char *log, const char *id, unsigned long *groups)
{
	char want[64];
	const char *p = log, *hit;
	int n = 0;

	snprintf(want, sizeof(want), "detector %s: the type state of ", id);
	while ((hit = strstr(p, want)) != NULL) {
		n++;
		if (groups != NULL)
			*groups = strtoul(hit + strlen(want), NULL, 10);
		p = hit + 1;
	}
	return n;
}

/*
 * A group whose type state is garbage (every byte 0xff: counts and
 * indices far out of range, doubles NaN) is reset as a new group's, the
 * load goes on, one warning per detector says how many groups; and the
 * group keeps its firing state: a detector checkpointed right after it
 * fired still resolves after the restore.
 */
static void
test_bad_type_state_is_reset(void **unused)
{
	struct sn_detector d[16];
	struct sn_detectors dets = {NULL, d, 0};
	struct engine_det_info in;
	struct engine *a, *b, *c;
	struct recs ra = {0}, rb = {0}, rc = {0};
	struct region reg[256], fresh[64];
	size_t fire_at[16] = {0}, i, j, k, n, nfresh, len, flen, resolved = 0;
	uint8_t *img, *fimg;
	char path[128], path2[128], *log;
	unsigned long groups;
	int rcl;

	(void)unused;
	dets.count = history_detectors(d);
	path_of(path, sizeof(path), "bad-ts.ckpt");
	path_of(path2, sizeof(path2), "bad-ts2.ckpt");

	/* A new group's type state, per detector: groups made by the first
	 * event, before any window closed. */
	a = engine_new(&dets, NULL);
	feed(a, 0, 1, &ra);
	assert_int_equal(checkpoint_save(a, 1, path), 0);
	engine_free(a);
	fimg = slurp(path, &flen);
	nfresh = tstate_regions(fimg, flen, fresh, SN_ARRAY_LEN(fresh));
	assert_int_equal(nfresh, dets.count);

	/* When each detector first fires in the story. */
	a = engine_new(&dets, NULL);
	for (i = 0; i < NEVENTS; i++) {
		k = ra.n;
		feed(a, i, i + 1, &ra);
		for (; k < ra.n; k++)
			for (j = 0; j < dets.count; j++)
				if (fire_at[j] == 0 &&
				    recs_is(&ra, k, d[j].id, "firing"))
					fire_at[j] = i + 1;
	}
	engine_free(a);

	for (j = 0; j < dets.count; j++) {
		if (fire_at[j] == 0)
			continue;
		b = engine_new(&dets, NULL);
		feed(b, 0, fire_at[j], &rb);
		assert_int_equal(checkpoint_save(b, fire_at[j], path), 0);
		img = slurp(path, &len);
		n = tstate_regions(img, len, reg, SN_ARRAY_LEN(reg));
		for (i = 0; i < n; i++)
			memset(img + reg[i].off, 0xff, reg[i].len);
		fix_crc(img, len);
		spit(path, img, len);

		c = engine_new(&dets, NULL);
		log = load_logged(c, path, &rcl);
		assert_int_equal(rcl, 1);
		/* One line per detector, with all its groups. */
		for (k = 0; k < dets.count; k++) {
			engine_detector_info(b, k, &in);
			groups = 0;
			assert_int_equal(reset_lines(log, d[k].id, &groups),
			                 in.groups > 0);
			if (in.groups > 0)
				assert_int_equal(groups, in.groups);
		}
		free(log);

		/* Each state is now a new group's, and loads clean. */
		assert_int_equal(checkpoint_save(c, fire_at[j], path2), 0);
		free(img);
		img = slurp(path2, &len);
		assert_int_equal(
		        tstate_regions(img, len, reg, SN_ARRAY_LEN(reg)), n);
		for (i = 0; i < n; i++) {
			assert_int_equal(reg[i].len, fresh[reg[i].det].len);
			assert_memory_equal(img + reg[i].off,
			                    fimg + fresh[reg[i].det].off,
			                    reg[i].len);
		}
		engine_free(c);
		c = engine_new(&dets, NULL);
		log = load_logged(c, path2, &rcl);
		assert_int_equal(rcl, 1);
		assert_null(strstr(log, "fails its check"));
		free(log);

		/* The group was firing: with a fresh history it resolves. */
		feed(c, fire_at[j], NEVENTS, &rc);
		engine_finish(c, 0, recs_emit, &rc);
		for (i = 0; i < rc.n; i++)
			if (recs_is(&rc, i, d[j].id, "resolved"))
				break;
		if (i == rc.n)
			fail_msg("detector %s: reset while firing at event "
			         "%zu, never resolved",
			         d[j].id, fire_at[j]);
		resolved++;
		engine_free(b);
		engine_free(c);
		recs_free(&rb);
		recs_free(&rc);
		free(img);
	}
	print_message("# %zu detectors reset while firing, all resolved\n",
	              resolved);
	assert_true(resolved >= dets.count - 2);
	recs_free(&ra);
	free(fimg);
}

/* Sets a value at a spot of the type state at p (len bytes): a bit, a
 * byte, an index-like u32 or a special double, most often near the
 * front, where the rings' indices and counters are. */
static void
mutate_tstate(uint8_t *p, size_t len, uint64_t r)
{
	static const uint32_t u32s[] = {
	        0,  1,  2,   3,   9,   10,         11,         19,
	        20, 21, 287, 288, 289, 0x7fffffff, 0x80000000, UINT32_MAX};
	static const double dbls[] = {0,   -1,  1e308, -1e308,   1e-310,
	                              100, 1e9, NAN,   INFINITY, -INFINITY};
	size_t at = r & 1 ? (size_t)((r >> 8) % (len < 64 ? len : 64))
	                  : (size_t)((r >> 8) % len);
	uint32_t u;
	double v;

	switch ((r >> 40) % 4) {
	case 0:
		p[at] ^= (uint8_t)(1u << ((r >> 48) % 8));
		break;
	case 1:
		p[at] = (uint8_t)(r >> 52);
		break;
	case 2:
		at &= ~(size_t)3;
		if (at + 4 <= len) {
			u = u32s[(r >> 52) % SN_ARRAY_LEN(u32s)];
			memcpy(p + at, &u, 4);
		}
		break;
	default:
		at &= ~(size_t)7;
		if (at + 8 <= len) {
			v = dbls[(r >> 52) % SN_ARRAY_LEN(dbls)];
			memcpy(p + at, &v, 8);
		}
		break;
	}
}

#define TS_MUTATIONS 3000
#define TS_AT                                              \
	4500 /* events before the checkpoint: auto is past \
	        its 300 windows */

/*
 * Bytes inside the type state of groups changed, the checksum fixed:
 * the load goes on (a type state never fails it), each state is either
 * taken as it is, when its check passes, or reset, and then the engine
 * runs on: under the sanitizer build, any read or write out of bounds
 * aborts here.
 */
static void
test_type_state_mutations(void **unused)
{
	struct sn_detector d[16];
	struct sn_detectors dets = {NULL, d, 0};
	struct region reg[256];
	struct engine *e;
	struct recs r = {0};
	uint8_t *img, *bad, *back;
	char path[128], path2[128];
	size_t len, blen, n, i, k, hit[3], nhit, taken = 0, reset = 0;
	size_t per_det[16] = {0}, reset_det[16] = {0}, x;
	uint64_t m, seq;

	(void)unused;
	dets.count = history_detectors(d);
	path_of(path, sizeof(path), "ts.ckpt");
	path_of(path2, sizeof(path2), "ts-back.ckpt");
	e = engine_new(&dets, NULL);
	feed(e, 0, TS_AT, &r);
	assert_int_equal(checkpoint_save(e, TS_AT, path), 0);
	engine_free(e);
	recs_free(&r);
	img = slurp(path, &len);
	n = tstate_regions(img, len, reg, SN_ARRAY_LEN(reg));
	assert_true(n >= dets.count);
	bad = malloc(len);
	assert_non_null(bad);

	for (i = 0; i < TS_MUTATIONS; i++) {
		m = mix(i + 4242);
		memcpy(bad, img, len);
		/* One group's state, now and then two or three. */
		nhit = m % 8 == 0 ? 2 + (m >> 3) % 2 : 1;
		for (k = 0; k < nhit; k++) {
			hit[k] = (size_t)(mix(m + 100 * k) % n);
			for (x = 0; x <= (mix(m + 100 * k) >> 32) % 3; x++)
				mutate_tstate(bad + reg[hit[k]].off,
				              reg[hit[k]].len,
				              mix(m + 100 * k + x + 1));
			per_det[reg[hit[k]].det]++;
		}
		fix_crc(bad, len);
		spit(path, bad, len);
		e = engine_new(&dets, NULL);
		seq = 0;
		assert_int_equal(checkpoint_load(e, path, &seq), 1);
		assert_int_equal(seq, TS_AT);

		/* Taken whole, or reset where a state failed: nothing
		 * outside the states hit changes. */
		assert_int_equal(checkpoint_save(e, TS_AT, path2), 0);
		back = slurp(path2, &blen);
		assert_int_equal(blen, len);
		if (memcmp(back, bad, len) == 0)
			taken++;
		else {
			reset++;
			for (k = 0; k < nhit; k++) {
				if (memcmp(back + reg[hit[k]].off,
				           bad + reg[hit[k]].off,
				           reg[hit[k]].len) != 0)
					reset_det[reg[hit[k]].det]++;
				memcpy(back + reg[hit[k]].off,
				       bad + reg[hit[k]].off, reg[hit[k]].len);
			}
			memcpy(back + len - 4, bad + len - 4, 4);
			assert_memory_equal(back, bad, len);
		}
		free(back);

		feed(e, TS_AT, TS_AT + 400, &r);
		engine_finish(e, 0, recs_emit, &r);
		recs_free(&r);
		engine_free(e);
	}
	print_message("# %zu type-state mutations: %zu taken as they are, "
	              "%zu with states reset\n",
	              (size_t)TS_MUTATIONS, taken, reset);
	for (k = 0; k < dets.count; k++) {
		print_message("#   %-10s %4zu mutated, %4zu reset\n", d[k].id,
		              per_det[k], reset_det[k]);
		/* Every detector's state was hit, and refused at times. */
		assert_true(per_det[k] > 0);
		assert_true(reset_det[k] > 0);
	}
	assert_true(taken > 0);
	free(bad);
	free(img);
}

/* The first detector of e, running. */
static struct det *
first_det(struct engine *e)
{
	struct det *d = engine_det(e, 0);

	assert_true(d->running);
	return d;
}

/* Judges count (a closed window's count) on tstate. */
static void
judge_count(const struct det *d, void *tstate, double count)
{
	struct det_sample s;
	struct det_verdict v;

	memset(&s, 0, sizeof(s));
	memset(&v, 0, sizeof(v));
	s.value = count;
	s.has_value = 1;
	s.samples = (uint64_t)count;
	d->type->judge(d, tstate, &s, &v);
}

/* The rate type's check_state: its own states pass, broken ones not. */
static void
test_rate_check_state(void **unused)
{
	struct sn_detector cfg[1];
	struct sn_detectors dets = {NULL, cfg, 1};
	struct det_rate_state *st, *b;
	struct engine *e;
	const struct det *d;
	size_t i;
	int k;

	(void)unused;
	cfg[0] = det("r", "rate", NULL, 10 * SEC);
	cfg[0].condition = "greater_than";
	cfg[0].threshold = 1.8;
	cfg[0].has_threshold = true;
	cfg[0].baseline = "history";
	cfg[0].history = 10;
	e = engine_new(&dets, NULL);
	d = first_det(e);
	assert_int_equal(d->type_size,
	                 sizeof(struct det_rate_state) + 10 * sizeof(double));
	st = calloc(1, d->type_size);
	assert_non_null(st);
	d->type->group_init(d, st);
	assert_int_equal(d->type->check_state(d, st), 0);
	/* Warming up, full, wrapped, with hits (not learnt) and zeros. */
	for (i = 0; i < 57; i++) {
		judge_count(d, st, i % 13 == 12 ? 1000 : (double)(i % 7));
		assert_int_equal(d->type->check_state(d, st), 0);
	}
	assert_int_equal(st->n, 10);

	for (k = 0; k < 11; k++) {
		b = malloc(d->type_size);
		assert_non_null(b);
		memcpy(b, st, d->type_size);
		switch (k) {
		case 0:
			b->n = 11; /* more than the ring holds */
			break;
		case 1:
			b->next = 10; /* the slot past the end */
			break;
		case 2:
			b->next = UINT32_MAX;
			break;
		case 3:
			b->n = 4; /* not full: next must be n */
			b->next = 7;
			break;
		case 4:
			b->counts[0] = NAN;
			break;
		case 5:
			b->counts[9] = -1;
			break;
		case 6:
			b->counts[3] = INFINITY;
			break;
		case 7:
			b->sum += 1; /* not the ring's sum */
			break;
		case 8:
			b->sum = NAN;
			break;
		case 9:
			b->sum = INFINITY;
			break;
		default:
			b->sum = -b->sum;
			break;
		}
		if (d->type->check_state(d, b) != -1)
			fail_msg("rate: breakage %d accepted", k);
		free(b);
	}
	free(st);
	engine_free(e);
}

/* Without a baseline a rate keeps no state, nor does a threshold: their
 * check passes; a statistical detector's is its strategy's. */
static void
test_other_check_states(void **unused)
{
	struct sn_detector cfg[3];
	struct sn_detectors dets = {NULL, cfg, 1};
	struct strategy_params p;
	struct zscore_state *st;
	struct engine *e;
	const struct det *d;
	uint8_t dummy[8] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	size_t i;

	(void)unused;
	cfg[0] = det("r", "rate", NULL, 10 * SEC);
	cfg[0].condition = "less_than";
	cfg[0].threshold = 1;
	cfg[0].has_threshold = true;
	e = engine_new(&dets, NULL);
	d = first_det(e);
	assert_int_equal(d->type_size, 0);
	assert_int_equal(d->type->check_state(d, dummy), 0);
	engine_free(e);

	cfg[0] = thr("t", "latency_ms", "greater_than", 1, 0, NULL);
	e = engine_new(&dets, NULL);
	d = first_det(e);
	assert_int_equal(d->type_size, 0);
	assert_int_equal(d->type->check_state(d, dummy), 0);
	engine_free(e);

	cfg[0] = stat_det("s", "latency_ms", "zscore");
	e = engine_new(&dets, NULL);
	d = first_det(e);
	memset(&p, 0, sizeof(p));
	p.history = 20;
	p.min_samples = 5;
	assert_int_equal(d->type_size, strategy_zscore.state_size(&p));
	st = calloc(1, d->type_size);
	assert_non_null(st);
	d->type->group_init(d, st);
	assert_int_equal(d->type->check_state(d, st), 0);
	for (i = 0; i < 30; i++)
		judge_count(d, st, 100 + (double)(i % 5));
	assert_int_equal(d->type->check_state(d, st), 0);
	st->w.r.head = st->w.r.cap;
	assert_int_equal(d->type->check_state(d, st), -1);
	free(st);
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
	        cmocka_unit_test(test_bad_type_state_is_reset),
	        cmocka_unit_test(test_type_state_mutations),
	        cmocka_unit_test(test_rate_check_state),
	        cmocka_unit_test(test_other_check_states),
	};

	log_init("test", LOG_LEVEL_ERROR, LOG_FORMAT_TEXT);
	return cmocka_run_group_tests(tests, setup, teardown);
}
