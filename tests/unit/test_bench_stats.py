"""Statistics of pycr bench: medians, bootstrap CIs, ranking warnings."""

import random

import pytest

from pycr.plugins.bench import stats


def test_quantile_interpolates():
    xs = [1.0, 2.0, 3.0, 4.0]
    assert stats.quantile(xs, 0) == 1.0
    assert stats.quantile(xs, 1) == 4.0
    assert stats.quantile(xs, 0.5) == 2.5
    with pytest.raises(ValueError):
        stats.quantile([], 0.5)


def test_bootstrap_ci_brackets_median_and_narrows_with_n():
    rng = random.Random(1)
    small = [rng.gauss(100, 10) for _ in range(10)]
    big = [rng.gauss(100, 10) for _ in range(400)]
    lo_s, hi_s = stats.bootstrap_ci(small, seed=3)
    lo_b, hi_b = stats.bootstrap_ci(big, seed=3)
    assert lo_s <= stats.median(small) <= hi_s
    assert lo_b <= 100 <= hi_b
    assert hi_b - lo_b < (hi_s - lo_s) / 2
    assert stats.bootstrap_ci(small, seed=3) == (lo_s, hi_s)  # seeded: reproducible


def test_describe_fields():
    d = stats.describe([10, 12, 11, 13, 50])
    assert d["n"] == 5 and d["median"] == 12 and d["min"] == 10 and d["max"] == 50
    assert d["ci_low"] <= 12 <= d["ci_high"]
    assert d["q1"] == 11 and d["q3"] == 13


def test_rank_separated_groups_orders_without_warning():
    rng = random.Random(2)
    groups = {"slow": [rng.gauss(200, 5) for _ in range(30)], "fast": [rng.gauss(50, 5) for _ in range(30)]}
    order, warnings = stats.rank(groups)
    assert order == ["fast", "slow"]
    assert warnings == []


def test_rank_warns_when_groups_cannot_be_told_apart():
    rng = random.Random(3)
    groups = {"a": [rng.gauss(100, 30) for _ in range(6)], "b": [rng.gauss(102, 30) for _ in range(6)]}
    _, warnings = stats.rank(groups)
    assert any(w.startswith("cannot rank") and "contains 0" in w for w in warnings)


def test_rank_warns_on_wide_spread():
    groups = {"noisy": [10, 100, 20, 300, 15, 250], "tight": [1000, 1001, 1002, 1000, 1001, 1003]}
    _, warnings = stats.rank(groups)
    assert any(w.startswith("noisy: spread too wide") for w in warnings)
    assert not any(w.startswith("tight:") for w in warnings)
