"""The fake cgroupfs itself: layouts, /proc/self/cgroup, and kernel-like mkdir/rmdir."""

from __future__ import annotations

import errno
import os

import pytest

from pycr.core.cgroups import CgroupDriver, own_cgroup_paths
from pycr.core.testing.fake_cgroupfs import FakeCgroupfs


def test_v1_layout_and_proc_self_cgroup(tmp_path):
    fake = FakeCgroupfs(tmp_path, hierarchies=("cpu,cpuacct", "memory", "systemd"), own={"memory": "/a/b"})
    assert sorted(os.listdir(fake.root)) == ["cpu,cpuacct", "memory", "systemd"]
    assert own_cgroup_paths(fake.proc_self_cgroup) == {"cpu": "/", "cpuacct": "/", "memory": "/a/b",
                                                       "name=systemd": "/", "": "/"}
    assert os.path.exists(fake.path("cpu,cpuacct", "/", "cpu.shares"))
    assert os.path.exists(fake.path("cpu,cpuacct", "/", "cpuacct.usage"))
    assert os.path.exists(fake.path("memory", "/", "release_agent"))          # root-only
    assert not os.path.exists(fake.path("memory", "/a", "release_agent"))
    assert fake.read("memory", "/a/b", "memory.limit_in_bytes") == "9223372036854771712"
    assert fake.cgroups() == [fake.path("memory", "/a"), fake.path("memory", "/a/b")]


def test_v1_cpuset_starts_empty_below_the_root(tmp_path):
    fake = FakeCgroupfs(tmp_path, hierarchies=("cpuset",), own={"cpuset": "/own"})
    assert fake.read("cpuset", "/", "cpuset.cpus") == "0-1"
    assert fake.read("cpuset", "/own", "cpuset.cpus") == "0-1"   # the host's own cgroup is live
    fake.mkdir(fake.path("cpuset", "/own/new"))
    assert fake.read("cpuset", "/own/new", "cpuset.cpus") == ""


def test_freezer_root_has_no_state_file(tmp_path):
    fake = FakeCgroupfs(tmp_path, hierarchies=("freezer",))
    assert not os.path.exists(fake.path("freezer", "/", "freezer.state"))
    fake.mkdir(fake.path("freezer", "/x"))
    assert fake.read("freezer", "/x", "freezer.state") == "THAWED"


def test_omit(tmp_path):
    fake = FakeCgroupfs(tmp_path, hierarchies=("memory",), omit={"memory.memsw.limit_in_bytes"})
    fake.mkdir(fake.path("memory", "/x"))
    assert not os.path.exists(fake.path("memory", "/x", "memory.memsw.limit_in_bytes"))
    assert os.path.exists(fake.path("memory", "/x", "memory.limit_in_bytes"))


def test_rmdir_follows_kernel_rules(tmp_path):
    fake = FakeCgroupfs(tmp_path, hierarchies=("pids",))
    fake.mkdir(fake.path("pids", "/x"))
    fake.mkdir(fake.path("pids", "/x/y"))
    with pytest.raises(OSError) as info:
        fake.rmdir(fake.path("pids", "/x"))            # has a child cgroup
    assert info.value.errno == errno.EBUSY
    fake.write("pids", "/x/y", "cgroup.procs", "12\n")
    with pytest.raises(OSError) as info:
        fake.rmdir(fake.path("pids", "/x/y"))          # has a task
    assert info.value.errno == errno.EBUSY
    fake.write("pids", "/x/y", "cgroup.procs", "")
    fake.rmdir(fake.path("pids", "/x/y"))              # control files go with it
    fake.rmdir(fake.path("pids", "/x"))
    assert fake.cgroups() == []
    with pytest.raises(FileNotFoundError):
        fake.rmdir(fake.path("pids", "/x"))


def test_v2_layout(tmp_path):
    fake = FakeCgroupfs(tmp_path, version=2, controllers=("memory", "pids"), own={"": "/svc/job"})
    assert open(fake.proc_self_cgroup).read() == "0::/svc/job\n"
    assert fake.read("", "/", "cgroup.controllers") == "memory pids"
    assert fake.read("", "/svc/job", "cgroup.subtree_control") == "memory pids"
    assert fake.read("", "/svc/job", "memory.max") == "max"
    fake.mkdir(fake.path("", "/svc/job/c"))
    assert fake.read("", "/svc/job/c", "cgroup.controllers") == "memory pids"
    assert fake.read("", "/svc/job/c", "pids.max") == "max"
    fake.write("", "/svc/job/c", "cgroup.subtree_control", "+pids")
    fake.mkdir(fake.path("", "/svc/job/c/d"))
    assert fake.read("", "/svc/job/c/d", "cgroup.controllers") == "pids"
    assert not os.path.exists(fake.path("", "/svc/job/c/d", "memory.max"))


def test_bind_routes_a_drivers_mkdir_and_rmdir(tmp_path):
    fake = FakeCgroupfs(tmp_path, hierarchies=("pids",))
    drv = fake.bind(CgroupDriver("c1"))
    assert drv.fs is fake and CgroupDriver.fs is not fake
    drv.fs.mkdir(fake.path("pids", "/z"))
    assert os.path.exists(fake.path("pids", "/z", "pids.max"))
