"""Build small OCI bundles from Debian's busybox-static, for tests, the demo
and benchmarks.  No network: the rootfs is one static binary and its links."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

BUSYBOX = os.environ.get("PYCR_BUSYBOX", "/bin/busybox")


def find_busybox() -> str:
    for path in (BUSYBOX, "/usr/bin/busybox", "/bin/busybox"):
        if os.path.exists(path):
            return path
    raise FileNotFoundError("busybox not found: install Debian's busybox-static")


def make_rootfs(rootfs: str) -> str:
    """A busybox rootfs: /bin/<applet> links, /etc/passwd and group, empty dirs."""
    busybox = find_busybox()
    for d in ("bin", "etc", "tmp", "proc", "sys", "dev", "root", "home/user"):
        os.makedirs(os.path.join(rootfs, d), exist_ok=True)
    os.chmod(os.path.join(rootfs, "tmp"), 0o1777)
    shutil.copy2(busybox, os.path.join(rootfs, "bin", "busybox"))
    applets = subprocess.run([busybox, "--list"], capture_output=True, text=True, check=True).stdout.split()
    for applet in applets:
        link = os.path.join(rootfs, "bin", applet)
        if applet != "busybox" and not os.path.lexists(link):
            os.symlink("busybox", link)
    with open(os.path.join(rootfs, "etc", "passwd"), "w") as f:
        f.write("root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/home/user:/bin/sh\n"
                "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")
    with open(os.path.join(rootfs, "etc", "group"), "w") as f:
        f.write("root:x:0:\nuser:x:1000:\ntty:x:5:\nnogroup:x:65534:\n")
    return rootfs


def make_bundle(bundle: str, args: list[str] | None = None, rootfs_from: str | None = None,
                **overrides) -> str:
    """Write ``bundle/config.json`` (``pycr-oci spec``'s default with ``args``)
    and a busybox rootfs (or a symlink-free copy of ``rootfs_from``'s path as root.path).

    ``overrides`` are merged into the config's top level; ``process`` and
    ``linux`` dicts are merged one level deep.
    """
    from pycr.core.runtime.default_spec import default_config

    os.makedirs(bundle, exist_ok=True)
    config = default_config(args or ["true"])
    config["root"]["readonly"] = False
    if rootfs_from:
        config["root"]["path"] = rootfs_from
    else:
        make_rootfs(os.path.join(bundle, "rootfs"))
    for key, value in overrides.items():
        if key in ("process", "linux") and isinstance(value, dict):
            config[key].update(value)
        else:
            config[key] = value
    with open(os.path.join(bundle, "config.json"), "w") as f:
        json.dump(config, f, indent=1)
    return bundle


def update_config(bundle: str, **changes) -> dict:
    """Merge changes into an existing bundle's config.json (as make_bundle does)."""
    path = os.path.join(bundle, "config.json")
    with open(path) as f:
        config = json.load(f)
    for key, value in changes.items():
        if key in ("process", "linux") and isinstance(value, dict):
            config.setdefault(key, {}).update(value)
        else:
            config[key] = value
    with open(path, "w") as f:
        json.dump(config, f, indent=1)
    return config
