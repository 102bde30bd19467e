"""``pycr builder prune``: drop the build cache and collect the layers only it kept."""

from __future__ import annotations


def add_arguments(p) -> None:
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    sub.add_parser("prune", help="remove the build cache; blobs no image names are collected")


def run(opts, ns) -> int:
    from pycr.core import open_store
    from pycr.plugins.build.cache import Cache

    records, blobs, freed = Cache(open_store(opts=opts)).prune()
    print(f"Deleted {records} build cache records, {blobs} blobs; total reclaimed space: {freed} bytes")
    return 0
