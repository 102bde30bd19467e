"""kill -9 of the monitor, of the container's init, of ``pycr`` while it creates, of the
launcher while the runtime creates: ``ps`` shows the truth, ``rm``/``container prune``
remove every cgroup, mount, state file and process that was left."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest

from tests.helpers.manage import leftovers

pytestmark = pytest.mark.root


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False


def gone(pid: int, timeout=10) -> None:
    deadline = time.monotonic() + timeout
    while alive(pid):
        assert time.monotonic() < deadline, f"pid {pid} still alive"
        time.sleep(0.02)


def cgroups_of(cid: str) -> list[str]:
    found = []
    for dirpath, dirnames, _ in os.walk("/sys/fs/cgroup"):
        found += [os.path.join(dirpath, d) for d in dirnames if cid in d]
        if dirpath.count("/") > 8:
            dirnames[:] = []
    return found


def test_kill_9_monitor_then_ps_stop_rm(clean):
    p = clean
    cid = p.run_d("--name", "orphan", p.image, "sleep", "1000")
    info = p.inspect("orphan")
    init, monitor = info["State"]["Pid"], info["State"]["MonitorPid"]
    assert cgroups_of(cid)
    os.kill(monitor, signal.SIGKILL)
    gone(monitor)
    info = p.inspect("orphan")  # the truth: still running, nobody watching
    assert info["State"]["Status"] == "running" and info["State"]["Pid"] == init and alive(init)
    assert "monitor" in info["State"]["Error"] and "(monitor gone)" in p("ps", check=0).stdout
    assert p("exec", "orphan", "echo", "still-here", check=0).stdout == "still-here\n"
    p("stop", "-t", "1", "orphan", check=0)
    gone(init)
    info = p.inspect("orphan")
    assert info["State"]["Status"] == "exited" and info["State"]["ExitCode"] is None  # unknown: nobody reaped it
    assert "Exited (?)" in p("ps", "-a", check=0).stdout
    p("rm", "orphan", check=0)
    assert leftovers(p) == [] and not cgroups_of(cid)


def test_kill_9_monitor_and_init_then_prune(clean):
    p = clean
    cid = p.run_d(p.image, "sleep", "1000")
    info = p.inspect(cid)
    os.kill(info["State"]["MonitorPid"], signal.SIGKILL)
    os.kill(info["State"]["Pid"], signal.SIGKILL)
    gone(info["State"]["Pid"])
    assert p.state(cid) == "exited"
    assert p("container", "prune", check=0).stdout.split() == [cid]
    assert leftovers(p) == [] and not cgroups_of(cid)


def test_kill_9_init_is_recorded_by_the_monitor(clean):
    p = clean
    cid = p.run_d(p.image, "sh", "-c", "echo up; sleep 1000")
    info = p.inspect(cid)
    os.kill(info["State"]["Pid"], signal.SIGKILL)
    info = p.wait_for(cid, "exited")
    assert info["State"]["ExitCode"] == 137 and info["State"]["FinishedAt"]
    gone(info["State"]["MonitorPid"] or 0)
    assert not os.path.exists(os.path.join(p.root, cid)) and not cgroups_of(cid)  # the monitor cleaned up
    assert p.logs(cid) == "up\n"
    p("rm", cid, check=0)


def _watch_for(path_fn, proc: subprocess.Popen, timeout=30):
    """Busy-wait until ``path_fn()`` returns something; returns it (None if pycr ended first)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = path_fn()
        if found:
            return found
        if proc.poll() is not None:
            return None
    raise AssertionError("nothing appeared")


def test_kill_9_pycr_while_it_creates(clean):
    """SIGKILL as soon as the record exists (the rootfs is being made): the container is dead."""
    p = clean
    base = os.path.join(p.store, "containers")
    outcomes = []
    for _ in range(3):
        before = set(os.listdir(base))
        proc = p.popen("run", "-d", "-q", p.image, "sleep", "1000", stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        new = _watch_for(lambda: {n for n in set(os.listdir(base)) - before
                                  if os.path.exists(os.path.join(base, n, "container.json"))}, proc)
        proc.kill()
        proc.wait()
        assert new
        cid = new.pop()
        p.seen.add(cid)
        deadline = time.monotonic() + 30
        while (rows := {r["Id"]: r for r in p.ps()}).get(cid, {}).get("State") in ("creating", "starting"):
            assert time.monotonic() < deadline, rows[cid]  # a launcher that outlived pycr is still at it
            time.sleep(0.1)
        if cid in rows:  # a record made it: it says what happened
            outcomes.append(rows[cid]["State"])
            assert rows[cid]["State"] in ("dead", "running"), rows[cid]
            if rows[cid]["State"] == "dead":
                assert "killed" in rows[cid]["Error"]
                assert "Dead" in p("ps", "-a", check=0).stdout
        else:  # killed before even the record was written: a directory prune removes
            outcomes.append("no record")
        r = p("container", "prune", check=0)
        if rows.get(cid, {}).get("State") == "running":
            p("rm", "-f", cid, check=0)
        else:
            assert cid in r.stdout.split()
        assert leftovers(p) == [], outcomes
        assert not cgroups_of(cid)
    assert "dead" in outcomes, outcomes


def test_kill_9_launcher_during_runtime_create(clean):
    """The launcher (the monitor-to-be) and pycr both die while the runtime creates the container:
    the runtime state, cgroup and processes it made are found and removed by rm."""
    p = clean
    base = os.path.join(p.store, "containers")
    before = set(os.listdir(base))
    proc = p.popen("run", "-d", "-q", p.image, "sleep", "98765", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def runtime_dir():
        new = set(os.listdir(base)) - before
        for cid in new:
            if os.path.isdir(os.path.join(p.root, cid)):
                return cid
        return None

    cid = _watch_for(runtime_dir, proc)
    assert cid, "pycr finished before the runtime created anything"
    p.seen.add(cid)
    with open(os.path.join(base, cid, "container.json")) as f:
        launcher = json.load(f)["state"]["monitor_pid"]
    os.kill(launcher, signal.SIGKILL)
    proc.kill()
    proc.wait()
    gone(launcher)
    time.sleep(0.3)
    row = {r["Id"]: r for r in p.ps()}[cid]
    assert row["State"] == "dead" and "killed" in row["Error"], row
    p("rm", cid, check=0)
    assert leftovers(p) == [] and not cgroups_of(cid)
    out = subprocess.run(["ps", "-eo", "args="], capture_output=True, text=True).stdout
    assert "sleep 98765" not in out


def test_prune_removes_a_directory_without_record(clean):
    """What a pycr killed between mkdir and the first write of the record leaves: a bare
    directory, perhaps with a mount in it.  prune unmounts and removes it."""
    p = clean
    cid = "ab" * 32
    rootfs = os.path.join(p.store, "containers", cid, "rootfs")
    os.makedirs(rootfs)
    subprocess.run(["mount", "-t", "tmpfs", "pycr-test", rootfs], check=True)
    assert p("container", "prune", check=0).stdout.split() == [cid]
    assert leftovers(p) == []
