"""pycr.core — the host of the pycr framework.

The core knows no backend by name: namespaces, cgroups, rootfs strategies and
image sources are plugins (``pycr.plugins.*`` or third-party packages) that
implement the hooks in :mod:`pycr.core.hookspecs`.  This module is the public
API plugins may import; everything else in ``pycr.core`` is internal.

Names are loaded lazily so that ``import pycr.core`` costs nothing on the
runtime's hot path.
"""

from pycr.core.errors import (  # noqa: F401  (cheap, always needed)
    CleanupError,
    ConfigError,
    ContainerNotFound,
    PluginError,
    PycrError,
    StateError,
)

_LAZY = {
    "hookimpl": ("pycr.core.markers", "hookimpl"),
    "hookspec": ("pycr.core.markers", "hookspec"),
    "CgroupDriver": ("pycr.core.cgroups", "CgroupDriver"),
    "own_cgroup_paths": ("pycr.core.cgroups", "own_cgroup_paths"),
    "container_cgroup_path": ("pycr.core.cgroups", "container_cgroup_path"),
    "Plan": ("pycr.core.runtime.plan", "Plan"),
    "steps": ("pycr.core.runtime", "plan"),
    "safe_join": ("pycr.core.linux.paths", "safe_join"),
    "parse_json_object": ("pycr.core.jsondoc", "parse_json_object"),
    "RootfsStrategy": ("pycr.core.rootfs", "RootfsStrategy"),
    "images": ("pycr.core.images", "api"),
    "cap_mask": ("pycr.core.linux.caps", "cap_mask"),
    "get_manager": ("pycr.core.plugins", "get_manager"),
}

__all__ = sorted(
    ["CleanupError", "ConfigError", "ContainerNotFound", "PluginError", "PycrError", "StateError", *_LAZY]
)


def __getattr__(name):
    try:
        module, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'pycr.core' has no attribute {name!r}") from None
    import importlib

    mod = importlib.import_module(module)
    value = getattr(mod, attr) if hasattr(mod, attr) else importlib.import_module(f"{module}.{attr}")
    globals()[name] = value
    return value
