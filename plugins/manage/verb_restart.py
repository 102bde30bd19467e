"""``pycr restart [-t SECONDS] CONTAINER...``: stop (if running), then start under a new monitor."""

from __future__ import annotations


def add_arguments(p) -> None:
    p.add_argument("-t", "--time", type=float, default=10.0, help="seconds before SIGKILL (default 10)")
    p.add_argument("containers", nargs="+")


def run(opts, ns) -> int:
    from pycr.plugins.manage import launch, manage

    def one(rec):
        manage.stop(rec, ns.time)
        from pycr.core import PycrError, lifecycle
        import contextlib

        with contextlib.suppress(PycrError):  # the monitor deletes it; be sure before creating again
            lifecycle.delete(manage.runtime_opts(rec), rec.id, force=True)
        launch.start(rec.reload())
        print(rec.name)

    return manage.each(ns.containers, one)
