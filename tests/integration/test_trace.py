"""The client trace (Strata's own TraceClient, docs/internals/trace.md):
`stratactl trace-client` against broker 0's admin API while a Paho client
connects to broker 1, subscribes, publishes QoS 0/1/2, receives and
disconnects; the stream has each event in order with broker 1's node id.
Also: an untraced client writes nothing, --seconds ends the stream, a
caller that goes away frees the trace everywhere, IAM refusal, bad
input."""

import json
import os
import subprocess
import threading
import time

import daemons
import mqttc
from mqttc import V311, V5
from test_admin_authz import call, make_user, sign
from test_registry import BIN

ARN_PREFIX = "arn:aws:iot:"


def start_trace(cluster, client_id, seconds, env_extra=None):
    """stratactl trace-client running in the background; its lines are
    collected by a thread: (process, lines list, reader thread)."""
    env = dict(os.environ, STRATA_ADMIN_URL=cluster.admin_url,
               STRATA_ADMIN_TOKEN=cluster.admin_token)
    env.update(env_extra or {})
    p = subprocess.Popen(
        [os.path.join(BIN, "stratactl"), "trace-client", "--client-id",
         client_id, "--seconds", str(seconds)], env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    lines = []

    def read():
        for raw in p.stdout:
            lines.append(json.loads(raw))

    t = threading.Thread(target=read, daemon=True)
    t.start()
    return p, lines, t


def metric_sum(cluster, name):
    return sum(daemons.metric(port, name)
               for port in cluster.broker_metrics_ports)


def wait_for(cond, timeout=5.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError("%s not met within %.1fs" % (what, timeout))


def traced_everywhere(cluster):
    """Every broker has read the new trace (its map is not empty)."""
    return all(daemons.metric(p, "strata_broker_traced_clients") >= 1
               for p in cluster.broker_metrics_ports)


def node_id(cluster, broker):
    """The node id of broker `broker` (deploy/local/cluster.sh names
    them), as strata:brokers has it."""
    rc, out = cluster.redis_cli(cluster.redis_port, "HKEYS",
                                "strata:brokers")
    assert rc == 0 and "broker-%d" % broker in out.split(), out
    return "broker-%d" % broker


def packets(lines, direction, kind):
    return [x for x in lines if x.get("event") == "packet" and
            x["direction"] == direction and x["type"] == kind]


def test_trace_client_on_the_other_broker(cluster, clients):
    cid = mqttc.unique("trace")
    other = mqttc.unique("untraced")
    p, lines, reader = start_trace(cluster, cid, 6)
    wait_for(lambda: traced_everywhere(cluster), what="trace registered")
    # a client that is not traced, on the same broker: no line of it
    u = clients(V311, broker=1, client_id=other)
    u.publish(mqttc.unique("u"), b"x", 1)
    c = clients(V5, broker=1, client_id=cid)
    topic = mqttc.unique("tt")
    c.subscribe(topic, 2)
    for qos in (0, 1, 2):
        c.publish(topic, b"p" * (10 + qos), qos)
    got = [c.get(topic=topic) for _ in range(3)]
    assert sorted(len(m.payload) for m in got) == [10, 11, 12]
    c.disconnect()
    assert p.wait(20) == 0, p.stderr.read()
    reader.join(5)
    assert lines[-1]["event"] == "end"
    events = lines[:-1]
    assert events, "no line"
    assert all(x["clientId"] == cid for x in events), events
    node1 = events[0]["nodeId"]
    assert all(x["nodeId"] == node1 for x in events)
    assert node1 == node_id(cluster, 1)
    conn = events[0]
    assert conn["event"] == "connect", events
    assert conn["protocolVersion"] == 5 and conn["resultCode"] == 0
    assert conn["cleanStart"] is True and conn["keepalive"] == 10
    assert conn["sourceAddress"].startswith("127.0.0.1")
    assert packets(events, "out", "CONNACK") == []  # in the connect line
    sub = packets(events, "in", "SUBSCRIBE")[0]
    assert sub["topicFilters"] == [{"topicFilter": topic, "qos": 2}]
    assert packets(events, "out", "SUBACK")[0]["reasonCodes"] == [2]
    pubs_in = packets(events, "in", "PUBLISH")
    assert [(x["qos"], x["payloadSize"], x["topic"]) for x in pubs_in] == [
        (0, 10, topic), (1, 11, topic), (2, 12, topic)]
    assert "packetId" not in pubs_in[0]
    assert pubs_in[1]["packetId"] > 0 and pubs_in[2]["packetId"] > 0
    assert not any("payload" in x for x in events)   # sizes only
    assert packets(events, "out", "PUBACK")[0]["packetId"] == \
        pubs_in[1]["packetId"]
    for kind, d in (("PUBREC", "out"), ("PUBREL", "in"),
                    ("PUBCOMP", "out")):
        assert packets(events, d, kind), kind
    pubs_out = packets(events, "out", "PUBLISH")
    assert sorted(x["payloadSize"] for x in pubs_out) == [10, 11, 12]
    assert all(x["retain"] is False and x["dup"] is False
               for x in pubs_out)
    assert packets(events, "in", "DISCONNECT")[0]["reasonCode"] == 0
    assert events[-1]["event"] == "disconnect"
    assert events[-1]["reason"] == "CLIENT_INITIATED_DISCONNECT"
    # in order: connect, subscribe, the publishes, disconnect
    order = [events.index(x) for x in (conn, sub, pubs_in[0], pubs_in[2],
                                       events[-1])]
    assert order == sorted(order)
    times = [x["time"] for x in events]
    assert times == sorted(times)
    wait_for(lambda: metric_sum(cluster, "strata_broker_traced_clients")
             == 0, what="traces gone at the end")


def test_seconds_end_the_stream_and_untraced_writes_nothing(cluster,
                                                            clients):
    start = time.monotonic()
    p, lines, reader = start_trace(cluster, mqttc.unique("nobody"), 2)
    wait_for(lambda: traced_everywhere(cluster), what="trace registered")
    c = clients(V311, broker=1)     # another client id
    c.publish(mqttc.unique("n"), b"x", 1)
    assert p.wait(10) == 0, p.stderr.read()
    reader.join(5)
    assert 1.5 <= time.monotonic() - start < 8
    assert [x["event"] for x in lines] == ["end"]
    assert lines[0]["nodeId"] == node_id(cluster, 0)


def test_caller_going_away_frees_the_trace(cluster, clients):
    cid = mqttc.unique("gone")
    p, lines, reader = start_trace(cluster, cid, 60)
    wait_for(lambda: traced_everywhere(cluster), what="trace registered")
    m0 = cluster.broker_metrics_ports[0]
    assert daemons.metric(m0, "strata_broker_trace_streams") == 1
    c = clients(V311, broker=1, client_id=cid)
    wait_for(lambda: any(x["event"] == "connect" for x in lines),
             what="the connect line")
    p.kill()
    p.wait(5)
    wait_for(lambda: daemons.metric(m0, "strata_broker_trace_streams") == 0,
             what="stream freed")
    wait_for(lambda: metric_sum(cluster, "strata_broker_traced_clients")
             == 0, what="traces gone on every broker")
    rc, out = cluster.redis_cli(cluster.redis_port, "ZCARD",
                                "strata:traces")
    assert rc == 0 and out.strip() == "0", out
    before = metric_sum(cluster, "strata_broker_trace_events_total")
    c.publish(mqttc.unique("g"), b"x", 1)   # not traced any more
    time.sleep(0.3)
    assert metric_sum(cluster, "strata_broker_trace_events_total") == before


def test_iam_refusal_and_bad_input(cluster):
    cid = "iam-" + os.urandom(6).hex()
    path = "/strata/trace/" + cid + "?seconds=1"
    _, key, secret = make_user(cluster, {
        "Effect": "Allow", "Action": "iot:DescribeThing", "Resource": "*"})
    st, body = call(cluster.admin_url, "GET", path,
                    headers=sign(key, secret, "GET", path))
    assert st == 403 and body["error"] == "AccessDeniedException", body
    assert "iot:TraceClient" in body["message"]
    assert ":client/" + cid in body["message"]
    # allowed on that client's ARN only
    _, key, secret = make_user(cluster, {
        "Effect": "Allow", "Action": "iot:TraceClient",
        "Resource": ARN_PREFIX + "*:*:client/" + cid})
    p, lines, reader = start_trace(cluster, cid, 1, {
        "STRATA_ADMIN_TOKEN": "", "STRATA_ACCESS_KEY_ID": key,
        "STRATA_SECRET_ACCESS_KEY": secret})
    assert p.wait(10) == 0, p.stderr.read()
    reader.join(5)
    assert [x["event"] for x in lines] == ["end"]
    other = "/strata/trace/x" + cid + "?seconds=1"
    st, body = call(cluster.admin_url, "GET", other,
                    headers=sign(key, secret, "GET", other))
    assert st == 403, body
    # bad input: 400 naming the field, stratactl's service error status
    for args, field in ((["--seconds", "0"], "seconds"),
                        (["--seconds", "601"], "seconds")):
        p, _, _ = start_trace(cluster, cid, args[1])
        assert p.wait(10) == 254
        err = p.stderr.read().decode()
        assert "InvalidRequestException" in err and field in err, err
    st, body = call(cluster.admin_url, "GET",
                    "/strata/trace/a%01b?seconds=1",
                    auth="Bearer " + cluster.admin_token)
    assert st == 400 and body["field"] == "clientId", body
    st, body = call(cluster.admin_url, "GET", "/strata/trace/" + "x" * 129,
                    auth="Bearer " + cluster.admin_token)
    assert st == 400 and body["field"] == "clientId", body
    st, body = call(cluster.admin_url, "GET",
                    "/strata/trace/abc?seconds=ten",
                    auth="Bearer " + cluster.admin_token)
    assert st == 400 and body["field"] == "seconds", body


def test_rate_limit_reports_dropped_events(cluster):
    """1500 PINGREQs written at once make 3000 events within a second:
    1000 a second are published, the rest counted and reported in a
    "dropped" line before the next event that passes; nothing is lost
    from the count."""
    import rawmqtt
    cid = "burst-" + os.urandom(6).hex()
    p, lines, reader = start_trace(cluster, cid, 5)
    wait_for(lambda: traced_everywhere(cluster), what="trace registered")
    raw = rawmqtt.RawClient(cluster.host, cluster.mqtt_ports[1])
    raw.send(rawmqtt.connect(cid))
    assert raw.recv().type == rawmqtt.CONNACK
    n = 1500
    raw.send(rawmqtt.pingreq() * n)
    for _ in range(n):
        assert raw.recv().type == rawmqtt.PINGRESP
    time.sleep(1.1)
    raw.send(rawmqtt.pingreq())
    assert raw.recv().type == rawmqtt.PINGRESP
    raw.send(rawmqtt.disconnect())
    raw.close()
    assert p.wait(20) == 0, p.stderr.read()
    reader.join(5)
    pings = [x for x in lines if x["event"] == "packet"]
    assert len(pings) <= 2 * 1000   # at most two windows' worth
    dropped = sum(x["count"] for x in lines if x["event"] == "dropped")
    assert dropped >= 1000, dropped
    # PINGREQ and PINGRESP each, and the DISCONNECT in
    assert len(pings) + dropped == 2 * (n + 1) + 1
    assert lines[-2]["event"] == "disconnect"
    assert lines[-2]["reason"] == "CLIENT_INITIATED_DISCONNECT"
