"""CgroupV2 on a fake v2 cgroupfs (pure and hybrid layouts), no root needed."""

import os

import pytest

from pycr.core import ConfigError
from pycr.core.cgroups import detect_backend
from pycr.core.testing.fake_cgroupfs import FakeCgroupfs
from pycr.plugins.cgroup_v2 import CgroupV2


@pytest.fixture
def fake(tmp_path):
    return FakeCgroupfs(tmp_path, version=2, own={"": "/user.slice/me"})


def test_available_and_detect_backend(tmp_path, fake):
    assert CgroupV2.available(fake.root)
    assert detect_backend(fake.root) == "cgroup_v2"
    v1 = FakeCgroupfs(tmp_path / "v1", version=1)
    assert not CgroupV2.available(v1.root)
    assert detect_backend(v1.root) == "cgroup_v1"


def test_create_apply_destroy_under_own_cgroup(fake):
    drv = fake.driver(CgroupV2, "c1")
    drv.create()
    assert drv.path == fake.path("", "/user.slice/me/pycr-c1")
    drv.apply({"memory": {"limit": 32 << 20}, "pids": {"limit": 10}, "cpu": {"quota": 50000, "period": 100000,
                                                                             "shares": 1024, "cpus": "0"},
               "unified": {"memory.high": "16777216"}})
    cg = "/user.slice/me/pycr-c1"
    assert fake.read("", cg, "memory.max") == str(32 << 20)
    assert fake.read("", cg, "memory.high") == "16777216"
    assert fake.read("", cg, "pids.max") == "10"
    assert fake.read("", cg, "cpu.max") == "50000 100000"
    assert fake.read("", cg, "cpu.weight") == "39"
    assert fake.read("", cg, "cpuset.cpus") == "0"
    drv.destroy()
    assert fake.cgroups() == [fake.path("", "/user.slice"), fake.path("", "/user.slice/me")]
    drv.destroy()  # idempotent


def test_nested_relative_path_enables_controllers_down_the_path(fake):
    drv = fake.driver(CgroupV2, "c2", "pod/a")
    drv.create()
    assert fake.read("", "/user.slice/me/pod", "cgroup.subtree_control").replace("+", "").split() == \
        ["memory", "pids", "cpu", "io"]
    # the kernel would now add cpuset.* to pod/a; a plain-file fake cannot, so the write is refused
    with pytest.raises(ConfigError, match="cpuset.cpus does not exist"):
        drv.apply({"cpu": {"cpus": "1"}})
    assert "cpuset" in fake.read("", "/user.slice/me/pod", "cgroup.subtree_control")
    state = drv.to_state()
    again = fake.bind(CgroupV2.from_state(state))
    assert again.path == drv.path
    again.destroy()
    assert not os.path.exists(fake.path("", "/user.slice/me/pod"))


def test_stats_read_memory_events_cpu_stat_and_pids(fake):
    drv = fake.driver(CgroupV2, "c3")
    drv.create()
    cg = "/user.slice/me/pycr-c3"
    fake.write("", cg, "memory.events", "low 0\nhigh 0\nmax 5\noom 1\noom_kill 1\n")
    fake.write("", cg, "cpu.stat", "usage_usec 10\nuser_usec 6\nsystem_usec 4\nnr_periods 9\nnr_throttled 3\n"
                                   "throttled_usec 7\n")
    fake.write("", cg, "pids.current", "4")
    fake.write("", cg, "memory.current", "4096")
    fake.write("", cg, "io.stat", "7:0 rbytes=4096 wbytes=0 rios=1 wios=0 dbytes=0 dios=0\n")
    st = drv.stats()
    assert st["memory"]["oom_kill"] == 1 and st["memory"]["usage"]["usage"] == 4096
    assert st["cpu"]["throttling"] == {"periods": 9, "throttledPeriods": 3, "throttledTime": 7000}
    assert st["cpu"]["usage"]["total"] == 10000
    assert st["pids"] == {"current": 4, "limit": -1}
    assert st["blkio"]["devices"]["7:0"]["rbytes"] == 4096
    drv.destroy()


def test_freeze_on_an_empty_cgroup_returns(fake):
    drv = fake.driver(CgroupV2, "c4")
    drv.create()
    drv.freeze()
    assert drv.is_frozen()
    drv.thaw()
    assert not drv.is_frozen()
    drv.destroy()


def test_freezer_files_say_what_is_frozen_says(fake):
    """start/state/kill read the files create recorded instead of asking the driver: they must agree,
    a frozen ancestor (cgroup.events) and a destroyed cgroup included."""
    from pycr.core.runtime.state import Container

    drv = fake.driver(CgroupV2, "c5")
    drv.create()
    recorded = Container("/nonexistent", "c5", {"freezer": drv.freezer_files()})
    events = os.path.join(drv.path, "cgroup.events")
    for freeze, event in (("0", "populated 1\nfrozen 0\n"), ("1", "populated 1\nfrozen 0\n"),
                          ("0", "populated 1\nfrozen 1\n"), ("0", "frozen 10\n")):
        with open(os.path.join(drv.path, "cgroup.freeze"), "w") as f:
            f.write(freeze + "\n")
        with open(events, "w") as f:
            f.write(event)
        assert recorded.frozen() == drv.is_frozen() == (freeze == "1" or "frozen 1\n" in event), (freeze, event)
    drv.destroy()
    assert recorded.frozen() is drv.is_frozen() is False


def test_missing_controller_is_refused_naming_it(tmp_path):
    fake = FakeCgroupfs(tmp_path, version=2, controllers=("cpu", "pids"))
    drv = fake.driver(CgroupV2, "c5")
    drv.create()
    with pytest.raises(ConfigError, match=r"linux.resources.memory.limit: .*controller 'memory' is not available"):
        drv.apply({"memory": {"limit": 1 << 20}})
    drv.destroy()


def test_no_internal_processes_rule_gives_a_clear_error(tmp_path):
    fake = FakeCgroupfs(tmp_path, version=2, own={"": "/svc"})
    # the host enabled nothing below /svc, and /svc holds pycr itself
    fake.write("", "/svc", "cgroup.subtree_control", "")
    fake.write("", "/svc", "cgroup.procs", "1234\n")
    drv = fake.driver(CgroupV2, "c6")
    drv.create()  # accounting controllers are best effort: no error here
    with pytest.raises(ConfigError, match=r"memory.limit: cannot enable .*'memory' .*holds processes"):
        drv.apply({"memory": {"limit": 1 << 20}})
    # a threaded controller may be enabled there (the fake cannot then add pids.max to the child)
    with pytest.raises(ConfigError, match="pids.max does not exist"):
        drv.apply({"pids": {"limit": 5}})
    assert "pids" in fake.read("", "/svc", "cgroup.subtree_control")
    drv.destroy()


def test_hybrid_layout_uses_root_unified(tmp_path):
    fake = FakeCgroupfs(tmp_path / "v2", version=2, controllers=("hugetlb",))
    host = tmp_path / "host"
    host.mkdir()
    (host / "unified").symlink_to(fake.root)
    drv = fake.bind(CgroupV2("c7", root=str(host), proc_self_cgroup=fake.proc_self_cgroup))
    assert CgroupV2.available(str(host)) and detect_backend(str(host)) == "cgroup_v1"
    drv.create()
    assert drv.hybrid and drv.path == str(host / "unified" / "pycr-c7")
    with pytest.raises(ConfigError, match=r"controller 'memory' is not available .*hybrid host"):
        drv.apply({"memory": {"limit": 1 << 20}})
    drv.destroy()
    assert fake.cgroups() == []


def test_cgroups_path_escaping_own_cgroup_is_refused(fake):
    with pytest.raises(ConfigError, match="cgroupsPath"):
        fake.driver(CgroupV2, "c8", "../../x").create()


def test_mounts_bind_the_container_cgroup(fake):
    drv = fake.driver(CgroupV2, "c9")
    [m] = drv.mounts("/sys/fs/cgroup")
    assert m["source"] == drv.path and m["destination"] == "/sys/fs/cgroup"


def test_the_driver_alone_imports_neither_typing_nor_its_limit_writers():
    """What a pure v2 host's `pycr-oci delete`, `kill --all` and `pause` load: the driver, rebuilt from
    the state, removes the cgroup without typing (~2 ms) or the writers' dataclasses (limits only)."""
    import subprocess
    import sys

    code = ("import sys, pycr.plugins.cgroup_v2\n"
            "print(sorted({'typing', 'dataclasses', 'pycr.plugins.cgroup_v2.writers', 'pycr.core.linux.paths'}"
            " & set(sys.modules)))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"

