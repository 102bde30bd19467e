"""The runtime spec to the letter, against the real kernel: every
``linux.devices`` node type, device paths resolved before the /dev check,
``linux.rootfsPropagation`` on the container's own root (seen from inside
and from the host), and the HOME runc gives a process without one."""

from __future__ import annotations

import json
import os

import pytest

pytestmark = pytest.mark.root


def _mount_tags(mountinfo: str, point: str) -> set[str]:
    """The optional fields (shared:N, master:N, unbindable) of mount ``point``; the last one wins."""
    tags: set[str] = set()
    for line in mountinfo.splitlines():
        fields = line.split()
        if fields[4] == point:
            tags = {f.split(":")[0] for f in fields[6:fields.index("-")]}
    return tags


def test_every_device_type_is_made(run_oci, bundle, cid, state_root):
    script = ("for d in fifo unbuf mynull blk; do busybox stat -c '%n %F %t:%T %a %u %g' /dev/$d; done; "
              "echo data > /dev/unbuf && echo wrote-unbuf; echo data > /dev/mynull && echo wrote-mynull")
    devices = [{"path": "/dev/fifo", "type": "p", "fileMode": 0o600},
               {"path": "/dev/unbuf", "type": "u", "major": 1, "minor": 3},
               {"path": "/dev/mynull", "type": "c", "major": 1, "minor": 3, "fileMode": 0o20660, "gid": 1000},
               {"path": "/dev/blk", "type": "b", "major": 7, "minor": 200, "fileMode": 0o600}]
    b = bundle(["sh", "-c", script], linux={"devices": devices})
    r = run_oci("run", "--bundle", b, cid)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [
        "/dev/fifo fifo 0:0 600 0 0", "/dev/unbuf character special file 1:3 666 0 0",
        "/dev/mynull character special file 1:3 660 0 1000", "/dev/blk block special file 7:c8 600 0 0",
        "wrote-unbuf", "wrote-mynull"]


@pytest.mark.parametrize("path", ["/dev/../etc/planted", "/dev/./../etc/planted", "/etc/planted", "/dev"])
def test_device_outside_dev_is_refused_and_nothing_made(run_oci, bundle, cid, state_root, path):
    b = bundle(["true"], linux={"devices": [{"path": path, "type": "c", "major": 1, "minor": 3}]})
    r = run_oci("run", "--bundle", b, cid)
    assert r.returncode != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "linux.devices[0].path" in lines[0] and "is not under /dev" in lines[0], r.stderr
    assert not os.path.lexists(os.path.join(b, "rootfs", "etc", "planted"))
    assert cid not in os.listdir(state_root)


@pytest.mark.parametrize("value, root_tag, sub_tag", [
    ("shared", "shared", None), ("rshared", "shared", "shared"),
    ("unbindable", "unbindable", None), ("runbindable", "unbindable", "unbindable"),
    ("private", None, None), ("rprivate", None, None), ("slave", None, None), ("rslave", None, None),
])
def test_rootfs_propagation_is_on_the_containers_root(run_oci, bundle, cid, state_root, value, root_tag, sub_tag):
    b = bundle(["sh", "-c", "cat /proc/self/mountinfo; echo ==; read x"], linux={"rootfsPropagation": value})
    r = run_oci("create", "--bundle", b, cid)
    assert r.returncode == 0, r.stderr
    try:
        pid = json.loads(run_oci("state", cid).stdout)["pid"]
        with open(f"/proc/{pid}/mountinfo") as f:  # from the host
            outside = f.read()
        for seen in (outside,):
            root = _mount_tags(seen, "/")
            proc = _mount_tags(seen, "/proc")
            assert (root_tag in root) if root_tag else not root & {"shared", "unbindable"}, (value, root)
            assert (sub_tag in proc) if sub_tag else not proc & {"shared", "unbindable"}, (value, proc)
    finally:
        run_oci("delete", "--force", cid)
    # ... and from inside, as the container's process sees its own mounts
    r = run_oci("run", "--bundle", b, cid + "i", input="\n")
    assert r.returncode == 0, r.stderr
    inside = r.stdout.split("==")[0]
    root = _mount_tags(inside, "/")
    assert (root_tag in root) if root_tag else not root & {"shared", "unbindable"}, (value, root)
    assert _mount_tags(inside, "/proc") == _mount_tags(outside, "/proc")


def test_home_from_the_containers_passwd(run_oci, bundle, cid):
    def home(uid, env=("PATH=/bin",)):
        b = bundle(["sh", "-c", 'echo "$HOME"'],
                   process={"args": ["sh", "-c", 'echo "$HOME"'], "cwd": "/", "env": list(env),
                            "user": {"uid": uid, "gid": uid}})
        r = run_oci("run", "--bundle", b, f"{cid}-{uid}-{len(env)}")
        assert r.returncode == 0, r.stderr
        return r.stdout.strip()

    assert home(0) == "/root"
    assert home(1000) == "/home/user"
    assert home(4242) == "/"
    assert home(0, ("PATH=/bin", "HOME=/mine")) == "/mine"


def test_config_without_process_creates_but_does_not_start(run_oci, bundle, cid, state_root):
    b = bundle(["true"])
    path = os.path.join(b, "config.json")
    with open(path) as f:
        config = json.load(f)
    del config["process"]
    with open(path, "w") as f:
        json.dump(config, f)
    r = run_oci("create", "--bundle", b, cid)
    assert r.returncode == 0, r.stderr
    try:
        assert json.loads(run_oci("state", cid).stdout)["status"] == "created"
        r = run_oci("start", cid)
        assert r.returncode != 0
        assert r.stderr.strip().splitlines() == [f"pycr-oci: container {cid}: config.json has no process to start"] \
            or r.stderr.count("\n") == 1 and "no process to start" in r.stderr, r.stderr
        assert json.loads(run_oci("state", cid).stdout)["status"] == "created"
    finally:
        assert run_oci("delete", "--force", cid).returncode == 0
    assert cid not in os.listdir(state_root)
    r = run_oci("run", "--bundle", b, cid)
    assert r.returncode != 0 and "no process to start" in r.stderr and r.stderr.count("\n") == 1, r.stderr
    assert cid not in os.listdir(state_root)
