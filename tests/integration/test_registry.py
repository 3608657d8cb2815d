"""Device security end to end: the registry through stratactl and the
admin API, TLS clients checked against it (Paho and mosquitto_pub), the
policies on every action, live revocation on both brokers, and
just-in-time provisioning.  Certificates are made by the tests with the
openssl command line (certs.py)."""

import json
import os
import subprocess
import time
import urllib.request

import pytest

import certs
import conftest
import mosq
import mqttc
from mqttc import V311, V5

BIN = os.environ.get("STRATA_BIN_DIR") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "bin")
ARN = "arn:aws:iot:local:000000000000"


def ctl(cluster, *args, expect=0):
    """stratactl against broker 0's admin API; returns the parsed JSON
    (None for no output) and asserts the exit status."""
    env = dict(os.environ, STRATA_ADMIN_URL=cluster.admin_url,
               STRATA_ADMIN_TOKEN=cluster.admin_token)
    r = subprocess.run([os.path.join(BIN, "stratactl")] + list(args),
                       env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=20)
    out, err = r.stdout.decode(), r.stderr.decode()
    assert r.returncode == expect, (args, r.returncode, out, err)
    if expect != 0:
        return err
    return json.loads(out) if out.strip() else None


def policy_doc(*statements):
    return json.dumps({"Version": "2012-10-17",
                       "Statement": list(statements)})


def allow(actions, *resources):
    return {"Effect": "Allow", "Action": actions,
            "Resource": list(resources)}


def deny(actions, *resources):
    return {"Effect": "Deny", "Action": actions,
            "Resource": list(resources)}


class Device:
    """A certificate in the registry with its files."""

    def __init__(self, cert, key, cert_id, arn):
        self.cert, self.key, self.id, self.arn = cert, key, cert_id, arn


def new_device(cluster, tmp_path, name, statements, thing=None,
               attributes=None):
    """create-keys-and-certificate (ACTIVE), a policy of `statements`
    attached, optionally a thing attached."""
    d = tmp_path / name
    d.mkdir()
    out = ctl(cluster, "create-keys-and-certificate", "--set-as-active",
              "--certificate-pem-outfile", str(d / "c.crt"),
              "--public-key-outfile", str(d / "c.pub"),
              "--private-key-outfile", str(d / "c.key"))
    dev = Device(str(d / "c.crt"), str(d / "c.key"), out["certificateId"],
                 out["certificateArn"])
    ctl(cluster, "create-policy", "--policy-name", "p-" + name,
        "--policy-document", policy_doc(*statements))
    ctl(cluster, "attach-policy", "--policy-name", "p-" + name,
        "--target", dev.arn)
    if thing is not None:
        args = ["create-thing", "--thing-name", thing]
        if attributes:
            args += ["--attribute-payload",
                     json.dumps({"attributes": attributes})]
        ctl(cluster, *args)
        ctl(cluster, "attach-thing-principal", "--thing-name", thing,
            "--principal", dev.arn)
    return dev


def tls_client(cluster, protocol, cert, key, client_id=None, broker=0,
               expect_rc=0):
    c = mqttc.Client(protocol, client_id=client_id)
    c.tls(cluster.ca_file, cert, key)
    c.connect(cluster.host, cluster.mqtts_ports[broker], expect_rc=expect_rc)
    return c


@pytest.fixture
def closing():
    made = []
    yield made.append
    for c in made:
        c.close()


# ---- stratactl and the admin API ----

def test_walkthrough_stratactl_to_mosquitto_pub(cluster, tmp_path):
    """The README's path: thing, keys and certificate, policy, attach,
    then mosquitto_pub over mutual TLS on the MQTTS port."""
    topic = mqttc.unique("walk")
    thing = "walk-" + os.urandom(4).hex()
    out = ctl(cluster, "create-thing", "--thing-name", thing,
              "--attribute-payload", '{"attributes": {"room": "a1"}}')
    assert out["thingName"] == thing
    assert out["thingArn"] == "%s:thing/%s" % (ARN, thing)
    keys = ctl(cluster, "create-keys-and-certificate", "--set-as-active",
               "--certificate-pem-outfile", str(tmp_path / "d.crt"),
               "--public-key-outfile", str(tmp_path / "d.pub"),
               "--private-key-outfile", str(tmp_path / "d.key"))
    assert keys["certificateId"] == certs.cert_id(str(tmp_path / "d.crt"))
    assert keys["certificateArn"] == "%s:cert/%s" % (ARN,
                                                     keys["certificateId"])
    assert keys["keyPair"]["PrivateKey"].startswith("-----BEGIN")
    assert os.stat(tmp_path / "d.key").st_mode & 0o077 == 0
    (tmp_path / "p.json").write_text(policy_doc(
        allow("iot:Connect", "%s:client/${iot:Connection.Thing.ThingName}*"
              % ARN),
        allow(["iot:Publish", "iot:Receive"], "%s:topic/%s" % (ARN, topic)),
        allow("iot:Subscribe", "%s:topicfilter/%s" % (ARN, topic))))
    ctl(cluster, "create-policy", "--policy-name", "walk-" + thing,
        "--policy-document", "file://%s" % (tmp_path / "p.json"))
    ctl(cluster, "attach-policy", "--policy-name", "walk-" + thing,
        "--target", keys["certificateArn"])
    ctl(cluster, "attach-thing-principal", "--thing-name", thing,
        "--principal", keys["certificateArn"])
    assert ctl(cluster, "list-principal-things", "--principal",
               keys["certificateArn"])["things"] == [thing]
    desc = ctl(cluster, "describe-certificate", "--certificate-id",
               keys["certificateId"])["certificateDescription"]
    assert desc["status"] == "ACTIVE"
    tls = {"cafile": cluster.ca_file, "cert": str(tmp_path / "d.crt"),
           "key": str(tmp_path / "d.key")}
    # the certificate's only thing names it whatever the client id: the
    # subscriber is "<thing>-sub", the publisher "<thing>"
    sub = mosq.Sub(cluster.host, cluster.mqtts_ports[1], topic, tls=tls,
                   count=1, client_id=thing + "-sub")
    try:
        sub.wait_subscribed()
        mosq.pub(cluster.host, cluster.mqtts_ports[0], topic, "hello",
                 tls=tls, client_id=thing)
        sub.wait_for(lambda l: l == "%s hello" % topic, what="the message")
    finally:
        sub.stop()
    # a client id the policy does not name: CONNACK 5 (not authorized)
    r = subprocess.run(["mosquitto_pub", "-h", cluster.host, "-p",
                        str(cluster.mqtts_ports[0]), "-t", topic, "-m",
                        "x", "-q", "1", "-i", "stranger"] +
                       mosq._tls_args(tls), stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=10)
    assert r.returncode != 0
    assert b"not authorised" in r.stdout.lower(), r.stdout


def test_admin_api_errors(cluster):
    """Bad input gets an HTTP status and a JSON body naming it."""
    def call(method, path, body=None, token=cluster.admin_token):
        req = urllib.request.Request(
            cluster.admin_url + path, method=method,
            data=None if body is None else body.encode(),
            headers={"Authorization": "Bearer " + token})
        try:
            with urllib.request.urlopen(req, timeout=5) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    assert call("GET", "/things", token="wrong")[0] == 401
    status, body = call("POST", "/things/bad%20name", "{}")
    assert (status, body["error"], body["field"]) == (
        400, "InvalidRequestException", "thingName")
    status, body = call("POST", "/things/x", "{not json")
    assert status == 400 and "line 1" in body["message"]
    status, body = call("POST", "/policies/bad-" + os.urandom(3).hex(),
                        json.dumps({"policyDocument": '{"Version": "2012-10'
                                    '-17",\n "Statement": [}'}))
    assert (status, body["error"]) == (400, "MalformedPolicyException")
    assert "line 2 column" in body["message"]
    status, body = call("POST", "/policies/bad2-" + os.urandom(3).hex(),
                        json.dumps({"policyDocument": policy_doc(
                            {"Effect": "Allw", "Action": "iot:Connect",
                             "Resource": "*"})}))
    assert status == 400 and "Statement[0].Effect" in body["message"]
    assert call("GET", "/things/nothing-here")[0] == 404
    assert call("GET", "/certificates/" + "0" * 64)[0] == 404
    assert call("GET", "/certificates/xyz")[0] == 400
    assert call("DELETE", "/things")[0] == 405
    assert call("GET", "/no/such/path")[0] == 404
    # every call leaves an audit line: who, what, on what, from where, how
    marker = "audit-" + os.urandom(3).hex()
    assert call("GET", "/things/" + marker)[0] == 404
    assert call("GET", "/things/" + marker, token="wrong")[0] == 401
    deadline = time.monotonic() + 5
    while True:
        log = open(os.path.join(cluster.log_dir, "broker-0.log")).read()
        lines = [l for l in log.splitlines() if "admin call" in l and
                 (marker in l or "identity=anonymous" in l)]
        if len(lines) >= 2 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert any('identity=arn:aws:iam::000000000000:user/admin key=%s '
               'action=iot:DescribeThing resource="%s:thing/%s" '
               'source=127.0.0.1 status=404 '
               'error=ResourceNotFoundException' % (cluster.admin_key_id,
                                                    ARN, marker) in l
               for l in lines), lines
    assert any("identity=anonymous" in l and "status=401" in l
               for l in lines), lines


def test_stratactl_errors_and_thing_lifecycle(cluster):
    name = "life-" + os.urandom(4).hex()
    err = ctl(cluster, "describe-thing", "--thing-name", name, expect=254)
    assert err.startswith("An error occurred (ResourceNotFoundException) "
                          "when calling the DescribeThing operation")
    # a thing's type must exist (CreateThingType) first
    ctl(cluster, "create-thing-type", "--thing-type-name", "sensor")
    ctl(cluster, "create-thing", "--thing-name", name,
        "--thing-type-name", "sensor")
    err = ctl(cluster, "create-thing", "--thing-name", name,
              "--attribute-payload", '{"attributes": {"a": "1"}}',
              expect=254)
    assert "ResourceAlreadyExistsException" in err
    ctl(cluster, "update-thing", "--thing-name", name,
        "--attribute-payload", '{"attributes": {"a": "1"}, "merge": true}',
        "--expected-version", "1")
    d = ctl(cluster, "describe-thing", "--thing-name", name)
    assert (d["version"], d["attributes"], d["thingTypeName"]) == (
        2, {"a": "1"}, "sensor")
    err = ctl(cluster, "update-thing", "--thing-name", name,
              "--expected-version", "1", expect=254)
    assert "VersionConflictException" in err
    assert name in [t["thingName"] for t in
                    ctl(cluster, "list-things")["things"]]
    ctl(cluster, "delete-thing", "--thing-name", name)
    ctl(cluster, "describe-thing", "--thing-name", name, expect=254)


# ---- who may connect ----

@pytest.fixture(scope="module")
def matrix(cluster, tmp_path_factory):
    """Certificates for the connection matrix."""
    d = str(tmp_path_factory.mktemp("matrix"))
    cluster_ca = (cluster.ca_file,
                  os.path.join(os.path.dirname(cluster.ca_file), "ca.key"))
    other_ca = certs.make_ca(d, "unregistered")
    reg_ca = certs.make_ca(d, "registered")
    m = {"dir": d}
    everything = policy_doc(allow("iot:*", "*"))
    ctl(cluster, "create-policy", "--policy-name", "matrix-all",
        "--policy-document", everything, expect=None) if False else None
    out = subprocess.run([os.path.join(BIN, "stratactl"), "create-policy",
                          "--policy-name", "matrix-all",
                          "--policy-document", everything],
                         env=dict(os.environ,
                                  STRATA_ADMIN_URL=cluster.admin_url,
                                  STRATA_ADMIN_TOKEN=cluster.admin_token),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert out.returncode == 0 or b"AlreadyExists" in out.stderr

    def registered(name, ca, status="ACTIVE", **kw):
        crt, key = certs.make_leaf(d, name, ca, **kw)
        args = ["register-certificate", "--certificate-pem",
                "file://" + crt]
        if status == "ACTIVE":
            args.append("--set-as-active")
        out = ctl(cluster, *args)
        if status not in ("ACTIVE", "INACTIVE"):
            ctl(cluster, "update-certificate", "--certificate-id",
                out["certificateId"], "--new-status", status)
        ctl(cluster, "attach-policy", "--policy-name", "matrix-all",
            "--target", out["certificateArn"])
        m[name] = (crt, key)

    registered("active", cluster_ca)
    registered("inactive", cluster_ca, status="INACTIVE")
    registered("revoked", cluster_ca, status="REVOKED")
    registered("expired", cluster_ca, start="20200101000000Z",
               end="20200102000000Z")
    m["unknown"] = certs.make_leaf(d, "unknown", cluster_ca)
    m["foreign"] = certs.make_leaf(d, "foreign", other_ca)
    # a CA registered with the admin API, and a device of it
    ctl(cluster, "register-ca-certificate", "--ca-certificate",
        "file://" + reg_ca[0], "--set-as-active")
    registered("by-registered-ca", reg_ca)
    return m


ACCEPTED = ["active", "by-registered-ca"]
REFUSED = ["inactive", "revoked", "expired", "unknown", "foreign"]


@pytest.mark.parametrize("protocol", [V311, V5], ids=["3.1.1", "5"])
@pytest.mark.parametrize("case", ACCEPTED + REFUSED)
def test_connection_matrix_paho(cluster, matrix, case, protocol, closing):
    crt, key = matrix[case]
    if case in ACCEPTED:
        c = tls_client(cluster, protocol, crt, key)
        closing(c)
        c.publish(mqttc.unique("m"), b"x", qos=1)
        return
    c = mqttc.Client(protocol)
    closing(c)
    c.tls(cluster.ca_file, crt, key)
    # 0x86 Bad User Name or Password (3.1.1: 4)
    c.connect(cluster.host, cluster.mqtts_ports[0],
              expect_rc=4 if protocol == V311 else 134)


@pytest.mark.parametrize("case", ACCEPTED + REFUSED)
def test_connection_matrix_mosquitto_pub(cluster, matrix, case):
    crt, key = matrix[case]
    tls = {"cafile": cluster.ca_file, "cert": crt, "key": key}
    if case in ACCEPTED:
        mosq.pub(cluster.host, cluster.mqtts_ports[1], mqttc.unique("m"),
                 "x", tls=tls)
        return
    r = subprocess.run(["mosquitto_pub", "-h", cluster.host, "-p",
                        str(cluster.mqtts_ports[1]), "-t", "m/x", "-m", "x",
                        "-q", "1"] + mosq._tls_args(tls),
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=10)
    assert r.returncode != 0
    assert "not authorised" in r.stdout.decode().lower() or \
        "bad user" in r.stdout.decode().lower(), r.stdout


def test_refusals_are_counted(cluster, matrix):
    text = urllib.request.urlopen(
        "http://%s:%d/metrics" % (cluster.host, cluster.broker_metrics_ports[0]),
        timeout=5).read().decode()
    lines = [l for l in text.splitlines()
             if l.startswith("strata_broker_auth_refused_total")]
    assert any('reason="revoked"' in l and not l.endswith(" 0")
               for l in lines), lines


# ---- what a device may do ----

@pytest.mark.parametrize("protocol", [V311, V5], ids=["3.1.1", "5"])
def test_policy_matrix(cluster, tmp_path, protocol, closing):
    base = mqttc.unique("pol")
    dev = new_device(cluster, tmp_path, "pm" + os.urandom(3).hex(), [
        allow("iot:Connect", "%s:client/pm-*" % ARN),
        allow(["iot:Publish", "iot:Receive"], "%s:topic/%s/*" % (ARN, base)),
        deny("iot:Publish", "%s:topic/%s/secret" % (ARN, base)),
        allow("iot:Subscribe", "%s:topicfilter/%s/*" % (ARN, base)),
        deny("iot:Receive", "%s:topic/%s/hidden" % (ARN, base)),
    ])
    # iot:Connect on the client id
    c = mqttc.Client(protocol, client_id="other-id")
    closing(c)
    c.tls(cluster.ca_file, dev.cert, dev.key)
    c.connect(cluster.host, cluster.mqtts_ports[0],
              expect_rc=5 if protocol == V311 else 135)
    c = tls_client(cluster, protocol, dev.cert, dev.key, client_id="pm-1")
    closing(c)
    # subscribe: allowed filter granted, another refused (0x87 / 0x80)
    c.subscribe("%s/+" % base, qos=1)
    c.subscribe("elsewhere/#", qos=1,
                expect=0x80 if protocol == V311 else 0x87)
    # publish allowed and received
    c.publish("%s/open" % base, b"1", qos=1)
    assert c.get(topic="%s/open" % base).payload == b"1"
    # Receive denied while Subscribe allowed: not delivered
    other = tls_client(cluster, protocol, cluster.client_cert,
                       cluster.client_key)
    closing(other)
    other.publish("%s/hidden" % base, b"2", qos=1)
    other.publish("%s/open" % base, b"3", qos=1)
    got = [m.topic for m in c.drain(settle=1.0)]
    assert got == ["%s/open" % base], got
    if protocol == V5:
        # explicit Deny beats the Allow: PUBACK 0x87, connection stays
        info = c.paho.publish("%s/secret" % base, b"4", qos=1)
        info.wait_for_publish(5)
        c.publish("%s/open" % base, b"5", qos=1)
    else:
        # 3.1.1 cannot say no to a PUBLISH: the connection is closed
        c.paho.publish("%s/secret" % base, b"4", qos=1)
        c.wait_disconnected()


def test_policy_variables(cluster, tmp_path, closing):
    thing = "var-" + os.urandom(4).hex()
    dev = new_device(cluster, tmp_path, thing, [
        {"Effect": "Allow", "Action": "iot:Connect",
         "Resource": "%s:client/${iot:Connection.Thing.ThingName}" % ARN,
         "Condition": {"Bool": {"iot:Connection.Thing.IsAttached": "true"}}},
        allow(["iot:Publish", "iot:Receive"],
              "%s:topic/site/${iot:Connection.Thing.Attributes[site]}/"
              "${iot:ClientId}" % ARN),
        allow("iot:Subscribe",
              "%s:topicfilter/site/${iot:Connection.Thing.Attributes[site]}"
              "/*" % ARN),
    ], thing=thing, attributes={"site": "north"})
    c = tls_client(cluster, V5, dev.cert, dev.key, client_id=thing)
    closing(c)
    c.subscribe("site/north/#", qos=1)
    c.subscribe("site/south/#", qos=1, expect=0x87)
    c.publish("site/north/%s" % thing, b"x", qos=1)
    assert c.get().topic == "site/north/%s" % thing


def test_retain_publish_needs_its_own_action(cluster, tmp_path, closing):
    base = mqttc.unique("ret")
    dev = new_device(cluster, tmp_path, "rp" + os.urandom(3).hex(), [
        allow("iot:Connect", "*"),
        allow("iot:Publish", "%s:topic/%s/*" % (ARN, base)),
        allow("iot:RetainPublish", "%s:topic/%s/yes" % (ARN, base)),
    ])
    c = tls_client(cluster, V5, dev.cert, dev.key)
    closing(c)
    c.publish("%s/yes" % base, b"r", qos=1, retain=True)
    info = c.paho.publish("%s/no" % base, b"r", qos=1, retain=True)
    info.wait_for_publish(5)
    c.publish("%s/no" % base, b"plain", qos=1)


# ---- changes while connected ----

@pytest.mark.parametrize("status", ["REVOKED", "INACTIVE"])
def test_live_revocation_on_every_broker(cluster, tmp_path, status,
                                         closing):
    dev = new_device(cluster, tmp_path, "rev" + os.urandom(3).hex(),
                     [allow("iot:*", "*")])
    conns = [tls_client(cluster, V5, dev.cert, dev.key, broker=i)
             for i in range(len(cluster.mqtts_ports))]
    for c in conns:
        closing(c)
    t0 = time.monotonic()
    ctl(cluster, "update-certificate", "--certificate-id", dev.id,
        "--new-status", status)
    for c in conns:
        assert c.wait_disconnected(timeout=5) == 0x87
    assert time.monotonic() - t0 < 5
    c = mqttc.Client(V5)
    closing(c)
    c.tls(cluster.ca_file, dev.cert, dev.key)
    c.connect(cluster.host, cluster.mqtts_ports[0], expect_rc=134)


def test_policy_change_applies_to_live_connection(cluster, tmp_path,
                                                  closing):
    base = mqttc.unique("chg")
    name = "chg" + os.urandom(3).hex()
    dev = new_device(cluster, tmp_path, name, [
        allow("iot:Connect", "*"),
        allow("iot:Subscribe", "%s:topicfilter/%s/a" % (ARN, base))])
    c = tls_client(cluster, V5, dev.cert, dev.key)
    closing(c)
    c.subscribe("%s/b" % base, qos=1, expect=0x87)
    ctl(cluster, "create-policy", "--policy-name", name + "-more",
        "--policy-document",
        policy_doc(allow("iot:Subscribe", "%s:topicfilter/%s/b" % (ARN,
                                                                   base))))
    ctl(cluster, "attach-policy", "--policy-name", name + "-more",
        "--target", dev.arn)
    deadline = time.monotonic() + 5
    while True:
        rc, mid = c.paho.subscribe("%s/b" % base, 1)
        codes = c._wait_ack(mid, "SUBACK")
        if codes == [1] or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert codes == [1]


# ---- just-in-time provisioning ----

def test_just_in_time_provisioning(cluster, tmp_path, closing):
    d = str(tmp_path)
    ca = certs.make_ca(d, "jitp")
    template = {
        "Parameters": {"AWS::IoT::Certificate::CommonName":
                       {"Type": "String"},
                       "AWS::IoT::Certificate::Id": {"Type": "String"}},
        "Resources": {
            "thing": {"Type": "AWS::IoT::Thing", "Properties": {
                "ThingName": {"Ref": "AWS::IoT::Certificate::CommonName"},
                "AttributePayload": {"origin": "jitp"}}},
            "certificate": {"Type": "AWS::IoT::Certificate", "Properties": {
                "CertificateId": {"Ref": "AWS::IoT::Certificate::Id"},
                "Status": "ACTIVE"}},
            "policy": {"Type": "AWS::IoT::Policy", "Properties": {
                "PolicyDocument": policy_doc(
                    allow("iot:Connect",
                          "%s:client/${iot:Connection.Thing.ThingName}" %
                          ARN),
                    allow("iot:Publish", "%s:topic/jitp/*" % ARN))}},
        }}
    (tmp_path / "reg.json").write_text(json.dumps(
        {"templateBody": json.dumps(template)}))
    ctl(cluster, "register-ca-certificate", "--ca-certificate",
        "file://" + ca[0], "--set-as-active", "--allow-auto-registration",
        "--registration-config", "file://%s" % (tmp_path / "reg.json"))
    name = "jd-" + os.urandom(4).hex()
    crt, key = certs.make_leaf(d, name, ca)
    c = tls_client(cluster, V5, crt, key, client_id=name)
    closing(c)
    c.publish("jitp/hello", b"x", qos=1)
    thing = ctl(cluster, "describe-thing", "--thing-name", name)
    assert thing["attributes"] == {"origin": "jitp"}
    cert = ctl(cluster, "describe-certificate", "--certificate-id",
               certs.cert_id(crt))["certificateDescription"]
    assert cert["status"] == "ACTIVE"
    # a CA without a template does not provision
    ca2 = certs.make_ca(d, "plain")
    ctl(cluster, "register-ca-certificate", "--ca-certificate",
        "file://" + ca2[0], "--set-as-active")
    crt2, key2 = certs.make_leaf(d, "nobody", ca2)
    c2 = mqttc.Client(V5)
    closing(c2)
    c2.tls(cluster.ca_file, crt2, key2)
    c2.connect(cluster.host, cluster.mqtts_ports[0], expect_rc=134)


def test_readme_walkthrough_runs(cluster, tmp_path):
    """The README's device walk-through, run as written (the paths and
    ports of `make run` replaced by this cluster's)."""
    name = "lamp-" + os.urandom(3).hex()
    out = conftest.run_readme_block(cluster, "## A device of your own",
                                    tmp_path, [
                                        ("-p 8883", "-p %d" %
                                         cluster.mqtts_ports[0]),
                                        ("lamp-1", name),
                                        ("--policy-name lamp ",
                                         "--policy-name %s " % name)])
    assert "refused, as the policy says" in out, out
    cert_id = json.load(open(tmp_path / "lamp.json"))["certificateId"]
    desc = ctl(cluster, "describe-certificate", "--certificate-id",
               cert_id)["certificateDescription"]
    assert desc["status"] == "REVOKED"


def test_revocation_lifecycle_event(cluster, tmp_path, clients, closing):
    """A revoked certificate's connection ends with AWS's AUTH_ERROR, and
    its events name the certificate as principalIdentifier."""
    dev = new_device(cluster, tmp_path, "ev" + os.urandom(3).hex(),
                     [allow("iot:*", "*")])
    cid = "ev-" + os.urandom(4).hex()
    watcher = clients(V5, broker=1)
    watcher.subscribe("$aws/events/presence/+/%s" % cid, qos=1)
    c = tls_client(cluster, V5, dev.cert, dev.key, client_id=cid)
    closing(c)
    ev = json.loads(watcher.get(topic="$aws/events/presence/connected/%s"
                                % cid).payload)
    assert ev["principalIdentifier"] == dev.id
    ctl(cluster, "update-certificate", "--certificate-id", dev.id,
        "--new-status", "INACTIVE")
    c.wait_disconnected()
    ev = json.loads(watcher.get(
        topic="$aws/events/presence/disconnected/%s" % cid).payload)
    assert ev["disconnectReason"] == "AUTH_ERROR"
    assert ev["principalIdentifier"] == dev.id
    assert ev["clientInitiatedDisconnect"] is False


def test_certificate_list_condition(cluster, tmp_path, closing):
    """A ".List" condition key reads several certificate values at once
    (the subject's Organization fields): every one must be there."""
    d = str(tmp_path)
    ca = (cluster.ca_file,
          os.path.join(os.path.dirname(cluster.ca_file), "ca.key"))
    key, csr, crt = (os.path.join(d, n) for n in ("o.key", "o.csr", "o.crt"))
    for args in (["ecparam", "-name", "prime256v1", "-genkey", "-noout",
                  "-out", key],
                 ["req", "-new", "-key", key, "-subj",
                  "/CN=orgs/O=Alpha/O=Beta", "-out", csr],
                 ["x509", "-req", "-in", csr, "-CA", ca[0], "-CAkey", ca[1],
                  "-CAcreateserial", "-days", "1", "-out", crt]):
        subprocess.run(["openssl"] + args, cwd=d, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    out = ctl(cluster, "register-certificate", "--certificate-pem",
              "file://" + crt, "--set-as-active")
    name = "orgs-" + os.urandom(3).hex()
    ctl(cluster, "create-policy", "--policy-name", name, "--policy-document",
        policy_doc({"Effect": "Allow", "Action": "iot:Connect",
                    "Resource": "*", "Condition": {
                        "ForAnyValue:StringEquals": {
                            "iot:Certificate.Subject.Organization.List":
                                ["Alpha"]}}}))
    ctl(cluster, "attach-policy", "--policy-name", name, "--target",
        out["certificateArn"])
    c = tls_client(cluster, V5, crt, key)
    closing(c)
