"""``docker cp``: ``HEAD/GET/PUT /containers/{id}/archive?path=`` on the container's root filesystem.

Every path is resolved by the kernel inside the container's rootfs
(``openat2`` with ``RESOLVE_IN_ROOT``, :func:`pycr.core.open_in_root`):
a symlink the container planted (``/x -> /etc``), ``..`` or a directory
swapped for a link meanwhile resolve as if the rootfs were ``/``, never to
the host.  Reading walks directory fds (``O_NOFOLLOW``, links archived as
links, never followed); extracting creates each entry with one ``*at`` call
on the fd of its parent, found with ``RESOLVE_NO_SYMLINKS`` below the
destination, so an archive can neither climb out (``..``, absolute names)
nor write through a link it or the container made.  Paths are those of the
rootfs as the host sees it: mounts made inside the container (volumes,
tmpfs) are not seen.
"""

from __future__ import annotations

import base64
import json
import os
import stat
import tarfile

from pycr.plugins.api.errors import ApiError

_GO_TYPE = ((stat.S_ISDIR, 1 << 31), (stat.S_ISLNK, 1 << 27), (stat.S_ISFIFO, 1 << 25), (stat.S_ISSOCK, 1 << 24),
            (stat.S_ISBLK, 1 << 26), (stat.S_ISCHR, (1 << 26) | (1 << 21)))


def _root(ref: str) -> str:
    from pycr.plugins.api import layers

    rec = layers.manage.resolve(ref)
    root = rec.data.get("rootfs")
    if not root or not os.path.isdir(root) or not os.listdir(root):
        raise ApiError(409, f"container {rec.name}: its root filesystem is not mounted (start it first)")
    return root


def _open(root: str, path: str, flags: int) -> int:
    from pycr.core import open_in_root

    if not path.startswith("/"):
        raise ApiError(400, f"path {path!r}: must be absolute")
    try:
        return open_in_root(root, path, flags)
    except OSError as e:
        if e.errno in (2, 20):
            raise ApiError(404, f"Could not find the file {path} in container") from None
        raise ApiError(400, f"path {path}: {e.strerror}") from None


def _stat_header(path: str, st, link: str) -> str:
    mode = stat.S_IMODE(st.st_mode) & 0o777
    mode |= next((bit for test, bit in _GO_TYPE if test(st.st_mode)), 0)
    for flag, bit in ((stat.S_ISUID, 1 << 23), (stat.S_ISGID, 1 << 22), (stat.S_ISVTX, 1 << 20)):
        if st.st_mode & flag:
            mode |= bit
    from datetime import datetime, timezone

    doc = {"name": os.path.basename(path.rstrip("/")) or "/", "size": st.st_size, "mode": mode,
           "mtime": datetime.fromtimestamp(st.st_mtime, timezone.utc).isoformat(), "linkTarget": link}
    return base64.b64encode(json.dumps(doc).encode()).decode()


def stat_path(ref: str, path: str) -> str:
    """``X-Docker-Container-Path-Stat`` of ``path`` (a final symlink is described, not followed)."""
    root = _root(ref)
    parent = _open(root, os.path.dirname(path.rstrip("/")) or "/", os.O_PATH | os.O_DIRECTORY)
    try:
        name = os.path.basename(path.rstrip("/"))
        if not name:
            return _stat_header("/", os.fstat(parent), "")
        try:
            st = os.stat(name, dir_fd=parent, follow_symlinks=False)
        except FileNotFoundError:
            raise ApiError(404, f"Could not find the file {path} in container") from None
        link = os.readlink(name, dir_fd=parent) if stat.S_ISLNK(st.st_mode) else ""
        return _stat_header(path, st, link)
    finally:
        os.close(parent)


def _info(name: str, st, link: str = "") -> tarfile.TarInfo:
    ti = tarfile.TarInfo(name)
    ti.mode, ti.uid, ti.gid, ti.mtime = stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, int(st.st_mtime)
    if stat.S_ISDIR(st.st_mode):
        ti.type = tarfile.DIRTYPE
    elif stat.S_ISLNK(st.st_mode):
        ti.type, ti.linkname = tarfile.SYMTYPE, link
    elif stat.S_ISFIFO(st.st_mode):
        ti.type = tarfile.FIFOTYPE
    elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
        ti.type = tarfile.CHRTYPE if stat.S_ISCHR(st.st_mode) else tarfile.BLKTYPE
        ti.devmajor, ti.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
    elif stat.S_ISREG(st.st_mode):
        ti.size = st.st_size
    else:
        return None  # sockets: tar has no type for them
    return ti


class _Exact:
    """A file read as exactly ``size`` bytes (padded with zeros if it shrank meanwhile)."""

    def __init__(self, f, size: int):
        self.f, self.left = f, size

    def read(self, n: int = -1) -> bytes:
        n = self.left if n < 0 else min(n, self.left)
        data = self.f.read(n)
        data += b"\0" * (n - len(data))
        self.left -= n
        return data


def _add(tar: tarfile.TarFile, parent: int, name: str, arcname: str) -> None:
    try:
        _add_entry(tar, parent, name, arcname)
    except (FileNotFoundError, NotADirectoryError):
        pass  # removed or replaced while it was being archived, as tar says "file vanished"


def _add_entry(tar: tarfile.TarFile, parent: int, name: str, arcname: str) -> None:
    st = os.stat(name, dir_fd=parent, follow_symlinks=False)
    link = os.readlink(name, dir_fd=parent) if stat.S_ISLNK(st.st_mode) else ""
    ti = _info(arcname, st, link)
    if ti is None:
        return
    if stat.S_ISREG(st.st_mode):
        # an O_PATH fd first: opening a device node the container swapped in since the stat would
        # already act on it (and reading it would read the host's disk); reopened only once it is a file
        pfd = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent)
        try:
            now = os.fstat(pfd)
            if not stat.S_ISREG(now.st_mode):
                return
            fd = os.open(f"/proc/self/fd/{pfd}", os.O_RDONLY | os.O_CLOEXEC)
        finally:
            os.close(pfd)
        with os.fdopen(fd, "rb") as f:
            ti.size = now.st_size
            tar.addfile(ti, _Exact(f, ti.size))
        return
    tar.addfile(ti)
    if stat.S_ISDIR(st.st_mode):
        fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent)
        try:
            for child in sorted(os.listdir(fd)):
                _add(tar, fd, child, f"{arcname}/{child}")
        finally:
            os.close(fd)


def read_tar(ref: str, path: str, out: str) -> str:
    """Write ``path`` of the container (a tree) as a tar to the file ``out``; returns the stat header."""
    header = stat_path(ref, path)
    root = _root(ref)
    parent = _open(root, os.path.dirname(path.rstrip("/")) or "/", os.O_RDONLY | os.O_DIRECTORY)
    try:
        name = os.path.basename(path.rstrip("/")) or "."
        with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tar:
            _add(tar, parent, name, os.path.basename(path.rstrip("/")) or ".")
    finally:
        os.close(parent)
    return header


def write_tar(ref: str, path: str, archive: str) -> None:
    """Extract the tar file ``archive`` into directory ``path`` of the container."""
    from pycr.core import open_creating
    from pycr.plugins.images.archive_members import TAR_ERRORS, tar_error_line

    root = _root(ref)
    dest = _open(root, path, os.O_PATH | os.O_DIRECTORY)
    try:
        try:
            tar = tarfile.open(archive, "r:*")
        except TAR_ERRORS as e:
            raise ApiError(400, f"the request body: {tar_error_line(e)}") from None
        with tar:
            for m in _members(tar, tar_error_line):
                parts = [p for p in m.name.split("/") if p not in ("", ".")]
                if not parts or m.name.startswith("/") or ".." in parts:
                    if parts or m.name.startswith("/"):
                        raise ApiError(400, f"archive entry {m.name!r}: absolute or climbing out ('..')")
                    continue
                if m.islnk() or m.isdev():
                    raise ApiError(400, f"archive entry {m.name!r}: hard links and devices are not extracted")
                try:
                    parent = open_creating(dest, "/".join(parts[:-1]), "dir" if len(parts) > 1 else None)
                except OSError as e:
                    raise ApiError(400, f"archive entry {m.name!r}: {e.strerror} (a link on the way?)") from None
                try:
                    _extract(tar, m, parent, parts[-1])
                finally:
                    os.close(parent)
    finally:
        os.close(dest)


def _members(tar: tarfile.TarFile, why):
    """The archive's entries; a corrupt or cut-short body is the caller's error (400), not ours."""
    import zlib

    it = iter(tar)
    while True:
        try:
            m = next(it)
        except StopIteration:
            return
        except (tarfile.TarError, EOFError, zlib.error) as e:
            raise ApiError(400, f"the request body: {why(e)}") from None
        yield m


def _extract(tar: tarfile.TarFile, m: tarfile.TarInfo, parent: int, name: str) -> None:
    try:
        old = os.stat(name, dir_fd=parent, follow_symlinks=False)
    except FileNotFoundError:
        old = None
    if old is not None and not (m.isdir() and stat.S_ISDIR(old.st_mode)):
        if stat.S_ISDIR(old.st_mode):
            raise ApiError(400, f"archive entry {m.name!r}: a directory is in the way")
        os.unlink(name, dir_fd=parent)  # a file or a link: replaced, never written through
    if m.isdir():
        if old is None:
            os.mkdir(name, 0o700, dir_fd=parent)
        fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent)
    elif m.issym():
        os.symlink(m.linkname, name, dir_fd=parent)
        os.chown(name, m.uid, m.gid, dir_fd=parent, follow_symlinks=False)
        return
    elif m.isfile():
        fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=parent)
        src = tar.extractfile(m)
        while chunk := src.read(1 << 20):
            os.write(fd, chunk)
    elif m.isfifo():
        os.mkfifo(name, 0o600, dir_fd=parent)
        fd = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent)
    else:
        return
    try:
        if m.isfifo():
            os.chown(f"/proc/self/fd/{fd}", m.uid, m.gid)
            os.chmod(f"/proc/self/fd/{fd}", m.mode & 0o7777)
        else:
            os.fchown(fd, m.uid, m.gid)
            os.fchmod(fd, m.mode & 0o7777)
            os.utime(fd, (m.mtime, m.mtime))
    finally:
        os.close(fd)


def _path(request) -> str:
    path = request.query.get("path")
    if not path:
        raise ApiError(400, "path: which path in the container?")
    if "\0" in path:
        raise ApiError(400, "path: contains a NUL byte")
    if os.path.basename(path.rstrip("/")) in (".", ".."):  # the last name is looked up on its parent's fd
        raise ApiError(400, f"path {path!r}: name the directory itself, not '.' or '..' in it")
    return path


def _tmp() -> str:
    import tempfile

    from pycr.plugins.api import images

    fd, path = tempfile.mkstemp(prefix="pycr-api-archive-", suffix=".tar", dir=images._tmpdir())
    os.close(fd)
    return path


async def head(request):
    from aiohttp import web

    from pycr.plugins.api.server import container_ref, srv_of

    header = await srv_of(request).read(stat_path, container_ref(request), _path(request))
    return web.Response(status=200, headers={"X-Docker-Container-Path-Stat": header,
                                             "Content-Type": "application/json"})


async def get(request):
    import asyncio

    from aiohttp import web

    from pycr.plugins.api.server import container_ref, prepared, srv_of

    srv, tmp = srv_of(request), _tmp()
    try:
        header = await srv.read(read_tar, container_ref(request), _path(request), tmp)
        resp = web.StreamResponse(headers={"Content-Type": "application/x-tar", "X-Docker-Container-Path-Stat": header})
        await prepared(request, resp)
        with open(tmp, "rb") as f:
            while chunk := await asyncio.get_running_loop().run_in_executor(srv.threads, f.read, 1 << 20):
                await resp.write(chunk)
        await resp.write_eof()
        return resp
    finally:
        os.unlink(tmp)


async def put(request):
    import asyncio

    from aiohttp import web

    from pycr.plugins.api.server import container_ref, srv_of

    srv, tmp, path = srv_of(request), _tmp(), _path(request)
    try:
        with open(tmp, "wb") as f:
            async for chunk in request.content.iter_chunked(1 << 20):
                await asyncio.get_running_loop().run_in_executor(srv.threads, f.write, chunk)
        await srv.change(write_tar, container_ref(request), path, tmp)
    finally:
        os.unlink(tmp)
    return web.Response(status=200)


def routes(r) -> None:
    r.add("HEAD", "/containers/{id}/archive", head)
    r.add("GET", "/containers/{id}/archive", get)
    r.add("PUT", "/containers/{id}/archive", put)
