"""The rtnetlink requests link.Rtnl builds, decoded by pyroute2 (the reference encoder) field by field,
and the reply parsing fed with a message pyroute2 encodes."""

from __future__ import annotations

import socket

from pyroute2.netlink.rtnl.ifaddrmsg import ifaddrmsg
from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg
from pyroute2.netlink.rtnl.rtmsg import rtmsg

from pycr.plugins.network import link


class NoSocket(link.Rtnl):
    def __init__(self):
        self.seq = 41


def decode(cls, data: bytes):
    m = cls(data)
    m.decode()
    return m


def test_veth_with_its_peer_in_the_container():
    raw = NoSocket().new_veth("pv0123456789ab", 7, "eth0", 4242)
    m = decode(ifinfmsg, raw)
    assert m["header"]["type"] == link.RTM_NEWLINK and m["header"]["sequence_number"] == 42
    want = link.NLM_F_REQUEST | link.NLM_F_ACK | link.NLM_F_CREATE | link.NLM_F_EXCL
    assert m["header"]["flags"] == want and m["header"]["length"] == len(raw)
    assert (m["flags"], m["change"], m["index"]) == (link.IFF_UP, link.IFF_UP, 0)
    assert m.get_attr("IFLA_IFNAME") == "pv0123456789ab" and m.get_attr("IFLA_MASTER") == 7
    info = m.get_attr("IFLA_LINKINFO")
    assert info.get_attr("IFLA_INFO_KIND") == "veth"
    peer = info.get_attr("IFLA_INFO_DATA").get_attr("VETH_INFO_PEER")
    assert peer.get_attr("IFLA_IFNAME") == "eth0" and peer.get_attr("IFLA_NET_NS_PID") == 4242


def test_bridge_up_and_delete():
    nl = NoSocket()
    m = decode(ifinfmsg, nl.new_bridge("br-abc"))
    assert m.get_attr("IFLA_IFNAME") == "br-abc" and m["flags"] == link.IFF_UP
    assert m.get_attr("IFLA_LINKINFO").get_attr("IFLA_INFO_KIND") == "bridge"
    up = decode(ifinfmsg, nl.set_up("eth0", link.attr(link.IFLA_MASTER, 3)))
    assert up["header"]["type"] == link.RTM_NEWLINK and up["change"] == link.IFF_UP
    assert up.get_attr("IFLA_IFNAME") == "eth0" and up.get_attr("IFLA_MASTER") == 3
    by_name = decode(ifinfmsg, nl.delete("pvx"))
    assert by_name["header"]["type"] == link.RTM_DELLINK and by_name.get_attr("IFLA_IFNAME") == "pvx"
    by_index = decode(ifinfmsg, nl.delete(index=99))
    assert by_index["index"] == 99 and by_index.get_attr("IFLA_IFNAME") is None


def test_address_and_default_route():
    nl = NoSocket()
    a = decode(ifaddrmsg, nl.add_addr(5, "10.88.0.7", 16))
    assert a["header"]["type"] == link.RTM_NEWADDR
    assert (a["family"], a["prefixlen"], a["index"]) == (socket.AF_INET, 16, 5)
    assert a.get_attr("IFA_LOCAL") == a.get_attr("IFA_ADDRESS") == "10.88.0.7"
    r = decode(rtmsg, nl.default_route("10.88.0.1"))
    assert r["header"]["type"] == link.RTM_NEWROUTE
    assert (r["family"], r["dst_len"], r["table"], r["proto"], r["type"]) == (socket.AF_INET, 0, 254, 4, 1)
    assert r.get_attr("RTA_GATEWAY") == "10.88.0.1"


def test_getlink_reply_parsed_as_pyroute2_encodes_it():
    reply = ifinfmsg()
    reply["index"], reply["flags"] = 12, link.IFF_UP
    reply["attrs"] = [("IFLA_IFNAME", "eth0"), ("IFLA_ADDRESS", "02:42:0a:58:00:07"), ("IFLA_MTU", 1500)]
    reply["header"]["type"] = link.RTM_NEWLINK
    reply.encode()

    class Replies(NoSocket):
        def batch(self, *requests, ignore=()):
            assert decode(ifinfmsg, requests[0]).get_attr("IFLA_IFNAME") == "eth0"
            return [bytes(reply.data)]

    assert Replies().link("eth0") == {"index": 12, "flags": link.IFF_UP, "mac": "02:42:0a:58:00:07", "kind": "",
                                      "alias": ""}
    reply["attrs"].append(("IFLA_LINKINFO", {"attrs": [("IFLA_INFO_KIND", "bridge")]}))
    reply["attrs"].append(("IFLA_IFALIAS", "pycr:" + "ab" * 32))
    reply.reset()
    reply.encode()
    got = Replies().link("eth0")
    assert (got["kind"], got["alias"]) == ("bridge", "pycr:" + "ab" * 32)


def test_the_mark_is_the_alias_pyroute2_reads():
    m = decode(ifinfmsg, NoSocket().set_alias(9, link.mark({"id": "cd" * 32})))
    assert m["header"]["type"] == link.RTM_NEWLINK and m["index"] == 9 and m["change"] == 0
    assert m.get_attr("IFLA_IFALIAS") == "pycr:" + "cd" * 32 and m.get_attr("IFLA_IFNAME") is None


def test_mtu_on_the_bridge_and_both_ends_of_the_veth():
    nl = NoSocket()
    assert decode(ifinfmsg, nl.new_bridge("br-x", 65520)).get_attr("IFLA_MTU") == 65520
    assert decode(ifinfmsg, nl.new_bridge("br-x")).get_attr("IFLA_MTU") is None
    m = decode(ifinfmsg, nl.new_veth("pvx", 3, "eth1", 99, 9000))
    peer = m.get_attr("IFLA_LINKINFO").get_attr("IFLA_INFO_DATA").get_attr("VETH_INFO_PEER")
    assert m.get_attr("IFLA_MTU") == peer.get_attr("IFLA_MTU") == 9000
