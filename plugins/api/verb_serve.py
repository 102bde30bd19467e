"""``pycr serve [--host unix://PATH] [--ui 127.0.0.1:PORT]``: docker's Engine API, and the dashboard.

A foreground service.  The unix socket (default ``/run/pycr/pycr.sock``,
mode 0660) is the root of trust, as docker's is: whoever can connect can run
containers as root.  Under systemd socket activation (``LISTEN_FDS``) the
socket systemd passes is used instead of ``--host``.
"""

from __future__ import annotations

import os

DEFAULT_SOCKET = "/run/pycr/pycr.sock"


SHUTDOWN_GRACE = 3.0  # seconds open requests get when pycr serve stops

def add_arguments(p) -> None:
    p.add_argument("-H", "--host", default=f"unix://{DEFAULT_SOCKET}", metavar="unix://PATH",
                   help=f"the API socket (default unix://{DEFAULT_SOCKET})")
    p.add_argument("--group", metavar="GROUP", help="group owning the socket (mode 0660), like docker's 'docker'")
    p.add_argument("--ui", metavar="ADDR:PORT", help="also serve the web dashboard on this loopback address")
    p.add_argument("--ui-public", action="store_true",
                   help="allow --ui on a non-loopback address (needs --tls-cert and --tls-key)")
    p.add_argument("--bench-dir", metavar="DIR", help="show the pycr bench result directories under DIR "
                                                      "on the dashboard")
    p.add_argument("--tls-cert", metavar="FILE", help="serve the dashboard over HTTPS with this certificate")
    p.add_argument("--tls-key", metavar="FILE")
    p.add_argument("--ui-token", metavar="TOKEN", help=argparse_suppress())
    p.add_argument("--bind-root", action="append", default=[], metavar="DIR",
                   help="directories API callers may bind-mount from (HostConfig.Binds); default none")
    p.add_argument("--allow-privileged", action="store_true",
                   help="let API callers have more than docker's defaults (Privileged, any CapAdd, "
                        "NetworkMode host): root on the host to whoever can connect")
    p.add_argument("--workers", type=int, default=6, metavar="N", help="worker processes for container changes")


def argparse_suppress():
    import argparse

    return argparse.SUPPRESS


def _socket_path(host: str) -> str:
    from pycr.core import ConfigError

    if not host.startswith("unix://") or len(host) <= len("unix://"):
        raise ConfigError(f"--host {host!r}: pycr serve listens on a unix socket only (unix:///PATH); "
                          "docker's TCP API without TLS would give the host away")
    path = host[len("unix://"):]
    if not os.path.isabs(path):
        raise ConfigError(f"--host {host!r}: the socket path must be absolute")
    return path


def _ui_address(ns) -> tuple[str, int] | None:
    import ipaddress

    from pycr.core import ConfigError

    if not ns.ui:
        return None
    host, sep, port = ns.ui.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) < 65536:  # 0: a free port, printed with the URL
        raise ConfigError(f"--ui {ns.ui!r}: expected ADDRESS:PORT, e.g. 127.0.0.1:8080")
    host = host.strip("[]") or "127.0.0.1"
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        raise ConfigError(f"--ui {ns.ui!r}: give an IP address, not a host name") from None
    if (ns.tls_cert is None) != (ns.tls_key is None):
        raise ConfigError("--tls-cert and --tls-key go together")
    if not loopback and not (ns.ui_public and ns.tls_cert):
        raise ConfigError(f"--ui {ns.ui}: not a loopback address; the dashboard leaves loopback only with "
                          "--ui-public and --tls-cert/--tls-key")
    return host, int(port)


def _dashboard_listener(ns, addr: tuple[str, int]):
    """The dashboard's listening TCP socket and its TLS context (None: plain HTTP), made before
    anything else: a taken port or an unreadable certificate is one line and nothing made."""
    import socket
    import ssl

    from pycr.core import ConfigError

    ctx = None
    if ns.tls_cert:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        try:
            ctx.load_cert_chain(ns.tls_cert, ns.tls_key)
        except (OSError, ssl.SSLError) as e:
            why = e.strerror if isinstance(e, OSError) and e.strerror else getattr(e, "reason", None) or e
            raise ConfigError(f"--tls-cert {ns.tls_cert}, --tls-key {ns.tls_key}: {why}") from None
    sock = socket.socket(socket.AF_INET6 if ":" in addr[0] else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(addr)
        sock.listen(128)
    except OSError as e:  # taken, or an address this machine does not have
        sock.close()
        raise ConfigError(f"--ui {ns.ui}: cannot listen there: {e.strerror}") from None
    return sock, ctx


def _listen(path: str, group: str | None):
    """A fresh listening unix socket at ``path``, mode 0660; a stale socket file is replaced, anything else refused."""
    import grp
    import socket
    import stat

    from pycr.core import ConfigError

    os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        st = None
    if st is not None:
        if not stat.S_ISSOCK(st.st_mode):
            raise ConfigError(f"--host {path}: exists and is not a socket; not replacing it")
        probe = socket.socket(socket.AF_UNIX)
        try:
            probe.connect(path)
            raise ConfigError(f"--host {path}: another server is listening there")
        except (ConnectionRefusedError, FileNotFoundError):
            os.unlink(path)
        finally:
            probe.close()
    gid = -1
    if group:
        try:
            gid = grp.getgrnam(group).gr_gid
        except KeyError:
            raise ConfigError(f"--group {group!r}: no such group") from None
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o117)  # the socket is born 0660: never a moment where others could connect
    try:
        sock.bind(path)
    finally:
        os.umask(old)
    os.chown(path, 0 if os.getuid() == 0 else -1, gid)
    os.chmod(path, 0o660)
    sock.listen(128)
    return sock


def _activated_socket():
    """The socket systemd passed (socket activation), or None."""
    import socket

    if os.environ.get("LISTEN_PID") != str(os.getpid()) or int(os.environ.get("LISTEN_FDS", "0") or 0) < 1:
        return None
    return socket.socket(fileno=3)


def run(opts, ns) -> int:
    import asyncio

    try:
        import aiohttp  # noqa: F401
    except ImportError:
        from pycr.core import ConfigError

        raise ConfigError("pycr serve needs aiohttp: pip install 'pycr[api]'") from None
    ui = _ui_address(ns)
    if ns.bench_dir is not None:
        from pycr.core import ConfigError

        if ui is None:
            raise ConfigError("--bench-dir: the bench results are shown on the dashboard: give --ui too")
        if not os.path.isdir(ns.bench_dir):
            raise ConfigError(f"--bench-dir {ns.bench_dir}: not a directory")
    dashboard = _dashboard_listener(ns, ui) if ui is not None else None
    sock = _activated_socket()
    path = None
    if sock is None:
        path = _socket_path(ns.host)
        sock = _listen(path, ns.group)
    try:
        asyncio.run(_serve(opts, ns, sock, path, dashboard))
    finally:
        if path is not None:
            import contextlib

            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
    return 0


async def _serve(opts, ns, sock, path, dashboard) -> None:
    import asyncio
    import secrets
    import signal

    from aiohttp import web

    from pycr.plugins.api.server import Server, configure_logging, make_app

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    configure_logging(opts.debug)
    roots = [os.path.realpath(r) for r in ns.bind_root]
    srv = Server(opts, bind_roots=roots, workers=max(ns.workers, 1), allow_privileged=ns.allow_privileged)
    # streams (events, logs -f, attach) end only when their client goes: on stop, give them
    # SHUTDOWN_GRACE seconds, not aiohttp's default minute
    runner = web.AppRunner(make_app(srv), access_log=None, handle_signals=False, shutdown_timeout=SHUTDOWN_GRACE)
    await runner.setup()
    await web.SockSite(runner, sock).start()
    runners = [runner]
    print(f"pycr serve: Docker Engine API {'on ' + path if path else 'on the socket systemd passed'}", flush=True)
    if dashboard is not None:
        from pycr.plugins.api.ui import make_ui_app

        ui_sock, ssl_ctx = dashboard
        token = ns.ui_token or secrets.token_urlsafe(24)
        bench_dir = ns.bench_dir and os.path.realpath(ns.bench_dir)
        ui_runner = web.AppRunner(make_ui_app(srv, token, bench_dir), access_log=None, handle_signals=False,
                                  shutdown_timeout=SHUTDOWN_GRACE)
        await ui_runner.setup()
        await web.SockSite(ui_runner, ui_sock, ssl_context=ssl_ctx).start()
        runners.append(ui_runner)
        scheme = "https" if ssl_ctx else "http"
        host, port = ui_sock.getsockname()[:2]
        host = f"[{host}]" if ":" in host else host
        print(f"pycr serve: dashboard on {scheme}://{host}:{port}/?token={token}", flush=True)
    await stop.wait()
    for r in reversed(runners):
        await r.cleanup()
    srv.close()
