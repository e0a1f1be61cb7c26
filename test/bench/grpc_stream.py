"""StreamEvents end to end: streams N events to a running ingestd over
gRPC and prints events per second as one JSON line.  The clock stops
when the BatchResult comes, which ingestd sends once every accepted
event is durable, so the figure is the same kind as an HTTP batch's
(202 after the spool).

    /usr/bin/python3 test/bench/grpc_stream.py HOST:PORT [N] [STREAMS]

N events (default 200000) over STREAMS concurrent streams (default 4),
application_ids spread over 16 values.  Stubs are generated from
common/proto/ into a temporary folder (protoc and grpc_python_plugin,
Debian's protobuf-compiler and protobuf-compiler-grpc).  The messages
are built before the clock starts, so the client's own protobuf work
is not what is measured; grpcio in Python still costs some CPU on a
2-core machine, which the figure includes.

Output: {"case":"grpc_stream","events":N,"streams":S,"seconds":T,
"events_per_s":R,"accepted":A,"rejected":J}; exit 1 when any event
was rejected or a stream failed."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import datetime

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def stubs():
    d = tempfile.mkdtemp(prefix="sentinel-grpc-bench-")
    subprocess.run(
        ["protoc", "--python_out=" + d, "--grpc_python_out=" + d,
         "--plugin=protoc-gen-grpc_python=/usr/bin/grpc_python_plugin",
         "-I" + os.path.join(TOP, "common", "proto"),
         "sentinel/v1/telemetry.proto"], check=True)
    sys.path.insert(0, d)
    return d


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    target = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 200000
    nstreams = int(sys.argv[3]) if len(sys.argv) > 3 else 4
    d = stubs()
    try:
        import grpc
        from sentinel.v1 import telemetry_pb2 as pb, telemetry_pb2_grpc as pbg
        ts = datetime.datetime.now(datetime.timezone.utc).strftime(
            "%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        run = "%x" % int(time.time())
        per = [[] for _ in range(nstreams)]
        for i in range(n):
            per[i % nstreams].append(pb.TelemetryEvent(
                event_id="bench-%s-%d" % (run, i), timestamp=ts,
                event_type="llm.response", application_id="bench-app-%d" % (i % 16),
                data=pb.EventData(status="success", latency_ms=100.0 + i % 50,
                                  total_tokens=200, cost=0.002, model="gpt-4")))
        results, errors = [], []

        def one(events):
            ch = grpc.insecure_channel(target)
            stub = pbg.TelemetryServiceStub(ch)
            try:
                results.append(stub.StreamEvents(iter(events), timeout=600))
            except grpc.RpcError as e:
                errors.append("%s: %s" % (e.code(), e.details()))
            ch.close()

        threads = [threading.Thread(target=one, args=(p,)) for p in per]
        t0 = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        secs = time.monotonic() - t0
        accepted = sum(r.accepted for r in results)
        rejected = sum(r.rejected_total for r in results)
        print(json.dumps({"case": "grpc_stream", "events": n, "streams": nstreams,
                          "seconds": round(secs, 3),
                          "events_per_s": round(accepted / secs) if secs > 0 else 0,
                          "accepted": accepted, "rejected": rejected,
                          "errors": errors[:3]}))
        sys.exit(1 if errors or rejected else 0)
    finally:
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
