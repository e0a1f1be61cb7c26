"""Black-box harness for the integration tests: starts the real `sentinel`
from the build on free ports with a temporary run_dir and storage path,
talks to it over HTTP and the control socket, reads its sqlite file, and
reports results as TAP ("ok N - name" / "not ok N - name").

Only the Python standard library is used, so /usr/bin/python3 from
Debian runs it as is.
"""

import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.request

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("SENTINEL_BUILD", os.path.join(TOP, "build"))
SENTINEL = os.path.join(BUILD, "sentinel")
CLI = os.path.join(BUILD, "sentinel-cli")
DAEMONS = ["ingestd", "detectd", "stored", "alertd"]

SEED_EVENT = {
    "event_id": "test-001",
    "timestamp": "2025-11-06T12:00:00Z",
    "event_type": "llm.response",
    "application_id": "test-app",
    "data": {"status": "success", "latency_ms": 1250, "total_tokens": 225, "cost": 0.045},
}


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_for(pred, timeout=15.0, interval=0.05, what="condition"):
    """Polls pred() until it returns a truthy value; raises on timeout."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = pred()
            if last:
                return last
        except Exception as e:  # the daemon may be restarting
            last = e
        time.sleep(interval)
    raise AssertionError("timed out waiting for %s (last: %r)" % (what, last))


def event(event_id, **data):
    ev = dict(SEED_EVENT)
    ev["event_id"] = event_id
    d = dict(SEED_EVENT["data"])
    d.update(data)
    ev["data"] = d
    return ev


DETECTORS_YAML = """\
detectors:
  - id: high-latency
    name: High Latency Detector
    type: threshold
    enabled: true
    config:
      metric: latency_ms
      condition: greater_than
      threshold: 5000
      window: 5m
    actions:
      - alert: high-latency-alert
        severity: warning

  - id: high-cost
    name: High Cost Detector
    type: threshold
    enabled: true
    config:
      metric: cost
      condition: greater_than
      threshold: 1.0
      window: 1m
    actions:
      - alert: high-cost-alert
        severity: critical

  - id: error-rate
    name: Error Rate Detector
    type: statistical
    enabled: true
    config:
      metric: error_rate
      strategy: zscore
      threshold: 3.0
      window: 10m
    actions:
      - alert: error-spike-alert
        severity: warning
"""

ALERTS_YAML = """\
routing:
  - match:
      severity: critical
    receivers:
      - ops-webhook
    repeat_interval: 15m

receivers:
  - name: ops-webhook
    type: webhook
    config:
      url: http://127.0.0.1:9/hook
"""


class Sentinel:
    """One daemon set in its own temporary folder."""

    def __init__(self, extra_http="", extra_top=""):
        self.dir = tempfile.mkdtemp(prefix="sentinel-it-")
        self.http_port = free_port()
        self.grpc_port = free_port()
        self.metrics_port = free_port()
        self.run_dir = os.path.join(self.dir, "run")
        self.data_dir = os.path.join(self.dir, "data")
        self.db_path = os.path.join(self.data_dir, "sentinel.db")
        self.config = os.path.join(self.dir, "config.yaml")
        self.log_path = os.path.join(self.dir, "sentinel.log")
        self.proc = None
        self.extra_http = extra_http
        self.extra_top = extra_top
        self.write_config()
        with open(os.path.join(self.dir, "detectors.yaml"), "w") as f:
            f.write(DETECTORS_YAML)
        with open(os.path.join(self.dir, "alerts.yaml"), "w") as f:
            f.write(ALERTS_YAML)
        os.chmod(os.path.join(self.dir, "alerts.yaml"), 0o600)

    def config_text(self):
        return (
            "mode: standalone\n"
            "run_dir: run\n"
            + self.extra_top
            + "ingestion:\n"
            "  grpc:\n"
            "    port: %d\n"
            "  http:\n"
            "    host: 127.0.0.1\n"
            "    port: %d\n"
            "%s"
            "storage:\n"
            "  path: data\n"
            "  retention:\n"
            "    raw: 7d\n"
            "    aggregated: 90d\n"
            "detectors:\n"
            "  configFile: detectors.yaml\n"
            "alerts:\n"
            "  configFile: alerts.yaml\n"
            "observability:\n"
            "  metrics:\n"
            "    enabled: true\n"
            "    port: %d\n"
            "  logging:\n"
            "    level: info\n"
            "    format: json\n"
        ) % (self.grpc_port, self.http_port, self.extra_http, self.metrics_port)

    def write_config(self, text=None):
        with open(self.config, "w") as f:
            f.write(text if text is not None else self.config_text())

    def start(self, wait_ready=True, env=None):
        e = dict(os.environ)
        e.pop("MODE", None)
        e.pop("LOG_LEVEL", None)
        if env:
            e.update(env)
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [SENTINEL, "--config", self.config],
            stdout=self.log, stderr=subprocess.STDOUT, env=e, cwd=self.dir)
        if wait_ready:
            self.wait_ready()
        return self

    def wait_ready(self, timeout=20):
        def ready():
            if self.proc.poll() is not None:
                raise AssertionError("sentinel exited with %s" % self.proc.returncode)
            st, _, _ = self.get("/ready")
            return st == 200
        wait_for(ready, timeout, what="/ready")

    def stop(self, timeout=30):
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        rc = self.proc.returncode
        self.proc = None
        return rc

    def cleanup(self):
        self.stop()
        self.final_logs = self.logs()
        shutil.rmtree(self.dir, ignore_errors=True)

    def sanitizer_reports(self):
        """Lines where ASan, LSan or UBSan reported a problem (make asan)."""
        text = getattr(self, "final_logs", None) or self.logs()
        return [l for l in text.splitlines()
                if "AddressSanitizer" in l or "LeakSanitizer" in l
                or "runtime error:" in l]

    def logs(self):
        if not os.path.exists(self.log_path):
            return ""
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def log_lines(self):
        out = []
        for line in self.logs().splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
        return out

    # --- HTTP -----------------------------------------------------------
    def request(self, method, path, body=None, headers=None, port=None):
        """Returns (status, headers, parsed JSON body or raw bytes)."""
        url = "http://127.0.0.1:%d%s" % (port or self.http_port, path)
        data = body
        if isinstance(body, (dict, list)):
            data = json.dumps(body).encode()
        elif isinstance(body, str):
            data = body.encode()
        h = {"Content-Type": "application/json"} if data is not None else {}
        h.update(headers or {})
        req = urllib.request.Request(url, data=data, method=method, headers=h)
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                status, hdrs, raw = r.status, dict(r.headers), r.read()
        except urllib.error.HTTPError as e:
            status, hdrs, raw = e.code, dict(e.headers), e.read()
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = raw
        return status, hdrs, parsed

    def post_events(self, body, headers=None):
        return self.request("POST", "/api/v1/telemetry/events", body, headers)

    def get(self, path):
        return self.request("GET", path)

    # --- storage ----------------------------------------------------------
    def query(self, sql, args=()):
        if not os.path.exists(self.db_path):
            return []
        con = sqlite3.connect("file:%s?mode=ro" % self.db_path, uri=True, timeout=5)
        try:
            return con.execute(sql, args).fetchall()
        finally:
            con.close()

    def count_event(self, event_id):
        return self.query("SELECT count(*) FROM events WHERE event_id = ?", (event_id,))[0][0]

    def wait_event(self, event_id, timeout=15):
        return wait_for(lambda: self.count_event(event_id) >= 1, timeout,
                        what="event %s in storage" % event_id)

    # --- control socket -----------------------------------------------------
    def cli(self, *args, via_config=False):
        """Runs sentinel-cli against this set, naming the control socket
        (or, with via_config, the config file it is found from)."""
        where = (["--config", self.config] if via_config else
                 ["--socket", os.path.join(self.run_dir, "sentinel.sock")])
        r = subprocess.run([CLI] + where + list(args),
                           capture_output=True, text=True, timeout=20)
        return r.returncode, r.stdout, r.stderr

    def status(self):
        rc, out, err = self.cli("--json", "status")
        if not out.strip():
            raise AssertionError("sentinel-cli status: rc %d: %s" % (rc, err))
        return json.loads(out)

    def daemon(self, name):
        for d in self.status()["daemons"]:
            if d["name"] == name:
                return d
        raise AssertionError("no daemon %s in status" % name)


def check_no_sanitizer_reports(*sets):
    """Fails when any daemon of the given sets reported memory errors,
    leaks or undefined behaviour (only possible in `make asan` builds)."""
    for s in sets:
        bad = s.sanitizer_reports()
        assert not bad, "\n".join(bad[:20])


class Tap:
    """Runs test functions, printing one TAP line each."""

    def __init__(self):
        self.n = 0
        self.failed = 0

    def run(self, fn, *args):
        self.n += 1
        name = fn.__name__
        t0 = time.monotonic()
        try:
            fn(*args)
        except Exception:
            self.failed += 1
            print("not ok %d - %s" % (self.n, name), flush=True)
            for line in traceback.format_exc().splitlines():
                print("# " + line)
            for a in args:
                if isinstance(a, Sentinel):
                    print("# --- last lines of sentinel log ---")
                    for line in a.logs().splitlines()[-40:]:
                        print("# " + line)
            sys.stdout.flush()
            return
        print("ok %d - %s (%.1fs)" % (self.n, name, time.monotonic() - t0), flush=True)

    def done(self):
        print("1..%d" % self.n)
        sys.exit(1 if self.failed else 0)
