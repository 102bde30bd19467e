"""Run the probe script once per strategy and read back the verdicts."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile

from pycr.core import PycrError
from pycr.plugins.bench.runner import IMAGE, image_env, import_image
from pycr.plugins.bench.workloads import Workload
from pycr.plugins.probe.script import PROBES, SCRIPT

DEFAULT_STRATEGIES = ("pycr-v1-pivot", "pycr-v1-hardened", "pycr-v1-nopivot", "pycr-v1-chroot", "pycr-none-pivot",
                      "pycr-v1-nonet", "pycr-v1-nopid", "runc", "runc-hardened")
# Docker's default capability set: what a typical container keeps (SYS_CHROOT, MKNOD among them).
PROBE_CAPS = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
              "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
              "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"]
MEMORY_LIMIT = 64 * 1024 * 1024
MEM_ALLOC = "192M"


def parse(output: str) -> dict[str, dict]:
    """``PROBE name verdict detail`` lines -> {name: {verdict, detail}}."""
    found = {}
    for line in output.splitlines():
        parts = line.split(" ", 3)
        if len(parts) >= 3 and parts[0] == "PROBE" and parts[1] in PROBES:
            found[parts[1]] = {"verdict": parts[2], "detail": parts[3] if len(parts) > 3 else ""}
    return found


def probe_config(base: dict, rootfs: str, env: list[str]) -> dict:
    config = json.loads(json.dumps(base))
    config["root"] = {"path": rootfs, "readonly": False}
    proc = config["process"]
    proc["args"] = ["/bin/sh", "/.pycr-probe.sh"]
    proc["env"] = env
    proc["capabilities"] = {k: list(PROBE_CAPS) for k in ("bounding", "effective", "permitted")}
    config["linux"].setdefault("resources", {})["memory"] = {"limit": MEMORY_LIMIT}
    # the host's python3 makes the syscall probes' raw calls (read-only; the rootfs links lib -> usr/lib)
    config["mounts"].append({"destination": "/usr", "type": "bind", "source": "/usr", "options": ["rbind", "ro"]})
    return config


def _command(s, work: str, rootfs: str, base: dict, env: list[str], cid: str) -> list[str]:
    """argv of one probe run: a bundle per strategy, or the rootfs as an image."""
    state = os.path.join(work, "state")
    if s.runtime == "pycr-image":
        if not os.path.exists(os.path.join(work, "store", ".imported")):
            import_image(rootfs, work)
        probe = Workload("probe", ("/bin/sh", "/.pycr-probe.sh"), memory_limit=MEMORY_LIMIT)
        return s.command(state, "", cid, workload=probe, image=IMAGE, env=env)
    bundle = os.path.join(work, f"bundle-{cid}")
    os.makedirs(bundle)
    config = s.adapt_config(probe_config(base, rootfs, env), cid)
    with open(os.path.join(bundle, "config.json"), "w") as f:
        json.dump(config, f, indent=1)
    return s.command(state, bundle, cid)


def run(strategies, timeout: float = 60.0) -> dict[str, dict]:
    """{strategy: {probe: {verdict, detail}}}; verdict ``error`` when a run failed."""
    from pycr.core.testing import find_busybox, make_bundle
    from pycr.plugins.probe.host import planted

    work = tempfile.mkdtemp(prefix="pycr-probe-", dir="/var/tmp")
    results: dict[str, dict] = {}
    try:
        base_dir = make_bundle(os.path.join(work, "base"))
        rootfs = os.path.join(base_dir, "rootfs")
        with open(os.path.join(rootfs, ".pycr-probe.sh"), "w") as f:
            f.write(SCRIPT)
        for link in ("lib", "lib64"):
            os.symlink(f"usr/{link}", os.path.join(rootfs, link))
        with open(os.path.join(base_dir, "config.json")) as f:
            base = json.load(f)
        with planted() as plants:
            env = plants.env(find_busybox(), MEM_ALLOC)
            for i, s in enumerate(strategies):
                why = s.unavailable()
                if why:
                    results[s.name] = {p: {"verdict": "error", "detail": why} for p in PROBES}
                    continue
                cid = f"probe-{os.getpid()}-{i}"
                try:
                    argv = _command(s, work, rootfs, base, env, cid)
                except PycrError as e:
                    results[s.name] = {p: {"verdict": "error", "detail": str(e)} for p in PROBES}
                    continue
                try:
                    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                                          stdin=subprocess.DEVNULL, env=image_env(work))
                    out, err, code = proc.stdout, proc.stderr, proc.returncode
                except subprocess.TimeoutExpired as e:
                    out, err, code = e.stdout or "", "timed out", -1
                found = parse(out if isinstance(out, str) else out.decode())
                reason = (err.strip().splitlines() or [f"exit {code}"])[-1]
                results[s.name] = {p: found.get(p, {"verdict": "error", "detail": reason}) for p in PROBES}
                if not plants.disk_readable and results[s.name]["raw_device"]["verdict"] == "contained":
                    results[s.name]["raw_device"] = {"verdict": "n/a", "detail": "the host itself cannot read "
                                                     f"{plants.disk[0]}:{plants.disk[1]} (sandboxed machine)"}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return results


def format_matrix(results: dict[str, dict]) -> str:
    width = max([len(s) for s in results] + [8])
    cols = [p.replace("_", "-") for p in PROBES]
    lines = [" " * width + "  " + "  ".join(f"{c:<14}" for c in cols)]
    for s, probes in results.items():
        cells = []
        for p in PROBES:
            v = probes[p]["verdict"]
            cells.append(f"{('ESCAPED' if v == 'escaped' else v):<14}")
        lines.append(f"{s:<{width}}  " + "  ".join(cells))
    return "\n".join(lines) + "\n"
