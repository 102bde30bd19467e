"""What a hook plugin is told about the container it shapes: its id, and under ``pycr run`` the
image's own config (annotation ``io.pycr.image.config``), so a policy can tell an image's explicit
``User`` from no user at all."""

import json
import os
import re
import subprocess
import sys

import pytest

from pycr.core.testing.dists import write_dist
from tests.conftest import new_id

pytestmark = pytest.mark.root

BIN = os.path.dirname(sys.executable)

RECORDER = """
import json, os
from pycr.core import hookimpl

def _record(**fields):
    with open(os.environ["PYCRTEST_HOOK_LOG"], "a") as f:
        f.write(json.dumps(fields) + "\\n")

@hookimpl
def pycr_resource_limits(container_id):
    _record(hook="limits", id=container_id)

@hookimpl
def pycr_isolation_plan(config, container_id):
    image = config.get("annotations", {}).get("io.pycr.image.config")
    _record(hook="isolation", id=container_id, image=json.loads(image) if image else None,
            user=config["process"]["user"])

@hookimpl
def pycr_rootfs_plan(container_id):
    _record(hook="rootfs", id=container_id)

@hookimpl
def pycr_rootfs_switch(container_id):
    _record(hook="switch", id=container_id)
"""


def test_hooks_get_the_container_id_and_the_image_config(tmp_path, busybox_ref, state_root):
    site = str(tmp_path / "site")
    write_dist(site, "pycr-recorder", "1.0", {"pycr.plugins": {"ctx_recorder": "pycrtest_ctx_recorder"}},
               {"pycrtest_ctx_recorder.py": RECORDER})
    log = tmp_path / "hooks.jsonl"
    env = {**os.environ, "PYTHONPATH": site, "PYCR_CACHE_DIR": str(tmp_path / "cache"), "PYCRTEST_HOOK_LOG": str(log),
           "PYCR_STORAGE": str(tmp_path / "store"), "PYCR_ROOT": state_root}
    name = new_id("ctx")
    done = subprocess.run([os.path.join(BIN, "pycr"), "run", "--name", name, busybox_ref, "true"],
                          env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    assert [r["hook"] for r in rows] == ["isolation", "rootfs", "switch", "limits"]
    (cid,) = {r["id"] for r in rows}  # one container, named the same in every hook
    assert cid == name or re.fullmatch("[0-9a-f]{64}", cid)  # its name, or a record's id
    isolation = rows[0]
    assert isolation["image"] is not None and isolation["image"].get("Cmd")  # the image's own config
    assert "User" not in isolation["image"] or isolation["image"]["User"] == ""  # busybox sets none
    assert isolation["user"]["uid"] == 0  # ... while the process runs as root by default


SIZED = """
import os, json
from pycr.plugins.rootfs_chroot import ChrootRootfs

requires = ("images",)


class Sized(ChrootRootfs):
    name = "sized"
    accepts = {"size": "the most the private copy may hold", "label": "a free-form tag"}

    def prepare(self, image, container_dir, stack, *, read_only=False):
        with open(os.environ["PYCRTEST_OPTIONS_LOG"], "w") as f:
            json.dump(self.options, f)
        return super().prepare(image, container_dir, stack, read_only=read_only)
"""


def test_a_rootfs_strategy_receives_its_options(tmp_path, busybox_ref, state_root):
    site = str(tmp_path / "site")
    write_dist(site, "pycr-sized", "0.1", {"pycr.rootfs": {"sized": "pycrtest_sized:Sized"}},
               {"pycrtest_sized.py": SIZED})
    log = tmp_path / "options.json"
    env = {**os.environ, "PYTHONPATH": site, "PYCR_CACHE_DIR": str(tmp_path / "cache"),
           "PYCRTEST_OPTIONS_LOG": str(log), "PYCR_STORAGE": str(tmp_path / "store"), "PYCR_ROOT": state_root}
    pycr = os.path.join(BIN, "pycr")
    done = subprocess.run([pycr, "--rootfs", "sized", "--rootfs-opt", "size=10m", "--rootfs-opt", "label=a=b", "run",
                           "--name", new_id("sized"), busybox_ref, "true"], env=env, capture_output=True, text=True,
                          timeout=180)
    assert done.returncode == 0, done.stderr
    assert json.loads(log.read_text()) == {"size": "10m", "label": "a=b"}
    bad = subprocess.run([pycr, "--rootfs", "sized", "--rootfs-opt", "colour=red", "run", busybox_ref, "true"],
                         env=env, capture_output=True, text=True, timeout=180)
    assert bad.returncode != 0
    assert bad.stderr.splitlines() == ["--rootfs-opt colour: strategy 'sized' has no such option; it takes: label, size"]
    builtin = subprocess.run([pycr, "--rootfs-opt", "size=1", "run", busybox_ref, "true"], env=env,
                             capture_output=True, text=True, timeout=180)
    assert builtin.stderr.splitlines() == ["--rootfs-opt size: strategy 'overlay' has no such option; it takes none"]
