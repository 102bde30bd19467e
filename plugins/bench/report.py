"""Results on disk (``results.json`` is the source of truth, ``results.csv``
the same samples flat for spreadsheets and R), the statistical summary, and
the plots.  matplotlib is imported only when drawing (optional dependency
``pycr[bench]``)."""

from __future__ import annotations

import csv
import json
import os

from pycr.core import PycrError
from pycr.plugins.bench import stats

CSV_FIELDS = ["index", "strategy", "workload", "runtime", "backend", "root_switch", "namespaces", "rootfs",
              "wall_ms", "user_ms", "sys_ms", "maxrss_kib", "exit", "ok", "error"]


def summarize(samples: list[dict], seed: int = 0) -> tuple[list[dict], list[str]]:
    """One row per (workload, strategy) with median and CI; ranking warnings."""
    rows, warnings = [], []
    failed = {}
    for s in samples:
        if not s["ok"]:
            failed.setdefault((s["workload"], s["strategy"]), s.get("error", ""))
    for (w, st), err in sorted(failed.items()):
        warnings.append(f"{st}/{w}: some runs failed ({err or 'non-zero exit'}); they are excluded")
    workloads = list(dict.fromkeys(s["workload"] for s in samples))
    for w in workloads:
        groups: dict[str, list[float]] = {}
        for s in samples:
            if s["workload"] == w and s["ok"]:
                groups.setdefault(s["strategy"], []).append(s["wall_ms"])
        if not groups:
            continue
        order, warn = stats.rank(groups, seed=seed)
        warnings += [f"{w}: {m}" for m in warn]
        for pos, st in enumerate(order, 1):
            d = stats.describe(groups[st], seed=seed)
            # CPU time of the runtime's process tree: less inflated than wall time on a loaded machine
            cpu = [s["user_ms"] + s["sys_ms"] for s in samples if s["workload"] == w and s["strategy"] == st and s["ok"]]
            rows.append({"workload": w, "strategy": st, "rank": pos, **{k: round(v, 3) if isinstance(v, float) else v
                                                                        for k, v in d.items()},
                         "cpu_median": round(stats.median(cpu), 3)})
    return rows, warnings


def phase_medians(samples: list[dict]) -> dict[str, dict[str, float]]:
    """Median of each traced phase per strategy (pycr strategies only)."""
    acc: dict[str, dict[str, list[float]]] = {}
    for s in samples:
        for name, ms in (s.get("phases") or {}).items():
            acc.setdefault(s["strategy"], {}).setdefault(name, []).append(ms)
    return {st: {k: round(stats.median(v), 3) for k, v in ph.items()} for st, ph in acc.items()}


def write(outdir: str, result: dict) -> None:
    """results.json, results.csv and summary.txt in ``outdir``."""
    os.makedirs(outdir, exist_ok=True)
    samples = result["samples"]
    result["summary"], result["warnings"] = summarize(samples)
    result["phase_medians"] = phase_medians(samples)
    with open(os.path.join(outdir, "results.json"), "w") as f:
        json.dump(result, f, indent=1)
    phases = sorted({k for s in samples for k in (s.get("phases") or {})})
    with open(os.path.join(outdir, "results.csv"), "w", newline="") as f:
        out = csv.writer(f)
        out.writerow(CSV_FIELDS + [f"phase_{p}_ms" for p in phases])
        for s in samples:
            out.writerow([s.get(k, "") for k in CSV_FIELDS] + [(s.get("phases") or {}).get(p, "") for p in phases])
    with open(os.path.join(outdir, "summary.txt"), "w") as f:
        f.write(format_summary(result))


def load(outdir: str) -> dict:
    path = os.path.join(outdir, "results.json")
    try:
        with open(path) as f:
            return json.load(f)
    except OSError as e:
        raise PycrError(f"{path}: {e.strerror} (run `pycr bench --output {outdir}` first)") from None
    except ValueError as e:
        raise PycrError(f"{path}: not valid JSON: {e}") from None


def format_summary(result: dict) -> str:
    m = result["machine"]
    lines = [f"machine: {m.get('cpu')} x{m.get('cpus')}, kernel {m.get('kernel')}, cgroups {m.get('cgroup_layout')}, "
             f"load {m.get('loadavg_start', '?')} -> {m.get('loadavg_end', '?')}",
             f"matrix: repeat {result['matrix']['repeat']}, warm-up {result['matrix']['warmup']} (discarded), "
             f"seed {result['matrix']['seed']}", ""]
    for name, why in result.get("skipped", {}).items():
        lines.append(f"skipped {name}: {why}")
    current = None
    for r in result["summary"]:
        if r["workload"] != current:
            current = r["workload"]
            lines += ["", f"workload {current}: wall time (ms), median [95% CI], IQR/median, n, median CPU ms"]
        lines.append(f"  {r['rank']:>2}. {r['strategy']:<18} {r['median']:9.2f} [{r['ci_low']:8.2f}, "
                     f"{r['ci_high']:8.2f}]  {r['rel_iqr']:5.0%}  n={r['n']:<3} cpu {r.get('cpu_median', 0):8.2f}")
    if result.get("phase_medians"):
        lines += ["", "pycr phase medians (ms):"]
        for st, ph in result["phase_medians"].items():
            lines.append(f"  {st:<18} " + "  ".join(f"{k} {v:.1f}" for k, v in ph.items()))
    if result.get("warnings"):
        lines += ["", "warnings:"] + [f"  ! {w}" for w in result["warnings"]]
    return "\n".join(lines) + "\n"


def plot(outdir: str, result: dict | None = None) -> list[str]:
    """One PNG per workload: every sample (jittered), median and its CI per strategy."""
    try:
        import matplotlib
    except ImportError:
        raise PycrError("plots need matplotlib: pip install 'pycr[bench]'") from None
    matplotlib.use("Agg")
    import random

    import matplotlib.pyplot as plt

    result = result or load(outdir)
    rows = result.get("summary") or summarize(result["samples"])[0]
    written = []
    rng = random.Random(0)
    for w in dict.fromkeys(r["workload"] for r in rows):
        cells = [r for r in rows if r["workload"] == w]
        fig, ax = plt.subplots(figsize=(7, 0.45 * len(cells) + 1.4), dpi=90)
        for y, r in enumerate(cells):
            xs = [s["wall_ms"] for s in result["samples"]
                  if s["workload"] == w and s["strategy"] == r["strategy"] and s["ok"]]
            ax.scatter(xs, [y + rng.uniform(-0.15, 0.15) for _ in xs], s=8, alpha=0.45, color="tab:blue")
            ax.errorbar([r["median"]], [y], xerr=[[r["median"] - r["ci_low"]], [r["ci_high"] - r["median"]]],
                        fmt="D", color="tab:red", capsize=4, markersize=5)
        ax.set_yticks(range(len(cells)), [r["strategy"] for r in cells])
        ax.invert_yaxis()
        ax.set_xlabel("wall time per container run (ms); red: median and 95% bootstrap CI")
        ax.set_title(f"workload {w}", fontsize=10)
        ax.grid(axis="x", alpha=0.3)
        fig.tight_layout()
        path = os.path.join(outdir, f"plot_{w}.png")
        fig.savefig(path)
        plt.close(fig)
        written.append(path)
    return written
