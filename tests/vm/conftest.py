"""Session fixture: boot the pure cgroup v2 guest ONCE and run the guest suite in it.

The guest suite (``guest_*.py``, never collected on the host) runs with this
checkout's interpreter inside the guest; its exit status, stdout and stderr
come back through :mod:`harness`.  Boot and run times are printed in the
terminal summary so CI logs show what the VM costs.
"""

from __future__ import annotations

import os
import shlex
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
GUEST_SUITE = ["tests/vm/guest_cgroup_v2.py"]
GUEST_TIMEOUT = float(os.environ.get("PYCR_VM_TIMEOUT", "900"))

_timings: list[str] = []


@pytest.fixture(scope="session")
def guest_run(tmp_path_factory):
    """The guest suite's GuestResult, or the VMError that kept it from running."""
    sys.path.insert(0, HERE)
    try:
        import harness
    finally:
        sys.path.remove(HERE)
    argv = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rA", "--tb=short", "--color=no", "--durations=8",
            "-o", "console_output_style=classic", *GUEST_SUITE,
            *shlex.split(os.environ.get("PYCR_VM_PYTEST_ARGS", ""))]  # e.g. "-k io -x" while developing
    try:
        result = harness.run_in_guest(harness.guest_command(argv, REPO), str(tmp_path_factory.mktemp("vm")),
                                      timeout=GUEST_TIMEOUT)
    except harness.VMError as e:
        return e
    _timings.append(f"pycr VM: guest booted in {result.boot_seconds:.1f}s (guest uptime at command start), "
                    f"whole guest run {result.wall_seconds:.1f}s, exit {result.status}")
    return result


def pytest_terminal_summary(terminalreporter):
    for line in _timings:
        terminalreporter.write_line(line)
