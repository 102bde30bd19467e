"""``pycr exec [-i] [-t] [-d] [-e K=V] [-u USER] [-w DIR] CONTAINER CMD...``: run a process in a running container.

``-t`` gives the process a pty made inside the container, proxied to our
terminal (raw mode, window size, Ctrl-C reaches the process); ``-i`` keeps
our stdin connected (without it the process reads /dev/null, as docker).
"""

from __future__ import annotations


def add_arguments(p) -> None:
    p.add_argument("-i", "--interactive", action="store_true")
    p.add_argument("-t", "--tty", action="store_true")
    p.add_argument("-d", "--detach", action="store_true")
    p.add_argument("-e", "--env", action="append", default=[], metavar="K=V")
    p.add_argument("-u", "--user", metavar="USER[:GROUP]")
    p.add_argument("-w", "--workdir", metavar="DIR")
    p.add_argument("container")
    p.add_argument("command", nargs="...")


def run(opts, ns) -> int:
    """docker's codes when the command cannot start: 127 missing, 126 not runnable."""
    from pycr.core import PycrError
    from pycr.plugins.manage import manage

    try:
        return _exec(opts, ns)
    except PycrError as e:
        e.exit_code = manage.docker_exit_code(e)
        raise


def _exec(opts, ns) -> int:
    import os
    import tempfile

    from pycr.core import ConfigError, container_exec as ex, terminal
    from pycr.plugins.manage import manage

    manage.need_terminal(ns)
    rec = manage.resolve(ns.container)
    manage.need_running(rec, "exec into")
    if not ns.command:
        raise ConfigError("exec: the command to run is missing (give CONTAINER CMD...)")
    if ns.workdir and not ns.workdir.startswith("/"):
        raise ConfigError(f"-w {ns.workdir}: the working directory must be absolute")
    ropts = manage.runtime_opts(rec)
    proc = ex.process_from_args(ex.container_process(ropts, rec.id), ns.command, env=ns.env, cwd=ns.workdir,
                                tty=ns.tty)
    if ns.user:
        from pycr.plugins.images.runconfig import resolve_user

        proc["user"] = resolve_user(rec.data.get("rootfs", "/nonexistent"), ns.user)
    if not ns.interactive:
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
    if ns.detach:
        if ns.tty:
            raise ConfigError("exec -d -t: a detached process has nobody to hold its terminal; drop -t")
        with terminal.pipes_for_terminal(stdin=False, detached=True):
            return ex.exec_process(ropts, rec.id, proc, detach=True)
    if not ns.tty:  # the process never gets our terminal (docs/security.md)
        with terminal.pipes_for_terminal(stdin=ns.interactive):
            return ex.exec_process(ropts, rec.id, proc)
    with tempfile.TemporaryDirectory(prefix="pycr-exec-") as tmp:
        with terminal.listener() as (sock, sock_path):
            pid_file = os.path.join(tmp, "pid")
            ex.exec_process(ropts, rec.id, proc, detach=True, pid_file=pid_file, console_socket=sock_path)
            master = terminal.receive_master(sock)
            with open(pid_file) as f:
                pid = int(f.read())
    return terminal.proxy(master, pid, stdin=ns.interactive)
