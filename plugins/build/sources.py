"""What COPY and ADD read: context paths (wildcards, .dockerignore, never outside the context),
a stage's or image's files, local tars to unpack (URLs: :mod:`.urls`) -- with a digest of it all for the cache.

Every source becomes a list of :class:`Entry` (the name under the source,
where to read it, its lstat) before anything is written, so a missing or
forbidden source fails the step with one line and no layer.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import posixpath
import stat
from dataclasses import dataclass

from pycr.core import ConfigError, safe_join


@dataclass
class Entry:
    rel: str            # path under the copied source ("" = the source itself)
    host: str | None    # file to read (None: ``data``)
    st: os.stat_result | None
    data: bytes | None = None


@dataclass
class Source:
    name: str           # as written in the Dockerfile
    is_dir: bool        # a directory: its content is copied into the destination
    entries: list[Entry]
    tar: str | None = None  # ADD of a local archive: unpacked into the destination


def outside(rel: str) -> bool:
    return rel == ".." or rel.startswith("../")


def _walk(root: str, top: str, base_rel: str, ignore) -> list[Entry]:
    out = []
    for dirpath, dirnames, filenames in os.walk(top):
        dirnames.sort()
        for name in sorted(dirnames) + sorted(filenames):
            host = os.path.join(dirpath, name)
            rel = os.path.relpath(host, top)
            ctx_rel = posixpath.normpath(posixpath.join(base_rel, rel))
            if ignore is not None and ignore.ignored(ctx_rel):
                continue
            out.append(Entry(rel, host, os.lstat(host)))
    return out


def resolve(root: str, src: str, ignore, what: str, place: str = "the build context") -> list[Source]:
    """The sources ``src`` names under ``root`` (``place``: the context, or a stage's or image's
    files); wildcards expand."""
    rel = posixpath.normpath(src.lstrip("/")) if src.strip("/") else "."
    if outside(rel):
        raise ConfigError(f"{what}: {src} is outside {place}")
    if any(c in rel for c in "*?["):
        pattern = rel.split("/")
        matches = []
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            for name in dirnames + filenames:
                cand = os.path.relpath(os.path.join(dirpath, name), root)
                parts = cand.split("/")
                if len(parts) == len(pattern) and all(fnmatch.fnmatchcase(p, q) for p, q in zip(parts, pattern)):
                    if ignore is None or not ignore.ignored(cand):
                        matches.append(cand)
        if not matches:
            raise ConfigError(f"{what}: no source file matches {src}")
        return [s for m in sorted(matches) for s in resolve(root, m, ignore, what, place)]
    if ignore is not None and rel != "." and ignore.ignored(rel):
        raise ConfigError(f"{what}: {src} not found in the build context (excluded by .dockerignore)")
    host = safe_join(root, rel)  # symlinks resolved inside the root: never out of it
    try:
        st = os.stat(host)
    except OSError:
        raise ConfigError(f"{what}: {src} not found in {place}") from None
    if stat.S_ISDIR(st.st_mode):
        return [Source(src, True, _walk(root, host, rel, ignore))]
    return [Source(src, False, [Entry("", host, st)])]


def digest(sources: list[Source]) -> str:
    """Names, types, modes, link targets and content of everything copied (mtimes do not count)."""
    h = hashlib.sha256()
    for src in sources:
        h.update(f"{src.name}\0{src.is_dir}\0{src.tar is not None}\0".encode())
        for e in src.entries:
            if e.data is not None:
                h.update(f"{e.rel}\0data\0".encode() + hashlib.sha256(e.data).digest())
                continue
            mode = e.st.st_mode
            h.update(f"{e.rel}\0{mode:o}\0".encode())
            if stat.S_ISLNK(mode):
                h.update(os.readlink(e.host).encode())
            elif stat.S_ISREG(mode):
                fh = hashlib.sha256()
                with open(e.host, "rb") as f:
                    while chunk := f.read(1 << 20):
                        fh.update(chunk)
                h.update(fh.digest())
    return "sha256:" + h.hexdigest()


def verify_checksum(found: list[Source], checksum: str, what: str) -> None:
    """ADD --checksum=sha256:HEX: the one file added must hash to it."""
    if len(found) != 1 or found[0].is_dir or found[0].entries[0].host is None:
        raise ConfigError(f"{what}: --checksum needs exactly one file source")
    algo, _, want = checksum.partition(":")
    if algo != "sha256" or len(want) != 64:
        raise ConfigError(f"{what}: --checksum={checksum}: expected sha256:<64 hex digits>")
    h = hashlib.sha256()
    with open(found[0].entries[0].host, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    if h.hexdigest() != want:
        raise ConfigError(f"{what}: {found[0].name}: checksum sha256:{h.hexdigest()} does not match --checksum")
