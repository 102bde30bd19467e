"""The eBPF device filter: rule semantics checked by running the bytecode.

A tiny interpreter for the handful of opcodes the assembler emits runs the
program on (type, major, minor, access) the way the kernel would; a root
test additionally has the kernel's verifier accept it.
"""

import os
import struct

import pytest

from pycr.core import ConfigError
from pycr.plugins.cgroup_v2 import devices as dv

R, W, M = dv.ACC_READ, dv.ACC_WRITE, dv.ACC_MKNOD
C, B = dv.DEV_CHAR, dv.DEV_BLOCK


def run(program: bytes, kind: int, major: int, minor: int, access: int) -> int:
    ctx = struct.pack("<III", (access << 16) | kind, major, minor)
    regs = [0] * 11
    pc, steps = 0, 0
    insns = [struct.unpack("<BBhi", program[i:i + 8]) for i in range(0, len(program), 8)]
    mask = (1 << 64) - 1
    while True:
        steps += 1
        assert steps < 10000, "no exit"
        op, regbyte, off, imm = insns[pc]
        dst, src = regbyte & 0xF, regbyte >> 4
        pc += 1
        if op == 0x61:
            assert src == 1, "loads only from the context"
            regs[dst] = struct.unpack_from("<I", ctx, off)[0]
        elif op == 0xBF:
            regs[dst] = regs[src]
        elif op == 0xB7:
            regs[dst] = imm & mask
        elif op == 0x77:
            regs[dst] >>= imm
        elif op == 0x57:
            regs[dst] &= imm & mask
        elif op == 0x55:
            pc += off if regs[dst] != (imm & mask) else 0
        elif op == 0x15:
            pc += off if regs[dst] == (imm & mask) else 0
        elif op == 0x95:
            return regs[0]
        else:
            raise AssertionError(f"unexpected opcode {op:#x}")


DENY_ALL = {"allow": False, "access": "rwm"}


def test_empty_list_denies_everything():
    prog = dv.assemble([])
    assert run(prog, C, 1, 3, R) == 0


def test_allow_all_then_deny_one():
    prog = dv.assemble([{"allow": True, "access": "rwm"},
                        {"allow": False, "type": "c", "major": 1, "minor": 3, "access": "w"}])
    assert run(prog, C, 1, 3, R) == 1
    assert run(prog, C, 1, 3, W) == 0
    assert run(prog, C, 1, 3, R | W) == 0
    assert run(prog, C, 1, 5, W) == 1
    assert run(prog, B, 1, 3, W) == 1


def test_deny_all_then_allow_list_like_runc_defaults():
    prog = dv.assemble([DENY_ALL,
                        {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
                        {"allow": True, "type": "c", "major": 136, "access": "rw"},
                        {"allow": True, "type": "c", "major": 1, "minor": 9, "access": "r"}])
    assert run(prog, C, 1, 3, W) == 1
    assert run(prog, B, 1, 3, W) == 0          # type matters
    assert run(prog, C, 136, 7, R | W) == 1    # any minor
    assert run(prog, C, 136, 7, M) == 0        # mknod not granted
    assert run(prog, C, 1, 9, R) == 1
    assert run(prog, C, 1, 9, R | W) == 0      # partial access is not enough
    assert run(prog, C, 1, 5, R) == 0


def test_later_rule_wins_and_all_devices_rule_resets():
    prog = dv.assemble([{"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
                        {"allow": False, "type": "c", "major": 1, "minor": 3, "access": "rwm"}])
    assert run(prog, C, 1, 3, R) == 0
    prog = dv.assemble([{"allow": True, "type": "c", "major": 1, "minor": 3}, DENY_ALL])
    assert dv.normalize([{"allow": True, "type": "c", "major": 1, "minor": 3}, DENY_ALL]) == (False, [])
    assert run(prog, C, 1, 3, R) == 0


@pytest.mark.parametrize("rule, field", [({"type": "c"}, "allow"), ({"allow": True, "type": "x"}, "type"),
                                          ({"allow": True, "access": "rx"}, "access")])
def test_bad_rules_name_the_field(rule, field):
    with pytest.raises(ConfigError, match=rf"devices\[0\]\.{field}"):
        dv.assemble([rule])


@pytest.mark.root
def test_kernel_verifier_accepts_the_program():
    fd = dv.load(dv.assemble([DENY_ALL, {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rw"},
                              {"allow": False, "type": "b", "access": "m"}]))
    assert fd > 0
    os.close(fd)
