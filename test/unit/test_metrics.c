/*
 * test_metrics.c: the metrics file and its reader.  Without a file every
 * update goes to a sink and nothing is exported; counters, gauges and
 * histograms read back as written (buckets cumulative, _count equal to
 * the +Inf bucket, _sum in seconds); a capped label keeps its first cap
 * values and counts the rest under "other"; label values are escaped
 * and cut at a UTF-8 boundary; a file of another layout is skipped; the
 * text exposition has one HELP and TYPE per family that has samples.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "metrics.h"
#include "util.h"

struct fixture {
	char dir[64];
	char path[128];
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	snprintf(f->dir, sizeof(f->dir), "/tmp/sn-test-metrics-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	metrics_path(f->path, sizeof(f->path), f->dir, "unit");
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	metrics_close();
	unlink(f->path);
	rmdir(f->dir);
	free(f);
	return 0;
}

/* Collects "name{labels} value" lines of one file into a buffer. */
struct collect {
	char text[65536];
	size_t len;
	int families;
};

static void
on_family(void *arg, const struct sn_metric_def *d)
{
	struct collect *c = arg;

	(void)d;
	c->families++;
}

static void
on_sample(void *arg, const struct sn_metric_def *d, const char *name,
          const char *labels, double value)
{
	struct collect *c = arg;
	char v[64];

	(void)d;
	metrics_value_format(v, sizeof(v), value);
	c->len += (size_t)snprintf(c->text + c->len, sizeof(c->text) - c->len,
	                           "%s{%s} %s\n", name, labels, v);
}

static void
collect(const char *path, const char *only, struct collect *c)
{
	const struct metrics_visitor v = {on_family, on_sample};
	const char *paths[1] = {path};

	memset(c, 0, sizeof(*c));
	metrics_visit(paths, 1, only, &v, c);
}

static void
test_without_file_is_a_sink(void **state)
{
	struct fixture *f = *state;
	struct sn_series *s = metrics_series(M_TELEMETRY_EVENTS, "a");
	struct collect c;

	assert_non_null(s);
	metrics_add(s, 5);
	metrics_observe_us(metrics_series(M_INGESTION_LATENCY), 10);
	collect(f->path, NULL, &c);
	assert_int_equal(c.len, 0);
}

static void
test_counter_gauge_histogram(void **state)
{
	struct fixture *f = *state;
	struct metrics_hist h = {0};
	struct collect c;

	assert_int_equal(metrics_open(f->dir, "unit", 10), 0);
	metrics_add(metrics_series(M_TELEMETRY_EVENTS, "chat"), 3);
	metrics_add(metrics_series(M_TELEMETRY_EVENTS, "chat"), 4);
	metrics_set(metrics_series(M_EVENT_BUFFER_SIZE), 12.5);
	metrics_gauge_add(metrics_series(M_EVENT_BUFFER_SIZE), -2.5);
	metrics_observe_us(metrics_series(M_INGESTION_LATENCY), 40);
	metrics_observe_us(metrics_series(M_INGESTION_LATENCY), 3000);
	metrics_observe_us(metrics_series(M_INGESTION_LATENCY), 60000000);
	metrics_hist_observe(&h, M_DETECTION_LATENCY, 100);
	metrics_hist_observe(&h, M_DETECTION_LATENCY, 101);
	metrics_hist_flush(metrics_series(M_DETECTION_LATENCY), &h);
	assert_int_equal(h.count, 0);

	collect(f->path, NULL, &c);
	assert_non_null(strstr(c.text, "sentinel_telemetry_events_total{"
	                               "application_id=\"chat\"} 7\n"));
	assert_non_null(strstr(c.text, "sentinel_event_buffer_size{} 10\n"));
	assert_non_null(strstr(c.text, "sentinel_ingestion_latency_seconds_"
	                               "bucket{le=\"0.00005\"} 1\n"));
	assert_non_null(strstr(c.text, "sentinel_ingestion_latency_seconds_"
	                               "bucket{le=\"0.0025\"} 1\n"));
	assert_non_null(strstr(c.text, "sentinel_ingestion_latency_seconds_"
	                               "bucket{le=\"0.005\"} 2\n"));
	assert_non_null(strstr(c.text, "sentinel_ingestion_latency_seconds_"
	                               "bucket{le=\"10\"} 2\n"));
	assert_non_null(strstr(c.text, "sentinel_ingestion_latency_seconds_"
	                               "bucket{le=\"+Inf\"} 3\n"));
	assert_non_null(strstr(c.text, "sentinel_ingestion_latency_seconds_"
	                               "count{} 3\n"));
	assert_non_null(strstr(c.text, "sentinel_ingestion_latency_seconds_"
	                               "sum{} 60.00304\n"));
	/* 100 us is in the 0.0001 bucket, 101 us in the next */
	assert_non_null(strstr(c.text, "sentinel_detection_latency_seconds_"
	                               "bucket{le=\"0.0001\"} 1\n"));
	assert_non_null(strstr(c.text, "sentinel_detection_latency_seconds_"
	                               "bucket{le=\"0.00025\"} 2\n"));
}

static void
test_label_cap_counts_other(void **state)
{
	struct fixture *f = *state;
	char app[16];
	struct collect c;
	int i;

	assert_int_equal(metrics_open(f->dir, "unit", 3), 0);
	for (i = 0; i < 6; i++) {
		snprintf(app, sizeof(app), "app%d", i);
		metrics_add(metrics_series(M_TELEMETRY_EVENTS, app), 1);
	}
	/* a value admitted before the cap keeps its own series */
	metrics_add(metrics_series(M_TELEMETRY_EVENTS, "app1"), 10);
	/* bounded labels are not capped */
	for (i = 0; i < 6; i++) {
		snprintf(app, sizeof(app), "r%d", i);
		metrics_add(metrics_series(M_ALERTS_SENT, app), 1);
	}
	collect(f->path, "sentinel_telemetry_events_total", &c);
	assert_non_null(strstr(c.text, "application_id=\"app0\"} 1\n"));
	assert_non_null(strstr(c.text, "application_id=\"app1\"} 11\n"));
	assert_non_null(strstr(c.text, "application_id=\"app2\"} 1\n"));
	assert_null(strstr(c.text, "app3"));
	assert_null(strstr(c.text, "app5"));
	assert_non_null(strstr(c.text, "application_id=\"other\"} 3\n"));
	collect(f->path, "sentinel_alerts_sent_total", &c);
	assert_non_null(strstr(c.text, "receiver=\"r5\"} 1\n"));
}

static void
test_label_escaping_and_cut(void **state)
{
	struct fixture *f = *state;
	char longv[300];
	char expect[200];
	struct collect c;

	assert_int_equal(metrics_open(f->dir, "unit", 10), 0);
	metrics_add(metrics_series(M_TELEMETRY_EVENTS, "a\"b\\c\nd"), 1);
	/* 127 x then a 2-byte character that would end past 128 bytes */
	memset(longv, 'x', 127);
	memcpy(longv + 127, "\xc3\xa9tail", 6);
	longv[133] = '\0';
	metrics_add(metrics_series(M_TELEMETRY_EVENTS, longv), 1);
	collect(f->path, NULL, &c);
	assert_non_null(
	        strstr(c.text, "application_id=\"a\\\"b\\\\c\\nd\"} 1"));
	memset(expect, 0, sizeof(expect));
	memcpy(expect, "application_id=\"", 16);
	memset(expect + 16, 'x', 127);
	memcpy(expect + 16 + 127, "\"} 1", 4);
	assert_non_null(strstr(c.text, expect));
}

static void
test_foreign_file_skipped(void **state)
{
	struct fixture *f = *state;
	struct collect c;
	FILE *fp;

	fp = fopen(f->path, "w");
	assert_non_null(fp);
	fputs("not a metrics file, but long enough to hold a header......"
	      "................................................",
	      fp);
	fclose(fp);
	collect(f->path, NULL, &c);
	assert_int_equal(c.len, 0);
	assert_int_equal(c.families, 0);
}

static void
test_text_exposition(void **state)
{
	struct fixture *f = *state;
	const char *paths[2];
	struct sn_buf out = {0};
	char other[128], *text;

	assert_int_equal(metrics_open(f->dir, "unit", 10), 0);
	metrics_add(metrics_series(M_ALERTS_SENT, "ops"), 2);
	metrics_set(metrics_series(M_UP, "ingestd"), 1);
	paths[0] = f->path;
	snprintf(other, sizeof(other), "%s/missing.metrics", f->dir);
	paths[1] = other;
	metrics_render_text(&out, paths, 2);
	sn_buf_append(&out, "", 1);
	text = (char *)out.data;
	assert_non_null(strstr(text, "# HELP sentinel_alerts_sent_total "));
	assert_non_null(strstr(text, "# TYPE sentinel_alerts_sent_total "
	                             "counter\n"
	                             "sentinel_alerts_sent_total{receiver="
	                             "\"ops\"} 2\n"));
	assert_non_null(strstr(text, "# TYPE sentinel_up gauge\n"
	                             "sentinel_up{daemon=\"ingestd\"} 1\n"));
	/* families without samples are left out */
	assert_null(strstr(text, "sentinel_alert_failures_total"));
	assert_non_null(metrics_find("sentinel_event_buffer_size"));
	assert_null(metrics_find("sentinel_nope"));
	sn_buf_free(&out);
}

/* A reader keeps files mapped between visits and follows a file that
 * was replaced (a restarted daemon) and one that went away. */
static void
test_reader_follows_new_file(void **state)
{
	struct fixture *f = *state;
	const char *paths[1] = {f->path};
	struct metrics_reader *r = metrics_reader_new(paths, 1);
	struct sn_buf out = {0};

	assert_int_equal(metrics_open(f->dir, "unit", 10), 0);
	metrics_add(metrics_series(M_ALERTS_SENT, "ops"), 5);
	metrics_reader_text(r, &out);
	sn_buf_append(&out, "", 1);
	assert_non_null(strstr((char *)out.data, "receiver=\"ops\"} 5\n"));
	/* counted on in the same file: seen without mapping again */
	metrics_add(metrics_series(M_ALERTS_SENT, "ops"), 1);
	sn_buf_reset(&out);
	metrics_reader_text(r, &out);
	sn_buf_append(&out, "", 1);
	assert_non_null(strstr((char *)out.data, "receiver=\"ops\"} 6\n"));
	/* the daemon restarts: a new file at the same path */
	metrics_close();
	assert_int_equal(metrics_open(f->dir, "unit", 10), 0);
	metrics_add(metrics_series(M_ALERTS_SENT, "ops"), 2);
	sn_buf_reset(&out);
	metrics_reader_text(r, &out);
	sn_buf_append(&out, "", 1);
	assert_non_null(strstr((char *)out.data, "receiver=\"ops\"} 2\n"));
	/* and stops: nothing left to show */
	metrics_close();
	sn_buf_reset(&out);
	assert_int_equal(
	        metrics_reader_visit(
	                r, NULL, &(struct metrics_visitor){NULL, NULL}, NULL),
	        0);
	sn_buf_free(&out);
	metrics_reader_free(r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_without_file_is_a_sink,
	                                        setup, teardown),
	        cmocka_unit_test_setup_teardown(test_counter_gauge_histogram,
	                                        setup, teardown),
	        cmocka_unit_test_setup_teardown(test_label_cap_counts_other,
	                                        setup, teardown),
	        cmocka_unit_test_setup_teardown(test_label_escaping_and_cut,
	                                        setup, teardown),
	        cmocka_unit_test_setup_teardown(test_foreign_file_skipped,
	                                        setup, teardown),
	        cmocka_unit_test_setup_teardown(test_text_exposition, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_reader_follows_new_file,
	                                        setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
