"""Black-box harness for the integration tests: starts the real `sentinel`
from the build on free ports with a temporary run_dir and storage path,
talks to it over HTTP and the control socket, reads its sqlite file, and
reports results as TAP ("ok N - name" / "not ok N - name").

Only the Python standard library is used, so /usr/bin/python3 from
Debian runs it as is.
"""

import glob
import json
import os
import re
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

# `make valgrind` (docs/testing.md): the supervisor and, through
# SENTINEL_DAEMON_WRAPPER, every daemon run under memcheck, which makes
# them several times slower: every wait below is SLOW times longer.
VALGRIND = os.environ.get("SENTINEL_VALGRIND") == "1"
VALGRIND_SUPP = os.path.join(TOP, "test", "valgrind.supp")
SLOW = 5 if VALGRIND else 1

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
    deadline = time.monotonic() + timeout * SLOW
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


# The seed's detectors, with aggregation: each on the two thresholds: the
# tests that use them expect every event to be tested alone (with its
# window and no aggregation, the seed's high-latency would now average
# the 5 minutes).
DETECTORS_YAML = """\
detectors:
  - id: high-latency
    name: High Latency Detector
    type: threshold
    enabled: true
    config:
      metric: latency_ms
      aggregation: each
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
      aggregation: each
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


# --- the detection scenario (test_detection.py, test_replay.py) ----------
#
# Twenty one-minute windows of event time from 2025-11-06T12:00:00Z.  Two
# applications: "chat" (model gpt-4o, 5 events a minute, latency near
# 1000 ms) and "batch" (model gpt-4o-mini, 3 events a minute, near
# 2000 ms).  Each window's mean latency cycles through five values, so
# the statistical history has a spread and normal windows never stand
# out.  Then:
#   W12      chat's latency jumps to 7300-7900 ms   (all three latency
#            detectors fire; the first normal data of W13 resolves them)
#   W14-W16  batch sends nothing                     (absence fires)
#   W17      batch is back                           (absence resolves)
#   in W15   one chat event stamped 12:02:20 arrives, far too late
# W10's last two chat events come out of order (within the lateness).

DETECTION_YAML = """\
detectors:
  - id: high-latency
    type: threshold
    config:
      metric: latency_ms
      aggregation: each
      condition: greater_than
      threshold: 5000
    actions:
      - alert: high-latency-alert
        severity: warning

  - id: p95-latency
    type: threshold
    config:
      metric: latency_ms
      aggregation: p95
      condition: greater_than
      threshold: 3000
      window: 1m
    actions:
      - alert: slow-p95
        severity: warning

  - id: latency-z
    type: statistical
    config:
      metric: latency_ms
      strategy: zscore
      threshold: 3.0
      window: 1m
      history: 10
      group_by: [application_id, model]
    actions:
      - alert: latency-shift
        severity: warning

  - id: app-silent
    type: rate
    config:
      condition: less_than
      threshold: 1
      window: 1m
    actions:
      - alert: app-silent
        severity: critical
"""

T0_MS = 1762430400000  # 2025-11-06T12:00:00Z
MINUTE_MS = 60000
WINDOWS = 20
# Every window before this one has closed by event time alone once all
# events are in (the last events are at 12:19:50, lateness 5s); later
# ones close only when detectd's idle clock or replay's end closes them.
SETTLED_MS = T0_MS + (WINDOWS - 1) * MINUTE_MS

CHAT_MEANS = [980, 1000, 1020, 990, 1010]
BATCH_MEANS = [2000, 2030, 1970, 2010, 1990]
SPIKE = [7300, 7600, 7900, 7400, 7800]

# (detector, application_id, status, window index) of every anomaly the
# scenario must raise before SETTLED_MS, and nothing else.
EXPECTED_ANOMALIES = sorted([
    ("high-latency", "chat", "firing", 12),
    ("high-latency", "chat", "resolved", 13),
    ("p95-latency", "chat", "firing", 12),
    ("p95-latency", "chat", "resolved", 13),
    ("latency-z", "chat", "firing", 12),
    ("latency-z", "chat", "resolved", 13),
    ("app-silent", "batch", "firing", 14),
    ("app-silent", "batch", "resolved", 17),
])


def iso(ms):
    """RFC 3339, UTC, whole seconds or milliseconds."""
    t = time.gmtime(ms // 1000)
    base = time.strftime("%Y-%m-%dT%H:%M:%S", t)
    return base + ("Z" if ms % 1000 == 0 else ".%03dZ" % (ms % 1000))


def parse_time(v):
    """Milliseconds since the epoch from an int (ms) or RFC 3339 text."""
    if isinstance(v, int):
        return v
    import datetime
    s = v.replace("Z", "+00:00")
    return int(datetime.datetime.fromisoformat(s).timestamp() * 1000)


def _ev(event_id, ts_ms, app, model, latency):
    return {"event_id": event_id, "timestamp": iso(ts_ms),
            "event_type": "llm.response", "application_id": app,
            "data": {"model": model, "status": "success",
                     "latency_ms": latency, "total_tokens": 200,
                     "cost": 0.01}}


def detection_windows():
    """The scenario's events, as one list per window in sending order."""
    out = []
    for w in range(WINDOWS):
        start = T0_MS + w * MINUTE_MS
        m = CHAT_MEANS[w % 5]
        lat = SPIKE if w == 12 else [m - 20, m - 10, m, m + 10, m + 20]
        chat = [_ev("chat-%02d-%d" % (w, i), start + (5 + 10 * i) * 1000,
                    "chat", "gpt-4o", lat[i]) for i in range(5)]
        b = BATCH_MEANS[w % 5]
        bat = [] if 14 <= w <= 16 else [
            _ev("batch-%02d-%d" % (w, i), start + (10 + 20 * i) * 1000,
                "batch", "gpt-4o-mini", b + 15 * (i - 1)) for i in range(3)]
        evs = sorted(chat + bat, key=lambda e: parse_time(e["timestamp"]))
        if w == 10:
            # chat's 12:10:35 and 12:10:45 arrive swapped
            i, j = evs.index(chat[3]), evs.index(chat[4])
            evs[i], evs[j] = evs[j], evs[i]
        if w == 15:
            evs.append(_ev("late-1", T0_MS + 2 * MINUTE_MS + 20000,
                           "chat", "gpt-4o", 1000))
        out.append(evs)
    return out


def detection_events():
    return [e for w in detection_windows() for e in w]


def write_ndjson(path, events, extra_lines=None):
    """Writes events one per line; extra_lines maps a 1-based line number
    to a raw line inserted there."""
    lines = [json.dumps(e) for e in events]
    for n in sorted(extra_lines or {}):
        lines.insert(n - 1, extra_lines[n])
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def window_of(ms):
    return (ms - T0_MS) // MINUTE_MS


def stored_anomalies(s):
    """Every anomaly row of the set, as dicts keyed by column."""
    if not os.path.exists(s.db_path):
        return []
    con = sqlite3.connect("file:%s?mode=ro" % s.db_path, uri=True, timeout=5)
    con.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in con.execute(
            "SELECT * FROM anomalies ORDER BY id")]
    finally:
        con.close()


def settled(rows):
    """The records about windows that close by event time alone."""
    return [r for r in rows if r["window_end_ms"] <= SETTLED_MS]


def anomaly_summary(rows):
    """(detector, application, status, window index) of each record, by
    the window it is about (its start)."""
    return sorted((r["detector_id"], r["application_id"], r["status"],
                   window_of(r["window_start_ms"])) for r in rows)


def valgrind_command(log_dir, tag):
    """memcheck's command line, logging to log_dir/valgrind-<tag>%p.log.
    Errors and definite leaks are reported; check_no_sanitizer_reports
    reads the logs (the exit code is left alone: a daemon's own exit
    status means something to the supervisor)."""
    return ["valgrind", "--tool=memcheck", "--error-exitcode=0",
            "--leak-check=full", "--show-leak-kinds=definite",
            "--errors-for-leak-kinds=definite", "--track-origins=no",
            "--num-callers=30", "--suppressions=" + VALGRIND_SUPP,
            # The supervisor's fork before exec needs no log (and, once
            # it switched user, could not create one).
            "--child-silent-after-fork=yes",
            "--log-file=%s/valgrind-%s%%p.log" % (log_dir, tag)]


def valgrind_errors(text):
    """What one memcheck log reports: (summaries, reports), two lists of
    strings, both empty when clean.  A log without its summary (a daemon
    killed with SIGKILL) is judged on the reports it has."""
    bad = []
    m = re.findall(r"ERROR SUMMARY: ([0-9,]+) errors", text)
    if m and int(m[-1].replace(",", "")) > 0:
        bad.append("ERROR SUMMARY: %s errors" % m[-1])
    m = re.findall(r"definitely lost: ([0-9,]+) bytes", text)
    if m and int(m[-1].replace(",", "")) > 0:
        bad.append("definitely lost: %s bytes" % m[-1])
    # Each report: a message line, then its stack ("   at 0x...").
    reports = []
    lines = [re.sub(r"^==\d+== ?", "", l) for l in text.splitlines()]
    for i, l in enumerate(lines[:-1]):
        if (l and not l[0].isspace() and not l.lower().startswith("warning")
                and re.match(r"\s+at 0x", lines[i + 1])):
            end = i + 1
            while end < len(lines) and lines[end].strip():
                end += 1
            reports.append("\n".join(lines[i:end]))
    return bad, reports


def run_cli(*args, input_text=None, timeout=60):
    r = subprocess.run([CLI] + list(args), capture_output=True, text=True,
                       input=input_text, timeout=timeout)
    return r.returncode, r.stdout, r.stderr


# One line of the Prometheus text format, and a label pair in it.
METRIC_SAMPLE = re.compile(
    r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{((?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*)\})? '
    r'(-?[0-9.e+-]+|NaN|\+Inf|-Inf)$')
METRIC_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text):
    """{(name, ((label, value), ...)): value} of every sample of an
    exposition; fails on a malformed line, a family with two HELP or TYPE
    lines, or a sample given twice."""
    out = {}
    helps, types = set(), set()
    for line in text.splitlines():
        if line.startswith("# HELP ") or line.startswith("# TYPE "):
            seen = helps if line.startswith("# HELP ") else types
            name = line.split()[2]
            assert name not in seen, "two %s lines for %s" % (line[2:6], name)
            seen.add(name)
            continue
        m = METRIC_SAMPLE.match(line)
        assert m, "not an exposition line: %r" % line
        key = (m.group(1), tuple(sorted(METRIC_LABEL.findall(m.group(3) or ""))))
        assert key not in out, "sample twice: %r" % (key,)
        out[key] = float(m.group(4))
    return out


def metric(samples, name, **labels):
    """The sample name{labels} of parse_metrics' result, or None."""
    return samples.get((name, tuple(sorted(labels.items()))))


class Sentinel:
    """One daemon set in its own temporary folder."""

    def __init__(self, extra_http="", extra_top="", detectors=DETECTORS_YAML,
                 alerts=ALERTS_YAML):
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
            f.write(detectors)
        with open(os.path.join(self.dir, "alerts.yaml"), "w") as f:
            f.write(alerts)
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
        cmd = [SENTINEL, "--config", self.config]
        if VALGRIND:
            # The supervisor logs next to its config (run_dir is not
            # made yet), each daemon into run_dir, the one folder it
            # may write to under Landlock.
            e["SENTINEL_DAEMON_WRAPPER"] = " ".join(
                valgrind_command(self.run_dir, ""))
            cmd = valgrind_command(self.dir, "sentinel-") + cmd
        if env:
            e.update(env)
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            cmd, stdout=self.log, stderr=subprocess.STDOUT, env=e, cwd=self.dir)
        if wait_ready:
            self.wait_ready()
        return self

    def wait_ready(self, timeout=20):
        def ready():
            if self.proc.poll() is not None:
                raise AssertionError("sentinel exited with %s" % self.proc.returncode)
            st, _, _ = self.get("/ready")
            return st == 200
        wait_for(ready, timeout, what="/ready")  # SLOW times under valgrind

    def stop(self, timeout=30):
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout * SLOW)
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
        self.final_valgrind = self.valgrind_logs()
        shutil.rmtree(self.dir, ignore_errors=True)

    def sanitizer_reports(self):
        """Lines where ASan, LSan or UBSan reported a problem (make asan),
        and memcheck's reports (make valgrind), one per log."""
        text = getattr(self, "final_logs", None) or self.logs()
        bad = [l for l in text.splitlines()
               if "AddressSanitizer" in l or "LeakSanitizer" in l
               or "runtime error:" in l]
        logs = getattr(self, "final_valgrind", None) or self.valgrind_logs()
        first = None
        for name, vtext in sorted(logs.items()):
            summaries, reports = valgrind_errors(vtext)
            if summaries or reports:
                cmd = re.search(r"Command: (\S+)", vtext)
                bad.append("valgrind: %s (%s): %s" % (
                    name, cmd.group(1) if cmd else "?",
                    ", ".join(summaries) or "killed before its summary"))
                if first is None and reports:
                    first = "first report, %s:\n%s" % (
                        name, "\n".join(reports[0].splitlines()[:20]))
        return bad + ([first] if first else [])

    def valgrind_logs(self):
        """{file name: text} of this set's memcheck logs (make valgrind)."""
        out = {}
        for p in (glob.glob(os.path.join(self.dir, "valgrind-*.log")) +
                  glob.glob(os.path.join(self.run_dir, "valgrind-*.log"))):
            with open(p, "rb") as f:
                out[os.path.basename(p)] = f.read().decode("utf-8", "replace")
        return out

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

    def metrics_fetch(self, path="/metrics", method="GET"):
        """(status, headers, text) of a request to the metrics port."""
        req = urllib.request.Request(
            "http://127.0.0.1:%d%s" % (self.metrics_port, path), method=method)
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, dict(r.headers), r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read().decode()

    def scrape(self):
        """parse_metrics of one GET /metrics, which must answer 200."""
        st, _, text = self.metrics_fetch()
        assert st == 200, st
        return parse_metrics(text)

    def control(self, req, timeout=20):
        """One request on the supervisor's control socket (a dict);
        its parsed answer."""
        c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        c.settimeout(timeout)
        try:
            c.connect(os.path.join(self.run_dir, "sentinel.sock"))
            c.sendall((json.dumps(req) + "\n").encode())
            buf = b""
            while not buf.endswith(b"\n"):
                chunk = c.recv(65536)
                if not chunk:
                    break
                buf += chunk
        finally:
            c.close()
        return json.loads(buf)

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

    def wait_restarted(self, name, before, timeout=20):
        """Waits until daemon name runs again, up, under a pid other than
        before's; returns its status.  One status snapshot decides: the
        old process may still show as up until the supervisor reaps it."""
        def restarted():
            d = self.daemon(name)
            return d["state"] == "up" and d["pid"] != before["pid"] and d
        return wait_for(restarted, timeout, what="%s restarted" % name)


def check_no_sanitizer_reports(*sets):
    """Fails when any daemon of the given sets reported memory errors,
    leaks or undefined behaviour (only possible in `make asan` builds)."""
    for s in sets:
        bad = s.sanitizer_reports()
        assert not bad, "\n".join(bad[:20])
        if VALGRIND:
            # A daemon not under memcheck would pass for the wrong reason.
            logs = getattr(s, "final_valgrind", None) or s.valgrind_logs()
            ran = " ".join(re.findall(r"Command: (\S+)", "\n".join(
                logs.values())))
            missing = [d for d in DAEMONS if "sentinel-" + d not in ran]
            assert not missing, "not run under valgrind: %s" % missing


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
