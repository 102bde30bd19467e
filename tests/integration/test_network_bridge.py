"""Container networking against the real kernel, inside a network namespace standing in for the host."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from tests.helpers.netns import hosts_names, ping_answered

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
    assert p("port", cid[:6], "80/tcp", check=0).stdout == "0.0.0.0:8080\n127.0.0.1:8081\n"
    assert "dport 8080" in h.nft()
    p("stop", "-t", "1", "web", check=0)  # rules go exactly when it stops, not when it is removed
    assert "dport 808" not in h.nft() and [n for n in h.settled_links() if n.startswith("pv")] == []
    r = p("port", "web")
    assert r.returncode == 1 and r.stderr == "container 'web': no running container of that name or id\n"


def test_user_network_names_nat_and_isolation(net):
    p, h = net
    assert p("network", "create", "--subnet", "10.77.0.0/24", "app", check=0).stdout.strip()
    r = p("network", "create", "app")
    assert r.returncode != 0 and r.stderr == "network name 'app' is already in use\n"
    p.run_d("--name", "db", "--network", "app", p.image, "sleep", "1000")
    p.run_d("--name", "api", "--network", "app", p.image, "sleep", "1000")
    assert _pings(p, "api", "db")
    assert "10.77.0.2\tdb\n" in p("exec", "api", "cat", "/etc/hosts", check=0).stdout
    # the hosts files follow containers coming and going
    p("rm", "-f", "db", check=0)
    assert "\tdb\n" not in p("exec", "api", "cat", "/etc/hosts", check=0).stdout
    p.run_d("--name", "db2", "--network", "app", p.image, "sleep", "1000")
    assert _pings(p, "api", "db2")
    # out through NAT: the "internet" namespace has no route back to 10.77.0.0/24
    wan = h.wan
    server = __import__("subprocess").Popen(["ip", "netns", "exec", wan, "busybox", "nc", "-l", "-p", "9000",
                                             "-e", "echo", "reached"])
    try:
        out = ""
        for _ in range(30):
            out = p("exec", "api", "sh", "-c", "busybox nc 192.0.2.2 9000 </dev/null", check=None).stdout
            if "reached" in out:
                break
            time.sleep(0.1)
        assert "reached" in out
    finally:
        server.kill()
        server.wait()
    # the default bridge and a user network do not reach each other
    p.run_d("--name", "other", p.image, "sleep", "1000")
    other_ip = p.inspect("other")["NetworkSettings"]["Networks"]["bridge"]["IPAddress"]
    assert p("exec", "api", "busybox", "ping", "-c", "1", "-W", "1", other_ip).returncode != 0
    info = json.loads(p("network", "inspect", "app", check=0).stdout)[0]
    assert sorted(c["Name"] for c in info["Containers"].values()) == ["api", "db2"]
    r = p("network", "rm", "app")
    assert r.returncode == 1 and r.stderr == "network 'app' has containers attached: api, db2\n"
    p("rm", "-f", "api", "db2", "other", check=0)
    assert p("network", "rm", "app", check=0).stdout == "app\n"
    assert [n for n in h.settled_links() if n not in ("lo", "wan0", "pycr0")] == []


def test_none_host_and_container_modes(net):
    p, h = net
    out = p("run", "--rm", "--network", "none", p.image, "sh", "-c", "ls /sys/class/net", check=0).stdout
    assert out.split() == ["lo"]
    out = p("run", "--rm", "--network", "host", p.image, "sh", "-c", "ls /sys/class/net", check=0).stdout
    assert sorted(out.split()) == ["lo", "wan0"]
    p.run_d("--name", "first", p.image, "sleep", "1000")
    first = p.inspect("first")
    p.run_d("--name", "second", "--network", "container:first", p.image, "sleep", "1000")
    second = p.inspect("second")
    links = [os.readlink(f"/proc/{i['State']['Pid']}/ns/net") for i in (first, second)]
    assert links[0] == links[1]
    assert second["NetworkSettings"]["NetworkMode"] == "container:first"
    r = p("run", "--rm", "--network", "container:nosuch", p.image, "true")
    assert r.returncode != 0 and r.stderr.strip().endswith("no running container of that name or id")


def _container_dirs(p) -> set[str]:
    return {n for n in os.listdir(p.root) if not n.startswith(".")}  # .seccomp: a cache


def test_bad_input_is_one_line_and_leaves_nothing(net):
    p, h = net
    before = _container_dirs(p)
    for spec, problem in (("80:80:80:80", "is not an IPv4 address"), ("abc:80", "port 'abc' is not a number"),
                          ("8080:80/sctp", "protocol 'sctp'"), ("70000:80", "port '70000'")):
        r = p("run", "-d", "-p", spec, p.image, "true")
        assert r.returncode != 0 and problem in r.stderr and r.stderr.count("\n") == 1, r.stderr
    r = p("run", "-d", "--network", "nosuch", p.image, "true")
    assert r.stderr == "--network nosuch: no such network (pycr network ls lists them)\n"
    r = p("run", "-d", "--network", "host", "-p", "80:80", p.image, "true")
    assert r.returncode != 0 and "no address of its own" in r.stderr
    p.run_d("--name", "a", "-p", "9090:80", p.image, "sleep", "1000")
    r = p("run", "-d", "--name", "b", "-p", "9090:80", p.image, "sleep", "1000")
    assert r.returncode != 0 and "already published by container a" in r.stderr and r.stderr.count("\n") == 1
    assert [x["Names"] for x in p.ps()] == ["a"]  # nothing half-made
    r = p("run", "--rm", "-p", "9090:80", p.image, "true")  # foreground: the created container is deleted again
    assert r.returncode != 0 and "already published by container a" in r.stderr and r.stderr.count("\n") == 1
    assert _container_dirs(p) - before == {p.inspect("a")["Id"]}  # this test's: a, nothing of b or the --rm run
    # a tiny pool: one address, then exhausted
    p("network", "create", "--subnet", "10.66.0.0/30", "tiny", check=0)
    p.run_d("--network", "tiny", p.image, "sleep", "1000")
    r = p("run", "-d", "--network", "tiny", p.image, "sleep", "1000")
    assert r.returncode != 0 and "address pool 10.66.0.0/30 is exhausted" in r.stderr
    r = p("network", "create", "--subnet", "10.66.0.0/24", "overlap")
    assert r.stderr == "--subnet 10.66.0.0/24: overlaps network 'tiny' (10.66.0.0/30)\n"
    r = p("network", "create", "--subnet", "banana", "x")
    assert r.returncode != 0 and r.stderr.startswith("--subnet 'banana': ")


def test_a_picked_port_another_container_published_since_is_picked_again(net):
    """A created container's picked host port is a DNAT rule only once it starts, unknown to the
    kernel: a container publishing that very port first must not make this one's start fail."""
    p, h = net
    cid = p("create", "-q", "--name", "late", "-p", ":80", p.image, "sh", "-c", SERVE, check=0).stdout.strip()
    with open(os.path.join(p.store, "containers", cid, "network.json")) as f:
        picked = json.load(f)["ports"][0]["host_port"]
    early = p.run_d("--name", "early", "-p", f"{picked}:80", p.image, "sh", "-c", SERVE)
    p("start", "late", check=0)
    line = p("port", "late", check=0).stdout
    port = int(line.strip().rsplit(":", 1)[1])
    assert line.startswith("80/tcp -> 0.0.0.0:") and port != picked
    assert fetch(h, f"http://127.0.0.1:{port}/") == f"hello-from-{cid[:12]}\n"
    assert fetch(h, f"http://127.0.0.1:{picked}/") == f"hello-from-{early[:12]}\n"
    assert h.nft().count(f"dport {port} ") == 1 and h.nft().count(f"dport {picked} ") == 1


def test_publish_all_exposed_ports_and_restart(net, registry, tmp_path):
    from tests.helpers.registry import push_busybox

    p, h = net
    ref = push_busybox(registry, "exposing", tmp_path, exposed=("80/tcp",), cmd=("sh", "-c", SERVE))
    prefix, p.prefix = p.prefix, []  # the registry listens on this machine's loopback
    try:
        p("pull", "-q", ref, check=0)
    finally:
        p.prefix = prefix
    p.run_d("--name", "auto", "-P", "--restart", "always", ref)
    line = p("port", "auto", check=0).stdout
    assert line.startswith("80/tcp -> 0.0.0.0:")
    port = int(line.strip().rsplit(":", 1)[1])
    assert fetch(h, f"http://127.0.0.1:{port}/").startswith("hello-from-")
    ip = p.inspect("auto")["NetworkSettings"]["IPAddress"]
    os.kill(p.inspect("auto")["State"]["Pid"], 9)  # the monitor restarts it: detached, then attached again
    deadline = time.monotonic() + 20
    while p.inspect("auto")["RestartCount"] < 1 or not p.inspect("auto")["State"]["Running"]:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    info = p.inspect("auto")
    assert info["NetworkSettings"]["IPAddress"] not in ("", ip)  # a fresh lease, not the one just freed
    assert p("port", "auto", check=0).stdout == line  # the picked host port is kept
    assert fetch(h, f"http://127.0.0.1:{port}/").startswith("hello-from-")
    assert h.nft().count(f"dport {port}") == 1


def test_expose_is_kept_shown_and_published_by_P(net):
    p, h = net
    before = _container_dirs(p)
    for bad in ("127.0.0.1:9998:80/tcp", "9998:80", "80/sctp", "0", "70000", "90-80", "80-", "http"):
        r = p("run", "-d", "--expose", bad, p.image, "true")
        assert (r.returncode, r.stderr.count("\n")) == (125, 1) and r.stderr.startswith(f"--expose: {bad!r} is not "), r
        r = p("create", "--expose", "80", "--expose", bad, p.image, "true")
        assert r.returncode == 1 and r.stderr.startswith(f"--expose: {bad!r} is not PORT[-LAST][/tcp|udp]"), r
    assert _container_dirs(p) == before and p.ps() == []  # nothing made
    cid = p.run_d("--name", "ex", "--expose", "80", "--expose", "9000-9001/udp", "-P", p.image, "sh", "-c", SERVE)
    assert p.inspect("ex")["Config"]["ExposedPorts"] == {"80/tcp": {}, "9000/udp": {}, "9001/udp": {}}
    lines = p("port", "ex", check=0).stdout.splitlines()
    assert [line.split(" -> ")[0] for line in lines] == ["80/tcp", "9000/udp", "9001/udp"], lines
    port = int(lines[0].rsplit(":", 1)[1])
    assert fetch(h, f"http://127.0.0.1:{port}/") == f"hello-from-{cid[:12]}\n"
    p.run_d("--name", "quiet", "--expose", "80", p.image, "sleep", "1000")  # exposed, not published without -P
    assert p.inspect("quiet")["Config"]["ExposedPorts"] == {"80/tcp": {}}
    assert p("port", "quiet", check=0).stdout == ""


def test_pycr_bench_compares_network_drivers(net, tmp_path):
    p, h = net
    pycr = os.path.join(os.path.dirname(sys.executable), "pycr")
    strategies = ["pycr-img-net-none", "pycr-img-net-bridge", "pycr-img-net-host"]
    argv = [*h.enter, pycr, "bench", "--repeat", "1", "--warmup", "0", "-w", "true", "--output", str(tmp_path)]
    for s in strategies:
        argv += ["-s", s]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    samples = json.loads((tmp_path / "results.json").read_text())["samples"]
    assert sorted((s["strategy"], s["network"], s["ok"]) for s in samples) == [
        ("pycr-img-net-bridge", "bridge", True), ("pycr-img-net-host", "host", True),
        ("pycr-img-net-none", "none", True)]


def test_pycr_probe_rows_show_what_each_network_driver_exposes(net):
    """The host's 127.0.0.1 listener of ``pycr probe``: reached with --network host only."""
    p, h = net
    pycr = os.path.join(os.path.dirname(sys.executable), "pycr")
    argv = [*h.enter, pycr, "probe", "--json", "-s", "pycr-img-net-none", "-s", "pycr-img-net-bridge",
            "-s", "pycr-img-net-host"]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)["results"]
    assert {s: rows[s]["host_network"]["verdict"] for s in rows} == {
        "pycr-img-net-none": "contained", "pycr-img-net-bridge": "contained", "pycr-img-net-host": "escaped"}
    assert rows["pycr-img-net-bridge"]["host_pids"]["verdict"] == "contained"


def _pings(p, src, peer):
    """Does ``src`` reach ``peer`` (a name in its hosts file)?"""
    return ping_answered(lambda: p("exec", src, "busybox", "ping", "-c", "1", "-W", "2", peer))


def _ifaces(p, name):
    return p("exec", name, "ls", "/sys/class/net", check=0).stdout.split()


def test_network_connect_and_disconnect(net):
    p, h = net
    p("network", "create", "--subnet", "10.76.0.0/24", "app", check=0)
    p.run_d("--name", "c1", p.image, "sleep", "1000")
    c1 = p.inspect("c1")["Id"]
    p.run_d("--name", "c2", "--network", "app", p.image, "sleep", "1000")
    p("network", "connect", "--alias", "one", "app", "c1", check=0)
    assert _ifaces(p, "c1") == ["eth0", "eth1", "lo"]
    nets = p.inspect("c1")["NetworkSettings"]["Networks"]
    assert sorted(nets) == ["app", "bridge"] and nets["app"]["IPAddress"].startswith("10.76.0.")
    assert nets["app"]["Aliases"] == ["one"]
    for src, peer in (("c2", "c1"), ("c2", "one"), ("c1", "c2")):  # by name and alias: the hosts files follow
        assert _pings(p, src, peer), (src, peer)
    members = json.loads(p("network", "inspect", "app", check=0).stdout)[0]["Containers"]
    assert members[c1]["IPv4Address"] == nets["app"]["IPAddress"] + "/24"
    # one line for each refusal; nothing changes
    for args, err in ((("connect", "app", "c1"), "container c1 is already connected to network app\n"),
                      (("connect", "nosuch", "c1"), "network 'nosuch' does not exist\n"),
                      (("connect", "app", "nosuch"), "no such container: nosuch\n"),
                      (("disconnect", "app", "c2x"), "no such container: c2x\n")):
        r = p("network", *args)
        assert r.returncode != 0 and r.stderr == err, (args, r.stderr)
    for name, mode in (("m-host", "host"), ("m-none", "none"), ("m-joined", "container:c2")):
        p.run_d("--name", name, "--network", mode, p.image, "sleep", "1000")
        r = p("network", "connect", "app", name)
        assert r.returncode != 0 and r.stderr == f"container {name}: network mode '{mode}' cannot be connected " \
                                                 f"to a network\n"
        r = p("network", "disconnect", "app", name)
        assert r.returncode != 0 and r.stderr == f"container {name}: network mode '{mode}' cannot be " \
                                                 f"disconnected from a network\n"
    # a restart keeps the connection
    p("restart", "-t", "1", "c1", check=0)
    assert _ifaces(p, "c1") == ["eth0", "eth1", "lo"]
    assert sorted(p.inspect("c1")["NetworkSettings"]["Networks"]) == ["app", "bridge"]
    # disconnect: the interface and its veth go at once, the peers forget the name
    p("network", "disconnect", "app", "c1", check=0)
    assert _ifaces(p, "c1") == ["eth0", "lo"] and "pv" + c1[:12] + "1" not in h.links()
    assert "c1" not in hosts_names(p("exec", "c2", "cat", "/etc/hosts", check=0).stdout)
    assert c1 not in json.loads(p("network", "inspect", "app", check=0).stdout)[0]["Containers"]
    assert sorted(p.inspect("c1")["NetworkSettings"]["Networks"]) == ["bridge"]
    r = p("network", "disconnect", "app", "c1")
    assert r.returncode != 0 and r.stderr == "container c1 is not connected to network app\n"
    # a created container: connected from its first start on
    p("create", "--name", "c3", p.image, "sleep", "1000", check=0)
    p("network", "connect", "app", "c3", check=0)
    p("start", "c3", check=0)
    assert _ifaces(p, "c3") == ["eth0", "eth1", "lo"]
    # the network a container publishes ports on stays
    p.run_d("--name", "c4", "-p", "8095:80", p.image, "sleep", "1000")
    r = p("network", "disconnect", "bridge", "c4")
    assert r.returncode != 0 and r.stderr == "container c4 publishes ports on network bridge: it cannot be " \
                                             "disconnected from it\n"
    r = p("network", "rm", "app")
    assert r.returncode == 1 and r.stderr == "network 'app' has containers attached: c2, c3\n"
    p("rm", "-f", "m-joined", "c1", "c2", "c3", "c4", "m-host", "m-none", check=0)
    assert p("network", "rm", "app", check=0).stdout == "app\n"


def test_network_mtu(net):
    p, h = net
    r = p("network", "create", "--mtu", "20", "tiny")
    assert r.returncode != 0 and r.stderr == "--mtu 20: need a number from 68 to 65535\n"
    p("network", "create", "--mtu", "65520", "fast", check=0)
    assert json.loads(p("network", "inspect", "fast", check=0).stdout)[0]["MTU"] == 65520
    cid = p.run_d("--name", "f1", "--network", "fast", p.image, "sleep", "1000")
    assert p("exec", "f1", "cat", "/sys/class/net/eth0/mtu", check=0).stdout == "65520\n"
    bridge = json.loads(p("network", "inspect", "fast", check=0).stdout)[0]["Bridge"]
    for dev in ("pv" + cid[:12], bridge):
        assert h.run("cat", f"/sys/class/net/{dev}/mtu").stdout == "65520\n"
    p("rm", "-f", "f1", check=0)
    p("network", "rm", "fast", check=0)


def test_network_gateway_and_options(net):
    """--gateway: the bridge's address and the containers' default route; -o names the bridge and sets
    the MTU; every bad value is one line naming it, and nothing is defined."""
    p, h = net
    p("network", "create", "--subnet", "10.68.0.0/24", "--gateway", "10.68.0.200",
      "-o", "com.docker.network.bridge.name=testbr0", "-o", "com.docker.network.driver.mtu=1400", "gwnet", check=0)
    info = json.loads(p("network", "inspect", "gwnet", check=0).stdout)[0]
    assert info["IPAM"]["Config"] == [{"Subnet": "10.68.0.0/24", "Gateway": "10.68.0.200"}]
    assert (info["Bridge"], info["MTU"]) == ("testbr0", 1400)
    assert info["Options"] == {"com.docker.network.bridge.name": "testbr0", "com.docker.network.driver.mtu": "1400"}
    p.run_d("--name", "g1", "--network", "gwnet", p.image, "sleep", "1000")
    route = p("exec", "g1", "ip", "route", check=0).stdout
    assert route.startswith("default via 10.68.0.200 dev eth0"), route
    assert p("exec", "g1", "cat", "/sys/class/net/eth0/mtu", check=0).stdout == "1400\n"
    assert "inet 10.68.0.200/24" in h.run("ip", "-4", "addr", "show", "testbr0").stdout
    ip = p.inspect("g1")["NetworkSettings"]["Networks"]["gwnet"]
    assert ip["Gateway"] == "10.68.0.200" and ip["IPAddress"] != "10.68.0.200"
    before = sorted(n["Name"] for n in json.loads(p("network", "ls", "--format", "json", check=0).stdout))
    for args, line in (
            (["--subnet", "10.69.0.0/24", "--gateway", "10.70.0.1"], "--gateway 10.70.0.1: not an address of --subnet "
                                                                    "10.69.0.0/24"),
            (["--subnet", "10.69.0.0/24", "--gateway", "10.69.0.0"], "--gateway 10.69.0.0: the network address of "
                                                                    "10.69.0.0/24, not a host's"),
            (["--subnet", "10.69.0.0/24", "--gateway", "10.69.0.255"], "--gateway 10.69.0.255: the broadcast address "
                                                                      "of 10.69.0.0/24, not a host's"),
            (["--subnet", "10.69.0.0/24", "--gateway", "banana"], "--gateway 'banana': not an IPv4 address"),
            (["--gateway", "10.69.0.1"], "--gateway 10.69.0.1: give --subnet too (the gateway is an address of it)"),
            (["-o", "com.docker.network.bridge.enable_icc=false"],
             "-o com.docker.network.bridge.enable_icc: unknown network option (pycr knows "
             "com.docker.network.bridge.name, com.docker.network.driver.mtu)"),
            (["-o", "novalue"], "-o 'novalue': use KEY=VALUE"),
            (["-o", "com.docker.network.driver.mtu=big"], "-o com.docker.network.driver.mtu=big: need a number from 68 "
                                                          "to 65535"),
            (["-o", "com.docker.network.driver.mtu=20"], "-o com.docker.network.driver.mtu=20: need a number from 68 "
                                                         "to 65535"),
            (["--mtu", "1500", "-o", "com.docker.network.driver.mtu=1400"],
             "--mtu 1500 and -o com.docker.network.driver.mtu=1400: give one MTU"),
            (["-o", "com.docker.network.bridge.name=wan0"], "-o com.docker.network.bridge.name=wan0: an interface of "
                                                            "that name exists here; pycr makes (and removes) its "
                                                            "networks' bridges itself"),
            (["-o", "com.docker.network.bridge.name=testbr0"], "-o com.docker.network.bridge.name=testbr0: the bridge "
                                                               "of network 'gwnet'"),
            (["-o", "com.docker.network.bridge.name=pycr0"], "-o com.docker.network.bridge.name=pycr0: the bridge of "
                                                             "network 'bridge'"),
            (["-o", "com.docker.network.bridge.name=a/b"], "-o com.docker.network.bridge.name=a/b: an interface name "
                                                           "is 1-15 letters, digits, '_', '.', '-'"),
            (["-o", "com.docker.network.bridge.name=" + "x" * 16], "an interface name is 1-15 letters"),
            (["-o", "com.docker.network.bridge.name=pv0123456789ab"], "names starting with 'pv' are pycr's")):
        r = p("network", "create", *args, "bad")
        assert r.returncode == 1 and r.stderr.count("\n") == 1 and line in r.stderr, (args, r.stderr)
    assert sorted(n["Name"] for n in json.loads(p("network", "ls", "--format", "json", check=0).stdout)) == before
    assert "wan0" in h.links()  # never touched
    p("rm", "-f", "g1", check=0)
    p("network", "rm", "gwnet", check=0)
    assert "testbr0" not in h.settled_links()

