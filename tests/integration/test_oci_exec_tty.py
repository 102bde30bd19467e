"""pycr-oci's engine-facing verbs on the real kernel: exec, terminals and
console sockets, --preserve-fds, ps, pause/resume, update, events, features,
and the JSON error log -- driven through the installed command like an engine."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import threading
import time

import pytest

from pycr.core.cgroups import own_cgroup_paths
from pycr.core.testing.bundle import make_bundle

pytestmark = pytest.mark.root
from tests.helpers.engines import PYCR_OCI, run  # noqa: E402
from tests.helpers.poll import until  # noqa: E402
from tests.conftest import new_id  # noqa: E402


class Oci:
    def __init__(self, root, log):
        self.root, self.log = str(root), str(log)

    def __call__(self, *args, check=True, **kw):
        """Output through files, not pipes (see ``tests.helpers.engines.run``)."""
        kw.setdefault("timeout", 60)
        return run([PYCR_OCI, "--root", self.root, "--log", self.log, "--log-format", "json", *args],
                   check=check, **kw)

    def state(self, cid):
        return json.loads(self("state", cid).stdout)


@pytest.fixture
def oci(tmp_path):
    o = Oci(tmp_path / "state", tmp_path / "log.json")
    yield o
    for cid in os.listdir(o.root) if os.path.isdir(o.root) else []:
        if not cid.startswith("."):
            o("delete", "--force", cid, check=False)


@pytest.fixture
def running(oci, tmp_path):
    """A started container whose init sleeps; deleted (and checked gone) afterwards."""
    bundle = make_bundle(str(tmp_path / "bundle"), ["sleep", "1000"])
    cid = new_id("exec")
    oci("create", "--bundle", bundle, cid)
    oci("start", cid)
    yield cid
    cgdir = f"/sys/fs/cgroup/memory{own_cgroup_paths()['memory']}/pycr-{cid}"
    oci("delete", "--force", cid)
    assert not os.path.exists(cgdir)


def _status(pid):
    with open(f"/proc/{pid}/status") as f:
        return dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)


def test_exec_joins_every_namespace_cgroup_and_root(oci, running, tmp_path):
    init_pid = oci.state(running)["pid"]
    pid_file = tmp_path / "exec.pid"
    oci("exec", "--detach", "--pid-file", str(pid_file), running, "sleep", "500")
    pid = int(pid_file.read_text())
    assert pid != init_pid
    for ns in ("mnt", "uts", "ipc", "net", "pid", "cgroup"):
        assert os.readlink(f"/proc/{pid}/ns/{ns}") == os.readlink(f"/proc/{init_pid}/ns/{ns}"), ns
        if ns != "cgroup":
            assert os.readlink(f"/proc/{pid}/ns/{ns}") != os.readlink(f"/proc/self/ns/{ns}"), ns
    with open(f"/proc/{pid}/cgroup") as a, open(f"/proc/{init_pid}/cgroup") as b:
        assert a.read() == b.read()
    assert os.stat(f"/proc/{pid}/root/bin/busybox").st_ino == os.stat(f"/proc/{init_pid}/root/bin/busybox").st_ino
    # the container's process config: capabilities and noNewPrivileges
    st, init_st = _status(pid), _status(init_pid)
    for key in ("CapEff", "CapPrm", "CapBnd", "NoNewPrivs"):
        assert st[key] == init_st[key], key
    assert st["NoNewPrivs"] == "1"
    ps = json.loads(oci("ps", "--format", "json", running).stdout)
    assert sorted(ps) == sorted([init_pid, pid])
    assert str(pid) in oci("ps", running).stdout


def test_exec_foreground_status_user_cwd_env(oci, running):
    r = oci("exec", "--user", "1000:1000", "--cwd", "/tmp", "--env", "FOO=bar", running,
            "sh", "-c", 'echo "$(id -u):$(id -g) $(pwd) $FOO $$"; exit 7', check=False)
    assert r.returncode == 7, r.stderr
    uidgid, cwd, foo, pid = r.stdout.split()
    assert (uidgid, cwd, foo) == ("1000:1000", "/tmp", "bar")
    assert int(pid) > 1  # a pid of the container's pid namespace
    r = oci("exec", running, "sh", "-c", "kill -9 $$", check=False)
    assert r.returncode == 137


def test_exec_process_file_rlimits_caps(oci, running, tmp_path):
    proc = {"args": ["sh", "-c", "ulimit -n; grep -E '^(CapEff|NoNewPrivs)' /proc/self/status"],
            "env": ["PATH=/bin"], "cwd": "/", "user": {"uid": 0, "gid": 0},
            "rlimits": [{"type": "RLIMIT_NOFILE", "soft": 321, "hard": 321}],
            "capabilities": {"bounding": ["CAP_KILL"], "effective": ["CAP_KILL"], "permitted": ["CAP_KILL"]},
            "noNewPrivileges": False}
    path = tmp_path / "process.json"
    path.write_text(json.dumps(proc))
    out = oci("exec", "--process", str(path), running).stdout.split()
    assert out[0] == "321"
    assert out[out.index("CapEff:") + 1] == f"{1 << 5:016x}"  # CAP_KILL only
    assert out[out.index("NoNewPrivs:") + 1] == "0"


def test_exec_errors_are_one_line_and_logged(oci, running, tmp_path):
    r = oci("exec", running, "no-such-program", check=False)
    assert r.returncode != 0
    assert "no-such-program" in r.stderr and "not found" in r.stderr
    last = json.loads((tmp_path / "log.json").read_text().splitlines()[-1])
    assert last["level"] == "error" and "no-such-program" in last["msg"] and last["time"]
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    r = oci("exec", "--process", str(bad), running, check=False)
    assert r.returncode != 0 and str(bad) in r.stderr
    r = oci("exec", "nosuch", "true", check=False)
    assert "does not exist" in r.stderr


@pytest.mark.skipif(not shutil.which("runc"), reason="runc is the reference for these codes (scripts/install.sh)")
def test_exec_exit_codes_are_runcs(oci, tmp_path):
    """runc exec exits 255 when it cannot start the process (a missing or unrunnable file,
    no such container), 1 when execve itself refuses the file, else the process's status:
    pycr-oci does the same, measured against runc on the same kind of bundle in one run."""
    runc_root = str(tmp_path / "runc-state")
    cid = new_id("codes")
    tools = {"pycr-oci": lambda *a: oci(*a, check=False),
             "runc": lambda *a: run(["runc", "--root", runc_root, *a], check=False, timeout=60)}
    try:
        for name, tool in tools.items():
            bundle = make_bundle(str(tmp_path / f"b-{name}"), ["sleep", "1000"])
            with open(os.path.join(bundle, "rootfs", "garbage"), "wb") as f:
                f.write(b"garbage\0\1\2")
            os.chmod(os.path.join(bundle, "rootfs", "garbage"), 0o755)
            assert tool("create", "--bundle", bundle, cid).returncode == 0
            assert tool("start", cid).returncode == 0
        for argv in (["no-such-program"], ["/no/such"], ["/etc"], ["/etc/passwd"], ["/garbage"],
                     ["sh", "-c", "exit 9"]):
            codes = {name: tool("exec", cid, *argv).returncode for name, tool in tools.items()}
            assert codes["pycr-oci"] == codes["runc"], (argv, codes)
        assert codes["runc"] == 9
        codes = {name: tool("exec", cid + "-none", "true").returncode for name, tool in tools.items()}
        assert codes == {"pycr-oci": 255, "runc": 255}
    finally:
        for tool in tools.values():
            tool("delete", "--force", cid)


@pytest.mark.skipif(not shutil.which("runc"), reason="runc is the reference for these codes (scripts/install.sh)")
def test_create_of_a_command_that_cannot_run_exits_as_runc_and_logs_its_kind(oci, tmp_path):
    """runc create exits 1 when the container's command is missing or cannot run; pycr-oci too,
    and its JSON --log line has runc's fields plus ``command`` (``missing`` / ``not-executable``):
    what lets conmon's caller, pycr, give docker's 127 / 126."""
    runc_root, runc_log = str(tmp_path / "runc-state"), str(tmp_path / "runc-log.json")
    tools = {"pycr-oci": lambda *a: oci(*a, check=False),
             "runc": lambda *a: run(["runc", "--root", runc_root, "--log", runc_log, "--log-format", "json", *a],
                                    check=False, timeout=60)}
    logs = {"pycr-oci": oci.log, "runc": runc_log}
    cases = [(["/no/such"], "missing"), (["no-such-program"], "missing"), (["/etc/passwd"], "not-executable"),
             (["/etc"], "not-executable")]
    for n, (argv, kind) in enumerate(cases):
        cid = new_id(f"cr{n}")
        got = {}
        for name, tool in tools.items():
            bundle = make_bundle(str(tmp_path / f"b{n}-{name}"), argv)
            r = tool("create", "--bundle", bundle, cid)
            with open(logs[name]) as f:
                last = json.loads(f.readlines()[-1])
            got[name] = (r.returncode, last)
            assert not os.path.exists(os.path.join(runc_root if name == "runc" else oci.root, cid)), (name, argv)
        (code, mine), (runc_code, theirs) = got["pycr-oci"], got["runc"]
        assert code == runc_code != 0, (argv, got)
        assert mine["level"] == theirs["level"] == "error" and set(theirs) <= set(mine), (argv, got)
        assert mine["command"] == kind and "command" not in theirs, (argv, got)
        assert argv[0] in mine["msg"] and argv[0] in theirs["msg"]
    bundle = make_bundle(str(tmp_path / "b-other"), ["true"])
    os.remove(os.path.join(bundle, "config.json"))  # not the command: no "command" field
    assert oci("create", "--bundle", bundle, new_id("crx"), check=False).returncode != 0
    with open(oci.log) as f:
        assert "command" not in json.loads(f.readlines()[-1])


def test_exec_in_stopped_container_refused(oci, tmp_path):
    bundle = make_bundle(str(tmp_path / "b"), ["true"])
    cid = new_id("stops")
    oci("create", "--bundle", bundle, cid)
    oci("start", cid)
    deadline = time.monotonic() + 10
    while oci.state(cid)["status"] != "stopped" and time.monotonic() < deadline:
        time.sleep(0.02)
    r = oci("exec", cid, "true", check=False)
    assert r.returncode != 0 and "stopped" in r.stderr
    oci("delete", cid)


def test_pause_resume(oci, running):
    counter = "while true; do echo -n x >> /tmp/n; usleep 1000; done"
    oci("exec", "--detach", running, "sh", "-c", counter)
    init_pid = oci.state(running)["pid"]
    n_path = f"/proc/{init_pid}/root/tmp/n"
    until(lambda: os.path.exists(n_path), "the detached counter's first write")
    oci("pause", running)
    assert oci.state(running)["status"] == "paused"
    a = os.path.getsize(n_path)
    time.sleep(0.3)
    assert os.path.getsize(n_path) == a  # frozen: no progress
    assert "paused" in oci("exec", running, "true", check=False).stderr
    assert oci("pause", running, check=False).returncode != 0
    oci("resume", running)
    assert oci.state(running)["status"] == "running"
    until(lambda: os.path.getsize(n_path) > a, "progress after resume")
    assert "not paused" in oci("resume", running, check=False).stderr


def test_update_resources_live(oci, running, tmp_path):
    cgdir = f"/sys/fs/cgroup/memory{own_cgroup_paths()['memory']}/pycr-{running}"
    res = tmp_path / "res.json"
    res.write_text(json.dumps({"memory": {"limit": 48 * 1024 * 1024}}))
    oci("update", "--resources", str(res), running)
    assert int(open(f"{cgdir}/memory.limit_in_bytes").read()) == 48 * 1024 * 1024
    oci("update", "--resources", "-", running, input=json.dumps({"pids": {"limit": 33}}))
    pids_dir = f"/sys/fs/cgroup/pids{own_cgroup_paths()['pids']}/pycr-{running}"
    assert open(f"{pids_dir}/pids.max").read().strip() == "33"
    oci("update", "--memory", "40m", running)
    assert int(open(f"{cgdir}/memory.limit_in_bytes").read()) == 40 * 1024 * 1024
    stats = json.loads(oci("events", "--stats", running).stdout)
    assert stats["type"] == "stats" and stats["id"] == running
    assert stats["data"]["memory"]["usage"]["limit"] == 40 * 1024 * 1024
    assert stats["data"]["pids"]["current"] >= 1


def test_events_stream_ends_with_the_container(oci, running):
    p = subprocess.Popen([PYCR_OCI, "--root", oci.root, "events", "--interval", "200ms", running],
                         stdout=subprocess.PIPE, text=True)
    first = json.loads(p.stdout.readline())
    second = json.loads(p.stdout.readline())
    assert first["type"] == second["type"] == "stats"
    oci("kill", running, "9")
    assert p.wait(timeout=10) == 0


def test_features():
    out = json.loads(subprocess.run([PYCR_OCI, "features"], capture_output=True, text=True, check=True).stdout)
    assert {"pid", "mount", "user", "network"} <= set(out["linux"]["namespaces"])
    assert "CAP_SYS_ADMIN" in out["linux"]["capabilities"]
    assert "rbind" in out["mountOptions"] and "createRuntime" in out["hooks"]
    assert out["linux"]["cgroup"]["v1"] or out["linux"]["cgroup"]["v2"]


# ---------------------------------------------------------------- terminals


class ConsoleServer:
    """What an engine does: listen on a unix socket, receive the pty master."""

    def __init__(self, path):
        from pycr.core.runtime.console import recv_fd

        self.path = str(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(self.path)
        self.sock.listen(1)
        self.result = {}

        def accept():
            conn, _ = self.sock.accept()
            with conn:
                self.result["name"], self.result["fd"] = recv_fd(conn)

        self.thread = threading.Thread(target=accept, daemon=True)
        self.thread.start()

    def master(self, timeout=10):
        self.thread.join(timeout)
        return self.result["name"], self.result["fd"]

    def close(self):
        self.sock.close()


def _read_until(fd, needle: bytes, timeout=10) -> bytes:
    import select

    out, deadline = b"", time.monotonic() + timeout
    while needle not in out and time.monotonic() < deadline:
        if select.select([fd], [], [], 0.1)[0]:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
    return out


def test_terminal_create_sends_master_over_console_socket(oci, tmp_path):
    bundle = make_bundle(str(tmp_path / "b"), ["sh"], process={"terminal": True,
                                                             "consoleSize": {"height": 33, "width": 111}})
    cid = new_id("tty")
    assert "console socket" in oci("create", "--bundle", bundle, cid, check=False).stderr
    server = ConsoleServer(tmp_path / "console.sock")
    try:
        oci("create", "--bundle", bundle, "--console-socket", server.path, cid)
        name, master = server.master()
        assert name.startswith("/dev/pts/")
        oci("start", cid)
        os.write(master, b"tty; stty size; echo ok-$((6*7)); exit 3\n")
        out = _read_until(master, b"ok-42")
        assert b"/dev/pts/" in out and b"ok-42" in out
        assert b"33 111" in out  # process.consoleSize
        os.close(master)
    finally:
        server.close()
        oci("delete", "--force", cid)


def test_exec_tty_with_console_socket(oci, running, tmp_path):
    server = ConsoleServer(tmp_path / "exec.sock")
    try:
        pid_file = tmp_path / "p"
        proc = {"args": ["sh"], "env": ["PATH=/bin"], "cwd": "/", "terminal": True,
                "consoleSize": {"height": 21, "width": 77}}
        (tmp_path / "proc.json").write_text(json.dumps(proc))
        oci("exec", "--detach", "--tty", "--console-socket", server.path, "--pid-file", str(pid_file),
            "--process", str(tmp_path / "proc.json"), running)
        name, master = server.master()
        pid = int(pid_file.read_text())
        assert os.readlink(f"/proc/{pid}/fd/0").startswith("/dev/pts/")
        os.write(master, b"tty; stty size; echo done-$((6*7))\n")
        out = _read_until(master, b"done-42")
        assert b"/dev/pts/" in out and b"21 77" in out, out
        os.close(master)
    finally:
        server.close()


def test_exec_tty_foreground_proxies_the_pty(oci, running):
    r = oci("exec", "--tty", running, "sh", "-c", "tty; echo done", input="")
    assert "/dev/pts/" in r.stdout and "done" in r.stdout


def test_preserve_fds(oci, tmp_path):
    bundle = make_bundle(str(tmp_path / "b"), ["sh", "-c", "echo through-fd3 >&3; ls /proc/self/fd"])
    rfd, wfd = os.pipe()

    cmd = f'exec {PYCR_OCI} --root {oci.root} run --preserve-fds 1 --bundle {bundle} pfd 3>&{wfd} {wfd}>&-'
    r = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, pass_fds=(wfd,), timeout=60)
    os.close(wfd)
    assert r.returncode == 0, r.stderr
    assert os.read(rfd, 100) == b"through-fd3\n"
    os.close(rfd)
    assert "3" in r.stdout.split()


@pytest.fixture
def open_dir():
    """A directory the container's mapped root can reach (pytest's tmp dirs are 0700)."""
    import shutil
    import tempfile

    d = tempfile.mkdtemp(prefix="pycr-userns-")
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def test_exec_into_user_namespace_and_no_pivot(oci, tmp_path, open_dir):
    bundle = make_bundle(os.path.join(open_dir, "u"), ["sleep", "1000"])
    with open(f"{bundle}/config.json") as f:
        config = json.load(f)
    config["linux"]["namespaces"].append({"type": "user"})
    config["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 200000, "size": 65536}]
    config["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 200000, "size": 65536}]
    with open(f"{bundle}/config.json", "w") as f:
        json.dump(config, f)
    subprocess.run(["chown", "-R", "200000:200000", f"{bundle}/rootfs"], check=True)
    cid, nopivot = new_id("userns"), new_id("nopivot")
    oci("create", "--bundle", bundle, cid)
    oci("start", cid)
    out = oci("exec", cid, "sh", "-c", "id -u; cat /proc/self/uid_map").stdout.split()
    assert out == ["0", "0", "200000", "65536"]
    oci("delete", "--force", cid)
    plain = make_bundle(str(tmp_path / "np"), ["sleep", "1000"])
    oci("create", "--no-pivot", "--bundle", plain, nopivot)
    oci("start", nopivot)
    assert "busybox" in oci("exec", nopivot, "ls", "/bin").stdout.split()
    oci("delete", "--force", nopivot)


def test_run_with_terminal_in_the_foreground_proxies(oci, tmp_path):
    """runc's ``run`` with ``terminal: true`` and no console socket: the runtime
    holds the master itself, with its own terminal's window size."""
    import fcntl
    import pty
    import struct
    import termios

    bundle = make_bundle(str(tmp_path / "b"), ["sh", "-c", "tty; stty size; echo fg-$((6*7)); exit 4"],
                         process={"terminal": True})
    pid, master = pty.fork()
    if pid == 0:
        fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 100, 0, 0))
        os.execv(PYCR_OCI, [PYCR_OCI, "--root", oci.root, "run", "--bundle", bundle, new_id("fgtty")])
    out = _read_until(master, b"fg-42", timeout=30)
    _, status = os.waitpid(pid, 0)
    os.close(master)
    assert b"/dev/pts/" in out and b"40 100" in out and b"fg-42" in out, out
    assert os.waitstatus_to_exitcode(status) == 4
