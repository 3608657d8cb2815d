"""Fixtures of the integration suite: local Strata clusters.

The session-scoped `cluster` fixture starts Redis, one router and two
brokers with deploy/local/cluster.sh in a fresh temporary directory, on a
base port chosen so that every derived port is free, and stops exactly
those processes at the end.  Modules that must not share it (a test that
kills a daemon, the network fuzz test that leaves junk behind) start their
own with start_cluster(), the same function.  When a test fails, the tail
of every daemon's log of each cluster it used is attached to its report,
and after every test the daemons of the clusters it used must still be
alive with no sanitizer report in their logs.

STRATA_BIN_DIR (e.g. an ASan build's bin directory) selects the binaries;
by default cluster.sh uses build/bin.  STRATA_KEEPALIVE_MIN=1 is passed to
the daemons so tests can use one-second keepalives.
"""

import contextlib
import os
import random
import shlex
import shutil
import socket
import subprocess
import tempfile
import uuid

import pytest

import daemons
import mqttc

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
CLUSTER_SH = os.path.join(ROOT, "deploy", "local", "cluster.sh")
BROKERS = 2
ROUTERS = 1
LOG_TAIL_LINES = 40
SANITIZER_PATTERNS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                      "runtime error:")


def port_offsets(brokers=BROKERS, routers=ROUTERS, lb=False, redis_ha=False):
    """Offsets of the ports cluster.sh derives from the base port P;
    lb: also those of --lb (the brokers' PROXY listeners and HAProxy);
    redis_ha: the replicas and sentinels of --redis-ha."""
    offsets = ([i for i in range(brokers)] +
               [7000 + i for i in range(brokers)] +
               [8000 + i for i in range(brokers)] +
               [8200 + i for i in range(brokers)] +
               [3000 + i for i in range(brokers)] +   # ws
               [3500 + i for i in range(brokers)] +   # wss
               [6000 + j for j in range(routers)] +
               [8100 + j for j in range(routers)] + [4500] +
               [8300, 8400, 8500] +  # shadowd-0's metrics, HTTP, HTTPS
               [8600])               # rulesd-0's metrics
    if lb:
        offsets += ([5000 + i for i in range(brokers)] +
                    [5500 + i for i in range(brokers)] +
                    [4000, 4001, 4002, 4003, 4004, 4005])
    if redis_ha:
        offsets += [4501, 4502, 4510, 4511, 4512]
    return offsets


# Running clusters by the name of the fixture that provides them, for the
# health check and the failure-report hook.
_active = {}


class Cluster:
    """Parsed endpoints.env of a running cluster."""

    def __init__(self, directory, env, health_check=True):
        self.dir = directory
        # checked after every test that uses it (daemons_stay_healthy)
        self.health_check = health_check
        self.env = env
        self.host = env["HOST"]
        self.mqtt_ports = [int(p) for p in env["MQTT_PORTS"].split()]
        self.mqtts_ports = [int(p) for p in env["MQTTS_PORTS"].split()]
        self.ws_ports = [int(p) for p in env.get("WS_PORTS", "").split()]
        self.wss_ports = [int(p) for p in env.get("WSS_PORTS", "").split()]
        self.metrics_ports = [int(p) for p in env["METRICS_PORTS"].split()]
        self.broker_metrics_ports = [
            int(p) for p in env["BROKER_METRICS_PORTS"].split()]
        self.router_metrics_ports = [
            int(p) for p in env["ROUTER_METRICS_PORTS"].split()]
        self.router_ports = [int(p) for p in env["ROUTER_PORTS"].split()]
        self.redis_port = int(env["REDIS_PORT"])
        self.pids = [int(p) for p in env["PIDS"].split()]
        self.broker_pids = _ints(env.get("BROKER_PIDS"))
        self.router_pids = _ints(env.get("ROUTER_PIDS"))
        self.shadowd_pids = _ints(env.get("SHADOWD_PIDS"))
        self.shadowd_metrics_ports = _ints(env.get("SHADOWD_METRICS_PORTS"))
        self.shadowd_http_ports = _ints(env.get("SHADOWD_HTTP_PORTS"))
        self.data_url = env.get("DATA_URL", "")
        self.shadowd_https_ports = _ints(env.get("SHADOWD_HTTPS_PORTS"))
        self.data_https_url = env.get("DATA_HTTPS_URL", "")
        # the device data plane over HTTPS (docs/internals/data-plane.md)
        self.https_ports = _ints(env.get("HTTPS_PORTS"))
        self.rulesd_pids = _ints(env.get("RULESD_PIDS"))
        self.rulesd_metrics_ports = _ints(env.get("RULESD_METRICS_PORTS"))
        self.rules_file_dir = env.get("RULES_FILE_DIR", "")
        self.redis_pid = _int_or_none(env.get("REDIS_PID"))
        # --lb only (None / empty otherwise)
        self.lb_port = _int_or_none(env.get("LB_PORT"))
        self.lb_tls_port = _int_or_none(env.get("LB_TLS_PORT"))
        self.lb_stats_port = _int_or_none(env.get("LB_STATS_PORT"))
        self.lb_https_port = _int_or_none(env.get("LB_HTTPS_PORT"))
        self.lb_ws_port = _int_or_none(env.get("LB_WS_PORT"))
        self.lb_wss_port = _int_or_none(env.get("LB_WSS_PORT"))
        self.lb_pid = _int_or_none(env.get("LB_PID"))
        self.proxy_ports = _ints(env.get("PROXY_PORTS"))
        self.proxy_tls_ports = _ints(env.get("PROXY_TLS_PORTS"))
        self.cluster_secret_file = env.get("CLUSTER_SECRET_FILE", "")
        # Redis wants AUTH: the daemons' ACL user and its password
        self.redis_user = env.get("REDIS_USER", "")
        self.redis_password_file = env.get("REDIS_PASSWORD_FILE", "")
        # --redis-ha: the sentinels' own password
        self.redis_sentinel_password_file = env.get(
            "REDIS_SENTINEL_PASSWORD_FILE", "")
        # --redis-ha only
        self.redis_sentinels = env.get("REDIS_SENTINELS", "")
        self.redis_primary_pid = _int_or_none(env.get("REDIS_PRIMARY_PID"))
        self.redis_replica_pids = _ints(env.get("REDIS_REPLICA_PIDS"))
        self.redis_sentinel_pids = _ints(env.get("REDIS_SENTINEL_PIDS"))
        self.redis_replica_ports = _ints(env.get("REDIS_REPLICA_PORTS"))
        self.redis_sentinel_ports = _ints(env.get("REDIS_SENTINEL_PORTS"))
        self.ca_file = env["CA_FILE"]
        self.client_cert = env["CLIENT_CERT"]
        self.client_key = env["CLIENT_KEY"]
        self.admin_url = env.get("ADMIN_URL", "")
        self.admin_urls = env.get("ADMIN_URLS", "").split()
        self.admin_token = env.get("ADMIN_TOKEN", "")
        self.admin_token_file = env.get("ADMIN_TOKEN_FILE", "")
        self.admin_key_id = env.get("ADMIN_ACCESS_KEY_ID", "")
        self.log_dir = env["LOG_DIR"]
        self.log_offsets = {}  # log file name -> bytes already scanned

    def log_tails(self):
        return log_tails(self.log_dir)

    def secret_args(self):
        """The options a daemon needs to join this cluster's links."""
        if not self.cluster_secret_file:
            return []
        return ["--cluster-secret-file", self.cluster_secret_file]

    def redis_args(self):
        """The options a daemon needs to log in to this cluster's Redis
        (its sentinels too, with --redis-ha)."""
        args = []
        if self.redis_password_file:
            args += ["--redis-user", self.redis_user,
                     "--redis-password-file", self.redis_password_file]
        if self.redis_sentinel_password_file:
            args += ["--redis-sentinel-password-file",
                     self.redis_sentinel_password_file]
        return args

    def join_args(self):
        """Everything a daemon needs to join this cluster: the link
        secret and the Redis login."""
        return self.secret_args() + self.redis_args()

    def redis_cli(self, port, *args, sentinel=False, auth=True):
        """redis-cli on a data node (as the daemons' user) or a sentinel
        (with the sentinels' password); auth=False: without a password.
        The password goes through the environment, not argv.  Returns
        (exit status, output)."""
        env = dict(os.environ)
        env.pop("REDISCLI_AUTH", None)
        cmd = ["redis-cli", "--no-auth-warning", "-h", self.host, "-p",
               str(port)]
        pw_file = (self.redis_sentinel_password_file if sentinel else
                   self.redis_password_file)
        if auth and pw_file:
            with open(pw_file) as f:
                env["REDISCLI_AUTH"] = f.read().strip()
            if not sentinel:
                cmd += ["--user", self.redis_user]
        out = subprocess.run(cmd + [str(a) for a in args], env=env,
                             stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, timeout=10)
        return out.returncode, out.stdout.decode("utf-8", "replace")

    def dead_processes(self):
        """PIDs from endpoints.env that exited (or are zombies)."""
        dead = []
        for pid in self.pids:
            try:
                with open("/proc/%d/stat" % pid) as f:
                    state = f.read().rsplit(")", 1)[1].split()[0]
            except OSError:
                state = "gone"
            if state in ("Z", "X", "gone"):
                dead.append(pid)
        return dead

    def new_sanitizer_reports(self):
        """Lines of sanitizer reports (ASan, LSan, UBSan) that appeared in
        the logs since the last call."""
        found = []
        try:
            names = sorted(os.listdir(self.log_dir))
        except OSError:
            return found
        for name in names:
            path = os.path.join(self.log_dir, name)
            with open(path, "rb") as f:
                f.seek(self.log_offsets.get(name, 0))
                data = f.read()
                self.log_offsets[name] = f.tell()
            for line in data.decode("utf-8", "replace").splitlines():
                if any(p in line for p in SANITIZER_PATTERNS):
                    found.append("%s: %s" % (name, line))
        return found


def _ints(value):
    return [int(p) for p in (value or "").split()]


def _int_or_none(value):
    return int(value) if value else None


def log_tails(log_dir, lines=LOG_TAIL_LINES):
    """The last `lines` lines of every log file in log_dir."""
    out = []
    try:
        names = sorted(os.listdir(log_dir))
    except OSError as e:
        return "cannot list %s: %s" % (log_dir, e)
    for name in names:
        path = os.path.join(log_dir, name)
        try:
            with open(path, "rb") as f:
                tail = f.read().splitlines()[-lines:]
        except OSError as e:
            tail = [("cannot read: %s" % e).encode()]
        out.append("==> %s <==" % name)
        out.extend(t.decode("utf-8", "replace") for t in tail)
    return "\n".join(out)


def run_readme_block(cluster, heading, cwd, replacements=()):
    """Run the first ```sh block after the README heading as written,
    with `make run`'s endpoints.env and build/bin/stratactl replaced by
    this cluster's and the binaries under test, and then each (old, new)
    of replacements; asserts it exits 0 and returns its output."""
    readme = open(os.path.join(ROOT, "README.md")).read()
    start = readme.index(heading)
    script = readme[start:].split("```sh\n", 1)[1].split("```", 1)[0]
    bin_dir = os.environ.get("STRATA_BIN_DIR") or os.path.join(
        ROOT, "build", "bin")
    script = (script.replace("build/run/endpoints.env",
                             os.path.join(cluster.dir, "endpoints.env"))
              .replace("build/bin/stratactl",
                       os.path.join(bin_dir, "stratactl")))
    for old, new in replacements:
        script = script.replace(old, new)
    r = subprocess.run(["bash", "-euo", "pipefail", "-c", script],
                       cwd=str(cwd), stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=60)
    out = r.stdout.decode()
    assert r.returncode == 0, out
    return out


def parse_env_file(path):
    """KEY="value" lines (shell syntax, as cluster.sh writes them)."""
    env = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            words = shlex.split(line, comments=True)
            if words and words[0] == "export":
                words = words[1:]
            for word in words:
                key, sep, value = word.partition("=")
                if sep:
                    env[key] = value
    return env


def _port_free(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def pick_base_port(brokers=BROKERS, routers=ROUTERS, attempts=200,
                   lb=False, redis_ha=False):
    """A base port whose derived ports are all free.  Kept below the
    kernel's ephemeral range (32768+) so outgoing connections made while
    the cluster starts cannot take one of them."""
    offsets = port_offsets(brokers, routers, lb, redis_ha)
    rng = random.Random()
    for _ in range(attempts):
        base = rng.randrange(10000, 32768 - max(offsets) - 1)
        if all(_port_free(base + off) for off in offsets):
            return base
    raise RuntimeError("no free base port found")


def _cluster_cmd(*args):
    return ["bash", CLUSTER_SH] + list(args)


def _cluster_up(prefix, run_env, brokers, routers, lb, redis_ha, shadowd,
                rulesd=0):
    """One `cluster.sh up` on freshly picked ports in a new directory:
    (directory, CompletedProcess)."""
    directory = tempfile.mkdtemp(prefix=prefix)
    args = ["up", "--dir", directory, "--brokers", str(brokers),
            "--routers", str(routers), "--shadowd", str(shadowd),
            "--rulesd", str(rulesd),
            "--base-port", str(pick_base_port(brokers, routers, lb=lb,
                                              redis_ha=redis_ha))]
    if lb:
        args.append("--lb")
    if redis_ha:
        args.append("--redis-ha")
    if os.environ.get("STRATA_BIN_DIR"):
        args += ["--bin-dir", os.environ["STRATA_BIN_DIR"]]
    return directory, subprocess.run(
        _cluster_cmd(*args), env=run_env, cwd=ROOT, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, timeout=120)


@contextlib.contextmanager
def start_cluster(name, brokers=BROKERS, routers=ROUTERS, prefix="strata-it-",
                  health_check=True, env=None, lb=False, redis_ha=False,
                  shadowd=0, rulesd=0):
    """Run `cluster.sh up` in a fresh temporary directory and yield the
    Cluster; `cluster.sh down` when the block ends.  `name` is the fixture
    that provides it: tests using that fixture get its log tails on
    failure and, when health_check is true, the daemons_stay_healthy check
    (a test that kills a daemon on purpose passes False).  Sanitizer
    reports written at exit (LeakSanitizer) fail the teardown; the
    directory is then kept for inspection.  env: more variables for the
    daemons (STRATA_* options).  lb: `cluster.sh --lb`, HAProxy in front
    of the brokers' PROXY listeners (Cluster.lb_port and friends).
    redis_ha: `cluster.sh --redis-ha`, a Redis primary with two replicas
    and three sentinels (Cluster.redis_* by role).  shadowd: how many
    strata-shadowd (`cluster.sh --shadowd`; default none, but the shared
    cluster has one; the port picks reserve the first one's); rulesd the
    same for strata-rulesd (`cluster.sh --rulesd`)."""
    if not os.path.exists(CLUSTER_SH):
        pytest.fail("%s does not exist" % CLUSTER_SH)
    run_env = dict(os.environ)
    run_env.setdefault("STRATA_KEEPALIVE_MIN", "1")
    # throttling's limits out of the tests' reach (daemons.py says why)
    for k, v in daemons.NO_THROTTLE_ENV.items():
        run_env.setdefault(k, v)
    run_env.update(env or {})
    # Another worker may take a port between the pick and the bind (the
    # picks are only probes): a start that failed on a port in use is
    # tried again on new ports, at most three times.
    for attempt in range(3):
        directory, up = _cluster_up(prefix, run_env, brokers, routers, lb,
                                    redis_ha, shadowd, rulesd)
        endpoints = os.path.join(directory, "endpoints.env")
        if up.returncode == 0 and os.path.exists(endpoints):
            break
        tails = log_tails(os.path.join(directory, "logs"))
        subprocess.run(_cluster_cmd("down", "--dir", directory), cwd=ROOT,
                       timeout=60)
        out = up.stdout.decode("utf-8", "replace")
        if attempt < 2 and ("already in use" in out or
                            "already in use" in tails):
            shutil.rmtree(directory, ignore_errors=True)
            continue
        pytest.fail("cluster.sh up failed (rc %d):\n%s\n%s" % (
            up.returncode, out, tails), pytrace=False)
    c = Cluster(directory, parse_env_file(endpoints), health_check)
    _active[name] = c
    try:
        yield c
    finally:
        _active.pop(name, None)
        down = subprocess.run(_cluster_cmd("down", "--dir", directory),
                              cwd=ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, timeout=60)
        # Reports written at exit (LeakSanitizer) show up only now; they
        # fail the last test that used the cluster at teardown.
        reports = c.new_sanitizer_reports()
        if down.returncode == 0 and not reports:
            shutil.rmtree(directory, ignore_errors=True)
        elif down.returncode != 0:
            print("cluster.sh down failed (rc %d), left %s:\n%s" % (
                down.returncode, directory,
                down.stdout.decode("utf-8", "replace")))
        assert not reports, "sanitizer reports at shutdown (logs in %s):" \
            "\n%s" % (directory, "\n".join(reports[:40]))


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "stratactl_wire: stratactl's requests and output "
        "against a fake admin API in the test (no cluster)")


@pytest.fixture(scope="session")
def cluster():
    with start_cluster("cluster", shadowd=1, rulesd=1) as c:
        yield c


@pytest.fixture(autouse=True)
def daemons_stay_healthy(request):
    """After each test that used a cluster: every daemon is still
    running and no sanitizer report appeared in a log.  Bad input must
    never crash a process (DESIGN guarantee 4)."""
    yield
    problems = []
    for name, c in sorted(_active.items()):
        if not c.health_check or name not in request.fixturenames:
            continue
        dead = c.dead_processes()
        reports = c.new_sanitizer_reports()
        if dead or reports:
            problems.append("%s: daemon processes gone: %r; sanitizer "
                            "reports:\n%s" % (name, dead,
                                              "\n".join(reports[:40])))
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Attach the daemons' log tails to the report of a failed test."""
    outcome = yield
    rep = outcome.get_result()
    if not rep.failed or rep.when not in ("setup", "call", "teardown"):
        return
    for name, c in sorted(_active.items()):
        if name in item.fixturenames:
            title = "strata daemon logs"
            if name != "cluster":
                title += " (%s)" % name
            rep.sections.append((title, c.log_tails()))


@pytest.fixture(params=["3.1.1", "5"])
def proto(request):
    """The MQTT protocol under test: paho's constant (V311 or V5)."""
    return mqttc.PROTOCOLS[request.param]


@pytest.fixture
def clients(cluster):
    """Factory of paho clients, all closed at the end of the test:
    clients(proto, broker=0, **Client kwargs) -> connected Client."""
    made = []

    def make(protocol, broker=0, connect=True, keepalive=10, **kwargs):
        c = mqttc.Client(protocol, **kwargs)
        made.append(c)
        if connect:
            c.connect(cluster.host, cluster.mqtt_ports[broker], keepalive)
        return c

    yield make
    for c in made:
        c.close()


@pytest.fixture
def jsclients():
    """Factory of MQTT.js clients (mqttjs.JsClient, for what Paho 1.6
    cannot do), all closed at the end of the test.  Node.js and
    tests/js/node_modules must be there (deploy/deps.sh; `npm ci` is run
    here when the modules are missing)."""
    import mqttjs
    err = mqttjs.ensure_installed()
    if err is not None:
        pytest.fail(err, pytrace=False)
    made = []

    def make():
        c = mqttjs.JsClient()
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()


@pytest.fixture
def raws():
    """Tracks raw connections: raws(conn) returns conn, and every tracked
    connection is closed at the end of the test."""
    made = []

    def track(conn):
        made.append(conn)
        return conn

    yield track
    for conn in made:
        conn.close()


@pytest.fixture
def witness(cluster, clients, proto):
    """A subscriber on broker 0 connected before a test's bad input;
    check() publishes through a new connection and asserts it arrives:
    bad input hurt only its own connection."""
    topic = mqttc.unique() + "/witness"
    sub = clients(proto, 0)
    sub.subscribe(topic, 1)

    class Witness:
        @staticmethod
        def check():
            payload = uuid.uuid4().hex.encode()
            clients(proto, 0).publish(topic, payload, 1)
            msg = sub.get(topic=topic)
            assert msg.payload == payload

    return Witness


@pytest.fixture
def made():
    """Closes every client (paho, raw, stream) it is given at the end of
    the test; one that fails to close does not hide the others."""
    things = []
    yield things
    for t in things:
        try:
            t.close()
        except Exception:
            pass


@pytest.fixture
def extra_broker(cluster):
    """extra_broker(*args) -> one more broker (daemons.Broker), on the
    shared cluster's Redis and routers, with options of the test's own;
    ready when returned, stopped (exit 0, no sanitizer report) after the
    test."""
    made = []

    def start(*args):
        b = daemons.Broker(cluster.redis_port, cluster.join_args() +
                           list(args))
        made.append(b)
        return b.wait_ready()

    yield start
    for b in made:
        reports = b.sanitizer_reports()
        assert b.stop() == 0, b.log_text()[-2000:]
        assert not reports, reports

