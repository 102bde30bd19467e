"""Container networking against the real kernel, inside a network namespace standing in for the host."""

from __future__ import annotations

import sys
import time

import pytest

pytestmark = pytest.mark.root
GET = "import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=3).read().decode())"
SERVE = "mkdir -p /www && echo hello-from-$(hostname) > /www/index.html && exec httpd -f -p 80 -h /www"


def fetch(h, url: str, tries: int = 50) -> str:
    """GET ``url`` from the host namespace, retrying while the server starts."""
    for _ in range(tries):
        r = h.run(sys.executable, "-c", GET, url, check=False)
        if r.returncode == 0:
            return r.stdout
        time.sleep(0.1)
    raise AssertionError(f"{url}: {r.stderr}")


def test_published_port_answers_from_host_and_its_loopback(net):
    p, h = net
    cid = p.run_d("--name", "web", "-p", "8080:80", "-p", "127.0.0.1:8081:80", p.image, "sh", "-c", SERVE)
    info = p.inspect("web")
    ip = info["NetworkSettings"]["Networks"]["bridge"]["IPAddress"]
    assert ip.startswith("10.88.") and info["NetworkSettings"]["Ports"]["80/tcp"][0]["HostPort"] == "8080"
    assert fetch(h, "http://192.0.2.1:8080/") == f"hello-from-{cid[:12]}\n"
    assert fetch(h, "http://127.0.0.1:8080/").startswith("hello-from-")  # route_localnet + masquerade
    assert fetch(h, "http://127.0.0.1:8081/").startswith("hello-from-")
    assert fetch(h, f"http://{ip}:80/").startswith("hello-from-")
    assert p("port", "web", check=0).stdout == "80/tcp -> 0.0.0.0:8080\n80/tcp -> 127.0.0.1:8081\n"
    assert "dport 8080" in h.nft()
    p("stop", "-t", "1", "web", check=0)  # rules go exactly when it stops, not when it is removed
    assert "table ip pycr" not in h.nft() and [n for n in h.links() if n.startswith("pv")] == []
    assert p("port", "web", check=0).stdout == ""
