"""oci:, oci-archive:, docker-archive: transports, load/save/import, and image management verbs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile

import pytest

from tests.helpers.registry import busybox_rootfs, build_busybox_layout, skopeo_copy, umoci


@pytest.fixture
def pycr(tmp_path):
    env = {**os.environ, "PYCR_STORAGE": str(tmp_path / "store")}

    def call(*args, check=0):
        r = subprocess.run([sys.executable, "-m", "pycr.core.cli.main", "--root", str(tmp_path / "run"), *args],
                           env=env, capture_output=True, text=True, timeout=120)
        if check is not None:
            assert r.returncode == check, r.stderr
        return r
    return call


@pytest.fixture(scope="module")
def layout(tmp_path_factory):
    return build_busybox_layout(tmp_path_factory.mktemp("oci") / "bb", "v1")


def images_json(pycr) -> dict:
    return {r["name"]: r for r in json.loads(pycr("images", "--format", "json").stdout)}


def test_oci_layout_roundtrip_read_by_umoci(pycr, layout, tmp_path):
    pycr("pull", "-q", f"oci:{layout}:v1")
    rows = images_json(pycr)
    assert list(rows) == ["localhost/bb:v1"]
    out = tmp_path / "out"
    pycr("push", "-q", "localhost/bb:v1", f"oci:{out}:copy")
    assert "copy" in subprocess.run(["umoci", "ls", "--layout", str(out)], capture_output=True, text=True,
                                    check=True).stdout
    umoci("unpack", "--image", f"{out}:copy", str(tmp_path / "bundle"))
    assert (tmp_path / "bundle" / "rootfs" / "bin" / "busybox").read_bytes() == open("/bin/busybox", "rb").read()
    r = pycr("pull", f"oci:{layout}:nope", check=None)
    assert r.returncode != 0 and "no image tagged nope; tags: v1" in r.stderr


@pytest.mark.parametrize("name, content", [("oci-layout", "[]"), ("index.json", "[1]"), ("index.json", "{no"),
                                           ("index.json", None)])
def test_a_malformed_oci_layout_is_one_line_naming_the_file(pycr, tmp_path, name, content):
    """A hostile or broken layout (a list where an object belongs, bad JSON, a missing index) is refused in
    one line naming the file -- it was an AttributeError."""
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    (bad / "index.json").write_text('{"schemaVersion": 2, "manifests": []}')
    if content is None:
        (bad / name).unlink()
    else:
        (bad / name).write_text(content)
    r = pycr("pull", f"oci:{bad}", check=1)
    assert r.stderr.count("\n") == 1 and str(bad / name) in r.stderr and "Error" not in r.stderr, r.stderr
    assert not os.path.exists(tmp_path / "store" / "refs.json") or "bad" not in (tmp_path / "store" / "refs.json").read_text()


@pytest.mark.parametrize("manifests", ['[{"x": 1}]', '"s"', '[1]'])
def test_an_index_without_proper_descriptors_is_one_line(pycr, tmp_path, manifests):
    """index.json's descriptors are checked against the OCI schema before one is used (a descriptor
    without a digest was a KeyError)."""
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    (bad / "index.json").write_text('{"schemaVersion": 2, "manifests": %s}' % manifests)
    r = pycr("pull", f"oci:{bad}", check=1)
    assert r.stderr.count("\n") == 1 and "invalid index: field manifests" in r.stderr, r.stderr


def test_oci_archive_load_and_save(pycr, layout, tmp_path):
    archive = tmp_path / "in.tar"
    skopeo_copy(f"oci:{layout}:v1", f"oci-archive:{archive}:v1")
    assert "Loaded image: localhost/in:latest" in pycr("load", "-i", str(archive)).stdout
    saved = tmp_path / "saved.tar"
    pycr("save", "--format", "oci-archive", "-o", str(saved), "localhost/in:latest")
    info = json.loads(subprocess.run(["skopeo", "inspect", f"oci-archive:{saved}:latest"], capture_output=True,
                                     check=True).stdout)
    assert info["Architecture"] == "amd64" and len(info["Layers"]) == 1


def test_docker_archive_load_and_save(pycr, layout, tmp_path):
    archive = tmp_path / "docker.tar"
    skopeo_copy(f"oci:{layout}:v1", f"docker-archive:{archive}:example/bb:dock")
    assert "Loaded image: docker.io/example/bb:dock" in pycr("load", "-i", str(archive)).stdout
    saved = tmp_path / "saved.tar"
    pycr("save", "-o", str(saved), "example/bb:dock")
    with tarfile.open(saved) as tf:
        manifest = json.load(tf.extractfile("manifest.json"))
    assert manifest[0]["RepoTags"] == ["example/bb:dock"]
    dest = tmp_path / "fromsave"
    skopeo_copy(f"docker-archive:{saved}", f"oci:{dest}:x")  # skopeo checks layer digests vs diff_ids
    assert (dest / "index.json").exists()


@pytest.mark.root
def test_import_rootfs_tarball_and_run(pycr, tmp_path):
    root = busybox_rootfs(tmp_path / "rootfs")
    tarball = tmp_path / "rootfs.tar.gz"
    subprocess.run(["tar", "-czf", str(tarball), "-C", str(root), "."], check=True)
    pycr("import", "--cmd", "/bin/cat /etc/motd", str(tarball), "imported:v1")  # positionals after --cmd stay theirs
    for rootfs in ("overlay", "chroot"):
        r = subprocess.run([sys.executable, "-m", "pycr.core.cli.main", "--root", str(tmp_path / "run"),
                            "--rootfs", rootfs, "run", "imported:v1"], capture_output=True, text=True,
                           env={**os.environ, "PYCR_STORAGE": str(tmp_path / "store")})
        assert r.returncode == 0 and r.stdout == "hello from pycr test image\n", r.stderr


def test_tag_rmi_inspect_prune(pycr, layout, tmp_path):
    pycr("pull", "-q", f"oci:{layout}:v1")
    pycr("tag", "localhost/bb:v1", "mine/other:two")
    rows = images_json(pycr)
    assert set(rows) == {"localhost/bb:v1", "docker.io/mine/other:two"}
    assert rows["localhost/bb:v1"]["id"] == rows["docker.io/mine/other:two"]["id"]
    info = json.loads(pycr("image", "inspect", "mine/other:two").stdout)[0]
    assert info["RepoTags"] == ["docker.io/mine/other:two", "localhost/bb:v1"]
    assert info["Config"]["Cmd"] == ["/bin/sh", "-c", "echo hello from busybox"]
    blobs = tmp_path / "store" / "blobs" / "sha256"
    count = len(os.listdir(blobs))
    pycr("rmi", "localhost/bb:v1")
    assert "Deleted 0 blobs" in pycr("image", "prune").stdout  # still named mine/other:two
    assert len(os.listdir(blobs)) == count
    pycr("image", "rm", info["Id"][7:19])
    assert images_json(pycr) == {}
    assert f"Deleted {count} blobs" in pycr("image", "prune").stdout
    assert os.listdir(blobs) == []
    r = pycr("rmi", "nothing:here", check=None)
    assert r.returncode == 1 and r.stderr == "No such image: nothing:here\n"
