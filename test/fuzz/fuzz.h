/*
 * fuzz.h: what the fuzz targets of test/fuzz/ share (docs/fuzzing.md).
 *
 * Each fuzz_<name>.c defines LLVMFuzzerTestOneInput and is built twice:
 * with clang and libFuzzer by `make fuzz`, and included by
 * test/unit/test_fuzz_regress.c, which renames the entry point and
 * replays the seed corpora and every input kept under regress/ with
 * gcc, so `make test` and `make asan` keep fixed crashes fixed.  That is
 * why every static function of a target carries the target's prefix,
 * and why the helpers below are static inline behind one include guard.
 */
#ifndef SN_FUZZ_H
#define SN_FUZZ_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"

/*
 * An invariant the target checks.  abort() rather than assert(): the
 * check must hold in every build, NDEBUG or not, and libFuzzer reports
 * the abort as a crash with the input that caused it.
 */
#define FUZZ_CHECK(cond)                                                      \
	do {                                                                  \
		if (!(cond)) {                                                \
			fprintf(stderr, "%s:%d: fuzz invariant failed: %s\n", \
			        __FILE__, __LINE__, #cond);                   \
			abort();                                              \
		}                                                             \
	} while (0)

/* The wall clock every target uses, so a run replays the same way. */
#define FUZZ_NOW_MS 1767323045000LL

/* The event times an RFC 3339 timestamp can give (years 0000 to 9999,
 * offsets of up to a day), in ms. */
#define FUZZ_TS_MIN (-62167219200000LL - 86400000LL)
#define FUZZ_TS_MAX (253402300800000LL + 86400000LL)

/*
 * Detectors covering each type, strategy, aggregation, filter and
 * group_by kind, so events reach most of the engine: what detectd runs
 * on what ingestd sends.
 */
static const char fuzz_detectors_yaml[] =
        "detectors:\n"
        "  - id: lat\n"
        "    type: threshold\n"
        "    config: {metric: latency_ms, condition: greater_than,\n"
        "             threshold: 100, window: 1m, aggregation: p95,\n"
        "             group_by: [application_id, model, data.region]}\n"
        "    actions: [{alert: lat, severity: warning}]\n"
        "  - id: each\n"
        "    type: threshold\n"
        "    config: {metric: cost, condition: greater_or_equal,\n"
        "             threshold: 0.5, aggregation: each, cooldown: 1m,\n"
        "             filter: {event_type: llm.response, status: error,\n"
        "                      data.region: eu}}\n"
        "  - id: nested\n"
        "    type: threshold\n"
        "    config: {metric: usage.cached_tokens, condition: less_than,\n"
        "             threshold: 10, window: 30s, aggregation: last,\n"
        "             min_samples: 1, max_groups: 4}\n"
        "  - id: err\n"
        "    type: statistical\n"
        "    config: {metric: error_rate, strategy: zscore,\n"
        "             threshold: 3, window: 1m, history: 5,\n"
        "             min_samples: 1}\n"
        "  - id: auto\n"
        "    type: statistical\n"
        "    config: {metric: total_tokens, strategy: auto,\n"
        "             aggregation: sum, window: 1m, direction: up,\n"
        "             group_by: [application_id, model]}\n"
        "  - id: mad\n"
        "    type: statistical\n"
        "    config: {metric: latency_ms, strategy: mad, window: 1m,\n"
        "             history: 4, min_samples: 1, direction: down}\n"
        "  - id: iqr\n"
        "    type: statistical\n"
        "    config: {metric: prompt_tokens, strategy: iqr, window: 1m,\n"
        "             history: 4, min_samples: 1}\n"
        "  - id: ewma\n"
        "    type: statistical\n"
        "    config: {metric: completion_tokens, strategy: ewma,\n"
        "             window: 1m, min_samples: 1}\n"
        "  - id: cusum\n"
        "    type: statistical\n"
        "    config: {metric: cost, strategy: cusum, window: 1m,\n"
        "             min_samples: 1}\n"
        "  - id: silent\n"
        "    type: rate\n"
        "    config: {condition: less_than, threshold: 0.5, window: 1m,\n"
        "             baseline: history, history: 3}\n"
        "  - id: flood\n"
        "    type: rate\n"
        "    config: {metric: completion_tokens, condition: greater_than,\n"
        "             threshold: 1000, window: 1m, lateness: 0}\n";

/*
 * Routes, inhibition and one receiver of each type, with no ${VAR}, so
 * the targets need no environment: what alertd routes anomalies with.
 */
static const char fuzz_alerts_yaml[] =
        "external_url: https://sentinel.example.com\n"
        "default_receiver: hook\n"
        "routing:\n"
        "  - match: {severity: critical}\n"
        "    match_re: {model: 'gpt-4.*', application_id: 'chat|search'}\n"
        "    receivers: [pager, mail]\n"
        "    group_by: [alert, model]\n"
        "    continue: true\n"
        "  - match_re: {severity: 'warning|info'}\n"
        "    receivers: [slack]\n"
        "    group_by: ['...']\n"
        "  - receivers: [hook]\n"
        "inhibit_rules:\n"
        "  - source_match: {alert: err}\n"
        "    target_match: {alert: lat}\n"
        "    equal: [model]\n"
        "receivers:\n"
        "  - name: mail\n"
        "    type: email\n"
        "    config:\n"
        "      smtp: {host: 127.0.0.1, port: 465}\n"
        "      from: sentinel@example.com\n"
        "      to: [ops@example.com]\n"
        "      subject_prefix: '[sentinel]'\n"
        "  - name: slack\n"
        "    type: slack\n"
        "    config: {webhookUrl: 'https://hooks.slack.test/T0',\n"
        "             channel: '#alerts'}\n"
        "  - name: hook\n"
        "    type: webhook\n"
        "    config: {url: 'http://127.0.0.1:9/hook'}\n"
        "  - name: pager\n"
        "    type: pagerduty\n"
        "    config: {routingKey: key1, url: 'http://127.0.0.1:9/v2'}\n";

/* Log errors only: the targets' own inputs make the daemons warn. */
static inline void
fuzz_quiet(void)
{
	log_init("fuzz", LOG_LEVEL_ERROR, LOG_FORMAT_TEXT);
}

/* fuzz_detectors_yaml, parsed once; aborts when it does not load. */
static inline const struct sn_detectors *
fuzz_detectors(void)
{
	static struct sn_detectors dets;
	static int done;
	struct sn_cfg_errors errs = {0};
	size_t i;

	if (done)
		return &dets;
	if (config_parse_detectors("fuzz-detectors.yaml", fuzz_detectors_yaml,
	                           strlen(fuzz_detectors_yaml), &dets,
	                           &errs) < 0) {
		for (i = 0; i < errs.count; i++)
			fprintf(stderr, "%s\n", errs.msgs[i]);
		abort();
	}
	done = 1;
	return &dets;
}

/* fuzz_alerts_yaml, parsed once; aborts when it does not load. */
static inline const struct sn_alerts *
fuzz_alerts(void)
{
	static struct sn_alerts al;
	static int done;
	struct sn_cfg_errors errs = {0};
	size_t i;

	if (done)
		return &al;
	if (config_parse_alerts("fuzz-alerts.yaml", fuzz_alerts_yaml,
	                        strlen(fuzz_alerts_yaml), &al, &errs) < 0) {
		for (i = 0; i < errs.count; i++)
			fprintf(stderr, "%s\n", errs.msgs[i]);
		abort();
	}
	done = 1;
	return &al;
}

#endif
