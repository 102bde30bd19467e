"""Runs last (directory name sorts last): nothing pycr made may survive the suite."""

import os
import subprocess

from tests.conftest import ID_PREFIX


def test_no_container_processes_left():
    out = subprocess.run(["ps", "-eo", "pid=,comm=,args="], capture_output=True, text=True).stdout
    left = [line for line in out.splitlines() if "pycr:[" in line]
    assert not left, f"pycr processes left: {left}"


def test_no_mounts_left():
    with open("/proc/self/mountinfo") as f:
        left = [line for line in f if ID_PREFIX in line or "/pycr-tests-" in line or "bundle-" in line]
    assert not left, f"mounts left: {left}"


def test_no_cgroups_left():
    left = []
    for dirpath, dirnames, _ in os.walk("/sys/fs/cgroup"):
        left += [os.path.join(dirpath, d) for d in dirnames if "pycr" in d]
        if dirpath.count("/") > 10:
            dirnames[:] = []
    assert not left, f"cgroups left: {left}"


def test_no_state_left(state_root):
    from pycr.core.runtime.state import Container

    assert Container.ids(state_root) == []
