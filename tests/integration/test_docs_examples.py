"""Every shell example in README.md and docs/*.md runs here, as a user would type it, so none can go stale.

A ```sh block is preceded by a marker: ``<!-- example: run [needs=registry,netns,bundle] [cwd=repo] -->``
runs it (IMAGE and the registry's busybox become the test registry's image, ID a container id of the
suite, B a bundle where ``needs=bundle``); ``<!-- example: not-run (reason) -->`` says why it cannot run
here.  tests/meta/test_docs_examples_marked.py checks that every block has one.  A few rewrites make
interactive or endless commands finish (a terminal, ``logs -f``, bench repeats); they are listed in
``REWRITES`` so what differs from the docs is in one place.
"""

import contextlib
import os
import re
import signal
import subprocess
import sys
import uuid

import pytest

from tests.conftest import ID_PREFIX
from tests.helpers.docs import examples
from tests.helpers.manage import remove_all

pytestmark = pytest.mark.root

BIN = os.path.dirname(sys.executable)
REPO = os.path.join(os.path.dirname(__file__), "..", "..")
RUNNABLE = [e for e in examples() if e.run]
# (pattern, replacement): the only differences between a doc's example and what runs here.
REWRITES = [
    (r"\.venv/bin/", ""),                                           # PATH has the venv's bin
    (r"\bexec -it (\S+) sh\b", r"exec \1 true"),                    # -it needs a terminal (test_manage_tty.py)
    (r"\brun -it IMAGE sh\b", "run --rm IMAGE true"),
    (r"\blogs -f\b", "logs"),                                       # following never ends
    (r"--repeat \d+ --warmup \d+", "--repeat 1 --warmup 0"),        # research examples: tiny repeats
    (r"sh -c '\.\.\.'", "sh -c 'cat /sys/fs/cgroup/memory/memory.limit_in_bytes'"),
    # the test registry is outside the test's network namespace; the image is in the store already
    (r"docker pull \S+ && ", ""),
]


def _script(example, image: str, cid: str, bundle: str, tmp: str) -> str:
    text = example.code.replace("/run/pycr/", f"{tmp}/")  # sockets of the example's own server
    for pattern, repl in REWRITES:
        text = re.sub(pattern, repl, text)
    text = text.replace("127.0.0.1:5000/busybox", image).replace("IMAGE", image)
    text = "\n".join(re.sub(r"\bID\b", cid, line) if "pycr-oci" in line else line for line in text.splitlines())
    if bundle:
        text = re.sub(r"--bundle B\b", f"--bundle {bundle}", text)
    return text


# What some examples must print, beyond exiting 0 (keyed by the block's first line).
EXPECT = {
    "mkdir -p hello/bin": lambda out: "hello from my first image\n" in out and re.search(r"^\S*hello\s+v1\b", out, re.M),
    "pycr run --rm 127.0.0.1:5000/busybox": lambda out: out.splitlines()[0] == "hi"
    and out.splitlines()[-1] == str(64 << 20),
    "pycr run -d --name web -p 8080:80": lambda out: "127.0.0.1" in out and "0.0.0.0:8080" in out,
    "pycr serve --host": lambda out: "\nhi\n" in out and "[<Container: " in out,
}


@pytest.mark.parametrize("example", RUNNABLE, ids=[e.id for e in RUNNABLE])
def test_example(example, request, tmp_path, manage, busybox_ref, bundle):
    """The block runs to exit 0 under bash -euo pipefail, prints what EXPECT wants, with no traceback."""
    if "netns" in example.needs:
        request.getfixturevalue("net")  # from here on, this module's pycr runs in the test's host namespace
    prefix = list(manage.prefix)
    env = {**manage.env, "PATH": f"{BIN}:{os.environ['PATH']}", "PYCR_ROOT": manage.root}
    if not prefix:
        env["PYCR_NETWORK"] = "none"  # never a bridge on this machine's own network
    remove_all(manage)
    bdir = bundle(["true"]) if "bundle" in example.needs else ""
    script = _script(example, busybox_ref, ID_PREFIX + "docs-" + uuid.uuid4().hex[:8], bdir, str(tmp_path))
    cwd = REPO if example.cwd == "repo" else tmp_path
    shell = subprocess.Popen([*prefix, "bash", "-euo", "pipefail", "-c", script], cwd=cwd, env=env, text=True,
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             start_new_session=True)
    try:
        out, err = shell.communicate(timeout=600)
    finally:
        with contextlib.suppress(ProcessLookupError):  # what the example left in the background (a server)
            os.killpg(shell.pid, signal.SIGTERM)
        shell.communicate()
        remove_all(manage)
    done = subprocess.CompletedProcess(shell.args, shell.returncode, out, err)
    assert done.returncode == 0, f"{example.id}:\n{script}\n{done.stderr}{done.stdout}"
    assert "Traceback" not in done.stderr
    check = next((f for first, f in EXPECT.items() if example.code.startswith(first)), None)
    assert check is None or check(done.stdout), f"{example.id} printed:\n{done.stdout}"
