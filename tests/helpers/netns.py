"""Network namespaces standing in for "the host" and "the internet", for network tests.

``nethost`` (module scope) makes a namespace ``pycrt-XXXX`` with ``lo`` up and
a veth ``wan0`` (192.0.2.1/24) to a second namespace ``pycrt-XXXX-w``
(192.0.2.2/24, no route back to any container subnet: only NAT gets answers
home), and a ``manage``-like runner whose ``pycr`` runs inside the first
(``nsenter --net``: a network namespace only, so rootfs mounts stay visible
to every pycr call, unlike ``ip netns exec``'s private mount namespace).
Nothing here touches the machine's own interfaces, routes or firewall.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid

import pytest

from tests.helpers.manage import Pycr, leftovers, remove_all


def sh(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, check=check)


def ping_answered(ping, tries: int = 5) -> bool:
    """Whether ``ping()`` -- one ``busybox ping -c 1`` run, a CompletedProcess -- got its packet
    back in one of ``tries`` attempts: a loaded machine may drop the first ARP exchange past
    ping's timeout.  A name that does not resolve or a peer that is unreachable still fails."""
    return any("1 packets received" in ping().stdout for _ in range(tries))


def hosts_names(text: str) -> set[str]:
    """Every name an /etc/hosts text gives an address (not the addresses: a 12-hex hostname
    may contain "c1" by chance)."""
    return {name for line in text.splitlines() if not line.startswith("#") for name in line.split()[1:]}


class NetHost:
    def __init__(self, name: str):
        self.name, self.wan = name, name + "-w"
        self.enter = ["nsenter", f"--net=/run/netns/{name}"]

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return sh("ip", "netns", "exec", self.name, *args, check=check)

    def links(self) -> list[str]:
        return sorted(x["ifname"] for x in json.loads(self.run("ip", "-j", "link").stdout))

    def settled_links(self, timeout: float = 10.0) -> list[str]:
        """The links once the containers' veths have gone: a stopped container's veth goes
        with its namespace, which the kernel dismantles a moment after the init is gone."""
        deadline = time.monotonic() + timeout
        while True:
            names = self.links()
            if not any(n.startswith("pv") for n in names) or time.monotonic() > deadline:
                return names
            time.sleep(0.05)

    def nft(self) -> str:
        return self.run("nft", "list", "ruleset").stdout


def make_nethost() -> NetHost:
    h = NetHost("pycrt-" + uuid.uuid4().hex[:6])
    sh("ip", "netns", "add", h.name)
    sh("ip", "netns", "add", h.wan)
    h.run("ip", "link", "set", "lo", "up")
    sh("ip", "link", "add", "wan0", "netns", h.name, "type", "veth", "peer", "name", "eth0", "netns", h.wan)
    h.run("ip", "addr", "add", "192.0.2.1/24", "dev", "wan0")
    h.run("ip", "link", "set", "wan0", "up")
    sh("ip", "netns", "exec", h.wan, "ip", "addr", "add", "192.0.2.2/24", "dev", "eth0")
    sh("ip", "netns", "exec", h.wan, "ip", "link", "set", "eth0", "up")
    sh("ip", "netns", "exec", h.wan, "ip", "link", "set", "lo", "up")
    return h


def drop_nethost(h: NetHost) -> None:
    sh("ip", "netns", "del", h.name, check=False)
    sh("ip", "netns", "del", h.wan, check=False)


def network_leftovers(p: Pycr, h: NetHost) -> list[str]:
    """Devices, rules and leases of containers still in the test host namespace (bridges of
    defined networks may stay, as docker0 does)."""
    bridges = {"pycr0"} | {n["Bridge"] for n in json.loads(p("network", "ls", "--format", "json", check=0).stdout)}
    left = [f"link {n}" for n in h.settled_links() if n not in ("lo", "wan0", *bridges)]
    if "table ip pycr" in h.nft():
        left.append("nft table ip pycr")
    leases = os.path.join(p.store, "network", "leases")
    if os.path.isdir(leases):
        left += [f"lease {n}" for n in os.listdir(leases)]
    return left


@pytest.fixture(scope="module")
def nethost(manage):
    """``manage`` whose pycr runs in a fresh host namespace; yields (pycr, NetHost)."""
    h = make_nethost()
    saved = list(manage.prefix)
    manage.prefix = h.enter
    manage.env = {**manage.env, "PYCR_NETWORK": "bridge"}
    try:
        yield manage, h
    finally:
        remove_all(manage)
        manage("network", "prune")
        left = network_leftovers(manage, h) + leftovers(manage)
        left += [f"link {n}" for n in h.settled_links() if n not in ("lo", "wan0")]  # pruned: not even pycr0
        manage.prefix = saved
        drop_nethost(h)
        assert not left, f"left behind: {left}"


@pytest.fixture
def net(nethost):
    """Per test: no containers or user networks before, and none of their traces after."""
    p, h = nethost
    remove_all(p)
    yield p, h
    remove_all(p)
    p("network", "prune")
    assert not network_leftovers(p, h)
