"""pycr.core — the host of the pycr framework.

The core knows no backend and no layer by name: namespaces, cgroups, rootfs
strategies, image sources, the content store, and the layers with their verbs
(images, manage, bench, probe) are plugins (``pycr.plugins.*`` or third-party
packages) that implement the hooks in :mod:`pycr.core.hookspecs`
(docs/architecture.md draws the house).  This module is the public
API plugins may import; everything else in ``pycr.core`` is internal.

Names are loaded lazily so that ``import pycr.core`` costs nothing on the
runtime's hot path.
"""

from pycr.core.errors import (  # noqa: F401  (cheap, always needed)
    CleanupError,
    ConfigError,
    ContainerNotFound,
    ExecutableError,
    PluginError,
    PycrError,
    StateError,
    printable,
    quoted,
    warn,
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
    "resolve_links": ("pycr.core.linux.paths", "resolve_links"),
    "read_container_file": ("pycr.core.linux.paths", "read_container_file"),
    "open_in_root": ("pycr.core.linux.paths", "open_in_root"),
    "open_creating": ("pycr.core.linux.paths", "open_creating"),
    "is_under": ("pycr.core.linux.paths", "is_under"),
    "private_dir": ("pycr.core.linux.paths", "private_dir"),
    "protect_for": ("pycr.core.linux.exe", "protect_for"),
    "protect_interpreter": ("pycr.core.linux.exe", "protect_interpreter"),
    "parse_json_object": ("pycr.core.jsondoc", "parse_json_object"),
    "read_json_object": ("pycr.core.jsondoc", "read_json_object"),
    "RootfsStrategy": ("pycr.core.rootfs", "RootfsStrategy"),
    "ContentStore": ("pycr.core.store", "ContentStore"),
    "NetworkDriver": ("pycr.core.network", "NetworkDriver"),
    "set_network_namespace": ("pycr.core.network", "set_network_namespace"),
    "exposed_port_keys": ("pycr.core.network", "exposed_port_keys"),
    "open_store": ("pycr.core.store", "open_store"),
    "cap_mask": ("pycr.core.linux.caps", "cap_mask"),
    "CAPABILITIES": ("pycr.core.linux.caps", "CAPABILITIES"),
    "last_cap": ("pycr.core.linux.caps", "last_cap"),
    # for layers that drive the runtime (management, research): its operations and seams
    "syscalls": ("pycr.core.linux", "syscalls"),
    "libc": ("pycr.core.linux", "libc"),
    "lifecycle": ("pycr.core.runtime", "lifecycle"),
    "run_container": ("pycr.core.runtime.lifecycle", "run_container"),
    "parse_signal": ("pycr.core.runtime.lifecycle", "parse_signal"),
    "resolve_backend": ("pycr.core.runtime.lifecycle", "resolve_backend"),
    "live": ("pycr.core.runtime", "live"),
    "terminal": ("pycr.core.runtime", "terminal"),
    "container_exec": ("pycr.core.runtime", "exec"),
    "Container": ("pycr.core.runtime.state", "Container"),
    "proc_start_time": ("pycr.core.runtime.state", "proc_start_time"),
    "write_json_file": ("pycr.core.runtime.state", "write_json_file"),
    "default_mounts": ("pycr.core.runtime.default_spec", "default_mounts"),
    "load_strategy": ("pycr.core.rootfs", "load_strategy"),
    "strategy_options": ("pycr.core.rootfs", "strategy_options"),
    "get_manager": ("pycr.core.plugins", "get_manager"),
    "entry_points": ("pycr.core.plugins", "entry_points"),
    "load_entry_point": ("pycr.core.plugins", "load_entry_point"),
    "GlobalOptions": ("pycr.core.cli.common", "GlobalOptions"),
    "parse_globals": ("pycr.core.cli.common", "parse_globals"),
    "oci_main": ("pycr.core.cli.oci", "main"),
    "pycr_main": ("pycr.core.cli.main", "main"),
    "trace_phase": ("pycr.core.tracing", "phase"),
}

__all__ = sorted(
    ["CleanupError", "ConfigError", "ContainerNotFound", "ExecutableError", "PluginError", "PycrError", "StateError",
     "printable", "quoted", "warn", *_LAZY]
)


def __getattr__(name):
    try:
        module, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'pycr.core' has no attribute {name!r}") from None
    # __import__ rather than importlib, which the hot path does not otherwise need; with a fromlist
    # it also imports ``attr`` when that is a submodule (e.g. "steps")
    value = getattr(__import__(module, fromlist=[attr]), attr)
    globals()[name] = value
    return value
