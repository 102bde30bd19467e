"""Networking through ``pycr serve``: the docker CLI publishing ports, choosing networks, managing them.

The server and its containers run inside a network namespace made for this
module (``nethost``, standing in for the host; ``PYCR_NETWORK=bridge`` there),
so nothing touches the machine's own interfaces or firewall.
"""

from __future__ import annotations

import json
import os

import pytest

from tests.helpers.api import serving
from tests.helpers.netns import network_leftovers, ping_answered
from tests.integration.test_api_http import call
from tests.integration.test_network_bridge import SERVE, fetch

pytestmark = pytest.mark.root


@pytest.fixture(scope="module")
def napi(nethost):
    p, h = nethost
    with serving(p) as a:
        yield a, h


@pytest.fixture
def clean(napi):
    a, h = napi
    yield a, h
    for cid in a.docker("ps", "-aq", check=0).stdout.split():
        a.docker("rm", "-f", cid, check=0)
    a.docker("network", "prune", "-f", check=0)
    assert not network_leftovers(a.manage, h)


def test_run_p_publishes_and_inspect_shows_docker_shapes(clean):
    a, h = clean
    img = a.manage.image
    cid = a.docker("run", "-d", "--name", "web", "-p", "8080:80", "-p", "127.0.0.1::80", img, "sh", "-c", SERVE,
                   check=0).stdout.strip()
    assert fetch(h, "http://192.0.2.1:8080/") == f"hello-from-{cid[:12]}\n"
    info = json.loads(a.docker("inspect", "web", check=0).stdout)[0]
    ns = info["NetworkSettings"]
    picked = ns["Ports"]["80/tcp"][1]["HostPort"]
    assert ns["Ports"]["80/tcp"][0] == {"HostIp": "0.0.0.0", "HostPort": "8080"}
    assert ns["Ports"]["80/tcp"][1]["HostIp"] == "127.0.0.1" and int(picked) > 0
    assert fetch(h, f"http://127.0.0.1:{picked}/").startswith("hello-from-")
    assert ns["IPAddress"].startswith("10.88.") and ns["Networks"]["bridge"]["IPAddress"] == ns["IPAddress"]
    assert ns["Networks"]["bridge"]["NetworkID"] == "0" * 64 and ns["Gateway"] == "10.88.0.1"
    assert fetch(h, f"http://{ns['IPAddress']}:80/").startswith("hello-from-")
    assert info["HostConfig"]["PortBindings"]["80/tcp"][0]["HostPort"] == "8080"
    # docker ps and docker port read the same bindings; pycr sees what docker made
    assert "0.0.0.0:8080->80/tcp" in a.docker("ps", "--format", "{{.Ports}}", check=0).stdout
    assert a.docker("port", "web", "80/tcp", check=0).stdout.split() == ["0.0.0.0:8080", f"127.0.0.1:{picked}"]
    assert a.manage("port", "web", check=0).stdout.startswith("80/tcp -> 0.0.0.0:8080\n")
    # a port already published fails the start in one line; as with docker, the container stays created
    r = a.docker("run", "-d", "--name", "clash", "-p", "8080:80", img, "sleep", "100")
    assert r.returncode != 0 and "already published by container web" in r.stderr
    assert a.docker("ps", "-q", check=0).stdout.split() == [cid[:12]]
    assert a.docker("inspect", "-f", "{{.State.Status}}", "clash", check=0).stdout.strip() in ("created", "exited")
    a.docker("rm", "clash", check=0)
    a.docker("stop", "-t", "1", "web", check=0)
    assert "dport 8080" not in h.nft()  # the bridge's own rules stay with it, as docker0's
    assert json.loads(a.docker("inspect", "web", check=0).stdout)[0]["NetworkSettings"]["Ports"] == {}


def test_publish_all_exposed_ports(clean):
    a, h = clean
    ctx = a.workdir + "/ctx"
    os.makedirs(ctx, exist_ok=True)
    with open(ctx + "/Dockerfile", "w") as f:
        f.write(f"FROM {a.manage.image}\nEXPOSE 80\n")
    a.docker("build", "-q", "-t", "pycr-test/exposed", ctx, check=0)
    try:
        a.docker("run", "-d", "--name", "all", "-P", "pycr-test/exposed", "sh", "-c", SERVE, check=0)
        port = a.docker("port", "all", "80", check=0).stdout.split()[0].rsplit(":", 1)[1]
        assert fetch(h, f"http://192.0.2.1:{port}/").startswith("hello-from-")
    finally:
        a.docker("rm", "-f", "all")
        a.docker("rmi", "pycr-test/exposed")


def test_expose_and_exposed_ports_are_kept_shown_and_published(clean):
    """docker run --expose (the API's ExposedPorts): in inspect's Config, published by -P; a key that
    names a host address or port is refused with one line and nothing is made."""
    a, h = clean
    a.docker("run", "-d", "--name", "ex", "--expose", "80", "--expose", "7000-7001/udp", "-P", a.manage.image,
             "sh", "-c", SERVE, check=0)
    info = json.loads(a.docker("inspect", "ex", check=0).stdout)[0]
    assert info["Config"]["ExposedPorts"] == {"80/tcp": {}, "7000/udp": {}, "7001/udp": {}}
    assert sorted(info["NetworkSettings"]["Ports"]) == ["7000/udp", "7001/udp", "80/tcp"]
    port = a.docker("port", "ex", "80", check=0).stdout.split()[0].rsplit(":", 1)[1]
    assert fetch(h, f"http://192.0.2.1:{port}/").startswith("hello-from-")
    before = a.docker("ps", "-aq", check=0).stdout
    for key in ("127.0.0.1:9998:80/tcp", "9998:80", "80-90/tcp", "80/sctp", "80/"):
        body = {"Image": a.manage.image, "Cmd": ["true"], "ExposedPorts": {key: {}},
                "HostConfig": {"PublishAllPorts": True}}
        status, _, raw = call(a, "POST", "/containers/create", json.dumps(body).encode(),
                              {"Content-Type": "application/json"})
        msg = json.loads(raw)["message"]
        assert status == 400 and msg.startswith(f"ExposedPorts: key {key!r} is not PORT[/tcp|udp]"), (status, msg)
        assert "\n" not in msg
    assert a.docker("ps", "-aq", check=0).stdout == before  # nothing made
    assert "dport 9998" not in h.nft()


def test_network_modes_and_user_networks(clean):
    a, h = clean
    img = a.manage.image
    nid = a.docker("network", "create", "--subnet", "10.78.0.0/24", "app", check=0).stdout.strip()
    assert len(nid) == 64
    r = a.docker("network", "create", "app")
    assert r.returncode != 0 and "network name 'app' is already in use" in r.stderr
    names = a.docker("network", "ls", "--format", "{{.Name}} {{.Driver}}", check=0).stdout.split("\n")
    assert "app bridge" in names and "bridge bridge" in names
    assert a.docker("network", "ls", "-q", "--filter", "name=app", check=0).stdout.split() == [nid[:12]]
    a.docker("run", "-d", "--name", "db", "--network", "app", img, "sleep", "1000", check=0)
    a.docker("run", "-d", "--name", "api", "--network", "app", "--network-alias", "front", img, "sleep", "1000",
             check=0)
    assert ping_answered(lambda: a.docker("exec", "api", "busybox", "ping", "-c", "1", "-W", "2", "db"))
    assert ping_answered(lambda: a.docker("exec", "db", "busybox", "ping", "-c", "1", "-W", "2", "front"))
    r = a.manage("run", "-d", "--network-alias", "x", "--network", "bridge", img, "true")  # the same rule in pycr
    assert r.returncode != 0 and r.stderr == ("--network-alias: only on a network made with pycr network create, "
                                              "not 'bridge'\n")
    r = a.manage("run", "-d", "--network-alias", "a b", "--network", "app", img, "true")
    assert r.returncode != 0 and r.stderr.startswith("--network-alias 'a b': use letters")
    net = json.loads(a.docker("network", "inspect", nid[:10], check=0).stdout)[0]
    assert net["Name"] == "app" and net["IPAM"]["Config"] == [{"Subnet": "10.78.0.0/24", "Gateway": "10.78.0.1"}]
    assert sorted(c["Name"] for c in net["Containers"].values()) == ["api", "db"]
    db = json.loads(a.docker("inspect", "db", check=0).stdout)[0]
    assert db["HostConfig"]["NetworkMode"] == "app" and db["NetworkSettings"]["Networks"]["app"]["NetworkID"] == nid
    r = a.docker("network", "rm", "app")
    assert r.returncode != 0 and "has containers attached: api, db" in r.stderr
    # connect/disconnect: docker's CLI through POST /networks/{id}/connect|disconnect
    a.docker("network", "connect", "bridge", "db", check=0)
    nets = json.loads(a.docker("inspect", "db", check=0).stdout)[0]["NetworkSettings"]["Networks"]
    assert sorted(nets) == ["app", "bridge"] and nets["bridge"]["IPAddress"].startswith("10.88.")
    assert a.docker("exec", "db", "ls", "/sys/class/net", check=0).stdout.split() == ["eth0", "eth1", "lo"]
    r = a.docker("network", "connect", "bridge", "db")
    assert r.returncode != 0 and "container db is already connected to network bridge" in r.stderr
    r = a.docker("network", "connect", "app", "nosuch")
    assert r.returncode != 0 and "no such container: nosuch" in r.stderr
    a.docker("network", "disconnect", "bridge", "db", check=0)
    assert a.docker("exec", "db", "ls", "/sys/class/net", check=0).stdout.split() == ["eth0", "lo"]
    r = a.docker("network", "disconnect", "bridge", "db")
    assert r.returncode != 0 and "container db is not connected to network bridge" in r.stderr
    # none, host, container:NAME
    out = a.docker("run", "--rm", "--network", "none", img, "ls", "/sys/class/net", check=0).stdout
    assert out.split() == ["lo"]
    r = a.docker("run", "--rm", "--network", "host", img, "true")  # more than docker's defaults: not by default
    assert r.returncode != 0 and ("HostConfig.NetworkMode: host: gives the container the host's network; start "
                                  "pycr serve with --allow-privileged to allow it") in r.stderr

    def joined():  # container:db shares db's namespace and hosts file
        return a.docker("run", "--rm", "--network", "container:db", img, "busybox", "ping", "-c", "1", "-W", "2", "api")

    first = joined()
    assert "1 packets received" in first.stdout or ping_answered(joined), first.stderr
    r = a.docker("run", "--rm", "--network", "nosuch", img, "true")
    assert r.returncode != 0 and "--network nosuch: no such network" in r.stderr
    r = a.docker("network", "rm", "bridge")
    assert r.returncode != 0 and "built in and cannot be removed" in r.stderr
    a.docker("rm", "-f", "db", "api", check=0)
    assert a.docker("network", "rm", "app", check=0).stdout.strip() == "app"
    r = a.docker("network", "inspect", "app")
    assert r.returncode != 0 and "No such network: app" in r.stderr
    a.docker("network", "create", "-o", "com.docker.network.driver.mtu=9000", "idle", check=0)
    opts = json.loads(a.docker("network", "inspect", "idle", check=0).stdout)[0]["Options"]
    assert opts == {"com.docker.network.driver.mtu": "9000"}  # docker's: the options given, as given
    r = a.docker("network", "create", "-o", "com.docker.network.bridge.enable_icc=false", "icc")
    assert r.returncode != 0 and ("-o com.docker.network.bridge.enable_icc: unknown network option (pycr knows "
                                  "com.docker.network.bridge.name, com.docker.network.driver.mtu)") in r.stderr
    assert a.docker("network", "prune", "-f", check=0).stdout.split()[-1] == "idle"
    assert [n for n in h.settled_links() if n not in ("lo", "wan0")] == []  # pruned: not even pycr0


def test_network_create_gateway_and_bridge_name(clean):
    """docker network create --subnet --gateway -o bridge.name: the bridge holds the gateway, the
    containers' default route goes through it; bad values are one line each and make nothing."""
    a, h = clean
    a.docker("network", "create", "--subnet", "10.79.0.0/24", "--gateway", "10.79.0.254",
             "-o", "com.docker.network.bridge.name=apibr0", "-o", "com.docker.network.driver.mtu=1400", "gw",
             check=0)
    net = json.loads(a.docker("network", "inspect", "gw", check=0).stdout)[0]
    assert net["IPAM"]["Config"] == [{"Subnet": "10.79.0.0/24", "Gateway": "10.79.0.254"}]
    assert net["Options"] == {"com.docker.network.bridge.name": "apibr0", "com.docker.network.driver.mtu": "1400"}
    a.docker("run", "-d", "--name", "g1", "--network", "gw", a.manage.image, "sleep", "1000", check=0)
    route = a.docker("exec", "g1", "ip", "route", check=0).stdout
    assert route.startswith("default via 10.79.0.254 dev eth0"), route
    assert "inet 10.79.0.254/24" in h.run("ip", "-4", "addr", "show", "apibr0").stdout
    a.docker("rm", "-f", "g1", check=0)
    for args, words in ((["-o", "com.docker.network.bridge.name=wan0"], "an interface of that name exists"),
                        (["-o", "com.docker.network.bridge.name=apibr0"], "the bridge of network 'gw'")):
        r = a.docker("network", "create", *args, "bad")
        assert r.returncode != 0 and words in r.stderr and r.stderr.count("\n") == 1, (args, r.stderr)
    for config, words in (({"Subnet": "10.80.0.0/24", "Gateway": "10.80.0.0"}, "the network address of 10.80.0.0/24"),
                          ({"Subnet": "10.80.0.0/24", "Gateway": "10.80.0.255"}, "the broadcast address"),
                          ({"Subnet": "10.80.0.0/24", "Gateway": "10.81.0.1"}, "not an address of --subnet"),
                          ({"Gateway": "10.80.0.1"}, "give --subnet too")):
        status, _, raw = call(a, "POST", "/networks/create", json.dumps({"Name": "bad", "IPAM": {"Config": [config]}})
                              .encode(), {"Content-Type": "application/json"})
        msg = json.loads(raw)["message"]
        assert status == 400 and words in msg and "\n" not in msg, (config, status, msg)
    assert "bad" not in a.docker("network", "ls", check=0).stdout
    a.docker("network", "rm", "gw", check=0)
    assert "apibr0" not in h.settled_links()


def test_host_network_with_allow_privileged(nethost):
    p, h = nethost
    with serving(p, ["--allow-privileged"]) as a:
        out = a.docker("run", "--rm", "--network", "host", p.image, "ls", "/sys/class/net", check=0).stdout
        assert sorted(out.split()) == h.links()  # the host's namespace: its wan0, the bridge, the veths
        assert a.manage.ps() == []
    assert not network_leftovers(p, h)


def test_network_rm_leaving_a_foreign_bridge_says_so_in_the_servers_log(clean):
    """docker network rm of a network whose bridge name an admin's bridge holds: 204 as docker,
    the bridge untouched, and the server's log names what was left in place (its only voice)."""
    from tests.integration.test_network_attacks import _foreign_bridge, _link

    a, h = clean
    a.docker("network", "create", "-o", "com.docker.network.bridge.name=apifb0", "apifb", check=0)
    before = _foreign_bridge(h, "apifb0")
    try:
        r = a.docker("network", "rm", "apifb")
        assert r.returncode == 0 and r.stdout == "apifb\n", r
        assert "apifb" not in a.docker("network", "ls", check=0).stdout
        assert _link(h, "apifb0")["ifindex"] == before["ifindex"]
        lines = [ln for ln in a.read_log().splitlines() if "apifb0" in ln]
        assert lines == ["pycr serve: network delete: network 'apifb': interface 'apifb0' left in place: it is a "
                         "bridge pycr did not make (it has no pycr mark)"], lines
    finally:
        h.run("ip", "link", "del", "apifb0", check=False)
