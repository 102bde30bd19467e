"""When the exec stub serves an init, and the executable it lays out (logic; the real
kernel runs it in tests/integration/test_exec_stub.py)."""

from __future__ import annotations

import os

import pytest

from pycr.core.linux import exec_stub
from pycr.core.runtime.init import exec_failure

PLAIN = {"process": {"args": ["true"]}, "linux": {"namespaces": [{"type": "pid"}, {"type": "mount"}]}}


@pytest.mark.parametrize("change, usable", [
    ({}, True),
    ({"linux": {"namespaces": [{"type": "mount"}]}}, False),                                  # the host's pid ns
    ({"linux": {"namespaces": [{"type": "pid", "path": "/proc/1/ns/pid"}]}}, False),          # a joined one
    ({"hooks": {"startContainer": [{"path": "/bin/true"}]}}, False),                          # Python after start
    ({"hooks": {"prestart": [{"path": "/bin/true"}], "startContainer": []}}, True),
    ({"process": {"args": []}}, False),
    ({"process": None}, False),
    ({"linux": {**PLAIN["linux"], "seccomp": {"defaultAction": "SCMP_ACT_ALLOW"}}}, True),
    ({"linux": {**PLAIN["linux"], "seccomp": {"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
        {"names": ["read", "prctl"], "action": "SCMP_ACT_ALLOW"}]}}}, True),
    ({"linux": {**PLAIN["linux"], "seccomp": {"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
        {"names": ["read"], "action": "SCMP_ACT_ALLOW"}]}}}, False),                       # refused by default
    ({"linux": {**PLAIN["linux"], "seccomp": {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["prctl"], "action": "SCMP_ACT_KILL"}]}}}, False),
    ({"linux": {**PLAIN["linux"], "seccomp": {"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
        {"names": ["prctl"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 15, "op": "SCMP_CMP_EQ"}]}]}}},
     False),                                                                                # only some options
])
def test_usable(change, usable, monkeypatch):
    monkeypatch.setattr(os, "uname", lambda: os.uname_result(("Linux", "h", "6", "1", "x86_64")))
    assert exec_stub.usable({**PLAIN, **change}) is usable


def test_not_on_another_architecture(monkeypatch):
    monkeypatch.setattr(os, "uname", lambda: os.uname_result(("Linux", "h", "6", "1", "aarch64")))
    assert not exec_stub.usable(PLAIN)


def _u(data, at, size):
    return int.from_bytes(data[at:at + size], "little")


def test_the_image_is_one_loadable_segment_with_its_parameters():
    ready = b'{"type": "ready"}\n'
    exe = "/bin/caf\u00e9"
    messages = [f"{exec_failure(exe, OSError(n, ''))}\n".encode() for n in range(exec_stub.MAX_ERRNO + 1)]
    data = exec_stub.image(exe, 7, 9, ready, messages)
    assert data[:4] == b"\x7fELF" and _u(data, 16, 2) == 2 and _u(data, 18, 2) == 0x3E
    entry, phoff, phnum = _u(data, 24, 8), _u(data, 32, 8), _u(data, 56, 2)
    assert (phoff, phnum) == (64, 2)
    assert _u(data, 64, 4) == 1 and _u(data, 64 + 32, 8) == len(data)       # PT_LOAD: the whole file
    assert _u(data, 120, 4) == 0x6474E551 and _u(data, 124, 4) == 6         # stack: RW, not executable
    code = entry - 0x400000
    assert data[code:code + len(exec_stub.CODE)] == exec_stub.CODE
    params = code + len(exec_stub.CODE)
    assert (_u(data, params, 4), _u(data, params + 4, 4), _u(data, params + 8, 4)) == (7, 9, len(ready))
    assert data[params + _u(data, params + 16, 8):][:len(ready)] == ready
    assert data[params + _u(data, params + 24, 8):].split(b"\0")[0] == b"/proc/self/fd/9"
    assert data[params + _u(data, params + 32, 8):].split(b"\0")[0] == "/bin/caf\u00e9".encode()
    table = params + _u(data, params + 40, 8)
    for errno in (0, 2, 8, 7, exec_stub.MAX_ERRNO):
        off, size = _u(data, table + 8 * errno, 4), _u(data, table + 8 * errno + 4, 4)
        reason = os.strerror(errno).lower() if errno else "invalid argument"
        assert data[params + off:params + off + size] == f"exec /bin/caf\u00e9: {reason}\n".encode()
