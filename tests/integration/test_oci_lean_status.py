"""The lean paths of `start`, `state`, `kill` and `create` (docs/performance.md, fifth round):
the status read from the freezer files create recorded, without importing the cgroup driver,
agrees with the driver's in every state; create's intent journal is appended, not renamed over."""

import json
import os
import subprocess
from types import SimpleNamespace

import pytest

from tests.conftest import PYCR_OCI

pytestmark = pytest.mark.root


def _state_file(state_root, cid) -> dict:
    with open(os.path.join(state_root, cid, "state.json")) as f:
        return json.load(f)


def _driver_status(state_root, cid) -> str:
    """What the cgroup driver itself says (the path every status took before)."""
    from pycr.core.runtime.lifecycle import cgroup_of
    from pycr.core.runtime.state import Container

    c = Container.load(state_root, cid)
    opts = SimpleNamespace(root=state_root, disabled_plugins=[], trace=False, trace_file=None)
    return c.status(cgroup_of(opts, c))


def _imports(state_root, *args) -> tuple[subprocess.CompletedProcess, str]:
    """Run a verb with -X importtime (PYTHONPROFILEIMPORTTIME): its result and the imported modules."""
    done = subprocess.run([PYCR_OCI, "--root", state_root, *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPROFILEIMPORTTIME": "1"})
    modules = " ".join(line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines()
                       if line.startswith("import time:"))
    return done, modules


def test_paused_and_created_are_told_apart_without_the_driver(run_oci, bundle, cid, container, state_root):
    assert run_oci("create", "--bundle", bundle(["sleep", "60"]), cid).returncode == 0
    container.append(cid)
    recorded = _state_file(state_root, cid)["freezer"]
    assert recorded and all(os.path.exists(path) for path, _ in recorded)  # the driver named real files

    for want, step in (("created", None), ("paused", "pause"), ("created", "resume")):
        if step:
            assert run_oci(step, cid).returncode == 0
        done, modules = _imports(state_root, "state", cid)
        assert json.loads(done.stdout)["status"] == want
        assert _driver_status(state_root, cid) == want
        assert "pycr.plugins.cgroup_v" not in modules and "pycr.core.cgroups" not in modules, modules

    assert run_oci("pause", cid).returncode == 0
    refused = run_oci("start", cid)
    assert refused.returncode != 0 and refused.stderr.strip().endswith("cannot start a paused container")
    refused = run_oci("delete", cid)
    assert refused.returncode != 0 and "not stopped: paused" in refused.stderr
    assert run_oci("resume", cid).returncode == 0

    done, modules = _imports(state_root, "start", cid)
    assert done.returncode == 0, done.stderr
    assert "pycr.plugins.cgroup_v" not in modules and "oci_hooks" not in modules, modules
    assert json.loads(run_oci("state", cid).stdout)["status"] == "running" == _driver_status(state_root, cid)
    assert run_oci("pause", cid).returncode == 0
    assert json.loads(run_oci("state", cid).stdout)["status"] == "paused" == _driver_status(state_root, cid)
    done, modules = _imports(state_root, "kill", cid, "KILL")  # a paused container is not stopped
    assert done.returncode == 0, done.stderr
    assert "pycr.plugins.cgroup_v" not in modules, modules
    assert run_oci("delete", "--force", cid).returncode == 0
    assert run_oci("state", cid).returncode != 0


def test_a_state_without_freezer_files_asks_the_driver(run_oci, bundle, cid, container, state_root):
    """A container created before the freezer files were recorded (or by a driver without
    ``freezer_files``): its status comes from the driver, paused included."""
    assert run_oci("create", "--bundle", bundle(["sleep", "60"]), cid).returncode == 0
    container.append(cid)
    path = os.path.join(state_root, cid, "state.json")
    data = _state_file(state_root, cid)
    del data["freezer"]
    with open(path, "w") as f:
        json.dump(data, f)
    assert run_oci("pause", cid).returncode == 0
    done, modules = _imports(state_root, "state", cid)
    assert json.loads(done.stdout)["status"] == "paused"
    assert "pycr.plugins.cgroup_v" in modules
    refused = run_oci("start", cid)
    assert refused.returncode != 0 and "cannot start a paused container" in refused.stderr
    assert run_oci("resume", cid).returncode == 0
    assert run_oci("start", cid).returncode == 0
    assert json.loads(run_oci("state", cid).stdout)["status"] == "running"


def test_create_renames_only_its_state_file(run_oci, bundle, cid, container, state_root, tmp_path):
    """The intent journal is appended to (one line per record): no rename over an existing file,
    which ext4 turns into a write-out; state.json is renamed into place once, to a new name."""
    trace, err = tmp_path / "strace.out", tmp_path / "stderr"
    container.append(cid)
    with open(err, "w") as stderr:  # not a pipe: the created init keeps its stdio open
        done = subprocess.run(["strace", "-qq", "-e", "trace=rename,renameat,renameat2", "-o", str(trace),
                               PYCR_OCI, "--root", state_root, "create", "--bundle", bundle(["sleep", "60"]), cid],
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr, timeout=60)
    assert done.returncode == 0, err.read_text()
    renames = [line for line in trace.read_text().splitlines() if "rename" in line]
    assert len(renames) == 1 and renames[0].count("state.json") == 2, renames
    # the journal stays beside state.json, its last record the same cgroup and init (delete --force's
    # second source when damage takes them from state.json)
    state = json.loads(open(os.path.join(state_root, cid, "state.json")).read())
    last = json.loads(open(os.path.join(state_root, cid, "intent.json")).read().splitlines()[-1])
    assert last["cgroup"] == state["cgroup"] and last["pids"][-1] == [state["pid"], state["pid_start"]]


def test_an_aborted_create_is_undone_from_the_last_whole_journal_line(run_oci, state_root, cid):
    """A create killed while appending leaves a cut-short last line: delete --force takes the record
    before it, kills the processes it names and removes the directory."""
    from pycr.core.runtime.state import proc_start_time

    sleeper = subprocess.Popen(["sleep", "1000"])
    try:
        d = os.path.join(state_root, cid)
        os.makedirs(d)
        first = {"annotations": {}}
        second = {"annotations": {}, "pids": [[sleeper.pid, proc_start_time(sleeper.pid)]]}
        with open(os.path.join(d, "intent.json"), "w") as f:
            f.write(json.dumps(first) + "\n" + json.dumps(second) + "\n" + '{"annotations": {}, "pids": [[')
        done = run_oci("delete", "--force", cid)
        assert done.returncode == 0, done.stderr
        assert sleeper.wait(timeout=10) == -9
        assert not os.path.exists(d)
    finally:
        if sleeper.poll() is None:
            sleeper.kill()
            sleeper.wait()
