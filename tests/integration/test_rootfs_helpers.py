"""The helpers the rootfs contract gives strategy authors work on the real kernel as documented."""

import pytest

from pycr.core import RootfsStrategy

pytestmark = pytest.mark.root


def _mounted(path) -> bool:
    with open("/proc/self/mountinfo") as f:
        return any(line.split()[4] == str(path) for line in f)


def test_mount_helper_with_the_documented_flags(tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir()
    dst.mkdir()
    (src / "f").write_text("x")
    RootfsStrategy.mount(str(src), str(dst), None, RootfsStrategy.MS_BIND | RootfsStrategy.MS_REC)
    try:
        assert _mounted(dst) and (dst / "f").read_text() == "x"
        RootfsStrategy.mount("", str(dst), None, RootfsStrategy.MS_BIND | RootfsStrategy.MS_REMOUNT
                             | RootfsStrategy.MS_RDONLY)
        with pytest.raises(OSError):
            (dst / "g").write_text("y")
    finally:
        RootfsStrategy.umount(str(dst))
    assert not _mounted(dst)
    RootfsStrategy.umount(str(dst))  # not mounted any more: quiet, as documented
