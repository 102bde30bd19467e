#!/usr/bin/env bash
# pycr-oci vs runc on the same busybox bundle, each scenario one interleaved hyperfine run
# printing both medians and the ratio pycr/runc:
#   run          `run` of /bin/true, the same config.json every time
#   new-config   `run` of a config.json never seen before (rewritten before every run: the engine case)
#   c/s/d        `create`, `start`, `delete --force` as separate commands (how engines call a runtime)
#   parallel     N `run` at once (default 50); also prints containers per second
# pycr is measured from a normal (compiled) `pip install .` (bench/lib.sh), on Debian's python3.11
# when present (the pyenv python3 is built without PGO) -- the interpreter is printed.
# BASE_VENV=DIR (a compiled install of another version, e.g. main): its pycr-oci runs in the same
# hyperfine runs as a third command, printed as "base" with the ratio this tree/base -- before and
# after from one interleaved run.
# Usage: [BASE_VENV=DIR] bash bench/oci_run_vs_runc.sh [RUNS] [PARALLEL]   (root, runc, hyperfine, busybox-static)
runs="${1:-50}"
par="${2:-50}"
BENCH_PYTHON="${BENCH_PYTHON:-$(command -v /usr/bin/python3.11 || command -v python3)}"
. "$(dirname "$0")/lib.sh"
trap 'runc --root "$work/runc-state" list -q 2>/dev/null | xargs -r -n1 runc --root "$work/runc-state" delete -f; rm -rf "$work"' EXIT
unset PYTHONDONTWRITEBYTECODE  # the timed interpreter uses the compiled files
"$work/venv/bin/python" - "$work/bundle" <<'PY'
import sys
from pycr.core.testing.bundle import make_bundle
make_bundle(sys.argv[1], ["/bin/true"])
PY
P="$work/venv/bin/pycr-oci --root $work/pycr-state"
R="runc --root $work/runc-state"
Q="${BASE_VENV:+$BASE_VENV/bin/pycr-oci --root $work/base-state}"
B="$work/bundle"
# a fresh config.json before every timed run (same content, a new hostname)
cat > "$work/newconfig.py" <<'EOF'
import json, os, sys
path = os.path.join(sys.argv[1], "config.json")
config = json.load(open(path))
config["hostname"] = "h" + os.urandom(6).hex()
json.dump(config, open(path, "w"), indent=1)
EOF
newconfig="$work/venv/bin/python $work/newconfig.py $B"
cat > "$work/parallel.sh" <<'EOF'
#!/bin/sh
# parallel.sh RUNTIME... -- N `run`s of the bundle at once, distinct ids
n=$1; bundle=$2; tag=$3; shift 3
i=0
while [ $i -lt "$n" ]; do "$@" run --bundle "$bundle" "$tag-$i" >/dev/null & i=$((i+1)); done
wait
EOF
chmod +x "$work/parallel.sh"

echo "interpreter: $(readlink -f "$work/venv/bin/python") $("$work/venv/bin/python" -c 'import sys; print(sys.version.split()[0])')"
echo "load before: $(uptime)"
hf() {  # hf NAME JSON hyperfine-args...
  local name=$1 out=$2; shift 2
  hyperfine -N --style basic --export-json "$out" "$@" >"$out.log" 2>&1 || { tail -20 "$out.log"; exit 1; }
  "$work/venv/bin/python" - "$out" "$name" "$par" <<'PY'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
p, q = r["pycr-oci"]["median"], r["runc"]["median"]
line = f"{sys.argv[2]:<11} median pycr-oci {p*1000:7.1f} ms   runc {q*1000:7.1f} ms   ratio pycr/runc {p/q:5.2f}"
if sys.argv[2] == "parallel":
    n = int(sys.argv[3])
    line += f"   containers/s pycr-oci {n/p:5.1f}  runc {n/q:5.1f}"
if "base" in r:
    b = r["base"]["median"]
    line += f"   | base {b*1000:7.1f} ms, base/runc {b/q:5.2f}, pycr/base {p/b:5.2f}"
    if sys.argv[2] == "parallel":
        line += f", base containers/s {int(sys.argv[3])/b:5.1f}"
print(line)
PY
}
with_base() {  # with_base COMMAND: hyperfine arguments adding the base install's command, if any
  [ -n "$Q" ] && base_args=(-n base "$1") || base_args=()
}
with_base "$Q run --bundle $B bench-base"
hf run "$work/run.json" --warmup 5 --runs "$runs" \
  -n pycr-oci "$P run --bundle $B bench-pycr" -n runc "$R run --bundle $B bench-runc" "${base_args[@]}"
hf new-config "$work/new.json" --warmup 3 --runs "$runs" --prepare "$newconfig" \
  -n pycr-oci "$P run --bundle $B bench-pycr" -n runc "$R run --bundle $B bench-runc" "${base_args[@]}"
with_base "sh -c '$Q create --bundle $B csd-base && $Q start csd-base && $Q delete --force csd-base'"
hf c/s/d "$work/csd.json" --warmup 3 --runs "$runs" --prepare "$newconfig" \
  -n pycr-oci "sh -c '$P create --bundle $B csd-pycr && $P start csd-pycr && $P delete --force csd-pycr'" \
  -n runc "sh -c '$R create --bundle $B csd-runc && $R start csd-runc && $R delete --force csd-runc'" \
  "${base_args[@]}"
with_base "$work/parallel.sh $par $B q $Q"
hf parallel "$work/par.json" --warmup 1 --runs "$(( runs / 5 > 3 ? runs / 5 : 3 ))" \
  -n pycr-oci "$work/parallel.sh $par $B p $P" -n runc "$work/parallel.sh $par $B r $R" "${base_args[@]}"
echo "load after: $(uptime)"
