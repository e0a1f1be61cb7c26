"""Strangers are kept out of ingestd's HTTP port: API keys (a key in the
config from ${ENV}, a key given by its SHA-256, a keys file that a
reload re-reads, keys bound to applications, query keys for the query
API) and TLS (a certificate replaced by a reload, and client
certificates with mutual TLS).  No key ever reaches the logs.

Certificates are made with openssl(1), EC keys so that it is quick."""

import hashlib
import http.client
import json
import os
import secrets
import socket
import ssl
import subprocess
import time

from harness import Sentinel, Tap, check_no_sanitizer_reports, event, wait_for

EVENTS = "/api/v1/telemetry/events"

# Fresh tokens each run, so that finding one in a log means it leaked.
KEY_MAIN = "it-main-" + secrets.token_hex(16)
KEY_BOUND = "it-bound-" + secrets.token_hex(16)
KEY_HASHED = "it-hashed-" + secrets.token_hex(16)
KEY_QUERY = "it-query-" + secrets.token_hex(16)
KEY_FILE1 = "it-file1-" + secrets.token_hex(16)
KEY_FILE2 = "it-file2-" + secrets.token_hex(16)
ALL_KEYS = [KEY_MAIN, KEY_BOUND, KEY_HASHED, KEY_QUERY, KEY_FILE1, KEY_FILE2]
WRONG = "it-wrong-" + secrets.token_hex(16)


def sha256(s):
    return hashlib.sha256(s.encode()).hexdigest()


def bearer(key):
    return {"Authorization": "Bearer " + key}


AUTH = """\
    auth:
      enabled: true
      keys_file: keys.txt
      keys:
        - key: ${IT_KEY_MAIN}
          name: main
        - key: ${IT_KEY_BOUND}
          name: bound-a
          applications: [app-a]
        - key_sha256: %s
          name: hashed
      query_keys:
        - key: ${IT_KEY_QUERY}
          name: reader
""" % sha256(KEY_HASHED)
AUTH_ENV = {"IT_KEY_MAIN": KEY_MAIN, "IT_KEY_BOUND": KEY_BOUND,
            "IT_KEY_QUERY": KEY_QUERY}


def write_keys_file(s, text):
    """Replaces the keys file the way an operator's tool would: a new
    file renamed over the old one."""
    path = os.path.join(s.dir, "keys.txt")
    with open(path + ".new", "w") as f:
        f.write(text)
    os.rename(path + ".new", path)


def ev(event_id, app="test-app"):
    e = event(event_id)
    e["application_id"] = app
    return e


def reload(s):
    rc, out, err = s.cli("reload")
    assert rc == 0, (rc, out, err)


def health_errors(s, key):
    st, _, body = s.request("GET", "/api/v1/health", headers=bearer(key))
    assert st == 200, (st, body)
    return body["ingestion"]["errors"]


# --- (a) API keys ---------------------------------------------------------

def test_missing_or_wrong_key_gets_401(s):
    st, hdrs, body = s.post_events(ev("no-key-1"))
    assert st == 401, (st, body)
    assert hdrs.get("WWW-Authenticate", "").startswith("Bearer"), hdrs
    assert body["error"] == "unauthorized", body
    assert "API key is required" in body["reason"], body
    st, hdrs, body = s.post_events(ev("wrong-key-1"), headers=bearer(WRONG))
    assert st == 401, (st, body)
    assert 'error="invalid_token"' in hdrs.get("WWW-Authenticate", ""), hdrs
    assert "not valid" in body["reason"], body
    st, _, body = s.post_events(ev("wrong-key-2"), headers={"X-API-Key": WRONG})
    assert st == 401, (st, body)
    st, _, body = s.post_events(ev("basic-1"),
                                headers={"Authorization": "Basic " + KEY_MAIN})
    assert st == 401 and "Bearer" in body["reason"], (st, body)
    # a key is checked before anything else: no 405 nor 415 for strangers
    st, _, body = s.request("GET", EVENTS)
    assert st == 401, (st, body)
    # nothing of them was stored (the pipeline keeps order: once the good
    # event is in, the refused ones would be too)
    st, _, _ = s.post_events(ev("after-401"), headers=bearer(KEY_MAIN))
    assert st == 202
    s.wait_event("after-401")
    for i in ("no-key-1", "wrong-key-1", "wrong-key-2", "basic-1"):
        assert s.count_event(i) == 0, i


def test_good_key_in_both_headers_gets_202(s):
    st, _, body = s.post_events(ev("bearer-1"), headers=bearer(KEY_MAIN))
    assert st == 202, (st, body)
    st, _, body = s.post_events(ev("x-api-key-1"), headers={"X-API-Key": KEY_MAIN})
    assert st == 202, (st, body)
    st, _, body = s.post_events(ev("bearer-lower"),
                                headers={"Authorization": "bearer  " + KEY_MAIN})
    assert st == 202, (st, body)
    for i in ("bearer-1", "x-api-key-1", "bearer-lower"):
        s.wait_event(i)


def test_key_bound_to_an_application(s):
    st, _, body = s.post_events(ev("bound-a-1", "app-a"), headers=bearer(KEY_BOUND))
    assert st == 202, (st, body)
    # one event of another application refuses the whole request
    st, _, body = s.post_events([ev("bound-a-2", "app-a"), ev("bound-b-1", "app-b")],
                                headers=bearer(KEY_BOUND))
    assert st == 403, (st, body)
    assert body["error"] == "forbidden" and body["application_id"] == "app-b", body
    assert "app-b" in body["reason"], body
    # NDJSON too
    nd = json.dumps(ev("bound-b-2", "app-b")) + "\n"
    st, _, body = s.request("POST", EVENTS, nd, headers=dict(
        bearer(KEY_BOUND), **{"Content-Type": "application/x-ndjson"}))
    assert st == 403, (st, body)
    s.wait_event("bound-a-1")
    st, _, _ = s.post_events(ev("after-403"), headers=bearer(KEY_MAIN))
    assert st == 202
    s.wait_event("after-403")
    for i in ("bound-a-2", "bound-b-1", "bound-b-2"):
        assert s.count_event(i) == 0, i
    # the unbound key sends for any application
    st, _, _ = s.post_events(ev("main-b-1", "app-b"), headers=bearer(KEY_MAIN))
    assert st == 202


def test_key_given_by_its_sha256(s):
    st, _, body = s.post_events(ev("hashed-1"), headers=bearer(KEY_HASHED))
    assert st == 202, (st, body)
    # the hash itself is not a key
    st, _, _ = s.post_events(ev("hash-as-key"), headers=bearer(sha256(KEY_HASHED)))
    assert st == 401
    s.wait_event("hashed-1")


def test_keys_file_and_reload(s):
    st, _, body = s.post_events(ev("file1-1"), headers=bearer(KEY_FILE1))
    assert st == 202, (st, body)
    assert s.post_events(ev("file2-0"), headers=bearer(KEY_FILE2))[0] == 401
    # rotate: file1 removed, file2 added, then `sentinel-cli reload`
    write_keys_file(s, "# rotated\n%s name=file-two\n" % sha256(KEY_FILE2))
    reload(s)
    wait_for(lambda: s.post_events(ev("file2-probe"),
                                   headers=bearer(KEY_FILE2))[0] == 202,
             10, what="the new key admitted after reload")
    st, _, body = s.post_events(ev("file1-2"), headers=bearer(KEY_FILE1))
    assert st == 401, (st, body)
    st, _, body = s.post_events(ev("file2-1"), headers=bearer(KEY_FILE2))
    assert st == 202, (st, body)
    # a broken keys file: the reload is refused, the keys stay as they were
    write_keys_file(s, "%s name=file-one\n%s\n" % (sha256(KEY_FILE1), KEY_FILE1))
    reload(s)
    wait_for(lambda: "keys.txt:2: a line starts with the SHA-256" in s.logs(),
             10, what="ingestd refusing the broken keys file")
    assert s.post_events(ev("file2-2"), headers=bearer(KEY_FILE2))[0] == 202
    assert s.post_events(ev("file1-3"), headers=bearer(KEY_FILE1))[0] == 401
    assert s.post_events(ev("main-2"), headers=bearer(KEY_MAIN))[0] == 202
    write_keys_file(s, "%s name=file-two\n" % sha256(KEY_FILE2))
    s.wait_event("file2-2")
    for i in ("file1-2", "file1-3"):
        assert s.count_event(i) == 0, i


def test_query_api_needs_a_query_key(s):
    s.wait_event("bearer-1")
    paths = ["/api/v1/events?limit=5", "/api/v1/events/bearer-1",
             "/api/v1/anomalies", "/api/v1/metrics/query?metric=requests"]
    for p in paths:
        st, hdrs, body = s.request("GET", p)
        assert st == 401, (p, st, body)
        assert hdrs.get("WWW-Authenticate", "").startswith("Bearer"), hdrs
        st, _, body = s.request("GET", p, headers=bearer(KEY_MAIN))
        assert st == 403, (p, st, body)
        assert "query_keys" in body["reason"], body
        st, _, body = s.request("GET", p, headers={"X-API-Key": KEY_QUERY})
        assert st == 200, (p, st, body)
    st, _, body = s.request("GET", "/api/v1/events/bearer-1", headers=bearer(KEY_QUERY))
    assert body["event_id"] == "bearer-1", body
    # a query key cannot send events
    st, _, body = s.post_events(ev("by-query-key"), headers=bearer(KEY_QUERY))
    assert st == 403 and "query key" in body["reason"], (st, body)


def test_probes_stay_open_health_needs_a_key(s):
    assert s.get("/health")[0] == 200
    assert s.get("/ready")[0] == 200
    st, _, _ = s.get("/api/v1/health")
    assert st == 401
    errors = health_errors(s, KEY_QUERY)
    assert errors["unauthorized"] >= 10, errors
    assert errors["forbidden"] >= 7, errors
    st, _, body = s.request("GET", "/api/v1/health", headers=bearer(KEY_MAIN))
    assert st == 200
    assert body["ingestion"]["auth"] == {"enabled": True, "keys": 4,
                                         "query_keys": 1}, body["ingestion"]


def test_keys_never_logged(s):
    logs = s.logs()
    for k in ALL_KEYS + [WRONG]:
        assert k not in logs, "a key is in the log"
    # refusals are logged, naming the key, not showing it
    refused = [l for l in s.log_lines()
               if l.get("msg") == "HTTP request refused: API key not allowed"]
    assert refused and refused[0]["key"] in ("bound-a", "main", "reader"), refused
    assert any(l.get("msg") == "HTTP API keys loaded" for l in s.log_lines())


# --- (b) TLS, (c) mutual TLS ---------------------------------------------

def openssl(*args):
    subprocess.run(["openssl"] + list(args), check=True, capture_output=True)


EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]


def self_signed(folder, name, cn="127.0.0.1"):
    cert, key = os.path.join(folder, name + ".pem"), os.path.join(folder, name + ".key")
    openssl("req", "-x509", *EC, "-keyout", key, "-out", cert, "-days", "1",
            "-subj", "/CN=" + cn, "-addext", "subjectAltName=IP:127.0.0.1")
    return cert, key


def signed_by(folder, name, ca, ca_key):
    cert, key = os.path.join(folder, name + ".pem"), os.path.join(folder, name + ".key")
    csr = os.path.join(folder, name + ".csr")
    openssl("req", "-new", *EC, "-keyout", key, "-out", csr, "-subj", "/CN=" + name)
    openssl("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key,
            "-CAcreateserial", "-out", cert, "-days", "1")
    return cert, key


def fingerprint(pem):
    with open(pem) as f:
        return hashlib.sha256(ssl.PEM_cert_to_DER_cert(f.read())).hexdigest()


def client_ctx(ca, cert=None, max_version=None):
    ctx = ssl.create_default_context(cafile=ca)
    if cert is not None:
        ctx.load_cert_chain(*cert)
    if max_version is not None:
        ctx.maximum_version = max_version
    return ctx


def https(s, ctx, method, path, body=None, conn=None):
    """One request over TLS: (status, JSON body, the peer certificate's
    SHA-256).  conn: a kept-alive connection to reuse."""
    c = conn or http.client.HTTPSConnection("127.0.0.1", s.http_port,
                                            context=ctx, timeout=10)
    data = json.dumps(body).encode() if body is not None else None
    c.request(method, path, body=data,
              headers={"Content-Type": "application/json"} if data else {})
    peer = hashlib.sha256(c.sock.getpeercert(binary_form=True)).hexdigest()
    r = c.getresponse()
    raw = r.read()
    if conn is None:
        c.close()
    return r.status, json.loads(raw) if raw else None, peer


def install_cert(s, cert, key):
    """Puts a certificate and key where the config names them, each
    replaced at once (a rename)."""
    for src, dst in ((cert, "server.pem"), (key, "server.key")):
        with open(src, "rb") as f:
            data = f.read()
        tmp = os.path.join(s.tls, dst + ".new")
        with open(tmp, "wb") as f:
            f.write(data)
        os.rename(tmp, os.path.join(s.tls, dst))


def tls_config(client_ca=False):
    # small limits, to reach them over TLS (test_limits_over_tls)
    return ("    max_body_size: 64KB\n"
            "    header_timeout: 1s\n"
            "    max_connections: 6\n"
            "    tls:\n"
            "      enabled: true\n"
            "      cert_file: tls/server.pem\n"
            "      key_file: tls/server.key\n"
            + ("      client_ca_file: tls/ca.pem\n" if client_ca else ""))


def test_https_post_and_plain_http_refused(t):
    s = t["s"]
    st, body, peer = https(s, t["ctx1"], "POST", EVENTS, ev("tls-1"))
    assert st == 202, (st, body)
    assert peer == fingerprint(t["cert1"][0])
    s.wait_event("tls-1")
    # plain HTTP to the TLS port: no answer, nothing stored
    c = http.client.HTTPConnection("127.0.0.1", s.http_port, timeout=5)
    try:
        c.request("POST", EVENTS, body=json.dumps(ev("plain-1")),
                  headers={"Content-Type": "application/json"})
        r = c.getresponse()
        assert False, "plain HTTP got an answer: %d" % r.status
    except (http.client.HTTPException, ConnectionError, socket.timeout):
        pass
    finally:
        c.close()
    st, body, _ = https(s, t["ctx1"], "GET", "/api/v1/health")
    assert body["ingestion"]["errors"]["tls_handshake"] >= 1, body["ingestion"]
    assert body["ingestion"]["tls"]["sha256"] == fingerprint(t["cert1"][0])
    assert s.count_event("plain-1") == 0


def test_limits_over_tls(t):
    """The connection watching of http.c works on the decrypted stream:
    libevent's HTML 413 is replaced by JSON over TLS too, a client that
    never finishes its handshake is cut off at header_timeout, and a
    connection over max_connections is closed before its handshake."""
    s = t["s"]
    st, body, _ = https(s, t["ctx1"], "POST", EVENTS,
                        [ev("big-%d" % i) for i in range(400)])
    assert st == 413 and body["error"] == "body too large", (st, body)
    raw = socket.create_connection(("127.0.0.1", s.http_port), timeout=10)
    t0 = time.monotonic()
    try:
        raw.sendall(b"\x16\x03\x01")  # the start of a ClientHello, no more
        assert raw.recv(100) == b""
    except ConnectionError:
        pass
    finally:
        raw.close()
    took = time.monotonic() - t0
    # header_timeout 1s, and no lingering: an answer cannot be sent
    # without a handshake
    assert 0.9 < took < 1.9, took
    held = []
    try:
        for _ in range(6):
            c = http.client.HTTPSConnection("127.0.0.1", s.http_port,
                                            context=t["ctx1"], timeout=10)
            c.connect()
            held.append(c)
        try:
            https(s, t["ctx1"], "GET", "/health")
            assert False, "a 7th connection was served"
        except (ssl.SSLError, ConnectionError, http.client.HTTPException):
            pass
        # the open ones are served as usual
        st, body, _ = https(s, t["ctx1"], "GET", "/api/v1/health", conn=held[0])
    finally:
        for c in held:
            c.close()
    errors = body["ingestion"]["errors"]
    assert errors["body_too_large"] == 1 and errors["timeout"] == 1, errors
    assert errors["too_many_connections"] == 1, errors
    wait_for(lambda: https(s, t["ctx1"], "GET", "/health")[0] == 200, 10,
             what="connections below the cap again")


def test_reload_rotates_the_certificate(t):
    s = t["s"]
    old = http.client.HTTPSConnection("127.0.0.1", s.http_port,
                                      context=t["ctx1"], timeout=10)
    st, _, peer = https(s, t["ctx1"], "POST", EVENTS, ev("before-rotation"), conn=old)
    assert st == 202 and peer == fingerprint(t["cert1"][0])
    install_cert(s, *t["cert2"])
    reload(s)
    new_fp = fingerprint(t["cert2"][0])
    wait_for(lambda: https(s, t["ctx2"], "GET", "/health")[2] == new_fp, 10,
             what="new connections to get the new certificate")
    st, body, peer = https(s, t["ctx2"], "POST", EVENTS, ev("after-rotation"))
    assert st == 202 and peer == new_fp, (st, body)
    # a client still trusting only the old certificate is refused now
    try:
        https(s, t["ctx1"], "GET", "/health")
        assert False, "the old certificate is still served"
    except ssl.SSLCertVerificationError:
        pass
    # the connection opened before keeps its session and certificate
    st, _, peer = https(s, t["ctx1"], "POST", EVENTS, ev("old-connection"), conn=old)
    assert st == 202 and peer == fingerprint(t["cert1"][0]), (st, peer)
    old.close()
    # a broken key: the reload is refused, the new certificate stays
    with open(os.path.join(s.tls, "server.key"), "w") as f:
        f.write("-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n")
    reload(s)
    wait_for(lambda: "ingestion.http.tls.key_file" in s.logs(), 10,
             what="ingestd refusing the broken key")
    assert https(s, t["ctx2"], "GET", "/health")[2] == new_fp
    install_cert(s, *t["cert2"])
    for i in ("before-rotation", "after-rotation", "old-connection"):
        s.wait_event(i)


def test_mutual_tls(t):
    s = t["s"]
    tmp = s.tls
    ca, ca_key = self_signed(tmp, "ca", cn="it-client-ca")
    good = signed_by(tmp, "client", ca, ca_key)
    rogue = self_signed(tmp, "rogue", cn="rogue")
    os.rename(ca, os.path.join(tmp, "ca.pem"))
    s.extra_http = tls_config(client_ca=True)
    s.write_config()
    reload(s)
    with_cert = client_ctx(t["cert2"][0], good)

    def refused(ctx):
        try:
            https(s, ctx, "GET", "/health")
        except (ssl.SSLError, ConnectionError, http.client.HTTPException):
            return True
        return False

    wait_for(lambda: refused(t["ctx2"]), 10, what="a client without a certificate refused")
    # TLS 1.2: refused in the handshake itself
    ctx12 = client_ctx(t["cert2"][0], max_version=ssl.TLSVersion.TLSv1_2)
    raw = socket.create_connection(("127.0.0.1", s.http_port), timeout=10)
    try:
        ctx12.wrap_socket(raw, server_hostname="127.0.0.1")
        assert False, "handshake without a client certificate succeeded"
    except (ssl.SSLError, ConnectionError):
        pass
    finally:
        raw.close()
    assert refused(client_ctx(t["cert2"][0], rogue)), "a certificate of another CA"
    st, body, _ = https(s, with_cert, "POST", EVENTS, ev("mtls-1"))
    assert st == 202, (st, body)
    st, body, _ = https(s, client_ctx(t["cert2"][0], good, ssl.TLSVersion.TLSv1_2),
                        "POST", EVENTS, ev("mtls-2"))
    assert st == 202, (st, body)
    s.wait_event("mtls-1")
    s.wait_event("mtls-2")
    st, body, _ = https(s, with_cert, "GET", "/api/v1/health")
    ing = body["ingestion"]
    assert ing["tls"]["client_certificates"] is True, ing
    assert ing["errors"]["tls_handshake"] >= 4, ing["errors"]
    failed = [l for l in s.log_lines() if l.get("msg") == "HTTP TLS handshake failed"]
    assert failed, "no handshake failure logged"


def start_tls_set():
    s = Sentinel(extra_http=tls_config())
    s.tls = os.path.join(s.dir, "tls")
    os.mkdir(s.tls)
    t = {"s": s}
    t["cert1"] = self_signed(s.tls, "one")
    t["cert2"] = self_signed(s.tls, "two")
    install_cert(s, *t["cert1"])
    t["ctx1"] = client_ctx(t["cert1"][0])
    t["ctx2"] = client_ctx(t["cert2"][0])
    s.start(wait_ready=False)
    wait_for(lambda: https(s, t["ctx1"], "GET", "/ready")[0] == 200, 20,
             what="/ready over TLS")
    return t


def test_config_errors_named_at_start():
    """A missing certificate is reported at its key (file:line) and the
    set does not start; one that is there but is not a certificate stops
    ingestd for good (exit 2, not restarted), saying why."""
    s = Sentinel(extra_http=tls_config())
    try:
        s.start(wait_ready=False)
        rc = s.proc.wait(20)
        assert rc == 2, rc
        line = s.config_text().splitlines().index(
            "      cert_file: tls/server.pem") + 1
        assert ("config.yaml:%d: ingestion.http.tls.cert_file: cannot read" % line
                in s.logs()), s.logs()[-2000:]
    finally:
        s.cleanup()
    s = Sentinel(extra_http=tls_config())
    try:
        os.mkdir(os.path.join(s.dir, "tls"))
        for name in ("server.pem", "server.key"):
            with open(os.path.join(s.dir, "tls", name), "w") as f:
                f.write("not PEM at all\n")
        s.start(wait_ready=False)
        wait_for(lambda: s.daemon("ingestd")["state"] == "failed", 20,
                 what="ingestd failed for good")
        assert ("ingestion.http.tls.cert_file: %s/tls/server.pem: not a PEM "
                "certificate chain" % s.dir) in s.logs(), s.logs()[-3000:]
    finally:
        s.cleanup()


def main():
    tap = Tap()
    s = Sentinel(extra_http=AUTH)
    write_keys_file(s, "# ingest keys by hash\n%s name=file-one\n" % sha256(KEY_FILE1))
    t = None
    try:
        s.start(env=AUTH_ENV)
        tap.run(test_missing_or_wrong_key_gets_401, s)
        tap.run(test_good_key_in_both_headers_gets_202, s)
        tap.run(test_key_bound_to_an_application, s)
        tap.run(test_key_given_by_its_sha256, s)
        tap.run(test_keys_file_and_reload, s)
        tap.run(test_query_api_needs_a_query_key, s)
        tap.run(test_probes_stay_open_health_needs_a_key, s)
        s.stop()
        tap.run(test_keys_never_logged, s)
        s.cleanup()
        tap.run(check_no_sanitizer_reports, s)

        t = start_tls_set()
        tap.run(test_https_post_and_plain_http_refused, t)
        tap.run(test_limits_over_tls, t)
        tap.run(test_reload_rotates_the_certificate, t)
        tap.run(test_mutual_tls, t)
        t["s"].cleanup()
        tap.run(check_no_sanitizer_reports, t["s"])
        tap.run(test_config_errors_named_at_start)
    finally:
        s.cleanup()
        if t is not None:
            t["s"].cleanup()
    tap.done()


if __name__ == "__main__":
    main()
