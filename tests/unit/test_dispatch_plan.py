"""The frozen dispatch plan (pycr.core.dispatch) calls exactly what pluggy calls.

Each test builds the manager twice in one environment: the first build runs
pluggy and freezes its plan, the second runs from the plan.  They are
compared on the real built-in plugins, the audit-log example plugin from
examples/ and a third-party plugin using tryfirst/trylast, a firstresult
hook, argument subsets and a defaulted argument.
"""

from __future__ import annotations

import os
import shutil
import sys
import uuid

import pluggy
import pytest

from pycr.core import hookspecs
from pycr.core.dispatch import FrozenHooks
from pycr.core.markers import hookimpl
from pycr.core.plugins import PluginManager
from pycr.core.testing.dists import write_dist

EXAMPLES = os.path.join(os.path.dirname(__file__), "..", "..", "examples")
HOOKS = sorted(n for n in vars(hookspecs) if n.startswith("pycr_"))

ORDERED = """
    from pycr.core import hookimpl
    CALLS = []

    @hookimpl(tryfirst=True)
    def pycr_container_created(state):
        CALLS.append(("ordered:first", state["id"]))

    @hookimpl(trylast=True)
    def pycr_container_deleted(state):
        CALLS.append(("ordered:last", state["id"]))

    @hookimpl
    def pycr_container_stopped(state, exit_status):
        CALLS.append(("ordered:stopped", exit_status))

    @hookimpl
    def pycr_select_driver(slot, name):
        CALLS.append(("ordered:select", name))
        return ("mine", slot) if name == "ordered-driver" else None

    @hookimpl
    def pycr_cleanup(state, extra=None):
        CALLS.append(("ordered:cleanup", extra))
"""

SECOND = """
    from pycr.core import hookimpl
    CALLS = []

    class Plugin:
        @hookimpl
        def pycr_container_created(self, state):
            CALLS.append(("second:created", state["id"]))

        @hookimpl(tryfirst=True)
        def pycr_select_driver(self, slot, name, config):
            CALLS.append(("second:select", name))
            return ("second", slot) if name == "second-driver" else None

    plugin = Plugin()
"""

WRAPPER = """
    from pycr.core import hookimpl

    @hookimpl(wrapper=True)
    def pycr_container_created(state):
        return (yield)
"""


@pytest.fixture
def site(plugin_site):
    return plugin_site


def _install(site, dist, name, source, attr=""):
    mod = f"pycrtest_{uuid.uuid4().hex[:8]}"
    write_dist(site, dist, "1.0", {"pycr.plugins": {name: mod + attr}}, {f"{mod}.py": source})
    return mod


@pytest.fixture
def third_party(site):
    shutil.copytree(os.path.join(EXAMPLES, "pycr-audit-log", "pycr_audit_log"),
                    os.path.join(site, "pycr_audit_log"))
    write_dist(site, "pycr-audit-log", "0.1", {"pycr.plugins": {"audit_log": "pycr_audit_log"}})
    ordered = _install(site, "pycr-ordered", "ordered", ORDERED)
    second = _install(site, "pycr-second", "second", SECOND, ":plugin")
    return ordered, second


def _pair():
    """(pluggy's manager, the frozen one) for the same environment."""
    first = PluginManager()
    assert not isinstance(first.hook, FrozenHooks)
    frozen = PluginManager()
    assert isinstance(frozen.hook, FrozenHooks), "the plan was not used"
    assert "pluggy" not in type(frozen.hook).__module__
    return first, frozen


def _calls(caller):
    out = []
    for impl in reversed(caller.get_hookimpls()):  # pluggy calls in reverse registration order
        fn = getattr(impl.function, "__func__", impl.function)
        out.append((impl.plugin_name, fn))
    return out


@pytest.mark.parametrize("opts", [{}, {"tryfirst": True}, {"trylast": True}, {"hookwrapper": True},
                                  {"wrapper": True}, {"optionalhook": True}, {"specname": "pycr_cleanup"}])
def test_marker_is_pluggys(opts):
    def ours():
        pass

    def theirs():
        pass

    (hookimpl(**opts)(ours) if opts else hookimpl(ours))
    marker = pluggy.HookimplMarker("pycr")
    (marker(**opts)(theirs) if opts else marker(theirs))
    assert ours.pycr_impl == theirs.pycr_impl


def test_same_implementations_same_order_same_firstresult(third_party):
    first, frozen = _pair()
    assert [p["name"] for p in frozen.plugin_info] == [p["name"] for p in first.plugin_info]
    assert {"audit_log", "ordered", "second", "namespaces"} <= {p["name"] for p in frozen.plugin_info}
    for name in HOOKS:
        pluggy_caller, frozen_caller = getattr(first.hook, name), getattr(frozen.hook, name)
        assert _calls(frozen_caller) == _calls(pluggy_caller), name
        assert frozen_caller.firstresult == bool(pluggy_caller.spec.opts.get("firstresult")), name
    # the third-party tryfirst/trylast marks really moved them
    created = [p for p, _ in _calls(frozen.hook.pycr_container_created)]
    assert created[0] == "ordered"
    assert [p for p, _ in _calls(frozen.hook.pycr_container_deleted)][-1] == "ordered"


def test_same_calls_and_results(third_party, tmp_path, monkeypatch):
    ordered, second = third_party
    monkeypatch.setenv("PYCR_AUDIT_LOG", str(tmp_path / "audit.jsonl"))
    first, frozen = _pair()
    state = {"ociVersion": "1.0.2", "id": "c1", "status": "created", "pid": 1, "bundle": "/b"}

    def run(manager):
        calls_a, calls_b = sys.modules[ordered].CALLS, sys.modules[second].CALLS
        calls_a.clear()
        calls_b.clear()
        results = [
            manager.hook.pycr_container_created(state=state),
            manager.hook.pycr_container_stopped(state=state, exit_status=3),
            manager.hook.pycr_container_deleted(state=state),
            manager.hook.pycr_select_driver(slot="cgroup", name="ordered-driver", config=None),
            manager.hook.pycr_select_driver(slot="cgroup", name="second-driver", config=None),
            manager.hook.pycr_select_driver(slot="cgroup", name="cgroup_v1", config=None),
            manager.hook.pycr_select_driver(slot="cgroup", name="no-such", config=None),
            manager.cleanup(state),
        ]
        return results, list(calls_a), list(calls_b)

    expected, got = run(first), run(frozen)
    assert got == expected
    results, calls_a, calls_b = got
    assert results[3] == ("mine", "cgroup") and results[4] == ("second", "cgroup")
    assert results[6] is None  # firstresult: nobody answered
    assert ("ordered:select", "second-driver") not in calls_a  # second (tryfirst) answered first: stopped
    with open(tmp_path / "audit.jsonl") as f:
        assert len(f.read().splitlines()) == 6  # the audit plugin ran in both


def test_changed_plugin_file_or_install_invalidates(third_party, site):
    ordered, _ = third_party
    _pair()
    path = os.path.join(site, f"{ordered}.py")
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert not isinstance(PluginManager().hook, FrozenHooks)  # rebuilt by pluggy, and re-frozen
    assert isinstance(PluginManager().hook, FrozenHooks)
    _install(site, "pycr-late", "late", "from pycr.core import hookimpl\n")
    assert not isinstance(PluginManager().hook, FrozenHooks)


def test_pluggy_runs_for_what_the_plan_cannot_serve(site, monkeypatch):
    _pair()
    assert not isinstance(PluginManager(disabled=["no_such_plugin"]).hook, FrozenHooks)  # -p
    monkeypatch.setenv("PYCR_DISABLE_PLUGIN_AUTOLOAD", "1")  # another input: another plan
    assert not isinstance(PluginManager().hook, FrozenHooks)
    monkeypatch.delenv("PYCR_DISABLE_PLUGIN_AUTOLOAD")
    _install(site, "pycr-wrapper", "wrapping", WRAPPER)
    for _ in range(2):  # a hook wrapper is never frozen
        assert not isinstance(PluginManager().hook, FrozenHooks)


def test_pm_on_the_frozen_path_is_pluggy_and_hooks_follow(site):
    _, frozen = _pair()
    assert isinstance(frozen.pm, pluggy.PluginManager)
    assert not isinstance(frozen.hook, FrozenHooks)
    assert frozen.hook.pycr_select_driver(slot="cgroup", name="cgroup_v1", config=None).__name__ == "CgroupV1"


def test_a_plugin_is_imported_when_one_of_its_hooks_is_first_called(third_party):
    ordered, second = third_party
    _pair()
    for mod in (ordered, second, "pycr_audit_log", "pycr.plugins.probe.hooks"):
        sys.modules.pop(mod, None)
    frozen = PluginManager()
    assert isinstance(frozen.hook, FrozenHooks)
    assert not {ordered, second, "pycr_audit_log", "pycr.plugins.probe.hooks"} & set(sys.modules)
    frozen.hook.pycr_container_stopped(state={"id": "c1"}, exit_status=0)  # ordered and audit_log implement it
    assert ordered in sys.modules and "pycr_audit_log" in sys.modules
    assert second not in sys.modules and "pycr.plugins.probe.hooks" not in sys.modules
    assert frozen.hook.pycr_select_driver(slot="cgroup", name="second-driver", config=None) == ("second", "cgroup")
    assert second in sys.modules


def test_a_plugin_that_no_longer_imports_falls_back_to_pluggy(site, capsys):
    """The plan checks the plugin's own files; a module it imports may still break.  Then
    the hook goes to pluggy, which drops the broken third-party plugin with its warning, as
    a manager built by pluggy from the start would."""
    with open(os.path.join(site, "pycrtest_dep.py"), "w") as f:
        f.write("VALUE = 1\n")
    mod = _install(site, "pycr-dep", "dep", ORDERED.replace("from pycr", "import pycrtest_dep\n    from pycr", 1))
    _pair()
    for name in (mod, "pycrtest_dep"):
        sys.modules.pop(name)
    frozen = PluginManager()
    assert isinstance(frozen.hook, FrozenHooks)
    with open(os.path.join(site, "pycrtest_dep.py"), "w") as f:
        f.write("raise ImportError('broken on purpose')\n")
    assert frozen.hook.pycr_container_stopped(state={"id": "c1"}, exit_status=3) == []
    assert mod not in sys.modules
    assert not isinstance(frozen.hook, FrozenHooks)  # pluggy's from now on
    assert frozen.failures and "'dep'" in frozen.failures[0] and "broken on purpose" in frozen.failures[0]
    assert "broken on purpose" in capsys.readouterr().err
    expected = PluginManager()
    expected.pm  # pluggy from the start says the same
    assert [p["name"] for p in expected.plugin_info] == [p["name"] for p in frozen.plugin_info]
