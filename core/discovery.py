"""What is installed: pycr's entry points, scanned once and cached.

Scanning installed distributions costs ~30 ms, more than Python's start-up,
so the scan's result is cached in a file keyed on ``sys.path`` and the
modification times of its directories (any install or removal changes them).
Every group whose name starts with ``pycr.`` is kept, so a new slot needs
no change here.  This module imports neither pluggy nor any plugin: the
``pycr`` shell uses it to find verbs without loading the plugin manager.
"""

from __future__ import annotations

import os
import sys

from pycr.core import jsonfast as json  # json.loads/dumps without importing json (re, enum)

PLUGIN_GROUP = "pycr.plugins"  # hook plugins; every other pycr.* group is a driver slot
AUTOLOAD_ENV = "PYCR_DISABLE_PLUGIN_AUTOLOAD"  # set: load built-in plugins only


def cache_file(kind: str) -> str:
    """``$PYCR_CACHE_DIR/<kind>-<hash of sys.path>.json``: one file per virtualenv."""
    base = os.environ.get("PYCR_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "pycr")
    # one file per sys.path: two virtualenvs must not keep overwriting each other's cache.  FNV-1a
    # rather than zlib.crc32: importing zlib costs ~0.1 ms of every `pycr-oci start` and `delete`
    tag = 0x811C9DC5
    for byte in chr(0).join(sys.path).encode():
        tag = ((tag ^ byte) * 0x01000193) & 0xFFFFFFFF
    return os.path.join(base, f"{kind}-{tag:08x}.json")


def fingerprint() -> str:
    """Changes whenever something is installed into or removed from a ``sys.path`` directory."""
    parts = []
    for p in sys.path:
        try:
            parts.append(f"{p}:{os.stat(p or '.').st_mtime_ns}")
        except OSError:
            parts.append(p)
    return "|".join(parts)


def read_cache(kind: str, key) -> dict | None:
    """The data cached under ``kind`` if it was written with this ``key``."""
    try:
        with open(cache_file(kind)) as f:
            cached = json.load(f)
    except (OSError, ValueError):
        return None
    return cached.get("data") if cached.get("key") == key else None


def write_cache(kind: str, key, data) -> None:
    """Replace the cache atomically; a read-only home only costs the next start-up a rescan."""
    path = cache_file(kind)
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.{os.getpid()}"
        with open(tmp, "w") as f:
            json.dump({"key": key, "data": data}, f)
        os.replace(tmp, path)
    except OSError:
        pass


def scan_entry_points() -> dict[str, list[dict]]:
    """Every pycr entry point installed (groups ``pycr.*``), with its distribution and version."""
    from importlib.metadata import distributions

    found: dict[str, list[dict]] = {}
    seen = set()
    for dist in distributions():
        name = dist.metadata["Name"]
        if name in seen:  # a distribution shadowed earlier on sys.path
            continue
        seen.add(name)
        for ep in dist.entry_points:
            if ep.group.startswith("pycr."):
                value, _, extras = ep.value.partition("[")  # "module:attr [required]"
                found.setdefault(ep.group, []).append({"name": ep.name, "value": value.strip(), "dist": name,
                                                       "version": dist.version, "required": "required" in extras})
    return found


def entry_points(refresh: bool = False) -> dict[str, list[dict]]:
    """The cached scan, rescanned when anything on ``sys.path`` changed."""
    key = fingerprint()
    groups = None if refresh else read_cache("entrypoints", key)
    if groups is None:
        groups = scan_entry_points()
        write_cache("entrypoints", key, groups)
    return groups


def load_entry_point(value: str):
    """The object an entry point names: ``pkg.mod`` or ``pkg.mod:attr.attr``."""
    module, _, attr = value.partition("[")[0].strip().partition(":")  # extras: "mod:attr [required]"
    __import__(module)  # not importlib: the hot path does not otherwise import it (0.5 ms)
    obj = sys.modules[module]
    for part in filter(None, attr.split(".")):
        obj = getattr(obj, part)
    return obj


def missing_requirement(requires, loaded, disabled) -> str | None:
    """Why a plugin requiring ``requires`` cannot run with plugins ``loaded``, or None."""
    for name in requires:
        if name in loaded:
            continue
        if name in disabled:
            return f"requires plugin {name!r}, which is disabled (-p no:{name})"
        return f"requires plugin {name!r}, which is not installed"
    return None
