"""A hostile registry for the credential-downgrade test: one port that speaks
TLS and plain HTTP (it peeks at the first byte), logging every request's
scheme, host and ``Authorization`` header as a JSON line.

``python redirect_server.py LOG CERT KEY ADDR:PORT MODE [TARGET]``

MODE ``basic``/``bearer``: ``/v2/...`` asks for credentials (a 401 with a
Basic or Bearer challenge whose realm is ``/token`` here); once they come, it
redirects to ``TARGET`` + the same path (e.g. ``http://`` the same host and
port, or another host).  MODE ``sink``: answer 200 ``{}`` to everything.
"""

from __future__ import annotations

import json
import socket
import socketserver
import ssl
import sys
from http.server import BaseHTTPRequestHandler

LOG, CERT, KEY, ADDR, MODE = sys.argv[1:6]
TARGET = sys.argv[6] if len(sys.argv) > 6 else ""
HOST, PORT = ADDR.rsplit(":", 1)
CTX = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
CTX.load_cert_chain(CERT, KEY)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _answer(self, status, body=b"{}", headers=()):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        tls = isinstance(self.connection, ssl.SSLSocket)
        auth = self.headers.get("Authorization")
        with open(LOG, "a") as f:
            f.write(json.dumps({"addr": ADDR, "tls": tls, "path": self.path, "auth": auth}) + "\n")
        if MODE == "sink":
            return self._answer(200)
        if self.path.startswith("/token"):
            return self._answer(200, json.dumps({"token": "secret-token"}).encode())
        if not auth:
            challenge = ('Basic realm="r"' if MODE == "basic" else
                         f'Bearer realm="https://{ADDR}/token",service="s"')
            return self._answer(401, b'{"errors":[{"code":"UNAUTHORIZED"}]}', [("WWW-Authenticate", challenge)])
        self._answer(307, b"", [("Location", TARGET + self.path)])


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def get_request(self):
        sock, addr = super().get_request()
        sock.settimeout(10)
        if sock.recv(1, socket.MSG_PEEK) == b"\x16":  # a TLS ClientHello
            sock = CTX.wrap_socket(sock, server_side=True)
        return sock, addr


with Server((HOST, int(PORT)), Handler) as srv:
    print("ready", flush=True)
    srv.serve_forever()
