"""A rolling restart of every daemon under a steady QoS 1 load, as an
operator (or Kubernetes) upgrades a running cluster: `cluster.sh --lb`
with 2 brokers, 3 routers, strata-shadowd and strata-rulesd behind
HAProxy; each daemon in turn gets SIGTERM, exits cleanly (status 0) and
starts again with its command line and environment, and the next waits
until it answers /healthz.  The publisher and two persistent
subscribers (MQTT 3.1.1 and MQTT 5) reach the cluster through HAProxy
and reconnect there when their broker drains them; every message the
cluster acknowledged to the publisher must reach both subscribers, and
the MQTT 5 one must have been told DISCONNECT 0x8B (server shutting
down).  docs/operations.md, "Upgrading"."""

import os
import signal
import subprocess
import threading
import time
import urllib.request
import uuid

import paho.mqtt.client as paho
from paho.mqtt.properties import Properties
from paho.mqtt.packettypes import PacketTypes

import conftest
from streams import Receiver, Stream


def _proc_args(pid):
    with open("/proc/%d/cmdline" % pid, "rb") as f:
        argv = [a.decode() for a in f.read().split(b"\0") if a]
    with open("/proc/%d/environ" % pid, "rb") as f:
        env = dict(e.decode().split("=", 1) for e in f.read().split(b"\0")
                   if b"=" in e)
    return argv, env


def _healthy(port):
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/healthz" % port,
                                    timeout=1) as r:
            return r.status == 200
    except Exception:
        return False


def _restart(c, pid, metrics_port, name):
    """SIGTERM pid, wait for its exit status, start it again the same way
    (its log continues in LOG_DIR/<name>-restarted.log); the new process
    once its /healthz says 200."""
    argv, env = _proc_args(pid)
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 15
    status = None
    while time.monotonic() < deadline:
        # cluster.sh's children are not ours: poll /proc for the exit
        if not os.path.exists("/proc/%d" % pid) or \
                open("/proc/%d/stat" % pid).read().split()[2] == "Z":
            status = 0
            break
        time.sleep(0.05)
    assert status == 0, "%s did not exit within 15 s of SIGTERM" % name
    log = open(os.path.join(c.log_dir, name + "-restarted.log"), "ab")
    proc = subprocess.Popen(argv, env=env, stdout=log, stderr=log)
    log.close()
    c.extra.append(proc)
    with open(os.path.join(c.dir, "pids"), "a") as f:
        f.write("%d\n" % proc.pid)  # `cluster.sh down` stops it too
    deadline = time.monotonic() + 15
    while not _healthy(metrics_port):
        assert proc.poll() is None, "%s exited at start" % name
        assert time.monotonic() < deadline, "%s not healthy" % name
        time.sleep(0.05)
    return proc


class V5Receiver(Receiver):
    """A persistent MQTT 5 subscriber (Session Expiry 300 s) that notes
    the reason codes of the DISCONNECTs the server sent it."""

    def __init__(self, client_id):
        super().__init__(client_id, proto=paho.MQTTv5)
        self.disconnects = []
        self.connacks = []       # session present of each
        self.client.on_disconnect = self._on_disconnect

    def _on_disconnect(self, client, userdata, rc, props=None):
        self.disconnects.append(int(getattr(rc, "value", rc)))

    def _on_connect(self, client, userdata, flags, rc, props=None):
        self.connacks.append(flags.get("session present"))
        super()._on_connect(client, userdata, flags, rc, props)

    def connect(self, host, port, topic=None):
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 300
        return super().connect(host, port, topic, clean_start=False,
                               properties=props)


def test_rolling_restart_loses_nothing(made):
    with conftest.start_cluster("rolling_cluster", brokers=2, routers=3,
                                lb=True, shadowd=1, rulesd=1,
                                health_check=False) as c:
        c.extra = []
        try:
            _rolling(c, made)
        finally:
            for proc in c.extra:
                if proc.poll() is None:
                    proc.terminate()
                    proc.wait(10)


def _rolling(c, made):
    topic = "it/rolling/" + uuid.uuid4().hex[:8]
    v3 = Receiver("it-roll-v3-" + uuid.uuid4().hex[:8], clean=False)
    made.append(v3)
    v3.connect(c.host, c.lb_port, topic)
    v5 = V5Receiver("it-roll-v5-" + uuid.uuid4().hex[:8])
    made.append(v5)
    v5.connect(c.host, c.lb_port, topic)
    for r in (v3, v5):
        r.client.reconnect_delay_set(0.2, 1)
    stream = Stream(c.host, c.lb_port, topic, rate=150)
    stream.client.reconnect_delay_set(0.2, 1)
    stream.start()
    time.sleep(1.5)
    order = ([("router-%d" % i, pid, c.router_metrics_ports[i])
              for i, pid in enumerate(c.router_pids)] +
             [("broker-%d" % i, pid, c.broker_metrics_ports[i])
              for i, pid in enumerate(c.broker_pids)] +
             [("shadowd-0", c.shadowd_pids[0], c.shadowd_metrics_ports[0]),
              ("rulesd-0", c.rulesd_pids[0], c.rulesd_metrics_ports[0])])
    report = []
    for name, pid, port in order:
        t = time.monotonic()
        _restart(c, pid, port, name)
        report.append("%s back in %.2fs" % (name, time.monotonic() - t))
        time.sleep(1.0)
    time.sleep(2.0)
    stream.stop(settle=10.0)
    acked = stream.acked()
    lost3 = v3.wait_all(acked)
    lost5 = v5.wait_all(acked)
    report.append("MQTT 5 subscriber's CONNACKs: %r" % v5.connacks)
    report.append("%d acknowledged; missing: 3.1.1 %d, 5 %d; the 5 "
                  "subscriber's DISCONNECT codes %r" % (
                      len(acked), len(lost3), len(lost5), v5.disconnects))
    print("\n" + "\n".join(report))
    assert len(acked) > 1000, report
    assert lost3 == set(), sorted(lost3)[:20]
    assert lost5 == set(), sorted(lost5)[:20]
    assert 0x8B in v5.disconnects, v5.disconnects
    # its session came back on another broker after each drain
    assert len(v5.connacks) >= 2 and all(v5.connacks[1:]), v5.connacks
