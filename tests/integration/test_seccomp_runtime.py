"""linux.seccomp against the real kernel: every action, every operator,
flags, NOTIFY with a listener, the compile cache, exec, and bad policies."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import PYCR_OCI
from tests.helpers.seccomp import NR, NotifyAgent, build_caller, put_caller, set_seccomp

pytestmark = pytest.mark.root
SIGSYS_EXIT = 128 + 31
DOCKER_SEMANTICS = {"io.pycr.seccomp.unknown-syscalls": "ignore"}  # what pycr run sets with a docker profile


@pytest.fixture(scope="module")
def caller(tmp_path_factory):
    return build_caller(str(tmp_path_factory.mktemp("caller")))


@pytest.fixture
def sbundle(bundle, caller):
    """bundle(script, seccomp[, annotations], **process) -> a busybox bundle with /bin/sys running ``sh -c script``."""

    def make(script: str, seccomp: dict | None, annotations: dict | None = None, **process):
        b = bundle(["sh", "-c", script])
        put_caller(b, caller)
        set_seccomp(b, seccomp, annotations, **process)
        return b

    return make


def allow_but(rules: list[dict], **extra) -> dict:
    return {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
            "syscalls": rules, **extra}


def run(run_oci, cid, b, *args):
    return run_oci("run", "-b", b, *args, cid)


@pytest.mark.parametrize("rule, expected", [
    ({"action": "SCMP_ACT_ERRNO", "errnoRet": 13}, "-1 13"),
    ({"action": "SCMP_ACT_ERRNO"}, "-1 1"),          # EPERM unless errnoRet says otherwise
    ({"action": "SCMP_ACT_TRACE"}, "-1 38"),         # no tracer attached: ENOSYS, by the kernel's rule
    ({"action": "SCMP_ACT_LOG"}, "-1 22"),           # allowed (and logged): the kernel says keyctl(0) is EINVAL
])
def test_action_outcome(run_oci, sbundle, cid, container, rule, expected):
    b = sbundle(f"grep Seccomp: /proc/self/status; /bin/sys {NR['keyctl']} 0", allow_but([{"names": ["keyctl"], **rule}]))
    r = run(run_oci, cid, b)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split("\n")[:2] == ["Seccomp:\t2", expected]


@pytest.mark.parametrize("action", ["SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_KILL_PROCESS"])
def test_kill_actions_kill_with_sigsys(run_oci, sbundle, cid, container, action):
    b = sbundle(f"CATCH_SIGSYS=1 exec /bin/sys {NR['keyctl']} 0", allow_but([{"names": ["keyctl"], "action": action}]))
    r = run(run_oci, cid, b)
    assert r.returncode == SIGSYS_EXIT and "trapped" not in r.stdout, (r.returncode, r.stdout, r.stderr)


def test_trap_sends_a_catchable_sigsys(run_oci, sbundle, cid, container):
    b = sbundle(f"CATCH_SIGSYS=1 exec /bin/sys {NR['keyctl']} 0",
                allow_but([{"names": ["keyctl"], "action": "SCMP_ACT_TRAP"}]))
    r = run(run_oci, cid, b)
    assert (r.returncode, r.stdout) == (0, "trapped\n"), r.stderr


@pytest.mark.parametrize("op, value, value_two, hit, miss", [
    ("SCMP_CMP_EQ", 5, 0, 5, 6),
    ("SCMP_CMP_NE", 5, 0, 6, 5),
    ("SCMP_CMP_LT", 5, 0, 4, 5),
    ("SCMP_CMP_LE", 5, 0, 5, 6),
    ("SCMP_CMP_GT", 5, 0, 6, 5),
    ("SCMP_CMP_GE", 5, 0, 5, 4),
    ("SCMP_CMP_MASKED_EQ", 0xF0, 0x50, 0x53, 0x63),   # (arg & value) == valueTwo
])
def test_operator(run_oci, sbundle, cid, container, op, value, value_two, hit, miss):
    arg = {"index": 0, "value": value, "op": op}
    if value_two:
        arg["valueTwo"] = value_two
    rule = {"names": ["umask"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13, "args": [arg]}
    b = sbundle(f"/bin/sys {NR['umask']} {hit}; /bin/sys {NR['umask']} {miss}", allow_but([rule]))
    r = run(run_oci, cid, b)
    assert r.returncode == 0, r.stderr
    first, second = r.stdout.split("\n")[:2]
    assert first == "-1 13"
    assert second.split()[1] == "0"  # umask succeeded: the condition did not match


def test_conditions_on_distinct_args_are_and(run_oci, sbundle, cid, container):
    """kill(pid, sig): both conditions must hold."""
    rule = {"names": ["kill"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13,
            "args": [{"index": 0, "value": 999999, "op": "SCMP_CMP_EQ"}, {"index": 1, "value": 0, "op": "SCMP_CMP_EQ"}]}
    b = sbundle("/bin/sys 62 999999 0; /bin/sys 62 999998 0", allow_but([rule]))
    r = run(run_oci, cid, b)
    assert r.stdout.split("\n")[:2] == ["-1 13", "-1 3"], r.stderr  # then ESRCH from the kernel


@pytest.mark.parametrize("flags", [["SECCOMP_FILTER_FLAG_LOG"], ["SECCOMP_FILTER_FLAG_TSYNC"],
                                   ["SECCOMP_FILTER_FLAG_SPEC_ALLOW"]])
def test_flags(run_oci, sbundle, cid, container, flags):
    b = sbundle(f"/bin/sys {NR['keyctl']} 0", allow_but([{"names": ["keyctl"], "action": "SCMP_ACT_ERRNO"}],
                                                        flags=flags))
    r = run(run_oci, cid, b)
    assert (r.returncode, r.stdout) == (0, "-1 1\n"), r.stderr


def test_notify_hands_the_fd_to_the_listener(run_oci, sbundle, cid, container, tmp_path):
    sock = str(tmp_path / "agent.sock")
    agent = NotifyAgent(sock, value=4242)
    try:
        b = sbundle(f"/bin/sys {NR['keyctl']} 0; /bin/sys {NR['getppid']}",
                    allow_but([{"names": ["keyctl"], "action": "SCMP_ACT_NOTIFY"}],
                              listenerPath=sock, listenerMetadata="meta-1"))
        r = run(run_oci, cid, b)
    finally:
        agent.close()
    assert r.returncode == 0, r.stderr
    assert r.stdout.split("\n")[:2] == ["4242 0", "0 0"]  # the agent answered keyctl; getppid ran
    assert agent.seen == [NR["keyctl"]]
    st = agent.state
    assert st["fds"] == ["seccompFd"] and st["metadata"] == "meta-1"
    assert st["state"]["id"] == cid and st["pid"] == st["state"]["pid"] > 0


def test_notify_without_a_listener_is_one_line(run_oci, sbundle, cid, tmp_path):
    b = sbundle("true", allow_but([{"names": ["keyctl"], "action": "SCMP_ACT_NOTIFY"}],
                                  listenerPath=str(tmp_path / "nobody.sock")))
    r = run(run_oci, cid, b)
    assert r.returncode != 0 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "linux.seccomp.listenerPath" in r.stderr
    assert cid not in run_oci("list").stdout


def test_filter_loads_for_an_unprivileged_user_without_no_new_privs(run_oci, sbundle, cid, container):
    """noNewPrivileges false: the filter is loaded while the init still has CAP_SYS_ADMIN."""
    caps = {k: [] for k in ("bounding", "effective", "permitted", "inheritable", "ambient")}
    b = sbundle(f"id -u; /bin/sys {NR['keyctl']} 0", allow_but([{"names": ["keyctl"], "action": "SCMP_ACT_ERRNO"}]),
                user={"uid": 1000, "gid": 1000}, capabilities=caps, noNewPrivileges=False)
    r = run(run_oci, cid, b)
    assert (r.returncode, r.stdout) == (0, "1000\n-1 1\n"), r.stderr


def test_exec_is_confined_too(run_oci, sbundle, cid, container):
    b = sbundle("sleep 30", allow_but([{"names": ["keyctl"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]))
    assert run(run_oci, cid, b, "-d").returncode == 0
    container.append(cid)
    r = run_oci("exec", cid, "/bin/sys", str(NR["keyctl"]), "0")
    assert (r.returncode, r.stdout) == (0, "-1 13\n"), r.stderr


def test_compiled_once_then_cached_without_libseccomp(run_oci, sbundle, state_root, cid, container):
    """The second run of a policy reads the cached BPF and flags and never imports the binding, the
    compiler or the policy checks."""
    policy = allow_but([{"names": ["keyctl"], "action": "SCMP_ACT_ERRNO", "errnoRet": 17}])
    b = sbundle(f"/bin/sys {NR['keyctl']} 0", policy)
    assert run(run_oci, cid, b).stdout == "-1 17\n"
    cache = os.path.join(state_root, ".seccomp")
    assert os.stat(cache).st_mode & 0o777 == 0o700
    from pycr.plugins.seccomp.compiled import key

    entry = os.path.join(cache, key(policy) + ".bpf")
    assert os.stat(entry).st_mode & 0o777 == 0o600
    before = os.stat(entry).st_mtime_ns
    env = {**os.environ, "PYTHONPROFILEIMPORTTIME": "1"}
    r = subprocess.run([PYCR_OCI, "--root", state_root, "run", "-b", b, cid], capture_output=True, text=True,
                       env=env, timeout=60)
    assert r.stdout == "-1 17\n"
    imported = {line.rsplit("|", 1)[-1].strip() for line in r.stderr.splitlines() if "|" in line}
    assert "pycr.plugins.seccomp.compiled" in imported
    assert not {"pyseccomp", "seccomp", "pycr.plugins.seccomp.compiler", "pycr.plugins.seccomp.policy"} & imported
    assert os.stat(entry).st_mtime_ns == before


def test_a_cached_run_makes_no_cache_directory(tmp_path, sbundle, state_root, cid):
    """Traced by strace (the runtime process, where the plan is built): the first run in a fresh
    root makes `.seccomp` 0700; the second opens it and makes nothing."""
    root = f"{state_root}-seccache-{cid}"
    b = sbundle(f"/bin/sys {NR['keyctl']} 0", allow_but([{"names": ["keyctl"], "action": "SCMP_ACT_ERRNO",
                                                           "errnoRet": 19}]))
    traces = []
    try:
        for n in (1, 2):
            out = str(tmp_path / f"trace-{n}")
            r = subprocess.run(["strace", "-qq", "-e", "trace=mkdir,mkdirat,openat", "-o", out,
                                PYCR_OCI, "--root", root, "run", "-b", b, cid], capture_output=True, text=True,
                               timeout=60)
            assert (r.returncode, r.stdout) == (0, "-1 19\n"), r.stderr
            with open(out) as f:
                traces.append([" ".join(line.split()) for line in f.read().splitlines() if '".seccomp"' in line])
        assert os.lstat(os.path.join(root, ".seccomp")).st_mode == 0o40700
    finally:
        subprocess.run([PYCR_OCI, "--root", root, "delete", "--force", cid], capture_output=True, timeout=60)
        subprocess.run(["rm", "-rf", root], check=True)
    first, second = traces
    made = [line for line in first if line.startswith("mkdir")]
    assert len(made) == 1 and made[0].startswith("mkdirat(") and made[0].endswith('".seccomp", 0700) = 0'), first
    assert [line for line in second if line.startswith("mkdir")] == [], second
    assert second and all(line.startswith("openat(") and "O_NOFOLLOW" in line and " = -1 " not in line
                          for line in second), second


def _symlink_elsewhere(tmp_path, cache):
    os.symlink(str(tmp_path / "elsewhere"), cache)


def _chmod_777(tmp_path, cache):
    os.rename(str(tmp_path / "elsewhere"), cache)
    os.chmod(cache, 0o777)


def _chown_nobody(tmp_path, cache):
    os.rename(str(tmp_path / "elsewhere"), cache)
    os.chown(cache, 65534, 65534)


@pytest.mark.parametrize("plant", [_symlink_elsewhere, _chmod_777, _chown_nobody])
def test_a_hostile_cache_dir_is_refused(tmp_path, sbundle, cid, plant):
    """A `.seccomp` that is a symlink, world-writable or another user's: one error line, no container,
    nothing read from or written into it."""
    root = str(tmp_path / "root")
    target = tmp_path / "elsewhere"
    target.mkdir(mode=0o700)
    os.makedirs(root, mode=0o700)
    cache = os.path.join(root, ".seccomp")
    plant(tmp_path, cache)
    b = sbundle("true", allow_but([{"names": ["keyctl"], "action": "SCMP_ACT_ERRNO"}]))
    r = subprocess.run([PYCR_OCI, "--root", root, "run", "-b", b, cid], capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert f"seccomp cache {cache}:" in r.stderr and "Traceback" not in r.stderr
    assert os.listdir(cache) == []
    assert sorted(os.listdir(root)) == [".seccomp"]  # no container state, nothing written via the link


BAD_POLICIES = [
    (allow_but([{"names": ["keyctl", "no_such_call"], "action": "SCMP_ACT_ERRNO"}]),
     "linux.seccomp.syscalls[0].names[1]", "no_such_call"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_VAX"]},
     "linux.seccomp.architectures[0]", "SCMP_ARCH_VAX"),
    ({"defaultAction": "SCMP_ACT_MAYBE"}, "linux.seccomp.defaultAction", "SCMP_ACT_MAYBE"),
    (allow_but([{"names": ["umask"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_ABOUT"}]}]),
     "linux.seccomp.syscalls[0].args[0].op", "SCMP_CMP_ABOUT"),
    (allow_but([{"names": ["umask"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}]),
     "linux.seccomp.syscalls[0].args[0].index", "6"),
    (allow_but([], flags=["SECCOMP_FILTER_FLAG_FAST"]), "linux.seccomp.flags[0]", "SECCOMP_FILTER_FLAG_FAST"),
    (allow_but([{"names": ["keyctl"], "action": "SCMP_ACT_ALLOW", "errnoRet": 1}], defaultAction="SCMP_ACT_ERRNO"),
     "linux.seccomp.syscalls[0].action", "errnoRet"),
    (allow_but([{"names": ["keyctl"], "action": "SCMP_ACT_NOTIFY"}]), "linux.seccomp.listenerPath", "NOTIFY"),
]


def _dotted(text: str) -> str:
    """The schema check writes a.b.0, the compiler a.b[0]: compare either."""
    import re

    return re.sub(r"\[(\d+)\]", r".\1", text)


def test_unknown_names_ignored_when_the_config_says_docker_semantics(run_oci, sbundle, cid, container):
    policy = allow_but([{"names": ["no_such_call", "keyctl"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}])
    b = sbundle(f"/bin/sys {NR['keyctl']} 0", policy, annotations=DOCKER_SEMANTICS)
    r = run(run_oci, cid, b)
    assert (r.returncode, r.stdout) == (0, "-1 13\n"), r.stderr


@pytest.mark.parametrize("policy, where, value", BAD_POLICIES)
def test_bad_policy_is_one_line_and_leaves_nothing(run_oci, sbundle, state_root, cid, policy, where, value):
    b = sbundle("true", policy)
    r = run(run_oci, cid, b)
    assert r.returncode != 0
    assert r.stderr.strip().splitlines() == [r.stderr.strip()], r.stderr
    assert _dotted(where) in _dotted(r.stderr) and value in r.stderr, r.stderr
    assert not os.path.exists(os.path.join(state_root, cid))


@pytest.mark.parametrize("policy, where, value", BAD_POLICIES)
def test_bad_policy_without_the_schema_check(policy, where, value):
    """``pycr run`` skips the schema check (it builds the config): the
    compiler's own checks name the same field."""
    from pycr.core import ConfigError
    from pycr.plugins.seccomp import policy as pol
    from pycr.plugins.seccomp.compiler import compile_policy

    with pytest.raises(ConfigError) as e:
        pol.check_listener(policy)
        compile_policy(policy)
    assert where in str(e.value) and value in str(e.value) and "\n" not in str(e.value)


def test_features_report_seccomp(run_oci):
    doc = json.loads(run_oci("features").stdout)["linux"]["seccomp"]
    assert doc["enabled"] is True
    assert set(doc["operators"]) == {"SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ", "SCMP_CMP_GE",
                                     "SCMP_CMP_GT", "SCMP_CMP_MASKED_EQ"}
    assert {"SCMP_ACT_NOTIFY", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_LOG", "SCMP_ACT_TRACE"} <= set(doc["actions"])
    assert "SCMP_ARCH_X86_64" in doc["archs"]
    # every kernel pycr supports knows these three (4.14+)
    assert {"SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"} <= set(
        doc["supportedFlags"])
    assert set(doc["supportedFlags"]) <= set(doc["knownFlags"])


# ------------------------------------------------------------- docker's default profile


def docker_default(caps: list[str]) -> dict:
    from pycr.plugins.seccomp.profile import load_profile, to_linux_seccomp

    return to_linux_seccomp(load_profile(), caps)


DOCKER_CAPS = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
               "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
               "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"]
PY_SCRIPT = r"""
import hashlib, json, mmap, os, select, socket, subprocess, tempfile, threading, time
out = []
t = threading.Thread(target=lambda: out.append(sum(range(1000)))); t.start(); t.join()
a, b = socket.socketpair(); a.send(b"x"); ep = select.epoll(); ep.register(b, select.EPOLLIN)
assert ep.poll(1) and b.recv(1) == b"x"
with tempfile.TemporaryDirectory() as d:
    p = os.path.join(d, "f"); open(p, "w").write("data"); os.rename(p, p + "2")
    with open(p + "2", "r+b") as f:
        m = mmap.mmap(f.fileno(), 4); out.append(m[:4].decode()); m.close()
out.append(subprocess.run(["/bin/sh", "-c", "echo sub"], capture_output=True, text=True).stdout.strip())
out.append(hashlib.sha256(b"").hexdigest()[:8]); time.sleep(0.01)
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM); s.bind(("127.0.0.1", 0)); s.listen(1); s.close()
print(json.dumps(out))
"""


def test_default_profile_lets_python_work(run_oci, sbundle, cid, container):
    """The host's python3 (bind-mounted read-only) runs threads, epoll, mmap,
    subprocess, sockets under docker's profile."""
    b = sbundle("exec python3 -c \"$PY\"", docker_default(DOCKER_CAPS), DOCKER_SEMANTICS, capabilities={k: DOCKER_CAPS for k in (
        "bounding", "effective", "permitted")}, env=["PATH=/usr/bin:/bin", f"PY={PY_SCRIPT}"])
    import json as _json

    path = os.path.join(b, "config.json")
    cfg = _json.load(open(path))
    cfg["mounts"].append({"destination": "/usr", "type": "bind", "source": "/usr", "options": ["rbind", "ro"]})
    cfg["root"]["readonly"] = False
    _json.dump(cfg, open(path, "w"))
    for link in ("lib", "lib64"):
        if not os.path.lexists(os.path.join(b, "rootfs", link)):
            os.symlink(f"usr/{link}", os.path.join(b, "rootfs", link))
    r = run(run_oci, cid, b)
    assert r.returncode == 0, r.stderr
    assert _json.loads(r.stdout) == [499500, "data", "sub", "e3b0c442"]


def test_default_profile_denies_mount_even_with_the_capability(run_oci, sbundle, cid, container):
    """CAP_SYS_ADMIN granted, but the profile made for docker's default caps:
    mount and keyctl are EPERM from the filter, not from the capability check."""
    caps = DOCKER_CAPS + ["CAP_SYS_ADMIN"]
    b = sbundle(f"/bin/sys {NR['mount']} 0 0 0; /bin/sys {NR['keyctl']} 0; /bin/sys {NR['unshare']} 0x10000000; "
                f"/bin/sys {NR['kexec_load']}", docker_default(DOCKER_CAPS), DOCKER_SEMANTICS,
                capabilities={k: caps for k in ("bounding", "effective", "permitted")})
    r = run(run_oci, cid, b)
    assert r.stdout.splitlines() == ["-1 1"] * 4, r.stderr
    set_seccomp(b, None)  # the same container without the filter: mount(NULL...) reaches the kernel
    r = run(run_oci, cid, b)
    assert r.stdout.splitlines()[0] != "-1 1" and r.stdout.splitlines()[2] == "0 0", r.stdout


# ------------------------------------------------------------- AppArmor / SELinux fields


def _oci_logged(state_root, log, *args):
    return subprocess.run([PYCR_OCI, "--root", state_root, "--log", str(log), "--log-format", "json", *args],
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("field, value", [("apparmorProfile", "docker-default"),
                                          ("selinuxLabel", "system_u:system_r:container_t:s0")])
def test_a_process_label_the_host_cannot_apply_is_refused(sbundle, state_root, cid, tmp_path, field, value):
    b = sbundle("true", None, **{field: value})
    log = tmp_path / "log.json"
    r = _oci_logged(state_root, log, "run", "-b", b, cid)
    assert r.returncode != 0 and r.stderr.strip().splitlines() == [r.stderr.strip()], r.stderr
    assert f"process.{field}" in r.stderr and "unconfined" in r.stderr
    entry = json.loads(log.read_text().splitlines()[-1])
    assert entry["level"] == "error" and f"process.{field}" in entry["msg"]
    assert not os.path.exists(os.path.join(state_root, cid))


def test_a_mount_label_without_selinux_is_a_warning(sbundle, state_root, cid, tmp_path):
    b = sbundle("echo ran", None)
    import json as _json

    path = os.path.join(b, "config.json")
    cfg = _json.load(open(path))
    cfg["linux"]["mountLabel"] = "system_u:object_r:container_file_t:s0"
    _json.dump(cfg, open(path, "w"))
    log = tmp_path / "log.json"
    r = _oci_logged(state_root, log, "run", "-b", b, cid)
    assert r.returncode == 0 and r.stdout == "ran\n", r.stderr
    assert r.stderr.startswith("warning: linux.mountLabel") and len(r.stderr.strip().splitlines()) == 1
    entry = json.loads(log.read_text().splitlines()[-1])
    assert entry["level"] == "warning" and "linux.mountLabel" in entry["msg"]


def test_exec_label_options_are_refused(run_oci, sbundle, cid, container):
    b = sbundle("sleep 30", None)
    assert run(run_oci, cid, b, "-d").returncode == 0
    container.append(cid)
    r = run_oci("exec", "--apparmor", "docker-default", cid, "true")
    assert r.returncode != 0 and r.stderr.strip().splitlines() == [r.stderr.strip()] and "--apparmor" in r.stderr
