"""``pycr container prune``: remove every stopped container and whatever a crash left behind."""

from __future__ import annotations


def add_arguments(p) -> None:
    sub = p.add_subparsers(dest="action", required=True)
    sub.add_parser("prune", help="remove stopped containers, dead ones and orphaned runtime state")
    ls = sub.add_parser("ls", help="same as pycr ps")
    ls.add_argument("-a", "--all", action="store_true")
    ls.add_argument("-q", "--quiet", action="store_true")
    ls.add_argument("--no-trunc", action="store_true")
    ls.add_argument("--format", choices=["table", "json"], default="table")


def run(opts, ns) -> int:
    if ns.action == "ls":
        from pycr.plugins.manage import verb_ps

        return verb_ps.run(opts, ns)
    from pycr.plugins.manage import prune

    removed, failures = prune.prune(opts)
    for rid in removed:
        print(rid)
    import sys

    from pycr.core import printable

    for f in failures:
        sys.stderr.write(printable(f) + "\n")
    return 1 if failures else 0
