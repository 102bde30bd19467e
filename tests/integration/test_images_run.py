"""``pycr run IMAGE``: overlay and chroot run the same images with the same results, and clean up."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from tests.helpers.fixtures import assert_nothing_left

from tests.helpers.registry import (RegistryServer, add_layer_from_dir, add_raw_layer, add_whiteout,
                                    build_busybox_layout, skopeo_copy)

pytestmark = pytest.mark.root
STRATEGIES = ["overlay", "chroot"]


@pytest.fixture
def pycr(tmp_path):
    """Run the ``pycr`` CLI with a private store and state root; checks nothing is left behind."""
    store, state = tmp_path / "store", tmp_path / "run"
    env = {**os.environ, "PYCR_STORAGE": str(store)}

    def call(*args, rootfs="overlay", check=None):
        r = subprocess.run([sys.executable, "-m", "pycr.core.cli.main", "--root", str(state), "--rootfs", rootfs,
                            *args], capture_output=True, text=True, env=env, timeout=120)
        if check is not None:
            assert r.returncode == check, r.stderr
        return r

    call.store = store
    yield call
    assert_nothing_left(tmp_path, store, state)


@pytest.mark.parametrize("rootfs", STRATEGIES)
def test_run_default_command_and_exit_status(pycr, busybox_ref, rootfs):
    r = pycr("run", "-q", busybox_ref, rootfs=rootfs, check=0)
    assert r.stdout == "hello from busybox\n"
    r = pycr("run", "--rm", busybox_ref, "sh", "-c", "exit 7", rootfs=rootfs)
    assert r.returncode == 7
    r = pycr("run", busybox_ref, "/no/such/binary", rootfs=rootfs)
    assert r.returncode != 0 and "/no/such/binary" in r.stderr


SCRIPT = "id; pwd; echo $FOO $BAR; hostname; cat /etc/motd; test -w /etc && echo rw-root || echo ro-root; " \
         "cat /vol/f; touch /vol/g 2>/dev/null && echo rw-vol || echo ro-vol"


@pytest.mark.parametrize("rootfs", STRATEGIES)
def test_run_options(pycr, busybox_ref, rootfs, tmp_path):
    vol = tmp_path / "vol"
    vol.mkdir()
    (vol / "f").write_text("from host\n")
    envfile = tmp_path / "env"
    envfile.write_text("# comment\nBAR=from-file\n")
    r = pycr("run", "-u", "app", "-w", "/home/app", "-e", "FOO=foo", "--env-file", str(envfile),
             "--hostname", "box", "--read-only", "-v", f"{vol}:/vol:ro", "--memory", "64m", "--pids-limit", "50",
             busybox_ref, "sh", "-c", SCRIPT, rootfs=rootfs, check=0)
    assert r.stdout.splitlines() == [
        "uid=1000(app) gid=1000(app) groups=1000(app),2000(extra)", "/home/app", "foo from-file", "box",
        "hello from pycr test image", "ro-root", "from host", "ro-vol"]
    r = pycr("run", "--entrypoint", "/bin/echo", busybox_ref, "a", "b", rootfs=rootfs, check=0)
    assert r.stdout == "a b\n"
    r = pycr("run", "-u", "nosuchuser", busybox_ref, rootfs=rootfs)
    assert r.returncode != 0 and "no user 'nosuchuser' in the image's /etc/passwd" in r.stderr


@pytest.fixture(scope="module")
def layered_ref(registry):
    """busybox + /data/{a,b}, then /etc/motd whited out, then /data made opaque with only c."""
    work = registry.scratch / "layered"
    layout = build_busybox_layout(work / "oci", "latest", cmd=("sh", "-c", "ls /data; ls /etc"))
    d1 = work / "d1"
    d1.mkdir()
    (d1 / "a").write_text("a")
    (d1 / "b").write_text("b")
    add_layer_from_dir(layout, "latest", d1, "/data")
    add_whiteout(layout, "latest", "/etc/motd")
    d2 = work / "d2"
    d2.mkdir()
    (d2 / "c").write_text("c")
    add_layer_from_dir(layout, "latest", d2, "/data", opaque=True)
    ref = f"{registry.host}/layered:latest"
    skopeo_copy(f"oci:{layout}:latest", f"docker://{ref}", fmt="v2s2")
    return ref


def test_whiteouts_and_opaque_dirs_same_in_both_strategies(pycr, layered_ref):
    out = {rf: pycr("run", "-q", layered_ref, rootfs=rf, check=0).stdout for rf in STRATEGIES}
    assert out["overlay"] == out["chroot"]
    # hosts and resolv.conf: the network layer's bind mounts (their mount points are made in the rootfs)
    assert out["overlay"].split() == ["c", "group", "hosts", "passwd", "resolv.conf"]


def hostile_tar(path: Path, kind: str, outside: Path) -> None:
    with tarfile.open(path, "w") as tf:
        def add(name, type_=tarfile.REGTYPE, linkname="", data=b"pwned"):
            ti = tarfile.TarInfo(name)
            ti.type, ti.linkname = type_, linkname
            ti.size = len(data) if type_ == tarfile.REGTYPE else 0
            tf.addfile(ti, io.BytesIO(data) if type_ == tarfile.REGTYPE else None)
        if kind == "dotdot":
            add("../../../../../../../../" + str(outside / "escaped").lstrip("/"))
        elif kind == "absolute":
            add(str(outside / "escaped"))
        elif kind == "symlink":
            add("evil", tarfile.SYMTYPE, str(outside))
            add("evil/escaped")
        elif kind == "hardlink":
            add("evil", tarfile.SYMTYPE, str(outside))
            add("hl", tarfile.LNKTYPE, "evil/secret")


@pytest.mark.parametrize("kind, words", [("dotdot", "contains '..'"), ("absolute", "is absolute"),
                                          ("symlink", "through the symlink 'evil'"),
                                          ("hardlink", "hardlink target path is not a plain directory")])
@pytest.mark.parametrize("rootfs", STRATEGIES)
def test_hostile_image_is_refused(pycr, registry, tmp_path, kind, words, rootfs):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_text("keep")
    layout = build_busybox_layout(tmp_path / "oci")
    hostile_tar(tmp_path / "layer.tar", kind, outside)
    add_raw_layer(layout, "latest", tmp_path / "layer.tar")
    ref = f"{registry.host}/hostile-{kind}-{rootfs}:latest"
    skopeo_copy(f"oci:{layout}:latest", f"docker://{ref}")
    r = pycr("run", "-q", ref, "echo", "should not run", rootfs=rootfs)
    assert r.returncode != 0 and "should not run" not in r.stdout
    assert words in r.stderr and r.stderr.count("\n") == 1, r.stderr
    assert sorted(os.listdir(outside)) == ["secret"] and (outside / "secret").read_text() == "keep"
    tmp_left = os.listdir(pycr.store / "tmp")
    assert tmp_left == [], "a half-unpacked layer was left behind"


@pytest.mark.parametrize("rootfs", STRATEGIES)
def test_zstd_layers(pycr, registry, rootfs, tmp_path):
    """skopeo recompresses the layers with zstd (OCI media type ...tar+zstd); pycr pulls and runs them."""
    layout = registry.scratch / "zstd-src"
    if not (layout / "index.json").exists():
        build_busybox_layout(layout)
    # A registry of its own: skopeo's blob-info cache would otherwise reuse the gzip
    # layer an earlier test pushed to the shared one, and skip the recompression.
    with RegistryServer(tmp_path / "zstd-registry") as own:
        ref = f"{own.host}/zstd:latest"
        skopeo_copy(f"oci:{layout}:latest", f"docker://{ref}",
                    extra=("--dest-compress-format", "zstd", "--dest-compress"))
        raw = subprocess.run(["skopeo", "inspect", "--tls-verify=false", "--raw", f"docker://{ref}"],
                             capture_output=True, text=True, check=True).stdout
        assert "tar+zstd" in raw
        assert pycr("run", "-q", ref, rootfs=rootfs, check=0).stdout == "hello from busybox\n"


@pytest.mark.parametrize("rootfs", STRATEGIES)
def test_containers_do_not_share_writes_and_layers_unpack_once(pycr, busybox_ref, rootfs):
    pycr("run", "-q", busybox_ref, "sh", "-c", "echo changed > /etc/motd; rm /bin/ls", rootfs=rootfs, check=0)
    layers = pycr.store / "layers" / "sha256"
    before = {p.name: p.stat().st_ino for p in layers.iterdir()} if layers.exists() else {}
    r = pycr("run", "-q", busybox_ref, "sh", "-c", "cat /etc/motd; ls /bin/ls", rootfs=rootfs, check=0)
    assert r.stdout == "hello from pycr test image\n/bin/ls\n"
    after = {p.name: p.stat().st_ino for p in layers.iterdir()} if layers.exists() else {}
    assert before == after and (len(after) == 1 if rootfs == "overlay" else not after)


@pytest.mark.parametrize("rootfs", STRATEGIES)
def test_sigterm_to_pycr_run_is_forwarded_and_everything_is_undone(pycr, busybox_ref, rootfs, tmp_path):
    import signal
    import time

    pycr("pull", "-q", busybox_ref, check=0)
    env = {**os.environ, "PYCR_STORAGE": str(pycr.store)}
    proc = subprocess.Popen([sys.executable, "-m", "pycr.core.cli.main", "--root", str(tmp_path / "run"),
                             "--rootfs", rootfs, "run", busybox_ref, "sh", "-c",
                             "trap 'echo got TERM; exit 3' TERM; echo ready; sleep 30 & wait"],
                            env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline() == "ready\n"
        time.sleep(0.2)
        assert os.listdir(pycr.store / "containers")  # it exists while running
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 3 and out == "got TERM\n"
    # the pycr fixture checks: no mount left, containers/ and the state root empty


def _deep_image(store_dir, tmp_path, n_layers: int) -> str:
    """busybox + ``n_layers`` one-file layers, the last one whiting out deep/0; stored directly."""
    import gzip
    import hashlib
    import json

    from pycr.plugins.images.store import Store
    from tests.helpers.registry import busybox_rootfs

    store = Store(str(store_dir))
    base = tmp_path / "base.tar"
    subprocess.run(["tar", "-cf", str(base), "-C", str(busybox_rootfs(tmp_path / "deep-rootfs")), "."], check=True)
    raws = [base.read_bytes()]
    for i in range(n_layers):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tf:
            name = "deep/.wh.0" if i == n_layers - 1 else f"deep/{i}"
            ti = tarfile.TarInfo(name)
            ti.size = len(str(i))
            tf.addfile(ti, io.BytesIO(str(i).encode()))
        raws.append(buf.getvalue())
    layers, diff_ids = [], []
    for raw in raws:
        blob = gzip.compress(raw, mtime=0)
        layers.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": store.put_blob(blob),
                       "size": len(blob)})
        diff_ids.append("sha256:" + hashlib.sha256(raw).hexdigest())
    config = {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": diff_ids},
              "config": {"Cmd": ["sh", "-c", "ls /deep | sort -n | tr '\\n' ' '"]}}
    cdesc = json.dumps(config).encode()
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": store.put_blob(cdesc),
                           "size": len(cdesc)}, "layers": layers}
    store.set_ref("localhost/deep:latest", store.put_blob(json.dumps(manifest).encode()))
    return "localhost/deep:latest"


def test_deep_image_same_in_both_strategies(pycr, tmp_path):
    """120 layers: far more than fit in one overlay mount with absolute layer paths."""
    ref = _deep_image(pycr.store, tmp_path, 120)
    out = {rf: pycr("run", ref, rootfs=rf, check=0).stdout for rf in STRATEGIES}
    assert out["overlay"] == out["chroot"] == " ".join(str(i) for i in range(1, 119)) + " "


@pytest.mark.parametrize("rootfs", STRATEGIES)
def test_rootfs_strategy_prepare_and_teardown_are_traced_phases(pycr, busybox_ref, rootfs, tmp_path):
    trace = tmp_path / "trace.json"
    pycr("--trace-file", str(trace), "run", "--rm", "-q", busybox_ref, "true", rootfs=rootfs, check=0)
    phases = json.loads(trace.read_text())["phases"]
    assert phases["rootfs-prepare"] > 0 and phases["rootfs-teardown"] > 0
    trace.unlink()  # the detached path prepares the rootfs in `create`: traced there too
    pycr("--trace-file", str(trace), "create", "--name", "traced", busybox_ref, "true", rootfs=rootfs, check=0)
    assert json.loads(trace.read_text())["phases"]["rootfs-prepare"] > 0
    pycr("--trace-file", str(trace), "rm", "traced", rootfs=rootfs, check=0)  # and its teardown in `rm`
    assert json.loads(trace.read_text())["phases"]["rootfs-teardown"] > 0
