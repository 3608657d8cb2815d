"""Connection and session behaviour, MQTT 3.1.1 and 5: will messages,
keepalive, client-id takeover, persistent sessions, client identifiers."""

import socket
import time
import uuid

import pytest

import rawmqtt
from mqttc import V5, unique


def raw(cluster, proto, broker=0):
    return rawmqtt.RawClient(cluster.host, cluster.mqtt_ports[broker],
                             version=proto)


def new_id():
    return "it-" + uuid.uuid4().hex[:16]


def will_of(topic, payload=b"gone", qos=1):
    return {"topic": topic, "payload": payload, "qos": qos}


# -- will --------------------------------------------------------------

@pytest.mark.parametrize("sub_broker", [0, 1])
def test_will_on_abrupt_close(cluster, clients, raws, proto, sub_broker):
    """Closing the socket without DISCONNECT publishes the will."""
    topic = unique() + "/will"
    sub = clients(proto, sub_broker)
    sub.subscribe(topic, 1)
    conn = raws(raw(cluster, proto))
    ack = conn.handshake(new_id(), will=will_of(topic, b"abrupt"))
    assert ack.reason == 0
    conn.abort()
    msg = sub.get(topic=topic)
    assert (msg.payload, msg.qos, msg.retain) == (b"abrupt", 1, False)


def _sentinel_after(clients, proto, sub, topic_base):
    """Publish a sentinel through broker 0 and wait for it: anything the
    broker had routed before it (a will) has arrived too."""
    sentinel = topic_base + "/sentinel"
    sub.subscribe(sentinel, 1)
    clients(proto, 0).publish(sentinel, b"s", 1)
    sub.get(topic=sentinel)


def test_no_will_on_clean_disconnect(cluster, clients, raws, proto):
    """DISCONNECT (reason 0 in v5) discards the will."""
    base = unique()
    topic = base + "/will"
    sub = clients(proto, 1)
    sub.subscribe(topic, 1)
    conn = raws(raw(cluster, proto))
    assert conn.handshake(new_id(), will=will_of(topic)).reason == 0
    conn.send(rawmqtt.disconnect(proto))
    conn.sock.shutdown(socket.SHUT_WR)
    assert conn.wait_closed() == [], "server answered a DISCONNECT"
    _sentinel_after(clients, proto, sub, base)
    assert [m for m in sub.drain() if m.topic == topic] == [], (
        "will published after a clean DISCONNECT")


def test_v5_disconnect_with_will_message(cluster, clients, raws):
    """MQTT 5 DISCONNECT reason 0x04 asks the server to publish the will."""
    topic = unique() + "/will"
    sub = clients(V5, 1)
    sub.subscribe(topic, 1)
    conn = raws(raw(cluster, V5))
    assert conn.handshake(new_id(), will=will_of(topic, b"w4")).reason == 0
    conn.send(rawmqtt.disconnect(V5, reason=0x04))
    assert sub.get(topic=topic).payload == b"w4"


# -- keepalive ---------------------------------------------------------

def test_keepalive_timeout_closes_and_fires_will(cluster, clients, raws,
                                                 proto):
    """Keepalive 1 s and no packet: the server closes the connection
    after one and a half keepalives (MQTT-3.1.2-24 / 3.1.2-22), not
    before, and the will is published.  v5 may send DISCONNECT 0x8D."""
    topic = unique() + "/will"
    sub = clients(proto, 1)
    sub.subscribe(topic, 1)
    conn = raws(raw(cluster, proto))
    ack = conn.handshake(new_id(), keepalive=1,
                         will=will_of(topic, b"timeout"))
    assert ack.reason == 0
    keepalive = ack.properties.get(rawmqtt.PROP_SERVER_KEEP_ALIVE, 1)
    assert keepalive == 1, "server overrode keepalive 1 (%d)" % keepalive
    start = time.monotonic()
    got = conn.wait_closed(timeout=5)
    elapsed = time.monotonic() - start
    assert 1.3 <= elapsed <= 3.5, "closed after %.2fs" % elapsed
    if proto == V5:
        assert all(p.type == rawmqtt.DISCONNECT and p.reason == 0x8D
                   for p in got), got
    else:
        assert got == []
    assert sub.get(topic=topic).payload == b"timeout"


def test_keepalive_kept_by_pings(cluster, raws, proto):
    """PINGREQ every half keepalive keeps a 1 s keepalive connection open
    well past 1.5 s, each answered by PINGRESP."""
    conn = raws(raw(cluster, proto))
    assert conn.handshake(new_id(), keepalive=1).reason == 0
    start = time.monotonic()
    while time.monotonic() - start < 3.0:
        time.sleep(0.5)
        conn.send(rawmqtt.pingreq())
        assert conn.recv(timeout=1.0).type == rawmqtt.PINGRESP


# -- takeover ----------------------------------------------------------

@pytest.mark.parametrize("second_broker", [0, 1],
                         ids=["same-broker", "other-broker"])
def test_client_takeover(cluster, clients, raws, proto, second_broker):
    """A second connection with the same client id takes over: the first
    is closed (v5: after DISCONNECT 0x8E Session taken over), the second
    works.  Across brokers the takeover is cluster-wide."""
    cid = new_id()
    first = raws(raw(cluster, proto))
    assert first.handshake(cid).reason == 0
    second = clients(proto, second_broker, client_id=cid)
    got = first.wait_closed()
    if proto == V5:
        assert [(p.type, p.reason) for p in got] == [
            (rawmqtt.DISCONNECT, 0x8E)]
    else:
        assert got == []
    topic = unique() + "/after"
    second.subscribe(topic, 1)
    clients(proto, 0).publish(topic, b"still here", 1)
    assert second.get(topic=topic).payload == b"still here"


# -- persistent sessions -----------------------------------------------

@pytest.mark.parametrize("resume_broker", [0, 1],
                         ids=["same-broker", "other-broker"])
def test_persistent_session_resume(cluster, clients, proto, resume_broker):
    """A QoS 1 message published while a persistent session is offline is
    delivered when it reconnects (to any broker), with session present."""
    cid = new_id()
    topic = unique() + "/queued"
    host = cluster.host
    ports = cluster.mqtt_ports
    kwargs = {"session_expiry": 300} if proto == V5 else {}

    c = clients(proto, 0, connect=False, client_id=cid, clean=False)
    c.connect(host, ports[0], clean_start=True, **kwargs)
    assert not c.session_present()
    c.subscribe(topic, 1)
    c.close()

    clients(proto, 1).publish(topic, b"while offline", 1)

    back = clients(proto, 0, connect=False, client_id=cid, clean=False)
    back.connect(host, ports[resume_broker], clean_start=False, **kwargs)
    assert back.session_present(), "session present flag not set"
    msg = back.get(topic=topic)
    assert (msg.payload, msg.qos) == (b"while offline", 1)

    # The subscription is part of the resumed session: live messages too.
    clients(proto, 1).publish(topic, b"live", 1)
    assert back.get(topic=topic).payload == b"live"


def test_clean_session_discards_state(cluster, clients, proto):
    """Reconnecting with clean session / clean start drops the old
    session: no session present, no old subscription, nothing queued."""
    cid = new_id()
    base = unique()
    topic = base + "/old"
    host = cluster.host
    port = cluster.mqtt_ports[0]
    kwargs = {"session_expiry": 300} if proto == V5 else {}
    c = clients(proto, 0, connect=False, client_id=cid, clean=False)
    c.connect(host, port, clean_start=True, **kwargs)
    c.subscribe(topic, 1)
    c.close()
    clients(proto, 1).publish(topic, b"queued", 1)

    fresh = clients(proto, 0, connect=False, client_id=cid, clean=True)
    fresh.connect(host, port, clean_start=True)
    assert not fresh.session_present()
    sentinel = base + "/sentinel"
    fresh.subscribe(sentinel, 1)
    pub = clients(proto, 1)
    pub.publish(topic, b"after clean", 1)
    pub.publish(sentinel, b"s", 1)
    assert fresh.get().topic == sentinel
    assert [m for m in fresh.drain() if m.topic == topic] == []


def test_v5_session_expiry_zero_ends_session(cluster, clients):
    """MQTT 5 without Session Expiry Interval: the session ends with the
    connection, so clean start 0 afterwards finds no session."""
    cid = new_id()
    host = cluster.host
    port = cluster.mqtt_ports[0]
    c = clients(V5, 0, connect=False, client_id=cid, clean=False)
    c.connect(host, port, clean_start=True)
    c.subscribe(unique() + "/x", 1)
    c.close()
    again = clients(V5, 1, connect=False, client_id=cid, clean=False)
    again.connect(host, cluster.mqtt_ports[1], clean_start=False)
    assert not again.session_present()


# -- client identifiers ------------------------------------------------

def test_v5_empty_client_id_gets_assigned_identifier(cluster, raws):
    """MQTT 5 CONNECT with an empty client id: CONNACK carries an
    Assigned Client Identifier (MQTT-3.2.2-16), unique per connection."""
    ids = []
    for _ in range(2):
        conn = raws(raw(cluster, V5))
        ack = conn.handshake("")
        assert ack.reason == 0
        assigned = ack.properties.get(rawmqtt.PROP_ASSIGNED_CLIENT_ID)
        assert assigned, "no Assigned Client Identifier: %r" % ack
        ids.append(assigned)
    assert ids[0] != ids[1]


def test_v311_empty_client_id(cluster, raws):
    """3.1.1: an empty client id is accepted with clean session 1 and
    refused with CONNACK 0x02 (then close) with clean session 0
    (MQTT-3.1.3-7/8)."""
    conn = raws(raw(cluster, rawmqtt.V311))
    ack = conn.handshake("", clean=True)
    assert ack.reason == 0
    conn.send(rawmqtt.pingreq())
    assert conn.recv().type == rawmqtt.PINGRESP

    conn = raws(raw(cluster, rawmqtt.V311))
    conn.send(rawmqtt.connect("", rawmqtt.V311, clean=False))
    got = conn.wait_closed()
    assert [(p.type, p.reason) for p in got] == [(rawmqtt.CONNACK, 0x02)]


# -- QoS flows with hand-made packets ----------------------------------

def test_qos2_duplicate_publish_delivered_once(cluster, clients, raws,
                                               proto):
    """An inbound QoS 2 PUBLISH resent with DUP before PUBREL is answered
    with PUBREC again but delivered only once (MQTT 4.3.3)."""
    topic = unique() + "/q2"
    sub = clients(proto, 1)
    sub.subscribe(topic, 2)
    conn = raws(raw(cluster, proto))
    assert conn.handshake(new_id()).reason == 0
    pkt = rawmqtt.publish(topic, b"once", qos=2, packet_id=7,
                          version=proto)
    conn.send(pkt)
    rec = conn.recv_type(rawmqtt.PUBREC)
    assert rec.packet_id == 7 and rec.reason in (None, 0)
    conn.send(rawmqtt.publish(topic, b"once", qos=2, packet_id=7,
                              version=proto, dup=True))
    assert conn.recv_type(rawmqtt.PUBREC).packet_id == 7
    conn.send(rawmqtt.puback(7, rawmqtt.PUBREL))
    comp = conn.recv_type(rawmqtt.PUBCOMP)
    assert comp.packet_id == 7
    assert sub.get(topic=topic).payload == b"once"
    sentinel = topic + "/s"
    sub.subscribe(sentinel, 1)
    conn.send(rawmqtt.publish(sentinel, b"s", qos=1, packet_id=8,
                              version=proto))
    assert conn.recv_type(rawmqtt.PUBACK).packet_id == 8
    sub.get(topic=sentinel)
    assert [m for m in sub.drain() if m.topic == topic] == []


def test_unacked_qos1_resent_on_session_resume(cluster, clients, raws,
                                               proto):
    """A QoS 1 message the client did not PUBACK before its connection
    dropped is sent again, with DUP set, when the persistent session
    resumes (MQTT-4.4.0-1)."""
    cid = new_id()
    topic = unique() + "/unacked"
    expiry = [(rawmqtt.PROP_SESSION_EXPIRY, 300)] if proto == V5 else []
    conn = raws(raw(cluster, proto))
    # 3.1.1: clean session 0 makes the session persistent; v5: clean
    # start with a Session Expiry Interval.
    ack = conn.handshake(cid, clean=proto == V5, properties=expiry)
    assert ack.reason == 0 and not ack.session_present
    conn.send(rawmqtt.subscribe([(topic, 1)], packet_id=1, version=proto))
    assert conn.recv_type(rawmqtt.SUBACK).reason == [1]
    clients(proto, 1).publish(topic, b"ack me", 1)
    first = conn.recv_type(rawmqtt.PUBLISH)
    assert (first.topic, first.payload) == (topic, b"ack me")
    assert (first.flags >> 1) & 3 == 1
    conn.abort()

    again = raws(raw(cluster, proto))
    ack = again.handshake(cid, clean=False, properties=expiry)
    assert ack.reason == 0 and ack.session_present
    resent = again.recv_type(rawmqtt.PUBLISH)
    assert (resent.topic, resent.payload) == (topic, b"ack me")
    assert resent.flags & 0x08, "DUP not set on redelivery"
    assert resent.packet_id == first.packet_id
    again.send(rawmqtt.puback(resent.packet_id))
