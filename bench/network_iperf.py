"""Bridge networking cost, in one run, inside a network namespace standing in for the host:

iperf3 throughput container -> container and host -> container through a
published port (to the host's 127.0.0.1: DNAT + route_localnet), on the default
bridge (MTU 1500) and on a user network made with ``--mtu 65520``, each against
host -> host over the host namespace's loopback (MTU 65536; goal >= 0.9x), in
interleaved rounds.  The start-up cost of the drivers is bench/network_startup.py.

iperf3 runs *in the containers' network namespaces* (``nsenter --net``), so the
test image needs no iperf3: the path measured (veth, bridge, nftables) is the same.
Usage (root): .venv/bin/python bench/network_iperf.py [SECONDS] [ROUNDS]
"""

import json
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
BIG_MTU = 65520  # a user network made with pycr network create --mtu


def iperf(server_ns: list[str], client_ns: list[str], addr: str, port: int, seconds: int) -> float:
    """Gbit/s from a client in ``client_ns`` to a one-shot server in ``server_ns``."""
    srv = subprocess.Popen([*server_ns, "iperf3", "-s", "-1", "-p", "5201"], stdout=subprocess.DEVNULL)
    try:
        for _ in range(100):
            r = subprocess.run([*client_ns, "iperf3", "-c", addr, "-p", str(port), "-t", str(seconds), "-J"],
                               capture_output=True, text=True)
            try:
                return json.loads(r.stdout)["end"]["sum_received"]["bits_per_second"] / 1e9
            except (ValueError, KeyError):  # the server was not listening yet
                time.sleep(0.05)
        raise SystemExit(f"iperf3 to {addr}:{port} failed: {r.stdout[-300:]}{r.stderr}")
    finally:
        srv.kill()
        srv.wait()


def main() -> int:
    seconds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    work = tempfile.mkdtemp(prefix="pycr-bench-net-")
    ns = "pycrb-" + uuid.uuid4().hex[:6]
    env = {k: v for k, v in os.environ.items() if k != "PYCR_NETWORK"}  # every run names its --network
    env.update(PYCR_STORAGE=os.path.join(work, "store"), PYCR_ROOT=os.path.join(work, "run"))
    host = ["nsenter", f"--net=/run/netns/{ns}"]

    def pycr(*args):
        r = subprocess.run([*host, PYCR, *args], env=env, capture_output=True, text=True)
        if r.returncode:
            raise SystemExit(f"pycr {' '.join(args)}: {r.stderr}")
        return r.stdout.strip()

    subprocess.run(["ip", "netns", "add", ns], check=True)
    made = []
    try:
        subprocess.run([*host, "ip", "link", "set", "lo", "up"], check=True)
        with RegistryServer(os.path.join(work, "registry")) as reg:
            ref = push_busybox(reg, "busybox", os.path.join(work, "img"))
            subprocess.run([PYCR, "pull", "-q", "--insecure-registry", reg.host, ref], env=env, check=True)
        pycr("network", "create", "--mtu", str(BIG_MTU), "fast")
        pids = {}
        for name, net, extra in (("a", "bridge", []), ("b", "bridge", []), ("c", "bridge", ["-p", "5301:5201"]),
                                 ("d", "fast", []), ("e", "fast", ["-p", "5302:5201"])):
            pycr("run", "-d", "-q", "--network", net, "--name", name, *extra, ref, "sleep", "1000")
            made.append(name)
            pids[name] = json.loads(pycr("inspect", name))[0]
        inside = {n: ["nsenter", f"--net=/proc/{i['State']['Pid']}/ns/net"] for n, i in pids.items()}
        b_ip = pids["b"]["NetworkSettings"]["Networks"]["bridge"]["IPAddress"]
        e_ip = pids["e"]["NetworkSettings"]["Networks"]["fast"]["IPAddress"]
        paths = {  # name -> (server's namespace, client's, address, port)
            "host -> host (lo, MTU 65536)": (host, host, "127.0.0.1", 5201),
            "container -> container (bridge)": (inside["b"], inside["a"], b_ip, 5201),
            "host -> container (bridge, -p to 127.0.0.1)": (inside["c"], host, "127.0.0.1", 5301),
            f"container -> container (--mtu {BIG_MTU})": (inside["e"], inside["d"], e_ip, 5201),
            f"host -> container (--mtu {BIG_MTU}, -p)": (inside["e"], host, "127.0.0.1", 5302),
        }
        rows = {name: [] for name in paths}
        for _ in range(rounds):  # interleaved
            for name, (server, client, addr, port) in paths.items():
                rows[name].append(iperf(server, client, addr, port, seconds))
        pycr("rm", "-f", *made)
        made.clear()
        pycr("network", "prune")
    finally:
        if made:  # a failure half-way: remove the containers (mounts, cgroups) before their namespace
            subprocess.run([*host, PYCR, "rm", "-f", *made], env=env, capture_output=True)
        subprocess.run(["ip", "netns", "del", ns])
        shutil.rmtree(work, ignore_errors=True)
    base = statistics.median(rows["host -> host (lo, MTU 65536)"])
    print(f"iperf3 {seconds} s x {rounds} interleaved rounds, medians; bridge networks at MTU 1500 unless said")
    print(f"{'path':<46}{'Gbit/s':>10}{'ratio':>8}")
    for name, vals in rows.items():
        med = statistics.median(vals)
        print(f"{name:<46}{med:>10.2f}{med / base:>8.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
