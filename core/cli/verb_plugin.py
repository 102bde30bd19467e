"""``pycr plugin new NAME --kind hooks|cgroup|rootfs|image-source [--dir D]``.

Writes ``D/pycr-NAME/``: an installable package (pyproject with the entry
point, the module, a README) and tests that use pycr's conformance kits, so
``pip install -e D/pycr-NAME && pytest D/pycr-NAME/tests`` passes before the
author changes a line.  The templates are in :mod:`plugin_skeletons`.
"""

from __future__ import annotations

import os
import re

_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")


def add_arguments(parser) -> None:
    sub = parser.add_subparsers(dest="action", required=True)
    new = sub.add_parser("new", help="write a plugin package skeleton")
    new.add_argument("name", help="the plugin's one name: entry point, CLI value (lowercase, digits, _)")
    new.add_argument("--kind", required=True, choices=("hooks", "cgroup", "rootfs", "image-source"))
    new.add_argument("--dir", default=".", help="where to create pycr-NAME/ (default: .)")


def new(name: str, kind: str, directory: str = ".") -> str:
    """Write the skeleton; return the package directory.  Refuses to overwrite."""
    from pycr.core.cli import plugin_skeletons
    from pycr.core.errors import ConfigError

    if not _NAME.fullmatch(name):
        raise ConfigError(f"plugin new: name {name!r} must be lowercase letters, digits and '_', "
                          "starting with a letter (it becomes the entry-point name and the CLI value)")
    target = os.path.join(directory, "pycr-" + name.replace("_", "-"))
    if os.path.exists(target):
        raise ConfigError(f"plugin new: {target} already exists")
    for rel, text in plugin_skeletons.files(kind, name).items():
        path = os.path.join(target, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)
    return target


def run(opts, args) -> int:
    target = new(args.name, args.kind, args.dir)
    print(f"wrote {target}\n  pip install -e {target}\n  pytest {os.path.join(target, 'tests')}")
    return 0
