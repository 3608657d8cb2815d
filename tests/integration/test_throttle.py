"""Per-connection throttling (docs/internals/throttle.md) on a cluster of
its own with small limits: 20 publishes/s, 5 subscription filters/s,
16 KiB/s inbound, a client held at the publish limit for 3 s
disconnected, one CONNECT per second per client id (AWS IoT's), and an
extra broker with 3 connections per second per address.  Real clients: Paho for the neighbours and subscribers;
hand-made packets (rawmqtt) where a test needs the reason code of each
PUBACK, which Paho 1.6 does not report, or a burst in one write."""

import threading
import time
import uuid

import pytest

import rawmqtt
import conftest
from mqttc import V311, V5, Client, unique

PUBLISH_RATE = 20
SUBSCRIBE_RATE = 5
INBOUND_BYTES = 16384
DISCONNECT_AFTER = 3


@pytest.fixture(scope="module")
def throttle_cluster():
    env = {"STRATA_THROTTLE_PUBLISH_RATE": str(PUBLISH_RATE),
           "STRATA_THROTTLE_SUBSCRIBE_RATE": str(SUBSCRIBE_RATE),
           "STRATA_THROTTLE_INBOUND_BYTES": str(INBOUND_BYTES),
           "STRATA_THROTTLE_DISCONNECT_AFTER": str(DISCONNECT_AFTER),
           "STRATA_THROTTLE_CONNECT_CLIENT_RATE": "1"}
    with conftest.start_cluster("throttle_cluster", brokers=1, env=env) as c:
        yield c


def _throttled(cluster, reason):
    import daemons
    return daemons.metric(cluster.broker_metrics_ports[0],
                          "strata_broker_throttled_total",
                          'reason="%s"' % reason)


def _client(cluster, proto, **kw):
    c = Client(proto, **kw)
    c.connect(cluster.host, cluster.mqtt_ports[0])
    return c


def _raw(cluster, proto):
    conn = rawmqtt.RawClient(cluster.host, cluster.mqtt_ports[0], proto)
    assert conn.handshake("it-thr-" + uuid.uuid4().hex[:8]).reason == 0
    return conn


def _collect(sub, want, timeout):
    """(messages, arrival times) until `want` arrived or timeout."""
    got, times = [], []
    deadline = time.monotonic() + timeout
    while len(got) < want and time.monotonic() < deadline:
        try:
            got.append(sub.get(timeout=max(0.05,
                                           deadline - time.monotonic())))
        except AssertionError:
            break
        times.append(time.monotonic())
    return got, times


def test_v5_excess_gets_0x96_neighbour_untouched(throttle_cluster):
    """An MQTT 5 client publishing QoS 1 at 3x the limit for 2 s gets
    PUBACK 0x96 on the excess and only its accepted messages are
    delivered; a neighbour publishing at half the limit at the same time
    gets no refusal and all its messages arrive."""
    c = throttle_cluster
    base = unique("thr")
    sub = _client(c, V5)
    sub.subscribe(base + "/#", 1)
    before = _throttled(c, "publish_rate")
    fast = _raw(c, V5)
    neighbour = _client(c, V5)
    n_neigh = PUBLISH_RATE  # 2 s at half the limit

    def neighbour_publishes():
        for i in range(n_neigh):
            neighbour.publish(base + "/slow", b"%d" % i, qos=1)
            time.sleep(2.0 / n_neigh)

    t = threading.Thread(target=neighbour_publishes)
    t.start()
    n_fast = 6 * PUBLISH_RATE  # 3x the limit for 2 s
    start = time.monotonic()
    for i in range(n_fast):
        fast.send(rawmqtt.publish(base + "/fast", b"%d" % i, qos=1,
                                  packet_id=i + 1, version=V5))
        time.sleep(max(0.0, start + (i + 1) * 2.0 / n_fast -
                       time.monotonic()))
    reasons = {}
    for _ in range(n_fast):
        ack = fast.recv_type(rawmqtt.PUBACK)
        reasons[ack.packet_id] = ack.reason or 0
    t.join(10)
    accepted = [p for p, r in reasons.items() if r == 0]
    refused = [p for p, r in reasons.items() if r == 0x96]
    assert len(accepted) + len(refused) == n_fast, reasons
    # a burst of one second, then the rate: 20 + 2 s x 20, give or take
    # the ticks of the clock
    assert 2 * PUBLISH_RATE <= len(accepted) <= 4 * PUBLISH_RATE, reasons
    assert len(refused) >= PUBLISH_RATE, reasons
    msgs, _ = _collect(sub, len(accepted) + n_neigh, 10)
    fast_got = sorted(int(m.payload) + 1 for m in msgs
                      if m.topic.endswith("/fast"))
    slow_got = sorted(int(m.payload) for m in msgs
                      if m.topic.endswith("/slow"))
    assert fast_got == sorted(accepted)
    assert slow_got == list(range(n_neigh))
    assert sub.drain() == []
    assert _throttled(c, "publish_rate") - before >= len(refused)
    fast.close()
    neighbour.close()
    sub.close()


def test_v311_slowed_to_the_limit(throttle_cluster):
    """A 3.1.1 client that writes 3 s of publishes at once is read at
    the limit: every message arrives (none lost), the last after about
    (n - burst) / rate seconds."""
    c = throttle_cluster
    base = unique("thr")
    sub = _client(c, V311)
    sub.subscribe(base + "/#", 0)
    before = _throttled(c, "publish_rate")
    pub = _raw(c, V311)
    n = 3 * PUBLISH_RATE  # burst + 2 s: under the 3 s disconnect
    start = time.monotonic()
    pub.send(b"".join(rawmqtt.publish(base + "/m", b"%d" % i)
                      for i in range(n)))
    msgs, times = _collect(sub, n, 10)
    assert [int(m.payload) for m in msgs] == list(range(n))
    elapsed = times[-1] - start
    expect = (n - PUBLISH_RATE) / PUBLISH_RATE
    assert expect * 0.75 <= elapsed <= expect + 1.5, elapsed
    # the rate observed after the burst is about the limit
    rate = (n - PUBLISH_RATE - 1) / (times[-1] - times[PUBLISH_RATE])
    assert PUBLISH_RATE * 0.6 <= rate <= PUBLISH_RATE * 1.5, rate
    assert _throttled(c, "publish_rate") > before
    pub.send(rawmqtt.pingreq())
    assert pub.recv_type(rawmqtt.PINGRESP, timeout=5).type == \
        rawmqtt.PINGRESP
    pub.close()
    sub.close()


@pytest.mark.parametrize("transport", ["tcp", "websockets"])
def test_paho_v311_publisher_slowed(throttle_cluster, transport):
    """A Paho 3.1.1 client publishing QoS 1 as fast as it can, over TCP
    and over WebSocket (whose input goes through a bufferevent): every
    publish is acknowledged and delivered, at about the limit."""
    c = throttle_cluster
    base = unique("thr")
    sub = _client(c, V311)
    sub.subscribe(base + "/#", 1)
    pub = Client(V311, transport=transport)
    pub.connect(c.host, c.ws_ports[0] if transport == "websockets"
                else c.mqtt_ports[0])
    n = 3 * PUBLISH_RATE
    start = time.monotonic()
    infos = [pub.paho.publish(base + "/p", b"%d" % i, 1) for i in range(n)]
    for info in infos:
        info.wait_for_publish(10)
        assert info.is_published()
    msgs, times = _collect(sub, n, 10)
    assert sorted(int(m.payload) for m in msgs) == list(range(n))
    elapsed = times[-1] - start
    expect = (n - PUBLISH_RATE) / PUBLISH_RATE
    assert expect * 0.75 <= elapsed <= expect + 1.5, elapsed
    pub.close()
    sub.close()


@pytest.mark.parametrize("proto", [V311, V5])
def test_held_at_the_limit_is_disconnected(throttle_cluster, proto):
    """A client that keeps publishing over the limit (QoS 0) is closed
    after throttle-disconnect-after seconds held at it (MQTT 5: DISCONNECT
    0x96 Message rate too high); what it sent before was delivered."""
    c = throttle_cluster
    base = unique("thr")
    sub = _client(c, V311)
    sub.subscribe(base + "/#", 0)
    pub = _raw(c, proto)
    n = 15 * PUBLISH_RATE  # 15 s of publishes at the limit
    start = time.monotonic()
    pub.send(b"".join(rawmqtt.publish(base + "/m", b"%d" % i, version=proto)
                      for i in range(n)))
    got = pub.wait_closed(timeout=DISCONNECT_AFTER + 5)
    took = time.monotonic() - start
    assert DISCONNECT_AFTER - 0.5 <= took <= DISCONNECT_AFTER + 3, took
    if proto == V5:
        assert [p.reason for p in got if p.type == rawmqtt.DISCONNECT] == \
            [0x96], got
    msgs = sub.drain(settle=0.5)
    seen = [int(m.payload) for m in msgs]
    assert seen == list(range(len(seen)))
    # the burst and about DISCONNECT_AFTER seconds at the limit
    assert PUBLISH_RATE * (DISCONNECT_AFTER - 1) <= len(seen) < n
    sub.close()


@pytest.mark.parametrize("proto", [V311, V5])
def test_subscribe_rate(throttle_cluster, proto):
    """Filters over throttle-subscribe-rate get SUBACK 0x97 Quota
    exceeded (3.1.1: 0x80); the first ones are granted and work."""
    c = throttle_cluster
    base = unique("thr")
    before = _throttled(c, "subscribe_rate")
    conn = _raw(c, proto)
    filters = [("%s/%d" % (base, i), 0) for i in range(SUBSCRIBE_RATE + 3)]
    conn.send(rawmqtt.subscribe(filters, packet_id=7, version=proto))
    ack = conn.recv_type(rawmqtt.SUBACK)
    over = 0x97 if proto == V5 else 0x80
    assert ack.reason == [0] * SUBSCRIBE_RATE + [over] * 3, ack
    assert _throttled(c, "subscribe_rate") - before == 3
    pub = _client(c, V5)
    pub.publish(base + "/0", b"granted", qos=1)
    pub.publish(base + "/%d" % SUBSCRIBE_RATE, b"refused", qos=1)
    got = conn.recv_type(rawmqtt.PUBLISH)
    assert (got.topic, got.payload) == (base + "/0", b"granted")
    with pytest.raises(TimeoutError):
        conn.recv_type(rawmqtt.PUBLISH, timeout=0.5)
    # a second later the bucket holds tokens again
    time.sleep(1.1)
    conn.send(rawmqtt.subscribe([(base + "/late", 0)], packet_id=8,
                                version=proto))
    assert conn.recv_type(rawmqtt.SUBACK).reason == [0]
    pub.close()
    conn.close()


def test_inbound_bytes_paused_not_lost(throttle_cluster):
    """Four 16 KiB publishes written at once at 16 KiB/s inbound: all
    four arrive whole, the last about 3 s after the first."""
    c = throttle_cluster
    base = unique("thr")
    sub = _client(c, V5)
    sub.subscribe(base + "/#", 0)
    before = _throttled(c, "inbound_bytes")
    pub = _raw(c, V311)
    big = bytes(range(256)) * (INBOUND_BYTES // 256)
    start = time.monotonic()
    pub.send(b"".join(rawmqtt.publish(base + "/%d" % i, big)
                      for i in range(4)))
    msgs, times = _collect(sub, 4, 10)
    assert [m.topic for m in msgs] == ["%s/%d" % (base, i) for i in range(4)]
    assert all(m.payload == big for m in msgs)
    elapsed = times[-1] - start
    assert 2.0 <= elapsed <= 5.0, elapsed
    assert _throttled(c, "inbound_bytes") > before
    pub.close()
    sub.close()


@pytest.mark.parametrize("proto", [V311, V5])
def test_connect_rate_per_client_id(throttle_cluster, proto):
    """A second CONNECT of a client id within the second gets CONNACK
    0x9F Connection rate exceeded (3.1.1: 0x03 Server unavailable); a
    second later it connects; other ids are not affected."""
    c = throttle_cluster
    cid = "it-thr-" + uuid.uuid4().hex[:8]
    before = _throttled(c, "connect_rate_client")
    first = rawmqtt.RawClient(c.host, c.mqtt_ports[0], proto)
    assert first.handshake(cid).reason == 0
    first.send(rawmqtt.disconnect(proto))
    first.close()
    again = rawmqtt.RawClient(c.host, c.mqtt_ports[0], proto)
    ack = again.handshake(cid)
    assert ack.reason == (0x9F if proto == V5 else 0x03), ack
    again.wait_closed()
    other = rawmqtt.RawClient(c.host, c.mqtt_ports[0], proto)
    assert other.handshake(cid + "-other").reason == 0
    other.close()
    assert _throttled(c, "connect_rate_client") - before == 1
    time.sleep(1.1)
    late = rawmqtt.RawClient(c.host, c.mqtt_ports[0], proto)
    assert late.handshake(cid).reason == 0
    late.close()


def test_connect_rate_per_address(throttle_cluster):
    """On a broker with throttle-connect-address-rate 3, the fourth
    connection from one address within the second gets CONNACK 0x9F
    whatever its client id; a second later connections are accepted."""
    import daemons
    c = throttle_cluster
    b = daemons.Broker(c.redis_port, c.join_args() +
                       ["--throttle-connect-address-rate", "3"])
    try:
        b.wait_ready()
        time.sleep(1.1)  # wait_ready's probe of the port was one
        codes = []
        for _ in range(4):
            conn = rawmqtt.RawClient("127.0.0.1", b.port, V5)
            codes.append(conn.handshake(
                "it-thr-" + uuid.uuid4().hex[:8]).reason)
            conn.close()
        assert codes == [0, 0, 0, 0x9F], codes
        assert b.metric("strata_broker_throttled_total",
                        'reason="connect_rate_address"') == 1
        time.sleep(1.1)
        conn = rawmqtt.RawClient("127.0.0.1", b.port, V311)
        assert conn.handshake("it-thr-" + uuid.uuid4().hex[:8]).reason == 0
        conn.close()
    finally:
        reports = b.sanitizer_reports()
        assert b.stop() == 0, b.log_text()[-2000:]
        assert not reports, reports


def test_counters_exposed(throttle_cluster):
    """Every reason's series exists from the start."""
    import daemons
    import urllib.request
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" %
                                throttle_cluster.broker_metrics_ports[0],
                                timeout=2) as r:
        text = r.read().decode()
    for reason in ("publish_rate", "inbound_bytes", "subscribe_rate",
                   "connect_rate_client", "connect_rate_address"):
        assert 'strata_broker_throttled_total{reason="%s"}' % reason in text
    assert daemons.metric(throttle_cluster.broker_metrics_ports[0],
                          "strata_broker_throttled_total",
                          'reason="publish_rate"') > 0
