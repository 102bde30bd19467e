"""``pycr run``/``create``'s confinement and device options, as docker's.

``--security-opt seccomp=FILE|unconfined``, ``--security-opt
no-new-privileges[=true|false]``, ``--cap-add``/``--cap-drop`` (``ALL``
too), ``--privileged``, ``--device``, ``--ulimit``, ``--tmpfs``,
``--shm-size`` and ``--init``.  :func:`parse` checks every value before
anything is pulled or made (one line naming the option and value);
:meth:`Security.apply` then edits the config.json ``runconfig`` built.
Unless ``--privileged`` or ``seccomp=unconfined``, the container gets
docker's default seccomp profile (:mod:`.profile`).
"""

from __future__ import annotations

import os
import re
import stat

from pycr.core import ConfigError

ULIMITS = {"as": "RLIMIT_AS", "core": "RLIMIT_CORE", "cpu": "RLIMIT_CPU", "data": "RLIMIT_DATA",
           "fsize": "RLIMIT_FSIZE", "locks": "RLIMIT_LOCKS", "memlock": "RLIMIT_MEMLOCK",
           "msgqueue": "RLIMIT_MSGQUEUE", "nice": "RLIMIT_NICE", "nofile": "RLIMIT_NOFILE",
           "nproc": "RLIMIT_NPROC", "rss": "RLIMIT_RSS", "rtprio": "RLIMIT_RTPRIO", "rttime": "RLIMIT_RTTIME",
           "sigpending": "RLIMIT_SIGPENDING", "stack": "RLIMIT_STACK"}
TMPFS_KEYS = ("size", "mode", "uid", "gid", "nr_inodes", "nr_blocks", "mpol")
#: what the kernel's tmpfs takes for each value (shmem_parse_one), and how to say it; checked here, not at
#: the first start
TMPFS_VALUES = {"size": (r"\d+[kmgtpe]?|\d{1,2}%|100%", "a size (bytes, k, m, g or a percentage)"),
                "nr_blocks": (r"\d+[kmgtpe]?", "a count (k, m, g)"),
                "nr_inodes": (r"\d+[kmgtpe]?", "a count (k, m, g)"),
                "mode": (r"[0-7]{1,4}", "an octal mode"), "uid": (r"\d{1,10}", "a numeric uid"),
                "gid": (r"\d{1,10}", "a numeric gid")}
TMPFS_FLAGS = ("ro", "rw", "nosuid", "suid", "nodev", "dev", "noexec", "exec", "sync", "async", "dirsync",
               "atime", "noatime", "diratime", "nodiratime", "relatime", "norelatime", "strictatime")
INIT_BINARY = "/usr/bin/tini-static"
INIT_PATH = "/sbin/docker-init"  # where docker puts its init (tini) too
UNLIMITED = 2**64 - 1


def add_arguments(p) -> None:
    p.add_argument("--security-opt", action="append", default=[], metavar="OPT",
                   help="seccomp=PROFILE.json|unconfined, no-new-privileges[=true|false]")
    p.add_argument("--cap-add", action="append", default=[], metavar="CAP", help="add a capability (or ALL)")
    p.add_argument("--cap-drop", action="append", default=[], metavar="CAP", help="drop a capability (or ALL)")
    p.add_argument("--privileged", action="store_true",
                   help="all capabilities and host devices, no seccomp, no masked paths")
    p.add_argument("--device", action="append", default=[], metavar="HOST[:CONTAINER[:PERMS]]")
    p.add_argument("--ulimit", action="append", default=[], metavar="NAME=SOFT[:HARD]")
    p.add_argument("--tmpfs", action="append", default=[], metavar="PATH[:OPTS]")
    p.add_argument("--shm-size", metavar="SIZE")
    p.add_argument("--init", action="store_true", help="run tini as pid 1 to reap zombies and forward signals")


class Security:
    """The parsed options; :meth:`apply` edits a config.json."""

    def __init__(self):
        self.seccomp: dict | None = None  # a docker profile; None: unconfined
        self.seccomp_source: str | None = None  # "--security-opt seccomp=FILE" for the user's own profile
        self.no_new_privileges = False
        self.cap_add: list[str] = []
        self.cap_drop: list[str] = []
        self.privileged = False
        self.devices: list[dict] = []
        self.rlimits: list[dict] = []
        self.tmpfs: list[dict] = []
        self.shm_size: int | None = None
        self.init = False

    def capabilities(self, default: list[str]) -> list[str]:
        """docker's rule: ``--cap-add ALL`` is everything but the drops;
        ``--cap-drop ALL`` keeps only the adds; else default - drops + adds."""
        every = available_caps()
        if self.privileged or "ALL" in self.cap_add:
            caps = [c for c in every if c not in self.cap_drop]
        elif "ALL" in self.cap_drop:
            caps = [c for c in self.cap_add if c != "ALL"]
        else:
            caps = [c for c in default if c not in self.cap_drop] + [c for c in self.cap_add if c != "ALL"]
        from pycr.core import CAPABILITIES

        return sorted(set(caps), key=CAPABILITIES.index)

    def apply(self, config: dict) -> None:
        from . import profile

        proc, linux = config["process"], config["linux"]
        caps = self.capabilities(proc["capabilities"]["bounding"])
        proc["capabilities"] = {k: list(caps) for k in ("bounding", "effective", "permitted")}
        proc["noNewPrivileges"] = self.no_new_privileges
        if self.rlimits:
            names = {r["type"] for r in self.rlimits}
            proc["rlimits"] = [r for r in proc.get("rlimits", []) if r["type"] not in names] + self.rlimits
        devices = linux.setdefault("devices", [])
        allow = linux.setdefault("resources", {}).setdefault("devices", [])
        if self.privileged:
            linux["maskedPaths"], linux["readonlyPaths"] = [], []
            devices += host_devices()
            allow.append({"allow": True, "access": "rwm"})
            for m in config["mounts"]:  # /sys and its cgroup mount writable, as docker's privileged
                if m["destination"] in ("/sys", "/sys/fs/cgroup"):
                    m["options"] = [o for o in m.get("options", []) if o != "ro"] + ["rw"]
        for dev in self.devices:
            devices.append(dev["device"])
            allow.append(dev["allow"])
        for mount in self.tmpfs:
            config["mounts"] = [m for m in config["mounts"] if m["destination"] != mount["destination"]] + [mount]
        if self.shm_size is not None:
            for m in config["mounts"]:
                if m["destination"] == "/dev/shm":
                    m["options"] = [o for o in m.get("options", []) if not o.startswith("size=")]
                    m["options"].append(f"size={max(1, self.shm_size // 1024)}k")
        if self.init:
            config["mounts"].append({"destination": INIT_PATH, "type": "bind", "source": INIT_BINARY,
                                     "options": ["bind", "ro", "nosuid", "nodev"]})
            proc["args"] = [INIT_PATH, "--", *proc["args"]]
        if self.seccomp is not None and not self.privileged:
            profile.apply(config, self.seccomp, caps, self.seccomp_source or "seccomp profile")
            if self.seccomp_source:  # compiled now, so a bad profile fails `create`, not a later start
                from .compiler import compile_policy

                try:
                    compile_policy(config["linux"]["seccomp"], ignore_unknown=True)
                except ConfigError as e:
                    raise ConfigError(f"{self.seccomp_source}: {e}") from None


def available_caps() -> list[str]:
    """The capabilities ``ALL`` means: those in our own bounding set, as
    moby computes it (a runtime cannot grant what it does not have)."""
    from pycr.core import CAPABILITIES, last_cap

    bounding = (1 << (last_cap() + 1)) - 1
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("CapBnd:"):
                bounding = int(line.split()[1], 16)
    return [c for i, c in enumerate(CAPABILITIES[: last_cap() + 1]) if bounding >> i & 1]


def _cap_name(text: str, option: str) -> str:
    from pycr.core import CAPABILITIES

    name = text.strip().upper()
    if name == "ALL":
        return name
    if not name.startswith("CAP_"):
        name = "CAP_" + name
    if name not in CAPABILITIES:
        raise ConfigError(f"{option} {text}: unknown capability")
    return name


def parse(ns, parse_size) -> Security:
    """Check every option's value; one ConfigError line for the first bad one.
    ``parse_size(text, option)`` is the management layer's size parser (64m, 1g)."""
    from . import profile

    sec = Security()
    sec.privileged = bool(getattr(ns, "privileged", False))
    sec.init = bool(getattr(ns, "init", False))
    seccomp_path = None
    for opt in getattr(ns, "security_opt", []) or []:
        key, sep, value = opt.replace(":", "=", 1).partition("=") if opt.startswith("no-new-privileges:") \
            else opt.partition("=")
        if key == "seccomp" and sep and value:
            seccomp_path = value
        elif key == "no-new-privileges":
            if value not in ("", "true", "false"):
                raise ConfigError(f"--security-opt {opt}: no-new-privileges takes true or false")
            sec.no_new_privileges = value != "false"
        elif key == "apparmor" and value == "unconfined" or key == "label" and value == "disable":
            pass  # what pycr does anyway
        elif key in ("apparmor", "label"):
            raise ConfigError(f"--security-opt {opt}: pycr applies no AppArmor profile or SELinux label; "
                              "only apparmor=unconfined and label=disable are accepted")
        else:
            raise ConfigError(f"--security-opt {opt}: unknown option (seccomp=PROFILE.json|unconfined, "
                              "no-new-privileges[=true|false])")
    if seccomp_path != "unconfined":
        sec.seccomp_source = f"--security-opt seccomp={seccomp_path}" if seccomp_path else None
        sec.seccomp = profile.load_profile(seccomp_path, sec.seccomp_source) if seccomp_path \
            else profile.load_profile()
    sec.cap_add = [_cap_name(c, "--cap-add") for c in getattr(ns, "cap_add", []) or []]
    sec.cap_drop = [_cap_name(c, "--cap-drop") for c in getattr(ns, "cap_drop", []) or []]
    sec.devices = [parse_device(d) for d in getattr(ns, "device", []) or []]
    sec.rlimits = [parse_ulimit(u) for u in getattr(ns, "ulimit", []) or []]
    sec.tmpfs = [parse_tmpfs(t) for t in getattr(ns, "tmpfs", []) or []]
    if getattr(ns, "shm_size", None) is not None:
        sec.shm_size = parse_size(ns.shm_size, "--shm-size")
        if sec.shm_size <= 0:
            raise ConfigError(f"--shm-size {ns.shm_size}: must be more than 0")
    if sec.init and not os.path.isfile(INIT_BINARY):
        raise ConfigError(f"--init: {INIT_BINARY} is missing (install Debian's tini package)")
    return sec


def _device_entry(host: str, container: str, st, perms: str) -> dict:
    kind = "c" if stat.S_ISCHR(st.st_mode) else "b"
    major, minor = os.major(st.st_rdev), os.minor(st.st_rdev)
    return {"device": {"path": container, "type": kind, "major": major, "minor": minor,
                       "fileMode": stat.S_IMODE(st.st_mode), "uid": 0, "gid": 0},
            "allow": {"allow": True, "type": kind, "major": major, "minor": minor, "access": perms}}


def parse_device(spec: str) -> dict:
    parts = spec.split(":")
    if not 1 <= len(parts) <= 3 or not parts[0]:
        raise ConfigError(f"--device {spec}: expected HOST[:CONTAINER[:PERMS]]")
    host = parts[0]
    perms = "rwm"
    container = host
    if len(parts) == 3:
        container, perms = parts[1], parts[2]
    elif len(parts) == 2:
        if parts[1] and set(parts[1]) <= set("rwm"):
            perms = parts[1]
        else:
            container = parts[1]
    if not perms or not set(perms) <= set("rwm"):
        raise ConfigError(f"--device {spec}: permissions {perms!r} must be letters of rwm")
    if not host.startswith("/") or not container.startswith("/"):
        raise ConfigError(f"--device {spec}: paths must be absolute")
    try:
        st = os.stat(host)
    except OSError as e:
        raise ConfigError(f"--device {spec}: {host}: {e.strerror}") from None
    if not (stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)):
        raise ConfigError(f"--device {spec}: {host} is not a character or block device")
    return _device_entry(host, container, st, perms)


def host_devices() -> list[dict]:
    """Every device node under the host's /dev (``--privileged``), as docker lists them."""
    out = []
    for dirpath, dirnames, filenames in os.walk("/dev"):
        dirnames[:] = [d for d in dirnames if os.path.join(dirpath, d) not in ("/dev/pts", "/dev/shm", "/dev/mqueue")]
        for name in filenames:
            path = os.path.join(dirpath, name)
            try:
                st = os.lstat(path)
            except OSError:
                continue
            if (stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)) and path != "/dev/console":
                entry = _device_entry(path, path, st, "rwm")["device"]
                entry.update(uid=st.st_uid, gid=st.st_gid)
                out.append(entry)
    return out


def parse_ulimit(spec: str) -> dict:
    name, eq, values = spec.partition("=")
    if not eq or name not in ULIMITS:
        raise ConfigError(f"--ulimit {spec}: expected NAME=SOFT[:HARD] with NAME one of {', '.join(ULIMITS)}")
    soft_text, _, hard_text = values.partition(":")
    nums = []
    for text in (soft_text, hard_text or soft_text):
        if text in ("-1", "unlimited"):
            nums.append(UNLIMITED)
            continue
        if not text.isascii() or not text.isdigit():
            raise ConfigError(f"--ulimit {spec}: {text!r} is not a number (or -1/unlimited)")
        if int(text) > UNLIMITED:  # setrlimit takes 64 bits: a bigger number would wrap around
            raise ConfigError(f"--ulimit {spec}: {text} is more than {UNLIMITED} (use -1 or unlimited)")
        nums.append(int(text))
    soft, hard = nums
    if soft > hard:
        raise ConfigError(f"--ulimit {spec}: soft limit {soft} exceeds hard limit {hard}")
    return {"type": ULIMITS[name], "soft": soft, "hard": hard}


def parse_tmpfs(spec: str) -> dict:
    path, _, opts = spec.partition(":")
    if not path.startswith("/") or path == "/":
        raise ConfigError(f"--tmpfs {spec}: the path must be absolute and not /")
    options = ["nosuid", "nodev", "noexec"]  # docker's defaults; the user's options come after
    for opt in filter(None, opts.split(",")):
        key, eq, value = opt.partition("=")
        if eq and key in TMPFS_KEYS and value:
            pattern, text = TMPFS_VALUES.get(key, (None, ""))
            if pattern and not re.fullmatch(pattern, value, re.IGNORECASE):
                raise ConfigError(f"--tmpfs {spec}: {key}={value!r} is not {text}")
            options.append(opt)
        elif not eq and opt in TMPFS_FLAGS:
            options.append(opt)
        else:
            raise ConfigError(f"--tmpfs {spec}: unknown option {opt!r}")
    return {"destination": os.path.normpath(path), "type": "tmpfs", "source": "tmpfs", "options": options}
