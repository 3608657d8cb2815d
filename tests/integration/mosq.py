"""mosquitto_sub / mosquitto_pub driven as subprocesses.

mosquitto_sub gives no machine-readable "subscribed" signal, so Sub runs it
with -d (debug lines on stdout, line-buffered through stdbuf) and waits for
the "received SUBACK" line before the test publishes.  Every wait is
bounded.
"""

import queue
import shutil
import subprocess
import threading
import time

TIMEOUT = 5.0


def _tls_args(tls):
    """tls: None or dict(port-independent) cafile, cert, key, version
    ('tlsv1.2' / 'tlsv1.3')."""
    if not tls:
        return []
    args = ["--cafile", tls["cafile"], "--cert", tls["cert"],
            "--key", tls["key"]]
    if tls.get("version"):
        args += ["--tls-version", tls["version"]]
    return args


def _proto_args(protocol):
    return ["-V", {4: "mqttv311", 5: "mqttv5"}[protocol]]


class Sub:
    """A running mosquitto_sub -v; lines() are 'topic payload'."""

    def __init__(self, host, port, topic, protocol=4, qos=1, tls=None,
                 count=None, client_id=None):
        cmd = ["mosquitto_sub", "-h", host, "-p", str(port), "-t", topic,
               "-q", str(qos), "-v", "-d"]
        if client_id is not None:
            cmd += ["-i", client_id]
        if count is not None:
            cmd += ["-C", str(count)]
        cmd += _proto_args(protocol) + _tls_args(tls)
        if shutil.which("stdbuf"):
            cmd = ["stdbuf", "-oL"] + cmd
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT)
        self.lines = queue.Queue()
        self.seen = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for raw in self.proc.stdout:
            self.lines.put(raw.decode("utf-8", "replace").rstrip("\n"))
        self.lines.put(None)

    def wait_for(self, predicate, timeout=TIMEOUT, what="line"):
        """First output line satisfying predicate; fails on timeout or
        exit, showing everything seen."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            try:
                line = self.lines.get(timeout=max(left, 0.001))
            except queue.Empty:
                raise AssertionError("mosquitto_sub: no %s within %.1fs; "
                                     "output:\n%s" % (what, timeout,
                                                      "\n".join(self.seen)))
            if line is None:
                raise AssertionError("mosquitto_sub exited (rc %r) "
                                     "before %s; output:\n%s" % (
                                         self.proc.poll(), what,
                                         "\n".join(self.seen)))
            self.seen.append(line)
            if predicate(line):
                return line

    def wait_subscribed(self):
        self.wait_for(lambda l: "received SUBACK" in l, what="SUBACK")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(TIMEOUT)
        self.proc.stdout.close()


def pub(host, port, topic, message, protocol=4, qos=1, tls=None,
        retain=False, client_id=None):
    """mosquitto_pub once; asserts it exits 0 and returns its output."""
    cmd = ["mosquitto_pub", "-h", host, "-p", str(port), "-t", topic,
           "-m", message, "-q", str(qos)] + _proto_args(protocol)
    if client_id is not None:
        cmd += ["-i", client_id]
    cmd += _tls_args(tls)
    if retain:
        cmd.append("-r")
    r = subprocess.run(cmd, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=TIMEOUT * 2)
    out = r.stdout.decode("utf-8", "replace")
    assert r.returncode == 0, "mosquitto_pub rc %d: %s" % (r.returncode, out)
    return out
