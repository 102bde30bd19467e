"""The docker-like verbs on detached busybox containers, driven through the ``pycr`` CLI."""

from __future__ import annotations

import json
import os
import subprocess
import time

import pytest

from tests.helpers.poll import until


pytestmark = pytest.mark.root
LOOP = "echo started; echo oops >&2; i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done"


def test_run_d_ps_logs_inspect(clean):
    p = clean
    cid = p.run_d("--name", "web", p.image, "sh", "-c", LOOP)
    rows = p.ps()
    assert [(r["Id"], r["Names"], r["State"]) for r in rows] == [(cid, "web", "running")]
    assert p("ps", "-q", check=0).stdout.split() == [cid[:12]]
    table = p("ps", check=0).stdout
    assert "web" in table and "Up " in table and cid[:12] in table
    info = p.inspect("web")
    assert info["Id"] == cid and info["State"]["Running"] and info["State"]["Pid"] > 0
    assert info["Config"]["Cmd"] == ["sh", "-c", LOOP] and info["HostConfig"]["RestartPolicy"]["Name"] == "no"
    assert os.path.exists(f"/proc/{info['State']['MonitorPid']}")
    with open(f"/proc/{info['State']['MonitorPid']}/comm") as f:
        assert f.read().strip() == "pycr:[monitor]"
    until(lambda: (out := p("logs", "web", check=0)).stdout.startswith("started\ntick 0\ntick 1\n")
           and out.stderr == "oops\n", "started, two ticks and oops in the logs")
    assert p.logs("web", "--tail", "2").count("\n") == 2
    stamped = p.logs("web", "--tail", "1", "--timestamps")
    assert stamped[:4].isdigit() and stamped.split(" ", 1)[1].startswith("tick")
    with open(info["LogPath"]) as f:
        entries = [json.loads(line) for line in f]
    assert entries[0]["log"] == "started\n" and entries[0]["stream"] == "stdout" and entries[0]["time"].endswith("Z")
    assert {"log": "oops\n", "stream": "stderr"}.items() <= next(e for e in entries if e["stream"] == "stderr").items()
    # every verb takes the name, the id, or a unique prefix
    for ref in ("web", cid, cid[:5]):
        assert p.inspect(ref)["Id"] == cid


def test_logs_follow_ends_with_the_container(clean):
    p = clean
    p.run_d("--name", "short", p.image, "sh", "-c", "for i in 1 2 3; do echo line $i; sleep 0.3; done")
    r = p("logs", "-f", "short", timeout=30, check=0)
    assert r.stdout == "line 1\nline 2\nline 3\n"
    assert p.wait_for("short", "exited")["State"]["ExitCode"] == 0


def test_exec_env_user_workdir_and_stdin(clean):
    p = clean
    p.run_d("--name", "box", p.image, "sleep", "1000")
    r = p("exec", "-e", "FOO=bar", "-w", "/tmp", "-u", "nobody", "box", "sh", "-c", "echo $FOO $(pwd) $(id -u)",
          check=0)
    assert r.stdout == "bar /tmp 65534\n"
    # an exec's missing workdir is an error (runc, docker); it is not made, unlike run's
    r = p("exec", "-w", "/no/such/dir", "box", "pwd")
    assert r.returncode != 0 and r.stdout == "" and r.stderr.endswith(
        "process.cwd: chdir to '/no/such/dir': No such file or directory\n"), r.stderr
    assert p("exec", "box", "ls", "/no").returncode != 0
    assert p("run", "--rm", "-w", "/made/here", p.image, "pwd", check=0).stdout == "/made/here\n"
    assert p("exec", "box", "sh", "-c", "exit 5").returncode == 5
    assert p("exec", "-i", "box", "cat", input="piped in\n", check=0).stdout == "piped in\n"
    assert p("exec", "box", "cat", input="not wanted\n", check=0).stdout == ""  # no -i: /dev/null
    p("exec", "-d", "box", "sh", "-c", "echo detached > /tmp/mark", check=0)
    deadline = time.monotonic() + 5
    while p("exec", "box", "cat", "/tmp/mark").stdout != "detached\n":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    top = p("top", "box", check=0).stdout
    assert "sleep 1000" in top and "PID" in top.splitlines()[0]


EXEC_FAILURES = [  # argv, docker's code, the one line's end
    (["no-such-program"], 127, 'exec: "no-such-program": executable file not found in $PATH'),
    (["/no/such/program"], 127, 'exec: "/no/such/program": stat /no/such/program: no such file or directory'),
    (["/etc"], 126, 'exec: "/etc": permission denied'),                  # a directory
    (["/etc/passwd"], 126, 'exec: "/etc/passwd": permission denied'),    # not executable
    (["/tmp/garbage"], 126, "exec /tmp/garbage: exec format error"),     # executable, not a program
]


def test_exec_and_run_exit_codes_are_dockers(clean):
    """127: the command is missing; 126: it is there but cannot run; 125 (run): pycr's own error."""
    p = clean
    p.run_d("--name", "codes", p.image, "sleep", "1000")
    p("exec", "codes", "sh", "-c", "printf 'garbage\\001\\002' > /tmp/garbage; chmod +x /tmp/garbage", check=0)
    for argv, code, line in EXEC_FAILURES:
        r = p("exec", "codes", *argv)
        assert (r.returncode, r.stdout, r.stderr.count("\n")) == (code, "", 1), (argv, r)
        assert r.stderr.endswith(line + "\n"), (argv, r.stderr)
    for _ in range(15):  # a command that fails at once never overtakes the exec's PID report (fork_reported)
        assert p("exec", "codes", "no-such-program").returncode == 127
    assert p("exec", "codes", "sh", "-c", "exit 3").returncode == 3  # the process's own status
    assert p("exec", "codes", "sh", "-c", "exit 127").returncode == 127
    for argv, code, line in EXEC_FAILURES[:4]:  # run: the same codes and words, nothing left (clean checks)
        for detach in ([], ["-d"]):
            r = p("run", "--rm", *detach, p.image, *argv)
            assert (r.returncode, r.stdout, r.stderr.count("\n")) == (code, "", 1), (argv, detach, r)
            assert r.stderr.endswith(line + "\n"), (argv, detach, r.stderr)
    p("create", "--name", "kept", p.image, "/etc", check=0)  # start fails (1, as docker start); the record
    r = p("start", "kept")                                      # keeps docker's code
    assert r.returncode == 1 and r.stderr.endswith('exec: "/etc": permission denied\n'), r
    assert p.inspect("kept")["State"]["ExitCode"] == 126
    p("rm", "kept", check=0)
    for bad in (["--memory", "lots", p.image, "true"], ["no-such-image-here:v1", "true"]):
        r = p("run", "--rm", *bad)
        assert (r.returncode, r.stderr.count("\n")) == (125, 1), (bad, r)
    assert p("run", "--rm", p.image, "sh", "-c", "exit 7").returncode == 7


def test_stop_start_restart_kill_wait(clean):
    p = clean
    p.run_d("--name", "svc", p.image, "sh", "-c",
            "trap 'echo got TERM; exit 3' TERM; trap 'exit 9' USR1; echo ready; while true; do sleep 0.1; done")

    def traps_set(instances):  # each run of the command says "ready" once its traps are installed
        until(lambda: p.logs("svc").count("ready\n") == instances, f"instance {instances} ready")

    traps_set(1)
    t0 = time.monotonic()
    p("stop", "-t", "600", "svc", check=0)
    assert time.monotonic() - t0 < 60  # stop returns when the container ends, not when the grace period does
    info = p.inspect("svc")  # exit code 3, not 137: the TERM trap ended it, not the grace period's SIGKILL
    assert info["State"]["Status"] == "exited" and info["State"]["ExitCode"] == 3 and info["State"]["FinishedAt"]
    assert "got TERM" in p.logs("svc")
    assert "Exited (3)" in p("ps", "-a", check=0).stdout and p("ps", "-q", check=0).stdout == ""
    p("start", "svc", check=0)
    pid1 = p.wait_for("svc", "running")["State"]["Pid"]
    traps_set(2)
    p("restart", "-t", "1", "svc", check=0)
    info = p.wait_for("svc", "running")
    assert info["State"]["Pid"] != pid1
    traps_set(3)
    waiter = p.popen("wait", "svc", stdout=subprocess.PIPE, text=True)
    time.sleep(0.3)
    assert waiter.poll() is None
    p("kill", "-s", "USR1", "svc", check=0)  # pid 1 of a pid namespace gets only signals it handles
    assert waiter.communicate(timeout=20)[0].strip() == "9"
    assert p.wait_for("svc", "exited")["State"]["ExitCode"] == 9
    # stop: SIGKILL after the grace period when SIGTERM is ignored (sh as pid 1)
    p.run_d("--name", "stubborn", p.image, "sleep", "1000")
    t0 = time.monotonic()
    p("stop", "-t", "1", "stubborn", check=0)
    took = time.monotonic() - t0
    assert 0.9 < took < 9.5, took  # the grace period was given before the SIGKILL; -t, not the default 10 s
    assert p.inspect("stubborn")["State"]["ExitCode"] == 137


def test_pause_unpause_stats(clean):
    p = clean
    p.run_d("--name", "counter", p.image, "sh", "-c", LOOP)
    p("pause", "counter", check=0)
    assert p.state("counter") == "paused" and "(Paused)" in p("ps", check=0).stdout
    before = p.logs("counter")
    time.sleep(0.8)
    assert p.logs("counter") == before  # frozen: no new ticks
    r = p("exec", "counter", "true")
    assert r.returncode != 0 and "paused" in r.stderr
    p("unpause", "counter", check=0)
    until(lambda: p.logs("counter") != before, "a tick after unpause")
    stats = json.loads(p("stats", "--no-stream", "--format", "json", "counter", check=0).stdout)
    assert stats[0]["Name"] == "counter" and stats[0]["PIDs"] >= 1 and stats[0]["MemUsage"] > 0
    assert "counter" in p("stats", "--no-stream", check=0).stdout


def test_create_then_start(clean):
    p = clean
    cid = p("create", "-q", "--name", "later", p.image, "sh", "-c", "echo ran").stdout.strip()
    assert len(cid) == 64
    p.seen.add(cid)
    assert p.state("later") == "created" and p.logs("later") == ""
    p("start", "later", check=0)
    assert p.wait_for("later", "exited")["State"]["ExitCode"] == 0
    assert p.logs("later") == "ran\n"


def test_rm_auto_remove_and_prune(clean):
    p = clean
    cid = p.run_d("--rm", p.image, "sh", "-c", "sleep 0.3")
    deadline = time.monotonic() + 20
    while cid in {r["Id"] for r in p.ps()}:
        assert time.monotonic() < deadline, "--rm container was not removed"
        time.sleep(0.1)
    assert not os.path.exists(os.path.join(p.store, "containers", cid))
    a = p.run_d(p.image, "true")
    b = p.run_d(p.image, "sleep", "1000")
    p.wait_for(a, "exited")
    r = p("rm", b)
    assert r.returncode != 0 and "rm -f" in r.stderr
    assert p("container", "prune", check=0).stdout.split() == [a]
    assert [r["Id"] for r in p.ps()] == [b]
    p("rm", "-f", b, check=0)
    assert p.ps() == []


def test_restart_policies(clean):
    p = clean
    p.run_d("--name", "flaky", "--restart", "on-failure:2", p.image, "sh", "-c", "echo try; exit 4")
    info = p.wait_for("flaky", "exited")
    deadline = time.monotonic() + 20
    while info["RestartCount"] < 2 or info["State"]["Status"] != "exited":
        assert time.monotonic() < deadline, info
        time.sleep(0.2)
        info = p.inspect("flaky")
    time.sleep(1)
    info = p.inspect("flaky")
    assert info["RestartCount"] == 2 and info["State"]["ExitCode"] == 4
    assert p.logs("flaky") == "try\n" * 3
    p.run_d("--name", "ok", "--restart", "on-failure", p.image, "true")
    time.sleep(1.5)
    assert p.inspect("ok")["RestartCount"] == 0
    p.run_d("--name", "forever", "--restart", "always", p.image, "sh", "-c", "sleep 0.2")
    deadline = time.monotonic() + 20
    while p.inspect("forever")["RestartCount"] < 3:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    p("stop", "forever", check=0)  # a stop ends the policy
    count = p.inspect("forever")["RestartCount"]
    time.sleep(1.5)
    assert p.inspect("forever")["RestartCount"] == count and p.state("forever") == "exited"


def test_container_signals_start_at_default(clean):
    """Python ignores SIGPIPE and SIGXFSZ; a container started by the monitor must not inherit that."""
    p = clean
    cid = p.run_d(p.image, "sh", "-c", "grep SigIgn /proc/self/status; yes | head -1")
    p.wait_for(cid, "exited")
    assert p.logs(cid) == "SigIgn:\t0000000000000000\ny\n"


def test_chroot_strategy_detached(clean):
    p = clean
    r = p("--rootfs", "chroot", "run", "-d", "-q", "--name", "ch", p.image, "sh", "-c",
          "echo x >> /data; cat /data | wc -l; sleep 1000", check=0)
    p.seen.add(r.stdout.strip())
    assert p.inspect("ch")["GraphDriver"]["Name"] == "chroot"
    p("stop", "-t", "0", "ch", check=0)
    p("start", "ch", check=0)  # the same private rootfs again: the file grew
    deadline = time.monotonic() + 10
    while p.logs("ch").split() != ["1", "2"]:
        assert time.monotonic() < deadline, p.logs("ch")
        time.sleep(0.1)
    p("rm", "-f", "ch", check=0)


def test_stop_signal_from_the_flag_and_the_image(clean, tmp_path):
    """stop sends the container's stop signal first: --stop-signal, else the image's STOPSIGNAL,
    else SIGTERM (docker's order); a bad one is refused at create."""
    p = clean
    loop = "trap 'exit 9' USR1; trap 'exit 3' TERM; echo ready; while true; do sleep 0.1; done"

    def stopped_with(name):
        until(lambda: "ready" in p.logs(name), f"{name} ready")
        p("stop", "-t", "600", name, check=0)  # a SIGKILL after the grace would be 137, and 10 minutes late
        return p.inspect(name)

    p.run_d("--name", "flag", "--stop-signal", "USR1", p.image, "sh", "-c", loop)
    info = stopped_with("flag")
    assert info["State"]["ExitCode"] == 9 and info["Config"]["StopSignal"] == "USR1"
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(f"FROM {p.image}\nSTOPSIGNAL SIGUSR1\n")
    p("build", "-q", "-t", "usr1img", str(ctx), check=0)
    p.run_d("--name", "image", "usr1img", "sh", "-c", loop)
    assert stopped_with("image")["State"]["ExitCode"] == 9
    p.run_d("--name", "override", "--stop-signal", "TERM", "usr1img", "sh", "-c", loop)
    assert stopped_with("override")["State"]["ExitCode"] == 3
    p.run_d("--name", "default", p.image, "sh", "-c", loop)
    info = stopped_with("default")
    assert info["State"]["ExitCode"] == 3 and info["Config"]["StopSignal"] == "SIGTERM"
    r = p("create", "--name", "bad", "--stop-signal", "BOGUS", p.image, "true")
    assert r.returncode != 0 and r.stderr == "--stop-signal: unknown signal 'BOGUS'\n"
    assert "bad" not in p("ps", "-a", check=0).stdout.split()


@pytest.mark.parametrize("monitor", ["pycr", "conmon"])
def test_a_pycr_package_in_the_working_directory_never_runs(clean, tmp_path, monitor):
    """The monitor's finish step and conmon's exit command start ``python -m``: without ``-P``
    the caller's working directory came first on sys.path, so a planted ``pycr/`` ran as root."""
    p = clean
    marker = tmp_path / "planted-ran"
    planted = tmp_path / "cwd" / "pycr"
    planted.mkdir(parents=True)
    (planted / "__init__.py").write_text(f"open({str(marker)!r}, 'a').write('ran\\n')\n")
    proc = p.popen("run", "-d", "-q", "--monitor", monitor, p.image, "sh", "-c", "exit 3",
                   cwd=planted.parent, stdout=subprocess.PIPE, text=True)
    cid = proc.communicate(timeout=120)[0].strip().splitlines()[-1]
    assert proc.returncode == 0
    p.seen.add(cid)
    p.wait_for(cid, "exited")
    assert p.inspect(cid)["State"]["ExitCode"] == 3  # the finish step ran (it records the code)
    assert not marker.exists(), marker.read_text()
    p("rm", cid, check=0)
