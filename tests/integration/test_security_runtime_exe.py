"""Escape class 1 (docs/security.md): the runtime's interpreter, environment
and file descriptors through /proc (the CVE-2019-5736 class).

A container runs an attacker (tests/helpers/exe_watcher.py) that scans
/proc without pause while the test, many times: ``exec``s a process into
it, ``exec``s a ``#!/proc/self/exe`` script (which makes the kernel run the
runtime's own interpreter *inside* the container, dumpable and reachable),
and creates and starts a second container in the same pid namespace.  The
runtime runs from a private copy of the interpreter that nothing else on
the machine uses, so "busy" (ETXTBSY) cannot hide a successful attack: at
the end nothing runs it and the attacker reopens every handle it grabbed.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import sys
import sysconfig
import time
import uuid

import pytest

from pycr.core.testing.bundle import make_bundle
from tests.helpers.engines import run
from tests.conftest import new_id

pytestmark = pytest.mark.root

HERE = os.path.dirname(os.path.abspath(__file__))
WATCHER = os.path.join(HERE, "..", "helpers", "exe_watcher.py")
MARKER = "PYCR_HOST_SECRET_" + uuid.uuid4().hex[:8]
ITERATIONS = int(os.environ.get("PYCR_RACE_ITERATIONS", "200"))


def _sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def _ro(path):
    return {"destination": path, "type": "bind", "source": path, "options": ["rbind", "ro", "nosuid", "nodev"]}


@pytest.fixture
def interpreter(tmp_path):
    """A copy of our interpreter that no other process on the machine runs."""
    copy = tmp_path / "python" / "bin" / "python3"
    copy.parent.mkdir(parents=True)
    shutil.copy2(os.path.realpath(sys.executable), copy)
    return str(copy)


def test_container_cannot_reach_the_runtime_through_proc(tmp_path, state_root, interpreter):
    prefix = sys.base_prefix  # the copy's stdlib and libpython (RUNPATH), bound read-only into the container
    site = sysconfig.get_paths()["purelib"]
    boot = f"import site, sys; site.addsitedir({site!r}); from pycr.core.cli.oci import main; sys.exit(main())"
    env = {**os.environ, "PYTHONHOME": prefix, MARKER: "1"}

    def oci(*args, check=True):
        # The attacker's failing write-opens of the interpreter (EROFS) count as writers for an
        # instant first (the kernel takes write access on the inode before it checks the mount), so
        # our own execve of the interpreter can meet ETXTBSY: that is the attack being refused, not
        # a handle it kept -- retry.  A write-open that *succeeded* is what res["write_ok"] records.
        for attempt in range(50):
            try:
                return run([interpreter, "-c", boot, "--root", state_root, *args], env=env, check=check, timeout=60)
            except OSError as e:
                if e.errno != errno.ETXTBSY or attempt == 49:
                    raise
                time.sleep(0.01)

    shared = tmp_path / "shared"
    shared.mkdir()
    a, b = new_id("exe-a"), new_id("exe-b")
    bundle_a = make_bundle(str(tmp_path / "a"), ["/usr/bin/python3", "-I", "/shared/watcher.py",
                                                 "/shared/results.json", "/shared/stop", MARKER])
    shutil.copy(WATCHER, shared / "watcher.py")
    rootfs = os.path.join(bundle_a, "rootfs")
    for link in ("lib", "lib64"):
        os.symlink(f"usr/{link}", os.path.join(rootfs, link))
    with open(os.path.join(rootfs, "evil"), "w") as f:
        f.write("#!/proc/self/exe\nimport time\ntime.sleep(0.05)\n")
    os.chmod(os.path.join(rootfs, "evil"), 0o755)
    config_path = os.path.join(bundle_a, "config.json")
    with open(config_path) as f:
        config = json.load(f)
    config["mounts"] += [_ro("/usr"), _ro(prefix), {"destination": "/shared", "type": "bind",
                                                     "source": str(shared), "options": ["rbind", "rw"]}]
    os.makedirs(os.path.join(rootfs, prefix.lstrip("/")), exist_ok=True)
    with open(config_path, "w") as f:
        json.dump(config, f)
    before = _sha(interpreter)
    oci("run", "-d", "--bundle", bundle_a, a)
    try:
        init_pid = json.loads(oci("state", a).stdout)["pid"]
        bundle_b = make_bundle(str(tmp_path / "b"), ["true"], hostname="")
        with open(os.path.join(bundle_b, "config.json")) as f:
            cb = json.load(f)
        cb["linux"]["namespaces"] = [{"type": "pid", "path": f"/proc/{init_pid}/ns/pid"}, {"type": "mount"}]
        with open(os.path.join(bundle_b, "config.json"), "w") as f:
            json.dump(cb, f)
        for i in range(ITERATIONS):
            if i % 10 == 5:  # an init waiting for start, visible in the attacker's pid namespace
                oci("create", "--bundle", bundle_b, b)
                time.sleep(0.05)
                oci("start", b)
                oci("delete", "--force", b)
            elif i % 2:
                oci("exec", "--env", f"PYTHONHOME={prefix}", a, "/evil")
            else:
                oci("exec", a, "true")
            time.sleep(0.02)  # gaps in which no process runs the interpreter
        open(shared / "stop", "w").close()
        deadline = time.monotonic() + 60
        while not (shared / "results.json").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        res = json.loads((shared / "results.json").read_text())
    finally:
        open(shared / "stop", "w").close()
        oci("delete", "--force", b, check=False)
        oci("delete", "--force", a, check=False)
    assert _sha(interpreter) == before
    assert res["write_ok"] == [], res
    assert res["environ"] == [], res  # the runtime's (host) environment
    # stdio (fds 0-2) is the process's own, given by the spec; a runtime process may show
    # it for an instant inside execve (dumpable again, comm not yet changed); nothing else
    host_paths = (state_root, str(tmp_path), "exec.fifo")
    leaked = [f for f in res["fds"] if (f.startswith("pycr:") and f.split(":", 2)[1].split()[-1] not in "012")
              or any(p in f for p in host_paths)]
    assert leaked == [], (leaked, res["errors"])
    # the attack did run: it grabbed the interpreter of '#!/proc/self/exe' processes and
    # reopening it for writing failed because the mount is read-only, not because it was busy
    assert res["grabbed"] > 0 and res["errors"].get("write:EROFS", 0) > 0, res
