"""sentinel-cli alerts status and alerts test against a running set:
a test notification goes through alertd's real delivery path to a local
webhook, once; status counts it without showing any URL; a receiver
nobody listens for is reported as still retrying with its error; an
unknown receiver and a bad usage fail with exit 1 and 2."""

import json
import os

from harness import Sentinel, Tap, check_no_sanitizer_reports, free_port
from test_delivery import Peer

SECRET_PATH = "/hook/T0KEN-IN-PATH"


def alerts_yaml(peer, dead_port):
    return """\
routing:
  - match:
      severity: critical
    receivers: [hook]
receivers:
  - name: hook
    type: webhook
    config:
      url: %s
      timeout: 2s
  - name: dead
    type: webhook
    config:
      url: http://127.0.0.1:%d/nobody/S3CRET
      timeout: 1s
delivery:
  retry_initial: 200ms
  retry_max: 1s
  max_retry_age: 1m
""" % (peer.url(SECRET_PATH), dead_port)


def test_alerts_test_delivers_once(ctx):
    s, peer = ctx["s"], ctx["peer"]
    rc, out, err = s.cli("alerts", "test", "hook")
    assert rc == 0, (rc, out, err)
    assert out.strip() == "sent", out
    got = peer.got(SECRET_PATH)
    assert len(got) == 1, got
    body = got[0][3].decode()
    assert "sentinel-test" in body, body
    assert "This is a test notification" in body, body


def test_alerts_status_counts_without_secrets(ctx):
    s = ctx["s"]
    rc, out, err = s.cli("alerts", "status")
    assert rc == 0, (rc, out, err)
    lines = out.splitlines()
    assert lines[0].split()[:6] == ["RECEIVER", "TYPE", "SENT", "FAILED",
                                    "QUEUED", "LAST-SUCCESS"], lines
    row = [l.split() for l in lines if l.startswith("hook ")][0]
    assert row[1] == "webhook" and row[2] == "1", row
    rc, out, err = s.cli("--json", "alerts", "status")
    assert rc == 0, (rc, out, err)
    doc = json.loads(out)
    assert doc["ok"] is True and doc["active_groups"] == 0, doc
    assert doc["silences"] == [], doc
    hook = [r for r in doc["receivers"] if r["name"] == "hook"][0]
    assert hook["type"] == "webhook" and hook["sent"] == 1, hook
    assert hook["failed"] == 0 and isinstance(hook["last_success"], int)
    assert "T0KEN" not in out and "S3CRET" not in out, out


def test_alerts_test_unreachable_receiver(ctx):
    s = ctx["s"]
    rc, out, err = s.cli("alerts", "test", "dead", "--timeout", "2s")
    assert rc == 1, (rc, out, err)
    assert out.startswith("still retrying: "), out
    assert "connect" in out.lower(), out
    assert "S3CRET" not in out + err, out + err
    rc, out, err = s.cli("--json", "alerts", "status")
    dead = [r for r in json.loads(out)["receivers"]
            if r["name"] == "dead"][0]
    assert dead["sent"] == 0 and dead["queued"] == 1, dead
    assert dead["last_error"] and "S3CRET" not in dead["last_error"], dead


def test_alerts_unknown_receiver_and_usage(ctx):
    s = ctx["s"]
    rc, out, err = s.cli("alerts", "test", "nosuch")
    assert rc == 1, (rc, out, err)
    assert "unknown receiver nosuch" in err, err
    rc, out, err = s.cli("alerts", "frobnicate")
    assert rc == 2, (rc, out, err)
    rc, out, err = s.cli("alerts", "test")
    assert rc == 2, (rc, out, err)
    rc, out, err = s.cli("alerts", "test", "hook", "--timeout", "soon")
    assert rc == 2, (rc, out, err)


def test_alerts_alertd_unreachable(ctx):
    s = ctx["s"]
    s.stop()
    rc, out, err = s.cli("alerts", "status")
    assert rc == 1, (rc, out, err)
    assert "alertd-ctl.ipc" in err, err


def main():
    tap = Tap()
    peer = Peer()
    s = None
    try:
        s = Sentinel(alerts=alerts_yaml(peer, free_port())).start()
        ctx = {"s": s, "peer": peer}
        tap.run(test_alerts_test_delivers_once, ctx)
        tap.run(test_alerts_status_counts_without_secrets, ctx)
        tap.run(test_alerts_test_unreachable_receiver, ctx)
        tap.run(test_alerts_unknown_receiver_and_usage, ctx)
        tap.run(test_alerts_alertd_unreachable, ctx)
        s.cleanup()
        tap.run(check_no_sanitizer_reports, s)
    finally:
        if s is not None:
            s.cleanup()
        peer.close()
    tap.done()


if __name__ == "__main__":
    main()
