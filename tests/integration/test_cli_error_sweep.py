"""Sweep the CLIs' error paths with hostile and broken input: every one must
end in a non-zero exit and ONE line naming the problem -- never a traceback
or a Python exception's name (without --debug) -- and leave nothing behind
(state entry, cgroup, mount, record, temp file)."""

from __future__ import annotations

import json
import os
import re
import uuid

import pytest

from tests.conftest import ID_PREFIX, PYCR
from tests.helpers.engines import cgroups_named, run

pytestmark = pytest.mark.root

PYTHON_LEAK = re.compile(r"Traceback|\b[A-Z][a-zA-Z]+(Error|Exception)\b|\bErrno\b")


def assert_one_clean_line(r, *needles):
    text = r.stdout + r.stderr
    assert r.returncode != 0, text
    assert not PYTHON_LEAK.search(text), text
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, r.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


class Raw(str):
    """JSON text spliced in as it is (json.dumps cannot write 1,000 levels itself)."""


def _nest(depth):
    return Raw('{"a": ' * depth + '"x"' + "}" * depth)


def _user_ns(c, n):
    c["linux"]["namespaces"].append({"type": "user"})
    c["linux"]["uidMappings"] = [{"containerID": i, "hostID": 100000 + i, "size": 1} for i in range(n)]
    c["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 1}]


# (name, change to config.json, what the one line must say)
CONFIG_CASES = [
    ("process-string", lambda c: c.update(process="sh"), "process"),
    ("process-list", lambda c: c.update(process=[]), "process"),
    ("root-string", lambda c: c.update(root="rootfs"), "root"),
    ("root-path-number", lambda c: c["root"].update(path=5), "root.path"),
    ("cwd-number", lambda c: c["process"].update(cwd=5), "process.cwd"),
    ("cwd-relative", lambda c: c["process"].update(cwd="tmp"), "process.cwd"),
    ("args-string", lambda c: c["process"].update(args="true"), "process.args"),
    ("annotations-deep", lambda c: c.update(annotations={"k": _nest(1200)}), "config.json"),
    ("annotations-list", lambda c: c.update(annotations=["x"]), "annotations"),
    ("uid-mappings-400", lambda c: _user_ns(c, 400), "linux.uidMappings"),
    ("rlimit-2^63", lambda c: c["process"].update(rlimits=[{"type": "RLIMIT_NOFILE", "soft": 2**63, "hard": 2**63}]),
     "process.rlimits"),
    ("rlimit-2^64", lambda c: c["process"].update(rlimits=[{"type": "RLIMIT_NOFILE", "soft": 2**64, "hard": 2**64}]),
     "process.rlimits"),
    ("gids-70000", lambda c: c["process"]["user"].update(additionalGids=list(range(70000))),
     "process.user.additionalGids"),
    ("device-major-negative", lambda c: c["linux"].update(devices=[{"path": "/dev/x", "type": "c", "major": -1,
                                                                    "minor": 1}]), "linux.devices"),
    ("device-escapes-dev", lambda c: c["linux"].update(devices=[{"path": "/dev/../etc/x", "type": "c", "major": 1,
                                                                 "minor": 3}]), "linux.devices[0].path"),
    ("env-nul", lambda c: c["process"].update(env=["PATH=/bin", "A=x\0y"]), "process.env[1]"),
    ("arg-nul", lambda c: c["process"].update(args=["echo", "a\0b"]), "process.args[1]"),
    ("env-no-name", lambda c: c["process"].update(env=["PATH=/bin", "=x"]), "process.env[1]: '=x' has no variable name"),
    ("arg-e2big", lambda c: c["process"].update(args=["echo", "x" * 200_000]), "process.args[1]"),
    ("args-e2big-total", lambda c: c["process"].update(args=["echo"] + ["y" * 100_000] * 40), "argument list too long"),
    ("no-such-program", lambda c: c["process"].update(args=["/no/such"]), "no such file or directory"),
    ("directory-program", lambda c: c["process"].update(args=["/etc"]), "permission denied"),
    ("memory-string", lambda c: c["linux"].setdefault("resources", {}).update(memory={"limit": "lots"}),
     "linux.resources.memory.limit"),
    ("namespace-bogus", lambda c: c["linux"]["namespaces"].append({"type": "bogus"}), "linux.namespaces"),
]


@pytest.mark.parametrize("name, change, needle", CONFIG_CASES, ids=[c[0] for c in CONFIG_CASES])
def test_bad_configs(run_oci, bundle, state_root, name, change, needle):
    b = bundle(["true"])
    path = os.path.join(b, "config.json")
    with open(path) as f:
        config = json.load(f)
    change(config)
    text = json.dumps(config)
    for key, value in (config.get("annotations") or {}).items() if isinstance(config.get("annotations"), dict) else ():
        if isinstance(value, Raw):
            text = text.replace(json.dumps(value), value)
    with open(path, "w") as f:
        f.write(text)
    for verb in ("run", "create"):
        cid = f"{ID_PREFIX}sweep-{uuid.uuid4().hex[:8]}"
        r = run_oci(verb, "--bundle", b, cid)
        assert_one_clean_line(r, needle)
        assert cid not in os.listdir(state_root)
        assert not cgroups_named(f"pycr-{cid}")


@pytest.mark.parametrize("cid, needle", [
    ("x" * 251, "at most 250"), ("y" * 1024, "at most 250"), ("abc\n", "invalid container id"),
    ("../x", "invalid container id"), ("a b", "invalid container id"), ("", "invalid container id"),
])
def test_bad_ids(run_oci, bundle, state_root, cid, needle):
    b = bundle(["true"])
    before = set(os.listdir(state_root))
    for args in (("run", "--bundle", b, cid), ("create", "--bundle", b, cid), ("state", cid), ("delete", cid),
                 ("kill", cid, "KILL"), ("start", cid)):
        r = run_oci(*args)
        assert_one_clean_line(r)
        if args[0] in ("run", "create") and cid:
            assert needle in r.stderr, r.stderr
    assert set(os.listdir(state_root)) == before


def test_long_but_valid_id_works(run_oci, bundle, state_root):
    cid = ID_PREFIX + "z" * (250 - len(ID_PREFIX))
    r = run_oci("run", "--bundle", bundle(["true"]), cid)
    assert r.returncode == 0, r.stderr
    assert cid not in os.listdir(state_root)


@pytest.mark.parametrize("args, needle", [
    (("--preserve-fds", "-3"), "--preserve-fds"),
    (("--preserve-fds", "x"), "--preserve-fds"),
])
def test_bad_options(run_oci, bundle, args, needle):
    r = run_oci("run", *args, "--bundle", bundle(["true"]), f"{ID_PREFIX}opt-{uuid.uuid4().hex[:6]}")
    assert r.returncode != 0 and needle in r.stderr
    assert not PYTHON_LEAK.search(r.stdout + r.stderr), r.stderr


def test_missing_bundle_and_config(run_oci, tmp_path):
    for b in (tmp_path / "nope", tmp_path):
        r = run_oci("run", "--bundle", str(b), f"{ID_PREFIX}nb-{uuid.uuid4().hex[:6]}")
        assert_one_clean_line(r, "config.json")
    (tmp_path / "config.json").write_text('{"ociVersion": ')
    r = run_oci("run", "--bundle", str(tmp_path), f"{ID_PREFIX}nb-{uuid.uuid4().hex[:6]}")
    assert_one_clean_line(r, "malformed JSON")
    (tmp_path / "config.json").write_text('[' * 100_000)
    r = run_oci("run", "--bundle", str(tmp_path), f"{ID_PREFIX}nb-{uuid.uuid4().hex[:6]}")
    assert_one_clean_line(r, "config.json")


def test_exec_failure_after_start_is_one_line(run_oci, bundle, cid, tmp_path):
    """ENOEXEC happens at execve, after start: the container's stderr hears it in runc's words."""
    b = bundle(["/script"])
    with open(os.path.join(b, "rootfs", "script"), "w") as f:
        f.write("echo no shebang\n")
    os.chmod(os.path.join(b, "rootfs", "script"), 0o755)
    r = run_oci("run", "--bundle", b, cid)
    assert r.returncode == 1
    assert r.stderr.strip() == "exec /script: exec format error"
    assert not PYTHON_LEAK.search(r.stdout + r.stderr)


def _pycr(*args, env=None, **kw):
    return run([PYCR, *args], check=False, timeout=120, env=env, **kw)


@pytest.fixture
def pycr_env(tmp_path, state_root):
    return {**os.environ, "PYCR_STORAGE": str(tmp_path / "store"), "PYCR_ROOT": state_root}


@pytest.mark.parametrize("args, needle", [
    (("run", "--name", "bad\n", "busybox"), "--name"),
    (("run", "--name", "n" * 300, "busybox"), "--name"),
    (("run", "-d", "--name", "n" * 1024, "busybox"), "--name"),
    (("create", "--name", "x/y", "busybox"), "--name"),
    (("run", "--restart", "sometimes", "busybox"), "--restart"),
    (("run", "--memory", "lots", "busybox"), "lots"),
    (("inspect", "no-such-container"), "no-such-container"),
    (("rm", "no-such-container"), "no-such-container"),
    (("logs", "no-such-container"), "no-such-container"),
    (("kill", "no-such-container"), "no-such-container"),
    (("pull", "UPPER/Case::bad"), "UPPER/Case::bad"),
    (("rmi", "no-such-image"), "no-such-image"),
])
def test_pycr_bad_input(pycr_env, args, needle):
    r = _pycr(*args, env=pycr_env)
    assert_one_clean_line(r, needle)
    store = pycr_env["PYCR_STORAGE"]
    made = [os.path.join(dp, n) for dp, dns, fs in os.walk(store) for n in dns + fs] if os.path.isdir(store) else []
    assert not [m for m in made if "/containers/" in m or m.endswith(".tmp")], made
