"""The limits of the design (128 KB payload, topic depth 7, 50 filters per
SUBSCRIBE, 128-byte client id), each at its boundary: the last allowed
value works, one more gets the MQTT 5 reason code or, in 3.1.1, the
connection closed, and nothing is delivered."""

import uuid

import pytest

import rawmqtt
from mqttc import V5, unique

MAX_PAYLOAD = 128 * 1024
MAX_DEPTH = 7
MAX_FILTERS = 50
MAX_CLIENT_ID = 128


@pytest.fixture
def publisher(cluster, proto):
    conn = rawmqtt.RawClient(cluster.host, cluster.mqtt_ports[0], proto)
    assert conn.handshake("it-lim-" + uuid.uuid4().hex[:8]).reason == 0
    yield conn
    conn.close()


def _refused(conn, proto, reason, packet_id):
    """v5: a PUBACK with `reason` and the connection stays usable;
    3.1.1: the connection is closed."""
    if proto == V5:
        ack = conn.recv_type(rawmqtt.PUBACK)
        assert (ack.packet_id, ack.reason) == (packet_id, reason)
        conn.send(rawmqtt.pingreq())
        assert conn.recv_type(rawmqtt.PINGRESP).type == rawmqtt.PINGRESP
    else:
        assert conn.wait_closed() == []


def _nothing_but_sentinel(clients, proto, sub, base):
    sentinel = base + "/sentinel"
    sub.subscribe(sentinel, 1)
    clients(proto, 0).publish(sentinel, b"s", 1)
    assert sub.get().topic == sentinel
    assert sub.drain() == []


def test_payload_limit(clients, publisher, proto):
    """A 128 KiB payload is delivered intact; one byte more is refused
    (v5 PUBACK 0x97 Quota exceeded)."""
    base = unique()
    sub = clients(proto, 1)
    sub.subscribe(base + "/#", 1)
    big = bytes(range(256)) * (MAX_PAYLOAD // 256)
    publisher.send(rawmqtt.publish(base + "/max", big, qos=1, packet_id=1,
                                   version=proto))
    assert publisher.recv_type(rawmqtt.PUBACK).reason in (None, 0)
    assert sub.get().payload == big
    publisher.send(rawmqtt.publish(base + "/over", big + b"x", qos=1,
                                   packet_id=2, version=proto))
    _refused(publisher, proto, 0x97, 2)
    _nothing_but_sentinel(clients, proto, sub, base)


def test_topic_depth_limit(clients, publisher, proto):
    """Seven topic levels are delivered; eight are refused (v5 PUBACK 0x90
    Topic Name invalid)."""
    base = unique()                       # two levels
    sub = clients(proto, 1)
    sub.subscribe(base + "/#", 1)
    seven = base + "/3/4/5/6/7"
    publisher.send(rawmqtt.publish(seven, b"7", qos=1, packet_id=1,
                                   version=proto))
    assert publisher.recv_type(rawmqtt.PUBACK).reason in (None, 0)
    assert sub.get().topic == seven
    publisher.send(rawmqtt.publish(seven + "/8", b"8", qos=1, packet_id=2,
                                   version=proto))
    _refused(publisher, proto, 0x90, 2)
    _nothing_but_sentinel(clients, proto, sub, base)


def test_filters_per_subscribe_limit(cluster, proto):
    """50 filters in one SUBSCRIBE are granted; the 51st gets a failure
    code (v5 0x97, 3.1.1 0x80) while the others are granted."""
    conn = rawmqtt.RawClient(cluster.host, cluster.mqtt_ports[0], proto)
    try:
        assert conn.handshake("it-subs-" + uuid.uuid4().hex[:8]).reason \
            == 0
        base = unique()
        filters = [("%s/%d" % (base, i), 1) for i in range(MAX_FILTERS + 1)]
        conn.send(rawmqtt.subscribe(filters, packet_id=3, version=proto))
        ack = conn.recv_type(rawmqtt.SUBACK)
        fail = 0x97 if proto == V5 else 0x80
        assert ack.reason == [1] * MAX_FILTERS + [fail]
    finally:
        conn.close()


def test_client_id_length_limit(cluster, proto):
    """A 128-byte client id is accepted; 129 bytes get CONNACK 0x85
    (v5 Client Identifier not valid) or 0x02 (3.1.1), then close."""
    host, port = cluster.host, cluster.mqtt_ports[0]
    ok = rawmqtt.RawClient(host, port, proto)
    try:
        cid = ("it-" + uuid.uuid4().hex * 4)[:MAX_CLIENT_ID]
        assert ok.handshake(cid).reason == 0
    finally:
        ok.close()
    bad = rawmqtt.RawClient(host, port, proto)
    try:
        bad.send(rawmqtt.connect(cid + "x", proto))
        got = bad.wait_closed()
        code = 0x85 if proto == V5 else 0x02
        assert [(p.type, p.reason) for p in got] == [(rawmqtt.CONNACK, code)]
    finally:
        bad.close()
