"""Topic aliases the broker assigns to what it sends (MQTT 5 3.3.2.3.4).

A client whose CONNECT has a Topic Alias Maximum gets aliases, at most
min(its maximum, topic-alias-out-max = 10): the first PUBLISH of a topic
carries the topic and its alias, later ones an empty topic and the
alias; with every alias taken, the least recently used one is given to
the next new topic.  Aliases belong to the connection: a resumed session
starts again with none.  MQTT.js (tests/js) is the receiving client: it
resolves aliases and refuses any the spec forbids (over its maximum,
unknown), which the tests also check.  Paho 1.6 cannot receive them.
"""

import uuid

import rawmqtt
from mqttc import V5, unique


def js_subscriber(jsclients, cluster, topic_filter, alias_max, broker=0,
                  client_id=None, clean=True, expiry=None, port=None):
    js = jsclients()
    props = {}
    if alias_max is not None:
        props["topicAliasMaximum"] = alias_max
    if expiry is not None:
        props["sessionExpiryInterval"] = expiry
    reply = js.connect(cluster.host, port or cluster.mqtt_ports[broker],
                       client_id or "it-js-" + uuid.uuid4().hex[:10],
                       clean=clean, properties=props)
    assert reply["ok"], reply
    assert js.subscribe(topic_filter, 1)["ok"]
    return js


def lru_model(topics, maximum):
    """(topic sent, alias) of each PUBLISH as the broker must send them:
    topic "" when the alias is known, least recently used replaced."""
    table = []          # most recent last: [topic, alias]
    out = []
    for t in topics:
        hit = [e for e in table if e[0] == t]
        if hit:
            table.remove(hit[0])
            table.append(hit[0])
            out.append(("", hit[0][1]))
            continue
        if len(table) < maximum:
            entry = [t, len(table) + 1]
        else:
            entry = [t, table.pop(0)[1]]
        table.append(entry)
        out.append((t, entry[1]))
    return out


def sent(js):
    return [(p["topic"], (p.get("properties") or {}).get("topicAlias"))
            for p in js.received("publish")]


def test_aliases_assigned_and_replaced(cluster, clients, jsclients):
    """Topic Alias Maximum 3 and five topics used in turn: the PUBLISHes
    carry exactly the topics and aliases of a least-recently-used table
    of 3; MQTT.js resolves every one to the right topic and reports no
    error."""
    base = unique()
    js = js_subscriber(jsclients, cluster, base + "/#", 3)
    names = [base + "/" + n for n in "abcde"]
    order = [0, 0, 1, 2, 0, 3, 1, 4, 0, 3, 3, 2, 1]
    pub = clients(V5, 1)
    for i in order:
        pub.publish(names[i], names[i].encode(), 1)
    got = js.messages(len(order))
    assert [m["topic"] for m in got] == [names[i] for i in order]
    assert [bytes.fromhex(m["payloadHex"]) for m in got] == [
        names[i].encode() for i in order]
    assert sent(js) == lru_model([names[i] for i in order], 3)
    assert js.errors() == []


def test_alias_maximum_capped_by_broker(cluster, clients, jsclients):
    """A client asking for 1000 aliases gets at most topic-alias-out-max
    (10) of them: the eleventh topic replaces an alias."""
    base = unique()
    js = js_subscriber(jsclients, cluster, base + "/#", 1000)
    names = ["%s/t%d" % (base, i) for i in range(12)]
    pub = clients(V5, 0)
    for n in names + names[:1]:
        pub.publish(n, b"x", 0)
    js.messages(len(names) + 1)
    aliases = [a for _, a in sent(js)]
    assert max(aliases) == 10
    assert sent(js) == lru_model(names + names[:1], 10)
    assert js.errors() == []


def test_no_aliases_unless_asked(cluster, clients, jsclients, raws):
    """Without a Topic Alias Maximum in CONNECT (or with 0) no PUBLISH
    carries an alias (MQTT-3.3.2-8)."""
    base = unique()
    js = js_subscriber(jsclients, cluster, base + "/#", None)
    raw = raws(rawmqtt.RawClient(cluster.host, cluster.mqtt_ports[0], V5))
    assert raw.handshake("it-noal-" + uuid.uuid4().hex[:8], properties=[
        (rawmqtt.PROP_TOPIC_ALIAS_MAXIMUM, 0)]).reason == 0
    raw.send(rawmqtt.subscribe([(base + "/#", 0)], 1, V5))
    assert raw.recv_type(rawmqtt.SUBACK).reason == [0]
    pub = clients(V5, 1)
    for _ in range(3):
        pub.publish(base + "/same", b"x", 1)
    js.messages(3)
    assert sent(js) == [(base + "/same", None)] * 3
    for _ in range(3):
        p = raw.recv_type(rawmqtt.PUBLISH)
        assert p.topic == base + "/same"
        assert rawmqtt.PROP_TOPIC_ALIAS not in p.properties


def test_aliases_are_per_connection(cluster, clients, jsclients):
    """A persistent session resumed on a new connection starts with no
    aliases: the first PUBLISH of a topic, queued while offline, carries
    the topic again."""
    base = unique()
    topic = base + "/t"
    cid = "it-jsal-" + uuid.uuid4().hex[:10]
    js = js_subscriber(jsclients, cluster, base + "/#", 5, client_id=cid,
                       expiry=300)
    pub = clients(V5, 1)
    pub.publish(topic, b"1", 1)
    pub.publish(topic, b"2", 1)
    js.messages(2)
    assert sent(js) == [(topic, 1), ("", 1)]
    js.close()
    pub.publish(topic, b"3", 1)
    again = jsclients()
    reply = again.connect(cluster.host, cluster.mqtt_ports[1], cid,
                          clean=False, properties={
                              "topicAliasMaximum": 5,
                              "sessionExpiryInterval": 0})
    assert reply["ok"] and reply["connack"]["sessionPresent"], reply
    pub.publish(topic, b"4", 1)
    got = again.messages(2)
    assert [(m["topic"], m["payloadHex"]) for m in got] == [
        (topic, b"3".hex()), (topic, b"4".hex())]
    assert sent(again) == [(topic, 1), ("", 1)]
    assert again.errors() == []


def test_alias_left_out_past_maximum_packet_size(cluster, clients, raws):
    """An alias is not used when it would make the PUBLISH exceed the
    client's Maximum Packet Size: the message goes with its full topic
    (and no alias) instead of being dropped.  A smaller one of the same
    topic gets its alias."""
    topic = unique() + "/mps"
    payload = b"p" * 40
    plain = rawmqtt.publish(topic, payload, 0, version=V5)
    conn = raws(rawmqtt.RawClient(cluster.host, cluster.mqtt_ports[0], V5))
    assert conn.handshake("it-mps-" + uuid.uuid4().hex[:8], properties=[
        (rawmqtt.PROP_TOPIC_ALIAS_MAXIMUM, 5),
        (rawmqtt.PROP_MAXIMUM_PACKET_SIZE, len(plain))]).reason == 0
    conn.send(rawmqtt.subscribe([(topic, 0)], 1, V5))
    assert conn.recv_type(rawmqtt.SUBACK).reason == [0]
    pub = clients(V5, 1)
    pub.publish(topic, payload, 0)
    got = conn.recv_type(rawmqtt.PUBLISH)
    assert (got.topic, got.payload) == (topic, payload)
    assert rawmqtt.PROP_TOPIC_ALIAS not in got.properties
    pub.publish(topic, payload[:30], 0)
    got = conn.recv_type(rawmqtt.PUBLISH)
    assert (got.topic, got.properties.get(rawmqtt.PROP_TOPIC_ALIAS)) == (
        topic, 1)
    pub.publish(topic, payload, 0)   # the alias makes it smaller now
    got = conn.recv_type(rawmqtt.PUBLISH)
    assert (got.topic, got.properties.get(rawmqtt.PROP_TOPIC_ALIAS),
            got.payload) == ("", 1, payload)


def test_alias_option_off(cluster, clients, extra_broker, jsclients):
    """topic-alias-out-max 0: no aliases, whatever the client asks."""
    b = extra_broker("--topic-alias-out-max", "0")
    base = unique()
    js = js_subscriber(jsclients, cluster, base + "/#", 10, port=b.port)
    pub = clients(V5, 0)
    pub.publish(base + "/x", b"1", 1)
    pub.publish(base + "/x", b"2", 1)
    js.messages(2)
    assert sent(js) == [(base + "/x", None)] * 2
