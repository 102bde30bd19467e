"""``pycr run`` confinement: docker's default seccomp profile and the
security/device options, against the real kernel; bad values are one line
and leave nothing behind."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.helpers.fixtures import assert_nothing_left

from tests.helpers.seccomp import NR, build_caller

pytestmark = pytest.mark.root
NEWUSER = "0x10000000"


@pytest.fixture(scope="module")
def caller(tmp_path_factory):
    return build_caller(str(tmp_path_factory.mktemp("caller")))


@pytest.fixture
def pycr(tmp_path, caller):
    """``pycr(*args)`` with a private store and root; /bin/sys is the syscall caller (-v, ro)."""
    store, state = tmp_path / "store", tmp_path / "run"
    env = {**os.environ, "PYCR_STORAGE": str(store)}

    def call(*args, extra_env=None):
        return subprocess.run([sys.executable, "-m", "pycr.core.cli.main", "--root", str(state), *args],
                              capture_output=True, text=True, env={**env, **(extra_env or {})}, timeout=120)

    call.sys = ["-v", f"{caller}:/bin/sys:ro"]
    call.store, call.state = store, state
    yield call
    assert_nothing_left(tmp_path, store, state)


def status(out: str, key: str) -> str:
    return next(line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith(key + ":"))


def test_default_profile_stops_the_dangerous_calls_and_busybox_works(pycr, busybox_ref):
    script = (f"grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status; /bin/sys {NR['keyctl']} 0; "
              f"/bin/sys {NR['unshare']} {NEWUSER}; /bin/sys {NR['mount']} 0 0 0; /bin/sys {NR['kexec_load']}; "
              f"/bin/sys {NR['mseal']}; "
              "mkdir -p /tmp/a && echo hi > /tmp/a/f && cat /tmp/a/f | sed s/hi/ok/ && ls /tmp/a && ps >/dev/null && "
              "date >/dev/null && sleep 0.1 && ln -s f /tmp/a/l && readlink /tmp/a/l && chmod 600 /tmp/a/f && "
              "(echo sub; exit 0) && wc -c < /tmp/a/f && id -u && echo done")
    r = pycr("run", "--rm", *pycr.sys, busybox_ref, "sh", "-c", script)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert status(r.stdout, "Seccomp") == "2" and status(r.stdout, "NoNewPrivs") == "0"
    assert lines[2:6] == ["-1 1"] * 4  # keyctl, unshare(NEWUSER), mount, kexec_load: EPERM
    assert lines[6] == "-1 38"  # a syscall newer than the profile: ENOSYS, as with docker
    assert lines[7:] == ["ok", "f", "f", "sub", "3", "0", "done"]


def test_a_cached_profile_costs_run_no_libseccomp(pycr, busybox_ref):
    """The first run compiles docker's profile; the next ones neither compile nor load the binding."""
    assert pycr("run", "--rm", busybox_ref, "true").returncode == 0
    r = pycr("run", "--rm", busybox_ref, "true", extra_env={"PYTHONPROFILEIMPORTTIME": "1"})
    assert r.returncode == 0, r.stderr
    imported = {line.rsplit("|", 1)[-1].strip() for line in r.stderr.splitlines() if "|" in line}
    assert "pycr.plugins.seccomp.profile" in imported and "pycr.plugins.seccomp.compiled" in imported
    assert not {"pyseccomp", "seccomp", "pycr.plugins.seccomp.compiler"} & imported


def test_unconfined_and_cap_sys_admin(pycr, busybox_ref):
    call = f"/bin/sys {NR['unshare']} {NEWUSER}"
    r = pycr("run", "--rm", "--security-opt", "seccomp=unconfined", *pycr.sys, busybox_ref, "sh", "-c",
             f"grep ^Seccomp: /proc/self/status; {call}")
    assert r.stdout.splitlines() == ["Seccomp:\t0", "0 0"], r.stderr
    # the profile's per-capability rules: CAP_SYS_ADMIN brings mount and unshare back
    r = pycr("run", "--rm", "--cap-add", "SYS_ADMIN", *pycr.sys, busybox_ref, "sh", "-c",
             f"grep ^Seccomp: /proc/self/status; {call}; mkdir /m && mount -t tmpfs t /m && echo mounted")
    assert r.stdout.splitlines() == ["Seccomp:\t2", "0 0", "mounted"], r.stderr


def test_a_profile_file(pycr, busybox_ref, tmp_path):
    import json

    prof = {"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["keyctl"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]}
    path = tmp_path / "p.json"
    path.write_text(json.dumps(prof))
    r = pycr("run", "--rm", "--security-opt", f"seccomp={path}", *pycr.sys, busybox_ref,
             "/bin/sys", str(NR["keyctl"]), "0")
    assert r.stdout == "-1 13\n", r.stderr


def test_privileged(pycr, busybox_ref):
    r = pycr("run", "--rm", "--privileged", busybox_ref, "sh", "-c",
             "grep -E '^(Seccomp|CapEff):' /proc/self/status; test -c /dev/kmsg && echo kmsg; "
             "grep -cE ' /proc/(kcore|sys|timer_list) ' /proc/mounts; true")  # no mask, no read-only bind
    assert r.returncode == 0, r.stderr
    assert status(r.stdout, "Seccomp") == "0"
    assert status(r.stdout, "CapEff") == status(open("/proc/self/status").read(), "CapBnd")  # all we have
    assert r.stdout.splitlines()[2:] == ["kmsg", "0"]


def test_capabilities_nnp_ulimit_tmpfs_shm_device_user(pycr, busybox_ref):
    r = pycr("run", "--rm", "--cap-drop", "ALL", "--cap-add", "cap_chown", "--cap-add", "KILL",
             "--security-opt", "no-new-privileges", "--ulimit", "nofile=100:200", "--tmpfs", "/scratch:size=1m",
             "--shm-size", "2m", "--device", "/dev/null:/dev/mynull:rw", "--user", "4321:4322", busybox_ref,
             "sh", "-c", "grep -E '^(CapBnd|NoNewPrivs):' /proc/self/status; ulimit -n; ulimit -Hn; "
             "grep -E ' /(scratch|dev/shm) ' /proc/mounts | cut -d' ' -f2,4; test -c /dev/mynull && "
             "echo x > /dev/mynull && echo dev-ok; id")
    assert r.returncode == 0, r.stderr
    assert int(status(r.stdout, "CapBnd"), 16) == (1 << 0) | (1 << 5)  # CAP_CHOWN, CAP_KILL (a non-root user: bounding)
    assert status(r.stdout, "NoNewPrivs") == "1"
    lines = r.stdout.splitlines()
    assert lines[2:4] == ["100", "200"]
    mounts = dict(line.split(" ", 1) for line in lines[4:6])
    assert "size=1024k" in mounts["/scratch"] and "noexec" in mounts["/scratch"]
    assert "size=2048k" in mounts["/dev/shm"]
    assert lines[6] == "dev-ok"
    assert lines[7].startswith("uid=4321 gid=4322")  # ids the image's passwd does not know


def test_init_reaps_and_passes_the_exit_status(pycr, busybox_ref):
    r = pycr("run", "--rm", "--init", busybox_ref, "sh", "-c", "cat /proc/1/comm; (sleep 0 &); sleep 0.2; "
             "ps -o stat,comm | grep -c '^Z' ; exit 3")
    assert r.returncode == 3, r.stderr
    assert r.stdout.splitlines() == ["docker-init", "0"]


@pytest.mark.parametrize("args, needle", [
    (["--security-opt", "seccomp=/no/such.json"], "--security-opt seccomp=/no/such.json"),
    (["--security-opt", "no-new-privileges=maybe"], "no-new-privileges"),
    (["--security-opt", "apparmor=docker-default"], "--security-opt apparmor=docker-default"),
    (["--security-opt", "bogus"], "--security-opt bogus"),
    (["--cap-add", "CAP_FLY"], "--cap-add CAP_FLY"),
    (["--cap-drop", "nope"], "--cap-drop nope"),
    (["--device", "/etc/passwd"], "not a character or block device"),
    (["--device", "/dev/null:/dev/x:rwz"], "--device /dev/null:/dev/x:rwz"),
    (["--device", "/no/such"], "--device /no/such"),
    (["--ulimit", "nofile=10:5"], "--ulimit nofile=10:5"),
    (["--ulimit", "files=1"], "--ulimit files=1"),
    (["--ulimit", "nofile=x"], "--ulimit nofile=x"),
    (["--tmpfs", "relative"], "--tmpfs relative"),
    (["--tmpfs", "/t:exec,bogus=1"], "bogus=1"),
    (["--shm-size", "lots"], "--shm-size"),
    (["--shm-size", "0"], "--shm-size 0"),
    (["--user", "nosuchuser"], "nosuchuser"),
])
def test_bad_values_are_one_line_and_leave_nothing(pycr, busybox_ref, args, needle, tmp_path):
    for verb in ("run", "create"):
        r = pycr(verb, *args, busybox_ref, "true")
        assert r.returncode != 0
        assert r.stderr.strip().splitlines() == [r.stderr.strip()] and needle in r.stderr, r.stderr
        assert "Traceback" not in r.stderr


def test_bad_profile_file_is_one_line(pycr, busybox_ref, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    r = pycr("run", "--security-opt", f"seccomp={bad}", busybox_ref, "true")
    assert r.returncode != 0 and len(r.stderr.strip().splitlines()) == 1 and str(bad) in r.stderr, r.stderr


def test_create_and_run_detached_carry_the_options(clean):
    """`create` and `run -d` (the managed path) build the same confined config."""
    p = clean
    script = "grep -E '^(Seccomp|CapBnd|NoNewPrivs):' /proc/self/status; ulimit -n"
    opts = ["--cap-drop", "ALL", "--cap-add", "KILL", "--security-opt", "no-new-privileges", "--ulimit", "nofile=77"]
    cid = p("create", "-q", "--name", "confined", *opts, p.image, "sh", "-c", script, check=0).stdout.strip()
    p.seen.add(cid)
    p("start", "confined", check=0)
    assert p.wait_for("confined", "exited")["State"]["ExitCode"] == 0
    out = p.logs("confined")
    assert status(out, "Seccomp") == "2" and int(status(out, "CapBnd"), 16) == 1 << 5
    assert status(out, "NoNewPrivs") == "1" and out.splitlines()[-1] == "77"
    cid = p.run_d("--name", "unconfined", "--security-opt", "seccomp=unconfined", p.image, "sh", "-c", script)
    p.seen.add(cid)
    assert p.wait_for("unconfined", "exited")["State"]["ExitCode"] == 0
    assert status(p.logs("unconfined"), "Seccomp") == "0"
