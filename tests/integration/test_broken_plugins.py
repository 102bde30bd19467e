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
    done = subprocess.run([os.path.join(BIN, "pycr-oci"), "run", "--bundle", bundle, "pycrtest-broken"],
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
                           "pycrtest-broken-cg"], env=env, capture_output=True, text=True, timeout=60)
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
    done = subprocess.run([os.path.join(BIN, "pycr-oci"), "run", "--bundle", bundle, "pycrtest-quiet"],
                          env={**env, "PYCR_DISABLE_PLUGIN_AUTOLOAD": "1"}, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stderr == ""
