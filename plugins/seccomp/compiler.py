"""Compile ``linux.seccomp`` to a classic BPF program with libseccomp.

libseccomp (the C library runc and crun use) is reached through a binding:
the distribution's own (``import seccomp``, Debian's python3-seccomp) when
it is importable, else ``pyseccomp`` (PyPI, ctypes, the same API).  Only this
module imports it, and only on a cache miss (see :mod:`.compiled`).

The rules follow runc's reading of the spec: a rule whose action is the
default one is skipped, several conditions on one argument become one rule
each (libseccomp can only AND conditions on distinct arguments), and a
syscall numbered above every syscall the policy names gets ENOSYS instead of
the default action (runc's "ENOSYS stub"), so a program probing a syscall
newer than the profile falls back as it would on an older kernel.
"""

from __future__ import annotations

import errno
import os
import struct
import tempfile

from pycr.core import ConfigError

from . import policy

AUDIT_ARCH_X86_64 = 0xC000003E
X32_SYSCALL_BIT = 0x40000000
_INSN = struct.Struct("=HBBI")  # struct sock_filter: code, jt, jf, k
# BPF opcodes (linux/bpf_common.h)
_LD_W_ABS, _JEQ_K, _JGE_K, _JGT_K, _RET_K = 0x20, 0x15, 0x35, 0x25, 0x06


def binding():
    try:
        import seccomp  # the distribution's binding (python3-seccomp)
    except ImportError:
        import pyseccomp as seccomp
    return seccomp


def compile_policy(seccomp: dict, ignore_unknown: bool = False) -> bytes:
    """The BPF program (raw ``struct sock_filter`` array) for a policy, or
    ConfigError naming the first bad field.  ``ignore_unknown``: skip syscall
    names libseccomp does not know (docker's profiles, as runc does) instead
    of refusing them."""
    lib = binding()
    if not isinstance(seccomp, dict):
        raise ConfigError("linux.seccomp: must be an object")
    default = policy.action_value(seccomp.get("defaultAction"), seccomp.get("defaultErrnoRet"),
                                  "linux.seccomp.defaultAction", "defaultErrnoRet")
    policy.load_flags(seccomp)
    flt = lib.SyscallFilter(default)
    try:  # a binary tree of syscall numbers: fewer instructions per syscall than a linear list
        flt.set_attr(lib.Attr.CTL_OPTIMIZE, 2)
    except (AttributeError, OSError):
        pass  # an older libseccomp: the linear program decides the same
    if not isinstance(seccomp.get("architectures") or [], list) or not isinstance(seccomp.get("syscalls") or [], list):
        raise ConfigError("linux.seccomp.architectures and linux.seccomp.syscalls: expected lists")
    for i, name in enumerate(seccomp.get("architectures") or []):
        attr = policy.ARCHES.get(name)
        arch = getattr(lib.Arch, attr, None) if attr else None
        if arch is None:
            raise ConfigError(f"linux.seccomp.architectures[{i}]: unknown architecture {name!r}")
        try:
            flt.add_arch(arch)
        except OSError as e:
            if e.errno != errno.EEXIST:  # the native arch is always there
                raise ConfigError(f"linux.seccomp.architectures[{i}]: {name}: {e.strerror}") from None
    highest = -1
    for i, rule in enumerate(seccomp.get("syscalls") or []):
        where = f"linux.seccomp.syscalls[{i}]"
        if not isinstance(rule, dict) or not rule.get("names"):
            raise ConfigError(f"{where}.names: at least one syscall name is required")
        action = policy.action_value(rule.get("action"), rule.get("errnoRet"), f"{where}.action")
        if not isinstance(rule.get("args") or [], list):
            raise ConfigError(f"{where}.args: expected a list of {{index, value, op}}, got {rule['args']!r:.60}")
        if not isinstance(rule["names"], list):
            raise ConfigError(f"{where}.names: expected a list of syscall names, got {rule['names']!r:.60}")
        conditions = [_condition(lib, arg, f"{where}.args[{k}]") for k, arg in enumerate(rule.get("args") or [])]
        indexes = [a["index"] for a in rule.get("args") or []]
        groups = [[c] for c in conditions] if len(set(indexes)) < len(indexes) else [conditions]
        for j, name in enumerate(rule["names"]):
            nr = lib.resolve_syscall(lib.Arch.NATIVE, name) if isinstance(name, str) else -1
            if nr == -1 and ignore_unknown:
                continue
            if nr == -1:  # __NR_SCMP_ERROR: libseccomp knows no syscall of that name on any arch
                raise ConfigError(f"{where}.names[{j}]: unknown syscall {name!r}")
            highest = max(highest, nr)
            if action == default:
                continue  # libseccomp refuses it; the default does the same
            for group in groups:
                try:
                    flt.add_rule(action, nr, *group)
                except OSError as e:
                    raise ConfigError(f"{where}.names[{j}]: {name}: libseccomp refused the rule: "
                                      f"{e.strerror}") from None
    with tempfile.TemporaryFile() as f:
        flt.export_bpf(f)
        f.seek(0)
        prog = f.read()
    if default not in (policy.ACTIONS["SCMP_ACT_ALLOW"], policy.ACTIONS["SCMP_ACT_LOG"]) and highest >= 0:
        prog = enosys_stub(highest) + prog
    return prog


def _condition(lib, arg, where: str):
    if not isinstance(arg, dict):
        raise ConfigError(f"{where}: must be an object with index, value, op")
    index, op = arg.get("index"), arg.get("op")
    if not isinstance(index, int) or not 0 <= index <= 5:
        raise ConfigError(f"{where}.index: must be 0..5, got {index!r}")
    if op not in policy.OPERATORS:
        raise ConfigError(f"{where}.op: unknown operator {op!r} (one of: {', '.join(policy.OPERATORS)})")
    values = [arg.get("value", 0), arg.get("valueTwo", 0)]
    for name, v in zip(("value", "valueTwo"), values):
        if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v < 2**64:
            raise ConfigError(f"{where}.{name}: must be an unsigned 64-bit integer, got {v!r}")
    return lib.Arg(index, policy.OPERATORS[op], *values)


def enosys_stub(highest: int) -> bytes:
    """Instructions run before libseccomp's program: on the native arch, a
    syscall numbered above ``highest`` returns ENOSYS (x32 numbers, which
    carry bit 30, are left to libseccomp)."""
    if os.uname().machine != "x86_64":
        return b""  # only x86_64's numbering is known here; elsewhere the default action applies
    ins = [
        (_LD_W_ABS, 0, 0, 4),                       # A = seccomp_data.arch
        (_JEQ_K, 0, 4, AUDIT_ARCH_X86_64),          # another arch: to libseccomp
        (_LD_W_ABS, 0, 0, 0),                       # A = seccomp_data.nr
        (_JGE_K, 2, 0, X32_SYSCALL_BIT),            # x32: to libseccomp
        (_JGT_K, 0, 1, highest),
        (_RET_K, 0, 0, policy.ACTIONS["SCMP_ACT_ERRNO"] | errno.ENOSYS),
    ]
    return b"".join(_INSN.pack(*i) for i in ins)
