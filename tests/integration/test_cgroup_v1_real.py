"""cgroup_v1 on this host's real v1 hierarchies: conformance kit plus limits proven by the kernel.

Every cgroup is relative (nested under the test process's own cgroup in each
hierarchy), unique per test, and destroyed by a fixture whatever happens.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
import uuid

import pytest

from pycr.core import ConfigError
from pycr.core.testing.cgroup_conformance import (
    MiB,
    CgroupDriverConformance,
    cleanup,
    container_dirs,
    spawn_in,
)
from pycr.plugins.cgroup_v1 import CgroupV1

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(not CgroupV1.available(), reason="no cgroup v1 hierarchies on this host"),
]


class TestCgroupV1Conformance(CgroupDriverConformance):
    driver_class = CgroupV1


@pytest.fixture
def cg():
    cid = f"v1-{uuid.uuid4().hex[:12]}"
    drv = CgroupV1(cid, f"pycr-test-{cid}")
    drv.create()
    try:
        yield drv
    finally:
        cleanup(drv)
        assert [p for p in drv.paths.values() if os.path.exists(p)] == []


def read(drv: CgroupV1, ctrl: str, name: str) -> str:
    with open(os.path.join(drv.dir_of(ctrl), name)) as f:
        return f.read().strip()


def run_in(drv, code: str, timeout: float = 60) -> subprocess.CompletedProcess:
    proc = spawn_in(drv, ["python3", "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = proc.communicate(timeout=timeout)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def test_nests_under_own_cgroup_in_every_hierarchy(cg):
    own = {}
    with open("/proc/self/cgroup") as f:
        for line in f:
            _, ctrls, path = line.strip().split(":", 2)
            own[ctrls] = path
    assert cg.paths["memory"] == os.path.join("/sys/fs/cgroup/memory", own["memory"].lstrip("/"), cg.cgroups_path)
    assert cg.paths["pids"] == os.path.join("/sys/fs/cgroup/pids", own["pids"].lstrip("/"), cg.cgroups_path)


def test_memory_limit_oom_kills(cg):
    cg.apply({"memory": {"limit": 64 * MiB, "swap": 64 * MiB}})
    result = run_in(cg, "b = bytearray(200 << 20)")
    assert result.returncode == -signal.SIGKILL, result.stderr
    assert "oom_kill 1" in read(cg, "memory", "memory.oom_control")
    mem = cg.stats()["memory"]
    assert mem["usage"]["max"] > 60 * MiB, mem   # it did reach the limit before the kill


def test_memory_below_limit_survives(cg):
    cg.apply({"memory": {"limit": 64 * MiB}})
    result = run_in(cg, "b = bytearray(16 << 20); print(len(b))")
    assert result.returncode == 0 and result.stdout.strip() == str(16 << 20), result.stderr


def test_memory_and_swap_are_written_in_a_kernel_accepted_order(cg):
    # growing both needs memsw first, shrinking both needs limit first: the kernel
    # rejects any single write that leaves memsw < limit.
    for limit, swap in ((64 * MiB, 64 * MiB), (128 * MiB, 256 * MiB), (32 * MiB, 48 * MiB), (-1, None)):
        cg.apply({"memory": {"limit": limit, "swap": swap}})
        if limit == -1:
            assert int(read(cg, "memory", "memory.limit_in_bytes")) > 1 << 60
            assert int(read(cg, "memory", "memory.memsw.limit_in_bytes")) > 1 << 60
        else:
            assert int(read(cg, "memory", "memory.limit_in_bytes")) == limit
            assert int(read(cg, "memory", "memory.memsw.limit_in_bytes")) == swap


def test_swap_below_limit_is_refused(cg):
    with pytest.raises(ConfigError, match=r"linux\.resources\.memory\.swap"):
        cg.apply({"memory": {"limit": 64 * MiB, "swap": 32 * MiB}})


FORK_LOOP = """
import errno, os, time
kids = []
try:
    for _ in range(50):
        pid = os.fork()
        if pid == 0:
            time.sleep(30)
            os._exit(0)
        kids.append(pid)
    print("no error", len(kids))
except OSError as e:
    print(errno.errorcode[e.errno], len(kids))
finally:
    for pid in kids:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
"""


def test_pids_max_stops_a_fork_loop(cg):
    cg.apply({"pids": {"limit": 10}})
    result = run_in(cg, FORK_LOOP)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["EAGAIN", "9"]   # the parent is the 10th task
    assert int(read(cg, "pids", "pids.events").split()[1]) >= 1


def test_pids_unlimited(cg):
    cg.apply({"pids": {"limit": 10}})
    cg.apply({"pids": {"limit": -1}})
    assert read(cg, "pids", "pids.max") == "max"
    assert cg.stats()["pids"]["limit"] == 0


OPEN_NULL = """
try:
    open('/dev/null', 'w').close()
    print('ok')
except OSError as e:
    print(e.errno)
"""


def test_devices_deny_dev_null(cg):
    cg.apply({"devices": [{"allow": False, "type": "c", "major": 1, "minor": 3, "access": "rwm"}]})
    assert run_in(cg, OPEN_NULL).stdout.strip() == str(errno.EPERM)
    outside = subprocess.run(["python3", "-c", OPEN_NULL], capture_output=True, text=True)
    assert outside.stdout.strip() == "ok"


def test_devices_deny_all_then_allow_one(cg):
    cg.apply({"devices": [
        {"allow": False, "access": "rwm"},
        {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rw"},
    ]})
    assert read(cg, "devices", "devices.list") == "c 1:3 rw"
    assert run_in(cg, OPEN_NULL).stdout.strip() == "ok"
    zero = run_in(cg, OPEN_NULL.replace("/dev/null", "/dev/zero"))
    assert zero.stdout.strip() == str(errno.EPERM)


def test_cpuset_pins_and_intermediate_dirs_get_cpus(cg):
    nested = CgroupV1(cg.container_id + "n", f"{cg.cgroups_path}-outer/mid/leaf")
    nested.create()
    try:
        # the two new intermediate cpuset dirs had empty cpus/mems; adding a task proves they were filled
        assert len(nested.to_state()["created"]["cpuset"]) == 3
        nested.apply({"cpu": {"cpus": "0", "mems": "0"}})
        result = run_in(nested, "import os; print(sorted(os.sched_getaffinity(0)))")
        assert result.stdout.strip() == "[0]", result.stderr
    finally:
        cleanup(nested)
    assert [d for ds in nested.to_state()["created"].values() for d in ds] == []
    assert not os.path.exists(os.path.dirname(os.path.dirname(nested.paths["cpuset"])))


def test_cpu_quota_throttles(cg):
    cg.apply({"cpu": {"shares": 512, "period": 100000, "quota": 10000}})
    assert read(cg, "cpu", "cpu.cfs_quota_us") == "10000"
    assert read(cg, "cpu", "cpu.shares") == "512"
    start = time.monotonic()
    run_in(cg, "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.1: pass")
    elapsed = time.monotonic() - start
    data = cg.stats()["cpu"]
    assert data["throttling"]["throttled_periods"] > 0, data
    assert elapsed > 0.5   # 0.1 s of CPU at 10% needs about 1 s of wall time
    assert data["usage"]["total"] >= 100_000_000


def test_blkio_weight(cg):
    cg.apply({"blockIO": {"weight": 200}})
    name = "blkio.weight" if os.path.exists(os.path.join(cg.dir_of("blkio"), "blkio.weight")) else "blkio.bfq.weight"
    assert read(cg, "blkio", name).split()[-1] == "200"


def test_freezer_stops_a_fork_loop_and_kill_all_ends_it(cg):
    cg.apply({"pids": {"limit": 200}})   # a bounded fork loop, whatever happens
    proc = spawn_in(cg, ["sh", "-c", "while :; do sleep 0.01 & done"])
    try:
        time.sleep(0.3)
        cg.freeze()
        frozen = cg.pids()
        time.sleep(0.2)
        assert cg.pids() == frozen   # nothing forks while frozen
        cg.kill_all(signal.SIGKILL)
        assert proc.wait(timeout=10) == -signal.SIGKILL
        deadline = time.monotonic() + 5
        while cg.pids() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert cg.pids() == []
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_destroy_from_a_fresh_process():
    cid = f"v1-{uuid.uuid4().hex[:12]}"
    drv = CgroupV1(cid, f"pycr-test-{cid}/inner")
    drv.create()
    try:
        state = json.dumps(drv.to_state())
        top = os.path.dirname(drv.paths["memory"])
        code = ("import json, sys; from pycr.plugins.cgroup_v1 import CgroupV1; "
                "CgroupV1.from_state(json.loads(sys.argv[1])).destroy()")
        subprocess.run([sys.executable, "-c", code, state], check=True, timeout=30)
        assert not os.path.exists(top)
        assert [p for p in drv.paths.values() if os.path.exists(p)] == []
    finally:
        drv.destroy()


MOUNT_SCRIPT = """
set -e
mount -t tmpfs -o {tmpfs_opts} tmpfs {dest}
{binds}
cat {dest}/memory/memory.limit_in_bytes
if echo 1 > {dest}/memory/memory.limit_in_bytes 2>/dev/null; then echo writable; else echo readonly; fi
"""


def test_mounts_expose_the_container_cgroup_read_only(cg, tmp_path):
    cg.apply({"memory": {"limit": 48 * MiB}})
    dest = str(tmp_path / "cgroup")
    os.mkdir(dest)
    entries = cg.mounts(dest)
    assert entries[0]["type"] == "tmpfs" and entries[0]["destination"] == dest
    assert {e["destination"] for e in entries[1:]} == {os.path.join(dest, n) for n in cg.paths}
    binds = "\n".join(
        f"mkdir {e['destination']}\nmount --rbind {e['source']} {e['destination']}\n"
        f"mount -o remount,bind,ro {e['destination']}" for e in entries[1:])
    script = MOUNT_SCRIPT.format(tmpfs_opts=",".join(entries[0]["options"]), dest=dest, binds=binds)
    result = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [str(48 * MiB), "readonly"]


def test_processes_land_in_every_hierarchy(cg):
    proc = spawn_in(cg, ["sleep", "30"])
    try:
        dirs = container_dirs(proc.pid)
        assert set(cg.paths.values()) <= dirs
    finally:
        proc.kill()
        proc.wait()


def test_destroy_removes_cgroups_a_container_made_inside_its_own(cg):
    """destroy() tries each leaf first and lists it only when the kernel refuses (EBUSY): a child
    cgroup in every hierarchy, one two levels deep in one of them, all go with the container's."""
    children = [os.path.join(path, "made-inside") for path in cg.paths.values()]
    for child in children:
        os.mkdir(child)
    os.mkdir(os.path.join(children[0], "deeper"))
    cg.destroy()
    assert [p for p in children + list(cg.paths.values()) if os.path.exists(p)] == []
