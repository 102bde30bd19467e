"""``pycr create [options] IMAGE [CMD...]``: a container ready to ``pycr start`` (nothing runs yet)."""

from __future__ import annotations


def add_arguments(p) -> None:
    from pycr.plugins.manage.create import add_create_arguments

    add_create_arguments(p)


def run(opts, ns) -> int:
    from pycr.plugins.manage.create import check_usage, create

    check_usage(ns, "create")
    rec = create(opts, ns)
    print(rec.id)
    return 0
