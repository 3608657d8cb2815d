"""Topic rules on the admin API and in stratactl
(docs/internals/rules-admin.md): AWS IoT's CreateTopicRule, GetTopicRule,
ListTopicRules, ReplaceTopicRule, DeleteTopicRule, EnableTopicRule and
DisableTopicRule, through stratactl and through raw HTTP; their IAM
actions on rule ARNs; ListTopicRules' pages and filters; the record in
Redis and the rule's name PUBLISHed on strata:rules by every change;
and hostile input (bad JSON, wrong types, huge bodies, bad names)."""

import json
import os
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request

import test_admin_authz as authz

BIN = os.environ.get("STRATA_BIN_DIR") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "bin")
IOT = "arn:aws:iot:local:000000000000"


def call(cluster, method, path, body=None, auth=None):
    """One admin API call as the bootstrap identity (or auth); body a
    JSON value or bytes as they are.  (status, parsed JSON or None)."""
    data = None
    if body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
    req = urllib.request.Request(
        cluster.admin_url + path, method=method, data=data,
        headers={"Authorization": auth or "Bearer " + cluster.admin_token})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            status, raw = r.status, r.read()
    except urllib.error.HTTPError as e:
        status, raw = e.code, e.read()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, None


def ok(result):
    status, body = result
    assert status == 200, result
    return body


def refused(result, status, error):
    assert (result[0], (result[1] or {}).get("error")) == (status, error), \
        result
    return result[1]["message"]


def ctl(cluster, *args, expect=0):
    """stratactl against broker 0; the parsed answer (None when nothing
    is printed), or stderr when expect is not 0."""
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


def name(prefix="r"):
    return "%s_%s" % (prefix, os.urandom(4).hex())


def payload(topic="t/in", description="", **extra):
    p = {"sql": "SELECT * FROM '%s'" % topic, "description": description,
         "actions": [{"republish": {"topic": "t/out", "qos": 1}}],
         "awsIotSqlVersion": "2016-03-23"}
    p.update(extra)
    return p


class Subscriber:
    """A RESP connection to the cluster's Redis (AUTH as the daemons'
    user), SUBSCRIBEd to channel."""

    def __init__(self, cluster, channel):
        self.sock = socket.create_connection((cluster.host,
                                              cluster.redis_port), 5)
        self.buf = b""
        if cluster.redis_password_file:
            with open(cluster.redis_password_file) as f:
                password = f.read().strip()
            self.send("AUTH", cluster.redis_user, password)
            assert self.read() == "OK"
        self.send("SUBSCRIBE", channel)
        assert self.read()[0] == b"subscribe"

    def send(self, *words):
        out = b"*%d\r\n" % len(words)
        for w in words:
            w = w.encode() if isinstance(w, str) else w
            out += b"$%d\r\n%s\r\n" % (len(w), w)
        self.sock.sendall(out)

    def _line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(4096)
            assert chunk, "Redis closed the connection"
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def read(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise AssertionError("Redis error: %r" % rest)
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            while len(self.buf) < n + 2:
                self.buf += self.sock.recv(4096)
            data, self.buf = self.buf[:n], self.buf[n + 2:]
            return data
        assert kind == b"*", line
        return [self.read() for _ in range(int(rest))]

    def messages(self, n, timeout=5):
        """The next n messages' payloads, as text."""
        self.sock.settimeout(timeout)
        out = []
        while len(out) < n:
            m = self.read()
            if m[0] == b"message":
                out.append(m[2].decode())
        return out

    def close(self):
        self.sock.close()


def test_routes_over_http(cluster):
    """Every route with AWS's shapes: create answers {} (AWS: an empty
    body), a second create 409, get the rule with its ARN and createdAt
    (epoch seconds), replace keeps createdAt, disable and enable flip
    ruleDisabled, delete removes it; a rule that does not exist is
    UnauthorizedException (401), as the managed service answers."""
    rule = name()
    before = int(time.time())
    assert ok(call(cluster, "POST", "/rules/" + rule,
                   payload(description="first"))) == {}
    refused(call(cluster, "POST", "/rules/" + rule, payload()), 409,
            "ResourceAlreadyExistsException")
    got = ok(call(cluster, "GET", "/rules/" + rule))
    assert got["ruleArn"] == IOT + ":rule/" + rule
    r = got["rule"]
    assert list(r) == ["ruleName", "sql", "description", "createdAt",
                       "actions", "ruleDisabled", "awsIotSqlVersion"]
    assert r["ruleName"] == rule
    assert r["sql"] == "SELECT * FROM 't/in'"
    assert r["description"] == "first"
    assert isinstance(r["createdAt"], int)
    assert before <= r["createdAt"] <= time.time() + 1
    assert r["actions"] == [{"republish": {"topic": "t/out", "qos": 1}}]
    assert r["ruleDisabled"] is False
    assert r["awsIotSqlVersion"] == "2016-03-23"

    error_action = {"republish": {"topic": "t/errors", "qos": 0}}
    assert ok(call(cluster, "PATCH", "/rules/" + rule, payload(
        topic="t/other", description="second", ruleDisabled=True,
        errorAction=error_action))) == {}
    r2 = ok(call(cluster, "GET", "/rules/" + rule))["rule"]
    assert r2["createdAt"] == r["createdAt"]
    assert (r2["sql"], r2["description"], r2["ruleDisabled"]) == (
        "SELECT * FROM 't/other'", "second", True)
    assert r2["errorAction"] == error_action

    assert ok(call(cluster, "POST", "/rules/%s/enable" % rule)) == {}
    assert ok(call(cluster, "GET", "/rules/" + rule))["rule"][
        "ruleDisabled"] is False
    assert ok(call(cluster, "POST", "/rules/%s/disable" % rule)) == {}
    assert ok(call(cluster, "GET", "/rules/" + rule))["rule"][
        "ruleDisabled"] is True
    refused(call(cluster, "GET", "/rules/%s/enable" % rule), 405,
            "MethodNotAllowedException")

    assert ok(call(cluster, "DELETE", "/rules/" + rule)) == {}
    for method, path, body in (
            ("GET", "/rules/" + rule, None),
            ("PATCH", "/rules/" + rule, payload()),
            ("DELETE", "/rules/" + rule, None),
            ("POST", "/rules/%s/enable" % rule, None),
            ("POST", "/rules/%s/disable" % rule, None)):
        message = refused(call(cluster, method, path, body), 401,
                          "UnauthorizedException")
        assert rule in message
    # defaults: no description, no version given
    rule = name()
    ok(call(cluster, "POST", "/rules/" + rule, {
        "sql": "SELECT * FROM 'a/+'", "actions": []}))
    r = ok(call(cluster, "GET", "/rules/" + rule))["rule"]
    assert (r["description"], r["actions"], r["ruleDisabled"]) == (
        "", [], False)
    assert r["awsIotSqlVersion"]          # the parser's default
    ok(call(cluster, "DELETE", "/rules/" + rule))


def test_redis_record(cluster):
    """The record of rules-admin.md: strata:rule:{name} holds payload
    (without ruleDisabled), disabled, topic and created; the index
    strata:rule-names holds the name."""
    rule = name()
    ok(call(cluster, "POST", "/rules/" + rule,
            payload(topic="dev/+/temp", ruleDisabled=True)))
    rc, out = cluster.redis_cli(cluster.redis_port, "HGETALL",
                                "strata:rule:{%s}" % rule)
    assert rc == 0, out
    lines = out.splitlines()
    fields = dict(zip(lines[0::2], lines[1::2]))
    assert set(fields) == {"payload", "disabled", "topic", "created"}
    assert fields["disabled"] == "1"
    assert fields["topic"] == "dev/+/temp"
    stored = json.loads(fields["payload"])
    assert list(stored) == ["sql", "description", "actions",
                            "awsIotSqlVersion"]
    assert stored["sql"] == "SELECT * FROM 'dev/+/temp'"
    rc, out = cluster.redis_cli(cluster.redis_port, "ZSCORE",
                                "strata:rule-names", rule)
    assert (rc, out.strip()) == (0, "0")
    ok(call(cluster, "DELETE", "/rules/" + rule))
    rc, out = cluster.redis_cli(cluster.redis_port, "EXISTS",
                                "strata:rule:{%s}" % rule)
    assert out.strip() == "0"
    rc, out = cluster.redis_cli(cluster.redis_port, "ZSCORE",
                                "strata:rule-names", rule)
    assert out.strip() == ""


def test_every_change_is_published(cluster):
    """create, replace, disable, enable and delete each PUBLISH the
    rule's name on strata:rules; a refused call publishes nothing."""
    sub = Subscriber(cluster, "strata:rules")
    try:
        rule = name()
        ok(call(cluster, "POST", "/rules/" + rule, payload()))
        refused(call(cluster, "POST", "/rules/" + rule, payload()), 409,
                "ResourceAlreadyExistsException")
        ok(call(cluster, "PATCH", "/rules/" + rule, payload("t/2")))
        ok(call(cluster, "POST", "/rules/%s/disable" % rule))
        ok(call(cluster, "POST", "/rules/%s/enable" % rule))
        ok(call(cluster, "DELETE", "/rules/" + rule))
        refused(call(cluster, "DELETE", "/rules/" + rule), 401,
                "UnauthorizedException")
        other = name()
        ok(call(cluster, "POST", "/rules/" + other, payload()))
        # the changes of this rule, then the other's create: nothing
        # between them from the refused calls
        assert sub.messages(6) == [rule] * 5 + [other]
        ok(call(cluster, "DELETE", "/rules/" + other))
        assert sub.messages(1) == [other]
    finally:
        sub.close()


def test_list_pages_and_filters(cluster):
    """ListTopicRules in name order, maxResults a page, nextToken the
    next; filtered by ruleDisabled and by topic (the rules whose FROM
    filter is the topic or matches it)."""
    prefix = name("page")
    rules = sorted("%s_%d" % (prefix, i) for i in range(7))
    for i, rule in enumerate(rules):
        ok(call(cluster, "POST", "/rules/" + rule, payload(
            topic="%s/%s/+" % (prefix, "odd" if i % 2 else "even"),
            ruleDisabled=i % 3 == 0)))
    seen, token, pages = [], None, 0
    while True:
        path = "/rules?maxResults=3"
        if token:
            path += "&nextToken=" + token
        page = ok(call(cluster, "GET", path))
        pages += 1
        assert len(page["rules"]) <= 3
        seen += page["rules"]
        token = page.get("nextToken")
        if token is None:
            break
        assert len(page["rules"]) == 3
        assert token == page["rules"][-1]["ruleName"]
    names = [r["ruleName"] for r in seen]
    assert names == sorted(names) and len(set(names)) == len(names)
    mine = [r for r in seen if r["ruleName"].startswith(prefix)]
    assert [r["ruleName"] for r in mine] == rules
    first = mine[0]
    assert list(first) == ["ruleArn", "ruleName", "topicPattern",
                           "createdAt", "ruleDisabled"]
    assert first["ruleArn"] == IOT + ":rule/" + rules[0]
    assert first["topicPattern"] == prefix + "/even/+"
    assert first["ruleDisabled"] is True

    everything = ok(call(cluster, "GET", "/rules"))
    assert "nextToken" not in everything
    assert [r["ruleName"] for r in everything["rules"]] == names

    by_topic = ok(call(cluster, "GET", "/rules?topic=%s/odd/x" % prefix))
    assert [r["ruleName"] for r in by_topic["rules"]] == rules[1::2]
    by_filter = ok(call(cluster, "GET", "/rules?topic=%s/even/%%2B" %
                        prefix))
    assert [r["ruleName"] for r in by_filter["rules"]] == rules[0::2]
    disabled = ok(call(cluster, "GET", "/rules?ruleDisabled=true&topic="
                       "%s/even/x" % prefix))
    assert [r["ruleName"] for r in disabled["rules"]] == [
        r for i, r in enumerate(rules) if i % 2 == 0 and i % 3 == 0]
    enabled = ok(call(cluster, "GET", "/rules?ruleDisabled=false&topic="
                      "%s/even/x&maxResults=1" % prefix))
    assert [r["ruleName"] for r in enabled["rules"]] == [rules[2]]
    assert enabled["nextToken"] == rules[2]
    last = ok(call(cluster, "GET", "/rules?ruleDisabled=false&topic="
                   "%s/even/x&nextToken=%s" % (prefix, rules[2])))
    assert [r["ruleName"] for r in last["rules"]] == [rules[4]]
    assert "nextToken" not in last
    for rule in rules:
        ok(call(cluster, "DELETE", "/rules/" + rule))


def test_stratactl(cluster, tmp_path):
    """The seven commands with `aws iot`'s flags: the payload inline or
    from file://, the answers printed as they came, the error line and
    status 254 of a refusal, the payload's shape checked before sending
    (252)."""
    rule = name()
    f = tmp_path / "rule.json"
    f.write_text(json.dumps(payload(description="from a file")))
    assert ctl(cluster, "create-topic-rule", "--rule-name", rule,
               "--topic-rule-payload", "file://" + str(f)) is None
    err = ctl(cluster, "create-topic-rule", "--rule-name", rule,
              "--topic-rule-payload", json.dumps(payload()), expect=254)
    assert err.startswith("An error occurred "
                          "(ResourceAlreadyExistsException) when calling "
                          "the CreateTopicRule operation: ")
    got = ctl(cluster, "get-topic-rule", "--rule-name", rule)
    assert got["ruleArn"] == IOT + ":rule/" + rule
    assert got["rule"]["description"] == "from a file"
    listed = ctl(cluster, "list-topic-rules", "--topic", "t/in",
                 "--no-rule-disabled")
    assert rule in [r["ruleName"] for r in listed["rules"]]
    page = ctl(cluster, "list-topic-rules", "--max-results", "1")
    assert len(page["rules"]) == 1
    assert ctl(cluster, "replace-topic-rule", "--rule-name", rule,
               "--topic-rule-payload",
               json.dumps(payload("t/new", ruleDisabled=True))) is None
    got = ctl(cluster, "get-topic-rule", "--rule-name", rule)["rule"]
    assert (got["sql"], got["ruleDisabled"]) == ("SELECT * FROM 't/new'",
                                                 True)
    listed = ctl(cluster, "list-topic-rules", "--rule-disabled")
    assert rule in [r["ruleName"] for r in listed["rules"]]
    assert ctl(cluster, "enable-topic-rule", "--rule-name", rule) is None
    assert ctl(cluster, "get-topic-rule", "--rule-name", rule)["rule"][
        "ruleDisabled"] is False
    assert ctl(cluster, "disable-topic-rule", "--rule-name", rule) is None
    assert ctl(cluster, "delete-topic-rule", "--rule-name", rule) is None
    err = ctl(cluster, "get-topic-rule", "--rule-name", rule, expect=254)
    assert err.startswith("An error occurred (UnauthorizedException) when "
                          "calling the GetTopicRule operation: ")
    # checked before anything is sent
    err = ctl(cluster, "create-topic-rule", "--rule-name", rule, expect=252)
    assert "--topic-rule-payload" in err
    err = ctl(cluster, "create-topic-rule", "--rule-name", rule,
              "--topic-rule-payload", json.dumps(payload(sqll="x")),
              expect=252)
    assert 'Unknown parameter in topicRulePayload: "sqll"' in err
    err = ctl(cluster, "create-topic-rule", "--rule-name", rule,
              "--topic-rule-payload", '{"sql": "SELECT * FROM \'a\'"}',
              expect=252)
    assert 'Missing required parameter in topicRulePayload: "actions"' \
        in err
    err = ctl(cluster, "create-topic-rule", "--rule-name", "bad-name",
              "--topic-rule-payload", json.dumps(payload()), expect=254)
    assert "InvalidRequestException" in err
    ctl(cluster, "get-topic-rule", "--rule-name", rule, expect=254)


def test_bad_sql_is_refused(cluster):
    """A statement that does not parse is refused before it is stored:
    400 SqlParseException with the parser's line and column (AWS's error
    name); an action that does not parse is InvalidRequestException."""
    rule = name()
    message = refused(call(cluster, "POST", "/rules/" + rule, {
        "sql": "SELEC nothing", "actions": []}), 400, "SqlParseException")
    assert "line 1, column 1" in message, message
    message = refused(call(cluster, "POST", "/rules/" + rule, {
        "sql": "SELECT * FROM 'a'", "actions": [
            {"republish": {"topic": "x/${nosuchfunction()}"}}]}), 400,
        "InvalidRequestException")
    assert "actions[0].republish" in message, message
    refused(call(cluster, "GET", "/rules/" + rule), 401,
            "UnauthorizedException")
    ok(call(cluster, "POST", "/rules/" + rule, payload()))
    refused(call(cluster, "PATCH", "/rules/" + rule, {
        "sql": "SELEC nothing", "actions": []}), 400, "SqlParseException")
    assert ok(call(cluster, "GET", "/rules/" + rule))["rule"]["sql"] == \
        payload()["sql"]
    ok(call(cluster, "DELETE", "/rules/" + rule))


def test_iam_actions_and_resources(cluster):
    """Each route names its iot: action on arn:...:rule/<name> (the list
    on "*"): an identity allowed only iot:GetTopicRule reads rules and
    may do nothing else; one allowed on one rule ARN reads only it."""
    rule, other = name(), name()
    for r in (rule, other):
        ok(call(cluster, "POST", "/rules/" + r, payload()))
    _, key_id, secret = authz.make_user(cluster, {
        "Effect": "Allow", "Action": "iot:GetTopicRule", "Resource": "*"})
    reader = authz.bearer(key_id, secret)
    ok(call(cluster, "GET", "/rules/" + rule, auth=reader))
    message = refused(call(cluster, "POST", "/rules/" + name(), payload(),
                           auth=reader), 403, "AccessDeniedException")
    assert "iot:CreateTopicRule on resource: %s:rule/" % IOT in message
    message = refused(call(cluster, "GET", "/rules", auth=reader), 403,
                      "AccessDeniedException")
    assert "iot:ListTopicRules on resource: *" in message
    for method, path, action in (
            ("PATCH", "/rules/" + rule, "ReplaceTopicRule"),
            ("DELETE", "/rules/" + rule, "DeleteTopicRule"),
            ("POST", "/rules/%s/enable" % rule, "EnableTopicRule"),
            ("POST", "/rules/%s/disable" % rule, "DisableTopicRule")):
        message = refused(call(cluster, method, path, payload(),
                               auth=reader), 403, "AccessDeniedException")
        assert "iot:%s on resource: %s:rule/%s" % (action, IOT, rule) \
            in message
    _, key_id, secret = authz.make_user(cluster, {
        "Effect": "Allow", "Action": "iot:*TopicRule",
        "Resource": IOT + ":rule/" + rule})
    one = authz.bearer(key_id, secret)
    ok(call(cluster, "GET", "/rules/" + rule, auth=one))
    ok(call(cluster, "POST", "/rules/%s/disable" % rule, auth=one))
    refused(call(cluster, "GET", "/rules/" + other, auth=one), 403,
            "AccessDeniedException")
    refused(call(cluster, "DELETE", "/rules/" + other, auth=one), 403,
            "AccessDeniedException")
    for r in (rule, other):
        ok(call(cluster, "DELETE", "/rules/" + r))


def test_hostile_input(cluster):
    """Bad JSON, a body that is not an object, wrong member types, a
    payload over 16 KiB (400) and a body over 64 KiB (413), bad rule
    names, bad list parameters: each refused, nothing stored, the broker
    still answering."""
    rule = name()
    path = "/rules/" + rule
    for body in (b"{", b"[1, 2]", b"\"sql\"", b"{\"sql\": 1, "
                 b"\"actions\": []}", b"\xff\xfe{}", b"{\"sql\": null}",
                 b"{}"):
        status, answer = call(cluster, "POST", path, body)
        assert status == 400, (body, status, answer)
        assert answer["error"] in ("InvalidRequestException",
                                   "SqlParseException"), answer
    refused(call(cluster, "POST", path), 400, "InvalidRequestException")
    refused(call(cluster, "POST", path, payload(actions={"republish": {}})),
            400, "InvalidRequestException")
    refused(call(cluster, "POST", path, payload(errorAction=[])), 400,
            "InvalidRequestException")
    refused(call(cluster, "POST", path, payload(
        description="x" * 20000)), 400, "InvalidRequestException")
    refused(call(cluster, "POST", path, payload(
        description="x" * 70000)), 413, "InvalidRequestException")
    refused(call(cluster, "GET", path), 401, "UnauthorizedException")
    for bad in ("bad-name", "a" * 129, "r%C3%A9gle", "a.b", "%20",
                "a%3Bb"):
        message = refused(call(cluster, "POST", "/rules/" + bad,
                               payload()), 400, "InvalidRequestException")
        assert "ruleName" in message
        refused(call(cluster, "GET", "/rules/" + bad), 400,
                "InvalidRequestException")
    ok(call(cluster, "POST", "/rules/" + "a" * 128, payload()))
    ok(call(cluster, "DELETE", "/rules/" + "a" * 128))
    assert call(cluster, "GET", "/rules/a%00b")[0] == 404
    for query in ("maxResults=0", "maxResults=10001", "maxResults=x",
                  "maxResults=", "ruleDisabled=maybe",
                  "nextToken=..%2Fx", "nextToken="):
        refused(call(cluster, "GET", "/rules?" + query), 400,
                "InvalidRequestException")
    ok(call(cluster, "GET", "/rules?topic=%23"))
    ok(call(cluster, "GET", "/rules?topic=a%2F%2B%2F%23%2F%2B"))
    ok(call(cluster, "GET", "/things"))


# ---- HTTP topic rule destinations ----

DEST = IOT + ":ruledestination/http/"


def quoted(arn):
    return urllib.parse.quote(arn, safe="")


def create_destination(cluster, url):
    return call(cluster, "POST", "/destinations", {
        "destinationConfiguration": {"httpUrlConfiguration": {
            "confirmationUrl": url}}})


def dest_token(cluster, arn):
    rc, out = cluster.redis_cli(cluster.redis_port, "HGET",
                                "strata:ruledest:{%s}" % arn[len(DEST):],
                                "token")
    assert rc == 0, out
    return out.strip()


def confirm_anonymous(cluster, token):
    """ConfirmTopicRuleDestination as a browser follows the enableUrl:
    no Authorization header."""
    req = urllib.request.Request(cluster.admin_url + "/confirmdestination/" +
                                 token)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def test_destination_lifecycle(cluster):
    """Create (IN_PROGRESS), get, list, an update that would skip the
    confirmation refused, confirm by token without credentials
    (ENABLED), disable, enable, resend (IN_PROGRESS, a new token),
    delete; AWS's shapes throughout."""
    port = socket.socket()
    port.bind(("127.0.0.1", 0))
    url = "http://127.0.0.1:%d/lifecycle" % port.getsockname()[1]
    port.close()
    d = ok(create_destination(cluster, url))["topicRuleDestination"]
    arn = d["arn"]
    assert arn.startswith(DEST) and len(arn) == len(DEST) + 36
    assert d["status"] == "IN_PROGRESS"
    assert d["httpUrlProperties"] == {"confirmationUrl": url}
    assert isinstance(d["createdAt"], int)
    refused(create_destination(cluster, url), 409,
            "ResourceAlreadyExistsException")
    got = ok(call(cluster, "GET", "/destinations/" + quoted(arn)))
    assert got["topicRuleDestination"]["arn"] == arn
    listed = ok(call(cluster, "GET", "/destinations"))
    mine = [s for s in listed["destinationSummaries"] if s["arn"] == arn]
    assert mine[0]["httpUrlSummary"] == {"confirmationUrl": url}
    update = {"arn": arn, "status": "ENABLED"}
    refused(call(cluster, "PATCH", "/destinations", update), 409,
            "ConflictingResourceUpdateException")
    token = dest_token(cluster, arn)
    assert len(token) == 43
    refused(confirm_anonymous(cluster, "x" * 43), 400,
            "InvalidRequestException")
    refused(confirm_anonymous(cluster, "bad%20token"), 400,
            "InvalidRequestException")
    assert confirm_anonymous(cluster, token)[0] == 200
    refused(confirm_anonymous(cluster, token), 400, "InvalidRequestException")

    def status():
        return ok(call(cluster, "GET", "/destinations/" + quoted(arn)))[
            "topicRuleDestination"]["status"]
    assert status() == "ENABLED"
    for want in ("DISABLED", "ENABLED", "IN_PROGRESS"):
        ok(call(cluster, "PATCH", "/destinations",
                {"arn": arn, "status": want}))
        assert status() == want
    assert dest_token(cluster, arn) not in ("", token)
    refused(call(cluster, "PATCH", "/destinations",
                 {"arn": arn, "status": "ERROR"}), 400,
            "InvalidRequestException")
    refused(call(cluster, "PATCH", "/destinations",
                 {"arn": arn + "0", "status": "DISABLED"}), 400,
            "InvalidRequestException")
    ok(call(cluster, "DELETE", "/destinations/" + quoted(arn)))
    refused(call(cluster, "GET", "/destinations/" + quoted(arn)), 401,
            "UnauthorizedException")
    refused(call(cluster, "DELETE", "/destinations/" + quoted(arn)), 401,
            "UnauthorizedException")
    rc, out = cluster.redis_cli(cluster.redis_port, "HEXISTS",
                                "strata:ruledest-urls", url)
    assert out.strip() == "0"


def test_destination_validation(cluster):
    """Bad urls, bodies, ARNs, paging and status values: 400 with the
    member named; an http action whose confirmationUrl does not cover
    its url is refused at CreateTopicRule."""
    for url in ("ftp://h/x", "http://", "http://h/x#f", "http://u@h/",
                "http://h:0/", "http://h/" + "a" * 2000, "https://h/a b",
                "HTTP://h/"):
        refused(create_destination(cluster, url), 400,
                "InvalidRequestException")
    for body in ({}, {"destinationConfiguration": {}},
                 {"destinationConfiguration": {"vpcConfiguration": {}}}):
        refused(call(cluster, "POST", "/destinations", body), 400,
                "InvalidRequestException")
    refused(call(cluster, "GET", "/destinations/" + quoted(
        IOT + ":rule/x")), 400, "InvalidRequestException")
    for q in ("maxResults=0", "maxResults=1001", "nextToken=zz"):
        refused(call(cluster, "GET", "/destinations?" + q), 400,
                "InvalidRequestException")
    for status in ("enabled", "", None):
        refused(call(cluster, "PATCH", "/destinations",
                     {"arn": DEST + "0" * 8 + "-0000-4000-8000-" + "0" * 12,
                      "status": status}), 400, "InvalidRequestException")
    message = refused(call(cluster, "POST", "/rules/" + name(), {
        "sql": "SELECT * FROM 't'", "actions": [{"http": {
            "url": "http://h.example.net/x",
            "confirmationUrl": "http://h.example"}}]}), 400,
        "InvalidRequestException")
    assert "confirmationUrl" in message


def test_destination_iam_actions(cluster):
    """Get and delete are checked on the destination's ARN; create, list,
    update and an authenticated confirm on "*"."""
    _, key_id, secret = authz.make_user(cluster, {
        "Effect": "Allow", "Action": "iot:GetTopicRuleDestination",
        "Resource": "*"})
    reader = authz.bearer(key_id, secret)
    arn = DEST + "0" * 8 + "-0000-4000-8000-" + "0" * 12
    refused(call(cluster, "GET", "/destinations/" + quoted(arn),
                 auth=reader), 401, "UnauthorizedException")
    message = refused(call(cluster, "DELETE", "/destinations/" + quoted(arn),
                           auth=reader), 403, "AccessDeniedException")
    assert "iot:DeleteTopicRuleDestination on resource: " + arn in message
    for method, path, action in (
            ("POST", "/destinations", "CreateTopicRuleDestination"),
            ("GET", "/destinations", "ListTopicRuleDestinations"),
            ("PATCH", "/destinations", "UpdateTopicRuleDestination"),
            ("GET", "/confirmdestination/abc", "ConfirmTopicRuleDestination")):
        message = refused(call(cluster, method, path, auth=reader), 403,
                          "AccessDeniedException")
        assert "iot:%s on resource: *" % action in message
