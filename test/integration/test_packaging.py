"""Packaging (docs/deployment.md): `make install` with DESTDIR, the
systemd unit under `systemd-analyze verify`, `make deb` and the package
it builds (contents, control fields, the extracted tree running), the
Dockerfile's runtime packages against the binaries' libraries, the
compose file, the Kubernetes manifests and the Helm chart.

No container engine, Kubernetes or helm runs here: what can be checked
for real is checked (YAML parses, required fields, every config file
they carry accepted by `sentinel --check-config`, the image's package
list against ldd), and nothing pretends to render a template.

Needs (packaging/build-deps.txt): dpkg-dev, systemd (for
systemd-analyze; it works without systemd as PID 1), python3-yaml.
"""

import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import urllib.request

import yaml

from harness import (BUILD, CLI, SENTINEL, TOP, Tap, free_port,
                     wait_for)

PKG = os.path.join(TOP, "packaging")
DAEMON_EXES = ["sentinel-ingestd", "sentinel-detectd", "sentinel-stored",
               "sentinel-alertd"]
ETC_FILES = ["config.yaml", "detectors.yaml", "alerts.yaml", "sentinel.env"]
SECRETS_ENV = {"SMTP_PASSWORD": "x",
               "SLACK_WEBHOOK_URL": "https://hooks.slack.test/T/B/X"}

# The deployment guide's Helm values.yaml ("Install with custom values"),
# keys and all.
SEED_HELM_VALUES = """
replicaCount: 3
image:
  repository: llm-sentinel
  tag: v1.0.0
  pullPolicy: IfNotPresent
resources:
  requests:
    memory: 2Gi
    cpu: 1000m
  limits:
    memory: 4Gi
    cpu: 2000m
autoscaling:
  enabled: true
  minReplicas: 3
  maxReplicas: 10
  targetCPUUtilizationPercentage: 70
ingestion:
  grpc:
    port: 9090
  http:
    port: 8080
storage:
  timeseries:
    type: prometheus
    url: http://prometheus:9090
  events:
    type: elasticsearch
    url: http://elasticsearch:9200
integrations:
  observatory:
    enabled: true
    endpoint: grpc://observatory:9090
  shield:
    enabled: true
    endpoint: grpc://shield:9090
secrets:
  smtp_password: your-smtp-password
  slack_webhook: your-slack-webhook
"""


def make(*args, env=None):
    e = dict(os.environ)
    e.update(env or {})
    r = subprocess.run(["make", "--no-print-directory", "-C", TOP,
                        "BUILD=" + BUILD] + list(args),
                       capture_output=True, text=True, env=e, timeout=300)
    assert r.returncode == 0, (args, r.stdout[-2000:], r.stderr[-2000:])
    return r.stdout


def check_config(path, env=None):
    """(rc, output) of `sentinel --check-config --config path`."""
    e = {k: v for k, v in os.environ.items()
         if k not in ("MODE", "LOG_LEVEL", "SMTP_PASSWORD",
                      "SLACK_WEBHOOK_URL")}
    e.update(env or {})
    r = subprocess.run([SENTINEL, "--check-config", "--config", path],
                       capture_output=True, text=True, env=e, timeout=30)
    return r.returncode, r.stdout + r.stderr


def relocate(text, d):
    """A shipped config with its absolute folders moved under d."""
    return (text.replace("/etc/sentinel", d)
            .replace("/var/sentinel/data", os.path.join(d, "data"))
            .replace("/run/sentinel", os.path.join(d, "run")))


def write(path, text, mode=0o644):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)


def read(path):
    with open(path) as f:
        return f.read()


# --- make install -------------------------------------------------------

def test_make_install_destdir(tmp):
    dest = os.path.join(tmp, "root")
    make("install", "PREFIX=/usr", "DESTDIR=" + dest)
    for f in ["usr/bin/sentinel", "usr/bin/sentinel-cli"] + [
            "usr/libexec/sentinel/" + d for d in DAEMON_EXES]:
        p = os.path.join(dest, f)
        assert os.access(p, os.X_OK), f
    for f in ETC_FILES:
        assert os.path.isfile(os.path.join(dest, "etc/sentinel", f)), f
    # Secrets are not world-readable.
    for f in ("alerts.yaml", "sentinel.env"):
        mode = os.stat(os.path.join(dest, "etc/sentinel", f)).st_mode
        assert mode & 0o007 == 0, (f, oct(mode))
    unit = read(os.path.join(dest, "usr/lib/systemd/system/sentinel.service"))
    assert "ExecStart=/usr/bin/sentinel --config /etc/sentinel/config.yaml" in unit
    assert os.path.isfile(os.path.join(dest, "usr/share/doc/sentinel/deployment.md"))
    # --help texts stand in for man pages.
    for exe in ("usr/bin/sentinel", "usr/bin/sentinel-cli"):
        r = subprocess.run([os.path.join(dest, exe), "--help"],
                           capture_output=True, text=True, timeout=10)
        assert r.returncode == 0 and "usage:" in r.stdout, (exe, r)

    # A second install keeps an existing (edited) config.
    cfg = os.path.join(dest, "etc/sentinel/config.yaml")
    write(cfg, "# edited by the admin\n")
    out = make("install", "PREFIX=/usr", "DESTDIR=" + dest)
    assert read(cfg) == "# edited by the admin\n"
    assert "keeping %s" % cfg in out, out
    shipped = os.path.join(dest, "usr/share/doc/sentinel/examples/config.yaml")
    assert read(shipped) == read(os.path.join(PKG, "etc/config.yaml"))

    # PREFIX=/usr/local: the unit runs the binary where it was put.
    dest2 = os.path.join(tmp, "root2")
    make("install", "PREFIX=/usr/local", "DESTDIR=" + dest2)
    unit = read(os.path.join(dest2, "usr/local/lib/systemd/system/sentinel.service"))
    assert "ExecStart=/usr/local/bin/sentinel --config" in unit
    assert os.access(os.path.join(dest2, "usr/local/libexec/sentinel/sentinel-stored"), os.X_OK)


# --- the systemd unit -----------------------------------------------------

def unit_directives(text):
    out = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith(("#", ";", "[")) and "=" in line:
            k, v = line.split("=", 1)
            out.setdefault(k, []).append(v)
    return out


def test_unit_file(tmp):
    text = read(os.path.join(PKG, "systemd/sentinel.service"))
    d = unit_directives(text)
    want = {
        "Type": "notify", "User": "sentinel", "Group": "sentinel",
        "Restart": "always", "RestartSec": "10",
        "ExecStart": "/usr/bin/sentinel --config /etc/sentinel/config.yaml",
        "ExecReload": "/bin/kill -HUP $MAINPID",
        "EnvironmentFile": "-/etc/sentinel/sentinel.env",
        "NoNewPrivileges": "yes", "ProtectSystem": "strict",
        "ProtectHome": "yes", "PrivateTmp": "yes",
        "ReadWritePaths": "/var/sentinel", "RuntimeDirectory": "sentinel",
        "StateDirectory": "sentinel", "KillMode": "mixed",
        "StandardOutput": "journal", "StandardError": "journal",
        "WorkingDirectory": "/var/sentinel",
    }
    for k, v in want.items():
        assert d.get(k) == [v], (k, d.get(k))
    fams = set(d["RestrictAddressFamilies"][0].split())
    assert {"AF_UNIX", "AF_INET", "AF_INET6"} <= fams, fams
    # No secret in the unit itself.
    assert "SMTP_PASSWORD=" not in text and "Environment=" not in text
    # The shipped config's run_dir is the unit's RuntimeDirectory.
    cfg = yaml.safe_load(read(os.path.join(PKG, "etc/config.yaml")))
    assert cfg["run_dir"] == "/run/sentinel"
    assert cfg["storage"]["path"].startswith(d["ReadWritePaths"][0] + "/")


def test_unit_verifies(tmp):
    """systemd-analyze verify (no systemd as PID 1 needed) on the unit as
    installed into a DESTDIR, with ExecStart moved to that DESTDIR's
    binary: verify checks that the command exists, and /usr/bin/sentinel
    does not on a build machine."""
    dest = os.path.join(tmp, "root")
    make("install", "PREFIX=/usr", "DESTDIR=" + dest)
    text = read(os.path.join(dest, "usr/lib/systemd/system/sentinel.service"))
    exe = os.path.join(dest, "usr/bin/sentinel")
    assert text.count("/usr/bin/sentinel ") == 1
    unit = os.path.join(tmp, "sentinel.service")
    write(unit, text.replace("/usr/bin/sentinel ", exe + " "))
    r = subprocess.run(["systemd-analyze", "verify", unit],
                       capture_output=True, text=True, timeout=60)
    # A warning (an unknown key, a bad value) is a failure too.
    assert r.returncode == 0 and r.stdout + r.stderr == "", r
    # And verify does fail on a broken unit, so the pass above means something.
    write(unit, text.replace("/usr/bin/sentinel ", "/nonexistent/sentinel "))
    r = subprocess.run(["systemd-analyze", "verify", unit],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode != 0, r


# --- make deb ---------------------------------------------------------------

_LDD_CACHE = {}


def dpkg_search(paths):
    """{path: package} for the paths dpkg knows, in one dpkg -S call."""
    if not paths:
        return {}
    r = subprocess.run(["dpkg", "-S"] + sorted(paths), capture_output=True,
                       text=True)
    out = {}
    for line in r.stdout.splitlines():
        pkg, _, path = line.partition(": ")
        if path in paths:
            out[path] = pkg.split(",")[0].split(":")[0].strip()
    return out


def ldd_packages(paths):
    """{package: library} of every shared library the binaries load
    (ldd, then dpkg -S on each resolved path)."""
    key = tuple(paths)
    if key in _LDD_CACHE:
        return _LDD_CACHE[key]
    libs = set()
    for p in paths:
        out = subprocess.run(["ldd", p], capture_output=True, text=True,
                             check=True).stdout
        for m in re.finditer(r"=> (/\S+)", out):
            libs.add(m.group(1))
    found = dpkg_search(libs)
    # /lib and /usr/lib are one folder (merged /usr); dpkg knows one name.
    alt = {(l[4:] if l.startswith("/usr/") else "/usr" + l): l
           for l in libs if l not in found}
    for a, pkg in dpkg_search(set(alt)).items():
        found[alt[a]] = pkg
    missing = libs - set(found)
    assert not missing, "no package ships %s" % sorted(missing)
    _LDD_CACHE[key] = {pkg: lib for lib, pkg in found.items()}
    return _LDD_CACHE[key]


def needed_packages(paths):
    """Packages of the libraries the binaries name directly (DT_NEEDED)."""
    needed = set()
    for p in paths:
        out = subprocess.run(["readelf", "-d", p], capture_output=True,
                             text=True, check=True).stdout
        needed |= set(re.findall(r"\(NEEDED\)\s+Shared library: \[(\S+)\]", out))
    all_pkgs = ldd_packages(paths)
    return {pkg for pkg, lib in all_pkgs.items()
            if os.path.basename(lib) in needed}


def built_binaries():
    return [SENTINEL, CLI] + [os.path.join(BUILD, d) for d in DAEMON_EXES]


def test_make_deb(tmp):
    out = make("deb")
    deb = out.strip().splitlines()[-1]
    assert deb.endswith(".deb") and os.path.isfile(deb), out
    assert os.path.dirname(deb) == os.path.join(os.path.realpath(BUILD), "deb")

    listing = subprocess.run(["dpkg-deb", "-c", deb], capture_output=True,
                             text=True, check=True).stdout
    files = {l.split()[-1].lstrip(".") for l in listing.splitlines()}
    for f in (["/usr/bin/sentinel", "/usr/bin/sentinel-cli",
               "/lib/systemd/system/sentinel.service"]
              + ["/usr/libexec/sentinel/" + d for d in DAEMON_EXES]
              + ["/etc/sentinel/" + f for f in ETC_FILES]):
        assert f in files, (f, listing)
    assert "root/root" in listing and "/home/" not in listing

    def field(name):
        return subprocess.run(["dpkg-deb", "-f", deb, name],
                              capture_output=True, text=True,
                              check=True).stdout.strip()
    assert field("Package") == "sentinel"
    version = re.search(r"^VERSION\s*:=\s*(\S+)", read(os.path.join(TOP, "Makefile")), re.M).group(1)
    assert field("Version") == version
    arch = subprocess.run(["dpkg", "--print-architecture"], capture_output=True,
                          text=True, check=True).stdout.strip()
    assert field("Architecture") == arch
    assert field("Maintainer") and field("Description")
    depends = {d.split()[0] for d in field("Depends").split(", ")}
    # Every library a binary names directly comes from a declared package.
    missing = needed_packages(built_binaries()) - depends
    assert not missing, ("not in Depends", missing, depends)
    assert {"passwd", "procps"} <= depends, depends

    ctl = os.path.join(tmp, "control")
    subprocess.run(["dpkg-deb", "-e", deb, ctl], check=True)
    conffiles = read(os.path.join(ctl, "conffiles")).split()
    assert sorted(conffiles) == sorted("/etc/sentinel/" + f for f in ETC_FILES)
    postinst = read(os.path.join(ctl, "postinst"))
    assert "useradd --system" in postinst and "/var/sentinel/data" in postinst
    for s in ("postinst", "prerm", "postrm"):
        p = os.path.join(ctl, s)
        assert os.access(p, os.X_OK), s
        r = subprocess.run(["sh", "-n", p], capture_output=True, text=True)
        assert r.returncode == 0, (s, r.stderr)

    # The package's tree, extracted, runs: sentinel --version, and the
    # whole set, which finds its daemons in ../libexec/sentinel.
    root = os.path.join(tmp, "x")
    subprocess.run(["dpkg-deb", "-x", deb, root], check=True)
    r = subprocess.run([os.path.join(root, "usr/bin/sentinel"), "--version"],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 0 and r.stdout.strip() == "sentinel " + version, r
    run_extracted_set(root, tmp)


def run_extracted_set(root, tmp, exe=None, cli=None, etc=None,
                      daemon_marker=None):
    """The set from an unpacked tree: exe (default the package's
    usr/bin/sentinel) on its config.yaml from etc, ready, answering
    sentinel-cli status; daemon_marker must be in its log (where it took
    the daemons from)."""
    exe = exe or os.path.join(root, "usr/bin/sentinel")
    cli = cli or os.path.join(root, "usr/bin/sentinel-cli")
    etc = etc or os.path.join(root, "etc/sentinel")
    if daemon_marker is None:
        daemon_marker = os.path.join(root, "usr/libexec/sentinel/sentinel-stored")
    d = os.path.join(tmp, "set")
    os.makedirs(d)
    port = free_port()
    text = relocate(read(os.path.join(etc, "config.yaml")), etc)
    text = (text.replace(os.path.join(etc, "data"), os.path.join(d, "data"))
            .replace(os.path.join(etc, "run"), os.path.join(d, "run"))
            .replace("port: 8080", "port: %d\n    host: 127.0.0.1" % port)
            .replace("port: 9090", "port: %d" % free_port())
            .replace("port: 9102", "port: %d" % free_port()))
    cfg = os.path.join(d, "config.yaml")
    write(cfg, text)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("SENTINEL_") and k not in ("MODE", "LOG_LEVEL")}
    env.update(SECRETS_ENV)
    log = open(os.path.join(d, "log"), "wb")
    p = subprocess.Popen([exe, "--config", cfg],
                         stdout=log, stderr=subprocess.STDOUT, env=env, cwd=d)
    try:
        def ready():
            assert p.poll() is None, read(os.path.join(d, "log"))[-3000:]
            try:
                with urllib.request.urlopen("http://127.0.0.1:%d/ready" % port,
                                            timeout=5) as r:
                    return r.status == 200
            except OSError:
                return False
        wait_for(ready, 30, what="/ready of the extracted package")
        r = subprocess.run([cli, "--socket", os.path.join(d, "run/sentinel.sock"),
                            "--json", "status"],
                           capture_output=True, text=True, timeout=20)
        assert r.returncode == 0, r
        daemons = json.loads(r.stdout)["daemons"]
        assert len(daemons) == 4 and all(x["state"] == "up" for x in daemons), daemons
        assert daemon_marker in read(os.path.join(d, "log")), \
            ("daemons not from where expected", daemon_marker)
        body = json.dumps({"event_id": "pkg-1", "timestamp": "2025-11-06T12:00:00Z",
                           "event_type": "llm.response", "application_id": "pkg-app",
                           "data": {"status": "success", "latency_ms": 120}}).encode()
        req = urllib.request.Request(
            "http://127.0.0.1:%d/api/v1/telemetry/events" % port, data=body,
            headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(req, timeout=10) as resp:
            assert resp.status == 202, resp.status
    finally:
        p.send_signal(signal.SIGTERM)
        try:
            assert p.wait(60) == 0
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
            log.close()


# --- the shipped configuration files ---------------------------------------

def test_shipped_configs_check(tmp):
    d = os.path.join(tmp, "etc")
    os.makedirs(d)
    for f in ("config.yaml", "detectors.yaml", "alerts.yaml"):
        write(os.path.join(d, f), relocate(read(os.path.join(PKG, "etc", f)), d),
              0o640)
    cfg = os.path.join(d, "config.yaml")
    rc, out = check_config(cfg, SECRETS_ENV)
    assert rc == 0, out
    # Without sentinel.env's two variables it says which are missing.
    rc, out = check_config(cfg)
    assert rc == 1 and "SMTP_PASSWORD" in out and "SLACK_WEBHOOK_URL" in out, out
    # sentinel.env names exactly those (commented out until set).
    env = read(os.path.join(PKG, "etc/sentinel.env"))
    assert re.search(r"^#SMTP_PASSWORD=", env, re.M)
    assert re.search(r"^#SLACK_WEBHOOK_URL=", env, re.M)
    # The seed's detectors and alerts, unchanged but for comments.
    seed = os.path.join(TOP, "test/unit/data/seed/standalone")
    for f in ("detectors.yaml", "alerts.yaml"):
        assert yaml.safe_load(read(os.path.join(PKG, "etc", f))) == \
            yaml.safe_load(read(os.path.join(seed, f))), f
    seed_cfg = yaml.safe_load(read(os.path.join(seed, "config.yaml")))
    ours = yaml.safe_load(read(os.path.join(PKG, "etc/config.yaml")))
    ours.pop("run_dir")
    assert ours == seed_cfg

    # The image's own config starts without any secret in the environment.
    write(os.path.join(d, "config.yaml"),
          relocate(read(os.path.join(PKG, "docker/config.yaml")), d))
    rc, out = check_config(cfg, {"MODE": "standalone", "LOG_LEVEL": "info"})
    assert rc == 0, out
    rc, out = check_config(cfg, {"MODE": "bogus"})
    assert rc == 1 and "MODE" in out, out


# --- containers ----------------------------------------------------------------

def dockerfile_stages(text):
    text = re.sub(r"\\\n", " ", text)
    stages = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        word, _, rest = line.partition(" ")
        if word.upper() == "FROM":
            stages.append({"from": rest.split()[0], "lines": []})
        else:
            stages[-1]["lines"].append((word.upper(), rest.strip()))
    return stages


def apt_packages(stage):
    pkgs = []
    for word, rest in stage["lines"]:
        if word == "RUN" and "apt-get install" in rest:
            seg = rest.split("apt-get install", 1)[1].split("&&")[0]
            pkgs += [w for w in seg.split() if not w.startswith("-")]
    return pkgs


def installed_closure(roots):
    """roots and everything they depend on (Depends, Pre-Depends), as
    this machine's dpkg database says; the first of alternatives."""
    r = subprocess.run(["dpkg-query", "-W",
                        "-f=${Package}\t${Depends}, ${Pre-Depends}\n"],
                       capture_output=True, text=True, check=True)
    deps = {}
    for line in r.stdout.splitlines():
        pkg, _, rest = line.partition("\t")
        names = [d.split("|")[0].strip().split(" ")[0].split(":")[0]
                 for d in rest.split(",")]
        deps.setdefault(pkg, set()).update(n for n in names if n)
    seen, todo = set(), list(roots)
    while todo:
        p = todo.pop()
        if p not in seen:
            seen.add(p)
            todo.extend(deps.get(p, ()))
    return seen


def test_dockerfile(tmp):
    text = read(os.path.join(PKG, "docker/Dockerfile"))
    stages = dockerfile_stages(text)
    assert len(stages) == 2, [s["from"] for s in stages]
    assert stages[0]["from"] == "debian:12"
    assert stages[1]["from"] == "debian:12-slim"
    run = stages[1]
    words = {}
    for w, rest in run["lines"]:
        words.setdefault(w, []).append(rest)
    assert set(words["EXPOSE"][0].split()) == {"8080", "9090", "9102"}
    assert "localhost:8080/health" in words["HEALTHCHECK"][0]
    assert words["USER"][0].split(":")[0] == "sentinel"
    env = " ".join(words["ENV"])
    assert "MODE=standalone" in env and "LOG_LEVEL=info" in env
    assert any("/var/sentinel/data" in v for v in words["VOLUME"])
    copies = " ".join(words["COPY"])
    assert "/etc/sentinel/" in copies
    # Every file the image copies from the context exists.
    for rest in words["COPY"]:
        if "--from=" in rest:
            continue
        for src in rest.split()[:-1]:
            assert os.path.exists(os.path.join(TOP, src)), src

    # The runtime stage's packages: every library the built binaries
    # load is in one of them or in what they (or the slim base's
    # required packages) pull in.
    runtime = apt_packages(run)
    assert "curl" in runtime  # the HEALTHCHECK's
    required = subprocess.run(
        ["dpkg-query", "-W", "-f=${Package} ${Priority} ${Essential}\n"],
        capture_output=True, text=True, check=True).stdout
    base = [l.split()[0] for l in required.splitlines()
            if " required" in l or l.endswith(" yes")]
    closure = installed_closure(runtime + base)
    # (make asan's build links the sanitizers' runtimes; the image is
    # never built so.)
    san = re.compile(r"^lib(asan|ubsan|lsan|tsan)\d*$")
    libs = ldd_packages(built_binaries())
    missing = {p: l for p, l in libs.items()
               if p not in closure and not san.match(p)}
    assert not missing, ("runtime stage lacks", missing)
    # Those named directly are listed by name, not left to chance.
    direct = {p for p in needed_packages(built_binaries()) - set(base)
              if not san.match(p)}
    assert direct <= set(runtime), (direct - set(runtime))
    # The build stage installs nothing that build-deps.txt does not list.
    deps = set(l.strip() for l in read(os.path.join(PKG, "build-deps.txt")).splitlines()
               if l.strip() and not l.startswith("#"))
    build = set(apt_packages(stages[0]))
    assert build <= deps, build - deps
    assert "libarchive-dev" in build and "libnng-dev" in build


def test_compose(tmp):
    path = os.path.join(PKG, "docker/docker-compose.yml")
    c = yaml.safe_load(read(path))
    assert set(c["services"]) == {"sentinel", "prometheus", "grafana"}
    s = c["services"]["sentinel"]
    assert s["image"] == "llm-sentinel:latest"
    assert s["ports"] == ["8080:8080", "9090:9090", "9102:9102"]
    assert "./config:/etc/sentinel:ro" in s["volumes"]
    assert "sentinel-data:/var/sentinel/data" in s["volumes"]
    env = set(s["environment"])
    assert {"MODE=standalone", "LOG_LEVEL=info",
            "SMTP_PASSWORD=${SMTP_PASSWORD}",
            "SLACK_WEBHOOK_URL=${SLACK_WEBHOOK_URL}"} <= env
    hc = s["healthcheck"]
    assert hc["test"] == ["CMD", "curl", "-f", "http://localhost:8080/health"]
    assert (hc["interval"], hc["timeout"], hc["retries"], hc["start_period"]) == \
        ("30s", "10s", 3, "40s")
    assert c["services"]["prometheus"]["ports"] == ["9091:9090"]
    assert c["services"]["grafana"]["ports"] == ["3000:3000"]
    assert set(c["volumes"]) == {"sentinel-data", "prometheus-data", "grafana-data"}
    assert c["networks"]["default"]["name"] == "sentinel-network"
    # build: the Dockerfile, from the top of the repository.
    b = s["build"]
    ctx = os.path.normpath(os.path.join(PKG, "docker", b["context"]))
    assert os.path.isfile(os.path.join(ctx, b["dockerfile"]))
    # Every bind-mounted host path exists (through the links to ../etc,
    # ../prometheus.yml, ../grafana).
    here = os.path.join(PKG, "docker")
    for svc in c["services"].values():
        for v in svc.get("volumes", []):
            src = v.split(":")[0]
            if src.startswith("."):
                assert os.path.exists(os.path.join(here, src)), src
    assert os.path.isfile(os.path.join(here, "config/config.yaml"))
    assert os.path.isfile(os.path.join(here, "grafana/dashboards/sentinel.json"))
    prom = yaml.safe_load(read(os.path.join(here, "prometheus.yml")))
    targets = prom["scrape_configs"][0]["static_configs"][0]["targets"]
    assert targets == ["sentinel:9102"]


# --- Kubernetes and Helm -------------------------------------------------------

def k8s_docs(path):
    docs = [d for d in yaml.safe_load_all(read(path)) if d is not None]
    for d in docs:
        assert d.get("apiVersion") and d.get("kind"), (path, d)
        assert d.get("metadata", {}).get("name"), (path, d)
    return docs


def check_configmap_files(cm, d, env):
    """Writes a ConfigMap's files into d (its mount point moved there) and
    runs --check-config on its config.yaml."""
    os.makedirs(d, exist_ok=True)
    for name, text in cm["data"].items():
        write(os.path.join(d, name), relocate(text, d), 0o640)
    rc, out = check_config(os.path.join(d, "config.yaml"), env)
    assert rc == 0, (cm["metadata"]["name"], out)


def test_kubernetes(tmp):
    k = os.path.join(PKG, "kubernetes")
    cm = k8s_docs(os.path.join(k, "configmap.yaml"))
    assert [d["kind"] for d in cm] == ["ConfigMap"]
    assert set(cm[0]["data"]) == {"config.yaml", "detectors.yaml", "alerts.yaml"}
    check_configmap_files(cm[0], os.path.join(tmp, "cm"),
                          {"SLACK_WEBHOOK_URL": SECRETS_ENV["SLACK_WEBHOOK_URL"]})
    # The guide's config.yaml keys are all still there.
    seed = yaml.safe_load(read(os.path.join(TOP, "test/unit/data/seed/kubernetes/config.yaml")))
    ours = yaml.safe_load(cm[0]["data"]["config.yaml"])
    for key in seed:
        for sub in seed[key] if isinstance(seed[key], dict) else []:
            assert ours[key][sub] == seed[key][sub], (key, sub)

    docs = k8s_docs(os.path.join(k, "deployment.yaml"))
    kinds = {d["kind"]: d for d in docs}
    assert set(kinds) == {"Deployment", "Service", "ServiceAccount",
                          "HorizontalPodAutoscaler", "PodDisruptionBudget"}
    dep = kinds["Deployment"]
    pod = dep["spec"]["template"]
    assert dep["spec"]["selector"]["matchLabels"] == {"app": "sentinel"}
    assert pod["metadata"]["labels"]["app"] == "sentinel"
    ann = pod["metadata"]["annotations"]
    assert ann == {"prometheus.io/scrape": "true", "prometheus.io/port": "9102",
                   "prometheus.io/path": "/metrics"}
    c = pod["spec"]["containers"][0]
    assert c["livenessProbe"]["httpGet"] == {"path": "/health", "port": 8080}
    assert c["readinessProbe"]["httpGet"] == {"path": "/ready", "port": 8080}
    assert c["resources"]["requests"] and c["resources"]["limits"]
    assert {p["containerPort"] for p in c["ports"]} == {8080, 9090, 9102}
    assert pod["spec"]["serviceAccountName"] == kinds["ServiceAccount"]["metadata"]["name"]
    assert pod["spec"]["securityContext"]["runAsUser"] == 10001
    mounts = {m["mountPath"] for m in c["volumeMounts"]}
    assert {"/etc/sentinel", "/var/sentinel/data", "/run/sentinel"} <= mounts
    assert kinds["HorizontalPodAutoscaler"]["spec"]["scaleTargetRef"]["name"] == "sentinel"
    assert kinds["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"] == {"app": "sentinel"}
    assert kinds["Service"]["spec"]["selector"] == {"app": "sentinel"}

    side_cm = k8s_docs(os.path.join(k, "sidecar-configmap.yaml"))[0]
    check_configmap_files(side_cm, os.path.join(tmp, "side"), {})
    side_cfg = yaml.safe_load(side_cm["data"]["config.yaml"])
    app = k8s_docs(os.path.join(k, "application-with-sidecar.yaml"))[0]
    cs = {x["name"]: x for x in app["spec"]["template"]["spec"]["containers"]}
    side = cs["sentinel-sidecar"]
    probe = side["livenessProbe"]["httpGet"]
    assert probe == {"path": "/health", "port": side_cfg["ingestion"]["http"]["port"]}
    assert {"name": "MODE", "value": "sidecar"} in side["env"]
    vols = {v["name"]: v for v in app["spec"]["template"]["spec"]["volumes"]}
    assert vols["sentinel-config"]["configMap"]["name"] == side_cm["metadata"]["name"]
    # The application's own port is not the sidecar's.
    assert 8080 not in {p["containerPort"] for p in side["ports"]}


def key_paths(d, prefix=""):
    out = set()
    for k, v in d.items():
        out.add(prefix + k)
        if isinstance(v, dict):
            out |= key_paths(v, prefix + k + ".")
    return out


def check_template(path):
    """Go-template delimiters balanced, and every if/with/range/define
    closed by an end, in order (no renderer: this is as far as it goes
    without helm)."""
    text = read(path)
    actions = re.findall(r"\{\{-?\s*(.*?)\s*-?\}\}", text, re.S)
    assert text.count("{{") == text.count("}}") == len(actions), path
    depth = 0
    for a in actions:
        word = a.split()[0] if a.split() else ""
        if word in ("if", "with", "range", "define", "block"):
            depth += 1
        elif word == "end":
            depth -= 1
            assert depth >= 0, (path, "end without opening")
    assert depth == 0, (path, "unclosed block")
    return actions


def test_helm_chart(tmp):
    chart = os.path.join(PKG, "helm/sentinel")
    meta = yaml.safe_load(read(os.path.join(chart, "Chart.yaml")))
    assert meta["apiVersion"] == "v2" and meta["name"] == "sentinel"
    assert meta["version"] and meta["appVersion"]
    values = yaml.safe_load(read(os.path.join(chart, "values.yaml")))
    seed = yaml.safe_load(SEED_HELM_VALUES)
    missing = key_paths(seed) - key_paths(values)
    assert not missing, missing
    for k in ("replicaCount", "image", "resources"):
        assert values[k] == seed[k], k

    # What the ConfigMap template copies from the values into config.yaml
    # (mode, ingestion, storage, integrations, observability as they are)
    # is valid configuration: the same blocks, as a config file.
    d = os.path.join(tmp, "helm")
    os.makedirs(d)
    cfg = {k: values[k] for k in ("mode", "ingestion", "storage",
                                  "integrations", "observability")}
    cfg["storage"] = dict(cfg["storage"], path=os.path.join(d, "data"))
    cfg["run_dir"] = os.path.join(d, "run")
    write(os.path.join(d, "config.yaml"), yaml.safe_dump(cfg))
    write(os.path.join(d, "detectors.yaml"), values["detectors"])
    with open(os.path.join(d, "config.yaml"), "a") as f:
        f.write("detectors:\n  configFile: detectors.yaml\n")
    rc, out = check_config(os.path.join(d, "config.yaml"))
    assert rc == 0, out
    # The seed's own values, laid over ours, are still valid.
    seed_cfg = {k: seed[k] for k in ("ingestion", "storage", "integrations")}
    seed_cfg["storage"] = dict(values["storage"], **seed_cfg["storage"])
    seed_cfg["storage"]["path"] = os.path.join(d, "data")
    write(os.path.join(d, "config.yaml"), yaml.safe_dump(seed_cfg))
    rc, out = check_config(os.path.join(d, "config.yaml"))
    assert rc == 0, out

    tdir = os.path.join(chart, "templates")
    names = sorted(os.listdir(tdir))
    for want in ("configmap.yaml", "deployment.yaml", "service.yaml",
                 "serviceaccount.yaml", "hpa.yaml", "pdb.yaml", "secret.yaml"):
        assert want in names, want
    used = set()
    for n in names:
        for a in check_template(os.path.join(tdir, n)):
            used |= set(re.findall(r"\.Values\.([A-Za-z_]+)", a))
    # Every value the templates read is defined, and every seed key is read.
    assert used <= set(values), used - set(values)
    assert set(seed) <= used, set(seed) - used
    dep = read(os.path.join(tdir, "deployment.yaml"))
    for s in ("path: /health", "path: /ready", "prometheus.io/scrape",
              "serviceAccountName", "resources:"):
        assert s in dep, s


# --- make dist: the guide's "Binary Installation" ------------------------------

def test_dist_tarball_binary_alone(tmp):
    """The guide: extract the release tarball, `mv sentinel /usr/local/bin/`,
    `sentinel version`, then run it on a config: the moved binary alone
    runs the whole set (it carries the daemons: supervisor/multicall.h)."""
    out = make("dist")
    tgz = out.strip().splitlines()[-1]
    arch = subprocess.run(["dpkg", "--print-architecture"], capture_output=True,
                          text=True, check=True).stdout.strip()
    assert os.path.basename(tgz) == "sentinel-v%s-linux-%s.tar.gz" % (
        re.search(r"^VERSION\s*:=\s*(\S+)", read(os.path.join(TOP, "Makefile")),
                  re.M).group(1), arch), tgz
    names = subprocess.run(["tar", "-tzf", tgz], capture_output=True, text=True,
                           check=True).stdout.split()
    assert {"sentinel", "sentinel-cli"} <= set(names), names
    assert not [n for n in names if "sentinel-" in n and n != "sentinel-cli"], names
    dl = os.path.join(tmp, "download")
    os.makedirs(dl)
    subprocess.run(["tar", "-xzf", tgz], cwd=dl, check=True)
    bindir = os.path.join(tmp, "usr-local-bin")
    os.makedirs(bindir)
    exe = os.path.join(bindir, "sentinel")
    shutil.move(os.path.join(dl, "sentinel"), exe)
    r = subprocess.run([exe, "version"], capture_output=True, text=True, timeout=10)
    assert r.returncode == 0 and r.stdout.startswith("sentinel "), r
    # nothing of the daemons beside it: the set runs from the binary itself
    assert os.listdir(bindir) == ["sentinel"]
    run_extracted_set(tmp, tmp, exe=exe, cli=os.path.join(dl, "sentinel-cli"),
                      etc=os.path.join(dl, "examples"),
                      daemon_marker='"exe":"%s"' % exe)


def main():
    t = Tap()
    for fn in (test_make_install_destdir, test_unit_file, test_unit_verifies,
               test_make_deb, test_shipped_configs_check, test_dockerfile,
               test_compose, test_kubernetes, test_helm_chart,
               test_dist_tarball_binary_alone):
        tmp = tempfile.mkdtemp(prefix="sentinel-pkg-")
        try:
            t.run(fn, tmp)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    t.done()


if __name__ == "__main__":
    main()
