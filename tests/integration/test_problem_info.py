"""Reason Strings and Request Problem Information (MQTT 5 3.1.2.11.7).

Every refusal says what was refused in a Reason String, on each packet
that may carry one: CONNACK, PUBACK/PUBREC/PUBREL/PUBCOMP, SUBACK,
UNSUBACK, DISCONNECT.  A client that sent Request Problem Information 0
gets none except on CONNACK and DISCONNECT (MQTT-3.1.2-29), and none
ever makes a packet exceed the client's Maximum Packet Size: the string
is left out instead.  MQTT.js checks that a real client sees them (Paho
1.6 does not show the properties of an ack); the rest uses hand-made
packets.
"""

import uuid

import pytest

import rawmqtt
from mqttc import V5, unique

REASON = rawmqtt.PROP_REASON_STRING


def conn_v5(cluster, raws, problem_info=None, max_packet=None, broker=0):
    conn = raws(rawmqtt.RawClient(cluster.host, cluster.mqtt_ports[broker],
                                  V5))
    props = []
    if problem_info is not None:
        props.append((rawmqtt.PROP_REQUEST_PROBLEM_INFO, problem_info))
    if max_packet is not None:
        props.append((rawmqtt.PROP_MAXIMUM_PACKET_SIZE, max_packet))
    ack = conn.handshake("it-pi-" + uuid.uuid4().hex[:10],
                         properties=props)
    assert ack.reason == 0, ack
    return conn


DEEP = "a/b/c/d/e/f/g/h"   # one level over max-topic-depth (7)


@pytest.mark.parametrize("problem_info", [None, 1, 0])
def test_puback_reason_string(cluster, raws, problem_info):
    """PUBACK and PUBREC of a refused publish say why, unless the client
    asked for no problem information."""
    conn = conn_v5(cluster, raws, problem_info)
    conn.send(rawmqtt.publish(DEEP, b"x", 1, packet_id=1, version=V5))
    ack = conn.recv_type(rawmqtt.PUBACK)
    conn.send(rawmqtt.publish(DEEP, b"x", 2, packet_id=2, version=V5))
    rec = conn.recv_type(rawmqtt.PUBREC)
    assert (ack.reason, rec.reason) == (0x90, 0x90)
    for p in (ack, rec):
        if problem_info == 0:
            assert REASON not in p.properties, p
        else:
            assert p.properties[REASON] == "topic over max-topic-depth (7)"


def test_payload_over_max_payload_says_so(cluster, raws):
    """The refusal of a payload one byte over max-payload names the
    limit."""
    conn = conn_v5(cluster, raws)
    conn.send(rawmqtt.publish(unique() + "/big", b"x" * (128 * 1024 + 1), 1,
                              packet_id=9, version=V5))
    ack = conn.recv_type(rawmqtt.PUBACK)
    assert (ack.packet_id, ack.reason) == (9, 0x97)
    assert ack.properties[REASON] == "payload over max-payload (131072)"


@pytest.mark.parametrize("problem_info", [None, 0])
def test_suback_and_unsuback_reason_strings(cluster, raws, problem_info):
    """A SUBACK with refused entries names each of them and why; an
    UNSUBACK names the filters that had no subscription; neither with
    Request Problem Information 0."""
    base = unique()
    conn = conn_v5(cluster, raws, problem_info)
    conn.send(rawmqtt.subscribe([(base + "/ok", 1), (base + "/b/c/d/e/f/g", 1),
                                 (base + "/c/d/e/f/g/h", 1)], 1, V5))
    ack = conn.recv_type(rawmqtt.SUBACK)
    assert ack.reason == [1, 0x8F, 0x8F]
    conn.send(rawmqtt.unsubscribe([base + "/ok", base + "/never"], 2, V5))
    unack = conn.recv_type(rawmqtt.UNSUBACK)
    assert unack.reason == [0x00, 0x11]
    if problem_info == 0:
        assert REASON not in ack.properties
        assert REASON not in unack.properties
    else:
        assert ack.properties[REASON] == (
            "#2 filter over max-topic-depth (7); "
            "#3 filter over max-topic-depth (7)")
        assert unack.properties[REASON] == "#2 no such subscription"


@pytest.mark.parametrize("problem_info", [None, 0])
def test_disconnect_reason_string(cluster, raws, problem_info):
    """DISCONNECT says why, with Request Problem Information 0 too."""
    conn = conn_v5(cluster, raws, problem_info)
    conn.send(rawmqtt.publish(unique(), b"x", 0, version=V5,
                              properties=[(rawmqtt.PROP_TOPIC_ALIAS, 11)]))
    got = conn.wait_closed()
    assert [(p.type, p.reason) for p in got] == [(rawmqtt.DISCONNECT, 0x94)]
    assert got[0].properties[REASON] == (
        "topic alias 11 over the Topic Alias Maximum (10)")


def test_codec_error_reason_string(cluster, raws):
    """A malformed packet is refused with the name of the error and of
    the packet."""
    conn = conn_v5(cluster, raws)
    conn.send(rawmqtt.packet(rawmqtt.SUBSCRIBE, 0x02, b"\x00\x01\x00"))
    got = conn.wait_closed()
    assert [(p.type, p.reason) for p in got] == [(rawmqtt.DISCONNECT, 0x82)]
    assert got[0].properties[REASON] == "protocol error (subscribe packet)"


@pytest.mark.parametrize("problem_info", [None, 0])
def test_connack_reason_string(cluster, raws, problem_info):
    """A refused CONNECT gets a CONNACK that says why, with Request
    Problem Information 0 too."""
    conn = raws(rawmqtt.RawClient(cluster.host, cluster.mqtt_ports[0], V5))
    props = [] if problem_info is None else [
        (rawmqtt.PROP_REQUEST_PROBLEM_INFO, problem_info)]
    conn.send(rawmqtt.connect("x" * 129, V5, properties=props))
    got = conn.wait_closed()
    assert [(p.type, p.reason) for p in got] == [(rawmqtt.CONNACK, 0x85)]
    assert got[0].properties[REASON] == (
        "client identifier over max-client-id (128 bytes)")


def test_qos_flow_errors_say_why(cluster, raws):
    """PUBREL 0x92 for a PUBREC of no message in flight, PUBCOMP 0x92 for
    a PUBREL of no message awaiting release: both say so."""
    conn = conn_v5(cluster, raws)
    conn.send(rawmqtt.puback(77, rawmqtt.PUBREC, V5))
    rel = conn.recv_type(rawmqtt.PUBREL)
    assert (rel.packet_id, rel.reason) == (77, 0x92)
    assert rel.properties[REASON] == "PUBREC for no QoS 2 message in flight"
    conn.send(rawmqtt.puback(78, rawmqtt.PUBREL, V5))
    comp = conn.recv_type(rawmqtt.PUBCOMP)
    assert (comp.packet_id, comp.reason) == (78, 0x92)
    assert comp.properties[REASON] == (
        "PUBREL for no QoS 2 message awaiting release")


def test_reason_string_left_out_past_maximum_packet_size(cluster, raws):
    """With a Maximum Packet Size (32) that leaves no room for it, the
    refusal comes without its Reason String rather than not at all or
    too large (MQTT-3.4.2-2, 3.14.2-3 and the like).  A client whose
    maximum leaves no room for the CONNACK itself (24 bytes) is closed
    without a word: nothing can be sent to it."""
    conn = raws(rawmqtt.RawClient(cluster.host, cluster.mqtt_ports[0], V5))
    conn.send(rawmqtt.connect("it-pi-" + uuid.uuid4().hex[:10], V5,
                              properties=[(rawmqtt.PROP_MAXIMUM_PACKET_SIZE,
                                           16)]))
    assert conn.wait_closed() == []
    conn = conn_v5(cluster, raws, max_packet=32)
    conn.send(rawmqtt.publish(DEEP, b"x", 1, packet_id=5, version=V5))
    ack = conn.recv_type(rawmqtt.PUBACK)
    assert (ack.packet_id, ack.reason, ack.properties) == (5, 0x90, {})
    conn.send(rawmqtt.publish(DEEP, b"x", 0, version=V5))
    got = conn.wait_closed()
    assert [(p.type, p.reason, p.properties) for p in got] == [
        (rawmqtt.DISCONNECT, 0x90, {})]


def test_v311_unchanged(cluster, raws):
    """3.1.1 has no Reason Strings: a refused QoS 1 publish still closes
    the connection without a word."""
    conn = raws(rawmqtt.RawClient(cluster.host, cluster.mqtt_ports[0],
                                  rawmqtt.V311))
    assert conn.handshake("it-pi3-" + uuid.uuid4().hex[:8]).reason == 0
    conn.send(rawmqtt.publish(DEEP, b"x", 1, packet_id=1))
    assert conn.wait_closed() == []


@pytest.mark.parametrize("problem_info", [True, False])
def test_mqttjs_sees_reason_strings(cluster, jsclients, problem_info):
    """A real client: MQTT.js gets the PUBACK 0x90 and SUBACK 0x8F with
    their Reason Strings, or without them when it asked for no problem
    information."""
    js = jsclients()
    reply = js.connect(cluster.host, cluster.mqtt_ports[1],
                       "it-jspi-" + uuid.uuid4().hex[:8], properties={
                           "requestProblemInformation": problem_info})
    assert reply["ok"], reply
    pub = js.publish(DEEP, b"x", 1)
    assert pub["error"]["code"] == 0x90
    [ack] = pub["acks"]
    sub = js.subscribe(DEEP, 1)
    suback = js.received("suback")[-1]
    assert suback["granted"] == [0x8F]
    if problem_info:
        assert ack["properties"]["reasonString"] == (
            "topic over max-topic-depth (7)")
        assert suback["properties"]["reasonString"] == (
            "#1 filter over max-topic-depth (7)")
    else:
        assert "reasonString" not in (ack.get("properties") or {})
        assert "reasonString" not in (suback.get("properties") or {})
    assert sub is not None
