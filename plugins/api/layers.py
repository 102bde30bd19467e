"""The management, image and network layers, as the API server uses them: the one module naming them.

Everything the server does to a container or an image goes through these
public functions of the layers that own them (the ``manage`` and ``images``
plugins, which this plugin requires), so the API is never a second
implementation of ``pycr``'s verbs.
"""

from __future__ import annotations

from pycr.core import live  # noqa: F401
from pycr.plugins.images import reference, transports  # noqa: F401
from pycr.plugins.images.archive_members import load_transport  # noqa: F401
from pycr.plugins.images.runconfig import DOCKER_CAPS  # noqa: F401
from pycr.plugins.images.store import Store, default_root  # noqa: F401
from pycr.plugins.images.unpack import UnpackError, unpack_layer  # noqa: F401
from pycr.plugins.images.verb_images import rows as image_rows  # noqa: F401
from pycr.plugins.manage import cleanup, launch, logfiles, manage, prune, records  # noqa: F401
from pycr.plugins.manage.create import create as create_container  # noqa: F401
from pycr.plugins.manage.verb_inspect import describe as describe_container, network_settings  # noqa: F401


def find_image(store, text: str):
    """(name, Image) of a stored image, or raise the layer's one-line "No such image"."""
    from pycr.plugins.images.verb_image import _find

    return _find(store, text)


def networks():
    """The network layer's state, as ``pycr network`` opens it."""
    from pycr.plugins.network import verb_network

    return verb_network.net_state()
