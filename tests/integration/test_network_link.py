"""link.Rtnl (rtnetlink requests over one netlink socket) against the real kernel, inside a
network namespace made for the test: batches, errors, a veth by index, and the bridge gone."""

import subprocess
import sys
import uuid

import pytest

from tests.helpers.netns import sh

SNIPPET = r'''
import errno, socket, sys
from pycr.plugins.network import link

net = {"name": "lt", "id": "ef" * 32, "bridge": "pycrlt0", "subnet": "10.98.0.0/24", "gateway": "10.98.0.1"}
with link.Rtnl() as nl:
    made = link.ensure_bridge(nl, net)
    again = link.ensure_bridge(nl, net)  # there already: nothing to do
    br = nl.link("pycrlt0")
    print("bridge", br["index"] == socket.if_nametoindex("pycrlt0") == made == again, br["flags"] & 1,
          len(br["mac"]), br["alias"] == "pycr:" + "ef" * 32)
    try:  # a refused request in a batch: the kernel's errno, after every ack was read
        nl.batch(nl.set_up("lo"), nl.add_addr(br["index"], "10.98.0.1", 24))
    except OSError as e:
        print("refused", e.errno == errno.EEXIST, "netlink:" in str(e))
    print("missing", nl.link("nosuch0"))
    nl.batch(nl.delete("nosuch0"), ignore=(errno.ENODEV,))
try:  # a container init that is gone: the veth request names its pid
    link.attach(2 ** 22 + 1, link.veth_name("0" * 12), "eth0", net, "10.98.0.9")
except OSError as e:
    print("gone", e.errno == errno.ESRCH, link.exists(link.veth_name("0" * 12)))
with link.Rtnl() as nl:  # a plain veth pair, deleted by its index: the peer goes too
    nl.batch(nl.msg(link.RTM_NEWLINK, link.ifinfo(), link.attr(link.IFLA_IFNAME, "pvt0"),
                    link.nest(link.IFLA_LINKINFO, link.attr(link.IFLA_INFO_KIND, "veth"),
                              link.nest(link.IFLA_INFO_DATA, link.nest(link.VETH_INFO_PEER, link.ifinfo()
                                                                        + link.attr(link.IFLA_IFNAME, "pvt1")))),
                    flags=link.NLM_F_CREATE | link.NLM_F_EXCL))
link.delete(indexes=[link.index("pvt0"), 2 ** 30])
print("veth", link.exists("pvt0"), link.exists("pvt1"))
link.delete(["pycrlt0", "nosuch1"])
print("deleted", link.exists("pycrlt0"))
'''


@pytest.fixture
def netns():
    name = "pycrt-" + uuid.uuid4().hex[:6]
    sh("ip", "netns", "add", name)
    yield name
    sh("ip", "netns", "del", name, check=False)


def test_rtnl_batches_errors_and_deletes(netns):
    out = subprocess.run(["ip", "netns", "exec", netns, sys.executable, "-c", SNIPPET],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[:6] == ["bridge True 1 17 True", "refused True True", "missing None",
                                          "gone True False", "veth False False", "deleted False"]
    links = subprocess.run(["ip", "netns", "exec", netns, "ip", "-o", "link"], capture_output=True, text=True)
    assert "pycrlt0" not in links.stdout
