"""``pycr plugin new`` writes packages that install with pip and pass their own
tests as generated, for every kind.

The four skeletons are installed with a real ``pip install --target`` (a
wheel build, entry points in a dist-info) into a temporary directory that
the generated tests see through PYTHONPATH, so pycr's own venv is never
changed.  The generated tests run the conformance kits on the real kernel
(root) and, for the hooks kind, a real container.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.root

PYCR = os.path.join(os.path.dirname(sys.executable), "pycr")
KINDS = ("hooks", "cgroup", "rootfs", "image-source")


def _name(kind: str) -> str:
    return "scaffold_" + kind.replace("-", "_")


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    gen = tmp_path_factory.mktemp("generated")
    site = tmp_path_factory.mktemp("site")
    dirs = {}
    for kind in KINDS:
        done = subprocess.run([PYCR, "plugin", "new", _name(kind), "--kind", kind, "--dir", str(gen)],
                              capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        dirs[kind] = gen / ("pycr-" + _name(kind).replace("_", "-"))
    layouts = {k: sorted(str(p.relative_to(d)) for p in d.rglob("*")) for k, d in dirs.items()}
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site),
                    *map(str, dirs.values())], check=True, capture_output=True, timeout=600)
    return dirs, site, layouts


def test_skeleton_layout(installed):
    dirs, site, layouts = installed
    d = dirs["cgroup"]
    assert layouts["cgroup"] == ["README.md", "pycr_scaffold_cgroup", "pycr_scaffold_cgroup/__init__.py",
                                 "pyproject.toml", "tests", "tests/conftest.py", "tests/test_scaffold_cgroup.py"]
    text = (d / "pyproject.toml").read_text()
    assert '[project.entry-points."pycr.cgroup"]\n"scaffold_cgroup" = "pycr_scaffold_cgroup:ScaffoldCgroupCgroup"' in text
    eps = (site / "pycr_scaffold_cgroup-0.1.0.dist-info" / "entry_points.txt").read_text()
    assert "[pycr.cgroup]" in eps and "scaffold_cgroup = pycr_scaffold_cgroup:ScaffoldCgroupCgroup" in eps


@pytest.mark.parametrize("kind", KINDS)
def test_generated_tests_pass(installed, kind, tmp_path):
    dirs, site, _ = installed
    env = {**os.environ, "PYTHONPATH": str(site), "PYCR_CACHE_DIR": str(tmp_path / "cache")}
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "error", "tests"],
                          cwd=dirs[kind], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert " passed" in done.stdout and "skipped" not in done.stdout


def test_installed_plugins_are_listed(installed, tmp_path):
    _, site, _ = installed
    env = {**os.environ, "PYTHONPATH": str(site), "PYCR_CACHE_DIR": str(tmp_path / "cache")}
    import json

    rows = json.loads(subprocess.run([PYCR, "plugins", "--format", "json"], env=env, capture_output=True,
                                     text=True, check=True).stdout)
    mine = {r["name"]: r for r in rows if r["name"].startswith("scaffold_")}
    assert {n: (r["kind"], r["origin"], r["distribution"]) for n, r in mine.items()} == {
        "scaffold_hooks": ("hooks", "third-party", "pycr-scaffold-hooks"),
        "scaffold_cgroup": ("cgroup driver", "third-party", "pycr-scaffold-cgroup"),
        "scaffold_rootfs": ("rootfs driver", "third-party", "pycr-scaffold-rootfs"),
        "scaffold_image_source": ("image_source driver", "third-party", "pycr-scaffold-image-source"),
    }
    assert mine["scaffold_hooks"]["status"] == "loaded"


def test_bad_names_are_refused(tmp_path):
    done = subprocess.run([PYCR, "plugin", "new", "My-Plugin", "--kind", "hooks", "--dir", str(tmp_path)],
                          capture_output=True, text=True)
    assert done.returncode == 1 and done.stderr.startswith("plugin new: name 'My-Plugin' must be")
    assert os.listdir(tmp_path) == []
