"""Conformance checks for rootfs strategies (entry-point group ``pycr.rootfs``).

One line per strategy::

    from pycr.core.testing.conformance_rootfs import RootfsStrategyConformance

    class TestMyStrategy(RootfsStrategyConformance):
        strategy_class = MyStrategy

Each check builds a three-layer sample image (overwrite, whiteout, opaque
directory: :data:`pycr.core.testing.images.SAMPLE_LAYERS`) in a store in a
temporary directory, and judges the result from the filesystem and from
``/proc/self/mountinfo``, never from the strategy's own answers.  The checks
mount for real when the strategy does, so they carry the ``root`` marker.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import uuid

import pytest

from pycr.core.testing.images import SAMPLE_ABSENT, SAMPLE_EXPECTED, SAMPLE_LAYERS, put_image


def mounts_under(path: str) -> list[str]:
    """Mount points at or below ``path`` (from /proc/self/mountinfo)."""
    path = os.path.realpath(path)
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            point = line.split()[4].encode().decode("unicode_escape")
            if point == path or point.startswith(path.rstrip("/") + "/"):
                out.append(point)
    return out


def _read(root: str, rel: str) -> bytes:
    with open(os.path.join(root, rel), "rb") as f:
        return f.read()


def check_contract_attributes(strategy_class) -> None:
    assert isinstance(strategy_class.name, str) and strategy_class.name != "abstract", "set `name`"
    assert isinstance(strategy_class.no_pivot, bool)
    assert isinstance(strategy_class.available(), bool)


def check_layers_applied(strategy, image, container_dir: str) -> None:
    """Later layers win, whiteouts delete, opaque directories hide lower entries."""
    with contextlib.ExitStack() as stack:
        rootfs = strategy.prepare(image, container_dir, stack)
        assert os.path.isdir(rootfs), f"prepare() returned {rootfs!r}, not a directory"
        assert os.path.realpath(rootfs).startswith(os.path.realpath(container_dir) + "/"), \
            "the rootfs must live under container_dir"
        for rel, data in SAMPLE_EXPECTED.items():
            assert _read(rootfs, rel) == data, f"{rel} has the wrong content"
        for rel in SAMPLE_ABSENT:
            assert not os.path.lexists(os.path.join(rootfs, rel)), f"{rel} should have been deleted by a layer"
        assert os.readlink(os.path.join(rootfs, "bin/alias")) == "tool"
        assert os.stat(os.path.join(rootfs, "bin/tool")).st_mode & 0o111, "file modes are kept"


def check_undo_leaves_nothing(strategy, image, container_dir: str) -> None:
    """Closing the stack unmounts everything and removes (or empties) the rootfs."""
    with contextlib.ExitStack() as stack:
        rootfs = strategy.prepare(image, container_dir, stack)
    assert mounts_under(container_dir) == [], "a mount survived the stack"
    assert not os.path.exists(rootfs) or os.listdir(rootfs) == [], "the rootfs survived the stack"


def check_containers_are_isolated(strategy, image, tmp: str) -> None:
    """A write in one container's rootfs is seen neither by another nor by the image."""
    dirs = [os.path.join(tmp, f"c{i}") for i in range(2)]
    with contextlib.ExitStack() as stack:
        roots = []
        for d in dirs:
            os.mkdir(d)
            roots.append(strategy.prepare(image, d, stack))
        with open(os.path.join(roots[0], "etc/motd"), "wb") as f:
            f.write(b"changed\n")
        os.unlink(os.path.join(roots[0], "bin/tool"))
        assert _read(roots[1], "etc/motd") == b"layer two\n"
        assert os.path.exists(os.path.join(roots[1], "bin/tool"))
    with contextlib.ExitStack() as stack:  # the image itself is unchanged
        d = os.path.join(tmp, "c-after")
        os.mkdir(d)
        assert _read(strategy.prepare(image, d, stack), "etc/motd") == b"layer two\n"


def check_failure_after_prepare_is_undone(strategy, image, container_dir: str) -> None:
    """An error after ``prepare`` (the container failed to start) still undoes it."""
    with pytest.raises(RuntimeError, match="start failed"):
        with contextlib.ExitStack() as stack:
            strategy.prepare(image, container_dir, stack)
            raise RuntimeError("start failed")
    assert mounts_under(container_dir) == []


class RootfsStrategyConformance:
    """Subclass and set ``strategy_class`` (or override ``make_strategy``)."""

    pytestmark = pytest.mark.root
    strategy_class: type | None = None

    def make_strategy(self, store):
        assert self.strategy_class is not None, "set strategy_class on the conformance subclass"
        return self.strategy_class(store)

    @pytest.fixture
    def rootfs_env(self, tmp_path):
        """(strategy, image, container_dir, tmp) on a store in a temporary directory."""
        from pycr.core.store import open_store

        if self.strategy_class is not None and not self.strategy_class.available():
            pytest.skip(f"{self.strategy_class.name} is not available on this host")
        store = open_store(str(tmp_path / "store"))
        image = put_image(store, SAMPLE_LAYERS, f"conformance/{uuid.uuid4().hex[:8]}:latest")
        container_dir = tmp_path / "container"
        container_dir.mkdir()
        yield self.make_strategy(store), image, str(container_dir), str(tmp_path)
        leftover = mounts_under(str(tmp_path))
        for point in reversed(leftover):  # never leave a mount behind, even on failure
            subprocess.run(["umount", "-l", point], capture_output=True)
        assert leftover == [], f"mounts left behind: {leftover}"

    def test_contract_attributes(self):
        check_contract_attributes(self.strategy_class or type(self.make_strategy(None)))

    def test_layers_applied(self, rootfs_env):
        strategy, image, cdir, _ = rootfs_env
        check_layers_applied(strategy, image, cdir)

    def test_undo_leaves_nothing(self, rootfs_env):
        strategy, image, cdir, _ = rootfs_env
        check_undo_leaves_nothing(strategy, image, cdir)

    def test_containers_are_isolated(self, rootfs_env):
        strategy, image, _, tmp = rootfs_env
        check_containers_are_isolated(strategy, image, tmp)

    def test_failure_after_prepare_is_undone(self, rootfs_env):
        strategy, image, cdir, _ = rootfs_env
        check_failure_after_prepare_is_undone(strategy, image, cdir)
