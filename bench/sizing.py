#!/usr/bin/env python3
"""What a subscription, a retained message and a shadow cost in memory
(docs/operations.md, "Sizing"; bench/RESULTS.md, "Sizing"):

    /usr/bin/python3 bench/sizing.py DIR     # DIR: a running cluster.sh
                                             # cluster (1 broker, 1 router,
                                             # 1 shadowd)

Measures the resident memory (VmRSS) of the broker, the router,
strata-shadowd and redis-server before and after:
  1. 100,000 subscriptions: 1,000 Paho clients with 100 distinct filters
     each (one SUBSCRIBE each), kept connected;
  2. 100,000 retained messages of 64 bytes on distinct topics (QoS 0);
  3. 10,000 classic shadows of about 100 bytes (strata-bench shadow).
Prints a markdown table of bytes per item for each process.  Bounded:
each step stops after a fixed count; the clients are closed at the end."""

import os
import subprocess
import sys
import time

import paho.mqtt.client as paho

SUBS_CLIENTS, SUBS_EACH = 1000, 100
RETAINED = 100000
SHADOWS = 10000


def env_of(d):
    out = {}
    for line in open(os.path.join(d, "endpoints.env")):
        line = line.strip()
        if "=" in line and not line.startswith("#"):
            k, v = line.split("=", 1)
            out[k] = v.strip("'\"")
    return out


def rss(pid):
    for line in open("/proc/%s/status" % pid):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def router_retained(e):
    port = e["ROUTER_METRICS_PORTS"].split()[0]
    out = subprocess.run(["curl", "-s", "http://127.0.0.1:%s/metrics" % port],
                         stdout=subprocess.PIPE, timeout=10).stdout.decode()
    for line in out.splitlines():
        if line.startswith("strata_router_retained_messages "):
            return int(line.split()[1])
    return -1


def snapshot(e):
    return {"broker": rss(e["BROKER_PIDS"].split()[0]),
            "router": rss(e["ROUTER_PIDS"].split()[0]),
            "shadowd": rss(e["SHADOWD_PIDS"].split()[0]),
            "redis": rss(e["REDIS_PID"])}


def connected(c):
    """c once its CONNACK came (Paho drops QoS 0 publishes and refuses
    SUBSCRIBEs before), at most 10 s."""
    deadline = time.monotonic() + 10
    while not c.is_connected():
        if time.monotonic() > deadline:
            sys.exit("no CONNACK within 10 s")
        time.sleep(0.01)
    return c


def delta(a, b, n):
    return {k: round((b[k] - a[k]) / n) for k in a}


def main():
    d = sys.argv[1]
    e = env_of(d)
    port = int(e["MQTT_PORTS"].split()[0])
    rows = []
    tag = "%x" % int(time.time())

    before = snapshot(e)
    clients = []
    for i in range(SUBS_CLIENTS):
        c = paho.Client("sz-%s-%d" % (tag, i))
        c.connect("127.0.0.1", port, 60)
        c.loop_start()
        rc, _ = connected(c).subscribe([("sz/%s/%d/%d" % (tag, i, j), 1)
                     for j in range(SUBS_EACH)])
        assert rc == paho.MQTT_ERR_SUCCESS, rc
        clients.append(c)
    time.sleep(5)
    after = snapshot(e)
    rows.append(("subscription (1,000 clients x 100 filters, "
                 "clients included)", delta(before, after,
                                            SUBS_CLIENTS * SUBS_EACH)))
    for c in clients:
        c.disconnect()
        c.loop_stop()
    time.sleep(2)

    before = snapshot(e)
    p = paho.Client("sz-%s-retain" % tag)
    p.connect("127.0.0.1", port, 60)
    p.loop_start()
    connected(p)
    payload = b"r" * 64
    for i in range(RETAINED):
        p.publish("szr/%s/%d" % (tag, i), payload, 0, retain=True)
        if i % 1000 == 999:
            time.sleep(0.01)
    deadline = time.monotonic() + 60
    while router_retained(e) < RETAINED and time.monotonic() < deadline:
        time.sleep(0.5)
    time.sleep(2)
    after = snapshot(e)
    print("retained messages in the router's cache: %d" % router_retained(e),
          file=sys.stderr)
    rows.append(("retained message (64-byte payload, 20-byte topic)",
                 delta(before, after, RETAINED)))
    p.disconnect()
    p.loop_stop()

    before = snapshot(e)
    bench = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                         "build", "bin", "strata-bench")
    subprocess.run([bench, "shadow", "--port", str(port), "--things",
                    str(SHADOWS), "--count", str(SHADOWS), "--size", "100",
                    "--thing-prefix", "sz%s-" % tag, "--no-progress"],
                   stdout=subprocess.DEVNULL, timeout=300)
    time.sleep(3)
    after = snapshot(e)
    rows.append(("classic shadow (one update of ~100 bytes)",
                 delta(before, after, SHADOWS)))

    print("| bytes per item | broker | router | shadowd | Redis |")
    print("|---|---|---|---|---|")
    for name, dl in rows:
        print("| %s | %d | %d | %d | %d |" % (name, dl["broker"],
                                             dl["router"], dl["shadowd"],
                                             dl["redis"]))


if __name__ == "__main__":
    main()
