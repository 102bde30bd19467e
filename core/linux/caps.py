"""Linux capability names and numbers (linux/capability.h)."""

import os

CAPABILITIES = [
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
    "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER",
    "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
]
CAP_NUMBER = {name: i for i, name in enumerate(CAPABILITIES)}


_last_cap: list[int] = []  # the kernel's answer, read once per process (forks inherit it)


def last_cap() -> int:
    """The highest capability this kernel knows.

    Read once: it cannot change while the kernel runs, a plan asks it for every
    capability name, and the init must not read it after the root switch, where
    ``/proc`` may be the image's own directory (see ``init.init``)."""
    if not _last_cap:
        try:
            fd = os.open("/proc/sys/kernel/cap_last_cap", os.O_RDONLY | os.O_CLOEXEC)
            try:
                _last_cap.append(int(os.read(fd, 32)))
            finally:
                os.close(fd)
        except OSError:  # kept too: a later call must not read again (after the switch, the image's /proc)
            _last_cap.append(len(CAPABILITIES) - 1)
    return _last_cap[0]


def cap_mask(names: list[str] | None, field: str = "process.capabilities") -> int:
    """Turn capability names into a bit mask; unknown names are a ConfigError."""
    mask, top = 0, last_cap()  # read even for no names: the runtime's forks inherit the answer
    for name in names or []:
        num = CAP_NUMBER.get(name.upper())
        if num is None:
            from pycr.core.errors import ConfigError

            raise ConfigError(f"{field}: unknown capability {name!r}")
        if num <= top:
            mask |= 1 << num
    return mask
