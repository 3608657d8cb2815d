#!/usr/bin/env python3
"""Write the seed corpora of the fuzz targets (tests/fuzz/corpus/).

Each seed is a valid session of its target's input format (see the
comment at the top of each fuzz_<name>.c): MQTT packets of both versions
cut into records, link frames (4-byte length + strata.Frame, protobuf
encoded by hand here), session hand-off blobs (strata.Session), Redis
replies (RESP), policy documents with a connection's variables.  The
fuzzer mutates from there.  Deterministic: running it again rewrites
the same files (the `campaign-*` inputs beside them come from fuzzing
campaigns, minimized with `-merge=1`, and are kept).

    /usr/bin/python3 tests/fuzz/make_corpus.py
"""

import base64
import json
import os
import socket
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")

# ---- MQTT -------------------------------------------------------------

V311, V5 = 4, 5


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def s16(b):
    if isinstance(b, str):
        b = b.encode()
    return struct.pack("!H", len(b)) + b


def pkt(ptype, flags, body):
    return bytes([ptype << 4 | flags]) + varint(len(body)) + body


def props(raw=b""):
    return varint(len(raw)) + raw


def connect(cid, version=V311, clean=True, keepalive=30, will=None,
            cprops=b"", user=None, password=None):
    flags = 0x02 if clean else 0
    payload = s16(cid)
    if will is not None:
        topic, msg, qos, retain, wprops = will
        flags |= 0x04 | qos << 3 | (0x20 if retain else 0)
        if version == V5:
            payload += props(wprops)
        payload += s16(topic) + s16(msg)
    if user is not None:
        flags |= 0x80
        payload += s16(user)
    if password is not None:
        flags |= 0x40
        payload += s16(password)
    body = s16("MQTT") + bytes([version, flags]) + struct.pack("!H",
                                                               keepalive)
    if version == V5:
        body += props(cprops)
    return pkt(1, 0, body + payload)


def publish(topic, payload=b"x", qos=0, pid=1, version=V311, retain=False,
            pprops=b"", dup=False):
    body = s16(topic)
    if qos:
        body += struct.pack("!H", pid)
    if version == V5:
        body += props(pprops)
    flags = qos << 1 | (1 if retain else 0) | (8 if dup else 0)
    return pkt(3, flags, body + payload)


def ack(ptype, pid, version=V311, reason=None):
    body = struct.pack("!H", pid)
    if version == V5 and reason is not None:
        body += bytes([reason])
    return pkt(ptype, 2 if ptype == 6 else 0, body)


def subscribe(filters, pid=1, version=V311, sprops=b""):
    body = struct.pack("!H", pid)
    if version == V5:
        body += props(sprops)
    for f, o in filters:
        body += s16(f) + bytes([o])
    return pkt(8, 2, body)


def unsubscribe(filters, pid=2, version=V311):
    body = struct.pack("!H", pid)
    if version == V5:
        body += props()
    for f in filters:
        body += s16(f)
    return pkt(10, 2, body)


def disconnect(version=V311, reason=None, dprops=None):
    if version == V5 and reason is not None:
        return pkt(14, 0, bytes([reason]) +
                   (props(dprops) if dprops is not None else b""))
    return pkt(14, 0, b"")


def prop_u32(pid, v):
    return bytes([pid]) + struct.pack("!I", v)


def prop_u16(pid, v):
    return bytes([pid]) + struct.pack("!H", v)


def prop_str(pid, v):
    return bytes([pid]) + s16(v)


def prop_pair(k, v):
    return bytes([0x26]) + s16(k) + s16(v)


PINGREQ = pkt(12, 0, b"")

# ---- protobuf, by hand ------------------------------------------------


def pb_key(field, wire):
    return varint(field << 3 | wire)


def pb_uint(field, v):
    return pb_key(field, 0) + varint(v) if v else b""


def pb_bytes(field, v):
    if isinstance(v, str):
        v = v.encode()
    return pb_key(field, 2) + varint(len(v)) + v if v else b""


def pb_msg(field, body):
    return pb_key(field, 2) + varint(len(body)) + body


def frame(*fields):
    """fields: (field number of Frame, message body)."""
    body = b"".join(pb_msg(f, m) for f, m in fields)
    return struct.pack("!I", len(body)) + body


HELLO, PUBLISH, PUBLISH_ACK, DELIVER, ROUTE, RETAINED_REQ, BARRIER, \
    BARRIER_ACK = range(1, 9)


def hello(node, kind):
    return pb_bytes(1, node) + pb_uint(2, kind) + pb_uint(3, 1)


def m_publish(seq, topic, payload, qos, retain=False, mprops=b"",
              client="c1", partition=0):
    return (pb_uint(1, seq) + pb_bytes(2, topic) + pb_bytes(3, payload) +
            pb_uint(4, qos) + pb_uint(5, 1 if retain else 0) +
            pb_bytes(6, mprops) + pb_bytes(7, client) +
            pb_uint(8, partition))


def m_deliver(topic, payload, qos, retain=False, mprops=b"", origin="",
              target="", tfilter=""):
    return (pb_bytes(1, topic) + pb_bytes(2, payload) + pb_uint(3, qos) +
            pb_uint(4, 1 if retain else 0) + pb_bytes(5, mprops) +
            pb_bytes(6, origin) + pb_bytes(7, target) +
            pb_bytes(8, tfilter))


def m_route(op, flt, client="", options=0, sub_id=0, online=False):
    return (pb_uint(1, op) + pb_bytes(2, flt) + pb_bytes(4, client) +
            pb_uint(5, options) + pb_uint(6, sub_id) +
            pb_uint(7, 1 if online else 0))


def fnv1a32(data):
    h = 0x811C9DC5
    for b in data:
        h ^= b
        h = (h * 0x01000193) & 0xFFFFFFFF
    return h


def m_session(subs=(), msgs=(), qos2=(), expiry=0xFFFFFFFF, next_id=1):
    out = pb_bytes(1, "fuzz-handoff") + pb_uint(2, expiry)
    for flt, opts, sid in subs:
        out += pb_msg(3, pb_bytes(1, flt) + pb_uint(2, opts) +
                      pb_uint(3, sid))
    for m in msgs:
        body = (pb_bytes(1, m["topic"]) + pb_bytes(2, m.get("payload", b"p"))
                + pb_bytes(3, m.get("props", b"")) +
                pb_uint(4, m.get("msg_qos", 1)) +
                pb_uint(5, m.get("msg_retain", 0)) +
                pb_uint(6, m.get("age", 0)) + pb_uint(7, m.get("qos", 1)) +
                pb_uint(8, m.get("retain", 0)) + pb_uint(9, m.get("state", 0))
                + pb_uint(10, m.get("pid", 0)))
        for sid in m.get("sub_ids", ()):
            body += pb_uint(11, sid)
        out += pb_msg(4, body)
    for q in qos2:
        out += pb_uint(5, q)
    return out + pb_uint(6, next_id)


def m_session_control(kind, client, epoch, node, wants=False, has=False):
    return (pb_uint(1, kind) + pb_bytes(2, client) + pb_uint(3, epoch) +
            pb_bytes(4, node) + pb_uint(5, 1 if wants else 0) +
            pb_uint(6, 1 if has else 0))

# ---- RESP -------------------------------------------------------------


def bulk(b):
    if b is None:
        return b"$-1\r\n"
    if isinstance(b, str):
        b = b.encode()
    return b"$%d\r\n%s\r\n" % (len(b), b)


def array(*items):
    return b"*%d\r\n" % len(items) + b"".join(items)


def integer(n):
    return b":%d\r\n" % n


OK = b"+OK\r\n"

# ---- record formats ---------------------------------------------------


def chunks(data, size, conn=0, pump=True):
    """broker_input records: data for one connection in pieces."""
    out = bytearray()
    for i in range(0, len(data), size):
        piece = data[i:i + size]
        out.append(len(piece) | conn << 6 | (0x80 if pump else 0))
        out += piece
    return bytes(out)


def link_records(data, size=100, pump=True):
    out = bytearray()
    for i in range(0, len(data), size):
        piece = data[i:i + size]
        out.append(len(piece) | (0x80 if pump else 0))
        out += piece
    return bytes(out)


def write(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def broker_input():
    t = "broker_input"
    v311 = (connect("fz1") + subscribe([("a/+/c", 1), ("#", 2)]) +
            publish("a/b/c", b"q0") + publish("a/b/c", b"q1", 1, 1) +
            publish("a/b/c", b"q2", 2, 2) + ack(6, 2) + PINGREQ +
            unsubscribe(["#"]) + disconnect())
    write(t, "v311_session", bytes([0x50]) + chunks(v311, 63))
    write(t, "v311_bytewise", bytes([0x10]) + chunks(v311[:60], 1))
    tls = connect("fz-tls", V5) + publish("t/1", b"x", 1, 7, V5)
    write(t, "tls_path_v5", bytes([0x11]) + chunks(tls, 40))
    cprops = (prop_u32(0x11, 300) + prop_u16(0x21, 4) + prop_u16(0x22, 4)
              + prop_u32(0x27, 4096) + prop_pair("k", "v"))
    will = ("w/t", b"bye", 1, True, prop_u32(0x18, 0) + prop_str(0x03, "t"))
    v5 = (connect("fz5", V5, clean=False, cprops=cprops, will=will,
                  user="u", password="p") +
          subscribe([("a/+/c", 0x16), ("x/#", 0x2A)], 1, V5,
                    bytes([0x0B]) + varint(7)) +
          publish("a/b/c", b"alias", 1, 3, V5, pprops=prop_u16(0x23, 2)) +
          publish("", b"by alias", 1, 4, V5, pprops=prop_u16(0x23, 2)) +
          publish("a/b/c", b"exp", 2, 5, V5, retain=True,
                  pprops=prop_u32(0x02, 60) + bytes([0x01, 1]) +
                  prop_str(0x08, "r/t") + bytes([0x09]) + s16(b"corr")) +
          ack(6, 5, V5, 0) + ack(4, 1, V5, 0) + ack(5, 2, V5, 0) +
          ack(7, 2, V5, 0) + PINGREQ +
          disconnect(V5, 0x04, prop_u32(0x11, 10)))
    write(t, "v5_echo_flows", bytes([0x30]) + chunks(v5, 50))
    takeover = (chunks(connect("same", V5, clean=False), 63, 0) +
                chunks(subscribe([("q/#", 1)], 1, V5), 63, 0) +
                chunks(connect("same", V5, clean=False), 63, 1) +
                bytes([0x40]) + chunks(connect("same", V311, clean=False),
                                       63, 0))
    write(t, "takeover", bytes([0x10]) + takeover)
    # the fleet provisioning API (fleet.c): served, never routed; the
    # fuzz client has no claim certificate, so each is rejected 403
    fleet = (connect("fleet", V5) +
             subscribe([("$aws/certificates/create/json/+", 1),
                        ("$aws/provisioning-templates/+/provision/json/+",
                         1)], 1, V5) +
             publish("$aws/certificates/create/json", b"{}", 1, 2, V5) +
             publish("$aws/certificates/create-from-csr/json",
                     b'{"certificateSigningRequest": "x"}', 0, 0, V5) +
             publish("$aws/provisioning-templates/t/provision/json",
                     b'{"certificateOwnershipToken": "t", "parameters": '
                     b'{"a": "b"}}', 2, 3, V5) +
             publish("$aws/certificates/create/cbor", b"\xa0", 0, 0, V5) +
             publish("$aws/certificates/create/json/accepted", b"{}", 1, 4,
                     V5))
    write(t, "fleet", bytes([0x30]) + chunks(fleet, 50))
    write(t, "redis_down", bytes([0x04]) + chunks(connect("down", V5), 63))
    write(t, "prev_alive_wait", bytes([0x08]) +
          chunks(connect("wait", V5) + publish("w/x", b"queued", 1, 1, V5),
                 63) + bytes([0x40]))
    bad = [b"\x00\x00", b"\xf0\x00", b"\x20\x02\x00\x00", b"\x90\x03\x00\x01"
           b"\x00", b"\xb0\x02\x00\x01", b"\xd0\x00", b"\x30\xff\xff\xff\xff"
           b"\x7f", b"\x82\x05\x00\x01\x00\x00\x00", b"\x62\x02\x00\x00"]
    for i, b in enumerate(bad):
        write(t, "reserved_%d_before" % i, bytes([0x00]) + chunks(b, 63))
        write(t, "reserved_%d_after_v5" % i, bytes([0x00]) +
              chunks(connect("r%d" % i, V5) + b, 63))
        write(t, "reserved_%d_after_v311" % i, bytes([0x00]) +
              chunks(connect("s%d" % i) + b, 63))
    auth = connect("auth", V5, cprops=prop_str(0x15, "SCRAM")) + \
        pkt(15, 0, bytes([0x18]) + props(prop_str(0x15, "SCRAM")))
    write(t, "auth_method", bytes([0x00]) + chunks(auth, 63))
    deep = connect("deep", V5) + subscribe([("a/b/c/d/e/f/g/h/#", 1),
                                            ("$share/g/x", 1)] * 3, 1, V5)
    write(t, "limits", bytes([0x00]) + chunks(deep, 63) +
          chunks(publish("a/b/c/d/e/f", b"z" * 3000, 1, 9, V5), 63))
    flood = connect("flood", V5) + b"".join(
        publish("f/%d" % i, b"y" * 40, 2, i + 1, V5) for i in range(12))
    write(t, "receive_max", bytes([0x00]) + chunks(flood, 63))
    subid = connect("subid", V5) + publish("s/i", b"x", 1, 1, V5,
                                          pprops=bytes([0x0B, 5]))
    write(t, "publish_sub_id", bytes([0x00]) + chunks(subid, 63))
    slow = connect("slow", V5) + subscribe([("#", 0)], 1, V5) + b"".join(
        publish("o/%d" % i, b"v" * 1500, 0, 1, V5) for i in range(30))
    write(t, "slow_reader", bytes([0x50]) + chunks(slow, 63))
    # outbound topic aliases (LRU over 3), Request Problem Information 0,
    # Response Information, a small Maximum Packet Size, payload format
    aprops = (prop_u16(0x22, 3) + bytes([0x17, 0, 0x19, 1]) +
              prop_u32(0x27, 90))
    bad_utf8 = bytes([0x01, 1])
    aliases = (connect("fzal", V5, cprops=aprops) +
               subscribe([("al/#", 1)], 1, V5) + b"".join(
                   publish("al/%d" % i, b"m", i % 2, i + 1, V5)
                   for i in (0, 0, 1, 2, 0, 3, 1, 4, 4)) +
               publish("al/x", b"\xc3\x28", 1, 20, V5, pprops=bad_utf8) +
               publish("al/a/b/c/d", b"deep", 1, 21, V5) +
               subscribe([("$share/g/al", 1)], 2, V5) +
               publish("al/y", b"\xff", 0, 0, V5, pprops=bad_utf8))
    write(t, "v5_aliases_problem_info", bytes([0x30]) + chunks(aliases, 63))
    will_pfi = connect("fzwp", V5, will=("w/p", b"\xff", 0, False,
                                         bytes([0x01, 1])))
    write(t, "v5_will_payload_format", bytes([0x00]) + chunks(will_pfi, 63))


def broker_link():
    t = "broker_link"
    deliver = frame((HELLO, hello("fuzz-router", 2)),
                    (PUBLISH_ACK, pb_uint(1, 1)),
                    (PUBLISH_ACK, pb_uint(1, 2) + pb_uint(2, 0x10)),
                    (DELIVER, m_deliver("a/b/c", b"one", 1, origin="x")),
                    (DELIVER, m_deliver("a/x/c", b"two", 2, True,
                                        prop_u32(0x02, 5) +
                                        prop_pair("a", "b"))),
                    (DELIVER, m_deliver("z", b"zero", 0)),
                    (BARRIER_ACK, pb_uint(1, 1)))
    write(t, "acks_and_delivers", link_records(deliver))
    # a router that does not serve the partitions (not_owner): both
    # publishes go back to wait, then a late plain ack of one of them
    refused = frame((HELLO, hello("fuzz-router", 2)),
                    (PUBLISH_ACK, pb_uint(1, 1) + pb_uint(3, 1)),
                    (PUBLISH_ACK, pb_uint(1, 2) + pb_uint(3, 1)),
                    (PUBLISH_ACK, pb_uint(1, 1)))
    write(t, "not_served_acks", link_records(refused))
    retained = frame((DELIVER, m_deliver("a/b/c", b"ret", 1, True,
                                         target="fuzz-sub5",
                                         tfilter="a/+/c")),
                     (DELIVER, m_deliver("k", b"ret", 2, True,
                                         target="fuzz-sub3", tfilter="#")))
    write(t, "retained_delivers", link_records(retained, 7))
    bad = frame((DELIVER, m_deliver("a/+/c", b"bad", 1)),
                (DELIVER, m_deliver("", b"empty", 1)),
                (DELIVER, m_deliver("a/b\x00", b"nul", 9)))
    write(t, "invalid_delivers", link_records(bad))
    write(t, "huge_length", link_records(b"\x7f\xff\xff\xff" + b"\x0a" * 20))


def router_link():
    t = "router_link"
    routes = frame((ROUTE, m_route(2, "")), (ROUTE, m_route(0, "a/+/c")),
                   (ROUTE, m_route(0, "#")), (ROUTE, m_route(0, "x/y")),
                   (BARRIER, pb_uint(1, 1)),
                   (PUBLISH, m_publish(1, "a/b/c", b"p", 1)),
                   (PUBLISH, m_publish(2, "x/y", b"r", 1, True,
                                       prop_u32(0x02, 30),
                                       partition=fnv1a32(b"x/y") % 1024)),
                   (PUBLISH, m_publish(0, "q", b"", 0, True)),
                   (RETAINED_REQ, pb_bytes(1, "c1") + pb_bytes(2, "x/+")),
                   (RETAINED_REQ, pb_bytes(1, "c1") + pb_bytes(2, "x/y")),
                   (ROUTE, m_route(1, "#")))
    write(t, "routes_publish_retained", b"\x01" + link_records(routes))
    hello_first = frame((HELLO, hello("b-1", 1))) + routes
    write(t, "own_hello", b"\x00" + link_records(hello_first, 33))
    many = b"".join(frame((PUBLISH, m_publish(i + 1, "r/%d" % i, b"v" * 300,
                                              1, True)))
                    for i in range(40))
    write(t, "retained_bounds", b"\x01" + link_records(many, 127))
    bad = frame((PUBLISH, m_publish(5, "a/#", b"", 3)),
                (ROUTE, m_route(7, "a")), (ROUTE, m_route(0, "a/#/b")),
                (PUBLISH_ACK, pb_uint(1, 9)), (DELIVER, m_deliver("d", b"",
                                                                  0)))
    write(t, "invalid", b"\x01" + link_records(bad))
    write(t, "bad_hello", b"\x00" + link_records(frame((HELLO,
                                                        hello("", 2)))))
    # persistent sessions (held here, then offline: queued in Redis) and
    # shared subscriptions (members, a message given back to a group)
    sess = frame((ROUTE, m_route(5, "s/1", "p1", 1, 0, True)),
                 (ROUTE, m_route(5, "s/+", "p2", 2, 7, False)),
                 (ROUTE, m_route(7, "$share/g/s/1", "m1", 1)),
                 (ROUTE, m_route(7, "$share/g/s/1", "m2", 1)),
                 (ROUTE, m_route(7, "$share/h/#", "m1", 2)),
                 (BARRIER, pb_uint(1, 2)),
                 (PUBLISH, m_publish(3, "s/1", b"a", 1,
                                     partition=fnv1a32(b"s/1") % 1024)),
                 (PUBLISH, m_publish(4, "s/1", b"b", 2,
                                     partition=fnv1a32(b"s/1") % 1024)),
                 (PUBLISH, m_publish(5, "s/1", b"c", 1,
                                     partition=fnv1a32(b"s/1") % 1024) +
                  pb_bytes(9, "$share/g/s/1")),
                 (ROUTE, m_route(8, "$share/g/s/1", "m1")),
                 (ROUTE, m_route(6, "s/+", "p2")),
                 (ROUTE, m_route(5, "s/1", "p1", 1, 0, False)),
                 (PUBLISH, m_publish(6, "s/1", b"d", 1,
                                     partition=fnv1a32(b"s/1") % 1024)))
    write(t, "sessions_shares", b"\x01" + link_records(sess))
    # the right Hello with a wrong proof of the cluster secret: refused
    write(t, "wrong_proof", b"\x03" + link_records(routes))
    bad_sess = frame((ROUTE, m_route(5, "a/#/b", "p1", 9, 0, True)),
                     (ROUTE, m_route(7, "$share//x", "m1")),
                     (ROUTE, m_route(7, "$share/g/s", "")),
                     (ROUTE, m_route(8, "$share/none/s", "m9")),
                     (PUBLISH, m_publish(7, "s", b"", 1) +
                      pb_bytes(9, "$share/missing/s")))
    write(t, "sessions_shares_invalid", b"\x01" + link_records(bad_sess))


def handoff():
    t = "handoff"
    full = m_session(
        subs=[("a/+/c", 0x02, 0), ("#", 0x1D, 7), ("x/y", 0x01, 0)],
        msgs=[{"topic": "a/b/c", "state": 1, "pid": 3, "qos": 1},
              {"topic": "a/b/c", "state": 2, "pid": 4, "qos": 2,
               "msg_qos": 2},
              {"topic": "x/y", "state": 0, "qos": 2, "msg_qos": 2,
               "props": prop_u32(0x02, 100), "age": 2000, "sub_ids": [7]},
              {"topic": "x/y", "state": 0, "qos": 1, "retain": 1}],
        qos2=[9, 10], next_id=5)
    write(t, "full", full)
    write(t, "empty", m_session())
    write(t, "clean", m_session(expiry=0))
    write(t, "dup_ids", m_session(msgs=[{"topic": "a", "state": 1, "pid": 1},
                                        {"topic": "b", "state": 1,
                                         "pid": 1}]))
    write(t, "bad_filter", m_session(subs=[("a/#/b", 1, 0)]))
    write(t, "shared", m_session(subs=[("$share/g/a", 1, 0)]))
    write(t, "many_queued", m_session(msgs=[{"topic": "q/%d" % i}
                                            for i in range(20)]))


def redis_broker():
    t = "redis_broker"
    scheme = array(bulk("1024"), bulk("3"))
    routers = array(bulk("r1"), bulk("127.0.0.1:7"))
    partmap = array(*[x for p in range(0, 1024, 97)
                      for x in (bulk(str(p)), bulk("r1"))])
    # {previous node, epoch, other node held it, session stored,
    # throttled by the cluster's connect bucket}
    register = array(bulk(""), integer(1), integer(0), integer(0),
                     integer(0))
    throttled = array(bulk(""), integer(0), integer(0), integer(0),
                      integer(1))

    def feed(b):
        return b"\x00" + struct.pack("!H", len(b)) + b

    def msg(b):
        return b"\x01" + struct.pack("!H", len(b)) + b
    # order of the broker's commands: lease SET, scheme EVAL (on up), then
    # HGETALL routers, HGETALL partmap once the scheme is known
    base = feed(OK + scheme + routers + partmap) + b"\x03"
    write(t, "startup", base)
    login = 0x05 | 0x10  # record 5, MQTT 5, client 0, Clean Start 0
    write(t, "register_fresh", base + feed(register) + bytes([login]) +
          b"\x03")
    write(t, "register_throttled", base + feed(throttled) +
          bytes([login]) + b"\x03")
    alive = array(bulk("broker-9"), integer(4), integer(1), integer(0),
                  integer(0))
    handoff = m_session_control(1, "r0", 4, "broker-9", has=True)
    blob = m_session(subs=[("a/+/c", 1, 0)],
                     msgs=[{"topic": "a/b/c", "state": 1, "pid": 2}])
    write(t, "takeover_handoff", base + feed(alive + OK) + bytes([login]) +
          b"\x03" + msg(handoff) + feed(bulk(blob) + integer(1)) + b"\x03")
    takeover = m_session_control(0, "r0", 99, "broker-7", wants=True)
    write(t, "remote_takeover", base + feed(register) + bytes([login]) +
          b"\x03" + msg(takeover) + feed(OK + integer(1)) + b"\x03")
    write(t, "mismatch", feed(OK + array(bulk("1024"), bulk("4"))) +
          b"\x03")
    write(t, "errors", feed(b"-ERR nope\r\n" + b"*3\r\n:1\r\n$-1\r\n*0\r\n"
                            + b"%garbage\r\n") + b"\x03" + bytes([login]) +
          b"\x04\x03\x04\x03")


def redis_router():
    t = "redis_router"

    def feed(b):
        return b"\x00" + struct.pack("!H", len(b)) + b
    scheme = array(bulk("1024"), bulk("3"))
    value = (pb_bytes(1, b"payload") + pb_uint(2, 1) +
             pb_bytes(3, prop_u32(0x02, 9)) + pb_uint(4, 1700000000000))
    retained = array(bulk("a/b"), bulk(value), bulk("c/#"), bulk(value),
                     bulk("d"), bulk(b"\xff\xff"))
    claim = (OK + OK + array() + integer(1024) +
             retained + b"".join(array() for _ in range(40)))
    write(t, "startup_claim", feed(scheme) + b"\x01" + feed(claim) +
          b"\x01")
    owners = array(bulk("0"), bulk("r-old"), bulk("1"), bulk("r-old"),
                   bulk("2"), bulk("fuzz-router"))
    write(t, "owners_dead", feed(scheme) + b"\x01" +
          feed(OK + OK + owners + integer(0) + integer(2)) + b"\x01")
    pub = frame((PUBLISH, m_publish(1, "a/b", b"keep", 1, True)))
    write(t, "retained_ack", feed(scheme) + b"\x01" + b"\x02" +
          bytes([len(pub)]) + pub + b"\x01" + feed(b"-ERR oom\r\n") +
          b"\x01\x03\x01")
    write(t, "mismatch", feed(array(bulk("512"), bulk("3"))) + b"\x01")


# ---- PROXY protocol ---------------------------------------------------

PP2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def pp2(command=1, family=0x11, body=None, src=("192.0.2.1", 51000),
        dst=("198.51.100.2", 1883), tlvs=b""):
    """A PROXY protocol v2 header (command 1 PROXY, 0 LOCAL)."""
    if body is None:
        if family == 0x11:
            body = (socket.inet_pton(socket.AF_INET, src[0]) +
                    socket.inet_pton(socket.AF_INET, dst[0]) +
                    struct.pack("!HH", src[1], dst[1]))
        elif family == 0x21:
            body = (socket.inet_pton(socket.AF_INET6, src[0]) +
                    socket.inet_pton(socket.AF_INET6, dst[0]) +
                    struct.pack("!HH", src[1], dst[1]))
        else:
            body = b""
    body += tlvs
    return (PP2_SIG + bytes([0x20 | command, family]) +
            struct.pack("!H", len(body)) + body)


def tlv(t, value):
    return bytes([t]) + struct.pack("!H", len(value)) + value


def proxy():
    """fuzz_proxy: flags byte, then broker_input records (see its file)."""
    t = "proxy"
    session = (connect("px1") + subscribe([("a/#", 1)]) +
               publish("a/b", b"q1", 1, 2) + PINGREQ + disconnect())
    v5 = connect("px5", V5) + publish("a/c", b"v5", 1, 3, V5)
    tlvs = (tlv(0x01, b"mqtt") + tlv(0x02, b"broker.example") +
            tlv(0x04, b"") + tlv(0x05, b"\xab\xcd"))
    write(t, "v2_tcp4", b"\x00" + chunks(pp2() + session, 63))
    write(t, "v2_tcp4_bytewise", b"\x00" + chunks(pp2(), 1) +
          chunks(session, 63))
    write(t, "v2_tcp6_tlvs_tls", b"\x01" + chunks(
        pp2(family=0x21, src=("2001:db8::7", 256),
            dst=("2001:db8::1", 8883), tlvs=tlvs) + v5, 40))
    write(t, "v2_local", b"\x00" + chunks(pp2(command=0, family=0) +
                                          session, 63))
    write(t, "v2_unspec", b"\x02" + chunks(pp2(family=0, tlvs=tlvs) +
                                           v5, 63, 1))
    write(t, "v1_tcp4", b"\x00" + chunks(
        b"PROXY TCP4 203.0.113.7 127.0.0.1 4242 1883\r\n" + session, 63))
    write(t, "v1_tcp6_split", b"\x01" + chunks(
        b"PROXY TCP6 2001:db8::9 ::1 65535 8883\r\n" + v5, 7))
    write(t, "v1_unknown", b"\x00" + chunks(b"PROXY UNKNOWN\r\n" +
                                            session, 63))
    both = (chunks(pp2(src=("192.0.2.5", 1000)) + connect("pa", V5) +
                   subscribe([("x/#", 1)], 1, V5), 63, 0) +
            chunks(pp2(src=("192.0.2.6", 2000)) + connect("pb", V5) +
                   publish("x/y", b"hi", 1, 1, V5), 63, 1))
    write(t, "two_clients_echo", b"\x10" + both)
    # refused: no header, garbage, truncated and then closed or
    # half-closed, over the bound, bad family, v1 too long or malformed
    write(t, "no_header", b"\x00" + chunks(session, 63))
    write(t, "garbage", b"\x00" + chunks(b"GET / HTTP/1.1\r\n\r\n", 63))
    write(t, "truncated_hangup", b"\x00" + chunks(pp2()[:20], 63) +
          b"\x40")
    write(t, "truncated_halfclose", b"\x00" + chunks(pp2()[:9], 63) +
          b"\xc0")
    big = PP2_SIG + b"\x21\x11" + struct.pack("!H", 4081)
    write(t, "over_bound", b"\x00" + chunks(big + b"\x00" * 40, 63))
    write(t, "udp4", b"\x00" + chunks(pp2(family=0x12) + session, 63))
    write(t, "bad_tlv", b"\x00" + chunks(
        pp2(tlvs=b"\x01\x00\x09abc") + session, 63))
    write(t, "v1_too_long", b"\x00" + chunks(
        b"PROXY UNKNOWN " + b"x" * 100 + b"\r\n", 63))
    write(t, "v1_bad_port", b"\x00" + chunks(
        b"PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n" + session, 63))


# ---- policies ---------------------------------------------------------

POLICY_ARN = "arn:aws:iot:local:000000000000:"


def policy_doc(*statements, version="2012-10-17"):
    doc = {"Statement": list(statements)}
    if version:
        doc = {"Version": version, **doc}
    return json.dumps(doc, indent=1).encode()


def stmt(effect, actions, resources, condition=None):
    s = {"Effect": effect, "Action": actions, "Resource": resources}
    if condition:
        s["Condition"] = condition
    return s


def policy_input(flags, doc_a, doc_b=b"", variables=(), checks=()):
    """fuzz_policy document mode: flags, A, B, variable lines, checks."""
    return (bytes([flags]) + doc_a + b"\0" + doc_b + b"\0" +
            "\n".join(variables).encode() + b"\0" +
            "\n".join(f"{a}{POLICY_ARN}{r}" for a, r in checks).encode())


def policy():
    """fuzz_policy: documents, variables and checks; glob mode seeds."""
    t = "policy"
    a = POLICY_ARN
    cert = ["Subject.CommonName=dev1", "Subject.Organization=Example Corp",
            "Subject.Organization.1=AnyCompany", "SerialNumber=12345",
            "Issuer.CommonName=ca", "Subject.AlternativeName.DNSName=d.example"]
    variables = ["dev1", "dev1", "lamp", '{"Color": "red"}'] + cert
    checks = [(0, "client/dev1"), (0, "client/dev2"), (1, "topic/dev1/a"),
              (1, "topic/dev1/bar"), (2, "topicfilter/dev1/+"),
              (3, "topic/dev1/a"), (4, "topic/dev1/a"), (7, "topic/x"),
              (1, "topic/lamp/x"), (1, "topic/red/x"), (1, "topic/x/true"),
              (1, "topic/12345/x"), (1, "topic/d.example"),
              (1, "topic/AnyCompany/x")]
    basic = policy_doc(
        stmt("Allow", "iot:Connect", a + "client/${iot:ClientId}"),
        stmt("Allow", ["iot:Publish", "iot:Receive"],
             [a + "topic/${iot:ClientId}/*"]),
        stmt("Deny", "iot:Publish", a + "topic/${iot:ClientId}/bar"))
    wildcards = policy_doc(
        stmt("Allow", ["iot:Sub*", "iot:*Publish"],
             [a + "topicfilter/${iot:ClientId}/+", "arn:aws:iot:*:*:topic/?/*",
              a + "topic/${iot:ClientId}${*}${?}${$}"]),
        stmt("Deny", "iot:*", a + "topic/dev1/b?r"))
    things = policy_doc(
        stmt("Allow", "iot:Connect",
             a + "client/${iot:Connection.Thing.ThingName}",
             {"Bool": {"iot:Connection.Thing.IsAttached": "true"}}),
        stmt("Allow", "iot:Publish",
             [a + "topic/${iot:Connection.Thing.ThingTypeName}/*",
              a + "topic/${iot:Connection.Thing.Attributes[Color]}/*",
              a + "topic/x/${iot:Connection.Thing.IsAttached}"]))
    certs = policy_doc(
        stmt("Allow", "iot:Connect",
             a + "client/${iot:Certificate.Subject.CommonName}"),
        stmt("Allow", "iot:Publish",
             [a + "topic/${iot:Certificate.SerialNumber}/*",
              a + "topic/${iot:Certificate.Subject.AlternativeName.DNSName}",
              a + "topic/${iot:Certificate.Subject.Organization.1}/*"],
             {"ForAllValues:StringEquals": {
                 "iot:Certificate.Subject.Organization.List":
                     ["Example Corp", "AnyCompany"]}}))
    conditions = policy_doc(
        stmt("Allow", "iot:*", "*", {
            "StringLike": {"iot:ClientId": ["dev*", "x?"]},
            "StringNotEquals": {"iot:Connection.Thing.ThingName": "evil"},
            "StringEqualsIfExists": {
                "iot:Connection.Thing.ThingTypeName": "lamp"},
            "ForAnyValue:StringNotLike": {
                "iot:Connection.Thing.Attributes[Color]": "blue"},
            "Null": {"iot:Certificate.SerialNumber": "false"},
            "BoolIfExists": {"iot:Connection.Thing.IsAttached": True}}),
        stmt("Deny", "iot:Publish", a + "topic/*", {
            "StringNotLike": {"iot:ClientId": "${iot:Connection.Thing."
                                              "ThingName}"}}))
    write(t, "basic", policy_input(0x07, basic, b"", variables, checks))
    write(t, "two_policies", policy_input(0x07, basic, wildcards,
                                          variables, checks))
    write(t, "things", policy_input(0x07, things, conditions, variables,
                                    checks))
    write(t, "no_thing", policy_input(0x04, things, certs, ["dev1"] + [""] * 3
                                      + cert, checks))
    write(t, "certificates", policy_input(0x05, certs, b"", variables,
                                          checks))
    write(t, "no_variables", policy_input(0x08, basic, things, variables,
                                          checks))
    write(t, "old_version", policy_input(0x07, policy_doc(
        stmt("Allow", "iot:Publish", a + "topic/${iot:ClientId}"),
        version="2008-10-17"), b"", variables,
        [(1, "topic/${iot:ClientId}"), (1, "topic/dev1")]))
    write(t, "syntax_error", policy_input(0x00, b'{"Statement": [}', basic,
                                          variables, checks))
    write(t, "refused", policy_input(0x00, policy_doc(
        {"Effect": "Allow", "NotAction": "iot:Publish", "Resource": "*"}),
        policy_doc(stmt("Allow", "*", "*",
                        {"NumericEquals": {"iot:ClientId": "1"}})),
        variables, checks))
    write(t, "glob_star", b"\x80" + b"a/*/c*\0a/b/x/cd")
    write(t, "glob_question", b"\x80" + "?/\u00e9?*?".encode() + b"\0" +
          "\u00e9/\u00e9\u00e9xy".encode())
    write(t, "glob_backtrack", b"\x80" + b"*a*a*b\0aaaaaaaaab")
    write(t, "glob_literals", b"\x80" + b"+/#/\\${x}\0+/#/\\${x}")
# ---- admin policies (IAM) -----------------------------------------------

IAM_IOT = "arn:aws:iot:local:000000000000:"
IAM_IAM = "arn:aws:iam::000000000000:"


def iam_input(flags, doc_a, doc_b=b"", requests=()):
    """fuzz_iam_policy document mode: flags, A, B, request lines."""
    return (bytes([flags]) + doc_a + b"\0" + doc_b + b"\0" +
            "\n".join("\t".join(r) for r in requests).encode())


def iam_value(flags, value, source_ip="127.0.0.1", now="1796234400"):
    """fuzz_iam_policy value mode: a condition value and a request."""
    if not isinstance(value, bytes):
        value = value.encode()
    return (bytes([0x80 | flags]) + value + b"\0" + source_ip.encode() +
            b"\0" + now.encode())


def iam_policy():
    """fuzz_iam_policy: documents and requests; single condition values."""
    t = "iam_policy"
    admin = policy_doc(stmt("Allow", "*", "*"))
    split = policy_doc(
        stmt("Allow", ["iot:*", "iam:Get*", "iam:List*"],
             [IAM_IOT + "thing/*", IAM_IAM + "user/a?b", "*"]),
        stmt("Deny", "iot:Delete*", IAM_IOT + "thing/secret"))
    nots = policy_doc(
        {"Sid": "NotIam", "Effect": "Allow", "NotAction": "iam:*",
         "NotResource": [IAM_IOT + "cert/*"]},
        {"Effect": "Deny", "NotAction": ["iot:Describe*", "iot:List*"],
         "Resource": "*"}, version="")
    conditions = policy_doc(
        stmt("Allow", "*", "*", {
            "IpAddress": {"aws:SourceIp": ["127.0.0.0/8", "::1",
                                           "2001:db8::/32"]},
            "NotIpAddressIfExists": {"aws:SourceIp": "10.0.0.0/8"},
            "DateGreaterThan": {"aws:CurrentTime": "2026-01-01T00:00:00Z"},
            "DateLessThanEquals": {"aws:currenttime":
                                   "2027-01-01T01:00:00.5+01:00"},
            "DateGreaterThanEqualsIfExists": {"aws:CurrentTime": 0},
            "DateLessThan": {"aws:CurrentTime": ["2030-01-01",
                                                 "1900000000"]},
            "Bool": {"aws:SecureTransport": "true"}}),
        stmt("Deny", "iam:*", "*", {
            "BoolIfExists": {"aws:SecureTransport": False}}))
    requests = [
        ("iot:CreateThing", IAM_IOT + "thing/lamp", "127.0.0.1",
         "1796234400"),
        ("iot:DeleteThing", IAM_IOT + "thing/secret", "::1", "1796234401"),
        ("iam:GetUser", IAM_IAM + "user/axb", "10.0.0.1", "0"),
        ("iam:CreateUser", "*"),
        ("IOT:ListThings",),
    ]
    write(t, "admin", iam_input(0x01, admin, b"", requests))
    write(t, "allow_and_deny", iam_input(0x01, split, admin, requests))
    write(t, "not_action_resource", iam_input(0x00, nots, split, requests))
    write(t, "conditions", iam_input(0x01, conditions, b"", requests))
    write(t, "conditions_plain", iam_input(0x00, conditions, nots,
                                           requests))
    write(t, "syntax_error", iam_input(0x00, b'{"Statement": [}', admin))
    write(t, "refused", iam_input(0x00, policy_doc(
        {"Effect": "Allow", "Action": "*", "Resource": "*",
         "Principal": "*"}),
        policy_doc(stmt("Allow", "*", "*",
                        {"StringEquals": {"aws:SourceIp": "1"}}))))
    write(t, "value_cidr4", iam_value(0, "10.0.0.0/8", "10.255.255.255"))
    write(t, "value_cidr6", iam_value(0, "2001:db8::/127", "2001:db8::1"))
    write(t, "value_cidr_list", iam_value(
        0x40, '["192.0.2.128/31", "::1", "0.0.0.0/0"]', "::ffff:192.0.2.1"))
    write(t, "value_no_address", iam_value(0, "127.0.0.1", ""))
    write(t, "value_date", iam_value(1, "2026-12-02T18:00:00Z"))
    write(t, "value_date_offset", iam_value(
        1, "2026-12-02T20:00:00.25+02:00", now="1796234400"))
    write(t, "value_date_day", iam_value(1, "2028-02-29", now="1835395199"))
    write(t, "value_epoch", iam_value(0x41, "1796234400"))
    write(t, "value_bool", iam_value(0x46, "true"))
    write(t, "value_bool_string", iam_value(2, "False"))


# ---- device shadows -----------------------------------------------------

def shadow_input(requests, stored=None):
    """fuzz_shadow: flags, the stored document (if any), the requests."""
    sections = [r if isinstance(r, bytes) else json.dumps(r).encode()
                for r in requests]
    if stored is None:
        return b"\0" + b"\0".join(sections)
    return b"\1" + json.dumps(stored).encode() + b"\0" + b"\0".join(sections)


def shadow():
    """fuzz_shadow: update runs as devices and apps send them, a stored
    document to start from, deletes and gets, refusals."""
    t = "shadow"
    app = {"state": {"desired": {"color": "RED", "lights": {"r": 255, "g": 0},
                                 "seq": ["RED", "GREEN"]}},
           "clientToken": "app-1"}
    device = {"state": {"reported": {"color": "GREEN", "lights": {"r": 255,
                                                                  "g": 255},
                                     "temp": 21.5}}, "version": 1}
    sync = {"state": {"reported": {"color": "RED", "lights": {"g": 0},
                                   "seq": ["RED", "GREEN"]},
                      "desired": None}, "clientToken": "dev-7"}
    write(t, "desired_then_reported", shadow_input([app, device, sync]))
    write(t, "get_and_delete", shadow_input([
        app, b"GET", b'GET {"clientToken":"g1"}', b'DELETE {"clientToken":"d"}',
        b"GET", {"state": {"reported": {"a": 1}}, "version": 1}, b"DELETE"]))
    stored = {"state": {"desired": {"a": {"b": [1, {"c": True}]}, "n": 1.25},
                        "reported": {"a": {"b": [1]}, "x": "y"}},
              "metadata": {"desired": {"a": {"b": [{"timestamp": 5},
                                                   {"c": {"timestamp": 5}}]},
                                       "n": {"timestamp": 5}},
                           "reported": {"a": {"b": [{"timestamp": 6}]},
                                        "x": {"timestamp": 6}}},
              "version": 9, "timestamp": 6}
    write(t, "stored_merge", shadow_input([
        {"state": {"desired": {"a": {"b": None, "d": {}}, "n": 1}},
         "version": 9},
        {"state": {"reported": {"a": {"b": [1, {"c": True}], "d": {}}}}},
        {"state": None}, {"state": {}}], stored))
    write(t, "stored_marker", shadow_input([
        {"state": {"desired": {"on": False}}, "version": 3},
        {"state": {"desired": {"on": True}}, "version": 4}],
        {"deleted": True, "version": 3}))
    write(t, "refusals", shadow_input([
        b"{", b"[]", {"state": "on"}, {"state": {"delta": {}}},
        {"state": {"desired": 1}}, {"state": {}, "version": "1"},
        {"state": {}, "clientToken": "x" * 65},
        {"state": {"desired": {"a": [None]}}},
        {"state": {"desired": {"a": {"b": {"c": {"d": {"e": {"f": 1}}}}}}}},
        {"state": {"reported": {"big": "x" * 8200}}},
        b'{"state":{"reported":{"a":"\xff"}}}',
        {"state": {"desired": {"a": 1}}, "version": 7}]))
    write(t, "stored_broken", shadow_input([b"GET", {"state": {}}, b"DELETE"],
                                           {"state": {}, "version": 1}))


# ---- stratactl ----------------------------------------------------------

def ctl_input():
    """Answers of the admin API (selector 2: 200, 0: 404, 4: 404 with an
    x-amzn-ErrorType header), --attribute-payload values (1), list flag
    values (0x21) and credentials files (9: a profile name, NUL, the
    file)."""
    t = "ctl_input"
    keys = (b'{"certificateArn": "arn:aws:iot:local:000000000000:cert/ab", '
            b'"certificateId": "ab", "certificatePem": "-----BEGIN '
            b'CERTIFICATE-----\\nMII\\n-----END CERTIFICATE-----\\n", '
            b'"keyPair": {"PublicKey": "P", "PrivateKey": "K"}}')
    write(t, "answer_keys", bytes([2]) + keys)
    write(t, "answer_list", bytes([2]) + b'{"things": [{"thingName": "a", '
          b'"attributes": {"k": "v"}, "version": 1, "d": 1764686400.25}]}')
    write(t, "answer_empty", bytes([2]))
    write(t, "error_body", bytes([0]) + b'{"error": "ResourceNotFound'
          b'Exception", "message": "no thing", "field": "thingName"}')
    write(t, "error_header", bytes([4]) + b"<html>")
    write(t, "shorthand", bytes([1]) +
          b"attributes={a=1,b='x,y',c=\\}},merge=true")
    write(t, "json", bytes([1]) +
          b'{"attributes": {"room": "kitchen"}, "merge": false}')
    write(t, "list_commas", bytes([0x21]) + b"kitchen,,house:1,")
    write(t, "list_json", bytes([0x21]) + b'["kitchen", "a-b"]')
    write(t, "credentials", bytes([9]) + b"ops\0# keys\r\n[default]\n"
          b"strata_access_key_id = AKIADEFAULT\n"
          b"strata_secret_access_key = d+/s=cret\n\n[ops]\n"
          b"; the operators'\n aws_access_key_id: AKIAOPS\n"
          b"aws_secret_access_key=o/p+s\ns3 =\n  max_concurrency = 2\n")
    write(t, "credentials_bad", bytes([9]) + b"[default]\n"
          b"strata_access_key_id = A\nSTRATA_ACCESS_KEY_ID = B\n[x\n")


def jitp():
    """fuzz_jitp: templates as AWS IoT documents them, and subjects."""
    t = "jitp"
    policy = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "iot:Connect",
         "Resource": "arn:aws:iot:local:000000000000:client/"
                     "${iot:Connection.Thing.ThingName}"}]})
    full = {
        "Parameters": {"AWS::IoT::Certificate::CommonName":
                       {"Type": "String"},
                       "AWS::IoT::Certificate::Id": {"Type": "String"}},
        "Resources": {
            "thing": {"Type": "AWS::IoT::Thing", "Properties": {
                "ThingName": {"Ref": "AWS::IoT::Certificate::CommonName"},
                "ThingTypeName": "lamp",
                "AttributePayload": {
                    "org": {"Ref": "AWS::IoT::Certificate::Organization"},
                    "sn": {"Fn::Join": ["-", [
                        "sn", {"Ref": "AWS::IoT::Certificate::SerialNumber"}]]}}}},
            "certificate": {"Type": "AWS::IoT::Certificate", "Properties": {
                "CertificateId": {"Ref": "AWS::IoT::Certificate::Id"},
                "Status": "ACTIVE"}},
            "policy": {"Type": "AWS::IoT::Policy",
                       "Properties": {"PolicyDocument": policy}}}}
    named = {"Resources": {"policy": {"Type": "AWS::IoT::Policy",
                                      "Properties": {"PolicyName": "p"}}}}
    subject = b"\0dev-1\0Example Corp\0unit\0DE\0Berlin\0SN-42\0q"
    write(t, "full", json.dumps(full).encode() + subject)
    write(t, "named", json.dumps(named).encode() + b"\0d")
    write(t, "bad_type", b'{"Resources": {"x": {"Type": "AWS::IoT::Job", '
        b'"Properties": {}}}}\0d')
    write(t, "bad_ref", b'{"Resources": {"t": {"Type": "AWS::IoT::Thing", '
        b'"Properties": {"ThingName": {"Ref": "Nope"}}}}}')
    write(t, "odd_subject", json.dumps(full).encode() +
        "\0d\u00e9v\0\0\0ZZ".encode())


def provtemplate():
    """fuzz_provtemplate: fleet provisioning templates with every function
    and condition, and the parameters of a provision request."""
    t = "provtemplate"
    fleet = {
        "Parameters": {
            "SerialNumber": {"Type": "String"},
            "Location": {"Type": "String", "Default": "WA"},
            "Csv": {"Type": "String", "Default": "a,b"},
            "AWS::IoT::Certificate::Id": {"Type": "String"}},
        "Mappings": {"Table": {"WA": {"Url": "https://wa.example"}}},
        "Conditions": {
            "IsWA": {"Fn::Equals": [{"Ref": "Location"}, "WA"]},
            "NotWA": {"Fn::Not": [{"Condition": "IsWA"}]},
            "Both": {"Fn::And": [{"Condition": "IsWA"},
                                 {"Fn::Or": [{"Condition": "NotWA"},
                                             {"Condition": "IsWA"}]}]}},
        "Resources": {
            "thing": {"Type": "AWS::IoT::Thing", "OverrideSettings": {},
                      "Properties": {
                "ThingName": {"Fn::Sub": "dev-${SerialNumber}"},
                "ThingGroups": {"Fn::Split": [",", {"Ref": "Csv"}]},
                "AttributePayload": {
                    "first": {"Fn::Select": [0, {"Fn::Split": [
                        ",", {"Ref": "Csv"}]}]},
                    "wa": {"Fn::If": ["IsWA", "yes",
                                      {"Ref": "AWS::NoValue"}]}}}},
            "certificate": {"Type": "AWS::IoT::Certificate",
                            "Properties": {"CertificateId": {
                                "Ref": "AWS::IoT::Certificate::Id"},
                                "Status": "Active"}},
            "policy": {"Type": "AWS::IoT::Policy", "Condition": "Both",
                       "Properties": {"PolicyName": "fleet"}}},
        "DeviceConfiguration": {
            "Url": {"Fn::FindInMap": ["Table", {"Ref": "Location"},
                                      "Url"]},
            "Port": 8883}}
    write(t, "fleet", json.dumps(fleet).encode() +
          b'\0{"SerialNumber": "42", "Csv": "x,y"}')
    write(t, "missing", json.dumps(fleet).encode() + b"\0{}")
    write(t, "cycle", b'{"Conditions": {"A": {"Condition": "B"}, "B": '
          b'{"Condition": "A"}}, "Resources": {"t": {"Type": '
          b'"AWS::IoT::Thing", "Condition": "A", "Properties": '
          b'{"ThingName": "x"}}}}\0{}')
    write(t, "sub_vars", b'{"Resources": {"t": {"Type": "AWS::IoT::Thing", '
          b'"Properties": {"ThingName": {"Fn::Sub": ["${a}-${!b}", '
          b'{"a": {"Fn::Join": ["", ["p", "q"]]}}]}}}}}\0[]')


def cbor():
    """fuzz_cbor: the fleet provisioning API's requests and answers in
    CBOR, and RFC 8949's examples."""
    t = "cbor"
    write(t, "provision", bytes.fromhex(
        "a2"                                  # map of 2
        "7819") + b"certificateOwnershipToken" + bytes.fromhex("6474") +
          b"ok12" + bytes.fromhex("6a") + b"parameters" +
          bytes.fromhex("a1") + bytes.fromhex("6c") + b"SerialNumber" +
          bytes.fromhex("623432"))
    write(t, "create", bytes.fromhex("a0"))
    write(t, "numbers", bytes.fromhex(
        "8a001818190100" "1a00010000" "1b0000000100000000" "20" "3903e7"
        "f93e00" "fa47c35000" "fb3ff199999999999a"))
    write(t, "nested", bytes.fromhex("a26161016162820203"))
    write(t, "simple", bytes.fromhex("83f4f5f6"))


# ---- the custom authorizer's wire format -------------------------------

def broker_authwire():
    """fuzz_broker_authwire: authorizer answers (mode 0) and the fields of
    a request (mode 1: user name, password, client id, token key, SNI)."""
    t = "broker_authwire"
    doc = policy_doc(stmt("Allow", "iot:*", "*")).decode()
    write(t, "answer_allow", b"\0" + json.dumps({
        "isAuthenticated": True, "principalId": "dev1",
        "disconnectAfterInSeconds": 3600, "refreshAfterInSeconds": 300,
        "policyDocuments": [doc, doc]}).encode())
    write(t, "answer_deny", b"\0" + b'{"isAuthenticated": false}')
    write(t, "answer_bad_policy", b"\0" + json.dumps({
        "isAuthenticated": True, "principalId": "p",
        "policyDocuments": ['{"Statement": [}']}).encode())
    write(t, "answer_not_json", b"\0" + b"{isAuthenticated: true")
    write(t, "request_tls", b"\x0f" + b"dev?x-amz-customauthorizer-name=a"
          b"&token=t%2F1\0s3cret\0dev1\0token\0example.com")
    write(t, "request_tcp", b"\x03" + b"dev\0\0\0token\0")


def shadowd_topic():
    """fuzz_shadowd_topic: request topics shadowd parses, good and bad."""
    t = "shadowd_topic"
    for name, topic in [
            ("classic_update", "$aws/things/lamp-1/shadow/update"),
            ("classic_get", "$aws/things/lamp-1/shadow/get"),
            ("named_delete", "$aws/things/lamp-1/shadow/name/cfg/delete"),
            ("answer_topic", "$aws/things/lamp-1/shadow/update/accepted"),
            ("bad_names", "$aws/things/a$b/shadow/name/c d/get"),
            ("long_thing", "$aws/things/" + "x" * 200 + "/shadow/get"),
            ("not_shadow", "$aws/things/t/shadows/get"),
            ("empty_levels", "$aws/things//shadow/name//update")]:
        write(t, name, topic.encode())


def dataplane():
    """fuzz_dataplane: publish requests (a presence byte, then the present
    inputs NUL-separated), page tokens, stored retained values."""
    t = "dataplane"
    props = base64.b64encode(b'[{"site": "north"}, {"k": "v"}]')
    write(t, "publish_all", bytes([0xff]) + b"\0".join([
        b"1", b"true", b"text/plain", b"a/reply", b"60", props,
        base64.b64encode(b"\x01\x02"), b"UTF8_DATA"]))
    write(t, "publish_qos2", bytes([0x01]) + b"2")
    write(t, "publish_bad_props", bytes([0x20]) +
          base64.b64encode(b'{"not": "a list"}'))
    write(t, "publish_bad_base64", bytes([0x40]) + b"a=b=")
    write(t, "token", b"1-135-0-3")
    write(t, "token_forged", b"1-99999-0-0")
    write(t, "retained_value", bytes.fromhex("0a026869100220a8bcd3cfa334"))


# ---- rules SQL ----------------------------------------------------------

def sql_input(statement, template=b"", payload=b""):
    """fuzz_sql: statement NUL template NUL payload."""
    def b(x):
        if isinstance(x, bytes):
            return x
        return x.encode() if isinstance(x, str) else json.dumps(x).encode()
    return b(statement) + b"\0" + b(template) + b"\0" + b(payload)


def sql():
    """fuzz_sql: statements using each construct and function family, with
    templates and JSON, non-JSON and empty payloads."""
    t = "sql"
    doc = {"a": 1, "b": 2.5, "s": "Hello", "o": {"x": {"y": 7}, "z": [1, 2]},
           "arr": [10, 20, 30], "n": None, "t": "  pad  "}
    write(t, "select_where", sql_input(
        "SELECT a AS x, o.x.y, arr[1], o.*, * FROM 'dev/+/temp' "
        "WHERE a = 1 AND NOT (b < 2) OR s IN ['x']",
        "a/${topic(2)}/${a + 1}", doc))
    write(t, "operators", sql_input(
        "SELECT 1 + 2 * 3 - -a AS m, 7 / 2 % 3 AS d, '10' > 9 AS c, "
        "arr CONTAINS 20 AS k, b <> 2.5 AS ne, {'k': [a, n]} AS lit "
        "FROM '#'", "${o}|${n}|${missing}", doc))
    write(t, "case_cast", sql_input(
        "SELECT CASE a WHEN 1 THEN 'one' ELSE 'many' END AS c, "
        "CASE WHEN isUndefined(q) THEN cast(b AS Int) END AS w, "
        "cast('1e3' AS Decimal) AS d, cast(o AS String) AS s FROM 'a/#'",
        "${cast(a AS Boolean)}", doc))
    write(t, "strings", sql_input(
        "SELECT concat(s, '-', a) AS c, substring(s, 1, 3) AS u, "
        "upper(trim(t)) AS r, replace(s, 'l', 'L') AS p, indexof(s, 'o') "
        "AS i, length(s) AS n, startswith(s, 'He') AS w FROM 'x'",
        "${lower(s)}", doc))
    write(t, "regex", sql_input(
        "SELECT regexp_matches(s, '^H.l+o$') AS m, "
        "regexp_replace(s, '(l+)', '[$1]') AS r, "
        "regexp_substr(s, '[aeiou]') AS v FROM 'x' "
        "WHERE regexp_matches(s, s)", "${regexp_substr(s, 'l+')}", doc))
    write(t, "functions", sql_input(
        "SELECT topic(1), clientid(), principal(), timestamp(), traceid(), "
        "newuuid() AS u, abs(-b), ceil(b), floor(b), round(b), mod(7, 3), "
        "power(2, 10), sqrt(b), ln(b), log(100), md5(s), sha1(s), "
        "sha256(s), get(arr, 0) AS g, isNumber(a), isString(s), "
        "isNull(n), isObject(o), isArray(arr), isBoolean(true) FROM 'x'",
        "${timestamp()}", doc))
    write(t, "time", sql_input(
        "SELECT parse_time('yyyy-MM-dd''T''HH:mm:ss.SSSZ', timestamp()) "
        "AS p, parse_time('EEE, d MMM yy hh:mm a XXX', 0, '+05:30') AS q, "
        "time_to_epoch('2023-11-14 22:13:20', 'yyyy-MM-dd HH:mm:ss') AS e "
        "FROM 'x'", "${parse_time('HH:mm', timestamp(), 'UTC')}", doc))
    write(t, "binary", sql_input(
        "SELECT encode(*, 'base64') AS e, decode('SGk=', 'base64') AS d, "
        "get_thing_shadow(topic(2), 'arn:aws:iam::1:role/r').state AS sh "
        "FROM '+/+/+'", "${encode(*, 'base64')}", b"\x00\x01\xffraw"))
    write(t, "raw_star", sql_input("SELECT * FROM '#'", "plain $ text",
                                   b"not json"))
    write(t, "errors", sql_input(
        "SELECT a,\n  foo(b) FROM 'a/#/b' WHERE", "x${a b}${", doc))


def rule():
    """fuzz_rule: topic rule payloads with every action kind."""
    t = "rule"
    sql = "SELECT temperature, topic(2) AS device FROM 'factory/+/data' " \
        "WHERE temperature > 30"
    write(t, "every_kind", json.dumps({
        "sql": sql, "description": "d", "ruleDisabled": False,
        "awsIotSqlVersion": "2016-03-23", "actions": [
            {"republish": {"topic": "out/${topic(2)}", "qos": 1,
                           "headers": {"contentType": "application/json",
                                       "userProperties": [
                                           {"key": "k", "value": "${device}"}]}}},
            {"http": {"url": "https://h/${topic(2)}",
                      "headers": [{"key": "x", "value": "${clientid()}"}]}},
            {"redis": {"url": "redis://127.0.0.1:6379", "command": "XADD",
                       "key": "hot", "maxLength": 100}},
            {"kafka": {"topic": "t", "clientProperties": {
                "bootstrap.servers": "h:9092"}}},
            {"file": {"path": "a.jsonl"}}],
        "errorAction": {"republish": {"topic": "errors"}}}).encode())
    write(t, "bad_action", json.dumps({
        "sql": sql, "actions": [{"lambda": {"functionArn": "x"}}]}).encode())
    write(t, "bad_sql", b'{"sql": "SELECT FROM WHERE"}')


WS_OPENING = (b"GET /mqtt?token=t HTTP/1.1\r\nHost: x\r\n"
              b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
              b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
              b"Sec-WebSocket-Version: 13\r\n"
              b"Sec-WebSocket-Protocol: mqtt\r\n\r\n")


def ws_records(data, kind):
    """fuzz_broker_ws records of kind 0 (raw) or 1 (a masked binary
    frame each), at most 63 bytes a record."""
    out = bytearray()
    for i in range(0, len(data), 63):
        piece = data[i:i + 63]
        out.append((kind << 6) | len(piece))
        out += piece
    return bytes(out)


def ws_frame_record(b0, masked, data):
    """A kind 2 record: one frame of first byte b0."""
    return bytes([0x80 | len(data), b0, 1 if masked else 0]) + data


def broker_ws():
    """fuzz_broker_ws: flags byte, then records (see its file)."""
    t = "broker_ws"
    mq = (connect("ws1") + subscribe([("a/+/c", 1)]) +
          publish("a/b/c", b"hi", 1, 1))
    write(t, "opening_raw", b"\x00" + ws_records(WS_OPENING, 0) +
          ws_records(mq, 1))
    write(t, "frames", b"\x12" + ws_records(mq, 1) + b"\xc0")
    write(t, "fragments", b"\x12" + ws_frame_record(0x02, True, mq[:10]) +
          ws_frame_record(0x89, True, b"p") +
          ws_frame_record(0x00, True, mq[10:40]) +
          ws_frame_record(0x80, True, mq[40:]))
    write(t, "unmasked", b"\x02" + ws_records(connect("ws2"), 1) +
          ws_frame_record(0x82, False, PINGREQ))
    write(t, "text", b"\x02" + ws_frame_record(0x81, True, connect("ws3")))
    write(t, "close", b"\x02" + ws_records(connect("ws4"), 1) +
          ws_frame_record(0x88, True, b"\x03\xe8bye"))
    write(t, "bad_opening", b"\x00" + ws_records(
        WS_OPENING.replace(b"mqtt\r\n\r\n", b"chat\r\n\r\n"), 0))
    write(t, "wss", b"\x13" + ws_records(mq, 1) + b"\xff")


def fidx_query():
    """Fleet indexing queries (common/fidx_query.c): each element of the
    syntax once."""
    t = "fidx_query"
    for i, q in enumerate([
            "thingName:lamp*", "shadow.reported.battery<20",
            "a OR b AND NOT c", "thingName:(tv* AND -plasma)",
            "shadow.reported.b:[10 TO 20}", 'attributes.color:"dark red"',
            "*", "connectivity.connected:true AND thingGroupNames:g1",
            "shadow.name.cfg.reported.mode:eco", "thingName:a\\:b"]):
        write(t, "seed%d" % (i + 1), q.encode())


def throttle_limits():
    """fuzz_throttle_limits: SetThrottleLimits bodies and stored values."""
    t = "throttle_limits"
    bodies = [
        {"publishRate": 5},
        {"publishRate": 100, "inboundBytesPerSecond": 524288,
         "subscribeRate": 0, "disconnectAfterSeconds": 10},
        {"inboundBytesPerSecond": 1000000000, "publishRate": None},
        {"publishRate": "5"},
        {"publishRate": -1},
        {"subscribeRate": 1.5},
        {"publishrate": 5},
        {},
    ]
    for i, b in enumerate(bodies):
        write(t, "body%d" % (i + 1), json.dumps(b).encode())
    for name, v in [("value", b"86400"), ("zero", b"0"),
                    ("leading_zero", b"007"), ("big", b"99999999999")]:
        write(t, name, v)


def console_path():
    """Web console request paths, Cookie and Host headers
    (common/console_path.c): files it serves, paths it refuses, a cookie
    among others, hosts with a port."""
    t = "console_path"
    write(t, "index", b"/console/")
    write(t, "js", b"/console/js/app.js")
    write(t, "vendor", b"/console/vendor/mqtt.esm.js")
    write(t, "dotdot", b"/console/../etc/passwd")
    write(t, "escaped", b"/console/%2e%2e/x.js")
    write(t, "cookie", b"a=b; strata_console=" + b"0" * 64 + b"; c=d")
    write(t, "host", b"console.example:443")
    write(t, "host6", b"[::1]:10083")


def trace():
    """fuzz_trace: members of strata:traces, client ids, seconds."""
    t = "trace"
    for name, v in [
            ("member", b"0123456789abcdef dev-1"),
            ("member_slash", b"00ff00ff00ff00ff lamps/kitchen/1"),
            ("member_utf8", "0123456789abcdef capteur-\u00e9t\u00e9".encode()),
            ("member_upper", b"0123456789ABCDEF dev-1"),
            ("member_short", b"0123456789abcdef "),
            ("control", b"dev\x01"),
            ("seconds", b"60"), ("seconds_max", b"600"),
            ("seconds_over", b"601"), ("seconds_zero", b"0")]:
        write(t, name, v)


def main():
    broker_authwire()
    ctl_input()
    broker_input()
    broker_link()
    router_link()
    handoff()
    redis_broker()
    redis_router()
    proxy()
    broker_ws()
    policy()
    iam_policy()
    shadow()
    shadowd_topic()
    dataplane()
    jitp()
    provtemplate()
    cbor()
    sql()
    rule()
    fidx_query()
    throttle_limits()
    console_path()
    trace()


if __name__ == "__main__":
    main()
