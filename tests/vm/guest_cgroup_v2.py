"""cgroup v2 proven on a real kernel: runs INSIDE the QEMU guest (see test_vm.py).

The guest was booted with ``cgroup_no_v1=all`` and cgroup2 mounted at
/sys/fs/cgroup; this pytest runs as root in the root cgroup.  Every test
builds containers' cgroups with :class:`CgroupV2` exactly as the runtime
does and judges the outcome from the kernel (exit statuses, cgroup.events,
memory.events, cpu.stat, /proc), not from the driver's own answers.

The file name does not match ``test_*.py``: the host never collects it.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid

import pytest

from pycr.core import ConfigError
from pycr.core.cgroups import detect_backend
from pycr.core.testing.cgroup_conformance import CgroupDriverConformance, cleanup, spawn_in
from pycr.plugins.cgroup_v2 import CgroupV2

MiB = 1 << 20
PY = sys.executable

pytestmark = pytest.mark.vm


def kernel_file(drv, name):
    with open(os.path.join(drv.path, name)) as f:
        return f.read()


def keyed(drv, name):
    return {k: int(v) for k, v in (line.split() for line in kernel_file(drv, name).splitlines())}


@pytest.fixture
def drv():
    d = CgroupV2(f"vm-{uuid.uuid4().hex[:8]}")
    d.create()
    try:
        yield d
    finally:
        cleanup(d)


def _runtime_ready() -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec("pycr.core.runtime.lifecycle") is not None
    except ImportError:
        return False


def test_guest_is_pure_cgroup_v2():
    with open("/proc/cmdline") as f:
        assert "cgroup_no_v1=all" in f.read()
    with open("/sys/fs/cgroup/cgroup.controllers") as f:
        assert {"memory", "cpu", "cpuset", "pids", "io"} <= set(f.read().split())
    assert detect_backend() == "cgroup_v2"
    assert os.cpu_count() == 2
    if _runtime_ready():
        from pycr.core.runtime.lifecycle import resolve_backend

        assert resolve_backend("auto") == "cgroup_v2"   # what --backend auto picks here


def test_memory_max_ends_a_100mib_allocation_with_an_oom_kill(drv):
    drv.apply({"memory": {"limit": 32 * MiB, "swap": 32 * MiB}})
    assert kernel_file(drv, "memory.max").strip() == str(32 * MiB)
    proc = spawn_in(drv, [PY, "-c", "b = bytearray(100 << 20)\nfor i in range(0, len(b), 4096): b[i] = 1\n"
                                    "print('survived')"], stdout=subprocess.PIPE)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == -signal.SIGKILL, (proc.returncode, out)   # 137 in a shell
    assert keyed(drv, "memory.events")["oom_kill"] >= 1
    assert drv.stats()["memory"]["oom_kill"] >= 1


def test_pids_max_holds_a_fork_loop(drv):
    drv.apply({"pids": {"limit": 20}})
    code = ("import os, time\nn = 0\nwhile n < 200:\n    try:\n        pid = os.fork()\n"
            "    except OSError:\n        break\n    if pid == 0:\n        time.sleep(60)\n        os._exit(0)\n"
            "    n += 1\nprint(n, flush=True)\ntime.sleep(60)\n")
    proc = spawn_in(drv, [PY, "-c", code], stdout=subprocess.PIPE)
    try:
        forked = int(proc.stdout.readline())
        assert forked == 19, forked           # the forker itself is the 20th task
        assert keyed(drv, "pids.events")["max"] >= 1
        assert drv.stats()["pids"] == {"current": 20, "limit": 20}
    finally:
        drv.kill_all(signal.SIGKILL)
        proc.wait(timeout=30)
        proc.stdout.close()


def test_cpu_max_at_half_a_cpu_throttles(drv):
    drv.apply({"cpu": {"quota": 50000, "period": 100000}})
    assert kernel_file(drv, "cpu.max").split() == ["50000", "100000"]
    proc = spawn_in(drv, ["sh", "-c", "while :; do :; done"])
    try:
        time.sleep(1.5)
    finally:
        drv.kill_all(signal.SIGKILL)
        proc.wait(timeout=30)
    stat = keyed(drv, "cpu.stat")
    assert stat["nr_throttled"] > 0 and stat["throttled_usec"] > 0, stat
    # half a CPU: usage over the periods it ran stays near 50 ms per 100 ms period
    assert stat["usage_usec"] <= 0.6 * stat["nr_periods"] * 100000 + 100000, stat
    assert drv.stats()["cpu"]["throttling"]["throttledPeriods"] == stat["nr_throttled"]


def test_cpuset_pins_to_cpu_0(drv):
    drv.apply({"cpu": {"cpus": "0", "mems": "0"}})
    out = subprocess.run([PY, "-c", "import os; print(sorted(os.sched_getaffinity(0)))"], capture_output=True,
                         text=True, preexec_fn=lambda: drv.add_pid(os.getpid()), check=True).stdout
    assert out.strip() == "[0]"
    assert kernel_file(drv, "cpuset.cpus.effective").strip() == "0"


def test_weight_and_unified_keys_reach_the_kernel(drv):
    drv.apply({"cpu": {"shares": 1024, "idle": 0}, "unified": {"memory.high": str(48 * MiB)},
               "blockIO": {"weight": 1000}, "hugepageLimits": [{"pageSize": "2MB", "limit": 4 * MiB}]})
    assert kernel_file(drv, "hugetlb.2MB.max").strip() == str(4 * MiB)
    assert kernel_file(drv, "cpu.weight").strip() == "39"
    assert kernel_file(drv, "memory.high").strip() == str(48 * MiB)
    assert "default 10000" in kernel_file(drv, "io.weight")


@pytest.fixture
def loop_device(tmp_path):
    image = tmp_path / "disk.img"
    with open(image, "wb") as f:
        f.truncate(16 * MiB)
    dev = subprocess.run(["losetup", "--find", "--show", str(image)], capture_output=True, text=True,
                         check=True).stdout.strip()
    try:
        yield dev
    finally:
        subprocess.run(["losetup", "-d", dev], check=True)


def test_io_max_slows_reads_from_a_loop_device(drv, loop_device):
    rdev = os.stat(loop_device).st_rdev
    major, minor = os.major(rdev), os.minor(rdev)
    dd = ["dd", f"if={loop_device}", "of=/dev/null", "bs=256k", "count=16", "iflag=direct"]  # 4 MiB

    def timed():
        t = time.monotonic()
        subprocess.run(dd, check=True, capture_output=True, preexec_fn=lambda: drv.add_pid(os.getpid()))
        return time.monotonic() - t

    free = timed()
    drv.apply({"blockIO": {"throttleReadBpsDevice": [{"major": major, "minor": minor, "rate": 2 * MiB}]}})
    assert f"{major}:{minor} rbps={2 * MiB}" in kernel_file(drv, "io.max")
    slow = timed()
    print(f"4 MiB direct read: {free:.2f}s free, {slow:.2f}s at 2 MiB/s")
    assert slow >= 1.5 and slow > free + 1.0, (free, slow)   # 4 MiB at 2 MiB/s: about 2 s
    assert drv.stats()["blkio"]["devices"][f"{major}:{minor}"]["rbytes"] >= 8 * MiB


def test_freeze_stops_cpu_use_and_thaw_resumes(drv):
    proc = spawn_in(drv, ["sh", "-c", "while :; do :; done"])
    try:
        time.sleep(0.3)
        drv.freeze()
        assert keyed(drv, "cgroup.events")["frozen"] == 1 and drv.is_frozen()
        before = keyed(drv, "cpu.stat")["usage_usec"]
        time.sleep(0.5)
        assert keyed(drv, "cpu.stat")["usage_usec"] == before
        drv.thaw()
        assert keyed(drv, "cgroup.events")["frozen"] == 0 and not drv.is_frozen()
        time.sleep(0.3)
        assert keyed(drv, "cpu.stat")["usage_usec"] > before
    finally:
        drv.kill_all(signal.SIGKILL)
        proc.wait(timeout=30)


def _sh_in(drv, script):
    return subprocess.run(["sh", "-c", script], capture_output=True, text=True,
                          preexec_fn=lambda: drv.add_pid(os.getpid()))


def test_device_allow_list_blocks_dev_null_writes(drv):
    assert _sh_in(drv, "echo x > /dev/null").returncode == 0
    drv.apply({"devices": [{"allow": False, "access": "rwm"},
                           {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "r"}]})
    denied = _sh_in(drv, "echo x > /dev/null")
    assert denied.returncode != 0 and "Operation not permitted" in denied.stderr, denied
    assert _sh_in(drv, "cat /dev/null").returncode == 0           # read is allowed
    assert _sh_in(drv, "head -c1 /dev/zero").returncode != 0      # 1:5 is not listed
    # a live update replaces the program
    drv.apply({"devices": [{"allow": True, "access": "rwm"}]})
    assert _sh_in(drv, "echo x > /dev/null").returncode == 0


def test_kill_all_uses_cgroup_kill_and_destroy_removes_the_cgroup():
    d = CgroupV2(f"vm-{uuid.uuid4().hex[:8]}", "pod/ctr")
    d.create()
    path = d.path
    try:
        proc = spawn_in(d, ["sh", "-c", "sleep 60 & sleep 60 & wait"])
        deadline = time.monotonic() + 10
        while len(d.pids()) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        d.kill_all(signal.SIGKILL)
        assert proc.wait(timeout=10) == -signal.SIGKILL
    finally:
        cleanup(d)
    assert not os.path.exists(path) and not os.path.exists(os.path.dirname(path))


def test_caller_cgroup_with_processes_gets_a_clear_error(tmp_path):
    caller = "/sys/fs/cgroup/pycr-caller"
    os.mkdir(caller)
    sleeper = subprocess.Popen(["sleep", "60"], preexec_fn=lambda: open(f"{caller}/cgroup.procs", "w").write(
        str(os.getpid())))
    fake_self = tmp_path / "cgroup"
    fake_self.write_text("0::/pycr-caller\n")
    d = CgroupV2("vm-internal", proc_self_cgroup=str(fake_self))
    try:
        with pytest.raises(OSError) as busy:   # the kernel's own rule, for domain controllers
            with open(f"{caller}/cgroup.subtree_control", "w") as f:
                f.write("+memory")
        assert busy.value.errno == errno.EBUSY
        d.create()
        with pytest.raises(ConfigError, match=r"memory.limit: cannot enable .*'memory'.*holds processes"):
            d.apply({"memory": {"limit": 32 * MiB}})
        d.apply({"pids": {"limit": 5}})   # threaded controllers may be enabled there
        assert kernel_file(d, "pids.max").strip() == "5"
    finally:
        d.destroy()
        sleeper.kill()
        sleeper.wait()
        time.sleep(0.05)
        os.rmdir(caller)


class TestCgroupV2Conformance(CgroupDriverConformance):
    driver_class = CgroupV2


# -- the runtime, when it can run a bundle -----------------------------------
def _busybox_bundle(tmp_path, args, resources):
    """A bundle whose rootfs is busybox-static and its applet links."""
    rootfs = tmp_path / "rootfs"
    for d in ("bin", "proc", "dev", "tmp", "sys"):
        (rootfs / d).mkdir(parents=True)
    shutil.copy2(shutil.which("busybox"), rootfs / "bin" / "busybox")
    for applet in ("sh", "dd", "cat", "echo", "sleep"):
        os.symlink("busybox", rootfs / "bin" / applet)
    config = {
        "ociVersion": "1.0.2",
        "process": {"args": args, "cwd": "/", "env": ["PATH=/bin"], "user": {"uid": 0, "gid": 0}},
        "root": {"path": "rootfs"},
        "hostname": "vm",
        "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"},
                   {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "mode=755"]},
                   {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs"}],
        "linux": {"namespaces": [{"type": "pid"}, {"type": "mount"}, {"type": "uts"}, {"type": "ipc"}],
                  "resources": resources},
    }
    (tmp_path / "config.json").write_text(json.dumps(config))
    return tmp_path


@pytest.mark.skipif(not _runtime_ready(), reason="the runtime (pycr.core.runtime.lifecycle) is not there yet")
def test_pycr_oci_run_with_cgroup_v2_backend_oom_kills(tmp_path):
    exe = os.path.join(os.path.dirname(PY), "pycr-oci")
    bundle = _busybox_bundle(tmp_path, ["dd", "if=/dev/zero", "of=/dev/null", "bs=100M", "count=1"],
                             {"memory": {"limit": 32 * MiB, "swap": 32 * MiB}})
    cid = f"vm-oci-{uuid.uuid4().hex[:6]}"
    try:
        r = subprocess.run([exe, "--backend", "cgroup_v2", "run", "--bundle", str(bundle), cid],
                           capture_output=True, text=True, timeout=300)
    finally:
        subprocess.run([exe, "delete", "--force", cid], capture_output=True, timeout=60)
    assert r.returncode == 137, (r.returncode, r.stdout[-500:], r.stderr[-1000:])
    assert not [d for d in os.listdir("/sys/fs/cgroup") if cid in d]


def _cgroup_of(pid: int) -> str:
    with open(f"/proc/{pid}/cgroup") as f:
        return "/sys/fs/cgroup" + f.read().strip().split("::", 1)[1]


@pytest.mark.skipif(not _runtime_ready(), reason="the runtime (pycr.core.runtime.lifecycle) is not there yet")
def test_pycr_backend_cgroup_v2_pids_pause_resume_update_delete(tmp_path):
    """The whole lifecycle through ``pycr --backend cgroup_v2 oci ...``: limits, pause/resume, update, delete."""
    pycr = [os.path.join(os.path.dirname(PY), "pycr"), "--backend", "cgroup_v2", "oci"]
    # the fork loop runs in a subshell: a failed fork ends that shell, the init stays
    forks = "(i=0; while [ $i -lt 40 ]; do sleep 100 & i=$((i+1)); done); exec sleep 1000"
    bundle = _busybox_bundle(tmp_path, ["sh", "-c", forks], {"pids": {"limit": 10}})
    cid = f"vm-life-{uuid.uuid4().hex[:6]}"

    def oci(*args, check=True):
        # files, not pipes: the container's init inherits create's stdio and keeps pipes open
        with open(tmp_path / "out", "w+") as out, open(tmp_path / "err", "w+") as err:
            r = subprocess.run([*pycr, *args], stdout=out, stderr=err, stdin=subprocess.DEVNULL, timeout=120)
            out.seek(0)
            err.seek(0)
            r.stdout, r.stderr = out.read(), err.read()
        assert not check or r.returncode == 0, (args, r.returncode, r.stderr[-1000:])
        return r

    try:
        oci("create", "--bundle", str(bundle), cid)
        pid = json.loads(oci("state", cid).stdout)["pid"]
        cgroup = _cgroup_of(pid)
        assert cgroup != "/sys/fs/cgroup" and os.path.isdir(cgroup)
        with open(f"{cgroup}/pids.max") as f:
            assert f.read().strip() == "10"
        oci("start", cid)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with open(f"{cgroup}/pids.events") as f:
                if int(f.read().split()[1]) > 0:
                    break
            time.sleep(0.1)

        def current() -> int:
            with open(f"{cgroup}/pids.current") as f:
                return int(f.read())

        # the subshell whose fork failed is still exiting: wait until the count holds still for 1 s
        held, since = current(), time.monotonic()
        while time.monotonic() - since < 1 and time.monotonic() < deadline:
            time.sleep(0.1)
            now = current()
            if now != held:
                held, since = now, time.monotonic()
        assert 5 <= held <= 10, held
        oci("pause", cid)
        with open(f"{cgroup}/cgroup.events") as f:
            assert "frozen 1" in f.read()
        assert json.loads(oci("state", cid).stdout)["status"] == "paused"
        oci("resume", cid)
        with open(f"{cgroup}/cgroup.events") as f:
            assert "frozen 0" in f.read()
        oci("update", "--pids-limit", "30", "--cpu-quota", "50000", "--cpu-period", "100000", cid)   # live update
        with open(f"{cgroup}/pids.max") as f, open(f"{cgroup}/cpu.max") as g:
            assert (f.read().strip(), g.read().split()) == ("30", ["50000", "100000"])
        stats = json.loads(oci("events", "--stats", cid).stdout.splitlines()[0])
        assert stats["data"]["pids"]["current"] == held and stats["data"]["pids"]["limit"] == 30, stats
        oci("kill", cid, "KILL")
        deadline = time.monotonic() + 30
        while json.loads(oci("state", cid).stdout)["status"] != "stopped" and time.monotonic() < deadline:
            time.sleep(0.1)
        oci("delete", cid)
        assert not os.path.exists(cgroup)
    finally:
        oci("delete", "--force", cid, check=False)


@pytest.mark.skipif(not _runtime_ready(), reason="the runtime (pycr.core.runtime.lifecycle) is not there yet")
def test_pycr_run_image_with_cgroup_v2_memory_limit_is_oom_killed(tmp_path):
    """The command users quote first: ``pycr --backend cgroup_v2 run --memory 32m IMAGE ...``."""
    from tests.helpers.registry import build_busybox_layout

    layout = build_busybox_layout(tmp_path / "layout")
    pycr = os.path.join(os.path.dirname(PY), "pycr")
    r = subprocess.run([pycr, "--backend", "cgroup_v2", "--root", str(tmp_path / "root"), "run", "-q",
                        "--memory", "32m", "--name", f"vm-run-{uuid.uuid4().hex[:6]}", f"oci:{layout}:latest",
                        "/bin/busybox", "dd", "if=/dev/zero", "of=/dev/null", "bs=100M", "count=1"],
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300)
    assert r.returncode == 137, (r.returncode, r.stdout[-500:], r.stderr[-1000:])
    assert not [d for d in os.listdir("/sys/fs/cgroup") if d.startswith("pycr-vm-run")]
