"""Where the time of an untraced ``pycr-oci run`` goes, per install, as a markdown table of medians.

``--trace`` makes pluggy run (and times every hook), so it cannot show the
frozen dispatch path; this bench records the same runtime phases with the
tracer's records switched on but no hook monitoring, in a child that runs
``pycr.core.cli.oci.main`` the way the ``pycr-oci`` executable does, and adds
what happens outside ``main``: the CPU spent before it (interpreter start,
``site``), the import of the CLI module, and the interpreter's start plus
teardown as wall time seen by the parent.  Installs are run interleaved, in
alternating order (a run pays for the kernel's teardown of the one before:
with a fixed order the second column measured ~1.5 ms slower than the same
install in the first).

Usage (root): python3 bench/oci_phases.py BUNDLE[,BUNDLE...] VENV [VENV...] [--runs N]
(each VENV a compiled ``pip install .``; BUNDLE e.g. from pycr.core.testing.bundle.make_bundle;
several bundles, e.g. one with a seccomp profile, are columns of their own, interleaved too)
"""

from __future__ import annotations

import ast
import os
import statistics
import subprocess
import sys
import tempfile
import time

CHILD = r'''
import time
c0, t0 = time.process_time(), time.perf_counter()
import os, sys  # no json here: the child must import only what pycr-oci imports
out, argv = sys.argv[1], sys.argv[2:]
from pycr.core import tracing
tracing._RECORDS = []
from pycr.core.cli import oci
t1 = time.perf_counter()
code = oci.main(argv)
t2 = time.perf_counter()
phases = {}
for r in tracing._RECORDS:
    if r["kind"] == "phase":
        phases[r["name"]] = phases.get(r["name"], 0) + (r["end"] - r["start"]) * 1000
with open(out, "w") as f:
    f.write(repr({"startup_cpu": c0 * 1000, "import cli": (t1 - t0) * 1000, "main": (t2 - t1) * 1000,
                  "in_process": (t2 - t0) * 1000, "phases": phases}))
sys.stdout.flush()
if hasattr(oci, "console"):  # the executable leaves without the interpreter's teardown
    os._exit(code)
sys.exit(code)
'''


def main() -> int:
    args = sys.argv[1:]
    runs = 15
    if "--runs" in args:
        i = args.index("--runs")
        runs = int(args[i + 1])
        del args[i:i + 2]
    bundles, installs = args[0].split(","), args[1:]
    columns = [(inst, b) for inst in installs for b in bundles]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    work = tempfile.mkdtemp(prefix="pycr-phases-")
    child = os.path.join(work, "child.py")
    with open(child, "w") as f:
        f.write(CHILD)
    samples: dict[tuple, dict[str, list[float]]] = {c: {} for c in columns}
    print(f"load before: {os.getloadavg()}")
    for n in range(runs + 2):
        # every other round in reverse: a run pays for the kernel's teardown of the one before it
        # (namespaces, mounts, cgroups), so a fixed order would favour the first column
        for inst, bundle in (columns if n % 2 else columns[::-1]):
            out = os.path.join(work, "out.json")
            t = time.perf_counter()
            subprocess.run([os.path.join(inst, "bin", "python"), child, out, "--root", os.path.join(work, "state"),
                            "run", "--bundle", bundle, f"phases-{n}"], env=env, check=True)
            wall = (time.perf_counter() - t) * 1000
            if n < 2:
                continue  # warm-up: caches (entry points, dispatch plan)
            d = ast.literal_eval(open(out).read())
            rows = {"interpreter start + teardown (wall)": wall - d["in_process"],
                    "startup CPU before main": d["startup_cpu"], "import pycr.core.cli.oci": d["import cli"]}
            phases = d["phases"]
            rows.update({f"phase {k}": v for k, v in phases.items()})
            rows["rest of main (parsing, imports, start/wait/delete when not phased)"] = d["main"] - sum(phases.values())
            rows["total (wall)"] = wall
            for k, v in rows.items():
                samples[inst, bundle].setdefault(k, []).append(v)
    names: list[str] = []
    for c in columns:  # a phase only one install has goes after the row it follows there
        for i, k in enumerate(samples[c]):
            if k not in names:
                before = list(samples[c])[:i]
                names.insert(max((names.index(b) + 1 for b in before if b in names), default=0), k)

    def label(c):
        name = os.path.basename(c[0].rstrip("/"))
        return name if len(bundles) == 1 else f"{name} {os.path.basename(c[1].rstrip('/'))}"
    print("| median ms | " + " | ".join(label(c) for c in columns) + " |")
    print("|---|" + "---:|" * len(columns))
    for k in names:
        cells = [f"{statistics.median(samples[c][k]):.1f}" if k in samples[c] else "-" for c in columns]
        print(f"| {k} | " + " | ".join(cells) + " |")
    print(f"load after: {os.getloadavg()}")
    subprocess.run(["rm", "-rf", work])
    return 0


if __name__ == "__main__":
    sys.exit(main())
