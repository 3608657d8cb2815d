"""The deployment files (docs/operations.md) checked with the tools that
run here, without a container engine: the Dockerfile against the repository
and the binaries' shared libraries, `docker-compose config` on the compose
file, the compose file's and the Kubernetes manifests' flags against the
ones `deploy/local/cluster.sh --lb` gives each daemon and the ones each
binary accepts, the Kubernetes objects against the API's schemas
(kubernetes-models, npm), HAProxy's generated configuration, and every
metric the Grafana dashboard and the alert rules name against the metrics
a running cluster exposes."""

import json
import os
import re
import shutil
import subprocess
import urllib.request

import pytest
import yaml

import conftest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.environ.get("STRATA_BIN_DIR") or os.path.join(ROOT, "build", "bin")
DEPLOY = os.path.join(ROOT, "deploy")
DAEMONS = ("broker", "router", "shadowd", "rulesd")

# Flags the containers add to what cluster.sh gives a daemon, and why.
EXTRA_IN_CONTAINERS = {
    # cluster.sh's admin API stays on the loopback (its default); a
    # container's must be reached from outside it
    ("broker", "--admin-bind"),
    # the same for shadowd's HTTP shadow API
    ("shadowd", "--http-bind"),
    # each daemon reads its file of the ConfigMap (Kubernetes)
    ("broker", "--config"), ("router", "--config"), ("shadowd", "--config"),
    ("rulesd", "--config"),
}


def help_options(daemon):
    """The long options `strata-<daemon> --help` lists."""
    out = subprocess.run([os.path.join(BIN, "strata-" + daemon), "--help"],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         timeout=10).stdout.decode()
    return set(re.findall(r"^\s+(?:-\w, )?(--[a-z0-9-]+)", out, re.M))


def flags_of(args):
    return {a.split("=")[0] for a in args if a.startswith("--")}


def env_flags(names):
    """STRATA_NODE_ID -> --node-id (config.md: '-' becomes '_')."""
    return {"--" + n[len("STRATA_"):].lower().replace("_", "-")
            for n in names if n.startswith("STRATA_")}


# ---- the Dockerfile ----

def _dockerfile():
    with open(os.path.join(DEPLOY, "docker", "Dockerfile")) as f:
        return f.read()


def _stage_packages(text, stage):
    """The apt-get install packages of stage 0 (build) or 1 (run)."""
    runs = re.findall(r"apt-get install[^\n]*\\\n((?:[^\n]*\\\n)+)", text)
    words = re.findall(r"[a-z0-9][a-z0-9.+-]+", runs[stage])
    return {w for w in words if w not in ("rm", "rf", "var", "lib", "apt",
                                          "lists", "useradd", "mkdir")}


def test_dockerfile_copies_what_exists_and_builds_from_it(tmp_path):
    """Every COPY source of the Dockerfile exists; a tree of exactly those
    sources configures with the flags the build stage uses."""
    text = _dockerfile()
    copies = re.findall(r"^COPY (?!--from)(.+?) (\S+)$", text, re.M)
    assert copies
    ctx = tmp_path / "ctx"
    for srcs, _dest in copies:
        for src in srcs.split():
            path = os.path.join(ROOT, src)
            assert os.path.exists(path), src
            if src.startswith("deploy/"):
                continue
            if os.path.isdir(path):
                shutil.copytree(path, ctx / src)
            else:
                os.makedirs(os.path.dirname(ctx / src), exist_ok=True)
                shutil.copy(path, ctx / src)
    r = subprocess.run(["cmake", "-S", str(ctx), "-B", str(ctx / "build"),
                        "-DCMAKE_BUILD_TYPE=RelWithDebInfo",
                        "-DSTRATA_TESTS=OFF"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=120)
    assert r.returncode == 0, r.stdout.decode()[-3000:]
    # the console's MQTT.js comes from the lock file, installed before
    # the build copies it (cmake/console_files.cmake)
    npm = text.index("npm ci")
    assert "tests/js/package-lock.json" in text[:npm]
    assert npm < text.index("cmake --build")
    for script in ("strata-entrypoint", "strata-healthcheck"):
        path = os.path.join(DEPLOY, "docker", script)
        assert os.access(path, os.X_OK), script
        assert subprocess.run(["sh", "-n", path]).returncode == 0


def test_dockerfile_runtime_has_every_shared_library():
    """The run stage installs the Debian package of every shared library
    the daemons and stratactl link (ldd of this build), and the build
    stage every -dev package deploy/deps.sh installs for a build."""
    text = _dockerfile()
    run_pkgs = _stage_packages(text, 1)
    libs = set()
    for exe in ("strata-broker", "strata-router", "strata-shadowd",
                "strata-rulesd", "stratactl"):
        out = subprocess.run(["ldd", os.path.join(BIN, exe)],
                             stdout=subprocess.PIPE, timeout=10)
        libs.update(re.findall(r"=> (/\S+)", out.stdout.decode()))
    # one dpkg -S for all (each call reads every package's file list):
    # by the resolved path, and by the path ldd gave where that fails
    # (a /lib symlink into /usr/lib)
    paths = sorted(libs | {os.path.realpath(lib) for lib in libs})
    r = subprocess.run(["dpkg", "-S"] + paths, stdout=subprocess.PIPE,
                       stderr=subprocess.DEVNULL, timeout=120)
    owner = {}
    for line in r.stdout.decode().splitlines():
        pkg, _, path = line.partition(": ")
        owner[path] = pkg.split(":")[0]
    need = set()
    for lib in libs:
        pkg = owner.get(os.path.realpath(lib)) or owner.get(lib)
        assert pkg, lib
        if "asan" in pkg or "ubsan" in pkg or pkg.startswith("libclang"):
            continue  # a sanitizer build's runtime
        need.add(pkg)
    # in debian:12-slim already, or pulled in by those listed
    base = {"libc6", "zlib1g", "libzstd1", "liblz4-1", "libsasl2-2",
            "libevent-core-2.1-7", "libgcc-s1", "libstdc++6", "liblzma5",
            "libcurl4", "libcrypt1"}
    assert need - base <= run_pkgs, sorted(need - base - run_pkgs)
    with open(os.path.join(DEPLOY, "deps.sh")) as f:
        deps = f.read()
    dev = set(re.findall(r"\b(lib[a-z0-9.-]+-dev)\b", deps)) - {
        "libcmocka-dev", "libclang-rt-14-dev"}  # tests, fuzzing only
    assert dev <= _stage_packages(text, 0), sorted(dev - _stage_packages(
        text, 0))
    assert re.search(r"^USER strata$", text, re.M)
    assert "HEALTHCHECK" in text


# ---- docker-compose ----

@pytest.fixture(scope="module")
def secrets(tmp_path_factory):
    d = tmp_path_factory.mktemp("secrets")
    env = dict(os.environ, STRATA_SECRETS_DIR=str(d / "s"),
               STRATA_ENV_FILE=str(d / "env"))
    subprocess.run([os.path.join(DEPLOY, "docker", "gen-secrets.sh")],
                   env=env, check=True, stdout=subprocess.DEVNULL,
                   timeout=60)
    return d / "s"


@pytest.fixture(scope="module")
def compose(secrets):
    """`docker-compose config` of the compose file: its services."""
    env = dict(os.environ, STRATA_ADMIN_KEY_ID=(secrets / "admin.key-id")
               .read_text())
    r = subprocess.run(["docker-compose", "-f",
                        os.path.join(DEPLOY, "docker-compose.yml"),
                        "config"], env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=60)
    assert r.returncode == 0, r.stderr.decode()
    return yaml.safe_load(r.stdout)


def test_compose_has_the_cluster(compose, secrets):
    """Redis with AOF, 3 routers, 2 brokers, shadowd, rulesd, HAProxy,
    Prometheus and Grafana; every secret is a file gen-secrets.sh makes."""
    svc = compose["services"]
    kinds = {}
    for name, s in svc.items():
        cmd = s.get("command") or []
        kind = cmd[0] if cmd and cmd[0] in DAEMONS else name
        kinds.setdefault(kind, []).append(name)
    assert len(kinds["router"]) == 3 and len(kinds["broker"]) == 2
    assert len(kinds["shadowd"]) == 1 and len(kinds["rulesd"]) == 1
    for other in ("redis", "haproxy", "prometheus", "grafana"):
        assert other in svc
    redis = svc["redis"]["command"]
    assert redis[redis.index("--appendonly") + 1] == "yes"
    for name, sec in compose["secrets"].items():
        assert os.path.basename(sec["file"]) in os.listdir(secrets), name
    for name in kinds["broker"] + kinds["router"]:
        assert svc[name]["image"] == "strata:latest"
        assert "STRATA_BIND" in svc[name]["environment"]


@pytest.fixture(scope="module")
def lb_cluster():
    with conftest.start_cluster("lb_cluster", brokers=1, routers=1,
                                lb=True, shadowd=1, rulesd=1) as c:
        yield c


def _cmdline(pid):
    with open("/proc/%d/cmdline" % pid, "rb") as f:
        return [a.decode() for a in f.read().split(b"\0") if a]


def test_compose_flags_are_cluster_sh_flags(compose, lb_cluster):
    """Each daemon of the compose file gets the flags cluster.sh --lb
    gives it (as flags or STRATA_* variables), and only those plus the
    ones EXTRA_IN_CONTAINERS names."""
    c = lb_cluster
    local = {"broker": flags_of(_cmdline(c.broker_pids[0])),
             "router": flags_of(_cmdline(c.router_pids[0])),
             "shadowd": flags_of(_cmdline(c.shadowd_pids[0])),
             "rulesd": flags_of(_cmdline(c.rulesd_pids[0]))}
    seen = set()
    for name, s in compose["services"].items():
        cmd = s.get("command") or []
        if not cmd or cmd[0] not in DAEMONS:
            continue
        kind = cmd[0]
        seen.add(kind)
        mine = flags_of(cmd[1:]) | env_flags(s.get("environment", {}))
        extra = {f for (k, f) in EXTRA_IN_CONTAINERS if k == kind}
        assert mine - extra == local[kind], (name, sorted(
            mine - extra - local[kind]), sorted(local[kind] - mine))
    assert seen == set(DAEMONS)


def test_compose_and_k8s_flags_are_accepted(compose):
    """Every flag and STRATA_* variable of a container, and every option
    of the ConfigMap's files, is one the daemon's binary accepts."""
    opts = {d: help_options(d) for d in DAEMONS}
    for name, s in compose["services"].items():
        cmd = s.get("command") or []
        if cmd and cmd[0] in DAEMONS:
            mine = flags_of(cmd[1:]) | env_flags(s.get("environment", {}))
            assert mine <= opts[cmd[0]], (name, mine - opts[cmd[0]])
    docs = _k8s_objects()
    for o in docs:
        for ctr in _containers(o):
            args = ctr.get("args") or []
            if not args or args[0] not in DAEMONS:
                continue
            env = [e["name"] for e in ctr.get("env", [])]
            mine = flags_of(args[1:]) | env_flags(env)
            assert mine <= opts[args[0]], (o["metadata"]["name"],
                                            mine - opts[args[0]])
    conf = [o for o in docs if o["kind"] == "ConfigMap"][0]["data"]
    for d in DAEMONS:
        names = {"--" + ln.split()[0] for ln in conf[d + ".conf"].split("\n")
                 if ln.strip() and not ln.lstrip().startswith("#")}
        assert names <= opts[d], (d, names - opts[d])


def test_haproxy_config_is_current_and_valid(tmp_path):
    """deploy/docker/haproxy.cfg is what gen-haproxy.sh makes from the
    template today, and HAProxy accepts it."""
    committed = os.path.join(DEPLOY, "docker", "haproxy.cfg")
    with open(committed) as f:
        before = f.read()
    work = tmp_path / "repo"
    shutil.copytree(DEPLOY, work / "deploy")
    subprocess.run([str(work / "deploy" / "docker" / "gen-haproxy.sh")],
                   check=True, timeout=30)
    assert (work / "deploy" / "docker" / "haproxy.cfg").read_text() == \
        before, "run deploy/docker/gen-haproxy.sh"
    r = subprocess.run(["haproxy", "-c", "-f", committed],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=30)
    assert r.returncode == 0, r.stdout.decode()


# ---- Kubernetes ----

def _k8s_rendered():
    r = subprocess.run(["kubectl", "kustomize",
                        os.path.join(DEPLOY, "k8s")],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=60)
    assert r.returncode == 0, r.stderr.decode()
    return r.stdout.decode()


def _k8s_objects():
    return [d for d in yaml.safe_load_all(_k8s_rendered()) if d]


def _containers(o):
    spec = o.get("spec", {}).get("template", {}).get("spec", {})
    return spec.get("containers", [])


def test_k8s_objects_match_the_api_schemas(tmp_path):
    rendered = tmp_path / "strata.yaml"
    rendered.write_text(_k8s_rendered())
    r = subprocess.run(["node", os.path.join(ROOT, "tests", "k8s",
                                             "validate.mjs"), str(rendered)],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=60)
    out = r.stdout.decode()
    assert r.returncode == 0, out
    kinds = re.findall(r"^\S+ (\w+) (\S+): ok$", out, re.M)
    got = {k for k, _ in kinds}
    assert {"StatefulSet", "Deployment", "Service", "ConfigMap",
            "HorizontalPodAutoscaler", "PodDisruptionBudget",
            "ServiceMonitor"} <= got, out


def test_k8s_objects_hang_together(secrets):
    """What the schemas cannot see: selectors match their pods' labels,
    probes and Services name ports the containers have, every secret key
    and file is one gen-secrets.sh makes, routers are a StatefulSet (their
    node id is their stable pod name), the brokers' Service is a
    LoadBalancer, and the ServiceMonitor finds a metrics port on every
    daemon's Service."""
    objs = _k8s_objects()
    made = set(os.listdir(secrets))
    by = {(o["kind"], o["metadata"]["name"]): o for o in objs}
    pods = {}
    for o in objs:
        if o["kind"] not in ("Deployment", "StatefulSet"):
            continue
        labels = o["spec"]["template"]["metadata"]["labels"]
        sel = o["spec"]["selector"]["matchLabels"]
        assert sel.items() <= labels.items(), o["metadata"]["name"]
        for ctr in _containers(o):
            ports = {p["name"] for p in ctr.get("ports", [])}
            for probe in ("readinessProbe", "livenessProbe"):
                get = ctr.get(probe, {}).get("httpGet")
                if get:
                    assert get["port"] in ports, (o["metadata"]["name"],
                                                  probe)
            for a in ctr.get("args", []):
                if a.startswith("/etc/strata/secrets/"):
                    assert os.path.basename(a) in made, a
            for e in ctr.get("env", []):
                ref = e.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    assert ref["key"] in made, ref
            pods[o["metadata"]["name"]] = (labels, ports)
    assert ("StatefulSet", "strata-router") in by
    assert by[("Service", "strata-mqtt")]["spec"]["type"] == "LoadBalancer"
    mon = by[("ServiceMonitor", "strata")]["spec"]
    want = mon["selector"]["matchLabels"]
    monitored = [o for o in objs if o["kind"] == "Service" and
                 want.items() <= o["metadata"].get("labels", {}).items()]
    names = {o["metadata"]["name"] for o in monitored}
    assert {"strata-broker", "strata-router", "strata-shadowd",
            "strata-rulesd"} <= names, names
    for svc in [o for o in objs if o["kind"] == "Service"]:
        sel = svc["spec"]["selector"]
        match = [p for p, (labels, _) in pods.items()
                 if sel.items() <= labels.items()]
        assert match, svc["metadata"]["name"]
        for p in svc["spec"]["ports"]:
            target = p.get("targetPort", p["port"])
            if isinstance(target, str):
                assert target in pods[match[0]][1], (svc["metadata"],
                                                     target)


# ---- Prometheus and Grafana ----

def _exposed(cluster):
    names = set()
    ports = (cluster.broker_metrics_ports + cluster.router_metrics_ports +
             cluster.shadowd_metrics_ports + cluster.rulesd_metrics_ports)
    for p in ports:
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % p,
                                    timeout=5) as r:
            names |= set(re.findall(r"^# TYPE (\S+)", r.read().decode(),
                                    re.M))
    return names


def _metrics_named(expr):
    words = set(re.findall(r"\b(strata_[a-z0-9_]+)\b", expr))
    return words


def test_dashboard_and_alerts_name_real_metrics(lb_cluster, tmp_path):
    """Every strata_* metric the Grafana dashboard and the alert rules
    query is one the daemons expose, and the scrape configuration names
    every daemon's job."""
    exposed = _exposed(lb_cluster)
    with open(os.path.join(DEPLOY, "grafana", "strata-dashboard.json")) as f:
        dash = json.load(f)
    exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
    assert len(exprs) >= 15
    with open(os.path.join(DEPLOY, "prometheus", "strata-rules.yml")) as f:
        rules = yaml.safe_load(f)
    exprs += [r["expr"] for g in rules["groups"] for r in g["rules"]]
    for e in exprs:
        unknown = _metrics_named(e) - exposed
        assert not unknown, (e, unknown)
    with open(os.path.join(DEPLOY, "prometheus", "prometheus.yml")) as f:
        prom = yaml.safe_load(f)
    jobs = {j["job_name"] for j in prom["scrape_configs"]}
    assert jobs == {"strata-" + d for d in DAEMONS}
    # promtool (deploy/deps.sh installs Prometheus), with the rule file
    # where the container mounts it replaced by the repository's
    rules_file = os.path.join(DEPLOY, "prometheus", "strata-rules.yml")
    prom["rule_files"] = [rules_file]
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(prom))
    for args in (["check", "config", str(tmp_path / "prometheus.yml")],
                 ["check", "rules", rules_file]):
        r = subprocess.run(["promtool"] + args, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=30)
        assert r.returncode == 0, r.stdout.decode()
