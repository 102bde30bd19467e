"""Escape class 6 (docs/security.md): ``linux.sysctl`` accepts only the
namespaced sysctls, each only when the container has its own namespace for
it; anything else is refused at create and the host's value is untouched."""

from __future__ import annotations

import os

import pytest

pytestmark = pytest.mark.root


def _host(key):
    with open("/proc/sys/" + key.replace(".", "/")) as f:
        return f.read()


@pytest.mark.parametrize("key, value, namespaces, message", [
    ("fs.lease-break-time", "1", None, "is not namespaced"),
    ("kernel.panic", "1", None, "is not namespaced"),
    ("vm.overcommit_ratio", "1", None, "is not namespaced"),
    ("net.ipv4.ip_forward", "1", ["pid", "mount", "ipc", "uts"], "needs a new network namespace"),
    ("net.ipv4.ip_forward", "1", ["pid", "mount", "ipc", "uts", ("network", "/proc/self/ns/net")],
     "needs a new network namespace"),
    ("kernel.shmmax", "4096", ["pid", "mount", "network", "uts"], "needs a new ipc namespace"),
    ("kernel.hostname", "x", ["pid", "mount", "network", "ipc"], "needs a new uts namespace"),
    ("net.ipv4..conf", "1", None, "invalid key"),
    ("kernel/../fs.lease-break-time", "1", None, "invalid key"),
])
def test_host_sysctls_are_refused(run_oci, bundle, cid, key, value, namespaces, message):
    linux = {"sysctl": {key: value}}
    if namespaces is not None:
        linux["namespaces"] = [{"type": n} if isinstance(n, str) else {"type": n[0], "path": n[1]}
                               for n in namespaces]
    path = "/proc/sys/" + key.replace(".", "/")
    before = _host(key) if os.path.isfile(path) else None
    extra = {"hostname": ""} if namespaces and "uts" not in namespaces else {}
    done = run_oci("run", "--bundle", bundle(["true"], linux=linux, **extra), cid)
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "linux.sysctl" in lines[0] and message in lines[0], done.stderr
    assert "Traceback" not in done.stderr
    if before is not None:
        assert _host(key) == before
    assert cid not in run_oci("list").stdout


def test_namespaced_sysctls_apply_inside_only(run_oci, bundle, cid):
    before = _host("kernel.shmmni"), _host("fs.mqueue.msg_max")
    b = bundle(["sh", "-c", "cat /proc/sys/kernel/shmmni /proc/sys/fs/mqueue/msg_max"],
               linux={"sysctl": {"kernel.shmmni": "1234", "fs.mqueue.msg_max": "33"}})
    done = run_oci("run", "--bundle", b, cid)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["1234", "33"]
    assert (_host("kernel.shmmni"), _host("fs.mqueue.msg_max")) == before
