"""``pycr bench compare A B``: two result sets side by side with the same
statistics as one run -- per (workload, strategy) present in both, the
median of each, the bootstrap CI of their difference and of their ratio, for
wall and CPU time -- and a warning for every machine fact that differs, since
a change of kernel or load explains a difference as well as a change of code."""

from __future__ import annotations

from pycr.plugins.bench import stats

MACHINE_KEYS = ("kernel", "cpu", "cpus", "mem_total_mib", "python", "pycr", "cgroup_layout", "runc", "crun")


def _groups(result: dict) -> dict[tuple[str, str], dict[str, list[float]]]:
    out: dict = {}
    for s in result["samples"]:
        if s["ok"]:
            g = out.setdefault((s["workload"], s["strategy"]), {"wall": [], "cpu": []})
            g["wall"].append(s["wall_ms"])
            g["cpu"].append(s["user_ms"] + s["sys_ms"])
    return out


def compare(a: dict, b: dict, seed: int = 0) -> dict:
    """Rows per common cell, cells only in one, and machine differences."""
    ga, gb = _groups(a), _groups(b)
    rows = []
    for cell in [c for c in ga if c in gb]:
        row = {"workload": cell[0], "strategy": cell[1], "n_a": len(ga[cell]["wall"]), "n_b": len(gb[cell]["wall"])}
        for metric in ("wall", "cpu"):
            xa, xb = ga[cell][metric], gb[cell][metric]
            lo, hi = stats.diff_ci(xb, xa, seed=seed)
            ratio, r_lo, r_hi = stats.ratio_ci(xb, xa, seed=seed)
            verdict = "no difference detected" if lo <= 0 <= hi else ("B slower" if lo > 0 else "B faster")
            row[metric] = {"a": round(stats.median(xa), 3), "b": round(stats.median(xb), 3),
                           "diff_low": round(lo, 3), "diff_high": round(hi, 3), "ratio": round(ratio, 3),
                           "ratio_low": round(r_lo, 3), "ratio_high": round(r_hi, 3), "verdict": verdict}
        rows.append(row)
    ma, mb = a.get("machine", {}), b.get("machine", {})
    differs = {k: (ma.get(k), mb.get(k)) for k in MACHINE_KEYS if ma.get(k) != mb.get(k)}
    return {"rows": rows, "only_a": sorted(f"{s}/{w}" for w, s in ga.keys() - gb.keys()),
            "only_b": sorted(f"{s}/{w}" for w, s in gb.keys() - ga.keys()), "machine_differs": differs,
            "load": tuple((m.get("loadavg_start"), m.get("loadavg_end")) for m in (ma, mb))}


def format_comparison(a: dict, b: dict, names=("A", "B")) -> str:
    c = compare(a, b)
    lines = [f"A = {names[0]}", f"B = {names[1]}",
             f"load A {c['load'][0][0]} -> {c['load'][0][1]}, B {c['load'][1][0]} -> {c['load'][1][1]}"]
    for k, (va, vb) in c["machine_differs"].items():
        lines.append(f"  ! machine differs: {k}: A {va!r}, B {vb!r}")
    lines.append("")
    lines.append("median ms A -> B, B/A ratio [95% CI], verdict (95% CI of the difference B-A)")
    for r in c["rows"]:
        lines.append(f"{r['strategy']}/{r['workload']} (n {r['n_a']} vs {r['n_b']})")
        for metric in ("wall", "cpu"):
            m = r[metric]
            lines.append(f"  {metric:<4} {m['a']:9.2f} -> {m['b']:9.2f}  B/A {m['ratio']:.2f} "
                         f"[{m['ratio_low']:.2f}, {m['ratio_high']:.2f}]  {m['verdict']} "
                         f"[{m['diff_low']:+.2f}, {m['diff_high']:+.2f}]")
    for side in ("only_a", "only_b"):
        if c[side]:
            lines.append(f"only in {side[-1].upper()}: {', '.join(c[side])}")
    if not c["rows"]:
        lines.append("no (workload, strategy) cell is in both result sets")
    return "\n".join(lines) + "\n"
