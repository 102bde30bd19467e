"""The content store and image references."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os

import pytest

from pycr.core.errors import ConfigError, PycrError
from pycr.plugins.images import reference
from pycr.plugins.images.store import DigestMismatch, Store


def dg(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("text, expect", [
    ("busybox", "docker.io/library/busybox:latest"),
    ("user/app:1.0", "docker.io/user/app:1.0"),
    ("127.0.0.1:5000/bb/x:v1", "127.0.0.1:5000/bb/x:v1"),
    ("localhost/a", "localhost/a:latest"),
    ("quay.io/a/b@sha256:" + "a" * 64, "quay.io/a/b@sha256:" + "a" * 64),
])
def test_reference_normalisation(text, expect):
    assert str(reference.parse(text)) == expect


@pytest.mark.parametrize("bad", ["UPPER", "a:b:c", "x@sha256:zz", "a//b", ""])
def test_bad_reference(bad):
    with pytest.raises(ConfigError, match="invalid image reference"):
        reference.parse(bad)


def test_put_blob_verifies_and_is_atomic(tmp_path):
    s = Store(str(tmp_path))
    d = s.put_blob(b"hello")
    assert d == dg(b"hello") and s.read_blob(d) == b"hello"
    with pytest.raises(DigestMismatch, match="hashes to"):
        s.put_blob(b"evil", dg(b"good"))
    assert not s.has_blob(dg(b"good"))
    assert not [n for n in os.listdir(tmp_path / "blobs" / "sha256") if "tmp" in n]


def test_ingest_resume_and_mismatch(tmp_path):
    s = Store(str(tmp_path))
    data = os.urandom(100_000)
    d = dg(data)
    w = s.ingest(d, len(data)).open()
    w.write(data[:40_000])
    w.close()  # an interrupted download
    assert not s.has_blob(d)
    w = s.ingest(d, len(data)).open()
    assert w.offset == 40_000
    w.write(data[40_000:])
    w.commit()
    assert s.read_blob(d) == data
    bad = s.ingest(dg(b"other"), 5).open()
    bad.write(b"12345")
    with pytest.raises(DigestMismatch):
        bad.commit()
    assert not s.has_blob(dg(b"other")) and os.listdir(tmp_path / "ingest") == []
    with pytest.raises(PycrError, match="malformed digest"):
        s.blob_path("sha256:../../etc/passwd")


def _locked_writer(root, digest, data, q):
    s = Store(root)
    with s.lock(digest):
        if s.has_blob(digest):
            q.put("skipped")
            return
        w = s.ingest(digest, len(data)).open(resume=False)
        for i in range(0, len(data), 1000):
            w.write(data[i:i + 1000])
        w.commit()
        q.put("wrote")


def test_concurrent_ingest_of_one_blob_is_serialised(tmp_path):
    data = os.urandom(200_000)
    d = dg(data)
    q = multiprocessing.Queue()
    procs = [multiprocessing.Process(target=_locked_writer, args=(str(tmp_path), d, data, q)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    results = sorted(q.get() for _ in procs)
    assert results == ["skipped"] * 3 + ["wrote"]
    assert Store(str(tmp_path)).read_blob(d) == data


def test_gc_keeps_what_tags_and_containers_use(tmp_path):
    s = Store(str(tmp_path))
    layer, cfg = s.put_blob(b"layer"), s.put_blob(b"{}")
    man = s.put_blob(json.dumps({"config": {"digest": cfg}, "layers": [{"digest": layer}]}).encode())
    layer2 = s.put_blob(b"layer2")
    man2 = s.put_blob(json.dumps({"config": {"digest": cfg}, "layers": [{"digest": layer2}]}).encode())
    orphan = s.put_blob(b"orphan")
    s.set_ref("docker.io/library/a:latest", man)
    os.makedirs(tmp_path / "containers" / "c1")
    (tmp_path / "containers" / "c1" / "image.json").write_text(json.dumps({"manifest": man2}))
    removed, freed = s.gc()
    assert removed == [orphan] and freed == len(b"orphan")
    assert all(s.has_blob(x) for x in (layer, cfg, man, layer2, man2))
    os.unlink(tmp_path / "containers" / "c1" / "image.json")
    removed, _ = s.gc()
    assert sorted(removed) == sorted([layer2, man2])
