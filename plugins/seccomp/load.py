"""The plan step that loads a compiled filter in the container's init.

It runs last before the init reports READY (see
:func:`pycr.core.runtime.init.apply_confined`): after the user, capabilities
and no_new_privs are set, or -- when ``noNewPrivileges`` is false -- before
the capabilities are dropped, since only CAP_SYS_ADMIN may then load a
filter.  It only calls seccomp(2) with bytes compiled in the runtime
process: no policy is parsed and libseccomp is never loaded in the init.
"""

from __future__ import annotations

import os

from pycr.core import steps

SYS_SECCOMP = {"x86_64": 317, "aarch64": 277, "riscv64": 277, "ppc64le": 358, "s390x": 348}
SECCOMP_SET_MODE_FILTER = 1


def set_filter(sc, prog: bytes, flags: int) -> int:
    """seccomp(SECCOMP_SET_MODE_FILTER, flags, &sock_fprog); the listener fd
    (or 0) on success."""
    import ctypes

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_char_p)]

    fprog = SockFprog(len(prog) // 8, prog)
    nr = SYS_SECCOMP[os.uname().machine]
    ret = sc.libc.syscall(nr, SECCOMP_SET_MODE_FILTER, ctypes.c_uint(flags), ctypes.byref(fprog))
    return sc._check(ret, "seccomp")


class LoadSeccomp(steps.Step):
    """Load ``prog``; with a NOTIFY action, hand the listener fd to the runtime."""

    prog: bytes
    flags: int = 0
    notify: bool = False
    privileged: bool = False  # True when noNewPrivileges is false (see the module doc)

    def describe(self) -> str:
        return "linux.seccomp"

    def run(self, sc, ctx):
        try:
            fd = set_filter(sc, self.prog, self.flags)
        except OSError as e:  # the init reports an OSError's text as the failure's one line
            raise OSError(e.errno, f"linux.seccomp: loading the filter: {os.strerror(e.errno)}") from None
        if self.notify:
            ctx.channel.send_fds("seccomp", [fd], request=True)
            os.close(fd)
            ctx.channel.expect("seccomp-done")


def set_filter_raw(flags: int) -> int:
    """seccomp(SECCOMP_SET_MODE_FILTER, flags, NULL): the errno (a probe of
    which flags the kernel knows; nothing is loaded)."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    ret = libc.syscall(SYS_SECCOMP[os.uname().machine], SECCOMP_SET_MODE_FILTER, ctypes.c_uint(flags), None)
    return ctypes.get_errno() if ret < 0 else 0
