"""containerd (through containerd-shim-runc-v2) driving pycr-oci as its
runc: run, exec, ps, pause/resume, kill, a memory limit and a tty.  The
test starts its own containerd (root, state and sockets in a temporary
directory), pulls from its own registry on 127.0.0.1, puts containers under
its own cgroup, and checks nothing is left after each scenario."""

from __future__ import annotations

import json
import os
import shutil
import time

import pytest

from tests.helpers.engines import PYCR_OCI, Containerd
from tests.helpers.registry import RegistryServer, missing_tools, push_busybox

pytestmark = pytest.mark.root


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    if shutil.which("containerd") is None or shutil.which("ctr") is None:
        pytest.fail("containerd missing: apt-get install containerd")
    if missing_tools():
        pytest.fail(f"missing tools: apt-get install {' '.join(missing_tools())}")
    work = tmp_path_factory.mktemp("containerd")
    with RegistryServer(work / "registry") as reg:
        ref = push_busybox(reg, "busybox", work)
        with Containerd(work / "cd") as cd:
            cd.ctr("images", "pull", "--plain-http", ref)
            yield cd, ref


@pytest.fixture
def cd(env):
    cd, ref = env
    yield cd, ref
    deadline = time.monotonic() + 15  # the shim exits, and its cleanup ends, after the task
    while (left := cd.leftovers()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert left == [], f"left behind: {left}"


def _run(cd, ref, cid, *args, extra=(), check=True):
    return cd.ctr("run", "--rm", "--runc-binary", PYCR_OCI, "--cgroup", f"{cd.cgroup_parent}/{cid}", *extra,
                  ref, cid, *args, check=check)


def _task_status(cd, cid):
    for line in cd.ctr("tasks", "ls").stdout.splitlines()[1:]:
        fields = line.split()
        if fields[0] == cid:
            return fields[2]
    return None


def test_run_rm(cd):
    cd, ref = cd
    r = _run(cd, ref, "run1", "sh", "-c", "echo hello from pid $$")
    assert r.stdout.strip() == "hello from pid 1"
    assert _run(cd, ref, "run2", "sh", "-c", "exit 9", check=False).returncode == 9


def test_exec_ps_pause_resume_kill(cd):
    cd, ref = cd
    cid = "long1"
    cd.ctr("run", "-d", "--runc-binary", PYCR_OCI, "--cgroup", f"{cd.cgroup_parent}/{cid}", ref, cid, "sleep", "1000")
    try:
        r = cd.ctr("tasks", "exec", "--exec-id", "e1", cid, "sh", "-c", "echo exec pid $$; cat /proc/1/cmdline")
        assert "exec pid " in r.stdout and "sleep" in r.stdout
        assert cd.ctr("tasks", "exec", "--exec-id", "e2", cid, "sh", "-c", "exit 4", check=False).returncode == 4
        ps = cd.ctr("tasks", "ps", cid).stdout.split()
        init_pid = int(cd.ctr("tasks", "ls").stdout.split(cid)[1].split()[0])
        assert str(init_pid) in ps
        cd.ctr("tasks", "pause", cid)
        assert _task_status(cd, cid) == "PAUSED"
        cd.ctr("tasks", "resume", cid)
        assert _task_status(cd, cid) == "RUNNING"
        cd.ctr("tasks", "kill", "-s", "SIGKILL", cid)
        deadline = time.monotonic() + 20
        while _task_status(cd, cid) != "STOPPED" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _task_status(cd, cid) == "STOPPED"
    finally:
        cd.ctr("tasks", "delete", "--force", cid, check=False)
        cd.ctr("containers", "rm", cid, check=False)


def test_memory_limit(cd):
    cd, ref = cd
    r = _run(cd, ref, "mem1", "busybox", "dd", "if=/dev/zero", "of=/dev/null", "bs=200M", "count=1",
             extra=("--memory-limit", str(64 << 20)), check=False)
    assert r.returncode == 137, (r.stdout, r.stderr)
    r = _run(cd, ref, "mem2", "sh", "-c", "busybox dd if=/dev/zero of=/dev/null bs=8M count=1 2>/dev/null; echo fits",
             extra=("--memory-limit", str(64 << 20)))
    assert r.stdout.strip() == "fits"


def _in_pty(argv) -> tuple[bytes, int]:
    """Run ``argv`` with a pty as its terminal (ctr -t insists on one); output and exit status."""
    import pty
    import select

    pid, master = pty.fork()
    if pid == 0:
        os.execvp(argv[0], argv)
    out, deadline = b"", time.monotonic() + 60
    while time.monotonic() < deadline:
        if select.select([master], [], [], 0.2)[0]:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
    os.close(master)
    _, status = os.waitpid(pid, 0)
    return out, os.waitstatus_to_exitcode(status)


def test_run_tty_and_exec_tty(cd):
    cd, ref = cd
    ctr = ["ctr", "--address", cd.socket, "--namespace", cd.namespace]
    out, code = _in_pty([*ctr, "run", "--rm", "-t", "--runc-binary", PYCR_OCI, "--cgroup",
                         f"{cd.cgroup_parent}/tty1", ref, "tty1", "sh", "-c", "busybox tty; echo tty-done"])
    assert b"/dev/pts/" in out and b"tty-done" in out, out
    assert code == 0
    cid = "tty2"
    cd.ctr("run", "-d", "--runc-binary", PYCR_OCI, "--cgroup", f"{cd.cgroup_parent}/{cid}", ref, cid, "sleep", "1000")
    try:
        out, code = _in_pty([*ctr, "tasks", "exec", "-t", "--exec-id", "t1", cid, "sh", "-c",
                             "busybox tty; echo exec-tty-done; exit 6"])
        assert b"/dev/pts/" in out and b"exec-tty-done" in out, out
        assert code == 6
    finally:
        cd.ctr("tasks", "kill", "-s", "SIGKILL", cid, check=False)
        deadline = time.monotonic() + 20
        while _task_status(cd, cid) not in ("STOPPED", None) and time.monotonic() < deadline:
            time.sleep(0.05)
        cd.ctr("tasks", "delete", "--force", cid, check=False)
        cd.ctr("containers", "rm", cid, check=False)


def test_runtime_log_is_json(cd):
    """The shim passes --log B/log.json --log-format json and reports the last error line."""
    cd, ref = cd
    r = _run(cd, ref, "bad1", "no-such-binary", check=False)
    assert r.returncode != 0
    assert "no-such-binary" in r.stderr
    cd.ctr("containers", "rm", "bad1", check=False)
    logs = [os.path.join(dp, "log.json") for dp, _, fs in os.walk(cd.dir / "state") if "log.json" in fs]
    for path in logs:
        for line in open(path):
            json.loads(line)
