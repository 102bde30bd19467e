"""A recording stand-in for :class:`pycr.core.linux.syscalls.Syscalls`.

Hand it to plan steps to see exactly which kernel calls a plan makes, in
order, without root: mounts, pivot_root, sethostname... are recorded, not
made.  File-system helpers (mknod, symlink) act on the temp directory so
later steps see their effect.
"""

from __future__ import annotations

import os


def _through_fd(path):
    """``/proc/self/fd/N[/NAME]`` (how steps name what they opened) as the path it stands for."""
    if isinstance(path, str) and path.startswith("/proc/self/fd/"):
        fd, _, rest = path[len("/proc/self/fd/"):].partition("/")
        real = os.readlink(f"/proc/self/fd/{fd}")
        return os.path.join(real, rest) if rest else real
    return path


class RecordingSyscalls:
    def __init__(self):
        self.calls: list[tuple] = []

    def _record(self, *call):
        self.calls.append(call)

    def names(self) -> list[str]:
        return [c[0] for c in self.calls]

    def unshare(self, flags):
        self._record("unshare", flags)

    def setns(self, fd, nstype=0):
        self._record("setns", nstype)

    def mount(self, source, target, fstype, flags=0, data=None):
        """Recorded with ``/proc/self/fd/N`` (how steps name a mount point they
        opened) replaced by the path the fd stands for."""
        source, target = _through_fd(source), _through_fd(target)
        self._record("mount", source, target, fstype, flags, data)

    def umount(self, target, flags=0):
        self._record("umount", target, flags)

    def pivot_root(self, new_root, put_old):
        self._record("pivot_root", new_root, put_old)

    def chroot(self, path):
        self._record("chroot", path)

    def chdir(self, path):
        self._record("chdir", path)

    def sethostname(self, name):
        self._record("sethostname", name)

    def setdomainname(self, name):
        self._record("setdomainname", name)

    def mknod(self, path, mode, device):
        self._record("mknod", _through_fd(path), mode, device)
        open(path, "w").close()

    def symlink(self, target, path):
        self._record("symlink", target, _through_fd(path))
        os.symlink(target, path)

    def prctl(self, option, arg2=0, arg3=0, arg4=0, arg5=0):
        self._record("prctl", option, arg2)
        return 0

    def capset(self, effective, permitted, inheritable):
        self._record("capset", effective, permitted, inheritable)

    def setrlimit(self, resource, soft, hard):
        self._record("setrlimit", resource, soft, hard)

    def write_file(self, path, data):
        self._record("write_file", path, data)
