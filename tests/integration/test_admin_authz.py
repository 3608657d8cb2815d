"""Admin identities and IAM-style policies on the admin API
(docs/internals/admin-authz.md): the bootstrap identity, a matrix of
users and policies (allow, default deny, explicit deny beating allow,
wildcards in actions and resources, conditions), access key rotation
and deactivation, and signed requests (tampering, skew and replay
refused on every broker).  Requests are made and signed here with the
standard library, independently of the broker's and stratactl's code."""

import datetime
import hashlib
import hmac
import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request

import conftest

IOT = "arn:aws:iot:local:000000000000"
IAM = "arn:aws:iam::000000000000"


def call(url, method, path, body=None, auth=None, headers=None):
    """One admin API call; (status, parsed JSON body)."""
    h = dict(headers or {})
    if auth is not None:
        h["Authorization"] = auth
    data = None
    if body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
    req = urllib.request.Request(url + path, method=method, data=data,
                                 headers=h)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def bearer(key_id, secret):
    return "Bearer %s:%s" % (key_id, secret)


def sign(key_id, secret, method, path, body=b"", date=None):
    """The headers of a STRATA-HMAC-SHA256 signed request: path is the
    request target as sent (query included)."""
    date = date or datetime.datetime.now(datetime.timezone.utc).strftime(
        "%Y%m%dT%H%M%SZ")
    bare, _, query = path.partition("?")
    signing = hmac.new(secret.encode(), b"strata-admin-signing",
                       hashlib.sha256).digest()
    text = "\n".join(["STRATA-HMAC-SHA256", date, method, bare, query,
                      hashlib.sha256(body).hexdigest()])
    sig = hmac.new(signing, text.encode(), hashlib.sha256).hexdigest()
    return {"Authorization": "STRATA-HMAC-SHA256 Credential=%s, "
            "Signature=%s" % (key_id, sig), "X-Strata-Date": date}


def admin(cluster, method, path, body=None):
    """A call as the bootstrap identity (the bare ADMIN_TOKEN)."""
    return call(cluster.admin_url, method, path, body,
                auth="Bearer " + cluster.admin_token)


def ok(result):
    status, body = result
    assert status == 200, result
    return body


def uniq(prefix):
    return "%s-%s" % (prefix, os.urandom(3).hex())


def make_user(cluster, *statements):
    """A new user with one new policy of these statements and one access
    key: (user, key id, secret)."""
    user, pol = uniq("u"), uniq("p")
    ok(admin(cluster, "POST", "/admin-users/" + user))
    ok(admin(cluster, "POST", "/admin-policies/" + pol, {
        "PolicyDocument": json.dumps({"Version": "2012-10-17",
                                      "Statement": list(statements)})}))
    ok(admin(cluster, "PUT", "/admin-users/%s/policies/%s" % (user, pol)))
    key = ok(admin(cluster, "POST", "/admin-users/%s/access-keys" % user))
    key = key["AccessKey"]
    assert key["Status"] == "Active" and key["UserName"] == user
    assert len(key["SecretAccessKey"]) == 40
    return user, key["AccessKeyId"], key["SecretAccessKey"]


def test_bootstrap_identity(cluster):
    """ADMIN_TOKEN is the secret of the bootstrap key, user admin with
    AdministratorAccess; the id is ADMIN_ACCESS_KEY_ID."""
    assert cluster.admin_key_id.startswith("AKIA")
    ok(admin(cluster, "GET", "/things"))
    ok(call(cluster.admin_url, "GET", "/things",
            auth=bearer(cluster.admin_key_id, cluster.admin_token)))
    user = ok(admin(cluster, "GET", "/admin-users/admin"))["User"]
    assert user["Arn"] == IAM + ":user/admin"
    keys = ok(admin(cluster, "GET", "/admin-users/admin/access-keys"))
    assert {"UserName": "admin", "AccessKeyId": cluster.admin_key_id,
            "Status": "Active"}.items() <= keys["AccessKeyMetadata"][0].items()
    assert "SecretAccessKey" not in json.dumps(keys)
    attached = ok(admin(cluster, "GET", "/admin-users/admin/policies"))
    assert attached["AttachedPolicies"] == [{
        "PolicyName": "AdministratorAccess",
        "PolicyArn": IAM + ":policy/AdministratorAccess"}]
    # a wrong secret for the bootstrap id, and no credential at all
    status, body = call(cluster.admin_url, "GET", "/things",
                        auth=bearer(cluster.admin_key_id, "x" * 40))
    assert (status, body["error"]) == (401, "UnauthorizedException")
    assert "x" * 40 not in body["message"]
    assert call(cluster.admin_url, "GET", "/things")[0] == 401


def test_policy_matrix(cluster):
    """Allowed, default deny, explicit deny over allow, wildcards in
    actions and resources; 403 in the managed service's words."""
    # an operator: may revoke certificates and read, may delete nothing
    _, op_id, op_secret = make_user(
        cluster,
        {"Effect": "Allow", "Action": ["iot:UpdateCertificate",
                                       "iot:Describe*", "iot:List*"],
         "Resource": "*"},
        {"Effect": "Deny", "Action": "iot:Delete*", "Resource": "*"})
    opu = lambda m, p, b=None: call(cluster.admin_url, m, p, b,
                                    auth=bearer(op_id, op_secret))
    # a provisioning line: things named factory-* only
    line_user, fa_id, fa_secret = make_user(
        cluster, {"Effect": "Allow", "Action": "iot:*Thing",
                  "Resource": IOT + ":thing/factory-*"})
    fa = lambda m, p, b=None: call(cluster.admin_url, m, p, b,
                                   auth=bearer(fa_id, fa_secret))
    # everything but deleting things: deny beats allow
    _, all_id, all_secret = make_user(
        cluster, {"Effect": "Allow", "Action": "*", "Resource": "*"},
        {"Effect": "Deny", "Action": "iot:DeleteThing",
         "Resource": IOT + ":thing/keep-*"})
    al = lambda m, p, b=None: call(cluster.admin_url, m, p, b,
                                   auth=bearer(all_id, all_secret))

    thing = uniq("factory")
    assert fa("POST", "/things/" + thing, {})[0] == 200
    assert fa("GET", "/things/" + thing)[0] == 200
    status, body = fa("POST", "/things/" + uniq("office"), {})
    assert (status, body["error"]) == (403, "AccessDeniedException")
    assert body["message"].startswith(
        "User: %s:user/%s is not authorized to perform: iot:CreateThing on "
        "resource: %s:thing/office-" % (IAM, line_user, IOT)), body
    assert "because no identity-based policy allows" in body["message"]
    assert fa("GET", "/things")[0] == 403          # iot:ListThings
    assert fa("GET", "/admin-users")[0] == 403     # iam:ListUsers

    # the operator revokes (the call passes to the registry: 404 there)
    status, body = opu("PUT", "/certificates/%s?newStatus=REVOKED" %
                       ("0" * 64))
    assert (status, body["error"]) == (404, "ResourceNotFoundException")
    assert opu("GET", "/things/" + thing)[0] == 200
    assert opu("GET", "/things")[0] == 200
    status, body = opu("DELETE", "/things/" + thing)
    assert status == 403 and "with an explicit deny" in body["message"]
    assert opu("POST", "/things/" + uniq("factory"), {})[0] == 403

    keep = uniq("keep")
    assert al("POST", "/things/" + keep, {})[0] == 200
    assert al("DELETE", "/things/" + keep)[0] == 403
    assert al("DELETE", "/things/" + thing)[0] == 200
    # the caller's own identity operations follow the same rules
    assert al("GET", "/admin-users/admin/policies")[0] == 200


def test_conditions(cluster):
    """aws:SourceIp and aws:CurrentTime conditions."""
    def allowed(condition):
        _, kid, secret = make_user(cluster, {
            "Effect": "Allow", "Action": "iot:ListThings", "Resource": "*",
            "Condition": condition})
        return call(cluster.admin_url, "GET", "/things",
                    auth=bearer(kid, secret))[0] == 200

    assert allowed({"IpAddress": {"aws:SourceIp": "127.0.0.0/8"}})
    assert not allowed({"IpAddress": {"aws:SourceIp": ["10.0.0.0/8",
                                                       "::1/128"]}})
    assert allowed({"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}})
    assert allowed({"DateGreaterThan": {"aws:CurrentTime":
                                        "2001-01-01T00:00:00Z"}})
    assert not allowed({"DateLessThan": {"aws:CurrentTime":
                                         "2001-01-01T00:00:00Z"}})
    assert not allowed({"Bool": {"aws:SecureTransport": "true"}})


def test_key_rotation(cluster):
    """A second key, the first made Inactive (refused from the next call
    on every broker), made Active again, deleted; at most two keys."""
    user, old_id, old_secret = make_user(
        cluster, {"Effect": "Allow", "Action": "iot:ListThings",
                  "Resource": "*"})
    new = ok(admin(cluster, "POST", "/admin-users/%s/access-keys" % user))
    new_id, new_secret = (new["AccessKey"]["AccessKeyId"],
                          new["AccessKey"]["SecretAccessKey"])
    status, body = admin(cluster, "POST", "/admin-users/%s/access-keys" %
                         user)
    assert (status, body["error"]) == (409, "LimitExceededException")
    urls = cluster.admin_urls
    for url in urls:
        assert call(url, "GET", "/things",
                    auth=bearer(old_id, old_secret))[0] == 200
    path = "/admin-users/%s/access-keys/%s" % (user, old_id)
    ok(admin(cluster, "PATCH", path, {"Status": "Inactive"}))
    for url in urls:
        status, body = call(url, "GET", "/things",
                            auth=bearer(old_id, old_secret))
        assert status == 401 and "Inactive" in body["message"], body
        assert call(url, "GET", "/things",
                    auth=bearer(new_id, new_secret))[0] == 200
    listed = ok(admin(cluster, "GET", "/admin-users/%s/access-keys" % user))
    assert {k["AccessKeyId"]: k["Status"] for k in
            listed["AccessKeyMetadata"]} == {old_id: "Inactive",
                                             new_id: "Active"}
    ok(admin(cluster, "PATCH", path, {"Status": "Active"}))
    assert call(urls[-1], "GET", "/things",
                auth=bearer(old_id, old_secret))[0] == 200
    ok(admin(cluster, "DELETE", path))
    assert call(urls[-1], "GET", "/things",
                auth=bearer(old_id, old_secret))[0] == 401
    # a user with keys or policies is not deleted
    status, body = admin(cluster, "DELETE", "/admin-users/" + user)
    assert (status, body["error"]) == (409, "DeleteConflictException")
    status, body = admin(cluster, "PATCH", path, {"Status": "Nope"})
    assert (status, body["field"]) == (400, "Status")


def test_signed_requests(cluster):
    """A signature over method, path, query, body digest and date; a
    tampered one, a stale one and a replayed one are refused, on any
    broker."""
    _, kid, secret = make_user(cluster, {"Effect": "Allow",
                                         "Action": "iot:*Thing*",
                                         "Resource": "*"})
    url = cluster.admin_url
    thing = uniq("signed")
    body = json.dumps({"attributePayload": {"attributes": {"a": "1"}}})
    h = sign(kid, secret, "POST", "/things/" + thing, body.encode())
    assert call(url, "POST", "/things/" + thing, body.encode(),
                headers=h)[0] == 200
    # the same request again, on another broker: a replay
    status, body2 = call(cluster.admin_urls[-1], "POST",
                         "/things/" + thing, body.encode(), headers=h)
    assert status == 401 and "replay" in body2["message"], body2
    # tampered body, path, method, query
    path = "/things?thingTypeName=x"
    h = sign(kid, secret, "GET", path)
    assert call(url, "GET", "/things?thingTypeName=y", headers=h)[0] == 401
    assert call(url, "GET", "/thingz?thingTypeName=x", headers=h)[0] == 401
    assert call(url, "DELETE", path, headers=h)[0] == 401
    h = sign(kid, secret, "PATCH", "/things/" + thing, b"{}")
    status, b = call(url, "PATCH", "/things/" + thing, b'{"x": 1}',
                     headers=h)
    assert status == 401 and "signature does not match" in b["message"]
    # a query is signed as sent
    h = sign(kid, secret, "GET", path)
    assert call(url, "GET", path, headers=h)[0] == 200
    # six minutes off either way
    for off in (-360, 360):
        date = (datetime.datetime.now(datetime.timezone.utc) +
                datetime.timedelta(seconds=off)).strftime("%Y%m%dT%H%M%SZ")
        h = sign(kid, secret, "GET", "/things", date=date)
        status, b = call(url, "GET", "/things", headers=h)
        assert status == 401 and "300 seconds" in b["message"], b
    # a wrong secret signs wrong
    h = sign(kid, "y" * 40, "GET", "/things")
    assert call(url, "GET", "/things", headers=h)[0] == 401


def test_malformed_credentials_and_policies(cluster):
    """Hostile Authorization headers get 401 with a JSON body; bad policy
    documents and names 400."""
    url = cluster.admin_url
    for auth in ["Basic abc", "Bearer ", "Bearer :", "Bearer a:b",
                 "Bearer " + "A" * 300, "STRATA-HMAC-SHA256",
                 "STRATA-HMAC-SHA256 Credential=AKIAAAAAAAAAAAAAAAAA",
                 "STRATA-HMAC-SHA256 Credential=AKIAAAAAAAAAAAAAAAAA, "
                 "Signature=" + "0" * 64,
                 "STRATA-HMAC-SHA256 Credential=x, Signature=" + "0" * 64]:
        status, body = call(url, "GET", "/things", auth=auth)
        assert (status, body["error"]) == (401, "UnauthorizedException"), (
            auth, body)
    status, body = admin(cluster, "POST", "/admin-policies/" + uniq("bad"),
                         {"PolicyDocument": '{"Statement": [}'})
    assert (status, body["error"]) == (400, "MalformedPolicyException")
    assert "line 1" in body["message"]
    status, body = admin(cluster, "POST", "/admin-policies/" + uniq("bad"),
                         {"PolicyDocument": json.dumps({"Statement": [{
                             "Effect": "Allow", "Action": "*",
                             "Resource": "*", "Condition": {"StringEquals":
                                                            {"aws:x": "y"}}
                         }]})})
    assert status == 400 and "Statement[0].Condition" in body["message"]
    status, body = admin(cluster, "POST", "/admin-users/bad%20name")
    assert (status, body["field"]) == (400, "UserName")
    assert admin(cluster, "GET", "/admin-users/" + uniq("none"))[0] == 404
    status, body = admin(cluster, "PUT", "/admin-users/admin/policies/" +
                         uniq("none"))
    assert status == 404


def test_audit_names_the_identity(cluster):
    """Allowed and refused calls leave the user's ARN, the key, the
    action and the resource in the audit line."""
    user, kid, secret = make_user(cluster, {"Effect": "Allow",
                                            "Action": "iot:DescribeThing",
                                            "Resource": "*"})
    marker = uniq("audit")
    assert call(cluster.admin_url, "GET", "/things/" + marker,
                auth=bearer(kid, secret))[0] == 404
    assert call(cluster.admin_url, "DELETE", "/things/" + marker,
                auth=bearer(kid, secret))[0] == 403
    want = ['identity=%s:user/%s key=%s action=iot:DescribeThing '
            'resource="%s:thing/%s" source=127.0.0.1 status=404 '
            'error=ResourceNotFoundException' % (IAM, user, kid, IOT, marker),
            'action=iot:DeleteThing resource="%s:thing/%s" source=127.0.0.1 '
            'status=403 error=AccessDeniedException' % (IOT, marker)]
    deadline = time.monotonic() + 5
    while True:
        log = open(os.path.join(cluster.log_dir, "broker-0.log")).read()
        if all(w in log for w in want) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    for w in want:
        assert w in log, w


def test_readme_operator_walkthrough_runs(cluster, tmp_path):
    """The README's operator walk-through, run as written (the paths of
    `make run` replaced by this cluster's, the names made unique)."""
    tag = os.urandom(3).hex()
    out = conftest.run_readme_block(cluster, "## Who may administer",
                                    tmp_path, [
                                        ("user-name operator",
                                         "user-name operator-" + tag),
                                        ("policy-name Operator",
                                         "policy-name Operator-" + tag),
                                        ("pump-1", "pump-" + tag)])
    assert "refused: AccessDeniedException" in out, out
    assert "explicit deny" in out, out
    cert_id = json.load(open(tmp_path / "pump.json"))["certificateId"]
    desc = ok(admin(cluster, "GET", "/certificates/" + cert_id))
    assert desc["certificateDescription"]["status"] == "REVOKED"
    assert ok(admin(cluster, "GET", "/things/pump-" + tag))


def test_lockout_guard_and_recovery():
    """The last Active key of a cluster can be neither deactivated nor
    deleted; with the bootstrap key and the user list removed in Redis,
    ADMIN_TOKEN makes the bootstrap identity again (its own cluster: on
    the shared one other keys are Active)."""
    with conftest.start_cluster("lockout_cluster", brokers=1,
                                routers=1) as c:
        path = "/admin-users/admin/access-keys/" + c.admin_key_id
        status, body = admin(c, "PATCH", path, {"Status": "Inactive"})
        assert (status, body["error"]) == (409, "DeleteConflictException")
        assert "last Active key" in body["message"]
        assert admin(c, "DELETE", path)[0] == 409
        new = ok(admin(c, "POST", "/admin-users/admin/access-keys"))
        new_id = new["AccessKey"]["AccessKeyId"]
        new_secret = new["AccessKey"]["SecretAccessKey"]
        ok(admin(c, "PATCH", path, {"Status": "Inactive"}))
        assert admin(c, "GET", "/things")[0] == 401
        assert call(c.admin_url, "GET", "/things",
                    auth=bearer(new_id, new_secret))[0] == 200
        # every key lost: the documented way back
        rc, out = c.redis_cli(c.redis_port, "DEL", "strata:admin-users",
                              "strata:admin-key:{%s}" % c.admin_key_id)
        assert rc == 0, out
        ok(admin(c, "GET", "/things"))
