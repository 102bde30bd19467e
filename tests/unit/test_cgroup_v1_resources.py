"""cgroup_v1 controller writers on a fake cgroupfs: every OCI field lands in its file, refusals name the field."""

from __future__ import annotations

import pytest

from pycr.core import ConfigError
from pycr.core.testing.fake_cgroupfs import UNLIMITED, FakeCgroupfs
from pycr.plugins.cgroup_v1 import CgroupV1
from pycr.plugins.cgroup_v1.devices import rule_lines

CG = "/pycr-c1"


def make(tmp_path, **fake_kwargs):
    fake = FakeCgroupfs(tmp_path, **fake_kwargs)
    drv = fake.driver(CgroupV1, "c1")
    drv.create()
    return fake, drv


@pytest.fixture
def env(tmp_path):
    return make(tmp_path)


# -- memory -------------------------------------------------------------------
def test_memory_fields(env):
    fake, drv = env
    drv.apply({"memory": {"limit": 64 << 20, "reservation": 32 << 20, "swap": 128 << 20, "swappiness": 10,
                          "kernelTCP": 1 << 20, "disableOOMKiller": True, "useHierarchy": True}})
    r = lambda name: fake.read("memory", CG, name)  # noqa: E731
    assert r("memory.limit_in_bytes") == str(64 << 20)
    assert r("memory.soft_limit_in_bytes") == str(32 << 20)
    assert r("memory.memsw.limit_in_bytes") == str(128 << 20)
    assert r("memory.swappiness") == "10"
    assert r("memory.kmem.tcp.limit_in_bytes") == str(1 << 20)
    assert r("memory.oom_control") == "1"
    assert r("memory.use_hierarchy") == "1"


def test_zero_means_unset_as_in_runc(env):
    fake, drv = env
    drv.apply({"memory": {"limit": 0, "swap": 0, "reservation": 0}, "cpu": {"shares": 0, "quota": 0}})
    assert fake.read("memory", CG, "memory.limit_in_bytes") == UNLIMITED
    assert fake.read("cpu", CG, "cpu.shares") == "1024"


def test_unlimited_memory_also_unlimits_memsw(env):
    fake, drv = env
    fake.write("memory", CG, "memory.memsw.limit_in_bytes", 64 << 20)
    drv.apply({"memory": {"limit": -1}})
    assert fake.read("memory", CG, "memory.limit_in_bytes") == "-1"
    assert fake.read("memory", CG, "memory.memsw.limit_in_bytes") == "-1"


def test_swap_without_memsw_file_is_refused(tmp_path):
    fake, drv = make(tmp_path, omit={"memory.memsw.limit_in_bytes"})
    with pytest.raises(ConfigError, match=r"^linux\.resources\.memory\.swap: memory\.memsw\.limit_in_bytes "
                                          r"does not exist in .*swapaccount=1"):
        drv.apply({"memory": {"limit": 64 << 20, "swap": 128 << 20}})
    drv.apply({"memory": {"limit": 64 << 20, "swap": -1}})   # unlimited swap asks for nothing
    assert fake.read("memory", CG, "memory.limit_in_bytes") == str(64 << 20)


def test_swap_below_limit_is_refused(env):
    with pytest.raises(ConfigError, match=r"^linux\.resources\.memory\.swap: .* is below"):
        env[1].apply({"memory": {"limit": 64 << 20, "swap": 32 << 20}})


@pytest.mark.parametrize("field, value, message", [
    ("swappiness", 101, "not between 0 and 100"),
    ("limit", "64m", "is not an integer"),
    ("limit", True, "is not an integer"),
    ("oomScoreAdj", 5, "not supported by the cgroup_v1 driver"),
])
def test_memory_bad_values(env, field, value, message):
    with pytest.raises(ConfigError, match=rf"^linux\.resources\.memory\.{field}: .*{message}"):
        env[1].apply({"memory": {field: value}})


def test_check_before_update_refuses_limit_below_usage(env):
    fake, drv = env
    fake.write("memory", CG, "memory.usage_in_bytes", 100 << 20)
    with pytest.raises(ConfigError, match=r"^linux\.resources\.memory\.limit: .* below the current usage"):
        drv.apply({"memory": {"limit": 64 << 20, "checkBeforeUpdate": True}})


def test_kernel_write_error_becomes_config_error(env):
    fake, drv = env
    path = fake.path("memory", CG, "memory.limit_in_bytes")
    import os

    os.chmod(path, 0o444)
    if os.access(path, os.W_OK):   # root ignores modes: make the file a directory instead
        os.unlink(path)
        os.mkdir(path)
    with pytest.raises(ConfigError, match=r"^linux\.resources\.memory\.limit: cannot write '1024' to .*limit_in_bytes: "):
        drv.apply({"memory": {"limit": 1024}})


# -- cpu / cpuset ---------------------------------------------------------------
def test_cpu_fields(env):
    fake, drv = env
    drv.apply({"cpu": {"shares": 512, "quota": 20000, "period": 50000, "burst": 1000, "realtimeRuntime": 950,
                       "realtimePeriod": 1000, "idle": 1, "cpus": "1", "mems": "0"}})
    assert fake.read("cpu", CG, "cpu.shares") == "512"
    assert fake.read("cpu", CG, "cpu.cfs_quota_us") == "20000"
    assert fake.read("cpu", CG, "cpu.cfs_period_us") == "50000"
    assert fake.read("cpu", CG, "cpu.cfs_burst_us") == "1000"
    assert fake.read("cpu", CG, "cpu.rt_runtime_us") == "950"
    assert fake.read("cpu", CG, "cpu.rt_period_us") == "1000"
    assert fake.read("cpu", CG, "cpu.idle") == "1"
    assert fake.read("cpuset", CG, "cpuset.cpus") == "1"
    assert fake.read("cpuset", CG, "cpuset.mems") == "0"


def test_cpuset_without_hierarchy(tmp_path):
    _, drv = make(tmp_path, hierarchies=("cpu", "memory"))
    with pytest.raises(ConfigError, match=r"^linux\.resources\.cpu\.cpus: the cpuset cgroup controller"):
        drv.apply({"cpu": {"cpus": "0"}})


def test_cpu_in_a_comounted_hierarchy(tmp_path):
    fake, drv = make(tmp_path, hierarchies=("cpu,cpuacct",))
    drv.apply({"cpu": {"quota": 1000}})
    assert fake.read("cpu,cpuacct", CG, "cpu.cfs_quota_us") == "1000"


# -- pids -----------------------------------------------------------------------
@pytest.mark.parametrize("limit, written", [(10, "10"), (0, "max"), (-1, "max")])
def test_pids_limit(env, limit, written):
    fake, drv = env
    drv.apply({"pids": {"limit": limit}})
    assert fake.read("pids", CG, "pids.max") == written


# -- blkio ----------------------------------------------------------------------
def test_blkio_weight_uses_bfq_when_cfq_is_absent(env):
    fake, drv = env
    drv.apply({"blockIO": {"weight": 300}})
    assert fake.read("blkio", CG, "blkio.bfq.weight") == "300"


def test_blkio_weight_prefers_blkio_weight(env):
    fake, drv = env
    fake.write("blkio", CG, "blkio.weight", "500")
    drv.apply({"blockIO": {"weight": 300}})
    assert fake.read("blkio", CG, "blkio.weight") == "300"
    assert fake.read("blkio", CG, "blkio.bfq.weight") == "100"


def test_blkio_weight_without_any_weight_file(tmp_path):
    _, drv = make(tmp_path, omit={"blkio.bfq.weight"})
    with pytest.raises(ConfigError, match=r"^linux\.resources\.blockIO\.weight: neither blkio\.weight nor "
                                          r"blkio\.bfq\.weight exists"):
        drv.apply({"blockIO": {"weight": 300}})


def test_blkio_zero_weights_mean_not_set(env):
    """dockerd sends blockIO.weight 0 for every container; runc writes nothing for a 0 weight."""
    fake, drv = env
    drv.apply({"blockIO": {"weight": 0, "leafWeight": 0,
                           "weightDevice": [{"major": 8, "minor": 0, "weight": 0, "leafWeight": 0}]}})
    assert fake.read("blkio", CG, "blkio.bfq.weight") == "100"
    assert fake.read("blkio", CG, "blkio.bfq.weight_device") == ""


def test_blkio_devices(env):
    fake, drv = env
    drv.apply({"blockIO": {"weightDevice": [{"major": 8, "minor": 0, "weight": 200}],
                           "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1048576}],
                           "throttleWriteIOPSDevice": [{"major": 8, "minor": 16, "rate": 100}]}})
    assert fake.read("blkio", CG, "blkio.bfq.weight_device") == "8:0 200"
    assert fake.read("blkio", CG, "blkio.throttle.read_bps_device") == "8:0 1048576"
    assert fake.read("blkio", CG, "blkio.throttle.write_iops_device") == "8:16 100"


def test_blkio_leaf_weight_needs_cfq(env):
    with pytest.raises(ConfigError, match=r"^linux\.resources\.blockIO\.leafWeight: blkio\.leaf_weight does not exist"):
        env[1].apply({"blockIO": {"leafWeight": 10}})


def test_blkio_device_needs_numbers(env):
    with pytest.raises(ConfigError, match=r"^linux\.resources\.blockIO\.throttleReadBpsDevice\[0\]\.rate: None"):
        env[1].apply({"blockIO": {"throttleReadBpsDevice": [{"major": 8, "minor": 0}]}})


# -- devices --------------------------------------------------------------------
def test_device_rules_translate_like_runc():
    rules = [
        {"allow": False, "access": "rwm"},                                    # deny all: reset
        {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rw"},
        {"allow": True, "type": "c", "major": 136, "access": "rwm"},          # any minor
        {"allow": True, "type": "b", "major": -1, "minor": -1, "access": "m"},
        {"allow": False, "type": "a", "major": 5, "access": "w"},             # partial "a": c and b
        {"allow": True, "type": "a"},                                         # allow all: reset
    ]
    assert rule_lines(rules) == [
        ("devices.deny", "a"),
        ("devices.allow", "c 1:3 rw"),
        ("devices.allow", "c 136:* rwm"),
        ("devices.allow", "b *:* m"),
        ("devices.deny", "c 5:* w"), ("devices.deny", "b 5:* w"),
        ("devices.allow", "a"),
    ]


@pytest.mark.parametrize("rule, message", [
    ({"access": "rwm"}, r"\[0\]\.allow: must be true or false"),
    ({"allow": True, "type": "p"}, r"\[0\]\.type: 'p' is not one of a, b, c"),
    ({"allow": True, "access": "rx"}, r"\[0\]\.access: 'rx' is not a combination"),
    ({"allow": True, "access": "rr"}, r"\[0\]\.access"),
    ({"allow": True, "type": "c", "major": "1"}, r"\[0\]\.major: '1' is not a device number"),
])
def test_bad_device_rules(env, rule, message):
    with pytest.raises(ConfigError, match=r"^linux\.resources\.devices" + message):
        env[1].apply({"devices": [rule]})


def test_device_rules_land_in_the_files(env):
    fake, drv = env
    drv.apply({"devices": [{"allow": False, "access": "rwm"},
                           {"allow": True, "type": "c", "major": 1, "minor": 5, "access": "rwm"}]})
    assert fake.read("devices", CG, "devices.deny") == "a"
    assert fake.read("devices", CG, "devices.allow") == "c 1:5 rwm"


# -- controllers this host does not mount, and v2-only fields -------------------
@pytest.mark.parametrize("resources, field", [
    ({"hugepageLimits": [{"pageSize": "2MB", "limit": 1 << 21}]}, r"linux\.resources\.hugepageLimits\[0\]"),
    ({"network": {"classID": 7}}, r"linux\.resources\.network\.classID"),
    ({"network": {"priorities": [{"name": "eth0", "priority": 1}]}}, r"linux\.resources\.network\.priorities\[0\]"),
    ({"rdma": {"mlx5_0": {"hcaHandles": 3}}}, r"linux\.resources\.rdma\.mlx5_0"),
])
def test_unmounted_controller_is_refused(env, resources, field):
    with pytest.raises(ConfigError, match=f"^{field}: the .* cgroup controller is not mounted"):
        env[1].apply(resources)


def test_hugetlb_and_net_cls_when_mounted(tmp_path):
    fake, drv = make(tmp_path, hierarchies=("hugetlb", "net_cls,net_prio"))
    drv.apply({"hugepageLimits": [{"pageSize": "2MB", "limit": 1 << 22}],
               "network": {"classID": 0x100001, "priorities": [{"name": "lo", "priority": 5}]}})
    assert fake.read("hugetlb", CG, "hugetlb.2MB.limit_in_bytes") == str(1 << 22)
    assert fake.read("net_cls,net_prio", CG, "net_cls.classid") == str(0x100001)
    assert fake.read("net_cls,net_prio", CG, "net_prio.ifpriomap") == "lo 5"


def test_unknown_hugepage_size(tmp_path):
    _, drv = make(tmp_path, hierarchies=("hugetlb",))
    with pytest.raises(ConfigError, match=r"^linux\.resources\.hugepageLimits\[0\]: hugetlb\.1GB\.limit_in_bytes "
                                          r"does not exist"):
        drv.apply({"hugepageLimits": [{"pageSize": "1GB", "limit": 1 << 30}]})


def test_unified_is_v2_only(env):
    with pytest.raises(ConfigError, match=r"^linux\.resources\.unified\.memory\.high: needs cgroup v2"):
        env[1].apply({"unified": {"memory.high": "1G"}})


def test_unknown_section_is_refused(env):
    with pytest.raises(ConfigError, match=r"^linux\.resources\.frobnicate: not supported by the cgroup_v1 driver"):
        env[1].apply({"frobnicate": {"x": 1}})


def test_empty_and_missing_resources_write_nothing(env):
    fake, drv = env
    drv.apply({})
    drv.apply(None)
    drv.apply({"memory": {}, "devices": [], "unified": {}, "hugepageLimits": []})
    assert fake.read("memory", CG, "memory.limit_in_bytes") == UNLIMITED
    assert fake.read("devices", CG, "devices.allow") == ""


def test_memory_and_swap_keep_memsw_above_limit_after_every_write(env):
    """The kernel rejects any single write leaving memsw < limit; the fake checks that rule after each write."""
    from pycr.plugins.cgroup_v1 import files

    fake, drv = env
    real_write = files.write
    seen = []

    def value(name):
        v = int(fake.read("memory", CG, name))
        return float("inf") if v == -1 else v

    def kernel_checked_write(path, val):
        real_write(path, val)
        if "/memory/" in path:
            seen.append((path.rsplit("/", 1)[1], val))
            assert value("memory.memsw.limit_in_bytes") >= value("memory.limit_in_bytes"), seen

    files.write = kernel_checked_write
    try:
        fake.write("memory", CG, "memory.limit_in_bytes", 64 << 20)
        fake.write("memory", CG, "memory.memsw.limit_in_bytes", 64 << 20)
        for limit, swap in ((128 << 20, 256 << 20), (32 << 20, 48 << 20), (16 << 20, 16 << 20),
                            (-1, -1), (8 << 20, 8 << 20)):
            drv.apply({"memory": {"limit": limit, "swap": swap}})
            assert (int(fake.read("memory", CG, "memory.limit_in_bytes")),
                    int(fake.read("memory", CG, "memory.memsw.limit_in_bytes"))) == (limit, swap)
        assert len(seen) == 10
    finally:
        files.write = real_write
