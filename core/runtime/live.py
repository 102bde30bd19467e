"""Operations on a live container through its cgroup: pause, resume, update,
ps, events.

They rebuild the container's cgroup driver from its state file and use only
the narrow driver contract (:class:`pycr.core.cgroups.CgroupDriver`), so
they work the same with every backend.  Wording follows runc's where
engines parse it.
"""

from __future__ import annotations

import os
import time

from pycr.core.errors import ConfigError, PycrError, StateError


def _load(opts, cid: str):
    from pycr.core.runtime.control import cgroup_of
    from pycr.core.runtime.state import Container

    c = Container.load(opts.root, cid)
    return c, cgroup_of(opts, c)


def _need_cgroup(cid: str, cgroup, what: str):
    if cgroup is None:
        raise PycrError(f"container {cid} has no cgroup: cannot {what}")
    return cgroup


def pause(opts, cid: str) -> None:
    c, cgroup = _load(opts, cid)
    status = c.status(cgroup)
    if status not in ("running", "created"):
        raise StateError("container not running" if status == "stopped" else f"container {cid} is {status}")
    _need_cgroup(cid, cgroup, "pause").freeze()


def resume(opts, cid: str) -> None:
    c, cgroup = _load(opts, cid)
    if c.status(cgroup) != "paused":
        raise StateError("container not paused")
    cgroup.thaw()


def pids(opts, cid: str) -> list[int]:
    """Every host pid in the container's cgroup (the init alone without one)."""
    c, cgroup = _load(opts, cid)
    if c.status(cgroup) == "stopped" and cgroup is None:
        return []
    if cgroup is None:
        return [c.pid]
    return cgroup.pids()


def ps_table(opts, cid: str, ps_args: list[str]) -> str:
    """``ps ARGS`` (default ``-ef``) limited to the container's processes, as runc does."""
    import subprocess

    wanted = set(pids(opts, cid))
    try:
        out = subprocess.run(["ps", *(ps_args or ["-ef"])], capture_output=True, text=True, check=True).stdout
    except OSError as e:
        raise PycrError(f"ps: {e.strerror}") from None
    except subprocess.CalledProcessError as e:  # ps refused the options: its own first line says why
        why = next((ln.strip() for ln in (e.stderr or "").splitlines() if ln.strip()), f"exit status {e.returncode}")
        raise ConfigError(f"ps {' '.join(ps_args)}: {why}") from None
    lines = out.splitlines()
    if not lines:
        return ""
    header = lines[0].split()
    if "PID" not in header:
        raise PycrError(f"ps {' '.join(ps_args)}: the output has no PID column")
    col = header.index("PID")
    keep = [lines[0]]
    for line in lines[1:]:
        fields = line.split()
        if len(fields) > col and fields[col].isdigit() and int(fields[col]) in wanted:
            keep.append(line)
    return "\n".join(keep)


def load_resources(source: str) -> dict:
    """``update --resources FILE`` (``-`` for stdin): a runtime-spec ``linux.resources``."""
    import sys

    try:
        text = sys.stdin.read() if source == "-" else open(source).read()
    except OSError as e:
        raise ConfigError(f"--resources {source}: {e.strerror}") from None
    from pycr.core.jsondoc import parse_json_object

    return parse_json_object(text, f"--resources {source} (linux.resources)")


def _size(text: str, flag: str) -> int:
    units = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
    t = text.strip().lower().rstrip("b")
    try:
        if t and t[-1] in units:
            return int(float(t[:-1]) * units[t[-1]])
        return int(t)
    except ValueError:
        raise ConfigError(f"{flag}: {text!r} is not a size (e.g. 64m)") from None


def resources_from_flags(a) -> dict:
    """runc update's flags as a ``linux.resources`` object (only those given)."""
    res: dict = {}
    mem = {}
    if a.memory is not None:
        mem["limit"] = -1 if a.memory == "-1" else _size(a.memory, "--memory")
    if a.memory_swap is not None:
        mem["swap"] = -1 if a.memory_swap == "-1" else _size(a.memory_swap, "--memory-swap")
    if a.memory_reservation is not None:
        mem["reservation"] = _size(a.memory_reservation, "--memory-reservation")
    if mem:
        res["memory"] = mem
    cpu = {k: v for k, v in (("shares", a.cpu_shares), ("quota", a.cpu_quota), ("period", a.cpu_period),
                             ("cpus", a.cpuset_cpus), ("mems", a.cpuset_mems)) if v is not None}
    if cpu:
        res["cpu"] = cpu
    if a.pids_limit is not None:
        res["pids"] = {"limit": a.pids_limit}
    return res


def update(opts, cid: str, resources: dict) -> None:
    c, cgroup = _load(opts, cid)
    if c.status(cgroup) == "stopped":
        raise StateError("container not running")
    _need_cgroup(cid, cgroup, "update resources").apply(resources)


def stats_event(opts, cid: str) -> dict:
    c, cgroup = _load(opts, cid)
    data = _need_cgroup(cid, cgroup, "read stats").stats()
    return {"type": "stats", "id": cid, "data": data}


def events(opts, cid: str, interval: float, once: bool, write) -> None:
    """Stats every ``interval`` seconds (``once``: a single one) until the container stops."""

    if interval <= 0:
        raise ConfigError(f"--interval: {interval} must be positive")
    first = stats_event(opts, cid)
    write(first)
    if once:
        return
    c, cgroup = _load(opts, cid)
    ooms = _oom_kills(first["data"])
    while True:
        deadline = time.monotonic() + interval
        while time.monotonic() < deadline:
            if not c.alive():
                return
            now = _oom_kills(cgroup.stats()) if cgroup is not None else 0
            if now > ooms:  # as runc: one "oom" event when the kernel OOM-kills in the container
                write({"type": "oom", "id": cid})
                ooms = now
            time.sleep(min(0.2, interval))
        if not os.path.isdir(c.dir):
            return
        write(stats_event(opts, cid))


def _oom_kills(stats: dict) -> int:
    return int((stats.get("memory") or {}).get("oom_kill") or 0)
