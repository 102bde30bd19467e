"""The compiled-filter cache's directory (plugins/seccomp/compiled.py) on a
real filesystem: a cached lookup makes no directory, a missing one is made
0700, and a directory that is not ours alone is refused whichever path
(cached lookup or first store) meets it."""

from __future__ import annotations

import os

import pytest

from pycr.core import ConfigError
from pycr.plugins.seccomp import compiled

ENTRY = b"\1\0\0\0\0\0\0\0" + b"\6\0\0\0\0\0\xff\x7f"  # header (flags 1, no listener) + RET ALLOW


@pytest.fixture
def mkdirs(monkeypatch):
    """Every os.mkdir / os.makedirs call, recorded (and performed)."""
    calls: list[tuple] = []
    real_mkdir, real_makedirs = os.mkdir, os.makedirs

    def mkdir(*args, **kw):
        calls.append(("mkdir", args, kw))
        return real_mkdir(*args, **kw)

    def makedirs(*args, **kw):
        calls.append(("makedirs", args, kw))
        return real_makedirs(*args, **kw)

    monkeypatch.setattr(os, "mkdir", mkdir)
    monkeypatch.setattr(os, "makedirs", makedirs)
    return calls


def cache_of(root) -> str:
    return os.path.join(str(root), compiled.DIRNAME)


def test_a_cached_lookup_makes_no_directory(tmp_path, mkdirs):
    root = str(tmp_path / "root")
    compiled.store(root, "k", ENTRY)
    assert mkdirs  # the first store made the root and the cache
    mkdirs.clear()
    before = os.stat(cache_of(root))
    for _ in range(3):
        assert compiled.lookup(root, "k") == ENTRY
    assert compiled.lookup(root, "other") is None  # a miss in an existing cache: no mkdir either
    assert mkdirs == []
    after = os.stat(cache_of(root))
    assert (after.st_ino, after.st_mode, after.st_mtime_ns) == (before.st_ino, before.st_mode, before.st_mtime_ns)


@pytest.mark.parametrize("umask", [0o000, 0o022])
@pytest.mark.parametrize("root_exists", [False, True])
def test_a_missing_cache_is_made_0700(tmp_path, mkdirs, umask, root_exists):
    root = tmp_path / "root"
    if root_exists:
        root.mkdir(mode=0o755)
    old = os.umask(umask)
    try:
        assert compiled.lookup(str(root), "k") is None  # a lookup makes the directory too, as before
    finally:
        os.umask(old)
    st = os.lstat(cache_of(root))
    assert st.st_mode == 0o40700 and st.st_uid == os.geteuid()
    assert mkdirs[-1][:2] == ("mkdir", (compiled.DIRNAME, 0o700))
    if not root_exists:
        assert os.stat(root).st_mode & 0o777 == 0o700
    compiled.store(str(root), "k", ENTRY)
    assert compiled.lookup(str(root), "k") == ENTRY
    assert os.lstat(os.path.join(cache_of(root), "k.bpf")).st_mode & 0o777 == 0o600


def _symlink_to_a_dir_of_ours(tmp_path, cache):
    target = tmp_path / "elsewhere"
    target.mkdir(mode=0o700)
    (target / "k.bpf").write_bytes(ENTRY)  # a planted filter the cache must not serve
    os.symlink(str(target), cache)
    return target


def _wrong_mode(mode):
    def make(tmp_path, cache):
        os.mkdir(cache, 0o700)
        with open(os.path.join(cache, "k.bpf"), "wb") as f:
            f.write(ENTRY)
        os.chmod(cache, mode)
    return make


def _not_ours(tmp_path, cache):
    _wrong_mode(0o700)(tmp_path, cache)
    os.chown(cache, 65534, 65534)


HOSTILE = {
    "symlink to a directory": (_symlink_to_a_dir_of_ours, "not a directory"),
    "dangling symlink": (lambda tmp_path, cache: os.symlink(str(tmp_path / "nowhere"), cache), "not a directory"),
    "regular file": (lambda tmp_path, cache: open(cache, "wb").close(), "not a directory"),
    "group-writable": (_wrong_mode(0o770), "mode 770"),
    "world-writable": (_wrong_mode(0o777), "mode 777"),
    "readable by others": (_wrong_mode(0o705), "mode 705"),
    "another user's": (_not_ours, "owned by uid 65534"),
}


@pytest.mark.root  # chown to another user
@pytest.mark.parametrize("case", list(HOSTILE))
def test_a_hostile_cache_is_refused_by_lookup_and_store(tmp_path, case):
    make, reason = HOSTILE[case]
    root = tmp_path / "root"
    root.mkdir(mode=0o700)
    cache = cache_of(root)
    make(tmp_path, cache)
    before = os.lstat(cache)
    for call in (lambda: compiled.lookup(str(root), "k"), lambda: compiled.store(str(root), "k", ENTRY)):
        with pytest.raises(ConfigError) as e:
            call()
        assert str(e.value).startswith(f"seccomp cache {cache}: ") and reason in str(e.value)
        assert "\n" not in str(e.value)
    after = os.lstat(cache)
    assert (after.st_ino, after.st_mode, after.st_uid) == (before.st_ino, before.st_mode, before.st_uid)
    if case == "symlink to a directory":
        assert os.listdir(tmp_path / "elsewhere") == ["k.bpf"]  # nothing written through the link
    assert os.listdir(root) == [compiled.DIRNAME]


@pytest.mark.parametrize("swap", ["chmod 777", "symlink"])
def test_a_cache_made_hostile_after_use_is_refused_on_the_cached_path(tmp_path, swap):
    """The no-mkdir path checks what it opened: a cache that was fine and is then
    opened up or replaced by a link to a planted filter is refused, not read."""
    root = str(tmp_path / "root")
    compiled.store(root, "k", ENTRY)
    assert compiled.lookup(root, "k") == ENTRY
    if swap == "chmod 777":
        os.chmod(cache_of(root), 0o777)
    else:
        os.rename(cache_of(root), str(tmp_path / "old"))
        _symlink_to_a_dir_of_ours(tmp_path, cache_of(root))
    with pytest.raises(ConfigError, match="seccomp cache"):
        compiled.lookup(root, "k")


@pytest.mark.parametrize("make, error", [
    (lambda tmp_path, root: (os.mkdir(tmp_path / "t", 0o700), os.symlink(str(tmp_path / "t"), root)),
     NotADirectoryError),
    (lambda tmp_path, root: os.symlink(str(tmp_path / "nowhere"), root), FileExistsError),
    (lambda tmp_path, root: open(root, "wb").close(), FileExistsError),
])
def test_a_root_that_is_not_a_directory_is_a_miss_and_cannot_be_stored_to(tmp_path, make, error):
    root = str(tmp_path / "root")
    make(tmp_path, root)
    assert compiled.lookup(root, "k") is None
    with pytest.raises(error):
        compiled.store(root, "k", ENTRY)
    assert sorted(os.listdir(tmp_path)) in (["root"], ["root", "t"])
    if os.path.isdir(tmp_path / "t"):
        assert os.listdir(tmp_path / "t") == []  # nothing made or written through the link
