"""A third-party bench strategy, installed as a distribution with an entry
point in group ``pycr.bench_strategy`` -- the path docs/research.md describes."""

import pytest

from pycr.plugins.bench import matrix, strategies
from pycr.core.errors import ConfigError
from pycr.core.testing.dists import write_dist

PLUGIN = '''
from pycr.core import hookimpl


class Stamp:
    """A pycr plugin loaded only into this strategy's runs."""

    @hookimpl
    def pycr_container_created(self, state):
        import os

        with open(os.environ["STAMP_FILE"], "a") as f:
            f.write(state["id"] + "\\n")


stamp = Stamp()


def strategies():
    return [{"name": "lab-stamped", "plugins": ["lab_strategies:stamp"], "drop_namespaces": ["ipc"],
             "description": "full isolation, minus ipc, with a stamp plugin"}]
'''


@pytest.fixture
def lab_site(tmp_path, monkeypatch):
    site = tmp_path / "site"
    write_dist(str(site), "lab-strategies", entry_points={"pycr.bench_strategy": {"lab": "lab_strategies:strategies"}},
               modules={"lab_strategies.py": PLUGIN})
    monkeypatch.syspath_prepend(str(site))
    return site


def test_entry_point_strategy_is_registered(lab_site):
    reg = strategies.registry()
    s = reg["lab-stamped"]
    assert s.plugins == ("lab_strategies:stamp",) and s.drop_namespaces == ("ipc",)
    assert "pycr-v1-pivot" in reg  # the built-ins are still there
    m = matrix.load(strategies=["lab-stamped"], workloads=["true"])
    assert m.strategies == [s]
    argv = s.command("/r", "/b", "c")
    assert argv[argv.index("--plugin") + 1] == "lab_strategies:stamp"


def test_entry_point_clashing_with_builtin_is_loud(tmp_path, monkeypatch):
    site = tmp_path / "site2"
    write_dist(str(site), "clash", entry_points={"pycr.bench_strategy": {"x": "clash_mod:S"}},
               modules={"clash_mod.py": "S = {'name': 'runc', 'runtime': 'not-runc'}\n"})
    monkeypatch.syspath_prepend(str(site))
    with pytest.raises(ConfigError, match="'runc' is defined twice"):
        strategies.registry()


def test_broken_entry_point_names_itself(tmp_path, monkeypatch):
    site = tmp_path / "site3"
    write_dist(str(site), "broken", entry_points={"pycr.bench_strategy": {"bad": "broken_mod:nothing"}},
               modules={"broken_mod.py": "x = 1\n"})
    monkeypatch.syspath_prepend(str(site))
    with pytest.raises(ConfigError, match="bench strategy plugin 'bad' .* failed to load"):
        strategies.registry()
