"""``pycr unpause CONTAINER...``: thaw a paused container."""

from __future__ import annotations


def add_arguments(p) -> None:
    p.add_argument("containers", nargs="+")


def run(opts, ns) -> int:
    from pycr.plugins.manage import manage

    def one(rec):
        manage.unpause(rec)
        print(rec.name)

    return manage.each(ns.containers, one)
