"""``pycr push IMAGE [DEST]``: send a stored image to a registry or another transport.

DEST defaults to IMAGE's own name (``docker://`` transport).  Blobs the
registry has are skipped, blobs in another repository of the same registry
are mounted, the rest uploaded (in chunks with ``--chunk-size``).
"""

from __future__ import annotations


def add_arguments(p) -> None:
    p.add_argument("--chunk-size", type=int, metavar="BYTES", help="upload blobs larger than this in chunks")
    p.add_argument("--insecure-registry", action="append", default=[], metavar="HOST")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    p.add_argument("image", help="a stored image (name or id)")
    p.add_argument("dest", nargs="?", help="where to (default: the image's name)")


def run(opts, ns) -> int:
    try:
        return _run(opts, ns)
    except OSError as e:
        from pycr.core import PycrError

        raise PycrError(f"push: {e.strerror or e}{': ' + str(e.filename) if e.filename else ''}") from None


def _run(opts, ns) -> int:
    from pycr.core import PycrError
    from pycr.plugins.images import transports
    from pycr.plugins.images.store import Store

    store = Store()
    name, image = transports.find_image(store, ns.image)
    if image is None:
        raise PycrError(f"image {ns.image} is not in the store {store.root}")
    dest = ns.dest or name or ns.image
    transport, rest = transports.split(dest)
    src = transports.source(opts, transport, quiet=ns.quiet, chunk_size=ns.chunk_size,
                            insecure_registries=ns.insecure_registry)
    digest = src.push(store, image, rest)
    print(f"{dest}: {digest}")
    return 0
