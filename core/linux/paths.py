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
    parts = [p for p in unsafe.split("/") if p not in ("", ".")]
    resolved: list[str] = []
    links = 0
    while parts:
        part = parts.pop(0)
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        candidate = os.path.join(root, *resolved, part)
        try:
            target = os.readlink(candidate)
        except OSError:  # not a symlink, or missing
            resolved.append(part)
            continue
        links += 1
        if links > _MAX_LINKS:
            raise OSError(40, "too many levels of symbolic links", unsafe)
        if target.startswith("/"):
            resolved = []
        parts = [p for p in target.split("/") if p not in ("", ".")] + parts
    return os.path.join(root, *resolved)
