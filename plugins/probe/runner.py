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


def probe_config(base: dict, rootfs: str, env: list[str], limit: bool = True) -> dict:
    config = json.loads(json.dumps(base))
    config["root"] = {"path": rootfs, "readonly": False}
    proc = config["process"]
    proc["args"] = ["/bin/sh", "/.pycr-probe.sh"]
    proc["env"] = env
    proc["capabilities"] = {k: list(PROBE_CAPS) for k in ("bounding", "effective", "permitted")}
    if limit:
        config["linux"].setdefault("resources", {})["memory"] = {"limit": MEMORY_LIMIT}
    # the host's python3 makes the syscall probes' raw calls (read-only; the rootfs links lib -> usr/lib)
    config["mounts"].append({"destination": "/usr", "type": "bind", "source": "/usr", "options": ["rbind", "ro"]})
    return config


def _command(s, work: str, rootfs: str, base: dict, env: list[str], cid: str, limit: bool = True) -> list[str]:
    """argv of one probe run: a bundle per strategy, or the rootfs as an image;
    ``limit=False`` leaves out the memory limit."""
    state = os.path.join(work, "state")
    if s.runtime == "pycr-image":
        if not os.path.exists(os.path.join(work, "store", ".imported")):
            import_image(rootfs, work)
        probe = Workload("probe", ("/bin/sh", "/.pycr-probe.sh"), memory_limit=MEMORY_LIMIT if limit else None)
        return s.command(state, "", cid, workload=probe, image=IMAGE, env=env)
    bundle = os.path.join(work, f"bundle-{cid}")
    os.makedirs(bundle)
    config = s.adapt_config(probe_config(base, rootfs, env, limit), cid)
    with open(os.path.join(bundle, "config.json"), "w") as f:
        json.dump(config, f, indent=1)
    return s.command(state, bundle, cid)


def _run_once(s, work, rootfs, base, env, cid, timeout, limit=True) -> tuple[dict, str]:
    """({probe: verdict} found in the output, the run's last error line)."""
    argv = _command(s, work, rootfs, base, env, cid, limit)
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL, env=image_env(work))
        out, err, code = proc.stdout, proc.stderr, proc.returncode
    except subprocess.TimeoutExpired as e:
        out, err, code = e.stdout or "", "timed out", -1
    found = parse(out if isinstance(out, str) else out.decode())
    return found, (err.strip().splitlines() or [f"exit {code}"])[-1]


def run(strategies, timeout: float = 60.0, meta: dict | None = None) -> dict[str, dict]:
    """{strategy: {probe: {verdict, detail}}}; verdict ``error`` when a run failed.

    A strategy that refuses the memory limit (cgroup v2 on a hybrid host) is
    run again without it, so only ``memory_limit`` is an error.  ``meta``, when
    given, receives what the run's verdicts depend on (the probes' resolved
    descriptions, the raw-device target, the limit, the capabilities).
    """
    from pycr.core.testing import find_busybox, make_bundle
    from pycr.plugins.probe.host import planted
    from pycr.plugins.probe.script import describe

    work = tempfile.mkdtemp(prefix=f"pycr-probe-{os.getpid()}-", dir="/var/tmp")
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
            if meta is not None:
                meta.update(probes=describe(plants.disk_source, MEM_ALLOC, MEMORY_LIMIT >> 20),
                            raw_device_target=plants.disk_source, raw_device_readable_by_host=plants.disk_readable,
                            memory_limit_mib=MEMORY_LIMIT >> 20, mem_alloc=MEM_ALLOC, capabilities=list(PROBE_CAPS))
            env = plants.env(find_busybox(), MEM_ALLOC)
            for i, s in enumerate(strategies):
                why = s.unavailable()
                if why:
                    results[s.name] = {p: {"verdict": "error", "detail": why} for p in PROBES}
                    continue
                cid = f"probe-{os.getpid()}-{i}"
                try:
                    found, reason = _run_once(s, work, rootfs, base, env, cid, timeout)
                    refused = None
                    if not found:  # nothing ran: try once more without the limit, which may be what was refused
                        refused = reason
                        found, reason = _run_once(s, work, rootfs, base, env, cid + "-nolimit", timeout, limit=False)
                        if found:
                            found["memory_limit"] = {"verdict": "error", "detail": "the memory limit was refused: "
                                                     f"{refused}; the other probes ran without it"}
                except PycrError as e:
                    results[s.name] = {p: {"verdict": "error", "detail": str(e)} for p in PROBES}
                    continue
                if not found and refused:
                    reason = refused
                results[s.name] = {p: found.get(p, {"verdict": "error", "detail": reason}) for p in PROBES}
                if not plants.disk_readable and results[s.name]["raw_device"]["verdict"] == "contained":
                    results[s.name]["raw_device"] = {"verdict": "n/a", "detail": "the host itself cannot read "
                                                     f"{plants.disk[0]}:{plants.disk[1]} (sandboxed machine)"}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return results


def summary(results: dict[str, dict]) -> dict:
    """Counts per verdict and the escaped/error cells, for a CI's exit status."""
    counts: dict[str, int] = {}
    cells: dict[str, list[str]] = {"escaped": [], "error": []}
    for s, probes in results.items():
        for p, r in probes.items():
            counts[r["verdict"]] = counts.get(r["verdict"], 0) + 1
            if r["verdict"] in cells:
                cells[r["verdict"]].append(f"{s}/{p}")
    return {"counts": counts, "escaped": cells["escaped"], "errors": cells["error"],
            "strategies": len(results), "probes": len(PROBES)}


def format_summary(summ: dict) -> str:
    counts = ", ".join(f"{n} {v}" for v, n in sorted(summ["counts"].items()))
    lines = [f"summary: {summ['strategies']} strategies x {summ['probes']} probes: {counts}"]
    if summ["escaped"]:
        lines.append(f"escaped: {' '.join(summ['escaped'])}")
    if summ["errors"]:
        lines.append(f"errors: {' '.join(summ['errors'])}")
    return "\n".join(lines) + "\n"


def format_matrix(results: dict[str, dict]) -> str:
    width = max([len(s) for s in results] + [8])
    lines = [" " * width + "  " + "  ".join(f"{c:<14}" for c in PROBES)]  # the ids of the JSON output
    for s, probes in results.items():
        cells = []
        for p in PROBES:
            v = probes[p]["verdict"]
            cells.append(f"{('ESCAPED' if v == 'escaped' else v):<14}")
        lines.append(f"{s:<{width}}  " + "  ".join(cells))
    return "\n".join(lines) + "\n"
