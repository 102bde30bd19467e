"""Push to a real docker-registry; skopeo reads what pycr wrote; Basic and Bearer token auth."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

import pytest

from pycr.core.errors import PycrError
from pycr.plugins.images.store import Store
from pycr.plugins.registry_oci import RegistrySource
from tests.helpers.registry import RegistryServer, push_busybox


def skopeo_fetch(ref: str, dest, creds: str | None = None) -> dict:
    """skopeo copies ``ref`` to an OCI layout and we check every blob it wrote; return the manifest."""
    args = ["skopeo", "--insecure-policy", "copy", "--src-tls-verify=false"]
    if creds:
        args += ["--src-creds", creds]
    subprocess.run([*args, f"docker://{ref}", f"oci:{dest}:x"], check=True, capture_output=True)
    for name in os.listdir(dest / "blobs" / "sha256"):
        assert hashlib.sha256((dest / "blobs" / "sha256" / name).read_bytes()).hexdigest() == name
    index = json.loads((dest / "index.json").read_text())
    return json.loads((dest / "blobs" / "sha256" / index["manifests"][0]["digest"][7:]).read_bytes())


def test_push_same_registry_mounts_and_skopeo_reads_it(busybox_ref, registry, tmp_path):
    store = Store(str(tmp_path / "store"))
    digest = RegistrySource().pull(store, busybox_ref)
    src = RegistrySource()
    dest = f"{registry.host}/copied/bb:v1"
    assert src.push(store, store.image(digest), dest) == digest
    assert src.last_client.stats["mounted"] >= 1 and src.last_client.stats["uploaded"] <= 1
    manifest = skopeo_fetch(dest, tmp_path / "oci")
    assert [x["digest"] for x in manifest["layers"]] == [x["digest"] for x in store.image(digest).layers]
    assert "v1" in RegistrySource().tags(f"{registry.host}/copied/bb")
    out = subprocess.run([sys.executable, "-m", "pycr.core.cli.main", "image", "tags", f"{registry.host}/copied/bb"],
                         capture_output=True, text=True, check=True).stdout
    assert out == "v1\n"
    again = RegistrySource()
    again.push(store, store.image(digest), dest)
    assert again.last_client.stats["skipped"] == 2  # layer and config already there


def test_chunked_push_to_another_registry_via_cli(busybox_ref, tmp_path):
    env = {**os.environ, "PYCR_STORAGE": str(tmp_path / "store")}
    cli = [sys.executable, "-m", "pycr.core.cli.main"]
    subprocess.run([*cli, "pull", "-q", busybox_ref], check=True, env=env, capture_output=True)
    with RegistryServer(tmp_path / "other") as other:
        dest = f"{other.host}/chunked:latest"
        r = subprocess.run([*cli, "push", "-q", "--chunk-size", "100000", busybox_ref, dest], env=env,
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        manifest = skopeo_fetch(dest, tmp_path / "oci")
        layer = manifest["layers"][0]
        assert layer["size"] > 100000  # so it really went in several PATCHes
        store = Store(str(tmp_path / "store2"))
        assert RegistrySource().pull(store, dest) == r.stdout.split()[-1]


def pycr_cli(env):
    def call(*args, stdin=None):
        return subprocess.run([sys.executable, "-m", "pycr.core.cli.main", *args], env=env, input=stdin,
                              capture_output=True, text=True, timeout=120)
    return call


@pytest.mark.parametrize("auth", ["htpasswd", "token"])
def test_auth_login_pull_push_logout(tmp_path, auth):
    env = {**os.environ, "PYCR_STORAGE": str(tmp_path / "store"), "DOCKER_CONFIG": str(tmp_path / "docker")}
    pycr = pycr_cli(env)
    with RegistryServer(tmp_path / "reg", auth=auth, users={"alice": "wonder"}) as reg:
        ref = push_busybox(reg, "private/bb", tmp_path, creds="alice:wonder")
        r = pycr("pull", "-q", ref)
        if auth == "htpasswd":
            assert r.returncode != 0
            assert f"unauthorized: authentication required (log in with: pycr login {reg.host})" in r.stderr
        else:  # the token server grants anonymous pulls
            assert r.returncode == 0, r.stderr
        r = pycr("login", "-u", "alice", "-p", "wrong", reg.host)
        assert r.returncode != 0 and ("incorrect username or password" in r.stderr or "refused" in r.stderr)
        assert not (tmp_path / "docker" / "config.json").exists()
        r = pycr("login", "-u", "alice", "--password-stdin", reg.host, stdin="wonder\n")
        assert r.returncode == 0, r.stderr
        auths = json.loads((tmp_path / "docker" / "config.json").read_text())["auths"]
        assert reg.host in auths
        assert pycr("pull", "-q", ref).returncode == 0
        r = pycr("push", "-q", ref, f"{reg.host}/private/pushed:v2")
        assert r.returncode == 0, r.stderr
        skopeo_fetch(f"{reg.host}/private/pushed:v2", tmp_path / "oci", creds="alice:wonder")
        if auth == "token":
            users = {req["user"] for req in reg.token_server.requests}
            assert users == {None, "alice"}
        assert pycr("logout", reg.host).returncode == 0
        assert reg.host not in json.loads((tmp_path / "docker" / "config.json").read_text())["auths"]
        r = pycr("push", "-q", ref, f"{reg.host}/private/anon:v3")
        assert r.returncode != 0 and "unauthorized" in r.stderr, r.stderr


def test_push_of_unknown_image_is_clear(tmp_path):
    with pytest.raises(PycrError, match="blob .* is not in the store"):
        store = Store(str(tmp_path / "s"))
        store.image("sha256:" + "0" * 64)
