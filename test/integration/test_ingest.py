"""Ingestion end to end: the seed's Quick Start, validation answers, limits,
health endpoints, and events read back from the sqlite file."""

import http.client
import json

from harness import check_no_sanitizer_reports, Sentinel, Tap, event, wait_for, SEED_EVENT


def test_quick_start_event_is_accepted_and_stored(s):
    st, hdrs, body = s.post_events(SEED_EVENT)
    assert st == 202, (st, body)
    assert hdrs.get("Content-Type", "").startswith("application/json")
    assert body["status"] == "accepted" and body["accepted"] == 1, body
    s.wait_event("test-001")
    row = s.query("SELECT application_id, event_type, status, latency_ms, "
                  "total_tokens, cost, timestamp FROM events WHERE event_id = 'test-001'")
    assert row == [("test-app", "llm.response", "success", 1250.0, 225.0, 0.045,
                    "2025-11-06T12:00:00Z")], row


def test_single_answer_is_compact_json_with_escaped_event_id(s):
    """The 202 of a single event is written without jansson: its bytes
    must be what jansson's compact dump gives (quotes, backslash, tab
    and control bytes escaped, UTF-8 as is), and the id must come back
    as stored."""
    eid = 'esc "q" \\ b\tt\x01\x10 \u00e9-1'
    conn = http.client.HTTPConnection("127.0.0.1", s.http_port, timeout=10)
    try:
        conn.request("POST", "/api/v1/telemetry/events", json.dumps(event(eid)),
                     {"Content-Type": "application/json"})
        r = conn.getresponse()
        raw = r.read()
    finally:
        conn.close()
    assert r.status == 202, (r.status, raw)
    want = '{"status":"accepted","accepted":1,"event_id":%s}\n' % json.dumps(
        eid, ensure_ascii=False)
    assert raw == want.encode(), (raw, want)
    assert json.loads(raw)["event_id"] == eid
    s.wait_event(eid)


def test_same_event_id_is_stored_once(s):
    for _ in range(3):
        st, _, body = s.post_events(event("dup-1"))
        assert st == 202, body
    s.post_events(event("dup-marker"))
    s.wait_event("dup-marker")
    assert s.count_event("dup-1") == 1


def test_unknown_fields_are_kept(s):
    ev = event("extra-1", model="gpt-4o", ttft_ms=87)
    ev["region"] = "eu-west-1"
    st, _, body = s.post_events(ev)
    assert st == 202, body
    s.wait_event("extra-1")
    raw = s.query("SELECT raw, model FROM events WHERE event_id = 'extra-1'")[0]
    stored = json.loads(raw[0])
    assert stored["region"] == "eu-west-1"
    assert stored["data"]["ttft_ms"] == 87
    assert raw[1] == "gpt-4o"


def test_batch_array_accepts_good_and_lists_rejected(s):
    bad = event("batch-bad")
    bad["data"]["latency_ms"] = -5
    st, _, body = s.post_events([event("batch-1"), bad, event("batch-3")])
    assert st == 202, body
    assert body["accepted"] == 2, body
    assert len(body["rejected"]) == 1 and body["rejected"][0]["index"] == 1, body
    assert "latency_ms" in json.dumps(body["rejected"][0])
    s.wait_event("batch-3")
    s.wait_event("batch-1")
    assert s.count_event("batch-bad") == 0


def test_ndjson_body(s):
    lines = "\n".join(json.dumps(event("nd-%d" % i)) for i in range(5)) + "\n\n"
    st, _, body = s.post_events(lines, {"Content-Type": "application/x-ndjson"})
    assert st == 202 and body["accepted"] == 5, (st, body)
    for i in range(5):
        s.wait_event("nd-%d" % i)


def test_bad_event_gets_400_naming_the_field(s):
    cases = [
        ({k: v for k, v in SEED_EVENT.items() if k != "event_id"}, "event_id"),
        (dict(SEED_EVENT, timestamp="2025-02-30T00:00:00Z"), "timestamp"),
        (dict(SEED_EVENT, application_id=""), "application_id"),
        (dict(SEED_EVENT, event_id="x" * 129), "event_id"),
        (dict(SEED_EVENT, data=[1, 2]), "data"),
        (dict(SEED_EVENT, data={"cost": "cheap"}), "cost"),
        (dict(SEED_EVENT, data={"status": 3}), "status"),
    ]
    for ev, field in cases:
        st, hdrs, body = s.post_events(ev)
        assert st == 400, (ev, st, body)
        assert isinstance(body, dict), body
        assert field in json.dumps(body), (field, body)
    st, _, body = s.post_events('{"event_id": "x",')
    assert st == 400 and isinstance(body, dict) and "error" in body, body


def test_wrong_method_405_unknown_path_404(s):
    st, hdrs, body = s.request("GET", "/api/v1/telemetry/events")
    assert st == 405 and isinstance(body, dict) and "error" in body, (st, body)
    assert "POST" in hdrs.get("Allow", ""), hdrs
    st, _, body = s.request("GET", "/api/v1/nope")
    assert st == 404 and isinstance(body, dict) and "error" in body, (st, body)
    st, _, body = s.request("DELETE", "/health")
    assert st == 405 and isinstance(body, dict), (st, body)


def test_limits_answer_413(s):
    # The set under test is configured with max_body_size 64KB and 50 events.
    st, _, body = s.post_events([event("big-%d" % i) for i in range(51)])
    assert st == 413 and isinstance(body, dict), (st, body)
    huge = event("huge")
    huge["data"]["blob"] = "x" * (80 * 1024)
    st, _, body = s.post_events(huge)
    assert st == 413, (st, body)
    assert s.count_event("big-0") == 0 and s.count_event("huge") == 0
    # The daemon is unaffected.
    st, _, _ = s.post_events(event("after-413"))
    assert st == 202
    s.wait_event("after-413")


def test_health_ready_and_api_health(s):
    st, _, body = s.get("/health")
    assert st == 200 and body["status"] == "ok", body
    st, _, body = s.get("/ready")
    assert st == 200, body
    st, _, body = s.get("/api/v1/health")
    assert st == 200, body
    assert body["status"] == "healthy", body
    assert body["version"] and body["uptime_seconds"] >= 0, body
    for d in ("ingestd", "detectd", "stored", "alertd"):
        assert body["daemons"][d]["state"] == "up", body


def test_threshold_detectors_fire_and_anomaly_is_stored_and_logged(s):
    st, _, _ = s.post_events(event("slow-1", latency_ms=7300))
    assert st == 202
    st, _, _ = s.post_events(event("pricey-1", cost=2.5))
    assert st == 202
    st, _, _ = s.post_events(event("fine-1", latency_ms=5000, cost=1.0))
    assert st == 202
    # Each event is tested alone (aggregation: each in harness.py); a
    # normal event after a firing one also stores a resolved record.
    q = ("SELECT detector_id, severity, value FROM anomalies"
         " WHERE event_id = ? AND status = 'firing'")
    rows = wait_for(lambda: s.query(q, ("slow-1",)), what="latency anomaly")
    assert rows == [("high-latency", "warning", 7300.0)], rows
    rows = wait_for(lambda: s.query(q, ("pricey-1",)), what="cost anomaly")
    assert rows == [("high-cost", "critical", 2.5)], rows
    s.wait_event("fine-1")
    assert s.query(q, ("fine-1",)) == []

    def logged():
        return [l for l in s.log_lines() if l.get("daemon") == "alertd"
                and l.get("msg") == "anomaly" and l.get("event_id") == "pricey-1"]
    lines = wait_for(logged, what="alertd anomaly log line")
    assert lines[0]["severity"] == "critical"
    assert "ops-webhook" in json.dumps(lines[0]), lines[0]


def main():
    tap = Tap()
    s = Sentinel(extra_http="    max_body_size: 64KB\n    max_batch_size: 50\n")
    try:
        s.start()
        for t in (test_quick_start_event_is_accepted_and_stored,
                  test_single_answer_is_compact_json_with_escaped_event_id,
                  test_same_event_id_is_stored_once,
                  test_unknown_fields_are_kept,
                  test_batch_array_accepts_good_and_lists_rejected,
                  test_ndjson_body,
                  test_bad_event_gets_400_naming_the_field,
                  test_wrong_method_405_unknown_path_404,
                  test_limits_answer_413,
                  test_health_ready_and_api_health,
                  test_threshold_detectors_fire_and_anomaly_is_stored_and_logged):
            tap.run(t, s)
    finally:
        s.cleanup()
    tap.run(check_no_sanitizer_reports, s)
    tap.done()


if __name__ == "__main__":
    main()
