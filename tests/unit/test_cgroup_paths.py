"""Where a container's cgroup goes: own-cgroup parsing, cgroupsPath nesting, v1 hierarchy discovery."""

from __future__ import annotations

import os

import pytest

from pycr.core import ConfigError
from pycr.core.cgroups import container_cgroup_path, own_cgroup_paths
from pycr.core.testing.fake_cgroupfs import FakeCgroupfs
from pycr.plugins.cgroup_v1 import CgroupV1
from pycr.plugins.cgroup_v1 import hierarchies


def test_own_cgroup_paths_splits_comounted_named_and_unified(tmp_path):
    f = tmp_path / "cgroup"
    f.write_text("12:cpu,cpuacct:/a/b\n3:name=systemd:/user.slice\n2:memory:/sup/job\n0::/uni\n")
    own = own_cgroup_paths(str(f))
    assert own == {"cpu": "/a/b", "cpuacct": "/a/b", "name=systemd": "/user.slice", "memory": "/sup/job",
                   "": "/uni"}


@pytest.mark.parametrize("cgroups_path, expected", [
    (None, "/sup/job/pycr-c1"),                 # missing: <own>/pycr-<id>
    ("", "/sup/job/pycr-c1"),
    ("web/app", "/sup/job/web/app"),             # relative: nested under own
    ("web/./x/../app", "/sup/job/web/app"),
    ("/abs/path", "/abs/path"),                  # absolute: as given
    ("/abs//path/", "/abs/path"),
])
def test_container_cgroup_path(cgroups_path, expected):
    assert container_cgroup_path("/sup/job", cgroups_path, "c1") == expected


def test_container_cgroup_path_from_root_cgroup():
    assert container_cgroup_path("/", "x", "c1") == "/x"
    assert container_cgroup_path("/", None, "c1") == "/pycr-c1"


@pytest.mark.parametrize("escaping", ["..", "../sibling", "a/../../b", ".", "a/.."])
def test_relative_path_may_not_leave_own_cgroup(escaping):
    with pytest.raises(ConfigError, match=r"linux\.cgroupsPath.*leaves the caller's cgroup /sup/job"):
        container_cgroup_path("/sup/job", escaping, "c1")


def test_driver_nests_under_own_cgroup_per_hierarchy(tmp_path):
    fake = FakeCgroupfs(tmp_path, own={"memory": "/sup/job", "pids": "/p"})
    drv = fake.driver(CgroupV1, "c1", "web")
    assert drv.paths["memory"] == fake.path("memory", "/sup/job/web")
    assert drv.paths["pids"] == fake.path("pids", "/p/web")
    assert drv.paths["cpu"] == fake.path("cpu", "/web")
    assert drv.paths["systemd"] == fake.path("systemd", "/web")


def test_driver_default_and_absolute_paths(tmp_path):
    fake = FakeCgroupfs(tmp_path, own={"memory": "/sup/job"})
    assert fake.driver(CgroupV1, "c1").paths["memory"] == fake.path("memory", "/sup/job/pycr-c1")
    absolute = fake.driver(CgroupV1, "c1", "/elsewhere/c1").paths
    assert absolute["memory"] == fake.path("memory", "/elsewhere/c1")
    assert absolute["freezer"] == fake.path("freezer", "/elsewhere/c1")


def test_driver_refuses_escaping_path(tmp_path):
    fake = FakeCgroupfs(tmp_path, own={"memory": "/sup/job"})
    with pytest.raises(ConfigError, match=r"linux\.cgroupsPath"):
        fake.driver(CgroupV1, "c1", "../other").create()
    assert fake.cgroups() == [fake.path("memory", "/sup"), fake.path("memory", "/sup/job")]


def test_comounted_hierarchy_is_one_directory(tmp_path):
    fake = FakeCgroupfs(tmp_path, hierarchies=("cpu,cpuacct", "memory"))
    drv = fake.driver(CgroupV1, "c1")
    assert set(drv.paths) == {"cpu,cpuacct", "memory"}
    assert drv.dir_of("cpu") == drv.dir_of("cpuacct") == fake.path("cpu,cpuacct", "/pycr-c1")
    assert drv.dir_of("pids") is None


def test_hierarchy_missing_from_proc_self_cgroup_is_skipped(tmp_path):
    fake = FakeCgroupfs(tmp_path, hierarchies=("memory", "pids"))
    with open(fake.proc_self_cgroup, "w") as f:
        f.write("1:memory:/\n0::/\n")
    assert set(fake.driver(CgroupV1, "c1").paths) == {"memory"}


MOUNTINFO = """\
22 1 0:20 / /sys rw - sysfs sysfs rw
31 22 0:28 / /R rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /R/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 /lxc/box /R/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /R/my\\040sys rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /R/unified rw,relatime - cgroup2 cgroup2 rw
42 1 0:39 / /other/pids rw,relatime - cgroup cgroup rw,pids
43 31 0:32 /lxc/box /R/memory-again rw,relatime - cgroup cgroup rw,memory
"""


def test_mountinfo_discovery(tmp_path):
    mi = tmp_path / "mountinfo"
    mi.write_text(MOUNTINFO)
    found = {h.name: h for h in hierarchies.from_mountinfo("/R", str(mi))}
    # cgroup2, mounts outside root and a second mount of one hierarchy are ignored
    assert set(found) == {"cpu,cpuacct", "memory", "my sys"}
    assert found["cpu,cpuacct"].controllers == ("cpu", "cpuacct")
    assert found["my sys"].controllers == ("name=systemd",)
    assert found["my sys"].mountpoint == "/R/my sys"
    assert found["memory"].mount_root == "/lxc/box"


def test_own_path_is_made_relative_to_the_mount_root():
    h = hierarchies.Hierarchy("memory", "/R/memory", ("memory",), "/lxc/box")
    assert hierarchies.own_path_in(h, {"memory": "/lxc/box/inner"}) == "/inner"
    assert hierarchies.own_path_in(h, {"memory": "/lxc/box"}) == "/"
    assert hierarchies.own_path_in(h, {"memory": "/elsewhere"}) is None
    assert hierarchies.own_path_in(h, {"pids": "/"}) is None


def test_real_mountinfo_is_preferred_over_scanning(tmp_path):
    mi = tmp_path / "mountinfo"
    mi.write_text(MOUNTINFO)
    fake = FakeCgroupfs(tmp_path / "fake")
    assert [h.name for h in hierarchies.discover(fake.root, str(mi))] == list(fake.hierarchies)   # nothing mounted
    assert [h.name for h in hierarchies.discover("/R", str(mi))] == ["cpu,cpuacct", "memory", "my sys"]


def test_available(tmp_path):
    assert CgroupV1.available(FakeCgroupfs(tmp_path / "v1").root)
    assert not CgroupV1.available(FakeCgroupfs(tmp_path / "v2", version=2).root)
    os.mkdir(tmp_path / "empty")
    assert not CgroupV1.available(str(tmp_path / "empty"))
