"""Chaos: nothing acknowledged is lost.

Several clients send batches of events continuously while a daemon of
the set, chosen at random, is killed with SIGKILL about every second
(each of the four several times, ingestd included).  Then the load
stops, the set recovers, and every event_id that got a 202 must be in
storage exactly once; the supervisor must have restarted every kill;
detectd must have raised an anomaly for each application that sent an
outlier.  A second test kills the whole set (supervisor and daemons)
mid-load and starts it again on the same folder.

The figures (sent, acknowledged, found, lost, duplicates, kills) are
printed as TAP comments."""

import http.client
import json
import os
import random
import signal
import threading
import time

from harness import DAEMONS, Sentinel, Tap, check_no_sanitizer_reports, iso, wait_for

DETECTORS = """\
detectors:
  - id: slow
    type: threshold
    config:
      metric: latency_ms
      aggregation: each
      condition: greater_than
      threshold: 5000
    actions:
      - alert: slow-alert
        severity: warning
"""

ALERTS = """\
routing:
  - match:
      severity: critical
    receivers: [nobody]
receivers:
  - name: nobody
    type: webhook
    config:
      url: http://127.0.0.1:9/none
"""

CLIENTS = 4
BATCH = 20


class Load:
    """CLIENTS threads posting BATCH events per request until stopped;
    acked holds every event_id answered 202.  Every 25th request of a
    client carries one outlier for the application outlier-<client>-<n>,
    remembered in outlier_apps when acknowledged."""

    def __init__(self, port, tag):
        self.port = port
        self.tag = tag
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.acked = set()
        self.sent = 0
        self.refused = {}
        self.outlier_apps = set()
        self.threads = [threading.Thread(target=self.run, args=(i,),
                                         daemon=True)
                        for i in range(CLIENTS)]

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(30)

    def run(self, client):
        conn = None
        n = 0
        while not self.stop.is_set():
            n += 1
            now = int(time.time() * 1000)
            events = []
            outlier = None
            for k in range(BATCH):
                ev = {"event_id": "%s-c%d-%d-%d" % (self.tag, client, n, k),
                      "timestamp": iso(now),
                      "event_type": "llm.response",
                      "application_id": "app-%d" % (k % 3),
                      "data": {"latency_ms": 900 + k, "cost": 0.01}}
                events.append(ev)
            if n % 25 == 0:
                outlier = "outlier-%d-%d" % (client, n)
                events[0]["application_id"] = outlier
                events[0]["data"]["latency_ms"] = 9000
            body = json.dumps(events)
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", self.port,
                                                      timeout=5)
                conn.request("POST", "/api/v1/telemetry/events", body,
                             {"Content-Type": "application/json"})
                r = conn.getresponse()
                r.read()
                status = r.status
            except (OSError, http.client.HTTPException):
                status = None
                if conn is not None:
                    conn.close()
                conn = None
                time.sleep(0.05)
            with self.lock:
                self.sent += len(events)
                if status == 202:
                    self.acked.update(e["event_id"] for e in events)
                    if outlier:
                        self.outlier_apps.add(outlier)
                else:
                    self.refused[status] = self.refused.get(status, 0) + 1
            if status in (429, 503):
                time.sleep(0.1)
        if conn is not None:
            conn.close()


def stored_ids(s, tag):
    rows = s.query("SELECT event_id, count(*) FROM events WHERE event_id"
                   " LIKE ? GROUP BY event_id", (tag + "-%",))
    return {r[0]: r[1] for r in rows}


def check_all_stored(s, load, ctx, name):
    """Waits until every acknowledged event is stored, then checks
    exactly once; records the figures."""
    def caught_up():
        return load.acked <= set(stored_ids(s, load.tag))
    try:
        wait_for(caught_up, 90, interval=0.5, what="every acked event stored")
    except AssertionError:
        pass
    ids = stored_ids(s, load.tag)
    lost = load.acked - set(ids)
    dups = {k: v for k, v in ids.items() if v != 1}
    ctx[name] = {"sent": load.sent, "acked": len(load.acked),
                 "found": len(load.acked & set(ids)), "lost": len(lost),
                 "duplicates": len(dups), "refused": load.refused}
    assert len(load.acked) > 1000, ctx[name]
    assert not lost, (len(lost), sorted(lost)[:10])
    assert not dups, list(dups.items())[:10]


def pids(s):
    return {d["name"]: d["pid"] for d in s.status()["daemons"]}


def test_kill_random_daemons_under_load(ctx):
    s = ctx["s"]
    load = Load(s.http_port, "chaos").start()
    kills = {d: 0 for d in DAEMONS}
    rnd = random.Random(7)
    order = DAEMONS * 3
    rnd.shuffle(order)
    try:
        time.sleep(1.0)
        for name in order:
            try:
                pid = pids(s).get(name)
            except AssertionError:
                pid = None  # the CLI raced a restart: next round
            if pid:
                os.kill(pid, signal.SIGKILL)
                kills[name] += 1
            time.sleep(0.6 + rnd.random() * 0.8)
    finally:
        time.sleep(1.0)
        load.finish()
    ctx["kills"] = kills
    wait_for(lambda: all(d["state"] == "up" for d in s.status()["daemons"]),
             60, interval=0.5, what="every daemon up again")
    restarts = {d["name"]: d["restarts"] for d in s.status()["daemons"]}
    for name, k in kills.items():
        assert k >= 2, kills
        assert restarts[name] >= k, (restarts, kills)
    check_all_stored(s, load, ctx, "random_kills")

    # detectd raised an anomaly for every application that sent an
    # acknowledged outlier, kills notwithstanding
    def flagged():
        rows = s.query("SELECT DISTINCT application_id FROM anomalies"
                       " WHERE detector_id = 'slow' AND status = 'firing'")
        return {r[0] for r in rows}
    assert load.outlier_apps, "no outlier was acknowledged"
    try:
        wait_for(lambda: load.outlier_apps <= flagged(), 30, interval=0.5,
                 what="anomalies for every outlier")
    except AssertionError:
        pass
    missing = load.outlier_apps - flagged()
    assert not missing, sorted(missing)


def test_kill_whole_set_and_restart(ctx):
    s = ctx["s"]
    load = Load(s.http_port, "whole").start()
    time.sleep(2.0)
    before = pids(s)
    os.kill(s.proc.pid, signal.SIGKILL)
    for pid in before.values():
        if pid:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    s.proc.wait()
    s.log.close()
    s.proc = None
    time.sleep(0.5)
    s.start(wait_ready=False)
    time.sleep(2.0)
    load.finish()
    s.wait_ready(60)
    check_all_stored(s, load, ctx, "whole_set_kill")


def main():
    tap = Tap()
    s = None
    try:
        s = Sentinel(detectors=DETECTORS, alerts=ALERTS)
        s.start()  # after the assignment: a failed start is cleaned up
        ctx = {"s": s}
        tap.run(test_kill_random_daemons_under_load, ctx)
        tap.run(test_kill_whole_set_and_restart, ctx)
        for k in ("random_kills", "whole_set_kill"):
            if k in ctx:
                print("# %s: %s" % (k, json.dumps(ctx[k], sort_keys=True)))
        if "kills" in ctx:
            print("# kills survived: %s" % json.dumps(ctx["kills"]))
        s.cleanup()
        tap.run(check_no_sanitizer_reports, s)
    finally:
        if s is not None:
            s.cleanup()
    tap.done()


if __name__ == "__main__":
    main()
