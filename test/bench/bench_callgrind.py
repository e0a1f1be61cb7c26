"""Benchmark case 5: the detection engine, ingestd's parser and stored's
write path alone, counted in instructions where the clock is too noisy.

    import bench_callgrind
    results = bench_callgrind.run(build, quick, log)

Instruction counts (valgrind --tool=callgrind) give the same figure
twice on a machine whose clock varies by a third between runs, so they
are what tells a change in the code from a change in the neighbours.
Each program runs twice under callgrind with different event counts;
the per-event count is the difference of the two totals (Ir, the
"summary:"/"totals:" line of the output file) over the difference in
events, which takes out start-up and set-up (detectors, groups, the
bodies parsed):

  - build/bench/bench_engine N: N events through 10 detectors, 3000
    groups (bench_engine.c); the smaller N is past the first touch of
    every group, the larger covers several 60 s windows closing;
  - build/bench/bench_ingest ITERATIONS batch: ITERATIONS bodies of 100
    events parsed, validated and encoded into one message, as ingestd
    does (bench_ingest.c; "batch" runs that case alone).

Being independent of timing, the callgrind runs go side by side, and
before the store runs, which are timed.

Then stored's write path (build/bench/bench_store, bench_store.c): N
events with random 32-hex-digit event_ids over 3000 (application,
model) groups, then the same with increasing ids, interleaved for
three rounds (one when quick), medians of the events per second.  This
one is timed, so noisy; its CPU microseconds per event are given too.

Returns (numbers; a key is left out when its program could not run,
and the log says why):
  engine_instructions_per_event          through 10 detectors
  ingest_instructions_per_event_batch    parse + validate + encode, in
                                         100-event bodies
  store_events_per_s_random_ids          random ids, 3000 groups
  store_events_per_s_increasing_ids      increasing ids, 3000 groups
  store_cpu_us_per_event_random_ids      CPU time of the same
  store_bytes_per_event                  sentinel.db size per event
  callgrind_detail                       {program: [(count, Ir), ...]}
"""

import os
import re
import shutil
import statistics
import subprocess
import tempfile
import threading

# Event counts (engine) and iterations of 100 events (ingest), twice.
# The same when quick: the engine's count per event depends a little on
# the range (which windows close in it), and a quick run's figure should
# compare with a full one's.  About 25 s under callgrind here.
ENGINE_COUNTS = {True: (50000, 250000), False: (50000, 250000)}
INGEST_ITERS = {True: (50, 350), False: (50, 350)}
# Events per store run, and rounds of (random, increasing).
STORE_EVENTS = {True: 100000, False: 300000}
STORE_ROUNDS = {True: 1, False: 3}
STORE_GROUPS = 3000


def callgrind_ir(exe, args, workdir, timeout=300):
    """Runs exe under callgrind; returns (total Ir, program stdout)."""
    out = os.path.join(workdir, "callgrind.%s.%s.out" % (
        os.path.basename(exe), "_".join(args)))
    p = subprocess.run(["valgrind", "--tool=callgrind",
                        "--callgrind-out-file=" + out, exe] + list(args),
                       capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        raise RuntimeError("%s %s under callgrind: exit %d: %s" % (
            exe, " ".join(args), p.returncode, p.stderr[-500:]))
    with open(out) as f:
        for line in f:
            m = re.match(r"(summary|totals):\s+(\d+)", line)
            if m:
                return int(m.group(2)), p.stdout
    raise RuntimeError("%s: no summary or totals line" % out)


def per_event(exe, runs, workdir):
    """runs: [(args, events)] twice.  Runs both side by side; returns
    (instructions per event, [(events, Ir)], [stdout])."""
    res = [None, None]

    def one(i):
        try:
            res[i] = callgrind_ir(exe, runs[i][0], workdir)
        except Exception as e:  # reported by the caller
            res[i] = e

    threads = [threading.Thread(target=one, args=(i,)) for i in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for r in res:
        if isinstance(r, Exception):
            raise r
    (ir0, out0), (ir1, out1) = res
    ev0, ev1 = runs[0][1], runs[1][1]
    return (ir1 - ir0) / (ev1 - ev0), [(ev0, ir0), (ev1, ir1)], [out0, out1]


def callgrind_part(build, quick, log, res):
    """The engine and parser instruction counts, side by side."""
    if shutil.which("valgrind") is None:
        log("callgrind: valgrind not installed, instruction counts skipped")
        return
    workdir = tempfile.mkdtemp(prefix="sn-bench-cg-")
    detail = {}
    outcome = {}

    def engine():
        exe = os.path.join(build, "bench", "bench_engine")
        n0, n1 = ENGINE_COUNTS[quick]
        outcome["engine"] = per_event(
            exe, [([str(n0)], n0), ([str(n1)], n1)], workdir)

    def ingest():
        exe = os.path.join(build, "bench", "bench_ingest")
        # An older bench_ingest ignores "batch" and runs all three
        # cases, whose sum per iteration cannot be split: ask it first
        # (natively, a few milliseconds).
        probe = subprocess.run([exe, "1", "batch"], capture_output=True,
                               text=True, timeout=60).stdout
        if "single event" in probe:
            raise RuntimeError("bench_ingest has no \"batch\" argument: "
                               "ingest instructions per event not reported")
        i0, i1 = INGEST_ITERS[quick]
        outcome["ingest"] = per_event(
            exe, [([str(i0), "batch"], i0 * 100),
                  ([str(i1), "batch"], i1 * 100)], workdir)

    errors = {}

    def guarded(name, fn):
        try:
            fn()
        except Exception as e:
            errors[name] = e

    threads = [threading.Thread(target=guarded, args=(n, f))
               for n, f in (("engine", engine), ("ingest", ingest))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    shutil.rmtree(workdir, ignore_errors=True)

    for name, e in errors.items():
        log("callgrind %s: %s" % (name, e))
    if "engine" in outcome:
        ipe, pts, _ = outcome["engine"]
        res["engine_instructions_per_event"] = round(ipe, 1)
        detail["bench_engine"] = pts
        log("callgrind: engine %.0f instructions per event (10 detectors; "
            "%d events %d Ir, %d events %d Ir)"
            % (ipe, pts[0][0], pts[0][1], pts[1][0], pts[1][1]))
    if "ingest" in outcome:
        ipe, pts, _ = outcome["ingest"]
        detail["bench_ingest"] = pts
        res["ingest_instructions_per_event_batch"] = round(ipe, 1)
        log("callgrind: ingest %.0f instructions per event in 100-event "
            "bodies (parse, validate, encode)" % ipe)
    res["callgrind_detail"] = detail


def store_run(exe, n, kind, tmp):
    """One bench_store run of one kind; returns its key -> value lines."""
    p = subprocess.run([exe, str(n), tmp, kind, str(STORE_GROUPS)],
                       capture_output=True, text=True, timeout=600)
    if p.returncode != 0:
        raise RuntimeError("bench_store %s: exit %d: %s" % (
            kind, p.returncode, (p.stderr or p.stdout)[-500:]))
    vals = {}
    for line in p.stdout.splitlines():
        m = re.match(r"(store_\w+) ([\d.]+)$", line)
        if m:
            vals[m.group(1)] = float(m.group(2))
    return vals


def store_part(build, quick, log, res):
    """stored's write path: random against increasing ids, interleaved."""
    exe = os.path.join(build, "bench", "bench_store")
    if not os.path.exists(exe):
        log("store: %s not built, skipped" % exe)
        return
    n = STORE_EVENTS[quick]
    tmp = tempfile.gettempdir()
    runs = {"random": [], "increasing": []}
    try:
        for _ in range(STORE_ROUNDS[quick]):
            for kind in ("random", "increasing"):
                runs[kind].append(store_run(exe, n, kind, tmp))
    except Exception as e:
        log("store: %s" % e)
        return
    g = STORE_GROUPS

    def med(kind, key):
        return statistics.median(r["%s_%s_%d" % (key, kind, g)]
                                 for r in runs[kind])

    res["store_events_per_s_random_ids"] = med("random", "store")
    res["store_events_per_s_increasing_ids"] = med("increasing", "store")
    res["store_cpu_us_per_event_random_ids"] = med(
        "random", "store_cpu_us_per_event")
    res["store_bytes_per_event"] = med("random", "store_bytes_per_event")
    for kind in ("random", "increasing"):
        xs = [r["store_%s_%d" % (kind, g)] for r in runs[kind]]
        log("store: %s ids, %d groups, %d events: %.0f events/s "
            "(min %.0f, max %.0f), %.2f CPU us/event"
            % (kind, g, n, statistics.median(xs), min(xs), max(xs),
               med(kind, "store_cpu_us_per_event")))
    log("store: %.0f bytes per event in sentinel.db"
        % res["store_bytes_per_event"])


def run(build, quick, log):
    """Case 5 without the clock: see the module's docstring for keys."""
    build = os.path.abspath(build)
    res = {}
    callgrind_part(build, quick, log, res)
    store_part(build, quick, log, res)
    return res
