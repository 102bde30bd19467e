"""Writers for ``linux.resources``, one function per OCI section.

Each writer gets ``dir_for(controller, field)`` (the container's directory in
that controller's hierarchy, or a ConfigError naming ``field`` when the
controller is not mounted) and the section's dict.  As in runc, ``0`` and
``None`` mean "not set" for the numeric memory and cpu fields.  Anything this
driver cannot enforce is a ConfigError naming the field, never a no-op.
"""

from __future__ import annotations

import os
from typing import Any, Callable

from pycr.core import ConfigError

from . import files
from .devices import rule_lines

DirFor = Callable[[str, str], str]
F = "linux.resources"


def _set(value: Any) -> bool:
    return value is not None and value != 0


def _int(value: Any, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{field}: {value!r} is not an integer")
    return value


def memory(dir_for: DirFor, mem: dict[str, Any]) -> None:
    f = f"{F}.memory"
    d = dir_for("memory", f)
    limit, swap = mem.get("limit"), mem.get("swap")
    memsw = os.path.join(d, "memory.memsw.limit_in_bytes")
    if _set(limit):
        _int(limit, f"{f}.limit")
        if limit == -1 and not _set(swap) and os.path.exists(memsw):
            swap = -1   # unlimiting memory also unlimits memory+swap, or the old memsw would cap it
    if _set(swap):
        _int(swap, f"{f}.swap")
        if not os.path.exists(memsw):
            if swap != -1:
                raise ConfigError(f"{f}.swap: memory.memsw.limit_in_bytes does not exist in {d} "
                                  "(swap accounting is off; boot with swapaccount=1)")
            swap = None
    if _set(limit) and _set(swap):
        if swap != -1 and limit != -1 and swap < limit:
            raise ConfigError(f"{f}.swap: {swap} is below {f}.limit {limit} (v1 swap is memory+swap)")
        # The kernel insists memsw >= limit after every single write: raise
        # memsw first when it grows past the current limit, else lower limit first.
        current = files.read_int(os.path.join(d, "memory.limit_in_bytes"))
        if swap == -1 or (current is not None and 0 <= current < swap):   # -1 / "max": unlimited now
            files.write_field(d, "memory.memsw.limit_in_bytes", swap, f"{f}.swap")
            files.write_field(d, "memory.limit_in_bytes", limit, f"{f}.limit")
        else:
            files.write_field(d, "memory.limit_in_bytes", limit, f"{f}.limit")
            files.write_field(d, "memory.memsw.limit_in_bytes", swap, f"{f}.swap")
    elif _set(limit):
        files.write_field(d, "memory.limit_in_bytes", limit, f"{f}.limit")
    elif _set(swap):
        files.write_field(d, "memory.memsw.limit_in_bytes", swap, f"{f}.swap")
    if mem.get("checkBeforeUpdate") and _set(limit) and limit != -1:
        usage = files.read_int(os.path.join(d, "memory.usage_in_bytes")) or 0
        if usage > limit:
            raise ConfigError(f"{f}.limit: {limit} is below the current usage {usage}")
    simple = {
        "reservation": "memory.soft_limit_in_bytes",
        "kernel": "memory.kmem.limit_in_bytes",
        "kernelTCP": "memory.kmem.tcp.limit_in_bytes",
    }
    for key, filename in simple.items():
        if _set(mem.get(key)):
            files.write_field(d, filename, _int(mem[key], f"{f}.{key}"), f"{f}.{key}")
    swappiness = mem.get("swappiness")
    if swappiness is not None:
        if _int(swappiness, f"{f}.swappiness") not in range(0, 101):
            raise ConfigError(f"{f}.swappiness: {swappiness} is not between 0 and 100")
        files.write_field(d, "memory.swappiness", swappiness, f"{f}.swappiness")
    if mem.get("disableOOMKiller"):
        files.write_field(d, "memory.oom_control", 1, f"{f}.disableOOMKiller")
    if mem.get("useHierarchy") is not None:
        files.write_field(d, "memory.use_hierarchy", int(bool(mem["useHierarchy"])), f"{f}.useHierarchy")
    _unknown(mem, f, {"limit", "swap", "checkBeforeUpdate", "swappiness", "disableOOMKiller",
                      "useHierarchy", *simple})


def cpu(dir_for: DirFor, cpu_: dict[str, Any]) -> None:
    f = f"{F}.cpu"
    # period before quota: a quota is checked against the period in force.
    for key, filename in (("shares", "cpu.shares"), ("period", "cpu.cfs_period_us"),
                          ("quota", "cpu.cfs_quota_us"), ("burst", "cpu.cfs_burst_us"),
                          ("realtimePeriod", "cpu.rt_period_us"), ("realtimeRuntime", "cpu.rt_runtime_us")):
        value = cpu_.get(key)
        if _set(value) or (key == "burst" and value == 0):
            files.write_field(dir_for("cpu", f"{f}.{key}"), filename, _int(value, f"{f}.{key}"), f"{f}.{key}")
    if cpu_.get("idle") is not None:
        files.write_field(dir_for("cpu", f"{f}.idle"), "cpu.idle", _int(cpu_["idle"], f"{f}.idle"), f"{f}.idle")
    for key in ("cpus", "mems"):
        if cpu_.get(key):
            files.write_field(dir_for("cpuset", f"{f}.{key}"), f"cpuset.{key}", cpu_[key], f"{f}.{key}")
    _unknown(cpu_, f, {"shares", "period", "quota", "burst", "realtimePeriod", "realtimeRuntime",
                       "idle", "cpus", "mems"})


def pids(dir_for: DirFor, pids_: dict[str, Any]) -> None:
    f = f"{F}.pids.limit"
    limit = pids_.get("limit")
    if limit is not None:
        value = "max" if _int(limit, f) <= 0 else limit
        files.write_field(dir_for("pids", f), "pids.max", value, f)
    _unknown(pids_, f"{F}.pids", {"limit"})


def block_io(dir_for: DirFor, bio: dict[str, Any]) -> None:
    f = f"{F}.blockIO"
    # 0 means "not set" for every blkio weight, as in runc (dockerd always sends weight 0)
    if bio.get("weight"):
        d = dir_for("blkio", f"{f}.weight")
        # blkio.weight is CFQ's (gone since 5.0); with BFQ the knob is blkio.bfq.weight.
        for name in ("blkio.weight", "blkio.bfq.weight"):
            if os.path.exists(os.path.join(d, name)):
                files.write_field(d, name, _int(bio["weight"], f"{f}.weight"), f"{f}.weight")
                break
        else:
            raise ConfigError(f"{f}.weight: neither blkio.weight nor blkio.bfq.weight exists in {d} "
                              "(no proportional-weight I/O scheduler)")
    if bio.get("leafWeight"):
        files.write_field(dir_for("blkio", f"{f}.leafWeight"), "blkio.leaf_weight",
                          _int(bio["leafWeight"], f"{f}.leafWeight"), f"{f}.leafWeight")
    for i, dev in enumerate(bio.get("weightDevice") or []):
        where = f"{f}.weightDevice[{i}]"
        d = dir_for("blkio", where)
        majmin = f"{_int(dev.get('major'), where + '.major')}:{_int(dev.get('minor'), where + '.minor')}"
        if dev.get("weight"):
            name = "blkio.weight_device" if os.path.exists(os.path.join(d, "blkio.weight_device")) \
                else "blkio.bfq.weight_device"
            files.write_field(d, name, f"{majmin} {_int(dev['weight'], where + '.weight')}", where + ".weight")
        if dev.get("leafWeight"):
            files.write_field(d, "blkio.leaf_weight_device",
                              f"{majmin} {_int(dev['leafWeight'], where + '.leafWeight')}", where + ".leafWeight")
    throttles = {
        "throttleReadBpsDevice": "blkio.throttle.read_bps_device",
        "throttleWriteBpsDevice": "blkio.throttle.write_bps_device",
        "throttleReadIOPSDevice": "blkio.throttle.read_iops_device",
        "throttleWriteIOPSDevice": "blkio.throttle.write_iops_device",
    }
    for key, filename in throttles.items():
        for i, dev in enumerate(bio.get(key) or []):
            where = f"{f}.{key}[{i}]"
            line = (f"{_int(dev.get('major'), where + '.major')}:{_int(dev.get('minor'), where + '.minor')} "
                    f"{_int(dev.get('rate'), where + '.rate')}")
            files.write_field(dir_for("blkio", where), filename, line, where)
    _unknown(bio, f, {"weight", "leafWeight", "weightDevice", *throttles})


def devices(dir_for: DirFor, rules: list[dict[str, Any]]) -> None:
    f = f"{F}.devices"
    lines = rule_lines(rules, f)
    if lines:
        d = dir_for("devices", f)
        for filename, line in lines:
            files.write_field(d, filename, line, f)


def hugepage_limits(dir_for: DirFor, limits: list[dict[str, Any]]) -> None:
    for i, entry in enumerate(limits):
        where = f"{F}.hugepageLimits[{i}]"
        size = entry.get("pageSize")
        files.write_field(dir_for("hugetlb", where), f"hugetlb.{size}.limit_in_bytes",
                          _int(entry.get("limit"), where + ".limit"), where)


def network(dir_for: DirFor, net: dict[str, Any]) -> None:
    f = f"{F}.network"
    if net.get("classID") is not None:
        files.write_field(dir_for("net_cls", f"{f}.classID"), "net_cls.classid",
                          _int(net["classID"], f"{f}.classID"), f"{f}.classID")
    for i, prio in enumerate(net.get("priorities") or []):
        where = f"{f}.priorities[{i}]"
        files.write_field(dir_for("net_prio", where), "net_prio.ifpriomap",
                          f"{prio.get('name')} {_int(prio.get('priority'), where + '.priority')}", where)
    _unknown(net, f, {"classID", "priorities"})


def rdma(dir_for: DirFor, devs: dict[str, Any]) -> None:
    for name, lim in devs.items():
        where = f"{F}.rdma.{name}"
        parts = [name]
        if lim.get("hcaHandles") is not None:
            parts.append(f"hca_handle={_int(lim['hcaHandles'], where + '.hcaHandles')}")
        if lim.get("hcaObjects") is not None:
            parts.append(f"hca_object={_int(lim['hcaObjects'], where + '.hcaObjects')}")
        if len(parts) > 1:
            files.write_field(dir_for("rdma", where), "rdma.max", " ".join(parts), where)


def unified(dir_for: DirFor, values: dict[str, Any]) -> None:
    if values:
        key = sorted(values)[0]
        raise ConfigError(f"{F}.unified.{key}: needs cgroup v2; the cgroup_v1 driver cannot write it")


WRITERS: dict[str, Callable[[DirFor, Any], None]] = {
    # cpuset values go in before any limits that depend on them; devices last.
    "cpu": cpu, "memory": memory, "pids": pids, "blockIO": block_io,
    "hugepageLimits": hugepage_limits, "network": network, "rdma": rdma,
    "unified": unified, "devices": devices,
}


def _unknown(section: dict[str, Any], field: str, known: set[str]) -> None:
    for key in sorted(section):
        if key not in known and section[key] not in (None, 0, False, "", [], {}):
            raise ConfigError(f"{field}.{key}: not supported by the cgroup_v1 driver")


def apply(dir_for: DirFor, resources: dict[str, Any]) -> None:
    """Write every section of ``resources``; the first failure is raised."""
    _unknown({k: v for k, v in resources.items() if k not in WRITERS}, F, set())
    for key, writer in WRITERS.items():
        section = resources.get(key)
        if section:
            writer(dir_for, section)
