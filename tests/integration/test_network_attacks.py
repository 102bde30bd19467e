"""Attacks on the host through the bridge network, as a container or an image would make them,
against the real kernel inside a network namespace standing in for the host."""

from __future__ import annotations

import os
import select
import shutil
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.root
HERE = os.path.dirname(os.path.dirname(__file__))
ATTEMPTS = 5

# a TCP server on ADDR:PORT in the host namespace: appends what each connection sends to LOG
RECORDER = """
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(16)
print("listening", flush=True)
while True:
    c, _ = s.accept(); c.settimeout(2)
    try:
        data = c.recv(4096)
    except OSError:
        data = b""
    with open(sys.argv[3], "ab") as f:
        f.write(data or b"(connected)\\n")
    c.close()
"""


@pytest.fixture(scope="module")
def rawtcp(tmp_path_factory):
    """tests/helpers/rawtcp.c built static: it runs in the busybox image."""
    cc = shutil.which("cc") or shutil.which("gcc")
    assert cc, "a C compiler is needed (scripts/install.sh --test installs gcc and libc6-dev)"
    d = tmp_path_factory.mktemp("rawtcp")
    subprocess.run([cc, "-static", "-O1", "-o", str(d / "rawtcp"), os.path.join(HERE, "helpers", "rawtcp.c")],
                   check=True)
    return str(d)


def _recorder(h, addr: str, port: int, log: str) -> subprocess.Popen:
    proc = subprocess.Popen(["ip", "netns", "exec", h.name, sys.executable, "-c", RECORDER, addr, str(port), log],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline() == "listening\n"
    return proc


def test_a_container_with_default_capabilities_cannot_reach_the_hosts_loopback(net, rawtcp, tmp_path):
    """CVE-2020-8558: route_localnet on the bridge (for published ports reached from the host's
    127.0.0.1) lets the kernel accept frames a container addresses to the gateway's MAC with
    destination 127.0.0.1.  A host-only server must never hear from it; the same raw sender to
    a server on the host's bridge address proves the sender itself works."""
    p, h = net
    p.run_d("--name", "attacker", "-v", f"{rawtcp}:/t:ro", p.image, "sleep", "1000")
    gateway = p.inspect("attacker")["NetworkSettings"]["Networks"]["bridge"]["Gateway"]
    secret = tmp_path / "secret.log"
    servers = [_recorder(h, "127.0.0.1", 9999, str(secret)), _recorder(h, gateway, 9998, str(tmp_path / "pub.log"))]
    try:
        answers = [p("exec", "attacker", "/t/rawtcp", gateway, "127.0.0.1", "9999", check=0).stdout
                   for _ in range(ATTEMPTS)]
        time.sleep(0.5)  # a request that got through has reached the log by now
        heard = secret.read_text() if secret.exists() else ""
        assert (answers, heard) == (["no answer\n"] * ATTEMPTS, "")
        # the control: the host's TCP stack answers the same frames sent to its bridge address
        # (only the SYN-ACK: the container's own kernel resets a connection it does not know)
        r = p("exec", "attacker", "/t/rawtcp", gateway, gateway, "9998", check=0)
        assert r.stdout == "answered\n", r.stdout + r.stderr
        assert not secret.exists()
    finally:
        for s in servers:
            s.kill()
            s.wait()


UDP_RECORDER = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind((sys.argv[1], int(sys.argv[2])))
print("bound", flush=True)
while True:
    data, (addr, _) = s.recvfrom(100)
    print(addr, data.decode().strip(), flush=True)
"""


def test_a_container_cannot_pass_itself_off_as_the_hosts_loopback(net, rawtcp):
    """The other direction of route_localnet: a datagram claiming to come from 127.0.0.1 (which a
    host service may trust) must not reach the host; the same datagram from the container's own
    address, sent after each, proves the sender works.  The kernel drops a local source arriving
    from outside by itself unless ``accept_local`` is set, which a host may do: the test sets it
    on the bridge (in its host namespace), so only pycr's drop stands in the way."""
    p, h = net
    p.run_d("--name", "spoofer", "-v", f"{rawtcp}:/t:ro", p.image, "sleep", "1000")
    h.run("sysctl", "-qw", "net.ipv4.conf.pycr0.accept_local=1")
    net_info = p.inspect("spoofer")["NetworkSettings"]["Networks"]["bridge"]
    gateway, own = net_info["Gateway"], net_info["IPAddress"]
    server = subprocess.Popen(["ip", "netns", "exec", h.name, sys.executable, "-c", UDP_RECORDER, gateway, "9997"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout.readline() == "bound\n"
        for _ in range(ATTEMPTS):
            for src in ("127.0.0.1", own):
                assert p("exec", "spoofer", "/t/rawtcp", gateway, gateway, "9997", src, check=0).stdout == "sent\n"
            assert select.select([server.stdout], [], [], 30)[0], "not even the honest datagram arrived"
            assert server.stdout.readline() == f"{own} spoofed\n"  # only the honest one arrived
    finally:
        server.kill()
        server.wait()


def test_published_ports_from_the_hosts_loopback_still_answer_with_the_drop_in_place(net):
    p, h = net
    p.run_d("--name", "web", "-p", "127.0.0.1:8082:80", p.image, "sh", "-c",
            "mkdir -p /www && echo hello > /www/index.html && exec httpd -f -p 80 -h /www")
    assert "127.0.0.0/8 drop" in h.nft()
    get = "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:8082/', timeout=3).read())"
    for _ in range(50):
        r = h.run(sys.executable, "-c", get, check=False)
        if r.returncode == 0:
            break
        time.sleep(0.1)
    assert r.stdout == "b'hello\\n'\n", r.stderr


def _made(p) -> set[str]:
    """Container state dirs (``.seccomp`` is a cache) and store dirs of containers."""
    cdir = os.path.join(p.store, "containers")
    return {n for n in os.listdir(p.root) if not n.startswith(".")} | set(os.listdir(cdir) if os.path.isdir(cdir)
                                                                         else [])


def test_an_image_cannot_choose_host_addresses_or_ports_for_publish_all(net, registry, tmp_path):
    """ExposedPorts keys are container ports; one with a host address or port is refused by -P."""
    from tests.helpers.registry import push_busybox

    p, h = net
    for i, key in enumerate(("127.0.0.1:9998:80/tcp", "0.0.0.0:5353:5353/udp")):
        ref = push_busybox(registry, "exposer", tmp_path, tag=f"k{i}", exposed=("80/tcp", key), cmd=("sleep", "1000"))
        prefix, p.prefix = p.prefix, []  # the registry listens on this machine's loopback
        try:
            p("pull", "-q", ref, check=0)
        finally:
            p.prefix = prefix
        before = _made(p)
        r = p("run", "-d", "-P", ref)
        assert (r.returncode, r.stderr) == (125, f"-P: the image's config.ExposedPorts key {key!r} is not "
                                               f"PORT[/tcp|udp] (a port from 1 to 65535); nothing was published\n")
        assert _made(p) == before and p.ps() == [] and "dport" not in h.nft()


UDP_SERVICE = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as avahi holds mDNS's 5353
s.bind(("0.0.0.0", 5353))
print("bound", flush=True)
while True:
    print(s.recvfrom(100)[0].decode(), flush=True)
"""


def test_a_udp_port_a_host_service_holds_with_reuseaddr_is_not_published(net):
    """DNAT would take the service's packets; the free-port check must see it and refuse."""
    p, h = net
    service = subprocess.Popen(["ip", "netns", "exec", h.name, sys.executable, "-c", UDP_SERVICE],
                               stdout=subprocess.PIPE, text=True)
    try:
        assert service.stdout.readline() == "bound\n"
        before = _made(p)
        for spec in ("5353:5353/udp", "192.0.2.1:5353:53/udp"):
            r = p("run", "-d", "-p", spec, p.image, "sleep", "1000")
            assert (r.returncode, r.stderr) == (125, f"-p {spec}: the host port cannot be used: Address already "
                                                   f"in use\n")
        assert _made(p) == before and p.ps() == [] and "dport" not in h.nft()
        # the service still gets what the network sends it
        send = "import socket; socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'to-host', ('192.0.2.1', 5353))"
        subprocess.run(["ip", "netns", "exec", h.wan, sys.executable, "-c", send], check=True)
        assert service.stdout.readline() == "to-host\n"
    finally:
        service.kill()
        service.wait()


TIME_WAIT = """
import socket
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers do
srv.bind(("127.0.0.1", 0)); srv.listen(1); port = srv.getsockname()[1]
c = socket.create_connection(("127.0.0.1", port)); a, _ = srv.accept()
a.close(); c.close(); srv.close()  # the server side closed first: its port stays in TIME_WAIT
print(port)
"""


def test_a_tcp_port_in_time_wait_is_free_to_publish(net):
    """TCP keeps SO_REUSEADDR in the check: a listener may bind a port old connections linger on."""
    p, h = net
    port = h.run(sys.executable, "-c", TIME_WAIT).stdout.strip()
    assert f"127.0.0.1:{port} " in h.run("ss", "-tan", "state", "time-wait").stdout
    p.run_d("--name", "tw", "-p", f"{port}:80", p.image, "sleep", "1000")
    assert f"dport {port} " in h.nft()


def test_a_bridge_name_later_taken_by_a_host_interface_is_never_used_nor_deleted(net):
    """``-o com.docker.network.bridge.name`` is checked free when the network is made, but the
    host may bring up an interface of that name afterwards (a NIC, a VPN's tun;
    a veth here, in the namespace standing in for the host).  pycr must neither plug containers into it
    nor delete it with ``network rm`` / ``prune``: it only ever deletes a bridge."""
    p, h = net
    p("network", "create", "-o", "com.docker.network.bridge.name=hostnic0", "later", check=0)
    subprocess.run(["ip", "-n", h.name, "link", "add", "hostnic0", "type", "veth", "peer", "hostnic0p"], check=True)
    try:
        r = p("run", "--rm", "--network", "later", p.image, "true")
        assert r.returncode != 0 and p("ps", "-aq").stdout == ""
        master = subprocess.run(["ip", "-n", h.name, "-o", "link", "show", "hostnic0"], capture_output=True,
                                text=True, check=True).stdout
        assert "master" not in master
        p("network", "rm", "later", check=0)
        p("network", "prune", check=0)
        assert subprocess.run(["ip", "-n", h.name, "link", "show", "hostnic0"], capture_output=True).returncode == 0
        assert r.stderr.strip().splitlines() == [
            "network 'later': interface 'hostnic0' exists here and is not a bridge; "
            "pycr will not plug containers into it"], r.stderr
    finally:
        subprocess.run(["ip", "-n", h.name, "link", "del", "hostnic0"], capture_output=True)


def _ip(h, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", "-n", h.name, *args], capture_output=True, text=True, check=True)


def _link(h, name: str) -> dict | None:
    """``ip -j -d link show NAME`` in the test host (None when there is no such link), with its
    IPv4 addresses (``addrs``) and the names of its ports (``ports``)."""
    import json

    r = subprocess.run(["ip", "-n", h.name, "-j", "-d", "addr", "show", "dev", name], capture_output=True, text=True)
    if r.returncode:
        return None
    got = json.loads(r.stdout)[0]
    got["addrs"] = sorted(f"{a['local']}/{a['prefixlen']}" for a in got.get("addr_info", []) if a["family"] == "inet")
    got["ports"] = sorted(x["ifname"] for x in json.loads(_ip(h, "-j", "link", "show", "master", name).stdout))
    return got


def _foreign_bridge(h, name: str, addr: str | None = None, alias: str | None = None) -> dict:
    """A bridge the host makes under ``name`` (as docker makes docker0), up, maybe addressed."""
    _ip(h, "link", "add", name, "type", "bridge")
    if alias:
        _ip(h, "link", "set", name, "alias", alias)
    if addr:
        _ip(h, "addr", "add", addr, "dev", name)
    _ip(h, "link", "set", name, "up")
    return _link(h, name)


def _untouched(p, h, before: dict, nft_before: str) -> None:
    """Nothing of a refused start: the foreign bridge as it was (no port, alias, address
    added), no container, no veth, no lease, the firewall as it was."""
    after = _link(h, before["ifname"])
    keys = ("ifindex", "ifalias", "addrs", "ports", "flags")
    assert {k: after.get(k) for k in keys} == {k: before.get(k) for k in keys}
    assert p("ps", "-aq").stdout == ""
    assert not [n for n in h.settled_links() if n.startswith("pv")]
    assert os.listdir(os.path.join(p.store, "network", "leases")) == []
    assert h.nft() == nft_before


def test_a_foreign_bridge_under_the_chosen_name_is_never_used_nor_deleted(net):
    """A bridge the host made under a user network's bridge name before its first container
    (an admin's, docker's): no container is plugged into it, pycr puts no rule on it, and
    ``network rm`` removes pycr's record only, saying so in one line."""
    p, h = net
    p("network", "create", "-o", "com.docker.network.bridge.name=hostbr0", "fb", check=0)
    before = _foreign_bridge(h, "hostbr0", "172.31.0.1/16")
    try:
        nft_before = h.nft()
        for _ in range(3):
            r = p("run", "--rm", "--network", "fb", p.image, "true")
            assert r.returncode != 0
            assert r.stderr.strip().splitlines() == [
                "network 'fb': interface 'hostbr0' exists here and is a bridge pycr did not make (it has no pycr "
                "mark); pycr will not plug containers into it"], r.stderr
            _untouched(p, h, before, nft_before)
        assert "hostbr0" not in nft_before
        r = p("network", "rm", "fb", check=0)
        assert r.stdout == "fb\n"
        assert r.stderr.strip().splitlines() == [
            "network 'fb': interface 'hostbr0' left in place: it is a bridge pycr did not make (it has no pycr mark)"]
        assert "fb" not in p("network", "ls", "-q", "--format", "json", check=0).stdout
        assert _link(h, "hostbr0")["ifindex"] == before["ifindex"]
        p("network", "prune", check=0)
        _untouched(p, h, before, nft_before)
    finally:
        subprocess.run(["ip", "-n", h.name, "link", "del", "hostbr0"], capture_output=True)


def test_pycrs_own_bridge_is_reused_and_removed_and_a_foreign_one_after_it_is_not_taken(net):
    """The bridge pycr makes carries ``pycr:<network id>``; every container of the network
    goes on that one bridge, ``network rm`` deletes it.  Then ``pycr0`` (the default
    network's) deleted by prune and made again by the host is refused and left by prune."""
    p, h = net
    nid = p("network", "create", "-o", "com.docker.network.bridge.name=ownbr0", "own", check=0).stdout.strip()
    a = p.run_d("--network", "own", p.image, "sleep", "1000")
    first = _link(h, "ownbr0")
    assert first["ifalias"] == f"pycr:{nid}" and first["linkinfo"]["info_kind"] == "bridge"
    b = p.run_d("--network", "own", p.image, "sleep", "1000")
    second = _link(h, "ownbr0")
    assert second["ifindex"] == first["ifindex"] and second["addrs"] == first["addrs"]
    assert second["ports"] == sorted(["pv" + a[:12], "pv" + b[:12]])
    p("rm", "-f", a, b, check=0)
    r = p("network", "rm", "own", check=0)
    assert (r.stdout, r.stderr) == ("own\n", "")
    assert _link(h, "ownbr0") is None

    p("run", "--rm", p.image, "true", check=0)  # the default network's bridge, made and marked
    assert _link(h, "pycr0")["ifalias"] == "pycr:" + "0" * 64
    p("network", "prune", check=0)
    assert _link(h, "pycr0") is None
    before = _foreign_bridge(h, "pycr0", "10.88.0.1/16")  # even with the address pycr would give it
    try:
        nft_before = h.nft()
        r = p("run", "--rm", p.image, "true")
        assert r.returncode != 0
        assert r.stderr.strip().splitlines() == [
            "network 'bridge': interface 'pycr0' exists here and is a bridge pycr did not make (it has no pycr "
            "mark); pycr will not plug containers into it"], r.stderr
        _untouched(p, h, before, nft_before)
        r = p("network", "prune", check=0)
        assert r.stderr.strip().splitlines() == [
            "network 'bridge': interface 'pycr0' left in place: it is a bridge pycr did not make (it has no pycr "
            "mark)"]
        _untouched(p, h, before, nft_before)
    finally:
        subprocess.run(["ip", "-n", h.name, "link", "del", "pycr0"], capture_output=True)


def test_a_bridge_marked_for_another_network_is_never_used_nor_deleted(net):
    """A bridge carrying the mark of another pycr network (another store's under the same
    chosen name, one whose network is gone): refused by name and id, left by rm and prune."""
    p, h = net
    other = p("network", "create", "other", check=0).stdout.strip()
    p("network", "create", "-o", "com.docker.network.bridge.name=markbr0", "marked", check=0)
    before = _foreign_bridge(h, "markbr0", alias=f"pycr:{other}")
    try:
        nft_before = h.nft()
        r = p("run", "--rm", "--network", "marked", p.image, "true")
        assert r.returncode != 0
        assert r.stderr.strip().splitlines() == [
            f"network 'marked': interface 'markbr0' exists here and is the bridge pycr made for another network "
            f"(id {other[:12]}); pycr will not plug containers into it"], r.stderr
        _untouched(p, h, before, nft_before)
        r = p("network", "prune", check=0)
        assert sorted(r.stdout.split()) == ["marked", "other"]
        assert r.stderr.strip().splitlines() == [
            f"network 'marked': interface 'markbr0' left in place: it is the bridge pycr made for another network "
            f"(id {other[:12]})"]
        _untouched(p, h, before, nft_before)
    finally:
        subprocess.run(["ip", "-n", h.name, "link", "del", "markbr0"], capture_output=True)


def test_a_bridge_an_earlier_pycr_made_is_adopted_only_by_its_record_and_gateway(net):
    """Bridges made before the mark have no alias.  One is adopted (marked, reused) when the
    store's record of its last firewall sync names that very link for the network and its one
    address is the gateway; with another address, or a bridge made anew under the name
    (another index), it is refused."""
    p, h = net
    nid = p("network", "create", "--subnet", "10.77.0.0/24", "-o", "com.docker.network.bridge.name=oldbr0", "old",
            check=0).stdout.strip()
    p("run", "--rm", "--network", "old", p.image, "true", check=0)
    made = _link(h, "oldbr0")
    assert made["addrs"] == ["10.77.0.1/24"]
    _ip(h, "link", "set", "oldbr0", "alias", "")  # as an earlier pycr left it
    assert "ifalias" not in _link(h, "oldbr0")
    p("run", "--rm", "--network", "old", p.image, "true", check=0)
    adopted = _link(h, "oldbr0")
    assert (adopted["ifindex"], adopted["ifalias"]) == (made["ifindex"], f"pycr:{nid}")

    _ip(h, "link", "set", "oldbr0", "alias", "")
    _ip(h, "addr", "flush", "dev", "oldbr0")
    _ip(h, "addr", "add", "10.77.0.9/24", "dev", "oldbr0")
    refused = "network 'old': interface 'oldbr0' exists here and is a bridge pycr did not make (it has no pycr mark)"
    r = p("run", "--rm", "--network", "old", p.image, "true")
    assert r.returncode != 0 and r.stderr.startswith(refused), r.stderr
    assert "ifalias" not in _link(h, "oldbr0")

    _ip(h, "link", "del", "oldbr0")
    before = _foreign_bridge(h, "oldbr0", "10.77.0.1/24")  # the gateway's address, but not the recorded link
    try:
        assert before["ifindex"] != made["ifindex"]
        nft_before = h.nft()
        r = p("run", "--rm", "--network", "old", p.image, "true")
        assert r.returncode != 0 and r.stderr.startswith(refused), r.stderr
        _untouched(p, h, before, nft_before)
        r = p("network", "rm", "old", check=0)
        assert r.stderr.startswith("network 'old': interface 'oldbr0' left in place")
        _untouched(p, h, before, nft_before)
    finally:
        subprocess.run(["ip", "-n", h.name, "link", "del", "oldbr0"], capture_output=True)
