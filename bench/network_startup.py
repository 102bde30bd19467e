"""What the network drivers add to ``pycr run --rm IMAGE true``, in one interleaved run.

Inside a network namespace the bench makes (standing in for the host: the
bridge, veths and nftables table are made there, never in the machine's own),
it runs ``pycr run --rm --network MODE IMAGE true`` for MODE in none, bridge
and host, round after round in turn, and prints each mode's median wall time
and what it adds over ``none`` (goal for bridge: <= 10 ms).  ``PYCR_NETWORK``
is never inherited: every run names its ``--network``; ``PYTHONDONTWRITEBYTECODE``
neither: pycr runs with its bytecode cached, as installed.

Usage (root): .venv/bin/python bench/network_startup.py [ROUNDS] [MODES...]
"""

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tests.helpers.registry import RegistryServer, push_busybox  # noqa: E402

PYCR = os.path.join(os.path.dirname(sys.executable), "pycr")


def main() -> int:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    modes = sys.argv[2:] or ["none", "bridge", "host"]
    work = tempfile.mkdtemp(prefix="pycr-bench-netstart-")
    ns = "pycrb-" + uuid.uuid4().hex[:6]
    # every run names its --network; bytecode is cached as in an installed pycr (with a session's
    # PYTHONDONTWRITEBYTECODE=1 every run would compile each module it imports again, ~3 ms apiece)
    env = {k: v for k, v in os.environ.items() if k not in ("PYCR_NETWORK", "PYTHONDONTWRITEBYTECODE")}
    env.update(PYCR_STORAGE=os.path.join(work, "store"), PYCR_ROOT=os.path.join(work, "run"))
    host = ["nsenter", f"--net=/run/netns/{ns}"]
    subprocess.run(["ip", "netns", "add", ns], check=True)
    times = {m: [] for m in modes}
    try:
        subprocess.run([*host, "ip", "link", "set", "lo", "up"], check=True)
        with RegistryServer(os.path.join(work, "registry")) as reg:
            ref = push_busybox(reg, "busybox", os.path.join(work, "img"))
            subprocess.run([PYCR, "pull", "-q", "--insecure-registry", reg.host, ref], env=env, check=True)
        for mode in modes:  # warm-up: page cache, the bridge made once (it stays, as docker0)
            subprocess.run([*host, PYCR, "run", "--rm", "--network", mode, ref, "true"], env=env, check=True)
        for _ in range(rounds):
            for mode in modes:
                t = time.perf_counter()
                r = subprocess.run([*host, PYCR, "run", "--rm", "--network", mode, ref, "true"], env=env,
                                   capture_output=True, text=True)
                times[mode].append(time.perf_counter() - t)
                if r.returncode:
                    raise SystemExit(f"pycr run --network {mode}: {r.stderr.strip()}")
        subprocess.run([*host, PYCR, "network", "prune"], env=env, capture_output=True)
    finally:
        subprocess.run(["ip", "netns", "del", ns])
        shutil.rmtree(work, ignore_errors=True)
    base = statistics.median(times[modes[0]])
    print(f"pycr run --rm IMAGE true, {rounds} interleaved rounds, medians (in a network namespace of its own)")
    print("adds: the median of each round's difference to the first mode's run (same round, same load)")
    print(f"{'--network':<12}{'median ms':>10}{'p25':>8}{'p75':>8}{'adds ms':>9}{'ratio':>8}")
    for mode in modes:
        q = statistics.quantiles(times[mode], n=4)
        med = statistics.median(times[mode])
        adds = statistics.median(a - b for a, b in zip(times[mode], times[modes[0]]))
        print(f"{mode:<12}{med * 1000:>10.1f}{q[0] * 1000:>8.1f}{q[2] * 1000:>8.1f}"
              f"{adds * 1000:>+9.1f}{med / base:>7.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
