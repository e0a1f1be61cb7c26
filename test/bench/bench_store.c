/*
 * bench_store.c: stored's write path alone, on one core.
 *
 * Writes N events into a fresh sentinel.db in a temporary folder the way
 * stored does: ingestd's forwarder packs events into SN_MSG_EVENTS
 * messages (FWD_BATCH_BYTES or FWD_BATCH_EVENTS, ingestd.h); stored
 * checks and decodes each message, adds its events to the open
 * transaction (store_add_events: the inserts and the rollups' cells) and
 * commits once STORE_BATCH_ROWS (8000) rows are pending; every 250 ms
 * it runs store_tick (the rollups' upserts, about once a second), the
 * spool cursor's sync (one synchronous=FULL commit a second) and the
 * storage gauges (stm_tick).  Events are client-style: a random
 * 32-hex-digit event_id (a UUID without dashes) and the current time as
 * timestamp, up to a second late (clients' clocks and queues), spread
 * over 3, 30 and 3000 (application, model) groups; then the same with
 * increasing event_ids for comparison.
 *
 * Timed: what stored does (decode, insert, commit, tick), not building
 * and encoding the messages (ingestd's work).  Prints for each run the
 * events per second of that time (wall clock), the CPU microseconds per
 * event of this thread (steadier on a shared machine: time spent
 * preempted is not in it), the commits, and the database's size per
 * event after store_close (which checkpoints the WAL into the file);
 * then the same as "key value" lines for scripts:
 *
 *   store_random_3000 61705
 *   store_cpu_us_per_event_random_3000 9.63
 *   store_bytes_per_event_random_3000 527
 *
 *   bench_store [N [FOLDER [random|increasing [GROUPS]]]]
 *
 * N: events per run (default 1000000); FOLDER: where the temporary
 * folders go (default $TMPDIR or /tmp, "" for that); the last two
 * restrict the runs to one kind of id and one group count (profiling).
 *
 * BENCH_STORE_SQL, when set, is run on the writer's connection after
 * store_open (an experiment: "PRAGMA cache_size=-65536", say), and
 * printed with the results.
 *
 * What it leaves out: the nng receive (ipc.c) and ingestd's cursor
 * (acknowledgements over a socket), and retention passes (every
 * storage.retention.interval, nothing to delete in a fresh file).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../ingestd/ingestd.h"
#include "../../stored/retention.h"
#include "../../stored/stmetrics.h"
#include "../../stored/store.h"
#include "config.h"
#include "log.h"
#include "msg.h"
#include "util.h"
#include "walckpt.h"

/* As stored/main.c: commit at this many pending rows; tick period. */
#define BENCH_BATCH_ROWS STORE_BATCH_ROWS
#define BENCH_TICK_MS    250
#define MODELS           3

/* splitmix64: 64 random bits per call, enough for UUID-like ids. */
static uint64_t
rnd64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* One event's strings: they live until the message is encoded. */
struct bench_ev {
	char id[40];
	char ts[32]; /* 24 used */
	char json[512];
	char app[32];
};

/* Formats ts_ms as the client would: 2026-11-27T06:00:00.123Z. */
static void
fmt_ts(char *out, size_t n, int64_t ts_ms)
{
	time_t secs = (time_t)(ts_ms / 1000);
	struct tm tm;

	gmtime_r(&secs, &tm);
	strftime(out, n, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + 19, n - 19, ".%03dZ", (int)(ts_ms % 1000));
}

/* This thread's CPU time, microseconds: steadier than the wall clock
 * on a shared machine (time waiting for the disk is not in it). */
static int64_t
cpu_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Event i of a run: random or increasing id, group among ngroups. */
static void
make_event(struct sn_event *ev, struct bench_ev *b, uint64_t i, int random_ids,
           int ngroups, uint64_t *rs, int64_t now)
{
	static const char *models[MODELS] = {"gpt-4o", "gpt-4o-mini",
	                                     "claude-sonnet"};
	uint64_t r = rnd64(rs), g = r % (uint64_t)ngroups;
	const char *model = models[g % MODELS];
	const char *status = (r >> 20) % 100 == 0 ? "error" : "success";
	int latency = 200 + (int)((r >> 24) % 1800);
	int prompt = 50 + (int)((r >> 36) % 400);
	int completion = 10 + (int)((r >> 46) % 300);
	double cost = (prompt + completion) * 2e-5;
	int64_t ts_ms = now - (int64_t)((r >> 8) % 1000);
	int len;

	if (random_ids)
		snprintf(b->id, sizeof(b->id), "%016" PRIx64 "%016" PRIx64,
		         rnd64(rs), rnd64(rs));
	else
		snprintf(b->id, sizeof(b->id), "%032" PRIx64, i + 1);
	snprintf(b->app, sizeof(b->app), "app-%" PRIu64, g / MODELS);
	fmt_ts(b->ts, sizeof(b->ts), ts_ms);
	len = snprintf(b->json, sizeof(b->json),
	               "{\"event_id\":\"%s\",\"timestamp\":\"%s\","
	               "\"event_type\":\"llm.response\",\"application_id\":"
	               "\"%s\",\"data\":{\"model\":\"%s\",\"status\":\"%s\","
	               "\"latency_ms\":%d,\"prompt_tokens\":%d,"
	               "\"completion_tokens\":%d,\"total_tokens\":%d,"
	               "\"cost\":%.5f}}",
	               b->id, b->ts, b->app, model, status, latency, prompt,
	               completion, prompt + completion, cost);

	memset(ev, 0, sizeof(*ev));
	ev->seq = i + 1;
	ev->ts_ms = ts_ms;
	ev->recv_ms = now;
	ev->present = SN_EV_LATENCY_MS | SN_EV_TOTAL_TOKENS |
	              SN_EV_PROMPT_TOKENS | SN_EV_COMPLETION_TOKENS |
	              SN_EV_COST;
	ev->latency_ms = latency;
	ev->prompt_tokens = prompt;
	ev->completion_tokens = completion;
	ev->total_tokens = prompt + completion;
	ev->cost = cost;
	ev->event_id = (struct sn_str){b->id, (uint32_t)strlen(b->id)};
	ev->event_type = (struct sn_str){"llm.response", 12};
	ev->application_id = (struct sn_str){b->app, (uint32_t)strlen(b->app)};
	ev->model = (struct sn_str){model, (uint32_t)strlen(model)};
	ev->status = (struct sn_str){status, (uint32_t)strlen(status)};
	ev->timestamp = (struct sn_str){b->ts, (uint32_t)strlen(b->ts)};
	ev->json = (struct sn_str){b->json, (uint32_t)len};
}

/* stored_on_msg and stored_take_events, without the daemon. */
static void
take_msg(struct store *s, const void *data, size_t len)
{
	struct msg_reader r;
	struct sn_event evs[64]; /* as stored/main.c's STORED_TAKE */
	size_t n = 0;
	int more;

	if (msg_open(&r, data, len) < 0 || r.type != SN_MSG_EVENTS ||
	    msg_check(&r) < 0) {
		fprintf(stderr, "bench_store: malformed message\n");
		exit(1);
	}
	do {
		more = msg_next_event(&r, &evs[n]) == 1;
		n += more;
		if ((n == 64 || (!more && n > 0)) &&
		    store_add_events(s, evs, n) < 0) {
			fprintf(stderr, "bench_store: insert failed\n");
			exit(1);
		}
		if (n == 64)
			n = 0;
	} while (more);
	if (store_pending(s) >= BENCH_BATCH_ROWS && store_commit(s) < 0) {
		fprintf(stderr, "bench_store: commit failed\n");
		exit(1);
	}
}

/* Removes folder/sentinel.db with its WAL and shm, then folder. */
static void
remove_db(const char *dir)
{
	static const char *const suffix[] = {"", "-wal", "-shm", "-journal"};
	char p[1024];
	size_t i;

	for (i = 0; i < 4; i++) {
		snprintf(p, sizeof(p), "%s/%s%s", dir, SN_DB_FILE, suffix[i]);
		unlink(p);
	}
	rmdir(dir);
}

/* One run; prints its line and returns events per second. */
static double
run(const char *tmp, uint64_t n, int random_ids, int ngroups)
{
	struct sn_event evs[FWD_BATCH_EVENTS];
	static struct bench_ev bev[FWD_BATCH_EVENTS];
	struct sn_buf m = {0};
	struct store *s;
	struct retention *ret;
	struct stm *stm;
	char dir[512], db[600];
	struct stat sb;
	const struct store_stats *st;
	uint64_t rs = 0x5eed0000u + (uint64_t)ngroups, i = 0, commits, stored;
	int64_t busy_us = 0, cpu = 0, t0, c0, t_wall, last_tick;
	double eps;

	snprintf(dir, sizeof(dir), "%s/sn-bench-store-XXXXXX", tmp);
	if (mkdtemp(dir) == NULL) {
		perror(dir);
		exit(1);
	}
	if (store_open(dir, &s) != 0 || (ret = retention_new(s)) == NULL) {
		fprintf(stderr, "bench_store: cannot open a store in %s\n",
		        dir);
		exit(1);
	}
	if (getenv("BENCH_STORE_SQL") != NULL &&
	    sqlite3_exec(store_db(s), getenv("BENCH_STORE_SQL"), NULL, NULL,
	                 NULL) != SQLITE_OK) {
		fprintf(stderr, "bench_store: BENCH_STORE_SQL: %s\n",
		        sqlite3_errmsg(store_db(s)));
		exit(1);
	}
	stm = stm_start(s, ret);

	t_wall = last_tick = sn_mono_ms();
	while (i < n) {
		int64_t now = sn_now_ms();
		size_t k = 0;

		/* ingestd's forwarder: a message up to its size limits. */
		msg_begin(&m, SN_MSG_EVENTS);
		msg_set_prev(&m, i);
		while (i < n && k < FWD_BATCH_EVENTS &&
		       m.len < FWD_BATCH_BYTES) {
			make_event(&evs[k], &bev[k], i, random_ids, ngroups,
			           &rs, now);
			msg_add_event(&m, &evs[k]);
			k++;
			i++;
		}

		/* stored: the message, and its timer when due. */
		t0 = sn_mono_us();
		c0 = cpu_us();
		take_msg(s, m.data, m.len);
		if (sn_mono_ms() - last_tick >= BENCH_TICK_MS) {
			last_tick = sn_mono_ms();
			if (store_tick(s) < 0 || store_sync_cursor(s) < 0) {
				fprintf(stderr, "bench_store: tick failed\n");
				exit(1);
			}
			stm_tick(stm, last_tick);
		}
		busy_us += sn_mono_us() - t0;
		cpu += cpu_us() - c0;
	}
	/* The idle commit stored makes when no message waits. */
	t0 = sn_mono_us();
	c0 = cpu_us();
	if (store_commit(s) < 0)
		exit(1);
	busy_us += sn_mono_us() - t0;
	cpu += cpu_us() - c0;
	t_wall = sn_mono_ms() - t_wall;

	st = store_get_stats(s);
	stored = st->events_inserted;
	commits = st->commits;
	if (stored != n || st->events_duplicate != 0 || st->rows_failed != 0) {
		fprintf(stderr,
		        "bench_store: %" PRIu64 " of %" PRIu64
		        " events stored, %" PRIu64 " duplicates, %" PRIu64
		        " failed\n",
		        stored, n, st->events_duplicate, st->rows_failed);
		exit(1);
	}
	stm_free(stm);
	retention_free(ret);
	store_close(s);
	snprintf(db, sizeof(db), "%s/%s", dir, SN_DB_FILE);
	if (stat(db, &sb) < 0)
		sb.st_size = 0;
	remove_db(dir);
	sn_buf_free(&m);

	eps = busy_us > 0 ? (double)n * 1e6 / (double)busy_us : 0;
	printf("%-10s ids  %5d groups  %8.0f events/s  %5.2f us/event "
	       "(%5.2f CPU)  %5" PRIu64 " commits  %4.0f bytes/event  "
	       "(%.1f s wall)\n",
	       random_ids ? "random" : "increasing", ngroups, eps,
	       (double)busy_us / (double)n, (double)cpu / (double)n, commits,
	       (double)sb.st_size / (double)n, (double)t_wall / 1000);
	printf("store_%s_%d %.0f\n", random_ids ? "random" : "increasing",
	       ngroups, eps);
	printf("store_cpu_us_per_event_%s_%d %.2f\n",
	       random_ids ? "random" : "increasing", ngroups,
	       (double)cpu / (double)n);
	printf("store_bytes_per_event_%s_%d %.0f\n",
	       random_ids ? "random" : "increasing", ngroups,
	       (double)sb.st_size / (double)n);
	fflush(stdout);
	return eps;
}

int
main(int argc, char **argv)
{
	static const int groups[] = {3, 30, 3000};
	uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 1000000;
	const char *tmp = argc > 2 ? argv[2] : getenv("TMPDIR");
	const char *only_ids = argc > 3 ? argv[3] : NULL;
	int only_groups = argc > 4 ? atoi(argv[4]) : 0;
	size_t g;
	int random_ids;

	sn_sqlite_config(); /* as stored does */
	if (n == 0)
		n = 1000000;
	if (tmp == NULL || *tmp == '\0')
		tmp = "/tmp";
	log_init("bench", LOG_LEVEL_WARN, LOG_FORMAT_TEXT);
	printf("stored's write path, %" PRIu64 " events per run, messages of "
	       "up to %d events / %u bytes, commit at %d rows\n",
	       n, FWD_BATCH_EVENTS, FWD_BATCH_BYTES, BENCH_BATCH_ROWS);
	if (getenv("BENCH_STORE_SQL") != NULL)
		printf("with BENCH_STORE_SQL=%s\n", getenv("BENCH_STORE_SQL"));
	for (random_ids = 1; random_ids >= 0; random_ids--)
		for (g = 0; g < sizeof(groups) / sizeof(groups[0]); g++) {
			if (only_ids != NULL &&
			    strcmp(only_ids,
			           random_ids ? "random" : "increasing") != 0)
				continue;
			if (only_groups > 0 && only_groups != groups[g])
				continue;
			run(tmp, n, random_ids, groups[g]);
		}
	return 0;
}
