"""MQTT 5 features carried end to end through the cluster: subscription
options, properties forwarded across brokers, subscription identifiers,
message expiry, topic aliases, request/response and Response
Information, Payload Format Indicator checks, and what CONNACK says."""

import time
import uuid

import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

import mqttc
import rawmqtt
from daemons import metric
from mqttc import V5, unique


def test_no_local(clients):
    """No Local: a client does not receive its own publications on that
    subscription (MQTT-3.8.3-3); other subscribers do."""
    topic = unique() + "/nl"
    me = clients(V5, 0)
    me.subscribe(topic, 1, noLocal=True)
    other = clients(V5, 1)
    other.subscribe(topic, 1)
    me.publish(topic, b"mine", 1)
    assert other.get(topic=topic).payload == b"mine"
    clients(V5, 1).publish(topic, b"theirs", 1)
    got = [me.get(topic=topic)] + me.drain()
    assert [m.payload for m in got] == [b"theirs"]


def test_retain_as_published(clients):
    """Retain As Published 1 keeps RETAIN=1 on live deliveries of a
    retained publish; 0 clears it (MQTT-3.3.1-12/13)."""
    topic = unique() + "/rap"
    keep = clients(V5, 1)
    keep.subscribe(topic, 1, retainAsPublished=True)
    clear = clients(V5, 1)
    clear.subscribe(topic, 1, retainAsPublished=False)
    pub = clients(V5, 0)
    pub.publish(topic, b"r", 1, retain=True)
    assert keep.get(topic=topic).retain is True
    assert clear.get(topic=topic).retain is False
    pub.publish(topic, b"", 1, retain=True)


def test_retain_handling(clients):
    """Retain Handling 2: no retained messages at subscribe time; 1: only
    when the subscription is new; 0: every time (MQTT-3.3.1-9/10/11)."""
    base = unique()
    topic = base + "/rh"
    sentinel = base + "/sentinel"
    pub = clients(V5, 0)
    pub.publish(topic, b"kept", 1, retain=True)
    pub.publish(sentinel, b"s", 1, retain=True)

    never = clients(V5, 1)
    never.subscribe(topic, 1, retainHandling=2)
    never.subscribe(sentinel, 1, retainHandling=0)
    never.get(topic=sentinel)
    assert [m for m in never.drain() if m.topic == topic] == []

    once = clients(V5, 1)
    once.subscribe(topic, 1, retainHandling=1)
    assert once.get(topic=topic).payload == b"kept"
    once.subscribe(topic, 1, retainHandling=1)   # not new: nothing
    once.subscribe(sentinel, 1, retainHandling=0)
    once.get(topic=sentinel)
    assert [m for m in once.drain() if m.topic == topic] == []

    always = clients(V5, 1)
    always.subscribe(topic, 1, retainHandling=0)
    assert always.get(topic=topic).payload == b"kept"
    always.subscribe(topic, 1, retainHandling=0)  # again: resent
    assert always.get(topic=topic).payload == b"kept"
    pub.publish(topic, b"", 1, retain=True)
    pub.publish(sentinel, b"", 1, retain=True)


def test_publish_properties_forwarded(clients):
    """Payload Format Indicator, Content Type, Response Topic, Correlation
    Data and User Properties reach a subscriber on the other broker
    unchanged, user properties in order (MQTT-3.3.2-4, 3.3.2-17/18)."""
    topic = unique() + "/props"
    sub = clients(V5, 1)
    sub.subscribe(topic, 1)
    props = Properties(PacketTypes.PUBLISH)
    props.PayloadFormatIndicator = 1
    props.ContentType = "application/json"
    props.ResponseTopic = topic + "/reply"
    props.CorrelationData = b"\x00\x01corr"
    props.UserProperty = [("k1", "v1"), ("k2", "v2"), ("k1", "again")]
    clients(V5, 0).publish(topic, b'{"a":1}', 1, properties=props)
    msg = sub.get(topic=topic)
    p = msg.properties
    assert msg.payload == b'{"a":1}'
    assert p.PayloadFormatIndicator == 1
    assert p.ContentType == "application/json"
    assert p.ResponseTopic == topic + "/reply"
    assert p.CorrelationData == b"\x00\x01corr"
    assert p.UserProperty == [("k1", "v1"), ("k2", "v2"), ("k1", "again")]


def test_subscription_identifier(clients):
    """Each delivery carries the Subscription Identifier of the matching
    subscription (MQTT-3.3.4-3/4)."""
    base = unique()
    sub = clients(V5, 1)
    p = Properties(PacketTypes.SUBSCRIBE)
    p.SubscriptionIdentifier = 42
    sub.subscribe(base + "/a/#", 1, properties=p)
    p = Properties(PacketTypes.SUBSCRIBE)
    p.SubscriptionIdentifier = 7
    sub.subscribe(base + "/b", 1, properties=p)
    pub = clients(V5, 0)
    pub.publish(base + "/a/x", b"1", 1)
    assert sub.get(topic=base + "/a/x").properties.SubscriptionIdentifier \
        == [42]
    pub.publish(base + "/b", b"2", 1)
    assert sub.get(topic=base + "/b").properties.SubscriptionIdentifier \
        == [7]


@pytest.mark.parametrize("n", [8, 10])
def test_subscription_identifiers_of_many_subscriptions(clients, n):
    """Every matching subscription's identifier reaches the client: up to
    8 in one PUBLISH (MQTT-3.3.4-4); more than that, one PUBLISH per
    matching subscription, each with its own identifier and QoS
    (MQTT-3.3.4-5)."""
    base = unique()
    topic = base + "/x/y/z"
    filters = [base + f for f in ("/x/y/z", "/x/y/+", "/x/+/z", "/+/y/z",
                                  "/x/+/+", "/+/+/z", "/+/y/+", "/+/+/+",
                                  "/#", "/x/#")][:n]
    sub = clients(V5, 1)
    for i, f in enumerate(filters):
        p = Properties(PacketTypes.SUBSCRIBE)
        p.SubscriptionIdentifier = 100 + i
        sub.subscribe(f, 1 + i % 2, properties=p)
    clients(V5, 0).publish(topic, b"m", 2)
    if n <= 8:
        msg = sub.get(topic=topic)
        assert sorted(msg.properties.SubscriptionIdentifier) == [
            100 + i for i in range(n)]
        assert msg.qos == 2
    else:
        got = [sub.get(topic=topic) for _ in range(n)]
        assert sorted((m.properties.SubscriptionIdentifier, m.qos)
                      for m in got) == [([100 + i], 1 + i % 2)
                                        for i in range(n)]
    assert [m for m in sub.drain() if m.topic == topic] == []


def test_message_expiry_forwarded(clients):
    """A Message Expiry Interval is forwarded, reduced by the time the
    message waited, never increased (MQTT-3.3.2-6)."""
    topic = unique() + "/exp"
    sub = clients(V5, 1)
    sub.subscribe(topic, 1)
    props = Properties(PacketTypes.PUBLISH)
    props.MessageExpiryInterval = 60
    clients(V5, 0).publish(topic, b"e", 1, properties=props)
    got = sub.get(topic=topic).properties
    assert 0 < got.MessageExpiryInterval <= 60


def test_topic_alias_from_client(cluster, clients):
    """A client may use topic aliases up to the Topic Alias Maximum of the
    CONNACK; subscribers see the full topic.  With no maximum (0), using
    an alias is a protocol error: DISCONNECT 0x94 (MQTT-3.3.2-9)."""
    topic = unique() + "/alias"
    sub = clients(V5, 1)
    sub.subscribe(topic, 1)
    conn = rawmqtt.RawClient(cluster.host, cluster.mqtt_ports[0], V5)
    try:
        ack = conn.handshake("it-alias-" + uuid.uuid4().hex[:8])
        assert ack.reason == 0
        maximum = ack.properties.get(0x22, 0)
        conn.send(rawmqtt.publish(topic, b"first", qos=1, packet_id=1,
                                  version=V5, properties=[(0x23, 1)]))
        if maximum == 0:
            got = conn.wait_closed()
            assert [(p.type, p.reason) for p in got] == [
                (rawmqtt.DISCONNECT, 0x94)]
            return
        assert conn.recv_type(rawmqtt.PUBACK).packet_id == 1
        conn.send(rawmqtt.publish("", b"second", qos=1, packet_id=2,
                                  version=V5, properties=[(0x23, 1)]))
        assert conn.recv_type(rawmqtt.PUBACK).packet_id == 2
    finally:
        conn.close()
    assert [sub.get(topic=topic).payload for _ in range(2)] == [
        b"first", b"second"]


# -- request / response ------------------------------------------------

def test_request_response_across_brokers(clients):
    """Request/response (MQTT 5 4.10): the requester's Response Topic and
    Correlation Data reach the responder on the other broker unchanged,
    and its answer on that topic, with the same Correlation Data, reaches
    the requester."""
    base = unique()
    requester = clients(V5, 0)
    requester.subscribe(base + "/reply", 1)
    responder = clients(V5, 1)
    responder.subscribe(base + "/req", 1)
    props = Properties(PacketTypes.PUBLISH)
    props.ResponseTopic = base + "/reply"
    props.CorrelationData = b"\x00req-1\xff"
    requester.publish(base + "/req", b"what time is it", 1, properties=props)
    req = responder.get(topic=base + "/req")
    assert req.properties.ResponseTopic == base + "/reply"
    assert req.properties.CorrelationData == b"\x00req-1\xff"
    answer = Properties(PacketTypes.PUBLISH)
    answer.CorrelationData = req.properties.CorrelationData
    responder.publish(req.properties.ResponseTopic, b"noon", 1,
                      properties=answer)
    got = requester.get(topic=base + "/reply")
    assert got.payload == b"noon"
    assert got.properties.CorrelationData == b"\x00req-1\xff"


def _connack_props(port, request_response_info=None):
    conn = rawmqtt.RawClient("127.0.0.1", port, V5)
    try:
        props = []
        if request_response_info is not None:
            props.append((rawmqtt.PROP_REQUEST_RESPONSE_INFO,
                          request_response_info))
        cid = "it-ri-" + uuid.uuid4().hex[:10]
        ack = conn.handshake(cid, properties=props)
        assert ack.reason == 0, ack
        return cid, ack.properties
    finally:
        conn.close()


def test_response_information(cluster, extra_broker):
    """Request Response Information 1 gets the response-information
    template with the client id in the CONNACK (MQTT-3.1.2-28 allows the
    server to send none: the default, empty, sends none); without the
    request, or with 0, nothing is sent (MQTT 5 3.1.2.11.6)."""
    b = extra_broker("--response-information", "reply/%c/")
    cid, props = _connack_props(b.port, 1)
    assert props.get(rawmqtt.PROP_RESPONSE_INFO) == "reply/%s/" % cid
    for ask in (None, 0):
        _, props = _connack_props(b.port, ask)
        assert rawmqtt.PROP_RESPONSE_INFO not in props, props
    _, props = _connack_props(cluster.mqtt_ports[0], 1)
    assert rawmqtt.PROP_RESPONSE_INFO not in props, props


def test_response_information_paho(cluster, extra_broker, clients):
    """The same through Paho: CONNACK's ResponseInformation, then a
    request/response round trip on a topic below it."""
    b = extra_broker("--response-information", "rr/%c")
    c = clients(V5, connect=False)
    props = Properties(PacketTypes.CONNECT)
    props.RequestResponseInformation = 1
    info = c.connect(cluster.host, b.port, properties=props)[2] \
        .ResponseInformation
    assert info == "rr/" + c.client_id
    c.subscribe(info + "/#", 1)
    answer = Properties(PacketTypes.PUBLISH)
    answer.CorrelationData = b"42"
    clients(V5, 1).publish(info + "/x", b"to you", 1, properties=answer)
    got = c.get(topic=info + "/x")
    assert got.properties.CorrelationData == b"42"


# -- payload format ----------------------------------------------------

BAD_UTF8 = b"\xc3\x28 not utf-8"


def test_payload_format_invalid(cluster, clients, raws):
    """Payload Format Indicator 1 with a payload that is not UTF-8
    (MQTT 5 3.3.2.3.2, 4.13): QoS 1 gets PUBACK 0x99 and QoS 2 PUBREC
    0x99, the connection staying up; QoS 0, which has no ack, gets
    DISCONNECT 0x99.  None of them is delivered; the same payload with
    indicator 0 is."""
    topic = unique() + "/pfi"
    sub = clients(V5, 1)
    sub.subscribe(topic, 1)
    conn = raws(rawmqtt.RawClient(cluster.host, cluster.mqtt_ports[0], V5))
    assert conn.handshake("it-pfi-" + uuid.uuid4().hex[:8]).reason == 0
    utf8 = [(rawmqtt.PROP_PAYLOAD_FORMAT, 1)]
    conn.send(rawmqtt.publish(topic, BAD_UTF8, 1, packet_id=1, version=V5,
                              properties=utf8))
    ack = conn.recv_type(rawmqtt.PUBACK)
    assert (ack.packet_id, ack.reason) == (1, 0x99)
    assert "UTF-8" in ack.properties.get(rawmqtt.PROP_REASON_STRING, "")
    conn.send(rawmqtt.publish(topic, BAD_UTF8, 2, packet_id=2, version=V5,
                              properties=utf8))
    ack = conn.recv_type(rawmqtt.PUBREC)
    assert (ack.packet_id, ack.reason) == (2, 0x99)
    conn.send(rawmqtt.publish(topic, BAD_UTF8, 1, packet_id=3, version=V5,
                              properties=[(rawmqtt.PROP_PAYLOAD_FORMAT, 0)]))
    assert conn.recv_type(rawmqtt.PUBACK).reason in (None, 0)
    got = sub.get(topic=topic)
    assert (got.payload, got.properties.PayloadFormatIndicator) == (
        BAD_UTF8, 0)
    conn.send(rawmqtt.publish(topic, BAD_UTF8, 0, version=V5,
                              properties=utf8))
    closed = conn.wait_closed()
    assert [(p.type, p.reason) for p in closed] == [
        (rawmqtt.DISCONNECT, 0x99)]
    assert sub.drain() == []


def test_will_payload_format_invalid(cluster, raws):
    """A Will whose Payload Format Indicator is 1 and whose payload is not
    UTF-8 is refused with CONNACK 0x99 (MQTT 5 3.1.3.2.3)."""
    conn = raws(rawmqtt.RawClient(cluster.host, cluster.mqtt_ports[0], V5))
    will = {"topic": unique() + "/will", "payload": BAD_UTF8,
            "properties": [(rawmqtt.PROP_PAYLOAD_FORMAT, 1)]}
    conn.send(rawmqtt.connect("it-pfiw-" + uuid.uuid4().hex[:8], V5,
                              will=will))
    got = conn.wait_closed()
    assert [(p.type, p.reason) for p in got] == [(rawmqtt.CONNACK, 0x99)]


def test_will_properties_forwarded(cluster, clients, raws):
    """The Will properties of MQTT 5 (Payload Format Indicator, Content
    Type, Response Topic, Correlation Data, User Property) are those of
    the will message a subscriber on the other broker receives; the Will
    Delay Interval is not passed on."""
    topic = unique() + "/will"
    sub = clients(V5, 1)
    sub.subscribe(topic, 1)
    conn = raws(rawmqtt.RawClient(cluster.host, cluster.mqtt_ports[0], V5))
    will = {"topic": topic, "payload": "bye \u00e9", "qos": 1,
            "properties": [(rawmqtt.PROP_PAYLOAD_FORMAT, 1),
                           (rawmqtt.PROP_CONTENT_TYPE, "text/plain"),
                           (0x08, topic + "/resp"), (0x09, b"\x01\x02"),
                           (0x26, ("who", "me"))]}
    assert conn.handshake("it-wprops-" + uuid.uuid4().hex[:8],
                          will=will).reason == 0
    conn.abort()
    got = sub.get(topic=topic)
    p = got.properties
    assert got.payload == "bye \u00e9".encode()
    assert p.PayloadFormatIndicator == 1
    assert p.ContentType == "text/plain"
    assert p.ResponseTopic == topic + "/resp"
    assert p.CorrelationData == b"\x01\x02"
    assert p.UserProperty == [("who", "me")]
    assert not hasattr(p, "WillDelayInterval")


# -- what CONNACK says -------------------------------------------------

def test_connack_advertises_what_the_broker_does(cluster, raws):
    """An MQTT 5 CONNACK states each capability as the broker has it:
    Maximum QoS absent (QoS 2: MQTT-3.2.2-9 forbids sending 2), Retain,
    Wildcard Subscription, Subscription Identifiers and Shared
    Subscription available, Receive Maximum 100, Topic Alias Maximum 10,
    Maximum Packet Size max-payload + 68 KiB; no Server Keep Alive when
    the keepalive is within bounds.  The values are then held to: a topic
    alias at the maximum works and one above it is 0x94, a packet of the
    Maximum Packet Size is read and one byte more is 0x95, a $share
    filter is granted."""
    conn = raws(rawmqtt.RawClient(cluster.host, cluster.mqtt_ports[0], V5))
    ack = conn.handshake("it-caps-" + uuid.uuid4().hex[:8], keepalive=60)
    p = ack.properties
    max_packet = 128 * 1024 + 68 * 1024
    assert {k: v for k, v in p.items()} == {
        rawmqtt.PROP_RECEIVE_MAXIMUM: 100,
        rawmqtt.PROP_TOPIC_ALIAS_MAXIMUM: 10,
        rawmqtt.PROP_RETAIN_AVAILABLE: 1,
        rawmqtt.PROP_MAXIMUM_PACKET_SIZE: max_packet,
        rawmqtt.PROP_WILDCARD_SUB_AVAILABLE: 1,
        rawmqtt.PROP_SUB_ID_AVAILABLE: 1,
        rawmqtt.PROP_SHARED_SUB_AVAILABLE: 1,
    }
    topic = unique() + "/caps"
    conn.send(rawmqtt.publish(topic, b"a", 1, packet_id=1, version=V5,
                              properties=[(rawmqtt.PROP_TOPIC_ALIAS, 10)]))
    assert conn.recv_type(rawmqtt.PUBACK).packet_id == 1
    conn.send(rawmqtt.subscribe([("$share/g/" + topic, 1)], 2, V5))
    assert conn.recv_type(rawmqtt.SUBACK).reason == [1]
    # a QoS 0 PUBLISH of exactly Maximum Packet Size bytes is read (its
    # payload is over max-payload, which has its own answer: 0x95 too,
    # so use QoS 1 and get PUBACK 0x97 instead)
    head = rawmqtt.publish(topic, b"", 1, packet_id=3, version=V5)
    body_len = max_packet - len(head) - 2   # remaining length grows by 2
    pkt = rawmqtt.publish(topic, b"x" * body_len, 1, packet_id=3,
                          version=V5)
    assert len(pkt) == max_packet
    conn.send(pkt)
    ack = conn.recv_type(rawmqtt.PUBACK)
    assert (ack.packet_id, ack.reason) == (3, 0x97)
    conn.send(rawmqtt.publish(topic, b"x" * (body_len + 1), 1, packet_id=4,
                              version=V5))
    got = conn.wait_closed()
    assert [(p.type, p.reason) for p in got] == [(rawmqtt.DISCONNECT, 0x95)]
    conn2 = raws(rawmqtt.RawClient(cluster.host, cluster.mqtt_ports[0], V5))
    assert conn2.handshake("it-caps-" + uuid.uuid4().hex[:8]).reason == 0
    conn2.send(rawmqtt.publish(topic, b"a", 1, packet_id=1, version=V5,
                               properties=[(rawmqtt.PROP_TOPIC_ALIAS, 11)]))
    got = conn2.wait_closed()
    assert [(p.type, p.reason) for p in got] == [(rawmqtt.DISCONNECT, 0x94)]


# -- message expiry while a message waits ------------------------------

def _expiry(seconds):
    p = Properties(PacketTypes.PUBLISH)
    p.MessageExpiryInterval = seconds
    return p


def _drops_expired(cluster, broker):
    return metric(cluster.broker_metrics_ports[broker],
                  "strata_broker_drops_total", 'reason="expired"')


@pytest.mark.parametrize("resume_broker", [0, 1],
                         ids=["same-broker", "other-broker"])
def test_message_expiry_offline_session(cluster, clients, resume_broker):
    """Messages queued for an offline persistent session age there (and
    across a hand-off to another broker): on resume, one whose Message
    Expiry Interval (1 s) passed is not sent, and is counted as an
    expired drop on the broker that resumed the session; one with 60 s
    comes with the interval less the time it waited; one without expiry
    comes without (MQTT-3.3.2-5, 3.3.2-6)."""
    cid = "it-exp-" + uuid.uuid4().hex[:10]
    topic = unique() + "/exp"
    host, ports = cluster.host, cluster.mqtt_ports
    c = clients(V5, 0, connect=False, client_id=cid, clean=False)
    c.connect(host, ports[0], clean_start=True, session_expiry=300)
    c.subscribe(topic, 1)
    c.close()
    pub = clients(V5, 1)
    pub.publish(topic, b"short", 1, properties=_expiry(1))
    pub.publish(topic, b"long", 1, properties=_expiry(60))
    pub.publish(topic, b"none", 1)
    before = _drops_expired(cluster, resume_broker)
    time.sleep(2.2)
    back = clients(V5, 0, connect=False, client_id=cid, clean=False)
    back.connect(host, ports[resume_broker], clean_start=False,
                 session_expiry=300)
    assert back.session_present()
    got = [back.get(topic=topic), back.get(topic=topic)]
    assert [m.payload for m in got] == [b"long", b"none"]
    assert 55 <= got[0].properties.MessageExpiryInterval <= 58
    assert not hasattr(got[1].properties, "MessageExpiryInterval")
    assert back.drain(0.5) == []
    assert _drops_expired(cluster, resume_broker) >= before + 1


def test_message_expiry_in_flight(cluster, clients, raws):
    """A QoS 1 message sent but not acknowledged when the connection
    dropped is not sent again on resume once its interval has passed
    (dropped, counted); one still alive is re-sent with DUP and the
    interval less its wait."""
    cid = "it-expf-" + uuid.uuid4().hex[:10]
    topic = unique() + "/expf"
    expiry = [(rawmqtt.PROP_SESSION_EXPIRY, 300)]
    conn = raws(rawmqtt.RawClient(cluster.host, cluster.mqtt_ports[0], V5))
    assert conn.handshake(cid, properties=expiry).reason == 0
    conn.send(rawmqtt.subscribe([(topic, 1)], 1, V5))
    assert conn.recv_type(rawmqtt.SUBACK).reason == [1]
    pub = clients(V5, 1)
    pub.publish(topic, b"short", 1, properties=_expiry(1))
    pub.publish(topic, b"long", 1, properties=_expiry(60))
    first = [conn.recv_type(rawmqtt.PUBLISH) for _ in range(2)]
    assert [p.payload for p in first] == [b"short", b"long"]
    assert first[0].properties[rawmqtt.PROP_MESSAGE_EXPIRY] == 1
    conn.abort()
    before = _drops_expired(cluster, 0)
    time.sleep(2.2)
    again = raws(rawmqtt.RawClient(cluster.host, cluster.mqtt_ports[0], V5))
    ack = again.handshake(cid, clean=False, properties=expiry)
    assert ack.session_present
    resent = again.recv_type(rawmqtt.PUBLISH)
    assert (resent.payload, resent.packet_id) == (b"long",
                                                  first[1].packet_id)
    assert resent.flags & 0x08
    assert 55 <= resent.properties[rawmqtt.PROP_MESSAGE_EXPIRY] <= 58
    again.send(rawmqtt.puback(resent.packet_id))
    pub.publish(topic, b"sentinel", 1)
    assert again.recv_type(rawmqtt.PUBLISH).payload == b"sentinel"
    assert _drops_expired(cluster, 0) >= before + 1


def test_message_expiry_queued_behind_window(cluster, clients, raws):
    """A message waiting in the session queue of a connected client
    (its Receive Maximum, 1, is used up) expires there too."""
    topic = unique() + "/expw"
    conn = raws(rawmqtt.RawClient(cluster.host, cluster.mqtt_ports[0], V5))
    ack = conn.handshake("it-expw-" + uuid.uuid4().hex[:10], properties=[
        (rawmqtt.PROP_RECEIVE_MAXIMUM, 1)])
    assert ack.reason == 0
    conn.send(rawmqtt.subscribe([(topic, 1)], 1, V5))
    assert conn.recv_type(rawmqtt.SUBACK).reason == [1]
    pub = clients(V5, 1)
    pub.publish(topic, b"first", 1)
    pub.publish(topic, b"short", 1, properties=_expiry(1))
    pub.publish(topic, b"last", 1)
    first = conn.recv_type(rawmqtt.PUBLISH)
    assert first.payload == b"first"
    time.sleep(2.2)
    conn.send(rawmqtt.puback(first.packet_id))
    nxt = conn.recv_type(rawmqtt.PUBLISH)
    assert nxt.payload == b"last"


def test_message_expiry_for_v311_subscriber(cluster, clients):
    """A 3.1.1 subscriber is not told the interval, but an expired message
    is not delivered to it either."""
    cid = "it-exp3-" + uuid.uuid4().hex[:10]
    topic = unique() + "/exp3"
    c = clients(mqttc.V311, 0, client_id=cid, clean=False)
    c.subscribe(topic, 1)
    c.close()
    pub = clients(V5, 1)
    pub.publish(topic, b"short", 1, properties=_expiry(1))
    pub.publish(topic, b"kept", 1)
    time.sleep(2.2)
    back = clients(mqttc.V311, 0, client_id=cid, clean=False)
    assert back.session_present()
    assert back.get(topic=topic).payload == b"kept"
    assert back.drain(0.5) == []


@pytest.mark.parametrize("expiry", [0, 300], ids=["clean", "persistent"])
def test_queued_message_over_client_max_packet_dropped(cluster, raws,
                                                      expiry):
    """A QoS 1 message larger than the subscriber's Maximum Packet Size
    is dropped when the broker would send it (counted), and the next one
    goes out: the broker kept no use of the dropped message (found by the
    network fuzz test under ASan: a use after free, clean or persistent
    session)."""
    topic = unique() + "/mps"
    sub = raws(rawmqtt.RawClient(cluster.host, cluster.mqtt_ports[0], V5))
    props = [(rawmqtt.PROP_MAXIMUM_PACKET_SIZE, 200)]
    if expiry:
        props.append((rawmqtt.PROP_SESSION_EXPIRY, expiry))
    assert sub.handshake("it-mps-" + uuid.uuid4().hex[:8], clean=True,
                         properties=props).reason == 0
    sub.send(rawmqtt.subscribe([(topic, 1)], version=V5))
    sub.recv_type(rawmqtt.SUBACK)
    before = metric(cluster.broker_metrics_ports[0],
                    "strata_broker_drops_total",
                    'reason="over_client_max_packet"')
    pub = raws(rawmqtt.RawClient(cluster.host, cluster.mqtt_ports[1], V5))
    assert pub.handshake("it-mps-pub-" + uuid.uuid4().hex[:6]).reason == 0
    pub.send(rawmqtt.publish(topic, b"x" * 500, 1, packet_id=1, version=V5))
    pub.recv_type(rawmqtt.PUBACK)
    pub.send(rawmqtt.publish(topic, b"fits", 1, packet_id=2, version=V5))
    pub.recv_type(rawmqtt.PUBACK)
    got = sub.recv_type(rawmqtt.PUBLISH)
    assert got.payload == b"fits"
    sub.send(rawmqtt.puback(got.packet_id, version=V5))
    assert metric(cluster.broker_metrics_ports[0],
                  "strata_broker_drops_total",
                  'reason="over_client_max_packet"') == before + 1
