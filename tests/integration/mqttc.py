"""A thin synchronous wrapper around paho-mqtt 1.6 for the tests.

paho runs its network loop in a background thread (loop_start); this
wrapper turns its callbacks into queues and events so a test can write
"connect, subscribe, publish, expect this message within 5 s".  Every wait
is bounded.  Automatic reconnection is disabled: a test that is
disconnected must see it, not be silently reconnected (that would also
fight a client-id takeover).

Written against the paho-mqtt 1.6 callback signatures (Debian's
python3-paho-mqtt); 2.x changed them.
"""

import queue
import ssl
import threading
import time
import uuid

import paho.mqtt.client as paho
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

V311 = paho.MQTTv311
V5 = paho.MQTTv5
PROTOCOLS = {"3.1.1": V311, "5": V5}

TIMEOUT = 5.0


def unique(prefix="t"):
    """A topic prefix (two levels) no other test uses."""
    return "%s/%s" % (prefix, uuid.uuid4().hex[:12])


class Message:
    """What a subscriber received, copied out of paho's object."""

    def __init__(self, msg):
        self.topic = msg.topic
        self.payload = bytes(msg.payload)
        self.qos = msg.qos
        self.retain = bool(msg.retain)
        self.properties = getattr(msg, "properties", None)

    def __repr__(self):
        return "<Message %s %r qos=%d retain=%d>" % (
            self.topic, self.payload, self.qos, self.retain)


class Client:
    """One paho client.  protocol is V311 or V5."""

    def __init__(self, protocol, client_id=None, clean=True,
                 transport="tcp"):
        """transport "websockets": MQTT over WebSocket (paho's default
        path /mqtt, subprotocol mqtt)."""
        self.protocol = protocol
        if client_id is None:
            client_id = "it-" + uuid.uuid4().hex[:16]
        self.client_id = client_id
        kwargs = {"protocol": protocol, "reconnect_on_failure": False,
                  "transport": transport}
        if protocol == V311:
            kwargs["clean_session"] = clean
        self.clean = clean
        self.paho = paho.Client(client_id, **kwargs)
        self.messages = queue.Queue()
        self.connack = None          # (reason code int, flags, props)
        self.connected = threading.Event()
        self.disconnected = threading.Event()
        self.disconnect_rc = None
        self.acks = {}               # mid -> granted QoS / reason codes
        self.acked = threading.Condition()
        self.paho.on_connect = self._on_connect
        self.paho.on_message = self._on_message
        self.paho.on_subscribe = self._on_subscribe
        self.paho.on_unsubscribe = self._on_unsubscribe
        self.paho.on_disconnect = self._on_disconnect
        self.started = False

    # paho callbacks (1.6 signatures: v5 adds reason-code objects and
    # properties).
    def _on_connect(self, client, userdata, flags, rc, props=None):
        self.connack = (int(getattr(rc, "value", rc)), flags, props)
        self.connected.set()

    def _on_message(self, client, userdata, msg):
        self.messages.put(Message(msg))

    def _on_subscribe(self, client, userdata, mid, granted, props=None):
        codes = [getattr(g, "value", g) for g in granted]
        with self.acked:
            self.acks[mid] = codes
            self.acked.notify_all()

    def _on_unsubscribe(self, client, userdata, mid, props=None,
                        reasons=None):
        if reasons is None:
            codes = []
        elif isinstance(reasons, list):
            codes = [getattr(r, "value", r) for r in reasons]
        else:
            codes = [getattr(reasons, "value", reasons)]
        with self.acked:
            self.acks[mid] = codes
            self.acked.notify_all()

    def _wait_ack(self, mid, what):
        deadline = time.monotonic() + TIMEOUT
        with self.acked:
            while mid not in self.acks:
                left = deadline - time.monotonic()
                assert left > 0, "no %s" % what
                self.acked.wait(left)
            return self.acks.pop(mid)

    def _on_disconnect(self, client, userdata, rc, props=None):
        self.disconnect_rc = int(getattr(rc, "value", rc))
        self.disconnected.set()

    def tls(self, ca_file, cert, key, version=None):
        """Verify the server against ca_file, present cert/key; version
        pins the TLS version (ssl.TLSVersion) when given."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(ca_file)
        ctx.load_cert_chain(cert, key)
        if version is not None:
            ctx.minimum_version = version
            ctx.maximum_version = version
        self.paho.tls_set_context(ctx)

    def will(self, topic, payload, qos=0, retain=False):
        self.paho.will_set(topic, payload, qos, retain)

    def connect(self, host, port, keepalive=10, clean_start=None,
                session_expiry=None, expect_rc=0, properties=None):
        """Connect and wait for the CONNACK; returns (rc, flags, props).
        For v5, clean_start defaults to self.clean, session_expiry sets
        the Session Expiry Interval and properties (a CONNECT Properties)
        the others."""
        kwargs = {}
        if self.protocol == V5:
            kwargs["clean_start"] = (self.clean if clean_start is None
                                     else clean_start)
            if session_expiry is not None:
                if properties is None:
                    properties = Properties(PacketTypes.CONNECT)
                properties.SessionExpiryInterval = session_expiry
            if properties is not None:
                kwargs["properties"] = properties
        self.connected.clear()
        self.disconnected.clear()
        self.paho.connect(host, port, keepalive, **kwargs)
        if not self.started:
            self.paho.loop_start()
            self.started = True
        assert self.connected.wait(TIMEOUT), "no CONNACK from %s:%d" % (
            host, port)
        if expect_rc is not None:
            assert self.connack[0] == expect_rc, self.connack
        return self.connack

    def session_present(self):
        return bool(self.connack[1].get("session present"))

    def subscribe(self, topic, qos=0, expect=None, properties=None,
                  **options):
        """Subscribe and wait for the SUBACK; asserts the granted QoS
        (or v5 reason code) equals `expect` (default: qos).  options are
        MQTT 5 subscription options (noLocal, retainAsPublished,
        retainHandling)."""
        if options:
            rc, mid = self.paho.subscribe(
                topic, options=SubscribeOptions(qos=qos, **options),
                properties=properties)
        else:
            rc, mid = self.paho.subscribe(topic, qos,
                                          properties=properties)
        assert rc == paho.MQTT_ERR_SUCCESS, rc
        codes = self._wait_ack(mid, "SUBACK for %s" % topic)
        assert codes == [qos if expect is None else expect], codes
        return codes

    def unsubscribe(self, topic):
        """Unsubscribe and wait for the UNSUBACK; returns its reason
        codes (MQTT 5; empty for 3.1.1, whose UNSUBACK has none)."""
        rc, mid = self.paho.unsubscribe(topic)
        assert rc == paho.MQTT_ERR_SUCCESS, rc
        return self._wait_ack(mid, "UNSUBACK for %s" % topic)

    def publish(self, topic, payload, qos=0, retain=False,
                properties=None, timeout=TIMEOUT):
        """Publish; for QoS 1/2 wait until the flow completes (PUBACK or
        PUBCOMP), i.e. the broker took responsibility."""
        info = self.paho.publish(topic, payload, qos, retain, properties)
        assert info.rc == paho.MQTT_ERR_SUCCESS, info.rc
        info.wait_for_publish(timeout)
        assert info.is_published(), "publish of %s not acknowledged" % (
            topic)

    def get(self, timeout=TIMEOUT, topic=None):
        """Next message (on `topic` if given, others are skipped)."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            try:
                msg = self.messages.get(timeout=max(left, 0.001))
            except queue.Empty:
                raise AssertionError("%s: no message%s within %.1fs" % (
                    self.client_id, " on " + topic if topic else "",
                    timeout)) from None
            if topic is None or msg.topic == topic:
                return msg

    def drain(self, settle=0.3):
        """All messages that arrive within `settle` seconds of quiet."""
        out = []
        while True:
            try:
                out.append(self.messages.get(timeout=settle))
            except queue.Empty:
                return out

    def wait_disconnected(self, timeout=TIMEOUT):
        assert self.disconnected.wait(timeout), (
            "%s still connected after %.1fs" % (self.client_id, timeout))
        return self.disconnect_rc

    def disconnect(self):
        if self.paho.is_connected():
            self.paho.disconnect()
            self.disconnected.wait(TIMEOUT)

    def close(self):
        self.disconnect()
        if self.started:
            self.paho.loop_stop()
            self.started = False
