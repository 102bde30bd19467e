"""``pycr pull [--platform P] [-q] SOURCE``: bring an image into the store.

SOURCE is a registry reference (``busybox``, ``docker://host/repo:tag``) or
another transport (``oci:DIR[:TAG]``, ``oci-archive:FILE``,
``docker-archive:FILE``).  Prints the manifest digest.
"""

from __future__ import annotations


def add_arguments(p) -> None:
    p.add_argument("--platform", metavar="OS/ARCH[/VARIANT]", help="platform to pick from an index")
    p.add_argument("--insecure-registry", action="append", default=[], metavar="HOST",
                   help="allow plain HTTP to this registry (loopback always is)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    p.add_argument("source")


def run(opts, ns) -> int:
    try:
        return _run(opts, ns)
    except OSError as e:
        from pycr.core import PycrError

        raise PycrError(f"pull: {e.strerror or e}{': ' + str(e.filename) if e.filename else ''}") from None


def _run(opts, ns) -> int:
    from pycr.plugins.images import transports
    from pycr.plugins.images.store import Store

    name, image = transports.pull(opts, Store(), ns.source, platform=ns.platform, quiet=ns.quiet,
                                  insecure_registries=ns.insecure_registry)
    print(f"{name or ns.source}: {image.digest}" if not ns.quiet else image.digest)
    return 0
