"""Turn an image config plus ``pycr run`` options into a runtime config.json.

Defaults follow docker's (moby ``oci/defaults.go`` and ``caps/defaults.go``):
its default capability set, masked and read-only paths, and the mounts of
``runc spec`` (proc, dev, devpts, shm, mqueue, sysfs).  ``User`` is resolved
through the image's own ``/etc/passwd`` and ``/etc/group``, read with
symlinks resolved *inside* the rootfs (openat2 ``RESOLVE_IN_ROOT``), never a
FIFO or device, at most 4 MiB (docs/security.md).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field

from pycr.core import ConfigError

DOCKER_CAPS = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
               "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
               "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"]
MASKED_PATHS = ["/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware",
                "/sys/devices/virtual/powercap"]
READONLY_PATHS = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
PID_MAX_LIMIT = 4 << 20  # the kernel's PID_MAX_LIMIT on 64-bit: pids.max takes no more
DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass
class RunOptions:
    """What ``pycr run`` may override (names follow ``docker run``)."""

    args: list[str] = field(default_factory=list)   # CMD... after IMAGE
    entrypoint: str | None = None
    env: list[str] = field(default_factory=list)    # K=V (or K: taken from our environment)
    workdir: str | None = None
    user: str | None = None
    hostname: str | None = None
    read_only: bool = False
    volumes: list[str] = field(default_factory=list)  # SRC:DST[:ro|rw]
    memory: str | None = None
    cpus: str | None = None
    pids_limit: int | None = None
    terminal: bool = False
    security: object = None  # has .apply(config): the confinement options (manage sets the seccomp plugin's)


def options_from_args(ns) -> RunOptions:
    """RunOptions from parsed ``pycr run``/``create`` arguments."""
    env = []
    for path in ns.env_file:
        env += read_env_file(path)
    if ns.memory is not None:
        parse_size(ns.memory)  # refused before any pull or mount, not half-way through
    if ns.cpus is not None:
        parse_cpus(ns.cpus)
    if ns.pids_limit is not None and ns.pids_limit > PID_MAX_LIMIT:
        raise ConfigError(f"--pids-limit {ns.pids_limit}: at most {PID_MAX_LIMIT} (the kernel's most pids); "
                          "0 or -1 for no limit")
    return RunOptions(
        args=list(ns.command), entrypoint=ns.entrypoint, env=env + ns.env, workdir=ns.workdir, user=ns.user,
        hostname=ns.hostname, read_only=ns.read_only, volumes=ns.volume, memory=ns.memory, cpus=ns.cpus,
        pids_limit=ns.pids_limit, terminal=bool(getattr(ns, "tty", False)))


def parse_size(text: str, what: str = "--memory", unit: int = 1024) -> int:
    """docker's sizes: ``64m``, ``1g``, ``512k`` (``b``/``ib`` may follow); ``unit`` is 1024 for
    memory (go-units' RAMInBytes) and 1000 for a log's max-size (its FromHumanSize)."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([bkmgt]?)i?b?\s*", text.lower())
    if not m:
        raise ConfigError(f"{what}: invalid size {text!r} (use e.g. 64m, 1g, 512k)")
    power = {"": 0, "b": 0, "k": 1, "m": 2, "g": 3, "t": 4}[m.group(2)]
    return int(float(m.group(1)) * unit ** power)


def parse_cpus(text: str) -> float:
    """``--cpus``: a finite number of CPUs, at least 0.01 (a quota of 1 ms per 100 ms period,
    the kernel's smallest)."""
    import math

    try:
        cpus = float(text)
    except ValueError:
        raise ConfigError(f"--cpus: invalid value {text!r}") from None
    if not math.isfinite(cpus) or cpus < 0.01:
        raise ConfigError(f"--cpus {text}: must be a number of CPUs from 0.01 up")
    return cpus


def read_env_file(path: str) -> list[str]:
    """docker's ``--env-file``: K=V lines, ``#`` comments, a bare K takes our environment's value."""
    out = []
    try:
        with open(path, "rb") as f:
            for n, raw in enumerate(f, 1):
                try:
                    line = raw.decode().strip()
                except UnicodeDecodeError:
                    raise ConfigError(f"--env-file {path}: line {n} is not UTF-8 text") from None
                if "\0" in line:
                    raise ConfigError(f"--env-file {path}: line {n} contains a NUL byte")
                if line and not line.startswith("#"):
                    out.append(line)
    except OSError as e:
        raise ConfigError(f"--env-file {path}: {e.strerror}") from None
    return out


def merge_env(base: list[str], extra: list[str]) -> list[str]:
    env: dict[str, str] = {}
    for item in base + extra:
        key, eq, value = item.partition("=")
        if not key:
            raise ConfigError(f"-e: invalid environment variable {item!r}")
        if not eq:
            if key not in os.environ:
                continue
            value = os.environ[key]
        env[key] = value
    return [f"{k}={v}" for k, v in env.items()]


def _read_db(rootfs: str, name: str) -> list[list[str]]:
    """The rows of the image's ``/etc/{name}`` (read safely: see read_container_file)."""
    from pycr.core import read_container_file

    try:
        data = read_container_file(rootfs, f"/etc/{name}")
    except ValueError as e:
        raise ConfigError(f"cannot resolve the user: {e}") from None
    except OSError:
        return []
    text = (data or b"").decode(errors="replace")
    return [line.split(":") for line in text.split("\n") if line.strip() and not line.startswith("#")]


def resolve_user(rootfs: str, spec: str | None) -> dict:
    """``user[:group]`` (names or ids) -> runtime-spec ``process.user`` with additionalGids."""
    if not spec:
        spec = "0"
    user, _, group = spec.partition(":")
    passwd = _read_db(rootfs, "passwd")
    groups = _read_db(rootfs, "group")
    uid = gid = None
    name = None
    for row in passwd:
        if len(row) >= 4 and (row[0] == user or (user.isdigit() and row[2] == user)):
            name, uid, gid = row[0], int(row[2]), int(row[3])
            break
    if uid is None:
        if not user.isdigit():
            raise ConfigError(f"-u {spec}: no user {user!r} in the image's /etc/passwd")
        uid, gid = int(user), 0
    if group:
        for row in groups:
            if len(row) >= 3 and (row[0] == group or (group.isdigit() and row[2] == group)):
                gid = int(row[2])
                break
        else:
            if not group.isdigit():
                raise ConfigError(f"-u {spec}: no group {group!r} in the image's /etc/group")
            gid = int(group)
    for what, value in (("uid", uid), ("gid", gid)):
        if not 0 <= value < 2**32 - 1:  # (uid_t)-1 means "no change" to the kernel
            raise ConfigError(f"-u {spec}: {what} {value} is out of range (0 to {2**32 - 2})")
    extra = [gid]  # as docker: the primary group is listed among the supplementary ones too
    if name is not None and not group:
        for row in groups:
            if len(row) >= 4 and name in row[3].split(",") and row[2].isdigit():
                extra.append(int(row[2]))
    return {"uid": uid, "gid": gid, "additionalGids": sorted(set(extra))}


def _home(rootfs: str, uid: int) -> str:
    for row in _read_db(rootfs, "passwd"):
        if len(row) >= 6 and row[2] == str(uid):
            return row[5] or "/"
    return "/"


IMAGE_CONFIG_ANNOTATION = "io.pycr.image.config"


def build_config(image_config: dict, rootfs: str, run: RunOptions, *, container_id: str,
                 annotations: dict | None = None) -> dict:
    """The config.json for running ``image_config`` on ``rootfs`` with ``run``'s overrides."""
    from pycr.core import default_mounts

    cfg = image_config.get("config") or {}
    entrypoint = [run.entrypoint] if run.entrypoint is not None else list(cfg.get("Entrypoint") or [])
    if run.entrypoint == "":
        entrypoint = []
    if run.args:
        cmd = list(run.args)
    elif run.entrypoint is not None:
        cmd = []  # docker: --entrypoint resets the image's Cmd
    else:
        cmd = list(cfg.get("Cmd") or [])
    args = entrypoint + cmd
    if not args:
        raise ConfigError("no command specified: the image has no Entrypoint or Cmd; give one after IMAGE")
    user = resolve_user(rootfs, run.user if run.user is not None else cfg.get("User"))
    hostname = run.hostname or container_id[:12]
    env = merge_env(list(cfg.get("Env") or []), list(run.env))
    if not any(e.startswith("PATH=") for e in env):
        env.insert(0, DEFAULT_PATH)
    env += [e for e in (f"HOSTNAME={hostname}", f"HOME={_home(rootfs, user['uid'])}")
            if not any(x.startswith(e.split("=")[0] + "=") for x in env)]
    if run.terminal and not any(e.startswith("TERM=") for e in env):
        env.append("TERM=xterm")
    cwd = run.workdir or cfg.get("WorkingDir") or "/"
    if not cwd.startswith("/"):
        raise ConfigError(f"-w {cwd}: the working directory must be absolute")
    mounts = default_mounts()
    for vol in run.volumes:
        mounts.append(_volume(vol))
    for vol in cfg.get("Volumes") or {}:
        if not any(m["destination"] == vol for m in mounts):  # anonymous volume: a private tmpfs
            mounts.append({"destination": vol, "type": "tmpfs", "source": "tmpfs",
                           "options": ["nosuid", "nodev", "mode=755"]})
    resources: dict = {"devices": [{"allow": False, "access": "rwm"}]}
    if run.memory:
        resources["memory"] = {"limit": parse_size(run.memory)}
    if run.cpus:
        resources["cpu"] = {"quota": int(parse_cpus(run.cpus) * 100000), "period": 100000}
    if run.pids_limit is not None:
        resources["pids"] = {"limit": int(run.pids_limit)}
    caps = list(DOCKER_CAPS)
    config = {
        "ociVersion": "1.0.2",
        "process": {
            "terminal": run.terminal,
            "user": user,
            "args": args,
            "env": env,
            "cwd": cwd,
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
            "noNewPrivileges": False,
        },
        "root": {"path": rootfs, "readonly": bool(run.read_only)},
        "hostname": hostname,
        "mounts": mounts,
        # the image's own config, so a hook can tell an image's explicit `User root` from no user
        "annotations": {**(annotations or {}), IMAGE_CONFIG_ANNOTATION: json.dumps(cfg, sort_keys=True)},
        "linux": {
            "resources": resources,
            "namespaces": [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount")],
            "maskedPaths": list(MASKED_PATHS),
            "readonlyPaths": list(READONLY_PATHS),
        },
    }
    if run.security is not None:
        run.security.apply(config)
    return config


def _volume(spec: str) -> dict:
    parts = spec.split(":")
    if len(parts) not in (2, 3) or not parts[0] or not parts[1]:
        raise ConfigError(f"-v {spec}: expected SRC:DST[:ro|rw]")
    src, dst = parts[0], parts[1]
    mode = parts[2] if len(parts) == 3 else "rw"
    if mode not in ("ro", "rw"):
        raise ConfigError(f"-v {spec}: mode must be ro or rw, got {mode!r}")
    if not dst.startswith("/"):
        raise ConfigError(f"-v {spec}: the destination must be absolute")
    src = os.path.abspath(src)
    if not os.path.exists(src):
        raise ConfigError(f"-v {spec}: source {src} does not exist")
    return {"destination": dst, "type": "bind", "source": src, "options": ["rbind", "rprivate", mode]}
