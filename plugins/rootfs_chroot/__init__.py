"""rootfs_chroot: the image flattened into a private copy per container, entered with chroot(2).

The classic, weaker strategy researchers compare against: every layer is
applied in order onto one directory (whiteouts delete, opaque directories
are emptied), so each container pays a full copy, and the runtime uses
``chroot`` instead of ``pivot_root`` (``no_pivot``).  Nothing is mounted;
the copy is removed with the container's directory.
"""

from __future__ import annotations

import os

from pycr.core import RootfsStrategy
from pycr.plugins import images

requires = ("images",)  # checked when this driver is chosen


class ChrootRootfs(RootfsStrategy):
    name = "chroot"
    no_pivot = True

    def prepare(self, image, container_dir, stack, *, read_only=False):
        import shutil

        rootfs = os.path.join(container_dir, "rootfs")
        os.mkdir(rootfs, 0o755)
        stack.callback(shutil.rmtree, rootfs, True)
        for layer in image.layers:
            digest = layer["digest"]
            with open(self.store.blob_path(digest), "rb") as f:
                images.unpack.unpack_layer(f, rootfs, mode="flatten", layer_name=f"layer {digest}")
        return rootfs
