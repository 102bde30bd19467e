"""Hostile tarballs at every entry point that reads one: nothing is written (or read) outside.

CVE-2025-4517: ``tarfile``'s ``data`` filter checks links with ``os.path.realpath``,
which stops following symlinks once a path exceeds PATH_MAX (4096) while the
kernel still follows them -- so a chain of symlinks to 247-character
directories, then an ``escape`` link climbing out and a file written through
it, lands anywhere on the host.  pycr never uses tarfile's extraction: image
archives are read in place, build contexts unpacked from directory fds
(docs/security.md).  Each tar below is fed to ``pycr load -i``, ``pycr pull
oci-archive:``, ``POST /images/load`` and ``POST /build``; a marker directory
outside stays empty, an existing victim file keeps its bytes, the error is one
line.  Real kernel, real files.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import tarfile

import pytest

from tests.conftest import PYCR
from tests.integration.test_api_http import call, error_of

pytestmark = pytest.mark.root

VICTIM_BYTES = b"the host's own file\n"
PAYLOAD = b"written by a hostile tar\n"
CLIMB = "../" * 40  # from any store directory, up to /


def _add(tf: tarfile.TarFile, name: str, *, data: bytes | None = None, kind=tarfile.REGTYPE, link: str = ""):
    ti = tarfile.TarInfo(name)
    ti.type, ti.linkname, ti.mode = kind, link, 0o755 if kind == tarfile.DIRTYPE else 0o644
    if data is not None:
        ti.size = len(data)
    tf.addfile(ti, io.BytesIO(data) if data is not None else None)


def _cve_2025_4517(tf, outside: str, victim: str) -> None:
    """Sixteen 247-character directories reached through one-letter links, a link climbing back
    through them (resolved, the path passes PATH_MAX), ``escape`` through it to ``outside``; then
    files written through ``escape``."""
    comp, steps, path = "d" * 247, "abcdefghijklmnop", ""
    for step in steps:
        _add(tf, os.path.join(path, comp), kind=tarfile.DIRTYPE)
        _add(tf, os.path.join(path, step), kind=tarfile.SYMTYPE, link=comp)
        path = os.path.join(path, comp)
    linkpath = os.path.join("/".join(steps), "l" * 254)
    _add(tf, linkpath, kind=tarfile.SYMTYPE, link="../" * len(steps))
    # realpath gives up past PATH_MAX and cancels these ".." lexically against linkpath's own 17
    # names (looks inside); the kernel resolves linkpath to the top and climbs 17 levels to /
    up = "/.." * (len(steps) + 1)
    _add(tf, "escape", kind=tarfile.SYMTYPE, link=linkpath + up + outside)
    _add(tf, "escape/pwned", data=PAYLOAD)
    _add(tf, "vescape", kind=tarfile.SYMTYPE, link=linkpath + up + os.path.dirname(victim))
    _add(tf, "vescape/" + os.path.basename(victim), data=PAYLOAD)


def _dotdot(tf, outside: str, victim: str) -> None:
    _add(tf, CLIMB + outside.lstrip("/") + "/pwned", data=PAYLOAD)
    _add(tf, CLIMB + victim.lstrip("/"), data=PAYLOAD)


def _absolute(tf, outside: str, victim: str) -> None:
    _add(tf, outside + "/pwned", data=PAYLOAD)
    _add(tf, victim, data=PAYLOAD)


def _symlink_then_file(tf, outside: str, victim: str) -> None:
    _add(tf, "out", kind=tarfile.SYMTYPE, link=outside)
    _add(tf, "out/pwned", data=PAYLOAD)
    _add(tf, "rel", kind=tarfile.SYMTYPE, link=CLIMB + outside.lstrip("/"))
    _add(tf, "rel/pwned2", data=PAYLOAD)
    _add(tf, "v", kind=tarfile.SYMTYPE, link=victim)
    _add(tf, "v", data=PAYLOAD)  # a file over the link: written through it by a naive extractor


def _hardlink_outside(tf, outside: str, victim: str) -> None:
    _add(tf, "h", kind=tarfile.LNKTYPE, link=victim)
    _add(tf, "h", data=PAYLOAD)
    _add(tf, "h2", kind=tarfile.LNKTYPE, link=CLIMB + victim.lstrip("/"))
    _add(tf, "h2", data=PAYLOAD)


VARIANTS = {"cve-2025-4517": _cve_2025_4517, "dotdot": _dotdot, "absolute": _absolute,
            "symlink-then-file": _symlink_then_file, "hardlink-outside": _hardlink_outside}


@pytest.fixture
def target(tmp_path_factory):
    """A marker directory outside every store, and an existing victim file."""
    base = tmp_path_factory.mktemp("host")
    outside = base / "outside"
    outside.mkdir()
    victim = base / "victim"
    victim.write_bytes(VICTIM_BYTES)
    yield str(outside), str(victim)
    assert os.listdir(outside) == [], "a hostile tar wrote outside"
    assert victim.read_bytes() == VICTIM_BYTES, "a hostile tar changed the victim"


def _hostile(path, variant: str, outside: str, victim: str, kind: str) -> str:
    """The variant's tar, made to look like an ``oci`` archive (``oci-layout``) or a build context."""
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tf:
        if kind == "context":
            _add(tf, "Dockerfile", data=b"FROM scratch\nCOPY . /\n")
        VARIANTS[variant](tf, outside, victim)
        if kind == "oci":
            _add(tf, "oci-layout", data=b'{"imageLayoutVersion": "1.0.0"}')
    return str(path)


def _cli(tmp_path, *args) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYCR_STORAGE": str(tmp_path / "store")}
    return subprocess.run([PYCR, "--root", str(tmp_path / "run"), *args], env=env, capture_output=True,
                          text=True, timeout=120)


def _one_line(text: str) -> None:
    assert text.count("\n") == 1 and "Traceback" not in text and "Error:" not in text, text


@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize("verb", ["load", "pull"])
def test_cli_load_and_pull_oci_archive(tmp_path, target, variant, verb):
    tar = _hostile(tmp_path / "evil.tar", variant, *target, "oci")
    args = ("load", "-i", tar) if verb == "load" else ("pull", f"oci-archive:{tar}")
    r = _cli(tmp_path, *args)
    assert r.returncode == 1, r.stdout + r.stderr
    _one_line(r.stderr)
    tmp = tmp_path / "store" / "tmp"
    assert not tmp.exists() or not os.listdir(tmp)  # nothing half-made either


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_cli_load_docker_archive(tmp_path, target, variant):
    """The same tars without ``oci-layout`` take the docker-archive path."""
    tar = _hostile(tmp_path / "evil.tar", variant, *target, "docker")
    r = _cli(tmp_path, "load", "-i", tar)
    assert r.returncode == 1, r.stdout + r.stderr
    _one_line(r.stderr)


def _layout_tar(path, entries: list[tuple[str, str, bytes | str]]) -> str:
    with tarfile.open(path, "w") as tf:
        for name, kind, value in entries:
            if kind == "file":
                _add(tf, name, data=value)
            else:
                _add(tf, name, kind=tarfile.SYMTYPE, link=value)
    return str(path)


def test_an_archive_never_reads_host_files_through_its_links(tmp_path, target):
    """index.json (or a blob) that is a link to a host file is refused by name, never followed:
    nothing of the host file reaches the store or the message."""
    _outside, victim = target
    layout = b'{"imageLayoutVersion": "1.0.0"}'
    tar = _layout_tar(tmp_path / "a.tar", [("oci-layout", "file", layout), ("index.json", "link", victim)])
    r = _cli(tmp_path, "load", "-i", tar)
    assert r.returncode == 1 and "index.json is not a regular file" in r.stderr, r.stderr
    _one_line(r.stderr)
    digest = "a" * 64
    index = json.dumps({"schemaVersion": 2, "manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:" + digest, "size": 20}]})
    tar = _layout_tar(tmp_path / "b.tar", [("oci-layout", "file", layout), ("index.json", "file", index.encode()),
                                          (f"blobs/sha256/{digest}", "link", victim)])
    r = _cli(tmp_path, "pull", f"oci-archive:{tar}")
    assert r.returncode == 1 and f"blobs/sha256/{digest} is not a regular file" in r.stderr, r.stderr
    assert VICTIM_BYTES.decode().strip() not in r.stderr


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_api_images_load(api, tmp_path, target, variant):
    for kind in ("oci", "docker"):
        with open(_hostile(tmp_path / f"{kind}.tar", variant, *target, kind), "rb") as f:
            status, msg = error_of(api, "POST", "/v1.41/images/load", f.read())
        assert status == 400, (kind, status, msg)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_api_build_context(api, tmp_path, target, variant):
    with open(_hostile(tmp_path / "ctx.tar", variant, *target, "context"), "rb") as f:
        status, msg = error_of(api, "POST", "/v1.41/build?dockerfile=Dockerfile", f.read())
    assert status == 400 and msg.startswith("the build context is not a usable tar archive"), (status, msg)
    tmp = os.path.join(api.manage.store, "tmp")
    assert not [n for n in os.listdir(tmp) if n.startswith("pycr-api-build-")]


def test_api_build_reads_the_dockerfile_inside_the_context(api, tmp_path, target):
    """A Dockerfile that is a link climbing out (relative, so it unpacks as data) names a file of the
    context, never the host's: the victim's bytes do not reach the build or the caller."""
    _outside, victim = target
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        _add(tf, "up", kind=tarfile.SYMTYPE, link=".")
        _add(tf, "Dockerfile", kind=tarfile.SYMTYPE, link="up/" + CLIMB + victim.lstrip("/"))
    status, msg = error_of(api, "POST", "/v1.41/build?dockerfile=Dockerfile", buf.getvalue())
    assert status == 400 and msg.startswith("dockerfile: cannot read Dockerfile"), (status, msg)
    assert VICTIM_BYTES.decode().strip() not in msg


def test_api_build_context_legit_links_and_compression(api, clean, tmp_path):
    """What a real context holds still builds: relative links inside it, ``.wh.``-named files (no
    whiteouts in a context), a gzip or bzip2 body."""
    import bz2
    import gzip

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        _add(tf, "Dockerfile", data=f"FROM {api.manage.image}\nCOPY . /ctx/\nCOPY .wh.kept /kept\n".encode())
        _add(tf, "sub/file", data=b"data\n")
        _add(tf, "sub/link", kind=tarfile.SYMTYPE, link="../sub/file")
        _add(tf, ".wh.kept", data=b"kept\n")
    for body in (gzip.compress(buf.getvalue()), bz2.compress(buf.getvalue())):
        status, _ctype, raw = call(api, "POST", "/v1.41/build?t=ctx-ok:1", body)
        lines = [json.loads(x) for x in raw.splitlines() if x.strip()]
        assert status == 200 and not [x for x in lines if "error" in x], lines
        out = api.docker("run", "--rm", "ctx-ok:1", "sh", "-c", "cat /ctx/sub/link /kept", check=0).stdout
        assert out == "data\nkept\n"
        api.docker("rmi", "ctx-ok:1", check=0)


def _docker_archive(path, layer_link: str) -> str:
    """Two images sharing one layer, as ``docker save`` writes them: the second image's
    ``layer.tar`` is a link ``layer_link`` (to the first one's, or elsewhere)."""
    import hashlib

    from pycr.core.testing.images import layer_tar

    layer = layer_tar([("file", "etc/motd", b"hello\n")])
    diff_id = "sha256:" + hashlib.sha256(layer).hexdigest()
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                         "rootfs": {"type": "layers", "diff_ids": [diff_id]}}).encode()
    manifest = [{"Config": "c.json", "RepoTags": ["one:1"], "Layers": ["a/layer.tar"]},
                {"Config": "c.json", "RepoTags": ["two:2"], "Layers": ["b/layer.tar"]}]
    with tarfile.open(path, "w") as tf:
        _add(tf, "a/layer.tar", data=layer)
        _add(tf, "b/layer.tar", kind=tarfile.SYMTYPE, link=layer_link)
        _add(tf, "c.json", data=config)
        _add(tf, "manifest.json", data=json.dumps(manifest).encode())
    return str(path)


def test_docker_archive_links_are_looked_up_among_its_own_members(tmp_path, target):
    """A shared layer linked to the first copy loads; a link leaving the archive's names (to the
    victim) is missing, never read from the host."""
    r = _cli(tmp_path, "load", "-i", _docker_archive(tmp_path / "ok.tar", "../a/layer.tar"))
    assert r.returncode == 0 and "Loaded image: docker.io/library/one:1" in r.stdout, r.stderr
    names = {row["name"] for row in json.loads(_cli(tmp_path, "images", "--format", "json").stdout)}
    assert {"docker.io/library/one:1", "docker.io/library/two:2"} <= names, names
    _outside, victim = target
    for link in (victim, CLIMB + victim.lstrip("/"), "../../" + os.path.basename(victim)):
        r = _cli(tmp_path, "load", "-i", _docker_archive(tmp_path / "bad.tar", link))
        assert r.returncode == 1 and "b/layer.tar is missing" in r.stderr, r.stderr
        _one_line(r.stderr)
