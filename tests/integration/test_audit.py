"""Device Defender Audit: the account audit configuration, on-demand audit
tasks and their findings, on a cluster of its own.  A clean registry has
no findings; each planted misconfiguration (a policy allowing iot:* on *,
a certificate attached to two things, a certificate expiring in 10 days,
an ACTIVE certificate of a REVOKED CA, a CA with auto-registration) is
found, naming the resource and the reason; findings page; bad input gets
AWS's error names."""

import json
import os
import time

import pytest

import certs
import conftest
from test_admin_authz import admin, call, make_user, ok
from test_thing_groups import ctl, err

YEAR = time.strftime("%Y%m%d%H%M%SZ", time.gmtime(time.time() + 365 * 86400))
CHECKS = [
    "IOT_POLICY_OVERLY_PERMISSIVE_CHECK",
    "DEVICE_CERTIFICATE_SHARED_CHECK",
    "DEVICE_CERTIFICATE_EXPIRING_CHECK",
    "REVOKED_CA_CERTIFICATE_STILL_ACTIVE_CHECK",
    "REVOKED_DEVICE_CERTIFICATE_STILL_ACTIVE_CHECK",
    "CA_CERTIFICATE_EXPIRING_CHECK",
    "LOGGING_DISABLED_CHECK",
    "CA_CERTIFICATE_AUTO_REGISTRATION_ENABLED_CHECK",
    "DEVICE_CERTIFICATE_KEY_QUALITY_CHECK",
    "CA_CERTIFICATE_KEY_QUALITY_CHECK",
]
ARN = "arn:aws:iot:local:000000000000"


@pytest.fixture(scope="module")
def acluster():
    with conftest.start_cluster("acluster", brokers=1) as c:
        yield c


def run_audit(c, checks=CHECKS):
    task = ctl(c, "start-on-demand-audit-task", "--target-check-names",
               json.dumps(list(checks)))["taskId"]
    deadline = time.time() + 20
    while True:
        d = ctl(c, "describe-audit-task", "--task-id", task)
        if d["taskStatus"] != "IN_PROGRESS" or time.time() > deadline:
            break
        time.sleep(0.1)
    assert d["taskStatus"] == "COMPLETED", d
    return task, d


def findings(c, task, check=None):
    body = {"taskId": task}
    if check:
        body["checkName"] = check
    return ok(admin(c, "POST", "/audit/findings", body))["findings"]


def register(c, crt):
    with open(crt) as f:
        pem = f.read()
    out = ok(admin(c, "POST", "/certificate/register?setAsActive=true",
                   {"certificatePem": pem}))
    return out["certificateId"]


def register_ca(c, crt, auto=False):
    args = ["register-ca-certificate", "--ca-certificate", "file://" + crt,
            "--set-as-active"]
    if auto:
        args.append("--allow-auto-registration")
    return ctl(c, *args)["certificateId"]


def test_configuration(acluster):
    c = acluster
    cfg = ctl(c, "describe-account-audit-configuration")
    assert sorted(cfg["auditCheckConfigurations"]) == sorted(CHECKS)
    assert all(v["enabled"] for v in
               cfg["auditCheckConfigurations"].values())
    ctl(c, "update-account-audit-configuration",
        "--audit-check-configurations",
        json.dumps({"LOGGING_DISABLED_CHECK": {"enabled": False}}))
    cfg = ctl(c, "describe-account-audit-configuration")
    assert cfg["auditCheckConfigurations"]["LOGGING_DISABLED_CHECK"] == {
        "enabled": False}
    # a disabled check cannot be run
    msg = err(admin(c, "POST", "/audit/tasks",
                    {"targetCheckNames": ["LOGGING_DISABLED_CHECK"]}),
              400, "InvalidRequestException")
    assert "LOGGING_DISABLED_CHECK" in msg
    ctl(c, "update-account-audit-configuration",
        "--audit-check-configurations",
        json.dumps({n: {"enabled": True} for n in CHECKS}))
    assert all(v["enabled"] for v in ctl(
        c, "describe-account-audit-configuration")[
            "auditCheckConfigurations"].values())
    err(admin(c, "PATCH", "/audit/configuration",
              {"auditCheckConfigurations": {"NO_SUCH_CHECK": {
                  "enabled": True}}}), 400, "InvalidRequestException")
    err(admin(c, "PATCH", "/audit/configuration",
              {"auditCheckConfigurations": {"LOGGING_DISABLED_CHECK": {
                  "enabled": "yes"}}}), 400, "InvalidRequestException")


def test_clean_then_planted(acluster, tmp_path):
    c = acluster
    d = str(tmp_path)
    # the cluster's development policy allows iot:* on *: the first
    # audit finds it, and the test's setup removes it
    task, _ = run_audit(c, ["IOT_POLICY_OVERLY_PERMISSIVE_CHECK"])
    dev = [f["nonCompliantResource"]["resourceIdentifier"][
        "policyVersionIdentifier"]["policyName"] for f in findings(c, task)]
    for name in dev:
        targets = ctl(c, "list-targets-for-policy", "--policy-name", name)
        for t in targets.get("targets", []):
            ctl(c, "detach-policy", "--policy-name", name, "--target", t)
        ctl(c, "delete-policy", "--policy-name", name)
    # the test's own clean setup: a narrow policy, a device of a CA
    ca = certs.make_ca(d, "goodca", days=400)
    register_ca(c, ca[0])
    good = certs.make_leaf(d, "good", ca, end=YEAR)
    good_id = register(c, good[0])
    ok(admin(c, "POST", "/things/good-thing", {}))
    ctl(c, "attach-thing-principal", "--thing-name", "good-thing",
        "--principal", "%s:cert/%s" % (ARN, good_id))
    ctl(c, "create-policy", "--policy-name", "narrow",
        "--policy-document", json.dumps({
            "Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Action": "iot:Publish",
                "Resource": ARN + ":topic/good-thing/data"}]}))
    task, desc = run_audit(c)
    clean = findings(c, task)
    assert clean == [], json.dumps(clean)
    assert desc["taskStatistics"]["totalChecks"] == len(CHECKS)
    assert desc["taskStatistics"]["compliantChecks"] == len(CHECKS)
    det = desc["auditDetails"]["DEVICE_CERTIFICATE_SHARED_CHECK"]
    assert det["checkRunStatus"] == "COMPLETED_COMPLIANT"
    assert det["totalResourcesCount"] >= 1
    assert det["nonCompliantResourcesCount"] == 0
    assert desc["auditDetails"]["IOT_POLICY_OVERLY_PERMISSIVE_CHECK"][
        "totalResourcesCount"] >= 1

    # plant one misconfiguration per check
    ctl(c, "create-policy", "--policy-name", "everything",
        "--policy-document", json.dumps({
            "Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Action": "iot:*", "Resource": "*"}]}))
    ctl(c, "create-policy", "--policy-name", "all-topics",
        "--policy-document", json.dumps({
            "Version": "2012-10-17", "Statement": {
                "Effect": "Allow", "Action": ["iot:Subscribe"],
                "Resource": ARN + ":topicfilter/*"}}))
    ok(admin(c, "POST", "/things/second-thing", {}))
    ctl(c, "attach-thing-principal", "--thing-name", "second-thing",
        "--principal", "%s:cert/%s" % (ARN, good_id))
    soon_end = time.strftime("%Y%m%d%H%M%SZ",
                             time.gmtime(time.time() + 10 * 86400))
    soon = certs.make_leaf(d, "soon", ca, end=soon_end)
    soon_id = register(c, soon[0])
    bad_ca = certs.make_ca(d, "badca", days=400)
    bad_ca_id = register_ca(c, bad_ca[0])
    victim = certs.make_leaf(d, "victim", bad_ca, end=YEAR)
    victim_id = register(c, victim[0])
    # no API makes a CA REVOKED (AWS's neither): written as a registry
    # restored from elsewhere would have it
    rc, out = c.redis_cli(c.redis_port, "HSET",
                          "strata:ca:{%s}" % bad_ca_id, "status", "REVOKED")
    assert rc == 0, out
    auto_ca = certs.make_ca(d, "autoca")
    auto_ca_id = register_ca(c, auto_ca[0], auto=True)
    weak = certs.make_leaf(d, "weak", ca, end=YEAR, rsa_bits=1024)
    weak_id = register(c, weak[0])
    weak_ca = certs.make_ca(d, "weakca", days=400, rsa_bits=1024)
    weak_ca_id = register_ca(c, weak_ca[0])

    task, desc = run_audit(c)
    by = {}
    for f in findings(c, task):
        assert f["taskId"] == task and f["findingId"]
        assert f["reasonForNonCompliance"]
        by.setdefault(f["checkName"], []).append(f)
    pol = sorted(f["nonCompliantResource"]["resourceIdentifier"][
        "policyVersionIdentifier"]["policyName"]
        for f in by["IOT_POLICY_OVERLY_PERMISSIVE_CHECK"])
    assert pol == ["all-topics", "everything"]
    f = by["IOT_POLICY_OVERLY_PERMISSIVE_CHECK"][0]
    assert f["severity"] == "CRITICAL"
    assert f["nonCompliantResource"]["resourceType"] == "IOT_POLICY"
    assert f["reasonForNonComplianceCode"] == \
        "ALLOWS_BROAD_ACCESS_TO_IOT_DATA_PLANE_ACTIONS"

    assert "DEVICE_CERTIFICATE_SHARED_CHECK" in by, (list(by), desc)
    [f] = by["DEVICE_CERTIFICATE_SHARED_CHECK"]
    assert f["nonCompliantResource"] == {
        "resourceType": "DEVICE_CERTIFICATE",
        "resourceIdentifier": {"deviceCertificateId": good_id}}
    assert "good-thing" in f["reasonForNonCompliance"]
    assert "second-thing" in f["reasonForNonCompliance"]

    [f] = by["DEVICE_CERTIFICATE_EXPIRING_CHECK"]
    assert f["nonCompliantResource"]["resourceIdentifier"] == {
        "deviceCertificateId": soon_id}
    assert f["reasonForNonComplianceCode"] == "CERTIFICATE_EXPIRING"

    [f] = by["REVOKED_CA_CERTIFICATE_STILL_ACTIVE_CHECK"]
    assert f["nonCompliantResource"] == {
        "resourceType": "CA_CERTIFICATE",
        "resourceIdentifier": {"caCertificateId": bad_ca_id}}
    assert "1 certificates" in f["reasonForNonCompliance"]
    [f] = by["REVOKED_DEVICE_CERTIFICATE_STILL_ACTIVE_CHECK"]
    assert f["nonCompliantResource"]["resourceIdentifier"] == {
        "deviceCertificateId": victim_id}
    assert bad_ca_id in f["reasonForNonCompliance"]

    [f] = by["CA_CERTIFICATE_AUTO_REGISTRATION_ENABLED_CHECK"]
    assert f["nonCompliantResource"]["resourceIdentifier"] == {
        "caCertificateId": auto_ca_id}
    # a CA living 30 days expires within 30 days
    ca_exp = {f["nonCompliantResource"]["resourceIdentifier"][
        "caCertificateId"] for f in by["CA_CERTIFICATE_EXPIRING_CHECK"]}
    assert auto_ca_id in ca_exp
    assert "LOGGING_DISABLED_CHECK" not in by
    [f] = by["DEVICE_CERTIFICATE_KEY_QUALITY_CHECK"]
    assert f["nonCompliantResource"]["resourceIdentifier"] == {
        "deviceCertificateId": weak_id}
    assert f["reasonForNonComplianceCode"] == "CERTIFICATE_KEY_WEAK"
    assert "RSA key of 1024 bits" in f["reasonForNonCompliance"]
    [f] = by["CA_CERTIFICATE_KEY_QUALITY_CHECK"]
    assert f["nonCompliantResource"] == {
        "resourceType": "CA_CERTIFICATE",
        "resourceIdentifier": {"caCertificateId": weak_ca_id}}

    det = desc["auditDetails"]["DEVICE_CERTIFICATE_SHARED_CHECK"]
    assert det["checkRunStatus"] == "COMPLETED_NON_COMPLIANT"
    assert det["nonCompliantResourcesCount"] == 1
    assert desc["taskStatistics"]["nonCompliantChecks"] == len(CHECKS) - 1

    # one check's findings, a page at a time
    only = findings(c, task, "IOT_POLICY_OVERLY_PERMISSIVE_CHECK")
    assert len(only) == 2
    total = len(findings(c, task))
    seen, token = [], None
    while True:
        args = ["list-audit-findings", "--task-id", task,
                "--max-results", "2"]
        if token:
            args += ["--next-token", token]
        page = ctl(c, *args)
        assert len(page["findings"]) <= 2
        seen += [f["findingId"] for f in page["findings"]]
        token = page.get("nextToken")
        if not token:
            break
    assert len(seen) == total == len(set(seen))

    # the task is listed in its time span, not outside it
    now = int(time.time())
    tasks = ctl(c, "list-audit-tasks", "--start-time", str(now - 600),
                "--end-time", str(now + 60))["tasks"]
    assert {"taskId": task, "taskStatus": "COMPLETED",
            "taskType": "ON_DEMAND_AUDIT_TASK"} in tasks
    iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 86400))
    assert ctl(c, "list-audit-tasks", "--start-time", "2020-01-01T00:00:00Z",
               "--end-time", iso)["tasks"] == []


def test_errors(acluster):
    c = acluster
    err(admin(c, "POST", "/audit/tasks", {"targetCheckNames": ["NOPE"]}),
        400, "InvalidRequestException")
    err(admin(c, "POST", "/audit/tasks", {}), 400, "InvalidRequestException")
    err(admin(c, "GET", "/audit/tasks/no-such-task"), 404,
        "ResourceNotFoundException")
    err(admin(c, "GET", "/audit/tasks/bad%20id"), 400,
        "InvalidRequestException")
    err(admin(c, "POST", "/audit/findings", {"taskId": "no-such-task"}),
        404, "ResourceNotFoundException")
    err(admin(c, "POST", "/audit/findings", {}), 400,
        "InvalidRequestException")
    err(admin(c, "POST", "/audit/findings",
              {"taskId": "x", "maxResults": 0}), 400,
        "InvalidRequestException")
    err(admin(c, "GET", "/audit/tasks?startTime=yesterday&endTime=1"), 400,
        "InvalidRequestException")
    err(admin(c, "DELETE", "/audit/tasks"), 405, "MethodNotAllowedException")
    out = ctl(c, "describe-audit-task", "--task-id", "no-such-task",
              expect=254)
    assert "ResourceNotFoundException" in out


def test_scheduled_audit(acluster):
    """A DAILY scheduled audit runs on the next timer tick (every 5 s) of
    the one broker that claims it, then not again that day."""
    c = acluster
    since = int(time.time()) - 1
    out = ctl(c, "create-scheduled-audit", "--scheduled-audit-name",
              "nightly", "--frequency", "DAILY", "--target-check-names",
              "DEVICE_CERTIFICATE_SHARED_CHECK,LOGGING_DISABLED_CHECK")
    assert out["scheduledAuditArn"] == ARN + ":scheduledaudit/nightly"
    desc = ctl(c, "describe-scheduled-audit", "--scheduled-audit-name",
               "nightly")
    assert desc["frequency"] == "DAILY"
    assert desc["targetCheckNames"] == [
        "DEVICE_CERTIFICATE_SHARED_CHECK", "LOGGING_DISABLED_CHECK"]
    assert ctl(c, "list-scheduled-audits")["scheduledAudits"] == [{
        "scheduledAuditName": "nightly",
        "scheduledAuditArn": ARN + ":scheduledaudit/nightly",
        "frequency": "DAILY"}]
    err(admin(c, "POST", "/audit/scheduledaudits/nightly",
              {"frequency": "DAILY",
               "targetCheckNames": ["LOGGING_DISABLED_CHECK"]}),
        409, "ResourceAlreadyExistsException")
    err(admin(c, "POST", "/audit/scheduledaudits/weekly",
              {"frequency": "WEEKLY",
               "targetCheckNames": ["LOGGING_DISABLED_CHECK"]}),
        400, "InvalidRequestException")
    deadline = time.time() + 15
    tasks = []
    while time.time() < deadline:
        tasks = [t for t in ctl(c, "list-audit-tasks", "--start-time",
                                str(since), "--end-time",
                                str(int(time.time()) + 5),
                                "--task-type", "SCHEDULED_AUDIT_TASK")[
                                    "tasks"]
                 if t["taskStatus"] == "COMPLETED"]
        if tasks:
            break
        time.sleep(0.5)
    assert len(tasks) == 1, tasks
    d = ctl(c, "describe-audit-task", "--task-id", tasks[0]["taskId"])
    assert d["taskType"] == "SCHEDULED_AUDIT_TASK"
    assert d["scheduledAuditName"] == "nightly"
    assert sorted(d["auditDetails"]) == [
        "DEVICE_CERTIFICATE_SHARED_CHECK", "LOGGING_DISABLED_CHECK"]
    time.sleep(6)   # a later tick does not run it again the same day
    again = ctl(c, "list-audit-tasks", "--start-time", str(since),
                "--end-time", str(int(time.time()) + 5),
                "--task-type", "SCHEDULED_AUDIT_TASK")["tasks"]
    assert len(again) == 1, again
    ctl(c, "delete-scheduled-audit", "--scheduled-audit-name", "nightly")
    assert ctl(c, "list-scheduled-audits")["scheduledAudits"] == []
    err(admin(c, "GET", "/audit/scheduledaudits/nightly"), 404,
        "ResourceNotFoundException")


def test_iam_actions(acluster):
    """The audit routes' IAM actions: a user allowed only to read
    findings and tasks may not start a task or change the
    configuration."""
    c = acluster
    _, kid, secret = make_user(c, {
        "Effect": "Allow", "Resource": "*",
        "Action": ["iot:DescribeAuditTask", "iot:ListAuditFindings"]})
    auth = "Bearer %s:%s" % (kid, secret)
    err(call(c.admin_url, "POST", "/audit/tasks",
             {"targetCheckNames": ["LOGGING_DISABLED_CHECK"]}, auth=auth),
        403, "AccessDeniedException")
    err(call(c.admin_url, "PATCH", "/audit/configuration",
             {"auditCheckConfigurations": {}}, auth=auth),
        403, "AccessDeniedException")
    task = ok(admin(c, "POST", "/audit/tasks", {
        "targetCheckNames": ["LOGGING_DISABLED_CHECK"]}))["taskId"]
    status, body = call(c.admin_url, "GET", "/audit/tasks/" + task,
                        auth=auth)
    assert status == 200 and body["taskType"] == "ON_DEMAND_AUDIT_TASK"
    assert call(c.admin_url, "POST", "/audit/findings", {"taskId": task},
                auth=auth)[0] == 200
