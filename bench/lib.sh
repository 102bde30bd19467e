# Sourced first by the bench scripts: strict mode, the repository as the working directory, a
# temporary $work removed on exit, and in $work/venv a normal (compiled) `pip install .` of pycr --
# what is measured is the installed package, not the editable dev install.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
work=$(mktemp -d /tmp/pycr-bench-XXXXXX)
trap 'rm -rf "$work"' EXIT
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install -q --disable-pip-version-check . >/dev/null
"$work/venv/bin/python" -m compileall -q "$work/venv/lib" >/dev/null || true
