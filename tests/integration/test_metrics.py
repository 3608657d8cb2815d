"""/metrics (Prometheus text format 0.0.4) and /healthz on every broker
and router metrics port, and broker counters that move with traffic."""

import re
import time
import urllib.error
import urllib.request

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
