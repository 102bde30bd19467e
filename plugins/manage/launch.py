"""Start a managed container under its monitor, and finish it when it ends.

::

    pycr run -d / start                 launcher (double-forked, setsid,      container init
    ───────────────────                 subreaper; becomes pycr:[monitor])    ──────────────
    mark record "starting"
    fork ─▶ fork ─▶ (middle exits) ───▶ pipes (or console socket) as 0/1/2
    wait for a line on the status pipe  lifecycle.create + start ───────────▶ runs
                                        record: running, pids
              ◀──────────── "ok" ────── exec monitor.py (lean; same pid)
    print the id, exit                  ... logs, reaps ...                  exits
                                        exec ``launch finish CDIR CODE``
                                        record: exited, code, time
                                        runtime delete (cgroup, state)
                                        restart policy? -> create + start again
                                                          and exec the monitor
                                        --rm? -> cleanup.remove

The monitor keeps one pid for the container's whole life (exec, not fork),
so ``monitor_pid`` in the record stays true across restarts.
"""

from __future__ import annotations

import contextlib
import os
import sys

from pycr.plugins.manage import records

#: the exit code a record keeps when its container failed to start for a
#: reason other than its command (docker's: 127 missing, 126 not runnable)
START_FAILED = 128
MONITOR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "monitor.py")


def start(rec: records.Record) -> None:
    """Start ``rec``'s container under a new monitor of the kind it was created with
    (``--monitor``, a ``pycr.monitor`` driver); returns once it runs (or raises)."""
    from pycr.plugins.manage import monitors

    monitors.of(rec).start(rec)


def mark_starting(rec: records.Record) -> None:
    """Refuse a container that cannot start now; else record that it is starting."""
    from pycr.core import StateError

    with rec.locked():
        st = records.live_status(rec)
        if st["status"] in ("running", "paused", "restarting", "exiting") or st["monitor"]:
            raise StateError(f"container {rec.name} is already {st['status']}")
        if st["status"] in ("dead", "removing", "creating"):
            raise StateError(f"container {rec.name} is {st['status']}: remove it with pycr rm")
        if not os.path.ismount(rec.data.get("rootfs", "")) and rec.data.get("rootfs_strategy") == "overlay":
            raise StateError(f"container {rec.name}: its rootfs {rec.data.get('rootfs')} is not mounted any more")
        rec.state.update(status="starting", creator_pid=os.getpid(), creator_start=records.proc_start(os.getpid()),
                         stop_requested=False, error="", exit_code=None, monitor_pid=None, monitor_start=None)


class PycrMonitor:
    """Monitor driver ``pycr`` (the default): ``pycr:[monitor]``, this module and monitor.py."""

    name = "pycr"
    log_format = "json-file"

    @staticmethod
    def check(ns) -> None:
        """It does everything pycr offers."""

    @staticmethod
    def start(rec: records.Record) -> None:
        start_under_pycr_monitor(rec)

    @staticmethod
    def relaunch(rec: records.Record) -> bool:
        launch(rec, None)  # execs the monitor on success
        return False


def start_under_pycr_monitor(rec: records.Record) -> None:
    from pycr.core import ExecutableError, PycrError

    mark_starting(rec)
    r, w = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r)
            os.setsid()
            if os.fork():
                os._exit(0)
            _become_monitor(rec, w)
        finally:
            os._exit(1)
    os.close(w)
    os.waitpid(pid, 0)
    with os.fdopen(r, "rb") as f:
        answer = f.read().decode(errors="replace").strip()
    if answer != "ok":
        code, tab, text = answer.partition("\t")  # "CODE<tab>error" when the start failed (launch)
        if code in ("126", "127"):  # its command: missing or not runnable
            raise ExecutableError(text, "missing" if code == "127" else "not-executable")
        raise PycrError(text if tab else answer or f"container {rec.name}: the monitor died before the container started")


def _report(fd: int | None, text: str) -> None:
    if fd is None:
        return
    with contextlib.suppress(OSError):  # pycr may have been killed meanwhile: carry on
        os.write(fd, text.encode())
    with contextlib.suppress(OSError):
        os.close(fd)


def _become_monitor(rec: records.Record, status_fd: int) -> None:
    """In the double-forked child: detach from pycr's stdio, then launch (never returns)."""
    from pycr.core import syscalls as S

    S.SYSCALLS.prctl(S.PR_SET_CHILD_SUBREAPER, 1)  # kept across the exec into monitor.py
    me = os.getpid()
    rec.update_state(monitor_pid=me, monitor_start=records.proc_start(me))
    with open("/proc/self/comm", "w") as f:
        f.write("pycr:[monitor]")
    null = os.open(os.devnull, os.O_RDWR)
    mlog = os.open(os.path.join(rec.dir, "monitor.log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(null, 0)
    os.dup2(mlog, 1)
    os.dup2(mlog, 2)
    os.close(null)
    os.close(mlog)
    sys.stdout = open(1, "w", closefd=False)
    sys.stderr = open(2, "w", closefd=False)
    try:
        launch(rec, status_fd)
    except BaseException as e:  # a bug: say so on the status pipe (pycr prints it), details in monitor.log
        import traceback

        traceback.print_exc()
        sys.stderr.flush()
        _report(status_fd, f"container {rec.name}: internal error in the monitor: {type(e).__name__}: {e}")
    os._exit(1)


def launch(rec: records.Record, status_fd: int | None) -> None:
    """Create and start the container from this process, then exec the monitor.

    Returns only when the container could not be started (the record says why)."""
    from pycr.core import PycrError, lifecycle
    from pycr.plugins.manage.create import opts_for

    opts = opts_for(rec)
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    keep = []  # fds the monitor inherits
    if rec.data.get("interactive") and not rec.data.get("tty"):
        in_r, in_w = os.pipe()  # the monitor holds the write end: stdin stays open, as docker -i
        keep.append(in_w)
    else:
        in_r = os.open(os.devnull, os.O_RDONLY)
    console = sock_path = None
    with contextlib.ExitStack() as stack:
        if rec.data.get("tty"):
            from pycr.core import terminal

            console, sock_path = stack.enter_context(terminal.listener())
        error, out_fd, err_fd = _create_and_start(rec, opts, sock_path, console, (in_r, out_w, err_w),
                                                  (out_r, err_r), keep)
    if error is not None:
        with contextlib.suppress(PycrError):
            lifecycle.delete(opts, rec.id, force=True)
        error, code = error
        rec.update_state(status="exited", exit_code=code, error=error, finished_at=records.now_rfc3339())
        _report(status_fd, f"{code}\t{error}")
        _auto_remove(rec)
        return
    from pycr.core import Container

    c = Container.load(opts.root, rec.id)
    me = os.getpid()
    rec.update_state(status="running", pid=c.pid, pid_start=c.data.get("pid_start"), started_at=records.now_rfc3339(),
                     monitor_pid=me, monitor_start=records.proc_start(me), exit_code=None, error="")
    _report(status_fd, "ok")
    if rec.reload().state.get("stop_requested"):  # stop/rm came while we were starting it: end it now
        import signal

        with contextlib.suppress(ProcessLookupError):
            os.kill(c.pid, signal.SIGKILL)
    for fd in [out_fd, err_fd, *keep]:
        if fd is not None:
            os.set_inheritable(fd, True)
    from pycr.plugins.manage.logfiles import compressed, limits

    log_opts = rec.data.get("log_opts") or {}
    max_size, max_file = limits(log_opts)  # checked at create
    python = sys.executable
    os.execv(python, [python, "-I", "-S", MONITOR, python, rec.dir, str(c.pid), str(out_fd),
                      "-" if err_fd is None else str(err_fd), str(max_size), str(max_file),
                      str(int(compressed(log_opts)))])


def _create_and_start(rec, opts, sock_path, console, child_fds, read_fds, keep):
    """lifecycle create + start with the container's stdio on ``child_fds``; returns
    ((error, exit code) or None, stdout fd, stderr fd) -- with a terminal, the pty master and None."""
    from pycr.core import PycrError, lifecycle

    in_r, out_w, err_w = child_fds
    out_r, err_r = read_fds
    saved = [os.dup(fd) for fd in (0, 1, 2)]
    error = None
    try:
        for src, dst in ((in_r, 0), (out_w, 1), (err_w, 2)):
            os.dup2(src, dst)
        with contextlib.suppress(PycrError):  # a leftover of an earlier run
            lifecycle.delete(opts, rec.id, force=True)
        lifecycle.create(opts, rec.id, rec.bundle, no_pivot=rec.data.get("no_pivot", False),
                         console_socket=sock_path, validate_schema=False)  # pycr wrote this config
        lifecycle.start(opts, rec.id)
    except PycrError as e:
        from pycr.plugins.manage.manage import docker_exit_code

        error = str(e), docker_exit_code(e, START_FAILED)
    except Exception as e:  # a bug: still a record that says so, and no leftovers
        error = f"internal error: {type(e).__name__}: {e}", START_FAILED
    finally:
        for fd, dst in zip(saved, (0, 1, 2)):
            os.dup2(fd, dst)
            os.close(fd)
        for fd in (in_r, out_w, err_w):
            os.close(fd)
    out_fd, err_fd = out_r, err_r
    if error is None and console is not None:
        from pycr.core import terminal

        try:
            master = terminal.receive_master(console)
            out_fd, err_fd = master, None
            os.close(out_r)
            os.close(err_r)
            keep.append(master)  # input side: the shell waits on the pty, as with docker -t
        except OSError as e:
            error = f"container {rec.name}: no terminal from the console socket: {e}", START_FAILED
    return error, out_fd, err_fd


def _auto_remove(rec: records.Record) -> None:
    if rec.data.get("auto_remove") and not rec.reload().state.get("removing"):
        from pycr.plugins.manage import cleanup

        cleanup.remove(rec)


def finish(cdir: str, code: int) -> None:
    """The init exited with ``code``: record it, delete the runtime side, restart or remove."""
    import time

    from pycr.core import lifecycle
    from pycr.plugins.manage import monitors
    from pycr.plugins.manage.create import opts_for

    rec = records.Record.load(cdir)
    opts = opts_for(rec)
    with rec.locked():
        rec.state.update(status="exited", exit_code=None if code < 0 else code, finished_at=records.now_rfc3339())
        if code < 0:
            rec.state["error"] = "the container's init was not reaped by its monitor: exit code unknown"
    try:
        lifecycle.delete(opts, rec.id, force=True)
    except Exception as e:  # recorded; rm retries every step
        rec.update_state(error=f"cleanup: {e}")
    policy = rec.data.get("restart") or {"name": "no"}
    count = rec.state.get("restart_count", 0)
    while True:
        st = rec.reload().state
        if st.get("stop_requested") or st.get("removing"):
            break
        want = policy["name"] == "always" or (
            policy["name"] == "on-failure" and code != 0 and (not policy.get("max") or count < policy["max"]))
        if not want:
            break
        count += 1
        rec.update_state(status="restarting", restart_count=count)
        time.sleep(min(0.1 * 2 ** (count - 1), 2.0))  # docker's doubling delay, capped
        if rec.reload().state.get("stop_requested"):
            rec.update_state(status="exited")
            break
        if monitors.of(rec).relaunch(rec):  # the pycr monitor's execs itself on success
            return
        code = 127
    _auto_remove(rec)


def _main(argv: list[str]) -> None:
    """``finish CDIR CODE`` (pycr:[monitor] execs it) or ``conmon-exit CDIR [LAUNCH]`` (conmon's exit
    command; it does nothing for a launch that did not create the container: ``conmon.ran``)."""
    if len(argv) == 4 and argv[1] == "finish":
        cdir, code = argv[2], int(argv[3])
    elif len(argv) in (3, 4) and argv[1] == "conmon-exit":
        from pycr.plugins.manage.conmon import exit_code, ran

        cdir = argv[2]
        rec = records.Record.load(cdir)
        if not ran(rec, argv[3] if len(argv) == 4 else None):
            return
        code = exit_code(cdir, rec.id)
    else:
        sys.exit("usage: python -m pycr.plugins.manage.launch finish CDIR CODE | conmon-exit CDIR [LAUNCH]")
    from pycr.core import protect_interpreter

    protect_interpreter()  # a restart starts the container again from this process
    with open("/proc/self/comm", "w") as f:
        f.write("pycr:[monitor]")
    finish(cdir, code)


if __name__ == "__main__":
    _main(sys.argv)
