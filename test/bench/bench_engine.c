/*
 * bench_engine.c: the detection engine alone, on one core.
 *
 * Feeds N synthetic events (1000 applications x 3 models, event time
 * moving 1 s per 1000 events, a little out of order, a few errors and
 * latency spikes) through 10 detectors: threshold each / avg / p95 /
 * max / sum, statistical zscore / ewma / error_rate, rate absence and
 * rate baseline.  Prints events per second, detector updates per second
 * (events x detectors), groups tracked and bytes of state per group.
 *
 *   bench_engine [N]        (default 2000000)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sys/resource.h>

#include "../../detectd/engine.h"
#include "bench.h"
#include "log.h"
#include "util.h"

#define APPS   1000
#define MODELS 3

int
main(int argc, char **argv)
{
	static const char *models[MODELS] = {"gpt-4o", "gpt-4o-mini", "claude"};
	size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 2000000, i, k;
	struct sn_detector d[10];
	struct sn_detectors dets = {NULL, d, 10};
	struct engine_det_info in;
	struct sn_event ev;
	struct engine *e;
	char apps[APPS][16], id[32];
	size_t records = 0, groups = 0, bytes = 0;
	uint32_t s = 12345;
	double t0, t1;
	int64_t base = 1762430400000LL;

	log_init("bench", LOG_LEVEL_WARN, LOG_FORMAT_TEXT);
	bench_detectors(d, 1);

	for (i = 0; i < APPS; i++)
		snprintf(apps[i], sizeof(apps[i]), "app-%zu", i);
	e = engine_new(&dets, NULL);
	memset(&ev, 0, sizeof(ev));
	ev.event_type.p = "llm.response";
	ev.event_type.len = 12;
	ev.json.p = "{}";
	ev.json.len = 2;
	ev.timestamp.p = "";
	ev.present = SN_EV_LATENCY_MS | SN_EV_TOTAL_TOKENS | SN_EV_COST;

	t0 = bench_now_s();
	for (i = 0; i < n; i++) {
		uint32_t r = bench_rnd(&s);
		const char *app = apps[r % APPS];
		const char *model = models[(r >> 10) % MODELS];

		ev.seq = i;
		/* 1000 events per second of event time, up to 2 s late. */
		ev.ts_ms = base + (int64_t)i - (int64_t)((r >> 12) % 2000);
		ev.latency_ms =
		        200 + (r >> 16) % 800 + ((r & 0x3ff) == 0 ? 6000 : 0);
		ev.total_tokens = 100 + (r >> 20) % 400;
		ev.cost = ev.total_tokens * 2e-5;
		snprintf(id, sizeof(id), "ev-%zu", i);
		ev.event_id.p = id;
		ev.event_id.len = (uint32_t)strlen(id);
		ev.application_id.p = app;
		ev.application_id.len = (uint32_t)strlen(app);
		ev.model.p = model;
		ev.model.len = (uint32_t)strlen(model);
		ev.status.p = (r & 0xff) == 0 ? "error" : "success";
		ev.status.len = (uint32_t)strlen(ev.status.p);
		engine_feed(e, &ev, 0, bench_count, &records);
	}
	engine_finish(e, 0, bench_count, &records);
	t1 = bench_now_s();

	printf("events              %zu\n", n);
	printf("detectors running   %zu\n", engine_running(e));
	printf("seconds             %.3f\n", t1 - t0);
	printf("events/s            %.0f\n", (double)n / (t1 - t0));
	printf("detector updates/s  %.0f\n",
	       (double)n * (double)engine_running(e) / (t1 - t0));
	printf("records emitted     %zu\n", records);
	for (k = 0; k < engine_detector_count(e); k++) {
		engine_detector_info(e, k, &in);
		printf("  %-11s groups %6llu  bytes/group %6zu  late %llu\n",
		       in.id, (unsigned long long)in.groups, in.state_bytes,
		       (unsigned long long)in.late);
		groups += in.groups;
		bytes += in.groups * in.state_bytes;
	}
	printf("groups tracked      %zu\n", groups);
	printf("state bytes/group   %.0f (avg over detectors, keys not "
	       "counted)\n",
	       groups ? (double)bytes / (double)groups : 0.0);
	printf("state bytes total   %zu\n", bytes);
	{
		struct rusage ru;

		getrusage(RUSAGE_SELF, &ru);
		printf("peak RSS            %ld KiB\n", ru.ru_maxrss);
	}
	engine_free(e);
	return 0;
}
