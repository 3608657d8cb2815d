"""The Device Shadow REST API of strata-shadowd (--http-port), with urllib
against a cluster of the module's own and a strata-shadowd started here:
get, update and delete of classic and named shadows, the same error codes
as over MQTT, an HTTP update seen by MQTT subscribers on update/delta and
update/documents, ListNamedShadowsForThing with paging, the request
counter by status, and hostile HTTP input that leaves shadowd serving
(docs/internals/shadowd-http.md)."""

import json
import os
import signal
import socket
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

FIXTURE = "shadow_http_cluster"
# shadowd's Redis deadline: short, so that the Redis test is quick
REDIS_TIMEOUT_MS = 500


def thing_name():
    return "thing-" + uuid.uuid4().hex[:10]


class Api:
    """The cluster, its own shadowd, and HTTP calls to that shadowd."""

    def __init__(self, cluster, shadowd):
        self.c = cluster
        self.d = shadowd
        self.port = shadowd.http_port
        self.base = "http://127.0.0.1:%d" % self.port

    def call(self, method, path, body=None, auth=None):
        """(status, parsed JSON body) of one request, as the bootstrap
        admin identity unless auth (an Authorization value, "" for
        none) says otherwise."""
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        if auth is None:
            auth = "Bearer " + self.c.admin_token
        req = urllib.request.Request(self.base + path, data=body,
                                     method=method,
                                     headers={"Authorization": auth}
                                     if auth else {})
        try:
            with urllib.request.urlopen(req, timeout=5) as r:
                status, text = r.status, r.read()
                assert r.headers["Content-Type"] == "application/json"
        except urllib.error.HTTPError as e:
            status, text = e.code, e.read()
            assert e.headers["Content-Type"] == "application/json", text
        return status, json.loads(text)

    def shadow_path(self, thing, name=None):
        path = "/things/%s/shadow" % thing
        return path + ("?name=" + name if name else "")

    def ok(self, method, thing, name=None, body=None):
        status, doc = self.call(method, self.shadow_path(thing, name), body)
        assert status == 200, doc
        return doc

    def refused(self, method, path, code, body=None):
        status, doc = self.call(method, path, body)
        assert status == code and doc["code"] == code, (status, doc)
        assert isinstance(doc["message"], str) and doc["message"], doc
        assert abs(doc["timestamp"] - time.time()) < 60, doc
        return doc

    def list(self, thing, query=""):
        return self.call("GET", "/api/things/shadow/"
                         "ListNamedShadowsForThing/%s%s" % (thing, query))

    def metric(self, code):
        return daemons.metric(self.d.metrics_port,
                              "strata_shadowd_http_requests_total",
                              'listener="http",code="%s"' % code)


def start_shadowd(c, extra=()):
    """A strata-shadowd joined to c with the HTTP API on (and the options
    extra); ready once its /healthz says so (router link up, session
    subscribed)."""
    metrics_port, http_port = daemons.free_port(), daemons.free_port()
    d = daemons.Daemon("shadowd", [
        "--node-id", "shadowd-http-%d" % http_port, "--bind", "127.0.0.1",
        "--metrics-port", str(metrics_port), "--http-port", str(http_port),
        "--redis-port", str(c.redis_port), "--redis-timeout",
        str(REDIS_TIMEOUT_MS), "--admin-token-file", c.admin_token_file,
        "--admin-bootstrap-key-id", c.admin_key_id] + list(extra) +
        c.join_args(),
        log_dir=c.log_dir)
    d.metrics_port, d.http_port = metrics_port, http_port
    deadline = time.monotonic() + 10
    while True:
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/healthz" %
                                        metrics_port, timeout=1) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        assert d.alive(), d.log_text()[-3000:]
        assert time.monotonic() < deadline, "shadowd not ready:\n" + \
            d.log_text()[-3000:]
        time.sleep(0.05)
    daemons.wait_port(http_port, d.proc)
    return d


@pytest.fixture(scope="module")
def shadow_http_cluster():
    with conftest.start_cluster(FIXTURE, brokers=1, routers=1,
                                shadowd=0) as c:
        d = start_shadowd(c)
        try:
            yield Api(c, d)
        finally:
            status = d.stop()
            assert not d.sanitizer_reports(), d.sanitizer_reports()
            assert status == 0, d.log_text()[-3000:]


@pytest.fixture
def api(shadow_http_cluster):
    assert shadow_http_cluster.d.alive(), \
        shadow_http_cluster.d.log_text()[-3000:]
    yield shadow_http_cluster
    assert shadow_http_cluster.d.alive(), \
        shadow_http_cluster.d.log_text()[-3000:]


def test_classic_shadow_get_update_delete(api):
    """POST creates and merges, GET has the delta, a stale version is
    409, DELETE answers the version, then GET and DELETE are 404 and the
    version continues after the delete."""
    thing = thing_name()
    api.refused("GET", api.shadow_path(thing), 404)
    acc = api.ok("POST", thing, body={
        "state": {"desired": {"color": "red", "light": {"level": 3}}},
        "clientToken": "tok-1"})
    assert acc["state"] == {"desired": {"color": "red",
                                        "light": {"level": 3}}}
    assert acc["version"] == 1 and acc["clientToken"] == "tok-1"
    assert acc["metadata"]["desired"]["light"]["level"]["timestamp"] > 0
    api.ok("POST", thing, body={"state": {"reported": {
        "color": "red", "light": {"level": 1}}}, "version": 1})
    got = api.ok("GET", thing)
    assert got["version"] == 2
    assert got["state"]["delta"] == {"light": {"level": 3}}
    assert got["state"]["reported"] == {"color": "red",
                                        "light": {"level": 1}}
    assert set(got["metadata"]) == {"desired", "reported"}
    doc = api.refused("POST", api.shadow_path(thing), 409,
                      {"state": {"desired": {"x": 1}}, "version": 1,
                       "clientToken": "stale"})
    assert doc["message"] == "Version conflict"
    assert doc["clientToken"] == "stale"
    deleted = api.ok("DELETE", thing)
    assert deleted["version"] == 2 and set(deleted) == {"version",
                                                         "timestamp"}
    api.refused("GET", api.shadow_path(thing), 404)
    api.refused("DELETE", api.shadow_path(thing), 404)
    assert api.ok("POST", thing, body={"state": {"reported": {
        "on": True}}})["version"] == 3


def test_named_shadows_apart_from_the_classic_one(api):
    thing = thing_name()
    api.ok("POST", thing, body={"state": {"reported": {"c": 1}}})
    api.refused("GET", api.shadow_path(thing, "cfg"), 404)
    acc = api.ok("POST", thing, "cfg", {"state": {"desired": {"n": 1}}})
    assert acc["version"] == 1
    assert api.ok("GET", thing, "cfg")["state"]["desired"] == {"n": 1}
    assert api.ok("GET", thing)["state"] == {"reported": {"c": 1}}
    api.ok("DELETE", thing, "cfg")
    api.refused("GET", api.shadow_path(thing, "cfg"), 404)
    assert api.ok("GET", thing)["version"] == 1


def test_errors_as_over_mqtt(api):
    """Each refused update has the code and message it has over MQTT."""
    thing = thing_name()
    api.ok("POST", thing, body={"state": {"reported": {"v": 0}}})
    cases = [
        (b"{\"state\":", 400),                          # bad JSON
        (b"not json at all", 400),
        (b"[1, 2]", 400),                               # not an object
        (b"", 400),                                     # no body
        (b"{\"state\": {\"delta\": {}}}", 400),
        (json.dumps({"state": {"desired": {"x": 1}},
                     "version": 7}).encode(), 409),
        (json.dumps({"state": {"desired": {
            "big": "x" * 9000}}}).encode(), 413),       # state over 8 KB
        (b"{\"state\": {\"reported\": {\"a\": \"\xff\"}}}", 415),
    ]
    cl = mqttc.Client(V5)
    try:
        cl.connect(api.c.host, api.c.mqtt_ports[0])
        base = "$aws/things/%s/shadow/update" % thing
        cl.subscribe(base + "/rejected", qos=1)
        for body, code in cases:
            http = api.refused("POST", api.shadow_path(thing), code, body)
            cl.publish(base, body, qos=1)
            mqtt = json.loads(cl.get(topic=base + "/rejected").payload)
            assert mqtt["code"] == code, (body, mqtt)
            assert mqtt["message"] == http["message"], (body, mqtt, http)
    finally:
        cl.close()
    # a body over the request limit (128 KB) is refused before parsing
    api.refused("POST", api.shadow_path(thing), 413,
                b"{\"state\": {}, \"pad\": \"" + b"x" * (130 * 1024) +
                b"\"}")
    assert api.ok("GET", thing)["version"] == 1


def test_bad_names_paths_and_methods(api):
    thing = thing_name()
    for path in ("/things/%s/shadow" % ("t" * 129),
                 "/things/bad%20name/shadow",
                 "/things/b%2Fad/shadow",
                 "/things/%s/shadow?name=" % thing,
                 "/things/%s/shadow?name=%s" % (thing, "n" * 65),
                 "/things/%s/shadow?name=a.b" % thing,
                 "/api/things/shadow/ListNamedShadowsForThing/a%00b"):
        api.refused("GET", path, 400)
    # a name percent-encoded as SDKs do it (':' as %3A) is the same name
    api.ok("POST", "a:" + thing, body={"state": {"reported": {"k": 1}}})
    assert api.call("GET", "/things/a%3A" + thing + "/shadow")[1][
        "version"] == 1
    for path in ("/", "/things", "/things/%s" % thing,
                 "/things/%s/shadow/x" % thing, "/things//shadow",
                 "/things/%s/shadow/" % thing, "/api/things/shadow",
                 "/api/things/shadow/ListNamedShadowsForThing",
                 "/metrics", "/../../etc/passwd"):
        api.refused("GET", path, 404)
    for method in ("PUT", "PATCH", "OPTIONS"):
        api.refused(method, api.shadow_path(thing), 405)
    for method in ("POST", "DELETE", "PUT"):
        api.refused(method, "/api/things/shadow/ListNamedShadowsForThing/"
                    + thing, 405)


def test_http_update_publishes_delta_and_documents(api):
    """An update over HTTP reaches MQTT subscribers on update/delta and
    update/documents, as one over MQTT does."""
    thing = thing_name()
    base = "$aws/things/%s/shadow/name/lamp/update" % thing
    cl = mqttc.Client(V5)
    try:
        cl.connect(api.c.host, api.c.mqtt_ports[0])
        cl.subscribe(base + "/delta", qos=1)
        cl.subscribe(base + "/documents", qos=1)
        acc = api.ok("POST", thing, "lamp", {
            "state": {"desired": {"on": True}}, "clientToken": "h1"})
        delta = json.loads(cl.get(topic=base + "/delta").payload)
        assert delta["state"] == {"on": True}
        assert delta["version"] == acc["version"] == 1
        assert delta["clientToken"] == "h1"
        docs = json.loads(cl.get(topic=base + "/documents").payload)
        assert docs["previous"] is None
        assert docs["current"]["state"]["desired"] == {"on": True}
        assert docs["current"]["version"] == 1
        # reported catching up: documents again, and no delta
        api.ok("POST", thing, "lamp", {"state": {"reported": {"on": True}}})
        docs = json.loads(cl.get(topic=base + "/documents").payload)
        assert docs["previous"]["version"] == 1
        assert docs["current"]["version"] == 2
        assert not [m for m in cl.drain(0.3) if m.topic.endswith("/delta")]
    finally:
        cl.close()


def test_queue_overflow_is_429(api):
    """A second instance with room for one request and no queue joins the
    share group: the requests the cluster gives it while it is busy are
    dropped by its core past max-queued and answered 429 on the
    requester's rejected topic, so every request gets exactly one answer
    (accepted, or rejected 429), and the 429s are the drops counted."""
    tight = start_shadowd(api.c, ["--max-inflight", "1",
                                  "--max-queued", "0"])
    cl = mqttc.Client(V5)
    try:
        cl.connect(api.c.host, api.c.mqtt_ports[0])
        cl.subscribe("$aws/things/+/shadow/update/+", qos=1)
        cl.paho.max_inflight_messages_set(100)
        sent, infos = {}, []
        for i in range(200):  # a burst: no wait for each PUBACK
            token = "q%d" % i
            sent[token] = thing_name()
            infos.append(cl.paho.publish(
                "$aws/things/%s/shadow/update" % sent[token],
                json.dumps({"state": {"reported": {"i": i}},
                            "clientToken": token}).encode(), qos=1))
        for info in infos:
            info.wait_for_publish(10)
        answers = {}
        while len(answers) < len(sent):
            m = cl.get(timeout=10)
            suffix = m.topic.rsplit("/", 1)[1]
            if suffix not in ("accepted", "rejected"):
                continue
            doc = json.loads(m.payload)
            assert doc["clientToken"] not in answers, doc
            answers[doc["clientToken"]] = (suffix, doc.get("code"))
        assert set(answers) == set(sent)
        codes = [a for a in answers.values() if a[0] == "rejected"]
        assert all(code == 429 for _, code in codes), codes
        assert codes, "the tight instance dropped nothing"
        assert len(codes) == daemons.metric(
            tight.metrics_port, "strata_broker_drops_total",
            'reason="queue_full"')
        assert not [m for m in cl.drain(0.3)
                    if m.topic.endswith(("/accepted", "/rejected"))]
    finally:
        cl.close()
        status = tight.stop()
        assert not tight.sanitizer_reports(), tight.sanitizer_reports()
        assert status == 0, tight.log_text()[-3000:]


def test_list_named_shadows_with_paging(api):
    thing = thing_name()
    names = sorted("s%02d-%s" % (i, uuid.uuid4().hex[:4]) for i in range(7))
    api.ok("POST", thing, body={"state": {"reported": {"classic": 1}}})
    for n in names:
        api.ok("POST", thing, n, {"state": {"reported": {"n": n}}})
    status, page = api.list(thing)
    assert status == 200 and page["results"] == names, page
    assert "nextToken" not in page
    assert abs(page["timestamp"] - time.time()) < 60
    seen, token, pages = [], None, 0
    while True:
        query = "?pageSize=3" + ("&nextToken=" + urllib.parse.quote(token)
                                 if token else "")
        status, page = api.list(thing, query)
        assert status == 200, page
        assert len(page["results"]) <= 3
        seen += page["results"]
        pages += 1
        token = page.get("nextToken")
        if token is None:
            break
    assert seen == names and pages == 3
    api.ok("DELETE", thing, names[0])
    assert api.list(thing)[1]["results"] == names[1:]
    assert api.list(thing, "?nextToken=100")[1]["results"] == []
    # a thing without named shadows: an empty list
    status, page = api.list(thing_name())
    assert status == 200 and page["results"] == [], page
    for query in ("?pageSize=0", "?pageSize=101", "?pageSize=abc",
                  "?pageSize=", "?pageSize=-1", "?nextToken=x",
                  "?nextToken=-5", "?nextToken=99999999999999999999"):
        status, doc = api.list(thing, query)
        assert status == 400 and doc["code"] == 400, (query, doc)


def test_requests_counted_by_status(api):
    before = {code: api.metric(code) for code in ("200", "404", "405")}
    api.call("GET", "/nowhere")
    api.call("PUT", api.shadow_path(thing_name()))
    api.list(thing_name())
    assert api.metric("200") >= before["200"] + 1
    assert api.metric("404") >= before["404"] + 1
    assert api.metric("405") >= before["405"] + 1


def _raw(port, data, half_close=False, timeout=3.0):
    """Send raw bytes (then end the sending side if half_close); the
    first line of the answer (b"" when the server closed without one)."""
    s = socket.create_connection(("127.0.0.1", port), timeout)
    try:
        try:
            s.sendall(data)
            if half_close:
                s.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        out = b""
        try:
            while b"\r\n" not in out:
                chunk = s.recv(4096)
                if not chunk:
                    break
                out += chunk
        except OSError:
            pass
        return out.split(b"\r\n", 1)[0]
    finally:
        s.close()


def test_hostile_http_input_leaves_shadowd_serving(api):
    port = api.port
    thing = thing_name()
    garbage = [
        b"\x00\x01\x02garbage\r\n\r\n",
        b"GET\r\n\r\n",
        b"GET /things/x/shadow HTTP/9.9\r\n\r\n",
        b"BREW /things/x/shadow HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /things/%zz/shadow HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /things/x/shadow?%%%=&&==&name=%ff HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET http://evil/things/x/shadow HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /things/x/shadow?name=" + b"n" * 12000 +
        b" HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /" + b"a/" * 30000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
        b"POST /things/x/shadow HTTP/1.1\r\nHost: x\r\nContent-Length: "
        b"99999999999\r\n\r\n{",
        b"POST /things/x/shadow HTTP/1.1\r\nHost: x\r\nContent-Length: "
        b"-1\r\n\r\n",
        b"POST /things/x/shadow HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: "
        b"chunked\r\n\r\nzz\r\n",
        b"POST /things/x/shadow HTTP/1.1\r\nHost: x\r\nContent-Length: "
        b"100\r\n\r\n{\"state\"",              # body cut short
    ]
    for data in garbage:
        line = _raw(port, data, half_close=True)
        assert line == b"" or line.startswith(b"HTTP/1."), (data[:60], line)
        assert not line.startswith(b"HTTP/1.1 200"), (data[:60], line)
    # an oversized body libevent refuses itself, without reading it
    line = _raw(port, b"POST /things/x/shadow HTTP/1.1\r\nHost: x\r\n"
                b"Content-Length: %d\r\n\r\n" % (10 << 20) + b"x" * 65536)
    assert line in (b"", b"HTTP/1.1 413 Request Entity Too Large"), line
    # non-JSON and odd content on good paths
    api.refused("POST", api.shadow_path(thing), 400, b"\x00\x00\x00")
    api.refused("POST", api.shadow_path(thing), 400, b"null")
    api.refused("POST", api.shadow_path(thing), 400,
                b"[" * 50000 + b"]" * 50000)
    # a client gone before its answer: the next requests are served
    for _ in range(20):
        s = socket.create_connection(("127.0.0.1", port), 2)
        s.sendall(b"GET /things/%s/shadow HTTP/1.1\r\nHost: x\r\n\r\n" %
                  thing.encode())
        s.close()
    assert api.ok("POST", thing, body={"state": {"reported": {
        "ok": 1}}})["version"] == 1
    assert api.ok("GET", thing)["state"]["reported"] == {"ok": 1}


def test_callers_are_admin_identities(shadow_http_cluster):
    """http-auth iam: no credential is 401; an identity's admin policies
    decide each operation on each thing (403 otherwise); every call has
    an audit line naming the user."""
    api = shadow_http_cluster
    thing = "x-" + uuid.uuid4().hex[:8]
    api.ok("POST", thing, body={"state": {"reported": {"a": 1}}})
    status, body = api.call("GET", api.shadow_path(thing), auth="")
    assert (status, body["error"]) == (401, "UnauthorizedException")
    admin_url = api.c.admin_url
    boot = "Bearer " + api.c.admin_token

    def admin(method, path, doc=None):
        req = urllib.request.Request(
            admin_url + path, method=method, headers={"Authorization": boot},
            data=None if doc is None else json.dumps(doc).encode())
        with urllib.request.urlopen(req, timeout=5) as r:
            return json.loads(r.read())

    user = "reader-" + uuid.uuid4().hex[:6]
    admin("POST", "/admin-users/" + user)
    admin("POST", "/admin-policies/" + user, {"PolicyDocument": json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": ["iot:GetThingShadow",
                                          "iot:ListNamedShadowsForThing"],
            "Resource": "arn:aws:iot:local:000000000000:thing/x-*"}]})})
    admin("PUT", "/admin-users/%s/policies/%s" % (user, user))
    key = admin("POST", "/admin-users/%s/access-keys" % user)["AccessKey"]
    auth = "Bearer %s:%s" % (key["AccessKeyId"], key["SecretAccessKey"])
    status, doc = api.call("GET", api.shadow_path(thing), auth=auth)
    assert status == 200 and doc["state"]["reported"] == {"a": 1}, doc
    status, doc = api.call("POST", api.shadow_path(thing),
                           {"state": {"reported": {"a": 2}}}, auth=auth)
    assert (status, doc["error"]) == (403, "AccessDeniedException"), doc
    assert "iot:UpdateThingShadow" in doc["message"]
    status, doc = api.call("GET", api.shadow_path("y-" + thing), auth=auth)
    assert status == 403, doc
    deadline = time.monotonic() + 5
    want = ('identity=arn:aws:iam::000000000000:user/%s key=%s '
            'action=iot:GetThingShadow resource="arn:aws:iot:local:'
            '000000000000:thing/%s" source=127.0.0.1 status=200' % (
                user, key["AccessKeyId"], thing))
    while want not in api.d.log_text() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert want in api.d.log_text()


def test_redis_not_answering_is_503(api):
    """(Last: it stops Redis for a moment.)  Callers cannot be
    authenticated without Redis: shadow requests and the list are
    answered 503 (fail closed) once the Redis deadline passes; when Redis
    is back, requests are served again."""
    thing = thing_name()
    api.ok("POST", thing, "n", {"state": {"reported": {"v": 1}}})
    os.kill(api.c.redis_pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        for method, path in (("GET", api.shadow_path(thing)),
                             ("POST", api.shadow_path(thing)),
                             ("GET", "/api/things/shadow/"
                              "ListNamedShadowsForThing/" + thing)):
            status, doc = api.call(method, path,
                                   {"state": {"desired": {"v": 2}}}
                                   if method == "POST" else None)
            assert (status, doc["error"]) == (
                503, "ServiceUnavailableException"), doc
        assert time.monotonic() - started < 5
    finally:
        os.kill(api.c.redis_pid, signal.SIGCONT)
    deadline = time.monotonic() + 10
    while api.call("GET", api.shadow_path(thing, "n"))[0] != 200:
        assert time.monotonic() < deadline, "not served after Redis came back"
        time.sleep(0.1)
    assert api.list(thing)[1]["results"] == ["n"]
