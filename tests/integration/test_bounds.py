"""Every resource a client can make a broker or router hold has a bound,
and each bound is tested where it bites: subscriptions per session,
filter depth, the Will, the output buffer of a client that does not
read, inbound QoS 2 ids (Receive Maximum), connections per node (and the
default derived from the descriptor limit), retained messages per router
(count and bytes), and the rate of refusal log lines.

Bounds that the shared cluster's defaults make slow to reach are tested
on a broker (or a whole cluster) of the test's own with small values
(daemons.py).
"""

import resource
import socket
import struct
import time
import uuid

import pytest

import rawmqtt
from daemons import metric, own_cluster
from mqttc import V5, V311, unique

QUOTA_EXCEEDED = 0x97
FILTER_INVALID = 0x8F
TOPIC_INVALID = 0x90
PACKET_TOO_LARGE = 0x95
RECEIVE_MAX_EXCEEDED = 0x93
MAX_SUBSCRIPTIONS = 50
MAX_PAYLOAD = 128 * 1024


def refused_code(proto, v5_code):
    return v5_code if proto == V5 else 0x80


def raw(cluster_or_port, proto, broker=0):
    if isinstance(cluster_or_port, int):
        return rawmqtt.RawClient("127.0.0.1", cluster_or_port, proto)
    return rawmqtt.RawClient(cluster_or_port.host,
                             cluster_or_port.mqtt_ports[broker], proto)


def handshake(conn, prefix="it-bnd"):
    ack = conn.handshake("%s-%s" % (prefix, uuid.uuid4().hex[:10]))
    assert ack.reason == 0, ack
    return conn


def suback(conn, filters, packet_id):
    conn.send(rawmqtt.subscribe([(f, 1) for f in filters], packet_id,
                                conn.version))
    ack = conn.recv_type(rawmqtt.SUBACK)
    assert ack.packet_id == packet_id
    return ack.reason


def test_subscriptions_per_session(cluster, raws, proto):
    """50 subscriptions a session (the managed service's default); the
    51st new filter is refused (0x97 / 0x80), replacing a held one and
    subscribing again after an UNSUBSCRIBE work."""
    base = unique()
    conn = raws(handshake(raw(cluster, proto)))
    filters = ["%s/%d" % (base, i) for i in range(MAX_SUBSCRIPTIONS)]
    assert suback(conn, filters, 1) == [1] * MAX_SUBSCRIPTIONS
    assert suback(conn, [base + "/one-more"], 2) == [
        refused_code(proto, QUOTA_EXCEEDED)]
    assert suback(conn, [filters[3]], 3) == [1]
    conn.send(rawmqtt.packet(rawmqtt.UNSUBSCRIBE, 2, struct.pack("!H", 4) +
                             (b"\x00" if proto == V5 else b"") +
                             rawmqtt.utf8(filters[0])))
    assert conn.recv_type(rawmqtt.UNSUBACK).packet_id == 4
    assert suback(conn, [base + "/one-more"], 5) == [1]


def test_filter_depth(cluster, raws, proto):
    """A filter deeper than max-topic-depth (7) is refused (0x8F / 0x80),
    like a topic; "$aws/..." filters are exempt as on the managed
    service."""
    conn = raws(handshake(raw(cluster, proto)))
    ok = "a/b/c/d/e/f/#"
    deep = "a/b/c/d/e/f/g/h"
    aws = "$aws/things/t/shadow/name/n/update/accepted"
    assert suback(conn, [ok, deep, aws], 1) == [
        1, refused_code(proto, FILTER_INVALID), 1]


@pytest.mark.parametrize("what", ["payload", "topic"])
def test_will_obeys_publish_rules(cluster, raws, proto, extra_broker, what):
    """A Will payload over max-payload (CONNACK 0x95) or a Will topic over
    max-topic-depth (0x90) is refused as a PUBLISH would be; 3.1.1 has no
    code for either and is closed.  At the limit the CONNECT is accepted.
    (A Will payload is at most 65535 bytes on the wire, under the default
    max-payload, so the payload case runs on a broker with max-payload
    1000.)"""
    if what == "payload":
        port = extra_broker("--max-payload", "1000").port
        ok = {"topic": unique() + "/will", "payload": b"w" * 1000}
        bad = dict(ok, payload=b"w" * 1001)
        code = PACKET_TOO_LARGE
    else:
        port = cluster.mqtt_ports[0]
        ok = {"topic": "a/b/c/d/e/f/g", "payload": b"w"}
        bad = dict(ok, topic="a/b/c/d/e/f/g/h")
        code = TOPIC_INVALID
    conn = raws(raw(port, proto))
    assert conn.handshake("it-will-ok-" + uuid.uuid4().hex[:8],
                          will=ok).reason == 0
    conn2 = raws(raw(port, proto))
    conn2.send(rawmqtt.connect("it-will-bad-" + uuid.uuid4().hex[:8],
                               proto, will=bad))
    got = conn2.wait_closed()
    if proto == V5:
        assert [(p.type, p.reason) for p in got] == [(rawmqtt.CONNACK,
                                                      code)]
    else:
        assert got == []


def test_receive_maximum(cluster, raws, proto):
    """Inbound QoS 2 ids awaiting PUBREL count against the Receive Maximum
    the broker granted (100): the 101st is refused with DISCONNECT 0x93
    (3.1.1: closed), so the ids a client can make the broker hold are
    bounded."""
    conn = raws(handshake(raw(cluster, proto)))
    topic = unique() + "/q2"
    for pid in range(1, 101):
        conn.send(rawmqtt.publish(topic, b"x", 2, packet_id=pid,
                                  version=proto))
    for _ in range(100):
        assert conn.recv_type(rawmqtt.PUBREC).type == rawmqtt.PUBREC
    conn.send(rawmqtt.publish(topic, b"x", 2, packet_id=101, version=proto))
    got = conn.wait_closed()
    if proto == V5:
        assert [(p.type, p.reason) for p in got] == [
            (rawmqtt.DISCONNECT, RECEIVE_MAX_EXCEEDED)]
    else:
        assert got == []


def test_qos2_ids_past_32768(cluster, extra_broker):
    """With max-inflight 40000, 33000 inbound QoS 2 ids awaiting PUBREL
    are held and answered (the id array's 16-bit capacity used to wrap
    at 32768), then released by PUBREL."""
    b = extra_broker("--max-inflight", "40000")
    conn = handshake(raw(b.port, V5))
    topic = unique() + "/many"
    n = 33000
    batch = b"".join(rawmqtt.publish(topic, b"", 2, packet_id=pid,
                                     version=V5) for pid in range(1, n + 1))
    conn.send(batch)
    got = 0
    while got < n:
        assert conn.recv_type(rawmqtt.PUBREC, timeout=20).type == \
            rawmqtt.PUBREC
        got += 1
    conn.send(b"".join(rawmqtt.puback(pid, rawmqtt.PUBREL)
                       for pid in range(1, n + 1)))
    for _ in range(n):
        comp = conn.recv_type(rawmqtt.PUBCOMP, timeout=20)
        assert comp.reason in (None, 0)
    conn.close()


def test_client_that_never_reads_is_disconnected(cluster, clients,
                                                  extra_broker):
    """Past max-output-bytes queued to a client that does not read, the
    broker closes it (refusal 0x97 counted) instead of holding its output
    without bound."""
    b = extra_broker("--max-output-bytes", "65536")
    topic = unique() + "/slow"
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(5)
    sock.connect(("127.0.0.1", b.port))
    sock.sendall(rawmqtt.connect("it-slow-" + uuid.uuid4().hex[:8], V5))
    sock.sendall(rawmqtt.subscribe([(topic, 1)], 1, V5))
    time.sleep(0.3)  # SUBACK in flight; nothing is read from here on
    before = b.metric("strata_broker_refusals_total", 'reason="0x97"')
    pub = clients(V5, 0)
    # 100 in flight (the window) of 60 KB: more than the kernel's socket
    # buffers (a few MB on loopback) and 64 KiB of broker output
    for i in range(110):
        pub.publish(topic, b"%04d" % i + b"p" * 60000, 1)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if b.metric("strata_broker_refusals_total",
                    'reason="0x97"') > before:
            break
        time.sleep(0.1)
    assert b.metric("strata_broker_refusals_total",
                    'reason="0x97"') > before
    closed = False
    sock.settimeout(0.5)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not closed:
        try:
            closed = sock.recv(65536) == b""
        except socket.timeout:
            pass
        except ConnectionResetError:
            closed = True
    sock.close()
    assert closed


def test_connections_per_node(cluster, extra_broker):
    """max-connections: the connection past the bound is closed at once
    (refusal 0x89); one closing makes room again."""
    b = extra_broker("--max-connections", "3")
    conns = [handshake(raw(b.port, V311)) for _ in range(3)]
    before = b.metric("strata_broker_refusals_total", 'reason="0x89"')
    extra = raw(b.port, V311)
    extra.send(rawmqtt.connect("it-over", V311))
    assert extra.wait_closed() == []
    extra.close()
    assert b.metric("strata_broker_refusals_total",
                    'reason="0x89"') == before + 1
    conns.pop().close()
    deadline = time.monotonic() + 5
    while b.metric("strata_broker_connections", 'listener="tcp"') > 2:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    conns.append(handshake(raw(b.port, V311)))
    for c in conns:
        c.close()


def test_connections_default_from_descriptor_limit(cluster, extra_broker):
    """Without max-connections the bound is finite: the descriptor limit
    (raised to the hard limit) less a reserve of 64."""
    b = extra_broker()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard - 64 if hard != resource.RLIM_INFINITY else 100000000
    assert b.metric("strata_broker_connections_max") == want


def test_refusal_log_lines_are_rate_limited(cluster, extra_broker):
    """One SUBSCRIBE with 50 refused filters writes one log line for that
    reason in that second, not 50; the next line carries the count of
    the ones left out."""
    b = extra_broker()
    conn = handshake(raw(b.port, V5))
    deep = ["x/%d/a/b/c/d/e/f" % i for i in range(50)]
    assert suback(conn, deep, 1) == [FILTER_INVALID] * 50
    time.sleep(1.1)
    assert suback(conn, [deep[0]], 2) == [FILTER_INVALID]
    conn.close()
    lines = [line for line in b.log_text().splitlines()
             if "filter over max-topic-depth" in line]
    assert 2 <= len(lines) <= 3, lines
    assert "suppressed=" in lines[-1], lines


@pytest.fixture(scope="module")
def retained_cluster():
    """A cluster whose router holds 3 retained messages of 4 KiB at most
    (max-retained, max-retained-bytes)."""
    with own_cluster("retained_cluster",
                     env={"STRATA_MAX_RETAINED": "3",
                          "STRATA_MAX_RETAINED_BYTES": "4096"}) as c:
        yield c


def _retain(conn, topic, payload, pid):
    conn.send(rawmqtt.publish(topic, payload, 1, retain=True, packet_id=pid,
                              version=V5))
    ack = conn.recv_type(rawmqtt.PUBACK)
    assert ack.packet_id == pid
    return ack.reason if ack.reason is not None else 0


def test_retained_bounds(retained_cluster):
    """Past max-retained a new retained topic is refused whole (PUBACK
    0x97, not stored, not delivered); replacing or clearing a held one
    works, and a cleared slot can be used again.  A message larger than
    max-retained-bytes is refused the same way."""
    c = retained_cluster
    base = unique()
    conn = handshake(raw(c.mqtt_ports[0], V5))
    sub = handshake(raw(c.mqtt_ports[0], V5))
    assert suback(sub, [base + "/#"], 1) == [1]
    for i in range(3):
        assert _retain(conn, "%s/%d" % (base, i), b"v", i + 1) in (0, 0x10)
    assert _retain(conn, base + "/3", b"v", 4) == QUOTA_EXCEEDED
    assert _retain(conn, base + "/0", b"again", 5) in (0, 0x10)
    assert _retain(conn, base + "/1", b"", 6) in (0, 0x10)
    assert _retain(conn, base + "/3", b"now", 7) in (0, 0x10)
    assert _retain(conn, base + "/1", b"b" * 5000, 8) == QUOTA_EXCEEDED
    got = []
    while True:
        try:
            p = sub.recv(1.0)
        except TimeoutError:
            break
        if p.type == rawmqtt.PUBLISH:
            got.append((p.topic, p.payload))
    assert (base + "/3", b"v") not in got
    assert (base + "/3", b"now") in got
    assert not any(len(payload) == 5000 for _, payload in got)
    refused = metric(c.router_metrics_ports[0],
                     "strata_router_retained_refused_total")
    assert refused == 2
    conn.close()
    sub.close()


def test_registry_entries_of_short_lived_clients_are_released(cluster,
                                                               extra_broker):
    """A client that connects and leaves at once, before the broker heard
    back from the session registry, leaves no strata:client:<id> key
    behind in Redis (one per such client, forever, before the fix):
    assigned ids and a named client reconnecting to the broker that holds
    its session."""
    b = extra_broker()
    named = "it-short-" + uuid.uuid4().hex[:8]
    for i in range(30):
        conn = raw(b.port, V5)
        conn.send(rawmqtt.connect("" if i % 2 else named, V5) +
                  rawmqtt.disconnect(V5))
        conn.wait_closed()
        conn.close()

    def keys():
        out = cluster.redis_cli(cluster.redis_port, "--scan", "--pattern",
                                "strata:client:*")[1].split()
        return [k for k in out if b.node_id in k or named in k]

    deadline = time.monotonic() + 5
    while keys() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert keys() == []

