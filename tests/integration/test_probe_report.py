"""What `pycr probe` reports besides verdicts, on the real kernel: a refused
limit does not stop the other probes, descriptions carry this run's values,
ids are the same in the JSON and the table, run metadata, a summary and an
exit status for CI, and strategies from a matrix file."""

import json
import os
import subprocess
import sys

import pytest

from pycr.plugins.bench.machine import cgroup_layout
from pycr.plugins.bench.strategies import registry
from pycr.plugins.probe import runner
from pycr.plugins.probe.script import PROBES

pytestmark = pytest.mark.root

PYCR = os.path.join(os.path.dirname(sys.executable), "pycr")


def test_refused_limit_does_not_stop_the_other_probes():
    meta = {}
    res = runner.run([registry()["pycr-v2-pivot"]], meta=meta)["pycr-v2-pivot"]
    others = [p for p in PROBES if p != "memory_limit"]
    assert all(res[p]["verdict"] in ("contained", "escaped", "n/a") for p in others), res
    if cgroup_layout() == "hybrid":  # cgroup v1 owns the memory controller: the v2 limit is refused
        assert res["memory_limit"]["verdict"] == "error"
        assert res["memory_limit"]["detail"].startswith("the memory limit was refused: ")
        assert "other probes ran without it" in res["memory_limit"]["detail"]
    else:
        assert res["memory_limit"]["verdict"] == "contained"
    assert meta["memory_limit_mib"] == 64 and meta["raw_device_target"] in meta["probes"]["raw_device"]


def test_json_table_summary_metadata_and_exit_status(tmp_path):
    matrix = tmp_path / "m.toml"
    matrix.write_text('strategies = ["pycr-v1-hardened", "lab-nonet"]\n'
                      '[[strategy]]\nname = "lab-nonet"\nbase = "pycr-v1-hardened"\ndrop_namespaces = ["network"]\n')
    js = subprocess.run([PYCR, "probe", "--matrix", str(matrix), "--json", "--fail-on-escape"],
                        capture_output=True, text=True, timeout=180)
    assert js.returncode == 1, js.stderr  # lab-nonet reaches the host's listener
    data = json.loads(js.stdout)
    assert list(data["results"]) == ["pycr-v1-hardened", "lab-nonet"]  # from the matrix file, its own strategy too
    assert data["results"]["lab-nonet"]["host_network"]["verdict"] == "escaped"
    assert data["summary"]["escaped"] == ["lab-nonet/host_network"] and data["summary"]["strategies"] == 2
    assert sum(data["summary"]["counts"].values()) == 2 * len(PROBES)
    descriptions = json.dumps(data["probes"])
    assert "MEM_ALLOC" not in descriptions and "{" not in "".join(data["probes"].values())
    assert "192M" in data["probes"]["memory_limit"] and "64 MiB" in data["probes"]["memory_limit"]
    target = data["run"]["raw_device_target"]
    assert target in data["probes"]["raw_device"]
    from pycr.plugins.probe.host import disk_readable_on_host, host_disk

    disk = host_disk()  # the wording says what is probed: the host's disk where the host can read it
    if disk_readable_on_host(disk, str(tmp_path)):
        assert target == f"the host's root disk {disk[0]}:{disk[1]}"
    else:
        assert target.startswith("the probe's own loop device ") and "cannot read its own disk" in target
    run = data["run"]
    assert run["machine"]["kernel"] and run["machine"]["pycr"] and run["machine"]["date"] and run["date_end"]
    assert run["matrix"] == str(matrix) and run["strategies"]["lab-nonet"]["namespaces"].count("network") == 0

    table = subprocess.run([PYCR, "probe", "-s", "pycr-v1-hardened", "--fail-on-escape"], capture_output=True,
                           text=True, timeout=120)
    assert table.returncode == 0, table.stderr
    header = table.stdout.splitlines()[0].split()
    assert header == list(data["probes"]) == list(PROBES)  # the same ids in the table and the JSON
    assert f"summary: 1 strategies x {len(PROBES)} probes: " in table.stdout
    assert "raw_device target: " in table.stdout and "kernel " in table.stdout


def test_fail_on_escape_exits_2_when_a_probe_could_not_run(tmp_path):
    matrix = tmp_path / "m.toml"
    matrix.write_text('[[strategy]]\nname = "lab-v2-hardened"\nbase = "pycr-v1-hardened"\nbackend = "cgroup_v2"\n')
    proc = subprocess.run([PYCR, "probe", "--matrix", str(matrix), "-s", "lab-v2-hardened", "--fail-on-escape"],
                          capture_output=True, text=True, timeout=120)
    if cgroup_layout() == "hybrid":  # the v2 memory limit is refused: an error, not an escape
        assert proc.returncode == 2, proc.stdout + proc.stderr
        assert "errors: lab-v2-hardened/memory_limit" in proc.stdout and "escaped:" not in proc.stdout
    else:
        assert proc.returncode == 0, proc.stdout + proc.stderr
