#!/usr/bin/env bash
# The cost of docker's default seccomp profile on `run`: pycr-oci with and without it, and runc with and
# without the same profile, /bin/true in one busybox bundle, all four interleaved (ROUNDS hyperfine runs).
# pycr's filter is compiled on the first run (warmup) and read from its cache after that.
# Goal: the profile adds <= 1 ms to pycr-oci run.
# Usage: [ROUNDS=10] [PHASE_RUNS=60] bash bench/seccomp_cost.sh [RUNS]   (needs root, runc, hyperfine, busybox-static, libseccomp2)
runs="${1:-100}"
. "$(dirname "$0")/lib.sh"
"$work/venv/bin/python" - "$work" <<'PY'
import json, os, shutil, sys
from pycr.core.testing.bundle import make_bundle
from pycr.plugins.seccomp.profile import apply, load_profile
work = sys.argv[1]
plain = make_bundle(os.path.join(work, "plain"), ["/bin/true"])
filtered = os.path.join(work, "seccomp")
os.makedirs(filtered)
os.symlink(os.path.join(plain, "rootfs"), os.path.join(filtered, "rootfs"))
cfg = json.load(open(os.path.join(plain, "config.json")))
cfg["root"]["path"] = os.path.join(plain, "rootfs")
apply(cfg, load_profile(), cfg["process"]["capabilities"]["bounding"])
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
times, cpu = {}, {}
for path in glob.glob(f"{sys.argv[1]}/result-*.json"):
    for x in json.load(open(path))["results"]:
        times.setdefault(x["command"], []).extend(x["times"])
        cpu.setdefault(x["command"], []).append(x["user"] + x["system"])  # hyperfine's means, per round
n = len(times["pycr-oci"])
for label, stat in (("median", statistics.median), ("min", min)):
    r = {k: stat(v) * 1000 for k, v in times.items()}
    p, ps, q, qs = r["pycr-oci"], r["pycr-oci+seccomp"], r["runc"], r["runc+seccomp"]
    print(f"{label} ms over {n} runs each: pycr-oci {p:.1f}, with the profile {ps:.1f} ({ps - p:+.2f} ms, "
          f"ratio {ps / p:.3f}); runc {q:.1f}, with the profile {qs:.1f} ({qs - q:+.2f} ms, ratio {qs / q:.3f}); "
          f"pycr-oci+seccomp / runc+seccomp {ps / qs:.2f}")
# CPU (user + system) is steadier than wall time when the machine is shared: the mean over rounds
c = {k: statistics.mean(v) * 1000 for k, v in cpu.items()}
print(f"CPU ms (mean of the rounds' means): pycr-oci {c['pycr-oci']:.1f}, with the profile {c['pycr-oci+seccomp']:.1f} "
      f"({c['pycr-oci+seccomp'] - c['pycr-oci']:+.2f} ms); runc {c['runc']:.1f}, with the profile "
      f"{c['runc+seccomp']:.1f} ({c['runc+seccomp'] - c['runc']:+.2f} ms)")
PY
# What the profile adds inside pycr-oci, measured in-process (no process start-up noise): importing
# the plugin's hot-path module, the policy hash + cache read per container, the bigger config's parse
# and schema check, and loading the compiled program with seccomp(2) in a forked child (as the init does).
"$work/venv/bin/python" - "$work" <<'PY'
import json, os, subprocess, sys, time
work = sys.argv[1]
seccomp = json.load(open(os.path.join(work, "seccomp", "config.json")))["linux"]["seccomp"]
# Import cost, in a fresh interpreter (perf_counter, no -X importtime overhead): first what every
# pycr-oci run imports, then what a cached profile adds (20 starts).
pre = ("import errno, pycr.core.runtime.lifecycle, pycr.core.runtime.init, pycr.core.runtime.plan, "
       "pycr.plugins.seccomp.hooks")
timed = "from pycr.plugins.seccomp import compiled"
imps = sorted(float(subprocess.run([sys.executable, "-c", f"{pre}\nimport time\nt = time.perf_counter()\n{timed}\n"
                                    "print(time.perf_counter() - t)"], capture_output=True, text=True,
                                   check=True).stdout) for _ in range(20))
from pycr.plugins.seccomp import IGNORE_UNKNOWN, compiled  # noqa: E402
root = os.path.join(work, "pycr-state")
ignore = json.load(open(os.path.join(work, "seccomp", "config.json")))["annotations"].get(IGNORE_UNKNOWN) == "ignore"
pers = []
for _ in range(20):  # 20 batches of 100 containers' worth of hot-path work (as plugins/seccomp/hooks.py)
    t = time.perf_counter()
    for _ in range(100):
        prog, flags, notify = compiled.program(root, seccomp, ignore)
        if notify or seccomp.get("listenerPath"):
            raise SystemExit("docker's profile has no NOTIFY action")
    pers.append((time.perf_counter() - t) / 100)
pers.sort()
# The profile makes the config bigger (8 KB against 2.5 KB): reading it and the schema check cost more.
from pycr.core import spec  # noqa: E402
def config_cost(bundle):
    spec.load_bundle_config(bundle)
    t = time.perf_counter()
    for _ in range(100):
        spec.load_bundle_config(bundle)
    return (time.perf_counter() - t) / 100
cfgs = sorted(config_cost(os.path.join(work, "seccomp")) - config_cost(os.path.join(work, "plain")) for _ in range(20))
from pycr.core.linux.syscalls import SYSCALLS  # noqa: E402
loads = []
for _ in range(50):
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        SYSCALLS.prctl(38, 1)  # PR_SET_NO_NEW_PRIVS
        t = time.perf_counter()
        compiled.set_filter(SYSCALLS, prog, flags)
        os.write(w, repr(time.perf_counter() - t).encode())
        os._exit(0)
    os.close(w)
    loads.append(float(os.read(r, 64)))
    os.close(r)
    os.waitpid(pid, 0)
loads.sort()
# The minimum is the cost without contention (other load only ever adds); the median shows the spread.
for label, pick in (("min", lambda xs: xs[0]), ("median", lambda xs: xs[len(xs) // 2])):
    imp, per, cfg, ld = pick(imps), pick(pers), pick(cfgs), pick(loads)
    added = imp + per + cfg + ld
    print(f"in pycr-oci ({label}): import {imp * 1000:.2f} ms, policy hash + cached program and flags "
          f"{per * 1000:.3f} ms, the bigger config's parse + schema check {cfg * 1000:.3f} ms, "
          f"seccomp(2) load of {len(prog) // 8} instructions {ld * 1000:.3f} ms; "
          f"added by the profile (cached compile): {added * 1000:.2f} ms   goal <= 1 ms: "
          f"{'met' if added <= 0.001 else 'NOT met'}")
PY
# End to end without hyperfine's process-level noise: both bundles' runs phase by phase, interleaved
# in alternating order (bench/oci_phases.py), the same install
echo "pycr-oci run, phases (plain bundle, then the one with the profile):"
"$work/venv/bin/python" bench/oci_phases.py "$work/plain,$work/seccomp" "$work/venv" --runs "${PHASE_RUNS:-60}"
