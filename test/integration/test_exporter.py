"""The Prometheus exporter on a running set: GET /metrics in the text
format, events counted per application with the label cap, ingest and
detection latency histograms, errors by reason, anomalies by detector
and severity, the spool backlog, and the supervisor's view of every
daemon (up, restarts, CPU, memory, files) through a kill -9."""

import os
import signal
import time

from harness import (Sentinel, Tap, check_no_sanitizer_reports, metric,
                     parse_metrics, wait_for)
from test_delivery import now_event

def fetch(s, path="/metrics", method="GET"):
    return s.metrics_fetch(path, method)


def scrape(s):
    return s.scrape()


value = metric


def wait_value(s, name, pred, what=None, timeout=15, **labels):
    """Waits until pred holds for the sample; returns the scrape."""
    def ok():
        samples = scrape(s)
        v = value(samples, name, **labels)
        return samples if v is not None and pred(v) else None
    return wait_for(ok, timeout, what=what or "%s%r" % (name, labels))


def test_scrape_format_and_errors(s):
    st, hdrs, text = fetch(s)
    assert st == 200, st
    assert hdrs["Content-Type"].startswith("text/plain; version=0.0.4"), hdrs
    samples = parse_metrics(text)
    for name in ("sentinel_build_info", "sentinel_up", "sentinel_kafka_consumer_lag",
                 "sentinel_event_buffer_size", "sentinel_ingestion_errors_total",
                 "sentinel_detection_errors_total", "sentinel_anomalies_detected_total",
                 "sentinel_storage_size_bytes", "sentinel_process_resident_memory_bytes"):
        assert any(k[0] == name for k in samples), "no %s in %s" % (name, text[:2000])
    assert value(samples, "sentinel_kafka_consumer_lag") == 0
    st, hdrs, body = fetch(s, "/nope")
    assert st == 404 and '"error"' in body, (st, body)
    st, hdrs, body = fetch(s, "/metrics", method="POST")
    assert st == 405 and "GET" in hdrs.get("Allow", ""), (st, hdrs)
    assert '"error"' in body


def test_events_counted_per_application(s):
    before = scrape(s)
    n0 = value(before, "sentinel_ingestion_latency_seconds_count") or 0
    f0 = value(before, "sentinel_spool_sync_duration_seconds_count") or 0
    evs = []
    for i, app in enumerate(["shop", "shop", "chat", "shop"]):
        e = now_event("pa-%d-%d" % (i, time.monotonic_ns()), latency_ms=100)
        e["application_id"] = app
        evs.append(e)
    st, _, _ = s.post_events(evs)
    assert st == 202
    e = now_event("pa-one-%d" % time.monotonic_ns(), latency_ms=100)
    e["application_id"] = "chat"
    st, _, _ = s.post_events(e)
    assert st == 202
    samples = scrape(s)
    assert value(samples, "sentinel_telemetry_events_total", application_id="shop") == 3
    assert value(samples, "sentinel_telemetry_events_total", application_id="chat") == 2
    # one observation per answered request, the histogram consistent
    assert value(samples, "sentinel_ingestion_latency_seconds_count") == n0 + 2
    inf = value(samples, "sentinel_ingestion_latency_seconds_bucket", le="+Inf")
    assert inf == n0 + 2, inf
    assert value(samples, "sentinel_ingestion_latency_seconds_sum") > 0
    assert value(samples, "sentinel_http_requests_total", code="202") >= 2
    # each 202 waited for a sync of the spool (durability: fsync): at
    # least one per request, as they were sent one after the other
    f1 = value(samples, "sentinel_spool_sync_duration_seconds_count")
    assert f1 >= f0 + 2, (f0, f1)
    assert value(samples, "sentinel_spool_sync_duration_seconds_sum") > 0


def test_label_cap_counts_other(s):
    # this set runs with observability.metrics.max_label_values: 3; the
    # previous test admitted shop and chat
    for app in ["c1", "c2", "c3", "c4"]:
        e = now_event("cap-%s-%d" % (app, time.monotonic_ns()))
        e["application_id"] = app
        st, _, _ = s.post_events(e)
        assert st == 202
    samples = scrape(s)
    apps = {dict(k[1])["application_id"]: v for k, v in samples.items()
            if k[0] == "sentinel_telemetry_events_total"}
    assert apps.get("c1") == 1, apps
    assert "c2" not in apps and "c4" not in apps, apps
    assert apps.get("other") == 3, apps
    assert len(apps) == 4, apps


def test_errors_by_reason(s):
    def err(reason):
        return value(scrape(s), "sentinel_ingestion_errors_total", reason=reason) or 0
    j0, m0 = err("invalid_json"), err("unsupported_media_type")
    st, _, _ = s.post_events("{not json")
    assert st == 400
    st, _, _ = s.post_events("{}", headers={"Content-Type": "text/plain"})
    assert st == 415
    assert err("invalid_json") == j0 + 1
    assert err("unsupported_media_type") == m0 + 1
    assert err("too_many_requests") == 0


def test_detection_metrics(s):
    before = scrape(s)
    a0 = value(before, "sentinel_anomalies_detected_total",
               detector="high-latency", severity="warning")
    assert a0 is not None, "configured detector has no series before firing"
    ev0 = value(before, "sentinel_detection_events_total") or 0
    st, _, _ = s.post_events([now_event("slow-%d" % time.monotonic_ns(), latency_ms=9000),
                              now_event("fast-%d" % time.monotonic_ns(), latency_ms=10)])
    assert st == 202
    wait_value(s, "sentinel_anomalies_detected_total", lambda v: v >= a0 + 1,
               detector="high-latency", severity="warning")
    samples = wait_value(s, "sentinel_detection_events_total", lambda v: v >= ev0 + 2)
    samples = scrape(s)
    cnt = value(samples, "sentinel_detection_latency_seconds_count")
    assert cnt == value(samples, "sentinel_detection_events_total"), cnt
    assert value(samples, "sentinel_detection_latency_seconds_sum") > 0
    # every event was evaluated within 10 s of being accepted
    assert value(samples, "sentinel_detection_latency_seconds_bucket", le="10") == cnt
    assert value(samples, "sentinel_detection_errors_total", reason="bad_message") == 0


def test_buffer_follows_storage(s):
    # storage keeps up: what was posted is in the database within a
    # second or two and the buffer is back to 0
    wait_value(s, "sentinel_event_buffer_size", lambda v: v == 0)
    wait_value(s, "sentinel_consumer_lag_events", lambda v: v == 0, consumer="stored")
    assert value(scrape(s), "sentinel_spool_size_bytes") >= 0
    # stored frozen: the accepted events wait in the spool and say so
    pid = s.daemon("stored")["pid"]
    os.kill(pid, signal.SIGSTOP)
    try:
        evs = [now_event("buf-%d-%d" % (i, time.monotonic_ns())) for i in range(25)]
        st, _, _ = s.post_events(evs)
        assert st == 202
        wait_value(s, "sentinel_event_buffer_size", lambda v: v >= 25)
        wait_value(s, "sentinel_consumer_lag_events", lambda v: v >= 25,
                   consumer="stored")
    finally:
        os.kill(pid, signal.SIGCONT)
    wait_value(s, "sentinel_event_buffer_size", lambda v: v == 0)


def test_restart_seen_by_supervisor(s):
    before = scrape(s)
    for d in ("sentinel", "ingestd", "detectd", "stored", "alertd"):
        assert value(before, "sentinel_up", daemon=d) == 1, d
        assert value(before, "sentinel_process_resident_memory_bytes", daemon=d) > 1e6, d
        assert value(before, "sentinel_process_open_fds", daemon=d) > 3, d
        assert value(before, "sentinel_process_cpu_seconds_total", daemon=d) >= 0, d
    assert value(before, "sentinel_daemon_restarts_total", daemon="detectd") == 0
    start0 = value(before, "sentinel_process_start_time_seconds", daemon="detectd")
    assert abs(start0 - time.time()) < 3600, start0
    pid = s.daemon("detectd")["pid"]
    os.kill(pid, signal.SIGKILL)
    wait_value(s, "sentinel_daemon_restarts_total", lambda v: v == 1, daemon="detectd")
    wait_value(s, "sentinel_up", lambda v: v == 1, daemon="detectd")
    after = scrape(s)
    assert value(after, "sentinel_process_start_time_seconds", daemon="detectd") > start0
    # the new detectd counts from 0 in a new file; the others kept theirs
    assert value(after, "sentinel_telemetry_events_total", application_id="shop") == 3


def main():
    tap = Tap()
    s = None
    try:
        s = Sentinel()
        s.write_config(s.config_text().replace(
            "    port: %d\n" % s.metrics_port,
            "    port: %d\n    max_label_values: 3\n" % s.metrics_port))
        s.start()
        tap.run(test_scrape_format_and_errors, s)
        tap.run(test_events_counted_per_application, s)
        tap.run(test_label_cap_counts_other, s)
        tap.run(test_errors_by_reason, s)
        tap.run(test_detection_metrics, s)
        tap.run(test_buffer_follows_storage, s)
        tap.run(test_restart_seen_by_supervisor, s)
        s.cleanup()
        tap.run(check_no_sanitizer_reports, s)
    finally:
        if s is not None:
            s.cleanup()
    tap.done()


if __name__ == "__main__":
    main()
