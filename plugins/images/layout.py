"""The ``oci:DIR[:TAG]`` and ``oci-archive:FILE[:TAG]`` transports (OCI image layout, image-spec ``image-layout.md``).

A layout is ``oci-layout`` (``{"imageLayoutVersion": "1.0.0"}``), ``index.json``
whose descriptors carry the tag in ``org.opencontainers.image.ref.name``, and
``blobs/sha256/<hex>``.  Blobs are verified on the way into the store.  An
image read from a layout is stored as ``localhost/<dir name>:<tag>``.
"""

from __future__ import annotations

import json
import os
import re
import shutil

from pycr.core import ConfigError, PycrError, read_json_object
from pycr.plugins.images import media
from pycr.plugins.images.store import atomic_write, split_digest

REF_NAME = "org.opencontainers.image.ref.name"


def split_path_tag(spec: str) -> tuple[str, str | None]:
    """``/a/b:tag`` -> (``/a/b``, ``tag``); a colon inside the path is kept when no tag follows."""
    path, colon, tag = spec.rpartition(":")
    if colon and path and "/" not in tag and tag:
        return path, tag
    return spec, None


def local_name(path: str, tag: str | None) -> str:
    base = re.sub(r"[^a-z0-9._-]+", "-", os.path.basename(os.path.abspath(path)).lower()).strip(".-_") or "image"
    return f"localhost/{base}:{tag or 'latest'}"


def _read_json(path: str, what: str) -> dict:
    return read_json_object(path, f"{what}: {path}", PycrError)


def _blob(layout: str, digest: str) -> str:
    return os.path.join(layout, "blobs", "sha256", split_digest(digest))


class _LayoutDir:
    """The files of an ``oci:DIR`` layout (a directory the user named), read as the
    :class:`~pycr.plugins.images.archive_members.ArchiveMembers` of an archive are."""

    def __init__(self, layout: str, what: str):
        self.layout, self.what = layout, what

    def json(self, name: str) -> dict:
        return _read_json(os.path.join(self.layout, name), self.what)

    def open(self, name: str):
        return open(os.path.join(self.layout, name), "rb")


def _object(doc, name: str, what: str) -> dict:
    if not isinstance(doc, dict):
        raise ConfigError(f"{what}: {name}: expected a JSON object")
    return doc


def read_layout(store, files, what: str, tag: str | None, platform: str | None = None) -> str:
    """Copy the image ``tag`` of a layout into ``store`` (verified); return its manifest digest.

    ``files`` is a :class:`_LayoutDir` or an ``ArchiveMembers``: ``json(name)`` and ``open(name)``."""
    from pycr.plugins.images import schema

    if _object(files.json("oci-layout"), "oci-layout", what).get("imageLayoutVersion") != "1.0.0":
        raise ConfigError(f"{what}: unsupported imageLayoutVersion")
    index = _object(files.json("index.json"), "index.json", what)
    schema.validate("index", index, what)  # every descriptor used below has its digest and size
    descs = index.get("manifests", [])
    if tag:
        descs = [d for d in descs if (d.get("annotations") or {}).get(REF_NAME) == tag]
    if len(descs) != 1:
        tags = sorted({(d.get("annotations") or {}).get(REF_NAME, "?") for d in index.get("manifests", [])})
        raise ConfigError(f"{what}: {'no' if not descs else 'more than one'} image "
                          f"{'tagged ' + tag if tag else 'in the layout (name a tag)'}; tags: {', '.join(tags)}")
    desc = descs[0]

    def copy(d) -> None:
        with files.open("blobs/sha256/" + split_digest(d["digest"])) as f:
            store.put_stream(f, d["digest"], d.get("size"))

    def load(d) -> dict:
        copy(d)
        return store.read_json(d["digest"])

    doc = load(desc)
    if media.kind_of(desc.get("mediaType") or doc.get("mediaType"), doc) == "index":
        schema.validate("index", doc, what)
        desc = media.choose_platform(doc, platform, what)
        doc = load(desc)
    schema.validate("manifest", doc, what)
    load(doc["config"])
    for layer in doc["layers"]:
        copy(layer)
    return desc["digest"]


def write_layout(store, image, layout: str, tag: str | None) -> str:
    """Add ``image`` to the layout at ``layout`` (created if needed) under ``tag``."""
    os.makedirs(os.path.join(layout, "blobs", "sha256"), exist_ok=True)
    marker = os.path.join(layout, "oci-layout")
    if not os.path.exists(marker):
        atomic_write(marker, b'{"imageLayoutVersion":"1.0.0"}')
    for digest in [image.digest, image.manifest["config"]["digest"], *(x["digest"] for x in image.layers)]:
        dest = _blob(layout, digest)
        if not os.path.exists(dest):
            tmp = dest + ".tmp"
            shutil.copyfile(store.blob_path(digest), tmp)
            os.rename(tmp, dest)
    index_path = os.path.join(layout, "index.json")
    index = _read_json(index_path, f"oci:{layout}") if os.path.exists(index_path) else \
        {"schemaVersion": 2, "mediaType": media.OCI_INDEX, "manifests": []}
    tag = tag or "latest"
    index["manifests"] = [d for d in index.get("manifests", []) if (d.get("annotations") or {}).get(REF_NAME) != tag]
    index["manifests"].append({"mediaType": image.manifest.get("mediaType") or media.OCI_MANIFEST,
                               "digest": image.digest, "size": store.blob_size(image.digest),
                               "annotations": {REF_NAME: tag}})
    atomic_write(index_path, json.dumps(index).encode())
    return image.digest


class OciLayoutSource:
    """``oci:DIR[:TAG]``."""

    name = "oci"

    def __init__(self, platform: str | None = None, quiet: bool = True):
        self.platform = platform
        self.last_name = None

    def pull(self, store, spec: str) -> str:
        path, tag = split_path_tag(spec)
        what = f"oci:{path}" + (f":{tag}" if tag else "")
        digest = read_layout(store, _LayoutDir(path, what), what, tag, self.platform)
        self.last_name = local_name(path, tag)
        store.set_ref(self.last_name, digest, source=f"oci:{os.path.abspath(path)}")
        return digest

    def push(self, store, image, spec: str) -> str:
        path, tag = split_path_tag(spec)
        return write_layout(store, image, path, tag)


class OciArchiveSource:
    """``oci-archive:FILE[:TAG]``: a tar of an OCI layout."""

    name = "oci-archive"

    def __init__(self, platform: str | None = None, quiet: bool = True):
        self.platform = platform
        self.last_name = None

    def pull(self, store, spec: str) -> str:
        """Read the layout's members in place (never extracted: see ``archive_members``)."""
        from pycr.plugins.images.archive_members import ArchiveMembers

        path, tag = split_path_tag(spec)
        what = f"oci-archive:{path}" + (f":{tag}" if tag else "")
        with ArchiveMembers(path, what) as members:
            digest = read_layout(store, members, what, tag, self.platform)
        self.last_name = local_name(os.path.splitext(path)[0], tag)
        store.set_ref(self.last_name, digest, source=f"oci-archive:{os.path.abspath(path)}")
        return digest

    def push(self, store, image, spec: str) -> str:
        import tarfile
        import tempfile

        from pycr.plugins.images.archive import replacing

        path, tag = split_path_tag(spec)
        with tempfile.TemporaryDirectory(dir=os.path.join(store.root, "tmp")) as tmp:
            write_layout(store, image, tmp, tag)
            with replacing(path, f"oci-archive:{path}") as f, tarfile.open(fileobj=f, mode="w") as tf:
                for name in ("oci-layout", "index.json", "blobs"):
                    tf.add(os.path.join(tmp, name), arcname=name)
        return image.digest
