"""The syscall seam: every Linux call Python 3.11 lacks, in one place.

Everything the container's init does to the kernel goes through a
:class:`Syscalls` object, so unit tests can hand the init a recording fake
(:class:`pycr.core.testing.RecordingSyscalls`) and check the exact sequence.
libc is bound on first use only (:mod:`pycr.core.linux.libc`, ``_ctypes`` without ctypes).
"""

from __future__ import annotations

import os

# clone/unshare flags (linux/sched.h)
CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
CLONE_NEWTIME = 0x00000080

# mount flags (linux/mount.h)
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_SYNCHRONOUS = 16
MS_REMOUNT = 32
MS_MANDLOCK = 64
MS_DIRSYNC = 128
MS_NOSYMFOLLOW = 256
MS_NOATIME = 1024
MS_NODIRATIME = 2048
MS_BIND = 4096
MS_MOVE = 8192
MS_REC = 16384
MS_SILENT = 32768
MS_UNBINDABLE = 1 << 17
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MS_SHARED = 1 << 20
MS_RELATIME = 1 << 21
MS_STRICTATIME = 1 << 24
MNT_DETACH = 2

# prctl options
PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_KEEPCAPS = 8
PR_SET_NAME = 15
PR_CAPBSET_READ = 23
PR_CAPBSET_DROP = 24
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_RAISE = 2
PR_CAP_AMBIENT_CLEAR_ALL = 4

_LINUX_CAPABILITY_VERSION_3 = 0x20080522
_SYS_PIVOT_ROOT = 155  # x86_64
_SYS_SETNS = 308


class _Functions:
    """libc's functions by attribute (``libc.mount``), bound once each -- the part of a
    ``ctypes.CDLL`` the runtime used, on :mod:`pycr.core.linux.libc`."""

    def __init__(self):
        from pycr.core.linux import libc

        self.c = libc  # the binding itself: syscall, ULong, buffer, get_errno...

    def __getattr__(self, name: str):
        fn = self.c.syscall if name == "syscall" else self.c.function(name)
        setattr(self, name, fn)
        return fn


class Syscalls:
    """Thin libc wrappers that raise OSError with errno on failure."""

    _libc = None

    @property
    def libc(self):
        if Syscalls._libc is None:
            Syscalls._libc = _Functions()
        return Syscalls._libc

    def _check(self, ret: int, what: str, path: str | None = None) -> int:
        if ret < 0:
            err = self.libc.c.get_errno()
            raise OSError(err, f"{what}: {os.strerror(err)}", path)
        return ret

    @staticmethod
    def _b(s: str | None):
        return None if s is None else os.fsencode(s)

    def unshare(self, flags: int) -> None:
        self._check(self.libc.unshare(flags), "unshare")

    def setns(self, fd: int, nstype: int = 0) -> None:
        self._check(self.libc.setns(fd, nstype), "setns")

    def mount(self, source: str | None, target: str, fstype: str | None, flags: int = 0,
              data: str | None = None) -> None:
        ret = self.libc.mount(self._b(source), self._b(target), self._b(fstype), flags, self._b(data))
        self._check(ret, f"mount {source or fstype} on {target}", target)

    def umount(self, target: str, flags: int = 0) -> None:
        self._check(self.libc.umount2(self._b(target), flags), f"umount {target}", target)

    def pivot_root(self, new_root: str, put_old: str) -> None:
        ret = self.libc.syscall(_SYS_PIVOT_ROOT, self._b(new_root), self._b(put_old))
        self._check(ret, "pivot_root", new_root)

    def chroot(self, path: str) -> None:
        os.chroot(path)

    def chdir(self, path: str) -> None:
        os.chdir(path)

    def sethostname(self, name: str) -> None:
        raw = name.encode()
        self._check(self.libc.sethostname(raw, len(raw)), "sethostname")

    def setdomainname(self, name: str) -> None:
        raw = name.encode()
        self._check(self.libc.setdomainname(raw, len(raw)), "setdomainname")

    def mknod(self, path: str, mode: int, device: int) -> None:
        os.mknod(path, mode, device)

    def symlink(self, target: str, path: str) -> None:
        os.symlink(target, path)

    def prctl(self, option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
        ul = self.libc.c.ULong
        return self._check(self.libc.prctl(option, ul(arg2), ul(arg3), ul(arg4), ul(arg5)), f"prctl({option})")

    def capset(self, effective: int, permitted: int, inheritable: int) -> None:
        # struct __user_cap_header_struct {u32 version; int pid} and two
        # __user_cap_data_struct {u32 effective, permitted, inheritable}: low word, high word
        data = b"".join((mask >> (32 * i) & 0xFFFFFFFF).to_bytes(4, "little")
                        for i in range(2) for mask in (effective, permitted, inheritable))
        hdr = self.libc.c.buffer(_LINUX_CAPABILITY_VERSION_3.to_bytes(4, "little") + bytes(4))
        self._check(self.libc.capset(hdr, data), "capset")

    def setrlimit(self, resource: int, soft: int, hard: int) -> None:
        """prlimit(0, resource, {soft, hard}, NULL); the limits as rlim_t (-1 or 2^64-1: infinity)."""
        limits = (soft % 2**64).to_bytes(8, "little") + (hard % 2**64).to_bytes(8, "little")
        self._check(self.libc.prlimit(0, resource, limits, None), f"setrlimit({resource})")

    def write_file(self, path: str, data: str) -> None:
        """Write a kernel file (/proc, /sys) in one write(2)."""
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.write(fd, data.encode())
        finally:
            os.close(fd)


SYSCALLS = Syscalls()
