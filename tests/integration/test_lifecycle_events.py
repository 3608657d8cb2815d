"""Lifecycle events ($aws/events/...) with Paho and raw sockets, in AWS
IoT Core's JSON shapes: connected on CONNACK; disconnected with the
reason of each way a connection ends (the client's DISCONNECT, an abrupt
close, the keepalive, a take-over on the same and on another broker, a
protocol error, the broker's shutdown); subscribed/unsubscribed with the
filters granted or removed; seen by subscribers on the other broker and
through a '+' filter (never through a top-level '#'); the version
number growing per client id; lifecycle-events false: none."""

import json
import re
import time
import uuid

import pytest

import daemons
import mqttc
import rawmqtt
from paho.mqtt.subscribeoptions import SubscribeOptions

V5 = mqttc.V5
PRESENCE = "$aws/events/presence/%s/%s"
SUBSCRIPTIONS = "$aws/events/subscriptions/%s/%s"
CONNECTED_KEYS = ["clientId", "timestamp", "eventType", "sessionIdentifier",
                  "principalIdentifier", "ipAddress", "versionNumber"]
DISCONNECTED_KEYS = ["clientId", "timestamp", "eventType",
                     "sessionIdentifier", "principalIdentifier",
                     "clientInitiatedDisconnect", "disconnectReason",
                     "versionNumber"]
SUBSCRIPTION_KEYS = ["clientId", "timestamp", "eventType",
                     "sessionIdentifier", "principalIdentifier", "topics"]


def new_id():
    return "lc-" + uuid.uuid4().hex[:16]


def topic_of(kind, cid):
    """The topic of the events of that kind ("connected", ...,
    "unsubscribed") about client id cid."""
    if kind.endswith("subscribed"):
        return SUBSCRIPTIONS % (kind, cid)
    return PRESENCE % (kind, cid)


def watch(clients, cid, broker=1, kinds=("connected", "disconnected")):
    """A client on `broker` subscribed (QoS 1) to the events of client
    id cid of those kinds."""
    w = clients(V5, broker)
    for kind in kinds:
        w.subscribe(topic_of(kind, cid), 1)
    return w


def event(watcher, kind, cid, timeout=mqttc.TIMEOUT):
    """The next event of that kind about cid, as (message, decoded
    JSON).  Messages on other topics are skipped: use it only where no
    other watched event can come first."""
    msg = watcher.get(timeout, topic=topic_of(kind, cid))
    return msg, json.loads(msg.payload)


def events_on(watcher, topics, timeout=mqttc.TIMEOUT):
    """One event on each of `topics`, in whatever order they come (two
    brokers, or two clients, publish them): {topic: decoded JSON}."""
    got = {}
    deadline = time.monotonic() + timeout
    while len(got) < len(topics):
        msg = watcher.get(max(deadline - time.monotonic(), 0.001))
        if msg.topic in topics and msg.topic not in got:
            got[msg.topic] = json.loads(msg.payload)
    return got


def qos_opt(proto, qos):
    """A SUBSCRIBE entry's QoS as paho takes it in a list."""
    return SubscribeOptions(qos=qos) if proto == V5 else qos


def check_common(ev, cid, kind):
    assert ev["clientId"] == cid
    assert ev["eventType"] == kind
    assert isinstance(ev["timestamp"], int)
    assert abs(ev["timestamp"] - time.time() * 1000) < 60000
    assert re.fullmatch(r"[0-9a-f]{32}", ev["sessionIdentifier"]), ev
    # plain TCP: no certificate, no principal
    assert ev["principalIdentifier"] == ""


def test_connected_event(cluster, clients, proto):
    """CONNACK -> connected on the other broker's subscriber: QoS 1, not
    retained, AWS's fields in AWS's order with their types."""
    cid = new_id()
    w = watch(clients, cid, broker=1)
    c = clients(proto, 0, client_id=cid)
    msg, ev = event(w, "connected", cid)
    assert msg.qos == 1 and not msg.retain
    assert list(ev) == CONNECTED_KEYS
    check_common(ev, cid, "connected")
    assert ev["ipAddress"] == "127.0.0.1"
    assert isinstance(ev["versionNumber"], int) and ev["versionNumber"] >= 1
    c.close()


def test_client_initiated_disconnect(clients, proto):
    """DISCONNECT -> CLIENT_INITIATED_DISCONNECT, clientInitiatedDisconnect
    true; same session and version number as the connected event; no
    ipAddress (AWS's disconnect shape)."""
    cid = new_id()
    w = watch(clients, cid, broker=1)
    c = clients(proto, 0, client_id=cid)
    _, con = event(w, "connected", cid)
    c.disconnect()
    _, ev = event(w, "disconnected", cid)
    assert list(ev) == DISCONNECTED_KEYS
    check_common(ev, cid, "disconnected")
    assert ev["clientInitiatedDisconnect"] is True
    assert ev["disconnectReason"] == "CLIENT_INITIATED_DISCONNECT"
    assert ev["sessionIdentifier"] == con["sessionIdentifier"]
    assert ev["versionNumber"] == con["versionNumber"]
    assert ev["timestamp"] >= con["timestamp"]


@pytest.mark.parametrize("how", ["fin", "rst"])
def test_connection_lost(cluster, clients, how):
    """The socket closed without DISCONNECT (FIN or RST) ->
    CONNECTION_LOST, not client-initiated."""
    cid = new_id()
    w = watch(clients, cid, broker=1)
    raw = rawmqtt.RawClient(cluster.host, cluster.mqtt_ports[0])
    raw.handshake(cid)
    event(w, "connected", cid)
    if how == "rst":
        raw.abort()
    else:
        raw.close()
    _, ev = event(w, "disconnected", cid)
    assert ev["disconnectReason"] == "CONNECTION_LOST"
    assert ev["clientInitiatedDisconnect"] is False


@pytest.mark.parametrize("version", [rawmqtt.V311, rawmqtt.V5])
def test_keepalive_timeout(cluster, clients, version):
    """A silent client with a 1 s keepalive -> MQTT_KEEP_ALIVE_TIMEOUT
    (the test cluster runs with keepalive-min 1)."""
    cid = new_id()
    w = watch(clients, cid, broker=1)
    raw = rawmqtt.RawClient(cluster.host, cluster.mqtt_ports[0], version)
    try:
        raw.handshake(cid, keepalive=1)
        event(w, "connected", cid)
        _, ev = event(w, "disconnected", cid, timeout=6)
        assert ev["disconnectReason"] == "MQTT_KEEP_ALIVE_TIMEOUT"
        assert ev["clientInitiatedDisconnect"] is False
    finally:
        raw.close()


@pytest.mark.parametrize("second_broker", [0, 1],
                         ids=["same-broker", "other-broker"])
def test_takeover(clients, proto, second_broker):
    """A second connection with the same client id -> the first one's
    disconnected event says DUPLICATE_CLIENTID; the second one's connected
    event has a greater version number."""
    cid = new_id()
    w = watch(clients, cid, broker=1)
    first = clients(proto, 0, client_id=cid)
    _, con1 = event(w, "connected", cid)
    second = clients(proto, second_broker, client_id=cid)
    # from two brokers (other-broker) they may come in either order
    got = events_on(w, [PRESENCE % ("disconnected", cid),
                        PRESENCE % ("connected", cid)])
    ev = got[PRESENCE % ("disconnected", cid)]
    con2 = got[PRESENCE % ("connected", cid)]
    assert ev["disconnectReason"] == "DUPLICATE_CLIENTID"
    assert ev["clientInitiatedDisconnect"] is False
    assert ev["sessionIdentifier"] == con1["sessionIdentifier"]
    assert ev["versionNumber"] == con1["versionNumber"]
    assert con2["versionNumber"] > con1["versionNumber"]
    first.wait_disconnected()
    second.close()


def test_protocol_error(cluster, clients):
    """A packet that breaks the protocol after CONNECT (a second CONNECT)
    -> CLIENT_ERROR."""
    cid = new_id()
    w = watch(clients, cid, broker=1)
    raw = rawmqtt.RawClient(cluster.host, cluster.mqtt_ports[0], rawmqtt.V5)
    try:
        raw.handshake(cid)
        event(w, "connected", cid)
        raw.send(rawmqtt.connect(cid, rawmqtt.V5))
        raw.wait_closed()
        _, ev = event(w, "disconnected", cid)
        assert ev["disconnectReason"] == "CLIENT_ERROR"
    finally:
        raw.close()


def test_refused_connect_has_no_event(cluster, clients):
    """A CONNECT refused with a CONNACK error (3.1.1 empty client id with
    Clean Session 0: identifier rejected) publishes nothing; nor does a
    connection that never sends CONNECT."""
    w = clients(V5, 1)
    w.subscribe("$aws/events/presence/+/+", 1)
    raw = rawmqtt.RawClient(cluster.host, cluster.mqtt_ports[0])
    try:
        raw.send(rawmqtt.connect("", rawmqtt.V311, clean=False))
        ack = raw.recv()
        assert ack.type == rawmqtt.CONNACK
        raw.wait_closed()
    finally:
        raw.close()
    # nothing about an empty client id (events of other tests' clients
    # may go by: only those name a client id)
    for m in w.drain(settle=0.5):
        assert not m.topic.endswith("/"), m


def test_version_grows_on_reconnect(cluster, clients):
    """Reconnecting to the session the broker holds (persistent, resumed
    on the same broker: answered before the registry) and through the
    registry (clean: the session ended) always gives a greater
    versionNumber."""
    cid = new_id()
    w = watch(clients, cid, broker=1)
    versions = []
    for clean, expiry in [(True, None), (False, 300), (False, 300),
                          (True, None)]:
        c = mqttc.Client(V5, client_id=cid, clean=clean)
        c.connect(cluster.host, cluster.mqtt_ports[0],
                  session_expiry=expiry)
        _, con = event(w, "connected", cid)
        c.close()
        _, dis = event(w, "disconnected", cid)
        assert dis["versionNumber"] == con["versionNumber"]
        versions.append(con["versionNumber"])
    assert versions == sorted(versions) and len(set(versions)) == 4, \
        versions


def test_subscribed_and_unsubscribed(clients, proto):
    """SUBSCRIBE -> subscribed with the granted filters only (one over
    max-topic-depth is refused and left out); UNSUBSCRIBE -> unsubscribed
    with the filters removed (one never subscribed is left out)."""
    cid = new_id()
    base = mqttc.unique()
    w = watch(clients, cid, broker=1, kinds=("subscribed", "unsubscribed"))
    c = clients(proto, 0, client_id=cid)
    deep = base + "/1/2/3/4/5/6/7/8"
    granted = [base + "/a", base + "/+/b"]
    rc, mid = c.paho.subscribe([(granted[0], qos_opt(proto, 1)),
                                (deep, qos_opt(proto, 0)),
                                (granted[1], qos_opt(proto, 2))])
    assert rc == 0
    codes = c._wait_ack(mid, "SUBACK")
    assert codes[0] == 1 and codes[1] >= 0x80 and codes[2] == 2, codes
    msg, ev = event(w, "subscribed", cid)
    assert msg.qos == 1 and not msg.retain
    assert list(ev) == SUBSCRIPTION_KEYS
    check_common(ev, cid, "subscribed")
    assert ev["topics"] == granted
    rc, mid = c.paho.unsubscribe([granted[1], base + "/never"])
    assert rc == 0
    c._wait_ack(mid, "UNSUBACK")
    _, ev = event(w, "unsubscribed", cid)
    check_common(ev, cid, "unsubscribed")
    assert ev["topics"] == [granted[1]]
    # nothing removed: no event
    c.unsubscribe(base + "/never")
    assert [m for m in w.drain(settle=0.5)
            if "/unsubscribed/" in m.topic] == []


def test_plus_filter_sees_events_hash_does_not(clients):
    """'$aws/events/presence/connected/+' gets every client's connected
    event; a top-level '#' never gets a '$' topic (MQTT 4.7.2)."""
    plus = clients(V5, 1)
    plus.subscribe("$aws/events/presence/connected/+", 1)
    hash_ = clients(V5, 1)
    hash_.subscribe("#", 0)
    cid = new_id()
    c = clients(V5, 0, client_id=cid)
    _, ev = event(plus, "connected", cid)
    assert ev["clientId"] == cid
    c.close()
    assert [m.topic for m in hash_.drain(settle=0.5)
            if m.topic.startswith("$")] == []


def test_metrics_count_events(cluster, clients):
    """strata_broker_lifecycle_events_total{type} counts what a broker
    published."""
    port = cluster.broker_metrics_ports[0]

    def count(t):
        return daemons.metric(port, "strata_broker_lifecycle_events_total",
                              'type="%s"' % t)

    before = {t: count(t) for t in ("connected", "disconnected",
                                    "subscribed", "unsubscribed")}
    cid = new_id()
    w = watch(clients, cid, broker=1, kinds=("connected", "disconnected",
                                             "subscribed", "unsubscribed"))
    c = clients(V5, 0, client_id=cid)
    c.subscribe(mqttc.unique() + "/m", 0)
    c.paho.unsubscribe(mqttc.unique() + "/never")
    c.disconnect()
    event(w, "disconnected", cid)
    for t in before:
        want = 0 if t == "unsubscribed" else 1
        assert count(t) - before[t] >= want, t


def test_option_off(cluster, clients, extra_broker):
    """lifecycle-events false: a broker publishes no event at all."""
    b = extra_broker("--lifecycle-events", "false")
    cid = new_id()
    w = watch(clients, cid, broker=0, kinds=("connected", "disconnected",
                                             "subscribed", "unsubscribed"))
    c = mqttc.Client(V5, client_id=cid)
    try:
        c.connect("127.0.0.1", b.port)
        c.subscribe(mqttc.unique() + "/off", 1)
        c.disconnect()
    finally:
        c.close()
    assert w.drain(settle=1.0) == []
    for t in ("connected", "disconnected", "subscribed"):
        assert daemons.metric(b.metrics_port,
                              "strata_broker_lifecycle_events_total",
                              'type="%s"' % t) == 0


def test_server_shutdown(cluster, clients, extra_broker):
    """A broker shutting down (SIGTERM) -> SERVER_INITIATED_DISCONNECT for
    its clients, 3.1.1 and 5, seen on another broker."""
    b = extra_broker()
    ids = {V5: new_id(), mqttc.V311: new_id()}
    w = clients(V5, 0)
    for cid in ids.values():
        w.subscribe(PRESENCE % ("connected", cid), 1)
        w.subscribe(PRESENCE % ("disconnected", cid), 1)
    made = []
    try:
        for proto, cid in ids.items():
            c = mqttc.Client(proto, client_id=cid)
            made.append(c)
            c.connect("127.0.0.1", b.port)
            event(w, "connected", cid)
        assert b.stop() == 0
        got = events_on(w, [PRESENCE % ("disconnected", cid)
                            for cid in ids.values()])
        for ev in got.values():
            assert ev["disconnectReason"] == "SERVER_INITIATED_DISCONNECT"
            assert ev["clientInitiatedDisconnect"] is False
    finally:
        for c in made:
            c.close()


@pytest.mark.parametrize("version", [rawmqtt.V311, rawmqtt.V5])
def test_clients_cannot_forge_events(cluster, clients, version):
    """'$aws/events/' belongs to the broker: a client's PUBLISH there is
    refused as not authorized (MQTT 5 QoS 1: PUBACK 0x87; 3.1.1: closed),
    and so is a CONNECT whose will topic is there (CONNACK 0x87 / 0x05).
    No subscriber sees a forged event."""
    victim = new_id()
    topic = PRESENCE % ("disconnected", victim)
    w = clients(V5, 1)
    w.subscribe(topic, 1)
    raw = rawmqtt.RawClient(cluster.host, cluster.mqtt_ports[0], version)
    try:
        raw.handshake(new_id())
        raw.send(rawmqtt.publish(topic, b'{"clientId":"x"}', qos=1,
                                 packet_id=7, version=version))
        if version == rawmqtt.V5:
            ack = raw.recv_type(rawmqtt.PUBACK)
            assert ack.packet_id == 7 and ack.reason == 0x87, ack
        else:
            raw.wait_closed()
    finally:
        raw.close()
    raw = rawmqtt.RawClient(cluster.host, cluster.mqtt_ports[0], version)
    try:
        will = {"topic": topic, "payload": b"forged", "qos": 1}
        raw.send(rawmqtt.connect(new_id(), version, will=will))
        ack = raw.recv()
        assert ack.type == rawmqtt.CONNACK
        assert ack.reason == (0x87 if version == rawmqtt.V5 else 0x05)
        raw.wait_closed()
    finally:
        raw.close()
    assert w.drain(settle=0.5) == []
