"""One narrow HTTP seam for the registry client: ``Transport.request``.

Built on :mod:`http.client` (no third-party HTTP stack).  It owns what every
request needs and nothing more: one keep-alive connection per thread, the
scheme (plain HTTP only for loopback hosts and ``--insecure-registry``
names, TLS otherwise), redirects (``Authorization`` is never sent to another
host), and authentication driven by the ``WWW-Authenticate`` challenge:

- ``Basic``: the stored credentials, base64 ``user:password``;
- ``Bearer realm=..,service=..,scope=..``: a token fetched from the realm
  (with the credentials as Basic, or anonymously), cached per scope.
"""

from __future__ import annotations

import base64
import http.client
import ipaddress
import json
import re
import threading
import urllib.parse
from typing import Any

from pycr.core import PycrError


class RegistryError(PycrError):
    """The registry answered with an error, or could not be reached."""

    def __init__(self, message: str, status: int | None = None, code: str | None = None):
        super().__init__(message)
        self.status = status
        self.code = code


def is_loopback(host: str) -> bool:
    name = host.rsplit(":", 1)[0] if host.count(":") == 1 or host.startswith("[") else host
    name = name.strip("[]")
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


_CHALLENGE = re.compile(r'(\w+)="([^"]*)"')


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    scheme, _, rest = header.strip().partition(" ")
    return scheme.lower(), dict(_CHALLENGE.findall(rest))


class Transport:
    """Requests against one registry host, with auth and redirects handled."""

    timeout = 60

    def __init__(self, host: str, *, insecure: bool = False, credentials: tuple[str, str] | None = None):
        self.host = host
        self.scheme = "http" if insecure or is_loopback(host) else "https"
        self.credentials = credentials
        self._local = threading.local()
        self._tokens: dict[str, str] = {}
        self._basic = False
        self._lock = threading.Lock()

    @property
    def base(self) -> str:
        return f"{self.scheme}://{self.host}"

    # -- connections ----------------------------------------------------------
    def _conn(self, scheme: str, netloc: str) -> http.client.HTTPConnection:
        conns = getattr(self._local, "conns", None)
        if conns is None:
            conns = self._local.conns = {}
        key = (scheme, netloc)
        if key not in conns:
            cls = http.client.HTTPSConnection if scheme == "https" else http.client.HTTPConnection
            conns[key] = cls(netloc, timeout=self.timeout)
        return conns[key]

    def _drop(self, scheme: str, netloc: str) -> None:
        conn = getattr(self._local, "conns", {}).pop((scheme, netloc), None)
        if conn is not None:
            conn.close()

    def close(self) -> None:
        for conn in getattr(self._local, "conns", {}).values():
            conn.close()
        self._local.conns = {}

    def _send(self, method: str, url: str, headers: dict[str, str], body: Any) -> http.client.HTTPResponse:
        u = urllib.parse.urlsplit(url)
        path = u.path + (f"?{u.query}" if u.query else "")
        for attempt in (0, 1):  # a kept-alive connection may have been closed by the server
            conn = self._conn(u.scheme, u.netloc)
            try:
                conn.request(method, path, body=body, headers=headers)
                return conn.getresponse()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self._drop(u.scheme, u.netloc)
                if attempt or (body is not None and not isinstance(body, (bytes, bytearray))):
                    raise
            except OSError:
                self._drop(u.scheme, u.netloc)
                raise
        raise AssertionError("unreachable")

    # -- the seam -------------------------------------------------------------
    def request(self, method: str, url: str, *, headers: dict[str, str] | None = None, body: Any = None,
                scope: str | None = None, ok: tuple[int, ...] = (200,), stream: bool = False,
                what: str = "") -> http.client.HTTPResponse:
        """Send a request; return the response (body unread when ``stream``, else read into ``.data``).

        ``url`` is a path on this registry or an absolute URL (upload
        locations, redirects).  A status outside ``ok`` raises RegistryError
        with the registry's own error code and message.
        """
        if url.startswith("/"):
            url = self.base + url
        hdrs = dict(headers or {})
        retried_auth = False
        for _ in range(6):  # redirects + one auth round
            own = urllib.parse.urlsplit(url).netloc == self.host
            if own:
                auth = self._authorization(scope)
                if auth:
                    hdrs["Authorization"] = auth
            else:
                hdrs.pop("Authorization", None)
            try:
                resp = self._send(method, url, hdrs, body)
            except (OSError, http.client.HTTPException) as e:
                prefix = f"{what}: " if what else ""
                raise RegistryError(f"{prefix}registry {self.host} unreachable: {network_reason(e)}") from None
            if resp.status == 401 and own and not retried_auth:
                resp.read()
                retried_auth = True
                if self._authenticate(resp.headers.get("WWW-Authenticate", ""), scope):
                    hdrs.pop("Authorization", None)
                    continue
                raise self._error(resp, b"", what, method, url)
            if resp.status in (301, 302, 303, 307, 308) and resp.headers.get("Location"):
                resp.read()
                url = urllib.parse.urljoin(url, resp.headers["Location"])
                if resp.status == 303:
                    method, body = "GET", None
                continue
            if resp.status not in ok:
                data = resp.read()
                raise self._error(resp, data, what, method, url)
            if not stream:
                resp.data = resp.read()
            resp.url = url
            return resp
        raise RegistryError(f"registry {self.host}: too many redirects for {url}")

    # -- auth -----------------------------------------------------------------
    def _authorization(self, scope: str | None) -> str | None:
        token = self._tokens.get(scope or "") or self._tokens.get("*")
        if token:
            return f"Bearer {token}"
        if self._basic and self.credentials:
            return "Basic " + base64.b64encode(":".join(self.credentials).encode()).decode()
        return None

    def _authenticate(self, header: str, scope: str | None) -> bool:
        scheme, params = parse_challenge(header)
        if scheme == "basic":
            if not self.credentials:
                return False
            self._basic = True
            return True
        if scheme != "bearer" or "realm" not in params:
            return False
        query = []
        if params.get("service"):
            query.append(("service", params["service"]))
        want = scope or params.get("scope")
        for one in (want or "").split():  # several scopes (a cross-repository mount) -> several params
            query.append(("scope", one))
        realm = params["realm"]
        url = realm + ("&" if "?" in realm else "?") + urllib.parse.urlencode(query)
        u = urllib.parse.urlsplit(url)
        if u.scheme == "http" and not is_loopback(u.netloc) and self.scheme == "https":
            raise RegistryError(f"registry {self.host}: refusing to fetch a token over plain HTTP from {realm}")
        headers = {}
        if self.credentials:
            headers["Authorization"] = "Basic " + base64.b64encode(":".join(self.credentials).encode()).decode()
        try:
            resp = self._send("GET", url, headers, None)
            data = resp.read()
        except (OSError, http.client.HTTPException) as e:
            raise RegistryError(f"token server {realm} unreachable: {network_reason(e)}") from None
        if resp.status != 200:
            raise RegistryError(f"token server {realm} refused{' credentials' if self.credentials else ''}: "
                                f"HTTP {resp.status}", resp.status)
        try:
            doc = json.loads(data)
            token = doc.get("token") or doc["access_token"]
        except (ValueError, KeyError):
            raise RegistryError(f"token server {realm} sent no token") from None
        with self._lock:
            self._tokens[scope or "*"] = token
        return True

    def _error(self, resp, data: bytes, what: str, method: str, url: str) -> RegistryError:
        code = message = None
        try:
            err = json.loads(data)["errors"][0]
            code, message = err.get("code"), err.get("message")
        except (ValueError, KeyError, IndexError, TypeError):
            pass
        subject = what or f"{method} {urllib.parse.urlsplit(url).path}"
        if resp.status == 401:
            hint = "" if self.credentials else f" (log in with: pycr login {self.host})"
            return RegistryError(f"{subject}: unauthorized: authentication required{hint}", 401, code)
        text = message or (code or "").lower().replace("_", " ") or resp.reason
        return RegistryError(f"{subject}: {text} (HTTP {resp.status})", resp.status, code)


def network_reason(e: BaseException) -> str:
    """An OSError or http.client error in words, without Python's names or errno numbers."""
    import socket

    if isinstance(e, (socket.timeout, TimeoutError)):
        return "timed out"
    if isinstance(e, OSError) and e.strerror:
        return e.strerror
    if isinstance(e, http.client.IncompleteRead):
        return f"connection closed after {len(e.partial)} bytes"
    text = str(e)
    return text if text and not text.startswith("[Errno") else "connection failed"
