"""The layer cache: ``buildcache/<key>.json`` in the store, one small record per cached step.

A key is a sha256 chained from the base image's manifest digest through
every instruction of the stage (as expanded, with the build args in effect,
and for COPY/ADD the digest of the files copied), so a change anywhere
invalidates that step and everything after it.  A record holds the layer the
step made (or none) and its history entry; the layer blob itself lives in
the store.  A record whose blob is gone (``image prune`` took it) is a miss.
The final image of a build is cached too, so a rebuild with nothing changed
gives the same image id.  ``pycr builder prune`` drops every record, then
collects blobs nothing names any more.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os

from pycr.plugins import images


def chain(parent: str, *parts) -> str:
    h = hashlib.sha256(parent.encode())
    h.update(json.dumps(parts, sort_keys=True, default=str).encode())
    return h.hexdigest()


class Cache:
    def __init__(self, store):
        self.store = store
        self.dir = os.path.join(store.root, "buildcache")
        os.makedirs(self.dir, exist_ok=True)

    def get(self, key: str) -> dict | None:
        try:
            with open(os.path.join(self.dir, key + ".json")) as f:
                rec = json.load(f)
        except (OSError, ValueError):
            return None
        for digest in rec.get("blobs", []):
            if not self.store.has_blob(digest):
                return None
        return rec

    def put(self, key: str, rec: dict) -> None:
        # not fsynced: a record a crash loses or empties is a miss (get reads it as JSON, checks its blobs)
        images.store.atomic_write(os.path.join(self.dir, key + ".json"), json.dumps(rec).encode(), durable=False)

    def prune(self) -> tuple[int, int, int]:
        """Drop every record and collect unreferenced blobs: (records, blobs, bytes freed)."""
        n = 0
        with self.store.lock("gc"):
            for name in os.listdir(self.dir):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(os.path.join(self.dir, name))
                    n += 1
        if not hasattr(self.store, "gc"):
            from pycr.core import PluginError

            raise PluginError(f"store driver {self.store.name!r} cannot collect unreferenced blobs")
        removed, freed = self.store.gc()
        return n, len(removed), freed
