"""Redis run as production runs it (`cluster.sh --redis-ha`): a primary,
two replicas, three Redis Sentinels; the daemons ask the sentinels for
the primary and wait for one replica (WAIT) on the writes an
acknowledgement depends on.

Under a QoS 1 stream of sequence numbers, with a persistent subscriber
connected, a persistent subscriber away (its messages queued) and a
retained message: `kill -9` of the primary.  The sentinels promote a
replica, every daemon follows it without a restart, every message
acknowledged to the publisher reaches both subscribers, the retained
message and the sessions are intact.  Then a sentinel and a replica die:
nothing notices.  Times are printed (pytest -s shows them).
"""

import os
import signal
import subprocess
import time
import uuid

import paho.mqtt.client as paho
import pytest

import conftest
from daemons import metric
from mqttc import V311, Client, unique
from streams import Receiver, Stream


@pytest.fixture(scope="module")
def ha():
    # the away subscriber's queue takes the whole stream
    with conftest.start_cluster("ha", brokers=2, routers=2,
                                redis_ha=True, health_check=False,
                                env={"STRATA_MAX_QUEUED": "10000"}) as c:
        yield c


def sentinel_primary(c, port):
    """The primary's port as the sentinel on port names it, or None."""
    out = c.redis_cli(port, "SENTINEL", "get-master-addr-by-name", "strata",
                      sentinel=True)[1].split()
    return int(out[1]) if len(out) == 2 and out[1].isdigit() else None


def redis_cli(c, port, *args):
    """The output of redis-cli on data node port, as the daemons' user."""
    return c.redis_cli(port, *args)[1]


def metrics_sum(c, name):
    return sum(metric(p, name) for p in c.metrics_ports)


def daemons_alive(c):
    pids = c.broker_pids + c.router_pids
    return [p for p in pids if p in c.dead_processes()] == []


def test_primary_killed_under_stream(ha, made):
    c = ha
    topic = unique() + "/ha"
    retained = unique() + "/kept"
    setter = Client(V311)
    made.append(setter)
    setter.connect(c.host, c.mqtt_ports[0])
    setter.publish(retained, b"before failover", 1, retain=True)

    online = Receiver("it-ha-on-" + uuid.uuid4().hex[:8], clean=False)
    made.append(online)
    online.connect(c.host, c.mqtt_ports[0], topic)
    away = Receiver("it-ha-away-" + uuid.uuid4().hex[:8], clean=False)
    made.append(away)
    away.connect(c.host, c.mqtt_ports[1], topic)
    away.client.disconnect()
    away.client.loop_stop()

    stream = Stream(c.host, c.mqtt_ports[1], topic, rate=200).start()
    time.sleep(1.5)
    primary_port = c.redis_port
    t = time.monotonic()
    os.kill(c.redis_primary_pid, signal.SIGKILL)
    deadline = t + 30
    while sentinel_primary(c, c.redis_sentinel_ports[0]) in (
            primary_port, None):
        assert time.monotonic() < deadline, "no replica promoted"
        time.sleep(0.1)
    promoted = time.monotonic() - t
    # the daemons follow: every one counts the new primary
    while metrics_sum(c, "strata_broker_redis_failovers_total") < 2 or \
            metrics_sum(c, "strata_router_redis_failovers_total") < 2:
        assert time.monotonic() < deadline, "daemons did not follow"
        time.sleep(0.1)
    followed = time.monotonic() - t
    time.sleep(3.0)
    end = time.monotonic()
    stream.stop()
    acked = stream.acked()
    gap = stream.max_ack_gap(t, end)

    lost_online = online.wait_all(acked)
    away.connect(c.host, c.mqtt_ports[0])
    assert away.connack[1].get("session present") == 1
    lost_away = away.wait_all(acked)
    if lost_away:
        cid = away.client._client_id.decode()
        print(subprocess.run("grep -h -e %s -e 'redis' %s/*.log | sort | "
                             "tail -60; grep -h -e switch -e elected -e "
                             "promoted -e abort -e epoch %s/sentinel-*.log"
                             % (cid, c.log_dir, c.log_dir), shell=True,
                             stdout=subprocess.PIPE).stdout.decode())

    late = Client(V311)
    made.append(late)
    late.connect(c.host, c.mqtt_ports[1])
    late.subscribe(retained, 1)
    got = late.drain(1.0)
    print("\nprimary killed: replica promoted after %.2fs, every daemon on "
          "it after %.2fs, longest time without a PUBACK %.2fs; %d "
          "acknowledged, missing: connected %d, away %d" % (
              promoted, followed, gap, len(acked), len(lost_online),
              len(lost_away)))
    assert daemons_alive(c), "a daemon died"
    # the stream went on: 200/s, fewer on a loaded machine
    assert len(acked) > 500
    assert lost_online == set()
    assert lost_away == set()
    assert [m.payload for m in got] == [b"before failover"]
    # the new primary holds what was acknowledged: the away session's
    # keys and the retained message
    new_port = sentinel_primary(c, c.redis_sentinel_ports[0])
    assert "strata:retained:" in redis_cli(c, new_port, "--scan",
                                           "--pattern", "strata:retained:*")
    assert redis_cli(c, new_port, "EXISTS",
                     "strata:sess:{%s}" % away.client._client_id.decode()
                     ).strip() == "1"


def wait_shorts_steady(c, steady=1.5, limit=15.0):
    """The sum of the short-WAIT counters once it stopped moving."""
    def shorts():
        return metrics_sum(c, "strata_broker_redis_wait_short_total") + \
            metrics_sum(c, "strata_router_redis_wait_short_total")
    deadline = time.monotonic() + limit
    last, since = shorts(), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.25)
        now = shorts()
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= steady:
            break
    return last


def test_sentinel_killed_changes_nothing(ha, made):
    """After the failover above: a sentinel dies; the stream goes on
    without a pause and WAIT still finds its replica."""
    c = ha
    topic = unique() + "/calm"
    sub = Receiver("it-ha-calm-" + uuid.uuid4().hex[:8], clean=False)
    made.append(sub)
    sub.connect(c.host, c.mqtt_ports[0], topic)
    stream = Stream(c.host, c.mqtt_ports[1], topic, rate=200).start()
    # the failover above leaves a replica re-syncing for a while (longer
    # on a loaded machine), and WAITs may come up short meanwhile: start
    # once they have been steady for 1.5 s (at most 15 s)
    short_before = wait_shorts_steady(c)
    t = time.monotonic()
    os.kill(c.redis_sentinel_pids[2], signal.SIGKILL)
    time.sleep(2.0)
    end = time.monotonic()
    stream.stop()
    acked = stream.acked()
    gap = stream.max_ack_gap(t, end)
    lost = sub.wait_all(acked)
    short_after = metrics_sum(c, "strata_broker_redis_wait_short_total") + \
        metrics_sum(c, "strata_router_redis_wait_short_total")
    print("\nsentinel killed: longest time without a PUBACK %.2fs, %d "
          "acknowledged, missing %d" % (gap, len(acked), len(lost)))
    assert daemons_alive(c)
    assert lost == set()
    assert gap < 1.0
    assert short_after == short_before


def test_replica_killed_changes_nothing():
    """Its own cluster: a replica dies, the other one takes the WAITs."""
    with conftest.start_cluster("ha_replica", brokers=1, routers=1,
                                redis_ha=True, health_check=False) as c:
        topic = unique() + "/replica"
        sub = Receiver("it-ha-rep-" + uuid.uuid4().hex[:8], clean=False)
        sub.connect(c.host, c.mqtt_ports[0], topic)
        stream = Stream(c.host, c.mqtt_ports[0], topic, rate=200).start()
        try:
            time.sleep(1.0)
            t = time.monotonic()
            os.kill(c.redis_replica_pids[0], signal.SIGKILL)
            time.sleep(2.0)
            end = time.monotonic()
            stream.stop()
            acked = stream.acked()
            gap = stream.max_ack_gap(t, end)
            lost = sub.wait_all(acked)
            short = metric(c.broker_metrics_ports[0],
                           "strata_broker_redis_wait_short_total") + \
                metric(c.router_metrics_ports[0],
                       "strata_router_redis_wait_short_total")
            print("\nreplica killed: longest time without a PUBACK %.2fs, "
                  "%d acknowledged, missing %d" % (gap, len(acked),
                                                   len(lost)))
            assert lost == set()
            assert gap < 1.0
            assert short == 0
            assert [p for p in c.broker_pids + c.router_pids
                    if p in c.dead_processes()] == []
        finally:
            sub.close()


def test_paho_client_unaffected_by_missing_sentinels(ha, made):
    """With one sentinel gone, a new connection and a QoS 1 round trip
    still work (the daemons ask the sentinels that answer)."""
    c = ha
    topic = unique() + "/rt"
    sub = Client(V311)
    made.append(sub)
    sub.connect(c.host, c.mqtt_ports[1])
    sub.subscribe(topic, 1)
    pub = paho.Client("it-ha-rt-" + uuid.uuid4().hex[:8])
    pub.connect(c.host, c.mqtt_ports[0])
    pub.loop_start()
    try:
        pub.publish(topic, b"round trip", 1).wait_for_publish(5)
        got = sub.drain(1.0)
        assert [m.payload for m in got] == [b"round trip"]
    finally:
        pub.loop_stop()
        pub.disconnect()
