"""Bind sources checked where they are mounted (``io.pycr.bind-roots``, docs/security.md class 8):
the real openat2/readlink on a tmp tree, the recording syscall layer for the mount itself."""

import json
import os

import pytest

from pycr.core.errors import ConfigError
from pycr.core.linux.paths import fd_path, open_bind_source
from pycr.core.runtime.plan import BIND_ROOTS_ANNOTATION, InitContext, Mount
from pycr.core.testing.syscalls import RecordingSyscalls
from pycr.plugins.rootfs_mounts import _mount_step, bind_roots


@pytest.fixture
def tree(tmp_path):
    root, outside = tmp_path / "binds", tmp_path / "host"
    (root / "data").mkdir(parents=True)
    outside.mkdir()
    (root / "data" / "f").write_text("x")
    os.symlink(root / "data", root / "abs")  # inside -> inside
    os.symlink("data/f", root / "rel")
    os.symlink(outside, root / "out")
    os.symlink("/proc/self/root" + str(root / "data"), root / "magic")  # lands inside, through a magic link
    return str(root), str(outside)


def _real(fd):
    try:
        return os.readlink(fd_path(fd))
    finally:
        os.close(fd)


def test_sources_that_stay_under_the_roots_open(tree):
    root, _ = tree
    assert _real(open_bind_source(f"{root}/abs", [root])) == f"{root}/data"
    assert _real(open_bind_source(f"{root}/rel", ["/elsewhere", root])) == f"{root}/data/f"
    assert _real(open_bind_source(root, [root])) == root


@pytest.mark.parametrize("name", ["out", "magic", "missing", "data/../.."])
def test_sources_leading_out_are_refused_alike(tree, name):
    root, _ = tree
    with pytest.raises(OSError) as e:
        open_bind_source(f"{root}/{name}", [root])
    assert e.value.strerror == f"bind source {root}/{name} is missing or lies outside the bind roots ({root})"


def test_without_roots_symlinks_are_followed_as_mount_would(tree):
    root, outside = tree
    assert _real(open_bind_source(f"{root}/out")) == outside


def test_refused_bind_mounts_nothing_and_makes_nothing(tree, tmp_path):
    root, _ = tree
    rootfs = tmp_path / "rootfs"
    rootfs.mkdir()
    sc = RecordingSyscalls()
    with pytest.raises(OSError, match="outside the bind roots"):
        Mount("/host", "bind", f"{root}/out", 4096, bind_roots=(root,)).run(sc, InitContext(str(rootfs)))
    assert sc.calls == [] and os.listdir(rootfs) == []
    Mount("/f", "bind", f"{root}/rel", 4096, bind_roots=(root,)).run(sc, InitContext(str(rootfs)))
    assert sc.calls[0][1:4] == (f"{root}/data/f", str(rootfs / "f"), "bind")  # the object opened, on a file
    assert os.path.isfile(rootfs / "f")


def test_the_annotation_restricts_only_binds_written_under_a_root(tree):
    root, outside = tree
    config = {"annotations": {BIND_ROOTS_ANNOTATION: json.dumps([root])}}
    roots = bind_roots(config)
    assert roots == (root,) and bind_roots({}) == ()
    user = _mount_step({"destination": "/m", "type": "bind", "source": f"{root}/gone"}, "/b", "mounts[0]", roots)
    assert user.bind_roots == (root,)  # no existence check at plan time: the init refuses it, in the same words
    own = _mount_step({"destination": "/etc/hosts", "type": "bind", "source": outside}, "/b", "mounts[1]", roots)
    assert own.bind_roots == ()  # pycr's own binds (network files, the init binary) are not the caller's
    dotted = _mount_step({"destination": "/m", "type": "bind", "source": f"{root}/../host"}, "/b", "m", roots)
    assert dotted.bind_roots == (root,)
    for bad in ("[1]", "not json", '["relative"]', '{"a": 1}'):
        with pytest.raises(ConfigError, match=f"annotations\\['{BIND_ROOTS_ANNOTATION}'\\]"):
            bind_roots({"annotations": {BIND_ROOTS_ANNOTATION: bad}})
