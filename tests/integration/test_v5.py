"""MQTT 5 features carried end to end through the cluster: subscription
options, properties forwarded across brokers, subscription identifiers,
message expiry, topic aliases."""

import uuid

from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

import rawmqtt
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
