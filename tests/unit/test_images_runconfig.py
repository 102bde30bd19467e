"""Image config + ``pycr run`` options -> runtime config.json."""

from __future__ import annotations

import os

import pytest

from pycr.core.errors import ConfigError
from pycr.plugins.images.runconfig import DOCKER_CAPS, RunOptions, build_config, parse_size, resolve_user
from pycr.core.spec import schema_error


@pytest.fixture
def rootfs(tmp_path):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "passwd").write_text("root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n")
    (tmp_path / "etc" / "group").write_text("root:x:0:\napp:x:1000:\nwheel:x:10:app,other\nstaff:x:50:\n")
    return str(tmp_path)


IMAGE = {"config": {"Entrypoint": ["/entry"], "Cmd": ["default"], "Env": ["A=1", "PATH=/bin"],
                    "WorkingDir": "/srv", "User": "app"}}


def test_image_defaults(rootfs):
    c = build_config(IMAGE, rootfs, RunOptions(), container_id="abcdef0123456789")
    p = c["process"]
    assert p["args"] == ["/entry", "default"]
    assert p["cwd"] == "/srv"
    assert p["user"] == {"uid": 1000, "gid": 1000, "additionalGids": [10, 1000]}
    assert p["env"][:2] == ["A=1", "PATH=/bin"] and "HOME=/home/app" in p["env"]
    assert c["hostname"] == "abcdef012345"
    assert p["capabilities"]["bounding"] == DOCKER_CAPS
    assert "/proc/kcore" in c["linux"]["maskedPaths"] and "/proc/sys" in c["linux"]["readonlyPaths"]
    assert {m["destination"] for m in c["mounts"]} >= {"/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue",
                                                        "/sys"}
    assert schema_error(c) is None


def test_overrides(rootfs, tmp_path):
    run = RunOptions(args=["x", "y"], env=["A=2", "B=3"], workdir="/w", user="0:staff", hostname="h",
                     read_only=True, volumes=[f"{tmp_path}:/data:ro"], memory="64m", cpus="1.5", pids_limit=20)
    c = build_config(IMAGE, rootfs, run, container_id="c1")
    assert c["process"]["args"] == ["/entry", "x", "y"]
    assert c["process"]["env"][:3] == ["A=2", "PATH=/bin", "B=3"]
    assert c["process"]["user"] == {"uid": 0, "gid": 50, "additionalGids": [50]}
    assert c["root"]["readonly"] is True and c["hostname"] == "h"
    assert c["mounts"][-1] == {"destination": "/data", "type": "bind", "source": str(tmp_path),
                               "options": ["rbind", "rprivate", "ro"]}
    r = c["linux"]["resources"]
    assert r["memory"] == {"limit": 64 << 20} and r["cpu"] == {"quota": 150000, "period": 100000}
    assert r["pids"] == {"limit": 20}
    c = build_config(IMAGE, rootfs, RunOptions(entrypoint="/bin/echo"), container_id="c1")
    assert c["process"]["args"] == ["/bin/echo"]  # docker: --entrypoint drops the image's Cmd


def test_errors(rootfs):
    with pytest.raises(ConfigError, match="no user 'nobody'"):
        resolve_user(rootfs, "nobody")
    with pytest.raises(ConfigError, match="no group 'nogroup'"):
        resolve_user(rootfs, "app:nogroup")
    assert resolve_user(rootfs, "4242") == {"uid": 4242, "gid": 0, "additionalGids": [0]}
    with pytest.raises(ConfigError, match="no command specified"):
        build_config({"config": {}}, rootfs, RunOptions(), container_id="c")
    with pytest.raises(ConfigError, match="-v /nonexistent:/x: source /nonexistent does not exist"):
        build_config(IMAGE, rootfs, RunOptions(volumes=["/nonexistent:/x"]), container_id="c")
    with pytest.raises(ConfigError, match="--memory: invalid size"):
        parse_size("lots")
    assert parse_size("1g") == 1 << 30 and parse_size("512k") == 512 << 10


def test_passwd_symlink_cannot_leak_host_file(tmp_path):
    """/etc/passwd in the image pointing at an absolute path resolves inside the rootfs."""
    root = tmp_path / "r"
    (root / "etc").mkdir(parents=True)
    (root / "host").mkdir()
    (root / "host" / "passwd").write_text("mine:x:77:77::/:/bin/sh\n")
    os.symlink("/host/passwd", root / "etc" / "passwd")
    assert resolve_user(str(root), "mine")["uid"] == 77
    with pytest.raises(ConfigError):
        resolve_user(str(root), "root")  # the host's /etc/passwd was not read
