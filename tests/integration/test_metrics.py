"""/metrics (Prometheus text format 0.0.4) and /healthz on every broker
and router metrics port, broker counters that move with traffic, and the
bounds of the HTTP server (body, headers, idle timeout)."""

import re
import socket
import time
import urllib.error
import urllib.request

import pytest

import rawmqtt
from mqttc import V5, unique

SAMPLE = re.compile(
    r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? "
    r"(-?[0-9.]+(?:[eE][+-]?[0-9]+)?|NaN|[+-]Inf)( -?[0-9]+)?$")
TYPE = re.compile(r"^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) "
                  r"(counter|gauge|histogram|summary|untyped)$")
HELP = re.compile(r"^# HELP [a-zA-Z_:][a-zA-Z0-9_:]* .*$")

BROKER_COUNTERS = [
    "strata_broker_connections_total",
    "strata_broker_packets_received_total",
    "strata_broker_packets_sent_total",
    "strata_broker_publishes_forwarded_total",
    "strata_broker_deliveries_total",
    "strata_broker_bytes_received_total",
    "strata_broker_bytes_sent_total",
]

DROP_REASONS = ["expired", "no_router", "over_client_max_packet",
                "queue_full", "slow_client"]


def get(host, port, path):
    """(status, content type, body) of GET http://host:port/path."""
    url = "http://%s:%d%s" % (host, port, path)
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.headers.get("Content-Type", ""), r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", ""), e.read()


def scrape(host, port):
    """Parse a /metrics page strictly: {(name, labels): value} and
    {family: type}.  Every line must be a valid exposition line and every
    sample must belong to a family declared with # TYPE before it."""
    status, ctype, body = get(host, port, "/metrics")
    assert status == 200
    assert ctype.startswith("text/plain"), ctype
    samples = {}
    types = {}
    for line in body.decode("utf-8").splitlines():
        if not line:
            continue
        m = TYPE.match(line)
        if m:
            assert m.group(1) not in types, "family declared twice: " + line
            types[m.group(1)] = m.group(2)
            continue
        if line.startswith("#"):
            assert HELP.match(line), "bad comment line: %r" % line
            continue
        m = SAMPLE.match(line)
        assert m, "bad sample line: %r" % line
        name, labels = m.group(1), m.group(2) or ""
        family = re.sub(r"_(bucket|sum|count)$", "", name)
        assert name in types or family in types, "no # TYPE for " + name
        key = (name, labels)
        assert key not in samples, "duplicate series: " + line
        samples[key] = float(m.group(3))
    return samples, types


def total(samples, name, label=""):
    """Sum of a family's series whose labels contain `label`."""
    return sum(v for (n, lab), v in samples.items()
               if n == name and label in lab)


def wait_until(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


def test_healthz_everywhere(cluster):
    """/healthz answers 200 on every broker and router metrics port;
    unknown paths answer 404."""
    assert len(cluster.metrics_ports) == len(cluster.mqtt_ports) + len(
        cluster.router_ports)
    for port in cluster.metrics_ports:
        status, _, body = get(cluster.host, port, "/healthz")
        assert status == 200, (port, status, body)
        status, _, _ = get(cluster.host, port, "/no-such-path")
        assert status == 404, (port, status)


def test_metrics_format_everywhere(cluster):
    """Every metrics port serves valid Prometheus text with counters;
    brokers expose strata_broker_* and routers strata_router_* series."""
    for port in cluster.broker_metrics_ports:
        samples, types = scrape(cluster.host, port)
        for name in BROKER_COUNTERS:
            assert types.get(name) == "counter", (port, name)
        assert any(n.startswith("strata_broker_") for n, _ in samples)
        # every drop reason is a series from the start (alerts and rate()
        # work before the first drop)
        for reason in DROP_REASONS:
            assert ("strata_broker_drops_total",
                    '{reason="%s"}' % reason) in samples, (port, reason)
    for port in cluster.router_metrics_ports:
        samples, types = scrape(cluster.host, port)
        assert "counter" in types.values(), port
        assert any(n.startswith("strata_router_") for n, _ in samples), (
            port, sorted(types))


def test_broker_counters_follow_traffic(cluster, clients):
    """A QoS 1 publish on broker 0 to a subscriber on broker 1 moves the
    connection, forward and delivery counters of the right brokers."""
    host = cluster.host
    m0, m1 = cluster.broker_metrics_ports[:2]
    before0, _ = scrape(host, m0)
    before1, _ = scrape(host, m1)
    topic = unique() + "/metered"
    sub = clients(V5, 1)
    sub.subscribe(topic, 1)
    pub = clients(V5, 0)
    for i in range(3):
        pub.publish(topic, b"m%d" % i, 1)
    for i in range(3):
        sub.get(topic=topic)

    def grew(port, before, name, label, by):
        def check():
            now, _ = scrape(host, port)
            return (total(now, name, label) -
                    total(before, name, label)) >= by
        return wait_until(check)

    assert grew(m0, before0, "strata_broker_connections_total", "", 1)
    assert grew(m1, before1, "strata_broker_connections_total", "", 1)
    assert grew(m0, before0, "strata_broker_publishes_forwarded_total",
                'qos="1"', 3)
    assert grew(m1, before1, "strata_broker_deliveries_total", 'qos="1"', 3)
    assert grew(m0, before0, "strata_broker_packets_received_total",
                'type="publish"', 3)
    assert grew(m1, before1, "strata_broker_packets_sent_total",
                'type="publish"', 3)
    assert grew(m0, before0, "strata_broker_bytes_received_total", "", 1)


def test_refusal_is_counted(cluster):
    """Bad input leaves a metric (DESIGN guarantee 4): a malformed
    SUBSCRIBE raises strata_broker_refusals_total{reason="0x81"}."""
    host, port = cluster.host, cluster.broker_metrics_ports[0]
    label = 'reason="0x81"'
    before = total(scrape(host, port)[0], "strata_broker_refusals_total",
                   label)
    conn = rawmqtt.RawClient(host, cluster.mqtt_ports[0], version=V5)
    try:
        assert conn.handshake("it-refused").reason == 0
        conn.send(rawmqtt.subscribe([(unique() + "/x", 0)], version=V5,
                                    flags=0))
        conn.wait_closed()
    finally:
        conn.close()
    assert wait_until(lambda: total(
        scrape(host, port)[0], "strata_broker_refusals_total", label)
        > before)


# Bounds of the metrics HTTP server (common/metrics.c).
MAX_BODY = 4096
MAX_HEADERS = 8192
IDLE_TIMEOUT = 10


def refused_status(host, port, request):
    """Send `request` on a fresh connection and read until the server
    closes it (or 5 s pass); the status code of the answer, or None if
    none came.  evhttp answers a request over a bound and closes without
    reading the rest, so sending may fail with EPIPE or ECONNRESET; what
    the server sent before its reset can still be read (Linux keeps it)."""
    s = socket.create_connection((host, port), timeout=5)
    data = b""
    try:
        try:
            s.sendall(request)
        except (BrokenPipeError, ConnectionResetError):
            pass
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        except (ConnectionResetError, TimeoutError):
            pass
    finally:
        s.close()
    m = re.match(rb"HTTP/1\.[01] ([0-9]{3}) ", data)
    return int(m.group(1)) if m else None


def assert_healthz(host, port):
    status, ctype, body = get(host, port, "/healthz")
    assert (status, body) == (200, b'{"status":"ok"}\n'), (port, status)


def test_metrics_refuses_big_body(cluster):
    """A GET with a 1 MiB body is refused with 413 (evhttp's answer, sent
    without reading the body), and the port answers /healthz afterwards;
    a body at the bound is accepted."""
    body = b"x" * (1 << 20)
    for port in cluster.metrics_ports:
        request = (b"GET /healthz HTTP/1.1\r\nHost: t\r\n"
                   b"Content-Length: %d\r\n\r\n" % len(body)) + body
        assert refused_status(cluster.host, port, request) == 413, port
        assert_healthz(cluster.host, port)
    request = (b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
               b"Content-Length: %d\r\n\r\n" % MAX_BODY) + b"x" * MAX_BODY
    assert refused_status(cluster.host, cluster.metrics_ports[0],
                          request) == 200


def test_metrics_refuses_big_headers(cluster):
    """A request with 100 KiB of headers is refused with 400 (evhttp's
    answer once the 8 KiB bound is passed), and the port answers /healthz
    afterwards."""
    headers = b"".join(b"X-Pad-%03d: %s\r\n" % (i, b"a" * 1012)
                       for i in range(100))
    assert len(headers) >= 100 * 1024
    request = b"GET /healthz HTTP/1.1\r\nHost: t\r\n" + headers + b"\r\n"
    for port in cluster.metrics_ports:
        assert refused_status(cluster.host, port, request) == 400, port
        assert_healthz(cluster.host, port)


def test_metrics_stalled_request(cluster):
    """Requests that send half their headers and stall do not keep the
    server from answering others, and are closed, unanswered, after the
    idle timeout."""
    host, port = cluster.host, cluster.broker_metrics_ports[0]
    stalled = []
    try:
        for _ in range(20):
            s = socket.create_connection((host, port), timeout=5)
            s.sendall(b"GET /metrics HTTP/1.1\r\nHost: t\r\nX-Half: ")
            stalled.append(s)
        started = time.monotonic()
        for _ in range(5):
            assert_healthz(host, port)
        scrape(host, port)
        assert time.monotonic() - started < IDLE_TIMEOUT / 2
        for s in stalled:
            s.settimeout(max(0.1, IDLE_TIMEOUT + 10 -
                             (time.monotonic() - started)))
            try:
                data = s.recv(4096)
            except TimeoutError:
                pytest.fail("a stalled request is still open after %d s" %
                            (IDLE_TIMEOUT + 10))
            assert data == b"", "a stalled request was answered"
        assert time.monotonic() - started >= IDLE_TIMEOUT - 2
    finally:
        for s in stalled:
            s.close()
