"""``pycr start CONTAINER...``: start created or stopped containers under a new monitor."""

from __future__ import annotations


def add_arguments(p) -> None:
    p.add_argument("containers", nargs="+")


def run(opts, ns) -> int:
    from pycr.plugins.manage import launch, manage

    def one(rec):
        launch.start(rec)
        print(rec.name)

    return manage.each(ns.containers, one)
