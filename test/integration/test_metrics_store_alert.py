"""stored's and alertd's metrics on a running set, scraped from the
supervisor's /metrics (observability.metrics.port, a free port here).

stored: sentinel_events_stored_total counts the events posted;
sentinel_storage_rows{table} equals count(*) of each table, going up
with inserts and down with retention (a 2-minute raw policy, passes
every second), for events and for rollups deleted and written again,
and again after a restart (counted at start); the database's size;
retention's runs, deleted rows and last run per table.

alertd, against a local HTTP server as webhook receivers: every
configured receiver's sent and failure series exist at 0 before any
alert (and a receiver added by a reload gets them); a delivered
notification is sentinel_alerts_sent_total 1 for its receiver; a
receiver answering 500 has as many sentinel_alert_failures_total as
requests it failed, and its notification is counted as queued until a
retry succeeds; an alert no route takes is
sentinel_alerts_unrouted_total; the firing, group and silence gauges
follow alerts firing, resolving and a silence added and expired."""

import os
import signal
import time

from harness import (
    Sentinel, Tap, check_no_sanitizer_reports, iso, wait_for)
from test_delivery import Peer
from test_grouping import DETECTORS

RETENTION = "    raw: 2m\n    rollups_1m: 10m\n    interval: 1s\n"



def alerts_yaml(peer, extra=""):
    """high-latency goes to ok and bad, each alert its own group sent at
    once; high-cost matches no route and there is no default receiver;
    unused is configured and never routed to."""
    return """\
routing:
  - match:
      alertname: high-latency-alert
    receivers: [ok, bad]
    group_by: ['...']
    group_wait: 0s
    group_interval: 100ms
receivers:
%s
delivery:
  retry_initial: 300ms
  retry_max: 600ms
  max_retry_age: 5m
""" % "\n".join("""\
  - name: %s
    type: webhook
    send_resolved: false
    config:
      url: %s""" % (n, peer.url("/" + n))
                  for n in ["ok", "bad", "unused"] + extra.split())


# --- scraping ---------------------------------------------------------------

def scrape(s):
    return s.scrape()


def val(s, name, **labels):
    """The sample name{labels}, None when it is not exposed."""
    return scrape(s).get((name, tuple(sorted(labels.items()))))


def table(s, name, t):
    return val(s, name, table=t)


def rows(s, t):
    return table(s, "sentinel_storage_rows", t)


def now_ms():
    return int(time.time() * 1000)


def events(prefix, n, ts_ms, app="met"):
    return [{"event_id": "%s-%d-%d" % (prefix, i, time.monotonic_ns()),
             "timestamp": iso(ts_ms + i), "event_type": "llm.response",
             "application_id": app,
             "data": {"model": "gpt-4o", "latency_ms": 100 + i,
                      "total_tokens": 50}}
            for i in range(n)]


def post(s, evs):
    st, _, body = s.post_events(evs)
    assert st == 202, (st, body)


def db_count(s, sql):
    return s.query(sql)[0][0]


def counts_match(s):
    """Every table's gauge equals its count(*), in one scrape."""
    m = scrape(s)
    for t, sql in (
            ("events", "SELECT count(*) FROM events"),
            ("anomalies", "SELECT count(*) FROM anomalies"),
            ("rollups_1m", "SELECT count(*) FROM rollups"
                           " WHERE resolution = 60"),
            ("rollups_1h", "SELECT count(*) FROM rollups"
                           " WHERE resolution = 3600"),
            ("notifications", "SELECT count(*) FROM notifications")):
        got = m.get(("sentinel_storage_rows", (("table", t),)))
        want = db_count(s, sql)
        if got != want:
            return None
    return m


# --- stored -------------------------------------------------------------------

def test_events_stored_and_rows(s):
    """40 events posted: 40 stored, 40 rows of events, every table's
    gauge its count(*), a database of some size."""
    post(s, events("fresh", 40, now_ms()))
    wait_for(lambda: val(s, "sentinel_events_stored_total") == 40, 15,
             what="40 events stored")
    wait_for(lambda: rows(s, "events") == 40, 5, what="40 rows of events")
    assert db_count(s, "SELECT count(*) FROM events") == 40
    wait_for(lambda: counts_match(s), 10, what="each table's rows")
    assert rows(s, "rollups_1m") > 0
    size = val(s, "sentinel_storage_size_bytes")
    assert size is not None and size >= 16384, size


def test_retention_runs_and_rows_go_down(s):
    """30 events two minutes old all but 5 s, then one new: counted,
    rows of events go up to 71, and once the 30 age out a retention pass
    deletes them: rows back to 41, 30 more deleted, runs up, the last
    run now.  (The new one is there because retention keeps the newest
    row: docs/storage.md.)"""
    runs = table(s, "sentinel_retention_runs_total", "events")
    deleted = table(s, "sentinel_retention_deleted_rows_total", "events")
    assert runs is not None and deleted is not None
    t0 = time.time()
    post(s, events("aging", 30, now_ms() - 115000))
    post(s, events("tail", 1, now_ms()))
    wait_for(lambda: rows(s, "events") == 71, 5, interval=0.02,
             what="71 rows of events")
    assert val(s, "sentinel_events_stored_total") == 71
    wait_for(lambda: rows(s, "events") == 41, 20, what="rows back to 41")
    assert db_count(s, "SELECT count(*) FROM events") == 41
    assert table(s, "sentinel_retention_deleted_rows_total",
                 "events") - deleted == 30
    assert table(s, "sentinel_retention_runs_total", "events") > runs
    last = table(s, "sentinel_retention_last_run_timestamp_seconds",
                 "events")
    assert t0 - 1 <= last <= time.time() + 1, (t0, last)
    # every policy ran (notifications keep 30 days: none to delete)
    assert table(s, "sentinel_retention_runs_total", "notifications") > 0
    assert table(s, "sentinel_retention_deleted_rows_total",
                 "notifications") == 0


def test_rollup_rows_follow_retention(s):
    """Events of an hour ago: their 1-minute rollups are written, then
    deleted (rollups_1m: 10m); more events in that same minute write
    them again and they are deleted again.  The rollups_1m gauge stays
    count(*) throughout."""
    ts = now_ms() - 3600000
    ts -= ts % 60000
    late = "SELECT count(*) FROM rollups WHERE resolution = 60 AND " \
           "application_id = 'ancient'"
    for round_ in range(2):
        before = table(s, "sentinel_retention_deleted_rows_total",
                       "rollups_1m")
        post(s, events("ancient%d" % round_, 5, ts + round_ * 100,
                       app="ancient"))
        wait_for(lambda: table(s, "sentinel_retention_deleted_rows_total",
                               "rollups_1m") > before and
                 db_count(s, late) == 0, 20,
                 what="the old minute's rollups deleted")
        wait_for(lambda: counts_match(s), 10,
                 what="each table's rows, round %d" % round_)


def test_rows_counted_again_after_restart(s):
    """A restarted stored counts what the file holds: its gauges equal
    count(*) again; its counters start over."""
    post(s, events("before-restart", 10, now_ms()))
    wait_for(lambda: db_count(s, "SELECT count(*) FROM events "
                                 "WHERE event_id LIKE 'before-restart%'")
             == 10, 15, what="10 events stored")
    s.stop()
    s.start()
    wait_for(lambda: counts_match(s), 15, what="rows counted at start")
    assert rows(s, "events") >= 10
    assert val(s, "sentinel_events_stored_total") == 0
    # from retention_runs, before or after this run's first pass
    assert table(s, "sentinel_retention_last_run_timestamp_seconds",
                 "events") > 0


# --- alertd -------------------------------------------------------------------

def slow(app):
    ev = events("slow-" + app, 1, now_ms(), app=app)[0]
    ev["data"]["latency_ms"] = 9000
    return ev


def test_receivers_exposed_before_any_alert(ctx):
    s = ctx["s"]
    m = wait_for(lambda: scrape(s), 10, what="a scrape")
    for r in ("ok", "bad", "unused"):
        assert m.get(("sentinel_alerts_sent_total",
                      (("receiver", r),))) == 0, r
        assert m.get(("sentinel_alert_failures_total",
                      (("receiver", r),))) == 0, r
    for g in ("sentinel_alerts_unrouted_total", "sentinel_alerts_firing",
              "sentinel_alert_groups", "sentinel_silences_active",
              "sentinel_notifications_queued"):
        assert m.get((g, ())) == 0, g


def test_sent_failures_queued_and_gauges(ctx):
    """One slow event: ok gets it (sent 1); bad answers 500 (failures =
    the requests it failed, the notification queued), until it recovers
    (sent 1, queued 0).  One alert firing, one group per receiver."""
    s, peer = ctx["s"], ctx["peer"]
    peer.down.add("/bad")
    post(s, [slow("a1")])
    wait_for(lambda: peer.got("/ok", 200), 10, what="ok's notification")
    wait_for(lambda: val(s, "sentinel_alerts_sent_total",
                         receiver="ok") == 1, 5, what="sent{ok} 1")
    wait_for(lambda: len(peer.got("/bad", 500)) >= 2, 10,
             what="two failed attempts")
    wait_for(lambda: val(s, "sentinel_alert_failures_total", receiver="bad")
             == len(peer.got("/bad", 500)), 5, what="failures{bad}")
    m = wait_for(lambda: (lambda m: m if m.get(
        ("sentinel_notifications_queued", ())) == 1 else None)(scrape(s)),
        5, what="bad's notification queued")
    assert m[("sentinel_alerts_firing", ())] == 1, m
    assert m[("sentinel_alert_groups", ())] == 2, m
    assert m[("sentinel_alerts_sent_total", (("receiver", "bad"),))] == 0
    assert m[("sentinel_alerts_sent_total", (("receiver", "unused"),))] == 0
    assert m[("sentinel_alert_failures_total",
              (("receiver", "unused"),))] == 0
    assert m[("sentinel_alert_failures_total", (("receiver", "ok"),))] == 0

    peer.down.discard("/bad")
    wait_for(lambda: peer.got("/bad", 200), 10, what="bad's retry")
    wait_for(lambda: val(s, "sentinel_alerts_sent_total",
                         receiver="bad") == 1, 5, what="sent{bad} 1")
    wait_for(lambda: val(s, "sentinel_notifications_queued") == 0, 5,
             what="nothing queued")
    assert val(s, "sentinel_alert_failures_total", receiver="bad") == \
        len(peer.got("/bad", 500))
    assert val(s, "sentinel_alerts_sent_total", receiver="ok") == 1


def test_unrouted_counted(ctx):
    s, peer = ctx["s"], ctx["peer"]
    n = len(peer.requests)
    ev = events("costly", 1, now_ms(), app="c1")[0]
    ev["data"]["cost"] = 5.0
    post(s, [ev])
    wait_for(lambda: val(s, "sentinel_alerts_unrouted_total") == 1, 10,
             what="unrouted 1")
    wait_for(lambda: val(s, "sentinel_alerts_firing") == 2, 5,
             what="two alerts firing")
    assert len(peer.requests) == n


def test_resolve_lowers_firing_and_groups(ctx):
    s = ctx["s"]
    calm = events("calm", 1, now_ms(), app="a1")[0]
    calm["data"]["latency_ms"] = 300
    post(s, [calm])
    wait_for(lambda: val(s, "sentinel_alerts_firing") == 1, 10,
             what="one alert firing")
    wait_for(lambda: val(s, "sentinel_alert_groups") == 0, 10,
             what="no group")


def test_silence_gauge(ctx):
    s = ctx["s"]
    rc, out, err = s.cli("alerts", "silence", "add", "--match",
                         "alertname=nothing", "--duration", "1h",
                         "--comment", "metrics test")
    assert rc == 0, (rc, out, err)
    sid = out.strip().split()[-1]
    wait_for(lambda: val(s, "sentinel_silences_active") == 1, 5,
             what="one silence")
    rc, out, err = s.cli("alerts", "silence", "expire", sid)
    assert rc == 0, (rc, out, err)
    wait_for(lambda: val(s, "sentinel_silences_active") == 0, 5,
             what="no silence")


def test_reload_exposes_new_receiver(ctx):
    s, peer = ctx["s"], ctx["peer"]
    with open(os.path.join(s.dir, "alerts.yaml"), "w") as f:
        f.write(alerts_yaml(peer, "late"))
    s.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: val(s, "sentinel_alerts_sent_total",
                         receiver="late") == 0, 10, what="sent{late} 0")
    assert val(s, "sentinel_alert_failures_total", receiver="late") == 0
    assert val(s, "sentinel_alerts_sent_total", receiver="ok") == 1


def main():
    tap = Tap()
    s = a = None
    peer = Peer()
    try:
        s = Sentinel()
        s.write_config(s.config_text().replace("    raw: 7d\n", RETENTION))
        s.start()
        for t in (test_events_stored_and_rows,
                  test_retention_runs_and_rows_go_down,
                  test_rollup_rows_follow_retention,
                  test_rows_counted_again_after_restart):
            tap.run(t, s)
        s.cleanup()
        tap.run(check_no_sanitizer_reports, s)

        a = Sentinel(detectors=DETECTORS, alerts=alerts_yaml(peer))
        a.start()
        ctx = {"s": a, "peer": peer}
        for t in (test_receivers_exposed_before_any_alert,
                  test_sent_failures_queued_and_gauges,
                  test_unrouted_counted,
                  test_resolve_lowers_firing_and_groups,
                  test_silence_gauge,
                  test_reload_exposes_new_receiver):
            tap.run(t, ctx)
        a.cleanup()
        tap.run(check_no_sanitizer_reports, a)
    finally:
        for x in (s, a):
            if x is not None:
                x.cleanup()
        peer.close()
    tap.done()


if __name__ == "__main__":
    main()
