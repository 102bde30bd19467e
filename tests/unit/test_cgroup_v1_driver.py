"""cgroup_v1 lifecycle on a fake cgroupfs: create, add_pid, pids, freezer, stats, destroy, state, mounts."""

from __future__ import annotations

import json
import os
import signal
import subprocess

import pytest

from pycr.core import CleanupError, ConfigError, PycrError
from pycr.core.testing.fake_cgroupfs import FakeCgroupfs
from pycr.plugins.cgroup_v1 import CgroupV1


@pytest.fixture
def fake(tmp_path):
    return FakeCgroupfs(tmp_path, own={"memory": "/sup/job"})


@pytest.fixture
def drv(fake):
    d = fake.driver(CgroupV1, "c1", "box/inner")
    d.create()
    return d


def test_create_makes_leaf_and_intermediate_dirs_in_every_hierarchy(fake, drv):
    for name in fake.hierarchies:
        own = "/sup/job" if name == "memory" else "/"
        leaf = fake.path(name, own + "/box/inner")
        assert os.path.isdir(leaf)
        assert drv.to_state()["created"][name] == [os.path.dirname(leaf), leaf]
        assert os.path.exists(os.path.join(leaf, "cgroup.procs"))   # populated like the kernel would


def test_new_cpuset_dirs_get_parent_cpus_and_mems(fake, drv):
    for cg in ("/box", "/box/inner"):
        assert fake.read("cpuset", cg, "cpuset.cpus") == "0-1"
        assert fake.read("cpuset", cg, "cpuset.mems") == "0"


def test_create_is_idempotent_and_keeps_its_record(fake, drv):
    drv.create()
    assert len(drv.to_state()["created"]["pids"]) == 2


def test_destroy_removes_only_what_create_made(fake, drv):
    drv.destroy()
    assert fake.cgroups() == [fake.path("memory", "/sup"), fake.path("memory", "/sup/job")]
    drv.destroy()   # idempotent
    assert drv.to_state()["created"]["pids"] == []


def test_existing_cgroup_is_joined_but_not_removed(fake):
    os.makedirs(fake.path("pids", "/pre"))
    d = fake.driver(CgroupV1, "c1", "/pre")
    d.create()
    assert "pids" not in d.to_state()["created"] or d.to_state()["created"]["pids"] == []
    d.destroy()
    assert os.path.isdir(fake.path("pids", "/pre"))
    assert not os.path.exists(fake.path("memory", "/pre"))


def test_destroy_removes_child_cgroups_made_inside(fake, drv):
    fake.mkdir(fake.path("pids", "/box/inner/sub"))
    fake.mkdir(fake.path("pids", "/box/inner/sub/deeper"))
    drv.destroy()
    assert not os.path.exists(fake.path("pids", "/box"))


def test_destroy_with_tasks_left_reports_every_busy_dir(fake, drv):
    drv.rmdir_retry = 0
    fake.write("pids", "/box/inner", "cgroup.procs", "4242\n")
    with pytest.raises(CleanupError) as info:
        drv.destroy()
    assert info.value.failures == [f"rmdir {fake.path('pids', '/box/inner')}: Device or resource busy"]
    assert not os.path.exists(fake.path("memory", "/sup/job/box"))   # the others still went
    assert os.path.isdir(fake.path("pids", "/box/inner"))
    fake.write("pids", "/box/inner", "cgroup.procs", "")
    drv.destroy()
    assert fake.cgroups() == [fake.path("memory", "/sup"), fake.path("memory", "/sup/job")]


def test_failed_create_cleans_up(fake):
    with open(fake.path("pids", "/blocker"), "w"):
        pass
    d = fake.driver(CgroupV1, "c1", "blocker/leaf")
    with pytest.raises(PycrError, match=r"cannot create .*/pids/blocker: a file is in the way"):
        d.create()
    assert fake.cgroups() == [fake.path("memory", "/sup"), fake.path("memory", "/sup/job")]


def test_state_round_trip_destroys_from_a_fresh_driver(fake, drv):
    state = json.loads(json.dumps(drv.to_state()))
    assert state["driver"] == "cgroup_v1" and state["paths"] == drv.paths
    again = fake.bind(CgroupV1.from_state(state))
    assert again.paths == drv.paths
    again.destroy()
    assert fake.cgroups() == [fake.path("memory", "/sup"), fake.path("memory", "/sup/job")]


def test_state_keeps_paths_even_if_own_cgroup_changes(fake, drv):
    state = drv.to_state()
    with open(fake.proc_self_cgroup, "w") as f:
        f.write("7:memory:/elsewhere\n")
    assert CgroupV1.from_state(state).paths == drv.paths


def test_add_pid_writes_every_hierarchy_and_pids_is_recursive(fake, drv):
    drv.add_pid(1234)
    for name in fake.hierarchies:
        assert drv.paths[name].endswith("/box/inner")
        with open(os.path.join(drv.paths[name], "cgroup.procs")) as f:
            assert f.read() == "1234"
    fake.mkdir(fake.path("pids", "/box/inner/sub"))
    fake.write("pids", "/box/inner/sub", "cgroup.procs", "77\n78\n")
    assert drv.pids() == [77, 78, 1234]


def test_add_pid_failure_names_the_path(fake, drv):
    os.unlink(os.path.join(drv.paths["freezer"], "cgroup.procs"))
    with pytest.raises(PycrError, match=r"cannot add pid 5 to .*/freezer/box/inner"):
        drv.add_pid(5)


def test_freeze_thaw(fake, drv):
    assert not drv.is_frozen()
    drv.freeze()
    assert fake.read("freezer", "/box/inner", "freezer.state") == "FROZEN"
    assert drv.is_frozen()
    drv.thaw()
    assert fake.read("freezer", "/box/inner", "freezer.state") == "THAWED"
    assert not drv.is_frozen()


def test_freezer_files_say_what_is_frozen_says(fake, drv):
    """start/state/kill read the files create recorded instead of asking the driver: they must agree."""
    from pycr.core.runtime.state import Container

    recorded = Container("/nonexistent", "c1", {"freezer": drv.freezer_files()})
    for state in ("THAWED", "FREEZING", "FROZEN", "THAWED"):
        fake.write("freezer", "/box/inner", "freezer.state", state + "\n")
        assert recorded.frozen() == drv.is_frozen() == (state == "FROZEN"), state
    drv.destroy()
    assert recorded.frozen() is drv.is_frozen() is False


def test_no_freezer_hierarchy(tmp_path):
    fake = FakeCgroupfs(tmp_path, hierarchies=("memory", "pids"))
    d = fake.driver(CgroupV1, "c1")
    d.create()
    with pytest.raises(PycrError, match="freezer cgroup controller is not mounted"):
        d.freeze()
    assert d.freezer_files() is None  # nothing recorded: the verbs ask is_frozen, which says why


def test_kill_all_signals_members_and_keeps_a_paused_container_paused(fake, drv):
    procs = [subprocess.Popen(["sleep", "30"]) for _ in range(2)]
    try:
        fake.write("pids", "/box/inner", "cgroup.procs", "\n".join(str(p.pid) for p in procs))
        drv.freeze()
        drv.kill_all(signal.SIGTERM)
        assert [p.wait(timeout=5) for p in procs] == [-signal.SIGTERM] * 2
        assert drv.is_frozen()
        drv.kill_all(signal.SIGKILL)   # SIGKILL thaws: v1 frozen tasks die only once thawed
        assert not drv.is_frozen()
    finally:
        for p in procs:
            p.kill()
            p.wait()


def test_stats_shape(fake, drv):
    mem = "/sup/job/box/inner"
    fake.write("memory", mem, "memory.usage_in_bytes", 1000)
    fake.write("memory", mem, "memory.max_usage_in_bytes", 2000)
    fake.write("memory", mem, "memory.limit_in_bytes", 4096)
    fake.write("memory", mem, "memory.failcnt", 3)
    fake.write("memory", mem, "memory.stat", "cache 10\nrss 20\ntotal_cache 11\n")
    fake.write("cpuacct", "/box/inner", "cpuacct.usage", 555)
    fake.write("cpuacct", "/box/inner", "cpuacct.usage_percpu", "500 55")
    fake.write("cpuacct", "/box/inner", "cpuacct.stat", "user 5\nsystem 2\n")
    fake.write("cpu", "/box/inner", "cpu.stat", "nr_periods 9\nnr_throttled 4\nthrottled_time 77\n")
    fake.write("pids", "/box/inner", "pids.current", 3)
    fake.write("pids", "/box/inner", "pids.max", 10)
    fake.write("blkio", "/box/inner", "blkio.throttle.io_service_bytes_recursive", "8:0 Read 4096\nTotal 4096\n")
    s = drv.stats()
    assert s["memory"]["usage"] == {"usage": 1000, "max": 2000, "limit": 4096, "failcnt": 3}
    assert s["memory"]["raw"] == {"cache": 10, "rss": 20, "total_cache": 11}
    assert s["memory"]["cache"] == 11
    assert s["memory"]["swap"]["limit"] > 1 << 60
    assert s["cpu"]["usage"] == {"total": 555, "percpu": [500, 55], "percpu_kernel": [0, 0],
                                 "percpu_user": [0, 0], "kernel": 20_000_000, "user": 50_000_000}
    assert s["cpu"]["throttling"] == {"periods": 9, "throttled_periods": 4, "throttled_time": 77}
    assert s["pids"] == {"current": 3, "limit": 10}
    assert s["blkio"]["ioServiceBytesRecursive"] == [{"major": 8, "minor": 0, "op": "Read", "value": 4096}]
    fake.write("pids", "/box/inner", "pids.max", "max")
    assert drv.stats()["pids"]["limit"] == 0   # runc's way of saying unlimited


def test_stats_leave_out_what_is_not_mounted(tmp_path):
    fake = FakeCgroupfs(tmp_path, hierarchies=("pids",))
    d = fake.driver(CgroupV1, "c1")
    d.create()
    assert d.stats() == {"pids": {"current": 0, "limit": 0}}


def test_mounts_tmpfs_plus_one_read_only_bind_per_hierarchy(fake, drv):
    entries = drv.mounts("/sys/fs/cgroup/")
    assert entries[0] == {"destination": "/sys/fs/cgroup", "type": "tmpfs", "source": "tmpfs",
                          "options": ["nosuid", "noexec", "nodev", "mode=755", "size=65536k"]}
    binds = {e["destination"]: e for e in entries[1:]}
    assert set(binds) == {f"/sys/fs/cgroup/{n}" for n in fake.hierarchies}
    assert binds["/sys/fs/cgroup/memory"]["source"] == fake.path("memory", "/sup/job/box/inner")
    assert all(e["type"] == "bind" and "ro" in e["options"] and "rbind" in e["options"] for e in entries[1:])


def test_no_hierarchy_at_all(tmp_path):
    os.mkdir(tmp_path / "root")
    (tmp_path / "cg").write_text("0::/\n")
    d = CgroupV1("c1", root=str(tmp_path / "root"), proc_self_cgroup=str(tmp_path / "cg"))
    with pytest.raises(PycrError, match="no cgroup v1 hierarchy found under"):
        d.create()


def test_entry_point_and_public_name():
    from importlib.metadata import entry_points

    assert entry_points(group="pycr.cgroup")["cgroup_v1"].load() is CgroupV1
    assert CgroupV1.name == "cgroup_v1"


def test_apply_refuses_when_controller_not_mounted(tmp_path):
    fake = FakeCgroupfs(tmp_path, hierarchies=("memory",))
    d = fake.driver(CgroupV1, "c1")
    d.create()
    with pytest.raises(ConfigError, match=r"^linux\.resources\.pids\.limit: the pids cgroup controller is not mounted"):
        d.apply({"pids": {"limit": 3}})


def test_driver_without_record_destroys_its_leaf(fake, drv):
    fresh = fake.driver(CgroupV1, "c1", "box/inner")   # no create(), no state: only the leaf is known
    fresh.destroy()
    assert not os.path.exists(fake.path("pids", "/box/inner"))
    assert os.path.isdir(fake.path("pids", "/box"))     # not known to be ours
    drv.destroy()
    assert not os.path.exists(fake.path("pids", "/box"))


def test_root_cgroup_is_refused(fake):
    with pytest.raises(ConfigError, match=r"^linux\.cgroupsPath: '/' is the root cgroup of "):
        fake.driver(CgroupV1, "c1", "/").create()
