"""The supervisor: restarts, permanent failures, reload, stop order and
the control socket, all against the real binaries."""

import json
import os
import signal
import sqlite3
import subprocess
import time

from harness import check_no_sanitizer_reports, CLI, DAEMONS, SENTINEL, Sentinel, Tap, event, wait_for


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purposes.
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def test_cli_status_lists_every_daemon(s):
    rc, out, err = s.cli("status", via_config=True)
    assert rc == 0, (rc, out, err)
    for name in DAEMONS:
        assert name in out, out
    assert "up" in out
    st = s.status()
    assert st["ready"] is True, st
    names = sorted(d["name"] for d in st["daemons"])
    assert names == sorted(DAEMONS), st
    for d in st["daemons"]:
        assert d["state"] == "up" and d["pid"] > 0 and d["restarts"] == 0, d
        assert pid_alive(d["pid"]), d


def test_cli_version_and_usage(s):
    rc, out, _ = s.cli("version")
    assert rc == 0 and "0." in out, out
    rc, out, _ = s.cli("--json", "version")
    assert rc == 0 and json.loads(out)["version"], out
    rc, out, err = s.cli("frobnicate")
    assert rc == 2 and "usage" in (out + err).lower(), (rc, out, err)
    r = subprocess.run([CLI, "--socket", "/nonexistent/sentinel.sock", "status"],
                       capture_output=True, text=True)
    assert r.returncode == 1 and "/nonexistent/sentinel.sock" in r.stderr, r


def test_kill_9_each_daemon_is_restarted_and_ingestion_works(s):
    for i, name in enumerate(DAEMONS):
        before = s.daemon(name)
        os.kill(before["pid"], signal.SIGKILL)

        after = s.wait_restarted(name, before)
        assert after["restarts"] == before["restarts"] + 1, (before, after)
        s.wait_ready()
        eid = "after-kill-%s" % name
        wait_for(lambda: s.post_events(event(eid))[0] == 202, 10, what="202")
        s.wait_event(eid)
    logs = s.logs()
    assert "signal" in logs and "9" in logs


def test_sighup_with_broken_config_keeps_running(s):
    good = s.config_text()
    pids = {d["name"]: d["pid"] for d in s.status()["daemons"]}
    s.write_config(good.replace("  http:\n", "  http:\n    bogus_key: 1\n"))
    s.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: "bogus_key" in s.logs(), 10, what="reload error logged")
    errline = [l for l in s.logs().splitlines() if "bogus_key" in l][0]
    assert "config.yaml:" in errline, errline
    time.sleep(0.5)
    assert s.proc.poll() is None
    st = s.status()
    assert st["ready"], st
    assert {d["name"]: d["pid"] for d in st["daemons"]} == pids
    assert s.post_events(event("after-bad-hup"))[0] == 202
    s.wait_event("after-bad-hup")
    # A good config reloads without restarting anyone.
    s.write_config(good)
    s.proc.send_signal(signal.SIGHUP)
    time.sleep(1)
    assert {d["name"]: d["pid"] for d in s.status()["daemons"]} == pids


def test_sigterm_stops_every_daemon(s):
    pids = [d["pid"] for d in s.status()["daemons"]]
    rc = s.stop()
    assert rc == 0, rc
    for pid in pids:
        assert not pid_alive(pid), pid
    assert not os.path.exists(os.path.join(s.run_dir, "sentinel.sock"))
    logs = s.logs()
    order = [logs.find('"daemon":"%s","msg":"stopped"' % n) for n in DAEMONS]
    assert all(o >= 0 for o in order), order
    # ingest first, storage last
    assert order[0] < order[2] and order[1] < order[2], order


def test_permanent_failure_is_not_respawned():
    """stored refuses a database of a newer schema with exit 2: the
    supervisor marks it failed, does not respawn it, /ready says so."""
    s = Sentinel()
    try:
        os.makedirs(s.data_dir)
        con = sqlite3.connect(s.db_path)
        con.execute("PRAGMA user_version = 9999")
        con.commit()
        con.close()
        s.start(wait_ready=False)

        def failed():
            d = s.daemon("stored")
            return d["state"] == "failed" and d
        d = wait_for(failed, 20, what="stored failed")
        time.sleep(1.5)
        d2 = s.daemon("stored")
        assert d2["state"] == "failed" and d2["restarts"] == d["restarts"], (d, d2)
        st, _, body = s.get("/ready")
        assert st == 503 and "stored" in json.dumps(body), (st, body)
        rc, out, _ = s.cli("status")
        assert rc == 1 and "failed" in out, (rc, out)
        assert "schema" in s.logs().lower()
    finally:
        s.cleanup()


def test_second_set_on_same_run_dir_is_refused(s2):
    r = subprocess.run([SENTINEL, "--config", s2.config], capture_output=True,
                       text=True, timeout=20)
    assert r.returncode == 2, r
    assert "run" in (r.stderr + r.stdout), r


def test_env_mode_and_log_level_override():
    s = Sentinel()
    try:
        s.start(env={"MODE": "sidecar", "LOG_LEVEL": "debug"})
        st, _, body = s.get("/api/v1/health")
        assert body["mode"] == "sidecar", body
        assert any(l.get("level") == "debug" for l in s.log_lines())
    finally:
        s.cleanup()


def main():
    tap = Tap()
    s = Sentinel()
    try:
        s.start()
        for t in (test_cli_status_lists_every_daemon,
                  test_cli_version_and_usage,
                  test_second_set_on_same_run_dir_is_refused,
                  test_kill_9_each_daemon_is_restarted_and_ingestion_works,
                  test_sighup_with_broken_config_keeps_running,
                  test_sigterm_stops_every_daemon):
            tap.run(t, s)
    finally:
        s.cleanup()
    tap.run(check_no_sanitizer_reports, s)
    tap.run(test_permanent_failure_is_not_respawned)
    tap.run(test_env_mode_and_log_level_override)
    tap.done()


if __name__ == "__main__":
    main()
