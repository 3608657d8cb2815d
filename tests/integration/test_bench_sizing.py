"""strata-bench's sizing mode (bench/README.md, "Sizing") at tiny counts
against the shared cluster: it makes the subscriptions, retained messages
and shadows it reports, one step at a time, holding each step until its
step file is removed.  A Paho client checks, while the bench holds them,
that the retained messages and a shadow are really there.  Seconds."""

import json
import os
import subprocess
import time
import uuid

import daemons
from mqttc import V5

SUBS, RETAINED, SHADOWS, SIZE = 120, 30, 20, 100
STEPS = ["connected", "subscribed", "retained", "shadows"]


def _wait_step(path, proc, timeout=30):
    """The step file's fields once the bench has written it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.exists(path):
            with open(path) as f:
                return dict(kv.split("=", 1) for kv in f.read().split())
        assert proc.poll() is None, "the bench exited early: %s" % (
            proc.stderr.read().decode("utf-8", "replace"))
        time.sleep(0.05)
    raise AssertionError("no step file within %d s" % timeout)


def _retained_groups(clients):
    """Retained messages under sizing/+/+/r/+ by their run (level 2)."""
    c = clients(V5)
    c.subscribe("sizing/+/+/r/+", qos=1)
    groups = {}
    for m in c.drain(settle=1.0):
        assert m.retain
        groups.setdefault(m.topic.split("/")[1], []).append(m)
    c.close()
    return groups


def _shadow_reported(clients, thing):
    c = clients(V5)
    base = "$aws/things/%s/shadow/get" % thing
    c.subscribe(base + "/accepted", qos=1)
    c.publish(base, b"{}", qos=1)
    doc = json.loads(c.get(topic=base + "/accepted").payload)
    c.close()
    return doc


def test_sizing_counts_and_holds(cluster, clients, tmp_path):
    step_file = str(tmp_path / "step")
    prefix = "it-sz-%s-" % uuid.uuid4().hex[:8]
    proc = subprocess.Popen(
        [os.path.join(daemons.bin_dir(), "strata-bench"), "sizing",
         "--port", str(cluster.mqtt_ports[0]),
         "--subscriptions", str(SUBS), "--retained", str(RETAINED),
         "--size", str(SIZE), "--shadows", str(SHADOWS),
         "--thing-prefix", prefix, "--step-file", step_file,
         "--hold", "30", "--duration", "60", "--json", "--no-progress"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        seen = []
        for name in STEPS:
            fields = _wait_step(step_file, proc)
            seen.append(fields)
            assert fields["step"] == name, fields
            if name == "retained":
                groups = _retained_groups(clients)
                ours = [g for g in groups.values() if len(g) == RETAINED]
                assert len(ours) == 1, {k: len(v) for k, v in groups.items()}
                assert all(len(m.payload) == SIZE for m in ours[0])
            if name == "shadows":
                doc = _shadow_reported(clients, prefix + "5")
                assert doc["version"] == 1
                assert "seq" in doc["state"]["reported"], doc
            os.remove(step_file)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err.decode("utf-8", "replace")
    # 120 filters at 50 a connection: 3 connections
    assert [int(s["connections"]) for s in seen] == [3, 3, 3, 3]
    assert [int(s["subscriptions"]) for s in seen] == [0, SUBS, SUBS, SUBS]
    assert [int(s["retained"]) for s in seen] == [0, 0, RETAINED, RETAINED]
    assert [int(s["shadows"]) for s in seen] == [0, 0, 0, SHADOWS]
    res = json.loads(out)
    assert res["mode"] == "sizing"
    sz = res["sizing"]
    assert sz["clients"] == 3
    assert sz["subscriptions"]["asked"] == SUBS
    assert sz["subscriptions"]["granted"] == SUBS
    assert sz["retained"]["acked"] == RETAINED
    assert sz["retained"]["refused"] == 0
    assert sz["shadows"]["sent"] == SHADOWS
    assert sz["shadows"]["accepted"] == SHADOWS
    assert sz["shadows"]["rejected"] == 0
    assert sz["shadows"]["lost"] == 0
    # the watcher is the fourth connection
    assert res["connections"]["connected"] == 4
    assert res["connections"]["failed"] == 0


def test_sizing_refuses_what_it_cannot_hold():
    """More subscriptions a connection than --max-subscriptions: a usage
    error before anything connects."""
    bench = os.path.join(daemons.bin_dir(), "strata-bench")
    r = subprocess.run(
        [bench, "sizing", "--port", "1", "--subscriptions", "120",
         "--clients", "2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        timeout=10)
    assert r.returncode == 2
    assert b"over --max-subscriptions 50" in r.stderr
