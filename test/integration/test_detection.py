"""The detection engine in the running set: events POSTed with their own
timestamps over twenty minutes of event time raise, through detectd,
exactly the anomalies the scenario calls for (harness.py: a latency
spike seen by a per-event threshold, a p95 threshold and a z-score per
application and model; an application gone silent seen by a rate
detector), each stored as a firing row and then a resolved one, and
logged by alertd.  `sentinel-cli detectors list` shows what detectd
tracks, and `detectors test` answers without changing it."""

import json
import os

from harness import (
    DETECTION_YAML, EXPECTED_ANOMALIES, SETTLED_MS, T0_MS, MINUTE_MS,
    Sentinel, Tap, anomaly_summary, check_no_sanitizer_reports,
    detection_events, detection_windows, iso, parse_time, settled,
    stored_anomalies, wait_for, window_of)


def post_scenario(s):
    """POSTs the scenario one window at a time, as traffic would come."""
    for evs in detection_windows():
        st, _, body = s.post_events(evs)
        assert st == 202 and body["accepted"] == len(evs), (st, body)
    last = detection_events()[-1]["event_id"]
    s.wait_event(last)


def wait_anomalies(s):
    """Waits until every expected record is stored, then returns the
    settled ones."""
    def enough():
        rows = settled(stored_anomalies(s))
        return rows if len(rows) >= len(EXPECTED_ANOMALIES) else None
    return wait_for(enough, 30, what="the scenario's anomalies in stored")


def test_expected_anomalies_are_stored_firing_then_resolved(s):
    post_scenario(s)
    rows = wait_anomalies(s)
    assert anomaly_summary(rows) == EXPECTED_ANOMALIES, \
        "\n".join(map(str, anomaly_summary(rows)))
    by = {}
    for r in rows:
        by.setdefault((r["detector_id"], r["application_id"]), []).append(r)
    for key, recs in by.items():
        assert [r["status"] for r in recs] == ["firing", "resolved"], (key, recs)
        fire, res = recs
        assert fire["anomaly_id"] != res["anomaly_id"], recs
        assert fire["ts_ms"] < res["ts_ms"], recs
        assert fire["window_start_ms"] <= fire["window_end_ms"], fire
        assert fire["labels"] and json.loads(fire["labels"])["application_id"] == key[1], fire
        assert isinstance(json.loads(fire["event_ids"] or "[]"), list), fire
        assert fire["alert"] and fire["severity"] and fire["message"], fire

    # The per-event threshold fires on the first slow event, at its time.
    hl = by[("high-latency", "chat")][0]
    assert hl["event_id"] == "chat-12-0", hl
    assert hl["ts_ms"] == parse_time("2025-11-06T12:12:05Z"), hl
    assert hl["value"] == 7300.0 and hl["threshold"] == 5000.0, hl
    assert hl["samples"] == 1, hl
    assert json.loads(hl["event_ids"]) == ["chat-12-0"], hl
    # The first normal event resolves it.
    assert by[("high-latency", "chat")][1]["event_id"] == "chat-13-0"

    # p95 over the 12:12 minute: 5 samples, the window's bounds.
    p95 = by[("p95-latency", "chat")][0]
    assert p95["window_start_ms"] == T0_MS + 12 * MINUTE_MS, p95
    assert p95["window_end_ms"] == T0_MS + 13 * MINUTE_MS, p95
    assert p95["samples"] == 5, p95
    assert 7300 <= p95["value"] <= 7900 * 1.02, p95

    # The z-score groups by application and model, and knows its baseline.
    z = by[("latency-z", "chat")][0]
    assert json.loads(z["labels"]) == {"application_id": "chat", "model": "gpt-4o"}, z
    assert z["model"] == "gpt-4o", z
    assert abs(z["value"] - 7600) < 1e-6, z
    assert z["expected"] is not None and 950 <= z["expected"] <= 1050, z
    assert z["score"] is not None and z["score"] >= 3.0, z

    # Absence: a count of 0 for batch in the 12:14 minute.
    silent = by[("app-silent", "batch")][0]
    assert silent["value"] == 0 and silent["samples"] == 0, silent
    assert silent["window_start_ms"] == T0_MS + 14 * MINUTE_MS, silent
    assert silent["severity"] == "critical", silent


def test_alertd_logs_firing_and_resolved(s):
    def lines(msg):
        return [l for l in s.log_lines()
                if l.get("daemon") == "alertd" and l.get("msg") == msg]

    def both():
        f, r = lines("anomaly"), lines("anomaly resolved")
        ok = ({l.get("detector_id") for l in f} >= {"high-latency", "p95-latency",
                                                   "latency-z", "app-silent"}
              and {l.get("detector_id") for l in r} >= {"high-latency", "p95-latency",
                                                      "latency-z", "app-silent"})
        return (f, r) if ok else None
    firing, resolved = wait_for(both, 20, what="alertd's anomaly lines")
    z = [l for l in firing if l["detector_id"] == "latency-z"][0]
    assert z["level"] == "warn" and z["status"] == "firing", z
    assert z["labels"] == {"application_id": "chat", "model": "gpt-4o"}, z
    for k in ("expected", "score", "window_start", "window_end", "samples",
              "event_ids", "value", "threshold", "timestamp"):
        assert k in z, (k, z)
    assert parse_time(z["window_start"]) == T0_MS + 12 * MINUTE_MS, z
    assert parse_time(z["window_end"]) == T0_MS + 13 * MINUTE_MS, z
    assert z["samples"] == 5 and isinstance(z["event_ids"], list), z
    silent = [l for l in firing if l["detector_id"] == "app-silent"][0]
    assert silent["application_id"] == "batch", silent
    assert "ops-webhook" in silent["routed_to"], silent  # critical route
    r = [l for l in resolved if l["detector_id"] == "high-latency"][0]
    assert r["status"] == "resolved" and r["level"] == "info", r
    assert r["expected"] is None or isinstance(r["expected"], (int, float)), r


def list_detectors(s):
    rc, out, err = s.cli("--json", "detectors", "list")
    assert rc == 0, (rc, out, err)
    reply = json.loads(out)
    assert reply["ok"] is True, reply
    return {d["id"]: d for d in reply["detectors"]}


def test_detectors_list_shows_groups_and_counts(s):
    dets = list_detectors(s)
    assert list(dets) == ["high-latency", "p95-latency", "latency-z", "app-silent"], dets
    total = len(detection_events())
    for d in dets.values():
        assert d["enabled"] is True and d["running"] is True, d
        assert d["groups"] == 2, d
        # every event matches (no filter); the late one may or may not
        # count as seen, but it is counted as late by windowed ones
        assert total - 1 <= d["events"] <= total, d
        assert d["evicted"] == 0, d
    for i in ("p95-latency", "latency-z", "app-silent"):
        assert dets[i]["late"] >= 1, dets[i]
    assert dets["high-latency"]["anomalies"] == 1, dets
    assert dets["high-latency"]["resolved"] == 1, dets
    assert dets["latency-z"]["type"] == "statistical", dets
    assert dets["latency-z"]["state_bytes"] > 0, dets

    rc, out, err = s.cli("detectors", "list")
    assert rc == 0, (rc, out, err)
    head = out.splitlines()[0].split()
    assert head == ["ID", "TYPE", "ENABLED", "GROUPS", "EVENTS", "ANOMALIES"], out
    row = [l.split() for l in out.splitlines() if l.startswith("latency-z ")]
    assert row and row[0][1] == "statistical" and row[0][2] == "yes", out
    assert row[0][3] == "2", out

    # --config finds detectd's socket through run_dir too.
    rc, out2, err = s.cli("detectors", "list", via_config=True)
    assert rc == 0 and "latency-z" in out2, (rc, out2, err)


def test_detectors_test_answers_without_changing_state(s):
    before = list_detectors(s)
    ev = {"event_id": "probe-1", "timestamp": iso(T0_MS + 19 * MINUTE_MS + 55000),
          "event_type": "llm.response", "application_id": "chat",
          "data": {"model": "gpt-4o", "status": "success", "latency_ms": 7300}}
    path = os.path.join(s.dir, "probe.json")
    with open(path, "w") as f:
        json.dump(ev, f)

    rc, out, err = s.cli("detectors", "test", "high-latency", "--event", path)
    assert rc == 0, (rc, out, err)
    assert out.startswith("high-latency: would fire"), out
    assert "7300" in out and "5000" in out, out

    rc, out, err = s.cli("--json", "detectors", "test", "high-latency", "--event", path)
    assert rc == 0, (rc, out, err)
    res = json.loads(out)
    assert res["decision"] in ("fire", "would_fire"), res
    assert res["value"] == 7300, res

    # A windowed detector answers for the open window with the event in.
    rc, out, err = s.cli("--json", "detectors", "test", "p95-latency", "--event", path)
    assert rc == 0, (rc, out, err)
    assert "decision" in json.loads(out), out

    # Errors: unknown detector, bad event file; exit 1.
    rc, out, err = s.cli("detectors", "test", "no-such", "--event", path)
    assert rc == 1 and "no-such" in err, (rc, out, err)
    bad = os.path.join(s.dir, "bad.json")
    with open(bad, "w") as f:
        json.dump(dict(ev, timestamp="yesterday"), f)
    rc, out, err = s.cli("detectors", "test", "high-latency", "--event", bad)
    assert rc == 1 and "timestamp" in err, (rc, out, err)

    after = list_detectors(s)
    for i, d in before.items():
        for k in ("groups", "events", "anomalies", "resolved", "late"):
            assert after[i][k] == d[k], (i, k, d, after[i])
    # And nothing was stored for the probe.
    assert s.count_event("probe-1") == 0
    assert not [r for r in stored_anomalies(s) if r["event_id"] == "probe-1"]


def test_no_extra_anomalies_later(s):
    """Nothing else was raised for the windows that have closed."""
    rows = settled(stored_anomalies(s))
    assert anomaly_summary(rows) == EXPECTED_ANOMALIES, rows


def test_detectors_unreachable_is_exit_1():
    import tempfile
    from harness import run_cli
    d = tempfile.mkdtemp(prefix="sentinel-nodetectd-")
    try:
        rc, out, err = run_cli("--socket", os.path.join(d, "sentinel.sock"),
                               "detectors", "list")
        assert rc == 1 and "detectd" in err, (rc, out, err)
        rc, out, err = run_cli("detectors", "frobnicate")
        assert rc == 2 and "usage" in err, (rc, out, err)
        rc, out, err = run_cli("detectors")
        assert rc == 2 and "usage" in err, (rc, out, err)
    finally:
        os.rmdir(d)


def main():
    tap = Tap()
    s = Sentinel(detectors=DETECTION_YAML)
    try:
        s.start()
        for t in (test_expected_anomalies_are_stored_firing_then_resolved,
                  test_alertd_logs_firing_and_resolved,
                  test_detectors_list_shows_groups_and_counts,
                  test_detectors_test_answers_without_changing_state,
                  test_no_extra_anomalies_later):
            tap.run(t, s)
    finally:
        s.cleanup()
    tap.run(test_detectors_unreachable_is_exit_1)
    tap.run(check_no_sanitizer_reports, s)
    tap.done()


if __name__ == "__main__":
    main()
