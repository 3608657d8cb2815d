"""Fleet provisioning by claim and just-in-time registration, end to end:
provisioning templates through stratactl and the admin API, a device
with a claim certificate (made with create-keys-and-certificate, its
policy allowing only the provisioning topics) speaking the MQTT API
with Paho over TLS, the pre-provisioning hook as a small HTTP server in
the test, and a CA with auto-registration and no template."""

import http.server
import json
import os
import socket
import subprocess
import threading
import time

import pytest

import certs
import conftest
import mqttc
from mqttc import V311, V5
from test_registry import (ARN, allow, closing, ctl, new_device,  # noqa
                           policy_doc, tls_client)

CREATE = "$aws/certificates/create/json"
CSR = "$aws/certificates/create-from-csr/json"
ROLE = "arn:aws:iam::000000000000:role/provisioning"


def provision_topic(template):
    return "$aws/provisioning-templates/%s/provision/json" % template


def claim_statements(template):
    """AWS's documented claim policy: connect, and the provisioning
    topics only."""
    topics = ["$aws/certificates/create/*",
              "$aws/certificates/create-from-csr/*",
              "$aws/provisioning-templates/%s/provision/*" % template]
    return [
        allow("iot:Connect", "%s:client/*" % ARN),
        allow(["iot:Publish", "iot:Receive"],
              *["%s:topic/%s" % (ARN, t) for t in topics]),
        allow("iot:Subscribe",
              *["%s:topicfilter/%s" % (ARN, t) for t in topics]),
    ]


def device_template(prefix, **extra):
    """A template: thing <prefix>-<SerialNumber> in no group, the
    certificate ACTIVE, a policy by document, a device configuration."""
    t = {
        "Parameters": {
            "SerialNumber": {"Type": "String"},
            "Room": {"Type": "String", "Default": "lab"},
            "AWS::IoT::Certificate::Id": {"Type": "String"}},
        "Conditions": {"InLab": {"Fn::Equals": [{"Ref": "Room"}, "lab"]}},
        "Resources": {
            "thing": {"Type": "AWS::IoT::Thing",
                      "OverrideSettings": {"AttributePayload": "MERGE"},
                      "Properties": {
                          "ThingName": {"Fn::Join": ["-", [
                              prefix, {"Ref": "SerialNumber"}]]},
                          "AttributePayload": {
                              "room": {"Ref": "Room"},
                              "lab": {"Fn::If": ["InLab", "yes", "no"]}}}},
            "certificate": {"Type": "AWS::IoT::Certificate",
                            "Properties": {
                                "CertificateId": {
                                    "Ref": "AWS::IoT::Certificate::Id"},
                                "Status": "Active"}},
            "policy": {"Type": "AWS::IoT::Policy", "Properties": {
                "PolicyDocument": policy_doc(
                    allow("iot:Connect", "%s:client/"
                          "${iot:Connection.Thing.ThingName}" % ARN),
                    allow("iot:Publish", "%s:topic/%s/*" % (ARN, prefix)))}}},
        "DeviceConfiguration": {"Fallback": "https://example.com",
                                "Room": {"Fn::Sub": "room ${Room}"}}}
    t.update(extra)
    return t


def create_template(cluster, name, body, enabled=True, hook=None):
    args = ["create-provisioning-template", "--template-name", name,
            "--template-body", json.dumps(body),
            "--provisioning-role-arn", ROLE,
            "--enabled" if enabled else "--no-enabled"]
    if hook is not None:
        args += ["--pre-provisioning-hook", json.dumps({"targetArn": hook})]
    return ctl(cluster, *args)


class Claimer:
    """A device connected with its claim certificate, subscribed to the
    answers of the API."""

    def __init__(self, cluster, claim, template, protocol=V5, broker=0):
        self.c = tls_client(cluster, protocol, claim.cert, claim.key,
                            broker=broker)
        self.template = template
        for t in (CREATE, CSR, provision_topic(template)):
            self.c.subscribe(t + "/accepted", qos=1)
            self.c.subscribe(t + "/rejected", qos=1)

    def ask(self, topic, payload):
        """Publish a request; (accepted?, answer)."""
        self.c.publish(topic, json.dumps(payload).encode(), qos=1)
        msg = self.c.get()
        assert msg.topic in (topic + "/accepted", topic + "/rejected"), \
            msg.topic
        return msg.topic.endswith("/accepted"), json.loads(msg.payload)

    def create(self):
        ok, a = self.ask(CREATE, {})
        assert ok, a
        return a

    def provision(self, token, parameters, template=None):
        return self.ask(provision_topic(template or self.template),
                        {"certificateOwnershipToken": token,
                         "parameters": parameters})

    def close(self):
        self.c.close()


@pytest.fixture
def fleet(cluster, tmp_path, closing):
    """A template <name> (enabled) and a Claimer on it."""
    name = "fp" + os.urandom(3).hex()
    create_template(cluster, name, device_template(name))
    claim = new_device(cluster, tmp_path, "claim-" + name,
                       claim_statements(name))
    cl = Claimer(cluster, claim, name)
    closing(cl)
    return name, cl, claim


def cbor_encode(v):
    """The shortest CBOR of a dict / list / str / int / bool / None."""
    def head(mt, n):
        if n < 24:
            return bytes([mt << 5 | n])
        for info, size in ((24, 1), (25, 2), (26, 4), (27, 8)):
            if n < 1 << (8 * size):
                return bytes([mt << 5 | info]) + n.to_bytes(size, "big")
    if v is None:
        return b"\xf6"
    if v is True or v is False:
        return b"\xf5" if v else b"\xf4"
    if isinstance(v, int):
        return head(0, v) if v >= 0 else head(1, -1 - v)
    if isinstance(v, str):
        b = v.encode()
        return head(3, len(b)) + b
    if isinstance(v, list):
        return head(4, len(v)) + b"".join(cbor_encode(x) for x in v)
    return head(5, len(v)) + b"".join(cbor_encode(k) + cbor_encode(x)
                                      for k, x in v.items())


def cbor_decode(b):
    """The value of one CBOR item (the subset above); asserts it is
    whole."""
    def item(i):
        ib = b[i]
        mt, info = ib >> 5, ib & 0x1f
        i += 1
        if info < 24:
            n = info
        else:
            size = 1 << (info - 24)
            n = int.from_bytes(b[i:i + size], "big")
            i += size
        if mt == 0:
            return n, i
        if mt == 1:
            return -1 - n, i
        if mt == 3:
            return b[i:i + n].decode(), i + n
        if mt == 4:
            out = []
            for _ in range(n):
                x, i = item(i)
                out.append(x)
            return out, i
        if mt == 5:
            out = {}
            for _ in range(n):
                k, i = item(i)
                out[k], i = item(i)
            return out, i
        assert mt == 7, ib
        return {20: False, 21: True, 22: None}[info], i
    v, end = item(0)
    assert end == len(b)
    return v


def cert_id_of_pem(pem):
    der = subprocess.run(["openssl", "x509", "-outform", "DER"],
                         input=pem.encode(), stdout=subprocess.PIPE,
                         check=True, timeout=30).stdout
    import hashlib
    return hashlib.sha256(der).hexdigest()


def broker_metric(cluster, line_prefix, broker=0):
    """The value of the metric line starting with line_prefix."""
    import urllib.request
    text = urllib.request.urlopen("http://%s:%d/metrics" % (
        cluster.host, cluster.broker_metrics_ports[broker]),
        timeout=10).read().decode()
    for line in text.splitlines():
        if line.startswith(line_prefix + " "):
            return float(line.split()[-1])
    raise AssertionError("no metric " + line_prefix)


def describe_cert(cluster, cert_id):
    return ctl(cluster, "describe-certificate", "--certificate-id",
               cert_id)["certificateDescription"]


def test_create_keys_then_provision_then_connect(cluster, fleet, tmp_path,
                                                 clients, closing):
    name, cl, claim = fleet
    # a client on the other broker listening to every API topic
    spy = clients(V5, broker=1)
    spy.subscribe("$aws/certificates/#", qos=1)
    spy.subscribe("$aws/provisioning-templates/#", qos=1)
    # another device with the same claim certificate (as a fleet shares
    # one), subscribed to the same answer topics, on the other broker
    twin = Claimer(cluster, claim, name, broker=1)
    twin2 = Claimer(cluster, claim, name, protocol=V311)
    closing(twin2)
    closing(twin)
    keys = cl.create()
    assert set(keys) == {"certificateId", "certificatePem", "privateKey",
                         "certificateOwnershipToken"}
    assert keys["certificateId"] == cert_id_of_pem(keys["certificatePem"])
    assert describe_cert(cluster, keys["certificateId"])["status"] == \
        "PENDING_ACTIVATION"
    serial = os.urandom(3).hex()
    ok, a = cl.provision(keys["certificateOwnershipToken"],
                         {"SerialNumber": serial})
    assert ok, a
    thing = "%s-%s" % (name, serial)
    assert a == {"thingName": thing, "deviceConfiguration": {
        "Fallback": "https://example.com", "Room": "room lab"}}
    # nothing of it went anywhere else
    assert spy.drain(0.5) == []
    assert twin.c.drain(0.1) == []
    assert twin2.c.drain(0.1) == []
    desc = describe_cert(cluster, keys["certificateId"])
    assert desc["status"] == "ACTIVE"
    t = ctl(cluster, "describe-thing", "--thing-name", thing)
    assert t["attributes"] == {"room": "lab", "lab": "yes"}
    arn = "%s:cert/%s" % (ARN, keys["certificateId"])
    pols = ctl(cluster, "list-attached-policies", "--target", arn)
    assert len(pols["policies"]) == 1
    assert pols["policies"][0]["policyName"].startswith("prov-")
    things = ctl(cluster, "list-principal-things", "--principal", arn)
    assert things["things"] == [thing]
    assert broker_metric(cluster, 'strata_broker_fleet_answers_total'
                         '{result="accepted"}') >= 2
    # the token is single-use
    ok, a = cl.provision(keys["certificateOwnershipToken"],
                         {"SerialNumber": serial})
    assert not ok
    assert a["statusCode"] == 400
    assert a["errorCode"] == "InvalidCertificateOwnershipToken"
    # the device comes back with its own certificate and publishes
    (tmp_path / "dev.crt").write_text(keys["certificatePem"])
    (tmp_path / "dev.key").write_text(keys["privateKey"])
    watcher = clients(V5)
    watcher.subscribe("%s/#" % name, qos=1)
    dev = tls_client(cluster, V5, str(tmp_path / "dev.crt"),
                     str(tmp_path / "dev.key"), client_id=thing, broker=1)
    closing(dev)
    dev.publish("%s/hello" % name, b"hi", qos=1)
    assert watcher.get(topic="%s/hello" % name).payload == b"hi"


def test_create_from_csr(cluster, fleet, tmp_path, closing):
    name, cl, claim = fleet
    key, csr = tmp_path / "d.key", tmp_path / "d.csr"
    subprocess.run(["openssl", "ecparam", "-name", "prime256v1", "-genkey",
                    "-noout", "-out", str(key)], check=True, timeout=30)
    subprocess.run(["openssl", "req", "-new", "-key", str(key), "-subj",
                    "/CN=csr-device", "-out", str(csr)], check=True,
                   timeout=30)
    ok, a = cl.ask(CSR, {"certificateSigningRequest": csr.read_text()})
    assert ok, a
    assert set(a) == {"certificateId", "certificatePem",
                      "certificateOwnershipToken"}
    assert "CN=csr-device" in subprocess.run(
        ["openssl", "x509", "-noout", "-subject"], input=a[
            "certificatePem"].encode(), stdout=subprocess.PIPE,
        check=True, timeout=30).stdout.decode().replace(" ", "")
    serial = os.urandom(3).hex()
    ok, p = cl.provision(a["certificateOwnershipToken"],
                         {"SerialNumber": serial, "Room": "hall"})
    assert ok, p
    assert p["deviceConfiguration"]["Room"] == "room hall"
    assert describe_cert(cluster, a["certificateId"])["status"] == "ACTIVE"
    (tmp_path / "d.crt").write_text(a["certificatePem"])
    dev = tls_client(cluster, V311, str(tmp_path / "d.crt"), str(key),
                     client_id="%s-%s" % (name, serial))
    closing(dev)
    dev.publish("%s/csr" % name, b"x", qos=1)
    # a request that is not a CSR
    ok, a = cl.ask(CSR, {"certificateSigningRequest": "nope"})
    assert not ok and a["errorCode"] == "InvalidCertificateSigningRequest"


def test_rejections(cluster, fleet, tmp_path, closing):
    name, cl, claim = fleet
    keys = cl.create()
    token = keys["certificateOwnershipToken"]
    cases = [
        (("0" * 64, {"SerialNumber": "1"}), 400,
         "InvalidCertificateOwnershipToken"),
        ((token, {"Room": "x"}), 400, "InvalidParameters"),
        ((token, {"SerialNumber": "bad name!"}), 400, "InvalidParameters"),
    ]
    for (tok, params), status, code in cases:
        ok, a = cl.provision(tok, params)
        assert not ok, a
        assert (a["statusCode"], a["errorCode"]) == (status, code), a
        assert a["errorMessage"]
    assert "missing parameter SerialNumber" in cl.provision(
        token, {})[1]["errorMessage"]
    # not JSON, not an object, the wrong types
    for payload in (b"not json", b"[]", b'{"certificateOwnershipToken": 5}'):
        cl.c.publish(provision_topic(name), payload, qos=1)
        a = json.loads(cl.c.get(topic=provision_topic(name) +
                                "/rejected").payload)
        assert a["errorCode"] == "InvalidPayload", a
    # an unknown template (the claim's policy allows this one's topic)
    other = "fpx" + os.urandom(3).hex()
    c2 = new_device(cluster, tmp_path, "claim-" + other,
                    claim_statements(other))
    cl2 = Claimer(cluster, c2, other)
    closing(cl2)
    ok, a = cl2.provision(cl2.create()["certificateOwnershipToken"], {})
    assert (ok, a["statusCode"], a["errorCode"]) == (
        False, 404, "ResourceNotFound")
    # the token is bound to the claim certificate that asked for it
    create_template(cluster, other, device_template(other))
    ok, a = cl2.provision(token, {"SerialNumber": "2"})
    assert (ok, a["errorCode"]) == (False,
                                    "InvalidCertificateOwnershipToken")
    # a disabled template
    ctl(cluster, "update-provisioning-template", "--template-name", name,
        "--no-enabled")
    ok, a = cl.provision(token, {"SerialNumber": "3"})
    assert (ok, a["errorCode"]) == (False, "TemplateDisabled")
    # failures left the token usable
    ctl(cluster, "update-provisioning-template", "--template-name", name,
        "--enabled")
    ok, a = cl.provision(token, {"SerialNumber": os.urandom(2).hex()})
    assert ok, a


def test_cbor_topics(cluster, fleet, tmp_path, closing):
    """The .../cbor topics: requests and answers in CBOR, the same flow;
    a payload that is not a CBOR map is rejected (in CBOR)."""
    name, cl, claim = fleet
    create = "$aws/certificates/create/cbor"
    provision = "$aws/provisioning-templates/%s/provision/cbor" % name
    for t in (create, provision):
        cl.c.subscribe(t + "/accepted", qos=1)
        cl.c.subscribe(t + "/rejected", qos=1)
    cl.c.publish(create, cbor_encode({}), qos=1)
    keys = cbor_decode(cl.c.get(topic=create + "/accepted").payload)
    assert set(keys) == {"certificateId", "certificatePem", "privateKey",
                         "certificateOwnershipToken"}
    serial = os.urandom(3).hex()
    cl.c.publish(provision, cbor_encode({
        "certificateOwnershipToken": keys["certificateOwnershipToken"],
        "parameters": {"SerialNumber": serial}}), qos=1)
    a = cbor_decode(cl.c.get(topic=provision + "/accepted").payload)
    assert a == {"thingName": "%s-%s" % (name, serial),
                 "deviceConfiguration": {"Fallback": "https://example.com",
                                         "Room": "room lab"}}
    assert describe_cert(cluster, keys["certificateId"])["status"] == \
        "ACTIVE"
    for bad in (b"\xff", b"\x80", b"{}", cbor_encode({"a": 1}) + b"\x00"):
        cl.c.publish(create, bad, qos=1)
        r = cbor_decode(cl.c.get(topic=create + "/rejected").payload)
        assert (r["statusCode"], r["errorCode"]) == (400, "InvalidPayload")
    assert "CBOR" in r["errorMessage"]


def test_answers_cannot_be_forged(cluster, fleet, clients):
    """A client may not publish on an answer topic (3.1.1 is
    disconnected, as for any denied publish); a client without a
    certificate may not ask."""
    name, cl, claim = fleet
    c = clients(V311)
    c.paho.publish(CREATE + "/accepted", b'{"privateKey": "x"}', qos=1)
    c.wait_disconnected()
    assert cl.c.drain(0.3) == []
    plain = clients(V5)
    plain.subscribe(CREATE + "/+", qos=1)
    plain.publish(CREATE, b"{}", qos=1)
    msg = plain.get()
    assert msg.topic == CREATE + "/rejected"
    a = json.loads(msg.payload)
    assert (a["statusCode"], a["errorCode"]) == (403, "AccessDenied")


class Hook(http.server.BaseHTTPRequestHandler):
    answer = {"allowProvisioning": True}
    seen = []
    delay = 0.0

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Hook.seen.append(json.loads(body))
        time.sleep(Hook.delay)
        out = json.dumps(Hook.answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args):
        pass


@pytest.fixture
def hook_server():
    srv = http.server.HTTPServer(("127.0.0.1", 0), Hook)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield "http://127.0.0.1:%d/hook" % srv.server_address[1]
    srv.shutdown()
    srv.server_close()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_pre_provisioning_hook(cluster, tmp_path, hook_server, closing):
    name = "fh" + os.urandom(3).hex()
    create_template(cluster, name, device_template(name), hook=hook_server)
    d = ctl(cluster, "describe-provisioning-template", "--template-name",
            name)
    assert d["preProvisioningHook"] == {"targetArn": hook_server,
                                        "payloadVersion": "2020-04-01"}
    claim = new_device(cluster, tmp_path, "claim-" + name,
                       claim_statements(name))
    cl = Claimer(cluster, claim, name)
    closing(cl)
    keys = cl.create()
    # refused
    Hook.answer = {"allowProvisioning": False}
    ok, a = cl.provision(keys["certificateOwnershipToken"],
                         {"SerialNumber": "1"})
    assert (ok, a["statusCode"], a["errorCode"]) == (False, 403,
                                                     "AccessDenied")
    seen = Hook.seen[-1]
    assert seen["claimCertificateId"] == claim.id
    assert seen["certificateId"] == keys["certificateId"]
    assert seen["certificatePem"] == keys["certificatePem"]
    assert seen["templateArn"] == "%s:provisioningtemplate/%s" % (ARN, name)
    assert seen["clientId"] == cl.c.client_id
    assert seen["parameters"] == {"SerialNumber": "1"}
    # allowed, with an override
    serial = os.urandom(3).hex()
    Hook.answer = {"allowProvisioning": True,
                   "parameterOverrides": {"SerialNumber": serial}}
    ok, a = cl.provision(keys["certificateOwnershipToken"],
                         {"SerialNumber": "1"})
    assert ok, a
    assert a["thingName"] == "%s-%s" % (name, serial)
    # the hook down: refused (fail closed)
    down = "http://127.0.0.1:%d/hook" % free_port()
    ctl(cluster, "update-provisioning-template", "--template-name", name,
        "--pre-provisioning-hook", json.dumps({"targetArn": down}))
    keys = cl.create()
    ok, a = cl.provision(keys["certificateOwnershipToken"],
                         {"SerialNumber": "2"})
    assert (ok, a["statusCode"], a["errorCode"]) == (False, 500,
                                                     "InternalFailure")
    assert describe_cert(cluster, keys["certificateId"])["status"] == \
        "PENDING_ACTIVATION"


def test_answer_not_given_to_a_takeover(cluster, tmp_path, hook_server,
                                        closing):
    """A connection that takes the asker's persistent session over (same
    client id, same claim certificate) while the answer is being made
    gets nothing of it; the provisioning itself is done."""
    name = "fk" + os.urandom(3).hex()
    create_template(cluster, name, device_template(name), hook=hook_server)
    claim = new_device(cluster, tmp_path, "claim-" + name,
                       claim_statements(name))
    cid = "dev-" + os.urandom(4).hex()
    first = mqttc.Client(V5, client_id=cid, clean=False)
    closing(first)
    first.tls(cluster.ca_file, claim.cert, claim.key)
    first.connect(cluster.host, cluster.mqtts_ports[0], session_expiry=300)
    topic = provision_topic(name)
    for t in (CREATE, topic):
        first.subscribe(t + "/accepted", qos=1)
        first.subscribe(t + "/rejected", qos=1)
    first.publish(CREATE, b"{}", qos=1)
    keys = json.loads(first.get(topic=CREATE + "/accepted").payload)
    Hook.answer = {"allowProvisioning": True}
    Hook.delay = 1.5
    try:
        first.publish(topic, json.dumps({
            "certificateOwnershipToken": keys["certificateOwnershipToken"],
            "parameters": {"SerialNumber": os.urandom(2).hex()}}).encode(),
            qos=1)
        time.sleep(0.3)
        second = mqttc.Client(V5, client_id=cid, clean=False)
        closing(second)
        second.tls(cluster.ca_file, claim.cert, claim.key)
        second.connect(cluster.host, cluster.mqtts_ports[0],
                       session_expiry=300)
        assert second.session_present()
        deadline = time.monotonic() + 10
        while describe_cert(cluster, keys["certificateId"])[
                "status"] != "ACTIVE":
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert second.drain(1.0) == []
    finally:
        Hook.delay = 0.0


def test_template_admin_api(cluster, tmp_path):
    name = "ft" + os.urandom(3).hex()
    out = create_template(cluster, name, device_template(name),
                          enabled=False)
    assert out == {"templateArn": "%s:provisioningtemplate/%s" % (ARN, name),
                   "templateName": name, "defaultVersionId": 1}
    d = ctl(cluster, "describe-provisioning-template", "--template-name",
            name)
    assert d["enabled"] is False
    assert d["type"] == "FLEET_PROVISIONING"
    assert d["provisioningRoleArn"] == ROLE
    assert json.loads(d["templateBody"]) == device_template(name)
    names = [t["templateName"] for t in ctl(
        cluster, "list-provisioning-templates")["templates"]]
    assert name in names
    ctl(cluster, "update-provisioning-template", "--template-name", name,
        "--description", "the lamps", "--enabled")
    d = ctl(cluster, "describe-provisioning-template", "--template-name",
            name)
    assert (d["description"], d["enabled"]) == ("the lamps", True)
    # named errors
    err = ctl(cluster, "create-provisioning-template", "--template-name",
              name, "--template-body", json.dumps(device_template(name)),
              "--provisioning-role-arn", ROLE, expect=254)
    assert "ResourceAlreadyExistsException" in err
    bad = {"Resources": {"t": {"Type": "AWS::IoT::Thing", "Properties": {
        "ThingName": {"Ref": "Undeclared"}}}}}
    err = ctl(cluster, "create-provisioning-template", "--template-name",
              name + "b", "--template-body", json.dumps(bad),
              "--provisioning-role-arn", ROLE, expect=254)
    assert "InvalidRequestException" in err
    assert "unknown parameter Undeclared" in err
    err = ctl(cluster, "create-provisioning-template", "--template-name",
              name + "c", "--template-body", "{not json",
              "--provisioning-role-arn", ROLE, expect=254)
    assert "templateBody is not JSON" in err
    err = ctl(cluster, "create-provisioning-template", "--template-name",
              "bad name", "--template-body", "{}",
              "--provisioning-role-arn", ROLE, expect=254)
    assert "templateName" in err
    err = ctl(cluster, "create-provisioning-template", "--template-name",
              name + "d", "--template-body", json.dumps(bad),
              expect=252)
    assert "provisioning-role-arn" in err
    ctl(cluster, "delete-provisioning-template", "--template-name", name)
    err = ctl(cluster, "describe-provisioning-template", "--template-name",
              name, expect=254)
    assert "ResourceNotFoundException" in err
    assert name not in [t["templateName"] for t in ctl(
        cluster, "list-provisioning-templates")["templates"]]


# ---- just-in-time registration ----

def test_just_in_time_registration(cluster, tmp_path, clients, closing):
    d = str(tmp_path)
    ca = certs.make_ca(d, "jitr" + os.urandom(3).hex())
    out = ctl(cluster, "register-ca-certificate", "--ca-certificate",
              "file://" + ca[0], "--set-as-active")
    ca_id = out["certificateId"]
    ctl(cluster, "update-ca-certificate", "--certificate-id", ca_id,
        "--new-auto-registration-status", "ENABLE")
    watcher = clients(V5, broker=1)
    watcher.subscribe("$aws/events/certificates/registered/%s" % ca_id,
                      qos=1)
    name = "jr-" + os.urandom(4).hex()
    crt, key = certs.make_leaf(d, name, ca)
    cert_id = certs.cert_id(crt)
    c = mqttc.Client(V5, client_id=name)
    closing(c)
    c.tls(cluster.ca_file, crt, key)
    c.connect(cluster.host, cluster.mqtts_ports[0], expect_rc=134)
    ev = json.loads(watcher.get().payload)
    assert ev["certificateId"] == cert_id
    assert ev["caCertificateId"] == ca_id
    assert ev["certificateStatus"] == "PENDING_ACTIVATION"
    assert ev["awsAccountId"] == "000000000000"
    assert isinstance(ev["timestamp"], int)
    assert isinstance(ev["certificateRegistrationTimestamp"], int)
    desc = describe_cert(cluster, cert_id)
    assert desc["status"] == "PENDING_ACTIVATION"
    assert desc["caCertificateId"] == ca_id
    assert broker_metric(cluster, "strata_broker_jitr_registered_total") >= 1
    listed = {x["certificateId"]: x["status"] for x in
              ctl(cluster, "list-certificates")["certificates"]}
    assert listed[cert_id] == "PENDING_ACTIVATION"
    # a second attempt stays refused and publishes no second event
    c2 = mqttc.Client(V311, client_id=name)
    closing(c2)
    c2.tls(cluster.ca_file, crt, key)
    c2.connect(cluster.host, cluster.mqtts_ports[1], expect_rc=4)
    assert watcher.drain(0.5) == []
    # what a rule's action would do: activate it, give it a policy
    ctl(cluster, "create-policy", "--policy-name", "p-" + name,
        "--policy-document", policy_doc(allow("iot:*", "*")))
    ctl(cluster, "attach-policy", "--policy-name", "p-" + name,
        "--target", "%s:cert/%s" % (ARN, cert_id))
    ctl(cluster, "update-certificate", "--certificate-id", cert_id,
        "--new-status", "ACTIVE")
    deadline = time.monotonic() + 5
    while True:
        c3 = mqttc.Client(V5, client_id=name)
        closing(c3)
        c3.tls(cluster.ca_file, crt, key)
        rc = c3.connect(cluster.host, cluster.mqtts_ports[0],
                        expect_rc=None)[0]
        if rc == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert rc == 0
    c3.publish("jitr/%s" % name, b"up", qos=1)


def test_thing_groups(cluster, tmp_path, closing):
    """ThingGroups: a group that does not exist refuses the provisioning
    (and leaves the token); one that exists gets the thing as a member
    (the groups' layout of the registry: strata:thing-group:{g}, its
    members strata:group-things:{g}, the thing's strata:thing-groups-of)."""
    name = "fg" + os.urandom(3).hex()
    group = name + "-lamps"
    body = device_template(name)
    body["Parameters"]["Group"] = {"Type": "String"}
    body["Resources"]["thing"]["Properties"]["ThingGroups"] = [
        {"Ref": "Group"}]
    create_template(cluster, name, body)
    claim = new_device(cluster, tmp_path, "claim-" + name,
                       claim_statements(name))
    cl = Claimer(cluster, claim, name)
    closing(cl)
    keys = cl.create()
    token = keys["certificateOwnershipToken"]
    ok, a = cl.provision(token, {"SerialNumber": "1", "Group": group})
    assert (ok, a["statusCode"], a["errorCode"]) == (False, 404,
                                                     "ResourceNotFound")
    assert group in a["errorMessage"]
    rc, out = cluster.redis_cli(cluster.redis_port, "HSET",
                                "strata:thing-group:{%s}" % group, "name",
                                group)
    assert rc == 0, out
    ok, a = cl.provision(token, {"SerialNumber": "1", "Group": group})
    assert ok, a
    rc, out = cluster.redis_cli(cluster.redis_port, "SMEMBERS",
                                "strata:group-things:{%s}" % group)
    assert out.split() == [a["thingName"]]
    rc, out = cluster.redis_cli(cluster.redis_port, "SMEMBERS",
                                "strata:thing-groups-of:{%s}" %
                                a["thingName"])
    assert out.split() == [group]


# ---- an https hook, on a cluster of its own ----

def server_cert(directory, ca):
    """A server certificate for 127.0.0.1 (IP subjectAltName) signed by
    ca, made with `openssl x509 -req`."""
    key = os.path.join(directory, "hook.key")
    csr = os.path.join(directory, "hook.csr")
    crt = os.path.join(directory, "hook.crt")
    ext = os.path.join(directory, "hook.ext")
    with open(ext, "w") as f:
        f.write("subjectAltName=IP:127.0.0.1\n")
    for args in (["ecparam", "-name", "prime256v1", "-genkey", "-noout",
                  "-out", key],
                 ["req", "-new", "-key", key, "-subj", "/CN=hook",
                  "-out", csr],
                 ["x509", "-req", "-in", csr, "-CA", ca[0], "-CAkey", ca[1],
                  "-CAcreateserial", "-days", "2", "-extfile", ext,
                  "-out", crt]):
        subprocess.run(["openssl"] + args, check=True, timeout=30,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return crt, key


@pytest.fixture(scope="module")
def hook_pki(tmp_path_factory):
    """A CA the brokers trust for hooks (SSL_CERT_FILE), a server
    certificate of it, and one of a CA they do not trust."""
    d = str(tmp_path_factory.mktemp("hookpki"))
    trusted = certs.make_ca(d, "hooktrust")
    other = str(tmp_path_factory.mktemp("hookother"))
    untrusted = certs.make_ca(other, "hookother")
    return trusted, server_cert(d, trusted), server_cert(other, untrusted)


@pytest.fixture(scope="module")
def hook_cluster(hook_pki):
    import conftest
    with conftest.start_cluster(
            "hook_cluster", brokers=1,
            env={"SSL_CERT_FILE": hook_pki[0][0]}) as c:
        yield c


def https_hook(cert):
    import ssl
    srv = http.server.HTTPServer(("127.0.0.1", 0), Hook)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(*cert)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, "https://127.0.0.1:%d/hook" % srv.server_address[1]


def test_https_hook(hook_cluster, hook_pki, tmp_path, closing):
    """An https targetArn: the hook's certificate is checked against the
    brokers' trust store; one they do not trust refuses (fail closed)."""
    good, good_url = https_hook(hook_pki[1])
    bad, bad_url = https_hook(hook_pki[2])
    try:
        name = "fs" + os.urandom(3).hex()
        create_template(hook_cluster, name, device_template(name),
                        hook=good_url)
        claim = new_device(hook_cluster, tmp_path, "claim-" + name,
                           claim_statements(name))
        cl = Claimer(hook_cluster, claim, name)
        closing(cl)
        Hook.answer = {"allowProvisioning": True}
        keys = cl.create()
        ok, a = cl.provision(keys["certificateOwnershipToken"],
                             {"SerialNumber": "7"})
        assert ok, a
        assert Hook.seen[-1]["certificateId"] == keys["certificateId"]
        ctl(hook_cluster, "update-provisioning-template", "--template-name",
            name, "--pre-provisioning-hook",
            json.dumps({"targetArn": bad_url}))
        seen = len(Hook.seen)
        keys = cl.create()
        ok, a = cl.provision(keys["certificateOwnershipToken"],
                             {"SerialNumber": "8"})
        assert (ok, a["statusCode"], a["errorCode"]) == (
            False, 500, "InternalFailure"), a
        assert len(Hook.seen) == seen
    finally:
        for s in (good, bad):
            s.shutdown()
            s.server_close()


def test_jitp_with_a_named_template(cluster, tmp_path, closing):
    """A JITP template stored with CreateProvisioningTemplate (type JITP)
    and named by a CA's registrationConfig.templateName provisions the
    CA's devices on their first connection; a CA naming a template that
    does not exist neither provisions nor registers."""
    d = str(tmp_path)
    name = "fj" + os.urandom(3).hex()
    body = {
        "Parameters": {"AWS::IoT::Certificate::CommonName":
                       {"Type": "String"}},
        "Resources": {
            "thing": {"Type": "AWS::IoT::Thing", "Properties": {
                "ThingName": {"Ref": "AWS::IoT::Certificate::CommonName"},
                "AttributePayload": {"via": "named"}}},
            "policy": {"Type": "AWS::IoT::Policy", "Properties": {
                "PolicyDocument": policy_doc(allow("iot:*", "*"))}}}}
    ctl(cluster, "create-provisioning-template", "--template-name", name,
        "--template-body", json.dumps(body), "--provisioning-role-arn",
        ROLE, "--type", "JITP", "--enabled")
    err = ctl(cluster, "create-provisioning-template", "--template-name",
              name + "h", "--template-body", json.dumps(body),
              "--provisioning-role-arn", ROLE, "--type", "JITP",
              "--pre-provisioning-hook", "targetArn=http://127.0.0.1:9/",
              expect=254)
    assert "no pre-provisioning hook" in err
    ca = certs.make_ca(d, name)
    out = ctl(cluster, "register-ca-certificate", "--ca-certificate",
              "file://" + ca[0], "--set-as-active",
              "--allow-auto-registration", "--registration-config",
              json.dumps({"templateName": name}))
    desc = ctl(cluster, "describe-ca-certificate", "--certificate-id",
               out["certificateId"])
    assert desc["registrationConfig"] == {"templateName": name}
    dev = "jn-" + os.urandom(4).hex()
    crt, key = certs.make_leaf(d, dev, ca)
    c = tls_client(cluster, V5, crt, key, client_id=dev)
    closing(c)
    c.publish("jn/x", b"x", qos=1)
    assert ctl(cluster, "describe-thing", "--thing-name", dev)[
        "attributes"] == {"via": "named"}
    # fleet provisioning does not take a JITP template
    claim = new_device(cluster, tmp_path, "claim-" + name,
                       claim_statements(name))
    cl = Claimer(cluster, claim, name)
    closing(cl)
    ok, a = cl.provision(cl.create()["certificateOwnershipToken"], {})
    assert (ok, a["errorCode"]) == (False, "ResourceNotFound")
    # a CA naming a template that does not exist
    ca2 = certs.make_ca(d, name + "x")
    ctl(cluster, "register-ca-certificate", "--ca-certificate",
        "file://" + ca2[0], "--set-as-active", "--allow-auto-registration",
        "--registration-config", json.dumps({"templateName": "nope" + name}))
    crt2, key2 = certs.make_leaf(d, dev + "x", ca2)
    c2 = mqttc.Client(V5)
    closing(c2)
    c2.tls(cluster.ca_file, crt2, key2)
    c2.connect(cluster.host, cluster.mqtts_ports[0], expect_rc=134)
    ctl(cluster, "describe-certificate", "--certificate-id",
        certs.cert_id(crt2), expect=254)


def test_claim_rate_bound(cluster, tmp_path, closing):
    """One claim certificate may have 100 certificates made a minute,
    cluster-wide; the next request is rejected 429 Throttling."""
    name = "fr" + os.urandom(3).hex()
    claim = new_device(cluster, tmp_path, "claim-" + name,
                       claim_statements(name))
    cl = Claimer(cluster, claim, name)
    closing(cl)
    other = Claimer(cluster, claim, name, broker=1)
    closing(other)
    for i in range(100):
        c = cl if i % 2 == 0 else other
        c.c.publish(CREATE, b"{}", qos=1)
    got = [cl.c.get(topic=CREATE + "/accepted") for _ in range(50)]
    got += [other.c.get(topic=CREATE + "/accepted") for _ in range(50)]
    assert len({json.loads(m.payload)["certificateId"] for m in got}) == 100
    ok, a = cl.ask(CREATE, {})
    assert (ok, a["statusCode"], a["errorCode"]) == (False, 429,
                                                     "Throttling"), a


def test_readme_fleet_walkthrough_runs(cluster, tmp_path):
    """The README's fleet walk-through, run as written (the paths and
    ports of `make run` replaced by this cluster's, its names made unique
    on the shared cluster): a lamp provisioned by claim into floor-2 is
    allowed to publish by the policy of building-1 above it."""
    u = os.urandom(3).hex()
    heading = "## Fleets: thing groups"
    out = conftest.run_readme_block(cluster, heading, tmp_path, [
        ("lamp-7", "lamp-" + u), ('"SerialNumber": "7"',
                                  '"SerialNumber": "%s"' % u),
        ("8883", str(cluster.mqtts_ports[0])),
        ("building-1", "building-" + u), ("floor-2", "floor-" + u),
        ("lamp-template", "lt-" + u), ("lamp-claim", "lc-" + u),
        ("building-lamps", "bl-" + u),
        ("--thing-type-name lamp ", "--thing-type-name lamp%s " % u),
        ('"ThingTypeName": "lamp"', '"ThingTypeName": "lamp%s"' % u)])
    assert "'thingName': 'lamp-%s'" % u in out, out
    things = json.loads(out[out.index("{\n"):])["things"]
    assert things == ["lamp-" + u], out
    desc = ctl(cluster, "describe-thing", "--thing-name", "lamp-" + u)
    assert desc["thingTypeName"] == "lamp" + u
