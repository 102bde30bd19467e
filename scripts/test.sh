#!/usr/bin/env bash
# Install what the tests need and run the whole suite (root, real kernel, real
# registry and engines, and a pure cgroup v2 QEMU guest).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh --test
exec .venv/bin/python -m pytest -p no:cacheprovider -q -rfE "$@" tests
