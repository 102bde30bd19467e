"""``open_resolved`` (what the init's steps open mount points with) answers exactly as
the step-by-step way it shortcuts -- ``safe_join``'s readlink of every component, then
``open_creating``'s lookup of every prefix -- for every path of a hostile tree, and
does it in one ``openat2`` for a plain path that exists (docs/performance.md, seventh
round; docs/security.md for why paths are resolved this way)."""

import os
import stat

import pytest

from pycr.core.linux import paths
from pycr.core.linux.paths import RESOLVE_NO_SYMLINKS, open_in_root, open_resolved, safe_join


def reference(top, path, create):
    """The init's way before the shortcut: safe_join, then every prefix looked up from the
    top (``paths._make_each``, the walk that was open_creating's whole body)."""
    inside = safe_join(top, path)[len(top.rstrip("/")):]
    root = os.open(top, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        parts = [p for p in inside.split("/") if p not in ("", ".")]
        if create:
            paths._make_each(root, parts, create)
        return open_in_root(root, "/".join(parts), os.O_PATH, extra=RESOLVE_NO_SYMLINKS)
    finally:
        os.close(root)


def hostile_tree(top):
    os.makedirs(f"{top}/a/b/c")
    os.makedirs(f"{top}/d")
    for f in ("f", "a/file"):
        open(f"{top}/{f}", "w").close()
    for link, target in [("abs", "/a"), ("rel", "a/b"), ("up", "../../.."), ("loop1", "loop2"),
                         ("loop2", "loop1"), ("a/lnk", "../d"), ("dangling", "/nowhere/x"),
                         ("tofile", "/f"), ("dotdot", "a/b/.."), ("deep", "abs/b/c"),
                         ("magic", "/proc/self/root"), ("d/back", "../../../a")]:
        os.symlink(target, f"{top}/{link}")


PATHS = ["/", "", "a", "/a/b/c", "a/b/c/", "./a/./b", "a//b", "missing", "a/missing", "a/missing/deeper",
         "missing/../a", "a/../d", "a/b/../../..", "..", "../a", "f", "f/x", "a/file/x", "abs", "abs/b",
         "rel/c", "up", "up/etc", "loop1", "loop1/x", "a/lnk", "a/lnk/new", "dangling", "tofile",
         "dotdot/b", "deep/newdir", "abs/newthing", "a/b/c/new", "magic", "magic/x", "d/back/b",
         "a/b/c/x/y/z", "f/..", "a/file/../b"]


def outcome(call):
    """What a call gave: the opened object (its path and type) or the error, all comparable."""
    try:
        fd = call()
    except OSError as e:
        return ("error", type(e), e.errno, e.filename)
    try:
        return ("fd", os.readlink(f"/proc/self/fd/{fd}"), stat.S_IFMT(os.fstat(fd).st_mode))
    finally:
        os.close(fd)


def listing(top):
    out = []
    for d, dirs, files in os.walk(top):
        for name in dirs + files:
            p = os.path.join(d, name)
            out.append((os.path.relpath(p, top), os.readlink(p) if os.path.islink(p) else stat.S_IFMT(os.lstat(p).st_mode)))
    return sorted(out)


@pytest.mark.parametrize("create", [None, "dir", "file"])
@pytest.mark.parametrize("path", PATHS)
def test_same_answer_and_same_tree_as_the_step_by_step_way(tmp_path, path, create):
    old, new = str(tmp_path / "old"), str(tmp_path / "new")
    hostile_tree(old)
    hostile_tree(new)
    want = outcome(lambda: reference(old, path, create))
    got = outcome(lambda: open_resolved(new, path, create))
    if want[0] == "fd":
        want = ("fd", os.path.relpath(want[1], old), want[2])
        got = ("fd", os.path.relpath(got[1], new), got[2]) if got[0] == "fd" else got
    assert got == want
    assert listing(new) == listing(old)
    if got[0] == "fd":
        assert not got[1].startswith("..")  # never out of the root


def test_a_plain_existing_path_is_one_openat2_without_readlink(tmp_path, monkeypatch):
    hostile_tree(str(tmp_path))
    calls = []
    real_openat2, real_readlink = paths.openat2, os.readlink
    monkeypatch.setattr(paths, "openat2", lambda *a, **k: calls.append(("openat2", a[1])) or real_openat2(*a, **k))
    monkeypatch.setattr(os, "readlink", lambda *a, **k: calls.append(("readlink", a[0])) or real_readlink(*a, **k))
    os.close(open_resolved(str(tmp_path), "/a/b/c", "dir"))
    assert calls == [("openat2", "a/b/c")]
    calls.clear()
    os.close(open_resolved(str(tmp_path), "/a/b/new", "dir"))  # a missing last component: made in its directory
    assert calls == [("openat2", "a/b/new"), ("openat2", "a/b"), ("openat2", "a/b/new")]
    calls.clear()
    os.close(open_resolved(str(tmp_path), "/abs/b", "dir"))  # a symlink: safe_join's way
    assert ("readlink", f"{tmp_path}/abs") in calls
