"""MQTTS with the development CA and client certificate: paho (both
protocols) and the mosquitto command-line clients, TLS 1.2 and 1.3."""

import socket
import ssl
import subprocess
import uuid

import pytest

import mosq
import rawmqtt
from mqttc import Client, unique

TLS_VERSIONS = {"tls1.2": ssl.TLSVersion.TLSv1_2,
                "tls1.3": ssl.TLSVersion.TLSv1_3}
NEGOTIATED = {"tls1.2": "TLSv1.2", "tls1.3": "TLSv1.3"}
MOSQ_VERSIONS = {"tls1.2": "tlsv1.2", "tls1.3": "tlsv1.3"}


@pytest.fixture
def tls_clients(cluster):
    made = []

    def make(protocol, broker, version):
        c = Client(protocol)
        made.append(c)
        c.tls(cluster.ca_file, cluster.client_cert, cluster.client_key,
              TLS_VERSIONS[version])
        c.connect(cluster.host, cluster.mqtts_ports[broker])
        return c

    yield make
    for c in made:
        c.close()


@pytest.mark.parametrize("version", sorted(TLS_VERSIONS))
def test_paho_tls(cluster, tls_clients, proto, version):
    """paho over TLS verifies the server certificate against the CA,
    negotiates the pinned version, and pub/sub works across brokers."""
    topic = unique() + "/tls"
    sub = tls_clients(proto, 1, version)
    assert sub.paho.socket().version() == NEGOTIATED[version]
    sub.subscribe(topic, 1)
    pub = tls_clients(proto, 0, version)
    assert pub.paho.socket().version() == NEGOTIATED[version]
    pub.publish(topic, b"secret", 1)
    msg = sub.get(topic=topic)
    assert (msg.payload, msg.qos) == (b"secret", 1)


@pytest.mark.parametrize("version", sorted(TLS_VERSIONS))
def test_mosquitto_tls(cluster, proto, version):
    """mosquitto_sub/mosquitto_pub with --cafile/--cert/--key on the MQTTS
    ports of two different brokers."""
    tls = {"cafile": cluster.ca_file, "cert": cluster.client_cert,
           "key": cluster.client_key, "version": MOSQ_VERSIONS[version]}
    topic = unique() + "/mosq-tls"
    sub = mosq.Sub(cluster.host, cluster.mqtts_ports[1], topic, proto,
                   tls=tls, count=1)
    try:
        sub.wait_subscribed()
        mosq.pub(cluster.host, cluster.mqtts_ports[0], topic, "over-tls",
                 proto, tls=tls)
        sub.wait_for(lambda l: l == "%s over-tls" % topic,
                     what="the message")
    finally:
        sub.stop()


def test_tls_rejects_untrusted_server_ca(cluster, tmp_path):
    """Sanity of the TLS set-up itself: a client that trusts another CA
    refuses the broker's certificate (so the tests above really
    verified it)."""
    other_ca = tmp_path / "other-ca.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec",
                    "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-keyout", str(tmp_path / "k.pem"), "-out",
                    str(other_ca), "-subj", "/CN=Other CA", "-days", "1"],
                   check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, timeout=30)
    ctx = ssl.create_default_context(cafile=str(other_ca))
    with socket.create_connection((cluster.host, cluster.mqtts_ports[0]),
                                  5) as s:
        with pytest.raises(ssl.SSLCertVerificationError):
            ctx.wrap_socket(s, server_hostname=cluster.host)


def _openssl(*args, cwd):
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   timeout=30)


@pytest.mark.parametrize("version", sorted(TLS_VERSIONS))
def test_client_cert_from_unknown_ca_refused(cluster, tmp_path, version):
    """A client certificate not signed by the cluster's CA is refused.
    Under tls-auth registry (the default) the handshake lets it through
    and the registry, which does not know it, refuses the CONNECT with
    CONNACK 0x04 (3.1.1's Bad User Name or Password); under tls-auth
    chain the TLS handshake fails (in TLS 1.3 the connection is torn
    down before any CONNACK)."""
    d = str(tmp_path)
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt",
             "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "ca.key",
             "-out", "ca.crt", "-subj", "/CN=Rogue CA", "-days", "1", cwd=d)
    _openssl("req", "-newkey", "ec", "-pkeyopt",
             "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "c.key",
             "-out", "c.csr", "-subj", "/CN=rogue-client", cwd=d)
    _openssl("x509", "-req", "-in", "c.csr", "-CA", "ca.crt", "-CAkey",
             "ca.key", "-CAcreateserial", "-days", "1", "-out", "c.crt",
             cwd=d)
    rogue = (str(tmp_path / "c.crt"), str(tmp_path / "c.key"))
    got = _tls_exchange(cluster, rogue, TLS_VERSIONS[version])
    assert got in (b"", b"\x20\x02\x00\x04"), (
        "server accepted a rogue client: %r" % got)
    # Positive control: the same exchange with the cluster's client
    # certificate gets a CONNACK 0x00.
    good = (cluster.client_cert, cluster.client_key)
    got = _tls_exchange(cluster, good, TLS_VERSIONS[version])
    assert got[:4] == b"\x20\x02\x00\x00", got


def _tls_exchange(cluster, cert, version):
    """Send a 3.1.1 CONNECT over TLS with client certificate `cert`;
    returns what the server sent before closing or within 2 s (b"" when
    the handshake failed or the connection was torn down)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(cluster.ca_file)
    ctx.load_cert_chain(*cert)
    ctx.minimum_version = ctx.maximum_version = version
    got = b""
    with socket.create_connection((cluster.host, cluster.mqtts_ports[0]),
                                  5) as s:
        try:
            with ctx.wrap_socket(s, server_hostname=cluster.host) as t:
                t.settimeout(2)
                t.sendall(rawmqtt.connect("it-tls-" + uuid.uuid4().hex[:8],
                                          rawmqtt.V311))
                while len(got) < 4:
                    chunk = t.recv(4096)
                    if not chunk:
                        break
                    got += chunk
        except (ssl.SSLError, ConnectionResetError, BrokenPipeError):
            pass
    return got
