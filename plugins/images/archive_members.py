"""The members of an image archive (``docker-archive``, ``oci-archive``) read in place, never extracted.

Extracting a hostile tar to disk and then reading it back is how
CVE-2025-4517 wrote host files through ``tarfile``'s ``data`` filter (a
symlink chain longer than PATH_MAX defeats its realpath check).  pycr never
uses tarfile's extraction: an image archive is only looked up by member
name and its bytes streamed with ``extractfile``.  Names are normalised
(``./a//b`` is ``a/b``); an archive with an absolute name or a ``..``
component is refused as a whole, and only regular files are read (a link or
directory standing where a blob is expected is an error, never followed).
JSON read from it is capped in size before it is parsed.
"""

from __future__ import annotations

import json
import posixpath
import tarfile
import zlib

from pycr.core import ConfigError

#: the most bytes of an archive's index.json / manifest.json / oci-layout / config parsed as JSON
MAX_JSON = 4 << 20
#: what reading a (possibly compressed) tarball raises for a file that is not one, or is cut short
TAR_ERRORS = (OSError, tarfile.TarError, EOFError, zlib.error)


def tar_error_line(e: BaseException) -> str:
    """Why a tarball could not be read, in one line: tarfile's own text for "not a tar"
    lists every compression it tried, each with an exception name."""
    if isinstance(e, tarfile.ReadError) and "could not be opened successfully" in str(e):
        return "not a tar archive (plain, gzip, bzip2 or xz)"
    if isinstance(e, tarfile.ReadError) and str(e) in ("empty file", "truncated header", "invalid header",
                                                        "bad checksum"):
        return f"not a tar archive ({e})"
    if isinstance(e, EOFError):
        return "unexpected end of data (the file is truncated)"
    if isinstance(e, zlib.error):
        return "corrupt compressed data"
    if isinstance(e, OSError):
        return e.strerror or str(e)
    return str(e) or "not a readable tar archive"


def normal_name(name: str) -> str | None:
    """``./a//b/`` -> ``a/b``; None when ``name`` is absolute or has a ``..`` component."""
    if name.startswith("/"):
        return None
    parts = [p for p in name.split("/") if p not in ("", ".")]
    return None if ".." in parts else "/".join(parts)


class ArchiveMembers:
    """An open image archive: ``open(name)`` a regular member, ``json(name)`` parse a small one."""

    def __init__(self, path: str, what: str):
        self.what = what
        try:
            self._tf = tarfile.open(path)
            members = self._tf.getmembers()
        except TAR_ERRORS as e:
            raise ConfigError(f"{what}: cannot read: {tar_error_line(e)}") from None
        self._by_name: dict[str, tarfile.TarInfo] = {}
        for m in members:
            name = normal_name(m.name)
            if name is None:
                self._tf.close()
                raise ConfigError(f"{what}: member {m.name!r} is absolute or climbs out ('..'): refused")
            self._by_name[name] = m  # a later duplicate wins, as in tar

    def __enter__(self) -> "ArchiveMembers":
        return self

    def __exit__(self, *exc) -> None:
        self._tf.close()

    def names(self) -> set[str]:
        return set(self._by_name)

    def open(self, name: str, links: bool = False):
        """A binary stream of the regular member ``name`` (normalised the same way).

        ``links``: a link member is looked up again by the name it points to, inside the
        archive's own names (``docker save`` links a repeated ``layer.tar`` to the first one);
        this is a lookup in a table, the filesystem is never involved."""
        key = normal_name(name)
        for _hop in range(8 if links else 1):
            m = self._by_name.get(key) if key is not None else None
            if m is None:
                raise ConfigError(f"{self.what}: {name} is missing")
            if m.isreg():
                return self._tf.extractfile(m)
            if not (links and (m.issym() or m.islnk())):
                break
            target = m.linkname if m.islnk() else posixpath.join(posixpath.dirname(key), m.linkname)
            key = normal_name(posixpath.normpath(target)) if not m.linkname.startswith("/") else None
        raise ConfigError(f"{self.what}: {name} is not a regular file")

    def read(self, name: str, limit: int = MAX_JSON) -> bytes:
        """The bytes of ``name``, refused when it holds more than ``limit``."""
        data = self.open(name).read(limit + 1)
        if len(data) > limit:
            raise ConfigError(f"{self.what}: {name} is larger than {limit} bytes")
        return data

    def json(self, name: str):
        """``name`` parsed as JSON (any type; the caller checks the shape)."""
        try:
            return json.loads(self.read(name))
        except (ValueError, RecursionError) as e:
            raise ConfigError(f"{self.what}: {name} is not valid JSON: {e}") from None


def load_transport(path: str, what: str) -> str:
    """What ``load`` reads ``path`` as: ``oci-archive`` when it holds ``oci-layout``, else ``docker-archive``."""
    with ArchiveMembers(path, what) as members:
        return "oci-archive" if "oci-layout" in members.names() else "docker-archive"
