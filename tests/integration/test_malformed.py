"""Malformed and out-of-order packets over a raw socket.

Each case is answered as the spec prescribes: MQTT 5 gets DISCONNECT with
0x81 (Malformed Packet) or 0x82 (Protocol Error) and the connection is
closed; 3.1.1 gets the connection closed with no answer; a bad packet
before CONNECT is closed without CONNACK.  After each case a client that
was connected to the same broker all along still receives a message: bad
input hurts only its own connection.
"""

import uuid

import pytest

import rawmqtt
from mqttc import V5, unique

MALFORMED = 0x81
PROTOCOL_ERROR = 0x82


@pytest.fixture
def conn(cluster, proto):
    """A raw connection on broker 0, not yet connected."""
    c = rawmqtt.RawClient(cluster.host, cluster.mqtt_ports[0],
                          version=proto)
    yield c
    c.close()


def connected(conn):
    ack = conn.handshake("it-raw-" + uuid.uuid4().hex[:12])
    assert ack.reason == 0
    return conn


def assert_rejected(conn, proto, reason):
    """v5: exactly one DISCONNECT with `reason`, then close.  3.1.1: the
    connection is closed without any packet."""
    got = conn.wait_closed()
    if proto == V5:
        assert [(p.type, p.reason) for p in got] == [
            (rawmqtt.DISCONNECT, reason)], got
    else:
        assert got == [], got


def test_remaining_length_too_long(conn, proto, witness):
    """A Remaining Length whose 4th byte still has the continuation bit
    (here five 0xFF) is malformed (MQTT 1.5.5)."""
    connected(conn)
    conn.send(b"\x30" + b"\xff" * 5)
    assert_rejected(conn, proto, MALFORMED)
    witness.check()


@pytest.mark.parametrize("flags", [0x0, 0x3, 0xA])
def test_subscribe_reserved_flags(conn, proto, witness, flags):
    """SUBSCRIBE fixed-header flags must be 0010; others are malformed
    (MQTT-3.8.1-1, 5.0 section 2.1.3)."""
    connected(conn)
    conn.send(rawmqtt.subscribe([(unique() + "/f", 1)], version=proto,
                                flags=flags))
    assert_rejected(conn, proto, MALFORMED)
    witness.check()


def test_publish_qos3(conn, proto, witness):
    """A PUBLISH with both QoS bits set is malformed (MQTT-3.3.1-4)."""
    connected(conn)
    pkt = bytearray(rawmqtt.publish(unique() + "/q", b"x", qos=2,
                                    version=proto))
    pkt[0] |= 0x06
    conn.send(bytes(pkt))
    assert_rejected(conn, proto, MALFORMED)
    witness.check()


BAD_UTF8 = {
    "surrogate": b"\xed\xa0\x80",
    "overlong-nul": b"\xc0\x80",
    "nul": b"\x00",
    "invalid-byte": b"\xff",
}


@pytest.mark.parametrize("bad", BAD_UTF8.values(), ids=BAD_UTF8.keys())
def test_publish_topic_invalid_utf8(conn, proto, witness, bad):
    """Ill-formed UTF-8 (or U+0000) in a topic name is a malformed packet
    (MQTT-1.5.3-1/2, 5.0 section 1.5.4)."""
    connected(conn)
    topic = unique().encode() + b"/" + bad + b"/x"
    conn.send(rawmqtt.publish(topic, b"x", qos=1, version=proto))
    assert_rejected(conn, proto, MALFORMED)
    witness.check()


@pytest.mark.parametrize("bad", BAD_UTF8.values(), ids=BAD_UTF8.keys())
def test_subscribe_filter_invalid_utf8(conn, proto, witness, bad):
    """The same rule for a topic filter in SUBSCRIBE."""
    connected(conn)
    flt = unique().encode() + b"/" + bad + b"/#"
    conn.send(rawmqtt.subscribe([(flt, 1)], version=proto))
    assert_rejected(conn, proto, MALFORMED)
    witness.check()


def test_publish_before_connect(conn, proto, witness):
    """The first packet must be CONNECT (MQTT-3.1.0-1): anything else is
    closed without CONNACK (and without DISCONNECT: no version agreed)."""
    conn.send(rawmqtt.publish(unique() + "/early", b"x", qos=0))
    assert conn.wait_closed() == []
    witness.check()


def test_second_connect(conn, proto, witness):
    """A second CONNECT is a protocol error (MQTT-3.1.0-2)."""
    connected(conn)
    conn.send(rawmqtt.connect("it-again-" + uuid.uuid4().hex[:8], proto))
    assert_rejected(conn, proto, PROTOCOL_ERROR)
    witness.check()


def _closed_after_connack(cluster, packet):
    c = rawmqtt.RawClient(cluster.host, cluster.mqtt_ports[0],
                          version=rawmqtt.V311)
    try:
        c.send(packet)
        return c.wait_closed()
    finally:
        c.close()


def test_unsupported_protocol_level_3(cluster):
    """3.1.1 framing with protocol level 3: CONNACK 0x01 (unacceptable
    protocol version), then close (MQTT-3.1.2-2)."""
    got = _closed_after_connack(
        cluster, rawmqtt.connect("it-l3", version=3))
    assert [(p.type, p.reason) for p in got] == [(rawmqtt.CONNACK, 0x01)]
    assert got[0].session_present is False


def test_protocol_name_mqisdp(cluster):
    """MQTT 3.1 ('MQIsdp', level 3) is not supported: the server either
    answers CONNACK 0x01 or closes at once (MQTT-3.1.2-1 allows the
    latter for a protocol name it does not speak); never accepts."""
    got = _closed_after_connack(
        cluster, rawmqtt.connect("it-mqisdp", version=3,
                                 proto_name="MQIsdp"))
    assert [(p.type, p.reason) for p in got] in (
        [], [(rawmqtt.CONNACK, 0x01)])


def test_unsupported_protocol_level_6(cluster):
    """MQTT 5 framing with protocol version 6: CONNACK 0x84 (Unsupported
    Protocol Version, v5 layout), then close."""
    got = _closed_after_connack(
        cluster, rawmqtt.connect("it-l6", version=6))
    assert [(p.type, p.reason) for p in got] == [(rawmqtt.CONNACK, 0x84)]
