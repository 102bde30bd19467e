"""podman (with conmon) driving pycr-oci as its OCI runtime: run, run -t,
exec, pause/unpause, stop, kill, and a memory limit enforced by the OOM
killer.  Storage, config and cgroups live in temporary places; after each
scenario nothing of it may remain (container, cgroup, mount, process)."""

from __future__ import annotations

import json
import os
import shutil
import time

import pytest

from tests.helpers.engines import PYCR_OCI, Podman
from tests.helpers.registry import RegistryServer, missing_tools, push_busybox

pytestmark = pytest.mark.root


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    if shutil.which("podman") is None or shutil.which("conmon") is None:
        pytest.fail("podman/conmon missing: apt-get install podman")
    if missing_tools():
        pytest.fail(f"missing tools: apt-get install {' '.join(missing_tools())}")
    work = tmp_path_factory.mktemp("podman")
    with RegistryServer(work / "registry") as reg:
        ref = push_busybox(reg, "busybox", work)
        pm = Podman(runtime=PYCR_OCI, registry=reg.host)
        try:
            pm("pull", ref)
            yield pm, ref
        finally:
            forced = pm.close()
            assert not forced, forced


@pytest.fixture
def podman(env):
    pm, ref = env
    yield pm, ref
    deadline = time.monotonic() + 15  # conmon's cleanup (podman container cleanup) runs after exit
    while (left := pm.leftovers()) and time.monotonic() < deadline:
        time.sleep(0.1)
    pm("rm", "--all", "--force", "--time", "0", check=False)
    assert left == [], f"left behind: {left}"


def test_runtime_is_pycr_oci(podman):
    pm, ref = podman
    info = json.loads(pm("info", "--format", "json").stdout)
    assert info["host"]["ociRuntime"]["path"] == PYCR_OCI


def test_run_rm_echo(podman):
    pm, ref = podman
    r = pm("run", "--rm", *pm.run_args(), ref, "sh", "-c", "echo hello from $(hostname) as $(id -u); echo $$")
    lines = r.stdout.splitlines()
    assert lines[0].startswith("hello from ") and lines[0].endswith(" as 0")
    assert lines[1] == "1"  # the user's process is the container's pid 1
    r = pm("run", "--rm", *pm.run_args(), ref, "sh", "-c", "exit 42", check=False)
    assert r.returncode == 42


def test_run_tty(podman):
    pm, ref = podman
    r = pm("run", "--rm", "-t", *pm.run_args(), ref, "sh", "-c", "busybox tty; busybox stty size; echo done")
    out = r.stdout.replace("\r", "")
    assert "/dev/pts/0" in out and "done" in out


def test_run_interactive_stdin_and_restart(podman):
    pm, ref = podman
    r = pm("run", "--rm", "-i", *pm.run_args(), ref, "sh", "-c", "cat; echo end", input="piped in\n")
    assert r.stdout == "piped in\nend\n"
    cid = pm("run", "-d", *pm.run_args(), ref, "sh", "-c", "echo started; sleep 1000").stdout.strip()
    pm("restart", "--time", "0", cid)
    assert pm("inspect", "--format", "{{.State.Status}}", cid).stdout.strip() == "running"
    assert pm("logs", cid).stdout.count("started") == 2
    pm("rm", "--force", "--time", "0", cid)


def test_exec_and_pause_unpause(podman):
    pm, ref = podman
    cid = pm("run", "-d", *pm.run_args(), ref, "sleep", "1000").stdout.strip()
    r = pm("exec", cid, "sh", "-c", "echo pid=$$; cat /proc/1/cmdline | busybox tr '\\0' ' '")
    assert "pid=" in r.stdout and "sleep 1000" in r.stdout
    assert int(r.stdout.split("pid=")[1].split()[0]) > 1
    r = pm("exec", "-t", cid, "busybox", "tty")
    assert "/dev/pts/" in r.stdout
    r = pm("exec", "--user", "1000", "--workdir", "/tmp", "-e", "X=y", cid, "sh", "-c", "echo $(id -u) $(pwd) $X")
    assert r.stdout.split() == ["1000", "/tmp", "y"]
    assert pm("exec", cid, "sh", "-c", "exit 5", check=False).returncode == 5
    pm("pause", cid)
    assert pm("inspect", "--format", "{{.State.Status}}", cid).stdout.strip() == "paused"
    pm("unpause", cid)
    assert pm("inspect", "--format", "{{.State.Status}}", cid).stdout.strip() == "running"
    pm("exec", cid, "true")
    pm("pause", cid)
    pm("rm", "--force", "--time", "0", cid)  # a paused container is thawed and killed


def test_stop_runs_the_trap(podman):
    pm, ref = podman
    cid = pm("run", "-d", *pm.run_args(), ref, "sh", "-c",
             "trap 'exit 3' TERM; while true; do sleep 0.1; done").stdout.strip()
    pm("stop", "--time", "10", cid)
    assert pm("inspect", "--format", "{{.State.ExitCode}}", cid).stdout.strip() == "3"
    pm("rm", cid)


def test_kill(podman):
    pm, ref = podman
    cid = pm("run", "-d", *pm.run_args(), ref, "sleep", "1000").stdout.strip()
    pm("kill", cid)
    pm("wait", cid)
    assert pm("inspect", "--format", "{{.State.ExitCode}}", cid).stdout.strip() == "137"
    pm("rm", cid)


def test_memory_limit_ooms(podman):
    pm, ref = podman
    r = pm("run", "--rm", "--memory", "64m", *pm.run_args(), ref,
           "busybox", "dd", "if=/dev/zero", "of=/dev/null", "bs=200M", "count=1", check=False)
    assert r.returncode == 137, (r.stdout, r.stderr)  # the OOM killer's SIGKILL
    r = pm("run", "--rm", "--memory", "64m", *pm.run_args(), ref,
           "sh", "-c", "busybox dd if=/dev/zero of=/dev/null bs=8M count=1 2>/dev/null; echo fits")
    assert r.stdout.strip() == "fits"


def test_runtime_state_is_removed(podman):
    pm, ref = podman
    cid = pm("run", "-d", *pm.run_args(), ref, "sleep", "1000").stdout.strip()
    assert cid in os.listdir(pm.state_root)
    pm("rm", "--force", "--time", "0", cid)
    assert cid not in os.listdir(pm.state_root)
    cid = pm("run", "--rm", "-d", *pm.run_args(), ref, "sleep", "0.2").stdout.strip()
    pm("wait", cid, check=False)
    deadline = time.monotonic() + 20  # conmon's cleanup runs after the container exits
    while cid in os.listdir(pm.state_root) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert cid not in os.listdir(pm.state_root)


@pytest.mark.parametrize("argv, code", [
    (["no-such-program"], 127),   # runc's "executable file not found in $PATH"
    (["/no/such/program"], 127),  # runc's "stat ...: no such file or directory"
    (["/etc"], 126),              # runc's "permission denied": a directory
    (["/etc/passwd"], 126),       # ... and a file that is not executable
])
def test_exit_codes_from_the_runtimes_words(podman, argv, code):
    pm, ref = podman
    r = pm("run", "--rm", *pm.run_args(), ref, *argv, check=False)
    assert r.returncode == code, (r.stdout, r.stderr)


def test_home_comes_from_the_images_passwd(podman):
    pm, ref = podman
    r = pm("run", "--rm", *pm.run_args(), ref, "sh", "-c", 'echo "$HOME"')
    assert r.stdout.strip() == "/root"
    r = pm("run", "--rm", "--user", "1000", *pm.run_args(), ref, "sh", "-c", 'echo "$HOME"')
    assert r.stdout.strip() == "/home/app"
