"""Built-in isolation plugin: the namespaces of ``linux.namespaces``.

Creates each listed namespace (or joins it when a ``path`` is given), the
user namespace's id mappings, the hostname and domain name, loopback in a
new network namespace, and ``linux.sysctl``.
"""

from __future__ import annotations

from pycr.core import ConfigError, hookimpl

_FLAGS = {"mount": 0x00020000, "cgroup": 0x02000000, "uts": 0x04000000, "ipc": 0x08000000,
          "user": 0x10000000, "pid": 0x20000000, "network": 0x40000000, "time": 0x00000080}


#: lines a /proc/PID/uid_map may hold (Linux >= 4.15; 5 before)
MAX_ID_MAP_LINES = 340


@hookimpl
def pycr_isolation_plan(config, plan):
    from pycr.core import steps

    linux = config.get("linux", {})
    kinds = set()
    for ns in linux.get("namespaces", []) or []:
        kind = ns["type"]
        if kind in kinds:
            raise ConfigError(f"linux.namespaces: {kind!r} is listed twice")
        kinds.add(kind)
        if ns.get("path"):
            plan.join.append((_FLAGS[kind], ns["path"]))
        else:
            plan.unshare_flags |= _FLAGS[kind]
    if "user" in kinds:
        plan.uid_mappings = linux.get("uidMappings", []) or []
        plan.gid_mappings = linux.get("gidMappings", []) or []
        if "path" not in _by_type(linux, "user") and not plan.uid_mappings:
            raise ConfigError("linux.uidMappings: a new user namespace needs uid and gid mappings")
        for field, maps in (("linux.uidMappings", plan.uid_mappings), ("linux.gidMappings", plan.gid_mappings)):
            if len(maps) > MAX_ID_MAP_LINES:
                raise ConfigError(f"{field}: {len(maps)} mappings, the kernel takes at most {MAX_ID_MAP_LINES}")
    if config.get("hostname") or config.get("domainname"):
        if "uts" not in kinds:
            raise ConfigError("hostname: setting a hostname needs a new uts namespace")
        plan.post_switch.append(steps.Hostname(config.get("hostname"), config.get("domainname")))
    if "network" in kinds and not _by_type(linux, "network").get("path"):
        plan.post_switch.append(steps.LoopbackUp())
    for key, value in (linux.get("sysctl") or {}).items():
        if "/" in key or ".." in key.split("."):
            raise ConfigError(f"linux.sysctl: invalid key {key!r}")
        if key.startswith("net.") and "network" not in kinds:
            raise ConfigError(f"linux.sysctl: {key!r} needs a new network namespace")
        plan.post_switch.append(steps.Sysctl(key, str(value)))


def _by_type(linux, kind):
    return next((ns for ns in linux.get("namespaces", []) if ns["type"] == kind), {})
