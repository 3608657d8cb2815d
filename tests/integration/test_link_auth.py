"""The cluster's own links: a process that reaches a router's link port
without the cluster secret (`cluster.sh` writes one and gives it to every
daemon) is refused before any of its routes or publishes is taken.

A stranger connects to the router, sends a broker Hello (without a proof,
or with a wrong one) and a RouteUpdate ADD for `#`: the router closes the
link, counts it, and a publish through a real broker is not sent to it.
The same Hello with the right proof (computed here from the secret file,
as common/linkauth.c does) is taken.
"""

import hashlib
import hmac
import socket
import struct
import time
import uuid

from daemons import metric
from mqttc import V311, Client, unique

KIND_BROKER = 1     # strata.NodeKind NODE_BROKER
ROUTE_ADD = 0


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field_varint(num, value):
    return varint(num << 3) + varint(value)


def field_bytes(num, data):
    if isinstance(data, str):
        data = data.encode()
    return varint((num << 3) | 2) + varint(len(data)) + data


def frame(*fields):
    body = b"".join(field_bytes(num, msg) for num, msg in fields)
    return struct.pack(">I", len(body)) + body


def hello(node_id, boot, auth=b""):
    msg = (field_bytes(1, node_id) + field_varint(2, KIND_BROKER) +
           field_varint(3, 2) + field_varint(4, boot))
    if auth:
        msg += field_bytes(5, auth)
    return msg


def proof(secret, node_id, boot):
    data = (b"strata-link/1" + bytes([KIND_BROKER]) + node_id.encode() +
            b"\0" + struct.pack(">Q", boot))
    return hmac.new(secret, data, hashlib.sha256).digest()


def read_secret(path):
    with open(path, "rb") as f:
        return f.read().rstrip(b"\r\n")


def closed_within(sock, seconds):
    """True if the peer closes (reads reach end of stream) in time."""
    sock.settimeout(0.2)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            data = sock.recv(65536)
        except socket.timeout:
            continue
        except ConnectionResetError:
            return True
        if not data:
            return True
    return False


def stranger(cluster, auth_for=None, wrong=False, route=True):
    node_id = "stranger-" + uuid.uuid4().hex[:6]
    boot = 12345
    auth = b""
    if auth_for is not None:
        auth = proof(auth_for, node_id, boot)
        if wrong:
            auth = bytes([auth[0] ^ 1]) + auth[1:]
    s = socket.create_connection((cluster.host, cluster.router_ports[0]),
                                 timeout=5)
    fields = [(1, hello(node_id, boot, auth))]
    if route:
        fields.append((5, field_varint(1, ROUTE_ADD) + field_bytes(2, "#")))
    s.sendall(frame(*fields))
    return s


def refused(cluster):
    return metric(cluster.router_metrics_ports[0],
                  "strata_router_link_auth_refused_total")


def test_cluster_has_a_secret(cluster):
    assert cluster.cluster_secret_file
    assert len(read_secret(cluster.cluster_secret_file)) >= 16


def test_stranger_without_proof_is_refused(cluster):
    before = refused(cluster)
    s = stranger(cluster)
    try:
        assert closed_within(s, 5), "the router kept the link"
    finally:
        s.close()
    assert refused(cluster) == before + 1


def test_stranger_with_a_wrong_proof_is_refused(cluster):
    before = refused(cluster)
    s = stranger(cluster, read_secret(cluster.cluster_secret_file),
                 wrong=True)
    try:
        assert closed_within(s, 5)
    finally:
        s.close()
    assert refused(cluster) == before + 1


def test_stranger_reads_no_traffic(cluster):
    """Its `#` route was never taken: a publish finds no route to it."""
    s = stranger(cluster)
    try:
        sub = Client(V311)
        sub.connect(cluster.host, cluster.mqtt_ports[1])
        topic = unique() + "/secret"
        sub.subscribe(topic, 1)
        pub = Client(V311)
        pub.connect(cluster.host, cluster.mqtt_ports[0])
        pub.publish(topic, b"for members only", 1)
        assert [m.payload for m in sub.drain(0.5)] == [b"for members only"]
        s.settimeout(0.5)
        got = b""
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                got += chunk
        except (socket.timeout, ConnectionResetError):
            pass
        assert b"for members only" not in got
        sub.disconnect()
        pub.disconnect()
    finally:
        s.close()


def test_right_proof_is_taken(cluster):
    """The same Hello with the proof a real broker computes is kept (no
    route sent: the shared cluster's other tests must not wait for it)."""
    before = refused(cluster)
    s = stranger(cluster, read_secret(cluster.cluster_secret_file),
                 route=False)
    try:
        assert not closed_within(s, 1.5)
    finally:
        s.close()
    assert refused(cluster) == before
