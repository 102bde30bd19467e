"""The seccomp plugin's logic without containers: its hooks, docker's
profile semantics, the capability arithmetic of --cap-add/--cap-drop."""

from __future__ import annotations

import json
import os
import socket
import threading

import pytest

from pycr.core import ConfigError, Plan
from pycr.plugins.seccomp import hooks as plugin
from pycr.plugins.seccomp import profile, run_options


def test_pycr_features_through_the_plugin_manager():
    from pycr.core.plugins import PluginManager

    doc = {"linux": {"seccomp": {"enabled": False}}}
    PluginManager().hook.pycr_features(features=doc)
    sec = doc["linux"]["seccomp"]
    assert sec["enabled"] is True and "SCMP_CMP_MASKED_EQ" in sec["operators"]
    assert set(sec["supportedFlags"]) <= set(sec["knownFlags"])


def test_pycr_init_request_sends_state_and_fd_to_the_listener(tmp_path):
    path = str(tmp_path / "l.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(1)
    got = {}

    def accept():
        conn, _ = srv.accept()
        with conn:
            msg, fds, _, _ = socket.recv_fds(conn, 1 << 16, 2)
        got.update(doc=json.loads(msg), fds=fds)

    t = threading.Thread(target=accept)
    t.start()
    r, w = os.pipe()
    config = {"linux": {"seccomp": {"listenerPath": path, "listenerMetadata": "m"}}}
    state = {"id": "c1", "pid": 42, "status": "creating"}
    assert plugin.pycr_init_request(request={"type": "other"}, config=config, state=state) is None
    assert plugin.pycr_init_request(request={"type": "seccomp", "fds": [w]}, config=config, state=state) == {}
    t.join(10)
    srv.close()
    assert got["doc"] == {"ociVersion": "1.2.0", "fds": ["seccompFd"], "pid": 42, "metadata": "m", "state": state}
    os.write(got["fds"][0], b"x")  # the very pipe we passed
    assert os.read(r, 1) == b"x"
    for fd in (r, w, *got["fds"]):
        os.close(fd)


def test_lsm_fields_are_refused_or_warned():
    for field in ("apparmorProfile", "selinuxLabel"):
        with pytest.raises(ConfigError, match=f"process.{field}"):
            plugin.pycr_isolation_plan(config={"process": {field: "x"}, "linux": {}}, plan=Plan())
    plan = Plan()
    plugin.pycr_isolation_plan(config={"process": {}, "linux": {"mountLabel": "system_u:object_r:x"}}, plan=plan)
    assert len(plan.warnings) == 1 and "linux.mountLabel" in plan.warnings[0]


RULES = {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1,
         "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86"]}],
         "syscalls": [
             {"names": ["read", "not_a_syscall_anywhere"], "action": "SCMP_ACT_ALLOW"},
             {"names": ["mount"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
             {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38, "excludes": {"caps": ["CAP_SYS_ADMIN"]}},
             {"names": ["arch_prctl"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["amd64"]}},
             {"names": ["set_tls"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["arm64"]}},
             {"names": ["ptrace"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "99.0"}},
         ]}


@pytest.mark.skipif(os.uname().machine != "x86_64", reason="the profile's arch rules are written for amd64")
def test_docker_profile_semantics():
    plain = profile.to_linux_seccomp(RULES, ["CAP_CHOWN"])
    assert plain["architectures"] == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"]
    assert plain["defaultErrnoRet"] == 1
    names = [r["names"] for r in plain["syscalls"]]
    assert names == [["read", "not_a_syscall_anywhere"], ["clone3"], ["arch_prctl"]]  # caps, arch, minKernel
    admin = profile.to_linux_seccomp(RULES, ["CAP_SYS_ADMIN"])
    assert [r["names"][0] for r in admin["syscalls"]] == ["read", "mount", "arch_prctl"]


def test_unknown_names_are_ignored_only_for_docker_profiles():
    """docker + runc ignore syscall names libseccomp does not know; a plain
    OCI policy gets a one-line error for them."""
    from pycr.plugins.seccomp.compiler import compile_policy

    config = {"process": {}}
    profile.apply(config, RULES, ["CAP_CHOWN"])
    assert config["annotations"] == {"io.pycr.seccomp.unknown-syscalls": "ignore"}
    assert len(compile_policy(config["linux"]["seccomp"], ignore_unknown=True)) > 0
    with pytest.raises(ConfigError, match=r"syscalls\[0\]\.names\[1\]: unknown syscall 'not_a_syscall_anywhere'"):
        compile_policy(config["linux"]["seccomp"])


def test_the_shipped_profile_compiles_and_keeps_docker_defaults():
    from pycr.plugins.images.runconfig import DOCKER_CAPS
    from pycr.plugins.seccomp.compiler import compile_policy

    doc = profile.load_profile()
    assert doc["defaultAction"] == "SCMP_ACT_ERRNO" and doc["defaultErrnoRet"] == 1
    linux = profile.to_linux_seccomp(doc, DOCKER_CAPS)
    allowed = {n for r in linux["syscalls"] if r["action"] == "SCMP_ACT_ALLOW" and "args" not in r for n in r["names"]}
    assert {"read", "write", "execve", "clone3"} - allowed == {"clone3"}  # clone3: ENOSYS without CAP_SYS_ADMIN
    assert not {"keyctl", "mount", "unshare", "kexec_load", "add_key", "bpf"} & allowed
    assert len(compile_policy(linux)) % 8 == 0


@pytest.mark.parametrize("add, drop, expected", [
    ([], [], ["CAP_CHOWN", "CAP_KILL"]),
    (["CAP_NET_ADMIN"], ["CAP_KILL"], ["CAP_CHOWN", "CAP_NET_ADMIN"]),
    (["CAP_NET_ADMIN"], ["ALL"], ["CAP_NET_ADMIN"]),
    ([], ["ALL"], []),
])
def test_cap_add_and_drop_follow_docker(add, drop, expected):
    sec = run_options.Security()
    sec.cap_add, sec.cap_drop = add, drop
    assert sec.capabilities(["CAP_CHOWN", "CAP_KILL"]) == expected


def test_cap_add_all_is_what_we_have_minus_drops():
    sec = run_options.Security()
    sec.cap_add, sec.cap_drop = ["ALL"], ["CAP_KILL"]
    caps = sec.capabilities([])
    assert "CAP_KILL" not in caps and set(caps) == set(run_options.available_caps()) - {"CAP_KILL"}


@pytest.mark.parametrize("spec, expected", [
    ("nofile=10", {"type": "RLIMIT_NOFILE", "soft": 10, "hard": 10}),
    ("core=-1:unlimited", {"type": "RLIMIT_CORE", "soft": 2**64 - 1, "hard": 2**64 - 1}),
    ("nproc=5:9", {"type": "RLIMIT_NPROC", "soft": 5, "hard": 9}),
])
def test_ulimit(spec, expected):
    assert run_options.parse_ulimit(spec) == expected


def test_device_spec_forms():
    d = run_options.parse_device("/dev/null")
    assert d["device"]["path"] == "/dev/null" and d["allow"]["access"] == "rwm" and d["device"]["type"] == "c"
    assert run_options.parse_device("/dev/null:r")["allow"]["access"] == "r"
    d = run_options.parse_device("/dev/null:/dev/n2:rw")
    assert (d["device"]["path"], d["allow"]["access"], d["allow"]["major"]) == ("/dev/n2", "rw", 1)


def test_load_flags_add_a_listener_for_notify():
    from pycr.plugins.seccomp import policy

    plain = {"flags": ["SECCOMP_FILTER_FLAG_LOG"], "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO"}]}
    assert policy.load_flags(plain) == 2
    notify = {"flags": ["SECCOMP_FILTER_FLAG_TSYNC"], "syscalls": [{"names": ["read"], "action": "SCMP_ACT_NOTIFY"}]}
    # NEW_LISTENER next to TSYNC only with TSYNC_ESRCH (the kernel's rule)
    assert policy.load_flags(notify) == 1 | policy.FLAG_NEW_LISTENER | policy.FLAG_TSYNC_ESRCH
    with pytest.raises(ConfigError, match=r"linux.seccomp.flags\[0\]"):
        policy.load_flags({"flags": ["SECCOMP_FILTER_FLAG_NEW_LISTENER"]})  # the runtime's own, not the config's


def test_enosys_stub_is_six_instructions_in_front():
    from pycr.plugins.seccomp.compiler import compile_policy, enosys_stub

    pol = {"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"}]}
    prog = compile_policy(pol)
    stub = enosys_stub(1)  # write is 1 on x86_64
    if os.uname().machine == "x86_64":
        assert len(stub) == 6 * 8 and prog.startswith(stub)
    allow = compile_policy({**pol, "defaultAction": "SCMP_ACT_ALLOW",
                            "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO"}]})
    assert not allow.startswith(stub[:8 * 2])  # no stub when the default allows
