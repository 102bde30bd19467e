"""What the read-only interpreter re-exec (docs/security.md, class 1) costs ``pycr-oci run``.

Interleaved rounds of ``pycr-oci run`` of ``/bin/true`` in one busybox bundle, with the re-exec
and with ``PYCR_UNPROTECTED_INTERPRETER=1``; CPU time of the whole process tree (less sensitive to
a busy machine than wall time) and wall time, medians and their ratio.

    sudo .venv/bin/python bench/oci_run_reexec_cost.py [ROUNDS] [VENV...]

With VENVs (compiled installs, e.g. main's and a branch's), each one's pycr-oci is measured in
the same rounds, both ways, and the table compares them; without, the running venv's.
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

from pycr.core.testing.bundle import make_bundle


def main(rounds: int, venvs: list[str]) -> None:
    installs = venvs or [os.path.dirname(os.path.dirname(sys.executable))]
    variants = {"protected": {}, "unprotected": {"PYCR_UNPROTECTED_INTERPRETER": "1"}}
    cpu = {(v, k): [] for v in installs for k in variants}
    wall = {(v, k): [] for v in installs for k in variants}
    print(f"load before: {os.getloadavg()}")
    with tempfile.TemporaryDirectory(prefix="pycr-bench-") as work:
        bundle = make_bundle(os.path.join(work, "bundle"), ["/bin/true"])
        for i in range(rounds + 2):  # two warm-up rounds: caches (entry points, dispatch plan)
            for venv in installs:
                oci = os.path.join(venv, "bin", "pycr-oci")
                for name, extra in variants.items():
                    before = resource.getrusage(resource.RUSAGE_CHILDREN)
                    t0 = time.perf_counter()
                    subprocess.run([oci, "--root", os.path.join(work, "state"), "run", "--bundle", bundle,
                                    f"bench-{name}-{i}"], env={**os.environ, **extra}, check=True)
                    if i < 2:
                        continue
                    wall[venv, name].append(time.perf_counter() - t0)
                    after = resource.getrusage(resource.RUSAGE_CHILDREN)
                    cpu[venv, name].append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    for venv in installs:
        print(venv)
        for label, data in (("cpu", cpu), ("wall", wall)):
            p, u = statistics.median(data[venv, "protected"]), statistics.median(data[venv, "unprotected"])
            print(f"  median {label}: protected {p * 1000:.1f} ms  unprotected {u * 1000:.1f} ms  "
                  f"cost {(p - u) * 1000:+.1f} ms  ratio {p / u:.2f}")
    if len(installs) > 1:
        first = installs[0]
        for venv in installs[1:]:
            for name in variants:
                print(f"{name}: {os.path.basename(venv)} / {os.path.basename(first)}: wall "
                      f"{statistics.median(wall[venv, name]) / statistics.median(wall[first, name]):.2f}, cpu "
                      f"{statistics.median(cpu[venv, name]) / statistics.median(cpu[first, name]):.2f}")
    print(f"load after: {os.getloadavg()}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 30, sys.argv[2:])
