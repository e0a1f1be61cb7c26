"""Grouping, group_wait, repeat_interval, continue, inhibition and
silences on a running set, with short durations, against a local HTTP
receiver: what each receiver gets, when, and how many times.

Alerts come from real events through detectd: per-event thresholds on
latency (warning), cost (warning) and total_tokens (critical, a stand-in
for a provider-wide error alert, grouped by model only)."""

import json
import os
import signal
import time

from harness import Sentinel, Tap, check_no_sanitizer_reports, wait_for
from test_delivery import Peer, now_event

DETECTORS = """\
detectors:
  - id: high-latency
    type: threshold
    config:
      metric: latency_ms
      aggregation: each
      condition: greater_than
      threshold: 5000
      group_by: [application_id, model]
    actions:
      - alert: high-latency-alert
        severity: warning
  - id: high-cost
    type: threshold
    config:
      metric: cost
      aggregation: each
      condition: greater_than
      threshold: 1.0
      group_by: [application_id, model]
    actions:
      - alert: high-cost-alert
        severity: warning
  - id: provider
    type: threshold
    config:
      metric: total_tokens
      aggregation: each
      condition: greater_than
      threshold: 50000
      group_by: [model]
    actions:
      - alert: provider-error-alert
        severity: critical
"""


def alerts_yaml(peer):
    return """\
routing:
  - match:
      alertname: high-latency-alert
    receivers: [grouped]
    group_by: [alertname]
    group_wait: 2s
    group_interval: 1s
    repeat_interval: 4s
    continue: true
  - match:
      alertname: high-latency-alert
    receivers: [each]
    group_by: ['...']
    group_wait: 0s
    group_interval: 200ms
  - match:
      alertname: high-latency-alert
    receivers: [never]
  - match:
      severity: critical
    receivers: [crit]
    group_by: ['...']
    group_wait: 0s
    group_interval: 200ms
  - match:
      alertname: high-cost-alert
    receivers: [warn]
    group_by: [application_id]
    group_wait: 0s
    group_interval: 300ms
inhibit_rules:
  - source_match:
      alertname: provider-error-alert
    target_match:
      alertname: high-cost-alert
    equal: [model]
receivers:
%s
""" % "\n".join("""\
  - name: %s
    type: webhook
    config:
      url: %s""" % (n, peer.url("/" + n))
                for n in ("grouped", "each", "never", "crit", "warn"))


def ev(eid, app, model, **data):
    e = now_event("%s-%d" % (eid, time.monotonic_ns()), model=model, **data)
    e["application_id"] = app
    return e


def post(s, *events):
    st, _, body = s.post_events(list(events))
    assert st == 202, (st, body)


def bodies(peer, path, start=0):
    return [json.loads(r[3]) for r in peer.got(path, 200)[start:]]


def apps(doc, status=None):
    return sorted(a["labels"]["application_id"] for a in doc["alerts"]
                  if status is None or a["status"] == status)


def test_group_wait_collects_one_notification(ctx):
    """Three applications turn slow within a moment: the grouped
    receiver (group_by alertname, group_wait 2s) gets them together in
    one notification after group_wait; the route continues, so the
    per-alert receiver gets each at once; the next matching route,
    after one that does not continue, gets nothing."""
    s, peer = ctx["s"], ctx["peer"]
    t0 = time.monotonic()
    for app in ("a1", "a2", "a3"):
        post(s, ev("slow", app, "gpt-4o", latency_ms=7000))
    each = wait_for(lambda: len(peer.got("/each", 200)) >= 3 and
                    peer.got("/each", 200), 10, what="3 per-alert notes")
    assert each[2][0] - t0 < 1.5, each[2][0] - t0
    assert not peer.got("/grouped"), "sent before group_wait"
    got = wait_for(lambda: peer.got("/grouped", 200), 10, what="the group")
    waited = got[0][0] - t0
    assert 1.8 <= waited < 4.0, waited
    time.sleep(0.5)
    assert len(peer.got("/grouped")) == 1
    doc = bodies(peer, "/grouped")[0]
    assert apps(doc) == ["a1", "a2", "a3"], doc
    assert doc["groupLabels"] == {"alertname": "high-latency-alert"}, doc
    assert doc["status"] == "firing"
    assert doc["commonLabels"]["alertname"] == "high-latency-alert"
    # continue: true on the first route only
    assert [len(d["alerts"]) for d in bodies(peer, "/each")] == [1, 1, 1]
    assert not peer.got("/never")
    ctx["first_grouped"] = got[0][0]


def test_repeat_interval_resends_unchanged_group(ctx):
    """Unchanged and still firing, the group is sent again once
    repeat_interval (4s) has passed since the first, checked at each
    group_interval (1s), under a new notification id."""
    peer = ctx["peer"]
    first = ctx["first_grouped"]
    got = wait_for(lambda: len(peer.got("/grouped", 200)) >= 2 and
                   peer.got("/grouped", 200), 10, what="the repeat")
    gap = got[1][0] - first
    assert 3.9 <= gap < 6.0, gap
    a, b = bodies(peer, "/grouped")[:2]
    assert apps(a) == apps(b) == ["a1", "a2", "a3"]
    ids = [r[2]["X-Sentinel-Notification-Id"] for r in got[:2]]
    assert ids[0] != ids[1], ids
    assert len(peer.got("/each")) == 3, "per-alert receiver repeated early"


def test_resolved_alert_sent_at_next_interval(ctx):
    """a1 recovers: the group's next flush carries a1 resolved beside
    the two still firing; the per-alert group sends a1's resolve."""
    s, peer = ctx["s"], ctx["peer"]
    n = len(peer.got("/grouped"))
    post(s, ev("calm", "a1", "gpt-4o", latency_ms=800))
    got = wait_for(lambda: bodies(peer, "/grouped", n), 10,
                   what="the group's resolve")
    doc = got[0]
    assert apps(doc, "resolved") == ["a1"], doc
    assert apps(doc, "firing") == ["a2", "a3"], doc
    res = wait_for(lambda: [d for d in bodies(peer, "/each")
                            if d["status"] == "resolved"], 10,
                   what="a1's own resolve")
    assert apps(res[0]) == ["a1"]


def test_inhibition_mutes_same_model_only(ctx):
    """A provider-wide alert for model m1 fires; then cost alerts for
    an application on m1 (muted: same model) and one on m2 (sent).  When
    the provider alert resolves, the muted alert, never announced, is
    sent at its group's next flush."""
    s, peer = ctx["s"], ctx["peer"]
    post(s, ev("provider", "p", "m1", total_tokens=90000))
    wait_for(lambda: [d for d in bodies(peer, "/crit")
                      if d["alerts"][0]["labels"]["model"] == "m1"], 10,
             what="the provider alert")
    post(s, ev("cost", "x1", "m1", cost=3.0, total_tokens=90000),
         ev("cost", "y1", "m2", cost=3.0))
    wait_for(lambda: [d for d in bodies(peer, "/warn")
                      if apps(d) == ["y1"]], 10, what="y1's cost alert")
    line = wait_for(lambda: [l for l in s.log_lines()
                             if "inhibited by the rule at" in
                             l.get("msg", "")], 10,
                    what="the inhibition log line")
    assert "alerts.yaml:" in line[0]["msg"], line[0]
    time.sleep(1.0)
    assert not [d for d in bodies(peer, "/warn") if "x1" in apps(d)]
    # the provider recovers (a normal event for m1 from another app)
    post(s, ev("provider-ok", "p", "m1", total_tokens=300))
    got = wait_for(lambda: [d for d in bodies(peer, "/warn")
                            if apps(d) == ["x1"]], 10,
                   what="x1's alert once no longer inhibited")
    assert got[0]["alerts"][0]["labels"]["model"] == "m1"


def test_silences_mute_persist_and_expire(ctx):
    """sentinel-cli alerts silence add mutes matching alerts; list shows
    it; it survives a kill -9 of alertd; expire ends it, and the alert,
    still firing and never announced, is sent at the next flush.  A 2s
    silence ends by itself."""
    s, peer = ctx["s"], ctx["peer"]
    rc, out, err = s.cli("alerts", "silence", "add",
                         "--match", "alertname=high-cost-alert",
                         "--match", "application_id=~z[0-9]",
                         "--duration", "1h", "--comment", "maintenance",
                         "--author", "tests")
    assert rc == 0, (rc, out, err)
    sid = out.strip().split()[-1]
    assert len(sid) == 32, out
    rc, out, err = s.cli("alerts", "silence", "add", "--match",
                         "application_id=short", "--duration", "2s",
                         "--comment", "brief")
    assert rc == 0, (rc, out, err)
    rc, out, err = s.cli("--json", "alerts", "silence", "list")
    assert rc == 0, err
    listed = json.loads(out)
    mine = [x for x in listed if x["id"] == sid]
    assert mine and mine[0]["state"] == "active", listed
    assert mine[0]["comment"] == "maintenance"
    assert "application_id=~z[0-9]" in mine[0]["matchers"], mine

    post(s, ev("cost", "z1", "m5", cost=3.0), ev("cost", "short", "m5",
                                                cost=3.0),
         ev("cost", "w1", "m5", cost=3.0))
    wait_for(lambda: [d for d in bodies(peer, "/warn") if apps(d) == ["w1"]],
             10, what="w1's unsilenced alert")
    time.sleep(0.7)
    assert not [d for d in bodies(peer, "/warn")
                if "z1" in apps(d) or "short" in apps(d)]

    # the 2 s silence ends by itself
    wait_for(lambda: [d for d in bodies(peer, "/warn")
                      if apps(d) == ["short"]], 10,
             what="the alert after its silence expired")

    # persisted: a kill -9 of alertd keeps it
    before = s.daemon("alertd")
    os.kill(before["pid"], signal.SIGKILL)
    s.wait_restarted("alertd", before)
    rc, out, err = s.cli("--json", "alerts", "silence", "list")
    assert rc == 0, err
    assert [x for x in json.loads(out) if x["id"] == sid], out
    time.sleep(0.7)
    assert not [d for d in bodies(peer, "/warn") if "z1" in apps(d)]

    rc, out, err = s.cli("alerts", "status")
    assert rc == 0 and sid in out, out

    rc, out, err = s.cli("alerts", "silence", "expire", sid)
    assert rc == 0, (rc, out, err)
    got = wait_for(lambda: [d for d in bodies(peer, "/warn")
                            if apps(d) == ["z1"]], 10,
                   what="z1's alert after the silence was expired")
    assert got
    rc, out, err = s.cli("alerts", "silence", "expire", sid)
    assert rc != 0, out
    rc, out, err = s.cli("--json", "alerts", "silence", "list")
    assert not [x for x in json.loads(out) if x["id"] == sid]
    rc, out, err = s.cli("--json", "alerts", "silence", "list", "--all")
    assert [x for x in json.loads(out) if x["id"] == sid and
            x["state"] == "expired"], out


def test_status_reports_groups(ctx):
    s = ctx["s"]
    rc, out, err = s.cli("--json", "alerts", "status")
    assert rc == 0, err
    st = json.loads(out)
    assert st["active_groups"] >= 2, st


def main():
    tap = Tap()
    peer = Peer()
    s = None
    try:
        s = Sentinel(detectors=DETECTORS, alerts=alerts_yaml(peer))
        s.start()  # after the assignment: a failed start is cleaned up
        ctx = {"s": s, "peer": peer}
        tap.run(test_group_wait_collects_one_notification, ctx)
        if "first_grouped" in ctx:
            tap.run(test_repeat_interval_resends_unchanged_group, ctx)
            tap.run(test_resolved_alert_sent_at_next_interval, ctx)
        tap.run(test_inhibition_mutes_same_model_only, ctx)
        tap.run(test_silences_mute_persist_and_expire, ctx)
        tap.run(test_status_reports_groups, ctx)
        s.cleanup()
        tap.run(check_no_sanitizer_reports, s)
    finally:
        if s is not None:
            s.cleanup()
        peer.close()
    tap.done()


if __name__ == "__main__":
    main()
