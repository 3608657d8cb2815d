"""TLS to Redis (--redis-tls): a Redis of this module's own serving TLS
only (--port 0 --tls-port, tls-auth-clients yes), certificates made here
with the openssl command line.

  - a router and a broker given the CA and a client certificate get
    ready, MQTT messages flow through them, and what they write is in
    Redis; the bridge's private directory is 0700 and removed at exit;
  - Redis has no plain-TCP port: RESP in clear on its port is no PING;
  - a daemon given another CA, or no client certificate, is not ready
    and logs why once (the verify error, the alert);
  - redis-tls without redis-tls-ca is a configuration error naming the
    option.
"""

import os
import re
import socket
import subprocess
import time
import urllib.error
import urllib.request

import pytest

import certs
import daemons
from mqttc import V5, V311, Client, unique


def openssl(*args, cwd):
    certs._run(*args, cwd=cwd)


def make_leaf(directory, name, ca, san):
    """A leaf signed by ca (cert, key), with subjectAltName san."""
    key = os.path.join(directory, name + ".key")
    crt = os.path.join(directory, name + ".crt")
    openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out",
            key, cwd=directory)
    openssl("req", "-x509", "-new", "-key", key, "-CA", ca[0], "-CAkey",
            ca[1], "-sha256", "-days", "30", "-subj", "/CN=" + name,
            "-addext", "subjectAltName=" + san, "-addext",
            "basicConstraints=CA:FALSE", "-out", crt, cwd=directory)
    return crt, key


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("redis-pki"))
    ca = certs.make_ca(d, "redis-ca")
    other = certs.make_ca(d, "other-ca")
    return {
        "dir": d,
        "ca": ca[0],
        "other_ca": other[0],
        "server": make_leaf(d, "redis-server", ca, "IP:127.0.0.1"),
        "client": make_leaf(d, "strata-client", ca, "DNS:strata"),
    }


@pytest.fixture(scope="module")
def redis_tls(pki):
    """redis-server with TLS only; its port.  Stopped by PID."""
    port = daemons.free_port()
    d = pki["dir"]
    log = open(os.path.join(d, "redis.log"), "wb")
    proc = subprocess.Popen([
        "redis-server", "--port", "0", "--tls-port", str(port),
        "--bind", "127.0.0.1", "--tls-cert-file", pki["server"][0],
        "--tls-key-file", pki["server"][1], "--tls-ca-cert-file", pki["ca"],
        "--tls-auth-clients", "yes", "--save", "", "--appendonly", "no",
        "--dir", d, "--daemonize", "no"], stdout=log, stderr=log)
    log.close()
    try:
        daemons.wait_port(port, proc)
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def tls_args(pki, ca=None, client=True):
    args = ["--redis-tls", "yes", "--redis-tls-ca", ca or pki["ca"]]
    if client:
        args += ["--redis-tls-cert", pki["client"][0],
                 "--redis-tls-key", pki["client"][1]]
    return args


def healthz(port):
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/healthz" % port,
                                    timeout=1) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return 0


def wait_for(cond, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError("not within %.1fs: %s" % (timeout, what))


def redis_cli(pki, port, *args):
    r = subprocess.run(
        ["redis-cli", "-h", "127.0.0.1", "-p", str(port), "--tls",
         "--cacert", pki["ca"], "--cert", pki["client"][0], "--key",
         pki["client"][1]] + list(args),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=10)
    return r.stdout.decode("utf-8", "replace")


def round_trip(port, proto):
    topic = unique() + "/tls"
    sub, pub = Client(proto), Client(proto)
    try:
        sub.connect("127.0.0.1", port)
        pub.connect("127.0.0.1", port)
        sub.subscribe(topic, 1)
        pub.publish(topic, b"over TLS to Redis", 1)
        assert sub.get(topic=topic).payload == b"over TLS to Redis"
    finally:
        sub.close()
        pub.close()


def bridge_dirs(daemon):
    """The private directories a daemon's debug log names."""
    return sorted(set(os.path.dirname(p) for p in re.findall(
        r'msg="tls bridge" addr=\S+ path=(\S+)', daemon.log_text())))


def test_cluster_over_tls(pki, redis_tls):
    args = tls_args(pki) + ["--log-level", "debug"]
    router = daemons.Router(redis_tls, args)
    broker = daemons.Broker(redis_tls, args)
    try:
        broker.wait_ready(20)
        # the router's readiness may trail the broker's under load
        deadline = time.monotonic() + 20
        while healthz(router.metrics_port) != 200 and \
                time.monotonic() < deadline:
            time.sleep(0.1)
        assert healthz(router.metrics_port) == 200
        for proto in (V5, V311):
            round_trip(broker.port, proto)
        # what the daemons wrote went to this Redis
        keys = redis_cli(pki, redis_tls, "--scan", "--pattern", "strata:*")
        assert "strata:" in keys, keys
        for d in (router, broker):
            assert "tls failed" not in d.log_text()
            dirs = bridge_dirs(d)
            assert dirs, d.log_text()[-2000:]
            for path in dirs:
                assert os.stat(path).st_mode & 0o777 == 0o700
        assert daemons.metric(router.metrics_port,
                              "strata_router_redis_up") == 1
    finally:
        assert broker.stop() == 0
        assert router.stop() == 0
    for d in (router, broker):
        for path in bridge_dirs(d):
            assert not os.path.exists(path), "%s left behind" % path
        assert not d.sanitizer_reports()


def test_large_write_over_tls(pki, redis_tls):
    """A retained message of 3 MiB (more than the bridge lets one side
    hold for the other) reaches Redis whole."""
    args = tls_args(pki)
    router = daemons.Router(redis_tls, args)
    broker = daemons.Broker(redis_tls, args + ["--max-payload", "8388608"])
    topic = unique() + "/big"
    payload = os.urandom(3 * 1024 * 1024)
    pub = Client(V5)
    try:
        broker.wait_ready(20)
        pub.connect("127.0.0.1", broker.port)
        # PUBACK: in Redis.  3 MiB through TLS, under the sanitizers on
        # a loaded machine, maybe behind the router's take-over of the
        # partition (it routes only once it serves it)
        pub.publish(topic, payload, 1, retain=True, timeout=30)
        lengths = []
        for key in redis_cli(pki, redis_tls, "--scan", "--pattern",
                             "strata:retained:*").split():
            lengths.append(int(redis_cli(pki, redis_tls, "HSTRLEN", key,
                                         topic)))
        assert max(lengths) >= len(payload), lengths
    finally:
        pub.close()
        assert broker.stop() == 0
        assert router.stop() == 0
    assert not broker.sanitizer_reports()
    assert not router.sanitizer_reports()


def test_redis_has_no_plain_port(redis_tls):
    """--port 0: RESP in clear reaches no Redis, only a TLS handshake
    that fails."""
    s = socket.create_connection(("127.0.0.1", redis_tls), 2)
    try:
        s.settimeout(2)
        s.sendall(b"*1\r\n$4\r\nPING\r\n")
        try:
            answer = s.recv(100)
        except (ConnectionResetError, socket.timeout):
            answer = b""
        assert not answer.startswith(b"+PONG"), answer
    finally:
        s.close()


@pytest.mark.parametrize("kind,case,logged", [
    ("router", "wrong-ca", "certificate verify failed"),
    ("broker", "wrong-ca", "certificate verify failed"),
    ("router", "no-client-cert", "certificate required"),
])
def test_refused_tls_is_not_ready(pki, redis_tls, kind, case, logged):
    if case == "wrong-ca":
        args = tls_args(pki, ca=pki["other_ca"])
    else:
        args = tls_args(pki, client=False)
    cls = daemons.Broker if kind == "broker" else daemons.Router
    d = cls(redis_tls, args)
    try:
        wait_for(lambda: logged in d.log_text(), 10, logged + " logged")
        series = "strata_%s_redis_connect_failures_total" % kind
        wait_for(lambda: daemons.metric(d.metrics_port, series,
                                        'reason="network"') >= 3,
                 10, "failures counted and retried")
        assert healthz(d.metrics_port) == 503
        lines = [l for l in d.log_text().splitlines()
                 if "tls failed" in l and "level=warn" in l]
        assert lines and "addr=127.0.0.1:%d" % redis_tls in lines[0], lines
        # once per series, not once per retry (a broker has several
        # Redis clients, each logs its own: the main one and the
        # subscribers of its node channel, the registry's changes,
        # Detect's and the traces' control channels)
        assert len(lines) <= 5, lines
        assert d.alive()
    finally:
        assert d.stop() == 0
    assert not d.sanitizer_reports()


@pytest.mark.parametrize("args,named", [
    (["--redis-tls", "yes"], "redis-tls-ca"),
    (["--redis-tls-ca", "/nonexistent/ca.pem"], "redis-tls"),
    (["--redis-tls", "yes", "--redis-tls-ca", "/nonexistent/ca.pem"],
     "redis-tls-ca /nonexistent/ca.pem"),
])
def test_config_errors(args, named):
    d = daemons.Router(1, args)
    try:
        assert d.wait_exit(10) == 2
        assert named in d.log_text(), d.log_text()
    finally:
        d.stop()


@pytest.fixture(scope="module")
def sentinel_tls(pki, redis_tls):
    """One sentinel serving TLS only, watching redis_tls as `strata`;
    its port.  Stopped by PID."""
    port = daemons.free_port()
    d = pki["dir"]
    conf = os.path.join(d, "sentinel.conf")
    with open(conf, "w") as f:
        f.write("port 0\ntls-port %d\nbind 127.0.0.1\n"
                "tls-cert-file %s\ntls-key-file %s\ntls-ca-cert-file %s\n"
                "tls-replication yes\ndir %s\n"
                "sentinel monitor strata 127.0.0.1 %d 1\n" % (
                    port, pki["server"][0], pki["server"][1], pki["ca"], d,
                    redis_tls))
    log = open(os.path.join(d, "sentinel.log"), "wb")
    proc = subprocess.Popen(["redis-server", conf, "--sentinel"],
                            stdout=log, stderr=log)
    log.close()
    try:
        daemons.wait_port(port, proc)
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def test_sentinel_over_tls(pki, redis_tls, sentinel_tls):
    """Sentinel mode: the sentinel is asked over TLS too, then the
    primary it names."""
    router = daemons.Router(1, tls_args(pki) + [
        "--redis-sentinels", "127.0.0.1:%d" % sentinel_tls,
        "--log-level", "debug"])
    try:
        wait_for(lambda: healthz(router.metrics_port) == 200, 15,
                 "router ready through the sentinel")
        text = router.log_text()
        assert "tls failed" not in text
        for port in (sentinel_tls, redis_tls):
            assert 'msg="tls connected" addr=127.0.0.1:%d' % port in text
    finally:
        assert router.stop() == 0
    assert not router.sanitizer_reports()
