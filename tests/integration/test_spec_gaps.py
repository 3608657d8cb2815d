"""Places where Strata departed from the specs, each closed with a test:

  - an MQTT 3.1.1 client's keepalive is honoured as asked (3.1.1 gives the
    server no way to tell it otherwise): silent for 1.5 keepalives, it is
    closed and its will published, under the broker's default options;
    MQTT 5 clients are clamped to keepalive-min and told so (Server Keep
    Alive); the managed service's clamp for 3.1.1 is an option;
  - a client PUBLISH carrying a Subscription Identifier is a Protocol
    Error (0x82), not forwarded;
  - the partition scheme is cluster-wide: a broker or router whose
    partition-levels disagrees with the one in Redis refuses to start.
"""

import time
import uuid

import pytest

import rawmqtt
from daemons import Broker, Router
from mqttc import V5, V311, unique


def test_v311_keepalive_honoured(cluster, clients, extra_broker):
    """keepalive 5 from a 3.1.1 client with keepalive-min 30 (default):
    closed and will published within 7.5 s of silence, not 45 s."""
    b = extra_broker()
    will_topic = unique() + "/will"
    watcher = clients(V311, 0)
    watcher.subscribe(will_topic, 1)
    conn = rawmqtt.RawClient("127.0.0.1", b.port, V311)
    ack = conn.handshake("it-ka-" + uuid.uuid4().hex[:8], keepalive=5,
                         will={"topic": will_topic, "payload": b"gone"})
    assert ack.reason == 0
    start = time.monotonic()
    assert conn.wait_closed(timeout=12) == []
    took = time.monotonic() - start
    conn.close()
    assert 7.0 <= took <= 8.5, took
    assert watcher.get(topic=will_topic, timeout=3).payload == b"gone"


def test_v5_keepalive_clamped_and_told(extra_broker):
    """MQTT 5: keepalive 5 is raised to keepalive-min 30 and CONNACK
    carries Server Keep Alive 30."""
    b = extra_broker()
    conn = rawmqtt.RawClient("127.0.0.1", b.port, V5)
    ack = conn.handshake("it-ka5-" + uuid.uuid4().hex[:8], keepalive=5)
    conn.close()
    assert ack.reason == 0
    assert ack.properties.get(rawmqtt.PROP_SERVER_KEEP_ALIVE) == 30


def test_v311_clamp_is_an_option(extra_broker):
    """keepalive-clamp-v311 true: the 3.1.1 client asking for 1 s is held
    to keepalive-min (not closed after 1.5 s)."""
    b = extra_broker("--keepalive-clamp-v311", "true",
                       "--keepalive-min", "5")
    conn = rawmqtt.RawClient("127.0.0.1", b.port, V311)
    assert conn.handshake("it-kac-" + uuid.uuid4().hex[:8],
                          keepalive=1).reason == 0
    time.sleep(3)
    conn.send(rawmqtt.pingreq())
    assert conn.recv_type(rawmqtt.PINGRESP).type == rawmqtt.PINGRESP
    conn.close()


def test_publish_with_subscription_identifier(cluster, clients, raws):
    """Subscription Identifier is the server's property: from a client it
    is DISCONNECT 0x82 and nothing is delivered."""
    topic = unique() + "/subid"
    sub = clients(V5, 1)
    sub.subscribe(topic, 1)
    conn = raws(rawmqtt.RawClient(cluster.host, cluster.mqtt_ports[0], V5))
    assert conn.handshake("it-sid-" + uuid.uuid4().hex[:8]).reason == 0
    conn.send(rawmqtt.publish(topic, b"x", 1, version=V5,
                              properties=[(0x0B, 3)]))
    got = conn.wait_closed()
    assert [(p.type, p.reason) for p in got] == [(rawmqtt.DISCONNECT, 0x82)]
    clients(V5, 0).publish(topic, b"sentinel", 1)
    assert sub.get(topic=topic).payload == b"sentinel"
    assert sub.drain() == []


@pytest.mark.parametrize("kind", ["broker", "router"])
def test_partition_scheme_mismatch_refuses_to_start(cluster, kind):
    """partition-levels 4 against a cluster whose Redis says 3: the daemon
    logs both schemes and exits with status 2; the cluster keeps
    serving."""
    cls = Broker if kind == "broker" else Router
    d = cls(cluster.redis_port, cluster.redis_args() +
            ["--partition-levels", "4"])
    try:
        rc = d.wait_exit(15)
    finally:
        d.stop()
    text = d.log_text()
    assert rc == 2, text[-2000:]
    assert "partition scheme" in text and "partition-levels 3" in text, \
        text[-2000:]
    assert not d.sanitizer_reports()
