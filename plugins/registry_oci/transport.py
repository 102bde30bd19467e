"""One narrow HTTP seam for the registry client: ``Transport.request``.

Built on :mod:`http.client` (no third-party HTTP stack).  It owns what every
request needs and nothing more: one keep-alive connection per thread, the
scheme (plain HTTP only for loopback hosts and ``--insecure-registry``
names, TLS otherwise), redirects (credentials and tokens are sent only to the
origin -- scheme, host and port -- they were given for: never to another host,
nor over plain HTTP after a redirect from HTTPS), and authentication driven by
the ``WWW-Authenticate`` challenge:

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


def origin(url: str) -> tuple[str, str, int | None]:
    """``(scheme, host, port)`` of a URL, the default port filled in."""
    u = urllib.parse.urlsplit(url)
    try:
        port = u.port
    except ValueError:
        port = -1
    return u.scheme, (u.hostname or "").lower(), port or {"http": 80, "https": 443}.get(u.scheme)


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    scheme, _, rest = header.strip().partition(" ")
    return scheme.lower(), dict(_CHALLENGE.findall(rest))


#: what a registry may make us hold in memory: a manifest or index (containerd's limit too),
#: an error body, a token answer
MAX_DOCUMENT = 4 << 20
MAX_SMALL = 1 << 20


def _setting(name: str, default: float) -> float:
    import os

    text = os.environ.get(name)
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        raise PycrError(f"{name}={text!r}: not a number of seconds") from None
    if value <= 0:
        raise PycrError(f"{name}={text!r}: must be more than 0")
    return value


class _Deadline:
    """Cut the connection if a unit of work (the answer's headers and a
    document, or one chunk of a blob) is not done in ``seconds``: a socket
    timeout alone never fires on a server that trickles one byte at a time."""

    def __init__(self, conn: http.client.HTTPConnection, seconds: float):
        self.conn, self.seconds, self.fired = conn, seconds, False
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True

    def _fire(self) -> None:
        import socket

        self.fired = True
        sock = self.conn.sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def __enter__(self) -> "_Deadline":
        self._timer.start()
        return self

    def __exit__(self, *exc) -> None:
        self._timer.cancel()

    def cut(self, error: BaseException) -> bool:
        """Whether ``error``, from a read on an open connection, means the unit of work was too
        slow: this deadline cut the connection, or the socket's own idle timeout (the same
        seconds: under load either fires first) did."""
        return self.fired or isinstance(error, TimeoutError)


class Transport:
    """Requests against one registry host, with auth and redirects handled.

    Deadlines (seconds, from the environment): ``PYCR_REGISTRY_CONNECT_TIMEOUT``
    (30) to connect; ``PYCR_REGISTRY_IDLE_TIMEOUT`` (60) for the answer's
    headers and a whole document, and for each MiB of a blob.
    """

    def __init__(self, host: str, *, insecure: bool = False, credentials: tuple[str, str] | None = None):
        self.connect_timeout = _setting("PYCR_REGISTRY_CONNECT_TIMEOUT", 30)
        self.idle_timeout = _setting("PYCR_REGISTRY_IDLE_TIMEOUT", 60)
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
            conns[key] = cls(netloc, timeout=self.connect_timeout)
        conn = conns[key]
        if conn.sock is None:
            conn.connect()
            conn.sock.settimeout(self.idle_timeout)  # no byte for this long: the connection is dead
        return conn

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
            deadline = None
            try:
                conn = self._conn(u.scheme, u.netloc)
                with _Deadline(conn, self.idle_timeout) as deadline:
                    conn.request(method, path, body=body, headers=headers)
                    resp = conn.getresponse()
                resp.pycr_conn = conn
                return resp
            except (OSError, http.client.HTTPException) as e:
                self._drop(u.scheme, u.netloc)
                if deadline is not None and deadline.fired:  # not cut(): a connect timeout is no slow answer
                    raise self._too_slow("the answer's headers") from None
                stale = isinstance(e, (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError))
                if not stale or attempt or (body is not None and not isinstance(body, (bytes, bytearray))):
                    raise
        raise AssertionError("unreachable")

    def _too_slow(self, what: str) -> "RegistryError":
        return RegistryError(f"registry {self.host}: {what} did not arrive within {self.idle_timeout:g} s "
                             "(PYCR_REGISTRY_IDLE_TIMEOUT)")

    def read_body(self, resp, limit: int, what: str) -> bytes:
        """The whole body of ``resp``, at most ``limit`` bytes, within the idle deadline;
        an announced or actual size over the limit is refused before it is held."""
        length = resp.headers.get("Content-Length")
        if length is not None and length.strip().isdigit() and int(length) > limit:
            self.close()
            raise RegistryError(f"{what}: registry {self.host} announces {int(length)} bytes, "
                                f"more than the {limit}-byte limit")
        try:
            with _Deadline(resp.pycr_conn, self.idle_timeout) as deadline:
                data = resp.read(limit + 1)
        except (OSError, http.client.HTTPException) as e:
            self.close()
            if deadline.cut(e):
                raise self._too_slow(what) from None
            raise RegistryError(f"{what}: registry {self.host} connection lost: {network_reason(e)}") from None
        if deadline.fired:
            self.close()
            raise self._too_slow(what)
        if len(data) > limit:
            self.close()
            raise RegistryError(f"{what}: registry {self.host} sent more than the {limit}-byte limit")
        if not resp.isclosed():  # the rest was not read: this connection cannot be reused
            self.close()
        return data

    def read_chunk(self, resp, size: int, what: str) -> bytes:
        """Up to ``size`` bytes of a streamed body, within the idle deadline."""
        with _Deadline(resp.pycr_conn, self.idle_timeout) as deadline:
            try:
                data = resp.read(size)
            except (OSError, http.client.HTTPException) as e:
                if deadline.cut(e):
                    self.close()
                    raise self._too_slow(what) from None
                raise
        if deadline.fired:
            self.close()
            raise self._too_slow(what)
        return data

    # -- the seam -------------------------------------------------------------
    def request(self, method: str, url: str, *, headers: dict[str, str] | None = None, body: Any = None,
                scope: str | None = None, ok: tuple[int, ...] = (200,), stream: bool = False,
                what: str = "", max_bytes: int = MAX_DOCUMENT) -> http.client.HTTPResponse:
        """Send a request; return the response (body unread when ``stream``, else read into ``.data``).

        ``url`` is a path on this registry or an absolute URL (upload
        locations, redirects).  A status outside ``ok`` raises RegistryError
        with the registry's own error code and message.
        """
        if url.startswith("/"):
            url = self.base + url
        hdrs = dict(headers or {})
        retried_auth = False
        home = origin(self.base)
        for _ in range(6):  # redirects + one auth round
            own = origin(url) == home  # credentials never follow a redirect to another origin
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
                self.read_body(resp, MAX_SMALL, what or "authentication challenge")
                retried_auth = True
                if self._authenticate(resp.headers.get("WWW-Authenticate", ""), scope):
                    hdrs.pop("Authorization", None)
                    continue
                raise self._error(resp, b"", what, method, url)
            if resp.status in (301, 302, 303, 307, 308) and resp.headers.get("Location"):
                self.read_body(resp, MAX_SMALL, what or "redirect")
                url = urllib.parse.urljoin(url, resp.headers["Location"])
                if resp.status == 303:
                    method, body = "GET", None
                continue
            if resp.status not in ok:
                data = self.read_body(resp, MAX_SMALL, what or "error answer") if method != "HEAD" else resp.read()
                raise self._error(resp, data, what, method, url)
            if not stream:
                resp.data = self.read_body(resp, max_bytes, what or f"{method} {url}") if method != "HEAD" \
                    else resp.read()
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
        scheme = urllib.parse.urlsplit(url).scheme
        if scheme not in ("http", "https") or (scheme == "http" and self.scheme == "https"):
            raise RegistryError(f"registry {self.host}: refusing to fetch a token over plain HTTP from {realm}")
        headers = {}
        if self.credentials:  # given for the registry; the realm it names is trusted as docker does
            headers["Authorization"] = "Basic " + base64.b64encode(":".join(self.credentials).encode()).decode()
        try:
            resp = self._send("GET", url, headers, None)
        except (OSError, http.client.HTTPException) as e:
            raise RegistryError(f"token server {realm} unreachable: {network_reason(e)}") from None
        data = self.read_body(resp, MAX_SMALL, f"token from {realm}")
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
