"""gRPC ingestion on ingestion.grpc.port, checked with Python's grpcio as
an independent client: stubs are generated at test time from
common/proto/ by protoc and Debian's grpc_python_plugin, the same .proto
files ingestd's protoc-c code comes from.

Covers the three TelemetryService calls (stored, checked in the
database), bad events (INVALID_ARGUMENT with HTTP's reasons), the
standard health service (SERVING; NOT_SERVING while stored cannot
start), message and batch limits, API keys in the `authorization`
metadata, TLS with the test's own CA, a busy port, and a 10 000-event
stream arriving complete."""

import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time

from harness import TOP, Sentinel, Tap, check_no_sanitizer_reports, event, iso, wait_for

# --- stubs from the .proto files, made now ----------------------------------

STUBS = tempfile.mkdtemp(prefix="sentinel-grpc-stubs-")
subprocess.run(
    ["protoc", "--python_out=" + STUBS, "--grpc_python_out=" + STUBS,
     "--plugin=protoc-gen-grpc_python=/usr/bin/grpc_python_plugin",
     "-I" + os.path.join(TOP, "common", "proto"),
     "sentinel/v1/telemetry.proto", "grpc_health/v1/health.proto"],
    check=True)
sys.path.insert(0, STUBS)

import grpc  # noqa: E402
from grpc_health.v1 import health_pb2, health_pb2_grpc  # noqa: E402
from sentinel.v1 import telemetry_pb2 as pb, telemetry_pb2_grpc as pbg  # noqa: E402

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
TIMEOUT = 60


def ev(event_id, app="grpc-app", **data):
    d = dict(status="success", latency_ms=120.0, total_tokens=30, cost=0.002,
             model="gpt-4")
    d.update(data)
    return pb.TelemetryEvent(event_id=event_id, timestamp=iso(int(time.time() * 1000)),
                             event_type="llm.response", application_id=app,
                             data=pb.EventData(**d))


def channel(s):
    return grpc.insecure_channel("127.0.0.1:%d" % s.grpc_port)


def code_of(fn, *args, **kw):
    """The status code and details of a call expected to fail."""
    try:
        fn(*args, timeout=TIMEOUT, **kw)
    except grpc.RpcError as e:
        return e.code(), e.details()
    raise AssertionError("the call succeeded")


# --- the plain set ------------------------------------------------------------

def test_send_event_is_stored(s):
    stub = pbg.TelemetryServiceStub(channel(s))
    e = ev("grpc-one-1", cost=0.045, extra={"region": "eu-west-1"})
    r = stub.SendEvent(e, timeout=TIMEOUT)
    assert r.event_id == "grpc-one-1", r
    s.wait_event("grpc-one-1")
    row = s.query("SELECT application_id, model, latency_ms, cost, raw FROM events "
                  "WHERE event_id = 'grpc-one-1'")[0]
    assert row[:4] == ("grpc-app", "gpt-4", 120.0, 0.045), row
    assert '"region":"eu-west-1"' in row[4], row
    # numbers as a JSON client writes them: the shortest text that reads
    # back as the same double (%.17g gives 0.044999999999999998)
    assert re.search(r'"cost":0\.045[,}]', row[4]), row
    # and the query API sees it like any other event
    st, _, body = s.get("/api/v1/events/grpc-one-1")
    assert st == 200, (st, body)


def test_send_event_invalid_gets_invalid_argument(s):
    stub = pbg.TelemetryServiceStub(channel(s))
    e = ev("grpc-bad-1")
    e.timestamp = "yesterday"
    code, details = code_of(stub.SendEvent, e)
    assert code == grpc.StatusCode.INVALID_ARGUMENT, (code, details)
    assert "timestamp" in details and "RFC 3339" in details, details
    e = ev("grpc-bad-2", cost=-1.0)
    code, details = code_of(stub.SendEvent, e)
    assert code == grpc.StatusCode.INVALID_ARGUMENT, (code, details)
    assert "data.cost" in details, details
    code, details = code_of(stub.SendEvent, pb.TelemetryEvent())
    assert code == grpc.StatusCode.INVALID_ARGUMENT, (code, details)
    # not a TelemetryEvent at all: bytes that do not parse
    raw = channel(s).unary_unary("/sentinel.v1.TelemetryService/SendEvent",
                                 request_serializer=lambda b: b,
                                 response_deserializer=lambda b: b)
    code, details = code_of(raw, b"\xff\xff\xff")
    assert code == grpc.StatusCode.INVALID_ARGUMENT, (code, details)
    s.wait_event("grpc-one-1")
    assert s.count_event("grpc-bad-1") == 0 and s.count_event("grpc-bad-2") == 0


def test_send_events_with_a_bad_event_at_index_k(s):
    stub = pbg.TelemetryServiceStub(channel(s))
    events = [ev("grpc-batch-%d" % i) for i in range(5)]
    events[3].data.total_tokens = -5
    r = stub.SendEvents(pb.EventBatch(events=events), timeout=TIMEOUT)
    assert r.accepted == 4, r
    assert r.rejected_total == 1 and len(r.rejected) == 1, r
    rj = r.rejected[0]
    assert (rj.index, rj.event_id, rj.field) == (3, "grpc-batch-3", "data.total_tokens"), r
    assert rj.reason, r
    for i in (0, 1, 2, 4):
        s.wait_event("grpc-batch-%d" % i)
    assert s.count_event("grpc-batch-3") == 0
    # every event bad: HTTP's 400, here INVALID_ARGUMENT
    bad = [ev("grpc-allbad-%d" % i, latency_ms=-1.0) for i in range(2)]
    code, details = code_of(stub.SendEvents, pb.EventBatch(events=bad))
    assert code == grpc.StatusCode.INVALID_ARGUMENT, (code, details)
    assert "data.latency_ms" in details, details
    code, details = code_of(stub.SendEvents, pb.EventBatch())
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "no events" in details, (code, details)


def test_stream_events(s):
    stub = pbg.TelemetryServiceStub(channel(s))
    n = 1300  # more than two of the pieces the stream is handed over in

    def gen():
        for i in range(n):
            e = ev("grpc-stream-%d" % i, latency_ms=float(i))
            if i == 700:
                e.event_type = ""
            yield e
    r = stub.StreamEvents(gen(), timeout=TIMEOUT)
    assert r.accepted == n - 1, r
    assert [(x.index, x.field) for x in r.rejected] == [(700, "event_type")], r
    wait_for(lambda: s.query("SELECT count(*) FROM events WHERE event_id LIKE "
                             "'grpc-stream-%'")[0][0] == n - 1,
             30, what="the stream in storage")
    assert s.count_event("grpc-stream-700") == 0
    # an empty stream has no events, like an empty body
    code, details = code_of(stub.StreamEvents, iter(()))
    assert code == grpc.StatusCode.INVALID_ARGUMENT, (code, details)


def test_stream_of_10000_events_arrives_complete(s):
    stub = pbg.TelemetryServiceStub(channel(s))
    n = 10000
    r = stub.StreamEvents((ev("grpc-10k-%d" % i, app="grpc-10k-%d" % (i % 7))
                           for i in range(n)), timeout=TIMEOUT * 3)
    assert r.accepted == n and r.rejected_total == 0, r

    def stored():
        return s.query("SELECT count(DISTINCT event_id) FROM events WHERE "
                       "event_id LIKE 'grpc-10k-%'")[0][0]
    wait_for(lambda: stored() == n, 60, what="10 000 events in storage")


def test_health_serving(s):
    h = health_pb2_grpc.HealthStub(channel(s))
    assert h.Check(health_pb2.HealthCheckRequest(), timeout=TIMEOUT).status == SERVING
    r = h.Check(health_pb2.HealthCheckRequest(service="sentinel.v1.TelemetryService"),
                timeout=TIMEOUT)
    assert r.status == SERVING
    code, _ = code_of(h.Check, health_pb2.HealthCheckRequest(service="no.such.Service"))
    assert code == grpc.StatusCode.NOT_FOUND, code


def test_batch_and_message_limits():
    """max_batch_size bounds SendEvents; max_body_size bounds a message."""
    s = Sentinel(extra_http="    max_batch_size: 3\n    max_body_size: 4KB\n")
    try:
        s.start()
        stub = pbg.TelemetryServiceStub(channel(s))
        code, details = code_of(stub.SendEvents,
                                pb.EventBatch(events=[ev("lim-%d" % i) for i in range(4)]))
        assert code == grpc.StatusCode.INVALID_ARGUMENT, (code, details)
        assert "batch too large" in details, details
        big = ev("lim-big", extra={"blob": "x" * 8192})
        code, details = code_of(stub.SendEvent, big)
        assert code == grpc.StatusCode.RESOURCE_EXHAUSTED, (code, details)
        # a stream's batch is not bounded: only each message is
        r = stub.StreamEvents((ev("lim-s-%d" % i) for i in range(10)), timeout=TIMEOUT)
        assert r.accepted == 10, r
        r = stub.SendEvents(pb.EventBatch(events=[ev("lim-ok-%d" % i) for i in range(3)]),
                            timeout=TIMEOUT)
        assert r.accepted == 3, r
    finally:
        s.cleanup()
    check_no_sanitizer_reports(s)


def test_not_serving_while_stored_cannot_start():
    """stored refuses a database from a newer version (exit 2, failed):
    the set never gets ready, and Check says NOT_SERVING as /ready says
    503."""
    s = Sentinel()
    # a stage silent for 1 s makes the pipeline refuse (HTTP's 503)
    s.write_config(s.config_text().replace(
        "ingestion:\n", "ingestion:\n  spool:\n    stage_timeout: 1s\n", 1))
    try:
        os.makedirs(s.data_dir)
        con = sqlite3.connect(s.db_path)
        con.execute("PRAGMA user_version = 999")
        con.close()
        s.start(wait_ready=False)
        h = health_pb2_grpc.HealthStub(channel(s))

        def answered():
            try:
                return h.Check(health_pb2.HealthCheckRequest(), timeout=5)
            except grpc.RpcError:
                return None
        r = wait_for(answered, 30, what="ingestd's gRPC port")
        wait_for(lambda: s.daemon("stored")["state"] == "failed", 30,
                 what="stored failed")
        assert answered().status == NOT_SERVING, r
        st, _, _ = s.get("/ready")
        assert st == 503, st
        # events are refused as HTTP refuses them (503): a stage is down
        stub = pbg.TelemetryServiceStub(channel(s))

        def refused():
            try:
                stub.SendEvent(ev("while-down-1"), timeout=TIMEOUT)
            except grpc.RpcError as e:
                return e
            return None  # within the first second: spooled
        e = wait_for(refused, 30, what="a refusal")
        assert e.code() == grpc.StatusCode.UNAVAILABLE, (e.code(), e.details())
        assert "stored has not been heard from" in e.details(), e.details()
    finally:
        s.cleanup()
    check_no_sanitizer_reports(s)


# --- API keys -------------------------------------------------------------------

KEY = "grpc-key-" + os.urandom(12).hex()
QKEY = "grpc-qkey-" + os.urandom(12).hex()
BOUND = "grpc-bound-" + os.urandom(12).hex()
AUTH = """\
    auth:
      enabled: true
      keys:
        - key: %s
          name: main
        - key: %s
          name: bound
          applications: [app-a]
      query_keys:
        - key: %s
          name: reader
""" % (KEY, BOUND, QKEY)


def bearer(key):
    return (("authorization", "Bearer " + key),)


def test_auth():
    s = Sentinel(extra_http=AUTH)
    try:
        s.start()
        stub = pbg.TelemetryServiceStub(channel(s))
        code, details = code_of(stub.SendEvent, ev("auth-none"))
        assert code == grpc.StatusCode.UNAUTHENTICATED, (code, details)
        code, details = code_of(stub.SendEvent, ev("auth-wrong"), metadata=bearer("nope"))
        assert code == grpc.StatusCode.UNAUTHENTICATED and "not valid" in details, details
        code, details = code_of(stub.StreamEvents, iter([ev("auth-stream-none")]))
        assert code == grpc.StatusCode.UNAUTHENTICATED, (code, details)
        code, details = code_of(stub.SendEvent, ev("auth-query"), metadata=bearer(QKEY))
        assert code == grpc.StatusCode.PERMISSION_DENIED, (code, details)
        r = stub.SendEvent(ev("auth-good"), metadata=bearer(KEY), timeout=TIMEOUT)
        assert r.event_id == "auth-good"
        r = stub.SendEvent(ev("auth-xkey"), metadata=(("x-api-key", KEY),), timeout=TIMEOUT)
        assert r.event_id == "auth-xkey"
        # a key bound to app-a: a batch with another application is
        # refused whole (HTTP's 403); in a stream those events are rejected
        code, details = code_of(stub.SendEvents,
                                pb.EventBatch(events=[ev("auth-b-1", app="app-a"),
                                                      ev("auth-b-2", app="app-b")]),
                                metadata=bearer(BOUND))
        assert code == grpc.StatusCode.PERMISSION_DENIED and "app-b" in details, details
        r = stub.StreamEvents(iter([ev("auth-s-1", app="app-a"), ev("auth-s-2", app="app-b")]),
                              metadata=bearer(BOUND), timeout=TIMEOUT)
        assert r.accepted == 1 and [x.index for x in r.rejected] == [1], r
        assert r.rejected[0].field == "application_id", r
        # the health service stays open, like /ready
        h = health_pb2_grpc.HealthStub(channel(s))
        assert h.Check(health_pb2.HealthCheckRequest(), timeout=TIMEOUT).status == SERVING
        for i in ("auth-good", "auth-xkey", "auth-s-1"):
            s.wait_event(i)
        for i in ("auth-none", "auth-wrong", "auth-query", "auth-b-1", "auth-b-2",
                  "auth-s-2", "auth-stream-none"):
            assert s.count_event(i) == 0, i
        s.stop()
        for k in (KEY, QKEY, BOUND):
            assert k not in s.logs(), "a key reached the logs"
    finally:
        s.cleanup()
    check_no_sanitizer_reports(s)


# --- TLS ------------------------------------------------------------------------

def openssl(*args):
    subprocess.run(["openssl"] + list(args), check=True, capture_output=True)


EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]


def test_tls():
    s = Sentinel()
    d = s.dir
    ca, ca_key = os.path.join(d, "ca.pem"), os.path.join(d, "ca.key")
    openssl("req", "-x509", *EC, "-keyout", ca_key, "-out", ca, "-days", "1",
            "-subj", "/CN=grpc test CA")
    cert, key = os.path.join(d, "srv.pem"), os.path.join(d, "srv.key")
    csr = os.path.join(d, "srv.csr")
    ext = os.path.join(d, "ext.cnf")
    with open(ext, "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    openssl("req", "-new", *EC, "-keyout", key, "-out", csr, "-subj", "/CN=localhost")
    openssl("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
            "-out", cert, "-days", "1", "-extfile", ext)
    text = s.config_text().replace(
        "  grpc:\n    port: %d\n" % s.grpc_port,
        "  grpc:\n    port: %d\n    tls:\n      enabled: true\n"
        "      cert_file: srv.pem\n      key_file: srv.key\n" % s.grpc_port)
    assert "srv.pem" in text
    s.write_config(text)
    try:
        s.start()
        with open(ca, "rb") as f:
            creds = grpc.ssl_channel_credentials(root_certificates=f.read())
        ch = grpc.secure_channel("localhost:%d" % s.grpc_port, creds)
        stub = pbg.TelemetryServiceStub(ch)
        r = stub.SendEvent(ev("tls-1"), timeout=TIMEOUT)
        assert r.event_id == "tls-1"
        h = health_pb2_grpc.HealthStub(ch)
        assert h.Check(health_pb2.HealthCheckRequest(), timeout=TIMEOUT).status == SERVING
        s.wait_event("tls-1")
        # in clear text the port does not answer
        code, _ = code_of(pbg.TelemetryServiceStub(channel(s)).SendEvent, ev("tls-plain"))
        assert code == grpc.StatusCode.UNAVAILABLE, code
        assert s.count_event("tls-plain") == 0
    finally:
        s.cleanup()
    check_no_sanitizer_reports(s)


def test_busy_port_is_reported():
    s = Sentinel()
    busy = socket.socket()
    busy.bind(("127.0.0.1", s.grpc_port))
    busy.listen(1)
    try:
        s.start(wait_ready=False)
        wait_for(lambda: "cannot listen for gRPC on 127.0.0.1:%d" % s.grpc_port in s.logs(),
                 30, what="the busy port in the log")
    finally:
        busy.close()
        s.cleanup()


def listening_tcp_ports(pid):
    """The TCP ports pid listens on, from /proc (no ss or netstat)."""
    inodes = set()
    fd_dir = "/proc/%d/fd" % pid
    for fd in os.listdir(fd_dir):
        try:
            link = os.readlink(os.path.join(fd_dir, fd))
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(link[8:-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            next(f)
            for line in f:
                p = line.split()
                if p[3] == "0A" and p[9] in inodes:  # LISTEN
                    ports.add(int(p[1].rsplit(":", 1)[1], 16))
    return ports


def test_port_0_turns_grpc_off():
    """ingestion.grpc.port: 0: no gRPC listener, HTTP ingestion as usual."""
    s = Sentinel()
    s.grpc_port = 0
    s.write_config()
    try:
        s.start()
        assert "gRPC off (ingestion.grpc.port: 0)" in s.logs(), s.logs()[-2000:]
        pid = s.daemon("ingestd")["pid"]
        ports = listening_tcp_ports(pid)
        assert ports == {s.http_port}, ports
        status, _, body = s.post_events(event("grpc-off-1"))
        assert status == 202, (status, body)
        s.wait_event("grpc-off-1")
    finally:
        s.cleanup()


def main():
    tap = Tap()
    s = Sentinel()
    try:
        s.start()
        tap.run(test_send_event_is_stored, s)
        tap.run(test_send_event_invalid_gets_invalid_argument, s)
        tap.run(test_send_events_with_a_bad_event_at_index_k, s)
        tap.run(test_stream_events, s)
        tap.run(test_stream_of_10000_events_arrives_complete, s)
        tap.run(test_health_serving, s)
        s.cleanup()
        tap.run(check_no_sanitizer_reports, s)
        tap.run(test_batch_and_message_limits)
        tap.run(test_not_serving_while_stored_cannot_start)
        tap.run(test_auth)
        tap.run(test_tls)
        tap.run(test_busy_port_is_reported)
        tap.run(test_port_0_turns_grpc_off)
    finally:
        s.cleanup()
        shutil.rmtree(STUBS, ignore_errors=True)
    tap.done()


if __name__ == "__main__":
    main()
