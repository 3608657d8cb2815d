"""A TCP load balancer in front of the brokers: real HAProxy
(`cluster.sh --lb`) passing MQTT and MQTTS through to the brokers'
PROXY protocol listeners, and those listeners on their own.

Own clusters of 2 brokers, 3 routers and HAProxy: `lb_cluster` for the
module, `lb_kill_cluster` for the test that kills a broker.  What a user
of the balancer would notice: QoS 1 round trips through it over TCP and
TLS (client certificates checked end to end by the brokers), the
brokers' logs naming the device's own address and port (its socket's
getsockname, not HAProxy's) also when a CONNECT is refused, connections
spread over both brokers, a killed broker replaced within seconds.  And
of the PROXY listeners: a connection without a valid header is closed
without a CONNACK and counted; valid v2 (IPv4, IPv6, LOCAL, TLVs) and v1
headers give the header's address; the plain ports never read a header.
"""

import os
import re
import signal
import socket
import ssl
import struct
import subprocess
import time
import urllib.request
import uuid

import pytest

import conftest
import mqttc
import rawmqtt
from daemons import metric
from mqttc import V5, unique

PP2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"
CONNECT_TIMEOUT = 10.0  # the broker's connect timeout (header + CONNECT)
REFUSED = 'result="refused"'
ACCEPTED = 'result="accepted"'


@pytest.fixture(scope="module")
def lb_cluster():
    with conftest.start_cluster("lb_cluster", brokers=2, routers=3,
                                lb=True, shadowd=1) as c:
        yield c


@pytest.fixture
def lb_kill_cluster():
    # a broker is killed on purpose: no health check of the daemons
    with conftest.start_cluster("lb_kill_cluster", brokers=2, routers=3,
                                lb=True, health_check=False) as c:
        yield c


def pp2(command=1, family=0x11, src=("192.0.2.1", 51000),
        dst=("127.0.0.1", 1883), tlvs=b"", body=None):
    """A PROXY protocol v2 header (command 1 PROXY, 0 LOCAL)."""
    if body is None:
        af = {0x11: socket.AF_INET, 0x21: socket.AF_INET6}.get(family)
        body = b""
        if af is not None:
            body = (socket.inet_pton(af, src[0]) +
                    socket.inet_pton(af, dst[0]) +
                    struct.pack("!HH", src[1], dst[1]))
    body += tlvs
    return (PP2_SIG + bytes([0x20 | command, family]) +
            struct.pack("!H", len(body)) + body)


def tlv(t, value):
    return bytes([t]) + struct.pack("!H", len(value)) + value


def new_id(prefix="lb"):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:12])


def tls_context(c):
    ctx = ssl.create_default_context(cafile=c.ca_file)
    ctx.load_cert_chain(c.client_cert, c.client_key)
    ctx.check_hostname = False
    return ctx


class Raw(rawmqtt.RawClient):
    """rawmqtt.RawClient that may send a PROXY header first and then
    speak TLS (the cluster's client certificate) over the same socket."""

    def __init__(self, c, port, version=V5, header=b"", tls=False):
        self.version = version
        self.buf = bytearray()
        self.eof = False
        raw = socket.create_connection((c.host, port), 5.0)
        self.local = raw.getsockname()
        if header:
            raw.sendall(header)
        self.sock = raw
        if tls:
            self.sock = tls_context(c).wrap_socket(
                raw, server_hostname=c.host)


def broker_logs(c):
    out = []
    for i in range(len(c.mqtt_ports)):
        with open(os.path.join(c.log_dir, "broker-%d.log" % i), "rb") as f:
            out.append(f.read().decode("utf-8", "replace"))
    return out


def wait_log(c, pattern, timeout=5.0):
    """(broker index, match) of the first broker log line matching the
    regex, polled until timeout."""
    rx = re.compile(pattern)
    deadline = time.monotonic() + timeout
    while True:
        for i, text in enumerate(broker_logs(c)):
            m = rx.search(text)
            if m:
                return i, m
        assert time.monotonic() < deadline, "no log line %r" % pattern
        time.sleep(0.05)


def connected(c, client_id):
    """(broker index, logged peer) of the client's CONNECT."""
    i, m = wait_log(c, r'msg="client connected" client_id=%s peer=(\S+)'
                    % re.escape(client_id))
    return i, m.group(1)


def lb_client(c, made, transport, proto=V5, client_id=None):
    """A client through the balancer: tcp, tls, ws (MQTT over WebSocket)
    or wss."""
    ws = transport in ("ws", "wss")
    cl = mqttc.Client(proto, client_id=client_id,
                      transport="websockets" if ws else "tcp")
    made.append(cl)
    port = {"tcp": c.lb_port, "tls": c.lb_tls_port, "ws": c.lb_ws_port,
            "wss": c.lb_wss_port}[transport]
    if transport in ("tls", "wss"):
        cl.tls(c.ca_file, c.client_cert, c.client_key)
    cl.connect(c.host, port)
    return cl


def haproxy_servers(c, backend="brokers_mqtt"):
    """{server name: status} from HAProxy's stats CSV."""
    url = "http://%s:%d/;csv" % (c.host, c.lb_stats_port)
    with urllib.request.urlopen(url, timeout=2) as r:
        lines = r.read().decode().splitlines()
    names = lines[0].lstrip("# ").split(",")
    out = {}
    for line in lines[1:]:
        row = dict(zip(names, line.split(",")))
        if row.get("pxname") == backend and row["svname"] != "BACKEND":
            out[row["svname"]] = row["status"]
    return out


def proxy_counts(c, i):
    port = c.broker_metrics_ports[i]
    return (metric(port, "strata_broker_proxy_headers_total", ACCEPTED),
            metric(port, "strata_broker_proxy_headers_total", REFUSED),
            metric(port, "strata_broker_refusals_total",
                   'reason="0x100"'))


# ---- through HAProxy -------------------------------------------------


@pytest.mark.parametrize("transport", ["tcp", "tls", "ws", "wss"])
def test_lb_qos1_round_trip_across_brokers(lb_cluster, made, transport,
                                           proto):
    """A subscriber and a publisher, both through the balancer, on
    different brokers (read from the brokers' logs): the QoS 1 message
    crosses the cluster and arrives at QoS 1."""
    c = lb_cluster
    sub = lb_client(c, made, transport, proto)
    sub_broker, _ = connected(c, sub.client_id)
    topic = unique() + "/lb"
    sub.subscribe(topic, 1)
    # leastconn sends the next connection to the other broker; a few
    # tries absorb connections other tests left closing
    for _ in range(6):
        pub = lb_client(c, made, transport, proto)
        pub_broker, _ = connected(c, pub.client_id)
        if pub_broker != sub_broker:
            break
    assert pub_broker != sub_broker, "every connection on one broker"
    payload = uuid.uuid4().hex.encode()
    pub.publish(topic, payload, 1)
    msg = sub.get(topic=topic)
    assert (msg.payload, msg.qos) == (payload, 1)


@pytest.mark.parametrize("transport", ["tcp", "tls"])
def test_lb_broker_logs_client_address(lb_cluster, made, transport):
    """The broker logs the device's own address and port, as its socket
    has them, not HAProxy's connection to the broker."""
    c = lb_cluster
    cl = lb_client(c, made, transport)
    host, port = cl.paho.socket().getsockname()[:2]
    i, peer = connected(c, cl.client_id)
    assert peer == "%s:%d" % (host, port)
    port_to_broker = (c.proxy_tls_ports if transport == "tls"
                      else c.proxy_ports)[i]
    # HAProxy's side is another connection: from an ephemeral port of its
    # own to the broker's PROXY port
    assert port != port_to_broker


# One refusal reason per transport: refusal lines are rate-limited per
# reason (one a second), and both could land on one broker in a second.
REFUSED_CONNECTS = {
    # a 129-byte client id (max-client-id 128)
    "tcp": (rawmqtt.connect("x" * 129, V5), 0x85),
    # a Will topic deeper than max-topic-depth (7)
    "tls": (rawmqtt.connect(new_id(), V5, will={
        "topic": "a/b/c/d/e/f/g/h", "payload": b"w"}), 0x90),
}


@pytest.mark.parametrize("transport", ["tcp", "tls"])
def test_lb_refused_connect_logs_client_address(lb_cluster, made,
                                                transport):
    """A CONNECT refused by a limit is logged with the device's address
    and port: refusals see the device, not the balancer."""
    c = lb_cluster
    port = c.lb_tls_port if transport == "tls" else c.lb_port
    packet, reason = REFUSED_CONNECTS[transport]
    raw = Raw(c, port, V5, tls=transport == "tls")
    made.append(raw)
    raw.send(packet)
    ack = raw.recv()
    assert (ack.type, ack.reason) == (rawmqtt.CONNACK, reason)
    raw.wait_closed()
    host, local_port = raw.local[:2]
    wait_log(c, r'msg="refused" .*reason=0x%02x peer=%s:%d ' % (
        reason, re.escape(host), local_port))


def test_lb_spreads_connections(lb_cluster, made):
    """Six devices through the balancer held open: leastconn puts them on
    both brokers, three each give or take one."""
    c = lb_cluster
    where = [0, 0]
    for _ in range(6):
        cl = lb_client(c, made, "tcp")
        where[connected(c, cl.client_id)[0]] += 1
    assert min(where) >= 2, where
    gauges = [metric(p, "strata_broker_connections", 'listener="proxy"')
              for p in c.broker_metrics_ports]
    assert sum(gauges) >= 6 and min(gauges) >= 2, gauges


def test_lb_health_checks_up(lb_cluster):
    """HAProxy checks each broker's /healthz: both are UP in both
    backends (a broker without a router link or stopping answers 503 and
    would be DOWN)."""
    c = lb_cluster
    for backend in ("brokers_mqtt", "brokers_mqtts"):
        assert haproxy_servers(c, backend) == {
            "broker-0": "UP", "broker-1": "UP"}, backend


def test_lb_data_plane_https(lb_cluster, made):
    """The HTTPS data plane through the balancer (TLS passed through to
    shadowd, which checks the client certificate): curl publishes at QoS 1
    to a subscriber; HAProxy checks shadowd's /healthz."""
    c = lb_cluster
    assert haproxy_servers(c, "shadowd_https") == {"shadowd-0": "UP"}
    sub = mqttc.Client(V5)
    made.append(sub)
    sub.connect(c.host, c.mqtt_ports[0])
    topic = unique() + "/https"
    sub.subscribe(topic, 1)
    out = subprocess.run(
        ["curl", "-sS", "--cacert", c.ca_file, "--cert", c.client_cert,
         "--key", c.client_key, "-X", "POST", "-d", "via-lb",
         "https://%s:%d/topics/%s?qos=1" % (c.host, c.lb_https_port, topic)],
        stdout=subprocess.PIPE, timeout=10, check=True)
    assert b'"message":"OK"' in out.stdout, out.stdout
    assert sub.get().payload == b"via-lb"


def test_lb_broker_killed(lb_kill_cluster, made):
    """kill -9 of the broker a device is on: the device is disconnected,
    new connections through the balancer succeed at once (a refused
    connect is re-dispatched) and all land on the survivor, which HAProxy
    marks DOWN within a few seconds (checks every second, 2 failures);
    QoS 1 still round-trips through the balancer.  The survivors are
    then stopped by PID, routers first: the broker left without a router
    link is taken out by HAProxy too."""
    c = lb_kill_cluster
    first = lb_client(c, made, "tcp")
    victim, _ = connected(c, first.client_id)
    survivor = 1 - victim
    os.kill(c.broker_pids[victim], signal.SIGKILL)
    killed_at = time.monotonic()
    assert first.disconnected.wait(5), "device not disconnected"

    cl = lb_client(c, made, "tcp")
    assert time.monotonic() - killed_at < 5
    assert connected(c, cl.client_id)[0] == survivor
    deadline = time.monotonic() + 5
    while haproxy_servers(c)["broker-%d" % victim] != "DOWN":
        assert time.monotonic() < deadline, haproxy_servers(c)
        time.sleep(0.2)
    sub = lb_client(c, made, "tcp")
    pub = lb_client(c, made, "tls")
    topic = unique() + "/after-kill"
    sub.subscribe(topic, 1)
    pub.publish(topic, b"still here", 1)
    assert sub.get(topic=topic).payload == b"still here"
    for cl in (sub, pub):
        assert connected(c, cl.client_id)[0] == survivor
    for cl in made:
        cl.close()

    # The survivors are stopped by their PIDs, routers first: a broker
    # with no router link answers 503 on /healthz and HAProxy takes it
    # out as well.
    for pid in c.router_pids:
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 6
    while haproxy_servers(c)["broker-%d" % survivor] != "DOWN":
        assert time.monotonic() < deadline, haproxy_servers(c)
        time.sleep(0.2)
    rest = [c.lb_pid, c.broker_pids[survivor], c.redis_pid]
    for pid in rest:
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    for pid in c.router_pids + rest:
        while _state(pid) not in ("Z", "gone"):
            assert time.monotonic() < deadline, "pid %d still running" % (
                pid)
            time.sleep(0.05)
    assert 'msg="stopped"' in broker_logs(c)[survivor]


def _state(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "gone"


# ---- the PROXY listeners on their own ---------------------------------


# (name, bytes, then half-close): none is a valid header
BAD = [
    ("mqtt-without-header", rawmqtt.connect("nohdr", V5), False),
    ("http", b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", False),
    ("garbage", bytes(range(256)), False),
    ("truncated-v2", pp2()[:20], True),
    ("truncated-signature", PP2_SIG[:7], True),
    ("truncated-v1", b"PROXY TCP4 192.0.2.1 ", True),
    ("empty", b"", True),
    ("v2-over-4k", PP2_SIG + b"\x21\x11" + struct.pack("!H", 4081) +
     b"\x00" * 64, False),
    ("v2-udp", pp2(family=0x12) + rawmqtt.connect("udp", V5), False),
    ("v2-version-3", PP2_SIG + b"\x31\x11\x00\x00", False),
    ("v2-bad-tlv", pp2(tlvs=b"\x01\x00\x09abc") +
     rawmqtt.connect("tlv", V5), False),
    ("v1-bad-port", b"PROXY TCP4 1.2.3.4 5.6.7.8 99999 1\r\n" +
     rawmqtt.connect("v1", V5), False),
]


@pytest.mark.parametrize("listener", ["proxy", "proxy-tls"])
@pytest.mark.parametrize("name,data,half_close", BAD,
                         ids=[b[0] for b in BAD])
def test_proxy_port_refuses_bad_header(lb_cluster, made, listener, name,
                                       data, half_close):
    """Straight to a broker's PROXY port: no header, garbage, a truncated
    header (then the end of the stream), one over 4 KiB, an unsupported
    one: closed, nothing answered, counted once as a refused header and
    a refusal 0x100; a client through the balancer still works."""
    c = lb_cluster
    ports = c.proxy_ports if listener == "proxy" else c.proxy_tls_ports
    before = proxy_counts(c, 0)
    raw = Raw(c, ports[0])
    made.append(raw)
    if data:
        raw.send(data)
    if half_close:
        raw.sock.shutdown(socket.SHUT_WR)
    assert raw.wait_closed() == []
    accepted, refused, refusals = proxy_counts(c, 0)
    assert (accepted, refused, refusals) == (
        before[0], before[1] + 1, before[2] + 1)
    lb_client(c, made, "tcp")


def test_proxy_port_header_deadline(lb_cluster, made):
    """A connection that sends part of a header, or nothing, and waits
    is closed by the connect timeout (10 s from accept), counted."""
    c = lb_cluster
    before = proxy_counts(c, 1)
    partial = Raw(c, c.proxy_ports[1], header=pp2()[:14])
    silent = Raw(c, c.proxy_tls_ports[1])
    made.extend([partial, silent])
    started = time.monotonic()
    for raw in (partial, silent):
        assert raw.wait_closed(CONNECT_TIMEOUT + 3) == []
    assert time.monotonic() - started > CONNECT_TIMEOUT - 1
    _, refused, _ = proxy_counts(c, 1)
    assert refused == before[1] + 2
    wait_log(c, r'msg="refused" what="no PROXY header in time" '
             r'reason=0x100')


# (name, header, logged peer or None for the socket's own)
GOOD = [
    ("v2-tcp4", pp2(src=("203.0.113.7", 4242)), "203.0.113.7:4242"),
    ("v2-tcp6", pp2(family=0x21, src=("2001:db8::7", 4243),
                    dst=("::1", 1883)), "[2001:db8::7]:4243"),
    ("v2-local", pp2(command=0, family=0), None),
    ("v2-unspec", pp2(family=0), None),
    ("v2-tlvs", pp2(src=("203.0.113.8", 1), tlvs=tlv(1, b"mqtt") +
                    tlv(2, b"lb.example") + tlv(4, b"\x00" * 100)),
     "203.0.113.8:1"),
    ("v1-tcp4", b"PROXY TCP4 198.51.100.9 127.0.0.1 5555 1883\r\n",
     "198.51.100.9:5555"),
    ("v1-tcp6", b"PROXY TCP6 2001:db8::9 ::1 65535 8883\r\n",
     "[2001:db8::9]:65535"),
    ("v1-unknown", b"PROXY UNKNOWN\r\n", None),
]


@pytest.mark.parametrize("listener", ["proxy", "proxy-tls"])
@pytest.mark.parametrize("name,header,peer", GOOD,
                         ids=[g[0] for g in GOOD])
def test_proxy_port_accepts_header(lb_cluster, made, listener, name,
                                   header, peer):
    """Straight to a broker's PROXY port: a valid header, then the
    CONNECT in the same write (TCP) or a TLS handshake (TLS): CONNACK,
    the header's address in the broker's log (LOCAL, UNSPEC, UNKNOWN:
    the socket's own), counted as accepted."""
    c = lb_cluster
    tls = listener == "proxy-tls"
    port = (c.proxy_tls_ports if tls else c.proxy_ports)[1]
    before = proxy_counts(c, 1)
    cid = new_id("px")
    if tls:
        raw = Raw(c, port, header=header, tls=True)
        made.append(raw)
        raw.send(rawmqtt.connect(cid, V5))
    else:
        raw = Raw(c, port)
        made.append(raw)
        raw.send(header + rawmqtt.connect(cid, V5))
    ack = raw.recv()
    assert (ack.type, ack.reason) == (rawmqtt.CONNACK, 0)
    if peer is None:
        peer = "%s:%d" % raw.local[:2]
    assert connected(c, cid) == (1, peer)
    assert proxy_counts(c, 1)[:2] == (before[0] + 1, before[1])


def test_proxy_port_header_in_pieces(lb_cluster, made):
    """A v2 header with TLVs sent one byte per segment, then a CONNECT
    and a PUBLISH QoS 1 in one write: nothing behind the header is lost
    or taken for part of it."""
    c = lb_cluster
    header = pp2(src=("192.0.2.44", 4444), tlvs=tlv(5, b"id-1"))
    raw = Raw(c, c.proxy_ports[0])
    made.append(raw)
    raw.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    for b in header:
        raw.send(bytes([b]))
        time.sleep(0.002)
    cid = new_id("bytes")
    raw.send(rawmqtt.connect(cid, V5) +
             rawmqtt.publish(unique(), b"x", 1, packet_id=7, version=V5))
    assert raw.recv().type == rawmqtt.CONNACK
    ack = raw.recv_type(rawmqtt.PUBACK)
    assert ack.packet_id == 7
    assert connected(c, cid) == (0, "192.0.2.44:4444")


def test_plain_ports_take_no_header(lb_cluster, made):
    """The plain listeners are unchanged: clients connect without a
    header (TCP and TLS), and a PROXY header there is not read as one: it
    is a first byte that is not CONNECT, closed with nothing answered,
    and the PROXY counters do not move."""
    c = lb_cluster
    for transport, port in (("tcp", c.mqtt_ports[0]),
                            ("tls", c.mqtts_ports[0])):
        cl = mqttc.Client(V5)
        made.append(cl)
        if transport == "tls":
            cl.tls(c.ca_file, c.client_cert, c.client_key)
        cl.connect(c.host, port)
        assert connected(c, cl.client_id)[1] == "%s:%d" % (
            cl.paho.socket().getsockname()[:2])
    before = proxy_counts(c, 0)
    raw = Raw(c, c.mqtt_ports[0])
    made.append(raw)
    raw.send(pp2() + rawmqtt.connect(new_id(), V5))
    assert raw.wait_closed() == []
    assert proxy_counts(c, 0)[:2] == before[:2]
