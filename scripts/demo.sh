#!/usr/bin/env bash
# Install pycr and run a container from a busybox bundle built locally (no network needed).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
exec .venv/bin/pycr demo "$@"
