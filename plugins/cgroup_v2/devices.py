"""The v2 device allow-list: an eBPF ``BPF_PROG_TYPE_CGROUP_DEVICE`` program.

cgroup v2 has no ``devices`` controller.  As runc and crun do, the OCI rules
of ``linux.resources.devices`` are compiled into a small eBPF program that
the kernel runs on every open/mknod of a device node by a task in the
cgroup; it returns 1 (allow) or 0 (deny).  The program reads
``struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; }``,
where ``access_type`` is ``(access << 16) | type``.

Rule semantics (v1-compatible where it matters): rules apply in order; a
rule for every device (type ``a``, no major/minor) discards the rules before
it and sets the default; the program then checks the remaining rules from
the last to the first and the first match decides.  The default is deny.

The bytecode is assembled here and loaded with the ``bpf(2)`` syscall
through libc's syscall(2) (pycr.core.libc); no libbpf or compiler is needed.
"""

from __future__ import annotations

import os
import struct
from typing import Any

from pycr.core import ConfigError, PycrError

# bpf_cgroup_dev_ctx encodings (uapi/linux/bpf.h)
DEV_BLOCK, DEV_CHAR = 1, 2
ACC_MKNOD, ACC_READ, ACC_WRITE = 1, 2, 4
_ACCESS = {"m": ACC_MKNOD, "r": ACC_READ, "w": ACC_WRITE}
_TYPES = {"b": DEV_BLOCK, "c": DEV_CHAR}

# bpf(2) commands, program and attach types
BPF_PROG_LOAD, BPF_PROG_ATTACH, BPF_PROG_DETACH = 5, 8, 9
BPF_PROG_TYPE_CGROUP_DEVICE = 15
BPF_CGROUP_DEVICE = 6
_SYS_BPF = {"x86_64": 321, "aarch64": 280, "ppc64le": 361, "s390x": 351, "riscv64": 280}

# opcodes used (class | op | source)
_LDXW = 0x61      # dst = *(u32 *)(src + off)
_MOV64_X = 0xBF   # dst = src
_MOV64_K = 0xB7   # dst = imm
_RSH64_K = 0x77   # dst >>= imm
_AND64_K = 0x57   # dst &= imm
_JNE_K = 0x55     # if dst != imm goto pc + off
_JEQ_K = 0x15     # if dst == imm goto pc + off
_EXIT = 0x95

R0, R1, R2, R3, R4, R5 = range(6)


def _insn(op: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    return struct.pack("<BBhi", op, (src << 4) | dst, off, imm)


def normalize(devices: list[dict[str, Any]]) -> tuple[bool, list[tuple[bool, int | None, int | None, int | None, int]]]:
    """(default_allow, rules) after the "all devices" resets; rules are
    (allow, type or None for any, major or None, minor or None, access mask)."""
    default_allow = False
    rules: list[tuple[bool, int | None, int | None, int | None, int]] = []
    for i, d in enumerate(devices):
        where = f"linux.resources.devices[{i}]"
        if "allow" not in d:
            raise ConfigError(f"{where}.allow: missing")
        kind = d.get("type") or "a"
        if kind not in ("a", "b", "c"):
            raise ConfigError(f"{where}.type: {kind!r} is not one of a, b, c")
        access = d.get("access") or "rwm"
        mask = 0
        for ch in access:
            if ch not in _ACCESS:
                raise ConfigError(f"{where}.access: {access!r} has {ch!r} (allowed: r, w, m)")
            mask |= _ACCESS[ch]
        major, minor = d.get("major"), d.get("minor")
        major = None if major is None or major < 0 else int(major)
        minor = None if minor is None or minor < 0 else int(minor)
        if kind == "a" and major is None and minor is None and mask == 7:
            default_allow, rules = bool(d["allow"]), []
            continue
        rules.append((bool(d["allow"]), _TYPES.get(kind), major, minor, mask))
    return default_allow, rules


def assemble(devices: list[dict[str, Any]]) -> bytes:
    """The eBPF program (little-endian instructions) for the OCI device rules."""
    default_allow, rules = normalize(devices)
    prog = [
        _insn(_LDXW, R2, R1, 0),          # r2 = access_type
        _insn(_MOV64_X, R3, R2),          # r3 = access_type >> 16 (access bits)
        _insn(_RSH64_K, R3, imm=16),
        _insn(_AND64_K, R2, imm=0xFFFF),  # r2 = device type
        _insn(_LDXW, R4, R1, 4),          # r4 = major
        _insn(_LDXW, R5, R1, 8),          # r5 = minor
    ]
    for allow, kind, major, minor, mask in reversed(rules):
        # each check jumps to the end of this rule's block when it does not match
        checks: list[tuple[int, int, int]] = []  # (opcode, register, imm) of a "skip" jump
        if kind is not None:
            checks.append((_JNE_K, R2, kind))
        pre: list[bytes] = []
        if allow and mask != 7:
            # allow only if every requested access bit is in the rule
            pre = [_insn(_MOV64_X, R1, R3), _insn(_AND64_K, R1, imm=7 & ~mask)]
            access_check = (_JNE_K, R1, 0)
        elif not allow and mask != 7:
            # deny if any requested access bit is in the rule
            pre = [_insn(_MOV64_X, R1, R3), _insn(_AND64_K, R1, imm=mask)]
            access_check = (_JEQ_K, R1, 0)
        else:
            access_check = None
        if major is not None:
            checks.append((_JNE_K, R4, major))
        if minor is not None:
            checks.append((_JNE_K, R5, minor))
        tail = [_insn(_MOV64_K, R0, imm=1 if allow else 0), _insn(_EXIT)]
        block: list[tuple[str, Any]] = [("jump", c) for c in checks]
        block += [("raw", x) for x in pre]
        if access_check:
            block.append(("jump", access_check))
        block += [("raw", x) for x in tail]
        for idx, (what, item) in enumerate(block):
            if what == "raw":
                prog.append(item)
            else:
                op, reg, imm = item
                prog.append(_insn(op, reg, 0, len(block) - idx - 1, imm))
    prog += [_insn(_MOV64_K, R0, imm=1 if default_allow else 0), _insn(_EXIT)]
    return b"".join(prog)


def _bpf(cmd: int, attr: bytes) -> int:
    from pycr.core import libc

    machine = os.uname().machine
    nr = _SYS_BPF.get(machine)
    if nr is None:
        raise PycrError(f"linux.resources.devices: bpf(2) syscall number unknown on {machine}")
    ret = libc.syscall(nr, cmd, libc.buffer(attr), len(attr))
    if ret < 0:
        err = libc.get_errno()
        raise OSError(err, os.strerror(err))
    return ret


def load(program: bytes) -> int:
    """Load the program; returns its fd.  The kernel's verifier log is in the error."""
    from pycr.core import libc

    insns = libc.buffer(program)
    license_ = libc.buffer(b"Apache-2.0\0")
    log = libc.buffer(bytes(65536))
    attr = struct.pack("<IIQQIIQII16sII", BPF_PROG_TYPE_CGROUP_DEVICE, len(program) // 8,
                       libc.addressof(insns), libc.addressof(license_), 1, len(log),
                       libc.addressof(log), 0, 0, b"pycr_devices", 0, BPF_CGROUP_DEVICE)
    try:
        return _bpf(BPF_PROG_LOAD, attr + b"\0" * (128 - len(attr)))
    except OSError as e:
        detail = log.value.decode(errors="replace").strip().splitlines()[-1:] or [""]
        raise PycrError(f"linux.resources.devices: BPF_PROG_LOAD failed: {e.strerror} {detail[0]}".rstrip()) from None


def attach(cgroup_dir: str, devices: list[dict[str, Any]]) -> None:
    """Compile, load and attach the allow-list to ``cgroup_dir`` (replacing ours)."""
    prog_fd = load(assemble(devices))
    try:
        cg_fd = os.open(cgroup_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            # flags 0: one program per cgroup, a later attach replaces it (live update)
            _bpf(BPF_PROG_ATTACH, struct.pack("<IIIII", cg_fd, prog_fd, BPF_CGROUP_DEVICE, 0, 0))
        except OSError as e:
            raise PycrError(f"linux.resources.devices: cannot attach the device filter to {cgroup_dir}: "
                            f"{e.strerror}") from None
        finally:
            os.close(cg_fd)
    finally:
        os.close(prog_fd)  # the attachment holds its own reference
