"""``pycr wait CONTAINER...``: block until each container stops; print its exit code."""

from __future__ import annotations


def add_arguments(p) -> None:
    p.add_argument("containers", nargs="+")


def run(opts, ns) -> int:
    from pycr.plugins.manage import manage

    def one(rec):
        code = manage.wait(rec)
        print("unknown" if code is None else code, flush=True)

    return manage.each(ns.containers, one)
