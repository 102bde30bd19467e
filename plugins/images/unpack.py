"""Unpack image layers so that a hostile layer cannot write outside its target.

Every path in a layer is resolved one component at a time from a directory
file descriptor opened on the target, with ``O_NOFOLLOW|O_DIRECTORY``: a
symlink met on the way is never followed, it is refused (``writing through a
symlink``).  Final components are created with ``*at`` calls relative to the
verified parent fd, never through a path string the kernel would resolve
again.  So:

- absolute member names and ``..`` components are refused;
- a symlink may point anywhere (it is just data inside the rootfs), but no
  later member may be written *through* it, in this layer or a lower one;
- hardlink targets are resolved by the same rules (and linked with
  ``AT_SYMLINK_NOFOLLOW``), so they cannot name a file outside the target;
- device nodes are created only with ``devices="allow"``; ``"skip"`` (the
  default) drops them, ``"refuse"`` fails.

Whiteouts (OCI image-spec, ``layer.md``): in ``flatten`` mode (the ``chroot``
strategy, one directory for the whole image) ``.wh.NAME`` removes ``NAME``
and ``.wh..wh..opq`` empties its directory of what lower layers put there; in
``overlay`` mode (one directory per layer) they become overlayfs whiteouts: a
0/0 character device, and the ``trusted.overlay.opaque=y`` xattr.  ``context``
mode (a build context uploaded to ``POST /build``) has no whiteouts (``.wh.``
names are plain files) and refuses absolute symlink targets.

Modes, ownership (when root), xattrs (PAX ``SCHILY.xattr.*``), mtimes and
hardlinks are preserved.  Directory mtimes are set last, after their
children were written.

Compression is sniffed from the stream's magic bytes: gzip via :mod:`zlib`,
zstd via the optional ``zstandard`` package if installed, else the ``zstd``
binary (Python 3.11's stdlib has no zstd), bzip2 and xz (what docker accepts
for build contexts) via :mod:`bz2` / :mod:`lzma`, or none.
"""

from __future__ import annotations

import errno
import os
import stat
import tarfile
from dataclasses import dataclass, field
from typing import IO, BinaryIO

from pycr.core import PycrError

WHITEOUT_PREFIX = ".wh."
OPAQUE = ".wh..wh..opq"
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_CHUNK = 1 << 20


class UnpackError(PycrError):
    """A layer is malformed or hostile, or the target refused it; nothing outside the target was touched.

    ``errno`` is the kernel's error number when the failure was the target's (ENOSPC, EDQUOT,
    EROFS...), so a rootfs strategy can tell a full disk from a bad layer; the original
    ``OSError`` is the exception's ``__cause__``.
    """

    errno: int | None = None


@dataclass
class UnpackStats:
    files: int = 0
    dirs: int = 0
    symlinks: int = 0
    hardlinks: int = 0
    whiteouts: int = 0
    devices_skipped: int = 0
    bytes: int = 0
    truncated_tail: bool = False
    created: set[str] = field(default_factory=set, repr=False)


# -- decompression ------------------------------------------------------------

def open_decompressed(f: BinaryIO, stack) -> IO[bytes]:
    """Return a readable stream of ``f``'s decompressed bytes (gzip/zstd/none by magic)."""
    head = f.peek(4)[:4] if hasattr(f, "peek") else b""
    if not head:
        import io

        f = io.BufferedReader(f, _CHUNK)  # type: ignore[arg-type]
        head = f.peek(4)[:4]
    if head[:2] == b"\x1f\x8b":
        reader = _Inflater(f)
        stack.callback(reader.close)
        return reader
    if head == b"\x28\xb5\x2f\xfd":
        return _zstd_stream(f, stack)
    if head[:3] == b"BZh" or head == b"\xfd7zX":
        import bz2
        import lzma

        return stack.enter_context(bz2.BZ2File(f) if head[:3] == b"BZh" else lzma.LZMAFile(f))
    return f


class _Inflater:
    """gzip decompression in a helper thread (zlib releases the GIL), as ``tar -z`` pipes through
    ``gzip -d``: inflating the next megabyte overlaps with writing the last one.  Concatenated
    gzip members and zero padding after the last one are accepted; a stream that ends early
    raises EOFError."""

    def __init__(self, f: BinaryIO):
        import queue
        import threading

        self._q: queue.Queue = queue.Queue(maxsize=8)
        self._buf = b""
        self._pos = 0
        self._done = False
        self._stop = False
        self._t = threading.Thread(target=self._run, args=(f,), name="pycr-inflate", daemon=True)
        self._t.start()

    def _run(self, f) -> None:
        import zlib

        try:
            d = zlib.decompressobj(31)
            while not self._stop:
                chunk = f.read(_CHUNK)
                if not chunk:
                    if not d.eof:
                        raise EOFError("compressed stream ended before the end-of-stream marker")
                    break
                while chunk and not self._stop:
                    # at most _CHUNK out per call: a gzip bomb (1000:1) never sits in memory whole
                    out = d.decompress(chunk, _CHUNK)
                    if out:
                        self._q.put(out)
                    chunk = d.unconsumed_tail
                    if d.eof:
                        rest = d.unused_data
                        chunk = b""
                        if rest.strip(b"\0"):  # another gzip member follows
                            d = zlib.decompressobj(31)
                            chunk = rest
            self._q.put(None)
        except BaseException as e:  # handed to the reader
            self._q.put(e)

    def read(self, n: int = -1) -> bytes:
        """Up to ``n`` bytes; only what is returned is copied (tarfile reads 512 at a time)."""
        parts = []
        want = n
        while want != 0:
            if self._pos >= len(self._buf):
                if self._done:
                    break
                item = self._q.get()
                if item is None:
                    self._done = True
                    break
                if isinstance(item, BaseException):
                    self._done = True
                    raise item
                self._buf, self._pos = item, 0
            take = len(self._buf) - self._pos if want < 0 else min(want, len(self._buf) - self._pos)
            if self._pos == 0 and take == len(self._buf):
                parts.append(self._buf)
            else:
                parts.append(self._buf[self._pos:self._pos + take])
            self._pos += take
            if want > 0:
                want -= take
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def close(self) -> None:
        import queue

        self._stop = True
        while self._t.is_alive():  # unblock a producer waiting on a full queue
            try:
                self._q.get(timeout=0.05)
            except queue.Empty:
                pass
        self._t.join()


def _zstd_stream(f: BinaryIO, stack) -> IO[bytes]:
    try:
        import zstandard  # optional dependency: pip install pycr[zstd]
    except ImportError:
        zstandard = None
    if zstandard is not None:
        return stack.enter_context(zstandard.ZstdDecompressor().stream_reader(f, read_size=_CHUNK))
    import shutil
    import subprocess
    import threading

    exe = shutil.which("zstd")
    if exe is None:
        raise UnpackError("layer is zstd-compressed: install the 'zstandard' package or the 'zstd' binary")
    proc = subprocess.Popen([exe, "-dcq"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)

    def feed():
        try:
            while chunk := f.read(_CHUNK):
                proc.stdin.write(chunk)
        except (BrokenPipeError, OSError):
            pass
        finally:
            try:
                proc.stdin.close()
            except OSError:
                pass

    t = threading.Thread(target=feed, daemon=True)
    t.start()

    def finish(exc_type, exc, tb):
        proc.stdout.close()  # an early stop makes zstd exit on EPIPE, which ends the feeder
        t.join()
        if proc.wait() != 0 and exc_type is None:  # never mask the error that stopped us
            raise UnpackError(f"zstd failed with exit status {proc.returncode}")
        return False

    stack.push(finish)
    return proc.stdout


# -- path resolution ----------------------------------------------------------

def split_member(name: str, what: str = "path") -> list[str]:
    """Split a member name into components; refuse absolute paths and ``..``."""
    if name.startswith("/"):
        raise UnpackError(f"member {what} {name!r} is absolute")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise UnpackError(f"member {what} {name!r} contains '..'")
    return parts


class _Root:
    """A target directory held open by fd; resolves parents without following symlinks."""

    def __init__(self, path: str):
        self.path = path
        self.fd = os.open(path, _DIR_FLAGS)
        self._cache: tuple[tuple[str, ...], int] | None = None

    def close(self) -> None:
        self._drop_cache()
        os.close(self.fd)

    def _drop_cache(self) -> None:
        if self._cache is not None:
            os.close(self._cache[1])
            self._cache = None

    def parent(self, parts: list[str], *, create: bool, member: str) -> int | None:
        """Open the directory holding ``parts[-1]``; returns a borrowed fd (do not close).

        Missing intermediate directories are created (0755) when ``create``;
        otherwise ``None`` is returned for a missing parent.
        """
        dirs = tuple(parts[:-1])
        if self._cache is not None and self._cache[0] == dirs:
            return self._cache[1]
        self._drop_cache()
        fd = os.dup(self.fd)
        try:
            for comp in dirs:
                try:
                    nfd = os.open(comp, _DIR_FLAGS, dir_fd=fd)
                except FileNotFoundError:
                    if not create:
                        os.close(fd)
                        return None
                    os.mkdir(comp, 0o755, dir_fd=fd)
                    nfd = os.open(comp, _DIR_FLAGS, dir_fd=fd)
                except OSError as e:
                    if e.errno in (errno.ELOOP, errno.ENOTDIR):
                        st = os.stat(comp, dir_fd=fd, follow_symlinks=False)
                        if stat.S_ISLNK(st.st_mode):
                            raise UnpackError(f"member {member!r} would be written through the symlink "
                                              f"{comp!r}") from None
                        raise UnpackError(f"member {member!r}: {comp!r} is not a directory") from None
                    raise
                os.close(fd)
                fd = nfd
        except BaseException:
            os.close(fd)
            raise
        self._cache = (dirs, fd)
        return fd

    def invalidate(self) -> None:
        """Forget the cached parent (a directory may have been replaced)."""
        self._drop_cache()


def _remove(dirfd: int, name: str) -> None:
    """Remove ``name`` in ``dirfd`` whatever it is, never following symlinks."""
    try:
        st = os.stat(name, dir_fd=dirfd, follow_symlinks=False)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        import shutil

        shutil.rmtree(name, dir_fd=dirfd)  # symlink-attack resistant on Linux
    else:
        os.unlink(name, dir_fd=dirfd)


def _clear_dir(dirfd: int, keep: set[str]) -> None:
    for entry in os.listdir(dirfd):
        if entry not in keep:
            _remove(dirfd, entry)


# -- the unpacker -------------------------------------------------------------

def unpack_layer(stream: BinaryIO, target: str, *, mode: str = "flatten", devices: str = "skip",
                 same_owner: bool | None = None, layer_name: str = "layer",
                 limits: "Limits | None" = None) -> UnpackStats:
    """Unpack one (possibly compressed) layer tar stream into ``target``.

    ``mode`` is ``"flatten"`` (apply onto what lower layers left in
    ``target``), ``"overlay"`` (``target`` holds this layer only; whiteouts
    become overlayfs whiteouts) or ``"context"`` (a build context: no
    whiteouts, no absolute symlinks).  Raises :class:`UnpackError` naming the
    offending member; the caller discards ``target`` on failure.
    """
    import contextlib
    import gzip
    import zlib

    if mode not in ("flatten", "overlay", "context"):
        raise ValueError(mode)
    if same_owner is None:
        same_owner = os.geteuid() == 0
    stats = UnpackStats()
    dir_times: list[tuple[list[str], int]] = []
    limits = limits or Limits.from_env()
    root = _Root(target)
    with contextlib.ExitStack() as stack:
        stack.callback(root.close)
        data = open_decompressed(stream, stack)
        try:
            # tarfile's stream copies what is left of its buffer on every read: keep it small
            tf = stack.enter_context(tarfile.open(fileobj=data, mode="r|", errorlevel=2, bufsize=64 << 10))
            members = iter(tf)
            while True:
                try:
                    member = next(members)
                except StopIteration:
                    break
                except tarfile.ReadError as e:
                    # The stream ended right after a complete member, without its padding and the
                    # end-of-archive blocks (umoci 0.4's ``insert`` writes such layers): every byte
                    # of every member arrived, so accept it; anything else is corruption.
                    if str(e) == "unexpected end of data" and stats.created:
                        stats.truncated_tail = True
                        break
                    raise
                _apply(tf, member, root, mode, devices, same_owner, stats, dir_times, limits)
        except UnpackError as e:
            raise UnpackError(f"{layer_name}: {e}") from None
        except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as e:
            raise UnpackError(f"{layer_name}: corrupt layer: {e}") from None
        except OSError as e:
            err = UnpackError(f"{layer_name}: cannot unpack into {target}: {e}")
            err.errno = e.errno
            raise err from e  # one line for users (the CLI prints str()); the cause for strategies
        # directory mtimes last, deepest first, so children do not bump them again
        for parts, mtime in sorted(dir_times, key=lambda x: -len(x[0])):
            try:
                fd = root.parent(parts, create=False, member="/".join(parts))
                if fd is not None:
                    os.utime(parts[-1], (mtime, mtime), dir_fd=fd, follow_symlinks=False)
            except (OSError, UnpackError):
                pass  # replaced by a later member: its own metadata stands
    return stats


def _apply(tf, m: tarfile.TarInfo, root: _Root, mode: str, devices: str, same_owner: bool,
           stats: UnpackStats, dir_times, limits: "Limits") -> None:
    limits.count(stats, m)
    parts = split_member(m.name)
    if not parts:  # "./" itself: take the root directory's metadata
        if m.isdir():
            os.chmod(root.fd, m.mode & 0o7777)
        return
    base = parts[-1]
    key = "/".join(parts)
    # whiteouts ---------------------------------------------------------------
    if base.startswith(WHITEOUT_PREFIX) and mode != "context":
        stats.whiteouts += 1
        dirfd = root.parent(parts, create=mode == "overlay", member=m.name)
        if dirfd is None:  # flatten: nothing below to hide
            return
        if base == OPAQUE:
            if mode == "overlay":
                os.setxattr(f"/proc/self/fd/{dirfd}", "trusted.overlay.opaque", b"y")
            else:
                prefix = "/".join(parts[:-1])
                keep = {p[len(prefix) + 1 if prefix else 0:].split("/")[0] for p in stats.created
                        if (p.startswith(prefix + "/") if prefix else True)}
                _clear_dir(dirfd, keep)
            root.invalidate()
            return
        name = base[len(WHITEOUT_PREFIX):]
        if not name or name in (".", ".."):
            raise UnpackError(f"member {m.name!r} is an invalid whiteout")
        _remove(dirfd, name)
        if mode == "overlay":
            os.mknod(name, stat.S_IFCHR | 0o000, os.makedev(0, 0), dir_fd=dirfd)
        root.invalidate()
        return
    dirfd = root.parent(parts, create=True, member=m.name)
    try:
        st = os.stat(base, dir_fd=dirfd, follow_symlinks=False)
    except FileNotFoundError:
        st = None
    if m.isdir():
        if st is not None and not stat.S_ISDIR(st.st_mode):
            os.unlink(base, dir_fd=dirfd)
            st = None
        if st is None:
            os.mkdir(base, 0o700, dir_fd=dirfd)
        stats.dirs += 1
        dir_times.append((parts, int(m.mtime)))
    else:
        if st is not None:
            _remove(dirfd, base)  # never follow: a symlink placed here is replaced, not written through
        if m.isreg():
            limits.charge(stats, m)
            fd = os.open(base, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600,
                         dir_fd=dirfd)
            try:
                _copy_data(tf.extractfile(m), fd, m)
                stats.bytes += m.size
            finally:
                os.close(fd)
            stats.files += 1
        elif m.issym():
            if mode == "context" and m.linkname.startswith("/"):
                raise UnpackError(f"member {m.name!r} is a symlink to the absolute path {m.linkname!r}")
            os.symlink(m.linkname, base, dir_fd=dirfd)
            stats.symlinks += 1
        elif m.islnk():
            lparts = split_member(m.linkname, "hardlink target")
            if not lparts:
                raise UnpackError(f"member {m.name!r} is a hardlink to the root directory")
            # resolve the link target's parent with the same rules, on a second root fd
            src_parent = _open_parent_nofollow(root.fd, lparts, m.name)
            try:
                try:
                    os.link(lparts[-1], base, src_dir_fd=src_parent, dst_dir_fd=dirfd, follow_symlinks=False)
                except FileNotFoundError:
                    raise UnpackError(f"member {m.name!r} is a hardlink to {m.linkname!r} "
                                      "which does not exist") from None
            finally:
                os.close(src_parent)
            stats.hardlinks += 1
            stats.created.add(key)
            return  # a hardlink shares its target's metadata
        elif m.ischr() or m.isblk() or m.isfifo():
            if m.isfifo():
                os.mkfifo(base, 0o600, dir_fd=dirfd)
            elif devices == "allow":
                kind = stat.S_IFCHR if m.ischr() else stat.S_IFBLK
                os.mknod(base, kind | 0o600, os.makedev(m.devmajor, m.devminor), dir_fd=dirfd)
            elif devices == "refuse":
                raise UnpackError(f"member {m.name!r} is a device node, which is not allowed here")
            else:
                stats.devices_skipped += 1
                return
        else:
            raise UnpackError(f"member {m.name!r} has an unsupported type {m.type!r}")
    stats.created.add(key)
    _set_metadata(m, base, dirfd, same_owner)


def _copy_data(src, fd: int, m: tarfile.TarInfo) -> None:
    """A member's bytes into ``fd``.  A sparse member (GNU/PAX sparse map) stays
    sparse: only its data regions are read and written, the holes are skipped
    with lseek and the file is sized with ftruncate."""
    regions = [(0, m.size)]
    if m.sparse is not None:
        # GNU's old format pads its map with (0, 0) slots; ExFileObject cannot seek on a stream,
        # its raw _FileInFile can: a hole is skipped without reading (or inflating) anything
        regions = [(offset, size) for offset, size in m.sparse if size > 0]
        src = src.raw
    for offset, size in regions:
        if m.sparse is not None:
            src.seek(offset)
            os.lseek(fd, offset, os.SEEK_SET)
        remaining = size
        while remaining > 0:
            chunk = src.read(min(_CHUNK, remaining))
            if not chunk:
                raise UnpackError(f"member {m.name!r} is truncated")
            _write_all(fd, chunk)
            remaining -= len(chunk)
    if m.sparse is not None:
        os.ftruncate(fd, m.size)


@dataclass
class Limits:
    """How big one layer may unpack: bytes of file data (apparent size) and
    entries.  From ``PYCR_LAYER_MAX_BYTES`` / ``PYCR_LAYER_MAX_FILES`` (0: no
    limit); the defaults stop a decompression bomb long before a disk fills."""

    max_bytes: int = 64 << 30
    max_files: int = 4_000_000

    @classmethod
    def from_env(cls) -> "Limits":
        out = cls()
        for attr, var in (("max_bytes", "PYCR_LAYER_MAX_BYTES"), ("max_files", "PYCR_LAYER_MAX_FILES")):
            text = os.environ.get(var)
            if text:
                try:
                    setattr(out, attr, int(text))
                except ValueError:
                    raise UnpackError(f"{var}={text!r}: not a whole number") from None
        return out

    def count(self, stats: UnpackStats, m: tarfile.TarInfo) -> None:
        entries = stats.files + stats.dirs + stats.symlinks + stats.hardlinks + stats.whiteouts + 1
        if self.max_files and entries > self.max_files:
            raise UnpackError(f"more than {self.max_files} entries (limit PYCR_LAYER_MAX_FILES), "
                              f"at member {m.name!r}")

    def charge(self, stats: UnpackStats, m: tarfile.TarInfo) -> None:
        if self.max_bytes and stats.bytes + m.size > self.max_bytes:
            raise UnpackError(f"unpacks to more than {self.max_bytes} bytes (limit PYCR_LAYER_MAX_BYTES), "
                              f"at member {m.name!r} of {m.size} bytes")


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _open_parent_nofollow(rootfd: int, parts: list[str], member: str) -> int:
    fd = os.dup(rootfd)
    try:
        for comp in parts[:-1]:
            try:
                nfd = os.open(comp, _DIR_FLAGS, dir_fd=fd)
            except OSError as e:
                if e.errno in (errno.ELOOP, errno.ENOTDIR, errno.ENOENT):
                    raise UnpackError(f"member {member!r}: hardlink target path is not a plain directory "
                                      f"at {comp!r}") from None
                raise
            os.close(fd)
            fd = nfd
    except BaseException:
        os.close(fd)
        raise
    return fd


def _set_metadata(m: tarfile.TarInfo, base: str, dirfd: int, same_owner: bool) -> None:
    link = m.issym()
    if same_owner:
        try:
            os.chown(base, m.uid, m.gid, dir_fd=dirfd, follow_symlinks=False)
        except OSError:
            pass
    if not link:
        os.chmod(base, m.mode & 0o7777, dir_fd=dirfd)
    xattrs = {k[len("SCHILY.xattr."):]: v for k, v in m.pax_headers.items() if k.startswith("SCHILY.xattr.")}
    if xattrs:
        path = f"/proc/self/fd/{dirfd}/{base}"
        for k, v in xattrs.items():
            try:
                os.setxattr(path, k, v.encode("utf-8", "surrogateescape"), follow_symlinks=False)
            except OSError:
                pass  # e.g. trusted.* without CAP_SYS_ADMIN, or a filesystem without xattrs
    if not m.isdir():
        try:
            os.utime(base, (m.mtime, m.mtime), dir_fd=dirfd, follow_symlinks=False)
        except OSError:
            pass
