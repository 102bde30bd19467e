"""The test registry survives a port taken between free_port() and its own bind.

free_port() releases the port it found; another process may listen on it before the
server binds it.  Here that process is an HTTP server that answers everything, the worst
case: a readiness probe alone would take it for ours.
"""

from __future__ import annotations

import contextlib
import http.client
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.helpers import registry
from tests.helpers.registry import RegistryServer, missing_tools

pytestmark = pytest.mark.root


class _Impostor(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"impostor")

    def log_message(self, *args):
        pass


@contextlib.contextmanager
def _taken_port():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Impostor)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        yield srv.server_address[1]
    finally:
        srv.shutdown()
        srv.server_close()
        t.join()


def _first_taken(monkeypatch, module, port: int) -> list[int]:
    """free_port() of ``module`` gives ``port`` first, then real free ports; returns what it gave."""
    real, given = registry.free_port, []

    def fake():
        given.append(port if not given else real())
        return given[-1]

    monkeypatch.setattr(module, "free_port", fake)
    return given


def test_registry_moves_to_a_new_port_when_its_own_was_taken(tmp_path, monkeypatch):
    if missing_tools():
        pytest.fail(f"missing {missing_tools()}")
    with _taken_port() as taken:
        given = _first_taken(monkeypatch, registry, taken)
        with RegistryServer(tmp_path / "reg") as reg:
            assert given[0] == taken and len(given) == 2 and reg.port == given[1]
            conn = http.client.HTTPConnection(reg.host, timeout=10)
            conn.request("GET", "/v2/")
            resp = conn.getresponse()
            resp.read()
            conn.close()
            assert resp.getheader("Docker-Distribution-Api-Version") == "registry/2.0"
        assert reg.proc is None
    # a port the caller asked for is not replaced: its loss is the caller's error
    with _taken_port() as taken, pytest.raises(RuntimeError, match="address already in use"):
        RegistryServer(tmp_path / "fixed", port=taken).start()
