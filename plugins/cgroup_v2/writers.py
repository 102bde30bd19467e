"""Translate OCI ``linux.resources`` into cgroup v2 control-file writes.

Pure functions, no I/O: :func:`plan` returns the writes in order, each tagged
with the controller that must be enabled for its file to exist and with the
OCI field it came from (so a failure names the field).  Conversions follow
what runc and crun do on v2, so a bundle behaves the same under any of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pycr.core import ConfigError


@dataclass(frozen=True)
class Write:
    controller: str | None   # None: a core file (cgroup.*), no controller needed
    filename: str
    value: str
    field: str               # the OCI field, for error messages


def shares_to_weight(shares: int) -> int:
    """cpu.shares (2..262144) to cpu.weight (1..10000), runc/crun's formula."""
    if shares == 0:
        return 0
    return 1 + ((shares - 2) * 9999) // 262142


def blkio_weight_to_io_weight(weight: int) -> int:
    """blkio.weight (10..1000) to io.weight (1..10000), as runc and crun convert it."""
    if weight == 0:
        return 0
    return 1 + ((weight - 10) * 9999) // 990


def swap_max(swap: int | None, limit: int | None) -> int | None:
    """OCI memory.swap is memory+swap (v1 semantics); v2's memory.swap.max is swap only.

    ``None`` means "leave it", ``-1`` means ``max``.
    """
    limit = limit or 0
    if swap is None:
        # unlimited memory and no swap request: unlimited swap too (v1 parity)
        return -1 if limit == -1 else None
    if swap in (-1, 0):
        return -1 if swap == -1 or limit == -1 else None
    if limit in (0, -1):
        raise ConfigError("linux.resources.memory.swap: a swap limit needs a memory limit")
    if swap < limit:
        raise ConfigError(f"linux.resources.memory.swap: {swap} is below memory.limit {limit} (swap counts memory+swap)")
    return swap - limit


def _max(value: int) -> str:
    return "max" if value is None or value < 0 else str(value)


def _refuse(field: str, why: str = "has no cgroup v2 equivalent") -> None:
    raise ConfigError(f"linux.resources.{field}: {why}")


def _memory(mem: dict[str, Any]) -> list[Write]:
    out = []
    f = "linux.resources.memory"
    limit = mem.get("limit")
    if limit is not None and limit != 0:
        out.append(Write("memory", "memory.max", _max(limit), f + ".limit"))
    if mem.get("reservation"):
        out.append(Write("memory", "memory.low", _max(mem["reservation"]), f + ".reservation"))
    swap = swap_max(mem.get("swap"), limit)
    if swap is not None:
        out.append(Write("memory", "memory.swap.max", _max(swap), f + ".swap"))
    for key, why in (("kernel", "is a cgroup v1 setting"), ("kernelTCP", "is a cgroup v1 setting"),
                     ("swappiness", "has no cgroup v2 equivalent")):
        if mem.get(key) is not None:
            _refuse(f"memory.{key}", why)
    if mem.get("disableOOMKiller"):
        _refuse("memory.disableOOMKiller", "cannot be set on cgroup v2 (use memory.oom.group or a larger limit)")
    if mem.get("useHierarchy") is False:
        _refuse("memory.useHierarchy", "cgroup v2 is always hierarchical")
    if mem.get("checkBeforeUpdate") and limit:
        pass  # enforced by the kernel on write (EBUSY when usage is above)
    return out


def _cpu(cpu: dict[str, Any]) -> list[Write]:
    out = []
    f = "linux.resources.cpu"
    shares = cpu.get("shares")
    if shares:
        if not 2 <= shares <= 262144:
            raise ConfigError(f"{f}.shares: {shares} is outside 2..262144")
        out.append(Write("cpu", "cpu.weight", str(shares_to_weight(shares)), f + ".shares"))
    quota, period = cpu.get("quota"), cpu.get("period")
    if quota or period:
        q = "max" if not quota or quota < 0 else str(quota)
        out.append(Write("cpu", "cpu.max", f"{q} {period or 100000}", f + ".quota"))
    if cpu.get("burst") is not None:
        out.append(Write("cpu", "cpu.max.burst", str(cpu["burst"]), f + ".burst"))
    if cpu.get("idle") is not None:
        out.append(Write("cpu", "cpu.idle", str(cpu["idle"]), f + ".idle"))
    for key in ("realtimeRuntime", "realtimePeriod"):
        if cpu.get(key):
            _refuse(f"cpu.{key}", "realtime scheduling budgets are not available on cgroup v2")
    if cpu.get("cpus"):
        out.append(Write("cpuset", "cpuset.cpus", str(cpu["cpus"]), f + ".cpus"))
    if cpu.get("mems"):
        out.append(Write("cpuset", "cpuset.mems", str(cpu["mems"]), f + ".mems"))
    return out


_THROTTLE = (("throttleReadBpsDevice", "rbps"), ("throttleWriteBpsDevice", "wbps"),
             ("throttleReadIOPSDevice", "riops"), ("throttleWriteIOPSDevice", "wiops"))


def _io(bio: dict[str, Any]) -> list[Write]:
    out = []
    f = "linux.resources.blockIO"
    if bio.get("weight"):
        out.append(Write("io", "io.weight", f"default {blkio_weight_to_io_weight(bio['weight'])}", f + ".weight"))
    if bio.get("leafWeight"):
        _refuse("blockIO.leafWeight", "is a cgroup v1 setting")
    for i, dev in enumerate(bio.get("weightDevice") or []):
        if dev.get("weight"):
            value = f"{dev['major']}:{dev['minor']} {blkio_weight_to_io_weight(dev['weight'])}"
            out.append(Write("io", "io.weight", value, f"{f}.weightDevice[{i}]"))
        if dev.get("leafWeight"):
            _refuse(f"blockIO.weightDevice[{i}].leafWeight", "is a cgroup v1 setting")
    for key, name in _THROTTLE:
        for i, dev in enumerate(bio.get(key) or []):
            rate = dev.get("rate", 0)
            value = f"{dev['major']}:{dev['minor']} {name}={rate if rate > 0 else 'max'}"
            out.append(Write("io", "io.max", value, f"{f}.{key}[{i}]"))
    return out


def check_unified_key(key: str) -> str:
    """The controller a ``linux.resources.unified`` key belongs to; refuses paths."""
    if not key or "/" in key or ".." in key or key.startswith(".") or "." not in key:
        raise ConfigError(f"linux.resources.unified: invalid key {key!r} (must be a control file name like memory.high)")
    return key.split(".", 1)[0]


def plan(resources: dict[str, Any] | None) -> list[Write]:
    """Every control-file write ``resources`` asks for, in a safe order."""
    r = resources or {}
    out: list[Write] = []
    out += _memory(r.get("memory") or {})
    out += _cpu(r.get("cpu") or {})
    pids = (r.get("pids") or {}).get("limit")
    if pids:
        out.append(Write("pids", "pids.max", _max(pids), "linux.resources.pids.limit"))
    out += _io(r.get("blockIO") or {})
    for i, h in enumerate(r.get("hugepageLimits") or []):
        size = h.get("pageSize", "")
        if not size or "/" in size or ".." in size:
            raise ConfigError(f"linux.resources.hugepageLimits[{i}].pageSize: invalid {size!r}")
        out.append(Write("hugetlb", f"hugetlb.{size}.max", _max(h.get("limit", -1)),
                         f"linux.resources.hugepageLimits[{i}]"))
    for name, lim in (r.get("rdma") or {}).items():
        parts = [f"{k}={_max(lim[k])}" for k in ("hcaHandles", "hcaObjects") if lim.get(k) is not None]
        if parts:
            out.append(Write("rdma", "rdma.max", f"{name} " + " ".join(parts).replace("hcaHandles", "hca_handle")
                             .replace("hcaObjects", "hca_object"), f"linux.resources.rdma.{name}"))
    net = r.get("network") or {}
    if net.get("classID") or net.get("priorities"):
        _refuse("network", "net_cls/net_prio are cgroup v1 controllers")
    for key, value in (r.get("unified") or {}).items():
        ctrl = check_unified_key(key)
        out.append(Write(None if ctrl == "cgroup" else ctrl, key, str(value), f"linux.resources.unified[{key!r}]"))
    return out


def controllers(writes: list[Write]) -> list[str]:
    """Controllers ``writes`` need enabled, in first-use order."""
    seen: list[str] = []
    for w in writes:
        if w.controller and w.controller not in seen:
            seen.append(w.controller)
    return seen
