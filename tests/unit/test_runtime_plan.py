"""The plan built by the built-in plugins from a config, and what its steps
ask of the kernel -- checked with the recording syscall layer, no root."""

import os

import pytest

from pycr.core.errors import ConfigError
from pycr.core.linux import syscalls as S
from pycr.core.linux.paths import safe_join
from pycr.core.runtime.default_spec import default_config
from pycr.core.runtime.plan import InitContext, Mount, Plan, parse_mount_options
from pycr.core.testing.syscalls import RecordingSyscalls


class FakeCgroup:
    def mounts(self, destination):
        return [{"destination": destination, "type": "tmpfs", "source": "tmpfs", "options": ["ro"]}]


def build(config, bundle="/tmp", no_pivot=False):
    from pycr.core.plugins import PluginManager

    pm = PluginManager()
    plan = Plan(rootfs=bundle, cgroup=FakeCgroup())
    pm.hook.pycr_isolation_plan(config=config, plan=plan, container_id="pycrtest-x")
    pm.hook.pycr_rootfs_plan(config=config, bundle=bundle, plan=plan, container_id="pycrtest-x")
    plan.switch = pm.hook.pycr_rootfs_switch(config=config, no_pivot=no_pivot, container_id="pycrtest-x")
    return plan


def test_namespaces_become_unshare_flags_and_joins():
    config = default_config(["true"])
    config["linux"]["namespaces"].append({"type": "user"})
    config["linux"]["namespaces"][0] = {"type": "pid", "path": "/proc/1/ns/pid"}
    config["linux"]["uidMappings"] = config["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 1000, "size": 1}]
    plan = build(config)
    assert plan.join == [(S.CLONE_NEWPID, "/proc/1/ns/pid")]
    assert plan.unshare_flags == (S.CLONE_NEWNET | S.CLONE_NEWIPC | S.CLONE_NEWUTS | S.CLONE_NEWNS
                                  | S.CLONE_NEWCGROUP | S.CLONE_NEWUSER)
    assert plan.in_userns and plan.uid_mappings[0]["hostID"] == 1000


def test_process_spec_from_config():
    config = default_config(["sh", "-c", "x"])
    config["process"]["user"] = {"uid": 5, "gid": 6, "additionalGids": [7], "umask": 18}
    config["process"]["capabilities"] = {"bounding": ["CAP_KILL"], "effective": ["CAP_KILL"]}
    proc = build(config).process
    assert (proc.uid, proc.gid, proc.additional_gids, proc.umask) == (5, 6, [7], 18)
    assert proc.bounding == proc.effective == 1 << 5 and proc.permitted == 0
    assert proc.rlimits == [(7, 1024, 1024)] and proc.no_new_privileges


@pytest.mark.parametrize("change, message", [
    (lambda c: c["process"]["capabilities"]["effective"].append("CAP_NOPE"), "unknown capability 'CAP_NOPE'"),
    (lambda c: c["process"]["rlimits"].append({"type": "RLIMIT_NOFILE", "soft": 9, "hard": 1}), "exceeds hard"),
    (lambda c: c.update(hostname="h", linux={"namespaces": [{"type": "mount"}]}), "needs a new uts namespace"),
    (lambda c: c.update(hostname="") or c["linux"].update(sysctl={"net.ipv4.ip_forward": "1"},
                                                         namespaces=[{"type": "mount"}]),
     "needs a new network namespace"),
    (lambda c: c["linux"].update(sysctl={"kernel/../x": "1"}), "invalid key"),
    (lambda c: c["linux"]["namespaces"].append({"type": "user"}), "needs uid and gid mappings"),
])
def test_config_errors_name_the_field(change, message):
    config = default_config(["true"])
    change(config)
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        build(config)


def test_root_switch_choice():
    config = default_config(["true"])
    assert type(build(config).switch).__name__ == "PivotRoot"
    assert type(build(config, no_pivot=True).switch).__name__ == "Chroot"


def test_mount_options():
    flags, prop, data = parse_mount_options(["nosuid", "rbind", "ro", "rprivate", "mode=755", "size=1k"])
    assert flags == S.MS_NOSUID | S.MS_BIND | S.MS_REC | S.MS_RDONLY
    assert prop == S.MS_PRIVATE | S.MS_REC and data == "mode=755,size=1k"
    assert parse_mount_options(["ro", "rw"])[0] == 0


def test_steps_record_kernel_calls_in_order(tmp_path):
    rootfs = tmp_path / "rootfs"
    rootfs.mkdir()
    config = default_config(["true"])
    config["linux"]["devices"] = [{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229}]
    plan = build(config, bundle=str(tmp_path))
    plan.rootfs = str(rootfs)
    sc = RecordingSyscalls()
    ctx = InitContext(str(rootfs))
    for step in plan.pre_switch:
        try:
            step.run(sc, ctx)
        except PermissionError:  # chown of a node as non-root
            pass
    mounts = [c for c in sc.calls if c[0] == "mount"]
    assert mounts[0][3:5] == (None, S.MS_PRIVATE)  # the mount holding the rootfs, made private
    assert mounts[1][1:4] == (str(rootfs), str(rootfs), "bind")  # the rootfs becomes a mount point
    targets = [m[2] for m in mounts[2:]]
    assert targets[:3] == [str(rootfs / "proc"), str(rootfs / "dev"), str(rootfs / "dev/pts")]
    assert str(rootfs / "sys/fs/cgroup") in targets  # from the cgroup driver's mounts()
    nodes = [c[1] for c in sc.calls if c[0] == "mknod"]
    assert str(rootfs / "dev/null") in nodes and str(rootfs / "dev/fuse") in nodes
    assert os.readlink(rootfs / "dev/ptmx") == "pts/ptmx"


def test_mount_destination_cannot_escape_through_symlink(tmp_path):
    rootfs = tmp_path / "rootfs"
    (rootfs / "etc").mkdir(parents=True)
    os.symlink("/../../../../outside", rootfs / "etc" / "evil")
    sc = RecordingSyscalls()
    Mount("/etc/evil/x", "tmpfs", "tmpfs").run(sc, InitContext(str(rootfs)))
    assert sc.calls[0][2] == str(rootfs / "outside" / "x")
    assert safe_join(str(rootfs), "../../..") == str(rootfs)


def test_mount_point_of(tmp_path):
    info = tmp_path / "mountinfo"
    info.write_text("22 1 8:1 / / rw - ext4 /dev/sda1 rw\n"
                    "30 22 0:5 / /run rw - tmpfs tmpfs rw\n"
                    "31 22 0:6 / /srv/my\\040disk rw - ext4 /dev/sdb rw\n")
    from pycr.core.runtime.plan import mount_point_of

    assert mount_point_of("/run/pycr/x", str(info)) == "/run"
    assert mount_point_of("/runner", str(info)) == "/"
    assert mount_point_of("/srv/my disk/b", str(info)) == "/srv/my disk"


def test_the_kernels_last_capability_is_read_once(monkeypatch):
    """A plan asks for it per capability name; the init (a fork) inherits the answer and
    never reads it after the root switch (docs/performance.md, seventh round)."""
    from pycr.core.linux import caps

    monkeypatch.setattr(caps, "_last_cap", [])
    opened = []
    real_open = os.open
    monkeypatch.setattr(os, "open", lambda path, *a, **k: opened.append(path) or real_open(path, *a, **k))
    for _ in range(3):
        assert caps.cap_mask(["CAP_CHOWN", "CAP_KILL"]) == 1 | 1 << 5
    assert caps.cap_mask([]) == 0
    assert opened == ["/proc/sys/kernel/cap_last_cap"]
    with open("/proc/sys/kernel/cap_last_cap") as f:
        assert caps.last_cap() == int(f.read())


def test_an_unreadable_last_capability_is_asked_once_too(monkeypatch):
    """When /proc/sys cannot be read, the fallback is kept as the answer: a later call (the
    init's, after the root switch) must not read again, where /proc may be the image's."""
    from pycr.core.linux import caps

    monkeypatch.setattr(caps, "_last_cap", [])
    opened = []

    def refuse(path, *a, **k):
        opened.append(path)
        raise PermissionError(13, "Permission denied", path)

    monkeypatch.setattr(os, "open", refuse)
    assert caps.last_cap() == len(caps.CAPABILITIES) - 1
    assert caps.last_cap() == len(caps.CAPABILITIES) - 1
    assert opened == ["/proc/sys/kernel/cap_last_cap"]
