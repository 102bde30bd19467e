"""The management and image layers, as the API server uses them: the one module naming them.

Everything the server does to a container or an image goes through these
public functions of the layers that own them, so the API is never a second
implementation of ``pycr``'s verbs.
"""

from __future__ import annotations

from pycr.core.containers import cleanup, launch, manage, prune, records  # noqa: F401
from pycr.core.containers.create import create as create_container  # noqa: F401
from pycr.core.images import reference, transports  # noqa: F401
from pycr.core.images.store import Store, default_root  # noqa: F401
from pycr.core.runtime import live  # noqa: F401
from pycr.core.cli.verb_images import rows as image_rows  # noqa: F401
from pycr.core.cli.verb_inspect import describe as describe_container  # noqa: F401


def find_image(store, text: str):
    """(name, Image) of a stored image, or raise the layer's one-line "No such image"."""
    from pycr.core.cli.verb_image import _find

    return _find(store, text)
