"""Strangers are kept out of the set's local sockets, and a set started
as root with security.user runs, all of it, as that user.

The tests need root (CI runs them as root): they create a throwaway user
for the set, an admin group and an operator in it, and remove them at
the end.  Other users' requests are made with setpriv(1), which runs
sentinel-cli under any uid and groups.
"""

import grp
import json
import os
import pwd
import secrets
import signal
import socket
import stat
import subprocess

from harness import (CLI, DAEMONS, SENTINEL, Sentinel, Tap, check_no_sanitizer_reports,
                     event, wait_for)

SUFFIX = secrets.token_hex(3)
SET_USER = "snt-run-" + SUFFIX      # the set runs as this one
ADMIN_GROUP = "snt-adm-" + SUFFIX   # security.admin_group
OPERATOR = "snt-op-" + SUFFIX       # a member of ADMIN_GROUP


def run(*args):
    r = subprocess.run(list(args), capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, (args, r.returncode, r.stdout, r.stderr)
    return r


def create_accounts():
    run("groupadd", "-r", ADMIN_GROUP)
    run("useradd", "-r", "-U", "-M", "-d", "/nonexistent", "-s", "/usr/sbin/nologin",
        SET_USER)
    run("useradd", "-r", "-U", "-M", "-d", "/nonexistent", "-s", "/usr/sbin/nologin",
        "-G", ADMIN_GROUP, OPERATOR)


def remove_accounts():
    for cmd in (["userdel", OPERATOR], ["userdel", SET_USER], ["groupdel", ADMIN_GROUP]):
        subprocess.run(cmd, capture_output=True)


def as_user(argv, user=None, uid=None, gid=None, groups=None, init_groups=False):
    """Runs argv under another identity: user's own ids and database groups
    (init_groups), or the raw uid, gid and supplementary groups given."""
    cmd = ["setpriv"]
    if user is not None:
        cmd += ["--reuid=" + user, "--regid=" + user]
    else:
        cmd += ["--reuid=%d" % uid, "--regid=%d" % gid]
    if init_groups:
        cmd.append("--init-groups")
    elif groups:
        cmd.append("--groups=" + ",".join(str(g) for g in groups))
    else:
        cmd.append("--clear-groups")
    r = subprocess.run(cmd + list(argv), capture_output=True, text=True, timeout=30)
    return r.returncode, r.stdout, r.stderr


def nobody():
    pw = pwd.getpwnam("nobody")
    return pw.pw_uid, pw.pw_gid


def proc_ids(pid):
    """Uid, Gid (each real, effective, saved, fs), Groups and NoNewPrivs of
    a live process."""
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("Uid", "Gid", "Groups", "NoNewPrivs"):
                out[k] = [int(x) for x in v.split()]
    return out


def mode(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


def sockets(run_dir):
    return sorted(n for n in os.listdir(run_dir)
                  if stat.S_ISSOCK(os.lstat(os.path.join(run_dir, n)).st_mode))


def privileged_port():
    """A free TCP port below 1024 on 127.0.0.1 (we are root)."""
    for _ in range(200):
        p = 600 + secrets.randbelow(400)
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", p))
            return p
        except OSError:
            continue
        finally:
            s.close()
    raise AssertionError("no free port below 1024")


def open_dir_for_others(s):
    """mkdtemp makes the set's folder 0700: let the set's user and the other
    test users reach its config and run_dir, as /etc/sentinel would be."""
    os.chmod(s.dir, 0o755)


# --- the default set: no security.user ----------------------------------------

def test_default_runs_as_starter_with_private_sockets(s):
    st = s.status()
    assert st["ready"], st
    for pid in [st["pid"]] + [d["pid"] for d in st["daemons"]]:
        ids = proc_ids(pid)
        assert ids["Uid"] == [os.geteuid()] * 4, (pid, ids)
        assert ids["NoNewPrivs"] == [1], (pid, ids)
    assert mode(s.run_dir) == 0o750, oct(mode(s.run_dir))
    names = sockets(s.run_dir)
    assert "sentinel.sock" in names and "stored.ipc" in names, names
    assert "detectd-ctl.ipc" in names and "state.ipc" in names, names
    for n in names:
        assert mode(os.path.join(s.run_dir, n)) == 0o660, (n, oct(mode(os.path.join(s.run_dir, n))))
    s.post_events(event("default-1"))
    s.wait_event("default-1")


def test_default_refuses_another_uid(s):
    uid, gid = nobody()
    sock = os.path.join(s.run_dir, "sentinel.sock")
    # Without a way into run_dir: the file system says no.
    rc, out, err = as_user([CLI, "--socket", sock, "status"], uid=uid, gid=gid)
    assert rc == 1 and "Permission denied" in err, (rc, out, err)
    # With the files' group (root's) it reaches the socket; the
    # supervisor's credential check says no, and logs who asked.
    rc, out, err = as_user([CLI, "--socket", sock, "status"], uid=uid, gid=gid,
                           groups=[0])
    assert rc == 1 and "permission denied: uid %d" % uid in err, (rc, out, err)
    lines = [l for l in s.log_lines() if l.get("msg") == "control: request refused"]
    assert any(l.get("peer_uid") == str(uid) for l in lines), lines
    # The same for a daemon's control endpoint (nng, detectd).
    rc, out, err = as_user([CLI, "--config", s.config, "detectors", "list"],
                           uid=uid, gid=gid, groups=[0])
    assert rc == 1 and "permission denied" in err, (rc, out, err)
    # Root still gets in.
    rc, out, err = s.cli("status")
    assert rc == 0, (rc, out, err)


# --- a set started as root with security.user ---------------------------------

def secure_set():
    s = Sentinel(extra_top="security:\n  user: %s\n  admin_group: %s\n"
                 % (SET_USER, ADMIN_GROUP))
    s.http_port = privileged_port()
    s.write_config()
    open_dir_for_others(s)
    return s


def test_refuses_config_the_user_cannot_read():
    """alerts.yaml is 0600 root: the daemons (as the user) could not read
    it, so the supervisor refuses to start, naming the file."""
    s = secure_set()
    try:
        s.start(wait_ready=False)
        rc = s.proc.wait(20)
        assert rc == 2, rc
        logs = s.logs()
        assert "the set's user cannot read it" in logs and "alerts.yaml" in logs, logs
    finally:
        s.cleanup()


def test_daemons_run_as_the_user(s):
    pw = pwd.getpwnam(SET_USER)
    st = s.status()
    assert st["ready"], st
    assert sorted(d["name"] for d in st["daemons"]) == sorted(DAEMONS), st
    for pid in [st["pid"]] + [d["pid"] for d in st["daemons"]]:
        ids = proc_ids(pid)
        assert ids["Uid"] == [pw.pw_uid] * 4, (pid, ids)
        assert ids["Gid"] == [pw.pw_gid] * 4, (pid, ids)
        assert ids["Groups"] == [pw.pw_gid], (pid, ids)
        assert ids["NoNewPrivs"] == [1], (pid, ids)
    switched = [l for l in s.log_lines() if l.get("msg") == "switched user"]
    assert switched and switched[0]["user"] == SET_USER, switched
    assert switched[0]["http_port_bound_for_ingestd"] == "yes", switched


def test_run_dir_and_sockets_belong_to_user_and_admins(s):
    pw = pwd.getpwnam(SET_USER)
    adm = grp.getgrnam(ADMIN_GROUP)
    st = os.stat(s.run_dir)
    assert (st.st_uid, st.st_gid) == (pw.pw_uid, adm.gr_gid), st
    # setgid: what the daemons make in it gets the admin group
    assert mode(s.run_dir) == 0o2750, oct(mode(s.run_dir))
    names = sockets(s.run_dir)
    for want in ["sentinel.sock", "state.ipc", "stored.ipc", "detectd.ipc",
                 "alertd.ipc", "detectd-ctl.ipc", "alertd-ctl.ipc",
                 "stored-query.ipc"]:
        assert want in names, (want, names)
    for n in names:
        p = os.path.join(s.run_dir, n)
        assert mode(p) == 0o660, (n, oct(mode(p)))
        assert os.stat(p).st_uid == pw.pw_uid, n
        assert os.stat(p).st_gid == adm.gr_gid, n


def test_data_files_belong_to_user(s):
    pw = pwd.getpwnam(SET_USER)
    s.post_events(event("secure-owner"))
    s.wait_event("secure-owner")
    assert os.stat(s.data_dir).st_uid == pw.pw_uid
    assert mode(s.data_dir) == 0o750, oct(mode(s.data_dir))
    for root, dirs, files in os.walk(s.data_dir):
        for n in dirs + files:
            p = os.path.join(root, n)
            assert os.lstat(p).st_uid == pw.pw_uid, p


def test_events_flow_end_to_end(s):
    st, _, body = s.post_events(event("secure-1", latency_ms=9000))
    assert st == 202, (st, body)
    s.wait_event("secure-1")
    # the query API (ingestd -> stored-query.ipc) answers too
    st, _, body = s.get("/api/v1/events/secure-1")
    assert st == 200, (st, body)


def test_strangers_refused_admins_allowed(s):
    sock = os.path.join(s.run_dir, "sentinel.sock")
    uid, gid = nobody()
    adm = grp.getgrnam(ADMIN_GROUP)
    # A stranger cannot even reach run_dir.
    rc, out, err = as_user([CLI, "--socket", sock, "status"], uid=uid, gid=gid)
    assert rc == 1 and "Permission denied" in err, (rc, out, err)
    # Holding the admin group in the process only, not in the group
    # database: past the file modes, refused by the credential check.
    rc, out, err = as_user([CLI, "--socket", sock, "--json", "status"], uid=uid,
                           gid=gid, groups=[adm.gr_gid])
    assert rc == 1, (rc, out, err)
    reply = json.loads(out)
    assert reply["ok"] is False and reply["error"].startswith("permission denied"), reply
    refused = [l for l in s.log_lines() if l.get("msg") == "control: request refused"]
    assert any(l["peer_uid"] == str(uid) and int(l["peer_pid"]) > 0
               for l in refused), refused
    rc, out, err = as_user([CLI, "--config", s.config, "detectors", "list"],
                           uid=uid, gid=gid, groups=[adm.gr_gid])
    assert rc == 1 and "permission denied" in err, (rc, out, err)
    # A member of the admin group (database) is served, on the control
    # socket and on the daemons' endpoints alike.
    rc, out, err = as_user([CLI, "--socket", sock, "--json", "status"],
                           user=OPERATOR, init_groups=True)
    assert rc == 0 and json.loads(out)["ready"] is True, (rc, out, err)
    rc, out, err = as_user([CLI, "--config", s.config, "detectors", "list"],
                           user=OPERATOR, init_groups=True)
    assert rc == 0 and "high-latency" in out, (rc, out, err)
    # So is the set's own user, and root.
    rc, out, err = as_user([CLI, "--socket", sock, "status"], user=SET_USER)
    assert rc == 0, (rc, out, err)
    assert s.cli("status")[0] == 0


def test_restarted_ingestd_keeps_privileged_port(s):
    """ingestd no longer has root when it restarts: the supervisor's
    descriptor for the port is handed to each new one."""
    before = s.daemon("ingestd")
    os.kill(before["pid"], signal.SIGKILL)
    wait_for(lambda: s.daemon("ingestd")["pid"] not in (0, before["pid"])
             and s.daemon("ingestd")["state"] == "up", 20, what="ingestd back")
    s.wait_ready()
    assert proc_ids(s.daemon("ingestd")["pid"])["Uid"][1] == pwd.getpwnam(SET_USER).pw_uid
    st, _, body = s.post_events(event("after-restart"))
    assert st == 202, (st, body)
    s.wait_event("after-restart")


def test_sandbox_in_force(s):
    boxes = {l["daemon"]: l for l in s.log_lines() if l.get("msg") == "sandbox"}
    assert boxes["detectd"]["writes"] == "the set's folders only", boxes
    assert boxes["detectd"]["tcp"] == "denied", boxes
    assert boxes["ingestd"]["writes"] == "the set's folders only", boxes
    assert boxes["stored"]["tcp"] == "denied", boxes


def test_stops_cleanly(s):
    rc = s.stop()
    assert rc == 0, rc
    assert not os.path.exists(os.path.join(s.run_dir, "sentinel.sock"))
    assert not os.path.exists(os.path.join(s.run_dir, "sentinel.pid"))


def test_check_config_names_unknown_user():
    s = Sentinel(extra_top="security:\n  user: no-such-user-%s\n" % SUFFIX)
    try:
        r = subprocess.run([SENTINEL, "--check-config", "--config", s.config],
                           capture_output=True, text=True, timeout=20)
        assert r.returncode == 1, r
        assert "security.user: no user" in r.stderr, r.stderr
        s.start(wait_ready=False)
        assert s.proc.wait(20) == 2
        assert "security.user: no user" in s.logs()
    finally:
        s.cleanup()


def main():
    tap = Tap()
    if os.geteuid() != 0:
        # Not a skip: CI runs as root, and these tests must run there.
        print("not ok 1 - test_security.py needs root (useradd, setpriv)")
        print("1..1")
        raise SystemExit(1)
    d = Sentinel()
    try:
        open_dir_for_others(d)
        d.start()
        tap.run(test_default_runs_as_starter_with_private_sockets, d)
        tap.run(test_default_refuses_another_uid, d)
    finally:
        d.cleanup()
    tap.run(check_no_sanitizer_reports, d)

    remove_accounts()  # leftovers of an interrupted run
    create_accounts()
    s = None
    try:
        tap.run(test_refuses_config_the_user_cannot_read)
        s = secure_set()
        # What /etc/sentinel would be: root's, readable by the set's group.
        alerts = os.path.join(s.dir, "alerts.yaml")
        os.chown(alerts, 0, grp.getgrnam(SET_USER).gr_gid)
        os.chmod(alerts, 0o640)
        s.start()
        for t in (test_daemons_run_as_the_user,
                  test_run_dir_and_sockets_belong_to_user_and_admins,
                  test_data_files_belong_to_user,
                  test_events_flow_end_to_end,
                  test_strangers_refused_admins_allowed,
                  test_restarted_ingestd_keeps_privileged_port,
                  test_sandbox_in_force,
                  test_stops_cleanly):
            tap.run(t, s)
    finally:
        if s is not None:
            s.cleanup()
        tap.run(test_check_config_names_unknown_user)
        remove_accounts()
    if s is not None:
        tap.run(check_no_sanitizer_reports, s)
    tap.done()


if __name__ == "__main__":
    main()
