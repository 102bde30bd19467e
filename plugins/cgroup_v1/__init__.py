"""The ``cgroup_v1`` driver: legacy and hybrid hosts (one mount per v1 hierarchy)."""

from pycr.plugins.cgroup_v1.driver import CgroupV1

__all__ = ["CgroupV1"]
