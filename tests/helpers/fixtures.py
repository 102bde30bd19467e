"""pytest fixtures around :mod:`tests.helpers.registry`.

Every test module has them: ``tests/conftest.py`` loads this module as a
pytest plugin, so a test just names them::

    def test_x(registry, pycr_store): ...

- ``registry``        a plain docker-registry on 127.0.0.1 (module scope)
- ``busybox_ref``     ``<host>/busybox:latest`` (OCI manifest) pushed to it
- ``busybox_v2s2_ref`` the same image pushed with ``--format v2s2``
- ``pycr_store``      a fresh store directory; also sets ``PYCR_STORAGE``
"""

from __future__ import annotations

import pytest

from tests.helpers.registry import RegistryServer, missing_tools, push_busybox


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    need = missing_tools()
    if need:
        pytest.fail(f"missing tools (apt-get install {' '.join(need)})")
    work = tmp_path_factory.mktemp("registry")
    with RegistryServer(work / "server") as reg:
        reg.scratch = work
        yield reg


@pytest.fixture(scope="module")
def busybox_ref(registry):
    return push_busybox(registry, "busybox", registry.scratch)


@pytest.fixture(scope="module")
def busybox_v2s2_ref(registry):
    return push_busybox(registry, "busybox-v2s2", registry.scratch, fmt="v2s2")


@pytest.fixture
def pycr_store(tmp_path, monkeypatch):
    path = tmp_path / "store"
    monkeypatch.setenv("PYCR_STORAGE", str(path))
    return path


def assert_nothing_left(tmp_path, store, state) -> None:
    """After a test of the pycr CLI with a private store and state root: no
    mount under ``tmp_path``, no container directory, no runtime state."""
    import os

    with open("/proc/mounts") as f:
        assert str(tmp_path) not in f.read(), "a mount was left behind"
    if (store / "containers").exists():
        assert os.listdir(store / "containers") == []
    if state.exists():
        assert [n for n in os.listdir(state) if not n.startswith(".")] == []
