"""MQTT 5 Will Delay Interval (3.1.3.2.2, 3.1.2.5): the will goes out
when the delay ends or the session ends, whichever comes first; a new
connection to the session before that cancels it.

Delays are 2 s and session expiries 1 s, so each test waits a few
seconds of real time: that time passing is what is tested.  A will that
must not come is checked after its delay has passed, with a sentinel
published afterwards.
"""

import time
import uuid

import pytest

import rawmqtt
from mqttc import V5, unique

DELAY = 2


def new_id():
    return "it-wd-" + uuid.uuid4().hex[:12]


def connect(cluster, cid, topic, delay=DELAY, expiry=60, broker=0,
            clean=True, with_will=True):
    """A raw MQTT 5 connection with a QoS 1 will on topic (Will Delay
    Interval delay) and Session Expiry Interval expiry."""
    conn = rawmqtt.RawClient(cluster.host, cluster.mqtt_ports[broker], V5)
    will = None
    if with_will:
        will = {"topic": topic, "payload": b"will of " + cid.encode(),
                "qos": 1,
                "properties": [(rawmqtt.PROP_WILL_DELAY, delay)]}
    props = [(rawmqtt.PROP_SESSION_EXPIRY, expiry)] if expiry else []
    ack = conn.handshake(cid, clean=clean, will=will, properties=props)
    assert ack.reason == 0, ack
    return conn


def will_arrival(sub, topic, since, timeout):
    """Seconds from `since` to the will's arrival."""
    msg = sub.get(topic=topic, timeout=timeout)
    assert msg.payload.startswith(b"will of ")
    return time.monotonic() - since


def assert_no_will(clients, sub, topic, wait):
    """Nothing on topic within `wait` seconds, checked with a sentinel
    published after that time."""
    time.sleep(wait)
    sentinel = topic + "/sentinel"
    sub.subscribe(sentinel, 1)
    clients(V5, 0).publish(sentinel, b"s", 1)
    sub.get(topic=sentinel)
    assert [m for m in sub.drain() if m.topic == topic] == []


@pytest.fixture
def watch(clients):
    """A subscriber (on broker 1) to a fresh will topic."""
    topic = unique() + "/will"
    sub = clients(V5, 1)
    sub.subscribe(topic, 1)
    return sub, topic


def test_will_published_when_delay_ends(cluster, raws, watch):
    """Abrupt close of a persistent session: the will waits for its delay
    (2 s), then is published."""
    sub, topic = watch
    conn = raws(connect(cluster, new_id(), topic))
    conn.abort()
    start = time.monotonic()
    took = will_arrival(sub, topic, start, DELAY + 3)
    assert DELAY - 0.3 <= took <= DELAY + 2, took


@pytest.mark.parametrize("broker", [0, 1], ids=["same-broker",
                                                "other-broker"])
def test_reconnect_within_delay_cancels_will(cluster, clients, raws, watch,
                                             broker):
    """A new connection to the session (Clean Start 0) before the delay
    ends cancels the will (MQTT-3.1.3-9), on the broker that held the
    session or on another one (the session is handed over)."""
    sub, topic = watch
    cid = new_id()
    raws(connect(cluster, cid, topic)).abort()
    again = raws(connect(cluster, cid, topic, broker=broker, clean=False,
                         with_will=False))
    assert_no_will(clients, sub, topic, DELAY + 1)
    again.send(rawmqtt.disconnect(V5))


def test_session_end_before_delay_publishes_will(cluster, raws, watch):
    """Session Expiry Interval (1 s) shorter than the Will Delay Interval
    (30 s): the will goes out when the session ends (MQTT 5 3.1.3.2.2)."""
    sub, topic = watch
    conn = raws(connect(cluster, new_id(), topic, delay=30, expiry=1))
    conn.abort()
    start = time.monotonic()
    took = will_arrival(sub, topic, start, 5)
    assert 0.7 <= took <= 3, took


def test_delay_without_persistent_session(cluster, raws, watch):
    """Session Expiry Interval 0: the session ends with the connection,
    so a delayed will goes out at once."""
    sub, topic = watch
    conn = raws(connect(cluster, new_id(), topic, delay=30, expiry=0))
    conn.abort()
    start = time.monotonic()
    took = will_arrival(sub, topic, start, 3)
    assert took <= 1.5, took


def test_disconnect_with_will_waits_for_delay(cluster, raws, watch):
    """DISCONNECT 0x04 (Disconnect with Will Message) publishes the will
    after its delay, like any other close."""
    sub, topic = watch
    conn = raws(connect(cluster, new_id(), topic))
    conn.send(rawmqtt.disconnect(V5, reason=0x04))
    start = time.monotonic()
    took = will_arrival(sub, topic, start, DELAY + 3)
    assert DELAY - 0.3 <= took <= DELAY + 2, took


def test_disconnect_with_will_ending_session(cluster, raws, watch):
    """DISCONNECT 0x04 that also sets the Session Expiry Interval to 0:
    the session ends now, and its will with it."""
    sub, topic = watch
    conn = raws(connect(cluster, new_id(), topic, delay=30))
    conn.send(rawmqtt.disconnect(V5, reason=0x04, properties=[
        (rawmqtt.PROP_SESSION_EXPIRY, 0)]))
    start = time.monotonic()
    took = will_arrival(sub, topic, start, 3)
    assert took <= 1.5, took


def test_normal_disconnect_discards_delayed_will(cluster, clients, raws,
                                                 watch):
    """DISCONNECT 0x00 deletes the will: it never comes."""
    sub, topic = watch
    conn = raws(connect(cluster, new_id(), topic, delay=1))
    conn.send(rawmqtt.disconnect(V5))
    assert_no_will(clients, sub, topic, 2)


def test_clean_start_within_delay_ends_session_and_publishes(cluster, raws,
                                                             watch):
    """A reconnect with Clean Start 1 before the delay ends is not a
    connection to the old session: that session ends, and its will is
    published at once (the end of the session comes first; MQTT-3.1.3-9
    cancels it only for a connection to this session; Mosquitto does the
    same)."""
    sub, topic = watch
    cid = new_id()
    raws(connect(cluster, cid, topic, delay=30)).abort()
    time.sleep(0.2)
    again = raws(connect(cluster, cid, topic, clean=True, with_will=False))
    start = time.monotonic()
    took = will_arrival(sub, topic, start, 3)
    assert took <= 1.5, took
    again.send(rawmqtt.disconnect(V5))


@pytest.mark.parametrize("clean", [False, True], ids=["resume", "clean"])
def test_takeover_and_delayed_will(cluster, clients, raws, watch, clean):
    """A second connection taking a live session over: resuming it
    (Clean Start 0) cancels the first connection's delayed will; a Clean
    Start ends the session and publishes it at once."""
    sub, topic = watch
    cid = new_id()
    first = raws(connect(cluster, cid, topic, delay=30))
    second = raws(connect(cluster, cid, topic, clean=clean,
                          with_will=False))
    got = first.wait_closed()
    assert [(p.type, p.reason) for p in got] == [(rawmqtt.DISCONNECT,
                                                  0x8E)]
    if clean:
        assert will_arrival(sub, topic, time.monotonic(), 3) <= 1.5
    else:
        assert_no_will(clients, sub, topic, 1)
    second.send(rawmqtt.disconnect(V5))
