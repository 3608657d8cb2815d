"""MQTT.js clients for the tests where Paho 1.6 falls short.

Paho 1.6 cannot receive topic aliases from a server and does not show the
Reason String of an ack.  MQTT.js can: tests/js/mqttjs-agent.js runs one
MQTT.js client in a Node.js process, and JsClient here drives it over
stdin/stdout, one JSON line per command, answered by one JSON line, with
every packet that arrived reported as an event line (see the agent's
header for the protocol).  Every wait is bounded; the process is stopped
by its PID at close().

The agent needs tests/js/node_modules (`npm ci`, which deploy/deps.sh
runs; ensure_installed() runs it too when it is missing).  STRATA_NODE
names another node binary (e.g. Debian's Node 18, to check the pinned
mqtt version works with it).
"""

import json
import os
import queue
import shutil
import subprocess
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
JS_DIR = os.path.join(ROOT, "tests", "js")
AGENT = os.path.join(JS_DIR, "mqttjs-agent.js")
TIMEOUT = 15.0


def node_binary():
    return os.environ.get("STRATA_NODE") or shutil.which("node") or \
        shutil.which("nodejs")


def ensure_installed(timeout=300):
    """Make sure node and tests/js/node_modules are there (`npm ci` when
    the modules are missing).  Returns an error text, or None."""
    if node_binary() is None:
        return "node not found: run deploy/deps.sh (Debian's nodejs, npm)"
    if os.path.isdir(os.path.join(JS_DIR, "node_modules", "mqtt")):
        return None
    npm = shutil.which("npm")
    if npm is None:
        return "npm not found: run deploy/deps.sh (Debian's npm)"
    run = subprocess.run([npm, "ci"], cwd=JS_DIR, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, timeout=timeout)
    if run.returncode != 0:
        return "npm ci failed:\n" + run.stdout.decode("utf-8", "replace")
    return None


def unhex(value):
    """{"$hex": ...} (a Buffer as the agent writes it) -> bytes."""
    if isinstance(value, dict) and "$hex" in value:
        return bytes.fromhex(value["$hex"])
    return value


class JsClient:
    """One MQTT.js client (MQTT 5) in its own Node.js process."""

    def __init__(self):
        self.stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            [node_binary(), AGENT], cwd=JS_DIR, stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=self.stderr)
        self.replies = queue.Queue()
        self.events = queue.Queue()
        self.seen = []            # every event, in order
        self.next_id = 0
        self.lock = threading.Lock()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            if "event" in obj:
                with self.lock:
                    self.seen.append(obj)
                self.events.put(obj)
            else:
                self.replies.put(obj)

    def call(self, op, timeout=TIMEOUT, **args):
        """Send one command and return its answer (a dict)."""
        self.next_id += 1
        cmd = dict(args, op=op, id=self.next_id)
        self.proc.stdin.write((json.dumps(cmd) + "\n").encode())
        self.proc.stdin.flush()
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            try:
                reply = self.replies.get(timeout=max(left, 0.001))
            except queue.Empty:
                raise AssertionError("mqttjs: no answer to %s within "
                                     "%.0fs; agent stderr: %s" % (
                                         op, timeout, self.stderr_text())
                                     ) from None
            if reply.get("id") == cmd["id"]:
                return reply

    def connect(self, host, port, client_id, clean=True, properties=None,
                keepalive=30, **more):
        """CONNECT (MQTT 5); returns the answer: connack (the packet as
        MQTT.js decoded it) and error (a refused CONNACK).  more: the
        agent's other connect fields (url for ws:// and wss://, ca, cert,
        key, wsHeaders, username, password, protocolVersion)."""
        return self.call("connect", host=host, port=port,
                         clientId=client_id, clean=clean,
                         keepalive=keepalive, properties=properties or {},
                         **more)

    def subscribe(self, topic, qos=0, properties=None):
        """SUBSCRIBE; the answer holds granted and suback."""
        return self.call("subscribe", topic=topic, qos=qos,
                         properties=properties or {})

    def unsubscribe(self, topic):
        return self.call("unsubscribe", topic=topic)

    def publish(self, topic, payload=b"", qos=0, retain=False,
                properties=None):
        """Publish; for QoS 1/2 the answer comes with the flow's end and
        holds the acks (puback/pubrec/pubcomp packets) and error."""
        return self.call("publish", topic=topic, payloadHex=payload.hex(),
                         qos=qos, retain=retain,
                         properties=properties or {})

    def next_event(self, kind, timeout=TIMEOUT, match=None):
        """The next event of that kind ("message", "packet", "error",
        "close") for which match(event) holds; others are skipped."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            try:
                ev = self.events.get(timeout=max(left, 0.001))
            except queue.Empty:
                raise AssertionError("mqttjs: no %s event within %.1fs"
                                     % (kind, timeout)) from None
            if ev["event"] == kind and (match is None or match(ev)):
                return ev

    def messages(self, n, topic=None, timeout=TIMEOUT):
        """The next n messages (on topic if given) as MQTT.js delivers
        them (topic aliases resolved)."""
        return [self.next_event(
            "message", timeout,
            None if topic is None else lambda e: e["topic"] == topic)
            for _ in range(n)]

    def received(self, cmd=None):
        """Every packet received so far (cmd: only that type), as the
        server sent it."""
        with self.lock:
            return [e["packet"] for e in self.seen if e["event"] ==
                    "packet" and (cmd is None or e["packet"]["cmd"] == cmd)]

    def stderr_text(self):
        self.stderr.seek(0)
        return self.stderr.read().decode("utf-8", "replace")[-2000:]

    def errors(self):
        with self.lock:
            return [e["error"] for e in self.seen if e["event"] == "error"]

    def close(self):
        if self.proc.poll() is None:
            try:
                self.call("end", timeout=5)
            except (AssertionError, OSError):
                pass
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        for f in (self.proc.stdin, self.proc.stdout, self.stderr):
            try:
                f.close()
            except OSError:
                pass
