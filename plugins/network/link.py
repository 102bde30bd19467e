"""Netlink through pyroute2: the bridge, a veth pair per container, addresses and routes.

pyroute2 costs ~150 ms to import, so only the bridge driver imports this
module, and only when a container is attached or detached.

The container side is configured through a netlink socket opened *inside*
the container's network namespace: we enter it (setns on
``/proc/PID/ns/net``) just long enough to create the socket, then return;
a netlink socket stays bound to the namespace it was made in.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os


def veth_name(cid: str) -> str:
    return "pv" + cid[:12]  # IFNAMSIZ: 15 characters at most


def _ipr():
    from pyroute2 import IPRoute

    return IPRoute()


def _sysctl(path: str, value: str) -> None:
    with open(os.path.join("/proc/sys/net", path), "w") as f:
        f.write(value)


def ensure_bridge(ipr, network: dict) -> int:
    """The network's bridge (made, addressed and up if missing); its index."""
    name = network["bridge"]
    found = ipr.link_lookup(ifname=name)
    if found:
        return found[0]
    ipr.link("add", ifname=name, kind="bridge")
    idx = ipr.link_lookup(ifname=name)[0]
    prefix = ipaddress.ip_network(network["subnet"]).prefixlen
    ipr.addr("add", index=idx, address=network["gateway"], prefixlen=prefix)
    ipr.link("set", index=idx, state="up")
    _sysctl(f"ipv4/conf/{name}/route_localnet", "1")  # DNAT from the host's 127.0.0.1
    _sysctl("ipv4/ip_forward", "1")
    return idx


@contextlib.contextmanager
def _socket_in(pid: int):
    """A netlink socket in the network namespace of ``pid``.  While inside, eth0 is told to
    announce its address when it comes up (arp_notify): a reused address must not stay
    cached with the MAC of the container that had it before."""
    from pyroute2 import netns

    home = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        netns.setns(f"/proc/{pid}/ns/net", flags=0)
        try:
            ipr = _ipr()
            _sysctl("ipv4/conf/eth0/arp_notify", "1")
        finally:
            netns.setns(home, flags=0)
    finally:
        os.close(home)
    try:
        yield ipr
    finally:
        ipr.close()


def attach(pid: int, cid: str, network: dict, address: str) -> str:
    """Plug the container whose init is ``pid`` into ``network`` with ``address``;
    returns the MAC address of its eth0."""
    host = veth_name(cid)
    prefix = ipaddress.ip_network(network["subnet"]).prefixlen
    with _ipr() as ipr:
        bridge = ensure_bridge(ipr, network)
        for idx in ipr.link_lookup(ifname=host):  # a leftover of this id's earlier run
            ipr.link("del", index=idx)
        ipr.link("add", ifname=host, kind="veth", peer={"ifname": "eth0", "net_ns_pid": pid})
        idx = ipr.link_lookup(ifname=host)[0]
        ipr.link("set", index=idx, master=bridge, state="up")
    with _socket_in(pid) as ipc:
        lo = ipc.link_lookup(ifname="lo")[0]
        ipc.link("set", index=lo, state="up")
        eth = ipc.link_lookup(ifname="eth0")[0]
        ipc.addr("add", index=eth, address=address, prefixlen=prefix)
        ipc.link("set", index=eth, state="up")
        ipc.route("add", dst="0.0.0.0/0", gateway=network["gateway"])
        return ipc.get_links(eth)[0].get("IFLA_ADDRESS")


def delete(names: list[str]) -> None:
    """Delete the links called ``names`` that exist (veths whose netns outlived the lease, idle bridges)."""
    with _ipr() as ipr:
        for name in names:
            for idx in ipr.link_lookup(ifname=name):
                with contextlib.suppress(Exception):  # gone meanwhile (its netns ended)
                    ipr.link("del", index=idx)


def exists(name: str) -> bool:
    """Is there a link ``name`` in our network namespace?  (An ioctl: no /sys, which may
    show another namespace, and no pyroute2 import.)"""
    import socket

    try:
        socket.if_nametoindex(name)
        return True
    except OSError:
        return False
