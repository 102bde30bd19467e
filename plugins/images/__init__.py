"""Images: the content store, references, layer unpacking, transports and run configs.

The ``images`` plugin: the image layer and its verbs (pull, push, images...),
and the ``local`` driver of the content store (slot ``pycr.store``).  Plugins
that declare ``requires = ("images",)`` use it as ``from pycr.plugins import
images``; its modules are loaded on first attribute access, so importing it
(as every ``pycr``/``pycr-oci`` start does, to register it) costs nothing:

- ``images.store``     Store, Image, DigestMismatch, atomic_write
- ``images.reference`` parse, Reference
- ``images.media``     media types, host_platform, choose_platform
- ``images.schema``    validate (vendored OCI image-spec JSON schemas)
- ``images.unpack``    unpack_layer, UnpackError
- ``images.progress``  Progress
- ``images.transports`` pull/push by transport name (registry, oci, oci-archive, docker-archive)
"""

from pycr.core import hookimpl

_SUBMODULES = {"store", "reference", "media", "schema", "unpack", "progress", "transports", "layout",
               "runconfig", "archive", "conformance"}


def __getattr__(name):
    if name in _SUBMODULES:
        import importlib

        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

requires = ()


@hookimpl
def pycr_add_commands(commands):
    commands.add("pull", "pycr.plugins.images.verb_pull", "pull an image from a registry or another transport")
    commands.add("push", "pycr.plugins.images.verb_push", "push a stored image to a registry or another transport")
    commands.add("login", "pycr.plugins.images.verb_login", "save credentials for a registry")
    commands.add("logout", "pycr.plugins.images.verb_logout", "remove saved credentials for a registry")
    commands.add("images", "pycr.plugins.images.verb_images", "list stored images")
    commands.add("image", "pycr.plugins.images.verb_image", "manage images: ls, inspect, rm, tag, prune")
    commands.add("rmi", "pycr.plugins.images.verb_rmi", "remove image names")
    commands.add("tag", "pycr.plugins.images.verb_tag", "give a stored image another name")
    commands.add("load", "pycr.plugins.images.verb_load", "load a docker-archive or oci-archive tarball")
    commands.add("save", "pycr.plugins.images.verb_save", "save an image as a docker-archive or oci-archive tarball")
    commands.add("import", "pycr.plugins.images.verb_import", "make an image from a rootfs tarball")
