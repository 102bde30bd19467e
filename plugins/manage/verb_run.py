"""``pycr run IMAGE [CMD...]``: pull if missing, build a rootfs and a config, run in the foreground.

The container is made as ``pycr create`` makes one (a record, its rootfs and
bundle: ``pycr.plugins.manage.create``) and removed with everything made
for it when it exits, fails or is interrupted.  The exit status is the
container's (128+signal when killed).
"""

from __future__ import annotations

import os


def add_arguments(p) -> None:
    from pycr.plugins.manage.create import add_create_arguments

    add_create_arguments(p)  # the options `pycr create` has, plus -d
    p.add_argument("-d", "--detach", action="store_true", help="run under a monitor in the background; print the id")


def run(opts, ns) -> int:
    """docker run's codes: the container's own status once it runs; 127 when
    its command is missing, 126 when it cannot be run, 125 for pycr's own
    errors before it runs."""
    from pycr.core import PycrError
    from pycr.plugins.manage import manage

    try:
        return _run(opts, ns)
    except PycrError as e:
        e.exit_code = manage.docker_exit_code(e, 125)
        raise


def _run(opts, ns) -> int:
    """A foreground container is a record like a detached one (``ps`` shows it,
    ``rm -f`` ends it); this ``pycr`` process is its monitor, and removes it
    when it exits.  If this process is killed, the record says so (status
    ``dead``) and ``rm`` / ``container prune`` clean up after it."""
    from pycr.plugins.manage import cleanup, records
    from pycr.plugins.manage.create import check_usage, create

    check_usage(ns, "run")
    if ns.detach or ns.restart != "no":  # the monitor's modes: pycr.plugins.manage
        from pycr.plugins.manage.run import run as run_managed

        return run_managed(opts, ns)
    rec = create(opts, ns, detach=False)
    me = os.getpid()
    rec.update_state(status="starting", foreground=True, monitor_pid=me, monitor_start=records.proc_start(me))

    def created(c) -> None:  # the runtime made it: the record knows its init from now on
        rec.update_state(status="running", pid=c.pid, pid_start=c.data.get("pid_start"),
                         started_at=records.now_rfc3339())

    try:
        import contextlib

        from pycr.core import run_container, terminal

        # without -t the container never gets our terminal (docs/security.md)
        with contextlib.nullcontext() if ns.tty else terminal.pipes_for_terminal(stdin=ns.interactive):
            return run_container(opts, rec.id, rec.bundle, no_pivot=rec.data.get("no_pivot", False),
                                 terminal=ns.tty, stdin=ns.interactive, validate_schema=False,  # runconfig built it
                                 on_created=created)
    finally:
        failures = cleanup.remove(rec.reload())
        if failures:
            from pycr.core import warn

            warn(f"container {rec.name}: " + "; ".join(failures))
