"""Extra daemons and whole clusters of a test's own.

Most tests share the session cluster of conftest.py.  A test that needs
other options than the shared cluster's (a small bound, the default
keepalive, a wrong partition scheme) starts one more broker or router
against the shared cluster's Redis with start_broker()/start_router(); a
test that must hurt Redis itself starts a cluster of its own with
own_cluster().  Everything started here is stopped by PID, with SIGTERM
first, and its log is checked for sanitizer reports.
"""

import contextlib
import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
CLUSTER_SH = os.path.join(ROOT, "deploy", "local", "cluster.sh")
SANITIZER_PATTERNS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                      "runtime error:")


def bin_dir():
    return os.environ.get("STRATA_BIN_DIR") or os.path.join(
        ROOT, "build", "bin")


_sanitized = None


def sanitized():
    """True when the daemons under test are a sanitizer build (they link
    libasan): several times slower, so a test that compares timings
    allows more."""
    global _sanitized
    if _sanitized is None:
        out = subprocess.run(["ldd", os.path.join(bin_dir(),
                                                  "strata-broker")],
                             stdout=subprocess.PIPE, timeout=10)
        _sanitized = b"libasan" in out.stdout
    return _sanitized


def free_port():
    """A free loopback port below the ephemeral range."""
    import random
    rng = random.Random()
    for _ in range(500):
        port = rng.randrange(10000, 32000)
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
        finally:
            s.close()
    raise RuntimeError("no free port")


def wait_port(port, proc, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("daemon exited (rc %s) before listening on "
                               "%d" % (proc.returncode, port))
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("nothing listens on port %d" % port)


def metric(port, name, labels=None, timeout=2.0):
    """The value of one series on a /metrics port (0 when absent)."""
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port,
                                timeout=timeout) as r:
        text = r.read().decode()
    want = name if labels is None else "%s{%s}" % (name, labels)
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        key, _, value = line.rpartition(" ")
        if key == want:
            return float(value)
    return 0.0


class Daemon:
    """One strata process started by a test."""

    def __init__(self, kind, args, env=None, log_dir=None):
        self.kind = kind
        self.log_dir = log_dir or tempfile.mkdtemp(prefix="strata-extra-")
        self.log_path = os.path.join(self.log_dir, "%s-%d.log" % (
            kind, int(time.monotonic() * 1000)))
        full_env = dict(os.environ)
        for key in list(full_env):
            if key.startswith("STRATA_") and key != "STRATA_BIN_DIR":
                del full_env[key]
        full_env.update(env or {})
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [os.path.join(bin_dir(), "strata-" + kind)] + list(args),
            stdout=self.log, stderr=subprocess.STDOUT, env=full_env)
        self.pid = self.proc.pid

    def alive(self):
        return self.proc.poll() is None

    def wait_exit(self, timeout=10.0):
        return self.proc.wait(timeout)

    def log_text(self):
        if not self.log.closed:
            self.log.flush()
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def sanitizer_reports(self):
        return [line for line in self.log_text().splitlines()
                if any(p in line for p in SANITIZER_PATTERNS)]

    def stop(self):
        """SIGTERM, then SIGKILL after 10 s; returns the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.log.close()
        return self.proc.returncode


# Limits the tests do not reach (conftest.start_cluster sets the same):
# several publish hundreds of messages at once on one connection, write
# megabytes in one go (test_subscribe_order's busy link), subscribe in
# bursts or reconnect a client id at once, over AWS IoT's per-connection
# rates.  The buckets still run on every test's path; test_throttle.py
# tests the limits on a cluster of its own.
NO_THROTTLE_ENV = {"STRATA_THROTTLE_PUBLISH_RATE": "100000",
                   "STRATA_THROTTLE_INBOUND_BYTES": "1000000000",
                   "STRATA_THROTTLE_SUBSCRIBE_RATE": "100000",
                   "STRATA_THROTTLE_CONNECT_CLIENT_RATE": "100000"}


class Broker(Daemon):
    def __init__(self, redis_port, args=(), env=None, node_id=None):
        env = dict(NO_THROTTLE_ENV, **(env or {}))
        self.port = free_port()
        self.metrics_port = free_port()
        self.node_id = node_id or "it-broker-%d" % self.port
        super().__init__("broker", [
            "--node-id", self.node_id, "--bind", "127.0.0.1",
            "--port", str(self.port), "--tls-port", "0",
            "--ws-port", "0", "--wss-port", "0",
            "--metrics-port", str(self.metrics_port),
            "--redis-host", "127.0.0.1", "--redis-port", str(redis_port),
        ] + list(args), env)

    def wait_ready(self, timeout=10.0):
        wait_port(self.port, self.proc, timeout)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(
                        "http://127.0.0.1:%d/healthz" % self.metrics_port,
                        timeout=1) as r:
                    if r.status == 200:
                        return self
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("broker not ready:\n" + self.log_text()[-3000:])

    def metric(self, name, labels=None):
        return metric(self.metrics_port, name, labels)


class Router(Daemon):
    def __init__(self, redis_port, args=(), env=None, node_id=None):
        self.port = free_port()
        self.metrics_port = free_port()
        self.node_id = node_id or "it-router-%d" % self.port
        super().__init__("router", [
            "--node-id", self.node_id, "--bind", "127.0.0.1",
            "--port", str(self.port),
            "--metrics-port", str(self.metrics_port),
            "--redis-host", "127.0.0.1", "--redis-port", str(redis_port),
        ] + list(args), env)


@contextlib.contextmanager
def own_cluster(name, brokers=1, routers=1, env=None):
    """A cluster of the test's own (conftest.start_cluster, registered
    under the fixture `name` for log tails), whose Redis the test may
    stop, kill and restart: redis_* helpers below.  A restarted Redis is
    stopped at the end; the strata daemons (not Redis) must still run."""
    from conftest import start_cluster
    with start_cluster(name, brokers, routers, prefix="strata-own-",
                       health_check=False, env=env) as c:
        c.redis_pid = c.pids[0]
        c.extra = []
        try:
            yield c
        finally:
            for proc in c.extra:
                if proc.poll() is None:
                    proc.terminate()
                    try:
                        proc.wait(10)
                    except subprocess.TimeoutExpired:
                        proc.kill()
                        proc.wait(5)
            dead = [pid for pid in c.dead_processes() if pid != c.pids[0]]
            reports = c.new_sanitizer_reports()
            assert not dead, "daemons died: %r" % dead
            assert not reports, "\n".join(reports[:40])


def redis_cmdline(c):
    """The command line cluster.sh starts c's Redis with (Redis rewrites
    its own argv, so /proc cannot tell): its configuration file (the ACL
    users) first."""
    return ["redis-server", os.path.join(c.dir, "redis", "redis.conf"),
            "--bind", "127.0.0.1", "--port",
            str(c.redis_port), "--save", "", "--appendonly", "yes",
            "--appendfsync", "everysec", "--dir",
            os.path.join(c.dir, "redis"), "--daemonize", "no"]


def redis_signal(c, sig):
    os.kill(c.redis_pid, sig)


def redis_restart(c, cmdline):
    """Start c's Redis again with cmdline (the old process is gone)."""
    log = open(os.path.join(c.log_dir, "redis-restarted.log"), "ab")
    proc = subprocess.Popen(cmdline, stdout=log, stderr=log)
    log.close()
    c.extra.append(proc)
    c.redis_pid = proc.pid
    wait_port(c.redis_port, proc)
    return proc
