"""Packets cut and joined anywhere on the wire.

TCP gives the broker bytes, not packets: a packet may arrive one byte at a
time, a large one in many pieces, many packets in one segment, and packets
may follow a CONNECT that has to wait for a session hand-off from another
broker.  Each case must be read exactly as if every packet had come alone.
"""

import socket
import time
import uuid

import rawmqtt
from mqttc import V5, unique


def new_id():
    return "fr-" + uuid.uuid4().hex[:16]


def raw(cluster, proto, broker=0):
    c = rawmqtt.RawClient(cluster.host, cluster.mqtt_ports[broker],
                          version=proto)
    # each send() is its own segment: no coalescing by Nagle
    c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return c


def collect(conn, count, timeout=5.0):
    """The next count packets, PUBLISHes acknowledged and skipped.  Acks
    of different packets may come in any order: a PUBACK waits for the
    router, a PINGRESP does not."""
    got = []
    deadline = time.monotonic() + timeout
    while len(got) < count:
        pkt = conn.recv(max(0.01, deadline - time.monotonic()))
        if pkt.type != rawmqtt.PUBLISH:
            got.append(pkt)
        elif pkt.packet_id is not None:
            conn.send(rawmqtt.puback(pkt.packet_id))
    return got


def trickle(conn, data, piece, pause=0.0005):
    for i in range(0, len(data), piece):
        conn.send(data[i:i + piece])
        time.sleep(pause)


def test_every_packet_split_byte_by_byte(cluster, clients, proto):
    """CONNECT, SUBSCRIBE and a QoS 1 PUBLISH sent one byte per segment
    are answered normally; the message reaches a subscriber."""
    topic = unique() + "/bytes"
    sub = clients(proto, 0)
    sub.subscribe(topic, 1)
    conn = raw(cluster, proto)
    try:
        trickle(conn, rawmqtt.connect(new_id(), proto), 1)
        assert conn.recv().type == rawmqtt.CONNACK
        trickle(conn, rawmqtt.subscribe([(topic + "/x", 1)], 7, proto), 1)
        assert conn.recv_type(rawmqtt.SUBACK).packet_id == 7
        trickle(conn, rawmqtt.publish(topic, b"one byte at a time", 1, False,
                                      9, proto), 1)
        assert conn.recv_type(rawmqtt.PUBACK).packet_id == 9
    finally:
        conn.close()
    assert sub.get(topic=topic).payload == b"one byte at a time"


def test_large_publish_in_many_pieces(cluster, clients, proto):
    """A 100 KB QoS 1 PUBLISH written in 997-byte pieces arrives intact,
    and a small packet right behind it in the last piece is read too."""
    topic = unique() + "/big"
    payload = bytes(range(256)) * 400
    sub = clients(proto, 1)
    sub.subscribe(topic, 1)
    conn = raw(cluster, proto)
    try:
        assert conn.handshake(new_id()).reason == 0
        data = rawmqtt.publish(topic, payload, 1, False, 3, proto)
        data += rawmqtt.pingreq()
        trickle(conn, data, 997, pause=0.0002)
        got = {(p.type, p.packet_id) for p in collect(conn, 2)}
        assert got == {(rawmqtt.PUBACK, 3), (rawmqtt.PINGRESP, None)}
    finally:
        conn.close()
    msg = sub.get(topic=topic)
    assert msg.payload == payload


def test_many_packets_in_one_write(cluster, clients, proto):
    """CONNECT, SUBSCRIBE and 50 QoS 1 PUBLISHes in a single write: every
    packet is answered, in order, and the messages arrive in order."""
    topic = unique() + "/burst"
    sub = clients(proto, 0)
    sub.subscribe(topic, 1)
    conn = raw(cluster, proto)
    data = rawmqtt.connect(new_id(), proto)
    data += rawmqtt.subscribe([(topic + "/none", 0)], 1, proto)
    for i in range(50):
        data += rawmqtt.publish(topic, b"m%d" % i, 1, False, 100 + i, proto)
    try:
        conn.send(data)
        assert conn.recv().type == rawmqtt.CONNACK
        got = collect(conn, 51)
        assert [p.packet_id for p in got if p.type == rawmqtt.SUBACK] == [1]
        # PUBACKs in the order of the PUBLISHes (MQTT-4.6.0-2)
        assert [p.packet_id for p in got if p.type == rawmqtt.PUBACK] == \
            list(range(100, 150))
    finally:
        conn.close()
    got = [sub.get(topic=topic).payload for _ in range(50)]
    assert got == [b"m%d" % i for i in range(50)]


def test_packets_behind_a_waiting_connect(cluster, clients, proto):
    """A client whose persistent session is held by broker 0 connects to
    broker 1 and sends SUBSCRIBE and PUBLISH in the same write as CONNECT.
    Broker 1 waits for the hand-off before it reads them: CONNACK comes
    first with session present, then SUBACK and PUBACK, and both the
    handed-over and the new subscription deliver."""
    cid = new_id()
    base = unique()
    props = [(rawmqtt.PROP_SESSION_EXPIRY, 300)] if proto == V5 else []
    first = raw(cluster, proto, 0)
    try:
        assert first.handshake(cid, clean=False,
                               properties=props).reason == 0
        first.send(rawmqtt.subscribe([(base + "/old", 1)], 1, proto))
        assert first.recv_type(rawmqtt.SUBACK).packet_id == 1
    finally:
        first.close()

    conn = raw(cluster, proto, 1)
    data = rawmqtt.connect(cid, proto, clean=False, properties=props)
    data += rawmqtt.subscribe([(base + "/new", 1)], 2, proto)
    data += rawmqtt.publish(base + "/old", b"to old", 1, False, 5, proto)
    data += rawmqtt.publish(base + "/new", b"to new", 1, False, 6, proto)
    try:
        conn.send(data)
        ack = conn.recv()
        assert ack.type == rawmqtt.CONNACK and ack.session_present, ack
        want = {(rawmqtt.SUBACK, 2), (rawmqtt.PUBACK, 5),
                (rawmqtt.PUBACK, 6), b"to old", b"to new"}
        seen = set()
        deadline = time.monotonic() + 5
        while not want <= seen and time.monotonic() < deadline:
            pkt = conn.recv(max(0.01, deadline - time.monotonic()))
            if pkt.type == rawmqtt.PUBLISH:
                seen.add(pkt.payload)
                if pkt.packet_id is not None:
                    conn.send(rawmqtt.puback(pkt.packet_id))
            else:
                seen.add((pkt.type, pkt.packet_id))
        assert want <= seen, seen
    finally:
        conn.close()
