"""`pycr bench compare A B`: two result sets, the same statistics as one run."""

import copy
import json
import re

from tests.unit.test_bench_report import _result

from pycr.plugins.bench import compare, report


def _pair():
    a = _result()
    b = copy.deepcopy(a)
    for s in b["samples"]:
        if s["strategy"] == "slow":  # B's "slow" got twice as slow in wall and CPU time
            s["wall_ms"] *= 2
            s["user_ms"] *= 2
    b["samples"].append({**b["samples"][0], "strategy": "newcomer"})
    b["machine"]["kernel"] = "k2"
    return a, b


def test_compare_detects_a_change_and_no_change():
    a, b = _pair()
    c = compare.compare(a, b)
    rows = {(r["strategy"], r["workload"]): r for r in c["rows"]}
    slow = rows[("slow", "true")]["wall"]
    assert slow["verdict"] == "B slower" and 1.9 < slow["ratio_low"] <= slow["ratio"] <= slow["ratio_high"] < 2.1
    assert slow["diff_low"] > 0
    assert rows[("slow", "true")]["cpu"]["verdict"] == "B slower"
    fast = rows[("fast", "true")]["wall"]
    assert fast["verdict"] == "no difference detected" and fast["diff_low"] <= 0 <= fast["diff_high"]
    assert fast["ratio"] == 1.0
    assert c["only_b"] == ["newcomer/true"] and c["only_a"] == []
    assert c["machine_differs"] == {"kernel": ("k", "k2")}


def test_cli_compare_prints_both_metrics_and_machine_warnings(tmp_path, capsys):
    from pycr.core.cli.main import main

    a, b = _pair()
    report.write(str(tmp_path / "a"), a)
    report.write(str(tmp_path / "b"), b)
    assert main(["bench", "compare", str(tmp_path / "a"), str(tmp_path / "b" / "results.json")]) == 0
    out = capsys.readouterr().out
    assert "! machine differs: kernel: A 'k', B 'k2'" in out
    assert re.search(r"slow/true \(n 8 vs 8\)\n  wall .* B/A 2\.00 \[1\.9\d, 2\.0\d\]  B slower", out)
    assert re.search(r"\n  cpu +2\.00 -> +3\.00  B/A 1\.50 \[1\.50, 1\.50\]  B slower", out)
    assert re.search(r"fast/fork .*\n  wall .* no difference detected", out)
    assert "only in B: newcomer/true" in out


def test_cli_compare_bad_input_is_one_line(tmp_path, capsys):
    from pycr.core.cli.main import main

    report.write(str(tmp_path / "a"), _result())
    (tmp_path / "x.json").write_text(json.dumps({"hello": 1}))
    assert main(["bench", "compare", str(tmp_path / "a")]) != 0
    assert "needs two results" in capsys.readouterr().err
    assert main(["bench", "compare", str(tmp_path / "a"), str(tmp_path / "x.json")]) != 0
    err = capsys.readouterr().err.strip()
    assert "x.json: not a pycr bench results file" in err and "\n" not in err
