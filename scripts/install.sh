#!/usr/bin/env bash
# Install pycr on Debian 12: system packages by name, a virtualenv in .venv, pycr itself.
#   bash scripts/install.sh          what `pycr demo` needs
#   bash scripts/install.sh --test   plus everything the test suite drives for real
set -euo pipefail
cd "$(dirname "$0")/.."

base=(python3 python3-venv busybox-static iproute2 procps libseccomp2 tini nftables conmon)  # conmon: --monitor conmon
test_pkgs=(runc crun skopeo umoci docker-registry podman containerd hyperfine docker-compose
           qemu-system-x86 linux-image-amd64 apache2-utils e2fsprogs zstd buildah gcc binutils libc6-dev openssl util-linux
           docker.io chromium chromium-driver iperf3 strace)  # binutils: tests/meta/test_exec_stub_source.py; the docker CLI (pycr serve's client) and dockerd (an engine driving pycr-oci), a browser; strace (what a run does, syscall by syscall)

want=("${base[@]}")
[ "${1:-}" = "--test" ] && want+=("${test_pkgs[@]}")
missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
extras=""
[ "${1:-}" = "--test" ] && extras="[test]"
.venv/bin/pip install -q --disable-pip-version-check -e ".${extras}"
