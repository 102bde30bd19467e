"""A local HTTP server on 127.0.0.1 serving rootfs tarballs, and a private pycr cache."""

from __future__ import annotations

import functools
import gzip
import http.server
import io
import os
import shutil
import tarfile
import threading

import pytest


@pytest.fixture(autouse=True)
def _private_plugin_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("PYCR_CACHE_DIR", str(tmp_path / "pycr-cache"))


def rootfs_tar(busybox: str | None = None) -> bytes:
    """A small rootfs tar: /etc/hostname, a script, and (when given) busybox as /bin/sh."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        def add(name, data, mode=0o644):
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), mode
            tf.addfile(info, io.BytesIO(data))

        for d in ("bin", "etc", "tmp", "proc", "dev", "sys"):
            info = tarfile.TarInfo(d)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tf.addfile(info)
        add("etc/hostname", b"tarball\n")
        add("etc/message", b"hello from a tarball\n")
        if busybox:
            with open(busybox, "rb") as f:
                add("bin/busybox", f.read(), 0o755)
            for applet in ("sh", "cat", "echo"):
                link = tarfile.TarInfo(f"bin/{applet}")
                link.type, link.linkname = tarfile.SYMTYPE, "busybox"
                tf.addfile(link)
    return buf.getvalue()


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def server(tmp_path):
    """``(base_url, directory)``: files written to ``directory`` are served at ``base_url``."""
    root = tmp_path / "www"
    root.mkdir()
    (root / "rootfs.tar.gz").write_bytes(gzip.compress(rootfs_tar(), mtime=0))
    (root / "plain.tar").write_bytes(rootfs_tar())
    busybox = shutil.which("busybox") or "/bin/busybox"
    if os.path.exists(busybox):
        (root / "busybox-rootfs.tar.gz").write_bytes(gzip.compress(rootfs_tar(busybox), mtime=0))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"//127.0.0.1:{httpd.server_address[1]}", root
    finally:
        httpd.shutdown()
        httpd.server_close()
