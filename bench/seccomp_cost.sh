#!/usr/bin/env bash
# The cost of docker's default seccomp profile on `run`: pycr-oci with and without it, and runc with and
# without the same profile, /bin/true in one busybox bundle, all four interleaved (ROUNDS hyperfine runs).
# pycr's filter is compiled on the first run (warmup) and read from its cache after that.
# Goal: the profile adds <= 1 ms to pycr-oci run.
# Usage: [ROUNDS=10] bash bench/seccomp_cost.sh [RUNS]   (needs root, runc, hyperfine, busybox-static, libseccomp2)
runs="${1:-100}"
. "$(dirname "$0")/lib.sh"
"$work/venv/bin/python" - "$work" <<'PY'
import json, os, shutil, sys
from pycr.core.testing.bundle import make_bundle
from pycr.plugins.seccomp.profile import load_profile, to_linux_seccomp
work = sys.argv[1]
plain = make_bundle(os.path.join(work, "plain"), ["/bin/true"])
filtered = os.path.join(work, "seccomp")
os.makedirs(filtered)
os.symlink(os.path.join(plain, "rootfs"), os.path.join(filtered, "rootfs"))
cfg = json.load(open(os.path.join(plain, "config.json")))
cfg["root"]["path"] = os.path.join(plain, "rootfs")
cfg["linux"]["seccomp"] = to_linux_seccomp(load_profile(), cfg["process"]["capabilities"]["bounding"])
json.dump(cfg, open(os.path.join(filtered, "config.json"), "w"))
print(f"docker's profile for {len(cfg['process']['capabilities']['bounding'])} capabilities: "
      f"{sum(len(r['names']) for r in cfg['linux']['seccomp']['syscalls'])} syscall names")
PY
oci="$work/venv/bin/pycr-oci --root $work/pycr-state"
# Rounds of one hyperfine run over all four commands, so that a change in the machine's load hits
# every command alike; the medians are over all rounds' samples.
rounds="${ROUNDS:-10}"
for round in $(seq "$rounds"); do
  hyperfine -N --warmup 2 --runs "$(( (runs + rounds - 1) / rounds ))" --export-json "$work/result-$round.json" \
    -n pycr-oci "$oci run --bundle $work/plain bench-pycr" \
    -n pycr-oci+seccomp "$oci run --bundle $work/seccomp bench-pycr-sc" \
    -n runc "runc --root $work/runc-state run --bundle $work/plain bench-runc" \
    -n runc+seccomp "runc --root $work/runc-state run --bundle $work/seccomp bench-runc-sc" >/dev/null
done
"$work/venv/bin/python" - "$work" <<'PY'
import glob, json, statistics, sys
times = {}
for path in glob.glob(f"{sys.argv[1]}/result-*.json"):
    for x in json.load(open(path))["results"]:
        times.setdefault(x["command"], []).extend(x["times"])
r = {k: statistics.median(v) * 1000 for k, v in times.items()}
p, ps, q, qs = r["pycr-oci"], r["pycr-oci+seccomp"], r["runc"], r["runc+seccomp"]
n = len(times["pycr-oci"])
print(f"median ms over {n} runs each: pycr-oci {p:.1f}, with the profile {ps:.1f} (+{ps - p:.2f} ms, ratio {ps / p:.3f}); "
      f"runc {q:.1f}, with the profile {qs:.1f} (+{qs - q:.2f} ms, ratio {qs / q:.3f})")
print(f"ratio pycr-oci+seccomp / runc+seccomp: {ps / qs:.2f}   goal (profile adds <= 1 ms to pycr): "
      f"{'met' if ps - p <= 1.0 else 'NOT met'}")
PY
