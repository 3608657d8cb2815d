"""Message metering (docs/internals/metering.md): a known mix of
messages, sent and received by real clients (Paho over TCP and over TLS
as a registered thing, mosquitto_pub), counted in AWS IoT's 5 KB units
per client id, per thing and for the cluster, read back with
`stratactl get-usage` and from the brokers' /metrics."""

import subprocess
import time
import uuid

import daemons
from mqttc import V311, V5, Client, unique
from test_admin_authz import call, make_user
from test_registry import allow, closing, ctl, new_device, tls_client  # noqa: F401
from test_thing_groups import err

ARN = "arn:aws:iot:local:000000000000"


def _span():
    now = int(time.time())
    return str(now - 3600), str(now + 3600)


def usage(cluster, *args):
    start, end = _span()
    return ctl(cluster, "get-usage", "--start", start, "--end", end, *args)


def wait_usage(cluster, args, field, want, timeout=10):
    """get-usage until total[field] reaches want; the last answer."""
    deadline = time.monotonic() + timeout
    while True:
        out = usage(cluster, *args)
        if out["total"][field] >= want or time.monotonic() > deadline:
            return out
        time.sleep(0.2)


def metered(cluster, direction):
    return sum(daemons.metric(p, "strata_broker_metered_messages_total",
                              'direction="%s"' % direction)
               for p in cluster.broker_metrics_ports)


def test_known_mix_per_client_id(cluster):
    """Three small messages, two of 8000 bytes (2 units each) and one of
    12000 (3 units), published by a 3.1.1 client at QoS 1 and received by
    a subscriber on the other broker: 6 messages and 10 units each way,
    and the bytes are the topics' and payloads'."""
    topic = unique("meter") + "/a"
    pub_id = "meter-pub-" + uuid.uuid4().hex[:8]
    sub_id = "meter-sub-" + uuid.uuid4().hex[:8]
    sizes = [100, 100, 100, 8000, 8000, 12000]
    before = metered(cluster, "published")
    sub = Client(V5, client_id=sub_id)
    sub.connect(cluster.host, cluster.mqtt_ports[-1])
    sub.subscribe(topic, 1)
    pub = Client(V311, client_id=pub_id)
    pub.connect(cluster.host, cluster.mqtt_ports[0])
    try:
        for n in sizes:
            pub.publish(topic, b"x" * n, qos=1)
        for _ in sizes:
            sub.get()
        byts = sum(len(topic) + n for n in sizes)
        out = wait_usage(cluster, ["--client-id", pub_id], "published", 6)
        assert out["clientId"] == pub_id
        assert out["total"] == {
            "published": 6, "delivered": 0, "publishedUnits": 10,
            "deliveredUnits": 0, "publishedBytes": byts,
            "deliveredBytes": 0}, out
        assert 1 <= len(out["hours"]) <= 2
        assert all(h["hour"] % 3600 == 0 for h in out["hours"])
        out = wait_usage(cluster, ["--client-id", sub_id], "delivered", 6)
        assert out["total"]["delivered"] == 6, out
        assert out["total"]["deliveredUnits"] == 10, out
        assert out["total"]["published"] == 0, out
        # the broker's own counters count every unit at once
        assert metered(cluster, "published") - before >= 10
        total = usage(cluster)["total"]
        assert total["publishedUnits"] >= 10 and total["delivered"] >= 6
    finally:
        pub.close()
        sub.close()


def test_thing_is_metered_under_its_name(cluster, tmp_path, closing):
    """A registered device over TLS is metered under its client id and its
    thing; an action its policy denies is not a metered message."""
    thing = "meter-thing-" + uuid.uuid4().hex[:8]
    dev = new_device(cluster, tmp_path, thing, [
        allow("iot:Connect", ARN + ":client/" + thing),
        allow(["iot:Publish", "iot:Receive"], ARN + ":topic/m/" + thing),
        allow("iot:Subscribe", ARN + ":topicfilter/m/" + thing)],
        thing=thing)
    c = tls_client(cluster, V5, dev.cert, dev.key, client_id=thing)
    closing(c)
    c.subscribe("m/" + thing, 1)
    c.publish("m/" + thing, b"y" * 6000, qos=1)  # 2 units, comes back
    c.get()
    out = wait_usage(cluster, ["--thing-name", thing], "delivered", 1)
    assert out["thingName"] == thing
    t = out["total"]
    assert (t["published"], t["publishedUnits"], t["delivered"],
            t["deliveredUnits"]) == (1, 2, 1, 2), out
    assert usage(cluster, "--client-id", thing)["total"] == t


def test_mosquitto_pub_counted(cluster):
    """mosquitto_pub's messages, QoS 0, land on its client id."""
    cid = "meter-mosq-" + uuid.uuid4().hex[:8]
    r = subprocess.run(["mosquitto_pub", "-h", cluster.host, "-p",
                        str(cluster.mqtt_ports[0]), "-i", cid, "-t",
                        unique("meter") + "/q", "-m", "z" * 5121],
                       timeout=10)
    assert r.returncode == 0
    out = wait_usage(cluster, ["--client-id", cid], "published", 1)
    assert out["total"]["published"] == 1
    assert out["total"]["publishedUnits"] == 2  # 5121 bytes + topic


def test_errors(cluster):
    auth = "Bearer " + cluster.admin_token
    now = int(time.time())
    url = cluster.admin_url

    def get(q):
        return call(url, "GET", "/strata/usage?" + q, auth=auth)
    assert "startTime" in err(get("endTime=%d" % now), 400,
                              "InvalidRequestException")
    assert "startTime" in err(get("startTime=yesterday&endTime=%d" % now),
                              400, "InvalidRequestException")
    assert "after" in err(get("startTime=%d&endTime=%d" % (now, now)),
                          400, "InvalidRequestException")
    assert "744" in err(get("startTime=%d&endTime=%d" % (
        now - 40 * 86400, now)), 400, "InvalidRequestException")
    assert "not both" in err(get(
        "startTime=%d&endTime=%d&clientId=a&thingName=b" % (now - 60, now)),
        400, "InvalidRequestException")
    assert "thingName" in err(get(
        "startTime=%d&endTime=%d&thingName=a%%20b" % (now - 60, now)),
        400, "InvalidRequestException")
    # a client id never seen: no hours, zeros
    status, body = get("startTime=%d&endTime=%d&clientId=%s" % (
        now - 60, now, unique("never")))
    assert status == 200 and body["hours"] == []
    assert body["total"]["published"] == 0
    # ISO 8601, as the AWS CLI sends times
    status, body = get("startTime=2026-01-01T00:00:00Z&"
                       "endTime=2026-01-01T05:00:00Z")
    assert status == 200 and body["startTime"] == 1767225600
    assert body["endTime"] == 1767225600 + 5 * 3600


def test_iam_action(cluster):
    """GetUsage is Strata's own operation, IAM action iot:GetUsage."""
    now = int(time.time())
    q = "/strata/usage?startTime=%d&endTime=%d" % (now - 60, now)
    _, kid, secret = make_user(cluster, {
        "Effect": "Allow", "Resource": "*", "Action": "iot:Describe*"})
    err(call(cluster.admin_url, "GET", q,
             auth="Bearer %s:%s" % (kid, secret)), 403,
        "AccessDeniedException")
    _, kid, secret = make_user(cluster, {
        "Effect": "Allow", "Resource": "*", "Action": "iot:GetUsage"})
    assert call(cluster.admin_url, "GET", q,
                auth="Bearer %s:%s" % (kid, secret))[0] == 200
