"""A policy's compiled filter: cached once per distinct policy under the
runtime root, and the plan step that loads it in the container's init (one
module: it is what every run with a cached policy imports).

Cache: ``<root>/.seccomp/<sha256 of the policy>.bpf``: an 8-byte header (the
seccomp(2) flags, and whether a NOTIFY action needs a listener, each a
little-endian u32) and the program.  With the flags cached too, a cached
policy needs neither libseccomp nor :mod:`.policy`.  The directory is opened
without following symlinks, and made 0700 only when that fails (a cached
lookup makes nothing); one that is not a directory owned by
us with no group/other access is refused, never used, so nobody but root
can plant a filter or redirect a write.  Files are read with O_NOFOLLOW and
written to a temporary name, then renamed into place (concurrent creates of
the same policy race harmlessly: both write the same bytes).

Loading (:class:`LoadSeccomp`) runs last before the init reports READY (see
:func:`pycr.core.runtime.init.apply_confined`): after the user, capabilities
and no_new_privs are set, or -- when ``noNewPrivileges`` is false -- before
the capabilities are dropped, since only CAP_SYS_ADMIN may then load a
filter.  It only calls seccomp(2) with bytes compiled in the runtime
process: no policy is parsed and libseccomp is never loaded in the init.
"""

from __future__ import annotations

import os
import stat

from pycr.core import ConfigError, steps

try:  # the builtin module: hashlib would load OpenSSL (~2 ms) on every run that has a filter
    from _sha256 import sha256
except ImportError:  # Python >= 3.12 names it _sha2
    try:
        from _sha2 import sha256
    except ImportError:
        from hashlib import sha256

FORMAT = b"pycr-seccomp-4\n"  # bump when the compiler's output changes for the same policy
MAX_PROG = 4096 * 8  # BPF_MAXINSNS instructions of 8 bytes
HEADER = 8
DIRNAME = ".seccomp"
SYS_SECCOMP = {"x86_64": 317, "aarch64": 277, "riscv64": 277, "ppc64le": 358, "s390x": 348}
SECCOMP_SET_MODE_FILTER = 1


def key(seccomp: dict, ignore_unknown: bool = False) -> str:
    """The cache key: the policy (listener fields excluded: they do not
    change the program) and the machine.  The policy is taken by its
    ``repr``: exact and unambiguous for what JSON parses into, and without
    an encoder.  Keys are not sorted (a third of the cost): the same policy
    written in another key order is compiled once more, never confused
    with another."""
    rules = {k: v for k, v in seccomp.items() if k not in ("listenerPath", "listenerMetadata")}
    doc = repr(rules).encode()
    mode = b"ignore-unknown\n" if ignore_unknown else b"\n"
    return sha256(FORMAT + os.uname().machine.encode() + b"\n" + mode + doc).hexdigest()


_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def _open_dir(root: str) -> int:
    """The cache directory, opened and checked.  Every run with a policy
    looks it up, so it is opened first and only made (the root too) when
    that fails: a cached lookup costs two opens and an fstat, no mkdir.
    The fallback is the whole make-then-open, so a failed open ends
    exactly as it would have without the fast path."""
    try:
        parent = os.open(root, _DIR_FLAGS)
    except OSError:
        os.makedirs(root, mode=0o700, exist_ok=True)
        parent = os.open(root, _DIR_FLAGS)
    try:
        try:
            fd = os.open(DIRNAME, _DIR_FLAGS, dir_fd=parent)
        except OSError:
            fd = _make_dir(parent, root)
    finally:
        os.close(parent)
    st = os.fstat(fd)
    if st.st_uid != os.geteuid() or st.st_mode & 0o077:
        os.close(fd)
        raise ConfigError(f"seccomp cache {os.path.join(root, DIRNAME)}: owned by uid {st.st_uid} with mode "
                          f"{stat.S_IMODE(st.st_mode):o}; it must be ours and 0700 -- remove it")
    return fd


def _make_dir(parent: int, root: str) -> int:
    """Make ``.seccomp`` 0700 in ``parent`` unless something has that name (a
    concurrent run's directory, or a file or symlink refused here), and open it."""
    try:
        os.mkdir(DIRNAME, 0o700, dir_fd=parent)
    except FileExistsError:
        pass
    try:
        return os.open(DIRNAME, _DIR_FLAGS, dir_fd=parent)
    except OSError as e:
        raise ConfigError(f"seccomp cache {os.path.join(root, DIRNAME)}: not a directory ({e.strerror}); "
                          "remove it") from None


def lookup(root: str, name: str) -> bytes | None:
    """The cached entry (header and program), or None (missing or not a plain file of a sane size)."""
    try:
        dfd = _open_dir(root)
    except OSError:
        return None
    try:
        fd = os.open(name + ".bpf", os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dfd)
    except OSError:
        return None
    finally:
        os.close(dfd)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or not HEADER < st.st_size <= HEADER + MAX_PROG or st.st_size % 8:
            return None
        data = os.read(fd, st.st_size)
        return data if len(data) == st.st_size else None
    finally:
        os.close(fd)


def store(root: str, name: str, prog: bytes) -> None:
    dfd = _open_dir(root)
    tmp = f"{name}.{os.getpid()}.tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=dfd)
        try:
            os.write(fd, prog)
        finally:
            os.close(fd)
        os.replace(tmp, name + ".bpf", src_dir_fd=dfd, dst_dir_fd=dfd)
    except OSError:
        try:
            os.unlink(tmp, dir_fd=dfd)
        except OSError:
            pass
        raise
    finally:
        os.close(dfd)


def program(root: str, seccomp: dict, ignore_unknown: bool = False) -> tuple[bytes, int, bool]:
    """The compiled program for ``seccomp``, its seccomp(2) flags and whether
    it needs a listener: from the cache, else compiled (importing
    libseccomp's binding) and cached."""
    name = key(seccomp, ignore_unknown)
    entry = lookup(root, name) if root else None
    if entry is None:
        from . import policy
        from .compiler import compile_policy

        prog = compile_policy(seccomp, ignore_unknown)
        if len(prog) > MAX_PROG:
            raise ConfigError(f"linux.seccomp: the filter has {len(prog) // 8} instructions; the kernel's "
                              f"limit is {MAX_PROG // 8}")
        header = policy.load_flags(seccomp).to_bytes(4, "little") + policy.uses_notify(seccomp).to_bytes(4, "little")
        entry = header + prog
        if root:
            store(root, name, entry)
    return entry[HEADER:], int.from_bytes(entry[:4], "little"), entry[4:8] != b"\0\0\0\0"



def set_filter(sc, prog: bytes, flags: int) -> int:
    """seccomp(SECCOMP_SET_MODE_FILTER, flags, &sock_fprog); the listener fd
    (or 0) on success."""
    c = sc.libc.c  # through the syscall seam, as every step of the init
    code = c.buffer(prog)  # struct sock_fprog {u16 len; (pad); struct sock_filter *filter}
    fprog = (len(prog) // 8).to_bytes(8, "little") + c.addressof(code).to_bytes(8, "little")
    nr = SYS_SECCOMP[os.uname().machine]
    ret = sc.libc.syscall(nr, SECCOMP_SET_MODE_FILTER, c.ULong(flags), fprog)
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
    from pycr.core import libc

    ret = libc.syscall(SYS_SECCOMP[os.uname().machine], SECCOMP_SET_MODE_FILTER, libc.ULong(flags), None)
    return libc.get_errno() if ret < 0 else 0
