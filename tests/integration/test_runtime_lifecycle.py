"""pycr-oci's lifecycle verbs, runc's wording on wrong states, OCI hooks, and
bad input that must leave nothing behind."""

import json
import os
import time

import pytest

from tests.conftest import new_id

pytestmark = pytest.mark.root


def status(run_oci, cid):
    done = run_oci("state", cid)
    return json.loads(done.stdout)["status"] if done.returncode == 0 else done.stderr.strip()


def wait_status(run_oci, cid, want, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if status(run_oci, cid) == want:
            return True
        time.sleep(0.02)
    return False


def test_create_start_kill_delete(run_oci, bundle, cid, container, tmp_path):
    pid_file = tmp_path / "init.pid"
    b = bundle(["sleep", "60"])
    assert run_oci("create", "--bundle", b, "--pid-file", str(pid_file), cid).returncode == 0
    container.append(cid)
    state = json.loads(run_oci("state", cid).stdout)
    assert state["status"] == "created"
    assert state["id"] == cid and state["bundle"] == b
    raw = pid_file.read_text()
    assert raw == str(state["pid"]) and not raw.endswith("\n")
    with open(f"/proc/{state['pid']}/comm") as f:
        assert f.read().strip() == "pycr:[init]"  # waits for start, process named by role
    assert run_oci("start", cid).returncode == 0
    assert status(run_oci, cid) == "running"
    with open(f"/proc/{state['pid']}/comm") as f:
        assert f.read().strip() == "sleep"
    listed = json.loads(run_oci("list", "--format", "json").stdout)
    assert [c["status"] for c in listed if c["id"] == cid] == ["running"]
    # pid 1 of a pid namespace ignores signals it has no handler for (sleep has none)
    assert run_oci("kill", cid, "KILL").returncode == 0
    assert wait_status(run_oci, cid, "stopped")
    assert run_oci("delete", cid).returncode == 0
    assert "does not exist" in run_oci("state", cid).stderr


def test_runc_wording_for_wrong_states(run_oci, bundle, cid, container):
    b = bundle(["sleep", "60"])
    assert run_oci("create", "--bundle", b, cid).returncode == 0
    container.append(cid)
    dup = run_oci("create", "--bundle", b, cid)
    assert dup.returncode != 0 and dup.stderr.strip() == f"container with id exists: {cid}"
    assert run_oci("start", cid).returncode == 0
    again = run_oci("start", cid)
    assert again.returncode != 0 and "cannot start an already running container" in again.stderr
    busy = run_oci("delete", cid)
    assert busy.returncode != 0 and "that is not stopped: running" in busy.stderr
    assert run_oci("delete", "--force", cid).returncode == 0
    gone = run_oci("kill", cid)
    assert gone.returncode != 0 and gone.stderr.strip() == f"container {cid} does not exist"
    assert len(gone.stderr.strip().splitlines()) == 1


def test_kill_of_stopped_container(run_oci, bundle, cid, container):
    assert run_oci("create", "--bundle", bundle(["true"]), cid).returncode == 0
    container.append(cid)
    assert run_oci("start", cid).returncode == 0
    assert wait_status(run_oci, cid, "stopped")
    done = run_oci("kill", cid, "9")
    assert done.returncode != 0 and "container not running" in done.stderr


def test_delete_of_created_container_kills_its_init(run_oci, bundle, cid):
    assert run_oci("create", "--bundle", bundle(["true"]), cid).returncode == 0
    pid = json.loads(run_oci("state", cid).stdout)["pid"]
    assert run_oci("delete", cid).returncode == 0
    from pycr.core.runtime.state import proc_start_time

    assert proc_start_time(pid) is None  # gone, or a zombie awaiting its reaper


def test_delete_of_a_stopped_container_kills_what_its_init_left_in_its_cgroup(run_oci, bundle, cid):
    """Without a pid namespace a child outlives the init: the container is stopped, its cgroup
    is not empty.  delete kills what is left (as runc does) before it removes the cgroup; an
    empty cgroup is removed without freezing and signalling it."""
    from pycr.core.runtime.default_spec import default_config
    from pycr.core.runtime.state import proc_start_time

    spaces = [n for n in default_config(["true"])["linux"]["namespaces"] if n["type"] != "pid"]
    b = bundle(["sh", "-c", "sleep 1000 </dev/null >/dev/null 2>&1 & echo $! > /stray"],
               linux={"namespaces": spaces})
    assert run_oci("run", "--detach", "--bundle", b, cid).returncode == 0
    assert wait_status(run_oci, cid, "stopped")
    deadline = time.monotonic() + 10
    while not os.path.exists(os.path.join(b, "rootfs", "stray")) and time.monotonic() < deadline:
        time.sleep(0.02)
    stray = int(open(os.path.join(b, "rootfs", "stray")).read())
    assert proc_start_time(stray) is not None  # alive, in the stopped container's cgroup
    done = run_oci("delete", cid)
    assert done.returncode == 0, done.stderr
    deadline = time.monotonic() + 10
    while proc_start_time(stray) is not None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert proc_start_time(stray) is None
    assert run_oci("state", cid).returncode != 0


def test_oci_hooks_get_state_on_stdin(run_oci, bundle, cid, tmp_path):
    out = tmp_path / "hooks"
    out.mkdir()

    def hook(name):
        return {"path": "/bin/sh", "args": ["sh", "-c", f"cat > {out}/{name}.json"]}

    hooks = {k: [hook(k)] for k in ("prestart", "createRuntime", "poststart", "poststop")}
    # createContainer/startContainer run in the container's mount namespace: the host path
    # is reachable before pivot_root only, so use a path inside the rootfs for startContainer.
    hooks["createContainer"] = [hook("createContainer")]
    done = run_oci("run", "--bundle", bundle(["true"], hooks=hooks), cid)
    assert done.returncode == 0, done.stderr
    seen = {p.stem: json.loads(p.read_text()) for p in out.iterdir()}
    assert set(seen) == {"prestart", "createRuntime", "createContainer", "poststart", "poststop"}
    assert all(s["id"] == cid for s in seen.values())
    assert seen["createRuntime"]["status"] == "creating" and seen["createRuntime"]["pid"] > 0
    assert seen["poststart"]["status"] == "running"
    assert seen["poststop"]["status"] == "stopped"


def test_failing_poststart_and_poststop_hooks_are_warnings(run_oci, bundle, cid, state_root):
    """The runtime spec: a failing poststart/poststop hook is logged and changes nothing else;
    each is one ``warning:`` line, a hostile byte in its output escaped."""
    bad = {"path": "/bin/sh", "args": ["sh", "-c", "printf '\\033[2Jx' >&2; exit 3"]}
    done = run_oci("run", "--bundle", bundle(["true"], hooks={"poststart": [bad], "poststop": [bad]}), cid)
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert [ln.split(":")[:2] for ln in lines] == [["warning", " hooks.poststart"], ["warning", " hooks.poststop"]], lines
    assert "\x1b" not in done.stderr and all(ln.endswith(": /bin/sh: exit status 3: \\x1b[2Jx") for ln in lines), lines
    assert not os.path.exists(os.path.join(state_root, cid))


def test_failing_prestart_hook_fails_create_and_cleans_up(run_oci, bundle, cid, state_root):
    hooks = {"prestart": [{"path": "/bin/false"}]}
    done = run_oci("create", "--bundle", bundle(["true"], hooks=hooks), cid)
    assert done.returncode != 0 and "hooks.prestart: /bin/false: exit status 1" in done.stderr
    assert not os.path.exists(os.path.join(state_root, cid))


def test_hook_timeout(run_oci, bundle, cid):
    hooks = {"createRuntime": [{"path": "/bin/sleep", "args": ["sleep", "5"], "timeout": 1}]}
    done = run_oci("run", "--bundle", bundle(["true"], hooks=hooks), cid)
    assert done.returncode != 0 and "timed out after 1s" in done.stderr


def _cgroup_dirs(cid):
    found = []
    for ctrl in os.listdir("/sys/fs/cgroup"):
        for dirpath, dirnames, _ in os.walk(os.path.join("/sys/fs/cgroup", ctrl)):
            found += [d for d in dirnames if cid in d]
            if dirpath.count("/") > 8:
                dirnames[:] = []
    return found


@pytest.mark.parametrize("breakage, message", [
    ("malformed", "malformed JSON"),
    ("schema", "field process.args: 5 is not of type 'array'"),
    ("namespace", "field linux.namespaces.0.type: 'bogus' is not one of"),
    ("rootfs", "field root.path: rootfs"),
    ("executable", 'exec: "no-such-program": executable file not found in $PATH'),
    ("capability", "process.capabilities.bounding: unknown capability 'CAP_BOGUS'"),
    ("bind-source", ".source: '/no/such/dir' does not exist"),
])
def test_bad_input_is_one_line_and_leaves_nothing(run_oci, bundle, cid, state_root, breakage, message):
    b = bundle(["true"])
    path = os.path.join(b, "config.json")
    with open(path) as f:
        config = json.load(f)
    if breakage == "malformed":
        text = '{"ociVersion": "1.0.2", "process": '
    else:
        if breakage == "schema":
            config["process"]["args"] = 5
        elif breakage == "namespace":
            config["linux"]["namespaces"][0]["type"] = "bogus"
        elif breakage == "rootfs":
            config["root"]["path"] = "/no/such/rootfs"
        elif breakage == "executable":
            config["process"]["args"] = ["no-such-program"]
        elif breakage == "capability":
            config["process"]["capabilities"]["bounding"].append("CAP_BOGUS")
        elif breakage == "bind-source":
            config["mounts"].append({"destination": "/x", "type": "bind", "source": "/no/such/dir",
                                     "options": ["bind"]})
        text = json.dumps(config)
    with open(path, "w") as f:
        f.write(text)
    done = run_oci("run", "--bundle", b, cid)
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], done.stderr
    assert not os.path.exists(os.path.join(state_root, cid))
    assert _cgroup_dirs(cid) == []
    with open("/proc/self/mountinfo") as f:
        assert b not in f.read()


def test_json_log_gets_errors(run_oci, tmp_path, state_root):
    log = tmp_path / "log.json"
    from tests.conftest import PYCR_OCI
    import subprocess

    done = subprocess.run([PYCR_OCI, "--root", state_root, "--log", str(log), "--log-format", "json",
                           "state", new_id("missing")], capture_output=True, text=True)
    assert done.returncode != 0
    entry = json.loads(log.read_text().splitlines()[-1])
    assert entry["level"] == "error" and "does not exist" in entry["msg"] and entry["time"]


def test_spec_writes_default_config_once(run_oci, tmp_path):
    assert run_oci("spec", "--bundle", str(tmp_path)).returncode == 0
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["process"]["args"] == ["sh"] and config["root"]["path"] == "rootfs"
    again = run_oci("spec", "--bundle", str(tmp_path))
    assert again.returncode != 0 and "exists" in again.stderr


def test_unknown_backend_lists_choices(run_oci, bundle, cid):
    done = run_oci("--backend", "nope", "run", "--bundle", bundle(["true"]), cid)
    assert done.returncode != 0
    assert "cgroup driver 'nope' is not installed; choose one of:" in done.stderr
    assert "cgroup_v1" in done.stderr and "cgroup_v2" in done.stderr


def test_kill_all_reaches_every_process_and_list_quiet(run_oci, bundle, cid, container):
    b = bundle(["sh", "-c", "sleep 60 & sleep 60 & wait"], linux={"namespaces": [
        {"type": t} for t in ("network", "ipc", "uts", "mount", "cgroup")]})  # no pid ns: sh gets SIGTERM
    assert run_oci("create", "--bundle", b, cid).returncode == 0
    container.append(cid)
    quiet = run_oci("list", "-q").stdout.split()  # the ids alone, exactly those the full list has
    assert cid in quiet and quiet == [c["id"] for c in json.loads(run_oci("list", "--format", "json").stdout)]
    assert run_oci("start", cid).returncode == 0
    time.sleep(0.3)
    assert run_oci("kill", "--all", cid, "KILL").returncode == 0
    assert wait_status(run_oci, cid, "stopped")
    assert run_oci("delete", cid).returncode == 0


def test_oom_score_adj(run_oci, bundle, cid):
    b = bundle(["cat", "/proc/self/oom_score_adj"], process={
        "args": ["cat", "/proc/self/oom_score_adj"], "oomScoreAdj": 500, "cwd": "/",
        "user": {"uid": 0, "gid": 0}})
    assert run_oci("run", "--bundle", b, cid).stdout.strip() == "500"


def test_events_report_an_oom_kill(state_root, run_oci, bundle, cid, container):
    import subprocess

    from tests.conftest import PYCR_OCI

    script = "sleep 1; dd if=/dev/zero of=/dev/null bs=100M count=1; sleep 30"
    b = bundle(["sh", "-c", script], linux={"resources": {"memory": {"limit": 32 << 20}}})
    assert run_oci("create", "--bundle", b, cid).returncode == 0
    container.append(cid)
    assert run_oci("start", cid).returncode == 0
    events = subprocess.Popen([PYCR_OCI, "--root", state_root, "events", "--interval", "1", cid],
                              stdout=subprocess.PIPE, text=True)
    try:
        seen = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            line = events.stdout.readline()
            if not line:
                break
            seen.append(json.loads(line)["type"])
            if seen[-1] == "oom":
                break
        assert "oom" in seen, seen
        assert seen[0] == "stats"
    finally:
        run_oci("kill", cid, "KILL")
        events.wait(timeout=20)


def test_run_detach_and_absolute_cgroups_path(run_oci, bundle, cid, container):
    from pycr.core.cgroups import own_cgroup_paths

    own = own_cgroup_paths()["memory"].rstrip("/")
    absolute = f"{own}/pycr-abs-{cid}"  # absolute, and still under our own cgroup in every hierarchy
    b = bundle(["sleep", "60"], linux={"cgroupsPath": absolute, "resources": {"memory": {"limit": 80 << 20}}})
    assert run_oci("run", "--detach", "--bundle", b, cid).returncode == 0
    container.append(cid)
    state = json.loads(run_oci("state", cid).stdout)
    assert state["status"] == "running"
    host = f"/sys/fs/cgroup/memory{absolute}"
    with open(f"{host}/memory.limit_in_bytes") as f:
        assert int(f.read()) == 80 << 20
    with open(f"{host}/cgroup.procs") as f:
        assert str(state["pid"]) in f.read().split()
    assert run_oci("delete", "--force", cid).returncode == 0
    assert not os.path.exists(host)


def test_a_seccomp_profile_that_stops_the_init_says_so(run_oci, bundle, cid, state_root):
    """A profile refusing everything stops the init right after it is loaded, before it can
    report: the one line says where to look, and nothing is left."""
    seccomp = {"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86_64"], "syscalls": []}
    done = run_oci("run", "--bundle", bundle(["true"], linux={"seccomp": seccomp}), cid)
    assert done.returncode != 0 and done.stderr == (
        f"container {cid}: container init exited before sending 'ready' (linux.seccomp is loaded just before: "
        "a profile that refuses a call the init still makes -- sendto, read, openat, execve -- stops it there)\n")
    assert cid not in run_oci("list", "-q").stdout.split()
