"""Conformance checks for image sources (entry-point group ``pycr.image_source``).

An image source has ``pull(store, spec) -> manifest digest``; it may also
set ``last_name`` (the name the image was tagged with) and have
``push(store, image, spec) -> digest``.  Subclass the mixin and provide
three fixtures -- a source, a spec it can pull, and one that does not exist::

    from pycr.plugins.images.conformance import ImageSourceConformance

    class TestMySource(ImageSourceConformance):
        @pytest.fixture
        def source(self):
            return MySource()

        @pytest.fixture
        def image_spec(self, my_server):
            return f"//127.0.0.1:{my_server.port}/rootfs.tar"

        @pytest.fixture
        def missing_spec(self, my_server):
            return f"//127.0.0.1:{my_server.port}/nothing-here.tar"

The checks read the store back: the manifest and config validate against
the OCI image-spec schemas, every blob is present with its size and digest,
``diff_ids`` match the uncompressed layers, and the image can be unpacked.
"""

from __future__ import annotations

import contextlib
import hashlib
import os

import pytest


def _sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


def check_pull_stores_a_valid_image(source, store, spec: str) -> str:
    """Pull ``spec``; everything the manifest names is in the store and verifies."""
    from pycr.plugins import images

    digest = source.pull(store, spec)
    assert isinstance(digest, str) and digest.startswith("sha256:"), f"pull() returned {digest!r}"
    assert store.has_blob(digest), "pull() must store the manifest it returns"
    assert _sha256_file(store.blob_path(digest)) == digest
    image = store.image(digest)
    images.schema.validate("manifest", image.manifest, f"manifest {digest}")
    images.schema.validate("config", image.config, f"config {image.id}")
    for desc in [image.manifest["config"], *image.layers]:
        path = store.blob_path(desc["digest"])
        assert os.path.exists(path), f"blob {desc['digest']} is missing from the store"
        assert os.path.getsize(path) == desc["size"], f"blob {desc['digest']}: size differs from the manifest"
        assert _sha256_file(path) == desc["digest"]
    diff_ids = image.config["rootfs"]["diff_ids"]
    assert len(diff_ids) == len(image.layers), "one diff_id per layer"
    for desc, diff_id in zip(image.layers, diff_ids):
        h = hashlib.sha256()
        with open(store.blob_path(desc["digest"]), "rb") as f, contextlib.ExitStack() as stack:
            stream = images.unpack.open_decompressed(f, stack)
            for chunk in iter(lambda: stream.read(1 << 20), b""):
                h.update(chunk)
        assert "sha256:" + h.hexdigest() == diff_id, f"diff_id of layer {desc['digest']} does not match"
    name = getattr(source, "last_name", None)
    assert name is None or isinstance(name, str)
    return digest


def check_pull_is_idempotent(source, store, spec: str) -> None:
    assert source.pull(store, spec) == source.pull(store, spec), "pulling twice must give the same image"


def check_image_unpacks(source, store, spec: str, target: str) -> None:
    """Every layer unpacks with pycr's own (hostile-layer safe) unpacker."""
    from pycr.plugins import images

    image = store.image(source.pull(store, spec))
    os.makedirs(target, exist_ok=True)
    for desc in image.layers:
        with open(store.blob_path(desc["digest"]), "rb") as f:
            images.unpack.unpack_layer(f, target, mode="flatten", layer_name=f"layer {desc['digest']}")
    assert os.listdir(target), "the image's layers hold no files"


def check_missing_is_one_line_error(source, store, spec: str) -> None:
    """A spec that does not exist raises PycrError with one line naming it."""
    from pycr.core import PycrError

    with pytest.raises(PycrError) as e:
        source.pull(store, spec)
    assert "\n" not in str(e.value), "errors are one line"
    assert spec.lstrip("/") in str(e.value) or spec in str(e.value), "the error names what was asked for"


class ImageSourceConformance:
    """Provide fixtures ``source``, ``image_spec`` and ``missing_spec``."""

    @pytest.fixture
    def store(self, tmp_path):
        from pycr.plugins.images.store import Store

        return Store(str(tmp_path / "store"))

    def test_pull_stores_a_valid_image(self, source, store, image_spec):
        check_pull_stores_a_valid_image(source, store, image_spec)

    def test_pull_is_idempotent(self, source, store, image_spec):
        check_pull_is_idempotent(source, store, image_spec)

    def test_image_unpacks(self, source, store, image_spec, tmp_path):
        check_image_unpacks(source, store, image_spec, str(tmp_path / "unpacked"))

    def test_missing_is_one_line_error(self, source, store, missing_spec):
        check_missing_is_one_line_error(source, store, missing_spec)
