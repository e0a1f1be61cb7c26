"""sd_notify (packaging/systemd/sentinel.service, Type=notify): the real
daemon set started with NOTIFY_SOCKET naming a unix datagram socket the
test binds, as systemd does.  READY=1 arrives once the whole set is up
(all four daemons up in `status` at that
moment, /ready 200 as soon as ingestd has the published state), RELOADING=1 then READY=1 around a
SIGHUP reload, STOPPING=1 on SIGTERM; with an abstract socket ('@name')
as well as a path.  The daemons themselves never get NOTIFY_SOCKET."""

import os
import signal
import socket
import time

from harness import Sentinel, Tap, check_no_sanitizer_reports, wait_for, SLOW


class NotifySocket:
    def __init__(self, address):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if address.startswith("@"):
            self.sock.bind("\0" + address[1:])
        else:
            self.sock.bind(address)
        self.address = address

    def recv(self, timeout):
        """The next datagram's text; raises on timeout."""
        self.sock.settimeout(timeout * SLOW)
        return self.sock.recv(4096).decode()

    def close(self):
        self.sock.close()


def run_set(address):
    ns = NotifySocket(address)
    s = Sentinel()
    try:
        s.start(wait_ready=False, env={"NOTIFY_SOCKET": address})
        msg = ns.recv(60)
        # The first thing said is READY=1, and it is true right then in
        # the supervisor's view: all four daemons up.
        assert msg == "READY=1", msg
        st = s.status()
        assert st["ready"] is True, st
        assert all(d["state"] == "up" for d in st["daemons"]), st
        # ingestd's /ready learns it from the state the supervisor
        # publishes right after READY=1 (pub/sub on state.ipc), so it
        # is polled, not asserted on the spot (docs/deployment.md).
        wait_for(lambda: s.get("/ready")[0] == 200, 30, what="/ready")

        # No daemon inherited NOTIFY_SOCKET (systemd would reject, or
        # worse, believe, their messages).
        for d in s.status()["daemons"]:
            with open("/proc/%d/environ" % d["pid"], "rb") as f:
                env = f.read().split(b"\0")
            assert not any(e.startswith(b"NOTIFY_SOCKET=") for e in env), d

        # Reload: RELOADING=1 (with MONOTONIC_USEC), then READY=1.
        s.proc.send_signal(signal.SIGHUP)
        msg = ns.recv(30)
        lines = msg.split("\n")
        assert lines[0] == "RELOADING=1", msg
        usec = [l for l in lines if l.startswith("MONOTONIC_USEC=")]
        assert usec and int(usec[0].split("=")[1]) > 0, msg
        assert int(usec[0].split("=")[1]) <= time.monotonic() * 1e6 + 1e6, msg
        assert ns.recv(30) == "READY=1"

        s.proc.send_signal(signal.SIGTERM)
        assert ns.recv(30) == "STOPPING=1"
        assert s.proc.wait(60 * SLOW) == 0
    finally:
        s.cleanup()
        ns.close()
    check_no_sanitizer_reports(s)


def test_notify_path_socket():
    d = os.environ.get("TMPDIR", "/tmp")
    path = os.path.join(d, "sn-notify-%d.sock" % os.getpid())
    try:
        run_set(path)
    finally:
        if os.path.exists(path):
            os.unlink(path)


def test_notify_abstract_socket():
    run_set("@sentinel-test-notify-%d" % os.getpid())


def test_no_notify_socket_no_message():
    """Without NOTIFY_SOCKET (or with one that is not a path nor '@')
    the set starts all the same."""
    s = Sentinel()
    try:
        s.start(env={"NOTIFY_SOCKET": "relative/not-used"})
        assert s.status()["ready"] is True
        assert s.stop() == 0
    finally:
        s.cleanup()
    check_no_sanitizer_reports(s)


def main():
    t = Tap()
    t.run(test_notify_path_socket)
    t.run(test_notify_abstract_socket)
    t.run(test_no_notify_socket_no_message)
    t.done()


if __name__ == "__main__":
    main()
