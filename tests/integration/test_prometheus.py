"""Every daemon watched by a real Prometheus (Debian's package): the
shared cluster's brokers, routers, strata-shadowd and strata-rulesd
scraped by a Prometheus the test starts on free ports, every target up,
and queries answered for the metrics docs/operations.md and the Grafana
dashboard rely on (histograms included); `promtool check metrics` finds
nothing to say about any daemon's exposition (HELP and TYPE lines,
names, units)."""

import json
import subprocess
import time
import urllib.parse
import urllib.request

import pytest

import daemons
from mqttc import V5, unique


def _targets(c):
    return {
        "strata-broker": c.broker_metrics_ports,
        "strata-router": c.router_metrics_ports,
        "strata-shadowd": c.shadowd_metrics_ports,
        "strata-rulesd": c.rulesd_metrics_ports,
    }


@pytest.fixture(scope="module")
def prom(cluster, tmp_path_factory):
    d = tmp_path_factory.mktemp("prometheus")
    jobs = []
    for job, ports in _targets(cluster).items():
        jobs.append({"job_name": job, "scrape_interval": "1s",
                     "static_configs": [{"targets": [
                         "127.0.0.1:%d" % p for p in ports]}]})
    (d / "prometheus.yml").write_text(json.dumps({
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "scrape_configs": jobs}))
    port = daemons.free_port()
    log = open(d / "prometheus.log", "wb")
    proc = subprocess.Popen(
        ["prometheus", "--config.file=%s" % (d / "prometheus.yml"),
         "--storage.tsdb.path=%s" % (d / "data"),
         "--web.listen-address=127.0.0.1:%d" % port],
        stdout=log, stderr=log)
    log.close()
    try:
        daemons.wait_port(port, proc, timeout=30)
        url = "http://127.0.0.1:%d" % port
        deadline = time.monotonic() + 30
        while True:  # the port opens before the storage is ready
            try:
                with urllib.request.urlopen(url + "/-/ready", timeout=2):
                    break
            except Exception:
                assert time.monotonic() < deadline, "Prometheus not ready"
                time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(15)


def _get(url):
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.loads(r.read())


def _query(prom, q):
    return _get(prom + "/api/v1/query?query=" + urllib.parse.quote(q))[
        "data"]["result"]


def test_every_daemon_is_up_in_prometheus(cluster, prom, clients):
    """All targets up within 20 s; then the gauges, counters and
    histograms an operator graphs have values (traffic made for them)."""
    want = sum(len(p) for p in _targets(cluster).values())
    deadline = time.monotonic() + 20
    while True:
        active = _get(prom + "/api/v1/targets")["data"]["activeTargets"]
        up = [t for t in active if t["health"] == "up"]
        if len(up) == want or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert len(up) == want, [(t["scrapeUrl"], t["health"], t["lastError"])
                             for t in active]
    # some QoS 1 traffic for the histograms
    sub = clients(V5, broker=1)
    topic = unique("prom")
    sub.subscribe(topic, 1)
    pub = clients(V5)
    for i in range(20):
        pub.publish(topic, b"m%d" % i, qos=1)
    for _ in range(20):
        sub.get()
    gone = clients(V5)
    gone.disconnect()  # a CLIENT_INITIATED_DISCONNECT
    for q in ("sum(strata_broker_connections)",
              "sum(strata_router_partitions_owned)",
              "sum(strata_broker_publish_ack_seconds_count)",
              "sum(strata_broker_redis_command_seconds_count)",
              "sum(strata_router_redis_command_seconds_count)",
              "sum(strata_broker_disconnects_total)",
              "sum(strata_broker_metered_messages_total)"):
        deadline = time.monotonic() + 10
        while True:
            res = _query(prom, q)
            if res and float(res[0]["value"][1]) > 0:
                break
            assert time.monotonic() < deadline, (q, res)
            time.sleep(0.5)
    # a rate needs two scrapes of the series in its window
    deadline = time.monotonic() + 10
    while True:
        res = _query(prom, "histogram_quantile(0.99, sum by (le) (rate("
                           "strata_broker_publish_ack_seconds_bucket[1m])))")
        if res or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert res, "no p99 of the publish acknowledgement"
    assert sum(float(r["value"][1]) for r in _query(
        prom, "strata_router_partitions_owned")) == 1024


def test_promtool_finds_nothing_to_say(cluster):
    """Each daemon's /metrics passes `promtool check metrics`."""
    for job, ports in _targets(cluster).items():
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" %
                                    ports[0], timeout=5) as r:
            text = r.read()
        res = subprocess.run(["promtool", "check", "metrics"], input=text,
                             stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, timeout=30)
        assert res.returncode == 0 and not res.stdout.strip(), (
            job, res.stdout.decode()[:2000])
