"""`make bench`: the daemon set measured end to end against this
machine's own ceiling, in one run (docs/performance.md).

These machines are shared and noisy (the same run varies by a third
from one minute to the next), so every figure that matters is a ratio
taken inside one run: Sentinel and nginx (Debian's nginx-light answering
`return 202;`, one worker: the ceiling) are driven by the same load
generator with the same requests in interleaved rounds, Sentinel,
nginx, Sentinel, nginx, ..., and the report gives medians with min and
max.

Cases (the benchmark issue's numbering):
  1. single-event POSTs with the default durability (fsync): requests/s
     with every answer 202 (wrk, closed loop), the ratio to nginx, and
     p50/p99/p99.9 at half that rate (test/bench/loadgen, open loop);
     the same with /metrics scraped every second (15 times the seed's
     Prometheus interval), for the cost of scraping;
  2. 100-event batches: events/s accepted, and events/s stored, counted
     in the database once storage has caught up, at 8 and at 32
     connections (BENCH_BATCH_CONNS), the better one counting;
  3. detection latency: an event over a threshold, from its POST to the
     anomaly at alertd and to the notification at a local webhook
     (group_wait 0), with open-loop load at half rate behind it;
  4. footprint: resident memory of each daemon idle and under load, CPU
     microseconds per event, from the exporter's own process metrics;
     with 10 000 (application, model) pairs; over a soak
     (BENCH_SOAK_SECONDS, default 60); at three times the sustainable
     rate (peak);
  5. the detection engine alone (bench_engine), detectd's checkpoint
     (bench_checkpoint), ingestd's parser alone (bench_ingest), their
     instruction counts per event under callgrind (stable on a noisy
     machine), and stored's write path alone with client-style random
     event ids (bench_store; test/bench/bench_callgrind.py);
  6. alerting: alertd fed anomalies on its input socket
     (test/bench/alertfeed) and Debian's Alertmanager fed alerts on
     /api/v2/alerts, each alert its own group, both delivering to a local
     webhook (test/bench/alertsink) at rising rates, and memory per
     group with 10 000 groups (test/bench/bench_alerting.py).
Results go to bench-results.json at the top of the repo (ignored by git)
and a table on stdout (BENCH_RESULTS names another file).  BENCH_QUICK=1
runs one short round of each: `make bench-smoke`, which CI runs to
check the harness still works (its figures mean nothing).
"""

import calendar
import http.client
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
BUILD = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(TOP, "build"))
os.environ["SENTINEL_BUILD"] = BUILD
sys.path.insert(0, os.path.join(TOP, "test", "integration"))
from harness import Sentinel, free_port, wait_for  # noqa: E402
from test_delivery import Peer  # noqa: E402
sys.path.insert(0, HERE)
import bench_alerting  # noqa: E402
import bench_callgrind  # noqa: E402
import bench_grpc  # noqa: E402

QUICK = os.environ.get("BENCH_QUICK") == "1"
ROUNDS = 1 if QUICK else 3
SECONDS = 3 if QUICK else 6
# wrk's connections for single events (case_single says why two)
NARROW, WIDE = 32, 128
# and for 100-event batches (case_batch)
BATCH_CONNS = [int(c) for c in os.environ.get("BENCH_BATCH_CONNS", "8 32").split()]
WRK = shutil.which("wrk")
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
LOADGEN = os.path.join(BUILD, "bench", "loadgen")
RESULTS = os.environ.get("BENCH_RESULTS") or os.path.join(TOP, "bench-results.json")
DAEMONS = ["sentinel", "ingestd", "detectd", "stored", "alertd"]


def log(msg):
    print("# " + msg, flush=True)


# --- peers -------------------------------------------------------------------

def events_url(port):
    return "http://127.0.0.1:%d/api/v1/telemetry/events" % port


def post_status(url):
    """The status a POST of {} to url gets, None when nothing answers."""
    req = urllib.request.Request(url, data=b"{}", method="POST")
    try:
        with urllib.request.urlopen(req, timeout=2) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return None


class Nginx:
    """nginx-light with one worker answering 202 to everything."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="sentinel-bench-nginx-")
        self.port = free_port()
        conf = os.path.join(self.dir, "nginx.conf")
        with open(conf, "w") as f:
            f.write("""\
worker_processes 1;
pid %(dir)s/nginx.pid;
error_log %(dir)s/error.log;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 1000000;
    client_body_temp_path %(dir)s/body;
    server {
        listen 127.0.0.1:%(port)d;
        location / { return 202; }
    }
}
""" % {"dir": self.dir, "port": self.port})
        self.proc = subprocess.Popen([NGINX, "-c", conf, "-p", self.dir,
                                      "-g", "daemon off;"],
                                     stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        wait_for(lambda: self.answers(), 10, what="nginx")

    def answers(self):
        return post_status(self.url()) == 202

    def url(self):
        return events_url(self.port)

    def close(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


# Case 3's probe: an event over 60 s of latency fires at once for its
# application, which routes straight to the bench's webhook.
PROBE_DETECTOR = """
  - id: probe
    type: threshold
    config:
      metric: latency_ms
      aggregation: each
      condition: greater_than
      threshold: 60000
      group_by: [application_id]
    actions:
      - alert: probe-alert
        severity: info
"""
PROBE_ALERTS = """\
routing:
  - match:
      alertname: probe-alert
    receivers: [probe-hook]
    group_by: [application_id]
    group_wait: 0s
receivers:
  - name: probe-hook
    type: webhook
    config:
      url: %s
"""


class Bare:
    """test/bench/bare_evhttp: evhttp and ingestd's parser, nothing else."""

    def __init__(self):
        self.port = free_port()
        self.proc = subprocess.Popen([os.path.join(BUILD, "bench", "bare_evhttp"),
                                      str(self.port)])
        wait_for(self.answers, 10, what="bare_evhttp")

    def answers(self):
        """Any answer: it refuses the empty object of the probe (400)."""
        return post_status(self.url()) is not None

    def url(self):
        return events_url(self.port)

    def close(self):
        self.proc.terminate()
        self.proc.wait()


def start_sentinel(peer):
    """The set on the seed's detectors plus the probe, at info level as
    in production."""
    with open(os.path.join(TOP, "etc", "detectors.yaml")) as f:
        detectors = f.read()
    s = Sentinel(detectors=detectors.rstrip("\n") + "\n" + PROBE_DETECTOR,
                 alerts=PROBE_ALERTS % peer.url("/probe"))
    s.start()
    return s


# --- load --------------------------------------------------------------------

def wrk(url, script, connections, seconds):
    """Closed-loop run: {rps, non2xx, errors, requests}."""
    out = subprocess.run(
        [WRK, "-t1", "-c%d" % connections, "-d%ds" % seconds, "--latency",
         "-s", os.path.join(HERE, "wrk", script), url],
        capture_output=True, text=True, timeout=seconds + 60).stdout
    r = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
         "requests": int(re.search(r"(\d+) requests in", out).group(1))}
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    r["non2xx"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    # connect, read and write errors are connections refused or dropped;
    # wrk's "timeout" is an answer slower than its 2 s, counted apart
    r["errors"] = sum(int(x) for x in m.groups()[:3]) if m else 0
    r["timeouts"] = int(m.group(4)) if m else 0
    return r


def loadgen(url, rate, seconds, batch=1):
    """Open-loop run at rate; a 100 us send tick (the default 1 ms would
    add half a millisecond to every latency)."""
    out = subprocess.run(
        [LOADGEN, "--url", url, "--rate", str(int(rate)), "--duration",
         str(seconds), "--batch", str(batch), "--tick-us", "100"],
        capture_output=True, text=True, timeout=seconds + 60)
    return json.loads(out.stdout)


def scrape(s):
    return s.scrape()


def metric_by_daemon(samples, name):
    return {dict(k[1]).get("daemon"): v for k, v in samples.items()
            if k[0] == name}


class Scraper:
    """Prometheus' side of a scrape, every interval seconds, in a thread."""

    def __init__(self, s, interval=1.0):
        self.s, self.interval, self.n = s, interval, 0
        self.stop_flag = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stop_flag.wait(self.interval):
            st, _, _ = self.s.metrics_fetch()
            if st == 200:
                self.n += 1

    def stop(self):
        self.stop_flag.set()
        self.thread.join()


def hist_delta_quantile(before, after, name, q):
    """The bucket bound (ms) under which fraction q of the observations
    of histogram name made between two scrapes fall."""
    def buckets(samples):
        out = {}
        for (n, labels), v in samples.items():
            if n == name + "_bucket":
                le = dict(labels)["le"]
                out[float("inf") if le == "+Inf" else float(le)] = v
        return out
    b0, b1 = buckets(before), buckets(after)
    bounds = sorted(b1)
    total = b1[float("inf")] - b0.get(float("inf"), 0)
    if total <= 0:
        return None
    for le in bounds:
        if b1[le] - b0.get(le, 0) >= q * total:
            return le * 1e3
    return None


def stats(xs):
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs)}


def stored_count(s):
    return s.query("SELECT count(*) FROM events")[0][0]


# --- cases -------------------------------------------------------------------

def case_single(s, ng, bare, res):
    """Case 1: single events, Sentinel, nginx and the bare evhttp server
    in interleaved rounds, then the same with a scraper at work for the
    cost of a scrape.  Sentinel and nginx run at NARROW and at WIDE
    connections: a durable server answers a request once its group
    commit is on disk, so its sustained rate needs clients enough to
    fill a commit, while nginx's barely moves; each server's sustained
    rate is the higher of the two, and the ratio is of those (the ratio
    at NARROW alone is in the JSON too)."""
    surl = "http://127.0.0.1:%d/api/v1/telemetry/events" % s.http_port
    sen, ngx, brs, ratio, scr, per_scrape, scrape_share = [], [], [], [], [], [], []
    sen_n, ngx_n, ratio_n, sen_w, ngx_w = [], [], [], [], []
    for r in range(ROUNDS):
        a = wrk(surl, "single.lua", NARROW, SECONDS)
        assert a["non2xx"] == 0 and a["errors"] == 0, a
        b = wrk(ng.url(), "single.lua", NARROW, SECONDS)
        aw = wrk(surl, "single.lua", WIDE, SECONDS)
        assert aw["non2xx"] == 0 and aw["errors"] == 0, aw
        bw = wrk(ng.url(), "single.lua", WIDE, SECONDS)
        d = wrk(bare.url(), "single.lua", NARROW, SECONDS)
        assert d["non2xx"] == 0, d
        brs.append(d["rps"])
        cpu0 = metric_by_daemon(scrape(s), "sentinel_process_cpu_seconds_total")
        sc = Scraper(s)
        c = wrk(surl, "single.lua", NARROW, SECONDS)
        sc.stop()
        cpu1 = metric_by_daemon(scrape(s), "sentinel_process_cpu_seconds_total")
        sup = cpu1["sentinel"] - cpu0["sentinel"]
        per_scrape.append(sup * 1e3 / max(sc.n + 2, 1))
        # an upper bound of the scrapes' cost: all of the supervisor's
        # CPU (its other work included) over the whole set's
        scrape_share.append(sup / max(sum(cpu1.values()) - sum(cpu0.values()), 1e-9))
        assert c["non2xx"] == 0, c
        sen_n.append(a["rps"])
        ngx_n.append(b["rps"])
        ratio_n.append(a["rps"] / b["rps"])
        sen_w.append(aw["rps"])
        ngx_w.append(bw["rps"])
        sen.append(max(a["rps"], aw["rps"]))
        ngx.append(max(b["rps"], bw["rps"]))
        ratio.append(sen[-1] / ngx[-1])
        scr.append(c["rps"] / a["rps"])
        log("round %d: sentinel %.0f / %.0f req/s, nginx %.0f / %.0f req/s "
            "(%d / %d connections), bare evhttp %.0f req/s, with a scrape a "
            "second %.0f req/s (%d scrapes)"
            % (r + 1, a["rps"], aw["rps"], b["rps"], bw["rps"], NARROW, WIDE,
               d["rps"], c["rps"], sc.n))
    res["single_event_rps"] = statistics.median(sen)
    res["single_event_ratio_to_nginx"] = statistics.median(ratio)
    res["nginx_rps"] = statistics.median(ngx)
    res["single_event_rps_%d_connections" % NARROW] = statistics.median(sen_n)
    res["nginx_rps_%d_connections" % NARROW] = statistics.median(ngx_n)
    res["single_event_ratio_to_nginx_%d_connections" % NARROW] = statistics.median(ratio_n)
    res["single_event_rps_%d_connections" % WIDE] = statistics.median(sen_w)
    res["nginx_rps_%d_connections" % WIDE] = statistics.median(ngx_w)
    res["bare_evhttp_rps"] = statistics.median(brs)
    res["bare_evhttp_ratio_to_nginx"] = statistics.median(
        [x / y for x, y in zip(brs, ngx_n)])
    res["scrape_throughput_ratio"] = statistics.median(scr)
    # the supervisor's CPU per scrape (its own work besides is tiny)
    res["scrape_cpu_ms"] = statistics.median(per_scrape)
    res["scrape_cpu_share"] = statistics.median(scrape_share)
    res["detail"]["single"] = {"sentinel_rps": stats(sen), "nginx_rps": stats(ngx),
                               "ratio": stats(ratio), "bare_evhttp_rps": stats(brs),
                               "sentinel_rps_narrow": stats(sen_n),
                               "nginx_rps_narrow": stats(ngx_n),
                               "ratio_narrow": stats(ratio_n),
                               "sentinel_rps_wide": stats(sen_w),
                               "nginx_rps_wide": stats(ngx_w),
                               "connections": [NARROW, WIDE],
                               "with_scrapes_ratio": stats(scr)}
    if os.path.exists(LOADGEN):
        half = res["single_event_rps"] / 2
        m0 = scrape(s)
        lg = loadgen(surl, half, SECONDS)
        m1 = scrape(s)
        sync = "sentinel_spool_sync_duration_seconds"
        res["spool_sync_ms_at_half"] = {
            "p50_le": hist_delta_quantile(m0, m1, sync, 0.5),
            "p99_le": hist_delta_quantile(m0, m1, sync, 0.99)}
        log("spool fdatasync at half rate: p50 <= %s ms, p99 <= %s ms"
            % (res["spool_sync_ms_at_half"]["p50_le"],
               res["spool_sync_ms_at_half"]["p99_le"]))
        res["single_event_latency_at_half_us"] = lg["latency_us"]
        res["detail"]["single"]["loadgen_at_half"] = lg
        log("at %.0f req/s (half): p50 %s us, p99 %s us, p99.9 %s us, ok %d of %d"
            % (half, lg["latency_us"]["p50"], lg["latency_us"]["p99"],
               lg["latency_us"]["p999"], lg["ok"], lg["completed"]))


def case_detect(s, peer, res):
    """Case 3: from the POST of an event that crosses a threshold to the
    anomaly reaching alertd (its log line's time, millisecond
    resolution) and to the notification arriving at the webhook, while
    open-loop load runs at half the single-event rate."""
    surl = "http://127.0.0.1:%d/api/v1/telemetry/events" % s.http_port
    n = 40 if QUICK else 200
    half = res["single_event_rps"] / 2
    bg = None
    if os.path.exists(LOADGEN):
        bg = subprocess.Popen(
            [LOADGEN, "--url", surl, "--rate", str(int(half)), "--duration",
             str(int(n * 0.025) + 4)], stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, text=True)
        time.sleep(1.5)
    sent = {}
    run = "%x" % int(time.time())
    # one keep-alive connection, as a client library keeps: the time
    # counted is the POST's, not a TCP handshake's
    conn = http.client.HTTPConnection("127.0.0.1", s.http_port, timeout=30)
    for i in range(n):
        app = "probe-%s-%d" % (run, i)
        ev = {"event_id": "probe-%s-%d" % (run, i),
              "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
              "event_type": "llm.response", "application_id": app,
              "data": {"status": "success", "latency_ms": 90000}}
        body = json.dumps(ev)
        t_wall, t_mono = time.time(), time.monotonic()
        conn.request("POST", "/api/v1/telemetry/events", body,
                     {"Content-Type": "application/json"})
        r = conn.getresponse()
        r.read()
        assert r.status == 202, r.status
        sent[app] = (t_wall, t_mono)
        time.sleep(0.02)
    conn.close()
    if bg is not None:
        bg.communicate(timeout=120)

    def arrivals():
        got = {}
        for r in peer.got("/probe"):
            for a in json.loads(r[3]).get("alerts", []):
                app = a.get("labels", {}).get("application_id")
                if app in sent and app not in got:
                    got[app] = r[0]
        return got if len(got) == len(sent) else None
    got = wait_for(arrivals, 60, interval=0.2, what="every probe at the webhook")
    notify = sorted((got[a] - sent[a][1]) * 1e3 for a in sent)
    detect = []
    for line in s.log_lines():
        if line.get("daemon") == "alertd" and line.get("msg") == "anomaly" and \
                line.get("application_id") in sent:
            t = calendar.timegm(time.strptime(line["ts"][:19], "%Y-%m-%dT%H:%M:%S")) \
                + int(line["ts"][20:23]) / 1e3
            detect.append((t - sent[line["application_id"]][0]) * 1e3)
    detect.sort()
    assert len(detect) == len(sent), (len(detect), len(sent))

    def pct(xs, q):
        return xs[min(len(xs) - 1, int(q * len(xs)))]
    res["detect_p50_ms"], res["detect_p99_ms"] = pct(detect, 0.5), pct(detect, 0.99)
    res["notify_p50_ms"], res["notify_p99_ms"] = pct(notify, 0.5), pct(notify, 0.99)
    log("%d probes at %.0f req/s of background load: to alertd p50 %.1f ms, "
        "p99 %.1f ms; to the webhook p50 %.1f ms, p99 %.1f ms"
        % (n, half, res["detect_p50_ms"], res["detect_p99_ms"],
           res["notify_p50_ms"], res["notify_p99_ms"]))


def case_batch(s, res, conns_list=None):
    """Case 2: 100-event bodies; accepted, then stored once caught up.
    Like single events, at two numbers of connections (BATCH_CONNS), each
    round both, the better median is the case's figure: every 202 waits
    for the spool's fsync, so 8 clients leave the two cores idle a
    quarter of the time between syncs (docs/performance.md)."""
    surl = "http://127.0.0.1:%d/api/v1/telemetry/events" % s.http_port
    conns_list = conns_list or BATCH_CONNS
    acc = {c: [] for c in conns_list}
    sto = {c: [] for c in conns_list}
    refused = {c: 0 for c in conns_list}
    for r in range(ROUNDS):
        for c in conns_list:
            n0 = stored_count(s)
            t0 = time.monotonic()
            a = wrk(surl, "batch.lua", c, SECONDS)
            # A dropped connection fails the case.  A refused request
            # (non-2xx: ingestd answers overload with 429 or 503 once
            # stored falls a spool's worth behind) is how a set that
            # accepts faster than it stores must answer: its events are
            # not counted as accepted, and the refusals are reported.
            assert a["errors"] == 0, a
            ok = a["requests"] - a["non2xx"]
            accepted = ok * 100
            refused[c] += a["non2xx"]
            # storage has caught up when every accepted event is counted
            wait_for(lambda: stored_count(s) - n0 >= accepted, 300,
                     interval=0.2, what="storage to catch up")
            took = time.monotonic() - t0
            acc[c].append(a["rps"] * 100 * ok / max(a["requests"], 1))
            sto[c].append(accepted / took)
            log("round %d, %d connections: %.0f events/s accepted (%d "
                "requests refused), %d stored in %.1f s: %.0f events/s"
                % (r + 1, c, acc[c][-1], a["non2xx"], accepted, took,
                   accepted / took))
    best = max(conns_list, key=lambda c: statistics.median(sto[c]))
    res["batch_events_per_s_accepted"] = statistics.median(acc[best])
    res["batch_events_per_s_stored"] = statistics.median(sto[best])
    res["batch_connections"] = best
    for c in conns_list:
        res["batch_events_per_s_stored_%d_connections" % c] = statistics.median(sto[c])
    res["batch_requests_refused"] = refused[best]
    res["detail"]["batch"] = {str(c): {"accepted": stats(acc[c]), "stored": stats(sto[c]),
                                       "refused_requests": refused[c]}
                              for c in conns_list}


def case_footprint(s, idle, res):
    """Case 4: resident memory idle (before any load) and at its peak
    under load, CPU per event over the whole run."""
    res["idle_rss_mb"] = sum(idle["rss"].values()) / 2**20
    res["detail"]["idle_rss_mb"] = {d: v / 2**20 for d, v in idle["rss"].items()}


def sample_rss(s, peak, stop):
    while not stop.wait(0.25):
        try:
            rss = metric_by_daemon(scrape(s), "sentinel_process_resident_memory_bytes")
        except Exception:  # noqa: BLE001 - the set may be busy
            continue
        for d, v in rss.items():
            peak[d] = max(peak.get(d, 0), v)


def set_rss(s):
    rss = metric_by_daemon(scrape(s), "sentinel_process_resident_memory_bytes")
    return sum(rss.values()) / 2**20, {d: v / 2**20 for d, v in rss.items()}


def case_groups(s, res):
    """Case 4 (groups): 10 000 (application, model) pairs sending at once
    (loadgen: about 3 334 applications x 3 models), then the set's memory and
    the detector groups detectd tracks."""
    surl = "http://127.0.0.1:%d/api/v1/telemetry/events" % s.http_port
    if not os.path.exists(LOADGEN):
        return
    rate = min(5000, res["single_event_rps"] / 2)
    secs = 4 if QUICK else 8
    lg = subprocess.run([LOADGEN, "--url", surl, "--rate", str(int(rate)),
                         "--duration", str(secs), "--groups", "10000",
                         "--batch", "10", "--tick-us", "1000"],
                        capture_output=True, text=True, timeout=secs + 60)
    out = json.loads(lg.stdout)
    time.sleep(1.5)
    total, per = set_rss(s)
    groups = sum(v for k, v in scrape(s).items() if k[0] == "sentinel_detection_groups")
    res["rss_mb_10k_groups"] = total
    res["detail"]["rss_mb_10k_groups"] = per
    res["detection_groups_10k"] = groups
    log("10 000 (application, model) pairs, %d events: set %.1f MB resident, "
        "detectd tracks %d detector groups" % (out["events_ok"], total, groups))


def case_overload(s, res):
    """Case 4 (overload): open-loop single events at three times what the
    set sustains, on 256 connections: the peak resident memory of the
    set while it sheds load, and how it answered."""
    surl = "http://127.0.0.1:%d/api/v1/telemetry/events" % s.http_port
    if not os.path.exists(LOADGEN):
        return
    peak, stop = {}, threading.Event()
    t = threading.Thread(target=sample_rss, args=(s, peak, stop), daemon=True)
    t.start()
    secs = 4 if QUICK else 8
    lg = subprocess.run([LOADGEN, "--url", surl, "--rate",
                         str(int(res["single_event_rps"] * 3)), "--duration",
                         str(secs), "--connections", "256", "--tick-us", "1000"],
                        capture_output=True, text=True, timeout=secs + 120)
    stop.set()
    t.join()
    out = json.loads(lg.stdout)
    res["overload_peak_rss_mb"] = sum(peak.values()) / 2**20
    res["detail"]["overload"] = {"peak_rss_mb": {d: v / 2**20 for d, v in peak.items()},
                                 "loadgen": out}
    log("overload at %d req/s: %d answered 2xx, non-2xx %s, errors %d; "
        "peak %.1f MB" % (out["rate_target"], out["ok"], out["non2xx"],
                          out["errors"], res["overload_peak_rss_mb"]))


def case_flood(s, res):
    """Case 4 (the issue's overload): 64 clients sending 100-event bodies
    flat out (wrk, closed loop) for 20 s: the set's peak resident memory,
    and how the excess was refused (429 and 503 are fine; a socket error
    is a dropped connection, which must not happen)."""
    surl = "http://127.0.0.1:%d/api/v1/telemetry/events" % s.http_port
    peak, stop = {}, threading.Event()
    t = threading.Thread(target=sample_rss, args=(s, peak, stop), daemon=True)
    t.start()
    secs = 5 if QUICK else 20
    out = wrk(surl, "batch.lua", 64, secs)
    stop.set()
    t.join()
    res["flood_peak_rss_mb"] = sum(peak.values()) / 2**20
    res["detail"]["flood"] = {"peak_rss_mb": {d: v / 2**20 for d, v in peak.items()},
                              "wrk": out}
    log("flood, 64 clients x 100-event bodies for %d s: %d requests, %d "
        "refused (429/503), %d socket errors; peak %.1f MB"
        % (secs, out["requests"], out["non2xx"], out["errors"],
           res["flood_peak_rss_mb"]))
    assert out["errors"] == 0, "connections dropped under overload: %r" % out


def case_soak(s, res):
    """Case 4 (bounded): BENCH_SOAK_SECONDS (default 60, 0 when quick;
    the goal asks 600) of batches at half the batch rate, the set's
    memory sampled every 5 s: first, last and largest."""
    secs = int(os.environ.get("BENCH_SOAK_SECONDS", "0" if QUICK else "60"))
    surl = "http://127.0.0.1:%d/api/v1/telemetry/events" % s.http_port
    if secs <= 0 or not os.path.exists(LOADGEN):
        return
    rate = res["batch_events_per_s_accepted"] / 2 / 100
    bg = subprocess.Popen([LOADGEN, "--url", surl, "--rate", str(int(rate)),
                           "--duration", str(secs), "--batch", "100",
                           "--groups", "10000", "--connections", "16"],
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                          text=True)
    samples = []
    time.sleep(2)
    while bg.poll() is None:
        samples.append(set_rss(s)[0])
        time.sleep(5)
    bg.communicate()
    first, last = samples[0], samples[-1]
    res["soak_seconds"] = secs
    res["soak_rss_mb"] = {"first": first, "last": last, "max": max(samples)}
    log("soak %d s at %.0f events/s: set memory %.1f MB -> %.1f MB (max %.1f)"
        % (secs, rate * 100, first, last, max(samples)))


def case_engine(res):
    """Case 5 (engine half): events through 10 detectors on one core."""
    exe = os.path.join(BUILD, "bench", "bench_engine")
    out = subprocess.run([exe, "300000" if QUICK else "1000000"],
                         capture_output=True, text=True, timeout=600).stdout
    res["engine_updates_per_s"] = float(
        re.search(r"detector updates/s\s+(\d+)", out).group(1))
    res["engine_events_per_s"] = float(re.search(r"events/s\s+(\d+)", out).group(1))
    exe = os.path.join(BUILD, "bench", "bench_ingest")
    out = subprocess.run([exe, "1000" if QUICK else "3000"], capture_output=True,
                         text=True, timeout=600).stdout
    res["ingest_parse_us_per_event_batch"] = float(
        re.search(r"batch of 100, parse\+encode\s+([\d.]+)", out).group(1))
    res["ingest_parse_us_per_event_single"] = float(
        re.search(r"single event, parse\+encode\s+([\d.]+)", out).group(1))
    exe = os.path.join(BUILD, "bench", "bench_checkpoint")
    out = subprocess.run([exe], capture_output=True, text=True, timeout=600).stdout
    res["checkpoint_save_ms_10k_groups"] = float(
        re.search(r"save ms\s+best [\d.]+\s+median ([\d.]+)", out).group(1))


def table(res):
    rows = [
        ("single events, requests/s (durable)", "%.0f" % res["single_event_rps"]),
        ("  nginx return 202, requests/s", "%.0f" % res["nginx_rps"]),
        ("  ratio to nginx (goal >= 0.45)", "%.2f" % res["single_event_ratio_to_nginx"]),
        ("  the same at %d connections: Sentinel, nginx, ratio" % NARROW, "%.0f, %.0f, %.2f"
         % (res["single_event_rps_%d_connections" % NARROW],
            res["nginx_rps_%d_connections" % NARROW],
            res["single_event_ratio_to_nginx_%d_connections" % NARROW])),
        ("  the same at %d connections: Sentinel, nginx" % WIDE, "%.0f, %.0f"
         % (res["single_event_rps_%d_connections" % WIDE],
            res["nginx_rps_%d_connections" % WIDE])),
        ("  bare evhttp + parser, requests/s (ratio to nginx)", "%.0f (%.2f)"
         % (res["bare_evhttp_rps"], res["bare_evhttp_ratio_to_nginx"])),
        ("  throughput with /metrics scraped every second", "%.3f of without"
         % res["scrape_throughput_ratio"]),
        ("  supervisor CPU per scrape (ms)", "%.2f" % res["scrape_cpu_ms"]),
        ("  supervisor's share of the set's CPU while scraped (goal < 2%)",
         "%.2f%%" % (100 * res["scrape_cpu_share"])),
    ]
    lat = res.get("single_event_latency_at_half_us")
    if lat:
        rows.append(("  latency at half rate p50/p99/p99.9 (ms)", "%.2f / %.2f / %.2f"
                     % (lat["p50"] / 1e3, lat["p99"] / 1e3, lat["p999"] / 1e3)))
    sync = res.get("spool_sync_ms_at_half")
    if sync and sync["p99_le"] is not None:
        rows.append(("  spool fdatasync at half rate, p50 / p99 (ms, bucket bound)",
                     "<= %g / <= %g" % (sync["p50_le"], sync["p99_le"])))
    rows += [
        ("threshold event to alertd, p50 / p99 (ms, goal p99 < 10)", "%.1f / %.1f"
         % (res["detect_p50_ms"], res["detect_p99_ms"])),
        ("  to the webhook, p50 / p99 (ms, goal p99 < 50)", "%.1f / %.1f"
         % (res["notify_p50_ms"], res["notify_p99_ms"])),
        ("100-event batches, events/s accepted (%d connections)" % res["batch_connections"],
         "%.0f (%d requests refused)" % (res["batch_events_per_s_accepted"],
                                         res["batch_requests_refused"])),
        ("  events/s stored end to end (goal >= 250000)", "%.0f" % res["batch_events_per_s_stored"]),
        ("  stored at %s connections" % " and ".join(str(c) for c in BATCH_CONNS),
         ", ".join("%.0f" % res["batch_events_per_s_stored_%d_connections" % c]
                   for c in BATCH_CONNS)),
        ("gRPC StreamEvents, events/s accepted", "%.0f" % res.get("grpc_stream_events_per_s_accepted", float("nan"))),
        ("  events/s stored end to end", "%.0f" % res.get("grpc_stream_events_per_s_stored", float("nan"))),
        ("resident memory idle, whole set (MB, goal < 64)", "%.1f" % res["idle_rss_mb"]),
        ("resident memory peak under load (MB)", "%.1f" % res["load_rss_mb"]),
        ("CPU per event, whole set (us)", "%.1f" % res["cpu_us_per_event"]),
    ]
    if "rss_mb_10k_groups" in res:
        rows.append(("resident memory with 10 000 (app, model) pairs (MB, goal < 256)",
                     "%.1f" % res["rss_mb_10k_groups"]))
    if "soak_rss_mb" in res:
        rows.append(("  over a %d s soak: first / last / max (MB)" % res["soak_seconds"],
                     "%.1f / %.1f / %.1f" % (res["soak_rss_mb"]["first"],
                                             res["soak_rss_mb"]["last"],
                                             res["soak_rss_mb"]["max"])))
    if "overload_peak_rss_mb" in res:
        rows.append(("peak resident memory at 3x overload (MB)",
                     "%.1f" % res["overload_peak_rss_mb"]))
    if "flood_peak_rss_mb" in res:
        fl = res["detail"]["flood"]["wrk"]
        rows.append(("64 clients flat out, 100-event bodies: peak MB, refused, dropped",
                     "%.1f, %d of %d, %d" % (res["flood_peak_rss_mb"], fl["non2xx"],
                                             fl["requests"], fl["errors"])))
    rows += [
        ("detection engine, detector updates/s (goal >= 2M)", "%.0f" % res["engine_updates_per_s"]),
        ("detectd checkpoint of 10 000 groups, save (ms)", "%.1f" % res["checkpoint_save_ms_10k_groups"]),
        ("ingestd's parser alone, 100-event body (us/event)", "%.2f"
         % res["ingest_parse_us_per_event_batch"]),
        ("ingestd's parser alone, single event (us/event)", "%.2f"
         % res["ingest_parse_us_per_event_single"]),
    ]
    for key, name in (
            ("engine_instructions_per_event",
             "detection engine, instructions per event (callgrind, 10 detectors)"),
            ("ingest_instructions_per_event_batch",
             "ingestd's parser, instructions per event (callgrind, batch)"),
            ("store_events_per_s_random_ids",
             "storage write path alone, events/s (random ids, 3000 groups)"),
            ("store_events_per_s_increasing_ids",
             "  the same with increasing ids"),
            ("store_cpu_us_per_event_random_ids",
             "  CPU per event, random ids (us)"),
            ("store_bytes_per_event", "  database bytes per event"),
            ("alert_rate_ratio_to_alertmanager",
             "alertd's most alerts delivered/s over Alertmanager's (goal >= 2)"),
            ("alert_rate_ratio_at_top_rate",
             "  the same, both fed the highest rate"),
            ("alert_max_delivered_per_s", "  alertd, most alerts delivered/s"),
            ("alertmanager_max_delivered_per_s", "  Alertmanager, most alerts delivered/s"),
            ("alert_p99_ms_at_2000", "  alertd p99 input to webhook at 2000/s (ms)"),
            ("alertmanager_p99_ms_at_2000", "  Alertmanager p99 at 2000/s (ms)"),
            ("alert_bytes_per_group", "  alertd bytes per active group (10 000 groups)"),
            ("alertmanager_bytes_per_group", "  Alertmanager bytes per active group")):
        if res.get(key) is not None:
            rows.append((name, "%.0f" % res[key] if res[key] >= 100 else "%.2f" % res[key]))
    w = max(len(r[0]) for r in rows)
    print("\n%-*s  %s" % (w, "case", "median of %d round(s)" % ROUNDS))
    for name, v in rows:
        print("%-*s  %s" % (w, name, v))


def main():
    if WRK is None or not os.path.exists(NGINX):
        sys.exit("make bench needs wrk and nginx-light (packaging/bench-deps.txt)")
    res = {"machine": {"cpus": os.cpu_count()}, "rounds": ROUNDS,
           "seconds_per_run": SECONDS, "detail": {}}
    s = ng = bare = None
    peer = Peer()
    try:
        s = start_sentinel(peer)
        ng = Nginx()
        bare = Bare()
        time.sleep(1)
        samples = scrape(s)
        idle = {"rss": metric_by_daemon(samples, "sentinel_process_resident_memory_bytes")}
        cpu0 = sum(metric_by_daemon(samples, "sentinel_process_cpu_seconds_total").values())
        ev0 = sum(v for k, v in samples.items() if k[0] == "sentinel_telemetry_events_total")
        case_footprint(s, idle, res)
        peak, stop = {}, threading.Event()
        sampler = threading.Thread(target=sample_rss, args=(s, peak, stop), daemon=True)
        sampler.start()
        case_single(s, ng, bare, res)
        case_detect(s, peer, res)
        case_batch(s, res)
        res.update(bench_grpc.run(BUILD, s, log))
        stop.set()
        sampler.join()
        case_groups(s, res)
        case_soak(s, res)
        case_overload(s, res)
        case_flood(s, res)
        samples = scrape(s)
        cpu1 = sum(metric_by_daemon(samples, "sentinel_process_cpu_seconds_total").values())
        ev1 = sum(v for k, v in samples.items() if k[0] == "sentinel_telemetry_events_total")
        res["load_rss_mb"] = sum(peak.values()) / 2**20
        res["detail"]["load_rss_mb"] = {d: v / 2**20 for d, v in peak.items()}
        res["cpu_us_per_event"] = (cpu1 - cpu0) * 1e6 / max(ev1 - ev0, 1)
        case_engine(res)
    finally:
        if ng is not None:
            ng.close()
        if bare is not None:
            bare.close()
        if s is not None:
            s.cleanup()
        peer.close()
    # alone, after the set stopped: instruction counts and the storage
    # write path (case 5)
    res.update(bench_callgrind.run(BUILD, QUICK, log))
    # case 6: alertd and Alertmanager side by side
    alerting = bench_alerting.run(BUILD, QUICK, log)
    res["detail"]["alerting"] = alerting.pop("detail", None)
    res.update(alerting)
    with open(RESULTS, "w") as f:
        json.dump(res, f, indent=2, sort_keys=True)
        f.write("\n")
    table(res)
    print("\nwrote %s" % RESULTS)


if __name__ == "__main__":
    main()
