"""How far ``pycr-oci run`` is from its own floor, and the floor from runc, in one interleaved run.

With ``--csd`` the same for ``create``, ``start``, ``delete --force`` as three commands (how engines
call a runtime): each row is then the sum of the three, and the interpreter is started three times.

Per round (the order reversed every other round), each median printed with its ratio to runc:
- ``runc run`` of the bundle;
- ``pycr-oci run`` of the same bundle (a copy), as engines call it;
- the interpreter alone: the venv's python importing ``os`` (what the ``pycr-oci`` script
  needs before any pycr module), started as the script is (with ``site``);
- the steps alone: a child that imports pycr and runs one container in-process to warm every
  lazy import, then times a second ``run`` in the same process -- no interpreter start, no
  import, no teardown: the container work itself (kernel, forks, the Python of each step);
- floor = interpreter + steps: what this design costs with imports free.
Wall time, and CPU (user + system of the command and its children, from ``wait4``; for the
steps, the child's own clock around the timed run, children included).
Usage (root): python bench/oci_floor.py RUNS VENV [--csd] (a compiled ``pip install .``; runc, busybox-static)
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile

from command_cpu import timed  # one way to time a command in bench/ (a script: its directory is on sys.path)

STEPS = r'''
import os, sys, time
from pycr.core.cli import oci
root, bundle, cid, out, csd = sys.argv[1:6]
verbs = [["create", "--bundle", bundle], ["start"], ["delete", "--force"]] if csd == "1" else [["run", "--bundle", bundle]]
def steps(name):
    for verb in verbs:
        code = oci.main(["--root", root, *verb, name])
        if code:
            sys.exit(f"{verb[0]} {name}: exit {code}")
steps(cid + "-warm")
c0, t0 = os.times(), time.perf_counter()
steps(cid)
t1, c1 = time.perf_counter(), os.times()
cpu = sum(c1[:4]) - sum(c0[:4])
with open(out, "w") as f:
    f.write(f"{(t1 - t0) * 1000} {cpu * 1000}")
os._exit(0)
'''

def main() -> int:
    runs, venv = int(sys.argv[1]), sys.argv[2]
    py = os.path.join(venv, "bin", "python")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}  # compiled, as installed
    work = tempfile.mkdtemp(prefix="pycr-floor-")
    try:
        for name in ("pycr", "runc", "steps"):
            subprocess.run([py, "-c", "import sys; from pycr.core.testing.bundle import make_bundle; "
                            "make_bundle(sys.argv[1], ['/bin/true'])", os.path.join(work, name)], check=True)
        steps = os.path.join(work, "steps.py")
        with open(steps, "w") as f:
            f.write(STEPS)
        csd = "--csd" in sys.argv[3:]
        pycr_oci, verb = os.path.join(venv, "bin", "pycr-oci"), "c/s/d" if csd else "run"

        def verbs(tool, state, bundle, name):  # the commands of one container, in order
            if not csd:
                return [[tool, "--root", state, "run", "--bundle", bundle, name]]
            return [[tool, "--root", state, "create", "--bundle", bundle, name], [tool, "--root", state, "start", name],
                    [tool, "--root", state, "delete", "--force", name]]

        cmds = {
            f"runc {verb}": lambda n: verbs("runc", f"{work}/runc-state", f"{work}/runc", f"r{n}"),
            f"pycr-oci {verb}": lambda n: verbs(pycr_oci, f"{work}/pycr-state", f"{work}/pycr", f"p{n}"),
            "interpreter": lambda n: [[py, "-c", "import os"]] * (3 if csd else 1),
            "steps": lambda n: [[py, "-S", steps, f"{work}/steps-state", f"{work}/steps", f"s{n}", f"{work}/steps.out",
                                 "1" if csd else "0"]],
        }
        env_steps = {**env, "PYTHONPATH": os.pathsep.join(subprocess.run(
            [py, "-c", "import sys; print(':'.join(p for p in sys.path if p))"], capture_output=True,
            text=True, check=True).stdout.split())}
        samples: dict[str, list[tuple[float, float]]] = {k: [] for k in cmds}
        print(f"interpreter: {os.path.realpath(py)}; load before: {os.getloadavg()}")
        for n in range(runs + 2):
            for name in (list(cmds) if n % 2 else list(cmds)[::-1]):
                wall = cpu = 0.0
                for argv in cmds[name](n):
                    w, c, status = timed(argv, env_steps if name == "steps" else env)
                    if status:
                        sys.exit(f"{' '.join(argv)}: exit status {status}")
                    wall, cpu = wall + w, cpu + c
                if name == "steps":  # the child's own clock around the timed run
                    with open(f"{work}/steps.out") as f:
                        wall, cpu = map(float, f.read().split())
                if n >= 2:
                    samples[name].append((wall, cpu))
        med = {k: [statistics.median(s[i] for s in v) for i in (0, 1)] for k, v in samples.items()}
        med["floor (interpreter + steps)"] = [med["interpreter"][i] + med["steps"][i] for i in (0, 1)]
        runc = med[f"runc {verb}"]
        print("| median | wall ms | / runc | CPU ms | / runc |\n|---|---:|---:|---:|---:|")
        for k, (w, c) in med.items():
            print(f"| {k} | {w:.1f} | {w / runc[0]:.2f} | {c:.1f} | {c / runc[1]:.2f} |")
        print(f"load after: {os.getloadavg()}")
    finally:  # every container ran to its end (or was deleted): nothing but files to remove
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
