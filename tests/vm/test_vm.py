"""Host side of the real-kernel tests: boot the guest, run the cgroup v2 suite, judge its result.

A guest that does not boot fails these tests (never a skip): the harness
explains why with the tail of the guest's serial console.
"""

from __future__ import annotations

import re

import pytest

pytestmark = [pytest.mark.root, pytest.mark.vm]

#: Guest tests that must have PASSED (not skipped): one per feature the issue asks to prove.
REQUIRED = [
    "test_guest_is_pure_cgroup_v2",
    "test_memory_max_ends_a_100mib_allocation_with_an_oom_kill",
    "test_pids_max_holds_a_fork_loop",
    "test_cpu_max_at_half_a_cpu_throttles",
    "test_cpuset_pins_to_cpu_0",
    "test_io_max_slows_reads_from_a_loop_device",
    "test_freeze_stops_cpu_use_and_thaw_resumes",
    "test_device_allow_list_blocks_dev_null_writes",
    "test_kill_all_uses_cgroup_kill_and_destroy_removes_the_cgroup",
    "test_caller_cgroup_with_processes_gets_a_clear_error",
    "TestCgroupV2Conformance::test_pids",
    "TestCgroupV2Conformance::test_limits_read_back",
    "TestCgroupV2Conformance::test_freeze_thaw",
    "TestCgroupV2Conformance::test_kill_all",
    "TestCgroupV2Conformance::test_destroy_leaves_nothing",
    "TestCgroupV2Conformance::test_state_round_trip",
    "test_pycr_oci_run_with_cgroup_v2_backend_oom_kills",
    "test_pycr_backend_cgroup_v2_pids_pause_resume_update_delete",
    "test_weight_and_unified_keys_reach_the_kernel",
    "test_pycr_run_image_with_cgroup_v2_memory_limit_is_oom_killed",
]


def _result(guest_run):
    if isinstance(guest_run, Exception):
        pytest.fail(f"the cgroup v2 guest did not run: {guest_run}", pytrace=False)
    return guest_run


def _outcomes(stdout: str) -> dict[str, str]:
    """``-rA`` summary lines: test id (after the file name) -> PASSED/FAILED/SKIPPED/ERROR."""
    out = {}
    for m in re.finditer(r"^(PASSED|FAILED|ERROR|SKIPPED|XFAIL|XPASS) \S*?\.py::(\S+)", stdout, re.M):
        out[m.group(2)] = m.group(1)
    return out


def test_guest_suite_passes(guest_run):
    r = _result(guest_run)
    failed = [f"{v} {k}" for k, v in _outcomes(r.stdout).items() if v in ("FAILED", "ERROR")]
    assert r.status == 0, (f"guest pytest exited {r.status}; failing: {failed}\n--- guest stdout (tail) ---\n"
                           f"{r.stdout[-6000:]}\n--- guest stderr (tail) ---\n{r.stderr[-2000:]}")


@pytest.mark.parametrize("name", REQUIRED)
def test_guest_proved(guest_run, name):
    r = _result(guest_run)
    outcome = _outcomes(r.stdout).get(name, "not run")
    assert outcome == "PASSED", f"{name}: {outcome}\n--- guest stdout (tail) ---\n{r.stdout[-3000:]}"


def test_guest_boot_is_fast_enough(guest_run):
    r = _result(guest_run)
    assert r.boot_seconds is not None and r.boot_seconds < 60, r.boot_seconds
