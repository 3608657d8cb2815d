#!/usr/bin/env python3
"""The measuring half of bench/fleet-index.sh (which starts the cluster
and says what is measured): load the things, build the index, time the
freshness of a change and each query kind.  Standard library only."""

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.parse
import uuid

COLORS = ["red", "green", "blue"]


def name(i):
    return "bench-%07d" % i


def resp(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        if not isinstance(a, bytes):
            a = str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


def shadow_doc(i, now):
    rep = {"battery": i % 100, "temp": 20 + i % 15,
           "mode": "eco" if i % 2 else "boost", "fw": "1.%d" % (i % 7)}
    des = {"mode": "eco"}
    ts = {"timestamp": now}
    return json.dumps({
        "state": {"desired": des, "reported": rep},
        "metadata": {"desired": {k: ts for k in des},
                     "reported": {k: ts for k in rep}},
        "version": 1, "timestamp": now}, separators=(",", ":"))


def redis_cmd():
    return ["redis-cli", "--no-auth-warning", "-h", os.environ["HOST"],
            "-p", os.environ["REDIS_PORT"], "--user",
            os.environ["REDIS_USER"]]


def redis_env():
    env = dict(os.environ)
    with open(os.environ["REDIS_PASSWORD_FILE"]) as f:
        env["REDISCLI_AUTH"] = f.read().strip()
    return env


def load(things):
    """Things, shadows and connectivity records, in the registry's
    layout, through redis-cli --pipe."""
    now = int(time.time())
    p = subprocess.Popen(redis_cmd() + ["--pipe"], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, env=redis_env())
    buf = []
    for i in range(things):
        n = name(i)
        buf.append(resp("HSET", "strata:thing:{%s}" % n, "name", n, "id",
                        str(uuid.uuid4()), "type",
                        "Lamp" if i % 2 else "Pump", "attributes",
                        json.dumps({"color": COLORS[i % 3],
                                    "site": "s%d" % (i % 50)}),
                        "version", 1, "created", now))
        buf.append(resp("SADD", "strata:things", n))
        buf.append(resp("HSET", "strata:shadow:{%s}:" % n, "doc",
                        shadow_doc(i, now), "version", 1))
        if i % 3 == 0:
            buf.append(resp("HSET", "strata:fidx:conn:{%s}" % n,
                            "connected", 1, "ts", now * 1000, "ver", 1,
                            "reason", ""))
        if len(buf) > 4000:
            p.stdin.write(b"".join(buf))
            buf = []
    p.stdin.write(b"".join(buf))
    p.stdin.close()
    out = p.stdout.read().decode()
    if p.wait() != 0 or "errors: 0" not in out:
        sys.exit("loading failed: " + out)


class Admin:
    """The admin API over one kept-alive HTTP connection."""

    def __init__(self):
        u = urllib.parse.urlparse(os.environ["ADMIN_URL"])
        self.conn = http.client.HTTPConnection(u.hostname, u.port,
                                               timeout=60)
        self.auth = "Bearer " + os.environ["ADMIN_TOKEN"]

    def call(self, method, path, body=None, busy_ok=False):
        """The answer; busy_ok: a 503 (Redis busy with the build) is
        None rather than the end."""
        data = json.dumps(body).encode() if body is not None else None
        self.conn.request(method, path, body=data, headers={
            "Authorization": self.auth,
            "Content-Type": "application/json"})
        r = self.conn.getresponse()
        text = r.read()
        if r.status == 503 and busy_ok:
            return None
        if r.status != 200:
            sys.exit("%s %s: %d %s" % (method, path, r.status, text))
        return json.loads(text) if text else {}


def build(admin):
    admin.call("POST", "/indexing/config", {"thingIndexingConfiguration": {
        "thingIndexingMode": "REGISTRY_AND_SHADOW",
        "thingConnectivityIndexingMode": "STATUS",
        "customFields": [{"name": "shadow.reported.battery",
                          "type": "Number"},
                         {"name": "attributes.site", "type": "String"}]}})
    t0 = time.monotonic()
    busy = 0
    while True:
        d = admin.call("GET", "/indices/AWS_Things", busy_ok=True)
        if d is None:
            busy += 1
        elif d["indexStatus"] == "ACTIVE":
            return time.monotonic() - t0, busy
        time.sleep(0.5)


def freshness(admin, runs, things):
    """Seconds from a shadow update (HTTP shadow API) to the search that
    finds it."""
    u = urllib.parse.urlparse(os.environ["DATA_URL"])
    data = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    out = []
    for k in range(runs):
        n = name((k * 7919) % things)
        value = 100000 + k
        t0 = time.monotonic()
        data.request("POST", "/things/%s/shadow" % n, body=json.dumps(
            {"state": {"reported": {"battery": value}}}).encode(),
            headers={"Authorization": admin.auth})
        r = data.getresponse()
        r.read()
        if r.status != 200:
            sys.exit("shadow update: %d" % r.status)
        while True:
            got = admin.call("POST", "/indices/search", {
                "queryString": "shadow.reported.battery:%d" % value})
            if [t["thingName"] for t in got["things"]] == [n]:
                out.append(time.monotonic() - t0)
                break
            if time.monotonic() - t0 > 30:
                sys.exit("change never indexed")
    return out


def queries(things):
    mid = name(things // 2)
    return [
        ("term, one thing", "search", "thingName:%s" % mid, None),
        ("term, a third of the fleet (page of 100)", "search",
         "attributes.color:red", None),
        ("term AND term", "search",
         "attributes.color:red AND thingTypeName:lamp", None),
        ("prefix wildcard", "search", "thingName:%s*" % mid[:-2], None),
        ("leading wildcard", "search", "thingName:*%s" % mid[-4:], None),
        ("numeric range, 1%", "search", "shadow.reported.battery<1", None),
        ("numeric range, 60%", "search",
         "shadow.reported.battery:[20 TO 79]", None),
        ("OR of three terms", "search",
         "attributes.site:s1 OR attributes.site:s2 OR attributes.site:s3",
         None),
        ("NOT with AND", "search",
         "NOT attributes.color:red AND shadow.reported.battery<5", None),
        ("connectivity.connected:true", "search",
         "connectivity.connected:true", None),
        ("everything (*)", "search", "*", None),
        ("GetStatistics battery over *", "statistics", "*",
         "shadow.reported.battery"),
        ("GetStatistics battery, color:red", "statistics",
         "attributes.color:red", "shadow.reported.battery"),
        ("GetCardinality site over *", "cardinality", "*",
         "attributes.site"),
        ("GetPercentiles battery over *", "percentiles", "*",
         "shadow.reported.battery"),
    ]


def percentile(values, p):
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))]


def measure(admin, runs, things):
    rows = []
    for label, op, q, field in queries(things):
        body = {"indexName": "AWS_Things", "queryString": q}
        if field:
            body["aggregationField"] = field
        times, result = [], None
        for _ in range(runs):
            t0 = time.monotonic()
            result = admin.call("POST", "/indices/" + op, body)
            times.append((time.monotonic() - t0) * 1000)
        if op == "search":
            shown = "%d things%s" % (len(result["things"]),
                                     ", more" if "nextToken" in result
                                     else "")
        else:
            shown = json.dumps(result, separators=(",", ":"))[:60]
        rows.append({"query": label, "queryString": q, "op": op,
                     "median_ms": statistics.median(times),
                     "p99_ms": percentile(times, 99), "result": shown})
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--things", type=int, required=True)
    ap.add_argument("--runs", type=int, required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--cluster-dir", required=True)
    a = ap.parse_args()
    t0 = time.monotonic()
    load(a.things)
    load_s = time.monotonic() - t0
    admin = Admin()
    build_s, busy = build(admin)
    fresh = freshness(admin, min(a.runs, 20), a.things)
    rows = measure(admin, a.runs, a.things)
    mem = "?"
    try:
        with open("/proc/%s/status" % os.environ["REDIS_PID"]) as f:
            mem = [l.split(":")[1].strip() for l in f
                   if l.startswith("VmRSS")][0]
    except (OSError, KeyError, IndexError):
        pass
    report = {"things": a.things, "runs": a.runs, "load_s": load_s,
              "build_s": build_s, "build_503": busy, "freshness_s": fresh, "queries": rows,
              "redis_memory": mem.strip()}
    with open(os.path.join(a.out, "fleet-index.json"), "w") as f:
        json.dump(report, f, indent=2)
    print("things: %d, loaded in %.1f s; index built in %.1f s (%d "
          "DescribeIndex calls answered 503 meanwhile); Redis RSS %s" % (
              a.things, load_s, build_s, busy, mem.strip()))
    print("change to index (HTTP shadow update, then searched until found):"
          " median %.3f s, max %.3f s over %d" % (
              statistics.median(fresh), max(fresh), len(fresh)))
    print()
    print("| query | queryString | median ms | p99 ms | answer |")
    print("|---|---|---|---|---|")
    for r in rows:
        print("| %s | `%s` | %.1f | %.1f | %s |" % (
            r["query"], r["queryString"], r["median_ms"], r["p99_ms"],
            r["result"]))


if __name__ == "__main__":
    main()
