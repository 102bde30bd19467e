"""Build small OCI images in memory, for tests of rootfs strategies and image sources.

No registry and no network: layers are tars written with ``tarfile``, and
the image is put straight into a :class:`pycr.plugins.images.store.Store` (or
returned as blobs, for an image source to serve).  A layer is a list of
entries::

    ("file", "etc/motd", b"hello\\n")      ("dir", "var/empty")
    ("symlink", "bin/sh", "busybox")       ("whiteout", "etc/old")   # delete a lower file
    ("opaque", "var/cache")                # hide every lower entry of a directory
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from typing import Any

Entry = tuple


def layer_tar(entries: list[Entry]) -> bytes:
    """An uncompressed layer tar with parents created as needed."""
    buf = io.BytesIO()
    made: set[str] = set()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        def add_dir(path: str) -> None:
            parts = path.strip("/").split("/")
            for i in range(1, len(parts) + 1):
                d = "/".join(parts[:i])
                if d and d not in made:
                    made.add(d)
                    info = tarfile.TarInfo(d)
                    info.type, info.mode = tarfile.DIRTYPE, 0o755
                    tf.addfile(info)

        for kind, path, *rest in entries:
            parent = path.rpartition("/")[0]
            if parent:
                add_dir(parent)
            if kind == "dir":
                add_dir(path)
            elif kind == "opaque":
                add_dir(path)
                info = tarfile.TarInfo(f"{path}/.wh..wh..opq")
                tf.addfile(info, io.BytesIO(b""))
            elif kind == "whiteout":
                head, _, name = path.rpartition("/")
                info = tarfile.TarInfo(f"{head}/.wh.{name}" if head else f".wh.{name}")
                tf.addfile(info, io.BytesIO(b""))
            elif kind == "symlink":
                info = tarfile.TarInfo(path)
                info.type, info.linkname = tarfile.SYMTYPE, rest[0]
                tf.addfile(info)
            elif kind == "file":
                data = rest[0]
                info = tarfile.TarInfo(path)
                info.size, info.mode = len(data), (rest[1] if len(rest) > 1 else 0o644)
                tf.addfile(info, io.BytesIO(data))
            else:
                raise ValueError(f"unknown layer entry kind {kind!r}")
    return buf.getvalue()


# OCI image-spec media types (the kit builds images without the images plugin)
_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
_CONFIG = "application/vnd.oci.image.config.v1+json"
_LAYER = "application/vnd.oci.image.layer.v1.tar"
_LAYER_GZIP = _LAYER + "+gzip"


def _host_arch() -> str:
    """This machine's architecture in Go's names, as image configs spell it."""
    import platform

    machine = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def image_blobs(layers: list[list[Entry]], *, config: dict[str, Any] | None = None,
                compress: bool = True) -> tuple[str, dict[str, bytes]]:
    """``(manifest digest, {digest: bytes})`` for an OCI image of ``layers`` (bottom first)."""
    blobs: dict[str, bytes] = {}
    descriptors, diff_ids = [], []
    for entries in layers:
        tar = layer_tar(entries)
        diff_ids.append(_digest(tar))
        blob = gzip.compress(tar, mtime=0) if compress else tar
        blobs[_digest(blob)] = blob
        descriptors.append({"mediaType": _LAYER_GZIP if compress else _LAYER,
                            "digest": _digest(blob), "size": len(blob)})
    cfg = {"architecture": _host_arch(), "os": "linux",
           "rootfs": {"type": "layers", "diff_ids": diff_ids},
           "config": {"Cmd": ["/bin/sh"], **(config or {})}}
    cfg_bytes = json.dumps(cfg, sort_keys=True).encode()
    blobs[_digest(cfg_bytes)] = cfg_bytes
    manifest = {"schemaVersion": 2, "mediaType": _MANIFEST,
                "config": {"mediaType": _CONFIG, "digest": _digest(cfg_bytes), "size": len(cfg_bytes)},
                "layers": descriptors}
    man_bytes = json.dumps(manifest, sort_keys=True).encode()
    blobs[_digest(man_bytes)] = man_bytes
    return _digest(man_bytes), blobs


def put_image(store, layers: list[list[Entry]], name: str | None = None, **kwargs):
    """Store an image of ``layers`` (tagged ``name`` when given); return its ``Image``."""
    digest, blobs = image_blobs(layers, **kwargs)
    for d, data in blobs.items():
        store.put_blob(data, d)
    if name:
        store.set_ref(name, digest)
    return store.image(digest)


#: The image the conformance kits use: three layers that exercise overwrite,
#: whiteout and opaque-directory semantics, and what the merged tree must hold.
SAMPLE_LAYERS: list[list[Entry]] = [
    [("file", "etc/motd", b"layer one\n"), ("file", "etc/old", b"gone soon\n"),
     ("file", "var/cache/a", b"a\n"), ("file", "bin/tool", b"#!/bin/sh\necho tool\n", 0o755)],
    [("file", "etc/motd", b"layer two\n"), ("whiteout", "etc/old"), ("symlink", "bin/alias", "tool")],
    [("opaque", "var/cache"), ("file", "var/cache/b", b"b\n")],
]
SAMPLE_EXPECTED = {"etc/motd": b"layer two\n", "var/cache/b": b"b\n", "bin/tool": b"#!/bin/sh\necho tool\n"}
SAMPLE_ABSENT = ("etc/old", "var/cache/a")
