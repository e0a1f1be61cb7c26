"""`sentinel-cli replay`: the detection engine offline.  The scenario of
test_detection.py, replayed from an NDJSON file with no daemon, gives
the very anomaly records the running set stored for the same events
(same ids, statuses, event times, windows, values); lines that are not
events are reported with their number and skipped; usage errors exit 2,
a bad detectors file or a missing input exit 1."""

import json
import os
import tempfile

from harness import (
    DETECTION_YAML, EXPECTED_ANOMALIES, SETTLED_MS, Sentinel, Tap,
    anomaly_summary, check_no_sanitizer_reports, detection_events,
    detection_windows, parse_time, run_cli, settled, stored_anomalies,
    wait_for, write_ndjson)


def record_key(r):
    """What must agree between live and replay, from a stored row or a
    replay line: everything but seq and detected_ms (when it ran)."""
    def num(v):
        return None if v is None else round(float(v), 6)

    def js(v):
        if v is None or v == "":
            return None
        return json.loads(v) if isinstance(v, str) else v

    if "anomaly_id" in r:  # a stored row
        return (r["anomaly_id"], r["status"], r["ts_ms"], r["detector_id"],
                r["application_id"], r["model"] or "", r["metric"],
                r["window_start_ms"], r["window_end_ms"], r["samples"],
                num(r["value"]), num(r["expected"]), num(r["score"]),
                num(r["threshold"]), js(r["labels"]), js(r["event_ids"]),
                r["event_id"], r["alert"], r["severity"], r["message"])
    g = r.get
    return (g("id"), g("status"), parse_time(g("timestamp")),
            g("detector") or g("detector_id"), g("application_id"),
            g("model") or "", g("metric"),
            parse_time(g("window_start")), parse_time(g("window_end")),
            g("samples"), num(g("value")), num(g("expected")),
            num(g("score")), num(g("threshold")), js(g("labels")),
            js(g("event_ids")), g("event_id"), g("alert"), g("severity"),
            g("message"))


def replay_rows(lines):
    """Replay lines as the dicts settled() and anomaly_summary() read."""
    out = []
    for l in lines:
        k = record_key(l)
        out.append({"detector_id": k[3], "application_id": k[4],
                    "status": k[1], "window_start_ms": k[7],
                    "window_end_ms": k[8], "key": k})
    return out


class Files:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="sentinel-replay-")
        self.detectors = self.path("detectors.yaml")
        with open(self.detectors, "w") as f:
            f.write(DETECTION_YAML)
        self.events = self.path("events.ndjson")
        # Two bad lines among the events: line 3 is not JSON, line 10 an
        # event with an impossible timestamp.
        bad = dict(detection_events()[0], event_id="bad-ts",
                   timestamp="2025-02-30T00:00:00Z")
        write_ndjson(self.events, detection_events(),
                     {3: "this is not json", 10: json.dumps(bad)})

    def path(self, name):
        return os.path.join(self.dir, name)

    def cleanup(self):
        for n in os.listdir(self.dir):
            os.unlink(self.path(n))
        os.rmdir(self.dir)


def replay(files, *extra, out=None):
    args = ["replay", "--detectors", files.detectors, "--input", files.events]
    if out:
        args += ["--output", out]
    return run_cli(*(args + list(extra)))


def read_lines(path):
    with open(path) as f:
        return [json.loads(l) for l in f if l.strip()]


def test_replay_writes_the_expected_anomalies(files):
    out = files.path("anomalies.ndjson")
    rc, stdout, err = replay(files, "--json", out=out)
    assert rc == 0, (rc, stdout, err)
    assert stdout == "", stdout
    lines = read_lines(out)
    rows = replay_rows(lines)
    # Every window closes at the end of the input; the last ones are
    # normal, so nothing is raised beyond the settled windows.
    assert settled(rows) == rows, [r["key"] for r in rows]
    assert anomaly_summary(rows) == EXPECTED_ANOMALIES, anomaly_summary(rows)
    ids = [l["id"] for l in lines]
    assert len(set(ids)) == len(ids), ids
    for l in lines:
        for k in ("id", "status", "timestamp", "window_start", "window_end",
                  "samples", "value", "threshold", "labels", "event_ids",
                  "alert", "severity", "metric", "message"):
            assert k in l, (k, l)

    summary = json.loads(err.strip().splitlines()[-1])
    assert summary["ok"] is True, summary
    assert summary["events"] == len(detection_events()), summary
    assert summary["rejected"] == 2, summary
    assert summary["firing"] == 4 and summary["resolved"] == 4, summary
    assert summary["anomalies"] == 8, summary
    assert summary["late"] >= 1, summary
    assert summary["events_per_second"] > 0, summary
    assert [d["id"] for d in summary["detectors"]] == [
        "high-latency", "p95-latency", "latency-z", "app-silent"], summary


def test_bad_lines_are_reported_with_their_number_and_skipped(files):
    rc, stdout, err = replay(files)
    assert rc == 0, (rc, err)
    name = files.events
    bad = [l for l in err.splitlines() if l.startswith(name + ":")]
    assert len(bad) == 2, err
    assert bad[0].startswith(name + ":3: event: invalid JSON"), bad
    assert bad[1].startswith(name + ":10: timestamp:"), bad
    last = err.strip().splitlines()[-1]
    assert "%d events" % len(detection_events()) in last, last
    assert "2 lines rejected" in last and "4 anomalies firing" in last, last
    # Without --output the records go to stdout.
    assert len([l for l in stdout.splitlines() if l.strip()]) == 8, stdout

    rc, _, err = replay(files, "--json")
    rej = [json.loads(l) for l in err.splitlines()[:2]]
    assert [(r["line"], r["field"]) for r in rej] == [(3, "event"), (10, "timestamp")], rej


def test_replay_from_stdin_gives_the_same_records(files):
    with open(files.events) as f:
        text = f.read()
    rc, stdout, err = run_cli("replay", "--detectors", files.detectors,
                              "--input", "-", input_text=text)
    assert rc == 0, (rc, err)
    assert "stdin:3: event:" in err, err
    a = [record_key(json.loads(l)) for l in stdout.splitlines() if l.strip()]
    rc, stdout2, err = replay(files)
    b = [record_key(json.loads(l)) for l in stdout2.splitlines() if l.strip()]
    assert a == b and len(a) == 8, (a, b)


def test_replay_equals_live(files):
    """The running set and the replay agree on every settled record."""
    s = Sentinel(detectors=DETECTION_YAML)
    try:
        s.start()
        for evs in detection_windows():
            st, _, body = s.post_events(evs)
            assert st == 202, body
        s.wait_event(detection_events()[-1]["event_id"])

        def enough():
            r = settled(stored_anomalies(s))
            return r if len(r) >= len(EXPECTED_ANOMALIES) else None
        live = wait_for(enough, 30, what="live anomalies")
        live = sorted(record_key(r) for r in live)
    finally:
        s.cleanup()
    check_no_sanitizer_reports(s)
    out = files.path("anomalies-eq.ndjson")
    rc, _, err = replay(files, out=out)
    assert rc == 0, (rc, err)
    rep = sorted(r["key"] for r in settled(replay_rows(read_lines(out))))
    assert len(live) == len(EXPECTED_ANOMALIES), live
    diff = [(a, b) for a, b in zip(live, rep) if a != b]
    assert live == rep, "live vs replay:\n" + "\n".join(
        "%s\n%s" % d for d in diff) + "\nlive %d replay %d" % (len(live), len(rep))


def test_usage_errors_exit_2(files):
    for args in (["replay"],
                 ["replay", "--input", files.events],
                 ["replay", "--detectors", files.detectors],
                 ["replay", "--detectors", files.detectors, "--input"],
                 ["replay", "--detectors", files.detectors, "--input",
                  files.events, "--frobnicate"],
                 ["replay", "extra", "--detectors", files.detectors,
                  "--input", files.events],
                 ["replay", "--event", "x", "--detectors", files.detectors,
                  "--input", files.events]):
        rc, out, err = run_cli(*args)
        assert rc == 2, (args, rc, out, err)
        assert "usage: sentinel-cli" in err, (args, err)


def test_bad_detectors_or_input_exit_1(files):
    bad = files.path("bad-detectors.yaml")
    with open(bad, "w") as f:
        f.write("detectors:\n  - id: x\n    type: threshold\n    config:\n"
                "      metric: latency_ms\n      condition: greater_than\n"
                "      threshold: 5\n      aggregation: median\n"
                "      window: 1m\n")
    rc, out, err = run_cli("replay", "--detectors", bad, "--input", files.events)
    assert rc == 1, (rc, out, err)
    assert "bad-detectors.yaml:8: detectors[0].config.aggregation:" in err, err
    assert out == "", out

    rc, out, err = run_cli("replay", "--detectors", files.detectors,
                           "--input", files.path("missing.ndjson"))
    assert rc == 1 and "missing.ndjson" in err, (rc, err)
    rc, out, err = run_cli("replay", "--detectors", files.path("nope.yaml"),
                           "--input", files.events)
    assert rc == 1 and "nope.yaml" in err, (rc, err)


def main():
    tap = Tap()
    files = Files()
    try:
        for t in (test_replay_writes_the_expected_anomalies,
                  test_bad_lines_are_reported_with_their_number_and_skipped,
                  test_replay_from_stdin_gives_the_same_records,
                  test_replay_equals_live,
                  test_usage_errors_exit_2,
                  test_bad_detectors_or_input_exit_1):
            tap.run(t, files)
    finally:
        files.cleanup()
    tap.done()


if __name__ == "__main__":
    main()
