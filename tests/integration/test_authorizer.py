"""The custom authorizer end to end: a small HTTP server started here plays
the authorizer Lambda; a cluster started with authorizer-url pointing at it
lets TLS clients without a certificate (Paho with a CA file only, mosquitto
clients with -u/-P, hand-made packets) and plain TCP clients with a user
name in with the policies it answers, and refuses them on a wrong password,
a malformed answer, an authorizer that is down or too slow.  Every user
name is unique to its test: answers are cached per user name."""

import base64
import json
import os
import socket
import ssl
import subprocess
import threading
import time
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import conftest
import mqttc
import rawmqtt
from mqttc import V311, V5

ARN = "arn:aws:iot:local:000000000000"
TIMEOUT_MS = 1000


def policy(*statements):
    return json.dumps({"Version": "2012-10-17",
                       "Statement": list(statements)})


def allow(actions, *resources):
    return {"Effect": "Allow", "Action": actions,
            "Resource": list(resources)}


class FakeAuthorizer:
    """The authorizer: rules[username](request) -> (status, body, delay);
    an unknown user name gets isAuthenticated false.  Every request body
    is kept in calls."""

    def __init__(self):
        self.lock = threading.Lock()
        self.calls = []
        self.rules = {}
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        self.port = s.getsockname()[1]
        s.close()
        self.server = None
        self.start()

    @property
    def url(self):
        return "http://127.0.0.1:%d/authorize?stage=test" % self.port

    def start(self):
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                req = json.loads(body)
                with outer.lock:
                    outer.calls.append({"path": self.path, "req": req,
                                        "type": self.headers.get(
                                            "Content-Type")})
                    rule = outer.rules.get(req["protocolData"]["mqtt"].get(
                        "username"))
                status, out, delay = (rule(req) if rule else
                                      (200, {"isAuthenticated": False}, 0))
                if delay:
                    time.sleep(delay)
                if not isinstance(out, bytes):
                    out = json.dumps(out).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(out)))
                    self.end_headers()
                    self.wfile.write(out)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the broker gave up waiting

            def log_message(self, *args):
                pass

        class Server(ThreadingHTTPServer):
            request_queue_size = 64  # listen backlog: calls come in bursts

        self.server = Server(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever,
                         daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def calls_of(self, username):
        with self.lock:
            return [c["req"] for c in self.calls
                    if c["req"]["protocolData"]["mqtt"].get("username") ==
                    username]

    def user(self, password, docs, **fields):
        """A new user name, answered as answer() says.  Returns it."""
        name = "u-" + uuid.uuid4().hex[:10]
        self.answer(name, password, docs, **fields)
        return name

    def answer(self, name, password, docs, principal="principal1",
               **fields):
        """From now on user name `name` is answered isAuthenticated true
        with docs when the password matches, false otherwise; fields are
        added to the answer (refreshAfterInSeconds, ...)."""
        answer = dict(isAuthenticated=True, principalId=principal,
                      policyDocuments=list(docs), **fields)

        def rule(req):
            got = req["protocolData"]["mqtt"].get("password")
            ok = got is not None and base64.b64decode(got) == \
                password.encode()
            return 200, answer if ok else {"isAuthenticated": False}, 0
        self.rules[name] = rule

    def raw_user(self, status=200, body=None, delay=0):
        """A new user name answered (status, body) after delay seconds,
        whatever its password."""
        name = "u-" + uuid.uuid4().hex[:10]
        self.rules[name] = lambda req: (status, body, delay)
        return name


@pytest.fixture(scope="module")
def authorizer():
    a = FakeAuthorizer()
    yield a
    a.stop()


@pytest.fixture(scope="module")
def authz_cluster(authorizer):
    env = {"STRATA_AUTHORIZER_URL": authorizer.url,
           "STRATA_AUTHORIZER_TIMEOUT": str(TIMEOUT_MS),
           "STRATA_AUTHORIZER_CACHE_SECONDS": "60",
           "STRATA_AUTHORIZER_TCP": "yes"}
    with conftest.start_cluster("authz_cluster", env=env) as c:
        yield c


@pytest.fixture
def closing():
    made = []
    yield made.append
    for c in made:
        c.close()


def everything_on(base):
    """A policy: connect as az-*, publish, receive and subscribe under
    base/ only."""
    return policy(allow("iot:Connect", "%s:client/az-*" % ARN),
                  allow(["iot:Publish", "iot:Receive"],
                        "%s:topic/%s/*" % (ARN, base)),
                  allow("iot:Subscribe", "%s:topicfilter/%s/*" % (ARN, base)))


def ca_context(cluster):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(cluster.ca_file)
    return ctx


def paho(cluster, protocol, user, password, client_id=None, expect_rc=0,
         broker=0):
    """Paho over TLS with the CA file only (no client certificate)."""
    c = mqttc.Client(protocol, client_id=client_id or
                     "az-" + uuid.uuid4().hex[:8])
    c.paho.tls_set_context(ca_context(cluster))
    c.paho.username_pw_set(user, password)
    c.connect(cluster.host, cluster.mqtts_ports[broker], expect_rc=expect_rc)
    return c


def raw_tls(cluster, version=rawmqtt.V5, sni="localhost"):
    """A RawClient over TLS without a client certificate, sending sni."""
    r = rawmqtt.RawClient(cluster.host, cluster.mqtts_ports[0], version)
    ctx = ca_context(cluster)
    ctx.check_hostname = False
    r.sock = ctx.wrap_socket(r.sock, server_hostname=sni)
    return r


def metric(cluster, name, labels=""):
    text = urllib.request.urlopen(
        "http://%s:%d/metrics" % (cluster.host,
                                  cluster.broker_metrics_ports[0]),
        timeout=5).read().decode()
    total = 0
    for line in text.splitlines():
        if line.startswith(name) and labels in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def refused_code(protocol):
    return 4 if protocol == V311 else 0x86


# ---- what an answer lets a client do ----

@pytest.mark.parametrize("protocol", [V311, V5], ids=["3.1.1", "5"])
def test_allowed_client_gets_its_policies(authz_cluster, authorizer,
                                          protocol, closing):
    base = mqttc.unique("az")
    user = authorizer.user("s3cret", [everything_on(base)])
    c = paho(authz_cluster, protocol, user, "s3cret")
    closing(c)
    c.subscribe("%s/+" % base, qos=1)
    c.subscribe("elsewhere/#", qos=1,
                expect=0x80 if protocol == V311 else 0x87)
    c.publish("%s/x" % base, b"hello", qos=1)
    assert c.get(topic="%s/x" % base).payload == b"hello"
    # iot:Connect is on client/az-*: another client id is refused
    other = mqttc.Client(protocol, client_id="not-az")
    closing(other)
    other.paho.tls_set_context(ca_context(authz_cluster))
    other.paho.username_pw_set(user, "s3cret")
    other.connect(authz_cluster.host, authz_cluster.mqtts_ports[0],
                  expect_rc=5 if protocol == V311 else 0x87)


def test_denials_carry_reason_codes_and_request_shape(authz_cluster,
                                                      authorizer):
    """Hand-made MQTT 5 over TLS with SNI: SUBACK 0x87 and PUBACK 0x87
    outside the policy, and the request the authorizer got is AWS's
    (user name with a token, base64 password, client id, SNI)."""
    base = mqttc.unique("az")
    user = authorizer.user("pw", [everything_on(base)])
    user_q = user + "?x-amz-customauthorizer-name=a&token=tok%2F1"
    authorizer.rules[user_q] = authorizer.rules[user]
    r = raw_tls(authz_cluster)
    try:
        r.send(rawmqtt.connect("az-raw", rawmqtt.V5, username=user_q,
                               password=b"pw"))
        assert r.recv().reason == 0
        r.send(rawmqtt.subscribe([("%s/a" % base, 1), ("other/a", 1)],
                                 packet_id=7, version=rawmqtt.V5))
        assert r.recv_type(rawmqtt.SUBACK).reason == [1, 0x87]
        r.send(rawmqtt.publish("other/a", b"no", qos=1, packet_id=8,
                               version=rawmqtt.V5))
        ack = r.recv_type(rawmqtt.PUBACK)
        assert (ack.packet_id, ack.reason) == (8, 0x87)
        r.send(rawmqtt.publish("%s/a" % base, b"yes", qos=1, packet_id=9,
                               version=rawmqtt.V5))
        got = {}
        for _ in range(2):
            p = r.recv()
            got[p.type] = p
        assert got[rawmqtt.PUBACK].reason in (None, 0)
        assert got[rawmqtt.PUBLISH].payload == b"yes"
    finally:
        r.close()
    req = authorizer.calls_of(user_q)[-1]
    assert req["token"] == "tok/1"
    assert req["signatureVerified"] is False
    assert req["protocols"] == ["tls", "mqtt"]
    assert req["protocolData"]["tls"] == {"serverName": "localhost"}
    assert req["protocolData"]["mqtt"] == {
        "username": user_q, "password": base64.b64encode(b"pw").decode(),
        "clientId": "az-raw"}
    assert len(req["connectionMetadata"]["id"]) == 36
    assert req["connectionMetadata"]["sourceIp"] == "127.0.0.1"
    with authorizer.lock:
        last = authorizer.calls[-1]
    assert last["path"] == "/authorize?stage=test"
    assert last["type"] == "application/json"


@pytest.mark.parametrize("version", [rawmqtt.V311, rawmqtt.V5],
                         ids=["3.1.1", "5"])
def test_packets_behind_the_held_connect(authz_cluster, authorizer,
                                         version):
    """CONNECT and SUBSCRIBE in one write, before the authorizer answered:
    the SUBSCRIBE waits with the CONNECT and is handled after it, on TLS
    and on plain TCP."""
    base = mqttc.unique("az")
    user = authorizer.user("pw", [everything_on(base)])
    for tls in (True, False):
        if tls:
            r = raw_tls(authz_cluster, version)
        else:
            r = rawmqtt.RawClient(authz_cluster.host,
                                  authz_cluster.mqtt_ports[0], version)
        try:
            r.send(rawmqtt.connect("az-" + uuid.uuid4().hex[:6], version,
                                   username=user, password=b"pw") +
                   rawmqtt.subscribe([("%s/q" % base, 1)], packet_id=3,
                                     version=version))
            assert r.recv().reason == 0
            assert r.recv_type(rawmqtt.SUBACK).reason == [1]
        finally:
            r.close()


# ---- refusals ----

@pytest.mark.parametrize("protocol", [V311, V5], ids=["3.1.1", "5"])
def test_wrong_password_refused(authz_cluster, authorizer, protocol,
                                closing):
    user = authorizer.user("right", [everything_on(mqttc.unique("az"))])
    c = paho(authz_cluster, protocol, user, "wrong",
             expect_rc=refused_code(protocol))
    closing(c)
    c = paho(authz_cluster, protocol, user, "right")
    closing(c)


def _mosquitto_pub(cluster, user, password, tls=True, protocol="mqttv5"):
    cmd = ["mosquitto_pub", "-h", cluster.host, "-t",
           mqttc.unique("az") + "/m", "-m", "x", "-q", "1", "-V", protocol,
           "-i", "az-" + uuid.uuid4().hex[:8], "-u", user, "-P", password]
    if tls:
        cmd += ["-p", str(cluster.mqtts_ports[0]), "--cafile",
                cluster.ca_file]
    else:
        cmd += ["-p", str(cluster.mqtt_ports[0])]
    r = subprocess.run(cmd, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=20)
    return r.returncode, r.stdout.decode("utf-8", "replace")


@pytest.mark.parametrize("tls", [True, False], ids=["tls", "tcp"])
@pytest.mark.parametrize("protocol", ["mqttv311", "mqttv5"])
def test_mosquitto_pub_user_password(authz_cluster, authorizer, tls,
                                     protocol):
    """mosquitto_pub -u/-P: TLS with --cafile only, and plain TCP
    (authorizer-tcp)."""
    user = authorizer.user("pa55", [policy(allow("iot:*", "*"))])
    rc, out = _mosquitto_pub(authz_cluster, user, "pa55", tls, protocol)
    assert rc == 0, out
    rc, out = _mosquitto_pub(authz_cluster, user, "nope", tls, protocol)
    assert rc != 0
    assert "bad user name or password" in out.lower() or \
        "not authorised" in out.lower(), out


def test_tcp_without_user_name_is_not_sent_there(authz_cluster, authorizer,
                                                 closing):
    """authorizer-tcp only takes TCP clients that give a user name."""
    before = len(authorizer.calls)
    c = mqttc.Client(V5)
    closing(c)
    c.connect(authz_cluster.host, authz_cluster.mqtt_ports[0])
    topic = mqttc.unique("az") + "/free"
    c.subscribe(topic, 1)
    c.publish(topic, b"1", 1)
    assert c.get(topic=topic).payload == b"1"
    assert len(authorizer.calls) == before


def test_client_certificate_goes_to_the_registry(authz_cluster, authorizer,
                                                 closing):
    """A client with a certificate is the registry's, not the
    authorizer's: the development certificate connects, no call."""
    before = len(authorizer.calls)
    c = mqttc.Client(V5)
    closing(c)
    c.tls(authz_cluster.ca_file, authz_cluster.client_cert,
          authz_cluster.client_key)
    c.connect(authz_cluster.host, authz_cluster.mqtts_ports[0])
    assert len(authorizer.calls) == before


@pytest.mark.parametrize("protocol", [V311, V5], ids=["3.1.1", "5"])
def test_authorizer_down_refuses(authz_cluster, authorizer, protocol,
                                 closing):
    """No fail-open: the endpoint does not listen -> refused, counted."""
    user = authorizer.user("pw", [policy(allow("iot:*", "*"))])
    errors = metric(authz_cluster, "strata_broker_authorizer_calls_total",
                    'result="error"')
    authorizer.stop()
    try:
        c = paho(authz_cluster, protocol, user, "pw",
                 expect_rc=refused_code(protocol))
        closing(c)
    finally:
        authorizer.start()
    assert metric(authz_cluster, "strata_broker_authorizer_calls_total",
                  'result="error"') >= errors + 1
    c = paho(authz_cluster, protocol, user, "pw")
    closing(c)


def test_slow_authorizer_refused_at_the_deadline(authz_cluster, authorizer,
                                                 closing):
    user = authorizer.raw_user(body={"isAuthenticated": True,
                                     "principalId": "late",
                                     "policyDocuments": [
                                         policy(allow("iot:*", "*"))]},
                               delay=TIMEOUT_MS / 1000 + 2)
    t0 = time.monotonic()
    c = paho(authz_cluster, V5, user, "pw", expect_rc=0x86)
    closing(c)
    elapsed = time.monotonic() - t0
    assert TIMEOUT_MS / 1000 - 0.3 < elapsed < TIMEOUT_MS / 1000 + 1.5, \
        elapsed


def test_waiting_does_not_block_the_broker(authz_cluster, authorizer,
                                          closing):
    """Eight CONNECTs against an authorizer that takes 0.4 s each are
    answered together (one HTTP connection per call), and meanwhile a
    client without the authorizer publishes and receives."""
    user = authorizer.raw_user(body={"isAuthenticated": True,
                                     "principalId": "slow",
                                     "policyDocuments": [
                                         policy(allow("iot:*", "*"))]},
                               delay=0.4)
    free = mqttc.Client(V5)
    closing(free)
    free.connect(authz_cluster.host, authz_cluster.mqtt_ports[0])
    topic = mqttc.unique("az") + "/free"
    free.subscribe(topic, 1)
    t0 = time.monotonic()
    raws = [raw_tls(authz_cluster) for _ in range(8)]
    try:
        for i, r in enumerate(raws):
            # a fresh password each: no answer comes from the cache
            r.send(rawmqtt.connect("az-w%d" % i, rawmqtt.V5, username=user,
                                   password=b"pw%d" % i))
        # a loop blocked on one call would take its 0.4 s here
        t1 = time.monotonic()
        free.publish(topic, b"meanwhile", 1)
        assert free.get(topic=topic).payload == b"meanwhile"
        assert time.monotonic() - t1 < 0.3
        for r in raws:
            assert r.recv().reason == 0
        assert time.monotonic() - t0 < 2.0
    finally:
        for r in raws:
            r.close()


def test_client_leaving_while_waiting(authz_cluster, authorizer, closing):
    """A client that hangs up while its CONNECT waits is freed; the call
    goes on and its answer still fills the cache."""
    user = authorizer.raw_user(body={"isAuthenticated": True,
                                     "principalId": "gone",
                                     "policyDocuments": [
                                         policy(allow("iot:*", "*"))]},
                               delay=0.5)
    r = raw_tls(authz_cluster)
    r.send(rawmqtt.connect("az-gone", rawmqtt.V5, username=user,
                           password=b"pw"))
    deadline = time.monotonic() + 5
    while not authorizer.calls_of(user):
        assert time.monotonic() < deadline, "no call"
        time.sleep(0.05)
    r.abort()
    time.sleep(1.0)
    c = paho(authz_cluster, V5, user, "pw")
    closing(c)
    assert len(authorizer.calls_of(user)) == 1  # the second from the cache


BAD_ANSWERS = {
    "not-json": (200, b"{isAuthenticated: true"),
    "no-isAuthenticated": (200, {"principalId": "p", "policyDocuments": []}),
    "isAuthenticated-string": (200, {"isAuthenticated": "true",
                                     "principalId": "p",
                                     "policyDocuments": []}),
    "http-500": (500, {"isAuthenticated": True, "principalId": "p",
                       "policyDocuments": []}),
    "policy-not-compiling": (200, {"isAuthenticated": True,
                                   "principalId": "p",
                                   "policyDocuments": ['{"Statement": 1}']}),
    "policy-not-string": (200, {"isAuthenticated": True, "principalId": "p",
                                "policyDocuments": [{"Version": "x"}]}),
    "principal-not-alphanumeric": (200, {"isAuthenticated": True,
                                         "principalId": "a-b",
                                         "policyDocuments": []}),
    "refresh-zero": (200, {"isAuthenticated": True, "principalId": "p",
                           "refreshAfterInSeconds": 0,
                           "policyDocuments": []}),
    "array": (200, b"[true]"),
}


@pytest.mark.parametrize("case", sorted(BAD_ANSWERS))
def test_malformed_answers_refused(authz_cluster, authorizer, case,
                                   closing):
    status, body = BAD_ANSWERS[case]
    user = authorizer.raw_user(status, body)
    c = paho(authz_cluster, V5, user, "pw", expect_rc=0x86)
    closing(c)
    assert len(authorizer.calls_of(user)) == 1


# ---- caching, expiry, refresh ----

def test_answers_are_cached(authz_cluster, authorizer, closing):
    """Same user name, password and token within the refresh time: no
    second call (on either broker: each has its own cache, so broker 0
    twice); another password is asked again."""
    user = authorizer.user("pw", [policy(allow("iot:*", "*"))],
                           refreshAfterInSeconds=30)
    hits = metric(authz_cluster, "strata_broker_authorizer_cache_hits_total")
    for _ in range(2):
        c = paho(authz_cluster, V5, user, "pw")
        c.close()
    assert len(authorizer.calls_of(user)) == 1
    assert metric(authz_cluster,
                  "strata_broker_authorizer_cache_hits_total") >= hits + 1
    c = paho(authz_cluster, V5, user, "other", expect_rc=0x86)
    closing(c)
    assert len(authorizer.calls_of(user)) == 2
    # a refusal is not cached: asked again
    c = paho(authz_cluster, V5, user, "other", expect_rc=0x86)
    closing(c)
    assert len(authorizer.calls_of(user)) == 3


@pytest.mark.parametrize("protocol", [V311, V5], ids=["3.1.1", "5"])
def test_disconnect_after_seconds(authz_cluster, authorizer, protocol,
                                  closing):
    user = authorizer.user("pw", [policy(allow("iot:*", "*"))],
                           disconnectAfterInSeconds=2)
    t0 = time.monotonic()
    c = paho(authz_cluster, protocol, user, "pw")
    closing(c)
    rc = c.wait_disconnected(timeout=6)
    assert 1.5 < time.monotonic() - t0 < 5
    if protocol == V5:
        assert rc == 0xA0  # Maximum connect time
    assert metric(authz_cluster, "strata_broker_authorizer_disconnects_total",
                  'reason="max_connect_time"') >= 1


def test_refresh_applies_new_policies(authz_cluster, authorizer, closing):
    base = mqttc.unique("az")
    user = authorizer.user("pw", [policy(
        allow("iot:Connect", "*"),
        allow("iot:Subscribe", "%s:topicfilter/%s/a" % (ARN, base)))],
        refreshAfterInSeconds=1)
    c = paho(authz_cluster, V5, user, "pw")
    closing(c)
    c.subscribe("%s/b" % base, qos=1, expect=0x87)
    authorizer.answer(user, "pw", [policy(
        allow("iot:Connect", "*"),
        allow("iot:Subscribe", "%s:topicfilter/%s/*" % (ARN, base)))],
        refreshAfterInSeconds=1)
    deadline = time.monotonic() + 5
    while True:
        rc, mid = c.paho.subscribe("%s/b" % base, 1)
        codes = c._wait_ack(mid, "SUBACK")
        if codes == [1] or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert codes == [1]
    assert len(authorizer.calls_of(user)) >= 2


def test_refresh_that_denies_disconnects(authz_cluster, authorizer,
                                         closing):
    user = authorizer.user("pw", [policy(allow("iot:*", "*"))],
                           refreshAfterInSeconds=1)
    c = paho(authz_cluster, V5, user, "pw")
    closing(c)
    authorizer.rules[user] = lambda req: (200, {"isAuthenticated": False}, 0)
    assert c.wait_disconnected(timeout=5) == 0x87


def test_refresh_error_keeps_the_connection(authz_cluster, authorizer,
                                            closing):
    """The authorizer failing on a refresh does not close a live client:
    it keeps the policies it had and is asked again later."""
    topic = mqttc.unique("az") + "/k"
    user = authorizer.user("pw", [policy(allow("iot:*", "*"))],
                           refreshAfterInSeconds=1)
    c = paho(authz_cluster, V5, user, "pw")
    closing(c)
    authorizer.rules[user] = lambda req: (500, b"oops", 0)
    time.sleep(2.5)
    assert not c.disconnected.is_set()
    c.subscribe(topic, 1)
    c.publish(topic, b"still", 1)
    assert c.get(topic=topic).payload == b"still"
    assert len(authorizer.calls_of(user)) >= 2


def test_calls_are_counted(authz_cluster, authorizer):
    for result in ("allow", "deny", "error"):
        assert metric(authz_cluster, "strata_broker_authorizer_calls_total",
                      'result="%s"' % result) >= 1, result
