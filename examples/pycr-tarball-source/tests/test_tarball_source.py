from __future__ import annotations

import hashlib
import os
import subprocess
import sys

import pytest

from pycr.core import PycrError
from pycr.plugins.images.conformance import ImageSourceConformance

from pycr_tarball_source import TarballHttpSource, TarballHttpsSource

BIN = os.path.dirname(sys.executable)


class TestConformance(ImageSourceConformance):
    @pytest.fixture
    def source(self):
        return TarballHttpSource()

    @pytest.fixture
    def image_spec(self, server):
        return f"{server[0]}/rootfs.tar.gz"

    @pytest.fixture
    def missing_spec(self, server):
        return f"{server[0]}/no-such-rootfs.tar.gz"


@pytest.fixture
def store(tmp_path):
    from pycr.plugins import images

    return images.store.Store(str(tmp_path / "store"))


def test_entry_points_name_both_schemes():
    from pycr.core.testing import PluginManager

    pm = PluginManager()
    assert pm.driver("image_source", "tarball+http") is TarballHttpSource
    assert pm.driver("image_source", "tarball+https") is TarballHttpsSource


def test_layer_media_type_follows_the_compression(server, store):
    src = TarballHttpSource()
    gz = store.image(src.pull(store, f"{server[0]}/rootfs.tar.gz"))
    plain = store.image(src.pull(store, f"{server[0]}/plain.tar"))
    assert gz.layers[0]["mediaType"].endswith("tar+gzip") and plain.layers[0]["mediaType"].endswith(".tar")
    assert gz.config["rootfs"]["diff_ids"] == plain.config["rootfs"]["diff_ids"]  # same tar inside
    assert src.last_name == "localhost/plain:latest"
    assert store.resolve("localhost/rootfs:latest")["digest"] == gz.digest


def test_sha256_fragment_verifies_the_download(server, store):
    base, root = server
    good = hashlib.sha256((root / "rootfs.tar.gz").read_bytes()).hexdigest()
    src = TarballHttpSource()
    assert src.pull(store, f"{base}/rootfs.tar.gz#sha256={good}&name=mirror/rootfs:v1")
    assert src.last_name == "mirror/rootfs:v1"
    bad = "0" * 64
    with pytest.raises(PycrError, match="failed verification") as e:
        TarballHttpSource().pull(store, f"{base}/plain.tar#sha256={bad}")
    assert "tarball+http:" in str(e.value)
    assert "localhost/plain:latest" not in store.refs()


def test_bad_specs_are_one_line_errors(store):
    with pytest.raises(PycrError, match="unknown option 'md5'"):
        TarballHttpSource().pull(store, "//127.0.0.1:1/x.tar#md5=abc")
    with pytest.raises(PycrError, match=r"tarball\+http://127.0.0.1:1/x.tar: cannot fetch"):
        TarballHttpSource().pull(store, "//127.0.0.1:1/x.tar")


def _pycr(*args, env):
    return subprocess.run([os.path.join(BIN, "pycr"), *args], env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture
def cli_env(tmp_path):
    return {**os.environ, "PYCR_STORAGE": str(tmp_path / "storage"), "PYCR_ROOT": str(tmp_path / "run"),
            "PYCR_CACHE_DIR": str(tmp_path / "pycr-cache")}


def test_pycr_pull_routes_the_transport_to_this_plugin(server, cli_env):
    done = _pycr("pull", "-q", f"tarball+http:{server[0]}/rootfs.tar.gz", env=cli_env)
    assert done.returncode == 0, done.stderr
    listing = _pycr("images", "--format", "json", env=cli_env)
    assert "localhost/rootfs" in listing.stdout, listing.stdout + listing.stderr


@pytest.mark.root
@pytest.mark.skipif(os.geteuid() != 0, reason="needs root")
def test_pycr_run_a_container_from_a_pulled_tarball(server, cli_env):
    if not (server[1] / "busybox-rootfs.tar.gz").exists():
        pytest.skip("busybox not installed")
    pulled = _pycr("pull", "-q", f"tarball+http:{server[0]}/busybox-rootfs.tar.gz", env=cli_env)
    assert pulled.returncode == 0, pulled.stderr
    done = _pycr("run", "localhost/busybox-rootfs:latest", "cat", "/etc/message", env=cli_env)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "hello from a tarball\n"


@pytest.fixture
def https_server(tmp_path, server, monkeypatch):
    """The same files over TLS, with a self-signed certificate for 127.0.0.1 trusted via SSL_CERT_FILE."""
    import functools
    import http.server
    import shutil
    import ssl
    import threading

    if not shutil.which("openssl"):
        pytest.skip("openssl not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(server[1]))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    try:
        yield f"//127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_https_with_a_trusted_certificate(https_server, store, monkeypatch):
    digest = TarballHttpsSource().pull(store, f"{https_server}/rootfs.tar.gz")
    assert store.image(digest).manifest["annotations"]["org.opencontainers.image.source"].startswith("https://")
    monkeypatch.delenv("SSL_CERT_FILE")  # an untrusted certificate is refused, in one line
    with pytest.raises(PycrError, match=r"^tarball\+https://127.0.0.1:\d+/plain.tar: cannot fetch: .*CERTIFICATE_VERIFY_FAILED"):
        TarballHttpsSource().pull(store, f"{https_server}/plain.tar")
