"""Faults of the low-level runtime: ``pycr-oci create`` killed with SIGKILL
at random moments, and a disk that fills up under the state root.  After
``delete --force`` (or the failed command itself) nothing may remain: no
state directory, no cgroup, no process, no temp file."""

from __future__ import annotations

import os
import random
import subprocess
import time
import uuid

import pytest

from tests.conftest import ID_PREFIX, PYCR_OCI
from tests.helpers.engines import cgroups_named, processes_mentioning, run

pytestmark = pytest.mark.root


def test_create_killed_at_random_moments_leaves_nothing_after_delete(bundle, state_root):
    b = bundle(["sleep", "1000"])
    rng = random.Random(1717)
    # kill points spread over how long a whole create takes on this (loaded) machine
    probe = f"{ID_PREFIX}k9-probe-{uuid.uuid4().hex[:6]}"
    t0 = time.monotonic()
    run([PYCR_OCI, "--root", state_root, "create", "--bundle", b, probe])
    span = time.monotonic() - t0
    run([PYCR_OCI, "--root", state_root, "delete", "--force", probe])
    outcomes = {"half-made": 0, "none": 0, "created": 0}
    for attempt in range(30):
        cid = f"{ID_PREFIX}k9-{attempt}-{uuid.uuid4().hex[:6]}"
        proc = subprocess.Popen([PYCR_OCI, "--root", state_root, "create", "--bundle", b, cid],
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        made = os.path.join(state_root, cid)
        if attempt % 3:  # once create has begun making things (most of its time), at a random moment
            deadline = time.monotonic() + 30
            while not os.path.isdir(made) and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.002)
            time.sleep(rng.uniform(0.0, 0.7) * span)
        else:  # anywhere, from the start
            time.sleep(rng.uniform(0.0, 1.0) * span)
        proc.kill()
        proc.wait()
        if os.path.isdir(made):
            outcomes["created" if os.path.exists(os.path.join(made, "state.json")) else "half-made"] += 1
        else:
            outcomes["none"] += 1
        r = run([PYCR_OCI, "--root", state_root, "delete", "--force", cid], check=False)
        assert r.returncode == 0, r.stderr
        deadline = time.monotonic() + 10
        while processes_mentioning(cid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not os.path.exists(made), (attempt, os.listdir(made))
        assert cgroups_named(f"pycr-{cid}") == [], attempt
        assert processes_mentioning(cid) == [], attempt
        # the id is free again: a new create starts from scratch and works
        if attempt % 10 == 0:
            assert run([PYCR_OCI, "--root", state_root, "run", "--bundle", bundle(["true"]), cid],
                       check=False).returncode == 0
    assert outcomes["half-made"] > 0, outcomes  # the kills did land in the middle of create


@pytest.fixture
def tiny_root(tmp_path):
    """A 1 MiB tmpfs as the state root, filled up to the last few blocks."""
    root = tmp_path / "tiny"
    root.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tinyroot", str(root)], check=True)
    try:
        yield root
    finally:
        subprocess.run(["umount", "-l", str(root)], check=False)


def _fill(path):
    """Fill the filesystem at ``path`` to the last byte."""
    fd = os.open(os.path.join(path, "filler"), os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (65536, 4096, 512, 1):
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError:
                pass
    finally:
        os.close(fd)


def test_full_state_root_is_one_line_and_leaves_nothing(bundle, tiny_root):
    b = bundle(["true"])
    os.makedirs(tiny_root / ".validated", exist_ok=True)
    _fill(tiny_root)
    cid = f"{ID_PREFIX}full-{uuid.uuid4().hex[:6]}"
    r = run([PYCR_OCI, "--root", str(tiny_root), "run", "--bundle", b, cid], check=False)
    assert r.returncode != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "No space left on device" in lines[0], r.stderr
    assert "Traceback" not in r.stderr and "Error:" not in r.stderr
    assert sorted(os.listdir(tiny_root)) == [".validated", "filler"]
    assert cgroups_named(f"pycr-{cid}") == []


def test_plugin_raising_when_the_container_stopped_leaves_nothing(tmp_path):
    from pycr.core.testing.bundle import make_bundle
    from pycr.core.testing.dists import write_dist

    site = str(tmp_path / "site")
    write_dist(site, "pycr-raises-stopped", "0.1", {"pycr.plugins": {"raises_stopped": "pycrtest_raises_stopped"}},
               {"pycrtest_raises_stopped.py": "from pycr.core import hookimpl\n\n@hookimpl\n"
                                              "def pycr_container_stopped(state, exit_status):\n"
                                              "    raise RuntimeError('stopped hook blew up')\n"})
    root = str(tmp_path / "run")
    env = {**os.environ, "PYTHONPATH": site, "PYCR_CACHE_DIR": str(tmp_path / "cache")}
    cid = f"{ID_PREFIX}hookraise-{uuid.uuid4().hex[:6]}"
    b = make_bundle(str(tmp_path / "b"), ["echo", "ran"])
    r = run([PYCR_OCI, "--root", root, "run", "--bundle", b, cid], check=False, env=env)
    assert r.stdout == "ran\n"
    assert r.returncode != 0 and "raises_stopped" in r.stderr and "stopped hook blew up" in r.stderr, r.stderr
    assert [d for d in os.listdir(root) if not d.startswith(".")] == []
    assert cgroups_named(f"pycr-{cid}") == []
