"""What a researcher relies on, proven with real runs (tiny matrices): a
third-party rootfs strategy runs and records what ran, `-p no:NAME` reaches
the cells, failing pre-runs and all-skipped studies are loud, and Ctrl-C
keeps the samples measured so far."""

import glob
import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from pycr.core.testing.dists import write_dist

pytestmark = pytest.mark.root

PYCR = os.path.join(os.path.dirname(sys.executable), "pycr")

LAB = '''
import os

from pycr.core import hookimpl
from pycr.plugins.rootfs_overlay import OverlayRootfs


class LabFs(OverlayRootfs):
    """overlay, plus a stamp proving this driver prepared the rootfs"""
    name = "labfs"

    def prepare(self, image, container_dir, stack, **kw):
        with open(os.environ["STAMP_FILE"], "a") as f:
            f.write("labfs\\n")
        return super().prepare(image, container_dir, stack, **kw)


@hookimpl
def pycr_container_created(state):
    with open(os.environ["HOOK_STAMP"], "a") as f:
        f.write(state["id"] + "\\n")


def strategies():
    return [{"name": "lab-fs", "runtime": "pycr-image", "rootfs": "labfs", "description": "overlay with a stamp"}]
'''


@pytest.fixture
def lab_env(tmp_path):
    site = tmp_path / "site"
    write_dist(str(site), "lab-fs", version="2.5",
               entry_points={"pycr.bench_strategy": {"lab": "lab_fs:strategies"},
                             "pycr.rootfs": {"labfs": "lab_fs:LabFs"}, "pycr.plugins": {"labhook": "lab_fs"}},
               modules={"lab_fs.py": LAB})
    return {**os.environ, "PYTHONPATH": str(site), "PYCR_CACHE_DIR": str(tmp_path / "cache"),
            "STAMP_FILE": str(tmp_path / "stamp"), "HOOK_STAMP": str(tmp_path / "hook-stamp")}


def _bench(args, env=None, timeout=300):
    return subprocess.run([PYCR, *args], capture_output=True, text=True, timeout=timeout, env=env)


def test_third_party_rootfs_strategy_runs_and_records_what_ran(tmp_path, lab_env):
    out = tmp_path / "out"
    matrix = tmp_path / "m.toml"
    matrix.write_text('seed = 5\n')
    proc = _bench(["-p", "no:labhook", "bench", "--matrix", str(matrix), "--repeat", "2", "--warmup", "0",
                   "-s", "lab-fs", "-s", "pycr-v1-pivot", "-s", "pycr-v1-chroot", "-w", "true", "--no-plots",
                   "--output", str(out)], env=lab_env)
    assert proc.returncode == 0, proc.stderr
    data = json.loads((out / "results.json").read_text())
    lab = [s for s in data["samples"] if s["strategy"] == "lab-fs"]
    assert len(lab) == 2 and all(s["rootfs"] == "labfs" for s in lab)
    assert all(s["drivers"]["rootfs"] == {"name": "labfs", "class": "lab_fs.LabFs", "distribution": "lab-fs 2.5",
                                          "no_pivot": False} for s in lab)
    assert (tmp_path / "stamp").read_text().split() == ["labfs"] * 3  # pre-run + 2 measured: it really ran
    # the strategy's fields resolved, what its pre-run loaded, the matrix file, per-sample timestamps
    st = data["strategies"]["lab-fs"]
    assert st["fields"]["rootfs"] == "labfs" and st["fields"]["runtime"] == "pycr-image"
    loaded = st["loaded"]
    assert loaded["drivers"]["rootfs"]["distribution"] == "lab-fs 2.5"
    assert loaded["plugins"]["namespaces"].startswith("pycr ") and "labhook" not in loaded["plugins"]
    assert loaded["disabled"] == ["labhook"]
    assert data["strategies"]["pycr-v1-chroot"]["loaded"]["plugins"]["bench:plain_chroot"].startswith("pycr ")
    assert data["matrix"]["file"] == "seed = 5\n" and data["matrix"]["pycr_globals"] == ["-p", "no:labhook"]
    m = data["machine"]
    assert m["kernel"] and m["pycr"] and m["date"] and m["date_end"] and "loadavg_end" in m
    assert all(s["time"].endswith("Z") and s["time"][:4].isdigit() for s in data["samples"])
    # -p no:labhook reached every pycr cell: the hook plugin never ran
    assert not (tmp_path / "hook-stamp").exists()
    # phases: the rootfs strategy's prepare and teardown are traced; `plugins` is measured for every strategy
    for s in lab:
        assert s["phases"]["rootfs-prepare"] > 0 and s["phases"]["rootfs-teardown"] > 0
    assert all(s["phases"]["plugins"] > 1.0 for s in data["samples"])


def test_hook_plugin_runs_in_cells_when_not_disabled(tmp_path, lab_env):
    """The control of the test above: without -p no:labhook the hook plugin runs in the cell."""
    proc = _bench(["bench", "--repeat", "1", "--warmup", "0", "-s", "pycr-v1-pivot", "-w", "true", "--no-plots",
                   "--output", str(tmp_path / "out")], env=lab_env)
    assert proc.returncode == 0, proc.stderr
    assert len((tmp_path / "hook-stamp").read_text().split()) == 2  # pre-run + 1 measured
    data = json.loads((tmp_path / "out" / "results.json").read_text())
    assert data["strategies"]["pycr-v1-pivot"]["loaded"]["plugins"]["labhook"] == "lab-fs 2.5"


def test_documented_wrong_field_fails_loudly(tmp_path):
    matrix = tmp_path / "m.toml"
    matrix.write_text('[[strategy]]\nname = "lab-fs"\nglobal_args = ["--rootfs", "labfs"]\n')
    proc = _bench(["bench", "--matrix", str(matrix), "-s", "lab-fs", "--output", str(tmp_path / "out")])
    assert proc.returncode != 0
    assert proc.stderr.strip() == (f"{matrix}: strategy 'lab-fs': global_args may not set --rootfs; "
                                   'use runtime = "pycr-image" and rootfs = NAME')
    assert not (tmp_path / "out").exists()


def test_failing_prerun_names_its_error_and_all_skipped_exits_nonzero(tmp_path):
    matrix = tmp_path / "m.toml"
    matrix.write_text('[[workload]]\nname = "loud"\nargs = ["/bin/sh", "-c", "echo disk on fire >&2; exit 3"]\n'
                      '[[workload]]\nname = "mute"\nargs = ["/bin/false"]\n'
                      '[[strategy]]\nname = "ghost"\nruntime = "no-such-runtime-here"\n')
    out = tmp_path / "out"
    proc = _bench(["bench", "--matrix", str(matrix), "-s", "pycr-v1-pivot", "-s", "ghost", "-w", "loud",
                   "--output", str(out)])
    assert proc.returncode == 1
    data = json.loads((out / "results.json").read_text())
    assert data["skipped"] == {"pycr-v1-pivot": "pre-run of workload 'loud' failed with exit 3: disk on fire",
                               "ghost": "no-such-runtime-here not found on PATH"}
    assert "no strategy could run here" in proc.stderr
    proc = _bench(["bench", "--matrix", str(matrix), "-s", "pycr-v1-pivot", "-w", "mute", "--output", str(out)])
    assert proc.returncode == 1
    assert json.loads((out / "results.json").read_text())["skipped"]["pycr-v1-pivot"] == \
        "pre-run of workload 'mute' failed with exit 1: exited with status 1, nothing printed on stdout or stderr"


def _sigint_at_default():
    """A suite started as a background job of a script has SIGINT ignored, and Python then
    keeps it ignored: this test interrupts the bench as a terminal user would."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_interrupt_keeps_partial_results(tmp_path):
    out = tmp_path / "out"
    proc = subprocess.Popen([PYCR, "bench", "--repeat", "40", "--warmup", "0", "-s", "pycr-v1-pivot", "-w", "true",
                             "--no-plots", "--output", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, preexec_fn=_sigint_at_default)
    jsonl = out / "samples.jsonl"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None:
        if jsonl.exists() and len(jsonl.read_text().splitlines()) >= 2:
            break
        time.sleep(0.2)
    work = f"/var/tmp/pycr-bench-{proc.pid}-*"  # named by the bench's pid: another bench's is not ours
    running = glob.glob(work)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert len(running) == 1, running  # the work dir was there, under that name, while it ran
    data = json.loads((out / "results.json").read_text())
    assert data["interrupted"] is True and 2 <= len(data["samples"]) < 40
    assert len(jsonl.read_text().splitlines()) == len(data["samples"])
    assert "interrupted" in err and f"{len(data['samples'])} measured samples kept" in err
    assert "INTERRUPTED" in (out / "summary.txt").read_text()
    assert glob.glob(work) == []  # its work dir and running container are gone


def test_launcher_reports_a_plugin_error_in_one_line(tmp_path):
    """The launcher builds the cell's plugin manager itself: its errors are one line, as the shells print them."""
    proc = subprocess.run([sys.executable, "-m", "pycr.plugins.bench.launch", "--", "-p", "no:bench", "--root",
                           str(tmp_path), "run", "--bundle", str(tmp_path), "c1"], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode != 0
    assert re.fullmatch(r"plugin 'probe' from pycr \S+ requires plugin 'bench', which is disabled \(-p no:bench\)",
                        proc.stderr.strip()), proc.stderr
