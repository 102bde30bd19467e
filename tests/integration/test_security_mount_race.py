"""Escape class 3 (docs/security.md): mount destinations that change under
the runtime (CVE-2021-30465).  Container A shares a volume with container
B and swaps a directory of it with a symlink (renameat2 RENAME_EXCHANGE, in
a tight loop) while B is created again and again with a tmpfs and a bind
and a device node *inside* that directory.  The symlink points at a host directory; nothing
may ever be created or mounted there, whatever B's outcome.
"""

from __future__ import annotations

import json
import os
import time

import pytest

pytestmark = pytest.mark.root

ITERATIONS = int(os.environ.get("PYCR_RACE_ITERATIONS", "200"))
SWAPPER = r"""
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
os.makedirs("/vol/d", exist_ok=True)
os.symlink(sys.argv[1], "/vol/link")
open("/vol/ready", "w").close()
while not os.path.exists("/vol/stop"):
    libc.renameat2(-100, b"/vol/d", -100, b"/vol/link", 2)  # RENAME_EXCHANGE
"""


def _with_host_python(b):
    for link in ("lib", "lib64"):
        os.symlink(f"usr/{link}", os.path.join(b, "rootfs", link))
    return {"destination": "/usr", "type": "bind", "source": "/usr", "options": ["rbind", "ro"]}


def _set_mounts(b, mounts):
    path = os.path.join(b, "config.json")
    with open(path) as f:
        config = json.load(f)
    config["mounts"] += mounts
    with open(path, "w") as f:
        json.dump(config, f)


def test_swapped_destination_never_leads_outside(run_oci, bundle, cid, tmp_path):
    volume, outside, src = tmp_path / "volume", tmp_path / "outside", tmp_path / "bindsrc"
    for d in (volume, outside, src):
        d.mkdir()
    vol = {"destination": "/vol", "type": "bind", "source": str(volume), "options": ["rbind", "rw"]}
    a = bundle(["/usr/bin/python3", "-I", "-c", SWAPPER, str(outside)])
    _set_mounts(a, [vol, _with_host_python(a)])
    victim = bundle(["true"], linux={"devices": [{"path": "/vol/d/n/null2", "type": "c", "major": 1, "minor": 3}]})
    _set_mounts(victim, [vol, {"destination": "/vol/d/t", "type": "tmpfs", "source": "tmpfs", "options": []},
                         {"destination": "/vol/d/b/c", "type": "bind", "source": str(src), "options": ["rbind"]}])
    assert run_oci("run", "-d", "--bundle", a, cid).returncode == 0
    outcomes = {"ok": 0, "refused": 0}
    try:
        deadline = time.monotonic() + 30
        while not (volume / "ready").exists():
            assert time.monotonic() < deadline
            time.sleep(0.05)
        for i in range(ITERATIONS):
            done = run_oci("run", "--bundle", victim, f"{cid}-v")
            run_oci("delete", "--force", f"{cid}-v")
            if done.returncode == 0:
                outcomes["ok"] += 1
            else:
                outcomes["refused"] += 1
                lines = done.stderr.strip().splitlines()
                assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
            assert list(outside.iterdir()) == [], (i, done.stderr)
    finally:
        (volume / "stop").touch()
        run_oci("delete", "--force", cid)
    assert list(outside.iterdir()) == [] and list(src.iterdir()) == []
    with open("/proc/self/mountinfo") as f:
        assert str(tmp_path) not in f.read()
    assert outcomes["ok"] + outcomes["refused"] == ITERATIONS
