"""Hand-made MQTT packets over a plain socket.

The integration suite uses this module where a real client library would
refuse to misbehave: malformed packets, abrupt closes, exact reason codes.
Builders return bytes; RawClient sends them and reads whole packets back
with bounded timeouts.  There is a builder for every packet type of both
protocol versions, including the server-to-client ones (CONNACK, SUBACK,
UNSUBACK, PINGRESP: the fuzz test sends them the wrong way) and packet()
for any type nibble, reserved 0 and 15 included.  Incoming packets are
decoded as far as tests look at them (fixed header plus a few fields).
"""

import socket
import struct
import time

CONNECT = 1
CONNACK = 2
PUBLISH = 3
PUBACK = 4
PUBREC = 5
PUBREL = 6
PUBCOMP = 7
SUBSCRIBE = 8
SUBACK = 9
UNSUBSCRIBE = 10
UNSUBACK = 11
PINGREQ = 12
PINGRESP = 13
DISCONNECT = 14
AUTH = 15

V311 = 4
V5 = 5

# MQTT 5 property identifiers used by the tests.
PROP_SESSION_EXPIRY = 0x11
PROP_ASSIGNED_CLIENT_ID = 0x12
PROP_SERVER_KEEP_ALIVE = 0x13
PROP_REASON_STRING = 0x1F
PROP_PAYLOAD_FORMAT = 0x01
PROP_MESSAGE_EXPIRY = 0x02
PROP_CONTENT_TYPE = 0x03
PROP_REQUEST_PROBLEM_INFO = 0x17
PROP_WILL_DELAY = 0x18
PROP_REQUEST_RESPONSE_INFO = 0x19
PROP_RESPONSE_INFO = 0x1A
PROP_RECEIVE_MAXIMUM = 0x21
PROP_TOPIC_ALIAS_MAXIMUM = 0x22
PROP_TOPIC_ALIAS = 0x23
PROP_MAXIMUM_QOS = 0x24
PROP_RETAIN_AVAILABLE = 0x25
PROP_MAXIMUM_PACKET_SIZE = 0x27
PROP_WILDCARD_SUB_AVAILABLE = 0x28
PROP_SUB_ID_AVAILABLE = 0x29
PROP_SHARED_SUB_AVAILABLE = 0x2A

# Property id -> wire type, for decoding (MQTT 5 section 2.2.2.2).
PROP_TYPES = {
    0x01: "byte", 0x02: "u32", 0x03: "str", 0x08: "str", 0x09: "bin",
    0x0B: "varint", 0x11: "u32", 0x12: "str", 0x13: "u16", 0x15: "str",
    0x16: "bin", 0x17: "byte", 0x18: "u32", 0x19: "byte", 0x1A: "str",
    0x1C: "str", 0x1F: "str", 0x21: "u16", 0x22: "u16", 0x23: "u16",
    0x24: "byte", 0x25: "byte", 0x26: "pair", 0x27: "u32", 0x28: "byte",
    0x29: "byte", 0x2A: "byte",
}


def varint(n):
    """Variable Byte Integer encoding (at most 4 bytes for valid values)."""
    out = bytearray()
    while True:
        b = n % 128
        n //= 128
        if n:
            b |= 0x80
        out.append(b)
        if not n:
            return bytes(out)


def utf8(s):
    """Length-prefixed string; bytes are sent verbatim (for bad UTF-8)."""
    if isinstance(s, str):
        s = s.encode("utf-8")
    return struct.pack("!H", len(s)) + s


def props(items=()):
    """Encode (id, value) pairs as an MQTT 5 property block."""
    body = bytearray()
    for pid, value in items:
        body += varint(pid)
        kind = PROP_TYPES[pid]
        if kind == "byte":
            body.append(value)
        elif kind == "u16":
            body += struct.pack("!H", value)
        elif kind == "u32":
            body += struct.pack("!I", value)
        elif kind == "varint":
            body += varint(value)
        elif kind in ("str", "bin"):
            body += utf8(value)
        else:
            body += utf8(value[0]) + utf8(value[1])
    return varint(len(body)) + bytes(body)


def packet(ptype, flags, body):
    """Fixed header (type, flags, remaining length) + body."""
    return bytes([(ptype << 4) | flags]) + varint(len(body)) + body


def connect(client_id="", version=V311, keepalive=30, clean=True,
        will=None, properties=(), proto_name="MQTT", username=None,
        password=None, reserved=False):
    """CONNECT.  will is None or a dict: topic, payload, qos, retain,
    properties (v5 will properties, default none).  username and
    password (str or bytes) set their flags and fields; reserved sets the
    reserved flag bit 0, which the spec forbids."""
    flags = 0x02 if clean else 0
    if reserved:
        flags |= 0x01
    payload = utf8(client_id)
    if will is not None:
        flags |= 0x04 | (will.get("qos", 0) << 3)
        if will.get("retain"):
            flags |= 0x20
        if version == V5:
            payload += props(will.get("properties", ()))
        payload += utf8(will["topic"]) + utf8(will["payload"])
    if username is not None:
        flags |= 0x80
        payload += utf8(username)
    if password is not None:
        flags |= 0x40
        payload += utf8(password)
    body = utf8(proto_name) + bytes([version, flags])
    body += struct.pack("!H", keepalive)
    if version >= V5:
        body += props(properties)
    return packet(CONNECT, 0, body + payload)


def publish(topic, payload=b"", qos=0, retain=False, packet_id=1,
        version=V311, dup=False, properties=()):
    """PUBLISH; topic may be bytes to carry ill-formed UTF-8."""
    if isinstance(payload, str):
        payload = payload.encode()
    flags = (qos << 1) | (1 if retain else 0) | (0x08 if dup else 0)
    body = utf8(topic)
    if qos:
        body += struct.pack("!H", packet_id)
    if version == V5:
        body += props(properties)
    return packet(PUBLISH, flags, body + payload)


def subscribe(filters, packet_id=1, version=V311, flags=0x02,
              properties=()):
    """SUBSCRIBE of [(filter, options)].  flags must be 2 per the spec;
    tests pass another value to send reserved bits."""
    body = struct.pack("!H", packet_id)
    if version == V5:
        body += props(properties)
    for flt, opts in filters:
        body += utf8(flt) + bytes([opts])
    return packet(SUBSCRIBE, flags, body)


def unsubscribe(filters, packet_id=1, version=V311, flags=0x02,
                properties=()):
    """UNSUBSCRIBE of a list of filters (flags must be 2, like
    SUBSCRIBE's)."""
    body = struct.pack("!H", packet_id)
    if version == V5:
        body += props(properties)
    for flt in filters:
        body += utf8(flt)
    return packet(UNSUBSCRIBE, flags, body)


def puback(packet_id, ptype=PUBACK, version=V311, reason=None,
           properties=()):
    """PUBACK, PUBREC, PUBREL or PUBCOMP (ptype).  MQTT 5 adds a reason
    code and properties; both are left out (reason 0) unless given."""
    flags = 0x02 if ptype == PUBREL else 0
    body = struct.pack("!H", packet_id)
    if version == V5 and (reason is not None or properties):
        body += bytes([reason or 0])
        if properties:
            body += props(properties)
    return packet(ptype, flags, body)


def pingreq():
    return packet(PINGREQ, 0, b"")


def disconnect(version=V311, reason=0, properties=()):
    if version == V5 and (reason or properties):
        return packet(DISCONNECT, 0, bytes([reason]) + props(properties))
    return packet(DISCONNECT, 0, b"")


def auth(reason=0, properties=()):
    """MQTT 5 AUTH (type 15; reserved in 3.1.1).  Reason 0 with no
    properties has an empty body."""
    if reason or properties:
        return packet(AUTH, 0, bytes([reason]) + props(properties))
    return packet(AUTH, 0, b"")


# Server-to-client packets, for tests that send them the wrong way.

def connack(reason=0, session_present=False, version=V311, properties=()):
    body = bytes([1 if session_present else 0, reason])
    if version == V5:
        body += props(properties)
    return packet(CONNACK, 0, body)


def suback(packet_id, codes, version=V311, properties=()):
    body = struct.pack("!H", packet_id)
    if version == V5:
        body += props(properties)
    return packet(SUBACK, 0, body + bytes(codes))


def unsuback(packet_id, codes=(), version=V311, properties=()):
    """UNSUBACK; reason codes and properties exist only in MQTT 5."""
    body = struct.pack("!H", packet_id)
    if version == V5:
        body += props(properties) + bytes(codes)
    return packet(UNSUBACK, 0, body)


def pingresp():
    return packet(PINGRESP, 0, b"")


class Packet:
    """A received packet: type, flags, body, plus decoded fields for the
    packets tests inspect (reason, session_present, properties, topic,
    payload, packet_id).  reason is a list for SUBACK and UNSUBACK (3.1.1
    UNSUBACK: empty), the code or None (left out) for the other acks."""

    def __init__(self, ptype, flags, body, version):
        self.type = ptype
        self.flags = flags
        self.body = body
        self.reason = None
        self.session_present = None
        self.properties = {}
        self.topic = None
        self.payload = None
        self.packet_id = None
        self._decode(version)

    def __repr__(self):
        return "<Packet type=%d flags=%#x reason=%r body=%s>" % (
            self.type, self.flags, self.reason, self.body.hex())

    def _decode(self, version):
        b = self.body
        if self.type == CONNACK and len(b) >= 2:
            self.session_present = bool(b[0] & 1)
            self.reason = b[1]
            if len(b) > 2:
                self.properties = parse_props(b[2:])[0]
        elif self.type == DISCONNECT:
            self.reason = b[0] if b else 0
            if len(b) > 1:
                self.properties = parse_props(b[1:])[0]
        elif self.type == PUBLISH:
            n = struct.unpack("!H", b[:2])[0]
            self.topic = b[2:2 + n].decode("utf-8")
            pos = 2 + n
            if (self.flags >> 1) & 3:
                self.packet_id = struct.unpack(
                    "!H", b[pos:pos + 2])[0]
                pos += 2
            if version == V5:
                self.properties, used = parse_props(b[pos:])
                pos += used
            self.payload = b[pos:]
        elif self.type in (SUBACK, UNSUBACK):
            self.packet_id = struct.unpack("!H", b[:2])[0]
            rest = b[2:]
            if version == V5:
                self.properties, used = parse_props(rest)
                rest = rest[used:]
            self.reason = list(rest)
        elif self.type in (PUBACK, PUBREC, PUBREL, PUBCOMP):
            self.packet_id = struct.unpack("!H", b[:2])[0]
            if len(b) > 2:
                self.reason = b[2]
            if len(b) > 3:
                self.properties = parse_props(b[3:])[0]


def _read_varint(buf, pos):
    value = 0
    mult = 1
    for i in range(4):
        if pos + i >= len(buf):
            return None, pos
        byte = buf[pos + i]
        value += (byte & 0x7F) * mult
        if not byte & 0x80:
            return value, pos + i + 1
        mult *= 128
    raise ValueError("malformed remaining length from server")


def parse_props(buf):
    """Decode a property block at the start of buf -> (dict, bytes used).
    Repeated ids (user properties) collect into lists."""
    length, pos = _read_varint(buf, 0)
    end = pos + length
    out = {}
    while pos < end:
        pid, pos = _read_varint(buf, pos)
        kind = PROP_TYPES.get(pid)
        if kind == "byte":
            val = buf[pos]
            pos += 1
        elif kind == "u16":
            val = struct.unpack("!H", buf[pos:pos + 2])[0]
            pos += 2
        elif kind == "u32":
            val = struct.unpack("!I", buf[pos:pos + 4])[0]
            pos += 4
        elif kind == "varint":
            val, pos = _read_varint(buf, pos)
        elif kind in ("str", "bin", "pair"):
            n = struct.unpack("!H", buf[pos:pos + 2])[0]
            val = bytes(buf[pos + 2:pos + 2 + n])
            pos += 2 + n
            if kind == "pair":
                m = struct.unpack("!H", buf[pos:pos + 2])[0]
                val = (val, bytes(buf[pos + 2:pos + 2 + m]))
                pos += 2 + m
            elif kind == "str":
                val = val.decode("utf-8")
        else:
            raise ValueError("unknown property id %#x" % pid)
        if pid == 0x26:
            out.setdefault(pid, []).append(val)
        else:
            out[pid] = val
    return out, end


class Closed(Exception):
    """The server closed the connection while a packet was expected."""


class RawClient:
    """One TCP connection speaking hand-made MQTT.

    recv() returns the next whole packet or raises Closed on EOF/reset and
    TimeoutError when nothing complete arrives in time.  Every wait is
    bounded by an explicit timeout."""

    def __init__(self, host, port, version=V311, timeout=5.0):
        self.version = version
        self.sock = socket.create_connection((host, port), timeout)
        self.buf = bytearray()
        self.eof = False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def abort(self):
        """Abrupt close: RST instead of FIN, no DISCONNECT."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
            struct.pack("ii", 1, 0))
        self.close()

    def send(self, data):
        self.sock.sendall(data)

    def _take(self):
        """A whole packet from the buffer, or None."""
        if len(self.buf) < 2:
            return None
        length, pos = _read_varint(self.buf, 1)
        if length is None or len(self.buf) < pos + length:
            return None
        first = self.buf[0]
        body = bytes(self.buf[pos:pos + length])
        del self.buf[:pos + length]
        return Packet(first >> 4, first & 0x0F, body, self.version)

    def recv(self, timeout=5.0):
        deadline = time.monotonic() + timeout
        while True:
            pkt = self._take()
            if pkt is not None:
                return pkt
            if self.eof:
                raise Closed("connection closed by server")
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no packet within %.1fs" % timeout)
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                raise TimeoutError(
                    "no packet within %.1fs" % timeout) from None
            except (ConnectionResetError, BrokenPipeError):
                data = b""
            if not data:
                self.eof = True
            self.buf += data

    def recv_type(self, ptype, timeout=5.0):
        """Next packet of type ptype, skipping others (e.g. PUBLISH
        while waiting for an ack)."""
        deadline = time.monotonic() + timeout
        while True:
            pkt = self.recv(max(0.01, deadline - time.monotonic()))
            if pkt.type == ptype:
                return pkt

    def wait_closed(self, timeout=5.0):
        """Read until the server closes.  Returns the packets received
        before the close; raises TimeoutError if still open."""
        got = []
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("connection still open after "
                    "%.1fs (got %r)" % (timeout, got))
            try:
                got.append(self.recv(left))
            except Closed:
                return got
            except TimeoutError:
                raise TimeoutError("connection still open after %.1fs "
                                   "(got %r)" % (timeout, got)) from None

    def handshake(self, client_id, keepalive=30, clean=True, will=None,
              properties=()):
        """CONNECT and wait for the CONNACK; returns it."""
        self.send(connect(client_id, self.version, keepalive, clean,
            will, properties))
        ack = self.recv()
        assert ack.type == CONNACK, ack
        return ack
