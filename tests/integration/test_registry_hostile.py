"""``pycr pull`` against a registry that misbehaves on purpose (a local
HTTP server): it trickles one byte every 2 s, announces a body of 2^40
bytes, streams a 300 MB manifest, or names an absurd config.  Each pull
must end, with one line naming the registry and the limit, holding little
memory and leaving no temp file in the store."""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import re
import sys
import threading
import time

import pytest

from tests.conftest import PYCR
from tests.helpers.engines import run

PYTHON_LEAK = re.compile(r"Traceback|\b[A-Z][a-zA-Z]+(Error|Exception)\b|\bErrno\b")


def _manifest(config_size=2, config=b"{}"):
    return json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "size": config_size,
                   "digest": "sha256:" + hashlib.sha256(config).hexdigest()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "size": 2,
                    "digest": "sha256:" + hashlib.sha256(b"{}").hexdigest()}]}).encode()


class Evil(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    mode = "slow-headers"
    stop = threading.Event()

    def log_message(self, *args):
        pass

    def _trickle(self, data: bytes):
        for i in range(len(data)):
            if self.stop.is_set():
                return
            self.wfile.write(data[i:i + 1])
            self.wfile.flush()
            time.sleep(2)

    def do_GET(self):  # noqa: N802 (http.server's naming)
        try:
            self._get()
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _get(self):
        if self.path == "/v2/":
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")
            return
        mode = self.mode
        if "/manifests/" in self.path:
            if mode == "slow-headers":
                self._trickle(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n" * 50)
                return
            if mode == "slow-body":
                body = _manifest()
                self.send_response(200)
                self.send_header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self._trickle(body)
                return
            if mode == "huge-length":
                self.send_response(200)
                self.send_header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
                self.send_header("Content-Length", str(2 ** 40))
                self.end_headers()
                self.wfile.write(b"{" * 1000)
                self.stop.wait(30)
                return
            if mode == "huge-chunked":
                self.send_response(200)
                self.send_header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                chunk = b" " * (1 << 20)
                for _ in range(300):  # 300 MB of whitespace, never a complete document
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.write(b"0\r\n\r\n")
                return
            body = _manifest(config_size=2 ** 40) if mode == "huge-config" else _manifest()
            self.send_response(200)
            self.send_header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        if "/blobs/" in self.path and mode == "slow-blob":
            self.send_response(200)
            self.send_header("Content-Length", "10")
            self.end_headers()
            self._trickle(b"{}        ")
            return
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_HEAD = do_GET


@pytest.fixture
def evil(tmp_path):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Evil)
    server.daemon_threads = True
    Evil.stop.clear()
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    yield server
    Evil.stop.set()
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("mode, needle", [
    ("slow-headers", "did not arrive within 2 s (PYCR_REGISTRY_IDLE_TIMEOUT)"),
    ("slow-body", "did not arrive within 2 s (PYCR_REGISTRY_IDLE_TIMEOUT)"),
    ("slow-blob", "did not arrive within 2 s (PYCR_REGISTRY_IDLE_TIMEOUT)"),
    ("huge-length", f"announces {2 ** 40} bytes, more than the {4 << 20}-byte limit"),
    ("huge-chunked", f"sent more than the {4 << 20}-byte limit"),
    ("huge-config", f"is {2 ** 40} bytes, more than the {8 << 20}-byte limit for an image config"),
])
def test_hostile_registry_ends_in_one_line(evil, tmp_path, mode, needle):
    Evil.mode = mode
    host = f"127.0.0.1:{evil.server_address[1]}"
    store = tmp_path / "store"
    env = {**os.environ, "PYCR_STORAGE": str(store), "PYCR_REGISTRY_IDLE_TIMEOUT": "2",
           "PYCR_REGISTRY_CONNECT_TIMEOUT": "5"}
    script = ("import resource, subprocess, sys; r = subprocess.run(sys.argv[1:]); "
              "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(r.returncode)")
    r = run([sys.executable, "-c", script, PYCR, "pull", f"{host}/evil:latest"], check=False, env=env, timeout=300)
    assert r.returncode != 0, r.stdout
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and needle in lines[0] and host in lines[0], r.stderr
    assert not PYTHON_LEAK.search(r.stderr), r.stderr
    child_kb = int(r.stdout.split()[-1])
    assert child_kb < 150 * 1024, child_kb  # nothing near 300 MB (or 2^40 bytes) was held
    left = [os.path.join(dp, n) for dp, _, fs in os.walk(store) for n in fs] if store.exists() else []
    assert not [p for p in left if ".tmp" in p], left  # (an ingest/*.partial is kept to resume)


def test_bad_deadline_setting(tmp_path):
    env = {**os.environ, "PYCR_STORAGE": str(tmp_path / "store"), "PYCR_REGISTRY_IDLE_TIMEOUT": "soon"}
    r = run([PYCR, "pull", "127.0.0.1:9/x:latest"], check=False, env=env)
    assert r.returncode != 0 and r.stderr.strip() == "PYCR_REGISTRY_IDLE_TIMEOUT='soon': not a number of seconds"

