"""``pycr rm [-f] CONTAINER...``: remove containers and everything they hold (cgroup, mounts, files)."""

from __future__ import annotations


def add_arguments(p) -> None:
    p.add_argument("-f", "--force", action="store_true", help="kill a running container first")
    p.add_argument("-v", "--volumes", action="store_true", help="accepted (anonymous volumes are tmpfs)")
    p.add_argument("containers", nargs="+")


def run(opts, ns) -> int:
    import sys

    from pycr.core import printable
    from pycr.plugins.manage import manage

    done, errors = manage.remove_many(ns.containers, force=ns.force)
    for name in done:
        print(name)
    for e in errors:
        sys.stderr.write(printable(e) + "\n")
    return 1 if errors else 0
