"""Backpressure instead of drops: when stored stops taking events, the
spool fills to ingestion.spool.max_size and ingestd answers 429 with
Retry-After and a JSON reason; when a stage has not been heard from
for ingestion.spool.stage_timeout, 503.  Once the stage is back,
requests are accepted again and every event that got 202 is stored.
And no refusal while the consumers keep up: detectd acknowledges
events at its checkpoints, so it checkpoints by volume too, not only
every detection.checkpoint_interval."""

import json
import os
import signal
import time

from harness import (Sentinel, Tap, check_no_sanitizer_reports, iso, metric,
                     wait_for)


def batch(tag, n, size=500):
    now = int(time.time() * 1000)
    return [{"event_id": "%s-%d-%d" % (tag, n, k), "timestamp": iso(now),
             "event_type": "llm.response", "application_id": "bp",
             "data": {"latency_ms": 900, "note": "x" * 200}}
            for k in range(size)]


def stored_count(s, tag):
    return s.query("SELECT count(*) FROM events WHERE event_id LIKE ?",
                   (tag + "-%",))[0][0]


def test_spool_full_gives_429_then_recovers(ctx):
    s = ctx["s429"]
    pid = s.daemon("stored")["pid"]
    acked = 0
    os.kill(pid, signal.SIGSTOP)
    try:
        got = None
        for n in range(200):
            st, hdrs, body = s.post_events(batch("full", n))
            if st == 202:
                acked += 500
                continue
            got = (st, hdrs, body)
            break
        assert got is not None, "never refused"
        st, hdrs, body = got
        assert st == 429, got
        assert hdrs.get("Retry-After") == "1", hdrs
        assert body["error"] == "too many requests", body
        assert "spool is full" in body["reason"], body
        # below 2 MB plus a batch or two: the spool is what is bounded
        assert acked * 250 < 4 * 1024 * 1024, acked
        ctx["acked_before_429"] = acked
    finally:
        os.kill(pid, signal.SIGCONT)

    def accepted():
        st, _, _ = s.post_events(batch("full", 10000))
        return st == 202
    wait_for(accepted, 30, interval=0.5, what="202 again once stored is back")
    acked += 500
    wait_for(lambda: stored_count(s, "full") >= acked, 30,
             what="every acknowledged event stored")
    assert s.daemon("stored")["restarts"] == 0


def test_stage_away_too_long_gives_503(ctx):
    s = ctx["s503"]
    pid = s.daemon("detectd")["pid"]
    os.kill(pid, signal.SIGSTOP)
    try:
        def refused():
            st, hdrs, body = s.post_events(batch("away", 0, 10))
            return (st, hdrs, body) if st == 503 else None
        st, hdrs, body = wait_for(refused, 15, interval=0.5,
                                  what="503 with detectd stopped")
        assert hdrs.get("Retry-After"), hdrs
        assert "detectd" in body["reason"], body
    finally:
        os.kill(pid, signal.SIGCONT)

    def accepted():
        st, _, _ = s.post_events(batch("away", 1, 10))
        return st == 202
    wait_for(accepted, 15, interval=0.5, what="202 once detectd is back")


def test_detectd_checkpoints_before_the_spool_fills(ctx):
    """Two and a half times the spool's 2 MB, each batch sent once
    stored has acknowledged the one before, detectd's timer an hour
    away: every batch is accepted, because detectd saves its state
    (and acknowledges) each quarter of the spool it takes.  Without
    that, detectd would hold the whole spool until its timer."""
    s = ctx["svol"]
    acked = 0
    for n in range(12):
        st, _, body = s.post_events(batch("vol", n))
        assert st == 202, (n, acked, st, body)
        acked += 500
        # stored has them and said so: only detectd can hold the spool
        wait_for(lambda: stored_count(s, "vol") >= acked and metric(
            s.scrape(), "sentinel_consumer_lag_events", consumer="stored") == 0,
            30, interval=0.1, what="batch %d stored and acknowledged" % n)
    assert os.path.exists(os.path.join(s.dir, "data", "detectd.checkpoint")), \
        "detectd never saved its state"
    lag = metric(s.scrape(), "sentinel_consumer_lag_events", consumer="detectd")
    assert lag is not None and lag < acked / 4, (lag, acked)


def main():
    tap = Tap()
    a = b = c = None
    try:
        a = Sentinel()
        a.start()
        # the spool's smallest size; stages may be away a long time
        a.write_config(a.config_text().replace(
            "ingestion:\n",
            "ingestion:\n  spool:\n    max_size: 2MB\n"
            "    stage_timeout: 5m\n", 1))
        a.stop()
        a.start()
        b = Sentinel()
        b.start()
        b.write_config(b.config_text().replace(
            "ingestion:\n",
            "ingestion:\n  spool:\n    stage_timeout: 2s\n", 1))
        b.stop()
        b.start()
        c = Sentinel(extra_top="detection:\n  checkpoint_interval: 1h\n")
        c.write_config(c.config_text().replace(
            "ingestion:\n",
            "ingestion:\n  spool:\n    max_size: 2MB\n", 1))
        c.start()
        ctx = {"s429": a, "s503": b, "svol": c}
        tap.run(test_spool_full_gives_429_then_recovers, ctx)
        if "acked_before_429" in ctx:
            print("# events acknowledged before the first 429: %d"
                  % ctx["acked_before_429"])
        tap.run(test_stage_away_too_long_gives_503, ctx)
        tap.run(test_detectd_checkpoints_before_the_spool_fills, ctx)
        a.cleanup()
        b.cleanup()
        c.cleanup()
        tap.run(check_no_sanitizer_reports, a, b, c)
    finally:
        for s in (a, b, c):
            if s is not None:
                s.cleanup()
    tap.done()


if __name__ == "__main__":
    main()
