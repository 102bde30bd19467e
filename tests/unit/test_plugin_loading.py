"""Plugin discovery and its loud failures, with third-party plugins installed
as temporary dist-info directories (see pycr.core.testing.dists).

Every failure names the plugin and its distribution in one line; a broken
third-party plugin is dropped with a warning and never breaks the others.
"""

from __future__ import annotations

import uuid

import pytest

from pycr.core import PluginError
from pycr.core.plugins import PluginManager, entry_points
from pycr.core.testing.dists import write_dist


@pytest.fixture
def site(tmp_path, monkeypatch):
    """A fresh directory on sys.path, and a private entry-point cache."""
    d = tmp_path / "site"
    d.mkdir()
    monkeypatch.syspath_prepend(str(d))
    monkeypatch.setenv("PYCR_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("PYCR_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    return str(d)


def modname() -> str:
    return f"pycrtest_{uuid.uuid4().hex[:8]}"


RECORDER = """
    from pycr.core import hookimpl
    CALLS = []

    @hookimpl
    def pycr_container_created(state):
        CALLS.append(state["id"])
"""


def hook_plugin(site, dist="pycr-recorder", name="recorder", source=RECORDER, version="1.0"):
    mod = modname()
    write_dist(site, dist, version, {"pycr.plugins": {name: mod}}, {f"{mod}.py": source})
    return mod


def test_third_party_plugin_is_loaded_and_called(site):
    mod = hook_plugin(site)
    pm = PluginManager()
    info = {p["name"]: p for p in pm.plugin_info}
    assert info["recorder"]["kind"] == "third-party" and info["recorder"]["dist"] == "pycr-recorder"
    assert info["namespaces"]["kind"] == "builtin"
    pm.hook.pycr_container_created(state={"id": "c1"})
    import sys

    assert sys.modules[mod].CALLS == ["c1"]


def test_autoload_switch_keeps_builtins_only(site, monkeypatch):
    hook_plugin(site)
    monkeypatch.setenv("PYCR_DISABLE_PLUGIN_AUTOLOAD", "1")
    names = {p["name"] for p in PluginManager().plugin_info}
    assert "recorder" not in names and {"namespaces", "process", "rootfs_mounts", "cgroups"} <= names


def test_p_no_name_disables_a_plugin_but_not_an_essential_one(site):
    hook_plugin(site)
    pm = PluginManager(disabled=["recorder"])
    assert pm.pm.get_plugin("recorder") is None
    with pytest.raises(PluginError, match="'namespaces' is essential"):
        PluginManager(disabled=["namespaces"])


def test_two_distributions_claiming_one_plugin_name(site):
    hook_plugin(site, dist="pycr-first", name="audit")
    hook_plugin(site, dist="pycr-second", name="audit")
    with pytest.raises(PluginError) as e:
        PluginManager()
    msg = str(e.value)
    assert "'audit'" in msg and "pycr-first 1.0" in msg and "pycr-second 1.0" in msg and "\n" not in msg


def test_two_distributions_claiming_one_driver_name_fail_only_when_chosen(site):
    for dist in ("pycr-cg-a", "pycr-cg-b"):
        mod = modname()
        write_dist(site, dist, "2.0", {"pycr.cgroup": {"fancy": f"{mod}:Fancy"}},
                   {f"{mod}.py": "from pycr.core import CgroupDriver\nclass Fancy(CgroupDriver):\n    name='fancy'\n"})
    pm = PluginManager()
    assert pm.driver("cgroup", "none").name == "none"  # other drivers are unaffected
    with pytest.raises(PluginError, match=r"cgroup driver 'fancy' is claimed by more than one distribution") as e:
        pm.driver("cgroup", "fancy")
    assert "pycr-cg-a 2.0" in str(e.value) and "pycr-cg-b 2.0" in str(e.value)


def test_hookimpl_matching_no_hookspec_names_plugin_dist_and_suggestion(site, capsys):
    hook_plugin(site, dist="pycr-typo", name="typo", source="""
        from pycr.core import hookimpl

        @hookimpl
        def pycr_container_stared(state):
            pass
    """)
    pm = PluginManager()
    err = capsys.readouterr().err
    assert ("warning: plugin 'typo' from pycr-typo 1.0 defines pycr_container_stared, which is not a pycr hook "
            "(did you mean pycr_container_started?)") in err
    assert pm.pm.get_plugin("typo") is None
    assert pm.hook.pycr_rootfs_switch(config={"linux": {"namespaces": [{"type": "mount"}]}}, no_pivot=False, container_id="pycrtest-x")


def test_hook_function_without_marker_is_reported(site, capsys):
    hook_plugin(site, dist="pycr-nomark", name="nomark", source="def pycr_container_started(state):\n    pass\n")
    PluginManager()
    assert ("plugin 'nomark' from pycr-nomark 1.0 defines pycr_container_started without the @hookimpl marker"
            in capsys.readouterr().err)


def test_hookimpl_with_wrong_arguments_is_one_line(site, capsys):
    hook_plugin(site, dist="pycr-args", name="args", source="""
        from pycr.core import hookimpl

        @hookimpl
        def pycr_isolation_plan(config, plam):
            pass
    """)
    pm = PluginManager()
    (line,) = [ln for ln in capsys.readouterr().err.splitlines() if "'args'" in ln]
    assert line.startswith("warning: plugin 'args' from pycr-args 1.0 failed to load: PluginValidationError")
    assert "plam" in line
    assert pm.failures and pm.pm.get_plugin("args") is None


def test_plugin_that_fails_to_import_is_dropped_with_a_warning(site, capsys):
    hook_plugin(site, dist="pycr-broken", name="broken", version="0.3",
                source="import pycr_dependency_that_is_not_installed\n")
    pm = PluginManager()
    err = capsys.readouterr().err
    assert ("warning: plugin 'broken' from pycr-broken 0.3 failed to load: ModuleNotFoundError: "
            "No module named 'pycr_dependency_that_is_not_installed'") in err
    assert {"namespaces", "process", "rootfs_mounts", "cgroups"} <= {p["name"] for p in pm.plugin_info}


def test_broken_driver_fails_only_when_chosen(site):
    mod = modname()
    write_dist(site, "pycr-badrootfs", "0.1", {"pycr.rootfs": {"bad": f"{mod}:Bad"}},
               {f"{mod}.py": "raise RuntimeError('needs a newer kernel')\n"})
    pm = PluginManager()  # nothing imported yet
    assert pm.driver("cgroup", "none").name == "none"
    with pytest.raises(PluginError, match=r"^rootfs driver 'bad' from pycr-badrootfs 0\.1 failed to load: "
                                          r"RuntimeError: needs a newer kernel$"):
        pm.driver("rootfs", "bad")


def test_unknown_driver_lists_the_choices(site):
    with pytest.raises(PluginError, match=r"--backend: cgroup driver 'cgroup_v9' is not installed; "
                                          r"choose one of: cgroup_v1, cgroup_v2, none"):
        PluginManager().driver("cgroup", "cgroup_v9")


def test_third_party_driver_is_found_by_its_entry_point_name(site):
    mod = modname()
    write_dist(site, "pycr-cg-x", "1.0", {"pycr.cgroup": {"xcg": f"{mod}:X"}},
               {f"{mod}.py": "from pycr.core import CgroupDriver\nclass X(CgroupDriver):\n    name='xcg'\n"})
    pm = PluginManager()
    assert "xcg" in pm.driver_names("cgroup")
    assert pm.driver("cgroup", "xcg").__module__ == mod


def test_pycr_select_driver_override_wins_over_entry_points(site):
    hook_plugin(site, dist="pycr-chooser", name="chooser", source="""
        from pycr.core import hookimpl

        @hookimpl
        def pycr_select_driver(slot, name, config):
            if slot == "cgroup" and name == "cgroup_v1":
                from pycr.plugins.cgroup_none import NoCgroup
                return NoCgroup
    """)
    pm = PluginManager()
    assert pm.driver("cgroup", "cgroup_v1").name == "none"
    assert pm.driver("cgroup", "cgroup_v2").name == "cgroup_v2"


def test_entry_point_cache_sees_a_new_install(site):
    before = entry_points()
    assert not any(ep["dist"] == "pycr-late" for ep in before["pycr.plugins"])
    hook_plugin(site, dist="pycr-late", name="late")
    assert any(ep["dist"] == "pycr-late" for ep in entry_points()["pycr.plugins"])


def test_cleanup_runs_every_implementation_and_collects_failures(site):
    for i, body in enumerate(["raise OSError('umount busy')", "DONE.append(1)"]):
        hook_plugin(site, dist=f"pycr-clean{i}", name=f"clean{i}", source=f"""
            from pycr.core import hookimpl
            DONE = []

            @hookimpl
            def pycr_cleanup(state):
                {body}
        """)
    pm = PluginManager()
    failures = pm.cleanup({"id": "c"})
    assert failures == ["clean0: OSError: umount busy"]
    assert pm.pm.get_plugin("clean1").DONE == [1]


def test_third_party_plugin_wins_a_firstresult_hook_over_the_builtin(site):
    # ``site`` is *before* the venv on sys.path, so discovery finds the plugin
    # first: registration must still put built-ins first (called last)
    hook_plugin(site, dist="pycr-switch", name="switch", source="""
        from pycr.core import hookimpl, steps

        @hookimpl
        def pycr_rootfs_switch(config, no_pivot):
            return steps.Chroot(move_mount=False)
    """)
    pm = PluginManager()
    step = pm.hook.pycr_rootfs_switch(config={"linux": {"namespaces": [{"type": "mount"}]}}, no_pivot=False, container_id="pycrtest-x")
    assert type(step).__name__ == "Chroot" and step.move_mount is False
    assert [p["name"] for p in pm.plugin_info][-1] == "switch"


def test_pycr_image_source_is_asked_before_the_entry_points(site, monkeypatch):
    from pycr.core import plugins
    from pycr.plugins.images import transports

    hook_plugin(site, dist="pycr-src", name="src", source="""
        from pycr.core import hookimpl

        class Mirror:
            def __init__(self, platform=None):
                self.platform = platform

        @hookimpl
        def pycr_image_source(transport):
            return Mirror if transport == "docker" else None
    """)
    monkeypatch.setattr(plugins, "_MANAGER", None)
    src = transports.source(None, "docker", platform="linux/arm64", credentials=("u", "p"))
    assert type(src).__name__ == "Mirror" and src.platform == "linux/arm64"
    assert type(transports.source(None, "oci")).__name__ == "OciLayoutSource"
    monkeypatch.setattr(plugins, "_MANAGER", None)


def test_an_implementation_may_name_a_subset_of_the_arguments(site):
    """The compatibility policy rests on this: adding an argument to a hook
    does not break implementations written before it existed."""
    mod = hook_plugin(site, dist="pycr-old", name="old", source="""
        from pycr.core import hookimpl
        SEEN = []

        @hookimpl
        def pycr_container_stopped(state):      # written before exit_status existed
            SEEN.append(state["id"])
    """)
    pm = PluginManager()
    pm.hook.pycr_container_stopped(state={"id": "c9"}, exit_status=0)
    import sys

    assert sys.modules[mod].SEEN == ["c9"]


def test_p_no_with_an_unknown_name_warns(site, capsys):
    hook_plugin(site, dist="pycr-audit", name="audit_log")
    pm = PluginManager(disabled=["audit_logs"])
    err = capsys.readouterr().err
    assert "warning: -p no:audit_logs: no plugin 'audit_logs' is installed; installed: " in err
    assert "audit_log," in err or err.rstrip().endswith("audit_log")
    assert pm.pm.get_plugin("audit_log") is not None
