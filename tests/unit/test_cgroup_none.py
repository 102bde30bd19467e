"""The ``none`` driver: creates nothing, refuses every requested limit by name, tracks only its one pid."""

from __future__ import annotations

import json
import subprocess
import time

import pytest

from pycr.core import ConfigError, PycrError
from pycr.core.testing.fake_cgroupfs import FakeCgroupfs
from pycr.plugins.cgroup_none import NoCgroup


@pytest.fixture
def proc():
    p = subprocess.Popen(["sleep", "30"])
    yield p
    p.kill()
    p.wait()


def test_creates_nothing(tmp_path):
    fake = FakeCgroupfs(tmp_path)
    drv = fake.driver(NoCgroup, "c1", "box")
    drv.create()
    drv.add_pid(1)
    drv.destroy()
    assert fake.cgroups() == []
    assert drv.mounts("/sys/fs/cgroup") == []
    assert drv.stats() == {}
    assert NoCgroup.available("/nonexistent")


@pytest.mark.parametrize("resources, field", [
    ({"memory": {"limit": 1 << 26}}, "linux.resources.memory.limit"),
    ({"memory": {"limit": None, "swap": 1 << 26}}, "linux.resources.memory.swap"),
    ({"cpu": {"cpus": "0"}}, "linux.resources.cpu.cpus"),
    ({"pids": {"limit": 0}}, "linux.resources.pids.limit"),
    ({"devices": [{"allow": False, "access": "rwm"}]}, "linux.resources.devices"),
    ({"unified": {"memory.high": "1G"}}, "linux.resources.unified.memory.high"),
    ({"blockIO": {"weightDevice": [{"major": 8, "minor": 0, "weight": 10}]}}, "linux.resources.blockIO.weightDevice"),
])
def test_every_requested_limit_is_refused_by_name(resources, field):
    with pytest.raises(ConfigError) as info:
        NoCgroup("c1").apply(resources)
    assert str(info.value).startswith(f"{field}: the 'none' cgroup driver cannot enforce")
    assert "\n" not in str(info.value)


def test_empty_resources_are_fine():
    drv = NoCgroup("c1")
    for empty in (None, {}, {"memory": {}, "devices": [], "cpu": {"shares": None}, "memory.x": False}):
        drv.apply(empty)


def test_pids_tracks_the_added_process_while_it_lives(proc):
    drv = NoCgroup("c1")
    assert drv.pids() == []
    drv.add_pid(proc.pid)
    assert drv.pids() == [proc.pid]
    proc.kill()
    deadline = time.monotonic() + 5
    while drv.pids() and time.monotonic() < deadline:   # a zombie no longer counts
        time.sleep(0.01)
    assert drv.pids() == []


def test_recycled_pid_is_not_mistaken_for_the_container(proc):
    drv = NoCgroup("c1")
    drv.add_pid(proc.pid)
    state = drv.to_state()
    state["start_time"] = "1"   # as if the pid now belonged to a process started at another time
    assert NoCgroup.from_state(state).pids() == []


def test_kill_all_and_state_round_trip(proc):
    drv = NoCgroup("c1")
    drv.add_pid(proc.pid)
    again = NoCgroup.from_state(json.loads(json.dumps(drv.to_state())))
    assert again.to_state()["driver"] == "none"
    again.kill_all(15)
    assert proc.wait(timeout=5) == -15


def test_pause_is_refused():
    drv = NoCgroup("c1")
    with pytest.raises(PycrError, match="container c1: the 'none' cgroup driver cannot pause"):
        drv.freeze()
    with pytest.raises(PycrError, match="cannot resume"):
        drv.thaw()
    assert drv.is_frozen() is False


def test_entry_point():
    from importlib.metadata import entry_points

    assert entry_points(group="pycr.cgroup")["none"].load() is NoCgroup
