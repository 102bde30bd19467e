"""The pure parts of pycr-oci's engine-facing verbs: exec's process building,
update's flags, features, the console socket's fd passing (no root needed)."""

from __future__ import annotations

import json
import os
import socket
import types

import pytest

from pycr.core.errors import ConfigError
from pycr.core.runtime import exec as ex
from pycr.core.runtime import live
from pycr.core.runtime.console import recv_fd, send_fd
from pycr.core.runtime.features import features

BASE = {"args": ["sleep", "1"], "env": ["PATH=/bin", "A=1"], "cwd": "/", "user": {"uid": 0, "gid": 0},
        "capabilities": {"bounding": ["CAP_KILL"], "effective": ["CAP_KILL"]}, "terminal": True}


def test_process_from_args_keeps_the_container_process():
    p = ex.process_from_args(BASE, ["sh", "-c", "x"], env=["B=2"], cwd="/tmp", user="1000:50",
                             caps=["CAP_CHOWN"], no_new_privs=True)
    assert p["args"] == ["sh", "-c", "x"]
    assert p["env"] == ["PATH=/bin", "A=1", "B=2"]
    assert p["cwd"] == "/tmp" and p["user"] == {"uid": 1000, "gid": 50}
    assert p["capabilities"]["bounding"] == ["CAP_CHOWN", "CAP_KILL"]
    assert p["capabilities"]["ambient"] == ["CAP_CHOWN"]
    assert p["noNewPrivileges"] is True and p["terminal"] is False
    assert BASE["env"] == ["PATH=/bin", "A=1"]  # the base is not modified


def test_process_from_args_errors():
    with pytest.raises(ConfigError, match="command to run is missing"):
        ex.process_from_args(BASE, [])
    with pytest.raises(ConfigError, match="--user: 'root'"):
        ex.parse_user("root")


def test_load_process_names_the_file(tmp_path):
    path = tmp_path / "p.json"
    path.write_text("{not json")
    with pytest.raises(ConfigError, match=str(path)):
        ex.load_process(str(path))
    path.write_text(json.dumps({"args": []}))
    with pytest.raises(ConfigError, match="args must be a non-empty list"):
        ex.load_process(str(path))
    path.write_text(json.dumps({"args": ["true"], "terminal": True}))
    assert ex.load_process(str(path))["args"] == ["true"]
    with pytest.raises(ConfigError, match="No such file"):
        ex.load_process(str(tmp_path / "missing.json"))


def test_namespaces_to_join_skips_our_own():
    # Our own process shares every namespace with itself: nothing to join.
    assert ex.namespaces_to_join(os.getpid()) == []
    names = [n for n, _ in ex.NAMESPACES]
    assert names[0] == "user" and names[-1] == "mnt"


def _flags(**kw):
    base = dict(memory=None, memory_swap=None, memory_reservation=None, cpu_shares=None, cpu_quota=None,
                cpu_period=None, cpuset_cpus=None, cpuset_mems=None, pids_limit=None)
    return types.SimpleNamespace(**{**base, **kw})


def test_update_flags_become_resources():
    assert live.resources_from_flags(_flags()) == {}
    res = live.resources_from_flags(_flags(memory="64m", memory_swap="-1", cpu_quota=50000, cpu_period=100000,
                                           cpuset_cpus="0", pids_limit=20))
    assert res == {"memory": {"limit": 64 << 20, "swap": -1},
                   "cpu": {"quota": 50000, "period": 100000, "cpus": "0"}, "pids": {"limit": 20}}
    with pytest.raises(ConfigError, match="--memory: 'lots'"):
        live.resources_from_flags(_flags(memory="lots"))


def test_load_resources(tmp_path):
    path = tmp_path / "r.json"
    path.write_text('{"memory": {"limit": 1}}')
    assert live.load_resources(str(path)) == {"memory": {"limit": 1}}
    path.write_text("[1]")
    with pytest.raises(ConfigError, match="expected a JSON object"):
        live.load_resources(str(path))


def test_features_shape(tmp_path):
    (tmp_path / "cgroup.controllers").write_text("cpu memory\n")
    f = features(cgroup_root=str(tmp_path))
    assert f["linux"]["cgroup"] == {"v1": False, "v2": True, "systemd": False, "systemdUser": False}
    assert "CAP_CHOWN" in f["linux"]["capabilities"] and "rbind" in f["mountOptions"]
    assert f["linux"]["seccomp"] == {"enabled": False}  # only what pycr really does
    json.dumps(f)


def test_console_fd_passing_roundtrip():
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    r, w = os.pipe()
    try:
        send_fd(a.fileno(), "/dev/pts/7", w)
        name, got = recv_fd(b)
        assert name == "/dev/pts/7" and got not in (r, w)
        os.write(got, b"through the passed fd")
        os.close(got)
        assert os.read(r, 100) == b"through the passed fd"
    finally:
        for fd in (r, w):
            os.close(fd)
        a.close()
        b.close()
