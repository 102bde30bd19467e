"""``pycr logout REGISTRY``: forget the credentials ``pycr login`` saved."""

from __future__ import annotations


def add_arguments(p) -> None:
    p.add_argument("registry")


def run(opts, ns) -> int:
    from pycr.core import PycrError
    from pycr.plugins.images import transports

    if not transports.source(opts, "docker").logout(ns.registry):
        raise PycrError(f"logout: not logged in to {ns.registry}")
    print(f"Removed login credentials for {ns.registry}")
    return 0
