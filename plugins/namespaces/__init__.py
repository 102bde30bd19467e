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
        check_sysctl(key, kinds, linux)
        plan.post_switch.append(steps.Sysctl(key, str(value)))


#: the sysctls a container may set, because the kernel keeps them per
#: namespace (runc's list): any other one would change the host.
_IPC_SYSCTLS = frozenset({"kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall",
                          "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced"})
_UTS_SYSCTLS = frozenset({"kernel.domainname", "kernel.hostname"})


def check_sysctl(key: str, kinds: set[str], linux: dict) -> None:
    """Refuse a ``linux.sysctl`` key that is not namespaced, or whose
    namespace the container does not have of its own (a joined one that is
    the runtime's own counts as the host's, as in runc)."""
    if not isinstance(key, str) or not key or "/" in key or any(p in ("", "..") for p in key.split(".")):
        raise ConfigError(f"linux.sysctl: invalid key {key!r}")
    if key in _IPC_SYSCTLS or key.startswith("fs.mqueue."):
        need = "ipc"
    elif key in _UTS_SYSCTLS:
        need = "uts"
    elif key.startswith("net."):
        need = "network"
    else:
        raise ConfigError(f"linux.sysctl: {key!r} is not namespaced: setting it would change the host")
    path = _by_type(linux, need).get("path")
    if need not in kinds or (path and _same_file(path, f"/proc/self/ns/{_PROC_NS[need]}")):
        raise ConfigError(f"linux.sysctl: {key!r} needs a new {need} namespace (it would change the host's)")


_PROC_NS = {"ipc": "ipc", "uts": "uts", "network": "net"}


def _same_file(a: str, b: str) -> bool:
    import os

    try:
        sa, sb = os.stat(a), os.stat(b)
    except OSError:
        return False  # a missing path is reported when the init joins it
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)

def _by_type(linux, kind):
    return next((ns for ns in linux.get("namespaces", []) if ns["type"] == kind), {})
