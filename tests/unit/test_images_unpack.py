"""Layer unpacking: hostile layers are refused, whiteouts and metadata are honoured."""

from __future__ import annotations

import gzip
import io
import os
import shutil
import stat
import subprocess
import tarfile

import pytest

from pycr.plugins.images.unpack import UnpackError, unpack_layer


def make_tar(entries, compress=None) -> io.BytesIO:
    """entries: (name, kind, arg) with kind in file/dir/sym/link/chr; arg = data or link target."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for entry in entries:
            name, kind, arg = entry[:3]
            extra = entry[3] if len(entry) > 3 else {}
            ti = tarfile.TarInfo(name)
            ti.mtime = extra.get("mtime", 1_600_000_000)
            ti.mode = extra.get("mode", 0o755 if kind == "dir" else 0o644)
            ti.uid, ti.gid = extra.get("uid", 0), extra.get("gid", 0)
            ti.pax_headers = extra.get("pax", {})
            data = None
            if kind == "file":
                data = arg if isinstance(arg, bytes) else arg.encode()
                ti.size = len(data)
            elif kind == "dir":
                ti.type = tarfile.DIRTYPE
            elif kind == "sym":
                ti.type, ti.linkname = tarfile.SYMTYPE, arg
            elif kind == "link":
                ti.type, ti.linkname = tarfile.LNKTYPE, arg
            elif kind == "chr":
                ti.type, ti.devmajor, ti.devminor = tarfile.CHRTYPE, 1, 3
            tf.addfile(ti, io.BytesIO(data) if data is not None else None)
    raw = buf.getvalue()
    if compress == "gzip":
        raw = gzip.compress(raw)
    elif compress == "zstd":
        raw = subprocess.run(["zstd", "-q", "-c"], input=raw, capture_output=True, check=True).stdout
    return io.BytesIO(raw)


@pytest.fixture
def area(tmp_path):
    """A target dir and an outside dir a hostile layer would like to reach."""
    target = tmp_path / "rootfs"
    outside = tmp_path / "outside"
    target.mkdir()
    outside.mkdir()
    (outside / "secret").write_text("keep")
    return target, outside


def snapshot(path):
    return sorted((str(p.relative_to(path)), p.read_bytes() if p.is_file() and not p.is_symlink() else None)
                  for p in path.rglob("*"))


@pytest.mark.parametrize("compress", [None, "gzip", "zstd"])
def test_plain_layer_roundtrip(area, compress):
    target, _ = area
    unpack_layer(make_tar([
        ("bin", "dir", None),
        ("bin/busybox", "file", b"\x7fELF", {"mode": 0o4755, "uid": 12, "gid": 34, "mtime": 1234567890}),
        ("bin/sh", "sym", "/bin/busybox"),
        ("bin/ls", "link", "bin/busybox"),
        ("./etc/", "dir", None, {"mode": 0o700, "mtime": 1111111111}),
        ("etc/x", "file", "y", {"pax": {"SCHILY.xattr.user.pycr": "hello"}}),
    ], compress), str(target))
    bb = target / "bin" / "busybox"
    st = bb.lstat()
    assert bb.read_bytes() == b"\x7fELF"
    assert stat.S_IMODE(st.st_mode) == 0o4755
    assert (st.st_uid, st.st_gid) == (12, 34)
    assert st.st_mtime == 1234567890
    assert os.readlink(target / "bin" / "sh") == "/bin/busybox"
    assert (target / "bin" / "ls").lstat().st_ino == st.st_ino
    assert stat.S_IMODE((target / "etc").lstat().st_mode) == 0o700
    assert (target / "etc").lstat().st_mtime == 1111111111
    assert os.getxattr(target / "etc" / "x", "user.pycr") == b"hello"


@pytest.mark.parametrize("entries, words", [
    ([("../escape", "file", "x")], "contains '..'"),
    ([("a/../../escape", "file", "x")], "contains '..'"),
    ([("/abs", "file", "x")], "is absolute"),
    ([("link", "sym", "{outside}"), ("link/secret", "file", "pwned")], "through the symlink"),
    ([("link", "sym", "../outside"), ("link/new", "file", "pwned")], "through the symlink"),
    ([("d", "dir", None), ("d/up", "sym", "../../outside"), ("d/up/secret", "file", "x")], "through the symlink"),
    ([("hl", "link", "../outside/secret")], "contains '..'"),
    ([("hl", "link", "{outside}/secret")], "is absolute"),
    ([("link", "sym", "{outside}"), ("hl", "link", "link/secret")], "not a plain directory"),
    ([("dev", "chr", None)], "device node"),
])
def test_hostile_layers_are_refused(area, entries, words):
    target, outside = area
    before = snapshot(outside)
    entries = [(e[0], e[1], e[2].format(outside=outside) if isinstance(e[2], str) else e[2]) for e in entries]
    with pytest.raises(UnpackError, match=words):
        unpack_layer(make_tar(entries), str(target), devices="refuse")
    assert snapshot(outside) == before
    assert (outside / "secret").read_text() == "keep"


def test_symlink_placed_then_overwritten_replaces_the_link(area):
    target, outside = area
    unpack_layer(make_tar([("f", "sym", str(outside / "secret")), ("f", "file", "mine")]), str(target))
    assert not (target / "f").is_symlink()
    assert (target / "f").read_text() == "mine"
    assert (outside / "secret").read_text() == "keep"


def test_lower_layer_symlink_cannot_be_written_through(area):
    target, outside = area
    unpack_layer(make_tar([("etc", "sym", str(outside))]), str(target))
    with pytest.raises(UnpackError, match="through the symlink 'etc'"):
        unpack_layer(make_tar([("etc/secret", "file", "pwned")]), str(target))
    assert (outside / "secret").read_text() == "keep"


def test_devices_skipped_by_default_and_allowed_when_asked(area):
    target, _ = area
    stats = unpack_layer(make_tar([("null", "chr", None)]), str(target))
    assert stats.devices_skipped == 1 and not (target / "null").exists()
    unpack_layer(make_tar([("null", "chr", None)]), str(target), devices="allow")
    assert stat.S_ISCHR((target / "null").lstat().st_mode)


def test_flatten_whiteouts(area):
    target, _ = area
    unpack_layer(make_tar([
        ("a", "dir", None), ("a/keep", "file", "1"), ("a/gone", "file", "2"),
        ("o", "dir", None), ("o/old1", "file", "1"), ("o/sub", "dir", None), ("o/sub/old2", "file", "2"),
    ]), str(target))
    unpack_layer(make_tar([
        ("a/.wh.gone", "file", ""),
        ("o", "dir", None), ("o/new", "file", "n"), ("o/.wh..wh..opq", "file", ""),
        ("missing/.wh.x", "file", ""),
    ]), str(target))
    assert sorted(os.listdir(target / "a")) == ["keep"]
    assert sorted(os.listdir(target / "o")) == ["new"]
    assert not (target / "missing").exists()


def test_overlay_whiteouts(area):
    target, _ = area
    unpack_layer(make_tar([("a", "dir", None), ("a/.wh.gone", "file", ""), ("a/.wh..wh..opq", "file", "")]),
                 str(target), mode="overlay")
    st = (target / "a" / "gone").lstat()
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == 0
    assert os.getxattr(target / "a", "trusted.overlay.opaque") == b"y"


def test_corrupt_layer_is_a_clear_error(area):
    target, _ = area
    good = make_tar([("f", "file", "x" * 10000)], "gzip").getvalue()
    with pytest.raises(UnpackError, match="corrupt layer"):
        unpack_layer(io.BytesIO(good[: len(good) // 2]), str(target), layer_name="layer L")


def test_dir_replaces_file_and_file_replaces_dir(area):
    target, _ = area
    unpack_layer(make_tar([("x", "file", "1"), ("y", "dir", None), ("y/z", "file", "2")]), str(target))
    unpack_layer(make_tar([("x", "dir", None), ("x/in", "file", "3"), ("y", "file", "4")]), str(target))
    assert (target / "x" / "in").read_text() == "3"
    assert (target / "y").read_text() == "4"


def test_matches_tar_for_a_real_tree(tmp_path):
    """A tar made by GNU tar from /usr/share/doc/ unpacks to the same tree."""
    src = "/usr/share/zoneinfo"
    if not os.path.isdir(src):
        pytest.skip("no tree to compare")
    blob = tmp_path / "l.tar.gz"
    subprocess.run(["tar", "-czf", str(blob), "-C", src, "."], check=True)
    out = tmp_path / "out"
    out.mkdir()
    with open(blob, "rb") as f:
        unpack_layer(f, str(out))
    ref = tmp_path / "ref"
    ref.mkdir()
    subprocess.run(["tar", "-xzf", str(blob), "-C", str(ref)], check=True)
    r = subprocess.run(["diff", "-r", "--no-dereference", str(ref), str(out)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout[:2000]
    shutil.rmtree(out)


def test_missing_padding_after_last_member_is_accepted(area):
    """umoci 0.4's insert ends the stream right after the last file's data: accepted."""
    target, _ = area
    raw = make_tar([("d", "dir", None), ("d/a", "file", "a")]).getvalue()
    cut = raw[:512 * 2 + 1]  # dir header, file header, one data byte; no padding, no end blocks
    stats = unpack_layer(io.BytesIO(gzip.compress(cut)), str(target))
    assert stats.truncated_tail and (target / "d" / "a").read_text() == "a"
    with pytest.raises(UnpackError, match="truncated|corrupt"):
        unpack_layer(io.BytesIO(raw[:512 * 2 + 1 - 600]), str(target))


@pytest.mark.parametrize("impl", ["zstandard", "binary"])
def test_zstd_both_implementations(area, impl, monkeypatch):
    """The optional ``zstandard`` package and the ``zstd`` binary fallback give the same tree."""
    if impl == "zstandard":
        pytest.importorskip("zstandard")
    else:
        import sys

        monkeypatch.setitem(sys.modules, "zstandard", None)  # import fails -> binary
    target, _ = area
    big = os.urandom(3 << 20)
    unpack_layer(make_tar([("d", "dir", None), ("d/big", "file", big)], "zstd"), str(target))
    assert (target / "d" / "big").read_bytes() == big
    raw = make_tar([("f", "file", "x" * 100000)], "zstd").getvalue()
    with pytest.raises(UnpackError):
        unpack_layer(io.BytesIO(raw[: len(raw) // 2]), str(target / "d"))
    hostile = make_tar([("../x", "file", "y"), ("pad", "file", os.urandom(1 << 20))], "zstd")
    with pytest.raises(UnpackError, match="contains '..'"):
        unpack_layer(hostile, str(target))


def test_concatenated_gzip_members_and_zero_padding(area):
    """gzip allows several members back to back, and padding with zeros after the last one."""
    target, _ = area
    raw = make_tar([("a", "file", "1" * 5000), ("b", "file", "2")]).getvalue()
    blob = gzip.compress(raw[:3000]) + gzip.compress(raw[3000:]) + b"\0" * 100
    unpack_layer(io.BytesIO(blob), str(target))
    assert (target / "a").read_text() == "1" * 5000 and (target / "b").read_text() == "2"
