"""``pycr tag SOURCE TARGET``: give a stored image another name."""

from __future__ import annotations


def add_arguments(p) -> None:
    p.add_argument("source")
    p.add_argument("target")


def run(opts, ns) -> int:
    from pycr.plugins.images.store import Store
    from pycr.plugins.images.verb_image import tag

    return tag(Store(), ns.source, ns.target)
