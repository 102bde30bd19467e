"""Netlink (rtnetlink) for the bridge network: the bridge, a veth pair per container, addresses, routes.

The requests are built here with ``struct`` (:func:`attr`, :func:`ifinfo`,
...) and sent over a plain ``AF_NETLINK`` socket (:class:`Rtnl`: one
``send`` of concatenated requests, then every ack read), instead of with
pyroute2, which the network layer used first.  Why: the bridge driver's
budget is 10 ms of ``pycr run`` over ``--network none``, and importing
pyroute2 costs more than twice that (``import pyroute2``: 150-190 ms;
``IPRoute`` alone 90-200 ms; even its three message modules, imported
without the package ``__init__``: 23-27 ms, because ``pyroute2.netlink``
loads ``multiprocessing``, ``platform``, ``logging`` and every link kind's
plugin).  What pycr sends is eight fixed shapes of request (get a link, make
a bridge, mark it (its alias), make a veth whose peer lands in the container,
link up, add an address, add a route, delete a link), each a header and a few attributes
(rtnetlink(7), ``<linux/if_link.h>``, ``<linux/veth.h>``): ~50 lines, no
import cost.  pyroute2 stays the reference: the unit tests decode every
request built here with pyroute2's message classes and compare each field.

Every step that needs no answer goes in one ``send``: the host side is one
batch (veth created with its peer in the container, on the bridge, up),
the container side another (lo up, address, eth0 up, default route, then
eth0's MAC).  The container side uses a socket opened *inside* the
container's network namespace: the calling thread enters it (``setns`` is
per thread) just long enough to create the socket; a netlink socket stays
bound to the namespace it was made in.
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
IFLA_ADDRESS, IFLA_IFNAME, IFLA_MTU, IFLA_MASTER, IFLA_LINKINFO, IFLA_NET_NS_PID = 1, 3, 4, 10, 18, 19
IFLA_IFALIAS = 20
IFLA_INFO_KIND, IFLA_INFO_DATA, VETH_INFO_PEER = 1, 2, 1
IFA_ADDRESS, IFA_LOCAL, RTA_GATEWAY = 1, 2, 5
NLA_F_NESTED = 0x8000
IFF_UP = 0x1
RT_TABLE_MAIN, RTPROT_STATIC, RTN_UNICAST = 254, 4, 1
CLONE_NEWNET = 0x40000000
_HDR = struct.Struct("=IHHII")  # struct nlmsghdr: length, type, flags, seq, pid
_ATTR = struct.Struct("=HH")  # struct rtattr / nlattr: length, type
_IFINFO = struct.Struct("=BxHiII")  # struct ifinfomsg: family, type, index, flags, change
_IFADDR = struct.Struct("=BBBBi")  # struct ifaddrmsg: family, prefixlen, flags, scope, index
_RTMSG = struct.Struct("=BBBBBBBBI")  # struct rtmsg: family, dst_len, src_len, tos, table, protocol, scope, type, flags


def veth_name(cid: str, n: int = 0) -> str:
    """The host side of the container's ``eth<n>``: 15 characters at most (IFNAMSIZ)."""
    return "pv" + cid[:12] + (str(n) if n else "")


def attr(kind: int, value: bytes | str | int) -> bytes:
    """One attribute: a string (NUL-terminated), a u32, or raw bytes; padded to 4 bytes."""
    if isinstance(value, str):
        value = value.encode() + b"\0"
    elif isinstance(value, int):
        value = struct.pack("=I", value)
    n = _ATTR.size + len(value)
    return _ATTR.pack(n, kind) + value + b"\0" * (-n % 4)


def nest(kind: int, *attrs: bytes) -> bytes:
    return attr(kind | NLA_F_NESTED, b"".join(attrs))


def ifinfo(index: int = 0, up: bool = False) -> bytes:
    return _IFINFO.pack(socket.AF_UNSPEC, 0, index, IFF_UP if up else 0, IFF_UP if up else 0)


def ipv4(address: str) -> bytes:
    return ipaddress.IPv4Address(address).packed


def _mtu(mtu: int | None) -> list[bytes]:
    return [attr(IFLA_MTU, mtu)] if mtu else []


def attrs_of(payload: bytes) -> dict[int, bytes]:
    """The attributes in ``payload`` (type -> value; nested ones left packed)."""
    out, off = {}, 0
    while off + _ATTR.size <= len(payload):
        n, kind = _ATTR.unpack_from(payload, off)
        if n < _ATTR.size:
            break
        out[kind & ~NLA_F_NESTED] = payload[off + _ATTR.size:off + n]
        off += (n + 3) & ~3
    return out


class Rtnl:
    """A NETLINK_ROUTE socket: requests sent as one batch, every ack read."""

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

    def msg(self, mtype: int, body: bytes, *attrs: bytes, flags: int = 0) -> bytes:
        """One request: header, ``body`` (e.g. :func:`ifinfo`), ``attrs``; asks for an ack."""
        self.seq += 1
        payload = body + b"".join(attrs)
        return _HDR.pack(_HDR.size + len(payload), mtype, NLM_F_REQUEST | NLM_F_ACK | flags, self.seq, 0) + payload

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

    def link(self, name: str) -> dict | None:
        """The link called ``name``: {index, flags, mac, kind, alias} (kind "" for a physical one,
        alias "" when it has none), or None."""
        got = self.batch(self.msg(RTM_GETLINK, ifinfo(), attr(IFLA_IFNAME, name)), ignore=(errno.ENODEV,))
        if not got:
            return None
        _, _, index, flags, _ = _IFINFO.unpack_from(got[0], _HDR.size)
        attrs = attrs_of(got[0][_HDR.size + _IFINFO.size:])
        mac = attrs.get(IFLA_ADDRESS, b"")
        kind = attrs_of(attrs.get(IFLA_LINKINFO, b"")).get(IFLA_INFO_KIND, b"").rstrip(b"\0").decode("ascii", "replace")
        alias = attrs.get(IFLA_IFALIAS, b"").split(b"\0", 1)[0].decode("utf-8", "replace")
        return {"index": index, "flags": flags, "mac": ":".join(f"{b:02x}" for b in mac), "kind": kind,
                "alias": alias}

    def set_up(self, name: str, *attrs: bytes) -> bytes:
        """A request: link ``name`` up (and ``attrs`` set, e.g. its master)."""
        return self.msg(RTM_NEWLINK, ifinfo(up=True), attr(IFLA_IFNAME, name), *attrs)

    def set_alias(self, index: int, alias: str) -> bytes:
        """A request: link ``index``'s alias (IFLA_IFALIAS) is ``alias`` (sent without a NUL, as
        ``ip link set ... alias`` does: the kernel keeps the attribute's bytes as they are)."""
        return self.msg(RTM_NEWLINK, ifinfo(index), attr(IFLA_IFALIAS, alias.encode()))

    def add_addr(self, index: int, address: str, prefix: int) -> bytes:
        return self.msg(RTM_NEWADDR, _IFADDR.pack(socket.AF_INET, prefix, 0, 0, index),
                        attr(IFA_LOCAL, ipv4(address)), attr(IFA_ADDRESS, ipv4(address)),
                        flags=NLM_F_CREATE | NLM_F_EXCL)

    def default_route(self, gateway: str) -> bytes:
        return self.msg(RTM_NEWROUTE, _RTMSG.pack(socket.AF_INET, 0, 0, 0, RT_TABLE_MAIN, RTPROT_STATIC, 0,
                                                  RTN_UNICAST, 0),
                        attr(RTA_GATEWAY, ipv4(gateway)), flags=NLM_F_CREATE | NLM_F_EXCL)

    def new_bridge(self, name: str, mtu: int | None = None) -> bytes:
        return self.msg(RTM_NEWLINK, ifinfo(up=True), attr(IFLA_IFNAME, name), *_mtu(mtu),
                        nest(IFLA_LINKINFO, attr(IFLA_INFO_KIND, "bridge")), flags=NLM_F_CREATE | NLM_F_EXCL)

    def new_veth(self, name: str, master: int, peer: str, peer_pid: int, mtu: int | None = None) -> bytes:
        """Veth ``name`` on bridge ``master``, up, its peer ``peer`` made in the namespace of
        ``peer_pid``; both ends with ``mtu`` (None: the kernel's 1500)."""
        peer_msg = ifinfo() + attr(IFLA_IFNAME, peer) + attr(IFLA_NET_NS_PID, peer_pid) + b"".join(_mtu(mtu))
        return self.msg(RTM_NEWLINK, ifinfo(up=True), attr(IFLA_IFNAME, name), attr(IFLA_MASTER, master), *_mtu(mtu),
                        nest(IFLA_LINKINFO, attr(IFLA_INFO_KIND, "veth"),
                             nest(IFLA_INFO_DATA, nest(VETH_INFO_PEER, peer_msg))),
                        flags=NLM_F_CREATE | NLM_F_EXCL)

    def delete(self, name: str = "", index: int = 0) -> bytes:
        """A request: delete link ``name`` (or the one with ``index``)."""
        return self.msg(RTM_DELLINK, ifinfo(index), *([attr(IFLA_IFNAME, name)] if name else []))


def _sysctl(path: str, value: str) -> None:
    with open(os.path.join("/proc/sys/net", path), "w") as f:
        f.write(value)


MARK = "pycr:"  # the alias of every bridge pycr makes: MARK + the network's id


def mark(network: dict) -> str:
    return MARK + network["id"]


def claim(nl: Rtnl, network: dict, recorded: int | None = None) -> tuple[int | None, str]:
    """Whether the link named as ``network``'s bridge is pycr's bridge for *that* network:
    (its index, "") if so, (None, "") when no link has the name, (None, why not) otherwise.

    The proof is kernel-side: the alias pycr gives every bridge it makes (:func:`mark`).
    A bridge the host, docker or an admin makes later under the name has none (or its own),
    and one pycr made for another network (another store's, a removed network's) carries
    that network's id.  A bridge without any alias that a pycr made before the mark existed
    is adopted -- marked now -- only when ``recorded`` (the index pycr's last firewall sync
    recorded for this network's bridge) is its index and its one IPv4 address is the
    network's gateway with the subnet's prefix."""
    have = nl.link(network["bridge"])
    if have is None:
        return None, ""
    if have["kind"] != "bridge":
        return None, "is not a bridge"
    if have["alias"] == mark(network):
        return have["index"], ""
    if have["alias"].startswith(MARK):
        return None, f"is the bridge pycr made for another network (id {have['alias'][len(MARK):][:12]})"
    if not have["alias"] and recorded == have["index"] and _addresses(have["index"]) == {_gateway(network)}:
        nl.batch(nl.set_alias(have["index"], mark(network)))
        return have["index"], ""
    return None, "is a bridge pycr did not make (it has no pycr mark)"


def _gateway(network: dict) -> str:
    return f"{network['gateway']}/{ipaddress.ip_network(network['subnet']).prefixlen}"


def _addresses(index: int) -> set[str]:
    """The IPv4 addresses (``ADDR/PREFIX``) of link ``index``.  pyroute2 here: only an
    unmarked bridge (one an earlier pycr made) is asked about, so its import cost is no
    start's."""
    from pyroute2 import IPRoute

    with IPRoute() as ipr:
        return {f"{a.get_attr('IFA_LOCAL') or a.get_attr('IFA_ADDRESS')}/{a['prefixlen']}"
                for a in ipr.get_addr(family=socket.AF_INET, index=index)}


def ensure_bridge(nl: Rtnl, network: dict, recorded: int | None = None) -> int:
    """The index of the network's bridge, made (marked, addressed, up) if missing; a link of its
    name that is not pycr's bridge for this network (:func:`claim`) is refused in one line."""
    name = network["bridge"]
    index, why = claim(nl, network, recorded)
    if why:
        from pycr.core import ConfigError

        raise ConfigError(f"network {network['name']!r}: interface {name!r} exists here and {why}; "
                          "pycr will not plug containers into it")
    if index is not None:
        return index
    nl.batch(nl.new_bridge(name, network.get("mtu")))
    index = nl.link(name)["index"]  # the kernel takes no alias with a new link: marked by index at once
    nl.batch(nl.set_alias(index, mark(network)),
             nl.add_addr(index, network["gateway"], ipaddress.ip_network(network["subnet"]).prefixlen))
    _sysctl(f"ipv4/conf/{name}/route_localnet", "1")  # DNAT from the host's 127.0.0.1
    _sysctl("ipv4/ip_forward", "1")
    return index


@contextlib.contextmanager
def _socket_in(pid: int, ifname: str):
    """A netlink socket in the network namespace of ``pid``.  While inside, ``ifname`` is told
    to announce its address when it comes up (arp_notify): a reused address must not stay
    cached with the MAC of the container that had it before."""
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    target = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        _setns(target)
        try:
            nl = Rtnl()
            _sysctl(f"ipv4/conf/{ifname}/arp_notify", "1")
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
    from pycr.core import syscalls

    syscalls.SYSCALLS.setns(fd, CLONE_NEWNET)


def attach(pid: int, host: str, ifname: str, network: dict, address: str, first: bool = True,
           recorded: int | None = None) -> str:
    """Plug the container whose init is ``pid`` into ``network``: veth ``host`` on the bridge
    (pycr's own, :func:`ensure_bridge`; ``recorded`` as :func:`claim` takes it), its peer
    ``ifname`` in the container with ``address``; the ``first`` network also brings ``lo`` up
    and gives the default route.  Returns the MAC address of ``ifname``."""
    from pycr.core import trace_phase

    prefix = ipaddress.ip_network(network["subnet"]).prefixlen
    with trace_phase("network links"), Rtnl() as nl:
        bridge = ensure_bridge(nl, network, recorded)
        nl.batch(nl.delete(host), ignore=(errno.ENODEV,))  # a leftover of this id's earlier run
        nl.batch(nl.new_veth(host, bridge, ifname, pid, network.get("mtu")))
    with trace_phase("network container side"), _socket_in(pid, ifname) as nl:
        eth = nl.link(ifname)["index"]
        steps = [nl.add_addr(eth, address, prefix), nl.set_up(ifname)]
        if first:
            steps = [nl.set_up("lo"), *steps, nl.default_route(network["gateway"])]
        nl.batch(*steps)
        return nl.link(ifname)["mac"]


def delete(names: list[str] = (), indexes: list[int] = ()) -> None:
    """Delete the links called ``names`` or with ``indexes`` that exist (veths whose namespace
    outlived the lease, idle bridges)."""
    from pycr.core import trace_phase

    with trace_phase("network links"), Rtnl() as nl:
        nl.batch(*[nl.delete(n) for n in names], *[nl.delete(index=i) for i in indexes],
                 ignore=(errno.ENODEV,))  # gone meanwhile (its namespace ended)


def index(name: str) -> int | None:
    """The index of link ``name`` in our network namespace, None when there is none.  (An ioctl:
    no /sys, which may show another namespace.)"""
    try:
        return socket.if_nametoindex(name)
    except OSError:
        return None


def delete_bridge(network: dict, recorded: int | None = None) -> str:
    """Delete ``network``'s bridge if it is there and pycr's for that network (:func:`claim`);
    returns why a link of its name was left alone ("" when none was)."""
    with Rtnl() as nl:
        index, why = claim(nl, network, recorded)
        if index is not None:
            nl.batch(nl.delete(index=index), ignore=(errno.ENODEV,))
        return why


def claimed(networks: list[dict], recorded: dict[str, int]) -> dict[str, tuple[int | None, str]]:
    """:func:`claim` for each of ``networks`` (by name; ``recorded``: name -> index), one socket."""
    with Rtnl() as nl:
        return {n["name"]: claim(nl, n, recorded.get(n["name"])) for n in networks}


def exists(name: str) -> bool:
    return index(name) is not None
