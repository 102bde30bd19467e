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


def test_unpack_layer_keeps_the_kernels_reason(tmp_path):
    """A strategy must be able to tell a full disk from a bad layer: the errno and the OSError survive."""
    import errno
    import io
    import subprocess
    import tarfile

    from pycr.plugins.images.unpack import UnpackError, unpack_layer

    small = tmp_path / "small"
    small.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "pycrtest-small", str(small)], check=True)
    try:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tf:
            info = tarfile.TarInfo("big")
            info.size = 2 << 20
            tf.addfile(info, io.BytesIO(b"\1" * info.size))
        buf.seek(0)
        with pytest.raises(UnpackError) as caught:
            unpack_layer(buf, str(small))
        assert caught.value.errno == errno.ENOSPC
        assert isinstance(caught.value.__cause__, OSError) and caught.value.__cause__.errno == errno.ENOSPC
        assert "\n" not in str(caught.value) and "No space left on device" in str(caught.value)
    finally:
        subprocess.run(["umount", str(small)], check=True)
