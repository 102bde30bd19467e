"""Engine-level comparisons, each from one interleaved hyperfine run, printing medians and ratios:

* ``podman run --rm IMAGE true`` with pycr-oci as podman's runtime vs with runc;
* ``pycr run --rm IMAGE true`` vs ``podman run --rm IMAGE true`` (runc);
* the memory of a detached container's monitor: pycr:[monitor], pycr's conmon monitor
  (``pycr run -d --monitor conmon``) and podman's conmon (RSS, PSS and private dirty from
  /proc/PID/smaps_rollup, with the ratios of PSS).

Uses the test helpers: a registry on 127.0.0.1 with a busybox-static image, podman with its
storage, config and cgroups in a temporary directory, pycr with a private store and state root.
Run it with the interpreter of a compiled install (``pip install .`` into a venv, then
``python -m compileall``) so pycr-oci and pycr are measured as users get them; the bench
unsets PYTHONDONTWRITEBYTECODE for the timed commands.
Usage (root): VENV/bin/python bench/podman_run_vs_runc.py [RUNS]
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tests.helpers.engines import PYCR_OCI, Podman  # noqa: E402
from tests.helpers.registry import RegistryServer, push_busybox  # noqa: E402

PYCR = os.path.join(os.path.dirname(sys.executable), "pycr")


def memory(pid: int) -> dict[str, float]:
    """RSS, PSS and private dirty of ``pid`` in MiB."""
    out = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("Rss", "Pss", "Private_Dirty"):
                out[key] = int(rest.split()[0]) / 1024
    return out


def monitor_memory(pycr: list[str], env: dict, ref: str, *options: str) -> dict[str, float]:
    """``memory`` of the monitor of a detached ``pycr run -d OPTIONS REF sleep 1000``."""
    cid = subprocess.run([*pycr, "run", "-d", "-q", *options, ref, "sleep", "1000"], env=env, check=True,
                         capture_output=True, text=True).stdout.split()[-1]
    try:
        info = json.loads(subprocess.run([*pycr, "inspect", cid], env=env, check=True,
                                         capture_output=True, text=True).stdout)
        info = info[0] if isinstance(info, list) else info
        return memory(int(info["State"]["MonitorPid"]))
    finally:
        subprocess.run([*pycr, "rm", "-f", cid], env=env, stdout=subprocess.DEVNULL)


def main() -> int:
    runs = sys.argv[1] if len(sys.argv) > 1 else "20"
    runc = shutil.which("runc")
    work = tempfile.mkdtemp(prefix="pycr-bench-podman-")
    # podman runs with --network none (tests.helpers.engines): pycr too, and never a bridge on this machine
    env_pycr = {**os.environ, "PYCR_STORAGE": os.path.join(work, "pycr-store"), "PYCR_NETWORK": "none"}
    env_pycr.pop("PYTHONDONTWRITEBYTECODE", None)
    pycr = [PYCR, "--root", os.path.join(work, "pycr-state")]
    print(f"load before: {os.getloadavg()}")
    try:
        with RegistryServer(os.path.join(work, "registry")) as reg:
            ref = push_busybox(reg, "busybox", os.path.join(work, "img"))
            subprocess.run([*pycr, "pull", "-q", ref], env=env_pycr, check=True, stdout=subprocess.DEVNULL)
            with Podman(runtime=PYCR_OCI, registry=reg.host) as pm:
                pm.env.pop("PYTHONDONTWRITEBYTECODE", None)
                pm("pull", "--tls-verify=false", ref)
                commands = []
                for name, runtime in (("podman+pycr-oci", PYCR_OCI), ("podman+runc", runc)):
                    pm.runtime = runtime
                    argv = pm.argv("run", "--rm", *pm.run_args(), ref, "true")
                    commands += ["-n", name, " ".join(argv)]
                # pycr gets podman's environment plus its own store (one hyperfine run, one env)
                env = {**pm.env, "PYCR_STORAGE": env_pycr["PYCR_STORAGE"], "PYCR_NETWORK": "none"}
                commands += ["-n", "pycr", " ".join([*pycr, "run", "--rm", ref, "true"])]
                out = os.path.join(work, "result.json")
                subprocess.run(["hyperfine", "-N", "--style", "basic", "--warmup", "2", "--runs", runs,
                                "--export-json", out, *commands], env=env, check=True, stdout=subprocess.DEVNULL)
                results = {r["command"]: r["median"] for r in json.load(open(out))["results"]}

                pm.runtime = runc
                cid = pm("run", "-d", *pm.run_args(), ref, "sleep", "1000").stdout.strip()
                conmon = int(pm("inspect", "--format", "{{.State.ConmonPid}}", cid).stdout.strip())
                mem_conmon = memory(conmon)
                pm("rm", "-f", "-t", "0", cid)
            mem_monitor = monitor_memory(pycr, env_pycr, ref, "--monitor", "pycr")
            mem_pycr_conmon = monitor_memory(pycr, env_pycr, ref, "--monitor", "conmon")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    p, r, own = results["podman+pycr-oci"], results["podman+runc"], results["pycr"]
    print(f"median podman run --rm true: pycr-oci {p * 1000:.0f} ms   runc {r * 1000:.0f} ms   "
          f"ratio pycr-oci/runc: {p / r:.2f}")
    print(f"median pycr run --rm true: {own * 1000:.0f} ms   podman run --rm (runc) {r * 1000:.0f} ms   "
          f"ratio pycr/podman: {own / r:.2f}")
    for name, m in (("pycr:[monitor]", mem_monitor), ("pycr --monitor conmon", mem_pycr_conmon),
                    ("podman's conmon", mem_conmon)):
        print(f"monitor memory {name:<21} RSS {m['Rss']:.2f} MiB   PSS {m['Pss']:.2f} MiB   "
              f"private dirty {m['Private_Dirty']:.2f} MiB")
    print(f"monitor PSS ratio pycr:[monitor]/podman's conmon: {mem_monitor['Pss'] / mem_conmon['Pss']:.2f}   "
          f"pycr --monitor conmon/podman's conmon: {mem_pycr_conmon['Pss'] / mem_conmon['Pss']:.2f}")
    print(f"load after: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
