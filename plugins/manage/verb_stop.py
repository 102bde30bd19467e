"""``pycr stop [-t SECONDS] CONTAINER...``: SIGTERM, then SIGKILL after the grace period."""

from __future__ import annotations


def add_arguments(p) -> None:
    p.add_argument("-t", "--time", type=float, default=10.0, help="seconds before SIGKILL (default 10)")
    p.add_argument("containers", nargs="+")


def run(opts, ns) -> int:
    from pycr.plugins.manage import manage

    recs = []
    code = manage.each(ns.containers, recs.append)  # unknown names: one line each, the rest still stop
    manage.stop_many(recs, ns.time)
    for rec in recs:
        print(rec.name)
    return code
