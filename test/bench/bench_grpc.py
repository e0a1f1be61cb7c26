"""gRPC streaming beside HTTP batches (the benchmark issue's StreamEvents
case; docs/grpc.md, "Speed").

run(build, s, log) drives test/bench/grpc_stream (gRPC core's C client)
against the running set s (test/integration/harness.py's Sentinel):
S concurrent StreamEvents calls carry N events; the client's clock stops
when the last BatchResult comes, which ingestd sends once every accepted
event is durable (the gRPC form of HTTP's 202).  As run-bench.py's
case_batch does for HTTP, "stored" counts rows in the database until
every accepted event is there.  Also ingestd's CPU microseconds per
event (/proc/PID/stat), so the two doors can be compared per event.

Standalone, the side-by-side comparison on one set, interleaved rounds
(HTTP 100-event batches with wrk as case_batch, then gRPC streams with
grpc_stream's default --hint 64, then with --hint 1, a write a message):

    /usr/bin/python3 test/bench/bench_grpc.py [BUILD] [ROUNDS]
"""

import json
import os
import re
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
QUICK = os.environ.get("BENCH_QUICK") == "1"
STREAMS = 4


def ingestd_pid(s):
    """The pid of s's sentinel-ingestd (a child of its supervisor)."""
    sup = s.proc.pid
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read()
            with open("/proc/%s/cmdline" % d, "rb") as f:
                cmd = f.read()
        except OSError:
            continue
        ppid = int(st[st.rindex(")") + 2:].split()[1])
        if ppid == sup and b"sentinel-ingestd" in cmd:
            return int(d)
    return None


def cpu_s(pid):
    """utime + stime of pid, in seconds (all its threads)."""
    if pid is None:
        return 0.0
    with open("/proc/%d/stat" % pid) as f:
        st = f.read()
    fields = st[st.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def stored_count(s):
    return s.query("SELECT count(*) FROM events")[0][0]


def caught_up(s, n0, accepted, timeout=300):
    """Waits until accepted events past n0 are in the database."""
    deadline = time.monotonic() + timeout
    while stored_count(s) - n0 < accepted:
        if time.monotonic() > deadline:
            raise AssertionError("storage did not catch up: %d of %d"
                                 % (stored_count(s) - n0, accepted))
        time.sleep(0.2)


def grpc_round(build, s, events, streams=STREAMS, hint=None):
    """One run of grpc_stream: (its JSON, stored events/s, ingestd
    us/event).  hint: grpc_stream's --hint (None: its default, 64)."""
    exe = os.path.join(build, "bench", "grpc_stream")
    pid = ingestd_pid(s)
    n0 = stored_count(s)
    c0 = cpu_s(pid)
    t0 = time.monotonic()
    p = subprocess.run([exe, "--target", "127.0.0.1:%d" % s.grpc_port,
                        "--events", str(events), "--streams", str(streams)]
                       + (["--hint", str(hint)] if hint else []),
                       capture_output=True, text=True, timeout=900)
    c1 = cpu_s(pid)
    out = json.loads(p.stdout)
    assert p.returncode == 0 and out["rejected"] == 0, (p.stdout, p.stderr)
    caught_up(s, n0, out["accepted"])
    took = time.monotonic() - t0
    return out, out["accepted"] / took, (c1 - c0) * 1e6 / max(out["accepted"], 1)


def http_round(s, seconds, connections=8):
    """case_batch's measure (wrk, 100-event bodies): (accepted/s,
    stored/s, ingestd us/event)."""
    url = "http://127.0.0.1:%d/api/v1/telemetry/events" % s.http_port
    pid = ingestd_pid(s)
    n0 = stored_count(s)
    c0 = cpu_s(pid)
    t0 = time.monotonic()
    out = subprocess.run(
        ["wrk", "-t1", "-c%d" % connections, "-d%ds" % seconds,
         "-s", os.path.join(HERE, "wrk", "batch.lua"), url],
        capture_output=True, text=True, timeout=seconds + 60).stdout
    c1 = cpu_s(pid)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    accepted = int(re.search(r"(\d+) requests in", out).group(1)) * 100
    assert "Non-2xx" not in out, out
    caught_up(s, n0, accepted)
    took = time.monotonic() - t0
    return rps * 100, accepted / took, (c1 - c0) * 1e6 / max(accepted, 1)


def run(build, s, log, rounds=None, events=None):
    """The gRPC streaming case on the running set s: medians over
    rounds of {grpc_stream_events_per_s_accepted, ..._stored,
    grpc_stream_ingestd_cpu_us_per_event}; {} when grpc_stream is not
    built."""
    if not os.path.exists(os.path.join(build, "bench", "grpc_stream")):
        log("gRPC streaming: %s/bench/grpc_stream not built, skipped" % build)
        return {}
    rounds = rounds or (1 if QUICK else 3)
    events = events or (200000 if QUICK else 600000)
    acc, sto, cpu = [], [], []
    for r in range(rounds):
        out, stored, us = grpc_round(build, s, events)
        acc.append(out["events_per_s"])
        sto.append(stored)
        cpu.append(us)
        log("gRPC round %d: %d streams, %.0f events/s accepted, %.0f events/s "
            "stored, ingestd %.2f us/event, client %.1f s CPU"
            % (r + 1, out["streams"], out["events_per_s"], stored, us, out["cpu_s"]))
    return {"grpc_stream_events_per_s_accepted": statistics.median(acc),
            "grpc_stream_events_per_s_stored": statistics.median(sto),
            "grpc_stream_ingestd_cpu_us_per_event": statistics.median(cpu)}


def main():
    build = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(TOP, "build"))
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    os.environ["SENTINEL_BUILD"] = build
    sys.path.insert(0, os.path.join(TOP, "test", "integration"))
    from harness import Sentinel

    def log(msg):
        print("# " + msg, flush=True)
    s = Sentinel()
    s.start()
    res = {"http": [], "grpc": [], "grpc_hint1": []}
    events = 200000 if QUICK else 600000
    try:
        for r in range(rounds):
            a, st, us = http_round(s, 3 if QUICK else 6)
            log("HTTP round %d: %.0f events/s accepted, %.0f stored, ingestd "
                "%.2f us/event" % (r + 1, a, st, us))
            res["http"].append((a, st, us, 0))
            for k, hint in (("grpc", None), ("grpc_hint1", 1)):
                out, st, us = grpc_round(build, s, events, hint=hint)
                log("%s round %d: %.0f events/s accepted, %.0f stored, ingestd "
                    "%.2f us/event, client %.2f us/event"
                    % (k, r + 1, out["events_per_s"], st, us,
                       out["cpu_s"] * 1e6 / out["events"]))
                res[k].append((out["events_per_s"], st, us,
                               out["cpu_s"] * 1e6 / out["events"]))
    finally:
        s.cleanup()
    for k in ("http", "grpc", "grpc_hint1"):
        a, st, us, cl = zip(*res[k])
        print(json.dumps({"door": k, "accepted_per_s": round(statistics.median(a)),
                          "stored_per_s": round(statistics.median(st)),
                          "ingestd_us_per_event": round(statistics.median(us), 2),
                          "grpc_client_us_per_event": round(statistics.median(cl), 2)}))


if __name__ == "__main__":
    main()
