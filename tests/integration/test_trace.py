"""--trace / --trace-file: phases, hook calls and per-plugin implementation
times from a real container run; nothing installed when tracing is off."""

import json
import os
import subprocess
import sys

import pytest

from pycr.core import tracing
from pycr.core.testing.bundle import make_bundle
from tests.conftest import new_id

PYCR_OCI = os.path.join(os.path.dirname(sys.executable), "pycr-oci")


def test_tracing_off_is_a_shared_noop():
    assert not tracing.enabled()
    assert tracing.phase("a") is tracing.phase("b")  # one shared nullcontext, nothing allocated


def test_manager_untouched_without_trace():
    import pluggy

    from pycr.core.cli.common import GlobalOptions
    from pycr.core.plugins import PluginManager

    pm = PluginManager()
    assert pm.pm._inner_hookexec is pluggy._callers._multicall  # no monitoring installed
    before = pm.pm._inner_hookexec
    with tracing.session(GlobalOptions(), "x"):  # neither --trace nor --trace-file
        pm.hook.pycr_rootfs_switch(config={"linux": {"namespaces": [{"type": "mount"}]}}, no_pivot=False, container_id=new_id("x"))
    assert pm.pm._inner_hookexec is before
    assert not any(getattr(i.function, "_pycr_traced", False) for i in pm.hook.pycr_rootfs_switch.get_hookimpls())


def test_session_records_impls_in_process(tmp_path):
    from pycr.core.cli.common import GlobalOptions
    from pycr.core.plugins import PluginManager

    pm = PluginManager()
    tracing.attach(pm.pm)
    tracing.attach(pm.pm)  # idempotent
    opts = GlobalOptions(trace_file=str(tmp_path / "t.json"))
    with tracing.session(opts, "unit"):
        with tracing.phase("outer"):
            pm.hook.pycr_rootfs_switch(config={"linux": {"namespaces": [{"type": "mount"}]}}, no_pivot=True, container_id=new_id("x"))
    data = json.loads((tmp_path / "t.json").read_text())
    kinds = [(r["kind"], r["name"], r["depth"]) for r in data["records"]]
    assert kinds[0] == ("command", "unit", 0)
    assert ("phase", "outer", 1) in kinds and ("hook", "pycr_rootfs_switch", 2) in kinds
    impl = [r for r in data["records"] if r["kind"] == "impl"]
    assert [r["plugin"] for r in impl] == ["rootfs_mounts"] and impl[0]["depth"] == 3
    assert "rootfs_mounts" in data["plugins"] and "outer" in data["phases"]
    # after the session the wrappers stay but record nothing
    pm.hook.pycr_rootfs_switch(config={"linux": {"namespaces": []}}, no_pivot=False, container_id=new_id("x"))
    assert not tracing.enabled()


@pytest.mark.root
def test_trace_of_a_real_run(tmp_path):
    bundle = make_bundle(str(tmp_path / "b"), ["true"])
    trace = tmp_path / "trace.json"
    proc = subprocess.run([PYCR_OCI, "--root", str(tmp_path / "state"), "--trace", "--trace-file", str(trace),
                           "run", "--bundle", bundle, new_id("trace")], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(trace.read_text())
    assert data["command"] == "pycr-oci run"
    assert data["startup_cpu_ms"] > 0
    assert list(data["phases"]) == ["validate", "plugins", "driver", "cgroup", "plan", "fork", "namespaces",
                                    "rootfs", "hooks", "switch", "start", "wait", "delete"]
    assert all(v > 0 for v in data["phases"].values())
    plugins = {r["plugin"] for r in data["records"] if r["kind"] == "impl"}
    assert {"namespaces", "rootfs_mounts", "process", "cgroups"} <= plugins
    command = data["records"][0]
    for r in data["records"][1:]:  # every record lies inside the command
        assert r["start_ms"] >= 0 and r["start_ms"] + r["duration_ms"] <= command["duration_ms"] + 0.01
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("trace ")]
    assert any(ln.split()[-2:] == ["pycr_rootfs_plan", "[rootfs_mounts]"] for ln in lines)
    assert any(" phase " in ln and ln.endswith("namespaces") for ln in lines)


@pytest.mark.root
def test_trace_file_alone_and_bench_launcher_plugins(tmp_path):
    """--trace-file without --trace still times hooks (and prints nothing);
    a plugin the bench launcher registers late is timed too."""
    bundle = make_bundle(str(tmp_path / "b"), ["true"])
    trace = tmp_path / "trace.json"
    proc = subprocess.run([sys.executable, "-m", "pycr.plugins.bench.launch",
                           "--plugin", "pycr.plugins.bench.strategies:plain_chroot", "--",
                           "--root", str(tmp_path / "state"), "--trace-file", str(trace),
                           "run", "--bundle", bundle, new_id("trace")], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "trace " not in proc.stderr
    data = json.loads(trace.read_text())
    switch = [r for r in data["records"] if r["kind"] == "impl" and r["name"] == "pycr_rootfs_switch"]
    assert [r["plugin"] for r in switch] == ["bench:plain_chroot"]  # tryfirst + firstresult
