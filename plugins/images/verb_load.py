"""``pycr load -i FILE``: load a ``docker save`` archive or an OCI archive (detected by content)."""

from __future__ import annotations

import sys


def add_arguments(p) -> None:
    p.add_argument("-i", "--input", required=True, metavar="FILE")


def run(opts, ns) -> int:
    try:
        return _run(opts, ns)
    except OSError as e:
        from pycr.core import PycrError

        raise PycrError(f"load: {e.strerror or e}{': ' + str(e.filename) if e.filename else ''}") from None


def _run(opts, ns) -> int:
    import tarfile

    from pycr.core import PycrError
    from pycr.plugins.images import transports
    from pycr.plugins.images.archive import TAR_ERRORS, tar_error_line
    from pycr.plugins.images.store import Store

    try:
        with tarfile.open(ns.input) as tf:
            names = set(tf.getnames())
    except TAR_ERRORS as e:
        raise PycrError(f"load {ns.input}: cannot read: {tar_error_line(e)}") from None
    transport = "oci-archive" if "oci-layout" in names or "./oci-layout" in names else "docker-archive"
    name, image = transports.pull(opts, Store(), f"{transport}:{ns.input}")
    sys.stdout.write(f"Loaded image: {name or image.digest}\n")
    return 0
