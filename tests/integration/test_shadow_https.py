"""The Device Shadow REST API over HTTPS (strata-shadowd --https-port), as
a device calls it: Python's http.client and curl with the device's client
certificate, against the shared cluster's shadowd.  The certificate is
looked up in the registry on every request and its IoT policies decide
iot:GetThingShadow, iot:UpdateThingShadow, iot:DeleteThingShadow and
iot:ListNamedShadowsForThing on thing/T (classic) or thing/T/N (named):
401 for a certificate the registry refuses, 403 for a policy that does not
allow, no handshake without a certificate
(docs/internals/shadowd-http.md)."""

import http.client
import json
import ssl
import subprocess
import time
import uuid

import pytest

import certs
import daemons
from test_registry import allow, ctl, deny, new_device

ARN = "arn:aws:iot:local:000000000000"


def thing_name():
    return "thing-" + uuid.uuid4().hex[:10]


def https(cluster, method, path, cert, key, body=None):
    """(status, parsed JSON body) of one request to the first shadowd's
    HTTPS port, with the client certificate cert/key."""
    ctx = ssl.create_default_context(cafile=cluster.ca_file)
    ctx.load_cert_chain(cert, key)
    conn = http.client.HTTPSConnection(
        cluster.host, cluster.shadowd_https_ports[0], context=ctx, timeout=5)
    try:
        if isinstance(body, dict):
            body = json.dumps(body)
        conn.request(method, path, body=body)
        r = conn.getresponse()
        text = r.read()
        assert r.getheader("Content-Type") == "application/json", text
        return r.status, json.loads(text)
    finally:
        conn.close()


def shadow_path(thing, name=None):
    return "/things/%s/shadow" % thing + ("?name=" + name if name else "")


def metric(cluster, code):
    return daemons.metric(cluster.shadowd_metrics_ports[0],
                          "strata_shadowd_http_requests_total",
                          'listener="https",code="%s"' % code)


@pytest.fixture(autouse=True)
def needs_https(cluster):
    assert cluster.shadowd_https_ports, "cluster.sh starts shadowd with HTTPS"


def test_every_operation_with_the_development_certificate(cluster):
    """CLIENT_CERT's policy allows everything: update, get, named shadows,
    list and delete work as over plain HTTP, and the plain API (an admin
    identity) sees the same documents."""
    t = thing_name()
    c, k = cluster.client_cert, cluster.client_key
    st, doc = https(cluster, "POST", shadow_path(t), c, k,
                    {"state": {"desired": {"on": True}}, "clientToken": "a1"})
    assert st == 200 and doc["version"] == 1 and doc["clientToken"] == "a1"
    st, doc = https(cluster, "POST", shadow_path(t, "cfg"), c, k,
                    {"state": {"reported": {"rate": 5}}})
    assert st == 200 and doc["state"]["reported"] == {"rate": 5}
    st, doc = https(cluster, "GET", shadow_path(t), c, k)
    assert st == 200 and doc["state"]["delta"] == {"on": True}
    st, doc = https(cluster, "GET", "/api/things/shadow/"
                    "ListNamedShadowsForThing/" + t, c, k)
    assert st == 200 and doc["results"] == ["cfg"]
    # the same shadow through the admin-authenticated plain HTTP API
    conn = http.client.HTTPConnection(cluster.host,
                                      cluster.shadowd_http_ports[0],
                                      timeout=5)
    conn.request("GET", shadow_path(t, "cfg"),
                 headers={"Authorization": "Bearer " + cluster.admin_token})
    r = conn.getresponse()
    assert r.status == 200 and json.loads(r.read())["version"] == 1
    conn.close()
    st, doc = https(cluster, "DELETE", shadow_path(t), c, k)
    assert st == 200 and doc["version"] == 1
    st, doc = https(cluster, "GET", shadow_path(t), c, k)
    assert st == 404 and doc["code"] == 404


def test_policies_decide_each_action_and_shadow(cluster, tmp_path):
    """A device whose policy allows Get and List on its thing and its named
    shadows, Update on the classic shadow only, and denies Delete."""
    t, other = thing_name(), thing_name()
    dev = new_device(cluster, tmp_path, "https-" + t, [
        allow(["iot:GetThingShadow", "iot:ListNamedShadowsForThing"],
              ARN + ":thing/" + t, ARN + ":thing/" + t + "/*"),
        allow("iot:UpdateThingShadow", ARN + ":thing/" + t),
        # MQTT permissions on the shadow topics grant nothing over HTTP
        allow("iot:*", ARN + ":topic/$aws/things/*"),
        deny("iot:DeleteThingShadow", "*")])
    before = metric(cluster, 403)
    call = lambda m, p, b=None: https(cluster, m, p, dev.cert, dev.key, b)
    st, doc = call("POST", shadow_path(t), {"state": {"reported": {"x": 1}}})
    assert st == 200 and doc["version"] == 1, doc
    st, doc = call("GET", shadow_path(t))
    assert st == 200 and doc["state"]["reported"] == {"x": 1}
    st, doc = call("GET", shadow_path(t, "cfg"))
    assert st == 404, doc  # allowed; there is no such shadow
    for method, path, body in [
            ("POST", shadow_path(t, "cfg"), {"state": {"reported": {}}}),
            ("DELETE", shadow_path(t), None),
            ("GET", shadow_path(other), None),
            ("POST", shadow_path(other), {"state": {"reported": {"x": 1}}}),
            ("GET", "/api/things/shadow/ListNamedShadowsForThing/" + other,
             None)]:
        st, doc = call(method, path, body)
        assert st == 403 and doc["code"] == 403, (method, path, st, doc)
        assert doc["message"] and abs(doc["timestamp"] - time.time()) < 60
    st, doc = call("GET", "/api/things/shadow/ListNamedShadowsForThing/" + t)
    assert st == 200 and doc["results"] == []
    # the refused update wrote nothing
    st, doc = call("GET", shadow_path(t))
    assert st == 200 and doc["version"] == 1
    assert metric(cluster, 403) >= before + 5


def test_certificate_status_is_read_on_every_request(cluster, tmp_path):
    """INACTIVE and REVOKED certificates are refused 401 from the next
    request on; ACTIVE again is served again."""
    t = thing_name()
    dev = new_device(cluster, tmp_path, "status-" + t, [
        allow("iot:*", ARN + ":thing/" + t)])
    st, _ = https(cluster, "POST", shadow_path(t), dev.cert, dev.key,
                  {"state": {"reported": {"v": 1}}})
    assert st == 200
    for status, code in [("INACTIVE", 401), ("ACTIVE", 200),
                         ("REVOKED", 401)]:
        ctl(cluster, "update-certificate", "--certificate-id", dev.id,
            "--new-status", status)
        st, doc = https(cluster, "GET", shadow_path(t), dev.cert, dev.key)
        assert st == code, (status, doc)
        if code == 401:
            assert status in doc["message"], doc


def test_unregistered_certificate_is_refused(cluster, tmp_path):
    """A certificate of a CA the cluster does not know finishes the
    handshake (a CA registered at run time is the registry's to judge)
    and is refused 401: not in the registry."""
    d = str(tmp_path)
    ca = certs.make_ca(d, "stranger-ca")
    cert, key = certs.make_leaf(d, "stranger", ca)
    before = metric(cluster, 401)
    st, doc = https(cluster, "GET", shadow_path(thing_name()), cert, key)
    assert st == 401 and "not in the registry" in doc["message"], doc
    assert metric(cluster, 401) == before + 1


def test_no_certificate_no_handshake(cluster):
    """Without a client certificate the TLS handshake fails, as on the
    managed service's port 8443; shadowd keeps serving."""
    ctx = ssl.create_default_context(cafile=cluster.ca_file)
    conn = http.client.HTTPSConnection(
        cluster.host, cluster.shadowd_https_ports[0], context=ctx, timeout=5)
    with pytest.raises((ssl.SSLError, ConnectionError)):
        conn.request("GET", shadow_path(thing_name()))
        conn.getresponse().read()
    conn.close()
    st, _ = https(cluster, "GET", shadow_path(thing_name()),
                  cluster.client_cert, cluster.client_key)
    assert st == 404


def test_curl_as_a_device(cluster):
    """curl, the README's device: update then get over HTTPS."""
    t = thing_name()
    base = cluster.data_https_url
    args = ["curl", "-sS", "--cacert", cluster.ca_file, "--cert",
            cluster.client_cert, "--key", cluster.client_key]
    out = subprocess.run(args + ["-X", "POST", "-d",
                                 '{"state":{"reported":{"temp":21}}}',
                                 base + shadow_path(t)],
                         stdout=subprocess.PIPE, timeout=10, check=True)
    assert json.loads(out.stdout)["version"] == 1
    out = subprocess.run(args + [base + shadow_path(t)],
                         stdout=subprocess.PIPE, timeout=10, check=True)
    assert json.loads(out.stdout)["state"]["reported"] == {"temp": 21}
