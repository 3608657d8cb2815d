"""Publish/subscribe through the cluster with paho, MQTT 3.1.1 and 5:
QoS 0/1/2 on one broker and across brokers, wildcards, '$' topics,
retained messages."""

import pytest

from mqttc import unique

QOS = [0, 1, 2]


@pytest.mark.parametrize("qos", QOS)
@pytest.mark.parametrize("pub_broker,sub_broker", [(0, 0), (0, 1)],
                         ids=["same-broker", "cross-broker"])
def test_pubsub_qos(clients, proto, qos, pub_broker, sub_broker):
    """A message published at QoS q to a subscriber that asked for q
    arrives once, with QoS q and the exact payload; across brokers the
    router fans it out to the subscriber's node."""
    topic = unique() + "/data"
    sub = clients(proto, sub_broker)
    sub.subscribe(topic, qos)
    pub = clients(proto, pub_broker)
    payload = b"qos%d-\x00\xff-payload" % qos
    pub.publish(topic, payload, qos)
    msg = sub.get(topic=topic)
    assert msg.payload == payload
    assert msg.qos == qos
    assert not msg.retain
    assert sub.drain() == [], "message delivered more than once"


@pytest.mark.parametrize("sub_qos,pub_qos,expect", [(0, 2, 0), (1, 2, 1),
                                                    (2, 1, 1)])
def test_qos_downgrade(clients, proto, sub_qos, pub_qos, expect):
    """Delivery QoS is the minimum of the publish and subscription QoS."""
    topic = unique() + "/down"
    sub = clients(proto, 1)
    sub.subscribe(topic, sub_qos)
    pub = clients(proto, 0)
    pub.publish(topic, b"x", pub_qos)
    assert sub.get(topic=topic).qos == expect


def test_many_messages_in_order(clients, proto):
    """QoS 1 messages from one publisher to one topic keep their order
    across brokers (MQTT 4.6 ordered topic)."""
    topic = unique() + "/seq"
    sub = clients(proto, 1)
    sub.subscribe(topic, 1)
    pub = clients(proto, 0)
    sent = [b"m%03d" % i for i in range(50)]
    for p in sent:
        pub.publish(topic, p, 1)
    got = [sub.get(topic=topic).payload for _ in sent]
    assert got == sent


@pytest.mark.parametrize("broker", [0, 1])
def test_wildcards(clients, proto, broker):
    """'+' matches exactly one level, '#' the parent and any depth."""
    base = unique()
    plus = clients(proto, broker)
    plus.subscribe(base + "/+/temp", 1)
    hash_ = clients(proto, broker)
    hash_.subscribe(base + "/#", 1)
    pub = clients(proto, 0)
    topics = [base + "/a/temp", base + "/b/temp", base + "/a/b/temp",
              base + "/a", base]
    for t in topics:
        pub.publish(t, t.encode(), 1)
    got_hash = sorted(hash_.get().topic for _ in topics)
    assert got_hash == sorted(topics)
    got_plus = sorted(plus.get().topic for _ in range(2))
    assert got_plus == sorted([base + "/a/temp", base + "/b/temp"])
    assert plus.drain() == []
    assert hash_.drain() == []


def test_overlapping_subscriptions_single_delivery(clients, proto):
    """Two matching filters of one client (3.1.1 MQTT-3.3.5-1, 5.0
    MQTT-3.3.4-2): the message arrives at the maximum QoS of the matching
    subscriptions; a server MAY deliver a second copy (one per
    subscription), never more."""
    base = unique()
    sub = clients(proto, 1)
    sub.subscribe(base + "/#", 0)
    sub.subscribe(base + "/+/x", 1)
    pub = clients(proto, 0)
    pub.publish(base + "/a/x", b"v", 1)
    got = [sub.get()] + sub.drain()
    assert 1 <= len(got) <= 2, got
    assert max(m.qos for m in got) == 1
    assert all(m.payload == b"v" for m in got)


def test_dollar_topics_not_matched_by_leading_wildcard(clients, proto):
    """MQTT 4.7.2: filters starting with a wildcard do not match topic
    names beginning with '$'; an explicit '$...' filter does."""
    uid = unique("x").split("/")[1]
    dollar_topic = "$strata-test/%s/x" % uid
    wild = clients(proto, 1)
    wild.subscribe("#", 1)
    wild.subscribe("+/%s/x" % uid, 1)
    explicit = clients(proto, 1)
    explicit.subscribe("$strata-test/+/x", 1)
    pub = clients(proto, 0)
    pub.publish(dollar_topic, b"dollar", 1)
    msg = explicit.get(topic=dollar_topic)
    assert msg.payload == b"dollar"
    # A sentinel after the '$' message: once it has arrived at the '#'
    # subscriber, the '$' message (sent before it by the same publisher,
    # through the same single router) has been routed too.
    sentinel = "sentinel/%s/x" % uid
    pub.publish(sentinel, b"s", 1)
    wild.get(topic=sentinel)
    late = [m for m in wild.drain() if m.topic == dollar_topic]
    assert late == [], "'#' or '+/...' matched a '$' topic"


def _subscribe_fresh(clients, proto, broker, flt, qos=1):
    c = clients(proto, broker)
    c.subscribe(flt, qos)
    return c


def test_retained_lifecycle(clients, proto):
    """Retained message: delivered on subscribe with RETAIN=1 (also on the
    other broker), replaced by a newer retained publish, live copies to
    existing subscribers carry RETAIN=0, cleared by an empty payload."""
    base = unique()
    topic = base + "/state"
    pub = clients(proto, 0)
    pub.publish(topic, b"r1", 1, retain=True)

    first = _subscribe_fresh(clients, proto, 1, topic)
    msg = first.get(topic=topic)
    assert (msg.payload, msg.retain, msg.qos) == (b"r1", True, 1)

    pub.publish(topic, b"r2", 1, retain=True)
    live = first.get(topic=topic)
    assert live.payload == b"r2"
    assert not live.retain, "retained flag set on a live delivery"

    second = _subscribe_fresh(clients, proto, 0, topic)
    msg = second.get(topic=topic)
    assert (msg.payload, msg.retain) == (b"r2", True)
    assert second.drain() == [], "old retained message not replaced"

    pub.publish(topic, b"", 1, retain=True)
    cleared = first.get(topic=topic)
    assert cleared.payload == b""

    # A sibling retained message as a positive control: a new '#'
    # subscriber receives it but not the cleared one.
    sibling = base + "/sibling"
    pub.publish(sibling, b"sib", 1, retain=True)
    third = _subscribe_fresh(clients, proto, 1, base + "/#")
    got = [third.get()] + third.drain()
    assert [(m.topic, m.payload) for m in got] == [(sibling, b"sib")]
    pub.publish(sibling, b"", 1, retain=True)


def test_retained_qos0_delivered_at_subscription_qos(clients, proto):
    """A retained QoS 1 message to a QoS 0 subscription arrives at QoS 0;
    a non-retained publish is not stored."""
    base = unique()
    pub = clients(proto, 0)
    pub.publish(base + "/kept", b"k", 1, retain=True)
    pub.publish(base + "/not-kept", b"n", 1, retain=False)
    sub = _subscribe_fresh(clients, proto, 1, base + "/#", qos=0)
    got = [sub.get()] + sub.drain()
    assert [(m.topic, m.payload, m.qos, m.retain) for m in got] == [
        (base + "/kept", b"k", 0, True)]
    pub.publish(base + "/kept", b"", 1, retain=True)


def test_unsubscribe_stops_delivery(clients, proto):
    """After UNSUBACK no more messages arrive on that filter; another
    subscription of the same client keeps working."""
    base = unique()
    sub = clients(proto, 1)
    sub.subscribe(base + "/gone", 1)
    sub.subscribe(base + "/kept", 1)
    codes = sub.unsubscribe(base + "/gone")
    assert codes == ([0] if proto == 5 else [])
    pub = clients(proto, 0)
    pub.publish(base + "/gone", b"x", 1)
    pub.publish(base + "/kept", b"y", 1)
    assert sub.get().topic == base + "/kept"
    assert [m for m in sub.drain() if m.topic == base + "/gone"] == []
