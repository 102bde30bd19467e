"""The ``none`` cgroup driver: no cgroup at all, and honest about it.

For hosts where pycr may not touch cgroups (an unprivileged user without a
delegated subtree, a supervisor that owns the cgroup).  It creates nothing,
and any requested ``linux.resources`` value -- a limit, a device rule --
is refused with a ConfigError naming the field rather than silently ignored.
(A bundle made by ``runc spec`` carries a deny-all device rule; drop
``linux.resources`` from it to run with this driver.)

Without a cgroup there is no way to find every process of the container, so
``pids()`` reports only the process handed to ``add_pid`` while it lives;
its start time is kept so a recycled pid is never mistaken for it.
"""

from __future__ import annotations

from typing import Any

from pycr.core import CgroupDriver, ConfigError, PycrError

__all__ = ["NoCgroup"]


def _start_time(pid: int) -> str | None:
    """Field 22 of /proc/<pid>/stat, or None for a gone or zombie process."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return None if fields[0] in ("Z", "X") else fields[19]


def _requested(value: Any, field: str) -> str | None:
    """The first field of ``value`` that asks for something, depth first."""
    if value is None or value is False or value == {} or value == []:
        return None
    if isinstance(value, dict):
        for key in value:
            found = _requested(value[key], f"{field}.{key}")
            if found:
                return found
        return None
    return field


class NoCgroup(CgroupDriver):
    """A driver that creates nothing and enforces nothing."""

    name = "none"

    def __init__(self, container_id: str, cgroups_path: str | None = None, *, root: str = "/sys/fs/cgroup",
                 proc_self_cgroup: str = "/proc/self/cgroup"):
        super().__init__(container_id, cgroups_path, root=root, proc_self_cgroup=proc_self_cgroup)
        self._pid: int | None = None
        self._start: str | None = None

    @classmethod
    def available(cls, root: str = "/sys/fs/cgroup") -> bool:
        return True

    def create(self) -> None:
        pass

    def apply(self, resources: dict[str, Any]) -> None:
        field = _requested(resources or {}, "linux.resources")
        if field:
            raise ConfigError(f"{field}: the 'none' cgroup driver cannot enforce resource limits "
                              "(use cgroup_v1 or cgroup_v2, or remove it)")

    def add_pid(self, pid: int) -> None:
        self._pid, self._start = pid, _start_time(pid)

    def pids(self) -> list[int]:
        if self._pid is not None and self._start is not None and _start_time(self._pid) == self._start:
            return [self._pid]
        return []

    def freeze(self) -> None:
        raise PycrError(f"container {self.container_id}: the 'none' cgroup driver cannot pause containers")

    def thaw(self) -> None:
        raise PycrError(f"container {self.container_id}: the 'none' cgroup driver cannot resume containers")

    def is_frozen(self) -> bool:
        return False

    def freezer_files(self) -> list[list[str]]:
        return []  # never frozen

    def stats(self) -> dict[str, Any]:
        return {}

    def destroy(self) -> None:
        pass

    def mounts(self, destination: str) -> list[dict[str, Any]]:
        return []   # nothing to expose; the container sees whatever /sys/fs/cgroup its rootfs has

    def to_state(self) -> dict[str, Any]:
        return {**super().to_state(), "pid": self._pid, "start_time": self._start}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "NoCgroup":
        drv = cls(state["container_id"], state.get("cgroups_path"), root=state.get("root", "/sys/fs/cgroup"))
        drv._pid, drv._start = state.get("pid"), state.get("start_time")
        return drv
