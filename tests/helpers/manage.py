"""Driving ``pycr``'s container management verbs as a user would, for tests.

``manage`` (module scope) gives a callable that runs ``pycr`` with a private
store (under ``conftest.MANAGE_BASE-*``, a path the leak check knows) and
the session's state root.  At teardown it removes every container with the
CLI, then checks that nothing is left: no record, no mount under the store,
no cgroup, runtime state or monitor of any container it saw.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
import uuid

import pytest

from tests.conftest import MANAGE_BASE, PYCR


class Pycr:
    def __init__(self, store: str, state_root: str, image: str):
        self.store, self.root, self.image = store, state_root, image
        self.env = {**os.environ, "PYCR_STORAGE": store, "PYCR_ROOT": state_root}
        self.seen: set[str] = set()
        self.prefix: list[str] = []  # e.g. nsenter --net=...: run pycr in a test's network namespace

    def __call__(self, *args, check=None, input=None, timeout=120) -> subprocess.CompletedProcess:
        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
            code = subprocess.run([*self.prefix, PYCR, "--root", self.root, *args], stdout=out, stderr=err,
                                  input=input, text=True, env=self.env, timeout=timeout).returncode
            out.seek(0)
            err.seek(0)
            r = subprocess.CompletedProcess(args, code, out.read(), err.read())
        if check is not None:
            assert r.returncode == check, f"pycr {' '.join(args)} -> {r.returncode}: {r.stderr}{r.stdout}"
        return r

    def popen(self, *args, **kw) -> subprocess.Popen:
        return subprocess.Popen([*self.prefix, PYCR, "--root", self.root, *args], env=self.env, **kw)

    def run_d(self, *args) -> str:
        """``pycr run -d -q ARGS`` -> the new container's id."""
        r = self(*("run", "-d", "-q") + args, check=0)
        cid = r.stdout.strip().splitlines()[-1]
        assert len(cid) == 64, r.stdout
        self.seen.add(cid)
        return cid

    def ps(self) -> list[dict]:
        rows = json.loads(self("ps", "-a", "--format", "json", check=0).stdout)
        self.seen.update(r["Id"] for r in rows)
        return rows

    def inspect(self, ref: str) -> dict:
        return json.loads(self("inspect", ref, check=0).stdout)[0]

    def state(self, ref: str) -> str:
        return self.inspect(ref)["State"]["Status"]

    def wait_for(self, ref: str, status: str, timeout: float = 20) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            info = self.inspect(ref)
            if info["State"]["Status"] == status:
                return info
            assert time.monotonic() < deadline, f"{ref} stayed {info['State']}"
            time.sleep(0.1)

    def logs(self, ref: str, *args) -> str:
        return self("logs", *args, ref, check=0).stdout

    def monitors(self, name: str = "pycr:[monitor]") -> list[str]:
        """Command lines of live processes called ``name`` that belong to this store (monitors,
        launchers; ``conmon``).  A zombie has no command line: it is not counted."""
        found = []
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    args = f.read().replace(b"\0", b" ").decode(errors="replace")
                with open(f"/proc/{pid}/comm") as f:
                    comm = f.read().strip()
            except OSError:
                continue
            if comm == name and self.store in args:
                found.append(f"{pid} {args}")
        return found


def leftovers(p: Pycr) -> list[str]:
    """Everything of ``p``'s containers that still exists."""
    left = []
    cdir = os.path.join(p.store, "containers")
    if os.path.isdir(cdir):
        left += [f"dir {n}" for n in os.listdir(cdir)]
    with open("/proc/self/mountinfo") as f:
        left += [f"mount {line.split()[4]}" for line in f if p.store in line]
    for cid in p.seen:
        if os.path.exists(os.path.join(p.root, cid)):
            left.append(f"runtime state {cid}")
        for ctrl in os.listdir("/sys/fs/cgroup"):
            for dirpath, dirnames, _ in os.walk(f"/sys/fs/cgroup/{ctrl}"):
                left += [f"cgroup {dirpath}/{d}" for d in dirnames if cid in d]
                if dirpath.count("/") > 8:
                    dirnames[:] = []
    left += [f"process {m}" for m in p.monitors()]
    return left


def remove_all(p: Pycr) -> None:
    ids = [r["Id"] for r in p.ps()]
    if ids:
        p("rm", "-f", *ids)
    p("container", "prune")
    wait_orphans_reaped()


def wait_orphans_reaped(timeout: float = 10.0) -> None:
    """Monitors are double-forked: when one ends (or is killed) pid 1 reaps it.  This machine's
    pid 1 does that about once a second, so wait for those zombies before the leak checks."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        zombies = []
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open(f"/proc/{pid}/stat") as f:
                    stat = f.read()
            except OSError:
                continue
            comm, rest = stat[stat.index("(") + 1:stat.rindex(")")], stat[stat.rindex(")") + 2:].split()
            if comm.startswith("pycr:[") and rest[0] == "Z" and rest[1] == "1":
                zombies.append(pid)
        if not zombies:
            return
        time.sleep(0.1)


@pytest.fixture(scope="module")
def manage(state_root, busybox_ref):
    base = f"{MANAGE_BASE}-{uuid.uuid4().hex[:8]}"
    os.makedirs(base)
    p = Pycr(os.path.join(base, "store"), state_root, busybox_ref)
    p("pull", "-q", busybox_ref, check=0)
    try:
        yield p
    finally:
        remove_all(p)
        left = leftovers(p)
        shutil.rmtree(base, ignore_errors=True)
        assert not left, f"left behind: {left}"


@pytest.fixture
def clean(manage):
    """Per test: start from no containers and check that the test's own cleanup left nothing."""
    remove_all(manage)
    yield manage
    remove_all(manage)
    assert not leftovers(manage)
