"""rootfs_overlay: each layer unpacked once, shared read-only; a container gets an overlay mount.

Layers are unpacked (once per store, in overlay mode: whiteouts become 0/0
character devices and ``trusted.overlay.opaque``) under ``layers/``.  Per
container, ``upper/`` and ``work/`` live in its directory and the merged view
is mounted on ``rootfs/``; the runtime then enters it with ``pivot_root``.
The mount is detached and the directories removed when the stack closes.
"""

from __future__ import annotations

import os

from pycr.core import PycrError, RootfsStrategy


class OverlayRootfs(RootfsStrategy):
    name = "overlay"
    no_pivot = False

    @classmethod
    def available(cls) -> bool:
        try:
            with open("/proc/filesystems") as f:
                return any(line.split()[-1] == "overlay" for line in f if line.strip())
        except OSError:
            return False

    def prepare(self, image, container_dir, stack, *, read_only=False):
        lowers = [self.store.unpacked_layer(layer["digest"], layer.get("mediaType", ""))
                  for layer in image.layers]
        if not lowers:  # an image without layers: an empty lower
            empty = os.path.join(container_dir, "empty")
            os.mkdir(empty, 0o755)
            lowers = [empty]
        upper, work, merged = (os.path.join(container_dir, d) for d in ("upper", "work", "rootfs"))
        for d in (upper, work, merged):
            os.mkdir(d, 0o755)
        # Short relative names keep the mount data under a page for deep images (as docker's
        # overlay2 "l/" links do): l/<n> -> the layer dir, resolved from container_dir as cwd.
        links = os.path.join(container_dir, "l")
        os.mkdir(links, 0o700)
        names = []
        for i, layer_dir in enumerate(lowers):
            name = f"l/{i:x}"
            os.symlink(layer_dir, os.path.join(container_dir, name))
            names.append(name)
        data = f"lowerdir={':'.join(reversed(names))},upperdir=upper,workdir=work"  # top layer first
        if len(data) >= os.sysconf("SC_PAGESIZE"):
            raise PycrError(f"overlay: image {image.digest} has too many layers ({len(lowers)}) for one mount")
        cwd = os.open(".", os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.chdir(container_dir)
            self.mount("overlay", merged, "overlay", 0, data)
        except OSError as e:
            raise PycrError(f"overlay: cannot mount {merged}: {e.strerror}") from None
        finally:
            os.fchdir(cwd)
            os.close(cwd)
        stack.callback(self.umount, merged)
        return merged
