"""pycr bench results on disk: JSON, CSV, summary, plots and `pycr bench report`."""

import csv
import json
import random

import pytest

from pycr.plugins.bench import report


def _result(n=8):
    rng = random.Random(5)
    samples = []
    i = 0
    for strategy, base in (("fast", 50.0), ("slow", 150.0)):
        for workload in ("true", "fork"):
            for _ in range(n):
                samples.append({"index": i, "strategy": strategy, "runtime": "pycr", "backend": "cgroup_v1",
                                "root_switch": "pivot_root", "namespaces": "pid+mount", "workload": workload,
                                "wall_ms": rng.gauss(base, 2), "user_ms": 1.0, "sys_ms": 1.0, "maxrss_kib": 1,
                                "exit": 0, "ok": True, "error": "",
                                "phases": {"validate": 1.0 + i % 3, "rootfs": 2.0}})
                i += 1
    samples.append({**samples[0], "index": i, "ok": False, "exit": 1, "error": "boom"})
    return {"machine": {"cpu": "test", "cpus": 2, "kernel": "k", "cgroup_layout": "hybrid"},
            "matrix": {"repeat": n, "warmup": 1, "seed": 1}, "skipped": {"crun": "exit 1: nope"},
            "samples": samples}


def test_write_and_reload(tmp_path):
    res = _result()
    report.write(str(tmp_path), res)
    data = report.load(str(tmp_path))
    assert len(data["samples"]) == 33
    top = [r for r in data["summary"] if r["workload"] == "true" and r["rank"] == 1][0]
    assert top["strategy"] == "fast" and top["n"] == 8 and top["ci_low"] <= top["median"] <= top["ci_high"]
    assert top["cpu_median"] == 2.0
    assert any("fast/true: some runs failed (boom)" in w for w in data["warnings"])
    assert data["phase_medians"]["fast"]["rootfs"] == 2.0
    with open(tmp_path / "results.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 33 and "phase_validate_ms" in rows[0] and rows[0]["strategy"] == "fast"
    summary = (tmp_path / "summary.txt").read_text()
    assert "skipped crun: exit 1: nope" in summary and "workload fork" in summary


def test_plots_are_png(tmp_path):
    pytest.importorskip("matplotlib")
    res = _result()
    report.write(str(tmp_path), res)
    paths = report.plot(str(tmp_path))
    assert sorted(p.rsplit("/", 1)[1] for p in paths) == ["plot_fork.png", "plot_true.png"]
    for p in paths:
        with open(p, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_cli_report_redraws(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    from pycr.core.cli.main import main

    report.write(str(tmp_path), _result())
    (tmp_path / "plot_true.png").unlink(missing_ok=True)
    assert main(["bench", "report", str(tmp_path)]) == 0
    assert (tmp_path / "plot_true.png").exists()
    assert "workload true" in capsys.readouterr().out


def test_cli_report_missing_dir_is_one_line(tmp_path, capsys):
    from pycr.core.cli.main import main

    assert main(["bench", "report", str(tmp_path / "none")]) != 0
    err = capsys.readouterr().err.strip()
    assert "results.json" in err and "\n" not in err


def test_json_is_plain(tmp_path):
    report.write(str(tmp_path), _result(3))
    json.loads((tmp_path / "results.json").read_text())
