"""Install a plugin for a test without pip: a ``*.dist-info`` directory.

``importlib.metadata`` (and so pycr's plugin discovery) finds a distribution
by its ``NAME-VERSION.dist-info`` directory on ``sys.path``; writing one with
``METADATA`` and ``entry_points.txt`` next to the plugin's modules takes a
millisecond, where a ``pip install`` takes seconds.  Put the directory on
``sys.path`` (``monkeypatch.syspath_prepend``) or ``PYTHONPATH`` for a
subprocess, and point ``PYCR_CACHE_DIR`` at a temporary directory so the
entry-point cache of the real installation is left alone.
"""

from __future__ import annotations

import os
import textwrap


def write_dist(site: str, name: str, version: str = "1.0",
               entry_points: dict[str, dict[str, str]] | None = None,
               modules: dict[str, str] | None = None) -> str:
    """Write distribution ``name`` into directory ``site``; return its dist-info path.

    :param entry_points: ``{"pycr.plugins": {"audit": "my_mod"}, "pycr.cgroup": {...}}``
    :param modules: ``{"my_mod.py": "source ...", "pkg/__init__.py": "..."}`` written
        under ``site`` (the source is dedented).
    """
    info = os.path.join(site, f"{name.replace('-', '_')}-{version}.dist-info")
    os.makedirs(info, exist_ok=True)
    with open(os.path.join(info, "METADATA"), "w") as f:
        f.write(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    with open(os.path.join(info, "entry_points.txt"), "w") as f:
        for group, eps in (entry_points or {}).items():
            f.write(f"[{group}]\n" + "".join(f"{k} = {v}\n" for k, v in eps.items()) + "\n")
    for rel, source in (modules or {}).items():
        path = os.path.join(site, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(textwrap.dedent(source))
    # a new entry in ``site`` changes its mtime, which invalidates pycr's entry-point cache
    return info
