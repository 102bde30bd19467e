"""Images: the content store, references, layer unpacking, transports and run configs.

This package is part of pycr.core's public API for image-source and rootfs
plugins (``from pycr.core import images``); its modules are loaded on first
attribute access, so importing it costs nothing:

- ``images.store``     Store, Image, DigestMismatch, atomic_write
- ``images.reference`` parse, Reference
- ``images.media``     media types, host_platform, choose_platform
- ``images.schema``    validate (vendored OCI image-spec JSON schemas)
- ``images.unpack``    unpack_layer, UnpackError
- ``images.progress``  Progress
- ``images.transports`` pull/push by transport name (registry, oci, oci-archive, docker-archive)
"""

import sys

api = sys.modules[__name__]  # exported as pycr.core.images (see pycr.core._LAZY)

_SUBMODULES = {"store", "reference", "media", "schema", "unpack", "progress", "transports", "layout",
               "runconfig", "archive"}


def __getattr__(name):
    if name in _SUBMODULES:
        import importlib

        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
