"""Pull from a real docker-registry on 127.0.0.1, images pushed by skopeo."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import subprocess
from pathlib import Path

import pytest

from pycr.core.errors import PycrError
from pycr.plugins.images.store import Store
from pycr.plugins.registry_oci import RegistrySource
from tests.helpers.registry import (RegistryServer, add_layer_from_dir, build_busybox_layout, skopeo_copy,
                                    umoci)


def verify_store(store: Store) -> None:
    """Every blob in blobs/ hashes to its name: nothing half-stored."""
    for digest in store.blobs():
        with open(store.blob_path(digest), "rb") as f:
            assert "sha256:" + hashlib.file_digest(f, "sha256").hexdigest() == digest


@pytest.mark.parametrize("which", ["busybox_ref", "busybox_v2s2_ref"])
def test_pull_matches_what_skopeo_sees(request, which, tmp_path):
    ref = request.getfixturevalue(which)
    store = Store(str(tmp_path / "store"))
    digest = RegistrySource().pull(store, ref)
    raw = subprocess.run(["skopeo", "inspect", "--tls-verify=false", "--raw", f"docker://{ref}"],
                         capture_output=True, check=True).stdout
    assert digest == "sha256:" + hashlib.sha256(raw).hexdigest()
    assert store.resolve(ref)["digest"] == digest
    img = store.image(digest)
    manifest = json.loads(raw)
    assert [x["digest"] for x in img.layers] == [x["digest"] for x in manifest["layers"]]
    assert img.config["config"]["Cmd"] == ["/bin/sh", "-c", "echo hello from busybox"]
    verify_store(store)
    layer = store.unpacked_layer(img.layers[0]["digest"])
    assert (Path(layer) / "bin" / "busybox").read_bytes() == Path("/bin/busybox").read_bytes()
    assert os.readlink(Path(layer) / "bin" / "sh") == "busybox"


def test_second_pull_downloads_nothing(busybox_ref, tmp_path):
    store = Store(str(tmp_path / "store"))
    RegistrySource().pull(store, busybox_ref)
    src = RegistrySource()
    src.pull(store, busybox_ref)
    assert src.last_client.stats["bytes"] == 0


def test_unknown_tag_and_unreachable_registry_are_clear(registry, tmp_path):
    store = Store(str(tmp_path / "store"))
    with pytest.raises(PycrError, match=r"manifest 127\.0\.0\.1:\d+/nope:latest: manifest unknown"):
        RegistrySource().pull(store, f"{registry.host}/nope:latest")
    with pytest.raises(PycrError, match=r"registry 127\.0\.0\.1:1 unreachable"):
        RegistrySource().pull(store, "127.0.0.1:1/x:latest")
    assert store.refs() == {}


def _multiarch(registry, tmp_path) -> str:
    layout = tmp_path / "multi"
    build_busybox_layout(layout, "amd", cmd=("echo", "amd64"))
    build_busybox_layout(layout, "arm", cmd=("echo", "arm64"))
    umoci("config", "--image", f"{layout}:arm", "--architecture", "arm64")
    index = json.loads((layout / "index.json").read_text())
    mans = {m["annotations"]["org.opencontainers.image.ref.name"]: m for m in index["manifests"]}
    sub = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [
        {**{k: v for k, v in mans[t].items() if k != "annotations"}, "platform": {"os": "linux", "architecture": a}}
        for t, a in (("arm", "arm64"), ("amd", "amd64"))]}
    data = json.dumps(sub).encode()
    dg = hashlib.sha256(data).hexdigest()
    (layout / "blobs" / "sha256" / dg).write_bytes(data)
    index["manifests"].append({"mediaType": sub["mediaType"], "digest": f"sha256:{dg}", "size": len(data),
                               "annotations": {"org.opencontainers.image.ref.name": "multi"}})
    (layout / "index.json").write_text(json.dumps(index))
    ref = f"{registry.host}/multi:latest"
    skopeo_copy(f"oci:{layout}:multi", f"docker://{ref}", extra=("--all",))
    return ref


def test_index_platform_choice(registry, tmp_path):
    ref = _multiarch(registry, tmp_path)
    store = Store(str(tmp_path / "store"))
    amd = store.image(RegistrySource().pull(store, ref))
    assert amd.config["architecture"] == "amd64" and amd.config["config"]["Cmd"] == ["echo", "amd64"]
    assert store.resolve(ref)["index"]
    arm = store.image(RegistrySource(platform="linux/arm64").pull(store, ref))
    assert arm.config["architecture"] == "arm64"
    with pytest.raises(PycrError, match=r"no image for platform linux/s390x \(available: linux/amd64, linux/arm64\)"):
        RegistrySource(platform="linux/s390x").pull(store, ref)


def _registry_blob(reg: RegistryServer, digest: str) -> Path:
    hexpart = digest.split(":")[1]
    return reg.workdir / "data" / "docker" / "registry" / "v2" / "blobs" / "sha256" / hexpart[:2] / hexpart / "data"


def test_digest_mismatch_is_refused_and_nothing_stored(tmp_path):
    with RegistryServer(tmp_path / "reg") as reg:
        layout = build_busybox_layout(tmp_path / "l")
        ref = f"{reg.host}/tampered:latest"
        skopeo_copy(f"oci:{layout}:latest", f"docker://{ref}")
        manifest = json.loads(subprocess.run(["skopeo", "inspect", "--tls-verify=false", "--raw",
                                              f"docker://{ref}"], capture_output=True, check=True).stdout)
        layer = manifest["layers"][0]["digest"]
        blob = _registry_blob(reg, layer)
        data = bytearray(blob.read_bytes())
        data[len(data) // 2] ^= 0xFF
        blob.write_bytes(bytes(data))
        store = Store(str(tmp_path / "store"))
        with pytest.raises(PycrError, match=f"blob {layer} failed verification: its content hashes to sha256:"):
            RegistrySource().pull(store, ref)
        assert store.refs() == {}
        assert not store.has_blob(layer)
        assert os.listdir(store.root + "/ingest") == []
        verify_store(store)


class KillAfter:
    """A progress sink that stops the registry once ``limit`` bytes of a blob arrived."""

    def __init__(self, reg, limit):
        self.reg, self.limit, self.seen, self.big = reg, limit, 0, set()

    def start(self, key, label, total):
        if total and total > 10 * self.limit:
            self.big.add(key)

    def done(self, key, status="done"):
        pass

    def advance(self, key, n):
        if key in self.big:
            self.seen += n
            if self.seen >= self.limit and self.reg.proc is not None:
                self.reg.stop()


def test_registry_stopped_mid_pull_then_resume(tmp_path):
    reg = RegistryServer(tmp_path / "reg").start()
    try:
        layout = build_busybox_layout(tmp_path / "l")
        big = tmp_path / "big"
        big.mkdir()
        (big / "random.bin").write_bytes(os.urandom(48 << 20))
        add_layer_from_dir(layout, "latest", big, "/data")
        ref = f"{reg.host}/big:latest"
        skopeo_copy(f"oci:{layout}:latest", f"docker://{ref}")
        store = Store(str(tmp_path / "store"))
        with pytest.raises(PycrError, match=r"pull .*big:latest: .*(unreachable|connection lost)"):
            RegistrySource(progress=KillAfter(reg, 1 << 20)).pull(store, ref)
        assert store.refs() == {}
        verify_store(store)
        partial = [os.path.join(store.root, "ingest", n) for n in os.listdir(store.root + "/ingest")]
        done = max(os.path.getsize(p) for p in partial)
        assert done >= 1 << 20, "the partial download is kept for resuming"
        reg.start()  # same port, same storage
        src = RegistrySource()
        digest = src.pull(store, ref)
        assert src.last_client.stats["resumed"] >= 1
        assert src.last_client.stats["bytes"] < store.image(digest).size - done + 4096
        verify_store(store)
        assert os.listdir(store.root + "/ingest") == []
    finally:
        reg.close()


def _pull_in_process(root, ref, q):
    try:
        q.put(RegistrySource().pull(Store(root), ref))
    except Exception as e:  # report to the parent
        q.put(repr(e))


def test_concurrent_pulls_of_one_image(busybox_ref, tmp_path):
    root = str(tmp_path / "store")
    q = multiprocessing.Queue()
    procs = [multiprocessing.Process(target=_pull_in_process, args=(root, busybox_ref, q)) for _ in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    results = {q.get(timeout=5) for _ in procs}
    assert len(results) == 1 and next(iter(results)).startswith("sha256:")
    verify_store(Store(root))
