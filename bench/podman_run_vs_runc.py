"""``podman run --rm IMAGE true`` with pycr-oci and with runc as podman's
runtime, side by side in one hyperfine run; prints both medians and the ratio.

Uses the test helpers: a registry on 127.0.0.1 with a busybox-static image,
podman with its storage, config and cgroups in a temporary directory.
Usage (root): .venv/bin/python bench/podman_run_vs_runc.py [RUNS]
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tests.helpers.engines import PYCR_OCI, Podman  # noqa: E402
from tests.helpers.registry import RegistryServer, push_busybox  # noqa: E402


def main() -> int:
    runs = sys.argv[1] if len(sys.argv) > 1 else "20"
    runc = shutil.which("runc")
    work = tempfile.mkdtemp(prefix="pycr-bench-podman-")
    try:
        with RegistryServer(os.path.join(work, "registry")) as reg:
            ref = push_busybox(reg, "busybox", os.path.join(work, "img"))
            with Podman(runtime=PYCR_OCI, registry=reg.host) as pm:
                pm("pull", "--tls-verify=false", ref)
                commands = []
                for name, runtime in (("pycr-oci", PYCR_OCI), ("runc", runc)):
                    pm.runtime = runtime
                    argv = pm.argv("run", "--rm", *pm.run_args(), ref, "true")
                    commands += ["-n", name, " ".join(argv)]
                out = os.path.join(work, "result.json")
                subprocess.run(["hyperfine", "-N", "--warmup", "2", "--runs", runs, "--export-json", out,
                                *commands], env=pm.env, check=True)
                results = {r["command"]: r["median"] for r in json.load(open(out))["results"]}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    p, r = results["pycr-oci"], results["runc"]
    print(f"median podman run --rm true: pycr-oci {p * 1000:.0f} ms   runc {r * 1000:.0f} ms   "
          f"ratio pycr/runc: {p / r:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
