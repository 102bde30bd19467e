"""config.json files as real engines write them (captured from dockerd 20.10,
podman 4.3 and containerd 1.6 driving pycr-oci on Debian 12: default runs,
--privileged, user namespaces, read-only roots, limits, ttys) must pass the
schema check and become a plan -- runc accepts every one of them.  Also the
plan-level rules for ``linux.devices`` and ``linux.rootfsPropagation``."""

from __future__ import annotations

import json
import os

import pytest

from pycr.core import spec
from pycr.core.errors import ConfigError
from pycr.core.linux import syscalls as S
from pycr.core.runtime.default_spec import default_config
from pycr.core.runtime.plan import Device, RootPropagation
from tests.unit.test_runtime_plan import build

CORPUS = os.path.join(os.path.dirname(__file__), "..", "data", "configs")
CONFIGS = sorted(n for n in os.listdir(CORPUS) if n.endswith(".json"))


def test_corpus_covers_three_engines():
    engines = {n.split("-")[0] for n in CONFIGS}
    assert engines == {"docker", "podman", "containerd"}
    assert any(n.endswith("privileged.json") for n in CONFIGS)


def _with_bind_sources(config, tmp_path):
    """The engine's bind sources (resolv.conf, hosts, volumes) were in its temp
    dir: make stand-ins, files for files, so the plan can check them."""
    for m in config.get("mounts", []):
        if m.get("type") == "bind" or "bind" in (m.get("options") or []) or "rbind" in (m.get("options") or []):
            if not os.path.exists(m["source"]):
                stand_in = tmp_path / m["source"].lstrip("/")
                stand_in.parent.mkdir(parents=True, exist_ok=True)
                if m["destination"].startswith("/etc/") or "." in os.path.basename(m["destination"]):
                    stand_in.write_text("")
                else:
                    stand_in.mkdir(exist_ok=True)
                m["source"] = str(stand_in)
    return config


@pytest.mark.parametrize("name", CONFIGS)
def test_engine_config_validates_and_plans(name, tmp_path):
    with open(os.path.join(CORPUS, name)) as f:
        config = json.load(f)
    assert spec.schema_error(config) is None
    plan = build(_with_bind_sources(config, tmp_path))
    devices = [s for s in plan.pre_switch if isinstance(s, Device)]
    listed = config.get("linux", {}).get("devices") or []
    assert len(devices) == 6 + len(listed)  # runc's six defaults, then the engine's
    for step in devices:
        assert 0 <= step.mode <= 0o7777  # only permission bits reach mknod/chmod


def test_podman_privileged_sends_file_type_bits():
    """The reason for the leniency: 0o20600 is a char device's st_mode."""
    with open(os.path.join(CORPUS, "podman-privileged.json")) as f:
        config = json.load(f)
    modes = {d["fileMode"] for d in config["linux"]["devices"]}
    assert any(m > 0o777 for m in modes)
    config["linux"]["devices"][0]["fileMode"] = 0o1000000  # beyond any st_mode: still refused
    assert "fileMode" in spec.schema_error(config)


def _devices(*entries):
    config = default_config(["true"])
    config["linux"]["devices"] = list(entries)
    return config


def test_every_node_type_becomes_a_device_step():
    config = _devices({"path": "/dev/fifo", "type": "p"}, {"path": "/dev/unbuf", "type": "u", "major": 1, "minor": 3},
                      {"path": "/dev/blk", "type": "b", "major": 7, "minor": 0, "fileMode": 0o60640})
    steps = [s for s in build(config).pre_switch if isinstance(s, Device)][6:]
    assert [(s.path, s.kind, s.major, s.minor, s.mode) for s in steps] == [
        ("/dev/fifo", "p", 0, 0, 0o666), ("/dev/unbuf", "u", 1, 3, 0o666), ("/dev/blk", "b", 7, 0, 0o640)]


def test_device_rules_only_for_char_and_block_devices():
    from pycr.plugins.cgroups import pycr_resource_limits

    seen = []

    class Cgroup:
        def apply(self, resources):
            seen.append(resources["devices"])

    config = _devices({"path": "/dev/fifo", "type": "p"}, {"path": "/dev/unbuf", "type": "u", "major": 1, "minor": 3},
                      {"path": "/dev/blk", "type": "b", "major": 7, "minor": 0})
    pycr_resource_limits(config=config, cgroup=Cgroup(), resources=config["linux"]["resources"])
    listed = seen[0][-2:]
    assert [(r["type"], r["major"], r["minor"]) for r in listed] == [("c", 1, 3), ("b", 7, 0)]
    assert not any(r.get("type") == "p" for r in seen[0])


@pytest.mark.parametrize("entry, message", [
    ({"path": "/dev/../etc/x", "type": "c", "major": 1, "minor": 3}, r"linux\.devices\[0\]\.path: '/dev/\.\./etc/x' is not under /dev"),
    ({"path": "/dev", "type": "c", "major": 1, "minor": 3}, r"linux\.devices\[0\]\.path"),
    ({"path": "dev/x", "type": "c", "major": 1, "minor": 3}, r"linux\.devices\[0\]\.path"),
    ({"path": "/dev/x", "type": "q", "major": 1, "minor": 3}, r"linux\.devices\[0\]\.type: 'q' is not one of c, b, u, p"),
    ({"path": "/dev/x", "type": "c", "major": -1, "minor": 3}, r"linux\.devices\[0\]\.major: -1 is not a device number"),
    ({"path": "/dev/x", "type": "c", "major": 1}, r"linux\.devices\[0\]\.minor: None"),
    ({"path": "/dev/x", "type": "c", "major": 1, "minor": 3, "uid": -5}, r"linux\.devices\[0\]\.uid: -5"),
])
def test_bad_device_entries_name_the_users_field(entry, message):
    with pytest.raises(ConfigError, match=message):
        build(_devices(entry))


@pytest.mark.parametrize("value, flags", [
    ("shared", S.MS_SHARED), ("rshared", S.MS_SHARED | S.MS_REC), ("slave", S.MS_SLAVE),
    ("rslave", S.MS_SLAVE | S.MS_REC), ("private", S.MS_PRIVATE), ("rprivate", S.MS_PRIVATE | S.MS_REC),
    ("unbindable", S.MS_UNBINDABLE), ("runbindable", S.MS_UNBINDABLE | S.MS_REC),
])
def test_rootfs_propagation_goes_to_the_new_root(value, flags):
    config = default_config(["true"])
    config["linux"]["rootfsPropagation"] = value
    assert spec.schema_error(config) is None  # runc takes the r-forms too
    plan = build(config)
    assert [s.flags for s in plan.post_switch if isinstance(s, RootPropagation)] == [flags]
    assert not plan.root_propagation & S.MS_UNBINDABLE  # the rootfs must stay bindable before the switch
