"""Runs last (directory name sorts last): nothing this run of the suite made may survive it.

Only this run's own things count, so a user's containers, or another checkout's suite running at
the same time, never fail it:

- a process is ours when its environment carries ``conftest.SESSION_ENV`` (every process the suite
  starts inherits it, the containers' ``pycr:[...]`` processes included);
- a mount is ours when its path is under one of ``conftest.SESSION_PATHS`` or pytest's base
  temporary directory of this run;
- a cgroup named ``pycr*`` is ours when it was made after the suite started and holds no process of
  somebody else (a leaked cgroup is usually empty; one that still holds a process is ours only when
  that process is).
"""

import os
import subprocess

from tests.conftest import HOST_LINKS, SESSION_ENV, SESSION_PATHS, SESSION_START


def _environ(pid: str) -> bytes | None:
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            return f.read()
    except OSError:  # gone, or a kernel thread
        return None


_OWN_ENVIRON = _environ("self")


def _ours(pid: str) -> bool:
    """Started by this run: it inherited the session marker through exec, or it is a fork of the
    test process itself (a container made in-process), whose environment block is ours unchanged."""
    env = _environ(pid)
    return env is not None and (SESSION_ENV.encode() in env.split(b"\0") or env == _OWN_ENVIRON)


def test_no_container_processes_left():
    out = subprocess.run(["ps", "-eo", "pid=,comm=,args="], capture_output=True, text=True).stdout
    left = [line for line in out.splitlines() if "pycr:[" in line and _ours(line.split()[0])]
    assert not left, f"pycr processes left: {left}"


def test_no_mounts_left(tmp_path_factory):
    ours = (*SESSION_PATHS, str(tmp_path_factory.getbasetemp()))
    with open("/proc/self/mountinfo") as f:
        left = [line for line in f if any(f" {p}" in line for p in ours)]
    assert not left, f"mounts left: {left}"


def _cgroup_is_ours(path: str) -> bool:
    try:
        if os.stat(path).st_ctime < SESSION_START - 1:
            return False
        with open(os.path.join(path, "cgroup.procs")) as f:
            pids = f.read().split()
    except OSError:  # removed while we looked
        return False
    return all(_ours(pid) for pid in pids)


def test_no_cgroups_left():
    left = []
    for dirpath, dirnames, _ in os.walk("/sys/fs/cgroup"):
        left += [os.path.join(dirpath, d) for d in dirnames
                 if "pycr" in d and _cgroup_is_ours(os.path.join(dirpath, d))]
        if dirpath.count("/") > 10:
            dirnames[:] = []
    assert not left, f"cgroups left: {left}"


def test_the_machines_own_network_is_untouched():
    """Networking is tested only inside namespaces the tests make: no bridge, veth or other link
    may have appeared in the machine's own network namespace during the run."""
    new = sorted(set(os.listdir("/sys/class/net")) - HOST_LINKS)
    assert not new, f"links added to the machine's own network namespace: {new}"


def test_no_state_left(state_root):
    from pycr.core.runtime.state import Container

    assert Container.ids(state_root) == []


def test_a_leak_of_ours_is_caught(tmp_path):
    """The filters above must still see this run's own leaks: a cgroup made now, and a process
    carrying the session's environment."""
    from pycr.core import own_cgroup_paths

    own = f"/sys/fs/cgroup/memory{own_cgroup_paths()['memory']}/pycr-leakcheck-{os.getpid()}"  # nested, never at a root
    os.mkdir(own)
    try:
        assert _cgroup_is_ours(own)
    finally:
        os.rmdir(own)
    child = subprocess.Popen(["sh", "-c", "exec sleep 30"])
    try:
        import time

        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # until sleep runs: its environ is its own then
            with open(f"/proc/{child.pid}/comm") as f:
                if f.read().strip() == "sleep":
                    break
            time.sleep(0.01)
        assert _ours(str(child.pid))
        assert not _ours("1")
    finally:
        child.kill()
        child.wait()
