"""The rules engine end to end: topic rules created through the admin API
(and stratactl), run by strata-rulesd on messages published by Paho, with
real targets started here: a Redis server, a small HTTP server, the
cluster's file directory, and republish to MQTT subscribers.  Templates,
the errorAction on a target that is down, republish loops refused, Basic
Ingest, live changes (disable, enable, replace), and two rulesd instances
evaluating each message once (docs/internals/rulesd.md)."""

import base64
import http.server
import json
import os
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

import pytest

import conftest
import daemons
import mqttc
from mqttc import V5

BIN = os.environ.get("STRATA_BIN_DIR") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "bin")


def rule_name():
    return "r_" + uuid.uuid4().hex[:10]


def admin(cluster, method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(
        cluster.admin_url + path, data=data, method=method,
        headers={"Authorization": "Bearer " + cluster.admin_token,
                 "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            text = r.read()
            return r.status, json.loads(text) if text.strip() else None
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def wait_for(pred, timeout=5.0, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        assert time.monotonic() < deadline, "timed out waiting for " + what
        time.sleep(0.05)


def rule_metric(cluster, name, rule, port=None):
    return daemons.metric(port or cluster.rulesd_metrics_ports[0], name,
                          'rule="%s"' % rule)


class Rules:
    """Rules made by one test, deleted after it."""

    def __init__(self, cluster):
        self.c = cluster
        self.names = []

    def create(self, sql, actions=(), error_action=None, name=None,
               disabled=False):
        name = name or rule_name()
        payload = {"sql": sql, "actions": list(actions),
                   "ruleDisabled": disabled,
                   "awsIotSqlVersion": "2016-03-23"}
        if error_action is not None:
            payload["errorAction"] = error_action
        status, doc = admin(self.c, "POST", "/rules/" + name, payload)
        assert status == 200, (status, doc)
        self.names.append(name)
        return name

    def wait_running(self, name, port=None):
        """Until rulesd has subscribed the rule (its metric series
        exist once it is loaded; the SUBACK follows within a round
        trip)."""
        port = port or self.c.rulesd_metrics_ports[0]

        def loaded():
            with urllib.request.urlopen("http://127.0.0.1:%d/metrics" %
                                        port, timeout=2) as r:
                return ('rule="%s"' % name) in r.read().decode()
        wait_for(loaded, what="rule %s loaded" % name)
        time.sleep(0.2)

    def cleanup(self):
        for n in self.names:
            admin(self.c, "DELETE", "/rules/" + n)


@pytest.fixture
def rules(cluster):
    r = Rules(cluster)
    yield r
    r.cleanup()


@pytest.fixture(scope="module")
def target_redis(tmp_path_factory):
    """A plain Redis server of the test's own: the redis action's target."""
    port = daemons.free_port()
    d = str(tmp_path_factory.mktemp("target-redis"))
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1",
         "--save", "", "--appendonly", "no", "--dir", d],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    daemons.wait_port(port, proc)
    yield port
    proc.terminate()
    proc.wait(10)


def redis_cmd(port, *args):
    out = subprocess.run(["redis-cli", "-p", str(port)] + [str(a) for a in
                                                           args],
                         stdout=subprocess.PIPE, timeout=10, check=True)
    return out.stdout.decode()


class HttpTarget:
    """A local HTTP server recording POSTs; status says what it answers.
    A topic rule destination's confirmation request goes to
    confirmations, and (auto_confirm) its enableUrl is followed, as the
    owner of a web service confirms on AWS."""

    def __init__(self, auto_confirm=True):
        self.bodies = []
        self.confirmations = []
        self.status = 200
        self.auto_confirm = auto_confirm
        target = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                record = (self.path, dict(self.headers), self.rfile.read(n))
                if self.headers.get("x-amz-rules-engine-message-type") == \
                        "DestinationConfirmation":
                    target.confirmations.append(record)
                    if target.auto_confirm:
                        urllib.request.urlopen(json.loads(record[2])[
                            "enableUrl"], timeout=5).read()
                else:
                    target.bodies.append(record)
                self.send_response(target.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                                      Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def create_destination(cluster, url):
    status, doc = admin(cluster, "POST", "/destinations", {
        "destinationConfiguration": {"httpUrlConfiguration": {
            "confirmationUrl": url}}})
    assert status == 200, (status, doc)
    return doc["topicRuleDestination"]["arn"]


def destination_status(cluster, arn):
    status, doc = admin(cluster, "GET", "/destinations/" +
                        urllib.parse.quote(arn, safe=""))
    assert status == 200, (status, doc)
    return doc["topicRuleDestination"]["status"]


def confirmed_destination(cluster, url):
    """A destination for url, confirmed by its server (an HttpTarget
    with auto_confirm) and loaded by rulesd."""
    arn = create_destination(cluster, url)
    wait_for(lambda: destination_status(cluster, arn) == "ENABLED",
             what="destination confirmed")
    time.sleep(0.2)   # rulesd reloads on the change message
    return arn


def delete_destination(cluster, arn):
    admin(cluster, "DELETE", "/destinations/" +
          urllib.parse.quote(arn, safe=""))


@pytest.fixture(scope="module")
def http_target(cluster):
    t = HttpTarget()
    arn = confirmed_destination(cluster, "http://127.0.0.1:%d" % t.port)
    yield t
    delete_destination(cluster, arn)
    t.close()


def client(cluster, client_id=None):
    c = mqttc.Client(V5, client_id=client_id)
    c.connect(cluster.host, cluster.mqtt_ports[0])
    return c


def test_temperature_rule_to_redis_stream_and_http(cluster, rules,
                                                   target_redis,
                                                   http_target):
    """The README's rule: only hot readings reach the stream and the
    endpoint, reshaped (temperature and the device from the topic)."""
    stream = "temps-" + uuid.uuid4().hex[:6]
    name = rules.create(
        "SELECT temperature, topic(2) AS device FROM 'factory/+/data' "
        "WHERE temperature > 30",
        [{"redis": {"url": "redis://127.0.0.1:%d" % target_redis,
                    "command": "XADD", "key": stream}},
         {"http": {"url": "http://127.0.0.1:%d/hook/${topic(2)}" %
                   http_target.port,
                   "headers": [{"key": "x-device",
                                "value": "${topic(2)}"}]}}])
    rules.wait_running(name)
    before = len(http_target.bodies)
    c = client(cluster)
    try:
        c.publish("factory/d1/data", b'{"temperature": 25}', qos=1)
        c.publish("factory/d2/data", b'{"temperature": 35, "x": 1}', qos=1)
    finally:
        c.close()
    wait_for(lambda: len(http_target.bodies) >= before + 1, what="POST")
    path, headers, body = http_target.bodies[before]
    assert path == "/hook/d2" and headers.get("x-device") == "d2"
    assert json.loads(body) == {"temperature": 35, "device": "d2"}
    entries = wait_for(lambda: redis_cmd(target_redis, "XRANGE", stream,
                                         "-", "+").strip(), what="XADD")
    assert '"device":"d2"' in entries and "d1" not in entries
    time.sleep(0.3)
    assert len(http_target.bodies) == before + 1
    assert rule_metric(cluster, "strata_rulesd_where_false_total",
                       name) == 1
    assert rule_metric(cluster, "strata_rulesd_actions_ok_total",
                       name) == 2


def test_republish_with_templates_and_properties(cluster, rules):
    """republish: a topic from the message, QoS 1, MQTT 5 user
    properties rendered per message; clientid() is the publisher's."""
    tag = uuid.uuid4().hex[:6]
    name = rules.create(
        "SELECT *, upper(kind) AS k, clientid() AS cid "
        "FROM 'rp-%s/+/in'" % tag,
        [{"republish": {"topic": "rp-%s/out/${topic(2)}" % tag, "qos": 1,
                        "headers": {"contentType": "application/json",
                                    "userProperties": [
                                        {"key": "src",
                                         "value": "${topic()}"}]}}}])
    rules.wait_running(name)
    sub = client(cluster)
    pub = client(cluster, "dev7-" + tag)
    try:
        sub.subscribe("rp-%s/out/#" % tag, qos=1)
        pub.publish("rp-%s/dev7/in" % tag, b'{"kind": "door"}', qos=1)
        m = sub.get(topic="rp-%s/out/dev7" % tag)
        assert json.loads(m.payload) == {"kind": "door", "k": "DOOR",
                                         "cid": "dev7-" + tag}
        props = m.properties
        assert props.ContentType == "application/json"
        assert ("src", "rp-%s/dev7/in" % tag) in props.UserProperty
        # the core's note of the publisher never leaves rulesd
        assert not [k for k, _ in props.UserProperty
                    if k.startswith("$strata/")]
    finally:
        sub.close()
        pub.close()


def test_republish_loop_refused_and_error_action(cluster, rules):
    """A rule republishing into its own FROM filter is refused; the
    errorAction gets AWS's error payload."""
    tag = uuid.uuid4().hex[:6]
    name = rules.create(
        "SELECT * FROM 'loop-%s/#'" % tag,
        [{"republish": {"topic": "loop-%s/again" % tag}}],
        error_action={"republish": {"topic": "errors-%s" % tag,
                                    "qos": 1}})
    rules.wait_running(name)
    sub = client(cluster)
    pub = client(cluster)
    try:
        sub.subscribe("errors-%s" % tag, qos=1)
        sub.subscribe("loop-%s/#" % tag, qos=1)
        pub.publish("loop-%s/a" % tag, b'{"v": 1}', qos=1)
        err = json.loads(sub.get(topic="errors-%s" % tag).payload)
        assert err["ruleName"] == name
        assert err["topic"] == "loop-%s/a" % tag
        assert base64.b64decode(err["base64OriginalPayload"]) == b'{"v": 1}'
        f = err["failures"][0]
        assert f["failedAction"] == "RepublishAction"
        assert "loop" in f["errorMessage"]
        assert not [m for m in sub.drain(0.3)
                    if m.topic == "loop-%s/again" % tag]
    finally:
        sub.close()
        pub.close()
    assert daemons.metric(cluster.rulesd_metrics_ports[0],
                          "strata_rulesd_republish_loops_total") >= 1


def test_error_action_when_http_target_is_down(cluster, rules):
    """An http action to a port nobody listens on fails after its
    retries; the errorAction republishes the failure."""
    tag = uuid.uuid4().hex[:6]
    gone = HttpTarget()     # confirmed, then stopped: the target is down
    dead = gone.port
    arn = confirmed_destination(cluster, "http://127.0.0.1:%d" % dead)
    gone.close()
    name = rules.create(
        "SELECT * FROM 'down-%s'" % tag,
        [{"http": {"url": "http://127.0.0.1:%d/x" % dead, "retries": 1,
                   "timeoutMs": 500}}],
        error_action={"republish": {"topic": "down-errors-%s" % tag}})
    rules.wait_running(name)
    sub = client(cluster)
    pub = client(cluster)
    try:
        sub.subscribe("down-errors-%s" % tag, qos=1)
        pub.publish("down-%s" % tag, b'{"n": 5}', qos=1)
        err = json.loads(sub.get(topic="down-errors-%s" % tag,
                                 timeout=15).payload)
        f = err["failures"][0]
        assert f["failedAction"] == "HttpAction"
        assert str(dead) in f["failedResource"]
        assert err["cloudwatchTraceId"]
    finally:
        sub.close()
        pub.close()
    assert rule_metric(cluster, "strata_rulesd_actions_failed_total",
                       name) == 1
    assert rule_metric(cluster, "strata_rulesd_error_actions_total",
                       name) == 1
    assert "Could not connect" in f["errorMessage"]
    delete_destination(cluster, arn)


def test_http_destination_confirmation(cluster, rules):
    """AWS's flow end to end: an http action posts nothing before its url
    has a destination, nor while the destination is IN_PROGRESS (the
    errorAction gets the failure); the confirmation request reaches the
    server (AWS's path, headers and body), which follows the enableUrl;
    then the action delivers; a DISABLED destination stops it again."""
    tag = uuid.uuid4().hex[:6]
    t = HttpTarget(auto_confirm=False)
    url = "http://127.0.0.1:%d/in-%s" % (t.port, tag)
    name = rules.create(
        "SELECT n FROM 'dest-%s'" % tag, [{"http": {"url": url + "/x"}}],
        error_action={"republish": {"topic": "dest-err-%s" % tag}})
    rules.wait_running(name)
    sub = client(cluster)
    pub = client(cluster)
    arn = None
    try:
        sub.subscribe("dest-err-%s" % tag, qos=1)

        def failure(n):
            pub.publish("dest-%s" % tag, b'{"n": %d}' % n, qos=1)
            err = json.loads(sub.get(topic="dest-err-%s" % tag,
                                     timeout=5).payload)
            return err["failures"][0]
        f = failure(1)
        assert f["failedAction"] == "HttpAction"
        assert f["failedResource"] == url + "/x"
        assert "No topic rule destination covers" in f["errorMessage"]
        arn = create_destination(cluster, url)
        wait_for(lambda: t.confirmations, what="confirmation request")
        path, headers, body = t.confirmations[0]
        doc = json.loads(body)
        assert path == "/in-%s/?confirmationToken=%s" % (
            tag, doc["confirmationToken"])
        assert headers["x-amz-rules-engine-destination-arn"] == arn
        assert headers["Content-Type"] == "application/json"
        assert doc["arn"] == arn and doc["messageType"] == \
            "DestinationConfirmation"
        assert doc["enableUrl"].endswith(
            "/confirmdestination/" + doc["confirmationToken"])
        assert "IN_PROGRESS, not ENABLED" in failure(2)["errorMessage"]
        assert not t.bodies
        urllib.request.urlopen(doc["enableUrl"], timeout=5).read()
        assert destination_status(cluster, arn) == "ENABLED"
        time.sleep(0.2)
        pub.publish("dest-%s" % tag, b'{"n": 3}', qos=1)
        wait_for(lambda: t.bodies, what="POST after confirmation")
        assert t.bodies[0][0] == "/in-%s/x" % tag
        assert json.loads(t.bodies[0][2]) == {"n": 3}
        status, _ = admin(cluster, "PATCH", "/destinations",
                          {"arn": arn, "status": "DISABLED"})
        assert status == 200
        time.sleep(0.2)
        assert "DISABLED, not ENABLED" in failure(4)["errorMessage"]
        assert len(t.bodies) == 1
    finally:
        sub.close()
        pub.close()
        if arn:
            delete_destination(cluster, arn)
        t.close()
    port = cluster.rulesd_metrics_ports[0]
    for reason in ("none", "not_enabled"):
        assert daemons.metric(port, "strata_rulesd_http_destination_"
                              "refused_total", 'reason="%s"' % reason) >= 1


def test_basic_ingest(cluster, rules):
    """$aws/rules/<rule>/...: the rule alone gets it, topic() without the
    prefix; no client may subscribe there."""
    tag = uuid.uuid4().hex[:6]
    name = rules.create(
        "SELECT topic() AS t, v FROM 'bi-%s/#'" % tag,
        [{"republish": {"topic": "bi-out-%s" % tag}}])
    rules.wait_running(name)
    sub = client(cluster)
    pub = client(cluster)
    try:
        sub.subscribe("$aws/rules/%s/#" % name, qos=1, expect=0x87)
        sub.subscribe("bi-out-%s" % tag, qos=1)
        sub.subscribe("bi-%s/#" % tag, qos=1)
        pub.publish("$aws/rules/%s/bi-%s/x" % (name, tag), b'{"v": 3}',
                    qos=1)
        m = sub.get(topic="bi-out-%s" % tag)
        assert json.loads(m.payload) == {"t": "bi-%s/x" % tag, "v": 3}
        assert not [m for m in sub.drain(0.3)
                    if m.topic.startswith("bi-%s/" % tag)]
    finally:
        sub.close()
        pub.close()


def test_rule_changes_apply_live(cluster, rules):
    """disable, enable and replace apply without restart, within a
    second."""
    tag = uuid.uuid4().hex[:6]
    out = "live-out-%s" % tag
    name = rules.create("SELECT v FROM 'live-%s' WHERE v > 1" % tag,
                        [{"republish": {"topic": out}}])
    rules.wait_running(name)
    sub = client(cluster)
    pub = client(cluster)
    try:
        sub.subscribe(out, qos=1)
        pub.publish("live-%s" % tag, b'{"v": 2}', qos=1)
        assert json.loads(sub.get(topic=out).payload) == {"v": 2}
        assert admin(cluster, "POST", "/rules/%s/disable" % name)[0] == 200
        time.sleep(0.5)
        pub.publish("live-%s" % tag, b'{"v": 3}', qos=1)
        assert not [m for m in sub.drain(0.5) if m.topic == out]
        assert admin(cluster, "POST", "/rules/%s/enable" % name)[0] == 200
        time.sleep(0.5)
        pub.publish("live-%s" % tag, b'{"v": 4}', qos=1)
        assert json.loads(sub.get(topic=out).payload) == {"v": 4}
        status, _ = admin(cluster, "PATCH", "/rules/" + name, {
            "sql": "SELECT v * 10 AS w FROM 'live-%s'" % tag,
            "actions": [{"republish": {"topic": out}}]})
        assert status == 200
        time.sleep(0.5)
        pub.publish("live-%s" % tag, b'{"v": 1}', qos=1)
        assert json.loads(sub.get(topic=out).payload) == {"w": 10}
    finally:
        sub.close()
        pub.close()


def test_file_action(cluster, rules):
    """file: one JSON line per message under the cluster's file
    directory."""
    path = "out-%s.jsonl" % uuid.uuid4().hex[:6]
    name = rules.create("SELECT n FROM 'file-%s'" % path[4:10],
                        [{"file": {"path": path}}])
    rules.wait_running(name)
    pub = client(cluster)
    try:
        for n in range(3):
            pub.publish("file-%s" % path[4:10], json.dumps({"n": n}).encode(),
                        qos=1)
    finally:
        pub.close()
    full = os.path.join(cluster.rules_file_dir, path)
    lines = wait_for(lambda: os.path.exists(full) and
                     open(full).read().count("\n") == 3 and
                     open(full).read().splitlines(), what="3 lines")
    assert [json.loads(line) for line in lines] == [{"n": 0}, {"n": 1},
                                                     {"n": 2}]


def test_two_rulesd_evaluate_each_message_once():
    """Two instances share each rule's group: every message is
    republished exactly once, and both did some of the work."""
    with conftest.start_cluster("rules_cluster", brokers=1, routers=1,
                                rulesd=2) as c:
        tag = uuid.uuid4().hex[:6]
        name = rule_name()
        status, _ = admin(c, "POST", "/rules/" + name, {
            "sql": "SELECT i FROM 'two-%s'" % tag,
            "actions": [{"republish": {"topic": "two-out-%s" % tag,
                                       "qos": 1}}]})
        assert status == 200
        r = Rules(c)
        for port in c.rulesd_metrics_ports:
            r.wait_running(name, port)
        sub = client(c)
        pub = client(c)
        try:
            sub.subscribe("two-out-%s" % tag, qos=1)
            for i in range(100):
                pub.publish("two-%s" % tag, json.dumps({"i": i}).encode(),
                            qos=1)
            got = [json.loads(sub.get(topic="two-out-%s" % tag).payload)[
                "i"] for _ in range(100)]
            assert sorted(got) == list(range(100))
            assert not [m for m in sub.drain(0.5)
                        if m.topic == "two-out-%s" % tag]
        finally:
            sub.close()
            pub.close()
        counts = [rule_metric(c, "strata_rulesd_matched_total", name, p)
                  for p in c.rulesd_metrics_ports]
        assert sum(counts) == 100 and all(n > 0 for n in counts), counts


def test_readme_rule_walkthrough_runs(cluster, tmp_path):
    """The README's rules walk-through, run as written (its Redis and
    hook on free ports, a rule name of its own): one stream entry and one
    POST, for the hot reading only."""
    redis_port, hook_port = daemons.free_port(), daemons.free_port()
    name = rule_name()
    try:
        out = conftest.run_readme_block(
            cluster, "## Rules: from device", tmp_path,
            [("6390", str(redis_port)), ("8090", str(hook_port)),
             ("hot_readings", name),
             ("factory/", "factory-%s/" % name),
             ("'factory/+/data'", "'factory-%s/+/data'" % name)])
    finally:
        admin(cluster, "DELETE", "/rules/" + name)
    assert out.count('"device":"press-2"') == 2, out
    assert "press-1" not in out, out
    assert "/alerts/press-2" in out, out


def test_get_thing_shadow_reads_strata_shadows(cluster, rules):
    """get_thing_shadow(thing, roleArn) reads the shadow strata-shadowd
    keeps (as get/accepted shows it); an unknown thing is Undefined."""
    tag = uuid.uuid4().hex[:6]
    thing = "gts-thing-" + tag
    c = client(cluster)
    try:
        c.subscribe("$aws/things/%s/shadow/update/accepted" % thing, qos=1)
        c.publish("$aws/things/%s/shadow/update" % thing,
                  b'{"state": {"desired": {"mode": "eco"}}}', qos=1)
        c.get(topic="$aws/things/%s/shadow/update/accepted" % thing)
        name = rules.create(
            "SELECT get_thing_shadow(topic(2), "
            "'arn:aws:iam::000000000000:role/r').state.desired.mode AS mode,"
            " v FROM 'gts-%s/+/ev'" % tag,
            [{"republish": {"topic": "gts-out-%s" % tag}}])
        rules.wait_running(name)
        c.subscribe("gts-out-%s" % tag, qos=1)
        c.publish("gts-%s/%s/ev" % (tag, thing), b'{"v": 1}', qos=1)
        assert json.loads(c.get(topic="gts-out-%s" % tag).payload) == {
            "mode": "eco", "v": 1}
        c.publish("gts-%s/no-such-thing/ev" % tag, b'{"v": 2}', qos=1)
        assert json.loads(c.get(topic="gts-out-%s" % tag).payload) == {
            "v": 2}
    finally:
        c.close()
