"""Resolve paths inside a root without letting symlinks lead out of it."""

from __future__ import annotations

import os

_MAX_LINKS = 255


def safe_join(root: str, unsafe: str) -> str:
    """Join ``unsafe`` under ``root``, resolving symlinks as if ``root`` were ``/``.

    Every component is resolved one at a time; an absolute symlink restarts at
    ``root`` and ``..`` never climbs above it.  Missing components are kept as
    they are (the caller may create them).  This is what mount destinations
    and masked paths from a hostile config.json or image need.
    """
    root = os.path.abspath(root)

    def readlink(rel: str) -> str | None:
        try:
            return os.readlink(os.path.join(root, rel))
        except OSError:  # not a symlink, or missing
            return None

    return os.path.join(root, *resolve_links(unsafe, readlink))


def resolve_links(unsafe: str, readlink) -> list[str]:
    """The components of ``unsafe`` with symlinks resolved inside a root, never above it.

    ``readlink(relative path)`` returns a symlink's target or None; the tree
    may be a directory (:func:`safe_join`) or an image's layer listing."""
    parts = [p for p in unsafe.split("/") if p not in ("", ".")]
    resolved: list[str] = []
    links = 0
    while parts:
        part = parts.pop(0)
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        target = readlink("/".join([*resolved, part]))
        if target is None:
            resolved.append(part)
            continue
        links += 1
        if links > _MAX_LINKS:
            raise OSError(40, "too many levels of symbolic links", unsafe)
        if target.startswith("/"):
            resolved = []
        parts = [p for p in target.split("/") if p not in ("", ".")] + parts
    return resolved


# openat2(2) (Linux 5.6): resolve a path the kernel's way, confined to a directory.
_SYS_OPENAT2 = 437  # x86_64
RESOLVE_NO_XDEV = 0x01
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_NO_SYMLINKS = 0x04
RESOLVE_BENEATH = 0x08
RESOLVE_IN_ROOT = 0x10


def openat2(dirfd: int, path: str, flags: int, resolve: int, mode: int = 0) -> int:
    """``openat2(dirfd, path, {flags|O_CLOEXEC, mode, resolve})``; OSError on failure.

    ``RESOLVE_IN_ROOT`` treats ``dirfd`` as ``/`` for every component,
    symlink and ``..`` -- atomically, in the kernel, so a container that
    swaps a directory for a symlink cannot lead the lookup out of its root.
    """
    from pycr.core.linux import libc

    # struct open_how {u64 flags, mode, resolve}
    how = b"".join(v.to_bytes(8, "little") for v in (flags | os.O_CLOEXEC, mode, resolve))
    fd = libc.syscall(_SYS_OPENAT2, dirfd, os.fsencode(path), how, len(how))
    if fd < 0:
        err = libc.get_errno()
        raise OSError(err, os.strerror(err), path)
    return fd


def open_in_root(root: str | int, path: str, flags: int = os.O_RDONLY, mode: int = 0, extra: int = 0) -> int:
    """Open container ``path`` inside ``root`` (a path or a directory fd),
    never leaving it: symlinks and ``..`` resolve as if ``root`` were ``/``,
    and no magic link (``/proc/PID/root`` and the like) is followed;
    ``extra``: more RESOLVE_* flags (RESOLVE_NO_SYMLINKS)."""
    resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | extra
    if isinstance(root, int):
        return openat2(root, path.lstrip("/") or ".", flags, resolve, mode)
    rfd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        return openat2(rfd, path.lstrip("/") or ".", flags, resolve, mode)
    finally:
        os.close(rfd)


#: the most pycr reads of a file a container controls (its /etc/passwd...)
MAX_CONTAINER_FILE = 4 << 20


def read_container_file(root: str, path: str, limit: int = MAX_CONTAINER_FILE,
                        where: str = "in the container") -> bytes | None:
    """The bytes of a small regular file of a container (or image) rootfs,
    read from the host side; None if it does not exist.

    The container may have made it a FIFO (a plain open would hang), a
    device, a 20 GB sparse file or a symlink to the host's /etc/shadow: the
    open stays inside ``root`` and does not block, anything but a regular
    file or a size over ``limit`` is a ValueError naming the file (``where``
    it is: in the container, in the build context...).
    """
    import stat

    try:
        fd = open_in_root(root, path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
    except FileNotFoundError:
        return None
    except OSError as e:
        if e.errno in (2, 20):  # ENOENT, ENOTDIR
            return None
        raise ValueError(f"{path} {where}: {e.strerror}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ValueError(f"{path} {where} is not a regular file")
        if st.st_size > limit:
            raise ValueError(f"{path} {where} is too large ({st.st_size} bytes, at most {limit})")
        data = os.read(fd, limit + 1)
        if len(data) > limit:  # it grew since fstat
            raise ValueError(f"{path} {where} is too large (more than {limit} bytes)")
        return data
    finally:
        os.close(fd)


def open_creating(root: int, path: str, kind: str | None = None) -> int:
    """An O_PATH fd of ``path`` -- already free of symlinks (resolved with
    :func:`safe_join`) -- under the directory fd ``root``, creating what is
    missing (``kind``: ``"dir"`` or ``"file"`` for the last component, None
    to create nothing).  Every lookup is ``openat2(RESOLVE_IN_ROOT |
    RESOLVE_NO_SYMLINKS)``, every creation ``mkdirat``/``openat`` of one name
    on a directory fd.

    A container that swaps a directory for a symlink meanwhile (in a volume
    shared with another container, CVE-2021-30465) makes this fail with
    ELOOP; it can never move the result out of ``root``, and the fd is what
    gets mounted on (``/proc/self/fd/N``), so no mount or mkdir lands outside.

    The common cases take the fewest lookups: a path that exists is one
    ``openat2``; a missing last component under an existing directory is
    made there.  Anything else (a failure of either) walks the path from the
    top, one component at a time, and names the component that failed.
    """
    parts = [p for p in path.split("/") if p not in ("", ".")]
    full = "/".join(parts)
    if kind:
        try:
            return open_in_root(root, full, os.O_PATH, extra=RESOLVE_NO_SYMLINKS)
        except OSError:
            pass  # missing, or worse: the walk finds out which component
        return _create_and_open(root, parts, kind)
    return open_in_root(root, full, os.O_PATH, extra=RESOLVE_NO_SYMLINKS)


def _create_and_open(root: int, parts: list[str], kind: str) -> int:
    """:func:`open_creating` of ``parts`` once the path failed to open."""
    if not _make_last(root, parts, kind):
        _make_each(root, parts, kind)
    return open_in_root(root, "/".join(parts), os.O_PATH, extra=RESOLVE_NO_SYMLINKS)


def _make(parent: int, name: str, kind: str) -> None:
    """Create ``name`` in the directory fd ``parent`` (a file with ``kind="file"``),
    unless something is there already (made meanwhile: the next lookup checks it)."""
    try:
        if kind == "file":
            os.close(os.open(name, os.O_CREAT | os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644, dir_fd=parent))
        else:
            os.mkdir(name, 0o755, dir_fd=parent)
    except FileExistsError:
        pass


def _make_last(root: int, parts: list[str], kind: str) -> bool:
    """Create the last of ``parts`` if its directory opens (no symlink on the way);
    False, with nothing made, if it does not."""
    if not parts:
        return False
    try:
        parent = open_in_root(root, "/".join(parts[:-1]), os.O_PATH | os.O_DIRECTORY, extra=RESOLVE_NO_SYMLINKS)
    except OSError:
        return False
    try:
        _make(parent, parts[-1], kind)
    finally:
        os.close(parent)
    return True


def _make_each(root: int, parts: list[str], kind: str) -> None:
    """Look up each component from the top, creating the missing ones."""
    for i in range(len(parts)):
        sub = "/".join(parts[:i + 1])
        try:
            os.close(open_in_root(root, sub, os.O_PATH, extra=RESOLVE_NO_SYMLINKS))
            continue
        except FileNotFoundError:
            pass
        parent = open_in_root(root, "/".join(parts[:i]), os.O_PATH | os.O_DIRECTORY, extra=RESOLVE_NO_SYMLINKS)
        try:
            _make(parent, parts[i], kind if i == len(parts) - 1 else "dir")
        finally:
            os.close(parent)


def open_resolved(top: str, path: str, create: str | None = None) -> int:
    """An O_PATH fd of container ``path`` in the directory ``top`` (a rootfs, or ``/``
    after the switch): symlinks resolved as :func:`safe_join` resolves them, then
    opened by :func:`open_creating` (``create`` as its ``kind``); the caller closes it.

    Most paths of a plan (``/proc``, ``/dev``, the masked and read-only paths) hold
    no symlink and no ``..``: for them one ``openat2(RESOLVE_IN_ROOT |
    RESOLVE_NO_SYMLINKS)`` is the answer safe_join would lead to, without its
    ``readlink`` of every component -- if it succeeds, no component was a symlink,
    so the path is already what safe_join returns; if it finds a component
    missing, every one before it is a real directory and nothing after it exists,
    the same.  Any other failure (a symlink: ELOOP) takes safe_join's way.
    """
    root = os.open(top, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        parts = [p for p in path.split("/") if p not in ("", ".")]
        if ".." not in parts:
            plain = "/".join(parts)
            try:
                return open_in_root(root, plain, os.O_PATH, extra=RESOLVE_NO_SYMLINKS)
            except FileNotFoundError:
                if not create:
                    raise
                return _create_and_open(root, parts, create)
            except OSError:
                pass
        return open_creating(root, safe_join(top, path)[len(top.rstrip("/")):], create)
    finally:
        os.close(root)


_AT_FDCWD = -100


def is_under(path: str, root: str) -> bool:
    """``path`` is ``root`` or lies beneath it (lexically: both already resolved)."""
    return path == root or path.startswith(root.rstrip("/") + "/")


def open_bind_source(source: str, roots: list[str] | None = None) -> int:
    """An O_PATH fd of a bind mount's source, symlinks followed as mount(2)
    would; the mount is then made from the fd (``/proc/self/fd/N``), so what
    was opened -- and checked -- is what gets mounted.

    ``roots`` (from ``pycr serve --bind-root``): the opened object's own
    path (readlink of its fd) must lie under one of them, and no magic link
    (``/proc/PID/root``...) is followed.  A source that is missing and one
    that leads out of the roots give the same OSError (no oracle of which
    host paths exist), naming the source and the roots.
    """
    if not roots:
        return os.open(source, os.O_PATH | os.O_CLOEXEC)
    refused = OSError(1, f"bind source {source} is missing or lies outside the bind roots ({', '.join(roots)})")
    try:
        fd = openat2(_AT_FDCWD, source, os.O_PATH, RESOLVE_NO_MAGICLINKS)
    except OSError:
        raise refused from None
    try:
        real = os.readlink(fd_path(fd))
    except OSError:
        real = ""
    if not any(is_under(real, r) for r in roots):
        os.close(fd)
        raise refused
    return fd


def fd_path(fd: int) -> str:
    """The path to hand mount(2) so that it acts on exactly what ``fd`` is."""
    return f"/proc/self/fd/{fd}"


def private_dir(path: str, what: str, mode: int = 0o700) -> str:
    """Make sure ``path`` is a directory only its owner (us) can enter.

    Created with ``mode`` (parents as usual, 0755).  An existing one must be
    a real directory (not a symlink) owned by us; if others may enter or
    write it (a store made by an older pycr, 0755), it is tightened to
    ``mode`` through an fd that refused to follow a symlink.  Anything else
    is a ConfigError naming ``what`` and the path: a root another user can
    plant files or symlinks in would let them steer what root writes or
    deletes, and a readable image store hands out its setuid binaries.
    """
    import stat

    from pycr.core.errors import ConfigError

    path = os.path.abspath(path)
    parent = os.path.dirname(path)
    try:
        if parent:
            os.makedirs(parent, mode=0o755, exist_ok=True)
        try:
            os.mkdir(path, mode)
        except FileExistsError:
            pass
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as e:
        if e.errno in (40, 20):  # ELOOP, ENOTDIR: a symlink or a file where the directory belongs
            raise ConfigError(f"{what} {path}: is not a directory (a symlink or a file); refusing to use it") from None
        raise ConfigError(f"{what} {path}: {e.strerror}") from None
    try:
        st = os.fstat(fd)
        if st.st_uid != os.geteuid():
            raise ConfigError(f"{what} {path}: owned by uid {st.st_uid}, not by us (uid {os.geteuid()}); "
                              "refusing to use it")
        if stat.S_IMODE(st.st_mode) & 0o077 & ~mode:
            os.fchmod(fd, mode)
    finally:
        os.close(fd)
    return path
