"""``docker-archive:FILE`` (what ``docker save`` writes / ``docker load`` reads) and ``pycr import``.

A docker archive is a tar holding ``manifest.json`` (``[{"Config": ..,
"RepoTags": [..], "Layers": [..]}]``), the image config, and each layer as an
*uncompressed* tar whose sha256 is the config's ``rootfs.diff_ids`` entry.
Loading stores the layers as they are (uncompressed OCI layers) under a
Docker schema2 manifest; saving decompresses gzip/zstd layers so their
digests match the diff_ids again.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import tarfile
import time

from pycr.core import PycrError
from pycr.plugins.images import media
from pycr.plugins.images.archive_members import TAR_ERRORS, tar_error_line


@contextlib.contextmanager
def replacing(path: str, what: str):
    """An open file to write an archive into; it becomes ``path`` only when complete (a rename:
    readers never see half an archive) and is removed on any failure.  ``path`` must be absent
    or a regular file: a device, FIFO, directory or link there is refused, never replaced by a
    file (``save -o /dev/full`` replaced the device node).  The temporary file is made with
    O_EXCL next to ``path``, so a link planted under its name is never written through."""
    import stat
    import tempfile

    try:
        st = os.lstat(path)
    except FileNotFoundError:
        st = None
    except OSError as e:
        raise PycrError(f"{what}: {e.strerror}") from None
    if st is not None and not stat.S_ISREG(st.st_mode):
        raise PycrError(f"{what}: exists and is not a regular file (pycr writes a new file in its place)")
    try:
        fd, partial = tempfile.mkstemp(prefix=os.path.basename(path) + ".", suffix=".partial",
                                       dir=os.path.dirname(os.path.abspath(path)))
    except OSError as e:
        raise PycrError(f"{what}: {e.strerror}") from None
    try:
        os.fchmod(fd, 0o644)
        with os.fdopen(fd, "wb") as f:
            yield f
        os.rename(partial, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(partial)
        raise


def _manifest(store, config_digest: str, layers: list[tuple[str, int]], layer_type: str, kind: str) -> str:
    doc = {"schemaVersion": 2, "mediaType": kind,
           "config": {"mediaType": media.DOCKER_CONFIG if kind == media.DOCKER_MANIFEST else media.OCI_CONFIG,
                      "digest": config_digest, "size": store.blob_size(config_digest)},
           "layers": [{"mediaType": layer_type, "digest": d, "size": s} for d, s in layers]}
    return store.put_blob(json.dumps(doc, separators=(",", ":")).encode())


def _check_entries(entries, where: str) -> None:
    """manifest.json's shape, checked before anything is stored: a list of
    {"Config": str, "Layers": [str], "RepoTags": [str] or null}."""
    if not isinstance(entries, list):
        raise PycrError(f"{where}: expected a list of images, got {type(entries).__name__}")
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise PycrError(f"{where}[{i}]: expected an object with Config and Layers")
        if not isinstance(entry.get("Config"), str):
            raise PycrError(f"{where}[{i}].Config: expected a file name, got {entry.get('Config')!r}")
        for key, required in (("Layers", True), ("RepoTags", False)):
            value = entry.get(key)
            if (value is not None or required) and not (
                    isinstance(value, list) and all(isinstance(v, str) for v in value)):
                raise PycrError(f"{where}[{i}].{key}: expected a list of strings, got {value!r}")


class DockerArchiveSource:
    name = "docker-archive"

    def __init__(self, quiet: bool = True):
        self.last_name = None

    def pull(self, store, spec: str) -> str:
        """Load every image of the archive; tag its RepoTags; return the first manifest digest."""
        from pycr.plugins.images import reference
        from pycr.plugins.images.archive_members import ArchiveMembers

        path = spec
        with ArchiveMembers(path, f"docker-archive:{path}") as members:  # read in place, never extracted
            entries = members.json("manifest.json")
            _check_entries(entries, f"docker-archive:{path}: manifest.json")
            first = None
            for entry in entries:
                config_digest = store.put_blob(members.read(entry["Config"]))
                config = store.read_json(config_digest)
                rootfs = config.get("rootfs") if isinstance(config, dict) else None
                diff_ids = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
                if not isinstance(diff_ids, list):
                    raise PycrError(f"docker-archive:{path}: {entry['Config']}: rootfs.diff_ids is not a list")
                if len(diff_ids) != len(entry["Layers"]):
                    raise PycrError(f"docker-archive:{path}: {len(entry['Layers'])} layers but "
                                    f"{len(diff_ids)} diff_ids in {entry['Config']}")
                layers = []
                for name, diff_id in zip(entry["Layers"], diff_ids):
                    # the layer's digest must be its diff_id: verified while it is stored
                    d = store.put_stream(members.open(name, links=True), diff_id)
                    layers.append((d, store.blob_size(d)))
                digest = _manifest(store, config_digest, layers, media.OCI_LAYER, media.OCI_MANIFEST)
                for tag in entry.get("RepoTags") or []:
                    name = str(reference.parse(tag))
                    store.set_ref(name, digest, source=f"docker-archive:{os.path.abspath(path)}")
                    self.last_name = self.last_name or name
                first = first or digest
        if first is None:
            raise PycrError(f"docker-archive:{path}: manifest.json lists no image")
        return first

    def push(self, store, image, spec: str, tags: list[str] | None = None) -> str:
        """Write ``image`` as a docker archive at ``spec`` (``FILE[:NAME:TAG]`` not supported: use tags)."""
        from pycr.plugins.images.unpack import open_decompressed

        path = spec
        config_hex = image.id[7:]
        names = tags if tags is not None else [
            _short(n) for n, rec in store.refs().items() if rec["digest"] == image.digest and "@" not in n]
        layer_names = []
        with replacing(path, f"docker-archive:{path}") as f, tarfile.open(fileobj=f, mode="w") as out:
            def add(name: str, data: bytes | None = None, fileobj=None, size: int = 0):
                ti = tarfile.TarInfo(name)
                ti.mtime = int(time.time())
                ti.size = len(data) if data is not None else size
                out.addfile(ti, io.BytesIO(data) if data is not None else fileobj)

            add(f"{config_hex}.json", store.read_blob(image.id))
            for layer in image.layers:
                tmp = os.path.join(store.root, "tmp", f"save-{os.getpid()}-{layer['digest'][7:19]}")
                h = hashlib.sha256()
                with open(store.blob_path(layer["digest"]), "rb") as src, contextlib.ExitStack() as stack, \
                        open(tmp, "w+b") as t:
                    stack.callback(os.unlink, tmp)  # also when a write fails (a full disk)
                    data = open_decompressed(src, stack)
                    while chunk := data.read(1 << 20):
                        h.update(chunk)
                        t.write(chunk)
                    size = t.tell()
                    t.seek(0)
                    name = f"{h.hexdigest()}/layer.tar"
                    add(name, fileobj=t, size=size)
                layer_names.append(name)
            manifest = [{"Config": f"{config_hex}.json", "RepoTags": names, "Layers": layer_names}]
            add("manifest.json", json.dumps(manifest).encode())
        return image.digest


def _short(name: str) -> str:
    from pycr.plugins.images.reference import short_name

    return short_name(name)


def import_rootfs(store, tar_path: str, name: str, *, cmd: list[str] | None = None) -> str:
    """``pycr import``: a plain rootfs tarball (any compression) becomes a one-layer image named ``name``."""
    from pycr.plugins.images import reference
    from pycr.plugins.images.unpack import open_decompressed

    ref = str(reference.parse(name))
    h = hashlib.sha256()
    import gzip
    import tempfile

    fd, tmp = tempfile.mkstemp(dir=os.path.join(store.root, "tmp"))
    try:
        with open(tar_path, "rb") as src, contextlib.ExitStack() as stack, os.fdopen(fd, "wb") as raw, \
                gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6, mtime=0) as gz:
            data = open_decompressed(src, stack)
            while chunk := data.read(1 << 20):
                h.update(chunk)
                gz.write(chunk)
        try:  # every header read through once: what is not a tar must not become a layer
            with tarfile.open(tmp, "r|gz") as tf:
                for _ in tf:
                    pass
        except TAR_ERRORS as e:
            if isinstance(e, OSError) and not isinstance(e, tarfile.TarError) and e.errno is not None:
                raise
            raise PycrError(f"import {tar_path}: {tar_error_line(e)}") from None
        with open(tmp, "rb") as f:
            layer = store.put_stream(f)
    except OSError as e:
        raise PycrError(f"import {tar_path}: {e.strerror or e}") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    arch = media.host_platform().split("/")[1]
    config = {"architecture": arch, "os": "linux", "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
              "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                         **({"Cmd": cmd} if cmd else {})},
              "rootfs": {"type": "layers", "diff_ids": ["sha256:" + h.hexdigest()]},
              "history": [{"created_by": f"pycr import {os.path.basename(tar_path)}"}]}
    config_digest = store.put_blob(json.dumps(config, separators=(",", ":")).encode())
    digest = _manifest(store, config_digest, [(layer, store.blob_size(layer))], media.OCI_LAYER_GZIP,
                       media.OCI_MANIFEST)
    store.set_ref(ref, digest, source=f"import:{os.path.abspath(tar_path)}")
    return digest
