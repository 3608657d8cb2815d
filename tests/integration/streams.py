"""Helpers of the fault tests: a sequence-numbered QoS 1 stream published
with Paho, and a Paho subscriber that records what it got and when."""

import threading
import time
import uuid

import paho.mqtt.client as paho

TIMEOUT = 10.0


class Stream:
    """One Paho publisher sending "<seq>" at QoS 1 on topic, about rate a
    second, in its own thread, until stop(); acked() is the set of seqs
    whose PUBACK came (the cluster took responsibility for them).  It
    reconnects (to the same port) when its broker drops it."""

    def __init__(self, host, port, topic, rate=200, max_count=20000):
        assert max_count < 65535, "mids would wrap"
        self.host, self.port, self.topic = host, port, topic
        self.rate, self.max_count = rate, max_count
        self.client = paho.Client("it-stream-" + uuid.uuid4().hex[:8],
                                  protocol=paho.MQTTv311,
                                  clean_session=True)
        self.client.max_inflight_messages_set(100)
        self.client.on_publish = self._on_publish
        # Paho calls on_publish holding its own message mutex, which
        # publish() takes too: never call publish() holding self.lock.
        self.lock = threading.Lock()
        self.mids = {}              # mid -> seq (mids do not wrap here)
        self.acked_mids = set()
        self.ack_times = []         # monotonic time of each PUBACK
        self.sent = 0
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _on_publish(self, client, userdata, mid):
        with self.lock:
            self.acked_mids.add(mid)
            self.ack_times.append(time.monotonic())

    def max_ack_gap(self, after, before):
        """The longest time without a PUBACK in [after, before]."""
        with self.lock:
            times = [t for t in self.ack_times if after <= t <= before]
        points = [after] + times + [before]
        return max(b - a for a, b in zip(points, points[1:]))

    def start(self):
        self.client.connect(self.host, self.port, 30)
        self.client.loop_start()
        self.thread.start()
        return self

    def _run(self):
        seq = 0
        period = 1.0 / self.rate
        while not self.stopping.is_set() and seq < self.max_count:
            if not self.client.is_connected():
                time.sleep(0.05)
                continue
            info = self.client.publish(self.topic, str(seq), 1)
            if info.rc == paho.MQTT_ERR_SUCCESS:
                with self.lock:
                    self.mids[info.mid] = seq
                seq += 1
            self.sent = seq
            time.sleep(period)

    def stop(self, settle=3.0):
        """Stop sending; wait (bounded) for the acks still due."""
        self.stopping.set()
        self.thread.join(TIMEOUT)
        deadline = time.monotonic() + settle
        while time.monotonic() < deadline:
            with self.lock:
                if self.mids.keys() <= self.acked_mids:
                    break
            time.sleep(0.05)
        self.client.loop_stop()
        self.client.disconnect()

    def acked(self):
        with self.lock:
            return {seq for mid, seq in self.mids.items()
                    if mid in self.acked_mids}


class Receiver:
    """A Paho subscriber of the stream: the seqs it got, with times."""

    def __init__(self, client_id, proto=paho.MQTTv311, clean=True):
        kwargs = {"protocol": proto}
        if proto == paho.MQTTv311:
            kwargs["clean_session"] = clean
        self.client = paho.Client(client_id, **kwargs)
        self.client.max_inflight_messages_set(100)
        self.lock = threading.Lock()
        self.got = []               # (monotonic time, seq)
        self.connack = None
        self.connected = threading.Event()
        self.client.on_message = self._on_message
        self.client.on_connect = self._on_connect
        self.started = False

    def _on_message(self, client, userdata, msg):
        with self.lock:
            self.got.append((time.monotonic(), int(msg.payload)))

    def _on_connect(self, client, userdata, flags, rc, props=None):
        self.connack = (int(getattr(rc, "value", rc)), flags)
        self.connected.set()

    def connect(self, host, port, topic=None, **kwargs):
        """(Re)connect, with a fresh network thread (the last one ends
        with its connection)."""
        self.connected.clear()
        if self.started:
            self.client.loop_stop()
        self.client.connect(host, port, 30, **kwargs)
        self.client.loop_start()
        self.started = True
        assert self.connected.wait(TIMEOUT), "no CONNACK"
        assert self.connack[0] == 0, self.connack
        if topic is not None:
            rc, mid = self.client.subscribe(topic, 1)
            assert rc == 0
            time.sleep(0.3)
        return self.connack

    def seqs(self):
        with self.lock:
            return {s for _, s in self.got}

    def count(self):
        with self.lock:
            return len(self.got)

    def max_gap(self, after, before):
        """The longest time between two messages in [after, before]."""
        with self.lock:
            times = [t for t, _ in self.got if after <= t <= before]
        if len(times) < 2:
            return before - after
        return max(b - a for a, b in zip(times, times[1:]))

    def first_after(self, t):
        with self.lock:
            later = [x for x, _ in self.got if x > t]
        return min(later) - t if later else None

    def wait_all(self, want, timeout=20.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not want - self.seqs():
                return set()
            time.sleep(0.1)
        return want - self.seqs()

    def close(self):
        self.client.loop_stop()
        try:
            self.client.disconnect()
        except Exception:
            pass
