"""The house stays a house (docs/architecture.md): a small core, every layer a
plugin that is registered like a third party's, and a runtime hot path that
never pays for the layers above it."""

from __future__ import annotations

import importlib.metadata
import json
import os
import pathlib
import subprocess
import sys
import time

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
BIN = pathlib.Path(sys.executable).parent
LAYERS = ("images", "manage", "bench", "probe")
CORE_SHARE = 0.45
GENERATED = ("config_validator.py",)  # scripts/gen_config_validator.py writes it


def python_lines(*folders: str) -> int:
    """What ``find FOLDERS -name '*.py' | xargs cat | wc -l`` prints (README, development notes),
    less generated modules (core/config_validator.py: the runtime-spec schema compiled to Python)."""
    return sum(p.read_bytes().count(b"\n") for f in folders for p in (REPO / f).rglob("*.py")
               if p.name not in GENERATED)


def test_core_is_at_most_45_percent_of_the_python_lines():
    core, total = python_lines("core"), python_lines("core", "plugins")
    assert core / total <= CORE_SHARE, f"core/ holds {core} of {total} lines ({core / total:.0%})"


def test_line_count_matches_the_readme_command():
    readme = (REPO / "README.md").read_text()
    assert f"find core -name '*.py' ! -name {GENERATED[0]} | xargs cat | wc -l" in readme
    assert f"find core plugins -name '*.py' ! -name {GENERATED[0]} | xargs cat | wc -l" in readme
    done = subprocess.run(f"find core -name '*.py' ! -name {GENERATED[0]} | xargs cat | wc -l", shell=True, cwd=REPO,
                          capture_output=True, text=True, check=True)
    assert int(done.stdout) == python_lines("core")


def _pycr_entry_points():
    dist = importlib.metadata.distribution("pycr")
    return sorted((ep.group, ep.name, ep.value) for ep in dist.entry_points if ep.group.startswith("pycr."))


@pytest.mark.parametrize("group,name,value", _pycr_entry_points(), ids=lambda v: str(v))
def test_every_entry_point_target_imports(group, name, value):
    """In a fresh interpreter, so a target that only works after another import is caught."""
    module, _, attr = value.partition(":")
    code = f"import importlib; obj = importlib.import_module({module!r})\nfor a in {attr!r}.split('.'):\n" \
           f"    obj = getattr(obj, a) if a else obj"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_layers_are_plugins_registered_by_entry_point():
    hook_plugins = {name: value for group, name, value in _pycr_entry_points() if group == "pycr.plugins"}
    for layer in LAYERS:
        assert hook_plugins.get(layer) == f"pycr.plugins.{layer}.hooks"


# Which modules a command imported: ``python -X importtime`` misses every module
# loaded through importlib.import_module (how plugins and verbs are loaded), so
# the command runs under a wrapper that writes ``sys.modules`` when it exits.
_WRAPPER = """
import atexit, json, os, sys
out = sys.argv.pop(1)
atexit.register(lambda: open(os.path.join(out, f"{os.getpid()}.json"), "w").write(json.dumps(sorted(sys.modules))))
from pycr.core.cli.oci import main
sys.argv[0] = "pycr-oci"
sys.exit(main())
"""


def layer_modules(modules) -> list[str]:
    """Modules of the layers other than their registration (``hooks`` and its package)."""
    allowed = {f"pycr.plugins.{layer}{suffix}" for layer in LAYERS for suffix in ("", ".hooks")}
    return sorted(m for m in modules if m.startswith(tuple(f"pycr.plugins.{layer}" for layer in LAYERS))
                  and m not in allowed)


def test_layer_modules_allows_only_registration():
    assert layer_modules({"pycr.plugins.manage", "pycr.plugins.manage.hooks", "pycr.plugins.manage.records",
                          "pycr.plugins.images.store", "pycr.plugins.namespaces"}) == \
        ["pycr.plugins.images.store", "pycr.plugins.manage.records"]


@pytest.mark.root
def test_oci_hot_path_imports_no_layer(tmp_path):
    """``pycr-oci create``, ``start`` and ``run`` import no image, management or research module."""
    from pycr.core.testing import make_bundle
    from tests.conftest import new_id

    bundle = make_bundle(str(tmp_path / "b"), ["true"])
    env = {**os.environ, "PYCR_ROOT": str(tmp_path / "run"), "PYCR_CACHE_DIR": str(tmp_path / "cache")}
    seen = {}
    created = new_id("hot-c")
    try:
        for verb, args in (("create", ["create", "--bundle", bundle, created]), ("start", ["start", created]),
                           ("run", ["run", "--bundle", bundle, new_id("hot-r")])):
            out = tmp_path / f"modules-{verb}"
            out.mkdir()
            # stdio not piped: the created container keeps what it inherits open
            done = subprocess.run([sys.executable, "-c", _WRAPPER, str(out), *args], env=env,
                                  stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, timeout=60)
            assert done.returncode == 0, f"pycr-oci {verb} failed"
            seen[verb] = {m for f in out.glob("*.json") for m in json.loads(f.read_text())}
    finally:
        subprocess.run([str(BIN / "pycr-oci"), "delete", "--force", created], env=env, capture_output=True)
    for verb, modules in seen.items():
        assert "pycr.core.runtime.control" in modules, f"{verb}: no module list written"
        if verb != "start":  # the plugins were loaded (and so registered)
            assert "pycr.plugins.namespaces" in modules
        if verb == "run":  # the dispatch plan frozen by create: a plugin none of whose hooks run stays out
            assert "pycr.plugins.manage.hooks" not in modules
        assert layer_modules(modules) == [], f"pycr-oci {verb} imports layer modules"
        # libc through _ctypes alone (core/linux/libc.py): ctypes' and resource's start-up stays off
        assert not {"ctypes", "resource"} & modules, f"pycr-oci {verb} imports ctypes or resource"


# The real ``pycr-oci`` script (whose first lines decide what the interpreter protection
# imports), run by a wrapper that importing nothing itself: what the script imported is
# ``sys.modules`` when it leaves through ``os._exit``, less what was there before it ran.
_SCRIPT_WRAPPER = """
import os, sys
out, script = sys.argv.pop(1), sys.argv[1]
del sys.argv[0]
sys.path[0] = os.path.dirname(script)  # as when the script runs itself (-c put "" there)
before = set(sys.modules)
def _exit(code, _real=os._exit):
    with open(os.path.join(out, str(os.getpid())), "w") as f:
        f.write(chr(10).join(sorted(set(sys.modules) - before)))
    _real(code)
os._exit = _exit
exec(compile(open(script).read(), script, "exec"), {"__name__": "__main__", "__file__": script})
"""

#: what no short verb imports: create and run (lifecycle), the interpreter protection (create, run
#: and exec only), tracing (--trace only), create's path checks and cgroup discovery, the signal
#: enum, zlib, errno, and the big stdlib modules
SHORT_VERBS_NEVER = {"pycr.core.runtime.lifecycle", "pycr.core.linux", "pycr.core.linux.exe", "pycr.core.linux.paths",
                     "pycr.core.tracing", "signal", "zlib", "errno", "json", "argparse", "typing", "dataclasses",
                     "pluggy", "importlib.metadata", "pycr.plugins.cgroup_v1.hierarchies",
                     "pycr.plugins.cgroup_v2.writers"}
#: ... and what each one does not need on top (state and kill read the freezer files create named)
SHORT_VERB_NEVER = {"state": {"pycr.core.plugins", "pycr.core.dispatch", "pycr.core.cgroups", "select"},
                    "kill": {"pycr.core.plugins", "pycr.core.dispatch", "pycr.core.cgroups", "select"},
                    "start": {"pycr.core.cgroups"}, "delete": {"select"}}


@pytest.mark.root
def test_oci_short_verbs_import_only_what_they_need(tmp_path):
    """``state``, ``start``, ``kill`` (a signal by name) and ``delete`` (plain and ``--force``), each
    through the installed ``pycr-oci`` script, as engines call them (docs/performance.md)."""
    from pycr.core.testing import make_bundle
    from tests.conftest import new_id

    bundle = make_bundle(str(tmp_path / "b"), ["true"])
    env = {**os.environ, "PYCR_ROOT": str(tmp_path / "run"), "PYCR_CACHE_DIR": str(tmp_path / "cache")}
    env.pop("PYCR_UNPROTECTED_INTERPRETER", None)
    started, killed = new_id("short-s"), new_id("short-k")
    seen: dict[str, set[str]] = {}

    def oci(*args, record=None):
        out = tmp_path / f"modules-{record}"
        out.mkdir(exist_ok=True)
        argv = [sys.executable, "-c", _SCRIPT_WRAPPER, str(out), str(BIN / "pycr-oci"), *args] if record \
            else [str(BIN / "pycr-oci"), *args]
        # stdout piped for state alone: a created container keeps what it inherits open
        done = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, timeout=60,
                              stdout=subprocess.PIPE if args[0] == "state" else subprocess.DEVNULL)
        assert done.returncode == 0, f"pycr-oci {' '.join(args)} failed"
        if record:
            seen[record] = {m for f in out.iterdir() for m in f.read_text().split()}
        return (done.stdout or b"").decode()

    def stopped(cid):
        for _ in range(500):
            if '"stopped"' in oci("state", cid):
                return
            time.sleep(0.01)
        raise AssertionError(f"{cid} did not stop")

    try:
        for cid in (started, killed):
            oci("create", "--bundle", bundle, cid)
        oci("state", started, record="state")
        oci("start", started, record="start")
        stopped(started)
        oci("delete", "--force", started, record="delete --force")
        oci("kill", killed, record="kill")  # SIGTERM by name: the init, its namespace's pid 1, ignores it
        oci("kill", killed, "KILL")
        stopped(killed)
        oci("delete", killed, record="delete")
    finally:
        for cid in (started, killed):
            subprocess.run([str(BIN / "pycr-oci"), "delete", "--force", cid], env=env, capture_output=True)
    for verb, modules in seen.items():
        assert "pycr.core.runtime.control" in modules, f"{verb}: no module list written"
        unwanted = (SHORT_VERBS_NEVER | SHORT_VERB_NEVER[verb.split()[0]]) & modules
        assert not unwanted, f"pycr-oci {verb} imports {sorted(unwanted)}"
    assert {"pycr.core.plugins", "pycr.core.dispatch"} <= seen["start"]  # pycr_container_started is called
    assert "pycr.core.cgroups" in seen["delete"]  # and the driver removed the cgroup


def _builtin_verbs():
    from pycr.core.cli.commands import Table

    table = Table()
    return sorted((c.plugin, c.name, c.module) for c in table.commands.by_name.values())


@pytest.mark.parametrize("plugin,verb,module", _builtin_verbs(), ids=lambda v: str(v))
def test_every_registered_verb_module_has_the_verb_contract(plugin, verb, module):
    import importlib

    mod = importlib.import_module(module)
    assert hasattr(mod, "dispatch") or (callable(getattr(mod, "add_arguments", None))
                                         and callable(getattr(mod, "run", None))), f"{plugin}: {verb} -> {module}"
    if plugin != "core":
        assert module.startswith(f"pycr.plugins.{plugin}."), "a layer's verbs live in its own package"
