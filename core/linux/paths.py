"""Resolve paths inside a root without letting symlinks lead out of it."""

from __future__ import annotations

import os

_MAX_LINKS = 255


def safe_join(root: str, unsafe: str) -> str:
    """Join ``unsafe`` under ``root``, resolving symlinks as if ``root`` were ``/``.

    Every component is resolved one at a time; an absolute symlink restarts at
    ``root`` and ``..`` never climbs above it.  Missing components are kept as
    they are (the caller may create them).  This is what mount destinations
    and masked paths from a hostile config.json or image need.
    """
    root = os.path.abspath(root)

    def readlink(rel: str) -> str | None:
        try:
            return os.readlink(os.path.join(root, rel))
        except OSError:  # not a symlink, or missing
            return None

    return os.path.join(root, *resolve_links(unsafe, readlink))


def resolve_links(unsafe: str, readlink) -> list[str]:
    """The components of ``unsafe`` with symlinks resolved inside a root, never above it.

    ``readlink(relative path)`` returns a symlink's target or None; the tree
    may be a directory (:func:`safe_join`) or an image's layer listing."""
    parts = [p for p in unsafe.split("/") if p not in ("", ".")]
    resolved: list[str] = []
    links = 0
    while parts:
        part = parts.pop(0)
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        target = readlink("/".join([*resolved, part]))
        if target is None:
            resolved.append(part)
            continue
        links += 1
        if links > _MAX_LINKS:
            raise OSError(40, "too many levels of symbolic links", unsafe)
        if target.startswith("/"):
            resolved = []
        parts = [p for p in target.split("/") if p not in ("", ".")] + parts
    return resolved
