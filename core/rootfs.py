"""The rootfs strategy contract: how an image becomes a container's root directory.

A strategy is an exclusive driver (entry-point group ``pycr.rootfs``, chosen
with ``pycr --rootfs NAME``); ``overlay`` and ``chroot`` are the built-ins.
It runs in the ``pycr`` process (the parent), before the low-level runtime
creates the container, and never inside the container's init.

Lifecycle, as ``pycr run IMAGE`` drives it::

    strategy = Strategy(store)                 # nothing touched yet
    with contextlib.ExitStack() as stack:
        rootfs = strategy.prepare(image, container_dir, stack)
            # make the rootfs under container_dir (a directory the caller
            # created and removes); push every undo action -- unmount,
            # remove -- onto ``stack`` *as soon as* the thing exists, so a
            # failure half-way still undoes what was made
        ... write config.json with root.path = rootfs ...
        run_container(opts, cid, bundle, no_pivot=strategy.no_pivot)
    # stack closed: everything the strategy mounted is unmounted and removed,
    # whether the container exited, failed to start, or pycr was interrupted

``no_pivot`` tells the runtime to enter the rootfs with ``chroot(2)``
instead of ``pivot_root(2)`` (the ``chroot`` strategy sets it).

A strategy may share read-only data between containers through the store
(the ``overlay`` strategy's unpacked layers under ``layers/``); the store's
GC keeps it while a container's ``image.json`` names the image.
"""

from __future__ import annotations

import contextlib
from typing import Any


class RootfsStrategy:
    """Base class and documentation of the strategy contract.

    Subclasses set ``name`` (the entry-point name) and implement ``prepare``.
    """

    name = "abstract"
    no_pivot = False

    # mount(2) flags for ``self.mount`` (the kernel's values; combine with ``|``)
    from pycr.core.linux.syscalls import (  # noqa: E402  (class attributes, no import cost: already loaded)
        MS_BIND, MS_NODEV, MS_NOEXEC, MS_NOSUID, MS_PRIVATE, MS_RDONLY, MS_REC, MS_REMOUNT, MS_SLAVE)

    #: options the strategy takes (``pycr --rootfs-opt KEY=VALUE``): name -> one-line help.
    #: A strategy that takes none refuses any; values arrive as strings in ``self.options``.
    accepts: dict[str, str] = {}

    def __init__(self, store: Any, options: dict[str, str] | None = None):
        self.store = store
        self.options = dict(options or {})

    @classmethod
    def available(cls) -> bool:
        """True when this host can use the strategy (e.g. overlayfs is in the kernel)."""
        return True

    def prepare(self, image: Any, container_dir: str, stack: contextlib.ExitStack, *,
                read_only: bool = False) -> str:
        """Build the rootfs for ``image`` (a :class:`pycr.plugins.images.store.Image`) under
        ``container_dir``; return its path.  Register undo actions on ``stack``.

        ``read_only`` says the container asked for a read-only root (``--read-only``). The
        runtime makes ``/`` read-only itself (``root.readonly``), *after* the plan's post-switch
        steps, so hook plugins can still write into the fresh root; a strategy must therefore
        return a writable tree and may use the flag only to save work (no writable layer needed
        once the container runs), never by mounting the tree read-only itself."""
        raise NotImplementedError

    # -- helpers for strategies (the syscall seam) -----------------------------
    @staticmethod
    def mount(source: str, target: str, fstype: str | None, flags: int = 0, data: str | None = None) -> None:
        """mount(2) through the syscall seam: ``self.mount("overlay", path, "overlay", 0,
        "lowerdir=...,upperdir=...,workdir=...")`` or ``self.mount(src, dst, None,
        self.MS_BIND | self.MS_REC)``.  Raises ``OSError`` with the kernel's errno."""
        from pycr.core.linux.syscalls import SYSCALLS

        SYSCALLS.mount(source, target, fstype, flags, data)

    @staticmethod
    def umount(target: str) -> None:
        """Lazily detach ``target`` (a container may still hold it open for a moment)."""
        from pycr.core.linux.syscalls import MNT_DETACH, SYSCALLS

        try:
            SYSCALLS.umount(target, MNT_DETACH)
        except OSError as e:
            import errno

            if e.errno not in (errno.EINVAL, errno.ENOENT):  # not mounted (any more)
                raise


def load_strategy(opts: Any, name: str | None = None) -> type[RootfsStrategy]:
    """The strategy class called ``name`` (default ``opts.rootfs``), via the plugin manager."""
    from pycr.core.plugins import get_manager

    name = name or getattr(opts, "rootfs", None) or "overlay"
    cls = get_manager(opts).driver("rootfs", name)
    if not cls.available():
        from pycr.core.errors import PluginError

        raise PluginError(f"--rootfs: strategy {name!r} is not available on this host")
    strategy_options(opts, cls)  # a wrong option fails before any pull
    return cls


def strategy_options(opts: Any, cls: type[RootfsStrategy]) -> dict[str, str]:
    """``--rootfs-opt KEY=VALUE`` as a dict, checked against what ``cls`` accepts."""
    from pycr.core.errors import ConfigError

    options = {}
    for item in getattr(opts, "rootfs_opts", None) or ():
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise ConfigError(f"--rootfs-opt {item!r}: expected KEY=VALUE")
        if key not in cls.accepts:
            takes = f"it takes: {', '.join(sorted(cls.accepts))}" if cls.accepts else "it takes none"
            raise ConfigError(f"--rootfs-opt {key}: strategy {cls.name!r} has no such option; {takes}")
        options[key] = value
    return options
