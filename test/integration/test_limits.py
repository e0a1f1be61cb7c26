"""Bad input to HTTP ingestion: every kind gets a clear answer (status and
a JSON {"error", "reason"}), nothing of it is stored, it is counted by
reason in /api/v1/health, and ingestd goes on serving without a restart.

Oversized headers, slow clients and too many connections are driven over
raw sockets, since an HTTP library would not send them."""

import json
import select
import socket
import time

from harness import Sentinel, Tap, check_no_sanitizer_reports, event, iso, wait_for

EVENTS = "/api/v1/telemetry/events"

# Small limits so that each one is quick to reach.
LIMITS = (
    "    max_body_size: 256KB\n"
    "    max_batch_size: 50\n"
    "    max_connections: 6\n"
    "    max_header_size: 4KB\n"
    "    header_timeout: 1s\n"
    "    body_timeout: 1500ms\n"
    "    idle_timeout: 5s\n"
)
WINDOW = "    max_age: 1h\n    max_future: 1m\n"


# --- raw HTTP -------------------------------------------------------------

def connect(s):
    c = socket.create_connection(("127.0.0.1", s.http_port), timeout=10)
    return c


def read_answer(c, timeout=10.0):
    """Reads one answer: (status, headers, JSON body, raw bytes).  Reads
    to the end of the body by Content-Length (or to the close)."""
    c.settimeout(timeout)
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = c.recv(65536)
        if not d:
            break
        buf += d
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    assert lines[0].startswith("HTTP/1.1 "), buf[:200]
    status = int(lines[0].split()[1])
    hdrs = {}
    for l in lines[1:]:
        k, _, v = l.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    n = int(hdrs.get("content-length", "-1"))
    while n < 0 or len(rest) < n:
        d = c.recv(65536)
        if not d:
            break
        rest += d
    body = rest[:n] if n >= 0 else rest
    try:
        parsed = json.loads(body)
    except ValueError:
        parsed = None
    return status, hdrs, parsed, buf


def raw(s, data, timeout=10.0):
    """Sends data on a new connection and reads the answer."""
    c = connect(s)
    try:
        c.sendall(data)
        return read_answer(c, timeout)
    finally:
        c.close()


def post_head(length=None, extra=""):
    h = ("POST %s HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
         "Connection: close\r\n" % EVENTS)
    if length is not None:
        h += "Content-Length: %d\r\n" % length
    return (h + extra + "\r\n").encode()


def closed_by_server(c, timeout=5.0):
    """True once the server closed c (reads what is left)."""
    c.settimeout(timeout)
    try:
        while c.recv(65536):
            pass
        return True
    except OSError:
        return True


def assert_json_error(st, hdrs, body, status, error, reason_part):
    assert st == status, (st, body)
    assert hdrs.get("content-type", "").startswith("application/json"), hdrs
    assert isinstance(body, dict), body
    assert body.get("error") == error, body
    assert reason_part in body.get("reason", ""), body


# --- helpers on the set ---------------------------------------------------

def errors(s):
    st, _, body = s.get("/api/v1/health")
    assert st == 200, body
    return body["ingestion"]["errors"]


class Delta:
    """The change of the rejection counters over a with-block."""

    def __init__(self, s):
        self.s = s

    def __enter__(self):
        self.before = errors(self.s)
        return self

    def __exit__(self, *exc):
        after = errors(self.s)
        self.d = {k: after[k] - self.before.get(k, 0) for k in after}
        return False

    def __getitem__(self, k):
        return self.d[k]


def now_ev(event_id, offset_s=0, **data):
    ev = event(event_id, **data)
    ev["timestamp"] = iso(int((time.time() + offset_s) * 1000))
    return ev


def assert_nothing_stored(s, *ids):
    # A good event sent after them is stored once the pipeline moved on.
    marker = "marker-%d" % int(time.monotonic() * 1e6)
    st, _, body = s.post_events(now_ev(marker))
    assert st == 202, body
    s.wait_event(marker)
    for i in ids:
        assert s.count_event(i) == 0, i


# --- the cases ------------------------------------------------------------

def test_body_over_max_body_size_gets_json_413(s):
    big = now_ev("big-body")
    big["data"]["blob"] = "x" * (300 * 1024)
    data = json.dumps(big).encode()
    with Delta(s) as d:
        st, hdrs, body, _ = raw(s, post_head(len(data)) + data)
        assert_json_error(st, hdrs, body, 413, "body too large",
                          "ingestion.http.max_body_size")
        assert body["limit"] == 256 * 1024, body
        assert hdrs.get("connection") == "close", hdrs
        # Announced with Expect: 100-continue, refused before the body.
        st, hdrs, body, _ = raw(s, post_head(len(data), "Expect: 100-continue\r\n"))
        assert_json_error(st, hdrs, body, 413, "body too large", "262144")
        # Chunked, refused as soon as it grows past the limit.
        chunk = b"8000\r\n" + b" " * 0x8000 + b"\r\n"
        head = post_head(None, "Transfer-Encoding: chunked\r\n")
        st, hdrs, body, _ = raw(s, head + chunk * 10 + b"0\r\n\r\n")
        assert_json_error(st, hdrs, body, 413, "body too large", "262144")
    assert d["body_too_large"] == 3, d.d
    assert_nothing_stored(s, "big-body")


def test_headers_over_max_header_size_get_json_431(s):
    req = (b"GET /health HTTP/1.1\r\nHost: t\r\nX-Big: " + b"a" * 6000 +
           b"\r\n\r\n")
    with Delta(s) as d:
        st, hdrs, body, _ = raw(s, req)
    assert_json_error(st, hdrs, body, 431, "headers too large",
                      "ingestion.http.max_header_size")
    assert body["limit"] == 4096, body
    assert d["header_too_large"] == 1, d.d


def test_not_http_gets_json_400_unknown_method_501(s):
    with Delta(s) as d:
        st, hdrs, body, _ = raw(s, b"\x16\x03\x01\x02\x00garbage\r\n\r\n")
        assert_json_error(st, hdrs, body, 400, "malformed request", "HTTP")
        st, hdrs, body, _ = raw(s, b"BREW /health HTTP/1.1\r\nHost: t\r\n\r\n")
        assert_json_error(st, hdrs, body, 501, "not implemented", "method")
        st, hdrs, body, _ = raw(s, post_head(None, "Content-Length: x\r\n"))
        assert_json_error(st, hdrs, body, 400, "malformed request", "HTTP")
    assert d["malformed_http"] == 3, d.d


def test_batch_over_max_batch_size_gets_413(s):
    with Delta(s) as d:
        st, _, body = s.post_events([now_ev("batch-%d" % i) for i in range(51)])
    assert st == 413 and body["error"] == "batch too large", (st, body)
    assert "50" in body["reason"], body
    assert d["batch_too_large"] == 1, d.d
    assert_nothing_stored(s, "batch-0", "batch-50")


def test_invalid_utf8_and_non_numbers_get_400(s):
    good = json.dumps(now_ev("utf8-bad")).encode()
    cases = [
        (good.replace(b'"test-app"', b'"test-\xff-app"'), "unable to decode byte 0xff"),
        (good.replace(b'"test-app"', b'"test-\xc3\x28"'), "unable to decode byte 0xc3"),
        (good.replace(b"1250", b"NaN"), "invalid token near 'NaN'"),
        (good.replace(b"1250", b"Infinity"), "invalid token near 'Infinity'"),
        (good.replace(b"1250", b"1e999"), "real number overflow"),
        (good.replace(b"1250", b"-1e999"), "real number overflow"),
        (good.replace(b"1250", b"123456789012345678901234"), "too big integer"),
    ]
    with Delta(s) as d:
        for data, reason in cases:
            st, hdrs, body = s.post_events(data)
            assert st == 400, (data, st, body)
            assert body["error"] == "invalid JSON", body
            assert reason in body["reason"], (reason, body)
            # Printable ASCII only, whatever bytes came in.
            assert all(32 <= ord(ch) < 127 for ch in body["reason"]), body
        # In NDJSON only the bad line is refused.
        nd = cases[0][0].replace(b"utf8-bad", b"utf8-nd-bad") + b"\n" + \
            json.dumps(now_ev("utf8-nd-good")).encode() + b"\n"
        st, _, body = s.post_events(nd, {"Content-Type": "application/x-ndjson"})
        assert st == 202 and body["accepted"] == 1, (st, body)
        assert "unable to decode" in body["rejected"][0]["error"], body
    assert d["invalid_json"] == len(cases) + 1, d.d
    s.wait_event("utf8-nd-good")
    assert_nothing_stored(s, "utf8-bad", "utf8-nd-bad")


def test_absurd_values_get_400_naming_the_field(s):
    deep = {}
    cur = deep
    for _ in range(40):
        cur["n"] = {}
        cur = cur["n"]
    cases = [
        (now_ev("v-neg", latency_ms=-5), "data.latency_ms",
         "must be a non-negative number", "invalid_field"),
        (now_ev("v-lat", latency_ms=90000000), "data.latency_ms",
         "must be at most 86400000", "number_out_of_range"),
        (now_ev("v-tok", total_tokens=2e9), "data.total_tokens",
         "must be at most 1000000000", "number_out_of_range"),
        (now_ev("v-ptok", prompt_tokens=-1), "data.prompt_tokens",
         "must be a non-negative number", "invalid_field"),
        (now_ev("v-cost", cost=5e6), "data.cost", "must be at most 1000000",
         "number_out_of_range"),
        (dict(now_ev("v-app"), application_id="a" * 300), "application_id",
         "must be at most 256 bytes", "string_too_long"),
        (now_ev("v-model", model="m" * 300), "data.model",
         "must be at most 256 bytes", "string_too_long"),
        (now_ev("v-str", prompt="p" * 70000), "data",
         "holds a string longer than 65536 bytes", "string_too_long"),
        (now_ev("v-deep", extra=deep), "data", "nests deeper than 32 levels",
         "too_deep"),
        (now_ev("v-fields", **{"f%d" % i: i for i in range(300)}), "data",
         "has more than 256 fields", "too_many_fields"),
    ]
    with Delta(s) as d:
        for ev, field, reason, _ in cases:
            st, _, body = s.post_events(ev)
            assert st == 400, (field, st, body)
            assert body["error"] == "invalid event", body
            assert body["field"] == field and reason in body["reason"], (field, body)
    for k in set(c[3] for c in cases):
        assert d[k] == sum(1 for c in cases if c[3] == k), (k, d.d)
    assert_nothing_stored(s, *[c[0]["event_id"] for c in cases])


def detectd_max_event_time(s):
    rc, out, err = s.cli("--json", "detectors", "list")
    assert rc == 0, err
    return json.loads(out).get("max_event_time")


def test_timestamps_outside_the_window_get_400(s):
    with Delta(s) as d:
        st, _, body = s.post_events(now_ev("w-old", -2 * 3600))
        assert st == 400 and body["field"] == "timestamp", body
        assert "more than 1h in the past" in body["reason"], body
        assert "ingestion.accept.max_age" in body["reason"], body
        # A year ahead: it would move detectd's event-time clock.
        st, _, body = s.post_events(now_ev("w-future", 365 * 86400))
        assert st == 400 and body["field"] == "timestamp", body
        assert "more than 1m in the future" in body["reason"], body
        # A batch keeps what is inside the window.
        st, _, body = s.post_events([now_ev("w-in-past", -1800),
                                     now_ev("w-in-future", 30),
                                     now_ev("w-far", 600)])
        assert st == 202 and body["accepted"] == 2, (st, body)
        assert [r["event_id"] for r in body["rejected"]] == ["w-far"], body
    assert d["timestamp_out_of_window"] == 3, d.d
    s.wait_event("w-in-past")
    s.wait_event("w-in-future")
    assert_nothing_stored(s, "w-old", "w-future", "w-far")
    # detectd never saw the far-future events.
    t = detectd_max_event_time(s)
    if t is not None:
        ms = t if isinstance(t, int) else None
        if ms is None:
            import datetime
            ms = int(datetime.datetime.fromisoformat(
                t.replace("Z", "+00:00")).timestamp() * 1000)
        assert ms <= (time.time() + 120) * 1000, t


def wait_answer(c, limit_s, drip=None):
    """Waits up to limit_s for an answer on c, sending one byte of drip
    every 0.2 s meanwhile (a slow client).  Returns read_answer's tuple,
    or None when nothing came."""
    deadline = time.monotonic() + limit_s
    i = 0
    while time.monotonic() < deadline:
        r, _, _ = select.select([c], [], [], 0.2)
        if r:
            return read_answer(c)
        if drip is not None:
            try:
                c.send(drip[i % len(drip):i % len(drip) + 1])
            except OSError:
                pass
            i += 1
    return None


def test_slow_headers_get_408(s):
    with Delta(s) as d:
        c = connect(s)
        try:
            c.sendall(b"POST " + EVENTS.encode() + b" HTTP/1.1\r\nHost: t\r\n")
            # A byte every 0.2 s: libevent's own timeout (idle_timeout,
            # 5s, reset by every read) would never fire.
            a = wait_answer(c, 8, drip=b"X-Slow: aaaaaaaaaaaaaaaaaaaaaaaa")
            assert a is not None, "no answer to a slow client"
            st, hdrs, body, _ = a
            assert_json_error(st, hdrs, body, 408, "request timeout",
                              "ingestion.http.header_timeout")
            assert closed_by_server(c)
        finally:
            c.close()
        # A client that sends nothing at all.
        c = connect(s)
        try:
            a = wait_answer(c, 8)
            assert a is not None and a[0] == 408, a
            assert closed_by_server(c)
        finally:
            c.close()
    assert d["timeout"] == 2, d.d


def test_slow_body_gets_408(s):
    ev = json.dumps(now_ev("slow-body")).encode()
    with Delta(s) as d:
        c = connect(s)
        try:
            c.sendall(post_head(len(ev)) + ev[:10])
            a = wait_answer(c, 8, drip=ev[10:])
            assert a is not None, "no answer to a slow body"
            st, hdrs, body, _ = a
            assert_json_error(st, hdrs, body, 408, "request timeout",
                              "ingestion.http.body_timeout")
            assert closed_by_server(c)
        finally:
            c.close()
    assert d["timeout"] == 1, d.d
    assert_nothing_stored(s, "slow-body")


def test_connections_over_the_cap_get_503(s):
    cap = 6
    held = []
    try:
        # cap - 1 idle connections, and the health request makes cap.
        held = [connect(s) for _ in range(cap - 1)]
        wait_for(lambda: s.get("/api/v1/health")[2]["ingestion"]["connections"] == cap,
                 timeout=5, what="connections open")
        with Delta(s) as d:
            held.append(connect(s))
            st, hdrs, body, _ = raw(s, b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n")
            # The health request of Delta's end needs a free slot.
            held.pop().close()
            wait_for(lambda: s.get("/health")[0] == 200, timeout=5,
                     what="a free slot")
        assert_json_error(st, hdrs, body, 503, "too many connections",
                          "ingestion.http.max_connections")
        assert hdrs.get("retry-after") == "1", hdrs
        assert d["too_many_connections"] >= 1, d.d
    finally:
        for c in held:
            c.close()
    # Closed connections are counted out again.
    wait_for(lambda: s.get("/api/v1/health")[2]["ingestion"]["connections"] == 1,
             timeout=5, what="connections closed")


def answer_from(f):
    """(status, headers, JSON body) of the next answer on file f: reads
    exactly one, so answers to pipelined requests stay apart."""
    status = int(f.readline().split()[1])
    hdrs = {}
    while True:
        line = f.readline().decode("latin-1").strip()
        if not line:
            break
        k, _, v = line.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    return status, hdrs, json.loads(f.read(int(hdrs["content-length"])))


def test_202s_keep_alive_pipelined_then_close(s):
    """A held 202 must leave the connection as a fresh one (a way of
    writing it ahead of libevent was tried and taken out again:
    docs/performance.md).  Two requests pipelined in one
    send, then one with Connection: close, on one connection: three 202s
    in order, then the server closes; all three events stored.  And a
    client that leaves before its 202."""
    ids = ["pipe-%d-%d" % (int(time.monotonic() * 1e6), k) for k in range(3)]

    def req(ev, close=False):
        body = json.dumps(now_ev(ev)).encode()
        head = post_head(len(body))
        if not close:
            head = head.replace(b"Connection: close\r\n", b"")
        return head + body
    c = connect(s)
    try:
        f = c.makefile("rb")
        c.sendall(req(ids[0]) + req(ids[1]))
        for ev in ids[:2]:
            st, hdrs, body = answer_from(f)
            assert st == 202 and body["event_id"] == ev, (st, body)
            assert hdrs.get("connection", "").lower() != "close", hdrs
        c.sendall(req(ids[2], close=True))
        st, hdrs, body = answer_from(f)
        assert st == 202 and body["event_id"] == ids[2], (st, body)
        c.settimeout(5)
        assert f.read() == b"", "the server kept the connection open"
    finally:
        c.close()
    # a client gone before its 202 is written: nothing for it, and the
    # event, accepted whole, is still stored (test_daemon_unaffected
    # checks ingestd did not restart)
    gone = "gone-%d" % int(time.monotonic() * 1e6)
    c = connect(s)
    c.sendall(req(gone))
    c.close()
    for ev in ids + [gone]:
        s.wait_event(ev)


def test_daemon_unaffected(s, pid):
    st, _, body = s.post_events(now_ev("after-all"))
    assert st == 202, body
    s.wait_event("after-all")
    d = s.daemon("ingestd")
    assert d["state"] == "up" and d["restarts"] == 0, d
    assert d["pid"] == pid, (d, pid)
    st, _, body = s.get("/api/v1/health")
    assert body["status"] == "healthy", body


def main():
    tap = Tap()
    s = Sentinel(extra_http=LIMITS)
    s.write_config(s.config_text().replace(
        "storage:\n", "  accept:\n" + WINDOW + "storage:\n", 1))
    try:
        s.start()
        pid = s.daemon("ingestd")["pid"]
        for t in (test_body_over_max_body_size_gets_json_413,
                  test_headers_over_max_header_size_get_json_431,
                  test_not_http_gets_json_400_unknown_method_501,
                  test_batch_over_max_batch_size_gets_413,
                  test_invalid_utf8_and_non_numbers_get_400,
                  test_absurd_values_get_400_naming_the_field,
                  test_timestamps_outside_the_window_get_400,
                  test_slow_headers_get_408,
                  test_slow_body_gets_408,
                  test_connections_over_the_cap_get_503,
                  test_202s_keep_alive_pipelined_then_close):
            tap.run(t, s)
        tap.run(test_daemon_unaffected, s, pid)
    finally:
        s.cleanup()
    tap.run(check_no_sanitizer_reports, s)
    tap.done()


if __name__ == "__main__":
    main()
