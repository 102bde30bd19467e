"""COPY and ADD into a layer: parent directories, files, a local tar unpacked, owners by name.

Names are placed through the image's symlinks by :class:`layers.LayerWriter`
(its ``tree``); here is what goes in: directories the image lacks (0755,
root), files with ``--chown``/``--chmod``, and a tar's members under the
destination, refusing any that would leave it.
"""

from __future__ import annotations

import os
import posixpath
import tarfile
import time

from pycr.core import ConfigError
from pycr.plugins.build import layers, sources


def is_url(src: str) -> bool:
    return src.startswith(("http://", "https://"))


def is_tar(path: str) -> bool:
    try:
        return tarfile.is_tarfile(path)
    except OSError:
        return False


def parents(writer: layers.LayerWriter, tree: layers.Tree, rel: str) -> None:
    """Directory entries for the parents of ``rel`` the image does not have yet (0755 root)."""
    parts = rel.strip("/").split("/")[:-1]
    for i in range(1, len(parts) + 1):
        p = "/".join(parts[:i])
        if not tree.exists(p):
            writer.add_dir(p, 0o755, 0, 0, time.time())


def add_file(writer, src: sources.Source, name: str, owner, mode) -> None:
    e = src.entries[0]
    name = name.lstrip("/")
    if e.data is not None:
        writer.add_bytes(name, e.data, mode if mode is not None else 0o644, owner[0], owner[1], time.time())
    else:
        writer.add_host(e.host, name, uid=owner[0], gid=owner[1], mode=mode)


def unpack_into(writer, path: str, dest_rel: str, where: str) -> None:
    """ADD of a local tar: its members under the destination (names with ``..`` or ``/`` refused)."""
    with tarfile.open(path) as tf:
        for m in tf:
            name = posixpath.normpath(m.name.lstrip("/"))
            if name == ".":
                continue
            if sources.outside(name):
                raise ConfigError(f"{where}: {os.path.basename(path)}: member {m.name!r} points outside the destination")
            m.name = posixpath.join(dest_rel, name)
            if m.islnk():
                link = posixpath.normpath(m.linkname.lstrip("/"))
                if sources.outside(link):
                    raise ConfigError(f"{where}: {os.path.basename(path)}: hardlink {m.linkname!r} points outside")
                m.linkname = posixpath.join(dest_rel, link)
            writer.add(m, tf.extractfile(m) if m.isreg() else None)


def owner(spec: str, tree: layers.Tree, where: str) -> tuple[int, int]:
    user, _, group = spec.partition(":")

    def lookup(db: str, name: str, col: int = 2) -> list[str] | None:
        data = tree.read(f"/etc/{db}") or b""
        for line in data.decode(errors="replace").splitlines():
            row = line.split(":")
            if len(row) > 3 and row[0] == name:
                return row
        return None

    if user.isdigit():
        uid, gid = int(user), int(user)
    else:
        row = lookup("passwd", user)
        if row is None:
            raise ConfigError(f"{where}: --chown={spec}: no user {user!r} in the image's /etc/passwd")
        uid, gid = int(row[2]), int(row[3])
    if group:
        if group.isdigit():
            gid = int(group)
        else:
            row = lookup("group", group)
            if row is None:
                raise ConfigError(f"{where}: --chown={spec}: no group {group!r} in the image's /etc/group")
            gid = int(row[2])
    return uid, gid
