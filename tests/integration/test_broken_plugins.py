"""A broken third-party plugin never breaks commands that don't use it, on the
real command line: containers still run, the warning names the plugin and
its distribution, and ``pycr plugins`` shows what failed and why."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from pycr.core.testing.bundle import make_bundle
from pycr.core.testing.dists import write_dist
from tests.conftest import new_id

pytestmark = pytest.mark.root

BIN = os.path.dirname(sys.executable)


@pytest.fixture
def env(tmp_path):
    site = str(tmp_path / "site")
    write_dist(site, "pycr-broken-hooks", "0.2", {"pycr.plugins": {"broken_hooks": "pycrtest_broken_hooks"}},
               {"pycrtest_broken_hooks.py": "import pycrtest_missing_dependency\n"})
    write_dist(site, "pycr-typo-hooks", "1.1", {"pycr.plugins": {"typo_hooks": "pycrtest_typo_hooks"}},
               {"pycrtest_typo_hooks.py": "from pycr.core import hookimpl\n\n@hookimpl\n"
                                          "def pycr_container_create(state):\n    pass\n"})
    write_dist(site, "pycr-broken-cgroup", "3.0", {"pycr.cgroup": {"broken_cg": "pycrtest_broken_cg:Driver"}},
               {"pycrtest_broken_cg.py": "raise ImportError('libfancy.so.1: cannot open shared object file')\n"})
    return {**os.environ, "PYTHONPATH": site, "PYCR_CACHE_DIR": str(tmp_path / "cache"),
            "PYCR_ROOT": str(tmp_path / "run")}


def test_container_runs_despite_broken_plugins(env, tmp_path):
    bundle = make_bundle(str(tmp_path / "b"), ["echo", "still works"])
    done = subprocess.run([os.path.join(BIN, "pycr-oci"), "run", "--bundle", bundle, new_id("broken")],
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout == "still works\n", done.stderr
    warnings = done.stderr.splitlines()
    assert ("warning: plugin 'broken_hooks' from pycr-broken-hooks 0.2 failed to load: ModuleNotFoundError: "
            "No module named 'pycrtest_missing_dependency'") in warnings
    assert ("warning: plugin 'typo_hooks' from pycr-typo-hooks 1.1 defines pycr_container_create, which is not "
            "a pycr hook (did you mean pycr_container_created?)") in warnings
    assert not any("broken_cg" in w for w in warnings)  # drivers load only when chosen


def test_choosing_the_broken_driver_fails_in_one_line(env, tmp_path):
    bundle = make_bundle(str(tmp_path / "b"), ["true"])
    done = subprocess.run([os.path.join(BIN, "pycr-oci"), "--backend", "broken_cg", "run", "--bundle", bundle,
                           new_id("broken-cg")], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert done.stderr.splitlines()[-1] == ("cgroup driver 'broken_cg' from pycr-broken-cgroup 3.0 failed to load: "
                                            "ImportError: libfancy.so.1: cannot open shared object file")
    root = env["PYCR_ROOT"]
    assert [d for d in (os.listdir(root) if os.path.isdir(root) else []) if not d.startswith(".")] == []


def test_pycr_plugins_shows_failures(env):
    done = subprocess.run([os.path.join(BIN, "pycr"), "plugins", "--format", "json"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    rows = {r["name"]: r for r in json.loads(done.stdout)}
    assert rows["broken_hooks"]["status"] == "failed" and "pycrtest_missing_dependency" in rows["broken_hooks"]["error"]
    assert rows["typo_hooks"]["status"] == "failed" and "did you mean" in rows["typo_hooks"]["error"]
    assert rows["broken_cg"]["status"] == "lazy" and rows["broken_cg"]["distribution"] == "pycr-broken-cgroup"
    assert rows["namespaces"]["status"] == "essential"


def test_autoload_switch_silences_them(env, tmp_path):
    bundle = make_bundle(str(tmp_path / "b"), ["true"])
    done = subprocess.run([os.path.join(BIN, "pycr-oci"), "run", "--bundle", bundle, new_id("quiet")],
                          env={**env, "PYCR_DISABLE_PLUGIN_AUTOLOAD": "1"}, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stderr == ""


# -- a plugin's failure is named as the plugin's, and a required plugin never fails open -------------

RAISER = """
from pycr.core import hookimpl, ConfigError

@hookimpl
def pycr_isolation_plan(config, plan):
    helper(config)

def helper(config):
    if config.get("annotations", {}).get("refuse") == "config":
        raise ConfigError("root containers are refused by policy")
    raise RuntimeError("boom")
"""


@pytest.fixture
def raiser_env(tmp_path):
    site = str(tmp_path / "site")
    write_dist(site, "pycr-raiser", "0.3", {"pycr.plugins": {"raiser": "pycrtest_raiser"}},
               {"pycrtest_raiser.py": RAISER})
    return {**os.environ, "PYTHONPATH": site, "PYCR_CACHE_DIR": str(tmp_path / "cache"),
            "PYCR_ROOT": str(tmp_path / "run")}


@pytest.mark.parametrize("debug", [False, True])
def test_a_raising_hook_names_its_plugin_in_one_line(raiser_env, tmp_path, debug):
    bundle = make_bundle(str(tmp_path / "b"), ["true"])
    cmd = [os.path.join(BIN, "pycr-oci"), *(["--debug"] if debug else []), "run", "--bundle", bundle, new_id("raise")]
    done = subprocess.run(cmd, env=raiser_env, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    line = "plugin 'raiser' from pycr-raiser 0.3 failed in pycr_isolation_plan: RuntimeError: boom"
    if debug:
        assert "Traceback" in done.stderr and line in done.stderr.splitlines()
    else:
        assert done.stderr.splitlines() == [line]
    assert [d for d in os.listdir(raiser_env["PYCR_ROOT"]) if not d.startswith(".")] == []


def test_a_config_error_from_a_plugin_names_it(raiser_env, tmp_path):
    bundle = make_bundle(str(tmp_path / "b"), ["true"], annotations={"refuse": "config"})
    done = subprocess.run([os.path.join(BIN, "pycr-oci"), "run", "--bundle", bundle, new_id("raise-cfg")],
                          env=raiser_env, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert done.stderr.splitlines() == ["plugin 'raiser' from pycr-raiser 0.3: root containers are refused by policy"]


def test_the_pycr_command_names_the_plugin_too(raiser_env):
    done = subprocess.run([os.path.join(BIN, "pycr"), "demo", "true"], env=raiser_env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode != 0
    assert done.stderr.splitlines()[-1] == ("plugin 'raiser' from pycr-raiser 0.3 failed in pycr_isolation_plan: "
                                            "RuntimeError: boom")
    assert "Traceback" not in done.stderr


POLICY_WITHOUT_MARKER = """
from pycr.core import hookimpl

def pycr_isolation_plan(config, plan):   # the author forgot @hookimpl
    raise SystemExit("never reached")
"""


@pytest.mark.parametrize("how", ["env", "entry-point"])
def test_a_required_plugin_that_fails_its_checks_stops_pycr(tmp_path, how):
    site = str(tmp_path / "site")
    value = "pycrtest_policy" + (" [required]" if how == "entry-point" else "")
    write_dist(site, "pycr-policy", "2.0", {"pycr.plugins": {"policy": value}},
               {"pycrtest_policy.py": POLICY_WITHOUT_MARKER})
    env = {**os.environ, "PYTHONPATH": site, "PYCR_CACHE_DIR": str(tmp_path / "cache"),
           "PYCR_ROOT": str(tmp_path / "run")}
    if how == "env":
        env["PYCR_REQUIRE_PLUGINS"] = "policy"
    bundle = make_bundle(str(tmp_path / "b"), ["echo", "ran"])
    cid = new_id("policy")
    done = subprocess.run([os.path.join(BIN, "pycr-oci"), "run", "--bundle", bundle, cid],
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and "ran" not in done.stdout
    assert done.stderr.splitlines() == ["plugin 'policy' from pycr-policy 2.0 defines pycr_isolation_plan without "
                                        "the @hookimpl marker: it would never be called"]
    # ... and cannot be switched off, or left out by the autoload switch
    off = subprocess.run([os.path.join(BIN, "pycr-oci"), "-p", "no:policy", "run", "--bundle", bundle,
                          cid], env=env, capture_output=True, text=True, timeout=60)
    assert off.returncode != 0 and off.stderr.startswith("plugin 'policy' is required (")
    quiet = subprocess.run([os.path.join(BIN, "pycr-oci"), "run", "--bundle", bundle, cid],
                           env={**env, "PYCR_DISABLE_PLUGIN_AUTOLOAD": "1"}, capture_output=True, text=True,
                           timeout=60)
    assert quiet.returncode != 0
    assert quiet.stderr.strip().endswith("but PYCR_DISABLE_PLUGIN_AUTOLOAD is set")


def test_a_required_plugin_that_is_not_installed_stops_pycr(tmp_path):
    bundle = make_bundle(str(tmp_path / "b"), ["echo", "ran"])
    env = {**os.environ, "PYCR_REQUIRE_PLUGINS": "no_such_policy", "PYCR_ROOT": str(tmp_path / "run")}
    done = subprocess.run([os.path.join(BIN, "pycr-oci"), "run", "--bundle", bundle, new_id("req")],
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert done.stderr.splitlines() == ["plugin 'no_such_policy' is required (PYCR_REQUIRE_PLUGINS) but it is "
                                        "not installed"]


def test_autoload_switch_leaves_third_party_drivers_out(env, tmp_path):
    """With PYCR_DISABLE_PLUGIN_AUTOLOAD only built-ins load: a third-party driver is not there to choose."""
    bundle = make_bundle(str(tmp_path / "b"), ["true"])
    done = subprocess.run([os.path.join(BIN, "pycr-oci"), "--backend", "broken_cg", "run", "--bundle", bundle,
                           new_id("noauto")], env={**env, "PYCR_DISABLE_PLUGIN_AUTOLOAD": "1"},
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert done.stderr.splitlines()[-1].startswith("--backend: cgroup driver 'broken_cg' is not installed; choose")
    assert "libfancy" not in done.stderr


# -- the command line's hints for newcomers -----------------------------------------------------------

def test_a_global_option_after_the_verb_says_where_it_goes():
    done = subprocess.run([os.path.join(BIN, "pycr"), "demo", "--backend", "none"], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 2
    assert done.stderr.splitlines()[-1].endswith("(--backend is a global option: put it before the verb, as in "
                                                 "`pycr --backend ... VERB ...`)")
    oci = subprocess.run([os.path.join(BIN, "pycr-oci"), "list", "--root", "/nonexistent"], capture_output=True,
                         text=True, timeout=60)
    assert oci.returncode == 2 and "(--root is a global option: put it before the verb" in oci.stderr


def test_backend_choices_include_auto():
    done = subprocess.run([os.path.join(BIN, "pycr"), "--backend", "cgroupv2", "demo"], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode != 0
    assert done.stderr.splitlines()[-1].endswith("choose one of: cgroup_v1, cgroup_v2, none, auto")


def test_pycr_oci_refuses_rootfs_instead_of_ignoring_it(tmp_path):
    done = subprocess.run([os.path.join(BIN, "pycr-oci"), "--root", str(tmp_path), "--rootfs", "nope", "list"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert done.stderr.splitlines() == ["--rootfs: pycr-oci runs an OCI bundle, whose config.json names its root "
                                        "filesystem; --rootfs chooses how `pycr` builds one from an image"]
