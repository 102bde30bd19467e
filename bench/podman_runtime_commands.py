"""What each runtime command of ``podman run --rm IMAGE true`` costs, per runtime, in one
interleaved run: podman is given a small bash wrapper as its runtime, which times the real
runtime's command (bash's ``time``: wall, user and system time of it and the children it
waited for, no fork) into a log; the runtimes take turns, one ``podman run`` each per round,
each round starting with the next.  Prints the median wall and CPU (user + system) per verb
and runtime, the median of the whole ``podman run`` per runtime (timed here, in the same
rounds), and the ratio of each runtime to the last one named (runc by default); CPU is the
steadier number on a loaded machine.  Then a timeline: the median wall time of each stretch of
a ``podman run`` between the runtime's commands (podman's own work before ``create``, between
the commands, after ``delete``), from wall-clock stamps the wrapper writes around each command.

Uses the test helpers (a registry on 127.0.0.1 with busybox, podman with private storage).
Run with a compiled install's interpreter, as bench/podman_run_vs_runc.py.
Usage (root): VENV/bin/python bench/podman_runtime_commands.py [RUNS] [NAME=RUNTIME_PATH ...]
(default runtimes: pycr-oci next to this interpreter, then runc)
"""

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tests.helpers.engines import PYCR_OCI, Podman  # noqa: E402
from tests.helpers.registry import RegistryServer, push_busybox  # noqa: E402

VERBS = ("create", "start", "state", "kill", "delete", "features")

WRAPPER = """#!/bin/bash
verb=other
for a in "$@"; do case "$a" in {verbs}) verb=$a; break;; esac; done
exec 4>&2
TIMEFORMAT="$verb %3R %3U %3S"
echo "$verb $EPOCHREALTIME" >>{log}.at
{{ time {runtime} "$@" 2>&4 4>&- ; }} 2>>{log}
echo "$verb $EPOCHREALTIME" >>{log}.at
"""


def main() -> int:
    args = sys.argv[1:]
    runs = int(args.pop(0)) if args and args[0].isdigit() else 15
    runtimes = [a.split("=", 1) for a in args] or [["pycr-oci", PYCR_OCI], ["runc", shutil.which("runc")]]
    work = tempfile.mkdtemp(prefix="pycr-bench-rc-")
    wrappers = {}
    for name, path in runtimes:
        log = os.path.join(work, f"{name}.log")
        script = os.path.join(work, f"{name}.sh")
        with open(script, "w") as f:
            f.write(WRAPPER.format(runtime=path, verbs="|".join(VERBS), log=log))
        os.chmod(script, 0o755)
        wrappers[name] = (script, log)
    print(f"load before: {os.getloadavg()}")
    whole: dict[str, list[float]] = {}  # the whole `podman run --rm`, wrapper included, per runtime
    stretches: dict[str, list[list[tuple[str, float]]]] = {}  # per runtime, per run: (stretch, ms)
    try:
        with RegistryServer(os.path.join(work, "registry")) as reg:
            ref = push_busybox(reg, "busybox", os.path.join(work, "img"))
            with Podman(registry=reg.host) as pm:
                pm.env.pop("PYTHONDONTWRITEBYTECODE", None)
                pm("pull", "--tls-verify=false", ref)
                order = list(wrappers.items())
                for i in range(runs + 1):  # round 0 warms up, then its logs are dropped
                    # each round starts with the next runtime: a run may pay for the tail of the one before
                    for name, (script, log) in order[i % len(order):] + order[:i % len(order)]:
                        pm.runtime = script
                        t0, w0 = time.perf_counter(), time.time()
                        pm("run", "--rm", *pm.run_args(), ref, "true")
                        if i:
                            whole.setdefault(name, []).append((time.perf_counter() - t0) * 1000)
                            stretches.setdefault(name, []).append(_stretches(log + ".at", w0, time.time()))
                        os.unlink(log + ".at")
                    if i == 0:
                        for _, log in wrappers.values():
                            os.unlink(log)
        times: dict[str, dict[str, list[tuple[float, float]]]] = {}
        for name, (_, log) in wrappers.items():
            for line in open(log):
                verb, real, user, system = line.split()
                times.setdefault(name, {}).setdefault(verb, []).append(
                    (float(real) * 1000, (float(user) + float(system)) * 1000))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    names = list(wrappers)
    ref_name = names[-1]
    verbs = [v for v in VERBS + ("other",) if any(v in times[n] for n in names)]
    for column, what in ((0, "wall"), (1, "CPU")):
        print(f"{'median ' + what + ' ms':<22}" + "".join(f"{n:>12}" for n in names)
              + "".join(f"{n + '/' + ref_name:>20}" for n in names[:-1]))
        sums = dict.fromkeys(names, 0.0)
        for verb in verbs:
            per_run = len(times[names[0]][verb]) / runs  # calls of this verb in one podman run
            med = {n: statistics.median(t[column] for t in times[n][verb]) * per_run for n in names}
            for n in names:
                sums[n] += med[n]
            print(f"{verb + ' (x' + format(per_run, 'g') + ')':<22}" + "".join(f"{med[n]:>12.1f}" for n in names)
                  + "".join(f"{med[n] / med[ref_name]:>20.2f}" for n in names[:-1]))
        print(f"{'sum':<22}" + "".join(f"{sums[n]:>12.1f}" for n in names)
              + "".join(f"{sums[n] / sums[ref_name]:>20.2f}" for n in names[:-1]))
    print(f"{'podman run --rm (ms)':<22}" + "".join(f"{statistics.median(whole[n]):>12.1f}" for n in names)
          + "".join(f"{statistics.median(whole[n]) / statistics.median(whole[ref_name]):>20.2f}" for n in names[:-1]))
    print("timeline, median wall ms" + "".join(f"{n:>12}" for n in names)
          + "".join(f"{n + '-' + ref_name:>20}" for n in names[:-1]))
    for k, label in enumerate(label for label, _ in stretches[names[0]][0]):
        med = {n: statistics.median(run[k][1] for run in stretches[n]) for n in names}
        print(f"{label:<24}" + "".join(f"{med[n]:>12.1f}" for n in names)
              + "".join(f"{med[n] - med[ref_name]:>20.1f}" for n in names[:-1]))
    print(f"load after: {os.getloadavg()}")
    return 0


def _stretches(at_log: str, start: float, end: float) -> list[tuple[str, float]]:
    """One run's stretches from the wrapper's stamps: ``podman`` before, between and after the
    runtime's commands, and each command itself, in ms."""
    marks = [(line.split()[0], float(line.split()[1])) for line in open(at_log)]
    out, last, where = [], start, "podman before"
    for n, (verb, t) in enumerate(marks):
        out.append((where if n % 2 == 0 else verb, (t - last) * 1000))
        last, where = t, f"podman after {verb}"
    out.append((where, (end - last) * 1000))
    return out


if __name__ == "__main__":
    sys.exit(main())
