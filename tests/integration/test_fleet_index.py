"""Fleet indexing (AWS_Things) end to end, on a cluster of its own with
two strata-shadowd: things created with stratactl, shadows (classic and
named) updated over MQTT by Paho, devices connecting and disconnecting;
each element of the query syntax found within seconds of the change;
pagination; GetStatistics / GetCardinality / GetPercentiles against
values computed here; every bad input answered with its named error; and
the index catching up after its keeper (the lease holder) is stopped.  Static thing groups are joined and left with stratactl
(`add-thing-to-thing-group`, `remove-thing-from-thing-group`)."""

import json
import math
import os
import signal
import subprocess
import time
import uuid

import pytest

import conftest
import mqttc
from mqttc import V5

BIN = os.environ.get("STRATA_BIN_DIR") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "bin")
WITHIN = 5.0   # seconds a change may take to show in the index

# fixed: the cluster is this module's own, and the parametrized queries
# carry the prefix in their ids, which every pytest worker must agree on
PREFIX = "fx-"
COLORS = ["red", "blue", "green"]
N = 12


def name(i):
    return "%s%02d" % (PREFIX, i)


@pytest.fixture(scope="module")
def fleet_cluster():
    with conftest.start_cluster("fleet_cluster", brokers=1, routers=1,
                                shadowd=2) as c:
        yield c


def ctl(c, *args, expect=0):
    """stratactl against the cluster's admin API: the parsed JSON (None
    for no output), or stderr when expect is not 0."""
    env = dict(os.environ, STRATA_ADMIN_URL=c.admin_url,
               STRATA_ADMIN_TOKEN=c.admin_token, STRATA_DATA_URL=c.data_url)
    r = subprocess.run([os.path.join(BIN, "stratactl")] + list(args),
                       env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=30)
    out, err = r.stdout.decode(), r.stderr.decode()
    assert r.returncode == expect, (args, r.returncode, out, err)
    if expect != 0:
        return err
    return json.loads(out) if out.strip() else None


def rcli(c, *args):
    """redis-cli on the cluster's Redis: its output, stripped."""
    rc, out = c.redis_cli(c.redis_port, *args)
    assert rc == 0, (args, out)
    return out.strip()


def search(c, query, **kw):
    args = ["search-index", "--index-name", "AWS_Things",
            "--query-string", query]
    for k, v in kw.items():
        args += ["--" + k.replace("_", "-"), str(v)]
    return ctl(c, *args)


def names(c, query):
    """Every thing name the query finds (all pages), sorted."""
    out, token = [], None
    while True:
        kw = {"max_results": 100}
        if token:
            kw["next_token"] = token
        page = search(c, query, **kw)
        out += [t["thingName"] for t in page["things"]]
        token = page.get("nextToken")
        if not token:
            return sorted(out)


def eventually(c, query, want, within=WITHIN):
    """The query finds exactly want (sorted names) within `within` s."""
    deadline = time.monotonic() + within
    while True:
        got = names(c, query)
        if got == sorted(want) or time.monotonic() > deadline:
            assert got == sorted(want), (query, got, sorted(want))
            return
        time.sleep(0.2)


def shadow_update(client, thing, state, shadow=None):
    """An update over MQTT, answered accepted."""
    base = "$aws/things/%s/shadow" % thing
    if shadow:
        base += "/name/" + shadow
    token = uuid.uuid4().hex[:12]
    client.subscribe(base + "/update/accepted", qos=1)
    client.publish(base + "/update", json.dumps(
        {"state": state, "clientToken": token}).encode(), qos=1)
    deadline = time.monotonic() + mqttc.TIMEOUT
    while True:
        m = client.get(timeout=max(deadline - time.monotonic(), 0.01))
        if m.topic == base + "/update/accepted" and \
                json.loads(m.payload).get("clientToken") == token:
            return


def battery(i):
    return 10 * i + 5


@pytest.fixture(scope="module")
def fleet(fleet_cluster):
    """Indexing on (registry, shadows, named shadow "cfg", connectivity)
    and N things: colors round robin, battery 10*i+5 reported over MQTT,
    every third with a named shadow cfg."""
    c = fleet_cluster
    ctl(c, "update-indexing-configuration", "--thing-indexing-configuration",
        json.dumps({"thingIndexingMode": "REGISTRY_AND_SHADOW",
                    "thingConnectivityIndexingMode": "STATUS",
                    "namedShadowIndexingMode": "ON",
                    "filter": {"namedShadowNames": ["cfg"]},
                    "customFields": [
                        {"name": "shadow.reported.battery",
                         "type": "Number"},
                        {"name": "attributes.color", "type": "String"}]}))
    for tt in ("Lamp", "Pump"):
        ctl(c, "create-thing-type", "--thing-type-name", tt)
    for i in range(N):
        ctl(c, "create-thing", "--thing-name", name(i),
            "--thing-type-name", "Lamp" if i % 2 else "Pump",
            "--attribute-payload", json.dumps({"attributes": {
                "color": COLORS[i % 3], "floor": str(i // 4)}}))
    cl = mqttc.Client(V5)
    cl.connect(c.host, c.mqtt_ports[0])
    for i in range(N):
        shadow_update(cl, name(i), {"reported": {
            "battery": battery(i), "mode": "eco" if i % 2 else "boost",
            "room": "living room" if i < 3 else "hall"}})
        if i % 3 == 0:
            shadow_update(cl, name(i), {"reported": {"level": i}},
                          shadow="cfg")
    cl.close()
    deadline = time.monotonic() + 15
    while ctl(c, "describe-index", "--index-name", "AWS_Things")[
            "indexStatus"] != "ACTIVE":
        assert time.monotonic() < deadline, "index never ACTIVE"
        time.sleep(0.2)
    eventually(c, "thingName:%s*" % PREFIX, [name(i) for i in range(N)])
    return c


def test_configuration_and_describe(fleet):
    c = fleet
    cfg = ctl(c, "get-indexing-configuration")
    t = cfg["thingIndexingConfiguration"]
    assert t["thingIndexingMode"] == "REGISTRY_AND_SHADOW"
    assert t["thingConnectivityIndexingMode"] == "STATUS"
    assert t["namedShadowIndexingMode"] == "ON"
    assert t["filter"] == {"namedShadowNames": ["cfg"]}
    assert {"name": "shadow.reported.battery", "type": "Number"} in \
        t["customFields"]
    assert {"name": "connectivity.connected", "type": "Boolean"} in \
        t["managedFields"]
    assert cfg["thingGroupIndexingConfiguration"] == {
        "thingGroupIndexingMode": "OFF"}
    assert ctl(c, "list-indices") == {"indexNames": ["AWS_Things"]}
    d = ctl(c, "describe-index", "--index-name", "AWS_Things")
    assert d == {"indexName": "AWS_Things", "indexStatus": "ACTIVE",
                 "schema": "REGISTRY_AND_SHADOW_AND_CONNECTIVITY_STATUS"}


def test_document_shape(fleet):
    c = fleet
    page = search(c, "thingName:%s" % name(0))
    assert len(page["things"]) == 1 and "nextToken" not in page
    t = page["things"][0]
    assert list(t)[:2] == ["thingName", "thingId"]
    assert t["thingName"] == name(0) and t["thingTypeName"] == "Pump"
    assert t["attributes"] == {"color": "red", "floor": "0"}
    sh = json.loads(t["shadow"])    # a JSON string, as AWS sends it
    assert sh["reported"]["battery"] == battery(0)
    assert sh["version"] == 1 and sh["hasDelta"] is False
    assert sh["name"]["cfg"]["reported"] == {"level": 0}
    assert t["connectivity"] == {"connected": False}


@pytest.mark.parametrize("query,want", [
    # field:value, case-insensitive values, a bare term
    ("attributes.color:red", [0, 3, 6, 9]),
    ("attributes.color:RED", [0, 3, 6, 9]),
    ("thingTypeName:Lamp", [1, 3, 5, 7, 9, 11]),
    ("boost", [0, 2, 4, 6, 8, 10]),
    # quoted phrase
    ("shadow.reported.room:\"living room\"", [0, 1, 2]),
    # wildcards
    ("thingName:%s1*" % PREFIX, [10, 11]),
    ("thingName:%s?1" % PREFIX, [1, 11]),
    ("shadow.name.cfg.reported.level:*", [0, 3, 6, 9]),
    # ranges
    ("shadow.reported.battery<30", [0, 1, 2]),
    ("shadow.reported.battery<=35", [0, 1, 2, 3]),
    ("shadow.reported.battery>100", [10, 11]),
    ("shadow.reported.battery>=105", [10, 11]),
    ("shadow.reported.battery:[35 TO 55]", [3, 4, 5]),
    ("shadow.reported.battery:{35 TO 55}", [4]),
    ("shadow.reported.battery:[* TO 15]", [0, 1]),
    ("attributes.floor:[1 TO 1]", [4, 5, 6, 7]),
    ("shadow.name.cfg.reported.level>3", [6, 9]),
    ("shadow.version:1", list(range(N))),
    # AND, OR, NOT, -, parentheses, implied AND, field grouping
    ("attributes.color:red AND shadow.reported.battery>40", [6, 9]),
    ("attributes.color:red shadow.reported.battery>40", [6, 9]),
    ("attributes.color:red OR attributes.color:blue AND "
     "shadow.reported.battery<20", [0, 1, 3, 6, 9]),
    ("(attributes.color:red OR attributes.color:blue) AND "
     "shadow.reported.battery<20", [0, 1]),
    ("attributes.color:red AND NOT shadow.reported.battery>40", [0, 3]),
    ("attributes.color:red -thingTypeName:Lamp", [0, 6]),
    ("attributes.color:(red OR green) AND attributes.floor:0", [0, 2, 3]),
    ("shadow.hasDelta:false AND attributes.floor:2", [8, 9, 10, 11]),
])
def test_query_syntax(fleet, query, want):
    scoped = "thingName:%s* AND (%s)" % (PREFIX, query)
    eventually(fleet, scoped, [name(i) for i in want])


def test_shadow_changes_delta_and_named(fleet):
    c = fleet
    cl = mqttc.Client(V5)
    cl.connect(c.host, c.mqtt_ports[0])
    try:
        shadow_update(cl, name(1), {"desired": {"mode": "boost"}})
        eventually(c, "shadow.delta.mode:boost AND thingName:%s*" % PREFIX,
                   [name(1)])
        eventually(c, "shadow.hasDelta:true AND thingName:%s*" % PREFIX,
                   [name(1)])
        eventually(c, "shadow.desired.mode:boost AND thingName:%s*" %
                   PREFIX, [name(1)])
        shadow_update(cl, name(1), {"reported": {"mode": "boost"}})
        eventually(c, "shadow.hasDelta:true AND thingName:%s*" % PREFIX, [])
        shadow_update(cl, name(2), {"reported": {"level": 42}},
                      shadow="cfg")
        eventually(c, "shadow.name.cfg.reported.level:42", [name(2)])
        # a shadow not in the filter is not indexed
        shadow_update(cl, name(2), {"reported": {"level": 43}},
                      shadow="other")
        time.sleep(1)
        assert names(c, "shadow.name.other.reported.level:43") == []
    finally:
        cl.close()


def test_connectivity(fleet):
    c = fleet
    thing = name(5)
    dev = mqttc.Client(V5, client_id=thing)
    dev.connect(c.host, c.mqtt_ports[0])
    eventually(c, "connectivity.connected:true AND thingName:%s*" % PREFIX,
               [thing])
    t = search(c, "thingName:%s" % thing)["things"][0]["connectivity"]
    assert t["connected"] is True
    assert abs(t["timestamp"] / 1000 - time.time()) < 60
    dev.disconnect()
    eventually(c, "connectivity.connected:false AND thingName:%s" % thing,
               [thing])
    eventually(c, "connectivity.disconnectReason:"
               "CLIENT_INITIATED_DISCONNECT AND thingName:%s*" % PREFIX,
               [thing])
    dev.close()


def test_thing_groups(fleet):
    c = fleet
    thing = name(7)
    ctl(c, "create-thing-group", "--thing-group-name", "floor-lamps")
    ctl(c, "add-thing-to-thing-group", "--thing-group-name", "floor-lamps",
        "--thing-name", thing)
    eventually(c, "thingGroupNames:floor-lamps", [thing])
    doc = search(c, "thingName:%s" % thing)["things"][0]
    assert doc["thingGroupNames"] == ["floor-lamps"]
    ctl(c, "remove-thing-from-thing-group", "--thing-group-name",
        "floor-lamps", "--thing-name", thing)
    eventually(c, "thingGroupNames:floor-lamps", [])


GROUP_WITHIN = 12.0   # a dynamic group pass runs every 5 s


def test_dynamic_thing_groups(fleet):
    """A dynamic group's things are those its query finds, following
    shadow changes and query changes; deleting it empties it."""
    c = fleet
    g = "low-" + PREFIX.rstrip("-")
    out = ctl(c, "create-dynamic-thing-group", "--thing-group-name", g,
              "--query-string", "thingName:%s* AND "
              "shadow.reported.battery<30" % PREFIX,
              "--thing-group-properties", json.dumps({
                  "thingGroupDescription": "low battery",
                  "attributePayload": {"attributes": {"k": "v"}}}))
    assert out["thingGroupName"] == g and out["indexName"] == "AWS_Things"
    assert out["thingGroupArn"].endswith(":thinggroup/" + g)
    assert out["queryVersion"] == "2017-09-30" and out["thingGroupId"]
    eventually(c, "thingGroupNames:" + g, [name(0), name(1), name(2)],
               within=GROUP_WITHIN)
    doc = search(c, "thingName:%s" % name(0))["things"][0]
    assert g in doc["thingGroupNames"]
    # the membership keys are the thing groups' (the agreed layout)
    assert rcli(c, "SISMEMBER", "strata:group-things:{%s}" % g,
                name(0)) == "1"
    cl = mqttc.Client(V5)
    cl.connect(c.host, c.mqtt_ports[0])
    try:
        shadow_update(cl, name(11), {"reported": {"battery": 3}})
        shadow_update(cl, name(0), {"reported": {"battery": 90}})
        eventually(c, "thingGroupNames:" + g, [name(1), name(2), name(11)],
                   within=GROUP_WITHIN)
        shadow_update(cl, name(11), {"reported": {"battery": battery(11)}})
        shadow_update(cl, name(0), {"reported": {"battery": battery(0)}})
    finally:
        cl.close()
    v = ctl(c, "update-dynamic-thing-group", "--thing-group-name", g,
            "--query-string", "thingName:%s* AND attributes.color:green" %
            PREFIX, "--expected-version", "1")
    assert v == {"version": 2}
    eventually(c, "thingGroupNames:" + g, [name(2), name(5), name(8),
                                           name(11)], within=GROUP_WITHIN)
    err = ctl(c, "update-dynamic-thing-group", "--thing-group-name", g,
              "--query-string", "*", "--expected-version", "1", expect=254)
    assert "(VersionConflictException)" in err
    err = ctl(c, "create-dynamic-thing-group", "--thing-group-name", "bad",
              "--query-string", "thingName:(", expect=254)
    assert "(InvalidQueryException)" in err
    err = ctl(c, "create-dynamic-thing-group", "--thing-group-name", g,
              "--query-string", "*", expect=254)
    assert "(ResourceAlreadyExistsException)" in err
    ctl(c, "delete-dynamic-thing-group", "--thing-group-name", g)
    eventually(c, "thingGroupNames:" + g, [])
    assert rcli(c, "EXISTS", "strata:thing-group:{%s}" % g) == "0"


def test_registry_changes(fleet):
    c = fleet
    extra = PREFIX + "x1"
    ctl(c, "create-thing", "--thing-name", extra, "--attribute-payload",
        json.dumps({"attributes": {"color": "violet"}}))
    eventually(c, "attributes.color:violet", [extra])
    ctl(c, "update-thing", "--thing-name", extra, "--attribute-payload",
        json.dumps({"attributes": {"color": "indigo"}}))
    eventually(c, "attributes.color:violet", [])
    eventually(c, "attributes.color:indigo", [extra])
    ctl(c, "delete-thing", "--thing-name", extra)
    eventually(c, "attributes.color:indigo", [])


def test_pagination(fleet):
    c = fleet
    q = "thingName:%s*" % PREFIX
    seen, token, pages = [], None, 0
    while True:
        args = {"max_results": 5}
        if token:
            args["next_token"] = token
        page = search(c, q, **args)
        pages += 1
        assert len(page["things"]) <= 5
        seen += [t["thingName"] for t in page["things"]]
        token = page.get("nextToken")
        if not token:
            break
    assert pages == 3
    assert seen == sorted(seen) == [name(i) for i in range(N)]


def test_aggregations(fleet):
    c = fleet
    q = "thingName:%s*" % PREFIX
    values = [battery(i) for i in range(N)]
    st = ctl(c, "get-statistics", "--query-string", q,
             "--aggregation-field", "shadow.reported.battery")["statistics"]
    n = len(values)
    mean = sum(values) / n
    var = sum(v * v for v in values) / n - mean * mean
    assert st["count"] == n
    assert st["sum"] == sum(values) and st["minimum"] == min(values)
    assert st["maximum"] == max(values)
    assert st["sumOfSquares"] == sum(v * v for v in values)
    assert math.isclose(st["average"], mean)
    assert math.isclose(st["variance"], var)
    assert math.isclose(st["stdDeviation"], math.sqrt(var))
    # no field: the number of things; a String field: the count only
    assert ctl(c, "get-statistics", "--query-string", q)["statistics"] == {
        "count": n}
    assert ctl(c, "get-statistics", "--query-string", q,
               "--aggregation-field", "attributes.color")["statistics"] == {
        "count": n}
    assert ctl(c, "get-cardinality", "--query-string", q,
               "--aggregation-field", "attributes.color") == {
        "cardinality": 3}
    assert ctl(c, "get-cardinality", "--query-string",
               q + " AND attributes.color:red", "--aggregation-field",
               "thingTypeName") == {"cardinality": 2}
    p = ctl(c, "get-percentiles", "--query-string", q,
            "--aggregation-field", "shadow.reported.battery",
            "--percents", "0,50,100")["percentiles"]
    assert [e["percent"] for e in p] == [0, 50, 100]
    assert p[0]["value"] == min(values) and p[2]["value"] == max(values)
    assert math.isclose(p[1]["value"], (values[5] + values[6]) / 2)


@pytest.mark.parametrize("args,error", [
    (["search-index", "--query-string", "thingName:(a"],
     "InvalidQueryException"),
    (["search-index", "--query-string", "nosuchfield:1"],
     "InvalidQueryException"),
    (["search-index", "--query-string", "thingName:a@b"],
     "InvalidQueryException"),
    (["search-index", "--query-string", " ".join("t%d" % i
                                                 for i in range(13))],
     "InvalidQueryException"),
    (["search-index", "--query-string", "thingName:*a OR thingName:*b"],
     "InvalidQueryException"),
    (["search-index", "--index-name", "Other", "--query-string", "*"],
     "ResourceNotFoundException"),
    (["search-index", "--query-string", "*", "--max-results", "101"],
     "InvalidRequestException"),
    (["search-index", "--query-string", "*", "--next-token", "a b"],
     "InvalidRequestException"),
    (["describe-index", "--index-name", "Nope"],
     "ResourceNotFoundException"),
    (["get-statistics", "--query-string", "*", "--aggregation-field",
      "shadow.reported.mode"], "InvalidAggregationException"),
    (["get-statistics", "--query-string", "*", "--aggregation-field",
      "bogus"], "InvalidAggregationException"),
    (["get-percentiles", "--query-string", "*", "--aggregation-field",
      "attributes.color"], "InvalidAggregationException"),
    (["get-percentiles", "--query-string", "*", "--aggregation-field",
      "shadow.reported.battery", "--percents", "150"],
     "InvalidRequestException"),
    (["get-cardinality", "--query-string", "*"],
     "InvalidAggregationException"),
    (["update-indexing-configuration", "--thing-indexing-configuration",
      "thingIndexingMode=SOMETIMES"], "InvalidRequestException"),
    (["update-indexing-configuration", "--thing-indexing-configuration",
      "thingIndexingMode=OFF,thingConnectivityIndexingMode=STATUS"],
     "InvalidRequestException"),
    (["update-indexing-configuration", "--thing-indexing-configuration",
      json.dumps({"thingIndexingMode": "REGISTRY",
                  "customFields": [{"name": "x", "type": "Number"}]})],
     "InvalidRequestException"),
    (["update-indexing-configuration", "--thing-group-indexing-"
      "configuration", "thingGroupIndexingMode=ON"],
     "InvalidRequestException"),
])
def test_errors_are_named(fleet, args, error):
    err = ctl(fleet, *args, expect=254)
    assert "(%s)" % error in err, err
    # nothing lost: the index still answers
    assert len(names(fleet, "thingName:%s*" % PREFIX)) == N


def test_index_not_ready_while_building(fleet):
    """A first build in progress answers IndexNotReadyException (the
    status is set by hand here: a build of this small fleet is over
    before a request could see it)."""
    c = fleet
    rcli(c, "HSET", "strata:fidx:config", "status",
                "BUILDING")
    try:
        err = ctl(c, "search-index", "--query-string", "*", expect=254)
        assert "(IndexNotReadyException)" in err
    finally:
        rcli(c, "HSET", "strata:fidx:config", "status",
                    "ACTIVE")


def test_keeper_stopped_index_catches_up(fleet):
    """The lease holder stops; a thing created meanwhile is indexed once
    the other shadowd takes the lease and reconciles (within the lease's
    10 s and a build)."""
    c = fleet
    leader = rcli(c, "GET", "strata:fidx:leader")
    assert leader in ("shadowd-0", "shadowd-1"), leader
    pid = c.shadowd_pids[int(leader[-1])]
    os.kill(pid, signal.SIGSTOP)   # no lease renewal, nothing heard
    try:
        late = PREFIX + "late"
        ctl(c, "create-thing", "--thing-name", late, "--attribute-payload",
            json.dumps({"attributes": {"color": "amber"}}))
        deadline = time.monotonic() + 25
        while names(c, "attributes.color:amber") != [late]:
            assert time.monotonic() < deadline, "never caught up"
            time.sleep(0.5)
        now = rcli(c, "GET", "strata:fidx:leader")
        assert now != leader
    finally:
        os.kill(pid, signal.SIGCONT)


def test_readme_fleet_search_runs(fleet, tmp_path):
    """The README's fleet search walk-through, run as written on this
    cluster (its names made unique): pump 1 (battery 30) found, the
    statistics of the three."""
    p = PREFIX + "p"
    out = conftest.run_readme_block(
        fleet, "## Searching the fleet", tmp_path,
        [("pump-", p), ("low-battery", PREFIX + "low"),
         ("attributes.site:north AND", "thingName:%s* AND" % p)])
    start = out.index("{")
    first, end = json.JSONDecoder().raw_decode(out[start:])
    assert [t["thingName"] for t in first["things"]] == [p + "1"]
    stats, _ = json.JSONDecoder().raw_decode(
        out[start + end:].lstrip())
    assert stats["statistics"]["count"] == 3
    assert stats["statistics"]["sum"] == 180.0


def test_admin_policies_decide(fleet):
    """The IAM actions and resources of the fleet indexing routes: a user
    allowed iot:SearchIndex on index/AWS_Things searches, and is refused
    (403 AccessDeniedException) UpdateIndexingConfiguration, GetStatistics
    and CreateDynamicThingGroup; allowed the last on thinggroup/ok-*, it
    creates ok-1 and not other-1."""
    import test_admin_authz as authz
    c = fleet
    index = "arn:aws:iot:local:000000000000:index/AWS_Things"
    _, key, secret = authz.make_user(c, {
        "Effect": "Allow", "Action": "iot:SearchIndex", "Resource": index},
        {"Effect": "Allow", "Action": "iot:CreateDynamicThingGroup",
         "Resource": "arn:aws:iot:local:000000000000:thinggroup/ok-*"})
    auth = authz.bearer(key, secret)
    status, body = authz.call(c.admin_url, "POST", "/indices/search",
                              {"queryString": "thingName:%s00" % PREFIX},
                              auth=auth)
    assert status == 200 and len(body["things"]) == 1, body
    for method, path, req in [
            ("POST", "/indexing/config", {"thingIndexingConfiguration": {
                "thingIndexingMode": "OFF"}}),
            ("POST", "/indices/statistics", {"queryString": "*"}),
            ("POST", "/dynamic-thing-groups/other-1",
             {"queryString": "*"})]:
        status, body = authz.call(c.admin_url, method, path, req,
                                  auth=auth)
        assert (status, body["error"]) == (403, "AccessDeniedException"), (
            path, body)
    g = "ok-" + PREFIX.rstrip("-")
    status, body = authz.call(c.admin_url, "POST",
                              "/dynamic-thing-groups/" + g,
                              {"queryString": "thingName:nothing"},
                              auth=auth)
    assert status == 200 and body["thingGroupName"] == g, body
    ctl(c, "delete-dynamic-thing-group", "--thing-group-name", g)
    assert ctl(c, "describe-index", "--index-name", "AWS_Things")[
        "indexStatus"] in ("ACTIVE", "REBUILDING")
