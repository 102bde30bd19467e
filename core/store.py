"""The content store contract: what image sources, rootfs strategies and builders share.

The store is a service, not a layer: its implementation is an exclusive
driver (entry-point group ``pycr.store``; the built-in one is ``local``, in
the ``images`` plugin), chosen like a cgroup backend.  Code outside the
images plugin -- a rootfs strategy, the conformance kits, a future builder --
needs only the methods below; ``open_store`` finds the driver.

Content is addressed by ``sha256:<hex>`` digest and never changes once
stored; names (``docker.io/library/busybox:latest``) point at manifests.
"""

from __future__ import annotations

from typing import Any

DEFAULT_DRIVER = "local"


class ContentStore:
    """Base class and documentation of the store contract.

    ``root`` is the directory the store keeps everything under (drivers that
    keep content elsewhere still give each container a directory there).
    """

    name = "abstract"
    root: str

    def __init__(self, root: str | None = None):
        raise NotImplementedError

    # -- blobs -----------------------------------------------------------------
    def has_blob(self, digest: str) -> bool:
        """True when the blob is stored (and was verified when it was)."""
        raise NotImplementedError

    def blob_path(self, digest: str) -> str:
        """A path to read the blob from (read-only; never write to it)."""
        raise NotImplementedError

    def read_blob(self, digest: str) -> bytes:
        """The blob's bytes; one-line PycrError when it is not stored."""
        raise NotImplementedError

    def put_blob(self, data: bytes, digest: str | None = None) -> str:
        """Store small content; verify it against ``digest`` when given; return its digest."""
        raise NotImplementedError

    def put_stream(self, f, digest: str | None = None, size: int | None = None) -> str:
        """Copy a readable stream in, verifying ``digest`` when given; return the digest."""
        raise NotImplementedError

    # -- names and images ------------------------------------------------------
    def set_ref(self, name: str, digest: str, **extra: Any) -> None:
        """Point ``name`` at the manifest ``digest`` (extra fields are kept with it)."""
        raise NotImplementedError

    def resolve(self, name: str) -> dict[str, Any] | None:
        """``{"digest": ...}`` for a stored name, or None."""
        raise NotImplementedError

    def image(self, manifest_digest: str) -> Any:
        """The image record: ``digest``, ``manifest``, ``config``, ``id``, ``layers``."""
        raise NotImplementedError

    def unpacked_layer(self, digest: str, media_type: str = "") -> str:
        """A directory holding the layer unpacked once, read-only, shared between containers."""
        raise NotImplementedError

    def lock(self, name: str, shared: bool = False):
        """A context manager holding an inter-process lock called ``name``."""
        raise NotImplementedError


def open_store(root: str | None = None, opts: Any = None, name: str = DEFAULT_DRIVER) -> ContentStore:
    """The store under ``root`` (default: the driver's, ``$PYCR_STORAGE``), from driver ``name``."""
    from pycr.core.plugins import get_manager

    return get_manager(opts).driver("store", name)(root)
