"""cgroup v2 conversions from OCI linux.resources (pure functions, no cgroupfs)."""

import pytest

from pycr.core import ConfigError
from pycr.plugins.cgroup_v2 import writers
from pycr.plugins.cgroup_v2.writers import Write


def files(resources):
    return [(w.filename, w.value) for w in writers.plan(resources)]


@pytest.mark.parametrize("shares, weight", [(2, 1), (1024, 39), (262144, 10000), (512, 20)])
def test_shares_to_weight_matches_runc_and_crun(shares, weight):
    assert writers.shares_to_weight(shares) == weight


def test_blkio_weight_conversion_bounds():
    assert writers.blkio_weight_to_io_weight(10) == 1
    assert writers.blkio_weight_to_io_weight(1000) == 10000
    assert writers.blkio_weight_to_io_weight(500) == 1 + (490 * 9999) // 990


def test_memory_limit_reservation_and_swap_is_swap_minus_limit():
    got = files({"memory": {"limit": 64 << 20, "reservation": 32 << 20, "swap": 96 << 20}})
    assert got == [("memory.max", str(64 << 20)), ("memory.low", str(32 << 20)), ("memory.swap.max", str(32 << 20))]


def test_memory_unlimited_means_max_for_memory_and_swap():
    assert files({"memory": {"limit": -1}}) == [("memory.max", "max"), ("memory.swap.max", "max")]
    assert files({"memory": {"limit": 1 << 20, "swap": -1}}) == [("memory.max", str(1 << 20)), ("memory.swap.max", "max")]


@pytest.mark.parametrize("mem, word", [
    ({"swap": 1 << 20}, "needs a memory limit"),
    ({"limit": 2 << 20, "swap": 1 << 20}, "below memory.limit"),
    ({"limit": 1 << 20, "kernel": 1 << 20}, "memory.kernel"),
    ({"swappiness": 10}, "memory.swappiness"),
    ({"disableOOMKiller": True}, "disableOOMKiller"),
])
def test_memory_refusals_name_the_field(mem, word):
    with pytest.raises(ConfigError, match=word):
        writers.plan({"memory": mem})


def test_cpu_weight_max_idle_burst_and_cpuset():
    got = files({"cpu": {"shares": 1024, "quota": 50000, "period": 100000, "idle": 1, "burst": 1000,
                         "cpus": "0", "mems": "0"}})
    assert got == [("cpu.weight", "39"), ("cpu.max", "50000 100000"), ("cpu.max.burst", "1000"),
                   ("cpu.idle", "1"), ("cpuset.cpus", "0"), ("cpuset.mems", "0")]


def test_cpu_unlimited_quota_keeps_the_period():
    assert files({"cpu": {"quota": -1, "period": 50000}}) == [("cpu.max", "max 50000")]
    assert files({"cpu": {"period": 20000}}) == [("cpu.max", "max 20000")]


def test_cpu_realtime_refused():
    with pytest.raises(ConfigError, match="cpu.realtimeRuntime"):
        writers.plan({"cpu": {"realtimeRuntime": 1000}})


def test_pids_limit_and_unlimited():
    assert files({"pids": {"limit": 20}}) == [("pids.max", "20")]
    assert files({"pids": {"limit": -1}}) == [("pids.max", "max")]
    assert files({"pids": {"limit": 0}}) == []


def test_io_weight_and_one_io_max_line_per_throttle_entry():
    got = files({"blockIO": {
        "weight": 1000,
        "weightDevice": [{"major": 8, "minor": 0, "weight": 10}],
        "throttleReadBpsDevice": [{"major": 7, "minor": 0, "rate": 1048576}],
        "throttleWriteIOPSDevice": [{"major": 7, "minor": 0, "rate": 100}, {"major": 8, "minor": 16, "rate": 0}],
    }})
    assert got == [("io.weight", "default 10000"), ("io.weight", "8:0 1"), ("io.max", "7:0 rbps=1048576"),
                   ("io.max", "7:0 wiops=100"), ("io.max", "8:16 wiops=max")]


def test_hugetlb_and_rdma():
    got = files({"hugepageLimits": [{"pageSize": "2MB", "limit": 4 << 20}],
                 "rdma": {"mlx5_0": {"hcaHandles": 3, "hcaObjects": 1000}}})
    assert got == [("hugetlb.2MB.max", str(4 << 20)), ("rdma.max", "mlx5_0 hca_handle=3 hca_object=1000")]


def test_unified_keys_map_to_their_controller():
    plan = writers.plan({"unified": {"memory.high": "50M", "cgroup.max.depth": "3", "io.bfq.weight": "50"}})
    assert plan[0] == Write("memory", "memory.high", "50M", "linux.resources.unified['memory.high']")
    assert [w.controller for w in plan] == ["memory", None, "io"]
    assert writers.controllers(plan) == ["memory", "io"]


@pytest.mark.parametrize("key", ["../memory.max", "memory/../../x", "a/b.c", ".hidden", "nodot", ""])
def test_unified_refuses_paths(key):
    with pytest.raises(ConfigError, match="linux.resources.unified"):
        writers.plan({"unified": {key: "1"}})


def test_network_classid_refused_on_v2():
    with pytest.raises(ConfigError, match="linux.resources.network"):
        writers.plan({"network": {"classID": 1}})
