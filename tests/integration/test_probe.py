"""pycr probe on the real kernel: plain chroot(2) is escapable where
pivot_root (and runc-style --no-pivot) are not; each namespace or cgroup
left out shows up as the probe it should; the host is left clean."""

import glob
import json
import os
import shutil
import subprocess
import sys

import pytest

from pycr.plugins.bench.strategies import registry
from pycr.plugins.probe import runner
from pycr.plugins.probe.script import PROBES, SYSCALL_PROBES

pytestmark = pytest.mark.root

NAMES = ["pycr-v1-pivot", "pycr-v1-hardened", "pycr-v1-nopivot", "pycr-v1-chroot", "pycr-none-pivot",
         "pycr-v1-nonet", "pycr-v1-nopid", "pycr-img-chroot"]


def _leftovers(pid: int) -> list[str]:
    """What the probe run of process ``pid`` left: its work dir, marker file, marker mount and
    target process are all named with its pid (another probe on the machine is not ours)."""
    mark = f"pycr-probe-{pid}-"
    found = glob.glob(f"/var/tmp/{mark}*") + glob.glob(f"/run/{mark}*")
    with open("/proc/self/mountinfo") as f:
        found += [ln for ln in f if mark in ln]
    for path in glob.glob("/proc/[0-9]*/cmdline"):
        try:
            with open(path, "rb") as f:
                if f"pycr-probe-target-{pid}-".encode() in f.read():
                    found.append(path)
        except OSError:
            pass
    return found


def test_the_leftover_check_sees_our_plants():
    """_leftovers finds what a probe of this process plants, by name, and nothing once removed."""
    from pycr.plugins.probe.host import planted

    with planted() as plants:
        seen = _leftovers(os.getpid())
        assert plants.marker in seen and plants.mountmark in seen
        assert any(ln.endswith("\n") and plants.mountmark in ln for ln in seen)  # its mountinfo line
        assert f"/proc/{plants.target_pid}/cmdline" in seen
    assert _leftovers(os.getpid()) == []


@pytest.fixture(scope="module")
def results():
    known = registry()
    names = NAMES + (["runc", "runc-hardened"] if shutil.which("runc") else [])
    res = runner.run([known[n] for n in names])
    assert _leftovers(os.getpid()) == []
    return res


def verdict(results, strategy, probe):
    return results[strategy][probe]["verdict"]


def test_every_probe_ran(results):
    for s, probes in results.items():
        assert set(probes) == set(PROBES)
        for p, r in probes.items():
            assert r["verdict"] in ("contained", "escaped", "n/a"), (s, p, r)


def test_chroot_escapes_where_pivot_root_does_not(results):
    assert verdict(results, "pycr-v1-chroot", "chroot_escape") == "escaped"
    assert "read after '..' walk" in results["pycr-v1-chroot"]["chroot_escape"]["detail"]
    assert verdict(results, "pycr-v1-pivot", "chroot_escape") == "contained"
    # --no-pivot moves the rootfs over / before chroot: the '..' walk falls back into it
    assert verdict(results, "pycr-v1-nopivot", "chroot_escape") == "contained"
    # the image-level chroot rootfs strategy runs with --no-pivot: contained the same way
    assert verdict(results, "pycr-img-chroot", "chroot_escape") == "contained"
    if "runc" in results:
        assert verdict(results, "runc", "chroot_escape") == "contained"


def test_full_isolation_contains_everything(results):
    """Namespaces and cgroups contain every probe but the syscall ones;
    docker's default seccomp profile contains those too."""
    for s in ("pycr-v1-pivot", "pycr-img-chroot", "pycr-v1-hardened"):
        for p in PROBES:
            if p in SYSCALL_PROBES and s != "pycr-v1-hardened":
                continue
            assert verdict(results, s, p) in ("contained", "n/a"), (s, p, results[s][p])


def test_the_default_profile_stops_the_syscall_probes(results):
    # without a filter, keyctl and a new user namespace reach the kernel; with docker's profile they do not
    for plain, hardened in (("pycr-v1-pivot", "pycr-v1-hardened"), ("runc", "runc-hardened")):
        if plain not in results:
            continue
        assert verdict(results, plain, "keyctl") == "escaped", results[plain]["keyctl"]
        assert verdict(results, plain, "userns") == "escaped", results[plain]["userns"]
        for p in SYSCALL_PROBES:
            assert verdict(results, hardened, p) == "contained", (hardened, p, results[hardened][p])
            assert "errno 1" in results[hardened][p]["detail"]


def test_each_missing_layer_shows(results):
    assert verdict(results, "pycr-v1-nonet", "host_network") == "escaped"
    assert verdict(results, "pycr-v1-pivot", "host_network") == "contained"
    assert verdict(results, "pycr-v1-nopid", "host_pids") == "escaped"
    assert verdict(results, "pycr-v1-pivot", "host_pids") == "contained"
    assert verdict(results, "pycr-none-pivot", "memory_limit") == "escaped"
    # no device cgroup: a host block device (the disk, or a loop device of ours when even the
    # host cannot read its disk) is readable; with the v1 device cgroup it is not
    assert verdict(results, "pycr-none-pivot", "raw_device") == "escaped"
    assert verdict(results, "pycr-v1-pivot", "raw_device") == "contained"
    assert verdict(results, "pycr-v1-pivot", "memory_limit") == "contained"
    # visible is not reachable: without CAP_SYS_PTRACE the host process stays out of reach
    assert verdict(results, "pycr-v1-nopid", "ptrace_host") == "contained"
    assert "denied" in results["pycr-v1-nopid"]["ptrace_host"]["detail"]


def _probe(*args: str, timeout: float) -> tuple[subprocess.CompletedProcess, int]:
    """``pycr probe ARGS`` and the pid it ran as (its plants and work dir are named by it)."""
    pycr = os.path.join(os.path.dirname(sys.executable), "pycr")
    with subprocess.Popen([pycr, "probe", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as p:
        out, err = p.communicate(timeout=timeout)
    return subprocess.CompletedProcess(p.args, p.returncode, out, err), p.pid


def test_cli_matrix_and_json():
    out, pid = _probe("-s", "pycr-v1-chroot", "-s", "pycr-v1-pivot", timeout=120)
    assert out.returncode == 0, out.stderr
    assert _leftovers(pid) == []
    rows = {ln.split()[0]: ln.split()[1:] for ln in out.stdout.split("\n\n")[0].splitlines()[1:]}
    col = PROBES.index("chroot_escape")
    assert rows["pycr-v1-chroot"][col] == "ESCAPED" and rows["pycr-v1-pivot"][col] == "contained"
    bad, _ = _probe("-s", "nope", timeout=60)
    assert bad.returncode != 0 and "'nope' is not a known strategy" in bad.stderr
    js, pid = _probe("-s", "pycr-v1-pivot", "--json", timeout=120)
    data = json.loads(js.stdout)
    assert set(data["probes"]) == set(PROBES) and "pycr-v1-pivot" in data["results"]
    assert _leftovers(pid) == []
