"""``docker run --rm IMAGE true`` through ``pycr serve`` vs ``pycr run --rm`` vs ``podman run --rm`` (runc),
interleaved in one hyperfine run; prints the medians and the ratios.

The docker CLI is Debian's (``/usr/bin/docker``; no docker daemon runs): its
run is create + attach + wait + start + auto-remove over the API, i.e. a
managed container with its monitor, while ``pycr run --rm`` runs in the
foreground without one; ``pycr run -d --rm`` (managed, detached) is shown too.
Goal: the API adds <= 20 ms over the CLI.
Usage (root): .venv/bin/python bench/api_vs_cli.py [RUNS]
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tests.helpers.engines import Podman  # noqa: E402
from tests.helpers.registry import RegistryServer, push_busybox  # noqa: E402

BIN = os.path.dirname(sys.executable)
PYCR = os.path.join(BIN, "pycr")


def _serve(env, root, sock):
    proc = subprocess.Popen([PYCR, "--root", root, "serve", "--host", f"unix://{sock}"], env=env,
                            stdout=subprocess.DEVNULL, start_new_session=True)
    for _ in range(300):
        try:
            with socket.socket(socket.AF_UNIX) as s:
                s.connect(sock)
                return proc
        except OSError:
            time.sleep(0.1)
    raise SystemExit("pycr serve did not start")


def main() -> int:
    runs = sys.argv[1] if len(sys.argv) > 1 else "20"
    work = tempfile.mkdtemp(prefix="pycr-bench-api-")
    root = os.path.join(work, "run")
    # --network none everywhere, as podman's: a like-for-like start-up, and the host's network untouched
    env = {**os.environ, "PYCR_STORAGE": os.path.join(work, "store"), "PYCR_ROOT": root, "PYCR_NETWORK": "none"}
    sock = os.path.join(work, "pycr.sock")
    server = None
    try:
        with RegistryServer(os.path.join(work, "registry")) as reg:
            ref = push_busybox(reg, "busybox", os.path.join(work, "img"))
            subprocess.run([PYCR, "pull", "-q", ref], env=env, check=True, stdout=subprocess.DEVNULL)
            server = _serve(env, root, sock)
            with Podman(runtime=shutil.which("runc"), registry=reg.host) as pm:
                pm("pull", "--tls-verify=false", ref)
                commands = ["-n", "docker-api", f"/usr/bin/docker -H unix://{sock} run --rm {ref} true",
                            "-n", "pycr-run", f"{PYCR} --root {root} run --rm -q {ref} true",
                            "-n", "pycr-run-d", f"{PYCR} --root {root} run -d --rm -q {ref} true",
                            "-n", "podman", " ".join(pm.argv("run", "--rm", *pm.run_args(), ref, "true"))]
                out = os.path.join(work, "result.json")
                subprocess.run(["hyperfine", "-N", "--warmup", "2", "--runs", runs, "--export-json", out,
                                *commands], env={**pm.env, **{k: env[k] for k in ("PYCR_STORAGE", "PYCR_ROOT", "PYCR_NETWORK")}},
                               check=True)
                results = {r["command"]: r["median"] for r in json.load(open(out))["results"]}
    finally:
        if server is not None:
            server.send_signal(signal.SIGINT)
            server.wait(60)
        subprocess.run([PYCR, "--root", root, "container", "prune"], env=env, capture_output=True)
        shutil.rmtree(work, ignore_errors=True)
    a, c, d, p = (results[k] for k in ("docker-api", "pycr-run", "pycr-run-d", "podman"))
    print(f"median run --rm true: docker->pycr serve {a * 1000:.0f} ms   pycr run {c * 1000:.0f} ms   "
          f"pycr run -d {d * 1000:.0f} ms   podman(runc) {p * 1000:.0f} ms")
    print(f"API minus pycr run: {(a - c) * 1000:+.0f} ms   ratios: api/pycr-run {a / c:.2f}   "
          f"api/pycr-run-d {a / d:.2f}   api/podman {a / p:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
