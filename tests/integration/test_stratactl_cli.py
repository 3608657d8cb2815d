"""stratactl against a fake admin API: the wire requests of the CLI.

Every test here is marked `stratactl_wire`.  They check what the
command-line client sends and how it reports what comes back, not the
admin API itself: a small HTTP server started in the test (http.server in
a thread, on a free loopback port) records each request and answers
canned JSON shaped as docs/internals/admin-api.md (and, for the admin
identities, docs/internals/admin-authz.md) says.  Per command: the
method, the path (URL-encoded as sent), the query, the JSON body, the
headers (Authorization: Bearer, x-amzn-principal, Content-Type), the
printed answer; then outfiles and their modes, file:// values,
shorthand, the exit statuses 0/252/253/254/255 with their stderr lines,
timeouts, HTTPS with the development CA of deploy/local/gen-certs.sh,
and requests signed with an access key (STRATA-HMAC-SHA256, checked
here in Python) from the environment or a credentials file.  The same
fake stands in for strata-shadowd's HTTP API (docs/internals/
shadowd-http.md) for the shadow commands (`aws iot-data`): their
endpoint, payloads (base64, raw, fileb://), outfiles and error lines.
No cluster is started.  The end-to-end test against a broker's admin API
comes with the server.
"""

import calendar
import collections
import hashlib
import hmac
import http.server
import json
import os
import shutil
import socket
import ssl
import stat
import subprocess
import tempfile
import threading
import time
import urllib.parse

import pytest

import daemons

pytestmark = pytest.mark.stratactl_wire

GEN_CERTS = os.path.join(daemons.ROOT, "deploy", "local", "gen-certs.sh")
TOKEN = "s3cret-token"
CERT_ID = "5c4f" * 16
CA_ID = "9ab1" * 16
CERT_ARN = "arn:aws:iot:local:000000000000:cert/" + CERT_ID
CERT_ARN_ENCODED = ("arn%3Aaws%3Aiot%3Alocal%3A000000000000%3Acert%2F" +
                    CERT_ID)
THING_ARN = "arn:aws:iot:local:000000000000:thing/lamp-1"
POLICY_ARN = "arn:aws:iot:local:000000000000:policy/lamps"
GROUP_ARN = "arn:aws:iot:local:000000000000:thinggroup/kitchen"
TYPE_ARN = "arn:aws:iot:local:000000000000:thingtype/lamp"
PEM = ("-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIU\n"
       "-----END CERTIFICATE-----\n")
KEY_PEM = ("-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49\n"
           "-----END PRIVATE KEY-----\n")
PUBLIC_PEM = ("-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYI\n"
              "-----END PUBLIC KEY-----\n")
USER_ARN = "arn:aws:iam::000000000000:user/ops"
ADMIN_POLICY_ARN = "arn:aws:iam::000000000000:policy/ReadOnly"
ACCESS_KEY_ID = "AKIAQ2RV7WXK3M5PZY4N"
SECRET_KEY = "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"
ADMIN_POLICY_DOCUMENT = json.dumps({
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": ["iot:Describe*",
                                                 "iot:List*"],
                   "Resource": "*"}]})
POLICY_DOCUMENT = json.dumps({
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "iot:Connect",
                   "Resource": "*"}]})
RULE_ARN = "arn:aws:iot:local:000000000000:rule/lamps_on"
DEST_ARN = ("arn:aws:iot:local:000000000000:ruledestination/http/"
            "7a280e37-b9c6-47a2-a751-0703693f46e4")
DEST_ARN_ENCODED = urllib.parse.quote(DEST_ARN, safe="")
DEST = {"arn": DEST_ARN, "createdAt": 1764686400,
        "httpUrlProperties": {"confirmationUrl": "https://hooks.example/in"},
        "lastUpdatedAt": 1764686400, "status": "IN_PROGRESS",
        "statusReason": ""}
RULE_PAYLOAD = json.dumps({
    "sql": "SELECT state FROM 'lamps/+/on'", "description": "lamps",
    "actions": [{"republish": {"topic": "lamps/on", "qos": 1}}],
    "ruleDisabled": False, "awsIotSqlVersion": "2016-03-23"})
SANITIZER_PATTERNS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                      "runtime error:")

Request = collections.namedtuple(
    "Request", "method raw_path path raw_query query headers body")


class Answer:
    """A canned answer: status, body (a JSON value, or bytes as they
    are), headers; delay: seconds to wait first (or until the server
    closes); hang_up: close the connection without answering."""

    def __init__(self, status=200, body=None, headers=None, delay=0,
                 hang_up=False):
        self.status = status
        self.body = {} if body is None else body
        self.headers = headers or {}
        self.delay = delay
        self.hang_up = hang_up

    def data(self):
        if isinstance(self.body, bytes):
            return self.body
        return json.dumps(self.body).encode()


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _any(self):
        fake = self.server.fake
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        split = urllib.parse.urlsplit(self.path)
        query = {k: v[0] if len(v) == 1 else v for k, v in
                 urllib.parse.parse_qs(split.query,
                                       keep_blank_values=True).items()}
        fake.requests.append(Request(
            self.command, split.path, urllib.parse.unquote(split.path),
            split.query, query,
            {k.lower(): v for k, v in self.headers.items()}, body))
        answer = fake.next_answer()
        if answer.delay:
            fake.closing.wait(answer.delay)
        if answer.hang_up:
            self.close_connection = True
            return
        data = answer.data()
        self.send_response(answer.status)
        self.send_header("Content-Type", "application/json")
        for k, v in answer.headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _any

    def log_message(self, *args):
        pass


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address, tls):
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)
        self.tls = tls

    def get_request(self):
        conn, addr = super().get_request()
        if self.tls is not None:
            # the handshake in the handler's thread, not the accept loop
            conn = self.tls.wrap_socket(conn, server_side=True,
                                        do_handshake_on_connect=False)
        return conn, addr

    def finish_request(self, request, client_address):
        if self.tls is not None:
            try:
                request.do_handshake()
            except (ssl.SSLError, OSError):
                return
        super().finish_request(request, client_address)

    def handle_error(self, request, client_address):
        pass  # a client gone before its answer (the timeout test)


class FakeAdmin:
    """The admin API as a recorder: requests holds every request in
    order; answer() queues the answers (200 {} when none is queued)."""

    def __init__(self, host="127.0.0.1", tls=None):
        self.requests = []
        self.answers = []
        self.closing = threading.Event()
        self.server = _Server((host, 0), tls)
        self.server.fake = self
        self.host = host
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       args=(0.05,), daemon=True)
        self.thread.start()

    def url(self, scheme="http", host=None):
        host = host or self.host
        if ":" in host:
            host = "[%s]" % host
        return "%s://%s:%d" % (scheme, host, self.port)

    def answer(self, *args, **kwargs):
        self.answers.append(Answer(*args, **kwargs))

    def next_answer(self):
        return self.answers.pop(0) if self.answers else Answer()

    def close(self):
        self.closing.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake():
    f = FakeAdmin()
    yield f
    f.close()


Result = collections.namedtuple("Result", "rc out err elapsed")


def stratactl_bin():
    path = os.path.join(daemons.bin_dir(), "stratactl")
    if not os.access(path, os.X_OK):
        pytest.fail("%s is not built" % path, pytrace=False)
    return path


def run(args, url=None, token=TOKEN, env=None, cwd=None):
    """Run stratactl with a clean environment: STRATA_ADMIN_URL=url and
    STRATA_ADMIN_TOKEN=token unless None, plus env."""
    e = {k: v for k, v in os.environ.items()
         if k in ("PATH", "ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS")}
    if url is not None:
        e["STRATA_ADMIN_URL"] = url
    if token is not None:
        e["STRATA_ADMIN_TOKEN"] = token
    e.update(env or {})
    start = time.monotonic()
    p = subprocess.run([stratactl_bin()] + list(args), env=e, cwd=cwd,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=30)
    err = p.stderr.decode("utf-8", "replace")
    assert not any(s in err for s in SANITIZER_PATTERNS), err
    return Result(p.returncode, p.stdout.decode("utf-8"), err,
                  time.monotonic() - start)


def printed(value):
    """What the AWS CLI prints for a JSON answer."""
    if value == {}:
        return ""
    return json.dumps(value, indent=4, ensure_ascii=False) + "\n"


PROV_ROLE = "arn:aws:iam::000000000000:role/provisioning"
PROV_ARN = "arn:aws:iot:local:000000000000:provisioningtemplate/lamps"

SP_ARN = "arn:aws:iot:local:000000000000:securityprofile/fleet"
MA_ARN = "arn:aws:iot:local:000000000000:mitigationaction/quarantine"
GROUP_TARGET = "arn:aws:iot:local:000000000000:thinggroup/lamps"

Case = collections.namedtuple(
    "Case", "command args method path query body principal answer")

# One case per command of docs/internals/admin-api.md and of section 4 of
# docs/internals/admin-authz.md: the command line, what
# must arrive (method, path as sent, query, JSON body or None for no body,
# x-amzn-principal or None) and the canned 200 answer, which must be
# printed back as it came.
CASES = [
    Case("create-thing",
         ["--thing-name", "lamp-1", "--thing-type-name", "lamp",
          "--attribute-payload", '{"attributes": {"color": "red"}}'],
         "POST", "/things/lamp-1", {},
         {"thingTypeName": "lamp",
          "attributePayload": {"attributes": {"color": "red"}}}, None,
         {"thingName": "lamp-1", "thingArn": THING_ARN,
          "thingId": "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"}),
    Case("describe-thing", ["--thing-name", "lamp-1"],
         "GET", "/things/lamp-1", {}, None, None,
         {"defaultClientId": "lamp-1", "thingName": "lamp-1",
          "thingId": "0f1e", "thingArn": THING_ARN,
          "thingTypeName": "lamp", "attributes": {"color": "red"},
          "version": 1}),
    Case("list-things", [], "GET", "/things", {}, None, None,
         {"things": [{"thingName": "lamp-1", "thingArn": THING_ARN,
                      "attributes": {}, "version": 1}]}),
    Case("update-thing",
         ["--thing-name", "lamp-1", "--thing-type-name", "bulb",
          "--attribute-payload", "attributes={color=blue,watts=60},"
          "merge=true", "--expected-version", "1"],
         "PATCH", "/things/lamp-1", {},
         {"thingTypeName": "bulb",
          "attributePayload": {"attributes": {"color": "blue",
                                              "watts": "60"},
                               "merge": True},
          "expectedVersion": 1}, None, {}),
    Case("delete-thing", ["--thing-name", "lamp-1", "--expected-version",
                          "2"],
         "DELETE", "/things/lamp-1", {"expectedVersion": "2"}, None, None,
         {}),
    Case("create-keys-and-certificate", ["--set-as-active"],
         "POST", "/keys-and-certificate", {"setAsActive": "true"}, None,
         None,
         {"certificateArn": CERT_ARN, "certificateId": CERT_ID,
          "certificatePem": PEM,
          "keyPair": {"PublicKey": PUBLIC_PEM, "PrivateKey": KEY_PEM}}),
    Case("register-ca-certificate",
         ["--ca-certificate", PEM, "--set-as-active",
          "--allow-auto-registration", "--registration-config",
          '{"templateBody": "{\\"Resources\\": {}}"}'],
         "POST", "/cacertificate",
         {"setAsActive": "true", "allowAutoRegistration": "true"},
         {"caCertificate": PEM,
          "registrationConfig": {"templateBody": '{"Resources": {}}'}},
         None,
         {"certificateArn": "arn:aws:iot:local:000000000000:cacert/" +
          CA_ID, "certificateId": CA_ID}),
    Case("describe-ca-certificate", ["--certificate-id", CA_ID],
         "GET", "/cacertificate/" + CA_ID, {}, None, None,
         {"certificateDescription": {"certificateId": CA_ID,
                                     "status": "ACTIVE",
                                     "creationDate": 1764686400}}),
    Case("list-ca-certificates", [], "GET", "/cacertificates", {}, None,
         None,
         {"certificates": [{"certificateArn": "arn:aws:iot:local:"
                            "000000000000:cacert/" + CA_ID,
                            "certificateId": CA_ID, "status": "ACTIVE",
                            "creationDate": 1764686400.5}]}),
    Case("update-ca-certificate",
         ["--certificate-id", CA_ID, "--new-status", "INACTIVE"],
         "PUT", "/cacertificate/" + CA_ID, {"newStatus": "INACTIVE"}, {},
         None, {}),
    Case("delete-ca-certificate", ["--certificate-id", CA_ID],
         "DELETE", "/cacertificate/" + CA_ID, {}, None, None, {}),
    Case("register-certificate",
         ["--certificate-pem", PEM, "--ca-certificate-pem", PEM,
          "--no-set-as-active"],
         "POST", "/certificate/register", {"setAsActive": "false"},
         {"certificatePem": PEM, "caCertificatePem": PEM}, None,
         {"certificateArn": CERT_ARN, "certificateId": CERT_ID}),
    Case("update-certificate",
         ["--certificate-id", CERT_ID, "--new-status", "REVOKED"],
         "PUT", "/certificates/" + CERT_ID, {"newStatus": "REVOKED"}, None,
         None, {}),
    Case("describe-certificate", ["--certificate-id", CERT_ID],
         "GET", "/certificates/" + CERT_ID, {}, None, None,
         {"certificateDescription": {
             "certificateArn": CERT_ARN, "certificateId": CERT_ID,
             "status": "ACTIVE", "certificatePem": PEM,
             "ownedBy": "000000000000", "creationDate": 1764686400,
             "lastModifiedDate": 1764686401,
             "validity": {"notBefore": 1764686400,
                          "notAfter": 2080046400}}}),
    Case("list-certificates", ["--page-size", "10"], "GET", "/certificates",
         {"pageSize": "10"}, None, None,
         {"certificates": [{"certificateArn": CERT_ARN,
                            "certificateId": CERT_ID, "status": "ACTIVE",
                            "creationDate": 1764686400}]}),
    Case("delete-certificate", ["--certificate-id", CERT_ID,
                                "--force-delete"],
         "DELETE", "/certificates/" + CERT_ID, {"forceDelete": "true"},
         None, None, {}),
    Case("create-policy",
         ["--policy-name", "lamps", "--policy-document", POLICY_DOCUMENT],
         "POST", "/policies/lamps", {}, {"policyDocument": POLICY_DOCUMENT},
         None,
         {"policyName": "lamps", "policyArn": POLICY_ARN,
          "policyDocument": POLICY_DOCUMENT, "policyVersionId": "1"}),
    Case("get-policy", ["--policy-name", "lamps"],
         "GET", "/policies/lamps", {}, None, None,
         {"policyName": "lamps", "policyArn": POLICY_ARN,
          "policyDocument": POLICY_DOCUMENT, "defaultVersionId": "1",
          "creationDate": 1764686400, "lastModifiedDate": 1764686400}),
    Case("list-policies", [], "GET", "/policies", {}, None, None,
         {"policies": [{"policyName": "lamps", "policyArn": POLICY_ARN}]}),
    Case("delete-policy", ["--policy-name", "lamps"],
         "DELETE", "/policies/lamps", {}, None, None, {}),
    Case("attach-policy", ["--policy-name", "lamps", "--target", CERT_ARN],
         "PUT", "/target-policies/lamps", {}, {"target": CERT_ARN}, None,
         {}),
    Case("detach-policy", ["--policy-name", "lamps", "--target", CERT_ARN],
         "POST", "/target-policies/lamps", {}, {"target": CERT_ARN}, None,
         {}),
    Case("list-attached-policies", ["--target", CERT_ARN],
         "POST", "/attached-policies/" + CERT_ARN_ENCODED, {}, None, None,
         {"policies": [{"policyName": "lamps", "policyArn": POLICY_ARN}]}),
    Case("list-targets-for-policy", ["--policy-name", "lamps"],
         "POST", "/policy-targets/lamps", {}, None, None,
         {"targets": [CERT_ARN, GROUP_ARN]}),
    Case("get-effective-policies",
         ["--thing-name", "lamp-1", "--principal", CERT_ARN],
         "POST", "/effective-policies", {"thingName": "lamp-1"},
         {"principal": CERT_ARN}, None,
         {"effectivePolicies": [{"policyName": "lamps",
                                 "policyArn": POLICY_ARN,
                                 "policyDocument": "{}"}]}),
    Case("create-thing-type",
         ["--thing-type-name", "lamp", "--thing-type-properties",
          '{"thingTypeDescription": "lamps", '
          '"searchableAttributes": ["room"]}'],
         "POST", "/thing-types/lamp", {},
         {"thingTypeProperties": {"thingTypeDescription": "lamps",
                                  "searchableAttributes": ["room"]}},
         None, {"thingTypeName": "lamp", "thingTypeArn": TYPE_ARN,
                "thingTypeId": "0f1e"}),
    Case("describe-thing-type", ["--thing-type-name", "lamp"],
         "GET", "/thing-types/lamp", {}, None, None,
         {"thingTypeName": "lamp", "thingTypeId": "0f1e",
          "thingTypeArn": TYPE_ARN,
          "thingTypeProperties": {"searchableAttributes": []},
          "thingTypeMetadata": {"deprecated": False,
                                "creationDate": 1700000000}}),
    Case("list-thing-types",
         ["--thing-type-name", "lamp", "--max-results", "5"],
         "GET", "/thing-types", {"thingTypeName": "lamp",
                                 "maxResults": "5"}, None, None,
         {"thingTypes": []}),
    Case("deprecate-thing-type",
         ["--thing-type-name", "lamp", "--undo-deprecate"],
         "POST", "/thing-types/lamp/deprecate", {},
         {"undoDeprecate": True}, None, {}),
    Case("delete-thing-type", ["--thing-type-name", "lamp"],
         "DELETE", "/thing-types/lamp", {}, None, None, {}),
    Case("create-thing-group",
         ["--thing-group-name", "kitchen", "--parent-group-name", "house",
          "--thing-group-properties", "thingGroupDescription=k"],
         "POST", "/thing-groups/kitchen", {},
         {"parentGroupName": "house",
          "thingGroupProperties": {"thingGroupDescription": "k"}}, None,
         {"thingGroupName": "kitchen", "thingGroupArn": GROUP_ARN,
          "thingGroupId": "0f1e"}),
    Case("describe-thing-group", ["--thing-group-name", "kitchen"],
         "GET", "/thing-groups/kitchen", {}, None, None,
         {"thingGroupName": "kitchen", "version": 1,
          "thingGroupMetadata": {"parentGroupName": "house"}}),
    Case("update-thing-group",
         ["--thing-group-name", "kitchen", "--thing-group-properties",
          '{"attributePayload": {"attributes": {"a": "1"}}}',
          "--expected-version", "1"],
         "PATCH", "/thing-groups/kitchen", {},
         {"thingGroupProperties": {"attributePayload": {
             "attributes": {"a": "1"}}}, "expectedVersion": 1}, None,
         {"version": 2}),
    Case("delete-thing-group",
         ["--thing-group-name", "kitchen", "--expected-version", "2"],
         "DELETE", "/thing-groups/kitchen", {"expectedVersion": "2"}, None,
         None, {}),
    Case("list-thing-groups",
         ["--parent-group", "house", "--name-prefix-filter", "k",
          "--recursive", "--max-results", "2", "--next-token", "a"],
         "GET", "/thing-groups",
         {"parentGroup": "house", "namePrefixFilter": "k",
          "recursive": "true", "maxResults": "2", "nextToken": "a"},
         None, None,
         {"thingGroups": [{"groupName": "kitchen", "groupArn": GROUP_ARN}],
          "nextToken": "kitchen"}),
    Case("add-thing-to-thing-group",
         ["--thing-group-arn", GROUP_ARN, "--thing-name", "lamp-1",
          "--override-dynamic-groups"],
         "PUT", "/thing-groups/addThingToThingGroup", {},
         {"thingGroupArn": GROUP_ARN, "thingName": "lamp-1",
          "overrideDynamicGroups": True}, None, {}),
    Case("remove-thing-from-thing-group",
         ["--thing-group-name", "kitchen", "--thing-arn", THING_ARN],
         "PUT", "/thing-groups/removeThingFromThingGroup", {},
         {"thingGroupName": "kitchen", "thingArn": THING_ARN}, None, {}),
    Case("update-thing-groups-for-thing",
         ["--thing-name", "lamp-1", "--thing-groups-to-add", "a,b",
          "--thing-groups-to-remove", '["c"]'],
         "PUT", "/thing-groups/updateThingGroupsForThing", {},
         {"thingName": "lamp-1", "thingGroupsToAdd": ["a", "b"],
          "thingGroupsToRemove": ["c"]}, None, {}),
    Case("list-things-in-thing-group",
         ["--thing-group-name", "kitchen", "--recursive"],
         "GET", "/thing-groups/kitchen/things", {"recursive": "true"},
         None, None, {"things": ["lamp-1"]}),
    Case("list-thing-groups-for-thing", ["--thing-name", "lamp-1"],
         "GET", "/things/lamp-1/thing-groups", {}, None, None,
         {"thingGroups": [{"groupName": "kitchen",
                           "groupArn": GROUP_ARN}]}),
    Case("attach-thing-principal",
         ["--thing-name", "lamp-1", "--principal", CERT_ARN],
         "PUT", "/things/lamp-1/principals", {}, None, CERT_ARN, {}),
    Case("detach-thing-principal",
         ["--thing-name", "lamp-1", "--principal", CERT_ARN],
         "DELETE", "/things/lamp-1/principals", {}, None, CERT_ARN, {}),
    Case("list-thing-principals", ["--thing-name", "lamp-1"],
         "GET", "/things/lamp-1/principals", {}, None, None,
         {"principals": [CERT_ARN]}),
    Case("list-principal-things", ["--principal", CERT_ARN],
         "GET", "/principals/things", {}, None, CERT_ARN,
         {"things": ["lamp-1"]}),
    # provisioning templates (docs/internals/fleet-provisioning.md)
    Case("create-provisioning-template",
         ["--template-name", "lamps", "--template-body",
          '{"Resources": {}}', "--provisioning-role-arn", PROV_ROLE,
          "--enabled", "--pre-provisioning-hook",
          "targetArn=http://127.0.0.1:9/hook"],
         "POST", "/provisioning-templates", {},
         {"templateName": "lamps", "templateBody": '{"Resources": {}}',
          "provisioningRoleArn": PROV_ROLE, "enabled": True,
          "preProvisioningHook": {"targetArn": "http://127.0.0.1:9/hook"}},
         None, {"templateArn": PROV_ARN, "templateName": "lamps",
                "defaultVersionId": 1}),
    Case("describe-provisioning-template", ["--template-name", "lamps"],
         "GET", "/provisioning-templates/lamps", {}, None, None,
         {"templateArn": PROV_ARN, "templateName": "lamps",
          "enabled": True, "type": "FLEET_PROVISIONING"}),
    Case("list-provisioning-templates", [],
         "GET", "/provisioning-templates", {}, None, None,
         {"templates": [{"templateArn": PROV_ARN,
                         "templateName": "lamps"}]}),
    Case("update-provisioning-template",
         ["--template-name", "lamps", "--no-enabled",
          "--remove-pre-provisioning-hook"],
         "PATCH", "/provisioning-templates/lamps", {},
         {"enabled": False, "removePreProvisioningHook": True}, None, {}),
    Case("delete-provisioning-template", ["--template-name", "lamps"],
         "DELETE", "/provisioning-templates/lamps", {}, None, None, {}),
    # topic rules (docs/internals/rules-admin.md): the payload is the body
    Case("create-topic-rule",
         ["--rule-name", "lamps_on", "--topic-rule-payload", RULE_PAYLOAD],
         "POST", "/rules/lamps_on", {}, json.loads(RULE_PAYLOAD), None, {}),
    Case("get-topic-rule", ["--rule-name", "lamps_on"],
         "GET", "/rules/lamps_on", {}, None, None,
         {"ruleArn": RULE_ARN,
          "rule": dict(json.loads(RULE_PAYLOAD), ruleName="lamps_on",
                       createdAt=1764686400)}),
    Case("list-topic-rule-errors", ["--rule-name", "r1"], "GET",
         "/strata/rules/r1/errors", {}, None, None,
         {"errors": [{"time": 1, "node": "rulesd-0", "kind": "action",
                      "topic": "t", "message": "refused"}]}),
    Case("list-topic-rules",
         ["--topic", "lamps/+/on", "--max-results", "2", "--next-token",
          "a_rule", "--no-rule-disabled"],
         "GET", "/rules", {"topic": "lamps/+/on", "maxResults": "2",
                           "nextToken": "a_rule", "ruleDisabled": "false"},
         None, None,
         {"rules": [{"ruleArn": RULE_ARN, "ruleName": "lamps_on",
                     "topicPattern": "lamps/+/on",
                     "createdAt": 1764686400, "ruleDisabled": False}],
          "nextToken": "lamps_on"}),
    Case("replace-topic-rule",
         ["--rule-name", "lamps_on", "--topic-rule-payload",
          '{"sql": "SELECT * FROM \'lamps/#\'", "actions": [], '
          '"ruleDisabled": true}'],
         "PATCH", "/rules/lamps_on", {},
         {"sql": "SELECT * FROM 'lamps/#'", "actions": [],
          "ruleDisabled": True}, None, {}),
    Case("delete-topic-rule", ["--rule-name", "lamps_on"],
         "DELETE", "/rules/lamps_on", {}, None, None, {}),
    Case("enable-topic-rule", ["--rule-name", "lamps_on"],
         "POST", "/rules/lamps_on/enable", {}, None, None, {}),
    Case("disable-topic-rule", ["--rule-name", "lamps_on"],
         "POST", "/rules/lamps_on/disable", {}, None, None, {}),
    # topic rule destinations (rules-admin.md): shorthand and JSON
    Case("create-topic-rule-destination",
         ["--destination-configuration",
          "httpUrlConfiguration={confirmationUrl=https://hooks.example/in}"],
         "POST", "/destinations", {},
         {"destinationConfiguration": {"httpUrlConfiguration": {
             "confirmationUrl": "https://hooks.example/in"}}}, None,
         {"topicRuleDestination": DEST}),
    Case("get-topic-rule-destination", ["--arn", DEST_ARN],
         "GET", "/destinations/" + DEST_ARN_ENCODED, {}, None, None,
         {"topicRuleDestination": DEST}),
    Case("list-topic-rule-destinations",
         ["--max-results", "1", "--next-token", "x"],
         "GET", "/destinations", {"maxResults": "1", "nextToken": "x"},
         None, None, {"destinationSummaries": []}),
    Case("update-topic-rule-destination",
         ["--arn", DEST_ARN, "--status", "DISABLED"],
         "PATCH", "/destinations", {},
         {"arn": DEST_ARN, "status": "DISABLED"}, None, {}),
    Case("delete-topic-rule-destination", ["--arn", DEST_ARN],
         "DELETE", "/destinations/" + DEST_ARN_ENCODED, {}, None, None, {}),
    Case("confirm-topic-rule-destination",
         ["--confirmation-token", "AYADeMXL-tok_en"],
         "GET", "/confirmdestination/AYADeMXL-tok_en", {}, None, None, {}),
    # fleet indexing (fleet-index.md): shorthand, JSON, the query in the
    # body, percents as a list
    Case("update-indexing-configuration",
         ["--thing-indexing-configuration",
          "thingIndexingMode=REGISTRY_AND_SHADOW,"
          "thingConnectivityIndexingMode=STATUS"],
         "POST", "/indexing/config", {},
         {"thingIndexingConfiguration": {
             "thingIndexingMode": "REGISTRY_AND_SHADOW",
             "thingConnectivityIndexingMode": "STATUS"}}, None, {}),
    Case("get-indexing-configuration", [], "GET", "/indexing/config", {},
         None, None, {"thingIndexingConfiguration": {
             "thingIndexingMode": "REGISTRY"},
             "thingGroupIndexingConfiguration": {
                 "thingGroupIndexingMode": "OFF"}}),
    Case("describe-index", ["--index-name", "AWS_Things"],
         "GET", "/indices/AWS_Things", {}, None, None,
         {"indexName": "AWS_Things", "indexStatus": "ACTIVE",
          "schema": "REGISTRY"}),
    Case("list-nodes", [], "GET", "/strata/nodes", {}, None, None,
         {"nodes": [{"nodeId": "broker-0", "role": "broker",
                     "alive": True, "links": 1, "linksExpected": 1}]}),
    Case("list-indices", [], "GET", "/indices", {}, None, None,
         {"indexNames": ["AWS_Things"]}),
    Case("search-index",
         ["--index-name", "AWS_Things", "--query-string",
          "shadow.reported.battery<20 AND thingName:lamp*",
          "--max-results", "5", "--next-token", "lamp-4"],
         "POST", "/indices/search", {},
         {"indexName": "AWS_Things",
          "queryString": "shadow.reported.battery<20 AND thingName:lamp*",
          "maxResults": 5, "nextToken": "lamp-4"}, None,
         {"things": [{"thingName": "lamp-5", "thingId": "1",
                      "connectivity": {"connected": True}}],
          "thingGroups": []}),
    Case("get-statistics",
         ["--query-string", "*", "--aggregation-field",
          "shadow.reported.battery"],
         "POST", "/indices/statistics", {},
         {"queryString": "*", "aggregationField": "shadow.reported.battery"},
         None, {"statistics": {"count": 2, "average": 1.5}}),
    Case("get-cardinality",
         ["--query-string", "*", "--aggregation-field", "attributes.color"],
         "POST", "/indices/cardinality", {},
         {"queryString": "*", "aggregationField": "attributes.color"},
         None, {"cardinality": 3}),
    Case("get-percentiles",
         ["--query-string", "*", "--aggregation-field",
          "shadow.reported.battery", "--percents", "10,50,99.5"],
         "POST", "/indices/percentiles", {},
         {"queryString": "*", "aggregationField": "shadow.reported.battery",
          "percents": [10, 50, 99.5]}, None,
         {"percentiles": [{"percent": 10.0, "value": 1.0}]}),
    Case("create-dynamic-thing-group",
         ["--thing-group-name", "low", "--query-string",
          "shadow.reported.battery<20"],
         "POST", "/dynamic-thing-groups/low", {},
         {"queryString": "shadow.reported.battery<20"}, None,
         {"thingGroupName": "low", "indexName": "AWS_Things",
          "queryString": "shadow.reported.battery<20",
          "queryVersion": "2017-09-30"}),
    Case("update-dynamic-thing-group",
         ["--thing-group-name", "low", "--query-string", "*",
          "--expected-version", "2"],
         "PATCH", "/dynamic-thing-groups/low", {},
         {"queryString": "*", "expectedVersion": 2}, None, {"version": 3}),
    Case("delete-dynamic-thing-group",
         ["--thing-group-name", "low", "--expected-version", "3"],
         "DELETE", "/dynamic-thing-groups/low", {"expectedVersion": "3"},
         None, None, {}),
    # Device Defender Audit (docs/internals/audit.md)
    Case("update-account-audit-configuration",
         ["--audit-check-configurations",
          '{"LOGGING_DISABLED_CHECK": {"enabled": false}}'],
         "PATCH", "/audit/configuration", {},
         {"auditCheckConfigurations": {
             "LOGGING_DISABLED_CHECK": {"enabled": False}}}, None, {}),
    Case("describe-account-audit-configuration", [],
         "GET", "/audit/configuration", {}, None, None,
         {"auditNotificationTargetConfigurations": {},
          "auditCheckConfigurations": {
              "LOGGING_DISABLED_CHECK": {"enabled": True}}}),
    Case("start-on-demand-audit-task",
         ["--target-check-names",
          "LOGGING_DISABLED_CHECK,DEVICE_CERTIFICATE_SHARED_CHECK"],
         "POST", "/audit/tasks", {},
         {"targetCheckNames": ["LOGGING_DISABLED_CHECK",
                               "DEVICE_CERTIFICATE_SHARED_CHECK"]}, None,
         {"taskId": "t-1"}),
    Case("describe-audit-task", ["--task-id", "t-1"],
         "GET", "/audit/tasks/t-1", {}, None, None,
         {"taskStatus": "COMPLETED", "taskType": "ON_DEMAND_AUDIT_TASK",
          "taskStartTime": 1796287700, "auditDetails": {}}),
    Case("list-audit-tasks",
         ["--start-time", "2026-12-01T00:00:00Z", "--end-time",
          "1796287700", "--task-status", "COMPLETED", "--max-results",
          "2"],
         "GET", "/audit/tasks",
         {"startTime": "2026-12-01T00:00:00Z", "endTime": "1796287700",
          "taskStatus": "COMPLETED", "maxResults": "2"}, None, None,
         {"tasks": [{"taskId": "t-1", "taskStatus": "COMPLETED",
                     "taskType": "ON_DEMAND_AUDIT_TASK"}]}),
    Case("list-audit-findings",
         ["--task-id", "t-1", "--check-name", "LOGGING_DISABLED_CHECK",
          "--max-results", "2", "--next-token", "2"],
         "POST", "/audit/findings", {},
         {"taskId": "t-1", "checkName": "LOGGING_DISABLED_CHECK",
          "maxResults": 2, "nextToken": "2"}, None, {"findings": []}),
    Case("create-scheduled-audit",
         ["--scheduled-audit-name", "nightly", "--frequency", "DAILY",
          "--target-check-names", "LOGGING_DISABLED_CHECK"],
         "POST", "/audit/scheduledaudits/nightly", {},
         {"frequency": "DAILY",
          "targetCheckNames": ["LOGGING_DISABLED_CHECK"]}, None,
         {"scheduledAuditArn": "arn:aws:iot:local:000000000000:scheduledaudit/nightly"}),
    Case("describe-scheduled-audit", ["--scheduled-audit-name", "nightly"],
         "GET", "/audit/scheduledaudits/nightly", {}, None, None,
         {"scheduledAuditName": "nightly", "frequency": "DAILY"}),
    Case("list-scheduled-audits", [],
         "GET", "/audit/scheduledaudits", {}, None, None,
         {"scheduledAudits": []}),
    Case("delete-scheduled-audit", ["--scheduled-audit-name", "nightly"],
         "DELETE", "/audit/scheduledaudits/nightly", {}, None, None, {}),
    # Device Defender Detect (docs/internals/detect.md)
    Case("create-security-profile",
         ["--security-profile-name", "fleet", "--behaviors",
          '[{"name": "sent", "metric": "aws:num-messages-sent", '
          '"criteria": {"comparisonOperator": "less-than", "value": '
          '{"count": 100}, "durationSeconds": 300}}]',
          "--security-profile-description", "rules",
          "--mitigation-actions", "quarantine,tell"],
         "POST", "/security-profiles/fleet", {},
         {"behaviors": [{"name": "sent", "metric": "aws:num-messages-sent",
                         "criteria": {"comparisonOperator": "less-than",
                                      "value": {"count": 100},
                                      "durationSeconds": 300}}],
          "securityProfileDescription": "rules",
          "mitigationActions": ["quarantine", "tell"]}, None,
         {"securityProfileName": "fleet", "securityProfileArn": SP_ARN}),
    Case("describe-security-profile", ["--security-profile-name", "fleet"],
         "GET", "/security-profiles/fleet", {}, None, None,
         {"securityProfileName": "fleet", "securityProfileArn": SP_ARN,
          "behaviors": [], "version": 1}),
    Case("update-security-profile",
         ["--security-profile-name", "fleet", "--delete-behaviors",
          "--expected-version", "1"],
         "PATCH", "/security-profiles/fleet", {"expectedVersion": "1"},
         {"deleteBehaviors": True}, None,
         {"securityProfileName": "fleet", "version": 2}),
    Case("delete-security-profile",
         ["--security-profile-name", "fleet", "--expected-version", "2"],
         "DELETE", "/security-profiles/fleet", {"expectedVersion": "2"},
         None, None, {}),
    Case("validate-security-profile-behaviors",
         ["--behaviors", '[{"name": "b", "metric": "aws:num-disconnects"}]'],
         "POST", "/security-profile-behaviors/validate", {},
         {"behaviors": [{"name": "b", "metric": "aws:num-disconnects"}]},
         None, {"valid": True, "validationErrors": []}),
    Case("list-security-profiles", ["--max-results", "5"],
         "GET", "/security-profiles", {"maxResults": "5"}, None, None,
         {"securityProfileIdentifiers": [{"name": "fleet",
                                          "arn": SP_ARN}]}),
    Case("attach-security-profile",
         ["--security-profile-name", "fleet",
          "--security-profile-target-arn", GROUP_TARGET],
         "PUT", "/security-profiles/fleet/targets",
         {"securityProfileTargetArn": GROUP_TARGET}, None, None, {}),
    Case("detach-security-profile",
         ["--security-profile-name", "fleet",
          "--security-profile-target-arn", GROUP_TARGET],
         "DELETE", "/security-profiles/fleet/targets",
         {"securityProfileTargetArn": GROUP_TARGET}, None, None, {}),
    Case("list-targets-for-security-profile",
         ["--security-profile-name", "fleet"],
         "GET", "/security-profiles/fleet/targets", {}, None, None,
         {"securityProfileTargets": [{"arn": GROUP_TARGET}]}),
    Case("list-security-profiles-for-target",
         ["--security-profile-target-arn", GROUP_TARGET],
         "GET", "/security-profiles-for-target",
         {"securityProfileTargetArn": GROUP_TARGET}, None, None,
         {"securityProfileTargetMappings": []}),
    Case("list-active-violations",
         ["--thing-name", "lamp-1", "--security-profile-name", "fleet"],
         "GET", "/active-violations",
         {"thingName": "lamp-1", "securityProfileName": "fleet"}, None,
         None, {"activeViolations": []}),
    Case("list-violation-events",
         ["--start-time", "2026-12-01T00:00:00Z", "--end-time",
          "1796287700", "--thing-name", "lamp-1"],
         "GET", "/violation-events",
         {"startTime": "2026-12-01T00:00:00Z", "endTime": "1796287700",
          "thingName": "lamp-1"}, None, None, {"violationEvents": []}),
    Case("create-mitigation-action",
         ["--action-name", "quarantine", "--role-arn", PROV_ROLE,
          "--action-params",
          '{"addThingsToThingGroupParams": {"thingGroupNames": ["q"]}}'],
         "POST", "/mitigationactions/actions/quarantine", {},
         {"roleArn": PROV_ROLE, "actionParams": {
             "addThingsToThingGroupParams": {"thingGroupNames": ["q"]}}},
         None, {"actionArn": MA_ARN,
                "actionId": "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"}),
    Case("update-mitigation-action",
         ["--action-name", "quarantine", "--action-params",
          '{"updateDeviceCertificateParams": {"action": "DEACTIVATE"}}'],
         "PATCH", "/mitigationactions/actions/quarantine", {},
         {"actionParams": {"updateDeviceCertificateParams": {
             "action": "DEACTIVATE"}}}, None,
         {"actionArn": MA_ARN,
          "actionId": "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"}),
    Case("describe-mitigation-action", ["--action-name", "quarantine"],
         "GET", "/mitigationactions/actions/quarantine", {}, None, None,
         {"actionName": "quarantine", "actionArn": MA_ARN,
          "actionType": "ADD_THINGS_TO_THING_GROUP"}),
    Case("list-mitigation-actions",
         ["--action-type", "ADD_THINGS_TO_THING_GROUP"],
         "GET", "/mitigationactions/actions",
         {"actionType": "ADD_THINGS_TO_THING_GROUP"}, None, None,
         {"actionIdentifiers": []}),
    Case("delete-mitigation-action", ["--action-name", "quarantine"],
         "DELETE", "/mitigationactions/actions/quarantine", {}, None, None,
         {}),
    Case("start-detect-mitigation-actions-task",
         ["--task-id", "t-9", "--target", '{"securityProfileName": "fleet"}',
          "--actions", "quarantine", "--include-only-active-violations"],
         "PUT", "/detect/mitigationactions/tasks/t-9", {},
         {"target": {"securityProfileName": "fleet"},
          "actions": ["quarantine"], "includeOnlyActiveViolations": True},
         None, {"taskId": "t-9"}),
    Case("describe-detect-mitigation-actions-task", ["--task-id", "t-9"],
         "GET", "/detect/mitigationactions/tasks/t-9", {}, None, None,
         {"taskSummary": {"taskId": "t-9", "taskStatus": "SUCCESSFUL"}}),
    Case("list-detect-mitigation-actions-executions", ["--task-id", "t-9"],
         "GET", "/detect/mitigationactions/executions", {"taskId": "t-9"},
         None, None, {"actionsExecutions": []}),
    # Strata's own throttle limits (docs/internals/throttle.md): the
    # target is one of two path-tail flags
    Case("get-usage",
         ["--client-id", "dev-1", "--start", "2026-12-03T08:00:00Z",
          "--end", "1796292000"],
         "GET", "/strata/usage",
         {"clientId": "dev-1", "startTime": "2026-12-03T08:00:00Z",
          "endTime": "1796292000"}, None, None,
         {"clientId": "dev-1", "startTime": 1796284800,
          "endTime": 1796292000, "hours": [],
          "total": {"published": 0}}),
    Case("list-audit-events",
         ["--start-time", "2026-12-03T08:00:00Z", "--user-name", "operator",
          "--action", "iot:DeleteThing", "--max-results", "2"],
         "GET", "/strata/audit-events",
         {"startTime": "2026-12-03T08:00:00Z", "userName": "operator",
          "action": "iot:DeleteThing", "maxResults": "2"}, None, None,
         {"events": [{"eventId": "1796288400000-0",
                      "action": "iot:DeleteThing", "status": 403}]}),
    Case("set-throttle-limits",
         ["--thing-group-name", "kitchen", "--publish-rate", "5",
          "--inbound-bytes-per-second", "4096", "--subscribe-rate", "0",
          "--disconnect-after-seconds", "30"],
         "PUT", "/strata/throttle-limits/thing-groups/kitchen", {},
         {"publishRate": 5, "inboundBytesPerSecond": 4096,
          "subscribeRate": 0, "disconnectAfterSeconds": 30}, None,
         {"targetType": "THING_GROUP", "targetName": "kitchen",
          "targetArn": GROUP_ARN, "publishRate": 5,
          "inboundBytesPerSecond": 4096, "subscribeRate": 0,
          "disconnectAfterSeconds": 30}),
    Case("get-throttle-limits", ["--thing-type-name", "lamp"],
         "GET", "/strata/throttle-limits/thing-types/lamp", {}, None, None,
         {"targetType": "THING_TYPE", "targetName": "lamp",
          "targetArn": TYPE_ARN, "publishRate": 5}),
    Case("delete-throttle-limits", ["--thing-group-name", "kitchen"],
         "DELETE", "/strata/throttle-limits/thing-groups/kitchen", {},
         None, None, {}),
    Case("list-throttle-limits",
         ["--target-type", "THING_TYPE", "--max-results", "2"],
         "GET", "/strata/throttle-limits",
         {"targetType": "THING_TYPE", "maxResults": "2"}, None, None,
         {"throttleLimits": [{"targetType": "THING_TYPE",
                              "targetName": "lamp", "targetArn": TYPE_ARN,
                              "publishRate": 5}]}),
    # Strata's own client trace (docs/internals/trace.md): its answer is
    # a stream of JSON lines, printed as they come
    Case("trace-client", ["--client-id", "dev/1", "--seconds", "5"],
         "GET", "/strata/trace/dev%2F1", {"seconds": "5"}, None, None,
         {"time": 1764686400000, "event": "end", "reason": "timeout",
          "nodeId": "broker-0"}),
    # the admin identities (docs/internals/admin-authz.md, section 4)
    Case("create-admin-user", ["--user-name", "ops"],
         "POST", "/admin-users/ops", {}, None, None,
         {"User": {"UserName": "ops", "UserId": "AIDAK7MZ2Q4RTX6WP3VN",
                   "Arn": USER_ARN, "CreateDate": 1764686400}}),
    Case("get-admin-user", ["--user-name", "ops"],
         "GET", "/admin-users/ops", {}, None, None,
         {"User": {"UserName": "ops", "UserId": "AIDAK7MZ2Q4RTX6WP3VN",
                   "Arn": USER_ARN, "CreateDate": 1764686400}}),
    Case("list-admin-users", [], "GET", "/admin-users", {}, None, None,
         {"Users": [{"UserName": "ops", "UserId": "AIDAK7MZ2Q4RTX6WP3VN",
                     "Arn": USER_ARN, "CreateDate": 1764686400}]}),
    Case("delete-admin-user", ["--user-name", "ops"],
         "DELETE", "/admin-users/ops", {}, None, None, {}),
    Case("create-access-key", ["--user-name", "ops"],
         "POST", "/admin-users/ops/access-keys", {}, None, None,
         {"AccessKey": {"UserName": "ops", "AccessKeyId": ACCESS_KEY_ID,
                        "Status": "Active", "SecretAccessKey": SECRET_KEY,
                        "CreateDate": 1764686400}}),
    Case("list-access-keys", ["--user-name", "ops"],
         "GET", "/admin-users/ops/access-keys", {}, None, None,
         {"AccessKeyMetadata": [{"UserName": "ops",
                                 "AccessKeyId": ACCESS_KEY_ID,
                                 "Status": "Active",
                                 "CreateDate": 1764686400}]}),
    Case("update-access-key",
         ["--user-name", "ops", "--access-key-id", ACCESS_KEY_ID,
          "--status", "Inactive"],
         "PATCH", "/admin-users/ops/access-keys/" + ACCESS_KEY_ID, {},
         {"Status": "Inactive"}, None, {}),
    Case("delete-access-key",
         ["--user-name", "ops", "--access-key-id", ACCESS_KEY_ID],
         "DELETE", "/admin-users/ops/access-keys/" + ACCESS_KEY_ID, {},
         None, None, {}),
    Case("create-admin-policy",
         ["--policy-name", "ReadOnly", "--policy-document",
          ADMIN_POLICY_DOCUMENT],
         "POST", "/admin-policies/ReadOnly", {},
         {"PolicyDocument": ADMIN_POLICY_DOCUMENT}, None,
         {"Policy": {"PolicyName": "ReadOnly", "Arn": ADMIN_POLICY_ARN,
                     "CreateDate": 1764686400}}),
    Case("get-admin-policy", ["--policy-name", "ReadOnly"],
         "GET", "/admin-policies/ReadOnly", {}, None, None,
         {"Policy": {"PolicyName": "ReadOnly", "Arn": ADMIN_POLICY_ARN,
                     "CreateDate": 1764686400,
                     "PolicyDocument": ADMIN_POLICY_DOCUMENT}}),
    Case("list-admin-policies", [], "GET", "/admin-policies", {}, None,
         None,
         {"Policies": [{"PolicyName": "ReadOnly", "Arn": ADMIN_POLICY_ARN,
                        "CreateDate": 1764686400}]}),
    Case("delete-admin-policy", ["--policy-name", "ReadOnly"],
         "DELETE", "/admin-policies/ReadOnly", {}, None, None, {}),
    Case("attach-admin-policy",
         ["--user-name", "ops", "--policy-name", "ReadOnly"],
         "PUT", "/admin-users/ops/policies/ReadOnly", {}, None, None, {}),
    Case("detach-admin-policy",
         ["--user-name", "ops", "--policy-name", "ReadOnly"],
         "DELETE", "/admin-users/ops/policies/ReadOnly", {}, None, None,
         {}),
    Case("list-attached-admin-policies", ["--user-name", "ops"],
         "GET", "/admin-users/ops/policies", {}, None, None,
         {"AttachedPolicies": [{"PolicyName": "ReadOnly",
                                "PolicyArn": ADMIN_POLICY_ARN}]}),
]


def check_request(r, case):
    assert r.method == case.method
    assert r.raw_path == case.path
    assert r.query == case.query
    assert r.headers["authorization"] == "Bearer " + TOKEN
    assert r.headers.get("x-amzn-principal") == case.principal
    if case.body is None:
        assert r.body == b""
        assert "content-type" not in r.headers
    else:
        assert r.headers["content-type"] == "application/json"
        assert json.loads(r.body) == case.body


@pytest.mark.parametrize("case", CASES, ids=[c.command for c in CASES])
def test_command_wire(fake, case):
    """Each command sends its operation's method, path, query, body and
    headers, prints the answer as the AWS CLI does and exits 0."""
    fake.answer(200, case.answer)
    res = run([case.command] + case.args, url=fake.url())
    assert (res.rc, res.err) == (0, "")
    if case.command == "trace-client":   # the lines as they came
        assert res.out == json.dumps(case.answer)
    else:
        assert res.out == printed(case.answer)
    assert len(fake.requests) == 1
    check_request(fake.requests[0], case)


def test_help_lists_every_command():
    """`stratactl help` and `--help` list the admin commands (the
    cases above cover each), then the 6 data-plane commands, the options and
    the environment variables;
    `COMMAND --help` and `COMMAND help` list its flags, marking the
    required ones; none of them sends anything."""
    res = run(["help"], url=None, token=None)
    assert res.rc == 0 and res.err == ""
    lines = res.out.splitlines()
    start = lines.index("Commands:") + 1
    listed = [line.split()[0] for line in lines[start:lines.index("",
                                                                  start)]]
    assert listed == [c.command for c in CASES]
    start = lines.index("Data-plane commands (`aws iot-data`; endpoint "
                        "STRATA_DATA_URL):") + 1
    listed = [line.split()[0] for line in lines[start:lines.index("",
                                                                  start)]]
    assert listed == ["get-thing-shadow", "update-thing-shadow",
                      "delete-thing-shadow",
                      "list-named-shadows-for-thing",
                      "get-retained-message", "list-retained-messages"]
    for word in ("--profile NAME", "--token-file FILE", "STRATA_PROFILE",
                 "STRATA_ACCESS_KEY_ID", "STRATA_SECRET_ACCESS_KEY",
                 "STRATA_ADMIN_TOKEN", "STRATA_SHARED_CREDENTIALS_FILE",
                 "STRATA_DATA_URL", "STRATA_DATA_CA_FILE",
                 "--cli-binary-format F"):
        assert word in res.out
    assert run(["--help"], token=None).out == res.out
    for args in (["create-keys-and-certificate", "--help"],
                 ["create-keys-and-certificate", "help"],
                 ["help", "create-keys-and-certificate"]):
        res = run(args, token=None)
        assert res.rc == 0, res.err
        assert "CreateKeysAndCertificate: POST /keys-and-certificate" \
            in res.out
        for flag in ("--[no-]set-as-active", "--certificate-pem-outfile",
                     "--public-key-outfile", "--private-key-outfile"):
            assert flag in res.out
        assert "mode 0600" in res.out
    res = run(["attach-thing-principal", "--help"], token=None)
    assert "--thing-name <value> (required)" in res.out
    assert "header x-amzn-principal" in res.out
    res = run(["update-access-key", "--help"], token=None)
    assert ("UpdateAccessKey: PATCH /admin-users/{userName}/access-keys/"
            "{accessKeyId}") in res.out
    assert "body member Status; one of Active|Inactive" in res.out
    res = run(["update-thing-shadow", "help"], token=None)
    assert res.rc == 0, res.err
    assert ("UpdateThingShadow: POST /things/{thingName}/shadow "
            "(STRATA_DATA_URL)") in res.out
    assert ("usage: stratactl update-thing-shadow --thing-name <value> "
            "[--shadow-name <value>] --payload <blob> <outfile>") in res.out
    assert "raw-in-base64-out" in res.out and "fileb://PATH" in res.out


def test_debug_prints_request_line(fake):
    """--debug writes the request line and the status to stderr, never
    the token."""
    fake.answer(200, {"things": []})
    res = run(["list-things", "--debug", "--max-results", "5"],
              url=fake.url())
    assert res.rc == 0
    lines = res.err.splitlines()
    assert "> GET /things?maxResults=5 HTTP/1.1" in lines
    assert "< 200 OK" in lines
    assert TOKEN not in res.err
    assert fake.requests[0].query == {"maxResults": "5"}


def test_file_values(fake, tmp_path):
    """file://PATH reads the value of documents and PEM from the file, as
    the AWS CLI does: --policy-document, --certificate-pem,
    --ca-certificate-pem, --ca-certificate, --attribute-payload,
    --registration-config."""
    doc = tmp_path / "policy.json"
    doc.write_text(POLICY_DOCUMENT + "\n")
    pem = tmp_path / "cert.pem"
    pem.write_text(PEM)
    payload = tmp_path / "attrs.json"
    payload.write_text('{"attributes": {"room": "kitchen"}, "merge": true}')
    config = tmp_path / "config.json"
    config.write_text('{"templateBody": "{}"}')
    url = fake.url()
    assert run(["create-policy", "--policy-name", "p", "--policy-document",
                "file://%s" % doc], url=url).rc == 0
    assert run(["register-certificate", "--certificate-pem",
                "file://%s" % pem, "--ca-certificate-pem",
                "file://%s" % pem], url=url).rc == 0
    assert run(["register-ca-certificate", "--ca-certificate",
                "file://%s" % pem, "--registration-config",
                "file://%s" % config], url=url).rc == 0
    # relative to the working directory
    assert run(["update-thing", "--thing-name", "t", "--attribute-payload",
                "file://attrs.json"], url=url, cwd=str(tmp_path)).rc == 0
    bodies = [json.loads(r.body) for r in fake.requests]
    assert bodies == [
        {"policyDocument": POLICY_DOCUMENT + "\n"},
        {"certificatePem": PEM, "caCertificatePem": PEM},
        {"caCertificate": PEM, "registrationConfig": {"templateBody": "{}"}},
        {"attributePayload": {"attributes": {"room": "kitchen"},
                              "merge": True}}]


def test_attribute_payload_shorthand(fake):
    """--attribute-payload takes the AWS CLI's shorthand too; quoted
    values keep their commas; merge becomes a JSON boolean."""
    res = run(["create-thing", "--thing-name", "t", "--attribute-payload",
               "attributes={a=1,b='x,y',c=},merge=false"], url=fake.url())
    assert res.rc == 0, res.err
    assert json.loads(fake.requests[0].body) == {
        "attributePayload": {"attributes": {"a": "1", "b": "x,y", "c": ""},
                             "merge": False}}


def test_path_values_are_url_encoded(fake):
    """A thing name with ':' and a certificate id are one path segment
    each; the server decodes them back."""
    run(["describe-thing", "--thing-name", "room:7_a-b"], url=fake.url())
    assert fake.requests[0].raw_path == "/things/room%3A7_a-b"
    assert fake.requests[0].path == "/things/room:7_a-b"
    run(["list-attached-policies", "--target", CERT_ARN], url=fake.url())
    assert fake.requests[1].path == "/attached-policies/" + CERT_ARN


def test_create_keys_and_certificate_outfiles(fake, tmp_path):
    """The outfiles get certificatePem, keyPair.PublicKey and
    keyPair.PrivateKey as they came; the private key is 0600 (also when
    the file existed with a wider mode); the JSON is still printed."""
    answer = CASES[5].answer
    cert, pub, key = (tmp_path / n for n in ("c.pem", "pub.pem", "key.pem"))
    key.write_text("an older, longer file that must be replaced\n")
    key.chmod(0o644)
    fake.answer(200, answer)
    res = run(["create-keys-and-certificate", "--set-as-active",
               "--certificate-pem-outfile", str(cert),
               "--public-key-outfile", str(pub),
               "--private-key-outfile", str(key)], url=fake.url())
    assert (res.rc, res.err) == (0, "")
    assert res.out == printed(answer)
    assert cert.read_text() == PEM
    assert pub.read_text() == PUBLIC_PEM
    assert key.read_text() == KEY_PEM
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE(cert.stat().st_mode) & 0o077 != 0o077
    new_key = tmp_path / "new-key.pem"
    fake.answer(200, answer)
    assert run(["create-keys-and-certificate", "--private-key-outfile",
                str(new_key)], url=fake.url()).rc == 0
    assert stat.S_IMODE(new_key.stat().st_mode) == 0o600


def test_outfile_that_cannot_be_written(fake, tmp_path):
    """An outfile in a missing directory: status 255 and a line naming
    the flag; the answer (with the key) was printed before."""
    fake.answer(200, CASES[5].answer)
    res = run(["create-keys-and-certificate", "--private-key-outfile",
               str(tmp_path / "missing" / "key.pem")], url=fake.url())
    assert res.rc == 255
    assert res.err.startswith("Cannot write --private-key-outfile ")
    assert "No such file or directory" in res.err
    assert json.loads(res.out)["keyPair"]["PrivateKey"] == KEY_PEM


ERROR_ANSWERS = [
    (["describe-thing", "--thing-name", "nope"],
     Answer(404, {"error": "ResourceNotFoundException",
                  "message": "thing nope does not exist",
                  "field": "thingName"}),
     "An error occurred (ResourceNotFoundException) when calling the "
     "DescribeThing operation: thing nope does not exist"),
    (["list-things"],
     Answer(401, {"error": "UnauthorizedException",
                  "message": "missing or wrong bearer token"}),
     "An error occurred (UnauthorizedException) when calling the "
     "ListThings operation: missing or wrong bearer token"),
    (["create-policy", "--policy-name", "p", "--policy-document", "{"],
     Answer(400, {"error": "InvalidRequestException",
                  "message": "policyDocument: line 1 column 2: "
                  "end of file expected", "field": "policyDocument"}),
     "An error occurred (InvalidRequestException) when calling the "
     "CreatePolicy operation: policyDocument: line 1 column 2: end of "
     "file expected"),
    (["delete-certificate", "--certificate-id", CERT_ID],
     Answer(409, {"error": "DeleteConflictException",
                  "message": "certificate is ACTIVE"}),
     "An error occurred (DeleteConflictException) when calling the "
     "DeleteCertificate operation: certificate is ACTIVE"),
    (["create-thing", "--thing-name", "t"],
     Answer(409, {"error": "ResourceAlreadyExistsException",
                  "message": "thing t exists"}),
     "An error occurred (ResourceAlreadyExistsException) when calling "
     "the CreateThing operation: thing t exists"),
    (["update-thing", "--thing-name", "t", "--expected-version", "4"],
     Answer(409, {"error": "VersionConflictException",
                  "message": "version is 5"}),
     "An error occurred (VersionConflictException) when calling the "
     "UpdateThing operation: version is 5"),
    (["list-policies"],
     Answer(503, {"error": "ServiceUnavailableException",
                  "message": "Redis did not answer in time"}),
     "An error occurred (ServiceUnavailableException) when calling the "
     "ListPolicies operation: Redis did not answer in time"),
    (["get-policy", "--policy-name", "p"],
     Answer(405, b"", {"x-amzn-ErrorType": "MethodNotAllowedException"}),
     "An error occurred (MethodNotAllowedException) when calling the "
     "GetPolicy operation: Method Not Allowed"),
    (["list-certificates"], Answer(500, b"<html>oops</html>"),
     "An error occurred (500) when calling the ListCertificates "
     "operation: Internal Server Error"),
]


@pytest.mark.parametrize("args,answer,line", ERROR_ANSWERS,
                         ids=[str(a.status) + "-" + args[0]
                              for args, a, _ in ERROR_ANSWERS])
def test_error_answer(fake, args, answer, line):
    """An error answer: exit 254, nothing on stdout, the AWS CLI's line
    on stderr (the body's error and message; else the x-amzn-ErrorType
    header, or the status, and the reason phrase)."""
    fake.answers.append(answer)
    res = run(args, url=fake.url())
    assert res.rc == 254
    assert res.out == ""
    assert res.err == line + "\n"


USAGE_ERRORS = [
    ([], "the following arguments are required: command"),
    (["create-thingz"], "argument command: Invalid choice: "
     "'create-thingz' (stratactl help lists the commands)"),
    (["create-policy", "--policy-name", "p"],
     "the following arguments are required: --policy-document"),
    (["attach-thing-principal"], "the following arguments are required: "
     "--thing-name, --principal"),
    (["describe-thing", "--thing-name", "t", "--colour", "red"],
     "Unknown options: --colour"),
    (["describe-thing", "--thing-name"],
     "argument --thing-name: expected one argument"),
    (["delete-thing", "--thing-name", "t", "--expected-version", "two"],
     "argument --expected-version: invalid int value: 'two'"),
    (["create-keys-and-certificate", "--set-as-active=yes"],
     "argument --set-as-active: ignored explicit argument 'yes'"),
    (["update-access-key", "--user-name", "ops", "--access-key-id",
      ACCESS_KEY_ID, "--status", "Enabled"],
     "argument --status: Invalid choice: 'Enabled', valid choices are: "
     "Active|Inactive"),
    (["list-admin-users", "--profile", "ops", "--token-file", "t"],
     "--profile and --token-file cannot be used together"),
]


@pytest.mark.parametrize("args,message", USAGE_ERRORS,
                         ids=["-".join(a[:1] + a[-1:]) or "no-command"
                              for a, _ in USAGE_ERRORS])
def test_usage_error(fake, args, message):
    """A command line error: exit 252, the usage lines, then
    `stratactl: error: ...`; nothing is sent."""
    res = run(args, url=fake.url())
    assert res.rc == 252
    assert res.out == ""
    lines = res.err.splitlines()
    assert lines[0] == "usage: stratactl [options] <command> [parameters]"
    assert lines[-1] == "stratactl: error: " + message
    assert fake.requests == []


PARAMETER_ERRORS = [
    (["create-policy", "--policy-name", "p", "--policy-document",
      "file:///nonexistent/policy.json"],
     "Error parsing parameter '--policy-document': Unable to load "
     "paramfile file:///nonexistent/policy.json: No such file or "
     "directory"),
    (["create-thing", "--thing-name", "t", "--attribute-payload",
      '{"attributes": '],
     "Error parsing parameter '--attribute-payload': Invalid JSON: "),
    (["create-thing", "--thing-name", "t", "--attribute-payload",
      "attributes={a=1},color=red"],
     "Parameter validation failed: Unknown parameter in attributePayload: "
     "\"color\", must be one of: attributes, merge"),
    (["describe-thing", "--thing-name", ""],
     "Invalid length for parameter thingName (--thing-name), value: 0, "
     "valid min length: 1"),
    (["list-things", "--endpoint-url", "localhost:1"],
     "Bad value for --endpoint-url \"localhost:1\": must be of the form "),
    (["update-thing-groups-for-thing", "--thing-name", "t",
      "--thing-groups-to-add", '["a", 1]'],
     "Error parsing parameter '--thing-groups-to-add': a list of strings, "
     "item 1 is not one"),
    (["update-thing-groups-for-thing", "--thing-name", "t",
      "--thing-groups-to-add", '["a"'],
     "Error parsing parameter '--thing-groups-to-add': not a JSON array"),
]


@pytest.mark.parametrize("args,start", PARAMETER_ERRORS,
                         ids=["file", "json", "shape", "empty", "url",
                              "list-item", "list-json"])
def test_parameter_error(fake, args, start):
    """A value that does not parse or fit: exit 252, one line, nothing
    sent."""
    res = run(args, url=fake.url())
    assert res.rc == 252
    assert res.err.startswith(start), res.err
    assert len(res.err.splitlines()) == 1
    assert fake.requests == []


def test_configuration_errors(fake, tmp_path):
    """No endpoint, no token, an empty or unreadable token file: exit
    253, nothing sent."""
    res = run(["list-things"], url=None)
    assert (res.rc, res.err) == (253, "No endpoint: set STRATA_ADMIN_URL "
                                 "or use --endpoint-url\n")
    res = run(["list-things"], url=fake.url(), token=None)
    assert (res.rc, res.err) == (253, "Unable to locate credentials: set "
                                 "STRATA_ACCESS_KEY_ID and "
                                 "STRATA_SECRET_ACCESS_KEY, or "
                                 "STRATA_ADMIN_TOKEN, or use --profile or "
                                 "--token-file\n")
    empty = tmp_path / "empty"
    empty.write_text("\n")
    assert run(["list-things", "--token-file", str(empty)],
               url=fake.url()).rc == 253
    res = run(["list-things", "--token-file", str(tmp_path / "none")],
              url=fake.url())
    assert res.rc == 253
    assert res.err.startswith("Unable to read the token file ")
    assert fake.requests == []


def test_token_file_and_endpoint_flag_win(fake, tmp_path):
    """--token-file (trailing newline dropped) wins over
    STRATA_ADMIN_TOKEN; --endpoint-url over STRATA_ADMIN_URL; a base path
    in the URL prefixes every path."""
    token = tmp_path / "token"
    token.write_text("from-file\r\n")
    res = run(["list-policies", "--token-file", str(token),
               "--endpoint-url", fake.url() + "/admin/"],
              url="http://127.0.0.1:1", token="from-env")
    assert res.rc == 0, res.err
    r = fake.requests[0]
    assert r.headers["authorization"] == "Bearer from-file"
    assert r.raw_path == "/admin/policies"
    assert r.headers["host"] == "127.0.0.1:%d" % fake.port


def signature(secret, r):
    """The STRATA-HMAC-SHA256 signature of a recorded request, computed
    here from the words of docs/internals/admin-authz.md, section 3."""
    key = hmac.new(secret.encode(), b"strata-admin-signing",
                   hashlib.sha256).digest()
    text = "\n".join(["STRATA-HMAC-SHA256", r.headers["x-strata-date"],
                      r.method, r.raw_path, r.raw_query,
                      hashlib.sha256(r.body).hexdigest()])
    return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()


def check_signed(r, key_id=ACCESS_KEY_ID, secret=SECRET_KEY):
    """r is signed by key_id with secret, dated now (UTC)."""
    date = r.headers["x-strata-date"]
    sent = calendar.timegm(time.strptime(date, "%Y%m%dT%H%M%SZ"))
    assert abs(sent - time.time()) < 60
    assert r.headers["authorization"] == (
        "STRATA-HMAC-SHA256 Credential=%s, Signature=%s" %
        (key_id, signature(secret, r)))


def test_signed_with_access_key_variables(fake):
    """STRATA_ACCESS_KEY_ID and STRATA_SECRET_ACCESS_KEY sign each
    request over its method, path and query as sent (encoded, the base
    path included) and its body; they win over STRATA_ADMIN_TOKEN.
    --debug shows the key id and the date, never the secret or the
    signature."""
    env = {"STRATA_ACCESS_KEY_ID": ACCESS_KEY_ID,
           "STRATA_SECRET_ACCESS_KEY": SECRET_KEY}
    res = run(["update-access-key", "--user-name", "ops+1@example.com",
               "--access-key-id", ACCESS_KEY_ID, "--status", "Active",
               "--debug", "--endpoint-url", fake.url() + "/admin"],
              env=env)
    assert res.rc == 0, res.err
    r = fake.requests[0]
    assert r.raw_path == ("/admin/admin-users/ops%2B1%40example.com/"
                          "access-keys/" + ACCESS_KEY_ID)
    assert json.loads(r.body) == {"Status": "Active"}
    check_signed(r)
    lines = res.err.splitlines()
    assert ("> Authorization: STRATA-HMAC-SHA256 Credential=%s, "
            "Signature=(not shown)" % ACCESS_KEY_ID) in lines
    assert "> X-Strata-Date: " + r.headers["x-strata-date"] in lines
    assert ("* credentials from the environment (STRATA_ACCESS_KEY_ID)"
            in lines)
    assert SECRET_KEY not in res.err
    assert signature(SECRET_KEY, r) not in res.err
    # a query and no body
    res = run(["list-things", "--max-results", "5", "--next-token",
               "a/b c"], url=fake.url(), env=env)
    assert res.rc == 0, res.err
    r = fake.requests[1]
    assert (r.raw_query, r.body) == ("maxResults=5&nextToken=a%2Fb%20c",
                                     b"")
    check_signed(r)


def test_credentials_file_profiles(fake, tmp_path):
    """A profile of the credentials file signs: the default one of
    ~/.strata/credentials, STRATA_PROFILE's, --profile's (before the
    access key variables), in STRATA_SHARED_CREDENTIALS_FILE too.  A
    profile named but not there: 253 and the AWS CLI's words, nothing
    sent."""
    (tmp_path / ".strata").mkdir()
    (tmp_path / ".strata" / "credentials").write_text(
        "[default]\nstrata_access_key_id = AKIADEFAULT\n"
        "strata_secret_access_key = default-secret\n\n[ops]\n"
        "aws_access_key_id = %s\naws_secret_access_key = %s\n" %
        (ACCESS_KEY_ID, SECRET_KEY))
    other = tmp_path / "other"
    other.write_text("[ci]\nstrata_access_key_id = AKIACI\n"
                     "strata_secret_access_key = ci-secret\n")
    home = {"HOME": str(tmp_path)}
    url = fake.url()
    assert run(["list-admin-users"], url=url, token=None, env=home).rc == 0
    check_signed(fake.requests[-1], "AKIADEFAULT", "default-secret")
    assert run(["list-admin-users"], url=url, token=None,
               env=dict(home, STRATA_PROFILE="ops")).rc == 0
    check_signed(fake.requests[-1])
    assert run(["list-admin-users", "--profile", "ops"], url=url,
               env=dict(home, STRATA_ACCESS_KEY_ID="AKIAENV",
                        STRATA_SECRET_ACCESS_KEY="env-secret")).rc == 0
    check_signed(fake.requests[-1])
    assert run(["list-admin-users", "--profile", "ci"], url=url,
               env=dict(home, STRATA_SHARED_CREDENTIALS_FILE=str(other))
               ).rc == 0
    check_signed(fake.requests[-1], "AKIACI", "ci-secret")
    sent = len(fake.requests)
    res = run(["list-admin-users", "--profile", "nope"], url=url, env=home)
    assert (res.rc, res.err) == (253, "The config profile (nope) could "
                                 "not be found\n")
    res = run(["list-admin-users"], url=url, token=None,
              env=dict(home, STRATA_PROFILE="nope"))
    assert (res.rc, res.err) == (253, "The config profile (nope) could "
                                 "not be found\n")
    assert len(fake.requests) == sent


def test_unreachable_endpoint():
    """Nothing listens: exit 255 and the AWS CLI's line."""
    port = daemons.free_port()
    res = run(["list-things"], url="http://127.0.0.1:%d" % port)
    assert res.rc == 255
    assert res.err == ('Could not connect to the endpoint URL: '
                       '"http://127.0.0.1:%d/things"\n' % port)


def test_unknown_host():
    res = run(["list-things"], url="http://no-such-host.invalid:80")
    assert res.rc == 255
    assert res.err.startswith('Could not connect to the endpoint URL: '
                              '"http://no-such-host.invalid:80/things"')


def test_read_timeout(fake):
    """An answer that does not come within --cli-read-timeout: exit 255,
    on time."""
    fake.answer(200, {}, delay=10)
    res = run(["list-things", "--cli-read-timeout", "1"], url=fake.url())
    assert res.rc == 255
    assert res.err == ('Read timeout on endpoint URL: "%s/things"\n' %
                       fake.url())
    assert res.elapsed < 5


def test_connection_closed_without_answer(fake):
    fake.answer(hang_up=True)
    res = run(["list-things"], url=fake.url())
    assert res.rc == 255
    assert res.err == ("Connection was closed before we received a valid "
                       "response from endpoint URL: \"%s/things\".\n" %
                       fake.url())
    assert len(fake.requests) == 1


def test_success_that_is_not_json(fake):
    fake.answer(200, b"<html>")
    res = run(["list-things"], url=fake.url())
    assert res.rc == 255
    assert res.err.startswith("The answer to ListThings is not JSON")


def test_ipv6_literal():
    """http://[::1]:P works, with the brackets in the Host header."""
    try:
        f = FakeAdmin(host="::1")
    except OSError:
        pytest.skip("no IPv6 loopback")
    try:
        res = run(["list-things"], url=f.url())
        assert res.rc == 0, res.err
        assert f.requests[0].headers["host"] == "[::1]:%d" % f.port
    finally:
        f.close()


@pytest.fixture(scope="module")
def certs():
    """Two development CAs: `good` signed the server certificate (SAN
    localhost and 127.0.0.1), `other` did not."""
    d = tempfile.mkdtemp(prefix="strata-ctl-certs-")
    try:
        for name in ("good", "other"):
            subprocess.run(["bash", GEN_CERTS, os.path.join(d, name)],
                           check=True, timeout=60)
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def tls_fake(certs, host="127.0.0.1"):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(os.path.join(certs, "good", "server.crt"),
                        os.path.join(certs, "good", "server.key"))
    return FakeAdmin(host=host, tls=ctx)


def test_https_verified_against_ca_file(certs):
    """https with --ca-file or STRATA_ADMIN_CA_FILE: the server's chain
    and its name (localhost) or address (127.0.0.1) are checked, and the
    request goes through."""
    good_ca = os.path.join(certs, "good", "ca.crt")
    f = tls_fake(certs)
    try:
        f.answer(200, {"things": []})
        res = run(["list-things", "--ca-file", good_ca],
                  url=f.url("https", "localhost"))
        assert (res.rc, res.err) == (0, ""), res.err
        assert res.out == printed({"things": []})
        res = run(["describe-thing", "--thing-name", "t"],
                  url=f.url("https"), env={"STRATA_ADMIN_CA_FILE": good_ca})
        assert (res.rc, res.err) == (0, "")
        assert [r.raw_path for r in f.requests] == ["/things", "/things/t"]
        assert all(r.headers["authorization"] == "Bearer " + TOKEN
                   for r in f.requests)
    finally:
        f.close()


def test_https_refuses_unverified_server(certs):
    """A server whose chain the client's CA did not sign, or whose
    certificate does not name the address dialled: exit 255 with `SSL
    validation failed`, and no request reaches it."""
    other_ca = os.path.join(certs, "other", "ca.crt")
    good_ca = os.path.join(certs, "good", "ca.crt")
    f = tls_fake(certs)
    try:
        res = run(["list-things", "--ca-file", other_ca],
                  url=f.url("https"))
        assert res.rc == 255
        assert res.err.startswith("SSL validation failed for %s/things "
                                  "certificate verify failed: " %
                                  f.url("https"))
        # the system's store does not know the development CA
        res = run(["list-things"], url=f.url("https"))
        assert res.rc == 255
        assert res.err.startswith("SSL validation failed for ")
        assert f.requests == []
    finally:
        f.close()
    f = tls_fake(certs, host="127.0.0.2")
    try:
        res = run(["list-things", "--ca-file", good_ca],
                  url=f.url("https"))
        assert res.rc == 255
        assert "certificate verify failed: IP address mismatch" in res.err
        assert f.requests == []
    finally:
        f.close()


def test_https_bad_ca_file(certs, tmp_path):
    bad = tmp_path / "bad.crt"
    bad.write_text("not a certificate\n")
    res = run(["list-things", "--ca-file", str(bad)],
              url="https://127.0.0.1:1")
    assert res.rc == 253
    assert res.err.startswith("Unable to load the CA file %s: " % bad)


# The shadow commands (`aws iot-data`), against the same fake standing in
# for strata-shadowd's HTTP API (docs/internals/shadowd-http.md): their
# endpoint is STRATA_DATA_URL; the document answered is written to the
# positional outfile byte for byte and nothing is printed, as the AWS CLI
# does with a blob payload; --payload is base64 unless
# --cli-binary-format raw-in-base64-out, fileb:// bytes as they are.

SHADOW_DOC = (b'{"state":{"desired":{"on":true},"reported":{"on":false}},'
              b'"metadata":{"desired":{"on":{"timestamp":1700000000}}},'
              b'"version":3,"timestamp":1700000001}')
UPDATE = b'{"state":{"desired":{"on":true}}}'
UPDATE_BASE64 = "eyJzdGF0ZSI6eyJkZXNpcmVkIjp7Im9uIjp0cnVlfX19"
ACCEPTED = (b'{"state":{"desired":{"on":true}},"metadata":{"desired":'
            b'{"on":{"timestamp":1700000002}}},"version":4,'
            b'"timestamp":1700000002}')
OUT = "<outfile>"

ShadowCase = collections.namedtuple(
    "ShadowCase", "name args method path query body answer")

SHADOW_CASES = [
    ShadowCase("get", ["get-thing-shadow", "--thing-name", "lamp-1", OUT],
               "GET", "/things/lamp-1/shadow", {}, b"", SHADOW_DOC),
    ShadowCase("get-named",
               ["get-thing-shadow", OUT, "--thing-name", "lamp:1",
                "--shadow-name", "night_light"],
               "GET", "/things/lamp%3A1/shadow", {"name": "night_light"},
               b"", SHADOW_DOC),
    ShadowCase("update-base64",
               ["update-thing-shadow", "--thing-name", "lamp-1",
                "--payload", UPDATE_BASE64, OUT],
               "POST", "/things/lamp-1/shadow", {}, UPDATE, ACCEPTED),
    ShadowCase("update-raw",
               ["update-thing-shadow", "--cli-binary-format",
                "raw-in-base64-out", "--thing-name", "lamp-1",
                "--shadow-name", "night", "--payload", UPDATE.decode(),
                OUT],
               "POST", "/things/lamp-1/shadow", {"name": "night"}, UPDATE,
               ACCEPTED),
    ShadowCase("delete",
               ["delete-thing-shadow", "--thing-name", "lamp-1",
                "--shadow-name", "night", OUT],
               "DELETE", "/things/lamp-1/shadow", {"name": "night"}, b"",
               b'{"version":4,"timestamp":1700000003}'),
]


def run_data(args, fake, tmp_path=None, env=None, **kwargs):
    """run() for a shadow command: STRATA_DATA_URL is the fake, no
    STRATA_ADMIN_URL; OUT in args is tmp_path/out.json."""
    if tmp_path is not None:
        args = [str(tmp_path / "out.json") if a == OUT else a
                for a in args]
    return run(args, env=dict(env or {}, STRATA_DATA_URL=fake.url()),
               **kwargs)


@pytest.mark.parametrize("case", SHADOW_CASES,
                         ids=[c.name for c in SHADOW_CASES])
def test_shadow_command_wire(fake, tmp_path, case):
    """Each shadow command sends its operation's method, path and query
    to STRATA_DATA_URL with the admin API's credentials; the payload is
    the body, without a Content-Type (a blob); the answer goes to the
    outfile as it came, stdout stays empty."""
    fake.answer(200, case.answer)
    res = run_data(case.args, fake, tmp_path)
    assert (res.rc, res.out, res.err) == (0, "", "")
    assert (tmp_path / "out.json").read_bytes() == case.answer
    assert len(fake.requests) == 1
    r = fake.requests[0]
    assert (r.method, r.raw_path, r.query, r.body) == (
        case.method, case.path, case.query, case.body)
    assert r.headers["authorization"] == "Bearer " + TOKEN
    assert "content-type" not in r.headers
    if case.method == "POST":
        assert r.headers["content-length"] == str(len(case.body))


def test_list_named_shadows_prints_the_answer(fake):
    """list-named-shadows-for-thing has no outfile: its JSON answer is
    printed like any other; the paging flags are its query."""
    answer = {"results": ["day", "night"], "nextToken": "2",
              "timestamp": 1700000000}
    fake.answer(200, answer)
    res = run_data(["list-named-shadows-for-thing", "--thing-name",
                    "lamp-1", "--page-size", "2", "--next-token", "0"],
                   fake)
    assert (res.rc, res.err) == (0, "")
    assert res.out == printed(answer)
    r = fake.requests[0]
    assert (r.method, r.raw_path, r.raw_query) == (
        "GET", "/api/things/shadow/ListNamedShadowsForThing/lamp-1",
        "nextToken=0&pageSize=2")


def test_shadow_endpoint(fake, tmp_path):
    """The shadow commands use STRATA_DATA_URL, never STRATA_ADMIN_URL
    (nor the admin commands STRATA_DATA_URL); --endpoint-url applies to
    both, as in the AWS CLI; no endpoint: 253."""
    out = str(tmp_path / "out.json")
    res = run(["get-thing-shadow", "--thing-name", "t", out],
              url=fake.url())
    assert (res.rc, res.err) == (253, "No endpoint: set STRATA_DATA_URL "
                                 "or use --endpoint-url\n")
    res = run(["list-things"], env={"STRATA_DATA_URL": fake.url()})
    assert (res.rc, res.err) == (253, "No endpoint: set STRATA_ADMIN_URL "
                                 "or use --endpoint-url\n")
    assert fake.requests == []
    fake.answer(200, SHADOW_DOC)
    res = run(["get-thing-shadow", "--thing-name", "t", out,
               "--endpoint-url", fake.url() + "/data"],
              env={"STRATA_DATA_URL": "http://127.0.0.1:1"})
    assert (res.rc, res.err) == (0, "")
    assert fake.requests[0].raw_path == "/data/things/t/shadow"


def test_shadow_payload_forms(fake, tmp_path):
    """fileb:// sends the file's bytes whatever the format; file:// text
    is base64 by default, itself with raw-in-base64-out; JSON typed
    without raw-in-base64-out is the AWS CLI v2's `Invalid base64` (255),
    and nothing is sent nor written."""
    blob = tmp_path / "doc.bin"
    blob.write_bytes(UPDATE + b"\x00\xff")
    text = tmp_path / "doc.b64"
    text.write_text(UPDATE_BASE64 + "\n")
    raw = tmp_path / "doc.json"
    raw.write_bytes(UPDATE)
    base = ["update-thing-shadow", "--thing-name", "t", OUT, "--payload"]
    for args, body in (
            (["fileb://%s" % blob], UPDATE + b"\x00\xff"),
            (["fileb://%s" % blob, "--cli-binary-format",
              "raw-in-base64-out"], UPDATE + b"\x00\xff"),
            (["file://%s" % text], UPDATE),
            (["file://%s" % raw, "--cli-binary-format",
              "raw-in-base64-out"], UPDATE)):
        fake.answer(200, ACCEPTED)
        res = run_data(base + args, fake, tmp_path)
        assert (res.rc, res.err) == (0, ""), args
        assert fake.requests[-1].body == body
    sent = len(fake.requests)
    (tmp_path / "out.json").unlink()
    res = run_data(base + [UPDATE.decode()], fake, tmp_path)
    assert (res.rc, res.out) == (255, "")
    assert res.err == 'Invalid base64: "%s"\n' % UPDATE.decode()
    res = run_data(base + ["file://%s" % raw], fake, tmp_path)
    assert res.rc == 255
    assert res.err == 'Invalid base64: "%s"\n' % UPDATE.decode()
    res = run_data(base + ["caf\u00e9"], fake, tmp_path)
    assert (res.rc, res.err) == (255, "string argument should contain "
                                 "only ASCII characters\n")
    assert len(fake.requests) == sent
    assert not (tmp_path / "out.json").exists()


SHADOW_ERRORS = [
    (["get-thing-shadow", "--thing-name", "t", "--shadow-name", "x", OUT],
     Answer(404, {"code": 404, "message": "No shadow exists with name: "
                  "'t~x'", "timestamp": 1700000000}),
     "An error occurred (ResourceNotFoundException) when calling the "
     "GetThingShadow operation: No shadow exists with name: 't~x'"),
    (["update-thing-shadow", "--thing-name", "t", "--payload", "e30=",
      OUT],
     Answer(400, {"code": 400, "message": "Missing required node: state",
                  "timestamp": 1700000000}),
     "An error occurred (InvalidRequestException) when calling the "
     "UpdateThingShadow operation: Missing required node: state"),
    (["update-thing-shadow", "--thing-name", "t", "--payload", "e30=",
      OUT],
     Answer(409, {"code": 409, "message": "Version conflict",
                  "timestamp": 1700000000, "clientToken": "c1"}),
     "An error occurred (ConflictException) when calling the "
     "UpdateThingShadow operation: Version conflict"),
    (["delete-thing-shadow", "--thing-name", "t", OUT],
     Answer(429, {"code": 429, "message": "Too many requests",
                  "timestamp": 1700000000}),
     "An error occurred (ThrottlingException) when calling the "
     "DeleteThingShadow operation: Too many requests"),
    (["list-named-shadows-for-thing", "--thing-name", "t", "--page-size",
      "500"],
     Answer(400, {"code": 400, "message": "pageSize must be from 1 to "
                  "100", "timestamp": 1700000000}),
     "An error occurred (InvalidRequestException) when calling the "
     "ListNamedShadowsForThing operation: pageSize must be from 1 to 100"),
    (["get-thing-shadow", "--thing-name", "t", OUT],
     Answer(401, {"error": "UnauthorizedException",
                  "message": "missing or wrong bearer token"}),
     "An error occurred (UnauthorizedException) when calling the "
     "GetThingShadow operation: missing or wrong bearer token"),
    (["delete-thing-shadow", "--thing-name", "t", OUT],
     Answer(403, {"error": "AccessDeniedException",
                  "message": "ops may not iot:DeleteThingShadow"}),
     "An error occurred (AccessDeniedException) when calling the "
     "DeleteThingShadow operation: ops may not iot:DeleteThingShadow"),
    (["update-thing-shadow", "--thing-name", "t", "--payload", "e30=",
      OUT],
     Answer(413, b"<html>too large</html>"),
     "An error occurred (RequestEntityTooLargeException) when calling the "
     "UpdateThingShadow operation: Request Entity Too Large"),
    (["get-thing-shadow", "--thing-name", "t", OUT],
     Answer(500, {"code": 500, "message": "Internal service failure",
                  "timestamp": 1700000000}),
     "An error occurred (InternalFailureException) when calling the "
     "GetThingShadow operation: Internal service failure"),
]


@pytest.mark.parametrize("args,answer,line", SHADOW_ERRORS,
                         ids=[str(a.status) + "-" + args[0]
                              for args, a, _ in SHADOW_ERRORS])
def test_shadow_error_answer(fake, tmp_path, args, answer, line):
    """shadowd's error document ({"code", "message", "timestamp"}) names
    no error: the line names it by its status as AWS's iot-data reference
    does; an authentication error's body names its own.  Exit 254,
    nothing printed, no outfile written."""
    fake.answers.append(answer)
    res = run_data(args, fake, tmp_path)
    assert (res.rc, res.out, res.err) == (254, "", line + "\n")
    assert not (tmp_path / "out.json").exists()


def test_shadow_usage_errors(fake, tmp_path):
    """The outfile is required and positional (argparse's words), one
    only; an empty shadow name is refused before anything is sent."""
    res = run_data(["get-thing-shadow", "--thing-name", "t"], fake)
    assert res.rc == 252
    assert res.err.splitlines()[-1] == ("stratactl: error: the following "
                                        "arguments are required: outfile")
    res = run_data(["get-thing-shadow", "--thing-name", "t", "a", "b"],
                   fake)
    assert res.rc == 252
    assert res.err.splitlines()[-1] == "stratactl: error: Unknown " \
        "options: b"
    res = run_data(["get-thing-shadow", "--thing-name", "t",
                    "--shadow-name", "", OUT], fake, tmp_path)
    assert (res.rc, res.err) == (252, "Invalid length for parameter name "
                                 "(--shadow-name), value: 0, valid min "
                                 "length: 1\n")
    assert fake.requests == []


def test_shadow_outfile_that_cannot_be_written(fake, tmp_path):
    """The outfile is opened after the answer, as the AWS CLI does: the
    update was made; 255 and Python's words."""
    out = tmp_path / "missing" / "out.json"
    fake.answer(200, ACCEPTED)
    res = run_data(["update-thing-shadow", "--thing-name", "t",
                    "--payload", "e30=", str(out)], fake)
    assert (res.rc, res.out) == (255, "")
    assert res.err == ("[Errno 2] No such file or directory: '%s'\n" %
                       out)
    assert fake.requests[0].body == b"{}"


def test_shadow_signed_with_access_key(fake, tmp_path):
    """An access key signs a shadow request as an admin one, over the
    payload's bytes as sent (NULs included)."""
    blob = tmp_path / "doc.bin"
    blob.write_bytes(UPDATE + b"\x00")
    env = {"STRATA_ACCESS_KEY_ID": ACCESS_KEY_ID,
           "STRATA_SECRET_ACCESS_KEY": SECRET_KEY}
    fake.answer(200, ACCEPTED)
    res = run_data(["update-thing-shadow", "--thing-name", "lamp-1",
                    "--shadow-name", "night", "--payload",
                    "fileb://%s" % blob, OUT], fake, tmp_path, env=env,
                   token=None)
    assert (res.rc, res.err) == (0, "")
    r = fake.requests[0]
    assert r.body == UPDATE + b"\x00"
    assert r.raw_query == "name=night"
    check_signed(r)
