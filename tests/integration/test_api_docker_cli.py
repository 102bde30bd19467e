"""Debian's docker CLI (``docker.io``; its daemon is never started) driving ``pycr serve``.

Each test checks what a docker user would see, and that ``pycr`` itself sees
the same containers (one store, two front doors).
"""

from __future__ import annotations

import json
import os
import pty
import signal
import subprocess
import threading
import time

import pytest

from tests.helpers.api import DOCKER
from tests.helpers.engines import run
from tests.helpers.poll import until
from tests.integration.test_api_http import call
from tests.integration.test_oci_exec_tty import _read_until as read_until
from tests.helpers.registry import push_busybox

pytestmark = pytest.mark.root


def _pycr_ids(manage) -> set[str]:
    return {r["Id"] for r in manage.ps()}


def _pycr_images(manage) -> list[str]:
    return [r["name"] for r in json.loads(manage("images", "--format", "json", check=0).stdout)]


def test_version_and_info(api, clean):
    v = api.docker("version", "--format", "{{.Server.APIVersion}} {{.Server.Os}}", check=0)
    assert v.stdout.split() == ["1.41", "linux"]
    api.manage.run_d(api.manage.image, "sleep", "60")  # made by the CLI, counted by the API
    info = api.docker("info", "--format", "{{.Containers}} {{.ContainersRunning}} {{.LoggingDriver}}", check=0)
    assert info.stdout.split() == ["1", "1", "json-file"]


def test_pull_images_and_rmi(api, clean, registry):
    ref = push_busybox(registry, "api-pull", registry.scratch)
    r = api.docker("pull", ref, check=0)
    assert "Pull complete" in r.stdout and f"Status: Downloaded newer image for {ref}" in r.stdout
    assert "Digest: sha256:" in r.stdout
    rows = api.docker("images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}", check=0).stdout.splitlines()
    assert any(line.startswith(ref + " ") for line in rows)
    assert ref in _pycr_images(api.manage)  # the same store
    assert api.docker("image", "inspect", "--format", "{{.Os}}", ref, check=0).stdout.strip() == "linux"
    assert api.docker("history", "-q", ref, check=0).stdout.strip()
    r = api.docker("rmi", ref, check=0)
    assert f"Untagged: {ref}" in r.stdout
    assert ref not in api.docker("images", check=0).stdout
    assert ref not in _pycr_images(api.manage)


def test_run_rm_streams_and_exit_code(api, clean):
    r = api.docker("run", "--rm", api.manage.image, "sh", "-c", "echo out; echo err >&2; exit 3")
    assert (r.returncode, r.stdout, r.stderr) == (3, "out\n", "err\n")
    assert api.manage.ps() == []  # --rm: removed by the time docker returns
    r = api.docker("run", "--rm", api.manage.image, "true", check=0)
    assert r.stdout == ""


def test_capabilities_tmpfs_read_only_resources(api, clean):
    img = api.manage.image
    eff = api.docker("run", "--rm", "--cap-drop", "ALL", img, "grep", "CapEff", "/proc/self/status", check=0)
    assert eff.stdout.split() == ["CapEff:", "0000000000000000"]
    eff = api.docker("run", "--rm", "--cap-drop", "ALL", "--cap-add", "NET_RAW", img, "grep", "CapEff",
                     "/proc/self/status", check=0)  # (a capability outside docker's set needs --allow-privileged)
    assert int(eff.stdout.split()[1], 16) == 1 << 13  # CAP_NET_RAW only
    r = api.docker("run", "--rm", "--read-only", "--tmpfs", "/scratch:size=1m", img, "sh", "-c",
                   "grep ' /scratch ' /proc/mounts; echo x > /scratch/f && echo wrote; touch /nope || echo ro",
                   check=0)
    assert "tmpfs /scratch tmpfs" in r.stdout and "noexec" in r.stdout and "size=1024k" in r.stdout
    assert "wrote" in r.stdout and "ro" in r.stdout.split()
    r = api.docker("run", "--rm", "--memory", "32m", "--pids-limit", "9", "--cpus", "0.5", img, "sh", "-c",
                   "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max "
                   "/sys/fs/cgroup/cpu/cpu.cfs_quota_us 2>/dev/null || cat /sys/fs/cgroup/memory.max "
                   "/sys/fs/cgroup/pids.max /sys/fs/cgroup/cpu.max", check=0)
    assert r.stdout.split()[:2] == [str(32 << 20), "9"] and r.stdout.split()[2] == "50000"


def test_detached_container_lifecycle(api, clean):
    img = api.manage.image
    cid = api.docker("run", "-d", "--name", "web", "-e", "GREETING=hello", "--label", "team=api", img, "sh", "-c",
                     "echo $GREETING; i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.3; done",
                     check=0).stdout.strip()
    assert len(cid) == 64 and cid in _pycr_ids(api.manage)
    ps = api.docker("ps", "--format", "{{.ID}} {{.Names}} {{.Status}}", check=0).stdout.split()
    assert ps[:3] == [cid[:12], "web", "Up"]
    assert api.manage.state("web") == "running"

    follow = subprocess.Popen([DOCKER, "logs", "-f", "web"], env=api.env, stdout=subprocess.PIPE, text=True)
    first = [follow.stdout.readline() for _ in range(3)]
    assert first[0] == "hello\n" and first[1].startswith("tick ") and first[2].startswith("tick ")

    assert api.docker("exec", "web", "sh", "-c", "echo in-$GREETING", check=0).stdout == "in-hello\n"
    assert api.docker("exec", "web", "sh", "-c", "exit 4").returncode == 4
    assert api.docker("exec", "-e", "X=1", "-w", "/tmp", "web", "sh", "-c", "echo $X $(pwd)",
                      check=0).stdout == "1 /tmp\n"

    info = json.loads(api.docker("inspect", "web", check=0).stdout)[0]
    assert info["Id"] == cid and info["Name"] == "/web" and info["State"]["Running"]
    assert info["Config"]["Labels"] == {"team": "api"} and "GREETING=hello" in info["Config"]["Env"]
    assert info["State"]["Pid"] == api.manage.inspect("web")["State"]["Pid"]

    top = api.docker("top", "web", check=0).stdout.splitlines()
    assert top[0].split()[:2] == ["UID", "PID"] and any("while true" in line for line in top[1:])

    stats = api.docker("stats", "--no-stream", "--format", "{{.Name}} {{.PIDs}} {{.MemUsage}}", check=0).stdout
    name, pids, mem = stats.split(None, 2)
    assert name == "web" and int(pids) >= 1 and "iB" in mem

    api.docker("pause", "web", check=0)
    assert "(Paused)" in api.docker("ps", "--format", "{{.Status}}", check=0).stdout
    assert api.manage.state("web") == "paused"
    api.docker("unpause", "web", check=0)
    assert api.manage.state("web") == "running"

    api.docker("stop", "-t", "1", "web", check=0)
    assert follow.wait(30) == 0  # logs -f ends when the container stops
    follow.stdout.close()
    assert api.docker("wait", "web", check=0).stdout.strip() == "137"  # sh as pid 1 ignores SIGTERM
    assert "Exited (137)" in api.docker("ps", "-a", "--format", "{{.Status}}", check=0).stdout
    api.docker("start", "web", check=0)
    assert api.manage.state("web") == "running"
    api.docker("rm", "-f", "web", check=0)
    assert api.manage.ps() == []


def _read_until(fd: int, needle: bytes, timeout: float = 30) -> bytes:
    out = read_until(fd, needle, timeout)
    assert needle in out, f"never saw {needle!r}: {out!r}"
    return out


def test_exec_and_run_exit_codes_through_the_api(api, clean):
    """docker exec / run against pycr serve: 127 for a missing command, 126 for one that cannot
    run, with the runtime's words on one line; an exec's inspect says the same."""
    api.docker("run", "-d", "--name", "codes", api.manage.image, "sleep", "1000", check=0)
    for argv, code, words in ((["no-such-program"], 127, 'exec: "no-such-program": executable file not found'),
                              (["/etc"], 126, 'exec: "/etc": permission denied')):
        r = api.docker("exec", "codes", *argv)
        assert r.returncode == code and words in r.stderr and "Traceback" not in r.stderr, r
        r = api.docker("run", "--rm", api.manage.image, *argv)
        assert r.returncode == code and words in r.stderr and "Traceback" not in r.stderr, r
        status, _, raw = call(api, "POST", "/containers/codes/exec", json.dumps({"Cmd": argv}).encode(),
                              {"Content-Type": "application/json"})
        assert status == 201, raw
        eid = json.loads(raw)["Id"]
        status, _, raw = call(api, "POST", f"/exec/{eid}/start", b'{"Detach": true}',
                              {"Content-Type": "application/json"})
        assert status == 200, raw
        until(lambda: not json.loads(call(api, "GET", f"/exec/{eid}/json")[2])["Running"], "the exec ended")
        assert json.loads(call(api, "GET", f"/exec/{eid}/json")[2])["ExitCode"] == code
    assert api.docker("exec", "codes", "sh", "-c", "exit 126").returncode == 126  # the process's own
    api.docker("rm", "-f", "codes", check=0)


def test_exec_it_through_a_pty(api, clean):
    api.docker("run", "-d", "--name", "shell", api.manage.image, "sleep", "1000", check=0)
    pid, fd = pty.fork()
    if pid == 0:
        os.execve(DOCKER, [DOCKER, "exec", "-it", "shell", "sh"], api.env)
    try:
        import fcntl
        import struct
        import termios

        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 33, 111, 0, 0))
        _read_until(fd, b"# ")
        os.write(fd, b"echo $((6*7))\r")
        assert b"42" in _read_until(fd, b"42")
        os.write(fd, b"stty size\r")
        assert b"33 111" in _read_until(fd, b"33 111")
        os.write(fd, b"tty\r")
        assert b"/dev/pts/" in _read_until(fd, b"/dev/pts/")
        os.write(fd, b"exit 3\r")
        read_until(fd, b"\x00", timeout=15)  # until EOF
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 3
    finally:
        os.close(fd)
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass


def test_kill_wait_and_restart(api, clean):
    api.docker("run", "-d", "--name", "k", api.manage.image, "sh", "-c", "trap 'exit 143' TERM; sleep 1000 & wait",
               check=0)
    api.docker("kill", "k", check=0)
    assert api.docker("wait", "k", check=0).stdout.strip() == "137"
    assert api.manage.inspect("k")["State"]["ExitCode"] == 137
    api.docker("restart", "-t", "1", "k", check=0)
    assert api.manage.state("k") == "running"
    api.docker("kill", "-s", "TERM", "k", check=0)  # the trap handles it
    assert api.docker("wait", "k", check=0).stdout.strip() == "143"
    api.docker("rm", "k", check=0)
    # StopSignal: what docker stop sends first
    api.docker("run", "-d", "--name", "q", "--stop-signal", "SIGUSR1", api.manage.image, "sh", "-c",
               "trap 'exit 9' USR1; echo ready; while true; do sleep 0.1; done", check=0)
    until(lambda: "ready" in api.docker("logs", "q", check=0).stdout, "q ready")
    assert json.loads(api.docker("inspect", "q", check=0).stdout)[0]["Config"]["StopSignal"] == "SIGUSR1"
    api.docker("stop", "-t", "600", "q", check=0)
    assert api.manage.inspect("q")["State"]["ExitCode"] == 9
    api.docker("rm", "q", check=0)
    r = api.docker("create", "--stop-signal", "SIGBOGUS", api.manage.image, "true")
    assert r.returncode != 0 and "StopSignal: unknown signal 'SIGBOGUS'" in r.stderr


def test_tag_and_push(api, clean, registry):
    target = f"{registry.host}/api-pushed:v1"
    api.docker("tag", api.manage.image, target, check=0)
    assert target in api.docker("images", "--format", "{{.Repository}}:{{.Tag}}", check=0).stdout.split()
    r = api.docker("push", target, check=0)
    assert f"The push refers to repository [{registry.host}/api-pushed]" in r.stdout
    assert "v1: digest: sha256:" in r.stdout
    digest = r.stdout.split("digest: ")[1].split()[0]
    seen = subprocess.run(["skopeo", "inspect", "--tls-verify=false", f"docker://{target}"], capture_output=True,
                          text=True, check=True)
    assert json.loads(seen.stdout)["Digest"] == digest
    api.docker("rmi", target, check=0)


def test_build(api, clean, tmp_path):
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "hello.txt").write_text("hello\n")
    (ctx / "Dockerfile").write_text(f"FROM {api.manage.image}\nRUN echo built > /built\nCOPY hello.txt /hello.txt\n"
                                    'CMD ["cat", "/hello.txt", "/built"]\n')
    env_classic = {"DOCKER_BUILDKIT": "0"}
    r = run([DOCKER, "build", "-t", "api-built:1", str(ctx)], check=False, env={**api.env, **env_classic})
    assert r.returncode == 0, r.stderr + r.stdout
    assert "Successfully built " in r.stdout and "Successfully tagged api-built:1" in r.stdout
    assert api.docker("run", "--rm", "api-built:1", check=0).stdout == "hello\nbuilt\n"
    (ctx / "Dockerfile").write_text(f"FROM {api.manage.image}\nRUN exit 3\n")
    r = run([DOCKER, "build", str(ctx)], check=False, env={**api.env, **env_classic})
    assert r.returncode != 0 and "Traceback" not in r.stderr and r.stderr.strip()
    api.docker("rmi", "api-built:1", check=0)


def test_events_stream_shows_api_and_cli_containers(api, clean):
    ev = subprocess.Popen([DOCKER, "events", "--filter", "type=container", "--format",
                           "{{.Action}} {{.Actor.Attributes.name}}"], env=api.env, stdout=subprocess.PIPE, text=True)
    try:
        got = []
        reader = threading.Thread(target=lambda: got.extend(line.strip() for line in ev.stdout), daemon=True)
        reader.start()

        def until(*want):
            deadline = time.monotonic() + 30
            while not all(w in got for w in want):
                assert time.monotonic() < deadline, got
                time.sleep(0.2)

        # subscribed: events from before `docker events` subscribed are not sent, so a probe container is
        # made (again, if its create did not show within a few seconds) until its create is in the stream
        deadline = time.monotonic() + 60
        while "create evprobe" not in got:
            assert time.monotonic() < deadline, f"docker events never showed a probe's create: {got}"
            api.docker("create", "--name", "evprobe", api.manage.image, "true", check=0)
            shown = time.monotonic() + 3
            while "create evprobe" not in got and time.monotonic() < shown:
                time.sleep(0.1)
            api.docker("rm", "evprobe", check=0)
        until("destroy evprobe")

        # the API's own steps are published as it takes them, however short the container's life
        api.docker("run", "--rm", "--name", "ev1", api.manage.image, "true", check=0)
        until("create ev1", "start ev1", "die ev1", "destroy ev1")
        # the CLI's containers are found by sampling the store (docs/api.md): one seen running
        api.manage.run_d("--name", "ev2", api.manage.image, "sleep", "100")  # the CLI, same store
        until("create ev2", "start ev2")
        api.manage("rm", "-f", "ev2", check=0)
        until("die ev2", "destroy ev2")
        assert got.index("create ev1") < got.index("start ev1") < got.index("die ev1") < got.index("destroy ev1")
    finally:
        ev.terminate()
        ev.wait(10)
        ev.stdout.close()


def test_errors_are_one_line(api, clean):
    r = api.docker("rm", "nosuch")
    assert r.returncode == 1 and "No such container: nosuch" in r.stderr
    r = api.docker("run", "--rm", "-p", "8080:80", api.manage.image, "true")  # the suite's PYCR_NETWORK=none
    assert r.returncode != 0 and "--network none has no address of its own" in r.stderr and "Traceback" not in r.stderr
    r = api.docker("run", "--rm", "-v", "/etc:/x", api.manage.image, "true")
    assert r.returncode != 0 and "HostConfig.Binds: /etc is outside" in r.stderr
    api.docker("run", "-d", "--name", "busy", api.manage.image, "sleep", "100", check=0)
    r = api.docker("rm", "busy")
    assert r.returncode == 1 and "it is running" in r.stderr
    r = api.docker("run", "-d", "--name", "busy", api.manage.image, "true")
    assert r.returncode != 0 and "already in use" in r.stderr
    r = api.docker("run", "-i", "--rm", api.manage.image, "cat", input="x\n")
    assert r.returncode != 0 and "AttachStdin: a managed container's stdin belongs to its monitor" in r.stderr
    assert len(api.manage.ps()) == 1  # nothing half-made
