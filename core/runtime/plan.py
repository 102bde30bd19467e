"""The plan the container's init carries out, as typed steps.

Plugins build the plan in the runtime process (``pycr_isolation_plan``,
``pycr_rootfs_plan``, ``pycr_rootfs_switch``); the init only calls
``step.run(sc)`` in order.  Because the init is forked (not exec'd), the
plan reaches it as the same Python objects: no serialisation, and nothing
is decided after the fork.  Each step names itself in ``describe()`` so a
failure reported back to the runtime says which step broke.

Paths in steps are container paths; ``rootfs`` is the host path of the root
before the switch.  Every destination is resolved with ``safe_join`` at the
moment the step runs, so a symlink in the image (or one an earlier mount
created) can never lead a mount out of the rootfs.  Mount points are opened
and created through file descriptors (:meth:`InitContext.open`) and mounted
on as ``/proc/self/fd/N``: a path that changes between the check and the
mount (a container swapping a directory of a shared volume for a symlink,
CVE-2021-30465) cannot move a mount or a mkdir out of the rootfs.
"""

from __future__ import annotations

import fcntl  # noqa: F401  (steps run after pivot_root: host modules are gone then)
import os
import _socket  # noqa: F401  (socket.py would add enum and selectors to every run)
import stat
import struct  # noqa: F401
from pycr.core.linux import syscalls as S
from pycr.core.linux.syscalls import MS_BIND  # noqa: F401  (re-exported for plugins)
from pycr.core.linux.paths import fd_path, is_under, open_bind_source, open_resolved, safe_join


class Factory:
    """A per-instance default, e.g. ``env: list = Factory(list)``."""

    def __init__(self, make):
        self.make = make


class Record:
    """Annotated fields with defaults, filled by position or keyword.

    What a dataclass gives, without its cost: the dataclasses module compiles
    methods for every class at import, ~10 ms for this module, a third of
    ``pycr-oci``'s own start-up.  A plugin may still decorate its own step
    class as a dataclass.
    """

    _fields = {}  # class -> its field names (not annotated: it is no field)

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        names = Record._fields.get(cls)
        if names is None:
            ordered: dict[str, None] = {}
            for klass in reversed(cls.__mro__):
                for name in klass.__dict__.get("__annotations__", {}):
                    ordered[name] = None
            names = Record._fields[cls] = tuple(ordered)
        return names

    def __init__(self, *args, **kwargs):
        names = self.field_names()
        kind = type(self).__name__
        if len(args) > len(names):
            raise TypeError(f"{kind} takes at most {len(names)} arguments ({len(args)} given)")
        values = dict(zip(names, args))
        for key, value in kwargs.items():
            if key not in names or key in values:
                raise TypeError(f"{kind}: unexpected or repeated argument {key!r}")
            values[key] = value
        for name in names:
            if name not in values:
                default = getattr(type(self), name, Record)
                if default is Record:
                    raise TypeError(f"{kind}: missing argument {name!r}")
                values[name] = default.make() if isinstance(default, Factory) else default
            setattr(self, name, values[name])

    def __repr__(self) -> str:
        fields = ", ".join(f"{n}={getattr(self, n)!r}" for n in self.field_names())
        return f"{type(self).__name__}({fields})"

    def __eq__(self, other) -> bool:
        return type(other) is type(self) and all(getattr(self, n) == getattr(other, n) for n in self.field_names())

    __hash__ = None


class Step(Record):
    #: steps after the root switch run sorted by this (stable): sysctl and
    #: hostname first, then path masks, the read-only root last.
    order = 50
    #: for ``Plan.confine`` steps: run before the user and capabilities are
    #: applied (while the init still has CAP_SYS_ADMIN), not after.
    privileged = False

    def describe(self) -> str:
        return type(self).__name__

    def run(self, sc: S.Syscalls, ctx: "InitContext") -> None:  # pragma: no cover - interface
        raise NotImplementedError


class InitContext(Record):
    """What steps may need while running in the init."""

    rootfs: str
    in_userns: bool = False
    switched: bool = False  # True once the rootfs is "/"
    channel: object = None  # the sync channel to the runtime (a step may ask it for something)

    def path(self, container_path: str) -> str:
        return safe_join("/" if self.switched else self.rootfs, container_path)

    def open(self, container_path: str, create: str | None = None) -> int:
        """An O_PATH fd of ``container_path``, resolved in the kernel inside the
        root (``create``: make it a ``"dir"`` or ``"file"`` if missing); the
        caller closes it.  Raises OSError, e.g. EXDEV if it would leave the root."""
        return open_resolved("/" if self.switched else self.rootfs, container_path, create)


# ------------------------------------------------------------ mounts

_FLAGS = {
    "defaults": (0, 0), "ro": (S.MS_RDONLY, 0), "rw": (0, S.MS_RDONLY), "suid": (0, S.MS_NOSUID),
    "nosuid": (S.MS_NOSUID, 0), "dev": (0, S.MS_NODEV), "nodev": (S.MS_NODEV, 0),
    "exec": (0, S.MS_NOEXEC), "noexec": (S.MS_NOEXEC, 0), "sync": (S.MS_SYNCHRONOUS, 0),
    "async": (0, S.MS_SYNCHRONOUS), "dirsync": (S.MS_DIRSYNC, 0), "remount": (S.MS_REMOUNT, 0),
    "mand": (S.MS_MANDLOCK, 0), "nomand": (0, S.MS_MANDLOCK), "atime": (0, S.MS_NOATIME),
    "noatime": (S.MS_NOATIME, 0), "diratime": (0, S.MS_NODIRATIME), "nodiratime": (S.MS_NODIRATIME, 0),
    "bind": (S.MS_BIND, 0), "rbind": (S.MS_BIND | S.MS_REC, 0), "relatime": (S.MS_RELATIME, 0),
    "norelatime": (0, S.MS_RELATIME), "strictatime": (S.MS_STRICTATIME, 0),
    "nostrictatime": (0, S.MS_STRICTATIME), "nosymfollow": (S.MS_NOSYMFOLLOW, 0),
}
PROPAGATION = {
    "private": S.MS_PRIVATE, "rprivate": S.MS_PRIVATE | S.MS_REC, "shared": S.MS_SHARED,
    "rshared": S.MS_SHARED | S.MS_REC, "slave": S.MS_SLAVE, "rslave": S.MS_SLAVE | S.MS_REC,
    "unbindable": S.MS_UNBINDABLE, "runbindable": S.MS_UNBINDABLE | S.MS_REC,
}


def parse_mount_options(options: list[str]) -> tuple[int, int, str]:
    """OCI mount options -> (flags, propagation flags, fs data string)."""
    flags, prop, data = 0, 0, []
    for opt in options or []:
        if opt in _FLAGS:
            set_, clear = _FLAGS[opt]
            flags = (flags | set_) & ~clear
        elif opt in PROPAGATION:
            prop |= PROPAGATION[opt]
        elif opt in ("tmpcopyup", "idmap", "ridmap"):
            continue
        else:
            data.append(opt)
    return flags, prop, ",".join(data)


#: the bind roots of ``pycr serve --bind-root`` in a config's annotations (a JSON list):
#: binds written under one must resolve under one when mounted (``Mount.bind_roots``)
BIND_ROOTS_ANNOTATION = "io.pycr.bind-roots"


class Mount(Step):
    """One OCI mount entry."""

    destination: str
    type: str | None
    source: str | None
    flags: int = 0
    propagation: int = 0
    data: str = ""
    #: ``pycr serve --bind-root`` dirs a bind's source must resolve under, at the mount (or empty)
    bind_roots: tuple = ()

    def describe(self) -> str:
        return f"mount {self.type or 'bind'} on {self.destination}"

    @property
    def is_bind(self) -> bool:
        return bool(self.flags & S.MS_BIND)

    def run(self, sc, ctx):
        # A bind's source is opened once, here, and mounted from that fd: a directory swapped
        # for a symlink after any earlier check (create, the plan) changes nothing.
        src = open_bind_source(self.source, self.bind_roots) if self.is_bind else None
        try:
            self._mount(sc, ctx, src)
        finally:
            if src is not None:
                os.close(src)

    def _mount(self, sc, ctx, src):
        is_file = src is not None and not stat.S_ISDIR(os.fstat(src).st_mode)
        fd = ctx.open(self.destination, "file" if is_file else "dir")
        try:
            target = fd_path(fd)
            if self.is_bind:
                sc.mount(fd_path(src), target, "bind", self.flags & (S.MS_BIND | S.MS_REC))
            elif self.type == "sysfs" and ctx.in_userns:
                try:
                    sc.mount(self.source, target, self.type, self.flags, self.data or None)
                except OSError:  # sysfs needs a netns owned by the userns: fall back to a bind
                    sc.mount("/sys", target, "bind", S.MS_BIND | S.MS_REC)
            else:
                sc.mount(self.source, target, self.type, self.flags, self.data or None)
        finally:
            os.close(fd)
        extra = self.flags & ~(S.MS_BIND | S.MS_REC) if self.is_bind else 0
        if extra or self.propagation:
            fd = ctx.open(self.destination)  # the new mount's root now (the old fd is beneath it)
            try:
                target = fd_path(fd)
                if extra:
                    sc.mount(None, target, None, self.flags | S.MS_REMOUNT | _locked_flags(target))
                if self.propagation:
                    sc.mount(None, target, None, self.propagation)
            finally:
                os.close(fd)


def _locked_flags(path: str) -> int:
    """Flags a bind remount must keep (the kernel refuses to drop them in a userns)."""
    f = os.statvfs(path).f_flag
    return f & (S.MS_NOSUID | S.MS_NODEV | S.MS_NOEXEC)


class Device(Step):
    """A device node: mknod, or (in a user namespace) a bind of the host's."""

    path: str
    kind: str  # c, b, u, p
    major: int = 0
    minor: int = 0
    mode: int = 0o666
    uid: int = 0
    gid: int = 0

    def describe(self) -> str:
        return f"device {self.path}"

    def run(self, sc, ctx):
        # The node is made by name in a directory fd (no path a shared volume could swap), and
        # changed only through an fd of what was made (chmod/chown would follow a swapped-in link).
        parent = ctx.open(os.path.dirname(self.path) or "/", "dir")
        try:
            name = os.path.basename(self.path)
            target = f"{fd_path(parent)}/{name}"
            if os.path.lexists(target):
                os.unlink(target)
            if ctx.in_userns:
                os.close(os.open(name, os.O_CREAT | os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644, dir_fd=parent))
                node = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent)
                host = open_bind_source(self.path)
                try:
                    sc.mount(fd_path(host), fd_path(node), "bind", S.MS_BIND)
                finally:
                    os.close(host)
                    os.close(node)
                return
            kind = {"c": stat.S_IFCHR, "u": stat.S_IFCHR, "b": stat.S_IFBLK, "p": stat.S_IFIFO}[self.kind]
            sc.mknod(target, kind | (self.mode & 0o7777), os.makedev(self.major, self.minor))
            node = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent)
            try:
                if stat.S_ISLNK(os.fstat(node).st_mode):
                    raise OSError(40, "replaced by a symlink while being made", self.path)
                os.chmod(fd_path(node), self.mode & 0o7777)  # mknod is subject to the umask
                os.chown(fd_path(node), self.uid, self.gid)
            finally:
                os.close(node)
        finally:
            os.close(parent)


class Symlink(Step):
    target: str
    path: str

    def describe(self) -> str:
        return f"symlink {self.path} -> {self.target}"

    def run(self, sc, ctx):
        parent = ctx.open(os.path.dirname(self.path) or "/", "dir")
        try:
            path = f"{fd_path(parent)}/{os.path.basename(self.path)}"  # made by name in a dir fd
            if not os.path.lexists(path):
                sc.symlink(self.target, path)
        finally:
            os.close(parent)


class BindRootfs(Step):
    """Make the rootfs a mount point of its own, as pivot_root requires.

    The mount holding it is made private first (in the container's namespace
    only), as runc does: pivot_root refuses a new root whose parent mount is
    shared, and the bind must not propagate to other namespaces.
    """

    def run(self, sc, ctx):
        sc.mount(None, mount_point_of(os.path.dirname(ctx.rootfs)), None, S.MS_PRIVATE)
        sc.mount(ctx.rootfs, ctx.rootfs, "bind", S.MS_BIND | S.MS_REC)


def mount_point_of(path: str, mountinfo: str = "/proc/self/mountinfo") -> str:
    """The mount point of the mount that holds ``path`` (the longest one above it)."""
    best = "/"
    with open(mountinfo) as f:
        for line in f:
            point = line.split(" ", 5)[4]
            if "\\" in point:
                for code, char in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
                    point = point.replace(code, char)  # mountinfo's octal escapes (no codec: see preload)
            if is_under(path, point) and len(point) > len(best):
                best = point
    return best


class PivotRoot(Step):
    """pivot_root into the rootfs and detach the old root (runc's way, no temp dir)."""

    def run(self, sc, ctx):
        old = os.open("/", os.O_DIRECTORY | os.O_RDONLY | os.O_CLOEXEC)
        new = os.open(ctx.rootfs, os.O_DIRECTORY | os.O_RDONLY | os.O_CLOEXEC)
        try:
            os.fchdir(new)
            sc.pivot_root(".", ".")
            os.fchdir(old)
            sc.mount(None, ".", None, S.MS_SLAVE | S.MS_REC)
            sc.umount(".", S.MNT_DETACH)
            sc.chdir("/")
        finally:
            os.close(old)
            os.close(new)
        ctx.switched = True


class RootPropagation(Step):
    """``linux.rootfsPropagation`` on the container's own ``/``, after the root
    switch (runc >= 1.1): set before it, the flag would land on the host's root.
    Last of all, so the read-only binds before it still may bind from an
    unbindable root."""

    order = 100

    flags: int

    def describe(self) -> str:
        return "rootfsPropagation"

    def run(self, sc, ctx):
        sc.mount(None, "/", None, self.flags)


class Chroot(Step):
    """Move the rootfs over / and chroot into it (``--no-pivot``)."""

    move_mount: bool = True

    def run(self, sc, ctx):
        sc.chdir(ctx.rootfs)
        if self.move_mount:
            sc.mount(ctx.rootfs, "/", None, S.MS_MOVE)
        sc.chroot(".")
        sc.chdir("/")
        ctx.switched = True


class MaskPath(Step):
    """Hide a path: /dev/null over a file, an empty read-only tmpfs over a directory."""

    order = 70

    path: str

    def describe(self) -> str:
        return f"mask {self.path}"

    def run(self, sc, ctx):
        try:
            fd = ctx.open(self.path)
        except (FileNotFoundError, NotADirectoryError):
            return
        try:
            if stat.S_ISDIR(os.fstat(fd).st_mode):
                sc.mount("tmpfs", fd_path(fd), "tmpfs", S.MS_RDONLY)
            else:
                sc.mount("/dev/null", fd_path(fd), "bind", S.MS_BIND)
        finally:
            os.close(fd)


class ReadonlyPath(Step):
    """Bind a path onto itself read-only."""

    order = 60

    path: str

    def describe(self) -> str:
        return f"readonly {self.path}"

    def run(self, sc, ctx):
        try:
            fd = ctx.open(self.path)
        except FileNotFoundError:
            return
        try:
            sc.mount(fd_path(fd), fd_path(fd), "bind", S.MS_BIND | S.MS_REC)
        finally:
            os.close(fd)
        fd = ctx.open(self.path)  # the bind's root
        try:
            target = fd_path(fd)
            sc.mount(None, target, None, S.MS_BIND | S.MS_REMOUNT | S.MS_RDONLY | S.MS_REC | _locked_flags(target))
        finally:
            os.close(fd)


class ReadonlyRoot(Step):
    order = 90

    def run(self, sc, ctx):
        sc.mount(None, "/", None, S.MS_BIND | S.MS_REMOUNT | S.MS_RDONLY | _locked_flags("/"))


class Sysctl(Step):
    order = 10

    key: str
    value: str

    def describe(self) -> str:
        return f"sysctl {self.key}"

    def run(self, sc, ctx):
        sc.write_file(ctx.path("/proc/sys/" + self.key.replace(".", "/")), self.value)


class Hostname(Step):
    order = 20

    hostname: str | None = None
    domainname: str | None = None

    def run(self, sc, ctx):
        if self.hostname is not None:
            sc.sethostname(self.hostname)
        if self.domainname is not None:
            sc.setdomainname(self.domainname)


class LoopbackUp(Step):
    """Bring ``lo`` up in a new network namespace, as runc does."""

    order = 20

    def run(self, sc, ctx):
        s = _socket.socket(_socket.AF_INET, _socket.SOCK_DGRAM)
        try:
            req = struct.pack("16sH14s", b"lo", 0, b"")
            flags = struct.unpack("16sH14s", fcntl.ioctl(s, 0x8913, req))[1]  # SIOCGIFFLAGS
            fcntl.ioctl(s, 0x8914, struct.pack("16sH14s", b"lo", flags | 1, b""))  # SIOCSIFFLAGS, IFF_UP
        finally:
            s.close()


class ProcessSpec(Record):
    """Everything about the user process, applied last in the init."""

    args: list[str]
    env: list[str] = Factory(list)
    cwd: str = "/"
    uid: int = 0
    gid: int = 0
    additional_gids: list[int] = Factory(list)
    umask: int | None = None
    rlimits: list[tuple[int, int, int]] = Factory(list)  # (resource, soft, hard)
    bounding: int | None = None
    effective: int = 0
    permitted: int = 0
    inheritable: int = 0
    ambient: int = 0
    no_new_privileges: bool = False
    oom_score_adj: int | None = None
    preserve_fds: int = 0


class Plan(Record):
    """Namespaces, filesystem steps and the process, built by plugins."""

    unshare_flags: int = 0
    join: list[tuple[int, str]] = Factory(list)  # (CLONE_* flag, /proc/.../ns path)
    uid_mappings: list[dict[str, int]] = Factory(list)
    gid_mappings: list[dict[str, int]] = Factory(list)
    rootfs: str = ""
    root_propagation: int = S.MS_SLAVE | S.MS_REC  # applied right after unshare(CLONE_NEWNS)
    pre_switch: list[Step] = Factory(list)   # mounts, devices, symlinks
    switch: Step | None = None
    post_switch: list[Step] = Factory(list)  # sysctl, masks, readonly paths
    process: ProcessSpec | None = None
    #: confinement loaded around the process spec, as late as possible
    #: (seccomp): see :func:`pycr.core.runtime.init.apply_confined`
    confine: list[Step] = Factory(list)
    root: str = ""  # the runtime's state root (``--root``): plugins may keep caches under it
    warnings: list[str] = Factory(list)  # one line each, shown on stderr and in --log by the runtime
    cgroup: object = None  # the container's cgroup driver instance (runtime side only)
    #: (path, fd) open for writing: stage1 writes "0" to each to move itself into the cgroup
    cgroup_join: list[tuple[str, int]] = Factory(list)
    console: object = None  # the engine's console socket, for process.terminal (see console.py)
    console_size: object = None  # (rows, columns) from process.consoleSize
    #: the init ends through the exec stub (pycr.core.linux.exec_stub), not by waiting in Python
    exec_stub: bool = False
    #: modules the init imports before the root switch (the host's files are gone after it)
    preload: list[str] = Factory(lambda: ["pycr.core.linux.libc", "pycr.core.linux.caps"])

    @property
    def new_userns(self) -> bool:
        return bool(self.unshare_flags & S.CLONE_NEWUSER)

    @property
    def in_userns(self) -> bool:
        return self.new_userns or any(flag == S.CLONE_NEWUSER for flag, _ in self.join)
