"""``pycr plugins``: one row per hook plugin and driver, with where it comes from and its state."""

from __future__ import annotations

import json

import pytest

from pycr.core import plugins
from pycr.core.cli import verb_plugins
from pycr.core.cli.common import parse_globals
from pycr.core.testing.dists import write_dist


@pytest.fixture
def site(tmp_path, monkeypatch):
    d = tmp_path / "site"
    monkeypatch.syspath_prepend(str(d))
    monkeypatch.setenv("PYCR_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("PYCR_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    monkeypatch.setattr(plugins, "_MANAGER", None)
    yield str(d)
    plugins._MANAGER = None


def _rows(argv):
    opts, _ = parse_globals(argv + ["plugins"])
    return {r["name"]: r for r in verb_plugins.rows(opts)}


def test_builtins_listed_with_kind_and_distribution(site):
    rows = _rows([])
    assert rows["namespaces"] == {**rows["namespaces"], "kind": "hooks", "origin": "builtin",
                                   "status": "essential", "distribution": "pycr"}
    assert rows["cgroup_v2"]["kind"] == "cgroup driver" and rows["cgroup_v2"]["module"] == "pycr.plugins.cgroup_v2:CgroupV2"
    assert rows["overlay"]["kind"] == "rootfs driver" and rows["docker"]["kind"] == "image_source driver"
    assert all(r["version"] for r in rows.values())


def test_third_party_loaded_disabled_and_conflicting(site):
    write_dist(site, "pycr-x", "4.2", {"pycr.plugins": {"xhooks": "pycrtest_vp_x"}, "pycr.rootfs": {"dup": "a:B"}},
               {"pycrtest_vp_x.py": "from pycr.core import hookimpl\n"})
    write_dist(site, "pycr-y", "1.0", {"pycr.rootfs": {"dup": "b:B"}})
    rows = _rows([])
    assert (rows["xhooks"]["origin"], rows["xhooks"]["status"], rows["xhooks"]["version"]) == ("third-party", "loaded", "4.2")
    assert rows["dup"]["status"] == "conflict" and "pycr-x 4.2" in rows["dup"]["error"]
    plugins._MANAGER = None
    assert _rows(["-p", "no:xhooks"])["xhooks"]["status"] == "disabled (-p no:NAME)"


def test_json_output(site, capsys):
    opts, _ = parse_globals(["plugins"])
    parser = __import__("argparse").ArgumentParser()
    verb_plugins.add_arguments(parser)
    assert verb_plugins.run(opts, parser.parse_args(["--format", "json"])) == 0
    data = json.loads(capsys.readouterr().out)
    assert {"name", "kind", "origin", "status", "module", "distribution", "version"} <= set(data[0])


def test_still_lists_everything_when_plugins_cannot_load(site, capsys):
    for dist in ("pycr-one", "pycr-two"):
        write_dist(site, dist, "1.0", {"pycr.plugins": {"same": "pycrtest_vp_same"}})
    opts, _ = parse_globals(["plugins"])
    parser = __import__("argparse").ArgumentParser()
    verb_plugins.add_arguments(parser)
    assert verb_plugins.run(opts, parser.parse_args([])) == 1
    out, err = capsys.readouterr()
    assert "plugin name 'same' (entry-point group pycr.plugins) is claimed by" in err
    assert "pycr-one" in out and "pycr-two" in out and "namespaces" in out


def test_entries_of_groups_a_layer_defines_are_listed(site):
    """``pycr.bench_strategy`` is bench's group, not the core's: its entries still show, by group."""
    write_dist(site, "pycr-strats", "0.9", {"pycr.bench_strategy": {"mystrat": "pycrtest_vp_s:STRATEGY"}})
    rows = _rows([])
    assert rows["mystrat"] == {**rows["mystrat"], "kind": "bench_strategy entry", "origin": "third-party",
                               "status": "lazy", "distribution": "pycr-strats", "version": "0.9"}
