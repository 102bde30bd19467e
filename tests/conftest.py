"""Shared fixtures: a private state root per test session, busybox bundles,
and the environment every pycr command in the tests runs with."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid

import pytest

# Shared fixtures (a real registry with a busybox image; managed containers),
# available to every test module without importing them by name.
pytest_plugins = ["tests.helpers.fixtures", "tests.helpers.manage", "tests.helpers.api", "tests.helpers.netns"]

VENV_BIN = os.path.dirname(sys.executable)
PYCR_OCI = os.path.join(VENV_BIN, "pycr-oci")
PYCR = os.path.join(VENV_BIN, "pycr")
# What marks this run's own things, so the leak check (tests/zz_leaks) counts only what this run made
# and not the containers of a user, or of another checkout's suite, on the same machine: every process
# the suite starts inherits SESSION_ENV in its environment, and every path it makes starts with one of
# SESSION_PATHS.
SESSION = uuid.uuid4().hex[:12]
# Every container the tests make gets an id with this prefix, which names this run: the leak check
# counts a cgroup ``pycr-<id>`` as ours by it (and another run's, whose prefix differs, as not ours).
ID_PREFIX = f"pycrtest-{SESSION[:8]}-"
SESSION_ENV = f"PYCR_TEST_SESSION={SESSION}"
SESSION_START = time.time()
os.environ["PYCR_TEST_SESSION"] = SESSION
STATE_ROOT = f"/run/pycr-tests-{os.getpid()}"
MANAGE_BASE = f"/tmp/pycr-tests-manage-{SESSION}"
SESSION_PATHS = (STATE_ROOT, MANAGE_BASE)
# The machine's own network interfaces when the run began: a test never adds one (networking is
# tested inside network namespaces the tests create; tests/zz_leaks checks it).
HOST_LINKS = frozenset(os.listdir("/sys/class/net"))
# Containers of the suite get a namespace with only lo unless a test asks for a network: the default
# bridge would touch this machine's real interfaces and firewall.  Network tests run pycr inside a
# network namespace of their own (tests/integration/test_network_*.py).
os.environ.setdefault("PYCR_NETWORK", "none")


@pytest.fixture(scope="session")
def state_root(tmp_path_factory):
    root = STATE_ROOT
    os.makedirs(root, exist_ok=True)
    os.environ["PYCR_ROOT"] = root
    yield root
    from pycr.core.runtime.state import Container

    for left in Container.ids(root):  # a test that died half-way: delete, then the leak check tells
        subprocess.run([PYCR_OCI, "--root", root, "delete", "--force", left], capture_output=True)
    subprocess.run(["rm", "-rf", root], check=False)


def new_id(label: str) -> str:
    """A container id or name of this run (``ID_PREFIX``, a random tail): two suites at once
    never share one, and the leak check counts what it names as this run's."""
    return f"{ID_PREFIX}{label}-{uuid.uuid4().hex[:6]}"


@pytest.fixture
def cid():
    return ID_PREFIX + uuid.uuid4().hex[:10]


@pytest.fixture
def bundle(tmp_path):
    """A factory: ``bundle(args, **config overrides)`` -> bundle dir."""
    from pycr.core.testing.bundle import make_bundle

    def make(args, **overrides):
        path = tmp_path / f"bundle-{uuid.uuid4().hex[:6]}"
        return str(make_bundle(str(path), args, **overrides))

    return make


def oci(state_root, *args, input=None, timeout=60, check=False):
    """Run pycr-oci with the test state root; returns CompletedProcess (text).

    Output goes to files, not pipes (``tests.helpers.engines.run``): a created
    container inherits our stdio and keeps a pipe open until it exits, as with runc.
    """
    from tests.helpers.engines import run

    kw = {} if input is None else {"input": input}
    return run([PYCR_OCI, "--root", state_root, *args], check=check, timeout=timeout, **kw)


@pytest.fixture
def run_oci(state_root):
    def call(*args, **kw):
        return oci(state_root, *args, **kw)

    return call


@pytest.fixture
def container(state_root, run_oci):
    """Track container ids a test creates and force-delete them afterwards."""
    made: list[str] = []
    yield made
    for c in made:
        run_oci("delete", "--force", c)


def read_config(bundle: str) -> dict:
    with open(os.path.join(bundle, "config.json")) as f:
        return json.load(f)
