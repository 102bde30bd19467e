"""``--monitor conmon``: detached containers watched by the real conmon, driven through the ``pycr`` CLI."""

from __future__ import annotations

import os
import shutil
import subprocess
import time

import pytest

from tests.conftest import PYCR
from tests.helpers.poll import until

pytestmark = [pytest.mark.root,
              pytest.mark.skipif(shutil.which("conmon") is None, reason="conmon is not installed (scripts/install.sh)")]
CM = ("--monitor", "conmon")
LOOP = "echo started; echo oops >&2; i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done"


def conmons(p) -> list[str]:
    """Live conmon processes of ``p``'s store."""
    return p.monitors("conmon")


@pytest.fixture
def cm(clean):
    yield clean
    assert conmons(clean) == []


def test_run_d_logs_inspect_ps_and_memory_kept_low(cm):
    p = cm
    cid = p.run_d(*CM, "--name", "web", p.image, "sh", "-c", LOOP)
    info = p.inspect("web")
    assert info["Monitor"] == "conmon" and info["LogFormat"] == "k8s-file"
    assert info["State"]["Status"] == "running" and info["State"]["Pid"] > 0
    monitor = info["State"]["MonitorPid"]
    with open(f"/proc/{monitor}/comm") as f:
        assert f.read().strip() == "conmon"
    with open(f"/proc/{monitor}/cmdline", "rb") as f:
        assert cid.encode() in f.read()
    assert [(r["Id"], r["State"]) for r in p.ps()] == [(cid, "running")]
    until(lambda: (out := p("logs", "web", check=0)).stdout.startswith("started\ntick 0\ntick 1\n")
          and out.stderr == "oops\n", "started, two ticks and oops in the logs (stdout and stderr apart)")
    # conmon reads stdout and stderr from two pipes: "oops" may land after "tick 0" or "tick 1";
    # once "tick 3" is there the last two entries are ticks whatever that order was
    until(lambda: "tick 3\n" in p.logs("web"), "a fourth tick")
    assert p.logs("web", "--tail", "2").count("\n") == 2 and p.logs("web", "--tail", "2").startswith("tick")
    stamped = p.logs("web", "--tail", "1", "--timestamps")
    assert stamped[:4].isdigit() and stamped.split(" ", 1)[1].startswith("tick")
    with open(info["LogPath"]) as f:  # conmon's own k8s-file format
        first = f.readline().split(" ", 3)
    assert first[1:] == ["stdout", "F", "started\n"]
    # everything conmon keeps is under the container's directory
    cdir = os.path.join(p.store, "containers", cid)
    assert os.path.isfile(os.path.join(cdir, "conmon", "conmon.pid"))
    p("rm", "-f", "web", check=0)
    assert not os.path.exists(cdir) and conmons(p) == []


def test_stop_start_kill_wait_exit_codes(cm):
    p = cm
    p.run_d(*CM, "--name", "svc", p.image, "sh", "-c",
            "trap 'echo got TERM; exit 3' TERM; trap 'exit 9' USR1; echo ready; while true; do sleep 0.1; done")

    def traps_set(instances):
        until(lambda: p.logs("svc").count("ready\n") == instances, f"instance {instances} ready")

    traps_set(1)
    first_monitor = p.inspect("svc")["State"]["MonitorPid"]
    p("stop", "-t", "600", "svc", check=0)
    info = p.inspect("svc")
    assert info["State"]["Status"] == "exited" and info["State"]["ExitCode"] == 3 and info["State"]["MonitorPid"] == 0
    assert "got TERM" in p.logs("svc") and "Exited (3)" in p("ps", "-a", check=0).stdout
    assert conmons(p) == []
    p("start", "svc", check=0)
    info = p.wait_for("svc", "running")
    assert info["Monitor"] == "conmon" and info["State"]["MonitorPid"] not in (0, first_monitor)
    traps_set(2)
    p("restart", "-t", "1", "svc", check=0)
    again = p.wait_for("svc", "running")
    assert again["State"]["Pid"] != info["State"]["Pid"] and again["State"]["MonitorPid"] != info["State"]["MonitorPid"]
    traps_set(3)
    waiter = p.popen("wait", "svc", stdout=subprocess.PIPE, text=True)
    time.sleep(0.3)
    assert waiter.poll() is None
    p("kill", "-s", "USR1", "svc", check=0)
    assert waiter.communicate(timeout=30)[0].strip() == "9"
    assert p.wait_for("svc", "exited")["State"]["ExitCode"] == 9
    p.run_d(*CM, "--name", "stubborn", p.image, "sleep", "1000")
    p("kill", "stubborn", check=0)
    assert p.wait_for("stubborn", "exited")["State"]["ExitCode"] == 137


def test_logs_follow_ends_with_the_container_and_partial_lines(cm):
    p = cm
    p.run_d(*CM, "--name", "short", p.image, "sh", "-c",
            "for i in 1 2 3; do echo line $i; sleep 0.3; done; printf 'no newline'")
    r = p("logs", "-f", "short", timeout=30, check=0)
    assert r.stdout == "line 1\nline 2\nline 3\nno newline"
    assert p.wait_for("short", "exited")["State"]["ExitCode"] == 0


def test_create_then_start_and_auto_remove(cm):
    p = cm
    cid = p("create", "-q", *CM, "--name", "later", p.image, "sh", "-c", "echo ran").stdout.strip()
    p.seen.add(cid)
    assert p.inspect("later")["Monitor"] == "conmon" and p.logs("later") == ""
    p("start", "later", check=0)
    assert p.wait_for("later", "exited")["State"]["ExitCode"] == 0
    assert p.logs("later") == "ran\n"
    gone = p.run_d(*CM, "--rm", p.image, "sh", "-c", "sleep 0.3")
    until(lambda: gone not in {r["Id"] for r in p.ps()}, "--rm container removed", timeout=30)
    assert not os.path.exists(os.path.join(p.store, "containers", gone))
    until(lambda: conmons(p) == [], "its conmon gone")


def test_restart_policies(cm):
    p = cm
    p.run_d(*CM, "--name", "flaky", "--restart", "on-failure:2", p.image, "sh", "-c", "echo try; exit 4")
    until(lambda: (i := p.inspect("flaky"))["RestartCount"] >= 2 and i["State"]["Status"] == "exited",
          "two restarts, then exited", timeout=30)
    time.sleep(1)
    info = p.inspect("flaky")
    assert info["RestartCount"] == 2 and info["State"]["ExitCode"] == 4
    assert p.logs("flaky") == "try\n" * 3
    p.run_d(*CM, "--name", "forever", "--restart", "always", p.image, "sh", "-c", "sleep 0.2")
    until(lambda: p.inspect("forever")["RestartCount"] >= 3, "three restarts", timeout=30)
    info = p.wait_for("forever", "running")
    assert info["Monitor"] == "conmon"
    # one conmon per container, never the old one waiting on the new
    assert len([c for c in conmons(p) if p.inspect("forever")["Id"] in c]) <= 1
    p("stop", "forever", check=0)
    count = p.inspect("forever")["RestartCount"]
    time.sleep(1.5)
    assert p.inspect("forever")["RestartCount"] == count and p.state("forever") == "exited"


def test_refusals_make_nothing(cm, monkeypatch):
    p = cm
    for verb in (("run", "-d"), ("create",)):
        r = p(*verb, "--monitor", "nosuch", p.image, "true")
        assert r.returncode != 0 and r.stderr == ("--monitor: monitor driver 'nosuch' is not installed; "
                                                  "choose one of: conmon, pycr\n"), r
    p.env["PYCR_MONITOR"] = "nosuch"  # the default comes from the environment
    try:
        r = p("run", "-d", p.image, "true")
        assert r.returncode != 0 and "monitor driver 'nosuch'" in r.stderr
        p.env["PYCR_MONITOR"] = "conmon"
        cid = p.run_d("--name", "fromenv", p.image, "true")
        assert p.inspect(cid)["Monitor"] == "conmon"
        p.wait_for(cid, "exited")
    finally:
        del p.env["PYCR_MONITOR"]
    assert [r["Names"] for r in p.ps()] == ["fromenv"]  # nothing made by the refused ones
    # conmon not installed: PATH without it
    p.env["PATH"] = "/nonexistent"
    try:
        r = p("run", "-d", *CM, p.image, "true")
    finally:
        p.env["PATH"] = os.environ["PATH"]
    assert r.returncode != 0 and r.stderr.startswith("--monitor conmon: conmon is not installed")
    assert r.stderr.count("\n") == 1
    assert [r["Names"] for r in p.ps()] == ["fromenv"]
    # conmon that fails on its own: its error, in one line, and the start recorded as failed
    p("create", "-q", *CM, "--name", "nobundle", p.image, "true", check=0)
    shutil.rmtree(os.path.join(p.store, "containers", p.inspect("nobundle")["Id"], "bundle"))
    for _ in range(3):  # conmon may be gone before its pid is read, or not yet: either way, no hang
        r = p("start", "nobundle", timeout=60)
        assert r.returncode == 1 and r.stderr.count("\n") == 1 and r.stderr.startswith("container nobundle: "), r
        assert p.inspect("nobundle")["State"]["ExitCode"] == 128  # launch.START_FAILED
    p("rm", "nobundle", check=0)
    assert [r["Names"] for r in p.ps()] == ["fromenv"]


def test_dit_keeps_the_shell_on_conmon_s_pty_and_dt_logs_it(cm):
    p = cm
    p.run_d(*CM, "-it", "--name", "tty", p.image, "sh")
    time.sleep(1)
    assert p.state("tty") == "running"  # conmon holds the pty master: the shell waits for input
    assert p.inspect("tty")["Config"]["Tty"] is True
    fds = p("exec", "tty", "sh", "-c", "readlink /proc/1/fd/0; readlink /proc/1/fd/1", check=0).stdout.split()
    assert fds == ["/dev/pts/0", "/dev/pts/0"]
    p("stop", "-t", "1", "tty", check=0)
    assert p.inspect("tty")["State"]["ExitCode"] == 137  # sh as pid 1 ignores SIGTERM, as with the pycr monitor
    p.run_d(*CM, "-t", "--name", "t", p.image, "sh", "-c", "echo out; echo err >&2; tty")
    p.wait_for("t", "exited")
    r = p("logs", "t", check=0)
    assert r.stdout.replace("\r", "") == "out\nerr\n/dev/pts/0\n" and r.stderr == ""  # one stream: the terminal


def test_di_holds_stdin_open(cm):
    p = cm
    p.run_d(*CM, "-i", "--name", "cat", p.image, "sh", "-c", "echo up; cat; echo eof")
    until(lambda: p.logs("cat") == "up\n", "up")
    time.sleep(0.5)
    assert p.state("cat") == "running" and p.logs("cat") == "up\n"  # cat has not seen EOF
    p("stop", "-t", "1", "cat", check=0)
    assert p.state("cat") == "exited"


def test_a_relative_store_path(cm):
    """conmon runs in "/": the paths it is given are absolute even when $PYCR_STORAGE is not."""
    p = cm
    base = os.path.dirname(p.store)
    env = {**p.env, "PYCR_STORAGE": os.path.relpath(p.store, base)}

    def pycr(*args):
        r = subprocess.run([PYCR, "--root", p.root, *args], cwd=base, env=env, capture_output=True, text=True,
                           timeout=120)
        assert r.returncode == 0, r.stderr
        return r.stdout

    cid = pycr("run", "-d", "-q", *CM, p.image, "sh", "-c", "echo rel").split()[-1]
    p.seen.add(cid)
    assert p.wait_for(cid, "exited")["State"]["ExitCode"] == 0
    pycr("start", cid)  # the record found through the relative path
    until(lambda: p.logs(cid) == "rel\nrel\n", "its second run logged")
    assert p.wait_for(cid, "exited")["State"]["ExitCode"] == 0


def test_containers_that_end_at_once_are_recorded_right(cm):
    """conmon runs the finish step as soon as the init ends, maybe before `pycr run -d` returns:
    its record of the exit must win over the start's record of running, every time."""
    p = cm
    ids = [p.run_d(*CM, p.image, "sh", "-c", f"exit {n}") for n in range(6)]
    gone = [p.run_d(*CM, "--rm", p.image, "true") for _ in range(3)]
    for n, cid in enumerate(ids):
        state = p.wait_for(cid, "exited")["State"]
        assert (state["ExitCode"], state["Error"]) == (n, "")
    until(lambda: not set(gone) & {r["Id"] for r in p.ps()}, "the --rm ones removed")
    until(lambda: conmons(p) == [], "their conmons gone")


def test_a_command_that_cannot_run_gives_docker_s_codes(cm):
    """As with the pycr monitor: ``run -d`` exits 127 (missing) / 126 (not runnable), one line, and
    a record keeps that code -- pycr-oci's create, run by conmon, says which in its JSON --log."""
    from tests.integration.test_manage_verbs import EXEC_FAILURES

    p = cm
    for argv, code, line in EXEC_FAILURES[:4]:
        r = p("run", "-d", *CM, p.image, *argv)
        assert (r.returncode, r.stdout, r.stderr.count("\n")) == (code, "", 1), (argv, r)
        assert r.stderr.endswith(line + "\n"), (argv, r.stderr)
        assert p.ps() == []  # run -d made nothing that stays
    for name, argv, code in (("never", "/nonexistent", 127), ("denied", "/etc/passwd", 126)):
        p("create", "-q", *CM, "--name", name, p.image, argv, check=0)
        r = p("start", name)
        assert r.returncode == 1 and r.stderr.count("\n") == 1 and f'"{argv}"' in r.stderr, r
        state = p.inspect(name)["State"]
        assert (state["Status"], state["ExitCode"]) == ("exited", code) and f'"{argv}"' in state["Error"]
    until(lambda: conmons(p) == [], "their conmons gone")


def test_docker_api_logs_and_wait_read_conmon_s_log(cm):
    """The API server's log reader is the same one: a docker client sees conmon's k8s-file log."""
    from tests.helpers.api import serving

    p = cm
    p.env["PYCR_MONITOR"] = "conmon"  # `docker run` through `pycr serve` has no --monitor: the default
    try:
        with serving(p) as a:
            cid = a.docker("run", "-d", p.image, "sh", "-c", "echo one; echo two >&2; sleep 0.5; exit 5",
                           check=0).stdout.strip()
            p.seen.add(cid)
            assert a.docker("wait", cid, check=0).stdout.strip() == "5"
            assert p.inspect(cid)["Monitor"] == "conmon"
            r = a.docker("logs", cid, check=0)
            assert (r.stdout, r.stderr) == ("one\n", "two\n")
            assert a.docker("logs", "-t", "--tail", "1", cid, check=0).stderr.split(" ", 1)[1] == "two\n"
            # since= compares each entry's time: conmon's "+00:00" stamps were read as no time at all
            r = a.docker("logs", "--since", "2000-01-01T00:00:00Z", cid, check=0)
            assert (r.stdout, r.stderr) == ("one\n", "two\n")
            r = a.docker("logs", "--since", "2999-01-01T00:00:00Z", cid, check=0)
            assert (r.stdout, r.stderr) == ("", "")
            a.docker("rm", cid, check=0)
    finally:
        del p.env["PYCR_MONITOR"]


def test_conmon_killed_leaves_a_container_rm_cleans_up(cm):
    p = cm
    cid = p.run_d(*CM, "--name", "orphan", p.image, "sleep", "1000")
    os.kill(p.inspect("orphan")["State"]["MonitorPid"], 9)
    until(lambda: "(monitor gone)" in p("ps", check=0).stdout, "ps says the monitor is gone")
    info = p.inspect("orphan")
    assert info["State"]["Running"] and info["State"]["MonitorPid"] == 0
    p("rm", "-f", "orphan", check=0)
    assert not os.path.exists(os.path.join(p.store, "containers", cid)) and conmons(p) == []


def test_bridge_network_attached_and_detached_under_conmon(net):
    """The network hooks run in the pycr-oci create that conmon runs, and in the finish step it
    runs as its exit command.  (Last in this module: ``net`` moves its pycr into a test namespace.)"""
    from tests.helpers.netns import ping_answered

    p, h = net
    p.run_d(*CM, "--name", "web", p.image, "sleep", "1000")
    ip = p.inspect("web")["NetworkSettings"]["Networks"]["bridge"]["IPAddress"]
    assert ip.startswith("10.88.")
    assert ping_answered(lambda: h.run("busybox", "ping", "-c", "1", "-W", "2", ip, check=False))
    p("stop", "-t", "1", "web", check=0)
    assert [n for n in h.settled_links() if n.startswith("pv")] == []
    p("start", "web", check=0)
    ip = p.inspect("web")["NetworkSettings"]["Networks"]["bridge"]["IPAddress"]
    assert ping_answered(lambda: h.run("busybox", "ping", "-c", "1", "-W", "2", ip, check=False))
    p("rm", "-f", "web", check=0)  # the `net` fixture then checks for leftover links, rules and leases
    assert [n for n in h.settled_links() if n.startswith("pv")] == [] and conmons(p) == []


@pytest.mark.parametrize("monitor", ["pycr", "conmon"])
def test_restarts_go_on_after_a_restart_that_failed(cm, tmp_path, monitor):
    """A restart whose command cannot run (126, recorded) is retried within the policy, as docker
    does, under either monitor: ``always`` until it runs again, ``on-failure:N`` up to N restarts."""
    p = cm
    host = tmp_path / "x"
    host.mkdir()
    script = host / "run.sh"
    script.write_text("#!/bin/sh\necho ran\nwhile [ ! -e /x/go ]; do sleep 0.1; done\nexit 3\n")
    script.chmod(0o755)
    p.run_d("--monitor", monitor, "--name", "phoenix", "--restart", "always", "-v", f"{host}:/x", p.image, "/x/run.sh")
    until(lambda: p.logs("phoenix") == "ran\n", "the first run")
    script.chmod(0o644)  # the next restarts cannot run it
    (host / "go").touch()
    until(lambda: p.inspect("phoenix")["RestartCount"] >= 3, "three restarts tried", timeout=60)
    state = p.inspect("phoenix")["State"]
    assert state["ExitCode"] == 126 and '"/x/run.sh": permission denied' in state["Error"], state
    assert state["Status"] in ("exited", "restarting") and p.logs("phoenix") == "ran\n"
    (host / "go").unlink()
    script.chmod(0o755)  # now a restart runs it again
    until(lambda: p.logs("phoenix") == "ran\nran\n", "it ran again", timeout=60)
    info = p.wait_for("phoenix", "running")
    assert info["Monitor"] == monitor and info["State"]["Error"] == ""
    p("stop", "-t", "1", "phoenix", check=0)
    assert p.state("phoenix") == "exited"
    # on-failure:2: its first run makes its own command unrunnable; both restarts fail, then it stays exited
    once = host / "once.sh"
    once.write_text("#!/bin/sh\necho once\nchmod 644 /x/once.sh\nexit 5\n")
    once.chmod(0o755)
    p.run_d("--monitor", monitor, "--name", "twice", "--restart", "on-failure:2", "-v", f"{host}:/x", p.image,
            "/x/once.sh")
    until(lambda: (i := p.inspect("twice"))["RestartCount"] == 2 and i["State"]["Status"] == "exited"
          and not p.monitors() and not conmons(p), "two failed restarts, then exited and no monitor", timeout=60)
    info = p.inspect("twice")
    assert (info["RestartCount"], info["State"]["ExitCode"]) == (2, 126) and p.logs("twice") == "once\n"
    p("rm", "-f", "phoenix", "twice", check=0)
    assert p.monitors() == [] and conmons(p) == []
