"""The exec stub (pycr.core.linux.exec_stub, docs/security.md class 1), on the real kernel.

A container with its own pid namespace and no ``startContainer`` hooks: its init
ends through the stub, and ``pycr-oci create``/``run`` need no protective re-exec.
The CVE-2019-5736 move against the init -- an entrypoint ``#!/proc/self/exe`` --
then runs the stub again, never the host's interpreter; the same attack on an
unprotected runtime (``PYCR_UNPROTECTED_INTERPRETER``) does run the interpreter
inside the container, which shows the test can see it.
"""

from __future__ import annotations

import json
import os
import sys
import time

import pytest

from pycr.core.testing.bundle import make_bundle, update_config
from tests.conftest import new_id
from tests.helpers.engines import run
from tests.integration.test_oci_reexec_without_site import SCRIPT, _runtime_seen_by_a_hook

pytestmark = pytest.mark.root


def _oci(root, *args, env=None):
    return run([sys.executable, SCRIPT, "--root", str(root), *args], env=env or _env(), check=False, timeout=60)


def _env(**extra):
    env = {k: v for k, v in os.environ.items() if k not in ("PYCR_UNPROTECTED_INTERPRETER", "PYCR_SYS_PATH")}
    return {**env, **extra}


def test_a_plain_config_needs_no_reexec_and_its_init_waits_in_the_stub(tmp_path):
    argv, readonly = _runtime_seen_by_a_hook(tmp_path / "probe", [sys.executable, SCRIPT], _env(), start_hook=False)
    assert argv[1] == SCRIPT and "-S" not in argv[:2] and not readonly
    root, cid = tmp_path / "state", new_id("stub")
    bundle = make_bundle(str(tmp_path / "b"), ["sleep", "60"])
    done = _oci(root, "create", "--bundle", bundle, cid)
    assert done.returncode == 0, done.stderr
    try:
        pid = json.loads(_oci(root, "state", cid).stdout)["pid"]
        assert os.readlink(f"/proc/{pid}/exe").startswith("/memfd:pycr-init")
        with open(f"/proc/{pid}/comm") as f:
            assert f.read().strip() == "pycr:[init]"
        fds = os.listdir(f"/proc/{pid}/fd")  # stdio and the exec fifo: channel, memfd and the rest are gone
        assert sorted(fds) == ["0", "1", "2", fds[-1]] and os.readlink(f"/proc/{pid}/fd/{fds[-1]}").endswith(
            "exec.fifo"), [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in fds]
        # a process put into the pid namespace before start cannot reach the waiting init's fds
        # (opening the exec fifo through them): the stub made itself non-dumpable again, as the
        # Python init was
        peek = _oci(root, "exec", cid, "cat", f"/proc/1/fd/{fds[-1]}")
        assert peek.returncode != 0 and "Permission denied" in peek.stderr, peek
        assert _oci(root, "start", cid).returncode == 0
        deadline = time.monotonic() + 10
        while os.readlink(f"/proc/{pid}/exe").startswith("/memfd:") and time.monotonic() < deadline:
            time.sleep(0.02)
        with open(f"/proc/{pid}/comm") as f:
            assert f.read().strip() == "sleep"
        assert sorted(os.listdir(f"/proc/{pid}/fd")) == ["0", "1", "2"]  # the fifo was closed
    finally:
        assert _oci(root, "delete", "--force", cid).returncode == 0


def _ro(path):
    return {"destination": path, "type": "bind", "source": path, "options": ["rbind", "ro", "nosuid", "nodev"]}


@pytest.mark.parametrize("unprotected", [False, True], ids=["stub", "unprotected-control"])
def test_a_proc_self_exe_entrypoint_never_runs_the_host_interpreter(tmp_path, unprotected):
    prefix = sys.base_prefix
    shared = tmp_path / "shared"
    shared.mkdir()
    bundle = make_bundle(str(tmp_path / "b"), ["/evil"])
    rootfs = os.path.join(bundle, "rootfs")
    for link in ("lib", "lib64"):
        os.symlink(f"usr/{link}", os.path.join(rootfs, link))
    with open(os.path.join(rootfs, "evil"), "w") as f:  # what the host's interpreter would run
        f.write("#!/proc/self/exe\nopen('/shared/pwned', 'w').write('the host interpreter ran here')\n")
    os.chmod(os.path.join(rootfs, "evil"), 0o755)
    os.makedirs(os.path.join(rootfs, prefix.lstrip("/")), exist_ok=True)
    config = json.load(open(os.path.join(bundle, "config.json")))
    update_config(bundle, mounts=config["mounts"] + [_ro("/usr"), _ro(prefix), {
        "destination": "/shared", "type": "bind", "source": str(shared), "options": ["rbind", "rw"]}],
        process={"env": config["process"]["env"] + [f"PYTHONHOME={prefix}"]})
    env = _env(**({"PYCR_UNPROTECTED_INTERPRETER": "1"} if unprotected else {}))
    done = _oci(tmp_path / "state", "run", "--bundle", bundle, new_id("evil"), env=env)
    if unprotected:  # the attack is real: the runtime's own interpreter ran as the container's process
        assert done.returncode == 0 and (shared / "pwned").exists(), done.stderr
    else:  # the stub ran again as the script's interpreter, found its channel closed, exited 1
        assert done.returncode == 1 and not (shared / "pwned").exists(), done.stderr
        assert done.stderr == ""


def test_a_config_the_stub_cannot_serve_still_reexecs(tmp_path):
    """The init of a container joining another's pid namespace stays Python until execve:
    the runtime re-executes from the read-only view (as for a startContainer hook)."""
    root = tmp_path / "state"
    first, second = new_id("pidns-a"), new_id("pidns-b")
    a = make_bundle(str(tmp_path / "a"), ["sleep", "60"])
    assert _oci(root, "run", "--detach", "--bundle", a, first).returncode == 0
    try:
        pid = json.loads(_oci(root, "state", first).stdout)["pid"]
        out = tmp_path / "runtime.txt"
        probe = ("import os; p = os.getppid(); "
                 "print(bool(os.statvfs(f'/proc/{p}/exe').f_flag & os.ST_RDONLY))")
        hook = {"path": "/bin/sh", "args": ["sh", "-c", f"exec {sys._base_executable} -I -S -c \"{probe}\" > {out}"]}
        b = make_bundle(str(tmp_path / "b"), ["true"], hooks={"createRuntime": [hook]})
        config = json.load(open(os.path.join(b, "config.json")))
        spaces = [ns for ns in config["linux"]["namespaces"] if ns["type"] != "pid"]
        update_config(b, linux={"namespaces": spaces + [{"type": "pid", "path": f"/proc/{pid}/ns/pid"}]})
        done = _oci(root, "run", "--bundle", b, second)
        assert done.returncode == 0, done.stderr
        assert out.read_text().strip() == "True"
    finally:
        _oci(root, "delete", "--force", second)
        assert _oci(root, "delete", "--force", first).returncode == 0
