"""SUBACK ordering across brokers, MQTT 3.1.1 and 5, over raw sockets.

Once a client holds its SUBACK, a matching message published afterwards on
another broker must reach it: the broker holds the SUBACK until the router
has applied the new route (Barrier / BarrierAck on the link).  And the
retained messages of a subscription follow its SUBACK on the connection.
"""

import pytest

import rawmqtt as raw
from mqttc import unique

ITERATIONS = 50
DELIVERY_TIMEOUT = 2.0
# Publishes queued on the subscriber's own connection just before its
# SUBSCRIBE: they go to the router on the link ahead of the route ADD, so
# the ADD lands late while the other broker's link is idle.  Without the
# barrier the SUBACK overtakes the route and the race shows every time.
BACKLOG_PUBLISHES = 40
BACKLOG_PAYLOAD = 100 * 1024


@pytest.fixture(params=[raw.V311, raw.V5], ids=["3.1.1", "5"])
def version(request):
    return request.param


def _client(cluster, broker, version, name):
    c = raw.RawClient(cluster.host, cluster.mqtt_ports[broker], version)
    ack = c.handshake(unique(name))
    assert ack.reason == 0, ack
    return c


def _subscribe(c, version, flt, packet_id):
    """SUBSCRIBE flt at QoS 1; returns the packets up to and including
    the SUBACK (anything before it is a protocol-order fault here)."""
    c.send(raw.subscribe([(flt, 1)], packet_id, version))
    got = []
    while True:
        pkt = c.recv(5.0)
        got.append(pkt)
        if pkt.type == raw.SUBACK:
            assert pkt.packet_id == packet_id, got
            assert pkt.reason == [1], got
            return got


def _publish_acked(c, version, topic, payload, packet_id, retain=False):
    c.send(raw.publish(topic, payload, 1, retain, packet_id, version))
    ack = c.recv_type(raw.PUBACK, 5.0)
    assert ack.packet_id == packet_id, ack


def _expect_publish(c, version, topic, payload):
    """The next PUBLISH on c is topic/payload (within 2 s); acks it."""
    pkt = c.recv(DELIVERY_TIMEOUT)
    assert pkt.type == raw.PUBLISH, pkt
    assert (pkt.topic, pkt.payload) == (topic, payload), pkt
    if pkt.packet_id is not None:
        c.send(raw.puback(pkt.packet_id))
    return pkt


def _backlog(c, version, topic):
    """QoS 0 publishes to a topic nobody reads, sent in one write."""
    big = raw.publish(topic, b"b" * BACKLOG_PAYLOAD, 0, False, 1, version)
    c.send(big * BACKLOG_PUBLISHES)


@pytest.mark.parametrize("backlog", [False, True],
                         ids=["idle-link", "busy-link"])
def test_publish_right_after_suback_crosses_brokers(cluster, version,
                                                    backlog):
    """50 times: subscribe on broker 0 to a fresh topic and, as soon as
    the SUBACK is read, publish QoS 1 on broker 1: the message arrives.
    busy-link: the subscriber's broker has a backlog on its router link
    when the SUBSCRIBE comes (every 5th iteration, to bound the time)."""
    sub = _client(cluster, 0, version, "order-sub")
    pub = _client(cluster, 1, version, "order-pub")
    sink = unique("order-sink")
    try:
        for i in range(1, ITERATIONS + 1):
            topic = "%s/%d" % (unique("order"), i)
            payload = b"after-suback-%d" % i
            if backlog and i % 5 == 0:
                _backlog(sub, version, sink)
            got = _subscribe(sub, version, topic, i)
            assert len(got) == 1, got
            pub.send(raw.publish(topic, payload, 1, False, i, version))
            _expect_publish(sub, version, topic, payload)
            ack = pub.recv_type(raw.PUBACK, 5.0)
            assert ack.packet_id == i and ack.reason in (None, 0), ack
    finally:
        sub.close()
        pub.close()


def test_retained_follows_suback(cluster, version):
    """A retained message stored through broker 1 reaches a subscriber of
    broker 0 after its SUBACK, never before; new filters each time."""
    sub = _client(cluster, 0, version, "ret-sub")
    pub = _client(cluster, 1, version, "ret-pub")
    topics = []
    try:
        for i in range(1, 11):
            topic = "%s/%d" % (unique("retorder"), i)
            payload = b"retained-%d" % i
            topics.append(topic)
            _publish_acked(pub, version, topic, payload, i, retain=True)
            got = _subscribe(sub, version, topic, i)
            assert len(got) == 1, "PUBLISH before SUBACK: %r" % got
            pkt = _expect_publish(sub, version, topic, payload)
            assert pkt.flags & 1, "retained message without RETAIN"
    finally:
        for i, topic in enumerate(topics):
            pub.send(raw.publish(topic, b"", 1, True, 100 + i, version))
            pub.recv_type(raw.PUBACK, 5.0)
        sub.close()
        pub.close()


@pytest.mark.parametrize("clean", [True, False], ids=["clean", "persistent"])
def test_connection_gone_while_suback_waits(cluster, version, clean):
    """A client that leaves while its SUBACK waits for the router, then
    comes back with the same client id: the new connection gets only the
    answer to its own SUBSCRIBE, never the stale one (and no daemon
    trips over the wait of the connection that left)."""
    cid = unique("gone").replace("/", "-")
    for i in range(5):
        c = raw.RawClient(cluster.host, cluster.mqtt_ports[0], version)
        c.handshake(cid, clean=clean)
        _backlog(c, version, unique("gone-sink"))
        c.send(raw.subscribe([("%s/%d" % (unique("gone"), i), 1)], 1,
                             version))
        c.abort()
        again = raw.RawClient(cluster.host, cluster.mqtt_ports[0], version)
        try:
            again.handshake(cid, clean=clean)
            got = _subscribe(again, version, unique("back"), 77)
            assert [p.type for p in got] == [raw.SUBACK], got
        finally:
            again.close()
    cleanup = raw.RawClient(cluster.host, cluster.mqtt_ports[0], version)
    cleanup.handshake(cid, clean=True)
    cleanup.send(raw.disconnect(version))
    cleanup.close()
