"""``pycr kill [-s SIGNAL] CONTAINER...``: signal the container's init (default SIGKILL, as docker)."""

from __future__ import annotations


def add_arguments(p) -> None:
    p.add_argument("-s", "--signal", default="SIGKILL")
    p.add_argument("containers", nargs="+")


def run(opts, ns) -> int:
    from pycr.core import parse_signal
    from pycr.plugins.manage import manage

    parse_signal(ns.signal)  # a bad signal fails before anything is touched

    def one(rec):
        manage.send_signal(rec, ns.signal)
        print(rec.name)

    return manage.each(ns.containers, one)
