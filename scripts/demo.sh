#!/usr/bin/env bash
# Install pycr and run a container from a busybox bundle built locally (no network needed).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
.venv/bin/pycr demo "$@"
cat <<EOF

That was a container from a local busybox bundle. The commands are in $PWD/.venv/bin:
  export PATH="$PWD/.venv/bin:\$PATH"
Try next:
  pycr demo sh -c 'id; hostname; ls /'      another command in the same kind of container
  pycr --trace demo true                     where the time goes, phase by phase
  pycr plugins                               every layer and driver, and where it comes from
Your first image, offline: README.md, "Your first image".
EOF
