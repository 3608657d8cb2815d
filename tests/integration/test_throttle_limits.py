"""Throttle limits of thing groups and thing types (Strata's own admin
operations, docs/internals/throttle.md) applied to real TLS devices
(Paho, a registered thing each), and the connect rate per client id
counted across the cluster (throttle-connect-scope).

The module runs its own two-broker cluster with the broker options at
AWS IoT's defaults (100 publishes/s per connection, one CONNECT per
second per client id) and throttle-disconnect-after 60, so that the
repeated measures of a slowed client never reach it.  A client is
"slowed" when 15 QoS 1 publishes of MQTT 3.1.1 (which the broker slows
rather than refuses) take at least 1.2 s to be acknowledged: at 5/s,
the burst of 5 and then 10 at 5/s take 2 s; at 100/s they go at once."""

import json
import time
import uuid

import pytest

import daemons
import rawmqtt
import conftest
import mqttc
from mqttc import V311, V5
from test_admin_authz import admin, call, make_user, ok, sign
from test_registry import ARN, allow, closing, ctl, new_device  # noqa
from test_registry import tls_client
from test_thing_groups import err, uniq

N = 15


@pytest.fixture(scope="module")
def lcluster():
    env = {"STRATA_THROTTLE_PUBLISH_RATE": "100",
           "STRATA_THROTTLE_CONNECT_CLIENT_RATE": "1",
           "STRATA_THROTTLE_DISCONNECT_AFTER": "60"}
    with conftest.start_cluster("lcluster", brokers=2, env=env) as c:
        yield c


def publish_time(client, n=N):
    """Seconds until n QoS 1 publishes written at once are acknowledged."""
    topic = mqttc.unique("lim")
    start = time.monotonic()
    infos = [client.paho.publish(topic, b"%d" % i, 1) for i in range(n)]
    for info in infos:
        info.wait_for_publish(15)
        assert info.is_published()
    return time.monotonic() - start


def slowed(client):
    time.sleep(1.1)  # a full bucket whatever came before
    return publish_time(client) >= 1.2


def device(c, tmp_path, closing, broker=0, thing_type=None, groups=(),
           client_id=None, dev=None):
    """A registered thing with a certificate allowed everything, in
    groups, connected over TLS with MQTT 3.1.1: (client, thing, dev)."""
    if dev is None:
        name = uniq("lim")
        dev = new_device(c, tmp_path, name, [allow("iot:*", "*")],
                         thing=name)
        dev.thing = name
        if thing_type is not None:
            ctl(c, "update-thing", "--thing-name", name,
                "--thing-type-name", thing_type)
        for g in groups:
            ctl(c, "add-thing-to-thing-group", "--thing-group-name", g,
                "--thing-name", name)
    cl = tls_client(c, V311, dev.cert, dev.key,
                    client_id=client_id or dev.thing, broker=broker)
    closing(cl)
    return cl, dev.thing, dev


def group(c, parent=None):
    name = uniq("lg")
    args = ["create-thing-group", "--thing-group-name", name]
    if parent:
        args += ["--parent-group-name", parent]
    ctl(c, *args)
    return name


def set_limits(c, flag, name, **limits):
    args = ["set-throttle-limits", flag, name]
    for k, v in limits.items():
        args += ["--" + k.replace("_", "-"), str(v)]
    return ctl(c, *args)


def until(pred, timeout=15):
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            return False
    return True


def test_group_limit_slows_its_things_only(lcluster, tmp_path, closing):
    """A thing in a group with publishRate 5 is slowed to 5/s (every
    publish acknowledged, none lost) while a thing in no group publishes
    at the broker's 100/s; both are counted in the throttle metric."""
    c = lcluster
    g = group(c)
    out = set_limits(c, "--thing-group-name", g, publish_rate=5)
    assert out == {"targetType": "THING_GROUP", "targetName": g,
                   "targetArn": "%s:thinggroup/%s" % (ARN, g),
                   "publishRate": 5}
    before = daemons.metric(c.broker_metrics_ports[0],
                            "strata_broker_throttled_total",
                            'reason="publish_rate"')
    limited, _, _ = device(c, tmp_path, closing, groups=[g])
    free, _, _ = device(c, tmp_path, closing)
    took = publish_time(limited)
    assert 1.2 <= took <= 4.5, took
    assert publish_time(free) < 0.8
    assert daemons.metric(c.broker_metrics_ports[0],
                          "strata_broker_throttled_total",
                          'reason="publish_rate"') > before


def test_type_limit_and_group_override(lcluster, tmp_path, closing):
    """A thing type's publishRate 5 slows its things; a group's 100
    beats it (any group value beats the type's) as soon as the thing is
    added to the group, live; removed again, the type's applies."""
    c = lcluster
    tt = uniq("lt")
    ctl(c, "create-thing-type", "--thing-type-name", tt)
    set_limits(c, "--thing-type-name", tt, publish_rate=5)
    got = ctl(c, "get-throttle-limits", "--thing-type-name", tt)
    assert got["targetType"] == "THING_TYPE" and got["publishRate"] == 5
    cl, thing, _ = device(c, tmp_path, closing, thing_type=tt)
    assert slowed(cl)
    g = group(c)
    set_limits(c, "--thing-group-name", g, publish_rate=100)
    ctl(c, "add-thing-to-thing-group", "--thing-group-name", g,
        "--thing-name", thing)
    assert until(lambda: not slowed(cl))
    ctl(c, "remove-thing-from-thing-group", "--thing-group-name", g,
        "--thing-name", thing)
    assert until(lambda: slowed(cl))
    # the type's limits removed: the broker's option again
    ctl(c, "delete-throttle-limits", "--thing-type-name", tt)
    assert until(lambda: not slowed(cl))
    assert cl.paho.is_connected()


def test_live_change_on_every_broker(lcluster, tmp_path, closing):
    """Changing a group's limits reaches the live connections of its
    things on both brokers without a reconnect; deleting them gives the
    broker's option back."""
    c = lcluster
    g = group(c)
    set_limits(c, "--thing-group-name", g, publish_rate=100)
    first, thing, dev = device(c, tmp_path, closing, groups=[g])
    second, _, _ = device(c, tmp_path, closing, broker=1, dev=dev,
                          client_id=thing + "-b1")
    assert not slowed(first) and not slowed(second)
    set_limits(c, "--thing-group-name", g, publish_rate=5)
    assert until(lambda: slowed(first))
    assert until(lambda: slowed(second))
    ctl(c, "delete-throttle-limits", "--thing-group-name", g)
    assert until(lambda: not slowed(first))
    assert until(lambda: not slowed(second))
    e = ctl(c, "get-throttle-limits", "--thing-group-name", g, expect=254)
    assert "(ResourceNotFoundException)" in e and "no throttle limits" in e


def test_parent_group_and_hierarchies(lcluster, tmp_path, closing):
    """A parent group's limit applies to a thing of its child; the
    child's own value beats the parent's even when larger; across two
    hierarchies the smaller value wins; 0 is no limit and counts as the
    largest."""
    c = lcluster
    parent = group(c)
    child = group(c, parent=parent)
    other = group(c)
    set_limits(c, "--thing-group-name", parent, publish_rate=5)
    cl, thing, _ = device(c, tmp_path, closing, groups=[child])
    assert slowed(cl)
    set_limits(c, "--thing-group-name", child, publish_rate=1000)
    assert until(lambda: not slowed(cl))
    # a second hierarchy with 5: the smaller wins
    set_limits(c, "--thing-group-name", other, publish_rate=5)
    ctl(c, "add-thing-to-thing-group", "--thing-group-name", other,
        "--thing-name", thing)
    assert until(lambda: slowed(cl))
    # 0 (no limit) in the child and 5 elsewhere: 5
    set_limits(c, "--thing-group-name", child, publish_rate=0)
    assert slowed(cl)
    ctl(c, "delete-throttle-limits", "--thing-group-name", other)
    assert until(lambda: not slowed(cl))
    listed = ctl(c, "list-throttle-limits")["throttleLimits"]
    mine = {x["targetName"]: x for x in listed
            if x["targetName"] in (parent, child, other)}
    assert mine == {
        parent: {"targetType": "THING_GROUP", "targetName": parent,
                 "targetArn": "%s:thinggroup/%s" % (ARN, parent),
                 "publishRate": 5},
        child: {"targetType": "THING_GROUP", "targetName": child,
                "targetArn": "%s:thinggroup/%s" % (ARN, child),
                "publishRate": 0}}


def test_group_disconnect_after(lcluster, tmp_path, closing):
    """A group's disconnectAfterSeconds 2 with publishRate 5: a 3.1.1
    client that keeps publishing over it is closed after about 2 s held
    at the limit (the broker's option is 60)."""
    c = lcluster
    g = group(c)
    set_limits(c, "--thing-group-name", g, publish_rate=5,
               disconnect_after_seconds=2)
    cl, _, _ = device(c, tmp_path, closing, groups=[g])
    topic = mqttc.unique("lim")
    start = time.monotonic()
    for i in range(100):
        cl.paho.publish(topic, b"%d" % i, 0)
    cl.wait_disconnected(timeout=10)
    took = time.monotonic() - start
    assert 1.5 <= took <= 6, took


def test_errors_and_pages(lcluster):
    """Bad input gets AWS-shaped errors naming the field, and changes
    nothing; an unknown group or type is 404; pages of the list."""
    c = lcluster
    g = group(c)
    path = "/strata/throttle-limits/thing-groups/" + g
    for body, field in [({"publishRate": "5"}, "publishRate"),
                        ({"publishRate": -1}, "publishRate"),
                        ({"publishRate": 1.5}, "publishRate"),
                        ({"subscribeRate": 1000001}, "subscribeRate"),
                        ({"inboundBytesPerSecond": 10 ** 10},
                         "inboundBytesPerSecond"),
                        ({"disconnectAfterSeconds": 86401},
                         "disconnectAfterSeconds"),
                        ({"publishrate": 5}, "publishrate"),
                        ({}, "publishRate")]:
        m = err(admin(c, "PUT", path, body), 400,
                "InvalidRequestException")
        assert field in m, (body, m)
    err(admin(c, "PUT", path, None), 400, "InvalidRequestException")
    err(admin(c, "GET", path), 404, "ResourceNotFoundException")
    m = err(admin(c, "PUT", "/strata/throttle-limits/thing-groups/" +
                  uniq("none"), {"publishRate": 5}),
            404, "ResourceNotFoundException")
    assert "thing group" in m and "does not exist" in m
    err(admin(c, "PUT", "/strata/throttle-limits/thing-types/" +
              uniq("none"), {"publishRate": 5}),
        404, "ResourceNotFoundException")
    err(admin(c, "DELETE", "/strata/throttle-limits/thing-types/" +
              uniq("none")), 404, "ResourceNotFoundException")
    err(admin(c, "PUT", "/strata/throttle-limits/thing-groups/bad%20name",
              {"publishRate": 5}), 400, "InvalidRequestException")
    err(admin(c, "GET", "/strata/throttle-limits?targetType=THING"), 400,
        "InvalidRequestException")
    err(admin(c, "GET", "/strata/throttle-limits?maxResults=0"), 400,
        "InvalidRequestException")
    e = ctl(c, "get-throttle-limits", expect=252)
    assert "--thing-group-name" in e
    # a PUT replaces the whole set; DELETE of a group without any is 200
    ok(admin(c, "PUT", path, {"publishRate": 7, "subscribeRate": 3}))
    got = ok(admin(c, "PUT", path, {"inboundBytesPerSecond": 4096}))
    assert got["inboundBytesPerSecond"] == 4096
    assert "publishRate" not in got and "subscribeRate" not in got
    assert ok(admin(c, "DELETE", path)) == {}
    assert ok(admin(c, "DELETE", path)) == {}
    # pages, sorted by ARN, groups before types
    base = uniq("pg")
    names = []
    for i in range(3):
        ctl(c, "create-thing-group", "--thing-group-name", "%s-%d" %
            (base, i))
        names.append("%s-%d" % (base, i))
        set_limits(c, "--thing-group-name", names[-1], subscribe_rate=i)
    seen, token = [], None
    while True:
        q = "?maxResults=2&targetType=THING_GROUP" + (
            "&nextToken=" + token if token else "")
        page = ok(admin(c, "GET", "/strata/throttle-limits" + q))
        assert len(page["throttleLimits"]) <= 2
        seen += page["throttleLimits"]
        token = page.get("nextToken")
        if token is None:
            break
    arns = [x["targetArn"] for x in seen]
    assert arns == sorted(arns)
    assert [x["subscribeRate"] for x in seen
            if x["targetName"].startswith(base)] == [0, 1, 2]
    # a deleted group takes its limits with it
    ctl(c, "delete-thing-group", "--thing-group-name", names[0])
    listed = ctl(c, "list-throttle-limits", "--target-type",
                 "THING_GROUP")["throttleLimits"]
    assert names[0] not in [x["targetName"] for x in listed]
    assert names[1] in [x["targetName"] for x in listed]


def test_iam_actions(lcluster):
    """A key allowed iot:GetThrottleLimits on one group may read its
    limits but not set them (403 naming iot:SetThrottleLimits and the
    group's ARN), nor read another group's."""
    c = lcluster
    g, other = group(c), group(c)
    for name in (g, other):
        set_limits(c, "--thing-group-name", name, publish_rate=9)
    _, kid, secret = make_user(c, allow("iot:GetThrottleLimits",
                                        "%s:thinggroup/%s" % (ARN, g)))
    path = "/strata/throttle-limits/thing-groups/" + g
    st, out = call(c.admin_url, "GET", path,
                   headers=sign(kid, secret, "GET", path))
    assert st == 200 and out["publishRate"] == 9, out
    body = json.dumps({"publishRate": 1}).encode()
    st, out = call(c.admin_url, "PUT", path, body,
                   headers=sign(kid, secret, "PUT", path, body))
    assert st == 403 and out["error"] == "AccessDeniedException", out
    assert "iot:SetThrottleLimits" in out["message"]
    assert "thinggroup/" + g in out["message"]
    path = "/strata/throttle-limits/thing-groups/" + other
    st, out = call(c.admin_url, "GET", path,
                   headers=sign(kid, secret, "GET", path))
    assert st == 403 and "iot:GetThrottleLimits" in out["message"], out
    assert ok(admin(c, "GET", path))["publishRate"] == 9


# ---- connect rate across the cluster ----

def raw_connect(port, cid, proto):
    conn = rawmqtt.RawClient("127.0.0.1", port, proto)
    return conn, conn.handshake(cid)


@pytest.mark.parametrize("proto", [V311, V5])
def test_connect_rate_across_brokers(lcluster, proto):
    """A client id that reconnects to the other broker within the second
    is refused there (CONNACK 0x9F, 3.1.1 0x03) while its first
    connection stays up (it was not taken over); a second later it
    connects; the refusal took no token."""
    c = lcluster
    cid = "it-lim-" + uuid.uuid4().hex[:8]
    before = daemons.metric(c.broker_metrics_ports[1],
                            "strata_broker_throttled_total",
                            'reason="connect_rate_client"')
    first, ack = raw_connect(c.mqtt_ports[0], cid, proto)
    assert ack.reason == 0
    again, ack = raw_connect(c.mqtt_ports[1], cid, proto)
    assert ack.reason == (0x9F if proto == V5 else 0x03), ack
    again.wait_closed()
    first.send(rawmqtt.pingreq())
    assert first.recv_type(rawmqtt.PINGRESP, timeout=5).type == \
        rawmqtt.PINGRESP
    assert daemons.metric(c.broker_metrics_ports[1],
                          "strata_broker_throttled_total",
                          'reason="connect_rate_client"') == before + 1
    time.sleep(1.1)
    late, ack = raw_connect(c.mqtt_ports[1], cid, proto)
    assert ack.reason == 0
    # the take-over closes the first
    first.wait_closed(timeout=5)
    late.close()


def test_connect_scope_broker(lcluster):
    """On a broker with throttle-connect-scope broker, a client id that
    just connected to another broker is not refused (its bucket there is
    its own); connecting twice to that broker is."""
    c = lcluster
    b = daemons.Broker(c.redis_port, c.join_args() + [
        "--throttle-connect-scope", "broker",
        "--throttle-connect-client-rate", "1"])
    try:
        b.wait_ready()
        cid = "it-lim-" + uuid.uuid4().hex[:8]
        first, ack = raw_connect(c.mqtt_ports[0], cid, V5)
        assert ack.reason == 0
        second, ack = raw_connect(b.port, cid, V5)
        assert ack.reason == 0
        second.send(rawmqtt.disconnect(V5))
        second.close()
        third, ack = raw_connect(b.port, cid, V5)
        assert ack.reason == 0x9F, ack
        third.close()
        first.close()
    finally:
        reports = b.sanitizer_reports()
        assert b.stop() == 0, b.log_text()[-2000:]
        assert not reports, reports
