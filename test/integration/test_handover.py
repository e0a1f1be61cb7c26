"""The hand-over of anomalies from detectd to stored is durable
(docs/reliability.md): detectd keeps each anomalies message until stored
acknowledges it, after its commit and sync, and sends it again while it
does not; the messages not yet acknowledged are saved with detectd's
checkpoint.  Before, an anomaly stored received and had not committed
was lost when stored was killed: detectd, alive or past it in its
checkpoint, never sent it again."""

import os
import signal

from harness import Sentinel, Tap, check_no_sanitizer_reports, event, wait_for


def detected(s):
    """Anomalies detectd has raised so far (its counter, via /metrics)."""
    return sum(v for (name, _), v in s.scrape().items()
               if name == "sentinel_anomalies_detected_total")


def stored_anomalies(s, event_id):
    return s.query("SELECT count(*) FROM anomalies WHERE event_id = ?",
                   (event_id,))[0][0]


def outlier(s, event_id):
    ev = event(event_id, latency_ms=9100)
    ev["application_id"] = event_id  # a group of its own: not firing yet
    st, _, body = s.post_events(ev)
    assert st == 202, body


def outlier_while_stored_stopped(s, event_id):
    """Stops stored, sends an event high-latency fires on and waits until
    detectd raised the anomaly: its message waits in stored's socket.
    Returns stored's status before."""
    # first one stored normally: detectd's connection to this stored is
    # up (nng dials it again after a start), so the next message goes
    # into stored's socket rather than waiting in detectd's queue
    outlier(s, event_id + "-before")
    wait_for(lambda: stored_anomalies(s, event_id + "-before") == 1, 20,
             what="an anomaly stored before")
    before = s.daemon("stored")
    raised = detected(s)
    os.kill(before["pid"], signal.SIGSTOP)
    outlier(s, event_id)
    wait_for(lambda: detected(s) > raised, 15, what="the anomaly raised")
    return before


def test_stored_killed_before_its_commit_gets_it_again(ctx):
    """stored is killed with the anomaly unread in its socket; detectd,
    still running, sends it again once stored is back."""
    s = ctx["s"]
    before = outlier_while_stored_stopped(s, "hand-over-1")
    os.kill(before["pid"], signal.SIGKILL)
    s.wait_restarted("stored", before)
    s.wait_event("hand-over-1", 20)  # the event: from ingestd's spool
    wait_for(lambda: stored_anomalies(s, "hand-over-1") == 1, 20,
             what="the anomaly in storage")
    assert s.daemon("detectd")["restarts"] == 0
    # it came again: not still queued in detectd when stored went
    wait_for(lambda: "anomalies messages again" in s.logs(), 5,
             what="detectd's log line of the message sent again: %s" %
             [l.get("msg") for l in s.log_lines()
              if l.get("daemon") in ("detectd", "stored")][-30:])


def test_detectd_restart_sends_what_stored_lacked(ctx):
    """detectd checkpoints past the anomaly while stored has not taken
    it, then both are killed: the restarted detectd does not replay the
    event (its checkpoint is past it), so only the saved hand-over can
    bring the anomaly to stored."""
    s = ctx["s"]
    handover = os.path.join(s.data_dir, "detectd.handover")
    before = outlier_while_stored_stopped(s, "hand-over-2")

    def saved():
        """The anomaly's message is in the file (its ids are strings
        ending in a NUL there: not hand-over-2-before's)."""
        try:
            with open(handover, "rb") as f:
                return b"hand-over-2\0" in f.read()
        except FileNotFoundError:
            return False
    # the checkpoint (every second here) comes once an event moved on
    st, _, body = s.post_events(event("hand-over-2-next"))
    assert st == 202, body
    wait_for(saved, 15, what="the anomaly saved with the checkpoint")
    det = s.daemon("detectd")
    os.kill(det["pid"], signal.SIGKILL)
    os.kill(before["pid"], signal.SIGKILL)
    s.wait_restarted("detectd", det)
    s.wait_restarted("stored", before)
    wait_for(lambda: stored_anomalies(s, "hand-over-2") == 1, 20,
             what="the anomaly in storage")
    assert "stored had not acknowledged will be sent again" in s.logs()
    # once stored has acknowledged it, the next checkpoint's file no
    # longer holds it (a checkpoint needs an event since the last one)
    n = [0]

    def emptied():
        n[0] += 1
        st, _, body = s.post_events(event("hand-over-2-last-%d" % n[0]))
        assert st == 202, body
        return not saved()
    wait_for(emptied, 20, interval=0.5, what="the hand-over emptied")
    assert stored_anomalies(s, "hand-over-2") == 1


def main():
    tap = Tap()
    s = None
    try:
        s = Sentinel(extra_top="detection:\n  checkpoint_interval: 1s\n")
        s.start()
        ctx = {"s": s}
        tap.run(test_stored_killed_before_its_commit_gets_it_again, ctx)
        tap.run(test_detectd_restart_sends_what_stored_lacked, ctx)
        s.cleanup()
        tap.run(check_no_sanitizer_reports, s)
    finally:
        if s is not None:
            s.cleanup()
    tap.done()


if __name__ == "__main__":
    main()
