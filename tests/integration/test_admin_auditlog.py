"""The control plane's audit log (docs/internals/admin-authz.md, "Audit
record"): on a cluster of its own whose brokers append JSON lines to a
file, admin calls made with stratactl and over HTTP (changes, refusals,
reads) are found by `stratactl list-audit-events` newest first, with who,
what, on what, from where, when and how it ended, filtered by user,
action and time, a page at a time; the file has the same records; an
extra broker with admin-audit-reads keeps successful reads too."""

import json
import os
import time
import uuid

import pytest

import conftest
import daemons
from test_admin_authz import call, make_user
from test_thing_groups import ctl, err


@pytest.fixture(scope="module")
def alog(tmp_path_factory):
    path = tmp_path_factory.mktemp("audit") / "admin-audit.jsonl"
    env = {"STRATA_ADMIN_AUDIT_FILE": str(path)}
    with conftest.start_cluster("alog", brokers=1, env=env) as c:
        c.audit_file = path
        yield c


def events(c, *args):
    return ctl(c, "list-audit-events", *args)["events"]


def test_changes_and_refusals_are_kept_reads_are_not(alog):
    c = alog
    since = int(time.time())
    thing = "alog-" + uuid.uuid4().hex[:8]
    ctl(c, "create-thing", "--thing-name", thing)
    ctl(c, "describe-thing", "--thing-name", thing)           # a read
    user, kid, secret = make_user(c, {"Effect": "Allow", "Resource": "*",
                                      "Action": "iot:DescribeThing"})
    auth = "Bearer %s:%s" % (kid, secret)
    err(call(c.admin_url, "DELETE", "/things/" + thing, auth=auth), 403,
        "AccessDeniedException")
    err(call(c.admin_url, "POST", "/things/bad%20name", {},
             auth="Bearer " + c.admin_token), 400, "InvalidRequestException")
    got = events(c, "--start-time", str(since))
    ops = [(e["operation"], e["status"]) for e in got]
    # newest first; the read is not there
    assert ops.index(("DeleteThing", 403)) < ops.index(
        ("CreateThing", 200)), ops
    assert ("DescribeThing", 200) not in ops
    delete = [e for e in got if e["operation"] == "DeleteThing"][0]
    assert delete["status"] == 403
    assert delete["errorType"] == "AccessDeniedException"
    assert delete["userArn"].endswith(":user/" + user)
    assert delete["accessKeyId"] == kid
    assert delete["action"] == "iot:DeleteThing"
    assert delete["resource"].endswith(":thing/" + thing)
    assert delete["sourceAddress"] == "127.0.0.1"
    assert delete["readOnly"] is False and delete["method"] == "DELETE"
    assert delete["broker"] == "broker-0"
    assert delete["eventTime"].endswith("Z") and "eventId" in delete
    create = [e for e in got if e["operation"] == "CreateThing" and
              e["resource"].endswith("/" + thing)][0]
    assert create["status"] == 200 and "errorType" not in create
    assert [e for e in got if e["status"] == 400 and
            e["errorType"] == "InvalidRequestException"]


def test_filters_pages_and_the_file(alog):
    c = alog
    since = int(time.time())
    names = ["alog-p-%d-%s" % (i, uuid.uuid4().hex[:6]) for i in range(3)]
    for n in names:
        ctl(c, "create-thing", "--thing-name", n)
    ctl(c, "delete-thing", "--thing-name", names[0])
    mine = events(c, "--start-time", str(since), "--action",
                  "iot:CreateThing")
    assert [e["resource"].rsplit("/", 1)[1] for e in mine
            if e["resource"].rsplit("/", 1)[1] in names] == \
        list(reversed(names))
    assert events(c, "--start-time", str(since), "--operation",
                  "DeleteThing")[0]["resource"].endswith(names[0])
    assert events(c, "--start-time", str(since), "--user-name",
                  "nobody-" + uuid.uuid4().hex[:6]) == []
    # a page at a time: each page's token goes on below it
    seen, token = [], None
    for _ in range(12):
        args = ["--start-time", str(since), "--action", "iot:CreateThing",
                "--max-results", "1"]
        if token:
            args += ["--next-token", token]
        page = ctl(c, "list-audit-events", *args)
        seen += [e["eventId"] for e in page["events"]
                 if e["resource"].rsplit("/", 1)[1] in names]
        token = page.get("nextToken")
        if not token:
            break
    assert len(seen) == 3 and len(set(seen)) == 3
    # a span in the past has none of them
    assert events(c, "--start-time", "2020-01-01T00:00:00Z", "--end-time",
                  "2020-01-02T00:00:00Z") == []
    # the file: the same records, one JSON object a line
    deadline = time.monotonic() + 5
    while True:
        lines = [json.loads(ln) for ln in
                 c.audit_file.read_text().splitlines()]
        created = [ln for ln in lines if ln["operation"] == "CreateThing"
                   and ln["resource"].rsplit("/", 1)[1] in names]
        if len(created) == 3 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert len(created) == 3
    assert all(ln["broker"] == "broker-0" for ln in created)


def test_bad_queries_and_iam(alog):
    c = alog
    auth = "Bearer " + c.admin_token
    for q, field in (("startTime=yesterday", "startTime"),
                     ("maxResults=0", "maxResults"),
                     ("maxResults=251", "maxResults"),
                     ("nextToken=abc", "nextToken")):
        assert field in err(call(c.admin_url, "GET",
                                 "/strata/audit-events?" + q, auth=auth),
                            400, "InvalidRequestException")
    _, kid, secret = make_user(c, {"Effect": "Allow", "Resource": "*",
                                   "Action": "iot:Describe*"})
    err(call(c.admin_url, "GET", "/strata/audit-events",
             auth="Bearer %s:%s" % (kid, secret)), 403,
        "AccessDeniedException")


def test_reads_kept_with_admin_audit_reads(alog, tmp_path):
    """An extra broker with admin-audit-reads keeps its successful
    reads as well."""
    c = alog
    port = daemons.free_port()
    b = daemons.Broker(c.redis_port, c.join_args() + [
        "--admin-port", str(port), "--admin-token-file",
        c.admin_token_file, "--admin-bootstrap-key-id", c.admin_key_id,
        "--admin-audit-reads", "true"])
    try:
        b.wait_ready()
        daemons.wait_port(port, b.proc)
        since = int(time.time())
        url = "http://127.0.0.1:%d" % port
        status, _ = call(url, "GET", "/things", auth="Bearer " +
                         c.admin_token)
        assert status == 200
        got = events(c, "--start-time", str(since), "--operation",
                     "ListThings")
        assert got and got[0]["broker"] == b.node_id
        assert got[0]["readOnly"] is True
    finally:
        reports = b.sanitizer_reports()
        assert b.stop() == 0, b.log_text()[-2000:]
        assert not reports, reports
