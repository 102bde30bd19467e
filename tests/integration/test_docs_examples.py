"""The README's examples, run as a newcomer would type them, so they cannot go stale."""

import os
import re
import subprocess
import sys

import pytest

pytestmark = pytest.mark.root

BIN = os.path.dirname(sys.executable)
README = os.path.join(os.path.dirname(__file__), "..", "..", "README.md")


def _block(heading: str) -> str:
    """The first ```sh block under the README heading ``heading``."""
    with open(README) as f:
        text = f.read()
    section = text.split(f"\n## {heading}\n", 1)[1]
    return re.search(r"```sh\n(.*?)```", section, re.S).group(1)


def _shell(script: str, cwd, env) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


@pytest.fixture
def env(tmp_path, state_root):
    return {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", "PYCR_STORAGE": str(tmp_path / "store"),
            "PYCR_ROOT": state_root}


def test_your_first_image(tmp_path, env):
    done = _shell(_block("Your first image"), tmp_path, env)
    assert done.returncode == 0, done.stderr
    assert "hello from my first image\n" in done.stdout
    assert re.search(r"^\S*hello\s+v1\b", done.stdout, re.M) or "hello:v1" in done.stdout


def test_the_management_examples(tmp_path, env, busybox_ref):
    """README's first examples, with the test registry's busybox for IMAGE; ``exec -it`` needs a
    terminal, so its line runs with ``exec`` (tests/integration/test_manage_tty.py covers -it)."""
    with open(README) as f:
        text = f.read()
    block = re.search(r"The commands are installed in `\.venv/bin`.*?```sh\n(.*?)```", text, re.S).group(1)
    script = block.replace("127.0.0.1:5000/busybox", busybox_ref).replace("IMAGE", busybox_ref)
    script = script.replace("httpd -f;", "httpd -f -p 8080;").replace("pycr exec -it web sh", "pycr exec web true")
    script = script.replace("sh -c '...'", "sh -c 'cat /sys/fs/cgroup/memory/memory.limit_in_bytes'")
    # the network line needs a network namespace of the test's own (test_network_bridge.py covers it):
    # here it would make a bridge on this machine's own network
    lines = [re.sub(r"\s+#.*$", "", line) for line in script.splitlines() if line.strip() and "network" not in line]
    try:
        done = _shell("\n".join(lines), tmp_path, env)
    finally:  # a failed line must not leave the containers it made behind
        _shell("pycr rm -f $(pycr ps -aq) 2>/dev/null || true", tmp_path, env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == "hi"
    assert done.stdout.splitlines()[-1] == str(64 << 20)
