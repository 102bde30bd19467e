"""Network faults on the real kernel: kill -9 of pycr, of the monitor and of the container
mid-way; afterwards no veth, bridge, nftables rule or lease is left (the ``net`` fixture
asserts it after every test), and many containers started at once get distinct addresses."""

from __future__ import annotations

import os
import signal
import time

import pytest

pytestmark = pytest.mark.root


def _wait(pred, timeout=20.0):
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def _monitors(p):
    return [int(m.split()[0]) for m in p.monitors()]


def test_kill_9_of_pycr_and_of_the_monitor_mid_setup(net):
    p, h = net
    leases = os.path.join(p.store, "network", "leases")
    for victim in ("pycr", "monitor", "foreground"):  # a foreground pycr is its container's monitor
        detach = () if victim == "foreground" else ("-d",)
        proc = p.popen("run", *detach, "-q", "-p", "8090:80", p.image, "sleep", "1000")
        _wait(lambda: os.path.isdir(leases) and os.listdir(leases))  # the address is taken: setup under way
        if victim in ("pycr", "foreground"):
            os.kill(proc.pid, signal.SIGKILL)
        else:
            for pid in _monitors(p):
                os.kill(pid, signal.SIGKILL)
        proc.wait()
        ids = [r["Id"] for r in p.ps()]
        assert ids, "the record stays for pycr rm"
        p("rm", "-f", *ids, check=0)
        assert not os.listdir(leases) and "dport 8090" not in h.nft()
        assert [n for n in h.settled_links() if n not in ("lo", "wan0", "pycr0")] == []


def test_a_container_that_died_unnoticed_is_reaped_by_the_next_change(net):
    p, h = net
    p.run_d("--name", "gone", "-p", "8091:80", p.image, "sleep", "1000")
    info = p.inspect("gone")
    os.kill(info["State"]["MonitorPid"], signal.SIGKILL)  # nobody will tear it down...
    os.kill(info["State"]["Pid"], signal.SIGKILL)
    _wait(lambda: not os.path.exists(f"/proc/{info['State']['Pid']}/ns"))
    assert "dport 8091" in h.nft()  # ...until the next network change
    p.run_d("--name", "next", "-p", "8091:80", p.image, "sleep", "1000")  # the port is free again
    assert h.nft().count("dport 8091") == 1
    assert p.inspect("next")["NetworkSettings"]["Ports"]["80/tcp"][0]["HostPort"] == "8091"


def test_containers_started_at_once_get_distinct_addresses(net):
    p, h = net
    n = 10  # the 50-way race is tests/unit/test_network_layer.py (processes on the real lock)
    procs = [p.popen("run", "-d", "-q", p.image, "sleep", "1000") for _ in range(n)]
    assert [x.wait(timeout=120) for x in procs] == [0] * n
    ips = [p.inspect(r["Id"])["NetworkSettings"]["Networks"]["bridge"]["IPAddress"] for r in p.ps()]
    assert len(ips) == n and len(set(ips)) == n
    assert len([x for x in h.links() if x.startswith("pv")]) == n


def test_a_veth_whose_namespace_is_held_goes_with_a_later_change(net):
    """A stopped container's veth is left to die with its namespace; when something outside
    still holds that namespace, its address stays taken and a later change deletes it."""
    import subprocess

    from pycr.plugins.network.layer import PARK_GRACE

    p, h = net
    p.run_d("--name", "held", p.image, "sleep", "1000")
    info = p.inspect("held")
    veth = "pv" + info["Id"][:12]
    holder = subprocess.Popen(["nsenter", f"--net=/proc/{info['State']['Pid']}/ns/net", "sleep", "1000"])
    try:
        ns = os.readlink(f"/proc/{info['State']['Pid']}/ns/net")
        _wait(lambda: os.readlink(f"/proc/{holder.pid}/ns/net") == ns)  # nsenter has entered it
        p("rm", "-f", "held", check=0)
        time.sleep(0.5)
        assert veth in h.links()  # the namespace lives on in the holder: the veth with it
        parked = os.listdir(os.path.join(p.store, "network", "parked"))
        assert parked == [veth + ".json"]
        time.sleep(PARK_GRACE + 0.5)
        p("run", "--rm", p.image, "true", check=0)  # a change: the parked veth is deleted
        assert veth not in h.links()  # (the run's own veth may be parked now: its namespace is going)
        assert veth + ".json" not in os.listdir(os.path.join(p.store, "network", "parked"))
    finally:
        holder.kill()
        holder.wait()
