"""The metrics endpoint checked by real tools: Debian's Prometheus scrapes
a running set through the shipped packaging/prometheus.yml (its target
and interval changed for the test), and answers every PromQL expression
of the deployment guide's monitoring section (the container_* ones
excepted: they come from a container runtime, not from Sentinel) with a
non-empty result; every expression of the shipped Grafana dashboard
(packaging/grafana/dashboards/sentinel.json) is accepted by that same
Prometheus; and `promtool check metrics` finds nothing wrong in a scrape
taken while events are being sent.

Grafana itself is not in Debian 12, so the dashboard is checked as JSON
and through Prometheus, not by a Grafana server (docs/observability.md).
"""

import json
import math
import os
import re
import signal
import subprocess
import shutil
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

from harness import (
    TOP, Sentinel, Tap, check_no_sanitizer_reports, free_port, wait_for)
from test_delivery import Peer, now_event

PROMETHEUS = "/usr/bin/prometheus"
PROMTOOL = "/usr/bin/promtool"
PACKAGING = os.path.join(TOP, "packaging")
PROM_YML = os.path.join(PACKAGING, "prometheus.yml")
GRAFANA = os.path.join(PACKAGING, "grafana")
DASHBOARD = os.path.join(GRAFANA, "dashboards", "sentinel.json")
GUIDE = os.path.join(os.path.dirname(TOP), "shared", "seed",
                     "deployment-guide.md")

# The guide's "Key Metrics to Monitor" (Monitoring and Observability),
# used when the guide itself is not next to the repository.
GUIDE_EXPRESSIONS = [
    "rate(sentinel_telemetry_events_total[5m])",
    "histogram_quantile(0.99, rate(sentinel_ingestion_latency_seconds_bucket[5m]))",
    "histogram_quantile(0.99, rate(sentinel_detection_latency_seconds_bucket[5m]))",
    "rate(sentinel_ingestion_errors_total[5m])",
    "rate(sentinel_detection_errors_total[5m])",
    "rate(sentinel_anomalies_detected_total[5m])",
    "rate(sentinel_alerts_sent_total[5m])",
    "sentinel_alert_failures_total",
    'rate(container_cpu_usage_seconds_total{pod=~"sentinel.*"}[5m])',
    'container_memory_working_set_bytes{pod=~"sentinel.*"}',
    "sentinel_kafka_consumer_lag",
    "sentinel_event_buffer_size",
]



def alerts_yaml(peer):
    """Critical alerts go to a webhook answering 200 (sent), warnings to
    one answering 400 (failed at once: a permanent failure)."""
    return """\
routing:
  - match:
      severity: critical
    receivers: [good-hook]
    group_by: ['...']
    group_wait: 0s
    group_interval: 200ms
  - match:
      severity: warning
    receivers: [bad-hook]
    group_by: ['...']
    group_wait: 0s
    group_interval: 200ms
receivers:
  - name: good-hook
    type: webhook
    config:
      url: %s
  - name: bad-hook
    type: webhook
    config:
      url: %s
""" % (peer.url("/ok"), peer.url("/bad"))


def guide_expressions():
    """The PromQL lines of the guide's Key Metrics block (or the copy
    above), without the container runtime's."""
    exprs = GUIDE_EXPRESSIONS
    if os.path.exists(GUIDE):
        with open(GUIDE, encoding="utf-8") as f:
            text = f.read()
        m = re.search(r"### Key Metrics to Monitor\s*```promql\n(.*?)```",
                      text, re.S)
        assert m, "no promql block under Key Metrics in " + GUIDE
        exprs = [l.strip() for l in m.group(1).splitlines()
                 if l.strip() and not l.strip().startswith("#")]
        # The copy above is what runs without the guide: keep it true.
        assert exprs == GUIDE_EXPRESSIONS, exprs
    out = [e for e in exprs if "container_" not in e]
    assert len(out) >= 9, out
    return out


class Prometheus:
    """Debian's Prometheus on loopback, scraping the set every second
    through a copy of packaging/prometheus.yml."""

    def __init__(self, target):
        self.dir = tempfile.mkdtemp(prefix="sentinel-prom-")
        self.port = free_port()
        with open(PROM_YML, encoding="utf-8") as f:
            text = f.read()
        assert "sentinel:9102" in text and "scrape_interval: 15s" in text
        text = text.replace("sentinel:9102", target)
        text = text.replace("scrape_interval: 15s", "scrape_interval: 1s")
        self.config = os.path.join(self.dir, "prometheus.yml")
        with open(self.config, "w") as f:
            f.write(text)
        self.log = open(os.path.join(self.dir, "prometheus.log"), "wb")
        self.proc = subprocess.Popen(
            [PROMETHEUS, "--config.file=" + self.config,
             "--storage.tsdb.path=" + os.path.join(self.dir, "data"),
             "--web.listen-address=127.0.0.1:%d" % self.port],
            stdout=self.log, stderr=subprocess.STDOUT, cwd=self.dir)
        wait_for(self.ready, 20, interval=0.1, what="prometheus ready")

    def get(self, path, params=None):
        url = "http://127.0.0.1:%d%s" % (self.port, path)
        if params:
            url += "?" + urllib.parse.urlencode(params, doseq=True)
        try:
            with urllib.request.urlopen(url, timeout=10) as r:
                return r.status, json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                return e.code, json.loads(raw)
            except ValueError:
                return e.code, raw

    def ready(self):
        if self.proc.poll() is not None:
            raise AssertionError("prometheus exited: %s" % self.logs()[-2000:])
        try:
            with urllib.request.urlopen(
                    "http://127.0.0.1:%d/-/ready" % self.port, timeout=2) as r:
                return r.status == 200
        except (OSError, urllib.error.URLError):
            return False

    def query(self, expr):
        """(HTTP status, parsed answer) of an instant query now."""
        return self.get("/api/v1/query", {"query": expr})

    def result(self, expr):
        st, body = self.query(expr)
        assert st == 200 and body["status"] == "success", (expr, st, body)
        return body["data"]["result"]

    def target_health(self):
        st, body = self.get("/api/v1/targets")
        assert st == 200, body
        return [(t["labels"].get("job"), t["health"], t.get("lastError"))
                for t in body["data"]["activeTargets"]]

    def logs(self):
        with open(os.path.join(self.dir, "prometheus.log"), "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stop(self):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def control(s, req):
    """One request on the set's control socket, its answer, which must
    say ok."""
    reply = s.control(req)
    assert reply.get("ok"), reply
    return reply


def scrape(s):
    st, hdrs, text = s.metrics_fetch()
    assert st == 200, st
    return hdrs.get("Content-Type", ""), text


class Load:
    """A thread posting small batches of events until stopped."""

    def __init__(self, s):
        self.s = s
        self.stop_flag = threading.Event()
        self.sent = 0
        self.errors = []
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        n = 0
        while not self.stop_flag.is_set():
            batch = [now_event("load-%d-%d" % (n, i),
                               latency_ms=800 + (n * 7 + i * 131) % 1500)
                     for i in range(10)]
            for i, e in enumerate(batch):
                e["application_id"] = ("chat", "batch", "search")[i % 3]
            try:
                st, _, body = self.s.post_events(batch)
                if st != 202:
                    self.errors.append((st, body))
            except OSError as e:
                self.errors.append(repr(e))
            self.sent += len(batch)
            n += 1

    def stop(self):
        self.stop_flag.set()
        self.thread.join(15)


def send_round(s, r):
    """One round of traffic: normal events from two applications, one
    slow event (high-latency, warning: the failing webhook) and one
    pricey event (high-cost, critical: the answering webhook), each from
    an application of its own that sends nothing else, so each fires a
    new alert that stays firing and makes one notification, and two bad
    requests."""
    evs = []
    for i in range(6):
        e = now_event("r%d-ok-%d" % (r, i), latency_ms=900 + 20 * i)
        e["application_id"] = "chat" if i % 2 else "batch"
        evs.append(e)
    evs.append(now_event("r%d-ok" % r))  # test-app
    slow = now_event("r%d-slow" % r, latency_ms=9000)
    slow["application_id"] = "slow-%d" % r
    pricey = now_event("r%d-pricey" % r, cost=5.0)
    pricey["application_id"] = "pricey-%d" % r
    evs += [slow, pricey]
    st, _, body = s.post_events(evs)
    assert st == 202, (st, body)
    # An event without its id, and a body that is not JSON.
    bad = now_event("r%d-bad" % r)
    del bad["event_id"]
    st, _, _ = s.post_events(bad)
    assert st == 400, st
    st, _, _ = s.post_events('{"event_id": "x",')
    assert st == 400, st


# --- the tests ------------------------------------------------------------

def test_traffic_rounds_are_answered(s, prom):
    """Traffic in rounds over several scrapes, so that every rate has two
    samples that differ."""
    for r in range(4):
        send_round(s, r)
        time.sleep(1.2)

def test_shipped_prometheus_config_is_valid(s, prom):
    r = subprocess.run([PROMTOOL, "check", "config", PROM_YML],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert "SUCCESS" in r.stdout, r.stdout
    # The copy the test runs with (target and interval changed) too.
    r = subprocess.run([PROMTOOL, "check", "config", prom.config],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, (r.stdout, r.stderr)


def test_promtool_lints_a_scrape_under_load_clean(s, prom):
    load = Load(s)
    try:
        wait_for(lambda: load.sent >= 100, 15, what="load under way")
        scrapes = []
        for _ in range(3):
            scrapes.append(scrape(s))
            time.sleep(0.2)
        assert load.thread.is_alive()
    finally:
        load.stop()
    assert not load.errors, load.errors[:5]
    for ctype, text in scrapes:
        assert ctype.startswith("text/plain"), ctype
        assert "version=0.0.4" in ctype, ctype
        assert "sentinel_telemetry_events_total{" in text, text[:2000]
        r = subprocess.run([PROMTOOL, "check", "metrics"], input=text,
                           capture_output=True, text=True, timeout=30)
        # promtool prints each lint problem (naming, missing help,
        # counter without _total, ...) and any parse error: none is
        # acceptable.
        assert r.returncode == 0 and not r.stdout.strip() and \
            not r.stderr.strip(), (r.returncode, r.stdout, r.stderr)
        check_histograms(text)


def check_histograms(text):
    """The exposition format's promise for each histogram series (text
    format 0.0.4): buckets cumulative in le order, a +Inf bucket equal to
    _count, taken while the daemons were updating them."""
    types = dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M))
    hists = [n for n, t in types.items() if t == "histogram"]
    assert hists, "no histogram in the scrape"
    for h in hists:
        series = {}
        counts = {}
        for name, labels, value in re.findall(
                r"^(%s_(?:bucket|count))(?:\{(.*)\})? (\S+)$" % re.escape(h),
                text, re.M):
            pairs = re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', labels or "")
            le = [v for k, v in pairs if k == "le"]
            key = tuple(p for p in pairs if p[0] != "le")
            if name.endswith("_count"):
                counts[key] = float(value)
            else:
                series.setdefault(key, []).append(
                    (float("inf") if le[0] == "+Inf" else float(le[0]),
                     float(value)))
        assert series, "histogram %s has no buckets" % h
        for key, buckets in series.items():
            les = [b[0] for b in buckets]
            assert les == sorted(les) and les[-1] == math.inf, (h, key, les)
            vals = [b[1] for b in buckets]
            assert vals == sorted(vals), ("not cumulative", h, key, vals)
            assert key in counts, ("no _count", h, key)
            assert vals[-1] == counts[key], ("+Inf != _count", h, key,
                                             vals[-1], counts[key])


def test_prometheus_scrapes_the_set(s, prom):
    wait_for(lambda: any(j == "sentinel" and h == "up"
                         for j, h, _ in prom.target_health()),
             15, interval=0.2, what="sentinel target up in prometheus")
    res = prom.result('up{job="sentinel"}')
    assert len(res) == 1 and res[0]["value"][1] == "1", res
    # The static labels of the shipped config come through.
    assert res[0]["metric"].get("service") == "sentinel", res
    assert res[0]["metric"].get("environment") == "production", res
    # Every daemon, and the supervisor serving this, is up.
    up = {r["metric"]["daemon"]: r["value"][1]
          for r in prom.result("sentinel_up")}
    assert set(up) >= {"ingestd", "detectd", "stored", "alertd"}, up
    assert all(v == "1" for v in up.values()), up


def test_guide_expressions_answer_with_data(s, prom):
    send_round(s, 4)
    exprs = guide_expressions()
    missing = {}

    def all_answer():
        missing.clear()
        for e in exprs:
            if not prom.result(e):
                missing[e] = True
        return not missing
    try:
        wait_for(all_answer, 20, interval=0.5,
                 what="every guide expression non-empty")
    except AssertionError:
        raise AssertionError("empty in Prometheus: %s" % sorted(missing))
    # The numbers mean what the guide says they do.

    def value(expr):
        res = prom.result(expr)
        assert res, expr
        return float(res[0]["value"][1])
    checks = [
        ("sum(rate(sentinel_telemetry_events_total[5m]))", "> 0"),
        ("sum(rate(sentinel_ingestion_errors_total[5m]))", "> 0"),
        ("sum(rate(sentinel_anomalies_detected_total[5m]))", "> 0"),
        ("sum(rate(sentinel_alerts_sent_total[5m]))", "> 0"),
        ("sum(sentinel_alert_failures_total)", "> 0"),
        ("histogram_quantile(0.99, sum by (le) "
         "(rate(sentinel_ingestion_latency_seconds_bucket[5m])))", "finite"),
        ("histogram_quantile(0.99, sum by (le) "
         "(rate(sentinel_detection_latency_seconds_bucket[5m])))", "finite"),
        ("sum(sentinel_kafka_consumer_lag)", "== 0"),
        ("sum(sentinel_event_buffer_size)", ">= 0"),
    ]
    bad = []

    def good():
        bad.clear()
        for expr, want in checks:
            v = value(expr)
            ok = {"> 0": v > 0, "== 0": v == 0, ">= 0": v >= 0,
                  "finite": math.isfinite(v) and v > 0}[want]
            if not ok:
                bad.append((expr, want, v))
        return not bad
    try:
        wait_for(good, 15, interval=0.5, what="guide metrics' values")
    except AssertionError:
        raise AssertionError("wrong values: %s" % bad)
    # Each application has its own throughput series.
    apps = {r["metric"].get("application_id")
            for r in prom.result("rate(sentinel_telemetry_events_total[5m])")}
    assert {"chat", "batch", "test-app"} <= apps, apps
    det = {(r["metric"].get("detector"), r["metric"].get("severity"))
           for r in prom.result("sentinel_anomalies_detected_total")}
    assert ("high-latency", "warning") in det and \
        ("high-cost", "critical") in det, det
    rcv = {r["metric"].get("receiver")
           for r in prom.result("sentinel_alerts_sent_total > 0")}
    assert "good-hook" in rcv, rcv
    rcv = {r["metric"].get("receiver")
           for r in prom.result("sentinel_alert_failures_total > 0")}
    assert "bad-hook" in rcv, rcv


def load_dashboard():
    with open(DASHBOARD, encoding="utf-8") as f:
        return json.load(f)


def panels_of(dash):
    for p in dash["panels"]:
        yield p
        for q in p.get("panels", []):
            yield q


# Grafana's own variables, as Grafana would set them for a one-hour view
# over a 1s scrape interval, and the dashboard's variable at "All".
GRAFANA_VARS = {
    "__rate_interval": "1m",
    "__interval": "15s",
    "__interval_ms": "15000",
    "__range": "1h",
    "__range_s": "3600",
    "__range_ms": "3600000",
}


def substitute(expr, variables):
    def repl(m):
        name = m.group(1) or m.group(2) or m.group(3)
        assert name in variables, "unknown variable $%s in %s" % (name, expr)
        return variables[name]
    return re.sub(r"\$\{(\w+)(?::\w+)?\}|\[\[(\w+)\]\]|\$(\w+)", repl, expr)


def test_dashboard_is_valid_grafana_json(s, prom):
    dash = load_dashboard()
    assert dash.get("uid") and dash.get("title"), dash.keys()
    # Grafana 9 (36-37) and 10 (38-39) read it without a migration that
    # could change it.
    assert 36 <= dash["schemaVersion"] <= 39, dash["schemaVersion"]
    with open(os.path.join(GRAFANA, "datasources", "prometheus.yaml")) as f:
        ds_yaml = f.read()
    uid = re.search(r"^\s+uid:\s*(\S+)\s*$", ds_yaml, re.M).group(1)
    assert re.search(r"^\s+type:\s*prometheus\s*$", ds_yaml, re.M)
    assert re.search(r"^\s+url:\s*http://prometheus:9090\s*$", ds_yaml, re.M)
    with open(os.path.join(GRAFANA, "dashboards", "sentinel.yaml")) as f:
        provider = f.read()
    # The provider reads the folder the guide's compose file mounts this
    # one on, so it finds sentinel.json beside it.
    assert re.search(r"^\s+path:\s*/etc/grafana/provisioning/dashboards\s*$",
                     provider, re.M), provider
    ids = set()
    ntargets = 0
    for p in panels_of(dash):
        assert p["id"] not in ids, ("duplicate panel id", p["id"])
        ids.add(p["id"])
        g = p["gridPos"]
        assert 0 <= g["x"] and g["x"] + g["w"] <= 24 and g["h"] > 0, p
        if p["type"] == "row":
            continue
        assert p["type"] in ("timeseries", "stat", "gauge", "table",
                             "bargauge"), p["type"]
        assert p["datasource"] == {"type": "prometheus", "uid": uid}, p
        refs = [t["refId"] for t in p["targets"]]
        assert refs and len(refs) == len(set(refs)), (p["title"], refs)
        for t in p["targets"]:
            assert t.get("datasource", p["datasource"])["uid"] == uid, t
            assert t["expr"].strip(), t
            ntargets += 1
    assert ntargets >= 20, ntargets
    for v in dash["templating"]["list"]:
        assert v["datasource"]["uid"] == uid, v


def test_dashboard_expressions_run_in_prometheus(s, prom):
    dash = load_dashboard()
    variables = dict(GRAFANA_VARS)
    for v in dash["templating"]["list"]:
        variables[v["name"]] = v.get("allValue") or ".*"
    failed = []
    exprs = []
    for p in panels_of(dash):
        for t in p.get("targets", []):
            expr = substitute(t["expr"], variables)
            exprs.append(expr)
            st, body = prom.query(expr)
            if st != 200 or body.get("status") != "success":
                failed.append((p["title"], expr, st, body))
    assert not failed, failed
    # Every metric the dashboard reads is one the set defines (a renamed
    # metric would leave a panel silently empty): the control socket's
    # list of families names them all, with or without samples.
    names = set()
    for e in exprs:
        names.update(re.sub(r"_(bucket|sum|count)$", "", n)
                     for n in re.findall(r"\b(sentinel_\w+)", e))
    families = {f["name"] for f in control(s, {"command": "metrics"})["families"]}
    unknown = sorted(names - families)
    assert not unknown, "dashboard reads metrics not defined: %s" % unknown
    # The panels that must show data with this traffic do.
    for expr in exprs:
        if re.search(r"sentinel_(telemetry_events_total|up\b|"
                     r"process_resident|anomalies_detected)", expr):
            assert prom.result(expr), "no data: " + expr


def test_dashboard_variable_lists_applications(s, prom):
    dash = load_dashboard()
    var = [v for v in dash["templating"]["list"]
           if v["name"] == "application_id"]
    assert var, "no application_id variable"
    m = re.match(r"label_values\((\w+),\s*(\w+)\)$", var[0]["query"])
    assert m, var[0]["query"]
    st, body = prom.get("/api/v1/label/%s/values" % m.group(2),
                        {"match[]": m.group(1)})
    assert st == 200 and body["status"] == "success", body
    assert {"chat", "batch", "test-app"} <= set(body["data"]), body


def main():
    tap = Tap()
    peer = Peer()
    peer.fail["/bad"] = [400] * 1000
    s = Sentinel(alerts=alerts_yaml(peer))
    prom = None
    try:
        s.start()
        wait_for(lambda: scrape(s), 10, what="/metrics answering")
        prom = Prometheus("127.0.0.1:%d" % s.metrics_port)
        tap.run(test_shipped_prometheus_config_is_valid, s, prom)
        tap.run(test_prometheus_scrapes_the_set, s, prom)
        tap.run(test_traffic_rounds_are_answered, s, prom)
        tap.run(test_promtool_lints_a_scrape_under_load_clean, s, prom)
        tap.run(test_guide_expressions_answer_with_data, s, prom)
        tap.run(test_dashboard_is_valid_grafana_json, s, prom)
        tap.run(test_dashboard_expressions_run_in_prometheus, s, prom)
        tap.run(test_dashboard_variable_lists_applications, s, prom)
    finally:
        if prom is not None:
            prom.stop()
        s.cleanup()
        peer.close()
    tap.run(check_no_sanitizer_reports, s)
    tap.done()


if __name__ == "__main__":
    main()
