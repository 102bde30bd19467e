"""Statistics a reviewer accepts for latency samples: medians (robust to the
long right tail of process start-up), percentile-bootstrap confidence
intervals, and a bootstrap test of the difference of two medians to say
whether two strategies can be ranked at all.  Pure Python, seeded."""

from __future__ import annotations

import random
import statistics


def median(xs) -> float:
    return statistics.median(xs)


def quantile(sorted_xs: list[float], q: float) -> float:
    """Linear-interpolated quantile of already sorted data."""
    if not sorted_xs:
        raise ValueError("no data")
    pos = (len(sorted_xs) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(sorted_xs) - 1)
    return sorted_xs[lo] + (sorted_xs[hi] - sorted_xs[lo]) * (pos - lo)


def bootstrap_ci(xs, level: float = 0.95, n_boot: int = 2000, seed: int = 0,
                 stat=statistics.median) -> tuple[float, float]:
    """Percentile bootstrap CI of ``stat`` (the median by default)."""
    xs = list(xs)
    if len(xs) < 2:
        return (xs[0], xs[0]) if xs else (float("nan"), float("nan"))
    rng = random.Random(seed)
    k = len(xs)
    boots = sorted(stat(rng.choices(xs, k=k)) for _ in range(n_boot))
    alpha = (1 - level) / 2
    return quantile(boots, alpha), quantile(boots, 1 - alpha)


def diff_ci(a, b, level: float = 0.95, n_boot: int = 2000, seed: int = 0) -> tuple[float, float]:
    """Bootstrap CI of median(a) - median(b), resampling each group independently."""
    a, b = list(a), list(b)
    rng = random.Random(seed)
    boots = sorted(statistics.median(rng.choices(a, k=len(a))) - statistics.median(rng.choices(b, k=len(b)))
                   for _ in range(n_boot))
    alpha = (1 - level) / 2
    return quantile(boots, alpha), quantile(boots, 1 - alpha)


def describe(xs, level: float = 0.95, seed: int = 0) -> dict:
    """n, median with its CI, quartiles, IQR/median, min, max, mean."""
    xs = sorted(xs)
    lo, hi = bootstrap_ci(xs, level, seed=seed)
    med = median(xs)
    q1, q3 = quantile(xs, 0.25), quantile(xs, 0.75)
    return {"n": len(xs), "median": med, "ci_low": lo, "ci_high": hi, "q1": q1, "q3": q3,
            "rel_iqr": (q3 - q1) / med if med else float("nan"),
            "min": xs[0], "max": xs[-1], "mean": statistics.fmean(xs)}


def rank(groups: dict[str, list[float]], level: float = 0.95, seed: int = 0,
         wide_spread: float = 0.5) -> tuple[list[str], list[str]]:
    """Order group names by median; warnings where neighbours cannot be told
    apart (the CI of their median difference contains 0) or a group's
    spread (IQR/median) exceeds ``wide_spread``."""
    order = sorted(groups, key=lambda k: median(groups[k]))
    warnings = []
    for a, b in zip(order, order[1:]):
        lo, hi = diff_ci(groups[b], groups[a], level, seed=seed)
        if lo <= 0 <= hi:
            warnings.append(f"cannot rank {a} vs {b}: the {level:.0%} CI of their median difference "
                            f"[{lo:+.2f}, {hi:+.2f}] contains 0 (need more repeats or a quieter machine)")
    for k in order:
        d = describe(groups[k], level, seed)
        if d["n"] >= 3 and d["rel_iqr"] > wide_spread:
            warnings.append(f"{k}: spread too wide to rank (IQR is {d['rel_iqr']:.0%} of the median)")
    return order, warnings
