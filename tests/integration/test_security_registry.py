"""Escape class 7 (docs/security.md): registry credentials never follow a
redirect to another origin -- not over plain HTTP on the same host and port,
not to another host.  Real servers (TLS with a certificate made here) in a
network namespace the test creates; the real registry client."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid

import pytest

pytestmark = pytest.mark.root

HERE = os.path.dirname(__file__)
SERVER = os.path.join(HERE, "..", "helpers", "redirect_server.py")
A, B = "10.231.77.1", "10.231.77.2"


@pytest.fixture
def netns(tmp_path):
    name = "pycrsec-" + uuid.uuid4().hex[:6]
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        for cmd in (["link", "set", "lo", "up"], ["addr", "add", f"{A}/32", "dev", "lo"],
                    ["addr", "add", f"{B}/32", "dev", "lo"]):  # not 127/8: the client uses TLS
            subprocess.run(["ip", "-n", name, *cmd], check=True)
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


@pytest.fixture
def cert(tmp_path):
    crt, key = tmp_path / "reg.crt", tmp_path / "reg.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-days", "1", "-subj", "/CN=pycr-test", "-keyout", str(key), "-out", str(crt),
                    "-addext", f"subjectAltName=IP:{A},IP:{B}"], check=True, capture_output=True)
    return str(crt), str(key)


def _serve(netns, log, cert, addr, mode, target=""):
    p = subprocess.Popen(["ip", "netns", "exec", netns, sys.executable, SERVER, str(log), *cert, addr, mode, target],
                         stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "ready"
    return p


PULL = """
import sys
from pycr.plugins.registry_oci.client import Registry
try:
    Registry(sys.argv[1], credentials=("alice", "hunter2")).get_manifest("bb", "latest")
except Exception as e:
    print(type(e).__name__, e)
"""


@pytest.mark.parametrize("mode", ["basic", "bearer"])
@pytest.mark.parametrize("where", ["downgrade", "other-host"])
def test_credentials_do_not_follow_a_redirect_to_another_origin(netns, cert, tmp_path, mode, where):
    log = tmp_path / "requests.log"
    target = f"http://{A}:8443" if where == "downgrade" else f"https://{B}:8443"
    servers = [_serve(netns, log, cert, f"{A}:8443", mode, target)]
    if where == "other-host":
        servers.append(_serve(netns, log, cert, f"{B}:8443", "sink"))
    try:
        done = subprocess.run(["ip", "netns", "exec", netns, sys.executable, "-c", PULL, f"{A}:8443"],
                              env={**os.environ, "SSL_CERT_FILE": cert[0]}, capture_output=True, text=True,
                              timeout=60)
    finally:
        for p in servers:
            p.kill()
            p.wait()
    requests = [json.loads(line) for line in log.read_text().splitlines()]
    authed = [r for r in requests if r["auth"]]
    assert authed, (requests, done.stdout, done.stderr)  # the credentials were used where they belong...
    assert all(r["tls"] and r["addr"] == f"{A}:8443" for r in authed), requests
    assert "hunter2" not in done.stdout and "secret-token" not in done.stdout
    # ...and the redirect was followed: the other origin saw a request, without them.
    elsewhere = [r for r in requests if not r["tls"] or r["addr"] != f"{A}:8443"]
    assert elsewhere and not any(r["auth"] for r in elsewhere), requests
