"""Usage counters read back from v1 control files, shaped like runc ``events --stats`` data.

``{"cpu": {"usage": {...}, "throttling": {...}}, "memory": {"cache", "usage",
"swap", "kernel", "kernelTCP", "raw"}, "pids": {"current", "limit"},
"blkio": {...}}`` -- a section or key is left out when its file is missing.
As in runc, an unlimited ``pids.max`` reads back as limit ``0``.
"""

from __future__ import annotations

import os
from typing import Any, Callable

from . import files

USER_HZ = 100  # cpuacct.stat counts in USER_HZ ticks; runc converts them to ns


def _int(d: str, name: str) -> int | None:
    try:
        return files.read_int(os.path.join(d, name))
    except (OSError, ValueError):
        return None


def _keyed(d: str, name: str) -> dict[str, int]:
    try:
        text = files.read(os.path.join(d, name))
    except OSError:
        return {}
    out = {}
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if value.strip().lstrip("-").isdigit():
            out[key] = int(value)
    return out


def _entry(d: str, prefix: str) -> dict[str, int] | None:
    names = {"usage": "usage_in_bytes", "max": "max_usage_in_bytes", "limit": "limit_in_bytes", "failcnt": "failcnt"}
    entry = {k: v for k, n in names.items() if (v := _int(d, f"{prefix}.{n}")) is not None}
    return entry or None


def memory(d: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, prefix in (("usage", "memory"), ("swap", "memory.memsw"), ("kernel", "memory.kmem"),
                        ("kernelTCP", "memory.kmem.tcp")):
        if (entry := _entry(d, prefix)) is not None:
            out[key] = entry
    raw = _keyed(d, "memory.stat")
    if raw:
        out["raw"] = raw
        out["cache"] = raw.get("total_cache", raw.get("cache", 0))
    oom = _keyed(d, "memory.oom_control")  # oom_kill: the kernel's OOM kills in this cgroup (same key as v2)
    if "oom_kill" in oom:
        out["oom_kill"] = oom["oom_kill"]
    return out


def cpuacct(d: str) -> dict[str, Any]:
    usage: dict[str, Any] = {}
    if (total := _int(d, "cpuacct.usage")) is not None:
        usage["total"] = total
    for key, name in (("percpu", "cpuacct.usage_percpu"), ("percpu_kernel", "cpuacct.usage_percpu_sys"),
                      ("percpu_user", "cpuacct.usage_percpu_user")):
        try:
            usage[key] = [int(x) for x in files.read(os.path.join(d, name)).split()]
        except (OSError, ValueError):
            pass
    ticks = _keyed(d, "cpuacct.stat")
    for key, name in (("kernel", "system"), ("user", "user")):
        if name in ticks:
            usage[key] = ticks[name] * 1_000_000_000 // USER_HZ
    return {"usage": usage} if usage else {}


def cpu(d: str) -> dict[str, Any]:
    stat = _keyed(d, "cpu.stat")
    if not stat:
        return {}
    return {"throttling": {"periods": stat.get("nr_periods", 0), "throttled_periods": stat.get("nr_throttled", 0),
                           "throttled_time": stat.get("throttled_time", 0)}}


def pids(d: str) -> dict[str, Any]:
    out = {}
    if (current := _int(d, "pids.current")) is not None:
        out["current"] = current
    if os.path.exists(os.path.join(d, "pids.max")):
        out["limit"] = _int(d, "pids.max") or 0
    return out


def blkio(d: str) -> dict[str, Any]:
    out = {}
    for key, name in (("ioServiceBytesRecursive", "blkio.throttle.io_service_bytes_recursive"),
                      ("ioServicedRecursive", "blkio.throttle.io_serviced_recursive")):
        try:
            text = files.read(os.path.join(d, name))
        except OSError:
            continue
        entries = []
        for line in text.splitlines():
            parts = line.split()
            if len(parts) == 3 and ":" in parts[0]:
                major, minor = parts[0].split(":")
                entries.append({"major": int(major), "minor": int(minor), "op": parts[1], "value": int(parts[2])})
        out[key] = entries
    return out


def collect(dir_of: Callable[[str], str | None]) -> dict[str, Any]:
    """Stats for every controller whose hierarchy ``dir_of`` knows."""
    result: dict[str, Any] = {}
    for section, ctrl, reader in (("memory", "memory", memory), ("cpu", "cpuacct", cpuacct), ("cpu", "cpu", cpu),
                                  ("pids", "pids", pids), ("blkio", "blkio", blkio)):
        d = dir_of(ctrl)
        if d and os.path.isdir(d):
            data = reader(d)
            if data:
                result.setdefault(section, {}).update(data)
    return result
