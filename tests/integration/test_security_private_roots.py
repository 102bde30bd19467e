"""Escape class 4 (docs/security.md): the image store and the state root are
private to root.  An unprivileged host user cannot reach a setuid binary of
an unpacked layer; an existing root that is a symlink or someone else's is
refused in one line, a too-open one is tightened; a symlink planted in the
state root's validation cache does not redirect root's writes."""

from __future__ import annotations

import glob
import os
import shutil
import stat
import subprocess
import tempfile

import pytest

from tests.conftest import PYCR, PYCR_OCI

pytestmark = pytest.mark.root
NOBODY = ["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups"]


@pytest.fixture
def public_base():
    """A directory everyone may traverse (unlike pytest's tmp_path, 0700), as /var/lib is."""
    base = tempfile.mkdtemp(prefix="pycr-tests-store-", dir="/tmp")
    os.chmod(base, 0o755)
    yield base
    shutil.rmtree(base, ignore_errors=True)


def pycr(store, *args, root=None):
    env = {**os.environ, "PYCR_STORAGE": store}
    return subprocess.run([PYCR, *(["--root", root] if root else []), *args], env=env, capture_output=True,
                          text=True, timeout=120)


def test_unprivileged_user_cannot_reach_layer_files(public_base, busybox_ref):
    store = os.path.join(public_base, "store")
    done = pycr(store, "run", "--rm", busybox_ref, "true")  # pulls and unpacks the layers
    assert done.returncode == 0, done.stderr
    assert stat.S_IMODE(os.stat(store).st_mode) & 0o077 == 0
    busyboxes = glob.glob(os.path.join(store, "layers", "sha256", "*", "bin", "busybox"))
    assert busyboxes
    target = busyboxes[0]
    os.chmod(target, 0o4755)  # as an image with a setuid-root binary would have it
    # through a shell: setpriv itself may resolve its command before it drops root
    probe = subprocess.run([*NOBODY, "sh", "-c", f"{target} id -u"], capture_output=True, text=True)
    assert probe.returncode != 0 and "Permission denied" in probe.stderr, (probe.stdout, probe.stderr)
    assert "0" not in probe.stdout.split()
    for sub in ("layers", "blobs", "containers", "tmp", "ingest", "locks"):
        reach = subprocess.run([*NOBODY, "sh", "-c", f"ls {os.path.join(store, sub)}"], capture_output=True,
                               text=True)
        assert reach.returncode != 0, sub


def test_store_root_that_is_a_symlink_is_refused(public_base):
    real = os.path.join(public_base, "elsewhere")
    os.mkdir(real)
    link = os.path.join(public_base, "store")
    os.symlink(real, link)
    done = pycr(link, "images")
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "image store" in lines[0] and link in lines[0], done.stderr
    assert os.listdir(real) == []


def test_store_root_owned_by_another_user_is_refused(public_base):
    store = os.path.join(public_base, "store")
    os.mkdir(store, 0o755)
    os.chown(store, 65534, 65534)
    done = pycr(store, "images")
    assert done.returncode != 0 and "owned by uid 65534" in done.stderr and len(done.stderr.splitlines()) == 1
    assert os.listdir(store) == []


def test_a_too_open_store_root_is_tightened(public_base):
    store = os.path.join(public_base, "store")
    os.mkdir(store, 0o777)
    os.chmod(store, 0o777)
    assert pycr(store, "images").returncode == 0
    assert stat.S_IMODE(os.stat(store).st_mode) == 0o700


def test_planted_symlink_in_state_root_does_not_redirect_writes(bundle, cid, public_base):
    root = os.path.join(public_base, "state")
    os.mkdir(root, 0o700)
    victim = os.path.join(public_base, "victim")
    os.mkdir(victim)
    os.symlink(victim, os.path.join(root, ".validated"))
    b = bundle(["true"])
    for i in range(3):  # the schema check runs in the background; its marker would land in victim/
        done = subprocess.run([PYCR_OCI, "--root", root, "run", "--bundle", b, f"{cid}-{i}"],
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
    assert os.listdir(victim) == []


def test_state_root_that_is_a_symlink_is_refused(bundle, cid, public_base):
    real = os.path.join(public_base, "real")
    os.mkdir(real)
    link = os.path.join(public_base, "state")
    os.symlink(real, link)
    done = subprocess.run([PYCR_OCI, "--root", link, "run", "--bundle", bundle(["true"]), cid],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert len(done.stderr.strip().splitlines()) == 1 and "state root" in done.stderr, done.stderr
    assert os.listdir(real) == []
