"""Netlink with pyroute2's rtnetlink messages: the bridge, a veth pair per container, addresses, routes.

Why not ``pyroute2.IPRoute``: ``import pyroute2`` costs 150-190 ms (the
package ``__init__`` imports every netlink family, NDB and IPDB) and even
``IPRoute`` alone ~90-200 ms (it runs on an asyncio loop), which was all of
the bridge's start-up cost.  pyroute2's *message* layer (``ifinfmsg``,
``ifaddrmsg``, ``rtmsg``: the attribute trees, nested link info, the veth
peer) loads in ~20-50 ms, so we encode and decode with it and carry the bytes
over a plain ``AF_NETLINK`` socket (:class:`Rtnl`, send + read the acks).
That also lets every step that needs no answer go in one ``send``: the
host side is one batch (veth created with its peer in the container, on
the bridge, up), the container side another (lo up, address, eth0 up,
default route, then eth0's MAC).

The container side uses a socket opened *inside* the container's network
namespace: the calling thread enters it (``setns`` is per thread) just long
enough to create the socket; a netlink socket stays bound to the namespace
it was made in.
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import os
import socket
import struct

NETLINK_ROUTE = 0
NLM_F_REQUEST, NLM_F_ACK, NLM_F_EXCL, NLM_F_CREATE = 0x1, 0x4, 0x200, 0x400
NLMSG_ERROR = 2
RTM_NEWLINK, RTM_DELLINK, RTM_GETLINK, RTM_NEWADDR, RTM_NEWROUTE = 16, 17, 18, 20, 24
IFF_UP = 0x1
CLONE_NEWNET = 0x40000000
_HDR = struct.Struct("=IHHII")  # struct nlmsghdr


def veth_name(cid: str) -> str:
    return "pv" + cid[:12]  # IFNAMSIZ: 15 characters at most


_MSG: tuple | None = None


def _messages() -> tuple:
    """pyroute2's (ifinfmsg, ifaddrmsg, rtmsg), imported without the package ``__init__``.

    The package is put in ``sys.modules`` unexecuted while its message modules import
    (they only ``from pyroute2 import <submodule>``), then taken out, so a later plain
    ``import pyroute2`` elsewhere still runs the real ``__init__``."""
    global _MSG
    if _MSG is None:
        import importlib.util
        import sys

        from pycr.core import trace_phase

        with trace_phase("network pyroute2 import"):
            stub = "pyroute2" not in sys.modules  # else the whole package is loaded already
            if stub:
                sys.modules["pyroute2"] = importlib.util.module_from_spec(importlib.util.find_spec("pyroute2"))
            try:
                from pyroute2.netlink.rtnl.ifaddrmsg import ifaddrmsg
                from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg
                from pyroute2.netlink.rtnl.rtmsg import rtmsg
            finally:
                if stub:
                    del sys.modules["pyroute2"]
        _MSG = (ifinfmsg, ifaddrmsg, rtmsg)
    return _MSG


class Rtnl:
    """A NETLINK_ROUTE socket: requests built from pyroute2 messages, sent as one batch."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, NETLINK_ROUTE)
        self.sock.bind((0, 0))
        self.seq = 0

    def close(self) -> None:
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def msg(self, cls, mtype: int, attrs=(), nlflags: int = 0, **fields) -> bytes:
        """One request: a pyroute2 message ``cls`` with ``fields`` and ``attrs``, encoded."""
        m = cls()
        for k, v in fields.items():
            m[k] = v
        m["attrs"] = list(attrs)
        self.seq += 1
        m["header"]["type"], m["header"]["sequence_number"] = mtype, self.seq
        m["header"]["flags"] = NLM_F_REQUEST | NLM_F_ACK | nlflags
        m.encode()
        return bytes(m.data)

    def batch(self, *requests: bytes, ignore: tuple[int, ...] = ()) -> list[bytes]:
        """Send ``requests`` in one datagram and read every ack; a request the kernel refuses
        raises OSError after all acks are in (errnos in ``ignore`` are not errors).  Returns
        the replies that are not acks (e.g. the link RTM_GETLINK asked for)."""
        pending = {_HDR.unpack_from(r)[3] for r in requests}
        self.sock.send(b"".join(requests))
        replies, failed = [], None
        while pending:
            data = self.sock.recv(65536)
            off = 0
            while off + _HDR.size <= len(data):
                length, mtype, _, seq, _ = _HDR.unpack_from(data, off)
                if mtype == NLMSG_ERROR:
                    err = -struct.unpack_from("=i", data, off + _HDR.size)[0]
                    pending.discard(seq)
                    if err and err not in ignore and failed is None:
                        failed = OSError(err, f"netlink: {os.strerror(err)}")
                else:
                    replies.append(data[off:off + length])
                off += (length + 3) & ~3
        if failed:
            raise failed
        return replies

    def link(self, name: str):
        """The link called ``name`` (a decoded pyroute2 ifinfmsg), or None."""
        ifinfmsg = _messages()[0]
        got = self.batch(self.msg(ifinfmsg, RTM_GETLINK, [("IFLA_IFNAME", name)]), ignore=(errno.ENODEV,))
        if not got:
            return None
        m = ifinfmsg(got[0])
        m.decode()
        return m

    def set_up(self, name: str, *attrs) -> bytes:
        """A request: link ``name`` up (and ``attrs`` set, e.g. its master)."""
        return self.msg(_messages()[0], RTM_NEWLINK, [("IFLA_IFNAME", name), *attrs], flags=IFF_UP, change=IFF_UP)

    def add_addr(self, index: int, address: str, prefix: int) -> bytes:
        return self.msg(_messages()[1], RTM_NEWADDR, [("IFA_LOCAL", address), ("IFA_ADDRESS", address)],
                        NLM_F_CREATE | NLM_F_EXCL, family=socket.AF_INET, prefixlen=prefix, index=index)

    def delete(self, name: str) -> bytes:
        return self.msg(_messages()[0], RTM_DELLINK, [("IFLA_IFNAME", name)])


def _sysctl(path: str, value: str) -> None:
    with open(os.path.join("/proc/sys/net", path), "w") as f:
        f.write(value)


def ensure_bridge(nl: Rtnl, network: dict) -> None:
    """The network's bridge, made, addressed and up if missing."""
    name = network["bridge"]
    if nl.link(name) is not None:
        return
    ifinfmsg = _messages()[0]
    nl.batch(nl.msg(ifinfmsg, RTM_NEWLINK, [("IFLA_IFNAME", name), ("IFLA_LINKINFO", {"attrs": [
        ("IFLA_INFO_KIND", "bridge")]})], NLM_F_CREATE | NLM_F_EXCL, flags=IFF_UP, change=IFF_UP))
    nl.batch(nl.add_addr(nl.link(name)["index"], network["gateway"],
                         ipaddress.ip_network(network["subnet"]).prefixlen))
    _sysctl(f"ipv4/conf/{name}/route_localnet", "1")  # DNAT from the host's 127.0.0.1
    _sysctl("ipv4/ip_forward", "1")


@contextlib.contextmanager
def _socket_in(pid: int):
    """A netlink socket in the network namespace of ``pid``.  While inside, eth0 is told to
    announce its address when it comes up (arp_notify): a reused address must not stay
    cached with the MAC of the container that had it before."""
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    target = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        _setns(target)
        try:
            nl = Rtnl()
            _sysctl("ipv4/conf/eth0/arp_notify", "1")
        finally:
            _setns(home)
    finally:
        os.close(home)
        os.close(target)
    try:
        yield nl
    finally:
        nl.close()


def _setns(fd: int) -> None:
    """setns(2) for this thread (os.setns is Python 3.12+)."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns: {os.strerror(err)}")


def attach(pid: int, cid: str, network: dict, address: str) -> str:
    """Plug the container whose init is ``pid`` into ``network`` with ``address``;
    returns the MAC address of its eth0."""
    from pycr.core import trace_phase

    host = veth_name(cid)
    prefix = ipaddress.ip_network(network["subnet"]).prefixlen
    ifinfmsg, _, rtmsg = _messages()
    with trace_phase("network links"), Rtnl() as nl:
        ensure_bridge(nl, network)
        bridge = nl.link(network["bridge"])["index"]
        nl.batch(nl.delete(host), ignore=(errno.ENODEV,))  # a leftover of this id's earlier run
        peer = {"attrs": [("IFLA_IFNAME", "eth0"), ("IFLA_NET_NS_PID", pid)]}
        nl.batch(nl.msg(ifinfmsg, RTM_NEWLINK, [
            ("IFLA_IFNAME", host), ("IFLA_MASTER", bridge),
            ("IFLA_LINKINFO", {"attrs": [("IFLA_INFO_KIND", "veth"),
                                         ("IFLA_INFO_DATA", {"attrs": [("VETH_INFO_PEER", peer)]})]})],
            NLM_F_CREATE | NLM_F_EXCL, flags=IFF_UP, change=IFF_UP))
    with trace_phase("network container side"), _socket_in(pid) as nl:
        eth = nl.link("eth0")["index"]
        nl.batch(nl.set_up("lo"), nl.add_addr(eth, address, prefix), nl.set_up("eth0"),
                 nl.msg(rtmsg, RTM_NEWROUTE, [("RTA_GATEWAY", network["gateway"])], NLM_F_CREATE | NLM_F_EXCL,
                        family=socket.AF_INET, dst_len=0, table=254, proto=4, scope=0, type=1))
        return nl.link("eth0").get_attr("IFLA_ADDRESS")


def delete(names: list[str]) -> None:
    """Delete the links called ``names`` that exist (veths whose netns outlived the lease, idle bridges)."""
    from pycr.core import trace_phase

    with trace_phase("network links"), Rtnl() as nl:
        nl.batch(*[nl.delete(n) for n in names], ignore=(errno.ENODEV,))  # gone meanwhile (its netns ended)


def exists(name: str) -> bool:
    """Is there a link ``name`` in our network namespace?  (An ioctl: no /sys, which may
    show another namespace, and no pyroute2 import.)"""
    try:
        socket.if_nametoindex(name)
        return True
    except OSError:
        return False
