"""Results on disk (``results.json`` is the source of truth, ``results.csv``
the same samples flat for spreadsheets and R), the statistical summary, and
the plots.  matplotlib is imported only when drawing (optional dependency
``pycr[bench]``)."""

from __future__ import annotations

import csv
import json
import os

from pycr.core import PycrError, read_json_object
from pycr.plugins.bench import stats

CSV_FIELDS = ["index", "strategy", "workload", "runtime", "backend", "root_switch", "namespaces", "rootfs",
              "wall_ms", "user_ms", "sys_ms", "maxrss_kib", "exit", "ok", "error"]


def summarize(samples: list[dict], seed: int = 0) -> tuple[list[dict], list[str]]:
    """One row per (workload, strategy): wall-time median and CI, CPU-time median
    and CI, the ratio to the fastest with its CI, whether it can be ranked
    against the next one; and the ranking warnings."""
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
        cpu: dict[str, list[float]] = {}
        for s in samples:
            if s["workload"] == w and s["ok"]:
                groups.setdefault(s["strategy"], []).append(s["wall_ms"])
                # CPU time of the runtime's process tree: less inflated than wall time on a loaded machine
                cpu.setdefault(s["strategy"], []).append(s["user_ms"] + s["sys_ms"])
        if not groups:
            continue
        ties: list[tuple[str, str]] = []
        order, warn = stats.rank(groups, seed=seed, ties=ties)
        warnings += [f"{w}: {m}" for m in warn]
        fastest = order[0]
        for pos, st in enumerate(order, 1):
            d = stats.describe(groups[st], seed=seed)
            c_lo, c_hi = stats.bootstrap_ci(cpu[st], seed=seed)
            ratio, r_lo, r_hi = stats.ratio_ci(groups[st], groups[fastest], seed=seed)
            row = {"workload": w, "strategy": st, "rank": pos,
                   **{k: round(v, 3) if isinstance(v, float) else v for k, v in d.items()},
                   "cpu_median": round(stats.median(cpu[st]), 3), "cpu_ci_low": round(c_lo, 3),
                   "cpu_ci_high": round(c_hi, 3), "vs": fastest, "ratio": round(ratio, 3),
                   "ratio_low": round(r_lo, 3), "ratio_high": round(r_hi, 3),
                   "cannot_rank_vs_next": any(a == st for a, _ in ties)}
            rows.append(row)
    return rows, warnings


def ratio_text(r: dict) -> str:
    """hyperfine-style: ``3.21 ± 0.30 times slower than X [95% CI 2.90, 3.50]``."""
    half = (r["ratio_high"] - r["ratio_low"]) / 2
    return (f"{r['ratio']:.2f} ± {half:.2f} times slower than {r['vs']} "
            f"[95% CI {r['ratio_low']:.2f}, {r['ratio_high']:.2f}]")


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
    """``results.json`` of a results directory (or that file itself)."""
    path = outdir if os.path.isfile(outdir) else os.path.join(outdir, "results.json")
    data = read_json_object(path, path, PycrError, hint=f" (run `pycr bench --output {outdir}` first)")
    if not isinstance(data.get("samples"), list):
        raise PycrError(f"{path}: not a pycr bench results file (no 'samples' list)")
    return data


def format_summary(result: dict) -> str:
    m = result["machine"]
    lines = [f"machine: {m.get('cpu')} x{m.get('cpus')}, kernel {m.get('kernel')}, cgroups {m.get('cgroup_layout')}, "
             f"load {m.get('loadavg_start', '?')} -> {m.get('loadavg_end', '?')}",
             f"matrix: repeat {result['matrix']['repeat']}, warm-up {result['matrix']['warmup']} (discarded), "
             f"seed {result['matrix']['seed']}", ""]
    if result.get("interrupted"):
        lines.append("INTERRUPTED: the summary covers the samples measured before the stop")
    for name, why in result.get("skipped", {}).items():
        lines.append(f"skipped {name}: {why}")
    current = None
    for r in result["summary"]:
        if r["workload"] != current:
            current = r["workload"]
            lines += ["", f"workload {current}: wall time (ms), median [95% CI], IQR/median, n; "
                          f"CPU time (ms), median [95% CI]"]
        lines.append(f"  {r['rank']:>2}. {r['strategy']:<18} {r['median']:9.2f} [{r['ci_low']:8.2f}, "
                     f"{r['ci_high']:8.2f}]  {r['rel_iqr']:5.0%}  n={r['n']:<3} cpu {r.get('cpu_median', 0):8.2f} "
                     f"[{r.get('cpu_ci_low', 0):8.2f}, {r.get('cpu_ci_high', 0):8.2f}]")
        if r.get("rank", 1) > 1 and "ratio" in r:
            lines.append(f"      {ratio_text(r)}")
    if result.get("phase_medians"):
        lines += ["", "pycr phase medians (ms):"]
        for st, ph in result["phase_medians"].items():
            lines.append(f"  {st:<18} " + "  ".join(f"{k} {v:.1f}" for k, v in ph.items()))
    if result.get("warnings"):
        lines += ["", "warnings:"] + [f"  ! {w}" for w in result["warnings"]]
    return "\n".join(lines) + "\n"


def plot_title(result: dict, workload: str, cells: list[dict]) -> str:
    """What a reader needs to judge a plot: n, repeats, machine and load."""
    m, mx = result["machine"], result["matrix"]
    ns = sorted({r["n"] for r in cells})
    n = str(ns[0]) if len(ns) == 1 else f"{ns[0]}-{ns[-1]}"
    return (f"workload {workload}: n={n} per strategy (repeat {mx['repeat']}, warm-up {mx['warmup']} discarded)\n"
            f"{m.get('cpu')} x{m.get('cpus')}, kernel {m.get('kernel')}, "
            f"load {m.get('loadavg_start', '?')} -> {m.get('loadavg_end', '?')}"
            + ("  [INTERRUPTED]" if result.get("interrupted") else ""))


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise PycrError("plots need matplotlib: pip install 'pycr[bench]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def figure(result: dict, workload: str):
    """The figure of one workload: wall time and CPU time side by side, both axes
    from 0; every sample (jittered), median and its CI per strategy, the ratio
    to the fastest, unrankable neighbours marked, skipped strategies listed."""
    import random

    plt = _pyplot()
    rows = result.get("summary") or summarize(result["samples"])[0]
    cells = [r for r in rows if r["workload"] == workload]
    skipped = result.get("skipped") or {}
    rng = random.Random(0)
    fig, axes = plt.subplots(1, 2, figsize=(12, 0.5 * (len(cells) + len(skipped)) + 2.0), dpi=90, sharey=True)
    for ax, (metric, lo, hi, label) in zip(axes, (("median", "ci_low", "ci_high", "wall time"),
                                                  ("cpu_median", "cpu_ci_low", "cpu_ci_high", "CPU time (user+sys)"))):
        for y, r in enumerate(cells):
            xs = [(s["wall_ms"] if metric == "median" else s["user_ms"] + s["sys_ms"]) for s in result["samples"]
                  if s["workload"] == workload and s["strategy"] == r["strategy"] and s["ok"]]
            ax.scatter(xs, [y + rng.uniform(-0.15, 0.15) for _ in xs], s=8, alpha=0.45, color="tab:blue")
            if lo in r:
                med = r[metric]
                ax.errorbar([med], [y], xerr=[[med - r[lo]], [r[hi] - med]], fmt="D", color="tab:red",
                            capsize=4, markersize=5)
            if r.get("cannot_rank_vs_next") and metric == "median":
                ax.plot([0.99, 0.99], [y, y + 1], transform=ax.get_yaxis_transform(), color="tab:orange", lw=2)
                ax.text(0.98, y + 0.5, "cannot rank", transform=ax.get_yaxis_transform(), ha="right",
                        va="center", fontsize=7, color="tab:orange")
        for k, name in enumerate(skipped, len(cells)):
            if metric == "median":
                ax.text(0.01, k, f"skipped: {skipped[name]}"[:100], transform=ax.get_yaxis_transform(),
                        va="center", fontsize=7, color="gray")
        ax.set_xlim(left=0)  # every plot starts at 0: a 3x difference must look like 3x
        ax.set_xlabel(f"{label} per container run (ms); red: median and 95% bootstrap CI", fontsize=8)
        ax.grid(axis="x", alpha=0.3)
    labels = [r["strategy"] if r.get("rank", 1) == 1 or "ratio" not in r
              else f"{r['strategy']}\n{r['ratio']:.2f} ± {(r['ratio_high'] - r['ratio_low']) / 2:.2f}x {r['vs']}"
              for r in cells] + [f"{name} (skipped)" for name in skipped]
    axes[0].set_yticks(range(len(labels)), labels, fontsize=8)
    axes[0].set_ylim(len(labels) - 0.5, -0.5)
    fig.suptitle(plot_title(result, workload, cells), fontsize=9)
    fig.tight_layout()
    return fig


def plot(outdir: str, result: dict | None = None) -> list[str]:
    """One PNG per workload (see :func:`figure`)."""
    plt = _pyplot()
    result = result or load(outdir)
    rows = result.get("summary") or summarize(result["samples"])[0]
    written = []
    for w in dict.fromkeys(r["workload"] for r in rows):
        fig = figure(result, w)
        path = os.path.join(outdir, f"plot_{w}.png")
        fig.savefig(path)
        plt.close(fig)
        written.append(path)
    return written
