"""Making layers: a tar of what a step changed, and a view of what the layers below hold.

A layer is written uncompressed (``application/vnd.oci.image.layer.v1.tar``):
its digest is then its diff_id, nothing is compressed twice, and registries
and podman take it as it is.  A RUN's change is read from the overlay upper
directory (a 0/0 character device is a deletion -> ``.wh.NAME``; an opaque
directory -> ``.wh..wh..opq``) or, with the chroot strategy, from a walk of
the rootfs before and after (a path gone -> ``.wh.NAME``).
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
import tarfile

from pycr.core import ConfigError, resolve_links
from pycr.plugins import images

WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"


class _Hashing(io.RawIOBase):
    def __init__(self, f):
        self.f, self.h, self.n = f, hashlib.sha256(), 0

    def writable(self):
        return True

    def write(self, b):
        self.h.update(b)
        self.n += len(b)
        return self.f.write(b)


class LayerWriter:
    """A tar being written to the store's tmp dir; :meth:`commit` stores it as a blob.

    The file is made on the first entry: a step that adds nothing (a WORKDIR
    the image has, a RUN that changed nothing) costs no file."""

    def __init__(self, store):
        self.store = store
        self.path: str | None = None
        self._tar: tarfile.TarFile | None = None
        self.count = 0
        self.names: set[str] = set()
        self.tree: Tree | None = None  # set by COPY/ADD: names are placed through the image's symlinks

    @property
    def tar(self) -> tarfile.TarFile:
        if self._tar is None:
            import tempfile

            fd, self.path = tempfile.mkstemp(prefix="build-layer-", dir=os.path.join(self.store.root, "tmp"))
            self._file = os.fdopen(fd, "wb")
            self._hashing = _Hashing(self._file)
            try:
                self._tar = tarfile.open(fileobj=self._hashing, mode="w|", format=tarfile.PAX_FORMAT)
            except BaseException:
                self.discard()
                raise
        return self._tar

    def add(self, ti: tarfile.TarInfo, fileobj=None) -> None:
        ti.uname = ti.gname = ""
        ti.mtime = int(ti.mtime)
        if self.tree is not None:  # COPY/ADD: through the image's symlinks, as docker copies
            ti.name = self.tree.place(ti.name)
            if ti.islnk():
                ti.linkname = self.tree.place(ti.linkname)
            if ti.isdir() and ti.name != self.tree.resolve(ti.name) and self.tree.is_dir(self.tree.resolve(ti.name)):
                return  # a directory onto a symlink to a directory: its content goes through it
            self.tree.paths[ti.name] = (ti.type, ti.linkname)
        if ti.name in self.names and ti.isdir():
            return  # a parent made twice (several sources): once is enough
        self.names.add(ti.name)
        self.tar.addfile(ti, fileobj)
        self.count += 1

    def add_host(self, host: str, name: str, *, uid: int | None = None, gid: int | None = None,
                 mode: int | None = None) -> None:
        """Add the file, directory, symlink or device at ``host`` (never followed) as ``name``."""
        ti = self.tar.gettarinfo(host, arcname=name)
        if uid is not None:
            ti.uid, ti.gid = uid, gid
        if mode is not None and not ti.issym():
            ti.mode = mode
        if ti.isreg():
            with open(host, "rb") as f:
                self.add(ti, f)
        else:
            self.add(ti)

    def add_dir(self, name: str, mode: int = 0o755, uid: int = 0, gid: int = 0, mtime: float = 0) -> None:
        ti = tarfile.TarInfo(name)
        ti.type, ti.mode, ti.uid, ti.gid, ti.mtime = tarfile.DIRTYPE, mode, uid, gid, mtime
        self.add(ti)

    def add_bytes(self, name: str, data: bytes, mode: int = 0o644, uid: int = 0, gid: int = 0,
                  mtime: float = 0) -> None:
        ti = tarfile.TarInfo(name)
        ti.size, ti.mode, ti.uid, ti.gid, ti.mtime = len(data), mode, uid, gid, mtime
        self.add(ti, io.BytesIO(data))

    def whiteout(self, name: str) -> None:
        head, base = os.path.split(name)
        self.add(tarfile.TarInfo(os.path.join(head, WHITEOUT + base)))

    def discard(self) -> None:
        if self.path is None:
            return
        if self._tar is not None:
            self._tar.close()
        self._file.close()
        if os.path.exists(self.path):
            os.unlink(self.path)

    def commit(self) -> dict | None:
        """Store the tar; its descriptor, or None when the step changed nothing."""
        try:
            if self.count == 0:
                return None
            self.tar.close()
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            digest = "sha256:" + self._hashing.h.hexdigest()
            if not self.store.has_blob(digest):
                with open(self.path, "rb") as f:
                    self.store.put_stream(f, digest, self._hashing.n)
            return {"mediaType": images.media.OCI_LAYER, "digest": digest, "size": self._hashing.n}
        finally:
            self.discard()


def _walk(root: str):
    """(relative path, lstat) of everything under ``root``, parents first, sorted."""
    stack = [""]
    while stack:
        rel = stack.pop()
        try:
            names = sorted(os.listdir(os.path.join(root, rel)), reverse=True)
        except OSError:
            continue
        for name in names:
            child = os.path.join(rel, name)
            st = os.lstat(os.path.join(root, child))
            yield child, st
            if stat.S_ISDIR(st.st_mode):
                stack.append(child)


def _sorted_walk(root: str):
    return sorted(_walk(root), key=lambda x: x[0].split("/"))


def upper_diff(upper: str, writer: LayerWriter, skip: set[str]) -> None:
    """Write an overlay upper directory's content as an OCI layer (whiteouts converted)."""
    for rel, st in _sorted_walk(upper):
        if rel in skip:
            continue
        host = os.path.join(upper, rel)
        if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
            writer.whiteout(rel)
            continue
        writer.add_host(host, rel)
        if stat.S_ISDIR(st.st_mode):
            try:
                opaque = os.getxattr(host, "trusted.overlay.opaque", follow_symlinks=False)
            except OSError:
                opaque = b""
            if opaque == b"y":
                writer.add(tarfile.TarInfo(os.path.join(rel, OPAQUE)))


def snapshot(root: str) -> dict[str, tuple]:
    """What :func:`snapshot_diff` compares: type+mode, owner, size, times, inode, link target."""
    out = {}
    for rel, st in _walk(root):
        link = os.readlink(os.path.join(root, rel)) if stat.S_ISLNK(st.st_mode) else None
        out[rel] = (st.st_mode, st.st_uid, st.st_gid, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino,
                    st.st_rdev, link)
    return out


def snapshot_diff(root: str, before: dict[str, tuple], writer: LayerWriter, skip: set[str]) -> None:
    """The change from ``before`` to ``root`` now, as a layer (deletions become whiteouts)."""
    after = snapshot(root)
    gone = sorted(set(before) - set(after), key=lambda p: p.split("/"))
    deleted: list[str] = []
    for rel in gone:
        if any(rel.startswith(d + "/") for d in deleted):
            continue  # its parent's whiteout covers it
        deleted.append(rel)
    items = [(rel, "w") for rel in deleted] + [
        (rel, "a") for rel, sig in after.items() if before.get(rel) != sig and rel not in skip]
    for rel, kind in sorted(items, key=lambda x: x[0].split("/")):
        if kind == "w":
            writer.whiteout(rel)
        else:
            writer.add_host(os.path.join(root, rel), rel)


class Tree:
    """Paths of a stack of layers (type and link target), read from the layer tars on first use.

    Answers what COPY and WORKDIR must know about the image so far: is the
    destination a directory, which parents exist, where do symlinks lead,
    and the content of small files (``/etc/passwd`` for ``--chown NAME``).
    """

    _listing: dict[str, list] = {}  # layer digest -> [(name, type, linkname)]

    def __init__(self, store, layers: list[dict]):
        self.store = store
        self.layers = layers
        self._paths: dict[str, tuple[str, str]] | None = None

    def _list(self, digest: str) -> list:
        if digest not in self._listing:
            with open(self.store.blob_path(digest), "rb") as raw, tarfile.open(fileobj=raw, mode="r|*") as tf:
                self._listing[digest] = [(os.path.normpath(m.name.lstrip("/")), m.type, m.linkname) for m in tf]
        return self._listing[digest]

    @property
    def paths(self) -> dict[str, tuple[str, str]]:
        if self._paths is None:
            paths: dict[str, tuple[str, str]] = {}
            for layer in self.layers:
                for name, typ, link in self._list(layer["digest"]):
                    head, base = os.path.split(name)
                    if base == OPAQUE:
                        prefix = head + "/"
                        for p in [p for p in paths if p.startswith(prefix)]:
                            del paths[p]
                    elif base.startswith(WHITEOUT):
                        gone = os.path.join(head, base[len(WHITEOUT):])
                        for p in [p for p in paths if p == gone or p.startswith(gone + "/")]:
                            del paths[p]
                    elif name != ".":
                        paths[name] = (typ, link)
            self._paths = paths
        return self._paths

    def resolve(self, path: str) -> str:
        """``path`` (absolute) with symlinks of the image resolved inside it; returned without '/'."""
        def readlink(rel: str) -> str | None:
            typ, link = self.paths.get(rel, (None, None))
            return link if typ == tarfile.SYMTYPE else None

        try:
            return "/".join(resolve_links(path, readlink))
        except OSError:  # a symlink loop in the image
            raise ConfigError(f"{path}: too many levels of symbolic links in the image") from None

    def place(self, name: str) -> str:
        """Where an entry ``name`` lands: its parent directories resolved, the last component kept."""
        head, base = os.path.split(os.path.normpath(name.lstrip("/")))
        return os.path.join(self.resolve(head), base) if head else base

    def is_dir(self, rel: str) -> bool:
        return rel == "" or self.paths.get(rel, (None,))[0] == tarfile.DIRTYPE

    def exists(self, rel: str) -> bool:
        return rel == "" or rel in self.paths

    def read(self, path: str) -> bytes | None:
        rel = self.resolve(path)
        if rel not in self.paths:
            return None
        for layer in reversed(self.layers):
            with open(self.store.blob_path(layer["digest"]), "rb") as raw, tarfile.open(fileobj=raw, mode="r|*") as tf:
                for m in tf:
                    if os.path.normpath(m.name.lstrip("/")) == rel and m.isreg():
                        return tf.extractfile(m).read()
        return None
