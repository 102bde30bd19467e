"""The content store: sha256-addressed blobs shared by every image, plus tags.

Layout under the store root (``$PYCR_STORAGE``, default ``/var/lib/pycr``)::

    blobs/sha256/<hex>     verified content, immutable once renamed into place
    ingest/<hex>.partial   a download in progress; kept after a failure so the
                           next pull resumes with ``Range`` (pruned by ``image prune``)
    locks/<hex>.lock       per-blob flock: two pulls of one image never race
    refs.json              {"docker.io/library/busybox:latest": {"digest": ..., "index": ...}}
    layers/sha256/<hex>/   a layer unpacked once, read-only, shared by overlay mounts
    containers/<id>/       per-container state of a rootfs strategy (+ ``image.json``,
                           which keeps the image's blobs alive during GC)

Every write is a temporary file, fsync, then rename, so a crash leaves either
the old content or the new, never half of it.  A blob is only renamed into
``blobs/`` after its sha256 was checked against the digest it was asked for.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from typing import Any, Iterator

from pycr.core import ContentStore, PycrError

DEFAULT_ROOT = "/var/lib/pycr"


class DigestMismatch(PycrError):
    """A blob's content does not hash to the digest it was fetched for."""


def default_root() -> str:
    return os.environ.get("PYCR_STORAGE") or DEFAULT_ROOT


def split_digest(digest: str) -> str:
    """Return the hex of a ``sha256:<hex>`` digest; refuse anything else (it becomes a path)."""
    algo, _, hexpart = digest.partition(":")
    if algo != "sha256" or len(hexpart) != 64 or any(c not in "0123456789abcdef" for c in hexpart):
        raise PycrError(f"unsupported or malformed digest {digest!r} (only sha256 is supported)")
    return hexpart


def atomic_write(path: str, data: bytes, mode: int = 0o644, durable: bool = True) -> None:
    """Write ``data`` to ``path`` via a temporary file and rename: never half a file.

    ``durable`` fsyncs the file and its directory too; without it a crash may
    lose the write (or leave it empty), which only a cache can afford."""
    tmp = f"{path}.tmp-{os.getpid()}-{id(data):x}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.rename(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if durable:
        _fsync_dir(os.path.dirname(path))


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Ingest:
    """A blob being written: resumable, hashed as it goes, verified on commit."""

    def __init__(self, store: "Store", digest: str, size: int | None):
        self.store = store
        self.digest = digest
        self.size = size
        self.path = os.path.join(store.root, "ingest", split_digest(digest) + ".partial")
        self._hash = hashlib.sha256()
        self._f = None
        self.offset = 0

    def open(self, resume: bool = True) -> "Ingest":
        """Open the partial file; with ``resume`` keep (and re-hash) what an earlier try wrote."""
        if resume and os.path.exists(self.path):
            with open(self.path, "rb") as f:
                while chunk := f.read(1 << 20):
                    self._hash.update(chunk)
                    self.offset += len(chunk)
            if self.size is not None and self.offset > self.size:
                self.restart()
                return self
            self._f = open(self.path, "ab")
        else:
            self._f = open(self.path, "wb")
        return self

    def restart(self) -> None:
        """Throw away partial content (the server ignored our Range)."""
        if self._f:
            self._f.close()
        self._hash = hashlib.sha256()
        self.offset = 0
        self._f = open(self.path, "wb")

    def write(self, chunk: bytes) -> None:
        self._f.write(chunk)
        self._hash.update(chunk)
        self.offset += len(chunk)
        if self.size is not None and self.offset > self.size:
            self.discard()
            raise DigestMismatch(f"blob {self.digest} is larger than the {self.size} bytes its descriptor says")

    def close(self) -> None:
        if self._f:
            self._f.close()
            self._f = None

    def discard(self) -> None:
        self.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)

    def commit(self) -> str:
        """Verify size and digest, fsync, rename into ``blobs/``.  Returns the blob path."""
        self._f.flush()
        os.fsync(self._f.fileno())
        self.close()
        got = "sha256:" + self._hash.hexdigest()
        if got != self.digest:
            self.discard()
            raise DigestMismatch(f"blob {self.digest} failed verification: its content hashes to {got}")
        if self.size is not None and self.offset != self.size:
            self.discard()
            raise DigestMismatch(f"blob {self.digest} has {self.offset} bytes, its descriptor says {self.size}")
        dest = self.store.blob_path(self.digest)
        os.rename(self.path, dest)
        _fsync_dir(os.path.dirname(dest))
        return dest


class Store(ContentStore):
    """Blobs, tags and unpacked layers under one root directory: the ``local`` store driver."""

    name = "local"

    def __init__(self, root: str | None = None):
        from pycr.core import private_dir

        self.root = private_dir(root or default_root(), "image store")  # layers hold setuid files
        try:
            for sub in ("blobs/sha256", "ingest", "locks", "layers/sha256", "containers", "tmp"):
                os.makedirs(os.path.join(self.root, sub), mode=0o700, exist_ok=True)
        except OSError as e:
            raise PycrError(f"image store {self.root}: {e.strerror} (set PYCR_STORAGE to use another "
                            "directory)") from None

    # -- blobs ----------------------------------------------------------------
    def blob_path(self, digest: str) -> str:
        return os.path.join(self.root, "blobs", "sha256", split_digest(digest))

    def has_blob(self, digest: str) -> bool:
        return os.path.exists(self.blob_path(digest))

    def read_blob(self, digest: str) -> bytes:
        try:
            with open(self.blob_path(digest), "rb") as f:
                return f.read()
        except FileNotFoundError:
            raise PycrError(f"blob {digest} is not in the store {self.root}") from None

    def read_json(self, digest: str) -> dict[str, Any]:
        try:
            return json.loads(self.read_blob(digest))
        except ValueError as e:
            raise PycrError(f"blob {digest} is not valid JSON: {e}") from None

    def put_blob(self, data: bytes, digest: str | None = None) -> str:
        """Store small content (manifests, configs); verifies ``digest`` when given."""
        got = "sha256:" + hashlib.sha256(data).hexdigest()
        if digest is not None and digest != got:
            raise DigestMismatch(f"blob {digest} failed verification: its content hashes to {got}")
        path = self.blob_path(got)
        if not os.path.exists(path):
            with self.lock(got):
                if not os.path.exists(path):
                    atomic_write(path, data, 0o444)
        return got

    def ingest(self, digest: str, size: int | None = None) -> Ingest:
        """Start (or resume) writing a blob; use under :meth:`lock` for that digest."""
        return Ingest(self, digest, size)

    def put_stream(self, f, digest: str | None = None, size: int | None = None) -> str:
        """Copy a readable stream into the store, verifying ``digest`` when given; return the digest."""
        if digest is not None and self.has_blob(digest):
            return digest
        if digest is None:  # unknown digest: hash into a private temporary file, then rename
            import tempfile

            h = hashlib.sha256()
            fd, tmp = tempfile.mkstemp(dir=os.path.join(self.root, "tmp"))
            try:
                with os.fdopen(fd, "wb") as out:
                    while chunk := f.read(1 << 20):
                        h.update(chunk)
                        out.write(chunk)
                    out.flush()
                    os.fsync(out.fileno())
                digest = "sha256:" + h.hexdigest()
                os.chmod(tmp, 0o444)
                with self.lock(digest):
                    os.rename(tmp, self.blob_path(digest))
            finally:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
            return digest
        with self.lock(digest):
            if self.has_blob(digest):
                return digest
            w = self.ingest(digest, size).open(resume=False)
            try:
                while chunk := f.read(1 << 20):
                    w.write(chunk)
                w.commit()
            except BaseException:
                w.discard()
                raise
        return digest

    def blob_size(self, digest: str) -> int:
        return os.stat(self.blob_path(digest)).st_size

    def blobs(self) -> Iterator[str]:
        for name in os.listdir(os.path.join(self.root, "blobs", "sha256")):
            if len(name) == 64:
                yield "sha256:" + name

    # -- locks ----------------------------------------------------------------
    @contextlib.contextmanager
    def lock(self, name: str, shared: bool = False):
        """An flock on ``locks/<name>.lock`` (``name`` is a digest or a fixed word)."""
        import fcntl

        key = split_digest(name) if ":" in name else name
        fd = os.open(os.path.join(self.root, "locks", key + ".lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    # -- references -----------------------------------------------------------
    def _refs_path(self) -> str:
        return os.path.join(self.root, "refs.json")

    def refs(self) -> dict[str, dict[str, Any]]:
        try:
            with open(self._refs_path()) as f:
                return json.load(f)
        except FileNotFoundError:
            return {}

    @contextlib.contextmanager
    def edit_refs(self):
        """Read-modify-write ``refs.json`` under the store's refs lock."""
        with self.lock("refs"):
            refs = self.refs()
            yield refs
            atomic_write(self._refs_path(), json.dumps(refs, indent=1, sort_keys=True).encode())

    def set_ref(self, name: str, digest: str, **extra: Any) -> None:
        import time

        with self.edit_refs() as refs:
            refs[name] = {"digest": digest, "created": int(time.time()), **extra}

    def resolve(self, name: str) -> dict[str, Any] | None:
        return self.refs().get(name)

    # -- images ---------------------------------------------------------------
    def image(self, manifest_digest: str) -> "Image":
        manifest = self.read_json(manifest_digest)
        config = self.read_json(manifest["config"]["digest"])
        return Image(manifest_digest, manifest, config)

    def layer_dir(self, digest: str) -> str:
        return os.path.join(self.root, "layers", "sha256", split_digest(digest))

    def unpacked_layer(self, digest: str, media_type: str = "") -> str:
        """Unpack a layer blob once (overlay mode) into ``layers/``; return its directory."""
        dest = self.layer_dir(digest)
        if os.path.isdir(dest):  # the common case: no imports, one stat
            return dest
        import shutil
        import tempfile

        from pycr.plugins.images.unpack import unpack_layer

        with self.lock(digest):
            if os.path.isdir(dest):
                return dest
            tmp = tempfile.mkdtemp(prefix="layer-", dir=os.path.join(self.root, "tmp"))
            try:
                with open(self.blob_path(digest), "rb") as f:
                    unpack_layer(f, tmp, mode="overlay", layer_name=f"layer {digest}")
                os.chmod(tmp, 0o755)
                os.rename(tmp, dest)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
        return dest

    # -- garbage collection ---------------------------------------------------
    def live_digests(self) -> set[str]:
        """Every blob an image tag or an existing container still needs."""
        live: set[str] = set()
        roots: list[str] = []
        for rec in self.refs().values():
            roots.append(rec["digest"])
            if rec.get("index"):
                live.add(rec["index"])
        cdir = os.path.join(self.root, "containers")
        for cid in os.listdir(cdir):
            with contextlib.suppress(OSError, ValueError, KeyError):
                with open(os.path.join(cdir, cid, "image.json")) as f:
                    roots.append(json.load(f)["manifest"])
        for digest in roots:
            live.add(digest)
            with contextlib.suppress(PycrError, KeyError, TypeError):
                m = self.read_json(digest)
                live.add(m["config"]["digest"])
                live.update(layer["digest"] for layer in m.get("layers", []))
        return live

    def gc(self) -> tuple[list[str], int]:
        """Remove unreferenced blobs, unpacked layers and stale partials; return (removed, bytes)."""
        import shutil

        removed: list[str] = []
        freed = 0
        with self.lock("gc"):
            live = self.live_digests()
            for digest in list(self.blobs()):
                if digest in live:
                    continue
                with self.lock(digest):
                    path = self.blob_path(digest)
                    with contextlib.suppress(FileNotFoundError):
                        freed += os.stat(path).st_size
                        os.unlink(path)
                        removed.append(digest)
            ldir = os.path.join(self.root, "layers", "sha256")
            for hexpart in os.listdir(ldir):
                if "sha256:" + hexpart not in live:
                    shutil.rmtree(os.path.join(ldir, hexpart), ignore_errors=True)
            idir = os.path.join(self.root, "ingest")
            for name in os.listdir(idir):
                with contextlib.suppress(OSError):
                    freed += os.stat(os.path.join(idir, name)).st_size
                    os.unlink(os.path.join(idir, name))
        return removed, freed


class Image:
    """A stored image: its manifest digest, manifest and config."""

    def __init__(self, digest: str, manifest: dict[str, Any], config: dict[str, Any]):
        self.digest = digest
        self.manifest = manifest
        self.config = config

    @property
    def id(self) -> str:
        """The config digest, as docker calls an image's ID."""
        return self.manifest["config"]["digest"]

    @property
    def layers(self) -> list[dict[str, Any]]:
        return self.manifest.get("layers", [])

    @property
    def size(self) -> int:
        return sum(int(x.get("size", 0)) for x in self.layers) + int(self.manifest["config"].get("size", 0))
