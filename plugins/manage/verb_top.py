"""``pycr top CONTAINER [ps OPTIONS]``: the container's processes, as ps shows them."""

from __future__ import annotations


def add_arguments(p) -> None:
    p.add_argument("container")
    p.add_argument("ps_args", nargs="...", help="ps options (default -ef)")


def run(opts, ns) -> int:
    from pycr.core import live
    from pycr.plugins.manage import manage

    rec = manage.resolve(ns.container)
    manage.need_running(rec, "list the processes of")
    print(live.ps_table(manage.runtime_opts(rec), rec.id, list(ns.ps_args)))
    return 0
