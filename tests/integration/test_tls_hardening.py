"""The TLS listener's hardening, on brokers of the tests' own with
certificates each test makes with the openssl command line: client
certificates required by default (and a TLS listener without tls-ca a
configuration error), cipher, suite and group options, TLS 1.2 session
resumption with a client certificate, a CRL that refuses a revoked
certificate, ALPN as AWS IoT offers it on port 443, the plain port kept
on loopback, and SIGHUP reloading the certificate, key, CA list and CRL
without dropping the connections already open."""

import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import time
import uuid

import pytest

import daemons
import rawmqtt
from rawmqtt import V311

HOST = "127.0.0.1"
TLS12 = ssl.TLSVersion.TLSv1_2
TLS13 = ssl.TLSVersion.TLSv1_3
VERSIONS = {"tls1.2": TLS12, "tls1.3": TLS13}
FAILURES = "strata_broker_tls_handshake_failures_total"
RELOADS = "strata_broker_tls_reloads_total"

CA_CONFIG = """\
[ca]
default_ca = test_ca

[test_ca]
dir = .
database = index.txt
new_certs_dir = issued
certificate = ca.crt
private_key = ca.key
rand_serial = yes
crlnumber = crlnumber
default_md = sha256
default_days = 2
default_crl_days = 2
policy = policy_any
unique_subject = no

[policy_any]
commonName = supplied
"""


def openssl(*args, cwd):
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                   timeout=30)


class Pki:
    """A CA in directory d, with what `openssl ca` needs to issue,
    revoke and write CRLs (an index, a CRL number, a minimal config).
    Keys are EC P-256."""

    def __init__(self, d, name="Strata Test CA"):
        self.d = str(d)
        os.makedirs(os.path.join(self.d, "issued"), exist_ok=True)
        with open(os.path.join(self.d, "ca.cnf"), "w") as f:
            f.write(CA_CONFIG)
        open(os.path.join(self.d, "index.txt"), "w").close()
        with open(os.path.join(self.d, "crlnumber"), "w") as f:
            f.write("1000\n")
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt",
                "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
                "ca.key", "-out", "ca.crt", "-subj", "/CN=" + name,
                "-days", "2", cwd=self.d)
        self.ca = self.path("ca.crt")

    def path(self, name):
        return os.path.join(self.d, name)

    def issue(self, name, server=False):
        """A certificate (CN name) and its key: (cert path, key path)."""
        ext = ("subjectAltName=IP:127.0.0.1,DNS:localhost\n"
               "extendedKeyUsage=serverAuth\n" if server else
               "extendedKeyUsage=clientAuth\n")
        with open(self.path(name + ".ext"), "w") as f:
            f.write(ext)
        openssl("req", "-newkey", "ec", "-pkeyopt",
                "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
                name + ".key", "-out", name + ".csr", "-subj", "/CN=" + name,
                cwd=self.d)
        openssl("ca", "-batch", "-notext", "-config", "ca.cnf", "-in",
                name + ".csr", "-out", name + ".crt", "-extfile",
                name + ".ext", cwd=self.d)
        return self.path(name + ".crt"), self.path(name + ".key")

    def revoke(self, cert):
        openssl("ca", "-config", "ca.cnf", "-revoke", cert, cwd=self.d)

    def crl(self, out):
        """Write the CA's CRL (PEM) to out, atomically."""
        openssl("ca", "-config", "ca.cnf", "-gencrl", "-out", out + ".new",
                cwd=self.d)
        os.replace(out + ".new", out)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """A CA with a server certificate and a client certificate."""
    p = Pki(tmp_path_factory.mktemp("pki"))
    p.server = p.issue("server", server=True)
    p.client = p.issue("client")
    return p


def tls_args(port, cert, key, ca=None, *more):
    """The TLS options of a test broker.  These tests are about the TLS
    layer, with a CA of their own whose certificates the registry does
    not know: tls-auth chain (test_registry.py covers the registry)."""
    args = ["--tls-port", str(port), "--tls-cert", cert, "--tls-key", key,
            "--tls-auth", "chain"]
    if ca is not None:
        args += ["--tls-ca", ca]
    return args + list(more)


def start_tls(extra_broker, pki, *more, server=None, ca="pki"):
    """An extra broker with a TLS listener on pki's certificates;
    returns it with .tls_port set."""
    port = daemons.free_port()
    cert, key = server or pki.server
    b = extra_broker(*tls_args(port, cert, key,
                               pki.ca if ca == "pki" else ca, *more))
    b.tls_port = port
    return b


def client_ctx(ca, cert=None, version=None, alpn=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(ca)
    if cert is not None:
        ctx.load_cert_chain(*cert)
    if version is not None:
        ctx.minimum_version = ctx.maximum_version = version
    if alpn is not None:
        ctx.set_alpn_protocols(alpn)
    return ctx


class TlsRaw(rawmqtt.RawClient):
    """rawmqtt.RawClient over TLS: the handshake happens here (and may
    raise ssl.SSLError)."""

    def __init__(self, port, ctx, version=V311, session=None, timeout=5.0):
        self.version = version
        self.buf = bytearray()
        self.eof = False
        s = socket.create_connection((HOST, port), timeout)
        try:
            self.sock = ctx.wrap_socket(s, server_hostname=HOST,
                                        session=session)
        except BaseException:
            s.close()
            raise

    def connack(self, prefix="it-tlsh"):
        ack = self.handshake("%s-%s" % (prefix, uuid.uuid4().hex[:8]))
        return ack.reason

    def publish_acked(self, topic, payload, packet_id=1):
        self.send(rawmqtt.publish(topic, payload, 1, packet_id=packet_id,
                                  version=self.version))
        ack = self.recv_type(rawmqtt.PUBACK)
        assert ack.packet_id == packet_id, ack

    def subscribe(self, topic, packet_id=1):
        self.send(rawmqtt.subscribe([(topic, 1)], packet_id, self.version))
        ack = self.recv_type(rawmqtt.SUBACK)
        assert ack.reason == [1], ack


def refusal(port, ctx):
    """Try a TLS handshake and a CONNECT: None when a CONNACK 0 came
    back, else the text of what failed (the TLS alert, or 'closed').  In
    TLS 1.3 the client's handshake is over before the server has checked
    its certificate, so the server's alert arrives on the first read."""
    try:
        c = TlsRaw(port, ctx)
    except (ssl.SSLError, ConnectionResetError) as e:
        return str(e)
    try:
        try:
            c.send(rawmqtt.connect("it-tlsh-" + uuid.uuid4().hex[:8]))
        except (ssl.SSLError, OSError):
            pass  # closed already: the alert, if any, is read below
        ack = c.recv()
        assert (ack.type, ack.reason) == (rawmqtt.CONNACK, 0), ack
        return None
    except (ssl.SSLError, OSError) as e:
        return str(e)
    except rawmqtt.Closed:
        return "closed"
    finally:
        c.close()


def wait_metric(b, name, labels, want, timeout=5.0):
    deadline = time.monotonic() + timeout
    while True:
        got = b.metric(name, labels)
        if got >= want or time.monotonic() > deadline:
            return got
        time.sleep(0.05)


def peer_der(c):
    return c.sock.getpeercert(binary_form=True)


def der_of(cert_path):
    with open(cert_path) as f:
        return ssl.PEM_cert_to_DER_cert(f.read())


# ---- 1. client certificates required by default ----

@pytest.mark.parametrize("version", sorted(VERSIONS))
def test_client_certificate_required_by_default(extra_broker, pki, version):
    """Without tls-require-client-cert on the command line, a client
    with no certificate fails the handshake (counted as no_certificate);
    one with a certificate of tls-ca gets its CONNACK."""
    b = start_tls(extra_broker, pki)
    bare = client_ctx(pki.ca, version=VERSIONS[version])
    assert refusal(b.tls_port, bare) is not None
    assert wait_metric(b, FAILURES, 'reason="no_certificate"', 1) == 1
    good = client_ctx(pki.ca, pki.client, VERSIONS[version])
    assert refusal(b.tls_port, good) is None


def run_broker(*args):
    """strata-broker with args (no Redis needed: for configuration
    errors, which end it before it connects)."""
    return subprocess.run(
        [os.path.join(daemons.bin_dir(), "strata-broker"), "--port", "0",
         "--metrics-port", "0", "--log-level", "error"] + list(args),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=20,
        env={k: v for k, v in os.environ.items()
             if not k.startswith("STRATA_")})


def test_tls_without_ca_is_a_configuration_error(extra_broker, pki):
    """A TLS listener without tls-ca while client certificates are
    required (the default) does not start: exit status 2 and a message
    that names both ways out.  With tls-require-client-cert no it starts
    and serves clients without a certificate."""
    cert, key = pki.server
    r = run_broker(*tls_args(daemons.free_port(), cert, key))
    err = r.stderr.decode()
    assert r.returncode == 2, err
    assert "set tls-ca" in err and "tls-require-client-cert no" in err, err
    b = start_tls(extra_broker, pki, "--tls-require-client-cert", "no",
                  ca=None)
    assert refusal(b.tls_port, client_ctx(pki.ca)) is None


# ---- 3. ciphers, suites, groups ----

@pytest.mark.parametrize("option,value", [
    ("--tls-ciphers", "NO-SUCH-CIPHER"),
    ("--tls-ciphersuites", "TLS_AES_128_GCM_SHA256:TLS_NO_SUCH_SUITE"),
    ("--tls-ciphersuites", "ECDHE-ECDSA-AES128-GCM-SHA256"),
    ("--tls-groups", "P-256:no-such-group"),
])
def test_bad_cipher_option_is_a_configuration_error(pki, option, value):
    """A value OpenSSL would not take (or would take only in part) stops
    the start with exit status 2 and names the option."""
    cert, key = pki.server
    r = run_broker(*tls_args(daemons.free_port(), cert, key, pki.ca,
                             option, value))
    err = r.stderr.decode()
    assert r.returncode == 2, err
    assert option[2:] in err, err


def test_cipher_options_apply(extra_broker, pki):
    """tls-ciphers picks the TLS 1.2 cipher, tls-ciphersuites the TLS 1.3
    suite, tls-groups the key exchange: a client with nothing in common
    fails the handshake.  (In TLS 1.2 the groups also bound the curve of
    an ECDSA certificate: P-256 stays in the list.)"""
    b = start_tls(extra_broker, pki,
                  "--tls-ciphers", "ECDHE-ECDSA-AES256-GCM-SHA384",
                  "--tls-ciphersuites", "TLS_CHACHA20_POLY1305_SHA256",
                  "--tls-groups", "X25519:prime256v1")
    c = TlsRaw(b.tls_port, client_ctx(pki.ca, pki.client, TLS12))
    assert c.sock.cipher()[0] == "ECDHE-ECDSA-AES256-GCM-SHA384"
    assert c.connack() == 0
    c.close()
    c = TlsRaw(b.tls_port, client_ctx(pki.ca, pki.client, TLS13))
    assert c.sock.cipher()[0] == "TLS_CHACHA20_POLY1305_SHA256"
    assert c.connack() == 0
    c.close()
    other_cipher = client_ctx(pki.ca, pki.client, TLS12)
    other_cipher.set_ciphers("ECDHE-ECDSA-AES128-GCM-SHA256")
    assert refusal(b.tls_port, other_cipher) is not None
    other_group = client_ctx(pki.ca, pki.client, TLS13)
    other_group.set_ecdh_curve("secp384r1")
    assert refusal(b.tls_port, other_group) is not None
    assert wait_metric(b, FAILURES, 'reason="protocol"', 2) == 2


# ---- 4. session resumption ----

@pytest.mark.parametrize("how", ["session-id", "ticket"])
def test_tls12_session_resumed_with_client_certificate(extra_broker, pki,
                                                       how):
    """TLS 1.2 with a client certificate: a second connection given the
    first one's session resumes it (from the server's session cache, or
    from a ticket), and MQTT works on it."""
    b = start_tls(extra_broker, pki)
    ctx = client_ctx(pki.ca, pki.client, TLS12)
    if how == "session-id":
        ctx.options |= ssl.OP_NO_TICKET
    first = TlsRaw(b.tls_port, ctx)
    assert not first.sock.session_reused
    assert first.connack() == 0
    session = first.sock.session
    first.close()
    again = TlsRaw(b.tls_port, ctx, session=session)
    try:
        assert again.sock.session_reused
        assert again.connack() == 0
        again.publish_acked("it/tlsh/resumed", b"again")
    finally:
        again.close()


def test_tls13_session_resumed_with_client_certificate(extra_broker, pki):
    """TLS 1.3 resumes too, with OpenSSL's own tickets."""
    b = start_tls(extra_broker, pki)
    ctx = client_ctx(pki.ca, pki.client, TLS13)
    first = TlsRaw(b.tls_port, ctx)
    assert first.connack() == 0  # tickets arrive after the handshake
    session = first.sock.session
    first.close()
    again = TlsRaw(b.tls_port, ctx, session=session)
    try:
        assert again.sock.session_reused
        assert again.connack() == 0
    finally:
        again.close()


# ---- 5. CRL ----

def test_revoked_certificate_refused_and_crl_reloaded(extra_broker,
                                                      tmp_path):
    """With tls-crl, a revoked client certificate fails the handshake
    with the certificate_revoked alert (TLS 1.2 and 1.3), is counted as
    revoked and logged; others connect.  A CRL that revokes one more
    certificate, loaded by SIGHUP, refuses its next connection while its
    connection already open goes on."""
    p = Pki(tmp_path / "ca")
    server = p.issue("server", server=True)
    good, bad = p.issue("good-device"), p.issue("bad-device")
    p.revoke(bad[0])
    crl = str(tmp_path / "crl.pem")
    p.crl(crl)
    b = start_tls(extra_broker, p, "--tls-crl", crl, server=server)
    for version in (TLS12, TLS13):
        why = refusal(b.tls_port, client_ctx(p.ca, bad, version))
        assert why is not None and "revoked" in why, (
            why, b.log_text()[-3000:])
        assert refusal(b.tls_port, client_ctx(p.ca, good, version)) is None
    assert wait_metric(b, FAILURES, 'reason="revoked"', 2) == 2
    log = b.log_text()
    assert "reason=revoked" in log and "CN=bad-device" in log, log[-2000:]

    open_conn = TlsRaw(b.tls_port, client_ctx(p.ca, good, TLS12))
    assert open_conn.connack() == 0
    p.revoke(good[0])
    p.crl(crl)
    b.proc.send_signal(signal.SIGHUP)
    assert wait_metric(b, RELOADS, 'result="ok"', 1) == 1
    why = refusal(b.tls_port, client_ctx(p.ca, good, TLS12))
    assert why is not None and "revoked" in why, why
    open_conn.publish_acked("it/tlsh/crl", b"still here")
    open_conn.close()


# ---- 6. ALPN ----

@pytest.mark.parametrize("offer,chosen", [
    (None, None),
    (["x-amzn-mqtt-ca"], "x-amzn-mqtt-ca"),
    (["mqtt"], "mqtt"),
    (["h2", "mqtt", "x-amzn-mqtt-ca"], "mqtt"),
    (["x-amzn-mqtt-ca", "mqtt"], "x-amzn-mqtt-ca"),
])
@pytest.mark.parametrize("version", sorted(VERSIONS))
def test_alpn_accepted(cluster, offer, chosen, version):
    """The broker picks the first protocol of the client's list it knows
    ("x-amzn-mqtt-ca" as AWS IoT on port 443, or "mqtt"); a client that
    offers no ALPN at all is served as before."""
    ctx = client_ctx(cluster.ca_file, (cluster.client_cert,
                                       cluster.client_key),
                     VERSIONS[version], offer)
    c = TlsRaw(cluster.mqtts_ports[0], ctx)
    try:
        assert c.sock.selected_alpn_protocol() == chosen
        assert c.connack() == 0
    finally:
        c.close()


@pytest.mark.parametrize("version", sorted(VERSIONS))
def test_alpn_unknown_refused(cluster, version):
    """A client offering ALPN without a protocol the broker knows gets
    the no_application_protocol alert, counted as alpn."""
    port = cluster.broker_metrics_ports[0]
    before = daemons.metric(port, FAILURES, 'reason="alpn"')
    ctx = client_ctx(cluster.ca_file, (cluster.client_cert,
                                       cluster.client_key),
                     VERSIONS[version], ["h2", "http/1.1"])
    with pytest.raises(ssl.SSLError, match="no application protocol"):
        TlsRaw(cluster.mqtts_ports[0], ctx).close()
    deadline = time.monotonic() + 5
    while (daemons.metric(port, FAILURES, 'reason="alpn"') < before + 1
           and time.monotonic() < deadline):
        time.sleep(0.05)
    assert daemons.metric(port, FAILURES, 'reason="alpn"') == before + 1


# ---- 7. the plain port on loopback ----

def listening_address(port):
    """The IPv4 address a socket listens on at port, from /proc/net/tcp
    (dotted quad), or None."""
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            addr, hexport = fields[1].split(":")
            if fields[3] == "0A" and int(hexport, 16) == port:
                return socket.inet_ntoa(bytes.fromhex(addr)[::-1])
    return None


def test_plain_port_stays_on_loopback(extra_broker, pki):
    """bind 0.0.0.0 puts TLS on every address but the plain port on
    tcp-bind (127.0.0.1), and the log says so; tcp-bind 0.0.0.0 exposes
    it; with a loopback bind, the plain port is on bind whatever
    tcp-bind says."""
    b = start_tls(extra_broker, pki, "--bind", "0.0.0.0")
    assert listening_address(b.tls_port) == "0.0.0.0"
    assert listening_address(b.port) == "127.0.0.1"
    assert "plain TCP listens on tcp-bind" in b.log_text()
    b = start_tls(extra_broker, pki, "--bind", "0.0.0.0",
                  "--tcp-bind", "0.0.0.0")
    assert listening_address(b.port) == "0.0.0.0"
    b = start_tls(extra_broker, pki, "--tcp-bind", "0.0.0.0")
    assert listening_address(b.port) == "127.0.0.1"
    assert listening_address(b.tls_port) == "127.0.0.1"


# ---- 2. SIGHUP ----

class Files:
    """The broker's certificate files in a directory of their own, so a
    test can replace them under it (atomically, as a deployment tool
    would)."""

    def __init__(self, d, cert, key, ca, crl=None):
        self.d = str(d)
        os.makedirs(self.d, exist_ok=True)
        self.cert = os.path.join(self.d, "server.crt")
        self.key = os.path.join(self.d, "server.key")
        self.ca = os.path.join(self.d, "ca.crt")
        self.put(self.cert, cert)
        self.put(self.key, key)
        self.put(self.ca, ca)

    def put(self, path, source=None, text=None):
        tmp = path + ".new"
        if source is not None:
            shutil.copyfile(source, tmp)
        else:
            with open(tmp, "w") as f:
                f.write(text)
        os.replace(tmp, path)

    def args(self, port):
        return tls_args(port, self.cert, self.key, self.ca)


def test_sighup_reloads_without_dropping_connections(extra_broker,
                                                     tmp_path):
    """Open a connection, replace the certificate, key and CA list,
    SIGHUP: the open connection goes on (it still publishes and receives
    a message), a new connection sees the new server certificate, a
    client of the CA added to the list, refused before, gets in, and a
    session from before the reload is not resumed."""
    p = Pki(tmp_path / "ca")
    old_server, client = p.issue("server-old", server=True), p.issue("dev")
    new_server = p.issue("server-new", server=True)
    p2 = Pki(tmp_path / "ca2", name="Second CA")
    client2 = p2.issue("dev2")
    f = Files(tmp_path / "live", old_server[0], old_server[1], p.ca)
    port = daemons.free_port()
    b = extra_broker(*f.args(port))
    ctx = client_ctx(p.ca, client)
    old = TlsRaw(port, ctx)
    assert peer_der(old) == der_of(old_server[0])
    assert old.connack() == 0
    old_session = old.sock.session
    old.subscribe("it/tlsh/reload")
    assert refusal(port, client_ctx(p2.ca, client2)) is not None

    f.put(f.cert, new_server[0])
    f.put(f.key, new_server[1])
    with open(p.ca) as a, open(p2.ca) as c2:
        f.put(f.ca, text=a.read() + c2.read())
    b.proc.send_signal(signal.SIGHUP)
    assert wait_metric(b, RELOADS, 'result="ok"', 1) == 1
    new = TlsRaw(port, ctx)
    assert peer_der(new) == der_of(new_server[0])
    assert new.connack() == 0
    new.publish_acked("it/tlsh/reload", b"after reload")
    msg = old.recv_type(rawmqtt.PUBLISH)
    assert msg.payload == b"after reload"
    old.publish_acked("it/tlsh/reload", b"old one", packet_id=2)
    old.close()
    new.close()
    assert refusal(port, client_ctx(p.ca, client2)) is None
    again = TlsRaw(port, ctx, session=old_session)
    assert not again.sock.session_reused  # checked against the new CA list
    assert again.connack() == 0
    again.close()
    assert b.metric(RELOADS, 'result="error"') == 0
    assert "TLS reloaded" in b.log_text()


def test_sighup_with_a_bad_file_keeps_the_old_context(extra_broker,
                                                      tmp_path):
    """Each file broken in turn (certificate, key that does not match,
    CA list, CRL) makes the reload fail: logged with the option and the
    file, counted as an error, and the broker goes on serving the old
    certificate to new and open connections."""
    p = Pki(tmp_path / "ca")
    server, client = p.issue("server", server=True), p.issue("dev")
    other_key = p.issue("other", server=True)[1]
    f = Files(tmp_path / "live", server[0], server[1], p.ca)
    crl = os.path.join(f.d, "crl.pem")
    p.crl(crl)
    port = daemons.free_port()
    b = extra_broker(*f.args(port), "--tls-crl", crl)
    ctx = client_ctx(p.ca, client)
    conn = TlsRaw(port, ctx)
    assert conn.connack() == 0
    garbage = "-----BEGIN CERTIFICATE-----\nnot base64\n"
    breaks = [("tls-cert", f.cert, dict(text=garbage)),
              ("tls-key", f.key, dict(source=other_key)),
              ("tls-ca", f.ca, dict(text=garbage)),
              ("tls-crl", crl, dict(text="no CRL here\n"))]
    for n, (option, path, bad) in enumerate(breaks, 1):
        keep = path + ".keep"
        shutil.copyfile(path, keep)
        f.put(path, **bad)
        b.proc.send_signal(signal.SIGHUP)
        assert wait_metric(b, RELOADS, 'result="error"', n) == n, option
        assert re.search(r"TLS setup failed.*option=%s file=%s" % (
            option, re.escape(path)), b.log_text()), option
        fresh = TlsRaw(port, ctx)
        assert peer_der(fresh) == der_of(server[0])
        assert fresh.connack() == 0
        fresh.close()
        conn.publish_acked("it/tlsh/bad-reload", b"ok", packet_id=n)
        f.put(path, source=keep)
    assert b.metric(RELOADS, 'result="ok"') == 0
    assert b.alive()
    conn.close()


def test_sighup_without_tls_is_harmless(extra_broker):
    """SIGHUP no longer ends a broker, with TLS off too: it logs that
    there is nothing to reload."""
    b = extra_broker()
    b.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 5
    while ("nothing to reload" not in b.log_text()
           and time.monotonic() < deadline):
        time.sleep(0.05)
    assert b.alive()
    assert "nothing to reload" in b.log_text()
