"""Matrix files, strategies and the randomized schedule of pycr bench."""

import collections
import json
import re
import sys

import pytest

from pycr.plugins.bench import matrix, strategies
from pycr.core.errors import ConfigError
from pycr.core.runtime.default_spec import default_config


def test_default_matrix_has_every_axis():
    m = matrix.load()
    facts = [s.facts() for s in m.strategies]
    assert {f["backend"] for f in facts} >= {"cgroup_v1", "cgroup_v2", "none"}
    assert {f["root_switch"] for f in facts} >= {"pivot_root", "move+chroot", "chroot"}
    assert {f["runtime"] for f in facts} >= {"pycr", "runc", "crun"}
    assert {w.name for w in m.workloads} == {"true", "fork", "fileio", "memory"}


def test_matrix_file_derives_strategies_and_workloads(tmp_path):
    f = tmp_path / "study.toml"
    f.write_text('repeat = 3\nwarmup = 1\nseed = 7\nstrategies = ["mine", "runc"]\nworkloads = ["sleep"]\n'
                 '[[strategy]]\nname = "mine"\nbase = "pycr-v1-pivot"\ndrop_namespaces = ["uts"]\n'
                 '[[workload]]\nname = "sleep"\nargs = ["/bin/sleep", "0"]\n')
    m = matrix.load(str(f))
    assert [s.name for s in m.strategies] == ["mine", "runc"]
    assert m.strategies[0].drop_namespaces == ("uts",)
    assert m.workloads[0].args == ("/bin/sleep", "0")
    assert (m.repeat, m.warmup, m.seed) == (3, 1, 7)
    # command-line overrides win over the file
    assert matrix.load(str(f), repeat=9).repeat == 9


def test_matrix_json_and_errors_name_the_file(tmp_path):
    f = tmp_path / "m.json"
    f.write_text(json.dumps({"strategies": ["nope"]}))
    with pytest.raises(ConfigError, match=r"m\.json: strategy 'nope' is not defined"):
        matrix.load(str(f))
    f.write_text(json.dumps({"repeats": 3}))
    with pytest.raises(ConfigError, match="unknown key 'repeats'"):
        matrix.load(str(f))
    with pytest.raises(ConfigError, match="missing.toml"):
        matrix.load(str(tmp_path / "missing.toml"))


def test_schedule_randomized_complete_and_reproducible():
    m = matrix.load(strategies=["pycr-v1-pivot", "runc", "pycr-none-pivot"], workloads=["true", "fork"],
                    repeat=4, warmup=2, seed=11)
    sched = m.schedule()
    assert len(sched) == 3 * 2 * (4 + 2)
    warm = [x for x in sched if x[1]]
    assert sched[:len(warm)] == warm  # all warm-ups come first
    counts = collections.Counter((s.name, w.name) for _, is_warm, s, w in sched if not is_warm)
    assert set(counts.values()) == {4} and len(counts) == 6
    order = [(s.name, w.name) for _, _, s, w in sched]
    assert order == [(s.name, w.name) for _, _, s, w in m.schedule()]
    m.seed = 12
    assert order != [(s.name, w.name) for _, _, s, w in m.schedule()]
    # not simply grouped by cell
    measured = order[len(warm):]
    assert measured != sorted(measured)


def test_adapt_config_per_strategy():
    reg = strategies.registry()
    base = default_config(["true"])
    nonet = reg["pycr-v1-nonet"].adapt_config(base, "x")
    assert "network" not in {n["type"] for n in nonet["linux"]["namespaces"]}
    assert "network" in {n["type"] for n in base["linux"]["namespaces"]}  # a copy
    none = reg["pycr-none-pivot"].adapt_config(base, "x")
    assert "resources" not in none["linux"]
    runc = reg["runc"].adapt_config(base, "x")
    assert not runc["linux"]["cgroupsPath"].startswith("/")  # nests under our own cgroup
    nouts = strategies.derive(reg["pycr-v1-pivot"], name="nouts", drop_namespaces=["uts"]).adapt_config(base, "x")
    assert "hostname" not in nouts and "hostname" in base
    with pytest.raises(ConfigError, match="mount namespace"):
        strategies.derive(reg["pycr-v1-pivot"], name="nomnt", drop_namespaces=["mount"]).adapt_config(base, "x")
    userns = reg["pycr-v1-userns"].adapt_config(base, "x")
    assert "user" in {n["type"] for n in userns["linux"]["namespaces"]} and userns["linux"]["uidMappings"]


def test_commands():
    reg = strategies.registry()
    argv = reg["pycr-v1-nopivot"].command("/r", "/b", "c1", "/t.json")
    assert argv[:4] == [sys.executable, "-P", "-m", "pycr.plugins.bench.launch"]
    assert argv[-4:] == ["--bundle", "/b", "--no-pivot", "c1"]
    assert argv[argv.index("--trace-file") + 1] == "/t.json"
    chroot = reg["pycr-v1-chroot"].command("/r", "/b", "c1")
    assert chroot[chroot.index("--plugin") + 1] == "pycr.plugins.bench.strategies:plain_chroot"
    from pycr.plugins.bench.workloads import BUILTIN

    mem = [w for w in BUILTIN if w.name == "memory"][0]
    img = reg["pycr-img-chroot"].command("/r", "", "c1", "/t.json", workload=mem, image="img:1")
    # every pycr strategy goes through the launcher, image strategies with the pycr shell
    assert img[:4] == [sys.executable, "-P", "-m", "pycr.plugins.bench.launch"]
    assert img[img.index("--shell") + 1] == "pycr" and argv[argv.index("--shell") + 1] == "oci"
    assert img[img.index("--rootfs") + 1] == "chroot" and img[img.index("--memory") + 1] == str(mem.memory_limit)
    assert img[img.index("run"):img.index("img:1") + 1] == ["run", "-q", "--name", "c1", "--network", "none",
                                                            "--memory", str(mem.memory_limit), "img:1"]
    assert img[img.index("img:1") + 1:] == list(mem.args)
    assert reg["pycr-img-chroot"].facts()["root_switch"] == "move+chroot"
    assert reg["pycr-img-overlay"].facts()["rootfs"] == "overlay"
    assert reg["runc"].command("/r", "/b", "c1") == ["runc", "--root", "/r", "run", "--bundle", "/b", "c1"]
    assert strategies.Strategy("x", runtime="no-such-runtime-here").unavailable() == "no-such-runtime-here not found on PATH"


def test_duplicate_strategy_names_are_an_error():
    with pytest.raises(ConfigError, match="defined twice"):
        strategies.registry([strategies.Strategy("runc", runtime="other")])


def test_plain_chroot_plugin_returns_chroot_without_move():
    step = strategies.plain_chroot.pycr_rootfs_switch(config={}, no_pivot=False)
    assert type(step).__name__ == "Chroot" and step.move_mount is False


def test_disabled_plugins_reach_every_pycr_cell():
    reg = strategies.registry()
    for name in ("pycr-v1-pivot", "pycr-img-overlay"):
        argv = reg[name].command("/r", "/b", "c1", pycr_globals=["-p", "no:lab"])
        rest = argv[argv.index("--") + 1:]
        assert rest[:2] == ["-p", "no:lab"]  # a global option of the cell's shell, before the verb
    assert "no:lab" not in reg["runc"].command("/r", "/b", "c1", pycr_globals=["-p", "no:lab"])


@pytest.mark.parametrize("fields, message", [
    ({"global_args": ["--rootfs", "mine"]}, 'use runtime = "pycr-image" and rootfs = NAME'),
    ({"global_args": ["--rootfs=mine"]}, 'use runtime = "pycr-image" and rootfs = NAME'),
    ({"rootfs": "mine"}, 'needs runtime = "pycr-image"'),
    ({"runtime": "pycr-image", "global_args": ["--rootfs", "mine"]}, "use the 'rootfs' field"),
    ({"global_args": ["--backend", "none"]}, "use the 'backend' field"),
])
def test_fields_that_would_mislabel_a_strategy_are_refused(fields, message):
    base = strategies.registry()["pycr-v1-pivot"]
    with pytest.raises(ConfigError, match=re.escape(message)) as e:
        strategies.derive(base, name="lab-fs", **fields)
    assert "'lab-fs'" in str(e.value)


def test_documented_rootfs_strategy_runs_and_records_its_driver():
    s = strategies.derive(strategies.registry()["pycr-v1-pivot"], name="lab-fs", runtime="pycr-image", rootfs="mine")
    argv = s.command("/r", "", "c1", workload=None, image="img:1")
    assert argv[argv.index("--rootfs") + 1] == "mine" and argv.count("--rootfs") == 1
    assert s.facts()["rootfs"] == "mine"
    derived = strategies.derive(strategies.registry()["pycr-img-overlay"], name="lab-fs2", rootfs="mine")
    assert derived.facts()["rootfs"] == "mine"
