"""The ``conmon`` monitor driver (``pycr run -d --monitor conmon``): podman's container monitor,
a small C program (about 1.3 MiB PSS against a Python interpreter's 5 MiB floor), watches the
container instead of ``pycr:[monitor]``.

::

    pycr run -d / start / a restart      conmon (daemonizes; subreaper)        container init
    ───────────────────────────────      ──────────────────────────────        ──────────────
    mark record "starting"
    spawn conmon, _OCI_SYNCPIPE ───────▶ pycr-oci create --bundle B
                                           --pid-file P ID ──────────────────▶ waits for start
    {"data": PID} ◀───────────────────── create exited
    record monitor_pid (conmon.pid)
    lifecycle.start ──────────────────────────────────────────────────────────▶ runs
    record: running, pids                stdout/stderr -> ctr.log (k8s-file)
                                         (-i: holds stdin open; -t: holds the
                                         pty master, its output is stdout)
                                         ... reaps ...                          exits
                                         writes exits/ID (the code), runs
                                         launch conmon-exit CDIR LAUNCH: the same
                                         ``launch.finish`` as pycr's monitor
                                         (record, delete, restart, --rm)

conmon waits for every descendant of its exit command, so a restart must not start the next
conmon under the old one: ``relaunch`` ends the old conmon (its work is done once the exit
command runs) and holds ``monitor_pid`` itself until the new conmon is up -- or, when that
launch fails, while the finish step tries again per the policy.  conmon runs its exit command
after a failed create too: each launch gives it a token (LAUNCH) that is recorded only once
the container was created, and an exit command whose token is not the record's does nothing.
The kind of a failed create (the command missing / not runnable: docker's 127 / 126) comes
from ``pycr-oci``'s JSON ``--log``, its exit status being runc's.  conmon's pid
files, exit file and attach socket directory live in ``CDIR/conmon``: ``rm`` removes them with
the container's directory.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sys

from pycr.plugins.manage import records


def _paths(rec: records.Record) -> dict:
    base = os.path.join(rec.dir, "conmon")
    return {"base": base, "exits": os.path.join(base, "exits"), "sockets": os.path.join(base, "sockets"),
            "pid": os.path.join(base, "init.pid"), "conmon_pid": os.path.join(base, "conmon.pid"),
            "runtime_log": os.path.join(base, "runtime.log")}


def ran(rec: records.Record, token: str | None) -> bool:
    """Whether the conmon of launch ``token`` (its exit command's argument) started the container
    that ``rec`` records: else its exit command is for a launch that failed, and does nothing."""
    return token is None or rec.state.get("conmon_launch") == token  # (None: a conmon of an older pycr)


def exit_code(cdir: str, cid: str) -> int:
    """What conmon wrote to its exit file (the init's status, 128+signal); -1 if nothing."""
    try:
        with open(os.path.join(cdir, "conmon", "exits", cid)) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return -1


def _runtime() -> str:
    """pycr-oci next to this interpreter (the same install), else on PATH."""
    here = os.path.join(os.path.dirname(sys.executable), "pycr-oci")
    return here if os.access(here, os.X_OK) else (shutil.which("pycr-oci") or here)


class ConmonMonitor:
    """Monitor driver ``conmon`` (entry point group ``pycr.monitor``)."""

    name = "conmon"
    log_format = "k8s-file"

    @staticmethod
    def check(ns) -> None:
        """conmon carries out -i (it holds the stdin pipe open) and -t (it holds the pty master,
        from the runtime's console socket) itself, and max-size (``--log-size-max``); it only has to
        be installed, and be asked for no rotated files."""
        from pycr.core import ConfigError
        from pycr.plugins.manage.logfiles import check_conmon, parse

        check_conmon(parse(getattr(ns, "log_opt", None)))
        if shutil.which("conmon") is None:
            raise ConfigError("--monitor conmon: conmon is not installed (apt-get install conmon); "
                              "use --monitor pycr")

    @staticmethod
    def start(rec: records.Record) -> None:
        from pycr.plugins.manage import launch

        launch.mark_starting(rec)
        error = _launch(rec)
        if error is not None:
            raise error

    @staticmethod
    def relaunch(rec: records.Record) -> bool:
        """From the exit command (a child of the old conmon): start the container again.  If that
        fails, this process stays the recorded monitor while the finish step tries again."""
        me = os.getpid()
        st = rec.reload().state
        mine = {"monitor_pid": me, "monitor_start": records.proc_start(me)}
        rec.update_state(**mine)
        old = st.get("monitor_pid")
        if old and old == os.getppid() and records.alive(old, st.get("monitor_start")):
            with contextlib.suppress(ProcessLookupError):
                os.kill(old, signal.SIGKILL)  # it only waits for us; the next conmon must not be its child
        if _launch(rec) is None:
            return True
        if os.path.exists(rec.path):
            rec.update_state(**mine)
        return False


def _launch(rec: records.Record):
    """Create the container under a new conmon and start it; None, or the error (a ``PycrError``;
    an ``ExecutableError`` when it was the command), recorded with docker's exit code."""
    import json

    from pycr.core import Container, PycrError, lifecycle
    from pycr.plugins.manage.create import opts_for

    opts = opts_for(rec)
    rec.dir = os.path.abspath(rec.dir)  # conmon runs in "/" ($PYCR_STORAGE may be relative)
    with contextlib.suppress(PycrError):  # a leftover of an earlier run
        lifecycle.delete(opts, rec.id, force=True)
    p = _paths(rec)
    shutil.rmtree(p["base"], ignore_errors=True)
    for d in (p["base"], p["exits"], p["sockets"]):
        os.mkdir(d, 0o700)
    runtime_args = ["--root", opts.root, "--backend", opts.backend, "--log", p["runtime_log"], "--log-format", "json"]
    for o in opts.plugin_opts:
        runtime_args += ["-p", o]
    argv = ["conmon", "--api-version", "1", "-c", rec.id, "-u", rec.id, "-n", rec.name, "-r", _runtime(),
            "-b", rec.bundle, "-p", p["pid"], "-P", p["conmon_pid"], "--exit-dir", p["exits"],
            "-l", f"k8s-file:{rec.log_path}", "--socket-dir-path", p["sockets"], "--log-level", "error",
            "--exit-command", sys.executable]
    token = os.urandom(8).hex()  # this launch's: its exit command finishes the container only if it ran
    for a in ("-P", "-m", "pycr.plugins.manage.launch", "conmon-exit", rec.dir, token):  # -P: not the cwd on sys.path
        argv += ["--exit-command-arg", a]
    for a in runtime_args:
        argv += ["--runtime-arg", a]
    room = _log_room(rec)
    if room:
        argv += ["--log-size-max", str(room)]  # conmon starts ctr.log over at the limit
    if rec.data.get("no_pivot"):
        argv.append("--no-pivot")
    if rec.data.get("tty"):
        argv.append("--terminal")
    if rec.data.get("interactive"):
        argv.append("--stdin")
    error = None
    mlog = os.path.join(rec.dir, "monitor.log")
    seen = os.path.getsize(mlog) if os.path.exists(mlog) else 0
    r, w = os.pipe()
    try:
        _spawn(argv, w, mlog)
    except OSError as e:
        error = PycrError(f"container {rec.name}: cannot run conmon: {e.strerror}")
    finally:
        os.close(w)
    with os.fdopen(r, "rb") as f:  # one line once the runtime's create is done (EOF if conmon died)
        answer = f.readline() if error is None else b""
    monitor = _read_pid(p["conmon_pid"])
    started = records.proc_start(monitor)  # None once it is gone: then no monitor is recorded at all
    rec.update_state(monitor_pid=monitor if started else None, monitor_start=started)
    if error is None:
        try:
            got = json.loads(answer) if answer else {}
        except ValueError:
            got = {}
        init = got.get("data", -1) if isinstance(got, dict) else -1
        if not isinstance(init, int) or init <= 0:
            error = _runtime_error(p["runtime_log"]) or PycrError(f"container {rec.name}: " + (
                (got.get("message") if isinstance(got, dict) else None) or _said(mlog, seen)
                or "conmon ended before the runtime created it"))
    if error is None:
        try:
            c = Container.load(opts.root, rec.id)
            # recorded before start: once it runs it may end at once, and the finish step
            # (conmon's exit command) records that -- it must come after this, never before
            rec.update_state(status="running", pid=c.pid, pid_start=c.data.get("pid_start"),
                             started_at=records.now_rfc3339(), exit_code=None, error="", conmon_launch=token)
            lifecycle.start(opts, rec.id)
            if rec.reload().state.get("stop_requested"):  # stop/rm came while we were starting it
                with contextlib.suppress(ProcessLookupError):
                    os.kill(c.pid, signal.SIGKILL)
            return None
        except PycrError as e:
            error = e
    # conmon may hold a created init, and runs its exit command even when the create failed: that
    # finish step must not record or restart anything (a restart policy goes on from the caller's)
    from pycr.plugins.manage import cleanup
    from pycr.plugins.manage.launch import START_FAILED, _auto_remove
    from pycr.plugins.manage.manage import docker_exit_code

    rec.update_state(conmon_launch=None)
    if os.path.exists(os.path.join(p["exits"], rec.id)):  # the init ended before: conmon (exit file, then
        rec.update_state(stop_requested=True)              # exit command) may have read the token: no restart
    with contextlib.suppress(PycrError):
        lifecycle.kill(opts, rec.id, signal.SIGKILL, all_processes=True)
    cleanup.kill_monitor(rec.reload(), 15)  # conmon ends once its exit command did nothing
    with contextlib.suppress(PycrError):
        lifecycle.delete(opts, rec.id, force=True)
    if os.path.exists(rec.path):
        rec.update_state(status="exited", exit_code=docker_exit_code(error, START_FAILED), error=str(error),
                         finished_at=records.now_rfc3339(), monitor_pid=None, monitor_start=None)
        _auto_remove(rec)
    return error


def _log_room(rec: records.Record) -> int:
    """conmon's ``--log-size-max`` for this launch (0: none).  conmon counts only what it wrote
    itself, so a restarted container's ``ctr.log`` would grow by max-size at every start: it is
    given the room max-size leaves beside what ctr.log holds, and when less than half is left the
    file is started over here first (as conmon would at its next write), so ctr.log never holds
    more than max-size and each of conmon's own start-overs keeps at least half of it."""
    from pycr.plugins.manage.logfiles import limits

    max_size, _ = limits(rec.data.get("log_opts") or {})  # checked at create: max-file is 1 (check_conmon)
    if not max_size:
        return 0
    try:
        used = os.path.getsize(rec.log_path)
    except FileNotFoundError:
        used = 0
    if used > max_size // 2:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(rec.log_path)  # a reader that has it open still reads it to its end
        used = 0
    return max_size - used


def _spawn(argv: list[str], sync_fd: int, log: str) -> None:
    """Run conmon with the sync pipe on ``sync_fd`` until its daemon is on its own; its output
    (and its exit command's) goes to ``log``."""
    import subprocess

    out = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
    null = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
    env = {**os.environ, "_OCI_SYNCPIPE": str(sync_fd)}
    env.pop("_OCI_STARTPIPE", None)
    try:
        subprocess.run(argv, stdin=null, stdout=out, stderr=out, pass_fds=(sync_fd,), env=env, cwd="/",
                       start_new_session=True, check=False)  # cwd: it must not pin the caller's directory
    finally:
        os.close(out)
        os.close(null)


def _read_pid(path: str) -> int | None:
    try:
        with open(path) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def _said(path: str, offset: int) -> str | None:
    """The last line conmon wrote to ``path`` after ``offset`` (its errors: ``[conmon:e]: ...``)."""
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            lines = [line.strip() for line in f.read().decode(errors="replace").splitlines() if line.strip()]
    except OSError:
        return None
    return f"conmon: {lines[-1]}" if lines else None


def _runtime_error(path: str):
    """The last error pycr-oci wrote to its JSON --log, as the ``PycrError`` it was: an
    ``ExecutableError`` when its ``command`` field says the container's command could not run."""
    import json

    from pycr.core import ExecutableError, PycrError

    last = {}
    try:
        with open(path) as f:
            for line in f:
                with contextlib.suppress(ValueError):
                    entry = json.loads(line)
                    if isinstance(entry, dict) and entry.get("level") == "error":
                        last = entry
    except OSError:
        pass
    if not last.get("msg"):
        return None
    kind = last.get("command")
    return ExecutableError(last["msg"], kind) if kind in ("missing", "not-executable") else PycrError(last["msg"])
