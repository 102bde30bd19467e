"""docker-compose (Debian's 1.29, Python, through docker-py) against ``pycr serve``: a two-service
project with a published port and one service reaching the other by its service name, inside a
network namespace standing in for the host; ``down`` leaves nothing."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from tests.helpers.api import serving
from tests.helpers.engines import run
from tests.helpers.netns import network_leftovers
from tests.integration.test_network_bridge import SERVE, fetch

pytestmark = pytest.mark.root
COMPOSE = "/usr/bin/docker-compose"


@pytest.fixture(scope="module")
def capi(nethost):
    if not os.path.exists(COMPOSE):
        pytest.fail("missing docker-compose (apt-get install docker-compose)")
    p, h = nethost
    with serving(p) as a:
        yield a, h


def test_two_services_published_port_and_names(capi, tmp_path):
    a, h = capi
    img = a.manage.image
    (tmp_path / "docker-compose.yml").write_text(f"""\
version: "3.7"
services:
  web:
    image: {img}
    command: ["sh", "-c", {json.dumps(SERVE.replace("$", "$$"))}]
    ports: ["8088:80"]
  client:
    image: {img}
    command: ["sleep", "1000"]
    depends_on: [web]
""")

    def compose(*args, check=0):
        r = run([COMPOSE, "-p", "pycrt", *args], check=False, env={**a.env, "COMPOSE_INTERACTIVE_NO_CLI": "1"},
                cwd=str(tmp_path), timeout=300)
        assert check is None or r.returncode == check, f"docker-compose {args}: {r.stdout}{r.stderr}"
        return r

    try:
        compose("up", "-d")
        assert fetch(h, "http://192.0.2.1:8088/").startswith("hello-from-")
        out = ""
        for _ in range(50):  # the client reaches web by its service name (an alias on the project network)
            out = a.docker("exec", "pycrt_client_1", "busybox", "wget", "-q", "-O", "-", "http://web/").stdout
            if out.startswith("hello-from-"):
                break
        assert out.startswith("hello-from-")
        ps = compose("ps").stdout
        assert "pycrt_web_1" in ps and "0.0.0.0:8088->80/tcp" in ps and "pycrt_client_1" in ps
        nets = json.loads(a.docker("network", "inspect", "pycrt_default", check=0).stdout)[0]
        assert sorted(c["Name"] for c in nets["Containers"].values()) == ["pycrt_client_1", "pycrt_web_1"]
        assert nets["Labels"]["com.docker.compose.project"] == "pycrt"
        assert a.manage.state("pycrt_web_1") == "running"  # pycr sees the project's containers too
    finally:
        compose("down", "-t", "1", check=None)
    assert a.docker("ps", "-aq", check=0).stdout == ""
    assert a.docker("network", "ls", "-q", "--filter", "name=pycrt", check=0).stdout == ""
    assert not network_leftovers(a.manage, h)
    assert "table ip pycr" not in h.nft()
    shutil.rmtree(tmp_path, ignore_errors=True)
