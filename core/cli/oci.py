"""``pycr-oci``: the runc-compatible low-level runtime command.

Engines (podman/conmon, containerd-shim-runc-v2) call it by path with runc's
argv, so verbs, flags, exit codes and error wording follow runc.  Each verb
is a small function; argparse is built only for the verb being run.
"""

from __future__ import annotations

import json
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
}


def _args_create(p):
    p.add_argument("--bundle", "-b", default=".")
    p.add_argument("--pid-file")
    p.add_argument("--console-socket")
    p.add_argument("--no-pivot", action="store_true")
    p.add_argument("--no-new-keyring", action="store_true")
    p.add_argument("--preserve-fds", type=int, default=0)
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
    from pycr.core.runtime import lifecycle

    lifecycle.start(opts, a.id)


def do_state(opts, a):
    from pycr.core.runtime import lifecycle

    print(json.dumps(lifecycle.state(opts, a.id), indent=2))


def do_kill(opts, a):
    from pycr.core.runtime import lifecycle

    lifecycle.kill(opts, a.id, a.signal, all_processes=a.all)


def do_delete(opts, a):
    from pycr.core.runtime import lifecycle

    lifecycle.delete(opts, a.id, force=a.force)


def do_run(opts, a):
    from pycr.core.runtime import lifecycle

    return lifecycle.run_container(opts, a.id, a.bundle, no_pivot=a.no_pivot, detach=a.detach,
                                   pid_file=a.pid_file, preserve_fds=a.preserve_fds,
                                   console_socket=a.console_socket)


def do_list(opts, a):
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
    import os

    from pycr.core.errors import PycrError
    from pycr.core.runtime.default_spec import default_config

    path = os.path.join(a.bundle, "config.json")
    if os.path.exists(path):
        raise PycrError(f"File {path} exists. Remove it first")
    with open(path, "w") as f:
        json.dump(default_config(rootless=a.rootless), f, indent="\t")


def dispatch(opts, argv: list[str]) -> int:
    """Run one OCI verb with already-parsed global options."""
    import argparse

    from pycr.core import tracing
    from pycr.core.errors import PycrError

    if not argv or argv[0] not in VERBS:
        raise PycrError(f"unknown command {argv[0] if argv else ''!r}; choose one of: {', '.join(VERBS)}")
    verb = argv[0]
    parser = argparse.ArgumentParser(prog=f"pycr-oci {verb}", description=VERBS[verb][1])
    setup = globals().get(f"_args_{verb}") or _args_id
    setup(parser)
    ns = parser.parse_args(argv[1:])
    with tracing.session(opts, f"pycr-oci {verb}"):
        return globals()[f"do_{verb}"](opts, ns) or 0


def main(argv: list[str] | None = None) -> int:
    from pycr.core.cli.common import run_command

    return run_command("pycr-oci", VERBS, sys.argv[1:] if argv is None else argv, dispatch=dispatch)


if __name__ == "__main__":
    sys.exit(main())
