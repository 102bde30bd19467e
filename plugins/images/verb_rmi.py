"""``pycr rmi IMAGE...``: remove image names (blobs go at ``pycr image prune``)."""

from __future__ import annotations


def add_arguments(p) -> None:
    p.add_argument("images", nargs="+")


def run(opts, ns) -> int:
    from pycr.plugins.images.store import Store
    from pycr.plugins.images.verb_image import remove

    return remove(Store(), ns.images)
