"""Conformance checks every cgroup driver must pass on a real host (root, real kernel).

Use the mixin -- one line per driver::

    from pycr.core.testing.cgroup_conformance import CgroupDriverConformance

    class TestMyDriverConformance(CgroupDriverConformance):
        driver_class = MyDriver

or call the ``check_*`` functions on a driver you created yourself.  Each
test gets a driver with a unique relative ``cgroupsPath`` (so it nests under
the test process's own cgroups), already ``create()``-d; the fixture kills
what is left and ``destroy()``-s it afterwards, whatever happened.

Whether a process is "in" the cgroup and whether ``destroy()`` removed the
directories is judged from the kernel (``/proc/<pid>/cgroup`` and the cgroup
mounts in ``/proc/self/mountinfo``), never from the driver's own answers.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from typing import Any, Callable

import pytest

MiB = 1 << 20

_WAIT_AND_EXEC = "import os,sys; os.read(int(sys.argv[1]), 1); os.execvp(sys.argv[2], sys.argv[2:])"


# -- helpers ----------------------------------------------------------------
def spawn_in(driver, argv: list[str], **popen_kwargs: Any) -> subprocess.Popen:
    """Start ``argv`` as a process that is already in ``driver``'s cgroup when it execs.

    The child blocks on a pipe until ``driver.add_pid`` has moved it, so not
    one instruction of ``argv`` runs outside the cgroup.
    """
    r, w = os.pipe()
    try:
        proc = subprocess.Popen([sys.executable, "-P", "-c", _WAIT_AND_EXEC, str(r), *argv], pass_fds=(r,),
                                **popen_kwargs)
    finally:
        os.close(r)
    try:
        driver.add_pid(proc.pid)
    except BaseException:
        proc.kill()
        proc.wait()
        os.close(w)
        raise
    os.write(w, b"go")
    os.close(w)
    return proc


def _cgroup_mounts() -> list[tuple[str, set[str], str, str]]:
    """(fstype, super options, mount root, mountpoint) of every cgroup mount."""
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            pre, _, post = line.partition(" - ")
            fields, tail = pre.split(), post.split()
            if tail and tail[0] in ("cgroup", "cgroup2"):
                out.append((tail[0], set(tail[2].split(",")), fields[3], fields[4]))
    return out


def cgroup_dirs(pid: int | str = "self") -> set[str]:
    """Host directories of every cgroup ``pid`` belongs to (v1 hierarchies and v2)."""
    mounts = _cgroup_mounts()
    dirs = set()
    with open(f"/proc/{pid}/cgroup") as f:
        for line in f:
            _, ctrls, path = line.rstrip("\n").split(":", 2)
            key = ctrls.split(",")[0] if ctrls else None
            for fstype, opts, mroot, mpoint in mounts:
                if (key is None and fstype == "cgroup2") or (key and fstype == "cgroup" and key in opts):
                    if mroot != "/" and (path == mroot or path.startswith(mroot + "/")):
                        path = path[len(mroot):] or "/"
                    dirs.add(os.path.normpath(os.path.join(mpoint, path.lstrip("/"))))
                    break
    return dirs


def container_dirs(pid: int) -> set[str]:
    """The cgroup directories ``pid`` is in that the caller is not in: the container's."""
    return cgroup_dirs(pid) - cgroup_dirs("self")


def _wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def _reap(*procs: subprocess.Popen) -> None:
    for p in procs:
        if p.poll() is None:
            p.kill()
        p.wait(timeout=10)


# -- checks -----------------------------------------------------------------
def check_pids(driver) -> None:
    """A process added with add_pid, and what it forks afterwards, show up in pids()."""
    proc = spawn_in(driver, ["sh", "-c", "sleep 60 & wait"])
    try:
        assert _wait_for(lambda: len([p for p in driver.pids() if p != proc.pid]) >= 1), driver.pids()
        pids = driver.pids()
        assert proc.pid in pids
        assert os.getpid() not in pids
        assert container_dirs(proc.pid), "the process did not leave the caller's cgroups"
        for pid in pids:
            assert container_dirs(pid) == container_dirs(proc.pid)
    finally:
        driver.kill_all(signal.SIGKILL)
        _reap(proc)


def check_limits_read_back(driver) -> None:
    """Memory and pids limits written by apply() are what stats() reads back from the kernel."""
    driver.apply({"memory": {"limit": 64 * MiB}, "pids": {"limit": 20}})
    proc = spawn_in(driver, ["sleep", "60"])
    try:
        data = driver.stats()
        assert data["memory"]["usage"]["limit"] == 64 * MiB, data["memory"]
        assert data["pids"]["limit"] == 20, data["pids"]
        assert data["pids"]["current"] >= 1, data["pids"]
        json.dumps(data)   # events --stats data must serialize
    finally:
        _reap(proc)


def check_freeze_thaw(driver) -> None:
    """A frozen cgroup makes no progress and reports frozen; thawed, it runs again."""
    proc = spawn_in(driver, ["sh", "-c", "while :; do echo tick; sleep 0.02; done"], stdout=subprocess.PIPE)
    fd = proc.stdout.fileno()
    fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_NONBLOCK)

    def drain() -> bytes:
        try:
            return os.read(fd, 65536) or b""
        except BlockingIOError:
            return b""

    try:
        assert _wait_for(lambda: b"tick" in drain()), "the workload never ran"
        assert not driver.is_frozen()
        driver.freeze()
        assert driver.is_frozen()
        time.sleep(0.1)
        drain()                        # whatever was written before the freeze
        time.sleep(0.3)
        assert drain() == b"", "a frozen process kept running"
        driver.thaw()
        assert not driver.is_frozen()
        assert _wait_for(lambda: b"tick" in drain()), "the process did not resume after thaw"
    finally:
        if driver.is_frozen():
            driver.thaw()
        _reap(proc)
        proc.stdout.close()


def check_kill_all(driver) -> None:
    """kill_all(SIGKILL) ends every process, including ones forked inside."""
    proc = spawn_in(driver, ["sh", "-c", "sleep 60 & sleep 60 & wait"])
    try:
        assert _wait_for(lambda: len(driver.pids()) >= 3), driver.pids()
        driver.kill_all(signal.SIGKILL)
        assert proc.wait(timeout=5) == -signal.SIGKILL
        assert _wait_for(lambda: driver.pids() == []), driver.pids()
    finally:
        _reap(proc)


def check_destroy_leaves_nothing(driver) -> None:
    """destroy() removes every directory the container's process was in, and is idempotent."""
    proc = spawn_in(driver, ["sleep", "60"])
    try:
        dirs = container_dirs(proc.pid)
        assert dirs and all(os.path.isdir(d) for d in dirs)
    finally:
        driver.kill_all(signal.SIGKILL)
        _reap(proc)
    driver.destroy()
    assert [d for d in dirs if os.path.exists(d)] == []
    driver.destroy()


def check_state_round_trip(driver) -> None:
    """A driver rebuilt from JSON state (as a later pycr invocation does) finds and destroys the cgroup."""
    proc = spawn_in(driver, ["sleep", "60"])
    try:
        dirs = container_dirs(proc.pid)
        again = type(driver).from_state(json.loads(json.dumps(driver.to_state())))
        assert proc.pid in again.pids()
        again.kill_all(signal.SIGKILL)
        assert proc.wait(timeout=5) == -signal.SIGKILL
    finally:
        _reap(proc)
    again.destroy()
    assert [d for d in dirs if os.path.exists(d)] == []


def check_self_join(driver) -> None:
    """A process writing ``0`` into each of ``self_join_files()`` lands where add_pid puts one."""
    paths = getattr(driver, "self_join_files", lambda: [])()
    if not paths:
        return  # optional: the runtime uses add_pid
    reference = spawn_in(driver, ["sleep", "60"])
    fds = [os.open(p, os.O_WRONLY | os.O_CLOEXEC) for p in paths]
    hold, done = os.pipe(), os.pipe()
    pid = os.fork()
    if pid == 0:  # single-threaded, like pycr:[stage1]
        try:
            for fd in fds:
                os.write(fd, b"0")
            os.write(done[1], b"x")
            os.read(hold[0], 1)
        finally:
            os._exit(0)
    try:
        for fd in fds + [done[1]]:
            os.close(fd)
        assert os.read(done[0], 1) == b"x", "the child failed to write 0 into a self-join file"
        assert pid in driver.pids() and os.getpid() not in driver.pids(), driver.pids()
        assert container_dirs(pid) == container_dirs(reference.pid)
    finally:
        os.write(hold[1], b"x")  # the child holds hold[1] too: no EOF, a byte
        for fd in (hold[1], hold[0], done[0]):
            os.close(fd)
        os.waitpid(pid, 0)
        driver.kill_all(signal.SIGKILL)
        _reap(reference)


ALL_CHECKS = (check_pids, check_self_join, check_limits_read_back, check_freeze_thaw, check_kill_all,
              check_destroy_leaves_nothing, check_state_round_trip)


# -- pytest mixin -----------------------------------------------------------
def cleanup(driver) -> None:
    """Kill whatever is left in ``driver``'s cgroup and destroy it."""
    try:
        if driver.is_frozen():
            driver.thaw()
    finally:
        try:
            driver.kill_all(signal.SIGKILL)
            _wait_for(lambda: driver.pids() == [], 5)
        finally:
            driver.destroy()


class CgroupDriverConformance:
    """Subclass and set ``driver_class`` (or override ``make_driver``) to run every check."""

    pytestmark = pytest.mark.root
    driver_class: type | None = None

    def make_driver(self, container_id: str, cgroups_path: str):
        assert self.driver_class is not None, "set driver_class on the conformance subclass"
        return self.driver_class(container_id, cgroups_path)

    @pytest.fixture
    def cgroup_driver(self):
        cid = f"conformance-{uuid.uuid4().hex[:12]}"
        driver = self.make_driver(cid, f"pycr-test-{cid}")
        driver.create()
        try:
            yield driver
        finally:
            cleanup(driver)

    def test_pids(self, cgroup_driver):
        check_pids(cgroup_driver)

    def test_self_join(self, cgroup_driver):
        check_self_join(cgroup_driver)

    def test_limits_read_back(self, cgroup_driver):
        check_limits_read_back(cgroup_driver)

    def test_freeze_thaw(self, cgroup_driver):
        check_freeze_thaw(cgroup_driver)

    def test_kill_all(self, cgroup_driver):
        check_kill_all(cgroup_driver)

    def test_destroy_leaves_nothing(self, cgroup_driver):
        check_destroy_leaves_nothing(cgroup_driver)

    def test_state_round_trip(self, cgroup_driver):
        check_state_round_trip(cgroup_driver)
