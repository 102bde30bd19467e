"""The dashboard's ``pycr bench`` results: the result directories under ``--bench-dir``, their
summary and PNG plots.

Nothing a caller sends is joined into a path: a result is named by one entry
of the bench directory's listing (a directory holding ``results.json``), a
plot by one ``plot_*.png`` entry of that result's listing, and both are
opened relative to directory descriptors with ``O_NOFOLLOW``, so a symlink
planted under the bench directory (to ``/etc`` or anywhere) is refused, not
followed.
"""

from __future__ import annotations

import os
import re
import stat

from pycr.plugins.api.errors import ApiError

_PLOT = re.compile(r"plot_[A-Za-z0-9_.-]+\.png")
MAX_SUMMARY = 1 << 20
MAX_PLOT = 32 << 20


def _open_dir(name: str, dir_fd: int | None = None) -> int:
    return os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)


def _read(name: str, dir_fd: int, limit: int) -> bytes:
    fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, dir_fd=dir_fd)
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise OSError(f"{name}: not a regular file")
        return f.read(limit)


def _regular(name: str, dir_fd: int) -> bool:
    return stat.S_ISREG(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode)


def results(root: str) -> list[dict]:
    """Every result directory of ``root``, newest first: name, summary text, plot file names."""
    top = _open_dir(root)
    out = []
    try:
        for entry in os.scandir(top):
            if not entry.is_dir(follow_symlinks=False):
                continue
            try:
                d = _open_dir(entry.name, top)
            except OSError:
                continue
            try:
                names = os.listdir(d)
                if "results.json" not in names:
                    continue
                try:
                    summary = _read("summary.txt", d, MAX_SUMMARY).decode(errors="replace")
                except OSError:
                    summary = ""
                out.append({"name": entry.name, "mtime": os.fstat(d).st_mtime, "summary": summary,
                            "plots": sorted(n for n in names if _PLOT.fullmatch(n) and _regular(n, d))})
            finally:
                os.close(d)
    finally:
        os.close(top)
    return sorted(out, key=lambda r: (-r["mtime"], r["name"]))


def plot(root: str, result: str, name: str) -> bytes:
    """The bytes of plot ``name`` of result ``result``; 404 for anything that is not one."""
    if not _PLOT.fullmatch(name) or result in (".", "..") or "/" in result or "\0" in result:
        raise ApiError(404, f"no such plot: {result}/{name}")
    top = _open_dir(root)
    try:
        d = _open_dir(result, top)
        try:
            return _read(name, d, MAX_PLOT)
        finally:
            os.close(d)
    except OSError:
        raise ApiError(404, f"no such plot: {result}/{name}") from None
    finally:
        os.close(top)
