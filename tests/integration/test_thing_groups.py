"""Thing types and static thing groups: every operation through stratactl
and the admin API (signed requests too), their error shapes and limits,
a hierarchy parent/child/grandchild, and policies attached to a group
applying to a real TLS device (Paho) of a thing in a child group, live:
attached, detached, the thing removed from the group.

The module runs its own cluster with thing-type-delete-wait 2, so that a
deprecated type can be deleted within the test."""

import json
import os
import time
import urllib.parse

import pytest

import certs
import conftest
import mqttc
from mqttc import V5
from test_admin_authz import admin, call, make_user, ok, sign
from test_registry import (ARN, allow, closing, ctl, new_device,  # noqa
                           policy_doc, tls_client)

DELETE_WAIT = 2


@pytest.fixture(scope="module")
def gcluster():
    with conftest.start_cluster(
            "gcluster",
            env={"STRATA_THING_TYPE_DELETE_WAIT": str(DELETE_WAIT)}) as c:
        yield c


def uniq(prefix):
    return "%s-%s" % (prefix, os.urandom(3).hex())


def err(result, status, error):
    """An error answer of the admin API: its status and AWS's type."""
    assert result[0] == status and result[1]["error"] == error, result
    return result[1]["message"]


# ---- thing types ----

def test_thing_type_lifecycle(gcluster):
    c = gcluster
    tt = uniq("lamp")
    props = json.dumps({"thingTypeDescription": "a lamp",
                        "searchableAttributes": ["room", "watts"]})
    out = ctl(c, "create-thing-type", "--thing-type-name", tt,
              "--thing-type-properties", props)
    assert out["thingTypeName"] == tt
    assert out["thingTypeArn"] == "%s:thingtype/%s" % (ARN, tt)
    assert len(out["thingTypeId"]) == 36
    # the same again answers the same type; other properties: 409
    again = ctl(c, "create-thing-type", "--thing-type-name", tt,
                "--thing-type-properties", props)
    assert again == out
    e = ctl(c, "create-thing-type", "--thing-type-name", tt, expect=254)
    assert "(ResourceAlreadyExistsException)" in e
    d = ctl(c, "describe-thing-type", "--thing-type-name", tt)
    assert d["thingTypeId"] == out["thingTypeId"]
    assert d["thingTypeProperties"] == {
        "thingTypeDescription": "a lamp",
        "searchableAttributes": ["room", "watts"]}
    assert d["thingTypeMetadata"]["deprecated"] is False
    assert abs(d["thingTypeMetadata"]["creationDate"] - time.time()) < 60

    # things of the type: 50 attributes allowed, 3 without a type
    five = {"a%d" % i: str(i) for i in range(5)}
    thing = uniq("lt")
    ctl(c, "create-thing", "--thing-name", thing, "--thing-type-name", tt,
        "--attribute-payload", json.dumps({"attributes": five}))
    e = ctl(c, "create-thing", "--thing-name", uniq("nt"),
            "--attribute-payload", json.dumps({"attributes": five}),
            expect=254)
    assert "(InvalidRequestException)" in e and "at most 3" in e
    e = ctl(c, "update-thing", "--thing-name", thing, "--remove-thing-type",
            expect=254)
    assert "(InvalidRequestException)" in e
    assert ctl(c, "describe-thing", "--thing-name",
               thing)["thingTypeName"] == tt
    listed = ctl(c, "list-things", "--thing-type-name", tt)["things"]
    assert [t["thingName"] for t in listed] == [thing]
    # a type that does not exist
    e = ctl(c, "create-thing", "--thing-name", uniq("x"),
            "--thing-type-name", uniq("none"), expect=254)
    assert "(ResourceNotFoundException)" in e
    e = ctl(c, "update-thing", "--thing-name", thing, "--thing-type-name",
            uniq("none"), expect=254)
    assert "(ResourceNotFoundException)" in e

    # deprecated: no new thing may have it; deleting waits
    ctl(c, "deprecate-thing-type", "--thing-type-name", tt)
    d = ctl(c, "describe-thing-type", "--thing-type-name", tt)
    assert d["thingTypeMetadata"]["deprecated"] is True
    assert "deprecationDate" in d["thingTypeMetadata"]
    e = ctl(c, "create-thing", "--thing-name", uniq("late"),
            "--thing-type-name", tt, expect=254)
    assert "(InvalidRequestException)" in e and "deprecated" in e
    other = uniq("other")
    ctl(c, "create-thing", "--thing-name", other)
    e = ctl(c, "update-thing", "--thing-name", other, "--thing-type-name",
            tt, expect=254)
    assert "(InvalidRequestException)" in e
    # the thing that has it keeps it, and may still be updated
    ctl(c, "update-thing", "--thing-name", thing, "--attribute-payload",
        '{"attributes": {"a9": "9"}, "merge": true}')
    # undo, then the type takes things again
    ctl(c, "deprecate-thing-type", "--thing-type-name", tt,
        "--undo-deprecate")
    ctl(c, "update-thing", "--thing-name", other, "--thing-type-name", tt)
    ctl(c, "update-thing", "--thing-name", other, "--remove-thing-type")
    # delete: only deprecated, only after the wait, only without things
    e = ctl(c, "delete-thing-type", "--thing-type-name", tt, expect=254)
    assert "(InvalidRequestException)" in e and "deprecated" in e
    ctl(c, "deprecate-thing-type", "--thing-type-name", tt)
    e = ctl(c, "delete-thing-type", "--thing-type-name", tt, expect=254)
    assert "(InvalidRequestException)" in e and "seconds" in e
    time.sleep(DELETE_WAIT + 1.1)
    e = ctl(c, "delete-thing-type", "--thing-type-name", tt, expect=254)
    assert "(InvalidRequestException)" in e and thing in e
    ctl(c, "delete-thing", "--thing-name", thing)
    ctl(c, "delete-thing-type", "--thing-type-name", tt)
    e = ctl(c, "describe-thing-type", "--thing-type-name", tt, expect=254)
    assert "(ResourceNotFoundException)" in e
    e = ctl(c, "delete-thing-type", "--thing-type-name", tt, expect=254)
    assert "(ResourceNotFoundException)" in e


def test_thing_type_errors_and_pages(gcluster):
    c = gcluster
    base = uniq("pg")
    for i in range(3):
        ok(admin(c, "POST", "/thing-types/%s-%d" % (base, i), {}))
    # pages of 2, names in order, a nextToken while more follow
    seen, token = [], None
    while True:
        q = "?maxResults=2" + ("&nextToken=" + urllib.parse.quote(token)
                               if token else "")
        page = ok(admin(c, "GET", "/thing-types" + q))
        assert len(page["thingTypes"]) <= 2
        seen += [t["thingTypeName"] for t in page["thingTypes"]]
        token = page.get("nextToken")
        if token is None:
            break
    mine = [n for n in seen if n.startswith(base)]
    assert mine == ["%s-%d" % (base, i) for i in range(3)]
    assert seen == sorted(seen)
    only = ctl(c, "list-thing-types", "--thing-type-name", base + "-1")
    assert [t["thingTypeName"] for t in only["thingTypes"]] == [base + "-1"]
    assert only["thingTypes"][0]["thingTypeMetadata"]["deprecated"] is False
    # errors, each named
    err(admin(c, "POST", "/thing-types/bad%20name", {}), 400,
        "InvalidRequestException")
    m = err(admin(c, "POST", "/thing-types/" + uniq("four"), {
        "thingTypeProperties": {"searchableAttributes": ["a", "b", "c",
                                                         "d"]}}),
        400, "InvalidRequestException")
    assert "at most 3" in m
    err(admin(c, "POST", "/thing-types/" + uniq("sa"), {
        "thingTypeProperties": {"searchableAttributes": ["bad name!"]}}),
        400, "InvalidRequestException")
    err(admin(c, "POST", "/thing-types/" + uniq("p"), {
        "thingTypeProperties": "x"}), 400, "InvalidRequestException")
    err(admin(c, "POST", "/thing-types/%s-0/deprecate" % base,
              {"undoDeprecate": "yes"}), 400, "InvalidRequestException")
    err(admin(c, "POST", "/thing-types/%s/deprecate" % uniq("nope"), {}),
        404, "ResourceNotFoundException")
    err(admin(c, "GET", "/thing-types?maxResults=0"), 400,
        "InvalidRequestException")
    err(admin(c, "GET", "/thing-types?maxResults=251"), 400,
        "InvalidRequestException")
    # nothing was made by the refusals
    names = [t["thingTypeName"] for t in
             ok(admin(c, "GET", "/thing-types"))["thingTypes"]]
    assert not any(n.startswith(("four", "sa-", "p-")) for n in names)


# ---- thing groups ----

def make_tree(c):
    """parent <- child <- grandchild; their names."""
    p, ch, g = uniq("par"), uniq("chi"), uniq("gra")
    out = ctl(c, "create-thing-group", "--thing-group-name", p,
              "--thing-group-properties", json.dumps({
                  "thingGroupDescription": "top",
                  "attributePayload": {"attributes": {"site": "n"}}}))
    assert out["thingGroupArn"] == "%s:thinggroup/%s" % (ARN, p)
    assert len(out["thingGroupId"]) == 36
    ctl(c, "create-thing-group", "--thing-group-name", ch,
        "--parent-group-name", p)
    ctl(c, "create-thing-group", "--thing-group-name", g,
        "--parent-group-name", ch)
    return p, ch, g


def group_names(listed):
    return [g["groupName"] for g in listed["thingGroups"]]


def test_group_hierarchy(gcluster):
    c = gcluster
    p, ch, g = make_tree(c)
    d = ctl(c, "describe-thing-group", "--thing-group-name", g)
    assert d["version"] == 1 and d["thingGroupArn"].endswith("/" + g)
    assert d["thingGroupMetadata"]["parentGroupName"] == ch
    assert d["thingGroupMetadata"]["rootToParentThingGroups"] == [
        {"groupName": p, "groupArn": "%s:thinggroup/%s" % (ARN, p)},
        {"groupName": ch, "groupArn": "%s:thinggroup/%s" % (ARN, ch)}]
    top = ctl(c, "describe-thing-group", "--thing-group-name", p)
    assert "parentGroupName" not in top["thingGroupMetadata"]
    assert "rootToParentThingGroups" not in top["thingGroupMetadata"]
    assert top["thingGroupProperties"] == {
        "thingGroupDescription": "top",
        "attributePayload": {"attributes": {"site": "n"}}}
    # the same create again answers the same group; another parent: 409
    assert ctl(c, "create-thing-group", "--thing-group-name", g,
               "--parent-group-name", ch)["thingGroupId"] == \
        d["thingGroupId"]
    e = ctl(c, "create-thing-group", "--thing-group-name", g, expect=254)
    assert "(ResourceAlreadyExistsException)" in e

    # lists: children, descendants, prefix, pages
    assert group_names(ctl(c, "list-thing-groups", "--parent-group",
                           p)) == [ch]
    assert sorted(group_names(ctl(c, "list-thing-groups", "--parent-group",
                                  p, "--recursive"))) == sorted([ch, g])
    assert group_names(ctl(c, "list-thing-groups", "--name-prefix-filter",
                           g)) == [g]
    every = group_names(ctl(c, "list-thing-groups"))
    assert {p, ch, g} <= set(every) and every == sorted(every)
    page = ctl(c, "list-thing-groups", "--max-results", "1")
    assert len(page["thingGroups"]) == 1 and "nextToken" in page
    nxt = ctl(c, "list-thing-groups", "--max-results", "1", "--next-token",
              page["nextToken"])
    assert group_names(nxt) == [every[1]]
    e = ctl(c, "list-thing-groups", "--parent-group", uniq("none"),
            expect=254)
    assert "(ResourceNotFoundException)" in e

    # update: version, expectedVersion, merge
    out = ctl(c, "update-thing-group", "--thing-group-name", p,
              "--thing-group-properties", json.dumps({
                  "attributePayload": {"attributes": {"floor": "2"},
                                       "merge": True}}),
              "--expected-version", "1")
    assert out == {"version": 2}
    e = ctl(c, "update-thing-group", "--thing-group-name", p,
            "--thing-group-properties", '{"thingGroupDescription": "x"}',
            "--expected-version", "1", expect=254)
    assert "(VersionConflictException)" in e
    top = ctl(c, "describe-thing-group", "--thing-group-name", p)
    assert top["version"] == 2
    assert top["thingGroupProperties"]["attributePayload"] == {
        "attributes": {"site": "n", "floor": "2"}}
    assert top["thingGroupProperties"]["thingGroupDescription"] == "top"

    # delete: refused while it has children; bottom up works
    e = ctl(c, "delete-thing-group", "--thing-group-name", ch, expect=254)
    assert "(InvalidRequestException)" in e and "child" in e
    e = ctl(c, "delete-thing-group", "--thing-group-name", g,
            "--expected-version", "7", expect=254)
    assert "(VersionConflictException)" in e
    ctl(c, "delete-thing-group", "--thing-group-name", g)
    assert group_names(ctl(c, "list-thing-groups", "--parent-group", ch,
                           "--recursive")) == []
    ctl(c, "delete-thing-group", "--thing-group-name", ch)
    ctl(c, "delete-thing-group", "--thing-group-name", p)
    # deleting one that is not there succeeds, as AWS
    ctl(c, "delete-thing-group", "--thing-group-name", p)
    e = ctl(c, "describe-thing-group", "--thing-group-name", p, expect=254)
    assert "(ResourceNotFoundException)" in e


def test_group_errors_and_depth(gcluster):
    c = gcluster
    # 7 levels, not 8
    chain = [uniq("d%d" % i) for i in range(8)]
    ok(admin(c, "POST", "/thing-groups/" + chain[0], {}))
    for i in range(1, 7):
        ok(admin(c, "POST", "/thing-groups/" + chain[i],
                 {"parentGroupName": chain[i - 1]}))
    m = err(admin(c, "POST", "/thing-groups/" + chain[7],
                  {"parentGroupName": chain[6]}),
            400, "InvalidRequestException")
    assert "7 levels" in m
    err(admin(c, "GET", "/thing-groups/" + chain[7]), 404,
        "ResourceNotFoundException")
    d = ok(admin(c, "GET", "/thing-groups/" + chain[6]))
    assert [x["groupName"] for x in
            d["thingGroupMetadata"]["rootToParentThingGroups"]] == chain[:6]
    err(admin(c, "POST", "/thing-groups/" + uniq("orph"),
              {"parentGroupName": uniq("missing")}),
        404, "ResourceNotFoundException")
    err(admin(c, "POST", "/thing-groups/a%2Fb", {}), 400,
        "InvalidRequestException")
    err(admin(c, "POST", "/thing-groups/" + uniq("pp"),
              {"parentGroupName": "no spaces"}),
        400, "InvalidRequestException")
    err(admin(c, "POST", "/thing-groups/" + uniq("at"), {
        "thingGroupProperties": {"attributePayload": {"attributes": {
            "k%d" % i: "v" for i in range(51)}}}}),
        400, "InvalidRequestException")
    err(admin(c, "PATCH", "/thing-groups/" + chain[0], {}), 400,
        "InvalidRequestException")
    err(admin(c, "PATCH", "/thing-groups/" + uniq("gone"),
              {"thingGroupProperties": {}}),
        404, "ResourceNotFoundException")
    err(admin(c, "PATCH", "/thing-groups/" + chain[0],
              {"thingGroupProperties": {}, "expectedVersion": "1"}),
        400, "InvalidRequestException")
    err(admin(c, "GET", "/thing-groups/%s/things" % uniq("gone")), 404,
        "ResourceNotFoundException")
    err(admin(c, "GET", "/things/%s/thing-groups" % uniq("gone")), 404,
        "ResourceNotFoundException")
    err(admin(c, "PUT", "/thing-groups/" + chain[0], {}), 405,
        "MethodNotAllowedException")
    for g in reversed(chain[:7]):
        ok(admin(c, "DELETE", "/thing-groups/" + g))


def test_membership(gcluster):
    c = gcluster
    p, ch, g = make_tree(c)
    a, b = uniq("ta"), uniq("tb")
    for t in (a, b):
        ctl(c, "create-thing", "--thing-name", t)
    ctl(c, "add-thing-to-thing-group", "--thing-group-name", ch,
        "--thing-name", a)
    # by ARN, and a second time is no change
    for _ in range(2):
        ctl(c, "add-thing-to-thing-group", "--thing-group-arn",
            "%s:thinggroup/%s" % (ARN, g), "--thing-arn",
            "%s:thing/%s" % (ARN, b))
    # one group per hierarchy
    e = ctl(c, "add-thing-to-thing-group", "--thing-group-name", g,
            "--thing-name", a, expect=254)
    assert "(InvalidRequestException)" in e and "hierarchy" in e
    e = ctl(c, "add-thing-to-thing-group", "--thing-group-name", p,
            "--thing-name", a, expect=254)
    assert "(InvalidRequestException)" in e
    assert ctl(c, "list-things-in-thing-group", "--thing-group-name",
               p)["things"] == []
    assert ctl(c, "list-things-in-thing-group", "--thing-group-name", p,
               "--recursive")["things"] == sorted([a, b])
    assert ctl(c, "list-things-in-thing-group", "--thing-group-name",
               ch)["things"] == [a]
    page = ctl(c, "list-things-in-thing-group", "--thing-group-name", p,
               "--recursive", "--max-results", "1")
    assert page["things"] == [min(a, b)] and page["nextToken"] == min(a, b)
    assert group_names(ctl(c, "list-thing-groups-for-thing",
                           "--thing-name", a)) == [ch]
    # missing things and groups; name and ARN that disagree
    e = ctl(c, "add-thing-to-thing-group", "--thing-group-name", uniq("no"),
            "--thing-name", a, expect=254)
    assert "(ResourceNotFoundException)" in e
    e = ctl(c, "add-thing-to-thing-group", "--thing-group-name", ch,
            "--thing-name", uniq("no"), expect=254)
    assert "(ResourceNotFoundException)" in e
    err(admin(c, "PUT", "/thing-groups/addThingToThingGroup",
              {"thingGroupName": ch, "thingGroupArn":
               "%s:thinggroup/%s" % (ARN, g), "thingName": a}),
        400, "InvalidRequestException")
    err(admin(c, "PUT", "/thing-groups/addThingToThingGroup",
              {"thingGroupName": ch}), 400, "InvalidRequestException")
    err(admin(c, "PUT", "/thing-groups/addThingToThingGroup",
              {"thingGroupArn": "arn:aws:iot:elsewhere:1:thinggroup/x",
               "thingName": a}), 400, "InvalidRequestException")

    # at most 10 groups; the update is all or nothing
    roots = [uniq("r%d" % i) for i in range(11)]
    for r in roots:
        ok(admin(c, "POST", "/thing-groups/" + r, {}))
    ctl(c, "update-thing-groups-for-thing", "--thing-name", a,
        "--thing-groups-to-add", ",".join(roots[:9]))
    assert len(group_names(ctl(c, "list-thing-groups-for-thing",
                               "--thing-name", a))) == 10
    e = ctl(c, "add-thing-to-thing-group", "--thing-group-name", roots[9],
            "--thing-name", a, expect=254)
    assert "(InvalidRequestException)" in e and "10" in e
    e = ctl(c, "update-thing-groups-for-thing", "--thing-name", a,
            "--thing-groups-to-add", json.dumps(roots[9:11]),
            "--thing-groups-to-remove", json.dumps([roots[0]]), expect=254)
    assert "(InvalidRequestException)" in e
    mine = group_names(ctl(c, "list-thing-groups-for-thing", "--thing-name",
                           a))
    assert sorted(mine) == sorted(roots[:9] + [ch])
    # a swap at the limit in one call works
    ctl(c, "update-thing-groups-for-thing", "--thing-name", a,
        "--thing-groups-to-add", roots[10], "--thing-groups-to-remove",
        roots[0])
    mine = group_names(ctl(c, "list-thing-groups-for-thing", "--thing-name",
                           a))
    assert roots[10] in mine and roots[0] not in mine
    ctl(c, "remove-thing-from-thing-group", "--thing-group-name", ch,
        "--thing-name", a)
    assert ctl(c, "list-things-in-thing-group", "--thing-group-name",
               ch)["things"] == []
    # deleting a thing or a group ends its memberships
    ctl(c, "delete-thing", "--thing-name", a)
    for r in roots[1:]:
        assert a not in ok(admin(c, "GET", "/thing-groups/%s/things" % r))[
            "things"]
    ctl(c, "remove-thing-from-thing-group", "--thing-group-name", g,
        "--thing-name", b)
    ctl(c, "add-thing-to-thing-group", "--thing-group-name", g,
        "--thing-name", b)
    ctl(c, "delete-thing-group", "--thing-group-name", g)
    assert group_names(ctl(c, "list-thing-groups-for-thing", "--thing-name",
                           b)) == []


def test_policies_on_groups_admin(gcluster):
    c = gcluster
    p, ch, g = make_tree(c)
    garn = "%s:thinggroup/%s" % (ARN, ch)
    pol, pol2 = uniq("gp"), uniq("gp2")
    for name in (pol, pol2):
        ctl(c, "create-policy", "--policy-name", name, "--policy-document",
            policy_doc(allow("iot:Publish", "%s:topic/x" % ARN)))
    ctl(c, "attach-policy", "--policy-name", pol, "--target", garn)
    ctl(c, "attach-policy", "--policy-name", pol2, "--target",
        "%s:thinggroup/%s" % (ARN, p))
    assert [x["policyName"] for x in ctl(
        c, "list-attached-policies", "--target", garn)["policies"]] == [pol]
    rec = ctl(c, "list-attached-policies", "--target", garn, "--recursive")
    assert sorted(x["policyName"] for x in rec["policies"]) == sorted(
        [pol, pol2])
    assert ctl(c, "list-targets-for-policy", "--policy-name",
               pol)["targets"] == [garn]
    e = ctl(c, "delete-policy", "--policy-name", pol, expect=254)
    assert "(DeleteConflictException)" in e
    # the effective policies of a thing in the grandchild
    t = uniq("eff")
    ctl(c, "create-thing", "--thing-name", t)
    ctl(c, "add-thing-to-thing-group", "--thing-group-name", g,
        "--thing-name", t)
    eff = ctl(c, "get-effective-policies", "--thing-name", t)
    assert sorted(x["policyName"] for x in eff["effectivePolicies"]) == \
        sorted([pol, pol2])
    assert "iot:Publish" in eff["effectivePolicies"][0]["policyDocument"]
    e = ctl(c, "attach-policy", "--policy-name", pol, "--target",
            "%s:thinggroup/%s" % (ARN, uniq("none")), expect=254)
    assert "(ResourceNotFoundException)" in e
    e = ctl(c, "attach-policy", "--policy-name", uniq("none"), "--target",
            garn, expect=254)
    assert "(ResourceNotFoundException)" in e
    err(admin(c, "PUT", "/target-policies/" + pol,
              {"target": "%s:thinggroup/bad name" % ARN}),
        400, "InvalidRequestException")
    # deleting the group detaches its policies
    ctl(c, "detach-policy", "--policy-name", pol2, "--target",
        "%s:thinggroup/%s" % (ARN, p))
    ctl(c, "delete-thing-group", "--thing-group-name", g)
    ctl(c, "delete-thing-group", "--thing-group-name", ch)
    assert ctl(c, "list-targets-for-policy", "--policy-name",
               pol)["targets"] == []
    ctl(c, "delete-policy", "--policy-name", pol)


def test_group_actions_are_authorized(gcluster):
    """The IAM actions of the new operations, on thinggroup/thingtype
    ARNs, with a signed request."""
    c = gcluster
    grp = uniq("authz")
    ok(admin(c, "POST", "/thing-groups/" + grp, {}))
    user, kid, secret = make_user(c, {
        "Effect": "Allow", "Action": ["iot:DescribeThingGroup",
                                      "iot:ListThingGroups"],
        "Resource": "%s:thinggroup/%s" % (ARN, grp)})
    path = "/thing-groups/" + grp
    st, body = call(c.admin_url, "GET", path,
                    headers=sign(kid, secret, "GET", path))
    assert st == 200 and body["thingGroupName"] == grp
    body = b"{}"
    path = "/thing-types/" + uniq("t")
    st, out = call(c.admin_url, "POST", path, body,
                   headers=sign(kid, secret, "POST", path, body))
    assert st == 403 and "iot:CreateThingType" in out["message"], out
    assert "thingtype/" in out["message"]
    path = "/thing-groups/%s-other" % grp
    st, out = call(c.admin_url, "DELETE", path,
                   headers=sign(kid, secret, "DELETE", path))
    assert st == 403 and out["error"] == "AccessDeniedException"
    assert "iot:DeleteThingGroup" in out["message"]
    assert "thinggroup/%s-other" % grp in out["message"]


# ---- devices ----

def group_device(c, tmp_path, statements):
    """A device whose certificate's policy has these statements, with a
    thing attached, in the grandchild of a new tree."""
    name = uniq("gd")
    dev = new_device(c, tmp_path, name, statements, thing=name)
    p, ch, g = make_tree(c)
    ctl(c, "add-thing-to-thing-group", "--thing-group-name", g,
        "--thing-name", name)
    return dev, name, (p, ch, g)


def watcher(c, topic, closing):
    w = mqttc.Client(V5)
    closing(w)
    w.connect(c.host, c.mqtt_ports[1])
    w.subscribe(topic, qos=1)
    return w


def delivered(dev_client, w, topic, payload):
    """Publish QoS 1 (denied: PUBACK 0x87, the connection stays) and say
    whether the watcher got it."""
    info = dev_client.paho.publish(topic, payload, qos=1)
    info.wait_for_publish(5)
    return any(m.payload == payload for m in w.drain(settle=0.5))


def until(pred, timeout=5):
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            return False
    return True


def test_parent_group_policy_lets_device_publish(gcluster, tmp_path,
                                                 closing):
    c = gcluster
    topic = mqttc.unique("grp")
    dev, thing, (p, ch, g) = group_device(c, tmp_path, [
        allow("iot:Connect", "%s:client/${iot:Connection.Thing.ThingName}*"
              % ARN),
        allow("iot:Publish", "%s:topic/%s/own" % (ARN, topic))])
    pol = uniq("parentpol")
    ctl(c, "create-policy", "--policy-name", pol, "--policy-document",
        policy_doc(allow("iot:Publish", "%s:topic/%s/${iot:Connection."
                         "Thing.ThingName}" % (ARN, topic))))
    w = watcher(c, "%s/#" % topic, closing)
    d = tls_client(c, V5, dev.cert, dev.key, client_id=thing)
    closing(d)
    mine = "%s/%s" % (topic, thing)
    assert delivered(d, w, "%s/own" % topic, b"own")
    assert not delivered(d, w, mine, b"before")
    # attached to the PARENT: the thing, two levels down, gets it live
    ctl(c, "attach-policy", "--policy-name", pol, "--target",
        "%s:thinggroup/%s" % (ARN, p))
    assert until(lambda: delivered(d, w, mine, os.urandom(4)))
    # and a new connection gets it at CONNECT
    d2 = tls_client(c, V5, dev.cert, dev.key, client_id=thing + "-2",
                    broker=1)
    closing(d2)
    assert delivered(d2, w, mine, b"second")
    # detached: denied again, live, on both brokers
    ctl(c, "detach-policy", "--policy-name", pol, "--target",
        "%s:thinggroup/%s" % (ARN, p))
    assert until(lambda: not delivered(d, w, mine, os.urandom(4)))
    assert until(lambda: not delivered(d2, w, mine, os.urandom(4)))
    # attached again, then the thing leaves the group: denied
    ctl(c, "attach-policy", "--policy-name", pol, "--target",
        "%s:thinggroup/%s" % (ARN, p))
    assert until(lambda: delivered(d, w, mine, os.urandom(4)))
    ctl(c, "remove-thing-from-thing-group", "--thing-group-name", g,
        "--thing-name", thing)
    assert until(lambda: not delivered(d, w, mine, os.urandom(4)))
    assert delivered(d, w, "%s/own" % topic, b"still")


def test_group_policy_connect_revoked_live(gcluster, tmp_path, closing):
    """iot:Connect granted only by a group's policy: detaching it, or
    deleting the group, closes the connection (0x87)."""
    c = gcluster
    dev, thing, (p, ch, g) = group_device(c, tmp_path, [
        allow("iot:Publish", "%s:topic/nothing" % ARN)])
    refused = mqttc.Client(V5, client_id=thing)
    closing(refused)
    refused.tls(c.ca_file, dev.cert, dev.key)
    refused.connect(c.host, c.mqtts_ports[0], expect_rc=0x87)
    pol = uniq("conn")
    ctl(c, "create-policy", "--policy-name", pol, "--policy-document",
        policy_doc(allow("iot:Connect", "*")))
    ctl(c, "attach-policy", "--policy-name", pol, "--target",
        "%s:thinggroup/%s" % (ARN, ch))
    d = tls_client(c, V5, dev.cert, dev.key, client_id=thing)
    closing(d)
    ctl(c, "detach-policy", "--policy-name", pol, "--target",
        "%s:thinggroup/%s" % (ARN, ch))
    assert d.wait_disconnected(timeout=5) == 0x87
    # again, and the grandchild deleted: the thing is in no group
    ctl(c, "attach-policy", "--policy-name", pol, "--target",
        "%s:thinggroup/%s" % (ARN, ch))
    d = tls_client(c, V5, dev.cert, dev.key, client_id=thing, broker=1)
    closing(d)
    ctl(c, "delete-thing-group", "--thing-group-name", g)
    assert d.wait_disconnected(timeout=5) == 0x87


def test_jitp_needs_the_thing_type(gcluster, tmp_path, closing):
    """A provisioning template's ThingTypeName must name a type that
    exists and is not deprecated, as CreateThing's: until it does, the
    device is refused as unknown (0x86) and nothing is made."""
    c = gcluster
    tt = uniq("jt")
    ca = certs.make_ca(str(tmp_path), "jt")
    template = {"Parameters": {"AWS::IoT::Certificate::CommonName":
                               {"Type": "String"},
                               "AWS::IoT::Certificate::Id":
                               {"Type": "String"}},
                "Resources": {
                    "thing": {"Type": "AWS::IoT::Thing", "Properties": {
                        "ThingName": {"Ref":
                                      "AWS::IoT::Certificate::CommonName"},
                        "ThingTypeName": tt}},
                    "certificate": {"Type": "AWS::IoT::Certificate",
                                    "Properties": {"CertificateId": {
                                        "Ref": "AWS::IoT::Certificate::Id"},
                                        "Status": "ACTIVE"}},
                    "policy": {"Type": "AWS::IoT::Policy", "Properties": {
                        "PolicyDocument": policy_doc(
                            allow("iot:Connect", "*"))}}}}
    (tmp_path / "reg.json").write_text(json.dumps(
        {"templateBody": json.dumps(template)}))
    ctl(c, "register-ca-certificate", "--ca-certificate", "file://" + ca[0],
        "--set-as-active", "--allow-auto-registration",
        "--registration-config", "file://%s" % (tmp_path / "reg.json"))
    name = uniq("jd")
    crt, key = certs.make_leaf(str(tmp_path), name, ca)

    def connect(rc):
        d = mqttc.Client(V5, client_id=name)
        closing(d)
        d.tls(c.ca_file, crt, key)
        d.connect(c.host, c.mqtts_ports[0], expect_rc=rc)

    connect(0x86)
    e = ctl(c, "describe-thing", "--thing-name", name, expect=254)
    assert "(ResourceNotFoundException)" in e
    ctl(c, "create-thing-type", "--thing-type-name", tt)
    ctl(c, "deprecate-thing-type", "--thing-type-name", tt)
    connect(0x86)
    ctl(c, "deprecate-thing-type", "--thing-type-name", tt,
        "--undo-deprecate")
    connect(0)
    assert ctl(c, "describe-thing", "--thing-name",
               name)["thingTypeName"] == tt


def test_dynamic_group_records_are_respected(gcluster):
    """A dynamic group (its record written as the fleet index writes it:
    dynamic 1, a query, its members in the shared sets) is shown with its
    query and status, takes no hand-made membership, no child and no
    DeleteThingGroup; it counts toward a thing's 10 groups, and
    overrideDynamicGroups lets a static group take its place."""
    c = gcluster
    dyn, t = uniq("dyn"), uniq("dt")
    ctl(c, "create-thing", "--thing-name", t)
    rc, out = c.redis_cli(
        c.redis_port, "HSET", "strata:thing-group:{%s}" % dyn, "name", dyn,
        "id", "d", "parent", "", "description", "", "attributes", "{}",
        "version", 1, "created", int(time.time()), "dynamic", 1, "query",
        "attributes.x:1", "index_name", "AWS_Things")
    assert rc == 0, out
    for args in (("SADD", "strata:thing-groups", dyn),
                 ("SADD", "strata:group-things:{%s}" % dyn, t),
                 ("SADD", "strata:thing-groups-of:{%s}" % t, dyn)):
        assert c.redis_cli(c.redis_port, *args)[0] == 0
    d = ctl(c, "describe-thing-group", "--thing-group-name", dyn)
    assert (d["queryString"], d["indexName"], d["status"]) == (
        "attributes.x:1", "AWS_Things", "ACTIVE")
    assert ctl(c, "list-things-in-thing-group", "--thing-group-name",
               dyn)["things"] == [t]
    for cmd in ("add-thing-to-thing-group", "remove-thing-from-thing-group"):
        e = ctl(c, cmd, "--thing-group-name", dyn, "--thing-name", t,
                expect=254)
        assert "(InvalidRequestException)" in e and "dynamic" in e
    e = ctl(c, "create-thing-group", "--thing-group-name", uniq("kid"),
            "--parent-group-name", dyn, expect=254)
    assert "(InvalidRequestException)" in e
    e = ctl(c, "delete-thing-group", "--thing-group-name", dyn, expect=254)
    assert "(InvalidRequestException)" in e
    # 9 static groups and the dynamic one: full; override takes its place
    roots = [uniq("s%d" % i) for i in range(10)]
    for r in roots:
        ok(admin(c, "POST", "/thing-groups/" + r, {}))
    ctl(c, "update-thing-groups-for-thing", "--thing-name", t,
        "--thing-groups-to-add", ",".join(roots[:9]))
    e = ctl(c, "add-thing-to-thing-group", "--thing-group-name", roots[9],
            "--thing-name", t, expect=254)
    assert "(InvalidRequestException)" in e
    ctl(c, "add-thing-to-thing-group", "--thing-group-name", roots[9],
        "--thing-name", t, "--override-dynamic-groups")
    mine = group_names(ctl(c, "list-thing-groups-for-thing", "--thing-name",
                           t))
    assert sorted(mine) == sorted(roots)
    assert ctl(c, "list-things-in-thing-group", "--thing-group-name",
               dyn)["things"] == []
