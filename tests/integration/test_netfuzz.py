"""Black-box network fuzzing: hostile bytes at a running cluster.

The codec has libFuzzer targets; this test is the outside view.  It throws
generated and mutated MQTT 3.1.1 / MQTT 5 byte streams at the brokers'
MQTT ports (plain TCP and TLS) and random or mutated HTTP requests at the
brokers' and routers' metrics ports and the brokers' admin API (with and
without its token, its routes, JSON bodies it parses), over real sockets,
in batches of a few concurrent connections.  After each batch:

  (a) a clean paho client round-trips a QoS 1 message through the cluster
      (subscribe on one broker, publish on the other, on a fresh topic),
      and every metrics port still serves /metrics;
  (b) no daemon died;
  (c) no sanitizer report appeared in a log.

The broker closing a connection on bad input is normal; the exact answers
are pinned by other tests (test_malformed, test_framing, ...).  This test
only judges liveness and service to clean clients.

The cluster is private to this module (the fuzzer leaves retained junk on
random topics and sessions under its pool of client ids).

Environment:
  STRATA_NETFUZZ_SECONDS  fuzzing time budget, default 10
  STRATA_NETFUZZ_SEED     seed (default random); batch k is generated from
                          (seed, k) alone, so a seed replays exactly
  STRATA_NETFUZZ_OUT      directory of failing batches (default $TMPDIR)

On failure the message gives the seed and the path of a JSON file with the
failing batch (each connection's target, TLS mode, byte segments in hex,
delays and ending, and what happened) plus the batches before it.  Replay
it against a running cluster:

  /usr/bin/python3 tests/integration/test_netfuzz.py replay FILE \\
      --env DIR/endpoints.env            # targets as in the fuzz run
  /usr/bin/python3 tests/integration/test_netfuzz.py replay FILE \\
      --host 127.0.0.1 --port 1883       # every MQTT connection to one port

Connections are replayed one at a time; after each, its target is probed
and the first connection after which a target stops answering is printed.
"""

import argparse
import concurrent.futures
import json
import os
import random
import shutil
import socket
import ssl
import struct
import sys
import tempfile
import time
import urllib.request
import uuid

import pytest

import conftest
import mqttc
import rawmqtt
from rawmqtt import V311, V5, packet, varint

SECONDS = float(os.environ.get("STRATA_NETFUZZ_SECONDS") or 10)
BATCH_SIZE = (8, 16)        # connections per batch (random in range)
WORKERS = 4                 # connections in flight at once
MAX_BATCHES = 100000        # a bound besides the time budget
SOCK_TIMEOUT = 3.0          # every connect, TLS handshake, send, recv
CONN_BUDGET = 4.0           # one connection, all included
HALF_CLOSE_WAIT = 1.0       # how long a half-closed connection waits for EOF
CHECK_TIMEOUT = 10.0        # bound of the paho round trip after a batch
KEEP_EARLIER = 10           # earlier batches written with a failing one

CLIENT_IDS = ["nf-%d" % i for i in range(6)]
TOPICS = ["nf/a", "nf/b/c", "nf/x/y/z", "nf", "nf/", "/nf", "nf//a",
          "nf/\u00e9\u00e8", "$SYS/nf", "nf/a/b/c/d/e/f", "a",
          # shadowd's request topics: payloads reach its document engine
          "$aws/things/nf/shadow/update", "$aws/things/nf/shadow/get",
          "$aws/things/nf/shadow/name/n%/delete",
          # rulesd: Basic Ingest of the fixture's rule, and its FROM
          "$aws/rules/nf_rule", "$aws/rules/nf_rule/nf/a", "nf/r/x"]
BAD_TOPICS = ["", "nf/+", "nf/#", "#", "+", "nf/a\x00b",
              b"nf/\xed\xa0\x80", b"nf/\xc0\x80", b"\xff",
              "nf/" + "/".join("l%d" % i for i in range(12)),
              "t" * 300, "$share/g/nf/a"]
FILTERS = ["nf/a", "nf/+", "nf/#", "#", "+", "+/+", "nf/+/c", "$SYS/#",
           "nf/x/y/z", "$share/g/nf/a", "$share/g/#", "$aws/rules/#",
           "$share/g/$aws/rules/nf_rule"]
BAD_FILTERS = ["", "nf/#/x", "nf/a+", "nf/+x", "a#", b"nf/\xff",
               "nf/a\x00", "$share/g", "$share//x", "$share/g+/x",
               "/".join("l%d" % i for i in range(12))]
INTERESTING = [0x00, 0x01, 0x02, 0x7F, 0x80, 0xFF, 0xC0, 0x10, 0x20,
               0x30, 0x82, 0xE0, 0xF0]

# MQTT 5 properties each packet may carry (section 2.2.2.2).
P_CONNECT = [0x11, 0x21, 0x27, 0x22, 0x19, 0x17, 0x26]
P_CONNECT_AUTH = [0x15, 0x16]
P_WILL = [0x18, 0x01, 0x02, 0x03, 0x08, 0x09, 0x26]
P_PUBLISH = [0x01, 0x02, 0x23, 0x08, 0x09, 0x26, 0x0B, 0x03]
P_ACK = [0x1F, 0x26]
P_SUBSCRIBE = [0x0B, 0x26]
P_UNSUBSCRIBE = [0x26]
P_DISCONNECT = [0x11, 0x1F, 0x26, 0x1C]
P_AUTH = [0x15, 0x16, 0x1F, 0x26]
P_CONNACK = [0x11, 0x21, 0x24, 0x25, 0x27, 0x12, 0x22, 0x1F, 0x26, 0x28,
             0x29, 0x2A, 0x13, 0x1A, 0x1C, 0x15, 0x16]


# -- values ---------------------------------------------------------------

def rand_bytes(rng, lo=0, hi=16):
    return bytes(rng.randrange(256) for _ in range(rng.randint(lo, hi)))


def rand_text(rng, bad=0.1):
    """A short string; with probability `bad` ill-formed UTF-8 or a NUL."""
    if rng.random() < bad:
        return rng.choice([b"\xed\xa0\x80", b"\xc0\x80", b"\x00", b"\xff",
                           b"ok\xfe", rand_bytes(rng, 1, 8)])
    return rng.choice(["", "x", "nf", "hello world", "\u00e9t\u00e9",
                       "k" * rng.randint(1, 40), "\U0001F600"])


def rand_payload(rng):
    r = rng.random()
    if r < 0.6:
        return rand_bytes(rng, 0, 32)
    if r < 0.95:
        return rand_bytes(rng, 33, 512)
    return bytes([rng.randrange(256)]) * rng.randint(1000, 8000)


def rand_id(rng):
    return rng.choice([1, 1, 2, 7, 0xFFFF, 0, rng.randrange(1, 65536)])


def prop_value(rng, pid):
    kind = rawmqtt.PROP_TYPES[pid]
    if pid == 0x23:                                  # topic alias
        return rng.choice([1, 2, 3, 10, 11, 0, 65535])
    if pid == 0x0B:                                  # subscription id
        return rng.choice([1, 2, 127, 128, 268435455, 0,
                           rng.randrange(1, 268435456)])
    if kind == "byte":
        return rng.choice([0, 1, 2, rng.randrange(256)])
    if kind == "u16":
        return rng.choice([0, 1, 10, 100, 65535, rng.randrange(65536)])
    if kind == "u32":
        return rng.choice([0, 1, 60, 300, 0xFFFFFFFF,
                           rng.randrange(1 << 32)])
    if kind == "varint":
        return rng.choice([0, 1, 127, 128, 268435455])
    if kind == "bin":
        return rand_bytes(rng, 0, 24)
    if kind == "pair":
        return (rand_text(rng), rand_text(rng))
    return rand_text(rng)


def rand_props(rng, allowed, most=4):
    """Properties mostly from `allowed`, sometimes any id (wrong for the
    packet), sometimes repeated."""
    items = []
    for _ in range(rng.choice([0, 0, 1, 1, 2, most])):
        if rng.random() < 0.85:
            pid = rng.choice(allowed)
        else:
            pid = rng.choice(sorted(rawmqtt.PROP_TYPES))
        items.append((pid, prop_value(rng, pid)))
    return items


# -- packet generators: (bytes, offset of the MQTT 5 property length) -----

def header_len(pkt):
    """Length of the fixed header of a well-formed packet."""
    i = 1
    while pkt[i] & 0x80:
        i += 1
    return i + 1


def _at(pkt, prefix, version):
    return header_len(pkt) + prefix if version == V5 else None


def valid_connect(rng, version):
    """A CONNECT the broker should accept: a client id from the small
    pool (so sessions are taken over), random clean flag, keepalive, will,
    user name and password, and (v5) valid properties."""
    cid = rng.choice(CLIENT_IDS)
    clean = rng.random() < 0.6
    if version == V5 and rng.random() < 0.1:
        cid, clean = "", True               # assigned client identifier
    will = None
    if rng.random() < 0.3:
        wprops = []
        if version == V5:
            wprops = [(0x18, rng.choice([0, 1])), (0x26, ("k", "v"))]
            wprops = rng.sample(wprops, rng.randint(0, 2))
        will = {"topic": rng.choice(TOPICS[:5]), "payload": b"will",
                "qos": rng.randrange(3), "retain": rng.random() < 0.3,
                "properties": wprops}
    props = []
    if version == V5:
        choices = [(0x11, rng.choice([0, 5, 300, 0xFFFFFFFF])),
                   (0x21, rng.choice([1, 5, 65535])),
                   (0x27, rng.choice([512, 4096, 1 << 20])),
                   (0x22, rng.choice([0, 2, 10])),
                   (0x17, rng.choice([0, 1])), (0x19, rng.choice([0, 1])),
                   (0x26, ("nf", "fuzz"))]
        props = rng.sample(choices, rng.randint(0, 4))
    user = rng.choice([None, None, "nf-user"])
    password = rng.choice([None, b"secret"]) if user else None
    pkt = rawmqtt.connect(cid, version, rng.choice([0, 1, 2, 10, 60, 65535]),
                          clean, will, props, username=user,
                          password=password)
    return pkt, _at(pkt, 10, version), "CONNECT v%d id=%s clean=%d" % (
        version, cid or "-", clean)


def any_connect(rng, version):
    """A CONNECT with random, often invalid, fields."""
    name = rng.choice(["MQTT", "MQTT", "MQIsdp", "mqtt", "", "MQTT\x00",
                       b"\xff\xfe"])
    level = rng.choice([version, version, 3, 6, 0, 255])
    cid = rng.choice(CLIENT_IDS + ["", "c" * 129, "c" * 128, b"\xff\xfe",
                                   "a\x00b", rand_text(rng, 0.5)])
    will = None
    if rng.random() < 0.5:
        will = {"topic": rng.choice(TOPICS + BAD_TOPICS),
                "payload": rand_payload(rng), "qos": rng.randrange(4),
                "retain": rng.random() < 0.5,
                "properties": rand_props(rng, P_WILL)}
    allowed = P_CONNECT + (P_CONNECT_AUTH if rng.random() < 0.2 else [])
    prop_version = V5 if level >= 5 else version
    pkt = rawmqtt.connect(
        cid, level, rng.choice([0, 1, 65535, rng.randrange(65536)]),
        rng.random() < 0.5, will,
        rand_props(rng, allowed) if prop_version == V5 else (),
        proto_name=name, username=rng.choice([None, "u", b"\xff", ""]),
        password=rng.choice([None, b"p", b""]),
        reserved=rng.random() < 0.2)
    if isinstance(name, str):
        name = name.encode()
    prefix = 2 + len(name) + 4
    return pkt, (header_len(pkt) + prefix if level >= 5 else None), \
        "CONNECT* level=%d" % level


def gen_publish(rng, version):
    topic = rng.choice(TOPICS) if rng.random() < 0.85 else \
        rng.choice(BAD_TOPICS)
    qos = rng.choice([0, 1, 1, 2])
    props = []
    if version == V5:
        props = rand_props(rng, P_PUBLISH)
        if rng.random() < 0.3:                  # topic alias use
            props.append((0x23, prop_value(rng, 0x23)))
            if rng.random() < 0.5:
                topic = ""
        if rng.random() < 0.1:                  # client may not send one
            props.append((0x0B, prop_value(rng, 0x0B)))
    pkt = rawmqtt.publish(topic, rand_payload(rng), qos,
                          rng.random() < 0.2, rand_id(rng), version,
                          dup=rng.random() < 0.1, properties=props)
    if isinstance(topic, str):
        topic = topic.encode()
    return pkt, _at(pkt, 2 + len(topic) + (2 if qos else 0), version), \
        "PUBLISH q%d" % qos


def gen_ack(rng, version):
    ptype = rng.choice([rawmqtt.PUBACK, rawmqtt.PUBREC, rawmqtt.PUBREL,
                        rawmqtt.PUBCOMP])
    reason = props = None
    if version == V5 and rng.random() < 0.5:
        reason = rng.choice([0, 0x10, 0x80, 0x92, rng.randrange(256)])
        props = rand_props(rng, P_ACK)
    pkt = rawmqtt.puback(rand_id(rng), ptype, version, reason, props or ())
    has_props = version == V5 and bool(props)
    return pkt, (header_len(pkt) + 3 if has_props else None), \
        rawmqtt_name(ptype)


def gen_subscribe(rng, version):
    filters = []
    for _ in range(rng.choice([1, 1, 2, 3, 5])):
        flt = rng.choice(FILTERS) if rng.random() < 0.85 else \
            rng.choice(BAD_FILTERS)
        opts = rng.randrange(3)
        if version == V5:
            opts |= rng.choice([0, 0x04, 0x08, 0x10, 0x20, 0x0C])
        if rng.random() < 0.1:
            opts = rng.randrange(256)           # reserved bits, QoS 3
        filters.append((flt, opts))
    props = rand_props(rng, P_SUBSCRIBE) if version == V5 else ()
    pkt = rawmqtt.subscribe(filters, rand_id(rng), version,
                            properties=props)
    return pkt, _at(pkt, 2, version), "SUBSCRIBE x%d" % len(filters)


def gen_unsubscribe(rng, version):
    filters = [rng.choice(FILTERS + BAD_FILTERS[:3])
               for _ in range(rng.choice([1, 1, 2, 4]))]
    props = rand_props(rng, P_UNSUBSCRIBE) if version == V5 else ()
    pkt = rawmqtt.unsubscribe(filters, rand_id(rng), version,
                              properties=props)
    return pkt, _at(pkt, 2, version), "UNSUBSCRIBE x%d" % len(filters)


def gen_disconnect(rng, version):
    if version == V5 and rng.random() < 0.6:
        reason = rng.choice([0, 0x04, 0x80, 0x81, rng.randrange(256)])
        props = rand_props(rng, P_DISCONNECT) or [(0x1F, "bye")]
        pkt = rawmqtt.disconnect(V5, reason, props)
        return pkt, header_len(pkt) + 1, "DISCONNECT rc=%#x" % reason
    return rawmqtt.disconnect(version), None, "DISCONNECT"


def gen_auth(rng, version):
    reason = rng.choice([0, 0x18, 0x19, rng.randrange(256)])
    props = rand_props(rng, P_AUTH) or [(0x15, "SCRAM-SHA-1")]
    pkt = rawmqtt.auth(reason, props)
    return pkt, header_len(pkt) + 1, "AUTH rc=%#x" % reason


def gen_wrong_way(rng, version):
    """Server-to-client packets sent by the client."""
    which = rng.choice(["connack", "suback", "unsuback", "pingresp"])
    if which == "connack":
        pkt = rawmqtt.connack(rng.choice([0, 0x80, rng.randrange(256)]),
                              rng.random() < 0.5, version,
                              rand_props(rng, P_CONNACK))
        return pkt, _at(pkt, 2, version), "CONNACK (wrong way)"
    if which == "suback":
        pkt = rawmqtt.suback(rand_id(rng), [rng.choice([0, 1, 2, 0x80])
                                            for _ in range(2)], version,
                             rand_props(rng, P_ACK))
        return pkt, _at(pkt, 2, version), "SUBACK (wrong way)"
    if which == "unsuback":
        pkt = rawmqtt.unsuback(rand_id(rng), [0, 0x11], version,
                               rand_props(rng, P_ACK))
        return pkt, _at(pkt, 2, version), "UNSUBACK (wrong way)"
    return rawmqtt.pingresp(), None, "PINGRESP (wrong way)"


def gen_reserved(rng, version):
    """Reserved type 0, or 15 (AUTH in MQTT 5, reserved in 3.1.1), with a
    random flag nibble and a short random body."""
    ptype = rng.choice([0, 0, 15])
    body = rand_bytes(rng, 0, 8) if rng.random() < 0.6 else b""
    return packet(ptype, rng.randrange(16), body), None, \
        "reserved type %d" % ptype


def gen_pingreq(rng, version):
    return rawmqtt.pingreq(), None, "PINGREQ"


def gen_connect_again(rng, version):
    return valid_connect(rng, version)


GENERATORS = [(gen_publish, 8), (gen_ack, 4), (gen_subscribe, 4),
              (gen_unsubscribe, 2), (gen_pingreq, 2), (gen_disconnect, 1),
              (gen_auth, 1), (gen_wrong_way, 1), (gen_reserved, 2),
              (gen_connect_again, 1)]


def random_packet(rng, version):
    gen = rng.choices([g for g, _ in GENERATORS],
                      [w for _, w in GENERATORS])[0]
    if gen is gen_auth and version == V311 and rng.random() < 0.5:
        gen = gen_reserved
    pkt, at, note = gen(rng, version)
    if rng.random() < 0.1:                      # random flag nibble
        pkt = bytes([(pkt[0] & 0xF0) | rng.randrange(16)]) + pkt[1:]
        note += " flags=%x" % (pkt[0] & 0x0F)
    return pkt, at, note


def valid_packet(rng, version):
    """A packet a connected client may send and the broker should accept:
    PUBLISH (valid topic and properties, sometimes retained), SUBSCRIBE,
    UNSUBSCRIBE, PINGREQ."""
    kind = rng.choices(["publish", "subscribe", "unsubscribe", "ping"],
                       [6, 3, 1, 1])[0]
    if kind == "publish":
        qos = rng.randrange(3)
        topic = rng.choice(TOPICS)
        props = []
        if version == V5:
            choices = [(0x02, rng.choice([1, 60])), (0x03, "text/plain"),
                       (0x08, "nf/reply"), (0x09, b"corr"),
                       (0x26, ("k", "v")), (0x01, 0)]
            props = rng.sample(choices, rng.randint(0, 3))
            if rng.random() < 0.3:
                props.append((0x23, rng.randint(1, 3)))
                if rng.random() < 0.4:
                    topic = ""          # use an alias (set before, or not)
        pkt = rawmqtt.publish(topic, rand_payload(rng), qos,
                              rng.random() < 0.15, rng.randint(1, 20),
                              version, properties=props)
        return pkt, _at(pkt, 2 + len(topic.encode()) + (2 if qos else 0),
                        version), "PUBLISH q%d (valid)" % qos
    if kind == "subscribe":
        filters = [(rng.choice(FILTERS), rng.randrange(3) |
                    (rng.choice([0, 0x04, 0x08, 0x10, 0x20])
                     if version == V5 else 0))
                   for _ in range(rng.randint(1, 3))]
        props = [(0x0B, rng.randint(1, 1000))] \
            if version == V5 and rng.random() < 0.5 else []
        pkt = rawmqtt.subscribe(filters, rng.randint(1, 20), version,
                                properties=props)
        return pkt, _at(pkt, 2, version), "SUBSCRIBE x%d (valid)" % len(
            filters)
    if kind == "unsubscribe":
        pkt = rawmqtt.unsubscribe([rng.choice(FILTERS)], rng.randint(1, 20),
                                  version)
        return pkt, _at(pkt, 2, version), "UNSUBSCRIBE (valid)"
    return rawmqtt.pingreq(), None, "PINGREQ"


def rawmqtt_name(ptype):
    return {rawmqtt.PUBACK: "PUBACK", rawmqtt.PUBREC: "PUBREC",
            rawmqtt.PUBREL: "PUBREL", rawmqtt.PUBCOMP: "PUBCOMP"}[ptype]


def garbage(rng):
    """Bytes that are not a sensible first packet."""
    kind = rng.choice(["zeros", "random", "type-nibble", "http", "tls",
                       "ff", "empty-connect"])
    if kind == "zeros":
        return b"\x00" * rng.choice([1, 2, 2, 3, 16]), "zeros"
    if kind == "random":
        return rand_bytes(rng, 1, 64), "random bytes"
    if kind == "type-nibble":
        return bytes([rng.randrange(256)]) + \
            varint(rng.randrange(16)) + rand_bytes(rng, 0, 15), \
            "random fixed header"
    if kind == "http":
        return b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP request"
    if kind == "tls":
        return b"\x16\x03\x01\x00\x50\x01\x00\x00\x4c\x03\x03" + \
            rand_bytes(rng, 0, 40), "TLS ClientHello prefix"
    if kind == "ff":
        return b"\xff" * rng.randint(1, 8), "0xff bytes"
    return b"\x10\x00", "CONNECT with no body"


# -- mutators ---------------------------------------------------------------

def _pos(rng, data, end_ok=False):
    return rng.randrange(len(data) + (1 if end_ok else 0)) if data else 0


def m_bitflip(rng, data):
    data = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        if data:
            data[_pos(rng, data)] ^= 1 << rng.randrange(8)
    return bytes(data)


def m_insert(rng, data):
    pos = _pos(rng, data, True)
    if rng.random() < 0.5:
        ins = rand_bytes(rng, 1, 8)
    else:
        ins = bytes([rng.choice(INTERESTING)]) * rng.randint(1, 4)
    return data[:pos] + ins + data[pos:]


def m_delete(rng, data):
    pos = _pos(rng, data)
    return data[:pos] + data[pos + rng.randint(1, 8):]


def m_replace(rng, data):
    data = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        if data:
            data[_pos(rng, data)] = rng.choice(INTERESTING) \
                if rng.random() < 0.6 else rng.randrange(256)
    return bytes(data)


def m_truncate(rng, data):
    return data[:rng.randrange(1, len(data))] if len(data) > 1 else data


def m_duplicate(rng, data):
    if rng.random() < 0.5 or len(data) < 2:
        return data * rng.randint(2, 3)
    a = _pos(rng, data)
    b = rng.randint(a + 1, len(data))
    return data[:b] + data[a:b] + data[b:]


BYTE_MUTATORS = [m_bitflip, m_insert, m_delete, m_replace, m_truncate,
                 m_duplicate]


def bad_varint(rng, value):
    """Another encoding for a Variable Byte Integer `value`: wrong value,
    5 bytes, the maximum, non-minimal, or unterminated."""
    kind = rng.choice(["short", "long", "zero", "5-byte", "max",
                       "non-minimal", "unterminated", "huge"])
    if kind == "short":
        return varint(max(0, value - rng.randint(1, 4))), kind
    if kind == "long":
        return varint(value + rng.randint(1, 64)), kind
    if kind == "zero":
        return b"\x00", kind
    if kind == "5-byte":
        return b"\xff\xff\xff\xff\x7f", kind
    if kind == "max":
        return b"\xff\xff\xff\x7f", kind               # 268435455
    if kind == "non-minimal":
        enc = bytearray(varint(value))
        if len(enc) < 4:
            enc[-1] |= 0x80
            enc.append(0)
        return bytes(enc), kind
    if kind == "unterminated":
        return b"\x80" * rng.randint(1, 4), kind
    return varint(rng.randrange(value + 1, 268435456)), kind


def m_remaining_length(rng, data, at=None):
    hl = header_len(data)
    body = data[hl:]
    enc, kind = bad_varint(rng, len(body))
    return data[:1] + enc + body, "remaining-length " + kind


def m_property_length(rng, data, at):
    """Corrupt the MQTT 5 property length at offset `at`; usually keep
    the fixed header consistent so the packet frames and the property
    parser meets the bad length."""
    hl = header_len(data)
    i = at
    while i < len(data) and data[i] & 0x80 and i - at < 4:
        i += 1
    value = 0
    for k, b in enumerate(data[at:i + 1]):
        value |= (b & 0x7F) << (7 * k)
    enc, kind = bad_varint(rng, value)
    body = data[hl:at] + enc + data[i + 1:]
    if rng.random() < 0.7:
        return packet(data[0] >> 4, data[0] & 0x0F, body), \
            "property-length " + kind
    return data[:hl] + body, "property-length (stale header) " + kind


def m_body(rng, data, at=None):
    """A byte mutation inside the body, the remaining length fixed up so
    the broker decodes the damaged body rather than misframing it."""
    hl = header_len(data)
    mut = rng.choice([m_bitflip, m_insert, m_delete, m_replace, m_truncate])
    body = mut(rng, data[hl:]) if len(data) > hl else m_insert(rng, b"")
    return packet(data[0] >> 4, data[0] & 0x0F, body), "body " + \
        mut.__name__[2:]


def m_type(rng, data, at=None):
    t = rng.randrange(16)
    return bytes([(t << 4) | (data[0] & 0x0F)]) + data[1:], "type=%d" % t


def mutate_packet(rng, data, at):
    """One or two mutations of a whole packet; returns (bytes, note)."""
    notes = []
    for _ in range(rng.choice([1, 1, 1, 2])):
        choices = ["bytes", "bytes", "rl", "body", "body", "type"]
        if at is not None and at < len(data):
            choices += ["props", "props"]
        kind = rng.choice(choices)
        try:
            if kind == "rl":
                data, note = m_remaining_length(rng, data)
            elif kind == "props":
                data, note = m_property_length(rng, data, at)
            elif kind == "body":
                data, note = m_body(rng, data)
            elif kind == "type":
                data, note = m_type(rng, data)
            else:
                mut = rng.choice(BYTE_MUTATORS)
                data, note = mut(rng, data), mut.__name__[2:]
        except IndexError:                      # header already damaged
            mut = rng.choice(BYTE_MUTATORS)
            data, note = mut(rng, data), mut.__name__[2:]
        notes.append(note)
        at = None                               # offsets are stale now
        if not data:
            data = b"\x00"
    return data, "+".join(notes)


# -- sessions -------------------------------------------------------------

MUTATE_P = 0.3


def mqtt_session(rng):
    """The bytes of one MQTT connection and notes on what they are:
    garbage first; a bad CONNECT; a valid CONNECT (3.1.1 or 5, client id
    from the pool) followed by random packets of every type, some
    mutated; or ("deep") a valid CONNECT and valid traffic, then usually
    one mutated packet."""
    version = rng.choice([V311, V5])
    other = V5 if version == V311 else V311
    mode = rng.choices(["garbage-first", "bad-connect", "connected",
                        "deep"], [2, 2, 5, 3])[0]
    parts, notes = [], []
    if mode == "garbage-first":
        data, note = garbage(rng)
        parts.append(data)
        notes.append(note)
        if rng.random() < 0.5:
            data, _, note = valid_connect(rng, version)
            parts.append(data)
            notes.append(note)
    elif mode == "bad-connect":
        data, at, note = any_connect(rng, version)
        if rng.random() < 0.7:
            data, mnote = mutate_packet(rng, data, at)
            note += " [%s]" % mnote
        parts.append(data)
        notes.append(note)
    else:
        data, _, note = valid_connect(rng, version)
        parts.append(data)
        notes.append(note)
    if mode == "deep":
        # valid traffic first, so the broker gets far into the session,
        # then (usually) one bad packet
        for _ in range(rng.randint(2, 12)):
            data, _, note = valid_packet(rng, version)
            parts.append(data)
            notes.append(note)
        if rng.random() < 0.7:
            data, at, note = random_packet(rng, version)
            data, mnote = mutate_packet(rng, data, at)
            parts.append(data)
            notes.append(note + " [%s]" % mnote)
        elif rng.random() < 0.5:
            parts.append(rawmqtt.disconnect(version))
            notes.append("DISCONNECT")
        return b"".join(parts), notes
    for _ in range(rng.choice([0, 1, 2, 3, 4, 6, 10])):
        data, at, note = random_packet(
            rng, version if rng.random() < 0.9 else other)
        if rng.random() < MUTATE_P:
            data, mnote = mutate_packet(rng, data, at)
            note += " [%s]" % mnote
        parts.append(data)
        notes.append(note)
    data = b"".join(parts)
    if rng.random() < 0.08:
        mut = rng.choice(BYTE_MUTATORS)
        data = mut(rng, data) or b"\x00"
        notes.append("whole stream: " + mut.__name__[2:])
    return data, notes


HTTP_METHODS = ["GET"] * 6 + ["HEAD", "POST", "PUT", "DELETE", "OPTIONS",
                              "PATCH", "TRACE", "CONNECT", "get", "FOO",
                              "", "G\x00T"]
HTTP_PATHS = ["/metrics", "/metrics", "/healthz", "/healthz", "/",
              "/metrics?x=1&y", "/metrics/", "//metrics", "/%00",
              "/%zz", "/metrics#f", "/../../etc/passwd", "*",
              "http://127.0.0.1/metrics", "/" + "a" * 3000,
              "/healthz?" + "q=" * 500, "metrics", "/\xff\xfe",
              # the admin API's routes (its ports are HTTP targets too)
              "/things", "/things/fz-1", "/things/fz-1/principals",
              "/things/%2e%2e", "/policies", "/policies/fz",
              "/keys-and-certificate?setAsActive=true",
              "/certificate/register?setAsActive=true", "/cacertificate",
              "/certificates/" + "a" * 64 + "?newStatus=REVOKED",
              "/target-policies/fz", "/principals/things",
              "/attached-policies/arn%3Aaws%3Aiot%3Alocal%3A000000000000"
              "%3Acert%2F" + "0" * 64,
              # thing types and thing groups
              "/thing-types", "/thing-types/fz", "/thing-types/fz/deprecate",
              "/thing-types?maxResults=0&nextToken=", "/thing-groups",
              "/thing-groups/fz", "/thing-groups/fz/things?recursive=true",
              "/thing-groups?parentGroup=fz&recursive=true&maxResults=1",
              "/thing-groups/addThingToThingGroup",
              "/thing-groups/updateThingGroupsForThing",
              "/things/fz-1/thing-groups", "/policy-targets/fz",
              "/effective-policies?thingName=fz-1",
              # admin identities
              "/admin-users", "/admin-users/fz", "/admin-users/fz/access-keys",
              "/admin-users/fz/access-keys/AKIAAAAAAAAAAAAAAAAA",
              "/admin-users/fz/policies/fz", "/admin-policies/fz",
              # fleet indexing and dynamic thing groups
              "/indexing/config", "/indices", "/indices/AWS_Things",
              "/indices/search", "/indices/statistics",
              "/indices/cardinality", "/indices/percentiles",
              "/dynamic-thing-groups/fz",
              # the control plane's audit log
              "/strata/audit-events?nextToken=(1-0&maxResults=250",
              "/strata/audit-events?startTime=9999999999999&endTime=-1",
              # message metering
              "/strata/usage?startTime=0&endTime=99999999999",
              "/strata/usage?startTime=2026-13-45T99:00:00Z&endTime=1&clientId=",
              "/strata/usage?startTime=1&endTime=7200&thingName=%00&clientId=x",
              # shadowd's HTTP API (its ports are HTTP targets too)
              "/things/fz/shadow", "/things/fz/shadow?name=n",
              "/things/fz%00/shadow?name=%zz",
              "/api/things/shadow/ListNamedShadowsForThing/fz?pageSize=0",
              "/api/things/shadow/ListNamedShadowsForThing/fz?nextToken=x"]
HTTP_VERSIONS = ["HTTP/1.1"] * 4 + ["HTTP/1.0", "HTTP/0.9", "HTTP/2.0",
                                   "HTTP/1.12", "HTTP/x", "", "http/1.1"]
HTTP_HEADERS = ["Connection: keep-alive", "Connection: close",
                "Accept: */*", "Content-Type: text/plain",
                "Transfer-Encoding: chunked", "Expect: 100-continue",
                "Content-Length: -1", "Content-Length: abc",
                "Content-Length: 99999999999999999999",
                "Content-Length: 5", "Content-Length: 0", "NoColonHere",
                ": empty-name", " folded continuation", "X-Long: " +
                "v" * 4000, "Host:", "Host: a\x00b", "\x00: \x00",
                "Authorization: STRATA-HMAC-SHA256 Credential=AKIAAAAAAAAAAAAA"
                "AAAA, Signature=" + "0" * 64,
                "X-Strata-Date: 20260101T000000Z",
                "Authorization: Bearer AKIAAAAAAAAAAAAAAAAA:" + "s" * 40,
                "Authorization: STRATA-HMAC-SHA256 ,,,Credential="]


AUTH_HEADER = "Authorization: Bearer %s"

# JSON bodies the admin API parses (the others are random bytes)
ADMIN_BODIES = [
    b'{"thingTypeName": "t", "attributePayload": {"attributes": '
    b'{"a": "b"}, "merge": true}, "expectedVersion": 1}',
    b'{"policyDocument": "{\\"Version\\": \\"2012-10-17\\", '
    b'\\"Statement\\": [{\\"Effect\\": \\"Allow\\", '
    b'\\"Action\\": \\"iot:*\\", \\"Resource\\": \\"*\\"}]}"}',
    b'{"policyDocument": "{\\"Statement\\": ["}',
    b'{"certificatePem": "-----BEGIN CERTIFICATE-----\\nMII\\n'
    b'-----END CERTIFICATE-----"}',
    b'{"target": "arn:aws:iot:local:000000000000:cert/' + b"0" * 64 + b'"}',
    b'{"caCertificate": "x", "registrationConfig": {"templateBody": '
    b'"{\\"Resources\\": {}}"}}',
    b'{"attributePayload": 7}', b'[]', b'{"a": ' * 40,
    b'{"thingTypeProperties": {"searchableAttributes": ["a", 1]}, '
    b'"undoDeprecate": true}',
    b'{"parentGroupName": "fz", "thingGroupProperties": '
    b'{"attributePayload": {"attributes": {"a": ""}, "merge": true}}, '
    b'"expectedVersion": 1}',
    b'{"thingGroupName": "fz", "thingArn": "arn:aws:iot:local:'
    b'000000000000:thing/fz-1", "thingGroupsToAdd": ["fz", "x"], '
    b'"thingGroupsToRemove": [7], "thingName": "fz-1"}',
    b'{"target": "arn:aws:iot:local:000000000000:thinggroup/fz"}',
    b'{"indexName": "AWS_Things", "queryString": "thingName:fz* AND '
    b'NOT (shadow.reported.b:[1 TO 9} OR -x)", "maxResults": 3, '
    b'"nextToken": "fz"}',
    b'{"queryString": "*", "aggregationField": "shadow.version", '
    b'"percents": [0, 50, 100]}',
    b'{"queryString": "((((a", "aggregationField": 7}',
    b'{"thingIndexingConfiguration": {"thingIndexingMode": "REGISTRY", '
    b'"customFields": [{"name": "attributes.x", "type": "Number"}]}}',
]


def http_request(rng):
    eol = "\r\n" if rng.random() < 0.85 else "\n"
    method = rng.choice(HTTP_METHODS)
    line = "%s %s %s" % (method, rng.choice(HTTP_PATHS),
                         rng.choice(HTTP_VERSIONS))
    lines = [line.rstrip() if rng.random() < 0.9 else line]
    if rng.random() < 0.8:
        lines.append("Host: 127.0.0.1")
    for _ in range(rng.choice([0, 0, 1, 2, 4, 40])):
        lines.append(rng.choice(HTTP_HEADERS))
    body = b""
    kind = rng.choice(["none", "none", "length", "chunked", "bad-chunk"])
    if kind == "length":
        body = (rng.choice(ADMIN_BODIES) if rng.random() < 0.5 else
                rand_bytes(rng, 0, 64))
        lines.append("Content-Length: %d" % (len(body) + rng.choice(
            [0, 0, 1, -1, 100])))
    elif kind == "chunked":
        lines.append("Transfer-Encoding: chunked")
        body = b"5\r\nhello\r\n0\r\n\r\n"
    elif kind == "bad-chunk":
        lines.append("Transfer-Encoding: chunked")
        body = rng.choice([b"zz\r\nx\r\n", b"ffffffffffffffff\r\n",
                           b"-1\r\n", b"5\r\nhel", b"0\r\nTrailer"])
    head = eol.join(lines) + eol + eol
    return head.encode("latin-1", "replace") + body, "%s %s" % (
        method or "-", kind)


def http_session(rng):
    parts, notes = [], []
    for _ in range(rng.choice([1, 1, 1, 2, 3])):
        data, note = http_request(rng)
        if rng.random() < 0.4:
            mut = rng.choice(BYTE_MUTATORS)
            data = mut(rng, data) or b"\x00"
            note += " [%s]" % mut.__name__[2:]
        parts.append(data)
        notes.append(note)
    if rng.random() < 0.1:
        data, note = mqtt_session(rng)
        parts.append(data)
        notes.append("MQTT on the HTTP port: " + "; ".join(note))
    return b"".join(parts), notes


def segment(rng, data):
    """Split data into [(hex, delay before sending)]: one write, random
    segments with tiny delays, the first bytes one by one, or two halves
    with a pause (the peer holds a partial packet)."""
    mode = rng.choices(["one", "split", "bytes", "halves"], [4, 4, 1, 1])[0]
    if mode == "one" or len(data) < 2:
        return [[data.hex(), 0.0]]
    if mode == "split":
        cuts = sorted(rng.sample(range(1, len(data)),
                                 min(len(data) - 1, rng.randint(1, 16))))
    elif mode == "bytes":
        cuts = list(range(1, min(len(data), 24)))
    else:
        cuts = [rng.randrange(1, len(data))]
    out, prev = [], 0
    for cut in cuts + [len(data)]:
        if mode == "halves" and prev:
            delay = rng.choice([0.02, 0.05, 0.1])
        else:
            delay = rng.choice([0.0, 0.0, 0.0, 0.0005, 0.001, 0.002, 0.005])
        out.append([data[prev:cut].hex(), delay if prev else 0.0])
        prev = cut
    return out


ENDINGS = ["close"] * 4 + ["abort"] * 3 + ["half-close"] * 2 + \
    ["idle-close", "idle-abort"]


WS_OPENING = (b"GET /mqtt HTTP/1.1\r\nHost: localhost\r\n"
              b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
              b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
              b"Sec-WebSocket-Version: 13\r\n"
              b"Sec-WebSocket-Protocol: mqtt\r\n\r\n")


def ws_frame(rng, payload, opcode=2, fin=True, mask=True):
    n = len(payload)
    head = bytes([(0x80 if fin else 0) | opcode])
    bit = 0x80 if mask else 0
    if n < 126:
        head += bytes([bit | n])
    else:
        head += bytes([bit | 126]) + struct.pack("!H", n)
    if not mask:
        return head + payload
    key = bytes(rng.randrange(256) for _ in range(4))
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def ws_session(rng):
    """MQTT over WebSocket: an opening request (valid, mutated or
    garbage), then an MQTT session's bytes in masked binary messages cut
    anywhere, pings between them, and now and then a broken frame."""
    data, notes = mqtt_session(rng)
    opening = WS_OPENING
    shape = rng.choices(["valid", "mutated", "garbage"], [8, 1.5, 0.5])[0]
    if shape == "mutated":
        opening = rng.choice([m_bitflip, m_insert, m_delete, m_replace,
                              m_truncate])(rng, opening)
    elif shape == "garbage":
        opening = garbage(rng)[0]
    out, pos = opening, 0
    while pos < len(data):
        n = rng.randint(1, min(len(data) - pos, 2000))
        out += ws_frame(rng, data[pos:pos + n])
        pos += n
        r = rng.random()
        if r < 0.1:
            out += ws_frame(rng, rand_bytes(rng, 0, 8), opcode=9)
        elif r < 0.15:
            out += m_bitflip(rng, ws_frame(rng, rand_bytes(rng, 1, 8)))
        elif r < 0.17:
            out += ws_frame(rng, b"x", opcode=rng.choice([1, 3, 8]),
                            mask=rng.random() < 0.5)
    return out, ["ws " + shape] + notes


def plan_connection(rng, shape):
    """One connection: kind (mqtt, mqtts, metrics: plain HTTP, https:
    shadowd's device HTTPS), target index, TLS mode, byte segments, read
    wait and ending."""
    kind = rng.choices(["mqtt", "mqtts", "metrics", "https", "ws"],
                       [6, 2, 1.5, 0.5, 1])[0]
    plan = {"kind": kind, "index": rng.randrange(shape[kind]),
            "tls": "none"}
    if kind in ("mqtts", "https"):
        plan["tls"] = rng.choices(["cert", "nocert", "plain"], [8, 1, 1])[0]
        plan["tls_version"] = rng.choice(["any", "any", "1.2", "1.3"])
    if kind in ("metrics", "https"):
        data, notes = http_session(rng)
    elif kind == "ws":
        data, notes = ws_session(rng)
    else:
        data, notes = mqtt_session(rng)
    plan["notes"] = notes
    plan["segments"] = segment(rng, data)
    plan["read"] = rng.choice([0.0, 0.0, 0.01, 0.05, 0.2])
    plan["end"] = rng.choice(ENDINGS)
    return plan


def plan_batch(seed, number, shape):
    """Batch `number` of a run: a function of (seed, number) alone."""
    rng = random.Random("netfuzz/%d/%d" % (seed, number))
    return [plan_connection(rng, shape)
            for _ in range(rng.randint(*BATCH_SIZE))]


# -- playing connections --------------------------------------------------

class Targets:
    """Where the kinds of connection go: host, port lists, TLS files."""

    def __init__(self, host, mqtt=(), mqtts=(), metrics=(), ca=None,
                 cert=None, key=None, https=(), ws=()):
        self.host = host
        self.ports = {"mqtt": list(mqtt), "mqtts": list(mqtts),
                      "metrics": list(metrics), "https": list(https),
                      "ws": list(ws)}
        self.ca, self.cert, self.key = ca, cert, key
        self._contexts = {}

    @classmethod
    def from_env(cls, env):
        """From a parsed endpoints.env."""
        admin = [int(u.rsplit(":", 1)[1])
                 for u in env.get("ADMIN_URLS", "").split()]
        admin += [int(p) for p in env.get("RULESD_METRICS_PORTS",
                                          "").split()]
        admin += [int(p) for p in (env.get("SHADOWD_METRICS_PORTS", "") + " " +
                                   env.get("SHADOWD_HTTP_PORTS", "")).split()]
        return cls(env["HOST"], [int(p) for p in env["MQTT_PORTS"].split()],
                   [int(p) for p in env["MQTTS_PORTS"].split()],
                   [int(p) for p in env["METRICS_PORTS"].split()] + admin,
                   env.get("CA_FILE"), env.get("CLIENT_CERT"),
                   env.get("CLIENT_KEY"),
                   [int(p) for p in env.get("SHADOWD_HTTPS_PORTS",
                                            "").split()],
                   [int(p) for p in env.get("WS_PORTS", "").split()])

    def shape(self):
        return {k: max(1, len(v)) for k, v in self.ports.items()}

    def port(self, plan):
        ports = self.ports[plan["kind"]]
        return ports[plan["index"] % len(ports)] if ports else None

    def tls_context(self, mode, version):
        key = (mode, version)
        if key not in self._contexts:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            if self.ca:
                ctx.load_verify_locations(self.ca)
            else:
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
            if mode == "cert" and self.cert:
                ctx.load_cert_chain(self.cert, self.key)
            if version != "any":
                v = {"1.2": ssl.TLSVersion.TLSv1_2,
                     "1.3": ssl.TLSVersion.TLSv1_3}[version]
                ctx.minimum_version = ctx.maximum_version = v
            self._contexts[key] = ctx
        return self._contexts[key]


def _read(sock, wait):
    """Read for up to `wait` seconds (0: what is there now).  Returns
    (bytes read, EOF or reset seen)."""
    got = 0
    deadline = time.monotonic() + wait
    while True:
        left = deadline - time.monotonic()
        try:
            sock.settimeout(max(left, 0.0) if wait else 0.0)
            data = sock.recv(65536)
        except (BlockingIOError, ssl.SSLWantReadError, socket.timeout):
            return got, False
        except (ssl.SSLError, OSError):
            return got, True
        finally:
            sock.settimeout(SOCK_TIMEOUT)
        if not data:
            return got, True
        got += len(data)
        if wait and time.monotonic() >= deadline:
            return got, False


def _abort(sock):
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                        struct.pack("ii", 1, 0))
    except OSError:
        pass
    sock.close()


def play(plan, targets):
    """Play one planned connection.  Returns (what happened, socket left
    open for an idle ending or None).  Every step has a timeout; the
    broker closing the connection at any point is fine."""
    res = {"received": 0, "sent": 0}
    port = targets.port(plan)
    if port is None:
        res["outcome"] = "skipped: no %s port" % plan["kind"]
        return res, None
    res["port"] = port
    started = time.monotonic()
    try:
        sock = socket.create_connection((targets.host, port), SOCK_TIMEOUT)
    except OSError as e:
        res["outcome"] = "connect failed: %s" % e
        return res, None
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if plan["tls"] in ("cert", "nocert"):
        ctx = targets.tls_context(plan["tls"], plan.get("tls_version",
                                                        "any"))
        try:
            sock = ctx.wrap_socket(sock, server_hostname=targets.host)
        except (ssl.SSLError, OSError) as e:
            sock.close()
            res["outcome"] = "TLS handshake failed: %s" % e
            return res, None
    closed = False
    try:
        for hexdata, delay in plan["segments"]:
            if delay:
                time.sleep(delay)
            data = bytes.fromhex(hexdata)
            sock.sendall(data)
            res["sent"] += len(data)
            n, closed = _read(sock, 0)
            res["received"] += n
            if closed or time.monotonic() - started > CONN_BUDGET:
                break
        if not closed and plan["read"]:
            n, closed = _read(sock, plan["read"])
            res["received"] += n
    except (ssl.SSLError, OSError) as e:
        res["send_error"] = type(e).__name__
        closed = True
    end = plan["end"]
    res["outcome"] = "closed by peer" if closed else end
    if end.startswith("idle") and not closed:
        return res, sock
    if end == "abort":
        _abort(sock)
    elif end == "half-close" and not closed:
        try:
            sock.shutdown(socket.SHUT_WR)
            n, eof = _read(sock, HALF_CLOSE_WAIT)
            res["received"] += n
            res["outcome"] = "half-close, then %s" % (
                "EOF" if eof else "still open")
        except OSError:
            pass
        sock.close()
    else:
        sock.close()
    return res, None


def close_idle(socks):
    for plan, sock in socks:
        if plan["end"] == "idle-abort":
            _abort(sock)
        else:
            sock.close()


def run_batch(plans, targets):
    """Play plans, WORKERS at a time.  Returns (results, idle sockets as
    [(plan, socket)]) once every connection has finished or gone idle."""
    results = [None] * len(plans)
    idle = []
    with concurrent.futures.ThreadPoolExecutor(WORKERS) as pool:
        futures = {pool.submit(play, p, targets): i
                   for i, p in enumerate(plans)}
        for fut in concurrent.futures.as_completed(
                futures, timeout=CONN_BUDGET * 2 + SOCK_TIMEOUT * 3 +
                len(plans) * CONN_BUDGET / WORKERS):
            i = futures[fut]
            results[i], sock = fut.result()
            if sock is not None:
                idle.append((plans[i], sock))
    return results, idle


# -- checks ---------------------------------------------------------------

def http_get(host, port, path, timeout=SOCK_TIMEOUT):
    """Status code of GET path, or an error string."""
    try:
        with socket.create_connection((host, port), timeout) as s:
            s.settimeout(timeout)
            s.sendall(("GET %s HTTP/1.0\r\nHost: %s\r\n\r\n" % (
                path, host)).encode())
            head = b""
            while b"\r\n" not in head and len(head) < 4096:
                chunk = s.recv(4096)
                if not chunk:
                    break
                head += chunk
    except OSError as e:
        return "%s: %s" % (type(e).__name__, e)
    parts = head.split(b" ", 2)
    if len(parts) >= 2 and parts[0].startswith(b"HTTP/1.") and \
            parts[1].isdigit():
        return int(parts[1])
    return "no HTTP status line: %r" % head[:80]


def round_trip(host, ports, protocol, sub_broker, pub_broker):
    """A clean paho client subscribes on one broker, another publishes
    QoS 1 on the other, with a fresh topic; the message must arrive.
    Returns None or what went wrong."""
    topic = "nf-check/%s" % uuid.uuid4().hex[:12]
    payload = uuid.uuid4().hex.encode()
    made = []
    start = time.monotonic()
    try:
        sub = mqttc.Client(protocol)
        made.append(sub)
        sub.connect(host, ports[sub_broker])
        sub.subscribe(topic, 1)
        pub = mqttc.Client(protocol)
        made.append(pub)
        pub.connect(host, ports[pub_broker])
        pub.publish(topic, payload, 1)
        msg = sub.get(timeout=max(0.5, CHECK_TIMEOUT -
                                  (time.monotonic() - start)), topic=topic)
        if msg.payload != payload or msg.qos != 1:
            return "wrong message: %r" % msg
    except (AssertionError, OSError) as e:
        return "QoS 1 round trip (%s, subscriber on broker %d, publisher "\
            "on broker %d) failed after %.1fs: %s: %s" % (
                "MQTT 5" if protocol == mqttc.V5 else "MQTT 3.1.1",
                sub_broker, pub_broker, time.monotonic() - start,
                type(e).__name__, e)
    finally:
        for c in made:
            try:
                c.close()
            except Exception:                   # noqa: a broken client
                pass
    elapsed = time.monotonic() - start
    if elapsed > CHECK_TIMEOUT:
        return "QoS 1 round trip took %.1fs" % elapsed
    return None


def check_cluster(cluster, number):
    """After batch `number`: (b) no daemon died, (c) no sanitizer report,
    (a) a QoS 1 round trip across brokers and /metrics on every metrics
    port.  Returns the list of problems."""
    problems = []
    dead = cluster.dead_processes()
    if dead:
        problems.append("daemon processes gone: %r" % dead)
    reports = cluster.new_sanitizer_reports()
    if reports:
        problems.append("sanitizer reports:\n" + "\n".join(reports[:40]))
    if problems:
        return problems
    n = len(cluster.mqtt_ports)
    sub_broker = number % n
    pub_broker = (number + 1) % n
    protocol = mqttc.V5 if number % 2 else mqttc.V311
    trouble = round_trip(cluster.host, cluster.mqtt_ports, protocol,
                         sub_broker, pub_broker)
    if trouble:
        problems.append(trouble)
    for port in cluster.metrics_ports:
        status = http_get(cluster.host, port, "/metrics")
        if status != 200:
            problems.append("GET /metrics on port %d: %s" % (port, status))
    if problems:
        # a crash found by the round trip is better told as such
        dead = cluster.dead_processes()
        if dead:
            problems.append("daemon processes gone: %r" % dead)
        reports = cluster.new_sanitizer_reports()
        if reports:
            problems.append("sanitizer reports:\n" +
                            "\n".join(reports[:40]))
    return problems


def write_failure(seed, number, plans, results, earlier, targets,
                  problems, log_dir=None):
    """The failing batch as JSON (and a copy of the daemons' logs beside
    it, since the cluster's directory goes away); returns the path."""
    out_dir = os.environ.get("STRATA_NETFUZZ_OUT") or tempfile.gettempdir()
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "strata-netfuzz-%d-batch%d.json" % (
        seed, number))
    if log_dir:
        shutil.copytree(log_dir, path[:-len(".json")] + ".logs",
                        dirs_exist_ok=True)
    conns = []
    for i, (plan, res) in enumerate(zip(plans, results)):
        entry = dict(plan)
        entry["number"] = i
        entry["result"] = res
        conns.append(entry)
    doc = {"seed": seed, "batch": number, "problems": problems,
           "host": targets.host, "ports": targets.ports,
           "connections": conns,
           "earlier": [{"batch": n, "connections": p} for n, p in earlier]}
    with open(path, "w") as f:
        json.dump(doc, f, indent=1)
    return path


# -- the test -------------------------------------------------------------

@pytest.fixture(scope="module")
def netfuzz_cluster():
    """A cluster of its own (two brokers, one router, one shadowd whose
    HTTP ports are targets too, one rulesd running a rule on the fuzzed
    topics, so hostile payloads reach the SQL engine and the actions):
    the fuzzer leaves retained junk and sessions behind."""
    with conftest.start_cluster("netfuzz_cluster", shadowd=1, rulesd=1,
                                prefix="strata-it-netfuzz-") as c:
        _netfuzz_rule(c)
        yield c


def _netfuzz_rule(c):
    """nf_rule: functions, a WHERE, republish, file and an errorAction on
    whatever the fuzzer publishes under nf/."""
    payload = json.dumps({
        "sql": "SELECT *, upper(s) AS u, regexp_replace(s, 'a+', 'b') AS r,"
               " topic(2) AS t, encode(*, 'base64') AS raw, clientid() AS c"
               " FROM 'nf/#' WHERE isString(s) OR a > 1 OR isUndefined(a)",
        "actions": [{"republish": {"topic": "nf-out/${topic(2)}"}},
                    {"file": {"path": "nf.jsonl", "maxBytes": 65536}}],
        "errorAction": {"republish": {"topic": "nf-errors"}}}).encode()
    req = urllib.request.Request(
        c.admin_url + "/rules/nf_rule", data=payload, method="POST",
        headers={"Authorization": "Bearer " + c.admin_token})
    with urllib.request.urlopen(req, timeout=5) as r:
        assert r.status == 200
    time.sleep(0.5)   # rulesd subscribes it


def say(request, line):
    """Print past pytest's output capture, so the seed shows even when
    the test passes."""
    print(line)
    plugins = request.config.pluginmanager
    reporter = plugins.getplugin("terminalreporter")
    capture = plugins.getplugin("capturemanager")
    if reporter is None or capture is None:
        return
    with capture.global_and_fixture_disabled():
        reporter.ensure_newline()
        reporter.write_line(line)


def _seed():
    env = os.environ.get("STRATA_NETFUZZ_SEED")
    return int(env) if env else random.SystemRandom().randrange(1 << 32)


def test_netfuzz(netfuzz_cluster, request, record_property):
    """Hostile bytes over TCP, TLS and HTTP for STRATA_NETFUZZ_SECONDS:
    after every batch the cluster still serves clean clients, no daemon
    died and no sanitizer spoke."""
    cluster = netfuzz_cluster
    seed = _seed()
    record_property("netfuzz_seed", seed)
    say(request, "netfuzz: seed %d, %.0f s (STRATA_NETFUZZ_SEED=%d "
        "repeats it)" % (seed, SECONDS, seed))
    targets = Targets.from_env(cluster.env)
    if cluster.env.get("ADMIN_TOKEN") and not any(
            h.startswith("Authorization") for h in HTTP_HEADERS):
        # with the token, requests reach the admin API's handlers
        HTTP_HEADERS.extend([AUTH_HEADER % cluster.env["ADMIN_TOKEN"]] * 6)
    shape = targets.shape()
    problems = check_cluster(cluster, 0)
    assert not problems, "cluster unhealthy before fuzzing: %s" % problems
    earlier = []
    stats = {"connections": 0, "bytes": 0, "closed": 0}
    start = time.monotonic()
    deadline = start + SECONDS
    number = 0
    idle = []
    while number < MAX_BATCHES and time.monotonic() < deadline:
        plans = plan_batch(seed, number, shape)
        try:
            results, idle = run_batch(plans, targets)
        except concurrent.futures.TimeoutError:
            results = [None] * len(plans)
            problems = ["a fuzz connection did not finish in time"]
        else:
            problems = check_cluster(cluster, number)
        close_idle(idle)
        idle = []
        stats["connections"] += len(plans)
        for r in results:
            if r:
                stats["bytes"] += r.get("sent", 0)
                stats["closed"] += r.get("outcome") == "closed by peer"
        if problems:
            path = write_failure(seed, number, plans, results, earlier,
                                 targets, problems, cluster.log_dir)
            pytest.fail(
                "netfuzz seed %d, batch %d (%d connections, %.1fs in):\n"
                "%s\nfailing batch written to %s (daemon logs in "
                "%s.logs)\nreplay against a "
                "cluster started with 'deploy/local/cluster.sh up --dir "
                "D --brokers 2 --routers 1':\n  /usr/bin/python3 "
                "tests/integration/test_netfuzz.py replay %s --env "
                "D/endpoints.env\nrerun: STRATA_NETFUZZ_SEED=%d" % (
                    seed, number, len(plans), time.monotonic() - start,
                    "\n".join(problems), path, path[:-5], path, seed),
                pytrace=False)
        earlier = (earlier + [(number, plans)])[-KEEP_EARLIER:]
        number += 1
    # closes of the last idle connections are checked too
    problems = check_cluster(cluster, number)
    assert not problems, "netfuzz seed %d, after the last batch (%d): %s" \
        % (seed, number - 1, "\n".join(problems))
    summary = ("netfuzz: seed %d, %d batches, %d connections, %d bytes "
               "sent, %d closed by the broker, %.1fs" % (
                   seed, number, stats["connections"], stats["bytes"],
                   stats["closed"], time.monotonic() - start))
    say(request, summary)
    record_property("netfuzz_summary", summary)


# -- replay ---------------------------------------------------------------

def https_probe(targets, port):
    """None if a GET over TLS with the client certificate gets a status
    line, else what went wrong."""
    try:
        sock = socket.create_connection((targets.host, port), SOCK_TIMEOUT)
        with targets.tls_context("cert", "any").wrap_socket(
                sock, server_hostname=targets.host) as tls:
            tls.settimeout(SOCK_TIMEOUT)
            tls.sendall(b"GET /things/nf-probe/shadow HTTP/1.1\r\n"
                        b"Host: x\r\nConnection: close\r\n\r\n")
            got = tls.recv(16)
    except (OSError, ssl.SSLError) as e:
        return "%s: %s" % (type(e).__name__, e)
    return None if got.startswith(b"HTTP/1.1 ") else \
        "no status line (got %r)" % got


def probe(targets, kind, port):
    """None if the target answers a clean client, else what went wrong:
    MQTT CONNECT -> CONNACK (over TLS for mqtts), HTTP GET /healthz ->
    a status line (over TLS with the client certificate for https)."""
    host = targets.host
    if kind == "metrics":
        status = http_get(host, port, "/healthz")
        return None if isinstance(status, int) else status
    if kind == "https":
        return https_probe(targets, port)
    try:
        sock = socket.create_connection((host, port), SOCK_TIMEOUT)
        if kind == "mqtts":
            sock = targets.tls_context("cert", "any").wrap_socket(
                sock, server_hostname=host)
        with sock:
            sock.settimeout(SOCK_TIMEOUT)
            hello = rawmqtt.connect("nf-probe-" + uuid.uuid4().hex[:8])
            if kind == "ws":  # the answer's headers, then a frame
                hello = WS_OPENING + ws_frame(random.Random(), hello)
            sock.sendall(hello)
            got = b""
            if kind == "ws":
                while b"\r\n\r\n" not in got:
                    chunk = sock.recv(4096)
                    if not chunk:
                        return "no WebSocket answer (got %r)" % got
                    got += chunk
                if not got.startswith(b"HTTP/1.1 101"):
                    return "WebSocket opening refused: %r" % got[:40]
                got = got.split(b"\r\n\r\n", 1)[1]
                while len(got) < 6:
                    chunk = sock.recv(16)
                    if not chunk:
                        break
                    got += chunk
                got = got[2:]  # the frame header: CONNACK behind it
            while len(got) < 4:
                chunk = sock.recv(16)
                if not chunk:
                    break
                got += chunk
    except (OSError, ssl.SSLError) as e:
        return "%s: %s" % (type(e).__name__, e)
    if got[:1] != b"\x20":
        return "no CONNACK (got %r)" % got
    return None


def replay(argv):
    ap = argparse.ArgumentParser(
        prog="test_netfuzz.py replay",
        description="Replay a failing netfuzz batch, one connection at a "
        "time, probing its target after each.")
    ap.add_argument("file")
    ap.add_argument("--env", help="endpoints.env of the target cluster")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, help="every MQTT connection here")
    ap.add_argument("--tls-port", type=int,
                    help="every MQTT-over-TLS connection here")
    ap.add_argument("--metrics-port", type=int,
                    help="every HTTP connection here")
    ap.add_argument("--ca")
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--conn", type=int, action="append",
                    help="replay only this connection number (repeatable)")
    ap.add_argument("--earlier", action="store_true",
                    help="replay the earlier batches first")
    ap.add_argument("--no-probe", action="store_true",
                    help="do not probe after each connection")
    args = ap.parse_args(argv)
    with open(args.file) as f:
        doc = json.load(f)
    if args.env:
        targets = Targets.from_env(conftest.parse_env_file(args.env))
    else:
        targets = Targets(args.host, [args.port] if args.port else [],
                          [args.tls_port] if args.tls_port else [],
                          [args.metrics_port] if args.metrics_port else [],
                          args.ca, args.cert, args.key)
    plans = []
    if args.earlier:
        for b in doc.get("earlier", []):
            plans += [("batch %d #%d" % (b["batch"], i), p)
                      for i, p in enumerate(b["connections"])]
    for p in doc["connections"]:
        if args.conn is None or p["number"] in args.conn:
            plans.append(("batch %d #%d" % (doc["batch"], p["number"]), p))
    print("replaying %d connections of seed %s batch %s" % (
        len(plans), doc.get("seed"), doc.get("batch")))
    idle = []
    for name, plan in plans:
        res, sock = play(plan, targets)
        if sock is not None:
            idle.append((plan, sock))
        print("%s: %s %s:%s tls=%s end=%s -> %s" % (
            name, plan["kind"], targets.host, res.get("port"), plan["tls"],
            plan["end"], res.get("outcome")))
        if args.no_probe or res.get("port") is None:
            continue
        time.sleep(0.05)
        trouble = probe(targets, plan["kind"], res["port"])
        if trouble:
            print("\n%s:%d stopped answering after %s (%s)" % (
                targets.host, res["port"], name, trouble))
            print("notes: %s" % "; ".join(plan["notes"]))
            print("segments: %s" % " | ".join(
                h for h, _ in plan["segments"]))
            print("bytes: %s" % "".join(h for h, _ in plan["segments"]))
            close_idle(idle)
            return 1
    close_idle(idle)
    time.sleep(0.2)
    failed = 0
    for kind, ports in targets.ports.items():
        for port in ports:
            trouble = probe(targets, kind, port)
            if trouble:
                failed = 1
                print("%s port %d: %s" % (kind, port, trouble))
    print("targets still answer" if not failed else "some target failed")
    return failed


def main(argv):
    if len(argv) < 2 or argv[1] != "replay":
        print("usage: %s replay FILE [--env ENDPOINTS | --host H --port P]"
              " [--conn N]... [--earlier]  (see replay --help)" % argv[0],
              file=sys.stderr)
        return 2
    return replay(argv[2:])


if __name__ == "__main__":
    sys.exit(main(sys.argv))
