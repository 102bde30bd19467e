"""``pycr``'s hard edges: a foreground ``pycr run`` is a record like a
detached container (``ps`` shows it; a killed ``pycr run`` is detected and
cleaned by ``rm`` and ``container prune``), exec failures after start and
absurd image users are one line, and a full store is one line that leaves
no temp file or half-made container."""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import time
import uuid

import pytest

from tests.helpers.manage import leftovers
from tests.helpers.poll import until

pytestmark = pytest.mark.root

PYTHON_LEAK = re.compile(r"Traceback|\b[A-Z][a-zA-Z]+(Error|Exception)\b|\bErrno\b")


def _foreground(clean, name):
    """A foreground ``pycr run`` whose container has installed its TERM trap (it says "ready" then).

    The caller closes ``proc.stdout`` once ``proc`` has ended."""
    proc = clean.popen("run", "--name", name, clean.image, "sh", "-c",
                       "trap 'exit 3' TERM; echo ready; while true; do sleep 0.1; done",
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    said = b""
    deadline = time.monotonic() + 30
    while b"ready\n" not in said:
        assert time.monotonic() < deadline, f"no ready from the container: {said!r}"
        if select.select([proc.stdout], [], [], 0.5)[0]:
            chunk = os.read(proc.stdout.fileno(), 4096)
            assert chunk, f"pycr run ended before its container was ready: {said!r}"
            said += chunk
    until(lambda: any(r["Names"] == name and r["State"] == "running" for r in clean.ps()), f"{name} running in ps")
    return proc


def test_foreground_run_is_a_record_and_goes_away_with_it(clean):
    name = f"fg-{uuid.uuid4().hex[:6]}"
    proc = _foreground(clean, name)
    info = clean.inspect(name)
    assert info["State"]["Running"] and info["State"]["Pid"] > 1
    proc.send_signal(signal.SIGTERM)  # forwarded to the container: it ends, pycr run cleans up
    assert proc.wait(60) == 3  # the container's TERM trap ran
    proc.stdout.close()
    assert [r for r in clean.ps() if r["Names"] == name] == []
    assert leftovers(clean) == []


@pytest.mark.parametrize("cleaner", ["prune", "rm"])
def test_killed_foreground_run_is_detected_and_cleaned(clean, cleaner):
    name = f"fg-{uuid.uuid4().hex[:6]}"
    proc = _foreground(clean, name)
    pid = clean.inspect(name)["State"]["Pid"]
    proc.kill()  # SIGKILL: pycr run cannot clean up; its container is orphaned
    proc.wait()
    proc.stdout.close()
    row = [r for r in clean.ps() if r["Names"] == name]
    assert row and row[0]["State"] == "dead", row
    assert "pycr run was killed" in clean.inspect(name)["State"]["Error"]
    if cleaner == "prune":
        out = clean("container", "prune", check=0).stdout
        assert name not in [r["Names"] for r in clean.ps()], out
    else:
        clean("rm", name, check=0)
    until(lambda: not os.path.exists(f"/proc/{pid}"), f"the container's process {pid} gone")
    assert leftovers(clean) == []


def test_exec_failure_after_start_is_one_line(clean, tmp_path):
    """A script without a shebang fails at execve (ENOEXEC), after start."""
    script = tmp_path / "noshebang"
    script.write_text("echo never\n")
    script.chmod(0o755)
    r = clean("run", "--rm", "-v", f"{script}:/noshebang:ro", clean.image, "/noshebang")
    assert r.returncode == 1
    assert r.stderr.strip() == "exec /noshebang: exec format error"
    r = clean("run", "--rm", clean.image, "/no/such/program")
    assert r.returncode != 0 and not PYTHON_LEAK.search(r.stderr)
    assert r.stderr.strip().endswith('exec: "/no/such/program": stat /no/such/program: no such file or directory')
    env_file = tmp_path / "env"
    env_file.write_text("HUGE=" + "x" * 200_000 + "\n")  # (too long for pycr's own argv as -e)
    r = clean("run", "--rm", "--env-file", str(env_file), clean.image, "true")
    assert r.returncode != 0 and "process.env" in r.stderr and r.stderr.count("\n") == 1, r.stderr
    assert leftovers(clean) == []


@pytest.mark.parametrize("user", ["12345678901234567890", "1:99999999999999999999", "4294967295"])
def test_absurd_user_is_one_line(clean, user):
    r = clean("run", "--rm", "--user", user, clean.image, "true")
    assert r.returncode != 0
    assert r.stderr.count("\n") == 1 and "out of range" in r.stderr and not PYTHON_LEAK.search(r.stderr), r.stderr
    assert leftovers(clean) == []


def test_full_store_is_one_line_and_leaves_nothing(clean, tmp_path):
    """The store's filesystem fills up while a container is made."""
    store = clean.store
    filler = os.path.join(store, "filler")
    tiny = os.path.join(store, "containers")
    os.makedirs(tiny, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "pycr-test-full", tiny], check=True)
    try:
        fd = os.open(os.path.join(tiny, "filler"), os.O_WRONLY | os.O_CREAT, 0o600)
        for size in (65536, 4096, 1):
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError:
                pass
        os.close(fd)
        for args in (("run", "-d", "-q"), ("run", "--rm"), ("create",)):
            r = clean(*args, clean.image, "true")
            assert r.returncode != 0
            lines = r.stderr.strip().splitlines()
            assert len(lines) == 1 and "No space left on device" in lines[0], r.stderr
            assert not PYTHON_LEAK.search(r.stderr), r.stderr
            assert sorted(os.listdir(tiny)) == ["filler"], os.listdir(tiny)
    finally:
        subprocess.run(["umount", "-l", tiny], check=False)
        if os.path.exists(filler):
            os.unlink(filler)
    assert leftovers(clean) == []
