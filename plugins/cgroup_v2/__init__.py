"""cgroup v2 backend (``--backend cgroup_v2``): see :mod:`.driver`."""

from .driver import CgroupV2

__all__ = ["CgroupV2"]
