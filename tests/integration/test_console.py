"""The web console (docs/internals/console.md) against a cluster of its
own: its static files (types, headers, no path outside the console
directory), the login and its session cookie, the refusals of a forged,
unknown, expired or cross-origin request and of a missing or wrong CSRF
token, the admin policies still deciding each call made with a session,
ListNodes, and the pages driven in a real browser (Debian's chromium
through puppeteer-core, tests/js/console-browser.mjs): log in, see the
nodes, find a thing by a fleet index query and open it, edit its desired
state and see the delta reach a device's MQTT client, publish from the
MQTT test client and receive it in mosquitto_sub, disable a topic rule
and see it stop, revoke a certificate and see its device disconnected,
create a policy (a malformed one refused with the admin API's words),
see a device's Device Defender violation in the Security page.
The browser's
screenshots are kept in build/test-artefacts/console/."""

import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import time

import pytest

import conftest
import daemons
import mosq
import mqttc
from mqttc import V5
from test_admin_authz import make_user
from test_detect import behavior, group_with_device, profile_on, tls_device
from test_registry import ARN, allow, ctl, new_device, tls_client

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
JS_DIR = os.path.join(ROOT, "tests", "js")
SHOTS = os.path.join(ROOT, "build", "test-artefacts", "console")
COOKIE = "strata_console"
LOGIN_WINDOW = 3   # s; 5 wrong logins in it throttle an address


@pytest.fixture(scope="module")
def console_cluster():
    # devstats every 200 ms: a Device Defender violation within a second
    with conftest.start_cluster(
            "console_cluster", shadowd=1, rulesd=1,
            env={"STRATA_DEVSTATS_INTERVAL_MS": "200",
                 # the login throttle's window short enough to wait out
                 "STRATA_CONSOLE_LOGIN_WINDOW": str(LOGIN_WINDOW)}) as c:
        yield c


class Admin:
    """Raw HTTP to broker 0's admin API: (status, headers, body)."""

    def __init__(self, cluster, broker=0):
        self.host = cluster.host
        self.port = int(cluster.admin_urls[broker].rsplit(":", 1)[1])
        self.origin = "http://%s:%d" % (self.host, self.port)
        self.ws_port = cluster.ws_ports[0]

    def request(self, method, path, body=None, headers=None, source=None):
        """source: the local address to call from (any of 127/8 reaches
        the loopback listener), for the login throttle's addresses."""
        c = http.client.HTTPConnection(
            self.host, self.port, timeout=10,
            source_address=(source, 0) if source else None)
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else \
                json.dumps(body).encode()
        try:
            c.request(method, path, body=data, headers=dict(headers or {}))
            r = c.getresponse()
            raw = r.read()
            return r.status, r.headers, raw
        finally:
            c.close()

    def json(self, method, path, body=None, headers=None):
        status, _, raw = self.request(method, path, body, headers)
        return status, json.loads(raw) if raw else None

    def login(self, body, origin=True, source=None):
        h = {"Content-Type": "application/json"}
        if origin:
            h["Origin"] = self.origin
        status, headers, raw = self.request("POST", "/console/api/login",
                                            body, h, source)
        return status, headers, json.loads(raw)

    def session(self, token):
        """A session of the bootstrap identity: (cookie header, csrf)."""
        status, headers, out = self.login({"token": token})
        assert status == 200, out
        sid = headers["Set-Cookie"].split(";")[0]
        return sid, out["csrfToken"]


@pytest.fixture(scope="module")
def admin(console_cluster):
    return Admin(console_cluster)


# ---- static files ----

def test_static_files_and_their_headers(admin):
    status, h, body = admin.request("GET", "/console/")
    assert status == 200 and b"<title>Strata console</title>" in body
    assert h["Content-Type"] == "text/html; charset=utf-8"
    csp = h["Content-Security-Policy"]
    assert "script-src 'self';" in csp and "default-src 'none'" in csp
    assert "frame-ancestors 'none'" in csp and "unsafe" not in csp
    # the WebSocket listeners of the host the page came from, no other
    assert "connect-src 'self' ws://%s:%d wss://" % (
        admin.host, admin.ws_port) in csp and "*" not in csp
    assert h["X-Content-Type-Options"] == "nosniff"
    assert h["X-Frame-Options"] == "DENY"
    assert h["Cache-Control"] == "no-cache"
    status, h2, _ = admin.request("GET", "/console/",
                                  headers={"If-None-Match": h["ETag"]})
    assert status == 304
    for path, ctype in (("/console/js/app.js", "text/javascript"),
                        ("/console/css/console.css", "text/css"),
                        ("/console/vendor/mqtt.esm.js", "text/javascript")):
        status, h, body = admin.request("GET", path)
        assert status == 200 and len(body) > 0, path
        assert h["Content-Type"].startswith(ctype), (path, h)
    status, h, _ = admin.request("GET", "/console")
    assert status == 302 and h["Location"] == "/console/"


@pytest.mark.parametrize("path", [
    "/console/../admin.token",
    "/console/js/../../admin.token",
    "/console/%2e%2e/admin.token",
    "/console/..%2fadmin.token",
    "/console/.hidden.js",
    "/console/js//app.js",
    "/console/js/",
    "/console/a/b/c/d.js",
    "/console/index.html%00.js",
    "/console/app.exe",
    "/console//etc/passwd",
    "/console/js/app.js/",
])
def test_no_file_outside_the_console(admin, path):
    status, _, body = admin.request("GET", path)
    assert status == 404, (path, status, body)
    assert json.loads(body)["error"] == "ResourceNotFoundException"


def test_static_files_are_read_only(admin):
    status, _, body = admin.request("POST", "/console/index.html", b"x")
    assert status == 405
    assert json.loads(body)["error"] == "MethodNotAllowedException"


# ---- login and session ----

def test_login_sets_a_strict_http_only_cookie(console_cluster, admin):
    status, h, out = admin.login({"token": console_cluster.admin_token})
    assert status == 200, out
    cookie = h["Set-Cookie"]
    name, _, rest = cookie.partition("=")
    assert name == COOKIE and len(rest.split(";")[0]) == 64
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert "Path=/" in cookie and "Max-Age=3600" in cookie
    # plain HTTP (loopback): no Secure flag, or the browser would never
    # send the cookie back (docs/internals/console.md)
    assert "Secure" not in cookie
    assert out["user"].endswith(":user/admin")
    assert out["accessKeyId"] == console_cluster.admin_key_id
    assert len(out["csrfToken"]) == 64 and out["expiresIn"] == 3600
    assert h["Cache-Control"] == "no-store"
    sid = cookie.split(";")[0]
    status, info = admin.json("GET", "/console/api/session",
                              headers={"Cookie": sid})
    assert status == 200 and info["csrfToken"] == out["csrfToken"]
    assert info["mqtt"]["wsPort"] == console_cluster.ws_ports[0]
    # the session is kept in Redis by the hash of its id, never the id
    _, keys = console_cluster.redis_cli(
        console_cluster.redis_port, "--scan", "--pattern",
        "strata:console-session:*")
    assert keys.strip() and sid.split("=")[1] not in keys


@pytest.mark.parametrize("body, origin, status, error", [
    ({"token": "wrong-token-wrong-token"}, True, 401,
     "UnauthorizedException"),
    ({"accessKeyId": "AKIANOSUCHKEY0000000", "secretAccessKey": "x" * 40},
     True, 401, "UnauthorizedException"),
    ({"accessKeyId": "bad id", "secretAccessKey": "x"}, True, 401,
     "UnauthorizedException"),
    ({}, True, 400, "InvalidRequestException"),
    ({"token": "a", "secretAccessKey": "b"}, True, 400,
     "InvalidRequestException"),
    ({"token": 5}, True, 400, "InvalidRequestException"),
    ("TOKEN", False, 403, "AccessDeniedException"),
    ("TOKEN", "http://evil.example", 403, "AccessDeniedException"),
])
def test_login_refusals(console_cluster, admin, body, origin, status,
                        error):
    if body == "TOKEN":
        body = {"token": console_cluster.admin_token}
    h = {"Content-Type": "application/json"}
    if origin is True:
        h["Origin"] = admin.origin
    elif origin:
        h["Origin"] = origin
    got, headers, raw = admin.request("POST", "/console/api/login", body, h)
    out = json.loads(raw)
    assert (got, out["error"]) == (status, error), out
    assert out["message"]
    assert "Set-Cookie" not in headers


def test_login_throttle_per_address_cluster_wide(console_cluster, admin):
    """5 wrong logins from an address in console-login-window: the 6th,
    and a right one, are 429 ThrottlingException with Retry-After, on
    every broker (the count is in Redis); another address logs in, and
    that resets nothing; once the window is over the right login works
    and ends the count."""
    c = console_cluster
    a1 = Admin(c, broker=1)
    bad, good = {"token": "wrong-token-wrong-token"}, {"token": c.admin_token}
    src, other = "127.0.0.%d" % (10 + os.getpid() % 200), "127.0.0.250"
    before = daemons.metric(c.broker_metrics_ports[0],
                            "strata_broker_console_logins_total",
                            'result="throttled"')
    for i in range(5):
        status, _, out = admin.login(bad, source=src)
        assert status == 401 and out["error"] == "UnauthorizedException", \
            (i, out)
    status, h, out = admin.login(bad, source=src)
    assert status == 429 and out["error"] == "ThrottlingException", out
    assert src in out["message"]
    assert 1 <= int(h["Retry-After"]) <= LOGIN_WINDOW
    # the right credential is refused too while the address is throttled,
    # and on another broker
    status, _, out = admin.login(good, source=src)
    assert status == 429 and out["error"] == "ThrottlingException", out
    status, h, out = a1.login(good, source=src)
    assert status == 429 and "Retry-After" in h, out
    # another address is not throttled, and its login resets nothing
    status, _, _ = admin.login(good, source=other)
    assert status == 200
    status, _, _ = admin.login(good, source=src)
    assert status == 429
    _, count = c.redis_cli(c.redis_port, "GET",
                           "strata:console-login-fail:{%s}" % src)
    assert count.strip() == "5"
    assert daemons.metric(c.broker_metrics_ports[0],
                          "strata_broker_console_logins_total",
                          'result="throttled"') == before + 3
    assert daemons.metric(c.broker_metrics_ports[1],
                          "strata_broker_console_logins_total",
                          'result="throttled"') >= 1
    # the window over: the right login works and ends the count
    time.sleep(int(h["Retry-After"]) + 0.2)
    status, _, out = admin.login(good, source=src)
    assert status == 200, out
    _, count = c.redis_cli(c.redis_port, "EXISTS",
                           "strata:console-login-fail:{%s}" % src)
    assert count.strip() == "0"


def test_session_calls_and_csrf(console_cluster, admin):
    sid, csrf = admin.session(console_cluster.admin_token)
    ok = {"Cookie": sid, "Origin": admin.origin, "X-CSRF-Token": csrf,
          "Content-Type": "application/json"}
    search = {"queryString": "thingName:*"}
    # GET needs no CSRF token; a change or a POST does
    assert admin.json("GET", "/things", headers={"Cookie": sid})[0] == 200
    status, out = admin.json("POST", "/indices/search", search, ok)
    # passed the session checks (with indexing off: the index's 404)
    assert status == 200 or out["error"] == "ResourceNotFoundException", out
    no_csrf = dict(ok)
    del no_csrf["X-CSRF-Token"]
    wrong_csrf = dict(ok, **{"X-CSRF-Token": "0" * 64})
    short_csrf = dict(ok, **{"X-CSRF-Token": csrf[:32]})
    for h in (no_csrf, wrong_csrf, short_csrf):
        status, out = admin.json("POST", "/things/csrf-victim", {}, h)
        assert (status, out["error"]) == (403, "AccessDeniedException"), h
        assert "X-CSRF-Token" in out["message"]
    # cross-origin: refused even with the right token; a change without
    # any Origin too (a same-origin fetch always sends it)
    for origin in ("http://evil.example", "null", None):
        h = dict(ok)
        if origin is None:
            del h["Origin"]
        else:
            h["Origin"] = origin
        status, out = admin.json("POST", "/things/csrf-victim", {}, h)
        assert (status, out["error"]) == (403, "AccessDeniedException")
        assert "cross-origin" in out["message"]
    status, out = admin.json("GET", "/things", headers={
        "Cookie": sid, "Origin": "http://evil.example"})
    assert status == 403
    # none of it made the thing; the right request does
    assert admin.json("GET", "/things/csrf-victim",
                      headers={"Cookie": sid})[0] == 404
    status, out = admin.json("POST", "/things/csrf-victim", {}, ok)
    assert status == 200 and out["thingName"] == "csrf-victim"


def test_session_is_served_by_every_broker(console_cluster, admin):
    """Sessions live in Redis: one made on broker 0 works on broker 1
    (whose own Origin it must then carry), and a logout there ends it on
    broker 0."""
    sid, csrf = admin.session(console_cluster.admin_token)
    other = Admin(console_cluster)
    other.port = int(console_cluster.admin_urls[1].rsplit(":", 1)[1])
    other.origin = "http://%s:%d" % (other.host, other.port)
    status, info = other.json("GET", "/console/api/session",
                              headers={"Cookie": sid})
    assert status == 200 and info["csrfToken"] == csrf
    assert other.json("GET", "/strata/nodes", headers={"Cookie": sid})[0] == 200
    h = {"Cookie": sid, "X-CSRF-Token": csrf}
    # broker 0's origin is not broker 1's
    status, _ = other.json("POST", "/console/api/logout",
                           headers=dict(h, Origin=admin.origin))
    assert status == 403
    status, _ = other.json("POST", "/console/api/logout",
                           headers=dict(h, Origin=other.origin))
    assert status == 200
    assert admin.json("GET", "/things", headers={"Cookie": sid})[0] == 401


@pytest.mark.parametrize("cookie", [
    COOKIE + "=" + "ab" * 32,                # well-formed, unknown
    COOKIE + "=" + "AB" * 32,                # not lower-case hex
    COOKIE + "=" + "ab" * 31,                # short
    COOKIE + "=" + "ab" * 32 + "; " + COOKIE + "=" + "cd" * 32,
    "other=1",
])
def test_forged_sessions_refused(admin, cookie):
    status, out = admin.json("GET", "/things", headers={"Cookie": cookie})
    assert (status, out["error"]) == (401, "UnauthorizedException"), out
    status, out = admin.json("GET", "/console/api/session",
                             headers={"Cookie": cookie})
    assert status == 401


def test_logout_and_expiry_end_the_session(console_cluster, admin):
    sid, csrf = admin.session(console_cluster.admin_token)
    h = {"Cookie": sid, "Origin": admin.origin}
    # logout is a change: CSRF token needed
    status, out = admin.json("POST", "/console/api/logout", headers=h)
    assert status == 403
    status, headers, _ = admin.request(
        "POST", "/console/api/logout", headers=dict(h, **{
            "X-CSRF-Token": csrf}))
    assert status == 200 and "Max-Age=0" in headers["Set-Cookie"]
    status, out = admin.json("GET", "/things", headers={"Cookie": sid})
    assert (status, out["error"]) == (401, "UnauthorizedException")
    assert "log in again" in out["message"]
    # the Redis TTL ends a session as logout does
    sid, _ = admin.session(console_cluster.admin_token)
    _, keys = console_cluster.redis_cli(
        console_cluster.redis_port, "--scan", "--pattern",
        "strata:console-session:*")
    for key in keys.split():
        console_cluster.redis_cli(console_cluster.redis_port, "PEXPIRE",
                                  key, "1")
    time.sleep(0.05)
    assert admin.json("GET", "/things", headers={"Cookie": sid})[0] == 401


def test_admin_policies_decide_session_calls(console_cluster, admin):
    """A session is its access key: its user's policies decide each call,
    and a key made Inactive ends the session at once."""
    user, key_id, secret = make_user(
        console_cluster, allow(["iot:ListThings"], "*"))
    status, headers, out = admin.login({"accessKeyId": key_id,
                                        "secretAccessKey": secret})
    assert status == 200 and out["user"].endswith(":user/" + user)
    sid = headers["Set-Cookie"].split(";")[0]
    ok = {"Cookie": sid, "Origin": admin.origin,
          "X-CSRF-Token": out["csrfToken"]}
    assert admin.json("GET", "/things", headers=ok)[0] == 200
    status, denied = admin.json("GET", "/strata/nodes", headers=ok)
    assert (status, denied["error"]) == (403, "AccessDeniedException")
    assert "iot:ListNodes" in denied["message"]
    status, denied = admin.json("POST", "/things/not-allowed", {}, ok)
    assert (status, denied["error"]) == (403, "AccessDeniedException")
    status, _, bad = admin.login({"accessKeyId": key_id,
                                  "secretAccessKey": "x" * 40})
    assert status == 401
    # the key made Inactive: the live session is refused
    status, _ = admin.json(
        "PATCH", "/admin-users/%s/access-keys/%s" % (user, key_id),
        {"Status": "Inactive"}, {
            "Authorization": "Bearer " + console_cluster.admin_token})
    assert status == 200
    status, out = admin.json("GET", "/things", headers=ok)
    assert (status, out["error"]) == (401, "UnauthorizedException")


def test_shadow_calls_as_the_console_user(console_cluster, admin):
    """GetThingShadow and UpdateThingShadow on the admin API (forwarded
    to strata-shadowd, shadow-http-url): the console user's admin
    policies decide, on the thing's ARN or the named shadow's."""
    c = console_cluster
    thing = "console-shadow-" + os.urandom(3).hex()
    user, key_id, secret = make_user(
        c, allow(["iot:GetThingShadow"], "%s:thing/%s" % (ARN, thing)),
        allow(["iot:UpdateThingShadow"], "%s:thing/%s/cfg" % (ARN, thing)))
    status, headers, out = admin.login({"accessKeyId": key_id,
                                        "secretAccessKey": secret})
    assert status == 200
    ok = {"Cookie": headers["Set-Cookie"].split(";")[0],
          "Origin": admin.origin, "X-CSRF-Token": out["csrfToken"],
          "Content-Type": "application/json"}
    path = "/things/%s/shadow" % thing
    # allowed, and shadowd's own answer: no shadow yet
    status, out = admin.json("GET", path, headers=ok)
    assert status == 404 and out["code"] == 404, out
    # the classic shadow may not be changed by this user
    status, out = admin.json("POST", path, {"state": {"desired": {"a": 1}}},
                             ok)
    assert (status, out["error"]) == (403, "AccessDeniedException"), out
    assert "iot:UpdateThingShadow" in out["message"]
    assert "thing/%s " % thing in out["message"]
    # the named shadow cfg may
    status, out = admin.json("POST", path + "?name=cfg",
                             {"state": {"desired": {"a": 1}}}, ok)
    assert status == 200 and out["version"] == 1, out
    assert out["state"]["desired"] == {"a": 1}
    # but not be read (Get is allowed on the classic shadow only)
    status, out = admin.json("GET", path + "?name=cfg", headers=ok)
    assert (status, out["error"]) == (403, "AccessDeniedException"), out
    # a change needs the CSRF token, as any other
    status, out = admin.json("POST", path + "?name=cfg", {"state": {}},
                             dict(ok, **{"X-CSRF-Token": "0" * 64}))
    assert status == 403, out
    # what shadowd keeps, read by the bootstrap identity
    boot = {"Authorization": "Bearer " + c.admin_token}
    status, out = admin.json("GET", path + "?name=cfg", headers=boot)
    assert status == 200 and out["state"]["desired"] == {"a": 1}, out
    # a body that is not JSON is the admin API's to refuse, as any
    status, _, raw = admin.request("POST", path + "?name=cfg", b"{not json",
                                   boot)
    assert status == 400, raw
    assert json.loads(raw)["error"] == "InvalidRequestException"
    # a shadow name is checked before it is authorized (it is part of
    # the resource)
    for bad in ("n" * 65, "a%20b", "a/b", ""):
        status, out = admin.json("GET", path + "?name=" + bad, headers=ok)
        assert status == 400 and out["error"] == "InvalidRequestException" \
            and out["field"] == "name", (bad, out)
    # shadowd's refusals come back as they are (the shadow error shape)
    status, out = admin.json("POST", path + "?name=cfg",
                             {"state": {"desired": 5}}, boot)
    assert status == 400 and out["code"] == 400, out
    status, out = admin.json("GET", "/things/a%%20b/shadow", headers=boot)
    assert status in (400, 404) and "code" in out, out


def test_shadow_calls_without_shadowd(console_cluster):
    """shadow-http-url naming a port where nothing listens: 503; a URL
    that is not http://host:port: a configuration error."""
    c = console_cluster
    port = daemons.free_port()
    b = daemons.Broker(c.redis_port, c.join_args() + [
        "--admin-port", str(port), "--admin-token-file", c.admin_token_file,
        "--admin-bootstrap-key-id", c.admin_key_id,
        "--shadow-http-url", "http://127.0.0.1:%d" % daemons.free_port()])
    try:
        b.wait_ready()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
        conn.request("GET", "/things/x/shadow", headers={
            "Authorization": "Bearer " + c.admin_token})
        r = conn.getresponse()
        out = json.loads(r.read())
        conn.close()
        assert r.status == 503, out
        assert out["error"] == "ServiceUnavailableException"
    finally:
        assert b.stop() == 0, b.log_text()[-2000:]
    for url in ("https://127.0.0.1:1", "http://127.0.0.1", "shadowd:80"):
        bad = daemons.Broker(c.redis_port, c.join_args() + [
            "--admin-port", str(daemons.free_port()),
            "--admin-token-file", c.admin_token_file,
            "--shadow-http-url", url])
        assert bad.proc.wait(timeout=10) != 0, url
        assert "shadow-http-url" in bad.log_text()


def test_list_nodes(console_cluster, admin):
    def nodes_now():
        status, out = admin.json("GET", "/strata/nodes", headers={
            "Authorization": "Bearer " + console_cluster.admin_token})
        assert status == 200, out
        return {n["nodeId"]: n for n in out["nodes"]}

    # the figures are written every second: links come up just after
    # a node starts
    deadline = time.monotonic() + 10
    nodes = nodes_now()
    while any(n.get("links") != n["linksExpected"] for n in nodes.values()):
        assert time.monotonic() < deadline, nodes
        time.sleep(0.5)
        nodes = nodes_now()
    roles = sorted(n["role"] for n in nodes.values())
    assert roles == sorted(["broker"] * len(console_cluster.mqtt_ports) +
                           ["router"] * conftest.ROUTERS +
                           ["shadowd", "rulesd"]), nodes
    routers = [n for n in nodes.values() if n["role"] == "router"]
    assert sum(r["partitions"] for r in routers) == 1024
    for n in nodes.values():
        assert n["alive"] is True and n["uptimeSeconds"] >= 0
        assert {"startedAt", "publishesIn", "publishesOut"} <= set(n), n
    b = [n for n in nodes.values() if n["role"] == "broker"]
    assert {n["address"] for n in b} == {
        "%s:%d" % (console_cluster.host, p)
        for p in console_cluster.mqtt_ports}
    # stratactl's row
    listed = ctl(console_cluster, "list-nodes")
    assert {n["nodeId"] for n in listed["nodes"]} == set(nodes)


def https_broker(c, port, extra=()):
    """An extra broker of the cluster with the admin API on HTTPS (and an
    MQTTS listener that requires client certificates)."""
    certs = os.path.join(c.dir, "certs")
    console_dir = os.path.join(daemons.bin_dir(), "..", "share", "strata",
                               "console")
    tls_port = daemons.free_port()
    b = daemons.Broker(c.redis_port, c.join_args() + [
        "--tls-port", str(tls_port),
        "--tls-cert", os.path.join(certs, "server.crt"),
        "--tls-key", os.path.join(certs, "server.key"),
        "--tls-ca", c.ca_file,
        "--admin-port", str(port), "--admin-tls", "yes",
        "--admin-token-file", c.admin_token_file,
        "--admin-bootstrap-key-id", c.admin_key_id,
        "--console-dir", console_dir, "--console-session-ttl", "120"] +
        list(extra))
    b.tls_port = tls_port
    return b


def https_request(ctx, port, method, path, body=None, headers=None):
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx,
                                       timeout=10)
    try:
        conn.request(method, path, body=body, headers=dict(headers or {}))
        r = conn.getresponse()
        return r.status, r.headers, r.read()
    finally:
        conn.close()


def s_client(port, *args):
    """openssl s_client's report of a handshake (no client certificate)."""
    return subprocess.run(
        ["openssl", "s_client", "-connect", "127.0.0.1:%d" % port] +
        list(args),
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, timeout=20).stdout.decode()


def test_https_console_asks_no_client_certificate(console_cluster):
    """With admin-tls the console is served over HTTPS from a TLS context
    of its own that requests no client certificate (the MQTTS listener of
    the same broker still does), picks ALPN http/1.1 where a browser
    offers h2 first; the cookie is Secure and the Origin to match is
    https://; console-dir given explicitly; a browser logs in."""
    c = console_cluster
    port = daemons.free_port()
    b = https_broker(c, port)
    try:
        b.wait_ready()
        # no CertificateRequest: a client without a certificate is done
        # with the handshake, and s_client sees no CA names asked for
        # ("No client certificate CA names sent" alone proves nothing:
        # the MQTTS listener's CertificateRequest names no CA either;
        # s_client prints "Client Certificate Types" for any request.)
        for version in ("-tls1_2", "-tls1_3"):
            out = s_client(port, version)
            assert "No client certificate CA names sent" in out, out
            assert "Client Certificate Types" not in out, out
            assert "Verify return code" in out, out   # a whole handshake
        # while the MQTTS listener asks for one (TLS 1.2: the request
        # comes before the client's Finished, so s_client always sees it)
        out = s_client(b.tls_port, "-tls1_2")
        assert "Client Certificate Types" in out, out
        ctx = ssl.create_default_context(cafile=c.ca_file)
        ctx.check_hostname = False
        ctx.set_alpn_protocols(["h2", "http/1.1"])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
            with ctx.wrap_socket(raw) as tls:
                assert tls.selected_alpn_protocol() == "http/1.1"

        def request(method, path, body=None, headers=None):
            return https_request(ctx, port, method, path, body, headers)

        status, h, body = request("GET", "/console/")
        assert status == 200 and b"Strata console" in body
        assert "script-src 'self'" in h["Content-Security-Policy"]
        login = json.dumps({"token": c.admin_token})
        # the plain-HTTP origin of the same host and port is not ours
        status, _, _ = request("POST", "/console/api/login", login, {
            "Origin": "http://127.0.0.1:%d" % port})
        assert status == 403
        status, h, body = request("POST", "/console/api/login", login, {
            "Origin": "https://127.0.0.1:%d" % port})
        assert status == 200, body
        cookie = h["Set-Cookie"]
        assert "; Secure" in cookie and "HttpOnly" in cookie
        assert "Max-Age=120" in cookie
        status, _, body = request("GET", "/strata/nodes", headers={
            "Cookie": cookie.split(";")[0]})
        assert status == 200 and b'"nodes"' in body
        # a browser: the login page, a session, the nodes, over HTTPS
        # (the test CA is not the browser's: certificate errors ignored)
        steps = run_browser({
            "url": "https://127.0.0.1:%d/console/" % port,
            "token": c.admin_token, "only": "login", "insecure": True,
            "prefix": "https-"})
        assert steps["logged-in"]["who"].endswith(":user/admin")
        assert steps["cluster"]["nodes"], steps
        assert os.path.getsize(os.path.join(SHOTS, "https-login.png")) > 0
    finally:
        assert b.stop() == 0, b.log_text()[-2000:]


def test_https_console_own_certificate(console_cluster, tmp_path):
    """admin-tls-cert and admin-tls-key: the admin listener presents its
    own certificate, the MQTTS listener tls-cert; given alone, either is
    a configuration error."""
    c = console_cluster
    cert, key = str(tmp_path / "admin.crt"), str(tmp_path / "admin.key")

    def make_cert(cn):
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec",
                        "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                        "-keyout", key, "-out", cert, "-days", "2",
                        "-subj", "/CN=" + cn],
                       check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=20)

    make_cert("strata-admin-test")
    port = daemons.free_port()
    b = https_broker(c, port, ["--admin-tls-cert", cert,
                               "--admin-tls-key", key])
    try:
        b.wait_ready()
        assert "CN=strata-admin-test" in s_client(port).replace(" = ", "=")
        assert "CN=strata-admin-test" not in \
            s_client(b.tls_port).replace(" = ", "=")
        ctx = ssl.create_default_context(cafile=cert)
        ctx.check_hostname = False
        status, _, body = https_request(ctx, port, "GET", "/console/")
        assert status == 200 and b"Strata console" in body
        # SIGHUP reloads the admin listener's files too
        make_cert("strata-admin-renewed")
        b.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while "CN=strata-admin-renewed" not in \
                s_client(port).replace(" = ", "="):
            assert time.monotonic() < deadline, "not reloaded"
            time.sleep(0.2)
    finally:
        assert b.stop() == 0, b.log_text()[-2000:]
    lone = https_broker(c, daemons.free_port(), ["--admin-tls-cert", cert])
    assert lone.proc.wait(timeout=10) != 0
    assert "admin-tls-key" in lone.log_text()


def test_console_dir_must_hold_the_console(console_cluster, tmp_path):
    b = daemons.Broker(console_cluster.redis_port,
                       console_cluster.join_args() + [
                           "--admin-port", str(daemons.free_port()),
                           "--admin-token-file",
                           console_cluster.admin_token_file,
                           "--console-dir", str(tmp_path)])
    assert b.proc.wait(timeout=10) != 0
    assert "console-dir has no readable index.html" in b.log_text()


def test_cluster_run_prints_the_console(tmp_path):
    """`make run` (cluster.sh run) prints the console's address and the
    token to log in with, and the address serves the console."""
    directory = str(tmp_path / "run")
    args = ["run", "--dir", directory, "--brokers", "1", "--routers", "1",
            "--shadowd", "0", "--rulesd", "0", "--base-port",
            str(conftest.pick_base_port(1, 1))]
    if os.environ.get("STRATA_BIN_DIR"):
        args += ["--bin-dir", os.environ["STRATA_BIN_DIR"]]
    proc = subprocess.Popen(conftest._cluster_cmd(*args), cwd=ROOT,
                            stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    lines = []
    try:
        deadline = time.monotonic() + 90
        for raw in proc.stdout:
            lines.append(raw.decode("utf-8", "replace").rstrip("\n"))
            if lines[-1].strip().startswith("console:"):
                break
            assert time.monotonic() < deadline, "\n".join(lines)
        words = lines[-1].split()
        assert words[0] == "console:", "\n".join(lines)
        env = conftest.parse_env_file(os.path.join(directory,
                                                   "endpoints.env"))
        assert words[1] == env["CONSOLE_URL"]
        assert words[-1].rstrip(")") == env["ADMIN_TOKEN"]
        host, port = env["CONSOLE_URL"].split("/")[2].split(":")
        c = http.client.HTTPConnection(host, int(port), timeout=10)
        c.request("GET", "/console/")
        r = c.getresponse()
        assert r.status == 200 and b"Strata console" in r.read()
        c.close()
    finally:
        # run stops the cluster on TERM (and on Ctrl-C, which reaches its
        # whole process group; a SIGINT to bash alone is ignored while it
        # waits for the banner's cat, bash's cooperative exit)
        proc.terminate()
        try:
            proc.wait(timeout=60)
        finally:
            subprocess.run(conftest._cluster_cmd("down", "--dir", directory),
                           cwd=ROOT, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=60)


# ---- in a real browser ----

def chromium():
    return os.environ.get("STRATA_CHROMIUM") or shutil.which("chromium")


def run_browser(config):
    """tests/js/console-browser.mjs with config (plus the screenshots'
    directory and chromium): its steps by name; fails the test when it
    failed."""
    browser = chromium()
    if browser is None:
        pytest.fail("chromium not found: run deploy/deps.sh", pytrace=False)
    if not os.path.isdir(os.path.join(JS_DIR, "node_modules",
                                      "puppeteer-core")):
        pytest.fail("puppeteer-core not installed in tests/js: run "
                    "deploy/deps.sh", pytrace=False)
    os.makedirs(SHOTS, exist_ok=True)
    config = dict(config, shots=SHOTS, chromium=browser)
    run = subprocess.run(
        [shutil.which("node"), "console-browser.mjs"], cwd=JS_DIR,
        env=dict(os.environ, CONSOLE_TEST=json.dumps(config)),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=240)
    steps = {}
    for line in run.stdout.decode().splitlines():
        s = json.loads(line)
        steps[s["step"]] = s
    assert run.returncode == 0 and "done" in steps, (
        steps.get("failed"), run.stderr.decode()[-3000:], steps)
    return steps


def test_console_in_a_browser(console_cluster, tmp_path):
    c = console_cluster
    thing = "console-lamp-" + os.urandom(3).hex()
    ctl(c, "update-indexing-configuration", "--thing-indexing-configuration",
        json.dumps({"thingIndexingMode": "REGISTRY_AND_SHADOW",
                    "thingConnectivityIndexingMode": "STATUS"}))
    dev = new_device(c, tmp_path, thing, [allow(["iot:*"], "*")],
                     thing=thing, attributes={"room": "lab7"})
    device = tls_client(c, V5, dev.cert, dev.key, client_id=thing)
    delta = "$aws/things/%s/shadow/update/delta" % thing
    device.subscribe(delta, qos=1)
    topic = "console/it/" + os.urandom(3).hex()
    sub = mosq.Sub(c.host, c.mqtt_ports[0], "console/it/#", protocol=5)
    # a rule that works before the browser disables it
    rule = "console_rule_" + os.urandom(3).hex()
    rule_in, rule_out = "console/rule/%s/in" % rule, "console/rule/%s/out" % rule
    ctl(c, "create-topic-rule", "--rule-name", rule,
        "--topic-rule-payload", json.dumps({
            "sql": "SELECT * FROM '%s'" % rule_in,
            "actions": [{"republish": {"topic": rule_out, "qos": 1}},
                        # fails: no topic rule destination covers it
                        {"http": {"url": "https://127.0.0.1:9/console"}}]}))
    watcher = mqttc.Client(V5, client_id="console-watch-" + rule)
    watcher.connect(c.host, c.mqtt_ports[1])
    watcher.subscribe(rule_out, qos=1)
    deadline = time.monotonic() + 10
    while True:   # rulesd picks the new rule up from its change channel
        watcher.publish(rule_in, b'{"n":1}', qos=1)
        try:
            watcher.get(timeout=1, topic=rule_out)
            break
        except AssertionError:
            assert time.monotonic() < deadline, "the rule never ran"
    # a second device, whose certificate the browser revokes
    victim = new_device(c, tmp_path, thing + "-victim",
                        [allow(["iot:*"], "*")])
    victim_conn = tls_client(c, V5, victim.cert, victim.key,
                             client_id=thing + "-victim")
    # a third, in a group with a security profile, that breaks it: fewer
    # than 3 messages in 300 s is normal, the window decided at the third
    # (docs/internals/detect.md), so the violation stays active until the
    # next window has ended quiet, 5 minutes at least
    group, noisy, noisy_dev = group_with_device(c, tmp_path)
    profile = profile_on(c, group, [behavior(
        "chatty", "aws:num-messages-sent", "less-than", {"count": 3}, 300)])
    noisy_conn = tls_device(c, noisy_dev, noisy)
    for i in range(5):
        noisy_conn.publish("console/noisy/" + noisy, b"%d" % i, qos=1)
    deadline = time.monotonic() + 10
    while not ctl(c, "list-active-violations", "--thing-name",
                  noisy)["activeViolations"]:
        assert time.monotonic() < deadline, "no violation"
        time.sleep(0.2)
    policy = "console-policy-" + os.urandom(3).hex()
    policy_doc = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "iot:Connect", "Resource": "*"}]}
    try:
        sub.wait_subscribed()
        # endpoints.env names the console (make run prints it)
        assert c.env["CONSOLE_URL"] == c.admin_url + "/console/"
        config = {
            "url": c.env["CONSOLE_URL"], "token": c.admin_token,
            "thing": thing, "query": "attributes.room:lab7",
            "desired": {"color": "red"}, "topic": topic,
            "payload": '{"from":"browser"}', "filter": "console/it/#",
            "rule": rule, "revoke": victim.id, "policy": policy,
            "policyDocument": policy_doc, "violator": noisy,
            "profile": profile}
        steps = run_browser(config)
        assert "UnauthorizedException" in steps["login-refused"]["error"]
        assert steps["logged-in"]["who"].endswith(":user/admin")
        nodes = steps["cluster"]["nodes"]
        assert {n["role"] for n in nodes} == {"broker", "router", "shadowd",
                                              "rulesd"}
        assert all(n["state"] == "up" for n in nodes), nodes
        assert steps["cluster"]["stable"], "the node table moved"
        assert steps["cluster"]["overflow"] is False
        assert steps["keyboard"] == {"step": "keyboard",
                                     "first": "login-token",
                                     "before": "Skip to content"}
        assert steps["things-search"]["found"] == [thing]
        assert "InvalidQueryException" in steps["things-search"]["refused"]
        assert steps["thing"]["cert"] == "ACTIVE"
        assert "p-" + thing in steps["thing"]["page"]
        assert "Connected since" in steps["thing"]["page"]
        assert steps["narrow"]["overflow"] is False
        shadow = steps["shadow"]
        assert "Not saved" in shadow["invalid"]
        # as the console user, through the admin API (shadow-http-url)
        assert "through the admin API" in shadow["via"]
        assert json.loads(shadow["delta"]) == {"color": "red"}
        # the desired state edited in the browser reached the device
        msg = device.get(timeout=10, topic=delta)
        assert json.loads(msg.payload)["state"] == {"color": "red"}
        # the test client's publish reached mosquitto_sub
        line = sub.wait_for(lambda l: l.startswith(topic + " "),
                            timeout=10, what="the console's publish")
        assert line == topic + ' {"from":"browser"}'
        assert topic in steps["mqtt"]["log"]
        assert "contentType=application/json" in steps["mqtt"]["log"]
        # the rule disabled in the browser runs no more
        r = steps["rules"]
        assert r["before"] == "Enabled" and r["state"] == "Disabled"
        assert r["sql"] == "SELECT * FROM '%s'" % rule_in
        # the http action's failure, recorded by rulesd, on the rule's page
        assert "HttpAction" in r["errors"], r["errors"]
        assert rule_in in r["errors"]
        rule_errors = ctl(c, "list-topic-rule-errors", "--rule-name", rule)
        assert rule_errors["errors"][0]["kind"] == "action"
        assert rule_errors["errors"][0]["action"] == "HttpAction"
        assert ctl(c, "get-topic-rule", "--rule-name", rule)["rule"][
            "ruleDisabled"] is True
        time.sleep(1)   # rulesd takes the change from its channel
        watcher.drain()
        watcher.publish(rule_in, b'{"n":2}', qos=1)
        with pytest.raises(AssertionError):
            watcher.get(timeout=2, topic=rule_out)
        # the certificate revoked in the browser: its device is gone
        sec = steps["security"]
        assert sec["revoked"] == "REVOKED"
        victim_conn.wait_disconnected(timeout=10)
        assert ctl(c, "describe-certificate", "--certificate-id",
                   victim.id)["certificateDescription"]["status"] == \
            "REVOKED"
        assert "Not created" in sec["badJson"]
        assert "MalformedPolicyException" in sec["malformed"]
        assert "Effect" in sec["malformed"]
        got = ctl(c, "get-policy", "--policy-name", policy)
        assert json.loads(got["policyDocument"]) == policy_doc
        assert policy in sec["policy"]
        # the violation, as the page lists it
        v = steps["violations"]
        assert v["active"][:3] == [noisy, profile,
                                   "chatty (aws:num-messages-sent)"]
        assert int(v["active"][3]) >= 3 and v["active"][6] == "In alarm"
        assert v["active"][4] and v["active"][5], v   # since, last
        assert v["event"][1:5] == ["in-alarm", noisy, profile,
                                   "chatty (aws:num-messages-sent)"]
        assert v["stable"], ("the violation lists moved on a refresh", v)
        assert v["keyboard"] == ["violations-thing", "violations-auto",
                                 "Refresh now", "Active violations", noisy]
        # the thing filter
        assert v["filteredOut"] == 0 and "No active violation" in \
            v["emptyNote"]
        assert v["filteredIn"] == [noisy]
        assert v["overflow"] is False
        assert "logged-out" in steps
        # no script error and no CSP violation; the browser logs the
        # refusals the test asked for: the session probe and the wrong
        # token (401), the malformed policy (400), the shadow read before
        # it exists (404)
        errors = [e for e in steps["done"]["errors"]
                  if "status of 401" not in e and "status of 400" not in e
                  and "status of 404" not in e]
        assert errors == []
        assert steps["done"]["unlabelled"] == []
        for name in ("login", "cluster", "things", "thing", "shadow",
                     "mqtt", "rules", "rule", "security", "violations"):
            assert os.path.getsize(os.path.join(SHOTS, name + ".png")) > 0
    finally:
        sub.stop()
        device.close()
        watcher.close()
        victim_conn.close()
        noisy_conn.close()
