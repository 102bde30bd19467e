"""The conformance kits fail drivers that break the contract (a kit that
passes everything would prove nothing)."""

from __future__ import annotations

import os

import pytest

from pycr.core import PycrError, RootfsStrategy
from pycr.plugins import images
from pycr.plugins.images.store import Store
from pycr.plugins.images import conformance as cis
from pycr.core.testing import conformance_rootfs as cr
from pycr.core.testing.images import SAMPLE_LAYERS, put_image


class NoWhiteouts(RootfsStrategy):
    """Extracts layers with tarfile, ignoring whiteouts, and forgets to register undo."""

    name = "nowhiteouts"

    def prepare(self, image, container_dir, stack, *, read_only=False):
        import tarfile

        rootfs = os.path.join(container_dir, "rootfs")
        os.makedirs(rootfs, exist_ok=True)
        for layer in image.layers:
            with tarfile.open(self.store.blob_path(layer["digest"])) as tf:
                tf.extractall(rootfs, filter="tar")
        return rootfs


class Flatten(RootfsStrategy):
    """A correct copy-based strategy, via pycr's unpacker."""

    name = "flatten"

    def prepare(self, image, container_dir, stack, *, read_only=False):
        import shutil

        rootfs = os.path.join(container_dir, "rootfs")
        os.mkdir(rootfs)
        stack.callback(shutil.rmtree, rootfs, True)
        for layer in image.layers:
            with open(self.store.blob_path(layer["digest"]), "rb") as f:
                images.unpack.unpack_layer(f, rootfs, mode="flatten")
        return rootfs


@pytest.fixture
def env(tmp_path):
    store = Store(str(tmp_path / "store"))
    cdir = tmp_path / "c"
    cdir.mkdir()
    return store, put_image(store, SAMPLE_LAYERS, "kit/test:1"), str(cdir)


def test_rootfs_kit_passes_a_correct_strategy(env, tmp_path):
    store, image, cdir = env
    cr.check_contract_attributes(Flatten)
    cr.check_layers_applied(Flatten(store), image, cdir)
    cr.check_undo_leaves_nothing(Flatten(store), image, cdir)
    cr.check_containers_are_isolated(Flatten(store), image, str(tmp_path))


def test_rootfs_kit_catches_ignored_whiteouts(env):
    store, image, cdir = env
    with pytest.raises(AssertionError, match="deleted by a layer"):
        cr.check_layers_applied(NoWhiteouts(store), image, cdir)


def test_rootfs_kit_catches_a_missing_undo(env):
    store, image, cdir = env
    with pytest.raises(AssertionError, match="survived the stack"):
        cr.check_undo_leaves_nothing(NoWhiteouts(store), image, cdir)


def test_rootfs_kit_catches_an_unnamed_strategy():
    with pytest.raises(AssertionError, match="set `name`"):
        cr.check_contract_attributes(RootfsStrategy)


class FromStore:
    """An image source that copies an image from another store; optionally broken."""

    def __init__(self, src, bad_diff_ids=False):
        self.src, self.bad = src, bad_diff_ids

    def pull(self, store, spec):
        ref = self.src.resolve(spec)
        if ref is None:
            raise PycrError(f"{spec}: no such image")
        image = self.src.image(ref["digest"])
        for d in [image.manifest["config"]["digest"], *(x["digest"] for x in image.layers)]:
            store.put_blob(self.src.read_blob(d), d)
        if self.bad:  # a config whose diff_ids are the compressed digests: a classic mistake
            import json

            cfg = {**image.config, "rootfs": {"type": "layers", "diff_ids": [x["digest"] for x in image.layers]}}
            raw = json.dumps(cfg).encode()
            cdigest = store.put_blob(raw)
            manifest = {**image.manifest, "config": {**image.manifest["config"], "digest": cdigest, "size": len(raw)}}
            return store.put_blob(json.dumps(manifest).encode())
        return store.put_blob(self.src.read_blob(image.digest), image.digest)


@pytest.fixture
def src_store(tmp_path):
    s = Store(str(tmp_path / "src"))
    put_image(s, SAMPLE_LAYERS, "kit/img:1")
    return s


def test_image_source_kit_passes_a_correct_source(src_store, tmp_path):
    dst = Store(str(tmp_path / "dst"))
    cis.check_pull_stores_a_valid_image(FromStore(src_store), dst, "kit/img:1")
    cis.check_pull_is_idempotent(FromStore(src_store), dst, "kit/img:1")
    cis.check_image_unpacks(FromStore(src_store), dst, "kit/img:1", str(tmp_path / "u"))
    cis.check_missing_is_one_line_error(FromStore(src_store), dst, "kit/none:1")


def test_image_source_kit_catches_wrong_diff_ids(src_store, tmp_path):
    with pytest.raises(AssertionError, match="diff_id"):
        cis.check_pull_stores_a_valid_image(FromStore(src_store, bad_diff_ids=True), Store(str(tmp_path / "d")),
                                            "kit/img:1")


def test_image_source_kit_catches_a_traceback_instead_of_an_error(src_store, tmp_path):
    class Crashy(FromStore):
        def pull(self, store, spec):
            raise KeyError(spec)

    with pytest.raises(KeyError):
        cis.check_missing_is_one_line_error(Crashy(src_store), Store(str(tmp_path / "d")), "kit/none:1")


def test_kit_marks_are_known_in_an_authors_own_test_run(tmp_path):
    """A plugin's own test suite (no pycr conftest) must not warn that the kits' ``root`` mark is unknown."""
    import subprocess
    import sys

    (tmp_path / "test_mine.py").write_text(
        "from pycr.core.testing import RootfsStrategyConformance\n"
        "from pycr.plugins.rootfs_chroot import ChrootRootfs\n\n"
        "class TestMine(RootfsStrategyConformance):\n    strategy_class = ChrootRootfs\n")
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--collect-only", "-q",
                           "-W", "error::pytest.PytestUnknownMarkWarning", "test_mine.py"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "test_mine.py::TestMine::" in done.stdout
