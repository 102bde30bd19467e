"""``pycr save -o FILE [--format docker-archive|oci-archive] IMAGE``."""

from __future__ import annotations


def add_arguments(p) -> None:
    p.add_argument("-o", "--output", required=True, metavar="FILE")
    p.add_argument("--format", choices=("docker-archive", "oci-archive"), default="docker-archive")
    p.add_argument("image")


def run(opts, ns) -> int:
    try:
        return _run(opts, ns)
    except OSError as e:
        from pycr.core import PycrError

        raise PycrError(f"save: {e.strerror or e}{': ' + str(e.filename) if e.filename else ''}") from None


def _run(opts, ns) -> int:
    from pycr.plugins.images import transports
    from pycr.plugins.images.reference import short_name
    from pycr.plugins.images.store import Store
    from pycr.plugins.images.verb_image import _find

    store = Store()
    name, image = _find(store, ns.image)
    src = transports.source(opts, ns.format)
    if ns.format == "oci-archive":
        tag = name.rsplit(":", 1)[1] if name and "@" not in name else "latest"
        src.push(store, image, f"{ns.output}:{tag}")
    else:
        src.push(store, image, ns.output, tags=[short_name(name)] if name else [])
    return 0
