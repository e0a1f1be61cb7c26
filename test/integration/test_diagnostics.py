"""sentinel-cli's observability tools against a running set whose
configuration holds every kind of secret (SMTP password, Slack webhook
URL, PagerDuty routing key, webhook URL, HMAC secret and Authorization
header, API keys):

- `metrics list` lists every family, `metrics get NAME` prints each
  series in the text exposition format (events counted per
  application_id), an unknown metric exits 1;
- the supervisor's "logs" command returns each process's newest whole
  log lines and refuses bad requests;
- `diagnostics collect` writes a tar.gz holding the manifest, versions,
  status, the redacted configuration, a metrics scrape, storage check,
  alerts status, each process's log and the system facts, and no secret
  appears in any byte of it; with the supervisor down it still writes
  what it can (the log rings left in run_dir among it) and exits 1."""

import json
import os
import re
import tarfile

from harness import (Sentinel, Tap, check_no_sanitizer_reports, event,
                     free_port, wait_for)

SECRETS = {
    "smtp": "SmtpPassw0rd-S3CRET-one",
    "slack": "SLACKS3CRETtwo",
    "pagerduty": "PDROUTINGS3CRETthree",
    "webhook_path": "WEBHOOKS3CRETfour",
    "hmac": "HMACS3CRETfive",
    "authz": "AUTHZS3CRETsix",
    "ingest_key": "INGESTKEYS3CRET-seven",
    "query_key": "QUERYKEYS3CRET-eight",
}
INGEST_HEADERS = {"Authorization": "Bearer " + SECRETS["ingest_key"]}
PROCESSES = ["sentinel", "ingestd", "detectd", "stored", "alertd"]


def alerts_yaml(dead):
    """Every receiver type with its secrets; all point at a closed port,
    so the high-cost alert is tried (and logged) and never delivered."""
    return """\
routing:
  - match:
      severity: critical
    receivers: [email-ops, slack-incidents, pd-oncall, audit-hook]
    group_wait: 0s
receivers:
  - name: email-ops
    type: email
    config:
      smtp:
        host: 127.0.0.1
        port: %(dead)d
        tls: none
        username: alerts@example.com
        password: %(smtp)s
      from: sentinel@example.com
      to: [ops@example.com]
      timeout: 1s
  - name: slack-incidents
    type: slack
    config:
      webhookUrl: http://127.0.0.1:%(dead)d/services/T000/B000/%(slack)s
      channel: "#incidents"
      timeout: 1s
  - name: pd-oncall
    type: pagerduty
    config:
      url: http://127.0.0.1:%(dead)d/v2/enqueue
      routing_key: %(pagerduty)s
      timeout: 1s
  - name: audit-hook
    type: webhook
    config:
      url: http://127.0.0.1:%(dead)d/hook/%(webhook_path)s
      hmac_secret: %(hmac)s
      headers:
        Authorization: Bearer %(authz)s
        X-Team: ops
      timeout: 1s
delivery:
  retry_initial: 200ms
  retry_max: 1s
""" % dict(SECRETS, dead=dead)


AUTH_HTTP = """\
    auth:
      enabled: true
      keys:
        - key: %(ingest_key)s
          name: diag-ingest
      query_keys:
        - key: %(query_key)s
          name: diag-query
""" % SECRETS


def post_events(s):
    """Three events of diag-app, two of other-app (one costly: fires the
    critical high-cost alert, which every receiver then fails to get)."""
    evs = [event("diag-%d" % i) for i in range(3)]
    for e in evs:
        e["application_id"] = "diag-app"
    others = [event("other-0"), event("other-1", cost=5.0)]
    for e in others:
        e["application_id"] = "other-app"
    st, _, body = s.post_events(evs + others, headers=INGEST_HEADERS)
    assert st == 202, (st, body)
    for e in evs + others:
        s.wait_event(e["event_id"])


def test_metrics_list(ctx):
    s = ctx["s"]
    rc, out, err = s.cli("metrics", "list")
    assert rc == 0, (rc, out, err)
    rows = {l.split()[0]: l.split(None, 2) for l in out.splitlines()[1:]}
    assert rows["sentinel_alerts_sent_total"][1] == "counter", rows
    assert rows["sentinel_event_buffer_size"][1] == "gauge", rows
    assert len(rows["sentinel_alerts_sent_total"]) == 3, "no help"
    rc, out, err = s.cli("--json", "metrics", "list")
    assert rc == 0, (rc, out, err)
    fams = {f["name"]: f for f in json.loads(out)["families"]}
    assert fams["sentinel_telemetry_events_total"]["type"] == "counter"
    assert set(fams) == set(rows), set(fams) ^ set(rows)


def test_metrics_get_gauge(ctx):
    s = ctx["s"]
    rc, out, err = s.cli("metrics", "get", "sentinel_event_buffer_size")
    assert rc == 0, (rc, out, err)
    lines = out.splitlines()
    assert lines, (out, err)
    for l in lines:
        assert re.match(r"^sentinel_event_buffer_size(\{[^}]*\})? "
                        r"-?[0-9][0-9.e+-]*$", l), l


def test_metrics_get_counts_per_application(ctx):
    s = ctx["s"]

    def counts():
        rc, out, err = s.cli("metrics", "get",
                             "sentinel_telemetry_events_total")
        assert rc == 0, (rc, out, err)
        got = {}
        for l in out.splitlines():
            m = re.match(r'^sentinel_telemetry_events_total'
                         r'\{application_id="([^"]*)"\} ([0-9.e+]+)$', l)
            assert m, l
            got[m.group(1)] = float(m.group(2))
        return got
    got = wait_for(lambda: (lambda c: c if c.get("diag-app") == 3 and
                            c.get("other-app") == 2 else None)(counts()),
                   10, what="events counted per application")
    assert got == {"diag-app": 3, "other-app": 2}, got
    rc, out, err = s.cli("--json", "metrics", "get",
                         "sentinel_telemetry_events_total")
    doc = json.loads(out)
    assert doc["type"] == "counter" and doc["help"], doc
    assert {x["labels"]: x["value"] for x in doc["samples"]}[
        'application_id="diag-app"'] == 3, doc


def test_metrics_get_unknown(ctx):
    s = ctx["s"]
    rc, out, err = s.cli("metrics", "get", "no_such_metric")
    assert rc == 1, (rc, out, err)
    assert "unknown metric: no_such_metric" in err, err
    assert out == "", out
    rc, out, err = s.cli("metrics", "get")
    assert rc == 2, (rc, out, err)


def test_logs_command(ctx):
    s = ctx["s"]
    r = s.control({"command": "logs"})
    assert r["ok"] is True and "errors" not in r, r
    assert sorted(r["logs"]) == sorted(PROCESSES), r["logs"].keys()
    for name, lines in r["logs"].items():
        assert 0 < len(lines) <= 200, (name, len(lines))
        for l in lines:
            # whole lines only; the first "daemon" is the writer (the
            # supervisor's lines may name a daemon again as a field)
            pairs = json.loads(l, object_pairs_hook=lambda p: p)
            writer = [v for k, v in pairs if k == "daemon"][0]
            assert writer == ("supervisor" if name == "sentinel"
                              else name), (name, l)
    assert any(json.loads(l)["msg"] == "ready"
               for l in r["logs"]["stored"]), r["logs"]["stored"]
    r = s.control({"command": "logs", "lines": 2, "daemon": "stored"})
    assert list(r["logs"]) == ["stored"] and len(r["logs"]["stored"]) == 2
    for bad in ({"lines": 0}, {"lines": 5001}, {"lines": "10"},
                {"daemon": "nosuchd"}, {"daemon": 3}):
        req = dict(bad, command="logs")
        r = s.control(req)
        assert r["ok"] is False and r["error"], (req, r)


def test_config_command_redacts(ctx):
    s = ctx["s"]
    r = s.control({"command": "config"})
    assert r["ok"] is True, r
    text = json.dumps(r)
    for v in SECRETS.values():
        assert v not in text, v
    recv = {x["name"]: x for x in r["config"]["alerts"]["receivers"]}
    assert recv["email-ops"]["config"]["smtp"]["password"] == "<redacted>"
    assert recv["email-ops"]["config"]["smtp"]["username"] == \
        "alerts@example.com"
    assert recv["slack-incidents"]["config"]["webhookUrl"] == "<redacted>"
    assert recv["pd-oncall"]["config"]["routing_key"] == "<redacted>"
    hook = recv["audit-hook"]["config"]
    assert hook["url"] == hook["hmac_secret"] == "<redacted>", hook
    assert hook["headers"] == {"Authorization": "<redacted>",
                               "X-Team": "<redacted>"}, hook
    auth = r["config"]["ingestion"]["http"]["auth"]
    assert auth["keys"][0] == {"name": "diag-ingest", "key": "<redacted>",
                               "key_sha256": None, "applications": []}, auth


def read_bundle(path):
    """{member name: bytes} of a tar.gz, and the folder they are in."""
    out, folders = {}, set()
    with tarfile.open(path, "r:gz") as t:
        for m in t.getmembers():
            folders.add(m.name.split("/")[0])
            if m.isfile():
                out[m.name.split("/", 1)[1]] = t.extractfile(m).read()
    assert len(folders) == 1, folders
    return out, folders.pop()


def assert_no_secrets(path, members):
    for name, data in members.items():
        for k, v in SECRETS.items():
            assert v.encode() not in data, "%s leaks the %s secret" % (
                name, k)
    with open(path, "rb") as f:
        import gzip
        raw = gzip.decompress(f.read())
    for k, v in SECRETS.items():
        assert v.encode() not in raw, "the archive leaks the %s secret" % k


def test_diagnostics_collect(ctx):
    s = ctx["s"]
    # the costly event's alert: each receiver tried and failed (logged)
    wait_for(lambda: "notification will be retried" in s.logs(), 20,
             what="a failed delivery in the logs")
    path = os.path.join(s.dir, "out", "bundle.tar.gz")
    os.mkdir(os.path.dirname(path))
    rc, out, err = s.cli("diagnostics", "collect", "--output", path)
    assert rc == 0, (rc, out, err)
    assert out.strip() == path, out
    assert os.listdir(os.path.dirname(path)) == ["bundle.tar.gz"], \
        os.listdir(os.path.dirname(path))  # no temporary file left
    assert os.stat(path).st_mode & 0o077 == 0, oct(os.stat(path).st_mode)
    m, folder = read_bundle(path)
    assert re.match(r"^diagnostics-\d{8}T\d{6}Z$", folder), folder
    expected = ["MANIFEST.txt", "version.json", "status.json",
                "config.json", "metrics.txt", "storage-check.json",
                "alerts-status.json", "system.txt"] + \
        ["logs/%s.log" % p for p in PROCESSES]
    assert sorted(m) == sorted(expected), sorted(m)

    manifest = m["MANIFEST.txt"].decode()
    for name in expected:
        assert name in manifest, (name, manifest)
    assert "supervisor: reachable" in manifest, manifest
    assert "none: every part was collected" in manifest, manifest

    ver = json.loads(m["version.json"])
    assert ver["cli"]["version"] == ver["supervisor"]["version"], ver
    assert ver["cli"]["build"]["libarchive"].startswith("libarchive"), ver

    st = json.loads(m["status.json"])
    assert sorted(d["name"] for d in st["daemons"]) == sorted(PROCESSES[1:])
    assert all(d["state"] == "up" for d in st["daemons"]), st

    cfg = json.loads(m["config.json"])
    assert "<redacted>" in m["config.json"].decode()
    assert cfg["alerts"]["receivers"][0]["config"]["smtp"]["password"] == \
        "<redacted>", cfg["alerts"]["receivers"][0]
    assert cfg["run_dir"] == s.run_dir, cfg["run_dir"]

    metrics = m["metrics.txt"].decode()
    assert re.search(r'^sentinel_telemetry_events_total\{application_id='
                     r'"diag-app"\} 3$', metrics, re.M), metrics[:2000]
    assert "# TYPE sentinel_telemetry_events_total counter" in metrics

    sc = json.loads(m["storage-check.json"])
    assert sc["ok"] is True and sc["rows"]["events"] == 5, sc
    al = json.loads(m["alerts-status.json"])
    assert sorted(r["name"] for r in al["receivers"]) == sorted(
        ["email-ops", "slack-incidents", "pd-oncall", "audit-hook"]), al

    for p in PROCESSES:
        lines = m["logs/%s.log" % p].decode().splitlines()
        assert lines, p
        for l in lines:
            json.loads(l)  # each a whole JSON line
    assert b"notification will be retried" in m["logs/alertd.log"]

    system = m["system.txt"].decode()
    assert re.search(r"^memory MemTotal: +\d+ kB$", system, re.M), system
    assert re.search(r"^disk storage.path %s: .* available of " %
                     re.escape(s.data_dir), system, re.M), system
    assert re.search(r"^disk run_dir %s: " % re.escape(s.run_dir), system,
                     re.M), system
    assert re.search(r"^cpus \d+ online", system, re.M), system
    for p in PROCESSES:
        assert re.search(r"^process %s pid \d+: open fds \d+, RLIMIT_NOFILE"
                         r" soft \d+ hard \d+" % p, system, re.M), system

    assert_no_secrets(path, m)
    # nothing from the files on disk either
    assert b"configFile" not in b"".join(m.values())


def test_diagnostics_supervisor_down(ctx):
    s = ctx["s"]
    s.stop()
    path = os.path.join(s.dir, "down.tar.gz")
    rc, out, err = s.cli("diagnostics", "collect", "--output", path)
    assert rc == 1, (rc, out, err)
    assert "not reachable" in err, err
    m, _ = read_bundle(path)
    assert sorted(m) == sorted(["MANIFEST.txt", "system.txt",
                                "version.json"] +
                               ["logs/%s.log" % p for p in PROCESSES]), \
        sorted(m)
    manifest = m["MANIFEST.txt"].decode()
    assert "supervisor: NOT reachable: cannot connect to" in manifest, \
        manifest
    # the rings outlive the set: its last words are there
    assert b'"msg":"stopped"' in m["logs/stored.log"], m["logs/stored.log"]
    assert b'"msg":"daemon set stopped"' in m["logs/sentinel.log"]
    for part in ("status.json", "config.json", "metrics.txt",
                 "storage-check.json", "alerts-status.json"):
        assert re.search(r"^  %s: " % re.escape(part), manifest, re.M), \
            (part, manifest)
    assert "stored-query.ipc" in manifest, manifest
    assert "MemTotal" in m["system.txt"].decode()
    assert json.loads(m["version.json"])["supervisor"] == {
        "error": "not reachable"}
    assert_no_secrets(path, m)


def main():
    tap = Tap()
    s = None
    try:
        s = Sentinel(extra_http=AUTH_HTTP,
                     alerts=alerts_yaml(free_port())).start()
        post_events(s)
        ctx = {"s": s}
        tap.run(test_metrics_list, ctx)
        tap.run(test_metrics_get_gauge, ctx)
        tap.run(test_metrics_get_counts_per_application, ctx)
        tap.run(test_metrics_get_unknown, ctx)
        tap.run(test_logs_command, ctx)
        tap.run(test_config_command_redacts, ctx)
        tap.run(test_diagnostics_collect, ctx)
        tap.run(test_diagnostics_supervisor_down, ctx)
        s.cleanup()
        tap.run(check_no_sanitizer_reports, s)
    finally:
        if s is not None:
            s.cleanup()
    tap.done()


if __name__ == "__main__":
    main()
