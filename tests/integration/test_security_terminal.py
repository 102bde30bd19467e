"""Escape class 2 (docs/security.md): terminal injection.  The caller runs
pycr in a real pty (its "shell's" terminal); the container pushes
keystrokes with TIOCSTI into each of its stdio fds.  None may reach the
caller's terminal input, and the container must have no controlling
terminal (tty_nr 0 in /proc/self/stat), which also fails on the old
behaviour where the kernel refuses TIOCSTI (dev.tty.legacy_tiocsti=0).

The container runs the host's Python (``/usr`` bound read-only) to make the
ioctl; busybox has none."""

from __future__ import annotations

import fcntl
import json
import os
import select
import subprocess
import termios
import time

import pytest

from tests.conftest import PYCR_OCI

pytestmark = pytest.mark.root

ATTACK = r"""
import fcntl, termios
res = []
for fd in (0, 1, 2):
    try:
        for ch in b"echo INJECTED\n":
            fcntl.ioctl(fd, termios.TIOCSTI, bytes([ch]))
        res.append("ok")
    except OSError as e:
        res.append(e.errno)
st = open("/proc/self/stat").read().rsplit(")", 1)[1].split()
print("RESULT " + str(res).replace(" ", "") + " tty " + st[4], flush=True)
"""
PY = ["/usr/bin/python3", "-I", "-c", ATTACK]
HOST_USR = ["-v", "/usr:/usr:ro", "-v", "/usr/lib:/lib:ro", "-v", "/usr/lib64:/lib64:ro"]


def under_pty(argv, env=None, timeout=90):
    """Run ``argv`` as a session leader whose controlling terminal is a new pty;
    return (its output, what is waiting in the terminal's input queue)."""
    master, slave = os.openpty()
    p = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True,
                         preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0))
    out = b""
    deadline = time.monotonic() + timeout
    try:
        while p.poll() is None or select.select([master], [], [], 0.2)[0]:
            assert time.monotonic() < deadline, out
            if select.select([master], [], [], 0.2)[0]:
                try:
                    out += os.read(master, 65536)
                except OSError:
                    break
    finally:
        if p.poll() is None:
            p.kill()
        p.wait()
    attrs = termios.tcgetattr(slave)
    attrs[3] &= ~termios.ICANON  # whatever is queued, complete line or not
    termios.tcsetattr(slave, termios.TCSANOW, attrs)
    os.set_blocking(slave, False)
    try:
        pending = os.read(slave, 65536)
    except BlockingIOError:
        pending = b""
    os.close(slave)
    os.close(master)
    return out.decode(errors="replace"), pending


def check(out, pending):
    assert "RESULT" in out, out
    result = out.split("RESULT ", 1)[1].split()
    assert "INJECTED" not in pending.decode(errors="replace"), (pending, out)
    assert "ok" not in result[0], out  # no TIOCSTI succeeded
    assert result[1:3] == ["tty", "0"], out  # and the container has no controlling terminal


def _python_bundle(bundle):
    b = bundle(PY)
    rootfs = os.path.join(b, "rootfs")
    for link in ("lib", "lib64"):
        os.symlink(f"usr/{link}", os.path.join(rootfs, link))
    with open(os.path.join(b, "config.json")) as f:
        config = json.load(f)
    config["mounts"].append({"destination": "/usr", "type": "bind", "source": "/usr", "options": ["rbind", "ro"]})
    with open(os.path.join(b, "config.json"), "w") as f:
        json.dump(config, f)
    return b


def test_oci_run_without_terminal(state_root, bundle, cid):
    check(*under_pty([PYCR_OCI, "--root", state_root, "run", "--bundle", _python_bundle(bundle), cid]))


def test_oci_exec_without_terminal(state_root, run_oci, bundle, cid):
    b = bundle(["sleep", "1000"])
    with open(os.path.join(b, "config.json")) as f:
        config = json.load(f)
    config["mounts"].append({"destination": "/usr", "type": "bind", "source": "/usr", "options": ["rbind", "ro"]})
    with open(os.path.join(b, "config.json"), "w") as f:
        json.dump(config, f)
    for link in ("lib", "lib64"):
        os.symlink(f"usr/{link}", os.path.join(b, "rootfs", link))
    assert run_oci("run", "-d", "--bundle", b, cid).returncode == 0
    try:
        check(*under_pty([PYCR_OCI, "--root", state_root, "exec", cid, *PY]))
    finally:
        run_oci("delete", "--force", cid)


@pytest.mark.parametrize("interactive", [[], ["-i"]])
def test_pycr_run_without_t(clean, interactive):
    p = clean
    check(*under_pty([p_bin(p), "--root", p.root, "run", "--rm", *interactive, *HOST_USR, p.image, *PY], env=p.env))


def test_pycr_exec_without_t(clean):
    p = clean
    p.run_d("--name", "box", *HOST_USR, p.image, "sleep", "1000")
    for interactive in ([], ["-i"]):
        check(*under_pty([p_bin(p), "--root", p.root, "exec", *interactive, "box", *PY], env=p.env))


def p_bin(p):
    from tests.conftest import PYCR

    return PYCR
