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
    from pycr.plugins.images import transports
    from pycr.plugins.images.archive_members import load_transport
    from pycr.plugins.images.store import Store

    transport = load_transport(ns.input, f"load {ns.input}")
    name, image = transports.pull(opts, Store(), f"{transport}:{ns.input}")
    sys.stdout.write(f"Loaded image: {name or image.digest}\n")
    return 0
