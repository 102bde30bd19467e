"""``container prune``: stopped containers, and what crashes left without a record.

Orphans are found from what exists: a ``containers/<64-hex>`` directory
without a readable record (``pycr`` killed before it wrote one), and runtime
state under ``--root`` with a 64-hex id that no record names and that carries the
``io.pycr.name`` annotation (engines such as podman may share the runtime root).
"""

from __future__ import annotations

import contextlib
import os
import re

from pycr.core import PycrError
from pycr.plugins.manage import cleanup, manage, records

_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def prune(opts) -> tuple[list[str], list[str]]:
    removed, failures = [], []
    base = records.containers_dir(manage.store_root())
    known = set()
    for rec in records.all_records(manage.store_root()):
        known.add(rec.id)
        st = manage.status(rec)
        if st["status"] in ("exited", "dead", "created") and not st["monitor"]:
            try:
                manage.remove(rec, force=True)
                removed.append(rec.id)
            except PycrError as e:
                failures.append(str(e))
    with contextlib.suppress(FileNotFoundError):
        for name in os.listdir(base):
            path = os.path.join(base, name)
            if _HEX64.match(name) and name not in known and not os.path.exists(os.path.join(path, records.RECORD)):
                failures += _remove_dir(path)
                removed.append(name)
    from pycr.core import lifecycle

    from pycr.core import Container

    with contextlib.suppress(FileNotFoundError):
        for name in os.listdir(opts.root):
            if _HEX64.match(name) and name not in known:
                try:  # only what pycr's management made (its annotation): engines share runtime roots
                    if "io.pycr.name" not in Container.load(opts.root, name).data.get("annotations", {}):
                        continue
                except PycrError:
                    continue
                try:
                    lifecycle.delete(opts, name, force=True)
                    removed.append(name)
                except PycrError as e:
                    failures.append(f"runtime state {name}: {e}")
    return removed, failures


def _remove_dir(path: str) -> list[str]:
    import shutil

    from pycr.core import syscalls

    out = []
    for point in cleanup.mounts_under(path):
        try:
            syscalls.SYSCALLS.umount(point, syscalls.MNT_DETACH)
        except OSError as e:
            out.append(f"umount {point}: {e.strerror}")
    shutil.rmtree(path, ignore_errors=True)
    return out
