"""Find the v1 hierarchies under a cgroup root.

On a real host the truth is ``/proc/self/mountinfo``: every ``cgroup`` (v1)
mount below ``root`` is one hierarchy, its super options name the controllers
(``cpu,cpuacct`` when co-mounted, ``name=systemd`` for a named one) and its
mount root tells how ``/proc/self/cgroup`` paths map into it.  A fake
cgroupfs in a temp dir is not mounted, so when mountinfo lists nothing under
``root`` the directories of ``root`` are scanned instead: a directory holding
``cgroup.procs`` but no ``cgroup.controllers`` is a v1 hierarchy named after
its controllers (``cpu,cpuacct``; an unknown name ``x`` means ``name=x``).
"""

from __future__ import annotations

import os

#: Controllers the kernel can mount as v1 hierarchies.
KNOWN_CONTROLLERS = frozenset({
    "cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "net_cls", "net_prio",
    "blkio", "perf_event", "hugetlb", "pids", "rdma", "misc",
})


class Hierarchy(tuple):
    """One mounted v1 hierarchy: ``name`` is the directory under root ("memory",
    "cpu,cpuacct", "systemd"), ``mountpoint`` the mount's absolute path,
    ``controllers`` like ("cpu", "cpuacct") or ("name=systemd",), and
    ``mount_root`` the cgroup path mounted there (4th mountinfo field, default "/").

    A tuple with named fields, written out: ``collections.namedtuple`` (or typing's)
    would import collections (~1.5 ms) on every ``pycr-oci`` run for this alone."""

    __slots__ = ()

    def __new__(cls, name: str, mountpoint: str, controllers: tuple, mount_root: str = "/"):
        return tuple.__new__(cls, (name, mountpoint, controllers, mount_root))

    name = property(lambda self: self[0])
    mountpoint = property(lambda self: self[1])
    controllers = property(lambda self: self[2])
    mount_root = property(lambda self: self[3])

    def __repr__(self) -> str:
        return "Hierarchy(name=%r, mountpoint=%r, controllers=%r, mount_root=%r)" % self


def _unescape(field: str) -> str:
    """mountinfo writes space, tab, newline and backslash as ``\\ooo`` octal escapes."""
    parts = field.split("\\")
    out = [parts[0]]
    for part in parts[1:]:
        code = part[:3]
        out.append(chr(int(code, 8)) + part[3:] if len(code) == 3 and code.isdigit() else "\\" + part)
    return "".join(out)


def _under(path: str, root: str) -> bool:
    return os.path.dirname(path) == root.rstrip("/") or path.startswith(root.rstrip("/") + "/")


def from_mountinfo(root: str, mountinfo: str = "/proc/self/mountinfo") -> list[Hierarchy]:
    """Every v1 cgroup mount below ``root`` listed in ``mountinfo``."""
    root = os.path.normpath(root)
    result: dict[tuple[str, ...], Hierarchy] = {}
    try:
        with open(mountinfo) as f:
            lines = f.read().splitlines()
    except OSError:
        return []
    for line in lines:
        pre, _, post = line.partition(" - ")
        fields, tail = pre.split(), post.split()
        if len(fields) < 5 or len(tail) < 3 or tail[0] != "cgroup":
            continue
        mountpoint = _unescape(fields[4])
        if not _under(mountpoint, root):
            continue
        ctrls = tuple(o for o in tail[2].split(",") if o in KNOWN_CONTROLLERS or o.startswith("name="))
        if ctrls and ctrls not in result:   # the first mount of a hierarchy wins
            result[ctrls] = Hierarchy(os.path.basename(mountpoint), mountpoint, ctrls, _unescape(fields[3]))
    return sorted(result.values(), key=lambda h: h.name)


def scan(root: str) -> list[Hierarchy]:
    """v1 hierarchies found by looking at the directories of ``root`` (fakes)."""
    found = []
    try:
        names = sorted(os.listdir(root))
    except OSError:
        return []
    for name in names:
        path = os.path.join(root, name)
        if os.path.islink(path) or not os.path.isdir(path):
            continue
        if not os.path.exists(os.path.join(path, "cgroup.procs")) or os.path.exists(
                os.path.join(path, "cgroup.controllers")):
            continue
        ctrls = tuple(c if c in KNOWN_CONTROLLERS else f"name={c}" for c in name.split(","))
        found.append(Hierarchy(name, path, ctrls))
    return found


def discover(root: str, mountinfo: str = "/proc/self/mountinfo") -> list[Hierarchy]:
    """Mounted hierarchies from mountinfo, or the scanned layout of a fake."""
    return from_mountinfo(root, mountinfo) or scan(root)


def own_path_in(h: Hierarchy, own: dict[str, str]) -> str | None:
    """The caller's cgroup in ``h`` as a path relative to its mountpoint.

    ``own`` is :func:`pycr.core.own_cgroup_paths`; ``None`` when the caller is
    not listed for this hierarchy (or sits outside what is mounted here).
    """
    path = own.get(h.controllers[0])
    if path is None:
        return None
    base = h.mount_root.rstrip("/")
    if base:
        if path != base and not path.startswith(base + "/"):
            return None
        path = path[len(base):] or "/"
    return path
