"""``pycr-oci``: the runc-compatible low-level runtime command.

Engines (podman/conmon, containerd-shim-runc-v2) call it by path with runc's
argv, so verbs, flags, exit codes and error wording follow runc.  Each verb
is a small function; argparse is built only for the verb being run.
"""

from __future__ import annotations

import sys

VERBS: dict[str, tuple[str, str]] = {
    "create": ("pycr.core.cli.oci", "create a container from a bundle; it waits for start"),
    "start": ("pycr.core.cli.oci", "run the user process of a created container"),
    "state": ("pycr.core.cli.oci", "print the runtime-spec state of a container"),
    "kill": ("pycr.core.cli.oci", "send a signal to the container's init (or all processes)"),
    "delete": ("pycr.core.cli.oci", "delete a container and everything it holds"),
    "run": ("pycr.core.cli.oci", "create, start, wait and delete"),
    "list": ("pycr.core.cli.oci", "list containers"),
    "spec": ("pycr.core.cli.oci", "write a default config.json"),
    "exec": ("pycr.core.cli.oci", "run another process in a running container"),
    "ps": ("pycr.core.cli.oci", "list the processes of a container"),
    "pause": ("pycr.core.cli.oci", "freeze every process of a container"),
    "resume": ("pycr.core.cli.oci", "thaw a paused container"),
    "update": ("pycr.core.cli.oci", "change a running container's resource limits"),
    "events": ("pycr.core.cli.oci", "print resource usage of a container as JSON lines"),
    "features": ("pycr.core.cli.oci", "print what this runtime supports as JSON"),
}


def _count(text: str) -> int:
    """An argparse type: a whole number, 0 or more (--preserve-fds)."""
    import argparse

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be 0 or more")
    return value


def _args_create(p):
    p.add_argument("--bundle", "-b", default=".")
    p.add_argument("--pid-file")
    p.add_argument("--console-socket")
    p.add_argument("--no-pivot", action="store_true")
    p.add_argument("--no-new-keyring", action="store_true")
    p.add_argument("--preserve-fds", type=_count, default=0)
    p.add_argument("id")


def _args_run(p):
    _args_create(p)
    p.add_argument("--detach", "-d", action="store_true")
    p.add_argument("--keep", action="store_true")


def _args_id(p):
    p.add_argument("id")


def _args_kill(p):
    p.add_argument("--all", "-a", action="store_true")
    p.add_argument("id")
    p.add_argument("signal", nargs="?", default="SIGTERM")


def _args_delete(p):
    p.add_argument("--force", "-f", action="store_true")
    p.add_argument("id")


def _args_list(p):
    p.add_argument("--quiet", "-q", action="store_true")
    p.add_argument("--format", "-f", choices=["table", "json"], default="table")


def _args_spec(p):
    p.add_argument("--bundle", "-b", default=".")
    p.add_argument("--rootless", action="store_true")


def do_create(opts, a):
    from pycr.core.runtime import lifecycle

    lifecycle.create(opts, a.id, a.bundle, pid_file=a.pid_file, no_pivot=a.no_pivot,
                     preserve_fds=a.preserve_fds, console_socket=a.console_socket)


def do_start(opts, a):
    from pycr.core.runtime import control  # not lifecycle: create's code is most of it

    control.start(opts, a.id)


def do_state(opts, a):
    from pycr.core import jsonfast as json  # json itself imports re and enum: more than the rest of `state`
    from pycr.core.runtime import control

    print(json.dumps(control.state(opts, a.id), indent=2))


def do_kill(opts, a):
    from pycr.core.runtime import control  # not lifecycle: create's code is most of it

    control.kill(opts, a.id, a.signal, all_processes=a.all)


def do_delete(opts, a):
    from pycr.core.runtime import control  # not lifecycle: create's code is most of it

    control.delete(opts, a.id, force=a.force)


def do_run(opts, a):
    from pycr.core.runtime import lifecycle

    # runc's `run` with a terminal and no console socket: pycr proxies the pty itself
    terminal = not a.console_socket and not a.detach and _wants_terminal(a.bundle)
    return lifecycle.run_container(opts, a.id, a.bundle, no_pivot=a.no_pivot, detach=a.detach,
                                   pid_file=a.pid_file, preserve_fds=a.preserve_fds,
                                   console_socket=a.console_socket, terminal=terminal)


def _wants_terminal(bundle: str) -> bool:
    import os

    from pycr.core import jsonfast as json

    try:
        with open(os.path.join(bundle, "config.json")) as f:
            return bool((json.load(f).get("process") or {}).get("terminal"))
    except (OSError, ValueError, AttributeError, RecursionError):
        return False  # create reports the bundle's problem


def do_list(opts, a):
    from pycr.core import jsonfast as json

    from pycr.core.runtime import lifecycle

    states = lifecycle.list_containers(opts)
    if a.quiet:
        for s in states:
            print(s["id"])
    elif a.format == "json":
        print(json.dumps(states))
    else:
        print(f"{'ID':<20} {'PID':<8} {'STATUS':<10} {'BUNDLE':<40} {'CREATED':<32} OWNER")
        for s in states:
            print(f"{s['id']:<20} {s['pid']:<8} {s['status']:<10} {s['bundle']:<40} {s['created']:<32} {s['owner'] or 'root'}")


def do_spec(opts, a):
    import json

    import os

    from pycr.core.errors import PycrError
    from pycr.core.runtime.default_spec import default_config

    path = os.path.join(a.bundle, "config.json")
    if os.path.exists(path):
        raise PycrError(f"File {path} exists. Remove it first")
    with open(path, "w") as f:
        json.dump(default_config(rootless=a.rootless), f, indent="\t")


def _args_exec(p):
    p.add_argument("--process", "-p")
    p.add_argument("--detach", "-d", action="store_true")
    p.add_argument("--pid-file")
    p.add_argument("--tty", "-t", action="store_true")
    p.add_argument("--console-socket")
    p.add_argument("--cwd")
    p.add_argument("--env", "-e", action="append", default=[])
    p.add_argument("--user", "-u")
    p.add_argument("--cap", "-c", action="append", default=[])
    p.add_argument("--no-new-privs", action="store_true")
    p.add_argument("--preserve-fds", type=_count, default=0)
    p.add_argument("--additional-gids", "-g", action="append", default=[])
    p.add_argument("--process-label", "--apparmor", dest="label", help="refused: pycr applies no LSM label")
    p.add_argument("id")
    p.add_argument("args", nargs="...")  # argparse.REMAINDER: `exec ID sh -c ...` keeps -c


def do_exec(opts, a):
    from pycr.core.errors import ExecutableError, PycrError

    try:
        return _exec(opts, a)
    except PycrError as e:  # runc: 255 when exec fails, 1 when execve itself refused the file
        e.exit_code = 1 if isinstance(e, ExecutableError) and e.at_execve else 255
        raise


def _exec(opts, a):
    from pycr.core.runtime import exec as ex

    if a.label:  # never dropped silently: the process would run unconfined
        from pycr.core.errors import ConfigError

        raise ConfigError(f"--apparmor/--process-label {a.label!r}: pycr applies no AppArmor profile or SELinux label")

    if a.process:
        proc = ex.load_process(a.process)
        if a.tty:
            proc["terminal"] = True
    else:
        args = a.args[1:] if a.args[:1] == ["--"] else a.args
        proc = ex.process_from_args(ex.container_process(opts, a.id), args, env=a.env, cwd=a.cwd,
                                    user=a.user, tty=a.tty, caps=a.cap, no_new_privs=a.no_new_privs)
        if a.additional_gids:
            proc["user"] = {**proc.get("user", {}), "additionalGids": [int(g) for g in a.additional_gids]}
    return ex.exec_process(opts, a.id, proc, detach=a.detach, pid_file=a.pid_file,
                           console_socket=a.console_socket, preserve_fds=a.preserve_fds)


def _args_ps(p):
    p.add_argument("--format", "-f", choices=["table", "json"], default="table")
    p.add_argument("id")
    p.add_argument("ps_args", nargs="*")


def do_ps(opts, a):
    from pycr.core import jsonfast as json

    from pycr.core.runtime import live

    if a.format == "json":
        print(json.dumps(live.pids(opts, a.id)))
    else:
        print(live.ps_table(opts, a.id, a.ps_args))


def do_pause(opts, a):
    from pycr.core.runtime import live

    live.pause(opts, a.id)


def do_resume(opts, a):
    from pycr.core.runtime import live

    live.resume(opts, a.id)


def _args_update(p):
    p.add_argument("--resources", "-r")
    p.add_argument("--memory", "-m")
    p.add_argument("--memory-swap")
    p.add_argument("--memory-reservation")
    p.add_argument("--cpu-shares", type=int)
    p.add_argument("--cpu-quota", type=int)
    p.add_argument("--cpu-period", type=int)
    p.add_argument("--cpuset-cpus")
    p.add_argument("--cpuset-mems")
    p.add_argument("--pids-limit", type=int)
    p.add_argument("id")


def do_update(opts, a):
    from pycr.core.runtime import live

    res = live.load_resources(a.resources) if a.resources else {}
    res.update(live.resources_from_flags(a))
    live.update(opts, a.id, res)


def _args_events(p):
    p.add_argument("--stats", action="store_true", help="print one stats event and exit")
    p.add_argument("--interval", default="5s")
    p.add_argument("id")


def do_events(opts, a):
    import gc
    from pycr.core import jsonfast as json

    from pycr.core.errors import ConfigError

    gc.enable()  # runs until killed: collect as usual
    from pycr.core.runtime import live

    text = a.interval.strip()
    scale = {"ms": 0.001, "s": 1, "m": 60}
    unit = next((u for u in ("ms", "s", "m") if text.endswith(u)), "")
    try:
        interval = float(text[: len(text) - len(unit)] if unit else text) * scale.get(unit, 1)
    except ValueError:
        raise ConfigError(f"--interval: {a.interval!r} is not a duration (e.g. 5s, 500ms)") from None

    def write(event):
        sys.stdout.write(json.dumps(event) + "\n")
        sys.stdout.flush()

    live.events(opts, a.id, interval, a.stats, write)


def _args_features(p):
    pass


def do_features(opts, a):
    from pycr.core import jsonfast as json

    from pycr.core.plugins import get_manager
    from pycr.core.runtime.features import features

    doc = features()
    get_manager(opts).hook.pycr_features(features=doc)
    print(json.dumps(doc, indent=4))


def _formatter(prog):
    """argparse's default formatter imports shutil (3 ms) just for the width."""
    import argparse
    import os

    try:
        width = os.get_terminal_size().columns - 2
    except OSError:
        width = 78
    return argparse.HelpFormatter(prog, width=width)


def dispatch(opts, argv: list[str]) -> int:
    """Run one OCI verb with already-parsed global options."""
    from pycr.core.cli import quickargs
    from pycr.core.errors import PycrError

    if not argv or argv[0] not in VERBS:
        raise PycrError(f"unknown command {argv[0] if argv else ''!r}; choose one of: {', '.join(VERBS)}")
    verb = argv[0]
    if "rootfs" in opts.given:  # accepted by the shared option parser, meaningless here
        raise PycrError("--rootfs: pycr-oci runs an OCI bundle, whose config.json names its root filesystem; "
                        "--rootfs chooses how `pycr` builds one from an image")
    setup = globals().get(f"_args_{verb}") or _args_id
    ns = quickargs.parse(setup, argv[1:])  # engines' plain argv; anything else goes to argparse
    if ns is None:
        from pycr.core.cli.common import verb_parser

        parser = verb_parser(f"pycr-oci {verb}", VERBS[verb][1], formatter_class=_formatter)
        setup(parser)
        ns = parser.parse_args(argv[1:])
    run = globals()[f"do_{verb}"]
    if not (opts.trace or opts.trace_file):  # tracing.session would be a no-op: not even imported
        return run(opts, ns) or 0
    from pycr.core import tracing

    with tracing.session(opts, f"pycr-oci {verb}"):
        return run(opts, ns) or 0


def main(argv: list[str] | None = None) -> int:
    if argv is None:  # run as the program (not called from Python code): we may re-exec
        from pycr.core.linux.exe import protect_for

        protect_for("pycr-oci", sys.argv[1:])  # a container must not reach our interpreter's file
        argv = sys.argv[1:]
    from pycr.core.cli.common import Verbs, run_command

    return run_command("pycr-oci", Verbs({None: VERBS}), argv, dispatch=dispatch)


def console(argv: list[str] | None = None) -> None:
    """The ``pycr-oci`` executable: :func:`main` with the collector off (no heap walks, no
    write-faults in the forked children) and, once flushed, ``os._exit`` instead of the ~10 ms
    teardown.  An exception still unwinds normally, with its traceback.  ``argv``: given by the
    script, which has protected the interpreter already."""
    import gc
    import os

    gc.disable()
    code = main(argv)
    try:
        sys.stdout.flush()
    except (OSError, ValueError):  # a closed or broken stdout: what exit would have done
        code = code or 120
    try:
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
    os._exit(code if isinstance(code, int) else 1)


if __name__ == "__main__":
    console()
