"""ADD URL: the download, and where a build driven by an API caller may fetch from.

``pycr serve`` runs its builds with ``--no-local-urls`` (unless started with
``--allow-privileged``): the fetch runs in the server's own network namespace,
so without a guard an API caller's ``ADD http://127.0.0.1:2375/...`` or
``ADD http://169.254.169.254/...`` would read the host's loopback services or
the cloud's metadata into an image the caller can then export -- a
server-side request forgery.  A RUN cannot do that (it has its own network
namespace with only ``lo``); this closes the one other way out.

The guard is in the connection itself: every address the host name resolves
to is checked, the socket goes to one of those checked addresses (no second
lookup a DNS answer could change), and each redirect is a new connection,
checked again.  The server's proxy variables are not used then, as a proxy
would connect on the caller's behalf to an address pycr never saw.
"""

from __future__ import annotations

import ipaddress
import os
import socket

from pycr.core import ConfigError
from pycr.plugins.build.sources import Entry, Source

# what a guarded fetch refuses: this host (loopback, 0.0.0.0/8, its own interfaces' addresses: a service
# firewalled from outside answers on them), link-local (169.254.169.254: cloud metadata), multicast
_THIS_NETWORK = ipaddress.ip_network("0.0.0.0/8")  # 0.0.0.0 connects to this host on Linux


def local_kind(address: str) -> str | None:
    """What ``address`` is when a guarded fetch refuses it (``"a loopback address"``...), else None."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    for kind, test in (("a loopback address", ip.is_loopback), ("a link-local address", ip.is_link_local),
                       ("the unspecified address", ip.is_unspecified),
                       ("in 'this network' (0.0.0.0/8)", ip.version == 4 and ip in _THIS_NETWORK),
                       ("a multicast address", ip.is_multicast)):
        if test:
            return kind
    with socket.socket(socket.AF_INET6 if ip.version == 6 else socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:  # only an address of this host's own interfaces can be bound (any other: EADDRNOTAVAIL)
            probe.bind((str(ip), 0))
        except OSError:
            return None
    return "an address of this host"


class LocalAddress(OSError):
    """The URL's host is this machine or link-local; urllib reports it as the connection's error."""


def _checked_connection(address, timeout=socket._GLOBAL_DEFAULT_TIMEOUT, source_address=None):
    """``socket.create_connection`` that refuses local destinations (every address the name has)."""
    host, port = address
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    for *_, sockaddr in infos:
        kind = local_kind(sockaddr[0])
        if kind:
            name = host if host == sockaddr[0] else f"{host} ({sockaddr[0]})"
            raise LocalAddress(0, f"{name} is {kind}: a build through the API fetches from no address of this "
                                  "host and none link-local (pycr serve --allow-privileged allows it)")
    error: OSError | None = None
    for family, kind, proto, _, sockaddr in infos:
        sock = socket.socket(family, kind, proto)
        try:
            if timeout is not socket._GLOBAL_DEFAULT_TIMEOUT:
                sock.settimeout(timeout)
            sock.connect(sockaddr)
            return sock
        except OSError as e:
            sock.close()
            error = e
    raise error or OSError(0, f"{host}: no address")


def _opener(no_local: bool):
    import http.client
    import urllib.request

    if not no_local:
        return urllib.request.build_opener()

    def guarded(cls):
        class Guarded(cls):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, **kwargs)
                self._create_connection = _checked_connection

        return Guarded

    http_conn, https_conn = guarded(http.client.HTTPConnection), guarded(http.client.HTTPSConnection)

    class HTTP(urllib.request.HTTPHandler):
        def http_open(self, req):
            return self.do_open(http_conn, req)

    class HTTPS(urllib.request.HTTPSHandler):
        def https_open(self, req):
            return self.do_open(https_conn, req, context=self._context)

    class Redirects(urllib.request.HTTPRedirectHandler):
        """Only to http(s): urllib also follows a redirect to ftp://, whose ftplib connection
        the guard never sees (a peer could send the fetch to this host's 127.0.0.1)."""

        def redirect_request(self, req, fp, code, msg, headers, newurl):
            import urllib.error
            import urllib.parse

            if urllib.parse.urlsplit(newurl).scheme.lower() not in ("http", "https"):
                raise urllib.error.URLError(f"redirected to {newurl}: a build through the API follows only "
                                            "http and https redirects")
            return super().redirect_request(req, fp, code, msg, headers, newurl)

    return urllib.request.build_opener(urllib.request.ProxyHandler({}), HTTP, HTTPS, Redirects)


def fetch(url: str, what: str, tmpdir: str, no_local: bool = False) -> Source:
    """ADD URL: download into a temporary file (removed with ``tmpdir``); mode 0600 as docker.
    ``no_local``: refuse this host's and link-local addresses (see the module's docstring)."""
    import email.utils
    import http.client
    import urllib.error

    path = os.path.join(tmpdir, "download")
    try:
        with _opener(no_local).open(url, timeout=60) as resp, open(path, "wb") as f:
            while chunk := resp.read(1 << 20):
                f.write(chunk)
            modified = resp.headers.get("Last-Modified")
    except http.client.HTTPException:
        raise ConfigError(f"{what}: cannot fetch {url}: the server's answer is not HTTP") from None
    except (urllib.error.URLError, OSError, ValueError) as e:
        why = e.reason if isinstance(e, urllib.error.URLError) else e
        if isinstance(e, urllib.error.HTTPError):
            why = f"HTTP {e.code} {e.reason}"
        elif isinstance(why, OSError):  # the socket's error: its text, not "[Errno -2] ..."
            why = why.strerror or str(why)
        raise ConfigError(f"{what}: cannot fetch {url}: {why}") from None
    if modified:
        try:
            t = email.utils.parsedate_to_datetime(modified).timestamp()
            os.utime(path, (t, t))
        except (TypeError, ValueError):
            pass
    os.chmod(path, 0o600)
    return Source(url, False, [Entry("", path, os.lstat(path))])
