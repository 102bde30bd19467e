"""The exec stub: how a container's init leaves Python without the runtime's re-exec.

CVE-2019-5736 (docs/security.md, class 1) needs a container process whose
``/proc/PID/exe`` is the host's interpreter: a joining process, or the init
itself once a ``#!/proc/self/exe`` entrypoint makes the kernel run
``/proc/self/exe`` as the container's process.  :mod:`pycr.core.linux.exe`
defends by re-executing the whole runtime from a read-only view of the
interpreter -- a second interpreter start (~13 ms) on every ``create``.

For a container with a pid namespace of its own and no ``startContainer``
hooks, no container process exists before its init: the init is the only
place the interpreter could be reached.  So, instead, the init ends its Python
part by executing this stub -- ~300 bytes of x86_64 code (``exec_stub.S``) in
a sealed memfd -- *before* it tells the runtime READY.  The stub makes itself
non-dumpable again (as the Python init was), sends READY, waits for ``start``
on the exec fifo and ``execve``s the process.  From then on
``/proc/1/exe`` is the memfd, and a ``#!/proc/self/exe`` entrypoint runs the
stub again (which finds its channel closed and exits 1), never Python.

Why hand-written machine code: the stub must be an executable that is not a
file on the host, with no interpreter and no libc (a dynamic program would map
the host's ld.so and libc, the same class of handle); no packaged tool does
this small job.  ``scripts/gen_exec_stub.py`` assembles ``exec_stub.S`` with
binutils and writes :data:`CODE`; ``tests/meta/test_exec_stub_source.py`` fails
when the two differ.
"""

from __future__ import annotations

import os

#: exec_stub.S assembled (scripts/gen_exec_stub.py); the parameter block follows it
CODE = bytes.fromhex(
    "4c8d2539010000bf0400000031f631d24531d24531c0b89d0000000f05bf9cffffff488d35fa000000ba0100000045"
    "31d2b8010100000f0585c0782089c389c7488d35ec000000ba0b000000b8010000000f0589dfb8030000000f05418b"
    "3c24498b7424104c01e6418b542408b8010000000f05413b4424080f8597000000418b3c24b8030000000f05bf9cff"
    "ffff498b7424184c01e6ba010008004531d2b8010100000f0585c0786c89c7488d358b000000ba01000000b8010000"
    "000f0583f8017552418b7c2404b8030000000f05498b7c24204c01e7488d742408488b0424488d54c410b83b000000"
    "0f05f7d8413b44240c760231c0498b4c24284c01e18b34c18b54c1044c01e6bf02000000b8010000000f05bf010000"
    "00b8e70000000f05f42f70726f632f73656c662f636f6d6d00707963723a5b696e69745d3000"
)
_BASE = 0x400000
_HEADERS = 64 + 2 * 56  # ELF header, PT_LOAD and PT_GNU_STACK
_PARAMS = 48
MAX_ERRNO = 133
MFD_EXEC = 0x10  # Linux 6.3+: executable even where vm.memfd_noexec says otherwise
_SEALS = 0x1 | 0x2 | 0x4 | 0x8  # F_SEAL_SEAL, SHRINK, GROW, WRITE


def usable(config: dict) -> bool:
    """Whether this container's init can end through the stub: x86_64 (the code's
    architecture), a process to run, no ``startContainer`` hooks (they run in Python
    after start), a pid namespace of its own (a joined or the host's one holds
    other processes that could watch the init while it is still Python) and a
    seccomp profile that allows the stub's calls."""
    if os.uname().machine != "x86_64":
        return False
    if not (config.get("process") or {}).get("args") or (config.get("hooks") or {}).get("startContainer"):
        return False
    linux = config.get("linux") or {}
    spaces = linux.get("namespaces") or []
    return any(ns.get("type") == "pid" and not ns.get("path") for ns in spaces) and _allows_prctl(linux.get("seccomp"))


_ALLOW = ("SCMP_ACT_ALLOW", "SCMP_ACT_LOG")


def _allows_prctl(seccomp: dict | None) -> bool:
    """Whether a seccomp profile surely lets the stub's ``prctl(PR_SET_DUMPABLE)``
    through (it runs after the filter): every rule naming prctl allows it and one
    does so for any argument, or none names it and the default allows.  Anything
    less certain keeps the Python init and the re-exec."""
    if not seccomp:
        return True
    rules = [r for r in seccomp.get("syscalls") or [] if "prctl" in (r.get("names") or [])]
    if rules:
        return all(r.get("action") in _ALLOW for r in rules) and any(not r.get("args") for r in rules)
    return seccomp.get("defaultAction") in _ALLOW


def _u32(n: int) -> bytes:
    return n.to_bytes(4, "little")


def _u64(n: int) -> bytes:
    return n.to_bytes(8, "little")


def image(exe: str, channel_fd: int, fifo_fd: int, ready: bytes, messages: list[bytes]) -> bytes:
    """The stub as an ELF executable for one init: its channel and fifo fds, the
    READY line it sends, the executable it runs, and ``messages[errno]`` (0 to
    :data:`MAX_ERRNO`), what it writes to stderr when execve answers that errno
    (the init's ``exec_failure``; index 0 for an errno beyond the table)."""
    assert len(messages) == MAX_ERRNO + 1
    path = os.fsencode(exe)
    strings = [ready, f"/proc/self/fd/{fifo_fd}".encode() + b"\0", path + b"\0"]
    offset = _PARAMS + 8 * len(messages)
    where = []
    for s in strings + messages:
        where.append(offset)
        offset += len(s)
    table = b"".join(_u32(where[3 + n]) + _u32(len(m)) for n, m in enumerate(messages))
    params = (_u32(channel_fd) + _u32(fifo_fd) + _u32(len(ready)) + _u32(MAX_ERRNO)
              + _u64(where[0]) + _u64(where[1]) + _u64(where[2]) + _u64(_PARAMS))
    body = CODE + params + table + b"".join(strings) + b"".join(messages)
    size = _HEADERS + len(body)
    elf = (b"\x7fELF\x02\x01\x01" + bytes(9)                  # 64-bit, little-endian, SysV
           + (2).to_bytes(2, "little") + (0x3E).to_bytes(2, "little") + _u32(1)  # ET_EXEC, x86_64
           + _u64(_BASE + _HEADERS) + _u64(64) + _u64(0)     # entry, program headers, no sections
           + _u32(0) + (64).to_bytes(2, "little") + (56).to_bytes(2, "little") + (2).to_bytes(2, "little")
           + bytes(6))
    load = _u32(1) + _u32(5) + _u64(0) + _u64(_BASE) + _u64(_BASE) + _u64(size) + _u64(size) + _u64(0x1000)
    stack = _u32(0x6474E551) + _u32(6) + bytes(40) + _u64(16)   # PT_GNU_STACK: not executable
    return elf + load + stack + body


def load(data: bytes) -> int:
    """A sealed, close-on-exec memfd holding ``data``: nothing can change it, and it
    is no file of the host's."""
    import fcntl

    flags = os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING
    try:
        fd = os.memfd_create("pycr-init", flags | MFD_EXEC)
    except OSError:  # a kernel before 6.3: executable by default
        fd = os.memfd_create("pycr-init", flags)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        fcntl.fcntl(fd, fcntl.F_ADD_SEALS, _SEALS)
    except BaseException:
        os.close(fd)
        raise
    return fd


def execute(fd: int, args: list[str], env: dict[str, str], inherit: tuple[int, ...]) -> None:
    """Become the stub (returns only by raising OSError).  Through ``/proc/self/fd``
    -- ``execve``, the call a seccomp profile allows for the process anyway -- not
    ``execveat``.  ``inherit``: the channel and fifo fds, which the stub closes."""
    for keep in inherit:
        os.set_inheritable(keep, True)
    os.execve(f"/proc/self/fd/{fd}", args, env)
