"""The low-level runtime against the real kernel: each feature proven from
inside a busybox container run by ``pycr-oci run``."""

import os

import pytest

pytestmark = pytest.mark.root


def run(run_oci, bundle_dir, cid, *extra):
    return run_oci(*extra, "run", "--bundle", bundle_dir, cid)


def test_echo_and_exit_status(run_oci, bundle, cid):
    done = run(run_oci, bundle(["sh", "-c", "echo hello; exit 3"]), cid)
    assert done.stdout == "hello\n"
    assert done.returncode == 3


def test_pid_namespace_makes_pid_1(run_oci, bundle, cid):
    assert run(run_oci, bundle(["sh", "-c", "echo $$"]), cid).stdout.strip() == "1"


def test_hostname_in_uts_namespace(run_oci, bundle, cid):
    done = run(run_oci, bundle(["hostname"], hostname="box-under-test"), cid)
    assert done.stdout.strip() == "box-under-test"
    assert os.uname().nodename != "box-under-test"


def test_user_groups_and_umask(run_oci, bundle, cid):
    b = bundle(["sh", "-c", "id; umask"], process={
        "args": ["sh", "-c", "id; umask"], "user": {"uid": 1000, "gid": 1000, "additionalGids": [5], "umask": 23},
        "cwd": "/", "env": ["PATH=/bin"]})
    out = run(run_oci, b, cid).stdout
    assert "uid=1000(user) gid=1000(user) groups=5(tty)" in out
    assert out.strip().endswith("0027")


def test_capabilities_are_exactly_the_configured_sets(run_oci, bundle, cid):
    caps = {"bounding": ["CAP_KILL", "CAP_CHOWN"], "effective": ["CAP_KILL"], "permitted": ["CAP_KILL"],
            "inheritable": ["CAP_KILL"], "ambient": ["CAP_KILL"]}
    b = bundle(["sh", "-c", "grep Cap /proc/self/status"],
               process={"args": ["sh", "-c", "grep Cap /proc/self/status"], "capabilities": caps,
                        "cwd": "/", "user": {"uid": 0, "gid": 0}})
    status = dict(line.split(":\t") for line in run(run_oci, b, cid).stdout.splitlines())
    kill, chown = 1 << 5, 1 << 0
    assert int(status["CapBnd"], 16) == kill | chown
    assert int(status["CapEff"], 16) == kill
    assert int(status["CapPrm"], 16) == kill
    assert int(status["CapInh"], 16) == kill
    assert int(status["CapAmb"], 16) == kill


def test_no_new_privileges_rlimits_env_cwd(run_oci, bundle, cid):
    script = "grep NoNewPrivs /proc/self/status; ulimit -n; echo $GREETING; pwd"
    b = bundle(["sh", "-c", script], process={
        "args": ["sh", "-c", script], "env": ["PATH=/bin", "GREETING=hi there"], "cwd": "/work/dir",
        "noNewPrivileges": True, "user": {"uid": 0, "gid": 0},
        "rlimits": [{"type": "RLIMIT_NOFILE", "soft": 321, "hard": 322}]})
    lines = run(run_oci, b, cid).stdout.split("\n")
    assert lines[0].split() == ["NoNewPrivs:", "1"]
    assert lines[1:4] == ["321", "hi there", "/work/dir"]


def test_memory_limit_ends_larger_allocation_with_oom_kill(run_oci, bundle, cid):
    b = bundle(["dd", "if=/dev/zero", "of=/dev/null", "bs=200M", "count=1"],
               linux={"resources": {"memory": {"limit": 64 << 20}}})
    assert run(run_oci, b, cid).returncode == 137


def test_memory_limit_allows_smaller_allocation(run_oci, bundle, cid):
    b = bundle(["dd", "if=/dev/zero", "of=/dev/null", "bs=16M", "count=1"],
               linux={"resources": {"memory": {"limit": 64 << 20}}})
    assert run(run_oci, b, cid).returncode == 0


def test_pids_limit_stops_fork_loop(run_oci, bundle, cid):
    script = "n=0; for i in $(seq 1 40); do sleep 3 & n=$((n+1)); done; wait; echo started $n"
    b = bundle(["sh", "-c", script], linux={"resources": {"pids": {"limit": 10}}})
    done = run(run_oci, b, cid)
    assert "can't fork" in done.stderr or "Resource temporarily unavailable" in done.stderr, done.stderr


def test_cgroup_limit_visible_inside(run_oci, bundle, cid):
    b = bundle(["cat", "/sys/fs/cgroup/memory/memory.limit_in_bytes"],
               linux={"resources": {"memory": {"limit": 96 << 20}}})
    assert run(run_oci, b, cid).stdout.strip() == str(96 << 20)


def test_masked_and_readonly_paths(run_oci, bundle, cid):
    script = ("cat /proc/keys | wc -c; ls /sys/firmware | wc -l; "
              "echo 1 > /proc/sys/kernel/domainname && echo WROTE || echo DENIED")
    done = run(run_oci, bundle(["sh", "-c", script]), cid)
    lines = done.stdout.split()
    assert lines[:2] == ["0", "0"]
    assert lines[2] == "DENIED"


def test_readonly_root(run_oci, bundle, cid):
    b = bundle(["sh", "-c", "touch /newfile && echo WROTE || echo DENIED; touch /tmp/x 2>&1"],
               root={"path": "rootfs", "readonly": True},
               mounts=[*__import__("pycr.core.runtime.default_spec", fromlist=["x"]).default_mounts(),
                       {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs"}])
    assert run(run_oci, b, cid).stdout.split()[0] == "DENIED"
    assert not os.path.exists(os.path.join(b, "rootfs", "newfile"))


def test_bind_mounts_rw_and_ro(run_oci, bundle, cid, tmp_path):
    from pycr.core.runtime.default_spec import default_mounts

    share = tmp_path / "share"
    share.mkdir()
    (share / "in.txt").write_text("from host\n")
    mounts = default_mounts() + [
        {"destination": "/rw", "type": "bind", "source": str(share), "options": ["rbind", "rw"]},
        {"destination": "/ro", "type": "bind", "source": str(share), "options": ["bind", "ro"]}]
    script = "cat /ro/in.txt; echo out > /rw/out.txt; echo x > /ro/no.txt || echo RO"
    done = run(run_oci, bundle(["sh", "-c", script], mounts=mounts), cid)
    assert done.stdout.split("\n")[:2] == ["from host", "RO"]
    assert (share / "out.txt").read_text() == "out\n"
    assert not (share / "no.txt").exists()


def test_user_namespace_mapping(run_oci, cid):
    import shutil
    import tempfile

    from pycr.core.runtime.default_spec import default_config
    from pycr.core.testing.bundle import make_bundle

    work = tempfile.mkdtemp(prefix="pycr-userns-")  # reachable by the mapped uid, unlike tmp_path
    os.chmod(work, 0o755)
    bundle = lambda args, **kw: make_bundle(os.path.join(work, "b"), args, **kw)  # noqa: E731

    cfg = default_config(["sh", "-c", "cat /proc/self/uid_map; id -u"])
    cfg["linux"]["namespaces"].append({"type": "user"})
    maps = [{"containerID": 0, "hostID": 200000, "size": 65536}]
    b = bundle(cfg["process"]["args"], linux={**cfg["linux"], "uidMappings": maps, "gidMappings": maps})
    os.chown(os.path.join(b, "rootfs"), 200000, 200000)
    try:
        lines = run(run_oci, b, cid).stdout.split("\n")
    finally:
        shutil.rmtree(work)
    assert lines[0].split() == ["0", "200000", "65536"]
    assert lines[1] == "0"


def test_sysctl_in_network_namespace(run_oci, bundle, cid):
    b = bundle(["cat", "/proc/sys/net/ipv4/ip_forward"], linux={"sysctl": {"net.ipv4.ip_forward": "1"}})
    assert run(run_oci, b, cid).stdout.strip() == "1"
    with open("/proc/sys/net/ipv4/ip_forward") as f:
        host = f.read().strip()
    assert host in ("0", "1")


def test_loopback_is_up_in_new_network_namespace(run_oci, bundle, cid):
    done = run(run_oci, bundle(["sh", "-c", "ip link show lo; ip link | grep -c ': '"]), cid)
    assert "UP" in done.stdout.split("\n")[0], done.stderr
    assert done.stdout.split()[-1] == "1"  # only lo: the host's interfaces are not visible


def test_linux_devices_created(run_oci, bundle, cid):
    dev = {"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 0o640}
    script = "ls -l /dev/fuse /dev/null; for l in fd stdin stdout stderr ptmx; do readlink /dev/$l; done"
    done = run(run_oci, bundle(["sh", "-c", script], linux={"devices": [dev]}), cid)
    lines = done.stdout.splitlines()
    assert lines[0].startswith("crw-r-----") and "10,229" in lines[0].replace(" ", "")
    assert lines[1].startswith("crw-rw-rw-")
    assert lines[2:] == ["/proc/self/fd", "/proc/self/fd/0", "/proc/self/fd/1", "/proc/self/fd/2", "pts/ptmx"]


def test_no_pivot_uses_chroot(run_oci, bundle, cid):
    b = bundle(["sh", "-c", "cat /etc/passwd | head -1"])
    done = run_oci("run", "--no-pivot", "--bundle", b, cid)
    assert done.stdout.startswith("root:x:0:0"), done.stderr


def test_joining_namespace_by_path(run_oci, bundle, cid, container):

    first = bundle(["sleep", "30"], hostname="shared-uts")
    assert run_oci("create", "--bundle", first, cid, check=True).returncode == 0
    container.append(cid)
    pid = int(__import__("json").loads(run_oci("state", cid).stdout)["pid"])
    from pycr.core.runtime.default_spec import default_config

    cfg = default_config(["hostname"])
    cfg["linux"]["namespaces"] = [ns for ns in cfg["linux"]["namespaces"] if ns["type"] != "uts"]
    cfg["linux"]["namespaces"].append({"type": "uts", "path": f"/proc/{pid}/ns/uts"})
    second = bundle(["hostname"], linux=cfg["linux"], hostname="")  # keep the joined name
    done = run_oci("run", "--bundle", second, cid + "-b")
    assert done.stdout.strip() == "shared-uts", done.stderr


def test_killed_by_signal_reports_128_plus_signal(state_root, run_oci, bundle, cid):
    import subprocess
    import time

    from tests.conftest import PYCR_OCI

    proc = subprocess.Popen([PYCR_OCI, "--root", state_root, "run", "--bundle", bundle(["sleep", "30"]), cid],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            if '"running"' in run_oci("state", cid).stdout:
                break
            time.sleep(0.02)
        assert run_oci("kill", cid, "KILL").returncode == 0
        assert proc.wait(timeout=20) == 137
    finally:
        proc.kill()
        proc.wait()


def test_cgroup_namespace_hides_host_path(run_oci, bundle, cid):
    out = run(run_oci, bundle(["cat", "/proc/self/cgroup"]), cid).stdout
    memory = [line for line in out.splitlines() if ":memory:" in line]
    assert memory and memory[0].endswith(":/"), out


def test_cgroup_mount_is_read_only(run_oci, bundle, cid):
    script = "mkdir /sys/fs/cgroup/new 2>/dev/null && echo WROTE || echo DENIED; ls /sys/fs/cgroup/memory | grep -c limit_in_bytes"
    out = run(run_oci, bundle(["sh", "-c", script]), cid).stdout.split()
    assert out[0] == "DENIED" and int(out[1]) > 0


def test_user_process_starts_with_default_signal_dispositions(run_oci, bundle, cid):
    # Python ignores SIGPIPE/SIGXFSZ; exec would hand that on if the init did not reset them
    out = run(run_oci, bundle(["grep", "SigIgn", "/proc/self/status"]), cid).stdout
    assert out.split() == ["SigIgn:", "0000000000000000"]


@pytest.mark.parametrize("propagation, bind, reaches_host", [
    ("slave", "rslave", False), ("private", "rprivate", False),
    ("shared", "rshared", True),  # bidirectional, as Kubernetes asks for it
])
def test_propagation_decides_whether_mounts_inside_reach_a_shared_host_mount(
        run_oci, bundle, cid, propagation, bind, reaches_host, tmp_path):
    import subprocess

    from pycr.core.runtime.default_spec import default_mounts

    share = tmp_path / "share"
    (share / "inner").mkdir(parents=True)
    # a shared mount on the host: what the container mounts below it could propagate back
    subprocess.run(["mount", "--bind", str(share), str(share)], check=True)
    try:
        subprocess.run(["mount", "--make-shared", str(share)], check=True)
        mounts = default_mounts() + [{"destination": "/share", "type": "bind", "source": str(share),
                                      "options": ["rbind", "rw", bind]}]
        args = ["mount", "-t", "tmpfs", "inside", "/share/inner"]
        caps = ["CAP_SYS_ADMIN"]
        b = bundle(args, mounts=mounts, linux={"rootfsPropagation": propagation},
                   process={"args": args, "cwd": "/", "user": {"uid": 0, "gid": 0},
                            "capabilities": {k: caps for k in ("bounding", "effective", "permitted")}})
        done = run(run_oci, b, cid)
        assert done.returncode == 0, done.stderr
        with open("/proc/self/mountinfo") as f:
            assert (f" {share / 'inner'} " in f.read()) == reaches_host
    finally:
        subprocess.run(["umount", "-R", "-l", str(share)], check=False)
