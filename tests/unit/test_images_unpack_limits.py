"""Layer unpacking under hostile sizes: a gzip bomb streams in bounded
memory, a sparse file stays sparse, and a layer bigger than the configured
limits (bytes, entries) is refused with one clear line."""

from __future__ import annotations

import gzip
import io
import os
import subprocess
import sys
import tarfile

import pytest

from pycr.plugins.images.unpack import Limits, UnpackError, unpack_layer

MiB = 1 << 20


def _bomb(path, size):
    """A gzipped tar holding one ``size``-byte file of zeros (about 1000:1)."""
    with gzip.open(path, "wb", compresslevel=6) as gz:
        info = tarfile.TarInfo("zeros")
        info.size = size
        gz.write(info.tobuf(format=tarfile.GNU_FORMAT))
        block = b"\0" * MiB
        for _ in range(size // MiB):
            gz.write(block)
        gz.write(b"\0" * 1024)  # end-of-archive


def test_gzip_bomb_streams_in_bounded_memory(tmp_path):
    layer = tmp_path / "bomb.tar.gz"
    _bomb(layer, 256 * MiB)
    assert layer.stat().st_size < 2 * MiB
    target = tmp_path / "out"
    target.mkdir()
    # VmHWM, not ru_maxrss: Linux carries the forking parent's peak over exec into ru_maxrss, so a
    # child of a grown pytest process would report pytest's size instead of its own
    script = ("import sys; from pycr.plugins.images.unpack import unpack_layer; "
              "s = unpack_layer(open(sys.argv[1], 'rb'), sys.argv[2]); "
              "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM:')][0]; "
              "print(s.bytes, hwm.split()[1])")
    out = subprocess.run([sys.executable, "-c", script, str(layer), str(target)], check=True,
                         capture_output=True, text=True).stdout
    unpacked, child_kb = map(int, out.split())
    assert unpacked == 256 * MiB
    assert (target / "zeros").stat().st_size == 256 * MiB
    # the whole layer decompressed is 256 MiB; streaming keeps a few MiB of it at a time
    # (the interpreter and pycr's imports are ~30 MiB of it)
    assert child_kb < 100 * 1024, child_kb


def _sparse_tar(path, size, marks):
    src = path.parent / "sparse-src"
    with open(src, "wb") as f:
        f.truncate(size)
        for offset, data in marks:
            f.seek(offset)
            f.write(data)
    subprocess.run(["tar", "-cSf", str(path), "-C", str(src.parent), src.name], check=True)
    os.unlink(src)
    return src.name


@pytest.mark.parametrize("compress", [False, True])
def test_sparse_file_stays_sparse(tmp_path, compress):
    marks = [(MiB, b"hello"), (2000 * MiB, b"tail")]
    layer = tmp_path / "sparse.tar"
    name = _sparse_tar(layer, 2048 * MiB, marks)
    assert layer.stat().st_size < 64 * 1024
    if compress:
        subprocess.run(["gzip", "-f", str(layer)], check=True)
        layer = tmp_path / "sparse.tar.gz"
    target = tmp_path / "out"
    target.mkdir()
    with open(layer, "rb") as f:
        unpack_layer(f, str(target))
    st = os.stat(target / name)
    assert st.st_size == 2048 * MiB
    assert st.st_blocks * 512 < MiB  # not 2 GiB of zeros on disk
    with open(target / name, "rb") as f:
        for offset, data in marks:
            f.seek(offset)
            assert f.read(len(data)) == data
        f.seek(MiB + 4096)
        assert f.read(4096) == b"\0" * 4096


def _tar_of(files):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, data in files:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    buf.seek(0)
    return buf


def test_size_limit(tmp_path, monkeypatch):
    monkeypatch.setenv("PYCR_LAYER_MAX_BYTES", str(MiB))
    with pytest.raises(UnpackError, match=r"^layer sha256:x: unpacks to more than 1048576 bytes "
                                          r"\(limit PYCR_LAYER_MAX_BYTES\), at member 'b' of 700000 bytes$"):
        unpack_layer(_tar_of([("a", b"1" * 700_000), ("b", b"2" * 700_000)]), str(tmp_path),
                     layer_name="layer sha256:x")


def test_entry_limit(tmp_path):
    files = [(f"f{i}", b"x") for i in range(20)]
    with pytest.raises(UnpackError, match=r"more than 10 entries \(limit PYCR_LAYER_MAX_FILES\), at member 'f10'"):
        unpack_layer(_tar_of(files), str(tmp_path), limits=Limits(max_files=10))
    assert len(os.listdir(tmp_path)) == 10


def test_bad_limit_setting(tmp_path, monkeypatch):
    monkeypatch.setenv("PYCR_LAYER_MAX_FILES", "lots")
    with pytest.raises(UnpackError, match=r"PYCR_LAYER_MAX_FILES='lots': not a whole number"):
        unpack_layer(_tar_of([("a", b"1")]), str(tmp_path))


def test_limits_of_zero_mean_none(tmp_path):
    stats = unpack_layer(_tar_of([("a", b"1" * 5000)]), str(tmp_path), limits=Limits(max_bytes=0, max_files=0))
    assert stats.bytes == 5000
