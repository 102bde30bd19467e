"""CgroupV2 on this hybrid host (real kernel): v1 owns the controllers, cgroup2 at
/sys/fs/cgroup/unified has none of them.

The container still gets a cgroup in the unified hierarchy under our own
(so freeze, kill-all, cgroup.events and the device filter work), and any
limit whose controller v2 lacks here is refused with one line naming it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import uuid

import pytest

from pycr.core import ConfigError, own_cgroup_paths
from pycr.core.cgroups import detect_backend
from pycr.core.testing import cgroup_conformance as kit
from pycr.plugins.cgroup_v2 import CgroupV2

UNIFIED = "/sys/fs/cgroup/unified"
HYBRID = os.path.isfile(f"{UNIFIED}/cgroup.controllers") and detect_backend() == "cgroup_v1"

pytestmark = [pytest.mark.root,
              pytest.mark.skipif(not HYBRID, reason="needs a hybrid host (cgroup2 at /sys/fs/cgroup/unified)")]


def _controllers() -> set[str]:
    with open(f"{UNIFIED}/cgroup.controllers") as f:
        return set(f.read().split())


@pytest.fixture
def drv():
    d = CgroupV2(f"hy-{uuid.uuid4().hex[:8]}")
    d.create()
    try:
        yield d
    finally:
        kit.cleanup(d)


def test_backend_auto_picks_v1_on_hybrid_but_v2_is_available():
    assert detect_backend() == "cgroup_v1"
    assert CgroupV2.available()


def test_container_is_placed_in_the_unified_hierarchy_under_our_own_cgroup(drv):
    own = own_cgroup_paths()[""]
    assert drv.hybrid
    assert drv.path == os.path.normpath(f"{UNIFIED}/{own}/pycr-{drv.container_id}")
    proc = kit.spawn_in(drv, ["sleep", "60"])
    try:
        with open(f"/proc/{proc.pid}/cgroup") as f:
            unified_line = [line.strip() for line in f if line.startswith("0::")]
        assert unified_line == [f"0::{os.path.join(own, 'pycr-' + drv.container_id)}"]
        assert kit.container_dirs(proc.pid) == {drv.path}
    finally:
        proc.kill()
        proc.wait()


def test_freeze_and_thaw_work_on_the_hybrid_host(drv):
    kit.check_freeze_thaw(drv)


def test_kill_all_and_destroy(drv):
    kit.check_kill_all(drv)
    kit.check_destroy_leaves_nothing(drv)


@pytest.mark.skipif("memory" in _controllers() if HYBRID else True, reason="memory is in v2 here")
def test_memory_limit_is_refused_naming_the_controller(drv):
    with pytest.raises(ConfigError) as e:
        drv.apply({"memory": {"limit": 32 << 20}})
    msg = str(e.value)
    assert "\n" not in msg and "'memory'" in msg and msg.startswith("linux.resources.memory.limit:"), msg
    assert not os.path.exists(os.path.join(drv.path, "memory.max"))


def test_device_filter_works_on_the_hybrid_host(drv):
    drv.apply({"devices": [{"allow": False, "access": "rwm"},
                           {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "r"}]})

    def sh(script):
        return subprocess.run(["sh", "-c", script], capture_output=True, text=True,
                              preexec_fn=lambda: drv.add_pid(os.getpid()))

    assert sh("cat /dev/null").returncode == 0
    denied = sh("echo x > /dev/null")
    assert denied.returncode != 0 and "Operation not permitted" in denied.stderr, denied
    drv.kill_all(signal.SIGKILL)


def test_pycr_oci_backend_cgroup_v2_on_the_hybrid_host(bundle, cid, state_root):
    """The runtime with ``--backend cgroup_v2`` here: placed in unified, limits refused by name."""
    from pycr.core.testing.bundle import update_config
    from tests.conftest import PYCR_OCI

    b = bundle(["sleep", "60"])
    oci = [PYCR_OCI, "--root", state_root, "--backend", "cgroup_v2"]
    # stdio to a file: the container's init inherits create's and would hold a pipe open
    with open(os.path.join(b, "create.err"), "w+") as err:
        r = subprocess.run([*oci, "create", "--bundle", b, cid], stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=err, timeout=60)
        err.seek(0)
        created_err = err.read()
    try:
        assert r.returncode == 0, created_err
        pid = json.loads(subprocess.run([*oci, "state", cid], capture_output=True, text=True, check=True).stdout)["pid"]
        with open(f"/proc/{pid}/cgroup") as f:
            [unified] = [line.strip() for line in f if line.startswith("0::")]
        assert unified == f"0::{os.path.join(own_cgroup_paths()[''], 'pycr-' + cid)}" or cid in unified, unified
        assert os.path.isdir(f"{UNIFIED}{unified[3:]}")
    finally:
        subprocess.run([*oci, "delete", "--force", cid], capture_output=True, timeout=60)
    assert not [d for d in os.listdir(UNIFIED) if cid in d]

    update_config(b, linux={"resources": {"memory": {"limit": 32 << 20}}})
    r = subprocess.run([*oci, "run", "--bundle", b, cid], capture_output=True, text=True, timeout=60)
    assert r.returncode != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "'memory'" in lines[0] and "memory.limit" in lines[0], r.stderr
    assert not [d for d in os.listdir(UNIFIED) if cid in d]
