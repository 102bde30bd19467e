"""A fake cgroupfs in a temporary directory, for unit-testing cgroup drivers without root.

It lays out a v1 tree (one directory per hierarchy, like a hybrid host) or a
v2 tree (one unified directory with ``cgroup.controllers`` /
``cgroup.subtree_control``), the control files a kernel shows in them, and a
fake ``/proc/self/cgroup`` naming the caller's own cgroups::

    fake = FakeCgroupfs(tmp_path, own={"memory": "/supervisor/job1"})
    drv = fake.driver(CgroupV1, "c1")          # root/proc_self_cgroup point at the fake
    drv.create(); drv.apply({"pids": {"limit": 5}})
    assert fake.read("pids", "/pycr-c1", "pids.max") == "5"

What a plain directory cannot imitate -- ``mkdir`` populating control files
and ``rmdir`` removing a directory that still holds them -- goes through the
:class:`pycr.core.cgroups.CgroupFS` seam every driver uses (``self.fs``):
:meth:`FakeCgroupfs.bind` points a driver's ``fs`` at the fake, whose
``mkdir`` writes the control files of that hierarchy and whose ``rmdir``
applies the kernel's rules (EBUSY while child cgroups or tasks remain) and
then deletes the files.  Drivers therefore carry no "am I on a fake" flag.

Control files are plain files: a write replaces the content and nothing
validates it.  ``omit`` leaves chosen files out (a kernel without swap
accounting has no ``memory.memsw.limit_in_bytes``) so drivers' refusal
paths can be tested.
"""

from __future__ import annotations

import errno
import os
from typing import Any, Iterable

from pycr.core.cgroups import CgroupFS

UNLIMITED = "9223372036854771712"

_MEM_ENTRY = {"limit_in_bytes": UNLIMITED, "usage_in_bytes": "0", "max_usage_in_bytes": "0", "failcnt": "0"}

#: Control files of a non-root v1 cgroup, per controller.
V1_FILES: dict[str, dict[str, str]] = {
    "memory": {
        **{f"memory.{k}": v for k, v in _MEM_ENTRY.items()},
        **{f"memory.memsw.{k}": v for k, v in _MEM_ENTRY.items()},
        **{f"memory.kmem.{k}": v for k, v in _MEM_ENTRY.items()},
        **{f"memory.kmem.tcp.{k}": v for k, v in _MEM_ENTRY.items()},
        "memory.soft_limit_in_bytes": UNLIMITED,
        "memory.stat": "cache 0\nrss 0\nmapped_file 0\nswap 0\ntotal_cache 0\ntotal_rss 0\n",
        "memory.swappiness": "60",
        "memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n",
        "memory.use_hierarchy": "1",
        "memory.force_empty": "",
    },
    "cpu": {
        "cpu.shares": "1024", "cpu.cfs_period_us": "100000", "cpu.cfs_quota_us": "-1", "cpu.cfs_burst_us": "0",
        "cpu.rt_period_us": "1000000", "cpu.rt_runtime_us": "0", "cpu.idle": "0",
        "cpu.stat": "nr_periods 0\nnr_throttled 0\nthrottled_time 0\n",
    },
    "cpuacct": {
        "cpuacct.usage": "0", "cpuacct.usage_percpu": "0 0", "cpuacct.usage_percpu_sys": "0 0",
        "cpuacct.usage_percpu_user": "0 0", "cpuacct.stat": "user 0\nsystem 0\n",
    },
    "cpuset": {  # empty in a new cgroup: the kernel refuses tasks until they are filled
        "cpuset.cpus": "", "cpuset.mems": "", "cpuset.effective_cpus": "", "cpuset.effective_mems": "",
        "cpuset.cpu_exclusive": "0", "cpuset.mem_exclusive": "0",
    },
    "pids": {"pids.max": "max", "pids.current": "0", "pids.events": "max 0\n"},
    "blkio": {
        "blkio.bfq.weight": "100", "blkio.bfq.weight_device": "",
        "blkio.throttle.read_bps_device": "", "blkio.throttle.write_bps_device": "",
        "blkio.throttle.read_iops_device": "", "blkio.throttle.write_iops_device": "",
        "blkio.throttle.io_service_bytes_recursive": "Total 0\n", "blkio.throttle.io_serviced_recursive": "Total 0\n",
    },
    "devices": {"devices.allow": "", "devices.deny": "", "devices.list": "a *:* rwm\n"},
    "freezer": {"freezer.state": "THAWED", "freezer.self_freezing": "0", "freezer.parent_freezing": "0"},
    "hugetlb": {"hugetlb.2MB.limit_in_bytes": UNLIMITED, "hugetlb.2MB.usage_in_bytes": "0"},
    "net_cls": {"net_cls.classid": "0"},
    "net_prio": {"net_prio.ifpriomap": "", "net_prio.prioidx": "1"},
}
V1_CONTROLLERS = frozenset(V1_FILES) | {"perf_event", "rdma", "misc"}
V1_COMMON = {"cgroup.procs": "", "tasks": "", "cgroup.clone_children": "0", "notify_on_release": "0"}
V1_ROOT_ONLY = {"cgroup.sane_behavior": "0", "release_agent": ""}
#: The layout of this project's hybrid CI host.
DEFAULT_V1 = ("blkio", "cpu", "cpuacct", "cpuset", "devices", "freezer", "memory", "pids", "systemd")

#: Control files of a non-root v2 cgroup, per controller enabled in the parent's subtree_control.
V2_FILES: dict[str, dict[str, str]] = {
    "memory": {"memory.max": "max", "memory.high": "max", "memory.low": "0", "memory.min": "0",
               "memory.swap.max": "max", "memory.current": "0", "memory.swap.current": "0", "memory.peak": "0",
               "memory.events": "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n", "memory.stat": "anon 0\nfile 0\n"},
    "cpu": {"cpu.max": "max 100000", "cpu.weight": "100", "cpu.idle": "0", "cpu.max.burst": "0",
            "cpu.stat": "usage_usec 0\nuser_usec 0\nsystem_usec 0\nnr_periods 0\nnr_throttled 0\nthrottled_usec 0\n"},
    "cpuset": {"cpuset.cpus": "", "cpuset.mems": "", "cpuset.cpus.effective": "0-1", "cpuset.mems.effective": "0"},
    "io": {"io.max": "", "io.weight": "default 100", "io.stat": ""},
    "pids": {"pids.max": "max", "pids.current": "0", "pids.events": "max 0\n"},
    "hugetlb": {"hugetlb.2MB.max": "max", "hugetlb.2MB.current": "0"},
}
V2_COMMON = {"cgroup.procs": "", "cgroup.threads": "", "cgroup.subtree_control": "", "cgroup.type": "domain",
             "cgroup.events": "populated 0\nfrozen 0\n", "cgroup.freeze": "0", "cgroup.kill": "",
             "cgroup.max.depth": "max", "cgroup.max.descendants": "max", "cgroup.stat": ""}
DEFAULT_V2 = ("cpuset", "cpu", "io", "memory", "pids")


class FakeCgroupfs(CgroupFS):
    """A v1 or v2 cgroup tree under ``base``; also the mkdir/rmdir seam for drivers bound to it.

    ``hierarchies`` (v1) are directory names under the root: a controller
    (``memory``), co-mounted ones (``cpu,cpuacct``) or a named hierarchy
    (``systemd``).  ``controllers`` (v2) are listed in the root's
    ``cgroup.controllers`` and enabled in every ``cgroup.subtree_control`` on
    the way to the caller's own cgroup.  ``own`` maps a hierarchy name
    (``""`` for v2) to the caller's cgroup there; unlisted ones are ``/``.
    """

    def __init__(self, base: str | os.PathLike, *, version: int = 1, hierarchies: Iterable[str] = DEFAULT_V1,
                 controllers: Iterable[str] = DEFAULT_V2, own: dict[str, str] | None = None,
                 omit: Iterable[str] = (), cpus: str = "0-1", mems: str = "0"):
        self.version = version
        self.root = os.path.join(os.fspath(base), "sys-fs-cgroup")
        self.proc_self_cgroup = os.path.join(os.fspath(base), "proc-self-cgroup")
        self.omit = set(omit)
        self.cpus, self.mems = cpus, mems
        own = dict(own or {})
        os.makedirs(self.root)
        lines = []
        if version == 1:
            self.hierarchies = tuple(hierarchies)
            for n, name in enumerate(self.hierarchies, 1):
                top = os.path.join(self.root, name)
                os.mkdir(top)
                self._populate(top, root=True)
                ctrls = ",".join(c if c in V1_CONTROLLERS else f"name={c}" for c in name.split(","))
                path = own.get(name, "/")
                self._make_own(top, path)
                lines.append(f"{n}:{ctrls}:{path}")
            lines.append("0::/")
        elif version == 2:
            self.hierarchies = ("",)
            self.controllers = tuple(controllers)
            self._populate(self.root, root=True)
            path = own.get("", "/")
            self._make_own(self.root, path)
            lines.append(f"0::{path}")
        else:
            raise ValueError(f"cgroup version {version!r}")
        with open(self.proc_self_cgroup, "w") as f:
            f.write("\n".join(lines) + "\n")

    # -- driver binding -----------------------------------------------------
    def bind(self, driver):
        """Route ``driver``'s mkdir/rmdir through this fake; returns the driver."""
        driver.fs = self
        return driver

    def driver(self, cls, container_id: str, cgroups_path: str | None = None, **kwargs: Any):
        """``cls(container_id, cgroups_path)`` pointed at this fake's root and /proc/self/cgroup."""
        return self.bind(cls(container_id, cgroups_path, root=self.root,
                             proc_self_cgroup=self.proc_self_cgroup, **kwargs))

    # -- inspection ---------------------------------------------------------
    def path(self, hierarchy: str, cgroup: str = "/", filename: str | None = None) -> str:
        """Host path of ``cgroup`` in ``hierarchy`` (``""`` for v2), optionally of one file in it."""
        p = os.path.join(self.root, hierarchy, cgroup.lstrip("/"))
        return os.path.join(p, filename) if filename else os.path.normpath(p)

    def read(self, hierarchy: str, cgroup: str, filename: str) -> str:
        with open(self.path(hierarchy, cgroup, filename)) as f:
            return f.read().strip()

    def write(self, hierarchy: str, cgroup: str, filename: str, value: object) -> None:
        """Set a file as the kernel would report it (usage counters, a task list ...)."""
        with open(self.path(hierarchy, cgroup, filename), "w") as f:
            f.write(str(value))

    def cgroups(self) -> list[str]:
        """Every cgroup directory below the hierarchy roots (to assert nothing is left behind)."""
        out = []
        for name in self.hierarchies:
            top = os.path.join(self.root, name)
            for dirpath, dirnames, _ in os.walk(top):
                out += [os.path.join(dirpath, d) for d in dirnames]
        return sorted(out)

    # -- the CgroupFS seam --------------------------------------------------
    def mkdir(self, path: str) -> None:
        os.mkdir(path)
        self._populate(path, root=False)

    def rmdir(self, path: str) -> None:
        if not os.path.isdir(path):
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), path)
        entries = os.listdir(path)
        busy = any(os.path.isdir(os.path.join(path, e)) for e in entries)
        procs = os.path.join(path, "cgroup.procs")
        if os.path.exists(procs):
            with open(procs) as f:
                busy = busy or bool(f.read().strip())
        if busy:
            raise OSError(errno.EBUSY, os.strerror(errno.EBUSY), path)
        for e in entries:
            os.unlink(os.path.join(path, e))
        os.rmdir(path)

    # -- layout -------------------------------------------------------------
    def _hierarchy_of(self, path: str) -> str:
        rel = os.path.relpath(path, self.root)
        return "" if self.version == 2 else rel.split(os.sep)[0]

    def _populate(self, path: str, *, root: bool) -> None:
        if self.version == 1:
            names = self._hierarchy_of(path).split(",")
            content = dict(V1_COMMON)
            for ctrl in names:
                content.update(V1_FILES.get(ctrl, {}))
            if root:
                content.update(V1_ROOT_ONLY)
                content.pop("freezer.state", None)   # the root cgroup cannot be frozen
                if "cpuset" in names:
                    content.update({"cpuset.cpus": self.cpus, "cpuset.mems": self.mems})
        else:
            if root:
                enabled = list(self.controllers)
                content = {"cgroup.procs": "", "cgroup.controllers": " ".join(enabled),
                           "cgroup.subtree_control": "", "cgroup.max.depth": "max"}
                enabled = []  # the root shows no per-controller interface files
            else:
                with open(os.path.join(os.path.dirname(path), "cgroup.subtree_control")) as f:
                    enabled = [t.lstrip("+") for t in f.read().split() if not t.startswith("-")]  # "+ctrl" as written
                content = dict(V2_COMMON, **{"cgroup.controllers": " ".join(enabled)})
            for ctrl in enabled:
                content.update(V2_FILES.get(ctrl, {}))
        for name, value in content.items():
            if name not in self.omit:
                with open(os.path.join(path, name), "w") as f:
                    f.write(value + ("\n" if value and not value.endswith("\n") else ""))

    def _make_own(self, top: str, own: str) -> None:
        """Create the caller's own cgroup (as the host would have), filled in like a live one."""
        path = top
        for part in [p for p in own.split("/") if p]:
            if self.version == 2:   # the host delegated every controller down to us
                with open(os.path.join(path, "cgroup.subtree_control"), "w") as f:
                    f.write(" ".join(self.controllers) + "\n")
            path = os.path.join(path, part)
            self.mkdir(path)
            for name, value in (("cpuset.cpus", self.cpus), ("cpuset.mems", self.mems)):
                if os.path.exists(os.path.join(path, name)):
                    with open(os.path.join(path, name), "w") as f:
                        f.write(value + "\n")
        if self.version == 2:
            with open(os.path.join(path, "cgroup.subtree_control"), "w") as f:
                f.write(" ".join(self.controllers) + "\n")
