"""What the read-only interpreter re-exec (docs/security.md, class 1) costs ``pycr-oci run``.

Interleaved rounds of ``pycr-oci run`` of ``/bin/true`` in one busybox bundle, with the re-exec
and with ``PYCR_UNPROTECTED_INTERPRETER=1``; CPU time of the whole process tree (less sensitive to
a busy machine than wall time) and wall time, medians and their ratio.

    sudo .venv/bin/python bench/oci_run_reexec_cost.py [ROUNDS]
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


def main(rounds: int) -> None:
    oci = os.path.join(os.path.dirname(sys.executable), "pycr-oci")
    with tempfile.TemporaryDirectory(prefix="pycr-bench-") as work:
        bundle = make_bundle(os.path.join(work, "bundle"), ["/bin/true"])
        variants = {"protected": {}, "unprotected": {"PYCR_UNPROTECTED_INTERPRETER": "1"}}
        cpu = {k: [] for k in variants}
        wall = {k: [] for k in variants}
        for i in range(rounds):
            for name, extra in variants.items():
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                t0 = time.perf_counter()
                subprocess.run([oci, "--root", os.path.join(work, "state"), "run", "--bundle", bundle,
                                f"bench-{name}-{i}"], env={**os.environ, **extra}, check=True)
                wall[name].append(time.perf_counter() - t0)
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                cpu[name].append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    for label, data in (("cpu", cpu), ("wall", wall)):
        p, u = statistics.median(data["protected"]), statistics.median(data["unprotected"])
        print(f"median {label}: protected {p * 1000:.1f} ms  unprotected {u * 1000:.1f} ms  "
              f"cost {(p - u) * 1000:+.1f} ms  ratio {p / u:.2f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 30)
