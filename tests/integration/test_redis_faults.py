"""Redis faults: stopped (SIGSTOP), continued, killed and restarted.

Each test runs a cluster of its own (2 brokers, 1 router; daemons.py),
with a short Redis deadline (redis-timeout 1000 ms) so that a stopped
Redis is noticed quickly.  What must hold:
  - a CONNECT that needs the session registry while Redis does not
    answer is refused within the deadline: CONNACK 0x88 Server
    unavailable (MQTT 5) or 0x03 (3.1.1), and counted;
  - a client that closes while it waits is noticed at once (its
    connection is freed before the deadline);
  - clients already connected keep exchanging QoS 1 messages: the message
    path does not need Redis, and nothing acknowledged is lost;
  - when Redis answers again (SIGCONT, or a new process on the same port
    with the same data), every daemon recovers without a restart: new
    clients connect, the routers keep or reclaim their partitions, and
    retained messages written before are still there (AOF);
  - a persistent session's subscription made while Redis did not answer
    is written to Redis once it answers again (the session is rewritten
    whole).
"""

import signal
import time
import uuid

import pytest

import rawmqtt
from daemons import (metric, own_cluster, redis_cmdline, redis_restart,
                     redis_signal)
from mqttc import V5, V311, Client, unique

TIMEOUT_MS = 1000
SERVER_UNAVAILABLE = {V5: 0x88, V311: 0x03}


@pytest.fixture
def own():
    with own_cluster("own", brokers=2, routers=1,
                     env={"STRATA_REDIS_TIMEOUT": str(TIMEOUT_MS)}) as c:
        try:
            yield c
        finally:
            try:
                redis_signal(c, signal.SIGCONT)
            except OSError:
                pass


def connect_raw(c, broker, proto, client_id=None):
    conn = rawmqtt.RawClient("127.0.0.1", c.mqtt_ports[broker], proto)
    conn.send(rawmqtt.connect(client_id or "it-rf-" + uuid.uuid4().hex[:10],
                              proto))
    return conn


def paho(c, broker, proto):
    cl = Client(proto)
    cl.connect("127.0.0.1", c.mqtt_ports[broker], 30)
    return cl


def round_trip(c, proto, count=20):
    """QoS 1 from broker 1 to a subscriber on broker 0: every message."""
    topic = unique() + "/rt"
    sub = paho(c, 0, proto)
    pub = paho(c, 1, proto)
    try:
        sub.subscribe(topic, 1)
        sent = [b"m%03d" % i for i in range(count)]
        for m in sent:
            pub.publish(topic, m, 1)
        got = [sub.get(topic=topic).payload for _ in sent]
        assert sorted(got) == sent
    finally:
        sub.close()
        pub.close()


def wait_for(cond, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError("not within %.1fs: %s" % (timeout, what))


@pytest.mark.parametrize("proto", [V5, V311], ids=["5", "3.1.1"])
def test_stopped_redis_refuses_connect_within_deadline(own, proto):
    redis_signal(own, signal.SIGSTOP)
    start = time.monotonic()
    conn = connect_raw(own, 0, proto)
    got = conn.wait_closed(timeout=TIMEOUT_MS / 1000 + 3)
    took = time.monotonic() - start
    conn.close()
    assert [(p.type, p.reason) for p in got] == [
        (rawmqtt.CONNACK, SERVER_UNAVAILABLE[proto])]
    assert took < TIMEOUT_MS / 1000 + 1.5, took
    assert metric(own.broker_metrics_ports[0],
                  "strata_broker_registry_unavailable_total") >= 1


def test_client_leaving_while_waiting_is_freed(own):
    """The waiting connection is not read, yet its close is seen at once
    (well before the Redis deadline) and its descriptor freed."""
    redis_signal(own, signal.SIGSTOP)
    port = own.broker_metrics_ports[0]
    base = metric(port, "strata_broker_connections", 'listener="tcp"')
    conn = connect_raw(own, 0, V5)
    wait_for(lambda: metric(port, "strata_broker_connections",
                            'listener="tcp"') == base + 1, 2, "connected")
    time.sleep(0.1)
    conn.abort()
    start = time.monotonic()
    wait_for(lambda: metric(port, "strata_broker_connections",
                            'listener="tcp"') == base, 2, "freed")
    assert time.monotonic() - start < TIMEOUT_MS / 1000


def test_connected_clients_keep_working_while_redis_stopped(own):
    """The message path needs no Redis: connected clients round-trip
    QoS 1 messages across brokers while Redis is stopped, none lost."""
    topic = unique() + "/live"
    sub = paho(own, 0, V5)
    pub = paho(own, 1, V311)
    sub.subscribe(topic, 1)
    redis_signal(own, signal.SIGSTOP)
    try:
        sent = [b"s%03d" % i for i in range(200)]
        for m in sent:
            pub.publish(topic, m, 1)
        got = [sub.get(topic=topic).payload for _ in sent]
        assert sorted(got) == sent
    finally:
        redis_signal(own, signal.SIGCONT)
        sub.close()
        pub.close()


def test_recovers_after_continue(own):
    """After SIGCONT every daemon serves again without a restart: new
    CONNECTs (both versions) get a session, messages flow, the router
    still owns its partitions."""
    redis_signal(own, signal.SIGSTOP)
    conn = connect_raw(own, 1, V5)
    conn.wait_closed(timeout=TIMEOUT_MS / 1000 + 3)
    conn.close()
    time.sleep(TIMEOUT_MS / 1000 + 0.5)  # the daemons gave up on Redis
    redis_signal(own, signal.SIGCONT)
    for broker in (0, 1):
        wait_for(lambda: _connects(own, broker, V5), 10,
                 "CONNECT accepted on broker %d" % broker)
    for proto in (V5, V311):
        round_trip(own, proto)
    assert metric(own.router_metrics_ports[0],
                  "strata_router_partitions_owned") == 1024


def test_subscription_written_again_after_redis_stalled(own):
    """A persistent session's SUBSCRIBE while Redis does not answer: the
    SUBACK comes once the write's deadline has passed, the write counts
    as a session store error and marks the session dirty, and once Redis
    answers again the session is written again whole, the new filter
    with it (docs/internals/cluster.md, "Held by a broker")."""
    port = own.broker_metrics_ports[0]
    errors = "strata_broker_session_store_errors_total"
    rewrites = "strata_broker_session_store_rewrites_total"
    cid = "it-rf-sub-" + uuid.uuid4().hex[:8]
    topic = unique() + "/stalled"
    cl = Client(V5, client_id=cid)
    cl.connect("127.0.0.1", own.mqtt_ports[0], 30, clean_start=True,
               session_expiry=3600)
    errors0, rewrites0 = metric(port, errors), metric(port, rewrites)
    redis_signal(own, signal.SIGSTOP)
    try:
        cl.subscribe(topic, 1)
    finally:
        redis_signal(own, signal.SIGCONT)
    try:
        assert metric(port, errors) > errors0
        wait_for(lambda: metric(port, rewrites) > rewrites0, 10,
                 "the dirty session written again")
        wait_for(lambda: own.redis_cli(
            own.redis_port, "HEXISTS", "strata:subs:{%s}" % cid,
            topic)[1].strip() == "1", 5, "the filter in strata:subs")
    finally:
        cl.close()


def _connects(c, broker, proto):
    conn = connect_raw(c, broker, proto)
    try:
        return conn.recv(3.0).reason == 0
    except (rawmqtt.Closed, TimeoutError):
        return False
    finally:
        conn.close()


def _retain(c, topic, payload):
    conn = rawmqtt.RawClient("127.0.0.1", c.mqtt_ports[0], V5)
    assert conn.handshake("it-rf-ret-" + uuid.uuid4().hex[:8]).reason == 0
    conn.send(rawmqtt.publish(topic, payload, 1, retain=True, version=V5))
    ack = conn.recv_type(rawmqtt.PUBACK)
    conn.close()
    return ack.reason or 0


@pytest.mark.parametrize("how", ["kill", "restart"])
def test_recovers_after_redis_killed(own, how):
    """Redis killed (SIGKILL): connected clients keep working; a CONNECT
    needing the registry is refused 0x88 meanwhile.  Redis started again
    on the same port and data: every daemon reconnects by itself, new
    clients connect and the retained message acknowledged before the
    crash is still delivered (AOF)."""
    topic = unique() + "/kept"
    assert _retain(own, topic, b"before") in (0, 0x10)
    time.sleep(1.2)  # appendfsync everysec
    cmdline = redis_cmdline(own)
    sub = paho(own, 0, V5)
    pub = paho(own, 1, V5)
    live = unique() + "/live"
    sub.subscribe(live, 1)
    redis_signal(own, signal.SIGKILL)
    try:
        for i in range(50):
            pub.publish(live, b"k%02d" % i, 1)
        got = sorted(sub.get(topic=live).payload for _ in range(50))
        assert got == [b"k%02d" % i for i in range(50)]
        conn = connect_raw(own, 0, V5)
        got = conn.wait_closed(timeout=TIMEOUT_MS / 1000 + 3)
        conn.close()
        assert [(p.type, p.reason) for p in got] == [(rawmqtt.CONNACK,
                                                      0x88)]
        if how == "restart":
            redis_restart(own, cmdline)
            for broker in (0, 1):
                wait_for(lambda: _connects(own, broker, V5), 15,
                         "CONNECT accepted on broker %d" % broker)
            round_trip(own, V311)
            late = paho(own, 1, V5)
            late.subscribe(topic, 1)
            msg = late.get(topic=topic)
            assert (msg.payload, msg.retain) == (b"before", True)
            late.close()
    finally:
        sub.close()
        pub.close()
