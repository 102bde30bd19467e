"""``pycr import ROOTFS.tar[.gz|.zst] NAME``: a plain rootfs tarball becomes a one-layer image."""

from __future__ import annotations


def add_arguments(p) -> None:
    p.add_argument("--cmd", nargs="+", metavar="ARG", help="the image's default command")
    p.add_argument("tarball")
    p.add_argument("name")


def run(opts, ns) -> int:
    try:
        return _run(opts, ns)
    except OSError as e:
        from pycr.core import PycrError

        raise PycrError(f"import: {e.strerror or e}{': ' + str(e.filename) if e.filename else ''}") from None


def _run(opts, ns) -> int:
    from pycr.plugins.images.archive import import_rootfs
    from pycr.plugins.images.store import Store

    print(import_rootfs(Store(), ns.tarball, ns.name, cmd=ns.cmd))
    return 0
