"""The whole cluster with real processes and real clients: 2 brokers, 3
routers, Redis (AOF) and HAProxy (`cluster.sh --lb`), Paho for MQTT.

What a user of a cluster would check: publishes cross brokers at every
QoS, exact and wildcard, retained ones too; partitions spread over the
routers, and a router that joins gets its share without loss; shared
subscriptions with members on both brokers (each message to exactly one
member, the strategies, a member that leaves); persistent sessions that
resume on the other broker after a clean disconnect and after `kill -9`
of their broker, that expire on time, whose offline queue is bounded; and
a steady QoS 1 stream of sequence numbers through `kill -9` of a router,
then of a broker, then a Redis restart, with every message acknowledged
to the publisher found at the subscribers that stayed connected or held a
persistent session.  Resume times are printed (pytest -s shows them).
"""

import os
import signal
import time
import uuid

import paho.mqtt.client as paho
import pytest

import conftest
import daemons
import rawmqtt
from daemons import metric
from mqttc import V5, Client, unique
from streams import Receiver, Stream


@pytest.fixture(scope="module")
def c3():
    # The tests start while the three routers still share out the
    # partitions (a few seconds of hand-overs): routing must hold
    # through them (test_partition_moves.py hunts that race on purpose).
    with conftest.start_cluster("c3", brokers=2, routers=3, lb=True) as c:
        yield c


def new_client(made, proto=V5, client_id=None, clean=True):
    c = Client(proto, client_id=client_id, clean=clean)
    made.append(c)
    return c


def metric_or_zero(port, name):
    """metric(), 0 while the daemon does not listen yet."""
    try:
        return metric(port, name)
    except OSError:
        return 0.0


# ---- cross-node routing ----

@pytest.mark.parametrize("qos", [0, 1, 2])
def test_cross_node_every_qos(c3, made, qos):
    """A message published on one broker reaches subscribers of an exact
    and of a wildcard filter on the other, at each QoS."""
    base = unique()
    sub = new_client(made)
    sub.connect(c3.host, c3.mqtt_ports[0])
    sub.subscribe(base + "/exact/x", qos)
    sub.subscribe(base + "/+/y", qos)
    pub = new_client(made)
    pub.connect(c3.host, c3.mqtt_ports[1])
    pub.publish(base + "/exact/x", b"e", qos)
    pub.publish(base + "/w/y", b"w", qos)
    got = sorted((m.topic, m.payload) for m in [sub.get(), sub.get()])
    assert got == [(base + "/exact/x", b"e"), (base + "/w/y", b"w")]


def test_retained_across_nodes(c3, made):
    """A retained message published on one broker is sent to a new
    subscriber on the other (and its deletion is seen there too)."""
    topic = unique() + "/state"
    pub = new_client(made)
    pub.connect(c3.host, c3.mqtt_ports[0])
    pub.publish(topic, b"on", 1, retain=True)
    sub = new_client(made)
    sub.connect(c3.host, c3.mqtt_ports[1])
    sub.subscribe(topic, 1)
    m = sub.get()
    assert (m.payload, m.retain) == (b"on", True)
    pub.publish(topic, b"", 1, retain=True)
    late = new_client(made)
    late.connect(c3.host, c3.mqtt_ports[1])
    late.subscribe(topic, 1)
    assert late.drain(0.5) == []


def test_partitions_spread_over_routers(c3):
    """Every partition has one owner and each of the 3 routers owns about
    a third (rendezvous balancing: within 25 % of 1024/3) once the
    hand-overs of a fresh start have settled."""
    third = 1024 / 3
    deadline = time.monotonic() + 20
    while True:
        owned = [metric(p, "strata_router_partitions_owned")
                 for p in c3.router_metrics_ports]
        if sum(owned) == 1024 and min(owned) > 0.75 * third and \
                max(owned) < 1.25 * third:
            break
        assert time.monotonic() < deadline, owned
        time.sleep(0.25)


# ---- shared subscriptions ----

def share_members(made, c, group, n_per_broker=(2, 1), proto=V5):
    members = []
    for broker, n in enumerate(n_per_broker):
        for _ in range(n):
            m = new_client(made, proto)
            m.connect(c.host, c.mqtt_ports[broker])
            m.subscribe(group, 1)
            members.append(m)
    return members


def drain_all(members, settle=0.5):
    return [[int(x.payload) for x in m.drain(settle)] for m in members]


def test_shared_subscription_across_brokers(c3, made):
    """$share/g/<topic> with 2 members on broker 0 and 1 on broker 1:
    300 QoS 1 messages from broker 1 each reach exactly one member, none
    lost, none twice; round-robin gives each member a third."""
    topic = unique() + "/jobs"
    members = share_members(made, c3, "$share/g/" + topic)
    pub = new_client(made)
    pub.connect(c3.host, c3.mqtt_ports[1])
    for i in range(300):
        pub.publish(topic, str(i).encode(), 1)
    got = drain_all(members)
    flat = sorted(x for g in got for x in g)
    assert flat == list(range(300))
    assert [len(g) for g in got] == [100, 100, 100]


def test_shared_groups_are_independent(c3, made):
    """Two groups on one filter and a plain subscriber: each group gets
    every message once, the plain subscriber every message."""
    topic = unique() + "/t"
    a = share_members(made, c3, "$share/a/" + topic, (1, 1))
    b = share_members(made, c3, "$share/b/" + topic, (0, 2))
    plain = new_client(made)
    plain.connect(c3.host, c3.mqtt_ports[0])
    plain.subscribe(topic, 1)
    pub = new_client(made)
    pub.connect(c3.host, c3.mqtt_ports[0])
    for i in range(40):
        pub.publish(topic, str(i).encode(), 1)
    for group in (a, b):
        assert sorted(x for g in drain_all(group) for x in g) == \
            list(range(40))
    assert sorted(int(m.payload) for m in plain.drain()) == list(range(40))


def test_shared_member_leaving_mid_stream(c3, made):
    """A member that disconnects (no session) while QoS 1 messages flow
    stops receiving; what it had not acknowledged goes to another
    member: every message acknowledged to the publisher arrives."""
    topic = unique() + "/work"
    members = share_members(made, c3, "$share/w/" + topic, (1, 1))
    leaver = Receiver("it-leaver-" + uuid.uuid4().hex[:6], paho.MQTTv5)
    made.append(leaver)
    leaver.connect(c3.host, c3.mqtt_ports[0], "$share/w/" + topic)
    stream = Stream(c3.host, c3.mqtt_ports[1], topic, rate=300).start()
    time.sleep(1.0)
    leaver.client.disconnect()
    leaver.client.loop_stop()
    time.sleep(1.0)
    stream.stop()
    acked = stream.acked()
    got = set(leaver.seqs())
    for m in members:
        got |= {int(x.payload) for x in m.drain(0.5)}
    # a stream of 300/s for 2 s, fewer on a loaded machine
    assert len(acked) > 150
    assert acked - got == set()


def test_shared_no_local_is_a_protocol_error(c3, raws):
    """MQTT 5 3.8.3.1: No Local on a shared subscription is a Protocol
    Error: DISCONNECT 0x82."""
    conn = raws(rawmqtt.RawClient(c3.host, c3.mqtt_ports[0], V5))
    assert conn.handshake("it-snl-" + uuid.uuid4().hex[:8]).reason == 0
    conn.send(rawmqtt.subscribe([("$share/g/" + unique(), 1 | 0x04)], 1,
                                V5))
    pkt = conn.recv_type(rawmqtt.DISCONNECT)
    assert pkt.reason == 0x82


@pytest.mark.parametrize("strategy", ["random", "sticky", "hash-client",
                                      "hash-topic"])
def test_shared_strategies(strategy, made):
    """share-strategy of the routers: random spreads, sticky keeps one
    member, hash-client keeps a publisher's messages on one member,
    hash-topic a topic's."""
    with daemons.own_cluster("strategy_cluster", brokers=2, routers=1,
                             env={"STRATA_SHARE_STRATEGY": strategy}) as c:
        base = unique()
        members = share_members(made, c, "$share/s/" + base + "/+", (1, 1))
        pubs = []
        for i in range(2):
            p = new_client(made)
            p.connect(c.host, c.mqtt_ports[i])
            pubs.append(p)
        for i in range(60):
            pubs[i % 2].publish("%s/%d" % (base, i % 3), str(i).encode(),
                                1)
        got = [[int(x.payload) for x in m.drain(0.5)] for m in members]
        assert sorted(x for g in got for x in g) == list(range(60))
        if strategy == "random":
            assert all(g for g in got), got
        elif strategy == "sticky":
            assert sorted(len(g) for g in got) == [0, 60]
        elif strategy == "hash-client":
            for g in got:   # one publisher's messages stay together
                assert len({x % 2 for x in g}) <= 1 or len(g) == 60
        else:
            for g in got:   # one topic's messages stay together
                topics = {x % 3 for x in g}
                for other in got:
                    if other is not g:
                        assert not topics & {x % 3 for x in other}


# ---- persistent sessions ----

def test_session_resumes_on_other_broker_under_stream(c3, made):
    """A persistent session (3.1.1 clean session 0) disconnects from
    broker 0 while a QoS 1 stream flows, and comes back on broker 1:
    session present, and every acknowledged message arrives (those sent
    while it was away from the queue its broker kept)."""
    topic = unique() + "/s"
    cid = "it-dur-" + uuid.uuid4().hex[:8]
    r = Receiver(cid, clean=False)
    made.append(r)
    r.connect(c3.host, c3.mqtt_ports[0], topic)
    stream = Stream(c3.host, c3.mqtt_ports[1], topic).start()
    time.sleep(1.0)
    r.client.disconnect()
    time.sleep(1.0)
    start = time.monotonic()
    r.connect(c3.host, c3.mqtt_ports[1])
    assert r.connack[1].get("session present") == 1
    time.sleep(1.0)
    stream.stop()
    missing = r.wait_all(stream.acked())
    print("resume on the other broker: CONNACK after %.3fs, %d acked, "
          "%d missing" % (r.first_after(start) or 0, len(stream.acked()),
                          len(missing)))
    assert missing == set()


def test_session_expires(c3, made):
    """MQTT 5 Session Expiry 2 s: back after 1 s (on the other broker)
    the session is there; back after 3.5 s it is not."""
    cid = "it-exp-" + uuid.uuid4().hex[:8]
    topic = unique()
    c = new_client(made, V5, cid, clean=False)
    c.connect(c3.host, c3.mqtt_ports[0], clean_start=True, session_expiry=2)
    c.subscribe(topic, 1)
    c.close()
    time.sleep(1.0)
    c = new_client(made, V5, cid, clean=False)
    c.connect(c3.host, c3.mqtt_ports[1], clean_start=False,
              session_expiry=2)
    assert c.session_present()
    c.close()
    time.sleep(3.5)
    c = new_client(made, V5, cid, clean=False)
    c.connect(c3.host, c3.mqtt_ports[0], clean_start=False,
              session_expiry=2)
    assert not c.session_present()


def test_changed_expiry_on_disconnect(c3, raws):
    """MQTT 5: DISCONNECT with Session Expiry 0 ends a session CONNECT
    made persistent: back on the other broker, no session."""
    cid = "it-dexp-" + uuid.uuid4().hex[:8]
    first = raws(rawmqtt.RawClient(c3.host, c3.mqtt_ports[0], V5))
    assert first.handshake(cid, clean=True, properties=[
        (rawmqtt.PROP_SESSION_EXPIRY, 300)]).reason == 0
    first.send(rawmqtt.disconnect(V5, 0, properties=[
        (rawmqtt.PROP_SESSION_EXPIRY, 0)]))
    time.sleep(0.3)
    second = raws(rawmqtt.RawClient(c3.host, c3.mqtt_ports[1], V5))
    ack = second.handshake(cid, clean=False, properties=[
        (rawmqtt.PROP_SESSION_EXPIRY, 300)])
    assert ack.reason == 0 and not ack.session_present


def test_broker_killed_session_resumes_with_queue_bound(made):
    """kill -9 of the broker holding a persistent session whose client is
    away: the routers queue for it in Redis, bounded by max-queued (20
    here, the rest counted as dropped); the client comes back through the
    other broker with session present and gets the 20 oldest."""
    with conftest.start_cluster("kill_bound_cluster", brokers=2, routers=1,
                                health_check=False,
                                env={"STRATA_MAX_QUEUED": "20"}) as c:
        topic = unique() + "/q"
        cid = "it-kq-" + uuid.uuid4().hex[:8]
        r = Receiver(cid, clean=False)
        made.append(r)
        r.connect(c.host, c.mqtt_ports[0], topic)
        r.client.disconnect()
        time.sleep(0.3)
        os.kill(c.broker_pids[0], signal.SIGKILL)
        # the router queues for it once the broker's lease is gone
        deadline = time.monotonic() + 10
        while metric(c.router_metrics_ports[0],
                     "strata_router_sessions_queueing") < 1:
            assert time.monotonic() < deadline, "not queued for"
            time.sleep(0.2)
        pub = new_client(made)
        pub.connect(c.host, c.mqtt_ports[1])
        for i in range(50):
            pub.publish(topic, str(i).encode(), 1)
        r.connect(c.host, c.mqtt_ports[1])
        assert r.connack[1].get("session present") == 1
        assert r.wait_all(set(range(20))) == set()
        time.sleep(0.5)
        assert r.seqs() == set(range(20))
        assert metric(c.router_metrics_ports[0],
                      "strata_router_session_queue_full_total") == 30


# ---- partitions moving ----

def test_router_join_rebalances_without_loss(made):
    """A third router joins a cluster of two under a QoS 1 stream: it is
    given about a third of the partitions (moved with the hand-over), and
    every acknowledged message still arrives."""
    with daemons.own_cluster("join_cluster", brokers=2, routers=2) as c:
        topic_base = unique()
        r = Receiver("it-join-" + uuid.uuid4().hex[:8])
        made.append(r)
        r.connect(c.host, c.mqtt_ports[0], topic_base + "/#")
        streams = [Stream(c.host, c.mqtt_ports[1], "%s/%d" % (topic_base, i),
                          rate=50).start() for i in range(4)]
        time.sleep(1.0)
        third = daemons.Router(c.redis_port, c.join_args())
        c.extra.append(third.proc)
        deadline = time.monotonic() + 20
        while metric_or_zero(third.metrics_port,
                             "strata_router_partitions_owned") < \
                0.75 * 1024 / 3:
            assert third.alive() and time.monotonic() < deadline
            time.sleep(0.25)
        time.sleep(1.0)
        for s in streams:
            s.stop()
        want = set()
        for i, s in enumerate(streams):
            want |= {(i, x) for x in s.acked()}
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            with r.lock:
                n = len(r.got)
            if n >= len(want):
                break
            time.sleep(0.1)
        assert r.count() >= len(want)
        third.stop()


# ---- faults under a steady stream ----

def test_faults_under_stream(made):
    """A QoS 1 stream (200/s) from broker 1 to a clean subscriber on
    broker 1 and a persistent one on broker 0, through kill -9 of a
    router, kill -9 of broker 0 (the persistent subscriber comes back
    through HAProxy), and a Redis restart (AOF): every message
    acknowledged to the publisher is at both subscribers."""
    with conftest.start_cluster("fault_cluster", brokers=2, routers=3,
                                lb=True, health_check=False) as c:
        c.extra = []
        topic = unique() + "/f"
        steady = Receiver("it-steady-" + uuid.uuid4().hex[:8])
        made.append(steady)
        steady.connect(c.host, c.mqtt_ports[1], topic)
        cid = "it-fault-" + uuid.uuid4().hex[:8]
        durable = Receiver(cid, clean=False)
        made.append(durable)
        durable.connect(c.host, c.mqtt_ports[0], topic)
        stream = Stream(c.host, c.mqtt_ports[1], topic).start()
        time.sleep(1.5)
        report = []

        # 1. a router
        t = time.monotonic()
        os.kill(c.router_pids[0], signal.SIGKILL)
        time.sleep(7.0)
        report.append("router killed: longest gap %.2fs" % steady.max_gap(
            t - 0.5, time.monotonic()))

        # 2. the persistent subscriber's broker
        t = time.monotonic()
        os.kill(c.broker_pids[0], signal.SIGKILL)
        deadline = time.monotonic() + 10
        while True:
            try:
                durable.connect(c.host, c.lb_port)
                break
            except Exception:
                assert time.monotonic() < deadline, "no broker via LB"
                time.sleep(0.1)
        back = time.monotonic() - t
        assert durable.connack[1].get("session present") == 1
        time.sleep(3.0)
        report.append("broker killed: session back through HAProxy after "
                      "%.2fs, steady subscriber's longest gap %.2fs" % (
                          back, steady.max_gap(t - 0.5, time.monotonic())))

        # 3. Redis
        t = time.monotonic()
        daemons.redis_signal(c, signal.SIGKILL)
        time.sleep(1.0)
        daemons.redis_restart(c, daemons.redis_cmdline(c))
        time.sleep(4.0)
        report.append("Redis restarted: longest gap %.2fs" % steady.max_gap(
            t - 0.5, time.monotonic()))

        stream.stop()
        acked = stream.acked()
        lost_steady = steady.wait_all(acked)
        lost_durable = durable.wait_all(acked)
        report.append("%d acknowledged; missing: steady %d, persistent %d" %
                      (len(acked), len(lost_steady), len(lost_durable)))
        print("\n" + "\n".join(report))
        for proc in c.extra:
            proc.terminate()
            proc.wait(10)
        assert len(acked) > 1000
        assert lost_steady == set()
        assert lost_durable == set()
