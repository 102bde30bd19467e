"""Escape class: Python modules planted in a container's root at the host's import paths.

Once the init has switched root, or an ``exec`` has joined the container's
mount namespace, the host's ``sys.path`` and package directories resolve
inside the container: a module imported lazily from then on would be the
image's file, run as root before the process is confined.  The runtime
imports what it needs before (``plan.preload``, exec's own list).  The
attacker here plants a module under every name the host has in every
directory the runtime imports from; a container with rlimits, a seccomp
policy, a user, capabilities and hooks-free defaults is run and exec'd into,
and no planted module may run.
"""

from __future__ import annotations

import json
import os
import sys

import pycr
import pytest

pytestmark = pytest.mark.root

PLANTED = 'open("/planted-ran", "a").write(__name__ + "\\n")\n'


def _package_dirs() -> list[str]:
    """Every directory of the pycr package tree, as this interpreter (the runtime's) finds them."""
    dirs = []
    for top in pycr.__path__:
        for here, subdirs, files in os.walk(top):
            subdirs[:] = [d for d in subdirs if d not in ("__pycache__", "tests")]
            if "__init__.py" in files:
                dirs.append(here)
    return dirs


def _module_names(directory: str) -> set[str]:
    names = set()
    for entry in os.listdir(directory):
        stem = entry.split(".", 1)[0]
        if entry.endswith((".py", ".so")) or os.path.isfile(os.path.join(directory, entry, "__init__.py")):
            if stem.isidentifier():
                names.add(stem)
    return names


def _plant(rootfs: str) -> int:
    """Plant a module under every module name, in every import directory; returns the count."""
    search = [d for d in sys.path if d and os.path.isdir(d)]
    search.append(os.path.dirname(os.path.realpath(sys.executable)))
    search.append(os.path.dirname(sys.executable))  # the pycr-oci script's directory (sys.path[0])
    top_names = set().union(*(_module_names(d) for d in search))
    count = 0
    for directory, names in [*((d, top_names) for d in search),
                             *((d, _module_names(d)) for d in _package_dirs())]:
        target = rootfs + os.path.abspath(directory)
        os.makedirs(target, exist_ok=True)
        for name in names:
            with open(os.path.join(target, name + ".py"), "w") as f:
                f.write(PLANTED)
            count += 1
    return count


def _confined(bundle: str) -> None:
    path = os.path.join(bundle, "config.json")
    with open(path) as f:
        config = json.load(f)
    process = config["process"]
    process["user"] = {"uid": 1000, "gid": 1000, "additionalGids": [1001]}
    process["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": 512, "hard": 512},
                          {"type": "RLIMIT_CORE", "soft": 0, "hard": 0}]
    process["noNewPrivileges"] = True
    process["oomScoreAdj"] = 100
    config["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"],
                                  "syscalls": [{"names": ["keyctl"], "action": "SCMP_ACT_ERRNO"}]}
    config["linux"]["sysctl"] = {"kernel.domainname": "planted.test"}
    with open(path, "w") as f:
        json.dump(config, f)


def test_planted_modules_never_run(bundle, run_oci, cid, container):
    b = bundle(["sh", "-c", "id -u; cat /proc/self/status | grep -c Seccomp:.2"])
    rootfs = os.path.join(b, "rootfs")
    assert _plant(rootfs) > 100
    _confined(b)
    ran = os.path.join(rootfs, "planted-ran")

    r = run_oci("run", "--bundle", b, cid)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["1000", "1"], r.stdout  # confined as asked: the user and the filter
    assert not os.path.exists(ran), open(ran).read()

    # exec joins the mount namespace of a running container: the same rule
    long_running = cid + "-x"
    b2 = bundle(["sleep", "1000"])
    _plant(os.path.join(b2, "rootfs"))
    _confined(b2)
    container.append(long_running)
    r = run_oci("run", "--detach", "--bundle", b2, long_running)
    assert r.returncode == 0, r.stderr
    process = {"args": ["id", "-u"], "cwd": "/", "user": {"uid": 1000, "gid": 1000}, "env": ["PATH=/bin"],
               "rlimits": [{"type": "RLIMIT_NOFILE", "soft": 256, "hard": 256}], "noNewPrivileges": True,
               "capabilities": {"bounding": ["CAP_CHOWN"], "effective": [], "permitted": []}}
    spec = os.path.join(b2, "exec.json")
    with open(spec, "w") as f:
        json.dump(process, f)
    for _ in range(3):
        r = run_oci("exec", "--process", spec, long_running)
        assert r.returncode == 0, r.stderr
        assert r.stdout.strip() == "1000"
    r = run_oci("exec", long_running, "sh", "-c", "ulimit -n")
    assert r.returncode == 0, r.stderr
    assert not os.path.exists(os.path.join(b2, "rootfs", "planted-ran")), \
        open(os.path.join(b2, "rootfs", "planted-ran")).read()
