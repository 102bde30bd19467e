#!/usr/bin/env bash
# pycr-oci run vs runc run, /bin/true in the same busybox bundle, side by side in one hyperfine run.
# pycr is measured from a normal (compiled) `pip install .`, not the editable dev install.
# Usage: bash bench/oci_run_vs_runc.sh [RUNS]   (needs root, runc, hyperfine, busybox-static)
runs="${1:-100}"
. "$(dirname "$0")/lib.sh"
"$work/venv/bin/python" - "$work/bundle" <<'PY'
import sys
from pycr.core.testing.bundle import make_bundle
make_bundle(sys.argv[1], ["/bin/true"])
PY
hyperfine -N --warmup 5 --runs "$runs" --export-json "$work/result.json" \
  -n pycr-oci "$work/venv/bin/pycr-oci --root $work/pycr-state run --bundle $work/bundle bench-pycr" \
  -n runc "runc --root $work/runc-state run --bundle $work/bundle bench-runc"
"$work/venv/bin/python" - "$work/result.json" <<'PY'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
p, q = r["pycr-oci"]["median"], r["runc"]["median"]
print(f"median pycr-oci run: {p*1000:.1f} ms   runc run: {q*1000:.1f} ms   ratio pycr/runc: {p/q:.2f}")
PY
