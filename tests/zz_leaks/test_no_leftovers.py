"""Runs last (directory name sorts last): nothing this run of the suite made may survive it.

Only this run's own things count, so a user's containers, or another checkout's suite running at
the same time, never fail it:

- a process is ours when its environment carries ``conftest.SESSION_ENV`` (every process the suite
  starts inherits it, the containers' ``pycr:[...]`` processes included);
- a mount is ours when its path is under one of ``conftest.SESSION_PATHS`` or pytest's base
  temporary directory of this run;
- a cgroup named ``pycr*`` is ours when it was made after the suite started, holds no process of
  somebody else (a leaked cgroup is usually empty; one that still holds a process is ours only when
  that process is), is still there when looked at again (another run's cgroup in passing, made or
  being removed around its container, is gone or holds that container's process by then), and its
  name says it is ours: it carries this run's ``conftest.ID_PREFIX`` (every ``pycr-oci`` container of
  the suite) or this process's pid (an engine test's parent cgroup, ``engines.parent_cgroup``).  A
  name carrying another run's prefix or pid is never ours.  Names that tell nothing (the random ids
  of ``pycr run`` containers, bench cells) count only under this process's own cgroup in their
  hierarchy, where every container of the run nests; in a hierarchy where the suite sits at the
  root, such a name cannot be told from another run's;
- a link is a leak when it follows pycr's device naming (the network layer's veths and bridges) and
  appeared in the machine's own network namespace during the run.
"""

import os
import re
import subprocess
import time

from pycr.plugins.network.link import veth_name
from pycr.plugins.network.state import DEFAULT_BRIDGE
from tests.conftest import HOST_LINKS, ID_PREFIX, SESSION_ENV, SESSION_PATHS, SESSION_START
from tests.helpers.engines import CGROUP_ROOT, own_cgroups


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


_RUN_PREFIX = re.compile(r"pycrtest-[0-9a-f]{8}-")  # conftest.ID_PREFIX of some run
_ENGINE_PARENT = re.compile(r"pycr-test-.+-pid([0-9]+)")  # engines.parent_cgroup of some run


def _owner_by_name(name: str) -> bool | None:
    """True: the name says this run made it; False: another run did; None: the name does not tell."""
    if ID_PREFIX in name:
        return True
    engine = _ENGINE_PARENT.fullmatch(name)
    if engine:
        return int(engine.group(1)) == os.getpid()
    return False if _RUN_PREFIX.search(name) else None


def _under_own(path: str, own: dict[str, str]) -> bool:
    """``path`` (``/sys/fs/cgroup/HIERARCHY/...``) is below our own cgroup ``own[HIERARCHY]``."""
    hierarchy, _, inner = os.path.relpath(path, CGROUP_ROOT).partition("/")
    base = own.get(hierarchy)
    if base is None:  # a hierarchy we are not in: no narrowing (a leak must never be missed)
        return True
    return base == "/" or ("/" + inner).startswith(base.rstrip("/") + "/")


def _cgroup_is_ours(path: str, own: dict[str, str] | None = None) -> bool:
    by_name = _owner_by_name(os.path.basename(path))
    if by_name is False or (by_name is None and not _under_own(path, own_cgroups() if own is None else own)):
        return False
    try:
        if os.stat(path).st_ctime < SESSION_START - 1:
            return False
        with open(os.path.join(path, "cgroup.procs")) as f:
            pids = f.read().split()
    except OSError:  # removed while we looked
        return False
    return all(_ours(pid) for pid in pids)


def _still_ours(paths: list[str], looks: int = 10, pause: float = 0.5) -> list[str]:
    """Those of ``paths`` that stay ours over ``looks`` more looks: a leak stays; another run's
    cgroup in passing (made, or being removed, while its container starts or ends) does not."""
    for _ in range(looks):
        if not paths:
            break
        time.sleep(pause)
        paths = [p for p in paths if _cgroup_is_ours(p)]
    return paths


def test_no_cgroups_left():
    left = []
    for dirpath, dirnames, _ in os.walk(CGROUP_ROOT):
        dirnames[:] = [d for d in dirnames if _owner_by_name(d) is not False]  # another run's tree
        left += [os.path.join(dirpath, d) for d in dirnames
                 if "pycr" in d and _cgroup_is_ours(os.path.join(dirpath, d))]
        if dirpath.count("/") > 10:
            dirnames[:] = []
    left = _still_ours(left)
    assert not left, f"cgroups left: {left}"


_PYCR_LINK = re.compile(r"pv[0-9a-f]{12}[0-9]*|br-[0-9a-f]{12}|" + re.escape(DEFAULT_BRIDGE))


def _pycr_links(names) -> list[str]:
    """Those of ``names`` named as pycr names its devices: a container's veth ``pv<id>[n]``
    (``link.veth_name``), the default bridge and a user network's ``br-<network id>``."""
    return sorted(n for n in names if _PYCR_LINK.fullmatch(n))


def test_the_machines_own_network_is_untouched():
    """Networking is tested only inside namespaces the tests make: no pycr bridge or veth may have
    appeared in the machine's own network namespace during the run (a link someone else adds,
    a docker0, is not ours to count)."""
    new = _pycr_links(set(os.listdir("/sys/class/net")) - HOST_LINKS)
    assert not new, f"pycr links added to the machine's own network namespace: {new}"


def test_no_state_left(state_root):
    from pycr.core.runtime.state import Container

    assert Container.ids(state_root) == []


def test_a_leak_of_ours_is_caught(tmp_path):
    """The filters above must still see this run's own leaks: cgroups made now (named by this run,
    and named by nothing but made under our own cgroup), and a process carrying the session's
    environment; a cgroup named by another run is not ours."""
    from pycr.core import own_cgroup_paths

    parent = f"/sys/fs/cgroup/memory{own_cgroup_paths()['memory']}"  # nested, never at a root
    ours = [f"{parent}/pycr-{ID_PREFIX}leakcheck", f"{parent}/pycr-leakcheck-{os.getpid()}"]
    theirs = f"{parent}/pycr-pycrtest-{'0' * 8}-leakcheck" if "0" * 8 not in ID_PREFIX else \
        f"{parent}/pycr-pycrtest-{'1' * 8}-leakcheck"
    for d in (*ours, theirs):
        os.mkdir(d)
    try:
        assert [d for d in (*ours, theirs) if _cgroup_is_ours(d)] == ours
        assert _still_ours([*ours, theirs], looks=2, pause=0.01) == ours
    finally:
        for d in (*ours, theirs):
            os.rmdir(d)
    assert _still_ours(ours, looks=1, pause=0) == []  # removed: gone at the next look
    child = subprocess.Popen(["sh", "-c", "exec sleep 30"])
    try:
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


def test_the_filters_tell_runs_apart():
    """The name and place rules, and the link rule, on names alone (no machine state)."""
    other_prefix = "pycrtest-" + ("0" * 8 if "0" * 8 not in ID_PREFIX else "1" * 8) + "-"
    assert _owner_by_name(f"pycr-{ID_PREFIX}0123456789") is True
    assert _owner_by_name(f"pycr-test-{ID_PREFIX}abc") is True  # a cgroup driver test's own path
    assert _owner_by_name(f"pycr-{other_prefix}0123456789") is False
    assert _owner_by_name(f"pycr-test-podman-pid{os.getpid()}") is True
    assert _owner_by_name(f"pycr-test-podman-pid{os.getpid() + 1}") is False
    for tells_nothing in ("pycr-" + "ab" * 32, "pycr-bench-b123-pycr-v1-pivot", "pycr-pycrtest-motd",
                          "pycr-test-conformance-0123456789ab"):
        assert _owner_by_name(tells_nothing) is None, tells_nothing
    own = {"memory": "/jobs/ours", "cpu": "/"}
    assert _under_own(f"{CGROUP_ROOT}/memory/jobs/ours/pycr-x", own)
    assert not _under_own(f"{CGROUP_ROOT}/memory/jobs/theirs/pycr-x", own)
    assert not _under_own(f"{CGROUP_ROOT}/memory/jobs/ours2/pycr-x", own)
    assert _under_own(f"{CGROUP_ROOT}/cpu/pycr-x", own)  # the suite at the root: cannot narrow
    assert _under_own(f"{CGROUP_ROOT}/pids/pycr-x", own)  # a hierarchy we are not in: never narrowed
    cid = "ab" * 32
    made = [veth_name(cid), veth_name(cid, 1), DEFAULT_BRIDGE, "br-0123456789ab"]
    assert _pycr_links([*made, "docker0", "veth1a2b3c4", "eth1", "wg0", "br0", "pvx"]) == sorted(made)
