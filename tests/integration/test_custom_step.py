"""A third-party isolation step, exactly as docs/plugins.md shows it: added to
the plan in the runtime process, carried out by the container's init after
the root switch; a failing step is reported naming its ``describe()``."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from pycr.core.testing.bundle import make_bundle
from pycr.core.testing.dists import write_dist
from tests.conftest import new_id

pytestmark = pytest.mark.root

PLUGIN = '''
import os
from dataclasses import dataclass

from pycr.core import hookimpl, steps


@dataclass
class WriteFile(steps.Step):
    path: str
    content: str
    order = 80                      # post-switch steps run sorted by order

    def describe(self):
        return f"write {self.path}"     # named in the error if it fails

    def run(self, sc, ctx):         # runs in pycr:[init], inside the container
        target = ctx.path(self.path)    # resolved safely inside the rootfs
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "w") as f:
            f.write(self.content)


@hookimpl
def pycr_rootfs_plan(config, bundle, plan):
    path = config.get("annotations", {}).get("motd.path", "/etc/motd")
    plan.post_switch.append(WriteFile(path, "welcome\\n"))
'''


@pytest.fixture
def env(tmp_path):
    site = str(tmp_path / "site")
    write_dist(site, "pycr-motd", "1.0", {"pycr.plugins": {"motd": "pycrtest_motd"}},
               {"pycrtest_motd.py": PLUGIN})
    return {**os.environ, "PYTHONPATH": site, "PYCR_CACHE_DIR": str(tmp_path / "cache")}


def _run(env, tmp_path, bundle, cid):
    return subprocess.run([os.path.join(os.path.dirname(sys.executable), "pycr-oci"), "--root",
                           str(tmp_path / "root"), "run", "--bundle", bundle, cid],
                          env=env, capture_output=True, text=True, timeout=60)


def test_step_runs_inside_the_container(env, tmp_path):
    bundle = make_bundle(str(tmp_path / "b"), ["cat", "/etc/motd"])
    done = _run(env, tmp_path, bundle, new_id("motd"))
    assert done.returncode == 0, done.stderr
    assert done.stdout == "welcome\n"
    with open(os.path.join(bundle, "rootfs", "etc", "motd")) as f:   # written inside the rootfs,
        assert f.read() == "welcome\n"
    if os.path.exists("/etc/motd"):                                 # not on the host
        with open("/etc/motd") as f:
            assert f.read() != "welcome\n"


def test_failing_step_is_named(env, tmp_path):
    bundle = make_bundle(str(tmp_path / "b"), ["true"], annotations={"motd.path": "/proc/version"})
    cid = new_id("motd-fail")
    done = _run(env, tmp_path, bundle, cid)
    assert done.returncode != 0
    assert done.stderr.splitlines()[-1].startswith(f"container {cid}: write /proc/version: ")
