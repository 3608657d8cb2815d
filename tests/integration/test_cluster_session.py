"""Cluster-wide sessions (DESIGN guarantee 3): a persistent session moves
to the broker the client reconnects to, with its subscriptions, queued and
unacknowledged messages; a Clean Start anywhere discards it; a client
whose broker died gets its CONNACK from another broker in bounded time."""

import os
import time
import uuid

import pytest

import conftest
import rawmqtt
import test_metrics
from mqttc import V5, unique
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties


def new_id():
    return "cs-" + uuid.uuid4().hex[:16]


def expiry_kwargs(proto):
    return {"session_expiry": 300} if proto == V5 else {}


def test_resume_on_other_broker_keeps_subscriptions(cluster, clients,
                                                    proto):
    """Session made on broker 0, resumed on broker 1: session present, and
    a message published after the resume reaches the client through the
    handed-off subscription (MQTT 5: with its subscription identifier)."""
    cid = new_id()
    topic = unique() + "/moved"
    host, ports = cluster.host, cluster.mqtt_ports
    c = clients(proto, 0, connect=False, client_id=cid, clean=False)
    c.connect(host, ports[0], clean_start=True, **expiry_kwargs(proto))
    props = None
    if proto == V5:
        props = Properties(PacketTypes.SUBSCRIBE)
        props.SubscriptionIdentifier = 42
    c.subscribe(topic, 1, properties=props)
    c.close()

    back = clients(proto, 1, connect=False, client_id=cid, clean=False)
    back.connect(host, ports[1], clean_start=False, **expiry_kwargs(proto))
    assert back.session_present(), "session not handed over to broker 1"
    clients(proto, 0).publish(topic, b"after resume", 1)
    msg = back.get(topic=topic)
    assert (msg.payload, msg.qos) == (b"after resume", 1)
    if proto == V5:
        assert msg.properties.SubscriptionIdentifier == [42]


def test_clean_start_on_other_broker_discards_session(cluster, clients,
                                                      proto):
    """A persistent session held on broker 0 (with a queued message) is
    discarded by a Clean Start connection on broker 1: session present 0,
    the queued message is never delivered, and a later Clean Start 0
    connection on broker 0 finds no session either."""
    cid = new_id()
    base = unique()
    topic = base + "/old"
    host, ports = cluster.host, cluster.mqtt_ports
    c = clients(proto, 0, connect=False, client_id=cid, clean=False)
    c.connect(host, ports[0], clean_start=True, **expiry_kwargs(proto))
    c.subscribe(topic, 1)
    c.close()
    clients(proto, 1).publish(topic, b"queued", 1)

    fresh = clients(proto, 1, connect=False, client_id=cid, clean=True)
    fresh.connect(host, ports[1], clean_start=True)
    assert not fresh.session_present()
    sentinel = base + "/sentinel"
    fresh.subscribe(sentinel, 1)
    pub = clients(proto, 0)
    pub.publish(topic, b"after clean", 1)
    pub.publish(sentinel, b"s", 1)
    assert fresh.get().topic == sentinel
    assert [m for m in fresh.drain() if m.topic == topic] == []
    fresh.close()

    again = clients(proto, 0, connect=False, client_id=cid, clean=False)
    again.connect(host, ports[0], clean_start=False,
                  **expiry_kwargs(proto))
    assert not again.session_present()
    assert [m for m in again.drain() if m.topic == topic] == []


def test_unacked_qos1_resent_on_other_broker(cluster, clients, raws,
                                             proto):
    """A QoS 1 message in flight (not PUBACKed) when the connection to
    broker 0 dropped is re-sent by broker 1 with DUP and the same packet
    id, and the session's subscription keeps working there."""
    cid = new_id()
    topic = unique() + "/unacked"
    expiry = [(rawmqtt.PROP_SESSION_EXPIRY, 300)] if proto == V5 else []
    conn = raws(rawmqtt.RawClient(cluster.host, cluster.mqtt_ports[0],
                                  version=proto))
    ack = conn.handshake(cid, clean=proto == V5, properties=expiry)
    assert ack.reason == 0 and not ack.session_present
    conn.send(rawmqtt.subscribe([(topic, 1)], packet_id=1, version=proto))
    assert conn.recv_type(rawmqtt.SUBACK).reason == [1]
    clients(proto, 1).publish(topic, b"ack me", 1)
    first = conn.recv_type(rawmqtt.PUBLISH)
    assert first.payload == b"ack me"
    conn.abort()

    again = raws(rawmqtt.RawClient(cluster.host, cluster.mqtt_ports[1],
                                   version=proto))
    ack = again.handshake(cid, clean=False, properties=expiry)
    assert ack.reason == 0 and ack.session_present
    resent = again.recv_type(rawmqtt.PUBLISH)
    assert (resent.topic, resent.payload) == (topic, b"ack me")
    assert resent.flags & 0x08, "DUP not set on redelivery"
    assert resent.packet_id == first.packet_id
    again.send(rawmqtt.puback(resent.packet_id))
    clients(proto, 0).publish(topic, b"live", 1)
    live = again.recv_type(rawmqtt.PUBLISH)
    assert live.payload == b"live"
    again.send(rawmqtt.puback(live.packet_id))


def _persistent_on_broker0(cluster, raws, proto, cid, topic):
    """A persistent session on broker 0 with one QoS 1 subscription, its
    connection closed with DISCONNECT."""
    expiry = [(rawmqtt.PROP_SESSION_EXPIRY, 300)] if proto == V5 else []
    conn = raws(rawmqtt.RawClient(cluster.host, cluster.mqtt_ports[0],
                                  version=proto))
    assert conn.handshake(cid, clean=proto == V5,
                          properties=expiry).reason == 0
    conn.send(rawmqtt.subscribe([(topic, 1)], packet_id=1, version=proto))
    assert conn.recv_type(rawmqtt.SUBACK).reason == [1]
    conn.send(rawmqtt.disconnect(proto))
    conn.wait_closed()
    return expiry


def test_client_gone_while_waiting_keeps_session(cluster, clients, raws,
                                                 proto):
    """A client that sends CONNECT to broker 1 and closes before its
    CONNACK: the session handed over meanwhile is kept (offline) and a
    later resume on broker 0 finds it with its subscription."""
    cid = new_id()
    topic = unique() + "/kept"
    expiry = _persistent_on_broker0(cluster, raws, proto, cid, topic)
    gone = raws(rawmqtt.RawClient(cluster.host, cluster.mqtt_ports[1],
                                  version=proto))
    gone.send(rawmqtt.connect(cid, proto, clean=False, properties=expiry))
    gone.abort()
    time.sleep(0.5)

    back = raws(rawmqtt.RawClient(cluster.host, cluster.mqtt_ports[0],
                                  version=proto))
    ack = back.handshake(cid, clean=False, properties=expiry)
    assert ack.reason == 0 and ack.session_present
    clients(proto, 1).publish(topic, b"still subscribed", 1)
    msg = back.recv_type(rawmqtt.PUBLISH)
    assert msg.payload == b"still subscribed"
    back.send(rawmqtt.puback(msg.packet_id))


def test_second_connect_while_waiting_supersedes(cluster, raws, proto):
    """Two CONNECTs of one client id reach broker 1 back to back while the
    session is on broker 0: the first connection is closed without a
    CONNACK, the second resumes the session."""
    cid = new_id()
    topic = unique() + "/twice"
    expiry = _persistent_on_broker0(cluster, raws, proto, cid, topic)
    first = raws(rawmqtt.RawClient(cluster.host, cluster.mqtt_ports[1],
                                   version=proto))
    second = raws(rawmqtt.RawClient(cluster.host, cluster.mqtt_ports[1],
                                    version=proto))
    first.send(rawmqtt.connect(cid, proto, clean=False, properties=expiry))
    second.send(rawmqtt.connect(cid, proto, clean=False,
                                properties=expiry))
    ack = second.recv_type(rawmqtt.CONNACK)
    assert ack.reason == 0 and ack.session_present
    got = first.wait_closed()
    # whichever CONNECT the broker read first waited; the other one won
    assert all(p.type in (rawmqtt.CONNACK, rawmqtt.DISCONNECT)
               for p in got), got


def test_qos2_state_handed_over(cluster, clients, raws, proto):
    """QoS 2 both ways across a hand-off: an outbound message PUBRECed on
    broker 0 gets its PUBREL again from broker 1; an inbound QoS 2 id
    awaiting PUBREL on broker 0 is completed by broker 1 (PUBCOMP
    success)."""
    cid = new_id()
    topic = unique() + "/q2"
    expiry = [(rawmqtt.PROP_SESSION_EXPIRY, 300)] if proto == V5 else []
    conn = raws(rawmqtt.RawClient(cluster.host, cluster.mqtt_ports[0],
                                  version=proto))
    assert conn.handshake(cid, clean=proto == V5,
                          properties=expiry).reason == 0
    conn.send(rawmqtt.subscribe([(topic, 2)], packet_id=1, version=proto))
    assert conn.recv_type(rawmqtt.SUBACK).reason == [2]
    clients(proto, 1).publish(topic, b"two", 2)
    out = conn.recv_type(rawmqtt.PUBLISH)
    conn.send(rawmqtt.puback(out.packet_id, rawmqtt.PUBREC))
    assert conn.recv_type(rawmqtt.PUBREL).packet_id == out.packet_id
    conn.send(rawmqtt.publish(unique() + "/in", b"in", qos=2, packet_id=9,
                              version=proto))
    assert conn.recv_type(rawmqtt.PUBREC).packet_id == 9
    conn.abort()

    again = raws(rawmqtt.RawClient(cluster.host, cluster.mqtt_ports[1],
                                   version=proto))
    ack = again.handshake(cid, clean=False, properties=expiry)
    assert ack.reason == 0 and ack.session_present
    rel = again.recv_type(rawmqtt.PUBREL)
    assert rel.packet_id == out.packet_id
    again.send(rawmqtt.puback(out.packet_id, rawmqtt.PUBCOMP))
    again.send(rawmqtt.puback(9, rawmqtt.PUBREL))
    comp = again.recv_type(rawmqtt.PUBCOMP)
    assert comp.packet_id == 9 and comp.reason in (None, 0)


def test_handoff_metrics(cluster, clients):
    """A resume on the other broker counts one hand-off out on broker 0,
    one in and no timeout on broker 1, one remote take-over on broker
    0."""
    host, mports = cluster.host, cluster.broker_metrics_ports
    name = "strata_broker_session_handoffs_total"

    def snapshot():
        s0 = test_metrics.scrape(host, mports[0])[0]
        s1 = test_metrics.scrape(host, mports[1])[0]
        return (test_metrics.total(s0, name, 'direction="out"'),
                test_metrics.total(s1, name, 'direction="in"'),
                test_metrics.total(
                    s0, "strata_broker_takeovers_remote_total"),
                test_metrics.total(
                    s1, "strata_broker_session_handoff_timeouts_total"))

    before = snapshot()
    cid = new_id()
    c = clients(V5, 0, connect=False, client_id=cid, clean=False)
    c.connect(host, cluster.mqtt_ports[0], clean_start=True,
              session_expiry=300)
    c.close()
    back = clients(V5, 1, connect=False, client_id=cid, clean=False)
    back.connect(host, cluster.mqtt_ports[1], clean_start=False,
                 session_expiry=300)
    assert back.session_present()
    after = snapshot()
    assert (after[0] - before[0], after[1] - before[1],
            after[2] - before[2], after[3] - before[3]) == (1, 1, 1, 0)


# -- a broker killed: its own cluster, since the test kills a daemon ------

@pytest.fixture(scope="module")
def own_cluster():
    """Redis, one router, two brokers, private to this module.  No health
    check after each test: the test kills a broker on purpose."""
    with conftest.start_cluster("own_cluster", prefix="strata-it-kill-",
                                health_check=False) as c:
        yield c


def test_takeover_after_broker_killed(own_cluster, raws):
    """kill -9 of the broker holding connected clients (3.1.1 and 5,
    both persistent): a connection with the same client id on the other
    broker gets its CONNACK at once (nobody listens on the dead broker's
    channel any more), within 6 s in any case, with the session it had:
    it is stored in Redis."""
    c = own_cluster
    ids = {rawmqtt.V311: new_id(), V5: new_id()}
    expiry = {rawmqtt.V311: [], V5: [(rawmqtt.PROP_SESSION_EXPIRY, 300)]}
    for proto, cid in ids.items():
        first = raws(rawmqtt.RawClient(c.host, c.mqtt_ports[0],
                                       version=proto))
        assert first.handshake(cid, clean=proto == V5,
                               properties=expiry[proto]).reason == 0
    # PIDS: redis, the router, then broker 0 and broker 1.
    broker0 = c.pids[2]
    os.kill(broker0, 9)
    deadline = time.monotonic() + 5
    while broker0 not in c.dead_processes() and time.monotonic() < deadline:
        time.sleep(0.05)

    seconds = {}
    start = time.monotonic()
    for proto, cid in ids.items():
        second = raws(rawmqtt.RawClient(c.host, c.mqtt_ports[1],
                                        version=proto, timeout=6.0))
        second.send(rawmqtt.connect(cid, proto, clean=False,
                                    properties=expiry[proto]))
        seconds[proto] = second
    for proto, second in seconds.items():
        ack = second.recv_type(rawmqtt.CONNACK, timeout=6.0)
        elapsed = time.monotonic() - start
        assert ack.reason == 0
        assert elapsed <= 6.0, "CONNACK after %.2fs" % elapsed
        assert ack.session_present
        second.send(rawmqtt.pingreq())
        assert second.recv(timeout=2.0).type == rawmqtt.PINGRESP
