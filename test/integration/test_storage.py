"""Storage's read side in the running set: events POSTed come back
through the query API (each filter, pagination that gives every event
exactly once and newest first, one event by id or a JSON 404),
anomalies are listed with their filters, metrics from the rollups equal
what the raw events give (p95 within the sketch's error), bad parameters
answer 400 naming the parameter, and a stored that does not answer makes
a 504 without blocking ingestd.  `sentinel-cli storage check` is ok on a
fresh set and reports a deliberately corrupted file; `storage retention
show` lists every policy; `storage backup` taken while events pour in
holds every event stored before it started, and a fresh set started on
the backup serves them."""

import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

from harness import (CLI, Sentinel, Tap, check_no_sanitizer_reports, iso,
                     parse_time, wait_for)

MINUTE_MS = 60000
# The sketch's stated relative error (stored/rollup.h ROLLUP_SKETCH_ERROR).
SKETCH_ERROR = 0.01


def get(s, path, **params):
    """GET path with params (url-encoded); (status, headers, body)."""
    if params:
        path = path + "?" + urllib.parse.urlencode(params)
    return s.request("GET", path)


def get_ok(s, path, **params):
    st, _, body = get(s, path, **params)
    assert st == 200, (st, path, params, body)
    return body


def now_ms():
    return int(time.time() * 1000)


# Events of the listing tests: 250 of them, one every 10 s ending about
# ten minutes ago, over two applications, three event types, every 7th
# an error.
BASE_MS = (now_ms() // MINUTE_MS - 60) * MINUTE_MS


def listing_events():
    out = []
    for i in range(250):
        out.append({
            "event_id": "list-%03d" % i,
            "timestamp": iso(BASE_MS + i * 10000),
            "event_type": ["llm.response", "llm.request", "llm.error"][i % 3],
            "application_id": "shop" if i % 2 else "support",
            "data": {"status": "error" if i % 7 == 0 else "success",
                     "latency_ms": 100 + i, "model": "gpt-4o"},
        })
    return out


def page_through(s, path, key, limit, **params):
    """Every item of a paginated list, following next_cursor."""
    items, cursor, pages = [], None, 0
    while True:
        q = dict(params, limit=str(limit))
        if cursor:
            q["cursor"] = cursor
        body = get_ok(s, path, **q)
        assert len(body[key]) <= limit, body
        items += body[key]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            return items, pages
        assert pages < 100


def test_events_filters_and_pagination(s):
    evs = listing_events()
    for i in range(0, len(evs), 50):
        st, _, body = s.post_events(evs[i:i + 50])
        assert st == 202, body
    s.wait_event("list-249")

    items, pages = page_through(s, "/api/v1/events", "events", 100)
    ids = [e["event_id"] for e in items]
    assert pages == 3, pages
    assert sorted(ids) == sorted(e["event_id"] for e in evs), ids
    assert len(set(ids)) == len(ids) == 250
    # newest first
    assert ids == ["list-%03d" % i for i in range(249, -1, -1)], ids[:5]
    first = items[0]
    assert first["data"] == evs[-1]["data"] and "seq" in first, first
    assert parse_time(first["received_at"]) > BASE_MS, first

    def ids_of(**params):
        got, _ = page_through(s, "/api/v1/events", "events", 1000, **params)
        return sorted(e["event_id"] for e in got)

    assert ids_of(application_id="shop") == sorted(
        e["event_id"] for e in evs if e["application_id"] == "shop")
    assert ids_of(event_type="llm.error") == sorted(
        e["event_id"] for e in evs if e["event_type"] == "llm.error")
    assert ids_of(status="error") == sorted(
        e["event_id"] for e in evs if e["data"]["status"] == "error")
    lo, hi = BASE_MS + 100 * 10000, BASE_MS + 120 * 10000
    assert ids_of(**{"from": iso(lo), "to": iso(hi)}) == [
        "list-%03d" % i for i in range(100, 120)]
    assert ids_of(application_id="support", status="error",
                  **{"from": iso(lo)}) == sorted(
        e["event_id"] for i, e in enumerate(evs)
        if i >= 100 and i % 2 == 0 and i % 7 == 0)
    # relative times: everything is older than now-1m
    assert ids_of(**{"to": "now-1m"}) == sorted(e["event_id"] for e in evs)
    assert ids_of(**{"from": "now-1m"}) == []
    # an empty value is no filter
    assert len(ids_of(application_id="", status="")) == 250


def test_event_by_id_and_404(s):
    ev = {"event_id": "odd id/with+chars é", "timestamp": iso(BASE_MS),
          "event_type": "llm.response", "application_id": "shop",
          "data": {"status": "success", "latency_ms": 5, "extra": [1, 2]},
          "custom": {"k": "v"}}
    st, _, body = s.post_events(ev)
    assert st == 202, body
    s.wait_event(ev["event_id"])
    path = "/api/v1/events/" + urllib.parse.quote(ev["event_id"], safe="")
    st, hdrs, body = s.get(path)
    assert st == 200, (st, body)
    assert hdrs["Content-Type"] == "application/json"
    for k in ev:
        assert body[k] == ev[k], (k, body)
    assert isinstance(body["seq"], int) and "received_at" in body
    st, hdrs, body = s.get("/api/v1/events/list-042")
    assert st == 200 and body["event_id"] == "list-042", body

    st, hdrs, body = s.get("/api/v1/events/no-such-event")
    assert st == 404, (st, body)
    assert hdrs["Content-Type"] == "application/json"
    assert body == {"error": "not found", "event_id": "no-such-event"}, body
    st, _, body = s.request("DELETE", "/api/v1/events/list-042")
    assert st == 405 and body["error"] == "method not allowed", body


def test_anomalies_listing_and_filters(s):
    # harness's detectors: high-latency (each, > 5000, warning) and
    # high-cost (each, > 1.0, critical).  Each slow or pricey event
    # fires; the next normal one resolves.
    t = BASE_MS + 30 * MINUTE_MS
    evs = []
    for k, (app, lat, cost) in enumerate([
            ("shop", 7000, 0.01), ("shop", 100, 0.01),
            ("support", 100, 2.5), ("support", 100, 0.01),
            ("shop", 9000, 3.0), ("shop", 100, 0.01)]):
        evs.append({"event_id": "anom-%d" % k, "timestamp": iso(t + k * 1000),
                    "event_type": "llm.response", "application_id": app,
                    "data": {"status": "success", "latency_ms": lat,
                             "cost": cost}})
    for e in evs:  # one at a time: each event's decision in order
        st, _, body = s.post_events(e)
        assert st == 202, body
    s.wait_event("anom-5")
    want = 8  # latency: fire, resolve, fire, resolve; cost: the same
    wait_for(lambda: s.query(
        "SELECT count(*) FROM anomalies WHERE ts_ms >= ?", (t,))[0][0] >= want,
        20, what="the test's anomalies")

    def listed(**params):
        got, _ = page_through(s, "/api/v1/anomalies", "anomalies", 1000,
                              **dict(params, **{"from": iso(t)}))
        return got

    everything = listed()
    assert len(everything) == want, everything
    # newest first
    times = [parse_time(a["timestamp"]) for a in everything]
    assert times == sorted(times, reverse=True), times
    a = everything[0]
    for k in ("id", "timestamp", "status", "detector_id", "detector_type",
              "alert", "severity", "labels", "application_id", "model",
              "metric", "value", "expected", "score", "threshold",
              "window_start", "window_end", "samples", "event_id",
              "event_ids", "message", "detected_at"):
        assert k in a, (k, a)
    assert isinstance(a["labels"], dict) and isinstance(a["event_ids"], list), a

    lat = listed(detector="high-latency")
    assert {x["detector_id"] for x in lat} == {"high-latency"} and len(lat) == 4
    crit = listed(severity="critical")
    assert {x["detector_id"] for x in crit} == {"high-cost"} and len(crit) == 4
    firing = listed(status="firing")
    assert len(firing) == 4 and {x["status"] for x in firing} == {"firing"}
    assert sorted(x["event_id"] for x in firing) == [
        "anom-0", "anom-2", "anom-4", "anom-4"], firing
    shop = listed(application_id="shop", status="firing")
    assert sorted((x["detector_id"], x["event_id"]) for x in shop) == [
        ("high-cost", "anom-4"), ("high-latency", "anom-0"),
        ("high-latency", "anom-4")], shop
    one = listed(detector="high-cost", application_id="support",
                 status="resolved")
    assert [x["event_id"] for x in one] == ["anom-3"], one
    # pagination one at a time gives the same list
    paged, pages = page_through(s, "/api/v1/anomalies", "anomalies", 1,
                                **{"from": iso(t)})
    assert [x["id"] for x in paged] == [x["id"] for x in everything]
    assert pages == want


# Events of the metrics test: 40 minutes, a varying number per minute,
# latencies spread over two orders of magnitude, some errors, two
# models, tokens and cost.
METRICS_T0 = (now_ms() // 3600000 - 2) * 3600000 + 5 * MINUTE_MS


def metrics_events():
    rnd = random.Random(4)
    out = []
    for m in range(40):
        for k in range(rnd.randint(1, 12)):
            ts = METRICS_T0 + m * MINUTE_MS + rnd.randint(0, 59999)
            out.append({
                "event_id": "met-%02d-%02d" % (m, k), "timestamp": iso(ts),
                "event_type": "llm.response", "application_id": "metrics-app",
                "data": {"status": "error" if rnd.random() < 0.2 else "success",
                         "latency_ms": round(rnd.uniform(20, 4000), 1),
                         "total_tokens": rnd.randint(10, 900),
                         "cost": round(rnd.uniform(0, 0.1), 5),
                         "model": rnd.choice(["gpt-4o", "gpt-4o-mini"])}})
    return out


def exact(values, agg):
    if agg == "count":
        return len(values)
    if agg == "sum":
        return sum(values)
    if agg == "avg":
        return sum(values) / len(values)
    if agg == "min":
        return min(values)
    if agg == "max":
        return max(values)
    q = {"p50": 0.5, "p90": 0.9, "p95": 0.95, "p99": 0.99}[agg]
    v = sorted(values)
    return v[int(q * (len(v) - 1))]  # the rank the sketch answers


def buckets(evs, step_ms, metric, **match):
    out = {}
    for e in evs:
        if any((e["data"].get(k) if k == "model" else e[k]) != v
               for k, v in match.items()):
            continue
        t = parse_time(e["timestamp"])
        b = t - t % step_ms
        if metric == "requests":
            out.setdefault(b, []).append(e["data"]["status"] != "success")
        else:
            out.setdefault(b, []).append(e["data"][metric])
    return out


def check_series(s, evs, metric, agg, step, step_ms, resolution, **match):
    body = get_ok(s, "/api/v1/metrics/query", application_id="metrics-app",
                  metric=metric, agg=agg, step=step,
                  **dict(match, **{"from": iso(METRICS_T0 - 5 * MINUTE_MS),
                                   "to": iso(METRICS_T0 + 45 * MINUTE_MS)}))
    assert body["resolution"] == resolution, body
    assert body["metric"] == metric and body["agg"] == agg, body
    want = buckets(evs, step_ms, metric, **match)
    got = {parse_time(p["ts"]): p for p in body["points"]}
    assert sorted(got) == sorted(want), (sorted(got), sorted(want))
    for b, vals in want.items():
        p = got[b]
        assert p["count"] == len(vals), (b, p, len(vals))
        if metric == "requests":
            e = {"count": len(vals), "error_rate": sum(vals) / len(vals),
                 "rate": len(vals) / (step_ms / 1000)}[agg]
            assert abs(p["value"] - e) < 1e-9, (b, agg, p, e)
        elif agg.startswith("p"):
            e = exact(vals, agg)
            assert abs(p["value"] - e) <= SKETCH_ERROR * abs(e) + 1e-9, (
                b, agg, p, e)
        else:
            e = exact(vals, agg)
            assert abs(p["value"] - e) <= 1e-9 * max(1, abs(e)), (b, agg, p, e)


def test_metrics_from_rollups_equal_raw(s):
    evs = metrics_events()
    for i in range(0, len(evs), 100):
        st, _, body = s.post_events(evs[i:i + 100])
        assert st == 202, body
    s.wait_event(evs[-1]["event_id"])

    # Rollups trail the events by up to a second (stored/rollup.h).
    def rolled_up():
        body = get_ok(s, "/api/v1/metrics/query", application_id="metrics-app",
                      metric="requests", agg="count", step="1h",
                      **{"from": iso(METRICS_T0 - 3600000),
                         "to": iso(METRICS_T0 + 3600000)})
        return sum(p["count"] for p in body["points"]) == len(evs)
    wait_for(rolled_up, 15, what="rollups of every event")
    for agg in ("count", "sum", "avg", "min", "max", "p50", "p90", "p95",
                "p99"):
        check_series(s, evs, "latency_ms", agg, "1m", MINUTE_MS, "1m")
    for agg in ("count", "sum", "avg", "max", "p95"):
        check_series(s, evs, "latency_ms", agg, "5m", 5 * MINUTE_MS, "1m")
        check_series(s, evs, "total_tokens", agg, "1h", 3600000, "1h")
        check_series(s, evs, "cost", agg, "1m", MINUTE_MS, "1m",
                     model="gpt-4o-mini")
    for agg in ("count", "error_rate", "rate"):
        check_series(s, evs, "requests", agg, "1m", MINUTE_MS, "1m")
        check_series(s, evs, "requests", agg, "2m", 2 * MINUTE_MS, "1m")
    # finer than the rollups: raw events, exact quantiles
    for agg in ("count", "sum", "min", "max", "p95"):
        check_series(s, evs, "latency_ms", agg, "10s", 10000, "raw")
        check_series(s, evs, "latency_ms", agg, "90s", 90000, "raw")
    check_series(s, evs, "requests", "error_rate", "30s", 30000, "raw")
    # defaults: the last hour, by the minute, avg latency
    body = get_ok(s, "/api/v1/metrics/query", application_id="nobody")
    assert body["points"] == [] and body["step"] == "1m", body
    assert body["metric"] == "latency_ms" and body["agg"] == "avg", body
    assert parse_time(body["to"]) - parse_time(body["from"]) in (
        3600000, 3660000), body


BAD = [
    ("/api/v1/events", {"limit": "0"}, "limit"),
    ("/api/v1/events", {"limit": "1001"}, "limit"),
    ("/api/v1/events", {"limit": "many"}, "limit"),
    ("/api/v1/events", {"from": "yesterday"}, "from"),
    ("/api/v1/events", {"to": "now-"}, "to"),
    ("/api/v1/events", {"from": "now", "to": "now-1h"}, "from"),
    ("/api/v1/events", {"from": "1762430400000"}, "from"),
    ("/api/v1/events", {"cursor": "bogus"}, "cursor"),
    ("/api/v1/events", {"app": "x"}, "app"),
    ("/api/v1/anomalies", {"status": "open"}, "status"),
    ("/api/v1/anomalies", {"limit": "-1"}, "limit"),
    ("/api/v1/anomalies", {"event_type": "x"}, "event_type"),
    ("/api/v1/metrics/query", {"metric": "speed"}, "metric"),
    ("/api/v1/metrics/query", {"agg": "p42"}, "agg"),
    ("/api/v1/metrics/query", {"metric": "requests", "agg": "p95"}, "agg"),
    ("/api/v1/metrics/query", {"step": "500ms"}, "step"),
    ("/api/v1/metrics/query", {"step": "10s", "from": "now-7d"}, "step"),
    ("/api/v1/metrics/query", {"from": "2025-02-30T00:00:00Z"}, "from"),
    ("/api/v1/metrics/query", {"to": "soon"}, "to"),
]


def test_bad_parameters_answer_400_naming_it(s):
    for path, params, name in BAD:
        st, hdrs, body = get(s, path, **params)
        assert st == 400, (path, params, st, body)
        assert hdrs["Content-Type"] == "application/json"
        assert body["error"] == "invalid parameter", body
        assert body["parameter"] == name, (path, params, body)
        assert body["reason"], body
    # finer than 1m needs raw events, kept 7d here
    st, _, body = get(s, "/api/v1/metrics/query", step="30s",
                      **{"from": "now-8d", "to": "now-7d23h"})
    assert st == 400 and body["parameter"] == "step", body
    assert "7d" in body["reason"], body
    # the same parameter twice
    st, _, body = s.get("/api/v1/events?limit=1&limit=2")
    assert st == 400 and body["parameter"] == "limit", body
    # wrong method, unknown path below the API
    st, hdrs, body = s.request("POST", "/api/v1/anomalies", {})
    assert st == 405 and "GET" in hdrs["Allow"], body
    st, _, body = s.get("/api/v1/anomalies/x")
    assert st == 404 and body["error"] == "not found", body


def cli_json(s, *args, cwd=None):
    where = ["--socket", os.path.join(s.run_dir, "sentinel.sock")]
    r = subprocess.run([CLI] + where + list(args), capture_output=True,
                       text=True, timeout=120, cwd=cwd)
    return r.returncode, r.stdout, r.stderr


def test_storage_check_ok(s):
    rc, out, err = s.cli("storage", "check")
    assert rc == 0, (rc, out, err)
    assert "OK" in out.splitlines()[0] and "quick_check: ok" in out, out
    rc, out, err = s.cli("--json", "storage", "check", "--full")
    assert rc == 0, (rc, out, err)
    c = json.loads(out)
    assert c["ok"] is True and c["problems"] == [], c
    assert c["integrity"] == {"check": "integrity_check", "ok": True,
                              "messages": []}, c
    assert c["schema_version"] >= 3 and c["file_bytes"] > 0, c
    assert c["rows"]["events"] >= 250 and "rollups" in c["rows"], c
    assert c["disk"]["free_bytes"] > 0, c
    assert parse_time(c["events"]["oldest"]) <= BASE_MS, c
    assert c["path"] == os.path.realpath(s.db_path) or \
        c["path"].endswith("data/sentinel.db"), c


POLICIES = ["events", "rollups_1m", "rollups_1h", "anomalies", "notifications"]


def test_retention_show_lists_every_policy(s):
    rc, out, err = s.cli("--json", "storage", "retention", "show")
    assert rc == 0, (rc, out, err)
    r = json.loads(out)
    assert [p["policy"] for p in r["policies"]] == POLICIES, r
    raw = r["policies"][0]
    assert raw["table"] == "events" and raw["keep"] == "7d", raw
    assert raw["key"] == "storage.retention.raw", raw
    assert raw["rows"] >= 250 and parse_time(raw["oldest"]) <= BASE_MS, raw
    assert r["policies"][2]["keep"] == "90d", r
    for p in r["policies"]:
        assert "last_run" in p and "cutoff" in p, p
    rc, out, err = s.cli("storage", "retention", "show")
    assert rc == 0, (rc, out, err)
    for name in POLICIES:
        assert name in out, out


def test_backup_while_ingesting_then_restore(s):
    stop = threading.Event()
    acked = []
    lock = threading.Lock()

    def pour():
        k = 0
        while not stop.is_set():
            batch = [{"event_id": "bk-%05d-%d" % (k, j),
                      "timestamp": iso(BASE_MS + 40 * MINUTE_MS + k * 50 + j),
                      "event_type": "llm.response", "application_id": "bk",
                      "data": {"status": "success", "latency_ms": 10 + j}}
                     for j in range(20)]
            st, _, _ = s.post_events(batch)
            if st == 202:
                with lock:
                    acked.extend(e["event_id"] for e in batch)
            k += 1

    t = threading.Thread(target=pour)
    t.start()
    try:
        wait_for(lambda: len(acked) >= 2000, 60, what="2000 events acked")
        # A 202 means both consumers' queues took the events; wait until
        # stored made them durable, then back up while more pour in.
        with lock:
            before = list(acked)
        last = before[-1]
        s.wait_event(last, 30)
        n = s.query("SELECT count(*) FROM events WHERE application_id = 'bk'")[0][0]
        assert n >= len(before), (n, len(before))
        rc, out, err = cli_json(s, "--json", "storage", "backup",
                                "backup.db", cwd=s.dir)
        assert rc == 0, (rc, out, err)
        info = json.loads(out)
        with lock:
            after = len(acked)
    finally:
        stop.set()
        t.join()
    path = os.path.join(s.dir, "backup.db")
    assert info["path"] == path and info["bytes"] == os.path.getsize(path), info
    assert info["pages"] > 0, info
    assert after > len(before), "ingestion went on during the backup"

    # a second backup to the same file is refused; --force replaces it
    rc, out, err = cli_json(s, "storage", "backup", path)
    assert rc == 1 and "exists" in err, (rc, out, err)

    con = sqlite3.connect("file:%s?mode=ro" % path, uri=True)
    try:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        have = {r[0] for r in con.execute(
            "SELECT event_id FROM events WHERE application_id = 'bk'")}
        ver = con.execute("PRAGMA user_version").fetchone()[0]
    finally:
        con.close()
    missing = [e for e in before if e not in have]
    assert not missing, (len(missing), missing[:5])
    assert ver >= 3

    # restore: a fresh set whose database is the backup
    r = Sentinel()
    try:
        os.makedirs(r.data_dir)
        shutil.copy(path, r.db_path)
        r.start()
        items, _ = page_through(r, "/api/v1/events", "events", 1000,
                                application_id="bk")
        got = {e["event_id"] for e in items}
        assert got == have, (len(got), len(have))
        assert get_ok(r, "/api/v1/events/" + before[0])["event_id"] == before[0]
        rc, out, err = r.cli("storage", "check")
        assert rc == 0, (rc, out, err)
        st, _, body = r.post_events({"event_id": "after-restore",
                                     "timestamp": iso(now_ms()),
                                     "event_type": "llm.response",
                                     "application_id": "bk", "data": {}})
        assert st == 202, body
        r.wait_event("after-restore")
    finally:
        r.cleanup()
    check_no_sanitizer_reports(r)


def test_stuck_stored_gives_504_and_ingestd_stays_responsive(s):
    pid = s.daemon("stored")["pid"]
    os.kill(pid, signal.SIGSTOP)
    try:
        result = {}

        def slow():  # urllib's own timeout must outlast ingestd's 10 s
            req = urllib.request.Request(
                "http://127.0.0.1:%d/api/v1/events?limit=1" % s.http_port)
            try:
                with urllib.request.urlopen(req, timeout=30) as r:
                    result["r"] = (r.status, json.loads(r.read()))
            except urllib.error.HTTPError as e:
                result["r"] = (e.code, json.loads(e.read()))

        t = threading.Thread(target=slow)
        t0 = time.monotonic()
        t.start()
        time.sleep(0.5)
        # the loop is not waiting for stored: health answers at once
        t1 = time.monotonic()
        st, _, body = s.get("/health")
        assert st == 200 and time.monotonic() - t1 < 1.0, body
        t.join(20)
        st, body = result["r"]
        assert st == 504, (st, body)
        assert body["error"] == "query timed out", body
        assert 9 <= time.monotonic() - t0 <= 15
    finally:
        os.kill(pid, signal.SIGCONT)
    get_ok(s, "/api/v1/events", limit="1")


def corrupt_index(db_path, index):
    """Overwrites the header of index's root page with garbage, leaving
    the tables and the schema readable (so stored still starts)."""
    con = sqlite3.connect(db_path)
    try:
        root = con.execute("SELECT rootpage FROM sqlite_master WHERE name = ?",
                           (index,)).fetchone()[0]
        size = con.execute("PRAGMA page_size").fetchone()[0]
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        con.close()
    assert root > 1
    with open(db_path, "r+b") as f:
        f.seek((root - 1) * size)
        f.write(b"\xee" * 64)
    return root


def test_check_reports_a_corrupted_file():
    s = Sentinel()
    c = Sentinel()
    try:
        s.start()
        evs = [{"event_id": "cor-%04d" % i, "timestamp": iso(BASE_MS + i),
                "event_type": "llm.response",
                "application_id": "app-%d" % (i % 50),
                "data": {"latency_ms": i}} for i in range(3000)]
        for i in range(0, len(evs), 500):
            st, _, body = s.post_events(evs[i:i + 500])
            assert st == 202, body
        s.wait_event("cor-2999")
        assert s.stop() == 0
        # a copy of the file, damaged, under a set of its own
        os.makedirs(c.data_dir)
        shutil.copy(s.db_path, c.db_path)
        corrupt_index(c.db_path, "events_ts_event_id")
        c.start()
        rc, out, err = c.cli("--json", "storage", "check")
        assert rc == 1, (rc, out, err)
        r = json.loads(out)
        assert r["ok"] is False and r["integrity"]["ok"] is False, r
        assert r["integrity"]["messages"] and r["problems"], r
        rc, out, err = c.cli("storage", "check")
        assert rc == 1 and "PROBLEMS FOUND" in out and "FAILED" in out, out
        # the untouched copy is fine
        rc, out, err = cli_json(s, "storage", "check")
        assert rc == 1 and "cannot reach stored" in err, (rc, err)
    finally:
        s.cleanup()
        c.cleanup()
    check_no_sanitizer_reports(s, c)


def test_short_retention_shows_in_queries_and_retention_show():
    s = Sentinel()
    s.write_config(s.config_text().replace(
        "    raw: 7d\n", "    raw: 30s\n    interval: 1s\n"))
    try:
        s.start()
        now = now_ms()
        old = [{"event_id": "old-%d" % i, "timestamp": iso(now - 3600000 + i),
                "event_type": "llm.response", "application_id": "ret",
                "data": {"latency_ms": 5}} for i in range(20)]
        new = [dict(e, event_id="new-%d" % i, timestamp=iso(now + i))
               for i, e in enumerate(old)]
        st, _, body = s.post_events(old + new)
        assert st == 202, body

        def listed():
            got, _ = page_through(s, "/api/v1/events", "events", 1000,
                                  application_id="ret")
            return sorted(e["event_id"] for e in got)
        want = sorted(e["event_id"] for e in new)
        wait_for(lambda: listed() == want, 20, what="old events deleted")
        assert get(s, "/api/v1/events/old-0")[0] == 404

        def ran():
            rc, out, err = s.cli("--json", "storage", "retention", "show")
            assert rc == 0, (rc, out, err)
            pol = {p["policy"]: p for p in json.loads(out)["policies"]}
            ev = pol["events"]
            return ev if ev["last_run"] and \
                ev["last_run"]["deleted_total"] >= 20 else None
        ev = wait_for(ran, 20, what="retention_runs of events")
        assert ev["keep"] == "30s" and ev["rows"] == 20, ev
        assert parse_time(ev["oldest"]) >= now, ev
        assert parse_time(ev["last_run"]["cutoff"]) > now - 3600000, ev
        rc, out, err = s.cli("--json", "storage", "check")
        assert rc == 0, (rc, out, err)
        assert "events" in json.loads(out)["retention"], out
    finally:
        s.cleanup()
    check_no_sanitizer_reports(s)


def main():
    tap = Tap()
    s = Sentinel()
    try:
        s.start()
        for t in (test_events_filters_and_pagination,
                  test_event_by_id_and_404,
                  test_anomalies_listing_and_filters,
                  test_metrics_from_rollups_equal_raw,
                  test_bad_parameters_answer_400_naming_it,
                  test_storage_check_ok,
                  test_retention_show_lists_every_policy,
                  test_backup_while_ingesting_then_restore,
                  test_stuck_stored_gives_504_and_ingestd_stays_responsive):
            tap.run(t, s)
    finally:
        s.cleanup()
    tap.run(check_no_sanitizer_reports, s)
    tap.run(test_check_reports_a_corrupted_file)
    tap.run(test_short_retention_shows_in_queries_and_retention_show)
    tap.done()


if __name__ == "__main__":
    main()
