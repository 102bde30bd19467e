"""The short runtime verbs engines call for every container, timed per verb in one interleaved
run: ``state`` and ``start`` of a created container, ``delete --force`` of it once its process
has exited (podman's order), and ``kill ID KILL`` of a created container followed by a plain
``delete`` (containerd's shim deletes without ``--force``).  Each round creates two containers
per runtime (not timed), then times the verbs; the runtimes' order alternates every round.  The
bench is the containers' subreaper (as conmon and the shim are), so it reaps each container's
process itself, which makes it "stopped" before the delete.  Median wall and CPU per verb and
runtime, with the ratio to the last runtime named (runc).
``--instructions``: each timed verb runs under ``valgrind --tool=callgrind`` instead, and the
medians are the user-space instructions it executed (millions): a count that the load of a shared
machine does not move, to tell apart changes smaller than its timing noise (a few rounds suffice;
pycr installs only: runc, a Go program, does not run reliably under valgrind).
Usage: python bench/short_verbs.py [--instructions] RUNS BUNDLE NAME=RUNTIME...
e.g. python bench/short_verbs.py 60 /tmp/b base=/tmp/vb/bin/pycr-oci new=/tmp/vn/bin/pycr-oci runc=/usr/bin/runc
(root; each runtime gets its own --root in a temporary directory, its own copy of BUNDLE)
"""

import ctypes
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

from command_cpu import timed

VERBS = ("state", "start", "delete --force", "kill", "delete")
PR_SET_CHILD_SUBREAPER = 36


def reap(pid: int) -> None:
    """Wait for the container's process (ours once create has exited: we are the subreaper)."""
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:  # already gone (a runtime that reaped it itself)
        pass


def instructions(argv: list[str], env: dict) -> tuple[float, float, int]:
    """Run ``argv`` under callgrind: (millions of instructions, the same, exit status); up to five
    tries, valgrind itself failing now and then."""
    for _ in range(5):
        done = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *argv], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        counts = [int(line.split(":")[-1]) for line in done.stderr.splitlines() if "Collected :" in line]
        if counts:
            return counts[0] / 1e6, counts[0] / 1e6, done.returncode
    sys.exit(f"valgrind could not run {' '.join(argv)}:\n{done.stderr[-2000:]}")


def main() -> int:
    args = sys.argv[1:]
    measure = timed
    if args[0] == "--instructions":
        measure = instructions
        args = args[1:]
    runs, bundle = int(args[0]), args[1]
    runtimes = [arg.split("=", 1) for arg in args[2:]]
    if ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        sys.exit("prctl(PR_SET_CHILD_SUBREAPER) failed")
    work = tempfile.mkdtemp(prefix="pycr-short-verbs-")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}  # compiled files, as installed
    results = {(name, verb): [] for name, _ in runtimes for verb in VERBS}
    print(f"load before: {os.getloadavg()}")
    try:
        for name, _ in runtimes:
            shutil.copytree(bundle, os.path.join(work, f"bundle-{name}"), symlinks=True)
        for i in range(runs + 2):  # two warm-up rounds
            for name, runtime in runtimes if i % 2 else runtimes[::-1]:
                base = [runtime, "--root", os.path.join(work, f"root-{name}")]
                b = os.path.join(work, f"bundle-{name}")

                def run(verb, cid, timed_run=True):
                    argv = base + verb.split() + [cid] + (["KILL"] if verb == "kill" else [])
                    wall, cpu, status = (measure if timed_run else timed)(argv, env)
                    if status != 0:
                        sys.exit(f"{name}: {' '.join(argv)}: exit status {status}")
                    if timed_run and i >= 2:
                        results[name, verb].append((wall, cpu))

                pids = []
                for cid in (f"s{i}", f"k{i}"):
                    pid_file = os.path.join(work, f"{name}-{cid}.pid")
                    run(f"create --bundle {b} --pid-file {pid_file}", cid, timed_run=False)
                    with open(pid_file) as f:
                        pids.append(int(f.read()))
                run("state", f"s{i}")
                run("start", f"s{i}")
                reap(pids[0])
                run("delete --force", f"s{i}")
                run("kill", f"k{i}")
                reap(pids[1])
                run("delete", f"k{i}")
    finally:
        for name, runtime in runtimes:  # what an interrupted round left
            root = os.path.join(work, f"root-{name}")
            for cid in os.listdir(root) if os.path.isdir(root) else ():
                subprocess.run([runtime, "--root", root, "delete", "--force", cid], stderr=subprocess.DEVNULL)
        shutil.rmtree(work, ignore_errors=True)
    last = runtimes[-1][0]
    unit, columns = ("millions of instructions", ("instr",)) if measure is instructions else ("ms", ("wall", "CPU"))
    print(f"median {unit} over {runs} rounds; (x) = ratio to {last}")
    print(f"{'verb':<16}" + "".join(f"{name + ' ' + column:>22}" for name, _ in runtimes for column in columns))
    for verb in VERBS:
        med = {name: [statistics.median(r[k] for r in results[name, verb]) for k in (0, 1)] for name, _ in runtimes}
        print(f"{verb:<16}" + "".join(f"{med[name][k]:13.2f} ({med[name][k] / med[last][k]:5.2f}x)"
                                      for name, _ in runtimes for k in range(len(columns))))
    print(f"load after: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
