"""pycr bench for real, on a tiny matrix (--repeat 2): every file written,
every sample carries its strategy, workload, phases and the machine's facts,
and nothing is left behind."""

import csv
import glob
import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.root


def _own_memory_cgroup():
    with open("/proc/self/cgroup") as f:
        for line in f:
            _, ctrls, path = line.strip().split(":", 2)
            if "memory" in ctrls.split(","):
                return "/sys/fs/cgroup/memory" + path
    return None


def test_bench_tiny_matrix(tmp_path):
    out = tmp_path / "out"
    matrix = tmp_path / "m.toml"
    matrix.write_text('seed = 3\n[[strategy]]\nname = "pycr-nouts"\nbase = "pycr-v1-pivot"\n'
                      'drop_namespaces = ["uts"]\n')
    pycr = os.path.join(os.path.dirname(sys.executable), "pycr")
    own = _own_memory_cgroup()
    # other software on the machine may run pycr containers under the same cgroup: count only ours
    cgroups_before = _pycr_cgroups(own)
    with subprocess.Popen([pycr, "bench", "--matrix", str(matrix), "--repeat", "2", "--warmup", "1",
                           "-s", "pycr-v1-pivot", "-s", "pycr-nouts", "-s", "pycr-img-overlay", "-s", "runc", "-s", "crun",
                           "-w", "true", "-w", "fork", "--output", str(out)],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr
    data = json.loads((out / "results.json").read_text())
    assert data["machine"]["cpus"] and data["machine"]["kernel"] and data["machine"]["cgroup_layout"]
    assert data["matrix"]["warmup_runs_discarded"] > 0
    ran = {s for s in ("pycr-v1-pivot", "pycr-nouts", "pycr-img-overlay", "runc", "crun") if s not in data["skipped"]}
    assert {"pycr-v1-pivot", "pycr-nouts", "pycr-img-overlay"} <= ran
    for name, why in data["skipped"].items():  # a runtime that cannot run here says why
        assert why
    samples = data["samples"]
    assert len(samples) == len(ran) * 2 * 2
    assert all(s["ok"] and s["wall_ms"] > 0 for s in samples)
    pycr_samples = [s for s in samples if s["runtime"] in ("pycr", "pycr-image")]
    assert {s["rootfs"] for s in pycr_samples} == {"bundle", "overlay"}
    assert all(set(s["phases"]) >= {"validate", "cgroup", "namespaces", "rootfs"} for s in pycr_samples)
    nouts = [s for s in samples if s["strategy"] == "pycr-nouts"]
    assert nouts and all("uts" not in s["namespaces"] for s in nouts)
    with open(out / "results.csv") as f:
        assert len(list(csv.DictReader(f))) == len(samples)
    assert {r["workload"] for r in data["summary"]} == {"true", "fork"}
    assert (out / "plot_true.png").read_bytes()[:4] == b"\x89PNG"
    assert "workload true" in stdout
    # clean: no work dir, no container state, no cgroups left under our own (the work dir is named
    # by the bench's pid: another bench on the machine is not ours to count)
    work = f"/var/tmp/pycr-bench-{proc.pid}-"
    assert glob.glob(work + "*") == []
    with open("/proc/self/mountinfo") as f:
        assert work not in f.read()
    assert _pycr_cgroups(own) <= cgroups_before


def _pycr_cgroups(own: str | None) -> set[str]:
    if not own or not os.path.isdir(own):
        return set()
    return {d for d in os.listdir(own) if d.startswith("pycr-")}


def test_plugin_strategy_runs_with_its_plugin(tmp_path):
    """The pycr plugin a strategy names is loaded into its runs (and only those)."""
    from tests.unit.test_bench_plugin import PLUGIN

    from pycr.core.testing.dists import write_dist

    site = tmp_path / "site"
    write_dist(str(site), "lab-strategies", entry_points={"pycr.bench_strategy": {"lab": "lab_strategies:strategies"}},
               modules={"lab_strategies.py": PLUGIN})
    stamp = tmp_path / "stamp"
    env = {**os.environ, "PYTHONPATH": str(site), "PYCR_CACHE_DIR": str(tmp_path / "cache"), "STAMP_FILE": str(stamp)}
    pycr = os.path.join(os.path.dirname(sys.executable), "pycr")
    out = tmp_path / "out"
    proc = subprocess.run([pycr, "bench", "--repeat", "2", "--warmup", "0", "-s", "lab-stamped", "-s", "pycr-v1-pivot",
                           "-w", "true", "--no-plots", "--output", str(out)], capture_output=True, text=True,
                          timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr
    data = json.loads((out / "results.json").read_text())
    lab = [s for s in data["samples"] if s["strategy"] == "lab-stamped"]
    assert len(lab) == 2 and all("ipc" not in s["namespaces"] for s in lab)
    assert all("bench:stamp" in s["plugins"] for s in lab)
    assert not any("bench:stamp" in s["plugins"] for s in data["samples"] if s["strategy"] == "pycr-v1-pivot")
    assert len(stamp.read_text().split()) == 3  # preflight + 2 measured runs, none from the other strategy
