"""dockerd (Debian's docker.io, with its own containerd and
containerd-shim-runc-v2) driving pycr-oci as its default runtime, the way
docker users run it: run, exit codes the daemon derives from the runtime's
error text, env and HOME, user, read-only root, binds, tmpfs, limits, the
detached lifecycle, exec, pause, kill, wait, a restart policy, ``docker
update --memory`` and 20 containers at once.  The daemon is the test's own
(data-root, exec-root, pidfile and socket in a temp dir, no iptables, no
bridge, cgroupfs under our cgroup); the image is a busybox tarball built
offline and ``docker load``-ed.  After each scenario nothing may remain."""

from __future__ import annotations

import concurrent.futures
import os
import shutil
import time

import pytest

from tests.helpers.engines import DOCKERD, dockerd_with_busybox, hierarchy_dirs

pytestmark = pytest.mark.root

IMAGE = "pycr-busybox:latest"


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    with dockerd_with_busybox(tmp_path_factory.mktemp("docker"), IMAGE, cmd=("sh", "-c", "echo default cmd")) as dk:
        yield dk
    assert not os.path.exists(dk.dir), "dockerd's temp dir was not removed"
    assert all(not os.path.exists(d) for d in hierarchy_dirs(dk.cgroup_parent))


@pytest.fixture
def dk(env):
    yield env
    deadline = time.monotonic() + 20  # the shim's cleanup ends after the container's exit
    while (left := env.leftovers()) and time.monotonic() < deadline:
        time.sleep(0.1)
    ids = env("ps", "-aq", check=False).stdout.split()
    if ids:
        env("rm", "--force", *ids, check=False)
    assert left == [], f"left behind: {left}"


def _run(dk, *args, check=True, **kw):
    return dk("run", "--rm", *dk.run_args(), *args, check=check, **kw)


def _detach(dk, *args) -> str:
    return dk("run", "-d", *dk.run_args(), *args).stdout.strip()


def _status(dk, cid) -> str:
    return dk("inspect", "--format", "{{.State.Status}}", cid).stdout.strip()


def test_runtime_is_pycr(dk):
    assert dk("info", "--format", "{{.DefaultRuntime}}").stdout.strip() == "pycr"
    r = _run(dk, IMAGE)
    assert r.stdout == "default cmd\n"
    r = _run(dk, "--name", "named1", IMAGE, "sh", "-c", "echo pid $$; grep :memory: /proc/1/cgroup")
    lines = r.stdout.splitlines()
    assert lines[0] == "pid 1"
    assert f"/{os.path.basename(dk.cgroup_parent)}/" in lines[1]  # docker's --cgroup-parent, cgroupfs


@pytest.mark.parametrize("argv, code", [
    (["sh", "-c", "exit 42"], 42),
    (["no-such-program"], 127),            # runc: executable file not found in $PATH
    (["/no/such/program"], 127),           # runc: stat ...: no such file or directory
    (["/etc"], 126),                       # runc: permission denied (a directory)
    (["/etc/passwd"], 126),                # runc: permission denied (not executable)
])
def test_exit_codes(dk, argv, code):
    r = _run(dk, IMAGE, *argv, check=False)
    assert r.returncode == code, (r.stdout, r.stderr)
    if code in (126, 127):
        assert r.stderr.count("\n") <= 3 and "Traceback" not in r.stderr


def test_env_home_and_hostname(dk):
    r = _run(dk, "-e", "GREETING=hi there", "--hostname", "box1", IMAGE,
             "sh", "-c", 'echo "$GREETING|$HOME|$(hostname)|$PATH"')
    greeting, home, host, path = r.stdout.rstrip("\n").split("|")
    assert (greeting, home, host) == ("hi there", "/root", "box1")
    assert "/bin" in path.split(":")
    r = _run(dk, "--user", "1000", IMAGE, "sh", "-c", 'echo "$HOME"')
    assert r.stdout.strip() == "/home/app"  # user 1000's entry in the image's /etc/passwd
    r = _run(dk, "--user", "4321", IMAGE, "sh", "-c", 'echo "$HOME"')
    assert r.stdout.strip() == "/"  # no entry: runc's fallback
    r = _run(dk, "-e", "HOME=/elsewhere", IMAGE, "sh", "-c", 'echo "$HOME"')
    assert r.stdout.strip() == "/elsewhere"


def test_user_and_groups(dk):
    r = _run(dk, "--user", "1000:1000", "--group-add", "2000", IMAGE, "id")
    out = r.stdout
    assert "uid=1000" in out and "gid=1000" in out and "2000" in out.split("groups=")[1]


def test_read_only_root_binds_and_tmpfs(dk, tmp_path):
    share = tmp_path / "share"
    share.mkdir()
    (share / "in.txt").write_text("from host\n")
    r = _run(dk, "--read-only", "-v", f"{share}:/share", "--tmpfs", "/scratch:size=1m", IMAGE, "sh", "-c",
             "cat /share/in.txt; echo out > /share/out.txt; echo t > /scratch/t && echo tmpfs-ok; "
             "touch /root/x 2>/dev/null && echo ROOT-WRITABLE || echo root-ro; "
             "grep ' /scratch ' /proc/mounts | cut -d' ' -f3")
    assert r.stdout.splitlines() == ["from host", "tmpfs-ok", "root-ro", "tmpfs"]
    assert (share / "out.txt").read_text() == "out\n"
    r = _run(dk, "-v", f"{share}:/share:ro", IMAGE, "sh", "-c", "echo x > /share/y 2>/dev/null || echo ro-bind")
    assert r.stdout.strip() == "ro-bind"


def test_limits(dk):
    r = _run(dk, "--memory", "64m", IMAGE, "busybox", "dd", "if=/dev/zero", "of=/dev/null", "bs=200M", "count=1",
             check=False)
    assert r.returncode == 137, (r.stdout, r.stderr)  # the OOM killer
    r = _run(dk, "--memory", "64m", "--pids-limit", "32", "--cpu-shares", "512", IMAGE, "sh", "-c",
             "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max "
             "/sys/fs/cgroup/cpu/cpu.shares")
    assert r.stdout.split() == [str(64 << 20), "32", "512"]
    r = _run(dk, "--pids-limit", "8", IMAGE, "sh", "-c",
             "i=0; while [ $i -lt 12 ]; do sleep 30 & i=$((i+1)); done; echo spawned", check=False)
    assert "can't fork" in r.stderr, (r.stdout, r.stderr)


def test_detached_lifecycle_stop_start_logs(dk):
    cid = _detach(dk, IMAGE, "sh", "-c", "echo started; trap 'echo bye; exit 3' TERM; while true; do sleep 0.1; done")
    assert _status(dk, cid) == "running"
    dk("stop", "--time", "20", cid)
    assert _status(dk, cid) == "exited"
    assert dk("inspect", "--format", "{{.State.ExitCode}}", cid).stdout.strip() == "3"
    dk("start", cid)
    assert _status(dk, cid) == "running"
    dk("stop", "--time", "20", cid)
    logs = dk("logs", cid).stdout
    assert logs.count("started") == 2 and logs.count("bye") == 2
    dk("rm", cid)


def test_exec(dk):
    cid = _detach(dk, IMAGE, "sleep", "1000")
    r = dk("exec", cid, "sh", "-c", "echo pid=$$ home=$HOME; cat /proc/1/cmdline | busybox tr '\\0' ' '")
    assert "sleep 1000" in r.stdout and "home=/root" in r.stdout
    assert int(r.stdout.split("pid=")[1].split()[0]) > 1
    r = dk("exec", "--user", "1000", "--workdir", "/tmp", "-e", "X=y", cid, "sh", "-c", "echo $(id -u) $(pwd) $X $HOME")
    assert r.stdout.split() == ["1000", "/tmp", "y", "/home/app"]
    assert dk("exec", cid, "sh", "-c", "exit 5", check=False).returncode == 5
    # docker exec maps every exec start failure to 126; the runtime's words reach the user
    r = dk("exec", cid, "no-such-program", check=False)
    assert r.returncode == 126 and 'exec: "no-such-program": executable file not found in $PATH' in r.stdout + r.stderr
    r = dk("exec", cid, "/etc", check=False)
    assert r.returncode == 126 and 'exec: "/etc": permission denied' in r.stdout + r.stderr
    dk("rm", "--force", cid)


def test_pause_unpause_kill_wait(dk):
    cid = _detach(dk, IMAGE, "sleep", "1000")
    dk("pause", cid)
    assert _status(dk, cid) == "paused"
    dk("unpause", cid)
    assert _status(dk, cid) == "running"
    dk("exec", cid, "true")
    dk("kill", "--signal", "KILL", cid)
    assert dk("wait", cid).stdout.strip() == "137"
    dk("rm", cid)
    cid = _detach(dk, IMAGE, "sh", "-c", "sleep 0.5; exit 7")
    assert dk("wait", cid).stdout.strip() == "7"
    dk("rm", cid)
    cid = _detach(dk, IMAGE, "sleep", "1000")
    dk("pause", cid)
    dk("rm", "--force", cid)  # a paused container is thawed and killed


def test_restart_policy(dk):
    cid = _detach(dk, "--restart", "on-failure:2", IMAGE, "sh", "-c", "echo run; exit 1")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if _status(dk, cid) == "exited" and dk("inspect", "--format", "{{.RestartCount}}", cid).stdout.strip() == "2":
            break
        time.sleep(0.2)
    assert dk("inspect", "--format", "{{.RestartCount}}", cid).stdout.strip() == "2"
    assert dk("logs", cid).stdout.count("run") == 3
    dk("rm", "--force", cid)


def test_update_memory(dk):
    cid = _detach(dk, "--memory", "64m", IMAGE, "sleep", "1000")
    limit = "cat /sys/fs/cgroup/memory/memory.limit_in_bytes"
    assert dk("exec", cid, "sh", "-c", limit).stdout.strip() == str(64 << 20)
    dk("update", "--memory", "96m", "--memory-swap", "192m", cid)  # pycr-oci update --resources
    assert dk("exec", cid, "sh", "-c", limit).stdout.strip() == str(96 << 20)
    assert dk("inspect", "--format", "{{.HostConfig.Memory}}", cid).stdout.strip() == str(96 << 20)
    dk("rm", "--force", cid)


def test_twenty_containers_at_once(dk):
    def one(i):
        return _run(dk, "--name", f"many{i}", IMAGE, "sh", "-c", f"echo $(hostname) {i}; exit {i % 7}",
                    check=False, timeout=300)

    with concurrent.futures.ThreadPoolExecutor(20) as pool:
        results = list(pool.map(one, range(20)))
    for i, r in enumerate(results):
        assert r.returncode == i % 7, (i, r.stderr)
        assert r.stdout.split()[1] == str(i)


def test_engine_gets_nothing_from_a_missing_docker_default_path():
    """The module's engine is the test's own: the system's dockerd is not involved."""
    assert shutil.which("dockerd") in (DOCKERD, None) or os.path.exists(DOCKERD)
