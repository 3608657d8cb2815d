"""Redis wants a password (`cluster.sh` turns AUTH on): its default user
is off, the daemons log in as the ACL user `strata` with the password in
REDIS_PASSWORD_FILE, and with --redis-ha the sentinels have a password
of their own (REDIS_SENTINEL_PASSWORD_FILE).

  - a client without the password, or with a wrong one, is refused by
    Redis; the daemons' user may touch only strata:* keys and may not run
    @dangerous commands; the cluster works;
  - a broker or router given a wrong password logs WRONGPASS, counts the
    failure (strata_*_redis_connect_failures_total{reason="auth"}), is
    not ready on /healthz, and is ready once restarted with the right
    password file;
  - an unreadable password file is a configuration error (exit 2)
    naming the option;
  - a script's writes survive a Redis restart (AOF replay under the
    ACL);
  - a --redis-ha cluster with AUTH everywhere fails over: the primary is
    killed, a replica promoted, every daemon follows with its password,
    messages flow; a daemon with a wrong sentinel password is not ready
    and says why.
"""

import os
import signal
import socket
import time
import urllib.error
import urllib.request

import pytest

import conftest
import daemons
from daemons import metric
from mqttc import V5, V311, Client, unique

AUTH = 'reason="auth"'


@pytest.fixture(scope="module")
def auth():
    """A cluster of this module's own: the tests add daemons with wrong
    passwords to it (a router joining moves partitions)."""
    with conftest.start_cluster("auth", brokers=1, routers=1) as c:
        yield c


def healthz(port):
    """The HTTP status of /healthz on port (0: no answer)."""
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


def round_trip(c, proto, broker_sub=0, broker_pub=0):
    topic = unique() + "/auth"
    sub = Client(proto)
    pub = Client(proto)
    try:
        sub.connect(c.host, c.mqtt_ports[broker_sub])
        pub.connect(c.host, c.mqtt_ports[broker_pub])
        sub.subscribe(topic, 1)
        pub.publish(topic, b"with a password", 1)
        assert sub.get(topic=topic).payload == b"with a password"
    finally:
        sub.close()
        pub.close()


def write(path, text):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o600)


def test_redis_refuses_clients_without_the_password(auth):
    c = auth
    assert c.redis_user == "strata"
    assert os.stat(c.redis_password_file).st_mode & 0o077 == 0
    rc, out = c.redis_cli(c.redis_port, "PING", auth=False)
    assert "NOAUTH" in out, out
    assert c.redis_cli(c.redis_port, "PING")[1].strip() == "PONG"
    # the daemons' user: strata:* keys, no @dangerous command but ROLE
    assert "NOPERM" in c.redis_cli(c.redis_port, "GET", "other:key")[1]
    assert "NOPERM" in c.redis_cli(c.redis_port, "FLUSHALL")[1]
    assert "NOPERM" in c.redis_cli(c.redis_port, "CONFIG", "GET",
                                   "requirepass")[1]
    assert c.redis_cli(c.redis_port, "ROLE")[1].split()[0] == "master"
    # and the cluster works with it
    for proto in (V5, V311):
        round_trip(c, proto)
    assert metric(c.router_metrics_ports[0], "strata_router_redis_up") == 1
    for port in c.broker_metrics_ports:
        assert metric(port, "strata_broker_redis_connect_failures_total",
                      AUTH) == 0
    for port in c.router_metrics_ports:
        assert metric(port, "strata_router_redis_connect_failures_total",
                      AUTH) == 0


def test_wrong_password_is_refused(auth):
    """A client giving a wrong password gets WRONGPASS (the word the
    daemons log)."""
    c = auth
    s = socket.create_connection((c.host, c.redis_port), 2)
    try:
        s.sendall(b"*3\r\n$4\r\nAUTH\r\n$6\r\nstrata\r\n$5\r\nwrong\r\n")
        assert s.recv(200).startswith(b"-WRONGPASS")
    finally:
        s.close()


@pytest.mark.parametrize("kind", ["broker", "router"])
def test_wrong_password_then_restart_with_the_right_one(auth, kind,
                                                        tmp_path):
    c = auth
    pw_file = str(tmp_path / "redis.password")
    write(pw_file, "not-the-password\n")
    cls = daemons.Broker if kind == "broker" else daemons.Router
    args = c.secret_args() + ["--redis-user", c.redis_user,
                              "--redis-password-file", pw_file]
    d = cls(c.redis_port, args)
    try:
        wait_for(lambda: "WRONGPASS" in d.log_text(), 10, "WRONGPASS logged")
        series = "strata_%s_redis_connect_failures_total" % kind
        wait_for(lambda: metric(d.metrics_port, series, AUTH) >= 2, 10,
                 "auth failures counted and retried")
        assert healthz(d.metrics_port) == 503
        line = [l for l in d.log_text().splitlines() if "WRONGPASS" in l][0]
        assert "level=warn" in line and "reason=auth" in line, line
        assert "not-the-password" not in d.log_text()
        assert d.alive()
    finally:
        assert d.stop() == 0
    assert not d.sanitizer_reports()

    with open(c.redis_password_file) as f:
        write(pw_file, f.read())
    d = cls(c.redis_port, args)
    try:
        wait_for(lambda: healthz(d.metrics_port) == 200, 15,
                 "%s ready with the right password" % kind)
        assert metric(d.metrics_port, series, AUTH) == 0
        assert "WRONGPASS" not in d.log_text()
    finally:
        assert d.stop() == 0
    assert not d.sanitizer_reports()
    round_trip(c, V5)


def test_unreadable_password_file_is_a_config_error(auth, tmp_path):
    missing = str(tmp_path / "nope")
    d = daemons.Broker(auth.redis_port, ["--redis-password-file", missing])
    assert d.wait_exit(10) == 2
    assert "redis-password-file %s" % missing in d.log_text()
    d.stop()
    empty = str(tmp_path / "empty")
    write(empty, "\n")
    d = daemons.Router(auth.redis_port, ["--redis-password-file", empty])
    assert d.wait_exit(10) == 2
    assert "redis-password-file %s: the password must be" % empty in \
        d.log_text()
    d.stop()


def test_script_effects_survive_a_redis_restart():
    """Redis 7.0 replays its AOF at start-up as the default user; the
    MULTI/EXEC blocks a script's effects are logged as must still load
    with that user off (cluster.sh keeps its permissions): a script's
    writes are there after kill -9 and a restart, and the restarted
    server logged no NOPERM."""
    with daemons.own_cluster("auth_aof", brokers=1, routers=1) as c:
        key = "strata:test:{%s}" % unique()
        out = c.redis_cli(c.redis_port, "EVAL",
                          "redis.call('SET', KEYS[1], 'a') "
                          "redis.call('SET', KEYS[2], 'b') return 1",
                          2, key + ":1", key + ":2")[1]
        assert out.strip() == "1", out
        time.sleep(1.2)  # appendfsync everysec
        cmdline = daemons.redis_cmdline(c)
        daemons.redis_signal(c, signal.SIGKILL)
        daemons.redis_restart(c, cmdline)
        wait_for(lambda: c.redis_cli(c.redis_port, "PING")[1].strip() ==
                 "PONG", 10, "Redis back")
        assert c.redis_cli(c.redis_port, "MGET", key + ":1",
                           key + ":2")[1].split() == ["a", "b"]
        with open(os.path.join(c.log_dir, "redis-restarted.log")) as f:
            assert "NOPERM" not in f.read()
        wait_for(lambda: round_trip_works(c), 15,
                 "a round trip after the restart")


def round_trip_works(c):
    """round_trip() once; False while a broker still refuses CONNECT
    (0x88: Redis not back for it yet)."""
    try:
        round_trip(c, V5)
        return True
    except (AssertionError, OSError):
        return False


def test_redis_ha_with_auth_fails_over(tmp_path):
    """Every Redis process of --redis-ha wants a password; killing the
    primary still promotes a replica and every daemon follows."""
    with conftest.start_cluster("auth_ha", brokers=1, routers=1,
                                redis_ha=True, health_check=False) as c:
        sentinel = c.redis_sentinel_ports[0]
        assert "NOAUTH" in c.redis_cli(sentinel, "PING", sentinel=True,
                                       auth=False)[1]
        for port in [c.redis_port] + c.redis_replica_ports:
            assert "NOAUTH" in c.redis_cli(port, "PING", auth=False)[1]
        # the replicas logged in to replicate
        for port in c.redis_replica_ports:
            assert "connected" in c.redis_cli(port, "ROLE")[1].split()
        round_trip(c, V311)

        # a broker with a wrong sentinel password: never ready, says why
        bad = str(tmp_path / "sentinel.password")
        write(bad, "not-the-sentinels-password\n")
        stray = daemons.Broker(c.redis_port, c.secret_args() + [
            "--redis-sentinels", c.redis_sentinels,
            "--redis-user", c.redis_user,
            "--redis-password-file", c.redis_password_file,
            "--redis-sentinel-password-file", bad])
        try:
            wait_for(lambda: "no sentinel named the primary" in
                     stray.log_text(), 10, "sentinel failure logged")
            line = [l for l in stray.log_text().splitlines()
                    if "no sentinel named the primary" in l][0]
            assert "AUTH refused" in line and "WRONGPASS" in line, line
            assert metric(stray.metrics_port,
                          "strata_broker_redis_connect_failures_total",
                          'reason="sentinel"') >= 1
            assert metric(stray.metrics_port,
                          "strata_broker_redis_connect_failures_total",
                          AUTH) >= 1
            assert healthz(stray.metrics_port) == 503
        finally:
            assert stray.stop() == 0

        os.kill(c.redis_primary_pid, signal.SIGKILL)

        def followed():
            return (metric(c.broker_metrics_ports[0],
                           "strata_broker_redis_failovers_total") >= 1 and
                    metric(c.router_metrics_ports[0],
                           "strata_router_redis_failovers_total") >= 1)
        wait_for(followed, 30, "daemons on the promoted replica")
        new_port = int(c.redis_cli(sentinel, "SENTINEL",
                                   "get-master-addr-by-name", "strata",
                                   sentinel=True)[1].split()[1])
        assert new_port != c.redis_port
        assert c.redis_cli(new_port, "ROLE")[1].split()[0] == "master"
        wait_for(lambda: healthz(c.broker_metrics_ports[0]) == 200, 15,
                 "broker ready after the failover")
        round_trip(c, V5)
        for port, kind in ((c.broker_metrics_ports[0], "broker"),
                           (c.router_metrics_ports[0], "router")):
            assert metric(port, "strata_%s_redis_connect_failures_total" %
                          kind, AUTH) == 0
        assert [p for p in c.broker_pids + c.router_pids
                if p in c.dead_processes()] == []
