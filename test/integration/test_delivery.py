"""Delivery to real peers: alertd sends each routed anomaly through its
outbox to a local HTTP server standing in for a webhook, Slack and
PagerDuty (which fails the first requests with 500 and 429 before it
accepts) and to a real SMTP server (Debian's python3-aiosmtpd); each
notification arrives exactly once, in its documented shape, with the
alert's numbers; a kill -9 of alertd while a notification is pending
loses nothing and sends nothing twice."""

import email
import email.policy
import hashlib
import hmac
import http.server
import json
import mailbox
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

from harness import (
    Sentinel, Tap, check_no_sanitizer_reports, event, free_port, iso,
    wait_for)

HMAC_SECRET = "s3cret-for-tests"


class Peer:
    """An HTTP server on loopback recording every request.  fail[path] is
    a list of statuses to answer, in order, before answering 200."""

    def __init__(self):
        self.lock = threading.Lock()
        self.requests = []  # (monotonic, path, headers, body, status)
        self.fail = {}
        self.down = set()   # paths answering 500 until removed
        self.slow = {}      # path -> seconds to wait before answering
        peer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n)
                with peer.lock:
                    delay = peer.slow.get(self.path, 0)
                if delay:
                    time.sleep(delay)
                with peer.lock:
                    q = peer.fail.get(self.path, [])
                    if self.path in peer.down:
                        status = 500
                    elif q:
                        status = q.pop(0)
                    else:
                        status = 200
                    peer.requests.append((time.monotonic(), self.path,
                                          dict(self.headers), body, status))
                try:
                    self.send_response(status)
                    if status == 429:
                        self.send_header("Retry-After", "1")
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                except (BrokenPipeError, ConnectionResetError):
                    pass  # alertd timed out and hung up, as it should

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                                      Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       daemon=True)
        self.thread.start()

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def got(self, path, status=None):
        with self.lock:
            return [r for r in self.requests if r[1] == path
                    and (status is None or r[4] == status)]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class Smtp:
    """python3-aiosmtpd on loopback, storing messages in a maildir."""

    def __init__(self, folder):
        self.port = free_port()
        self.maildir = os.path.join(folder, "maildir")
        self.proc = subprocess.Popen(
            ["/usr/bin/python3", "-m", "aiosmtpd", "-n", "-l",
             "127.0.0.1:%d" % self.port, "-c", "aiosmtpd.handlers.Mailbox",
             self.maildir],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        def up():
            try:
                socket.create_connection(("127.0.0.1", self.port), 1).close()
                return True
            except OSError:
                return False
        wait_for(up, 10, what="aiosmtpd listening")

    def messages(self):
        if not os.path.isdir(self.maildir):
            return []
        box = mailbox.Maildir(self.maildir, factory=None, create=False)
        return [email.message_from_bytes(m.as_bytes(),
                                         policy=email.policy.default)
                for m in box]

    def close(self):
        os.kill(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


# A real SMTP server requiring STARTTLS and AUTH, run by /usr/bin/python3
# as its own process: argv port certfile keyfile maildir user password.
TLS_SMTP_SERVER = r"""
import mailbox, signal, ssl, sys, threading
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox
from aiosmtpd.smtp import AuthResult, LoginPassword
port, cert, key, maildir, user, password = sys.argv[1:7]
ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
ctx.load_cert_chain(cert, key)
def auth(server, session, envelope, mechanism, data):
    ok = (isinstance(data, LoginPassword) and data.login.decode() == user
          and data.password.decode() == password)
    return AuthResult(success=ok)
c = Controller(Mailbox(maildir), hostname="127.0.0.1", port=int(port),
               tls_context=ctx, require_starttls=True, auth_required=True,
               auth_require_tls=True, authenticator=auth)
c.start()
done = threading.Event()
signal.signal(signal.SIGTERM, lambda *a: done.set())
print("ready", flush=True)
done.wait()
c.stop()
"""


class TlsSmtp(Smtp):
    """An SMTP server that refuses mail without STARTTLS and AUTH, with
    a self-signed certificate for 127.0.0.1 the test hands alertd as its
    CA file."""

    def __init__(self, folder, user, password):
        self.port = free_port()
        self.maildir = os.path.join(folder, "maildir-tls")
        self.cert = os.path.join(folder, "cert.pem")
        key = os.path.join(folder, "key.pem")
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
             "-keyout", key, "-out", self.cert, "-days", "1",
             "-subj", "/CN=127.0.0.1",
             "-addext", "subjectAltName=IP:127.0.0.1"],
            check=True, capture_output=True)
        self.proc = subprocess.Popen(
            ["/usr/bin/python3", "-c", TLS_SMTP_SERVER, str(self.port),
             self.cert, key, self.maildir, user, password],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        assert self.proc.stdout.readline().strip() == "ready"


# Each alert its own group, flushed at once and looked at every 100 ms:
# these tests are about delivery (test_grouping.py is about grouping).
EACH_AT_ONCE = ("group_by: ['...']\n    group_wait: 0s\n"
                "    group_interval: 100ms")


def alerts_yaml(peer, smtp_port):
    return """\
routing:
  - match:
      severity: warning
    receivers: [hook, chat, mail, fast]
    %s
  - match:
      severity: critical
    receivers: [pager]
    %s
receivers:
  - name: hook
    type: webhook
    send_resolved: false
    config:
      url: %s
      hmacSecret: %s
      timeout: 2s
  - name: chat
    type: slack
    send_resolved: false
    config:
      webhookUrl: %s
      channel: "#llm-alerts"
  - name: fast
    type: webhook
    send_resolved: false
    config:
      url: %s
  - name: pager
    type: pagerduty
    config:
      routingKey: R0UTING-KEY-SECRET
      url: %s
  - name: mail
    type: email
    send_resolved: false
    config:
      smtp:
        host: 127.0.0.1
        port: %d
        tls: none
      from: sentinel@example.com
      to: [ops@example.com, oncall@example.com]
external_url: http://sentinel.example.com
delivery:
  retry_initial: 200ms
  retry_max: 2s
  max_retry_age: 1m
""" % (EACH_AT_ONCE, EACH_AT_ONCE, peer.url("/hook"), HMAC_SECRET,
       peer.url("/slack/T0/B0/SLACKSECRET"), peer.url("/fast"),
       peer.url("/pd"), smtp_port)


def now_event(eid, **data):
    ev = event(eid, **data)
    ev["timestamp"] = iso(int(time.time() * 1000))
    return ev


def calm(s):
    """A normal event: resolves high-latency if it still fires, so the
    next slow event fires it again (send_resolved is off for the
    receivers the latency tests look at)."""
    st, _, _ = s.post_events([now_event("calm-%d" % time.monotonic_ns(),
                                        latency_ms=900)])
    assert st == 202
    time.sleep(0.5)


def test_webhook_and_slack_retry_then_exactly_once(ctx):
    s, peer, smtp = ctx["s"], ctx["peer"], ctx["smtp"]
    peer.fail["/hook"] = [500, 500]
    peer.fail["/slack/T0/B0/SLACKSECRET"] = [429, 503]
    t0 = time.monotonic()
    st, _, _ = s.post_events([now_event("slow-hook", latency_ms=7300)])
    assert st == 202
    wait_for(lambda: peer.got("/hook", 200) and
             peer.got("/slack/T0/B0/SLACKSECRET", 200), 30,
             what="webhook and slack deliveries")
    fast = wait_for(lambda: peer.got("/fast", 200), 10, what="fast hook")
    ctx["latency_ms"] = (fast[0][0] - t0) * 1000
    line = wait_for(lambda: [l for l in s.log_lines()
                             if l.get("msg") == "notification sent"
                             and l.get("receiver") == "fast"], 5,
                    what="fast's log line")[0]
    ctx["queued_to_sent_ms"] = line["delay_ms"]
    ctx["request_ms"] = line["duration_ms"]
    time.sleep(3)  # any duplicate would arrive by now
    hook = peer.got("/hook")
    assert [r[4] for r in hook] == [500, 500, 200], [r[4] for r in hook]
    assert len(peer.got("/fast")) == 1
    # the same notification each time
    ids = {r[2]["X-Sentinel-Notification-Id"] for r in hook}
    assert len(ids) == 1, ids
    body = hook[-1][3]
    doc = json.loads(body)
    assert doc["version"] == "4" and doc["receiver"] == "hook", doc
    assert doc["status"] == "firing"
    assert doc["externalURL"] == "http://sentinel.example.com"
    assert doc["truncatedAlerts"] == 0 and doc["groupKey"]
    for k in ("groupLabels", "commonLabels", "commonAnnotations"):
        assert isinstance(doc[k], dict), k
    assert len(doc["alerts"]) == 1
    a = doc["alerts"][0]
    assert a["status"] == "firing"
    assert a["labels"]["alertname"] == "high-latency-alert"
    assert a["labels"]["severity"] == "warning"
    assert a["labels"]["application_id"] == "test-app"
    assert a["annotations"]["value"] == "7300", a
    assert a["endsAt"] == "0001-01-01T00:00:00Z" and a["startsAt"]
    assert len(a["fingerprint"]) == 16
    sig = hook[-1][2]["X-Sentinel-Signature"]
    want = hmac.new(HMAC_SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert sig == "sha256=" + want, (sig, want)

    slack = peer.got("/slack/T0/B0/SLACKSECRET")
    assert [r[4] for r in slack] == [429, 503, 200], [r[4] for r in slack]
    # Retry-After: 1 was honoured between the 429 and the next attempt
    assert slack[1][0] - slack[0][0] >= 0.9, slack[1][0] - slack[0][0]
    msg = json.loads(slack[-1][3])
    assert msg["channel"] == "#llm-alerts"
    assert "[FIRING:1] high-latency-alert" in msg["text"], msg
    assert msg["blocks"][0]["type"] == "header"
    assert "observed: 7300" in msg["blocks"][1]["text"]["text"]
    assert msg["attachments"][0]["color"]

    # secrets stay out of the logs
    logs = s.logs()
    assert "SLACKSECRET" not in logs and HMAC_SECRET not in logs
    # Logged once the reply is read, a moment after the peer has it.
    sent = wait_for(lambda: [l for l in s.log_lines()
                             if l.get("msg") == "notification sent"
                             and l.get("receiver") == "chat"], 10,
                    what="notification sent logged")
    assert sent and sent[0]["peer"] == "http://127.0.0.1:%d" % peer.port, sent


def test_email_arrives_with_numbers(ctx):
    smtp = ctx["smtp"]
    msgs = wait_for(lambda: smtp.messages(), 20, what="an email")
    time.sleep(1)
    msgs = smtp.messages()
    assert len(msgs) == 1, len(msgs)
    m = msgs[0]
    assert m["From"] == "sentinel@example.com"
    assert "ops@example.com" in m["To"] and "oncall@example.com" in m["To"]
    assert m["Subject"].startswith("[FIRING:1] high-latency-alert"), m["Subject"]
    text = m.get_body(("plain",)).get_content()
    html = m.get_body(("html",)).get_content()
    for part in (text, html):
        assert "7300" in part, part
    assert "observed: 7300" in text and "application: test-app" in text
    assert "window:" in text and "score:" in text and "expected:" in text
    assert "<td>7300</td>" in html and "<td>test-app</td>" in html


def test_pagerduty_trigger_then_resolve_share_dedup_key(ctx):
    s, peer = ctx["s"], ctx["peer"]
    st, _, _ = s.post_events([now_event("costly", cost=3.5)])
    assert st == 202
    trig = wait_for(lambda: peer.got("/pd", 200), 20, what="pagerduty")
    ev = json.loads(trig[0][3])
    assert ev["event_action"] == "trigger", ev
    assert ev["routing_key"] == "R0UTING-KEY-SECRET"
    assert ev["dedup_key"].startswith("sentinel-")
    assert ev["payload"]["severity"] == "critical"
    assert ev["payload"]["source"] == "test-app"
    assert "high-cost-alert" in ev["payload"]["summary"]
    st, _, _ = s.post_events([now_event("cheap", cost=0.01)])
    res = wait_for(lambda: len(peer.got("/pd", 200)) >= 2 and
                   peer.got("/pd", 200), 20, what="pagerduty resolve")
    ev2 = json.loads(res[1][3])
    assert ev2["event_action"] == "resolve", ev2
    assert ev2["dedup_key"] == ev["dedup_key"]
    assert "R0UTING-KEY-SECRET" not in s.logs()


def test_slow_receiver_times_out_and_delays_no_other(ctx):
    """hook answers after 3 s, beyond its 2 s timeout: its attempt times
    out and is retried, while the other receivers of the same anomaly
    are served at once."""
    s, peer = ctx["s"], ctx["peer"]
    calm(s)
    peer.slow["/hook"] = 3
    n_fast = len(peer.got("/fast"))

    def hook_sent():
        return [l for l in s.log_lines()
                if l.get("msg") == "notification sent"
                and l.get("receiver") == "hook"]
    n_sent = len(hook_sent())
    t0 = time.monotonic()
    st, _, _ = s.post_events([now_event("slow-peer", latency_ms=9100)])
    assert st == 202
    fast = wait_for(lambda: peer.got("/fast")[n_fast:], 10, what="fast")
    assert fast[0][0] - t0 < 1.0, fast[0][0] - t0

    def timed_out():
        return [l for l in s.log_lines()
                if l.get("msg") == "notification will be retried"
                and l.get("receiver") == "hook"
                and "Timeout" in l.get("result", "")]
    wait_for(timed_out, 10, what="the hook's timeout")
    with peer.lock:
        peer.slow.pop("/hook")
    sent = wait_for(lambda: hook_sent()[n_sent:], 15,
                    what="the hook's delivery after its timeout")
    assert sent[0]["attempt"] >= 2, sent


def test_kill_9_while_pending_delivers_exactly_once(ctx):
    s, peer = ctx["s"], ctx["peer"]
    calm(s)
    peer.down.add("/fast")
    n0 = len(peer.got("/fast"))
    st, _, _ = s.post_events([now_event("slow-kill", latency_ms=8100)])
    assert st == 202
    wait_for(lambda: len(peer.got("/fast", 500)) >= 2, 20,
             what="failed attempts")
    before = s.daemon("alertd")
    os.kill(before["pid"], signal.SIGKILL)
    with peer.lock:
        peer.down.discard("/fast")
    s.wait_restarted("alertd", before)
    ok = wait_for(lambda: [r for r in peer.got("/fast", 200)
                           if json.loads(r[3])["alerts"][0]["annotations"]
                           ["value"] == "8100"], 20, what="delivery")
    time.sleep(3)
    ok = [r for r in peer.got("/fast", 200)
          if json.loads(r[3])["alerts"][0]["annotations"]["value"] == "8100"]
    assert len(ok) == 1, len(ok)
    ids = {r[2]["X-Sentinel-Notification-Id"] for r in peer.got("/fast")[n0:]}
    assert len(ids) == 1, ids


def test_email_starttls_and_auth(ctx):
    """A second set whose email receiver uses the default smtp.tls
    (starttls, required) and AUTH against a server that demands both."""
    tmp = ctx["tmp"]
    smtp = TlsSmtp(tmp, "alertd", "pa55-SMTP-word")
    s = None
    try:
        s = Sentinel(alerts="""\
routing:
  - match:
      severity: warning
    receivers: [mail]
    %s
receivers:
  - name: mail
    type: email
    send_resolved: false
    config:
      smtp:
        host: 127.0.0.1
        port: %d
        username: alertd
        password: pa55-SMTP-word
        ca_file: %s
      from: sentinel@example.com
      to: [secure@example.com]
""" % (EACH_AT_ONCE, smtp.port, smtp.cert)).start()
        st, _, _ = s.post_events([now_event("slow-tls", latency_ms=6100)])
        assert st == 202
        msgs = wait_for(lambda: smtp.messages(), 20, what="an email over TLS")
        assert len(msgs) == 1
        m = msgs[0]
        assert m["To"] == "secure@example.com", m["To"]
        assert "observed: 6100" in m.get_body(("plain",)).get_content()
        # Logged once the SMTP session is over, after the server kept it.
        sent = wait_for(lambda: [l for l in s.log_lines()
                                 if l.get("msg") == "notification sent"],
                        10, what="notification sent logged")
        assert sent and sent[0]["peer"].startswith("smtp://127.0.0.1:"), sent
        assert "pa55-SMTP-word" not in s.logs()
        s.cleanup()
        check_no_sanitizer_reports(s)
    finally:
        if s is not None:
            s.cleanup()
        smtp.close()


def main():
    tap = Tap()
    peer = Peer()
    s = None
    smtp = None
    tmp = tempfile.mkdtemp(prefix="sentinel-smtp-")
    try:
        smtp = Smtp(tmp)
        s = Sentinel(alerts=alerts_yaml(peer, smtp.port)).start()
        ctx = {"s": s, "peer": peer, "smtp": smtp, "tmp": tmp}
        tap.run(test_webhook_and_slack_retry_then_exactly_once, ctx)
        if "latency_ms" in ctx:
            print("# event POST to webhook arrival: %.0f ms (queued to "
                  "sent %d ms, request %d ms)" % (
                      ctx["latency_ms"], ctx["queued_to_sent_ms"],
                      ctx["request_ms"]))
        tap.run(test_email_arrives_with_numbers, ctx)
        tap.run(test_pagerduty_trigger_then_resolve_share_dedup_key, ctx)
        tap.run(test_slow_receiver_times_out_and_delays_no_other, ctx)
        tap.run(test_kill_9_while_pending_delivers_exactly_once, ctx)
        s.cleanup()
        tap.run(check_no_sanitizer_reports, s)
        tap.run(test_email_starttls_and_auth, ctx)
    finally:
        if s is not None:
            s.cleanup()
        if smtp is not None:
            smtp.close()
        peer.close()
        shutil.rmtree(tmp, ignore_errors=True)
    tap.done()


if __name__ == "__main__":
    main()
