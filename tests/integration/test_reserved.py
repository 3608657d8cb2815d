"""Reserved packet types, reserved flag bits and packets sent the wrong
way, before and after CONNECT, over TCP and TLS.

What the specs prescribe:
  - before CONNECT, the first packet must be a CONNECT (MQTT-3.1.0-1): any
    other first byte closes the connection, with no CONNACK and no
    DISCONNECT (no version is agreed yet);
  - after an MQTT 5 CONNECT: a reserved type (0) or reserved flag bits are
    a Malformed Packet (DISCONNECT 0x81); a packet only a server sends
    (CONNACK, SUBACK, UNSUBACK, PINGRESP) and AUTH without an
    authentication method are a Protocol Error (DISCONNECT 0x82);
  - after a 3.1.1 CONNECT every one of these closes the connection
    without a packet (type 15 is reserved in 3.1.1).
Every case ends with the broker still serving: a client that stayed
connected on the same broker receives a message published afterwards.
"""

import socket
import ssl
import uuid

import pytest

import rawmqtt
from mqttc import V5

MALFORMED = 0x81
PROTOCOL_ERROR = 0x82

# (name, bytes, MQTT 5 reason after CONNECT)
CASES = [
    ("type0", b"\x00\x00", MALFORMED),
    ("type0-body", b"\x00\x02\x00\x01", MALFORMED),
    ("connack", b"\x20\x02\x00\x00", PROTOCOL_ERROR),
    ("suback", b"\x90\x03\x00\x01\x00", PROTOCOL_ERROR),
    ("unsuback", b"\xb0\x02\x00\x01", PROTOCOL_ERROR),
    ("pingresp", b"\xd0\x00", PROTOCOL_ERROR),
    ("auth-no-method", b"\xf0\x00", PROTOCOL_ERROR),
    ("puback-flags", b"\x41\x02\x00\x01", MALFORMED),
    ("pubrec-flags", b"\x52\x02\x00\x01", MALFORMED),
    ("pubrel-flags", b"\x60\x02\x00\x01", MALFORMED),
    ("pubcomp-flags", b"\x78\x02\x00\x01", MALFORMED),
    ("pingreq-flags", b"\xc1\x00", MALFORMED),
    ("disconnect-flags", b"\xe2\x00", MALFORMED),
    ("unsubscribe-flags", b"\xa0\x05\x00\x01\x00\x01a", MALFORMED),
    ("publish-dup-qos0", b"\x38\x03\x00\x01a", MALFORMED),
]
IDS = [c[0] for c in CASES]


class TLSRaw(rawmqtt.RawClient):
    """rawmqtt.RawClient over TLS with the cluster's client certificate."""

    def __init__(self, cluster, port, version):
        ctx = ssl.create_default_context(cafile=cluster.ca_file)
        ctx.load_cert_chain(cluster.client_cert, cluster.client_key)
        ctx.check_hostname = False
        raw = socket.create_connection((cluster.host, port), 5.0)
        self.version = version
        self.sock = ctx.wrap_socket(raw, server_hostname=cluster.host)
        self.buf = bytearray()
        self.eof = False


def open_raw(cluster, transport, proto):
    if transport == "tls":
        return TLSRaw(cluster, cluster.mqtts_ports[0], proto)
    return rawmqtt.RawClient(cluster.host, cluster.mqtt_ports[0], proto)


@pytest.fixture(params=["tcp", "tls"])
def transport(request):
    return request.param


@pytest.mark.parametrize("name,data,reason", CASES, ids=IDS)
def test_before_connect(cluster, raws, transport, proto, witness, name, data,
                        reason):
    """Not a CONNECT first: closed, nothing answered."""
    conn = raws(open_raw(cluster, transport, proto))
    conn.send(data)
    assert conn.wait_closed() == []
    witness.check()


@pytest.mark.parametrize("name,data,reason", CASES, ids=IDS)
def test_after_connect(cluster, raws, transport, proto, witness, name, data,
                       reason):
    """After CONNECT: MQTT 5 DISCONNECT with the reason, 3.1.1 a close."""
    conn = raws(open_raw(cluster, transport, proto))
    assert conn.handshake("it-rsv-" + uuid.uuid4().hex[:10]).reason == 0
    conn.send(data)
    got = conn.wait_closed()
    if proto == V5:
        assert [(p.type, p.reason) for p in got] == [
            (rawmqtt.DISCONNECT, reason)], got
    else:
        assert got == [], got
    witness.check()


def test_auth_type_in_v311_closes(cluster, raws, witness, proto):
    """Type 15 is reserved in 3.1.1 (AUTH exists only in MQTT 5)."""
    conn = raws(rawmqtt.RawClient(cluster.host, cluster.mqtt_ports[0],
                                  rawmqtt.V311))
    assert conn.handshake("it-rsv-a-" + uuid.uuid4().hex[:8]).reason == 0
    conn.send(b"\xf0\x02\x00\x00")
    assert conn.wait_closed() == []
    witness.check()


def test_first_byte_refused_before_body(cluster, raws, witness, proto):
    """A first packet that is not a CONNECT is refused on its first
    byte: a PUBLISH announcing 200 MB is closed without waiting for (or
    buffering) any of it."""
    conn = raws(rawmqtt.RawClient(cluster.host, cluster.mqtt_ports[0]))
    conn.send(b"\x30\xff\xff\xff\x5f")
    assert conn.wait_closed(timeout=3.0) == []
    witness.check()


def test_type0_counted(cluster, raws):
    """The reserved type has its own counter (the missing counter was
    the crash)."""
    from daemons import metric
    port = cluster.broker_metrics_ports[0]
    before = metric(port, "strata_broker_packets_received_total",
                    'type="reserved"')
    conn = raws(rawmqtt.RawClient(cluster.host, cluster.mqtt_ports[0],
                                  rawmqtt.V5))
    assert conn.handshake("it-rsv-c-" + uuid.uuid4().hex[:8]).reason == 0
    conn.send(b"\x00\x00")
    conn.wait_closed()
    assert metric(port, "strata_broker_packets_received_total",
                  'type="reserved"') == before + 1
