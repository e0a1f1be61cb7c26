/*
 * bench_checkpoint.c: size and speed of detectd's engine checkpoints
 * (detectd/checkpoint.c) for 10 detectors x 1000 groups.
 *
 * The 10 detectors of bench_engine.c (threshold each / avg / p95 / max /
 * sum, statistical zscore / ewma / error_rate, rate absence and rate
 * baseline), each grouped by application_id over 1000 applications, are
 * fed N events (1000 per second of event time, so every group has open
 * windows and some history), then saved and loaded a few times.  Prints
 * the file's size, bytes per group, and the best and median save (with
 * its fsyncs) and load times.  The folder is $TMPDIR, else /tmp: on
 * tmpfs the fsyncs cost nothing, on a disk they dominate.
 *
 *   bench_checkpoint [N [APPS]]   (defaults 300000 events, 1000 apps;
 *                                  APPS at most 10000, the default
 *                                  max_groups)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sys/stat.h>
#include <unistd.h>

#include "../../detectd/checkpoint.h"
#include "../../detectd/engine.h"
#include "bench.h"
#include "log.h"
#include "util.h"

#define APPS_MAX 10000
#define ROUNDS   7

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int
main(int argc, char **argv)
{
	size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 300000, i;
	size_t napps = argc > 2 ? strtoul(argv[2], NULL, 10) : 1000;
	const char *tmp = getenv("TMPDIR");
	struct sn_detector d[10];
	struct sn_detectors dets = {NULL, d, 10};
	struct engine_det_info in;
	struct sn_event ev;
	struct engine *e, *c;
	static char apps[APPS_MAX][16];
	char id[32], path[256];
	double save[ROUNDS], load[ROUNDS], t0;
	size_t records = 0, groups = 0;
	uint64_t seq = 0;
	uint32_t s = 12345;
	int64_t base = 1762430400000LL;
	struct stat st;
	int r;

	if (napps == 0 || napps > APPS_MAX)
		napps = APPS_MAX;
	log_init("bench", LOG_LEVEL_WARN, LOG_FORMAT_TEXT);
	bench_detectors(d, 0);

	for (i = 0; i < napps; i++)
		snprintf(apps[i], sizeof(apps[i]), "app-%u", (unsigned)i);
	e = engine_new(&dets, NULL);
	memset(&ev, 0, sizeof(ev));
	ev.event_type.p = "llm.response";
	ev.event_type.len = 12;
	ev.json.p = "{}";
	ev.json.len = 2;
	ev.timestamp.p = "";
	ev.model.p = "gpt-4o";
	ev.model.len = 6;
	ev.present = SN_EV_LATENCY_MS | SN_EV_TOTAL_TOKENS | SN_EV_COST;
	for (i = 0; i < n; i++) {
		uint32_t x = bench_rnd(&s);
		const char *app = apps[x % napps];

		ev.seq = i + 1;
		ev.ts_ms = base + (int64_t)i - (int64_t)((x >> 12) % 2000);
		ev.latency_ms =
		        200 + (x >> 16) % 800 + ((x & 0x3ff) == 0 ? 6000 : 0);
		ev.total_tokens = 100 + (x >> 20) % 400;
		ev.cost = ev.total_tokens * 2e-5;
		snprintf(id, sizeof(id), "ev-%zu", i);
		ev.event_id.p = id;
		ev.event_id.len = (uint32_t)strlen(id);
		ev.application_id.p = app;
		ev.application_id.len = (uint32_t)strlen(app);
		ev.status.p = (x & 0xff) == 0 ? "error" : "success";
		ev.status.len = (uint32_t)strlen(ev.status.p);
		engine_feed(e, &ev, 0, bench_count, &records);
	}
	for (i = 0; i < engine_detector_count(e); i++) {
		engine_detector_info(e, i, &in);
		groups += in.groups;
	}

	snprintf(path, sizeof(path), "%s/bench-%d.ckpt",
	         tmp && *tmp ? tmp : "/tmp", (int)getpid());
	for (r = 0; r < ROUNDS; r++) {
		t0 = bench_now_s();
		if (checkpoint_save(e, n, path) < 0)
			return 1;
		save[r] = bench_now_s() - t0;
		c = engine_new(&dets, NULL);
		t0 = bench_now_s();
		if (checkpoint_load(c, path, &seq) != 1 || seq != n)
			return 1;
		load[r] = bench_now_s() - t0;
		engine_free(c);
	}
	if (stat(path, &st) < 0)
		return 1;
	unlink(path);
	qsort(save, ROUNDS, sizeof(double), cmp_double);
	qsort(load, ROUNDS, sizeof(double), cmp_double);

	printf("events              %zu\n", n);
	printf("detectors x groups  %zu x %zu (%zu groups)\n",
	       engine_running(e), groups / engine_running(e), groups);
	printf("folder              %s\n", tmp && *tmp ? tmp : "/tmp");
	printf("checkpoint bytes    %lld (%.0f per group)\n",
	       (long long)st.st_size, (double)st.st_size / (double)groups);
	printf("save ms             best %.2f  median %.2f\n", save[0] * 1e3,
	       save[ROUNDS / 2] * 1e3);
	printf("load ms             best %.2f  median %.2f\n", load[0] * 1e3,
	       load[ROUNDS / 2] * 1e3);
	for (i = 0; i < engine_detector_count(e); i++) {
		engine_detector_info(e, i, &in);
		printf("  %-11s groups %5llu  bytes/group in memory %6zu\n",
		       in.id, (unsigned long long)in.groups, in.state_bytes);
	}
	engine_free(e);
	return 0;
}
