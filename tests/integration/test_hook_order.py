"""The hook order and the process each hook runs in, as docs/plugins.md states
it, observed on real containers: a recording third-party plugin (installed as
a dist-info directory on PYTHONPATH) logs every call with its pid."""

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

PYCR_OCI = os.path.join(os.path.dirname(sys.executable), "pycr-oci")

RECORDER = """
import json, os
from pycr.core import hookimpl

def _log(hook, **extra):
    with open(os.environ["HOOK_LOG"], "a") as f:
        f.write(json.dumps({"hook": hook, "pid": os.getpid(), **extra}) + "\\n")

@hookimpl
def pycr_select_driver(slot, name, config):
    _log("pycr_select_driver", slot=slot, name=name)

@hookimpl
def pycr_resource_limits(config, cgroup, resources):
    _log("pycr_resource_limits", driver=cgroup.name)

@hookimpl
def pycr_isolation_plan(config, plan):
    _log("pycr_isolation_plan")

@hookimpl
def pycr_rootfs_plan(config, bundle, plan):
    _log("pycr_rootfs_plan", bundle=bundle)

@hookimpl
def pycr_rootfs_switch(config, no_pivot):
    _log("pycr_rootfs_switch", no_pivot=no_pivot)

@hookimpl
def pycr_init_spawned(state):
    _log("pycr_init_spawned", status=state["status"], init=state["pid"])

@hookimpl
def pycr_container_created(state):
    _log("pycr_container_created", status=state["status"], init=state["pid"])

@hookimpl
def pycr_container_started(state):
    _log("pycr_container_started", status=state["status"])

@hookimpl
def pycr_container_stopped(state, exit_status):
    _log("pycr_container_stopped", exit_status=exit_status)

@hookimpl
def pycr_cleanup(state):
    _log("pycr_cleanup", id=state["id"])

@hookimpl
def pycr_container_deleted(state):
    _log("pycr_container_deleted", status=state["status"])
"""


@pytest.fixture
def env(tmp_path):
    site = tmp_path / "site"
    write_dist(str(site), "pycr-hook-recorder", "1.0", {"pycr.plugins": {"recorder": "pycrtest_recorder"}},
               {"pycrtest_recorder.py": RECORDER})
    return {**os.environ, "PYTHONPATH": str(site), "PYCR_CACHE_DIR": str(tmp_path / "cache"),
            "HOOK_LOG": str(tmp_path / "hooks.jsonl"), "PYCR_BACKEND": "cgroup_v1"}


def _oci(env, root, *args):
    # files, not pipes: a created container's init keeps its stdio open
    with open(os.path.join(root + ".out"), "w+") as out:
        done = subprocess.run([PYCR_OCI, "--root", root, *args], env=env, stdin=subprocess.DEVNULL,
                              stdout=out, stderr=out, timeout=60)
        out.seek(0)
        done.stderr = out.read()
    assert done.returncode == 0 or args[0] == "run", f"pycr-oci {args}: {done.stderr}"
    return done


def _calls(env):
    with open(env["HOOK_LOG"]) as f:
        return [json.loads(line) for line in f]


def test_hook_order_in_one_run(env, tmp_path):
    bundle = make_bundle(str(tmp_path / "b"), ["sh", "-c", "exit 3"])
    cid = new_id("order")
    done = _oci(env, str(tmp_path / "root"), "run", "--bundle", bundle, cid)
    assert done.returncode == 3, done.stderr
    calls = _calls(env)
    order = [c["hook"] for c in calls if c["hook"] != "pycr_select_driver"]
    assert order == ["pycr_isolation_plan", "pycr_rootfs_plan", "pycr_rootfs_switch", "pycr_resource_limits",
                     "pycr_init_spawned", "pycr_container_created", "pycr_container_started", "pycr_container_stopped",
                     "pycr_cleanup", "pycr_container_deleted"]
    assert calls[0] == {**calls[0], "hook": "pycr_select_driver", "slot": "cgroup", "name": "cgroup_v1"}
    # every hook runs in the runtime process, never in the container's init
    init_pid = next(c["init"] for c in calls if c["hook"] == "pycr_container_created")
    assert {c["pid"] for c in calls} == {calls[0]["pid"]} and init_pid != calls[0]["pid"]
    by = {c["hook"]: c for c in calls}
    assert by["pycr_container_stopped"]["exit_status"] == 3
    assert by["pycr_resource_limits"]["driver"] == "cgroup_v1"
    assert by["pycr_rootfs_plan"]["bundle"] == bundle
    assert by["pycr_container_created"]["status"] == "created"
    assert by["pycr_init_spawned"] == {**by["pycr_init_spawned"], "status": "creating", "init": init_pid}
    assert by["pycr_container_started"]["status"] == "running"
    assert by["pycr_container_deleted"]["status"] == "stopped"
    assert by["pycr_cleanup"]["id"] == cid


def test_each_verb_runs_its_hooks_in_its_own_process(env, tmp_path):
    bundle = make_bundle(str(tmp_path / "b"), ["true"])
    root = str(tmp_path / "root")
    cid = new_id("verbs")
    try:
        _oci(env, root, "create", "--bundle", bundle, cid)
        _oci(env, root, "start", cid)
    finally:
        subprocess.run([PYCR_OCI, "--root", root, "delete", "--force", cid], env=env, capture_output=True)
    calls = [c for c in _calls(env) if c["hook"] != "pycr_select_driver"]
    pids = {}
    for c in calls:
        pids.setdefault(c["pid"], []).append(c["hook"])
    assert list(pids.values()) == [
        ["pycr_isolation_plan", "pycr_rootfs_plan", "pycr_rootfs_switch", "pycr_resource_limits",
         "pycr_init_spawned", "pycr_container_created"],
        ["pycr_container_started"],
        ["pycr_cleanup", "pycr_container_deleted"],
    ]
    assert "pycr_container_stopped" not in [c["hook"] for c in calls]  # only `run` waits for the exit
