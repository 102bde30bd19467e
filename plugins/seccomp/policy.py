"""``linux.seccomp`` as the runtime-spec defines it: names, checks, and the
numbers the kernel uses -- everything that does not need libseccomp.

Actions, operators, architectures and flags are the runtime-spec's names;
each maps to the kernel's value (``SECCOMP_RET_*``, ``SECCOMP_FILTER_FLAG_*``)
or libseccomp's (``scmp_compare``, ``SCMP_ARCH_*`` -> the binding's
``Arch`` attribute).  A bad value is one line naming its JSON path.
"""

from __future__ import annotations

import errno

from pycr.core import ConfigError

#: SECCOMP_RET_* (linux/seccomp.h); ERRNO and TRACE carry a 16-bit data part.
ACTIONS = {
    "SCMP_ACT_KILL": 0x00000000, "SCMP_ACT_KILL_THREAD": 0x00000000, "SCMP_ACT_KILL_PROCESS": 0x80000000,
    "SCMP_ACT_TRAP": 0x00030000, "SCMP_ACT_ERRNO": 0x00050000, "SCMP_ACT_TRACE": 0x7FF00000,
    "SCMP_ACT_LOG": 0x7FFC0000, "SCMP_ACT_ALLOW": 0x7FFF0000, "SCMP_ACT_NOTIFY": 0x7FC00000,
}
WITH_DATA = ("SCMP_ACT_ERRNO", "SCMP_ACT_TRACE")
#: libseccomp's enum scmp_compare
OPERATORS = {"SCMP_CMP_NE": 1, "SCMP_CMP_LT": 2, "SCMP_CMP_LE": 3, "SCMP_CMP_EQ": 4, "SCMP_CMP_GE": 5,
             "SCMP_CMP_GT": 6, "SCMP_CMP_MASKED_EQ": 7}
#: runtime-spec name -> the libseccomp binding's ``Arch`` attribute
ARCHES = {
    "SCMP_ARCH_X86": "X86", "SCMP_ARCH_X86_64": "X86_64", "SCMP_ARCH_X32": "X32", "SCMP_ARCH_ARM": "ARM",
    "SCMP_ARCH_AARCH64": "AARCH64", "SCMP_ARCH_MIPS": "MIPS", "SCMP_ARCH_MIPS64": "MIPS64",
    "SCMP_ARCH_MIPS64N32": "MIPS64N32", "SCMP_ARCH_MIPSEL": "MIPSEL", "SCMP_ARCH_MIPSEL64": "MIPSEL64",
    "SCMP_ARCH_MIPSEL64N32": "MIPSEL64N32", "SCMP_ARCH_PPC": "PPC", "SCMP_ARCH_PPC64": "PPC64",
    "SCMP_ARCH_PPC64LE": "PPC64LE", "SCMP_ARCH_S390": "S390", "SCMP_ARCH_S390X": "S390X",
    "SCMP_ARCH_PARISC": "PARISC", "SCMP_ARCH_PARISC64": "PARISC64", "SCMP_ARCH_RISCV64": "RISCV64",
}
#: SECCOMP_FILTER_FLAG_* the spec lets a config ask for (passed to seccomp(2) as given)
FLAGS = {"SECCOMP_FILTER_FLAG_TSYNC": 1, "SECCOMP_FILTER_FLAG_LOG": 2, "SECCOMP_FILTER_FLAG_SPEC_ALLOW": 4,
         "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV": 32}
FLAG_NEW_LISTENER = 8
FLAG_TSYNC_ESRCH = 16


def action_value(name, errno_ret, where: str, errno_field: str = "errnoRet") -> int:
    """The SECCOMP_RET_* value of an action, with its errno (ERRNO, TRACE:
    EPERM unless given; the spec makes an errno on any other action an error)."""
    if name not in ACTIONS:
        raise ConfigError(f"{where}: unknown action {name!r} (one of: {', '.join(ACTIONS)})")
    value = ACTIONS[name]
    if name not in WITH_DATA:
        if errno_ret is not None:
            raise ConfigError(f"{where}: {name} takes no {errno_field} (only SCMP_ACT_ERRNO and SCMP_ACT_TRACE do)")
        return value
    data = errno.EPERM if errno_ret is None else errno_ret
    if not isinstance(data, int) or isinstance(data, bool) or not 0 <= data <= 0xFFFF:
        raise ConfigError(f"{where}: {errno_field} must be an integer 0..65535, got {data!r}")
    return value | data


def load_flags(seccomp: dict) -> int:
    """The flags for seccomp(SECCOMP_SET_MODE_FILTER): the config's, plus a
    listener when an action is NOTIFY (the init is single-threaded, so TSYNC,
    which the kernel refuses next to NEW_LISTENER, becomes TSYNC_ESRCH)."""
    flags = 0
    if not isinstance(seccomp.get("flags") or [], list):
        raise ConfigError(f"linux.seccomp.flags: expected a list of flag names, got {seccomp['flags']!r:.60}")
    for i, name in enumerate(seccomp.get("flags") or []):
        if name not in FLAGS:
            raise ConfigError(f"linux.seccomp.flags[{i}]: unknown flag {name!r} (one of: {', '.join(FLAGS)})")
        flags |= FLAGS[name]
    if uses_notify(seccomp):
        flags |= FLAG_NEW_LISTENER
        if flags & FLAGS["SECCOMP_FILTER_FLAG_TSYNC"]:
            flags |= FLAG_TSYNC_ESRCH
    return flags


def uses_notify(seccomp: dict) -> bool:
    return seccomp.get("defaultAction") == "SCMP_ACT_NOTIFY" or any(
        (rule or {}).get("action") == "SCMP_ACT_NOTIFY" for rule in seccomp.get("syscalls") or [])


def check_listener(seccomp: dict) -> None:
    """runtime-spec: NOTIFY needs a listenerPath, and a listenerPath needs NOTIFY."""
    path = seccomp.get("listenerPath")
    if uses_notify(seccomp) and not path:
        raise ConfigError("linux.seccomp.listenerPath: SCMP_ACT_NOTIFY is used but no listenerPath is set")
    if path and not path.startswith("/"):
        raise ConfigError(f"linux.seccomp.listenerPath: must be an absolute path, got {path!r}")
    if seccomp.get("defaultAction") == "SCMP_ACT_NOTIFY":
        raise ConfigError("linux.seccomp.defaultAction: SCMP_ACT_NOTIFY cannot be the default action "
                          "(the runtime's own syscalls before execve would wait on the listener)")
