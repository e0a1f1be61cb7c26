"""The `sentinel` command line: version, --check-config, built-in defaults."""

import os
import shutil
import signal
import subprocess
import tempfile
import urllib.request

from harness import SENTINEL, CLI, TOP, Sentinel, Tap, wait_for, event


def test_version():
    r = subprocess.run([SENTINEL, "version"], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.startswith("sentinel "), r


def test_check_config_accepts_shipped_files():
    env = dict(os.environ, SMTP_PASSWORD="x", SLACK_WEBHOOK_URL="https://hooks.example/x")
    r = subprocess.run([SENTINEL, "--check-config", "--config",
                        os.path.join(TOP, "etc", "config.yaml")],
                       capture_output=True, text=True, env=env)
    assert r.returncode == 0, r


def test_check_config_names_missing_env_var():
    env = {k: v for k, v in os.environ.items() if k not in ("SMTP_PASSWORD", "SLACK_WEBHOOK_URL")}
    r = subprocess.run([SENTINEL, "--check-config", "--config",
                        os.path.join(TOP, "etc", "config.yaml")],
                       capture_output=True, text=True, env=env)
    assert r.returncode == 1, r
    assert "SMTP_PASSWORD" in r.stderr and "alerts.yaml:" in r.stderr, r.stderr


def test_check_config_rejects_bad_duration_with_file_line_key():
    s = Sentinel()
    try:
        s.write_config(s.config_text().replace("raw: 7d", "raw: 5x"))
        r = subprocess.run([SENTINEL, "--check-config", "--config", s.config],
                           capture_output=True, text=True)
        assert r.returncode == 1, r
        line = [l for l in r.stderr.splitlines() if "5x" in l or "raw" in l]
        assert line, r.stderr
        want = "config.yaml:%d:" % (s.config_text().splitlines().index("    raw: 7d") + 1)
        assert want in line[0] and "storage.retention.raw" in line[0], (want, line)
        # Nothing starts on a bad config.
        r = subprocess.run([SENTINEL, "--config", s.config], capture_output=True,
                           text=True, timeout=10)
        assert r.returncode != 0, r
        assert not os.path.exists(os.path.join(s.run_dir, "sentinel.sock"))
    finally:
        s.cleanup()


def test_builtin_defaults_run_standalone_under_dot_var():
    """`sentinel` with no --config: ports 8080/9102, data and run dir
    under ./var of the current directory."""
    d = tempfile.mkdtemp(prefix="sentinel-defaults-")
    env = {k: v for k, v in os.environ.items() if k not in ("MODE", "LOG_LEVEL")}
    p = subprocess.Popen([SENTINEL], cwd=d, env=env, stdout=subprocess.DEVNULL,
                         stderr=open(os.path.join(d, "log"), "wb"))
    try:
        def ready():
            assert p.poll() is None, open(os.path.join(d, "log")).read()
            with urllib.request.urlopen("http://127.0.0.1:8080/ready", timeout=2) as r:
                return r.status == 200
        wait_for(ready, 20, what="built-in defaults ready on 8080")
        assert os.path.exists(os.path.join(d, "var", "run", "sentinel.sock"))
        assert os.path.exists(os.path.join(d, "var", "data", "sentinel.db"))
        r = subprocess.run([CLI, "status"], cwd=d, capture_output=True, text=True)
        assert r.returncode == 0 and "stored" in r.stdout, r
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(30)
        shutil.rmtree(d, ignore_errors=True)


def main():
    tap = Tap()
    for t in (test_version, test_check_config_accepts_shipped_files,
              test_check_config_names_missing_env_var,
              test_check_config_rejects_bad_duration_with_file_line_key,
              test_builtin_defaults_run_standalone_under_dot_var):
        tap.run(t)
    tap.done()


if __name__ == "__main__":
    main()
