"""Certificates made with the openssl command line, for the registry
tests: CAs, leaves signed by them (valid, expired, not yet valid), and a
CRL.  Every file lives in the directory given; nothing is cached."""

import os
import subprocess


def _run(*args, cwd):
    r = subprocess.run(["openssl"] + list(args), cwd=cwd,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=30)
    assert r.returncode == 0, "openssl %s: %s" % (
        " ".join(args), r.stdout.decode("utf-8", "replace"))


def _key(directory, key, rsa_bits):
    if rsa_bits:
        _run("genpkey", "-algorithm", "RSA", "-pkeyopt",
             "rsa_keygen_bits:%d" % rsa_bits, "-out", key, cwd=directory)
    else:
        _run("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out",
             key, cwd=directory)


def make_ca(directory, name, subject=None, days=30, rsa_bits=None):
    """A self-signed CA valid for days, EC P-256 or RSA of rsa_bits:
    returns (cert path, key path)."""
    key = os.path.join(directory, name + ".key")
    crt = os.path.join(directory, name + ".crt")
    _key(directory, key, rsa_bits)
    _run("req", "-x509", "-new", "-key", key, "-sha256", "-days", str(days),
         "-subj", subject or "/CN=%s" % name, "-addext",
         "basicConstraints=critical,CA:TRUE", "-addext",
         "keyUsage=critical,keyCertSign,cRLSign", "-out", crt, cwd=directory)
    return crt, key


_CA_CONF = """[ca]
default_ca = d
[d]
dir = {dir}
database = {dir}/{name}.index
new_certs_dir = {dir}
serial = {dir}/{name}.serial
default_md = sha256
policy = p
copy_extensions = none
unique_subject = no
default_crl_days = 30
[p]
commonName = supplied
organizationName = optional
countryName = optional
serialNumber = optional
"""


def _ca_conf(directory, ca_name):
    conf = os.path.join(directory, ca_name + ".cnf")
    if not os.path.exists(conf):
        with open(conf, "w") as f:
            f.write(_CA_CONF.format(dir=directory, name=ca_name))
        open(os.path.join(directory, ca_name + ".index"), "w").close()
        with open(os.path.join(directory, ca_name + ".serial"), "w") as f:
            f.write("1000\n")
    return conf


def make_leaf(directory, name, ca, subject=None, start=None, end=None,
              rsa_bits=None):
    """A client certificate signed by ca (cert, key), EC P-256 or RSA of
    rsa_bits; start / end are openssl dates (YYYYMMDDHHMMSSZ) for an
    expired or not yet valid one.  Returns (cert path, key path)."""
    ca_crt, ca_key = ca
    ca_name = os.path.splitext(os.path.basename(ca_crt))[0]
    key = os.path.join(directory, name + ".key")
    csr = os.path.join(directory, name + ".csr")
    crt = os.path.join(directory, name + ".crt")
    _key(directory, key, rsa_bits)
    _run("req", "-new", "-key", key, "-subj", subject or "/CN=%s" % name,
         "-out", csr, cwd=directory)
    args = ["ca", "-batch", "-config", _ca_conf(directory, ca_name),
            "-cert", ca_crt, "-keyfile", ca_key, "-in", csr, "-out", crt,
            "-notext"]
    args += ["-startdate", start] if start else []
    args += ["-enddate", end] if end else ["-days", "30"]
    _run(*args, cwd=directory)
    return crt, key


def revoke(directory, ca, cert):
    """Revoke cert in ca's database and write the CRL; returns its path."""
    ca_crt, ca_key = ca
    ca_name = os.path.splitext(os.path.basename(ca_crt))[0]
    conf = _ca_conf(directory, ca_name)
    _run("ca", "-config", conf, "-cert", ca_crt, "-keyfile", ca_key,
         "-revoke", cert, cwd=directory)
    crl = os.path.join(directory, ca_name + ".crl")
    _run("ca", "-config", conf, "-cert", ca_crt, "-keyfile", ca_key,
         "-gencrl", "-out", crl, cwd=directory)
    return crl


def cert_id(cert):
    """The registry's certificate id: SHA-256 of the DER, hex."""
    r = subprocess.run(["openssl", "x509", "-in", cert, "-outform", "DER"],
                       stdout=subprocess.PIPE, timeout=30, check=True)
    import hashlib
    return hashlib.sha256(r.stdout).hexdigest()
