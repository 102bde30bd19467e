"""Escape class 8 (docs/security.md): a bind source swapped for a symlink
between ``create`` and ``start``.  ``pycr serve --bind-root R`` lets API
callers bind only from under R, checked at create; container A (sharing
R/shared) then replaces the directory B binds with a symlink to a host
directory.  Starting B -- once, again (a later start re-checks), and while
a thread swaps the directory and the symlink back and forth -- must never
let B read or write that host directory.  Binds under R, and symlinks under
R that lead elsewhere under R, keep working.
"""

from __future__ import annotations

import ctypes
import os
import secrets
import threading

import pytest

from tests.helpers.api import serving

pytestmark = pytest.mark.root

RACE_STARTS = int(os.environ.get("PYCR_BIND_RACE_STARTS", "12"))
_libc = ctypes.CDLL(None, use_errno=True)


def _exchange(a: str, b: str) -> None:
    """renameat2(RENAME_EXCHANGE): ``a`` and ``b`` trade places atomically."""
    if _libc.renameat2(-100, a.encode(), -100, b.encode(), 2) != 0:
        raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()), a)


@pytest.fixture
def tree(tmp_path):
    """R (the bind root) with R/shared/x a directory; a host directory outside R holding a secret."""
    root, outside = tmp_path / "binds", tmp_path / "host"
    (root / "shared" / "x").mkdir(parents=True)
    outside.mkdir()
    secret = secrets.token_hex(16)
    (outside / "secret").write_text(secret)
    return root, outside, secret


def _assert_host_untouched(outside, secret, logs: str) -> None:
    assert sorted(p.name for p in outside.iterdir()) == ["secret"], "a file was written outside the bind root"
    assert (outside / "secret").read_text() == secret
    assert secret not in logs, "the container read a file outside the bind root"


def _victim(a, root) -> None:
    """B: binds R/shared/x (a directory now, so create passes), reads the secret, writes a file."""
    a.docker("create", "--name", "victim", "-v", f"{root}/shared/x:/host", a.manage.image,
             "sh", "-c", "cat /host/secret; echo pwned > /host/written", check=0)


def _start(a) -> tuple[int, str]:
    """``docker start victim`` and wait for it: (start's exit code, its stderr)."""
    r = a.docker("start", "victim")
    if r.returncode == 0:
        a.docker("wait", "victim", check=0)
    return r.returncode, r.stderr


def test_swap_between_create_and_start_is_refused(manage, clean, tree):
    root, outside, secret = tree
    with serving(manage, ["--bind-root", str(root)]) as a:
        a.docker("run", "-d", "--name", "attacker", "-v", f"{root}/shared:/d", a.manage.image, "sleep", "600",
                 check=0)
        _victim(a, root)
        a.docker("exec", "attacker", "sh", "-c", f"rmdir /d/x && ln -s {outside} /d/x", check=0)
        assert os.path.islink(root / "shared" / "x")
        code, err = _start(a)
        assert code != 0
        line = err.strip().splitlines()[0]  # the daemon's answer (docker adds "failed to start containers")
        assert line.startswith("Error response from daemon: ") and "mount bind on /host: " in line, err
        assert f"bind source {root}/shared/x " in line and f"bind roots ({root})" in line, err
        assert "Traceback" not in err
        _assert_host_untouched(outside, secret, a.docker("logs", "victim").stdout)
        # put the directory back: B starts; swap again: a later start checks again
        a.docker("exec", "attacker", "sh", "-c", "rm /d/x && mkdir /d/x", check=0)
        assert _start(a)[0] == 0
        assert (root / "shared" / "x" / "written").read_text() == "pwned\n"
        a.docker("exec", "attacker", "sh", "-c", f"rm -r /d/x && ln -s {outside} /d/x", check=0)
        for verb in ("start", "restart"):
            r = a.docker(verb, "victim")
            assert r.returncode != 0 and "bind root" in r.stderr, (verb, r.stderr)
            _assert_host_untouched(outside, secret, a.docker("logs", "victim").stdout)
        a.docker("rm", "-f", "attacker", "victim", check=0)


def test_racing_swap_never_reaches_the_host(manage, clean, tree):
    root, outside, secret = tree
    shared = root / "shared"
    with serving(manage, ["--bind-root", str(root)]) as a:
        _victim(a, root)
        os.symlink(outside, shared / "link")
        stop = threading.Event()
        swaps = [0]

        def swapper():
            while not stop.is_set():
                _exchange(str(shared / "x"), str(shared / "link"))
                swaps[0] += 1

        t = threading.Thread(target=swapper, daemon=True)
        t.start()
        outcomes = {"ran": 0, "refused": 0}
        try:
            for i in range(RACE_STARTS):
                code, err = _start(a)
                outcomes["ran" if code == 0 else "refused"] += 1
                if code:
                    assert "Traceback" not in err and err.strip(), err
                _assert_host_untouched(outside, secret, a.docker("logs", "victim").stdout)
        finally:
            stop.set()
            t.join(30)
        print(f"race: {outcomes}, {swaps[0]} swaps")
        assert swaps[0] > RACE_STARTS and sum(outcomes.values()) == RACE_STARTS
        a.docker("rm", "-f", "victim", check=0)
    _assert_host_untouched(outside, secret, "")


def test_binds_and_symlinks_inside_the_root_still_work(manage, clean, tree):
    root, outside, secret = tree
    (root / "data").mkdir()
    (root / "data" / "f").write_text("inside\n")
    (root / "shared" / "y").mkdir()
    with serving(manage, ["--bind-root", str(root)]) as a:
        a.docker("create", "--name", "c", "-v", f"{root}/shared/y:/m", "-v", f"{root}/data/f:/file:ro",
                 a.manage.image, "sh", "-c", "cat /m/f /file; echo hi > /m/new", check=0)
        (root / "shared" / "y").rmdir()
        for i, link in enumerate([root / "data", "../data"]):  # an absolute, then a relative symlink
            if i:
                (root / "shared" / "y").unlink()
            os.symlink(link, root / "shared" / "y")
            assert a.docker("start", "c").returncode == 0
            assert a.docker("wait", "c", check=0).stdout.strip() == "0"
            assert a.docker("logs", "c", check=0).stdout == "inside\n" * 2 * (i + 1)
            assert (root / "data" / "new").read_text() == "hi\n"
            (root / "data" / "new").unlink()
        a.docker("rm", "-f", "c", check=0)
    _assert_host_untouched(outside, secret, "")
