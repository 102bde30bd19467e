"""Remove everything a container left: processes, runtime state, cgroup, mounts, files.

Works from what exists, not from what the record says happened, so it also
cleans up after a killed monitor, a killed init or a ``pycr`` killed half-way
through create.  Every step runs even when an earlier one failed.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time

from pycr.plugins.manage import records


def kill_monitor(rec: records.Record, timeout: float = 15.0) -> None:
    """Wait for the monitor to finish on its own, then SIGKILL it."""
    st = rec.state
    pid, start = st.get("monitor_pid"), st.get("monitor_start")
    deadline = time.monotonic() + timeout
    while records.alive(pid, start) and time.monotonic() < deadline:
        time.sleep(0.02)
    if records.alive(pid, start):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        while records.alive(pid, start):
            time.sleep(0.01)


def mounts_under(path: str) -> list[str]:
    """Mount points at or below ``path``, deepest (latest) first."""
    prefix = os.path.realpath(path).rstrip("/") + "/"
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            point = line.split()[4].replace("\\040", " ")
            if (point + "/").startswith(prefix):
                out.append(point)
    return out[::-1]


def remove(rec: records.Record) -> list[str]:
    """Delete the container for good; returns what could not be undone (also written nowhere else)."""
    import shutil

    from pycr.core import PycrError, lifecycle, syscalls
    from pycr.plugins.manage.create import opts_for

    failures: list[str] = []
    opts = opts_for(rec)
    st = rec.state
    if records.alive(st.get("pid"), st.get("pid_start")):  # e.g. the monitor was killed
        with contextlib.suppress(ProcessLookupError):
            os.kill(st["pid"], signal.SIGKILL)
    try:
        lifecycle.delete(opts, rec.id, force=True)
    except PycrError as e:
        failures.append(f"runtime: {e}")
    _orphan_cgroup(opts, rec, failures)
    for point in mounts_under(rec.dir):
        try:
            syscalls.SYSCALLS.umount(point, syscalls.MNT_DETACH)
        except OSError as e:
            failures.append(f"umount {point}: {e.strerror}")
    shutil.rmtree(rec.dir, ignore_errors=True)
    if os.path.exists(rec.dir):
        failures.append(f"cannot remove {rec.dir}")
    return failures


def _orphan_cgroup(opts, rec: records.Record, failures: list[str]) -> None:
    """A create killed before it saved the runtime state leaves a cgroup nobody knows: remove it."""
    import json

    try:
        with open(os.path.join(rec.bundle, "config.json")) as f:
            config = json.load(f)
    except (OSError, ValueError):
        return
    from pycr.core import get_manager, resolve_backend

    try:
        cls = get_manager(opts).driver("cgroup", resolve_backend(opts.backend), config)
        cg = cls(rec.id, (config.get("linux") or {}).get("cgroupsPath"))
        with contextlib.suppress(Exception):
            if cg.pids():
                cg.kill_all(signal.SIGKILL)
                deadline = time.monotonic() + 5
                while cg.pids() and time.monotonic() < deadline:
                    time.sleep(0.01)
        cg.destroy()
    except FileNotFoundError:
        pass
    except Exception as e:
        if os.path.exists(str(e)) or "No such file" not in str(e):
            failures.append(f"cgroup: {type(e).__name__}: {e}")
