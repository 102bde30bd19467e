"""Escape class 5 (docs/security.md): files of a container that pycr reads
from the host side (``/etc/passwd`` and ``/etc/group`` for ``-u NAME`` and
HOME) are opened inside the rootfs only, never a FIFO or device, and at most
4 MiB: a hostile container gets one clear line, not a hang, not a memory
blow-up, not a read of a host file."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.root


@pytest.mark.parametrize("attack, message", [
    ("rm /etc/passwd && mkfifo /etc/passwd", "/etc/passwd in the container is not a regular file"),
    ("rm /etc/passwd && truncate -s 20G /etc/passwd", "/etc/passwd in the container is too large"),
    ("rm /etc/group && mknod /etc/group c 1 5", "/etc/group in the container is not a regular file"),
])
def test_exec_user_refuses_hostile_account_files(clean, attack, message):
    p = clean
    p.run_d("--name", "box", p.image, "sh", "-c", f"{attack} && echo armed && sleep 1000")
    _wait_armed(p)
    r = p("exec", "-u", "nobody", "box", "id", "-u", timeout=30)
    assert r.returncode != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], r.stderr
    assert "Traceback" not in r.stderr


def test_exec_user_does_not_follow_a_symlink_out_of_the_rootfs(clean, tmp_path):
    """/etc/passwd -> a host file naming a user 'hostonly': pycr must not see it."""
    p = clean
    host = tmp_path / "passwd"
    host.write_text("hostonly:x:4242:4242::/:/bin/sh\n")
    up = "../" * 40
    p.run_d("--name", "box", p.image, "sh", "-c",
            f"ln -sf {up}{str(host).lstrip('/')} /etc/passwd && echo armed && sleep 1000")
    _wait_armed(p)
    r = p("exec", "-u", "hostonly", "box", "id", "-u", timeout=30)
    assert r.returncode != 0 and "no user 'hostonly'" in r.stderr, (r.stdout, r.stderr)
    assert "4242" not in r.stdout


def _wait_armed(p, timeout=20):
    import time

    deadline = time.monotonic() + timeout
    while "armed" not in p.logs("box"):
        assert time.monotonic() < deadline, p.logs("box")
        time.sleep(0.1)
