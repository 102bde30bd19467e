"""Commands side by side in one interleaved run: each round runs every command once (the order
reversed every other round), and the median wall time and CPU (user + system of the command and
the children it waited for, from ``wait4``) are printed per command, with the ratio to the last.
CPU is the steadier number on a loaded machine.  Useful for the repeatable runtime verbs
(``state``, ``list``) against runc, and for the interpreter itself (``python -c pass``, ``-S``).
Usage: python bench/command_cpu.py RUNS NAME=COMMAND... (the command split as a shell would)
"""

import os
import shlex
import statistics
import subprocess
import sys
import time


def timed(argv: list[str], env: dict) -> tuple[float, float, int]:
    """Run ``argv`` (stdout discarded): wall ms, CPU ms (user + system, from ``wait4``), status."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    return (time.perf_counter() - t0) * 1000, (usage.ru_utime + usage.ru_stime) * 1000, status


def main() -> int:
    runs = int(sys.argv[1])
    commands = [arg.split("=", 1) for arg in sys.argv[2:]]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}  # compiled files, as installed
    results: dict[str, list[tuple[float, float]]] = {name: [] for name, _ in commands}
    print(f"load before: {os.getloadavg()}")
    for i in range(runs + 2):  # two warm-up rounds
        for name, command in commands if i % 2 else commands[::-1]:
            wall, cpu, status = timed(shlex.split(command), env)
            if status != 0:
                sys.exit(f"{name}: exit status {status}")
            if i >= 2:
                results[name].append((wall, cpu))
    last = commands[-1][0]
    medians = {name: [statistics.median(r[k] for r in rows) for k in (0, 1)] for name, rows in results.items()}
    for name, (wall, cpu) in medians.items():
        print(f"{name:<16} wall {wall:7.2f} ms ({wall / medians[last][0]:5.2f}x)   "
              f"CPU {cpu:7.2f} ms ({cpu / medians[last][1]:5.2f}x)")
    print(f"load after: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
