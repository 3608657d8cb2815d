"""The device data plane over HTTPS (docs/internals/data-plane.md), as a
device and an application call it, against the shared cluster's shadowd:
curl publishing with the device certificate (`POST /topics/...`) to MQTT
subscribers at QoS 0 and 1 with retain, MQTT 5 properties from AWS's
headers, policies deciding iot:Publish and iot:RetainPublish (403), bad
requests (400, 405, 413), the retained messages read back
(`GET /retainedMessage/...`) and listed page by page, stratactl's
get-retained-message and list-retained-messages, and the README's
walk-through run as written."""

import base64
import http.client
import json
import os
import subprocess
import uuid

import conftest
import mqttc
from test_registry import allow, new_device

ARN = "arn:aws:iot:local:000000000000"
BIN = os.environ.get("STRATA_BIN_DIR") or os.path.join(
    conftest.ROOT, "build", "bin")


def topic(tail="x"):
    return "dp-%s/%s" % (uuid.uuid4().hex[:10], tail)


def curl(cluster, method, path, cert=None, key=None, body=None,
         headers=()):
    """(status, JSON body, x-amzn-ErrorType) of one curl request to the
    first HTTPS data-plane port."""
    cert = cert or cluster.client_cert
    key = key or cluster.client_key
    args = ["curl", "-sS", "-D", "-", "--cacert", cluster.ca_file,
            "--cert", cert, "--key", key, "-X", method]
    for h in headers:
        args += ["-H", h]
    if body is not None:
        args += ["--data-binary", "@-"]
    url = "https://%s:%d%s" % (cluster.host, cluster.https_ports[0], path)
    r = subprocess.run(args + [url], input=body, stdout=subprocess.PIPE,
                       timeout=10, check=True)
    head, _, text = r.stdout.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    status = int(lines[0].split()[1])
    etype = None
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.lower() == "x-amzn-errortype":
            etype = value.strip()
    return status, json.loads(text), etype


def admin_http(cluster, method, path, body=None):
    """(status, JSON) from the plain data URL as the bootstrap admin."""
    conn = http.client.HTTPConnection(cluster.host,
                                      cluster.shadowd_http_ports[0],
                                      timeout=5)
    try:
        conn.request(method, path, body=body, headers={
            "Authorization": "Bearer " + cluster.admin_token})
        r = conn.getresponse()
        return r.status, json.loads(r.read())
    finally:
        conn.close()


def subscriber(cluster, filt, made):
    sub = mqttc.Client(mqttc.V5)
    made.append(sub)
    sub.connect(cluster.host, cluster.mqtt_ports[0])
    sub.subscribe(filt, 1)
    return sub


def b64(obj):
    return base64.b64encode(json.dumps(obj).encode()).decode()


def test_publish_qos0_qos1_with_properties(cluster):
    """curl at QoS 0 and QoS 1 reaches an MQTT 5 subscriber at that QoS;
    user properties, content type, correlation data, response topic and
    the UTF-8 payload format arrive as MQTT 5 properties."""
    t, made = topic(), []
    try:
        sub = subscriber(cluster, t, made)
        st, doc, _ = curl(cluster, "POST", "/topics/%s?qos=0" % t,
                          body=b"zero")
        assert st == 200 and doc["message"] == "OK" and doc["traceId"]
        m = sub.get()
        assert (m.payload, m.qos) == (b"zero", 0)
        st, doc, _ = curl(
            cluster, "POST", "/topics/%s?qos=1&contentType=text/plain"
            "&responseTopic=%s/reply&messageExpiry=60" % (t, t),
            body=b"one", headers=[
                "x-amz-mqtt5-user-properties: " +
                b64([{"site": "north"}, {"k": "v"}]),
                "x-amz-mqtt5-correlation-data: " +
                base64.b64encode(b"\x01\x02").decode(),
                "x-amz-mqtt5-payload-format-indicator: UTF8_DATA"])
        assert st == 200, doc
        m = sub.get()
        assert (m.payload, m.qos) == (b"one", 1)
        p = m.properties
        assert p.UserProperty == [("site", "north"), ("k", "v")]
        assert p.ContentType == "text/plain"
        assert p.CorrelationData == b"\x01\x02"
        assert p.ResponseTopic == t + "/reply"
        assert p.PayloadFormatIndicator == 1
        assert 0 < p.MessageExpiryInterval <= 60
    finally:
        for c in made:
            c.close()


def test_policy_denies_and_reserved_topics(cluster, tmp_path):
    """iot:Publish on the device's own topics only, no iot:RetainPublish:
    another topic and a retained publish are 403 ForbiddenException, as is
    a broker event topic for any device."""
    t = topic()
    dev = new_device(cluster, tmp_path, "dp-" + uuid.uuid4().hex[:8], [
        allow("iot:Publish", ARN + ":topic/" + t)])
    call = lambda path, body=b"x": curl(cluster, "POST", path, dev.cert,
                                        dev.key, body)
    st, _, _ = call("/topics/" + t)
    assert st == 200
    for path in ["/topics/%s/other" % t, "/topics/%s?retain=true" % t]:
        st, doc, etype = call(path)
        assert (st, etype) == (403, "ForbiddenException"), (path, doc)
        assert doc["message"]
    st, _, etype = curl(cluster, "POST", "/topics/$aws/events/presence/"
                        "connected/x", body=b"{}")
    assert (st, etype) == (403, "ForbiddenException")


def test_bad_requests(cluster):
    """Bad QoS, retain, headers, topic and method are 400 / 405; a body
    over 128 KB is 413 RequestEntityTooLargeException."""
    t = topic()
    for path, headers in [
            ("/topics/%s?qos=2" % t, []),
            ("/topics/%s?qos=x" % t, []),
            ("/topics/%s?retain=yes" % t, []),
            ("/topics/%s/%%2B" % t, []),
            ("/topics/%s?messageExpiry=-1" % t, []),
            ("/topics/" + t, ["x-amz-mqtt5-user-properties: !!"]),
            ("/topics/" + t, ["x-amz-mqtt5-user-properties: " +
                              b64({"not": "a list"})]),
            ("/topics/" + t, ["x-amz-mqtt5-payload-format-indicator: X"]),
            ("/topics/" + t, ["x-amz-mqtt5-correlation-data: a"])]:
        st, doc, etype = curl(cluster, "POST", path, body=b"x",
                              headers=headers)
        assert (st, etype) == (400, "InvalidRequestException"), (path, doc)
    st, doc, etype = curl(cluster, "POST", "/topics/" + t,
                          body=b"x" * (128 * 1024 + 1))
    assert (st, etype) == (413, "RequestEntityTooLargeException"), doc
    st, _, _ = curl(cluster, "POST", "/topics/" + t, body=b"x" * 128 * 1024)
    assert st == 200
    st, _, etype = curl(cluster, "GET", "/topics/" + t)
    assert (st, etype) == (405, "MethodNotAllowedException")


def test_retained_get_list_and_clear(cluster):
    """Retained publishes read back one by one (payload, QoS, time, user
    properties in base64 JSON) and listed page by page; an empty retained
    publish clears one (404 then); a forged nextToken is 400."""
    prefix = "dp-%s" % uuid.uuid4().hex[:10]
    topics = ["%s/r%d" % (prefix, i) for i in range(5)]
    for i, t in enumerate(topics):
        st, _, _ = curl(cluster, "POST", "/topics/%s?qos=1&retain=true" % t,
                        body=b"v%d" % i, headers=[
                            "x-amz-mqtt5-user-properties: " +
                            b64([{"i": str(i)}])])
        assert st == 200
    st, doc, _ = curl(cluster, "GET", "/retainedMessage/" + topics[3])
    assert st == 200, doc
    assert doc["topic"] == topics[3] and doc["qos"] == 1
    assert base64.b64decode(doc["payload"]) == b"v3"
    assert json.loads(base64.b64decode(doc["userProperties"])) == [
        {"i": "3"}]
    assert doc["lastModifiedTime"] > 1.6e12
    seen, token, pages = {}, None, 0
    while pages < 500:
        path = "/retainedMessage?maxResults=2" + (
            "&nextToken=" + token if token else "")
        st, page = admin_http(cluster, "GET", path)
        assert st == 200 and len(page["retainedTopics"]) <= 2, page
        pages += 1
        for e in page["retainedTopics"]:
            seen[e["topic"]] = e
        token = page.get("nextToken")
        if token is None:
            break
    assert pages >= 3
    for i, t in enumerate(topics):
        assert seen[t]["payloadSize"] == 2 and seen[t]["qos"] == 1, seen[t]
    st, _, etype = curl(cluster, "GET", "/retainedMessage?nextToken=1-9999-0-0")
    assert (st, etype) == (400, "InvalidRequestException")
    st, _, _ = curl(cluster, "POST", "/topics/%s?retain=true" % topics[0],
                    body=b"")
    assert st == 200
    st, _, etype = curl(cluster, "GET", "/retainedMessage/" + topics[0])
    assert (st, etype) == (404, "ResourceNotFoundException")


def stratactl(cluster, *args):
    env = dict(os.environ, STRATA_DATA_URL=cluster.data_url,
               STRATA_ADMIN_TOKEN=cluster.admin_token)
    r = subprocess.run([os.path.join(BIN, "stratactl")] + list(args),
                       env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=10)
    return r.returncode, r.stdout.decode(), r.stderr.decode()


def test_stratactl_and_admin_publish(cluster):
    """An admin identity publishes on the plain listener; stratactl
    get-retained-message and list-retained-messages read it as `aws
    iot-data` prints it; a missing one is ResourceNotFoundException."""
    t = topic("ctl")
    st, doc = admin_http(cluster, "POST", "/topics/%s?retain=true&qos=1" % t,
                         b"on")
    assert st == 200, doc
    rc, out, err = stratactl(cluster, "get-retained-message", "--topic", t)
    assert rc == 0, err
    doc = json.loads(out)
    assert doc["topic"] == t and doc["payload"] == "b24=" and doc["qos"] == 1
    rc, out, err = stratactl(cluster, "list-retained-messages",
                             "--max-results", "1")
    assert rc == 0, err
    page = json.loads(out)
    assert len(page["retainedTopics"]) == 1 and page["nextToken"]
    rc, out, err = stratactl(cluster, "list-retained-messages",
                             "--max-results", "1", "--next-token",
                             page["nextToken"])
    assert rc == 0 and json.loads(out)["retainedTopics"] != \
        page["retainedTopics"], out
    rc, _, err = stratactl(cluster, "get-retained-message", "--topic",
                           topic("none"))
    assert rc == 254 and "ResourceNotFoundException" in err, err


def test_readme_publish_walkthrough_runs(cluster, tmp_path):
    """The README's HTTPS publish walk-through, as written, on a topic of
    its own: mosquitto_sub sees both curl publishes, the retained one reads
    back."""
    t = "dp-%s/cmd" % uuid.uuid4().hex[:10]
    out = conftest.run_readme_block(
        cluster, "## Publishing over HTTPS", tmp_path,
        [("lamp-1/cmd", t)])
    assert "%s {\"on\": true}" % t in out, out
    assert "%s {\"on\": false}" % t in out, out
    assert '"payload":"%s"' % base64.b64encode(
        b'{"on": false}').decode() in out, out
