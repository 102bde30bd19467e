"""The operations behind the management verbs (stop, kill, rm, wait, ...).

Verb modules in :mod:`pycr.core.cli` parse arguments and print; the work and
its state checks live here so every verb refuses the same wrong states with
the same one-line errors, before changing anything.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time

from pycr.core import PycrError, StateError, printable
from pycr.plugins.manage import records


def docker_exit_code(e: PycrError, other: int | None = None) -> int:
    """docker's exit status for a process that could not start: 127 when its
    command is missing, 126 when it cannot be run; else ``other`` (``pycr
    run``: 125, an error of pycr's own) or the error's own code."""
    from pycr.core import ExecutableError

    if isinstance(e, ExecutableError):
        return 127 if e.missing else 126
    return e.exit_code if other is None else other


def store_root() -> str:
    from pycr.plugins.images.store import default_root

    return default_root()


def resolve(ref: str) -> records.Record:
    return records.resolve(store_root(), ref)


def each(refs, fn) -> int:
    """Apply ``fn`` to every container named in ``refs``; errors are one line each, exit 1 if any."""
    import sys

    code = 0
    for ref in refs:
        try:
            fn(resolve(ref))
        except PycrError as e:
            sys.stderr.write(f"{printable(str(e))}\n")
            code = 1
    return code


def runtime_opts(rec: records.Record):
    from pycr.plugins.manage.create import opts_for

    return opts_for(rec)


def is_paused(rec: records.Record) -> bool:
    from pycr.core import lifecycle

    with contextlib.suppress(PycrError, OSError):
        return lifecycle.state(runtime_opts(rec), rec.id)["status"] == "paused"
    return False


def status(rec: records.Record) -> dict:
    return records.live_status(rec, is_paused)


def need_running(rec: records.Record, what: str) -> dict:
    st = status(rec)
    if st["status"] == "paused" and what in ("exec into", "pause"):
        raise StateError(f"container {rec.name} is paused: unpause it first")
    if not st["running"]:
        raise StateError(f"container {rec.name} is not running ({st['status']}): cannot {what} it")
    return st


def need_terminal(ns) -> None:
    """``-it`` in the foreground wants our stdin to be a terminal, as docker does: without one the
    container's pty would be proxied from a pipe or file, which is never what the user meant."""
    import sys

    if ns.tty and ns.interactive and not getattr(ns, "detach", False) and not sys.stdin.isatty():
        from pycr.core import ConfigError

        raise ConfigError("the input device is not a TTY (-t with -i needs a terminal on stdin; "
                          "drop -t to pipe input)")


def send_signal(rec: records.Record, sig: str | int, *, all_processes: bool = False) -> None:
    from pycr.core import lifecycle

    num = lifecycle.parse_signal(sig)
    need_running(rec, "kill")
    try:
        lifecycle.kill(runtime_opts(rec), rec.id, num, all_processes=all_processes)
    except PycrError:  # no runtime state (its monitor is gone): the recorded init, if it is still it
        st = rec.state
        if not records.alive(st.get("pid"), st.get("pid_start")):
            raise StateError(f"container {rec.name} is not running") from None
        os.kill(st["pid"], num)


def wait_stopped(rec: records.Record, timeout: float | None) -> bool:
    """Wait until the container is no longer running (and its monitor has recorded it)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        if not os.path.exists(rec.path):
            return True
        rec.reload()
        st = records.live_status(rec)
        if st["status"] in ("exited", "dead", "created") and not st["monitor"]:
            return True
        if deadline is not None and time.monotonic() > deadline:
            return False
        time.sleep(0.05)


def stop(rec: records.Record, timeout: float = 10.0) -> None:
    stop_many([rec], timeout)


def stop_many(recs: list[records.Record], timeout: float = 10.0) -> None:
    """The stop signal (SIGTERM unless the image or --stop-signal chose another) to all, SIGKILL
    to those still running after ``timeout`` seconds, then wait for their monitors to record
    the exit.  No restart policy applies afterwards."""
    running = []
    for rec in recs:
        rec.update_state(stop_requested=True)
        st = status(rec)
        if st["running"]:
            if st["status"] == "paused":
                unpause(rec)
            with contextlib.suppress(StateError, ProcessLookupError):
                send_signal(rec, rec.data.get("stop_signal") or signal.SIGTERM)  # docker's StopSignal
            running.append(rec)
    deadline = time.monotonic() + timeout
    for rec in running:
        if not wait_stopped(rec, max(deadline - time.monotonic(), 0)):
            with contextlib.suppress(StateError, ProcessLookupError):
                send_signal(rec, signal.SIGKILL, all_processes=True)
    for rec in recs:
        wait_stopped(rec, 30)


def remove(rec: records.Record, force: bool = False) -> None:
    from pycr.plugins.manage import cleanup

    st = status(rec)
    if (st["running"] or st["status"] in ("restarting", "exiting", "starting")) and not force:
        raise StateError(f"cannot remove container {rec.name}: it is {st['status']}; stop it first or use rm -f")
    if st["status"] == "creating" and not force:
        raise StateError(f"cannot remove container {rec.name}: it is being created; use rm -f")
    with rec.locked():
        rec.state.update(removing=True, stop_requested=True)
    if st["running"]:
        with contextlib.suppress(PycrError, ProcessLookupError):
            if st["status"] == "paused":
                unpause(rec)
            send_signal(rec, signal.SIGKILL, all_processes=True)
    cleanup.kill_monitor(rec, timeout=15 if st["monitor"] else 0)
    failures = cleanup.remove(rec)
    if failures:
        raise PycrError(f"container {rec.name}: removed, but: " + "; ".join(failures))


def remove_many(refs: list[str], force: bool = False) -> tuple[list[str], list[str]]:
    """``rm`` of several containers: with ``force`` every running one is killed first, so their
    monitors finish in parallel.  Returns (removed names, error lines)."""
    recs, errors = [], []
    for ref in refs:
        try:
            recs.append(resolve(ref))
        except PycrError as e:
            errors.append(str(e))
    if force:
        for rec in recs:
            with contextlib.suppress(PycrError, ProcessLookupError, OSError):
                rec.update_state(stop_requested=True)
                if status(rec)["status"] == "running":
                    send_signal(rec, signal.SIGKILL, all_processes=True)
    done = []
    for rec in recs:
        try:
            remove(rec, force=force)
            done.append(rec.name)
        except PycrError as e:
            errors.append(str(e))
    return done, errors


def pause(rec: records.Record) -> None:
    from pycr.core import live

    need_running(rec, "pause")
    live.pause(runtime_opts(rec), rec.id)


def unpause(rec: records.Record) -> None:
    from pycr.core import live

    if status(rec)["status"] != "paused":
        raise StateError(f"container {rec.name} is not paused")
    live.resume(runtime_opts(rec), rec.id)


def wait(rec: records.Record) -> int | None:
    """Block until the container stops; its exit code (None if unknown)."""
    while True:
        try:
            rec.data = records.Record.load(rec.dir).data
        except (OSError, ValueError):
            return rec.state.get("exit_code")
        st = records.live_status(rec)
        if st["status"] in ("exited", "dead") and not (st["monitor"] and rec.state.get("status") == "restarting"):
            return st["exit_code"]
        time.sleep(0.05)


def human_duration(seconds: float) -> str:
    """Docker's wording for a duration ("Less than a second", "1 second", "About a minute",
    "3 hours", "2 weeks"...): people and scripts compare ``pycr ps`` with ``docker ps``."""
    s = int(max(seconds, 0))
    if s < 1:
        return "Less than a second"
    if s == 1:
        return "1 second"
    if s < 60:
        return f"{s} seconds"
    minutes = s // 60
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = round(s / 3600)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    for unit, size, below in (("days", 86400, 14 * 86400), ("weeks", 7 * 86400, 60 * 86400),
                              ("months", 30 * 86400, 730 * 86400)):
        if s < below:
            return f"{s // size} {unit}"
    return f"{s // (365 * 86400)} years"


def parse_time(stamp: str | None) -> float | None:
    if not stamp:
        return None
    import calendar

    # RFC 3339 in UTC ("Z", pycr's and docker's) or with an offset ("+00:00", conmon's k8s-file)
    offset = 0
    if len(stamp) > 6 and stamp[-6] in "+-" and stamp[-3] == ":" and "T" in stamp[:-6]:
        try:
            offset = (int(stamp[-5:-3]) * 3600 + int(stamp[-2:]) * 60) * (1 if stamp[-6] == "-" else -1)
        except ValueError:
            return None
        stamp = stamp[:-6]
    main, _, frac = stamp.rstrip("Z").partition(".")
    try:
        return calendar.timegm(time.strptime(main, "%Y-%m-%dT%H:%M:%S")) + float("0." + (frac or "0")) + offset
    except ValueError:
        return None


def status_text(rec: records.Record, st: dict) -> str:
    """docker's STATUS column: ``Up 3 seconds``, ``Exited (0) 2 minutes ago``..."""
    now = time.time()
    s = st["status"]
    if s in ("running", "paused"):
        started = parse_time(rec.state.get("started_at")) or now
        text = f"Up {human_duration(now - started)}"
        text += " (Paused)" if s == "paused" else ""
        return text + (" (monitor gone)" if not st["monitor"] else "")
    if s == "exited":
        code = "?" if st["exit_code"] is None else st["exit_code"]
        ended = parse_time(rec.state.get("finished_at"))
        return f"Exited ({code}) " + (f"{human_duration(now - ended)} ago" if ended else "at an unknown time")
    return s.capitalize()
