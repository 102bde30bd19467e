"""Images: the content store, references, layer unpacking, transports and run configs.

The ``images`` plugin: the image layer and its verbs (pull, push, images...),
and the ``local`` driver of the content store (slot ``pycr.store``).  Plugins
that declare ``requires = ("images",)`` use it as ``from pycr.plugins import
images``; its modules are loaded on first attribute access, so importing it
costs nothing.  Its verbs and requirements are in :mod:`.hooks`.

- ``images.store``     Store, Image, DigestMismatch, atomic_write
- ``images.reference`` parse, Reference
- ``images.media``     media types, host_platform, choose_platform
- ``images.schema``    validate (vendored OCI image-spec JSON schemas)
- ``images.unpack``    unpack_layer, UnpackError
- ``images.progress``  Progress
- ``images.transports`` pull/push by transport name (registry, oci, oci-archive, docker-archive)
"""

_SUBMODULES = {"store", "reference", "media", "schema", "unpack", "progress", "transports", "layout",
               "runconfig", "archive", "conformance"}


def __getattr__(name):
    if name in _SUBMODULES:
        import importlib

        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
