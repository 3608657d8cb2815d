"""MQTT over WebSocket (ws-port, wss-port; broker/ws.c): MQTT.js over
ws:// and wss:// (client certificate) and Paho's websockets transport
exchanging messages with plain MQTT clients at every QoS; hand-made
frames: several MQTT packets in one message, one packet over several
messages and fragments, ping answered; bad opening requests answered 400
and closed; bad frames (unmasked, over the bound, text) closed with the
right close code; the custom authorizer over wss with a token in a
header and the query string.  Every test uses the shared cluster (one
extra broker for the authorizer)."""

import base64
import hashlib
import json
import os
import socket
import ssl
import struct
import threading
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import conftest
import mqttc
import rawmqtt
from mqttc import V311

TIMEOUT = 5.0
KEY = base64.b64encode(b"0123456789abcdef").decode()


def opening(path="/mqtt", protocol="mqtt", version="13", key=KEY,
            method="GET", host="localhost", extra=""):
    """An opening request; None drops a header."""
    lines = ["%s %s HTTP/1.1" % (method, path)]
    for name, value in (("Host", host), ("Upgrade", "websocket"),
                        ("Connection", "Upgrade"),
                        ("Sec-WebSocket-Key", key),
                        ("Sec-WebSocket-Version", version),
                        ("Sec-WebSocket-Protocol", protocol)):
        if value is not None:
            lines.append("%s: %s" % (name, value))
    return ("\r\n".join(lines) + "\r\n" + extra + "\r\n").encode()


def frame(payload, opcode=2, fin=True, mask=True, length=None):
    """A client frame (masked unless told); length overrides the
    announced payload length."""
    n = len(payload) if length is None else length
    head = bytes([(0x80 if fin else 0) | opcode])
    bit = 0x80 if mask else 0
    if n < 126:
        head += bytes([bit | n])
    elif n < 65536:
        head += bytes([bit | 126]) + struct.pack("!H", n)
    else:
        head += bytes([bit | 127]) + struct.pack("!Q", n)
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


class WsRaw:
    """A hand-driven WebSocket client: the opening request as given, then
    frames; reads the server's frames and the MQTT packets in them."""

    def __init__(self, port, request=None, tls=None):
        self.sock = socket.create_connection(("127.0.0.1", port), TIMEOUT)
        if tls is not None:
            self.sock = tls.wrap_socket(self.sock,
                                        server_hostname="localhost")
        self.sock.settimeout(TIMEOUT)
        self.buf = b""
        self.mqtt = b""
        self.status = None
        if request is not False:
            self.sock.sendall(request or opening())
            self.status, self.headers = self._response()

    def close(self):
        self.sock.close()

    def _fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise rawmqtt.Closed()
        self.buf += data

    def _response(self):
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode().split("\r\n")
        headers = {}
        for line in lines[1:]:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
        return int(lines[0].split()[1]), headers

    def send(self, data):
        self.sock.sendall(data)

    def read_frame(self):
        """(opcode, payload) of the server's next frame (never masked)."""
        while len(self.buf) < 2:
            self._fill()
        assert not self.buf[1] & 0x80, "server frames are not masked"
        n, pos = self.buf[1] & 0x7F, 2
        if n == 126:
            while len(self.buf) < 4:
                self._fill()
            n, pos = struct.unpack("!H", self.buf[2:4])[0], 4
        elif n == 127:
            while len(self.buf) < 10:
                self._fill()
            n, pos = struct.unpack("!Q", self.buf[2:10])[0], 10
        while len(self.buf) < pos + n:
            self._fill()
        opcode, payload = self.buf[0] & 0x0F, self.buf[pos:pos + n]
        self.buf = self.buf[pos + n:]
        return opcode, payload

    def read_packet(self, skip_pongs=True):
        """The next MQTT packet, from binary frames."""
        while True:
            if len(self.mqtt) >= 2:
                length, pos = rawmqtt._read_varint(self.mqtt, 1)
                if length is not None and len(self.mqtt) >= pos + length:
                    p = rawmqtt.Packet(self.mqtt[0] >> 4,
                                       self.mqtt[0] & 15,
                                       self.mqtt[pos:pos + length], V311)
                    self.mqtt = self.mqtt[pos + length:]
                    return p
            opcode, payload = self.read_frame()
            if opcode == 2:
                self.mqtt += payload
            elif opcode != 10 or not skip_pongs:
                raise AssertionError("frame %d %r" % (opcode, payload))

    def close_code(self):
        """The status code of the server's close frame, then the end."""
        opcode, payload = self.read_frame()
        while opcode == 2:
            opcode, payload = self.read_frame()
        assert opcode == 8, (opcode, payload)
        try:
            while self.sock.recv(4096):
                pass
        except OSError:
            pass
        return struct.unpack("!H", payload[:2])[0]


def metric(cluster, name, labels=""):
    text = urllib.request.urlopen(
        "http://%s:%d/metrics" % (cluster.host,
                                  cluster.broker_metrics_ports[0]),
        timeout=5).read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith(name) and labels in line)


def metric_at(port, name, labels=""):
    text = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port,
                                  timeout=5).read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith(name) and labels in line)


def tls_context(cluster, cert=True):
    ctx = ssl.create_default_context(cafile=cluster.ca_file)
    if cert:
        ctx.load_cert_chain(cluster.client_cert, cluster.client_key)
    return ctx


def exchange(cluster, clients, js, topic):
    """js (connected) and a plain MQTT client swap messages at QoS 0, 1
    and 2 both ways."""
    plain = clients(V311, 0)
    plain.subscribe(topic + "/to-plain", 2)
    assert js.subscribe(topic + "/to-js", qos=2).get("error") is None
    for qos in (0, 1, 2):
        reply = js.publish(topic + "/to-plain", b"js%d" % qos, qos=qos)
        assert reply.get("error") is None, reply
        msg = plain.get(topic=topic + "/to-plain")
        assert (msg.payload, msg.qos) == (b"js%d" % qos, qos)
        plain.publish(topic + "/to-js", b"plain%d" % qos, qos)
        got = js.messages(1, topic=topic + "/to-js")[0]
        assert (bytes.fromhex(got["payloadHex"]), got["qos"]) == (
            b"plain%d" % qos, qos)


@pytest.mark.parametrize("scheme", ["ws", "wss"])
def test_mqttjs_every_qos(cluster, clients, jsclients, scheme):
    js = jsclients()
    if scheme == "ws":
        url = "ws://127.0.0.1:%d/mqtt" % cluster.ws_ports[0]
        more = {}
    else:
        url = "wss://localhost:%d/mqtt" % cluster.wss_ports[0]
        more = {"ca": cluster.ca_file, "cert": cluster.client_cert,
                "key": cluster.client_key}
    reply = js.connect(None, None, "js-" + uuid.uuid4().hex[:12], url=url,
                       **more)
    assert reply.get("error") is None, reply
    exchange(cluster, clients, js, mqttc.unique())
    listener = 'listener="%s"' % scheme
    assert metric(cluster, "strata_broker_connections_total",
                  listener) >= 1


def test_paho_websockets(cluster, clients):
    topic = mqttc.unique()
    ws = mqttc.Client(V311, transport="websockets")
    try:
        ws.connect(cluster.host, cluster.ws_ports[0])
        ws.subscribe(topic, 1)
        clients(V311, 0).publish(topic, b"x" * 70000, 1)
        assert ws.get(topic=topic).payload == b"x" * 70000
    finally:
        ws.close()


def test_packets_joined_and_split(cluster, raws):
    """One message with CONNECT, SUBSCRIBE and PUBLISH; then a PUBLISH
    split over three messages, and one over fragments with a ping
    between them."""
    topic = mqttc.unique()
    c = raws(WsRaw(cluster.ws_ports[0]))
    assert c.status == 101
    assert c.headers["sec-websocket-protocol"] == "mqtt"
    assert c.headers["sec-websocket-accept"] == base64.b64encode(
        hashlib.sha1((KEY + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")
                     .encode()).digest()).decode()
    c.send(frame(rawmqtt.connect("ws-" + uuid.uuid4().hex[:12]) +
                 rawmqtt.subscribe([(topic, 1)]) +
                 rawmqtt.publish(topic, b"joined", 1, packet_id=2)))
    assert c.read_packet().type == rawmqtt.CONNACK
    got = {}
    for _ in range(3):  # SUBACK, PUBACK and the delivery
        p = c.read_packet()
        got[p.type] = p
    assert set(got) == {rawmqtt.SUBACK, rawmqtt.PUBACK, rawmqtt.PUBLISH}
    assert got[rawmqtt.PUBLISH].payload == b"joined"
    c.send(frame(rawmqtt.puback(got[rawmqtt.PUBLISH].packet_id)))
    pub = rawmqtt.publish(topic, b"split" * 100, 0)
    for part in (pub[:1], pub[1:3], pub[3:]):
        c.send(frame(part))
    assert c.read_packet().payload == b"split" * 100
    pub = rawmqtt.publish(topic, b"fragments", 0)
    c.send(frame(pub[:5], fin=False) + frame(b"hi", opcode=9) +
           frame(pub[5:9], opcode=0, fin=False) +
           frame(pub[9:], opcode=0))
    assert c.read_frame() == (10, b"hi")
    assert c.read_packet().payload == b"fragments"
    c.send(frame(struct.pack("!H", 1000), opcode=8))
    assert c.close_code() == 1000


@pytest.mark.parametrize("request_bytes,reason", [
    (opening(protocol=None), "subprotocol"),
    (opening(protocol="chat, MQTT"), "subprotocol"),
    (opening(path="/ws"), "path"),
    (opening(version="8"), "version"),
    (opening(key=None), "key"),
    (opening(method="POST"), "method"),
    (opening(host=None), "host"),
    (opening(extra="X-Big: %s\r\n" % ("a" * 9000)), "too_large"),
    (b"\x10\x0c\x00\x04MQTT\x04\x02\x00\x1e\x00\x00\r\n\r\n", "malformed"),
])
def test_bad_opening_refused(cluster, raws, request_bytes, reason):
    label = 'reason="%s"' % reason
    before = metric(cluster, "strata_broker_ws_upgrades_refused_total",
                    label)
    c = raws(WsRaw(cluster.ws_ports[0], request_bytes))
    assert c.status == 400
    with pytest.raises((rawmqtt.Closed, ConnectionError)):
        while True:
            c._fill()
    assert metric(cluster, "strata_broker_ws_upgrades_refused_total",
                  label) == before + 1


@pytest.mark.parametrize("bad,code,reason", [
    (frame(rawmqtt.pingreq(), mask=False), 1002, "protocol"),
    (frame(b"0123456789", length=1 << 20), 1009, "too_big"),
    # a message over the bound in two frames, each under it
    (frame(rawmqtt.publish("t", b"x" * 150000)[:1000], fin=False) +
     frame(b"0123456789", opcode=0, length=200000), 1009, "too_big"),
    (frame(b"\x10", opcode=1), 1003, "text"),
    (frame(b"", opcode=5), 1002, "protocol"),
], ids=["unmasked", "frame-too-big", "message-too-big", "text",
        "reserved-opcode"])
def test_bad_frame_closed(cluster, raws, bad, code, reason):
    label = 'reason="%s"' % reason
    before = metric(cluster, "strata_broker_ws_closes_total", label)
    c = raws(WsRaw(cluster.ws_ports[0]))
    assert c.status == 101
    c.send(frame(rawmqtt.connect("ws-" + uuid.uuid4().hex[:12])))
    assert c.read_packet().type == rawmqtt.CONNACK
    c.send(bad)
    assert c.close_code() == code
    assert metric(cluster, "strata_broker_ws_closes_total",
                  label) == before + 1


def test_subprotocol_mqttv31(cluster, raws):
    """mqttv3.1 (MQTT 3.1 clients' name) is taken when mqtt is not
    offered; mqtt is chosen when both are."""
    c = raws(WsRaw(cluster.ws_ports[0], opening(protocol="mqttv3.1")))
    assert (c.status, c.headers["sec-websocket-protocol"]) == (
        101, "mqttv3.1")
    c = raws(WsRaw(cluster.ws_ports[0],
                   opening(protocol="mqttv3.1, mqtt")))
    assert c.headers["sec-websocket-protocol"] == "mqtt"


def test_ping_flood_without_reading_closed(extra_broker, raws):
    """Pongs count as output: a client that pings and never reads is
    closed at max-output-bytes (64 KiB here, behind the kernel's socket
    buffers) and counted as a 0x97 refusal."""
    import daemons
    port = daemons.free_port()
    b = extra_broker("--ws-port", str(port), "--max-output-bytes", "65536")
    c = WsRaw(port, tls=None, request=False)
    raws(c)
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    c.send(opening())
    c.send(frame(rawmqtt.connect("ws-" + uuid.uuid4().hex[:12])))
    ping = b"\x89\xfd\x00\x00\x00\x00" + b"p" * 125  # mask key 0
    closed = False
    c.sock.settimeout(2)
    try:
        for _ in range(40):
            c.sock.sendall(ping * 2000)
    except OSError:
        closed = True
    assert closed or "0x97" in b.log_text(), b.log_text()[-2000:]
    assert metric_at(b.metrics_port, "strata_broker_refusals_total",
                     'reason="0x97"') >= 1


def test_wss_opening_over_tls(cluster, raws):
    c = raws(WsRaw(cluster.wss_ports[0], tls=tls_context(cluster)))
    assert c.status == 101
    c.send(frame(rawmqtt.connect("wss-" + uuid.uuid4().hex[:12])))
    assert c.read_packet().type == rawmqtt.CONNACK
    bad = raws(WsRaw(cluster.wss_ports[0], opening(path="/"),
                     tls=tls_context(cluster)))
    assert bad.status == 400


# ---- the custom authorizer over wss ----

class Authorizer:
    """Allows the token "good-token" (everything under the test's topic);
    keeps every request body."""

    def __init__(self, topic):
        self.calls = []
        owner = self
        doc = json.dumps({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": "iot:*", "Resource": "*"}]})

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                req = json.loads(self.rfile.read(
                    int(self.headers["Content-Length"])))
                owner.calls.append(req)
                ok = req.get("token") == "good-token"
                body = json.dumps({"isAuthenticated": ok,
                                   "principalId": "wsuser",
                                   "policyDocuments": [doc] if ok else []})
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body.encode())

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever,
                         daemon=True).start()
        self.url = "http://127.0.0.1:%d/auth" % self.server.server_port

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def test_authorizer_over_wss(cluster, clients, jsclients, extra_broker):
    import daemons
    topic = mqttc.unique()
    authz = Authorizer(topic)
    wss = daemons.free_port()
    certs = os.path.dirname(cluster.ca_file)
    try:
        extra_broker("--wss-port", str(wss),
                     "--tls-cert", os.path.join(certs, "server.crt"),
                     "--tls-key", os.path.join(certs, "server.key"),
                     "--tls-ca", cluster.ca_file,
                     "--authorizer-url", authz.url,
                     "--authorizer-cache-seconds", "0")
        url = "wss://localhost:%d/mqtt?x-amz-customauthorizer-name=a" % wss
        js = jsclients()
        reply = js.connect(None, None, "wsa-" + uuid.uuid4().hex[:8],
                           url=url, ca=cluster.ca_file,
                           wsHeaders={"token": "good-token"})
        assert reply.get("error") is None, reply
        exchange(cluster, clients, js, topic)
        req = authz.calls[0]
        assert req["token"] == "good-token"
        assert req["protocols"] == ["tls", "http", "mqtt"]
        http = req["protocolData"]["http"]
        assert http["queryString"] == "?x-amz-customauthorizer-name=a"
        assert http["headers"]["token"] == "good-token"
        # a token in the query string; a wrong one is refused
        for token, ok in (("good-token", True), ("bad", False)):
            js = jsclients()
            reply = js.connect(None, None, "wsb-" + uuid.uuid4().hex[:8],
                               url=url + "&token=" + token,
                               ca=cluster.ca_file)
            assert (reply.get("error") is None) == ok, reply
    finally:
        authz.stop()


def test_readme_wss_example_runs(cluster, jsclients):
    """The README's MQTT.js over wss example, run as written (make run's
    paths replaced by this cluster's; jsclients: the modules are
    installed)."""
    topic = mqttc.unique()
    out = conftest.run_readme_block(cluster, "## MQTT over WebSocket",
                                    conftest.ROOT, [("lamp-1/cmd", topic)])
    assert out.strip().splitlines()[-1] == "on", out
