"""Facts about the machine a study ran on, stored with its results so a
reader can tell whether two result sets are comparable."""

from __future__ import annotations

import os
import platform
import subprocess
import time


def _first_line(argv: list[str]) -> str | None:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=5).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return out.splitlines()[0].strip() if out.strip() else None


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _mem_total_mib() -> int | None:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) // 1024
    except OSError:
        pass
    return None


def cgroup_layout(root: str = "/sys/fs/cgroup") -> str:
    if os.path.isfile(os.path.join(root, "cgroup.controllers")):
        return "v2"
    return "hybrid" if os.path.isdir(os.path.join(root, "unified")) else "v1"


def facts() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    try:
        pycr_version = version("pycr")
    except PackageNotFoundError:
        pycr_version = "unknown"
    u = platform.uname()
    return {
        "hostname": u.node, "kernel": u.release, "arch": u.machine, "cpu": _cpu_model(),
        "cpus": os.cpu_count(), "mem_total_mib": _mem_total_mib(), "python": platform.python_version(),
        "pycr": pycr_version, "cgroup_layout": cgroup_layout(),
        "runc": _first_line(["runc", "--version"]), "crun": _first_line(["crun", "--version"]),
        "loadavg_start": round(os.getloadavg()[0], 2), "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
