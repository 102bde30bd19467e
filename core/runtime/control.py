"""The verbs engines call on a container ``create`` made: start, state, kill, delete.

Engines call them once or more per container, each in a fresh interpreter, so they live apart
from create and run (:mod:`pycr.core.runtime.lifecycle`, which re-exports them): one command
imports only these (~0.4 ms less than the whole lifecycle).  With them, the helpers both halves
use: the plugin manager, the cgroup driver rebuilt from the state, the state directory's removal.
"""

from __future__ import annotations

import os
import _signal as signal  # signal.py builds its enums (~3 ms of every run); the numbers suffice
import time

from pycr.core.errors import ConfigError, ContainerNotFound, StateError
from pycr.core.runtime.state import Container, CorruptState, check_state, proc_start_time


def _rmtree(path: str) -> None:
    """Remove a container's state directory (flat: state.json, exec.fifo)
    without importing shutil, 3 ms of every ``run``."""
    try:
        names = os.listdir(path)
    except FileNotFoundError:
        return
    for name in names:
        try:
            os.unlink(os.path.join(path, name))
        except IsADirectoryError:
            import shutil

            shutil.rmtree(os.path.join(path, name), ignore_errors=True)
        except OSError:
            pass
    try:
        os.rmdir(path)
    except OSError:
        pass


def _manager(opts):
    from pycr.core.plugins import get_manager

    return get_manager(opts)


def resolve_backend(name: str) -> str:
    if name != "auto":
        return name
    from pycr.core.cgroups import detect_backend

    return detect_backend()


def status_of(opts, c: Container) -> str:
    """``c``'s status; the cgroup driver is imported only when create recorded no freezer files."""
    return c.status() if c.knows_freezer() else c.status(cgroup_of(opts, c))


def cgroup_of(opts, c: Container):
    """Rebuild the container's cgroup driver from its state (None if it has none)."""
    cg = c.data.get("cgroup")
    if not cg:
        return None
    from pycr.core.errors import PluginError

    try:
        cls = _manager(opts).driver("cgroup", cg["driver"])
    except PluginError:
        raise CorruptState(c.id, f"field 'cgroup' names driver {cg['driver']!r}, which is not installed") from None
    try:
        return cls.from_state(cg)
    except KeyError as e:  # the driver's own fields
        why = f"{e} is missing"
    except (TypeError, ValueError, AttributeError) as e:
        why = str(e)
    raise CorruptState(c.id, f"field 'cgroup' is not {cg['driver']}'s state: {why[:100]}")


def _warn(opts, warnings: list[str]) -> None:
    if warnings:
        from pycr.core.cli.common import log_warning

        for line in warnings:
            log_warning(opts, line)


def _wait_gone(pid: int, start: int | None = None, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        now = proc_start_time(pid)
        if now is None or (start is not None and now != start):
            return
        time.sleep(0.005)


# ------------------------------------------------------------------ start / state / kill


def start(opts, cid: str) -> None:
    """Release the created container's process (open its exec fifo)."""
    import select

    c = Container.load(opts.root, cid)
    status = status_of(opts, c)
    if status != "created":
        raise StateError({"stopped": "cannot start a container that has stopped",
                          "running": "cannot start an already running container",
                          "paused": "cannot start a paused container"}.get(status, f"cannot start: {status}"))
    if c.data.get("no_process"):
        raise StateError(f"container {cid}: config.json has no process to start")
    fd = os.open(c.fifo, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        while True:
            ready, _, _ = select.select([fd], [], [], 0.05)
            if ready and os.read(fd, 1):
                break
            if not c.alive():
                raise StateError(f"container {cid}: init exited before start")
    finally:
        os.close(fd)
        try:
            os.unlink(c.fifo)
        except FileNotFoundError:
            pass
    state = c.oci_state("running")
    if (c.data.get("hooks") or {}).get("poststart"):
        from pycr.core.runtime import oci_hooks

        oci_hooks.run_hooks(c.data["hooks"], "poststart", state)
    _manager(opts).hook.pycr_container_started(state=state)


def state(opts, cid: str) -> dict:
    c = Container.load(opts.root, cid)
    st = c.oci_state(status_of(opts, c))
    st["rootfs"] = c.data.get("rootfs", "")
    st["created"] = c.data.get("created", "")
    st["owner"] = c.data.get("owner", "")
    return st


def parse_signal(sig: str | int) -> int:
    text = str(sig).upper()
    if text.isascii() and text.isdigit():
        if int(text) > 64:  # SIGRTMAX: the kernel knows no higher number
            raise ConfigError(f"unknown signal {sig!r} (signal numbers go up to 64)")
        return int(text)
    name = text if text.startswith("SIG") else "SIG" + text
    # _signal's SIG* numbers but SIG_DFL and the like are exactly signal.Signals' members: no enum
    # to build (signal.py, ~3 ms of `kill ID` with its default SIGTERM)
    number = None if name.startswith("SIG_") else getattr(signal, name, None)
    if type(number) is not int:
        raise ConfigError(f"unknown signal {sig!r}")
    return number


def kill(opts, cid: str, sig: str | int = "SIGTERM", all_processes: bool = False) -> None:
    c = Container.load(opts.root, cid)
    if status_of(opts, c) == "stopped":
        raise StateError("container not running")
    num = parse_signal(sig)
    cgroup = cgroup_of(opts, c) if all_processes else None
    if cgroup is not None:
        cgroup.kill_all(num)
    else:
        os.kill(c.pid, num)


# ------------------------------------------------------------------ delete


def delete(opts, cid: str, force: bool = False) -> None:
    try:
        c = Container.load(opts.root, cid)
        cgroup = cgroup_of(opts, c)
    except ContainerNotFound:
        path = os.path.join(opts.root, cid)
        if os.path.isdir(path):  # an aborted create: no state.json was written
            from pycr.core.runtime.lifecycle import delete_aborted  # with create's journal, which it reads

            delete_aborted(opts, path)
            return
        if force:
            return
        raise
    except CorruptState as e:
        if not force:
            raise StateError(f"{e}; delete --force removes what can be found of it") from None
        c, cgroup = _salvage(opts, cid)
    status = c.status(cgroup)
    if status in ("running", "paused") and not force:
        raise StateError(f"cannot delete container {cid} that is not stopped: {status}")
    if status != "stopped" or (cgroup is not None and cgroup.pids()):  # an empty cgroup: nothing can fork into it
        _kill_everything(c, cgroup)
    failures = []
    if cgroup is not None:
        try:
            cgroup.destroy()
        except Exception as e:
            failures.append(f"cgroup: {e}")
    state_obj = c.oci_state("stopped")
    if (c.data.get("hooks") or {}).get("poststop"):
        from pycr.core.runtime import oci_hooks

        oci_hooks.run_hooks(c.data["hooks"], "poststop", state_obj)
    pm = _manager(opts)
    failures += pm.cleanup(state_obj)
    _rmtree(c.dir)
    pm.hook.pycr_container_deleted(state=state_obj)
    if failures:
        from pycr.core.errors import CleanupError

        raise CleanupError(failures)


def _salvage(opts, cid: str):
    """``delete --force`` of a damaged state.json: its sound fields; the cgroup and init the damage
    took, from create's intent journal beside it (a custom cgroupsPath is known nowhere else); else
    the cgroup create makes for this id without a cgroupsPath."""
    from pycr.core.runtime.lifecycle import INTENT, read_intent  # create's journal, with create

    c = Container.load(opts.root, cid, salvage=True)
    journal = read_intent(os.path.join(c.dir, INTENT))
    pids = journal.get("pids")
    init = pids[-1] if isinstance(pids, list) and pids and isinstance(pids[-1], list) and len(pids[-1]) == 2 else []
    found = {"cgroup": journal.get("cgroup")} if "cgroup" in journal else {}
    if init and c.data.get("pid", init[0]) == init[0]:  # the journal's init, unless state.json names another
        found.update(pid=init[0], pid_start=init[1])
    c.data.update({k: v for k, v in found.items() if k not in c.data and not check_state(cid, {k: v})})
    try:
        cgroup = cgroup_of(opts, c)
    except CorruptState as e:
        c.damage.append(e)
        c.data.pop("cgroup", None)
        cgroup = None
    if cgroup is None and c.damage and "cgroup" not in c.data:
        cgroup = _manager(opts).driver("cgroup", resolve_backend(opts.backend))(cid, None)
    _warn(opts, [f"{e} (deleting what can be found)" for e in c.damage])
    return c, cgroup


def _thaw_and_kill(cgroup) -> None:
    """SIGKILL to everything in ``cgroup``, thawed first when frozen (v1's frozen tasks die only then)."""
    try:
        if cgroup.is_frozen():
            cgroup.thaw()
    except Exception:
        pass
    cgroup.kill_all(signal.SIGKILL)


def _kill_everything(c: Container, cgroup) -> None:
    if cgroup is not None:
        _thaw_and_kill(cgroup)
    if c.alive():
        try:
            os.kill(c.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    try:
        os.waitpid(c.pid, os.WNOHANG)
    except ChildProcessError:
        pass
    _wait_gone(c.pid, c.data.get("pid_start"))
    if cgroup is not None:
        deadline = time.monotonic() + 10
        while cgroup.pids() and time.monotonic() < deadline:
            cgroup.kill_all(signal.SIGKILL)
            time.sleep(0.01)
